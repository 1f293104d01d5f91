/* Integration tests for http_client against a small HTTP/1.1 server written here on libuv
 * (127.0.0.1, port 0): methods, headers and bodies, keep-alive reuse, concurrency and the
 * per-host limit, deadlines, refused connections, body limits, SSE streaming parsed with sse.c as
 * chunks arrive, cancellation, and closing the client with requests in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "errors.h"
#include "http_client.h"
#include "sse.h"

#include <http_parser.h>
#include <uv.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Generous bounds: valgrind makes everything slower. */
#define GUARD_MS 20000

/* ------------------------------------------------------------------ test server */

/* The server allocates with libc directly, not through mcp_malloc: the allocation-failure test
 * makes mcp_malloc fail and must only hit the client. */

typedef struct server_s server_t;

typedef struct conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer; /* delayed answers and SSE pacing */
    int handles;      /* open uv handles of this connection */
    int closing;
    server_t *srv;
    http_parser parser;
    char method[16];
    char url[256];
    char delayed[256]; /* the URL a delayed answer echoes */
    char field[64];
    int field_done;
    char x_test[128];
    char ctype[128];
    char expect[64];
    char body[16384];
    size_t body_len;
    int sse_step;
    struct conn_s *prev, *next;
} conn_t;

struct server_s {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int listener_open;
    int port;
    int accepted;
    int open;
    int max_open;
    int closed;
    int requests;
    int sse_final_sent;
    conn_t *conns;
    conn_t *sse_conn;
};

typedef struct {
    uv_write_t req;
    char data[];
} wreq_t;

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void conn_write(conn_t *c, const char *data, size_t len)
{
    if (c->closing)
        return;
    wreq_t *w = malloc(sizeof *w + len);
    assert_non_null(w);
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
        free(w);
}

static void conn_printf(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_printf(conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    conn_write(c, text, (size_t)n);
    free(text);
}

static void conn_chunk(conn_t *c, const char *data)
{
    conn_printf(c, "%zx\r\n%s\r\n", strlen(data), data);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->handles == 0)
        free(c);
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    server_t *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (s->sse_conn == c)
        s->sse_conn = NULL;
    s->open--;
    s->closed++;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_t *c = req->data;
    free(req);
    conn_close(c);
}

/* Close after the pending writes went out (uv_close alone would cancel them). */
static void conn_end(conn_t *c)
{
    uv_shutdown_t *req = malloc(sizeof *req);
    assert_non_null(req);
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_close(c);
    }
}

static void bounded_append(char *dst, size_t cap, const char *src, size_t n)
{
    size_t have = strlen(dst);
    if (have + n >= cap)
        n = cap - have - 1;
    memcpy(dst + have, src, n);
    dst[have + n] = '\0';
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    bounded_append(c->url, sizeof c->url, at, n);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (c->field_done) {
        c->field[0] = '\0';
        c->field_done = 0;
    }
    bounded_append(c->field, sizeof c->field, at, n);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    c->field_done = 1;
    if (strcasecmp(c->field, "X-Test") == 0)
        bounded_append(c->x_test, sizeof c->x_test, at, n);
    else if (strcasecmp(c->field, "Content-Type") == 0)
        bounded_append(c->ctype, sizeof c->ctype, at, n);
    else if (strcasecmp(c->field, "Expect") == 0)
        bounded_append(c->expect, sizeof c->expect, at, n);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    assert_true(c->body_len + n < sizeof c->body);
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

static void echo(conn_t *c)
{
    char *body = NULL;
    int n = asprintf(&body, "%s %s x-test=%s ct=%s expect=%s body=%.*s", c->method, c->url,
                     c->x_test, c->ctype, c->expect, (int)c->body_len, c->body);
    assert_true(n >= 0);
    conn_printf(c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Reply: yes\r\n"
                "mcp-session-id: sess-1\r\nX-Folded: first\r\n  second\r\n"
                "Content-Length: %d\r\n\r\n",
                n);
    conn_write(c, body, (size_t)n);
    free(body);
}

static void on_delay_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(c->delayed),
                c->delayed);
}

/* The paced SSE response: each step is sent when the client asks for it (ts_sse_advance), after
 * a short pause so the chunks really arrive apart. */
static const char *const sse_steps[] = {
    "id: p0\nretry: 1000\ndata: \n\nevent: message\nid: 1\ndata: {\"n\":1}\n\ndata: {\"n\"",
    ":2}\n\n",
    "data: {\"n\":3,\r\ndata: \"more\":true}\r\n\r",
    "\n: keep-alive\n\nevent: done\ndata: bye\n\n",
};
#define SSE_STEPS ((int)(sizeof sse_steps / sizeof sse_steps[0]))

