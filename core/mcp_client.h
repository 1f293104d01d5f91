/* mcp_client: the client side of one MCP session, independent of the transport.
 *
 * The session sends `initialize` (our latest protocol version, our clientInfo, and the client
 * capabilities sampling / elicitation / roots only when the owner installed a handler for them),
 * accepts any supported version not newer than the one asked (2024-11-05 servers are common),
 * sends notifications/initialized and keeps the server's info, capabilities and instructions.
 * Requests are correlated by id (our ids are integers 1, 2, ...) and each has its own deadline;
 * progress notifications are routed to the request whose progressToken they carry (the token is
 * the request id, as the TypeScript SDK does). Requests issued before the session is ready are
 * held and sent, in order, once initialize succeeded.
 *
 * Transports (stdio, Streamable HTTP, legacy SSE) plug in through mcp_client_transport_t below: the
 * client calls ops->send with one compact JSON-RPC message (never containing a newline) and
 * ops->close once; the transport calls back with mcp_client_on_message for each message it
 * received, mcp_client_on_send_failed when a request could not be delivered (HTTP error status,
 * connection refused), mcp_client_on_session_expired when the server forgot the session (HTTP
 * 404 with a session id: the client re-runs initialize after ops->reset_session, with the
 * deadline given to mcp_client_initialize, and then sends the same request text with the same
 * id again, once; other requests report their own expiry), and mcp_client_on_transport_closed
 * exactly once when it can carry nothing more, either by itself (child exited, stream ended:
 * pending requests fail with MCP_ECLOSED) or because ops->close finished. After that call neither
 * side touches the other again and the transport releases itself.
 *
 * Callback rules (the project's libuv rules):
 * - A request's callback runs exactly once for every request that mcp_client_request accepted:
 *   with the response, or with an error. It never runs from inside mcp_client_request,
 *   mcp_client_cancel or mcp_client_close; those completions are delivered from the loop.
 * - mcp_client_cancel is like uv_cancel / http_request_cancel: the callback still runs, later,
 *   with MCP_ECANCELED, and notifications/cancelled goes to the server when the request had
 *   been sent. A late response is ignored. Deadline expiry does the same with MCP_ETIMEDOUT.
 * - mcp_client_close fails everything still pending with MCP_ECANCELED, closes the transport
 *   gracefully, runs the close callback when all is done and then frees the client.
 * - Callbacks may issue requests, cancel, reply, or close the client.
 *
 * Ownership: cJSON params given to the client are taken (also on failure). The response handed
 * to a request callback belongs to the client; the callback may take it with jsonrpc_msg_move.
 * A request handle is valid until its callback returns. An incoming server->client request
 * (mcp_client_incoming_t) belongs to the handler until it replies (reply frees it), even if
 * the client is closed meanwhile (the reply is then dropped).
 *
 * Single-threaded: use a client on its loop's thread only. */
#ifndef MCP_CLIENT_H
#define MCP_CLIENT_H

#include "jsonrpc.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct mcp_client_s mcp_client_t;
typedef struct mcp_client_req_s mcp_client_req_t;
typedef struct mcp_client_incoming_s mcp_client_incoming_t;
typedef struct mcp_client_transport_s mcp_client_transport_t;

/* ---- transport interface ---- */

typedef struct mcp_client_transport_ops_s {
    /* Send one message: `json` (len bytes, compact, no newline) is valid during the call only.
     * `request_id` is the id when the message is one of our requests (so a later delivery
     * failure can name it), NULL for notifications and responses. 0 or a negative code (the
     * request then fails with it). Must not call back into the client: report a failure by
     * the return value now, or with mcp_client_on_send_failed / on_transport_closed later. */
    int (*send)(mcp_client_transport_t *t, const char *json, size_t len,
                const jsonrpc_id_t *request_id);
    /* Begin a graceful close. Must end in mcp_client_on_transport_closed (later, from the loop,
     * or at once). Called at most once, and never after the transport reported closed. */
    void (*close)(mcp_client_transport_t *t);
    /* Optional (NULL): the negotiated version, for transports that must send it on every
     * request (Streamable HTTP's MCP-Protocol-Version). The string is static. */
    void (*set_protocol_version)(mcp_client_transport_t *t, const char *version);
    /* Optional (NULL): forget the session (Streamable HTTP's Mcp-Session-Id) before the client
     * re-initializes after mcp_client_on_session_expired. */
    void (*reset_session)(mcp_client_transport_t *t);
} mcp_client_transport_ops_t;

