#include "security.h"

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "rng.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha_block(uint32_t st[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

void gw_sec_sha256(const void *data, size_t len, uint8_t out[GW_SEC_SHA256_LEN])
{
    uint32_t st[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = data;
    size_t left = len;
    while (left >= 64) {
        sha_block(st, p);
        p += 64;
        left -= 64;
    }
    uint8_t tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tail_len = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha_block(st, tail);
    if (tail_len == 128)
        sha_block(st, tail + 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(st[i] >> 8);
        out[4 * i + 3] = (uint8_t)st[i];
    }
}

static void hex_prefix(const uint8_t *digest, char *out, size_t digits)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < digits; i++)
        out[i] = hex[(digest[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
    out[digits] = '\0';
}

void gw_sec_fingerprint(const char *secret, char out[GW_SEC_FINGERPRINT_LEN + 1])
{
    uint8_t d[GW_SEC_SHA256_LEN];
    gw_sec_sha256(secret ? secret : "", secret ? strlen(secret) : 0, d);
    hex_prefix(d, out, GW_SEC_FINGERPRINT_LEN);
}

int gw_sec_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const volatile uint8_t *x = a, *y = b;
    size_t n = alen > blen ? alen : blen;
    /* Fold every difference, including the lengths', into one accumulator. */
    uint64_t diff = (uint64_t)(alen ^ blen);
    for (size_t i = 0; i < n; i++) {
        uint8_t xi = i < alen ? x[i] : 0;
        uint8_t yi = i < blen ? y[i] : 0;
        diff |= (uint64_t)(xi ^ yi);
    }
    return diff == 0;
}

/* ---- (1) API keys ---- */

struct gw_sec_keys_s {
    size_t count;
    uint8_t (*digests)[GW_SEC_SHA256_LEN];
};

int gw_sec_keys_new(const char *const *keys, size_t count, gw_sec_keys_t **out)
{
    *out = NULL;
    if (count > 0 && !keys)
        return MCP_EINVAL;
    for (size_t i = 0; i < count; i++)
        if (!keys[i] || !keys[i][0])
            return MCP_EINVAL;
    gw_sec_keys_t *k = mcp_calloc(1, sizeof *k);
    if (!k)
        return MCP_ENOMEM;
    if (count > 0 && !(k->digests = mcp_calloc(count, sizeof *k->digests))) {
        mcp_free(k);
        return MCP_ENOMEM;
    }
    for (size_t i = 0; i < count; i++)
        gw_sec_sha256(keys[i], strlen(keys[i]), k->digests[i]);
    k->count = count;
    *out = k;
    return 0;
}

void gw_sec_keys_free(gw_sec_keys_t *k)
{
    if (!k)
        return;
    if (k->digests) {
        /* Not the keys themselves, but no reason to leave even their digests behind. */
        memset(k->digests, 0, k->count * sizeof *k->digests);
        mcp_free(k->digests);
    }
    mcp_free(k);
}

size_t gw_sec_keys_count(const gw_sec_keys_t *k)
{
    return k ? k->count : 0;
}

static gw_auth_result_t auth_done(gw_auth_t *out, gw_auth_result_t r, const char *reason)
{
    out->result = r;
    out->reason = reason;
    return r;
}

gw_auth_result_t gw_sec_check_bearer(const gw_sec_keys_t *k, const char *authorization,
                                     gw_auth_t *out)
{
    memset(out, 0, sizeof *out);
    if (!k || k->count == 0)
        return auth_done(out, GW_AUTH_DISABLED, "no API keys configured");
    if (!authorization)
        return auth_done(out, GW_AUTH_MISSING, "missing bearer token");
    const char *p = authorization;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return auth_done(out, GW_AUTH_MALFORMED, "authorization is not a bearer token");
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len == 0)
        return auth_done(out, GW_AUTH_MALFORMED, "empty bearer token");
    if (len > GW_SEC_TOKEN_MAX)
        return auth_done(out, GW_AUTH_MALFORMED, "bearer token too long");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] == 0x7f)
            return auth_done(out, GW_AUTH_MALFORMED, "bearer token has spaces or control bytes");
    uint8_t d[GW_SEC_SHA256_LEN];
    gw_sec_sha256(p, len, d);
    hex_prefix(d, out->fingerprint, GW_SEC_FINGERPRINT_LEN);
    int match = 0;
    for (size_t i = 0; i < k->count; i++)
        match |= gw_sec_ct_equal(d, sizeof d, k->digests[i], GW_SEC_SHA256_LEN);
    memset(d, 0, sizeof d);
    if (!match)
        return auth_done(out, GW_AUTH_INVALID, "invalid API key");
    return auth_done(out, GW_AUTH_OK, "ok");
}

