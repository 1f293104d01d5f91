/* The github mock kind, driven in process through the loopback transport: every tool's success
 * and error paths, search qualifiers, pagination, read-only refusals, writes changing state,
 * the rate-limit result for the fault layer, --fixtures, and the "search GitHub for SQL, run it
 * on the database" workflow against the database kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kind_github.h"
#include "kind_test_client.h"

#include "alloc.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SA       "\"owner\":\"kestrel-toys\",\"repo\":\"sales-analytics\""
#define SNIPPETS "\"owner\":\"mira-okafor\",\"repo\":\"sql-snippets\""
#define API      "https://api.github.com"
#define RO_NOTE  " (mcp-mock github is read-only: start it with --writable to allow writes)"

static void open_gh(ktc_t *t, int writable)
{
    mock_options_t opts = {.writable = writable};
    char err[256] = "";
    memset(t, 0, sizeof *t);
    if (ktc_open(t, &mock_kind_github, &opts, err, sizeof err) != 0)
        fail_msg("setup failed: %s", err);
}

/* Call, parse, and build "args" from a fragment: gh(t, "get_issue", SA ",\"issue_number\":5"). */
static cJSON *gh(ktc_t *t, const char *tool, const char *fragment)
{
    char args[2048];
    snprintf(args, sizeof args, "{%s}", fragment ? fragment : "");
    return ktc_call_json(t, tool, args);
}

static void gh_err(ktc_t *t, const char *tool, const char *fragment, const char *expected)
{
    char args[2048];
    snprintf(args, sizeof args, "{%s}", fragment ? fragment : "");
    ktc_expect_error(t, tool, args, expected);
}

static int count(const cJSON *arr)
{
    return cJSON_GetArraySize(arr);
}

static const char *sget(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v))
        fail_msg("\"%s\" is not a string", key);
    return v->valuestring;
}

static double nget(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        fail_msg("\"%s\" is not a number", key);
    return v->valuedouble;
}

static const cJSON *items(const cJSON *search)
{
    return cJSON_GetObjectItemCaseSensitive(search, "items");
}

/* "a,b,c" of one string field over an array. */
static char *join(const cJSON *arr, const char *key)
{
    static char out[4096];
    out[0] = '\0';
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, key);
        char one[256];
        if (cJSON_IsString(v))
            snprintf(one, sizeof one, "%s", v->valuestring);
        else
            snprintf(one, sizeof one, "%.0f", cJSON_GetNumberValue(v));
        if (out[0])
            strcat(out, ",");
        strcat(out, one);
    }
    return out;
}

static char *unbase64(const char *in)
{
    static const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    char *out = mcp_malloc(n + 1);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = strchr(alpha, in[i]);
        if (in[i] == '=' || in[i] == '\n')
            continue;
        assert_non_null(p);
        acc = (acc << 6) | (uint32_t)(p - alpha);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- surface and users ---- */

static void test_surface_and_users(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 0);
    assert_string_equal(sget(mcp_client_server_info(t.client), "name"), "github-mcp-server");
    cJSON *list = ktc_request(&t, "tools/list", NULL, NULL);
    const cJSON *tools = cJSON_GetObjectItem(list, "tools");
    assert_int_equal(count(tools), 21);
    assert_string_equal(join(tools, "name"),
                        "get_me,search_repositories,get_file_contents,list_issues,get_issue,"
                        "create_issue,update_issue,add_issue_comment,get_issue_comments,"
                        "search_issues,search_code,list_pull_requests,get_pull_request,"
                        "create_pull_request,list_commits,get_commit,list_branches,create_branch,"
                        "create_or_update_file,push_files,search_users");
    cJSON_Delete(list);

    cJSON *me = gh(&t, "get_me", NULL);
    assert_string_equal(sget(me, "login"), "mira-okafor");
    assert_true(nget(me, "id") == 40917263);
    assert_string_equal(sget(me, "node_id"), "MDQ6VXNlcjQwOTE3MjYz"); /* "04:User40917263" */
    assert_string_equal(sget(me, "name"), "Mira Okafor");
    assert_string_equal(sget(me, "html_url"), "https://github.com/mira-okafor");
    assert_string_equal(sget(me, "type"), "User");
    cJSON_Delete(me);

    /* search_users: scoped to people (the organisation never shows), qualifiers, sorting. */
    cJSON *r = gh(&t, "search_users", "\"query\":\"location:portland\"");
    assert_string_equal(join(items(r), "login"), "mira-okafor");
    assert_true(nget(r, "total_count") == 1);
    cJSON_Delete(r);
    r = gh(&t, "search_users", "\"query\":\"kestrel\"");
    assert_true(nget(r, "total_count") == 0);
    cJSON_Delete(r);
    r = gh(&t, "search_users", "\"query\":\"followers:>10\",\"sort\":\"followers\"");
    assert_string_equal(join(items(r), "login"), "tlindqvist,mira-okafor");
    cJSON_Delete(r);
    r = gh(&t, "search_users", "\"query\":\"rao in:login\"");
    assert_string_equal(join(items(r), "login"), "devika-rao");
    cJSON_Delete(r);
    r = gh(&t, "search_users", "\"query\":\"-location:portland\",\"perPage\":1,\"page\":2");
    assert_true(nget(r, "total_count") == 2);
    assert_string_equal(join(items(r), "login"), "devika-rao");
    cJSON_Delete(r);
    gh_err(&t, "search_users", "\"query\":\"colour:blue\"",
           "failed to search users: GET " API "/search/users?q=colour:blue: 422 Validation "
           "Failed []");
    gh_err(&t, "search_users", NULL, "missing required parameter: query");
    gh_err(&t, "search_users", "\"query\":\"\"", "missing required parameter: query");
    gh_err(&t, "search_users", "\"query\":7", "parameter query is not of type string, is float64");
    ktc_close(&t);
}

/* ---- repositories ---- */

static void test_search_repositories(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 0);
    cJSON *r = gh(&t, "search_repositories", "\"query\":\"topic:sql\"");
    assert_string_equal(join(items(r), "full_name"),
                        "kestrel-toys/sales-analytics,mira-okafor/sql-snippets");
    /* minimal output by default: no owner object */
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(items(r), 0), "owner"));
    cJSON_Delete(r);
    r = gh(&t, "search_repositories", "\"query\":\"language:go\",\"minimal_output\":false");
    assert_string_equal(join(items(r), "full_name"), "kestrel-toys/inventory-service");
    const cJSON *full = cJSON_GetArrayItem(items(r), 0);
    assert_string_equal(sget(cJSON_GetObjectItem(full, "owner"), "login"), "kestrel-toys");
    assert_string_equal(sget(full, "visibility"), "private");
    assert_string_equal(sget(full, "url"), API "/repos/kestrel-toys/inventory-service");
    cJSON_Delete(r);
    r = gh(&t, "search_repositories", "\"query\":\"is:public stars:>40\"");
    assert_string_equal(join(items(r), "full_name"), "kestrel-toys/storefront,tlindqvist/tiny-kv");
    cJSON_Delete(r);
    r = gh(&t, "search_repositories", "\"query\":\"org:kestrel-toys sqlite\"");
    assert_string_equal(join(items(r), "full_name"),
                        "kestrel-toys/sales-analytics,kestrel-toys/inventory-service");
    cJSON_Delete(r);
    r = gh(&t, "search_repositories", "\"query\":\"user:tlindqvist OR user:mira-okafor\"");
    assert_string_equal(join(items(r), "full_name"), "mira-okafor/sql-snippets,tlindqvist/tiny-kv");
    cJSON_Delete(r);
    r = gh(&t, "search_repositories", "\"query\":\"hash in:name\"");
    assert_true(nget(r, "total_count") == 0);
    cJSON_Delete(r);
    r = gh(&t, "search_repositories", "\"query\":\"hash in:description,topics\"");
    assert_string_equal(join(items(r), "full_name"), "tlindqvist/tiny-kv");
    cJSON_Delete(r);
    r = gh(&t, "search_repositories", "\"query\":\"stars:3..12 is:private\"");
    assert_string_equal(join(items(r), "full_name"),
                        "kestrel-toys/sales-analytics,kestrel-toys/inventory-service,"
                        "kestrel-toys/product-catalog");
    cJSON_Delete(r);
    r = gh(&t, "search_repositories", "\"query\":\"repo:kestrel-toys/STOREFRONT\"");
    assert_string_equal(join(items(r), "full_name"), "kestrel-toys/storefront");
    cJSON_Delete(r);
    gh_err(&t, "search_repositories", "\"query\":\"size:>5\"",
           "failed to search repositories: GET " API "/search/repositories?q=size:>5: 422 "
           "Validation Failed []");
    gh_err(&t, "search_repositories", "\"query\":\"x\",\"minimal_output\":\"no\"",
           "parameter minimal_output is not of type bool, is string");
    ktc_close(&t);
}

