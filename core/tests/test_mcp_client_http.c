/* Integration tests for the HTTP transports of mcp_client (mcp_client_http) against a small fake
 * MCP server built on http_server, on the same loop (127.0.0.1, port picked at run time).
 *
 * The fake speaks Streamable HTTP on /mcp (JSON and SSE responses, 202 for notifications,
 * sessions with 400/404, a standalone GET stream, resumption with Last-Event-ID, DELETE) and the
 * legacy transport (GET stream with an endpoint event, POST /message answered with 202 and the
 * response on the stream). Tools: echo (JSON), progress (SSE, the result only after the client
 * saw the progress), resume (priming event with retry, stream closed, result on the GET), noid
 * (SSE ended without id or response), hold (answered once N calls are in flight), fail500,
 * fail400 (JSON-RPC error body), hang (an SSE stream that never answers), ask (elicitation/create
 * on the POST stream, result once the client answered), big (an oversized event). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "http_client.h"
#include "http_server.h"
#include "jsonrpc.h"
#include "log.h"
#include "mcp_client.h"
#include "mcp_client_http.h"
#include "mcp_proto.h"
#include "sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HOLD 32

/* ---- the fake server ---- */

typedef struct fake_s {
    uv_loop_t *loop;
    http_server_t *srv;
    int port;
    char base[64]; /* http://127.0.0.1:PORT */
    int shut;
    /* behaviour */
    int sessions;           /* issue Mcp-Session-Id and check it */
    const char *version;    /* protocolVersion answered; default 2025-11-25 */
    int get_status;         /* GET answered with this status instead of a stream */
    int notify_json;        /* notifications answered 200 + JSON without id (mock quirk) */
    int retry_ms;           /* resume tool */
    int hold_n;             /* hold tool: answer once this many are in */
    int delete_status;      /* 0: 200 */
    int legacy;             /* legacy transport; POST elsewhere than /message: 405 */
    const char *endpoint;   /* legacy endpoint event data */
    int delay_endpoint;     /* legacy: no endpoint event until fake_send_endpoint */
    int resume_empty;       /* GET with Last-Event-ID: a stream that ends at once, empty */
    char valid_session[32]; /* the newest session */
    int dropped_upto;       /* sessions sess-1 .. sess-N were dropped (404) */
    int session_gen;
    /* records */
    int n_init, n_posts, n_gets, n_deletes, n_notifications, n_responses, n_legacy_posts;
    char last_notification[64];
    char init_version_hdr[32];
    char post_accept[64], post_ctype[64], post_session[64], post_version[32], auth[64];
    char get_accept[64], get_session[64], last_event_id[32], delete_session[64];
    char resent_session[64]; /* session header of the last tools/call */
    char answer[256];        /* the client's answer to elicitation/create */
    char legacy_query[64];
    uint64_t stream_closed_at, resume_get_at;
    int resume_closed, hang_closed, cancelled_seen;
    /* held requests */
    http_req_t *get_stream, *resume_req, *hang_req, *ask_req, *progress_req, *legacy_stream;
    jsonrpc_id_t resume_id, ask_id, progress_id;
    http_req_t *held[MAX_HOLD];
    jsonrpc_id_t held_id[MAX_HOLD];
    int held_k[MAX_HOLD];
    int nheld;
} fake_t;

static void copy_hdr(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v ? v : "");
}

static void fake_req_gone(http_req_t *req, void *ud)
{
    fake_t *f = ud;
    if (req == f->get_stream)
        f->get_stream = NULL;
    if (req == f->resume_req) {
        f->resume_req = NULL;
        f->resume_closed = 1;
    }
    if (req == f->hang_req) {
        f->hang_req = NULL;
        f->hang_closed = 1;
    }
    if (req == f->ask_req)
        f->ask_req = NULL;
    if (req == f->progress_req)
        f->progress_req = NULL;
    if (req == f->legacy_stream)
        f->legacy_stream = NULL;
    for (int i = 0; i < f->nheld; i++)
        if (f->held[i] == req)
            f->held[i] = NULL;
    http_req_abort(req);
}

/* "sess-N" issued and not dropped. */
static int session_ok(const fake_t *f, const char *sid)
{
    int n = 0;
    return sid && sscanf(sid, "sess-%d", &n) == 1 && n > f->dropped_upto && n <= f->session_gen;
}

static void hold(fake_t *f, http_req_t *req)
{
    http_req_on_close(req, fake_req_gone, f);
}

static void respond_json(http_req_t *req, int status, const char *json)
{
    http_respond(req, status, "application/json", json, strlen(json));
}

static char *result_text(const jsonrpc_id_t *id, const char *result_json)
{
    cJSON *msg = jsonrpc_build_result(id, cJSON_Parse(result_json));
    char *text = jsonrpc_print(msg, NULL);
    cJSON_Delete(msg);
    return text;
}

static char *tool_text_result(const jsonrpc_id_t *id, const char *text)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(r, "content");
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "type", "text");
    cJSON_AddStringToObject(item, "text", text);
    cJSON_AddItemToArray(content, item);
    cJSON *msg = jsonrpc_build_result(id, r);
    char *out = jsonrpc_print(msg, NULL);
    cJSON_Delete(msg);
    return out;
}

static void sse_send(http_req_t *req, const char *id, long retry, const char *data)
{
    buf_t b;
    buf_init(&b, 1u << 20);
    sse_write_event(&b, data && *data ? "message" : NULL, id, retry, data ? data : "",
                    data ? strlen(data) : 0);
    http_stream_write(req, b.data, b.len);
    buf_free(&b);
}

static void start_sse(http_req_t *req)
{
    http_stream_start(req, 200, "text/event-stream", 0);
}

/* The answer to simple requests, or NULL. */
static char *fake_answer(fake_t *f, const jsonrpc_msg_t *m)
{
    if (strcmp(m->method, "initialize") == 0) {
        char res[256];
        snprintf(res, sizeof res,
                 "{\"protocolVersion\":\"%s\",\"capabilities\":{\"tools\":{}},"
                 "\"serverInfo\":{\"name\":\"fake\",\"version\":\"1\"}}",
                 f->version ? f->version : MCP_PROTOCOL_LATEST);
        return result_text(&m->id, res);
    }
    if (strcmp(m->method, "tools/list") == 0)
        return result_text(&m->id, "{\"tools\":[{\"name\":\"echo\",\"inputSchema\":{\"type\":"
                                   "\"object\"}},{\"name\":\"resume\",\"inputSchema\":{\"type\":"
                                   "\"object\"}}]}");
    if (strcmp(m->method, "ping") == 0)
        return result_text(&m->id, "{}");
    if (strcmp(m->method, "tools/call") == 0) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(m->params, "name"));
        const cJSON *args = cJSON_GetObjectItem(m->params, "arguments");
        if (name && strcmp(name, "echo") == 0) {
            const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(args, "text"));
            return tool_text_result(&m->id, text ? text : "");
        }
    }
    return NULL;
}

