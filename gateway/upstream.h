/* upstream: one configured MCP server as the gateway sees it — its session, its health and its
 * catalog.
 *
 * An upstream owns one mcp_client session at a time (and the transport the connector attached
 * to it: a stdio child, Streamable HTTP, SSE, or an in-process loopback in tests) and runs this
 * state machine:
 *
 *   disabled   the config entry has enabled: false; no session, calls refused
 *   connecting a session is being set up: transport, initialize, then the lists
 *   ready      initialized and listed; calls pass
 *   degraded   the session works but the circuit breaker is not closed or the last health
 *              probe failed; calls pass the breaker's rules
 *   down       no session (start failed, child died, transport closed, probes kept failing);
 *              a reconnect is scheduled with capped exponential backoff and full jitter
 *
 * After initialize the upstream lists tools, resources, resource templates and prompts (each
 * only when the server declared the capability), following nextCursor up to a page and item
 * bound, and lists a kind again on its notifications/<kind>/list_changed. The last catalog
 * is kept while down (counts stay visible), but an upstream is "available" — its items belong
 * in the gateway's catalog — only while ready or degraded (gw_upstream_available).
 *
 * Health: a ping every health_interval_ms while a session is up; a failed ping makes it
 * degraded, probe_failures_down consecutive failures drop the session (down, reconnect). A
 * stdio child that exits is restarted with backoff; gw_backoff_t's crash-loop detection makes
 * the delay long when it keeps dying.
 *
 * Calls (gw_upstream_call) get a deadline (the per-tool timeout, else the server's, else the
 * gateway's request timeout; a caller's own deadline can only shorten it), pass the breaker
 * (open: refused at once with MCP_EUNAVAILABLE, nothing sent), and their outcome is counted:
 * latency into the server's and the tool's HDR histograms (microseconds), timeouts and
 * transport failures as breaker failures, answers (also JSON-RPC errors and isError results)
 * as successes. A call that fails because the session went away (MCP_ECLOSED, a transport
 * error, or the upstream dropping the session) is retried once on the next session when it is
 * idempotent (ping, the list methods, resources/read, prompts/get, completion/complete, and
 * tools/call of a tool annotated readOnlyHint or idempotentHint), within its deadline. Session
 * expiry (Streamable HTTP 404) is handled below, by mcp_client: it re-initializes and resends.
 *
 * Events (state changes, catalog changes, resources/updated and other notifications) go to the
 * owner's callback synchronously; the registry fans them out to the aggregator and others.
 *
 * Callback rules: a call's callback runs exactly once for every call gw_upstream_call accepted,
 * never from inside gw_upstream_call, gw_upcall_cancel or gw_upstream_close. Events are never
 * emitted from inside gw_upstream_call or gw_upcall_cancel.
 *
 * Ownership: the registry creates and closes upstreams (gw_upstream_new / gw_upstream_close);
 * an upstream copies its server entry. cJSON params passed to gw_upstream_call are taken (also
 * on failure). The response handed to a call's callback belongs to the upstream (take it with
 * jsonrpc_msg_move). Catalog arrays returned by the accessors are borrowed: valid until the
 * next event of this upstream. Single-threaded (the loop thread). */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include "backoff.h"
#include "breaker.h"
#include "config.h"
#include "hdr_histogram.h"
#include "jsonrpc.h"
#include "mcp_client.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct gw_upstream_s gw_upstream_t;
typedef struct gw_upcall_s gw_upcall_t;

typedef enum {
    GW_UP_CONNECTING = 0,
    GW_UP_READY,
    GW_UP_DEGRADED,
    GW_UP_DOWN,
    GW_UP_DISABLED,
} gw_upstream_state_t;

/* Catalog kinds (bit mask). */
enum {
    GW_CAT_TOOLS = 1u << 0,
    GW_CAT_RESOURCES = 1u << 1,
    GW_CAT_TEMPLATES = 1u << 2,
    GW_CAT_PROMPTS = 1u << 3,
    GW_CAT_ALL = 0xfu,
};