/* ---- search_code and pagination ---- */

static void test_search_code(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 0);
    cJSON *r = gh(&t, "search_code", "\"query\":\"extension:sql\"");
    assert_true(nget(r, "total_count") == 13);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "incomplete_results")));
    const cJSON *it;
    cJSON_ArrayForEach(it, items(r))
    {
        const char *path = sget(it, "path");
        assert_string_equal(path + strlen(path) - 4, ".sql");
    }
    const cJSON *first = cJSON_GetArrayItem(items(r), 0);
    assert_string_equal(sget(first, "name"), "daily_revenue_this_month.sql");
    assert_string_equal(sget(first, "path"), "queries/daily_revenue_this_month.sql");
    assert_string_equal(sget(first, "sha"), "d28f81441c241c1e9165c40795ecf1479c931646");
    assert_string_equal(sget(cJSON_GetObjectItem(first, "repository"), "full_name"),
                        "kestrel-toys/sales-analytics");
    cJSON_Delete(r);

    struct {
        const char *query;
        int total;
    } cases[] = {
        {"language:sql", 13},
        {"language:SQL", 13},
        {"extension:.sql", 13},
        {"repo:mira-okafor/sql-snippets extension:sql", 5},
        {"org:kestrel-toys extension:sql", 8},
        {"user:mira-okafor language:sql", 5},
        {"-repo:mira-okafor/sql-snippets language:sql", 8},
        {"language:sql NOT repo:mira-okafor/sql-snippets", 8},
        {"path:queries extension:sql", 8},
        {"path:internal/store/queries language:sql", 3},
        {"path:queries/*.sql", 5},
        {"filename:low_stock.sql", 1},
        {"language:sql abracadabra", 2},
        {"\"product_aliases WHERE alias\" language:sql", 1},
        {"language:go", 2},
        {"language:python OR language:go", 4},
        {"language:sql -abracadabra", 11},
        {"weekly in:path", 1},
        {"language:sql is:public", 5},
        {"nothing-matches-this", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "query", cases[i].query);
        char *a = cJSON_PrintUnformatted(args);
        r = ktc_call_json(&t, "search_code", a);
        cJSON_free(a);
        cJSON_Delete(args);
        if (nget(r, "total_count") != cases[i].total)
            fail_msg("search_code %s: %.0f results, expected %d", cases[i].query,
                     nget(r, "total_count"), cases[i].total);
        cJSON_Delete(r);
    }

    /* page/perPage: GitHub's defaults (30), cut at 100, pages past the end are empty. */
    r = gh(&t, "search_code", "\"query\":\"extension:sql\",\"perPage\":5,\"page\":3");
    assert_true(nget(r, "total_count") == 13);
    assert_int_equal(count(items(r)), 3);
    assert_string_equal(join(items(r), "name"), "repeat_customers.sql,abracadabra_this_month.sql,"
                                                "cancellation_rate_by_month.sql");
    cJSON_Delete(r);
    r = gh(&t, "search_code", "\"query\":\"extension:sql\",\"perPage\":5,\"page\":9");
    assert_int_equal(count(items(r)), 0);
    cJSON_Delete(r);
    r = gh(&t, "search_code", "\"query\":\"in:file e\",\"perPage\":500");
    assert_true(nget(r, "total_count") > 30);
    assert_int_equal(count(items(r)), (int)nget(r, "total_count"));
    cJSON_Delete(r);
    r = gh(&t, "search_code", "\"query\":\"in:file e\"");
    assert_int_equal(count(items(r)), 30);
    cJSON_Delete(r);
    gh_err(&t, "search_code", "\"query\":\"x\",\"perPage\":0", "invalid perPage: 0 (1 to 100)");
    gh_err(&t, "search_code", "\"query\":\"x\",\"page\":0", "invalid page: 0 (pages start at 1)");
    gh_err(&t, "search_code", "\"query\":\"x\",\"page\":\"2\"",
           "parameter page is not of type number, is string");
    gh_err(&t, "search_code", "\"query\":\"x\",\"page\":1.5",
           "parameter page is not an integer: 1.5");
    gh_err(&t, "search_code", "\"query\":\"stars:>3\"",
           "failed to search code: GET " API "/search/code?q=stars:>3: 422 Validation Failed []");
    gh_err(&t, "search_code", "\"query\":\"   \"",
           "failed to search code: GET " API "/search/code?q=   : 422 Validation Failed []");
    gh_err(&t, "search_code", "\"query\":[]",
           "parameter query is not of type string, is []interface {}");
    ktc_close(&t);
}

/* The workflow of the issue: find SQL on GitHub, read it, run it on the database. */
static void test_sql_workflow_with_database(void **state)
{
    (void)state;
    ktc_t g, d;
    open_gh(&g, 0);
    mock_options_t dopts = {0};
    char err[256] = "";
    memset(&d, 0, sizeof d);
    assert_int_equal(ktc_open(&d, &mock_kind_database, &dopts, err, sizeof err), 0);
    cJSON *r = gh(&g, "search_code", "\"query\":\"language:sql\",\"perPage\":100");
    assert_int_equal(count(items(r)), 13);
    int ran = 0, abracadabra_rows = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, items(r))
    {
        const cJSON *repo = cJSON_GetObjectItem(it, "repository");
        const char *full = sget(repo, "full_name");
        char frag[600];
        snprintf(frag, sizeof frag, "\"owner\":\"%.*s\",\"repo\":\"%s\",\"path\":\"%s\"",
                 (int)(strchr(full, '/') - full), full, strchr(full, '/') + 1, sget(it, "path"));
        cJSON *file = gh(&g, "get_file_contents", frag);
        assert_string_equal(sget(file, "encoding"), "base64");
        assert_string_equal(sget(file, "sha"), sget(it, "sha"));
        char *sql = unbase64(sget(file, "content"));
        assert_int_equal((int)strlen(sql), (int)nget(file, "size"));
        assert_memory_equal(sql, "SELECT", 6);
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "query", sql);
        char *a = cJSON_PrintUnformatted(args);
        cJSON *rows = ktc_call_json(&d, "read_query", a);
        if (strstr(sget(it, "path"), "abracadabra_this_month"))
            abracadabra_rows = (int)nget(rows, "row_count");
        ran++;
        cJSON_Delete(rows);
        cJSON_free(a);
        cJSON_Delete(args);
        mcp_free(sql);
        cJSON_Delete(file);
    }
    assert_int_equal(ran, 13);
    assert_int_equal(abracadabra_rows, 1); /* product 123 sold this month */
    cJSON_Delete(r);
    ktc_close(&d);
    ktc_close(&g);
}

/* ---- get_file_contents ---- */