static void answer_held(fake_t *f)
{
    /* reverse order: responses must be matched by id, not by arrival */
    for (int i = f->nheld - 1; i >= 0; i--) {
        if (!f->held[i])
            continue;
        char text[32];
        snprintf(text, sizeof text, "held %d", f->held_k[i]);
        char *out = tool_text_result(&f->held_id[i], text);
        http_req_on_close(f->held[i], NULL, NULL);
        respond_json(f->held[i], 200, out);
        mcp_free(out);
        f->held[i] = NULL;
    }
    for (int i = 0; i < f->nheld; i++)
        jsonrpc_id_free(&f->held_id[i]);
    f->nheld = 0;
}

static void fake_tools_call(fake_t *f, http_req_t *req, jsonrpc_msg_t *m)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(m->params, "name"));
    const cJSON *args = cJSON_GetObjectItem(m->params, "arguments");
    copy_hdr(f->resent_session, sizeof f->resent_session, http_req_header(req, "Mcp-Session-Id"));
    if (!name)
        name = "";
    if (strcmp(name, "progress") == 0) {
        const cJSON *tok =
            cJSON_GetObjectItem(cJSON_GetObjectItem(m->params, "_meta"), "progressToken");
        char note[256];
        snprintf(note, sizeof note,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
                 "{\"progressToken\":%d,\"progress\":1,\"total\":2}}",
                 tok ? tok->valueint : -1);
        start_sse(req);
        sse_send(req, NULL, -1, note);
        sse_send(req, NULL, -1,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":"
                 "{\"level\":\"info\",\"data\":\"working\"}}");
        /* the result is written by fake_finish_progress, once the client saw the progress */
        f->progress_req = req;
        jsonrpc_id_copy(&f->progress_id, &m->id);
        hold(f, req);
    } else if (strcmp(name, "resume") == 0) {
        start_sse(req);
        sse_send(req, "e1", f->retry_ms, "");
        jsonrpc_id_free(&f->resume_id);
        jsonrpc_id_copy(&f->resume_id, &m->id);
        f->stream_closed_at = uv_now(f->loop);
        http_stream_end(req);
    } else if (strcmp(name, "noid") == 0) {
        start_sse(req);
        sse_send(req, NULL, -1,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":"
                 "{\"level\":\"info\",\"data\":\"bye\"}}");
        http_stream_end(req);
    } else if (strcmp(name, "hold") == 0 && f->nheld < MAX_HOLD) {
        int i = f->nheld++;
        f->held[i] = req;
        jsonrpc_id_copy(&f->held_id[i], &m->id);
        f->held_k[i] = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(args, "k"));
        hold(f, req);
        if (f->nheld == f->hold_n)
            answer_held(f);
    } else if (strcmp(name, "fail500") == 0) {
        http_respond(req, 500, "text/plain", "boom", 4);
    } else if (strcmp(name, "fail400") == 0) {
        char body[160];
        char idbuf[32];
        snprintf(body, sizeof body,
                 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32602,\"message\":"
                 "\"bad things\"}}",
                 jsonrpc_id_str(&m->id, idbuf, sizeof idbuf));
        respond_json(req, 400, body);
    } else if (strcmp(name, "hang") == 0) {
        start_sse(req);
        sse_send(req, NULL, -1,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":"
                 "{\"level\":\"info\",\"data\":\"hanging\"}}");
        f->hang_req = req;
        hold(f, req);
    } else if (strcmp(name, "ask") == 0) {
        start_sse(req);
        sse_send(req, NULL, -1,
                 "{\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"method\":\"elicitation/create\","
                 "\"params\":{\"message\":\"name?\",\"requestedSchema\":{\"type\":\"object\","
                 "\"properties\":{\"name\":{\"type\":\"string\",\"default\":\"Ann\"}}}}}");
        f->ask_req = req;
        jsonrpc_id_copy(&f->ask_id, &m->id);
        hold(f, req);
    } else if (strcmp(name, "big") == 0) {
        start_sse(req);
        size_t n = 4096;
        char *big = mcp_malloc(n + 256);
        snprintf(big, n + 256,
                 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
                 "\"params\":{\"level\":\"info\",\"data\":\"");
        size_t l = strlen(big);
        memset(big + l, 'x', n);
        strcpy(big + l + n, "\"}}");
        sse_send(req, NULL, -1, big);
        mcp_free(big);
        http_stream_end(req);
    } else {
        char *out = fake_answer(f, m);
        if (out)
            respond_json(req, 200, out);
        else
            respond_json(req, 200,
                         "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32601,"
                         "\"message\":\"no such tool\"}}");
        mcp_free(out);
    }
}

static void fake_finish_progress(fake_t *f)
{
    if (!f->progress_req)
        return;
    char *out = tool_text_result(&f->progress_id, "progressed");
    sse_send(f->progress_req, NULL, -1, out);
    mcp_free(out);
    http_req_on_close(f->progress_req, NULL, NULL);
    http_stream_end(f->progress_req);
    f->progress_req = NULL;
    jsonrpc_id_free(&f->progress_id);
}

/* A response POSTed by the client (to elicitation/create). */
static void fake_client_response(fake_t *f, jsonrpc_msg_t *m)
{
    f->n_responses++;
    char *text = cJSON_PrintUnformatted(m->result ? m->result : m->json);
    snprintf(f->answer, sizeof f->answer, "%s", text ? text : "");
    cJSON_free(text);
    if (f->ask_req && m->id.type == JSONRPC_ID_STR && strcmp(m->id.str, "srv-1") == 0) {
        char *out = tool_text_result(&f->ask_id, f->answer);
        sse_send(f->ask_req, NULL, -1, out);
        mcp_free(out);
        http_req_on_close(f->ask_req, NULL, NULL);
        http_stream_end(f->ask_req);
        f->ask_req = NULL;
        jsonrpc_id_free(&f->ask_id);
    }
}

