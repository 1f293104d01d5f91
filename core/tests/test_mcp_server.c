/* Unit tests for mcp_server, driven through an in-memory transport that records what the
 * session sends. Async handlers use real libuv timers on a private loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "mcp_server.h"

#include <stdio.h>
#include <string.h>

/* ---- recording transport ---- */

#define MAX_SENT 256

typedef struct {
    cJSON *msg;
    void *origin;
    int final;
    int related; /* 1 when info->related was set */
    char related_id[64];
    jsonrpc_kind_t kind;
} sent_t;

typedef struct {
    sent_t sent[MAX_SENT];
    int n;
    int abandons;
    char abandoned_id[64];
    int drained;
    int closed;
    int fail_sends;
    mcp_session_t *session;
} tt_t;

static int alloc_failing;

static int tt_send(void *ctx, const char *json, size_t len, const mcp_send_info_t *info)
{
    tt_t *t = ctx;
    assert_null(memchr(json, '\n', len)); /* compact, one line */
    if (t->fail_sends)
        return MCP_ENOBUFS;
    assert_true(t->n < MAX_SENT);
    cJSON *msg = cJSON_ParseWithLength(json, len);
    if (!msg && alloc_failing)
        return 0; /* the recorder itself ran out of (injected) memory */
    assert_non_null(msg);
    sent_t *s = &t->sent[t->n++];
    s->msg = msg;
    s->origin = info->origin;
    s->final = info->final;
    s->kind = info->kind;
    s->related = info->related != NULL;
    s->related_id[0] = '\0';
    if (info->related)
        jsonrpc_id_str(info->related, s->related_id, sizeof(s->related_id));
    return 0;
}

static void tt_abandon(void *ctx, const mcp_send_info_t *info)
{
    tt_t *t = ctx;
    t->abandons++;
    jsonrpc_id_str(info->related, t->abandoned_id, sizeof(t->abandoned_id));
}

static void tt_drained(void *ctx)
{
    ((tt_t *)ctx)->drained++;
}

static void tt_closed(void *ctx)
{
    tt_t *t = ctx;
    t->closed++;
    t->session = NULL;
}

static const mcp_transport_ops_t tt_ops = {tt_send, tt_abandon, tt_drained, tt_closed};

static void tt_clear(tt_t *t)
{
    for (int i = 0; i < t->n; i++)
        cJSON_Delete(t->sent[i].msg);
    t->n = 0;
}

static void tt_free(tt_t *t)
{
    tt_clear(t);
    if (t->session)
        mcp_session_close(t->session);
    t->session = NULL;
}

static int rx(tt_t *t, const char *text, void *origin, mcp_receive_info_t *info)
{
    return mcp_session_receive(t->session, text, strlen(text), origin, info);
}

/* The only message sent since the last clear; it must exist. */
static cJSON *only(tt_t *t)
{
    if (t->n != 1) {
        for (int i = 0; i < t->n; i++) {
            char *s = cJSON_PrintUnformatted(t->sent[i].msg);
            print_message("sent[%d] %s\n", i, s);
            cJSON_free(s);
        }
        fail_msg("expected exactly one sent message, got %d", t->n);
    }
    return t->sent[0].msg;
}

static cJSON *result_of(cJSON *msg)
{
    cJSON *r = cJSON_GetObjectItem(msg, "result");
    if (!r) {
        char *s = cJSON_PrintUnformatted(msg);
        print_message("not a result: %s\n", s);
        cJSON_free(s);
    }
    assert_non_null(r);
    return r;
}

static void expect_error(cJSON *msg, int code, const char *needle)
{
    cJSON *e = cJSON_GetObjectItem(msg, "error");
    assert_non_null(e);
    assert_int_equal(cJSON_GetObjectItem(e, "code")->valueint, code);
    const char *m = cJSON_GetObjectItem(e, "message")->valuestring;
    if (needle && !strstr(m, needle))
        fail_msg("error message \"%s\" lacks \"%s\"", m, needle);
}

static const char *text0(cJSON *result)
{
    cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(result, "content"), 0);
    assert_non_null(c);
    return cJSON_GetObjectItem(c, "text")->valuestring;
}

/* ---- fixture server ---- */

typedef struct {
    uv_loop_t loop;
    mcp_server_t *server;
    int cancel_hooks;
    int held_reply_rc;
    int held_done;
    int sample_status;
    int intercepted;
    int continued;
    int notified;
    char last_template_id[64];
    char last_complete_value[64];
    int progress_rc_no_token, progress_rc_decrease;
    int session_events[3];
} fx_t;

static fx_t *FX;

static void tool_echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const cJSON *text = cJSON_GetObjectItem(args, "text");
    char buf[128];
    snprintf(buf, sizeof(buf), "echo:%s:%d", cJSON_IsString(text) ? text->valuestring : "-",
             cJSON_GetArraySize(args));
    (void)mcp_call_reply_text(call, buf);
    /* A second answer is refused (also after an allocation failure, which still finishes the
     * call), and the call is still valid inside the handler. */
    assert_int_equal(mcp_call_reply(call, NULL), MCP_ESTATE);
    assert_true(mcp_call_is_finished(call));
}

static void tool_fail(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    mcp_call_tool_error(call, "This tool intentionally returns an error for testing");
}

/* Pattern (b): a timer with a cancel hook, no reference. */
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
    mcp_call_reply_text(s->call, "slow done");
    uv_close((uv_handle_t *)&s->timer, slow_closed);
}

static void slow_cancel(mcp_call_t *call, void *ud)
{
    slow_t *s = ud;
    assert_true(s->call == call);
    assert_true(mcp_call_is_cancelled(call));
    assert_null(mcp_call_session(call));
    assert_int_equal(mcp_call_reply_text(call, "too late"), MCP_ECANCELED);
    FX->cancel_hooks++;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, slow_closed);
}

static void tool_slow(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    slow_t *s = mcp_calloc(1, sizeof(*s));
    s->call = call;
    uv_timer_init(mcp_call_loop(call), &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, slow_fire, 10, 0);
    mcp_call_on_cancel(call, slow_cancel, s);
}

/* Pattern (a): a reference, no hook; answers after the call may already be gone. */
static void held_closed(uv_handle_t *h)
{
    mcp_free(h);
}

static void held_fire(uv_timer_t *t)
{
    mcp_call_t *call = t->data;
    FX->held_reply_rc = mcp_call_reply_text(call, "held done");
    FX->held_done = 1;
    mcp_call_unref(call);
    uv_close((uv_handle_t *)t, held_closed);
}

static void tool_held(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    uv_timer_t *t = mcp_malloc(sizeof(*t));
    uv_timer_init(mcp_call_loop(call), t);
    mcp_call_ref(call);
    t->data = call;
    uv_timer_start(t, held_fire, 20, 0);
}

static void tool_progress(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    if (mcp_call_progress(call, 0, 100, "start") == MCP_ESTATE) {
        FX->progress_rc_no_token = MCP_ESTATE;
        mcp_call_reply_text(call, "no token");
        return;
    }
    assert_int_equal(mcp_call_progress(call, 50, 100, NULL), 0);
    FX->progress_rc_decrease = mcp_call_progress(call, 50, 100, NULL);
    assert_int_equal(mcp_call_progress(call, 100, -1, "done"), 0);
    mcp_call_reply_text(call, "progressed");
    assert_int_equal(mcp_call_progress(call, 101, 100, NULL), MCP_ESTATE);
}

