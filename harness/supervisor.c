#include "supervisor.h"

#include "alloc.h"
#include "child.h"
#include "clock.h"
#include "errors.h"
#include "linebuf.h"
#include "log.h"
#include "mcp_client_stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define POLL_MS          20
#define STOP_POLL_MS     5
#define STOP_DEADLINE_NS (2ULL * 1000000000ULL)
#define LAST_LINES       6
#define LAST_LINE_MAX    300
#define MAX_ARGS         256
#define MAX_LINE         (64u * 1024u)

typedef enum {
    ST_IDLE = 0, /* never started */
    ST_STARTING,
    ST_READY,
    ST_STOPPED, /* SIGSTOP */
    ST_EXITED,
} proc_state_t;

typedef enum {
    OP_NONE = 0,
    OP_START,
    OP_RESTART, /* terminating, then OP_START */
    OP_EXIT,    /* kill / terminate / wait: completes when reaped */
    OP_STOP,    /* waiting for the kernel to report T */
    OP_FAULTS,  /* PUT/DELETE /_mock/faults or SIGHUP + ping */
    OP_QUICK,   /* continue/signal: deferred success */
} op_t;

/* Async completions (HTTP probes, fault PUTs, pings, the stdio client's callbacks) point at
 * a reference-counted ticket, not at the process, so one arriving after the process was freed
 * finds p == NULL. The process holds one reference until it is freed. */
typedef struct ticket_s {
    sup_proc_t *p;
    int refs;
} ticket_t;

struct sup_proc_s {
    sup_t *sup;
    const scn_process_t *spec;
    char *name;
    scn_proc_type_t type;
    char transport[8];
    char *binary;
    proc_state_t state;
    child_t *child;
    mcp_client_t *client; /* stdio mock */
    int client_closing;
    pid_t pid;
    uint16_t port;
    unsigned generation;
    int exit_expected;
    char *ready_file, *faults_file, *config_file;
    FILE *out_f, *err_f;
    char last[LAST_LINES][LAST_LINE_MAX];
    size_t nlast;
    linebuf_t out_lb;
    /* readiness */
    int ready_kind; /* 0 none, 1 ready file (mock), 2 http, 3 file, 4 stdout re, 5 stderr re */
    char *ready_target;
    regex_t ready_re;
    int has_re;
    int ready_seen;
    char *ready_url; /* mock: the URL read from the ready file / line */
    ticket_t *tk;
    http_request_t *probe; /* in flight */
    uint64_t deadline_ns;
    /* operation in progress */
    op_t op;
    sup_done_fn op_cb;
    void *op_ud;
    /* deferred completion */
    int deferred;
    int def_status;
    char def_msg[512];
    uv_timer_t poll;
    int poll_closed;
    int freeing;
};

struct sup_s {
    uv_loop_t *loop;
    char *run_dir;
    char *bin_dir;
    uint64_t seed;
    unsigned grace_ms;
    http_client_t *http;
    vars_t *vars;
    sup_proc_t **procs;
    size_t nprocs, cap;
    uv_timer_t defer;
    int stopping;
    sup_all_done_fn all_cb;
    void *all_ud;
    int all_pending;
    sup_exit_fn exit_cb;
    void *exit_ud;
    pid_t *pids;
    size_t npids, cappids;
    FILE *proclog;
    int freeing;
    size_t open_handles;
};

static void proc_tick(uv_timer_t *t);
static void check_all_done(sup_t *s);
static void defer_tick(uv_timer_t *t);

static ticket_t *tk_ref(sup_proc_t *p)
{
    p->tk->refs++;
    return p->tk;
}

/* Drop a reference; the process, or NULL when it is gone. */
static sup_proc_t *tk_unref(ticket_t *t)
{
    sup_proc_t *p = t->p;
    if (--t->refs == 0)
        mcp_free(t);
    return p;
}
static int spawn_proc(sup_proc_t *p, char *err, size_t errcap);

/* ---- helpers ---- */

int sup_signal_number(const char *name)
{
    static const struct {
        const char *n;
        int s;
    } sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"STOP", SIGSTOP},
                {"CONT", SIGCONT}, {"ABRT", SIGABRT}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}};
    if (!name || !*name)
        return -1;
    char *end;
    long n = strtol(name, &end, 10);
    if (*end == '\0')
        return n > 0 && n < 65 ? (int)n : -1;
    if (strncmp(name, "SIG", 3) == 0)
        name += 3;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (strcmp(sigs[i].n, name) == 0)
            return sigs[i].s;
    return -1;
}

int sup_pick_port(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof(a);
    int rc = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0)
        *port = ntohs(a.sin_port);
    return rc;
}

