/* fault_inject in process: the interceptor (latency, error, tool_error, hang, message-level
 * faults left for the transport), counters and stats across rule replacement, and the message
 * transformations the transports apply (malformed, oversized, wrong_version). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "fault_inject.h"
#include "mcp_loopback.h"

#include <string.h>

typedef struct {
    uv_loop_t loop;
    mcp_server_t *server;
    fault_inject_t *fi;
    mcp_client_t *client;
    int init_done, close_done;
    int done, status, error_code;
    cJSON *result;
} fx_t;

static void echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    (void)mcp_call_reply_text(call, "ok");
}

static void on_init(mcp_client_t *c, int status, void *ud)
{
    (void)c;
    assert_int_equal(status, 0);
    ((fx_t *)ud)->init_done = 1;
}

static fault_set_t *rules(const char *json)
{
    fault_set_t *set = NULL;
    char err[256];
    if (!json)
        return NULL;
    int rc = fault_set_parse(json, strlen(json), 1, &set, err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    return set;
}

static void open_fx(fx_t *f, const char *faults)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    mcp_server_config_t cfg = {.name = "fi-test", .version = "1"};
    assert_int_equal(mcp_server_create(&f->loop, &cfg, &f->server), 0);
    mcp_tool_def_t a = {.name = "a", .description = "a"}, b = {.name = "b", .description = "b"};
    assert_int_equal(mcp_server_add_tool(f->server, &a, echo, NULL), 0);
    assert_int_equal(mcp_server_add_tool(f->server, &b, echo, NULL), 0);
    assert_int_equal(
        fault_inject_new(&f->loop, f->server, FAULT_INJECT_STDIO, rules(faults), &f->fi), 0);
    mcp_client_options_t co = {.name = "t"};
    assert_int_equal(mcp_client_new(&f->loop, &co, &f->client), 0);
    assert_int_equal(mcp_loopback_connect(&f->loop, f->server, f->client, NULL), 0);
    assert_int_equal(mcp_client_initialize(f->client, 2000, on_init, f), 0);
    while (!f->init_done)
        uv_run(&f->loop, UV_RUN_ONCE);
}

static void on_closed(mcp_client_t *c, void *ud)
{
    (void)c;
    ((fx_t *)ud)->close_done = 1;
}

static void close_fx(fx_t *f)
{
    assert_int_equal(mcp_client_close(f->client, on_closed, f), 0);
    while (!f->close_done)
        uv_run(&f->loop, UV_RUN_ONCE);
    fault_inject_close(f->fi);
    mcp_server_free(f->server);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    cJSON_Delete(f->result);
}

static void on_result(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    fx_t *f = ud;
    f->done = 1;
    f->status = status;
    cJSON_Delete(f->result);
    f->result = status == 0 ? cJSON_Duplicate(resp->result, 1) : NULL;
    f->error_code = status == MCP_EUPSTREAM ? resp->error_code : 0;
}

static int call(fx_t *f, const char *tool, uint64_t deadline_ms)
{
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "name", tool);
    f->done = 0;
    assert_int_equal(
        mcp_client_request(f->client, "tools/call", params, deadline_ms, on_result, f, NULL), 0);
    while (!f->done)
        uv_run(&f->loop, UV_RUN_ONCE);
    return f->status;
}

static int is_tool_error(const cJSON *result)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError"));
}

static void test_nothing_without_rules(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, NULL);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(call(&f, "a", 1000), 0);
        assert_false(is_tool_error(f.result));
    }
    assert_int_equal(fault_inject_requests(f.fi), 11); /* + initialize */
    assert_int_equal(fault_inject_fired(f.fi), 0);
    close_fx(&f);
}

static void test_latency_error_tool_error(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, "[{\"tool\":\"a\",\"type\":\"latency\",\"ms\":80},"
                "{\"name\":\"e\",\"tool\":\"b\",\"type\":\"error\",\"code\":-32001,\"every\":2},"
                "{\"tool\":\"b\",\"type\":\"tool_error\",\"message\":\"bad\"}]");
    uint64_t t0 = clock_mono_ms();
    assert_int_equal(call(&f, "a", 1000), 0);
    assert_true(clock_mono_ms() - t0 >= 80);
    assert_int_equal(call(&f, "b", 1000), 0); /* #1: the error rule waits for every 2nd */
    assert_true(is_tool_error(f.result));
    assert_int_equal(call(&f, "b", 1000), MCP_EUPSTREAM); /* #2: first firing rule wins */
    assert_int_equal(f.error_code, -32001);
    close_fx(&f);
}

static void test_hang_and_latency_then_outcome(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, "[{\"tool\":\"a\",\"type\":\"hang\"},{\"tool\":\"b\",\"type\":\"latency\","
                "\"ms\":50},{\"tool\":\"b\",\"type\":\"error\",\"code\":-32002}]");
    assert_int_equal(call(&f, "a", 100), MCP_ETIMEDOUT);
    uint64_t t0 = clock_mono_ms();
    assert_int_equal(call(&f, "b", 1000), MCP_EUPSTREAM); /* delayed, then the error */
    assert_true(clock_mono_ms() - t0 >= 50);
    assert_int_equal(f.error_code, -32002);
    /* A call still held by a latency timer when everything closes. */
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "name", "b");
    f.done = 0;
    assert_int_equal(mcp_client_request(f.client, "tools/call", params, 0, on_result, &f, NULL), 0);
    for (int i = 0; i < 3; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    close_fx(&f);
}

