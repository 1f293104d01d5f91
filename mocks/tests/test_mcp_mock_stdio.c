/* Integration tests of build/bin/mcp-mock over stdio: command-line errors, help, readiness,
 * every fault type firing (and nothing firing without rules), determinism under --seed, SIGHUP
 * reload of the --faults file, and clean exits (stdin EOF, SIGTERM). The mock runs as a child
 * process (mock_proc.h); stdout is read raw so broken output is seen byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "mock_proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 5000

static const char init_line[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
static const char initialized_line[] =
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";

typedef struct {
    uv_loop_t loop;
    mock_proc_t p;
} fx_t;

static int setup(void **state)
{
    if (!mock_proc_bin()) {
        fprintf(stderr, "mcp-mock not found (MCP_BIN_DIR)\n");
        return -1;
    }
    fx_t *f = mcp_calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    mock_proc_close(&f->p);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    mcp_free(f);
    return 0;
}

/* Start `mcp-mock everything` with extra args and wait for readiness. */
static void start(fx_t *f, const char *const *extra)
{
    const char *args[32] = {"everything"};
    size_t n = 1;
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    assert_int_equal(mock_proc_start(&f->p, &f->loop, args), 0);
    assert_int_equal(mock_proc_wait_ready(&f->p, WAIT_MS), 0);
}

static void start_faults(fx_t *f, const char *faults)
{
    const char *extra[] = {"--faults", faults, NULL};
    start(f, extra);
}

static cJSON *read_msg(fx_t *f)
{
    int rc;
    char *line = mock_proc_read_line(&f->p, WAIT_MS, &rc);
    assert_non_null(line);
    cJSON *m = cJSON_Parse(line);
    if (!m)
        fprintf(stderr, "not JSON: %.200s\n", line);
    assert_non_null(m);
    mcp_free(line);
    return m;
}

static void handshake(fx_t *f)
{
    assert_int_equal(mock_proc_send(&f->p, init_line), 0);
    cJSON *m = read_msg(f);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(m, "result"));
    cJSON_Delete(m);
    assert_int_equal(mock_proc_send(&f->p, initialized_line), 0);
}

static void send_call(fx_t *f, int id, const char *tool)
{
    char line[256];
    snprintf(line, sizeof(line),
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"%s\",\"arguments\":{}}}",
             id, tool);
    assert_int_equal(mock_proc_send(&f->p, line), 0);
}

static cJSON *call(fx_t *f, int id, const char *tool)
{
    send_call(f, id, tool);
    cJSON *m = read_msg(f);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(m, "id")->valueint, id);
    return m;
}

/* 1 when the message is a plain successful test_simple_text answer. */
static int is_ok(const cJSON *m)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "result");
    return r && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "isError"));
}

static int error_code(const cJSON *m)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(m, "error");
    return e ? cJSON_GetObjectItemCaseSensitive(e, "code")->valueint : 0;
}

static void end_stdin_and_expect_exit0(fx_t *f)
{
    child_close_stdin(f->p.child);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.term_signal, 0);
    assert_int_equal(f->p.exit_status, 0);
}

/* ---- command line ---- */

/* Run mcp-mock with args to completion; returns the exit status; stdout/stderr in f->p. */
static int run_to_exit(fx_t *f, const char *const *args)
{
    assert_int_equal(mock_proc_start(&f->p, &f->loop, args), 0);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    (void)mock_proc_wait_eof(&f->p, WAIT_MS);
    assert_int_equal(f->p.term_signal, 0);
    return (int)f->p.exit_status;
}