static int is_exec(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int sup_find_binary(const char *name, const char *bin_dir, char **out, char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    *out = NULL;
    if (strchr(name, '/')) {
        if (!is_exec(name)) {
            snprintf(err, errcap, "%s: not found or not executable", name);
            return UV_ENOENT;
        }
        *out = mcp_strdup(name);
        return *out ? 0 : MCP_ENOMEM;
    }
    char self_dir[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", self_dir, sizeof(self_dir) - 1);
    if (n > 0) {
        self_dir[n] = '\0';
        char *slash = strrchr(self_dir, '/');
        if (slash)
            *slash = '\0';
    }
    const char *dirs[2] = {bin_dir, self_dir[0] ? self_dir : NULL};
    for (int i = 0; i < 2; i++) {
        if (!dirs[i])
            continue;
        char *cand = mcp_asprintf("%s/%s", dirs[i], name);
        if (!cand)
            return MCP_ENOMEM;
        if (is_exec(cand)) {
            *out = cand;
            return 0;
        }
        mcp_free(cand);
    }
    const char *path = getenv("PATH");
    if (path) {
        const char *p = path;
        while (*p) {
            size_t len = strcspn(p, ":");
            char *cand = mcp_asprintf("%.*s/%s", (int)len, len ? p : ".", name);
            if (!cand)
                return MCP_ENOMEM;
            if (is_exec(cand)) {
                *out = cand;
                return 0;
            }
            mcp_free(cand);
            p += len;
            if (*p == ':')
                p++;
        }
    }
    snprintf(err, errcap, "%s not found in %s%s%s or on PATH", name, bin_dir ? bin_dir : "",
             bin_dir ? ", " : "", self_dir[0] ? self_dir : "our own directory");
    return UV_ENOENT;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Each mock gets its own seed, fixed by the run seed and its name. */
static uint64_t derive_seed(uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    uint64_t x = seed ^ h;
    return splitmix64(&x) >> 11; /* fits a double exactly, in case a mock parses it as one */
}

static int write_file(const char *path, const char *text)
{
    char *tmp = mcp_asprintf("%s.tmp", path);
    if (!tmp)
        return MCP_ENOMEM;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int e = -errno;
        mcp_free(tmp);
        return e;
    }
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    ok &= fclose(f) == 0;
    int rc = ok ? (rename(tmp, path) == 0 ? 0 : -errno) : UV_EIO;
    mcp_free(tmp);
    return rc;
}

/* ---- process bookkeeping ---- */

static void remember_line(sup_proc_t *p, const char *line, size_t len)
{
    if (p->nlast == LAST_LINES) {
        memmove(p->last[0], p->last[1], sizeof(p->last[0]) * (LAST_LINES - 1));
        p->nlast--;
    }
    snprintf(p->last[p->nlast++], LAST_LINE_MAX, "%.*s", (int)len, line);
}

static void last_lines(const sup_proc_t *p, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < p->nlast; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", used ? " | " : "", p->last[i]);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
}

static void record_pid(sup_t *s, pid_t pid)
{
    if (s->npids == s->cappids) {
        size_t cap = s->cappids ? s->cappids * 2 : 16;
        pid_t *np = mcp_realloc(s->pids, cap * sizeof(*np));
        if (!np)
            return;
        s->pids = np;
        s->cappids = cap;
    }
    s->pids[s->npids++] = pid;
}

static void proc_defer(sup_proc_t *p, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void proc_defer(sup_proc_t *p, int status, const char *fmt, ...)
{
    p->deferred = 1;
    p->def_status = status;
    p->def_msg[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->def_msg, sizeof(p->def_msg), fmt, ap);
        va_end(ap);
    }
    uv_timer_start(&p->sup->defer, defer_tick, 0, 0);
}

/* Finish the current operation now (we are inside a loop callback). */
static void op_complete(sup_proc_t *p, int status, const char *msg)
{
    sup_done_fn cb = p->op_cb;
    void *ud = p->op_ud;
    p->op = OP_NONE;
    p->op_cb = NULL;
    p->op_ud = NULL;
    uv_timer_stop(&p->poll);
    if (cb)
        cb(p->sup, p->name, status, msg ? msg : "", ud);
}

static void op_fail(sup_proc_t *p, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void op_fail(sup_proc_t *p, int status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    op_complete(p, status, msg);
}

static void defer_tick(uv_timer_t *t)
{
    sup_t *s = t->data;
    for (size_t i = 0; i < s->nprocs; i++) {
        sup_proc_t *p = s->procs[i];
        if (p->deferred) {
            p->deferred = 0;
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", p->def_msg);
            op_complete(p, p->def_status, msg);
        }
    }
    check_all_done(s);
}

/* ---- publishing attributes ---- */

static int publish(sup_proc_t *p, const char *attr, const char *value)
{
    char key[160];
    snprintf(key, sizeof(key), "%s.%s", p->name, attr);
    return vars_set_string(p->sup->vars, key, value);
}

static int publish_num(sup_proc_t *p, const char *attr, double value)
{
    char key[160];
    snprintf(key, sizeof(key), "%s.%s", p->name, attr);
    return vars_set_number(p->sup->vars, key, value);
}

/* Split "http://host:port/path" into base and port. */
static int parse_url(const char *url, char *base, size_t basecap, char *host, size_t hostcap,
                     uint16_t *port)
{
    const char *s = strstr(url, "://");
    if (!s)
        return MCP_EINVAL;
    const char *h = s + 3;
    size_t hl = strcspn(h, "/");
    snprintf(base, basecap, "%.*s", (int)(h + hl - url), url);
    const char *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', hl);
        if (!rb)
            return MCP_EINVAL;
        snprintf(host, hostcap, "%.*s", (int)(rb - h - 1), h + 1);
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', hl);
        snprintf(host, hostcap, "%.*s", (int)(colon ? (size_t)(colon - h) : hl), h);
    }
    long pn = colon ? strtol(colon + 1, NULL, 10) : (strncmp(url, "https", 5) == 0 ? 443 : 80);
    if (pn <= 0 || pn > 65535)
        return MCP_EINVAL;
    *port = (uint16_t)pn;
    return 0;
}

static void publish_ready(sup_proc_t *p, const char *url)
{
    char base[512], host[256];
    uint16_t port = p->port;
    if (url && parse_url(url, base, sizeof(base), host, sizeof(host), &port) == 0) {
        publish(p, "url", url);
        publish(p, "base", base);
        publish(p, "host", host);
        p->port = port;
    } else if (p->port) {
        snprintf(base, sizeof(base), "http://127.0.0.1:%u", p->port);
        publish(p, "base", base);
        publish(p, "host", "127.0.0.1");
        if (url)
            publish(p, "url", url);
    }
    if (p->port)
        publish_num(p, "port", p->port);
    publish_num(p, "pid", p->pid);
    if (p->type == SCN_PROC_MOCK && p->port) {
        char u[600];
        snprintf(u, sizeof(u), "%s/mcp", base);
        publish(p, "mcp", u);
        snprintf(u, sizeof(u), "%s/sse", base);
        publish(p, "sse", u);
    }
}

/* ---- readiness ---- */

static void become_ready(sup_proc_t *p)
{
    p->state = ST_READY;
    if (p->type == SCN_PROC_MOCK && strcmp(p->transport, "stdio") != 0)
        publish_ready(p, p->ready_url);
    else if (p->type == SCN_PROC_MOCK)
        publish_num(p, "pid", p->pid);
    else if (p->type == SCN_PROC_GATEWAY) {
        char url[600];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/mcp", p->port);
        publish_ready(p, url);
    } else {
        publish_ready(p, NULL);
    }
    LOG_I("harness", "process ready", "name=%s pid=%d", p->name, (int)p->pid);
    op_complete(p, 0, NULL);
}

/* Extract a URL from ready-file content or a readiness line: "url=..." wins, else the first
 * token that looks like a URL. */
static char *find_url(const char *text)
{
    const char *u = strstr(text, "url=");
    if (u)
        u += 4;
    else
        u = strstr(text, "http://");
    if (!u)
        u = strstr(text, "https://");
    if (!u)
        return NULL;
    size_t n = strcspn(u, " \t\r\n\"");
    return n ? mcp_strndup(u, n) : NULL;
}

static void check_ready_file_mock(sup_proc_t *p)
{
    FILE *f = fopen(p->ready_file, "r");
    if (!f)
        return;
    char text[2048];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *url = find_url(text);
    if (!url)
        return; /* written atomically, so an incomplete file means "not yet" */
    mcp_free(p->ready_url);
    p->ready_url = url;
    p->ready_seen = 1;
}

static void probe_done(http_request_t *req, int result, void *ud)
{
    sup_proc_t *p = tk_unref(ud);
    if (!p)
        return;
    p->probe = NULL;
    int status = result == 0 ? http_request_status(req) : 0;
    if (p->op == OP_START && p->state == ST_STARTING && status >= 200 && status < 300)
        p->ready_seen = 1;
    if (p->op == OP_FAULTS) {
        if (result != 0)
            op_fail(p, result, "%s /_mock/faults failed: %s", http_request_method(req),
                    http_request_error(req));
        else if (status < 200 || status >= 300) {
            size_t len;
            const char *body = http_request_body(req, &len);
            op_fail(p, MCP_EHTTP, "%s /_mock/faults answered %d: %.300s", http_request_method(req),
                    status, body);
        } else
            op_complete(p, 0, NULL);
        return;
    }
    if (p->sup->stopping)
        check_all_done(p->sup);
}

static int start_http(sup_proc_t *p, const char *method, const char *url, const char *body,
                      uint64_t deadline_ms)
{
    http_request_t *req;
    int rc = http_request_new(p->sup->http, method, url, &req);
    if (rc)
        return rc;
    if (body) {
        rc = http_request_add_header(req, "Content-Type", "application/json");
        if (!rc)
            rc = http_request_set_body(req, body, strlen(body));
    }
    http_request_set_timeouts(req, deadline_ms, 1000);
    if (!rc) {
        rc = http_request_start(req, probe_done, tk_ref(p));
        if (rc)
            tk_unref(p->tk);
    }
    if (rc) {
        http_request_free(req);
        return rc;
    }
    p->probe = req;
    return 0;
}

static void start_tick(sup_proc_t *p)
{
    if (p->ready_seen) {
        become_ready(p);
        return;
    }
    if (clock_mono_ns() > p->deadline_ns) {
        char lines[LAST_LINES * LAST_LINE_MAX];
        last_lines(p, lines, sizeof(lines));
        int ms = (int)(p->spec->ready_timeout_ns / 1000000ULL);
        if (p->child) {
            p->exit_expected = 1;
            child_signal(p->child, SIGKILL);
        }
        op_fail(p, MCP_ETIMEDOUT, "process %s was not ready within %d ms%s%s", p->name, ms,
                lines[0] ? "; last stderr: " : "", lines);
        return;
    }
    switch (p->ready_kind) {
    case 1: check_ready_file_mock(p); break;
    case 2:
        if (!p->probe)
            start_http(p, "GET", p->ready_target, NULL, 1000);
        break;
    case 3:
        if (access(p->ready_target, F_OK) == 0)
            p->ready_seen = 1;
        break;
    default: break;
    }
    if (p->ready_seen)
        become_ready(p);
}

static int proc_stat_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

static void proc_tick(uv_timer_t *t)
{
    sup_proc_t *p = t->data;
    switch (p->op) {
    case OP_START: start_tick(p); break;
    case OP_STOP: {
        int st = proc_stat_state(p->pid);
        if (st == 'T' || st == 't') {
            p->state = ST_STOPPED;
            op_complete(p, 0, NULL);
        } else if (clock_mono_ns() > p->deadline_ns) {
            op_fail(p, MCP_ETIMEDOUT, "process %s did not stop within 2 s", p->name);
        }
        break;
    }
    default: uv_timer_stop(&p->poll); break;
    }
}

/* ---- exits ---- */

static void proc_exited(sup_proc_t *p, int64_t status, int sig, const char *how)
{
    sup_t *s = p->sup;
    int was_ready = p->state == ST_READY || p->state == ST_STOPPED;
    p->state = ST_EXITED;
    if (p->out_f)
        fflush(p->out_f);
    if (p->err_f)
        fflush(p->err_f);
    if (s->proclog) {
        fprintf(s->proclog, "exit name=%s pid=%d status=%lld signal=%d%s\n", p->name, (int)p->pid,
                (long long)status, sig, p->exit_expected ? "" : " unexpected");
        fflush(s->proclog);
    }
    char key[160];
    snprintf(key, sizeof(key), "%s.exit_status", p->name);
    vars_set_number(s->vars, key, (double)status);
    if (!p->exit_expected && !s->stopping && was_ready) {
        LOG_W("harness", "process exited unexpectedly", "name=%s status=%lld signal=%d %s", p->name,
              (long long)status, sig, how ? how : "");
        if (s->exit_cb)
            s->exit_cb(s, p->name, status, sig, s->exit_ud);
    }
    switch (p->op) {
    case OP_START: {
        char lines[LAST_LINES * LAST_LINE_MAX];
        last_lines(p, lines, sizeof(lines));
        op_fail(p, MCP_ECHILD, "process %s exited (status %lld, signal %d) before it was ready%s%s",
                p->name, (long long)status, sig, lines[0] ? "; last stderr: " : "", lines);
        break;
    }
    case OP_EXIT: op_complete(p, 0, NULL); break;
    case OP_RESTART: {
        if (s->stopping) {
            op_complete(p, MCP_ECANCELED, "stopping");
            break;
        }
        char err[512];
        p->op = OP_START;
        int rc = spawn_proc(p, err, sizeof(err));
        if (rc)
            op_fail(p, rc, "restart of %s failed: %s", p->name, err);
        break;
    }
    case OP_STOP: op_fail(p, MCP_ECHILD, "process %s exited while being stopped", p->name); break;
    case OP_FAULTS:
        if (strcmp(p->transport, "stdio") == 0)
            op_fail(p, MCP_ECHILD, "process %s exited", p->name);
        break;
    default: break;
    }
    if (s->stopping)
        check_all_done(s);
}

static void on_child_exit(child_t *c, int64_t status, int sig, void *ud)
{
    sup_proc_t *p = ud;
    child_close(c);
    p->child = NULL;
    proc_exited(p, status, sig, NULL);
}

static void on_child_stderr(child_t *c, const char *line, size_t len, void *ud)
{
    (void)c;
    sup_proc_t *p = ud;
    if (p->err_f) {
        fwrite(line, 1, len, p->err_f);
        fputc('\n', p->err_f);
        fflush(p->err_f);
    }
    remember_line(p, line, len);
    if (p->op == OP_START && p->ready_kind == 5 && p->has_re) {
        char *copy = mcp_strndup(line, len);
        if (copy && regexec(&p->ready_re, copy, 0, NULL, 0) == 0)
            p->ready_seen = 1;
        mcp_free(copy);
        if (p->ready_seen)
            uv_timer_start(&p->poll, proc_tick, 0, POLL_MS);
    }
}

static int on_stdout_line(void *ud, char *line, size_t len)
{
    sup_proc_t *p = ud;
    (void)len;
    if (p->op != OP_START || p->ready_seen)
        return 0;
    if (p->ready_kind == 1 && strstr(line, "ready") && strstr(line, "url=")) {
        char *url = find_url(line);
        if (url) {
            mcp_free(p->ready_url);
            p->ready_url = url;
            p->ready_seen = 1;
        }
    } else if (p->ready_kind == 4 && p->has_re && regexec(&p->ready_re, line, 0, NULL, 0) == 0) {
        p->ready_seen = 1;
    }
    if (p->ready_seen)
        uv_timer_start(&p->poll, proc_tick, 0, POLL_MS);
    return 0;
}

static void on_child_stdout(child_t *c, char *data, ssize_t nread, void *ud)
{
    (void)c;
    sup_proc_t *p = ud;
    if (nread <= 0) {
        linebuf_finish(&p->out_lb);
        return;
    }
    if (p->out_f) {
        fwrite(data, 1, (size_t)nread, p->out_f);
        fflush(p->out_f);
    }
    linebuf_feed(&p->out_lb, data, (size_t)nread);
}

/* ---- stdio mocks (the harness is their MCP client) ---- */

static void stdio_client_closed_cb(mcp_client_t *c, void *ud)
{
    (void)c;
    /* the reference taken when the client was created */
    sup_proc_t *p = tk_unref(ud);
    if (!p)
        return;
    p->client = NULL;
    p->client_closing = 0;
    if (p->state != ST_EXITED)
        proc_exited(p, 0, 0, "client closed");
    else if (p->sup->stopping)
        check_all_done(p->sup);
}

static void stdio_close_client(sup_proc_t *p)
{
    if (!p->client || p->client_closing)
        return;
    p->client_closing = 1;
    mcp_client_close(p->client, stdio_client_closed_cb, p->tk);
}

static void stdio_on_closed(mcp_client_t *c, int reason, void *ud)
{
    (void)c;
    sup_proc_t *p = ((ticket_t *)ud)->p;
    if (!p)
        return;
    if (p->state != ST_EXITED)
        proc_exited(p, reason == MCP_ECHILD ? 1 : 0, 0, mcp_strerror(reason));
    stdio_close_client(p);
}

static void stdio_init_done(mcp_client_t *c, int status, void *ud)
{
    sup_proc_t *p = ((ticket_t *)ud)->p;
    if (!p || p->op != OP_START)
        return;
    if (status == 0) {
        child_t *ch = mcp_client_stdio_child(c);
        if (ch)
            p->pid = child_pid(ch);
        become_ready(p);
        return;
    }
    char lines[LAST_LINES * LAST_LINE_MAX];
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.stderr.log", p->sup->run_dir, p->name);
    /* the stderr of a stdio mock goes straight to its file: read the tail for the message */
    lines[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        char line[LAST_LINE_MAX];
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            if (*line)
                remember_line(p, line, strlen(line));
        }
        fclose(f);
        last_lines(p, lines, sizeof(lines));
    }
    p->exit_expected = 1;
    stdio_close_client(p);
    op_fail(p, status, "MCP initialize of %s failed: %s%s%s", p->name, mcp_client_error_message(c),
            lines[0] ? "; last stderr: " : "", lines);
}

/* ---- spawning ---- */

typedef struct argv_s {
    char *v[MAX_ARGS + 1];
    size_t n;
    int oom;
} argv_t;

static void argv_add(argv_t *a, char *s)
{
    if (!s) {
        a->oom = 1;
        return;
    }
    if (a->n >= MAX_ARGS) {
        mcp_free(s);
        a->oom = 1;
        return;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void argv_free(argv_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        mcp_free(a->v[i]);
    a->n = 0;
}

/* Expand and append a JSON array of strings/numbers. */
static int argv_add_json(sup_proc_t *p, argv_t *a, const cJSON *arr, char *err, size_t errcap)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        char *text = NULL;
        if (cJSON_IsString(c)) {
            char inner[300];
            int rc = vars_expand_text(p->sup->vars, c->valuestring, &text, inner, sizeof(inner));
            if (rc) {
                snprintf(err, errcap, "process %s: args: %s", p->name, inner);
                return rc;
            }
        } else {
            char *t = cJSON_PrintUnformatted(c);
            text = t ? mcp_strdup(t) : NULL;
            cJSON_free(t);
        }
        argv_add(a, text);
    }
    return a->oom ? MCP_ENOMEM : 0;
}

static int env_from_json(sup_proc_t *p, argv_t *env, const cJSON *obj, char *err, size_t errcap)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, obj)
    {
        char *val = NULL;
        if (cJSON_IsString(c)) {
            char inner[300];
            int rc = vars_expand_text(p->sup->vars, c->valuestring, &val, inner, sizeof(inner));
            if (rc) {
                snprintf(err, errcap, "process %s: env.%s: %s", p->name, c->string, inner);
                return rc;
            }
        } else {
            char *t = cJSON_PrintUnformatted(c);
            val = t ? mcp_strdup(t) : NULL;
            cJSON_free(t);
        }
        if (!val)
            return MCP_ENOMEM;
        argv_add(env, mcp_asprintf("%s=%s", c->string, val));
        mcp_free(val);
    }
    return env->oom ? MCP_ENOMEM : 0;
}

