#include "child.h"

#include "alloc.h"
#include "errors.h"
#include "linebuf.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define CHILD_ENV_PPID "MCP_CHILD_EXEC_PPID"
#define CHILD_ENV_FILE "MCP_CHILD_EXEC_FILE"

#define CHILD_DEFAULT_STDERR_LINE (8u * 1024)
#define CHILD_DEFAULT_WRITE_QUEUE (4u * 1024 * 1024)
#define CHILD_DEFAULT_DRAIN_MS    1000u
#define CHILD_OUT_BUF             (64u * 1024)
#define CHILD_ERR_BUF             (8u * 1024)

extern char **environ;

typedef enum { STDIN_OPEN = 0, STDIN_SHUTTING, STDIN_CLOSED } stdin_state_t;
typedef enum { TERM_NONE = 0, TERM_WAIT_TERM, TERM_WAIT_KILL, TERM_DONE } term_phase_t;

struct child_s {
    uv_loop_t *loop;
    char *name;
    pid_t pid;
    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_timer_t timer; /* terminate escalation before exit, pipe drain after it */
    int open_handles;
    int closing;     /* child_close was called: no more user callbacks */
    int exited;      /* reaped */
    int finished;    /* on_exit delivered (or suppressed) */
    int reading_out; /* stdout is being read and EOF not seen */
    int out_eof;     /* stdout EOF or error seen */
    int err_done;    /* stderr EOF or error */
    stdin_state_t stdin_state;
    term_phase_t term_phase;
    unsigned term_grace_ms;
    unsigned drain_ms;
    int64_t exit_status;
    int term_signal;
    size_t queued;
    size_t max_queued;
    linebuf_t err_lines;
    child_exit_fn on_exit;
    child_line_fn on_stderr;
    child_read_fn on_read;
    void *ud;
    char out_buf[CHILD_OUT_BUF];
    char err_buf[CHILD_ERR_BUF];
};

typedef struct {
    uv_write_t req;
    child_t *child;
    size_t len;
    child_write_fn cb;
    void *ud;
    char data[];
} child_wreq_t;

/* ---- exec helper: runs in the re-executed copy of our binary, before main ---- */

/* glibc passes argc/argv/envp to ELF constructors. Priority 101: before the program's own
 * constructors, so nothing of the parent program runs in the helper. */
__attribute__((constructor(101))) static void child_exec_helper(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)envp;
    const char *ppid_s = getenv(CHILD_ENV_PPID);
    const char *file_s = getenv(CHILD_ENV_FILE);
    if (!ppid_s || !file_s)
        return;
    char file[PATH_MAX];
    if (strlen(file_s) >= sizeof file) {
        dprintf(2, "mcp child helper: program path too long\n");
        _exit(127);
    }
    strcpy(file, file_s);
    long ppid = strtol(ppid_s, NULL, 10);
    unsetenv(CHILD_ENV_PPID);
    unsetenv(CHILD_ENV_FILE);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        dprintf(2, "mcp child helper: prctl(PR_SET_PDEATHSIG): %s\n", strerror(errno));
        _exit(127);
    }
    /* The spawner died between fork and prctl: we were already reparented. */
    if ((long)getppid() != ppid)
        _exit(127);
    execv(file, argv);
    dprintf(2, "mcp child helper: exec %s: %s\n", file, strerror(errno));
    _exit(127);
}

/* Absolute path of our executable, resolved once in the parent (under valgrind the kernel's
 * /proc/self/exe is the tool, the readlink is virtualised to the client program). */
static const char *self_exe(void)
{
    static char path[PATH_MAX];
    static int state; /* 0 unknown, 1 ok, -1 failed */
    if (state == 0) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n <= 0 || (size_t)n >= sizeof path - 1) {
            state = -1;
        } else {
            path[n] = '\0';
            state = strstr(path, " (deleted)") ? -1 : 1;
        }
        if (state < 0)
            LOG_W("child", "cannot resolve /proc/self/exe; children spawn without PDEATHSIG", NULL);
    }
    return state > 0 ? path : NULL;
}

