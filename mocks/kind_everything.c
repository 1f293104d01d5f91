/* kind_everything: the test surface the official conformance suite's server scenarios expect
 * (MCP-BRIEF 2.4): the test_* tools, the test:// resources and template, the test_* prompts,
 * logging, progress, completion, subscriptions, and server->client sampling and elicitation
 * requests made from inside tool calls.
 *
 * Names, content texts, the PNG/WAV data and the elicitation schemas are exactly what the suite
 * inspects (they mirror the suite's reference "everything server"); descriptions are our own.
 *
 * Timed tools (logging, progress, reconnection) run one job per call: a uv timer and a call
 * reference. A job stops early when its call finished (cancelled, session gone); jobs still
 * running at teardown are stopped there, after the server was freed (their calls are then
 * already cancelled). */
#include "mock.h"

#include "alloc.h"
#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

#define COMP "everything"

#define PNG_1X1_BASE64                                                                             \
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJg" \
    "gg=="
#define WAV_BASE64          "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="
#define WATCHED_URI         "test://watched-resource"
#define WATCHED_INTERVAL_MS 3000
#define STEP_MS             50
#define RECONNECT_DELAY_MS  100

typedef struct everything_s everything_t;

typedef enum { JOB_LOGGING, JOB_PROGRESS, JOB_RECONNECT } job_kind_t;

typedef struct job_s {
    uv_timer_t timer;
    everything_t *ev;
    mcp_call_t *call; /* referenced until the job ends */
    job_kind_t kind;
    int step;
    struct job_s *prev, *next;
} job_t;

struct everything_s {
    uv_loop_t *loop;
    mcp_server_t *server;
    uv_timer_t watched; /* notifies subscribers of test://watched-resource */
    job_t *jobs;
    int (*end_call_stream)(void *transport_ud, mcp_call_t *call);
    void *transport_ud;
};

/* ---- jobs ---- */

static void job_closed(uv_handle_t *h)
{
    mcp_free(h->data);
}

/* Ends a job: unlinks it, drops its call reference and closes its timer (freed in the close
 * callback, so a job never frees itself from inside its own timer callback's handle). */
static void job_end(job_t *job)
{
    everything_t *ev = job->ev;
    if (job->prev)
        job->prev->next = job->next;
    else
        ev->jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    uv_timer_stop(&job->timer);
    mcp_call_unref(job->call);
    job->timer.data = job;
    uv_close((uv_handle_t *)&job->timer, job_closed);
}

static void job_tick(uv_timer_t *t);

static int job_start(everything_t *ev, mcp_call_t *call, job_kind_t kind, uint64_t first_ms)
{
    job_t *job = mcp_calloc(1, sizeof(*job));
    if (!job)
        return MCP_ENOMEM;
    job->ev = ev;
    job->call = call;
    job->kind = kind;
    uv_timer_init(ev->loop, &job->timer);
    job->timer.data = job;
    mcp_call_ref(call);
    job->next = ev->jobs;
    if (ev->jobs)
        ev->jobs->prev = job;
    ev->jobs = job;
    uv_timer_start(&job->timer, job_tick, first_ms, 0);
    return 0;
}

static const char *const log_texts[] = {"Tool execution started", "Tool processing data",
                                        "Tool execution completed"};

/* The progress token echoed as text, as the reference tool does (String(progressToken)). */
static void reply_token_text(mcp_call_t *call)
{
    const cJSON *params = mcp_call_params(call);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(meta, "progressToken");
    char text[128];
    if (cJSON_IsString(token))
        snprintf(text, sizeof(text), "%s", token->valuestring);
    else if (cJSON_IsNumber(token))
        snprintf(text, sizeof(text), "%.17g", token->valuedouble);
    else
        snprintf(text, sizeof(text), "0");
    (void)mcp_call_reply_text(call, text);
}