typedef enum {
    GW_UPEV_STATE = 1,        /* state changed: old_state -> new_state */
    GW_UPEV_CATALOG,          /* the listed items changed: `kinds` */
    GW_UPEV_CONFIG,           /* routing-relevant config changed (priority, prefix, filters) */
    GW_UPEV_SETTLED,          /* the first connection attempt ended (ready or failed) */
    GW_UPEV_RESOURCE_UPDATED, /* notifications/resources/updated: `uri` */
    GW_UPEV_NOTIFICATION,     /* any other notification: `method`, `params` (may be NULL) */
    GW_UPEV_REMOVED,          /* (registry) about to be closed and forgotten: drop references */
} gw_upstream_event_kind_t;

typedef struct gw_upstream_event_s {
    gw_upstream_event_kind_t kind;
    gw_upstream_t *up;
    gw_upstream_state_t old_state, new_state;
    unsigned kinds;
    const char *uri;
    const char *method;
    const cJSON *params;
} gw_upstream_event_t;

typedef void (*gw_upstream_event_fn)(const gw_upstream_event_t *ev, void *ud);

/* Attach a transport to `client` for this upstream's server entry (e.g. mcp_client_stdio_start).
 * 0, or an error: the attempt then fails with it and is retried with backoff. */
typedef int (*gw_upstream_connect_fn)(gw_upstream_t *up, const gw_server_config_t *cfg,
                                      mcp_client_t *client, void *ud);
/* The default connector: stdio through mcp_client_stdio (the child is named after the server),
 * "http" through mcp_client_http's Streamable HTTP and "sse" through its legacy HTTP+SSE mode
 * (config headers sent with every request). */
int gw_upstream_connect_default(gw_upstream_t *up, const gw_server_config_t *cfg,
                                mcp_client_t *client, void *ud);

/* A server->client request (sampling, elicitation, roots) from this upstream's session. Answer
 * with mcp_client_reply / mcp_client_reply_error (see mcp_client.h). */
typedef void (*gw_upstream_request_fn)(gw_upstream_t *up, mcp_client_incoming_t *in,
                                       const char *method, const cJSON *params, void *ud);

/* Gateway-wide settings an upstream follows (copied; see gw_settings_t for the config ones). */
typedef struct gw_upstream_settings_s {
    uint64_t request_timeout_ms;   /* default deadline of calls; 0: 30000 */
    uint64_t init_timeout_ms;      /* initialize and each list page; 0: request_timeout_ms */
    uint64_t health_interval_ms;   /* 0: no probes */
    uint64_t probe_timeout_ms;     /* 0: min(health_interval_ms, request_timeout_ms) */
    uint32_t probe_failures_down;  /* consecutive failed probes that drop the session; 0: 3 */
    int breaker_enabled;           /* */
    uint32_t breaker_threshold;    /* 0: 5 */
    uint64_t breaker_reset_ms;     /* */
    uint64_t reconnect_initial_ms; /* 0: 500 */
    uint64_t reconnect_max_ms;     /* 0: 30000 */
    uint32_t crash_limit;          /* child exits within crash_window_ms = crash loop; 0: 5 */
    uint64_t crash_window_ms;      /* 0: 60000 */
    unsigned close_grace_ms;       /* stdio: each step of a graceful stop; 0: 2000 */
    size_t max_list_pages;         /* per kind and listing; 0: 100 */
    size_t max_list_items;         /* per kind; 0: 10000 */
    size_t max_tool_stats;         /* tools with their own histogram; 0: 1024 */
} gw_upstream_settings_t;

/* The settings from a parsed config (reload applies them with gw_upstream_set_settings). */
void gw_upstream_settings_from_config(gw_upstream_settings_t *out, const gw_settings_t *s);

typedef struct gw_upstream_hooks_s {
    gw_upstream_event_fn on_event;
    gw_upstream_connect_fn connect; /* NULL: gw_upstream_connect_default */
    void *connect_ud;
    gw_upstream_request_fn on_request; /* NULL: sampling/elicitation/roots not declared */
    void *request_ud;
    void *ud; /* for on_event */
} gw_upstream_hooks_t;

/* ---- lifecycle (used by the registry) ---- */

/* A new upstream for `cfg` (copied) in state down (or disabled), not started. `seed` seeds its
 * backoff jitter. 0, MCP_EINVAL, MCP_ENOMEM, or a libuv error. */
