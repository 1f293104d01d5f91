#include "mock_proc.h"

#include "alloc.h"
#include "clock.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READY_PREFIX "mcp-mock ready "

/* ---- waiting ---- */

typedef int (*cond_fn)(mock_proc_t *p, const void *arg);

static void on_wake(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static void free_handle(uv_handle_t *h)
{
    mcp_free(h);
}

/* Run the loop until cond holds or timeout_ms passed. 0 or MCP_ETIMEDOUT. */
static int run_until(uv_loop_t *loop, cond_fn cond, mock_proc_t *p, const void *arg,
                     uint64_t timeout_ms)
{
    if (cond(p, arg))
        return 0;
    int expired = 0;
    uv_timer_t *t = mcp_malloc(sizeof(*t));
    if (!t)
        return MCP_ENOMEM;
    uv_timer_init(loop, t);
    t->data = &expired;
    uv_timer_start(t, on_wake, timeout_ms, 0);
    while (!cond(p, arg) && !expired)
        uv_run(loop, UV_RUN_ONCE);
    int ok = cond(p, arg);
    uv_close((uv_handle_t *)t, free_handle);
    return ok ? 0 : MCP_ETIMEDOUT;
}

static int cond_never(mock_proc_t *p, const void *arg)
{
    (void)p;
    (void)arg;
    return 0;
}

void mock_proc_idle(uv_loop_t *loop, uint64_t ms)
{
    (void)run_until(loop, cond_never, NULL, NULL, ms);
}

/* ---- the child ---- */

const char *mock_proc_bin(void)
{
    static char path[4096];
    const char *dir = getenv("MCP_BIN_DIR");
    if (!dir)
        return NULL;
    snprintf(path, sizeof(path), "%s/mcp-mock", dir);
    return access(path, X_OK) == 0 ? path : NULL;
}

/* "... url=URL ..." -> p->url */
static void take_ready(mock_proc_t *p, const char *line, size_t len)
{
    if (p->ready || len < sizeof(READY_PREFIX) - 1 ||
        memcmp(line, READY_PREFIX, sizeof(READY_PREFIX) - 1) != 0)
        return;
    p->ready = 1;
    p->ready_ms = clock_mono_ms();
    const char *u = strstr(line, " url=");
    if (u) {
        u += 5;
        size_t n = strcspn(u, " \n");
        if (n >= sizeof(p->url))
            n = sizeof(p->url) - 1;
        memcpy(p->url, u, n);
        p->url[n] = '\0';
    }
}

static void on_stderr(child_t *c, const char *line, size_t len, void *ud)
{
    (void)c;
    mock_proc_t *p = ud;
    (void)buf_append(&p->err, line, len);
    (void)buf_putc(&p->err, '\n');
    take_ready(p, line, len);
    if (getenv("MOCK_TEST_VERBOSE"))
        fprintf(stderr, "  [mock] %s\n", line);
}

static void on_stdout(child_t *c, char *data, ssize_t nread, void *ud)
{
    (void)c;
    mock_proc_t *p = ud;
    if (nread < 0) {
        p->out_eof = 1;
        return;
    }
    (void)buf_append(&p->out, data, (size_t)nread);
}

static void on_exit_cb(child_t *c, int64_t status, int sig, void *ud)
{
    (void)c;
    mock_proc_t *p = ud;
    p->exited = 1;
    p->exit_status = status;
    p->term_signal = sig;
}

int mock_proc_start(mock_proc_t *p, uv_loop_t *loop, const char *const *args)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    buf_init(&p->out, 512u * 1024 * 1024);
    buf_init(&p->err, 16u * 1024 * 1024);
    p->start_ms = clock_mono_ms();
    const char *bin = mock_proc_bin();
    if (!bin)
        return MCP_ENOTFOUND;
    child_options_t o = {.name = "mcp-mock",
                         .file = bin,
                         .args = args,
                         .max_stderr_line = 64 * 1024,
                         .on_exit = on_exit_cb,
                         .on_stderr = on_stderr,
                         .userdata = p};
    int rc = child_spawn(loop, &o, &p->child);
    if (rc)
        return rc;
    return child_read_start(p->child, on_stdout);
}

