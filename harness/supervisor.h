/* supervisor: the processes of a scenario run — mocks, the gateway, any command.
 *
 * Starting a process: its binary is found (the spec's `binary`, else next to mcp-harness, else
 * on PATH), its port is chosen at run time, its configuration is written into the run folder
 * with variables substituted, and it is spawned with core/child (own process group, SIGKILL when
 * the harness dies, always reaped). Its stdout and stderr go to <run>/<name>.stdout.log and
 * <name>.stderr.log. The start completes when the process is ready:
 *   mock, http/sse   mcp-mock writes its URL into --ready-file (race-free: the mock binds port 0
 *                    itself); the readiness line on stdout (`url=...`) is accepted as well
 *   mock, stdio      the harness is the mock's MCP client: ready when initialize succeeded
 *   gateway          GET <base><readyPath> (default /health/ready) answers 200; its port is
 *                    picked by binding 127.0.0.1:0 just before the start
 *   command          `ready`: an HTTP URL answering 2xx, a file appearing, or a regex matching a
 *                    stdout/stderr line; none: ready once spawned
 * within the spec's readyTimeout; a process that exits first, or is not ready in time, fails
 * the start with its exit status and last stderr lines. Once ready, the process's attributes
 * become variables: NAME.url, NAME.base (scheme://host:port), NAME.host, NAME.port, NAME.pid
 * (mocks also NAME.mcp and NAME.sse).
 *
 * Actions (fault injection): kill (SIGKILL to the group, completes when reaped), terminate
 * (SIGTERM, then SIGKILL after the grace time), stop / continue (SIGSTOP / SIGCONT; stop
 * completes once the kernel reports the process stopped), restart (terminate, then start on
 * the same port), start (a process declared with "start": false, or one that exited), signal
 * (any signal), and live fault rules for mocks (PUT/DELETE /_mock/faults over HTTP; for stdio
 * mocks the --faults file is rewritten and SIGHUP sent, confirmed by a ping round trip).
 *
 * No process is left behind: sup_stop_all continues stopped processes, sends SIGTERM to every
 * group and SIGKILL after the grace time, and completes when every child was reaped;
 * sup_free SIGKILLs whatever is still running; PR_SET_PDEATHSIG covers a harness killed by
 * SIGKILL. Signal handling (SIGINT/SIGTERM) belongs to the caller, which calls sup_stop_all.
 *
 * Callbacks never run from inside the call that was given them; when a call fails it returns
 * the error and its callback never runs. Ownership: the supervisor owns its processes; names and
 * messages passed to callbacks are valid during the callback. The vars store and the
 * http_client are borrowed and must outlive the supervisor. */
#ifndef HARNESS_SUPERVISOR_H
#define HARNESS_SUPERVISOR_H

#include "http_client.h"
#include "mcp_client.h"
#include "scenario.h"
#include "vars.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

typedef struct sup_s sup_t;
typedef struct sup_proc_s sup_proc_t;

typedef enum {
    SUP_ACT_KILL = 0,
    SUP_ACT_TERMINATE,
    SUP_ACT_STOP,
    SUP_ACT_CONTINUE,
    SUP_ACT_RESTART,
    SUP_ACT_START,
    SUP_ACT_SIGNAL,
} sup_action_t;

typedef struct sup_options_s {
    const char *run_dir; /* logs, configs, ready files (must exist) */
    const char *bin_dir; /* searched first for mcp-mock / mcp-gateway; NULL: our own directory */
    uint64_t seed;       /* mocks get --seed derived from it and their name */
    unsigned grace_ms;   /* SIGTERM -> SIGKILL escalation; default 2000 */
    http_client_t *http; /* for readiness probes and /_mock/faults (borrowed) */
    vars_t *vars;        /* published attributes, and expansion of specs (borrowed) */
} sup_options_t;