static int write_expanded_json(sup_proc_t *p, const cJSON *src, const char *path, const char *what,
                               char *err, size_t errcap)
{
    cJSON *exp = NULL;
    char inner[400];
    int rc = vars_expand_json(p->sup->vars, src, &exp, inner, sizeof(inner));
    if (rc) {
        snprintf(err, errcap, "process %s: %s: %s", p->name, what, inner);
        return rc;
    }
    char *text = cJSON_Print(exp);
    cJSON_Delete(exp);
    if (!text)
        return MCP_ENOMEM;
    rc = write_file(path, text);
    cJSON_free(text);
    if (rc)
        snprintf(err, errcap, "process %s: cannot write %s: %s", p->name, path, mcp_strerror(rc));
    return rc;
}

static void log_command(sup_proc_t *p, const argv_t *a)
{
    FILE *f = p->sup->proclog;
    if (!f)
        return;
    fprintf(f, "start name=%s pid=%d cmd=", p->name, (int)p->pid);
    for (size_t i = 0; i < a->n; i++)
        fprintf(f, "%s'%s'", i ? " " : "", a->v[i]);
    fputc('\n', f);
    fflush(f);
}

static int open_logs(sup_proc_t *p)
{
    if (!p->err_f) {
        char *path = mcp_asprintf("%s/%s.stderr.log", p->sup->run_dir, p->name);
        if (!path)
            return MCP_ENOMEM;
        p->err_f = fopen(path, "a");
        mcp_free(path);
    }
    if (!p->out_f && strcmp(p->transport, "stdio") != 0) {
        char *path = mcp_asprintf("%s/%s.stdout.log", p->sup->run_dir, p->name);
        if (!path)
            return MCP_ENOMEM;
        p->out_f = fopen(path, "a");
        mcp_free(path);
    }
    return 0;
}

