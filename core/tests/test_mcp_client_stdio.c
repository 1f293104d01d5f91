/* Integration tests for mcp_client over stdio: this binary re-executes itself with --server as a
 * small MCP server built from the framework (mcp_server + mcp_stdio_server) and talks to it:
 * handshake, tools/list, tools/call, progress, deadline + cancellation, a sampling round trip,
 * server crash (pending requests fail), graceful close, spawn failure. When H1's
 * mcp-test-stdio-server is built (MCP_BIN_DIR), the handshake test also runs against it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "child.h"
#include "errors.h"
#include "log.h"
#include "mcp_client.h"
#include "mcp_client_stdio.h"
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

/* ---- the server side (--server) ---- */

typedef struct {
    uv_timer_t timer;
    mcp_call_t *call;
    int step;
} slow_t;

static void tool_echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(args, "text"));
    mcp_call_reply_text(call, text ? text : "");
}

static void tool_crash(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)call;
    (void)args;
    (void)ud;
    _exit(3);
}

static void tool_hang(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)call;
    (void)args;
    (void)ud; /* never answered: ends with the client's cancellation */
}

static void tool_stderr(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    fprintf(stderr, "tool says hello\n");
    fflush(stderr);
    mcp_call_reply_text(call, "ok");
}

static void slow_closed(uv_handle_t *h)
{
    mcp_free(h->data);
}

static void slow_tick(uv_timer_t *t)
{
    slow_t *s = t->data;
    s->step++;
    if (s->step <= 3) {
        mcp_call_progress(s->call, s->step, 3, "step");
        return;
    }
    mcp_call_reply_text(s->call, "done");
    mcp_call_unref(s->call);
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, slow_closed);
}

static void tool_slow(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    slow_t *s = mcp_calloc(1, sizeof *s);
    if (!s) {
        mcp_call_tool_error(call, "out of memory");
        return;
    }
    s->call = call;
    mcp_call_ref(call);
    uv_timer_init(mcp_call_loop(call), &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, slow_tick, 5, 5);
}

static void on_sampled(const mcp_response_t *resp, void *ud)
{
    (void)ud;
    if (resp->status != 0 || !resp->result) {
        mcp_call_tool_error(resp->call, "sampling failed");
        return;
    }
    const cJSON *content = cJSON_GetObjectItem(resp->result, "content");
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(content, "text"));
    mcp_call_reply_text(resp->call, text ? text : "(none)");
}

static void tool_ask(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *p = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\","
                           "\"text\":\"hi\"}}],\"maxTokens\":10}");
    int rc = mcp_call_request(call, MCP_METHOD_SAMPLING_CREATE_MESSAGE, p, on_sampled, NULL);
    if (rc)
        mcp_call_tool_error(call, mcp_strerror(rc));
}

static void server_closed(mcp_stdio_server_t *io, int status, void *ud)
{
    (void)io;
    (void)status;
    *(int *)ud = 1;
}

static int server_main(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_server_config_t cfg = {.name = "h4-test-server", .version = "1.0"};
    mcp_server_t *srv;
    if (mcp_server_create(&loop, &cfg, &srv))
        return 2;
    static const struct {
        const char *name;
        mcp_tool_fn fn;
    } tools[] = {{"echo", tool_echo}, {"crash", tool_crash}, {"hang", tool_hang},
                 {"slow", tool_slow}, {"ask", tool_ask},     {"stderr", tool_stderr}};
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        mcp_tool_def_t def = {.name = tools[i].name, .description = "test tool"};
        if (mcp_server_add_tool(srv, &def, tools[i].fn, NULL))
            return 2;
    }
    int closed = 0;
    mcp_stdio_server_t *io;
    mcp_stdio_config_t io_cfg = {.eof_grace_ms = 100};
    if (mcp_stdio_server_start(&loop, srv, &io_cfg, server_closed, &closed, &io))
        return 2;
    while (!closed && uv_run(&loop, UV_RUN_ONCE))
        ;
    mcp_server_free(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}

/* ---- the client side ---- */

typedef struct {
    uv_loop_t loop;
    mcp_client_t *c;
    int init_done, init_status;
    int closed, closed_reason;
    int close_done;
    int sampled;
} ctx_t;

