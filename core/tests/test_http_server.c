/* Integration tests for http_server and http_router.
 *
 * The server runs on the test's libuv loop (main thread); a blocking socket client runs on a
 * second thread and only records what it saw (no cmocka calls off the main thread). The two meet
 * through atomics + uv_async (client -> loop) and a semaphore (loop -> client). Every wait is on
 * the event loop with a deadline; nothing sleeps to synchronise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "http_router.h"
#include "http_server.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_HDRS  32
#define BODY_KEEP (64 * 1024)
#define NRES      6

static int io_timeout_s = 15;
static uint64_t wait_limit_ms = 20000;

/* ---- blocking client (client thread only) ---- */

typedef struct resp_s {
    int status;
    int complete;
    int keep_alive;
    int head;
    int nh;
    int ignoring;
    int in_value;
    char hname[MAX_HDRS][64];
    char hval[MAX_HDRS][512];
    char body[BODY_KEEP + 1];
    size_t body_len;   /* stored */
    size_t body_total; /* seen */
} resp_t;

typedef struct cli_s {
    int fd;
    size_t len;
    char buf[65536];
} cli_t;

static void str_add(char *dst, size_t cap, const char *at, size_t len, int lower)
{
    size_t n = strlen(dst);
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        char ch = at[i];
        if (lower && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        dst[n++] = ch;
    }
    dst[n] = '\0';
}

static int rp_field(http_parser *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    if (r->nh == 0 || r->in_value) {
        r->in_value = 0;
        if (r->nh == MAX_HDRS) {
            r->ignoring = 1;
            return 0;
        }
        r->nh++;
    }
    if (!r->ignoring)
        str_add(r->hname[r->nh - 1], sizeof r->hname[0], at, len, 1);
    return 0;
}

static int rp_value(http_parser *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    r->in_value = 1;
    if (!r->ignoring)
        str_add(r->hval[r->nh - 1], sizeof r->hval[0], at, len, 0);
    return 0;
}

static int rp_headers_complete(http_parser *p)
{
    resp_t *r = p->data;
    r->status = (int)p->status_code;
    r->keep_alive = http_should_keep_alive(p);
    return r->head ? 1 : 0;
}

static int rp_body(http_parser *p, const char *at, size_t len)
{
    resp_t *r = p->data;
    size_t keep = len;
    if (keep > BODY_KEEP - r->body_len)
        keep = BODY_KEEP - r->body_len;
    memcpy(r->body + r->body_len, at, keep);
    r->body_len += keep;
    r->body[r->body_len] = '\0';
    r->body_total += len;
    return 0;
}

static int rp_complete(http_parser *p)
{
    resp_t *r = p->data;
    r->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings rp_settings = {
    .on_header_field = rp_field,
    .on_header_value = rp_value,
    .on_headers_complete = rp_headers_complete,
    .on_body = rp_body,
    .on_message_complete = rp_complete,
};

static const char *resp_hdr(const resp_t *r, const char *name)
{
    for (int i = 0; i < r->nh; i++) {
        if (strcmp(r->hname[i], name) == 0)
            return r->hval[i];
    }
    return NULL;
}

static int cli_open(cli_t *c, int port, int rcvbuf)
{
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -errno;
    if (rcvbuf)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {.tv_sec = io_timeout_s};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        return -e;
    }
    return 0;
}

