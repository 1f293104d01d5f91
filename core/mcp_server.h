/* mcp_server: a transport-independent MCP server (handshake era, 2024-11-05 .. 2025-11-25).
 *
 * A server (mcp_server_t) holds the server info, registries of tools, resources, resource
 * templates, prompts and completion handlers, method overrides and an interceptor. Transports
 * (stdio, Streamable HTTP, legacy SSE) create one session (mcp_session_t) per connected client,
 * feed it each received message with mcp_session_receive() and deliver what the session sends
 * through their ops table. Every incoming request becomes a call (mcp_call_t) that a handler
 * answers at once or later.
 *
 * Capabilities in the initialize result are derived from what is registered: tools/resources/
 * prompts (each with listChanged: true, resources with subscribe: true) when at least one item
 * or an override of one of their methods exists (or when forced on in the config), logging
 * unless turned off, completions when prompts, templates, completion handlers or a
 * completion/complete override exist (or forced on). mcp_server_set_capabilities() replaces the
 * derivation entirely (the gateway advertises the union of its upstreams).
 *
 * Lifecycle per session: only initialize and ping are served before a successful initialize
 * (others get -32600 "session not initialized"); a second initialize gets -32600. Version
 * negotiation follows mcp_version_negotiate(). After notifications/initialized the session is
 * "operational": only then does it receive list_changed / resources/updated notifications and
 * may the server send it requests other than ping. Notifications never get a reply. Requests
 * for methods of an undeclared capability, or unknown methods, get -32601.
 *
 * ---- Calls: lifetime and cancellation (read this before writing an async handler) ----
 * A call starts with one reference held by the framework, dropped when the call finishes:
 * answered (mcp_call_reply / mcp_call_error / ...), or cancelled (notifications/cancelled from
 * the client, the session closing, or the server being freed). The framework also holds a
 * reference while a handler or interceptor runs, so the call is always valid inside them.
 * To use a call later (timers, upstream requests), either
 *   (a) take a reference with mcp_call_ref() and drop it with mcp_call_unref() when done (the
 *       call stays readable after it finished; answering a finished call is refused with
 *       MCP_ECANCELED or MCP_ESTATE and frees what it was given), or
 *   (b) register mcp_call_on_cancel() and stop using the call in that hook: the hook runs once,
 *       synchronously, when a pending call is cancelled, and is the last time the framework
 *       hands out the call; without a reference the call is freed right after the hook.
 * Once the call finished or its session is gone, mcp_call_session() returns NULL. A cancelled
 * call sends no response; the transport's `abandon` op is told instead.
 *
 * ---- Transport interface ----
 * The transport creates a session with an ops table and a context (mcp_session_create), feeds
 * it every received message or batch (mcp_session_receive, with an `origin` pointer of its
 * choosing, e.g. the HTTP POST the body came on), and closes it with mcp_session_close (which
 * cancels the session's calls; the session never calls the ops again after that). The session
 * sends each outgoing message through ops->send with an mcp_send_info_t that says which
 * client request it relates to (origin + id) and whether it is the final response of that
 * request; unrelated messages (list_changed, resources/updated, broadcast logs, session-level
 * server->client requests) have origin NULL and related NULL. So a Streamable HTTP transport
 * writes related messages on that POST's SSE stream and ends the stream after the final one,
 * and writes unrelated ones on the standalone GET stream. Sends can happen synchronously
 * inside mcp_session_receive (a synchronous handler answers at once): prepare the stream
 * context before calling it. mcp_receive_info_t tells the transport what the input contained:
 * parse_error (HTTP 400 with the -32700 reply as body), `replies` (how many final responses
 * the input will produce; 0 means notifications/responses only -> HTTP 202).
 * Rules for transports: never call mcp_session_receive or mcp_session_close from inside an
 * ops callback of the same session; return an error from send instead and close afterwards.
 * When the server closes a session (mcp_server_free) ops->closed runs and the transport must
 * forget the session pointer.
 *
 * Batches (JSON arrays) are accepted only on sessions that negotiated 2025-03-26; each request
 * in the batch gets its own response message (one send each). Other sessions get one -32600.
 *
 * Ownership: cJSON values passed to functions named *_reply, *_error, *_log, *_request and to
 * the notification senders are taken over (also on failure). Definition structs and cJSON
 * passed to mcp_server_add_* are copied. Everything allocates through alloc.h. All functions
 * must be called on the loop thread. */
