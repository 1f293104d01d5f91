/* mcp_loopback: a client and a server in one process, as over a real transport. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "mcp_loopback.h"

#include <string.h>

typedef struct {
    uv_loop_t loop;
    mcp_server_t *server;
    mcp_client_t *client;
    mcp_loopback_t *lb;
    int init_status;
    int initialized;
    int calls_done;
    char last_text[256];
    int last_status;
    int progress_seen;
    int elicitations;
    int closed_reason;
    int closed_seen;
    int close_done;
    uv_timer_t timer;
} fixture_t;

static void echo_tool(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(args, "text");
    mcp_call_reply_text(call, cJSON_IsString(text) ? text->valuestring : "");
}

static void slow_timer_cb(uv_timer_t *t)
{
    mcp_call_t *call = t->data;
    mcp_call_progress(call, 1, 2, "halfway");
    mcp_call_reply_text(call, "slow done");
    mcp_call_unref(call);
    uv_close((uv_handle_t *)t, (uv_close_cb)mcp_free);
}

static void slow_tool(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    uv_timer_t *t = mcp_malloc(sizeof *t);
    uv_timer_init(mcp_call_loop(call), t);
    mcp_call_ref(call);
    t->data = call;
    uv_timer_start(t, slow_timer_cb, 5, 0);
}

static void elicit_answer(const mcp_response_t *resp, void *ud)
{
    mcp_call_t *call = ud;
    (void)resp;
    mcp_call_reply_text(call, resp->status == 0 ? "accepted" : "refused");
    mcp_call_unref(call);
}

static void ask_tool(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *params = cJSON_Parse("{\"message\":\"name?\",\"requestedSchema\":{\"type\":\"object\","
                                "\"properties\":{\"name\":{\"type\":\"string\"}}}}");
    mcp_call_ref(call);
    if (mcp_call_request(call, "elicitation/create", params, elicit_answer, call) != 0) {
        mcp_call_tool_error(call, "no elicitation");
        mcp_call_unref(call);
    }
}

static void on_elicitation(mcp_client_t *client, mcp_client_incoming_t *in, const char *method,
                           const cJSON *params, void *ud)
{
    (void)client;
    (void)method;
    (void)params;
    fixture_t *f = ud;
    f->elicitations++;
    mcp_client_reply(in, cJSON_Parse("{\"action\":\"accept\",\"content\":{\"name\":\"x\"}}"));
}

static void on_closed(mcp_client_t *client, int reason, void *ud)
{
    (void)client;
    fixture_t *f = ud;
    f->closed_seen = 1;
    f->closed_reason = reason;
}

static int setup(void **state)
{
    fixture_t *f = mcp_calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    mcp_server_config_t cfg = {.name = "loop-test", .version = "1.0"};
    assert_int_equal(mcp_server_create(&f->loop, &cfg, &f->server), 0);
    mcp_tool_def_t echo = {.name = "echo",
                           .description = "Echo text",
                           .input_schema = "{\"type\":\"object\",\"properties\":{\"text\":"
                                           "{\"type\":\"string\"}}}"};
    mcp_tool_def_t slow = {.name = "slow", .description = "Answers later with progress"};
    mcp_tool_def_t ask = {.name = "ask", .description = "Asks the client"};
    assert_int_equal(mcp_server_add_tool(f->server, &echo, echo_tool, NULL), 0);
    assert_int_equal(mcp_server_add_tool(f->server, &slow, slow_tool, NULL), 0);
    assert_int_equal(mcp_server_add_tool(f->server, &ask, ask_tool, NULL), 0);
    mcp_client_options_t opts = {
        .name = "loop", .on_elicitation = on_elicitation, .on_closed = on_closed, .userdata = f};
    assert_int_equal(mcp_client_new(&f->loop, &opts, &f->client), 0);
    assert_int_equal(mcp_loopback_connect(&f->loop, f->server, f->client, &f->lb), 0);
    *state = f;
    return 0;
}

static void close_done(mcp_client_t *client, void *ud)
{
    (void)client;
    ((fixture_t *)ud)->close_done = 1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->client)
        assert_int_equal(mcp_client_close(f->client, close_done, f), 0);
    while (f->client && !f->close_done)
        uv_run(&f->loop, UV_RUN_ONCE);
    mcp_server_free(f->server);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    mcp_free(f);
    return 0;
}

static void init_cb(mcp_client_t *client, int status, void *ud)
{
    (void)client;
    fixture_t *f = ud;
    f->init_status = status;
    f->initialized = 1;
}

static void initialize(fixture_t *f)
{
    assert_int_equal(mcp_client_initialize(f->client, 1000, init_cb, f), 0);
    while (!f->initialized)
        assert_true(uv_run(&f->loop, UV_RUN_ONCE) || f->initialized);
    assert_int_equal(f->init_status, 0);
    assert_string_equal(mcp_client_protocol_version(f->client), "2025-11-25");
}

static void call_cb(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    fixture_t *f = ud;
    f->calls_done++;
    f->last_status = status;
    f->last_text[0] = '\0';
    if (status == 0) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(resp->result, "content");
        const cJSON *first = cJSON_GetArrayItem(content, 0);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(first, "text");
        if (cJSON_IsString(text))
            strncpy(f->last_text, text->valuestring, sizeof f->last_text - 1);
        else {
            char *s = cJSON_PrintUnformatted(resp->result);
            strncpy(f->last_text, s, sizeof f->last_text - 1);
            cJSON_free(s);
        }
    }
}

static void progress_cb(mcp_client_req_t *req, double progress, double total, const char *message,
                        const cJSON *params, void *ud)
{
    (void)req;
    (void)params;
    fixture_t *f = ud;
    assert_true(progress == 1 && total == 2);
    assert_string_equal(message, "halfway");
    f->progress_seen++;
}

static void run_until_calls(fixture_t *f, int n)
{
    while (f->calls_done < n)
        uv_run(&f->loop, UV_RUN_ONCE);
}

static void test_list_and_call(void **state)
{
    fixture_t *f = *state;
    initialize(f);
    assert_true(mcp_client_server_has(f->client, "tools"));
    assert_int_equal(mcp_client_request(f->client, "tools/list", NULL, 1000, call_cb, f, NULL), 0);
    run_until_calls(f, 1);
    assert_int_equal(f->last_status, 0);
    assert_non_null(strstr(f->last_text, "\"name\":\"echo\""));
    assert_non_null(strstr(f->last_text, "\"name\":\"slow\""));

    cJSON *params = cJSON_Parse("{\"name\":\"echo\",\"arguments\":{\"text\":\"hi there\"}}");
    assert_int_equal(mcp_client_request(f->client, "tools/call", params, 1000, call_cb, f, NULL),
                     0);
    run_until_calls(f, 2);
    assert_string_equal(f->last_text, "hi there");

    mcp_client_call_t slow = {.method = "tools/call",
                              .params = cJSON_Parse("{\"name\":\"slow\"}"),
                              .deadline_ms = 1000,
                              .cb = call_cb,
                              .on_progress = progress_cb,
                              .ud = f};
    assert_int_equal(mcp_client_request_ex(f->client, &slow, NULL), 0);
    run_until_calls(f, 3);
    assert_string_equal(f->last_text, "slow done");
    assert_int_equal(f->progress_seen, 1);

    params = cJSON_Parse("{\"name\":\"nope\"}");
    assert_int_equal(mcp_client_request(f->client, "tools/call", params, 1000, call_cb, f, NULL),
                     0);
    run_until_calls(f, 4);
    assert_int_equal(f->last_status, MCP_EUPSTREAM);
    assert_true(mcp_loopback_delivered_to_server(f->lb) >= 6);
    assert_true(mcp_loopback_delivered_to_client(f->lb) >= 6);
}

static void test_server_to_client_request(void **state)
{
    fixture_t *f = *state;
    initialize(f);
    cJSON *params = cJSON_Parse("{\"name\":\"ask\"}");
    assert_int_equal(mcp_client_request(f->client, "tools/call", params, 1000, call_cb, f, NULL),
                     0);
    run_until_calls(f, 1);
    assert_int_equal(f->elicitations, 1);
    assert_string_equal(f->last_text, "accepted");
}

static void test_server_goes_away(void **state)
{
    fixture_t *f = *state;
    initialize(f);
    mcp_server_free(f->server);
    f->server = NULL;
    while (!f->closed_seen)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->closed_reason, MCP_ECLOSED); /* the loopback has freed itself */
    /* the client still closes normally */
    assert_int_equal(mcp_client_close(f->client, close_done, f), 0);
    while (!f->close_done)
        uv_run(&f->loop, UV_RUN_ONCE);
    f->client = NULL;
}

static void test_close_with_call_in_flight(void **state)
{
    fixture_t *f = *state;
    initialize(f);
    cJSON *params = cJSON_Parse("{\"name\":\"slow\"}");
    assert_int_equal(mcp_client_request(f->client, "tools/call", params, 1000, call_cb, f, NULL),
                     0);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* delivered to the server; its timer is pending */
    assert_int_equal(mcp_client_close(f->client, close_done, f), 0);
    while (!f->close_done)
        uv_run(&f->loop, UV_RUN_ONCE);
    f->client = NULL;
    assert_int_equal(f->calls_done, 1);
    assert_int_equal(f->last_status, MCP_ECANCELED);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_and_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_to_client_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_goes_away, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_call_in_flight, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
