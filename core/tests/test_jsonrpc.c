/* Unit tests for jsonrpc (parse, classify, ids, builders, serialization) and mcp_proto
 * (versions, log levels, cursors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "jsonrpc.h"
#include "mcp_proto.h"

#include <stdio.h>
#include <string.h>

static int parse1(const char *text, jsonrpc_msg_t *m)
{
    jsonrpc_error_t err;
    return jsonrpc_parse_message(text, strlen(text), m, &err);
}

/* Parse text that must be a single INVALID message whose reason contains `needle`. */
static void expect_invalid(const char *text, const char *needle)
{
    jsonrpc_msg_t m;
    assert_int_equal(parse1(text, &m), 0);
    if (m.kind != JSONRPC_INVALID || !strstr(m.reason, needle))
        fail_msg("%s: kind=%s reason=\"%s\" (wanted \"%s\")", text, jsonrpc_kind_name(m.kind),
                 m.reason, needle);
    assert_int_equal(m.error_code, JSONRPC_INVALID_REQUEST);
    jsonrpc_msg_free(&m);
}

static void expect_parse_error(const char *text, size_t len, const char *needle)
{
    jsonrpc_batch_t b;
    jsonrpc_error_t err = {0};
    assert_int_equal(jsonrpc_parse(text, len, &b, &err), MCP_EPARSE);
    assert_int_equal(err.code, JSONRPC_PARSE_ERROR);
    if (!strstr(err.message, needle))
        fail_msg("parse error for %.*s: \"%s\" (wanted \"%s\")", (int)len, text, err.message,
                 needle);
    assert_int_equal(b.count, 0);
    jsonrpc_batch_free(&b);
}

static void test_kinds(void **state)
{
    (void)state;
    jsonrpc_msg_t m;

    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
                            "\"params\":{\"cursor\":\"x\"}}",
                            &m),
                     0);
    assert_int_equal(m.kind, JSONRPC_REQUEST);
    assert_int_equal(m.id.type, JSONRPC_ID_INT);
    assert_int_equal(m.id.num, 1);
    assert_string_equal(m.method, "tools/list");
    assert_string_equal(cJSON_GetObjectItem(m.params, "cursor")->valuestring, "x");
    jsonrpc_msg_free(&m);

    assert_int_equal(
        parse1(" {\"method\":\"notifications/initialized\",\"jsonrpc\":\"2.0\"}\r\n", &m), 0);
    assert_int_equal(m.kind, JSONRPC_NOTIFICATION);
    assert_int_equal(m.id.type, JSONRPC_ID_NONE);
    assert_null(m.params);
    jsonrpc_msg_free(&m);

    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":{}}", &m), 0);
    assert_int_equal(m.kind, JSONRPC_RESULT);
    assert_int_equal(m.id.type, JSONRPC_ID_STR);
    assert_string_equal(m.id.str, "abc");
    assert_true(cJSON_IsObject(m.result));
    jsonrpc_msg_free(&m);

    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32601,"
                            "\"message\":\"Method not found\",\"data\":{\"m\":1}}}",
                            &m),
                     0);
    assert_int_equal(m.kind, JSONRPC_ERROR);
    assert_int_equal(m.error_code, -32601);
    assert_string_equal(m.error_message, "Method not found");
    assert_non_null(m.error_data);
    jsonrpc_msg_free(&m);

    /* Error responses may carry id null (the request could not be read). */
    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                            "\"message\":\"Parse error\"}}",
                            &m),
                     0);
    assert_int_equal(m.kind, JSONRPC_ERROR);
    assert_int_equal(m.id.type, JSONRPC_ID_NULL);
    jsonrpc_msg_free(&m);

    /* params as an array is valid JSON-RPC. */
    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"x\",\"params\":[1]}", &m),
                     0);
    assert_int_equal(m.kind, JSONRPC_REQUEST);
    assert_true(cJSON_IsArray(m.params));
    jsonrpc_msg_free(&m);
}