int gw_upstream_new(uv_loop_t *loop, const gw_server_config_t *cfg,
                    const gw_upstream_settings_t *settings, const gw_upstream_hooks_t *hooks,
                    uint64_t seed, gw_upstream_t **out);
/* Begin the first connection attempt (disabled: emits SETTLED at once). 0 or MCP_ESTATE. */
int gw_upstream_start(gw_upstream_t *up);
/* Drop the session (if any) and connect again now, with breaker and backoff reset.
 * 0, MCP_ESTATE (disabled or closing). */
int gw_upstream_reconnect(gw_upstream_t *up);
/* Apply a changed server entry (same name). When gw_server_config_same_connection holds, the
 * session is kept and GW_UPEV_CONFIG is emitted; otherwise the session is dropped and a new
 * one made (or the upstream becomes disabled). 0, MCP_EINVAL, MCP_ENOMEM, MCP_ESTATE. */
int gw_upstream_update_config(gw_upstream_t *up, const gw_server_config_t *cfg);
/* Apply new gateway settings (breaker, backoff, timeouts, health interval); keeps the session. */
void gw_upstream_set_settings(gw_upstream_t *up, const gw_upstream_settings_t *settings);

typedef void (*gw_upstream_closed_fn)(void *ud);
/* Close: pending calls fail with MCP_ECANCELED (from the loop), the session is closed (a
 * child gets stdin EOF, then SIGTERM and SIGKILL after close_grace_ms each, and is reaped),
 * handles are closed, the upstream is freed and then cb(ud) runs. No event is emitted after
 * this call. 0 or MCP_ESTATE when already closing. */
int gw_upstream_close(gw_upstream_t *up, gw_upstream_closed_fn cb, void *ud);

/* ---- calls ---- */

/* status 0: response->result; MCP_EUPSTREAM: a JSON-RPC error response (response->error_*);
 * otherwise response is NULL: MCP_ETIMEDOUT, MCP_ECANCELED, MCP_ECLOSED, MCP_EUNAVAILABLE
 * (the upstream went away and the call could not be retried), MCP_ENOMEM, a transport code. */
typedef void (*gw_upcall_fn)(gw_upcall_t *call, int status, jsonrpc_msg_t *response, void *ud);
/* notifications/progress for the call: the whole params (progressToken is the upstream's). */
typedef void (*gw_upcall_progress_fn)(gw_upcall_t *call, const cJSON *params, void *ud);

enum { GW_RETRY_AUTO = 0, GW_RETRY_NEVER, GW_RETRY_ONCE };

typedef struct gw_upcall_opts_s {
    const char *method; /* copied */
    cJSON *params;      /* taken; may be NULL */
    /* tools/call: the upstream's tool name (per-tool deadline, stats, idempotency); NULL takes
     * params.name. */
    const char *tool;
    uint64_t deadline_ms; /* the caller's deadline; 0: none (the configured one applies) */
    /* With on_progress: each progress notification extends the deadline, up to this many ms
     * after the start (0: no extension). */
    uint64_t max_deadline_ms;
    int retry; /* GW_RETRY_AUTO (by method/annotations), _NEVER, _ONCE */
    gw_upcall_fn cb;
    gw_upcall_progress_fn on_progress; /* may be NULL */
    void *ud;
} gw_upcall_opts_t;

/* Send a request to the upstream. 0 (cb will run; *out set when out is not NULL), or:
 * MCP_EINVAL, MCP_EUNAVAILABLE (disabled, no session, or the breaker refused: nothing was
 * sent), MCP_ENOMEM, or the session's error; then cb never runs. */
int gw_upstream_call(gw_upstream_t *up, const gw_upcall_opts_t *opts, gw_upcall_t **out);
/* Cancel: the upstream gets notifications/cancelled if the request was sent; cb runs later
 * with MCP_ECANCELED. 0, or MCP_ESTATE when the call already completed. */
int gw_upcall_cancel(gw_upcall_t *call, const char *reason);
gw_upstream_t *gw_upcall_upstream(const gw_upcall_t *call);
/* Microseconds from the first send to the answer (valid in the callback). */
uint64_t gw_upcall_latency_us(const gw_upcall_t *call);
/* 1 when the call was sent a second time after its session went away. */
int gw_upcall_retried(const gw_upcall_t *call);

