/* llm_client against `mcp-mock llm` (llm_server.c) on 127.0.0.1:0, both on one loop: a tool-call
 * round trip and a text answer, 429 with Retry-After retried then success, 500 retried up to the
 * limit then a clear error, the deadline on a hanging server, invalid JSON, 4xx not retried, the
 * API key (sent, checked, never logged), refused connections, dropped connections, cancel,
 * close with calls in flight, configuration from the environment, request building helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "llm_client.h"
#include "llm_server.h"

#include "alloc.h"
#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_MS 30000 /* valgrind makes everything slower */

typedef struct env_s {
    uv_loop_t loop;
    llm_server_t *srv;
    gw_llm_client_t *cli;
    char base[128];
    int srv_closed, cli_closed;
} env_t;

typedef struct outcome_s {
    int done;
    int status;
    int http_status;
    unsigned attempts;
    uint64_t elapsed_ms;
    char error[700];
    gw_llm_response_t *resp;
    int closed_before; /* the client's close callback had run already (must not happen) */
    env_t *env;
} outcome_t;

static void on_guard(uv_timer_t *t)
{
    (void)t;
    fail_msg("guard timer: the test did not finish in %d ms", GUARD_MS);
}

static void run_until(env_t *e, const int *flag)
{
    uv_timer_t guard;
    uv_timer_init(&e->loop, &guard);
    uv_timer_start(&guard, on_guard, GUARD_MS, 0);
    while (!*flag)
        uv_run(&e->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

static fault_set_t *faults(const char *json)
{
    fault_set_t *set = NULL;
    char err[256] = "";
    if (fault_set_parse(json, strlen(json), 1, &set, err, sizeof err) != 0)
        fail_msg("faults: %s", err);
    return set;
}

/* Start a server (scfg may be NULL) and a client for it (ccfg may be NULL; base_url filled). */
static void env_open(env_t *e, llm_server_config_t *scfg, gw_llm_config_t *ccfg)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    llm_server_config_t s = {.today = "2025-06-15"};
    if (!scfg)
        scfg = &s;
    char err[256] = "";
    if (llm_server_start(&e->loop, scfg, &e->srv, err, sizeof err) != 0)
        fail_msg("server: %s", err);
    snprintf(e->base, sizeof e->base, "http://127.0.0.1:%d/v1", llm_server_port(e->srv));
    gw_llm_config_t c;
    gw_llm_config_init(&c);
    c.backoff_initial_ms = 5;
    c.backoff_max_ms = 20;
    if (!ccfg)
        ccfg = &c;
    ccfg->base_url = e->base;
    if (gw_llm_client_new(&e->loop, NULL, ccfg, &e->cli, err, sizeof err) != 0)
        fail_msg("client: %s", err);
}

static void on_srv_closed(llm_server_t *s, void *ud)
{
    (void)s;
    ((env_t *)ud)->srv_closed = 1;
}

static void on_cli_closed(gw_llm_client_t *c, void *ud)
{
    (void)c;
    ((env_t *)ud)->cli_closed = 1;
}

static void env_close(env_t *e)
{
    if (e->cli) {
        assert_int_equal(gw_llm_client_close(e->cli, on_cli_closed, e), 0);
        run_until(e, &e->cli_closed);
    }
    if (e->srv) {
        assert_int_equal(llm_server_close(e->srv, on_srv_closed, e), 0);
        run_until(e, &e->srv_closed);
    }
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

static void on_done(gw_llm_call_t *call, gw_llm_result_t *r, void *ud)
{
    (void)call;
    outcome_t *o = ud;
    assert_false(o->done);
    o->done = 1;
    o->status = r->status;
    o->http_status = r->http_status;
    o->attempts = r->attempts;
    o->elapsed_ms = r->elapsed_ms;
    snprintf(o->error, sizeof o->error, "%s", r->error);
    o->resp = r->response;
    r->response = NULL; /* taken */
    if (o->env)
        o->closed_before = o->env->cli_closed;
    if (r->status == 0)
        assert_string_equal(r->error, "");
    else
        assert_null(o->resp);
}

static void chat(env_t *e, cJSON *messages, cJSON *tools, const gw_llm_chat_opts_t *opts,
                 outcome_t *o)
{
    memset(o, 0, sizeof *o);
    o->env = e;
    assert_int_equal(gw_llm_chat(e->cli, messages, tools, opts, on_done, o, NULL), 0);
    assert_false(o->done); /* never from inside gw_llm_chat */
    run_until(e, &o->done);
}

static cJSON *question(const char *text)
{
    cJSON *m = cJSON_CreateArray();
    assert_int_equal(gw_llm_msg_add(m, "system", "You answer questions about the shop."), 0);
    assert_int_equal(gw_llm_msg_add(m, "user", text), 0);
    return m;
}

static cJSON *db_tools(void)
{
    cJSON *tools = cJSON_CreateArray();
    cJSON *schema = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"query\":{\"type\":"
                                "\"string\"}},\"required\":[\"query\"]}");
    assert_int_equal(gw_llm_tools_add(tools, "database_read_query", "Run a SELECT", schema), 0);
    assert_int_equal(gw_llm_tools_add(tools, "database_list_tables", NULL, NULL), 0);
    cJSON_Delete(schema);
    return tools;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected to find [%s] in [%s]", needle, hay ? hay : "(null)");
}

/* ------------------------------------------------------------------ tests */

static void test_tool_call_round_trip(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL, NULL);
    cJSON *m = question("Show me total sales for abracadabra this month");
    cJSON *tools = db_tools();
    outcome_t o;
    chat(&e, m, tools, NULL, &o);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.http_status, 200);
    assert_int_equal(o.attempts, 1);
    gw_llm_response_t *r = o.resp;
    assert_null(r->content);
    assert_string_equal(r->finish_reason, "tool_calls");
    assert_string_equal(r->model, "mock-planner");
    assert_memory_equal(r->id, "chatcmpl-mock-", 14);
    assert_true(r->prompt_tokens > 10 && r->completion_tokens > 10);
    assert_int_equal(r->total_tokens, r->prompt_tokens + r->completion_tokens);
    assert_int_equal((int)r->tool_call_count, 1);
    assert_string_equal(r->tool_calls[0].id, "call_1_0");
    assert_string_equal(r->tool_calls[0].name, "database_read_query");
    assert_non_null(r->tool_calls[0].args);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(r->tool_calls[0].args, "query");
    assert_true(cJSON_IsString(q));
    assert_contains(q->valuestring, "p.id IN (123)");
    assert_contains(q->valuestring, "'2025-06-01'");
    assert_contains(r->tool_calls[0].arguments, "\"query\"");
    /* Send the assistant message back with the tool's result: the answer comes in text. */
    assert_int_equal(gw_llm_msg_add_assistant(m, r), 0);
    assert_int_equal(
        gw_llm_msg_add_tool_result(
            m, r->tool_calls[0].id,
            "{\"columns\":[\"product_id\",\"product\",\"orders\",\"units\",\"revenue\"],"
            "\"rows\":[{\"product_id\":123,\"product\":\"Deluxe Magic Kit (75 Tricks)\","
            "\"orders\":2,\"units\":5,\"revenue\":299.95}],\"row_count\":1}"),
        0);
    gw_llm_response_free(r);
    chat(&e, m, tools, NULL, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.resp->finish_reason, "stop");
    assert_int_equal((int)o.resp->tool_call_count, 0);
    assert_contains(o.resp->content, "5 units in 2 orders, revenue 299.95 USD");
    assert_contains(o.resp->content, "Tools used: database_read_query (1 call).");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(o.resp->message, "content")));
    gw_llm_response_free(o.resp);
    llm_server_stats_t st;
    llm_server_get_stats(e.srv, &st);
    assert_int_equal((int)st.requests, 2);
    assert_int_equal((int)st.tool_calls, 1);
    assert_int_equal((int)st.answers, 1);
    gw_llm_stats_t cs;
    gw_llm_client_get_stats(e.cli, &cs);
    assert_int_equal((int)cs.calls, 2);
    assert_int_equal((int)cs.succeeded, 2);
    assert_int_equal((int)cs.retries, 0);
    cJSON_Delete(m);
    cJSON_Delete(tools);
    env_close(&e);
}

