/* fault_inject: applies a fault rule set (faults.h) to a running mock server.
 *
 * The injector sits in three places:
 *   - the server's interceptor (mcp_server_set_interceptor) sees every request, counts it (by
 *     method and by tool) and asks the rule set what to do. Request-level faults are done there:
 *     latency (a uv timer, then the outcome or mcp_call_continue), error, tool_error, hang,
 *     exit, crash. Message-level faults (close, malformed, truncate, slow_sse, oversized,
 *     wrong_version for initialize, stdout_noise) are remembered for the request's final
 *     response, keyed by (session, request id), and the call goes on normally;
 *   - the transport's send filter applies those to the bytes of that response: on stdio
 *     fault_inject_stdio_filter (mcp_stdio_server.h), on HTTP fault_inject_http_filter;
 *   - on HTTP the transport's pre-request hook (fault_inject_http_pre) decides for POSTed
 *     requests before the MCP layer sees them, so http_status and session_expiry can answer
 *     with an HTTP status; the decision is handed to the interceptor for the same request.
 * Faults that make no sense on a transport (stdout_noise on HTTP, http_status and
 * session_expiry on stdio, wrong_version for anything but initialize) are counted as fired but
 * change nothing.
 *
 * Rule sets are replaced live (PUT /_mock/faults, SIGHUP): pending effects keep copies of what
 * they need, so replacing or clearing the set never leaves a dangling rule. Counters of
 * replaced sets are kept for /_mock/stats.
 *
 * Lifetime: create after the server, close (fault_inject_close) before mcp_server_free; the
 * close removes the interceptor, stops timers, drops call references and frees the injector once
 * its handles are closed (run the loop afterwards). Everything runs on the loop thread. */
#ifndef MOCK_FAULT_INJECT_H
#define MOCK_FAULT_INJECT_H

#include "buf.h"
#include "faults.h"
#include "mcp_server.h"
#include "mcp_stdio_server.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <uv.h>

typedef struct fault_inject_s fault_inject_t;

typedef enum { FAULT_INJECT_STDIO = 0, FAULT_INJECT_HTTP } fault_inject_transport_t;

/* One fault effect, copied out of a rule (valid after the rule set is replaced). */
typedef struct fault_action_s {
    fault_type_t type;
    char *rule; /* rule name, for logs */
    int code;
    char *message;
    cJSON *data;
    int exit_code;
    size_t bytes;
    size_t chunk_bytes;
    double delay_ms;
    char *version;
    char *text;
    int status;
    int retry_after;
} fault_action_t;

/* Create an injector for `server` and install its interceptor. `set` (may be NULL) is taken.
 * 0 or MCP_ENOMEM (set freed). */
int fault_inject_new(uv_loop_t *loop, mcp_server_t *server, fault_inject_transport_t transport,
                     fault_set_t *set, fault_inject_t **out);
/* See the lifetime rules above. NULL is a no-op. */
void fault_inject_close(fault_inject_t *fi);

/* Builds the answer of a `rate_limit` fault for a tool call (a CallToolResult, isError). A kind
 * with a rate-limit shape of its own installs one (the github kind's
 * mock_github_rate_limit_result); the default says "rate limit exceeded" generically. */
typedef cJSON *(*fault_rate_limit_fn)(const char *tool, long reset_seconds);
void fault_inject_set_rate_limit(fault_inject_t *fi, fault_rate_limit_fn fn);

/* Replace the rules (set taken; NULL clears them). Pending effects of the old rules still
 * happen; the old rules' counters are kept for the stats. */
void fault_inject_set_rules(fault_inject_t *fi, fault_set_t *set);
/* The current rules (may be NULL), e.g. for fault_set_find_type(slow_start). */
fault_set_t *fault_inject_rules(fault_inject_t *fi);
/* GET /_mock/faults: the current set as fault_set_to_json gives it ({"rules":[]} without one).
 * New object or NULL on ENOMEM. */
cJSON *fault_inject_rules_json(const fault_inject_t *fi);
/* GET /_mock/stats: {"requests":{"total","by_method":{},"by_tool":{}},
 * "faults":{"fired_total","by_rule":{},"by_type":{}},"sessions","uptime_ms"}. NULL on ENOMEM. */
cJSON *fault_inject_stats_json(const fault_inject_t *fi);
uint64_t fault_inject_requests(const fault_inject_t *fi);
uint64_t fault_inject_fired(const fault_inject_t *fi);

/* The stdio send filter: pass with the injector as ud to mcp_stdio_server_set_send_filter. */
int fault_inject_stdio_filter(mcp_stdio_server_t *io, const char *json, size_t len,
                              const mcp_send_info_t *info, void *ud);
/* The stdio transport is gone (its on_closed ran): forget it. */
void fault_inject_stdio_detach(fault_inject_t *fi);

#ifdef MOCK_HAVE_HTTP
#include "mcp_http_server.h"
/* The Streamable HTTP / legacy SSE transport the injector works with (for session expiry). */
void fault_inject_set_http(fault_inject_t *fi, mcp_http_server_t *t);
/* The transport's pre hook (mcp_http_server_set_pre_hook, ud = the injector): decides for each
 * POSTed request; answers http_status / session_expiry itself and hands any other decision to
 * the interceptor for the same request. */
int fault_inject_http_pre(const mcp_http_pre_info_t *info, void *ud);
/* The transport's send filter (mcp_http_server_set_send_filter, ud = the injector). */
void fault_inject_http_filter(mcp_session_t *session, const char *json, size_t len,
                              const mcp_send_info_t *info, mcp_http_fault_t *fault, void *ud);
#endif

/* Message transformations shared by the transports. Each appends the bytes to send instead of
 * `json` to out (no trailing newline) and returns 0, or a negative code (MCP_ENOBUFS when out's
 * maximum is too small, MCP_EPARSE when json is not an object). */
int fault_inject_malformed(const char *json, size_t len, buf_t *out);
/* Pad the message with an extra member "_mock_padding" to at least `bytes` bytes (valid JSON). */
int fault_inject_oversized(const char *json, size_t len, size_t bytes, buf_t *out);
/* The message with result.protocolVersion replaced by `version`. */
int fault_inject_wrong_version(const char *json, size_t len, const char *version, buf_t *out);

/* Copy rule into action / release an action's copies. */
int fault_action_from_rule(fault_action_t *act, const fault_rule_t *rule);
void fault_action_clear(fault_action_t *act);

#endif
