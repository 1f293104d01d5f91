/* llm_server: OpenAI-compatible chat completions in front of llm_planner; see llm_server.h. */
#include "llm_server.h"

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "fault_inject.h"
#include "http_router.h"
#include "http_server.h"
#include "llm_planner.h"
#include "ready_file.h"
#include "log.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define COMP               "llm"
#define LLM_VERSION        "0.1.0"
#define MAX_REQUEST_BYTES  (16u * 1024 * 1024)
#define MAX_OUTPUT_BYTES   (256u * 1024 * 1024) /* oversized faults go far past 16 MiB */
#define MAX_METADATA_BYTES (16u * 1024 * 1024)
#define SHUTDOWN_GRACE_MS  1000
#define DEFAULT_MODEL      "mock-planner"

typedef struct pending_s pending_t;
struct pending_s {
    llm_server_t *srv;
    http_req_t *req; /* NULL once finished */
    uv_timer_t timer;
    fault_action_t act; /* the deciding rule's copy (act.rule NULL: none) */
    char *body;         /* slow_sse: the answer being dribbled */
    size_t len, off, chunk;
    pending_t *prev, *next;
};

struct llm_server_s {
    uv_loop_t *loop;
    http_server_t *http;
    http_router_t *router;
    llm_planner_t *planner;
    fault_set_t *faults;
    uint64_t seed;
    char *api_key;
    int typo_first, recover, allow_exit;
    int today_y, today_m, today_d;
    size_t max_files;
    llm_server_stats_t stats;
    uint64_t fired_by_type[FAULT_TYPE_COUNT];
    uint64_t by_status[6]; /* 1xx..5xx answers to chat requests, index status / 100 */
    uint64_t next_id;
    pending_t *pending;
    int handles; /* the HTTP server and every pending timer */
    int closing;
    llm_server_closed_fn cb;
    void *cb_ud;
};

/* ------------------------------------------------------------------ JSON answers */

