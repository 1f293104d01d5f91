/* gw_metrics_sec: the per-request cost of gateway/metrics and gateway/security, and the cost of
 * one scrape.
 *
 *   gw_metrics_sec [-n N] [-r ROUTES] [-s SERVERS] [-t TOOLS]
 *
 * Hot path, ns per operation (median of 5 runs of N operations each):
 *   series lookup + inc on a 3-label counter, observe on a held histogram series,
 *   gw_metrics_std_request (two lookups, inc, observe), bearer check (SHA-256 + compare with 4
 *   keys), rate-limit check (a known client among 10000), CORS decision, Host/Origin check,
 *   request id generation (getrandom).
 * Scrape: the standard set with ROUTES x 3 methods of request data and SERVERS x TOOLS tools
 * mirrored by a collector (borrowed microsecond histograms): Prometheus text and JSON, median
 * time of 11 scrapes and the output size. */
#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "hdr_histogram.h"
#include "metrics.h"
#include "security.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static volatile uint64_t sink;

#define RUNS 5

/* Median over RUNS of ns per op for `body` run n times. */
#define BENCH(label, n, setup, body)                                   \
    do {                                                               \
        double per[RUNS];                                              \
        for (int run_ = 0; run_ < RUNS; run_++) {                      \
            setup;                                                     \
            uint64_t t0_ = clock_mono_ns();                            \
            for (long i = 0; i < (n); i++) {                           \
                body;                                                  \
            }                                                          \
            per[run_] = (double)(clock_mono_ns() - t0_) / (double)(n); \
        }                                                              \
        qsort(per, RUNS, sizeof per[0], cmp_double);                   \
        printf("%-44s %10.1f ns/op\n", label, per[RUNS / 2]);          \
    } while (0)

typedef struct world_s {
    gw_metrics_std_t std;
    int servers, tools;
    char **server_names;
    char **tool_names;
    hdr_histogram_t **lat;      /* per server: 3 significant figures, as upstream.c */
    hdr_histogram_t **tool_lat; /* per server's tools: 2, as upstream.c */
} world_t;

static void collect(gw_metrics_t *m, void *ud)
{
    (void)m;
    world_t *w = ud;
    for (int s = 0; s < w->servers; s++) {
        gw_metrics_upstream_sample_t smp = {.server = w->server_names[s],
                                            .up = 1,
                                            .ok = 1000,
                                            .errors = 3,
                                            .timeouts = 1,
                                            .latency_us = w->lat[s]};
        gw_metrics_std_upstream(&w->std, &smp);
        for (int t = 0; t < w->tools; t++)
            gw_metrics_std_tool(&w->std, w->server_names[s], w->tool_names[t], 100, 1, 0,
                                w->tool_lat[s]);
    }
    gw_metrics_std_cache(&w->std, 10, 5, 0, 1000, 3);
}

static void bench_scrape(int routes, int servers, int tools)
{
    gw_metrics_t *m;
    world_t w = {.servers = servers, .tools = tools};
    if (gw_metrics_new(&(gw_metrics_options_t){.process_metrics = 1}, &m) ||
        gw_metrics_std_register(m, (size_t)(servers * tools), &w.std) ||
        gw_metrics_add_collector(m, collect, &w))
        exit(1);
    w.server_names = mcp_calloc((size_t)servers, sizeof(char *));
    w.tool_names = mcp_calloc((size_t)tools, sizeof(char *));
    w.lat = mcp_calloc((size_t)servers, sizeof(hdr_histogram_t *));
    w.tool_lat = mcp_calloc((size_t)servers, sizeof(hdr_histogram_t *));
    for (int s = 0; s < servers; s++) {
        w.server_names[s] = mcp_asprintf("server%d", s);
        hdr_init(1, 3600000000LL, 3, &w.lat[s], NULL, 0);
        hdr_init(1, 3600000000LL, 2, &w.tool_lat[s], NULL, 0);
        /* 10000 calls spread over 0.2 .. 50 ms: thousands of distinct buckets. */
        for (int k = 0; k < 10000; k++) {
            hdr_record_value(w.lat[s], 200 + (k * 7919) % 50000);
            hdr_record_value(w.tool_lat[s], 200 + (k * 7919) % 50000);
        }
    }
    for (int t = 0; t < tools; t++)
        w.tool_names[t] = mcp_asprintf("tool_%d", t);
    static const char *const methods[] = {"GET", "POST", "DELETE"};
    char route[64];
    for (int r = 0; r < routes; r++) {
        snprintf(route, sizeof route, "/api/route%d", r);
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 100; i++)
                gw_metrics_std_request(&w.std, route, methods[k], 200, 100000 + (uint64_t)i * 1000);
    }
    double text_ms[11], json_ms[11];
    size_t text_len = 0, json_len = 0;
    for (int i = 0; i < 11; i++) {
        buf_t b;
        buf_init(&b, 256u << 20);
        uint64_t t0 = clock_mono_ns();
        if (gw_metrics_write_text(m, &b))
            exit(1);
        text_ms[i] = (double)(clock_mono_ns() - t0) / 1e6;
        text_len = b.len;
        buf_reset(&b);
        t0 = clock_mono_ns();
        if (gw_metrics_write_json(m, &b))
            exit(1);
        json_ms[i] = (double)(clock_mono_ns() - t0) / 1e6;
        json_len = b.len;
        buf_free(&b);
    }
    qsort(text_ms, 11, sizeof(double), cmp_double);
    qsort(json_ms, 11, sizeof(double), cmp_double);
    printf("scrape text (%d routes x 3, %d servers x %d tools) %8.2f ms  %zu bytes\n", routes,
           servers, tools, text_ms[5], text_len);
    printf("scrape json (same)                                %8.2f ms  %zu bytes\n", json_ms[5],
           json_len);
    gw_process_stats_t ps;
    gw_process_stats_read(&ps);
    printf("process RSS after setup                           %8.1f MiB\n",
           (double)ps.rss_bytes / 1048576.0);
    gw_metrics_free(m);
    for (int s = 0; s < servers; s++) {
        mcp_free(w.server_names[s]);
        hdr_free(w.lat[s]);
        hdr_free(w.tool_lat[s]);
    }
    for (int t = 0; t < tools; t++)
        mcp_free(w.tool_names[t]);
    mcp_free(w.server_names);
    mcp_free(w.tool_names);
    mcp_free(w.lat);
    mcp_free(w.tool_lat);
}