#ifndef MCP_SERVER_H
#define MCP_SERVER_H

#include "jsonrpc.h"
#include "mcp_proto.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <uv.h>

typedef struct mcp_server_s mcp_server_t;
typedef struct mcp_session_s mcp_session_t;
typedef struct mcp_call_s mcp_call_t;

/* ---- server ---- */

enum { MCP_CAP_AUTO = 0, MCP_CAP_ON, MCP_CAP_OFF };

typedef struct mcp_server_config_s {
    const char *name;    /* serverInfo.name (required) */
    const char *version; /* serverInfo.version (required) */
    const char *title;   /* optional */
    const char *description;
    const char *website_url;
    const char *instructions; /* optional InitializeResult.instructions */
    size_t page_size;         /* items per list page; 0 = 100 */
    size_t max_inflight;      /* concurrent requests per session; 0 = 256 */
    size_t max_subscriptions; /* resources/subscribe entries per session; 0 = 1024 */
    /* Initial logging/setLevel of a session: messages below it are not sent. */
    mcp_log_level_t default_log_level;
    /* MCP_CAP_AUTO / ON / OFF for each capability (see the derivation rules above). */
    int cap_tools, cap_resources, cap_prompts, cap_logging, cap_completions;
} mcp_server_config_t;

/* 0, MCP_EINVAL (name/version missing) or MCP_ENOMEM. The loop is only handed to handlers
 * (mcp_call_loop); the server itself owns no libuv handles. */
int mcp_server_create(uv_loop_t *loop, const mcp_server_config_t *config, mcp_server_t **out);
/* Closes every remaining session (ops->closed, calls cancelled) and frees the server. Not from
 * inside one of the server's callbacks. NULL is a no-op. */
void mcp_server_free(mcp_server_t *server);
uv_loop_t *mcp_server_loop(mcp_server_t *server);
/* Replace capability derivation with this object (owned; NULL restores derivation). */
void mcp_server_set_capabilities(mcp_server_t *server, cJSON *capabilities);
/* The capabilities an initialize would answer now (new object; NULL on ENOMEM). */
cJSON *mcp_server_capabilities(mcp_server_t *server);
void mcp_server_set_page_size(mcp_server_t *server, size_t page_size);
/* Number of sessions currently open. */
size_t mcp_server_session_count(mcp_server_t *server);

/* ---- handlers ---- */

/* `arguments` is the tools/call arguments object (an empty object when absent), owned by the
 * call. */
typedef void (*mcp_tool_fn)(mcp_call_t *call, const cJSON *arguments, void *ud);
/* Variables of a matched URI template: names[i] = values[i] (percent-decoded). */
#define MCP_URI_MAX_VARS 16
typedef struct mcp_uri_vars_s {
    size_t count;
    char *names[MCP_URI_MAX_VARS];
    char *values[MCP_URI_MAX_VARS];
} mcp_uri_vars_t;
/* The value of variable `name`, or NULL. */
const char *mcp_uri_vars_get(const mcp_uri_vars_t *vars, const char *name);
/* resources/read of a static resource (vars NULL) or of a URI matching a template. */
typedef void (*mcp_resource_fn)(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars,
                                void *ud);
/* `arguments`: object of string values (empty when absent); required ones were checked. */
typedef void (*mcp_prompt_fn)(mcp_call_t *call, const cJSON *arguments, void *ud);
/* completion/complete for one argument; context_args may be NULL. Answer with
 * mcp_call_reply_completion (or mcp_call_reply with a full result). */