/* A readiness line at the start of stdout (http/sse) is consumed. */
static void scan_stdout_ready(mock_proc_t *p)
{
    if (p->ready || p->out.len == 0)
        return;
    char *nl = memchr(p->out.data, '\n', p->out.len);
    if (!nl)
        return;
    size_t n = (size_t)(nl - p->out.data);
    if (n >= sizeof(READY_PREFIX) - 1 &&
        memcmp(p->out.data, READY_PREFIX, sizeof(READY_PREFIX) - 1) == 0) {
        take_ready(p, p->out.data, n);
        buf_consume(&p->out, n + 1);
    }
}

static int cond_ready(mock_proc_t *p, const void *arg)
{
    (void)arg;
    scan_stdout_ready(p);
    return p->ready || p->exited;
}

int mock_proc_wait_ready(mock_proc_t *p, uint64_t timeout_ms)
{
    int rc = run_until(p->loop, cond_ready, p, NULL, timeout_ms);
    if (rc)
        return rc;
    return p->ready ? 0 : MCP_ECHILD;
}

int mock_proc_send(mock_proc_t *p, const char *line)
{
    uv_buf_t b[2] = {uv_buf_init((char *)line, (unsigned)strlen(line)), uv_buf_init("\n", 1)};
    return child_write(p->child, b, 2, NULL, NULL);
}

static int cond_line(mock_proc_t *p, const void *arg)
{
    (void)arg;
    return (p->out.len && memchr(p->out.data, '\n', p->out.len)) || p->out_eof;
}

char *mock_proc_read_line(mock_proc_t *p, uint64_t timeout_ms, int *rc)
{
    int r = run_until(p->loop, cond_line, p, NULL, timeout_ms);
    char *nl = p->out.len ? memchr(p->out.data, '\n', p->out.len) : NULL;
    if (!nl) {
        if (rc)
            *rc = r ? r : MCP_ECLOSED;
        return NULL;
    }
    size_t n = (size_t)(nl - p->out.data);
    char *line = mcp_strndup(p->out.data, n);
    buf_consume(&p->out, n + 1);
    if (rc)
        *rc = 0;
    return line;
}

static int cond_eof(mock_proc_t *p, const void *arg)
{
    (void)arg;
    return p->out_eof;
}

int mock_proc_wait_eof(mock_proc_t *p, uint64_t timeout_ms)
{
    return run_until(p->loop, cond_eof, p, NULL, timeout_ms);
}

static int cond_stderr(mock_proc_t *p, const void *arg)
{
    return p->err.len && strstr(p->err.data, arg) != NULL;
}

int mock_proc_wait_stderr(mock_proc_t *p, const char *needle, uint64_t timeout_ms)
{
    return run_until(p->loop, cond_stderr, p, needle, timeout_ms);
}

static int cond_exit(mock_proc_t *p, const void *arg)
{
    (void)arg;
    return p->exited;
}

int mock_proc_wait_exit(mock_proc_t *p, uint64_t timeout_ms)
{
    return run_until(p->loop, cond_exit, p, NULL, timeout_ms);
}

int mock_proc_signal(mock_proc_t *p, int signum)
{
    return child_signal(p->child, signum);
}

void mock_proc_close(mock_proc_t *p)
{
    child_close(p->child);
    p->child = NULL;
    buf_free(&p->out);
    buf_free(&p->err);
}

/* ---- HTTP ---- */

typedef struct {
    int done;
    http_resp_t *out;
} sync_t;

static void copy_header(http_request_t *req, const char *name, char *dst, size_t cap)
{
    const char *v = http_request_header(req, name);
    snprintf(dst, cap, "%s", v ? v : "");
}

static void on_http_done(http_request_t *req, int result, void *ud)
{
    sync_t *s = ud;
    http_resp_t *out = s->out;
    out->result = result;
    out->status = http_request_status(req);
    out->elapsed_ms = http_request_elapsed_us(req) / 1000;
    copy_header(req, "Content-Type", out->content_type, sizeof(out->content_type));
    copy_header(req, "Mcp-Session-Id", out->session_id, sizeof(out->session_id));
    copy_header(req, "Retry-After", out->retry_after, sizeof(out->retry_after));
    out->body = http_request_take_body(req, &out->len);
    s->done = 1;
}