const char *gw_auth_result_name(gw_auth_result_t r)
{
    switch (r) {
    case GW_AUTH_OK: return "ok";
    case GW_AUTH_DISABLED: return "disabled";
    case GW_AUTH_MISSING: return "missing";
    case GW_AUTH_MALFORMED: return "malformed";
    case GW_AUTH_INVALID: return "invalid";
    }
    return "unknown";
}

int gw_sec_auth_required(const gw_sec_keys_t *k, int auth_all_routes, int admin_route)
{
    return gw_sec_keys_count(k) > 0 && (admin_route || auth_all_routes);
}

/* ---- (2) token buckets ---- */

typedef struct rl_client_s {
    struct rl_client_s *hash_next;
    struct rl_client_s *lru_prev, *lru_next; /* head: most recently seen */
    uint64_t hash;
    uint64_t last_ns; /* when tokens was last brought up to date */
    double tokens;
    char key[GW_RATELIMIT_CLIENT_MAX + 1];
} rl_client_t;

struct gw_ratelimit_s {
    double rps, burst;
    size_t max_clients;
    gw_sec_clock_fn clock;
    void *clock_ud;
    rl_client_t **table;
    size_t table_size; /* power of two >= max_clients */
    rl_client_t *lru_head, *lru_tail;
    size_t clients;
    uint64_t allowed, denied, evictions;
};

static uint64_t default_clock(void *ud)
{
    (void)ud;
    return clock_mono_ns();
}

static double effective_burst(double rps, double burst)
{
    if (burst > 0)
        return burst;
    return rps > 1 ? rps : 1;
}

int gw_ratelimit_new(double rps, double burst, size_t max_clients, gw_sec_clock_fn clock,
                     void *clock_ud, gw_ratelimit_t **out)
{
    *out = NULL;
    if (!isfinite(rps) || rps < 0 || !isfinite(burst) || burst < 0)
        return MCP_EINVAL;
    gw_ratelimit_t *rl = mcp_calloc(1, sizeof *rl);
    if (!rl)
        return MCP_ENOMEM;
    rl->rps = rps;
    rl->burst = effective_burst(rps, burst);
    rl->max_clients = max_clients ? max_clients : GW_RATELIMIT_DEFAULT_CLIENTS;
    rl->clock = clock ? clock : default_clock;
    rl->clock_ud = clock ? clock_ud : NULL;
    rl->table_size = 16;
    while (rl->table_size < rl->max_clients && rl->table_size < ((size_t)1 << 24))
        rl->table_size *= 2;
    if (!(rl->table = mcp_calloc(rl->table_size, sizeof *rl->table))) {
        mcp_free(rl);
        return MCP_ENOMEM;
    }
    *out = rl;
    return 0;
}

void gw_ratelimit_free(gw_ratelimit_t *rl)
{
    if (!rl)
        return;
    for (rl_client_t *c = rl->lru_head, *next; c; c = next) {
        next = c->lru_next;
        mcp_free(c);
    }
    mcp_free(rl->table);
    mcp_free(rl);
}