static void tool_log(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    assert_int_equal(mcp_call_log(call, MCP_LOG_DEBUG, "t", cJSON_CreateString("debug msg")), 0);
    assert_int_equal(mcp_call_log(call, MCP_LOG_INFO, "t", cJSON_CreateString("info msg")), 0);
    assert_int_equal(mcp_call_log(call, MCP_LOG_ERROR, NULL, cJSON_CreateString("error msg")), 0);
    mcp_call_reply_text(call, "logged");
}

static void sample_done(const mcp_response_t *resp, void *ud)
{
    (void)ud;
    FX->sample_status = resp->status;
    if (!resp->call)
        return;
    if (resp->status != 0) {
        mcp_call_tool_error(resp->call, "no answer");
        return;
    }
    if (resp->result) {
        const cJSON *content = cJSON_GetObjectItem(resp->result, "content");
        char buf[128];
        snprintf(buf, sizeof(buf), "LLM response: %s",
                 cJSON_GetObjectItem(content, "text")->valuestring);
        mcp_call_reply_text(resp->call, buf);
    } else {
        char buf[128];
        snprintf(buf, sizeof(buf), "client error %d: %s", resp->error_code, resp->error_message);
        mcp_call_tool_error(resp->call, buf);
    }
}

static void tool_sample(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const char *method = cJSON_GetObjectItem(args, "method")
                             ? cJSON_GetObjectItem(args, "method")->valuestring
                             : MCP_METHOD_SAMPLING_CREATE_MESSAGE;
    cJSON *params = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\","
                                "\"text\":\"hi\"}}],\"maxTokens\":100}");
    int rc = mcp_call_request(call, method, params, sample_done, NULL);
    if (rc) {
        char buf[128];
        snprintf(buf, sizeof(buf), "refused: %s", mcp_err_name(rc));
        mcp_call_tool_error(call, buf);
    }
}

static void tool_plain(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    mcp_call_reply_text(call, (const char *)ud);
}

static void res_static(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    (void)ud;
    assert_null(vars);
    mcp_call_reply_resource_text(call, uri, "text/plain",
                                 "This is the content of the static text resource.");
}

static void res_template(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    (void)ud;
    const char *id = mcp_uri_vars_get(vars, "id");
    assert_non_null(id);
    snprintf(FX->last_template_id, sizeof(FX->last_template_id), "%s", id);
    char text[128];
    snprintf(text, sizeof(text), "{\"id\":\"%s\",\"templateTest\":true}", id);
    mcp_call_reply_resource_text(call, uri, "application/json", text);
}

static void prompt_args(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    char text[256];
    const cJSON *a2 = cJSON_GetObjectItem(args, "arg2");
    snprintf(text, sizeof(text), "Prompt with arguments: arg1='%s', arg2='%s'",
             cJSON_GetObjectItem(args, "arg1")->valuestring, a2 ? a2->valuestring : "");
    char json[400];
    snprintf(json, sizeof(json),
             "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":"
             "\"%s\"}}]}",
             text);
    cJSON *r = cJSON_Parse(json);
    mcp_call_reply(call, r);
}

static void complete_arg1(mcp_call_t *call, const char *argument, const char *value,
                          const cJSON *context, void *ud)
{
    (void)ud;
    (void)context;
    assert_string_equal(argument, "arg1");
    snprintf(FX->last_complete_value, sizeof(FX->last_complete_value), "%s", value);
    const char *values[] = {"python", "pytorch"};
    mcp_call_reply_completion(call, values, 2, 10, 1);
}

static void on_session_event(mcp_session_t *s, mcp_session_event_t ev, void *ud)
{
    (void)s;
    (void)ud;
    FX->session_events[ev]++;
}

static const mcp_prompt_arg_t prompt_arg_defs[] = {
    {"arg1", NULL, "First argument", 1},
    {"arg2", NULL, "Second argument", 1},
};

static void fx_setup(fx_t *fx)
{
    memset(fx, 0, sizeof(*fx));
    FX = fx;
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    mcp_server_config_t cfg = {
        .name = "test-server", .version = "1.2.3", .instructions = "Use echo."};
    assert_int_equal(mcp_server_create(&fx->loop, &cfg, &fx->server), 0);
    mcp_server_t *s = fx->server;
    mcp_tool_def_t echo = {"echo",
                           "Echo",
                           "Echoes its text",
                           "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}",
                           NULL,
                           "{\"readOnlyHint\":true}"};
    assert_int_equal(mcp_server_add_tool(s, &echo, tool_echo, NULL), 0);
    assert_int_equal(mcp_server_add_tool(s, &echo, tool_echo, NULL), MCP_EEXISTS);
    mcp_tool_def_t defs[] = {
        {"fail", NULL, "Fails", NULL, NULL, NULL},
        {"slow", NULL, "Answers after a timer", NULL, NULL, NULL},
        {"held", NULL, "Answers after a timer, holding a reference", NULL, NULL, NULL},
        {"progress", NULL, "Reports progress", NULL, NULL, NULL},
        {"log", NULL, "Logs", NULL, NULL, NULL},
        {"sample", NULL, "Asks the client", NULL, NULL, NULL},
    };
    mcp_tool_fn fns[] = {tool_fail, tool_slow, tool_held, tool_progress, tool_log, tool_sample};
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        assert_int_equal(mcp_server_add_tool(s, &defs[i], fns[i], NULL), 0);
    mcp_tool_def_t bad = {"bad name!", NULL, NULL, NULL, NULL, NULL};
    assert_int_equal(mcp_server_add_tool(s, &bad, tool_echo, NULL), MCP_EINVAL);
    mcp_tool_def_t bad_schema = {"bad_schema", NULL, NULL, "{\"type\":", NULL, NULL};
    assert_int_equal(mcp_server_add_tool(s, &bad_schema, tool_echo, NULL), MCP_EINVAL);

    mcp_resource_def_t res = {"test://static-text", "static", NULL, "A static text",
                              "text/plain",         0,        0};
    assert_int_equal(mcp_server_add_resource(s, &res, res_static, NULL), 0);
    mcp_template_def_t tpl = {"test://template/{id}/data", "template", "Resource Template",
                              "A resource template", "application/json"};
    assert_int_equal(mcp_server_add_template(s, &tpl, res_template, NULL), 0);
    mcp_prompt_def_t prompt = {"test_prompt_with_arguments", NULL, "A prompt with arguments",
                               prompt_arg_defs, 2};
    assert_int_equal(mcp_server_add_prompt(s, &prompt, prompt_args, NULL), 0);
    assert_int_equal(mcp_server_set_completion(s, "ref/prompt", "test_prompt_with_arguments",
                                               "arg1", complete_arg1, NULL),
                     0);
    mcp_server_set_session_events(s, on_session_event, NULL);
}

static void fx_teardown(fx_t *fx)
{
    mcp_server_free(fx->server);
    while (uv_run(&fx->loop, UV_RUN_NOWAIT))
        ;
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    FX = NULL;
}

static void open_session(fx_t *fx, tt_t *t)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(mcp_session_create(fx->server, &tt_ops, t, &t->session), 0);
}

