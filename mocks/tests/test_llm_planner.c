/* The llm planner's rules, driven with hand-written conversations: tool-name matching (bare,
 * namespaced, LLM-safe), alias and product resolution, date ranges from a fixed "today", SQL for
 * each question kind, the answer after results, typo then correction, the github workflow,
 * text answers, missing tools, metadata overrides, invalid conversations, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "llm_planner.h"

#include "alloc.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static llm_planner_t *P;

static int setup(void **state)
{
    (void)state;
    mcp_alloc_init();
    char err[256] = "";
    if (llm_planner_new(NULL, &P, err, sizeof err) != 0)
        fail_msg("planner: %s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    llm_planner_free(P);
    return 0;
}

/* ------------------------------------------------------------------ helpers */

/* Tools with a one-string-argument schema; names as given. */
static cJSON *tools_of(const char *const *names, size_t n)
{
    cJSON *tools = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        char json[512];
        const char *arg = strcmp(names[i] + strlen(names[i]) - 5, "query") == 0 &&
                                  strstr(names[i], "read_query") == NULL &&
                                  strstr(names[i], "execute_query") == NULL
                              ? "sql"
                              : "query";
        snprintf(json, sizeof json,
                 "{\"type\":\"function\",\"function\":{\"name\":\"%s\",\"description\":\"d\","
                 "\"parameters\":{\"type\":\"object\",\"properties\":{\"%s\":{\"type\":"
                 "\"string\"}}}}}",
                 names[i], arg);
        cJSON_AddItemToArray(tools, cJSON_Parse(json));
    }
    return tools;
}

static cJSON *db_tools(void)
{
    static const char *const names[] = {"database_read_query", "database_list_tables",
                                        "database_describe_table", "github_search_code",
                                        "github_get_file_contents"};
    return tools_of(names, 5);
}

static cJSON *conv(const char *question)
{
    cJSON *m = cJSON_CreateArray();
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", "You are a helpful assistant.");
    cJSON_AddItemToArray(m, sys);
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", question);
    cJSON_AddItemToArray(m, u);
    return m;
}

static const llm_plan_opts_t TODAY = {.recover = 1, .today_y = 2025, .today_m = 6, .today_d = 15};

static llm_plan_t plan(cJSON *messages, const cJSON *tools, const llm_plan_opts_t *o)
{
    llm_plan_t out;
    char err[256] = "";
    int rc = llm_planner_plan(P, messages, tools, o, &out, err, sizeof err);
    if (rc)
        fail_msg("plan failed: %s (%s)", mcp_strerror(rc), err);
    return out;
}

static const cJSON *calls_of(const llm_plan_t *p)
{
    return cJSON_GetObjectItemCaseSensitive(p->message, "tool_calls");
}

static const char *call_name(const llm_plan_t *p, int i)
{
    const cJSON *c = cJSON_GetArrayItem(calls_of(p), i);
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "function"), "name")
        ->valuestring;
}

static const char *call_id(const llm_plan_t *p, int i)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(calls_of(p), i), "id")->valuestring;
}

/* The arguments of call i, parsed (caller frees). */
static cJSON *call_args(const llm_plan_t *p, int i)
{
    const cJSON *c = cJSON_GetArrayItem(calls_of(p), i);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(c, "function"), "arguments");
    assert_true(cJSON_IsString(a));
    cJSON *j = cJSON_Parse(a->valuestring);
    assert_non_null(j);
    return j;
}

static char *call_sql(const llm_plan_t *p, int i)
{
    cJSON *a = call_args(p, i);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(a, "query");
    if (!q)
        q = cJSON_GetObjectItemCaseSensitive(a, "sql");
    assert_true(cJSON_IsString(q));
    char *s = mcp_strdup(q->valuestring);
    cJSON_Delete(a);
    return s;
}

static const char *text_of(const llm_plan_t *p)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(p->message, "content");
    assert_true(cJSON_IsString(c));
    return c->valuestring;
}

/* Append the plan's message and move on. */
static void take(cJSON *messages, llm_plan_t *p)
{
    cJSON_AddItemToArray(messages, p->message);
    p->message = NULL;
}

static void result(cJSON *messages, const char *id, const char *text)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "tool");
    cJSON_AddStringToObject(m, "tool_call_id", id);
    cJSON_AddStringToObject(m, "content", text);
    cJSON_AddItemToArray(messages, m);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected to find [%s] in [%s]", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("did not expect [%s] in [%s]", needle, hay);
}