static void on_sse_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    if (c->sse_step >= SSE_STEPS)
        return;
    conn_chunk(c, sse_steps[c->sse_step++]);
    if (c->sse_step == SSE_STEPS) {
        conn_write(c, "0\r\n\r\n", 5);
        c->srv->sse_final_sent = 1;
    }
}

static void server_sse_advance(server_t *s)
{
    if (s->sse_conn)
        uv_timer_start(&s->sse_conn->timer, on_sse_timer, 5, 0);
}

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    server_t *s = c->srv;
    snprintf(c->method, sizeof c->method, "%s", http_method_str((enum http_method)p->method));
    s->requests++;
    char path[256];
    snprintf(path, sizeof path, "%s", c->url);
    char *q = strchr(path, '?');
    const char *query = q ? q + 1 : "";
    if (q)
        *q = '\0';

    if (strcmp(path, "/echo") == 0) {
        echo(c);
    } else if (strcmp(path, "/status/404") == 0) {
        conn_printf(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope");
    } else if (strcmp(path, "/truncated") == 0) {
        /* promise 100 bytes, send 10, close */
        conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        conn_end(c);
    } else if (strcmp(path, "/manyheaders") == 0) {
        conn_printf(c, "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < HTTP_CLIENT_MAX_HEADERS + 10; i++)
            conn_printf(c, "X-H%d: %d\r\n", i, i);
        conn_printf(c, "Content-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/garbage") == 0) {
        conn_printf(c, "this is not HTTP\r\n\r\n");
        conn_end(c);
    } else if (strcmp(path, "/hang") == 0) {
        /* never answer */
    } else if (strcmp(path, "/delay") == 0) {
        snprintf(c->delayed, sizeof c->delayed, "%s", c->url);
        uv_timer_start(&c->timer, on_delay_timer, 30, 0);
    } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bigchunked") == 0) {
        size_t n = (size_t)strtoul(query + 2, NULL, 10); /* "n=" */
        char *body = malloc(n + 1);
        memset(body, 'x', n);
        body[n] = '\0';
        if (strcmp(path, "/big") == 0) {
            conn_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
            conn_write(c, body, n);
        } else {
            conn_printf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            conn_chunk(c, body);
            conn_write(c, "0\r\n\r\n", 5);
        }
        free(body);
    } else if (strcmp(path, "/sse") == 0) {
        conn_write(c, sse_head, sizeof sse_head - 1);
        s->sse_conn = c;
        s->sse_final_sent = 0;
        c->sse_step = 0;
        on_sse_timer(&c->timer);
    } else if (strcmp(path, "/stream") == 0) {
        /* one event, then the stream stays open forever */
        conn_write(c, sse_head, sizeof sse_head - 1);
        conn_chunk(c, ": hello\n\nid: s1\ndata: first\n\n");
    } else {
        conn_printf(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    }
    /* ready for the next request on this connection */
    c->url[0] = c->x_test[0] = c->ctype[0] = c->expect[0] = c->field[0] = '\0';
    c->field_done = 0;
    c->body_len = 0;
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(suggested);
    b->len = suggested;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    conn_t *c = stream->data;
    if (nread < 0) {
        conn_close(c);
    } else if (nread > 0) {
        size_t done = http_parser_execute(&c->parser, &parser_settings, b->base, (size_t)nread);
        if (c->parser.http_errno != HPE_OK || done != (size_t)nread)
            conn_close(c);
    }
    free(b->base);
}

static void on_connection(uv_stream_t *listener, int status)
{
    server_t *s = listener->data;
    assert_int_equal(status, 0);
    conn_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->handles = 2;
    c->tcp.data = c;
    c->timer.data = c;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    assert_int_equal(uv_accept(listener, (uv_stream_t *)&c->tcp), 0);
    /* head and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms */
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->accepted++;
    if (++s->open > s->max_open)
        s->max_open = s->open;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void server_start(server_t *s, uv_loop_t *loop)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    struct sockaddr_in addr;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_init(loop, &s->listener), 0);
    s->listener.data = s;
    s->listener_open = 1;
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 64, on_connection), 0);
    struct sockaddr_storage name;
    int len = sizeof name;
    assert_int_equal(uv_tcp_getsockname(&s->listener, (struct sockaddr *)&name, &len), 0);
    s->port = ntohs(((struct sockaddr_in *)&name)->sin_port);
    assert_true(s->port > 0);
}

static void on_listener_closed(uv_handle_t *h)
{
    server_t *s = h->data;
    s->listener_open = 0;
}

