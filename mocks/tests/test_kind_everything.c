/* The everything kind through an in-process client (mcp_loopback): every tool, resource,
 * template, prompt and completion of the conformance surface (MCP-BRIEF 2.4), with the exact
 * texts and schemas the suite inspects, plus cancellation and teardown with calls in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "mcp_loopback.h"
#include "mock.h"

#include <string.h>

#define PNG                                                                                        \
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJg" \
    "gg=="
#define WAV "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

typedef struct {
    uv_loop_t loop;
    mcp_server_t *server;
    void *state;
    mcp_client_t *client;
    int init_done, init_status, close_done;
    /* last response */
    int done, status;
    cJSON *result;
    int error_code;
    char error_message[256];
    /* notifications (method + params), progress values */
    cJSON *notes;
    double progress[8];
    int nprogress;
    uint64_t progress_ms[8];
    /* server->client requests */
    int sampling_seen, elicitation_seen;
    cJSON *last_request_params;
    cJSON *answer; /* what the handlers reply (NULL: an error) */
} fx_t;

static void on_note(mcp_client_t *c, const char *method, const cJSON *params, void *ud)
{
    (void)c;
    fx_t *f = ud;
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "method", method);
    cJSON_AddItemToObject(n, "params", params ? cJSON_Duplicate(params, 1) : cJSON_CreateNull());
    cJSON_AddNumberToObject(n, "ms", (double)clock_mono_ms());
    cJSON_AddItemToArray(f->notes, n);
}

static void answer_request(fx_t *f, mcp_client_incoming_t *in, const cJSON *params)
{
    cJSON_Delete(f->last_request_params);
    f->last_request_params = params ? cJSON_Duplicate(params, 1) : NULL;
    if (f->answer)
        assert_int_equal(mcp_client_reply(in, cJSON_Duplicate(f->answer, 1)), 0);
    else
        assert_int_equal(mcp_client_reply_error(in, -32601, "declined by the test", NULL), 0);
}

static void on_sampling(mcp_client_t *c, mcp_client_incoming_t *in, const char *method,
                        const cJSON *params, void *ud)
{
    (void)c;
    fx_t *f = ud;
    assert_string_equal(method, "sampling/createMessage");
    f->sampling_seen++;
    answer_request(f, in, params);
}

static void on_elicitation(mcp_client_t *c, mcp_client_incoming_t *in, const char *method,
                           const cJSON *params, void *ud)
{
    (void)c;
    fx_t *f = ud;
    assert_string_equal(method, "elicitation/create");
    f->elicitation_seen++;
    answer_request(f, in, params);
}

static void on_init(mcp_client_t *c, int status, void *ud)
{
    (void)c;
    fx_t *f = ud;
    f->init_done = 1;
    f->init_status = status;
}

static void open_fx(fx_t *f, int with_handlers)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    mcp_server_config_t cfg = {.name = mock_kind_everything.server_name, .version = "0.1.0"};
    assert_int_equal(mcp_server_create(&f->loop, &cfg, &f->server), 0);
    mock_options_t opts = {.loop = &f->loop, .kind = "everything", .seed = 1};
    char err[256] = "";
    assert_int_equal(mock_kind_everything.setup(f->server, &opts, &f->state, err, sizeof(err)), 0);
    f->notes = cJSON_CreateArray();
    mcp_client_options_t co = {.name = "test",
                               .on_notification = on_note,
                               .on_sampling = with_handlers ? on_sampling : NULL,
                               .on_elicitation = with_handlers ? on_elicitation : NULL,
                               .userdata = f};
    assert_int_equal(mcp_client_new(&f->loop, &co, &f->client), 0);
    assert_int_equal(mcp_loopback_connect(&f->loop, f->server, f->client, NULL), 0);
    assert_int_equal(mcp_client_initialize(f->client, 2000, on_init, f), 0);
    while (!f->init_done)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->init_status, 0);
}