typedef struct {
    int done;
    int status;
    char text[512];
    int progress;
    double last_progress;
} call_t;

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
    ctx_t *t = ud;
    (void)c;
    t->init_done = 1;
    t->init_status = status;
}

static void on_closed(mcp_client_t *c, int reason, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    t->closed = 1;
    t->closed_reason = reason;
}

static void on_close_done(mcp_client_t *c, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    t->close_done = 1;
}

static void free_handle(uv_handle_t *h)
{
    mcp_free(h);
}

static void sampling_reply_later(uv_timer_t *timer)
{
    mcp_client_incoming_t *in = timer->data;
    cJSON *res = cJSON_Parse("{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":"
                             "\"sampled answer\"},\"model\":\"fake\"}");
    assert_int_equal(mcp_client_reply(in, res), 0);
    uv_close((uv_handle_t *)timer, free_handle);
}

static void on_sampling(mcp_client_t *c, mcp_client_incoming_t *in, const char *method,
                        const cJSON *params, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    assert_string_equal(method, "sampling/createMessage");
    assert_non_null(cJSON_GetObjectItem(params, "messages"));
    t->sampled++;
    /* Answer asynchronously, from a later loop turn. */
    uv_timer_t *timer = mcp_malloc(sizeof *timer);
    uv_timer_init(&t->loop, timer);
    timer->data = in;
    uv_timer_start(timer, sampling_reply_later, 1, 0);
}

static void ctx_start(ctx_t *t, const char *command, const char *const *args)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    mcp_client_options_t o = {
        .name = "srv", .on_sampling = on_sampling, .on_closed = on_closed, .userdata = t};
    assert_int_equal(mcp_client_new(&t->loop, &o, &t->c), 0);
    mcp_client_stdio_options_t so = {.command = command, .args = args, .close_grace_ms = 2000};
    assert_int_equal(mcp_client_stdio_start(t->c, &so), 0);
    assert_non_null(mcp_client_stdio_child(t->c));
    assert_int_equal(mcp_client_stdio_start(t->c, &so), MCP_ESTATE);
}

static void start_server(ctx_t *t)
{
    static const char *const args[] = {"--server", NULL};
    ctx_start(t, self_path(), args);
}

static void run_until(ctx_t *t, const int *flag)
{
    uint64_t start = uv_now(&t->loop);
    while (!*flag && uv_now(&t->loop) - start < 10000)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_true(*flag);
}

static void ctx_finish(ctx_t *t)
{
    assert_int_equal(mcp_client_close(t->c, on_close_done, t), 0);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_true(t->close_done);
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

static void on_call(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    call_t *call = ud;
    (void)req;
    call->done = 1;
    call->status = status;
    if (resp) {
        char *p = cJSON_PrintUnformatted(status == 0 ? resp->result : resp->json);
        snprintf(call->text, sizeof call->text, "%s", p);
        cJSON_free(p);
    }
}

static void on_progress(mcp_client_req_t *req, double progress, double total, const char *msg,
                        const cJSON *params, void *ud)
{
    call_t *call = ud;
    (void)req;
    (void)params;
    assert_true(progress > call->last_progress);
    assert_true(total == 3);
    assert_string_equal(msg, "step");
    call->last_progress = progress;
    call->progress++;
}

static void call_tool(ctx_t *t, call_t *call, const char *name, const char *args_json,
                      uint64_t deadline_ms, mcp_client_req_t **out)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddItemToObject(p, "arguments", cJSON_Parse(args_json ? args_json : "{}"));
    mcp_client_call_t c = {.method = MCP_METHOD_TOOLS_CALL,
                           .params = p,
                           .deadline_ms = deadline_ms,
                           .cb = on_call,
                           .ud = call,
                           .on_progress = strcmp(name, "slow") == 0 ? on_progress : NULL};
    assert_int_equal(mcp_client_request_ex(t->c, &c, out), 0);
}

static void initialize(ctx_t *t)
{
    assert_int_equal(mcp_client_initialize(t->c, 5000, on_init, t), 0);
    run_until(t, &t->init_done);
    assert_int_equal(t->init_status, 0);
}