#define SALES_ROW                                                                               \
    "{\"columns\":[\"product_id\",\"product\",\"orders\",\"units\",\"revenue\"],\"rows\":[{"    \
    "\"product_id\":123,\"product\":\"Deluxe Magic Kit (75 Tricks)\",\"orders\":3,\"units\":7," \
    "\"revenue\":419.93}],\"row_count\":1,\"truncated\":false}"

/* ------------------------------------------------------------------ tool names */

static void test_base_names(void **state)
{
    (void)state;
    struct {
        const char *offered, *base;
    } cases[] = {
        {"read_query", "read_query"},
        {"database.read_query", "read_query"},
        {"db/read_query", "read_query"},
        {"database_read_query", "read_query"},
        {"database__read_query", "read_query"},
        {"my-db-read_query", "read_query"},
        {"database_write_query", "write_query"}, /* not "query" */
        {"postgres_query", "query"},
        {"pg.query", "query"},
        {"query", "query"},
        {"github_search_code", "search_code"},
        {"github.get_file_contents", "get_file_contents"},
        {"a.b.search_code", "search_code"},
        {"unknown_tool", "unknown_tool"},
        {"readquery", "readquery"}, /* no separator: not read_query */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char b[64];
        llm_planner_base_name(cases[i].offered, b, sizeof b);
        if (strcmp(b, cases[i].base) != 0)
            fail_msg("%s: base %s, expected %s", cases[i].offered, b, cases[i].base);
    }
    static const char *const names[] = {"fs_read_file", "database_write_query",
                                        "database.read_query", "github_search_code"};
    cJSON *tools = tools_of(names, 4);
    assert_string_equal(llm_planner_find_tool(tools, "read_query"), "database.read_query");
    assert_string_equal(llm_planner_find_tool(tools, "write_query"), "database_write_query");
    assert_null(llm_planner_find_tool(tools, "query"));
    assert_string_equal(llm_planner_find_tool(tools, "search_code"), "github_search_code");
    assert_null(llm_planner_find_tool(tools, "get_file_contents"));
    cJSON_Delete(tools);
}

static void test_parse_date(void **state)
{
    (void)state;
    int y, m, d;
    assert_int_equal(llm_planner_parse_date("2024-02-29", &y, &m, &d), 0);
    assert_int_equal(y * 10000 + m * 100 + d, 20240229);
    assert_int_equal(llm_planner_parse_date("2025-02-29", &y, &m, &d), MCP_EINVAL);
    assert_int_equal(llm_planner_parse_date("2025-13-01", &y, &m, &d), MCP_EINVAL);
    assert_int_equal(llm_planner_parse_date("2025-1-01", &y, &m, &d), MCP_EINVAL);
    assert_int_equal(llm_planner_parse_date("2025-01-01x", &y, &m, &d), MCP_EINVAL);
    assert_int_equal(llm_planner_parse_date("", &y, &m, &d), MCP_EINVAL);
}

/* ------------------------------------------------------------------ sales */

static void test_sales_question_plans_sql(void **state)
{
    (void)state;
    const char *names[] = {"database_read_query", "database.read_query", "read_query"};
    for (size_t k = 0; k < 3; k++) {
        cJSON *tools = tools_of(&names[k], 1);
        cJSON *m = conv("Show me total sales for abracadabra this month");
        llm_plan_t p = plan(m, tools, &TODAY);
        assert_string_equal(p.finish_reason, "tool_calls");
        assert_string_equal(p.rule, "sql");
        assert_int_equal(cJSON_GetArraySize(calls_of(&p)), 1);
        assert_string_equal(call_name(&p, 0), names[k]);
        assert_string_equal(call_id(&p, 0), "call_1_0");
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p.message, "content")));
        char *sql = call_sql(&p, 0);
        assert_contains(sql, "SELECT ");
        assert_contains(sql, "WHERE p.id IN (123)");
        assert_contains(sql, "s.sale_date >= '2025-06-01' AND s.sale_date < '2025-07-01'");
        assert_contains(sql, "s.status <> 'refunded'");
        mcp_free(sql);
        llm_plan_clear(&p);
        cJSON_Delete(m);
        cJSON_Delete(tools);
    }
}

