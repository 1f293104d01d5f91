/* Unit tests for the reports: JUnit XML, summary.json, terminal lines (golden fragments), the
 * per-histogram .hlog/.hgrm files, exit codes and file names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "hdr_log.h"
#include "metrics.h"
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/hn1-report-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = mcp_malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* A scenario with every kind of outcome. */
static rep_scenario_t *sample(void)
{
    rep_scenario_t *r = rep_scenario_new("demo <1>", "scenarios/demo.json");
    assert_non_null(r);
    r->seed = 42;
    r->status = REP_FAILED;
    r->duration_ns = 1500000000ULL;
    r->started_wall_ms = 1700000000123LL;
    r->run_dir = mcp_strdup(dir);
    r->repro = mcp_strdup("mcp-harness run scenarios/demo.json --seed 42 --out out");
    cJSON *resp = cJSON_Parse("{\"result\":{\"isError\":true}}");
    assert_int_equal(rep_add_step(r, "health", "http", "demo.json: $.steps[0]", STEP_PASSED, 0, "",
                                  1020000, NULL),
                     0);
    assert_int_equal(rep_add_step(r, "call \"echo\" & <check>", "mcp", "demo.json: $.steps[1]",
                                  STEP_FAILED, 0, "$.result.isError: expected false, got true",
                                  3000000, resp),
                     0);
    assert_int_equal(rep_add_step(r, "kill m", "kill", "demo.json: $.steps[2]", STEP_SKIPPED, 0,
                                  "needs local process control (kill m)", 0, NULL),
                     0);
    assert_int_equal(
        rep_add_step(r, "later", "sleep", "demo.json: $.steps[3]", STEP_SKIPPED, 1, "", 0, NULL),
        0);
    assert_int_equal(rep_add_step(r, "bad var", "http", "demo.json: $.steps[4]", STEP_ERROR, 0,
                                  "variable \"x\" is not set", 0, NULL),
                     0);
    cJSON_Delete(resp);
    r->ngates = 3;
    r->gates = mcp_calloc(3, sizeof(rep_gate_t));
    const char *m[] = {"calls", "calls", "calls.dropped"};
    const char *t[] = {"p(99)<2ms", "errors==0", "count==0"};
    for (int i = 0; i < 3; i++) {
        r->gates[i].metric = mcp_strdup(m[i]);
        r->gates[i].threshold = mcp_strdup(t[i]);
        r->gates[i].where = mcp_asprintf("demo.json: $.gates.x[%d]", i);
        r->gates[i].observed = NAN;
    }
    r->gates[0].evaluated = 1;
    r->gates[0].passed = 0;
    r->gates[0].observed = 3.42e6;
    r->gates[0].observed_text = mcp_strdup("3.42ms");
    r->gates[0].message = mcp_strdup("observed 3.42ms");
    r->gates[0].abort_on_fail = 1;
    r->gates[0].aborted = 1;
    r->gates[1].evaluated = 1;
    r->gates[1].passed = 1;
    r->gates[1].observed = 0;
    r->gates[1].message = mcp_strdup("observed 0");
    rep_add_event(r, "process %s exited with status %d without a scenario action", "m", 1);
    assert_int_equal(metrics_new(0, &r->metrics), 0);
    for (int i = 1; i <= 10; i++)
        metrics_record(r->metrics, "calls", i * 1000000LL, i != 10, (uint64_t)i * 100000000ULL);
    metrics_add_counts(r->metrics, "calls.dropped", 0, 0, 1000000000ULL);
    metrics_finish(r->metrics, 1100000000ULL);
    return r;
}

static void test_junit(void **state)
{
    (void)state;
    rep_scenario_t *r = sample();
    rep_scenario_t *setup_err = rep_scenario_new("broken", "b.json");
    setup_err->status = REP_ERROR;
    setup_err->error = mcp_strdup("process gw was not ready within 10000 ms");
    rep_scenario_t *list[] = {r, setup_err};
    char path[400];
    snprintf(path, sizeof(path), "%s/junit.xml", dir);
    assert_int_equal(rep_write_junit(path, list, 2), 0);
    char *x = slurp(path);
    assert_non_null(x);
    static const char *const golden[] = {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<testsuites name=\"mcp-harness\" tests=\"9\" failures=\"2\" errors=\"2\" skipped=\"3\" "
        "time=\"1.500\">\n",
        "  <testsuite name=\"demo &lt;1&gt;\" tests=\"8\" failures=\"2\" errors=\"1\" "
        "skipped=\"3\" time=\"1.500\" timestamp=\"2023-11-14T22:13:20.123Z\" "
        "file=\"scenarios/demo.json\">\n",
        "      <property name=\"seed\" value=\"42\"/>\n",
        "      <property name=\"repro\" value=\"mcp-harness run scenarios/demo.json --seed 42 "
        "--out "
        "out\"/>\n",
        "    <testcase classname=\"demo &lt;1&gt;\" name=\"step: health\" time=\"0.001020\"/>\n",
        "    <testcase classname=\"demo &lt;1&gt;\" name=\"step: call &quot;echo&quot; &amp; "
        "&lt;check&gt;\" time=\"0.003000\">\n"
        "      <failure message=\"$.result.isError: expected false, got true\">demo.json: "
        "$.steps[1]</failure>\n"
        "    </testcase>\n",
        "      <skipped message=\"needs local process control (kill m)\"/>\n",
        "      <skipped message=\"not run: an earlier step failed\"/>\n",
        "      <error message=\"variable &quot;x&quot; is not set\">demo.json: "
        "$.steps[4]</error>\n",
        "    <testcase classname=\"demo &lt;1&gt;\" name=\"gate: calls p(99)&lt;2ms\" time=\"0\">\n"
        "      <failure message=\"calls p(99)&lt;2ms: observed 3.42ms\">demo.json: "
        "$.gates.x[0]</failure>\n",
        "    <testcase classname=\"demo &lt;1&gt;\" name=\"gate: calls errors==0\" time=\"0\"/>\n",
        "      <skipped message=\"not evaluated\"/>\n",
        "  <testsuite name=\"broken\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\"",
        "    <testcase classname=\"broken\" name=\"setup\" time=\"0\">\n"
        "      <error message=\"process gw was not ready within 10000 ms\"/>\n",
        "</testsuites>\n",
    };
    for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++)
        if (!strstr(x, golden[i]))
            fail_msg("missing fragment:\n%s\nin:\n%s", golden[i], x);
    mcp_free(x);
    rep_scenario_free(r);
    rep_scenario_free(setup_err);
}

