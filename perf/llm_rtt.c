/* llm_rtt: the cost of the mock LLM and of the gateway's LLM client.
 *
 *   llm_rtt [-n N]
 *
 * Cases (each N times after N/10 warm-up runs, one after another):
 *   plan/sql        llm_planner_plan for "Show me total sales for abracadabra this month" (the
 *                   first step: a tool call), in process
 *   plan/answer     the same conversation with the SQL result: the text answer
 *   plan/github     the github workflow's third step (5 files' SQL to run)
 *   http/chat       gw_llm_chat -> `mcp-mock llm` (llm_server) on 127.0.0.1 -> parsed response,
 *                   one loop, keep-alive: the planner plus HTTP, JSON and the client
 * Prints p50/p90/p99/max in microseconds and operations per second. No gate. */
#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "llm_client.h"
#include "llm_planner.h"
#include "llm_server.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *ns, size_t n, uint64_t total_ns)
{
    qsort(ns, n, sizeof(uint64_t), cmp_u64);
    printf("%-12s n=%zu p50=%.1fus p90=%.1fus p99=%.1fus max=%.1fus ops/s=%.0f\n", name, n,
           (double)ns[n / 2] / 1e3, (double)ns[n * 9 / 10] / 1e3, (double)ns[n * 99 / 100] / 1e3,
           (double)ns[n - 1] / 1e3, (double)n / ((double)total_ns / 1e9));
}

static cJSON *tools(void)
{
    static const char *const names[] = {"database_read_query", "database_list_tables",
                                        "database_describe_table", "github_search_code",
                                        "github_get_file_contents"};
    cJSON *t = cJSON_CreateArray();
    for (size_t i = 0; i < 5; i++)
        gw_llm_tools_add(t, names[i], "a tool", NULL);
    return t;
}