/* Each time phrase gives its range relative to the injected today. */
static void test_date_ranges(void **state)
{
    (void)state;
    struct {
        const char *question;
        int y, m, d;
        const char *expect;
    } cases[] = {
        {"revenue this month", 2025, 12, 5, "'2025-12-01' AND s.sale_date < '2026-01-01'"},
        {"revenue last month", 2025, 1, 10, "'2024-12-01' AND s.sale_date < '2025-01-01'"},
        {"sales today", 2024, 2, 29, "'2024-02-29' AND s.sale_date < '2024-03-01'"},
        {"sales yesterday", 2024, 3, 1, "'2024-02-29' AND s.sale_date < '2024-03-01'"},
        {"revenue in the last 30 days", 2025, 3, 15, "'2025-02-13' AND s.sale_date < '2025-03-16'"},
        {"sales over the last two months", 2025, 3, 15,
         "'2025-02-01' AND s.sale_date < '2025-04-01'"},
        {"How many orders MTD?", 2025, 6, 15, "'2025-06-01' AND s.sale_date < '2025-07-01'"},
    };
    cJSON *tools = db_tools();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llm_plan_opts_t o = {
            .recover = 1, .today_y = cases[i].y, .today_m = cases[i].m, .today_d = cases[i].d};
        cJSON *m = conv(cases[i].question);
        llm_plan_t p = plan(m, tools, &o);
        char *sql = call_sql(&p, 0);
        assert_contains(sql, cases[i].expect);
        assert_contains(sql, "FROM sales s WHERE"); /* no product: totals */
        mcp_free(sql);
        llm_plan_clear(&p);
        cJSON_Delete(m);
    }
    cJSON_Delete(tools);
}

static void test_aliases_and_products(void **state)
{
    (void)state;
    struct {
        const char *question, *ids;
    } cases[] = {
        {"How many MK-75 did we sell?", "IN (123)"},
        {"sales of the magic kit this month", "IN (123)"},
        {"Compare sales of presto and hocus pocus", "IN (122, 124)"},
        {"revenue for product 117 last month", "IN (117)"},
        {"units sold of the Gearbot Robotics Kit today", "IN (113)"},
        {"ABRACADABRA revenue", "IN (123)"},
    };
    cJSON *tools = db_tools();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *m = conv(cases[i].question);
        llm_plan_t p = plan(m, tools, &TODAY);
        char *sql = call_sql(&p, 0);
        assert_contains(sql, cases[i].ids);
        mcp_free(sql);
        llm_plan_clear(&p);
        cJSON_Delete(m);
    }
    /* No time phrase: no date filter at all. */
    cJSON *m = conv("How many MK-75 did we sell?");
    llm_plan_t p = plan(m, tools, &TODAY);
    char *sql = call_sql(&p, 0);
    assert_lacks(sql, "sale_date");
    mcp_free(sql);
    llm_plan_clear(&p);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

