/* Unit tests for the JSON path subset, the matchers (match.h) and variable substitution
 * (vars.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "match.h"
#include "vars.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *doc_text =
    "{\"result\":{\"isError\":false,\"content\":[{\"type\":\"text\",\"text\":\"hello world\"},"
    "{\"type\":\"image\",\"data\":\"AAA\"}],\"count\":3,\"ratio\":0.5,\"name\":\"héllo\","
    "\"tools\":[{\"name\":\"echo\"},{\"name\":\"add\"},{\"name\":\"slow\"}],"
    "\"odd key\":{\"a.b\":1},\"empty\":[],\"nothing\":null}}";

static cJSON *doc(void)
{
    cJSON *d = cJSON_Parse(doc_text);
    assert_non_null(d);
    return d;
}

/* Evaluate path, return its compact JSON (or "<none>"), in a static buffer. */
static const char *eval(const cJSON *root, const char *path)
{
    static char out[512];
    cJSON *v = NULL;
    int multi = -1;
    char err[128];
    assert_int_equal(match_path_eval(root, path, &v, &multi, err, sizeof(err)), 0);
    if (!v) {
        snprintf(out, sizeof(out), "<none>");
        return out;
    }
    char *t = cJSON_PrintUnformatted(v);
    snprintf(out, sizeof(out), "%s%s", multi ? "*" : "", t);
    cJSON_free(t);
    cJSON_Delete(v);
    return out;
}

static void test_paths(void **state)
{
    (void)state;
    cJSON *d = doc();
    assert_string_equal(eval(d, "$.result.isError"), "false");
    assert_string_equal(eval(d, "$.result.content[0].text"), "\"hello world\"");
    assert_string_equal(eval(d, "$.result.content[-1].type"), "\"image\"");
    assert_string_equal(eval(d, "$.result.content[5]"), "<none>");
    assert_string_equal(eval(d, "$.result.missing.deeper"), "<none>");
    assert_string_equal(eval(d, "$.result.tools[*].name"), "*[\"echo\",\"add\",\"slow\"]");
    assert_string_equal(eval(d, "$.result.tools.*.name"), "*[\"echo\",\"add\",\"slow\"]");
    assert_string_equal(eval(d, "$.result['odd key']['a.b']"), "1");
    assert_string_equal(eval(d, "$.result[\"count\"]"), "3");
    assert_string_equal(eval(d, "$.result.empty[*]"), "*[]");
    assert_string_equal(eval(d, "$.result.nothing"), "null");
    /* indexing a non-array or naming into an array selects nothing */
    assert_string_equal(eval(d, "$.result.count[0]"), "<none>");
    assert_string_equal(eval(d, "$.result.tools.name"), "<none>");
    char *all = cJSON_PrintUnformatted(d);
    assert_string_equal(eval(d, "$"), all);
    cJSON_free(all);
    cJSON_Delete(d);
}

