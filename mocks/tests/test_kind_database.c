/* The database mock kind, driven in process through the loopback transport: every tool's
 * success and error paths, read-only enforcement by SQLite, the row limit, the deadline,
 * resources (schema, metadata, memo with notifications), the prompt and --writable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kind_test_client.h"

#include "alloc.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RO_DB         "the database is read-only (start `mcp-mock database --writable` to allow changes)"
#define RO_READ_QUERY "read_query runs read-only statements (SELECT); use write_query for changes"

static void open_db(ktc_t *t, int writable, size_t max_rows)
{
    mock_options_t opts = {.writable = writable, .max_rows = max_rows};
    char err[256] = "";
    memset(t, 0, sizeof *t);
    int rc = ktc_open(t, &mock_kind_database, &opts, err, sizeof err);
    if (rc != 0)
        fail_msg("setup failed: %s", err);
}

/* The text of a successful call. */
static char *call_text(ktc_t *t, const char *tool, const char *args)
{
    cJSON *r = ktc_call(t, tool, args);
    if (ktc_is_error(r))
        fail_msg("%s %s: %s", tool, args, ktc_text(r));
    char *text = mcp_strdup(ktc_text(r));
    cJSON_Delete(r);
    return text;
}

static void expect_text(ktc_t *t, const char *tool, const char *args, const char *expected)
{
    char *text = call_text(t, tool, args);
    assert_string_equal(text, expected);
    mcp_free(text);
}

/* A single integer from a one-row, one-column query. */
static double scalar(ktc_t *t, const char *sql)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "query", sql);
    char *a = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    cJSON *j = ktc_call_json(t, "read_query", a);
    mcp_free(a);
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0);
    assert_non_null(row);
    double v = cJSON_GetNumberValue(row->child);
    cJSON_Delete(j);
    return v;
}

/* ---- surface ---- */

static void test_surface(void **state)
{
    (void)state;
    ktc_t t;
    open_db(&t, 0, 0);
    const cJSON *info = mcp_client_server_info(t.client);
    assert_string_equal(cJSON_GetObjectItem(info, "name")->valuestring, "sqlite");
    assert_true(mcp_client_server_has(t.client, "tools"));
    assert_true(mcp_client_server_has(t.client, "resources"));
    assert_true(mcp_client_server_has(t.client, "prompts"));
    assert_true(mcp_client_server_has(t.client, "completions"));

    cJSON *list = ktc_request(&t, "tools/list", NULL, NULL);
    const char *names[] = {"read_query",     "write_query",    "create_table",  "list_tables",
                           "describe_table", "append_insight", "execute_query", "query"};
    const cJSON *tools = cJSON_GetObjectItem(list, "tools");
    assert_int_equal(cJSON_GetArraySize(tools), 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(tools, i), "name")->valuestring,
                            names[i]);
    const cJSON *rq = cJSON_GetArrayItem(tools, 0);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(rq, "annotations"), "readOnlyHint")));
    const cJSON *q = cJSON_GetArrayItem(tools, 7);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(q, "inputSchema"), "required"));
    cJSON_Delete(list);

    list = ktc_request(&t, "resources/list", NULL, NULL);
    const char *uris[] = {"memo://insights",
                          "sqlite://main/metadata",
                          "sqlite://main/customers/schema",
                          "sqlite://main/inventory/schema",
                          "sqlite://main/order_items/schema",
                          "sqlite://main/orders/schema",
                          "sqlite://main/product_aliases/schema",
                          "sqlite://main/products/schema",
                          "sqlite://main/sales/schema"};
    const cJSON *res = cJSON_GetObjectItem(list, "resources");
    assert_int_equal(cJSON_GetArraySize(res), 9);
    for (int i = 0; i < 9; i++)
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(res, i), "uri")->valuestring,
                            uris[i]);
    const cJSON *memo = cJSON_GetArrayItem(res, 0);
    assert_string_equal(cJSON_GetObjectItem(memo, "name")->valuestring, "Business Insights Memo");
    assert_string_equal(cJSON_GetObjectItem(memo, "mimeType")->valuestring, "text/plain");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(res, 7), "name")->valuestring,
                        "\"products\" database schema");
    cJSON_Delete(list);

    list = ktc_request(&t, "resources/templates/list", NULL, NULL);
    const cJSON *tpl = cJSON_GetArrayItem(cJSON_GetObjectItem(list, "resourceTemplates"), 0);
    assert_string_equal(cJSON_GetObjectItem(tpl, "uriTemplate")->valuestring,
                        "sqlite://main/{table}/schema");
    cJSON_Delete(list);

    list = ktc_request(&t, "prompts/list", NULL, NULL);
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(list, "prompts"), 0);
    assert_string_equal(cJSON_GetObjectItem(p, "name")->valuestring, "mcp-demo");
    const cJSON *arg = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "arguments"), 0);
    assert_string_equal(cJSON_GetObjectItem(arg, "name")->valuestring, "topic");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(arg, "required")));
    cJSON_Delete(list);
    ktc_close(&t);
}