int gw_ratelimit_configure(gw_ratelimit_t *rl, double rps, double burst)
{
    if (!rl || !isfinite(rps) || rps < 0 || !isfinite(burst) || burst < 0)
        return MCP_EINVAL;
    rl->rps = rps;
    rl->burst = effective_burst(rps, burst);
    for (rl_client_t *c = rl->lru_head; c; c = c->lru_next)
        if (c->tokens > rl->burst)
            c->tokens = rl->burst;
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

static void lru_unlink(gw_ratelimit_t *rl, rl_client_t *c)
{
    if (c->lru_prev)
        c->lru_prev->lru_next = c->lru_next;
    else
        rl->lru_head = c->lru_next;
    if (c->lru_next)
        c->lru_next->lru_prev = c->lru_prev;
    else
        rl->lru_tail = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
}

static void lru_push_front(gw_ratelimit_t *rl, rl_client_t *c)
{
    c->lru_next = rl->lru_head;
    c->lru_prev = NULL;
    if (rl->lru_head)
        rl->lru_head->lru_prev = c;
    else
        rl->lru_tail = c;
    rl->lru_head = c;
}

static void evict_lru(gw_ratelimit_t *rl)
{
    rl_client_t *c = rl->lru_tail;
    rl_client_t **pp = &rl->table[c->hash & (rl->table_size - 1)];
    while (*pp != c)
        pp = &(*pp)->hash_next;
    *pp = c->hash_next;
    lru_unlink(rl, c);
    mcp_free(c);
    rl->clients--;
    rl->evictions++;
}

int gw_ratelimit_check(gw_ratelimit_t *rl, const char *client, gw_ratelimit_decision_t *out)
{
    memset(out, 0, sizeof *out);
    out->allowed = 1;
    if (!rl || !client || !*client)
        return MCP_EINVAL;
    out->limit = (uint32_t)fmin(rl->burst, 4294967295.0);
    if (rl->rps <= 0) {
        out->remaining = out->limit;
        rl->allowed++;
        return 0;
    }
    char key[GW_RATELIMIT_CLIENT_MAX + 1];
    snprintf(key, sizeof key, "%s", client);
    uint64_t h = fnv1a(key);
    uint64_t now = rl->clock(rl->clock_ud);
    rl_client_t *c = rl->table[h & (rl->table_size - 1)];
    while (c && (c->hash != h || strcmp(c->key, key) != 0))
        c = c->hash_next;
    if (c) {
        lru_unlink(rl, c);
        if (now > c->last_ns) {
            c->tokens += (double)(now - c->last_ns) / 1e9 * rl->rps;
            if (c->tokens > rl->burst)
                c->tokens = rl->burst;
            c->last_ns = now;
        }
    } else {
        if (rl->clients >= rl->max_clients)
            evict_lru(rl);
        c = mcp_calloc(1, sizeof *c);
        if (!c) {
            rl->allowed++;
            return MCP_ENOMEM;
        }
        memcpy(c->key, key, strlen(key) + 1);
        c->hash = h;
        c->tokens = rl->burst;
        c->last_ns = now;
        size_t i = h & (rl->table_size - 1);
        c->hash_next = rl->table[i];
        rl->table[i] = c;
        rl->clients++;
    }
    lru_push_front(rl, c);
    if (c->tokens >= 1) {
        c->tokens -= 1;
        out->remaining = (uint32_t)c->tokens;
        rl->allowed++;
        return 0;
    }
    out->allowed = 0;
    out->remaining = 0;
    double wait = ceil((1 - c->tokens) / rl->rps);
    out->retry_after_s = wait < 1 ? 1 : wait > 86400 ? 86400 : (uint32_t)wait;
    rl->denied++;
    return 0;
}

void gw_ratelimit_stats(const gw_ratelimit_t *rl, gw_ratelimit_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!rl)
        return;
    out->allowed = rl->allowed;
    out->denied = rl->denied;
    out->evictions = rl->evictions;
    out->clients = rl->clients;
}

/* ---- (3) CORS ---- */

struct gw_cors_s {
    int any;
    size_t count;
    char **origins; /* normalised */
};

/* The host of an origin's authority: like gw_sec_host_name, but an IPv6 literal must be in
 * brackets (as browsers write it). */
