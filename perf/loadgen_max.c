/* loadgen_max: the harness load generator (harness/load.h) at full speed, for
 * bench-loadgen-vs-wrk.sh.
 *
 * Closed loop by default: `--connections` loops, each on its own keep-alive connection, send GET
 * `--path` back to back for `--duration` seconds (after an optional `--warmup`), like
 * `wrk -c N -d D`. With `--rate R` it runs open loop at R requests/s over the same number of
 * connections instead. `--threads T` (default 1) splits the connections (and the rate) over T
 * threads, each running its own load run on its own libuv loop, like `wrk -t T`; the results are
 * merged (counters summed, histograms added). Prints one line:
 *   req/s=... ok=... failed=... p50_ms=... p99_ms=... max_ms=... connects=...
 * and exits 1 when a request failed or the run could not start.
 *
 *   loadgen_max --port N [--host 127.0.0.1] [--path /hello] [--connections 64] [--duration 10]
 *               [--warmup 1] [--rate R] [--threads 1] */
#include "alloc.h"
#include "errors.h"
#include "load.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 16

typedef struct app_s {
    load_spec_t spec;
    load_phase_t ph[2];
    load_result_t *res;
    int rc;
    pthread_t tid;
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
                    "[--connections 64] [--duration 10] [--warmup 1] [--rate R] [--threads 1]\n");
    exit(2);
}

static void *thread_main(void *arg)
{
    app_t *app = arg;
    uv_loop_t loop;
    app->rc = uv_loop_init(&loop);
    if (app->rc != 0)
        return NULL;
    load_run_t *run;
    char err[256];
    app->spec.phases = app->ph;
    app->rc = load_run_start(&loop, &app->spec, NULL, on_done, app, &run, err, sizeof err);
    if (app->rc != 0) {
        fprintf(stderr, "loadgen_max: %s: %s\n", mcp_strerror(app->rc), err);
        (void)uv_loop_close(&loop);
        return NULL;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    return NULL;
}

static void counters_add(load_counters_t *d, const load_counters_t *s)
{
    d->scheduled += s->scheduled;
    d->sent += s->sent;
    d->completed += s->completed;
    d->ok += s->ok;
    d->failed += s->failed;
    for (int i = 0; i < LOAD_ERR_COUNT_; i++)
        d->errors[i] += s->errors[i];
    d->late += s->late;
    d->dropped += s->dropped;
    if (s->max_lag_ns > d->max_lag_ns)
        d->max_lag_ns = s->max_lag_ns;
    d->bytes_sent += s->bytes_sent;
    d->bytes_received += s->bytes_received;
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    log_init_from_env();
    const char *host = "127.0.0.1", *path = "/hello";
    long port = 0, conns = 64, threads = 1;
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
        else if (strcmp(a, "--threads") == 0)
            threads = strtol(v, NULL, 10);
        else
            usage();
    }
    if (port <= 0 || port > 65535 || conns <= 0 || conns > LOAD_MAX_CONNECTIONS || duration <= 0 ||
        warmup < 0 || threads < 1 || threads > MAX_THREADS || threads > conns)
        usage();

    static app_t apps[MAX_THREADS];
    for (long t = 0; t < threads; t++) {
        app_t *app = &apps[t];
        /* connections and rate split evenly; the first threads take the remainder */
        uint32_t c = (uint32_t)(conns / threads + (t < conns % threads ? 1 : 0));
        double r = rate / (double)threads;
        size_t n = 0;
        if (warmup > 0)
            app->ph[n++] = (load_phase_t){.name = "warmup",
                                          .duration_ms = (uint64_t)(warmup * 1000),
                                          .warmup = true,
                                          .rate_start = r,
                                          .rate_end = -1,
                                          .concurrency = c};
        app->ph[n++] = (load_phase_t){.name = "main",
                                      .duration_ms = (uint64_t)(duration * 1000),
                                      .rate_start = r,
                                      .rate_end = -1,
                                      .concurrency = c};
        app->spec = (load_spec_t){
            .host = host,
            .port = (uint16_t)port,
            .path = path,
            .model = rate > 0 ? LOAD_MODEL_OPEN : LOAD_MODEL_CLOSED,
            .connections = c,
            .max_outstanding = c * 16,
            .n_phases = n,
            .seed = (uint64_t)t,
        };
    }
    if (threads == 1) {
        thread_main(&apps[0]);
    } else {
        for (long t = 0; t < threads; t++)
            if (pthread_create(&apps[t].tid, NULL, thread_main, &apps[t]) != 0)
                return 1;
        for (long t = 0; t < threads; t++)
            pthread_join(apps[t].tid, NULL);
    }
    load_result_t *r = apps[0].res;
    if (!r)
        return 1;
    for (long t = 1; t < threads; t++) {
        load_result_t *o = apps[t].res;
        if (!o)
            return 1;
        counters_add(&r->total, &o->total);
        (void)hdr_add(r->corrected, o->corrected, NULL);
        (void)hdr_add(r->uncorrected, o->uncorrected, NULL);
        r->achieved_rate += o->achieved_rate;
        r->connects += o->connects;
        load_result_free(o);
    }
    printf("req/s=%.0f ok=%llu failed=%llu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f late=%llu "
           "dropped=%llu connects=%llu threads=%ld\n",
           r->achieved_rate, (unsigned long long)r->total.ok, (unsigned long long)r->total.failed,
           (double)hdr_value_at_percentile(r->corrected, 50) / 1e6,
           (double)hdr_value_at_percentile(r->corrected, 99) / 1e6,
           (double)hdr_max(r->corrected) / 1e6, (unsigned long long)r->total.late,
           (unsigned long long)r->total.dropped, (unsigned long long)r->connects, threads);
    int status = r->total.failed ? 1 : 0;
    load_result_free(r);
    return status;
}