/* ---- spawn helpers ---- */

static const char *env_lookup(const char *const *env, const char *key)
{
    size_t klen = strlen(key);
    const char *found = NULL;
    for (; env && *env; env++) {
        if (strncmp(*env, key, klen) == 0 && ((*env)[klen] == '=' || (*env)[klen] == '\0'))
            found = (*env)[klen] == '=' ? *env + klen + 1 : NULL;
    }
    return found;
}

static int env_has_key(const char *const *env, const char *entry)
{
    size_t klen = strcspn(entry, "=");
    for (; env && *env; env++) {
        if (strncmp(*env, entry, klen) == 0 && ((*env)[klen] == '=' || (*env)[klen] == '\0'))
            return 1;
    }
    return 0;
}

/* Build the child's environment (pointers into environ and opts->env, plus `extra` entries).
 * The array is freed by the caller; the strings are not owned. */
static char **build_env(const child_options_t *opts, char *const *extra, size_t nextra)
{
    size_t n = 0;
    if (!opts->clean_env)
        for (char **e = environ; e && *e; e++)
            n++;
    for (const char *const *e = opts->env; e && *e; e++)
        n++;
    char **env = mcp_calloc(n + nextra + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t i = 0;
    if (!opts->clean_env)
        for (char **e = environ; e && *e; e++)
            if (!env_has_key(opts->env, *e) && strncmp(*e, "MCP_CHILD_EXEC_", 15) != 0)
                env[i++] = *e;
    for (const char *const *e = opts->env; e && *e; e++) {
        if (!strchr(*e, '='))
            continue;
        /* A later entry for the same key wins. */
        size_t klen = strcspn(*e, "=");
        int later = 0;
        for (const char *const *l = e + 1; *l; l++)
            if (strncmp(*l, *e, klen) == 0 && ((*l)[klen] == '=' || (*l)[klen] == '\0'))
                later = 1;
        if (!later)
            env[i++] = (char *)*e;
    }
    for (size_t k = 0; k < nextra; k++)
        env[i++] = extra[k];
    env[i] = NULL;
    return env;
}

/* Find the program the way execvp would in the child (its PATH, its cwd), so that a missing
 * program is an error from child_spawn rather than an exit code 127 later. */
static int resolve_program(const child_options_t *opts, char **out)
{
    const char *file = opts->file;
    if (strchr(file, '/')) {
        char *path = (file[0] != '/' && opts->cwd) ? mcp_asprintf("%s/%s", opts->cwd, file)
                                                   : mcp_strdup(file);
        if (!path)
            return MCP_ENOMEM;
        if (access(path, X_OK) != 0) {
            int err = errno == EACCES ? UV_EACCES : UV_ENOENT;
            mcp_free(path);
            return err;
        }
        /* Hand the helper the name as given: it execs after libuv's chdir. */
        mcp_free(path);
        *out = mcp_strdup(file);
        return *out ? 0 : MCP_ENOMEM;
    }
    const char *path = NULL;
    int overridden = env_has_key(opts->env, "PATH");
    if (overridden)
        path = env_lookup(opts->env, "PATH");
    else if (!opts->clean_env)
        path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/bin:/usr/bin";
    int err = UV_ENOENT;
    while (*path) {
        size_t dlen = strcspn(path, ":");
        char *cand;
        if (dlen == 0)
            cand = mcp_asprintf("%s", file);
        else if (path[0] != '/' && opts->cwd)
            cand = mcp_asprintf("%s/%.*s/%s", opts->cwd, (int)dlen, path, file);
        else
            cand = mcp_asprintf("%.*s/%s", (int)dlen, path, file);
        if (!cand)
            return MCP_ENOMEM;
        if (access(cand, X_OK) == 0) {
            if (cand[0] != '/' && opts->cwd) {
                /* Relative PATH entries were joined with cwd; the helper runs inside cwd. */
                char *rel =
                    dlen ? mcp_asprintf("%.*s/%s", (int)dlen, path, file) : mcp_strdup(file);
                mcp_free(cand);
                cand = rel;
                if (!cand)
                    return MCP_ENOMEM;
            }
            *out = cand;
            return 0;
        }
        if (errno == EACCES)
            err = UV_EACCES;
        mcp_free(cand);
        path += dlen;
        if (*path == ':')
            path++;
    }
    return err;
}

static void ignore_sigpipe(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

/* ---- lifetime ---- */

static void child_free(child_t *c)
{
    linebuf_free(&c->err_lines);
    mcp_free(c->name);
    mcp_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    child_t *c = h->data;
    if (--c->open_handles == 0)
        child_free(c);
}

static void close_handle(child_t *c, uv_handle_t *h)
{
    if (h->data && !uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

static int group_kill(child_t *c, int signum)
{
    /* The group id is the child's pid (setsid). The pid is still ours while it is unreaped. */
    if (kill(-c->pid, signum) == 0)
        return 0;
    int err = -errno;
    if (err == UV_ESRCH && kill(c->pid, signum) == 0)
        return 0;
    return err;
}

static void deliver_exit(child_t *c)
{
    if (c->finished)
        return;
    c->finished = 1;
    uv_timer_stop(&c->timer);
    if (!c->closing && c->on_exit)
        c->on_exit(c, c->exit_status, c->term_signal, c->ud);
}

static void maybe_finish(child_t *c)
{
    if (c->exited && !c->reading_out && c->err_done)
        deliver_exit(c);
}

static void flush_stderr(child_t *c)
{
    linebuf_finish(&c->err_lines);
}

static void on_timer(uv_timer_t *t)
{
    child_t *c = t->data;
    if (c->exited) {
        /* Drain timeout (something outside the group holds our pipes open), or the deferred
         * finish after child_read_stop. */
        if (c->reading_out || !c->err_done)
            LOG_W("child", "pipes still open after exit", "name=%s pid=%d", log_quote(c->name),
                  (int)c->pid);
        if (c->reading_out) {
            uv_read_stop((uv_stream_t *)&c->out);
            c->reading_out = 0;
        }
        if (!c->err_done) {
            uv_read_stop((uv_stream_t *)&c->err);
            c->err_done = 1;
            flush_stderr(c);
        }
        deliver_exit(c);
        return;
    }
    if (c->term_phase == TERM_WAIT_TERM) {
        LOG_I("child", "sending SIGTERM", "name=%s pid=%d", log_quote(c->name), (int)c->pid);
        group_kill(c, SIGTERM);
        c->term_phase = TERM_WAIT_KILL;
        uv_timer_start(&c->timer, on_timer, c->term_grace_ms, 0);
    } else if (c->term_phase == TERM_WAIT_KILL) {
        LOG_W("child", "sending SIGKILL", "name=%s pid=%d", log_quote(c->name), (int)c->pid);
        group_kill(c, SIGKILL);
        c->term_phase = TERM_DONE;
    }
}

static void on_proc_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    child_t *c = p->data;
    c->exited = 1;
    c->exit_status = exit_status;
    c->term_signal = term_signal;
    /* No orphans: whatever the child left in its group goes with it. The group id cannot be
     * reused while a member is alive. */
    kill(-c->pid, SIGKILL);
    uv_timer_stop(&c->timer);
    LOG_D("child", "exited", "name=%s pid=%d status=%lld signal=%d", log_quote(c->name),
          (int)c->pid, (long long)exit_status, term_signal);
    if (c->closing) {
        close_handle(c, (uv_handle_t *)&c->proc);
        return;
    }
    if (c->reading_out || !c->err_done)
        uv_timer_start(&c->timer, on_timer, c->drain_ms, 0);
    maybe_finish(c);
}

/* ---- stderr ---- */

static int on_err_line(void *ud, char *line, size_t len)
{
    child_t *c = ud;
    if (c->closing)
        return 1;
    if (c->on_stderr)
        c->on_stderr(c, line, len, c->ud);
    else
        LOG_I("child", "stderr", "name=%s pid=%d line=%s", log_quote(c->name), (int)c->pid,
              log_quote(line));
    return c->closing ? 1 : 0;
}

static void on_err_overflow(void *ud, size_t seen)
{
    child_t *c = ud;
    LOG_W("child", "stderr line too long, skipped", "name=%s pid=%d bytes=%zu", log_quote(c->name),
          (int)c->pid, seen);
}

static void err_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    child_t *c = h->data;
    (void)hint;
    *buf = uv_buf_init(c->err_buf, sizeof c->err_buf);
}

static void err_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    child_t *c = s->data;
    if (nread > 0) {
        linebuf_feed(&c->err_lines, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;
    uv_read_stop(s);
    c->err_done = 1;
    if (!c->closing)
        flush_stderr(c);
    maybe_finish(c);
}

/* ---- stdout ---- */

static void out_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    child_t *c = h->data;
    (void)hint;
    *buf = uv_buf_init(c->out_buf, sizeof c->out_buf);
}

static void out_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    child_t *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        uv_read_stop(s);
        c->reading_out = 0;
        c->out_eof = 1;
    }
    if (c->on_read)
        c->on_read(c, nread > 0 ? buf->base : NULL, nread, c->ud);
    if (nread < 0 && !c->closing)
        maybe_finish(c);
}