static int authority_name(const char *p, size_t n, char *name)
{
    const char *colon = memchr(p, ':', n);
    if (colon && p[0] != '[' && memchr(colon + 1, ':', n - (size_t)(colon + 1 - p)))
        return MCP_EINVAL;
    return gw_sec_host_name(p, n, name);
}

/* Lowercase scheme://host[:port] with the default port and a trailing "/" dropped. 0 or
 * MCP_EINVAL. out has GW_CORS_ORIGIN_MAX + 1 bytes. */
static int normalise_origin(const char *in, char *out)
{
    size_t len = strlen(in);
    if (len > 0 && in[len - 1] == '/')
        len--;
    if (len == 0 || len > GW_CORS_ORIGIN_MAX)
        return MCP_EINVAL;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[len] = '\0';
    size_t scheme_len;
    if (strncmp(out, "http://", 7) == 0)
        scheme_len = 7;
    else if (strncmp(out, "https://", 8) == 0)
        scheme_len = 8;
    else
        return MCP_EINVAL;
    char name[GW_SEC_HOST_MAX + 1];
    const char *hp = out + scheme_len;
    if (strpbrk(hp, "/?#@*") || authority_name(hp, strlen(hp), name) != 0)
        return MCP_EINVAL;
    const char *dflt = scheme_len == 7 ? ":80" : ":443";
    size_t dl = strlen(dflt);
    len = strlen(out);
    if (len > dl && strcmp(out + len - dl, dflt) == 0 && out[len - dl - 1] != ':')
        out[len - dl] = '\0';
    return 0;
}

int gw_cors_new(const char *const *origins, size_t count, gw_cors_t **out)
{
    *out = NULL;
    if (count > 0 && !origins)
        return MCP_EINVAL;
    gw_cors_t *c = mcp_calloc(1, sizeof *c);
    if (!c)
        return MCP_ENOMEM;
    if (count > 0 && !(c->origins = mcp_calloc(count, sizeof *c->origins))) {
        mcp_free(c);
        return MCP_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (origins[i] && strcmp(origins[i], "*") == 0) {
            c->any = 1;
            continue;
        }
        char norm[GW_CORS_ORIGIN_MAX + 1];
        if (!origins[i] || normalise_origin(origins[i], norm) != 0)
            rc = MCP_EINVAL;
        else if (!(c->origins[c->count] = mcp_strdup(norm)))
            rc = MCP_ENOMEM;
        else
            c->count++;
    }
    if (rc != 0) {
        gw_cors_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void gw_cors_free(gw_cors_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        mcp_free(c->origins[i]);
    mcp_free(c->origins);
    mcp_free(c);
}

static int origin_allowed(const gw_cors_t *c, const char *origin)
{
    if (c->any)
        return 1;
    char norm[GW_CORS_ORIGIN_MAX + 1];
    if (normalise_origin(origin, norm) != 0)
        return 0;
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->origins[i], norm) == 0)
            return 1;
    return 0;
}

static void add_header(gw_cors_result_t *r, const char *name, const char *value)
{
    if (r->header_count < GW_CORS_MAX_HEADERS) {
        r->headers[r->header_count].name = name;
        r->headers[r->header_count].value = value;
        r->header_count++;
    }
}