static void test_get_file_contents(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 0);
    cJSON *f = gh(&t, "get_file_contents", SNIPPETS ",\"path\":\"aliases/resolve_alias.sql\"");
    assert_string_equal(sget(f, "type"), "file");
    assert_string_equal(sget(f, "name"), "resolve_alias.sql");
    assert_string_equal(sget(f, "sha"), "81c467276e5c29a9f9e3879389dba5a0286eedc0");
    assert_string_equal(sget(f, "html_url"),
                        "https://github.com/mira-okafor/sql-snippets/blob/main/aliases/"
                        "resolve_alias.sql");
    assert_string_equal(sget(f, "download_url"),
                        "https://raw.githubusercontent.com/mira-okafor/sql-snippets/main/aliases/"
                        "resolve_alias.sql");
    char *text = unbase64(sget(f, "content"));
    assert_non_null(strstr(text, "product_aliases"));
    mcp_free(text);
    cJSON_Delete(f);

    /* Directories: the root (default path "/"), with and without a trailing slash. */
    cJSON *d = gh(&t, "get_file_contents", SNIPPETS);
    assert_string_equal(join(d, "name"), "LICENSE,README.md,aliases,customers,sales");
    assert_string_equal(join(d, "type"), "file,file,dir,dir,dir");
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 0), "content"));
    cJSON_Delete(d);
    d = gh(&t, "get_file_contents", SNIPPETS ",\"path\":\"/\"");
    assert_int_equal(count(d), 5);
    cJSON_Delete(d);
    d = gh(&t, "get_file_contents", SA ",\"path\":\"queries/\"");
    assert_string_equal(join(d, "name"),
                        "daily_revenue_this_month.sql,month_over_month_by_category.sql,"
                        "monthly_sales_by_product.sql,revenue_by_category_this_month.sql,"
                        "top_customers.sql");
    cJSON_Delete(d);
    d = gh(&t, "get_file_contents",
           "\"owner\":\"kestrel-toys\",\"repo\":\"inventory-service\","
           "\"path\":\"internal\"");
    assert_string_equal(join(d, "path"), "internal/store");
    assert_string_equal(join(d, "type"), "dir");
    cJSON_Delete(d);

    /* Branches: refs/heads/x, a plain branch name, refs/pull/N/head, a commit SHA. */
    const char *weekly = ",\"path\":\"queries/weekly_revenue.sql\"";
    char frag[400];
    snprintf(frag, sizeof frag, SA "%s", weekly);
    gh_err(&t, "get_file_contents", frag,
           "failed to get file contents: GET " API "/repos/kestrel-toys/sales-analytics/contents/"
           "queries/weekly_revenue.sql?ref=main: 404 Not Found []");
    const char *refs[] = {"\"ref\":\"refs/heads/feature/weekly-rollup\"",
                          "\"ref\":\"feature/weekly-rollup\"", "\"ref\":\"refs/pull/4/head\"",
                          "\"sha\":\"6cf852796234185d07d9fb517b7f26b94cb304c0\"",
                          "\"sha\":\"6cf8527\""};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        snprintf(frag, sizeof frag, SA "%s,%s", weekly, refs[i]);
        f = gh(&t, "get_file_contents", frag);
        assert_string_equal(sget(f, "path"), "queries/weekly_revenue.sql");
        assert_non_null(strstr(sget(f, "url"), "?ref=feature/weekly-rollup"));
        cJSON_Delete(f);
    }
    /* Files the branch did not change are the default branch's. */
    d = gh(&t, "get_file_contents", SA ",\"path\":\"queries\",\"ref\":\"feature/weekly-rollup\"");
    assert_int_equal(count(d), 6);
    cJSON_Delete(d);

    gh_err(&t, "get_file_contents", SA ",\"path\":\"nope.txt\"",
           "failed to get file contents: GET " API "/repos/kestrel-toys/sales-analytics/contents/"
           "nope.txt?ref=main: 404 Not Found []");
    gh_err(&t, "get_file_contents", SA ",\"path\":\"README.md/\"",
           "failed to get file contents: GET " API "/repos/kestrel-toys/sales-analytics/contents/"
           "README.md?ref=main: 404 Not Found []");
    gh_err(&t, "get_file_contents", SA ",\"ref\":\"refs/tags/v1\"",
           "failed to get file contents: GET " API "/repos/kestrel-toys/sales-analytics/contents/"
           "?ref=refs/tags/v1: 404 No commit found for the ref []");
    gh_err(&t, "get_file_contents", SA ",\"sha\":\"abcdef1234\"",
           "failed to get file contents: GET " API "/repos/kestrel-toys/sales-analytics/contents/"
           "?ref=abcdef1234: 404 No commit found for the ref []");
    gh_err(&t, "get_file_contents", "\"owner\":\"kestrel-toys\",\"repo\":\"nope\"",
           "failed to get file contents: GET " API "/repos/kestrel-toys/nope/contents/: 404 Not "
           "Found []");
    gh_err(&t, "get_file_contents", "\"repo\":\"x\"", "missing required parameter: owner");
    gh_err(&t, "get_file_contents", "\"owner\":\"x\"", "missing required parameter: repo");
    gh_err(&t, "get_file_contents", "\"owner\":1,\"repo\":\"x\"",
           "parameter owner is not of type string, is float64");
    gh_err(&t, "get_file_contents", SA ",\"path\":{}",
           "parameter path is not of type string, is map[string]interface {}");
    ktc_close(&t);
}

/* ---- issues ---- */