/* ---- read_query ---- */

static void test_read_query(void **state)
{
    (void)state;
    ktc_t t;
    open_db(&t, 0, 0);
    cJSON *r = ktc_call(&t, "read_query",
                        "{\"query\":\"SELECT id, name, unit_price FROM products WHERE id = 123\"}");
    assert_false(ktc_is_error(r));
    const char *expected = "{\"columns\":[\"id\",\"name\",\"unit_price\"],\"rows\":[{\"id\":123,"
                           "\"name\":\"Deluxe Magic Kit (75 Tricks)\",\"unit_price\":59.99}],"
                           "\"row_count\":1,\"truncated\":false}";
    assert_string_equal(ktc_text(r), expected);
    char *sc = cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "structuredContent"));
    assert_string_equal(sc, expected);
    cJSON_free(sc);
    cJSON_Delete(r);

    /* The seed: counts, aliases (case-insensitive), both months of orders. */
    assert_true(scalar(&t, "SELECT count(*) FROM orders") == 200);
    assert_true(scalar(&t, "SELECT count(*) FROM customers") == 25);
    assert_true(scalar(&t, "SELECT count(*) FROM products") == 30);
    assert_true(scalar(&t, "SELECT product_id FROM product_aliases WHERE alias = 'ABRACADABRA'") ==
                123);
    assert_true(scalar(&t, "SELECT count(*) FROM orders WHERE order_date >= date('now', 'start of "
                           "month')") == 100);
    assert_true(scalar(&t, "SELECT count(*) FROM orders WHERE order_date > date('now')") == 0);
    assert_true(scalar(&t, "SELECT count(*) FROM sales WHERE product_id = 123 AND sale_date >= "
                           "date('now', 'start of month')") > 0);
    /* Read-only statements other than plain SELECT are fine: CTEs, introspection pragmas. */
    assert_true(scalar(&t, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE "
                           "x < 10) SELECT sum(x) FROM c") == 55);
    assert_true(scalar(&t, "SELECT count(*) FROM pragma_table_info('orders')") == 6);
    assert_true(scalar(&t, "PRAGMA query_only") == 1);
    /* Comments and a trailing semicolon are one statement. */
    assert_true(scalar(&t, "-- lead\nSELECT 7; /* trailing */ -- end\n") == 7);
    assert_true(scalar(&t, "; ;SELECT 8;;") == 8);

    /* Value types: real, NULL, blob, integers beyond 2^53, invalid UTF-8, repeated names. */
    expect_text(&t, "read_query",
                "{\"query\":\"SELECT 1.5 AS f, NULL AS n, x'00ff' AS b, 9007199254740993 AS big, "
                "CAST(x'61ff62' AS TEXT) AS t, 1 AS a, 2 AS a, 'caf\\u00e9' AS u\"}",
                "{\"columns\":[\"f\",\"n\",\"b\",\"big\",\"t\",\"a\",\"a_2\",\"u\"],\"rows\":[{"
                "\"f\":1.5,\"n\":null,\"b\":\"X'00FF'\",\"big\":9007199254740993,\"t\":"
                "\"a\xEF\xBF\xBD"
                "b\",\"a\":1,\"a_2\":2,\"u\":\"caf\xC3\xA9\"}],\"row_count\":1,"
                "\"truncated\":false}");
    expect_text(&t, "read_query", "{\"query\":\"SELECT id FROM products WHERE id < 0\"}",
                "{\"columns\":[\"id\"],\"rows\":[],\"row_count\":0,\"truncated\":false}");

    /* Errors: SQLite's message, our argument checks. */
    ktc_expect_error(&t, "read_query", "{\"query\":\"SELEC id FROM products\"}",
                     "Database error: near \"SELEC\": syntax error");
    ktc_expect_error(&t, "read_query", "{\"query\":\"SELECT nope FROM products\"}",
                     "Database error: no such column: nope");
    ktc_expect_error(&t, "read_query", "{\"query\":\"SELECT * FROM nope\"}",
                     "Database error: no such table: nope");
    ktc_expect_error(&t, "read_query", "{}", "Error: missing required argument \"query\"");
    ktc_expect_error(&t, "read_query", NULL, "Error: missing required argument \"query\"");
    ktc_expect_error(&t, "read_query", "{\"query\":42}",
                     "Error: argument \"query\" must be a string");
    ktc_expect_error(&t, "read_query", "{\"query\":\"  -- nothing\\n\"}",
                     "Error: the query is empty (no SQL statement found)");
    ktc_expect_error(&t, "read_query", "{\"query\":\"SELECT 1; SELECT 2\"}",
                     "Error: only one SQL statement per call is allowed; send the statements one "
                     "at a time");
    ktc_close(&t);
}

/* ---- read-only enforcement ---- */