static void test_text_answer_and_options(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL, NULL);
    cJSON *m = question("hello");
    outcome_t o;
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, 0);
    assert_contains(o.resp->content, "Hello! I am the mcp-mock planner.");
    assert_string_equal(o.resp->finish_reason, "stop");
    gw_llm_response_free(o.resp);
    cJSON_Delete(m);
    /* The typo model, and a header switching the typo on for the default model. */
    m = question("revenue today");
    cJSON *tools = db_tools();
    gw_llm_chat_opts_t opts = {.model = "mock-planner-typo"};
    chat(&e, m, tools, &opts, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.resp->model, "mock-planner-typo");
    assert_contains(o.resp->tool_calls[0].arguments, "SELCT ");
    assert_contains(o.resp->tool_calls[0].arguments, "'2025-06-15'");
    gw_llm_response_free(o.resp);
    const char *hdrs[] = {"X-Mock-LLM-Typo", "1", "X-Mock-LLM-Today", "2024-02-29"};
    gw_llm_chat_opts_t opts2 = {.headers = hdrs, .header_pairs = 2, .request_id = "r-1"};
    chat(&e, m, tools, &opts2, &o);
    assert_int_equal(o.status, 0);
    assert_contains(o.resp->tool_calls[0].arguments, "SELCT ");
    assert_contains(o.resp->tool_calls[0].arguments, "'2024-02-29'");
    gw_llm_response_free(o.resp);
    /* tool_choice none: text. */
    gw_llm_chat_opts_t opts3 = {.tool_choice = "none"};
    chat(&e, m, tools, &opts3, &o);
    assert_int_equal(o.status, 0);
    assert_int_equal((int)o.resp->tool_call_count, 0);
    assert_non_null(o.resp->content);
    gw_llm_response_free(o.resp);
    cJSON_Delete(tools);
    cJSON_Delete(m);
    env_close(&e);
}

