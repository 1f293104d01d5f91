/* mcp_http_server: the MCP server transports over HTTP for mcp_server (brief 1.5 and 1.6):
 * Streamable HTTP (one endpoint, default /mcp: POST, GET, DELETE) and the legacy HTTP+SSE
 * transport (GET /sse + POST /messages?sessionId=...), mounted on an http_router next to any
 * other routes (the gateway's REST API, a mock's /health), or on a server of its own.
 *
 * ---- Streamable HTTP: what each request gets ----
 * Every request is first checked against the Host/Origin allow-list (403 with a JSON-RPC error
 * body; see config), then handed to the pre hook (below), then:
 *   POST  Accept must name both application/json and text/event-stream (wildcards count; 406
 *         otherwise), Content-Type must be application/json (415). An MCP-Protocol-Version
 *         header, when present, must be a supported version (400); any supported value is
 *         accepted on any session (absent: 2025-03-26 is assumed, which changes nothing here).
 *         Without Mcp-Session-Id the body must be an initialize request: it creates a session
 *         whose id (128 random bits as a UUID, visible ASCII) comes back in Mcp-Session-Id;
 *         anything else gets 400. An unknown or expired id gets 404 (-32001 "Session not
 *         found"). Bodies that are not JSON get 400 with the -32700 reply; a single invalid
 *         message, or a batch on a session that did not negotiate 2025-03-26, gets 400 with the
 *         -32600 reply. Notifications and responses only: 202 with no body.
 *         Requests (response policy): when every response the body produces was ready before
 *         the handler returned and nothing else (progress, logs, server->client requests) was
 *         sent for it, the answer is application/json (one object, or an array for a batch).
 *         Otherwise it is text/event-stream: a priming event (an id, `retry: <retry_ms>`
 *         and an empty data line; only for sessions that negotiated 2025-11-25 or later,
 *         whose clients skip empty events), then every message related to the request
 *         (`event: message`, one JSON text per event, each with an id) and the final
 *         response(s), then the end of the stream (one response with a Content-Length when
 *         all of it is ready at once, else a chunked stream). `always_sse` forces the stream
 *         for every request. Several POSTs of a session may be in flight at once (a tool call
 *         waits for an elicitation answer while the client POSTs the answer).
 *   GET   Accept must name text/event-stream (406). Opens the session's standalone stream for
 *         unrelated messages (list_changed, resources/updated, session-level requests and
 *         logs); one per session: a second one gets 409. With Last-Event-ID it resumes the
 *         stream that id belongs to (the standalone one or a POST stream) and first replays
 *         what was sent after that id and is still retained; a connection still attached to
 *         that stream (a client that reconnects before we noticed it left) is ended in favour
 *         of the new one. An id that names nothing known opens the standalone stream without
 *         replay.
 *   DELETE  200 and the session is closed (its calls cancelled, its streams ended); later
 *         requests with its id get 404.
 *   other methods  405 with Allow, from the router (the routes take only the methods above,
 *         so the caller may add others on the same path, e.g. OPTIONS for CORS).
 *
 * Event ids are "<stream>_<seq>": seq counts per session (so ids are unique per session) and
 * stream 0 is the standalone stream. Each stream retains its recent events (stream_max_events /
 * stream_max_bytes, and session_max_bytes for all of a session's streams together; the oldest
 * go first) for Last-Event-ID replay. Messages for the standalone stream while no GET is open
 * are queued within the same bounds (the oldest are dropped when full, with a warning) and
 * written when a GET opens. A client that disconnects a POST stream does not cancel anything
 * (2025-11-25): the calls go on, their messages are retained for a resuming GET within the
 * bounds; a POST stream that finished while nobody listened is kept for resumption (at most
 * max_resumable_streams per session, oldest dropped) until the session ends. Messages a POST
 * stream can no longer carry (sent after its final response) go to the standalone stream.
 *
 * Sessions: at most max_sessions; a new one beyond that evicts the least recently used session
 * that has no request or stream open, or else gets 503. A session with no request or stream
 * open for idle_timeout_ms expires (closed; its id then gets 404), so clients that never DELETE
 * cannot fill the table. SSE streams get a comment line after keepalive_ms of silence.
 *
 * ---- Legacy HTTP+SSE (2024-11-05) ----
 * GET <sse_path> creates a session and answers text/event-stream starting with
 * `event: endpoint` whose data is the relative URL "<messages_path>?sessionId=<id>"; every
 * server message then goes on this stream as `event: message` (no ids, no replay). POST to that
 * URL: 202 "Accepted" (text/plain); the responses arrive on the GET stream. Unknown or missing
 * sessionId: 404 / 400; Content-Type other than application/json: 415; a body that is not JSON:
 * 400 (the -32700 reply also goes on the stream). The session lives as long as the GET stream.
 *
 * ---- Fault-injection hooks (for the mock servers; nothing is looked up when unset) ----
 * Pre hook: runs for every request on the transport's paths after the Host/Origin check,
 * before any other validation, with the session the request names (or NULL). Return 0 to go on,
 * or an HTTP status (400..599) that the transport answers at once with a JSON-RPC error body
 * (404: code -32001 "Session not found"; other statuses: -32000 and the reason phrase). Headers
 * the hook adds with http_resp_header(info->req, ...) go out with that answer, e.g.
 *     http_resp_header(info->req, "Retry-After", "2"); return 503;
 * To make a session expire (its next request gets 404), call mcp_http_server_expire_session;
 * from the pre hook, also return 404 to answer the current request that way.
 * Send filter: sees each outgoing message (the JSON text and its mcp_send_info_t, before it is
 * queued) and fills an mcp_http_fault_t: pass (the default), replace the bytes (malformed JSON,
 * oversized padding), truncate after N bytes of the message and close the connection, close the
 * connection without writing, or dribble it in N-byte pieces with a delay between them. Faults
 * act on the live connection only: the retained event stays whole (with replaced bytes if
 * replaced), so a resuming client gets it intact. On a JSON answer they act on the body
 * (truncate/dribble turn it into a close-delimited body); for a batch answered as an array the
 * first fault of its messages applies to the whole array. The filter runs inside the session's
 * send: it must not call into the session or the transport (record decisions, return).
 * SSE polling (2025-11-25): mcp_http_server_end_call_stream ends the POST stream carrying a
 * call without answering it; the client reconnects with Last-Event-ID and gets the answer.
 *
 * ---- Ownership and lifetimes ----
 * The transport does not own the mcp_server_t; it creates one mcp_session_t per client session
 * and closes it when the session ends. It owns its uv timers and, in standalone mode
 * (mcp_http_server_listen), the http_server_t and router. mcp_http_server_close ends every
 * stream, closes every session and handle and then calls the callback; the transport is freed
 * right after it returns. When mounted on someone else's router, stop dispatching to the
 * transport (http_server_shutdown) no later than the loop iteration that calls
 * mcp_http_server_close; requests that still arrive before the callback get 503. Freeing the
 * mcp_server_t first is allowed too (the transport forgets those sessions). Everything runs on
 * the loop thread and allocates through alloc.h. Creating a transport sets SIGPIPE to ignored
 * (when it is at its default), so a vanished client is a write error, not a dead process. */