/* The deadline a call to `tool` (NULL: not a tool call) gets, before the caller's own. */
uint64_t gw_upstream_deadline_ms(const gw_upstream_t *up, const char *tool);

/* ---- state and stats ---- */

const char *gw_upstream_name(const gw_upstream_t *up);
const gw_server_config_t *gw_upstream_config(const gw_upstream_t *up);
gw_upstream_state_t gw_upstream_state(const gw_upstream_t *up);
const char *gw_upstream_state_name(gw_upstream_state_t s);
/* 1 while ready or degraded: its items belong in the gateway's catalog. */
int gw_upstream_available(const gw_upstream_t *up);
/* Text of the last failure ("" when none). */
const char *gw_upstream_last_error(const gw_upstream_t *up);
/* The live session (NULL when none): server info, capabilities, negotiated version. */
mcp_client_t *gw_upstream_client(const gw_upstream_t *up);
/* The stdio child's pid, or 0. */
int gw_upstream_pid(const gw_upstream_t *up);
gw_breaker_t *gw_upstream_breaker(gw_upstream_t *up);
/* Milliseconds until the scheduled reconnect (0 when none is scheduled). */
uint64_t gw_upstream_reconnect_in(const gw_upstream_t *up);

/* The last listed items (arrays of the upstream's objects, unchanged; never NULL). */
const cJSON *gw_upstream_tools(const gw_upstream_t *up);
const cJSON *gw_upstream_resources(const gw_upstream_t *up);
const cJSON *gw_upstream_templates(const gw_upstream_t *up);
const cJSON *gw_upstream_prompts(const gw_upstream_t *up);
/* The tool object named `name`, or NULL. */
const cJSON *gw_upstream_find_tool(const gw_upstream_t *up, const char *name);
/* Bumped whenever a listed kind changes. */
uint64_t gw_upstream_catalog_version(const gw_upstream_t *up);

typedef struct gw_upstream_stats_s {
    uint64_t calls;           /* accepted by gw_upstream_call */
    uint64_t ok;              /* answered with a result */
    uint64_t upstream_errors; /* answered with a JSON-RPC error */
    uint64_t errors;          /* failed without an answer (timeouts included) */
    uint64_t timeouts;
    uint64_t cancelled;
    uint64_t rejected; /* refused: no session or breaker open */
    uint64_t retries;
    uint64_t connects;         /* sessions that became ready */
    uint64_t connect_failures; /* attempts that failed */
    uint64_t disconnects;      /* ready sessions lost */
    uint64_t child_exits;      /* stdio children that exited unexpectedly */
    uint64_t probes, probe_failures;
    uint64_t list_changed; /* list_changed notifications received */
    size_t inflight;
    uint64_t state_since_ms; /* monotonic ms of the last state change */
} gw_upstream_stats_t;
void gw_upstream_stats(const gw_upstream_t *up, gw_upstream_stats_t *out);
/* Latency of all calls (microseconds). Borrowed; never NULL. */
const hdr_histogram_t *gw_upstream_latency(const gw_upstream_t *up);

/* Everything above as one JSON object (for /api/mcp/servers and /health/detailed):
 * {"name","transport","enabled","critical","priority","prefix","state","stateSinceMs",
 *  "lastError","breaker":{"state","failures","opens","rejected","retryInMs"},
 *  "reconnectInMs","pid","protocolVersion","serverInfo","counts":{"tools","resources",
 *  "templates","prompts"},"stats":{...},"latencyUs":{"p50","p90","p99","max","count"}}.
 * New object, or NULL on ENOMEM. */
cJSON *gw_upstream_status_json(gw_upstream_t *up);

typedef struct gw_tool_stats_s {
    const char *tool;
    uint64_t calls, errors, timeouts;
    const hdr_histogram_t *latency; /* microseconds */
} gw_tool_stats_t;
/* Per-tool stats in first-call order: 0 and *out for index i < count, MCP_ENOTFOUND past
 * the end. */
int gw_upstream_tool_stats(const gw_upstream_t *up, size_t i, gw_tool_stats_t *out);

#endif