/* initialize (+ notifications/initialized when `operational`) with the given client caps. */
static void handshake(fx_t *fx, tt_t *t, const char *version, const char *caps, int operational)
{
    open_session(fx, t);
    char text[512];
    snprintf(text, sizeof(text),
             "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"%s\",\"capabilities\":%s,\"clientInfo\":{\"name\":\"t\","
             "\"version\":\"1\"}}}",
             version, caps);
    assert_int_equal(rx(t, text, NULL, NULL), 0);
    result_of(only(t));
    tt_clear(t);
    if (operational) {
        assert_int_equal(
            rx(t, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", NULL, NULL), 0);
        assert_int_equal(t->n, 0);
        assert_true(mcp_session_is_operational(t->session));
    }
}

static void run_until(fx_t *fx, int *flag)
{
    for (int i = 0; i < 1000 && !*flag; i++)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_true(*flag);
}

static int has_sent(tt_t *t)
{
    return t->n > 0;
}

static void run_until_sent(fx_t *fx, tt_t *t)
{
    for (int i = 0; i < 1000 && !has_sent(t); i++)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_true(t->n > 0);
}

/* ---- tests ---- */

static void test_initialize_versions(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    const char *asked[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                           "2024-11-05", "2099-01-01", "1.0.0"};
    const char *answered[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                              "2024-11-05", "2025-11-25", "2025-11-25"};
    for (size_t i = 0; i < 6; i++) {
        tt_t t;
        open_session(&fx, &t);
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"jsonrpc\":\"2.0\",\"id\":\"init\",\"method\":\"initialize\",\"params\":{"
                 "\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"c\","
                 "\"version\":\"0\"}}}",
                 asked[i]);
        mcp_receive_info_t info;
        assert_int_equal(rx(&t, text, &t, &info), 0);
        assert_true(info.initialize);
        assert_int_equal(info.replies, 1);
        cJSON *msg = only(&t);
        assert_string_equal(cJSON_GetObjectItem(msg, "id")->valuestring, "init");
        assert_true(t.sent[0].final);
        assert_true(t.sent[0].origin == &t);
        cJSON *r = result_of(msg);
        assert_string_equal(cJSON_GetObjectItem(r, "protocolVersion")->valuestring, answered[i]);
        assert_string_equal(mcp_session_protocol_version(t.session), answered[i]);
        cJSON *caps = cJSON_GetObjectItem(r, "capabilities");
        assert_true(
            cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(caps, "tools"), "listChanged")));
        assert_true(
            cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(caps, "resources"), "subscribe")));
        assert_non_null(cJSON_GetObjectItem(caps, "prompts"));
        assert_non_null(cJSON_GetObjectItem(caps, "logging"));
        assert_non_null(cJSON_GetObjectItem(caps, "completions"));
        cJSON *si = cJSON_GetObjectItem(r, "serverInfo");
        assert_string_equal(cJSON_GetObjectItem(si, "name")->valuestring, "test-server");
        assert_string_equal(cJSON_GetObjectItem(si, "version")->valuestring, "1.2.3");
        assert_string_equal(cJSON_GetObjectItem(r, "instructions")->valuestring, "Use echo.");
        tt_clear(&t);

        /* A second initialize is refused. */
        assert_int_equal(rx(&t, text, NULL, NULL), 0);
        expect_error(only(&t), JSONRPC_INVALID_REQUEST, "already initialized");
        tt_free(&t);
    }

    /* Bad initialize params. */
    tt_t t;
    open_session(&fx, &t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                        "\"params\":{\"capabilities\":{}}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "protocolVersion");
    assert_null(mcp_session_protocol_version(t.session));
    tt_free(&t);
    fx_teardown(&fx);
}

static void test_lifecycle(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    open_session(&fx, &t);
    /* ping before initialize is answered. */
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":\"p1\",\"method\":\"ping\"}", NULL, NULL),
                     0);
    cJSON *r = result_of(only(&t));
    assert_true(cJSON_IsObject(r) && cJSON_GetArraySize(r) == 0);
    tt_clear(&t);
    /* Anything else before initialize is refused. */
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_REQUEST, "not initialized");
    tt_clear(&t);
    tt_free(&t);

    /* Not operational until notifications/initialized: no list_changed yet. */
    handshake(&fx, &t, "2025-11-25", "{}", 0);
    assert_false(mcp_session_is_operational(t.session));
    mcp_tool_def_t extra = {"extra", NULL, "Extra", NULL, NULL, NULL};
    assert_int_equal(mcp_server_add_tool(fx.server, &extra, tool_plain, "x"), 0);
    assert_int_equal(t.n, 0);
    assert_int_equal(fx.session_events[MCP_SESSION_INITIALIZED], 0);
    assert_int_equal(
        rx(&t, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", NULL, NULL), 0);
    assert_int_equal(fx.session_events[MCP_SESSION_INITIALIZED], 1);
    assert_int_equal(t.n, 0); /* notifications are never answered */
    /* Unknown method, unknown notification, params that are not an object. */
    assert_int_equal(
        rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"nope/nothing\"}", NULL, NULL), 0);
    expect_error(only(&t), JSONRPC_METHOD_NOT_FOUND, "nope/nothing");
    tt_clear(&t);
    assert_int_equal(
        rx(&t, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}", NULL, NULL), 0);
    assert_int_equal(t.n, 0);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":[]}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "must be an object");
    tt_clear(&t);
    tt_free(&t);
    assert_int_equal(fx.session_events[MCP_SESSION_CLOSED], 2);
    fx_teardown(&fx);
}

static void test_pagination(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    mcp_server_set_page_size(fx.server, 3);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    /* 7 tools registered by the fixture, listed over 3 pages in registration order. */
    const char *expect[] = {"echo", "fail", "slow", "held", "progress", "log", "sample"};
    size_t seen = 0;
    char cursor[128] = "";
    for (int page = 0; page < 5; page++) {
        char text[256];
        if (cursor[0])
            snprintf(text, sizeof(text),
                     "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/list\",\"params\":{"
                     "\"cursor\":\"%s\"}}",
                     page + 10, cursor);
        else
            snprintf(text, sizeof(text),
                     "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/list\"}", page + 10);
        assert_int_equal(rx(&t, text, NULL, NULL), 0);
        cJSON *r = result_of(only(&t));
        cJSON *tool;
        cJSON_ArrayForEach(tool, cJSON_GetObjectItem(r, "tools"))
        {
            assert_true(seen < 7);
            assert_string_equal(cJSON_GetObjectItem(tool, "name")->valuestring, expect[seen]);
            assert_non_null(cJSON_GetObjectItem(tool, "inputSchema"));
            seen++;
        }
        cJSON *next = cJSON_GetObjectItem(r, "nextCursor");
        if (!next) {
            tt_clear(&t);
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", next->valuestring);
        tt_clear(&t);
    }
    assert_int_equal(seen, 7);

    /* Schemas and annotations pass through unchanged. */
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", NULL, NULL),
                     0);
    cJSON *echo = cJSON_GetArrayItem(cJSON_GetObjectItem(result_of(only(&t)), "tools"), 0);
    assert_string_equal(cJSON_GetObjectItem(echo, "title")->valuestring, "Echo");
    assert_true(cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(echo, "annotations"), "readOnlyHint")));
    assert_string_equal(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(echo, "inputSchema"), "properties"),
                "text"),
            "type")
            ->valuestring,
        "string");
    tt_clear(&t);

    /* Invalid cursors. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{"
                        "\"cursor\":\"not-a-cursor!\"}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "invalid cursor");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"prompts/list\",\"params\":{"
                        "\"cursor\":5}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "invalid cursor");
    tt_clear(&t);
    tt_free(&t);
    fx_teardown(&fx);
}

static void test_tools_call(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    mcp_receive_info_t info;
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"echo\",\"arguments\":{\"text\":\"hi\"}}}",
                        &t, &info),
                     0);
    assert_int_equal(info.requests, 1);
    assert_int_equal(info.replies, 1);
    assert_string_equal(text0(result_of(only(&t))), "echo:hi:1");
    assert_true(t.sent[0].final);
    assert_string_equal(t.sent[0].related_id, "5");
    tt_clear(&t);

    /* No arguments: the handler gets an empty object. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"echo\"}}",
                        NULL, NULL),
                     0);
    assert_string_equal(text0(result_of(only(&t))), "echo:-:0");
    tt_clear(&t);

    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"nope\"}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "Unknown tool: nope");
    tt_clear(&t);

    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "\"name\"");
    tt_clear(&t);

    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"echo\",\"arguments\":[1]}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "\"arguments\"");
    tt_clear(&t);

    /* A tool execution error is a result with isError, not a JSON-RPC error. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"fail\",\"arguments\":{}}}",
                        NULL, NULL),
                     0);
    cJSON *r = result_of(only(&t));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "isError")));
    assert_non_null(strstr(text0(r), "intentionally"));
    tt_clear(&t);

    /* An invalid message gets -32600 with its id; a request id already in flight too. */
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":\"bad\",\"method\":7}", NULL, &info), 0);
    assert_int_equal(info.invalid, 1);
    assert_int_equal(info.replies, 1);
    cJSON *e = only(&t);
    expect_error(e, JSONRPC_INVALID_REQUEST, "\"method\" must be a string");
    assert_string_equal(cJSON_GetObjectItem(e, "id")->valuestring, "bad");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"slow\"}}",
                        NULL, NULL),
                     0);
    assert_int_equal(t.n, 0);
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"ping\"}", NULL, NULL), 0);
    expect_error(only(&t), JSONRPC_INVALID_REQUEST, "already in flight");
    tt_clear(&t);
    run_until_sent(&fx, &t);
    tt_clear(&t);
    tt_free(&t);
    fx_teardown(&fx);
}

