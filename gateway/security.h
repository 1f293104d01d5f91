/* security: the gateway's request-level protections — API keys, per-client rate limits, CORS,
 * Host/Origin checks, correlation ids, the error envelope and the audit log.
 *
 * Each piece is pure logic over strings the HTTP layer hands in (header values, the peer
 * address, the path); none of them touches a socket, so the routes decide what to send and the
 * tests drive every rule directly. gw_security_t bundles the pieces built from gateway/config.h
 * settings, for main and the routes; the pieces can also be used alone.
 *
 * Secrets: configured API keys are kept only as SHA-256 digests (the text is dropped after
 * gw_sec_keys_new), and nothing here logs a key or an Authorization value. A key is named in
 * logs by its fingerprint: the first 8 hex digits of SHA-256 of the key text, which an operator
 * can reproduce with `printf %s "$KEY" | sha256sum | cut -c1-8`. 32 bits identify which
 * configured key was used without helping anyone guess it.
 *
 * Constant time: a presented key is hashed and its digest compared with every configured digest
 * with no early exit, so the time taken depends on neither which key matched, nor how many bytes
 * of a wrong key were right, nor the configured keys' lengths.
 *
 * Ownership: every *_new returns an object owned by the caller (release with the matching
 * *_free, NULL is a no-op); inputs are copied. Results point into caller-provided structs or
 * static strings. Not thread-safe: one instance per event loop. */
#ifndef GW_SECURITY_H
#define GW_SECURITY_H

#include "buf.h"
#include "config.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* ---- primitives ---- */

#define GW_SEC_SHA256_LEN      32
#define GW_SEC_FINGERPRINT_LEN 8 /* hex digits */

/* SHA-256 (FIPS 180-4) of len bytes at data into out. */
void gw_sec_sha256(const void *data, size_t len, uint8_t out[GW_SEC_SHA256_LEN]);
/* The fingerprint of a secret: 8 lowercase hex digits of its SHA-256, NUL-terminated. */
void gw_sec_fingerprint(const char *secret, char out[GW_SEC_FINGERPRINT_LEN + 1]);
/* 1 when the two byte strings are equal, else 0. The time depends only on the lengths, never on
 * the contents (no early exit, no data-dependent branch). */
int gw_sec_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Monotonic nanoseconds; injectable so tests move time by hand. NULL: clock_mono_ns. */
typedef uint64_t (*gw_sec_clock_fn)(void *ud);

/* ---- (1) API keys ---- */

typedef struct gw_sec_keys_s gw_sec_keys_t;

typedef enum {
    GW_AUTH_OK = 0,    /* a configured key was presented */
    GW_AUTH_DISABLED,  /* no keys are configured: nothing to check (callers allow) */
    GW_AUTH_MISSING,   /* no Authorization header */
    GW_AUTH_MALFORMED, /* not "Bearer <token>", or a token with spaces / over the maximum */
    GW_AUTH_INVALID,   /* a well-formed token that matches no configured key */
} gw_auth_result_t;

#define GW_SEC_TOKEN_MAX 4096 /* longer Authorization tokens are malformed */

typedef struct gw_auth_s {
    gw_auth_result_t result;
    const char *reason; /* static text for logs and error messages ("missing bearer token"...) */
    /* The presented token's fingerprint (OK and INVALID), else "". */
    char fingerprint[GW_SEC_FINGERPRINT_LEN + 1];
} gw_auth_t;

/* Keep the digests of count keys (empty strings are refused: MCP_EINVAL). count 0 is allowed
 * (auth disabled). 0, MCP_EINVAL or MCP_ENOMEM. */
int gw_sec_keys_new(const char *const *keys, size_t count, gw_sec_keys_t **out);
void gw_sec_keys_free(gw_sec_keys_t *k);
size_t gw_sec_keys_count(const gw_sec_keys_t *k);
/* Check an Authorization header value (NULL when absent). Returns out->result. k NULL counts as
 * no keys configured. Nothing is logged. */