static void job_tick(uv_timer_t *t)
{
    job_t *job = t->data;
    mcp_call_t *call = job->call;
    if (mcp_call_is_finished(call)) {
        job_end(job);
        return;
    }
    int step = job->step++;
    switch (job->kind) {
    case JOB_LOGGING:
        (void)mcp_call_log(call, MCP_LOG_INFO, NULL, cJSON_CreateString(log_texts[step]));
        if (step == 2) {
            (void)mcp_call_reply_text(call, "Tool with logging executed successfully");
            job_end(job);
            return;
        }
        break;
    case JOB_PROGRESS: {
        char msg[64];
        snprintf(msg, sizeof(msg), "Completed step %d of 100", step * 50);
        (void)mcp_call_progress(call, step * 50, 100, msg);
        if (step == 2) {
            reply_token_text(call);
            job_end(job);
            return;
        }
        break;
    }
    case JOB_RECONNECT:
        (void)mcp_call_reply_text(call, "Reconnection test completed successfully. If you "
                                        "received this, the client properly reconnected after "
                                        "stream closure.");
        job_end(job);
        return;
    }
    uv_timer_start(&job->timer, job_tick, STEP_MS, 0);
}

static void start_job_or_fail(everything_t *ev, mcp_call_t *call, job_kind_t kind, uint64_t ms)
{
    if (job_start(ev, call, kind, ms) != 0)
        (void)mcp_call_error(call, -32603, "Internal error: out of memory", NULL);
}

/* ---- content helpers ---- */

static cJSON *text_block(const char *text)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", text);
    return b;
}

static cJSON *media_block(const char *type, const char *data, const char *mime)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", type);
    cJSON_AddStringToObject(b, "data", data);
    cJSON_AddStringToObject(b, "mimeType", mime);
    return b;
}

static cJSON *resource_block(const char *uri, const char *mime, const char *text)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "resource");
    cJSON *r = cJSON_AddObjectToObject(b, "resource");
    cJSON_AddStringToObject(r, "uri", uri);
    cJSON_AddStringToObject(r, "mimeType", mime);
    cJSON_AddStringToObject(r, "text", text);
    return b;
}

/* {"content":[blocks...]}; NULL blocks (allocation failure) make the reply an internal error. */
static void reply_content(mcp_call_t *call, cJSON *const *blocks, size_t n)
{
    cJSON *result = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(result, "content");
    int ok = result && content;
    for (size_t i = 0; i < n; i++) {
        if (!blocks[i] || !ok)
            ok = 0, cJSON_Delete(blocks[i]);
        else
            cJSON_AddItemToArray(content, blocks[i]);
    }
    if (!ok) {
        cJSON_Delete(result);
        (void)mcp_call_error(call, -32603, "Internal error: out of memory", NULL);
        return;
    }
    (void)mcp_call_reply(call, result);
}

static const char *arg_string(const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- tools ---- */

static void tool_simple_text(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    (void)mcp_call_reply_text(call, "This is a simple text response for testing.");
}

static void tool_image(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *b[] = {media_block("image", PNG_1X1_BASE64, "image/png")};
    reply_content(call, b, 1);
}

static void tool_audio(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *b[] = {media_block("audio", WAV_BASE64, "audio/wav")};
    reply_content(call, b, 1);
}

static void tool_embedded(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *b[] = {resource_block("test://embedded-resource", "text/plain",
                                 "This is an embedded resource content.")};
    reply_content(call, b, 1);
}

static void tool_mixed(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *b[] = {text_block("Multiple content types test:"),
                  media_block("image", PNG_1X1_BASE64, "image/png"),
                  resource_block("test://mixed-content-resource", "application/json",
                                 "{\"test\":\"data\",\"value\":123}")};
    reply_content(call, b, 3);
}

static void tool_logging(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    start_job_or_fail(ud, call, JOB_LOGGING, 0);
}

static void tool_progress(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    start_job_or_fail(ud, call, JOB_PROGRESS, 0);
}

static void tool_error(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    (void)mcp_call_tool_error(call, "This tool intentionally returns an error for testing");
}

/* Over Streamable HTTP the call's stream is ended first (SSE polling): the client must come
 * back with Last-Event-ID to get the answer, sent 100 ms later. */
static void tool_reconnection(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    everything_t *ev = ud;
    if (ev->end_call_stream) {
        int rc = ev->end_call_stream(ev->transport_ud, call);
        LOG_D(COMP, "test_reconnection: stream ended", "rc=%s", mcp_err_name(rc));
    }
    start_job_or_fail(ev, call, JOB_RECONNECT, RECONNECT_DELAY_MS);
}

static void sampling_done(const mcp_response_t *resp, void *ud)
{
    mcp_call_t *call = ud;
    char *text = NULL;
    if (resp->status == 0 && resp->result) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(resp->result, "content");
        const char *t = arg_string(content, "text");
        text = mcp_asprintf("LLM response: %s", t ? t : "No response");
    } else if (resp->status == 0) {
        text = mcp_asprintf("Sampling not supported or error: %s",
                            resp->error_message ? resp->error_message : "error");
    } else {
        text = mcp_asprintf("Sampling not supported or error: %s", mcp_strerror(resp->status));
    }
    if (text)
        (void)mcp_call_reply_text(call, text);
    else
        (void)mcp_call_error(call, -32603, "Internal error: out of memory", NULL);
    mcp_free(text);
    mcp_call_unref(call);
}