static void test_async_and_drained(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    int origin_a, origin_b;
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"slow\"}}",
                        &origin_a, NULL),
                     0);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"method\":\"tools/call\","
                        "\"params\":{\"name\":\"slow\"}}",
                        &origin_b, NULL),
                     0);
    assert_int_equal(t.n, 0);
    assert_int_equal(mcp_session_inflight(t.session), 2);
    t.drained = 0;
    /* Other requests are served while the slow ones wait. */
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}", NULL, NULL), 0);
    result_of(only(&t));
    tt_clear(&t);
    while (t.n < 2)
        uv_run(&fx.loop, UV_RUN_ONCE);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(text0(result_of(t.sent[i].msg)), "slow done");
        assert_true(t.sent[i].final);
        cJSON *id = cJSON_GetObjectItem(t.sent[i].msg, "id");
        if (cJSON_IsNumber(id))
            assert_true(t.sent[i].origin == &origin_a);
        else
            assert_true(t.sent[i].origin == &origin_b && !strcmp(id->valuestring, "two"));
    }
    assert_int_equal(mcp_session_inflight(t.session), 0);
    assert_int_equal(t.drained, 1);
    tt_clear(&t);
    tt_free(&t);
    fx_teardown(&fx);
}

static void test_progress(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    /* Integer token. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"progress\",\"_meta\":{\"progressToken\":7}}}",
                        &t, NULL),
                     0);
    assert_int_equal(t.n, 4);
    double expect[] = {0, 50, 100};
    for (int i = 0; i < 3; i++) {
        cJSON *m = t.sent[i].msg;
        assert_string_equal(cJSON_GetObjectItem(m, "method")->valuestring,
                            "notifications/progress");
        cJSON *p = cJSON_GetObjectItem(m, "params");
        cJSON *tok = cJSON_GetObjectItem(p, "progressToken");
        assert_true(cJSON_IsNumber(tok) && tok->valueint == 7);
        assert_true(cJSON_GetObjectItem(p, "progress")->valuedouble == expect[i]);
        assert_false(t.sent[i].final);
        assert_true(t.sent[i].origin == &t);
        assert_string_equal(t.sent[i].related_id, "1");
    }
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(t.sent[1].msg, "params"), "message"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(t.sent[2].msg, "params"), "total"));
    assert_string_equal(text0(result_of(t.sent[3].msg)), "progressed");
    assert_true(t.sent[3].final);
    assert_int_equal(fx.progress_rc_decrease, MCP_EINVAL);
    tt_clear(&t);

    /* String token keeps its type. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"progress\",\"_meta\":{\"progressToken\":\"7\"}}}",
                        NULL, NULL),
                     0);
    assert_int_equal(t.n, 4);
    cJSON *tok = cJSON_GetObjectItem(cJSON_GetObjectItem(t.sent[0].msg, "params"), "progressToken");
    assert_true(cJSON_IsString(tok));
    assert_string_equal(tok->valuestring, "7");
    tt_clear(&t);

    /* Without a token no progress is sent. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"progress\"}}",
                        NULL, NULL),
                     0);
    assert_string_equal(text0(result_of(only(&t))), "no token");
    assert_int_equal(fx.progress_rc_no_token, MCP_ESTATE);
    tt_clear(&t);
    tt_free(&t);
    fx_teardown(&fx);
}

static void test_logging(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t, u;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    handshake(&fx, &u, "2025-06-18", "{}", 1);
    /* Default level lets everything through. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"log\"}}",
                        NULL, NULL),
                     0);
    assert_int_equal(t.n, 4);
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"logging/setLevel\","
                        "\"params\":{\"level\":\"warning\"}}",
                        NULL, NULL),
                     0);
    cJSON *r = result_of(only(&t));
    assert_int_equal(cJSON_GetArraySize(r), 0);
    assert_int_equal(mcp_session_log_level(t.session), MCP_LOG_WARNING);
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"log\"}}",
                        &t, NULL),
                     0);
    assert_int_equal(t.n, 2);
    cJSON *p = cJSON_GetObjectItem(t.sent[0].msg, "params");
    assert_string_equal(cJSON_GetObjectItem(t.sent[0].msg, "method")->valuestring,
                        "notifications/message");
    assert_string_equal(cJSON_GetObjectItem(p, "level")->valuestring, "error");
    assert_string_equal(cJSON_GetObjectItem(p, "data")->valuestring, "error msg");
    assert_null(cJSON_GetObjectItem(p, "logger"));
    assert_true(t.sent[0].origin == &t && !t.sent[0].final);
    tt_clear(&t);

    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"logging/setLevel\","
                        "\"params\":{\"level\":\"loud\"}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "invalid log level \"loud\"");
    tt_clear(&t);

    /* Broadcast: t (warning) drops info, u (default) gets it; both get error. */
    assert_int_equal(
        mcp_server_broadcast_log(fx.server, MCP_LOG_INFO, "srv", cJSON_CreateString("hello")), 1);
    assert_int_equal(t.n, 0);
    assert_int_equal(u.n, 1);
    assert_false(u.sent[0].related);
    assert_null(u.sent[0].origin);
    assert_int_equal(
        mcp_server_broadcast_log(fx.server, MCP_LOG_ERROR, "srv", cJSON_Parse("{\"error\":\"x\"}")),
        2);
    tt_free(&t);
    tt_free(&u);
    fx_teardown(&fx);
}