static void test_issues(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 0);
    cJSON *r = gh(&t, "list_issues", SA);
    const cJSON *list = cJSON_GetObjectItem(r, "issues");
    assert_string_equal(join(list, "number"), "5,3,1,6"); /* newest first */
    assert_true(nget(r, "totalCount") == 4);
    assert_false(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "pageInfo"), "hasNextPage")));
    cJSON_Delete(r);
    r = gh(&t, "list_issues", SA ",\"state\":\"OPEN\"");
    assert_string_equal(join(cJSON_GetObjectItem(r, "issues"), "number"), "5,3");
    cJSON_Delete(r);
    r = gh(&t, "list_issues",
           SA ",\"state\":\"CLOSED\",\"orderBy\":\"CREATED_AT\","
              "\"direction\":\"ASC\"");
    assert_string_equal(join(cJSON_GetObjectItem(r, "issues"), "number"), "6,1");
    cJSON_Delete(r);
    r = gh(&t, "list_issues", SA ",\"labels\":[\"bug\",\"question\"]");
    assert_string_equal(join(cJSON_GetObjectItem(r, "issues"), "number"), "5,1");
    cJSON_Delete(r);
    r = gh(&t, "list_issues", SA ",\"orderBy\":\"COMMENTS\",\"direction\":\"DESC\"");
    assert_string_equal(join(cJSON_GetObjectItem(r, "issues"), "number"), "1,5,3,6");
    cJSON_Delete(r);
    r = gh(&t, "list_issues", SA ",\"since\":\"2026-11-01T00:00:00Z\"");
    assert_string_equal(join(cJSON_GetObjectItem(r, "issues"), "number"), "5,3");
    cJSON_Delete(r);

    /* Cursor paging: endCursor feeds `after`. */
    r = gh(&t, "list_issues", SA ",\"perPage\":3");
    const cJSON *info = cJSON_GetObjectItem(r, "pageInfo");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(info, "hasNextPage")));
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(info, "hasPreviousPage")));
    assert_string_equal(sget(info, "startCursor"), "Y3Vyc29yOjE="); /* "cursor:1" */
    assert_string_equal(sget(info, "endCursor"), "Y3Vyc29yOjM=");   /* "cursor:3" */
    char frag[300];
    snprintf(frag, sizeof frag, SA ",\"perPage\":3,\"after\":\"%s\"", sget(info, "endCursor"));
    cJSON_Delete(r);
    r = gh(&t, "list_issues", frag);
    assert_string_equal(join(cJSON_GetObjectItem(r, "issues"), "number"), "6");
    info = cJSON_GetObjectItem(r, "pageInfo");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(info, "hasNextPage")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(info, "hasPreviousPage")));
    cJSON_Delete(r);
    gh_err(&t, "list_issues", SA ",\"after\":\"bogus\"", "invalid after cursor: bogus");
    gh_err(&t, "list_issues", SA ",\"state\":\"open-ish\"",
           "invalid state: open-ish (OPEN or CLOSED)");
    gh_err(&t, "list_issues", SA ",\"orderBy\":\"TITLE\"",
           "invalid orderBy: TITLE (CREATED_AT, UPDATED_AT or COMMENTS)");
    gh_err(&t, "list_issues", SA ",\"labels\":\"bug\"",
           "parameter labels is not of type []string, is string");
    gh_err(&t, "list_issues", SA ",\"labels\":[1]",
           "parameter labels contains a non-string value: float64");
    gh_err(&t, "list_issues", "\"owner\":\"kestrel-toys\",\"repo\":\"gone\"",
           "failed to list issues: Could not resolve to a Repository with the name "
           "'kestrel-toys/gone'.");

    /* get_issue: REST shape; a pull request number answers with its issue view. */
    cJSON *i = gh(&t, "get_issue", SA ",\"issue_number\":5");
    assert_string_equal(sget(i, "title"), "How is abracadabra doing this month?");
    assert_string_equal(sget(i, "state"), "open");
    assert_string_equal(sget(cJSON_GetObjectItem(i, "user"), "login"), "devika-rao");
    assert_string_equal(sget(cJSON_GetArrayItem(cJSON_GetObjectItem(i, "labels"), 0), "name"),
                        "question");
    assert_string_equal(sget(cJSON_GetArrayItem(cJSON_GetObjectItem(i, "labels"), 0), "color"),
                        "d876e3");
    assert_true(nget(i, "comments") == 1);
    assert_string_equal(sget(i, "html_url"),
                        "https://github.com/kestrel-toys/sales-analytics/issues/5");
    assert_string_equal(sget(i, "author_association"), "MEMBER");
    assert_null(cJSON_GetObjectItem(i, "pull_request"));
    cJSON_Delete(i);
    i = gh(&t, "get_issue", SA ",\"issue_number\":4");
    assert_non_null(cJSON_GetObjectItem(i, "pull_request"));
    cJSON_Delete(i);
    gh_err(&t, "get_issue", SA ",\"issue_number\":99",
           "failed to get issue: GET " API "/repos/kestrel-toys/sales-analytics/issues/99: 404 "
           "Not Found []");
    gh_err(&t, "get_issue", SA, "missing required parameter: issue_number");
    gh_err(&t, "get_issue", SA ",\"issue_number\":\"5\"",
           "parameter issue_number is not of type number, is string");

    /* get_issue_comments with paging. */
    r = gh(&t, "get_issue_comments", SA ",\"issue_number\":1");
    assert_string_equal(join(r, "id"), "2400021010,2400021011");
    assert_string_equal(sget(cJSON_GetArrayItem(r, 0), "body"),
                        "Fixed in #2; it now filters on status.");
    assert_string_equal(sget(cJSON_GetArrayItem(r, 0), "html_url"),
                        "https://github.com/kestrel-toys/sales-analytics/issues/1"
                        "#issuecomment-2400021010");
    cJSON_Delete(r);
    r = gh(&t, "get_issue_comments", SA ",\"issue_number\":1,\"perPage\":1,\"page\":2");
    assert_string_equal(join(r, "id"), "2400021011");
    cJSON_Delete(r);
    r = gh(&t, "get_issue_comments", SA ",\"issue_number\":2"); /* the pull request's */
    assert_int_equal(count(r), 1);
    cJSON_Delete(r);
    gh_err(&t, "get_issue_comments", SA ",\"issue_number\":42",
           "failed to get issue comments: GET " API "/repos/kestrel-toys/sales-analytics/issues/"
           "42/comments: 404 Not Found []");
    ktc_close(&t);
}

static void test_search_issues(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 0);
    struct {
        const char *query;
        const char *expect; /* repo-name#number, comma-separated */
    } cases[] = {
        {"abracadabra", "sales-analytics#5,inventory-service#1,product-catalog#1"},
        {"repo:kestrel-toys/sales-analytics is:open", "sales-analytics#3,sales-analytics#5"},
        {"repo:kestrel-toys/sales-analytics state:closed", "sales-analytics#1,sales-analytics#6"},
        {"label:bug", "sales-analytics#1,inventory-service#2,storefront#12,tiny-kv#5"},
        {"label:bug label:wontfix", "inventory-service#2"},
        {"label:\\\"good first issue\\\"", "storefront#15"},
        {"author:tlindqvist is:closed",
         "sales-analytics#6,inventory-service#2,sql-snippets#1,tiny-kv#5"},
        {"assignee:mira-okafor is:open", "sales-analytics#3"},
        {"no:assignee user:kestrel-toys", "sales-analytics#5,inventory-service#2,storefront#15"},
        {"no:label", "sql-snippets#1"},
        {"org:kestrel-toys -label:bug is:closed", "sales-analytics#6,product-catalog#1"},
        {"is:pr", ""},
        {"cent in:title", "storefront#12"},
        {"cent in:body", ""},
        {"comments:>1", "sales-analytics#1"},
        {"shrinks", "tiny-kv#7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char frag[300];
        snprintf(frag, sizeof frag, "\"query\":\"%s\",\"perPage\":100", cases[i].query);
        cJSON *r = gh(&t, "search_issues", frag);
        char got[1024] = "";
        const cJSON *it;
        cJSON_ArrayForEach(it, items(r))
        {
            const char *url = sget(it, "repository_url");
            char one[128];
            snprintf(one, sizeof one, "%s%s#%.0f", got[0] ? "," : "", strrchr(url, '/') + 1,
                     nget(it, "number"));
            strcat(got, one);
        }
        if (strcmp(got, cases[i].expect) != 0)
            fail_msg("search_issues %s: got \"%s\", expected \"%s\"", cases[i].query, got,
                     cases[i].expect);
        assert_true(nget(r, "total_count") == count(items(r)));
        cJSON_Delete(r);
    }
    /* owner + repo arguments narrow to one repository; sort and order. */
    cJSON *r = gh(&t, "search_issues",
                  "\"query\":\"is:closed\"," SA ",\"sort\":\"created\","
                  "\"order\":\"asc\"");
    assert_string_equal(join(items(r), "number"), "6,1");
    cJSON_Delete(r);
    r = gh(&t, "search_issues", "\"query\":\"is:issue\",\"sort\":\"comments\",\"perPage\":2");
    assert_true(nget(r, "total_count") == 12);
    /* 2 comments first; ties by number, highest first */
    assert_string_equal(join(items(r), "number"), "1,12");
    assert_true(nget(cJSON_GetArrayItem(items(r), 0), "score") == 1);
    cJSON_Delete(r);
    gh_err(&t, "search_issues", "\"query\":\"milestone:v1\"",
           "failed to search issues: GET " API "/search/issues?q=milestone:v1: 422 Validation "
           "Failed []");
    gh_err(&t, "search_issues", "\"query\":\"x\",\"owner\":3",
           "parameter owner is not of type string, is float64");
    ktc_close(&t);
}

/* ---- pull requests, commits, branches ---- */