static void expect_usage_error(fx_t *f, const char *const *args, const char *needle)
{
    assert_int_equal(run_to_exit(f, args), 2);
    if (!f->p.err.data || !strstr(f->p.err.data, needle)) {
        fprintf(stderr, "stderr lacks \"%s\": %s\n", needle, f->p.err.data ? f->p.err.data : "");
        fail();
    }
    mock_proc_close(&f->p);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void test_bad_options(void **state)
{
    fx_t *f = *state;
    const char *a1[] = {"everything", "--seed", "x", NULL};
    expect_usage_error(f, a1, "--seed");
    const char *a2[] = {"everything", "--transport", "carrier-pigeon", NULL};
    expect_usage_error(f, a2, "--transport");
    const char *a3[] = {"everything", "--transport", "http", "--listen", "nowhere", NULL};
    expect_usage_error(f, a3, "--listen");
    const char *a4[] = {"everything", "--frobnicate", NULL};
    expect_usage_error(f, a4, "--frobnicate");
    const char *a5[] = {"everything", "--faults", "[{\"type\":\"latency\",\"ms\":-5}]", NULL};
    expect_usage_error(f, a5, "rules[0].ms");
    const char *a6[] = {"everything", "--faults", "[{\"type\":\"error\",\"probability\":2}]", NULL};
    expect_usage_error(f, a6, "rules[0].probability");
    const char *a7[] = {"everything", "--faults", "@/nonexistent/faults.json", NULL};
    expect_usage_error(f, a7, "--faults");
    const char *a8[] = {"no-such-kind", NULL};
    expect_usage_error(f, a8, "unknown kind 'no-such-kind'");
    const char *a9[] = {"--seed", "1", NULL};
    expect_usage_error(f, a9, "missing KIND");
    const char *a10[] = {"everything", "--listen", NULL};
    expect_usage_error(f, a10, "--listen needs a value");
}

static void test_help(void **state)
{
    fx_t *f = *state;
    const char *a1[] = {"--help", NULL};
    assert_int_equal(run_to_exit(f, a1), 0);
    assert_non_null(strstr(f->p.out.data, "--faults"));
    assert_non_null(strstr(f->p.out.data, "everything"));
    assert_non_null(strstr(f->p.out.data, "mcp-mock ready"));
    mock_proc_close(&f->p);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    const char *a2[] = {"everything", "--help", NULL};
    assert_int_equal(run_to_exit(f, a2), 0);
    assert_non_null(strstr(f->p.out.data, "test_simple_text"));
    assert_non_null(strstr(f->p.out.data, "--transport"));
}

/* ---- readiness, no faults, clean exits ---- */

static void test_ready_and_no_faults(void **state)
{
    fx_t *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "/tmp/mcp-mock-test-ready-%d", (int)getpid());
    unlink(path);
    const char *extra[] = {"--ready-file", path, NULL};
    start(f, extra);
    assert_non_null(strstr(f->p.err.data, "mcp-mock ready kind=everything transport=stdio pid="));
    FILE *rf = fopen(path, "r");
    assert_non_null(rf);
    char text[64] = "";
    assert_non_null(fgets(text, sizeof(text), rf));
    fclose(rf);
    unlink(path);
    assert_string_equal(text, "stdio\n");
    handshake(f);
    for (int i = 0; i < 20; i++) {
        cJSON *m = call(f, 10 + i, "test_simple_text");
        assert_true(is_ok(m));
        cJSON_Delete(m);
    }
    /* Nothing but protocol lines on stdout. */
    assert_int_equal(f->p.out.len, 0);
    end_stdin_and_expect_exit0(f);
}

static void test_sigterm_exit0(void **state)
{
    fx_t *f = *state;
    start(f, NULL);
    handshake(f);
    send_call(f, 2, "test_tool_with_progress"); /* a call in flight */
    assert_int_equal(mock_proc_signal(&f->p, SIGTERM), 0);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.term_signal, 0);
    assert_int_equal(f->p.exit_status, 0);
    assert_null(strstr(f->p.err.data, "left open"));
}

/* ---- request-level faults ---- */

static void test_latency(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"method\":\"tools/call\",\"type\":\"latency\",\"ms\":150}]");
    handshake(f);
    uint64_t t0 = clock_mono_ms();
    cJSON *m = call(f, 2, "test_simple_text");
    assert_true(is_ok(m));
    assert_true(clock_mono_ms() - t0 >= 150);
    cJSON_Delete(m);
    /* Other methods are not delayed. */
    t0 = clock_mono_ms();
    assert_int_equal(mock_proc_send(&f->p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}"),
                     0);
    m = read_msg(f);
    assert_true(clock_mono_ms() - t0 < 150);
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