static void test_subscribe(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t, u;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    handshake(&fx, &u, "2025-11-25", "{}", 1);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/subscribe\","
                        "\"params\":{\"uri\":\"test://watched-resource\"}}",
                        NULL, NULL),
                     0);
    assert_int_equal(cJSON_GetArraySize(result_of(only(&t))), 0);
    tt_clear(&t);
    assert_true(mcp_session_is_subscribed(t.session, "test://watched-resource"));
    assert_int_equal(mcp_server_notify_resource_updated(fx.server, "test://watched-resource"), 1);
    cJSON *n = only(&t);
    assert_string_equal(cJSON_GetObjectItem(n, "method")->valuestring,
                        "notifications/resources/updated");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(n, "params"), "uri")->valuestring,
                        "test://watched-resource");
    assert_null(t.sent[0].origin);
    assert_int_equal(u.n, 0);
    tt_clear(&t);
    assert_int_equal(mcp_server_notify_resource_updated(fx.server, "test://other"), 0);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/unsubscribe\","
                        "\"params\":{\"uri\":\"test://watched-resource\"}}",
                        NULL, NULL),
                     0);
    result_of(only(&t));
    tt_clear(&t);
    assert_int_equal(mcp_server_notify_resource_updated(fx.server, "test://watched-resource"), 0);
    assert_int_equal(t.n, 0);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/subscribe\","
                        "\"params\":{}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "\"uri\"");
    tt_clear(&t);
    tt_free(&t);
    tt_free(&u);
    fx_teardown(&fx);
}

static void test_completion(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\","
                        "\"params\":{\"ref\":{\"type\":\"ref/prompt\",\"name\":"
                        "\"test_prompt_with_arguments\"},\"argument\":{\"name\":\"arg1\","
                        "\"value\":\"py\"}}}",
                        NULL, NULL),
                     0);
    cJSON *c = cJSON_GetObjectItem(result_of(only(&t)), "completion");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, "values")), 2);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "values"), 0)->valuestring,
                        "python");
    assert_int_equal(cJSON_GetObjectItem(c, "total")->valueint, 10);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "hasMore")));
    assert_string_equal(fx.last_complete_value, "py");
    tt_clear(&t);
    /* No handler for arg2: an empty completion. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"completion/complete\","
                        "\"params\":{\"ref\":{\"type\":\"ref/prompt\",\"name\":"
                        "\"test_prompt_with_arguments\"},\"argument\":{\"name\":\"arg2\","
                        "\"value\":\"x\"}}}",
                        NULL, NULL),
                     0);
    c = cJSON_GetObjectItem(result_of(only(&t)), "completion");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, "values")), 0);
    assert_int_equal(cJSON_GetObjectItem(c, "total")->valueint, 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c, "hasMore")));
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"completion/complete\","
                        "\"params\":{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"nope\"},"
                        "\"argument\":{\"name\":\"a\",\"value\":\"x\"}}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "unknown prompt: nope");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"completion/complete\","
                        "\"params\":{\"ref\":{\"type\":\"ref/other\"}}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "ref");
    tt_clear(&t);
    tt_free(&t);
    fx_teardown(&fx);
}

static void test_prompts_and_resources(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    assert_int_equal(
        rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/list\"}", NULL, NULL), 0);
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(result_of(only(&t)), "prompts"), 0);
    assert_string_equal(cJSON_GetObjectItem(p, "description")->valuestring,
                        "A prompt with arguments");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(p, "arguments"), 1), "required")));
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"prompts/get\",\"params\":{"
                        "\"name\":\"test_prompt_with_arguments\",\"arguments\":{\"arg1\":"
                        "\"testValue1\"}}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "missing required argument \"arg2\"");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"prompts/get\",\"params\":{"
                        "\"name\":\"test_prompt_with_arguments\",\"arguments\":{\"arg1\":"
                        "\"testValue1\",\"arg2\":\"testValue2\"}}}",
                        NULL, NULL),
                     0);
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(result_of(only(&t)), "messages"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "content"), "text")->valuestring,
                        "Prompt with arguments: arg1='testValue1', arg2='testValue2'");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"prompts/get\",\"params\":{"
                        "\"name\":\"test_prompt_with_arguments\",\"arguments\":{\"arg1\":1,"
                        "\"arg2\":\"x\"}}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "argument \"arg1\" must be a string");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"prompts/get\",\"params\":{"
                        "\"name\":\"nope\"}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "unknown prompt: nope");
    tt_clear(&t);

    /* Resources: static, template (with a percent-encoded value), not found. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"resources/read\","
                        "\"params\":{\"uri\":\"test://static-text\"}}",
                        NULL, NULL),
                     0);
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(result_of(only(&t)), "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c0, "mimeType")->valuestring, "text/plain");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"resources/read\","
                        "\"params\":{\"uri\":\"test://template/123/data\"}}",
                        NULL, NULL),
                     0);
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(result_of(only(&t)), "contents"), 0);
    assert_non_null(strstr(cJSON_GetObjectItem(c0, "text")->valuestring, "123"));
    assert_string_equal(cJSON_GetObjectItem(c0, "uri")->valuestring, "test://template/123/data");
    assert_string_equal(fx.last_template_id, "123");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"resources/read\","
                        "\"params\":{\"uri\":\"test://template/a%20b/data\"}}",
                        NULL, NULL),
                     0);
    result_of(only(&t));
    assert_string_equal(fx.last_template_id, "a b");
    tt_clear(&t);
    /* {id} does not span '/'. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"resources/read\","
                        "\"params\":{\"uri\":\"test://template/1/2/data\"}}",
                        NULL, NULL),
                     0);
    cJSON *e = only(&t);
    expect_error(e, JSONRPC_RESOURCE_NOT_FOUND, "Resource not found");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "error"), "data"), "uri")
            ->valuestring,
        "test://template/1/2/data");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"resources/templates/list\"}",
                        NULL, NULL),
                     0);
    cJSON *tpl =
        cJSON_GetArrayItem(cJSON_GetObjectItem(result_of(only(&t)), "resourceTemplates"), 0);
    assert_string_equal(cJSON_GetObjectItem(tpl, "uriTemplate")->valuestring,
                        "test://template/{id}/data");
    tt_clear(&t);
    assert_int_equal(
        rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"resources/list\"}", NULL, NULL), 0);
    cJSON *list = cJSON_GetObjectItem(result_of(only(&t)), "resources");
    assert_int_equal(cJSON_GetArraySize(list), 1); /* templates are not resources */
    tt_clear(&t);
    tt_free(&t);
    fx_teardown(&fx);
}

