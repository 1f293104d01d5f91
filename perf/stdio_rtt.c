/* stdio_rtt: sequential `ping` round trips from mcp_client to a C stdio MCP server.
 *
 *   stdio_rtt [-n N] [-w WARMUP] [-- SERVER-COMMAND [ARGS...]]
 *
 * Without a server command the program re-executes itself with --serve: a minimal server built
 * from the framework (mcp_server + mcp_stdio_server; ping is answered by the framework). Each
 * round trip is timed from just before mcp_client_request to the start of its callback (build,
 * serialize, write, server parse/answer, read, parse, correlate), one request at a time, with a
 * 5 s deadline as a real caller would set. Prints p50/p90/p99/p99.9/max in microseconds. */
#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "mcp_client.h"
#include "mcp_client_stdio.h"
#include "mcp_proto.h"
#include "mcp_server.h"
#include "mcp_stdio_server.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- server mode ---- */

static void server_closed(mcp_stdio_server_t *io, int status, void *ud)
{
    (void)io;
    (void)status;
    *(int *)ud = 1;
}

static int serve(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_server_config_t cfg = {.name = "stdio-rtt-server", .version = "1.0"};
    mcp_server_t *srv;
    mcp_stdio_server_t *io;
    int closed = 0;
    if (mcp_server_create(&loop, &cfg, &srv) ||
        mcp_stdio_server_start(&loop, srv, NULL, server_closed, &closed, &io))
        return 2;
    while (!closed && uv_run(&loop, UV_RUN_ONCE))
        ;
    mcp_server_free(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}

/* ---- client ---- */

typedef struct {
    mcp_client_t *client;
    uint64_t *samples; /* ns */
    long n, warmup, done, issued;
    uint64_t t0;
    int failed;
    int finished;
    uint64_t wall_start, wall_end;
} bench_t;

static void issue(bench_t *b);

static void on_pong(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    bench_t *b = ud;
    uint64_t t1 = clock_mono_ns();
    (void)req;
    (void)resp;
    if (status != 0) {
        fprintf(stderr, "stdio_rtt: ping failed: %s\n", mcp_strerror(status));
        b->failed = 1;
        b->finished = 1;
        return;
    }
    if (b->issued > b->warmup)
        b->samples[b->done++] = t1 - b->t0;
    if (b->issued == b->warmup)
        b->wall_start = clock_mono_ns();
    if (b->done == b->n) {
        b->wall_end = clock_mono_ns();
        b->finished = 1;
        return;
    }
    issue(b);
}

static void issue(bench_t *b)
{
    b->issued++;
    b->t0 = clock_mono_ns();
    int rc = mcp_client_request(b->client, MCP_METHOD_PING, NULL, 5000, on_pong, b, NULL);
    if (rc) {
        fprintf(stderr, "stdio_rtt: request: %s\n", mcp_strerror(rc));
        b->failed = 1;
        b->finished = 1;
    }
}

static void on_init(mcp_client_t *c, int status, void *ud)
{
    bench_t *b = ud;
    (void)c;
    if (status) {
        fprintf(stderr, "stdio_rtt: initialize: %s (%s)\n", mcp_strerror(status),
                mcp_client_error_message(c));
        b->failed = 1;
        b->finished = 1;
        return;
    }
    if (b->warmup == 0)
        b->wall_start = clock_mono_ns();
    issue(b);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *sorted, long n, double p)
{
    long i = (long)(p / 100.0 * (double)n + 0.5) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return (double)sorted[i] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: stdio_rtt [-n N] [-w WARMUP] [-- SERVER-COMMAND [ARGS...]]\n");
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    if (argc >= 2 && strcmp(argv[1], "--serve") == 0) {
        log_set_level(LOG_WARN);
        return serve();
    }
    log_set_level(LOG_WARN);
    bench_t b = {.n = 100000, .warmup = 2000};
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            b.n = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
            b.warmup = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            usage();
            return 2;
        }
    }
    if (b.n <= 0 || b.warmup < 0) {
        usage();
        return 2;
    }
    static char self[PATH_MAX];
    const char *command;
    const char *const *args;
    static const char *const serve_args[] = {"--serve", NULL};
    if (i < argc) {
        command = argv[i];
        args = (const char *const *)&argv[i + 1];
    } else {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return 2;
        self[n] = '\0';
        command = self;
        args = serve_args;
    }

    b.samples = mcp_calloc((size_t)b.n, sizeof *b.samples);
    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_client_options_t co = {.name = "rtt"};
    mcp_client_stdio_options_t so = {.command = command, .args = args};
    if (!b.samples || mcp_client_new(&loop, &co, &b.client) ||
        mcp_client_stdio_start(b.client, &so)) {
        fprintf(stderr, "stdio_rtt: cannot start %s\n", command);
        return 2;
    }
    if (mcp_client_initialize(b.client, 10000, on_init, &b))
        return 2;
    while (!b.finished && uv_run(&loop, UV_RUN_ONCE))
        ;
    mcp_client_close(b.client, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (b.failed || b.done != b.n) {
        mcp_free(b.samples);
        return 1;
    }
    qsort(b.samples, (size_t)b.n, sizeof *b.samples, cmp_u64);
    double total_s = (double)(b.wall_end - b.wall_start) / 1e9;
    printf("stdio_rtt: n=%ld p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
           "rps=%.0f\n",
           b.n, pct_us(b.samples, b.n, 50), pct_us(b.samples, b.n, 90), pct_us(b.samples, b.n, 99),
           pct_us(b.samples, b.n, 99.9), (double)b.samples[b.n - 1] / 1000.0,
           total_s > 0 ? (double)b.n / total_s : 0.0);
    mcp_free(b.samples);
    return 0;
}