static int cond_sync(mock_proc_t *p, const void *arg)
{
    (void)p;
    return ((const sync_t *)arg)->done;
}

int http_sync(uv_loop_t *loop, http_client_t *c, const char *method, const char *url,
              const char *const *headers, const char *body, uint64_t timeout_ms, http_resp_t *out)
{
    memset(out, 0, sizeof(*out));
    http_request_t *req;
    int rc = http_request_new(c, method, url, &req);
    if (rc) {
        out->result = rc;
        return rc;
    }
    for (size_t i = 0; headers && headers[i]; i++) {
        const char *colon = strchr(headers[i], ':');
        char name[128];
        size_t n = colon ? (size_t)(colon - headers[i]) : 0;
        if (!colon || n >= sizeof(name))
            continue;
        memcpy(name, headers[i], n);
        name[n] = '\0';
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        (void)http_request_add_header(req, name, v);
    }
    if (body)
        (void)http_request_set_body(req, body, strlen(body));
    http_request_set_timeouts(req, timeout_ms, 0);
    http_request_set_max_body(req, 512u * 1024 * 1024);
    sync_t s = {0, out};
    rc = http_request_start(req, on_http_done, &s);
    if (rc) {
        http_request_free(req);
        out->result = rc;
        return rc;
    }
    (void)run_until(loop, cond_sync, NULL, &s, timeout_ms + 5000);
    return out->result;
}

void http_resp_free(http_resp_t *r)
{
    mcp_free(r->body);
    r->body = NULL;
}

/* The last SSE data event with an "id" (a response), counting the others as notifications. */
static cJSON *parse_sse(const char *body, int *notes)
{
    cJSON *last = NULL;
    const char *line = body;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > 6 && strncmp(line, "data: ", 6) == 0) {
            cJSON *m = cJSON_ParseWithLength(line + 6, n - 6);
            if (m && cJSON_GetObjectItemCaseSensitive(m, "id") &&
                !cJSON_GetObjectItemCaseSensitive(m, "method")) {
                cJSON_Delete(last);
                last = m;
            } else {
                if (m && notes)
                    (*notes)++;
                cJSON_Delete(m);
            }
        }
        line = end ? end + 1 : NULL;
    }
    return last;
}

int mcp_http_post(uv_loop_t *loop, http_client_t *c, const char *url, const char *session,
                  const char *json, uint64_t timeout_ms, http_resp_t *out, cJSON **msg, int *notes)
{
    char sess[192];
    snprintf(sess, sizeof(sess), "Mcp-Session-Id: %s", session ? session : "");
    const char *headers[] = {"Accept: application/json, text/event-stream",
                             "Content-Type: application/json", "MCP-Protocol-Version: 2025-11-25",
                             session && session[0] ? sess : NULL, NULL};
    if (msg)
        *msg = NULL;
    int rc = http_sync(loop, c, "POST", url, headers, json, timeout_ms, out);
    if (rc || !msg || !out->body)
        return rc;
    if (strstr(out->content_type, "text/event-stream"))
        *msg = parse_sse(out->body, notes);
    else if (out->len)
        *msg = cJSON_ParseWithLength(out->body, out->len);
    return 0;
}

int mcp_http_open(uv_loop_t *loop, http_client_t *c, const char *url, char *session, size_t cap)
{
    http_resp_t r;
    cJSON *msg = NULL;
    int rc = mcp_http_post(loop, c, url, NULL,
                           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                           "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":"
                           "{\"name\":\"test\",\"version\":\"1\"}}}",
                           5000, &r, &msg, NULL);
    if (!rc && (r.status != 200 || !msg || !r.session_id[0]))
        rc = MCP_EPROTO;
    if (!rc)
        snprintf(session, cap, "%s", r.session_id);
    cJSON_Delete(msg);
    http_resp_free(&r);
    if (rc)
        return rc;
    rc = mcp_http_post(loop, c, url, session,
                       "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", 5000, &r,
                       NULL, NULL);
    if (!rc && r.status != 202)
        rc = MCP_EPROTO;
    http_resp_free(&r);
    return rc;
}
