/* http_client: asynchronous HTTP/1.1 requests with libcurl's multi interface on a libuv loop.
 *
 * The structure is curl's docs/examples/multi-uv.c: CURLMOPT_SOCKETFUNCTION keeps one uv_poll_t
 * per socket curl wants watched, CURLMOPT_TIMERFUNCTION drives one uv_timer_t, every poll or
 * timer event calls curl_multi_socket_action() and then reads CURLMSG_DONE messages. Nothing
 * blocks the loop. All requests of a client share the multi handle, so connections are reused
 * from its connection cache (HTTP keep-alive).
 *
 * Lifetimes (libuv rules):
 *   - A client is created bound to a loop and ends with http_client_close(); its close callback
 *     runs once all its uv handles are closed; after that no callback of the client or of any of
 *     its requests ever runs, and the loop can be closed.
 *   - A request is created with http_request_new() and owned by the caller until
 *     http_request_start() succeeds; from then on the client owns it and frees it right after
 *     its completion callback returns. The completion callback runs exactly once for every
 *     started request: with 0 when a complete HTTP response arrived (whatever its status), or a
 *     negative code. It never runs from inside http_request_start(), http_request_cancel() or
 *     http_client_close(); it may start new requests, cancel others or close the client.
 *   - http_request_cancel() makes the request complete with MCP_ECANCELED, like uv_cancel():
 *     its callback still runs once, later, from the loop. http_client_close() cancels every
 *     request this way; their callbacks run before the close callback.
 *   - Response-head and body callbacks run from inside curl; from there, starting, cancelling
 *     and closing are deferred until curl returns, so they are safe as well.
 *
 * Results: 0; MCP_ETIMEDOUT (the request's deadline or connect timeout passed); MCP_ECANCELED;
 * UV_ECONNREFUSED and other UV_E* codes from the socket error; MCP_ENOBUFS (the response body
 * exceeded its maximum, or the response head was larger than HTTP_CLIENT_MAX_HEAD); MCP_ECLOSED
 * (the server closed the connection before a complete response); MCP_EINVAL (bad URL);
 * MCP_EPROTO (malformed HTTP, e.g. a non-HTTP reply); MCP_ENOMEM; a body or head callback's own
 * negative code; or MCP_EUPSTREAM for any other curl failure. http_request_error() gives readable
 * text (curl's error buffer when curl failed).
 *
 * Not done: redirects are not followed; proxies from the environment are ignored (only direct
 * connections); HTTP/2 is not negotiated. curl's own memory is not routed through mcp_malloc. */
#ifndef MCP_HTTP_CLIENT_H
#define MCP_HTTP_CLIENT_H

#include <uv.h>

#include <stddef.h>
#include <stdint.h>

typedef struct http_client_s http_client_t;
typedef struct http_request_s http_request_t;

/* Largest response head (status line + headers) accepted, and most header lines kept. */
#define HTTP_CLIENT_MAX_HEAD    (64u * 1024u)
#define HTTP_CLIENT_MAX_HEADERS 128

typedef struct http_client_options_s {
    long max_host_connections;   /* per host:port; extra requests wait in curl. 0 = unlimited */
    long max_total_connections;  /* 0 = unlimited */
    long max_cached_connections; /* idle connections kept for reuse; 0 = curl's default */
    size_t default_max_body;     /* body limit for accumulated bodies; 0 = 8 MiB */
    uint64_t default_connect_timeout_ms; /* 0 = 10 s */
    const char *user_agent;              /* copied; NULL = "mcp-gateway" */
} http_client_options_t;

typedef void (*http_client_close_fn)(http_client_t *client, void *userdata);

/* Called once the final response's status line and headers are in (http_request_status and
 * http_request_header work), before any body byte. Return 0 to go on or a negative code to abort:
 * the request then completes with that code. */
typedef int (*http_head_fn)(http_request_t *req, void *userdata);
/* Streaming: called with body bytes as they arrive (transfer decoding already undone). The bytes
 * are valid during the call only. Return 0 to go on or a negative code to abort the request
 * (it then completes with that code; MCP_ECANCELED is a good choice). */
typedef int (*http_body_fn)(http_request_t *req, const char *data, size_t len, void *userdata);
/* Completion; `result` as described above. `req` is freed when this returns. */
typedef void (*http_done_fn)(http_request_t *req, int result, void *userdata);

/* Initialise libcurl once per process (curl_global_init); http_client_new calls it. 0 or
 * MCP_EUPSTREAM. */
