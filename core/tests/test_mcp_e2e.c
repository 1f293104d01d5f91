/* End-to-end tests: the C MCP client (mcp_client + its transports) against the C MCP server
 * (mcp_server + its transports), over stdio, Streamable HTTP and legacy HTTP+SSE (and auto mode
 * falling back to legacy). One test body runs for each row of `transports`:
 *
 *   initialize (2025-11-25 negotiated) -> tools/list through every page (page size 2, 8 tools,
 *   4 pages, order checked) -> tools/call echo -> slow with 3 progress notifications -> slow
 *   cancelled by the client (the server's cancel hook ran) -> ask (a server->client
 *   elicitation/create answered by the client's handler) -> ask cancelled while the elicitation
 *   is unanswered (the server withdraws it) -> the server ends the session: expiry and
 *   re-initialize (Streamable HTTP), the transport closing with in-flight calls failed (legacy
 *   SSE), a crash (stdio) -> graceful close -> uv_loop_close() == 0.
 *
 * For stdio this binary re-executes itself with --serve-stdio as the server; for HTTP the
 * server listens on 127.0.0.1 (port chosen at run time) in the test's own loop. The server's
 * counters (initializes seen, cancel hooks run) are read through its `stats` tool, so the same
 * check works for the child process and for the in-process server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "child.h"
#include "errors.h"
#include "http_client.h"
#include "log.h"
#include "mcp_client.h"
#include "mcp_client_http.h"
#include "mcp_client_stdio.h"
#include "mcp_http_server.h"
#include "mcp_proto.h"
#include "mcp_server.h"
#include "mcp_stdio_server.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ==== the server (in this process for HTTP, in the re-executed child for stdio) ==== */

typedef struct srv_state_s {
    int may_crash;         /* only the stdio child may _exit from a tool */
    unsigned initializes;  /* initialize requests seen (by the interceptor) */
    unsigned cancels;      /* cancel hooks of `slow` that ran */
    unsigned slow_pending; /* `slow` calls whose timer is still open */
    mcp_session_t *last;   /* the session of the last request (HTTP rows have one at a time) */
} srv_state_t;

/* The registration order is the order tools/list must report. */
static const char *const tool_names[] = {"echo",  "slow",   "ask",    "stats",
                                         "crash", "noop_a", "noop_b", "noop_c"};
#define NTOOLS    (sizeof tool_names / sizeof tool_names[0])
#define PAGE_SIZE 2

typedef struct slow_s {
    uv_timer_t timer;
    mcp_call_t *call; /* not referenced: the cancel hook is the last time we may use it */
    srv_state_t *st;
    int sent; /* progress notifications sent */
} slow_t;

static int tool_interceptor(mcp_call_t *call, const char *method, const char *tool_name, void *ud)
{
    (void)tool_name;
    srv_state_t *st = ud;
    st->last = mcp_call_session(call);
    if (strcmp(method, MCP_METHOD_INITIALIZE) == 0)
        st->initializes++;
    return MCP_INTERCEPT_CONTINUE;
}

static void tool_echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(args, "text"));
    (void)mcp_call_reply_text(call, text ? text : "");
}

static void slow_closed(uv_handle_t *h)
{
    slow_t *s = h->data;
    s->st->slow_pending--;
    mcp_free(s);
}

static void slow_finish(slow_t *s)
{
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, slow_closed);
}

static void slow_tick(uv_timer_t *timer)
{
    slow_t *s = timer->data;
    if (s->sent < 3) {
        s->sent++;
        (void)mcp_call_progress(s->call, s->sent, 3, "step");
        return;
    }
    /* The call ends with this answer; s is freed once the timer closed. */
    mcp_call_on_cancel(s->call, NULL, NULL);
    (void)mcp_call_reply_text(s->call, "slow done");
    slow_finish(s);
}

static void slow_cancelled(mcp_call_t *call, void *ud)
{
    (void)call;
    slow_t *s = ud;
    s->st->cancels++;
    slow_finish(s);
}

/* Progress 1 goes out at once, so a client that saw it knows the server holds the call; then
 * 2 and 3 every interval_ms, then the answer. */