static void test_429_retry_after_then_success(void **state)
{
    (void)state;
    llm_server_config_t s = {
        .today = "2025-06-15",
        .faults = faults("[{\"method\":\"chat.completions\",\"type\":\"http_status\","
                         "\"status\":429,\"retry_after\":1,\"times\":1}]"),
    };
    env_t e;
    env_open(&e, &s, NULL);
    cJSON *m = question("hello");
    outcome_t o;
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.attempts, 2);
    assert_int_equal(o.http_status, 200);
    /* The backoff alone is at most 20 ms: the wait came from Retry-After: 1. */
    assert_true(o.elapsed_ms >= 950);
    gw_llm_response_free(o.resp);
    gw_llm_stats_t cs;
    gw_llm_client_get_stats(e.cli, &cs);
    assert_int_equal((int)cs.retries, 1);
    assert_int_equal((int)cs.attempts, 2);
    cJSON_Delete(m);
    env_close(&e);
}

/* Retry-After beyond retry_after_max_ms: fail at once, naming the wait. */
static void test_429_retry_after_too_long(void **state)
{
    (void)state;
    llm_server_config_t s = {
        .faults = faults("[{\"type\":\"http_status\",\"status\":429,\"retry_after\":120}]"),
    };
    gw_llm_config_t c;
    gw_llm_config_init(&c);
    c.retry_after_max_ms = 5000;
    env_t e;
    env_open(&e, &s, &c);
    cJSON *m = question("hello");
    outcome_t o;
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, MCP_EHTTP);
    assert_int_equal(o.http_status, 429);
    assert_int_equal(o.attempts, 1);
    assert_contains(o.error, "answered HTTP 429: Rate limit reached for requests");
    assert_contains(o.error, "asked to retry after 120000 ms, more than the 5000 ms we wait");
    cJSON_Delete(m);
    env_close(&e);
}

static void test_500_retried_to_the_limit(void **state)
{
    (void)state;
    llm_server_config_t s = {
        .faults = faults("[{\"type\":\"error\",\"message\":\"the planner fell over\"}]"),
    };
    env_t e;
    env_open(&e, &s, NULL);
    cJSON *m = question("hello");
    outcome_t o;
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, MCP_EHTTP);
    assert_int_equal(o.http_status, 500);
    assert_int_equal(o.attempts, 3);
    char expect[256];
    snprintf(expect, sizeof expect,
             "the LLM at http://127.0.0.1:%d/v1/chat/completions answered HTTP 500: the planner "
             "fell over (after 3 attempts)",
             llm_server_port(e.srv));
    assert_string_equal(o.error, expect);
    llm_server_stats_t st;
    llm_server_get_stats(e.srv, &st);
    assert_int_equal((int)st.requests, 3);
    assert_int_equal((int)st.faults, 3);
    gw_llm_stats_t cs;
    gw_llm_client_get_stats(e.cli, &cs);
    assert_int_equal((int)cs.failed, 1);
    assert_int_equal((int)cs.retries, 2);
    cJSON_Delete(m);
    env_close(&e);
}

