/* The chat loop end to end, in process: the gateway's llm_client asks `mcp-mock llm`
 * (llm_server, 127.0.0.1:0) for the next step, the tool calls it plans run on the database and
 * github kinds through mcp_loopback (kind_test_client), their results go back as tool messages,
 * until the planner answers in text. The tools are offered with LLM-safe server prefixes
 * ("database_read_query"), as the gateway offers them.
 *   - "Show me total sales for abracadabra this month": the alias resolves to product 123, the SQL
 *     runs on the database, and the answer carries the same figures as an independent query;
 *   - the same with the typo switch: the first SQL fails on the database, is corrected, and the
 *     answer reports it;
 *   - "Search GitHub for database queries and run them": search_code, get_file_contents and
 *     read_query on both servers, every query succeeding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kind_github.h"
#include "kind_test_client.h"
#include "llm_client.h"
#include "llm_planner.h"
#include "llm_server.h"

#include "alloc.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 8
#define GUARD_MS   30000

typedef struct world_s {
    ktc_t db, gh;
    llm_server_t *srv;
    gw_llm_client_t *cli;
    cJSON *tools;
    char today[16];
    int srv_closed, cli_closed;
} world_t;

typedef struct {
    int done;
    int status;
    char error[600];
    gw_llm_response_t *resp;
} outcome_t;

static void on_guard(uv_timer_t *t)
{
    (void)t;
    fail_msg("guard timer: no answer in %d ms", GUARD_MS);
}

/* The LLM side runs on the database kind's loop. */
static void run_until(world_t *w, const int *flag)
{
    uv_timer_t guard;
    uv_timer_init(&w->db.loop, &guard);
    uv_timer_start(&guard, on_guard, GUARD_MS, 0);
    while (!*flag)
        uv_run(&w->db.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&w->db.loop, UV_RUN_NOWAIT);
}

/* Offer the kind's tools as the gateway would to an LLM: "<server>_<tool>". */
static void add_tools(cJSON *tools, ktc_t *k, const char *server)
{
    int code = 0;
    cJSON *list = ktc_request(k, "tools/list", NULL, &code);
    assert_non_null(list);
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(list, "tools"))
    {
        char name[128];
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(t, "description");
        snprintf(name, sizeof name, "%s_%s", server,
                 cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring);
        assert_int_equal(gw_llm_tools_add(tools, name,
                                          cJSON_IsString(desc) ? desc->valuestring : NULL,
                                          cJSON_GetObjectItemCaseSensitive(t, "inputSchema")),
                         0);
    }
    cJSON_Delete(list);
}

static void world_open(world_t *w)
{
    memset(w, 0, sizeof *w);
    char err[256] = "";
    mock_options_t dopts = {0}, gopts = {0};
    assert_int_equal(ktc_open(&w->db, &mock_kind_database, &dopts, err, sizeof err), 0);
    assert_int_equal(ktc_open(&w->gh, &mock_kind_github, &gopts, err, sizeof err), 0);
    /* The planner's "today" is the database's, so that both agree on "this month". */
    cJSON *r = ktc_call_json(&w->db, "read_query", "{\"query\":\"SELECT date('now') AS d\"}");
    snprintf(w->today, sizeof w->today, "%s",
             cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "rows"), 0), "d")
                 ->valuestring);
    cJSON_Delete(r);
    llm_server_config_t scfg = {.today = w->today};
    if (llm_server_start(&w->db.loop, &scfg, &w->srv, err, sizeof err) != 0)
        fail_msg("llm server: %s", err);
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", llm_server_port(w->srv));
    gw_llm_config_t c;
    gw_llm_config_init(&c);
    c.base_url = base;
    c.timeout_ms = 20000;
    assert_int_equal(gw_llm_client_new(&w->db.loop, NULL, &c, &w->cli, err, sizeof err), 0);
    w->tools = cJSON_CreateArray();
    add_tools(w->tools, &w->db, "database");
    add_tools(w->tools, &w->gh, "github");
}

static void on_srv_closed(llm_server_t *s, void *ud)
{
    (void)s;
    ((world_t *)ud)->srv_closed = 1;
}

static void on_cli_closed(gw_llm_client_t *c, void *ud)
{
    (void)c;
    ((world_t *)ud)->cli_closed = 1;
}

