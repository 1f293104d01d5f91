/* loadgen_max: the harness load generator (harness/load.h) at full speed, for
 * bench-loadgen-vs-wrk.sh.
 *
 * Closed loop by default: `--connections` loops, each on its own keep-alive connection, send GET
 * `--path` back to back for `--duration` seconds (after an optional `--warmup`), like
 * `wrk -c N -d D`. With `--rate R` it runs open loop at R requests/s over the same number of
 * connections instead. Prints one line:
 *   req/s=... ok=... failed=... p50_ms=... p99_ms=... max_ms=... connects=...
 * and exits 1 when a request failed or the run could not start.
 *
 *   loadgen_max --port N [--host 127.0.0.1] [--path /hello] [--connections 64] [--duration 10]
 *               [--warmup 1] [--rate R] */
#include "alloc.h"
#include "errors.h"
#include "load.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct app_s {
    load_result_t *res;
} app_t;

static void on_done(load_run_t *run, const load_result_t *r, void *user)
{
    app_t *app = user;
    (void)r;
    app->res = load_run_take_result(run);
    load_run_free(run);
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen_max --port N [--host 127.0.0.1] [--path /hello] "
                    "[--connections 64] [--duration 10] [--warmup 1] [--rate R]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    log_init_from_env();
    const char *host = "127.0.0.1", *path = "/hello";
    long port = 0, conns = 64;
    double duration = 10, warmup = 1, rate = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--port") == 0)
            port = strtol(v, NULL, 10);
        else if (strcmp(a, "--path") == 0)
            path = v;
        else if (strcmp(a, "--connections") == 0)
            conns = strtol(v, NULL, 10);
        else if (strcmp(a, "--duration") == 0)
            duration = strtod(v, NULL);
        else if (strcmp(a, "--warmup") == 0)
            warmup = strtod(v, NULL);
        else if (strcmp(a, "--rate") == 0)
            rate = strtod(v, NULL);
        else
            usage();
    }
    if (port <= 0 || port > 65535 || conns <= 0 || conns > LOAD_MAX_CONNECTIONS || duration <= 0 ||
        warmup < 0)
        usage();

    load_phase_t ph[2];
    memset(ph, 0, sizeof ph);
    size_t n = 0;
    if (warmup > 0)
        ph[n++] = (load_phase_t){.name = "warmup",
                                 .duration_ms = (uint64_t)(warmup * 1000),
                                 .warmup = true,
                                 .rate_start = rate,
                                 .rate_end = -1,
                                 .concurrency = (uint32_t)conns};
    ph[n++] = (load_phase_t){.name = "main",
                             .duration_ms = (uint64_t)(duration * 1000),
                             .rate_start = rate,
                             .rate_end = -1,
                             .concurrency = (uint32_t)conns};
    load_spec_t spec = {
        .host = host,
        .port = (uint16_t)port,
        .path = path,
        .model = rate > 0 ? LOAD_MODEL_OPEN : LOAD_MODEL_CLOSED,
        .connections = (uint32_t)conns,
        .max_outstanding = (uint32_t)conns * 16,
        .phases = ph,
        .n_phases = n,
    };
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return 1;
    app_t app = {0};
    load_run_t *run;
    char err[256];
    int rc = load_run_start(&loop, &spec, NULL, on_done, &app, &run, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "loadgen_max: %s: %s\n", mcp_strerror(rc), err);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    load_result_t *r = app.res;
    if (!r)
        return 1;
    printf("req/s=%.0f ok=%llu failed=%llu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f late=%llu "
           "dropped=%llu connects=%llu\n",
           r->achieved_rate, (unsigned long long)r->total.ok, (unsigned long long)r->total.failed,
           (double)hdr_value_at_percentile(r->corrected, 50) / 1e6,
           (double)hdr_value_at_percentile(r->corrected, 99) / 1e6,
           (double)hdr_max(r->corrected) / 1e6, (unsigned long long)r->total.late,
           (unsigned long long)r->total.dropped, (unsigned long long)r->connects);
    int status = r->total.failed ? 1 : 0;
    load_result_free(r);
    return status;
}
