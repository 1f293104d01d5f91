/* Unit tests for mcp_client with an in-memory fake transport: handshake and version checks,
 * correlation, deadlines, cancellation, progress, server->client requests, notifications,
 * session expiry, transport loss, close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "log.h"
#include "mcp_client.h"
#include "mcp_proto.h"

#include <stdio.h>
#include <string.h>

#define MAX_SENT 64

typedef struct {
    mcp_client_transport_t base;
    char *sent[MAX_SENT];
    int nsent;
    int closes;
    int resets;
    const char *version;
    int fail_send;
} fake_t;

static int fake_send(mcp_client_transport_t *t, const char *json, size_t len,
                     const jsonrpc_id_t *id)
{
    fake_t *f = (fake_t *)t;
    assert_null(memchr(json, '\n', len)); /* one line per message */
    if (f->fail_send)
        return f->fail_send;
    assert_true(f->nsent < MAX_SENT);
    f->sent[f->nsent++] = mcp_strndup(json, len);
    (void)id;
    return 0;
}

static void fake_close(mcp_client_transport_t *t)
{
    fake_t *f = (fake_t *)t;
    f->closes++;
    mcp_client_on_transport_closed(t->client, 0);
}

static void fake_set_version(mcp_client_transport_t *t, const char *v)
{
    ((fake_t *)t)->version = v;
}

static void fake_reset(mcp_client_transport_t *t)
{
    ((fake_t *)t)->resets++;
}

static const mcp_client_transport_ops_t fake_ops = {
    .send = fake_send,
    .close = fake_close,
    .set_protocol_version = fake_set_version,
    .reset_session = fake_reset,
};

/* ---- per-test context ---- */

typedef struct {
    mcp_client_t *client;
    int status;
    int done;
    char text[256]; /* result/error summary */
} call_t;

typedef struct {
    uv_loop_t loop;
    fake_t fake;
    mcp_client_t *c;
    int init_done, init_status;
    int closed_cb;
    int closed_reason;
    int close_done;
    char notes[8][96];
    int nnotes;
    mcp_client_incoming_t *incoming[4];
    char incoming_method[4][64];
    int nincoming;
} ctx_t;

static void on_init(mcp_client_t *c, int status, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    t->init_done++;
    t->init_status = status;
}

static void on_notification(mcp_client_t *c, const char *method, const cJSON *params, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    char *p = params ? cJSON_PrintUnformatted(params) : NULL;
    if (t->nnotes < 8)
        snprintf(t->notes[t->nnotes++], 96, "%s %s", method, p ? p : "-");
    cJSON_free(p);
}

static void on_handler(mcp_client_t *c, mcp_client_incoming_t *in, const char *method,
                       const cJSON *params, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    assert_non_null(params);
    assert_true(t->nincoming < 4);
    snprintf(t->incoming_method[t->nincoming], 64, "%s", method);
    t->incoming[t->nincoming++] = in;
}

static void on_closed(mcp_client_t *c, int reason, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    t->closed_cb++;
    t->closed_reason = reason;
}

static void on_close_done(mcp_client_t *c, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    t->close_done++;
}

static void ctx_new(ctx_t *t, const mcp_client_options_t *given)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    mcp_client_options_t o = given ? *given : (mcp_client_options_t){0};
    o.name = "fake";
    o.on_notification = on_notification;
    o.on_closed = on_closed;
    o.userdata = t;
    assert_int_equal(mcp_client_new(&t->loop, &o, &t->c), 0);
    t->fake.base.ops = &fake_ops;
    t->fake.base.kind = "fake";
    assert_int_equal(mcp_client_attach_transport(t->c, &t->fake.base), 0);
    assert_int_equal(mcp_client_attach_transport(t->c, &t->fake.base), MCP_ESTATE);
}

static void ctx_free(ctx_t *t)
{
    if (t->c)
        assert_int_equal(mcp_client_close(t->c, on_close_done, t), 0);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    if (t->c)
        assert_int_equal(t->close_done, 1);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    for (int i = 0; i < t->fake.nsent; i++)
        mcp_free(t->fake.sent[i]);
}

static void inject(ctx_t *t, const char *json)
{
    mcp_client_on_message(t->c, json, strlen(json));
}

static void run_until(ctx_t *t, const int *flag)
{
    for (int i = 0; i < 1000 && !*flag; i++)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_true(*flag);
}

/* Sent message i, parsed (caller deletes). */
static cJSON *sent(ctx_t *t, int i)
{
    assert_true(i < t->fake.nsent);
    cJSON *j = cJSON_Parse(t->fake.sent[i]);
    assert_non_null(j);
    return j;
}

static const char *str_at(const cJSON *j, const char *a, const char *b, const char *c)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    if (c)
        x = cJSON_GetObjectItemCaseSensitive(x, c);
    return cJSON_GetStringValue(x);
}

static double num_at(const cJSON *j, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    assert_true(cJSON_IsNumber(x));
    return x->valuedouble;
}