static void respond_text(http_req_t *req, int status, char *text)
{
    if (!text) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":"
                                  "\"server_error\",\"param\":null,\"code\":null}}";
        (void)http_respond(req, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    (void)http_respond(req, status, "application/json", text, strlen(text));
    cJSON_free(text);
}

static void respond_json(http_req_t *req, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    respond_text(req, status, text);
}

/* {"error":{"message","type","param","code"}}; code NULL: null. Returns the text (cJSON_free). */
static char *error_text(const char *message, const char *type, const char *param, const char *code)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    if (!e || !cJSON_AddStringToObject(e, "message", message) ||
        !cJSON_AddStringToObject(e, "type", type) ||
        !(param ? cJSON_AddStringToObject(e, "param", param) : cJSON_AddNullToObject(e, "param")) ||
        !(code ? cJSON_AddStringToObject(e, "code", code) : cJSON_AddNullToObject(e, "code"))) {
        cJSON_Delete(root);
        return NULL;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static void respond_error(http_req_t *req, int status, const char *message, const char *type,
                          const char *param, const char *code)
{
    respond_text(req, status, error_text(message, type, param, code));
}

/* ------------------------------------------------------------------ pending requests */

static void maybe_done(llm_server_t *srv);

static void on_pending_closed(uv_handle_t *h)
{
    pending_t *p = h->data;
    llm_server_t *srv = p->srv;
    fault_action_clear(&p->act);
    mcp_free(p->body);
    mcp_free(p);
    srv->handles--;
    maybe_done(srv);
}

/* The request is finished (or was never taken): forget it and free the entry later. */
static void pending_drop(pending_t *p)
{
    llm_server_t *srv = p->srv;
    if (p->req)
        http_req_on_close(p->req, NULL, NULL);
    p->req = NULL;
    if (p->prev)
        p->prev->next = p->next;
    else
        srv->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_pending_closed);
}

static void on_pending_client_gone(http_req_t *req, void *ud)
{
    pending_t *p = ud;
    LOG_D(COMP, "client went away while a request was held", "id=%s", http_req_id_str(req));
    http_req_abort(req);
    p->req = NULL;
    pending_drop(p);
}

static pending_t *pending_new(llm_server_t *srv, http_req_t *req)
{
    pending_t *p = mcp_calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->srv = srv;
    p->req = req;
    uv_timer_init(srv->loop, &p->timer);
    p->timer.data = p;
    srv->handles++;
    p->next = srv->pending;
    if (p->next)
        p->next->prev = p;
    srv->pending = p;
    http_req_on_close(req, on_pending_client_gone, p);
    return p;
}

/* ------------------------------------------------------------------ faults */

static void count_status(llm_server_t *srv, int status)
{
    if (status >= 100 && status < 600)
        srv->by_status[status / 100]++;
}

/* Decide for one chat request; the deciding rule is copied into act. Returns the delay. */
static double decide(llm_server_t *srv, const char *model, fault_action_t *act)
{
    memset(act, 0, sizeof(*act));
    if (!srv->faults)
        return 0;
    fault_decision_t d = fault_set_decide(srv->faults, "chat.completions", model);
    if (d.rule) {
        if (fault_action_from_rule(act, d.rule) != 0) {
            LOG_W(COMP, "fault dropped: out of memory", "rule=%s", log_quote(d.rule->name));
            memset(act, 0, sizeof(*act));
        } else {
            srv->stats.faults++;
            srv->fired_by_type[d.rule->type]++;
            LOG_I(COMP, "fault", "rule=%s type=%s model=%s", log_quote(d.rule->name),
                  fault_type_name(d.rule->type), log_quote(model ? model : ""));
        }
    }
    return d.delay_ms;
}

/* ------------------------------------------------------------------ chat completions */

static int header_flag(http_req_t *req, const char *name, int dflt)
{
    const char *v = http_req_header(req, name);
    if (!v)
        return dflt;
    return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "on") == 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The answer to a chat request: *status and the body text (cJSON_free; NULL on ENOMEM). */
static char *build_answer(llm_server_t *srv, http_req_t *req, const fault_action_t *act,
                          int *status)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    cJSON *root = cJSON_ParseWithLength(body, len);
    char err[512] = "";
    *status = 400;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return error_text("We could not parse the JSON body of your request: expected a JSON "
                          "object",
                          "invalid_request_error", NULL, NULL);
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "n");
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
    char *out = NULL;
    if (!cJSON_IsString(model) || !model->valuestring[0]) {
        out = error_text("you must provide a model parameter", "invalid_request_error", "model",
                         NULL);
        goto done;
    }
    if (cJSON_IsTrue(stream)) {
        out = error_text("stream: streaming is not supported by mcp-mock llm",
                         "invalid_request_error", "stream", NULL);
        goto done;
    }
    if (n && !(cJSON_IsNumber(n) && n->valuedouble == 1)) {
        out = error_text("n: only n=1 is supported", "invalid_request_error", "n", NULL);
        goto done;
    }
    llm_plan_opts_t opts = {
        .typo_first = header_flag(req, "X-Mock-LLM-Typo",
                                  srv->typo_first || ends_with(model->valuestring, "-typo")),
        .recover = header_flag(req, "X-Mock-LLM-Recover", srv->recover),
        .tool_choice_none = cJSON_IsString(choice) && strcmp(choice->valuestring, "none") == 0,
        .today_y = srv->today_y,
        .today_m = srv->today_m,
        .today_d = srv->today_d,
        .max_files = srv->max_files,
    };
    const char *today = http_req_header(req, "X-Mock-LLM-Today");
    if (today && llm_planner_parse_date(today, &opts.today_y, &opts.today_m, &opts.today_d) != 0) {
        out = error_text("X-Mock-LLM-Today: expected a date YYYY-MM-DD", "invalid_request_error",
                         NULL, NULL);
        goto done;
    }
    llm_plan_t plan;
    int rc = llm_planner_plan(srv->planner, cJSON_GetObjectItemCaseSensitive(root, "messages"),
                              cJSON_GetObjectItemCaseSensitive(root, "tools"), &opts, &plan, err,
                              sizeof(err));
    if (rc) {
        if (rc == MCP_ENOMEM) {
            *status = 500;
            goto done;
        }
        out = error_text(err, "invalid_request_error",
                         strncmp(err, "tools", 5) == 0 ? "tools" : "messages", NULL);
        goto done;
    }
    if (act && act->rule && act->type == FAULT_TOOL_ERROR) {
        /* The model "says" the rule's message instead of planning. */
        cJSON_DeleteItemFromObjectCaseSensitive(plan.message, "tool_calls");
        cJSON_DeleteItemFromObjectCaseSensitive(plan.message, "content");
        cJSON_AddStringToObject(plan.message, "content",
                                act->message ? act->message : "Injected tool error");
        plan.finish_reason = "stop";
    }
    int calls = cJSON_GetObjectItemCaseSensitive(plan.message, "tool_calls") != NULL;
    char *msg_text = cJSON_PrintUnformatted(plan.message);
    size_t completion = msg_text ? strlen(msg_text) : 0;
    cJSON_free(msg_text);
    char id[64];
    snprintf(id, sizeof(id), "chatcmpl-mock-%llu", (unsigned long long)++srv->next_id);
    cJSON *resp = cJSON_CreateObject();
    cJSON *choices = cJSON_CreateArray();
    cJSON *c0 = cJSON_CreateObject();
    cJSON *usage = cJSON_CreateObject();
    if (!resp || !choices || !c0 || !usage) {
        cJSON_Delete(resp);
        cJSON_Delete(choices);
        cJSON_Delete(c0);
        cJSON_Delete(usage);
        llm_plan_clear(&plan);
        *status = 500;
        goto done;
    }
    cJSON_AddStringToObject(resp, "id", id);
    cJSON_AddStringToObject(resp, "object", "chat.completion");
    cJSON_AddNumberToObject(resp, "created", (double)time(NULL));
    cJSON_AddStringToObject(resp, "model", model->valuestring);
    /* Attach the containers before filling them, so that one delete of resp frees everything. */
    cJSON_AddItemToArray(choices, c0);
    if (!cJSON_AddItemToObject(resp, "choices", choices)) {
        cJSON_Delete(choices);
        choices = NULL;
    }
    if (!cJSON_AddItemToObject(resp, "usage", usage)) {
        cJSON_Delete(usage);
        usage = NULL;
    }
    if (choices && cJSON_AddItemToObject(c0, "message", plan.message))
        plan.message = NULL;
    if (!choices || !usage || plan.message) {
        cJSON_Delete(resp);
        llm_plan_clear(&plan);
        *status = 500;
        goto done;
    }
    cJSON_AddNumberToObject(c0, "index", 0);
    cJSON_AddNullToObject(c0, "logprobs");
    cJSON_AddStringToObject(c0, "finish_reason", plan.finish_reason);
    double prompt_tokens = (double)((len + 3) / 4);
    double completion_tokens = (double)((completion + 3) / 4);
    cJSON_AddNumberToObject(usage, "prompt_tokens", prompt_tokens);
    cJSON_AddNumberToObject(usage, "completion_tokens", completion_tokens);
    cJSON_AddNumberToObject(usage, "total_tokens", prompt_tokens + completion_tokens);
    cJSON_AddStringToObject(resp, "system_fingerprint", "mcp-mock-llm");
    out = cJSON_PrintUnformatted(resp);
    cJSON_Delete(resp);
    if (out) {
        *status = 200;
        if (calls)
            srv->stats.tool_calls++;
        else
            srv->stats.answers++;
        LOG_D(COMP, "planned", "id=%s rule=%s finish=%s", id, plan.rule, plan.finish_reason);
    } else {
        *status = 500;
    }