static void test_read_only_enforced(void **state)
{
    (void)state;
    ktc_t t;
    open_db(&t, 0, 0);
    const char *read_tools[] = {"read_query", "query"};
    const char *reasons[] = {RO_READ_QUERY, "query runs in a read-only transaction"};
    for (int i = 0; i < 2; i++) {
        const char *key = i == 0 ? "query" : "sql";
        char args[512], expected[512];
#define EXPECT_DENIED(sql, what)                                                         \
    do {                                                                                 \
        snprintf(args, sizeof args, "{\"%s\":\"%s\"}", key, sql);                        \
        snprintf(expected, sizeof expected, "Database error: not authorized: %s", what); \
        ktc_expect_error(&t, read_tools[i], args, expected);                             \
    } while (0)
        char what[256];
        snprintf(what, sizeof what, "INSERT is not allowed: %s", reasons[i]);
        EXPECT_DENIED("INSERT INTO customers (id, name) VALUES (1, 'x')", what);
        EXPECT_DENIED("WITH x AS (SELECT 1) INSERT INTO product_aliases SELECT 'a', 123, "
                      "'nickname', NULL FROM x",
                      what);
        snprintf(what, sizeof what, "DELETE is not allowed: %s", reasons[i]);
        EXPECT_DENIED("WITH x AS (SELECT 24001 AS id) DELETE FROM orders WHERE id IN x", what);
        snprintf(what, sizeof what, "UPDATE is not allowed: %s", reasons[i]);
        EXPECT_DENIED("UPDATE products SET unit_price = 0", what);
        snprintf(what, sizeof what, "changing the schema is not allowed: %s", reasons[i]);
        EXPECT_DENIED("DROP TABLE orders", what);
        EXPECT_DENIED("CREATE TEMP TABLE t(a)", what);
        snprintf(args, sizeof args, "{\"%s\":\"DELETE FROM sqlite_schema\"}", key);
        ktc_expect_error(&t, read_tools[i], args,
                         "Database error: table sqlite_master may not be modified");
        EXPECT_DENIED("PRAGMA query_only = 0",
                      "PRAGMA query_only is not allowed here (only reading introspection "
                      "PRAGMAs)");
        EXPECT_DENIED("PRAGMA user_version = 5",
                      "PRAGMA user_version is not allowed here (only reading introspection "
                      "PRAGMAs)");
        EXPECT_DENIED("PRAGMA writable_schema = 1",
                      "PRAGMA writable_schema is not allowed here (only reading introspection "
                      "PRAGMAs)");
        EXPECT_DENIED("ATTACH ':memory:' AS other",
                      "ATTACH, DETACH and VACUUM are not allowed (the mock serves one database)");
        /* No authorizer action at compile time: sqlite3_stmt_readonly() catches it. */
        snprintf(what, sizeof what, "this statement would change the database: %s", reasons[i]);
        EXPECT_DENIED("VACUUM INTO '/tmp/mcp-mock-vacuum-test.db'", what);
        EXPECT_DENIED("BEGIN",
                      "transaction control is not allowed: every statement commits on its own");
        snprintf(args, sizeof args, "{\"%s\":\"SELECT load_extension('x')\"}", key);
        ktc_expect_error(&t, read_tools[i], args,
                         "Database error: not authorized to use function: load_extension");
#undef EXPECT_DENIED
        /* Smuggling a second statement is refused before anything runs, even one that would
         * act while being compiled. */
        snprintf(args, sizeof args, "{\"%s\":\"SELECT 1; PRAGMA query_only = 0\"}", key);
        ktc_expect_error_contains(&t, read_tools[i], args, "only one SQL statement per call");
        snprintf(args, sizeof args, "{\"%s\":\"SELECT 1; DELETE FROM orders\"}", key);
        ktc_expect_error_contains(&t, read_tools[i], args, "only one SQL statement per call");
        snprintf(args, sizeof args, "{\"%s\":\"SELECT 1;; ; DROP TABLE orders; --\"}", key);
        ktc_expect_error_contains(&t, read_tools[i], args, "only one SQL statement per call");
        snprintf(args, sizeof args,
                 "{\"%s\":\"SELECT 1; -- x\\n; /* y */ ;PRAGMA "
                 "query_only=0\"}",
                 key);
        ktc_expect_error_contains(&t, read_tools[i], args, "only one SQL statement per call");
    }
    struct stat sb;
    assert_int_not_equal(stat("/tmp/mcp-mock-vacuum-test.db", &sb), 0);

    /* The writing tools are refused too while the mock is not --writable. */
    ktc_expect_error(&t, "write_query", "{\"query\":\"DELETE FROM orders\"}",
                     "Database error: not authorized: DELETE is not allowed: " RO_DB);
    ktc_expect_error(&t, "execute_query", "{\"query\":\"UPDATE products SET name = 'x'\"}",
                     "Database error: not authorized: UPDATE is not allowed: " RO_DB);
    ktc_expect_error(&t, "create_table", "{\"query\":\"CREATE TABLE t (a INTEGER)\"}",
                     "Database error: not authorized: changing the schema is not allowed: " RO_DB);
    ktc_expect_error(&t, "execute_query", "{\"query\":\"ALTER TABLE orders ADD COLUMN x\"}",
                     "Database error: not authorized: ALTER TABLE is not allowed: " RO_DB);
    ktc_expect_error(&t, "execute_query", "{\"query\":\"CREATE INDEX i ON orders(status)\"}",
                     "Database error: not authorized: changing the schema is not allowed: " RO_DB);
    ktc_expect_error(&t, "execute_query", "{\"query\":\"SELECT 1; DELETE FROM orders\"}",
                     "Error: only one SQL statement per call is allowed; send the statements one "
                     "at a time");

    /* Nothing changed, and the second line of defence is still up. */
    assert_true(scalar(&t, "SELECT count(*) FROM orders") == 200);
    assert_true(scalar(&t, "SELECT count(*) FROM customers") == 25);
    assert_true(scalar(&t, "SELECT min(unit_price) FROM products") > 0);
    assert_true(scalar(&t, "PRAGMA query_only") == 1);
    assert_true(scalar(&t, "PRAGMA user_version") == 0);
    assert_true(scalar(&t, "SELECT count(*) FROM sqlite_schema WHERE name = 't'") == 0);
    ktc_close(&t);
}

