/* kind_call_rtt: sequential tools/call round trips to the database and github mock kinds,
 * in process (mcp_client <-> mcp_loopback <-> mcp_server), so the figures are the kinds' own
 * cost plus the framework's, without sockets or pipes.
 *
 *   kind_call_rtt [-n N]
 *
 * For each case: N calls one after another (after N/10 warm-up calls), each timed from just
 * before mcp_client_request to the start of its callback. Prints p50/p90/p99/max in
 * microseconds and calls per second. */
#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "mcp_client.h"
#include "mcp_loopback.h"
#include "mcp_server.h"
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uv_loop_t loop;
    mcp_server_t *server;
    mcp_client_t *client;
    void *state;
    int done, status, is_error;
} bench_t;

static void on_init(mcp_client_t *c, int status, void *ud)
{
    (void)c;
    bench_t *b = ud;
    b->status = status;
    b->done = 1;
}

static void on_result(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    bench_t *b = ud;
    b->status = status;
    b->is_error =
        status != 0 || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp->result, "isError"));
    b->done = 1;
}

static void on_close(mcp_client_t *c, void *ud)
{
    (void)c;
    ((bench_t *)ud)->done = 1;
}

static int open_kind(bench_t *b, const mock_kind_t *kind)
{
    memset(b, 0, sizeof *b);
    uv_loop_init(&b->loop);
    mcp_server_config_t cfg = {.name = kind->server_name, .version = "bench"};
    mock_options_t opts = {.loop = &b->loop, .kind = kind->name};
    char err[256];
    if (mcp_server_create(&b->loop, &cfg, &b->server) != 0 ||
        kind->setup(b->server, &opts, &b->state, err, sizeof err) != 0) {
        fprintf(stderr, "setup %s failed\n", kind->name);
        return -1;
    }
    mcp_client_options_t copts = {.name = "bench"};
    if (mcp_client_new(&b->loop, &copts, &b->client) != 0 ||
        mcp_loopback_connect(&b->loop, b->server, b->client, NULL) != 0 ||
        mcp_client_initialize(b->client, 5000, on_init, b) != 0)
        return -1;
    while (!b->done)
        uv_run(&b->loop, UV_RUN_ONCE);
    return b->status;
}

static void close_kind(bench_t *b, const mock_kind_t *kind)
{
    b->done = 0;
    mcp_client_close(b->client, on_close, b);
    while (!b->done)
        uv_run(&b->loop, UV_RUN_ONCE);
    mcp_server_free(b->server);
    kind->teardown(b->state);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int run_case(bench_t *b, const char *tool, const char *args, int n)
{
    uint64_t *lat = calloc((size_t)n, sizeof *lat);
    int warm = n / 10;
    uint64_t t0 = 0;
    for (int i = -warm; i < n; i++) {
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "name", tool);
        cJSON_AddItemToObject(params, "arguments", cJSON_Parse(args));
        b->done = 0;
        if (i == 0)
            t0 = clock_mono_ns();
        uint64_t start = clock_mono_ns();
        if (mcp_client_request(b->client, "tools/call", params, 5000, on_result, b, NULL) != 0)
            return -1;
        while (!b->done)
            uv_run(&b->loop, UV_RUN_ONCE);
        if (b->is_error) {
            fprintf(stderr, "%s failed\n", tool);
            free(lat);
            return -1;
        }
        if (i >= 0)
            lat[i] = clock_mono_ns() - start;
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
    printf("%-18s %-44.44s p50 %7.1f us  p90 %7.1f us  p99 %7.1f us  max %8.1f us  %8.0f calls/s\n",
           tool, args, lat[n / 2] / 1e3, lat[n * 9 / 10] / 1e3, lat[n * 99 / 100] / 1e3,
           lat[n - 1] / 1e3, n / secs);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 2000;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-n") == 0)
            n = atoi(argv[++i]);
    if (n < 10)
        n = 10;
    mcp_alloc_init();
    log_set_level(LOG_WARN);
    static const struct {
        const mock_kind_t *kind;
        const char *tool, *args;
    } cases[] = {
        {&mock_kind_database, "read_query",
         "{\"query\":\"SELECT id, name FROM products WHERE id = 123\"}"},
        {&mock_kind_database, "read_query",
         "{\"query\":\"SELECT p.id, SUM(s.quantity) AS units FROM sales s JOIN products p ON p.id "
         "= s.product_id WHERE s.sale_date >= date('now','start of month') GROUP BY p.id\"}"},
        {&mock_kind_database, "read_query", "{\"query\":\"SELECT * FROM order_items\"}"},
        {&mock_kind_database, "list_tables", "{}"},
        {&mock_kind_github, "search_code", "{\"query\":\"language:sql abracadabra\"}"},
        {&mock_kind_github, "get_file_contents",
         "{\"owner\":\"mira-okafor\",\"repo\":\"sql-snippets\",\"path\":\"sales/"
         "abracadabra_this_month.sql\"}"},
        {&mock_kind_github, "list_issues",
         "{\"owner\":\"kestrel-toys\",\"repo\":\"sales-analytics\"}"},
        {&mock_kind_github, "search_issues", "{\"query\":\"label:bug is:closed\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bench_t b;
        if (open_kind(&b, cases[i].kind) != 0)
            return 1;
        int rc = run_case(&b, cases[i].tool, cases[i].args, n);
        close_kind(&b, cases[i].kind);
        if (rc != 0)
            return 1;
    }
    return 0;
}