static void test_invalid_shapes(void **state)
{
    (void)state;
    expect_invalid("42", "must be a JSON object");
    expect_invalid("{\"id\":1,\"method\":\"x\"}", "missing \"jsonrpc\"");
    expect_invalid("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"x\"}", "\"jsonrpc\" must be");
    expect_invalid("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"x\"}", "\"jsonrpc\" must be");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", "\"method\" must be a string");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":\"s\"}",
                   "\"params\" must be an object or an array");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":null}",
                   "\"params\" must be an object or an array");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"}", "must not be null");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"x\"}",
                   "\"id\" must be a string or an integer");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}",
                   "\"id\" must be a string or an integer");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"x\"}",
                   "\"id\" must be a string or an integer");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1e300,\"method\":\"x\"}",
                   "\"id\" must be a string or an integer");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":{}}",
                   "must not carry \"result\"");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1,"
                   "\"message\":\"m\"}}",
                   "both \"result\" and \"error\"");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"result\":{}}", "needs a string or integer \"id\"");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", "needs a string or integer");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"bad\"}",
                   "\"error\" must be an object");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\",\"message\":\"m\"}}",
                   "integer \"code\"");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1.5,\"message\":\"m\"}}",
                   "\"error.code\" must be an integer");
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1}", "none of \"method\"");
    /* Member names are case-sensitive. */
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"Method\":\"x\"}", "none of \"method\"");

    /* An invalid message keeps a readable id so the error reply can carry it. */
    jsonrpc_msg_t m;
    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"method\":3}", &m), 0);
    assert_int_equal(m.kind, JSONRPC_INVALID);
    assert_int_equal(m.id.type, JSONRPC_ID_STR);
    assert_string_equal(m.id.str, "q");
    jsonrpc_msg_free(&m);
    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"x\"}", &m), 0);
    assert_int_equal(m.kind, JSONRPC_INVALID);
    assert_int_equal(m.id.type, JSONRPC_ID_NULL);
    jsonrpc_msg_free(&m);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_parse_error("", 0, "empty input");
    expect_parse_error("   \n", 4, "empty input");
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"meth", 29, "unterminated string");
    expect_parse_error("{\"jsonrpc\":\"2.0\",\"id\":1", 22, "unexpected end of input");
    expect_parse_error("{\"a\":1}}", 8, "unexpected data after the JSON value at byte 7");
    expect_parse_error("{\"a\":1} {\"b\":2}", 15, "unexpected data after");
    expect_parse_error("{'a':1}", 7, "expected a string key at byte 1");
    expect_parse_error("{\"a\" 1}", 7, "expected ':'");
    expect_parse_error("{\"a\":tru}", 9, "invalid literal");
    expect_parse_error("{\"a\":01}", 8, "expected ',' or '}'");
    expect_parse_error("{\"a\":1.}", 8, "expected a digit");
    expect_parse_error("{\"a\":-}", 7, "expected a digit");
    expect_parse_error("[1,]", 4, "unexpected character");
    expect_parse_error("{\"a\":\"\\x\"}", 10, "invalid escape");
    expect_parse_error("{\"a\":\"\\u12G4\"}", 14, "invalid hex digit");
    expect_parse_error("{\"a\":\"\\uDC00\"}", 14, "unpaired low surrogate");
    expect_parse_error("{\"a\":\"\\uD83D\"}", 14, "unpaired high surrogate");
    expect_parse_error("{\"a\":\"\\uD83D\\u0041\"}", 20, "invalid low surrogate");
    expect_parse_error("{\"a\":\"x\ny\"}", 10, "control character");
    expect_parse_error("{\"a\":1}\0", 8, "found byte 0x00");
    /* Numbers longer than cJSON can read are refused, not mis-read. */
    char longnum[128] = "{\"a\":";
    memset(longnum + 5, '1', 80);
    strcpy(longnum + 85, "}");
    expect_parse_error(longnum, strlen(longnum), "number too long");
    /* Nesting is bounded. */
    char deep[1200];
    memset(deep, '[', 600);
    memset(deep + 600, ']', 600);
    expect_parse_error(deep, 1200, "nesting too deep");
    jsonrpc_batch_t b;
    assert_int_equal(jsonrpc_parse(deep + 100, 1000, &b, NULL), 0); /* 500 deep is fine */
    assert_true(b.is_batch);
    assert_int_equal(b.msgs[0].kind, JSONRPC_INVALID);
    jsonrpc_batch_free(&b);

    /* Every strict prefix of a valid message is a parse error (truncated input). */
    const char *full = "{\"jsonrpc\":\"2.0\",\"id\":\"\\u00e9\",\"method\":\"tools/call\","
                       "\"params\":{\"name\":\"x\",\"arguments\":{\"a\":[1,2.5e3,true,null]}}}";
    for (size_t n = 0; n < strlen(full); n++) {
        jsonrpc_error_t err;
        assert_int_equal(jsonrpc_parse(full, n, &b, &err), MCP_EPARSE);
        assert_int_equal(err.code, JSONRPC_PARSE_ERROR);
    }
    assert_int_equal(jsonrpc_parse(full, strlen(full), &b, NULL), 0);
    assert_int_equal(b.msgs[0].kind, JSONRPC_REQUEST);
    jsonrpc_batch_free(&b);
}