/* ---- row limit and deadline ---- */

static void test_row_limit(void **state)
{
    (void)state;
    ktc_t t;
    open_db(&t, 0, 3);
    cJSON *r = ktc_call(&t, "read_query", "{\"query\":\"SELECT id FROM orders ORDER BY id\"}");
    const char *expected = "{\"columns\":[\"id\"],\"rows\":[{\"id\":24001},{\"id\":24002},{\"id\":"
                           "24003}],\"row_count\":3,\"truncated\":true,\"max_rows\":3}";
    assert_string_equal(ktc_text(r), expected);
    const cJSON *sc = cJSON_GetObjectItem(r, "structuredContent");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sc, "truncated")));
    cJSON_Delete(r);
    /* Exactly the limit is not truncated. */
    expect_text(&t, "query", "{\"sql\":\"SELECT id FROM orders ORDER BY id LIMIT 3\"}",
                "{\"columns\":[\"id\"],\"rows\":[{\"id\":24001},{\"id\":24002},{\"id\":24003}],"
                "\"row_count\":3,\"truncated\":false}");
    ktc_close(&t);

    open_db(&t, 0, 0); /* default 1000 */
    cJSON *j = ktc_call_json(&t, "read_query",
                             "{\"query\":\"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 "
                             "FROM c WHERE x < 5000) SELECT x FROM c\"}");
    assert_int_equal(cJSON_GetObjectItem(j, "row_count")->valueint, 1000);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "rows")), 1000);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "truncated")));
    cJSON_Delete(j);
    ktc_close(&t);
}

static void test_deadline(void **state)
{
    (void)state;
    ktc_t t;
    setenv("MCP_MOCK_DB_TIMEOUT_MS", "150", 1);
    open_db(&t, 0, 0);
    unsetenv("MCP_MOCK_DB_TIMEOUT_MS");
    uint64_t start = uv_hrtime();
    ktc_expect_error(&t, "read_query",
                     "{\"query\":\"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                     "SELECT count(*) FROM c\"}",
                     "Database error: interrupted: the statement ran longer than 150 ms and was "
                     "stopped");
    uint64_t took_ms = (uv_hrtime() - start) / 1000000;
    if (took_ms < 140) /* the deadline counts whole milliseconds */
        fail_msg("stopped after %llu ms", (unsigned long long)took_ms);
    assert_true(took_ms < 5000);
    /* The connection is fine afterwards. */
    assert_true(scalar(&t, "SELECT count(*) FROM products") == 30);
    ktc_close(&t);

    char err[256] = "";
    mock_options_t opts = {0};
    setenv("MCP_MOCK_DB_TIMEOUT_MS", "soon", 1);
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_database, &opts, err, sizeof err), MCP_EINVAL);
    unsetenv("MCP_MOCK_DB_TIMEOUT_MS");
    assert_string_equal(err,
                        "MCP_MOCK_DB_TIMEOUT_MS must be 1..3600000 (milliseconds), not 'soon'");
}

/* ---- list_tables, describe_table ---- */