gw_auth_result_t gw_sec_check_bearer(const gw_sec_keys_t *k, const char *authorization,
                                     gw_auth_t *out);
/* The name of a result ("ok", "disabled", "missing", "malformed", "invalid"). */
const char *gw_auth_result_name(gw_auth_result_t r);
/* Does a request need a key? Admin routes always do when keys are configured; other routes only
 * with auth_all_routes. */
int gw_sec_auth_required(const gw_sec_keys_t *k, int auth_all_routes, int admin_route);

/* ---- (2) per-client token buckets ---- */

typedef struct gw_ratelimit_s gw_ratelimit_t;

#define GW_RATELIMIT_DEFAULT_CLIENTS 10000
#define GW_RATELIMIT_CLIENT_MAX      128 /* bytes of a client key kept (longer keys are cut) */

typedef struct gw_ratelimit_decision_s {
    int allowed;
    uint32_t retry_after_s; /* when denied: whole seconds until one token is back (>= 1) */
    uint32_t remaining;     /* whole tokens left after this request */
    uint32_t limit;         /* the burst (for X-RateLimit-Limit) */
} gw_ratelimit_decision_t;

typedef struct gw_ratelimit_stats_s {
    uint64_t allowed, denied, evictions;
    size_t clients;
} gw_ratelimit_stats_t;

/* A limiter giving each client `burst` tokens that refill at `rps` per second; a request takes
 * one. rps 0 turns limiting off (every request allowed, no state); burst 0 means max(1, rps).
 * At most max_clients (0: GW_RATELIMIT_DEFAULT_CLIENTS) clients are tracked: a new client past
 * that evicts the least recently seen one (whose bucket has usually refilled, so nothing is
 * lost). 0, MCP_EINVAL (rps negative or not finite) or MCP_ENOMEM. */
int gw_ratelimit_new(double rps, double burst, size_t max_clients, gw_sec_clock_fn clock,
                     void *clock_ud, gw_ratelimit_t **out);
void gw_ratelimit_free(gw_ratelimit_t *rl);
/* New rates (config reload); known clients keep their tokens, capped at the new burst. */
int gw_ratelimit_configure(gw_ratelimit_t *rl, double rps, double burst);
/* Take a token for `client` (an address such as "ip:127.0.0.1" or a key fingerprint such as
 * "key:1a2b3c4d"). Fills *out and returns 0; MCP_EINVAL (client NULL or empty). When tracking a
 * new client fails for lack of memory the request is allowed (fail open) and MCP_ENOMEM is
 * returned. */
int gw_ratelimit_check(gw_ratelimit_t *rl, const char *client, gw_ratelimit_decision_t *out);
void gw_ratelimit_stats(const gw_ratelimit_t *rl, gw_ratelimit_stats_t *out);

/* ---- (3) CORS ---- */

typedef struct gw_cors_s gw_cors_t;

#define GW_CORS_MAX_HEADERS 6
#define GW_CORS_ORIGIN_MAX  256
/* What a cross-origin page may send and read. */
#define GW_CORS_ALLOW_METHODS "GET, POST, DELETE, OPTIONS"
#define GW_CORS_ALLOW_HEADERS                                                                    \
    "accept, authorization, content-type, last-event-id, mcp-protocol-version, mcp-session-id, " \
    "x-request-id"
#define GW_CORS_EXPOSE_HEADERS "Mcp-Session-Id, Mcp-Protocol-Version, X-Request-ID, Retry-After"
#define GW_CORS_MAX_AGE        "600"

typedef struct gw_cors_header_s {
    const char *name;
    const char *value; /* static, or into the result's buffers */
} gw_cors_header_t;

typedef struct gw_cors_result_s {
    int preflight;      /* OPTIONS with Origin and Access-Control-Request-Method */
    int allowed;        /* the origin (and for a preflight the method and headers) may proceed */
    int status;         /* preflight: 204 allowed, 403 refused; otherwise 0 (the route answers) */
    const char *reason; /* static, when refused */
    size_t header_count;
    gw_cors_header_t headers[GW_CORS_MAX_HEADERS]; /* to add to the response */
    char origin[GW_CORS_ORIGIN_MAX + 1];
    char allow_headers[512];
} gw_cors_result_t;