static void on_closed(mcp_client_t *c, void *ud)
{
    (void)c;
    ((fx_t *)ud)->close_done = 1;
}

static void close_fx(fx_t *f)
{
    assert_int_equal(mcp_client_close(f->client, on_closed, f), 0);
    while (!f->close_done)
        uv_run(&f->loop, UV_RUN_ONCE);
    mcp_server_free(f->server);
    mock_kind_everything.teardown(f->state);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    cJSON_Delete(f->result);
    cJSON_Delete(f->notes);
    cJSON_Delete(f->last_request_params);
    cJSON_Delete(f->answer);
}

static void on_result(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    fx_t *f = ud;
    f->done = 1;
    f->status = status;
    cJSON_Delete(f->result);
    f->result = NULL;
    f->error_code = 0;
    f->error_message[0] = '\0';
    if (status == 0) {
        f->result = cJSON_Duplicate(resp->result, 1);
    } else if (status == MCP_EUPSTREAM) {
        f->error_code = resp->error_code;
        snprintf(f->error_message, sizeof(f->error_message), "%s",
                 resp->error_message ? resp->error_message : "");
    }
}

static void on_progress(mcp_client_req_t *req, double progress, double total, const char *message,
                        const cJSON *params, void *ud)
{
    (void)req;
    (void)params;
    fx_t *f = ud;
    assert_true(total == 100);
    char expect[64];
    snprintf(expect, sizeof(expect), "Completed step %d of 100", (int)progress);
    assert_string_equal(message, expect);
    if (f->nprogress < 8) {
        f->progress_ms[f->nprogress] = clock_mono_ms();
        f->progress[f->nprogress++] = progress;
    }
}

/* Send and wait; returns the status (the result or error is in f). */
static int request(fx_t *f, const char *method, const char *params_json, int with_progress,
                   mcp_client_req_t **out)
{
    cJSON *params = params_json ? cJSON_Parse(params_json) : NULL;
    if (params_json)
        assert_non_null(params);
    f->done = 0;
    mcp_client_call_t call = {.method = method,
                              .params = params,
                              .deadline_ms = 5000,
                              .cb = on_result,
                              .on_progress = with_progress ? on_progress : NULL,
                              .ud = f};
    mcp_client_req_t *req = NULL;
    assert_int_equal(mcp_client_request_ex(f->client, &call, &req), 0);
    if (out) {
        *out = req;
        return 0;
    }
    while (!f->done)
        uv_run(&f->loop, UV_RUN_ONCE);
    return f->status;
}

static const cJSON *call_tool(fx_t *f, const char *tool, const char *args_json)
{
    char params[2048];
    if (args_json)
        snprintf(params, sizeof(params), "{\"name\":\"%s\",\"arguments\":%s}", tool, args_json);
    else
        snprintf(params, sizeof(params), "{\"name\":\"%s\"}", tool);
    assert_int_equal(request(f, "tools/call", params, 0, NULL), 0);
    return f->result;
}

static void assert_json(const cJSON *got, const char *expected_json)
{
    cJSON *want = cJSON_Parse(expected_json);
    assert_non_null(want);
    if (!cJSON_Compare(got, want, 1)) {
        char *g = cJSON_PrintUnformatted(got);
        fprintf(stderr, "got:      %s\nexpected: %s\n", g ? g : "(null)", expected_json);
        cJSON_free(g);
        fail();
    }
    cJSON_Delete(want);
}

static const char *text0(const cJSON *result)
{
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(result, "content"), 0);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
    return cJSON_IsString(t) ? t->valuestring : "";
}

/* ---- tools ---- */