int http_client_global_init(void);
/* Release libcurl's global state (curl_global_cleanup) at program end, after every client is
 * closed. */
void http_client_global_cleanup(void);

/* Create a client on `loop`; opts may be NULL for defaults. 0, MCP_ENOMEM or MCP_EUPSTREAM. */
int http_client_new(uv_loop_t *loop, const http_client_options_t *opts, http_client_t **out);
/* Cancel every request (their callbacks run with MCP_ECANCELED), close the uv handles, then call
 * cb (may be NULL) and free the client. 0, or MCP_ESTATE when already closing. */
int http_client_close(http_client_t *client, http_client_close_fn cb, void *userdata);
/* Requests started and not yet completed (including those whose callback is still pending). */
size_t http_client_active(const http_client_t *client);

/* A request for `method` (an HTTP token: "GET", "POST", "DELETE", ...) and an http:// or
 * https:// URL (both copied). 0, MCP_EINVAL, MCP_ENOMEM or MCP_ESTATE (client closing). */
int http_request_new(http_client_t *client, const char *method, const char *url,
                     http_request_t **out);
/* Free a request that was never started (or whose start failed). */
void http_request_free(http_request_t *req);
/* Add a request header (copied). A name is an HTTP token; a value has no CR, LF or NUL.
 * An empty value removes a header curl would add by itself (e.g. "Accept"). 0, MCP_EINVAL,
 * MCP_ENOMEM or MCP_ESTATE (already started). */
int http_request_add_header(http_request_t *req, const char *name, const char *value);
/* Set the request body (copied). Without a body, POST sends an empty one. */
int http_request_set_body(http_request_t *req, const void *data, size_t len);
/* Same, taking ownership of `data` (allocated with mcp_malloc). On error the caller keeps it. */
int http_request_set_body_owned(http_request_t *req, char *data, size_t len);
/* Total-time deadline (0 = none; streams usually have none) and connect timeout (0 = the
 * client default), both in ms from the start of the transfer. */
void http_request_set_timeouts(http_request_t *req, uint64_t deadline_ms,
                               uint64_t connect_timeout_ms);
/* Maximum accumulated body size (0 = the client default). Ignored when streaming. */
void http_request_set_max_body(http_request_t *req, size_t max);
/* Stream the body through on_body instead of accumulating it; on_head may be NULL. */
void http_request_set_callbacks(http_request_t *req, http_head_fn on_head, http_body_fn on_body);
/* Hand the request to the client. 0 (done runs exactly once, later) or MCP_ESTATE (already
 * started, or the client is closing) / MCP_EINVAL (done NULL), in which case done never runs
 * and the caller still owns the request. */
int http_request_start(http_request_t *req, http_done_fn done, void *userdata);
/* Cancel a started request whose callback has not run yet: it completes with MCP_ECANCELED.
 * 0 (also when it was already cancelled), or MCP_ESTATE when it was not started or has already
 * completed otherwise (its callback then runs with its own result, or is running now). Never
 * call it after the completion callback returned: the request is freed then. */
int http_request_cancel(http_request_t *req);

/* ---- results: valid from the head callback (status, headers) until done returns ---- */

/* HTTP status of the final response; 0 before one arrived. */
int http_request_status(const http_request_t *req);
/* Value of the first response header named `name` (case-insensitive), or NULL. Folded values are
 * joined with one space; surrounding whitespace is removed. */
const char *http_request_header(const http_request_t *req, const char *name);
size_t http_request_header_count(const http_request_t *req);
/* The i-th response header in arrival order. 0 or MCP_EINVAL (i out of range). */
int http_request_header_at(const http_request_t *req, size_t i, const char **name,
                           const char **value);
/* The accumulated body (NUL-terminated; "" when none or streamed). */
const char *http_request_body(const http_request_t *req, size_t *len);
/* Take the accumulated body (release with mcp_free); the request keeps an empty one. NULL only
 * on allocation failure. */
char *http_request_take_body(http_request_t *req, size_t *len);
/* Readable text for the result ("" on success). */
const char *http_request_error(const http_request_t *req);
/* The userdata given to http_request_start. */
void *http_request_userdata(const http_request_t *req);
const char *http_request_url(const http_request_t *req);
const char *http_request_method(const http_request_t *req);
/* Microseconds from start to completion (so far, before completion). */
uint64_t http_request_elapsed_us(const http_request_t *req);

#endif