/* status 0 on success, else a negative code with a one-line message. */
typedef void (*sup_done_fn)(sup_t *s, const char *name, int status, const char *message, void *ud);
typedef void (*sup_all_done_fn)(sup_t *s, void *ud);
/* A process exited without being asked to (for reports). */
typedef void (*sup_exit_fn)(sup_t *s, const char *name, int64_t exit_status, int term_signal,
                            void *ud);

/* 0 or MCP_ENOMEM / MCP_EINVAL. */
int sup_new(uv_loop_t *loop, const sup_options_t *opts, sup_t **out);
/* Notify about unexpected exits (may be NULL). */
void sup_set_exit_callback(sup_t *s, sup_exit_fn cb, void *ud);

/* Start a declared process (see above). 0 (cb runs once, later) or an error with a message
 * in err (binary not found, bad spec after expansion, spawn failure, already running). */
int sup_start(sup_t *s, const scn_process_t *spec, sup_done_fn cb, void *ud, char *err,
              size_t errcap);

/* An action on a started process. signum is used by SUP_ACT_SIGNAL. 0 (cb runs once, later)
 * or an error with a message (unknown process, not running, not a mock...). */
int sup_action(sup_t *s, const char *name, sup_action_t action, int signum, sup_done_fn cb,
               void *ud, char *err, size_t errcap);

/* Replace a mock's fault rules live (rules NULL, JSON null or [] clears them). */
int sup_set_faults(sup_t *s, const char *name, const cJSON *rules, sup_done_fn cb, void *ud,
                   char *err, size_t errcap);

/* Wait until the process has exited (reaped). Completes at once (from the loop) when it is not
 * running. */
int sup_wait_exit(sup_t *s, const char *name, sup_done_fn cb, void *ud, char *err, size_t errcap);

/* Stop everything (see above); pending operations complete with MCP_ECANCELED first. cb runs
 * once, from the loop, when no child is left. Calling it again replaces nothing: the second
 * cb is ignored while a stop is in progress (returns MCP_ESTATE). */
int sup_stop_all(sup_t *s, sup_all_done_fn cb, void *ud);

/* Release everything: children still running get SIGKILL (to the group) and are reaped in the
 * background; handles close from the loop (run it afterwards until it has nothing left). */
void sup_free(sup_t *s);

/* ---- queries ---- */
sup_proc_t *sup_find(const sup_t *s, const char *name);
size_t sup_count(const sup_t *s);
sup_proc_t *sup_at(const sup_t *s, size_t i);
const char *sup_proc_name(const sup_proc_t *p);
scn_proc_type_t sup_proc_type(const sup_proc_t *p);
/* "stdio", "http", "sse" for mocks; "http" for the gateway; "" for commands. */
const char *sup_proc_transport(const sup_proc_t *p);
/* 1 while the process is alive (started and not yet reaped; stopped counts as alive). */
int sup_proc_running(const sup_proc_t *p);
int sup_proc_ready(const sup_proc_t *p);
pid_t sup_proc_pid(const sup_proc_t *p);
/* The MCP client of a stdio mock (NULL otherwise or when not running). Owned by the
 * supervisor. */
mcp_client_t *sup_proc_client(const sup_proc_t *p);
/* How many times the process was (re)started; a session cache keyed by it knows when a
 * process behind a session was replaced. */
unsigned sup_proc_generation(const sup_proc_t *p);
/* Process ids of every child started during the run (for the no-leftover check in reports and
 * tests). */
size_t sup_pids(const sup_t *s, pid_t *out, size_t cap);

/* Find a program: absolute/relative path as is; else bin_dir, our own directory, PATH.
 * 0 with *out (mcp_free), or UV_ENOENT with a message in err. */
int sup_find_binary(const char *name, const char *bin_dir, char **out, char *err, size_t errcap);
/* A free TCP port on 127.0.0.1 (bind to port 0 and close). 0 or a libuv error. */
int sup_pick_port(uint16_t *port);
/* A signal by name ("HUP", "SIGUSR1", "9"); -1 when unknown. */
int sup_signal_number(const char *name);

#endif