static buf_t captured;

static void capture_sink(log_level_t level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    if (strstr(line, "comp=child") && strstr(line, "msg=\"stderr\""))
        buf_append_str(&captured, line);
}

static void test_handshake_list_call(void **state)
{
    (void)state;
    ctx_t t;
    start_server(&t);
    initialize(&t);
    assert_string_equal(mcp_client_protocol_version(t.c), MCP_PROTOCOL_LATEST);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(mcp_client_server_info(t.c), "name")),
        "h4-test-server");
    assert_true(mcp_client_server_has(t.c, "tools"));

    call_t list = {0};
    assert_int_equal(
        mcp_client_request(t.c, MCP_METHOD_TOOLS_LIST, NULL, 5000, on_call, &list, NULL), 0);
    run_until(&t, &list.done);
    assert_int_equal(list.status, 0);
    assert_non_null(strstr(list.text, "\"name\":\"echo\""));
    assert_non_null(strstr(list.text, "\"name\":\"slow\""));

    call_t echo = {0};
    call_tool(&t, &echo, "echo", "{\"text\":\"hello \\\"world\\\"\\n\"}", 5000, NULL);
    run_until(&t, &echo.done);
    assert_int_equal(echo.status, 0);
    assert_non_null(strstr(echo.text, "\"text\":\"hello \\\"world\\\"\\n\""));

    /* A JSON-RPC error passes through as MCP_EUPSTREAM with the server's code. */
    call_t unknown = {0};
    call_tool(&t, &unknown, "no_such_tool", NULL, 5000, NULL);
    run_until(&t, &unknown.done);
    assert_int_equal(unknown.status, MCP_EUPSTREAM);
    assert_non_null(strstr(unknown.text, "-32602"));

    /* The server's stderr is logged with its name. */
    buf_init(&captured, 1 << 16);
    log_set_level(LOG_INFO);
    log_set_sink(capture_sink, NULL);
    call_t err = {0};
    call_tool(&t, &err, "stderr", NULL, 5000, NULL);
    run_until(&t, &err.done);
    uint64_t start = uv_now(&t.loop);
    while (!captured.len && uv_now(&t.loop) - start < 5000)
        uv_run(&t.loop, UV_RUN_ONCE);
    log_set_sink(NULL, NULL);
    log_set_level(LOG_OFF);
    assert_non_null(captured.data);
    assert_non_null(strstr(captured.data, "name=srv"));
    assert_non_null(strstr(captured.data, "line=\"tool says hello\""));
    buf_free(&captured);

    pid_t pid = child_pid(mcp_client_stdio_child(t.c));
    ctx_finish(&t);
    assert_int_equal(kill(pid, 0), -1); /* graceful close reaped it */
    assert_int_equal(errno, ESRCH);
    assert_false(t.closed); /* on_closed is for closes the owner did not ask for */
}

static void test_progress_deadline_cancel(void **state)
{
    (void)state;
    ctx_t t;
    start_server(&t);
    initialize(&t);
    call_t slow = {0};
    call_tool(&t, &slow, "slow", NULL, 5000, NULL);
    run_until(&t, &slow.done);
    assert_int_equal(slow.status, 0);
    assert_int_equal(slow.progress, 3);
    assert_non_null(strstr(slow.text, "done"));

    call_t hang = {0}, hang2 = {0};
    call_tool(&t, &hang, "hang", NULL, 50, NULL);
    run_until(&t, &hang.done);
    assert_int_equal(hang.status, MCP_ETIMEDOUT);
    mcp_client_req_t *r;
    call_tool(&t, &hang2, "hang", NULL, 0, &r);
    assert_int_equal(mcp_client_cancel(r, "test"), 0);
    run_until(&t, &hang2.done);
    assert_int_equal(hang2.status, MCP_ECANCELED);
    /* The server is still fine after the notifications/cancelled. */
    call_t ping = {0};
    assert_int_equal(mcp_client_request(t.c, MCP_METHOD_PING, NULL, 5000, on_call, &ping, NULL), 0);
    run_until(&t, &ping.done);
    assert_int_equal(ping.status, 0);
    ctx_finish(&t);
}