typedef void (*mcp_complete_fn)(mcp_call_t *call, const char *argument, const char *value,
                                const cJSON *context_args, void *ud);
/* A method override / custom method; params may be NULL. */
typedef void (*mcp_method_fn)(mcp_call_t *call, const cJSON *params, void *ud);
/* A client notification (params may be NULL). */
typedef void (*mcp_notify_fn)(mcp_session_t *session, const char *method, const cJSON *params,
                              void *ud);

/* ---- registries (each add copies its input; duplicates are MCP_EEXISTS; removing an
 * unknown name is MCP_ENOTFOUND; a change notifies operational sessions with list_changed) -- */

typedef struct mcp_tool_def_s {
    const char *name; /* required: 1..128 of [A-Za-z0-9_.-] */
    const char *title;
    const char *description;
    const char *input_schema;  /* JSON text; NULL = {"type":"object"} */
    const char *output_schema; /* JSON text or NULL */
    const char *annotations;   /* JSON text or NULL */
} mcp_tool_def_t;

/* 0, MCP_EINVAL (bad name or schema JSON), MCP_EEXISTS, MCP_ENOMEM. */
int mcp_server_add_tool(mcp_server_t *server, const mcp_tool_def_t *def, mcp_tool_fn fn, void *ud);
/* A complete Tool object (name, inputSchema, anything else is passed through unchanged). */
int mcp_server_add_tool_json(mcp_server_t *server, const cJSON *tool, mcp_tool_fn fn, void *ud);
int mcp_server_remove_tool(mcp_server_t *server, const char *name);

typedef struct mcp_resource_def_s {
    const char *uri;  /* required */
    const char *name; /* required */
    const char *title;
    const char *description;
    const char *mime_type;
    long long size; /* bytes; < 0 or 0 with size_known == 0 means absent */
    int size_known;
} mcp_resource_def_t;

int mcp_server_add_resource(mcp_server_t *server, const mcp_resource_def_t *def, mcp_resource_fn fn,
                            void *ud);
int mcp_server_add_resource_json(mcp_server_t *server, const cJSON *resource, mcp_resource_fn fn,
                                 void *ud);
int mcp_server_remove_resource(mcp_server_t *server, const char *uri);

/* Templates use RFC 6570 level-1/2 expressions: {var} matches one or more characters other
 * than '/', '?' and '#'; {+var} and {#var} match anything non-empty. Static resources win over
 * templates; templates are tried in registration order. */
typedef struct mcp_template_def_s {
    const char *uri_template; /* required */
    const char *name;         /* required */
    const char *title;
    const char *description;
    const char *mime_type;
} mcp_template_def_t;

int mcp_server_add_template(mcp_server_t *server, const mcp_template_def_t *def, mcp_resource_fn fn,
                            void *ud);
int mcp_server_add_template_json(mcp_server_t *server, const cJSON *tpl, mcp_resource_fn fn,
                                 void *ud);
int mcp_server_remove_template(mcp_server_t *server, const char *uri_template);

typedef struct mcp_prompt_arg_s {
    const char *name;
    const char *title;
    const char *description;
    int required;
} mcp_prompt_arg_t;

typedef struct mcp_prompt_def_s {
    const char *name; /* required */
    const char *title;
    const char *description;
    const mcp_prompt_arg_t *args;
    size_t nargs;
} mcp_prompt_def_t;

int mcp_server_add_prompt(mcp_server_t *server, const mcp_prompt_def_t *def, mcp_prompt_fn fn,
                          void *ud);
int mcp_server_add_prompt_json(mcp_server_t *server, const cJSON *prompt, mcp_prompt_fn fn,
                               void *ud);
int mcp_server_remove_prompt(mcp_server_t *server, const char *name);

/* Completion for `argument` of ref_type "ref/prompt" (ref = prompt name) or "ref/resource"
 * (ref = URI or URI template). Without a handler the answer is an empty completion. fn NULL
 * removes. 0, MCP_EINVAL, MCP_ENOMEM. */