static void test_latency_distributions(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"latency\",\"distribution\":"
                    "\"uniform\",\"min_ms\":60,\"max_ms\":80},{\"tool\":\"test_image_content\","
                    "\"type\":\"latency\",\"distribution\":\"normal\",\"mean_ms\":60,"
                    "\"stddev_ms\":1}]");
    handshake(f);
    uint64_t t0 = clock_mono_ms();
    cJSON *m = call(f, 2, "test_simple_text");
    assert_true(is_ok(m) && clock_mono_ms() - t0 >= 60);
    cJSON_Delete(m);
    t0 = clock_mono_ms();
    m = call(f, 3, "test_image_content");
    assert_true(is_ok(m) && clock_mono_ms() - t0 >= 50);
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

static void test_error_and_triggers(void **state)
{
    fx_t *f = *state;
    /* every 2nd test_simple_text call after the first 2, at most twice */
    start_faults(f, "[{\"name\":\"boom\",\"tool\":\"test_simple_text\",\"type\":\"error\","
                    "\"code\":-32050,\"message\":\"injected boom\",\"every\":2,\"after\":2,"
                    "\"times\":2}]");
    handshake(f);
    int failed[10];
    for (int i = 0; i < 10; i++) {
        cJSON *m = call(f, 100 + i, "test_simple_text");
        failed[i] = error_code(m) == -32050;
        if (failed[i])
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(
                                    cJSON_GetObjectItemCaseSensitive(m, "error"), "message")
                                    ->valuestring,
                                "injected boom");
        else
            assert_true(is_ok(m));
        cJSON_Delete(m);
    }
    /* matched #4 and #6 (past `after`, multiples of `every`), then `times` is used up */
    int want[10] = {0, 0, 0, 1, 0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 10; i++)
        assert_int_equal(failed[i], want[i]);
    /* A different tool is not matched. */
    cJSON *m = call(f, 200, "test_image_content");
    assert_true(is_ok(m));
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

/* The sequence of failures of 30 calls with a probability rule and a seed. */
static void probability_run(fx_t *f, const char *seed, char *pattern)
{
    const char *extra[] = {"--seed", seed, "--faults",
                           "[{\"tool\":\"test_simple_text\",\"type\":\"tool_error\","
                           "\"probability\":0.5}]",
                           NULL};
    start(f, extra);
    handshake(f);
    for (int i = 0; i < 30; i++) {
        cJSON *m = call(f, 10 + i, "test_simple_text");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "result");
        pattern[i] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "isError")) ? 'x' : '.';
        cJSON_Delete(m);
    }
    pattern[30] = '\0';
    end_stdin_and_expect_exit0(f);
    mock_proc_close(&f->p);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void test_probability_deterministic(void **state)
{
    fx_t *f = *state;
    char a[31], b[31], c[31];
    probability_run(f, "42", a);
    probability_run(f, "42", b);
    probability_run(f, "43", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_non_null(strchr(a, 'x'));
    assert_non_null(strchr(a, '.'));
}

static void test_tool_error(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"tool_error\",\"message\":"
                    "\"injected failure\"}]");
    handshake(f);
    cJSON *m = call(f, 2, "test_simple_text");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "result");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "isError")));
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "content"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c0, "text")->valuestring,
                        "injected failure");
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

/* The text of the first content block of a tool result that must be an isError result. */
static char *tool_error_text(cJSON *m)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "result");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "isError")));
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "content"), 0);
    return mcp_strdup(cJSON_GetObjectItemCaseSensitive(c0, "text")->valuestring);
}

