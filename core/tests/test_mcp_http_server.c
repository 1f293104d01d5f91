/* Integration tests for mcp_http_server: an mcp_server (sync and async tools, progress and logs,
 * an elicitation round trip, SSE polling, a subscribable resource) served over Streamable HTTP
 * and legacy HTTP+SSE on 127.0.0.1 (port picked at run time), driven by http_client (libcurl
 * multi on the same loop) with sse.c parsing the streams as they arrive. Every test closes its
 * handles and checks uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "http_client.h"
#include "http_router.h"
#include "http_server.h"
#include "mcp_http_server.h"
#include "mcp_server.h"
#include "sse.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

/* Generous: valgrind makes everything slower. */
#define GUARD_MS 20000
#define MAX_MSGS 64

#define ACCEPT_BOTH "Accept: application/json, text/event-stream"
#define CT_JSON     "Content-Type: application/json"
#define INIT_BODY(ver)                                                       \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"   \
    "\"protocolVersion\":\"" ver "\",\"capabilities\":{\"elicitation\":{}}," \
    "\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}}"
#define INITIALIZED "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"

/* ------------------------------------------------------------------ fixture */

typedef struct fx_s {
    uv_loop_t loop;
    uv_timer_t ticker; /* keeps UV_RUN_ONCE returning while we wait */
    mcp_server_t *srv;
    mcp_http_server_t *t;
    http_client_t *cli;
    http_server_t *ext_http; /* mount test: an http server of the test's own */
    http_router_t *ext_router;
    char base[64];
    int t_closed, cli_closed, ext_closed;
    int poll_rc;
    int pending_timers;
    /* fault hooks */
    int filter_action;
    size_t filter_bytes;
    const char *filter_replace;
    int filter_hits;
} fx_t;

static fx_t *FX;

typedef struct {
    uv_timer_t tm;
    mcp_call_t *call;
    fx_t *fx;
    int step, kind;
    uint64_t ms;
} work_t;

enum { W_PROGRESS = 1, W_SLOW, W_POLL };

static void work_closed(uv_handle_t *h)
{
    work_t *w = h->data;
    w->fx->pending_timers--;
    mcp_call_unref(w->call);
    mcp_free(w);
}

static void work_cancel(mcp_call_t *call, void *ud)
{
    (void)call;
    work_t *w = ud;
    uv_timer_stop(&w->tm);
    uv_close((uv_handle_t *)&w->tm, work_closed);
}

static void work_fire(uv_timer_t *tm)
{
    work_t *w = tm->data;
    if (w->kind == W_PROGRESS && w->step < 3) {
        w->step++;
        (void)mcp_call_progress(w->call, w->step, 3, "step");
        (void)mcp_call_log(w->call, MCP_LOG_INFO, "test", cJSON_CreateString("working"));
        uv_timer_start(tm, work_fire, 5, 0);
        return;
    }
    mcp_call_on_cancel(w->call, NULL, NULL);
    (void)mcp_call_reply_text(w->call, w->kind == W_PROGRESS ? "progress done" : "slow done");
    uv_close((uv_handle_t *)tm, work_closed);
}

static void start_work(mcp_call_t *call, fx_t *fx, int kind, uint64_t ms)
{
    work_t *w = mcp_calloc(1, sizeof(*w));
    assert_non_null(w);
    w->call = call;
    w->fx = fx;
    w->kind = kind;
    mcp_call_ref(call);
    uv_timer_init(mcp_call_loop(call), &w->tm);
    w->tm.data = w;
    fx->pending_timers++;
    mcp_call_on_cancel(call, work_cancel, w);
    uv_timer_start(&w->tm, work_fire, ms, 0);
}

static void tool_echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(args, "text");
    (void)mcp_call_reply_text(call, cJSON_IsString(text) ? text->valuestring : "echo");
}

static void tool_progress(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    start_work(call, ud, W_PROGRESS, 5);
}

static void tool_slow(mcp_call_t *call, const cJSON *args, void *ud)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(args, "ms");
    start_work(call, ud, W_SLOW, cJSON_IsNumber(ms) ? (uint64_t)ms->valuedouble : 50);
}

static void tool_poll(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    fx_t *fx = ud;
    fx->poll_rc = mcp_http_server_end_call_stream(fx->t, call);
    start_work(call, fx, W_SLOW, 30);
}

static void on_elicit_answer(const mcp_response_t *resp, void *ud)
{
    (void)ud;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(resp->result, "content");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(content, "name");
    if (resp->status == 0 && cJSON_IsString(name)) {
        char text[128];
        snprintf(text, sizeof(text), "hello %s", name->valuestring);
        (void)mcp_call_reply_text(resp->call, text);
    } else if (resp->call) {
        (void)mcp_call_tool_error(resp->call, "no answer");
    }
}

static void tool_ask(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *params = cJSON_Parse("{\"message\":\"Your name?\",\"requestedSchema\":{\"type\":"
                                "\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},"
                                "\"required\":[\"name\"]}}");
    int rc = mcp_call_request(call, "elicitation/create", params, on_elicit_answer, NULL);
    if (rc)
        (void)mcp_call_tool_error(call, "cannot ask");
}

static void read_watched(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    (void)vars;
    (void)ud;
    (void)mcp_call_reply_resource_text(call, uri, "text/plain", "watched");
}

/* The send filter: acts on the final tools/call responses only (when a mode is set). */
static void test_filter(mcp_session_t *s, const char *json, size_t len, const mcp_send_info_t *info,
                        mcp_http_fault_t *fault, void *ud)
{
    (void)s;
    (void)len;
    fx_t *fx = ud;
    if (!fx->filter_action && !fx->filter_replace)
        return;
    if (!info->final || !strstr(json, "\"content\""))
        return;
    fx->filter_hits++;
    fault->action = fx->filter_action;
    fault->bytes = fx->filter_bytes;
    fault->chunk_bytes = 8;
    fault->delay_ms = 3;
    if (fx->filter_replace)
        fault->replace = mcp_strdup(fx->filter_replace),
        fault->replace_len = strlen(fx->filter_replace);
}

/* The pre hook: "X-Fault: 503" answers 503 with Retry-After; "X-Fault: expire" expires the
 * session and answers 404. */
