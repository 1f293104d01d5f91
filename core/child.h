/* child: supervision of one child process (stdio MCP servers, mocks and the gateway under test).
 *
 * A child is spawned with uv_spawn with three pipes: stdin and stdout carry the protocol (the owner
 * reads stdout with child_read_start and writes stdin through a bounded queue), stderr is split
 * into lines (linebuf, bounded) that are logged (`comp=child name=...`) or handed to a callback.
 *
 * Invariants (no zombie, no orphan):
 * - Process group: the child runs in its own session and process group (UV_PROCESS_DETACHED, i.e.
 *   setsid before exec), so every signal we send (terminate, kill, stop/continue) reaches the
 *   whole tree the child started (`npx` -> `node`, `sh -c` -> its commands), and a Ctrl-C on our
 *   terminal does not hit children behind our back: their shutdown is ours to sequence. When the
 *   child exits, whatever is left in its group is SIGKILLed.
 * - Parent death: the child gets SIGKILL when our process dies (PR_SET_PDEATHSIG). libuv has no
 *   hook between fork and exec, so uv_spawn runs our own binary (/proc/self/exe, resolved in the
 *   parent) with two marker variables in its environment; a constructor in this module (it runs
 *   before main in every binary that links the child module, hence in the re-executed copy) sees
 *   them, removes them, calls prctl(PR_SET_PDEATHSIG, SIGKILL), checks getppid() against the
 *   spawner's pid (the parent may have died before the prctl: then it exits at once), and
 *   execv()s the real program. PDEATHSIG survives execve (except into set-uid/set-gid or
 *   file-capability binaries) and fires when the spawning *thread* exits: spawn from the thread
 *   that runs the loop for the life of the process (the project runs one loop in the main thread).
 *   Alternatives rejected: `setpriv --pdeathsig` (an extra runtime dependency and no getppid()
 *   race check), a separate helper binary (must be located at run time, breaks when build and
 *   install layouts differ), our own fork/exec (duplicates libuv's SIGCHLD reaping).
 *   Grandchildren are covered by the group kill on exit and terminate, not by PDEATHSIG.
 * - Reaping: libuv reaps the process (SIGCHLD); the process handle stays open until it has, even
 *   after child_close, so an owner can never leak a zombie by closing early.
 * - Exit callback: after a successful child_spawn, on_exit runs exactly once, after the process was
 *   reaped and stdout (when being read) and stderr reached end of file, so every byte and stderr
 *   line is delivered before it (a grandchild that escaped the group and holds the pipes open is
 *   bounded by `drain_ms`). It does not run once the owner has called child_close.
 *
 * Ownership: child_spawn returns a child owned by the caller, released with child_close (always,
 * also after on_exit). child_close may be called from any callback of the child; no callback runs
 * after it returns and the memory is freed in libuv close callbacks (later in the loop). Strings
 * and arrays in child_options_t are copied or used only during child_spawn. Data passed to
 * child_write is copied. Single-threaded: use a child only on its loop's thread.
 *
 * child_spawn ignores SIGPIPE in this process (once; only if it was SIG_DFL): writing to a child
 * that died must give EPIPE, not kill us. libuv resets signal dispositions in the child. */
#ifndef MCP_CHILD_H
#define MCP_CHILD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

typedef struct child_s child_t;

/* Called exactly once (see above). exit_status is the exit code (0 when killed by a signal);
 * term_signal is the signal that killed it or 0. The child stays valid until child_close. */
typedef void (*child_exit_fn)(child_t *child, int64_t exit_status, int term_signal, void *ud);
/* One stderr line without its newline, NUL-terminated, valid during the call. */
typedef void (*child_line_fn)(child_t *child, const char *line, size_t len, void *ud);
/* Bytes from stdout (nread > 0; data is writable and valid during the call), or once at the end of
 * the stream nread < 0: UV_EOF or a read error (data NULL). Reading stops by itself after that. */
