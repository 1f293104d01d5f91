/* security: SHA-256 vectors and fingerprints, constant-time compare, bearer checks, token bucket
 * refill math on a fake clock, LRU eviction of clients, CORS simple requests and preflights,
 * Host/Origin checks (IPv6 literals, ports, trailing dots), request ids, the error envelope,
 * audit lines, and that no secret reaches any log line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "log.h"
#include "security.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define KEY1 "s3cr3t-key-0123456789abcdef"
#define KEY2 "another-key-ZYXWVUTSRQPONMLK"

/* ---- log capture ---- */

typedef struct capture_s {
    char lines[64][1024];
    log_level_t levels[64];
    size_t count;
} capture_t;

static void capture_sink(log_level_t level, const char *line, void *ud)
{
    capture_t *c = ud;
    if (c->count < 64) {
        snprintf(c->lines[c->count], sizeof c->lines[0], "%s", line);
        c->levels[c->count] = level;
        c->count++;
    }
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha256_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
         "lmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    uint8_t d[GW_SEC_SHA256_LEN];
    char h[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        gw_sec_sha256(v[i].in, strlen(v[i].in), d);
        hex(d, sizeof d, h);
        assert_string_equal(h, v[i].out);
    }
    /* One million 'a': many blocks. */
    static char big[1000000];
    memset(big, 'a', sizeof big);
    gw_sec_sha256(big, sizeof big, d);
    hex(d, sizeof d, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* Padding edges: 55, 56, 63, 64 bytes (checked against sha256sum). */
    static const char *const edges[] = {
        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318", /* 55 */
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a", /* 56 */
        "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34", /* 63 */
        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb", /* 64 */
    };
    static const size_t lens[] = {55, 56, 63, 64};
    for (size_t i = 0; i < 4; i++) {
        gw_sec_sha256(big, lens[i], d);
        hex(d, sizeof d, h);
        assert_string_equal(h, edges[i]);
    }
    char fp[GW_SEC_FINGERPRINT_LEN + 1];
    gw_sec_fingerprint("abc", fp);
    assert_string_equal(fp, "ba7816bf");
}

static void ct_compare(void **state)
{
    (void)state;
    assert_int_equal(gw_sec_ct_equal("abc", 3, "abc", 3), 1);
    assert_int_equal(gw_sec_ct_equal("", 0, "", 0), 1);
    assert_int_equal(gw_sec_ct_equal("abc", 3, "abd", 3), 0);
    assert_int_equal(gw_sec_ct_equal("abc", 3, "xbc", 3), 0);
    assert_int_equal(gw_sec_ct_equal("abc", 3, "ab", 2), 0);
    assert_int_equal(gw_sec_ct_equal("ab", 2, "abc", 3), 0);
    assert_int_equal(gw_sec_ct_equal("", 0, "a", 1), 0);
    /* A trailing NUL is data, not a terminator. */
    assert_int_equal(gw_sec_ct_equal("ab\0", 3, "ab", 2), 0);
    uint8_t a[256], b[256];
    for (int i = 0; i < 256; i++)
        a[i] = b[i] = (uint8_t)i;
    assert_int_equal(gw_sec_ct_equal(a, 256, b, 256), 1);
    for (int i = 0; i < 256; i++) {
        b[i] ^= 0x80;
        assert_int_equal(gw_sec_ct_equal(a, 256, b, 256), 0);
        b[i] ^= 0x80;
    }
}

static void bearer(void **state)
{
    (void)state;
    gw_sec_keys_t *k;
    assert_int_equal(gw_sec_keys_new((const char *[]){KEY1, ""}, 2, &k), MCP_EINVAL);
    assert_null(k);
    assert_int_equal(gw_sec_keys_new((const char *[]){KEY1, KEY2}, 2, &k), 0);
    assert_int_equal(gw_sec_keys_count(k), 2);
    gw_auth_t a;
    char fp1[9], fp2[9];
    gw_sec_fingerprint(KEY1, fp1);
    gw_sec_fingerprint(KEY2, fp2);

    assert_int_equal(gw_sec_check_bearer(k, "Bearer " KEY1, &a), GW_AUTH_OK);
    assert_string_equal(a.fingerprint, fp1);
    assert_int_equal(gw_sec_check_bearer(k, "bearer   " KEY2 " \t", &a), GW_AUTH_OK);
    assert_string_equal(a.fingerprint, fp2);
    assert_int_equal(gw_sec_check_bearer(k, NULL, &a), GW_AUTH_MISSING);
    assert_string_equal(a.reason, "missing bearer token");
    assert_string_equal(a.fingerprint, "");
    assert_int_equal(gw_sec_check_bearer(k, "Basic dXNlcjpwYXNz", &a), GW_AUTH_MALFORMED);
    assert_int_equal(gw_sec_check_bearer(k, "Bearer", &a), GW_AUTH_MALFORMED);
    assert_int_equal(gw_sec_check_bearer(k, "Bearer   ", &a), GW_AUTH_MALFORMED);
    assert_int_equal(gw_sec_check_bearer(k, "Bearer" KEY1, &a), GW_AUTH_MALFORMED);
    assert_int_equal(gw_sec_check_bearer(k, "Bearer a b", &a), GW_AUTH_MALFORMED);
    assert_int_equal(gw_sec_check_bearer(k, "Bearer " KEY1 "x", &a), GW_AUTH_INVALID);
    assert_string_equal(a.reason, "invalid API key");
    assert_int_equal(strlen(a.fingerprint), 8);
    assert_string_not_equal(a.fingerprint, fp1);
    /* A prefix of a key is not the key. */
    assert_int_equal(gw_sec_check_bearer(k, "Bearer s3cr3t", &a), GW_AUTH_INVALID);
    static char huge[GW_SEC_TOKEN_MAX + 16];
    memcpy(huge, "Bearer ", 7);
    memset(huge + 7, 'k', sizeof huge - 8);
    assert_int_equal(gw_sec_check_bearer(k, huge, &a), GW_AUTH_MALFORMED);
    assert_string_equal(gw_auth_result_name(GW_AUTH_INVALID), "invalid");

    assert_int_equal(gw_sec_auth_required(k, 0, 1), 1);
    assert_int_equal(gw_sec_auth_required(k, 0, 0), 0);
    assert_int_equal(gw_sec_auth_required(k, 1, 0), 1);
    gw_sec_keys_free(k);

    /* No keys: nothing to check, nothing required. */
    assert_int_equal(gw_sec_keys_new(NULL, 0, &k), 0);
    assert_int_equal(gw_sec_check_bearer(k, "Bearer " KEY1, &a), GW_AUTH_DISABLED);
    assert_int_equal(gw_sec_auth_required(k, 1, 1), 0);
    gw_sec_keys_free(k);
    assert_int_equal(gw_sec_check_bearer(NULL, NULL, &a), GW_AUTH_DISABLED);
}

/* ---- rate limits ---- */

static uint64_t now_ns;
static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return now_ns;
}