static void test_ids_exact(void **state)
{
    (void)state;
    jsonrpc_msg_t m;
    /* Beyond 2^53 a double would round; the raw text keeps every digit. */
    assert_int_equal(
        parse1("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"method\":\"ping\"}", &m), 0);
    assert_int_equal(m.kind, JSONRPC_REQUEST);
    assert_int_equal(m.id.type, JSONRPC_ID_INT);
    assert_true(m.id.num == INT64_MAX);
    cJSON *reply = jsonrpc_build_result(&m.id, NULL);
    char *text = jsonrpc_print(reply, NULL);
    assert_string_equal(text, "{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"result\":{}}");
    mcp_free(text);
    cJSON_Delete(reply);
    jsonrpc_msg_free(&m);

    assert_int_equal(
        parse1("{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"ping\"}", &m), 0);
    assert_true(m.id.num == 9007199254740993LL);
    jsonrpc_msg_free(&m);

    /* Past int64 there is no exact integer to keep. */
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":92233720368547758070,\"method\":\"ping\"}",
                   "\"id\" must be a string or an integer");

    /* 1.0 and 1e2 are integers in JSON's number model. */
    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":1e2,\"method\":\"ping\"}", &m), 0);
    assert_int_equal(m.id.type, JSONRPC_ID_INT);
    assert_int_equal(m.id.num, 100);
    jsonrpc_msg_free(&m);
    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":-0,\"method\":\"ping\"}", &m), 0);
    assert_int_equal(m.id.num, 0);
    jsonrpc_msg_free(&m);

    /* The first "id" member is the one used, also when later members look alike. */
    assert_int_equal(
        parse1("{\"jsonrpc\":\"2.0\",\"params\":{\"id\":5},\"id\":-12,\"method\":\"p\"}", &m), 0);
    assert_int_equal(m.id.num, -12);
    jsonrpc_msg_free(&m);

    /* Strings stay strings (including one that looks like a number), with unicode intact. */
    assert_int_equal(parse1("{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"ping\"}", &m), 0);
    assert_int_equal(m.id.type, JSONRPC_ID_STR);
    jsonrpc_id_t one_int;
    jsonrpc_id_set_int(&one_int, 1);
    assert_false(jsonrpc_id_equal(&m.id, &one_int));
    jsonrpc_msg_free(&m);

    assert_int_equal(
        parse1("{\"jsonrpc\":\"2.0\",\"id\":\"\\u00e9\\ud83d\\ude00\",\"method\":\"p\"}", &m), 0);
    assert_string_equal(m.id.str, "\xc3\xa9\xf0\x9f\x98\x80");
    reply = jsonrpc_build_result(&m.id, NULL);
    text = jsonrpc_print(reply, NULL);
    assert_string_equal(text,
                        "{\"jsonrpc\":\"2.0\",\"id\":\"\xc3\xa9\xf0\x9f\x98\x80\",\"result\":{}}");
    mcp_free(text);
    cJSON_Delete(reply);
    jsonrpc_msg_free(&m);
}