static void test_rate_limit(void **state)
{
    fx_t *f = *state;
    /* A kind without a rate-limit shape of its own gets the generic answer... */
    start_faults(f, "[{\"type\":\"rate_limit\",\"retry_after\":90}]");
    handshake(f);
    cJSON *m = call(f, 2, "test_simple_text");
    char *text = tool_error_text(m);
    assert_string_equal(text, "rate limit exceeded; the limit resets in 90 s");
    mcp_free(text);
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
    mock_proc_close(&f->p);
    uv_run(&f->loop, UV_RUN_DEFAULT);

    /* ...and the github kind answers like GitHub's API. */
    const char *args[] = {"github", "--faults",
                          "[{\"type\":\"rate_limit\",\"tool\":\"search_code\",\"retry_after\":60}]",
                          NULL};
    assert_int_equal(mock_proc_start(&f->p, &f->loop, args), 0);
    if (mock_proc_wait_ready(&f->p, WAIT_MS) != 0) {
        end_stdin_and_expect_exit0(f); /* built without the github kind: nothing more to see */
        return;
    }
    handshake(f);
    m = call(f, 3, "search_code");
    text = tool_error_text(m);
    assert_non_null(strstr(text, "API rate limit exceeded"));
    assert_non_null(strstr(text, "search code"));
    mcp_free(text);
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

static void test_hang(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"hang\"}]");
    handshake(f);
    send_call(f, 2, "test_simple_text");
    int rc;
    char *line = mock_proc_read_line(&f->p, 300, &rc);
    assert_null(line);
    assert_int_equal(rc, MCP_ETIMEDOUT);
    /* The mock is alive: other requests are answered. */
    cJSON *m = call(f, 3, "test_image_content");
    assert_true(is_ok(m));
    cJSON_Delete(m);
    /* A client cancellation ends the hung call without an answer. */
    assert_int_equal(mock_proc_send(&f->p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                                           "cancelled\",\"params\":{\"requestId\":2}}"),
                     0);
    end_stdin_and_expect_exit0(f);
}

static void test_exit_and_crash(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"exit\",\"exit_code\":7}]");
    handshake(f);
    send_call(f, 2, "test_simple_text");
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.exit_status, 7);
    assert_int_equal(f->p.term_signal, 0);
    mock_proc_close(&f->p);
    uv_run(&f->loop, UV_RUN_DEFAULT);

    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"crash\"}]");
    handshake(f);
    send_call(f, 2, "test_simple_text");
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    /* SIGABRT, or (under ASan's abort handling) a non-zero exit */
    assert_true(f->p.term_signal == SIGABRT || f->p.exit_status != 0);
}

/* ---- message-level faults ---- */

static void test_close(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"close\"}]");
    handshake(f);
    send_call(f, 2, "test_simple_text");
    assert_int_equal(mock_proc_wait_eof(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.out.len, 0); /* no answer at all */
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.exit_status, 0);
}

static void test_malformed(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"malformed\",\"times\":1}]");
    handshake(f);
    send_call(f, 2, "test_simple_text");
    char *line = mock_proc_read_line(&f->p, WAIT_MS, NULL);
    assert_non_null(line);
    cJSON *bad = cJSON_Parse(line);
    assert_null(bad);
    assert_non_null(strstr(line, "\"id\":2")); /* recognisably the answer, broken */
    mcp_free(line);
    cJSON *m = call(f, 3, "test_simple_text"); /* times: 1 */
    assert_true(is_ok(m));
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

static void test_truncate(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"truncate\",\"bytes\":10}]");
    handshake(f);
    send_call(f, 2, "test_simple_text");
    assert_int_equal(mock_proc_wait_eof(&f->p, WAIT_MS), 0);
    assert_int_equal(f->p.out.len, 10);
    assert_memory_equal(f->p.out.data, "{\"jsonrpc\"", 10);
    assert_int_equal(mock_proc_wait_exit(&f->p, WAIT_MS), 0);
}

static void test_slow_sse_dribble(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"slow_sse\",\"chunk_bytes\":16,"
                    "\"delay_ms\":20}]");
    handshake(f);
    uint64_t t0 = clock_mono_ms();
    send_call(f, 2, "test_simple_text");
    assert_int_equal(mock_proc_wait_stderr(&f->p, "type=slow_sse", WAIT_MS), 0);
    char *line = mock_proc_read_line(&f->p, WAIT_MS, NULL);
    assert_non_null(line);
    size_t len = strlen(line);
    cJSON *m = cJSON_Parse(line);
    assert_true(is_ok(m));
    cJSON_Delete(m);
    mcp_free(line);
    /* (len + 1) / 16 pieces, 20 ms apart */
    uint64_t expect = ((len + 1 + 15) / 16 - 1) * 20;
    assert_true(clock_mono_ms() - t0 >= expect);
    /* Messages sent meanwhile queue behind it and stay whole. */
    m = call(f, 3, "test_image_content");
    assert_true(is_ok(m));
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

