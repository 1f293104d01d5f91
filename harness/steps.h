/* steps: runs one scenario step at a time — HTTP, MCP and chat requests with expectations and
 * captures, waits that poll, sleeps, process actions, live fault rules and load phases.
 *
 * A step runs with its strings expanded (vars.h) at the moment it starts, so captures of earlier
 * steps are visible. Its outcome is a result: passed, failed (an expectation did not hold, the
 * request failed, the step timed out), error (the step could not be run as written: unknown
 * variable, a feature this build lacks — the run's exit code is 2 then), or skipped (staging mode:
 * the step needs a local process). Every step has a timeout; a step that names a histogram
 * records its latency there (failed attempts count as errors).
 *
 * Responses are matched as JSON documents:
 *   http/chat  the body (JSON when it parses) for `expect.json` and captures; status, headers and
 *              body text have their own expectations; without `expect.status` a status of 400
 *              or more fails the step
 *   mcp        the JSON-RPC response {"result": ...} or {"error": {...}}; `expect.result` paths
 *              are relative to the result, `expect.error` to the error; without `expect.error`
 *              a JSON-RPC error fails the step, without `expect.failure` a transport failure does
 * MCP sessions are opened on first use per (target, session name) and kept for later steps; a
 * session whose process was restarted is opened again. `method: "initialize"` always opens a
 * fresh session and answers with the negotiated version, serverInfo and capabilities.
 *
 * Staging mode (a gateway URL given): gateway processes resolve to that URL (requests to it carry
 * the extra headers), and steps that need a local process are skipped with a notice.
 *
 * Lifetimes: steps_run's callback runs exactly once, later, from the loop (never inside
 * steps_run); the result passed to it is valid during the callback. steps_cancel makes the
 * running step finish (failed, "canceled") soon. steps_close closes the MCP sessions and runs
 * its callback when everything is released. The context's members are borrowed. */
#ifndef HARNESS_STEPS_H
#define HARNESS_STEPS_H

#include "http_client.h"
#include "metrics.h"
#include "scenario.h"
#include "supervisor.h"
#include "vars.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <uv.h>

typedef struct steps_s steps_t;

typedef enum { STEP_PASSED = 0, STEP_FAILED, STEP_ERROR, STEP_SKIPPED } step_status_t;

typedef struct step_result_s {
    step_status_t status;
    const char *message;   /* failure reason, error, skip notice; "" when passed */
    uint64_t duration_ns;  /* from start to the outcome */
    const cJSON *response; /* the matched document (may be NULL), for reports */
    int gate_aborted;      /* a load phase stopped by an abortOnFail gate */
} step_result_t;

typedef void (*steps_done_fn)(steps_t *st, const scn_step_t *step, const step_result_t *result,
                              void *ud);
typedef void (*steps_closed_fn)(steps_t *st, void *ud);
/* During a load phase, once per second: return non-zero to abort the phase (a gate with
 * abortOnFail failed); *why names the gate. `elapsed_ns` is the phase's run time. */
typedef int (*steps_gate_check_fn)(steps_t *st, const char *metric, uint64_t elapsed_ns, char *why,
                                   size_t whycap, void *ud);

typedef struct steps_options_s {
    uv_loop_t *loop;
    sup_t *sup;
    vars_t *vars;
    metrics_t *metrics;
    http_client_t *http;
    const scenario_t *scenario;
    uint64_t seed;
    /* staging */
    const char *gateway_url;    /* base URL of a running gateway, or NULL */
    const char *const *headers; /* "Name: value" lines for requests to it, NULL-terminated */
    steps_gate_check_fn gate_check;
    void *gate_ud;
} steps_options_t;

/* 0 or MCP_ENOMEM / MCP_EINVAL. */
int steps_new(const steps_options_t *opts, steps_t **out);
/* Run one step. 0 (cb runs once, later) or MCP_ESTATE (a step is already running / closing). */
int steps_run(steps_t *st, const scn_step_t *step, steps_done_fn cb, void *ud);
/* Make the running step (if any) finish soon as failed with `reason`. */
void steps_cancel(steps_t *st, const char *reason);
/* Close the sessions; cb runs once, later, when all is released; then steps_free. */
int steps_close(steps_t *st, steps_closed_fn cb, void *ud);
void steps_free(steps_t *st);

/* Whether the step needs a process the harness starts locally (a fault action, or a target,
 * URL or variable of a non-gateway process); in staging mode such steps are skipped. When it
 * does, a notice is written to why. */
int steps_needs_local(const steps_t *st, const scn_step_t *step, char *why, size_t whycap);

/* 1 when load phases are built in (harness/load.c linked). */
int steps_have_load(void);
/* 1 when MCP over HTTP is built in (core/mcp_client_http linked). */
int steps_have_mcp_http(void);

#endif