static void test_deadline_on_hanging_server(void **state)
{
    (void)state;
    llm_server_config_t s = {.faults = faults("[{\"type\":\"hang\"}]")};
    gw_llm_config_t c;
    gw_llm_config_init(&c);
    c.timeout_ms = 300;
    env_t e;
    env_open(&e, &s, &c);
    cJSON *m = question("hello");
    outcome_t o;
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, MCP_ETIMEDOUT);
    assert_int_equal(o.attempts, 1);
    assert_contains(o.error, "timed out after 300 ms (1 attempt)");
    assert_true(o.elapsed_ms >= 290);
    /* A per-call timeout overrides the client's; a per-attempt timeout retries. */
    gw_llm_chat_opts_t opts = {.timeout_ms = 150};
    chat(&e, m, NULL, &opts, &o);
    assert_int_equal(o.status, MCP_ETIMEDOUT);
    assert_contains(o.error, "timed out after 150 ms");
    cJSON_Delete(m);
    env_close(&e);

    llm_server_config_t s2 = {.faults = faults("[{\"type\":\"hang\",\"times\":1}]")};
    gw_llm_config_init(&c);
    c.timeout_ms = 10000;
    c.attempt_timeout_ms = 200;
    c.backoff_initial_ms = 5;
    env_open(&e, &s2, &c);
    m = question("hello");
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.attempts, 2);
    gw_llm_response_free(o.resp);
    cJSON_Delete(m);
    env_close(&e);
}

static void test_bad_json_answer(void **state)
{
    (void)state;
    llm_server_config_t s = {.faults = faults("[{\"type\":\"malformed\"}]")};
    env_t e;
    env_open(&e, &s, NULL);
    cJSON *m = question("hello");
    outcome_t o;
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, MCP_EPROTO);
    assert_int_equal(o.http_status, 200);
    assert_int_equal(o.attempts, 1); /* not retried */
    assert_contains(o.error, "answered HTTP 200 with something that is not a chat completion: "
                             "the answer is not valid JSON");
    cJSON_Delete(m);
    env_close(&e);
}

/* A 4xx other than 408/429 is the caller's mistake: not retried, the server's words kept. */
static void test_400_not_retried(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL, NULL);
    cJSON *m = cJSON_Parse("[{\"role\":\"robot\",\"content\":\"x\"}]");
    outcome_t o;
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, MCP_EHTTP);
    assert_int_equal(o.http_status, 400);
    assert_int_equal(o.attempts, 1);
    assert_contains(o.error, "answered HTTP 400: messages[0].role: 'robot' is not one of system");
    cJSON_Delete(m);
    /* Unanswered tool calls in the history. */
    m = question("hello");
    cJSON_AddItemToArray(m, cJSON_Parse("{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\","
                                        "\"type\":\"function\",\"function\":{\"name\":\"x\","
                                        "\"arguments\":\"{}\"}}]}"));
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.http_status, 400);
    assert_contains(o.error, "tool call 'c1' has no tool message");
    cJSON_Delete(m);
    env_close(&e);
}

static char log_text[64 * 1024];
static size_t log_len;

static void log_sink(log_level_t level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    size_t n = strlen(line);
    if (log_len + n + 2 < sizeof log_text) {
        memcpy(log_text + log_len, line, n);
        log_len += n;
        log_text[log_len++] = '\n';
        log_text[log_len] = '\0';
    }
}