#ifndef MCP_HTTP_SERVER_TRANSPORT_H
#define MCP_HTTP_SERVER_TRANSPORT_H

#include "http_router.h"
#include "http_server.h"
#include "mcp_server.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct mcp_http_server_s mcp_http_server_t;

/* Largest session id text, with its NUL. */
#define MCP_HTTP_SESSION_ID_MAX 40

typedef struct mcp_http_config_s {
    const char *mcp_path;      /* Streamable HTTP endpoint; NULL = "/mcp" */
    const char *sse_path;      /* legacy stream; NULL = "/sse" */
    const char *messages_path; /* legacy POST target; NULL = "/messages" */
    int no_streamable;         /* 1: do not serve mcp_path */
    int no_legacy_sse;         /* 1: do not serve sse_path / messages_path */
    /* Accepted Host/Origin host names (no port; IPv6 in brackets), NULL-terminated; copied.
     * NULL = localhost, 127.0.0.1, [::1]. Comparison ignores case and port. A request without
     * Host passes (HTTP/1.0 clients); Origin is checked only when present ("null" fails). */
    const char *const *allowed_hosts;
    int allow_any_host;       /* 1: no Host/Origin checks (only behind an authenticating proxy) */
    int always_sse;           /* 1: answer every request POST with an SSE stream */
    size_t max_sessions;      /* 0 = 1024 */
    uint64_t idle_timeout_ms; /* session without requests or streams; 0 = 10 min */
    size_t stream_max_events; /* retained events per stream; 0 = 256 */
    size_t stream_max_bytes;  /* retained bytes per stream; 0 = 4 MiB */
    size_t session_max_bytes; /* retained bytes per session, all streams; 0 = 16 MiB */
    size_t max_message_bytes; /* largest single outgoing message; 0 = 16 MiB */
    size_t max_resumable_streams; /* finished POST streams kept for resumption; 0 = 8 */
    long retry_ms;                /* retry field of priming events; 0 = 1000; < 0 = none */
    uint64_t keepalive_ms;        /* comment on a silent SSE stream; 0 = 25 s */
} mcp_http_config_t;