static void on_call(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    call_t *call = ud;
    call->done++;
    call->status = status;
    call->client = mcp_client_req_client(req);
    if (status == 0) {
        char *p = cJSON_PrintUnformatted(resp->result);
        snprintf(call->text, sizeof call->text, "%s", p);
        cJSON_free(p);
    } else if (status == MCP_EUPSTREAM) {
        /* Take the error message out, as a gateway passing it through would. */
        jsonrpc_msg_t mine = {0};
        jsonrpc_msg_move(&mine, resp);
        char *d = mine.error_data ? cJSON_PrintUnformatted(mine.error_data) : NULL;
        snprintf(call->text, sizeof call->text, "%d %s %s", mine.error_code, mine.error_message,
                 d ? d : "-");
        cJSON_free(d);
        jsonrpc_msg_free(&mine);
    } else {
        assert_null(resp);
    }
}

#define INIT_RESULT(ver)                                                         \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"" ver "\"," \
    "\"capabilities\":{\"tools\":{\"listChanged\":true},\"logging\":{}},"        \
    "\"serverInfo\":{\"name\":\"mock\",\"version\":\"1.0\"},\"instructions\":\"Be nice.\"}}"

/* Inject `response` with its id replaced by the id of the last initialize we sent. */
static void answer_initialize(ctx_t *t, const char *response)
{
    int64_t id = -1;
    for (int i = t->fake.nsent - 1; i >= 0 && id < 0; i--) {
        cJSON *m = sent(t, i);
        const char *method = str_at(m, "method", NULL, NULL);
        if (method && strcmp(method, "initialize") == 0)
            id = (int64_t)num_at(m, "id", NULL);
        cJSON_Delete(m);
    }
    assert_true(id > 0);
    cJSON *r = cJSON_Parse(response);
    assert_non_null(r);
    cJSON_ReplaceItemInObject(r, "id", cJSON_CreateNumber((double)id));
    char *text = cJSON_PrintUnformatted(r);
    inject(t, text);
    cJSON_free(text);
    cJSON_Delete(r);
}

/* Handshake up to ready with the given server version. */
static void handshake(ctx_t *t, const char *result)
{
    assert_int_equal(mcp_client_initialize(t->c, 5000, on_init, t), 0);
    assert_int_equal(mcp_client_initialize(t->c, 5000, on_init, t), MCP_ESTATE);
    assert_int_equal(t->init_done, 0);
    answer_initialize(t, result);
    run_until(t, &t->init_done);
}

/* ---- tests ---- */

static void test_initialize(void **state)
{
    (void)state;
    ctx_t t;
    mcp_client_options_t o = {.on_sampling = on_handler,
                              .client_name = "gw",
                              .client_version = "9.9",
                              .client_title = "Gateway"};
    ctx_new(&t, &o);
    call_t early = {0};
    /* A request before the handshake is held and sent after notifications/initialized. */
    assert_int_equal(mcp_client_request(t.c, "tools/list", NULL, 0, on_call, &early, NULL), 0);
    assert_int_equal(mcp_client_initialize(t.c, 5000, on_init, &t), 0);
    assert_int_equal(t.fake.nsent, 1);
    cJSON *init = sent(&t, 0);
    assert_string_equal(str_at(init, "method", NULL, NULL), "initialize");
    assert_string_equal(str_at(init, "params", "protocolVersion", NULL), MCP_PROTOCOL_LATEST);
    assert_string_equal(str_at(init, "params", "clientInfo", "name"), "gw");
    assert_string_equal(str_at(init, "params", "clientInfo", "version"), "9.9");
    assert_string_equal(str_at(init, "params", "clientInfo", "title"), "Gateway");
    cJSON *caps = cJSON_GetObjectItem(cJSON_GetObjectItem(init, "params"), "capabilities");
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(caps, "sampling")));
    assert_null(cJSON_GetObjectItem(caps, "roots"));
    assert_null(cJSON_GetObjectItem(caps, "elicitation"));
    int64_t init_id = (int64_t)num_at(init, "id", NULL);
    cJSON_Delete(init);
    assert_false(mcp_client_ready(t.c));

    char result[512];
    snprintf(result, sizeof result,
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"protocolVersion\":\"2025-11-25\","
             "\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"mock\",\"version\":"
             "\"1\"},\"instructions\":\"Be nice.\",\"unknownField\":1}}",
             (long long)init_id);
    inject(&t, result);
    assert_int_equal(t.init_done, 1); /* a received response completes at once */
    assert_int_equal(t.init_status, 0);
    assert_true(mcp_client_ready(t.c));
    assert_string_equal(mcp_client_protocol_version(t.c), "2025-11-25");
    assert_string_equal(t.fake.version, "2025-11-25");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(mcp_client_server_info(t.c), "name")), "mock");
    assert_true(mcp_client_server_has(t.c, "tools"));
    assert_false(mcp_client_server_has(t.c, "prompts"));
    assert_string_equal(mcp_client_instructions(t.c), "Be nice.");

    assert_int_equal(t.fake.nsent, 3);
    cJSON *m = sent(&t, 1);
    assert_string_equal(str_at(m, "method", NULL, NULL), "notifications/initialized");
    assert_null(cJSON_GetObjectItem(m, "id"));
    cJSON_Delete(m);
    m = sent(&t, 2);
    assert_string_equal(str_at(m, "method", NULL, NULL), "tools/list");
    cJSON_Delete(m);
    assert_int_equal(mcp_client_pending(t.c), 1);
    ctx_free(&t);
    assert_int_equal(early.done, 1);
    assert_int_equal(early.status, MCP_ECANCELED); /* closed while pending */
}