static void tool_slow(mcp_call_t *call, const cJSON *args, void *ud)
{
    srv_state_t *st = ud;
    const cJSON *iv = cJSON_GetObjectItem(args, "interval_ms");
    uint64_t interval = cJSON_IsNumber(iv) && iv->valuedouble >= 1 ? (uint64_t)iv->valuedouble : 10;
    slow_t *s = mcp_calloc(1, sizeof *s);
    if (!s) {
        (void)mcp_call_tool_error(call, "out of memory");
        return;
    }
    s->call = call;
    s->st = st;
    s->timer.data = s;
    uv_timer_init(mcp_call_loop(call), &s->timer);
    st->slow_pending++;
    mcp_call_on_cancel(call, slow_cancelled, s);
    s->sent = 1;
    (void)mcp_call_progress(call, 1, 3, "step");
    uv_timer_start(&s->timer, slow_tick, interval, interval);
}

static void ask_answered(const mcp_response_t *resp, void *ud)
{
    (void)ud;
    if (resp->status != 0 || !resp->result) {
        (void)mcp_call_tool_error(resp->call, "elicitation failed");
        return;
    }
    const char *action = cJSON_GetStringValue(cJSON_GetObjectItem(resp->result, "action"));
    const char *name = cJSON_GetStringValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(resp->result, "content"), "name"));
    char *text = mcp_asprintf("%s:%s", action ? action : "?", name ? name : "?");
    (void)mcp_call_reply_text(resp->call, text ? text : "out of memory");
    mcp_free(text);
}

static void tool_ask(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *p = cJSON_Parse("{\"message\":\"What is your name?\",\"requestedSchema\":{\"type\":"
                           "\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},"
                           "\"required\":[\"name\"]}}");
    int rc = mcp_call_request(call, MCP_METHOD_ELICITATION_CREATE, p, ask_answered, NULL);
    if (rc)
        (void)mcp_call_tool_error(call, mcp_strerror(rc));
}

static void tool_stats(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    srv_state_t *st = ud;
    char *text = mcp_asprintf("{\"initializes\":%u,\"cancels\":%u}", st->initializes, st->cancels);
    (void)mcp_call_reply_text(call, text ? text : "out of memory");
    mcp_free(text);
}

static void tool_crash(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    srv_state_t *st = ud;
    if (!st->may_crash) {
        (void)mcp_call_tool_error(call, "crash is only served by the stdio child");
        return;
    }
    _exit(3);
}

static void tool_noop(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    (void)mcp_call_reply_text(call, "noop");
}

static int server_build(uv_loop_t *loop, srv_state_t *st, mcp_server_t **out)
{
    static const mcp_tool_fn fns[NTOOLS] = {tool_echo,  tool_slow, tool_ask,  tool_stats,
                                            tool_crash, tool_noop, tool_noop, tool_noop};
    mcp_server_config_t cfg = {.name = "e2e-server", .version = "1.0", .page_size = PAGE_SIZE};
    mcp_server_t *srv;
    int rc = mcp_server_create(loop, &cfg, &srv);
    if (rc)
        return rc;
    for (size_t i = 0; i < NTOOLS; i++) {
        mcp_tool_def_t def = {.name = tool_names[i], .description = "e2e test tool"};
        if ((rc = mcp_server_add_tool(srv, &def, fns[i], st)) != 0) {
            mcp_server_free(srv);
            return rc;
        }
    }
    mcp_server_set_interceptor(srv, tool_interceptor, st);
    *out = srv;
    return 0;
}

static void stdio_closed(mcp_stdio_server_t *io, int status, void *ud)
{
    (void)io;
    (void)status;
    *(int *)ud = 1;
}