static void test_list_and_describe(void **state)
{
    (void)state;
    ktc_t t;
    open_db(&t, 0, 0);
    expect_text(
        &t, "list_tables", NULL,
        "{\"columns\":[\"name\",\"type\"],\"rows\":[{\"name\":\"customers\",\"type\":"
        "\"table\"},{\"name\":\"inventory\",\"type\":\"table\"},{\"name\":\"order_items\","
        "\"type\":\"table\"},{\"name\":\"orders\",\"type\":\"table\"},{\"name\":"
        "\"product_aliases\",\"type\":\"table\"},{\"name\":\"products\",\"type\":\"table\"},"
        "{\"name\":\"sales\",\"type\":\"view\"}],\"row_count\":7,\"truncated\":false}");
    expect_text(&t, "describe_table", "{\"table_name\":\"product_aliases\"}",
                "{\"columns\":[\"cid\",\"name\",\"type\",\"notnull\",\"dflt_value\",\"pk\"],"
                "\"rows\":[{\"cid\":0,\"name\":\"alias\",\"type\":\"TEXT\",\"notnull\":0,"
                "\"dflt_value\":null,\"pk\":1},{\"cid\":1,\"name\":\"product_id\",\"type\":"
                "\"INTEGER\",\"notnull\":1,\"dflt_value\":null,\"pk\":0},{\"cid\":2,\"name\":"
                "\"kind\",\"type\":\"TEXT\",\"notnull\":1,\"dflt_value\":null,\"pk\":0},{\"cid\":3,"
                "\"name\":\"note\",\"type\":\"TEXT\",\"notnull\":0,\"dflt_value\":null,\"pk\":0}],"
                "\"row_count\":4,\"truncated\":false}");
    cJSON *j = ktc_call_json(&t, "describe_table", "{\"table_name\":\"sales\"}");
    assert_int_equal(cJSON_GetObjectItem(j, "row_count")->valueint, 11);
    cJSON_Delete(j);
    ktc_expect_error(&t, "describe_table", "{\"table_name\":\"nope\"}",
                     "Error: no such table: nope");
    /* A name is data, never SQL. */
    ktc_expect_error(&t, "describe_table",
                     "{\"table_name\":\"orders\\\"); DROP TABLE orders; --\"}",
                     "Error: no such table: orders\"); DROP TABLE orders; --");
    ktc_expect_error(&t, "describe_table", "{}", "Error: missing required argument \"table_name\"");
    ktc_expect_error(&t, "describe_table", "{\"table_name\":[]}",
                     "Error: argument \"table_name\" must be a string");
    assert_true(scalar(&t, "SELECT count(*) FROM orders") == 200);
    ktc_close(&t);
}

/* ---- resources ---- */

static cJSON *read_resource(ktc_t *t, const char *uri, int *code)
{
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", uri);
    return ktc_request(t, "resources/read", params, code);
}

static const char *resource_text(const cJSON *result)
{
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(result, "contents"), 0);
    return cJSON_GetObjectItem(c, "text")->valuestring;
}

static void test_schema_and_metadata_resources(void **state)
{
    (void)state;
    ktc_t t;
    open_db(&t, 0, 0);
    int code = 0;
    cJSON *r = read_resource(&t, "sqlite://main/product_aliases/schema", &code);
    assert_non_null(r);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "mimeType")->valuestring, "application/json");
    cJSON *schema = cJSON_Parse(resource_text(r));
    assert_string_equal(cJSON_GetObjectItem(schema, "table")->valuestring, "product_aliases");
    assert_string_equal(cJSON_GetObjectItem(schema, "type")->valuestring, "table");
    assert_non_null(strstr(cJSON_GetObjectItem(schema, "description")->valuestring,
                           "Other names for products"));
    char *col0 =
        cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItem(schema, "columns"), 0));
    assert_string_equal(col0,
                        "{\"column_name\":\"alias\",\"data_type\":\"TEXT\",\"not_null\":false,"
                        "\"default\":null,\"primary_key\":true,\"description\":\"the other "
                        "name; compared case-insensitively (COLLATE NOCASE)\"}");
    cJSON_free(col0);
    assert_non_null(
        strstr(cJSON_GetObjectItem(schema, "sql")->valuestring, "CREATE TABLE product_aliases"));
    cJSON_Delete(schema);
    cJSON_Delete(r);

    /* The view through the template's static twin, and the template for any name. */
    r = read_resource(&t, "sqlite://main/sales/schema", &code);
    schema = cJSON_Parse(resource_text(r));
    assert_string_equal(cJSON_GetObjectItem(schema, "type")->valuestring, "view");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(schema, "columns")), 11);
    cJSON_Delete(schema);
    cJSON_Delete(r);
    assert_null(read_resource(&t, "sqlite://main/nope/schema", &code));
    assert_int_equal(code, -32002);
    assert_string_equal(t.last_error, "Resource not found");

    /* Entity resolution: the metadata names abracadabra as product 123. */
    r = read_resource(&t, "sqlite://main/metadata", &code);
    cJSON *meta = cJSON_Parse(resource_text(r));
    const cJSON *alias = cJSON_GetArrayItem(cJSON_GetObjectItem(meta, "aliases"), 0);
    assert_string_equal(cJSON_GetObjectItem(alias, "alias")->valuestring, "abracadabra");
    assert_int_equal(cJSON_GetObjectItem(alias, "product_id")->valueint, 123);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(meta, "dates"), "this_month"));
    cJSON_Delete(meta);
    cJSON_Delete(r);
    /* ... and the database agrees. */
    assert_true(scalar(&t, "SELECT p.id FROM product_aliases a JOIN products p ON p.id = "
                           "a.product_id WHERE a.alias = 'abracadabra'") == 123);

    /* Completion of the template's table argument. */
    cJSON *params = cJSON_Parse("{\"ref\":{\"type\":\"ref/resource\",\"uri\":\"sqlite://main/"
                                "{table}/schema\"},\"argument\":{\"name\":\"table\",\"value\":"
                                "\"pro\"}}");
    r = ktc_request(&t, "completion/complete", params, NULL);
    char *vals =
        cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "completion"), "values"));
    assert_string_equal(vals, "[\"product_aliases\",\"products\"]");
    cJSON_free(vals);
    cJSON_Delete(r);
    ktc_close(&t);
}