static int spawn_stdio_mock(sup_proc_t *p, argv_t *a, char *err, size_t errcap)
{
    /* The stdio transport reads stdout itself and logs stderr through our logger; a shell that
     * execs the mock with stderr appended to its file keeps the mock's stderr in the run
     * folder (the pid stays the same across exec). */
    argv_t sh = {0};
    argv_add(&sh, mcp_strdup("-c"));
    argv_add(&sh, mcp_strdup("exec \"$0\" \"$@\" 2>>\"$MCP_HARNESS_STDERR\""));
    for (size_t i = 0; i < a->n; i++)
        argv_add(&sh, mcp_strdup(a->v[i]));
    char *errpath = mcp_asprintf("MCP_HARNESS_STDERR=%s/%s.stderr.log", p->sup->run_dir, p->name);
    argv_t env = {0};
    argv_add(&env, errpath);
    int rc = sh.oom || env.oom ? MCP_ENOMEM : 0;
    if (!rc) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(p->spec->spec, "env");
        if (e)
            rc = env_from_json(p, &env, e, err, errcap);
    }
    mcp_client_options_t co;
    memset(&co, 0, sizeof(co));
    co.name = p->name;
    co.client_name = "mcp-harness";
    co.on_closed = stdio_on_closed;
    co.userdata = p->tk;
    if (!rc) {
        rc = mcp_client_new(p->sup->loop, &co, &p->client);
        /* the client's callbacks use the ticket until its close callback drops this reference */
        if (!rc)
            tk_ref(p);
    }
    if (!rc) {
        mcp_client_stdio_options_t so;
        memset(&so, 0, sizeof(so));
        so.command = "/bin/sh";
        so.args = (const char *const *)sh.v;
        so.env = (const char *const *)env.v;
        so.close_grace_ms = p->sup->grace_ms;
        rc = mcp_client_stdio_start(p->client, &so);
        if (rc) {
            snprintf(err, errcap, "process %s: cannot start %s: %s", p->name, a->v[0],
                     mcp_strerror(rc));
            stdio_close_client(p);
        }
    }
    if (!rc) {
        child_t *ch = mcp_client_stdio_child(p->client);
        p->pid = ch ? child_pid(ch) : 0;
        record_pid(p->sup, p->pid);
        rc = mcp_client_initialize(p->client, p->spec->ready_timeout_ns / 1000000ULL,
                                   stdio_init_done, p->tk);
        if (rc) {
            snprintf(err, errcap, "process %s: initialize: %s", p->name, mcp_strerror(rc));
            p->exit_expected = 1;
            stdio_close_client(p);
        }
    }
    argv_free(&sh);
    argv_free(&env);
    return rc;
}