done:
    cJSON_Delete(root);
    if (*status == 400)
        srv->stats.bad_requests++;
    return out;
}

static void on_dribble(uv_timer_t *t)
{
    pending_t *p = t->data;
    size_t chunk = p->chunk;
    if (p->off + chunk > p->len)
        chunk = p->len - p->off;
    int rc = chunk ? http_stream_write(p->req, p->body + p->off, chunk) : 0;
    p->off += chunk;
    if (rc == MCP_ECLOSED || rc == MCP_ENOMEM || p->off >= p->len) {
        http_req_t *req = p->req;
        pending_drop(p);
        (void)http_stream_end(req);
    }
}

/* Answer with the planner, transformed by a message-level fault. p (may be NULL) holds the
 * request when it was delayed; it is dropped or reused here. */
static void answer(llm_server_t *srv, http_req_t *req, pending_t *p, const fault_action_t *act)
{
    int status;
    char *text = build_answer(srv, req, act, &status);
    fault_type_t type = act && act->rule ? act->type : FAULT_TYPE_COUNT;
    count_status(srv, text ? status : 500);
    if (!text || status != 200 ||
        (type != FAULT_MALFORMED && type != FAULT_OVERSIZED && type != FAULT_TRUNCATE &&
         type != FAULT_SLOW_SSE)) {
        if (p)
            pending_drop(p);
        respond_text(req, status, text);
        return;
    }
    size_t len = strlen(text);
    buf_t out;
    buf_init(&out, MAX_OUTPUT_BYTES);
    int rc = 0;
    if (type == FAULT_MALFORMED)
        rc = fault_inject_malformed(text, len, &out);
    else if (type == FAULT_OVERSIZED)
        rc = fault_inject_oversized(text, len, act->bytes ? act->bytes : 8u * 1024 * 1024, &out);
    if (type == FAULT_MALFORMED || type == FAULT_OVERSIZED) {
        if (p)
            pending_drop(p);
        if (rc)
            respond_error(req, 500, "out of memory", "server_error", NULL, NULL);
        else
            (void)http_respond(req, 200, "application/json", out.data, out.len);
        buf_free(&out);
        cJSON_free(text);
        return;
    }
    buf_free(&out);
    if (type == FAULT_TRUNCATE) {
        if (p)
            pending_drop(p);
        size_t n = act->bytes ? act->bytes : len / 2;
        if (n > len)
            n = len;
        if (http_stream_start(req, 200, "application/json", 0) == 0)
            (void)http_stream_write(req, text, n);
        http_req_abort(req);
        cJSON_free(text);
        return;
    }
    /* slow_sse: dribble the body in chunks (chunked encoding). */
    if (!p && !(p = pending_new(srv, req))) {
        cJSON_free(text);
        respond_error(req, 500, "out of memory", "server_error", NULL, NULL);
        return;
    }
    p->chunk = act->chunk_bytes ? act->chunk_bytes : 16;
    p->body = mcp_strdup(text);
    p->len = len;
    cJSON_free(text);
    if (!p->body || http_stream_start(req, 200, "application/json", 0) != 0) {
        pending_drop(p);
        http_req_abort(req);
        return;
    }
    uint64_t every = act->delay_ms > 0 ? (uint64_t)(act->delay_ms + 0.5) : 20;
    uv_timer_start(&p->timer, on_dribble, every, every);
}