static void tool_sampling(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const char *prompt = arg_string(args, "prompt");
    if (!prompt) {
        (void)mcp_call_tool_error(call, "Invalid arguments: \"prompt\" must be a string");
        return;
    }
    cJSON *params = cJSON_CreateObject();
    cJSON *messages = cJSON_AddArrayToObject(params, "messages");
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddItemToArray(messages, msg);
    cJSON_AddStringToObject(msg, "role", "user");
    cJSON_AddItemToObject(msg, "content", text_block(prompt));
    cJSON_AddNumberToObject(params, "maxTokens", 100);
    mcp_call_ref(call);
    int rc =
        mcp_call_request(call, MCP_METHOD_SAMPLING_CREATE_MESSAGE, params, sampling_done, call);
    if (rc != 0) {
        char text[160];
        snprintf(text, sizeof(text), "Sampling not supported or error: %s", mcp_strerror(rc));
        (void)mcp_call_reply_text(call, text);
        mcp_call_unref(call);
    }
}

/* Elicitation tools share the answer path; `label` starts the result text. */
typedef struct {
    mcp_call_t *call;
    const char *label;
} elicit_t;

static void elicit_done(const mcp_response_t *resp, void *ud)
{
    elicit_t *e = ud;
    char *text = NULL;
    if (resp->status == 0 && resp->result) {
        const char *action = arg_string(resp->result, "action");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(resp->result, "content");
        char *c = content ? cJSON_PrintUnformatted(content) : NULL;
        text = mcp_asprintf("%s: action=%s, content=%s", e->label, action ? action : "unknown",
                            c ? c : "{}");
        cJSON_free(c);
    } else {
        text = mcp_asprintf("Elicitation not supported or error: %s",
                            resp->status == 0 && resp->error_message ? resp->error_message
                                                                     : mcp_strerror(resp->status));
    }
    if (text)
        (void)mcp_call_reply_text(e->call, text);
    else
        (void)mcp_call_error(e->call, -32603, "Internal error: out of memory", NULL);
    mcp_free(text);
    mcp_call_unref(e->call);
    mcp_free(e);
}

static void elicit(mcp_call_t *call, const char *label, const char *message, const char *schema)
{
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "mode", "form");
    cJSON_AddStringToObject(params, "message", message);
    cJSON *s = cJSON_Parse(schema);
    if (s)
        cJSON_AddItemToObject(params, "requestedSchema", s);
    elicit_t *e = mcp_malloc(sizeof(*e));
    if (!e || !s || !params) {
        mcp_free(e);
        cJSON_Delete(params);
        (void)mcp_call_error(call, -32603, "Internal error: out of memory", NULL);
        return;
    }
    e->call = call;
    e->label = label;
    mcp_call_ref(call);
    int rc = mcp_call_request(call, MCP_METHOD_ELICITATION_CREATE, params, elicit_done, e);
    if (rc != 0) {
        char text[160];
        snprintf(text, sizeof(text), "Elicitation not supported or error: %s", mcp_strerror(rc));
        (void)mcp_call_reply_text(call, text);
        mcp_call_unref(call);
        mcp_free(e);
    }
}

static const char elicit_basic_schema[] =
    "{\"type\":\"object\",\"properties\":{\"response\":{\"type\":\"string\",\"description\":"
    "\"User's response\"}},\"required\":[\"response\"]}";

