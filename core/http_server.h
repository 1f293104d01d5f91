/* http_server: an HTTP/1.1 server on libuv and libhttp-parser 2.9, for the MCP Streamable HTTP
 * transport (long-lived SSE responses) and the gateway's REST API (many short keep-alive requests).
 *
 * Model. A server accepts connections on one or more listeners and parses requests with
 * http_parser callbacks. Every complete request is handed to one handler (usually
 * http_router_handle, see http_router.h), which answers at once or later: the handler owns the
 * request from the call until it calls exactly one finishing function (http_respond,
 * http_stream_end or http_req_abort); afterwards the request pointer is invalid.
 *
 * Pipelining: requests on a connection are dispatched as soon as they are parsed, so several may
 * be in flight at once, but responses always go out in request order: output of a request that is
 * not the oldest unanswered one is buffered (counted against the output limit) until every earlier
 * response is complete. At most `max_pipeline` requests are in flight per connection; beyond that
 * the connection stops reading until one finishes.
 *
 * Client gone: end of input (EOF), a reset or a write error closes the connection. Requests whose
 * handler has not finished are then detached: their on_close callback runs (from the event loop,
 * never from inside a call into this module), every later response call returns MCP_ECLOSED, and
 * the handler must still finish the request to release it. Because EOF closes at once, a client
 * that half-closes its side gets no answer to a request still being handled.
 *
 * Limits (http_server_config_t, 0 = default): header bytes (431; 414 for the request line), header
 * count (431), body bytes (413, checked against Content-Length before reading and while reading a
 * chunked body), header timeout (from the first byte to the end of the headers, 408), body
 * timeout (maximum silence while a body arrives, 408), idle keep-alive timeout (close), per
 * connection output limit, concurrent connections (further connections wait in the listen backlog).
 * Malformed input gets 400. After any error response the connection closes: the output side is
 * shut down and input is read and dropped for a short time first, so the client sees the answer
 * rather than a reset.
 *
 * Memory: one read buffer per server; request objects (header arena, body, output buffers) are
 * recycled through a free list, so a keep-alive request costs no allocation once warm. Small
 * responses go out in one writev (uv_try_write of head + body) without copying; only what the
 * kernel does not take is copied.
 *
 * Threading: everything runs on the loop thread. Nothing here is thread-safe. */
#ifndef MCP_HTTP_SERVER_H
#define MCP_HTTP_SERVER_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_server_s http_server_t;
typedef struct http_req_s http_req_t;

/* Request handler. The request belongs to the handler until it finishes it (see above). */
typedef void (*http_handler_fn)(http_req_t *req, void *userdata);
/* Per-request event (drained, client gone). */
typedef void (*http_req_event_fn)(http_req_t *req, void *userdata);
/* Shutdown finished: every handle is closed; the server may be freed from inside the callback. */
typedef void (*http_server_closed_fn)(http_server_t *srv, void *userdata);

typedef struct http_server_config_s {
    size_t max_header_bytes;    /* request line + header fields + values; default 16 KiB */
    size_t max_headers;         /* default 100 */
    size_t max_body_bytes;      /* default 1 MiB */
    size_t max_output_bytes;    /* per connection, unsent response bytes; default 1 MiB */
    size_t stream_high_water;   /* stream writes above this arm the drain callback; 64 KiB */
    unsigned max_pipeline;      /* requests in flight per connection; default 16 */
    unsigned max_connections;   /* default 1024 */
    uint64_t header_timeout_ms; /* default 10 s */
    uint64_t body_timeout_ms;   /* default 30 s */
    uint64_t idle_timeout_ms;   /* keep-alive connection without a request; default 60 s */
    uint64_t linger_ms;         /* draining input before closing after an error; default 2 s */
    int backlog;                /* listen backlog; default 511 */
} http_server_config_t;

typedef struct http_server_stats_s {
    uint64_t accepted;        /* connections accepted */
    uint64_t requests;        /* requests dispatched to the handler */
    uint64_t bad_requests;    /* requests answered with a 4xx by the server itself */
    uint64_t timeouts;        /* 408s sent */
    uint64_t accept_deferred; /* times max_connections made a connection wait */
    size_t connections;       /* open now */
} http_server_stats_t;

/* Fill cfg with the defaults. */
void http_server_config_init(http_server_config_t *cfg);