static void test_capabilities_declared_by_handlers(void **state)
{
    (void)state;
    ctx_t t;
    mcp_client_options_t o = {.on_sampling = on_handler,
                              .on_elicitation = on_handler,
                              .on_roots = on_handler,
                              .roots_list_changed = 1};
    ctx_new(&t, &o);
    assert_int_equal(mcp_client_initialize(t.c, 0, on_init, &t), 0);
    cJSON *init = sent(&t, 0);
    cJSON *caps = cJSON_GetObjectItem(cJSON_GetObjectItem(init, "params"), "capabilities");
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(caps, "sampling")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(caps, "elicitation")));
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(caps, "roots"), "listChanged")));
    cJSON_Delete(init);
    ctx_free(&t);
    assert_int_equal(t.init_done, 1);
    assert_int_equal(t.init_status, MCP_ECANCELED);

    ctx_new(&t, NULL);
    assert_int_equal(mcp_client_initialize(t.c, 0, on_init, &t), 0);
    init = sent(&t, 0);
    caps = cJSON_GetObjectItem(cJSON_GetObjectItem(init, "params"), "capabilities");
    assert_int_equal(cJSON_GetArraySize(caps), 0);
    assert_string_equal(str_at(init, "params", "clientInfo", "name"), "mcp-gateway");
    cJSON_Delete(init);
    ctx_free(&t);
}

static void test_version_downgrade_accepted(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2024-11-05"));
    assert_int_equal(t.init_status, 0);
    assert_string_equal(mcp_client_protocol_version(t.c), "2024-11-05");
    assert_string_equal(t.fake.version, "2024-11-05");
    ctx_free(&t);

    /* A client asking for an older version accepts exactly that. */
    mcp_client_options_t o = {.protocol_version = "2025-06-18"};
    ctx_new(&t, &o);
    handshake(&t, INIT_RESULT("2025-06-18"));
    assert_int_equal(t.init_status, 0);
    cJSON *init = sent(&t, 0);
    assert_string_equal(str_at(init, "params", "protocolVersion", NULL), "2025-06-18");
    cJSON_Delete(init);
    ctx_free(&t);
}

static void check_refused(const char *result, const char *version_text)
{
    ctx_t t;
    ctx_new(&t, NULL);
    call_t held = {0};
    assert_int_equal(mcp_client_request(t.c, "tools/list", NULL, 0, on_call, &held, NULL), 0);
    handshake(&t, result);
    assert_int_equal(t.init_status, MCP_EUNSUPPORTED);
    assert_false(mcp_client_ready(t.c));
    assert_null(mcp_client_protocol_version(t.c));
    assert_non_null(strstr(mcp_client_error_message(t.c), version_text));
    assert_int_equal(t.fake.nsent, 1); /* no notifications/initialized, no held request */
    run_until(&t, &held.done);
    assert_int_equal(held.status, MCP_EUNSUPPORTED);
    call_t late = {0};
    assert_int_equal(mcp_client_request(t.c, "tools/list", NULL, 0, on_call, &late, NULL),
                     MCP_ESTATE);
    ctx_free(&t);
    assert_int_equal(late.done, 0);
}

static void test_version_unsupported_refused(void **state)
{
    (void)state;
    check_refused(INIT_RESULT("2099-01-01"), "2099-01-01"); /* newer than asked */
    check_refused(INIT_RESULT("1999-01-01"), "1999-01-01"); /* unknown old one */
}

static void test_initialize_errors(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,\"message\":"
                  "\"Unsupported protocol version\",\"data\":{\"supported\":[\"1.0\"]}}}");
    assert_int_equal(t.init_status, MCP_EUPSTREAM);
    assert_non_null(strstr(mcp_client_error_message(t.c), "-32602"));
    ctx_free(&t);

    ctx_new(&t, NULL);
    handshake(&t, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"capabilities\":{}}}");
    assert_int_equal(t.init_status, MCP_EPROTO);
    ctx_free(&t);

    /* Initialize deadline: no notifications/cancelled for initialize (spec). */
    ctx_new(&t, NULL);
    assert_int_equal(mcp_client_initialize(t.c, 10, on_init, &t), 0);
    run_until(&t, &t.init_done);
    assert_int_equal(t.init_status, MCP_ETIMEDOUT);
    assert_int_equal(t.fake.nsent, 1);
    ctx_free(&t);
}