static int test_pre(const mcp_http_pre_info_t *info, void *ud)
{
    fx_t *fx = ud;
    const char *f = http_req_header(info->req, "X-Fault");
    if (!f)
        return 0;
    if (strcmp(f, "503") == 0) {
        http_resp_header(info->req, "Retry-After", "2");
        return 503;
    }
    if (strcmp(f, "expire") == 0 && info->session) {
        assert_int_equal(mcp_http_server_expire_session(fx->t, info->session), 0);
        return 404;
    }
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void make_server(fx_t *fx)
{
    mcp_server_config_t scfg = {.name = "http-test", .version = "1.0"};
    scfg.default_log_level = MCP_LOG_DEBUG;
    assert_int_equal(mcp_server_create(&fx->loop, &scfg, &fx->srv), 0);
    mcp_tool_def_t echo = {.name = "echo", .description = "echo text"};
    mcp_tool_def_t prog = {.name = "progress", .description = "progress and logs"};
    mcp_tool_def_t slow = {.name = "slow", .description = "answers later"};
    mcp_tool_def_t ask = {.name = "ask", .description = "elicits a name"};
    mcp_tool_def_t poll = {.name = "poll", .description = "SSE polling"};
    assert_int_equal(mcp_server_add_tool(fx->srv, &echo, tool_echo, fx), 0);
    assert_int_equal(mcp_server_add_tool(fx->srv, &prog, tool_progress, fx), 0);
    assert_int_equal(mcp_server_add_tool(fx->srv, &slow, tool_slow, fx), 0);
    assert_int_equal(mcp_server_add_tool(fx->srv, &ask, tool_ask, fx), 0);
    assert_int_equal(mcp_server_add_tool(fx->srv, &poll, tool_poll, fx), 0);
    mcp_resource_def_t res = {.uri = "test://watched", .name = "watched"};
    assert_int_equal(mcp_server_add_resource(fx->srv, &res, read_watched, fx), 0);
}

static void setup_cfg(fx_t *fx, const mcp_http_config_t *cfg)
{
    memset(fx, 0, sizeof(*fx));
    FX = fx;
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_timer_init(&fx->loop, &fx->ticker);
    uv_timer_start(&fx->ticker, on_tick, 10, 10);
    make_server(fx);
    assert_int_equal(mcp_http_server_new(&fx->loop, fx->srv, cfg, &fx->t), 0);
    mcp_http_server_set_send_filter(fx->t, test_filter, fx);
    mcp_http_server_set_pre_hook(fx->t, test_pre, fx);
    assert_int_equal(mcp_http_server_listen(fx->t, "127.0.0.1", 0, NULL), 0);
    int port = mcp_http_server_port(fx->t);
    assert_true(port > 0);
    snprintf(fx->base, sizeof(fx->base), "http://127.0.0.1:%d", port);
    assert_int_equal(http_client_new(&fx->loop, NULL, &fx->cli), 0);
}

static void setup(fx_t *fx)
{
    setup_cfg(fx, NULL);
}

static void on_t_closed(mcp_http_server_t *t, void *ud)
{
    (void)t;
    ((fx_t *)ud)->t_closed = 1;
}

static void on_cli_closed(http_client_t *c, void *ud)
{
    (void)c;
    ((fx_t *)ud)->cli_closed = 1;
}

static void on_ext_closed(http_server_t *s, void *ud)
{
    (void)s;
    ((fx_t *)ud)->ext_closed = 1;
}

#define WAIT(fx, cond)                                                           \
    do {                                                                         \
        uint64_t dl_ = uv_now(&(fx)->loop) + GUARD_MS;                           \
        while (!(cond)) {                                                        \
            if (uv_now(&(fx)->loop) > dl_)                                       \
                fail_msg("timed out waiting for %s (line %d)", #cond, __LINE__); \
            uv_run(&(fx)->loop, UV_RUN_ONCE);                                    \
        }                                                                        \
    } while (0)

static void teardown(fx_t *fx)
{
    assert_int_equal(http_client_close(fx->cli, on_cli_closed, fx), 0);
    assert_int_equal(mcp_http_server_close(fx->t, on_t_closed, fx), 0);
    if (fx->ext_http)
        assert_int_equal(http_server_shutdown(fx->ext_http, 0, on_ext_closed, fx), 0);
    WAIT(fx, fx->t_closed && fx->cli_closed && (!fx->ext_http || fx->ext_closed) &&
                 fx->pending_timers == 0);
    if (fx->ext_http) {
        http_server_free(fx->ext_http);
        http_router_free(fx->ext_router);
    }
    assert_int_equal(mcp_server_session_count(fx->srv), 0);
    mcp_server_free(fx->srv);
    uv_close((uv_handle_t *)&fx->ticker, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

/* ------------------------------------------------------------------ HTTP exchanges */

typedef struct xfer_s xfer_t;
typedef void (*msg_fn)(xfer_t *x, const cJSON *msg);

struct xfer_s {
    fx_t *fx;
    http_request_t *req;
    int started, done, result, status, head;
    buf_t body;
    char ctype[128], sid[64], retry_after[16], allow[64];
    int is_sse;
    sse_parser_t sse;
    cJSON *msgs[MAX_MSGS];
    char ids[MAX_MSGS][32];
    char types[MAX_MSGS][16];
    int nmsgs;
    int nprime;
    char prime_id[32];
    long retry;
    size_t nchunks;
    msg_fn on_msg;
    void *ud;
    int cancel_on_prime;
    uint64_t t0, t_done;
};

static void copy_hdr(const http_request_t *r, const char *name, char *out, size_t cap)
{
    const char *v = http_request_header(r, name);
    snprintf(out, cap, "%s", v ? v : "");
}

static int on_sse_event(void *ud, const sse_event_t *ev)
{
    xfer_t *x = ud;
    if (ev->data_len == 0) {
        x->nprime++;
        snprintf(x->prime_id, sizeof(x->prime_id), "%s", ev->id);
        x->retry = ev->retry_ms;
        if (x->cancel_on_prime && x->req)
            (void)http_request_cancel(x->req);
        return 0;
    }
    if (x->nmsgs >= MAX_MSGS)
        return 0;
    int i = x->nmsgs++;
    x->msgs[i] = cJSON_ParseWithLength(ev->data, ev->data_len);
    snprintf(x->ids[i], sizeof(x->ids[i]), "%s", ev->id);
    snprintf(x->types[i], sizeof(x->types[i]), "%s", ev->type);
    if (x->on_msg && x->msgs[i])
        x->on_msg(x, x->msgs[i]);
    return 0;
}

static int on_head(http_request_t *r, void *ud)
{
    xfer_t *x = ud;
    x->head = 1;
    x->status = http_request_status(r);
    copy_hdr(r, "Content-Type", x->ctype, sizeof(x->ctype));
    copy_hdr(r, "Mcp-Session-Id", x->sid, sizeof(x->sid));
    copy_hdr(r, "Retry-After", x->retry_after, sizeof(x->retry_after));
    copy_hdr(r, "Allow", x->allow, sizeof(x->allow));
    x->is_sse = strncmp(x->ctype, "text/event-stream", 17) == 0;
    return 0;
}

static int on_body(http_request_t *r, const char *data, size_t len, void *ud)
{
    (void)r;
    xfer_t *x = ud;
    x->nchunks++;
    assert_int_equal(buf_append(&x->body, data, len), 0);
    if (x->is_sse)
        return sse_parser_feed(&x->sse, data, len);
    return 0;
}

static void on_done(http_request_t *r, int result, void *ud)
{
    (void)r;
    xfer_t *x = ud;
    x->result = result;
    x->done = 1;
    x->req = NULL;
    x->t_done = uv_now(&x->fx->loop);
}

/* Start a request; headers is a NULL-terminated list of "Name: value". */
static xfer_t *xstart(fx_t *fx, const char *method, const char *path, const char *const *headers,
                      const char *body)
{
    xfer_t *x = mcp_calloc(1, sizeof(*x));
    assert_non_null(x);
    x->fx = fx;
    buf_init(&x->body, 64 << 20);
    sse_parser_init(&x->sse, SSE_DEFAULT_MAX_EVENT, on_sse_event, x);
    x->retry = -1;
    char url[512];
    snprintf(url, sizeof(url), "%s%s", fx->base, path);
    assert_int_equal(http_request_new(fx->cli, method, url, &x->req), 0);
    for (size_t i = 0; headers && headers[i]; i++) {
        const char *h = headers[i];
        const char *colon = strchr(h, ':');
        assert_non_null(colon);
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(colon - h), h);
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        assert_int_equal(http_request_add_header(x->req, name, v), 0);
    }
    if (body)
        assert_int_equal(http_request_set_body(x->req, body, strlen(body)), 0);
    http_request_set_callbacks(x->req, on_head, on_body);
    x->t0 = uv_now(&fx->loop);
    assert_int_equal(http_request_start(x->req, on_done, x), 0);
    x->started = 1;
    return x;
}

static void xfree(xfer_t *x)
{
    if (!x)
        return;
    if (x->req && !x->done) {
        (void)http_request_cancel(x->req);
        WAIT(x->fx, x->done);
    }
    for (int i = 0; i < x->nmsgs; i++)
        cJSON_Delete(x->msgs[i]);
    sse_parser_free(&x->sse);
    buf_free(&x->body);
    mcp_free(x);
}

static xfer_t *xrun(fx_t *fx, const char *method, const char *path, const char *const *headers,
                    const char *body)
{
    xfer_t *x = xstart(fx, method, path, headers, body);
    WAIT(fx, x->done);
    return x;
}

/* Headers for a request of session sid (NULL: none) at version ver (NULL: none). */
typedef struct {
    char sid[96], ver[64], extra[3][160];
    const char *list[8];
} hdrs_t;

static const char *const *mkhdrs(hdrs_t *h, const char *accept, const char *ctype, const char *sid,
                                 const char *ver, const char *extra)
{
    size_t n = 0;
    memset(h, 0, sizeof(*h));
    if (accept)
        h->list[n++] = accept;
    if (ctype)
        h->list[n++] = ctype;
    if (sid) {
        snprintf(h->sid, sizeof(h->sid), "Mcp-Session-Id: %s", sid);
        h->list[n++] = h->sid;
    }
    if (ver) {
        snprintf(h->ver, sizeof(h->ver), "MCP-Protocol-Version: %s", ver);
        h->list[n++] = h->ver;
    }
    if (extra) {
        snprintf(h->extra[0], sizeof(h->extra[0]), "%s", extra);
        h->list[n++] = h->extra[0];
    }
    h->list[n] = NULL;
    return h->list;
}

static xfer_t *post(fx_t *fx, const char *sid, const char *body)
{
    hdrs_t h;
    return xrun(fx, "POST", "/mcp",
                mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, sid ? "2025-11-25" : NULL, NULL), body);
}

static xfer_t *post_start(fx_t *fx, const char *sid, const char *body)
{
    hdrs_t h;
    return xstart(fx, "POST", "/mcp",
                  mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, sid ? "2025-11-25" : NULL, NULL), body);
}

static xfer_t *get_start(fx_t *fx, const char *sid, const char *last_id)
{
    hdrs_t h;
    char extra[96];
    if (last_id)
        snprintf(extra, sizeof(extra), "Last-Event-ID: %s", last_id);
    return xstart(
        fx, "GET", "/mcp",
        mkhdrs(&h, "Accept: text/event-stream", NULL, sid, "2025-11-25", last_id ? extra : NULL),
        NULL);
}

/* initialize + notifications/initialized; returns the session id in sid. */
static void open_session(fx_t *fx, const char *init_body, char *sid, size_t cap)
{
    xfer_t *x = post(fx, NULL, init_body);
    assert_int_equal(x->result, 0);
    assert_int_equal(x->status, 200);
    assert_true(strlen(x->sid) >= 16);
    for (const char *p = x->sid; *p; p++)
        assert_true(*p >= 0x21 && *p <= 0x7e);
    snprintf(sid, cap, "%s", x->sid);
    xfree(x);
    x = post(fx, sid, INITIALIZED);
    assert_int_equal(x->status, 202);
    assert_int_equal(x->body.len, 0);
    xfree(x);
}

static cJSON *body_json(const xfer_t *x)
{
    cJSON *j = cJSON_ParseWithLength(x->body.data ? x->body.data : "", x->body.len);
    assert_non_null(j);
    return j;
}

static const cJSON *get_path(const cJSON *j, const char *a, const char *b)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, a);
    return b ? cJSON_GetObjectItemCaseSensitive(o, b) : o;
}