/* Carry out the request-level outcome of act (or answer normally). */
static void outcome(llm_server_t *srv, http_req_t *req, pending_t *p, const fault_action_t *act)
{
    fault_type_t type = act->rule ? act->type : FAULT_TYPE_COUNT;
    char msg[256];
    switch (type) {
    case FAULT_ERROR: {
        if (p)
            pending_drop(p);
        count_status(srv, 500);
        snprintf(msg, sizeof(msg), "%s", act->message ? act->message : "Injected fault");
        char code[32];
        snprintf(code, sizeof(code), "%d", act->code ? act->code : -32603);
        respond_error(req, 500, msg, "server_error", NULL, code);
        return;
    }
    case FAULT_HTTP_STATUS:
    case FAULT_SESSION_EXPIRY: {
        if (p)
            pending_drop(p);
        int status = type == FAULT_SESSION_EXPIRY               ? 404
                     : act->status >= 400 && act->status <= 599 ? act->status
                                                                : 503;
        if (type == FAULT_HTTP_STATUS && act->retry_after > 0) {
            char v[32];
            snprintf(v, sizeof(v), "%d", act->retry_after);
            (void)http_resp_header(req, "Retry-After", v);
        }
        count_status(srv, status);
        snprintf(msg, sizeof(msg), "%s (injected HTTP %d)",
                 status == 429   ? "Rate limit reached for requests"
                 : status == 404 ? "The model does not exist or you do not have access to it"
                                 : "The server is overloaded or not ready yet",
                 status);
        respond_error(req, status, msg,
                      status == 429   ? "rate_limit_error"
                      : status == 404 ? "invalid_request_error"
                                      : "server_error",
                      NULL, status == 429 ? "rate_limit_exceeded" : NULL);
        return;
    }
    case FAULT_HANG:
        if (!p && !pending_new(srv, req)) /* held until the client or the server goes */
            respond_error(req, 500, "out of memory", "server_error", NULL, NULL);
        return;
    case FAULT_EXIT:
    case FAULT_CRASH:
        if (srv->allow_exit) {
            LOG_W(COMP, "fault: ending the process", "rule=%s type=%s", log_quote(act->rule),
                  fault_type_name(type));
            fflush(stderr);
            if (type == FAULT_EXIT)
                _exit(act->exit_code);
            struct rlimit none = {0, 0};
            (void)setrlimit(RLIMIT_CORE, &none);
            abort();
        }
        /* In process, a dying server is a closed connection. */
        /* fall through */
    case FAULT_CLOSE:
        if (p)
            pending_drop(p);
        http_req_abort(req);
        return;
    default: answer(srv, req, p, act); return;
    }
}

/* The latency is over: the outcome drops p, keeps it (hang) or reuses it (slow_sse). */
static void on_delay(uv_timer_t *t)
{
    pending_t *p = t->data;
    fault_action_t act = p->act;
    memset(&p->act, 0, sizeof(p->act));
    outcome(p->srv, p->req, p, &act);
    fault_action_clear(&act);
}

static int authorized(llm_server_t *srv, http_req_t *req)
{
    if (!srv->api_key)
        return 1;
    const char *h = http_req_header(req, "Authorization");
    return h && strncasecmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, srv->api_key) == 0;
}

static void on_chat(http_req_t *req, void *ud)
{
    llm_server_t *srv = ud;
    srv->stats.requests++;
    if (!authorized(srv, req)) {
        srv->stats.bad_requests++;
        count_status(srv, 401);
        respond_error(req, 401,
                      "Incorrect API key provided (mcp-mock llm expects 'Authorization: Bearer "
                      "<its --api-key>')",
                      "invalid_request_error", NULL, "invalid_api_key");
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    fault_action_t act;
    double delay = decide(srv, cJSON_IsString(m) ? m->valuestring : NULL, &act);
    cJSON_Delete(root);
    if (delay > 0) {
        pending_t *p = pending_new(srv, req);
        if (!p) {
            fault_action_clear(&act);
            respond_error(req, 500, "out of memory", "server_error", NULL, NULL);
            return;
        }
        p->act = act;
        uv_timer_start(&p->timer, on_delay, (uint64_t)(delay + 0.5), 0);
        return;
    }
    outcome(srv, req, NULL, &act);
    fault_action_clear(&act);
}

/* ------------------------------------------------------------------ other routes */

static void on_models(http_req_t *req, void *ud)
{
    (void)ud;
    static const char *const ids[] = {DEFAULT_MODEL, DEFAULT_MODEL "-typo"};
    cJSON *root = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    cJSON_AddStringToObject(root, "object", "list");
    for (size_t i = 0; data && i < 2; i++) {
        cJSON *mdl = cJSON_CreateObject();
        cJSON_AddItemToArray(data, mdl);
        cJSON_AddStringToObject(mdl, "id", ids[i]);
        cJSON_AddStringToObject(mdl, "object", "model");
        cJSON_AddNumberToObject(mdl, "created", 0);
        cJSON_AddStringToObject(mdl, "owned_by", "mcp-mock");
    }
    respond_json(req, 200, root);
}

static void on_health(http_req_t *req, void *ud)
{
    llm_server_t *srv = ud;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", "ok");
    cJSON_AddStringToObject(root, "kind", "llm");
    cJSON_AddStringToObject(root, "transport", "http");
    cJSON_AddNumberToObject(root, "pid", (double)getpid());
    cJSON_AddNumberToObject(root, "requests", (double)srv->stats.requests);
    respond_json(req, 200, root);
}

static cJSON *faults_json(const llm_server_t *srv)
{
    if (srv->faults)
        return fault_set_to_json(srv->faults);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddArrayToObject(root, "rules");
    return root;
}

static void on_faults_get(http_req_t *req, void *ud)
{
    respond_json(req, 200, faults_json(ud));
}

static void on_faults_put(http_req_t *req, void *ud)
{
    llm_server_t *srv = ud;
    size_t len;
    const char *body = http_req_body(req, &len);
    char err[256] = "";
    fault_set_t *set = NULL;
    int rc = fault_set_parse(body, len, srv->seed, &set, err, sizeof(err));
    if (rc) {
        LOG_W(COMP, "PUT /_mock/faults rejected", "error=%s", log_quote(err));
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "error", err[0] ? err : mcp_strerror(rc));
        respond_json(req, rc == MCP_ENOMEM ? 500 : 400, e);
        return;
    }
    llm_server_set_faults(srv, set);
    LOG_I(COMP, "fault rules replaced", "rules=%zu", set ? set->count : 0);
    respond_json(req, 200, faults_json(srv));
}