static void test_bad_paths(void **state)
{
    (void)state;
    char err[160];
    const char *bad[] = {"result.x", "", "$.", "$..a", "$[", "$[abc]", "$['a", "$.a]", "$x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(match_path_validate(bad[i], err, sizeof(err)), MCP_EINVAL);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(match_path_validate("$.a[0]['b c'][*].d", err, sizeof(err)), 0);
    cJSON *d = doc();
    cJSON *v = NULL;
    assert_int_equal(match_path_eval(d, "nope", &v, NULL, err, sizeof(err)), MCP_EINVAL);
    assert_null(v);
    assert_non_null(strstr(err, "starts with '$'"));
    cJSON_Delete(d);
}

/* Run a matcher (JSON text) against the value at path; returns the result and the message. */
static int check(const char *matcher, const char *path, char *why_out, size_t cap)
{
    cJSON *d = doc();
    cJSON *m = cJSON_Parse(matcher);
    assert_non_null(m);
    cJSON *v = NULL;
    int multi = 0;
    assert_int_equal(match_path_eval(d, path, &v, &multi, NULL, 0), 0);
    buf_t why;
    buf_init(&why, 4096);
    int r = match_check(m, v, multi, path, &why);
    snprintf(why_out, cap, "%s", why.data ? why.data : "");
    buf_free(&why);
    cJSON_Delete(v);
    cJSON_Delete(m);
    cJSON_Delete(d);
    return r;
}

static void test_matchers(void **state)
{
    (void)state;
    char why[512];
    /* literals: equality */
    assert_int_equal(check("false", "$.result.isError", why, sizeof(why)), 1);
    assert_int_equal(check("true", "$.result.isError", why, sizeof(why)), 0);
    assert_string_equal(why, "$.result.isError: expected true, got false");
    assert_int_equal(check("3.0", "$.result.count", why, sizeof(why)), 1);
    assert_int_equal(check("\"3\"", "$.result.count", why, sizeof(why)), 0);
    assert_int_equal(check("{\"equals\":[]}", "$.result.empty", why, sizeof(why)), 1);
    /* contains */
    assert_int_equal(check("{\"contains\":\"world\"}", "$.result.content[0].text", why, 512), 1);
    assert_int_equal(check("{\"contains\":\"mars\"}", "$.result.content[0].text", why, 512), 0);
    assert_string_equal(why, "$.result.content[0].text: expected to contain \"mars\", got \"hello "
                             "world\"");
    assert_int_equal(check("{\"contains\":\"add\"}", "$.result.tools[*].name", why, 512), 1);
    assert_int_equal(check("{\"contains\":{\"type\":\"image\"}}", "$.result.content[1]", why, 512),
                     1);
    assert_int_equal(check("{\"contains\":\"count\"}", "$.result", why, 512), 1);
    /* regex (POSIX extended), numbers matched as text */
    assert_int_equal(check("{\"regex\":\"^hel+o w\"}", "$.result.content[0].text", why, 512), 1);
    assert_int_equal(check("{\"regex\":\"^[0-9]$\"}", "$.result.count", why, 512), 1);
    assert_int_equal(check("{\"regex\":\"^x\"}", "$.result.content[0].text", why, 512), 0);
    assert_non_null(strstr(why, "expected to match /^x/"));
    /* exists */
    assert_int_equal(check("{\"exists\":true}", "$.result.nothing", why, 512), 1);
    assert_int_equal(check("{\"exists\":true}", "$.result.nope", why, 512), 0);
    assert_string_equal(why, "$.result.nope: expected to exist, but it is missing");
    assert_int_equal(check("{\"exists\":false}", "$.result.nope", why, 512), 1);
    assert_int_equal(check("{\"exists\":false}", "$.result.count", why, 512), 0);
    assert_int_equal(check("{\"exists\":false}", "$.result.empty[*]", why, 512), 1);
    /* length: strings in characters, arrays, objects, nested matcher */
    assert_int_equal(check("{\"length\":5}", "$.result.name", why, 512), 1);
    assert_int_equal(check("{\"length\":3}", "$.result.tools", why, 512), 1);
    assert_int_equal(check("{\"length\":{\"gt\":2}}", "$.result.tools[*]", why, 512), 1);
    assert_int_equal(check("{\"length\":2}", "$.result.tools", why, 512), 0);
    assert_string_equal(why, "$.result.tools: expected length 2, got length 3");
    assert_int_equal(check("{\"length\":1}", "$.result.count", why, 512), 0);
    /* numbers */
    assert_int_equal(check("{\"gt\":2,\"lt\":4}", "$.result.count", why, 512), 1);
    assert_int_equal(check("{\"ge\":3,\"le\":3}", "$.result.count", why, 512), 1);
    assert_int_equal(check("{\"<\":1}", "$.result.ratio", why, 512), 1);
    assert_int_equal(check("{\"gt\":3}", "$.result.count", why, 512), 0);
    assert_string_equal(why, "$.result.count: expected > 3, got 3");
    assert_int_equal(check("{\"lt\":3}", "$.result.name", why, 512), 0);
    assert_int_equal(check("{\"ne\":2}", "$.result.count", why, 512), 1);
    /* type */
    assert_int_equal(check("{\"type\":\"integer\"}", "$.result.count", why, 512), 1);
    assert_int_equal(check("{\"type\":\"integer\"}", "$.result.ratio", why, 512), 0);
    assert_int_equal(check("{\"type\":\"array\"}", "$.result.tools", why, 512), 1);
    /* not */
    assert_int_equal(check("{\"not\":true}", "$.result.isError", why, 512), 1);
    assert_int_equal(
        check("{\"not\":{\"contains\":\"hello\"}}", "$.result.content[0].text", why, 512), 0);
    assert_non_null(strstr(why, "expected not {\"contains\":\"hello\"}"));
    /* some / every */
    assert_int_equal(check("{\"some\":{\"regex\":\"^s\"}}", "$.result.tools[*].name", why, 512), 1);
    assert_int_equal(
        check("{\"every\":{\"length\":{\"le\":4}}}", "$.result.tools[*].name", why, 512), 1);
    assert_int_equal(check("{\"every\":{\"regex\":\"^e\"}}", "$.result.tools[*].name", why, 512),
                     0);
    /* several operators: every failure is reported */
    assert_int_equal(check("{\"gt\":5,\"lt\":1}", "$.result.count", why, 512), 0);
    assert_non_null(strstr(why, "expected > 5"));
    assert_non_null(strstr(why, "expected < 1"));
    /* an absent value fails ordinary operators */
    assert_int_equal(check("{\"contains\":\"x\"}", "$.missing", why, 512), 0);
    assert_string_equal(why, "$.missing: expected to contain \"x\", got nothing");
}

static void test_validate(void **state)
{
    (void)state;
    char err[256];
    const char *bad[] = {"{}",
                         "{\"equalz\":1}",
                         "{\"regex\":\"(\"}",
                         "{\"regex\":1}",
                         "{\"exists\":1}",
                         "{\"length\":-1}",
                         "{\"gt\":\"3\"}",
                         "{\"type\":\"float\"}",
                         "{\"not\":{\"bogus\":1}}"};
    const char *want[] = {"empty matcher",
                          "unknown matcher \"equalz\"",
                          "does not compile",
                          "regex: must be a string",
                          "exists",
                          "length",
                          "gt: must be a number",
                          "type",
                          "not: unknown matcher"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *m = cJSON_Parse(bad[i]);
        assert_non_null(m);
        err[0] = '\0';
        assert_int_equal(match_validate(m, err, sizeof(err)), MCP_EINVAL);
        if (!strstr(err, want[i]))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i], err, want[i]);
        cJSON_Delete(m);
    }
    cJSON *ok = cJSON_Parse("{\"length\":{\"gt\":1},\"not\":{\"regex\":\"a|b\"},\"exists\":true}");
    assert_int_equal(match_validate(ok, err, sizeof(err)), 0);
    cJSON_Delete(ok);
    cJSON *lit = cJSON_Parse("[1,2]");
    assert_int_equal(match_validate(lit, err, sizeof(err)), 0);
    cJSON_Delete(lit);
}