static void test_correlation_out_of_order(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-11-25"));
    call_t calls[3] = {{0}};
    mcp_client_req_t *reqs[3];
    for (int i = 0; i < 3; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "n", i);
        assert_int_equal(
            mcp_client_request(t.c, "tools/call", p, 5000, on_call, &calls[i], &reqs[i]), 0);
    }
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = mcp_client_req_id(reqs[i]);
        cJSON *m = sent(&t, 2 + i);
        assert_int_equal((int64_t)num_at(m, "id", NULL), ids[i]);
        assert_int_equal((int)num_at(m, "params", "n"), i);
        assert_string_equal(mcp_client_req_method(reqs[i]), "tools/call");
        cJSON_Delete(m);
    }
    assert_true(ids[0] != ids[1] && ids[1] != ids[2]);
    char buf[160];
    /* A string id equal in text to ours is a different id; an unknown id is ignored. */
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":\"%lld\",\"result\":{\"r\":99}}",
             (long long)ids[0]);
    inject(&t, buf);
    inject(&t, "{\"jsonrpc\":\"2.0\",\"id\":12345,\"result\":{}}");
    const int order[3] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
        int i = order[k];
        snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"r\":%d}}",
                 (long long)ids[i], i);
        inject(&t, buf);
        assert_int_equal(calls[i].done, 1);
    }
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"r\":%d}", i);
        assert_int_equal(calls[i].status, 0);
        assert_string_equal(calls[i].text, want);
        assert_ptr_equal(calls[i].client, t.c);
    }
    /* A duplicate response after completion is ignored. */
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long)ids[1]);
    inject(&t, buf);
    assert_int_equal(calls[1].done, 1);
    assert_int_equal(mcp_client_pending(t.c), 0);
    ctx_free(&t);
}

static void test_error_response_and_batch(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-03-26"));
    call_t a = {0}, b = {0}, bad = {0};
    mcp_client_req_t *ra, *rb, *rbad;
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 0, on_call, &a, &ra), 0);
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 0, on_call, &b, &rb), 0);
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 0, on_call, &bad, &rbad), 0);
    char buf[400];
    snprintf(buf, sizeof buf,
             "[{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":-32602,\"message\":"
             "\"Unknown tool: x\",\"data\":{\"k\":1}}},{\"jsonrpc\":\"2.0\",\"id\":%lld,"
             "\"result\":{\"ok\":true}}]",
             (long long)mcp_client_req_id(ra), (long long)mcp_client_req_id(rb));
    inject(&t, buf);
    assert_int_equal(a.status, MCP_EUPSTREAM);
    assert_string_equal(a.text, "-32602 Unknown tool: x {\"k\":1}");
    assert_int_equal(b.status, 0);
    /* A malformed response (neither result nor error) fails its request. */
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld}",
             (long long)mcp_client_req_id(rbad));
    inject(&t, buf);
    assert_int_equal(bad.done, 1);
    assert_int_equal(bad.status, MCP_EPROTO);
    inject(&t, "this is not json"); /* logged and ignored */
    ctx_free(&t);
}

static int count_cancelled(ctx_t *t, int64_t id, const char *reason)
{
    int n = 0;
    for (int i = 0; i < t->fake.nsent; i++) {
        cJSON *m = sent(t, i);
        const char *method = str_at(m, "method", NULL, NULL);
        if (method && strcmp(method, "notifications/cancelled") == 0 &&
            (int64_t)num_at(m, "params", "requestId") == id) {
            assert_null(cJSON_GetObjectItem(m, "id"));
            if (reason)
                assert_string_equal(str_at(m, "params", "reason", NULL), reason);
            n++;
        }
        cJSON_Delete(m);
    }
    return n;
}

static void test_deadline(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-11-25"));
    call_t slow = {0}, fast = {0}, none = {0};
    mcp_client_req_t *rs, *rf, *rn;
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 60000, on_call, &slow, &rs), 0);
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 20, on_call, &fast, &rf), 0);
    assert_int_equal(mcp_client_request(t.c, "ping", NULL, 0, on_call, &none, &rn), 0);
    int64_t id = mcp_client_req_id(rf);
    uint64_t t0 = uv_now(&t.loop);
    run_until(&t, &fast.done);
    assert_true(uv_now(&t.loop) - t0 >= 20);
    assert_int_equal(fast.status, MCP_ETIMEDOUT);
    assert_int_equal(slow.done, 0);
    assert_int_equal(count_cancelled(&t, id, "timeout"), 1);
    char buf[128];
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long)id);
    inject(&t, buf); /* late answer: ignored */
    assert_int_equal(fast.done, 1);
    /* Answer the others: no timer may keep the loop alive afterwards. */
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}",
             (long long)mcp_client_req_id(rs));
    inject(&t, buf);
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}",
             (long long)mcp_client_req_id(rn));
    inject(&t, buf);
    assert_int_equal(slow.status, 0);
    t0 = uv_now(&t.loop);
    uv_run(&t.loop, UV_RUN_DEFAULT); /* returns at once: nothing active */
    assert_true(uv_now(&t.loop) - t0 < 1000);
    ctx_free(&t);
}