static int take(gw_ratelimit_t *rl, const char *client, gw_ratelimit_decision_t *d)
{
    assert_int_equal(gw_ratelimit_check(rl, client, d), 0);
    return d->allowed;
}

static void bucket_math(void **state)
{
    (void)state;
    gw_ratelimit_t *rl;
    assert_int_equal(gw_ratelimit_new(-1, 0, 0, fake_clock, NULL, &rl), MCP_EINVAL);
    now_ns = 1000000000;
    assert_int_equal(gw_ratelimit_new(2, 3, 0, fake_clock, NULL, &rl), 0);
    gw_ratelimit_decision_t d;
    assert_true(take(rl, "ip:1", &d));
    assert_int_equal(d.remaining, 2);
    assert_int_equal(d.limit, 3);
    assert_true(take(rl, "ip:1", &d));
    assert_true(take(rl, "ip:1", &d));
    assert_int_equal(d.remaining, 0);
    assert_false(take(rl, "ip:1", &d));
    assert_int_equal(d.retry_after_s, 1); /* 1 token at 2/s: 0.5 s, rounded up */
    /* Another client has its own bucket. */
    assert_true(take(rl, "ip:2", &d));
    /* 250 ms: half a token, still denied. */
    now_ns += 250000000;
    assert_false(take(rl, "ip:1", &d));
    /* Another 250 ms: one token. */
    now_ns += 250000000;
    assert_true(take(rl, "ip:1", &d));
    assert_int_equal(d.remaining, 0);
    assert_false(take(rl, "ip:1", &d));
    /* Ten seconds: refilled to the burst, not beyond. */
    now_ns += 10000000000ULL;
    for (int i = 0; i < 3; i++)
        assert_true(take(rl, "ip:1", &d));
    assert_false(take(rl, "ip:1", &d));
    gw_ratelimit_stats_t st;
    gw_ratelimit_stats(rl, &st);
    assert_int_equal(st.clients, 2);
    assert_int_equal(st.allowed, 8);
    assert_int_equal(st.denied, 4);
    assert_int_equal(st.evictions, 0);

    /* Slow rates: Retry-After is the wait for one whole token. */
    assert_int_equal(gw_ratelimit_configure(rl, 0.1, 1), 0);
    assert_false(take(rl, "ip:1", &d));
    assert_int_equal(d.retry_after_s, 10);
    now_ns += 4000000000ULL; /* 0.4 token */
    assert_false(take(rl, "ip:1", &d));
    assert_int_equal(d.retry_after_s, 6);
    /* Reconfiguring caps what clients hold at the new burst. */
    assert_int_equal(gw_ratelimit_configure(rl, 100, 1), 0);
    now_ns += 1000000000ULL;
    assert_true(take(rl, "ip:2", &d));
    assert_false(take(rl, "ip:2", &d));
    assert_int_equal(d.retry_after_s, 1);
    /* A clock that goes back does not mint tokens. */
    now_ns -= 500000000ULL;
    assert_false(take(rl, "ip:2", &d));
    now_ns += 500000000ULL;
    assert_false(take(rl, "ip:2", &d));

    assert_int_equal(gw_ratelimit_check(rl, "", &d), MCP_EINVAL);
    assert_int_equal(gw_ratelimit_check(rl, NULL, &d), MCP_EINVAL);
    gw_ratelimit_free(rl);

    /* rps 0: off; burst 0: = rps. */
    assert_int_equal(gw_ratelimit_new(0, 0, 0, fake_clock, NULL, &rl), 0);
    for (int i = 0; i < 1000; i++)
        assert_true(take(rl, "ip:1", &d));
    gw_ratelimit_stats(rl, &st);
    assert_int_equal(st.clients, 0);
    gw_ratelimit_free(rl);
    assert_int_equal(gw_ratelimit_new(5, 0, 0, fake_clock, NULL, &rl), 0);
    for (int i = 0; i < 5; i++)
        assert_true(take(rl, "ip:1", &d));
    assert_false(take(rl, "ip:1", &d));
    gw_ratelimit_free(rl);
}