static const char elicit_defaults_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"description\":\"User name\",\"default\":\"John Doe\"},"
    "\"age\":{\"type\":\"integer\",\"description\":\"User age\",\"default\":30},"
    "\"score\":{\"type\":\"number\",\"description\":\"User score\",\"default\":95.5},"
    "\"status\":{\"type\":\"string\",\"description\":\"User status\",\"enum\":[\"active\","
    "\"inactive\",\"pending\"],\"default\":\"active\"},"
    "\"verified\":{\"type\":\"boolean\",\"description\":\"Verification status\",\"default\":true}"
    "},\"required\":[]}";

static const char elicit_enums_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"untitledSingle\":{\"type\":\"string\",\"description\":\"Select one option\","
    "\"enum\":[\"option1\",\"option2\",\"option3\"]},"
    "\"titledSingle\":{\"type\":\"string\",\"description\":\"Select one option with titles\","
    "\"oneOf\":[{\"const\":\"value1\",\"title\":\"First Option\"},{\"const\":\"value2\","
    "\"title\":\"Second Option\"},{\"const\":\"value3\",\"title\":\"Third Option\"}]},"
    "\"legacyEnum\":{\"type\":\"string\",\"description\":\"Select one option (legacy)\","
    "\"enum\":[\"opt1\",\"opt2\",\"opt3\"],\"enumNames\":[\"Option One\",\"Option Two\","
    "\"Option Three\"]},"
    "\"untitledMulti\":{\"type\":\"array\",\"description\":\"Select multiple options\","
    "\"minItems\":1,\"maxItems\":3,\"items\":{\"type\":\"string\",\"enum\":[\"option1\","
    "\"option2\",\"option3\"]}},"
    "\"titledMulti\":{\"type\":\"array\",\"description\":\"Select multiple options with titles\","
    "\"minItems\":1,\"maxItems\":3,\"items\":{\"anyOf\":[{\"const\":\"value1\",\"title\":"
    "\"First Choice\"},{\"const\":\"value2\",\"title\":\"Second Choice\"},{\"const\":\"value3\","
    "\"title\":\"Third Choice\"}]}}"
    "},\"required\":[]}";

static void tool_elicitation(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const char *message = arg_string(args, "message");
    if (!message) {
        (void)mcp_call_tool_error(call, "Invalid arguments: \"message\" must be a string");
        return;
    }
    elicit(call, "User response", message, elicit_basic_schema);
}

static void tool_elicitation_defaults(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    elicit(call, "Elicitation completed", "Please review and update the form fields with defaults",
           elicit_defaults_schema);
}

static void tool_elicitation_enums(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    elicit(call, "Elicitation completed", "Please select options from the enum fields",
           elicit_enums_schema);
}

static void tool_json_schema(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    char *a = cJSON_PrintUnformatted(args);
    char *text = a ? mcp_asprintf("JSON Schema 2020-12 tool called with: %s", a) : NULL;
    cJSON_free(a);
    if (text)
        (void)mcp_call_reply_text(call, text);
    else
        (void)mcp_call_error(call, -32603, "Internal error: out of memory", NULL);
    mcp_free(text);
}

#define NO_ARGS "{\"type\":\"object\",\"properties\":{}}"

typedef struct {
    const char *name;
    const char *description;
    const char *schema;
    mcp_tool_fn fn;
} tool_spec_t;