static void test_tools_list(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    assert_int_equal(request(&f, "tools/list", NULL, 0, NULL), 0);
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(f.result, "tools");
    static const char *const names[] = {"test_simple_text",
                                        "test_image_content",
                                        "test_audio_content",
                                        "test_embedded_resource",
                                        "test_multiple_content_types",
                                        "test_tool_with_logging",
                                        "test_tool_with_progress",
                                        "test_error_handling",
                                        "test_reconnection",
                                        "test_sampling",
                                        "test_elicitation",
                                        "test_elicitation_sep1034_defaults",
                                        "test_elicitation_sep1330_enums",
                                        "json_schema_2020_12_tool"};
    assert_int_equal(cJSON_GetArraySize(tools), 14);
    for (int i = 0; i < 14; i++) {
        const cJSON *t = cJSON_GetArrayItem(tools, i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring, names[i]);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(t, "description");
        assert_true(cJSON_IsString(d) && d->valuestring[0]);
        assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(t, "inputSchema")));
    }
    assert_json(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tools, 13), "inputSchema"),
                "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
                "\"$defs\":{\"address\":{\"type\":\"object\",\"properties\":{\"street\":{\"type\":"
                "\"string\"},\"city\":{\"type\":\"string\"}}}},\"properties\":{\"name\":{\"type\":"
                "\"string\"},\"address\":{\"$ref\":\"#/$defs/address\"}},"
                "\"additionalProperties\":false}");
    assert_json(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tools, 9), "inputSchema"),
                "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":\"string\","
                "\"description\":\"The prompt to send to the LLM\"}},\"required\":[\"prompt\"]}");
    close_fx(&f);
}

static void test_content_tools(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    assert_json(call_tool(&f, "test_simple_text", NULL),
                "{\"content\":[{\"type\":\"text\",\"text\":\"This is a simple text response for "
                "testing.\"}]}");
    assert_json(call_tool(&f, "test_image_content", "{}"),
                "{\"content\":[{\"type\":\"image\",\"data\":\"" PNG
                "\",\"mimeType\":\"image/png\"}]}");
    assert_json(call_tool(&f, "test_audio_content", "{}"),
                "{\"content\":[{\"type\":\"audio\",\"data\":\"" WAV
                "\",\"mimeType\":\"audio/wav\"}]}");
    assert_json(call_tool(&f, "test_embedded_resource", "{}"),
                "{\"content\":[{\"type\":\"resource\",\"resource\":{\"uri\":\"test://embedded-"
                "resource\",\"mimeType\":\"text/plain\",\"text\":\"This is an embedded resource "
                "content.\"}}]}");
    assert_json(call_tool(&f, "test_multiple_content_types", "{}"),
                "{\"content\":[{\"type\":\"text\",\"text\":\"Multiple content types test:\"},"
                "{\"type\":\"image\",\"data\":\"" PNG "\",\"mimeType\":\"image/png\"},"
                "{\"type\":\"resource\",\"resource\":{\"uri\":\"test://mixed-content-resource\","
                "\"mimeType\":\"application/json\",\"text\":\"{\\\"test\\\":\\\"data\\\","
                "\\\"value\\\":123}\"}}]}");
    assert_json(call_tool(&f, "test_error_handling", "{}"),
                "{\"content\":[{\"type\":\"text\",\"text\":\"This tool intentionally returns an "
                "error for testing\"}],\"isError\":true}");
    assert_string_equal(text0(call_tool(&f, "json_schema_2020_12_tool",
                                        "{\"name\":\"n\",\"address\":{\"city\":\"c\"}}")),
                        "JSON Schema 2020-12 tool called with: "
                        "{\"name\":\"n\",\"address\":{\"city\":\"c\"}}");
    /* Unknown tools are protocol errors. */
    assert_int_equal(request(&f, "tools/call", "{\"name\":\"nope\"}", 0, NULL), MCP_EUPSTREAM);
    assert_int_equal(f.error_code, -32602);
    close_fx(&f);
}

static int count_notes(const fx_t *f, const char *method)
{
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, f->notes)
    {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(it, "method")->valuestring, method) == 0)
            n++;
    }
    return n;
}