int mcp_server_set_completion(mcp_server_t *server, const char *ref_type, const char *ref,
                              const char *argument, mcp_complete_fn fn, void *ud);

/* Handle `method` (any request method except initialize) with fn instead of the built-in
 * handling: custom methods, or taking over tools/list, tools/call, the resources/ and prompts/
 * methods or completion/complete entirely. Overriding a capability's method declares that
 * capability. fn NULL removes the override. 0, MCP_EINVAL, MCP_ENOMEM. */
int mcp_server_set_method(mcp_server_t *server, const char *method, mcp_method_fn fn, void *ud);
/* Receive client notifications named `method` (NULL: every notification without a more
 * specific handler, including the ones handled internally). fn NULL removes. */
int mcp_server_set_notification(mcp_server_t *server, const char *method, mcp_notify_fn fn,
                                void *ud);

/* The interceptor sees every incoming request before dispatch (initialize and ping too).
 * Return MCP_INTERCEPT_CONTINUE to dispatch normally, or MCP_INTERCEPT_TAKEN to take the call
 * over: answer it now or later, resume normal dispatch later with mcp_call_continue(), or never
 * answer (the call then ends with a client cancellation or the session). tool_name is set for
 * tools/call. */
enum { MCP_INTERCEPT_CONTINUE = 0, MCP_INTERCEPT_TAKEN = 1 };
typedef int (*mcp_interceptor_fn)(mcp_call_t *call, const char *method, const char *tool_name,
                                  void *ud);
void mcp_server_set_interceptor(mcp_server_t *server, mcp_interceptor_fn fn, void *ud);

typedef enum {
    MCP_SESSION_INITIALIZED = 1, /* notifications/initialized received */
    MCP_SESSION_CLOSED,          /* about to be closed (calls not yet cancelled) */
} mcp_session_event_t;
typedef void (*mcp_session_event_fn)(mcp_session_t *session, mcp_session_event_t event, void *ud);
void mcp_server_set_session_events(mcp_server_t *server, mcp_session_event_fn fn, void *ud);

/* ---- server-initiated notifications ---- */

typedef enum { MCP_LIST_TOOLS, MCP_LIST_RESOURCES, MCP_LIST_PROMPTS } mcp_list_kind_t;
/* notifications/<kind>/list_changed to every operational session that was told the capability.
 * Returns the number of sessions notified. */
size_t mcp_server_notify_list_changed(mcp_server_t *server, mcp_list_kind_t kind);
/* notifications/resources/updated {uri} to every session subscribed to uri; returns the count. */
size_t mcp_server_notify_resource_updated(mcp_server_t *server, const char *uri);
/* notifications/message to every initialized session whose level lets `level` through; data
 * is owned (any JSON). Returns the number of sessions it was sent to. */
size_t mcp_server_broadcast_log(mcp_server_t *server, mcp_log_level_t level, const char *logger,
                                cJSON *data);

/* ---- sessions (transport side) ---- */

typedef struct mcp_send_info_s {
    void *origin;                /* origin given to mcp_session_receive with the related
                                    request; NULL for unrelated messages */
    const jsonrpc_id_t *related; /* id of the client request this relates to, or NULL */
    int final;                   /* 1: the response that ends `related` (or an error reply to
                                    unreadable input, with related NULL) */
    jsonrpc_kind_t kind;         /* request, notification, result or error */
} mcp_send_info_t;

typedef struct mcp_transport_ops_s {
    /* Send one message: compact JSON without newline, valid only during the call (copy it).
     * 0, or a negative code (e.g. MCP_ENOBUFS when the output queue is full); the message is
     * then lost and the caller sees the error. Required. */
    int (*send)(void *ctx, const char *json, size_t len, const mcp_send_info_t *info);
    /* A request ended without a response (cancelled by the client). Optional. */
    void (*abandon)(void *ctx, const mcp_send_info_t *info);
    /* The last in-flight request of the session ended. Optional. */
    void (*drained)(void *ctx);
    /* The server closed the session (mcp_server_free): forget it. Optional. */
    void (*closed)(void *ctx);
} mcp_transport_ops_t;