static void test_api_key(void **state)
{
    (void)state;
    const char *key = "sk-test-5ecret-never-logged";
    log_len = 0;
    log_text[0] = '\0';
    log_set_sink(log_sink, NULL);
    log_level_t old = log_get_level();
    log_set_level(LOG_DEBUG);
    llm_server_config_t s = {.api_key = key};
    env_t e;
    env_open(&e, &s, NULL); /* the client has no key */
    cJSON *m = question("hello");
    outcome_t o;
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, MCP_EHTTP);
    assert_int_equal(o.http_status, 401);
    assert_int_equal(o.attempts, 1);
    assert_contains(o.error, "answered HTTP 401: Incorrect API key provided");
    cJSON_Delete(m);
    env_close(&e);

    gw_llm_config_t c;
    gw_llm_config_init(&c);
    c.api_key = key;
    s.api_key = key;
    env_open(&e, &s, &c);
    m = question("hello");
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, 0);
    gw_llm_response_free(o.resp);
    cJSON_Delete(m);
    /* A failing call with a key: the error text carries no key either. */
    llm_server_set_faults(e.srv, faults("[{\"type\":\"error\"}]"));
    m = question("hello");
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, MCP_EHTTP);
    assert_null(strstr(o.error, key));
    cJSON_Delete(m);
    env_close(&e);
    log_set_sink(NULL, NULL);
    log_set_level(old);
    assert_true(log_len > 0); /* debug lines were written ... */
    assert_contains(log_text, "LLM request");
    assert_null(strstr(log_text, key)); /* ... and none has the key */
    assert_null(strstr(log_text, "5ecret"));
}

static void test_connection_refused(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL, NULL);
    int port = llm_server_port(e.srv);
    assert_int_equal(llm_server_close(e.srv, on_srv_closed, &e), 0);
    run_until(&e, &e.srv_closed);
    e.srv = NULL;
    cJSON *m = question("hello");
    outcome_t o;
    chat(&e, m, NULL, NULL, &o);
    assert_int_equal(o.status, UV_ECONNREFUSED);
    assert_int_equal(o.attempts, 3);
    assert_int_equal(o.http_status, 0);
    char expect[128];
    snprintf(expect, sizeof expect, "cannot get an answer from the LLM at http://127.0.0.1:%d/v1",
             port);
    assert_contains(o.error, expect);
    assert_contains(o.error, "(after 3 attempts)");
    cJSON_Delete(m);
    env_close(&e);
}

/* A dropped connection (close, truncate) is retried. */
static void test_dropped_connections_retried(void **state)
{
    (void)state;
    const char *rules[] = {"[{\"type\":\"close\",\"times\":1}]",
                           "[{\"type\":\"truncate\",\"times\":1}]",
                           "[{\"type\":\"latency\",\"ms\":30},{\"type\":\"close\",\"times\":2}]"};
    for (size_t i = 0; i < 3; i++) {
        llm_server_config_t s = {.faults = faults(rules[i])};
        env_t e;
        env_open(&e, &s, NULL);
        cJSON *m = question("hello");
        outcome_t o;
        chat(&e, m, NULL, NULL, &o);
        if (o.status != 0)
            fail_msg("%s: %s", rules[i], o.error);
        assert_int_equal(o.attempts, i == 2 ? 3 : 2);
        assert_contains(o.resp->content, "Hello!");
        gw_llm_response_free(o.resp);
        cJSON_Delete(m);
        env_close(&e);
    }
}

/* Slow and oversized answers still parse. */
static void test_slow_and_padded_answers(void **state)
{
    (void)state;
    llm_server_config_t s = {
        .faults = faults("[{\"type\":\"slow_sse\",\"chunk_bytes\":200,\"delay_ms\":2,\"times\":1},"
                         "{\"type\":\"oversized\",\"bytes\":300000,\"times\":1}]")};
    env_t e;
    env_open(&e, &s, NULL);
    cJSON *m = question("hello");
    for (int i = 0; i < 2; i++) {
        outcome_t o;
        chat(&e, m, NULL, NULL, &o);
        if (o.status != 0)
            fail_msg("answer %d: %s", i, o.error);
        assert_contains(o.resp->content, "Hello!");
        gw_llm_response_free(o.resp);
    }
    cJSON_Delete(m);
    env_close(&e);
}

typedef struct {
    gw_llm_call_t *call;
} cancel_ctx_t;

