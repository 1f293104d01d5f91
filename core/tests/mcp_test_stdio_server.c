/* mcp-test-stdio-server: a small MCP server on stdio built from the framework, for the
 * integration tests (and by hand: `echo '{...}' | mcp-test-stdio-server`).
 *
 * Tools: echo {text} (sync), slow_echo {text, ms} (answers after a timer), add {a, b}.
 * Exits 0 when stdin ends and everything in flight was answered. */
#include "alloc.h"
#include "errors.h"
#include "log.h"
#include "mcp_server.h"
#include "mcp_stdio_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

static int exit_status;

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

typedef struct {
    uv_timer_t timer;
    mcp_call_t *call;
} slow_t;

static void slow_closed(uv_handle_t *h)
{
    mcp_free(h->data);
}

static void slow_fire(uv_timer_t *t)
{
    slow_t *s = t->data;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(mcp_call_params(s->call), "arguments"), "text");
    mcp_call_reply_text(s->call, cJSON_IsString(text) ? text->valuestring : "");
    uv_close((uv_handle_t *)&s->timer, slow_closed);
}

static void slow_cancel(mcp_call_t *call, void *ud)
{
    (void)call;
    slow_t *s = ud;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, slow_closed);
}

static void tool_slow_echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(args, "ms");
    slow_t *s = mcp_calloc(1, sizeof(*s));
    if (!s) {
        mcp_call_error(call, JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    s->call = call;
    uv_timer_init(mcp_call_loop(call), &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, slow_fire, cJSON_IsNumber(ms) ? (uint64_t)ms->valuedouble : 50, 0);
    mcp_call_on_cancel(call, slow_cancel, s);
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
    snprintf(text, sizeof(text), "%.17g", a->valuedouble + b->valuedouble);
    mcp_call_reply_text(call, text);
}

static void on_closed(mcp_stdio_server_t *io, int status, void *ud)
{
    (void)io;
    (void)ud;
    if (status)
        LOG_W("test-server", "stdio transport closed with an error", "status=%d", status);
    exit_status = status ? 1 : 0;
}

int main(void)
{
    mcp_alloc_init();
    log_init_from_env();
    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_server_config_t cfg = {.name = "mcp-test-stdio-server", .version = "0.1.0"};
    mcp_server_t *server;
    if (mcp_server_create(&loop, &cfg, &server))
        return 2;
    mcp_tool_def_t echo = {"echo",
                           "Echo",
                           "Returns its text argument",
                           "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},"
                           "\"required\":[\"text\"]}",
                           NULL,
                           "{\"readOnlyHint\":true}"};
    mcp_tool_def_t slow = {"slow_echo",
                           NULL,
                           "Returns its text after ms milliseconds",
                           "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"},"
                           "\"ms\":{\"type\":\"integer\"}}}",
                           NULL,
                           NULL};
    mcp_tool_def_t add = {"add",
                          NULL,
                          "Adds two numbers",
                          "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"},"
                          "\"b\":{\"type\":\"number\"}},\"required\":[\"a\",\"b\"]}",
                          NULL,
                          NULL};
    if (mcp_server_add_tool(server, &echo, tool_echo, NULL) ||
        mcp_server_add_tool(server, &slow, tool_slow_echo, NULL) ||
        mcp_server_add_tool(server, &add, tool_add, NULL))
        return 2;
    mcp_stdio_server_t *io;
    int rc = mcp_stdio_server_start(&loop, server, NULL, on_closed, NULL, &io);
    if (rc) {
        LOG_E("test-server", "cannot start the stdio transport", "error=%s", mcp_strerror(rc));
        mcp_server_free(server);
        uv_loop_close(&loop);
        return 2;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    mcp_server_free(server);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        return 3;
    return exit_status;
}