static void fake_post(fake_t *f, http_req_t *req)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    jsonrpc_msg_t m = {0};
    if (jsonrpc_parse_message(body, len, &m, NULL) != 0 || m.kind == JSONRPC_INVALID) {
        jsonrpc_msg_free(&m);
        respond_json(req, 400,
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
                     "\"message\":\"Parse error\"}}");
        return;
    }
    copy_hdr(f->post_accept, sizeof f->post_accept, http_req_header(req, "Accept"));
    copy_hdr(f->post_ctype, sizeof f->post_ctype, http_req_header(req, "Content-Type"));
    copy_hdr(f->post_session, sizeof f->post_session, http_req_header(req, "Mcp-Session-Id"));
    copy_hdr(f->post_version, sizeof f->post_version, http_req_header(req, "MCP-Protocol-Version"));
    int is_init = m.kind == JSONRPC_REQUEST && strcmp(m.method, "initialize") == 0;
    if (is_init) {
        f->n_init++;
        copy_hdr(f->init_version_hdr, sizeof f->init_version_hdr,
                 http_req_header(req, "MCP-Protocol-Version"));
        if (f->sessions) {
            snprintf(f->valid_session, sizeof f->valid_session, "sess-%d", ++f->session_gen);
            http_resp_header(req, "Mcp-Session-Id", f->valid_session);
        }
        char *out = fake_answer(f, &m);
        respond_json(req, 200, out);
        mcp_free(out);
        jsonrpc_msg_free(&m);
        return;
    }
    if (f->sessions) {
        const char *sid = http_req_header(req, "Mcp-Session-Id");
        if (!sid) {
            respond_json(req, 400,
                         "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,"
                         "\"message\":\"Bad Request: Mcp-Session-Id header is "
                         "required\"}}");
            jsonrpc_msg_free(&m);
            return;
        }
        if (!session_ok(f, sid)) {
            respond_json(req, 404,
                         "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32001,"
                         "\"message\":\"Session not found\"}}");
            jsonrpc_msg_free(&m);
            return;
        }
    }
    switch (m.kind) {
    case JSONRPC_NOTIFICATION:
        f->n_notifications++;
        snprintf(f->last_notification, sizeof f->last_notification, "%s", m.method);
        if (strcmp(m.method, MCP_NOTIFY_CANCELLED) == 0)
            f->cancelled_seen++;
        if (f->notify_json)
            respond_json(req, 200, "{\"jsonrpc\":\"2.0\",\"result\":{}}");
        else
            http_respond(req, 202, NULL, NULL, 0);
        break;
    case JSONRPC_RESULT:
    case JSONRPC_ERROR:
        http_respond(req, 202, NULL, NULL, 0);
        fake_client_response(f, &m);
        break;
    default:
        if (strcmp(m.method, "tools/call") == 0) {
            fake_tools_call(f, req, &m);
        } else {
            char *out = fake_answer(f, &m);
            respond_json(req, 200, out ? out : "{}");
            mcp_free(out);
        }
        break;
    }
    jsonrpc_msg_free(&m);
}

static void fake_get(fake_t *f, http_req_t *req)
{
    copy_hdr(f->get_accept, sizeof f->get_accept, http_req_header(req, "Accept"));
    copy_hdr(f->get_session, sizeof f->get_session, http_req_header(req, "Mcp-Session-Id"));
    const char *lei = http_req_header(req, "Last-Event-ID");
    if (lei) {
        copy_hdr(f->last_event_id, sizeof f->last_event_id, lei);
        f->resume_get_at = uv_now(f->loop);
    }
    if (f->get_status) {
        http_respond(req, f->get_status, "text/plain", "no", 2);
        return;
    }
    if (f->sessions && !session_ok(f, http_req_header(req, "Mcp-Session-Id"))) {
        http_respond(req, 404, "text/plain", "no session", 10);
        return;
    }
    start_sse(req);
    if (lei && f->resume_empty) {
        http_stream_end(req);
        return;
    }
    hold(f, req);
    if (f->resume_id.type != JSONRPC_ID_NONE) {
        sse_send(req, "e2", -1, "");
        char *out = tool_text_result(&f->resume_id, "resumed");
        sse_send(req, "e3", -1, out);
        mcp_free(out);
        jsonrpc_id_free(&f->resume_id);
        f->resume_req = req;
        return;
    }
    if (f->get_stream) { /* one standalone stream per session, like the TS SDK (409) */
        http_req_on_close(req, NULL, NULL);
        http_stream_end(req);
        return;
    }
    f->get_stream = req;
}

/* The standalone stream ends after an event with an id and a retry (polling pattern). */
static void fake_end_get(fake_t *f, const char *id, long retry)
{
    http_req_t *req = f->get_stream;
    f->get_stream = NULL;
    sse_send(req, id, retry, "");
    http_req_on_close(req, NULL, NULL);
    http_stream_end(req);
}

static void fake_send_endpoint(fake_t *f)
{
    buf_t b;
    buf_init(&b, 4096);
    sse_write_event(&b, "endpoint", NULL, -1, f->endpoint, strlen(f->endpoint));
    http_stream_write(f->legacy_stream, b.data, b.len);
    buf_free(&b);
}

static void fake_legacy_get(fake_t *f, http_req_t *req)
{
    start_sse(req);
    hold(f, req);
    f->legacy_stream = req;
    if (!f->delay_endpoint)
        fake_send_endpoint(f);
}

static void fake_legacy_post(fake_t *f, http_req_t *req)
{
    f->n_legacy_posts++;
    copy_hdr(f->legacy_query, sizeof f->legacy_query, http_req_query(req));
    copy_hdr(f->post_ctype, sizeof f->post_ctype, http_req_header(req, "Content-Type"));
    size_t len;
    const char *body = http_req_body(req, &len);
    jsonrpc_msg_t m = {0};
    if (jsonrpc_parse_message(body, len, &m, NULL) != 0 || !f->legacy_stream) {
        jsonrpc_msg_free(&m);
        http_respond(req, 400, "text/plain", "bad", 3);
        return;
    }
    http_respond(req, 202, "text/plain", "Accepted", 8);
    if (m.kind == JSONRPC_NOTIFICATION) {
        f->n_notifications++;
        snprintf(f->last_notification, sizeof f->last_notification, "%s", m.method);
    } else if (m.kind == JSONRPC_REQUEST) {
        if (strcmp(m.method, "initialize") == 0)
            f->n_init++;
        char *out = fake_answer(f, &m);
        if (out)
            sse_send(f->legacy_stream, NULL, -1, out);
        mcp_free(out);
    }
    jsonrpc_msg_free(&m);
}