static void test_summary_json(void **state)
{
    (void)state;
    rep_scenario_t *r = sample();
    rep_scenario_t *list[] = {r};
    char path[400];
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    assert_int_equal(rep_write_summary(path, list, 1, 1, 1700000000123LL, 2000000000ULL), 0);
    char *text = slurp(path);
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_string_equal(cJSON_GetObjectItem(doc, "tool")->valuestring, "mcp-harness");
    assert_int_equal(cJSON_GetObjectItem(doc, "exitCode")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "totals"), "failed")->valueint,
                     1);
    cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "scenarios"), 0);
    assert_string_equal(cJSON_GetObjectItem(s, "status")->valuestring, "failed");
    assert_int_equal(cJSON_GetObjectItem(s, "seed")->valueint, 42);
    assert_string_equal(cJSON_GetObjectItem(s, "started")->valuestring, "2023-11-14T22:13:20.123Z");
    cJSON *steps = cJSON_GetObjectItem(s, "steps");
    assert_int_equal(cJSON_GetArraySize(steps), 5);
    cJSON *st1 = cJSON_GetArrayItem(steps, 1);
    assert_string_equal(cJSON_GetObjectItem(st1, "status")->valuestring, "failed");
    assert_string_equal(cJSON_GetObjectItem(st1, "kind")->valuestring, "mcp");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(st1, "response"), "result"), "isError")));
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(steps, 0), "response"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(steps, 3), "status")->valuestring,
                        "not_run");
    cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "gates"), 0);
    assert_string_equal(cJSON_GetObjectItem(g0, "status")->valuestring, "failed");
    assert_true(cJSON_GetObjectItem(g0, "observed")->valuedouble == 3.42e6);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(g0, "aborted")));
    cJSON *g2 = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "gates"), 2);
    assert_string_equal(cJSON_GetObjectItem(g2, "status")->valuestring, "not_evaluated");
    cJSON *calls = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "metrics"), "calls");
    assert_int_equal(cJSON_GetObjectItem(calls, "count")->valueint, 10);
    assert_int_equal(cJSON_GetObjectItem(calls, "errors")->valueint, 1);
    assert_true(fabs(cJSON_GetObjectItem(calls, "p50Ms")->valuedouble - 5.0) < 0.01);
    assert_true(fabs(cJSON_GetObjectItem(calls, "maxMs")->valuedouble - 10.0) < 0.01);
    assert_string_equal(cJSON_GetObjectItem(calls, "hlog")->valuestring, "calls.hlog");
    cJSON *dropped = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "metrics"), "calls.dropped");
    assert_null(cJSON_GetObjectItem(dropped, "p50Ms"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "events")), 1);
    cJSON_Delete(doc);
    mcp_free(text);
    rep_scenario_free(r);
}

static char *term_output(void (*fn)(rep_term_t *, const rep_scenario_t *), const rep_scenario_t *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rep_term_t t = {.out = f, .tty = 0, .color = 0};
    fn(&t, r);
    fclose(f);
    char *copy = mcp_strdup(buf);
    free(buf); /* open_memstream's buffer belongs to libc */
    return copy;
}

static void term_steps(rep_term_t *t, const rep_scenario_t *r)
{
    for (size_t i = 0; i < r->nsteps; i++)
        rep_term_step(t, &r->steps[i]);
}