/* Fill cfg with the defaults (all zero/NULL, i.e. the defaults above). */
void mcp_http_config_init(mcp_http_config_t *cfg);

/* Create a transport for `server` on `loop`; cfg may be NULL. It serves nothing until mounted
 * or listening. 0, MCP_EINVAL (a path not starting with '/', messages_path with '?') or
 * MCP_ENOMEM. */
int mcp_http_server_new(uv_loop_t *loop, mcp_server_t *server, const mcp_http_config_t *cfg,
                        mcp_http_server_t **out);
/* Add the transport's routes (mcp_path: GET, POST, DELETE; sse_path: GET; messages_path: POST)
 * to `router`, which must outlive the transport's use. `http` is the
 * server the router is attached to (may be NULL; only used by mcp_http_server_port). 0,
 * MCP_ESTATE (already mounted or listening), or the router's error. */
int mcp_http_server_mount(mcp_http_server_t *t, http_router_t *router, http_server_t *http);
/* Standalone mode: create an http_server_t (hcfg may be NULL) and a router of its own, mount,
 * and listen on host:port (port 0 picks one). Add more routes with mcp_http_server_router.
 * 0, MCP_ESTATE, MCP_ENOMEM or the listen error (then close the transport as usual). */
int mcp_http_server_listen(mcp_http_server_t *t, const char *host, int port,
                           const http_server_config_t *hcfg);
/* The router of standalone mode (NULL when mounted elsewhere). */
http_router_t *mcp_http_server_router(mcp_http_server_t *t);
/* The http_server_t given to mount or created by listen (NULL when none). */
http_server_t *mcp_http_server_http(mcp_http_server_t *t);
/* The bound port, or a negative code (no http server known, not listening). */
int mcp_http_server_port(const mcp_http_server_t *t);

typedef void (*mcp_http_closed_fn)(mcp_http_server_t *t, void *ud);
/* Close: every stream is ended, every session closed (calls cancelled), the timers closed and,
 * in standalone mode, the http server shut down; then cb runs (from the loop) and the
 * transport is freed. Safe from inside handlers and hooks (the work is deferred to the loop).
 * 0, or MCP_ESTATE when already closing (cb will not run). */
int mcp_http_server_close(mcp_http_server_t *t, mcp_http_closed_fn cb, void *ud);

/* ---- introspection ---- */

typedef struct mcp_http_stats_s {
    size_t sessions;        /* open now (both transports) */
    size_t legacy_sessions; /* of which legacy HTTP+SSE */
    size_t live_streams;    /* SSE responses open now */
    uint64_t sessions_created, sessions_expired, sessions_deleted, sessions_evicted;
    uint64_t posts, gets, deletes;
    uint64_t rejected;        /* requests answered with 4xx/5xx by the transport or pre hook */
    uint64_t events_sent;     /* SSE message events written (replays included) */
    uint64_t events_replayed; /* of which replays after Last-Event-ID */
    uint64_t events_dropped;  /* undelivered events evicted by the bounds */
} mcp_http_stats_t;