static void fake_handler(http_req_t *req, void *ud)
{
    fake_t *f = ud;
    const char *method = http_req_method_str(req);
    copy_hdr(f->auth, sizeof f->auth, http_req_header(req, "Authorization"));
    if (strcmp(method, "GET") == 0) {
        f->n_gets++;
        if (f->legacy)
            fake_legacy_get(f, req);
        else
            fake_get(f, req);
    } else if (strcmp(method, "DELETE") == 0) {
        f->n_deletes++;
        copy_hdr(f->delete_session, sizeof f->delete_session,
                 http_req_header(req, "Mcp-Session-Id"));
        http_respond(req, f->delete_status ? f->delete_status : 200, NULL, NULL, 0);
    } else if (strcmp(method, "POST") == 0) {
        f->n_posts++;
        if (f->legacy && strcmp(http_req_path(req), "/message") == 0)
            fake_legacy_post(f, req);
        else if (f->legacy)
            http_respond(req, 405, "text/plain", "Method Not Allowed", 18);
        else
            fake_post(f, req);
    } else {
        http_respond(req, 405, NULL, NULL, 0);
    }
}

static void fake_closed(http_server_t *srv, void *ud)
{
    (void)srv;
    ((fake_t *)ud)->shut = 1;
}

/* ---- the test environment ---- */

typedef struct env_s {
    uv_loop_t loop;
    fake_t f;
    mcp_client_t *c;
    uv_timer_t guard;
    int guard_fired;
    int init_done, init_status;
    int close_done;
    int closed_called, closed_reason;
    int notes;
    char last_note[64];
    int progress;
    int elicited;
} env_t;

static env_t *E;

static int under_valgrind(void)
{
    return getenv("MCP_UNDER_VALGRIND") != NULL;
}

static void on_guard(uv_timer_t *t)
{
    ((env_t *)t->data)->guard_fired = 1;
}

#define RUN_UNTIL(e, cond)                             \
    do {                                               \
        while (!(cond)) {                              \
            uv_run(&(e)->loop, UV_RUN_ONCE);           \
            if ((e)->guard_fired)                      \
                fail_msg("timed out waiting: " #cond); \
        }                                              \
    } while (0)

static void on_note(mcp_client_t *c, const char *method, const cJSON *params, void *ud)
{
    (void)c;
    (void)params;
    env_t *e = ud;
    e->notes++;
    snprintf(e->last_note, sizeof e->last_note, "%s", method);
}

static void on_closed(mcp_client_t *c, int reason, void *ud)
{
    (void)c;
    env_t *e = ud;
    e->closed_called++;
    e->closed_reason = reason;
}

static void on_elicit(mcp_client_t *c, mcp_client_incoming_t *in, const char *method,
                      const cJSON *params, void *ud)
{
    (void)c;
    (void)method;
    env_t *e = ud;
    e->elicited++;
    const char *def = cJSON_GetStringValue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(params, "requestedSchema"), "properties"),
            "name"),
        "default"));
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "action", "accept");
    cJSON *content = cJSON_AddObjectToObject(r, "content");
    cJSON_AddStringToObject(content, "name", def ? def : "?");
    assert_int_equal(mcp_client_reply(in, r), 0);
}

static void env_setup(env_t *e, const char *path, mcp_client_http_mode_t mode,
                      const mcp_client_http_options_t *extra)
{
    memset(e, 0, sizeof *e);
    E = e;
    assert_int_equal(uv_loop_init(&e->loop), 0);
    e->f.loop = &e->loop;
    e->f.retry_ms = 300;
    assert_int_equal(http_server_new(&e->loop, NULL, fake_handler, &e->f, &e->f.srv), 0);
    assert_int_equal(http_server_listen(e->f.srv, "127.0.0.1", 0), 0);
    e->f.port = http_server_port(e->f.srv);
    snprintf(e->f.base, sizeof e->f.base, "http://127.0.0.1:%d", e->f.port);
    uv_timer_init(&e->loop, &e->guard);
    e->guard.data = e;
    uv_timer_start(&e->guard, on_guard, under_valgrind() ? 120000 : 15000, 0);
    mcp_client_options_t co = {
        .name = "fake",
        .on_notification = on_note,
        .on_closed = on_closed,
        .on_elicitation = on_elicit,
        .userdata = e,
    };
    assert_int_equal(mcp_client_new(&e->loop, &co, &e->c), 0);
    if (!path)
        return;
    char url[128];
    snprintf(url, sizeof url, "%s%s", e->f.base, path);
    mcp_client_http_options_t o = {0};
    if (extra)
        o = *extra;
    o.url = url;
    o.mode = mode;
    assert_int_equal(mcp_client_http_start(e->c, &o), 0);
}

static void on_init(mcp_client_t *c, int status, void *ud)
{
    (void)c;
    env_t *e = ud;
    e->init_done = 1;
    e->init_status = status;
}

static void env_init(env_t *e)
{
    assert_int_equal(mcp_client_initialize(e->c, 5000, on_init, e), 0);
    RUN_UNTIL(e, e->init_done);
}

static void on_client_closed(mcp_client_t *c, void *ud)
{
    (void)c;
    ((env_t *)ud)->close_done = 1;
}

static void env_teardown(env_t *e)
{
    if (e->c) {
        mcp_client_close(e->c, on_client_closed, e);
        RUN_UNTIL(e, e->close_done);
    }
    http_server_shutdown(e->f.srv, 0, fake_closed, &e->f);
    RUN_UNTIL(e, e->f.shut);
    http_server_free(e->f.srv);
    jsonrpc_id_free(&e->f.resume_id);
    jsonrpc_id_free(&e->f.ask_id);
    jsonrpc_id_free(&e->f.progress_id);
    for (int i = 0; i < e->f.nheld; i++)
        jsonrpc_id_free(&e->f.held_id[i]);
    uv_timer_stop(&e->guard);
    uv_close((uv_handle_t *)&e->guard, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    E = NULL;
}

/* ---- calls ---- */

typedef struct call_s {
    int done;
    int status;
    char text[256];   /* result.content[0].text */
    char errmsg[128]; /* JSON-RPC error message */
    int progress_at_done;
} call_t;

static void on_call(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    call_t *k = ud;
    k->done = 1;
    k->status = status;
    k->progress_at_done = E->progress;
    if (status == 0 && resp) {
        const cJSON *content = cJSON_GetObjectItem(resp->result, "content");
        const char *t =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(content, 0), "text"));
        snprintf(k->text, sizeof k->text, "%s", t ? t : "");
    }
    if (status == MCP_EUPSTREAM && resp && resp->error_message)
        snprintf(k->errmsg, sizeof k->errmsg, "%s", resp->error_message);
}

static void on_progress(mcp_client_req_t *req, double progress, double total, const char *message,
                        const cJSON *params, void *ud)
{
    (void)req;
    (void)progress;
    (void)total;
    (void)message;
    (void)params;
    (void)ud;
    E->progress++;
    fake_finish_progress(&E->f); /* only now may the result be sent */
}