static void test_cancel(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    /* A held request (before ready) is cancelled without telling the server. */
    call_t held = {0};
    mcp_client_req_t *rh;
    assert_int_equal(mcp_client_request(t.c, "tools/list", NULL, 0, on_call, &held, &rh), 0);
    int64_t held_id = mcp_client_req_id(rh);
    assert_int_equal(mcp_client_cancel(rh, NULL), 0);
    assert_int_equal(held.done, 0); /* never from inside the call */
    handshake(&t, INIT_RESULT("2025-11-25"));
    run_until(&t, &held.done);
    assert_int_equal(held.status, MCP_ECANCELED);
    assert_int_equal(count_cancelled(&t, held_id, NULL), 0);

    call_t c1 = {0};
    mcp_client_req_t *r1;
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 5000, on_call, &c1, &r1), 0);
    int64_t id = mcp_client_req_id(r1);
    assert_int_equal(mcp_client_cancel(r1, "user"), 0);
    assert_int_equal(mcp_client_cancel(r1, "again"), MCP_ESTATE);
    assert_int_equal(c1.done, 0);
    assert_int_equal(count_cancelled(&t, id, "user"), 1);
    char buf[128];
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long)id);
    inject(&t, buf); /* the late response is ignored */
    run_until(&t, &c1.done);
    assert_int_equal(c1.done, 1);
    assert_int_equal(c1.status, MCP_ECANCELED);
    ctx_free(&t);
}

typedef struct {
    int n;
    double progress, total;
    char message[64];
} progress_t;

typedef struct {
    call_t call; /* first: on_call sees a call_t */
    progress_t progress;
} call_progress_t;

static void on_progress(mcp_client_req_t *req, double progress, double total, const char *msg,
                        const cJSON *params, void *ud)
{
    (void)req;
    assert_non_null(params);
    progress_t *pr = &((call_progress_t *)ud)->progress;
    pr->n++;
    pr->progress = progress;
    pr->total = total;
    snprintf(pr->message, sizeof pr->message, "%s", msg ? msg : "(null)");
}

static void test_progress(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-11-25"));
    call_progress_t cp = {0};
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "name", "slow");
    mcp_client_call_t call = {.method = "tools/call",
                              .params = params,
                              .cb = on_call,
                              .on_progress = on_progress,
                              .ud = &cp};
    mcp_client_req_t *r;
    assert_int_equal(mcp_client_request_ex(t.c, &call, &r), 0);
    int64_t id = mcp_client_req_id(r);
    cJSON *m = sent(&t, t.fake.nsent - 1);
    assert_int_equal((int64_t)num_at(cJSON_GetObjectItem(m, "params"), "_meta", "progressToken"),
                     id);
    assert_string_equal(str_at(m, "params", "name", NULL), "slow");
    cJSON_Delete(m);
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
             "{\"progressToken\":%lld,\"progress\":50,\"total\":100,\"message\":\"half\"}}",
             (long long)id);
    inject(&t, buf);
    assert_int_equal(cp.progress.n, 1);
    assert_true(cp.progress.progress == 50 && cp.progress.total == 100);
    assert_string_equal(cp.progress.message, "half");
    snprintf(buf, sizeof buf,
             "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
             "{\"progressToken\":%lld,\"progress\":75}}",
             (long long)id);
    inject(&t, buf);
    assert_int_equal(cp.progress.n, 2);
    assert_true(cp.progress.progress == 75 && cp.progress.total < 0);
    assert_string_equal(cp.progress.message, "(null)");
    /* Unknown tokens (and the string form of ours) are ignored; progress is not a notification
     * for the owner. */
    inject(&t, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
               "{\"progressToken\":\"zzz\",\"progress\":1}}");
    assert_int_equal(cp.progress.n, 2);
    assert_int_equal(t.nnotes, 0);
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}", (long long)id);
    inject(&t, buf);
    assert_int_equal(cp.call.status, 0);
    ctx_free(&t);
}

typedef struct {
    ctx_t *t;
    int64_t id;
} later_progress_t;

static void send_progress_later(uv_timer_t *timer)
{
    later_progress_t *lp = timer->data;
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
             "{\"progressToken\":%lld,\"progress\":1}}",
             (long long)lp->id);
    inject(lp->t, buf);
    uv_close((uv_handle_t *)timer, NULL);
}

static void test_progress_extends_deadline(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-11-25"));
    call_progress_t cp = {0};
    mcp_client_call_t call = {.method = "tools/call",
                              .deadline_ms = 100,
                              .max_deadline_ms = 160,
                              .cb = on_call,
                              .on_progress = on_progress,
                              .ud = &cp};
    mcp_client_req_t *r;
    uv_update_time(&t.loop);
    uint64_t t0 = uv_now(&t.loop);
    assert_int_equal(mcp_client_request_ex(t.c, &call, &r), 0);
    later_progress_t lp = {&t, mcp_client_req_id(r)};
    uv_timer_t timer;
    uv_timer_init(&t.loop, &timer);
    timer.data = &lp;
    uv_timer_start(&timer, send_progress_later, 70, 0);
    run_until(&t, &cp.call.done);
    assert_int_equal(cp.call.status, MCP_ETIMEDOUT);
    assert_int_equal(cp.progress.n, 1);
    uint64_t took = uv_now(&t.loop) - t0;
    /* Without the reset it would expire at 100 ms; with it at min(70 + 100, 160). */
    assert_true(took >= 160);
    ctx_free(&t);
}