static void test_logging_tool(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    assert_int_equal(request(&f, "logging/setLevel", "{\"level\":\"debug\"}", 0, NULL), 0);
    uint64_t t0 = clock_mono_ms();
    assert_string_equal(text0(call_tool(&f, "test_tool_with_logging", "{}")),
                        "Tool with logging executed successfully");
    assert_true(clock_mono_ms() - t0 >= 80);
    assert_int_equal(count_notes(&f, "notifications/message"), 3);
    static const char *const texts[] = {"Tool execution started", "Tool processing data",
                                        "Tool execution completed"};
    double first = 0, last = 0;
    for (int i = 0; i < 3; i++) {
        const cJSON *n = cJSON_GetArrayItem(f.notes, i);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(n, "params");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "level")->valuestring, "info");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "data")->valuestring, texts[i]);
        double ms = cJSON_GetObjectItemCaseSensitive(n, "ms")->valuedouble;
        if (i == 0)
            first = ms;
        last = ms;
    }
    /* ~50 ms apart, like the reference tool */
    assert_true(last - first >= 80);
    /* Below the session's level nothing is sent. */
    assert_int_equal(request(&f, "logging/setLevel", "{\"level\":\"error\"}", 0, NULL), 0);
    (void)call_tool(&f, "test_tool_with_logging", "{}");
    assert_int_equal(count_notes(&f, "notifications/message"), 3);
    close_fx(&f);
}

static void test_progress_tool(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    mcp_client_req_t *req;
    assert_int_equal(request(&f, "tools/call", "{\"name\":\"test_tool_with_progress\"}", 1, &req),
                     0);
    int64_t id = mcp_client_req_id(req);
    while (!f.done)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_int_equal(f.status, 0);
    assert_int_equal(f.nprogress, 3);
    assert_true(f.progress[0] == 0 && f.progress[1] == 50 && f.progress[2] == 100);
    assert_true(f.progress_ms[2] - f.progress_ms[0] >= 80);
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)id); /* the token (= request id) as text */
    assert_string_equal(text0(f.result), want);
    /* Without a token: no progress, the answer says 0. */
    f.nprogress = 0;
    assert_string_equal(text0(call_tool(&f, "test_tool_with_progress", "{}")), "0");
    assert_int_equal(f.nprogress, 0);
    assert_int_equal(count_notes(&f, "notifications/progress"), 0);
    close_fx(&f);
}

static void test_sampling_tool(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    f.answer = cJSON_Parse("{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":"
                           "\"hello from the model\"},\"model\":\"m\",\"stopReason\":\"endTurn\"}");
    assert_string_equal(
        text0(call_tool(&f, "test_sampling", "{\"prompt\":\"Test prompt for sampling\"}")),
        "LLM response: hello from the model");
    assert_int_equal(f.sampling_seen, 1);
    assert_json(f.last_request_params,
                "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"Test "
                "prompt for sampling\"}}],\"maxTokens\":100}");
    /* The client refuses: the tool still answers, with the reason. */
    cJSON_Delete(f.answer);
    f.answer = NULL;
    assert_string_equal(text0(call_tool(&f, "test_sampling", "{\"prompt\":\"x\"}")),
                        "Sampling not supported or error: declined by the test");
    /* Missing prompt: a tool error. */
    const cJSON *r = call_tool(&f, "test_sampling", "{}");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "isError")));
    close_fx(&f);
}

static void test_no_client_capabilities(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 0);
    const char *t = text0(call_tool(&f, "test_sampling", "{\"prompt\":\"x\"}"));
    assert_non_null(strstr(t, "Sampling not supported or error: "));
    t = text0(call_tool(&f, "test_elicitation", "{\"message\":\"m\"}"));
    assert_non_null(strstr(t, "Elicitation not supported or error: "));
    close_fx(&f);
}