static void call_tool(env_t *e, call_t *k, const char *tool, const char *args, uint64_t deadline,
                      int with_progress, mcp_client_req_t **out)
{
    memset(k, 0, sizeof *k);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", tool);
    cJSON_AddItemToObject(p, "arguments", cJSON_Parse(args ? args : "{}"));
    mcp_client_call_t call = {
        .method = "tools/call",
        .params = p,
        .deadline_ms = deadline,
        .cb = on_call,
        .on_progress = with_progress ? on_progress : NULL,
        .ud = k,
    };
    assert_int_equal(mcp_client_request_ex(e->c, &call, out), 0);
}

static void call_sync(env_t *e, call_t *k, const char *tool, const char *args)
{
    call_tool(e, k, tool, args, 5000, 0, NULL);
    RUN_UNTIL(e, k->done);
}

static void stats(env_t *e, mcp_client_http_stats_t *s)
{
    assert_int_equal(mcp_client_http_get_stats(e->c, s), 0);
}

/* ---- tests ---- */

static void test_json_session_and_headers(void **state)
{
    (void)state;
    env_t e;
    mcp_client_http_header_t hdr = {"Authorization", "Bearer sekrit"};
    mcp_client_http_options_t o = {.headers = &hdr, .nheaders = 1};
    env_setup(&e, NULL, MCP_HTTP_STREAMABLE, NULL);
    e.f.sessions = 1;
    char url[128];
    snprintf(url, sizeof url, "%s/mcp", e.f.base);
    o.url = url;
    assert_int_equal(mcp_client_http_start(e.c, &o), 0);
    assert_int_equal(mcp_client_http_mode(e.c), MCP_HTTP_STREAMABLE);
    assert_null(mcp_client_http_session_id(e.c));
    env_init(&e);
    assert_int_equal(e.init_status, 0);
    /* initialize carries neither a session nor a version header */
    assert_string_equal(e.f.init_version_hdr, "");
    assert_string_equal(e.f.post_accept, "application/json, text/event-stream");
    assert_string_equal(e.f.post_ctype, "application/json");
    assert_string_equal(mcp_client_http_session_id(e.c), "sess-1");
    RUN_UNTIL(&e, e.f.n_notifications == 1);
    assert_string_equal(e.f.last_notification, MCP_NOTIFY_INITIALIZED);

    call_t k;
    call_sync(&e, &k, "echo", "{\"text\":\"hello\"}");
    assert_int_equal(k.status, 0);
    assert_string_equal(k.text, "hello");
    assert_string_equal(e.f.post_session, "sess-1");
    assert_string_equal(e.f.post_version, MCP_PROTOCOL_LATEST);
    assert_string_equal(e.f.auth, "Bearer sekrit");
    mcp_client_http_stats_t s;
    stats(&e, &s);
    assert_true(s.posts >= 3);
    assert_int_equal(s.http_errors, 0);
    env_teardown(&e);
}

static void test_old_version_no_header(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    e.f.version = MCP_PROTOCOL_2025_03_26;
    env_init(&e);
    assert_int_equal(e.init_status, 0);
    assert_string_equal(mcp_client_protocol_version(e.c), MCP_PROTOCOL_2025_03_26);
    call_t k;
    call_sync(&e, &k, "echo", "{\"text\":\"x\"}");
    assert_int_equal(k.status, 0);
    /* MCP-Protocol-Version exists from 2025-06-18 on; no session was given, none is sent */
    assert_string_equal(e.f.post_version, "");
    assert_string_equal(e.f.post_session, "");
    env_teardown(&e);
}

static void test_sse_progress_before_result(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    env_init(&e);
    call_t k;
    /* the fake sends the result only after the client reported the progress, so this passes
     * only when SSE events are delivered as they arrive */
    call_tool(&e, &k, "progress", NULL, 5000, 1, NULL);
    RUN_UNTIL(&e, k.done);
    assert_int_equal(k.status, 0);
    assert_string_equal(k.text, "progressed");
    assert_int_equal(k.progress_at_done, 1);
    assert_int_equal(e.notes, 1);
    assert_string_equal(e.last_note, MCP_NOTIFY_MESSAGE);
    env_teardown(&e);
}

static void test_notification_answered_with_json(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/", MCP_HTTP_STREAMABLE, NULL);
    e.f.notify_json = 1; /* the conformance `initialize` mock answers 200 {"result":{}} */
    env_init(&e);
    assert_int_equal(e.init_status, 0);
    RUN_UNTIL(&e, e.f.n_notifications == 1);
    call_t k;
    call_sync(&e, &k, "echo", "{\"text\":\"ok\"}");
    assert_int_equal(k.status, 0);
    assert_int_equal(mcp_client_notify(e.c, "notifications/roots/list_changed", NULL), 0);
    RUN_UNTIL(&e, e.f.n_notifications == 2);
    call_sync(&e, &k, "echo", "{\"text\":\"still ok\"}");
    assert_string_equal(k.text, "still ok");
    mcp_client_http_stats_t s;
    stats(&e, &s);
    assert_int_equal(s.http_errors, 0);
    assert_int_equal(e.closed_called, 0);
    env_teardown(&e);
}

static void test_session_expiry_reinitializes(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    e.f.sessions = 1;
    e.f.get_status = 405;
    env_init(&e);
    assert_string_equal(mcp_client_http_session_id(e.c), "sess-1");
    RUN_UNTIL(&e, e.f.n_notifications == 1); /* notifications/initialized got through */
    e.f.dropped_upto = e.f.session_gen;      /* the server forgets the session: 404 from now on */
    call_t k;
    call_sync(&e, &k, "echo", "{\"text\":\"again\"}");
    assert_int_equal(k.status, 0);
    assert_string_equal(k.text, "again");
    assert_int_equal(e.f.n_init, 2);
    assert_string_equal(e.f.init_version_hdr, ""); /* the new initialize has no old headers */
    assert_string_equal(e.f.resent_session, "sess-2");
    assert_string_equal(mcp_client_http_session_id(e.c), "sess-2");
    mcp_client_http_stats_t s;
    stats(&e, &s);
    assert_int_equal(s.expired, 1);
    env_teardown(&e);
}