static void test_match_object(void **state)
{
    (void)state;
    cJSON *d = doc();
    cJSON *pairs = cJSON_Parse("{\"$.result.isError\":false,\"$.result.tools[*].name\":{"
                               "\"contains\":\"echo\"},\"$.result.count\":{\"ge\":1}}");
    buf_t why;
    buf_init(&why, 4096);
    assert_int_equal(match_object(pairs, d, &why), 1);
    assert_int_equal(why.len, 0);
    cJSON_Delete(pairs);
    pairs = cJSON_Parse("{\"$.result.isError\":true,\"$.result.count\":3,\"$.result.x\":1}");
    assert_int_equal(match_object(pairs, d, &why), 0);
    assert_string_equal(why.data, "$.result.isError: expected true, got false; $.result.x: "
                                  "expected 1, got nothing");
    cJSON_Delete(pairs);
    buf_reset(&why);
    pairs = cJSON_Parse("{\"bad path\":1}");
    assert_true(match_object(pairs, d, &why) < 0);
    assert_non_null(strstr(why.data, "bad path"));
    cJSON_Delete(pairs);
    buf_free(&why);
    cJSON_Delete(d);
}

/* ---- vars ---- */

static char *expand_print(vars_t *v, const char *in)
{
    cJSON *out = NULL;
    char err[200];
    int rc = vars_expand_string(v, in, &out, err, sizeof(err));
    if (rc)
        return mcp_asprintf("ERR %s", err);
    char *t = cJSON_PrintUnformatted(out);
    char *r = mcp_strdup(t);
    cJSON_free(t);
    cJSON_Delete(out);
    return r;
}

static void expect_expand(vars_t *v, const char *in, const char *want)
{
    char *got = expand_print(v, in);
    if (strcmp(got, want) != 0)
        fail_msg("%s -> %s, want %s", in, got, want);
    mcp_free(got);
}

