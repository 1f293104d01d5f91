/* mcp-test-http-server: a small MCP server over Streamable HTTP (/mcp) and legacy HTTP+SSE
 * (/sse + /messages) built from the framework, for the interop tests and by hand.
 *
 *   mcp-test-http-server [--host 127.0.0.1] [--port 0] [--always-sse]
 *
 * Prints one readiness line on stdout once listening:
 *   READY http://127.0.0.1:PORT/mcp http://127.0.0.1:PORT/sse
 * Tools: echo {text}, add {a, b}, slow_echo {text, ms}, progress (3 progress notifications and
 * logs, then a text), test_reconnection (SSE polling: the POST stream ends at once, the answer
 * comes ~100 ms later to a GET with Last-Event-ID). Resource test://hello (text/plain).
 * SIGINT/SIGTERM: close the transport, free everything, exit 0. */
#include "alloc.h"
#include "errors.h"
#include "log.h"
#include "mcp_http_server.h"
#include "mcp_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static mcp_http_server_t *transport;

static void tool_echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(args, "text");
    if (!cJSON_IsString(text)) {
        mcp_call_tool_error(call, "echo needs a string argument \"text\"");
        return;
    }
    mcp_call_reply_text(call, text->valuestring);
}

static void tool_add(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(args, "a");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(args, "b");
    if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b)) {
        mcp_call_tool_error(call, "add needs numbers \"a\" and \"b\"");
        return;
    }
    char text[64];
    snprintf(text, sizeof(text), "%g", a->valuedouble + b->valuedouble);
    mcp_call_reply_text(call, text);
}

/* Timer-driven work that holds a reference to its call (answering a cancelled call is
 * refused harmlessly). */
typedef struct {
    uv_timer_t timer;
    mcp_call_t *call;
    int kind, step;
} work_t;

enum { W_SLOW = 1, W_PROGRESS, W_RECONNECT };

static void work_closed(uv_handle_t *h)
{
    work_t *w = h->data;
    mcp_call_unref(w->call);
    mcp_free(w);
}

static void work_fire(uv_timer_t *t)
{
    work_t *w = t->data;
    if (w->kind == W_PROGRESS && w->step < 3) {
        w->step++;
        mcp_call_progress(w->call, w->step, 3, "working");
        mcp_call_log(w->call, MCP_LOG_INFO, "progress", cJSON_CreateString("step done"));
        uv_timer_start(&w->timer, work_fire, 20, 0);
        return;
    }
    if (w->kind == W_SLOW) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(mcp_call_params(w->call), "arguments"), "text");
        mcp_call_reply_text(w->call, cJSON_IsString(text) ? text->valuestring : "");
    } else if (w->kind == W_PROGRESS) {
        mcp_call_reply_text(w->call, "progress complete");
    } else {
        mcp_call_reply_text(w->call, "Reconnection test completed");
    }
    uv_close((uv_handle_t *)&w->timer, work_closed);
}