static void on_cancel_timer(uv_timer_t *t)
{
    cancel_ctx_t *c = t->data;
    assert_int_equal(gw_llm_cancel(c->call), 0);
    assert_int_equal(gw_llm_cancel(c->call), 0); /* twice is fine */
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel_and_close_in_flight(void **state)
{
    (void)state;
    llm_server_config_t s = {.faults = faults("[{\"type\":\"hang\"}]")};
    env_t e;
    env_open(&e, &s, NULL);
    cJSON *m = question("hello");
    outcome_t o;
    memset(&o, 0, sizeof o);
    cancel_ctx_t cc;
    assert_int_equal(gw_llm_chat(e.cli, m, NULL, NULL, on_done, &o, &cc.call), 0);
    uv_timer_t t;
    uv_timer_init(&e.loop, &t);
    t.data = &cc;
    uv_timer_start(&t, on_cancel_timer, 50, 0);
    run_until(&e, &o.done);
    assert_int_equal(o.status, MCP_ECANCELED);
    assert_contains(o.error, "cancelled");
    /* Close with two calls in flight: both complete (cancelled) before the close callback. */
    outcome_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.env = b.env = &e;
    assert_int_equal(gw_llm_chat(e.cli, m, NULL, NULL, on_done, &a, NULL), 0);
    assert_int_equal(gw_llm_chat(e.cli, m, NULL, NULL, on_done, &b, NULL), 0);
    uv_run(&e.loop, UV_RUN_NOWAIT); /* let them start */
    assert_int_equal(gw_llm_client_close(e.cli, on_cli_closed, &e), 0);
    assert_int_equal(gw_llm_client_close(e.cli, on_cli_closed, &e), MCP_ESTATE);
    assert_false(a.done); /* never from inside close */
    run_until(&e, &e.cli_closed);
    assert_true(a.done && b.done);
    assert_int_equal(a.status, MCP_ECANCELED);
    assert_int_equal(b.status, MCP_ECANCELED);
    assert_false(a.closed_before);
    assert_false(b.closed_before);
    e.cli = NULL;
    cJSON_Delete(m);
    env_close(&e); /* the server drops the held requests */
}

static void test_bad_arguments(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL, NULL);
    outcome_t o = {0};
    cJSON *empty = cJSON_CreateArray();
    cJSON *m = question("hello");
    cJSON *obj = cJSON_CreateObject();
    assert_int_equal(gw_llm_chat(e.cli, empty, NULL, NULL, on_done, &o, NULL), MCP_EINVAL);
    assert_int_equal(gw_llm_chat(e.cli, obj, NULL, NULL, on_done, &o, NULL), MCP_EINVAL);
    assert_int_equal(gw_llm_chat(e.cli, m, obj, NULL, on_done, &o, NULL), MCP_EINVAL);
    assert_int_equal(gw_llm_chat(e.cli, m, NULL, NULL, NULL, &o, NULL), MCP_EINVAL);
    const char *bad[] = {"Bad Name", "v"};
    gw_llm_chat_opts_t opts = {.headers = bad, .header_pairs = 1};
    assert_int_equal(gw_llm_chat(e.cli, m, NULL, &opts, on_done, &o, NULL), MCP_EINVAL);
    const char *auth[] = {"Authorization", "Bearer x"};
    opts.headers = auth;
    assert_int_equal(gw_llm_chat(e.cli, m, NULL, &opts, on_done, &o, NULL), MCP_EINVAL);
    const char *crlf[] = {"X-A", "a\r\nb"};
    opts.headers = crlf;
    assert_int_equal(gw_llm_chat(e.cli, m, NULL, &opts, on_done, &o, NULL), MCP_EINVAL);
    gw_llm_chat_opts_t choice = {.tool_choice = "sometimes"};
    assert_int_equal(gw_llm_chat(e.cli, m, NULL, &choice, on_done, &o, NULL), MCP_EINVAL);
    assert_false(o.done);
    /* builders */
    assert_int_equal(gw_llm_msg_add(m, "tool", "x"), MCP_EINVAL);
    assert_int_equal(gw_llm_msg_add(obj, "user", "x"), MCP_EINVAL);
    assert_int_equal(gw_llm_msg_add_tool_result(m, "", "x"), MCP_EINVAL);
    assert_int_equal(gw_llm_tools_add(empty, "", NULL, NULL), MCP_EINVAL);
    assert_int_equal(gw_llm_tools_add(empty, "t", NULL, empty), MCP_EINVAL);
    assert_int_equal(gw_llm_tools_add(empty, "t", "desc", NULL), 0);
    char *text = cJSON_PrintUnformatted(empty);
    assert_string_equal(text, "[{\"function\":{\"parameters\":{\"type\":\"object\","
                              "\"properties\":{}},\"name\":\"t\",\"description\":\"desc\"},"
                              "\"type\":\"function\"}]");
    cJSON_free(text);
    cJSON_Delete(empty);
    cJSON_Delete(obj);
    cJSON_Delete(m);
    /* configurations */
    gw_llm_client_t *x = NULL;
    char err[256];
    gw_llm_config_t c;
    gw_llm_config_init(&c);
    c.base_url = "ftp://example";
    assert_int_equal(gw_llm_client_new(&e.loop, NULL, &c, &x, err, sizeof err), MCP_EINVAL);
    assert_contains(err, "expected an http:// or https:// URL");
    gw_llm_config_init(&c);
    c.max_attempts = 0;
    assert_int_equal(gw_llm_client_new(&e.loop, NULL, &c, &x, err, sizeof err), MCP_EINVAL);
    gw_llm_config_init(&c);
    c.model = "";
    assert_int_equal(gw_llm_client_new(&e.loop, NULL, &c, &x, err, sizeof err), MCP_EINVAL);
    assert_null(x);
    env_close(&e);
}

