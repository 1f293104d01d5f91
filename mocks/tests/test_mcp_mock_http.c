/* Integration tests of build/bin/mcp-mock over HTTP: readiness line and ready file, /health,
 * the control API (GET/PUT/DELETE /_mock/faults, GET /_mock/stats), each fault type over
 * Streamable HTTP (and nothing firing without rules), SIGHUP reload, legacy SSE readiness and
 * clean SIGTERM exits. Requests go through http_client.h (libcurl on libuv). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "mock_proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 5000

typedef struct {
    uv_loop_t loop;
    mock_proc_t p;
    http_client_t *http;
    int http_closed;
    char base[256]; /* http://127.0.0.1:PORT */
    char mcp[300];  /* base + /mcp */
    char session[128];
} fx_t;

static int setup(void **state)
{
    if (!mock_proc_bin()) {
        fprintf(stderr, "mcp-mock not found (MCP_BIN_DIR)\n");
        return -1;
    }
    fx_t *f = mcp_calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(http_client_new(&f->loop, NULL, &f->http), 0);
    *state = f;
    return 0;
}

static void on_http_closed(http_client_t *c, void *ud)
{
    (void)c;
    ((fx_t *)ud)->http_closed = 1;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    assert_int_equal(http_client_close(f->http, on_http_closed, f), 0);
    while (!f->http_closed)
        uv_run(&f->loop, UV_RUN_ONCE);
    if (f->p.child && !f->p.exited) {
        (void)mock_proc_signal(&f->p, SIGTERM);
        (void)mock_proc_wait_exit(&f->p, WAIT_MS);
    }
    mock_proc_close(&f->p);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    mcp_free(f);
    return 0;
}

/* Start `mcp-mock everything --transport http` with extra args; fills base/mcp. */
static void start(fx_t *f, const char *const *extra)
{
    const char *args[32] = {"everything", "--transport", "http", "--listen", "127.0.0.1:0"};
    size_t n = 5;
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    assert_int_equal(mock_proc_start(&f->p, &f->loop, args), 0);
    assert_int_equal(mock_proc_wait_ready(&f->p, WAIT_MS), 0);
    const char *u = f->p.url;
    assert_true(strncmp(u, "http://127.0.0.1:", 17) == 0);
    const char *path = strstr(u + 7, "/");
    assert_non_null(path);
    snprintf(f->base, sizeof(f->base), "%.*s", (int)(path - u), u);
    snprintf(f->mcp, sizeof(f->mcp), "%s/mcp", f->base);
}

static void start_faults(fx_t *f, const char *faults)
{
    const char *extra[] = {"--faults", faults, NULL};
    start(f, extra);
}

static void open_session(fx_t *f)
{
    assert_int_equal(mcp_http_open(&f->loop, f->http, f->mcp, f->session, sizeof(f->session)), 0);
}

/* GET/PUT/DELETE on base + path; returns the parsed JSON body (caller frees; NULL if none). */
static cJSON *control(fx_t *f, const char *method, const char *path, const char *body, int *status)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", f->base, path);
    const char *headers[] = {"Content-Type: application/json", NULL};
    http_resp_t r;
    assert_int_equal(http_sync(&f->loop, f->http, method, url, headers, body, WAIT_MS, &r), 0);
    *status = r.status;
    assert_non_null(strstr(r.content_type, "application/json"));
    cJSON *j = r.len ? cJSON_ParseWithLength(r.body, r.len) : NULL;
    http_resp_free(&r);
    return j;
}

static char call_json[512];

static const char *tools_call(int id, const char *tool)
{
    snprintf(call_json, sizeof(call_json),
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"%s\",\"arguments\":{}}}",
             id, tool);
    return call_json;
}

/* tools/call on the session; returns the answering message (caller frees) and the response. */
static cJSON *call(fx_t *f, int id, const char *tool, http_resp_t *r, uint64_t timeout_ms)
{
    cJSON *msg = NULL;
    (void)mcp_http_post(&f->loop, f->http, f->mcp, f->session, tools_call(id, tool), timeout_ms, r,
                        &msg, NULL);
    return msg;
}

static int is_ok(const cJSON *m)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "result");
    return r && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "isError"));
}

static double num_at(const cJSON *root, const char *a, const char *b, const char *c)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    if (c)
        x = cJSON_GetObjectItemCaseSensitive(x, c);
    return cJSON_IsNumber(x) ? x->valuedouble : -1;
}

/* ---- readiness, health, exits ---- */