/* Is the token [s, s+n) one of the comma-separated names in list (lowercase)? */
static int in_list(const char *list, const char *s, size_t n)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        if ((size_t)(e - p) == n && strncasecmp(p, s, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/* Check every requested header and write them, lowercased, into r->allow_headers. */
static int headers_allowed(const char *req, gw_cors_result_t *r)
{
    size_t n = 0;
    const char *p = req;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        size_t len = (size_t)(e - p);
        if (len > 0) {
            if (!in_list(GW_CORS_ALLOW_HEADERS, p, len))
                return 0;
            if (n + len + 2 >= sizeof r->allow_headers)
                return 0;
            if (n > 0) {
                memcpy(r->allow_headers + n, ", ", 2);
                n += 2;
            }
            for (size_t i = 0; i < len; i++)
                r->allow_headers[n++] = (char)tolower((unsigned char)p[i]);
        }
        p = e;
    }
    r->allow_headers[n] = '\0';
    return 1;
}

void gw_cors_decide(const gw_cors_t *c, const char *method, const char *origin,
                    const char *acr_method, const char *acr_headers, gw_cors_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (!origin)
        return; /* same-origin or not a browser: CORS does not apply */
    out->preflight = method && strcasecmp(method, "OPTIONS") == 0 && acr_method != NULL;
    int ok = c && origin_allowed(c, origin) && strlen(origin) <= GW_CORS_ORIGIN_MAX;
    int any = c && c->any;
    if (!out->preflight) {
        if (!ok) {
            out->reason = "origin not allowed";
            if (!any)
                add_header(out, "Vary", "Origin");
            return;
        }
        out->allowed = 1;
        snprintf(out->origin, sizeof out->origin, "%s", origin);
        add_header(out, "Access-Control-Allow-Origin", any ? "*" : out->origin);
        add_header(out, "Access-Control-Expose-Headers", GW_CORS_EXPOSE_HEADERS);
        if (!any)
            add_header(out, "Vary", "Origin");
        return;
    }
    out->status = 403;
    if (!ok) {
        out->reason = "origin not allowed";
        return;
    }
    if (!in_list(GW_CORS_ALLOW_METHODS, acr_method, strlen(acr_method))) {
        out->reason = "method not allowed";
        return;
    }
    if (acr_headers && !headers_allowed(acr_headers, out)) {
        out->allow_headers[0] = '\0';
        out->reason = "request header not allowed";
        return;
    }
    out->allowed = 1;
    out->status = 204;
    snprintf(out->origin, sizeof out->origin, "%s", origin);
    add_header(out, "Access-Control-Allow-Origin", any ? "*" : out->origin);
    add_header(out, "Access-Control-Allow-Methods", GW_CORS_ALLOW_METHODS);
    if (out->allow_headers[0])
        add_header(out, "Access-Control-Allow-Headers", out->allow_headers);
    add_header(out, "Access-Control-Max-Age", GW_CORS_MAX_AGE);
    add_header(out, "Vary",
               "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
}

/* ---- (4) Host / Origin ---- */

struct gw_hostcheck_s {
    int any;
    size_t count;
    char **names;     /* as gw_sec_host_name gives them */
    char **bracketed; /* core/mcp_http_server.h's form, NULL-terminated */
};

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

static int ipv6_chars(const char *s, size_t n)
{
    if (n < 2)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
            return 0;
    return 1;
}

static int port_ok(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= 65535;
}

int gw_sec_host_name(const char *hp, size_t len, char *out)
{
    out[0] = '\0';
    if (!hp)
        return MCP_EINVAL;
    const char *name;
    size_t n;
    if (len > 0 && hp[0] == '[') {
        const char *e = memchr(hp, ']', len);
        if (!e)
            return MCP_EINVAL;
        name = hp + 1;
        n = (size_t)(e - name);
        size_t rest = len - (size_t)(e + 1 - hp);
        if (rest > 0 && (e[1] != ':' || !port_ok(e + 2, rest - 1)))
            return MCP_EINVAL;
        if (!ipv6_chars(name, n) || !memchr(name, ':', n))
            return MCP_EINVAL;
    } else {
        const char *colon = memchr(hp, ':', len);
        if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - hp))) {
            /* two or more colons and no brackets: a bare IPv6 literal, no port */
            name = hp;
            n = len;
            if (!ipv6_chars(name, n))
                return MCP_EINVAL;
        } else {
            name = hp;
            n = colon ? (size_t)(colon - hp) : len;
            if (colon && !port_ok(colon + 1, len - n - 1))
                return MCP_EINVAL;
            for (size_t i = 0; i < n; i++)
                if (!host_char(name[i]))
                    return MCP_EINVAL;
            if (n > 1 && name[n - 1] == '.')
                n--;
        }
    }
    if (n == 0 || n > GW_SEC_HOST_MAX)
        return MCP_EINVAL;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[n] = '\0';
    return 0;
}