static void test_message_faults_pass_through_without_transport(void **state)
{
    (void)state;
    fx_t f;
    /* Message-level faults wait for a transport filter; the loopback has none, so the answer
     * arrives intact, and faults for other transports do nothing. */
    open_fx(&f, "[{\"tool\":\"a\",\"type\":\"malformed\"},{\"tool\":\"b\",\"type\":"
                "\"http_status\"}]");
    assert_int_equal(call(&f, "a", 1000), 0);
    assert_false(is_tool_error(f.result));
    assert_int_equal(call(&f, "b", 1000), 0);
    assert_int_equal(fault_inject_fired(f.fi), 2);
    close_fx(&f);
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
    return cJSON_IsNumber(x) ? x->valuedouble : -1;
}

static void test_stats_across_replacement(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, "[{\"name\":\"r1\",\"tool\":\"a\",\"type\":\"tool_error\"}]");
    assert_int_equal(call(&f, "a", 1000), 0);
    assert_int_equal(call(&f, "a", 1000), 0);
    assert_int_equal(call(&f, "b", 1000), 0);
    fault_inject_set_rules(f.fi, rules("[{\"name\":\"r2\",\"tool\":\"b\",\"type\":\"error\"}]"));
    assert_int_equal(call(&f, "b", 1000), MCP_EUPSTREAM);
    assert_int_equal(f.error_code, -32603);
    assert_int_equal(call(&f, "a", 1000), 0);
    assert_false(is_tool_error(f.result));
    cJSON *s = fault_inject_stats_json(f.fi);
    assert_true(num(s, "requests", "total") == 6);
    const cJSON *byt = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(s, "requests"), "by_tool");
    assert_true(cJSON_GetObjectItemCaseSensitive(byt, "a")->valuedouble == 3);
    assert_true(cJSON_GetObjectItemCaseSensitive(byt, "b")->valuedouble == 2);
    const cJSON *faults = cJSON_GetObjectItemCaseSensitive(s, "faults");
    assert_true(num(faults, "by_rule", "r1") == 2);
    assert_true(num(faults, "by_rule", "r2") == 1);
    assert_true(num(faults, "by_type", "tool_error") == 2);
    assert_true(num(faults, "by_type", "error") == 1);
    assert_true(cJSON_GetObjectItemCaseSensitive(faults, "fired_total")->valuedouble == 3);
    cJSON_Delete(s);
    cJSON *r = fault_inject_rules_json(f.fi);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "rules")), 1);
    cJSON_Delete(r);
    fault_inject_set_rules(f.fi, NULL);
    r = fault_inject_rules_json(f.fi);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "rules")), 0);
    cJSON_Delete(r);
    close_fx(&f);
}

/* ---- transformations ---- */

static const char answer[] = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"protocolVersion\":"
                             "\"2025-11-25\",\"capabilities\":{}}}";

static void test_transformations(void **state)
{
    (void)state;
    buf_t out;
    buf_init(&out, 1u << 20);
    assert_int_equal(fault_inject_malformed(answer, strlen(answer), &out), 0);
    cJSON *j = cJSON_Parse(out.data);
    assert_null(j);
    assert_non_null(strstr(out.data, "\"id\":7"));
    buf_reset(&out);

    assert_int_equal(fault_inject_oversized(answer, strlen(answer), 5000, &out), 0);
    assert_int_equal(out.len, 5000);
    j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "id")->valueint, 7);
    cJSON_Delete(j);
    buf_reset(&out);
    /* never shorter than the message */
    assert_int_equal(fault_inject_oversized(answer, strlen(answer), 10, &out), 0);
    assert_true(out.len > strlen(answer));
    buf_reset(&out);

    assert_int_equal(fault_inject_wrong_version(answer, strlen(answer), "1999-01-01", &out), 0);
    j = cJSON_Parse(out.data);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(j, "result"), "protocolVersion")
                            ->valuestring,
                        "1999-01-01");
    cJSON_Delete(j);
    buf_reset(&out);

    assert_int_equal(fault_inject_malformed("[1]", 3, &out), MCP_EPARSE);
    buf_t small;
    buf_init(&small, 100);
    assert_int_equal(fault_inject_oversized(answer, strlen(answer), 1000, &small), MCP_ENOBUFS);
    buf_free(&small);
    buf_free(&out);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_without_rules),
        cmocka_unit_test(test_latency_error_tool_error),
        cmocka_unit_test(test_hang_and_latency_then_outcome),
        cmocka_unit_test(test_message_faults_pass_through_without_transport),
        cmocka_unit_test(test_stats_across_replacement),
        cmocka_unit_test(test_transformations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