int child_read_start(child_t *child, child_read_fn cb)
{
    if (!child || !cb)
        return MCP_EINVAL;
    if (child->closing || child->finished || child->out_eof)
        return MCP_ESTATE;
    child->on_read = cb;
    if (child->reading_out)
        return 0;
    int rc = uv_read_start((uv_stream_t *)&child->out, out_alloc, out_read);
    if (rc == 0)
        child->reading_out = 1;
    return rc;
}

int child_read_stop(child_t *child)
{
    if (!child)
        return MCP_EINVAL;
    if (!child->reading_out)
        return 0;
    child->reading_out = 0;
    int rc = uv_read_stop((uv_stream_t *)&child->out);
    /* on_exit may now be due: deliver it from the loop, not from inside this call. */
    if (child->exited && !child->finished && child->err_done)
        uv_timer_start(&child->timer, on_timer, 0, 0);
    return rc;
}

/* ---- stdin ---- */

static void on_write_done(uv_write_t *req, int status)
{
    child_wreq_t *w = (child_wreq_t *)req;
    child_t *c = w->child;
    c->queued -= w->len;
    if (w->cb && !c->closing)
        w->cb(c, status, w->ud);
    mcp_free(w);
}

size_t child_write_queue_size(const child_t *child)
{
    return child ? child->queued : 0;
}