static void lru_eviction(void **state)
{
    (void)state;
    gw_ratelimit_t *rl;
    now_ns = 0;
    assert_int_equal(gw_ratelimit_new(1, 1, 3, fake_clock, NULL, &rl), 0);
    gw_ratelimit_decision_t d;
    assert_true(take(rl, "a", &d));
    assert_true(take(rl, "b", &d));
    assert_true(take(rl, "c", &d));
    /* a is seen again (denied, but it counts as activity): b is now the least recent. */
    assert_false(take(rl, "a", &d));
    assert_true(take(rl, "d", &d));
    gw_ratelimit_stats_t st;
    gw_ratelimit_stats(rl, &st);
    assert_int_equal(st.clients, 3);
    assert_int_equal(st.evictions, 1);
    /* a kept its empty bucket; b was forgotten and starts full (evicting c). */
    assert_false(take(rl, "a", &d));
    assert_true(take(rl, "b", &d));
    gw_ratelimit_stats(rl, &st);
    assert_int_equal(st.evictions, 2);
    assert_false(take(rl, "b", &d));
    assert_false(take(rl, "d", &d));
    /* Very long client keys are cut, not refused. */
    char longkey[400];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_true(take(rl, longkey, &d));
    longkey[300] = 'y'; /* differs only past the cut: same client */
    assert_false(take(rl, longkey, &d));
    gw_ratelimit_free(rl);

    /* Many clients through a small table: bounded, and every one is answered. */
    assert_int_equal(gw_ratelimit_new(1, 2, 100, fake_clock, NULL, &rl), 0);
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "ip:%d", i);
        assert_true(take(rl, name, &d));
    }
    gw_ratelimit_stats(rl, &st);
    assert_int_equal(st.clients, 100);
    assert_int_equal(st.evictions, 4900);
    /* Allocation failure for a new client: allowed (fail open), error reported. */
    mcp_alloc_fail_after(0);
    assert_int_equal(gw_ratelimit_check(rl, "ip:new", &d), MCP_ENOMEM);
    assert_true(d.allowed);
    mcp_alloc_fail_after(-1);
    gw_ratelimit_free(rl);
}

/* ---- CORS ---- */

