/* gw_route: the cost of the gateway's routing layer (registry + upstream + aggregator).
 *
 *   gw_route [-n N] [-s SOURCES] [-t TOOLS]
 *
 * 1. Catalog rebuild: gw_agg_build over SOURCES fake catalogs of TOOLS tools each (every bare
 *    name shared by all sources, so every name is a conflict): median of 21 builds.
 * 2. Name resolution: gw_agg_resolve_tool by namespaced, LLM and bare names, ns per lookup.
 * 3. Call round trip: N sequential tools/call "echo" to an in-process server (mcp_loopback),
 *    once straight through mcp_client and once through gw_agg_call_tool (resolve, breaker,
 *    deadline, accounting); p50/p99 in microseconds from request to callback. The difference
 *    is the routing layer's own cost. */
#include "aggregator.h"
#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "hdr_histogram.h"
#include "log.h"
#include "mcp_client.h"
#include "mcp_loopback.h"
#include "mcp_server.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- 1 and 2: catalog ---- */

static void bench_catalog(size_t nsrc, size_t ntools)
{
    gw_server_config_t *cfg = mcp_calloc(nsrc, sizeof *cfg);
    gw_agg_source_t *src = mcp_calloc(nsrc, sizeof *src);
    char **names = mcp_calloc(nsrc, sizeof *names);
    for (size_t i = 0; i < nsrc; i++) {
        names[i] = mcp_asprintf("server%zu", i);
        cfg[i] = (gw_server_config_t){
            .name = names[i], .enabled = 1, .priority = (int)i, .order = i, .prefix = 1};
        cJSON *tools = cJSON_CreateArray();
        for (size_t t = 0; t < ntools; t++) {
            char text[256];
            snprintf(text, sizeof text,
                     "{\"name\":\"tool_%zu\",\"description\":\"does thing %zu\","
                     "\"inputSchema\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":"
                     "\"string\"}}}}",
                     t, t);
            cJSON_AddItemToArray(tools, cJSON_Parse(text));
        }
        src[i] = (gw_agg_source_t){.cfg = &cfg[i], .available = 1, .tools = tools};
    }
    gw_aggregator_t *agg;
    gw_agg_options_t o = {0};
    if (gw_agg_new(&o, &agg))
        exit(1);
    uint64_t t[21];
    for (int r = 0; r < 21; r++) {
        /* Alternate availability of the last source so that every build changes something. */
        src[nsrc - 1].available = r % 2;
        uint64_t t0 = clock_mono_ns();
        if (gw_agg_build(agg, src, nsrc))
            exit(1);
        t[r] = clock_mono_ns() - t0;
    }
    qsort(t, 21, sizeof t[0], cmp_u64);
    src[nsrc - 1].available = 1;
    gw_agg_build(agg, src, nsrc);
    printf("catalog rebuild: %zu sources x %zu tools = %d listed, %zu conflicts: median %.2f ms\n",
           nsrc, ntools, cJSON_GetArraySize(gw_agg_tools(agg)), gw_agg_conflict_count(agg),
           t[10] / 1e6);
    const char *kinds[] = {"namespaced", "llm", "bare"};
    const size_t lookups = 1000000;
    for (int k = 0; k < 3; k++) {
        char name[64];
        gw_agg_route_t route;
        uint64_t t0 = clock_mono_ns();
        for (size_t i = 0; i < lookups; i++) {
            size_t s = i % nsrc, tool = (i / nsrc) % ntools;
            if (k == 0)
                snprintf(name, sizeof name, "server%zu.tool_%zu", s, tool);
            else if (k == 1)
                snprintf(name, sizeof name, "server%zu_tool_%zu", s, tool);
            else
                snprintf(name, sizeof name, "tool_%zu", tool);
            if (gw_agg_resolve_tool(agg, name, &route) != 0)
                exit(1);
        }
        double ns = (double)(clock_mono_ns() - t0) / lookups;
        printf("resolve %-10s: %.0f ns per lookup (name formatting included)\n", kinds[k], ns);
    }
    gw_agg_free(agg);
    for (size_t i = 0; i < nsrc; i++) {
        cJSON_Delete((cJSON *)src[i].tools);
        mcp_free(names[i]);
    }
    mcp_free(names);
    mcp_free(src);
    mcp_free(cfg);
}

/* ---- 3: call round trips ---- */

typedef struct {
    uv_loop_t loop;
    mcp_server_t *server;
    int done, status, started, closed;
    uint64_t t0;
    hdr_histogram_t *h;
} bench_t;

static void tool_echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(args, "text"));
    mcp_call_reply_text(call, text ? text : "");
}

static int connect_inproc(gw_upstream_t *up, const gw_server_config_t *cfg, mcp_client_t *client,
                          void *ud)
{
    (void)up;
    (void)cfg;
    bench_t *b = ud;
    return mcp_loopback_connect(&b->loop, b->server, client, NULL);
}

static void on_direct(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    (void)resp;
    bench_t *b = ud;
    hdr_record_value(b->h, (int64_t)((clock_mono_ns() - b->t0) / 1000));
    b->status = status;
    b->done = 1;
}

static void on_routed(gw_upcall_t *call, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)call;
    (void)resp;
    bench_t *b = ud;
    hdr_record_value(b->h, (int64_t)((clock_mono_ns() - b->t0) / 1000));
    b->status = status;
    b->done = 1;
}

