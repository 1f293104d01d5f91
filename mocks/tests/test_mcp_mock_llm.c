/* Integration tests of `mcp-mock llm` as a process (build/bin/mcp-mock): the readiness line and
 * ready file, /health and /v1/models, a chat completion through the gateway's llm_client, the
 * control API and SIGHUP reload of fault rules, the exit fault, the API key, usage errors
 * (exit 2), a taken port (exit 1, no readiness line) and clean SIGTERM exits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "llm_client.h"
#include "mock_proc.h"

#include "alloc.h"
#include "errors.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 10000

typedef struct {
    uv_loop_t loop;
    mock_proc_t p;
    http_client_t *http;
    int http_closed;
    char base[256]; /* http://127.0.0.1:PORT */
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

/* Start `mcp-mock llm --listen 127.0.0.1:0` with extra args; fills base. */
static void start(fx_t *f, const char *const *extra)
{
    const char *args[32] = {"llm", "--listen", "127.0.0.1:0", "--today", "2025-06-15"};
    size_t n = 5;
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    assert_int_equal(mock_proc_start(&f->p, &f->loop, args), 0);
    assert_int_equal(mock_proc_wait_ready(&f->p, WAIT_MS), 0);
    const char *u = f->p.url;
    assert_true(strncmp(u, "http://127.0.0.1:", 17) == 0);
    size_t len = strlen(u);
    assert_true(len > 3 && strcmp(u + len - 3, "/v1") == 0);
    snprintf(f->base, sizeof(f->base), "%.*s", (int)(len - 3), u);
}

static int request(fx_t *f, const char *method, const char *path, const char *const *headers,
                   const char *body, char **out)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", f->base, path);
    http_resp_t r;
    assert_int_equal(http_sync(&f->loop, f->http, method, url, headers, body, WAIT_MS, &r), 0);
    int status = r.status;
    if (out)
        *out = mcp_strdup(r.body ? r.body : "");
    http_resp_free(&r);
    return status;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected to find [%s] in [%s]", needle, hay ? hay : "(null)");
}

#define CHAT_BODY                                                                               \
    "{\"model\":\"mock-planner\",\"messages\":[{\"role\":\"user\",\"content\":\"Show me total " \
    "sales for abracadabra this month\"}],\"tools\":[{\"type\":\"function\",\"function\":{"     \
    "\"name\":\"database_read_query\",\"parameters\":{\"type\":\"object\",\"properties\":{"     \
    "\"query\":{\"type\":\"string\"}}}}}]}"

static const char *const JSON_HDR[] = {"Content-Type: application/json", NULL};

/* ---- the client against the process ---- */

typedef struct {
    int done, status;
    gw_llm_response_t *resp;
    char error[512];
} outcome_t;

static void on_done(gw_llm_call_t *call, gw_llm_result_t *r, void *ud)
{
    (void)call;
    outcome_t *o = ud;
    o->done = 1;
    o->status = r->status;
    o->resp = r->response;
    r->response = NULL;
    snprintf(o->error, sizeof o->error, "%s", r->error);
}

static void on_cli_closed(gw_llm_client_t *c, void *ud)
{
    (void)c;
    *(int *)ud = 1;
}