static void test_elicitation_tools(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    f.answer = cJSON_Parse("{\"action\":\"accept\",\"content\":{\"response\":\"yes\"}}");
    assert_string_equal(text0(call_tool(&f, "test_elicitation",
                                        "{\"message\":\"Please provide your information\"}")),
                        "User response: action=accept, content={\"response\":\"yes\"}");
    assert_json(f.last_request_params,
                "{\"mode\":\"form\",\"message\":\"Please provide your information\","
                "\"requestedSchema\":{\"type\":\"object\",\"properties\":{\"response\":{\"type\":"
                "\"string\",\"description\":\"User's response\"}},\"required\":[\"response\"]}}");

    cJSON_Delete(f.answer);
    f.answer = cJSON_Parse("{\"action\":\"decline\"}");
    assert_string_equal(text0(call_tool(&f, "test_elicitation_sep1034_defaults", "{}")),
                        "Elicitation completed: action=decline, content={}");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(f.last_request_params, "requestedSchema"), "properties");
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "name"),
                "{\"type\":\"string\",\"description\":\"User name\",\"default\":\"John Doe\"}");
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "age"),
                "{\"type\":\"integer\",\"description\":\"User age\",\"default\":30}");
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "score"),
                "{\"type\":\"number\",\"description\":\"User score\",\"default\":95.5}");
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "status"),
                "{\"type\":\"string\",\"description\":\"User status\",\"enum\":[\"active\","
                "\"inactive\",\"pending\"],\"default\":\"active\"}");
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "verified"),
                "{\"type\":\"boolean\",\"description\":\"Verification status\",\"default\":true}");

    (void)call_tool(&f, "test_elicitation_sep1330_enums", "{}");
    props = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(f.last_request_params, "requestedSchema"), "properties");
    assert_int_equal(cJSON_GetArraySize(props), 5);
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "untitledSingle"),
                "{\"type\":\"string\",\"description\":\"Select one option\",\"enum\":[\"option1\","
                "\"option2\",\"option3\"]}");
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "titledSingle"),
                "{\"type\":\"string\",\"description\":\"Select one option with titles\",\"oneOf\":"
                "[{\"const\":\"value1\",\"title\":\"First Option\"},{\"const\":\"value2\","
                "\"title\":\"Second Option\"},{\"const\":\"value3\",\"title\":\"Third Option\"}]}");
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "legacyEnum"),
                "{\"type\":\"string\",\"description\":\"Select one option (legacy)\",\"enum\":"
                "[\"opt1\",\"opt2\",\"opt3\"],\"enumNames\":[\"Option One\",\"Option Two\","
                "\"Option Three\"]}");
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "untitledMulti"),
                "{\"type\":\"array\",\"description\":\"Select multiple options\",\"minItems\":1,"
                "\"maxItems\":3,\"items\":{\"type\":\"string\",\"enum\":[\"option1\",\"option2\","
                "\"option3\"]}}");
    assert_json(cJSON_GetObjectItemCaseSensitive(props, "titledMulti"),
                "{\"type\":\"array\",\"description\":\"Select multiple options with titles\","
                "\"minItems\":1,\"maxItems\":3,\"items\":{\"anyOf\":[{\"const\":\"value1\","
                "\"title\":\"First Choice\"},{\"const\":\"value2\",\"title\":\"Second Choice\"},"
                "{\"const\":\"value3\",\"title\":\"Third Choice\"}]}}");
    assert_int_equal(f.elicitation_seen, 3);
    close_fx(&f);
}

static void test_reconnection_tool(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    uint64_t t0 = clock_mono_ms();
    assert_string_equal(text0(call_tool(&f, "test_reconnection", "{}")),
                        "Reconnection test completed successfully. If you received this, the "
                        "client properly reconnected after stream closure.");
    assert_true(clock_mono_ms() - t0 >= 80);
    close_fx(&f);
}

/* ---- resources ---- */