static int spawn_proc(sup_proc_t *p, char *err, size_t errcap)
{
    sup_t *s = p->sup;
    const cJSON *spec = p->spec->spec;
    argv_t a = {0};
    int rc = 0;
    p->ready_seen = 0;
    p->exit_expected = 0;
    p->nlast = 0;
    p->generation++;
    p->state = ST_STARTING;
    p->deadline_ns = clock_mono_ns() + p->spec->ready_timeout_ns;
    rc = open_logs(p);
    if (rc)
        return rc;
    if (p->type == SCN_PROC_MOCK) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(spec, "kind");
        char *kind_s = NULL;
        char inner[300];
        rc = vars_expand_text(s->vars, kind->valuestring, &kind_s, inner, sizeof(inner));
        if (rc) {
            snprintf(err, errcap, "process %s: kind: %s", p->name, inner);
            return rc;
        }
        argv_add(&a, mcp_strdup(p->binary));
        argv_add(&a, kind_s);
        argv_add(&a, mcp_strdup("--transport"));
        argv_add(&a, mcp_strdup(p->transport));
        int stdio = strcmp(p->transport, "stdio") == 0;
        if (!stdio) {
            argv_add(&a, mcp_strdup("--listen"));
            argv_add(&a, mcp_asprintf("127.0.0.1:%u", p->port));
            argv_add(&a, mcp_strdup("--ready-file"));
            argv_add(&a, mcp_strdup(p->ready_file));
            unlink(p->ready_file);
            p->ready_kind = 1;
        }
        argv_add(&a, mcp_strdup("--seed"));
        argv_add(&a, mcp_asprintf("%llu", (unsigned long long)derive_seed(s->seed, p->name)));
        const cJSON *faults = cJSON_GetObjectItemCaseSensitive(spec, "faults");
        if (faults || stdio) {
            /* every start, so a restarted mock begins with the scenario's rules again
             * (live replacements rewrite this file for SIGHUP) */
            cJSON *empty = faults ? NULL : cJSON_CreateArray();
            rc = write_expanded_json(p, faults ? faults : empty, p->faults_file, "faults", err,
                                     errcap);
            cJSON_Delete(empty);
            if (rc) {
                argv_free(&a);
                return rc;
            }
            argv_add(&a, mcp_strdup("--faults"));
            argv_add(&a, mcp_asprintf("@%s", p->faults_file));
        }
    } else if (p->type == SCN_PROC_GATEWAY) {
        if (!p->port) {
            rc = sup_pick_port(&p->port);
            if (rc) {
                snprintf(err, errcap, "process %s: no free port: %s", p->name, mcp_strerror(rc));
                return rc;
            }
        }
        /* the config may refer to the gateway's own address */
        char base[64];
        snprintf(base, sizeof(base), "http://127.0.0.1:%u", p->port);
        publish(p, "base", base);
        publish_num(p, "port", p->port);
        publish(p, "host", "127.0.0.1");
        rc = write_expanded_json(p, cJSON_GetObjectItemCaseSensitive(spec, "config"),
                                 p->config_file, "config", err, errcap);
        if (rc)
            return rc;
        argv_add(&a, mcp_strdup(p->binary));
        argv_add(&a, mcp_strdup("--config"));
        argv_add(&a, mcp_strdup(p->config_file));
        argv_add(&a, mcp_strdup("--listen"));
        argv_add(&a, mcp_asprintf("127.0.0.1:%u", p->port));
        const cJSON *rp = cJSON_GetObjectItemCaseSensitive(spec, "readyPath");
        mcp_free(p->ready_target);
        p->ready_target =
            mcp_asprintf("%s%s", base, cJSON_IsString(rp) ? rp->valuestring : "/health/ready");
        p->ready_kind = 2;
    } else {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "port")) && !p->port) {
            rc = sup_pick_port(&p->port);
            if (rc) {
                snprintf(err, errcap, "process %s: no free port: %s", p->name, mcp_strerror(rc));
                return rc;
            }
        }
        if (p->port) {
            char base[64];
            snprintf(base, sizeof(base), "http://127.0.0.1:%u", p->port);
            publish(p, "base", base);
            publish_num(p, "port", p->port);
            publish(p, "host", "127.0.0.1");
        }
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(spec, "url");
        if (cJSON_IsString(url)) {
            char *u = NULL;
            char inner[300];
            rc = vars_expand_text(s->vars, url->valuestring, &u, inner, sizeof(inner));
            if (rc) {
                snprintf(err, errcap, "process %s: url: %s", p->name, inner);
                return rc;
            }
            publish(p, "url", u);
            mcp_free(u);
        }
        argv_add(&a, mcp_strdup(p->binary));
        const cJSON *ready = cJSON_GetObjectItemCaseSensitive(spec, "ready");
        p->ready_kind = 0;
        if (ready) {
            static const char *const keys[] = {"http", "file", "stdout", "stderr"};
            for (int k = 0; k < 4; k++) {
                const cJSON *r = cJSON_GetObjectItemCaseSensitive(ready, keys[k]);
                if (!cJSON_IsString(r))
                    continue;
                char *val = NULL;
                char inner[300];
                rc = vars_expand_text(s->vars, r->valuestring, &val, inner, sizeof(inner));
                if (rc) {
                    snprintf(err, errcap, "process %s: ready.%s: %s", p->name, keys[k], inner);
                    argv_free(&a);
                    return rc;
                }
                p->ready_kind = 2 + k;
                mcp_free(p->ready_target);
                p->ready_target = val;
                if (k >= 2) {
                    if (p->has_re)
                        regfree(&p->ready_re);
                    p->has_re = regcomp(&p->ready_re, val, REG_EXTENDED | REG_NOSUB) == 0;
                }
            }
        }
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(spec, "args");
    if (!rc && args)
        rc = argv_add_json(p, &a, args, err, errcap);
    if (!rc && a.oom)
        rc = MCP_ENOMEM;
    if (rc) {
        argv_free(&a);
        return rc;
    }
    if (p->type == SCN_PROC_MOCK && strcmp(p->transport, "stdio") == 0) {
        rc = spawn_stdio_mock(p, &a, err, errcap);
        log_command(p, &a);
        argv_free(&a);
        return rc;
    }
    argv_t env = {0};
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(spec, "env");
    if (e) {
        rc = env_from_json(p, &env, e, err, errcap);
        if (rc) {
            argv_free(&a);
            argv_free(&env);
            return rc;
        }
    }
    child_options_t co;
    memset(&co, 0, sizeof(co));
    co.name = p->name;
    co.file = a.v[0];
    co.args = (const char *const *)&a.v[1];
    co.env = env.n ? (const char *const *)env.v : NULL;
    co.max_stderr_line = MAX_LINE;
    co.on_exit = on_child_exit;
    co.on_stderr = on_child_stderr;
    co.userdata = p;
    rc = child_spawn(s->loop, &co, &p->child);
    if (rc) {
        snprintf(err, errcap, "process %s: cannot start %s: %s", p->name, a.v[0], mcp_strerror(rc));
    } else {
        p->pid = child_pid(p->child);
        record_pid(s, p->pid);
        log_command(p, &a);
        linebuf_free(&p->out_lb);
        linebuf_init(&p->out_lb, MAX_LINE, on_stdout_line, NULL, p);
        child_read_start(p->child, on_child_stdout);
        if (p->ready_kind == 0)
            p->ready_seen = 1;
        uv_timer_start(&p->poll, proc_tick, p->ready_seen ? 0 : POLL_MS, POLL_MS);
    }
    argv_free(&a);
    argv_free(&env);
    return rc;
}