static void test_ready_chat_sigterm(void **state)
{
    fx_t *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "/tmp/mcp-mock-test-ready-llm-%d", (int)getpid());
    unlink(path);
    const char *extra[] = {"--ready-file", path, NULL};
    start(f, extra);
    FILE *rf = fopen(path, "r");
    assert_non_null(rf);
    char text[300] = "";
    assert_non_null(fgets(text, sizeof(text), rf));
    fclose(rf);
    unlink(path);
    text[strcspn(text, "\n")] = '\0';
    assert_string_equal(text, f->p.url);
    char *body;
    assert_int_equal(request(f, "GET", "/health", NULL, NULL, &body), 200);
    assert_contains(body, "\"kind\":\"llm\"");
    mcp_free(body);
    assert_int_equal(request(f, "GET", "/v1/models", NULL, NULL, &body), 200);
    assert_contains(body, "mock-planner-typo");
    mcp_free(body);
    /* The gateway's client against the process, with the URL of the readiness line. */
    gw_llm_config_t c;
    gw_llm_config_init(&c);
    c.base_url = f->p.url;
    gw_llm_client_t *cli;
    char err[256];
    assert_int_equal(gw_llm_client_new(&f->loop, f->http, &c, &cli, err, sizeof err), 0);
    cJSON *m = cJSON_CreateArray();
    gw_llm_msg_add(m, "user", "Show me total sales for abracadabra this month");
    cJSON *tools = cJSON_CreateArray();
    gw_llm_tools_add(tools, "database.read_query", "SQL", NULL);
    outcome_t o = {0};
    assert_int_equal(gw_llm_chat(cli, m, tools, NULL, on_done, &o, NULL), 0);
    while (!o.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    if (o.status)
        fail_msg("chat: %s", o.error);
    assert_int_equal((int)o.resp->tool_call_count, 1);
    assert_string_equal(o.resp->tool_calls[0].name, "database.read_query");
    assert_contains(o.resp->tool_calls[0].arguments, "'2025-06-01'");
    gw_llm_response_free(o.resp);
    int closed = 0;
    gw_llm_client_close(cli, on_cli_closed, &closed);
    while (!closed)
        uv_run(&f->loop, UV_RUN_ONCE);
    cJSON_Delete(m);
    cJSON_Delete(tools);
    assert_int_equal(mock_proc_signal(&f->p, SIGTERM), 0);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.term_signal, 0);
    assert_int_equal(f->p.exit_status, 0);
    assert_null(strstr(f->p.err.data ? f->p.err.data : "", "not empty"));
}

/* A request held by a hang fault does not keep the process from stopping. */
static void test_sigterm_with_a_held_request(void **state)
{
    fx_t *f = *state;
    const char *extra[] = {"--faults", "[{\"type\":\"hang\"}]", NULL};
    start(f, extra);
    char url[300];
    snprintf(url, sizeof url, "%s/v1/chat/completions", f->base);
    /* A request that hangs: its answer never comes; SIGTERM still stops the mock. */
    http_resp_t r;
    assert_int_equal(http_sync(&f->loop, f->http, "POST", url, JSON_HDR, CHAT_BODY, 300, &r),
                     MCP_ETIMEDOUT);
    http_resp_free(&r);
    assert_int_equal(mock_proc_signal(&f->p, SIGTERM), 0);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.exit_status, 0);
}

static void test_control_api_and_sighup(void **state)
{
    fx_t *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "/tmp/mcp-mock-test-llm-faults-%d.json", (int)getpid());
    FILE *ff = fopen(path, "w");
    assert_non_null(ff);
    fputs("[{\"name\":\"boom\",\"type\":\"error\",\"message\":\"from the file\"}]", ff);
    fclose(ff);
    char spec[300];
    snprintf(spec, sizeof spec, "@%s", path);
    const char *extra[] = {"--faults", spec, NULL};
    start(f, extra);
    char *body;
    assert_int_equal(request(f, "POST", "/v1/chat/completions", JSON_HDR, CHAT_BODY, &body), 500);
    assert_contains(body, "\"message\":\"from the file\"");
    mcp_free(body);
    /* Replace the rules live: 429 with Retry-After. */
    assert_int_equal(request(f, "PUT", "/_mock/faults", JSON_HDR,
                             "[{\"type\":\"http_status\",\"status\":429,\"retry_after\":7}]",
                             &body),
                     200);
    mcp_free(body);
    char url[300];
    snprintf(url, sizeof url, "%s/v1/chat/completions", f->base);
    http_resp_t r;
    assert_int_equal(http_sync(&f->loop, f->http, "POST", url, JSON_HDR, CHAT_BODY, WAIT_MS, &r),
                     0);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "7");
    assert_contains(r.body, "\"code\":\"rate_limit_exceeded\"");
    http_resp_free(&r);
    /* SIGHUP: the file's rules are back. */
    assert_int_equal(mock_proc_signal(&f->p, SIGHUP), 0);
    assert_int_equal(mock_proc_wait_stderr(&f->p, "fault rules reloaded", WAIT_MS), 0);
    assert_int_equal(request(f, "POST", "/v1/chat/completions", JSON_HDR, CHAT_BODY, &body), 500);
    assert_contains(body, "from the file");
    mcp_free(body);
    assert_int_equal(request(f, "GET", "/_mock/stats", NULL, NULL, &body), 200);
    assert_contains(body, "\"total\":3");
    assert_contains(body, "\"fired_total\":3");
    mcp_free(body);
    assert_int_equal(request(f, "DELETE", "/_mock/faults", NULL, NULL, &body), 200);
    mcp_free(body);
    assert_int_equal(request(f, "POST", "/v1/chat/completions", JSON_HDR, CHAT_BODY, &body), 200);
    assert_contains(body, "\"finish_reason\":\"tool_calls\"");
    mcp_free(body);
    unlink(path);
}