static const char *header(const gw_cors_result_t *r, const char *name)
{
    for (size_t i = 0; i < r->header_count; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static void cors(void **state)
{
    (void)state;
    gw_cors_t *c;
    static const char *const bad[] = {
        "app.example.com", "https://a.com/path", "ftp://x",   "https://*.a.com", "",
        "https://",        "https://u@a.com",    "http://::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(gw_cors_new(&bad[i], 1, &c), MCP_EINVAL);
        assert_null(c);
    }
    assert_int_equal(gw_cors_new((const char *[]){"https://App.Example.com/",
                                                  "http://localhost:3000", "http://[::1]:8080"},
                                 3, &c),
                     0);
    gw_cors_result_t r;

    /* Not a cross-origin request. */
    gw_cors_decide(c, "GET", NULL, NULL, NULL, &r);
    assert_int_equal(r.header_count, 0);
    assert_int_equal(r.preflight, 0);

    /* Simple request from an allowed origin (case and default port do not matter). */
    gw_cors_decide(c, "POST", "https://app.example.com:443", NULL, NULL, &r);
    assert_true(r.allowed);
    assert_int_equal(r.status, 0);
    assert_string_equal(header(&r, "Access-Control-Allow-Origin"), "https://app.example.com:443");
    assert_string_equal(header(&r, "Access-Control-Expose-Headers"), GW_CORS_EXPOSE_HEADERS);
    assert_string_equal(header(&r, "Vary"), "Origin");
    assert_null(header(&r, "Access-Control-Allow-Credentials"));
    gw_cors_decide(c, "GET", "http://[::1]:8080", NULL, NULL, &r);
    assert_true(r.allowed);
    /* From another origin: no grant, only Vary (caches must not reuse a granted answer). */
    gw_cors_decide(c, "GET", "https://evil.example.com", NULL, NULL, &r);
    assert_false(r.allowed);
    assert_null(header(&r, "Access-Control-Allow-Origin"));
    assert_string_equal(header(&r, "Vary"), "Origin");
    gw_cors_decide(c, "GET", "http://localhost:3001", NULL, NULL, &r);
    assert_false(r.allowed);
    gw_cors_decide(c, "GET", "null", NULL, NULL, &r);
    assert_false(r.allowed);

    /* Preflight, allowed. */
    gw_cors_decide(c, "OPTIONS", "http://localhost:3000", "POST", "Content-Type,  Mcp-Session-Id",
                   &r);
    assert_true(r.preflight);
    assert_true(r.allowed);
    assert_int_equal(r.status, 204);
    assert_string_equal(header(&r, "Access-Control-Allow-Origin"), "http://localhost:3000");
    assert_string_equal(header(&r, "Access-Control-Allow-Methods"), GW_CORS_ALLOW_METHODS);
    assert_string_equal(header(&r, "Access-Control-Allow-Headers"), "content-type, mcp-session-id");
    assert_string_equal(header(&r, "Access-Control-Max-Age"), "600");
    assert_non_null(strstr(header(&r, "Vary"), "Origin"));
    /* Without requested headers there is no Allow-Headers. */
    gw_cors_decide(c, "OPTIONS", "http://localhost:3000", "GET", NULL, &r);
    assert_int_equal(r.status, 204);
    assert_null(header(&r, "Access-Control-Allow-Headers"));
    /* Refused preflights: 403, nothing granted. */
    gw_cors_decide(c, "OPTIONS", "https://evil.example.com", "POST", NULL, &r);
    assert_int_equal(r.status, 403);
    assert_int_equal(r.header_count, 0);
    assert_string_equal(r.reason, "origin not allowed");
    gw_cors_decide(c, "OPTIONS", "http://localhost:3000", "PUT", NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.reason, "method not allowed");
    gw_cors_decide(c, "OPTIONS", "http://localhost:3000", "POST", "content-type, x-evil", &r);
    assert_int_equal(r.status, 403);
    assert_int_equal(r.header_count, 0);
    assert_string_equal(r.reason, "request header not allowed");
    /* OPTIONS without Access-Control-Request-Method is not a preflight. */
    gw_cors_decide(c, "OPTIONS", "http://localhost:3000", NULL, NULL, &r);
    assert_false(r.preflight);
    assert_int_equal(r.status, 0);
    assert_true(r.allowed);
    gw_cors_free(c);

    /* "*": any origin, answered with "*" and no Vary. */
    assert_int_equal(gw_cors_new((const char *[]){"*"}, 1, &c), 0);
    gw_cors_decide(c, "GET", "https://anything.example", NULL, NULL, &r);
    assert_true(r.allowed);
    assert_string_equal(header(&r, "Access-Control-Allow-Origin"), "*");
    assert_null(header(&r, "Vary"));
    gw_cors_decide(c, "OPTIONS", "https://anything.example", "DELETE", "Authorization", &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(header(&r, "Access-Control-Allow-Origin"), "*");
    assert_string_equal(header(&r, "Access-Control-Allow-Headers"), "authorization");
    gw_cors_free(c);

    /* Empty list: no cross-origin access at all. */
    assert_int_equal(gw_cors_new(NULL, 0, &c), 0);
    gw_cors_decide(c, "GET", "http://localhost:3000", NULL, NULL, &r);
    assert_false(r.allowed);
    gw_cors_decide(c, "OPTIONS", "http://localhost:3000", "GET", NULL, &r);
    assert_int_equal(r.status, 403);
    gw_cors_free(c);
}

/* ---- hosts ---- */

static void host_names(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out; /* NULL: invalid */
    } v[] = {
        {"localhost", "localhost"},
        {"LocalHost:8001", "localhost"},
        {"localhost.", "localhost"},
        {"127.0.0.1:80", "127.0.0.1"},
        {"[::1]", "::1"},
        {"[::1]:8080", "::1"},
        {"[FE80::1]:1", "fe80::1"},
        {"::1", "::1"},
        {"2001:db8::7", "2001:db8::7"},
        {"[::ffff:127.0.0.1]:9", "::ffff:127.0.0.1"},
        {"", NULL},
        {":80", NULL},
        {"localhost:", NULL},
        {"localhost:99999", NULL},
        {"localhost:8a", NULL},
        {"[::1", NULL},
        {"[::1]x", NULL},
        {"[::1]:", NULL},
        {"[]:80", NULL},
        {"[evil.com]", NULL},
        {"a b", NULL},
        {"evil@localhost", NULL},
        {"local/host", NULL},
        {"[::1%eth0]", NULL},
    };
    char out[GW_SEC_HOST_MAX + 1];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int rc = gw_sec_host_name(v[i].in, strlen(v[i].in), out);
        if (v[i].out) {
            assert_int_equal(rc, 0);
            assert_string_equal(out, v[i].out);
        } else {
            if (rc != MCP_EINVAL)
                fail_msg("accepted %s", v[i].in);
        }
    }
    char long_name[400];
    memset(long_name, 'a', sizeof long_name);
    assert_int_equal(gw_sec_host_name(long_name, sizeof long_name, out), MCP_EINVAL);
}

static void host_checks(void **state)
{
    (void)state;
    gw_hostcheck_t *hc;
    char why[200];
    assert_int_equal(gw_hostcheck_new(NULL, 0, &hc), 0);
    static const char *const good_hosts[] = {"localhost:8001", "127.0.0.1",  "[::1]:8080",
                                             "[::1]",          "LOCALHOST.", "localhost"};
    for (size_t i = 0; i < sizeof good_hosts / sizeof good_hosts[0]; i++)
        assert_int_equal(gw_hostcheck_request(hc, good_hosts[i], NULL, why, sizeof why), 0);
    static const char *const bad_hosts[] = {
        "evil.example.com", "localhost.evil.com",  "127.0.0.1:99999", "[::1",
        "[::2]:80",         "evil@localhost:8001", "127.0.0.2",       "0.0.0.0"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++)
        assert_int_equal(gw_hostcheck_request(hc, bad_hosts[i], NULL, why, sizeof why),
                         MCP_EDENIED);
    assert_int_equal(gw_hostcheck_request(hc, "evil.example.com", NULL, why, sizeof why),
                     MCP_EDENIED);
    assert_string_equal(why, "Invalid Host: evil.example.com");
    /* Control bytes never reach the message. */
    assert_int_equal(gw_hostcheck_request(hc, "ev\nil", NULL, why, sizeof why), MCP_EDENIED);
    assert_string_equal(why, "Invalid Host: ev?il");
    /* A missing Host passes (HTTP/1.0); reason may be NULL. */
    assert_int_equal(gw_hostcheck_request(hc, NULL, NULL, NULL, 0), 0);

    static const char *const good_origins[] = {"http://localhost:3000", "https://127.0.0.1",
                                               "http://[::1]:8080", "HTTP://LOCALHOST",
                                               "http://localhost/"};
    for (size_t i = 0; i < sizeof good_origins / sizeof good_origins[0]; i++)
        assert_int_equal(gw_hostcheck_request(hc, "localhost", good_origins[i], why, sizeof why),
                         0);
    static const char *const bad_origins[] = {"http://evil.example.com",
                                              "null",
                                              "file://",
                                              "localhost",
                                              "http://localhost/path",
                                              "http://::1",
                                              "ws://localhost",
                                              "http://localhost:abc",
                                              ""};
    for (size_t i = 0; i < sizeof bad_origins / sizeof bad_origins[0]; i++) {
        if (gw_hostcheck_request(hc, "localhost", bad_origins[i], why, sizeof why) != MCP_EDENIED)
            fail_msg("origin accepted: %s", bad_origins[i]);
    }
    assert_int_equal(
        gw_hostcheck_request(hc, "localhost", "http://evil.example.com", why, sizeof why),
        MCP_EDENIED);
    assert_string_equal(why, "Invalid Origin: http://evil.example.com");
    /* The list in core/mcp_http_server.h's form. */
    const char *const *names = gw_hostcheck_names(hc);
    assert_string_equal(names[0], "localhost");
    assert_string_equal(names[1], "127.0.0.1");
    assert_string_equal(names[2], "[::1]");
    assert_null(names[3]);
    gw_hostcheck_free(hc);

    /* Configured: ports ignored, IPv6 in either form; the loopback defaults are replaced. */
    assert_int_equal(
        gw_hostcheck_new((const char *[]){"Gateway.Internal:8001", "::1", "[FE80::1]"}, 3, &hc), 0);
    assert_int_equal(gw_hostcheck_request(hc, "gateway.internal:9999", NULL, why, sizeof why), 0);
    assert_int_equal(
        gw_hostcheck_request(hc, "gateway.internal", "https://gateway.internal:1", why, sizeof why),
        0);
    assert_int_equal(gw_hostcheck_request(hc, "[::1]:1", NULL, why, sizeof why), 0);
    assert_int_equal(gw_hostcheck_request(hc, "[fe80::1]", NULL, why, sizeof why), 0);
    assert_int_equal(gw_hostcheck_request(hc, "localhost", NULL, why, sizeof why), MCP_EDENIED);
    assert_int_equal(
        gw_hostcheck_request(hc, "gateway.internal", "http://localhost", why, sizeof why),
        MCP_EDENIED);
    names = gw_hostcheck_names(hc);
    assert_string_equal(names[0], "gateway.internal");
    assert_string_equal(names[1], "[::1]");
    assert_string_equal(names[2], "[fe80::1]");
    assert_null(names[3]);
    gw_hostcheck_free(hc);

    assert_int_equal(gw_hostcheck_new((const char *[]){"*"}, 1, &hc), 0);
    assert_int_equal(gw_hostcheck_request(hc, "evil.example.com", "http://evil", why, sizeof why),
                     0);
    assert_null(gw_hostcheck_names(hc));
    gw_hostcheck_free(hc);
    assert_int_equal(gw_hostcheck_new((const char *[]){"a b"}, 1, &hc), MCP_EINVAL);
    assert_int_equal(gw_hostcheck_new((const char *[]){"[x]"}, 1, &hc), MCP_EINVAL);
    assert_null(hc);
}

/* ---- request ids ---- */

static void request_ids(void **state)
{
    (void)state;
    assert_true(gw_sec_request_id_valid("abc-123"));
    assert_true(gw_sec_request_id_valid("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
    char s[80];
    memset(s, 'a', sizeof s);
    s[GW_SEC_REQUEST_ID_MAX] = '\0';
    assert_true(gw_sec_request_id_valid(s));
    s[GW_SEC_REQUEST_ID_MAX] = 'a';
    s[GW_SEC_REQUEST_ID_MAX + 1] = '\0';
    assert_false(gw_sec_request_id_valid(s));
    static const char *const bad[] = {"",      "a b",  "a\"b", "a\\b", "caf\xc3\xa9",
                                      "a\x7f", "a\tb", "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(gw_sec_request_id_valid(bad[i]));
    assert_false(gw_sec_request_id_valid(NULL));

    char a[17], b[17];
    gw_sec_request_id_generate(a);
    gw_sec_request_id_generate(b);
    assert_int_equal(strlen(a), 16);
    for (int i = 0; i < 16; i++)
        assert_true(isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));
    assert_string_not_equal(a, b);
    assert_true(gw_sec_request_id_valid(a));

    char id[GW_SEC_REQUEST_ID_MAX + 1];
    assert_int_equal(gw_sec_request_id("client-id-42", id), 1);
    assert_string_equal(id, "client-id-42");
    assert_int_equal(gw_sec_request_id("bad id", id), 0);
    assert_int_equal(strlen(id), 16);
    assert_int_equal(gw_sec_request_id(NULL, id), 0);
    assert_int_equal(strlen(id), 16);
}

/* ---- envelope ---- */

static void envelope(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 4096);
    assert_int_equal(gw_error_envelope_write(&b, "not_found", "no tool \"x\"", "rid-1",
                                             "/mcp/tools", 1700000000123LL),
                     0);
    assert_string_equal(b.data,
                        "{\"success\":false,\"error\":{\"code\":\"not_found\",\"message\":"
                        "\"no tool \\\"x\\\"\"},\"metadata\":{\"request_id\":\"rid-1\","
                        "\"timestamp\":\"2023-11-14T22:13:20.123Z\",\"path\":\"/mcp/tools\"}}");
    buf_free(&b);

    cJSON *j = gw_error_envelope("internal_error", "boom", NULL, NULL, 0);
    assert_non_null(j);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "success")));
    cJSON *m = cJSON_GetObjectItem(j, "metadata");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "request_id")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "path")));
    const char *ts = cJSON_GetObjectItem(m, "timestamp")->valuestring;
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
    /* Callers may extend it. */
    assert_non_null(cJSON_AddStringToObject(cJSON_GetObjectItem(j, "error"), "details", "x"));
    cJSON_Delete(j);

    buf_init(&b, 20);
    assert_int_equal(gw_error_envelope_write(&b, "x", "y", NULL, NULL, 1), MCP_ENOBUFS);
    buf_free(&b);

    assert_int_equal(gw_error_status(MCP_EINVAL), 400);
    assert_int_equal(gw_error_status(MCP_EPARSE), 400);
    assert_int_equal(gw_error_status(MCP_EDENIED), 403);
    assert_int_equal(gw_error_status(MCP_ENOTFOUND), 404);
    assert_int_equal(gw_error_status(MCP_ENOBUFS), 413);
    assert_int_equal(gw_error_status(MCP_EUPSTREAM), 502);
    assert_int_equal(gw_error_status(MCP_EUNAVAILABLE), 503);
    assert_int_equal(gw_error_status(MCP_ETIMEDOUT), 504);
    assert_int_equal(gw_error_status(MCP_ENOMEM), 500);
    assert_string_equal(gw_error_code(401), "unauthorized");
    assert_string_equal(gw_error_code(429), "rate_limited");
    assert_string_equal(gw_error_code(503), "unavailable");
    assert_string_equal(gw_error_code(418), "client_error");
    assert_string_equal(gw_error_code(599), "server_error");

    for (long n = 0; n < 50; n++) {
        mcp_alloc_fail_after(n);
        j = gw_error_envelope("a", "b", "c", "d", 1);
        long failures = mcp_alloc_failures();
        mcp_alloc_fail_after(-1);
        if (!j) {
            assert_true(failures > 0);
            continue;
        }
        cJSON_Delete(j);
        if (failures == 0)
            break;
    }
}