/* An allow-list of exact origins ("https://app.example.com", scheme://host[:port], compared
 * without case; a default port (:80 for http, :443 for https) and a trailing "/" are dropped)
 * and/or "*" (any origin, answered with "Access-Control-Allow-Origin: *"). An empty list allows
 * no cross-origin requests. 0, MCP_EINVAL (an entry that is not an origin; no path, query,
 * credentials or wildcard subdomains) or MCP_ENOMEM. */
int gw_cors_new(const char *const *origins, size_t count, gw_cors_t **out);
void gw_cors_free(gw_cors_t *c);
/* Decide the CORS response for a request. origin, acr_method (Access-Control-Request-Method)
 * and acr_headers (Access-Control-Request-Headers) are header values or NULL. Without Origin
 * nothing is added. A preflight is allowed when the origin is, the method is in
 * GW_CORS_ALLOW_METHODS and every requested header is in GW_CORS_ALLOW_HEADERS; it then gets
 * Allow-Origin, Allow-Methods, Allow-Headers (the requested ones), Max-Age and Vary, status 204.
 * A refused preflight gets status 403 and no CORS headers. An actual request from an allowed
 * origin gets Allow-Origin, Expose-Headers and Vary: Origin; from another origin only Vary. */
void gw_cors_decide(const gw_cors_t *c, const char *method, const char *origin,
                    const char *acr_method, const char *acr_headers, gw_cors_result_t *out);

/* ---- (4) Host / Origin checks (DNS rebinding protection for /mcp) ---- */

typedef struct gw_hostcheck_s gw_hostcheck_t;

#define GW_SEC_HOST_MAX 255

/* The host name of "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal, lowercased,
 * one trailing dot removed, IPv6 without brackets, into out (GW_SEC_HOST_MAX + 1 bytes).
 * 0, or MCP_EINVAL (empty, bad characters, bad port, unbalanced brackets, too long). */
int gw_sec_host_name(const char *hostport, size_t len, char *out);

/* Allowed host names (any of the forms above, ports ignored; "*" allows every host). count 0:
 * localhost, 127.0.0.1 and ::1. 0, MCP_EINVAL (an entry is not a host) or MCP_ENOMEM. */
int gw_hostcheck_new(const char *const *allowed, size_t count, gw_hostcheck_t **out);
void gw_hostcheck_free(gw_hostcheck_t *hc);
/* Check a request's Host and Origin header values (NULL when absent). A missing Host passes
 * (HTTP/1.0; browsers always send it); an Origin must be http(s)://allowed-host[:port]
 * ("null" fails). 0, or MCP_EDENIED with a message such as "Invalid Host: evil.example.com"
 * in reason (reason_cap bytes; reason may be NULL). */
int gw_hostcheck_request(const gw_hostcheck_t *hc, const char *host, const char *origin,
                         char *reason, size_t reason_cap);
/* The allow-list in core/mcp_http_server.h's form (lowercase, no port, IPv6 in brackets),
 * NULL-terminated and owned by hc; NULL when every host is allowed. */
const char *const *gw_hostcheck_names(const gw_hostcheck_t *hc);

/* ---- (5) correlation ids ---- */

/* 63 because log.h keeps that many bytes of the id on every line. */
#define GW_SEC_REQUEST_ID_MAX 63

/* 1 when s is a usable X-Request-ID: 1..GW_SEC_REQUEST_ID_MAX bytes of visible ASCII (0x21-0x7e)
 * other than '"' and '\\' (log lines print the id unescaped). */
int gw_sec_request_id_valid(const char *s);
/* 16 lowercase hex digits from the OS random source (getrandom, else /dev/urandom, else a
 * clock-seeded generator), NUL-terminated. */
void gw_sec_request_id_generate(char out[17]);
/* The id for a request: the header's value when valid, else a new one. Returns 1 when taken
 * from the header, 0 when generated. */