static void test_memo(void **state)
{
    (void)state;
    ktc_t t;
    open_db(&t, 0, 0);
    int code = 0;
    cJSON *r = read_resource(&t, "memo://insights", &code);
    assert_string_equal(resource_text(r), "No business insights have been discovered yet.");
    cJSON_Delete(r);
    cJSON_Delete(
        ktc_request(&t, "resources/subscribe", cJSON_Parse("{\"uri\":\"memo://insights\"}"), NULL));

    expect_text(&t, "append_insight", "{\"insight\":\"Magic kits sell best to schools\"}",
                "Insight added to memo");
    ktc_flush(&t);
    assert_int_equal(ktc_count_notes(&t, "notifications/resources/updated"), 1);
    const cJSON *note = cJSON_GetArrayItem(t.notes, cJSON_GetArraySize(t.notes) - 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(note, "params"), "uri")->valuestring,
        "memo://insights");
    r = read_resource(&t, "memo://insights", &code);
    assert_string_equal(resource_text(r), "\xF0\x9F\x93\x8A Business Intelligence Memo "
                                          "\xF0\x9F\x93\x8A\n\nKey Insights Discovered:\n\n"
                                          "- Magic kits sell best to schools");
    cJSON_Delete(r);

    expect_text(&t, "append_insight", "{\"insight\":\"Refunds are rare\"}",
                "Insight added to memo");
    ktc_flush(&t);
    assert_int_equal(ktc_count_notes(&t, "notifications/resources/updated"), 2);
    r = read_resource(&t, "memo://insights", &code);
    assert_string_equal(resource_text(r),
                        "\xF0\x9F\x93\x8A Business Intelligence Memo \xF0\x9F\x93\x8A\n\nKey "
                        "Insights Discovered:\n\n- Magic kits sell best to schools\n- Refunds are "
                        "rare\nSummary:\nAnalysis has revealed 2 key business insights that "
                        "suggest opportunities for strategic optimization and growth.");
    cJSON_Delete(r);

    ktc_expect_error(&t, "append_insight", "{\"insight\":\"  \\n\"}",
                     "Error: the insight is empty");
    ktc_expect_error(&t, "append_insight", "{}", "Error: missing required argument \"insight\"");
    ktc_expect_error(&t, "append_insight", "{\"insight\":true}",
                     "Error: argument \"insight\" must be a string");
    char *big = mcp_malloc(5000 + 20);
    strcpy(big, "{\"insight\":\"");
    memset(big + 12, 'x', 5000);
    strcpy(big + 5012, "\"}");
    ktc_expect_error(&t, "append_insight", big, "Error: an insight may be at most 4096 bytes long");
    mcp_free(big);
    ktc_flush(&t);
    assert_int_equal(ktc_count_notes(&t, "notifications/resources/updated"), 2);
    ktc_close(&t);
}

static void test_prompt(void **state)
{
    (void)state;
    ktc_t t;
    open_db(&t, 0, 0);
    cJSON *r = ktc_request(
        &t, "prompts/get",
        cJSON_Parse("{\"name\":\"mcp-demo\",\"arguments\":{\"topic\":\"toys\"}}"), NULL);
    assert_non_null(r);
    assert_string_equal(cJSON_GetObjectItem(r, "description")->valuestring,
                        "Demo template for toys");
    const cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "messages"), 0);
    assert_string_equal(cJSON_GetObjectItem(msg, "role")->valuestring, "user");
    const char *text =
        cJSON_GetObjectItem(cJSON_GetObjectItem(msg, "content"), "text")->valuestring;
    assert_non_null(strstr(text, "The topic of this session is: toys."));
    assert_non_null(strstr(text, "append_insight"));
    cJSON_Delete(r);
    int code = 0;
    assert_null(ktc_request(&t, "prompts/get", cJSON_Parse("{\"name\":\"mcp-demo\"}"), &code));
    assert_int_equal(code, -32602);
    cJSON *params = cJSON_Parse("{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"mcp-demo\"},"
                                "\"argument\":{\"name\":\"topic\",\"value\":\"s\"}}");
    r = ktc_request(&t, "completion/complete", params, NULL);
    char *vals =
        cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "completion"), "values"));
    assert_string_equal(vals, "[\"sales\"]");
    cJSON_free(vals);
    cJSON_Delete(r);
    ktc_close(&t);
}

/* ---- --writable ---- */