static void server_stop(server_t *s)
{
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

/* ------------------------------------------------------------------ loop helpers */

static void on_guard(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Run the loop until *flag becomes non-zero; fail after GUARD_MS. */
static void run_until(uv_loop_t *loop, const int *flag)
{
    int fired = 0;
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    guard.data = &fired;
    uv_timer_start(&guard, on_guard, GUARD_MS, 0);
    while (!*flag && !fired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_false(fired);
}

/* Run until the counter reaches at least n. */
static void run_until_count(uv_loop_t *loop, const int *counter, int n)
{
    int reached = 0;
    int fired = 0;
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    guard.data = &fired;
    uv_timer_start(&guard, on_guard, GUARD_MS, 0);
    while (!(reached = *counter >= n) && !fired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_true(reached);
}

typedef struct {
    uv_loop_t loop;
    server_t srv;
    http_client_t *client;
    int client_closed;
    int done_after_close; /* callbacks seen after the close callback: must stay 0 */
    int dones;
} env_t;

static void on_client_closed(http_client_t *client, void *ud)
{
    (void)client;
    env_t *e = ud;
    e->client_closed = 1;
}

static void env_open(env_t *e, const http_client_options_t *opts)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    server_start(&e->srv, &e->loop);
    assert_int_equal(http_client_new(&e->loop, opts, &e->client), 0);
}

static void env_close(env_t *e)
{
    if (e->client) {
        assert_int_equal(http_client_close(e->client, on_client_closed, e), 0);
        run_until(&e->loop, &e->client_closed);
    }
    server_stop(&e->srv);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

static char *url_of(env_t *e, const char *path)
{
    char *u = mcp_asprintf("http://127.0.0.1:%d%s", e->srv.port, path);
    assert_non_null(u);
    return u;
}

/* A finished request's observations. */
typedef struct {
    env_t *env;
    int calls;
    int result;
    int status;
    char body[512];
    size_t body_len;
    char header_reply[64];
    char header_session[64];
    char header_folded[64];
    char error[256];
    uint64_t elapsed_us;
} outcome_t;

static void on_done(http_request_t *req, int result, void *ud)
{
    outcome_t *o = ud;
    o->calls++;
    o->env->dones++;
    if (o->env->client_closed)
        o->env->done_after_close++;
    o->result = result;
    o->status = http_request_status(req);
    size_t len;
    const char *body = http_request_body(req, &len);
    o->body_len = len;
    snprintf(o->body, sizeof o->body, "%s", body);
    const char *v = http_request_header(req, "X-REPLY");
    snprintf(o->header_reply, sizeof o->header_reply, "%s", v ? v : "");
    v = http_request_header(req, "MCP-Session-Id");
    snprintf(o->header_session, sizeof o->header_session, "%s", v ? v : "");
    v = http_request_header(req, "x-folded");
    snprintf(o->header_folded, sizeof o->header_folded, "%s", v ? v : "");
    snprintf(o->error, sizeof o->error, "%s", http_request_error(req));
    o->elapsed_us = http_request_elapsed_us(req);
}

static void start_simple(env_t *e, const char *method, const char *path, outcome_t *o)
{
    http_request_t *req;
    char *url = url_of(e, path);
    assert_int_equal(http_request_new(e->client, method, url, &req), 0);
    mcp_free(url);
    o->env = e;
    assert_int_equal(http_request_start(req, on_done, o), 0);
}

/* ------------------------------------------------------------------ tests */

static void test_get_post_headers_body(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);

    outcome_t get = {0};
    http_request_t *req;
    char *url = url_of(&e, "/echo?q=1");
    assert_int_equal(http_request_new(e.client, "GET", url, &req), 0);
    mcp_free(url);
    assert_int_equal(http_request_add_header(req, "X-Test", "hello world"), 0);
    get.env = &e;
    assert_int_equal(http_request_start(req, on_done, &get), 0);
    /* a started request cannot be set up or started again */
    assert_int_equal(http_request_add_header(req, "X-Late", "1"), MCP_ESTATE);
    assert_int_equal(http_request_start(req, on_done, &get), MCP_ESTATE);
    assert_int_equal(http_client_active(e.client), 1);
    run_until(&e.loop, &get.calls);
    assert_int_equal(get.calls, 1);
    assert_int_equal(get.result, 0);
    assert_int_equal(get.status, 200);
    assert_string_equal(get.body, "GET /echo?q=1 x-test=hello world ct= expect= body=");
    assert_int_equal(get.body_len, strlen(get.body));
    assert_string_equal(get.header_reply, "yes");
    assert_string_equal(get.header_session, "sess-1");
    assert_string_equal(get.header_folded, "first second");
    assert_string_equal(get.error, "");
    assert_int_equal(http_client_active(e.client), 0);

    outcome_t post = {0};
    url = url_of(&e, "/echo");
    assert_int_equal(http_request_new(e.client, "POST", url, &req), 0);
    mcp_free(url);
    assert_int_equal(http_request_add_header(req, "Content-Type", "application/json"), 0);
    assert_int_equal(http_request_add_header(req, "Accept", "application/json, text/event-stream"),
                     0);
    const char *json = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
    assert_int_equal(http_request_set_body(req, json, strlen(json)), 0);
    post.env = &e;
    assert_int_equal(http_request_start(req, on_done, &post), 0);
    run_until(&e.loop, &post.calls);
    assert_int_equal(post.result, 0);
    assert_int_equal(post.status, 200);
    char want[256];
    snprintf(want, sizeof want, "POST /echo x-test= ct=application/json expect= body=%s", json);
    assert_string_equal(post.body, want);

    /* a large POST body goes out without "Expect: 100-continue" and a default content type */
    outcome_t big = {0};
    url = url_of(&e, "/echo");
    assert_int_equal(http_request_new(e.client, "PUT", url, &req), 0);
    mcp_free(url);
    char *payload = mcp_malloc(3000);
    memset(payload, 'a', 2999);
    payload[2999] = '\0';
    assert_int_equal(http_request_set_body_owned(req, payload, 2999), 0);
    http_request_set_max_body(req, 8192);
    big.env = &e;
    assert_int_equal(http_request_start(req, on_done, &big), 0);
    run_until(&e.loop, &big.calls);
    assert_int_equal(big.result, 0);
    assert_int_equal(strncmp(big.body, "PUT /echo x-test= ct= expect= body=aaaa", 39), 0);

    /* a host name (resolved without blocking the loop; ::1 may be tried first and refused) */
    outcome_t named = {0};
    url = mcp_asprintf("http://localhost:%d/echo", e.srv.port);
    assert_int_equal(http_request_new(e.client, "GET", url, &req), 0);
    mcp_free(url);
    named.env = &e;
    assert_int_equal(http_request_start(req, on_done, &named), 0);
    run_until(&e.loop, &named.calls);
    assert_int_equal(named.result, 0);
    assert_string_equal(named.body, "GET /echo x-test= ct= expect= body=");

    outcome_t del = {0};
    start_simple(&e, "DELETE", "/echo", &del);
    outcome_t nf = {0};
    start_simple(&e, "GET", "/status/404", &nf);
    run_until(&e.loop, &del.calls);
    run_until(&e.loop, &nf.calls);
    assert_int_equal(del.result, 0);
    assert_string_equal(del.body, "DELETE /echo x-test= ct= expect= body=");
    /* an HTTP error status is a complete response: result 0 */
    assert_int_equal(nf.result, 0);
    assert_int_equal(nf.status, 404);
    assert_string_equal(nf.body, "nope");

    env_close(&e);
}

static void test_invalid_input(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);
    http_request_t *req;
    assert_int_equal(http_request_new(e.client, "GE T", "http://127.0.0.1/", &req), MCP_EINVAL);
    assert_int_equal(http_request_new(e.client, "", "http://127.0.0.1/", &req), MCP_EINVAL);
    assert_int_equal(http_request_new(e.client, "GET", "ftp://127.0.0.1/", &req), MCP_EINVAL);
    assert_int_equal(http_request_new(e.client, "GET", "http://127.0.0.1/a b", &req), MCP_EINVAL);
    assert_int_equal(http_request_new(e.client, "GET", "http://127.0.0.1/", &req), 0);
    assert_int_equal(http_request_add_header(req, "X-Bad", "a\r\nInjected: 1"), MCP_EINVAL);
    assert_int_equal(http_request_add_header(req, "Bad Name", "x"), MCP_EINVAL);
    assert_int_equal(http_request_set_body(req, NULL, 3), MCP_EINVAL);
    assert_int_equal(http_request_cancel(req), MCP_ESTATE);
    assert_int_equal(http_request_start(req, NULL, NULL), MCP_EINVAL);
    http_request_free(req);
    env_close(&e);
}

/* Sequential requests, each started from the previous one's completion callback. */
typedef struct {
    env_t *env;
    int remaining;
    int ok;
    int finished;
} chain_t;

static void on_chain_done(http_request_t *req, int result, void *ud)
{
    (void)req;
    chain_t *ch = ud;
    if (result == 0 && http_request_status(req) == 200)
        ch->ok++;
    if (--ch->remaining == 0) {
        ch->finished = 1;
        return;
    }
    http_request_t *next;
    char *url = url_of(ch->env, "/echo");
    assert_int_equal(http_request_new(ch->env->client, "GET", url, &next), 0);
    mcp_free(url);
    assert_int_equal(http_request_start(next, on_chain_done, ch), 0);
}

static void test_connection_reuse(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);
    chain_t ch = {&e, 10, 0, 0};
    http_request_t *req;
    char *url = url_of(&e, "/echo");
    assert_int_equal(http_request_new(e.client, "GET", url, &req), 0);
    mcp_free(url);
    assert_int_equal(http_request_start(req, on_chain_done, &ch), 0);
    run_until(&e.loop, &ch.finished);
    assert_int_equal(ch.ok, 10);
    assert_int_equal(e.srv.requests, 10);
    assert_int_equal(e.srv.accepted, 1);
    env_close(&e);
}

static void run_concurrent(long max_host, int n, int *accepted, int *max_open)
{
    env_t e;
    http_client_options_t opts = {0};
    opts.max_host_connections = max_host;
    env_open(&e, &opts);
    outcome_t out[8];
    memset(out, 0, sizeof out);
    assert_true(n <= 8);
    for (int i = 0; i < n; i++) {
        char path[32];
        snprintf(path, sizeof path, "/delay?id=%d", i);
        start_simple(&e, "GET", path, &out[i]);
    }
    assert_int_equal(http_client_active(e.client), n);
    run_until_count(&e.loop, &e.dones, n);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "/delay?id=%d", i);
        assert_int_equal(out[i].calls, 1);
        assert_int_equal(out[i].result, 0);
        assert_string_equal(out[i].body, want);
    }
    *accepted = e.srv.accepted;
    *max_open = e.srv.max_open;
    env_close(&e);
}