static void on_init(mcp_client_t *c, int status, void *ud)
{
    (void)c;
    bench_t *b = ud;
    b->status = status;
    b->done = 1;
}

static void on_started(gw_registry_t *reg, void *ud)
{
    (void)reg;
    ((bench_t *)ud)->started = 1;
}

static void on_closed_reg(void *ud)
{
    ((bench_t *)ud)->closed = 1;
}

static void on_closed_client(mcp_client_t *c, void *ud)
{
    (void)c;
    ((bench_t *)ud)->closed = 1;
}

static void report(const char *what, hdr_histogram_t *h)
{
    printf("%-22s p50 %4lld us  p90 %4lld us  p99 %4lld us  max %5lld us  (%lld calls)\n", what,
           (long long)hdr_value_at_percentile(h, 50), (long long)hdr_value_at_percentile(h, 90),
           (long long)hdr_value_at_percentile(h, 99), (long long)hdr_max(h),
           (long long)hdr_total_count(h));
}

static void bench_calls(int n)
{
    bench_t b = {0};
    uv_loop_init(&b.loop);
    mcp_server_config_t sc = {.name = "bench", .version = "1"};
    mcp_server_create(&b.loop, &sc, &b.server);
    mcp_tool_def_t def = {.name = "echo", .description = "echo"};
    mcp_server_add_tool(b.server, &def, tool_echo, NULL);
    hdr_init(1, 10000000, 3, &b.h, NULL, 0);

    /* Straight through mcp_client. */
    mcp_client_t *c;
    mcp_client_options_t co = {.name = "direct"};
    mcp_client_new(&b.loop, &co, &c);
    mcp_loopback_connect(&b.loop, b.server, c, NULL);
    b.done = 0;
    mcp_client_initialize(c, 5000, on_init, &b);
    while (!b.done)
        uv_run(&b.loop, UV_RUN_ONCE);
    for (int i = 0; i < n + n / 10; i++) {
        if (i == n / 10)
            hdr_reset(b.h);
        b.done = 0;
        b.t0 = clock_mono_ns();
        mcp_client_request(c, "tools/call",
                           cJSON_Parse("{\"name\":\"echo\",\"arguments\":{\"text\":\"x\"}}"), 5000,
                           on_direct, &b, NULL);
        while (!b.done)
            uv_run(&b.loop, UV_RUN_ONCE);
    }
    report("mcp_client direct", b.h);
    b.closed = 0;
    mcp_client_close(c, on_closed_client, &b);
    while (!b.closed)
        uv_run(&b.loop, UV_RUN_ONCE);

    /* Through registry + upstream + aggregator. */
    gw_config_t *cfg;
    gw_config_error_t err;
    const char *text = "{\"version\":\"1.0\",\"gateway\":{\"health_interval_ms\":0},\"servers\":["
                       "{\"name\":\"bench\",\"transport\":\"stdio\",\"config\":{\"command\":"
                       "\"inproc\"}}]}";
    if (gw_config_parse(text, strlen(text), "bench", NULL, NULL, &cfg, &err)) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    gw_registry_t *reg;
    gw_registry_options_t ro = {
        .config = cfg, .connect = connect_inproc, .connect_ud = &b, .seed = 1};
    gw_registry_new(&b.loop, &ro, &reg);
    gw_aggregator_t *agg;
    gw_agg_options_t ao;
    gw_agg_options_from_config(&ao, &cfg->settings);
    gw_agg_new(&ao, &agg);
    gw_agg_attach_registry(agg, reg);
    gw_registry_start(reg, on_started, &b);
    while (!b.started)
        uv_run(&b.loop, UV_RUN_ONCE);
    for (int i = 0; i < n + n / 10; i++) {
        if (i == n / 10)
            hdr_reset(b.h);
        b.done = 0;
        b.t0 = clock_mono_ns();
        gw_agg_call_opts_t o = {.cb = on_routed, .ud = &b};
        if (gw_agg_call_tool(agg, "bench.echo", cJSON_Parse("{\"text\":\"x\"}"), &o, NULL))
            exit(1);
        while (!b.done)
            uv_run(&b.loop, UV_RUN_ONCE);
    }
    report("gw_agg_call_tool", b.h);
    gw_agg_free(agg);
    b.closed = 0;
    gw_registry_close(reg, on_closed_reg, &b);
    while (!b.closed)
        uv_run(&b.loop, UV_RUN_ONCE);
    mcp_server_free(b.server);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    gw_config_free(cfg);
    hdr_free(b.h);
}

int main(int argc, char **argv)
{
    int n = 20000;
    size_t nsrc = 10, ntools = 100;
    int opt;
    while ((opt = getopt(argc, argv, "n:s:t:")) != -1) {
        if (opt == 'n')
            n = atoi(optarg);
        else if (opt == 's')
            nsrc = (size_t)atoi(optarg);
        else if (opt == 't')
            ntools = (size_t)atoi(optarg);
        else {
            fprintf(stderr, "usage: gw_route [-n N] [-s SOURCES] [-t TOOLS]\n");
            return 2;
        }
    }
    if (n < 10 || nsrc < 1 || ntools < 1)
        return 2;
    mcp_alloc_init();
    log_set_level(LOG_WARN);
    bench_catalog(nsrc, ntools);
    bench_calls(n);
    return 0;
}