static void test_pull_requests(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 0);
    cJSON *r = gh(&t, "list_pull_requests", SA);
    assert_string_equal(join(r, "number"), "4"); /* open by default */
    const cJSON *pr = cJSON_GetArrayItem(r, 0);
    assert_string_equal(sget(cJSON_GetObjectItem(pr, "head"), "ref"), "feature/weekly-rollup");
    assert_string_equal(sget(cJSON_GetObjectItem(pr, "head"), "label"),
                        "kestrel-toys:feature/weekly-rollup");
    assert_string_equal(sget(cJSON_GetObjectItem(pr, "base"), "ref"), "main");
    cJSON_Delete(r);
    r = gh(&t, "list_pull_requests", SA ",\"state\":\"all\"");
    assert_string_equal(join(r, "number"), "4,2");
    cJSON_Delete(r);
    r = gh(&t, "list_pull_requests", SA ",\"state\":\"all\",\"direction\":\"asc\"");
    assert_string_equal(join(r, "number"), "2,4");
    cJSON_Delete(r);
    r = gh(&t, "list_pull_requests", SA ",\"state\":\"closed\"");
    assert_string_equal(join(r, "number"), "2");
    cJSON_Delete(r);
    r = gh(&t, "list_pull_requests",
           SA ",\"state\":\"all\",\"head\":\"kestrel-toys:fix/"
              "exclude-refunds\"");
    assert_string_equal(join(r, "number"), "2");
    cJSON_Delete(r);
    r = gh(&t, "list_pull_requests",
           SA ",\"state\":\"all\",\"head\":\"someone:fix/"
              "exclude-refunds\"");
    assert_int_equal(count(r), 0);
    cJSON_Delete(r);
    r = gh(&t, "list_pull_requests", SA ",\"state\":\"all\",\"base\":\"develop\"");
    assert_int_equal(count(r), 0);
    cJSON_Delete(r);
    r = gh(&t, "list_pull_requests", SA ",\"state\":\"all\",\"perPage\":1,\"page\":2");
    assert_string_equal(join(r, "number"), "2");
    cJSON_Delete(r);
    gh_err(&t, "list_pull_requests", SA ",\"state\":\"merged\"",
           "failed to list pull requests: GET " API "/repos/kestrel-toys/sales-analytics/pulls?"
           "state=merged: 422 Validation Failed [{Resource:Search Field:state Code:invalid "
           "Message: DocumentationURL:}]");
    gh_err(&t, "list_pull_requests", "\"owner\":\"kestrel-toys\",\"repo\":\"nope\"",
           "failed to list pull requests: GET " API "/repos/kestrel-toys/nope/pulls: 404 Not "
           "Found []");

    cJSON *p = gh(&t, "get_pull_request", SA ",\"pullNumber\":2");
    assert_string_equal(sget(p, "title"),
                        "Exclude cancelled and refunded orders from top customers");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "merged")));
    assert_string_equal(sget(p, "merge_commit_sha"), "b638932c290caafbc986468243f3a041a5135a55");
    assert_string_equal(sget(cJSON_GetObjectItem(p, "merged_by"), "login"), "mira-okafor");
    assert_string_equal(
        sget(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "requested_reviewers"), 0), "login"),
        "mira-okafor");
    assert_true(nget(p, "additions") == 6 && nget(p, "deletions") == 3);
    assert_true(nget(p, "changed_files") == 1 && nget(p, "commits") == 1);
    cJSON_Delete(p);
    p = gh(&t, "get_pull_request",
           "\"owner\":\"kestrel-toys\",\"repo\":\"inventory-service\","
           "\"pullNumber\":3");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "draft")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "mergeable")));
    cJSON_Delete(p);
    gh_err(&t, "get_pull_request", SA ",\"pullNumber\":1",
           "failed to get pull request: GET " API "/repos/kestrel-toys/sales-analytics/pulls/1: "
           "404 Not Found []");
    gh_err(&t, "get_pull_request", SA, "missing required parameter: pullNumber");
    ktc_close(&t);
}

static void test_commits_and_branches(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 0);
    cJSON *r = gh(&t, "list_commits", SA);
    int main_commits = count(r);
    const cJSON *c0 = cJSON_GetArrayItem(r, 0);
    assert_string_equal(sget(c0, "sha"), "fcdcca168812175c3889a30480d5d5fac19ea15e");
    assert_string_equal(sget(cJSON_GetObjectItem(c0, "commit"), "message"),
                        "Add month-over-month and daily revenue queries");
    assert_string_equal(
        sget(cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "commit"), "author"), "email"),
        "mira@kestrel-toys.example");
    assert_string_equal(sget(cJSON_GetArrayItem(cJSON_GetObjectItem(c0, "parents"), 0), "sha"),
                        "b638932c290caafbc986468243f3a041a5135a55");
    cJSON_Delete(r);
    /* A branch's history includes its own commit; main's does not. */
    r = gh(&t, "list_commits", SA ",\"sha\":\"feature/weekly-rollup\"");
    assert_int_equal(count(r), main_commits + 1);
    assert_string_equal(sget(cJSON_GetArrayItem(r, 0), "sha"),
                        "6cf852796234185d07d9fb517b7f26b94cb304c0");
    cJSON_Delete(r);
    /* From a commit, by author, paged. */
    r = gh(&t, "list_commits", SA ",\"sha\":\"b638932c\"");
    assert_int_equal(count(r), main_commits - 1);
    cJSON_Delete(r);
    r = gh(&t, "list_commits", SA ",\"author\":\"tlindqvist\",\"sha\":\"fix/exclude-refunds\"");
    assert_true(count(r) >= 1);
    const cJSON *it;
    cJSON_ArrayForEach(it, r)
    {
        assert_string_equal(sget(cJSON_GetObjectItem(it, "author"), "login"), "tlindqvist");
    }
    cJSON_Delete(r);
    r = gh(&t, "list_commits", SA ",\"perPage\":2,\"page\":2");
    assert_int_equal(count(r), main_commits >= 4 ? 2 : main_commits - 2);
    cJSON_Delete(r);
    gh_err(&t, "list_commits", SA ",\"sha\":\"no-such-branch\"",
           "failed to list commits: GET " API "/repos/kestrel-toys/sales-analytics/commits?sha="
           "no-such-branch: 404 No commit found for SHA: no-such-branch []");

    /* get_commit by branch, by prefix; detail levels; files paging. */
    cJSON *c = gh(&t, "get_commit",
                  SA ",\"sha\":\"feature/weekly-rollup\",\"detail\":"
                     "\"full_patch\"");
    assert_string_equal(sget(c, "sha"), "6cf852796234185d07d9fb517b7f26b94cb304c0");
    const cJSON *stats = cJSON_GetObjectItem(c, "stats");
    assert_true(nget(stats, "additions") == 9 && nget(stats, "deletions") == 0 &&
                nget(stats, "total") == 9);
    const cJSON *file = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "files"), 0);
    assert_string_equal(sget(file, "filename"), "queries/weekly_revenue.sql");
    assert_string_equal(sget(file, "status"), "added");
    assert_true(nget(file, "changes") == 9);
    assert_memory_equal(sget(file, "patch"), "@@ -0,0 +1,9 @@\n+SELECT", 23);
    cJSON_Delete(c);
    c = gh(&t, "get_commit", SA ",\"sha\":\"6cf8527\"");
    assert_null(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "files"), 0), "patch"));
    cJSON_Delete(c);
    c = gh(&t, "get_commit", SA ",\"sha\":\"6cf8527\",\"detail\":\"none\"");
    assert_null(cJSON_GetObjectItem(c, "files"));
    assert_null(cJSON_GetObjectItem(c, "stats"));
    cJSON_Delete(c);
    gh_err(&t, "get_commit", SA ",\"sha\":\"0000000\"",
           "failed to get commit: GET " API "/repos/kestrel-toys/sales-analytics/commits/0000000: "
           "422 No commit found for SHA: 0000000 []");
    gh_err(&t, "get_commit", SA ",\"sha\":\"6cf8527\",\"detail\":\"everything\"",
           "invalid detail: everything (none, stats or full_patch)");
    gh_err(&t, "get_commit", SA, "missing required parameter: sha");

    r = gh(&t, "list_branches", SA);
    assert_string_equal(join(r, "name"), "main,feature/weekly-rollup,fix/exclude-refunds");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "protected")));
    assert_string_equal(sget(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 1), "commit"), "sha"),
                        "6cf852796234185d07d9fb517b7f26b94cb304c0");
    cJSON_Delete(r);
    r = gh(&t, "list_branches", SA ",\"perPage\":2,\"page\":2");
    assert_string_equal(join(r, "name"), "fix/exclude-refunds");
    cJSON_Delete(r);
    gh_err(&t, "list_branches", "\"owner\":\"nobody\",\"repo\":\"x\"",
           "failed to list branches: GET " API "/repos/nobody/x/branches: 404 Not Found []");
    ktc_close(&t);
}

/* ---- writes ---- */