static void test_concurrent_requests(void **state)
{
    (void)state;
    int accepted, max_open;
    /* unlimited: every request gets its own connection at once */
    run_concurrent(0, 8, &accepted, &max_open);
    assert_int_equal(accepted, 8);
    assert_int_equal(max_open, 8);
    /* two per host: the rest wait and reuse those two */
    run_concurrent(2, 8, &accepted, &max_open);
    assert_int_equal(accepted, 2);
    assert_int_equal(max_open, 2);
}

static void test_deadline(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);
    outcome_t o = {0};
    http_request_t *req;
    char *url = url_of(&e, "/hang");
    assert_int_equal(http_request_new(e.client, "GET", url, &req), 0);
    mcp_free(url);
    http_request_set_timeouts(req, 200, 1000);
    o.env = &e;
    uint64_t t0 = clock_mono_ms();
    assert_int_equal(http_request_start(req, on_done, &o), 0);
    run_until(&e.loop, &o.calls);
    uint64_t took = clock_mono_ms() - t0;
    assert_int_equal(o.result, MCP_ETIMEDOUT);
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.error, "timed out"));
    assert_true(took >= 190);
    assert_true(took < 5000);
    assert_true(o.elapsed_us >= 190000);
    /* the server got the request and then saw the client give up */
    assert_int_equal(e.srv.requests, 1);
    run_until_count(&e.loop, &e.srv.closed, 1);
    env_close(&e);
}