static void test_sse_resume_after_retry(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    e.f.sessions = 1;
    e.f.retry_ms = 300;
    env_init(&e);
    RUN_UNTIL(&e, e.f.get_stream != NULL); /* the standalone stream is open meanwhile */
    call_t k;
    call_tool(&e, &k, "resume", NULL, 10000, 0, NULL);
    RUN_UNTIL(&e, k.done);
    assert_int_equal(k.status, 0);
    assert_string_equal(k.text, "resumed");
    assert_string_equal(e.f.last_event_id, "e1");
    assert_string_equal(e.f.get_session, "sess-1");
    assert_string_equal(e.f.get_accept, "text/event-stream");
    uint64_t delay = e.f.resume_get_at - e.f.stream_closed_at;
    assert_true(delay >= 295);
    if (!under_valgrind())
        assert_true(delay < 1500);
    /* the continuation stream is closed by the client once it brought the response */
    RUN_UNTIL(&e, e.f.resume_closed);
    mcp_client_http_stats_t s;
    stats(&e, &s);
    assert_int_equal(s.resumes, 1);
    env_teardown(&e);
}

static void test_reconnections_bounded(void **state)
{
    (void)state;
    env_t e;
    mcp_client_http_options_t o = {.max_reconnects = 3};
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, &o);
    e.f.retry_ms = 20;
    e.f.resume_empty = 1; /* every resumption brings nothing */
    env_init(&e);
    RUN_UNTIL(&e, e.f.get_stream != NULL); /* or the fake would answer there */
    call_t k;
    call_tool(&e, &k, "resume", NULL, 10000, 0, NULL);
    RUN_UNTIL(&e, k.done);
    assert_int_equal(k.status, MCP_ECLOSED);
    mcp_client_http_stats_t s;
    stats(&e, &s);
    assert_int_equal(s.resumes, 4); /* the first one, then 3 more that brought nothing */
    env_teardown(&e);
}

static void test_start_allocation_failures(void **state)
{
    (void)state;
    mcp_client_http_header_t hdr = {"Authorization", "Bearer x"};
    int succeeded = 0;
    for (long n = 0; n < 200 && !succeeded; n++) {
        for (int mode = MCP_HTTP_STREAMABLE; mode <= MCP_HTTP_AUTO; mode++) {
            env_t e;
            env_setup(&e, NULL, MCP_HTTP_STREAMABLE, NULL);
            char url[128];
            snprintf(url, sizeof url, "%s/sse", e.f.base);
            e.f.legacy = 1;
            e.f.endpoint = "/message";
            mcp_client_http_options_t o = {
                .url = url, .mode = (mcp_client_http_mode_t)mode, .headers = &hdr, .nheaders = 1};
            mcp_alloc_fail_after(n);
            int rc = mcp_client_http_start(e.c, &o);
            mcp_alloc_fail_after(-1);
            if (rc == 0) {
                succeeded = mode == MCP_HTTP_AUTO;
                assert_int_equal(mcp_client_http_mode(e.c), mode);
            } else {
                assert_int_equal(rc, MCP_ENOMEM);
                assert_int_equal(mcp_client_http_mode(e.c), MCP_EINVAL); /* nothing attached */
            }
            env_teardown(&e);
        }
    }
    assert_true(succeeded);
}

static void test_stream_end_without_id_fails(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    env_init(&e);
    call_t k;
    call_tool(&e, &k, "noid", NULL, 10000, 0, NULL);
    RUN_UNTIL(&e, k.done);
    assert_int_equal(k.status, MCP_ECLOSED);
    assert_int_equal(e.notes, 1); /* the message before the end was delivered */
    env_teardown(&e);
}

static void test_error_statuses(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    env_init(&e);
    call_t k;
    call_sync(&e, &k, "fail500", NULL);
    assert_int_equal(k.status, MCP_EHTTP);
    call_sync(&e, &k, "fail400", NULL);
    assert_int_equal(k.status, MCP_EUPSTREAM);
    assert_string_equal(k.errmsg, "bad things");
    mcp_client_http_stats_t s;
    stats(&e, &s);
    assert_int_equal(s.http_errors, 2);
    /* the session goes on */
    call_sync(&e, &k, "echo", "{\"text\":\"fine\"}");
    assert_int_equal(k.status, 0);
    env_teardown(&e);
}

static void test_connection_refused(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, NULL, MCP_HTTP_STREAMABLE, NULL);
    /* a port nobody listens on: bind one, note it, close it */
    uv_tcp_t tcp;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(&e.loop, &tcp);
    assert_int_equal(uv_tcp_bind(&tcp, (const struct sockaddr *)&sa, 0), 0);
    struct sockaddr_in bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&tcp, (struct sockaddr *)&bound, &blen);
    uv_close((uv_handle_t *)&tcp, NULL);
    uv_run(&e.loop, UV_RUN_NOWAIT);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/mcp", ntohs(bound.sin_port));
    mcp_client_http_options_t o = {.url = url};
    assert_int_equal(mcp_client_http_start(e.c, &o), 0);
    env_init(&e);
    assert_int_equal(e.init_status, UV_ECONNREFUSED);
    env_teardown(&e);
}

static void test_standalone_stream(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    e.f.sessions = 1;
    env_init(&e);
    RUN_UNTIL(&e, e.f.get_stream != NULL);
    assert_string_equal(e.f.get_session, "sess-1");
    assert_string_equal(e.f.get_accept, "text/event-stream");
    sse_send(e.f.get_stream, "g0", -1,
             "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}");
    RUN_UNTIL(&e, e.notes == 1);
    assert_string_equal(e.last_note, MCP_NOTIFY_TOOLS_LIST_CHANGED);
    /* the server closes it after an id and a retry: the client comes back with Last-Event-ID */
    fake_end_get(&e.f, "g1", 100);
    RUN_UNTIL(&e, e.f.get_stream != NULL);
    assert_string_equal(e.f.last_event_id, "g1");
    assert_int_equal(e.f.n_gets, 2);
    env_teardown(&e);
}

static void test_standalone_refused_is_silent(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    e.f.get_status = 405;
    env_init(&e);
    RUN_UNTIL(&e, e.f.n_gets == 1);
    call_t k;
    call_sync(&e, &k, "echo", "{\"text\":\"a\"}");
    call_sync(&e, &k, "echo", "{\"text\":\"b\"}");
    assert_int_equal(k.status, 0);
    assert_int_equal(e.f.n_gets, 1); /* no retry after 405 */
    assert_int_equal(e.closed_called, 0);
    env_teardown(&e);
}