static void test_ready_health_sigterm(void **state)
{
    fx_t *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "/tmp/mcp-mock-test-ready-http-%d", (int)getpid());
    unlink(path);
    const char *extra[] = {"--ready-file", path, NULL};
    start(f, extra);
    /* The readiness line went to stdout and says where to connect. */
    assert_non_null(strstr(f->p.url, "/mcp"));
    FILE *rf = fopen(path, "r");
    assert_non_null(rf);
    char text[300] = "";
    assert_non_null(fgets(text, sizeof(text), rf));
    fclose(rf);
    unlink(path);
    text[strcspn(text, "\n")] = '\0';
    assert_string_equal(text, f->p.url);
    int status;
    cJSON *h = control(f, "GET", "/health", NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(h, "status")->valuestring, "ok");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(h, "kind")->valuestring, "everything");
    cJSON_Delete(h);
    open_session(f);
    http_resp_t r;
    cJSON *m = call(f, 2, "test_simple_text", &r, WAIT_MS);
    assert_int_equal(r.status, 200);
    assert_true(is_ok(m));
    cJSON_Delete(m);
    http_resp_free(&r);
    /* SIGTERM with an open session: a clean stop. */
    assert_int_equal(mock_proc_signal(&f->p, SIGTERM), 0);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.term_signal, 0);
    assert_int_equal(f->p.exit_status, 0);
    assert_null(strstr(f->p.err.data ? f->p.err.data : "", "left open"));
}

static void test_sse_transport(void **state)
{
    fx_t *f = *state;
    const char *args[] = {"everything", "--transport", "sse", NULL};
    assert_int_equal(mock_proc_start(&f->p, &f->loop, args), 0);
    assert_int_equal(mock_proc_wait_ready(&f->p, WAIT_MS), 0);
    size_t n = strlen(f->p.url);
    assert_true(n > 4 && strcmp(f->p.url + n - 4, "/sse") == 0);
    /* The same server also serves Streamable HTTP and the control API. */
    snprintf(f->base, sizeof(f->base), "%.*s", (int)(n - 4), f->p.url);
    snprintf(f->mcp, sizeof(f->mcp), "%s/mcp", f->base);
    open_session(f);
    int status;
    cJSON *s = control(f, "GET", "/_mock/stats", NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s, "transport")->valuestring, "sse");
    cJSON_Delete(s);
}

/* ---- control API ---- */

static void test_no_faults(void **state)
{
    fx_t *f = *state;
    start(f, NULL);
    open_session(f);
    for (int i = 0; i < 20; i++) {
        http_resp_t r;
        cJSON *m = call(f, 10 + i, "test_simple_text", &r, WAIT_MS);
        assert_int_equal(r.status, 200);
        assert_true(is_ok(m));
        cJSON_Delete(m);
        http_resp_free(&r);
    }
    int status;
    cJSON *s = control(f, "GET", "/_mock/stats", NULL, &status);
    assert_int_equal(status, 200);
    assert_true(num_at(s, "requests", "by_tool", "test_simple_text") == 20);
    assert_true(num_at(s, "requests", "by_method", "initialize") == 1);
    assert_true(num_at(s, "faults", "fired_total", NULL) == 0);
    cJSON_Delete(s);
}