/* Create a server on `loop` (not listening yet). cfg may be NULL (defaults); zero fields take
 * their default. handler must not be NULL. 0 and *out set, MCP_EINVAL or MCP_ENOMEM. */
int http_server_new(uv_loop_t *loop, const http_server_config_t *cfg, http_handler_fn handler,
                    void *userdata, http_server_t **out);
/* Replace the handler for requests dispatched from now on. */
void http_server_set_handler(http_server_t *srv, http_handler_fn handler, void *userdata);
/* Listen on an IPv4 or IPv6 literal ("127.0.0.1", "::1", "[::1]"); port 0 picks a free port. Up to
 * 4 listeners. 0, MCP_EINVAL (not a literal, bad port), MCP_ESTATE (shutting down), MCP_ENOBUFS or
 * a UV_E* code from bind/listen. After any listen attempt the server must be shut down. */
int http_server_listen(http_server_t *srv, const char *host, int port);
/* The port the first listener is bound to, or a negative code when not listening. */
int http_server_port(const http_server_t *srv);
void http_server_get_stats(const http_server_t *srv, http_server_stats_t *out);

/* Graceful shutdown: close the listeners, close idle connections now, let requests in flight
 * finish (their responses carry Connection: close) for up to grace_ms, then close whatever is
 * left (handlers see on_close). cb runs once every handle of the server is closed, always from the
 * event loop. grace_ms 0 closes everything at once. 0, or MCP_ESTATE when already shutting down
 * (cb will not run). */
int http_server_shutdown(http_server_t *srv, uint64_t grace_ms, http_server_closed_fn cb,
                         void *userdata);
/* Free the server: after the shutdown callback ran, or when no listen was ever attempted.
 * Requests still held by handlers stay valid (detached). NULL is a no-op. */
void http_server_free(http_server_t *srv);

/* Drive one in-memory connection without sockets (fuzzing, tests): `data` is parsed, routed and
 * answered exactly as if it arrived on a socket in pieces of `split` bytes (0: one piece), then
 * the input ends. Response bytes are appended to `out` (truncated at its maximum). Handlers run
 * synchronously; requests they have not finished when the input ends are detached as on a
 * disconnect. Timeouts do not apply. 0, MCP_ESTATE while shutting down, MCP_ENOMEM. */
int http_server_feed(http_server_t *srv, const void *data, size_t len, size_t split, buf_t *out);

/* ---- request accessors: valid while the caller owns the request; strings are NUL-terminated
 * and owned by the request ---- */

/* enum http_method from <http_parser.h>, and its name ("GET"). */
int http_req_method(const http_req_t *req);
const char *http_req_method_str(const http_req_t *req);
/* HTTP version as 10 * major + minor (10, 11). */
int http_req_version(const http_req_t *req);
/* The request target as sent ("/a/b?x=1"). */
const char *http_req_target(const http_req_t *req);
/* The path part, still percent-encoded ("/a/b"; "*" for OPTIONS *). */
const char *http_req_path(const http_req_t *req);
/* The raw query after '?' ("" when none). */
const char *http_req_query(const http_req_t *req);
/* First value of query parameter `name` (exact name match), percent- and '+'-decoded; "" for a
 * name without '='; NULL when absent. */
const char *http_req_query_param(http_req_t *req, const char *name);
/* First value of header `name` (case-insensitive), NULL when absent. */
const char *http_req_header(const http_req_t *req, const char *name);
/* The n-th (0-based) value of a repeated header, NULL when there are fewer. */
const char *http_req_header_nth(const http_req_t *req, const char *name, size_t n);
size_t http_req_header_count(const http_req_t *req);
/* Header i in arrival order; 0 or MCP_EINVAL when i is out of range. */
int http_req_header_at(const http_req_t *req, size_t i, const char **name, const char **value);
/* The body (decoded from chunked), NUL-terminated; *len may be NULL. "" when there is none. */
const char *http_req_body(const http_req_t *req, size_t *len);
/* A route parameter set by the router, percent-decoded; NULL when absent. */
const char *http_req_param(const http_req_t *req, const char *name);
/* The peer as "ip:port" ("[::1]:port" for IPv6) and as a socket address (NULL in-memory). */
const char *http_req_remote_addr(const http_req_t *req);
const struct sockaddr *http_req_peer(const http_req_t *req);
/* Request id for logs: unique per server, e.g. "r42". */
uint64_t http_req_id(const http_req_t *req);
const char *http_req_id_str(http_req_t *req);
void http_req_set_userdata(http_req_t *req, void *userdata);
void *http_req_userdata(const http_req_t *req);
/* Non-zero once the client went away (responses will return MCP_ECLOSED). */
int http_req_closed(const http_req_t *req);