static void test_connection_refused(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);
    /* a port that was just free: bind, read the port, close */
    uv_tcp_t tmp;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(&e.loop, &tmp);
    assert_int_equal(uv_tcp_bind(&tmp, (const struct sockaddr *)&addr, 0), 0);
    struct sockaddr_storage name;
    int len = sizeof name;
    uv_tcp_getsockname(&tmp, (struct sockaddr *)&name, &len);
    int port = ntohs(((struct sockaddr_in *)&name)->sin_port);
    uv_close((uv_handle_t *)&tmp, NULL);
    uv_run(&e.loop, UV_RUN_NOWAIT);

    outcome_t o = {0};
    http_request_t *req;
    char *url = mcp_asprintf("http://127.0.0.1:%d/", port);
    assert_int_equal(http_request_new(e.client, "GET", url, &req), 0);
    mcp_free(url);
    o.env = &e;
    assert_int_equal(http_request_start(req, on_done, &o), 0);
    run_until(&e.loop, &o.calls);
    assert_int_equal(o.result, UV_ECONNREFUSED);
    assert_true(strlen(o.error) > 0);
    env_close(&e);
}

static void test_body_limit(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);
    const char *paths[] = {"/big?n=100000", "/bigchunked?n=100000", "/big?n=1000",
                           "/bigchunked?n=1000"};
    outcome_t o[4];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 4; i++) {
        http_request_t *req;
        char *url = url_of(&e, paths[i]);
        assert_int_equal(http_request_new(e.client, "GET", url, &req), 0);
        mcp_free(url);
        http_request_set_max_body(req, 1000);
        o[i].env = &e;
        assert_int_equal(http_request_start(req, on_done, &o[i]), 0);
    }
    run_until_count(&e.loop, &e.dones, 4);
    /* declared too large (Content-Length) and found too large while reading (chunked) */
    assert_int_equal(o[0].result, MCP_ENOBUFS);
    assert_int_equal(o[1].result, MCP_ENOBUFS);
    assert_non_null(strstr(o[1].error, "larger than 1000"));
    /* exactly at the limit is fine */
    assert_int_equal(o[2].result, 0);
    assert_int_equal(o[2].body_len, 1000);
    assert_int_equal(o[3].result, 0);
    assert_int_equal(o[3].body_len, 1000);
    env_close(&e);
}