static void test_writes_refused_when_read_only(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 0);
    gh_err(&t, "create_issue", SA ",\"title\":\"x\"",
           "failed to create issue: POST " API "/repos/kestrel-toys/sales-analytics/issues: 403 "
           "Resource not accessible by personal access token []" RO_NOTE);
    gh_err(&t, "update_issue", SA ",\"issue_number\":5,\"state\":\"closed\"",
           "failed to update issue: PATCH " API "/repos/kestrel-toys/sales-analytics/issues/5: "
           "403 Resource not accessible by personal access token []" RO_NOTE);
    gh_err(&t, "add_issue_comment", SA ",\"issue_number\":5,\"body\":\"hi\"",
           "failed to create comment: POST " API "/repos/kestrel-toys/sales-analytics/issues/5/"
           "comments: 403 Resource not accessible by personal access token []" RO_NOTE);
    gh_err(&t, "create_branch", SA ",\"branch\":\"x\"",
           "failed to create branch: POST " API "/repos/kestrel-toys/sales-analytics/git/refs: "
           "403 Resource not accessible by personal access token []" RO_NOTE);
    gh_err(&t, "create_or_update_file",
           SA ",\"path\":\"a.txt\",\"content\":\"x\",\"message\":\"m\",\"branch\":\"main\"",
           "failed to create/update file: PUT " API "/repos/kestrel-toys/sales-analytics/contents/"
           "a.txt: 403 Resource not accessible by personal access token []" RO_NOTE);
    gh_err(&t, "push_files",
           SA ",\"branch\":\"main\",\"message\":\"m\",\"files\":[{\"path\":\"a\",\"content\":"
              "\"b\"}]",
           "failed to create tree: POST " API "/repos/kestrel-toys/sales-analytics/git/trees: 403 "
           "Resource not accessible by personal access token []" RO_NOTE);
    gh_err(&t, "create_pull_request",
           SA ",\"title\":\"t\",\"head\":\"fix/exclude-refunds\",\"base\":\"main\"",
           "failed to create pull request: POST " API "/repos/kestrel-toys/sales-analytics/pulls: "
           "403 Resource not accessible by personal access token []" RO_NOTE);
    /* Argument and existence errors come first, as from GitHub. */
    gh_err(&t, "create_issue", SA, "missing required parameter: title");
    gh_err(&t, "create_issue", "\"owner\":\"kestrel-toys\",\"repo\":\"nope\",\"title\":\"x\"",
           "failed to create issue: POST " API "/repos/kestrel-toys/nope/issues: 404 Not Found "
           "[]");
    gh_err(&t, "add_issue_comment", SA ",\"issue_number\":77,\"body\":\"hi\"",
           "failed to create comment: POST " API "/repos/kestrel-toys/sales-analytics/issues/77/"
           "comments: 404 Not Found []");
    /* Nothing changed. */
    cJSON *r = gh(&t, "list_issues", SA);
    assert_true(nget(r, "totalCount") == 4);
    cJSON_Delete(r);
    r = gh(&t, "list_branches", SA);
    assert_int_equal(count(r), 3);
    cJSON_Delete(r);
    ktc_close(&t);
}

static void test_issue_writes(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 1);
    cJSON *i = gh(&t, "create_issue",
                  SA ",\"title\":\"Refund report\",\"body\":\"Please add "
                     "one\",\"labels\":[\"enhancement\"],\"assignees\":["
                     "\"tlindqvist\"]");
    assert_true(nget(i, "number") == 7); /* after issue 6 and pull request 4 */
    assert_string_equal(sget(i, "state"), "open");
    assert_string_equal(sget(cJSON_GetObjectItem(i, "user"), "login"), "mira-okafor");
    assert_string_equal(sget(cJSON_GetObjectItem(i, "assignee"), "login"), "tlindqvist");
    assert_string_equal(sget(cJSON_GetArrayItem(cJSON_GetObjectItem(i, "labels"), 0), "name"),
                        "enhancement");
    cJSON_Delete(i);
    cJSON *r = gh(&t, "list_issues", SA ",\"state\":\"OPEN\"");
    assert_string_equal(join(cJSON_GetObjectItem(r, "issues"), "number"), "7,5,3");
    cJSON_Delete(r);
    r = gh(&t, "search_repositories", "\"query\":\"repo:kestrel-toys/sales-analytics\"");
    assert_true(nget(cJSON_GetArrayItem(items(r), 0), "open_issues_count") == 4);
    cJSON_Delete(r);
    r = gh(&t, "search_issues", "\"query\":\"refund report\"");
    assert_string_equal(join(items(r), "number"), "7");
    cJSON_Delete(r);

    cJSON *c = gh(&t, "add_issue_comment", SA ",\"issue_number\":7,\"body\":\"On it\"");
    double cid = nget(c, "id");
    assert_true(cid > 2500021020);
    assert_string_equal(sget(c, "body"), "On it");
    assert_string_equal(sget(cJSON_GetObjectItem(c, "user"), "login"), "mira-okafor");
    cJSON_Delete(c);
    c = gh(&t, "add_issue_comment", SA ",\"issue_number\":4,\"body\":\"Looks good\"");
    assert_true(nget(c, "id") == cid + 1);
    cJSON_Delete(c);
    r = gh(&t, "get_issue_comments", SA ",\"issue_number\":7");
    assert_string_equal(join(r, "body"), "On it");
    cJSON_Delete(r);
    i = gh(&t, "get_issue", SA ",\"issue_number\":7");
    assert_true(nget(i, "comments") == 1);
    cJSON_Delete(i);

    i = gh(&t, "update_issue",
           SA ",\"issue_number\":7,\"state\":\"closed\",\"state_reason\":"
              "\"not_planned\",\"title\":\"Refund report (later)\","
              "\"labels\":[]");
    assert_string_equal(sget(i, "state"), "closed");
    assert_string_equal(sget(i, "state_reason"), "not_planned");
    assert_string_equal(sget(i, "title"), "Refund report (later)");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(i, "closed_at")));
    assert_int_equal(count(cJSON_GetObjectItem(i, "labels")), 0);
    cJSON_Delete(i);
    i = gh(&t, "update_issue", SA ",\"issue_number\":7,\"state\":\"open\"");
    assert_string_equal(sget(i, "state_reason"), "reopened");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(i, "closed_at")));
    cJSON_Delete(i);
    r = gh(&t, "search_repositories", "\"query\":\"repo:kestrel-toys/sales-analytics\"");
    assert_true(nget(cJSON_GetArrayItem(items(r), 0), "open_issues_count") == 4);
    cJSON_Delete(r);

    gh_err(&t, "create_issue", SA ",\"title\":\"x\",\"assignees\":[\"nobody-here\"]",
           "failed to create issue: POST " API "/repos/kestrel-toys/sales-analytics/issues: 422 "
           "Validation Failed [{Resource:Issue Field:assignees Code:invalid Message: "
           "DocumentationURL:}]");
    gh_err(&t, "create_issue", SA ",\"title\":\"x\",\"milestone\":3",
           "failed to create issue: POST " API "/repos/kestrel-toys/sales-analytics/issues: 422 "
           "Validation Failed [{Resource:Issue Field:milestone Code:invalid Message: "
           "DocumentationURL:}]");
    gh_err(&t, "update_issue", SA ",\"issue_number\":7,\"state\":\"gone\"",
           "failed to update issue: PATCH " API "/repos/kestrel-toys/sales-analytics/issues/7: "
           "422 Validation Failed [{Resource:Issue Field:state Code:invalid Message: "
           "DocumentationURL:}]");
    gh_err(&t, "update_issue", SA ",\"issue_number\":70",
           "failed to update issue: PATCH " API "/repos/kestrel-toys/sales-analytics/issues/70: "
           "404 Not Found []");
    gh_err(&t, "add_issue_comment", SA ",\"issue_number\":7", "missing required parameter: body");
    ktc_close(&t);
}