typedef struct mcp_receive_info_s {
    int parse_error;      /* not JSON: a -32700 reply (id null) was sent */
    int batch;            /* the input was an array */
    int batch_rejected;   /* ... which this session's version does not allow (-32600 sent) */
    size_t replies;       /* final responses this input produces (requests + error replies);
                             0: notifications/responses only */
    size_t requests;      /* valid requests among them */
    size_t invalid;       /* messages answered with -32600 */
    size_t notifications; /* client notifications */
    size_t responses;     /* responses to server->client requests */
    int initialize;       /* an initialize request was among them */
} mcp_receive_info_t;

/* ops must stay valid for the session's life. 0 or MCP_ENOMEM. */
int mcp_session_create(mcp_server_t *server, const mcp_transport_ops_t *ops, void *ctx,
                       mcp_session_t **out);
/* Feed received bytes (one message or a batch). info may be NULL. Returns 0 (protocol errors
 * are answered through send, not returned), MCP_ECLOSED (session closing) or MCP_ENOMEM. */
int mcp_session_receive(mcp_session_t *session, const char *data, size_t len, void *origin,
                        mcp_receive_info_t *info);
/* The client can send nothing more (stdin EOF): pending server->client requests complete with
 * MCP_ECLOSED; calls keep running so their responses can still be written. */
void mcp_session_input_closed(mcp_session_t *session);
/* Transport-side close: cancels calls (hooks run), fails pending server->client requests, and
 * frees the session (at once, or when the current receive returns). No ops run afterwards. */
void mcp_session_close(mcp_session_t *session);

size_t mcp_session_inflight(const mcp_session_t *session);
/* NULL until initialize succeeded; then the negotiated version. */
const char *mcp_session_protocol_version(const mcp_session_t *session);
int mcp_session_is_operational(const mcp_session_t *session);
/* initialize params as sent (NULL before initialize). */
const cJSON *mcp_session_client_capabilities(const mcp_session_t *session);
const cJSON *mcp_session_client_info(const mcp_session_t *session);
mcp_log_level_t mcp_session_log_level(const mcp_session_t *session);
int mcp_session_is_subscribed(const mcp_session_t *session, const char *uri);
mcp_server_t *mcp_session_server(const mcp_session_t *session);
void mcp_session_set_data(mcp_session_t *session, void *data);
void *mcp_session_get_data(const mcp_session_t *session);
/* A short unique label for logs ("s12"). */
const char *mcp_session_label(const mcp_session_t *session);

/* ---- server -> client requests ---- */

typedef struct mcp_response_s {
    /* 0: the client answered (result or error below). MCP_ECANCELED: the related call ended
     * first; MCP_ECLOSED: the session closed or its input ended. */
    int status;
    const cJSON *result; /* the result, or NULL for an error response */
    int error_code;      /* for an error response */
    const char *error_message;
    const cJSON *error_data;
    mcp_call_t *call;       /* the related call (valid during the callback), or NULL */
    mcp_session_t *session; /* NULL when the session is gone */
} mcp_response_t;
typedef void (*mcp_response_fn)(const mcp_response_t *resp, void *ud);

/* Send a request to the client of `session`, not related to a client request (goes on the
 * standalone stream). params owned (NULL for none). The callback runs exactly once if this
 * returns 0, never otherwise. Errors: MCP_EUNSUPPORTED (the client did not declare the
 * capability the method needs: sampling, elicitation, roots), MCP_ESTATE (not operational;
 * ping is always allowed), MCP_ECLOSED, MCP_ENOBUFS (too many pending), MCP_ENOMEM, or the
 * transport's send error. */
int mcp_session_request(mcp_session_t *session, const char *method, cJSON *params,
                        mcp_response_fn cb, void *ud);