typedef void (*child_read_fn)(child_t *child, char *data, ssize_t nread, void *ud);
/* A write was flushed to the pipe (status 0) or failed (e.g. UV_EPIPE, UV_ECANCELED). */
typedef void (*child_write_fn)(child_t *child, int status, void *ud);

typedef struct child_options_s {
    const char *name; /* for logs; default: basename of file */
    const char *file; /* program; searched in the child's PATH when it has no '/' */
    /* Arguments after argv[0] (argv[0] is `file`), NULL-terminated; NULL for none. */
    const char *const *args;
    /* Environment entries, NULL-terminated: "KEY=VALUE" sets, "KEY" (no '=') removes an inherited
     * variable. Added to our environment, or the whole environment when clean_env is set. */
    const char *const *env;
    int clean_env;
    const char *cwd;         /* NULL: ours */
    int no_pdeathsig;        /* 1: exec directly, the child may outlive us (not recommended) */
    size_t max_stderr_line;  /* default 8 KiB; longer lines are reported and skipped */
    size_t max_write_queue;  /* bytes queued for stdin and not yet flushed; default 4 MiB */
    unsigned drain_ms;       /* after exit, how long to wait for the pipes' EOF; default 1000 */
    child_exit_fn on_exit;   /* may be NULL */
    child_line_fn on_stderr; /* NULL: each line is logged at info level */
    void *userdata;          /* passed to every callback */
} child_options_t;

/* Spawn a child. 0 and *out set, or a negative code and no callback will ever run: MCP_EINVAL
 * (no loop/file/out), UV_ENOENT / UV_EACCES (program not found / not executable, checked before
 * forking), MCP_ENOMEM, or uv_spawn's error. */
int child_spawn(uv_loop_t *loop, const child_options_t *opts, child_t **out);

/* Release the child. A running child gets SIGKILL (to its group) and is reaped in the background;
 * handles are closed and memory freed from close callbacks. No callback runs after this call.
 * Safe inside any of the child's callbacks. NULL is a no-op. */
void child_close(child_t *child);

/* Start delivering stdout bytes to cb (replaces a previous cb). 0, MCP_ESTATE after EOF or close,
 * or a libuv error. */
int child_read_start(child_t *child, child_read_fn cb);
/* Stop delivering stdout (flow control). 0 or a libuv error. */
int child_read_stop(child_t *child);

/* Queue bytes for the child's stdin. The bytes are copied (or written at once when the pipe takes
 * them and cb is NULL). cb (may be NULL) runs from the loop, never from inside this call, unless
 * the child is closed first. Returns 0, MCP_ENOBUFS (the queue would exceed max_write_queue;
 * nothing written), MCP_ECLOSED (stdin closed or the child is closed), MCP_ENOMEM, or a libuv
 * error (e.g. UV_EPIPE); on error cb does not run. */
int child_write(child_t *child, const uv_buf_t *bufs, unsigned nbufs, child_write_fn cb, void *ud);
/* Bytes accepted by child_write and not yet flushed to the pipe. */
size_t child_write_queue_size(const child_t *child);

/* Close stdin after the queued writes are flushed (the child sees end of file). Idempotent. */
void child_close_stdin(child_t *child);

/* Graceful stop: close stdin; after grace_ms send SIGTERM to the process group; after another
 * grace_ms send SIGKILL. on_exit reports the outcome. 0 (also when already exited or already
 * terminating) or MCP_ESTATE after child_close. */
int child_terminate(child_t *child, unsigned grace_ms);

/* Send a signal to the child's process group (SIGSTOP/SIGCONT for fault injection, ...).
 * 0, MCP_ESTATE when the child was already reaped, or a libuv error. */
int child_signal(child_t *child, int signum);

pid_t child_pid(const child_t *child);
const char *child_name(const child_t *child);
/* 1 once the process has been reaped. */
int child_exited(const child_t *child);

#endif