static void test_server_requests(void **state)
{
    (void)state;
    ctx_t t;
    mcp_client_options_t o = {.on_sampling = on_handler, .on_elicitation = on_handler};
    ctx_new(&t, &o);
    /* ping is answered even before the handshake completes. */
    assert_int_equal(mcp_client_initialize(t.c, 0, on_init, &t), 0);
    inject(&t, "{\"jsonrpc\":\"2.0\",\"id\":\"p1\",\"method\":\"ping\"}");
    cJSON *m = sent(&t, 1);
    assert_string_equal(str_at(m, "id", NULL, NULL), "p1");
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(m, "result")));
    cJSON_Delete(m);
    answer_initialize(&t, INIT_RESULT("2025-11-25"));
    int base = t.fake.nsent;

    inject(&t, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"sampling/createMessage\",\"params\":"
               "{\"messages\":[],\"maxTokens\":5}}");
    inject(&t, "{\"jsonrpc\":\"2.0\",\"id\":\"e\",\"method\":\"elicitation/create\",\"params\":"
               "{\"message\":\"name?\"}}");
    assert_int_equal(t.nincoming, 2);
    assert_string_equal(t.incoming_method[0], "sampling/createMessage");
    assert_int_equal(t.fake.nsent, base); /* nothing answered yet: handlers are async */
    /* roots/list without a handler, and an unknown method: -32601. */
    inject(&t, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"roots/list\",\"params\":{}}");
    inject(&t, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"bogus/thing\"}");
    assert_int_equal(t.fake.nsent, base + 2);
    m = sent(&t, base);
    assert_int_equal((int)num_at(m, "id", NULL), 8);
    assert_int_equal((int)num_at(m, "error", "code"), -32601);
    cJSON_Delete(m);
    /* Now answer sampling (integer id kept as integer) and elicitation with an error. */
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "model", "m");
    assert_int_equal(mcp_client_incoming_id(t.incoming[0])->type, JSONRPC_ID_INT);
    assert_int_equal(mcp_client_reply(t.incoming[0], res), 0);
    m = sent(&t, base + 2);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(m, "id")));
    assert_int_equal((int)num_at(m, "id", NULL), 7);
    assert_string_equal(str_at(m, "result", "model", NULL), "m");
    cJSON_Delete(m);
    assert_int_equal(mcp_client_reply_error(t.incoming[1], -32603, "no user", NULL), 0);
    m = sent(&t, base + 3);
    assert_string_equal(str_at(m, "id", NULL, NULL), "e");
    assert_string_equal(str_at(m, "error", "message", NULL), "no user");
    cJSON_Delete(m);

    /* The server cancels its request: the reply is dropped. */
    inject(&t, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"sampling/createMessage\",\"params\":"
               "{}}");
    assert_int_equal(t.nincoming, 3);
    inject(&t, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
               "{\"requestId\":10,\"reason\":\"stop\"}}");
    assert_true(mcp_client_incoming_cancelled(t.incoming[2]));
    int before = t.fake.nsent;
    assert_int_equal(mcp_client_reply(t.incoming[2], NULL), MCP_ECANCELED);
    assert_int_equal(t.fake.nsent, before);

    /* An unanswered one outlives the client: the late reply is dropped, no leak. */
    inject(&t, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"sampling/createMessage\",\"params\":"
               "{}}");
    assert_int_equal(t.nincoming, 4);
    ctx_free(&t);
    assert_int_equal(mcp_client_reply(t.incoming[3], NULL), MCP_ECLOSED);
}

static void test_notifications(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-11-25"));
    inject(&t, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}");
    inject(&t, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":"
               "{\"level\":\"error\",\"data\":\"x\"}}");
    inject(&t, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/updated\","
               "\"params\":{\"uri\":\"test://a\"}}");
    assert_int_equal(t.nnotes, 3);
    assert_string_equal(t.notes[0], "notifications/tools/list_changed -");
    assert_string_equal(t.notes[1], "notifications/message {\"level\":\"error\",\"data\":\"x\"}");
    assert_string_equal(t.notes[2], "notifications/resources/updated {\"uri\":\"test://a\"}");
    ctx_free(&t);
}