/* ---- calls (handler side) ---- */

void mcp_call_ref(mcp_call_t *call);
void mcp_call_unref(mcp_call_t *call);

/* Answer with `result` (owned; NULL = {}). 0, MCP_ECANCELED (cancelled), MCP_ESTATE (already
 * answered), MCP_ECLOSED (session gone) or a send error. */
int mcp_call_reply(mcp_call_t *call, cJSON *result);
/* Answer with a JSON-RPC error; data owned (may be NULL). */
int mcp_call_error(mcp_call_t *call, int code, const char *message, cJSON *data);
/* tools/call result {"content":[{"type":"text","text":text}]} ... */
int mcp_call_reply_text(mcp_call_t *call, const char *text);
/* ... and the same with "isError": true (a tool execution error, not a protocol error). */
int mcp_call_tool_error(mcp_call_t *call, const char *text);
/* resources/read result with one text content. mime_type may be NULL. */
int mcp_call_reply_resource_text(mcp_call_t *call, const char *uri, const char *mime_type,
                                 const char *text);
/* completion/complete result; values copied (at most 100 are sent); total < 0 omits it. */
int mcp_call_reply_completion(mcp_call_t *call, const char *const *values, size_t count, long total,
                              int has_more);

/* notifications/progress for this call, echoing the request's _meta.progressToken with its
 * JSON type. total < 0 and message NULL are omitted. MCP_ESTATE when the request had no
 * token or the call finished; MCP_EINVAL when progress does not increase. */
int mcp_call_progress(mcp_call_t *call, double progress, double total, const char *message);
/* notifications/message related to this call; data owned. Dropped (returns 0) when below the
 * session's level; MCP_EUNSUPPORTED when logging is off. */
int mcp_call_log(mcp_call_t *call, mcp_log_level_t level, const char *logger, cJSON *data);
/* A server->client request related to this call (sampling/createMessage, elicitation/create,
 * roots/list, ping): sent with the call's origin so it travels on the call's stream. Same rules
 * as mcp_session_request; additionally MCP_ECANCELED / MCP_ESTATE when the call finished. If
 * the call is cancelled while waiting, the client is sent notifications/cancelled for it and
 * cb gets MCP_ECANCELED. The call is kept alive until cb ran. */
int mcp_call_request(mcp_call_t *call, const char *method, cJSON *params, mcp_response_fn cb,
                     void *ud);

typedef void (*mcp_cancel_fn)(mcp_call_t *call, void *ud);
/* Set (or with fn NULL clear) the hook run when the pending call is cancelled. */
void mcp_call_on_cancel(mcp_call_t *call, mcp_cancel_fn fn, void *ud);
/* Resume normal dispatch of a call an interceptor took over. 0, MCP_ESTATE (already
 * dispatched or finished). */
int mcp_call_continue(mcp_call_t *call);

uv_loop_t *mcp_call_loop(const mcp_call_t *call);
mcp_server_t *mcp_call_server(const mcp_call_t *call);
/* NULL once the call finished or the session is gone. */
mcp_session_t *mcp_call_session(const mcp_call_t *call);
const jsonrpc_id_t *mcp_call_request_id(const mcp_call_t *call);
const char *mcp_call_method(const mcp_call_t *call);
/* The request's params (may be NULL), owned by the call. */
const cJSON *mcp_call_params(const mcp_call_t *call);
/* tools/call: the tool name; prompts/get: the prompt name; resources/read: the URI; else NULL. */
const char *mcp_call_target(const mcp_call_t *call);
const char *mcp_call_tool_name(const mcp_call_t *call);
int mcp_call_is_cancelled(const mcp_call_t *call);
/* 1 once answered or cancelled. */
int mcp_call_is_finished(const mcp_call_t *call);
void mcp_call_set_data(mcp_call_t *call, void *data);
void *mcp_call_get_data(const mcp_call_t *call);

#endif