static void test_id_helpers(void **state)
{
    (void)state;
    jsonrpc_id_t a, b, c, n = {0};
    jsonrpc_id_set_int(&a, 42);
    assert_int_equal(jsonrpc_id_set_str(&b, "say \"hi\"\n"), 0);
    assert_int_equal(jsonrpc_id_copy(&c, &b), 0);
    assert_true(c.str != b.str);
    assert_true(jsonrpc_id_equal(&b, &c));
    assert_true(jsonrpc_id_hash(&b) == jsonrpc_id_hash(&c));
    assert_false(jsonrpc_id_equal(&a, &b));
    jsonrpc_id_t s42;
    assert_int_equal(jsonrpc_id_set_str(&s42, "42"), 0);
    assert_false(jsonrpc_id_equal(&a, &s42));
    assert_true(jsonrpc_id_hash(&a) != jsonrpc_id_hash(&s42));

    buf_t out;
    buf_init(&out, 1024);
    assert_int_equal(jsonrpc_id_print(&a, &out), 0);
    assert_int_equal(buf_putc(&out, ' '), 0);
    assert_int_equal(jsonrpc_id_print(&b, &out), 0);
    assert_int_equal(buf_putc(&out, ' '), 0);
    assert_int_equal(jsonrpc_id_print(&n, &out), 0);
    assert_string_equal(out.data, "42 \"say \\\"hi\\\"\\n\" null");
    buf_free(&out);

    char tmp[8];
    assert_string_equal(jsonrpc_id_str(&a, tmp, sizeof(tmp)), "42");
    assert_string_equal(jsonrpc_id_str(&s42, tmp, sizeof(tmp)), "\"42\"");

    cJSON *j = cJSON_CreateNumber(3.0);
    jsonrpc_id_t d;
    assert_int_equal(jsonrpc_id_from_json(j, &d), 0);
    assert_int_equal(d.type, JSONRPC_ID_INT);
    cJSON_Delete(j);
    j = cJSON_CreateTrue();
    assert_int_equal(jsonrpc_id_from_json(j, &d), MCP_EINVAL);
    cJSON_Delete(j);

    jsonrpc_id_free(&b);
    jsonrpc_id_free(&c);
    jsonrpc_id_free(&s42);
    assert_int_equal(b.type, JSONRPC_ID_NONE);
}

static void test_batches(void **state)
{
    (void)state;
    jsonrpc_batch_t b;
    jsonrpc_error_t err;
    const char *text = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                       " {\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"} ,"
                       "{\"jsonrpc\":\"2.0\",\"id\":9223372036854775806,\"result\":{}},"
                       "7,"
                       "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":1}]";
    assert_int_equal(jsonrpc_parse(text, strlen(text), &b, &err), 0);
    assert_true(b.is_batch);
    assert_int_equal(b.count, 5);
    assert_int_equal(b.msgs[0].kind, JSONRPC_REQUEST);
    assert_int_equal(b.msgs[1].kind, JSONRPC_NOTIFICATION);
    assert_int_equal(b.msgs[2].kind, JSONRPC_RESULT);
    assert_true(b.msgs[2].id.num == INT64_MAX - 1);
    assert_int_equal(b.msgs[3].kind, JSONRPC_INVALID);
    assert_int_equal(b.msgs[4].kind, JSONRPC_INVALID);
    assert_string_equal(b.msgs[4].id.str, "s");

    /* A message moved out of the batch lives on its own. */
    jsonrpc_msg_t m;
    jsonrpc_msg_move(&m, &b.msgs[0]);
    assert_null(b.msgs[0].json);
    jsonrpc_batch_free(&b);
    assert_string_equal(m.method, "ping");
    jsonrpc_msg_free(&m);

    assert_int_equal(jsonrpc_parse("[]", 2, &b, &err), MCP_EPROTO);
    assert_int_equal(err.code, JSONRPC_INVALID_REQUEST);
    assert_non_null(strstr(err.message, "empty batch"));

    /* A batch of one is still reported as a batch. */
    const char *one = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]";
    assert_int_equal(jsonrpc_parse(one, strlen(one), &b, &err), 0);
    assert_true(b.is_batch);
    assert_int_equal(b.count, 1);
    jsonrpc_batch_free(&b);

    /* The single-message parser refuses arrays. */
    one = "[{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]";
    assert_int_equal(jsonrpc_parse_message(one, strlen(one), &m, &err), MCP_EPROTO);
    assert_non_null(strstr(err.message, "batch"));
}