static int serve_stdio(void)
{
    uv_loop_t loop;
    srv_state_t st = {.may_crash = 1};
    mcp_server_t *srv;
    mcp_stdio_server_t *io;
    int closed = 0;
    mcp_stdio_config_t cfg = {.eof_grace_ms = 100};
    if (uv_loop_init(&loop) || server_build(&loop, &st, &srv))
        return 2;
    if (mcp_stdio_server_start(&loop, srv, &cfg, stdio_closed, &closed, &io))
        return 2;
    while (!closed && uv_run(&loop, UV_RUN_ONCE))
        ;
    mcp_server_free(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 ? 0 : 2;
}

/* ==== the client side: fixture and helpers ==== */

typedef enum { TR_STDIO, TR_HTTP } tr_kind_t;

typedef struct transport_s {
    const char *name;
    tr_kind_t kind;
    mcp_client_http_mode_t mode;        /* TR_HTTP: the mode asked for */
    mcp_client_http_mode_t expect_mode; /* TR_HTTP: the mode in use after initialize */
    const char *path;                   /* TR_HTTP: endpoint path */
    int session_ids; /* 1: the session has an id the server can forget (Streamable HTTP) */
} transport_t;

static const transport_t transports[] = {
    {"stdio", TR_STDIO, 0, 0, NULL, 0},
    {"streamable", TR_HTTP, MCP_HTTP_STREAMABLE, MCP_HTTP_STREAMABLE, "/mcp", 1},
    {"legacy-sse", TR_HTTP, MCP_HTTP_SSE, MCP_HTTP_SSE, "/sse", 0},
    /* POST /sse gets 405 from the router: the client falls back to legacy. */
    {"auto-to-legacy", TR_HTTP, MCP_HTTP_AUTO, MCP_HTTP_SSE, "/sse", 0},
};

typedef struct fx_s {
    const transport_t *tr;
    uv_loop_t loop;
    uv_timer_t deadline;
    int expired;
    /* the in-process server (HTTP rows only) */
    srv_state_t st;
    mcp_server_t *srv;
    mcp_http_server_t *http;
    int http_closed;
    /* the client */
    mcp_client_t *c;
    pid_t child; /* stdio: the server's pid */
    int init_done, init_status;
    int lost, lost_reason; /* on_closed: the transport went away by itself */
    int close_done;
    int elicitations;
    int hold_elicitation; /* 1: keep the next one unanswered in `held` */
    mcp_client_incoming_t *held;
} fx_t;

/* One finished (or pending) client request. */
typedef struct call_s {
    mcp_client_req_t *req; /* valid until done */
    int done, status;
    cJSON *result; /* owned copy of the result, or NULL */
    int error_code;
    int nprogress;
    double progress[8];
} call_t;

static uint64_t deadline_ms(void)
{
    return getenv("MCP_UNDER_VALGRIND") ? 120000 : 15000;
}

static void on_deadline(uv_timer_t *t)
{
    ((fx_t *)t->data)->expired = 1;
}

/* Run the loop until cond holds or the deadline passes (a timer, so uv_run never blocks past
 * it); fails the test on the deadline. */
#define RUN_UNTIL(fx, cond)                                                        \
    do {                                                                           \
        (fx)->expired = 0;                                                         \
        uv_timer_start(&(fx)->deadline, on_deadline, deadline_ms(), 0);            \
        while (!(cond) && !(fx)->expired)                                          \
            uv_run(&(fx)->loop, UV_RUN_ONCE);                                      \
        uv_timer_stop(&(fx)->deadline);                                            \
        if (!(cond))                                                               \
            fail_msg("%s: deadline passed waiting for %s", (fx)->tr->name, #cond); \
    } while (0)

static const char *self_path(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    assert_true(n > 0);
    path[n] = '\0';
    return path;
}

static void on_init(mcp_client_t *c, int status, void *ud)
{
    (void)c;
    fx_t *fx = ud;
    fx->init_done = 1;
    fx->init_status = status;
}

static void on_lost(mcp_client_t *c, int reason, void *ud)
{
    (void)c;
    fx_t *fx = ud;
    fx->lost = 1;
    fx->lost_reason = reason;
}

static void on_close_done(mcp_client_t *c, void *ud)
{
    (void)c;
    ((fx_t *)ud)->close_done = 1;
}

static void on_http_closed(mcp_http_server_t *t, void *ud)
{
    (void)t;
    ((fx_t *)ud)->http_closed = 1;
}

static void on_elicitation(mcp_client_t *c, mcp_client_incoming_t *in, const char *method,
                           const cJSON *params, void *ud)
{
    (void)c;
    fx_t *fx = ud;
    cJSON *r = NULL;
    if (fx->hold_elicitation) {
        fx->hold_elicitation = 0;
        fx->held = in;
        return;
    }
    if (strcmp(method, MCP_METHOD_ELICITATION_CREATE) == 0 &&
        cJSON_GetObjectItem(params, "requestedSchema")) {
        fx->elicitations++;
        r = cJSON_Parse("{\"action\":\"accept\",\"content\":{\"name\":\"e2e-client\"}}");
    }
    if (r)
        (void)mcp_client_reply(in, r);
    else
        (void)mcp_client_reply_error(in, -32602, "unexpected request", NULL);
}

static void on_result(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    call_t *call = ud;
    call->done = 1;
    call->req = NULL;
    call->status = status;
    if (status == 0 && resp)
        call->result = cJSON_Duplicate(resp->result, 1);
    else if (resp)
        call->error_code = resp->error_code;
}

static void on_progress(mcp_client_req_t *req, double progress, double total, const char *message,
                        const cJSON *params, void *ud)
{
    (void)req;
    (void)total;
    (void)message;
    (void)params;
    call_t *call = ud;
    if (call->nprogress < (int)(sizeof call->progress / sizeof call->progress[0]))
        call->progress[call->nprogress] = progress;
    call->nprogress++;
}

static void call_free(call_t *call)
{
    cJSON_Delete(call->result);
    call->result = NULL;
}

static void request(fx_t *fx, call_t *call, const char *method, cJSON *params, int with_progress)
{
    memset(call, 0, sizeof *call);
    mcp_client_call_t c = {.method = method,
                           .params = params,
                           .deadline_ms = deadline_ms(),
                           .cb = on_result,
                           .on_progress = with_progress ? on_progress : NULL,
                           .ud = call};
    assert_int_equal(mcp_client_request_ex(fx->c, &c, &call->req), 0);
}

static void call_tool(fx_t *fx, call_t *call, const char *name, const char *args_json,
                      int with_progress)
{
    cJSON *p = cJSON_CreateObject();
    assert_non_null(p);
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddItemToObject(p, "arguments", cJSON_Parse(args_json ? args_json : "{}"));
    request(fx, call, MCP_METHOD_TOOLS_CALL, p, with_progress);
}

/* The text of the first content item of a tools/call result ("" when absent). */
static const char *result_text(const call_t *call)
{
    const cJSON *content = cJSON_GetObjectItem(call->result, "content");
    const char *text =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(content, 0), "text"));
    return text ? text : "";
}