/* The text of a tools/call result message. */
static const char *result_text(const cJSON *msg)
{
    const cJSON *content = get_path(msg, "result", "content");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(content, 0), "text");
    return cJSON_IsString(text) ? text->valuestring : NULL;
}

static const char *msg_method(const cJSON *msg)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
    return cJSON_IsString(m) ? m->valuestring : "";
}

static int count_method(const xfer_t *x, const char *method)
{
    int n = 0;
    for (int i = 0; i < x->nmsgs; i++)
        n += strcmp(msg_method(x->msgs[i]), method) == 0;
    return n;
}

static const cJSON *find_id(const xfer_t *x, int id)
{
    for (int i = 0; i < x->nmsgs; i++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(x->msgs[i], "id");
        if (cJSON_IsNumber(j) && j->valueint == id &&
            !cJSON_GetObjectItemCaseSensitive(x->msgs[i], "method"))
            return x->msgs[i];
    }
    return NULL;
}

static void delete_session(fx_t *fx, const char *sid)
{
    hdrs_t h;
    xfer_t *x = xrun(fx, "DELETE", "/mcp", mkhdrs(&h, NULL, NULL, sid, NULL, NULL), NULL);
    assert_int_equal(x->status, 200);
    xfree(x);
}

#define CALL(id, tool, args)                                                                     \
    "{\"jsonrpc\":\"2.0\",\"id\":" #id ",\"method\":\"tools/call\",\"params\":{\"name\":\"" tool \
    "\",\"arguments\":" args ",\"_meta\":{\"progressToken\":" #id "}}}"

/* ------------------------------------------------------------------ tests */

/* initialize -> session id -> initialized 202 -> tools/list JSON -> progress on SSE -> DELETE
 * -> 404. */
