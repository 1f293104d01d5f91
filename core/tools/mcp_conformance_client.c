/* mcp-conformance-client: the client under test for `conformance client` (@modelcontextprotocol/
 * conformance 0.1.16, brief 2.5), built on mcp_client and the Streamable HTTP transport.
 *
 * Usage (as the suite runs it): mcp-conformance-client [ignored...] URL, with the scenario in
 * MCP_CONFORMANCE_SCENARIO. It behaves like the suite's reference Node client: initialize,
 * tools/list, then per scenario: tools_call calls add_numbers {a:5,b:3}; sse-retry calls
 * test_reconnection; elicitation-* declares the elicitation capability, answers every
 * elicitation/create by accepting with each schema default filled in, and calls
 * test_client_elicitation_defaults. Any other scenario stops after tools/list. Then it closes the
 * session (DELETE) and exits 0; any failed step exits 1 with the reason on stderr. */
#include "alloc.h"
#include "errors.h"
#include "http_client.h"
#include "log.h"
#include "mcp_client.h"
#include "mcp_client_http.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_DEADLINE_MS 25000u
#define STREAM_WAIT_MS   3000u

typedef struct {
    const char *scenario;
    const char *tool; /* the tool to call after tools/list, or NULL */
    cJSON *(*tool_args)(void);
    int failed;
    int closed;
    int ready;          /* initialized */
    int stream_settled; /* the standalone GET was answered (stream or refusal) */
    int listed;         /* tools/list sent */
    uv_timer_t wait;    /* bounds the wait for the standalone GET */
} run_t;

static void on_client_closed(mcp_client_t *c, void *ud)
{
    (void)c;
    ((run_t *)ud)->closed = 1;
}

/* Close the session; a second call (already closing) is harmless. */
static void done(mcp_client_t *c, run_t *r)
{
    if (!uv_is_closing((uv_handle_t *)&r->wait))
        uv_close((uv_handle_t *)&r->wait, NULL);
    mcp_client_close(c, on_client_closed, r);
}

static void fail(mcp_client_t *c, run_t *r, const char *what, int status)
{
    fprintf(stderr, "mcp-conformance-client: %s failed: %s (%s)\n", what, mcp_strerror(status),
            mcp_client_error_message(c));
    r->failed = 1;
    done(c, r);
}

static cJSON *add_numbers_args(void)
{
    return cJSON_Parse("{\"a\":5,\"b\":3}");
}

static cJSON *no_args(void)
{
    return cJSON_CreateObject();
}

static void on_call(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    run_t *r = ud;
    mcp_client_t *c = mcp_client_req_client(req);
    if (status) {
        if (status == MCP_EUPSTREAM && resp && resp->error_message)
            fprintf(stderr, "mcp-conformance-client: tools/call error %d: %s\n", resp->error_code,
                    resp->error_message);
        fail(c, r, "tools/call", status);
        return;
    }
    char *text = cJSON_PrintUnformatted(resp->result);
    fprintf(stderr, "mcp-conformance-client: tools/call %s -> %s\n", r->tool, text ? text : "?");
    cJSON_free(text);
    done(c, r);
}