static void call_tool_sync(fx_t *fx, call_t *call, const char *name, const char *args_json)
{
    call_tool(fx, call, name, args_json, 0);
    RUN_UNTIL(fx, call->done);
    assert_int_equal(call->status, 0);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(call->result, "isError")));
}

/* The server's counters, through its `stats` tool (same path for the child and in-process). */
static void server_stats(fx_t *fx, unsigned *initializes, unsigned *cancels)
{
    call_t call;
    call_tool_sync(fx, &call, "stats", NULL);
    cJSON *j = cJSON_Parse(result_text(&call));
    assert_non_null(j);
    *initializes = (unsigned)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "initializes"));
    *cancels = (unsigned)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "cancels"));
    cJSON_Delete(j);
    call_free(&call);
}

static void fx_setup(fx_t *fx, const transport_t *tr)
{
    memset(fx, 0, sizeof *fx);
    fx->tr = tr;
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(uv_timer_init(&fx->loop, &fx->deadline), 0);
    fx->deadline.data = fx;
    mcp_client_options_t co = {.name = tr->name,
                               .client_name = "e2e-client",
                               .on_elicitation = on_elicitation,
                               .on_closed = on_lost,
                               .userdata = fx};
    assert_int_equal(mcp_client_new(&fx->loop, &co, &fx->c), 0);
    if (tr->kind == TR_STDIO) {
        static const char *const args[] = {"--serve-stdio", NULL};
        mcp_client_stdio_options_t so = {.command = self_path(), .args = args};
        assert_int_equal(mcp_client_stdio_start(fx->c, &so), 0);
        fx->child = child_pid(mcp_client_stdio_child(fx->c));
        assert_true(fx->child > 0);
        return;
    }
    assert_int_equal(server_build(&fx->loop, &fx->st, &fx->srv), 0);
    assert_int_equal(mcp_http_server_new(&fx->loop, fx->srv, NULL, &fx->http), 0);
    assert_int_equal(mcp_http_server_listen(fx->http, "127.0.0.1", 0, NULL), 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", mcp_http_server_port(fx->http), tr->path);
    mcp_client_http_options_t ho = {.url = url, .mode = tr->mode};
    assert_int_equal(mcp_client_http_start(fx->c, &ho), 0);
}

/* ==== the steps ==== */

static void step_initialize(fx_t *fx)
{
    assert_int_equal(mcp_client_initialize(fx->c, deadline_ms(), on_init, fx), 0);
    RUN_UNTIL(fx, fx->init_done);
    assert_int_equal(fx->init_status, 0);
    assert_string_equal(mcp_client_protocol_version(fx->c), MCP_PROTOCOL_2025_11_25);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(mcp_client_server_info(fx->c), "name")),
        "e2e-server");
    assert_true(mcp_client_server_has(fx->c, "tools"));
    if (fx->tr->kind != TR_HTTP)
        return;
    assert_int_equal(mcp_client_http_mode(fx->c), fx->tr->expect_mode);
    mcp_client_http_stats_t hs;
    assert_int_equal(mcp_client_http_get_stats(fx->c, &hs), 0);
    assert_int_equal(hs.fallbacks, fx->tr->mode == MCP_HTTP_AUTO ? 1 : 0);
    if (fx->tr->expect_mode == MCP_HTTP_STREAMABLE)
        assert_non_null(mcp_client_http_session_id(fx->c));
}

