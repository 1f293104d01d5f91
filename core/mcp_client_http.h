/* mcp_client_http: the HTTP transports of mcp_client (brief 1.4-1.6): Streamable HTTP, the legacy
 * HTTP+SSE transport, and "auto" (try Streamable HTTP, fall back to legacy).
 *
 * Streamable HTTP. Every message is its own POST to the endpoint with `Accept: application/json,
 * text/event-stream`, `Content-Type: application/json`, the Mcp-Session-Id once the server gave
 * one (from the response to initialize, or any 2xx POST response while none is known),
 * `MCP-Protocol-Version` once a version of 2025-06-18 or later was negotiated, and the configured
 * extra headers (whose values are never logged). Several POSTs run at once (one connection each,
 * reused by libcurl). A response body is either JSON (one message or a batch, delivered when
 * complete) or an SSE stream parsed incrementally, so progress, log messages and server->client
 * requests reach the session before the response (a 2xx body that is not SSE is read as JSON
 * whatever its label; 202 and 204 carry none). A notification or response is answered with 202; any
 * other 2xx is tolerated and its body ignored (the conformance `initialize` mock answers 200
 * {"result":{}}); messages that match no request are left to mcp_client, which ignores them.
 * Failures of a request's POST reach the session as mcp_client_on_send_failed: the connection error
 * (UV_ECONNREFUSED...), MCP_EHTTP for an HTTP error status (logged with the status and the start of
 * the body), or, when the error body is a JSON-RPC error for that request, that error is delivered
 * as the response (the request completes with MCP_EUPSTREAM and the server's message). A 404 to a
 * message that carried the session id is mcp_client_on_session_expired: the session
 * re-initializes (ops->reset_session forgets the session id and version) and resends once.
 *
 * After initialize (once the POST of notifications/initialized succeeded) a standalone GET
 * stream is opened for server-initiated messages; 405, 400, 404 or any other failure mean "no
 * stream" and are only logged at debug level. SSE resumption (2025-11-25): when a POST's SSE
 * stream (or a resumed one) ends without the response, after an event id was seen, the
 * transport waits the server's `retry` time (default_retry_ms when none was given) and GETs the
 * endpoint with `Last-Event-ID`; the response arriving there is delivered (matched by id, by
 * mcp_client) and that GET is then closed. A standalone GET that ends is reopened the same way.
 * Reconnection attempts that bring no event at all are limited to max_reconnects in a row; then
 * the request fails with MCP_ECLOSED. A stream that ends without the response and without any
 * event id fails its request with MCP_ECLOSED at once.
 *
 * Deadlines belong to the session: request POSTs have no HTTP deadline of their own. When the
 * session gives up on a request (deadline, mcp_client_cancel) it sends notifications/cancelled;
 * the transport then aborts that request's POST stream or resumption. Only POSTs of
 * notifications and responses (notify_timeout_ms) and the closing DELETE (close_timeout_ms) have
 * HTTP deadlines, since nothing in the session waits for them.
 *
 * Legacy HTTP+SSE (2024-11-05). The transport GETs the SSE URL at start, waits for the
 * `endpoint` event, resolves its data against the SSE URL and refuses an endpoint of another
 * origin (scheme, host and port; the transport then closes with MCP_EDENIED). Every message is
 * POSTed there (2xx expected, body ignored); all server messages arrive as `message` events on
 * the GET stream. Messages sent before the endpoint is known wait in a bounded queue. The end of
 * the GET stream closes the transport (MCP_ECLOSED, or the error that kept it from opening).
 *
 * Auto. The first message (initialize) is POSTed as Streamable HTTP; a 400, 404 or 405 answer
 * switches to the legacy transport on the same URL and sends that message again through it
 * (brief 1.5.8). Messages sent meanwhile wait in the queue.
 *
 * Close (ops->close): a Streamable HTTP session is ended with DELETE (any answer, 405 included,
 * is fine), every stream and pending reconnection is cancelled, and the transport reports closed
 * once every HTTP request has completed (and its own http_client, if any, is closed).
 *
 * Bounds: one SSE event or JSON body at most max_message bytes (larger fails that request with
 * MCP_ENOBUFS), max_queued waiting messages and max_inflight HTTP requests (send then fails with
 * MCP_ENOBUFS).
 *
 * Ownership: the transport belongs to the client it is attached to and frees itself after it
 * reported closed. A shared http_client given in the options must outlive the transport. */