static void test_transport_closed_fails_pending(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-11-25"));
    call_t a = {0}, b = {0};
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 5000, on_call, &a, NULL), 0);
    assert_int_equal(mcp_client_request(t.c, "tools/list", NULL, 0, on_call, &b, NULL), 0);
    mcp_client_on_transport_closed(t.c, MCP_ECHILD);
    assert_int_equal(a.done, 0);
    run_until(&t, &t.closed_cb);
    assert_int_equal(a.status, MCP_ECLOSED);
    assert_int_equal(b.status, MCP_ECLOSED);
    assert_int_equal(t.closed_reason, MCP_ECHILD);
    assert_null(mcp_client_transport(t.c));
    call_t late = {0};
    assert_int_equal(mcp_client_request(t.c, "ping", NULL, 0, on_call, &late, NULL), MCP_ECLOSED);
    assert_int_equal(mcp_client_notify(t.c, "notifications/x", NULL), MCP_ECLOSED);
    ctx_free(&t);
    assert_int_equal(t.fake.closes, 0); /* never asked to close after it reported closed */
    assert_int_equal(late.done, 0);
}

static void test_session_expired_reinitializes(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-11-25"));
    call_t a = {0}, b = {0};
    mcp_client_req_t *ra, *rb;
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 0, on_call, &a, &ra), 0);
    jsonrpc_id_t ida = {.type = JSONRPC_ID_INT, .num = mcp_client_req_id(ra)};
    int base = t.fake.nsent;
    mcp_client_on_session_expired(t.c, &ida);
    assert_int_equal(t.fake.resets, 1);
    assert_int_equal(t.fake.nsent, base + 1);
    cJSON *m = sent(&t, base);
    assert_string_equal(str_at(m, "method", NULL, NULL), "initialize");
    int64_t init2 = (int64_t)num_at(m, "id", NULL);
    cJSON_Delete(m);
    assert_true(mcp_client_ready(t.c));
    /* A request issued meanwhile waits for the new session. */
    assert_int_equal(mcp_client_request(t.c, "tools/list", NULL, 0, on_call, &b, &rb), 0);
    assert_int_equal(t.fake.nsent, base + 1);
    char buf[400];
    snprintf(buf, sizeof buf,
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"protocolVersion\":\"2025-06-18\","
             "\"capabilities\":{},\"serverInfo\":{\"name\":\"mock\",\"version\":\"2\"}}}",
             (long long)init2);
    inject(&t, buf);
    assert_string_equal(mcp_client_protocol_version(t.c), "2025-06-18");
    assert_int_equal(t.fake.nsent, base + 4); /* initialized, resent A, B */
    m = sent(&t, base + 1);
    assert_string_equal(str_at(m, "method", NULL, NULL), "notifications/initialized");
    cJSON_Delete(m);
    m = sent(&t, base + 2);
    assert_int_equal((int64_t)num_at(m, "id", NULL), ida.num); /* same request, same id */
    cJSON_Delete(m);
    m = sent(&t, base + 3);
    assert_int_equal((int64_t)num_at(m, "id", NULL), mcp_client_req_id(rb));
    cJSON_Delete(m);
    assert_int_equal(t.init_done, 1); /* the owner's init callback ran only for the first */
    /* A second expiry for the same request: it is not resent again. */
    mcp_client_on_session_expired(t.c, &ida);
    run_until(&t, &a.done);
    assert_int_equal(a.status, MCP_ECLOSED);
    /* B completes on the third session. */
    m = sent(&t, t.fake.nsent - 1);
    assert_string_equal(str_at(m, "method", NULL, NULL), "initialize");
    int64_t init3 = (int64_t)num_at(m, "id", NULL);
    cJSON_Delete(m);
    snprintf(buf, sizeof buf,
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"protocolVersion\":\"2025-11-25\","
             "\"capabilities\":{},\"serverInfo\":{\"name\":\"mock\",\"version\":\"3\"}}}",
             (long long)init3);
    inject(&t, buf);
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}",
             (long long)mcp_client_req_id(rb));
    inject(&t, buf);
    assert_int_equal(b.status, 0);
    ctx_free(&t);
}

static void test_send_failures(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-11-25"));
    call_t a = {0}, b = {0};
    mcp_client_req_t *ra;
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 0, on_call, &a, &ra), 0);
    jsonrpc_id_t id = {.type = JSONRPC_ID_INT, .num = mcp_client_req_id(ra)};
    mcp_client_on_send_failed(t.c, &id, MCP_EHTTP);
    run_until(&t, &a.done);
    assert_int_equal(a.status, MCP_EHTTP);
    /* A synchronous send error: returned, callback never runs. */
    t.fake.fail_send = MCP_ENOBUFS;
    assert_int_equal(mcp_client_request(t.c, "tools/call", NULL, 0, on_call, &b, NULL),
                     MCP_ENOBUFS);
    t.fake.fail_send = 0;
    assert_int_equal(mcp_client_pending(t.c), 0);
    ctx_free(&t);
    assert_int_equal(b.done, 0);
}