static void step_list_tools(fx_t *fx)
{
    char *cursor = NULL;
    size_t seen = 0;
    int pages = 0;
    do {
        cJSON *params = NULL;
        if (cursor) {
            params = cJSON_CreateObject();
            assert_non_null(cJSON_AddStringToObject(params, "cursor", cursor));
            mcp_free(cursor);
            cursor = NULL;
        }
        call_t call;
        request(fx, &call, MCP_METHOD_TOOLS_LIST, params, 0);
        RUN_UNTIL(fx, call.done);
        assert_int_equal(call.status, 0);
        pages++;
        const cJSON *tools = cJSON_GetObjectItem(call.result, "tools");
        assert_true(cJSON_IsArray(tools));
        assert_in_range(cJSON_GetArraySize(tools), 1, PAGE_SIZE);
        const cJSON *tool;
        cJSON_ArrayForEach(tool, tools)
        {
            assert_true(seen < NTOOLS);
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(tool, "name")),
                                tool_names[seen]);
            seen++;
        }
        const char *next = cJSON_GetStringValue(cJSON_GetObjectItem(call.result, "nextCursor"));
        if (next)
            assert_non_null(cursor = mcp_strdup(next));
        call_free(&call);
    } while (cursor && pages < 10);
    assert_null(cursor);
    assert_int_equal(pages, 4);
    assert_int_equal(seen, NTOOLS);
}

static void step_echo(fx_t *fx)
{
    call_t call;
    call_tool_sync(fx, &call, "echo", "{\"text\":\"hello \\\"e2e\\\"\\n\"}");
    assert_string_equal(result_text(&call), "hello \"e2e\"\n");
    call_free(&call);
}

static void step_progress(fx_t *fx)
{
    call_t call;
    call_tool(fx, &call, "slow", "{\"interval_ms\":10}", 1);
    RUN_UNTIL(fx, call.done);
    assert_int_equal(call.status, 0);
    assert_string_equal(result_text(&call), "slow done");
    assert_int_equal(call.nprogress, 3);
    assert_true(call.progress[0] == 1 && call.progress[1] == 2 && call.progress[2] == 3);
    call_free(&call);
}

static void step_cancel(fx_t *fx)
{
    call_t call;
    call_tool(fx, &call, "slow", "{\"interval_ms\":600000}", 1);
    /* The first progress says the server holds the call: the cancellation cannot overtake it
     * (on HTTP it travels on its own POST). */
    RUN_UNTIL(fx, call.nprogress >= 1);
    assert_int_equal(mcp_client_cancel(call.req, "e2e cancel"), 0);
    assert_false(call.done); /* never from inside mcp_client_cancel */
    RUN_UNTIL(fx, call.done);
    assert_int_equal(call.status, MCP_ECANCELED);
    assert_null(call.result);
    /* The server saw notifications/cancelled: its cancel hook ran. On stdio the first stats
     * call already sees it (one ordered pipe); over HTTP the notification and the stats request
     * are separate POSTs, so ask until it shows (bounded by the deadline). */
    unsigned inits, cancels;
    uint64_t until = uv_now(&fx->loop) + deadline_ms();
    do
        server_stats(fx, &inits, &cancels);
    while (cancels == 0 && fx->tr->kind == TR_HTTP && uv_now(&fx->loop) < until);
    assert_int_equal(cancels, 1);
    assert_int_equal(inits, 1);
    if (fx->srv)
        assert_int_equal(fx->st.slow_pending, 0);
}