void gw_hostcheck_free(gw_hostcheck_t *hc)
{
    if (!hc)
        return;
    for (size_t i = 0; i < hc->count; i++) {
        mcp_free(hc->names[i]);
        mcp_free(hc->bracketed[i]);
    }
    mcp_free(hc->names);
    mcp_free(hc->bracketed);
    mcp_free(hc);
}

int gw_hostcheck_new(const char *const *allowed, size_t count, gw_hostcheck_t **out)
{
    static const char *const loopback[] = {"localhost", "127.0.0.1", "::1"};
    *out = NULL;
    if (count > 0 && !allowed)
        return MCP_EINVAL;
    if (count == 0) {
        allowed = loopback;
        count = sizeof loopback / sizeof loopback[0];
    }
    gw_hostcheck_t *hc = mcp_calloc(1, sizeof *hc);
    if (!hc || !(hc->names = mcp_calloc(count, sizeof *hc->names)) ||
        !(hc->bracketed = mcp_calloc(count + 1, sizeof *hc->bracketed))) {
        gw_hostcheck_free(hc);
        return MCP_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (allowed[i] && strcmp(allowed[i], "*") == 0) {
            hc->any = 1;
            continue;
        }
        char name[GW_SEC_HOST_MAX + 1];
        if (!allowed[i] || gw_sec_host_name(allowed[i], strlen(allowed[i]), name) != 0) {
            rc = MCP_EINVAL;
            break;
        }
        char *plain = mcp_strdup(name);
        char *br = strchr(name, ':') ? mcp_asprintf("[%s]", name) : mcp_strdup(name);
        if (!plain || !br) {
            mcp_free(plain);
            mcp_free(br);
            rc = MCP_ENOMEM;
            break;
        }
        hc->names[hc->count] = plain;
        hc->bracketed[hc->count] = br;
        hc->count++;
    }
    if (rc != 0) {
        gw_hostcheck_free(hc);
        return rc;
    }
    *out = hc;
    return 0;
}

static int name_allowed(const gw_hostcheck_t *hc, const char *name)
{
    for (size_t i = 0; i < hc->count; i++)
        if (strcmp(hc->names[i], name) == 0)
            return 1;
    return 0;
}

/* Printable, bounded copy of an untrusted value for a message. */
static const char *printable(const char *in, char *buf, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 1 < cap; p++)
        buf[n++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
    buf[n] = '\0';
    return buf;
}

int gw_hostcheck_request(const gw_hostcheck_t *hc, const char *host, const char *origin,
                         char *reason, size_t reason_cap)
{
    if (reason && reason_cap)
        reason[0] = '\0';
    if (!hc)
        return MCP_EINVAL;
    if (hc->any)
        return 0;
    char name[GW_SEC_HOST_MAX + 1], shown[128];
    if (host && (gw_sec_host_name(host, strlen(host), name) != 0 || !name_allowed(hc, name))) {
        if (reason && reason_cap)
            snprintf(reason, reason_cap, "Invalid Host: %s", printable(host, shown, sizeof shown));
        return MCP_EDENIED;
    }
    if (origin) {
        int ok = 0;
        const char *p = NULL;
        if (strncasecmp(origin, "http://", 7) == 0)
            p = origin + 7;
        else if (strncasecmp(origin, "https://", 8) == 0)
            p = origin + 8;
        if (p) {
            size_t n = strcspn(p, "/");
            /* Only an optional trailing "/" may follow the authority. */
            ok = (p[n] == '\0' || (p[n] == '/' && p[n + 1] == '\0')) &&
                 authority_name(p, n, name) == 0 && name_allowed(hc, name);
        }
        if (!ok) {
            if (reason && reason_cap)
                snprintf(reason, reason_cap, "Invalid Origin: %s",
                         printable(origin, shown, sizeof shown));
            return MCP_EDENIED;
        }
    }
    return 0;
}

const char *const *gw_hostcheck_names(const gw_hostcheck_t *hc)
{
    return !hc || hc->any ? NULL : (const char *const *)hc->bracketed;
}

/* ---- (5) correlation ids ---- */