#ifndef MCP_CLIENT_HTTP_H
#define MCP_CLIENT_HTTP_H

#include "http_client.h"
#include "mcp_client.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MCP_HTTP_STREAMABLE = 0, /* Streamable HTTP (type "http" / "streamable-http") */
    MCP_HTTP_SSE,            /* legacy HTTP+SSE (type "sse") */
    MCP_HTTP_AUTO,           /* Streamable HTTP, falling back to legacy on 400/404/405 */
} mcp_client_http_mode_t;

typedef struct mcp_client_http_header_s {
    const char *name;  /* an HTTP token; not one the transport sets itself (see below) */
    const char *value; /* no CR, LF or NUL; never logged */
} mcp_client_http_header_t;

typedef struct mcp_client_http_options_s {
    const char *url; /* the MCP endpoint, or the SSE URL (legacy); http:// or https:// */
    mcp_client_http_mode_t mode;
    /* Extra request headers (e.g. Authorization), copied. Accept, Content-Type, Content-Length,
     * Host, Transfer-Encoding, Mcp-Session-Id, MCP-Protocol-Version and Last-Event-ID are the
     * transport's own and are refused (MCP_EINVAL). */
    const mcp_client_http_header_t *headers;
    size_t nheaders;
    /* A client shared with other transports (connection reuse), not owned; NULL: the transport
     * creates and closes its own. */
    http_client_t *http;
    size_t max_message;          /* one SSE event or JSON body; default 16 MiB */
    size_t max_queued;           /* messages waiting for the endpoint / the auto probe; 1024 */
    size_t max_inflight;         /* HTTP requests at once; default 4096 */
    uint64_t connect_timeout_ms; /* 0: the http_client's default */
    uint64_t notify_timeout_ms;  /* POSTs of notifications and responses; default 30000 */
    uint64_t close_timeout_ms;   /* the closing DELETE; default 2000 */
    uint64_t default_retry_ms;   /* reconnection delay when the server sent no retry; 1000 */
    unsigned max_reconnects;     /* reconnections in a row that bring no event; default 3 */
    int no_standalone_stream;    /* 1: never open the standalone GET stream */
    /* Optional: each time a standalone GET is answered, status 0 when the stream is open, else
     * why there is none (MCP_EHTTP for a refusal such as 405, or the connection error). Servers
     * send requests not tied to a call (e.g. the SDK's server.request) there, so an owner may
     * wait for this before its first calls. Runs on the loop; may use the client. */
    void (*on_standalone)(mcp_client_t *client, int status, void *userdata);
    void *userdata;
} mcp_client_http_options_t;

/* Counters, for tests and metrics. */
typedef struct mcp_client_http_stats_s {
    uint64_t posts;       /* POST requests started */
    uint64_t gets;        /* GET requests started (standalone, resumption, legacy) */
    uint64_t resumes;     /* GETs carrying Last-Event-ID */
    uint64_t deletes;     /* DELETE requests started */
    uint64_t http_errors; /* responses with an unexpected status */
    uint64_t expired;     /* 404s reported as session expiry */
    uint64_t fallbacks;   /* auto mode switched to legacy */
} mcp_client_http_stats_t;

/* Create the transport and attach it to `client` (which must have none). For MCP_HTTP_SSE the
 * GET starts now; otherwise nothing is sent until the first message. 0, MCP_EINVAL (bad URL,
 * mode or header), MCP_ESTATE (the client has a transport or is closing), MCP_ENOMEM, or an
 * http_client error; on error nothing is attached and nothing was sent. */
int mcp_client_http_start(mcp_client_t *client, const mcp_client_http_options_t *opts);

/* The transport in use (MCP_HTTP_STREAMABLE or MCP_HTTP_SSE; MCP_HTTP_AUTO while the first POST
 * has not decided), or MCP_EINVAL when the client's transport is not an HTTP one. */
int mcp_client_http_mode(const mcp_client_t *client);
/* The current Mcp-Session-Id (owned by the transport, valid until the next loop callback), or
 * NULL when there is none or the transport is not an HTTP one. */
const char *mcp_client_http_session_id(const mcp_client_t *client);
/* 0 and *out filled, or MCP_EINVAL when the client's transport is not an HTTP one. */
int mcp_client_http_get_stats(const mcp_client_t *client, mcp_client_http_stats_t *out);

#endif
