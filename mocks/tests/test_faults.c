/* Unit tests for fault rules: parsing and its error messages, triggers, determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static fault_set_t *parse_ok(const char *json, uint64_t seed)
{
    fault_set_t *set = NULL;
    char err[256];
    int rc = fault_set_parse(json, strlen(json), seed, &set, err, sizeof err);
    if (rc)
        fail_msg("parse failed: %s", err);
    return set;
}

static void expect_error(const char *json, const char *want)
{
    fault_set_t *set = NULL;
    char err[256];
    assert_int_not_equal(fault_set_parse(json, strlen(json), 1, &set, err, sizeof err), 0);
    assert_null(set);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void test_parse_errors_name_the_field(void **state)
{
    (void)state;
    expect_error("{", "invalid JSON");
    expect_error("{\"rulez\":[]}", "faults.rulez: unknown field");
    expect_error("42", "expected an array");
    expect_error("[{\"type\":\"latency\",\"ms\":5},{\"type\":\"boom\"}]",
                 "rules[1].type: unknown fault type \"boom\"");
    expect_error("[{\"method\":\"x\"}]", "rules[0].type: required");
    expect_error("[{\"type\":\"hang\",\"probability\":1.5}]",
                 "rules[0].probability: must be between 0 and 1");
    expect_error("[{\"type\":\"hang\",\"every\":0}]", "rules[0].every: must be between 1");
    expect_error("[{\"type\":\"hang\",\"after\":1.5}]", "rules[0].after: must be a whole number");
    expect_error("[{\"type\":\"latency\"}]", "rules[0].ms: required");
    expect_error("[{\"type\":\"latency\",\"distribution\":\"uniform\",\"min_ms\":5,\"max_ms\":1}]",
                 "rules[0].max_ms");
    expect_error("[{\"type\":\"error\",\"code\":\"x\"}]", "rules[0].code: must be a number");
    expect_error("[{\"type\":\"hang\",\"tool\":3}]", "rules[0].tool: must be a string");
    expect_error("[{\"type\":\"hang\",\"colour\":3}]", "rules[0].colour: unknown field");
    expect_error("{\"seed\":-1,\"rules\":[]}", "faults.seed");
}

static void test_no_rules_never_fire(void **state)
{
    (void)state;
    fault_set_t *set = parse_ok("[]", 7);
    for (int i = 0; i < 100; i++) {
        fault_decision_t d = fault_set_decide(set, "tools/call", "x");
        assert_null(d.rule);
        assert_true(d.delay_ms == 0);
    }
    fault_set_free(set);
    fault_decision_t d = fault_set_decide(NULL, "tools/call", "x");
    assert_null(d.rule);
}

static void test_every_after_times(void **state)
{
    (void)state;
    fault_set_t *set = parse_ok("[{\"type\":\"error\",\"method\":\"tools/call\",\"tool\":\"q\","
                                "\"after\":2,\"every\":3,\"times\":2,\"code\":-32000}]",
                                1);
    int fired_at[10] = {0};
    for (int i = 1; i <= 12; i++) {
        fault_decision_t d = fault_set_decide(set, "tools/call", "q");
        if (d.rule) {
            assert_int_equal(d.rule->code, -32000);
            fired_at[i < 10 ? i : 0] = 1;
        }
        /* other tools and methods never match */
        assert_null(fault_set_decide(set, "tools/call", "other").rule);
        assert_null(fault_set_decide(set, "tools/list", NULL).rule);
    }
    /* matching calls 3..: fires on the 5th and 8th (after 2, every 3rd), then times=2 stops it */
    for (int i = 1; i < 10; i++)
        assert_int_equal(fired_at[i], i == 5 || i == 8);
    assert_int_equal(fired_at[0], 0);
    assert_int_equal(set->rules[0].matched, 12);
    assert_int_equal(set->rules[0].fired, 2);
    fault_set_free(set);
}

static int count_fires(uint64_t seed, char *pattern, int n)
{
    fault_set_t *set = parse_ok("[{\"type\":\"hang\",\"probability\":0.3},"
                                "{\"type\":\"latency\",\"distribution\":\"uniform\","
                                "\"min_ms\":1,\"max_ms\":9}]",
                                seed);
    int fires = 0;
    for (int i = 0; i < n; i++) {
        fault_decision_t d = fault_set_decide(set, "tools/call", "t");
        pattern[i] = d.rule ? 'x' : '.';
        fires += d.rule != NULL;
        assert_true(d.delay_ms >= 1 && d.delay_ms <= 9);
    }
    pattern[n] = '\0';
    fault_set_free(set);
    return fires;
}

static void test_probability_is_deterministic_under_seed(void **state)
{
    (void)state;
    char a[1001], b[1001], c[1001];
    int fa = count_fires(42, a, 1000);
    int fb = count_fires(42, b, 1000);
    count_fires(43, c, 1000);
    assert_string_equal(a, b);
    assert_int_equal(fa, fb);
    assert_string_not_equal(a, c);
    /* 0.3 of 1000: well inside 5 standard deviations (~14.5) */
    assert_in_range(fa, 300 - 73, 300 + 73);
}