size_t mcp_http_server_session_count(const mcp_http_server_t *t);
void mcp_http_server_get_stats(const mcp_http_server_t *t, mcp_http_stats_t *out);
/* The id of one of the transport's sessions (owned by the transport, valid while the session
 * lives), or NULL when `session` is not one of them. */
const char *mcp_http_server_session_id(const mcp_http_server_t *t, const mcp_session_t *session);
/* The live session with this id, or NULL. */
mcp_session_t *mcp_http_server_find_session(const mcp_http_server_t *t, const char *id);

/* ---- hooks ---- */

typedef enum {
    MCP_HTTP_REQ_POST = 1, /* Streamable HTTP */
    MCP_HTTP_REQ_GET,
    MCP_HTTP_REQ_DELETE,
    MCP_HTTP_REQ_SSE_GET,  /* legacy stream */
    MCP_HTTP_REQ_SSE_POST, /* legacy message */
} mcp_http_req_kind_t;

typedef struct mcp_http_pre_info_s {
    http_req_t *req; /* headers, query and body are readable; headers may be added */
    mcp_http_req_kind_t kind;
    const char *session_id; /* as sent (header or query), NULL when absent */
    mcp_session_t *session; /* the live session it names, or NULL */
} mcp_http_pre_info_t;

/* 0 to go on, or an HTTP status in 400..599 to answer with (see the top of this file). */
typedef int (*mcp_http_pre_fn)(const mcp_http_pre_info_t *info, void *ud);
/* Install (fn NULL: remove) the pre hook. */
void mcp_http_server_set_pre_hook(mcp_http_server_t *t, mcp_http_pre_fn fn, void *ud);

typedef enum {
    MCP_HTTP_SEND_PASS = 0, /* write it (with `replace` bytes when set) */
    MCP_HTTP_SEND_TRUNCATE, /* write the first `bytes` bytes of the message, close the connection */
    MCP_HTTP_SEND_CLOSE,    /* close the connection without writing it */
    MCP_HTTP_SEND_DRIBBLE,  /* write it in `chunk_bytes` pieces, `delay_ms` apart */
} mcp_http_send_action_t;

typedef struct mcp_http_fault_s {
    mcp_http_send_action_t action; /* PASS when the filter leaves it */
    /* Replacement message bytes (allocated with mcp_malloc; the transport takes them, also on
     * error) used instead of the original with any action; NULL = the original. */
    char *replace;
    size_t replace_len;
    size_t bytes;       /* TRUNCATE: message bytes to write (may be 0) */
    size_t chunk_bytes; /* DRIBBLE: piece size; 0 = 16 */
    uint64_t delay_ms;  /* DRIBBLE: pause between pieces */
} mcp_http_fault_t;

/* `fault` arrives zeroed (pass). session is the sending session; json/len the message. */
typedef void (*mcp_http_send_filter_fn)(mcp_session_t *session, const char *json, size_t len,
                                        const mcp_send_info_t *info, mcp_http_fault_t *fault,
                                        void *ud);
/* Install (fn NULL: remove) the send filter. */
void mcp_http_server_set_send_filter(mcp_http_server_t *t, mcp_http_send_filter_fn fn, void *ud);

/* Expire a session: it is closed (deferred to the loop, so safe from hooks and handlers) and
 * from now on its id gets 404. 0, or MCP_ENOTFOUND when it is not one of the transport's. */
int mcp_http_server_expire_session(mcp_http_server_t *t, mcp_session_t *session);
/* SSE polling: end the POST stream that carries `call` (gracefully, after what is queued)
 * without answering; the call goes on and its messages are retained for a GET with
 * Last-Event-ID. From inside the handler that received the call, the answer becomes an SSE
 * stream that ends right after the priming event. 0, MCP_ESTATE (call finished), MCP_ENOTFOUND
 * (no open stream carries it, e.g. legacy sessions or the client already left). */
int mcp_http_server_end_call_stream(mcp_http_server_t *t, mcp_call_t *call);

#endif