static void step_ask(fx_t *fx)
{
    call_t call;
    call_tool_sync(fx, &call, "ask", NULL);
    assert_string_equal(result_text(&call), "accept:e2e-client");
    assert_int_equal(fx->elicitations, 1);
    call_free(&call);
}

/* A call cancelled while its elicitation waits for the user: the server withdraws that request
 * (notifications/cancelled), so the client's late answer is refused and nothing is sent. */
static void step_ask_cancelled(fx_t *fx)
{
    call_t call;
    fx->hold_elicitation = 1;
    call_tool(fx, &call, "ask", NULL, 0);
    RUN_UNTIL(fx, fx->held != NULL);
    assert_false(mcp_client_incoming_cancelled(fx->held));
    assert_int_equal(mcp_client_cancel(call.req, "user went away"), 0);
    RUN_UNTIL(fx, call.done);
    assert_int_equal(call.status, MCP_ECANCELED);
    RUN_UNTIL(fx, mcp_client_incoming_cancelled(fx->held));
    assert_int_equal(mcp_client_reply(fx->held, NULL), MCP_ECANCELED);
    fx->held = NULL;
    /* The session is still fine afterwards. */
    step_echo(fx);
}

/* Streamable HTTP: the server forgets the session; the next call gets 404, the client
 * re-initializes (a new session id) and resends the call, which succeeds. */
static void step_session_expiry(fx_t *fx)
{
    char old_id[MCP_HTTP_SESSION_ID_MAX];
    const char *id = mcp_client_http_session_id(fx->c);
    assert_non_null(id);
    snprintf(old_id, sizeof old_id, "%s", id);
    mcp_session_t *s = mcp_http_server_find_session(fx->http, old_id);
    assert_non_null(s);
    assert_int_equal(mcp_http_server_expire_session(fx->http, s), 0);
    RUN_UNTIL(fx, mcp_http_server_find_session(fx->http, old_id) == NULL);

    call_t call;
    call_tool_sync(fx, &call, "echo", "{\"text\":\"after expiry\"}");
    assert_string_equal(result_text(&call), "after expiry");
    call_free(&call);

    mcp_client_http_stats_t hs;
    assert_int_equal(mcp_client_http_get_stats(fx->c, &hs), 0);
    assert_true(hs.expired >= 1);
    assert_non_null(mcp_client_http_session_id(fx->c));
    assert_string_not_equal(mcp_client_http_session_id(fx->c), old_id);
    assert_true(mcp_client_ready(fx->c));
    unsigned inits, cancels;
    server_stats(fx, &inits, &cancels);
    assert_int_equal(inits, 2);
    mcp_http_stats_t ss;
    mcp_http_server_get_stats(fx->http, &ss);
    assert_int_equal(ss.sessions_expired, 1);
}

/* stdio: the server dies with calls in flight; they fail with MCP_ECLOSED, the client reports
 * the child's abnormal end, and nothing more can be sent. */
static void step_server_crash(fx_t *fx)
{
    call_t pending, crash;
    call_tool(fx, &pending, "slow", "{\"interval_ms\":600000}", 1);
    RUN_UNTIL(fx, pending.nprogress >= 1);
    call_tool(fx, &crash, "crash", NULL, 0);
    RUN_UNTIL(fx, pending.done && crash.done && fx->lost);
    assert_int_equal(pending.status, MCP_ECLOSED);
    assert_int_equal(crash.status, MCP_ECLOSED);
    assert_int_equal(fx->lost_reason, MCP_ECHILD);
    assert_null(mcp_client_stdio_child(fx->c));
    assert_int_equal(kill(fx->child, 0), -1); /* reaped */
    assert_int_equal(errno, ESRCH);
    call_t late;
    memset(&late, 0, sizeof late);
    assert_int_equal(mcp_client_request(fx->c, MCP_METHOD_PING, NULL, 0, on_result, &late, NULL),
                     MCP_ECLOSED);
}