/* Embed as the first member of a transport's own struct. */
struct mcp_client_transport_s {
    const mcp_client_transport_ops_t *ops;
    mcp_client_t *client; /* set by mcp_client_attach_transport */
    const char *kind;     /* "stdio", "http", "sse" (static), for logs */
};

/* Attach a transport (the transport's constructor does this). 0, MCP_EINVAL, or MCP_ESTATE
 * when the client already has one or is closing. */
int mcp_client_attach_transport(mcp_client_t *client, mcp_client_transport_t *t);
/* The attached transport, or NULL (none yet, or it reported closed). */
mcp_client_transport_t *mcp_client_transport(const mcp_client_t *client);
/* One received message (or batch) of JSON text; the bytes are valid during the call. */
void mcp_client_on_message(mcp_client_t *client, const char *data, size_t len);
/* The request with this id could not be delivered; it fails with err (e.g. MCP_EHTTP). */
void mcp_client_on_send_failed(mcp_client_t *client, const jsonrpc_id_t *request_id, int err);
/* The server does not know our session any more; request_id (NULL for a notification) was not
 * processed. The client re-initializes and resends that request once. */
void mcp_client_on_session_expired(mcp_client_t *client, const jsonrpc_id_t *request_id);
/* The transport is gone; reason 0 after ops->close, else why (MCP_ECLOSED, MCP_ECHILD, ...). */
void mcp_client_on_transport_closed(mcp_client_t *client, int reason);

/* ---- callbacks ---- */

/* A request finished. status 0: `response` is the result (response->result). MCP_EUPSTREAM: the
 * server answered a JSON-RPC error (response->error_code/error_message/error_data). Otherwise
 * response is NULL: MCP_ETIMEDOUT, MCP_ECANCELED, MCP_ECLOSED, MCP_ENOMEM or a transport code. */
typedef void (*mcp_client_result_fn)(mcp_client_req_t *req, int status, jsonrpc_msg_t *response,
                                     void *ud);
/* notifications/progress for the request. total is negative when absent; message may be NULL;
 * params is the whole notification params (for relaying). */
typedef void (*mcp_client_progress_fn)(mcp_client_req_t *req, double progress, double total,
                                       const char *message, const cJSON *params, void *ud);
/* initialize finished: 0 (ready), MCP_EUNSUPPORTED (the server's version is not acceptable),
 * MCP_EUPSTREAM (error response), MCP_EPROTO (malformed result), or a request error. Details
 * in mcp_client_error_message. */
typedef void (*mcp_client_init_fn)(mcp_client_t *client, int status, void *ud);
/* A server->client request (sampling/createMessage, elicitation/create, roots/list). Answer
 * with mcp_client_reply or mcp_client_reply_error, now or later. */
typedef void (*mcp_client_handler_fn)(mcp_client_t *client, mcp_client_incoming_t *in,
                                      const char *method, const cJSON *params, void *ud);
/* Any notification other than progress (list_changed, message, resources/updated, cancelled
 * for an incoming request...). params may be NULL. */
typedef void (*mcp_client_notify_fn)(mcp_client_t *client, const char *method, const cJSON *params,
                                     void *ud);
/* The transport closed by itself (reason as in mcp_client_on_transport_closed). The owner
 * still calls mcp_client_close. */
typedef void (*mcp_client_closed_fn)(mcp_client_t *client, int reason, void *ud);
typedef void (*mcp_client_close_fn)(mcp_client_t *client, void *ud);

typedef struct mcp_client_options_s {
    const char *name;                     /* for logs, e.g. the upstream name; copied */
    const char *client_name;              /* clientInfo.name; default "mcp-gateway" */
    const char *client_version;           /* clientInfo.version; default "0.1.0" */
    const char *client_title;             /* clientInfo.title; optional */
    const char *protocol_version;         /* asked in initialize; default MCP_PROTOCOL_LATEST */
    mcp_client_handler_fn on_sampling;    /* declares capability `sampling` */
    mcp_client_handler_fn on_elicitation; /* declares `elicitation` */
    mcp_client_handler_fn on_roots;       /* declares `roots` */
    int roots_list_changed;               /* roots.listChanged: true */
    mcp_client_notify_fn on_notification;
    mcp_client_closed_fn on_closed;
    size_t max_pending; /* requests held or in flight; default 4096; more -> MCP_ENOBUFS */
    void *userdata;     /* passed to the client-level callbacks above */
} mcp_client_options_t;