static void test_control_api(void **state)
{
    fx_t *f = *state;
    start(f, NULL);
    open_session(f);
    int status;
    cJSON *j = control(f, "GET", "/_mock/faults", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "rules")), 0);
    cJSON_Delete(j);

    /* A bad rule is refused with the field named; nothing changes. */
    j = control(f, "PUT", "/_mock/faults", "[{\"type\":\"error\",\"every\":0}]", &status);
    assert_int_equal(status, 400);
    assert_non_null(
        strstr(cJSON_GetObjectItemCaseSensitive(j, "error")->valuestring, "rules[0].every"));
    cJSON_Delete(j);
    j = control(f, "PUT", "/_mock/faults", "{not json", &status);
    assert_int_equal(status, 400);
    cJSON_Delete(j);

    j = control(f, "PUT", "/_mock/faults",
                "{\"seed\":7,\"rules\":[{\"name\":\"boom\",\"tool\":\"test_simple_text\","
                "\"type\":\"error\",\"code\":-32099,\"message\":\"live fault\"}]}",
                &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "rules")), 1);
    cJSON_Delete(j);
    http_resp_t r;
    cJSON *m = call(f, 2, "test_simple_text", &r, WAIT_MS);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(m, "error");
    assert_non_null(e);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "code")->valueint, -32099);
    cJSON_Delete(m);
    http_resp_free(&r);
    m = call(f, 3, "test_image_content", &r, WAIT_MS); /* not matched */
    assert_true(is_ok(m));
    cJSON_Delete(m);
    http_resp_free(&r);

    j = control(f, "GET", "/_mock/faults", NULL, &status);
    const cJSON *rule = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "rules"), 0);
    assert_true(num_at(rule, "fired", NULL, NULL) == 1);
    assert_true(num_at(j, "seed", NULL, NULL) == 7);
    cJSON_Delete(j);
    j = control(f, "GET", "/_mock/stats", NULL, &status);
    assert_true(num_at(j, "faults", "by_rule", "boom") == 1);
    assert_true(num_at(j, "faults", "by_type", "error") == 1);
    assert_true(num_at(j, "requests", "by_method", "tools/call") == 2);
    assert_true(num_at(j, "requests", "by_tool", "test_image_content") == 1);
    assert_true(num_at(j, "http", "sessions", NULL) >= 1);
    cJSON_Delete(j);

    j = control(f, "DELETE", "/_mock/faults", NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "rules")), 0);
    cJSON_Delete(j);
    m = call(f, 4, "test_simple_text", &r, WAIT_MS);
    assert_true(is_ok(m));
    cJSON_Delete(m);
    http_resp_free(&r);
    /* Counters of cleared rules stay in the stats. */
    j = control(f, "GET", "/_mock/stats", NULL, &status);
    assert_true(num_at(j, "faults", "fired_total", NULL) == 1);
    assert_true(num_at(j, "faults", "by_rule", "boom") == 1);
    cJSON_Delete(j);
}

static void put_rules(fx_t *f, const char *rules)
{
    int status;
    cJSON *j = control(f, "PUT", "/_mock/faults", rules, &status);
    assert_int_equal(status, 200);
    cJSON_Delete(j);
}

/* ---- faults over HTTP ---- */

static void test_request_faults(void **state)
{
    fx_t *f = *state;
    start(f, NULL);
    open_session(f);
    http_resp_t r;
    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"latency\",\"ms\":150}]");
    uint64_t t0 = clock_mono_ms();
    cJSON *m = call(f, 2, "test_simple_text", &r, WAIT_MS);
    assert_true(is_ok(m));
    assert_true(clock_mono_ms() - t0 >= 150);
    cJSON_Delete(m);
    http_resp_free(&r);

    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"tool_error\",\"message\":\"nope\"}]");
    m = call(f, 3, "test_simple_text", &r, WAIT_MS);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(m, "result");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "isError")));
    cJSON_Delete(m);
    http_resp_free(&r);

    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"hang\"}]");
    m = call(f, 4, "test_simple_text", &r, 300);
    assert_null(m);
    assert_int_equal(r.result, MCP_ETIMEDOUT);
    http_resp_free(&r);
    m = call(f, 5, "test_image_content", &r, WAIT_MS); /* the mock still serves */
    assert_true(is_ok(m));
    cJSON_Delete(m);
    http_resp_free(&r);
}

static void test_message_faults(void **state)
{
    fx_t *f = *state;
    start(f, NULL);
    open_session(f);
    http_resp_t r;
    cJSON *m;

    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"malformed\"}]");
    m = call(f, 2, "test_simple_text", &r, WAIT_MS);
    assert_int_equal(r.status, 200);
    assert_null(m); /* the body is not JSON */
    assert_non_null(strstr(r.body, "\"id\":2"));
    http_resp_free(&r);

    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"oversized\",\"bytes\":300000}]");
    m = call(f, 3, "test_simple_text", &r, WAIT_MS);
    assert_true(is_ok(m));
    assert_true(r.len >= 300000);
    cJSON_Delete(m);
    http_resp_free(&r);

    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"close\"}]");
    m = call(f, 4, "test_simple_text", &r, WAIT_MS);
    assert_null(m);
    assert_int_not_equal(r.result, 0); /* the connection closed without an answer */
    http_resp_free(&r);

    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"truncate\",\"bytes\":10}]");
    m = call(f, 5, "test_simple_text", &r, WAIT_MS);
    assert_null(m);
    assert_true(r.result != 0 || r.len <= 10);
    http_resp_free(&r);

    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"slow_sse\",\"chunk_bytes\":8,"
                 "\"delay_ms\":20}]");
    uint64_t t0 = clock_mono_ms();
    m = call(f, 6, "test_simple_text", &r, WAIT_MS);
    assert_true(is_ok(m));
    /* the ~110-byte answer in 8-byte pieces 20 ms apart */
    assert_true(clock_mono_ms() - t0 >= 200);
    cJSON_Delete(m);
    http_resp_free(&r);

    /* wrong_version answers initialize with another protocol version */
    put_rules(
        f, "[{\"method\":\"initialize\",\"type\":\"wrong_version\",\"version\":\"1999-01-01\"}]");
    m = NULL;
    assert_int_equal(mcp_http_post(&f->loop, f->http, f->mcp, NULL,
                                   "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                                   "\"params\":{\"protocolVersion\":\"2025-11-25\","
                                   "\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
                                   "\"version\":\"1\"}}}",
                                   WAIT_MS, &r, &m, NULL),
                     0);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(m, "result");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(res, "protocolVersion")->valuestring,
                        "1999-01-01");
    cJSON_Delete(m);
    http_resp_free(&r);
}