static void test_bad_responses(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);
    outcome_t trunc = {0}, many = {0}, garbage = {0};
    start_simple(&e, "GET", "/truncated", &trunc);
    start_simple(&e, "GET", "/manyheaders", &many);
    start_simple(&e, "GET", "/garbage", &garbage);
    run_until_count(&e.loop, &e.dones, 3);
    /* a disconnect before the response is complete is not a cancellation */
    assert_int_equal(trunc.result, MCP_ECLOSED);
    assert_true(strlen(trunc.error) > 0);
    assert_int_equal(many.result, MCP_ENOBUFS);
    assert_non_null(strstr(many.error, "response head larger"));
    assert_int_equal(garbage.result, MCP_EPROTO);
    env_close(&e);
}

/* ---- streaming ---- */

typedef struct {
    env_t *env;
    sse_parser_t parser;
    char data[8][64];
    char ids[8][16];
    int before_end[8]; /* the server had not finished the response when the event was parsed */
    long retry;
    int events;
    int data_events;
    int head_calls;
    char ctype[64];
    int cancel_after;  /* 1: cancel from inside the body callback after the first data event */
    int close_after;   /* close the client from inside the body callback after 1 data event */
    int start_from_cb; /* start another request from inside the body callback */
    int abort_with;    /* return this from the body callback after the first data event */
    http_request_t *req;
    outcome_t out;
    outcome_t extra;
} stream_t;

static int on_sse_event(void *ud, const sse_event_t *ev)
{
    stream_t *st = ud;
    assert_true(st->events < 8);
    snprintf(st->data[st->events], sizeof st->data[0], "%s", ev->data);
    snprintf(st->ids[st->events], sizeof st->ids[0], "%s", ev->id);
    st->before_end[st->events] = !st->env->srv.sse_final_sent;
    st->retry = ev->retry_ms;
    st->events++;
    if (ev->data_len) {
        st->data_events++;
        server_sse_advance(&st->env->srv);
    }
    return 0;
}

static int on_stream_head(http_request_t *req, void *ud)
{
    stream_t *st = ud;
    st->head_calls++;
    assert_int_equal(http_request_status(req), 200);
    const char *ct = http_request_header(req, "content-type");
    snprintf(st->ctype, sizeof st->ctype, "%s", ct ? ct : "");
    return 0;
}

static void on_stream_done(http_request_t *req, int result, void *ud)
{
    stream_t *st = ud;
    on_done(req, result, &st->out);
}

static int on_stream_body(http_request_t *req, const char *data, size_t len, void *ud)
{
    stream_t *st = ud;
    int before = st->data_events;
    int rc = sse_parser_feed(&st->parser, data, len);
    if (rc)
        return rc;
    if (before == 0 && st->data_events > 0) {
        if (st->cancel_after)
            assert_int_equal(http_request_cancel(req), 0);
        if (st->close_after)
            assert_int_equal(http_client_close(st->env->client, on_client_closed, st->env), 0);
        if (st->start_from_cb)
            start_simple(st->env, "GET", "/echo", &st->extra);
        if (st->abort_with)
            return st->abort_with;
    }
    return 0;
}

static void stream_start(env_t *e, stream_t *st, const char *path)
{
    st->env = e;
    st->out.env = e;
    sse_parser_init(&st->parser, 4096, on_sse_event, st);
    char *url = url_of(e, path);
    assert_int_equal(http_request_new(e->client, "GET", url, &st->req), 0);
    mcp_free(url);
    assert_int_equal(http_request_add_header(st->req, "Accept", "text/event-stream"), 0);
    http_request_set_callbacks(st->req, on_stream_head, on_stream_body);
    assert_int_equal(http_request_start(st->req, on_stream_done, st), 0);
}