static void bench_plan(const char *name, llm_planner_t *p, const char *conv, const cJSON *t,
                       size_t n)
{
    cJSON *m = cJSON_Parse(conv);
    if (!m) {
        fprintf(stderr, "llm_rtt: bad conversation for %s\n", name);
        exit(1);
    }
    llm_plan_opts_t o = {.recover = 1, .today_y = 2025, .today_m = 6, .today_d = 15};
    uint64_t *ns = malloc(n * sizeof(uint64_t));
    for (size_t i = 0; i < n + n / 10; i++) {
        llm_plan_t plan;
        char err[256];
        uint64_t t0 = clock_mono_ns();
        int rc = llm_planner_plan(p, m, t, &o, &plan, err, sizeof err);
        uint64_t t1 = clock_mono_ns();
        if (rc) {
            fprintf(stderr, "llm_rtt: %s: %s\n", name, err);
            exit(1);
        }
        llm_plan_clear(&plan);
        if (i >= n / 10)
            ns[i - n / 10] = t1 - t0;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ns[i];
    report(name, ns, n, total);
    free(ns);
    cJSON_Delete(m);
}

typedef struct {
    int done, status;
} one_t;

static void on_done(gw_llm_call_t *call, gw_llm_result_t *r, void *ud)
{
    (void)call;
    one_t *o = ud;
    o->done = 1;
    o->status = r->status;
}

static void on_flag(void *ud)
{
    *(int *)ud = 1;
}

static void on_srv_closed(llm_server_t *s, void *ud)
{
    (void)s;
    on_flag(ud);
}

static void on_cli_closed(gw_llm_client_t *c, void *ud)
{
    (void)c;
    on_flag(ud);
}

static void bench_http(size_t n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    llm_server_t *srv;
    char err[256];
    llm_server_config_t scfg = {.today = "2025-06-15"};
    if (llm_server_start(&loop, &scfg, &srv, err, sizeof err) != 0) {
        fprintf(stderr, "llm_rtt: server: %s\n", err);
        exit(1);
    }
    char base[96];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/v1", llm_server_port(srv));
    gw_llm_config_t c;
    gw_llm_config_init(&c);
    c.base_url = base;
    gw_llm_client_t *cli;
    if (gw_llm_client_new(&loop, NULL, &c, &cli, err, sizeof err) != 0) {
        fprintf(stderr, "llm_rtt: client: %s\n", err);
        exit(1);
    }
    cJSON *m = cJSON_CreateArray();
    gw_llm_msg_add(m, "user", "Show me total sales for abracadabra this month");
    cJSON *t = tools();
    uint64_t *ns = malloc(n * sizeof(uint64_t));
    uint64_t total = 0;
    for (size_t i = 0; i < n + n / 10; i++) {
        one_t o = {0};
        uint64_t t0 = clock_mono_ns();
        if (gw_llm_chat(cli, m, t, NULL, on_done, &o, NULL) != 0)
            exit(1);
        while (!o.done)
            uv_run(&loop, UV_RUN_ONCE);
        uint64_t t1 = clock_mono_ns();
        if (o.status) {
            fprintf(stderr, "llm_rtt: http/chat failed: %s\n", mcp_strerror(o.status));
            exit(1);
        }
        if (i >= n / 10) {
            ns[i - n / 10] = t1 - t0;
            total += t1 - t0;
        }
    }
    report("http/chat", ns, n, total);
    free(ns);
    int closed = 0;
    gw_llm_client_close(cli, on_cli_closed, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    closed = 0;
    llm_server_close(srv, on_srv_closed, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    cJSON_Delete(m);
    cJSON_Delete(t);
}

#define ROW                                                                                    \
    "{\\\"columns\\\":[\\\"product_id\\\",\\\"product\\\",\\\"orders\\\",\\\"units\\\","       \
    "\\\"revenue\\\"],\\\"rows\\\":[{\\\"product_id\\\":123,\\\"product\\\":\\\"Deluxe Magic " \
    "Kit\\\",\\\"orders\\\":3,\\\"units\\\":7,\\\"revenue\\\":419.93}],\\\"row_count\\\":1}"

int main(int argc, char **argv)
{
    size_t n = 2000;
    if (argc == 3 && strcmp(argv[1], "-n") == 0)
        n = (size_t)strtoul(argv[2], NULL, 10);
    if (n < 10) {
        fprintf(stderr, "usage: llm_rtt [-n N] (N >= 10)\n");
        return 2;
    }
    mcp_alloc_init();
    log_set_level(LOG_WARN);
    http_client_global_init();
    llm_planner_t *p;
    char err[256];
    if (llm_planner_new(NULL, &p, err, sizeof err) != 0) {
        fprintf(stderr, "llm_rtt: %s\n", err);
        return 1;
    }
    cJSON *t = tools();
    const char *q = "{\"role\":\"user\",\"content\":\"Show me total sales for abracadabra this "
                    "month\"}";
    char conv[4096];
    snprintf(conv, sizeof conv, "[%s]", q);
    bench_plan("plan/sql", p, conv, t, n);
    snprintf(conv, sizeof conv,
             "[%s,{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1_0\","
             "\"type\":\"function\",\"function\":{\"name\":\"database_read_query\","
             "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1_0\","
             "\"content\":\"" ROW "\"}]",
             q);
    bench_plan("plan/answer", p, conv, t, n);
    /* github step 3: five files read */
    char gh[16384];
    int o = snprintf(gh, sizeof gh,
                     "[{\"role\":\"user\",\"content\":\"Search GitHub for database queries and "
                     "run them\"},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"s\","
                     "\"type\":\"function\",\"function\":{\"name\":\"github_search_code\","
                     "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"s\","
                     "\"content\":\"{}\"},{\"role\":\"assistant\",\"tool_calls\":[");
    for (int i = 0; i < 5; i++)
        o += snprintf(gh + o, sizeof gh - (size_t)o,
                      "%s{\"id\":\"f%d\",\"type\":\"function\",\"function\":{\"name\":"
                      "\"github_get_file_contents\",\"arguments\":\"{}\"}}",
                      i ? "," : "", i);
    o += snprintf(gh + o, sizeof gh - (size_t)o, "]}");
    for (int i = 0; i < 5; i++)
        o +=
            snprintf(gh + o, sizeof gh - (size_t)o,
                     ",{\"role\":\"tool\",\"tool_call_id\":\"f%d\",\"content\":\"{\\\"encoding\\\":"
                     "\\\"base64\\\",\\\"content\\\":\\\"U0VMRUNUIDEgQVMgb25lOwo=\\\"}\"}",
                     i);
    snprintf(gh + o, sizeof gh - (size_t)o, "]");
    bench_plan("plan/github", p, gh, t, n);
    bench_http(n);
    cJSON_Delete(t);
    llm_planner_free(p);
    http_client_global_cleanup();
    return 0;
}
