/* mock_call_rtt: sequential tools/call round trips from mcp_client to an MCP server over stdio
 * (bench-mock.sh runs it against `mcp-mock everything`).
 *
 *   mock_call_rtt [-n N] [-w WARMUP] [-t TOOL] -- SERVER-COMMAND [ARGS...]
 *
 * One call at a time, each timed from just before mcp_client_request to the start of its
 * callback (build, serialize, write, the server's parse/dispatch/answer, read, parse,
 * correlate), with a 5 s deadline as a real caller would set. A call that fails or answers
 * isError stops the run. Prints calls/s and p50/p90/p99/p99.9/max in microseconds, one line:
 *   calls=N calls_per_s=... p50_us=... p90_us=... p99_us=... p999_us=... max_us=... */
#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "hdr_histogram.h"
#include "log.h"
#include "mcp_client.h"
#include "mcp_client_stdio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    mcp_client_t *client;
    hdr_histogram_t *hist; /* ns */
    const char *tool;
    long n, warmup, issued, done;
    uint64_t t0, wall_start, wall_end;
    int failed, finished;
} bench_t;

static void issue(bench_t *b);

static void stop(bench_t *b, int failed)
{
    b->failed = failed;
    b->finished = 1;
}

static void on_result(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    bench_t *b = ud;
    uint64_t t1 = clock_mono_ns();
    (void)req;
    if (status != 0 || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp->result, "isError"))) {
        fprintf(stderr, "mock_call_rtt: tools/call %s failed: %s\n", b->tool,
                status ? mcp_strerror(status) : "isError");
        stop(b, 1);
        return;
    }
    if (b->issued > b->warmup) {
        (void)hdr_record_value(b->hist, (int64_t)(t1 - b->t0));
        b->done++;
    }
    if (b->issued == b->warmup)
        b->wall_start = clock_mono_ns();
    if (b->done == b->n) {
        b->wall_end = clock_mono_ns();
        stop(b, 0);
        return;
    }
    issue(b);
}

static void issue(bench_t *b)
{
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "name", b->tool);
    cJSON_AddObjectToObject(params, "arguments");
    b->issued++;
    b->t0 = clock_mono_ns();
    int rc = mcp_client_request(b->client, "tools/call", params, 5000, on_result, b, NULL);
    if (rc) {
        fprintf(stderr, "mock_call_rtt: request: %s\n", mcp_strerror(rc));
        stop(b, 1);
    }
}

static void on_init(mcp_client_t *c, int status, void *ud)
{
    bench_t *b = ud;
    if (status) {
        fprintf(stderr, "mock_call_rtt: initialize: %s (%s)\n", mcp_strerror(status),
                mcp_client_error_message(c));
        stop(b, 1);
        return;
    }
    if (b->warmup == 0)
        b->wall_start = clock_mono_ns();
    issue(b);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: mock_call_rtt [-n N] [-w WARMUP] [-t TOOL] -- SERVER-COMMAND [ARGS...]\n");
}

static double us(const hdr_histogram_t *h, double p)
{
    return (double)hdr_value_at_percentile(h, p) / 1000.0;
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    log_set_level(LOG_WARN);
    bench_t b = {.n = 50000, .warmup = 2000, .tool = "test_simple_text"};
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            b.n = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
            b.warmup = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            b.tool = argv[++i];
        else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            usage();
            return 2;
        }
    }
    if (b.n <= 0 || b.warmup < 0 || i >= argc) {
        usage();
        return 2;
    }
    if (hdr_init(100, 60LL * 1000 * 1000 * 1000, 3, &b.hist, NULL, 0) != 0)
        return 2;
    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_client_options_t co = {.name = "rtt"};
    mcp_client_stdio_options_t so = {.command = argv[i], .args = (const char *const *)&argv[i + 1]};
    if (mcp_client_new(&loop, &co, &b.client) || mcp_client_stdio_start(b.client, &so)) {
        fprintf(stderr, "mock_call_rtt: cannot start %s\n", argv[i]);
        return 2;
    }
    if (mcp_client_initialize(b.client, 10000, on_init, &b))
        return 2;
    while (!b.finished && uv_run(&loop, UV_RUN_ONCE))
        ;
    mcp_client_close(b.client, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    int rc = 1;
    if (!b.failed && b.done == b.n) {
        double secs = (double)(b.wall_end - b.wall_start) / 1e9;
        printf("calls=%ld calls_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
               "max_us=%.1f\n",
               b.n, (double)b.n / secs, us(b.hist, 50), us(b.hist, 90), us(b.hist, 99),
               us(b.hist, 99.9), (double)hdr_max(b.hist) / 1000.0);
        rc = 0;
    }
    hdr_free(b.hist);
    return rc;
}