static void test_builders(void **state)
{
    (void)state;
    jsonrpc_id_t id;
    jsonrpc_id_set_int(&id, 5);
    buf_t out;
    buf_init(&out, 4096);

    cJSON *msg = jsonrpc_build_request(&id, "tools/call", cJSON_Parse("{\"name\":\"x\"}"));
    assert_int_equal(jsonrpc_write(msg, &out), 0);
    cJSON_Delete(msg);
    assert_string_equal(out.data, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
                                  "\"params\":{\"name\":\"x\"}}");
    buf_reset(&out);

    msg = jsonrpc_build_notification("notifications/initialized", NULL);
    assert_int_equal(jsonrpc_write(msg, &out), 0);
    cJSON_Delete(msg);
    assert_string_equal(out.data, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    buf_reset(&out);

    msg = jsonrpc_build_error(NULL, JSONRPC_PARSE_ERROR, "Parse error", NULL);
    assert_int_equal(jsonrpc_write(msg, &out), 0);
    cJSON_Delete(msg);
    assert_string_equal(out.data, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                                  "\"message\":\"Parse error\"}}");
    buf_reset(&out);

    msg = jsonrpc_build_error(&id, JSONRPC_RESOURCE_NOT_FOUND, "Resource not found",
                              cJSON_Parse("{\"uri\":\"a\\nb\"}"));
    assert_int_equal(jsonrpc_write(msg, &out), 0);
    cJSON_Delete(msg);
    /* Compact: the newline in the data stays escaped, no newline in the output. */
    assert_null(strchr(out.data, '\n'));
    assert_string_equal(out.data,
                        "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32002,"
                        "\"message\":\"Resource not found\",\"data\":{\"uri\":\"a\\nb\"}}}");

    /* Round trip: what we build parses back as the same kind with the same id. */
    jsonrpc_msg_t m;
    assert_int_equal(jsonrpc_parse_message(out.data, out.len, &m, NULL), 0);
    assert_int_equal(m.kind, JSONRPC_ERROR);
    assert_true(jsonrpc_id_equal(&m.id, &id));
    jsonrpc_msg_free(&m);

    /* The buffer's maximum is honoured. */
    buf_t small;
    buf_init(&small, 10);
    msg = jsonrpc_build_result(&id, NULL);
    assert_int_equal(jsonrpc_write(msg, &small), MCP_ENOBUFS);
    cJSON_Delete(msg);
    buf_free(&small);
    buf_free(&out);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    const char *texts[] = {
        "[{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"tools/call\",\"params\":{\"name\":\"x\","
        "\"arguments\":{\"a\":[1,2,{\"b\":\"c\"}]}}},{\"jsonrpc\":\"2.0\",\"method\":\"n\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":1,\"message\":\"m\"}}]",
        "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"result\":{\"x\":\"y\"}}",
    };
    for (size_t t = 0; t < 2; t++) {
        int ok = 0;
        for (long n = 0; n < 200 && !ok; n++) {
            jsonrpc_batch_t b;
            mcp_alloc_fail_after(n);
            int rc = jsonrpc_parse(texts[t], strlen(texts[t]), &b, NULL);
            long failed = mcp_alloc_failures();
            mcp_alloc_fail_after(-1);
            if (rc == 0) {
                assert_int_equal(failed, 0);
                ok = 1;
            } else {
                assert_int_equal(rc, MCP_ENOMEM);
                assert_int_equal(b.count, 0);
                assert_null(b.msgs);
            }
            jsonrpc_batch_free(&b);
        }
        assert_true(ok);
    }
    /* Builders and printing fail cleanly too. */
    int ok = 0;
    for (long n = 0; n < 100 && !ok; n++) {
        jsonrpc_id_t id;
        jsonrpc_id_set_int(&id, 1);
        mcp_alloc_fail_after(n);
        cJSON *msg = jsonrpc_build_error(&id, 1, "m", cJSON_CreateString("d"));
        char *s = msg ? jsonrpc_print(msg, NULL) : NULL;
        mcp_alloc_fail_after(-1);
        ok = s != NULL;
        mcp_free(s);
        cJSON_Delete(msg);
    }
    assert_true(ok);
}

static void test_versions(void **state)
{
    (void)state;
    assert_string_equal(mcp_version_negotiate("2025-06-18"), "2025-06-18");
    assert_string_equal(mcp_version_negotiate("2024-11-05"), "2024-11-05");
    assert_string_equal(mcp_version_negotiate("2099-01-01"), MCP_PROTOCOL_LATEST);
    assert_string_equal(mcp_version_negotiate("1.0.0"), MCP_PROTOCOL_LATEST);
    assert_string_equal(mcp_version_negotiate(NULL), MCP_PROTOCOL_LATEST);
    assert_true(mcp_version_client_accepts("2025-11-25", "2024-11-05"));
    assert_true(mcp_version_client_accepts("2025-06-18", "2025-06-18"));
    assert_false(mcp_version_client_accepts("2025-06-18", "2025-11-25"));
    assert_false(mcp_version_client_accepts("2025-11-25", "2023-01-01"));
    assert_true(mcp_version_allows_batch("2025-03-26"));
    assert_false(mcp_version_allows_batch("2025-06-18"));
    assert_false(mcp_version_allows_batch("2024-11-05"));
    assert_false(mcp_version_allows_batch("2025-11-25"));
    assert_false(mcp_version_allows_batch(NULL));
    assert_true(mcp_version_has_protocol_header("2025-06-18"));
    assert_false(mcp_version_has_protocol_header("2025-03-26"));
    assert_true(mcp_version_has_structured_content("2025-11-25"));
    assert_false(mcp_version_has_structured_content("2024-11-05"));
    assert_true(mcp_version_has_icons_tasks("2025-11-25"));
    assert_false(mcp_version_has_icons_tasks("2025-06-18"));
    assert_false(mcp_version_has_streamable_http("2024-11-05"));
    assert_true(mcp_version_compare("2024-11-05", "2025-03-26") < 0);
}

static void test_log_levels(void **state)
{
    (void)state;
    mcp_log_level_t l;
    assert_int_equal(mcp_log_level_parse("warning", &l), 0);
    assert_int_equal(l, MCP_LOG_WARNING);
    assert_true(MCP_LOG_DEBUG < MCP_LOG_NOTICE && MCP_LOG_CRITICAL < MCP_LOG_EMERGENCY);
    assert_int_equal(mcp_log_level_parse("emergency", &l), 0);
    assert_int_equal(l, MCP_LOG_EMERGENCY);
    assert_int_equal(mcp_log_level_parse("warn", &l), MCP_EINVAL);
    assert_int_equal(mcp_log_level_parse("INFO", &l), MCP_EINVAL);
    assert_int_equal(mcp_log_level_parse(NULL, &l), MCP_EINVAL);
    assert_string_equal(mcp_log_level_name(MCP_LOG_ALERT), "alert");
}

static void test_cursors(void **state)
{
    (void)state;
    size_t offsets[] = {0, 1, 2, 99, 100, 12345, (size_t)-1};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        char *c = mcp_cursor_encode(offsets[i]);
        assert_non_null(c);
        assert_null(strpbrk(c, "=+/")); /* opaque, URL-safe */
        size_t back = 7;
        assert_int_equal(mcp_cursor_decode(c, &back), 0);
        assert_true(back == offsets[i]);
        mcp_free(c);
    }
    size_t off;
    assert_int_equal(mcp_cursor_decode("garbage!", &off), MCP_EINVAL);
    assert_int_equal(mcp_cursor_decode("", &off), MCP_EINVAL);
    assert_int_equal(mcp_cursor_decode(NULL, &off), MCP_EINVAL);
    assert_int_equal(mcp_cursor_decode("eyJvZmZzZXQiOjJ9", &off), MCP_EINVAL); /* not ours */
    char *p = mcp_cursor_encode_payload("o=x", 3);
    assert_int_equal(mcp_cursor_decode(p, &off), MCP_EINVAL);
    mcp_free(p);
    p = mcp_cursor_encode_payload("o=01", 4);
    assert_int_equal(mcp_cursor_decode(p, &off), MCP_EINVAL);
    mcp_free(p);

    p = mcp_cursor_encode_payload("up=3;c=abc", 10);
    char *payload;
    size_t len;
    assert_int_equal(mcp_cursor_decode_payload(p, &payload, &len), 0);
    assert_int_equal(len, 10);
    assert_string_equal(payload, "up=3;c=abc");
    mcp_free(payload);
    /* One flipped character is detected (prefix or trailing bits). */
    p[0] = p[0] == 'A' ? 'B' : 'A';
    assert_int_equal(mcp_cursor_decode_payload(p, &payload, &len), MCP_EINVAL);
    mcp_free(p);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),        cmocka_unit_test(test_invalid_shapes),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_ids_exact),
        cmocka_unit_test(test_id_helpers),   cmocka_unit_test(test_batches),
        cmocka_unit_test(test_builders),     cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_versions),     cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_cursors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