/* ---- audit and secrets ---- */

static void audit(void **state)
{
    (void)state;
    capture_t cap = {0};
    log_set_sink(capture_sink, &cap);
    gw_audit_log(&(gw_audit_t){.action = "reload",
                               .key_fp = "ab12cd34",
                               .client = "127.0.0.1:5555",
                               .outcome = "ok",
                               .status = 200});
    gw_audit_log(&(gw_audit_t){.action = "reconnect",
                               .target = "my \"server\"\n",
                               .client = "::1",
                               .outcome = "denied",
                               .status = 401});
    log_set_sink(NULL, NULL);
    assert_int_equal(cap.count, 2);
    assert_int_equal(cap.levels[0], LOG_INFO);
    assert_non_null(strstr(cap.lines[0], "comp=audit"));
    assert_non_null(strstr(cap.lines[0], "msg=\"admin action\""));
    assert_non_null(strstr(cap.lines[0], " action=reload target=- key=ab12cd34 "
                                         "client=127.0.0.1:5555 outcome=ok status=200"));
    assert_int_equal(cap.levels[1], LOG_WARN);
    assert_non_null(strstr(cap.lines[1], " action=reconnect target=\"my \\\"server\\\"\\x0a\" "
                                         "key=- client=::1 outcome=denied status=401"));
    /* One line each: nothing in a value can start a new line. */
    assert_null(strchr(cap.lines[1], '\n'));

    assert_true(gw_sec_header_is_secret("Authorization"));
    assert_true(gw_sec_header_is_secret("x-api-key"));
    assert_true(gw_sec_header_is_secret("X-GitHub-Token"));
    assert_true(gw_sec_header_is_secret("Cookie"));
    assert_false(gw_sec_header_is_secret("Content-Type"));
    assert_false(gw_sec_header_is_secret("Mcp-Session-Id"));
    char red[64];
    gw_sec_redact("abc", red, sizeof red);
    assert_string_equal(red, "[redacted sha256:ba7816bf]");
}