int child_write(child_t *child, const uv_buf_t *bufs, unsigned nbufs, child_write_fn cb, void *ud)
{
    if (!child || (!bufs && nbufs))
        return MCP_EINVAL;
    if (child->closing || child->stdin_state != STDIN_OPEN)
        return MCP_ECLOSED;
    size_t total = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (child->queued + total > child->max_queued)
        return MCP_ENOBUFS;
    size_t skip = 0;
    /* Fast path: nothing queued and nobody waits for a callback: write what the pipe takes now,
     * without copying. */
    if (!cb && child->queued == 0 && total) {
        int n = uv_try_write((uv_stream_t *)&child->in, bufs, nbufs);
        if (n >= 0)
            skip = (size_t)n;
        else if (n != UV_EAGAIN)
            return n;
        if (skip == total)
            return 0;
    }
    size_t rest = total - skip;
    child_wreq_t *w = mcp_malloc(sizeof *w + rest + 1);
    if (!w)
        return MCP_ENOMEM;
    size_t off = 0, seen = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t len = bufs[i].len, from = 0;
        if (seen + len <= skip) {
            seen += len;
            continue;
        }
        if (seen < skip)
            from = skip - seen;
        memcpy(w->data + off, bufs[i].base + from, len - from);
        off += len - from;
        seen += len;
    }
    w->child = child;
    w->len = rest;
    w->cb = cb;
    w->ud = ud;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)rest);
    int rc = uv_write(&w->req, (uv_stream_t *)&child->in, &b, 1, on_write_done);
    if (rc != 0) {
        mcp_free(w);
        return rc;
    }
    child->queued += rest;
    return 0;
}