static void test_lifecycle(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    assert_int_equal(mcp_http_server_session_count(fx.t), 1);
    assert_non_null(mcp_http_server_find_session(fx.t, sid));
    assert_string_equal(mcp_http_server_session_id(fx.t, mcp_http_server_find_session(fx.t, sid)),
                        sid);

    /* Answered at once with nothing else to send: application/json. */
    xfer_t *x = post(&fx, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    assert_int_equal(x->status, 200);
    assert_string_equal(x->ctype, "application/json");
    assert_string_equal(x->sid, sid);
    cJSON *j = body_json(x);
    assert_int_equal(cJSON_GetArraySize(get_path(j, "result", "tools")), 5);
    cJSON_Delete(j);
    xfree(x);

    /* Async with progress and logs: an SSE stream with a priming event, related messages in
     * order, the response, then the end of the stream. */
    x = post(&fx, sid, CALL(3, "progress", "{}"));
    assert_int_equal(x->result, 0);
    assert_int_equal(x->status, 200);
    assert_true(x->is_sse);
    assert_int_equal(x->nprime, 1);
    assert_int_equal(x->retry, 1000);
    assert_int_equal(count_method(x, "notifications/progress"), 3);
    assert_int_equal(count_method(x, "notifications/message"), 3);
    assert_int_equal(x->nmsgs, 7);
    assert_string_equal(result_text(x->msgs[6]), "progress done");
    for (int i = 0; i < x->nmsgs; i++) {
        assert_string_equal(x->types[i], "message");
        assert_true(strlen(x->ids[i]) > 0);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(x->ids[i], x->ids[k]);
    }
    const cJSON *prog = get_path(x->msgs[0], "params", "progressToken");
    assert_true(cJSON_IsNumber(prog) && prog->valueint == 3);
    xfree(x);

    delete_session(&fx, sid);
    assert_int_equal(mcp_http_server_session_count(fx.t), 0);
    x = post(&fx, sid, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}");
    assert_int_equal(x->status, 404);
    j = body_json(x);
    assert_int_equal(get_path(j, "error", "code")->valueint, -32001);
    cJSON_Delete(j);
    xfree(x);
    teardown(&fx);
}

static void answer_elicitation(xfer_t *x, const cJSON *msg)
{
    if (strcmp(msg_method(msg), "elicitation/create") != 0)
        return;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    char body[256];
    snprintf(body, sizeof(body),
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{\"action\":\"accept\","
             "\"content\":{\"name\":\"Ada\"}}}",
             id->valueint);
    x->ud = post_start(x->fx, x->sid, body);
}

/* A tool call waits for an elicitation answer that the client POSTs while the call's own POST
 * is still open. */
static void test_elicitation_round_trip(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    hdrs_t h;
    xfer_t *x =
        xstart(&fx, "POST", "/mcp", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, "2025-11-25", NULL),
               CALL(5, "ask", "{}"));
    x->on_msg = answer_elicitation;
    WAIT(&fx, x->done);
    xfer_t *answer = x->ud;
    assert_non_null(answer);
    WAIT(&fx, answer->done);
    assert_int_equal(answer->status, 202);
    assert_int_equal(answer->body.len, 0);
    assert_true(answer->t_done <= x->t_done);
    assert_int_equal(x->status, 200);
    assert_int_equal(count_method(x, "elicitation/create"), 1);
    const cJSON *res = find_id(x, 5);
    assert_non_null(res);
    assert_string_equal(result_text(res), "hello Ada");
    xfree(answer);
    xfree(x);
    teardown(&fx);
}

static int has_method(const xfer_t *x, const char *m)
{
    return count_method(x, m) > 0;
}

/* The standalone GET stream: list_changed and resources/updated arrive there; one per session
 * (409); keep-alive comments on silence; the stream ends when the session is deleted. */
static void test_get_stream(void **state)
{
    (void)state;
    fx_t fx;
    mcp_http_config_t cfg;
    mcp_http_config_init(&cfg);
    cfg.keepalive_ms = 30;
    setup_cfg(&fx, &cfg);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    xfer_t *x = post(&fx, sid,
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/subscribe\",\"params\":{"
                     "\"uri\":\"test://watched\"}}");
    assert_int_equal(x->status, 200);
    xfree(x);

    xfer_t *g = get_start(&fx, sid, NULL);
    WAIT(&fx, g->head && g->nprime == 1);
    assert_int_equal(g->status, 200);
    assert_true(g->is_sse);

    xfer_t *g2 = get_start(&fx, sid, NULL);
    WAIT(&fx, g2->done);
    assert_int_equal(g2->status, 409);
    xfree(g2);

    mcp_tool_def_t extra = {.name = "extra", .description = "added later"};
    assert_int_equal(mcp_server_add_tool(fx.srv, &extra, tool_echo, &fx), 0);
    WAIT(&fx, has_method(g, "notifications/tools/list_changed"));
    assert_int_equal(mcp_server_notify_resource_updated(fx.srv, "test://watched"), 1);
    WAIT(&fx, has_method(g, "notifications/resources/updated"));
    assert_int_equal(g->nmsgs, 2);

    /* Silence: keep-alive comments arrive (bytes, no events). */
    size_t before = g->body.len;
    WAIT(&fx, g->body.len > before + 10);
    assert_int_equal(g->nmsgs, 2);
    assert_non_null(strstr(g->body.data + before, ": keepalive"));

    mcp_http_stats_t st;
    mcp_http_server_get_stats(fx.t, &st);
    assert_int_equal(st.live_streams, 1);
    delete_session(&fx, sid);
    WAIT(&fx, g->done);
    assert_int_equal(g->result, 0);
    xfree(g);
    teardown(&fx);
}

static xfer_t *raw(fx_t *fx, const char *method, const char *const *headers, const char *body)
{
    return xrun(fx, method, "/mcp", headers, body);
}

static void expect_error(xfer_t *x, int status, int code)
{
    assert_int_equal(x->status, status);
    cJSON *j = body_json(x);
    assert_int_equal(get_path(j, "error", "code")->valueint, code);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    /* Transport errors have id null; an invalid message's reply keeps its id when readable. */
    assert_true(cJSON_IsNull(id) || (code == -32600 && cJSON_IsNumber(id)));
    cJSON_Delete(j);
    xfree(x);
}

/* Every way a request can be refused, with its status and error body. */
static void test_rejections(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    hdrs_t h;
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}";

    expect_error(
        raw(&fx, "POST", mkhdrs(&h, "Accept: application/json", CT_JSON, sid, NULL, NULL), ping),
        406, -32000);
    expect_error(raw(&fx, "POST",
                     mkhdrs(&h, ACCEPT_BOTH, "Content-Type: text/plain", sid, NULL, NULL), ping),
                 415, -32000);
    /* No session id on a non-initialize request. */
    expect_error(raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, NULL, NULL, NULL), ping), 400,
                 -32000);
    assert_int_equal(mcp_http_server_session_count(fx.t), 1);
    expect_error(
        raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, "no-such-session", NULL, NULL), ping),
        404, -32001);
    expect_error(raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, "1999-01-01", NULL), ping),
                 400, -32000);
    expect_error(raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, NULL), "{not json"),
                 400, -32700);
    expect_error(raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, NULL),
                     "{\"jsonrpc\":\"2.0\",\"id\":3}"),
                 400, -32600);
    /* Batches need a 2025-03-26 session. */
    expect_error(raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, NULL),
                     "[{\"jsonrpc\":"
                     "\"2.0\",\"id\":"
                     "1,\"method\":"
                     "\"ping\"}]"),
                 400, -32600);
    expect_error(raw(&fx, "POST",
                     mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, "Origin: http://evil.example.com"),
                     ping),
                 403, -32000);
    expect_error(raw(&fx, "POST",
                     mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, "Host: evil.example.com"), ping),
                 403, -32000);
    expect_error(
        raw(&fx, "GET", mkhdrs(&h, "Accept: application/json", NULL, sid, NULL, NULL), NULL), 406,
        -32000);
    expect_error(
        raw(&fx, "GET", mkhdrs(&h, "Accept: text/event-stream", NULL, NULL, NULL, NULL), NULL), 400,
        -32000);
    expect_error(raw(&fx, "DELETE", mkhdrs(&h, NULL, NULL, NULL, NULL, NULL), NULL), 400, -32000);
    xfer_t *x = raw(&fx, "PUT", mkhdrs(&h, NULL, NULL, sid, NULL, NULL), NULL);
    assert_int_equal(x->status, 405); /* from the router */
    assert_non_null(strstr(x->allow, "POST"));
    assert_non_null(strstr(x->allow, "DELETE"));
    xfree(x);

    /* Allowed names, any port; any supported version on any session. */
    x = raw(&fx, "POST",
            mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, "2025-03-26", "Origin: http://localhost:5173"),
            ping);
    assert_int_equal(x->status, 200);
    xfree(x);
    x = raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, "Host: [::1]:1234"), ping);
    assert_int_equal(x->status, 200);
    xfree(x);
    x = raw(&fx, "POST", mkhdrs(&h, "Accept: */*", CT_JSON, sid, NULL, "Host: LOCALHOST"), ping);
    assert_int_equal(x->status, 200);
    xfree(x);

    /* initialize on an initialized session. */
    expect_error(raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, NULL),
                     INIT_BODY("2025-11-25")),
                 400, -32600);

    /* A DNS-rebinding initialize creates nothing. */
    expect_error(raw(&fx, "POST",
                     mkhdrs(&h, ACCEPT_BOTH, CT_JSON, NULL, NULL, "Host: evil.example.com"),
                     INIT_BODY("2025-11-25")),
                 403, -32000);
    assert_int_equal(mcp_http_server_session_count(fx.t), 1);
    mcp_http_stats_t st;
    mcp_http_server_get_stats(fx.t, &st);
    assert_true(st.rejected >= 15);
    teardown(&fx);
}