int gw_sec_request_id_valid(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
        if (n >= GW_SEC_REQUEST_ID_MAX || *p < 0x21 || *p > 0x7e || *p == '"' || *p == '\\')
            return 0;
    }
    return 1;
}

static int os_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(p + got, len - got, GRND_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == len)
        return 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return got == len ? 0 : -1;
}

void gw_sec_request_id_generate(char out[17])
{
    uint8_t b[8];
    if (os_random(b, sizeof b) != 0) {
        /* Ids only need to be unique, not secret: a clock-seeded stream will do. */
        static rng_t r;
        static int seeded;
        if (!seeded) {
            rng_seed(&r, clock_mono_ns() ^ (uint64_t)clock_wall_ms() << 20 ^ (uint64_t)getpid());
            seeded = 1;
        }
        uint64_t v = rng_next(&r);
        memcpy(b, &v, sizeof b);
    }
    hex_prefix(b, out, 16);
}

int gw_sec_request_id(const char *header, char out[GW_SEC_REQUEST_ID_MAX + 1])
{
    if (gw_sec_request_id_valid(header)) {
        memcpy(out, header, strlen(header) + 1);
        return 1;
    }
    gw_sec_request_id_generate(out);
    return 0;
}

/* ---- (6) the error envelope ---- */

cJSON *gw_error_envelope(const char *code, const char *message, const char *request_id,
                         const char *path, int64_t wall_ms)
{
    char ts[40];
    clock_format_iso8601(ts, sizeof ts, wall_ms ? wall_ms : clock_wall_ms());
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON *e = NULL, *m = NULL;
    int ok = cJSON_AddFalseToObject(root, "success") &&
             (e = cJSON_AddObjectToObject(root, "error")) != NULL &&
             cJSON_AddStringToObject(e, "code", code ? code : "internal_error") &&
             cJSON_AddStringToObject(e, "message", message ? message : "") &&
             (m = cJSON_AddObjectToObject(root, "metadata")) != NULL &&
             (request_id ? cJSON_AddStringToObject(m, "request_id", request_id) != NULL
                         : cJSON_AddNullToObject(m, "request_id") != NULL) &&
             cJSON_AddStringToObject(m, "timestamp", ts) &&
             (path ? cJSON_AddStringToObject(m, "path", path) != NULL
                   : cJSON_AddNullToObject(m, "path") != NULL);
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int gw_error_envelope_write(buf_t *out, const char *code, const char *message,
                            const char *request_id, const char *path, int64_t wall_ms)
{
    cJSON *j = gw_error_envelope(code, message, request_id, path, wall_ms);
    if (!j)
        return MCP_ENOMEM;
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text)
        return MCP_ENOMEM;
    int rc = buf_append_str(out, text);
    mcp_free(text);
    return rc;
}

int gw_error_status(int err)
{
    switch (err) {
    case 0: return 200;
    case MCP_EINVAL:
    case MCP_EPARSE: return 400;
    case MCP_EDENIED: return 403;
    case MCP_ENOTFOUND: return 404;
    case MCP_ENOBUFS: return 413;
    case MCP_EUPSTREAM: return 502;
    case MCP_EUNAVAILABLE: return 503;
    case MCP_ETIMEDOUT: return 504;
    default: return 500;
    }
}

const char *gw_error_code(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "request_timeout";
    case 413: return "payload_too_large";
    case 429: return "rate_limited";
    case 500: return "internal_error";
    case 502: return "bad_gateway";
    case 503: return "unavailable";
    case 504: return "gateway_timeout";
    default: return status >= 500 ? "server_error" : "client_error";
    }
}

/* ---- (7) audit and redaction ---- */

/* A logfmt value: as is when it is a plain token, else quoted with \" \\ and control bytes
 * escaped; cut to fit. "-" for NULL. (log_quote has only four slots per line; audit lines have
 * more fields.) */