static const tool_spec_t tools[] = {
    {"test_simple_text", "Answers with one fixed text block.", NO_ARGS, tool_simple_text},
    {"test_image_content", "Answers with a 1x1 PNG image block.", NO_ARGS, tool_image},
    {"test_audio_content", "Answers with a tiny WAV audio block.", NO_ARGS, tool_audio},
    {"test_embedded_resource", "Answers with an embedded text resource.", NO_ARGS, tool_embedded},
    {"test_multiple_content_types", "Answers with text, image and embedded resource blocks.",
     NO_ARGS, tool_mixed},
    {"test_tool_with_logging", "Sends three log notifications 50 ms apart, then answers.", NO_ARGS,
     tool_logging},
    {"test_tool_with_progress",
     "Reports progress 0, 50 and 100 of 100 (50 ms apart), then answers with the token.", NO_ARGS,
     tool_progress},
    {"test_error_handling", "Always fails with a tool execution error (isError).", NO_ARGS,
     tool_error},
    {"test_reconnection",
     "Answers after 100 ms; over Streamable HTTP the call's stream may be closed first so the "
     "client must resume it (SEP-1699).",
     NO_ARGS, tool_reconnection},
    {"test_sampling", "Asks the client for an LLM completion of the prompt and echoes it.",
     "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":\"string\",\"description\":"
     "\"The prompt to send to the LLM\"}},\"required\":[\"prompt\"]}",
     tool_sampling},
    {"test_elicitation", "Asks the client for user input with a one-field form.",
     "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\",\"description\":"
     "\"The message to show the user\"}},\"required\":[\"message\"]}",
     tool_elicitation},
    {"test_elicitation_sep1034_defaults",
     "Asks the client for a form whose fields all carry defaults (SEP-1034).", NO_ARGS,
     tool_elicitation_defaults},
    {"test_elicitation_sep1330_enums",
     "Asks the client for a form with every enum schema variant (SEP-1330).", NO_ARGS,
     tool_elicitation_enums},
    {"json_schema_2020_12_tool",
     "Declares a JSON Schema 2020-12 input schema with $defs (SEP-1613) and echoes its arguments.",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
     "\"$defs\":{\"address\":{\"type\":\"object\",\"properties\":{\"street\":{\"type\":"
     "\"string\"},\"city\":{\"type\":\"string\"}}}},\"properties\":{\"name\":{\"type\":"
     "\"string\"},\"address\":{\"$ref\":\"#/$defs/address\"}},\"additionalProperties\":false}",
     tool_json_schema},
};

/* ---- resources ---- */

static void res_static_text(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    (void)vars;
    (void)ud;
    (void)mcp_call_reply_resource_text(call, uri, "text/plain",
                                       "This is the content of the static text resource.");
}

static void res_static_binary(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars,
                              void *ud)
{
    (void)vars;
    (void)ud;
    cJSON *result = cJSON_CreateObject();
    cJSON *contents = cJSON_AddArrayToObject(result, "contents");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(contents, c);
    cJSON_AddStringToObject(c, "uri", uri);
    cJSON_AddStringToObject(c, "mimeType", "image/png");
    if (!cJSON_AddStringToObject(c, "blob", PNG_1X1_BASE64)) {
        cJSON_Delete(result);
        (void)mcp_call_error(call, -32603, "Internal error: out of memory", NULL);
        return;
    }
    (void)mcp_call_reply(call, result);
}

static void res_watched(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    (void)vars;
    (void)ud;
    (void)mcp_call_reply_resource_text(call, uri, "text/plain", "Watched resource content");
}

static void res_template(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    (void)ud;
    const char *id = mcp_uri_vars_get(vars, "id");
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "id", id ? id : "");
    cJSON_AddBoolToObject(obj, "templateTest", 1);
    char *data = mcp_asprintf("Data for ID: %s", id ? id : "");
    if (data)
        cJSON_AddStringToObject(obj, "data", data);
    mcp_free(data);
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!text) {
        (void)mcp_call_error(call, -32603, "Internal error: out of memory", NULL);
        return;
    }
    (void)mcp_call_reply_resource_text(call, uri, "application/json", text);
    cJSON_free(text);
}

/* ---- prompts ---- */

static void reply_messages(mcp_call_t *call, cJSON *const *contents, size_t n)
{
    cJSON *result = cJSON_CreateObject();
    cJSON *messages = cJSON_AddArrayToObject(result, "messages");
    int ok = result && messages;
    for (size_t i = 0; i < n; i++) {
        cJSON *m = ok && contents[i] ? cJSON_CreateObject() : NULL;
        if (!m) {
            ok = 0;
            cJSON_Delete(contents[i]);
            continue;
        }
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddItemToObject(m, "content", contents[i]);
        cJSON_AddItemToArray(messages, m);
    }
    if (!ok) {
        cJSON_Delete(result);
        (void)mcp_call_error(call, -32603, "Internal error: out of memory", NULL);
        return;
    }
    (void)mcp_call_reply(call, result);
}

static void prompt_simple(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *c[] = {text_block("This is a simple prompt for testing.")};
    reply_messages(call, c, 1);
}