static void test_vars(void **state)
{
    (void)state;
    vars_t *v;
    assert_int_equal(vars_new(&v), 0);
    assert_int_equal(vars_set_string(v, "host", "127.0.0.1"), 0);
    assert_int_equal(vars_set_number(v, "m1.port", 8080), 0);
    assert_int_equal(vars_set_string(v, "empty", ""), 0);
    cJSON *obj = cJSON_Parse("{\"a\":[1,2]}");
    assert_int_equal(vars_set(v, "obj", obj), 0);
    cJSON_Delete(obj);
    assert_int_equal(vars_set_string(v, "bad name", "x"), MCP_EINVAL);
    assert_int_equal(vars_set_string(v, "1x", "x"), MCP_EINVAL);
    setenv("HN1_TEST_ENV", "from-env", 1);

    expect_expand(v, "plain $.result text", "\"plain $.result text\"");
    expect_expand(v, "${host}", "\"127.0.0.1\"");
    expect_expand(v, "${m1.port}", "8080"); /* a whole reference keeps its type */
    expect_expand(v, "${obj}", "{\"a\":[1,2]}");
    expect_expand(v, "http://${host}:${m1.port}/mcp", "\"http://127.0.0.1:8080/mcp\"");
    expect_expand(v, "x=${obj}", "\"x={\\\"a\\\":[1,2]}\"");
    expect_expand(v, "${missing:-fallback}", "\"fallback\"");
    expect_expand(v, "${empty:-used when empty}", "\"used when empty\"");
    expect_expand(v, "${host:-unused}", "\"127.0.0.1\"");
    expect_expand(v, "a$${host}b", "\"a${host}b\"");
    expect_expand(v, "${env.HN1_TEST_ENV}", "\"from-env\"");
    expect_expand(v, "cost: $5 and $$", "\"cost: $5 and $$\"");
    expect_expand(v, "${missing}", "ERR variable \"missing\" is not set");
    expect_expand(v, "x ${missing} y", "ERR variable \"missing\" is not set");
    char *e = expand_print(v, "${host");
    assert_non_null(strstr(e, "ERR"));
    assert_non_null(strstr(e, "unterminated"));
    mcp_free(e);
    e = expand_print(v, "${-x}");
    assert_non_null(strstr(e, "ERR"));
    mcp_free(e);

    /* JSON trees: strings expanded, errors name the member */
    cJSON *in = cJSON_Parse("{\"url\":\"http://${host}\",\"n\":\"${m1.port}\",\"list\":[\"${obj}\","
                            "true],\"headers\":{\"X\":\"${nope}\"}}");
    cJSON *out = NULL;
    char err[200];
    assert_int_equal(vars_expand_json(v, in, &out, err, sizeof(err)), MCP_ENOTFOUND);
    assert_string_equal(err, "headers.X: variable \"nope\" is not set");
    cJSON_DeleteItemFromObject(in, "headers");
    assert_int_equal(vars_expand_json(v, in, &out, err, sizeof(err)), 0);
    char *t = cJSON_PrintUnformatted(out);
    assert_string_equal(t,
                        "{\"url\":\"http://127.0.0.1\",\"n\":8080,\"list\":[{\"a\":[1,2]},true]}");
    cJSON_free(t);
    cJSON_Delete(out);
    cJSON_Delete(in);

    char *text = NULL;
    assert_int_equal(vars_expand_text(v, "${m1.port}", &text, err, sizeof(err)), 0);
    assert_string_equal(text, "8080");
    mcp_free(text);

    /* overwrite and unset */
    assert_int_equal(vars_set_string(v, "host", "::1"), 0);
    assert_string_equal(vars_get(v, "host")->valuestring, "::1");
    vars_unset(v, "host");
    assert_null(vars_get(v, "host"));
    vars_free(v);
}

static int count_ref(const char *name, size_t len, void *ud)
{
    buf_t *b = ud;
    buf_append(b, name, len);
    buf_putc(b, ' ');
    return 0;
}

static void test_refs(void **state)
{
    (void)state;
    cJSON *in = cJSON_Parse("{\"a\":\"${m1.url}/x ${b:-d}\",\"c\":[\"$${not}\",\"${gw.base}\"]}");
    buf_t b;
    buf_init(&b, 1024);
    assert_int_equal(vars_refs_json(in, count_ref, &b), 0);
    assert_string_equal(b.data, "m1.url b gw.base ");
    buf_free(&b);
    cJSON_Delete(in);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_matchers),     cmocka_unit_test(test_validate),
        cmocka_unit_test(test_match_object), cmocka_unit_test(test_vars),
        cmocka_unit_test(test_refs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