/* A 2025-03-26 session takes batches: one response per request, as a JSON array when all are
 * ready at once, on one SSE stream otherwise; no priming event for this version. */
static void test_batch(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-03-26"), sid, sizeof(sid));
    hdrs_t h;
    xfer_t *x = raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, NULL),
                    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}," CALL(
                        2, "echo", "{\"text\":\"b\"}") "]");
    assert_int_equal(x->status, 200);
    assert_string_equal(x->ctype, "application/json");
    cJSON *j = body_json(x);
    assert_true(cJSON_IsArray(j));
    assert_int_equal(cJSON_GetArraySize(j), 2);
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        const cJSON *m = cJSON_GetArrayItem(j, i);
        int id = cJSON_GetObjectItemCaseSensitive(m, "id")->valueint;
        seen |= 1 << id;
        if (id == 2)
            assert_string_equal(result_text(m), "b");
    }
    assert_int_equal(seen, 6);
    cJSON_Delete(j);
    xfree(x);

    x = raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, NULL),
            "[" CALL(3, "slow", "{\"ms\":20}") "," CALL(4, "echo", "{\"text\":\"d\"}") "]");
    assert_int_equal(x->result, 0);
    assert_true(x->is_sse);
    assert_int_equal(x->nprime, 0);
    assert_int_equal(x->nmsgs, 2);
    assert_string_equal(result_text(find_id(x, 3)), "slow done");
    assert_string_equal(result_text(find_id(x, 4)), "d");
    xfree(x);

    /* Notifications only: 202. */
    x = raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, NULL),
            "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}]");
    assert_int_equal(x->status, 202);
    xfree(x);
    teardown(&fx);
}

static void cancel_after_msgs(xfer_t *x, const cJSON *msg)
{
    (void)msg;
    if (x->nmsgs >= 1 && x->req)
        (void)http_request_cancel(x->req);
}

/* Last-Event-ID: the standalone stream queues while no GET is open and replays what a
 * reconnecting client missed; a POST stream the client dropped is resumed by GET and delivers
 * the call's response. */
static void test_resumption(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));

    xfer_t *g = get_start(&fx, sid, NULL);
    WAIT(&fx, g->nprime == 1);
    char first_prime[32];
    snprintf(first_prime, sizeof(first_prime), "%s", g->prime_id);
    assert_int_equal(mcp_server_broadcast_log(fx.srv, MCP_LOG_INFO, "t", cJSON_CreateString("one")),
                     1);
    WAIT(&fx, g->nmsgs == 1);
    char one_id[32];
    snprintf(one_id, sizeof(one_id), "%s", g->ids[0]);
    assert_int_equal(strncmp(one_id, "0_", 2), 0); /* stream 0: the standalone stream */
    xfree(g);
    mcp_http_stats_t st;
    do {
        uv_run(&fx.loop, UV_RUN_ONCE);
        mcp_http_server_get_stats(fx.t, &st);
    } while (st.live_streams != 0);

    /* No GET open: queued. */
    mcp_server_broadcast_log(fx.srv, MCP_LOG_INFO, "t", cJSON_CreateString("two"));
    mcp_server_broadcast_log(fx.srv, MCP_LOG_INFO, "t", cJSON_CreateString("three"));
    g = get_start(&fx, sid, one_id);
    WAIT(&fx, g->nmsgs == 2);
    assert_string_equal(get_path(g->msgs[0], "params", "data")->valuestring, "two");
    assert_string_equal(get_path(g->msgs[1], "params", "data")->valuestring, "three");
    xfree(g);

    /* From before "one": everything again, as a replay. */
    do {
        uv_run(&fx.loop, UV_RUN_ONCE);
        mcp_http_server_get_stats(fx.t, &st);
    } while (st.live_streams != 0);
    g = get_start(&fx, sid, first_prime);
    WAIT(&fx, g->nmsgs == 3);
    assert_string_equal(get_path(g->msgs[0], "params", "data")->valuestring, "one");
    assert_string_equal(g->ids[0], one_id);
    mcp_http_server_get_stats(fx.t, &st);
    assert_int_equal(st.events_replayed, 3);
    xfree(g);

    /* A POST stream dropped by the client after the first progress notification: the call goes
     * on; GET with the last id seen gets the rest and the response, then the stream ends. */
    hdrs_t h;
    xfer_t *x =
        xstart(&fx, "POST", "/mcp", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, "2025-11-25", NULL),
               CALL(7, "progress", "{}"));
    x->on_msg = cancel_after_msgs;
    WAIT(&fx, x->done);
    assert_int_equal(x->result, MCP_ECANCELED);
    assert_int_equal(x->nmsgs, 1);
    char last[32];
    snprintf(last, sizeof(last), "%s", x->ids[0]);
    assert_int_not_equal(strncmp(last, "0_", 2), 0);
    xfree(x);
    g = get_start(&fx, sid, last);
    WAIT(&fx, g->done);
    assert_int_equal(g->result, 0);
    assert_int_equal(g->status, 200);
    assert_non_null(find_id(g, 7));
    assert_string_equal(result_text(find_id(g, 7)), "progress done");
    assert_int_equal(g->nmsgs, 6); /* 2 more progress + 3 logs + the response */
    xfree(g);

    /* SSE polling: the server ends the POST stream right after the priming event; the client
     * polls with Last-Event-ID and gets the response. */
    x = post(&fx, sid, CALL(8, "poll", "{}"));
    assert_int_equal(fx.poll_rc, 0);
    assert_int_equal(x->result, 0);
    assert_int_equal(x->nprime, 1);
    assert_int_equal(x->nmsgs, 0);
    snprintf(last, sizeof(last), "%s", x->prime_id);
    xfree(x);
    g = get_start(&fx, sid, last);
    WAIT(&fx, g->done);
    assert_int_equal(g->nmsgs, 1);
    assert_string_equal(result_text(find_id(g, 8)), "slow done");
    xfree(g);
    teardown(&fx);
}