/* ---- public API ---- */

int sup_new(uv_loop_t *loop, const sup_options_t *opts, sup_t **out)
{
    if (!loop || !opts || !opts->run_dir || !opts->vars || !opts->http)
        return MCP_EINVAL;
    sup_t *s = mcp_calloc(1, sizeof(*s));
    if (!s)
        return MCP_ENOMEM;
    s->loop = loop;
    s->run_dir = mcp_strdup(opts->run_dir);
    s->bin_dir = opts->bin_dir ? mcp_strdup(opts->bin_dir) : NULL;
    if (!s->run_dir || (opts->bin_dir && !s->bin_dir)) {
        mcp_free(s->run_dir);
        mcp_free(s->bin_dir);
        mcp_free(s);
        return MCP_ENOMEM;
    }
    s->seed = opts->seed;
    s->grace_ms = opts->grace_ms ? opts->grace_ms : 2000;
    s->http = opts->http;
    s->vars = opts->vars;
    uv_timer_init(loop, &s->defer);
    s->defer.data = s;
    s->open_handles = 1;
    char *log = mcp_asprintf("%s/processes.log", s->run_dir);
    if (log) {
        s->proclog = fopen(log, "a");
        mcp_free(log);
    }
    *out = s;
    return 0;
}

void sup_set_exit_callback(sup_t *s, sup_exit_fn cb, void *ud)
{
    s->exit_cb = cb;
    s->exit_ud = ud;
}

sup_proc_t *sup_find(const sup_t *s, const char *name)
{
    for (size_t i = 0; i < s->nprocs; i++)
        if (strcmp(s->procs[i]->name, name) == 0)
            return s->procs[i];
    return NULL;
}

size_t sup_count(const sup_t *s)
{
    return s->nprocs;
}

sup_proc_t *sup_at(const sup_t *s, size_t i)
{
    return i < s->nprocs ? s->procs[i] : NULL;
}

const char *sup_proc_name(const sup_proc_t *p)
{
    return p->name;
}

scn_proc_type_t sup_proc_type(const sup_proc_t *p)
{
    return p->type;
}

const char *sup_proc_transport(const sup_proc_t *p)
{
    return p->transport;
}

int sup_proc_running(const sup_proc_t *p)
{
    return p->state == ST_STARTING || p->state == ST_READY || p->state == ST_STOPPED;
}

int sup_proc_ready(const sup_proc_t *p)
{
    return p->state == ST_READY;
}

pid_t sup_proc_pid(const sup_proc_t *p)
{
    return p->pid;
}

mcp_client_t *sup_proc_client(const sup_proc_t *p)
{
    return (p->state == ST_READY || p->state == ST_STOPPED) && !p->client_closing ? p->client
                                                                                  : NULL;
}

unsigned sup_proc_generation(const sup_proc_t *p)
{
    return p->generation;
}

size_t sup_pids(const sup_t *s, pid_t *out, size_t cap)
{
    size_t n = s->npids < cap ? s->npids : cap;
    memcpy(out, s->pids, n * sizeof(*out));
    return s->npids;
}

