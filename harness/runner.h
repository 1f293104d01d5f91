/* runner: one scenario from start to report, on a libuv loop.
 *
 * Sequence: make the run folder (<out>/<scenario name>/, files of an earlier run in it are
 * replaced), write what reproduces the run (scenario.json: the resolved scenario with the seed;
 * seed; repro: the command line), set the variables (scenario vars, --var overrides, seed,
 * scenario.name, scenario.dir, run.dir), start the processes in declaration order (or, in
 * staging mode, point gateway processes at the given URL and start nothing), run the steps in
 * order, evaluate the gates, stop every process, write the histograms and the scenario's own
 * summary.json, and call back with the filled rep_scenario_t.
 *
 * Failure policy: a failed step stops the remaining steps unless the step says
 * continueOnFailure or the scenario says "failFast": false; a step error (the step could not run
 * as written) and a process that fails to start stop the scenario with status error (exit 2).
 * The scenario timeout and runner_abort (SIGINT/SIGTERM) cancel the running step, skip the rest
 * and still stop every process and write the reports. abortOnFail gates are checked once per
 * second during load phases (after delayAbortEval) and stop the phase when they fail.
 *
 * Ownership: runner_start returns a runner owned by the caller, freed with runner_free after
 * the done callback ran (possibly inside it). The rep_scenario_t handed to the callback belongs
 * to the caller from then on. The scenario and options are borrowed until done ran. */
#ifndef HARNESS_RUNNER_H
#define HARNESS_RUNNER_H

#include "report.h"
#include "scenario.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <uv.h>

typedef struct runner_s runner_t;

typedef struct runner_options_s {
    uv_loop_t *loop;
    const char *out_dir; /* must exist */
    const char *bin_dir; /* NULL: next to the harness, then PATH */
    int has_seed;        /* --seed given */
    uint64_t seed;
    const char *gateway_url;    /* staging mode when set */
    const char *const *headers; /* "Name: value", NULL-terminated; for the staging gateway */
    const cJSON *cli_vars;      /* --var NAME=VALUE as an object of strings; may be NULL */
    const char *harness_path;   /* argv[0] as given, for the repro line */
    unsigned grace_ms;          /* process stop escalation; 0: 2000 */
    rep_term_t *term;           /* terminal output (may be NULL) */
} runner_options_t;

typedef void (*runner_done_fn)(runner_t *r, rep_scenario_t *result, void *ud);

/* Start running scn. 0 (done runs once, later) or MCP_ENOMEM. Setup failures (run folder,
 * processes) are reported through done with status error, not by the return value. */
int runner_start(const runner_options_t *opts, const scenario_t *scn, runner_done_fn done, void *ud,
                 runner_t **out);
/* Interrupt: the running step is canceled, nothing more runs, processes are stopped, reports are
 * written; done follows. signum is recorded for the exit code (128 + signum). */
void runner_abort(runner_t *r, int signum);
void runner_free(runner_t *r);

/* A fresh seed when none was given (time and pid mixed; below 2^53 so JSON keeps it exact). */
uint64_t runner_random_seed(void);

#endif