int main(int argc, char **argv)
{
    long n = 1000000;
    int routes = 20, servers = 10, tools = 100;
    int opt;
    while ((opt = getopt(argc, argv, "n:r:s:t:")) != -1) {
        switch (opt) {
        case 'n': n = atol(optarg); break;
        case 'r': routes = atoi(optarg); break;
        case 's': servers = atoi(optarg); break;
        case 't': tools = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: gw_metrics_sec [-n N] [-r ROUTES] [-s SERVERS] [-t TOOLS]\n");
            return 2;
        }
    }
    if (n < 1 || routes < 1 || servers < 1 || tools < 1)
        return 2;
    mcp_alloc_init();

    gw_metrics_t *m;
    gw_metrics_std_t std;
    if (gw_metrics_new(NULL, &m) || gw_metrics_std_register(m, 0, &std))
        return 1;
    /* A realistic table: 20 routes x 3 methods x 2 classes. */
    static const char *const routes_v[] = {"/mcp", "/health", "/api/mcp/servers", "/metrics"};
    for (int i = 0; i < 20; i++) {
        char r[32];
        snprintf(r, sizeof r, "/r%d", i);
        gw_series_inc(gw_metric_get(std.http_requests, (const char *[]){r, "GET", "2xx"}));
        gw_series_inc(gw_metric_get(std.http_requests, (const char *[]){r, "POST", "5xx"}));
    }
    BENCH("metrics: lookup + inc (3 labels)", n, (void)0,
          gw_series_inc(
              gw_metric_get(std.http_requests, (const char *[]){routes_v[i & 3], "POST", "2xx"})));
    gw_series_t *held = gw_metric_get(std.http_duration, (const char *[]){"/mcp", "POST"});
    BENCH("metrics: observe (held series)", n, (void)0,
          gw_series_observe(held, 100000 + (i & 0xffff) * 17));
    BENCH("metrics: gw_metrics_std_request", n, (void)0,
          gw_metrics_std_request(&std, routes_v[i & 3], "POST", 200,
                                 100000 + (uint64_t)(i & 0xffff) * 17));
    gw_metrics_free(m);

    gw_sec_keys_t *keys;
    if (gw_sec_keys_new(
            (const char *[]){"key-aaaaaaaaaaaaaaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbbbbbbbbb",
                             "key-ccccccccccccccccccccccc", "key-ddddddddddddddddddddd"},
            4, &keys))
        return 1;
    gw_auth_t a;
    BENCH("security: bearer check (4 keys)", n / 4, (void)0,
          sink += gw_sec_check_bearer(keys, "Bearer key-ccccccccccccccccccccccc", &a));
    gw_sec_keys_free(keys);

    gw_ratelimit_t *rl;
    if (gw_ratelimit_new(1e9, 1e9, 10000, NULL, NULL, &rl))
        return 1;
    char clients[10000][24];
    gw_ratelimit_decision_t d;
    for (int i = 0; i < 10000; i++) {
        snprintf(clients[i], sizeof clients[i], "ip:10.0.%d.%d", i / 256, i % 256);
        gw_ratelimit_check(rl, clients[i], &d);
    }
    BENCH("security: rate-limit check (10000 clients)", n, (void)0,
          gw_ratelimit_check(rl, clients[(i * 7919) % 10000], &d));
    gw_ratelimit_free(rl);
    if (gw_ratelimit_new(1e9, 1e9, 1000, NULL, NULL, &rl))
        return 1;
    BENCH("security: rate-limit check (new client, evict)", n / 4, (void)0,
          gw_ratelimit_check(rl, clients[i % 10000], &d));
    gw_ratelimit_free(rl);

    gw_cors_t *cors;
    if (gw_cors_new((const char *[]){"https://app.example.com", "http://localhost:3000"}, 2, &cors))
        return 1;
    gw_cors_result_t cr;
    BENCH("security: CORS preflight decision", n, (void)0,
          gw_cors_decide(cors, "OPTIONS", "http://localhost:3000", "POST",
                         "content-type, mcp-session-id", &cr));
    gw_cors_free(cors);
    gw_hostcheck_t *hc;
    if (gw_hostcheck_new(NULL, 0, &hc))
        return 1;
    BENCH("security: Host + Origin check", n, (void)0,
          sink +=
          (uint64_t)gw_hostcheck_request(hc, "localhost:8001", "http://localhost:3000", NULL, 0));
    gw_hostcheck_free(hc);
    char id[17];
    BENCH("security: request id generation", n / 10, (void)0,
          (gw_sec_request_id_generate(id), sink += (uint8_t)id[0]));

    bench_scrape(routes, servers, tools);
    return 0;
}