static void test_writable(void **state)
{
    (void)state;
    ktc_t t;
    open_db(&t, 1, 0);
    expect_text(&t, "write_query",
                "{\"query\":\"INSERT INTO product_aliases VALUES ('wand', 123, 'nickname', "
                "NULL)\"}",
                "{\"affected_rows\":1}");
    assert_true(scalar(&t, "SELECT product_id FROM product_aliases WHERE alias = 'Wand'") == 123);
    expect_text(&t, "write_query", "{\"query\":\"UPDATE products SET active = 0 WHERE id > 125\"}",
                "{\"affected_rows\":5}");
    ktc_expect_error(&t, "write_query", "{\"query\":\"SELECT 1\"}",
                     "Error: SELECT queries are not allowed for write_query; use read_query");
    ktc_expect_error(&t, "write_query", "{\"query\":\"INSERT INTO nope VALUES (1)\"}",
                     "Database error: no such table: nope");
    ktc_expect_error(&t, "write_query",
                     "{\"query\":\"INSERT INTO product_aliases VALUES ('wand', 1, 'x', NULL)\"}",
                     "Database error: CHECK constraint failed: kind IN ('codename', 'nickname', "
                     "'legacy_sku')");
    /* Still one statement, no transactions, no second database, no setting PRAGMAs. */
    ktc_expect_error_contains(&t, "write_query",
                              "{\"query\":\"DELETE FROM orders; DELETE FROM customers\"}",
                              "only one SQL statement per call");
    ktc_expect_error(&t, "execute_query", "{\"query\":\"BEGIN\"}",
                     "Database error: not authorized: transaction control is not allowed: every "
                     "statement commits on its own");
    ktc_expect_error(&t, "execute_query", "{\"query\":\"ATTACH 'x.db' AS x\"}",
                     "Database error: not authorized: ATTACH, DETACH and VACUUM are not allowed "
                     "(the mock serves one database)");
    ktc_expect_error(&t, "execute_query", "{\"query\":\"VACUUM\"}",
                     "Database error: not authorized: this kind of statement (such as VACUUM) is "
                     "not allowed");
    ktc_expect_error(&t, "execute_query", "{\"query\":\"PRAGMA writable_schema = 1\"}",
                     "Database error: not authorized: PRAGMA writable_schema is not allowed here "
                     "(only reading introspection PRAGMAs)");
    expect_text(&t, "execute_query", "{\"query\":\"PRAGMA user_version = 7\"}",
                "{\"affected_rows\":0}");
    assert_true(scalar(&t, "PRAGMA user_version") == 7);
    assert_true(scalar(&t, "PRAGMA query_only") == 0);
    /* read_query and query stay read-only. */
    ktc_expect_error(&t, "read_query", "{\"query\":\"DELETE FROM orders\"}",
                     "Database error: not authorized: DELETE is not allowed: " RO_READ_QUERY);
    ktc_expect_error(&t, "query", "{\"sql\":\"DELETE FROM orders\"}",
                     "Database error: not authorized: DELETE is not allowed: query runs in a "
                     "read-only transaction");
    /* execute_query: rows for a query, affected rows for a change, RETURNING rows. */
    expect_text(&t, "execute_query", "{\"query\":\"SELECT count(*) AS n FROM orders\"}",
                "{\"columns\":[\"n\"],\"rows\":[{\"n\":200}],\"row_count\":1,\"truncated\":false}");
    expect_text(&t, "execute_query",
                "{\"query\":\"DELETE FROM product_aliases WHERE alias = 'wand' RETURNING "
                "product_id\"}",
                "{\"columns\":[\"product_id\"],\"rows\":[{\"product_id\":123}],\"row_count\":1,"
                "\"truncated\":false}");
    assert_true(scalar(&t, "SELECT count(*) FROM product_aliases") == 18);

    /* create_table: a new schema resource appears (list_changed), DROP removes it. */
    size_t before = (size_t)ktc_count_notes(&t, "notifications/resources/list_changed");
    expect_text(&t, "create_table",
                "{\"query\":\"CREATE TABLE promos (id INTEGER PRIMARY KEY, "
                "code TEXT UNIQUE NOT NULL, pct REAL)\"}",
                "Table created successfully");
    ktc_flush(&t);
    assert_true((size_t)ktc_count_notes(&t, "notifications/resources/list_changed") > before);
    int code = 0;
    cJSON *r = read_resource(&t, "sqlite://main/promos/schema", &code);
    assert_non_null(r);
    cJSON_Delete(r);
    cJSON *list = ktc_request(&t, "resources/list", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(list, "resources")), 10);
    cJSON_Delete(list);
    ktc_expect_error(&t, "create_table", "{\"query\":\"CREATE TABLE promos (id INTEGER)\"}",
                     "Database error: table promos already exists");
    ktc_expect_error(&t, "create_table", "{\"query\":\"SELECT 1\"}",
                     "Error: Only CREATE TABLE statements are allowed");
    ktc_expect_error(&t, "create_table", "{\"query\":\"DELETE FROM orders\"}",
                     "Database error: not authorized: DELETE is not allowed: create_table runs "
                     "CREATE TABLE statements only");
    ktc_expect_error(&t, "create_table", "{\"query\":\"CREATE VIEW v AS SELECT 1\"}",
                     "Database error: not authorized: CREATE VIEW is not allowed: create_table "
                     "runs CREATE TABLE statements only");
    expect_text(&t, "create_table",
                "{\"query\":\"CREATE TABLE top3 AS SELECT id FROM products ORDER BY id LIMIT 3\"}",
                "Table created successfully");
    assert_true(scalar(&t, "SELECT sum(id) FROM top3") == 101 + 102 + 103);
    /* Subscribers of a table's schema hear about ALTER TABLE; data changes are not schema. */
    cJSON_Delete(ktc_request(&t, "resources/subscribe",
                             cJSON_Parse("{\"uri\":\"sqlite://main/promos/schema\"}"), NULL));
    expect_text(&t, "write_query", "{\"query\":\"INSERT INTO promos (code) VALUES ('X')\"}",
                "{\"affected_rows\":1}");
    ktc_flush(&t);
    assert_int_equal(ktc_count_notes(&t, "notifications/resources/updated"), 0);
    expect_text(&t, "write_query", "{\"query\":\"ALTER TABLE promos ADD COLUMN ends TEXT\"}",
                "{\"affected_rows\":0}");
    ktc_flush(&t);
    assert_int_equal(ktc_count_notes(&t, "notifications/resources/updated"), 1);
    r = read_resource(&t, "sqlite://main/promos/schema", &code);
    assert_non_null(strstr(resource_text(r), "\"column_name\":\"ends\""));
    cJSON_Delete(r);
    expect_text(&t, "write_query", "{\"query\":\"DROP TABLE promos\"}", "{\"affected_rows\":0}");
    list = ktc_request(&t, "resources/list", NULL, NULL);
    char *all = cJSON_PrintUnformatted(list);
    assert_null(strstr(all, "promos"));
    assert_non_null(strstr(all, "sqlite://main/top3/schema"));
    cJSON_free(all);
    cJSON_Delete(list);
    assert_null(read_resource(&t, "sqlite://main/promos/schema", &code));
    assert_int_equal(code, -32002);
    ktc_close(&t);
}