static void test_oversized(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"oversized\",\"bytes\":300000}]");
    handshake(f);
    send_call(f, 2, "test_simple_text");
    char *line = mock_proc_read_line(&f->p, WAIT_MS, NULL);
    assert_non_null(line);
    assert_true(strlen(line) >= 300000);
    cJSON *m = cJSON_Parse(line);
    assert_true(is_ok(m)); /* still valid JSON-RPC, just huge */
    cJSON_Delete(m);
    mcp_free(line);
    end_stdin_and_expect_exit0(f);
}

static void test_wrong_version(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"method\":\"initialize\",\"type\":\"wrong_version\",\"version\":"
                    "\"1999-01-01\"}]");
    assert_int_equal(mock_proc_send(&f->p, init_line), 0);
    cJSON *m = read_msg(f);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "result");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r, "protocolVersion")->valuestring,
                        "1999-01-01");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(r, "capabilities"));
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

static void test_stdout_noise(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"stdout_noise\",\"text\":"
                    "\"Server banner v1.0\"}]");
    handshake(f);
    send_call(f, 2, "test_simple_text");
    char *line = mock_proc_read_line(&f->p, WAIT_MS, NULL);
    assert_string_equal(line, "Server banner v1.0");
    mcp_free(line);
    cJSON *m = read_msg(f);
    assert_true(is_ok(m));
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

static void test_slow_start(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"type\":\"slow_start\",\"ms\":300}]");
    assert_true(f->p.ready_ms - f->p.start_ms >= 300);
    handshake(f);
    end_stdin_and_expect_exit0(f);
}

/* Faults of other transports do nothing here. */
static void test_http_only_faults_ignored(void **state)
{
    fx_t *f = *state;
    start_faults(f, "[{\"tool\":\"test_simple_text\",\"type\":\"http_status\",\"status\":503},"
                    "{\"tool\":\"test_image_content\",\"type\":\"session_expiry\"}]");
    handshake(f);
    cJSON *m = call(f, 2, "test_simple_text");
    assert_true(is_ok(m));
    cJSON_Delete(m);
    m = call(f, 3, "test_image_content");
    assert_true(is_ok(m));
    cJSON_Delete(m);
    end_stdin_and_expect_exit0(f);
}

/* ---- SIGHUP ---- */

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_sighup_reload(void **state)
{
    fx_t *f = *state;
    char path[256], spec[260];
    snprintf(path, sizeof(path), "/tmp/mcp-mock-test-faults-%d.json", (int)getpid());
    snprintf(spec, sizeof(spec), "@%s", path);
    write_file(path, "[]");
    start_faults(f, spec);
    handshake(f);
    cJSON *m = call(f, 2, "test_simple_text");
    assert_true(is_ok(m));
    cJSON_Delete(m);

    write_file(path, "{\"rules\":[{\"tool\":\"test_simple_text\",\"type\":\"error\",\"code\":"
                     "-32042,\"message\":\"reloaded\"}]}");
    assert_int_equal(mock_proc_signal(&f->p, SIGHUP), 0);
    assert_int_equal(mock_proc_wait_stderr(&f->p, "fault rules reloaded", WAIT_MS), 0);
    m = call(f, 3, "test_simple_text");
    assert_int_equal(error_code(m), -32042);
    cJSON_Delete(m);

    /* A bad file is refused with the field named; the old rules stay. */
    write_file(path, "[{\"type\":\"latency\",\"ms\":\"soon\"}]");
    assert_int_equal(mock_proc_signal(&f->p, SIGHUP), 0);
    assert_int_equal(mock_proc_wait_stderr(&f->p, "not reloaded", WAIT_MS), 0);
    assert_non_null(strstr(f->p.err.data, "rules[0].ms"));
    m = call(f, 4, "test_simple_text");
    assert_int_equal(error_code(m), -32042);
    cJSON_Delete(m);
    unlink(path);
    end_stdin_and_expect_exit0(f);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready_and_no_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_exit0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_distributions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_and_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probability_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_and_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_sse_dribble, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdout_noise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_only_faults_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sighup_reload, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