static void on_stdin_shutdown(uv_shutdown_t *req, int status)
{
    child_t *c = req->data;
    (void)status;
    mcp_free(req);
    c->stdin_state = STDIN_CLOSED;
    close_handle(c, (uv_handle_t *)&c->in);
}

void child_close_stdin(child_t *child)
{
    if (!child || child->stdin_state != STDIN_OPEN)
        return;
    uv_shutdown_t *req = mcp_malloc(sizeof *req);
    if (req) {
        req->data = child;
        if (uv_shutdown(req, (uv_stream_t *)&child->in, on_stdin_shutdown) == 0) {
            child->stdin_state = STDIN_SHUTTING;
            return;
        }
        mcp_free(req);
    }
    /* Pending writes are cancelled; their callbacks get UV_ECANCELED. */
    child->stdin_state = STDIN_CLOSED;
    close_handle(child, (uv_handle_t *)&child->in);
}

/* ---- control ---- */

int child_terminate(child_t *child, unsigned grace_ms)
{
    if (!child)
        return MCP_EINVAL;
    if (child->closing)
        return MCP_ESTATE;
    if (child->exited || child->term_phase != TERM_NONE)
        return 0;
    child_close_stdin(child);
    child->term_grace_ms = grace_ms;
    child->term_phase = TERM_WAIT_TERM;
    return uv_timer_start(&child->timer, on_timer, grace_ms, 0);
}

int child_signal(child_t *child, int signum)
{
    if (!child)
        return MCP_EINVAL;
    if (child->exited)
        return MCP_ESTATE;
    return group_kill(child, signum);
}

void child_close(child_t *child)
{
    if (!child || child->closing)
        return;
    child->closing = 1;
    child->finished = 1;
    if (!child->exited) {
        /* Keep the process handle until libuv reaps the child: closing it now would leave a
         * zombie behind. */
        group_kill(child, SIGKILL);
    } else {
        close_handle(child, (uv_handle_t *)&child->proc);
    }
    /* A pending shutdown is cancelled by the close (its callback gets UV_ECANCELED). */
    close_handle(child, (uv_handle_t *)&child->in);
    close_handle(child, (uv_handle_t *)&child->out);
    close_handle(child, (uv_handle_t *)&child->err);
    close_handle(child, (uv_handle_t *)&child->timer);
}

pid_t child_pid(const child_t *child)
{
    return child ? child->pid : 0;
}

const char *child_name(const child_t *child)
{
    return child ? child->name : NULL;
}

int child_exited(const child_t *child)
{
    return child ? child->exited : 0;
}

/* ---- spawn ---- */

static int init_handle(child_t *c, uv_handle_t *h, int rc)
{
    if (rc == 0) {
        h->data = c;
        c->open_handles++;
    }
    return rc;
}