static const char *logfmt_value(const char *in, char *out, size_t cap)
{
    if (!in)
        return "-";
    int plain = *in != '\0';
    for (const unsigned char *p = (const unsigned char *)in; *p && plain; p++)
        plain = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '=' && *p != '\\';
    size_t n = 0;
    if (plain) {
        snprintf(out, cap, "%s", in);
        return out;
    }
    out[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 6 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            out[n++] = '\\';
            out[n++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", *p);
        } else {
            out[n++] = (char)*p;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

void gw_audit_log(const gw_audit_t *a)
{
    char action[96], target[160], key[32], client[96], outcome[64];
    int ok = a->outcome && strcmp(a->outcome, "ok") == 0;
    log_write(ok ? LOG_INFO : LOG_WARN, "audit", "admin action",
              "action=%s target=%s key=%s client=%s outcome=%s status=%d",
              logfmt_value(a->action, action, sizeof action),
              logfmt_value(a->target, target, sizeof target),
              logfmt_value(a->key_fp, key, sizeof key),
              logfmt_value(a->client, client, sizeof client),
              logfmt_value(a->outcome, outcome, sizeof outcome), a->status);
}

void gw_sec_log_denied(const char *what, const char *reason, const char *key_fp, const char *client,
                       const char *path)
{
    char w[64], r[128], k[32], c[96], p[160];
    log_write(LOG_WARN, "security", "request refused", "what=%s reason=%s key=%s client=%s path=%s",
              logfmt_value(what, w, sizeof w), logfmt_value(reason, r, sizeof r),
              logfmt_value(key_fp, k, sizeof k), logfmt_value(client, c, sizeof c),
              logfmt_value(path, p, sizeof p));
}

int gw_sec_header_is_secret(const char *name)
{
    static const char *const exact[] = {"authorization", "proxy-authorization", "cookie",
                                        "set-cookie",    "x-api-key",           "x-auth-token"};
    static const char *const parts[] = {"token", "secret", "password", "key"};
    if (!name)
        return 0;
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcasecmp(name, exact[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strcasestr(name, parts[i]))
            return 1;
    return 0;
}

void gw_sec_redact(const char *secret, char *out, size_t cap)
{
    char fp[GW_SEC_FINGERPRINT_LEN + 1];
    gw_sec_fingerprint(secret, fp);
    snprintf(out, cap, "[redacted sha256:%s]", fp);
}

/* ---- the bundle ---- */

void gw_security_free(gw_security_t *s)
{
    if (!s)
        return;
    gw_sec_keys_free(s->keys);
    gw_ratelimit_free(s->ratelimit);
    gw_cors_free(s->cors);
    gw_hostcheck_free(s->hosts);
    mcp_free(s);
}

int gw_security_new(const gw_settings_t *st, gw_sec_clock_fn clock, void *clock_ud,
                    gw_security_t **out, char *err, size_t err_cap)
{
    *out = NULL;
    if (err && err_cap)
        err[0] = '\0';
    gw_security_t *s = mcp_calloc(1, sizeof *s);
    if (!s)
        return MCP_ENOMEM;
    s->auth_all_routes = st->auth_all_routes;
    const char *what = NULL;
    int rc = gw_sec_keys_new((const char *const *)st->api_keys.items, st->api_keys.count, &s->keys);
    if (rc != 0)
        what = "security.api_keys: empty key";
    if (rc == 0 && (rc = gw_ratelimit_new(st->rate_limit_rps, st->rate_limit_burst, 0, clock,
                                          clock_ud, &s->ratelimit)) != 0)
        what = "security.rate_limit_rps: not a rate";
    if (rc == 0 && (rc = gw_cors_new((const char *const *)st->cors_origins.items,
                                     st->cors_origins.count, &s->cors)) != 0)
        what = "security.cors_origins: entries must be \"*\" or scheme://host[:port]";
    if (rc == 0 && (rc = gw_hostcheck_new((const char *const *)st->allowed_hosts.items,
                                          st->allowed_hosts.count, &s->hosts)) != 0)
        what = "security.allowed_hosts: entries must be \"*\" or host names";
    if (rc != 0) {
        if (err && err_cap && rc != MCP_ENOMEM)
            snprintf(err, err_cap, "%s", what);
        gw_security_free(s);
        return rc;
    }
    *out = s;
    return 0;
}