static void test_sse_streaming(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);
    stream_t st;
    memset(&st, 0, sizeof st);
    st.start_from_cb = 1; /* also checks that a start from inside curl is deferred correctly */
    stream_start(&e, &st, "/sse");
    run_until(&e.loop, &st.out.calls);
    assert_int_equal(st.out.result, 0);
    assert_int_equal(st.out.status, 200);
    assert_int_equal(st.head_calls, 1);
    assert_string_equal(st.ctype, "text/event-stream");
    /* a streamed body is not accumulated */
    assert_int_equal(st.out.body_len, 0);
    assert_int_equal(sse_parser_finish(&st.parser), 0);

    assert_int_equal(st.events, 5);
    assert_string_equal(st.data[0], ""); /* priming event */
    assert_string_equal(st.ids[0], "p0");
    assert_string_equal(st.data[1], "{\"n\":1}");
    assert_string_equal(st.ids[1], "1");
    assert_string_equal(st.data[2], "{\"n\":2}");
    assert_string_equal(st.data[3], "{\"n\":3,\n\"more\":true}");
    assert_string_equal(st.data[4], "bye");
    assert_string_equal(st.ids[4], "1");
    assert_int_equal(st.retry, 1000);
    /* the server only sends the next chunk after the client parsed the previous event, so
     * every event but the last was parsed while the response was still open */
    for (int i = 0; i < 4; i++)
        assert_true(st.before_end[i]);
    sse_parser_free(&st.parser);

    run_until(&e.loop, &st.extra.calls);
    assert_int_equal(st.extra.result, 0);
    assert_string_equal(st.extra.body, "GET /echo x-test= ct= expect= body=");
    env_close(&e);
}

static void on_cancel_timer(uv_timer_t *t)
{
    stream_t *st = t->data;
    assert_int_equal(http_request_cancel(st->req), 0);
    /* a second cancel is harmless until the callback ran */
    assert_int_equal(http_request_cancel(st->req), 0);
    assert_int_equal(st->out.calls, 0); /* never from inside http_request_cancel */
}

static void test_cancel_stream(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);

    /* from inside the body callback (deferred until curl returns) */
    stream_t a;
    memset(&a, 0, sizeof a);
    a.cancel_after = 1;
    stream_start(&e, &a, "/stream");
    run_until(&e.loop, &a.out.calls);
    assert_int_equal(a.out.result, MCP_ECANCELED);
    assert_string_equal(a.out.error, "request canceled");
    assert_int_equal(a.data_events, 1);
    run_until_count(&e.loop, &e.srv.closed, 1); /* the connection was dropped */

    /* from outside curl (a timer), once the stream is flowing */
    stream_t b;
    memset(&b, 0, sizeof b);
    stream_start(&e, &b, "/stream");
    run_until(&e.loop, &b.data_events);
    uv_timer_t t;
    uv_timer_init(&e.loop, &t);
    t.data = &b;
    uv_timer_start(&t, on_cancel_timer, 1, 0);
    run_until(&e.loop, &b.out.calls);
    uv_close((uv_handle_t *)&t, NULL);
    assert_int_equal(b.out.result, MCP_ECANCELED);
    run_until_count(&e.loop, &e.srv.closed, 2);

    /* the body callback aborts with its own code */
    stream_t c;
    memset(&c, 0, sizeof c);
    c.abort_with = MCP_EPROTO;
    stream_start(&e, &c, "/stream");
    run_until(&e.loop, &c.out.calls);
    assert_int_equal(c.out.result, MCP_EPROTO);

    /* every callback ran exactly once */
    for (int i = 0; i < 20; i++)
        uv_run(&e.loop, UV_RUN_NOWAIT);
    assert_int_equal(a.out.calls, 1);
    assert_int_equal(b.out.calls, 1);
    assert_int_equal(c.out.calls, 1);
    assert_int_equal(e.dones, 3);
    sse_parser_free(&a.parser);
    sse_parser_free(&b.parser);
    sse_parser_free(&c.parser);
    env_close(&e);
}

static void on_done_start_again(http_request_t *req, int result, void *ud)
{
    outcome_t *o = ud;
    on_done(req, result, o);
    /* while closing, nothing new can start: the callback of the refused request never runs */
    http_request_t *next;
    char *url = url_of(o->env, "/echo");
    int rc = http_request_new(o->env->client, "GET", url, &next);
    mcp_free(url);
    assert_int_equal(rc, MCP_ESTATE);
}