static void test_config_from_env(void **state)
{
    (void)state;
    gw_llm_config_t c;
    char err[256] = "";
    unsetenv("LLM_BASE_URL");
    unsetenv("LLM_API_KEY");
    unsetenv("LLM_MODEL");
    unsetenv("LLM_TIMEOUT_MS");
    unsetenv("LLM_MAX_ATTEMPTS");
    assert_int_equal(gw_llm_config_from_env(&c, err, sizeof err), 0);
    assert_string_equal(c.base_url, "http://127.0.0.1:8090/v1");
    assert_null(c.api_key);
    assert_string_equal(c.model, "mock-planner");
    setenv("LLM_BASE_URL", "https://user:pw@llm.example/v1/", 1);
    setenv("LLM_API_KEY", "k", 1);
    setenv("LLM_MODEL", "gpt-test", 1);
    setenv("LLM_TIMEOUT_MS", "1234", 1);
    setenv("LLM_MAX_ATTEMPTS", "5", 1);
    assert_int_equal(gw_llm_config_from_env(&c, err, sizeof err), 0);
    assert_string_equal(c.api_key, "k");
    assert_string_equal(c.model, "gpt-test");
    assert_int_equal((int)c.timeout_ms, 1234);
    assert_int_equal(c.max_attempts, 5);
    uv_loop_t loop;
    uv_loop_init(&loop);
    gw_llm_client_t *cli;
    assert_int_equal(gw_llm_client_new(&loop, NULL, &c, &cli, err, sizeof err), 0);
    /* The trailing slash is dropped and the user info never shown. */
    assert_string_equal(gw_llm_client_url(cli), "https://llm.example/v1/chat/completions");
    assert_string_equal(gw_llm_client_model(cli), "gpt-test");
    int closed = 0;
    assert_int_equal(gw_llm_client_close(cli, NULL, NULL), 0);
    (void)closed;
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    setenv("LLM_MAX_ATTEMPTS", "0", 1);
    assert_int_equal(gw_llm_config_from_env(&c, err, sizeof err), MCP_EINVAL);
    assert_contains(err, "LLM_MAX_ATTEMPTS: expected an integer from 1 to 20");
    unsetenv("LLM_MAX_ATTEMPTS");
    setenv("LLM_BASE_URL", "localhost:8090", 1);
    assert_int_equal(gw_llm_config_from_env(&c, err, sizeof err), MCP_EINVAL);
    assert_contains(err, "LLM_BASE_URL");
    unsetenv("LLM_BASE_URL");
    unsetenv("LLM_API_KEY");
    unsetenv("LLM_MODEL");
    unsetenv("LLM_TIMEOUT_MS");
}

/* The other routes of the server, through a plain http_client. */
typedef struct {
    int done, status;
    char body[4096];
} get_t;

static void on_get(http_request_t *req, int result, void *ud)
{
    get_t *g = ud;
    g->done = 1;
    g->status = result ? result : http_request_status(req);
    snprintf(g->body, sizeof g->body, "%s", http_request_body(req, NULL));
}