static void test_file_and_branch_writes(void **state)
{
    (void)state;
    ktc_t t;
    open_gh(&t, 1);
    /* A branch from main, a new file on it (blob SHA as git computes it). */
    cJSON *ref = gh(&t, "create_branch", SA ",\"branch\":\"feature/refunds\"");
    assert_string_equal(sget(ref, "ref"), "refs/heads/feature/refunds");
    assert_string_equal(sget(cJSON_GetObjectItem(ref, "object"), "sha"),
                        "fcdcca168812175c3889a30480d5d5fac19ea15e");
    cJSON_Delete(ref);
    gh_err(&t, "create_branch", SA ",\"branch\":\"feature/refunds\"",
           "failed to create branch: POST " API "/repos/kestrel-toys/sales-analytics/git/refs: "
           "422 Reference already exists []");
    gh_err(&t, "create_branch", SA ",\"branch\":\"bad..name\"",
           "failed to create branch: POST " API "/repos/kestrel-toys/sales-analytics/git/refs: "
           "422 refs/heads/bad..name is not a valid ref name. []");
    gh_err(&t, "create_branch", SA ",\"branch\":\"x\",\"from_branch\":\"nope\"",
           "failed to get reference: GET " API "/repos/kestrel-toys/sales-analytics/git/ref/heads/"
           "nope: 404 Not Found []");

    cJSON *w = gh(&t, "create_or_update_file",
                  SA ",\"path\":\"queries/refunds.sql\",\"content\":\"hello\\n\",\"message\":"
                     "\"Add refunds query\",\"branch\":\"feature/refunds\"");
    const cJSON *content = cJSON_GetObjectItem(w, "content");
    assert_string_equal(sget(content, "sha"), "ce013625030ba8dba906f756967f9e9ca394464a");
    assert_true(nget(content, "size") == 6);
    const cJSON *commit = cJSON_GetObjectItem(w, "commit");
    assert_string_equal(sget(commit, "message"), "Add refunds query");
    assert_string_equal(sget(cJSON_GetObjectItem(commit, "author"), "name"), "Mira Okafor");
    assert_string_equal(sget(cJSON_GetArrayItem(cJSON_GetObjectItem(commit, "parents"), 0), "sha"),
                        "fcdcca168812175c3889a30480d5d5fac19ea15e");
    char first_sha[41];
    snprintf(first_sha, sizeof first_sha, "%s", sget(commit, "sha"));
    assert_int_equal(strlen(first_sha), 40);
    cJSON_Delete(w);
    cJSON *f = gh(&t, "get_file_contents",
                  SA ",\"path\":\"queries/refunds.sql\",\"ref\":\"feature/refunds\"");
    char *text = unbase64(sget(f, "content"));
    assert_string_equal(text, "hello\n");
    mcp_free(text);
    cJSON_Delete(f);
    gh_err(&t, "get_file_contents", SA ",\"path\":\"queries/refunds.sql\"",
           "failed to get file contents: GET " API "/repos/kestrel-toys/sales-analytics/contents/"
           "queries/refunds.sql?ref=main: 404 Not Found []");
    cJSON *r = gh(&t, "list_branches", SA);
    assert_string_equal(sget(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 3), "commit"), "sha"),
                        first_sha);
    cJSON_Delete(r);
    r = gh(&t, "list_commits", SA ",\"sha\":\"feature/refunds\",\"perPage\":1");
    assert_string_equal(sget(cJSON_GetArrayItem(r, 0), "sha"), first_sha);
    cJSON_Delete(r);
    cJSON *c = gh(&t, "get_commit", SA ",\"sha\":\"feature/refunds\"");
    const cJSON *cf = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "files"), 0);
    assert_string_equal(sget(cf, "filename"), "queries/refunds.sql");
    assert_string_equal(sget(cf, "status"), "added");
    assert_true(nget(cf, "additions") == 1);
    cJSON_Delete(c);

    /* Updating needs the current blob SHA, exactly. */
    const char *upd = SA ",\"path\":\"queries/refunds.sql\",\"content\":\"SELECT 1;\\n\","
                         "\"message\":\"Refine\",\"branch\":\"feature/refunds\"";
    gh_err(&t, "create_or_update_file", upd,
           "failed to create/update file: PUT " API "/repos/kestrel-toys/sales-analytics/contents/"
           "queries/refunds.sql: 422 Invalid request.\n\n\"sha\" wasn't supplied. []");
    char frag[600];
    snprintf(frag, sizeof frag, "%s,\"sha\":\"%s\"", upd,
             "0123456789012345678901234567890123456789");
    gh_err(&t, "create_or_update_file", frag,
           "failed to create/update file: PUT " API "/repos/kestrel-toys/sales-analytics/contents/"
           "queries/refunds.sql: 409 queries/refunds.sql does not match "
           "0123456789012345678901234567890123456789 []");
    snprintf(frag, sizeof frag, "%s,\"sha\":\"ce013625030ba8dba906f756967f9e9ca394464a\"", upd);
    w = gh(&t, "create_or_update_file", frag);
    assert_string_equal(
        sget(
            cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(w, "commit"), "parents"), 0),
            "sha"),
        first_sha);
    cJSON_Delete(w);
    c = gh(&t, "get_commit", SA ",\"sha\":\"feature/refunds\"");
    cf = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "files"), 0);
    assert_string_equal(sget(cf, "status"), "modified");
    assert_true(nget(cf, "additions") == 1 && nget(cf, "deletions") == 1);
    cJSON_Delete(c);
    gh_err(&t, "create_or_update_file",
           SA ",\"path\":\"x\",\"content\":\"y\",\"message\":\"m\",\"branch\":\"gone\"",
           "failed to create/update file: PUT " API "/repos/kestrel-toys/sales-analytics/contents/"
           "x: 404 Branch gone not found []");
    gh_err(&t, "create_or_update_file",
           SA ",\"path\":\"a/../b\",\"content\":\"y\",\"message\":\"m\",\"branch\":\"main\"",
           "failed to create/update file: PUT " API "/repos/kestrel-toys/sales-analytics/contents/"
           "a/../b: 422 path contains a malformed path component []");
    gh_err(&t, "create_or_update_file", SA ",\"path\":\"x\",\"message\":\"m\",\"branch\":\"main\"",
           "missing required parameter: content");

    /* push_files: several files, one commit, on main; code search sees main's new content. */
    ref = gh(&t, "push_files",
             SA ",\"branch\":\"main\",\"message\":\"Add refund queries\",\"files\":[{\"path\":"
                "\"queries/refunds_by_month.sql\",\"content\":\"SELECT 'zebra-refunds';\\n\"},"
                "{\"path\":\"docs/refunds.md\",\"content\":\"# Refunds\\n\"}]");
    assert_string_equal(sget(ref, "ref"), "refs/heads/main");
    char main_sha[41];
    snprintf(main_sha, sizeof main_sha, "%s", sget(cJSON_GetObjectItem(ref, "object"), "sha"));
    cJSON_Delete(ref);
    c = gh(&t, "get_commit", SA ",\"sha\":\"main\"");
    assert_string_equal(sget(c, "sha"), main_sha);
    assert_string_equal(join(cJSON_GetObjectItem(c, "files"), "filename"),
                        "queries/refunds_by_month.sql,docs/refunds.md");
    cJSON_Delete(c);
    r = gh(&t, "search_code", "\"query\":\"zebra-refunds\"");
    assert_string_equal(join(items(r), "path"), "queries/refunds_by_month.sql");
    cJSON_Delete(r);
    r = gh(&t, "get_file_contents", SA ",\"path\":\"docs/\"");
    assert_string_equal(join(r, "name"), "refunds.md,schema.md");
    cJSON_Delete(r);
    gh_err(&t, "push_files", SA ",\"branch\":\"main\",\"message\":\"m\",\"files\":[]",
           "files parameter must be a non-empty array of objects with path and content");
    gh_err(&t, "push_files", SA ",\"branch\":\"main\",\"message\":\"m\",\"files\":[{\"path\":1}]",
           "each file must be an object with path (string) and content (string)");
    gh_err(&t, "push_files",
           SA ",\"branch\":\"nope\",\"message\":\"m\",\"files\":[{\"path\":\"a\",\"content\":"
              "\"b\"}]",
           "failed to get branch reference: GET " API "/repos/kestrel-toys/sales-analytics/git/ref/"
           "heads/nope: 404 Not Found []");

    /* A pull request from the new branch: its commits and files. */
    cJSON *p = gh(&t, "create_pull_request",
                  SA ",\"title\":\"Refunds\",\"head\":\"feature/refunds\",\"base\":\"main\","
                     "\"draft\":true");
    assert_true(nget(p, "number") == 7);
    assert_string_equal(sget(p, "state"), "open");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "draft")));
    assert_true(nget(p, "commits") == 2);
    assert_true(nget(p, "changed_files") == 1);
    assert_string_equal(sget(cJSON_GetObjectItem(p, "base"), "sha"), main_sha);
    cJSON_Delete(p);
    r = gh(&t, "list_pull_requests", SA);
    assert_string_equal(join(r, "number"), "7,4");
    cJSON_Delete(r);
    gh_err(&t, "create_pull_request",
           SA ",\"title\":\"again\",\"head\":\"feature/refunds\",\"base\":\"main\"",
           "failed to create pull request: POST " API "/repos/kestrel-toys/sales-analytics/pulls: "
           "422 Validation Failed [{Resource:PullRequest Field: Code:custom Message:A pull request "
           "already exists for kestrel-toys:feature/refunds. DocumentationURL:}]");
    gh_err(&t, "create_pull_request", SA ",\"title\":\"x\",\"head\":\"nope\",\"base\":\"main\"",
           "failed to create pull request: POST " API "/repos/kestrel-toys/sales-analytics/pulls: "
           "422 Validation Failed [{Resource:PullRequest Field:head Code:invalid Message: "
           "DocumentationURL:}]");
    gh_err(&t, "create_pull_request",
           SA ",\"title\":\"x\",\"head\":\"fix/exclude-refunds\",\"base\":\"main\"",
           "failed to create pull request: POST " API "/repos/kestrel-toys/sales-analytics/pulls: "
           "422 Validation Failed [{Resource:PullRequest Field: Code:custom Message:No commits "
           "between main and fix/exclude-refunds DocumentationURL:}]");
    gh_err(&t, "create_pull_request", SA ",\"title\":\"x\",\"head\":\"main\",\"base\":\"gone\"",
           "failed to create pull request: POST " API "/repos/kestrel-toys/sales-analytics/pulls: "
           "422 Validation Failed [{Resource:PullRequest Field:base Code:invalid Message: "
           "DocumentationURL:}]");
    ktc_close(&t);
}