static void test_cancellation(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":\"c1\",\"method\":\"tools/call\","
                        "\"params\":{\"name\":\"slow\"}}",
                        NULL, NULL),
                     0);
    /* Unknown ids and the wrong type are ignored silently. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                        "\"params\":{\"requestId\":\"zz\"}}",
                        NULL, NULL),
                     0);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                        "\"params\":{\"requestId\":1}}",
                        NULL, NULL),
                     0);
    assert_int_equal(fx.cancel_hooks, 0);
    assert_int_equal(mcp_session_inflight(t.session), 1);
    t.drained = 0;
    mcp_receive_info_t info;
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                        "\"params\":{\"requestId\":\"c1\",\"reason\":\"user\"}}",
                        NULL, &info),
                     0);
    assert_int_equal(info.replies, 0);
    assert_int_equal(info.notifications, 1);
    assert_int_equal(fx.cancel_hooks, 1);
    assert_int_equal(t.abandons, 1);
    assert_string_equal(t.abandoned_id, "\"c1\"");
    assert_int_equal(mcp_session_inflight(t.session), 0);
    assert_int_equal(t.drained, 1);
    /* The timer was closed by the hook; running the loop sends nothing. */
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    assert_int_equal(t.n, 0);

    /* A held call (reference, no hook) answered after cancellation is refused safely. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":\"h\",\"method\":\"tools/call\","
                        "\"params\":{\"name\":\"held\"}}",
                        NULL, NULL),
                     0);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                        "\"params\":{\"requestId\":\"h\"}}",
                        NULL, NULL),
                     0);
    run_until(&fx, &fx.held_done);
    assert_int_equal(fx.held_reply_rc, MCP_ECANCELED);
    assert_int_equal(t.n, 0);
    tt_free(&t);
    fx_teardown(&fx);
}

static void test_server_to_client(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{\"sampling\":{},\"roots\":{}}", 1);
    int origin;
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"sample\"}}",
                        &origin, NULL),
                     0);
    cJSON *req = only(&t);
    assert_string_equal(cJSON_GetObjectItem(req, "method")->valuestring, "sampling/createMessage");
    assert_int_equal(t.sent[0].kind, JSONRPC_REQUEST);
    assert_true(t.sent[0].origin == &origin);
    assert_string_equal(t.sent[0].related_id, "5");
    assert_false(t.sent[0].final);
    int id = cJSON_GetObjectItem(req, "id")->valueint;
    tt_clear(&t);
    /* A response with an unknown id is ignored; the right one completes the tool. */
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":{}}", NULL, NULL), 0);
    assert_int_equal(t.n, 0);
    char text[256];
    snprintf(text, sizeof(text),
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{\"role\":\"assistant\",\"content\":{"
             "\"type\":\"text\",\"text\":\"42\"},\"model\":\"m\"}}",
             id);
    mcp_receive_info_t info;
    assert_int_equal(rx(&t, text, NULL, &info), 0);
    assert_int_equal(info.responses, 1);
    assert_int_equal(info.replies, 0);
    assert_string_equal(text0(result_of(only(&t))), "LLM response: 42");
    assert_true(t.sent[0].origin == &origin);
    assert_true(t.sent[0].final);
    tt_clear(&t);

    /* The client's error response reaches the callback. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"sample\"}}",
                        NULL, NULL),
                     0);
    id = cJSON_GetObjectItem(only(&t), "id")->valueint;
    tt_clear(&t);
    snprintf(
        text, sizeof(text),
        "{\"jsonrpc\":\"2.0\",\"id\":%d,\"error\":{\"code\":-1,\"message\":\"User rejected\"}}",
        id);
    assert_int_equal(rx(&t, text, NULL, NULL), 0);
    assert_string_equal(text0(result_of(only(&t))), "client error -1: User rejected");
    tt_clear(&t);

    /* Elicitation was not declared: refused without sending anything to the client. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"sample\",\"arguments\":{\"method\":\"elicitation/create\"}}}",
                        NULL, NULL),
                     0);
    cJSON *r = result_of(only(&t));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "isError")));
    assert_string_equal(text0(r), "refused: MCP_EUNSUPPORTED");
    tt_clear(&t);

    /* Cancelling the call while its request is pending tells the client and the callback. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"sample\"}}",
                        NULL, NULL),
                     0);
    id = cJSON_GetObjectItem(only(&t), "id")->valueint;
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                        "\"params\":{\"requestId\":8}}",
                        NULL, NULL),
                     0);
    cJSON *n = only(&t);
    assert_string_equal(cJSON_GetObjectItem(n, "method")->valuestring, "notifications/cancelled");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(n, "params"), "requestId")->valueint,
                     id);
    assert_int_equal(fx.sample_status, MCP_ECANCELED);
    tt_clear(&t);
    tt_free(&t);

    /* A session without the capability; and one not yet operational. */
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"sample\"}}",
                        NULL, NULL),
                     0);
    assert_string_equal(text0(result_of(only(&t))), "refused: MCP_EUNSUPPORTED");
    tt_clear(&t);
    tt_free(&t);
    handshake(&fx, &t, "2025-11-25", "{\"sampling\":{}}", 0);
    assert_int_equal(mcp_session_request(t.session, "roots/list", NULL, NULL, NULL), MCP_ESTATE);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"sample\"}}",
                        NULL, NULL),
                     0);
    assert_string_equal(text0(result_of(only(&t))), "refused: MCP_ESTATE");
    tt_clear(&t);
    tt_free(&t);
    fx_teardown(&fx);
}

static void roots_done(const mcp_response_t *resp, void *ud)
{
    int *status = ud;
    *status = resp->status;
    assert_null(resp->call);
}

static void test_session_request_and_input_closed(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{\"roots\":{}}", 1);
    int status = 1;
    assert_int_equal(mcp_session_request(t.session, "roots/list", NULL, roots_done, &status), 0);
    cJSON *req = only(&t);
    assert_null(t.sent[0].origin);
    assert_false(t.sent[0].related);
    assert_null(cJSON_GetObjectItem(req, "params"));
    tt_clear(&t);
    mcp_session_input_closed(t.session);
    assert_int_equal(status, MCP_ECLOSED);
    assert_int_equal(mcp_session_request(t.session, "ping", NULL, roots_done, &status),
                     MCP_ECLOSED);
    tt_free(&t);
    fx_teardown(&fx);
}

static void test_list_changed(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    mcp_tool_def_t d = {"dyn", NULL, "Dynamic", NULL, NULL, NULL};
    assert_int_equal(mcp_server_add_tool(fx.server, &d, tool_plain, "dyn"), 0);
    assert_string_equal(cJSON_GetObjectItem(only(&t), "method")->valuestring,
                        "notifications/tools/list_changed");
    assert_null(t.sent[0].origin);
    tt_clear(&t);
    assert_int_equal(mcp_server_remove_tool(fx.server, "dyn"), 0);
    assert_string_equal(cJSON_GetObjectItem(only(&t), "method")->valuestring,
                        "notifications/tools/list_changed");
    tt_clear(&t);
    assert_int_equal(mcp_server_remove_tool(fx.server, "dyn"), MCP_ENOTFOUND);
    assert_int_equal(t.n, 0);
    mcp_resource_def_t r = {"test://dyn", "dyn", NULL, NULL, NULL, 5, 1};
    assert_int_equal(mcp_server_add_resource(fx.server, &r, res_static, NULL), 0);
    assert_string_equal(cJSON_GetObjectItem(only(&t), "method")->valuestring,
                        "notifications/resources/list_changed");
    tt_clear(&t);
    assert_int_equal(mcp_server_remove_prompt(fx.server, "test_prompt_with_arguments"), 0);
    assert_string_equal(cJSON_GetObjectItem(only(&t), "method")->valuestring,
                        "notifications/prompts/list_changed");
    tt_clear(&t);
    tt_free(&t);
    fx_teardown(&fx);
}

/* Interceptor: "blocked" answered by the interceptor, "delayed" resumed after a timer,
 * "dropped" never answered, everything else continues. */
static void delayed_fire(uv_timer_t *tm)
{
    mcp_call_t *call = tm->data;
    FX->continued = mcp_call_continue(call) == 0;
    assert_int_equal(mcp_call_continue(call), MCP_ESTATE);
    mcp_call_unref(call);
    uv_close((uv_handle_t *)tm, held_closed);
}