static void get(env_t *e, http_client_t *h, const char *method, const char *path, const char *body,
                get_t *g)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", llm_server_port(e->srv), path);
    http_request_t *req;
    memset(g, 0, sizeof *g);
    assert_int_equal(http_request_new(h, method, url, &req), 0);
    if (body)
        http_request_set_body(req, body, strlen(body));
    assert_int_equal(http_request_start(req, on_get, g), 0);
    run_until(e, &g->done);
}

static void on_http_closed(http_client_t *h, void *ud)
{
    (void)h;
    *(int *)ud = 1;
}

static void test_server_routes(void **state)
{
    (void)state;
    env_t e;
    env_open(&e, NULL, NULL);
    http_client_t *h;
    assert_int_equal(http_client_new(&e.loop, NULL, &h), 0);
    get_t g;
    get(&e, h, "GET", "/v1/models", NULL, &g);
    assert_int_equal(g.status, 200);
    assert_contains(g.body, "\"id\":\"mock-planner\"");
    assert_contains(g.body, "\"id\":\"mock-planner-typo\"");
    get(&e, h, "GET", "/health", NULL, &g);
    assert_int_equal(g.status, 200);
    assert_contains(g.body, "\"status\":\"ok\",\"kind\":\"llm\"");
    get(&e, h, "GET", "/v2/nothing", NULL, &g);
    assert_int_equal(g.status, 404);
    assert_contains(g.body, "\"message\":\"Unknown request URL: GET /v2/nothing\"");
    get(&e, h, "PUT", "/_mock/faults", "[{\"type\":\"nope\"}]", &g);
    assert_int_equal(g.status, 400);
    assert_contains(g.body, "rules[0].type");
    get(&e, h, "PUT", "/_mock/faults", "[{\"type\":\"error\",\"times\":1}]", &g);
    assert_int_equal(g.status, 200);
    get(&e, h, "POST", "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}", &g);
    assert_int_equal(g.status, 500); /* the rule fired */
    assert_contains(g.body, "\"type\":\"server_error\"");
    get(&e, h, "POST", "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}", &g);
    assert_int_equal(g.status, 400);
    assert_contains(g.body, "\"param\":\"messages\"");
    get(&e, h, "POST", "/v1/chat/completions", "{\"messages\":[]}", &g);
    assert_int_equal(g.status, 400);
    assert_contains(g.body, "you must provide a model parameter");
    get(&e, h, "POST", "/v1/chat/completions", "not json", &g);
    assert_int_equal(g.status, 400);
    get(&e, h, "POST", "/v1/chat/completions",
        "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        &g);
    assert_int_equal(g.status, 400);
    assert_contains(g.body, "streaming is not supported");
    get(&e, h, "GET", "/_mock/stats", NULL, &g);
    assert_int_equal(g.status, 200);
    assert_contains(g.body, "\"total\":5");
    assert_contains(g.body, "\"fired_total\":1");
    assert_contains(g.body, "\"by_type\":{\"error\":1}");
    get(&e, h, "GET", "/_mock/faults", NULL, &g);
    assert_contains(g.body, "\"fired\":1");
    get(&e, h, "DELETE", "/_mock/faults", NULL, &g);
    assert_string_equal(g.body, "{\"rules\":[]}");
    int closed = 0;
    http_client_close(h, on_http_closed, &closed);
    run_until(&e, &closed);
    env_close(&e);
}

int main(void)
{
    mcp_alloc_init();
    http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool_call_round_trip),
        cmocka_unit_test(test_text_answer_and_options),
        cmocka_unit_test(test_429_retry_after_then_success),
        cmocka_unit_test(test_429_retry_after_too_long),
        cmocka_unit_test(test_500_retried_to_the_limit),
        cmocka_unit_test(test_deadline_on_hanging_server),
        cmocka_unit_test(test_bad_json_answer),
        cmocka_unit_test(test_400_not_retried),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_dropped_connections_retried),
        cmocka_unit_test(test_slow_and_padded_answers),
        cmocka_unit_test(test_cancel_and_close_in_flight),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_config_from_env),
        cmocka_unit_test(test_server_routes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return rc;
}
