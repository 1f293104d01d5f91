/* Unit tests for the base module: alloc, errors, log, clock, buf, envexpand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "envexpand.h"
#include "errors.h"
#include "log.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

static void test_alloc_fail_after(void **state)
{
    (void)state;
    mcp_alloc_fail_after(1);
    void *a = mcp_malloc(8);
    assert_non_null(a);
    assert_null(mcp_malloc(8));
    assert_null(mcp_strdup("x"));
    assert_int_equal(mcp_alloc_failures(), 2);
    mcp_alloc_fail_after(-1);
    void *b = mcp_malloc(8);
    assert_non_null(b);
    mcp_free(a);
    mcp_free(b);
}

static void test_asprintf(void **state)
{
    (void)state;
    char *s = mcp_asprintf("%s-%d", "x", 42);
    assert_string_equal(s, "x-42");
    mcp_free(s);
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(mcp_strerror(MCP_ETIMEDOUT), "deadline exceeded");
    assert_string_equal(mcp_err_name(MCP_ENOBUFS), "MCP_ENOBUFS");
    assert_string_equal(mcp_err_name(-104), "ECONNRESET");
    assert_string_equal(mcp_strerror(0), "success");
}

static void test_buf_limits(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 10);
    assert_int_equal(buf_append_str(&b, "hello"), 0);
    assert_int_equal(buf_appendf(&b, "%d", 12345), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "hello12345");
    assert_int_equal(buf_putc(&b, 'x'), MCP_ENOBUFS);
    assert_string_equal(b.data, "hello12345"); /* unchanged on failure */
    buf_consume(&b, 5);
    assert_string_equal(b.data, "12345");
    size_t len;
    char *d = buf_detach(&b, &len);
    assert_int_equal(len, 5);
    assert_string_equal(d, "12345");
    assert_null(b.data);
    mcp_free(d);
    buf_free(&b);
}

static void test_buf_nomem_keeps_contents(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_str(&b, "abc"), 0);
    mcp_alloc_fail_after(0);
    char big[200];
    memset(big, 'z', sizeof big);
    assert_int_equal(buf_append(&b, big, sizeof big), MCP_ENOMEM);
    mcp_alloc_fail_after(-1);
    assert_string_equal(b.data, "abc");
    buf_free(&b);
}

static const char *fake_env(const char *name, void *ud)
{
    (void)ud;
    if (strcmp(name, "HOST") == 0)
        return "db.local";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    return NULL;
}

static void expect_expand(const char *in, const char *want)
{
    char *out = NULL;
    char err[128];
    assert_int_equal(envx_expand(in, &out, fake_env, NULL, err, sizeof err), 0);
    assert_string_equal(out, want);
    mcp_free(out);
}

static void test_envexpand(void **state)
{
    (void)state;
    expect_expand("plain", "plain");
    expect_expand("http://${HOST}:5432", "http://db.local:5432");
    expect_expand("${MISSING:-fallback}", "fallback");
    expect_expand("${EMPTY:-fallback}", "fallback");
    expect_expand("${EMPTY-fallback}", "");
    expect_expand("${MISSING-}", "");
    expect_expand("cost $5 $$HOME", "cost $5 $HOME");

    char *out = NULL;
    char err[128];
    assert_int_equal(envx_expand("x ${NOPE} y", &out, fake_env, NULL, err, sizeof err),
                     MCP_ENOTFOUND);
    assert_non_null(strstr(err, "NOPE"));
    assert_non_null(strstr(err, "column 3"));
    assert_null(out);
    assert_int_equal(envx_expand("${HOST", &out, fake_env, NULL, err, sizeof err), MCP_EPARSE);
    assert_int_equal(envx_expand("${1X}", &out, fake_env, NULL, err, sizeof err), MCP_EPARSE);
    assert_int_equal(envx_expand("${HOST:x}", &out, fake_env, NULL, err, sizeof err), MCP_EPARSE);
}

static char last_line[4096];
static void capture_sink(log_level_t level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    strncpy(last_line, line, sizeof last_line - 1);
}

static void test_log_format(void **state)
{
    (void)state;
    log_set_sink(capture_sink, NULL);
    log_set_level(LOG_INFO);
    last_line[0] = '\0';
    LOG_D("test", "hidden", NULL);
    assert_string_equal(last_line, "");
    log_set_request_id("req-7");
    LOG_I("test", "server \"ready\"", "name=%s tools=%d", log_quote("my db"), 3);
    assert_non_null(strstr(last_line, " level=info comp=test rid=req-7 "));
    assert_non_null(strstr(last_line, "msg=\"server \\\"ready\\\"\" name=\"my db\" tools=3"));
    log_set_request_id(NULL);
    log_set_format(LOG_FORMAT_JSON);
    LOG_W("test", "x", "k=%d", 1);
    assert_non_null(strstr(last_line, "\"level\":\"warn\""));
    assert_non_null(strstr(last_line, "\"fields\":\"k=1\""));
    log_set_format(LOG_FORMAT_LOGFMT);
    log_set_sink(NULL, NULL);

    log_level_t lvl;
    assert_int_equal(log_level_parse("WARNING", &lvl), 0);
    assert_int_equal(lvl, LOG_WARN);
    assert_int_equal(log_level_parse("loud", &lvl), MCP_EINVAL);
}

static void test_clock(void **state)
{
    (void)state;
    uint64_t a = clock_mono_ns();
    uint64_t b = clock_mono_ns();
    assert_true(b >= a);
    char ts[40];
    clock_format_iso8601(ts, sizeof ts, 1700000000123);
    assert_string_equal(ts, "2023-11-14T22:13:20.123Z");
}

static void test_rng(void **state)
{
    (void)state;
    rng_t a, b, c;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    rng_seed_stream(&c, 42, 1);
    int differs = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a);
        assert_true(x == rng_next(&b));
        differs |= x != rng_next(&c);
    }
    for (int i = 0; i < 1000; i++) {
        double u = rng_unit(&a);
        assert_true(u >= 0 && u < 1);
        assert_true(rng_below(&a, 7) < 7);
    }
    assert_true(differs);
    /* rng_below is close to uniform */
    int counts[4] = {0};
    for (int i = 0; i < 40000; i++)
        counts[rng_below(&b, 4)]++;
    for (int i = 0; i < 4; i++)
        assert_in_range(counts[i], 9500, 10500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_fail_after),
        cmocka_unit_test(test_asprintf),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_buf_limits),
        cmocka_unit_test(test_buf_nomem_keeps_contents),
        cmocka_unit_test(test_envexpand),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_rng),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