static int interceptor(mcp_call_t *call, const char *method, const char *tool, void *ud)
{
    (void)ud;
    FX->intercepted++;
    (void)method;
    if (!tool)
        return MCP_INTERCEPT_CONTINUE;
    if (strcmp(tool, "blocked") == 0) {
        mcp_call_error(call, -32000, "injected fault", NULL);
        return MCP_INTERCEPT_TAKEN;
    }
    if (strcmp(tool, "delayed") == 0) {
        uv_timer_t *tm = mcp_malloc(sizeof(*tm));
        uv_timer_init(mcp_call_loop(call), tm);
        mcp_call_ref(call);
        tm->data = call;
        uv_timer_start(tm, delayed_fire, 5, 0);
        return MCP_INTERCEPT_TAKEN;
    }
    if (strcmp(tool, "dropped") == 0)
        return MCP_INTERCEPT_TAKEN;
    return MCP_INTERCEPT_CONTINUE;
}

static void test_interceptor(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    mcp_tool_def_t d = {"delayed", NULL, "Delayed", NULL, NULL, NULL};
    assert_int_equal(mcp_server_add_tool(fx.server, &d, tool_plain, "delayed ok"), 0);
    mcp_server_set_interceptor(fx.server, interceptor, NULL);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    assert_int_equal(fx.intercepted, 1); /* initialize went through it too */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"blocked\"}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), -32000, "injected fault");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"echo\"}}",
                        NULL, NULL),
                     0);
    assert_string_equal(text0(result_of(only(&t))), "echo:-:0");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"delayed\"}}",
                        NULL, NULL),
                     0);
    assert_int_equal(t.n, 0);
    run_until(&fx, &fx.continued);
    assert_string_equal(text0(result_of(only(&t))), "delayed ok");
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"dropped\"}}",
                        NULL, NULL),
                     0);
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    assert_int_equal(t.n, 0);
    assert_int_equal(mcp_session_inflight(t.session), 1);
    tt_free(&t); /* the dropped call is cancelled with the session */
    fx_teardown(&fx);
}

static void test_close_with_calls_in_flight(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{\"sampling\":{}}", 1);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"slow\"}}",
                        NULL, NULL),
                     0);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"held\"}}",
                        NULL, NULL),
                     0);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"sample\"}}",
                        NULL, NULL),
                     0);
    assert_int_equal(t.n, 1); /* the sampling request */
    tt_clear(&t);
    assert_int_equal(mcp_session_inflight(t.session), 3);
    fx.sample_status = 1;
    mcp_session_close(t.session);
    t.session = NULL;
    assert_int_equal(fx.cancel_hooks, 1);
    assert_int_equal(fx.sample_status, MCP_ECLOSED);
    assert_int_equal(t.n, 0);
    assert_int_equal(t.abandons, 0); /* the transport closed it: no ops after close */
    assert_int_equal(mcp_server_session_count(fx.server), 0);
    /* The held call's timer fires later and is refused without touching freed memory. */
    run_until(&fx, &fx.held_done);
    assert_int_equal(fx.held_reply_rc, MCP_ECANCELED);

    /* mcp_server_free closes remaining sessions and tells their transports. */
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"slow\"}}",
                        NULL, NULL),
                     0);
    mcp_server_free(fx.server);
    fx.server = NULL;
    assert_int_equal(t.closed, 1);
    assert_null(t.session);
    assert_int_equal(fx.cancel_hooks, 2);
    tt_clear(&t);
    fx_teardown(&fx);
}

static void test_batches(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    tt_t t;
    const char *batch = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"},"
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"echo\"}},"
                        "{\"jsonrpc\":\"2.0\",\"id\":3}]";
    handshake(&fx, &t, "2025-03-26", "{}", 1);
    mcp_receive_info_t info;
    assert_int_equal(rx(&t, batch, NULL, &info), 0);
    assert_true(info.batch);
    assert_false(info.batch_rejected);
    assert_int_equal(info.requests, 2);
    assert_int_equal(info.invalid, 1);
    assert_int_equal(info.notifications, 1);
    assert_int_equal(info.replies, 3);
    assert_int_equal(t.n, 3); /* one message per reply, never an array */
    assert_int_equal(cJSON_GetObjectItem(t.sent[0].msg, "id")->valueint, 1);
    assert_string_equal(text0(result_of(t.sent[1].msg)), "echo:-:0");
    expect_error(t.sent[2].msg, JSONRPC_INVALID_REQUEST, "none of");
    tt_clear(&t);
    tt_free(&t);

    handshake(&fx, &t, "2025-06-18", "{}", 1);
    assert_int_equal(rx(&t, batch, NULL, &info), 0);
    assert_true(info.batch_rejected);
    assert_int_equal(info.replies, 1);
    cJSON *e = only(&t);
    expect_error(e, JSONRPC_INVALID_REQUEST, "only allowed with protocol version 2025-03-26");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "id")));
    tt_clear(&t);

    /* Not JSON: -32700 with id null, flagged for HTTP 400. */
    assert_int_equal(rx(&t, "{\"jsonrpc\":", &t, &info), 0);
    assert_true(info.parse_error);
    assert_int_equal(info.replies, 1);
    e = only(&t);
    expect_error(e, JSONRPC_PARSE_ERROR, "Parse error");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "id")));
    assert_true(t.sent[0].final && t.sent[0].origin == &t && !t.sent[0].related);
    tt_clear(&t);
    /* A response-only input needs no reply (HTTP 202). */
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":77,\"result\":{}}", NULL, &info), 0);
    assert_int_equal(info.replies, 0);
    assert_int_equal(info.responses, 1);
    assert_int_equal(t.n, 0);
    tt_free(&t);
    fx_teardown(&fx);
}

static void custom_list(mcp_call_t *call, const cJSON *params, void *ud)
{
    (void)params;
    cJSON *r = cJSON_Parse("{\"tools\":[{\"name\":\"up__x\",\"inputSchema\":{\"type\":\"object\","
                           "\"$defs\":{\"a\":{}},\"additionalProperties\":false}}]}");
    assert_string_equal(mcp_call_method(call), "tools/list");
    mcp_call_reply(call, r);
    (*(int *)ud)++;
}

static void custom_method(mcp_call_t *call, const cJSON *params, void *ud)
{
    (void)ud;
    mcp_call_reply(call, cJSON_Duplicate(params, 1));
}

