/* report: what a run leaves behind — the terminal summary, summary.json, JUnit XML, and per
 * histogram an .hlog interval log and an .hgrm percentile table.
 *
 * The runner fills one rep_scenario_t per scenario as it goes (steps, gates, events); the report
 * functions only render. Terminal: one line per step and per gate, ✓ passed, ✗ failed or error,
 * - skipped, with durations and the failure message; on a TTY a progress line (rewritten in
 * place) shows the running step. summary.json: the machine-readable version of the same, plus
 * per-metric statistics (count, errors, rate, min/mean/max and percentiles in milliseconds).
 * JUnit XML: a testsuite per scenario, a testcase per step and per gate (failures carry the
 * message), and a "setup" testcase carrying a setup error. Histograms: <run>/<metric>.hlog (V2
 * compressed intervals, readable by HistogramLogProcessor and hdr-histogram-js) and
 * <run>/<metric>.hgrm (values in ms).
 *
 * Ownership: a rep_scenario_t owns all its strings, JSON values and its metrics registry;
 * rep_scenario_free releases everything. Writers borrow. */
#ifndef HARNESS_REPORT_H
#define HARNESS_REPORT_H

#include "metrics.h"
#include "steps.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    REP_PASSED = 0,
    REP_FAILED,      /* an expectation or gate failed: exit 1 */
    REP_ERROR,       /* setup or usage error: exit 2 */
    REP_INTERRUPTED, /* SIGINT / SIGTERM */
    REP_SKIPPED,     /* staging run of a scenario that needs local processes */
} rep_status_t;

typedef struct rep_step_s {
    char *name;
    const char *kind;
    char *where;
    step_status_t status;
    int not_run; /* an earlier failure stopped the scenario before this step */
    char *message;
    uint64_t duration_ns;
    cJSON *response; /* may be NULL */
} rep_step_t;

typedef struct rep_gate_s {
    char *metric;
    char *threshold;
    char *where;
    int passed;
    int evaluated;
    int abort_on_fail;
    int aborted; /* this gate stopped a load phase */
    double observed;
    char *observed_text;
    char *message;
} rep_gate_t;

typedef struct rep_scenario_s {
    char *name;
    char *file;
    char *description;
    char *run_dir;
    char *repro;
    uint64_t seed;
    int staging;
    rep_status_t status;
    char *error; /* setup error, interruption or skip notice */
    int64_t started_wall_ms;
    uint64_t duration_ns;
    rep_step_t *steps;
    size_t nsteps, capsteps;
    rep_gate_t *gates;
    size_t ngates;
    cJSON *events; /* array of strings: unexpected exits, notices */
    metrics_t *metrics;
} rep_scenario_t;

/* A new empty scenario record (name/file copied). NULL on allocation failure. */
rep_scenario_t *rep_scenario_new(const char *name, const char *file);
void rep_scenario_free(rep_scenario_t *r);
/* Append a step outcome (strings and response copied). 0 or MCP_ENOMEM. */
int rep_add_step(rep_scenario_t *r, const char *name, const char *kind, const char *where,
                 step_status_t status, int not_run, const char *message, uint64_t duration_ns,
                 const cJSON *response);
/* Append a notice to events. */
void rep_add_event(rep_scenario_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The exit code of one scenario: 0 passed/skipped, 1 failed, 2 error, 128+sig interrupted. */
int rep_exit_code(const rep_scenario_t *r, int signum);
const char *rep_status_name(rep_status_t s);

/* ---- terminal ---- */
typedef struct rep_term_s {
    FILE *out;
    int tty;   /* progress line, colors */
    int color; /* ANSI colors */
    int progress_shown;
} rep_term_t;

void rep_term_scenario_start(rep_term_t *t, const rep_scenario_t *r);
/* Rewrite the progress line (TTY only). */
void rep_term_progress(rep_term_t *t, size_t index, size_t total, const char *step,
                       double elapsed_s);
void rep_term_step(rep_term_t *t, const rep_step_t *s);
void rep_term_gates(rep_term_t *t, const rep_scenario_t *r);
void rep_term_scenario_end(rep_term_t *t, const rep_scenario_t *r);
void rep_term_totals(rep_term_t *t, rep_scenario_t *const *list, size_t n, int exit_code);

/* ---- files ---- */
/* Per-metric .hlog and .hgrm into r->run_dir. 0 or the first error. */
int rep_write_histograms(const rep_scenario_t *r);
/* The summary of one scenario as JSON (new object, NULL on ENOMEM). */
cJSON *rep_scenario_json(const rep_scenario_t *r);
/* summary.json over all scenarios. 0 or an error. */
int rep_write_summary(const char *path, rep_scenario_t *const *list, size_t n, int exit_code,
                      int64_t started_wall_ms, uint64_t duration_ns);
/* JUnit XML over all scenarios. 0 or an error. */
int rep_write_junit(const char *path, rep_scenario_t *const *list, size_t n);
/* Write text to path atomically (temp + rename). 0 or an error. */
int rep_write_file(const char *path, const char *text, size_t len);
/* Turn a metric or scenario name into a safe file name component (into out). */
void rep_safe_name(const char *name, char *out, size_t cap);

#endif