static void test_limits_and_bad_args(void **state)
{
    (void)state;
    ctx_t t;
    mcp_client_options_t o = {.max_pending = 2};
    ctx_new(&t, &o);
    handshake(&t, INIT_RESULT("2025-11-25"));
    call_t calls[3] = {{0}};
    assert_int_equal(mcp_client_request(t.c, "a", NULL, 0, on_call, &calls[0], NULL), 0);
    assert_int_equal(mcp_client_request(t.c, "b", NULL, 0, on_call, &calls[1], NULL), 0);
    assert_int_equal(mcp_client_request(t.c, "c", NULL, 0, on_call, &calls[2], NULL), MCP_ENOBUFS);
    assert_int_equal(mcp_client_request(t.c, NULL, NULL, 0, on_call, &calls[2], NULL), MCP_EINVAL);
    assert_int_equal(mcp_client_request(t.c, "x", cJSON_CreateArray(), 0, on_call, &calls[2], NULL),
                     MCP_EINVAL); /* params must be an object; taken anyway */
    assert_int_equal(mcp_client_request(t.c, "x", NULL, 0, NULL, NULL, NULL), MCP_EINVAL);
    ctx_free(&t);
    assert_int_equal(calls[0].status, MCP_ECANCELED);
    assert_int_equal(calls[2].done, 0);

    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_client_t *c;
    mcp_client_options_t bad = {.protocol_version = "1.0"};
    assert_int_equal(mcp_client_new(&loop, &bad, &c), MCP_EINVAL);
    assert_int_equal(mcp_client_new(NULL, NULL, &c), MCP_EINVAL);
    assert_int_equal(mcp_client_new(&loop, NULL, &c), 0);
    assert_int_equal(mcp_client_initialize(c, 0, on_init, NULL), MCP_ESTATE); /* no transport */
    assert_int_equal(mcp_client_close(c, NULL, NULL), 0);
    assert_int_equal(mcp_client_close(c, NULL, NULL), MCP_ESTATE);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_call_closes(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    on_call(req, status, resp, ud);
    mcp_client_close(mcp_client_req_client(req), NULL, NULL);
}

static void test_close_from_callback(void **state)
{
    (void)state;
    ctx_t t;
    ctx_new(&t, NULL);
    handshake(&t, INIT_RESULT("2025-11-25"));
    call_t a = {0}, b = {0};
    mcp_client_req_t *ra;
    assert_int_equal(mcp_client_request(t.c, "x", NULL, 0, on_call_closes, &a, &ra), 0);
    assert_int_equal(mcp_client_request(t.c, "y", NULL, 0, on_call, &b, NULL), 0);
    char buf[128];
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}",
             (long long)mcp_client_req_id(ra));
    inject(&t, buf);
    assert_int_equal(a.status, 0);
    assert_int_equal(t.fake.closes, 1);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_int_equal(b.done, 1);
    assert_int_equal(b.status, MCP_ECANCELED);
    t.c = NULL; /* freed by its own close */
    ctx_free(&t);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (long n = 0; n < 60; n++) {
        ctx_t t;
        memset(&t, 0, sizeof t);
        assert_int_equal(uv_loop_init(&t.loop), 0);
        mcp_client_options_t o = {.on_roots = on_handler, .userdata = &t};
        mcp_alloc_fail_after(n);
        int rc = mcp_client_new(&t.loop, &o, &t.c);
        if (rc == 0) {
            t.fake.base.ops = &fake_ops;
            mcp_client_attach_transport(t.c, &t.fake.base);
            rc = mcp_client_initialize(t.c, 1000, on_init, &t);
            if (rc == 0) {
                mcp_client_on_message(t.c, INIT_RESULT("2025-11-25"),
                                      strlen(INIT_RESULT("2025-11-25")));
                call_t c1 = {0};
                cJSON *p = cJSON_CreateObject();
                rc = mcp_client_request(t.c, "tools/list", p, 1000, on_call, &c1, NULL);
            }
            assert_true(rc == 0 || rc == MCP_ENOMEM);
            mcp_alloc_fail_after(-1);
            mcp_client_close(t.c, NULL, NULL);
        } else {
            assert_int_equal(rc, MCP_ENOMEM);
        }
        mcp_alloc_fail_after(-1);
        uv_run(&t.loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&t.loop), 0);
        for (int i = 0; i < t.fake.nsent; i++)
            mcp_free(t.fake.sent[i]);
    }
}

int main(void)
{
    mcp_alloc_init();
    log_set_level(LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initialize),
        cmocka_unit_test(test_capabilities_declared_by_handlers),
        cmocka_unit_test(test_version_downgrade_accepted),
        cmocka_unit_test(test_version_unsupported_refused),
        cmocka_unit_test(test_initialize_errors),
        cmocka_unit_test(test_correlation_out_of_order),
        cmocka_unit_test(test_error_response_and_batch),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_progress_extends_deadline),
        cmocka_unit_test(test_server_requests),
        cmocka_unit_test(test_notifications),
        cmocka_unit_test(test_transport_closed_fails_pending),
        cmocka_unit_test(test_session_expired_reinitializes),
        cmocka_unit_test(test_send_failures),
        cmocka_unit_test(test_limits_and_bad_args),
        cmocka_unit_test(test_close_from_callback),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