static void test_method_override(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    mcp_server_t *srv;
    mcp_server_config_t cfg = {.name = "gw", .version = "0", .cap_logging = MCP_CAP_OFF};
    assert_int_equal(mcp_server_create(&loop, &cfg, &srv), 0);
    mcp_server_config_t bad = {.name = "gw"};
    mcp_server_t *none;
    assert_int_equal(mcp_server_create(&loop, &bad, &none), MCP_EINVAL);
    int calls = 0;
    assert_int_equal(mcp_server_set_method(srv, "tools/list", custom_list, &calls), 0);
    assert_int_equal(mcp_server_set_method(srv, "x/custom", custom_method, NULL), 0);
    assert_int_equal(mcp_server_set_method(srv, "initialize", custom_method, NULL), MCP_EINVAL);
    /* Capabilities follow: tools from the override only; no logging, no prompts. */
    cJSON *caps = mcp_server_capabilities(srv);
    assert_non_null(cJSON_GetObjectItem(caps, "tools"));
    assert_null(cJSON_GetObjectItem(caps, "logging"));
    assert_null(cJSON_GetObjectItem(caps, "prompts"));
    assert_null(cJSON_GetObjectItem(caps, "completions"));
    cJSON_Delete(caps);

    tt_t t;
    memset(&t, 0, sizeof(t));
    assert_int_equal(mcp_session_create(srv, &tt_ops, &t, &t.session), 0);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                        "\"protocolVersion\":\"2025-11-25\"}}",
                        NULL, NULL),
                     0);
    tt_clear(&t);
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", NULL, NULL),
                     0);
    cJSON *tool = cJSON_GetArrayItem(cJSON_GetObjectItem(result_of(only(&t)), "tools"), 0);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(tool, "inputSchema"), "$defs"));
    assert_int_equal(calls, 1);
    tt_clear(&t);
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"x/custom\",\"params\":{"
                        "\"a\":1}}",
                        NULL, NULL),
                     0);
    assert_int_equal(cJSON_GetObjectItem(result_of(only(&t)), "a")->valueint, 1);
    tt_clear(&t);
    /* Capability not declared: -32601 even though the method exists built in. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"logging/setLevel\","
                        "\"params\":{\"level\":\"info\"}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_METHOD_NOT_FOUND, "logging/setLevel");
    tt_clear(&t);
    assert_int_equal(
        rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"prompts/list\"}", NULL, NULL), 0);
    expect_error(only(&t), JSONRPC_METHOD_NOT_FOUND, NULL);
    tt_clear(&t);
    /* A capability override replaces derivation. */
    mcp_server_set_capabilities(srv, cJSON_Parse("{\"prompts\":{}}"));
    caps = mcp_server_capabilities(srv);
    assert_null(cJSON_GetObjectItem(caps, "tools"));
    assert_non_null(cJSON_GetObjectItem(caps, "prompts"));
    cJSON_Delete(caps);
    tt_free(&t);
    mcp_server_free(srv);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Failing sends are reported to the handler; allocation failures leak nothing. */
static void test_alloc_failures(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    const char *msgs[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{\"sampling\":{}},\"clientInfo\":{\"name\":\"t\","
        "\"version\":\"1\"}}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
        "\"arguments\":{\"text\":\"x\"},\"_meta\":{\"progressToken\":\"p\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/read\",\"params\":{\"uri\":"
        "\"test://template/9/data\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"sample\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"prompts/get\",\"params\":{\"name\":"
        "\"test_prompt_with_arguments\",\"arguments\":{\"arg1\":\"a\",\"arg2\":\"b\"}}}",
    };
    for (long n = 0; n < 400; n++) {
        tt_t t;
        open_session(&fx, &t);
        alloc_failing = 1;
        mcp_alloc_fail_after(n);
        for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
            (void)rx(&t, msgs[i], NULL, NULL);
        mcp_alloc_fail_after(-1);
        alloc_failing = 0;
        tt_clear(&t);
        tt_free(&t);
    }
    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    t.fail_sends = 1;
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                        "\"name\":\"slow\"}}",
                        NULL, NULL),
                     0);
    t.fail_sends = 0;
    run_until_sent(&fx, &t);
    tt_clear(&t);
    tt_free(&t);
    fx_teardown(&fx);
}

static void res_path(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    (void)ud;
    assert_int_equal(vars->count, 1);
    assert_string_equal(mcp_uri_vars_get(vars, "path"), "a/b/c.txt");
    mcp_call_reply_resource_text(call, uri, NULL, "file");
}

/* Full JSON definitions pass through unchanged (conformance json-schema-2020-12). */
static void test_json_definitions(void **state)
{
    (void)state;
    fx_t fx;
    fx_setup(&fx);
    const char *tool_text =
        "{\"name\":\"json_schema_2020_12_tool\",\"description\":\"d\",\"inputSchema\":{"
        "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
        "\"$defs\":{\"address\":{\"type\":\"object\",\"properties\":{\"street\":{\"type\":"
        "\"string\"},\"city\":{\"type\":\"string\"}}}},\"properties\":{\"name\":{\"type\":"
        "\"string\"},\"address\":{\"$ref\":\"#/$defs/address\"}},\"additionalProperties\":false},"
        "\"icons\":[{\"src\":\"data:image/png;base64,AA==\"}],\"x-extra\":1}";
    cJSON *tool = cJSON_Parse(tool_text);
    assert_int_equal(mcp_server_add_tool_json(fx.server, tool, tool_plain, "ok"), 0);
    assert_int_equal(mcp_server_add_tool_json(fx.server, tool, tool_plain, "ok"), MCP_EEXISTS);
    cJSON *res = cJSON_Parse("{\"uri\":\"test://r\",\"name\":\"r\",\"size\":3,"
                             "\"annotations\":{\"priority\":0.5}}");
    assert_int_equal(mcp_server_add_resource_json(fx.server, res, res_static, NULL), 0);
    cJSON *bad = cJSON_Parse("{\"uri\":\"test://nameless\"}");
    assert_int_equal(mcp_server_add_resource_json(fx.server, bad, res_static, NULL), MCP_EINVAL);
    cJSON_Delete(bad);
    cJSON *tpl = cJSON_Parse("{\"uriTemplate\":\"file:///{+path}\",\"name\":\"files\"}");
    assert_int_equal(mcp_server_add_template_json(fx.server, tpl, res_path, NULL), 0);
    cJSON *prompt = cJSON_Parse("{\"name\":\"p2\",\"description\":\"d\",\"arguments\":[{"
                                "\"name\":\"id\",\"required\":true}]}");
    assert_int_equal(mcp_server_add_prompt_json(fx.server, prompt, prompt_args, NULL), 0);

    tt_t t;
    handshake(&fx, &t, "2025-11-25", "{}", 1);
    assert_int_equal(rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", NULL, NULL),
                     0);
    cJSON *tools = cJSON_GetObjectItem(result_of(only(&t)), "tools");
    cJSON *listed = cJSON_GetArrayItem(tools, cJSON_GetArraySize(tools) - 1);
    assert_true(cJSON_Compare(listed, tool, 1));
    tt_clear(&t);
    assert_int_equal(
        rx(&t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/list\"}", NULL, NULL), 0);
    cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(result_of(only(&t)), "resources"), 1);
    assert_true(cJSON_Compare(r, res, 1));
    tt_clear(&t);
    /* {+path} spans slashes. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/read\","
                        "\"params\":{\"uri\":\"file:///a/b/c.txt\"}}",
                        NULL, NULL),
                     0);
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(result_of(only(&t)), "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c0, "text")->valuestring, "file");
    assert_null(cJSON_GetObjectItem(c0, "mimeType"));
    tt_clear(&t);
    /* A required argument declared in JSON is enforced. */
    assert_int_equal(rx(&t,
                        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"prompts/get\","
                        "\"params\":{\"name\":\"p2\"}}",
                        NULL, NULL),
                     0);
    expect_error(only(&t), JSONRPC_INVALID_PARAMS, "missing required argument \"id\"");
    tt_clear(&t);
    cJSON_Delete(tool);
    cJSON_Delete(res);
    cJSON_Delete(tpl);
    cJSON_Delete(prompt);
    tt_free(&t);
    fx_teardown(&fx);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initialize_versions),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_pagination),
        cmocka_unit_test(test_tools_call),
        cmocka_unit_test(test_async_and_drained),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_logging),
        cmocka_unit_test(test_subscribe),
        cmocka_unit_test(test_completion),
        cmocka_unit_test(test_prompts_and_resources),
        cmocka_unit_test(test_cancellation),
        cmocka_unit_test(test_server_to_client),
        cmocka_unit_test(test_session_request_and_input_closed),
        cmocka_unit_test(test_list_changed),
        cmocka_unit_test(test_interceptor),
        cmocka_unit_test(test_close_with_calls_in_flight),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_method_override),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_json_definitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