static sup_proc_t *proc_create(sup_t *s, const scn_process_t *spec, char *err, size_t errcap)
{
    sup_proc_t *p = mcp_calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->sup = s;
    p->spec = spec;
    p->type = spec->type;
    p->name = mcp_strdup(spec->name);
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(spec->spec, "transport");
    snprintf(p->transport, sizeof(p->transport), "%s",
             spec->type == SCN_PROC_MOCK      ? (cJSON_IsString(tr) ? tr->valuestring : "http")
             : spec->type == SCN_PROC_GATEWAY ? "http"
                                              : "");
    p->ready_file = mcp_asprintf("%s/%s.ready", s->run_dir, spec->name);
    p->faults_file = mcp_asprintf("%s/%s.faults.json", s->run_dir, spec->name);
    p->config_file = mcp_asprintf("%s/%s.config.json", s->run_dir, spec->name);
    linebuf_init(&p->out_lb, MAX_LINE, on_stdout_line, NULL, p);
    p->tk = mcp_calloc(1, sizeof(*p->tk));
    if (!p->name || !p->ready_file || !p->faults_file || !p->config_file || !p->tk)
        goto oom;
    p->tk->p = p;
    p->tk->refs = 1;
    const cJSON *bin = cJSON_GetObjectItemCaseSensitive(spec->spec, "binary");
    const char *want = spec->type == SCN_PROC_MOCK      ? "mcp-mock"
                       : spec->type == SCN_PROC_GATEWAY ? "mcp-gateway"
                                                        : NULL;
    char *expanded = NULL;
    const char *src = cJSON_IsString(bin) ? bin->valuestring
                      : want              ? want
                             : cJSON_GetObjectItemCaseSensitive(spec->spec, "command")->valuestring;
    char inner[300];
    if (vars_expand_text(s->vars, src, &expanded, inner, sizeof(inner))) {
        snprintf(err, errcap, "process %s: %s", spec->name, inner);
        goto fail;
    }
    char ferr[600];
    int rc = sup_find_binary(expanded, s->bin_dir, &p->binary, ferr, sizeof(ferr));
    mcp_free(expanded);
    if (rc) {
        snprintf(err, errcap, "process %s: %s", spec->name, ferr);
        goto fail;
    }
    if (s->nprocs == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        sup_proc_t **np = mcp_realloc(s->procs, cap * sizeof(*np));
        if (!np)
            goto oom;
        s->procs = np;
        s->cap = cap;
    }
    uv_timer_init(s->loop, &p->poll);
    p->poll.data = p;
    s->open_handles++;
    s->procs[s->nprocs++] = p;
    return p;
oom:
    snprintf(err, errcap, "out of memory");
fail:
    linebuf_free(&p->out_lb);
    mcp_free(p->name);
    mcp_free(p->ready_file);
    mcp_free(p->faults_file);
    mcp_free(p->config_file);
    mcp_free(p->binary);
    mcp_free(p->tk);
    mcp_free(p);
    return NULL;
}

static int begin_op(sup_proc_t *p, op_t op, sup_done_fn cb, void *ud, char *err, size_t errcap)
{
    if (p->sup->stopping) {
        snprintf(err, errcap, "the run is stopping");
        return MCP_ESTATE;
    }
    if (p->op != OP_NONE) {
        snprintf(err, errcap, "process %s is busy with another action", p->name);
        return MCP_ESTATE;
    }
    p->op = op;
    p->op_cb = cb;
    p->op_ud = ud;
    return 0;
}

int sup_start(sup_t *s, const scn_process_t *spec, sup_done_fn cb, void *ud, char *err,
              size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    sup_proc_t *p = sup_find(s, spec->name);
    if (!p) {
        p = proc_create(s, spec, err, errcap);
        if (!p)
            return UV_ENOENT;
    }
    if (sup_proc_running(p)) {
        snprintf(err, errcap, "process %s is already running", p->name);
        return MCP_ESTATE;
    }
    int rc = begin_op(p, OP_START, cb, ud, err, errcap);
    if (rc)
        return rc;
    rc = spawn_proc(p, err, errcap);
    if (rc) {
        p->op = OP_NONE;
        p->op_cb = NULL;
        p->state = ST_EXITED;
    }
    return rc;
}

static int signal_proc(sup_proc_t *p, int signum)
{
    if (p->child)
        return child_signal(p->child, signum);
    if (p->client) {
        child_t *c = mcp_client_stdio_child(p->client);
        if (c)
            return child_signal(c, signum);
    }
    return MCP_ESTATE;
}

static void terminate_proc(sup_proc_t *p)
{
    p->exit_expected = 1;
    if (p->state == ST_STOPPED)
        signal_proc(p, SIGCONT);
    if (p->child) {
        child_signal(p->child, SIGTERM);
        child_terminate(p->child, p->sup->grace_ms);
    } else if (p->client) {
        /* mcp-mock on stdio exits at end of input; the stdio transport escalates to SIGTERM and
         * SIGKILL after the grace time */
        stdio_close_client(p);
    }
}

int sup_action(sup_t *s, const char *name, sup_action_t action, int signum, sup_done_fn cb,
               void *ud, char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    sup_proc_t *p = sup_find(s, name);
    if (!p) {
        snprintf(err, errcap, "process %s was never started", name);
        return MCP_ENOTFOUND;
    }
    int running = sup_proc_running(p);
    if (action == SUP_ACT_START) {
        if (running) {
            snprintf(err, errcap, "process %s is already running", name);
            return MCP_ESTATE;
        }
        return sup_start(s, p->spec, cb, ud, err, errcap);
    }
    if (!running && action != SUP_ACT_RESTART) {
        snprintf(err, errcap, "process %s is not running", name);
        return MCP_ESTATE;
    }
    int rc;
    switch (action) {
    case SUP_ACT_KILL:
        if ((rc = begin_op(p, OP_EXIT, cb, ud, err, errcap)))
            return rc;
        p->exit_expected = 1;
        rc = signal_proc(p, SIGKILL);
        if (rc) {
            p->op = OP_NONE;
            snprintf(err, errcap, "kill %s: %s", name, mcp_strerror(rc));
        }
        return rc;
    case SUP_ACT_TERMINATE:
        if ((rc = begin_op(p, OP_EXIT, cb, ud, err, errcap)))
            return rc;
        terminate_proc(p);
        return 0;
    case SUP_ACT_STOP:
        if ((rc = begin_op(p, OP_STOP, cb, ud, err, errcap)))
            return rc;
        rc = signal_proc(p, SIGSTOP);
        if (rc) {
            p->op = OP_NONE;
            snprintf(err, errcap, "stop %s: %s", name, mcp_strerror(rc));
            return rc;
        }
        p->deadline_ns = clock_mono_ns() + STOP_DEADLINE_NS;
        uv_timer_start(&p->poll, proc_tick, 0, STOP_POLL_MS);
        return 0;
    case SUP_ACT_CONTINUE:
    case SUP_ACT_SIGNAL:
        if ((rc = begin_op(p, OP_QUICK, cb, ud, err, errcap)))
            return rc;
        rc = signal_proc(p, action == SUP_ACT_CONTINUE ? SIGCONT : signum);
        if (rc) {
            p->op = OP_NONE;
            snprintf(err, errcap, "signal %s: %s", name, mcp_strerror(rc));
            return rc;
        }
        if (action == SUP_ACT_CONTINUE && p->state == ST_STOPPED)
            p->state = ST_READY;
        proc_defer(p, 0, NULL);
        return 0;
    case SUP_ACT_RESTART:
        if ((rc = begin_op(p, OP_RESTART, cb, ud, err, errcap)))
            return rc;
        if (running) {
            terminate_proc(p);
            return 0;
        }
        p->op = OP_START;
        rc = spawn_proc(p, err, errcap);
        if (rc)
            p->op = OP_NONE;
        return rc;
    case SUP_ACT_START: break;
    }
    return MCP_EINVAL;
}