static void world_close(world_t *w)
{
    assert_int_equal(gw_llm_client_close(w->cli, on_cli_closed, w), 0);
    run_until(w, &w->cli_closed);
    assert_int_equal(llm_server_close(w->srv, on_srv_closed, w), 0);
    run_until(w, &w->srv_closed);
    cJSON_Delete(w->tools);
    ktc_close(&w->gh);
    ktc_close(&w->db); /* asserts that the loop closes */
}

static void on_done(gw_llm_call_t *call, gw_llm_result_t *r, void *ud)
{
    (void)call;
    outcome_t *o = ud;
    o->done = 1;
    o->status = r->status;
    snprintf(o->error, sizeof o->error, "%s", r->error);
    o->resp = r->response;
    r->response = NULL;
}

typedef struct transcript_s {
    char *answer;    /* the final text (owned) */
    int rounds;      /* LLM calls */
    int calls[2];    /* tool calls run on database, github */
    int errors;      /* tool results that were errors */
    char tools[512]; /* "name,name,..." of the tools called, in order */
} transcript_t;

/* Run one tool call on the kind its prefix names; the result's text (owned). A failed call's
 * text is passed on as the gateway does: as it is when it already says so, else "Error: ...". */
static char *run_tool(world_t *w, const gw_llm_tool_call_t *tc, transcript_t *tr)
{
    ktc_t *k = NULL;
    const char *base = NULL;
    if (strncmp(tc->name, "database_", 9) == 0) {
        k = &w->db, base = tc->name + 9;
        tr->calls[0]++;
    } else if (strncmp(tc->name, "github_", 7) == 0) {
        k = &w->gh, base = tc->name + 7;
        tr->calls[1]++;
    } else {
        fail_msg("the planner called an unknown tool %s", tc->name);
    }
    if (strlen(tr->tools) + strlen(tc->name) + 2 < sizeof tr->tools) {
        if (tr->tools[0])
            strcat(tr->tools, ",");
        strcat(tr->tools, tc->name);
    }
    assert_non_null(tc->args);
    cJSON *res = ktc_call(k, base, tc->arguments);
    const char *text = ktc_text(res);
    char *out;
    if (ktc_is_error(res)) {
        tr->errors++;
        out = strncmp(text, "Error", 5) == 0 || strncmp(text, "Database error", 14) == 0
                  ? mcp_strdup(text)
                  : mcp_asprintf("Error: %s", text);
    } else {
        out = mcp_strdup(text);
    }
    cJSON_Delete(res);
    return out;
}

/* The chat loop: ask, run the planned calls, send the results, until a text answer. */
static void converse(world_t *w, const char *question, const gw_llm_chat_opts_t *opts,
                     transcript_t *tr)
{
    memset(tr, 0, sizeof *tr);
    cJSON *messages = cJSON_CreateArray();
    assert_int_equal(gw_llm_msg_add(messages, "system",
                                    "You are the shop's assistant. Use the tools to answer."),
                     0);
    assert_int_equal(gw_llm_msg_add(messages, "user", question), 0);
    for (;;) {
        assert_true(tr->rounds < MAX_ROUNDS);
        outcome_t o = {0};
        assert_int_equal(gw_llm_chat(w->cli, messages, w->tools, opts, on_done, &o, NULL), 0);
        run_until(w, &o.done);
        tr->rounds++;
        if (o.status != 0)
            fail_msg("LLM call failed: %s", o.error);
        gw_llm_response_t *r = o.resp;
        assert_int_equal(gw_llm_msg_add_assistant(messages, r), 0);
        if (r->tool_call_count == 0) {
            assert_string_equal(r->finish_reason, "stop");
            tr->answer = mcp_strdup(r->content ? r->content : "");
            print_message("%s\n-> %s\n", question, tr->answer);
            gw_llm_response_free(r);
            break;
        }
        assert_string_equal(r->finish_reason, "tool_calls");
        for (size_t i = 0; i < r->tool_call_count; i++) {
            char *text = run_tool(w, &r->tool_calls[i], tr);
            assert_int_equal(gw_llm_msg_add_tool_result(messages, r->tool_calls[i].id, text), 0);
            mcp_free(text);
        }
        gw_llm_response_free(r);
    }
    cJSON_Delete(messages);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected to find [%s] in [%s]", needle, hay);
}