static void on_list(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    run_t *r = ud;
    mcp_client_t *c = mcp_client_req_client(req);
    if (status) {
        fail(c, r, "tools/list", status);
        return;
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(resp->result, "tools");
    fprintf(stderr, "mcp-conformance-client: %d tool(s)\n", cJSON_GetArraySize(tools));
    if (!r->tool) {
        done(c, r);
        return;
    }
    cJSON *params = cJSON_CreateObject();
    cJSON *args = r->tool_args();
    if (!params || !args || !cJSON_AddStringToObject(params, "name", r->tool) ||
        !cJSON_AddItemToObject(params, "arguments", args)) {
        cJSON_Delete(params);
        fail(c, r, "tools/call", MCP_ENOMEM);
        return;
    }
    int rc = mcp_client_request(c, "tools/call", params, STEP_DEADLINE_MS, on_call, r, NULL);
    if (rc)
        fail(c, r, "tools/call", rc);
}

static void list_tools(mcp_client_t *c, run_t *r)
{
    if (r->listed || r->failed)
        return;
    r->listed = 1;
    uv_timer_stop(&r->wait);
    int rc = mcp_client_request(c, "tools/list", NULL, STEP_DEADLINE_MS, on_list, r, NULL);
    if (rc)
        fail(c, r, "tools/list", rc);
}

static mcp_client_t *the_client;

static void on_wait_timeout(uv_timer_t *timer)
{
    list_tools(the_client, timer->data);
}

/* Like the reference client, which opens the standalone GET before its first call: servers
 * send requests that belong to no call (the SDK's server.request) on that stream. */
static void on_standalone(mcp_client_t *c, int status, void *ud)
{
    run_t *r = ud;
    fprintf(stderr, "mcp-conformance-client: standalone stream: %s\n",
            status ? mcp_strerror(status) : "open");
    r->stream_settled = 1;
    if (r->ready)
        list_tools(c, r);
}

static void on_init(mcp_client_t *c, int status, void *ud)
{
    run_t *r = ud;
    if (status) {
        fail(c, r, "initialize", status);
        return;
    }
    fprintf(stderr, "mcp-conformance-client: initialized, protocol %s\n",
            mcp_client_protocol_version(c));
    r->ready = 1;
    if (r->stream_settled)
        list_tools(c, r);
    else
        uv_timer_start(&r->wait, on_wait_timeout, STREAM_WAIT_MS, 0);
}

/* Accept with every default of the requested schema filled in (SEP-1034). */
static void on_elicitation(mcp_client_t *c, mcp_client_incoming_t *in, const char *method,
                           const cJSON *params, void *ud)
{
    (void)c;
    (void)method;
    (void)ud;
    cJSON *result = cJSON_CreateObject();
    cJSON *content = cJSON_CreateObject();
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(params, "requestedSchema"), "properties");
    const cJSON *prop;
    cJSON_ArrayForEach(prop, props)
    {
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(prop, "default");
        if (def && content)
            cJSON_AddItemToObject(content, prop->string, cJSON_Duplicate(def, 1));
    }
    if (!result || !content || !cJSON_AddStringToObject(result, "action", "accept") ||
        !cJSON_AddItemToObject(result, "content", content)) {
        cJSON_Delete(result);
        cJSON_Delete(content);
        mcp_client_reply_error(in, -32603, "out of memory", NULL);
        return;
    }
    int rc = mcp_client_reply(in, result);
    if (rc)
        fprintf(stderr, "mcp-conformance-client: elicitation reply: %s\n", mcp_strerror(rc));
}

static void on_closed(mcp_client_t *c, int reason, void *ud)
{
    run_t *r = ud;
    fprintf(stderr, "mcp-conformance-client: transport closed: %s\n", mcp_strerror(reason));
    r->failed = 1;
    done(c, r);
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    log_init_from_env();
    if (argc < 2) {
        fprintf(stderr, "usage: mcp-conformance-client URL  (scenario in "
                        "MCP_CONFORMANCE_SCENARIO)\n");
        return 2;
    }
    const char *url = argv[argc - 1];
    run_t r = {.scenario = getenv("MCP_CONFORMANCE_SCENARIO")};
    if (!r.scenario)
        r.scenario = "initialize";
    int elicitation = strncmp(r.scenario, "elicitation", 11) == 0;
    if (strcmp(r.scenario, "tools_call") == 0) {
        r.tool = "add_numbers";
        r.tool_args = add_numbers_args;
    } else if (strcmp(r.scenario, "sse-retry") == 0) {
        r.tool = "test_reconnection";
        r.tool_args = no_args;
    } else if (elicitation) {
        r.tool = "test_client_elicitation_defaults";
        r.tool_args = no_args;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_client_options_t co = {
        .name = "conformance",
        .client_name = "mcp-conformance-client",
        .client_version = "0.1.0",
        .on_elicitation = elicitation ? on_elicitation : NULL,
        .on_closed = on_closed,
        .userdata = &r,
    };
    mcp_client_t *c;
    int rc = mcp_client_new(&loop, &co, &c);
    if (rc) {
        fprintf(stderr, "mcp-conformance-client: %s\n", mcp_strerror(rc));
        return 1;
    }
    the_client = c;
    uv_timer_init(&loop, &r.wait);
    r.wait.data = &r;
    mcp_client_http_options_t ho = {
        .url = url,
        .mode = MCP_HTTP_STREAMABLE,
        .on_standalone = on_standalone,
        .userdata = &r,
    };
    rc = mcp_client_http_start(c, &ho);
    if (rc == 0)
        rc = mcp_client_initialize(c, STEP_DEADLINE_MS, on_init, &r);
    if (rc) {
        fprintf(stderr, "mcp-conformance-client: cannot start: %s\n", mcp_strerror(rc));
        r.failed = 1;
        done(c, &r);
    }
    /* Runs until the client closed: its close callback comes after the transport's DELETE. */
    uv_run(&loop, UV_RUN_DEFAULT);
    int lrc = uv_loop_close(&loop);
    http_client_global_cleanup();
    if (lrc || !r.closed) {
        fprintf(stderr, "mcp-conformance-client: not closed cleanly\n");
        return 1;
    }
    return r.failed ? 1 : 0;
}