static void faults_ping_done(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    (void)resp;
    sup_proc_t *p = tk_unref(ud);
    if (!p || p->op != OP_FAULTS)
        return;
    if (status == 0)
        op_complete(p, 0, NULL);
    else
        op_fail(p, status, "ping after reloading the fault rules of %s failed: %s", p->name,
                mcp_strerror(status));
}

int sup_set_faults(sup_t *s, const char *name, const cJSON *rules, sup_done_fn cb, void *ud,
                   char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    sup_proc_t *p = sup_find(s, name);
    if (!p || p->type != SCN_PROC_MOCK) {
        snprintf(err, errcap, "%s is not a started mock", name);
        return MCP_ENOTFOUND;
    }
    if (p->state != ST_READY) {
        snprintf(err, errcap, "mock %s is not running", name);
        return MCP_ESTATE;
    }
    int clear =
        !rules || cJSON_IsNull(rules) || (cJSON_IsArray(rules) && cJSON_GetArraySize(rules) == 0);
    int rc = begin_op(p, OP_FAULTS, cb, ud, err, errcap);
    if (rc)
        return rc;
    if (strcmp(p->transport, "stdio") == 0) {
        cJSON *empty = cJSON_CreateArray();
        char *text = cJSON_Print(clear ? empty : rules);
        cJSON_Delete(empty);
        rc = text ? write_file(p->faults_file, text) : MCP_ENOMEM;
        cJSON_free(text);
        if (!rc)
            rc = signal_proc(p, SIGHUP);
        if (!rc) {
            /* the ping is answered after the mock's loop has seen the SIGHUP (delivered before
             * the ping was written), so the next request meets the new rules */
            rc = mcp_client_request(p->client, "ping", NULL, 5000, faults_ping_done, tk_ref(p),
                                    NULL);
            if (rc)
                tk_unref(p->tk);
        }
        if (rc) {
            p->op = OP_NONE;
            snprintf(err, errcap, "replacing the fault rules of %s: %s", name, mcp_strerror(rc));
        }
        return rc;
    }
    char base[512], host[256];
    uint16_t port;
    const char *url = p->ready_url ? p->ready_url : "";
    if (parse_url(url, base, sizeof(base), host, sizeof(host), &port)) {
        p->op = OP_NONE;
        snprintf(err, errcap, "mock %s has no URL", name);
        return MCP_ESTATE;
    }
    char *target = mcp_asprintf("%s/_mock/faults", base);
    char *body = clear ? NULL : cJSON_PrintUnformatted(rules);
    if (!target || (!clear && !body))
        rc = MCP_ENOMEM;
    else
        rc = start_http(p, clear ? "DELETE" : "PUT", target, body, 5000);
    mcp_free(target);
    cJSON_free(body);
    if (rc) {
        p->op = OP_NONE;
        snprintf(err, errcap, "replacing the fault rules of %s: %s", name, mcp_strerror(rc));
    }
    return rc;
}

int sup_wait_exit(sup_t *s, const char *name, sup_done_fn cb, void *ud, char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    sup_proc_t *p = sup_find(s, name);
    if (!p) {
        snprintf(err, errcap, "process %s was never started", name);
        return MCP_ENOTFOUND;
    }
    int rc = begin_op(p, sup_proc_running(p) ? OP_EXIT : OP_QUICK, cb, ud, err, errcap);
    if (rc)
        return rc;
    if (p->op == OP_QUICK)
        proc_defer(p, 0, NULL);
    return 0;
}

static void check_all_done(sup_t *s)
{
    if (!s->stopping || !s->all_pending)
        return;
    for (size_t i = 0; i < s->nprocs; i++) {
        sup_proc_t *p = s->procs[i];
        if (p->child || p->client || p->probe || p->deferred)
            return;
    }
    s->all_pending = 0;
    sup_all_done_fn cb = s->all_cb;
    s->all_cb = NULL;
    if (cb)
        cb(s, s->all_ud);
}

int sup_stop_all(sup_t *s, sup_all_done_fn cb, void *ud)
{
    if (s->stopping)
        return MCP_ESTATE;
    s->stopping = 1;
    s->all_cb = cb;
    s->all_ud = ud;
    s->all_pending = 1;
    for (size_t i = 0; i < s->nprocs; i++) {
        sup_proc_t *p = s->procs[i];
        if (p->op != OP_NONE && !p->deferred)
            proc_defer(p, MCP_ECANCELED, "the run is stopping");
        if (p->probe)
            http_request_cancel(p->probe);
        if (sup_proc_running(p))
            terminate_proc(p);
    }
    uv_timer_start(&s->defer, defer_tick, 0, 0);
    return 0;
}

static void proc_poll_closed(uv_handle_t *h)
{
    sup_proc_t *p = h->data;
    sup_t *s = p->sup;
    linebuf_free(&p->out_lb);
    if (p->has_re)
        regfree(&p->ready_re);
    mcp_free(p->name);
    mcp_free(p->binary);
    mcp_free(p->ready_file);
    mcp_free(p->faults_file);
    mcp_free(p->config_file);
    mcp_free(p->ready_target);
    mcp_free(p->ready_url);
    p->tk->p = NULL;
    tk_unref(p->tk);
    mcp_free(p);
    if (--s->open_handles == 0) {
        mcp_free(s->procs);
        mcp_free(s->pids);
        mcp_free(s->run_dir);
        mcp_free(s->bin_dir);
        mcp_free(s);
    }
}

static void sup_defer_closed(uv_handle_t *h)
{
    sup_t *s = h->data;
    if (--s->open_handles == 0) {
        mcp_free(s->procs);
        mcp_free(s->pids);
        mcp_free(s->run_dir);
        mcp_free(s->bin_dir);
        mcp_free(s);
    }
}

void sup_free(sup_t *s)
{
    if (!s || s->freeing)
        return;
    s->freeing = 1;
    for (size_t i = 0; i < s->nprocs; i++) {
        sup_proc_t *p = s->procs[i];
        p->freeing = 1;
        if (p->probe)
            http_request_cancel(p->probe);
        p->probe = NULL;
        if (p->child) {
            /* child_close SIGKILLs a running child's group and reaps it in the background */
            child_close(p->child);
            p->child = NULL;
        }
        if (p->client) {
            child_t *c = mcp_client_stdio_child(p->client);
            if (c)
                child_signal(c, SIGKILL);
            stdio_close_client(p);
            p->client = NULL;
        }
        if (p->out_f)
            fclose(p->out_f);
        if (p->err_f)
            fclose(p->err_f);
        p->out_f = p->err_f = NULL;
        uv_timer_stop(&p->poll);
        uv_close((uv_handle_t *)&p->poll, proc_poll_closed);
    }
    if (s->proclog)
        fclose(s->proclog);
    s->proclog = NULL;
    uv_timer_stop(&s->defer);
    uv_close((uv_handle_t *)&s->defer, sup_defer_closed);
}