/* Sessions that nobody DELETEs expire after the idle timeout. */
static void test_idle_expiry(void **state)
{
    (void)state;
    fx_t fx;
    mcp_http_config_t cfg;
    mcp_http_config_init(&cfg);
    cfg.idle_timeout_ms = 60;
    setup_cfg(&fx, &cfg);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    assert_int_equal(mcp_server_session_count(fx.srv), 1);
    WAIT(&fx, mcp_http_server_session_count(fx.t) == 0);
    assert_int_equal(mcp_server_session_count(fx.srv), 0);
    mcp_http_stats_t st;
    mcp_http_server_get_stats(fx.t, &st);
    assert_int_equal(st.sessions_expired, 1);
    xfer_t *x = post(&fx, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    assert_int_equal(x->status, 404);
    xfree(x);

    /* An open GET stream keeps a session alive. */
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    xfer_t *g = get_start(&fx, sid, NULL);
    WAIT(&fx, g->nprime == 1);
    uint64_t until = uv_now(&fx.loop) + 200;
    WAIT(&fx, uv_now(&fx.loop) >= until);
    assert_int_equal(mcp_http_server_session_count(fx.t), 1);
    xfree(g);
    WAIT(&fx, mcp_http_server_session_count(fx.t) == 0);
    teardown(&fx);
}

/* max_sessions: a new session evicts the least recently used idle one, or gets 503. */
static void test_session_limit(void **state)
{
    (void)state;
    fx_t fx;
    mcp_http_config_t cfg;
    mcp_http_config_init(&cfg);
    cfg.max_sessions = 2;
    setup_cfg(&fx, &cfg);
    char a[64], b[64], c[64];
    open_session(&fx, INIT_BODY("2025-11-25"), a, sizeof(a));
    open_session(&fx, INIT_BODY("2025-11-25"), b, sizeof(b));
    open_session(&fx, INIT_BODY("2025-11-25"), c, sizeof(c));
    assert_int_equal(mcp_http_server_session_count(fx.t), 2);
    xfer_t *x = post(&fx, a, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    assert_int_equal(x->status, 404);
    xfree(x);
    xfer_t *gb = get_start(&fx, b, NULL);
    xfer_t *gc = get_start(&fx, c, NULL);
    WAIT(&fx, gb->nprime == 1 && gc->nprime == 1);
    x = post(&fx, NULL, INIT_BODY("2025-11-25"));
    assert_int_equal(x->status, 503);
    assert_string_equal(x->retry_after, "1");
    xfree(x);
    mcp_http_stats_t st;
    mcp_http_server_get_stats(fx.t, &st);
    assert_int_equal(st.sessions_evicted, 1);
    xfree(gb);
    xfree(gc);
    teardown(&fx);
}

static void on_endpoint(xfer_t *x, const cJSON *msg)
{
    (void)x;
    (void)msg;
}

/* Legacy HTTP+SSE: endpoint event, POST 202 "Accepted", the response on the GET stream. */
static void test_legacy_sse(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    hdrs_t h;
    xfer_t *g = xstart(&fx, "GET", "/sse",
                       mkhdrs(&h, "Accept: text/event-stream", NULL, NULL, NULL, NULL), NULL);
    g->on_msg = on_endpoint;
    /* The endpoint event's data is not JSON: look at the raw stream. */
    WAIT(&fx, g->body.len > 0 && strstr(g->body.data, "\n\n"));
    assert_int_equal(g->status, 200);
    assert_int_equal(strncmp(g->body.data, "event: endpoint\ndata: /messages?sessionId=", 42), 0);
    char path[128];
    snprintf(path, sizeof(path), "%.*s", (int)(strstr(g->body.data, "\n\n") - g->body.data - 22),
             g->body.data + 22);
    assert_int_equal(mcp_http_server_session_count(fx.t), 1);

    xfer_t *x = xrun(&fx, "POST", path, mkhdrs(&h, NULL, CT_JSON, NULL, NULL, NULL),
                     INIT_BODY("2024-11-05"));
    assert_int_equal(x->status, 202);
    assert_string_equal(x->body.data, "Accepted");
    xfree(x);
    WAIT(&fx, find_id(g, 1) != NULL);
    assert_string_equal(get_path(find_id(g, 1), "result", "protocolVersion")->valuestring,
                        "2024-11-05");
    x = xrun(&fx, "POST", path, mkhdrs(&h, NULL, CT_JSON, NULL, NULL, NULL),
             CALL(2, "progress", "{}"));
    assert_int_equal(x->status, 202);
    xfree(x);
    WAIT(&fx, find_id(g, 2) != NULL);
    assert_string_equal(result_text(find_id(g, 2)), "progress done");
    assert_int_equal(count_method(g, "notifications/progress"), 3);
    assert_string_equal(g->types[0], "endpoint");
    for (int i = 1; i < g->nmsgs; i++)
        assert_string_equal(g->types[i], "message");

    x = xrun(&fx, "POST", "/messages?sessionId=nope", mkhdrs(&h, NULL, CT_JSON, NULL, NULL, NULL),
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}");
    assert_int_equal(x->status, 404);
    xfree(x);
    x = xrun(&fx, "POST", path, mkhdrs(&h, NULL, "Content-Type: text/plain", NULL, NULL, NULL),
             "x");
    assert_int_equal(x->status, 415);
    xfree(x);
    x = xrun(&fx, "POST", path, mkhdrs(&h, NULL, CT_JSON, NULL, NULL, NULL), "{oops");
    assert_int_equal(x->status, 400);
    xfree(x);
    x = xrun(&fx, "GET", path, mkhdrs(&h, NULL, NULL, NULL, NULL, NULL), NULL);
    assert_int_equal(x->status, 405);
    xfree(x);

    /* The session lives as long as the stream. */
    xfree(g);
    WAIT(&fx, mcp_http_server_session_count(fx.t) == 0);
    x = xrun(&fx, "POST", path, mkhdrs(&h, NULL, CT_JSON, NULL, NULL, NULL),
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}");
    assert_int_equal(x->status, 404);
    xfree(x);
    teardown(&fx);
}

/* The pre hook answers with its own status and headers, and can expire a session. */
static void test_pre_hook(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    hdrs_t h;
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}";
    xfer_t *x = raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, "X-Fault: 503"), ping);
    assert_string_equal(x->retry_after, "2");
    expect_error(x, 503, -32000);
    x = raw(&fx, "GET", mkhdrs(&h, "Accept: text/event-stream", NULL, sid, NULL, "X-Fault: 503"),
            NULL);
    expect_error(x, 503, -32000);
    x = raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, NULL), ping);
    assert_int_equal(x->status, 200);
    xfree(x);
    expect_error(
        raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, "X-Fault: expire"), ping), 404,
        -32001);
    expect_error(raw(&fx, "POST", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, sid, NULL, NULL), ping), 404,
                 -32001);
    WAIT(&fx, mcp_server_session_count(fx.srv) == 0);
    teardown(&fx);
}