static void test_exit_fault(void **state)
{
    fx_t *f = *state;
    const char *extra[] = {"--faults", "[{\"type\":\"exit\",\"exit_code\":3}]", NULL};
    start(f, extra);
    char url[300];
    snprintf(url, sizeof url, "%s/v1/chat/completions", f->base);
    http_resp_t r;
    assert_true(http_sync(&f->loop, f->http, "POST", url, JSON_HDR, CHAT_BODY, WAIT_MS, &r) != 0);
    http_resp_free(&r);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.exit_status, 3);
}

static void test_api_key_and_typo_option(void **state)
{
    fx_t *f = *state;
    const char *extra[] = {"--api-key", "sk-process-key", "--typo-first", NULL};
    start(f, extra);
    char *body;
    assert_int_equal(request(f, "POST", "/v1/chat/completions", JSON_HDR, CHAT_BODY, &body), 401);
    assert_contains(body, "invalid_api_key");
    mcp_free(body);
    const char *auth[] = {"Content-Type: application/json", "Authorization: Bearer sk-process-key",
                          NULL};
    assert_int_equal(request(f, "POST", "/v1/chat/completions", auth, CHAT_BODY, &body), 200);
    assert_contains(body, "SELCT ");
    mcp_free(body);
    /* The key never reaches the logs. */
    assert_null(strstr(f->p.err.data ? f->p.err.data : "", "sk-process-key"));
}

/* ---- exits without serving ---- */

static void expect_exit(fx_t *f, const char *const *args, int status, const char *message)
{
    assert_int_equal(mock_proc_start(&f->p, &f->loop, args), 0);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.exit_status, status);
    assert_false(f->p.ready);
    if (message)
        assert_contains(f->p.err.data, message);
    mock_proc_close(&f->p);
    /* Not UV_RUN_DEFAULT: another mock may still be running on this loop. */
    for (int i = 0; i < 3; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    memset(&f->p, 0, sizeof f->p);
}

static void test_usage_errors(void **state)
{
    fx_t *f = *state;
    const char *a1[] = {"llm", "--today", "2025-02-30", NULL};
    expect_exit(f, a1, 2, "--today: expected a date YYYY-MM-DD, got '2025-02-30'");
    const char *a2[] = {"llm", "--nope", NULL};
    expect_exit(f, a2, 2, "unknown option '--nope'");
    const char *a3[] = {"llm", "--transport", "stdio", NULL};
    expect_exit(f, a3, 2, "the llm kind serves only http");
    const char *a4[] = {"llm", "--faults", "[{\"type\":\"bogus\"}]", NULL};
    expect_exit(f, a4, 2, "--faults: rules[0].type");
    const char *a5[] = {"llm", "--metadata", "/nonexistent/metadata.json", NULL};
    expect_exit(f, a5, 2, "--metadata: /nonexistent/metadata.json");
    const char *a6[] = {"llm", "--listen", "example.com:80", NULL};
    expect_exit(f, a6, 2, "--listen: expected HOST:PORT");
    const char *a7[] = {"llm", "--max-files", "0", NULL};
    expect_exit(f, a7, 2, "--max-files");
}

static void test_port_taken(void **state)
{
    fx_t *f = *state;
    start(f, NULL);
    const char *port = strrchr(f->base, ':') + 1;
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%s", port);
    mock_proc_t first = f->p;
    memset(&f->p, 0, sizeof f->p);
    const char *args[] = {"llm", "--listen", listen, NULL};
    expect_exit(f, args, 1, "cannot listen on 127.0.0.1");
    f->p = first;
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_chat_sigterm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_with_a_held_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_api_and_sighup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key_and_typo_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_taken, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