static void on_faults_delete(http_req_t *req, void *ud)
{
    llm_server_t *srv = ud;
    llm_server_set_faults(srv, NULL);
    LOG_I(COMP, "fault rules cleared", "rules=%d", 0);
    respond_json(req, 200, faults_json(srv));
}

static void on_stats(http_req_t *req, void *ud)
{
    llm_server_t *srv = ud;
    cJSON *root = cJSON_CreateObject();
    cJSON *r = cJSON_AddObjectToObject(root, "requests");
    cJSON *f = cJSON_AddObjectToObject(root, "faults");
    if (r && f) {
        cJSON_AddNumberToObject(r, "total", (double)srv->stats.requests);
        cJSON_AddNumberToObject(r, "tool_calls", (double)srv->stats.tool_calls);
        cJSON_AddNumberToObject(r, "answers", (double)srv->stats.answers);
        cJSON_AddNumberToObject(r, "bad_requests", (double)srv->stats.bad_requests);
        cJSON *bs = cJSON_AddObjectToObject(r, "by_status");
        for (int i = 1; bs && i < 6; i++) {
            char k[8];
            snprintf(k, sizeof(k), "%dxx", i);
            cJSON_AddNumberToObject(bs, k, (double)srv->by_status[i]);
        }
        cJSON_AddNumberToObject(f, "fired_total", (double)srv->stats.faults);
        cJSON *bt = cJSON_AddObjectToObject(f, "by_type");
        for (int i = 0; bt && i < FAULT_TYPE_COUNT; i++)
            if (srv->fired_by_type[i])
                cJSON_AddNumberToObject(bt, fault_type_name((fault_type_t)i),
                                        (double)srv->fired_by_type[i]);
    }
    respond_json(req, 200, root);
}

static void on_not_found(http_req_t *req, void *ud)
{
    (void)ud;
    char msg[256];
    snprintf(msg, sizeof(msg), "Unknown request URL: %s %.160s", http_req_method_str(req),
             http_req_path(req));
    respond_error(req, 404, msg, "invalid_request_error", NULL, "unknown_url");
}

/* ------------------------------------------------------------------ lifetime */

static void server_free(llm_server_t *srv)
{
    http_router_free(srv->router);
    llm_planner_free(srv->planner);
    fault_set_free(srv->faults);
    mcp_free(srv->api_key);
    mcp_free(srv);
}

static void maybe_done(llm_server_t *srv)
{
    if (!srv->closing || srv->handles > 0)
        return;
    if (srv->cb)
        srv->cb(srv, srv->cb_ud);
    server_free(srv);
}

static void on_http_closed(http_server_t *h, void *ud)
{
    llm_server_t *srv = ud;
    http_server_free(h);
    srv->http = NULL;
    srv->handles--;
    maybe_done(srv);
}

int llm_server_start(uv_loop_t *loop, const llm_server_config_t *cfg, llm_server_t **out, char *err,
                     size_t errcap)
{
    *out = NULL;
    if (err && errcap)
        err[0] = '\0';
    llm_server_t *srv = mcp_calloc(1, sizeof(*srv));
    if (!srv) {
        fault_set_free(cfg->faults);
        return MCP_ENOMEM;
    }
    srv->loop = loop;
    srv->faults = cfg->faults;
    srv->seed = cfg->seed;
    srv->typo_first = cfg->typo_first;
    srv->recover = !cfg->no_recover;
    srv->allow_exit = cfg->allow_exit;
    srv->max_files = cfg->max_files;
    int rc = 0;
    if (cfg->today &&
        llm_planner_parse_date(cfg->today, &srv->today_y, &srv->today_m, &srv->today_d) != 0) {
        snprintf(err, errcap, "--today: expected a date YYYY-MM-DD, got '%s'", cfg->today);
        rc = MCP_EINVAL;
    }
    if (!rc && cfg->api_key && cfg->api_key[0] && !(srv->api_key = mcp_strdup(cfg->api_key)))
        rc = MCP_ENOMEM;
    if (!rc)
        rc = llm_planner_new(cfg->metadata_json, &srv->planner, err, errcap);
    if (!rc && !(srv->router = http_router_new()))
        rc = MCP_ENOMEM;
    if (!rc) {
        struct {
            const char *methods, *path;
            http_handler_fn fn;
        } routes[] = {
            {"POST", "/v1/chat/completions", on_chat},
            {"POST", "/chat/completions", on_chat},
            {"GET", "/v1/models", on_models},
            {"GET", "/models", on_models},
            {"GET", "/health", on_health},
            {"GET", "/_mock/faults", on_faults_get},
            {"PUT", "/_mock/faults", on_faults_put},
            {"DELETE", "/_mock/faults", on_faults_delete},
            {"GET", "/_mock/stats", on_stats},
        };
        for (size_t i = 0; !rc && i < sizeof(routes) / sizeof(routes[0]); i++)
            rc = http_router_add(srv->router, routes[i].methods, routes[i].path, routes[i].fn, srv);
        http_router_set_fallback(srv->router, on_not_found, srv);
    }
    if (!rc) {
        http_server_config_t hc;
        http_server_config_init(&hc);
        hc.max_body_bytes = MAX_REQUEST_BYTES;
        hc.max_output_bytes = MAX_OUTPUT_BYTES;
        rc = http_server_new(loop, &hc, http_router_handle, srv->router, &srv->http);
    }
    if (rc) {
        if (rc == MCP_ENOMEM && err && errcap)
            snprintf(err, errcap, "out of memory");
        server_free(srv);
        return rc;
    }
    srv->handles = 1;
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    rc = http_server_listen(srv->http, host, cfg->port);
    if (rc) {
        snprintf(err, errcap, "cannot listen on %s:%d: %s", host, cfg->port, mcp_strerror(rc));
        /* After a listen attempt the HTTP server must be shut down; run the loop to finish. */
        srv->closing = 1;
        if (http_server_shutdown(srv->http, 0, on_http_closed, srv) != 0) {
            http_server_free(srv->http);
            server_free(srv);
        }
        return rc;
    }
    LOG_I(COMP, "listening", "host=%s port=%d", host, http_server_port(srv->http));
    *out = srv;
    return 0;
}