static void test_terminal(void **state)
{
    (void)state;
    rep_scenario_t *r = sample();
    char *s = term_output(term_steps, r);
    assert_string_equal(s, "  ✓ health (1.02ms)\n"
                           "  ✗ call \"echo\" & <check> (3ms): $.result.isError: expected false, "
                           "got true\n"
                           "    at demo.json: $.steps[1]\n"
                           "  - kill m: skipped (needs local process control (kill m))\n"
                           "  - later: not run\n"
                           "  ✗ bad var (0ns) [error]: variable \"x\" is not set\n"
                           "    at demo.json: $.steps[4]\n");
    mcp_free(s);
    s = term_output(rep_term_gates, r);
    assert_string_equal(s, "  gates:\n"
                           "  ✗ calls p(99)<2ms (observed 3.42ms) [aborted the load phase]\n"
                           "  ✓ calls errors==0 (observed 0)\n"
                           "  - calls.dropped count==0: not evaluated\n");
    mcp_free(s);
    s = term_output(rep_term_scenario_start, r);
    assert_string_equal(s, "▶ demo <1> (scenarios/demo.json, seed 42)\n");
    mcp_free(s);
    s = term_output(rep_term_scenario_end, r);
    assert_non_null(strstr(s, "  → failed in 1.5s\n"));
    assert_non_null(strstr(s, "    note: process m exited with status 1 without a scenario "
                              "action\n"));
    mcp_free(s);
    /* totals */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rep_term_t t = {.out = f};
    rep_scenario_t *list[] = {r};
    rep_term_totals(&t, list, 1, 1);
    /* progress lines are for terminals only */
    rep_term_progress(&t, 0, 3, "x", 1.0);
    fclose(f);
    assert_string_equal(buf, "1 scenario: 0 passed, 1 failed, 0 error, 0 skipped (exit 1)\n");
    free(buf);
    /* on a TTY the progress line is rewritten in place and cleared before the next line */
    buf = NULL;
    f = open_memstream(&buf, &len);
    rep_term_t tt = {.out = f, .tty = 1};
    rep_term_progress(&tt, 1, 3, "call", 0.5);
    rep_term_step(&tt, &r->steps[0]);
    fclose(f);
    assert_string_equal(buf, "\r\x1b[2K  … [2/3] call (0.5s)\r\x1b[2K  ✓ health (1.02ms)\n");
    free(buf);
    rep_scenario_free(r);
}

typedef struct {
    int intervals;
    int64_t total;
} hl_t;

static int on_entry(void *ud, const hdr_log_reader_t *rd, hdr_log_entry_t *e)
{
    (void)rd;
    hl_t *h = ud;
    h->intervals++;
    h->total += hdr_total_count(e->histogram);
    hdr_free(e->histogram);
    return 0;
}

static void test_histogram_files(void **state)
{
    (void)state;
    rep_scenario_t *r = sample();
    assert_int_equal(rep_write_histograms(r), 0);
    char path[400];
    snprintf(path, sizeof(path), "%s/calls.hlog", dir);
    char *text = slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "#[Logged with mcp-harness 0.1.0]\n"));
    assert_non_null(strstr(text, "#[Histogram log format version 1.3]\n"));
    assert_non_null(strstr(text, "#[StartTime: 1700000000.123 (seconds since epoch)"));
    assert_non_null(strstr(text, "#[Scenario: demo <1>]\n"));
    hdr_log_reader_t rd;
    hdr_log_reader_init(&rd);
    hl_t h = {0};
    char err[128];
    assert_int_equal(hdr_log_read_text(&rd, text, strlen(text), on_entry, &h, err, sizeof(err)), 0);
    assert_int_equal(h.total, 10);
    assert_int_equal(h.intervals, 2); /* seconds 0 and 1 */
    mcp_free(text);
    snprintf(path, sizeof(path), "%s/calls.hgrm", dir);
    text = slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "       Value     Percentile TotalCount 1/(1-Percentile)\n"));
    if (!strstr(text, "Total count    =           10]"))
        fail_msg("%s", text);
    mcp_free(text);
    /* counter-only metrics have no histogram files */
    snprintf(path, sizeof(path), "%s/calls.dropped.hlog", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    rep_scenario_free(r);
}

static void test_codes_and_names(void **state)
{
    (void)state;
    rep_scenario_t *r = rep_scenario_new("x", "x.json");
    r->status = REP_PASSED;
    assert_int_equal(rep_exit_code(r, 0), 0);
    r->status = REP_SKIPPED;
    assert_int_equal(rep_exit_code(r, 0), 0);
    r->status = REP_FAILED;
    assert_int_equal(rep_exit_code(r, 0), 1);
    r->status = REP_ERROR;
    assert_int_equal(rep_exit_code(r, 0), 2);
    r->status = REP_INTERRUPTED;
    assert_int_equal(rep_exit_code(r, 15), 143);
    rep_scenario_free(r);
    char out[64];
    rep_safe_name("calls.p99/x y", out, sizeof(out));
    assert_string_equal(out, "calls.p99_x_y");
    rep_safe_name("..", out, sizeof(out));
    assert_string_equal(out, "_.");
    rep_safe_name("", out, sizeof(out));
    assert_string_equal(out, "_");
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_junit),           cmocka_unit_test(test_summary_json),
        cmocka_unit_test(test_terminal),        cmocka_unit_test(test_histogram_files),
        cmocka_unit_test(test_codes_and_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