static void test_sampling_roundtrip(void **state)
{
    (void)state;
    ctx_t t;
    start_server(&t);
    initialize(&t);
    call_t ask = {0};
    call_tool(&t, &ask, "ask", NULL, 5000, NULL);
    run_until(&t, &ask.done);
    assert_int_equal(ask.status, 0);
    assert_int_equal(t.sampled, 1);
    assert_non_null(strstr(ask.text, "sampled answer"));
    ctx_finish(&t);
}

static void test_crash_fails_pending(void **state)
{
    (void)state;
    ctx_t t;
    start_server(&t);
    initialize(&t);
    call_t hang = {0}, crash = {0};
    call_tool(&t, &hang, "hang", NULL, 0, NULL);
    call_tool(&t, &crash, "crash", NULL, 0, NULL);
    run_until(&t, &t.closed);
    run_until(&t, &hang.done);
    assert_int_equal(hang.status, MCP_ECLOSED);
    assert_int_equal(crash.status, MCP_ECLOSED);
    assert_int_equal(t.closed_reason, MCP_ECHILD);
    assert_null(mcp_client_stdio_child(t.c));
    call_t late = {0};
    assert_int_equal(mcp_client_request(t.c, MCP_METHOD_PING, NULL, 0, on_call, &late, NULL),
                     MCP_ECLOSED);
    ctx_finish(&t);
}

static void test_close_with_pending_request(void **state)
{
    (void)state;
    ctx_t t;
    start_server(&t);
    initialize(&t);
    call_t hang = {0};
    call_tool(&t, &hang, "hang", NULL, 0, NULL);
    /* Let the request reach the server, then close: it is cancelled, the server sees EOF. */
    call_t ping = {0};
    assert_int_equal(mcp_client_request(t.c, MCP_METHOD_PING, NULL, 5000, on_call, &ping, NULL), 0);
    run_until(&t, &ping.done);
    ctx_finish(&t);
    assert_int_equal(hang.status, MCP_ECANCELED);
}

static void test_spawn_failure(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_client_t *c;
    assert_int_equal(mcp_client_new(&loop, NULL, &c), 0);
    mcp_client_stdio_options_t so = {.command = "/nonexistent/mcp-server"};
    assert_int_equal(mcp_client_stdio_start(c, &so), UV_ENOENT);
    assert_null(mcp_client_transport(c));
    so.command = NULL;
    assert_int_equal(mcp_client_stdio_start(c, &so), MCP_EINVAL);
    assert_int_equal(mcp_client_initialize(c, 0, on_init, NULL), MCP_ESTATE);
    assert_int_equal(mcp_client_close(c, NULL, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_h1_test_server(void **state)
{
    (void)state;
    const char *dir = getenv("MCP_BIN_DIR");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/mcp-test-stdio-server", dir ? dir : ".");
    if (access(path, X_OK) != 0)
        skip();
    ctx_t t;
    ctx_start(&t, path, NULL);
    initialize(&t);
    call_t list = {0};
    assert_int_equal(
        mcp_client_request(t.c, MCP_METHOD_TOOLS_LIST, NULL, 5000, on_call, &list, NULL), 0);
    run_until(&t, &list.done);
    assert_int_equal(list.status, 0);
    assert_non_null(strstr(list.text, "\"name\":\"echo\""));
    call_t echo = {0};
    call_tool(&t, &echo, "echo", "{\"text\":\"via h1\"}", 5000, NULL);
    run_until(&t, &echo.done);
    assert_int_equal(echo.status, 0);
    assert_non_null(strstr(echo.text, "via h1"));
    ctx_finish(&t);
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    if (argc >= 2 && strcmp(argv[1], "--server") == 0) {
        log_set_level(LOG_WARN);
        return server_main();
    }
    log_set_level(LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_list_call),
        cmocka_unit_test(test_progress_deadline_cancel),
        cmocka_unit_test(test_sampling_roundtrip),
        cmocka_unit_test(test_crash_fails_pending),
        cmocka_unit_test(test_close_with_pending_request),
        cmocka_unit_test(test_spawn_failure),
        cmocka_unit_test(test_h1_test_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