int llm_server_port(const llm_server_t *srv)
{
    return srv->http ? http_server_port(srv->http) : MCP_ESTATE;
}

void llm_server_set_faults(llm_server_t *srv, fault_set_t *set)
{
    fault_set_free(srv->faults); /* pending requests hold copies, never the rules */
    srv->faults = set;
}

fault_set_t *llm_server_faults(llm_server_t *srv)
{
    return srv->faults;
}

void llm_server_get_stats(const llm_server_t *srv, llm_server_stats_t *out)
{
    *out = srv->stats;
}

int llm_server_close(llm_server_t *srv, llm_server_closed_fn cb, void *ud)
{
    if (srv->closing)
        return MCP_ESTATE;
    srv->closing = 1;
    srv->cb = cb;
    srv->cb_ud = ud;
    while (srv->pending) {
        pending_t *p = srv->pending;
        http_req_t *req = p->req;
        pending_drop(p);
        if (req)
            http_req_abort(req);
    }
    if (http_server_shutdown(srv->http, SHUTDOWN_GRACE_MS, on_http_closed, srv) != 0) {
        /* Already shutting down cannot happen here; be safe and finish from the loop. */
        srv->handles--;
    }
    return 0;
}

/* ------------------------------------------------------------------ the program */

static int llm_kind_setup(mcp_server_t *server, const mock_options_t *opts, void **state, char *err,
                          size_t errcap)
{
    (void)server;
    (void)opts;
    (void)state;
    snprintf(err, errcap, "llm is not an MCP kind: run it with mock_llm_main");
    return MCP_EUNSUPPORTED;
}

const mock_kind_t mock_kind_llm = {
    .name = "llm",
    .summary = "OpenAI-compatible chat completions whose model is a deterministic planner",
    .help = "Serves POST /v1/chat/completions over HTTP (no MCP); see mcp-mock llm --help.",
    .server_name = "mcp-mock-llm",
    .setup = llm_kind_setup,
};

typedef struct app_s {
    uv_loop_t loop;
    llm_server_t *srv;
    llm_server_config_t cfg;
    char host[64];
    const char *faults_spec;
    const char *ready_file;
    char *metadata;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t start_timer;
    int stopping;
    int exit_code;
} app_t;

static void usage(FILE *f)
{
    fputs("usage: mcp-mock llm [options]\n"
          "llm: an OpenAI-compatible chat-completions server whose model is a deterministic "
          "planner\n"
          "(POST /v1/chat/completions, GET /v1/models, GET /health, /_mock/faults, "
          "/_mock/stats).\n\n"
          "Options:\n"
          "  --listen HOST:PORT     address (default 127.0.0.1:0; port 0 picks a free port)\n"
          "  --transport http       the only transport (accepted for symmetry)\n"
          "  --faults SPEC          fault rules, inline JSON or @FILE; matched with method\n"
          "                         \"chat.completions\" and the model name as the tool\n"
          "  --seed N               seed of the fault rules' random streams (default 1)\n"
          "  --typo-first           the first SQL of every turn gets a typo (SELECT -> SELCT)\n"
          "  --no-recover           do not correct SQL whose result reports an error\n"
          "  --today YYYY-MM-DD     the planner's today (default: the current UTC date)\n"
          "  --metadata FILE        product metadata JSON (default: the built-in\n"
          "                         product_metadata.json)\n"
          "  --api-key KEY          require Authorization: Bearer KEY (or MOCK_LLM_API_KEY)\n"
          "  --max-files N          GitHub SQL files the planner reads and runs (default 5)\n"
          "  --ready-file PATH      also write the base URL to PATH, atomically\n"
          "  --log-level LEVEL      debug|info|warn|error|off (default info)\n"
          "  -h, --help             this help\n"
          "Per request: model \"mock-planner-typo\" or header X-Mock-LLM-Typo: 1 for a typo,\n"
          "X-Mock-LLM-Recover: 0|1, X-Mock-LLM-Today: YYYY-MM-DD.\n"
          "Readiness line on stdout:\n"
          "  mcp-mock ready kind=llm transport=http url=http://127.0.0.1:PORT/v1 pid=PID\n"
          "Signals: SIGTERM/SIGINT stop cleanly (exit 0); SIGHUP reloads the --faults rules.\n"
          "Exit status: 0 clean stop, 1 could not start, 2 bad usage.\n",
          f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mcp-mock llm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see mcp-mock llm --help)\n", stderr);
    va_end(ap);
    return 2;
}