static void close_with_requests_in_flight(int from_callback)
{
    env_t e;
    env_open(&e, NULL);
    outcome_t hang[2];
    memset(hang, 0, sizeof hang);
    for (int i = 0; i < 2; i++) {
        http_request_t *req;
        char *url = url_of(&e, "/hang");
        assert_int_equal(http_request_new(e.client, "POST", url, &req), 0);
        mcp_free(url);
        assert_int_equal(http_request_set_body(req, "{}", 2), 0);
        hang[i].env = &e;
        assert_int_equal(http_request_start(req, on_done_start_again, &hang[i]), 0);
    }
    run_until_count(&e.loop, &e.srv.requests, 2);
    stream_t st;
    memset(&st, 0, sizeof st);
    st.close_after = from_callback;
    stream_start(&e, &st, "/stream");
    assert_int_equal(http_client_active(e.client), 3);
    if (from_callback) {
        /* the body callback closes the client once the first event is parsed */
        run_until(&e.loop, &e.client_closed);
        assert_int_equal(st.data_events, 1);
    } else {
        run_until(&e.loop, &st.data_events);
        assert_int_equal(http_client_close(e.client, on_client_closed, &e), 0);
        assert_int_equal(http_client_close(e.client, on_client_closed, &e), MCP_ESTATE);
        assert_int_equal(e.dones, 0); /* never from inside http_client_close */
        run_until(&e.loop, &e.client_closed);
    }
    e.client = NULL;

    assert_int_equal(hang[0].calls, 1);
    assert_int_equal(hang[1].calls, 1);
    assert_int_equal(st.out.calls, 1);
    assert_int_equal(hang[0].result, MCP_ECANCELED);
    assert_int_equal(hang[1].result, MCP_ECANCELED);
    assert_int_equal(st.out.result, MCP_ECANCELED);
    /* all completion callbacks ran before the close callback, none after */
    assert_int_equal(e.done_after_close, 0);
    /* the server sees all three connections go away */
    run_until_count(&e.loop, &e.srv.closed, 3);
    sse_parser_free(&st.parser);
    env_close(&e);
    assert_int_equal(e.done_after_close, 0);
    assert_int_equal(e.dones, 3);
}

static void test_close_with_requests_in_flight(void **state)
{
    (void)state;
    close_with_requests_in_flight(0);
}

static void test_close_from_inside_body_callback(void **state)
{
    (void)state;
    close_with_requests_in_flight(1);
}

static void test_close_idle_client_with_cached_connection(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);
    outcome_t o = {0};
    start_simple(&e, "GET", "/echo", &o);
    run_until(&e.loop, &o.calls);
    assert_int_equal(o.result, 0);
    /* the idle keep-alive connection is closed with the client */
    assert_int_equal(e.srv.open, 1);
    assert_int_equal(http_client_close(e.client, on_client_closed, &e), 0);
    run_until(&e.loop, &e.client_closed);
    e.client = NULL;
    run_until_count(&e.loop, &e.srv.closed, 1);
    env_close(&e);
}

/* Make the Nth allocation fail for N = 0, 1, ...: every attempt either fails at once with
 * MCP_ENOMEM (and the callback never runs) or completes once with 0 or MCP_ENOMEM; ASan and
 * valgrind check that nothing leaks on any of these paths. */
static void test_allocation_failures(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL);
    char *url = url_of(&e, "/echo");
    int ok = 0, failed_start = 0, failed_later = 0;
    for (long n = 0; n < 40; n++) {
        outcome_t o = {0};
        o.env = &e;
        http_request_t *req = NULL;
        mcp_alloc_fail_after(n);
        int rc = http_request_new(e.client, "POST", url, &req);
        if (!rc)
            rc = http_request_add_header(req, "X-Test", "alloc");
        if (!rc)
            rc = http_request_set_body(req, "{}", 2);
        if (!rc)
            rc = http_request_start(req, on_done, &o);
        if (rc) {
            mcp_alloc_fail_after(-1);
            assert_int_equal(rc, MCP_ENOMEM);
            http_request_free(req);
            failed_start++;
            continue;
        }
        run_until(&e.loop, &o.calls);
        mcp_alloc_fail_after(-1);
        assert_int_equal(o.calls, 1);
        if (o.result == 0) {
            assert_string_equal(o.body, "POST /echo x-test=alloc ct= expect= body={}");
            ok++;
        } else {
            assert_int_equal(o.result, MCP_ENOMEM);
            failed_later++;
        }
    }
    assert_true(ok > 0);
    assert_true(failed_start > 0);
    assert_true(failed_later > 0);
    mcp_free(url);
    env_close(&e);
}

int main(void)
{
    mcp_alloc_init();
    assert_int_equal(http_client_global_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_post_headers_body),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_concurrent_requests),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_bad_responses),
        cmocka_unit_test(test_sse_streaming),
        cmocka_unit_test(test_cancel_stream),
        cmocka_unit_test(test_close_with_requests_in_flight),
        cmocka_unit_test(test_close_from_inside_body_callback),
        cmocka_unit_test(test_close_idle_client_with_cached_connection),
        cmocka_unit_test(test_allocation_failures),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return rc;
}