int child_spawn(uv_loop_t *loop, const child_options_t *opts, child_t **out)
{
    if (!loop || !opts || !opts->file || !*opts->file || !out)
        return MCP_EINVAL;
    *out = NULL;
    char *file = NULL;
    int rc = resolve_program(opts, &file);
    if (rc != 0)
        return rc;

    child_t *c = mcp_calloc(1, sizeof *c);
    if (!c) {
        mcp_free(file);
        return MCP_ENOMEM;
    }
    const char *base = strrchr(opts->file, '/');
    c->name = mcp_strdup(opts->name ? opts->name : base ? base + 1 : opts->file);
    if (!c->name) {
        mcp_free(c);
        mcp_free(file);
        return MCP_ENOMEM;
    }
    c->loop = loop;
    c->max_queued = opts->max_write_queue ? opts->max_write_queue : CHILD_DEFAULT_WRITE_QUEUE;
    c->drain_ms = opts->drain_ms ? opts->drain_ms : CHILD_DEFAULT_DRAIN_MS;
    c->on_exit = opts->on_exit;
    c->on_stderr = opts->on_stderr;
    c->ud = opts->userdata;
    linebuf_init(&c->err_lines,
                 opts->max_stderr_line ? opts->max_stderr_line : CHILD_DEFAULT_STDERR_LINE,
                 on_err_line, on_err_overflow, c);

    /* From here on, failures close what was initialised; memory goes in the close callbacks. */
    c->closing = 1;
    char **args = NULL, **env = NULL;
    char *extra[2] = {NULL, NULL};
    size_t nextra = 0;
    const char *exe = opts->no_pdeathsig ? NULL : self_exe();

    if ((rc = init_handle(c, (uv_handle_t *)&c->in, uv_pipe_init(loop, &c->in, 0))) ||
        (rc = init_handle(c, (uv_handle_t *)&c->out, uv_pipe_init(loop, &c->out, 0))) ||
        (rc = init_handle(c, (uv_handle_t *)&c->err, uv_pipe_init(loop, &c->err, 0))) ||
        (rc = init_handle(c, (uv_handle_t *)&c->timer, uv_timer_init(loop, &c->timer))))
        goto fail;

    size_t nargs = 0;
    for (const char *const *a = opts->args; a && *a; a++)
        nargs++;
    args = mcp_calloc(nargs + 2, sizeof *args);
    if (!args) {
        rc = MCP_ENOMEM;
        goto fail;
    }
    args[0] = (char *)opts->file;
    for (size_t i = 0; i < nargs; i++)
        args[i + 1] = (char *)opts->args[i];

    if (exe) {
        extra[0] = mcp_asprintf(CHILD_ENV_PPID "=%ld", (long)getpid());
        extra[1] = mcp_asprintf(CHILD_ENV_FILE "=%s", file);
        nextra = 2;
        if (!extra[0] || !extra[1]) {
            rc = MCP_ENOMEM;
            goto fail;
        }
    }
    env = build_env(opts, extra, nextra);
    if (!env) {
        rc = MCP_ENOMEM;
        goto fail;
    }

    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&c->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&c->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&c->err;

    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.exit_cb = on_proc_exit;
    po.file = exe ? exe : file;
    po.args = args;
    po.env = env;
    po.cwd = opts->cwd;
    po.flags = UV_PROCESS_DETACHED;
    po.stdio_count = 3;
    po.stdio = stdio;

    ignore_sigpipe();
    c->proc.data = c;
    rc = uv_spawn(loop, &c->proc, &po);
    /* The process handle is initialised even when uv_spawn fails. */
    c->open_handles++;
    if (rc != 0)
        goto fail;
    c->pid = c->proc.pid;
    c->closing = 0;

    rc = uv_read_start((uv_stream_t *)&c->err, err_alloc, err_read);
    if (rc != 0)
        c->err_done = 1;
    LOG_I("child", "spawned", "name=%s pid=%d file=%s", log_quote(c->name), (int)c->pid,
          log_quote(file));
    mcp_free(args);
    mcp_free(env);
    mcp_free(extra[0]);
    mcp_free(extra[1]);
    mcp_free(file);
    *out = c;
    return 0;

fail:
    mcp_free(args);
    mcp_free(env);
    mcp_free(extra[0]);
    mcp_free(extra[1]);
    mcp_free(file);
    if (c->open_handles == 0) {
        child_free(c);
        return rc;
    }
    /* No process was started: nothing to reap. The process handle was initialised (and has
     * data set) only if uv_spawn was reached. */
    c->exited = 1;
    close_handle(c, (uv_handle_t *)&c->proc);
    close_handle(c, (uv_handle_t *)&c->in);
    close_handle(c, (uv_handle_t *)&c->out);
    close_handle(c, (uv_handle_t *)&c->err);
    close_handle(c, (uv_handle_t *)&c->timer);
    return rc;
}