static void test_resources(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    assert_int_equal(request(&f, "resources/list", NULL, 0, NULL), 0);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(f.result, "resources");
    assert_int_equal(cJSON_GetArraySize(list), 3);
    static const char *const uris[] = {"test://static-text", "test://static-binary",
                                       "test://watched-resource"};
    for (int i = 0; i < 3; i++) {
        const cJSON *r = cJSON_GetArrayItem(list, i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(r, "uri")->valuestring, uris[i]);
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "name")));
    }
    assert_int_equal(request(&f, "resources/read", "{\"uri\":\"test://static-text\"}", 0, NULL), 0);
    assert_json(f.result, "{\"contents\":[{\"uri\":\"test://static-text\",\"mimeType\":"
                          "\"text/plain\",\"text\":\"This is the content of the static text "
                          "resource.\"}]}");
    assert_int_equal(request(&f, "resources/read", "{\"uri\":\"test://static-binary\"}", 0, NULL),
                     0);
    assert_json(f.result, "{\"contents\":[{\"uri\":\"test://static-binary\",\"mimeType\":"
                          "\"image/png\",\"blob\":\"" PNG "\"}]}");
    assert_int_equal(
        request(&f, "resources/read", "{\"uri\":\"test://watched-resource\"}", 0, NULL), 0);
    assert_json(f.result, "{\"contents\":[{\"uri\":\"test://watched-resource\",\"mimeType\":"
                          "\"text/plain\",\"text\":\"Watched resource content\"}]}");
    assert_int_equal(
        request(&f, "resources/read", "{\"uri\":\"test://template/123/data\"}", 0, NULL), 0);
    assert_json(f.result,
                "{\"contents\":[{\"uri\":\"test://template/123/data\",\"mimeType\":"
                "\"application/json\",\"text\":\"{\\\"id\\\":\\\"123\\\",\\\"templateTest\\\":"
                "true,\\\"data\\\":\\\"Data for ID: 123\\\"}\"}]}");
    assert_int_equal(request(&f, "resources/templates/list", NULL, 0, NULL), 0);
    const cJSON *tpl =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(f.result, "resourceTemplates"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(tpl, "uriTemplate")->valuestring,
                        "test://template/{id}/data");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(tpl, "name")->valuestring, "template");
    assert_int_equal(request(&f, "resources/read", "{\"uri\":\"test://nope\"}", 0, NULL),
                     MCP_EUPSTREAM);
    assert_int_equal(f.error_code, -32002);
    assert_int_equal(
        request(&f, "resources/subscribe", "{\"uri\":\"test://watched-resource\"}", 0, NULL), 0);
    assert_json(f.result, "{}");
    assert_int_equal(
        request(&f, "resources/unsubscribe", "{\"uri\":\"test://watched-resource\"}", 0, NULL), 0);
    assert_json(f.result, "{}");
    close_fx(&f);
}

/* ---- prompts and completion ---- */