static void test_answer_after_result(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    cJSON *m = conv("Show me total sales for abracadabra this month");
    llm_plan_t p = plan(m, tools, &TODAY);
    take(m, &p);
    result(m, "call_1_0", SALES_ROW);
    p = plan(m, tools, &TODAY);
    assert_string_equal(p.finish_reason, "stop");
    assert_string_equal(p.rule, "answer");
    assert_null(calls_of(&p));
    const char *t = text_of(&p);
    assert_contains(t, "\"abracadabra\" is the codename of product 123, Deluxe Magic Kit");
    assert_contains(t, "this month (2025-06-01 to 2025-06-30)");
    assert_contains(t, "Deluxe Magic Kit (75 Tricks) (product 123): 7 units in 3 orders, "
                       "revenue 419.93 USD");
    assert_contains(t, "Tools used: database_read_query (1 call).");
    assert_lacks(t, "failed");
    llm_plan_clear(&p);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

/* ------------------------------------------------------------------ typo and recovery */

static void test_typo_then_correction(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    llm_plan_opts_t o = TODAY;
    o.typo_first = 1;
    cJSON *m = conv("Show me total sales for abracadabra this month");
    llm_plan_t p = plan(m, tools, &o);
    char *bad = call_sql(&p, 0);
    assert_memory_equal(bad, "SELCT ", 6);
    take(m, &p);
    result(m, "call_1_0", "Database error: near \"SELCT\": syntax error");
    p = plan(m, tools, &o);
    assert_string_equal(p.rule, "recover");
    assert_string_equal(p.finish_reason, "tool_calls");
    assert_string_equal(call_id(&p, 0), "call_1_0-fix1");
    assert_string_equal(call_name(&p, 0), "database_read_query");
    char *good = call_sql(&p, 0);
    assert_memory_equal(good, "SELECT ", 7);
    assert_string_equal(good + 6, bad + 5); /* only the keyword changed */
    /* The typo is only for the turn's first SQL: the correction is not misspelt again. */
    take(m, &p);
    result(m, "call_1_0-fix1", SALES_ROW);
    p = plan(m, tools, &o);
    const char *t = text_of(&p);
    assert_contains(t, "revenue 419.93 USD");
    assert_contains(t, "The first query failed (Database error: near \"SELCT\": syntax error); I "
                       "corrected it ('SELCT' -> 'SELECT') and ran it again.");
    assert_contains(t, "Tools used: database_read_query (2 calls).");
    llm_plan_clear(&p);
    mcp_free(bad);
    mcp_free(good);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

/* A tool message carrying the whole MCP result works like its text. */
static void test_mcp_result_shape(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    llm_plan_opts_t o = TODAY;
    o.typo_first = 1;
    cJSON *m = conv("Show me total sales for abracadabra this month");
    llm_plan_t p = plan(m, tools, &o);
    take(m, &p);
    /* isError without an error-looking text still counts as a failure */
    result(m, "call_1_0",
           "{\"content\":[{\"type\":\"text\",\"text\":\"near \\\"SELCT\\\": syntax "
           "error\"}],\"isError\":true}");
    p = plan(m, tools, &o);
    assert_string_equal(p.rule, "recover");
    take(m, &p);
    cJSON *wrapped = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(wrapped, "content");
    cJSON *part = cJSON_CreateObject();
    cJSON_AddStringToObject(part, "type", "text");
    cJSON_AddStringToObject(part, "text", SALES_ROW);
    cJSON_AddItemToArray(content, part);
    cJSON_AddFalseToObject(wrapped, "isError");
    char *text = cJSON_PrintUnformatted(wrapped);
    result(m, "call_1_0-fix1", text);
    cJSON_free(text);
    cJSON_Delete(wrapped);
    p = plan(m, tools, &o);
    assert_contains(text_of(&p), "revenue 419.93 USD");
    assert_contains(text_of(&p), "The first query failed (near \"SELCT\": syntax error)");
    llm_plan_clear(&p);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

static void test_no_recovery(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    llm_plan_opts_t o = TODAY;
    o.typo_first = 1;
    o.recover = 0;
    cJSON *m = conv("Show me total sales for abracadabra this month");
    llm_plan_t p = plan(m, tools, &o);
    take(m, &p);
    result(m, "call_1_0", "Database error: near \"SELCT\": syntax error");
    p = plan(m, tools, &o);
    assert_string_equal(p.finish_reason, "stop");
    const char *t = text_of(&p);
    assert_contains(t, "I could not answer: database_read_query failed: Database error: near "
                       "\"SELCT\": syntax error.");
    assert_contains(t, "The first query failed");
    llm_plan_clear(&p);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

/* Misspelt columns are corrected from the metadata's schema; a call is corrected at most
 * LLM_PLANNER_MAX_FIXES times. */
static void test_column_fix_and_limit(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    cJSON *m = conv("Show me total sales for abracadabra this month");
    /* An assistant that wrote its own (misspelt) SQL. */
    cJSON *a = cJSON_Parse(
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"x1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"database_read_query\",\"arguments\":"
        "\"{\\\"query\\\":\\\"SELECT SUM(s.quantty) FROM sales s\\\"}\"}}]}");
    cJSON_AddItemToArray(m, a);
    result(m, "x1", "Database error: no such column: s.quantty");
    llm_plan_t p = plan(m, tools, &TODAY);
    assert_string_equal(p.rule, "recover");
    assert_string_equal(call_id(&p, 0), "x1-fix1");
    char *sql = call_sql(&p, 0);
    assert_string_equal(sql, "SELECT SUM(s.quantity) FROM sales s");
    mcp_free(sql);
    take(m, &p);
    /* It still fails for another reason: the question's query is written again. */
    result(m, "x1-fix1", "Error: something else went wrong");
    p = plan(m, tools, &TODAY);
    assert_string_equal(call_id(&p, 0), "x1-fix2");
    sql = call_sql(&p, 0);
    assert_contains(sql, "WHERE p.id IN (123)");
    mcp_free(sql);
    take(m, &p);
    result(m, "x1-fix2", "Error: still failing");
    p = plan(m, tools, &TODAY);
    assert_string_equal(p.finish_reason, "stop");
    const char *t = text_of(&p);
    assert_contains(t, "I could not answer: database_read_query failed: Error: still failing.");
    assert_contains(t, "(3 calls)");
    llm_plan_clear(&p);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

/* ------------------------------------------------------------------ other questions */

static void test_other_db_questions(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    struct {
        const char *question, *tool, *arg_part;
    } cases[] = {
        {"List the tables please", "database_list_tables", "{}"},
        {"Describe the order_items table", "database_describe_table",
         "{\"table_name\":\"order_items\"}"},
        {"What columns does orders have?", "database_describe_table",
         "{\"table_name\":\"orders\"}"},
        {"Which products are below their reorder point?", "database_read_query",
         "i.on_hand < i.reorder_point"},
        {"Who were our top 3 customers last month?", "database_read_query",
         "o.order_date >= '2025-05-01' AND o.order_date < '2025-06-01' GROUP BY c.id, c.name "
         "ORDER BY revenue DESC LIMIT 3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *m = conv(cases[i].question);
        llm_plan_t p = plan(m, tools, &TODAY);
        assert_string_equal(call_name(&p, 0), cases[i].tool);
        cJSON *args = call_args(&p, 0);
        char *a = cJSON_PrintUnformatted(args);
        assert_contains(a, cases[i].arg_part);
        cJSON_free(a);
        cJSON_Delete(args);
        take(m, &p);
        result(m, "call_1_0",
               "{\"columns\":[\"name\"],\"rows\":[{\"name\":\"x\"}],\"row_count\":1}");
        p = plan(m, tools, &TODAY);
        assert_string_equal(p.finish_reason, "stop");
        assert_contains(text_of(&p), "1 row: name=x");
        llm_plan_clear(&p);
        cJSON_Delete(m);
    }
    cJSON_Delete(tools);
}

/* The Postgres server's `query` takes {"sql"}; execute_query is used when nothing else is. */
static void test_sql_tool_choice(void **state)
{
    (void)state;
    const char *pg[] = {"postgres_query", "database_write_query"};
    cJSON *tools = tools_of(pg, 2);
    cJSON *m = conv("revenue today");
    llm_plan_t p = plan(m, tools, &TODAY);
    assert_string_equal(call_name(&p, 0), "postgres_query");
    cJSON *args = call_args(&p, 0);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(args, "sql"));
    cJSON_Delete(args);
    llm_plan_clear(&p);
    cJSON_Delete(tools);
    const char *legacy[] = {"db.execute_query"};
    tools = tools_of(legacy, 1);
    p = plan(m, tools, &TODAY);
    assert_string_equal(call_name(&p, 0), "db.execute_query");
    llm_plan_clear(&p);
    cJSON_Delete(tools);
    cJSON_Delete(m);
}

/* ------------------------------------------------------------------ github */

static char *b64(const char *s)
{
    static const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), o = 0;
    char *out = mcp_malloc(n * 4 / 3 + 8);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (uint32_t)(unsigned char)s[i + 2];
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

#define SEARCH_RESULT                                                                           \
    "{\"total_count\":13,\"incomplete_results\":false,\"items\":["                              \
    "{\"name\":\"a.sql\",\"path\":\"queries/a.sql\",\"repository\":{\"full_name\":\"kt/sa\"}}," \
    "{\"name\":\"b.sql\",\"path\":\"queries/b.sql\",\"repository\":{\"full_name\":\"kt/sa\"}}," \
    "{\"name\":\"c.sql\",\"path\":\"c.sql\",\"repository\":{\"full_name\":\"mo/snips\"}}]}"

static void file_result(cJSON *m, const char *id, const char *sql)
{
    char *enc = b64(sql);
    char *json =
        mcp_asprintf("{\"name\":\"f.sql\",\"encoding\":\"base64\",\"content\":\"%s\"}", enc);
    result(m, id, json);
    mcp_free(json);
    mcp_free(enc);
}

static void test_github_workflow(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    llm_plan_opts_t o = TODAY;
    o.typo_first = 1;
    cJSON *m = conv("Search GitHub for database queries and run them");
    /* 1: search_code */
    llm_plan_t p = plan(m, tools, &o);
    assert_string_equal(call_name(&p, 0), "github_search_code");
    cJSON *args = call_args(&p, 0);
    assert_string_equal(cJSON_GetObjectItem(args, "query")->valuestring, "extension:sql");
    cJSON_Delete(args);
    take(m, &p);
    result(m, "call_1_0", SEARCH_RESULT);
    /* 2: every hit read, in parallel */
    p = plan(m, tools, &o);
    assert_string_equal(p.rule, "get_file_contents");
    assert_int_equal(cJSON_GetArraySize(calls_of(&p)), 3);
    args = call_args(&p, 2);
    char *a = cJSON_PrintUnformatted(args);
    assert_string_equal(a, "{\"owner\":\"mo\",\"repo\":\"snips\",\"path\":\"c.sql\"}");
    cJSON_free(a);
    cJSON_Delete(args);
    assert_string_equal(call_id(&p, 1), "call_2_1");
    take(m, &p);
    file_result(m, "call_2_0", "SELECT 1 AS one;\n");
    result(m, "call_2_1", "Error: 404 Not Found");
    file_result(m, "call_2_2", "SELECT 2 AS two;\n");
    /* 3: the SQL of each file that could be read, the first with the typo */
    p = plan(m, tools, &o);
    assert_string_equal(p.rule, "sql");
    assert_int_equal(cJSON_GetArraySize(calls_of(&p)), 2);
    assert_string_equal(call_name(&p, 0), "database_read_query");
    assert_string_equal(call_id(&p, 0), "call_2_0-run");
    assert_string_equal(call_id(&p, 1), "call_2_2-run");
    char *sql = call_sql(&p, 0);
    assert_string_equal(sql, "SELCT 1 AS one;\n");
    mcp_free(sql);
    sql = call_sql(&p, 1);
    assert_string_equal(sql, "SELECT 2 AS two;\n");
    mcp_free(sql);
    take(m, &p);
    result(m, "call_2_0-run", "Database error: near \"SELCT\": syntax error");
    result(m, "call_2_2-run", "{\"columns\":[\"two\"],\"rows\":[{\"two\":2}],\"row_count\":1}");
    /* 4: the failed one corrected */
    p = plan(m, tools, &o);
    assert_string_equal(p.rule, "recover");
    assert_int_equal(cJSON_GetArraySize(calls_of(&p)), 1);
    assert_string_equal(call_id(&p, 0), "call_2_0-run-fix1");
    sql = call_sql(&p, 0);
    assert_string_equal(sql, "SELECT 1 AS one;\n");
    mcp_free(sql);
    take(m, &p);
    result(m, "call_2_0-run-fix1",
           "{\"columns\":[\"one\"],\"rows\":[{\"one\":1}],\"row_count\":1}");
    /* 5: the answer */
    p = plan(m, tools, &o);
    assert_string_equal(p.finish_reason, "stop");
    const char *t = text_of(&p);
    assert_contains(t, "I searched GitHub code for \"extension:sql\" (13 files found), read 3 "
                       "files and ran 2 queries on the database (2 succeeded):");
    assert_contains(t, "1. kt/sa queries/a.sql: 1 row: one=1");
    assert_contains(t, "2. kt/sa queries/b.sql: could not be read (Error: 404 Not Found)");
    assert_contains(t, "3. mo/snips c.sql: 1 row: two=2");
    assert_contains(t, "corrected it ('SELCT' -> 'SELECT')");
    assert_contains(t, "Tools used: github_search_code (1 call), github_get_file_contents (3 "
                       "calls), database_read_query (3 calls).");
    llm_plan_clear(&p);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

static void test_github_max_files_and_alias_terms(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    llm_plan_opts_t o = TODAY;
    o.max_files = 2;
    cJSON *m = conv("Find SQL about abracadabra on GitHub and execute it");
    llm_plan_t p = plan(m, tools, &o);
    cJSON *args = call_args(&p, 0);
    assert_string_equal(cJSON_GetObjectItem(args, "query")->valuestring,
                        "extension:sql abracadabra");
    cJSON_Delete(args);
    take(m, &p);
    result(m, "call_1_0", SEARCH_RESULT);
    p = plan(m, tools, &o);
    assert_int_equal(cJSON_GetArraySize(calls_of(&p)), 2);
    llm_plan_clear(&p);
    cJSON_Delete(m);
    /* A failed search is reported. */
    m = conv("Search GitHub for SQL queries and run them");
    p = plan(m, tools, &o);
    take(m, &p);
    result(m, "call_1_0", "Error: API rate limit exceeded");
    p = plan(m, tools, &o);
    assert_contains(text_of(&p), "The GitHub search failed: Error: API rate limit exceeded.");
    llm_plan_clear(&p);
    cJSON_Delete(m);
    /* Search only: list the hits. */
    m = conv("Search GitHub code for SQL files");
    p = plan(m, tools, &o);
    assert_string_equal(call_name(&p, 0), "github_search_code");
    take(m, &p);
    result(m, "call_1_0", SEARCH_RESULT);
    p = plan(m, tools, &o);
    assert_contains(text_of(&p), "GitHub search search_code for \"extension:sql\": 13 results\n"
                                 "- kt/sa: queries/a.sql\n- kt/sa: queries/b.sql");
    llm_plan_clear(&p);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

/* ------------------------------------------------------------------ text, missing tools */

static void test_text_answers(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    cJSON *m = conv("Hello there");
    llm_plan_t p = plan(m, tools, &TODAY);
    assert_string_equal(p.finish_reason, "stop");
    assert_string_equal(p.rule, "text");
    assert_contains(text_of(&p), "Hello! I am the mcp-mock planner.");
    assert_contains(text_of(&p), "5 tools were offered.");
    llm_plan_clear(&p);
    cJSON_Delete(m);
    /* No tools: a sales question cannot be answered. */
    m = conv("Show me total sales for abracadabra this month");
    p = plan(m, NULL, &TODAY);
    assert_string_equal(p.rule, "missing_tool");
    assert_contains(text_of(&p), "I would need a database query tool (read_query, query or "
                                 "execute_query) to answer this");
    llm_plan_clear(&p);
    /* tool_choice none: the same. */
    llm_plan_opts_t o = TODAY;
    o.tool_choice_none = 1;
    p = plan(m, tools, &o);
    assert_string_equal(p.finish_reason, "stop");
    llm_plan_clear(&p);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

/* The product-metadata resource passed in the conversation replaces the built-in one. */
static void test_metadata_override(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    cJSON *m = cJSON_CreateArray();
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "role", "system");
    cJSON_AddStringToObject(
        res, "content",
        "{\"aliases\":[{\"alias\":\"zebra\",\"product_id\":777,\"product_name\":\"Zebra Toy\","
        "\"kind\":\"nickname\"}],\"dates\":{\"this_month\":{\"phrases\":[\"this month\"]}}}");
    cJSON_AddItemToArray(m, res);
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", "sales of zebra this month");
    cJSON_AddItemToArray(m, u);
    llm_plan_t p = plan(m, tools, &TODAY);
    char *sql = call_sql(&p, 0);
    assert_contains(sql, "IN (777)");
    mcp_free(sql);
    llm_plan_clear(&p);
    cJSON_Delete(m);
    /* Without it, zebra is unknown: a sales total for the month. */
    m = conv("sales of zebra this month");
    p = plan(m, tools, &TODAY);
    sql = call_sql(&p, 0);
    assert_lacks(sql, "777");
    mcp_free(sql);
    llm_plan_clear(&p);
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

/* ------------------------------------------------------------------ bad input */

static void expect_invalid(const char *messages_json, const char *tools_json, const char *needle)
{
    cJSON *m = cJSON_Parse(messages_json);
    cJSON *t = tools_json ? cJSON_Parse(tools_json) : NULL;
    llm_plan_t p;
    char err[256] = "";
    int rc = llm_planner_plan(P, m, t, &TODAY, &p, err, sizeof err);
    if (rc != MCP_EINVAL)
        fail_msg("%s: rc %d (%s)", messages_json, rc, err);
    assert_null(p.message);
    assert_contains(err, needle);
    cJSON_Delete(m);
    cJSON_Delete(t);
}

static void test_invalid_conversations(void **state)
{
    (void)state;
    expect_invalid("{}", NULL, "messages: expected a non-empty array");
    expect_invalid("[]", NULL, "messages: expected a non-empty array");
    expect_invalid("[1]", NULL, "messages[0]: expected an object with a string \"role\"");
    expect_invalid("[{\"role\":\"robot\",\"content\":\"x\"}]", NULL,
                   "messages[0].role: 'robot' is not one of");
    expect_invalid("[{\"role\":\"system\",\"content\":\"x\"}]", NULL, "no user message");
    expect_invalid("[{\"role\":\"user\"}]", NULL, "the user message has no text");
    expect_invalid("[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"tool\",\"content\":\"r\"}]",
                   NULL, "a tool message needs a string tool_call_id");
    expect_invalid("[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"tool\",\"tool_call_id\":"
                   "\"nope\",\"content\":\"r\"}]",
                   NULL, "tool_call_id 'nope' answers no earlier assistant tool call");
    expect_invalid("[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
                   "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":"
                   "\"x\",\"arguments\":\"{}\"}}]}]",
                   NULL, "tool call 'a' has no tool message");
    expect_invalid("[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
                   "\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"x\"}}]},{\"role\":"
                   "\"user\",\"content\":\"again\"}]",
                   NULL, "messages[2]: the assistant's tool call 'a' has no tool message");
    expect_invalid("[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\","
                   "\"tool_calls\":[{\"type\":\"function\"}]}]",
                   NULL, "messages[1].tool_calls[0]: needs a string \"id\"");
    expect_invalid("[{\"role\":\"user\",\"content\":\"q\"}]", "{}", "tools: expected an array");
    expect_invalid("[{\"role\":\"user\",\"content\":\"q\"}]", "[{\"type\":\"function\"}]",
                   "tools[0]: expected");
    /* Content as an array of parts is fine. */
    cJSON *m = cJSON_Parse("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                           "\"revenue\"},{\"type\":\"text\",\"text\":\"today\"}]}]");
    cJSON *tools = db_tools();
    llm_plan_t p = plan(m, tools, &TODAY);
    assert_string_equal(call_name(&p, 0), "database_read_query");
    llm_plan_clear(&p);
    cJSON_Delete(tools);
    cJSON_Delete(m);
}

static void test_bad_metadata(void **state)
{
    (void)state;
    llm_planner_t *x = NULL;
    char err[256] = "";
    assert_int_equal(llm_planner_new("{", &x, err, sizeof err), MCP_EPARSE);
    assert_string_equal(err, "metadata: not valid JSON");
    assert_int_equal(llm_planner_new("[]", &x, err, sizeof err), MCP_EINVAL);
    assert_int_equal(llm_planner_new("{\"aliases\":{}}", &x, err, sizeof err), MCP_EINVAL);
    assert_string_equal(err, "metadata: \"aliases\" must be an array");
    assert_int_equal(llm_planner_new("{\"aliases\":[{\"alias\":\"a\"}]}", &x, err, sizeof err),
                     MCP_EINVAL);
    assert_contains(err, "aliases[0] needs");
    assert_int_equal(llm_planner_new("{\"dates\":{\"d\":{\"phrases\":[1]}}}", &x, err, sizeof err),
                     MCP_EINVAL);
    assert_null(x);
    assert_int_equal(llm_planner_new("{}", &x, err, sizeof err), 0);
    llm_planner_free(x);
}

/* Every allocation failure gives MCP_ENOMEM (or a full plan) and leaks nothing. */
static void test_allocation_failures(void **state)
{
    (void)state;
    cJSON *tools = db_tools();
    llm_plan_opts_t o = TODAY;
    o.typo_first = 1;
    cJSON *m = conv("Show me total sales for abracadabra this month");
    llm_plan_t p = plan(m, tools, &o);
    take(m, &p);
    result(m, "call_1_0", "Database error: near \"SELCT\": syntax error");
    int ok = 0, failed = 0;
    for (long n = 0; n < 5000 && !ok; n++) {
        char err[256];
        mcp_alloc_fail_after(n);
        int rc = llm_planner_plan(P, m, tools, &o, &p, err, sizeof err);
        long failures = mcp_alloc_failures();
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            ok = failures == 0;
            llm_plan_clear(&p);
        } else {
            assert_int_equal(rc, MCP_ENOMEM);
            failed++;
        }
    }
    assert_true(ok);
    assert_true(failed > 5);
    for (long n = 0; n < 2000; n++) {
        llm_planner_t *x = NULL;
        char err[256];
        mcp_alloc_fail_after(n);
        int rc = llm_planner_new(NULL, &x, err, sizeof err);
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            llm_planner_free(x);
            break;
        }
        assert_int_equal(rc, MCP_ENOMEM);
    }
    cJSON_Delete(m);
    cJSON_Delete(tools);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_names),
        cmocka_unit_test(test_parse_date),
        cmocka_unit_test(test_sales_question_plans_sql),
        cmocka_unit_test(test_date_ranges),
        cmocka_unit_test(test_aliases_and_products),
        cmocka_unit_test(test_answer_after_result),
        cmocka_unit_test(test_typo_then_correction),
        cmocka_unit_test(test_mcp_result_shape),
        cmocka_unit_test(test_no_recovery),
        cmocka_unit_test(test_column_fix_and_limit),
        cmocka_unit_test(test_other_db_questions),
        cmocka_unit_test(test_sql_tool_choice),
        cmocka_unit_test(test_github_workflow),
        cmocka_unit_test(test_github_max_files_and_alias_terms),
        cmocka_unit_test(test_text_answers),
        cmocka_unit_test(test_metadata_override),
        cmocka_unit_test(test_invalid_conversations),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