/* Legacy HTTP+SSE: the session is its GET stream. A session the server ends (expiry) ends the
 * stream and with it the transport: in-flight calls fail with MCP_ECLOSED, nothing more can be
 * sent, and there is no re-initialize (no session-id header, no 404 to act on). */
static void step_legacy_session_ended(fx_t *fx)
{
    call_t pending;
    call_tool(fx, &pending, "slow", "{\"interval_ms\":600000}", 1);
    RUN_UNTIL(fx, pending.nprogress >= 1);
    assert_int_equal(mcp_http_server_session_count(fx->http), 1);
    assert_int_equal(mcp_http_server_expire_session(fx->http, fx->st.last), 0);
    RUN_UNTIL(fx, pending.done && fx->lost);
    assert_int_equal(pending.status, MCP_ECLOSED);
    assert_int_equal(fx->lost_reason, MCP_ECLOSED);
    assert_int_equal(fx->st.cancels, 2); /* the session's end cancelled `slow` on the server */
    call_t late;
    memset(&late, 0, sizeof late);
    assert_int_equal(mcp_client_request(fx->c, MCP_METHOD_PING, NULL, 0, on_result, &late, NULL),
                     MCP_ECLOSED);
    assert_int_equal(fx->st.initializes, 1);
}

static void step_close(fx_t *fx)
{
    assert_int_equal(mcp_client_close(fx->c, on_close_done, fx), 0);
    RUN_UNTIL(fx, fx->close_done);
    fx->c = NULL;
    if (fx->tr->kind == TR_STDIO) {
        assert_int_equal(kill(fx->child, 0), -1); /* stopped and reaped by the close */
        assert_int_equal(errno, ESRCH);
    } else {
        /* Streamable HTTP ends the session with DELETE before reporting closed; a legacy
         * session ends when the server notices its GET stream went away. */
        if (fx->tr->expect_mode == MCP_HTTP_STREAMABLE) {
            mcp_http_stats_t ss;
            mcp_http_server_get_stats(fx->http, &ss);
            assert_int_equal(ss.deletes, 1);
        }
        RUN_UNTIL(fx, mcp_http_server_session_count(fx->http) == 0);
        assert_int_equal(fx->st.slow_pending, 0);
        assert_int_equal(mcp_http_server_close(fx->http, on_http_closed, fx), 0);
        RUN_UNTIL(fx, fx->http_closed);
        mcp_server_free(fx->srv);
    }
    uv_close((uv_handle_t *)&fx->deadline, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

/* ==== the test body, once per transport ==== */

static void test_e2e(void **state)
{
    const transport_t *tr = *state;
    fx_t fx;
    fx_setup(&fx, tr);
    step_initialize(&fx);
    step_list_tools(&fx);
    step_echo(&fx);
    step_progress(&fx);
    step_cancel(&fx);
    step_ask(&fx);
    step_ask_cancelled(&fx);
    /* How a session ends by the server's doing depends on the transport: only Streamable HTTP
     * has session ids, so only there can the client notice an expiry (404) and re-initialize.
     * Stdio has no session id (one process is one session): its counterpart is a crash. */
    if (tr->kind == TR_STDIO)
        step_server_crash(&fx);
    else if (tr->session_ids)
        step_session_expiry(&fx);
    else
        step_legacy_session_ended(&fx);
    /* Only when the server ended it did the transport go away by itself. */
    assert_int_equal(fx.lost, !tr->session_ids);
    step_close(&fx);
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    if (argc >= 2 && strcmp(argv[1], "--serve-stdio") == 0) {
        log_set_level(LOG_ERROR);
        return serve_stdio();
    }
    log_init_from_env();
    if (!getenv("MCP_LOG_LEVEL"))
        log_set_level(LOG_OFF);
#define E2E_TEST(i)                                        \
    {                                                      \
        .name = transports[i].name, .test_func = test_e2e, \
        .initial_state = (void *)&transports[i],           \
    }
    const struct CMUnitTest tests[] = {E2E_TEST(0), E2E_TEST(1), E2E_TEST(2), E2E_TEST(3)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return rc;
}