static void test_prompts(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    assert_int_equal(request(&f, "prompts/list", NULL, 0, NULL), 0);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(f.result, "prompts");
    assert_int_equal(cJSON_GetArraySize(list), 4);
    const cJSON *p;
    cJSON_ArrayForEach(p, list)
    {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "description");
        assert_true(cJSON_IsString(d) && d->valuestring[0]);
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 1), "arguments");
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(args, 0), "required")));
    assert_int_equal(request(&f, "prompts/get", "{\"name\":\"test_simple_prompt\"}", 0, NULL), 0);
    assert_json(f.result, "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\","
                          "\"text\":\"This is a simple prompt for testing.\"}}]}");
    assert_int_equal(request(&f, "prompts/get",
                             "{\"name\":\"test_prompt_with_arguments\",\"arguments\":{\"arg1\":"
                             "\"testValue1\",\"arg2\":\"testValue2\"}}",
                             0, NULL),
                     0);
    assert_json(f.result, "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\","
                          "\"text\":\"Prompt with arguments: arg1='testValue1', "
                          "arg2='testValue2'\"}}]}");
    assert_int_equal(request(&f, "prompts/get",
                             "{\"name\":\"test_prompt_with_arguments\",\"arguments\":{\"arg1\":"
                             "\"x\"}}",
                             0, NULL),
                     MCP_EUPSTREAM);
    assert_int_equal(f.error_code, -32602);
    assert_int_equal(request(&f, "prompts/get",
                             "{\"name\":\"test_prompt_with_embedded_resource\",\"arguments\":"
                             "{\"resourceUri\":\"test://example-resource\"}}",
                             0, NULL),
                     0);
    assert_json(f.result,
                "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"resource\",\"resource\":"
                "{\"uri\":\"test://example-resource\",\"mimeType\":\"text/plain\",\"text\":"
                "\"Embedded resource content for testing.\"}}},{\"role\":\"user\",\"content\":"
                "{\"type\":\"text\",\"text\":\"Please process the embedded resource above.\"}}]}");
    assert_int_equal(request(&f, "prompts/get", "{\"name\":\"test_prompt_with_image\"}", 0, NULL),
                     0);
    assert_json(f.result, "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"image\","
                          "\"data\":\"" PNG "\",\"mimeType\":\"image/png\"}},{\"role\":\"user\","
                          "\"content\":{\"type\":\"text\",\"text\":\"Please analyze the image "
                          "above.\"}}]}");
    close_fx(&f);
}

static void test_completion(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    assert_int_equal(request(&f, "completion/complete",
                             "{\"ref\":{\"type\":\"ref/prompt\",\"name\":"
                             "\"test_prompt_with_arguments\"},\"argument\":{\"name\":\"arg1\","
                             "\"value\":\"test\"}}",
                             0, NULL),
                     0);
    assert_json(f.result, "{\"completion\":{\"values\":[\"test\",\"testValue1\",\"testValue2\"],"
                          "\"total\":3,\"hasMore\":false}}");
    assert_int_equal(request(&f, "completion/complete",
                             "{\"ref\":{\"type\":\"ref/resource\",\"uri\":"
                             "\"test://template/{id}/data\"},\"argument\":{\"name\":\"id\","
                             "\"value\":\"1\"}}",
                             0, NULL),
                     0);
    assert_json(f.result,
                "{\"completion\":{\"values\":[\"1\",\"123\"],\"total\":2,\"hasMore\":false}}");
    close_fx(&f);
}

/* ---- lifetimes ---- */

static void test_cancel_and_teardown_in_flight(void **state)
{
    (void)state;
    fx_t f;
    open_fx(&f, 1);
    mcp_client_req_t *req;
    assert_int_equal(request(&f, "tools/call", "{\"name\":\"test_tool_with_logging\"}", 0, &req),
                     0);
    assert_int_equal(mcp_client_cancel(req, "test"), 0);
    while (!f.done)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_int_equal(f.status, MCP_ECANCELED);
    /* Jobs still running when everything closes: a progress tool and a reconnection. */
    assert_int_equal(request(&f, "tools/call", "{\"name\":\"test_tool_with_progress\"}", 1, &req),
                     0);
    assert_int_equal(request(&f, "tools/call", "{\"name\":\"test_reconnection\"}", 0, &req), 0);
    for (int i = 0; i < 3; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT); /* let the calls reach the server */
    close_fx(&f);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tools_list),
        cmocka_unit_test(test_content_tools),
        cmocka_unit_test(test_logging_tool),
        cmocka_unit_test(test_progress_tool),
        cmocka_unit_test(test_sampling_tool),
        cmocka_unit_test(test_no_client_capabilities),
        cmocka_unit_test(test_elicitation_tools),
        cmocka_unit_test(test_reconnection_tool),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_completion),
        cmocka_unit_test(test_cancel_and_teardown_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