static void test_http_level_faults(void **state)
{
    fx_t *f = *state;
    start(f, NULL);
    open_session(f);
    http_resp_t r;
    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"http_status\",\"status\":503,"
                 "\"retry_after\":2,\"times\":1}]");
    cJSON *m = call(f, 2, "test_simple_text", &r, WAIT_MS);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.retry_after, "2");
    cJSON_Delete(m);
    http_resp_free(&r);
    m = call(f, 3, "test_simple_text", &r, WAIT_MS);
    assert_true(is_ok(m));
    cJSON_Delete(m);
    http_resp_free(&r);

    put_rules(f, "[{\"tool\":\"test_simple_text\",\"type\":\"session_expiry\",\"times\":1}]");
    m = call(f, 4, "test_simple_text", &r, WAIT_MS);
    assert_int_equal(r.status, 404);
    cJSON_Delete(m);
    http_resp_free(&r);
    /* The session is gone for good; a new one works. */
    m = call(f, 5, "test_image_content", &r, WAIT_MS);
    assert_int_equal(r.status, 404);
    cJSON_Delete(m);
    http_resp_free(&r);
    open_session(f);
    m = call(f, 6, "test_simple_text", &r, WAIT_MS);
    assert_true(is_ok(m));
    cJSON_Delete(m);
    http_resp_free(&r);
    int status;
    cJSON *s = control(f, "GET", "/_mock/stats", NULL, &status);
    assert_true(num_at(s, "faults", "by_type", "http_status") == 1);
    assert_true(num_at(s, "faults", "by_type", "session_expiry") == 1);
    cJSON_Delete(s);
}

static void test_exit_over_http(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"exit\",\"exit_code\":9}]");
    open_session(f);
    http_resp_t r;
    cJSON *m = call(f, 2, "test_simple_text", &r, WAIT_MS);
    assert_null(m);
    http_resp_free(&r);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.exit_status, 9);
}

static void test_slow_start_http(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"type\":\"slow_start\",\"ms\":300}]");
    assert_true(f->p.ready_ms - f->p.start_ms >= 300);
    open_session(f);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_sighup_http(void **state)
{
    fx_t *f = *state;
    char path[256], spec[260];
    snprintf(path, sizeof(path), "/tmp/mcp-mock-test-faults-http-%d.json", (int)getpid());
    snprintf(spec, sizeof(spec), "@%s", path);
    write_file(path, "[]");
    start_faults(f, spec);
    write_file(path, "[{\"name\":\"from-file\",\"type\":\"latency\",\"ms\":1}]");
    assert_int_equal(mock_proc_signal(&f->p, SIGHUP), 0);
    assert_int_equal(mock_proc_wait_stderr(&f->p, "fault rules reloaded", WAIT_MS), 0);
    int status;
    cJSON *j = control(f, "GET", "/_mock/faults", NULL, &status);
    const cJSON *rule = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "rules"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(rule, "name")->valuestring, "from-file");
    cJSON_Delete(j);
    unlink(path);
}

/* A second mock on a taken port cannot start: exit 1 with the reason. */
static void test_port_taken(void **state)
{
    fx_t *f = *state;
    start(f, NULL);
    char listen[64];
    snprintf(listen, sizeof(listen), "%s", f->base + strlen("http://"));
    mock_proc_t second;
    const char *args[] = {"everything", "--transport", "http", "--listen", listen, NULL};
    assert_int_equal(mock_proc_start(&second, &f->loop, args), 0);
    assert_int_equal(mock_proc_wait_exit(&second, WAIT_MS), 0);
    assert_int_equal(second.exit_status, 1);
    assert_false(second.ready);
    assert_non_null(strstr(second.err.data, "cannot listen"));
    mock_proc_close(&second);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_health_sigterm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_transport, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_level_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_over_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_start_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sighup_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_taken, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
