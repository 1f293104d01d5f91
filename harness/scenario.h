/* scenario: the scenario file model, its loader and validator (docs/scenario-format.md,
 * docs/scenario.schema.json).
 *
 * A scenario is one JSON file: variables, processes to start (mocks, the gateway, any command),
 * step defaults, steps, and gates. Loading reads the file, resolves `include`s (top-level
 * fragments contributing vars, processes, defaults and gates; step-level includes inserting a
 * list of steps), applies the step defaults, and checks every field: unknown keys, wrong types,
 * duplicate keys, bad durations, bad matchers and JSON paths, bad gate expressions, references
 * to processes that are not declared. Every error names the file and the JSON path, e.g.
 *   scenarios/e2e/x.json: $.steps[2].http.method: must be a string
 * (JSON syntax errors name the line and column). Values containing `${...}` are checked for
 * their type only; they are expanded when the step runs (vars.h).
 *
 * The loaded model keeps the resolved document (includes merged, defaults applied, `include`
 * keys gone): it is what the run folder stores as scenario.json, and it runs by itself.
 *
 * Ownership: scenario_load returns a scenario owned by the caller (scenario_free). Every
 * pointer inside (names, cJSON nodes of the resolved document, steps) lives as long as it. */
#ifndef HARNESS_SCENARIO_H
#define HARNESS_SCENARIO_H

#include "gates.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Limits: include nesting and total sizes, so a cycle or a runaway file is an error. */
#define SCN_MAX_INCLUDE_DEPTH 8
#define SCN_MAX_FILE_BYTES    (16u * 1024u * 1024u)
#define SCN_MAX_STEPS         10000

typedef enum { SCN_PROC_MOCK = 0, SCN_PROC_GATEWAY, SCN_PROC_COMMAND } scn_proc_type_t;

typedef struct scn_process_s {
    const char *name; /* [A-Za-z_][A-Za-z0-9_-]* (no dots: it prefixes variable names) */
    scn_proc_type_t type;
    const cJSON *spec;         /* the process object in the resolved document */
    uint64_t ready_timeout_ns; /* readyTimeout, default 10 s */
    int autostart;             /* "start": true (default) */
} scn_process_t;

typedef enum {
    SCN_STEP_HTTP = 0,
    SCN_STEP_MCP,
    SCN_STEP_CHAT,
    SCN_STEP_WAIT,
    SCN_STEP_SLEEP,
    SCN_STEP_KILL,
    SCN_STEP_STOP,
    SCN_STEP_CONTINUE,
    SCN_STEP_RESTART,
    SCN_STEP_START,
    SCN_STEP_TERMINATE,
    SCN_STEP_SIGNAL,
    SCN_STEP_FAULTS,
    SCN_STEP_LOAD,
    SCN_STEP_KIND_COUNT_
} scn_step_kind_t;

typedef struct scn_step_s {
    char *name;                /* given, or "<kind> #<index>" */
    scn_step_kind_t kind;      /* which kind key the step has */
    const cJSON *json;         /* the whole step object (resolved document) */
    const cJSON *body;         /* the value of the kind key ("http": {...}, "sleep": "1s", ...) */
    char *where;               /* "file: $.steps[3]" in the file it came from */
    uint64_t timeout_ns;       /* step timeout (default 30 s; load: its phases + 30 s) */
    const char *histogram;     /* metric to record into, or NULL */
    int continue_on_failure;   /* a failure does not stop the scenario */
    struct scn_step_s *inner;  /* wait: the step polled (owned) */
    uint64_t wait_interval_ns; /* wait */
    const char *process;       /* kill/stop/.../signal/faults/wait.process: the process name */
} scn_step_t;

typedef struct scn_gate_s {
    char *metric;
    gate_expr_t expr;
    int abort_on_fail;
    uint64_t delay_abort_ns;
    char *where; /* "file: $.gates.calls[1]" */
} scn_gate_t;

typedef struct scenario_s {
    char *name;
    char *file; /* the path given to scenario_load */
    char *dir;  /* its directory (for ${scenario.dir}) */
    char *description;
    int has_seed;
    uint64_t seed;
    uint64_t timeout_ns; /* whole scenario; default 10 min */
    int fail_fast;       /* default 1: stop at the first failed step */
    int requires_local;  /* "requires": ["local-processes"] */
    cJSON *doc;          /* the resolved document (owned) */
    const cJSON *vars;   /* doc.vars or NULL */
    scn_process_t *procs;
    size_t nprocs;
    scn_step_t *steps;
    size_t nsteps;
    scn_gate_t *gates;
    size_t ngates;
} scenario_t;

/* Load and validate path. 0 with *out, or MCP_EINVAL / MCP_EPARSE / UV_ENOENT (...) with a
 * message naming the file and JSON path in err; MCP_ENOMEM. */
int scenario_load(const char *path, scenario_t **out, char *err, size_t errcap);
/* The same for a document in memory (`file` names it in messages and resolves includes
 * relative to its directory). */
int scenario_load_text(const char *file, const char *text, size_t len, scenario_t **out, char *err,
                       size_t errcap);
void scenario_free(scenario_t *s);

const scn_process_t *scenario_process(const scenario_t *s, const char *name);
/* "http", "mcp", "kill", ... */
const char *scn_step_kind_name(scn_step_kind_t kind);
const char *scn_proc_type_name(scn_proc_type_t type);

/* A duration: a number (milliseconds) or a string "<number><unit>", unit ns, us, µs, ms, s, m,
 * h (none: ms). 0 with *ns, or MCP_EINVAL. */
int scn_parse_duration(const cJSON *v, uint64_t *ns);
int scn_parse_duration_text(const char *s, uint64_t *ns);

#endif