static void test_legacy_sse(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, NULL, MCP_HTTP_SSE, NULL);
    e.f.legacy = 1;
    e.f.endpoint = "/message?sessionId=abc";
    char url[128];
    snprintf(url, sizeof url, "%s/sse", e.f.base);
    mcp_client_http_options_t o = {.url = url, .mode = MCP_HTTP_SSE};
    assert_int_equal(mcp_client_http_start(e.c, &o), 0);
    assert_int_equal(mcp_client_http_mode(e.c), MCP_HTTP_SSE);
    env_init(&e);
    assert_int_equal(e.init_status, 0);
    call_t k;
    call_sync(&e, &k, "echo", "{\"text\":\"legacy\"}");
    assert_int_equal(k.status, 0);
    assert_string_equal(k.text, "legacy");
    assert_string_equal(e.f.legacy_query, "sessionId=abc");
    assert_string_equal(e.f.post_ctype, "application/json");
    RUN_UNTIL(&e, e.f.n_legacy_posts == 3); /* initialize, initialized, tools/call */
    assert_int_equal(e.f.n_gets, 1);        /* no standalone stream in this transport */
    /* the end of the stream closes the transport; a pending request fails */
    call_tool(&e, &k, "hang", NULL, 10000, 0, NULL);
    RUN_UNTIL(&e, e.f.n_legacy_posts >= 4);
    http_req_t *s = e.f.legacy_stream;
    e.f.legacy_stream = NULL;
    http_req_on_close(s, NULL, NULL);
    http_stream_end(s);
    RUN_UNTIL(&e, k.done && e.closed_called);
    assert_int_equal(k.status, MCP_ECLOSED);
    assert_int_equal(e.closed_reason, MCP_ECLOSED);
    env_teardown(&e);
}

static void test_legacy_other_origin_refused(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, NULL, MCP_HTTP_SSE, NULL);
    e.f.legacy = 1;
    char endpoint[96];
    /* another port is another origin (nothing is ever sent there) */
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d/message", e.f.port == 1 ? 2 : 1);
    e.f.endpoint = endpoint;
    char url[128];
    snprintf(url, sizeof url, "%s/sse", e.f.base);
    mcp_client_http_options_t o = {.url = url, .mode = MCP_HTTP_SSE};
    assert_int_equal(mcp_client_http_start(e.c, &o), 0);
    env_init(&e);
    assert_int_equal(e.init_status, MCP_ECLOSED);
    RUN_UNTIL(&e, e.closed_called);
    assert_int_equal(e.closed_reason, MCP_EDENIED);
    assert_int_equal(e.f.n_posts, 0);
    env_teardown(&e);
}

static void test_legacy_queue_bounded(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, NULL, MCP_HTTP_SSE, NULL);
    e.f.legacy = 1;
    e.f.delay_endpoint = 1;
    e.f.endpoint = "message?sessionId=q"; /* relative to /sse: /message */
    char url[128];
    snprintf(url, sizeof url, "%s/sse", e.f.base);
    mcp_client_http_options_t o = {.url = url, .mode = MCP_HTTP_SSE, .max_queued = 1};
    assert_int_equal(mcp_client_http_start(e.c, &o), 0);
    assert_int_equal(mcp_client_initialize(e.c, 5000, on_init, &e), 0); /* queued */
    assert_int_equal(mcp_client_notify(e.c, "notifications/roots/list_changed", NULL), MCP_ENOBUFS);
    RUN_UNTIL(&e, e.f.legacy_stream != NULL);
    fake_send_endpoint(&e.f);
    RUN_UNTIL(&e, e.init_done);
    assert_int_equal(e.init_status, 0);
    assert_string_equal(e.f.legacy_query, "sessionId=q");
    env_teardown(&e);
}

static void test_auto_falls_back_to_legacy(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, NULL, MCP_HTTP_AUTO, NULL);
    e.f.legacy = 1; /* POST /mcp -> 405, GET /mcp -> legacy stream */
    e.f.endpoint = "/message?sessionId=auto";
    char url[128];
    snprintf(url, sizeof url, "%s/mcp", e.f.base);
    mcp_client_http_options_t o = {.url = url, .mode = MCP_HTTP_AUTO};
    assert_int_equal(mcp_client_http_start(e.c, &o), 0);
    assert_int_equal(mcp_client_http_mode(e.c), MCP_HTTP_AUTO);
    env_init(&e);
    assert_int_equal(e.init_status, 0);
    assert_int_equal(mcp_client_http_mode(e.c), MCP_HTTP_SSE);
    call_t k;
    call_sync(&e, &k, "echo", "{\"text\":\"via sse\"}");
    assert_string_equal(k.text, "via sse");
    assert_string_equal(e.f.legacy_query, "sessionId=auto");
    mcp_client_http_stats_t s;
    stats(&e, &s);
    assert_int_equal(s.fallbacks, 1);
    env_teardown(&e);
}

static void test_auto_stays_streamable(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_AUTO, NULL);
    env_init(&e);
    assert_int_equal(e.init_status, 0);
    assert_int_equal(mcp_client_http_mode(e.c), MCP_HTTP_STREAMABLE);
    mcp_client_http_stats_t s;
    stats(&e, &s);
    assert_int_equal(s.fallbacks, 0);
    env_teardown(&e);
}

static void test_close_sends_delete(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    e.f.sessions = 1;
    e.f.delete_status = 405; /* "clients may not terminate sessions": fine */
    env_init(&e);
    RUN_UNTIL(&e, e.f.get_stream != NULL);
    mcp_client_close(e.c, on_client_closed, &e);
    RUN_UNTIL(&e, e.close_done);
    e.c = NULL;
    assert_int_equal(e.f.n_deletes, 1);
    assert_string_equal(e.f.delete_session, "sess-1");
    RUN_UNTIL(&e, e.f.get_stream == NULL); /* the standalone stream was cancelled */
    env_teardown(&e);
}

static void test_concurrent_calls(void **state)
{
    (void)state;
    env_t e;
    enum { N = 16 };
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    e.f.hold_n = N; /* nothing is answered before all N are in flight */
    env_init(&e);
    call_t k[N];
    for (int i = 0; i < N; i++) {
        char args[32];
        snprintf(args, sizeof args, "{\"k\":%d}", i);
        call_tool(&e, &k[i], "hold", args, 10000, 0, NULL);
    }
    for (int i = 0; i < N; i++) {
        RUN_UNTIL(&e, k[i].done);
        char want[32];
        snprintf(want, sizeof want, "held %d", i);
        assert_int_equal(k[i].status, 0);
        assert_string_equal(k[i].text, want);
    }
    env_teardown(&e);
}

static void test_deadline_aborts_stream(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    env_init(&e);
    call_t k;
    call_tool(&e, &k, "hang", NULL, 200, 0, NULL);
    RUN_UNTIL(&e, k.done);
    assert_int_equal(k.status, MCP_ETIMEDOUT);
    /* notifications/cancelled went out and the POST's stream was closed by the client */
    RUN_UNTIL(&e, e.f.cancelled_seen == 1 && e.f.hang_closed);
    env_teardown(&e);
}