static void start_work(mcp_call_t *call, int kind, uint64_t ms)
{
    work_t *w = mcp_calloc(1, sizeof(*w));
    if (!w) {
        mcp_call_error(call, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    w->call = call;
    w->kind = kind;
    mcp_call_ref(call);
    uv_timer_init(mcp_call_loop(call), &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, work_fire, ms, 0);
}

static void tool_slow_echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(args, "ms");
    start_work(call, W_SLOW, cJSON_IsNumber(ms) ? (uint64_t)ms->valuedouble : 50);
}

static void tool_progress(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    start_work(call, W_PROGRESS, 10);
}

static void tool_reconnection(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    int rc = mcp_http_server_end_call_stream(transport, call);
    if (rc)
        LOG_W("test-http", "cannot end the call's stream", "err=%s", mcp_strerror(rc));
    start_work(call, W_RECONNECT, 100);
}

static void read_hello(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    (void)vars;
    (void)ud;
    mcp_call_reply_resource_text(call, uri, "text/plain", "hello from mcp-test-http-server");
}

static uv_signal_t sigint, sigterm;
static int stopping;

static void on_closed(mcp_http_server_t *t, void *ud)
{
    (void)t;
    (void)ud;
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    LOG_I("test-http", "signal: stopping", "signal=%d", signum);
    if (!stopping) {
        stopping = 1;
        mcp_http_server_close(transport, on_closed, NULL);
    }
}

static int add_tools(mcp_server_t *srv)
{
    static const mcp_tool_def_t echo = {
        .name = "echo",
        .description = "Echo the text back",
        .input_schema = "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},"
                        "\"required\":[\"text\"]}"};
    static const mcp_tool_def_t add = {
        .name = "add",
        .description = "Add two numbers",
        .input_schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"},"
                        "\"b\":{\"type\":\"number\"}},\"required\":[\"a\",\"b\"]}"};
    static const mcp_tool_def_t slow = {
        .name = "slow_echo",
        .description = "Echo the text after ms milliseconds",
        .input_schema = "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"},"
                        "\"ms\":{\"type\":\"number\"}}}"};
    static const mcp_tool_def_t prog = {.name = "progress",
                                        .description = "Report progress three times, then answer"};
    static const mcp_tool_def_t rec = {
        .name = "test_reconnection",
        .description = "End the request's SSE stream at once and answer on the resumed stream"};
    static const mcp_resource_def_t hello = {
        .uri = "test://hello", .name = "hello", .mime_type = "text/plain"};
    int rc = mcp_server_add_tool(srv, &echo, tool_echo, NULL);
    if (!rc)
        rc = mcp_server_add_tool(srv, &add, tool_add, NULL);
    if (!rc)
        rc = mcp_server_add_tool(srv, &slow, tool_slow_echo, NULL);
    if (!rc)
        rc = mcp_server_add_tool(srv, &prog, tool_progress, NULL);
    if (!rc)
        rc = mcp_server_add_tool(srv, &rec, tool_reconnection, NULL);
    if (!rc)
        rc = mcp_server_add_resource(srv, &hello, read_hello, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0;
    mcp_http_config_t cfg;
    mcp_http_config_init(&cfg);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--always-sse") == 0) {
            cfg.always_sse = 1;
        } else {
            fprintf(stderr, "usage: %s [--host ADDR] [--port N] [--always-sse]\n", argv[0]);
            return 2;
        }
    }
    mcp_alloc_init();
    log_init_from_env();
    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_server_t *srv = NULL;
    mcp_server_config_t scfg = {.name = "mcp-test-http-server", .version = "1.0.0"};
    int rc = mcp_server_create(&loop, &scfg, &srv);
    if (!rc)
        rc = add_tools(srv);
    if (!rc)
        rc = mcp_http_server_new(&loop, srv, &cfg, &transport);
    if (rc) {
        fprintf(stderr, "mcp-test-http-server: setup failed: %s\n", mcp_strerror(rc));
        return 1;
    }
    rc = mcp_http_server_listen(transport, host, port, NULL);
    if (rc) {
        fprintf(stderr, "mcp-test-http-server: cannot listen on %s:%d: %s\n", host, port,
                mcp_strerror(rc));
        stopping = 1;
        uv_signal_init(&loop, &sigint);
        uv_signal_init(&loop, &sigterm);
        mcp_http_server_close(transport, on_closed, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        mcp_server_free(srv);
        uv_loop_close(&loop);
        return 1;
    }
    uv_signal_init(&loop, &sigint);
    uv_signal_init(&loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    int p = mcp_http_server_port(transport);
    const char *h = strchr(host, ':') ? "[" : "";
    const char *e = strchr(host, ':') ? "]" : "";
    printf("READY http://%s%s%s:%d/mcp http://%s%s%s:%d/sse\n", h, host, e, p, h, host, e, p);
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    mcp_server_free(srv);
    uv_run(&loop, UV_RUN_DEFAULT); /* tool timers of cancelled calls */
    rc = uv_loop_close(&loop);
    if (rc)
        fprintf(stderr, "mcp-test-http-server: handles left open at exit\n");
    return rc ? 1 : 0;
}