/* Per-request options for mcp_client_request_ex. */
typedef struct mcp_client_call_s {
    const char *method;   /* copied */
    cJSON *params;        /* object or NULL; taken */
    uint64_t deadline_ms; /* 0: none */
    /* With progress: each notifications/progress pushes the deadline to now + deadline_ms, but
     * never past max_deadline_ms after the start (0: no reset). */
    uint64_t max_deadline_ms;
    mcp_client_result_fn cb;
    mcp_client_progress_fn on_progress; /* non-NULL adds params._meta.progressToken */
    void *ud;
} mcp_client_call_t;

/* ---- lifecycle ---- */

/* A new client on `loop` (no transport yet). 0, MCP_EINVAL or MCP_ENOMEM. */
int mcp_client_new(uv_loop_t *loop, const mcp_client_options_t *opts, mcp_client_t **out);
/* Send initialize; cb runs once (never from inside this call). 0, MCP_ESTATE (no transport,
 * already initialized/initializing, closing), or an allocation/send error (cb never runs). */
int mcp_client_initialize(mcp_client_t *client, uint64_t deadline_ms, mcp_client_init_fn cb,
                          void *ud);
/* Close (see above). cb may be NULL. 0, or MCP_ESTATE when already closing. */
int mcp_client_close(mcp_client_t *client, mcp_client_close_fn cb, void *ud);

/* ---- requests ---- */

/* Send a request. 0 and *out (may be NULL) set, or: MCP_EINVAL, MCP_ECLOSED (transport gone),
 * MCP_ESTATE (closing, or initialize failed), MCP_ENOBUFS (max_pending), MCP_ENOMEM, or the
 * transport's send error; then cb never runs. params are taken in every case. */
int mcp_client_request(mcp_client_t *client, const char *method, cJSON *params,
                       uint64_t deadline_ms, mcp_client_result_fn cb, void *ud,
                       mcp_client_req_t **out);
int mcp_client_request_ex(mcp_client_t *client, const mcp_client_call_t *call,
                          mcp_client_req_t **out);
/* Cancel (see above); reason may be NULL. 0, or MCP_ESTATE when the request already completed
 * (its callback has run or is queued) or is the initialize request. */
int mcp_client_cancel(mcp_client_req_t *req, const char *reason);
/* Our id of the request (also its progress token). */
int64_t mcp_client_req_id(const mcp_client_req_t *req);
const char *mcp_client_req_method(const mcp_client_req_t *req);
mcp_client_t *mcp_client_req_client(const mcp_client_req_t *req);

/* Send a notification (e.g. notifications/roots/list_changed). params taken. 0 or an error. */
int mcp_client_notify(mcp_client_t *client, const char *method, cJSON *params);

/* ---- server -> client requests ---- */

/* Answer with a result (taken; NULL means {}), or with a JSON-RPC error. `in` is freed in every
 * case. 0; MCP_ECANCELED (the server cancelled it: nothing sent); MCP_ECLOSED (client or
 * transport gone: nothing sent); or a send error. */
int mcp_client_reply(mcp_client_incoming_t *in, cJSON *result);
int mcp_client_reply_error(mcp_client_incoming_t *in, int code, const char *message, cJSON *data);
/* 1 after the server sent notifications/cancelled for it. */
int mcp_client_incoming_cancelled(const mcp_client_incoming_t *in);
const jsonrpc_id_t *mcp_client_incoming_id(const mcp_client_incoming_t *in);

/* ---- state ---- */

/* 1 once initialize succeeded (and while re-initializing after a session expiry). */
int mcp_client_ready(const mcp_client_t *client);
/* The negotiated version (static string) or NULL before initialize succeeded. */
const char *mcp_client_protocol_version(const mcp_client_t *client);
/* From the initialize result; owned by the client, valid until it is freed; NULL if absent. */
const cJSON *mcp_client_server_info(const mcp_client_t *client);
const cJSON *mcp_client_server_capabilities(const mcp_client_t *client);
const char *mcp_client_instructions(const mcp_client_t *client);
/* 1 when the server declared capability `name` ("tools", "resources", "logging", ...). */
int mcp_client_server_has(const mcp_client_t *client, const char *name);
/* Text about the last failure of initialize (never NULL). */
const char *mcp_client_error_message(const mcp_client_t *client);
const char *mcp_client_name(const mcp_client_t *client);
uv_loop_t *mcp_client_loop(const mcp_client_t *client);
/* Requests held or in flight (callbacks not yet run). */
size_t mcp_client_pending(const mcp_client_t *client);

#endif