static void no_secret_in_logs(void **state)
{
    (void)state;
    capture_t cap = {0};
    log_level_t old = log_get_level();
    log_set_level(LOG_DEBUG);
    log_set_sink(capture_sink, &cap);

    const char *wrong = KEY1 "-wrong";
    gw_settings_t st = {0};
    char *keys[] = {(char *)KEY1, (char *)KEY2};
    st.api_keys.items = keys;
    st.api_keys.count = 2;
    st.rate_limit_rps = 1;
    gw_security_t *sec;
    char err[200];
    assert_int_equal(gw_security_new(&st, fake_clock, NULL, &sec, err, sizeof err), 0);

    const char *headers[] = {"Bearer " KEY1, "Bearer " KEY2, NULL};
    const char *bad_headers[] = {"Bearer s3cr3t-key-0123456789abcdef-wrong", "Basic " KEY1,
                                 "Bearer " KEY1 " extra"};
    gw_auth_t a;
    for (size_t i = 0; i < 3; i++) {
        gw_sec_check_bearer(sec->keys, headers[i], &a);
        char client[32];
        snprintf(client, sizeof client, "key:%s", a.fingerprint[0] ? a.fingerprint : "-");
        gw_ratelimit_decision_t d;
        gw_ratelimit_check(sec->ratelimit, client, &d);
        gw_audit_log(&(gw_audit_t){.action = "reload",
                                   .key_fp = a.fingerprint[0] ? a.fingerprint : NULL,
                                   .client = "127.0.0.1",
                                   .outcome = a.result == GW_AUTH_OK ? "ok" : "denied",
                                   .status = a.result == GW_AUTH_OK ? 200 : 401});
    }
    for (size_t i = 0; i < 3; i++) {
        gw_sec_check_bearer(sec->keys, bad_headers[i], &a);
        gw_sec_log_denied("auth", a.reason, a.fingerprint[0] ? a.fingerprint : NULL, "127.0.0.1",
                          "/api/mcp/reload");
    }
    gw_security_free(sec);
    log_set_sink(NULL, NULL);
    log_set_level(old);

    /* Enough lines that the check means something, each naming keys by fingerprint only. */
    assert_true(cap.count >= 6);
    char fp1[9];
    gw_sec_fingerprint(KEY1, fp1);
    int fp_seen = 0;
    for (size_t i = 0; i < cap.count; i++) {
        assert_null(strstr(cap.lines[i], KEY1));
        assert_null(strstr(cap.lines[i], KEY2));
        assert_null(strstr(cap.lines[i], wrong));
        assert_null(strstr(cap.lines[i], "s3cr3t"));
        assert_null(strstr(cap.lines[i], "another-key"));
        fp_seen |= strstr(cap.lines[i], fp1) != NULL;
    }
    assert_true(fp_seen);
    assert_non_null(strstr(cap.lines[cap.count - 3], "what=auth reason=\"invalid API key\""));
    assert_non_null(strstr(cap.lines[cap.count - 1], "reason=\"bearer token has spaces"));
}