/* The send filter: replace, truncate, close and dribble, on JSON answers and on SSE streams. */
static void test_send_filter(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    const char *echo = CALL(2, "echo", "{\"text\":\"abcdefghijklmnopqrstuvwxyz\"}");

    /* Replace: malformed JSON goes out as is. */
    fx.filter_replace = "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[BROKEN";
    xfer_t *x = post(&fx, sid, echo);
    assert_int_equal(x->status, 200);
    assert_string_equal(x->body.data, fx.filter_replace);
    xfree(x);
    fx.filter_replace = NULL;

    /* Truncate a JSON answer: 10 bytes, then the connection closes. */
    fx.filter_action = MCP_HTTP_SEND_TRUNCATE;
    fx.filter_bytes = 10;
    x = post(&fx, sid, echo);
    assert_int_equal(x->status, 200);
    assert_int_equal(x->body.len, 10);
    assert_int_equal(strncmp(x->body.data, "{\"jsonrpc\"", 10), 0);
    xfree(x);

    /* Truncate on an SSE stream: the event is cut, the stream never ends properly. */
    x = post(&fx, sid, CALL(3, "slow", "{\"ms\":5}"));
    assert_int_not_equal(x->result, 0);
    assert_int_equal(x->nprime, 1);
    assert_int_equal(x->nmsgs, 0);
    assert_non_null(strstr(x->body.data, "data: {\"jsonrpc\""));
    xfree(x);

    /* Close without writing: no response at all. */
    fx.filter_action = MCP_HTTP_SEND_CLOSE;
    x = post(&fx, sid, echo);
    assert_int_not_equal(x->result, 0);
    assert_int_equal(x->body.len, 0);
    xfree(x);

    /* Dribble: the whole answer in 8-byte pieces, 3 ms apart. */
    fx.filter_action = MCP_HTTP_SEND_DRIBBLE;
    x = post(&fx, sid, echo);
    assert_int_equal(x->result, 0);
    assert_int_equal(x->status, 200);
    cJSON *j = body_json(x);
    assert_string_equal(result_text(j), "abcdefghijklmnopqrstuvwxyz");
    cJSON_Delete(j);
    assert_true(x->nchunks >= x->body.len / 8 / 2);
    assert_true(x->t_done - x->t0 >= (x->body.len / 8 - 1) * 3 / 2);
    xfree(x);
    x = post(&fx, sid, CALL(4, "slow", "{\"ms\":5}"));
    assert_int_equal(x->result, 0);
    assert_int_equal(x->nmsgs, 1);
    assert_string_equal(result_text(find_id(x, 4)), "slow done");
    assert_true(x->nchunks >= 5);
    xfree(x);
    fx.filter_action = 0;
    assert_int_equal(fx.filter_hits, 6);

    /* A truncated event is retained whole: resuming gets it intact. */
    fx.filter_action = MCP_HTTP_SEND_TRUNCATE;
    fx.filter_bytes = 5;
    x = post(&fx, sid, CALL(5, "slow", "{\"ms\":5}"));
    assert_int_equal(x->nmsgs, 0);
    char prime[32];
    snprintf(prime, sizeof(prime), "%s", x->prime_id);
    xfree(x);
    fx.filter_action = 0;
    xfer_t *g = get_start(&fx, sid, prime);
    WAIT(&fx, g->done);
    assert_string_equal(result_text(find_id(g, 5)), "slow done");
    xfree(g);
    teardown(&fx);
}

static void on_health(http_req_t *req, void *ud)
{
    (void)ud;
    http_respond(req, 200, "text/plain", "ok", 2);
}

/* Mounted on an http server and router of the caller's, next to other routes; custom paths;
 * always_sse; an allow-list of the caller's. */
static void test_mount(void **state)
{
    (void)state;
    fx_t fx;
    memset(&fx, 0, sizeof(fx));
    assert_int_equal(uv_loop_init(&fx.loop), 0);
    uv_timer_init(&fx.loop, &fx.ticker);
    uv_timer_start(&fx.ticker, on_tick, 10, 10);
    make_server(&fx);
    static const char *const hosts[] = {"127.0.0.1", "::1", NULL};
    mcp_http_config_t cfg;
    mcp_http_config_init(&cfg);
    cfg.mcp_path = "/v1/mcp";
    cfg.no_legacy_sse = 1;
    cfg.always_sse = 1;
    cfg.allowed_hosts = hosts;
    mcp_http_config_t bad = cfg;
    bad.mcp_path = "relative";
    assert_int_equal(mcp_http_server_new(&fx.loop, fx.srv, &bad, &fx.t), MCP_EINVAL);
    assert_int_equal(mcp_http_server_new(&fx.loop, fx.srv, &cfg, &fx.t), 0);
    fx.ext_router = http_router_new();
    assert_non_null(fx.ext_router);
    assert_int_equal(http_router_add(fx.ext_router, "GET", "/health", on_health, NULL), 0);
    assert_int_equal(
        http_server_new(&fx.loop, NULL, http_router_handle, fx.ext_router, &fx.ext_http), 0);
    assert_int_equal(mcp_http_server_mount(fx.t, fx.ext_router, fx.ext_http), 0);
    assert_int_equal(mcp_http_server_mount(fx.t, fx.ext_router, fx.ext_http), MCP_ESTATE);
    assert_null(mcp_http_server_router(fx.t));
    assert_int_equal(http_server_listen(fx.ext_http, "127.0.0.1", 0), 0);
    assert_int_equal(mcp_http_server_port(fx.t), http_server_port(fx.ext_http));
    snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%d", http_server_port(fx.ext_http));
    assert_int_equal(http_client_new(&fx.loop, NULL, &fx.cli), 0);

    xfer_t *x = xrun(&fx, "GET", "/health", NULL, NULL);
    assert_int_equal(x->status, 200);
    xfree(x);
    hdrs_t h;
    x = xrun(&fx, "POST", "/v1/mcp", mkhdrs(&h, ACCEPT_BOTH, CT_JSON, NULL, NULL, NULL),
             INIT_BODY("2025-11-25"));
    assert_int_equal(x->status, 200);
    assert_true(x->is_sse); /* always_sse, even for an answer ready at once */
    assert_int_equal(x->nprime, 1);
    assert_non_null(find_id(x, 1));
    xfree(x);
    x = xrun(&fx, "GET", "/sse", NULL, NULL);
    assert_int_equal(x->status, 404);
    xfree(x);
    x = xrun(&fx, "POST", "/v1/mcp",
             mkhdrs(&h, ACCEPT_BOTH, CT_JSON, NULL, NULL, "Host: localhost"),
             INIT_BODY("2025-11-25"));
    assert_int_equal(x->status, 403);
    xfree(x);
    teardown(&fx);
}