static void test_elicitation_round_trip(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, NULL);
    e.f.sessions = 1;
    env_init(&e);
    call_t k;
    call_sync(&e, &k, "ask", NULL);
    assert_int_equal(k.status, 0);
    assert_int_equal(e.elicited, 1);
    assert_int_equal(e.f.n_responses, 1);
    assert_string_equal(k.text, "{\"action\":\"accept\",\"content\":{\"name\":\"Ann\"}}");
    env_teardown(&e);
}

static void test_event_too_big(void **state)
{
    (void)state;
    env_t e;
    mcp_client_http_options_t o = {.max_message = 1024};
    env_setup(&e, "/mcp", MCP_HTTP_STREAMABLE, &o);
    env_init(&e);
    call_t k;
    call_sync(&e, &k, "big", NULL);
    assert_int_equal(k.status, MCP_ENOBUFS);
    call_sync(&e, &k, "echo", "{\"text\":\"small\"}");
    assert_int_equal(k.status, 0);
    env_teardown(&e);
}

static void http_closed(http_client_t *h, void *ud)
{
    (void)h;
    *(int *)ud = 1;
}

static void on_init2(mcp_client_t *c, int status, void *ud)
{
    (void)c;
    *(int *)ud = status == 0 ? 1 : -1;
}

static void on_closed2(mcp_client_t *c, void *ud)
{
    (void)c;
    *(int *)ud = 1;
}

static void test_shared_http_client(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, NULL, MCP_HTTP_STREAMABLE, NULL);
    e.f.sessions = 1;
    http_client_t *shared;
    assert_int_equal(http_client_new(&e.loop, NULL, &shared), 0);
    char url[128];
    snprintf(url, sizeof url, "%s/mcp", e.f.base);
    mcp_client_http_options_t o = {.url = url, .http = shared};
    assert_int_equal(mcp_client_http_start(e.c, &o), 0);
    mcp_client_t *c2;
    mcp_client_options_t co = {.name = "second"};
    assert_int_equal(mcp_client_new(&e.loop, &co, &c2), 0);
    assert_int_equal(mcp_client_http_start(c2, &o), 0);
    int ready2 = 0;
    assert_int_equal(mcp_client_initialize(c2, 5000, on_init2, &ready2), 0);
    env_init(&e);
    RUN_UNTIL(&e, ready2 != 0);
    assert_int_equal(ready2, 1);
    /* two sessions on one connection pool */
    assert_non_null(mcp_client_http_session_id(c2));
    assert_non_null(mcp_client_http_session_id(e.c));
    assert_string_not_equal(mcp_client_http_session_id(c2), mcp_client_http_session_id(e.c));
    RUN_UNTIL(&e, e.f.get_stream != NULL);
    int closed2 = 0;
    mcp_client_close(c2, on_closed2, &closed2);
    RUN_UNTIL(&e, closed2);
    call_t k;
    call_sync(&e, &k, "echo", "{\"text\":\"shared\"}");
    assert_string_equal(k.text, "shared");
    mcp_client_close(e.c, on_client_closed, &e);
    RUN_UNTIL(&e, e.close_done);
    e.c = NULL;
    assert_int_equal(e.f.n_deletes, 2);
    assert_int_equal(http_client_active(shared), 0);
    int hclosed = 0;
    http_client_close(shared, http_closed, &hclosed);
    RUN_UNTIL(&e, hclosed);
    env_teardown(&e);
}

static void test_bad_options(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, NULL, MCP_HTTP_STREAMABLE, NULL);
    mcp_client_http_options_t o = {.url = "ftp://127.0.0.1/x"};
    assert_int_equal(mcp_client_http_start(e.c, &o), MCP_EINVAL);
    o.url = NULL;
    assert_int_equal(mcp_client_http_start(e.c, &o), MCP_EINVAL);
    o.url = "http://127.0.0.1:1/mcp";
    o.mode = (mcp_client_http_mode_t)7;
    assert_int_equal(mcp_client_http_start(e.c, &o), MCP_EINVAL);
    o.mode = MCP_HTTP_STREAMABLE;
    mcp_client_http_header_t h = {"Accept", "*/*"};
    o.headers = &h;
    o.nheaders = 1;
    assert_int_equal(mcp_client_http_start(e.c, &o), MCP_EINVAL);
    h.name = "X-Token";
    h.value = "a\r\nInjected: 1";
    assert_int_equal(mcp_client_http_start(e.c, &o), MCP_EINVAL);
    h.name = "Bad Name";
    h.value = "v";
    assert_int_equal(mcp_client_http_start(e.c, &o), MCP_EINVAL);
    assert_int_equal(mcp_client_http_mode(e.c), MCP_EINVAL); /* nothing attached */
    o.headers = NULL;
    o.nheaders = 0;
    assert_int_equal(mcp_client_http_start(e.c, &o), 0);
    assert_int_equal(mcp_client_http_start(e.c, &o), MCP_ESTATE);
    env_teardown(&e);
}

int main(void)
{
    mcp_alloc_init();
    log_init_from_env();
    if (!getenv("MCP_LOG_LEVEL"))
        log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_session_and_headers),
        cmocka_unit_test(test_old_version_no_header),
        cmocka_unit_test(test_sse_progress_before_result),
        cmocka_unit_test(test_notification_answered_with_json),
        cmocka_unit_test(test_session_expiry_reinitializes),
        cmocka_unit_test(test_sse_resume_after_retry),
        cmocka_unit_test(test_reconnections_bounded),
        cmocka_unit_test(test_stream_end_without_id_fails),
        cmocka_unit_test(test_error_statuses),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_standalone_stream),
        cmocka_unit_test(test_standalone_refused_is_silent),
        cmocka_unit_test(test_legacy_sse),
        cmocka_unit_test(test_legacy_other_origin_refused),
        cmocka_unit_test(test_legacy_queue_bounded),
        cmocka_unit_test(test_auto_falls_back_to_legacy),
        cmocka_unit_test(test_auto_stays_streamable),
        cmocka_unit_test(test_close_sends_delete),
        cmocka_unit_test(test_concurrent_calls),
        cmocka_unit_test(test_deadline_aborts_stream),
        cmocka_unit_test(test_elicitation_round_trip),
        cmocka_unit_test(test_event_too_big),
        cmocka_unit_test(test_shared_http_client),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_start_allocation_failures),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return rc;
}