static void cli_close(cli_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int cli_send(cli_t *c, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int cli_sends(cli_t *c, const char *s)
{
    return cli_send(c, s, strlen(s));
}

/* Read one response (pipelined leftovers stay buffered). 0 when complete. */
static int cli_response(cli_t *c, resp_t *r, int head)
{
    memset(r, 0, offsetof(resp_t, hname));
    memset(r->hname, 0, sizeof r->hname);
    memset(r->hval, 0, sizeof r->hval);
    r->body[0] = '\0';
    r->body_len = r->body_total = 0;
    r->head = head;
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = r;
    for (;;) {
        if (c->len) {
            size_t n = http_parser_execute(&p, &rp_settings, c->buf, c->len);
            memmove(c->buf, c->buf + n, c->len - n);
            c->len -= n;
            if (r->complete)
                return 0;
            if (HTTP_PARSER_ERRNO(&p) != HPE_OK)
                return -1;
        }
        ssize_t got = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (got > 0) {
            c->len += (size_t)got;
            continue;
        }
        if (got == 0) {
            http_parser_execute(&p, &rp_settings, NULL, 0);
            return r->complete ? 0 : -2;
        }
        return -errno;
    }
}

/* 1: the server closed (EOF or reset) without sending more; 0: data came; <0: error/timeout. */
static int cli_wait_closed(cli_t *c)
{
    if (c->len)
        return 0;
    char tmp[256];
    ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 1;
    return n > 0 ? 0 : -errno;
}

/* Read raw bytes until `needle` appears. 0 when found. */
static int cli_read_until(cli_t *c, const char *needle)
{
    for (;;) {
        c->buf[c->len] = '\0';
        if (strstr(c->buf, needle))
            return 0;
        if (c->len + 1 >= sizeof c->buf)
            return -1;
        ssize_t got = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1, 0);
        if (got <= 0)
            return -1;
        c->len += (size_t)got;
    }
}

/* ---- fixture (main thread) ---- */

typedef struct fx_s fx_t;
typedef void (*client_fn)(fx_t *fx);

struct fx_s {
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t poll;
    uv_timer_t release;
    http_server_t *srv;
    http_router_t *router;
    int port;
    int closed;
    pthread_t th;
    int th_started;
    client_fn client;
    sem_t go;
    atomic_int phase;
    atomic_int client_done;
    /* client results */
    resp_t res[NRES];
    int crc[16];
    /* server-side observations */
    int handled;
    http_req_t *held[8];
    int nheld;
    int fast_saw_held;
    int release_rc;
    size_t stream_written;
    size_t stream_maxq;
    size_t stream_queued;
    int stream_rc;
    int drains;
    int sse_closed;
    int sse_end_rc;
    int hold_closed;
    int hold_respond_rc;
};

static void on_async(uv_async_t *a)
{
    (void)a; /* waking the loop is enough: RUN_UNTIL re-checks its condition */
}

static void on_poll(uv_timer_t *t)
{
    (void)t;
}

#define RUN_UNTIL(fx, cond)                                  \
    do {                                                     \
        uv_update_time(&(fx)->loop);                         \
        uint64_t t0_ = uv_now(&(fx)->loop);                  \
        uv_timer_start(&(fx)->poll, on_poll, 5, 5);          \
        while (!(cond)) {                                    \
            uv_run(&(fx)->loop, UV_RUN_ONCE);                \
            if (uv_now(&(fx)->loop) - t0_ > wait_limit_ms)   \
                fail_msg("timed out waiting for %s", #cond); \
        }                                                    \
        uv_timer_stop(&(fx)->poll);                          \
    } while (0)

/* ---- handlers ---- */

static void h_hello(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    fx->handled++;
    assert_null(http_req_userdata(req)); /* recycled requests start clean */
    http_req_set_userdata(req, fx);
    assert_ptr_equal(http_req_userdata(req), fx);
    assert_int_equal(http_resp_header(req, "X-Request-Id", http_req_id_str(req)), 0);
    assert_int_equal(http_respond(req, 200, "application/json", "{\"ok\":true}", 11), 0);
}

static void h_echo(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    fx->handled++;
    size_t n;
    const char *b = http_req_body(req, &n);
    assert_int_equal(http_respond(req, 200, "text/plain", b, n), 0);
}

static void h_hold(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    fx->handled++;
    assert_true(fx->nheld < 8);
    fx->held[fx->nheld++] = req;
}

static void on_release(uv_timer_t *t)
{
    fx_t *fx = t->data;
    fx->release_rc = http_respond(fx->held[0], 200, "text/plain", "slow", 4);
    fx->held[0] = NULL;
}

/* Answers at once, then lets the held /slow request answer from the loop. */
static void h_fast(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    fx->handled++;
    fx->fast_saw_held = fx->nheld == 1 && fx->held[0] != NULL;
    assert_int_equal(http_respond(req, 200, "text/plain", "fast", 4), 0);
    uv_timer_start(&fx->release, on_release, 0, 0);
}

static void h_params(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    fx->handled++;
    char out[1024];
    const char *name = http_req_param(req, "name"), *id = http_req_param(req, "id");
    const char *path = http_req_param(req, "path"), *q = http_req_query_param(req, "q");
    const char *x = http_req_query_param(req, "x"), *e = http_req_query_param(req, "e");
    int n = snprintf(out, sizeof out, "name=%s id=%s path=%s q=%s x=%s e=%s", name ? name : "-",
                     id ? id : "-", path ? path : "-", q ? q : "-", x ? x : "-", e ? e : "-");
    assert_int_equal(http_respond(req, 200, "text/plain", out, (size_t)n), 0);
}

static void h_special(http_req_t *req, void *ud)
{
    (void)ud;
    assert_int_equal(http_respond(req, 200, "text/plain", "special", 7), 0);
}

static void h_fallback(http_req_t *req, void *ud)
{
    (void)ud;
    assert_int_equal(http_respond(req, 200, "text/plain", "fallback", 8), 0);
}

static void h_headers(http_req_t *req, void *ud)
{
    (void)ud;
    char out[1024];
    const char *m0 = http_req_header(req, "x-multi");
    const char *m1 = http_req_header_nth(req, "X-MULTI", 1);
    const char *m2 = http_req_header_nth(req, "x-multi", 2);
    const char *empty = http_req_header(req, "x-empty");
    const char *name0 = NULL, *value0 = NULL;
    assert_int_equal(http_req_header_at(req, 0, &name0, &value0), 0);
    assert_int_equal(http_req_header_at(req, http_req_header_count(req), NULL, NULL), MCP_EINVAL);
    const char *peer = http_req_remote_addr(req);
    assert_non_null(http_req_peer(req));
    int n =
        snprintf(out, sizeof out,
                 "m0=%s m1=%s m2=%s empty=[%s] first=%s:%s n=%zu peer=%.10s "
                 "method=%s v=%d target=%s query=%s id=%s",
                 m0 ? m0 : "-", m1 ? m1 : "-", m2 ? m2 : "-", empty ? empty : "-", name0, value0,
                 http_req_header_count(req), peer, http_req_method_str(req), http_req_version(req),
                 http_req_target(req), http_req_query(req), http_req_id_str(req));
    assert_int_equal(http_resp_header(req, "Content-Length", "1"), MCP_EINVAL);
    assert_int_equal(http_resp_header(req, "X-Bad", "a\r\nInjected: 1"), MCP_EINVAL);
    assert_int_equal(http_resp_header(req, "Bad Name", "v"), MCP_EINVAL);
    assert_int_equal(http_respond(req, 99, "text/plain", "", 0), MCP_EINVAL);
    assert_int_equal(http_respond(req, 200, "text/plain", out, (size_t)n), 0);
}

static void on_stream_drain(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    fx->drains++;
    int rc = http_stream_write(req, "END", 3);
    if (rc >= 0)
        fx->stream_written += 3;
    assert_int_equal(http_stream_end(req), 0);
}

/* Writes until the connection's output limit refuses more; the client is not reading yet. */
static void h_stream(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    static char chunk[16384];
    memset(chunk, 'x', sizeof chunk);
    assert_int_equal(http_stream_start(req, 200, "application/octet-stream", 0), 0);
    http_req_on_drain(req, on_stream_drain, fx);
    int rc = 0;
    for (int i = 0; i < 100000; i++) {
        rc = http_stream_write(req, chunk, sizeof chunk);
        if (rc < 0)
            break;
        fx->stream_written += sizeof chunk;
        if ((size_t)rc > fx->stream_maxq)
            fx->stream_maxq = (size_t)rc;
    }
    fx->stream_rc = rc;
    fx->stream_queued = http_stream_queued(req);
    sem_post(&fx->go);
}

static void on_sse_close(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    fx->sse_closed++;
    assert_true(http_req_closed(req));
    assert_int_equal(http_stream_write(req, "x", 1), MCP_ECLOSED);
    fx->sse_end_rc = http_stream_end(req); /* releases the request */
}

static void h_sse(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    assert_int_equal(http_resp_header(req, "Cache-Control", "no-cache"), 0);
    assert_int_equal(http_stream_start(req, 200, "text/event-stream", 0), 0);
    assert_int_equal(http_resp_header(req, "X-Late", "1"), MCP_ESTATE);
    http_req_on_close(req, on_sse_close, fx);
    assert_true(http_stream_write(req, "data: hello\n\n", 13) >= 0);
}

static void h_close_delim(http_req_t *req, void *ud)
{
    (void)ud;
    assert_int_equal(http_stream_start(req, 200, "text/event-stream", HTTP_STREAM_CLOSE_DELIMITED),
                     0);
    assert_true(http_stream_write(req, "part1 ", 6) >= 0);
    assert_true(http_stream_write(req, "part2", 5) >= 0);
    assert_int_equal(http_stream_end(req), 0);
}

static void on_hold_close(http_req_t *req, void *ud)
{
    fx_t *fx = ud;
    fx->hold_closed++;
    fx->hold_respond_rc = http_respond(req, 200, "text/plain", "late", 4);
    for (int i = 0; i < fx->nheld; i++) {
        if (fx->held[i] == req)
            fx->held[i] = NULL;
    }
}

static void h_hold_watch(http_req_t *req, void *ud)
{
    h_hold(req, ud);
    http_req_on_close(req, on_hold_close, ud);
}

/* ---- fixture ---- */

static fx_t *fx_new(const http_server_config_t *cfg)
{
    fx_t *fx = mcp_calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(uv_async_init(&fx->loop, &fx->async, on_async), 0);
    uv_timer_init(&fx->loop, &fx->poll);
    uv_timer_init(&fx->loop, &fx->release);
    fx->release.data = fx;
    sem_init(&fx->go, 0, 0);
    http_router_t *r = http_router_new();
    assert_non_null(r);
    fx->router = r;
    assert_int_equal(http_router_add(r, "GET", "/hello", h_hello, fx), 0);
    assert_int_equal(http_router_add(r, "POST", "/echo", h_echo, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/slow", h_hold, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/fast", h_fast, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/hold", h_hold, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/hold-watch", h_hold_watch, fx), 0);
    assert_int_equal(http_router_add(r, "POST", "/api/mcp/server/{name}/reconnect", h_params, fx),
                     0);
    assert_int_equal(http_router_add(r, "POST, PUT", "/api/mcp/tools/{name}/call", h_params, fx),
                     0);
    assert_int_equal(http_router_add(r, "GET", "/items/{id}", h_params, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/items/special", h_special, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/static/{path*}", h_params, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/headers", h_headers, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/stream", h_stream, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/sse", h_sse, fx), 0);
    assert_int_equal(http_router_add(r, "GET", "/close-delim", h_close_delim, fx), 0);
    assert_int_equal(http_server_new(&fx->loop, cfg, http_router_handle, r, &fx->srv), 0);
    assert_int_equal(http_server_listen(fx->srv, "127.0.0.1", 0), 0);
    fx->port = http_server_port(fx->srv);
    assert_true(fx->port > 0);
    return fx;
}

static void *client_main(void *arg)
{
    fx_t *fx = arg;
    fx->client(fx);
    atomic_store(&fx->client_done, 1);
    uv_async_send(&fx->async);
    return NULL;
}

static void fx_start(fx_t *fx, client_fn fn)
{
    fx->client = fn;
    assert_int_equal(pthread_create(&fx->th, NULL, client_main, fx), 0);
    fx->th_started = 1;
}

/* Client thread: announce a phase to the loop / wait for the loop's go-ahead. */
static void fx_signal(fx_t *fx, int phase)
{
    atomic_store(&fx->phase, phase);
    uv_async_send(&fx->async);
}

static int fx_wait_go(fx_t *fx)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += io_timeout_s;
    return sem_timedwait(&fx->go, &ts);
}

static void fx_join(fx_t *fx)
{
    if (!fx->th_started)
        return;
    RUN_UNTIL(fx, atomic_load(&fx->client_done));
    pthread_join(fx->th, NULL);
    fx->th_started = 0;
}

static void on_closed(http_server_t *srv, void *ud)
{
    fx_t *fx = ud;
    (void)srv;
    fx->closed++;
}

static void fx_free(fx_t *fx, uint64_t grace_ms)
{
    fx_join(fx);
    if (!fx->closed) {
        assert_int_equal(http_server_shutdown(fx->srv, grace_ms, on_closed, fx), 0);
        RUN_UNTIL(fx, fx->closed);
    }
    assert_int_equal(fx->closed, 1);
    http_server_free(fx->srv);
    http_router_free(fx->router);
    uv_close((uv_handle_t *)&fx->async, NULL);
    uv_close((uv_handle_t *)&fx->poll, NULL);
    uv_close((uv_handle_t *)&fx->release, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    sem_destroy(&fx->go);
    mcp_free(fx);
}

/* ---- tests ---- */

static void cl_basic(fx_t *fx)
{
    cli_t c;
    fx->crc[0] = cli_open(&c, fx->port, 0);
    if (fx->crc[0])
        return;
    cli_sends(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    fx->crc[1] = cli_response(&c, &fx->res[0], 0);
    cli_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
    fx->crc[2] = cli_response(&c, &fx->res[1], 0);
    cli_sends(&c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    fx->crc[3] = cli_response(&c, &fx->res[2], 1);
    /* HTTP/1.0 keep-alive, then HTTP/1.0 default close */
    cli_sends(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    fx->crc[4] = cli_response(&c, &fx->res[3], 0);
    cli_sends(&c, "GET /hello HTTP/1.0\r\n\r\n");
    fx->crc[5] = cli_response(&c, &fx->res[4], 0);
    fx->crc[6] = cli_wait_closed(&c);
    cli_close(&c);
}

static void test_get_post_keepalive(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    fx_start(fx, cl_basic);
    fx_join(fx);
    for (int i = 0; i <= 5; i++)
        assert_int_equal(fx->crc[i], 0);
    assert_int_equal(fx->crc[6], 1);
    resp_t *r = &fx->res[0];
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "{\"ok\":true}");
    assert_string_equal(resp_hdr(r, "content-type"), "application/json");
    assert_string_equal(resp_hdr(r, "content-length"), "11");
    assert_non_null(resp_hdr(r, "date"));
    assert_string_equal(resp_hdr(r, "x-request-id"), "r1");
    assert_null(resp_hdr(r, "connection"));
    assert_true(r->keep_alive);
    assert_int_equal(fx->res[1].status, 200);
    assert_string_equal(fx->res[1].body, "hello world");
    /* HEAD: the GET route answers, with the length but no body */
    assert_int_equal(fx->res[2].status, 200);
    assert_string_equal(resp_hdr(&fx->res[2], "content-length"), "11");
    assert_int_equal(fx->res[2].body_total, 0);
    assert_string_equal(resp_hdr(&fx->res[3], "connection"), "keep-alive");
    assert_string_equal(resp_hdr(&fx->res[4], "connection"), "close");
    assert_string_equal(fx->res[4].body, "{\"ok\":true}");
    http_server_stats_t st;
    http_server_get_stats(fx->srv, &st);
    assert_int_equal(st.accepted, 1); /* all five on one connection */
    assert_int_equal(st.requests, 5);
    fx_free(fx, 0);
}

static void cl_pipeline(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    /* one write: the slow request's answer must still come first */
    cli_sends(&c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    fx->crc[1] = cli_response(&c, &fx->res[0], 0);
    fx->crc[2] = cli_response(&c, &fx->res[1], 0);
    fx->crc[3] = cli_response(&c, &fx->res[2], 0);
    cli_close(&c);
}

static void test_pipelining_order(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    fx_start(fx, cl_pipeline);
    fx_join(fx);
    assert_int_equal(fx->crc[0], 0);
    assert_int_equal(fx->crc[1], 0);
    assert_int_equal(fx->crc[2], 0);
    assert_int_equal(fx->crc[3], 0);
    assert_true(fx->fast_saw_held); /* /fast was handled while /slow was still open */
    assert_int_equal(fx->release_rc, 0);
    assert_string_equal(fx->res[0].body, "slow");
    assert_string_equal(fx->res[1].body, "fast");
    assert_string_equal(fx->res[2].body, "{\"ok\":true}");
    fx_free(fx, 0);
}

static void cl_pipeline_limit(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "GET /hold HTTP/1.1\r\n\r\nGET /hold HTTP/1.1\r\n\r\n"
                  "GET /hold HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n");
    for (int i = 0; i < 4; i++)
        fx->crc[1 + i] = cli_response(&c, &fx->res[i], 0);
    cli_close(&c);
}

static int fx_elapsed(fx_t *fx, uint64_t since, uint64_t ms)
{
    return uv_now(&fx->loop) - since >= ms;
}

static void test_pipeline_limit(void **state)
{
    (void)state;
    http_server_config_t cfg = {.max_pipeline = 2};
    fx_t *fx = fx_new(&cfg);
    fx_start(fx, cl_pipeline_limit);
    RUN_UNTIL(fx, fx->nheld == 2);
    /* the third request is not dispatched while two are in flight */
    uint64_t t0 = uv_now(&fx->loop);
    RUN_UNTIL(fx, fx_elapsed(fx, t0, 100));
    assert_int_equal(fx->nheld, 2);
    assert_int_equal(http_respond(fx->held[0], 200, "text/plain", "one", 3), 0);
    RUN_UNTIL(fx, fx->nheld == 3);
    assert_int_equal(http_respond(fx->held[2], 200, "text/plain", "three", 5), 0);
    assert_int_equal(http_respond(fx->held[1], 200, "text/plain", "two", 3), 0);
    fx_join(fx);
    for (int i = 0; i < 5; i++)
        assert_int_equal(fx->crc[i], 0);
    assert_string_equal(fx->res[0].body, "one");
    assert_string_equal(fx->res[1].body, "two");
    assert_string_equal(fx->res[2].body, "three");
    assert_string_equal(fx->res[3].body, "{\"ok\":true}");
    fx_free(fx, 0);
}

static void cl_chunked(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    cli_sends(&c, "lo\r\n1;ext=1\r\n \r\n");
    cli_sends(&c, "6\r\nworld!\r\n0\r\nX-Trailer: yes\r\n\r\n");
    fx->crc[1] = cli_response(&c, &fx->res[0], 0);
    /* still usable after a chunked request */
    cli_sends(&c, "GET /hello HTTP/1.1\r\n\r\n");
    fx->crc[2] = cli_response(&c, &fx->res[1], 0);
    /* broken chunk size */
    cli_sends(&c,
              "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
    fx->crc[3] = cli_response(&c, &fx->res[2], 0);
    fx->crc[4] = cli_wait_closed(&c);
    cli_close(&c);
}

static void test_chunked_body(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    fx_start(fx, cl_chunked);
    fx_join(fx);
    assert_int_equal(fx->crc[0], 0);
    assert_int_equal(fx->crc[1], 0);
    assert_int_equal(fx->res[0].status, 200);
    assert_string_equal(fx->res[0].body, "hello world!");
    assert_int_equal(fx->crc[2], 0);
    assert_int_equal(fx->res[1].status, 200);
    assert_int_equal(fx->crc[3], 0);
    assert_int_equal(fx->res[2].status, 400);
    assert_string_equal(resp_hdr(&fx->res[2], "connection"), "close");
    assert_int_equal(fx->crc[4], 1);
    fx_free(fx, 0);
}

/* Each request on a fresh connection; the answer and then the close are recorded. */
static void cl_one_each(fx_t *fx, const char *const *reqs, int n)
{
    for (int i = 0; i < n; i++) {
        cli_t c;
        if ((fx->crc[2 * i] = cli_open(&c, fx->port, 0)) != 0)
            return;
        cli_send(&c, reqs[i], strlen(reqs[i]));
        fx->crc[2 * i] = cli_response(&c, &fx->res[i], 0);
        fx->crc[2 * i + 1] = cli_wait_closed(&c);
        cli_close(&c);
    }
}

static char big_header_req[4096];
static char big_url_req[4096];

static void cl_limits(fx_t *fx)
{
    const char *reqs[] = {
        big_header_req,
        "POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n",
        big_url_req,
        "HELLO\r\n\r\n",
        "GET /hello HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx",
    };
    cl_one_each(fx, reqs, 6);
}

static void test_limits_and_malformed(void **state)
{
    (void)state;
    http_server_config_t cfg = {.max_header_bytes = 1024, .max_body_bytes = 1024};
    int n = snprintf(big_header_req, sizeof big_header_req, "GET /hello HTTP/1.1\r\nX-Big: ");
    memset(big_header_req + n, 'a', 2000);
    memcpy(big_header_req + n + 2000, "\r\n\r\n", 5);
    n = snprintf(big_url_req, sizeof big_url_req, "GET /");
    memset(big_url_req + n, 'u', 2000);
    memcpy(big_url_req + n + 2000, " HTTP/1.1\r\n\r\n", 14);
    fx_t *fx = fx_new(&cfg);
    fx_start(fx, cl_limits);
    fx_join(fx);
    static const int want[] = {431, 413, 414, 400, 400, 417};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(fx->crc[2 * i], 0);
        assert_int_equal(fx->res[i].status, want[i]);
        assert_string_equal(resp_hdr(&fx->res[i], "connection"), "close");
        assert_string_equal(resp_hdr(&fx->res[i], "content-type"), "application/json");
        assert_int_equal(fx->crc[2 * i + 1], 1); /* then closed */
    }
    http_server_stats_t st;
    http_server_get_stats(fx->srv, &st);
    assert_int_equal(st.requests, 0); /* none reached a handler */
    fx_free(fx, 0);
}

static char big_chunk_req[8192];

static void cl_chunked_too_big(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, big_chunk_req);
    fx->crc[1] = cli_response(&c, &fx->res[0], 0);
    fx->crc[2] = cli_wait_closed(&c);
    cli_close(&c);
}

static void test_chunked_body_too_large(void **state)
{
    (void)state;
    http_server_config_t cfg = {.max_body_bytes = 1024};
    int n = snprintf(big_chunk_req, sizeof big_chunk_req,
                     "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n");
    memset(big_chunk_req + n, 'b', 2048);
    memcpy(big_chunk_req + n + 2048, "\r\n0\r\n\r\n", 8);
    fx_t *fx = fx_new(&cfg);
    fx_start(fx, cl_chunked_too_big);
    fx_join(fx);
    assert_int_equal(fx->crc[0], 0);
    assert_int_equal(fx->crc[1], 0);
    assert_int_equal(fx->res[0].status, 413);
    assert_int_equal(fx->crc[2], 1);
    fx_free(fx, 0);
}

static void cl_timeouts(fx_t *fx)
{
    cli_t c;
    /* header timeout: a request line and half the headers, then silence */
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n");
    fx->crc[1] = cli_response(&c, &fx->res[0], 0);
    fx->crc[2] = cli_wait_closed(&c);
    cli_close(&c);
    /* body timeout */
    if ((fx->crc[3] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    fx->crc[4] = cli_response(&c, &fx->res[1], 0);
    fx->crc[5] = cli_wait_closed(&c);
    cli_close(&c);
    /* idle keep-alive timeout: one request, then nothing */
    if ((fx->crc[6] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "GET /hello HTTP/1.1\r\n\r\n");
    fx->crc[7] = cli_response(&c, &fx->res[2], 0);
    fx->crc[8] = cli_wait_closed(&c);
    cli_close(&c);
}

static void test_timeouts(void **state)
{
    (void)state;
    http_server_config_t cfg = {
        .header_timeout_ms = 150, .body_timeout_ms = 150, .idle_timeout_ms = 150};
    fx_t *fx = fx_new(&cfg);
    fx_start(fx, cl_timeouts);
    fx_join(fx);
    assert_int_equal(fx->crc[0], 0);
    assert_int_equal(fx->crc[1], 0);
    assert_int_equal(fx->res[0].status, 408);
    assert_int_equal(fx->crc[2], 1);
    assert_int_equal(fx->crc[4], 0);
    assert_int_equal(fx->res[1].status, 408);
    assert_int_equal(fx->crc[5], 1);
    assert_int_equal(fx->crc[7], 0);
    assert_int_equal(fx->res[2].status, 200);
    assert_int_equal(fx->crc[8], 1); /* closed by the idle timer, no bytes */
    http_server_stats_t st;
    http_server_get_stats(fx->srv, &st);
    assert_int_equal(st.timeouts, 2);
    fx_free(fx, 0);
}

static const char *const route_reqs[] = {
    "POST /api/mcp/server/my%20srv/reconnect HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "POST /api/mcp/tools/a%2Fb/call?q=x+y&x=%41%42&e HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "GET /items/42?q=%zz HTTP/1.1\r\n\r\n",
    "GET /items/special HTTP/1.1\r\n\r\n",
    "GET /static/css/site.css HTTP/1.1\r\n\r\n",
    "PUT /api/mcp/%74ools/t1/call HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    "GET /items/%zz HTTP/1.1\r\n\r\n",
    "GET /items/a%00b HTTP/1.1\r\n\r\n",
    "GET /nope HTTP/1.1\r\n\r\n",
    "GET /api/mcp/server/x/reconnect HTTP/1.1\r\n\r\n",
    "DELETE /items/1 HTTP/1.1\r\n\r\n",
    "GET /static HTTP/1.1\r\n\r\n",
    "GET http://example.com/items/7?q=abs HTTP/1.1\r\n\r\n",
    "GET /items/ HTTP/1.1\r\n\r\n",
};
#define NROUTE (sizeof route_reqs / sizeof route_reqs[0])

typedef struct route_result_s {
    int rc;
    int status;
    char body[256];
    char allow[128];
} route_result_t;

static route_result_t route_res[NROUTE];

static void cl_routes(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    for (size_t i = 0; i < NROUTE; i++) {
        cli_sends(&c, route_reqs[i]);
        resp_t *r = &fx->res[0];
        route_res[i].rc = cli_response(&c, r, 0);
        route_res[i].status = r->status;
        snprintf(route_res[i].body, sizeof route_res[i].body, "%.200s", r->body);
        const char *allow = resp_hdr(r, "allow");
        snprintf(route_res[i].allow, sizeof route_res[i].allow, "%.100s", allow ? allow : "");
    }
    cli_close(&c);
}

static void test_routes_and_params(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    fx_start(fx, cl_routes);
    fx_join(fx);
    assert_int_equal(fx->crc[0], 0);
    for (size_t i = 0; i < NROUTE; i++)
        assert_int_equal(route_res[i].rc, 0);
    assert_string_equal(route_res[0].body, "name=my srv id=- path=- q=- x=- e=-");
    /* %2F stays inside the parameter; '+' and %XX decode in the query; "e" has no value */
    assert_string_equal(route_res[1].body, "name=a/b id=- path=- q=x y x=AB e=");
    /* a bad escape in the query is kept as it is */
    assert_string_equal(route_res[2].body, "name=- id=42 path=- q=%zz x=- e=-");
    assert_string_equal(route_res[3].body, "special");
    assert_string_equal(route_res[4].body, "name=- id=- path=css/site.css q=- x=- e=-");
    assert_string_equal(route_res[5].body, "name=t1 id=- path=- q=- x=- e=-");
    assert_int_equal(route_res[6].status, 400); /* bad escape in a path parameter */
    assert_int_equal(route_res[7].status, 400); /* encoded NUL */
    assert_int_equal(route_res[8].status, 404);
    assert_string_equal(route_res[8].body, "{\"error\":\"not found\"}");
    assert_int_equal(route_res[9].status, 405);
    assert_string_equal(route_res[9].allow, "POST");
    assert_int_equal(route_res[10].status, 405);
    assert_string_equal(route_res[10].allow, "GET, HEAD");
    assert_string_equal(route_res[11].body, "name=- id=- path= q=- x=- e=-");
    assert_string_equal(route_res[12].body, "name=- id=7 path=- q=abs x=- e=-");
    assert_int_equal(route_res[13].status, 404); /* empty segment is no parameter */
    fx_free(fx, 0);
}

static void cl_fallback(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "GET /whatever/else HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n");
    fx->crc[1] = cli_response(&c, &fx->res[0], 0);
    fx->crc[2] = cli_response(&c, &fx->res[1], 0);
    cli_sends(&c, "GET /headers?a=1 HTTP/1.1\r\nX-Multi: one\r\nx-multi: two\r\nX-Empty:\r\n\r\n");
    fx->crc[3] = cli_response(&c, &fx->res[2], 0);
    cli_close(&c);
}

static void test_router_fallback_and_headers(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    http_router_set_fallback(fx->router, h_fallback, NULL);
    assert_int_equal(http_router_add(fx->router, "BREW", "/x", h_special, NULL), MCP_EINVAL);
    assert_int_equal(http_router_add(fx->router, "GET", "x", h_special, NULL), MCP_EINVAL);
    assert_int_equal(http_router_add(fx->router, "GET", "/a/{b", h_special, NULL), MCP_EINVAL);
    assert_int_equal(http_router_add(fx->router, "GET", "/a/{rest*}/b", h_special, NULL),
                     MCP_EINVAL);
    assert_int_equal(http_router_add(fx->router, "GET", "/a/{}", h_special, NULL), MCP_EINVAL);
    assert_int_equal(http_router_add(fx->router, "GET", "/a", NULL, NULL), MCP_EINVAL);
    fx_start(fx, cl_fallback);
    fx_join(fx);
    for (int i = 0; i < 4; i++)
        assert_int_equal(fx->crc[i], 0);
    assert_string_equal(fx->res[0].body, "fallback");
    assert_int_equal(fx->res[1].status, 405); /* the path exists: no fallback */
    assert_string_equal(resp_hdr(&fx->res[1], "allow"), "POST");
    const char *b = fx->res[2].body;
    assert_non_null(strstr(b, "m0=one m1=two m2=- empty=[] first=X-Multi:one n=3"));
    assert_non_null(strstr(b, "peer=127.0.0.1:"));
    assert_non_null(strstr(b, "method=GET v=11 target=/headers?a=1 query=a=1 id=r3"));
    fx_free(fx, 0);
}

static void cl_stream(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 16384)) != 0)
        return;
    cli_sends(&c, "GET /stream HTTP/1.1\r\n\r\n");
    /* do not read until the server saw its output limit */
    fx->crc[1] = fx_wait_go(fx);
    fx->crc[2] = cli_response(&c, &fx->res[0], 0);
    cli_close(&c);
}

static void test_stream_backpressure(void **state)
{
    (void)state;
    http_server_config_t cfg = {.max_output_bytes = 256 * 1024, .stream_high_water = 32 * 1024};
    fx_t *fx = fx_new(&cfg);
    fx_start(fx, cl_stream);
    fx_join(fx);
    assert_int_equal(fx->stream_rc, MCP_ENOBUFS);
    assert_true(fx->stream_maxq <= cfg.max_output_bytes);
    assert_true(fx->stream_queued <= cfg.max_output_bytes);
    assert_true(fx->stream_queued > cfg.max_output_bytes - 16384 - 64);
    assert_int_equal(fx->drains, 1);
    assert_int_equal(fx->crc[1], 0);
    assert_int_equal(fx->crc[2], 0);
    assert_int_equal(fx->res[0].status, 200);
    assert_string_equal(resp_hdr(&fx->res[0], "transfer-encoding"), "chunked");
    assert_int_equal(fx->res[0].body_total, fx->stream_written);
    fx_free(fx, 0);
}

static void cl_sse(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "GET /sse HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n");
    fx->crc[1] = cli_read_until(&c, "data: hello\n\n");
    c.buf[c.len] = '\0';
    fx->crc[2] = strstr(c.buf, "Transfer-Encoding: chunked\r\n") != NULL &&
                 strstr(c.buf, "Cache-Control: no-cache\r\n") != NULL &&
                 strstr(c.buf, "Content-Type: text/event-stream\r\n") != NULL &&
                 strstr(c.buf, "Content-Length") == NULL;
    cli_close(&c); /* the client goes away mid-stream */
    /* close-delimited framing: the end of the body is the end of the connection */
    if ((fx->crc[3] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "GET /close-delim HTTP/1.1\r\n\r\n");
    fx->crc[4] = cli_response(&c, &fx->res[0], 0);
    fx->crc[5] = cli_wait_closed(&c);
    cli_close(&c);
}

static void test_stream_client_disconnect(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    fx_start(fx, cl_sse);
    RUN_UNTIL(fx, fx->sse_closed == 1);
    assert_int_equal(fx->sse_end_rc, MCP_ECLOSED);
    fx_join(fx);
    assert_int_equal(fx->crc[0], 0);
    assert_int_equal(fx->crc[1], 0);
    assert_int_equal(fx->crc[2], 1);
    assert_int_equal(fx->crc[4], 0);
    assert_string_equal(fx->res[0].body, "part1 part2");
    assert_string_equal(resp_hdr(&fx->res[0], "connection"), "close");
    assert_null(resp_hdr(&fx->res[0], "transfer-encoding"));
    assert_int_equal(fx->crc[5], 1);
    assert_int_equal(fx->sse_closed, 1);
    fx_free(fx, 0);
}

static void cl_shutdown(fx_t *fx)
{
    cli_t idle, busy, late;
    if ((fx->crc[0] = cli_open(&idle, fx->port, 0)) != 0)
        return;
    cli_sends(&idle, "GET /hello HTTP/1.1\r\n\r\n");
    fx->crc[1] = cli_response(&idle, &fx->res[0], 0);
    if ((fx->crc[2] = cli_open(&busy, fx->port, 0)) != 0)
        return;
    cli_sends(&busy, "GET /hold HTTP/1.1\r\n\r\n");
    fx_signal(fx, 1);
    fx->crc[3] = fx_wait_go(fx); /* the server is shutting down now */
    fx->crc[4] = cli_wait_closed(&idle);
    fx->crc[5] = cli_open(&late, fx->port, 0);
    if (fx->crc[5] == 0)
        cli_close(&late);
    fx_signal(fx, 2);
    fx->crc[6] = cli_response(&busy, &fx->res[1], 0);
    fx->crc[7] = cli_wait_closed(&busy);
    cli_close(&idle);
    cli_close(&busy);
}

static void test_graceful_shutdown(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    fx_start(fx, cl_shutdown);
    RUN_UNTIL(fx, atomic_load(&fx->phase) == 1 && fx->nheld == 1);
    assert_int_equal(http_server_shutdown(fx->srv, 10000, on_closed, fx), 0);
    assert_int_equal(http_server_shutdown(fx->srv, 10000, on_closed, fx), MCP_ESTATE);
    assert_int_equal(http_server_listen(fx->srv, "127.0.0.1", 0), MCP_ESTATE);
    sem_post(&fx->go);
    /* the idle connection is closed and new connections refused while /hold is in flight */
    RUN_UNTIL(fx, atomic_load(&fx->phase) == 2);
    assert_int_equal(fx->closed, 0);
    assert_int_equal(http_respond(fx->held[0], 200, "text/plain", "done", 4), 0);
    RUN_UNTIL(fx, fx->closed == 1);
    fx_join(fx);
    assert_int_equal(fx->crc[1], 0);
    assert_int_equal(fx->crc[3], 0);
    assert_int_equal(fx->crc[4], 1);
    assert_int_equal(fx->crc[5], -ECONNREFUSED);
    assert_int_equal(fx->crc[6], 0);
    assert_string_equal(fx->res[1].body, "done");
    assert_string_equal(resp_hdr(&fx->res[1], "connection"), "close");
    assert_int_equal(fx->crc[7], 1);
    fx_free(fx, 0);
}

static void cl_shutdown_deadline(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "GET /hold-watch HTTP/1.1\r\n\r\n");
    fx->crc[1] = cli_wait_closed(&c);
    cli_close(&c);
}

static void test_shutdown_deadline(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    fx_start(fx, cl_shutdown_deadline);
    RUN_UNTIL(fx, fx->nheld == 1);
    assert_int_equal(http_server_shutdown(fx->srv, 100, on_closed, fx), 0);
    RUN_UNTIL(fx, fx->closed == 1);
    /* the handler heard about it and its late answer went nowhere */
    assert_int_equal(fx->hold_closed, 1);
    assert_int_equal(fx->hold_respond_rc, MCP_ECLOSED);
    fx_join(fx);
    assert_int_equal(fx->crc[1], 1);
    fx_free(fx, 0);
}

static void cl_expect(fx_t *fx)
{
    cli_t c;
    if ((fx->crc[0] = cli_open(&c, fx->port, 0)) != 0)
        return;
    cli_sends(&c, "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    fx->crc[1] = cli_response(&c, &fx->res[0], 0); /* the interim answer */
    cli_sends(&c, "abcde");
    fx->crc[2] = cli_response(&c, &fx->res[1], 0);
    cli_close(&c);
}

static void test_expect_continue(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    fx_start(fx, cl_expect);
    fx_join(fx);
    assert_int_equal(fx->crc[1], 0);
    assert_int_equal(fx->res[0].status, 100);
    assert_int_equal(fx->crc[2], 0);
    assert_int_equal(fx->res[1].status, 200);
    assert_string_equal(fx->res[1].body, "abcde");
    fx_free(fx, 0);
}

static void cl_maxconn(fx_t *fx)
{
    cli_t a, b;
    if ((fx->crc[0] = cli_open(&a, fx->port, 0)) != 0)
        return;
    cli_sends(&a, "GET /hello HTTP/1.1\r\n\r\n");
    fx->crc[1] = cli_response(&a, &fx->res[0], 0);
    /* the kernel completes the handshake; the server leaves it in the backlog */
    if ((fx->crc[2] = cli_open(&b, fx->port, 0)) != 0)
        return;
    cli_sends(&b, "GET /hello HTTP/1.1\r\n\r\n");
    fx_signal(fx, 1);
    fx->crc[3] = fx_wait_go(fx);
    cli_close(&a);
    fx->crc[4] = cli_response(&b, &fx->res[1], 0);
    cli_close(&b);
}

static void test_max_connections(void **state)
{
    (void)state;
    http_server_config_t cfg = {.max_connections = 1};
    fx_t *fx = fx_new(&cfg);
    fx_start(fx, cl_maxconn);
    http_server_stats_t st = {0};
    RUN_UNTIL(fx, (http_server_get_stats(fx->srv, &st), st.accept_deferred >= 1) &&
                      atomic_load(&fx->phase) == 1);
    assert_int_equal(fx->handled, 1); /* the second request waits */
    sem_post(&fx->go);
    fx_join(fx);
    assert_int_equal(fx->crc[1], 0);
    assert_int_equal(fx->crc[4], 0);
    assert_int_equal(fx->res[1].status, 200);
    http_server_get_stats(fx->srv, &st);
    assert_int_equal(st.accepted, 2);
    fx_free(fx, 0);
}

/* The socket-free path used by the fuzz target: pieces of one byte, pipelined requests. */
static void test_feed_in_memory(void **state)
{
    (void)state;
    fx_t *fx = fx_new(NULL);
    const char in[] =
        "GET /hello HTTP/1.1\r\n\r\n"
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        "HEAD /hello HTTP/1.1\r\n\r\n"
        "GET /nope HTTP/1.1\r\n\r\n"
        "GET /hold HTTP/1.1\r\n\r\n";
    buf_t out;
    buf_init(&out, 1 << 16);
    assert_int_equal(http_server_feed(fx->srv, in, sizeof in - 1, 1, &out), 0);
    const char *p1 = strstr(out.data, "{\"ok\":true}");
    const char *p2 = strstr(out.data, "\r\n\r\nabc");
    const char *p3 = p2 ? strstr(p2, "Content-Length: 11\r\n") : NULL;
    const char *p4 = strstr(out.data, "404 Not Found");
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(p3);
    assert_non_null(p4);
    assert_true(p1 < p2 && p2 < p3 && p3 < p4);
    assert_null(strstr(p3, "{\"ok\":true}")); /* HEAD: no body */
    /* /hold was detached when the input ended; answering it now only releases it */
    assert_int_equal(fx->nheld, 1);
    assert_int_equal(http_req_closed(fx->held[0]), 1);
    assert_int_equal(http_respond(fx->held[0], 200, NULL, NULL, 0), MCP_ECLOSED);
    /* garbage */
    buf_reset(&out);
    assert_int_equal(http_server_feed(fx->srv, "\x01\x02\r\n\r\n", 6, 0, &out), 0);
    assert_non_null(strstr(out.data, "HTTP/1.1 400 Bad Request\r\n"));
    buf_free(&out);
    fx_free(fx, 0);
}

static void test_api_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_server_t *srv = NULL;
    assert_int_equal(http_server_new(&loop, NULL, NULL, NULL, &srv), MCP_EINVAL);
    http_server_config_t bad = {.backlog = -1};
    assert_int_equal(http_server_new(&loop, &bad, http_router_handle, NULL, &srv), MCP_EINVAL);
    http_router_t *r = http_router_new();
    assert_int_equal(http_server_new(&loop, NULL, http_router_handle, r, &srv), 0);
    assert_int_equal(http_server_listen(srv, "localhost", 0), MCP_EINVAL);
    assert_int_equal(http_server_listen(srv, "127.0.0.1", 70000), MCP_EINVAL);
    assert_true(http_server_port(srv) < 0);
    http_server_free(srv); /* never listened: no handles */
    /* IPv6 literal when the host has it; otherwise the error is reported, not a crash */
    assert_int_equal(http_server_new(&loop, NULL, http_router_handle, r, &srv), 0);
    int rc = http_server_listen(srv, "[::1]", 0);
    if (rc == 0)
        assert_true(http_server_port(srv) > 0);
    assert_int_equal(http_server_shutdown(srv, 0, NULL, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    http_server_free(srv);
    http_router_free(r);
    char out[16];
    assert_int_equal(http_server_pct_decode("a%41+%2", 8, out, 1, 0), 6);
    assert_string_equal(out, "aA %2");
    assert_int_equal(http_server_pct_decode("a%4", 3, out, 0, 1), MCP_EPARSE);
    assert_int_equal(http_server_pct_decode("%00", 3, out, 0, 0), 3);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    mcp_alloc_init();
    log_init_from_env();
    if (getenv("MCP_UNDER_VALGRIND")) {
        io_timeout_s = 120;
        wait_limit_ms = 120000;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_post_keepalive),
        cmocka_unit_test(test_pipelining_order),
        cmocka_unit_test(test_pipeline_limit),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_limits_and_malformed),
        cmocka_unit_test(test_chunked_body_too_large),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_routes_and_params),
        cmocka_unit_test(test_router_fallback_and_headers),
        cmocka_unit_test(test_stream_backpressure),
        cmocka_unit_test(test_stream_client_disconnect),
        cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_shutdown_deadline),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_feed_in_memory),
        cmocka_unit_test(test_api_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