/* The month's figures for product 123, by a query of our own. */
static void expected_figures(world_t *w, char *units, char *revenue, size_t cap)
{
    cJSON *r = ktc_call_json(
        &w->db, "read_query",
        "{\"query\":\"SELECT COALESCE(SUM(quantity), 0) AS u, ROUND(COALESCE(SUM(revenue), 0), 2) "
        "AS r FROM sales WHERE product_id = 123 AND status <> 'refunded' AND sale_date >= "
        "date('now', 'start of month')\"}");
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "rows"), 0);
    snprintf(units, cap, "%.0f units", cJSON_GetObjectItem(row, "u")->valuedouble);
    snprintf(revenue, cap, "revenue %.2f USD", cJSON_GetObjectItem(row, "r")->valuedouble);
    assert_true(cJSON_GetObjectItem(row, "u")->valuedouble > 0); /* the seed sells it monthly */
    cJSON_Delete(r);
}

static void test_sales_for_alias_this_month(void **state)
{
    (void)state;
    world_t w;
    world_open(&w);
    transcript_t tr;
    converse(&w, "Show me total sales for abracadabra this month", NULL, &tr);
    char units[64], revenue[64];
    expected_figures(&w, units, revenue, sizeof units);
    assert_int_equal(tr.rounds, 2);
    assert_int_equal(tr.calls[0], 1);
    assert_int_equal(tr.calls[1], 0);
    assert_int_equal(tr.errors, 0);
    assert_string_equal(tr.tools, "database_read_query");
    assert_contains(tr.answer, "\"abracadabra\" is the codename of product 123, Deluxe Magic Kit "
                               "(75 Tricks).");
    assert_contains(tr.answer, "Deluxe Magic Kit (75 Tricks) (product 123): ");
    assert_contains(tr.answer, units);
    assert_contains(tr.answer, revenue);
    assert_contains(tr.answer, "Tools used: database_read_query (1 call).");
    mcp_free(tr.answer);
    world_close(&w);
}

static void test_typo_is_recovered(void **state)
{
    (void)state;
    world_t w;
    world_open(&w);
    const char *hdrs[] = {"X-Mock-LLM-Typo", "1"};
    gw_llm_chat_opts_t opts = {.headers = hdrs, .header_pairs = 1};
    transcript_t tr;
    converse(&w, "Show me total sales for abracadabra this month", &opts, &tr);
    char units[64], revenue[64];
    expected_figures(&w, units, revenue, sizeof units);
    assert_int_equal(tr.rounds, 3);
    assert_int_equal(tr.calls[0], 2);
    assert_int_equal(tr.errors, 1); /* the database refused the misspelt SQL */
    assert_contains(tr.answer, units);
    assert_contains(tr.answer, revenue);
    assert_contains(tr.answer, "The first query failed (Database error: near \"SELCT\": syntax "
                               "error); I corrected it ('SELCT' -> 'SELECT') and ran it again.");
    assert_contains(tr.answer, "Tools used: database_read_query (2 calls).");
    mcp_free(tr.answer);
    world_close(&w);
}

static void test_github_queries_run_on_the_database(void **state)
{
    (void)state;
    world_t w;
    world_open(&w);
    transcript_t tr;
    converse(&w, "Search GitHub for database queries and run them", NULL, &tr);
    assert_int_equal(tr.rounds, 4);
    assert_int_equal(tr.calls[1], 1 + LLM_PLANNER_DEFAULT_FILES);
    assert_int_equal(tr.calls[0], LLM_PLANNER_DEFAULT_FILES);
    assert_int_equal(tr.errors, 0);
    assert_contains(tr.answer, "I searched GitHub code for \"extension:sql\" (13 files found), "
                               "read 5 files and ran 5 queries on the database (5 succeeded):");
    assert_contains(tr.answer, "1. kestrel-toys/sales-analytics "
                               "queries/daily_revenue_this_month.sql: ");
    assert_contains(tr.answer, "Tools used: github_search_code (1 call), "
                               "github_get_file_contents (5 calls), database_read_query (5 "
                               "calls).");
    /* Both servers were used, in this order. */
    assert_contains(tr.tools, "github_search_code,github_get_file_contents,");
    assert_contains(tr.tools, "github_get_file_contents,database_read_query");
    mcp_free(tr.answer);
    world_close(&w);
}

int main(void)
{
    mcp_alloc_init();
    http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sales_for_alias_this_month),
        cmocka_unit_test(test_typo_is_recovered),
        cmocka_unit_test(test_github_queries_run_on_the_database),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return rc;
}