static int parse_listen(app_t *app, const char *s)
{
    const char *colon, *host = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - s);
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (hlen == 0 || hlen >= sizeof(app->host) || !colon[1] || *end || errno || port < 0 ||
        port > 65535)
        return -1;
    memcpy(app->host, host, hlen);
    app->host[hlen] = '\0';
    if (strcmp(app->host, "localhost") == 0)
        strcpy(app->host, "127.0.0.1");
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    if (uv_ip4_addr(app->host, 0, &a4) != 0 && uv_ip6_addr(app->host, 0, &a6) != 0)
        return -1;
    app->cfg.port = (int)port;
    return 0;
}

static char *read_file(const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b;
    buf_init(&b, MAX_METADATA_BYTES);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (rc || bad) {
        snprintf(err, errcap, "%s: %s", path, rc ? mcp_strerror(rc) : "read error");
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* -1 to go on, or the exit status. */
static int parse_args(app_t *app, int argc, char **argv)
{
    strcpy(app->host, "127.0.0.1");
    app->cfg.seed = 1;
    app->cfg.allow_exit = 1;
    const char *env_key = getenv("MOCK_LLM_API_KEY");
    if (env_key && env_key[0])
        app->cfg.api_key = env_key;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("mcp-mock %s\n", LLM_VERSION);
            return 0;
        }
        if (strcmp(a, "--typo-first") == 0) {
            app->cfg.typo_first = 1;
            continue;
        }
        if (strcmp(a, "--no-recover") == 0) {
            app->cfg.no_recover = 1;
            continue;
        }
        static const char *const valued[] = {
            "--listen",   "--transport", "--faults",    "--seed",       "--today",
            "--metadata", "--api-key",   "--max-files", "--ready-file", "--log-level"};
        char name[32];
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        int known = 0;
        if (nlen < sizeof(name)) {
            memcpy(name, a, nlen);
            name[nlen] = '\0';
            for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
                known |= strcmp(name, valued[k]) == 0;
        }
        if (!known)
            return usage_error("unknown option '%s'", a);
        const char *value;
        if (eq)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return usage_error("%s needs a value", name);
        char *end;
        if (strcmp(name, "--listen") == 0) {
            if (parse_listen(app, value))
                return usage_error("--listen: expected HOST:PORT with an IP address (e.g. "
                                   "127.0.0.1:0), got '%s'",
                                   value);
        } else if (strcmp(name, "--transport") == 0) {
            if (strcmp(value, "http") != 0)
                return usage_error("--transport: the llm kind serves only http, got '%s'", value);
        } else if (strcmp(name, "--faults") == 0) {
            if (!value[0])
                return usage_error("--faults: expected inline JSON or @FILE");
            app->faults_spec = value;
        } else if (strcmp(name, "--seed") == 0) {
            errno = 0;
            unsigned long long v = strtoull(value, &end, 10);
            if (!value[0] || value[0] == '-' || *end || errno)
                return usage_error("--seed: expected a non-negative integer, got '%s'", value);
            app->cfg.seed = v;
        } else if (strcmp(name, "--today") == 0) {
            int y, m, d;
            if (llm_planner_parse_date(value, &y, &m, &d) != 0)
                return usage_error("--today: expected a date YYYY-MM-DD, got '%s'", value);
            app->cfg.today = value;
        } else if (strcmp(name, "--metadata") == 0) {
            char err[512];
            mcp_free(app->metadata);
            if (!(app->metadata = read_file(value, err, sizeof(err))))
                return usage_error("--metadata: %s", err);
            app->cfg.metadata_json = app->metadata;
        } else if (strcmp(name, "--api-key") == 0) {
            app->cfg.api_key = value;
        } else if (strcmp(name, "--max-files") == 0) {
            errno = 0;
            long v = strtol(value, &end, 10);
            if (!value[0] || *end || errno || v < 1 || v > 100)
                return usage_error("--max-files: expected an integer from 1 to 100, got '%s'",
                                   value);
            app->cfg.max_files = (size_t)v;
        } else if (strcmp(name, "--ready-file") == 0) {
            if (!value[0])
                return usage_error("--ready-file: expected a path");
            app->ready_file = value;
        } else if (strcmp(name, "--log-level") == 0) {
            log_level_t level;
            if (log_level_parse(value, &level))
                return usage_error("--log-level: expected debug, info, warn, error or off, got "
                                   "'%s'",
                                   value);
            log_set_level(level);
        }
    }
    app->cfg.host = app->host;
    return -1;
}