/* ---- fault support and --fixtures ---- */

static void test_rate_limit_result(void **state)
{
    (void)state;
    cJSON *r = mock_github_rate_limit_result("search_code", 3599);
    assert_non_null(r);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "isError")));
    assert_string_equal(ktc_text(r), "failed to search code: 403 API rate limit exceeded for user "
                                     "ID 40917263. [rate reset in 59m59s]");
    cJSON_Delete(r);
    r = mock_github_rate_limit_result(NULL, 42);
    assert_string_equal(ktc_text(r), "failed to call GitHub: 403 API rate limit exceeded for user "
                                     "ID 40917263. [rate reset in 42s]");
    cJSON_Delete(r);
    r = mock_github_rate_limit_result("get_issue", -61);
    assert_string_equal(ktc_text(r), "failed to get issue: 403 API rate limit exceeded for user ID "
                                     "40917263. [rate limit was reset 1m01s ago]");
    cJSON_Delete(r);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_fixtures_option(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcp-kind-gh-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/world.json", dir);
    write_file(path, "{\"authenticated_user\":\"ann\",\"users\":[{\"login\":\"ann\",\"id\":7,"
                     "\"type\":\"User\",\"name\":\"Ann\"}],\"repositories\":[{\"owner\":\"ann\","
                     "\"name\":\"tiny\",\"full_name\":\"ann/tiny\",\"id\":9,\"default_branch\":"
                     "\"main\",\"branches\":[{\"name\":\"main\",\"commit_sha\":\"aaaa1111\"}],"
                     "\"files\":[{\"path\":\"q.sql\",\"sha\":\"s1\",\"size\":9,\"content\":"
                     "\"SELECT 1;\"}]}]}");
    ktc_t t;
    mock_options_t opts = {.fixtures = path};
    char err[256] = "";
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_github, &opts, err, sizeof err), 0);
    cJSON *me = gh(&t, "get_me", NULL);
    assert_string_equal(sget(me, "login"), "ann");
    cJSON_Delete(me);
    cJSON *r = gh(&t, "search_code", "\"query\":\"extension:sql\"");
    assert_string_equal(join(items(r), "path"), "q.sql");
    cJSON_Delete(r);
    r = gh(&t, "list_issues", "\"owner\":\"ann\",\"repo\":\"tiny\"");
    assert_true(nget(r, "totalCount") == 0);
    cJSON_Delete(r);
    ktc_close(&t);
    r = mock_github_rate_limit_result("get_me", 1);
    assert_non_null(strstr(ktc_text(r), "user ID 7."));
    cJSON_Delete(r);

    /* An authenticated user missing from users: get_me answers like a bad token. */
    write_file(path, "{\"authenticated_user\":\"ghost\",\"users\":[],\"repositories\":[]}");
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_github, &opts, err, sizeof err), 0);
    gh_err(&t, "get_me", NULL, "failed to get user: GET " API "/user: 401 Bad credentials []");
    r = gh(&t, "search_code", "\"query\":\"extension:sql\"");
    assert_true(nget(r, "total_count") == 0);
    cJSON_Delete(r);
    ktc_close(&t);

    struct {
        const char *text;
        const char *err_suffix;
    } bad[] = {
        {"{\"users\": [", ": not valid JSON (near byte 11)"},
        {"[]", ": the fixture is not a JSON object"},
        {"{\"users\":[],\"authenticated_user\":\"a\"}",
         ": the fixture needs \"users\" and \"repositories\" arrays"},
        {"{\"users\":[],\"repositories\":[]}",
         ": the fixture needs \"authenticated_user\" (a login)"},
        {"{\"users\":[],\"repositories\":[{\"owner\":\"a\"}],\"authenticated_user\":\"a\"}",
         ": repositories[0] needs owner, name and full_name"},
        {"{\"users\":[],\"repositories\":[{\"owner\":\"a\",\"name\":\"b\",\"full_name\":\"a/b\","
         "\"files\":{}}],\"authenticated_user\":\"a\"}",
         ": repositories[0].files must be an array"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        memset(&t, 0, sizeof t);
        assert_int_equal(ktc_open(&t, &mock_kind_github, &opts, err, sizeof err), MCP_EINVAL);
        char expected[512];
        snprintf(expected, sizeof expected, "%s%s", path, bad[i].err_suffix);
        assert_string_equal(err, expected);
    }
    unlink(path);
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_github, &opts, err, sizeof err), MCP_EINVAL);
    char expected[512];
    snprintf(expected, sizeof expected, "cannot open %s: No such file or directory", path);
    assert_string_equal(err, expected);
    assert_int_equal(rmdir(dir), 0);
    /* The embedded world's user again, for the other tests. */
    memset(&t, 0, sizeof t);
    open_gh(&t, 0);
    ktc_close(&t);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_surface_and_users),
        cmocka_unit_test(test_search_repositories),
        cmocka_unit_test(test_search_code),
        cmocka_unit_test(test_sql_workflow_with_database),
        cmocka_unit_test(test_get_file_contents),
        cmocka_unit_test(test_issues),
        cmocka_unit_test(test_search_issues),
        cmocka_unit_test(test_pull_requests),
        cmocka_unit_test(test_commits_and_branches),
        cmocka_unit_test(test_writes_refused_when_read_only),
        cmocka_unit_test(test_issue_writes),
        cmocka_unit_test(test_file_and_branch_writes),
        cmocka_unit_test(test_rate_limit_result),
        cmocka_unit_test(test_fixtures_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