static void test_adding_a_rule_keeps_other_streams(void **state)
{
    (void)state;
    fault_set_t *one =
        parse_ok("{\"seed\":9,\"rules\":[{\"type\":\"hang\",\"probability\":0.5}]}", 0);
    fault_set_t *two = parse_ok("{\"seed\":9,\"rules\":[{\"type\":\"hang\",\"probability\":0.5},"
                                "{\"type\":\"latency\",\"ms\":3,\"probability\":0.5}]}",
                                0);
    for (int i = 0; i < 200; i++) {
        int a = fault_set_decide(one, "ping", NULL).rule != NULL;
        int b = fault_set_decide(two, "ping", NULL).rule != NULL;
        assert_int_equal(a, b);
    }
    fault_set_free(one);
    fault_set_free(two);
}

static void test_latency_distributions(void **state)
{
    (void)state;
    fault_set_t *set = parse_ok("[{\"type\":\"latency\",\"distribution\":\"normal\","
                                "\"mean_ms\":50,\"stddev_ms\":10}]",
                                3);
    double sum = 0;
    for (int i = 0; i < 2000; i++) {
        double ms = fault_set_decide(set, "x", NULL).delay_ms;
        assert_true(ms >= 0);
        sum += ms;
    }
    assert_in_range((int)(sum / 2000), 48, 52);
    fault_set_free(set);

    set = parse_ok("[{\"type\":\"latency\",\"ms\":5},{\"type\":\"latency\",\"ms\":7},"
                   "{\"type\":\"tool_error\"},{\"type\":\"hang\"}]",
                   3);
    fault_decision_t d = fault_set_decide(set, "tools/call", "t");
    assert_true(d.delay_ms == 12);
    assert_int_equal(d.rule->type, FAULT_TOOL_ERROR); /* the first non-latency rule decides */
    assert_string_equal(d.rule->message, "Injected tool failure");
    fault_set_free(set);
}

static void test_method_prefix_and_slow_start(void **state)
{
    (void)state;
    fault_set_t *set = parse_ok("[{\"type\":\"slow_start\",\"ms\":250},"
                                "{\"type\":\"close\",\"method\":\"resources/*\"}]",
                                1);
    assert_null(fault_set_decide(set, "tools/list", NULL).rule);
    assert_int_equal(fault_set_decide(set, "resources/read", "a://b").rule->type, FAULT_CLOSE);
    const fault_rule_t *slow = fault_set_find_type(set, FAULT_SLOW_START);
    assert_non_null(slow);
    assert_true(slow->ms == 250);
    assert_null(fault_set_find_type(set, FAULT_EXIT));
    fault_set_free(set);
}

static void test_to_json_reports_counters(void **state)
{
    (void)state;
    fault_set_t *set = parse_ok("[{\"name\":\"e\",\"type\":\"error\",\"message\":\"boom\","
                                "\"data\":{\"k\":1}}]",
                                5);
    fault_set_decide(set, "ping", NULL);
    cJSON *json = fault_set_to_json(set);
    char *text = cJSON_PrintUnformatted(json);
    assert_non_null(strstr(text, "\"name\":\"e\""));
    assert_non_null(strstr(text, "\"message\":\"boom\""));
    assert_non_null(strstr(text, "\"matched\":1"));
    assert_non_null(strstr(text, "\"fired\":1"));
    assert_non_null(strstr(text, "\"seed\":5"));
    cJSON_free(text);
    cJSON_Delete(json);
    assert_non_null(set->rules[0].data);
    fault_set_free(set);
}

static void test_spec_from_file_and_nomem(void **state)
{
    (void)state;
    char path[] = "/tmp/faults-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *json = "[{\"type\":\"exit\",\"exit_code\":3}]";
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    char spec[64];
    snprintf(spec, sizeof spec, "@%s", path);
    fault_set_t *set = NULL;
    char err[256];
    assert_int_equal(fault_set_parse_spec(spec, 1, &set, err, sizeof err), 0);
    assert_int_equal(set->rules[0].exit_code, 3);
    fault_set_free(set);
    unlink(path);
    assert_int_equal(fault_set_parse_spec("@/nonexistent/faults.json", 1, &set, err, sizeof err),
                     MCP_ENOTFOUND);
    assert_non_null(strstr(err, "/nonexistent/faults.json"));

    const char *rules = "[{\"type\":\"error\",\"name\":\"a\"},{\"type\":\"latency\",\"ms\":1}]";
    for (long n = 0; n < 40; n++) {
        mcp_alloc_fail_after(n);
        int rc = fault_set_parse(rules, strlen(rules), 1, &set, err, sizeof err);
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            fault_set_free(set);
            break;
        }
        assert_true(rc == MCP_ENOMEM || rc == MCP_EPARSE);
        assert_null(set);
    }
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors_name_the_field),
        cmocka_unit_test(test_no_rules_never_fire),
        cmocka_unit_test(test_every_after_times),
        cmocka_unit_test(test_probability_is_deterministic_under_seed),
        cmocka_unit_test(test_adding_a_rule_keeps_other_streams),
        cmocka_unit_test(test_latency_distributions),
        cmocka_unit_test(test_method_prefix_and_slow_start),
        cmocka_unit_test(test_to_json_reports_counters),
        cmocka_unit_test(test_spec_from_file_and_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