static void bundle(void **state)
{
    (void)state;
    gw_settings_t st = {0};
    char *origins[] = {(char *)"https://ok.example", (char *)"not an origin"};
    st.cors_origins.items = origins;
    st.cors_origins.count = 2;
    gw_security_t *sec;
    char err[200];
    assert_int_equal(gw_security_new(&st, NULL, NULL, &sec, err, sizeof err), MCP_EINVAL);
    assert_null(sec);
    assert_non_null(strstr(err, "cors_origins"));
    st.cors_origins.count = 1;
    char *hosts[] = {(char *)"gw.example:8001"};
    st.allowed_hosts.items = hosts;
    st.allowed_hosts.count = 1;
    st.auth_all_routes = 1;
    assert_int_equal(gw_security_new(&st, NULL, NULL, &sec, err, sizeof err), 0);
    assert_int_equal(gw_sec_keys_count(sec->keys), 0);
    assert_int_equal(sec->auth_all_routes, 1);
    assert_int_equal(gw_hostcheck_request(sec->hosts, "gw.example", NULL, NULL, 0), 0);
    assert_int_equal(gw_hostcheck_request(sec->hosts, "localhost", NULL, NULL, 0), MCP_EDENIED);
    gw_cors_result_t r;
    gw_cors_decide(sec->cors, "GET", "https://ok.example", NULL, NULL, &r);
    assert_true(r.allowed);
    gw_security_free(sec);
    gw_security_free(NULL);

    /* Allocation failures anywhere: MCP_ENOMEM, nothing leaked. */
    char *keys[] = {(char *)KEY1};
    st.api_keys.items = keys;
    st.api_keys.count = 1;
    st.rate_limit_rps = 5;
    for (long n = 0; n < 100; n++) {
        mcp_alloc_fail_after(n);
        int rc = gw_security_new(&st, NULL, NULL, &sec, err, sizeof err);
        long failures = mcp_alloc_failures();
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            gw_security_free(sec);
            if (failures == 0)
                return;
        } else {
            assert_int_equal(rc, MCP_ENOMEM);
            assert_null(sec);
        }
    }
    fail_msg("gw_security_new never completed");
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha256_vectors), cmocka_unit_test(ct_compare),
        cmocka_unit_test(bearer),         cmocka_unit_test(bucket_math),
        cmocka_unit_test(lru_eviction),   cmocka_unit_test(cors),
        cmocka_unit_test(host_names),     cmocka_unit_test(host_checks),
        cmocka_unit_test(request_ids),    cmocka_unit_test(envelope),
        cmocka_unit_test(audit),          cmocka_unit_test(no_secret_in_logs),
        cmocka_unit_test(bundle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