int gw_sec_request_id(const char *header, char out[GW_SEC_REQUEST_ID_MAX + 1]);

/* ---- (6) the error envelope ---- */

/* {"success":false,"error":{"code":code,"message":message},
 *  "metadata":{"request_id":..,"timestamp":"2026-11-22T03:24:00.123Z","path":..}}
 * request_id and path may be NULL (then null). wall_ms is the timestamp (0: now). The caller
 * owns the result (cJSON_Delete) and may add fields (e.g. error.details). NULL on allocation
 * failure. */
cJSON *gw_error_envelope(const char *code, const char *message, const char *request_id,
                         const char *path, int64_t wall_ms);
/* The same, printed onto out. 0, MCP_ENOBUFS or MCP_ENOMEM. */
int gw_error_envelope_write(buf_t *out, const char *code, const char *message,
                            const char *request_id, const char *path, int64_t wall_ms);
/* The HTTP status for one of our error codes (MCP_EINVAL/EPARSE 400, MCP_EDENIED 403,
 * MCP_ENOTFOUND 404, MCP_ENOBUFS 413, MCP_EUPSTREAM 502, MCP_EUNAVAILABLE 503, MCP_ETIMEDOUT 504,
 * anything else 500) and the envelope code for a status ("bad_request", "unauthorized",
 * "forbidden", "not_found", "method_not_allowed", "request_timeout", "payload_too_large",
 * "rate_limited", "internal_error", "bad_gateway", "unavailable", "gateway_timeout"; other 4xx
 * "client_error", other 5xx "server_error"). */
int gw_error_status(int err);
const char *gw_error_code(int http_status);

/* ---- (7) audit log and redaction ---- */

typedef struct gw_audit_s {
    const char *action;  /* "reload", "reconnect", "cache_clear", ... */
    const char *target;  /* what it acted on (a server name), or NULL */
    const char *key_fp;  /* the caller's key fingerprint, or NULL (no key) */
    const char *client;  /* peer address, or NULL */
    const char *outcome; /* "ok", "denied", "failed", ... */
    int status;          /* HTTP status sent, 0 when none */
} gw_audit_t;

/* One log line (comp=audit, msg="admin action"; info, or warn when the outcome is not "ok")
 * with action=, target=, key=, client=, outcome=, status= (values quoted as needed, absent ones
 * "-"). Never pass a key or a header value: only fingerprints. */
void gw_audit_log(const gw_audit_t *a);
/* A refused request (wrong or missing key, rate limit, host check): one warn line comp=security
 * with what=, reason=, key= (fingerprint or "-"), client=, path=. */
void gw_sec_log_denied(const char *what, const char *reason, const char *key_fp, const char *client,
                       const char *path);
/* 1 for header names that carry credentials (Authorization, Proxy-Authorization, Cookie,
 * Set-Cookie, X-Api-Key, X-Auth-Token, and any name containing "token", "secret", "password" or
 * "key"), compared without case. */
int gw_sec_header_is_secret(const char *name);
/* "[redacted sha256:1a2b3c4d]" for a secret value, into out (at least 32 bytes). */
void gw_sec_redact(const char *secret, char *out, size_t cap);

/* ---- the bundle, from the gateway's settings ---- */

typedef struct gw_security_s {
    gw_sec_keys_t *keys;
    gw_ratelimit_t *ratelimit;
    gw_cors_t *cors;
    gw_hostcheck_t *hosts;
    int auth_all_routes;
} gw_security_t;

/* Build every piece from settings (api_keys, auth_all_routes, rate_limit_rps/burst with
 * max_clients 0 = default, cors_origins, allowed_hosts). 0, MCP_EINVAL (a bad origin or host;
 * err says which when not NULL) or MCP_ENOMEM; on error *out is NULL. */
int gw_security_new(const gw_settings_t *settings, gw_sec_clock_fn clock, void *clock_ud,
                    gw_security_t **out, char *err, size_t err_cap);
void gw_security_free(gw_security_t *s);

#endif