static void on_raw_connect(uv_connect_t *req, int status)
{
    assert_int_equal(status, 0);
    *(int *)req->data = 1;
}

/* Bounds: the standalone stream queues at most stream_max_events while no GET is open (the
 * oldest go); a client that stops reading is disconnected once its undelivered events pass
 * stream_max_bytes, and the session goes on. */
static void test_bounds(void **state)
{
    (void)state;
    fx_t fx;
    mcp_http_config_t cfg;
    mcp_http_config_init(&cfg);
    cfg.stream_max_events = 3;
    cfg.stream_max_bytes = 1 << 20;
    setup_cfg(&fx, &cfg);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    for (int i = 1; i <= 5; i++) {
        char text[8];
        snprintf(text, sizeof(text), "m%d", i);
        assert_int_equal(
            mcp_server_broadcast_log(fx.srv, MCP_LOG_INFO, "t", cJSON_CreateString(text)), 1);
    }
    mcp_http_stats_t st;
    mcp_http_server_get_stats(fx.t, &st);
    assert_int_equal(st.events_dropped, 2);
    xfer_t *g = get_start(&fx, sid, NULL);
    WAIT(&fx, g->nmsgs == 3);
    assert_string_equal(get_path(g->msgs[0], "params", "data")->valuestring, "m3");
    assert_string_equal(get_path(g->msgs[2], "params", "data")->valuestring, "m5");
    xfree(g);
    WAIT(&fx, (mcp_http_server_get_stats(fx.t, &st), st.live_streams == 0));

    /* A raw client that sends GET and never reads. */
    uv_tcp_t sock;
    uv_connect_t creq;
    uv_write_t wreq;
    struct sockaddr_in addr;
    int connected = 0;
    uv_ip4_addr("127.0.0.1", mcp_http_server_port(fx.t), &addr);
    uv_tcp_init(&fx.loop, &sock);
    sock.data = &connected;
    creq.data = &connected;
    assert_int_equal(uv_tcp_connect(&creq, &sock, (const struct sockaddr *)&addr, on_raw_connect),
                     0);
    WAIT(&fx, connected);
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                     "Mcp-Session-Id: %s\r\n\r\n",
                     sid);
    uv_buf_t b = uv_buf_init(head, (unsigned)n);
    assert_int_equal(uv_write(&wreq, (uv_stream_t *)&sock, &b, 1, NULL), 0);
    WAIT(&fx, (mcp_http_server_get_stats(fx.t, &st), st.live_streams == 1));
    size_t big = 256 * 1024;
    char *text = mcp_malloc(big + 1);
    memset(text, 'x', big);
    text[big] = '\0';
    for (int i = 0; i < 200 && st.live_streams == 1; i++) {
        mcp_server_broadcast_log(fx.srv, MCP_LOG_INFO, "t", cJSON_CreateString(text));
        for (int k = 0; k < 5; k++)
            uv_run(&fx.loop, UV_RUN_NOWAIT);
        mcp_http_server_get_stats(fx.t, &st);
    }
    mcp_free(text);
    assert_int_equal(st.live_streams, 0);
    assert_true(st.events_dropped > 2);
    assert_int_equal(mcp_http_server_session_count(fx.t), 1);
    uv_close((uv_handle_t *)&sock, NULL);
    xfer_t *x = post(&fx, sid, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
    assert_int_equal(x->status, 200);
    xfree(x);
    teardown(&fx);
}

/* Closing the transport with streams open ends them and closes every session; freeing the
 * server first makes the transport forget its sessions. */
static void test_close_with_streams(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    char sid[64];
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    xfer_t *g = get_start(&fx, sid, NULL);
    xfer_t *p = post_start(&fx, sid, CALL(2, "slow", "{\"ms\":100000}"));
    WAIT(&fx, g->nprime == 1 && p->nprime == 1);
    assert_int_equal(mcp_http_server_close(fx.t, on_t_closed, &fx), 0);
    assert_int_equal(mcp_http_server_close(fx.t, on_t_closed, &fx), MCP_ESTATE);
    WAIT(&fx, fx.t_closed && g->done && p->done);
    assert_int_equal(mcp_server_session_count(fx.srv), 0);
    xfree(g);
    xfree(p);
    /* The slow tool's timer still runs; the call was cancelled. */
    assert_int_equal(http_client_close(fx.cli, on_cli_closed, &fx), 0);
    WAIT(&fx, fx.cli_closed);
    mcp_server_free(fx.srv);
    uv_close((uv_handle_t *)&fx.ticker, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT); /* the tool timer fires, finds its call cancelled */
    assert_int_equal(uv_loop_close(&fx.loop), 0);

    /* Server freed while the transport still has sessions. */
    setup(&fx);
    open_session(&fx, INIT_BODY("2025-11-25"), sid, sizeof(sid));
    g = get_start(&fx, sid, NULL);
    WAIT(&fx, g->nprime == 1);
    mcp_server_free(fx.srv);
    assert_int_equal(mcp_http_server_session_count(fx.t), 0);
    WAIT(&fx, g->done);
    xfree(g);
    assert_int_equal(http_client_close(fx.cli, on_cli_closed, &fx), 0);
    assert_int_equal(mcp_http_server_close(fx.t, on_t_closed, &fx), 0);
    WAIT(&fx, fx.t_closed && fx.cli_closed);
    uv_close((uv_handle_t *)&fx.ticker, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
}

int main(void)
{
    mcp_alloc_init();
    assert_int_equal(http_client_global_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),   cmocka_unit_test(test_elicitation_round_trip),
        cmocka_unit_test(test_get_stream),  cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_batch),       cmocka_unit_test(test_resumption),
        cmocka_unit_test(test_idle_expiry), cmocka_unit_test(test_session_limit),
        cmocka_unit_test(test_legacy_sse),  cmocka_unit_test(test_pre_hook),
        cmocka_unit_test(test_send_filter), cmocka_unit_test(test_mount),
        cmocka_unit_test(test_bounds),      cmocka_unit_test(test_close_with_streams),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return rc;
}