/* ---- --db FILE and --seed-sql FILE ---- */

static void test_db_file_and_seed(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcp-kind-db-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], seed[256];
    snprintf(path, sizeof path, "%s/shop.db", dir);
    snprintf(seed, sizeof seed, "%s/seed.sql", dir);

    /* A new file gets the seed; a change persists; reopening does not reseed. */
    ktc_t t;
    mock_options_t opts = {.db_path = path, .writable = 1};
    char err[256] = "";
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_database, &opts, err, sizeof err), 0);
    expect_text(&t, "write_query", "{\"query\":\"DELETE FROM order_items WHERE order_id = 24001\"}",
                "{\"affected_rows\":2}");
    ktc_close(&t);
    mock_options_t ro = {.db_path = path};
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_database, &ro, err, sizeof err), 0);
    assert_true(scalar(&t, "SELECT count(*) FROM order_items WHERE order_id = 24001") == 0);
    assert_true(scalar(&t, "SELECT count(*) FROM order_items") == 363);
    ktc_close(&t);

    /* --seed-sql replaces the embedded seed. */
    FILE *f = fopen(seed, "w");
    assert_non_null(f);
    fputs("CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT);\n"
          "INSERT INTO widgets VALUES (1, 'sprocket'), (2, 'gear');\n",
          f);
    fclose(f);
    mock_options_t custom = {.seed_sql = seed};
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_database, &custom, err, sizeof err), 0);
    expect_text(&t, "list_tables", NULL,
                "{\"columns\":[\"name\",\"type\"],\"rows\":[{\"name\":\"widgets\",\"type\":"
                "\"table\"}],\"row_count\":1,\"truncated\":false}");
    ktc_close(&t);

    /* Setup errors: a missing seed file, a broken seed, an unusable database path. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.sql", dir);
    mock_options_t bad = {.seed_sql = missing};
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_database, &bad, err, sizeof err), MCP_EINVAL);
    char expected[600];
    snprintf(expected, sizeof expected, "cannot open %s: No such file or directory", missing);
    assert_string_equal(err, expected);
    f = fopen(seed, "w");
    fputs("CREATE TABLE x (a);\nINSERT INTO nope VALUES (1);\n", f);
    fclose(f);
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_database, &custom, err, sizeof err), MCP_EINVAL);
    snprintf(expected, sizeof expected, "seed SQL (%s) failed: no such table: nope", seed);
    assert_string_equal(err, expected);
    mock_options_t nodir = {.db_path = "/nonexistent-dir-mcp/x.db"};
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_database, &nodir, err, sizeof err), MCP_EINVAL);
    assert_string_equal(
        err, "cannot open database /nonexistent-dir-mcp/x.db: unable to open database file");

    unlink(path);
    unlink(seed);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_surface),
        cmocka_unit_test(test_read_query),
        cmocka_unit_test(test_read_only_enforced),
        cmocka_unit_test(test_row_limit),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_list_and_describe),
        cmocka_unit_test(test_schema_and_metadata_resources),
        cmocka_unit_test(test_memo),
        cmocka_unit_test(test_prompt),
        cmocka_unit_test(test_writable),
        cmocka_unit_test(test_db_file_and_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