static void on_app_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void close_app_handles(app_t *app)
{
    uv_close((uv_handle_t *)&app->sig_term, on_app_handle_closed);
    uv_close((uv_handle_t *)&app->sig_int, on_app_handle_closed);
    uv_close((uv_handle_t *)&app->sig_hup, on_app_handle_closed);
    uv_close((uv_handle_t *)&app->start_timer, on_app_handle_closed);
}

static void on_server_closed(llm_server_t *srv, void *ud)
{
    (void)srv;
    app_t *app = ud;
    app->srv = NULL;
    LOG_I(COMP, "stopped", "exit=%d", app->exit_code);
    close_app_handles(app);
}

static void app_stop(app_t *app)
{
    if (app->stopping)
        return;
    app->stopping = 1;
    uv_timer_stop(&app->start_timer);
    if (!app->srv || llm_server_close(app->srv, on_server_closed, app) != 0)
        close_app_handles(app);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_t *app = s->data;
    if (signum != SIGHUP) {
        LOG_I(COMP, "stopping", "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
        app_stop(app);
        return;
    }
    if (!app->faults_spec) {
        LOG_W(COMP, "SIGHUP: no --faults to reload", "kind=%s", "llm");
        return;
    }
    char err[256] = "";
    fault_set_t *set = NULL;
    int rc = fault_set_parse_spec(app->faults_spec, app->cfg.seed, &set, err, sizeof(err));
    if (rc) {
        LOG_E(COMP, "SIGHUP: fault rules not reloaded; keeping the old ones", "error=%s",
              log_quote(err[0] ? err : mcp_strerror(rc)));
        return;
    }
    if (app->srv)
        llm_server_set_faults(app->srv, set);
    else
        fault_set_free(set);
    LOG_I(COMP, "SIGHUP: fault rules reloaded", "spec=%s", log_quote(app->faults_spec));
}

static void app_start(app_t *app)
{
    char err[512] = "";
    llm_server_t *srv = NULL;
    int rc = llm_server_start(&app->loop, &app->cfg, &srv, err, sizeof(err));
    app->cfg.faults = NULL; /* taken */
    if (rc) {
        fprintf(stderr, "mcp-mock llm: %s\n", err[0] ? err : mcp_strerror(rc));
        app->exit_code = rc == MCP_EINVAL ? 2 : 1;
        app_stop(app);
        return;
    }
    app->srv = srv;
    int v6 = strchr(app->host, ':') != NULL;
    char url[160];
    snprintf(url, sizeof(url), "http://%s%s%s:%d/v1", v6 ? "[" : "", app->host, v6 ? "]" : "",
             llm_server_port(srv));
    if (app->ready_file && (rc = mock_write_ready_file(app->ready_file, url)) != 0) {
        LOG_E(COMP, "cannot write the ready file", "path=%s error=%s", log_quote(app->ready_file),
              mcp_strerror(rc));
        app->exit_code = 1;
        app_stop(app);
        return;
    }
    printf("mcp-mock ready kind=llm transport=http url=%s pid=%d\n", url, (int)getpid());
    fflush(stdout);
}

static void on_slow_start(uv_timer_t *t)
{
    app_t *app = t->data;
    if (!app->stopping)
        app_start(app);
}

int mock_llm_main(int argc, char **argv)
{
    app_t app;
    memset(&app, 0, sizeof(app));
    int rc = parse_args(&app, argc, argv);
    if (rc >= 0) {
        mcp_free(app.metadata);
        return rc;
    }
    if (app.faults_spec) {
        char err[256] = "";
        rc = fault_set_parse_spec(app.faults_spec, app.cfg.seed, &app.cfg.faults, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "mcp-mock llm: --faults: %s\n", err[0] ? err : mcp_strerror(rc));
            mcp_free(app.metadata);
            return 2;
        }
    }
    if (uv_loop_init(&app.loop) != 0) {
        fprintf(stderr, "mcp-mock llm: cannot create the event loop\n");
        fault_set_free(app.cfg.faults);
        mcp_free(app.metadata);
        return 1;
    }
    uv_signal_init(&app.loop, &app.sig_term);
    uv_signal_init(&app.loop, &app.sig_int);
    uv_signal_init(&app.loop, &app.sig_hup);
    uv_timer_init(&app.loop, &app.start_timer);
    app.sig_term.data = app.sig_int.data = app.sig_hup.data = app.start_timer.data = &app;
    uv_signal_start(&app.sig_term, on_signal, SIGTERM);
    uv_signal_start(&app.sig_int, on_signal, SIGINT);
    uv_signal_start(&app.sig_hup, on_signal, SIGHUP);
    const fault_rule_t *slow =
        app.cfg.faults ? fault_set_find_type(app.cfg.faults, FAULT_SLOW_START) : NULL;
    if (slow && slow->ms > 0) {
        LOG_I(COMP, "slow start: delaying readiness", "ms=%.0f rule=%s", slow->ms,
              log_quote(slow->name));
        uv_timer_start(&app.start_timer, on_slow_start, (uint64_t)(slow->ms + 0.5), 0);
    } else {
        app_start(&app);
    }
    uv_run(&app.loop, UV_RUN_DEFAULT);
    fault_set_free(app.cfg.faults);
    mcp_free(app.metadata);
    if (uv_loop_close(&app.loop) != 0) {
        LOG_E(COMP, "event loop not empty at exit", "kind=%s", "llm");
        return 1;
    }
    return app.exit_code;
}