static void prompt_with_args(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const char *a1 = arg_string(args, "arg1"), *a2 = arg_string(args, "arg2");
    char *text =
        mcp_asprintf("Prompt with arguments: arg1='%s', arg2='%s'", a1 ? a1 : "", a2 ? a2 : "");
    cJSON *c[] = {text ? text_block(text) : NULL};
    mcp_free(text);
    reply_messages(call, c, 1);
}

static void prompt_embedded(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const char *uri = arg_string(args, "resourceUri");
    cJSON *c[] = {
        resource_block(uri ? uri : "", "text/plain", "Embedded resource content for testing."),
        text_block("Please process the embedded resource above.")};
    reply_messages(call, c, 2);
}

static void prompt_image(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *c[] = {media_block("image", PNG_1X1_BASE64, "image/png"),
                  text_block("Please analyze the image above.")};
    reply_messages(call, c, 2);
}

/* ---- completion ---- */

typedef struct {
    const char *const *values;
    size_t count;
} candidates_t;

static const char *const arg_values[] = {"test", "testValue1", "testValue2", "hello", "world"};
static const char *const id_values[] = {"1", "2", "3", "42", "123"};
static const candidates_t arg_candidates = {arg_values, 5};
static const candidates_t id_candidates = {id_values, 5};

/* Candidates that start with what was typed so far. */
static void complete_prefix(mcp_call_t *call, const char *argument, const char *value,
                            const cJSON *context_args, void *ud)
{
    (void)argument;
    (void)context_args;
    const candidates_t *cand = ud;
    const char *out[8];
    size_t n = 0, plen = value ? strlen(value) : 0;
    for (size_t i = 0; i < cand->count && n < 8; i++)
        if (strncmp(cand->values[i], value ? value : "", plen) == 0)
            out[n++] = cand->values[i];
    (void)mcp_call_reply_completion(call, out, n, (long)n, 0);
}

/* ---- watched resource ---- */

static void on_watched(uv_timer_t *t)
{
    everything_t *ev = t->data;
    (void)mcp_server_notify_resource_updated(ev->server, WATCHED_URI);
}

/* ---- setup / teardown ---- */

static int add_prompt(mcp_server_t *server, const char *name, const char *title,
                      const char *description, const mcp_prompt_arg_t *args, size_t nargs,
                      mcp_prompt_fn fn)
{
    mcp_prompt_def_t def = {
        .name = name, .title = title, .description = description, .args = args, .nargs = nargs};
    return mcp_server_add_prompt(server, &def, fn, NULL);
}

static int register_all(everything_t *ev, mcp_server_t *server)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof(tools) / sizeof(tools[0]); i++) {
        mcp_tool_def_t def = {.name = tools[i].name,
                              .description = tools[i].description,
                              .input_schema = tools[i].schema};
        rc = mcp_server_add_tool(server, &def, tools[i].fn, ev);
    }
    const mcp_resource_def_t res[] = {
        {.uri = "test://static-text",
         .name = "static-text",
         .title = "Static Text Resource",
         .description = "A fixed plain-text resource.",
         .mime_type = "text/plain"},
        {.uri = "test://static-binary",
         .name = "static-binary",
         .title = "Static Binary Resource",
         .description = "A fixed PNG image, served base64-encoded.",
         .mime_type = "image/png"},
        {.uri = WATCHED_URI,
         .name = "watched-resource",
         .title = "Watched Resource",
         .description = "Subscribers are told it was updated every 3 seconds.",
         .mime_type = "text/plain"},
    };
    mcp_resource_fn res_fns[] = {res_static_text, res_static_binary, res_watched};
    for (size_t i = 0; !rc && i < 3; i++)
        rc = mcp_server_add_resource(server, &res[i], res_fns[i], ev);
    if (!rc) {
        mcp_template_def_t tpl = {.uri_template = "test://template/{id}/data",
                                  .name = "template",
                                  .title = "Resource Template",
                                  .description = "JSON data for any id substituted in the URI.",
                                  .mime_type = "application/json"};
        rc = mcp_server_add_template(server, &tpl, res_template, ev);
    }
    static const mcp_prompt_arg_t with_args[] = {
        {.name = "arg1", .description = "First test argument", .required = 1},
        {.name = "arg2", .description = "Second test argument", .required = 1}};
    static const mcp_prompt_arg_t embedded_args[] = {
        {.name = "resourceUri", .description = "URI of the resource to embed", .required = 1}};
    if (!rc)
        rc = add_prompt(server, "test_simple_prompt", "Simple Test Prompt",
                        "A prompt without arguments.", NULL, 0, prompt_simple);
    if (!rc)
        rc = add_prompt(server, "test_prompt_with_arguments", "Prompt With Arguments",
                        "A prompt that quotes its two required arguments.", with_args, 2,
                        prompt_with_args);
    if (!rc)
        rc = add_prompt(server, "test_prompt_with_embedded_resource",
                        "Prompt With Embedded Resource",
                        "A prompt that embeds the resource named by its argument.", embedded_args,
                        1, prompt_embedded);
    if (!rc)
        rc = add_prompt(server, "test_prompt_with_image", "Prompt With Image",
                        "A prompt that carries an image.", NULL, 0, prompt_image);
    if (!rc)
        rc = mcp_server_set_completion(server, "ref/prompt", "test_prompt_with_arguments", "arg1",
                                       complete_prefix, (void *)&arg_candidates);
    if (!rc)
        rc = mcp_server_set_completion(server, "ref/prompt", "test_prompt_with_arguments", "arg2",
                                       complete_prefix, (void *)&arg_candidates);
    if (!rc)
        rc = mcp_server_set_completion(server, "ref/resource", "test://template/{id}/data", "id",
                                       complete_prefix, (void *)&id_candidates);
    return rc;
}