/* For routers: set route parameter `name` (the string must outlive the request's handling; route
 * patterns do) to the percent-decoding of raw[0..len) ('+' is kept). 0, MCP_EPARSE (bad escape or
 * an encoded NUL), MCP_ENOBUFS (more than 8 parameters), MCP_ENOMEM. raw may point into the
 * request's own strings. */
int http_req_set_param(http_req_t *req, const char *name, const char *raw, size_t len);
void http_req_clear_params(http_req_t *req);

/* Percent-decode in[0..len) into out (at least len + 1 bytes; NUL-terminated); plus_space turns
 * '+' into ' '. strict: a bad escape or %00 fails with MCP_EPARSE; otherwise bad escapes are
 * copied as they are. Returns the decoded length or MCP_EPARSE. */
int http_server_pct_decode(const char *in, size_t len, char *out, int plus_space, int strict);

/* ---- responses ---- */

/* Add a response header for the coming http_respond or http_stream_start. Names must be tokens,
 * values must not contain CR, LF or NUL; Content-Length, Transfer-Encoding, Connection and Date
 * are the server's (MCP_EINVAL). 0, MCP_EINVAL, MCP_ENOBUFS (16 KiB of extra headers), MCP_ENOMEM,
 * MCP_ESTATE (response already started). */
int http_resp_header(http_req_t *req, const char *name, const char *value);
/* Ask for the connection to be closed after this response. */
void http_resp_close(http_req_t *req);

/* Send a complete response and finish the request. body (len bytes; may be NULL when len is 0)
 * is copied only when the kernel does not take it at once; the caller keeps it. content_type may
 * be NULL (no Content-Type). Date, Content-Length (not for 1xx/204/304) and Connection are added.
 * HEAD requests get the headers only. Returns 0 or MCP_ECLOSED (client gone; the request is
 * finished all the same). MCP_EINVAL (status outside 200..999) and MCP_ESTATE (already started)
 * leave the request with the caller. */
int http_respond(http_req_t *req, int status, const char *content_type, const void *body,
                 size_t len);

/* Stream framing: chunked by default (HTTP/1.1); close-delimited (no Content-Length, the
 * connection closes at the end) with this flag or for HTTP/1.0 clients. */
#define HTTP_STREAM_CLOSE_DELIMITED 1u

/* Send status and headers of a streamed response (e.g. text/event-stream). The request stays with
 * the caller until http_stream_end or http_req_abort. 0, MCP_ECLOSED (still owned: end it),
 * MCP_EINVAL, MCP_ESTATE. */
int http_stream_start(http_req_t *req, int status, const char *content_type, unsigned flags);
/* Queue data (copied). Returns the bytes now queued on the connection and not yet taken by the
 * kernel (>= 0); above `stream_high_water` the drain callback is armed and the producer should
 * pause. MCP_ENOBUFS: nothing was queued because the connection's output limit would be exceeded
 * (drain callback armed); a write made while nothing is queued is always accepted. MCP_ECLOSED,
 * MCP_ESTATE (not streaming), MCP_ENOMEM. */
int http_stream_write(http_req_t *req, const void *data, size_t len);
/* Bytes queued on the request's connection (0 when gone). */
size_t http_stream_queued(const http_req_t *req);
/* Finish a streamed response (last chunk, or close for close-delimited) and the request.
 * 0 or MCP_ECLOSED (finished all the same); MCP_ESTATE when not streaming (still owned). */
int http_stream_end(http_req_t *req);
/* Finish the request by closing its connection at once (e.g. an upstream failed mid-stream). */
void http_req_abort(http_req_t *req);

/* Called once, from the event loop, when the output queued on the connection is fully handed to
 * the kernel after a write armed it. NULL clears. */
void http_req_on_drain(http_req_t *req, http_req_event_fn cb, void *userdata);
/* Called once when the client goes away (or a forced shutdown closes the connection) while the
 * handler still owns the request. The handler must still finish it (calls return MCP_ECLOSED);
 * it may do so inside the callback. NULL clears. */
void http_req_on_close(http_req_t *req, http_req_event_fn cb, void *userdata);

#endif