static void everything_closed(uv_handle_t *h)
{
    mcp_free(h->data);
}

static void everything_teardown(void *state)
{
    everything_t *ev = state;
    if (!ev)
        return;
    while (ev->jobs)
        job_end(ev->jobs);
    uv_timer_stop(&ev->watched);
    uv_close((uv_handle_t *)&ev->watched, everything_closed);
}

static int everything_setup(mcp_server_t *server, const mock_options_t *opts, void **state,
                            char *err, size_t errcap)
{
    everything_t *ev = mcp_calloc(1, sizeof(*ev));
    if (!ev) {
        snprintf(err, errcap, "out of memory");
        return MCP_ENOMEM;
    }
    ev->loop = mcp_server_loop(server);
    ev->server = server;
    ev->end_call_stream = opts->end_call_stream;
    ev->transport_ud = opts->transport_ud;
    int rc = register_all(ev, server);
    if (rc) {
        snprintf(err, errcap, "registering the everything surface failed: %s", mcp_strerror(rc));
        mcp_free(ev);
        return rc;
    }
    uv_timer_init(ev->loop, &ev->watched);
    ev->watched.data = ev;
    uv_timer_start(&ev->watched, on_watched, WATCHED_INTERVAL_MS, WATCHED_INTERVAL_MS);
    /* Only subscribers care; the timer must not keep a finished loop alive. */
    uv_unref((uv_handle_t *)&ev->watched);
    *state = ev;
    return 0;
}

const mock_kind_t mock_kind_everything = {
    .name = "everything",
    .summary = "the conformance suite's test surface (test_* tools, test:// resources, prompts)",
    .help = "Serves exactly what the official conformance suite's server scenarios expect:\n"
            "  tools      test_simple_text, test_image_content, test_audio_content,\n"
            "             test_embedded_resource, test_multiple_content_types,\n"
            "             test_tool_with_logging (3 logs, 50 ms apart), test_tool_with_progress\n"
            "             (0/50/100 of 100), test_error_handling (isError), test_reconnection,\n"
            "             test_sampling (sampling/createMessage), test_elicitation,\n"
            "             test_elicitation_sep1034_defaults, test_elicitation_sep1330_enums,\n"
            "             json_schema_2020_12_tool\n"
            "  resources  test://static-text, test://static-binary, test://watched-resource\n"
            "             (subscribers get resources/updated every 3 s), template\n"
            "             test://template/{id}/data\n"
            "  prompts    test_simple_prompt, test_prompt_with_arguments (arg1, arg2),\n"
            "             test_prompt_with_embedded_resource (resourceUri),\n"
            "             test_prompt_with_image\n"
            "  also       logging/setLevel, completion/complete (prompt arguments, template id),\n"
            "             resources/subscribe and unsubscribe\n"
            "No kind options.\n",
    .server_name = "mcp-mock-everything",
    .setup = everything_setup,
    .teardown = everything_teardown,
};
