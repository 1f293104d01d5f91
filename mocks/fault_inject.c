#include "fault_inject.h"

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "jsonrpc.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define COMP            "faults"
#define MAX_COUNTERS    512
#define MAX_PENDING     1024
#define MAX_DRIBBLE     (64u * 1024 * 1024)
#define MAX_TRANSFORMED (256u * 1024 * 1024)
#define OTHER_NAME      "(other)"

typedef struct {
    char *name;
    int type; /* fault_type_t for rule counters, -1 otherwise */
    uint64_t n;
} counter_t;

typedef struct {
    counter_t *v;
    size_t n, cap;
} counters_t;

/* A message-level effect waiting for the final response of (session, id). */
typedef struct pending_s {
    mcp_session_t *session;
    jsonrpc_id_t id;
    fault_action_t act;
    struct pending_s *next;
} pending_t;

/* A call held back by a latency rule. */
typedef struct delayed_s {
    uv_timer_t timer;
    fault_inject_t *fi;
    mcp_call_t *call; /* referenced */
    fault_action_t act;
    struct delayed_s *prev, *next;
} delayed_t;

struct fault_inject_s {
    uv_loop_t *loop;
    mcp_server_t *server;
    fault_inject_transport_t transport;
    fault_set_t *set;
    uint64_t started_ms;
    uint64_t requests;
    counters_t by_method, by_tool, archived; /* archived: fired counts of replaced sets */
    pending_t *pending;
    size_t npending;
    delayed_t *delayed;
    fault_rate_limit_fn rate_limit; /* NULL: the generic answer */
    /* stdio dribble (slow_sse): while bytes are queued here every message goes behind them */
    mcp_stdio_server_t *io;
    uv_timer_t dribble_timer;
    buf_t dribble;
    size_t dribble_chunk;
    uint64_t dribble_delay_ms;
#ifdef MOCK_HAVE_HTTP
    mcp_http_server_t *http;
#endif
    /* A decision the HTTP pre hook made for the request the interceptor sees next. */
    struct {
        int valid;
        char *method;
        jsonrpc_id_t id;
        double delay_ms;
        fault_action_t act;
    } stash;
    int closing;
    int handles;
};

/* ---- counters ---- */

static int counters_add(counters_t *c, const char *name, int type, uint64_t k)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].type == type && strcmp(c->v[i].name, name) == 0) {
            c->v[i].n += k;
            return 0;
        }
    /* Bounded: names past the limit share one bucket (the one entry allowed beyond it). */
    if (c->n >= MAX_COUNTERS && strcmp(name, OTHER_NAME) != 0)
        return counters_add(c, OTHER_NAME, -1, k);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        counter_t *v = mcp_realloc(c->v, cap * sizeof(*v));
        if (!v)
            return MCP_ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    char *dup = mcp_strdup(name);
    if (!dup)
        return MCP_ENOMEM;
    c->v[c->n++] = (counter_t){dup, type, k};
    return 0;
}

static void counters_free(counters_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        mcp_free(c->v[i].name);
    mcp_free(c->v);
    memset(c, 0, sizeof(*c));
}

/* ---- actions ---- */

int fault_action_from_rule(fault_action_t *act, const fault_rule_t *rule)
{
    memset(act, 0, sizeof(*act));
    act->type = rule->type;
    act->code = rule->code;
    act->exit_code = rule->exit_code;
    act->bytes = rule->bytes;
    act->chunk_bytes = rule->chunk_bytes;
    act->delay_ms = rule->delay_ms;
    act->status = rule->status;
    act->retry_after = rule->retry_after;
    act->rule = mcp_strdup(rule->name ? rule->name : "rule");
    if (rule->message)
        act->message = mcp_strdup(rule->message);
    if (rule->version)
        act->version = mcp_strdup(rule->version);
    if (rule->text)
        act->text = mcp_strdup(rule->text);
    if (rule->data)
        act->data = cJSON_Duplicate(rule->data, 1);
    if (!act->rule || (rule->message && !act->message) || (rule->version && !act->version) ||
        (rule->text && !act->text) || (rule->data && !act->data)) {
        fault_action_clear(act);
        return MCP_ENOMEM;
    }
    return 0;
}

void fault_action_clear(fault_action_t *act)
{
    mcp_free(act->rule);
    mcp_free(act->message);
    mcp_free(act->version);
    mcp_free(act->text);
    cJSON_Delete(act->data);
    memset(act, 0, sizeof(*act));
}

static int is_message_level(fault_type_t t)
{
    switch (t) {
    case FAULT_CLOSE:
    case FAULT_MALFORMED:
    case FAULT_TRUNCATE:
    case FAULT_SLOW_SSE:
    case FAULT_OVERSIZED:
    case FAULT_WRONG_VERSION:
    case FAULT_STDOUT_NOISE: return 1;
    default: return 0;
    }
}

/* Whether the fault can do anything for this request on this transport. */
static int applies(const fault_inject_t *fi, fault_type_t t, const char *method)
{
    switch (t) {
    case FAULT_STDOUT_NOISE: return fi->transport == FAULT_INJECT_STDIO;
    case FAULT_HTTP_STATUS:
    case FAULT_SESSION_EXPIRY: return 0; /* only in the HTTP pre-request hook */
    case FAULT_WRONG_VERSION: return strcmp(method, MCP_METHOD_INITIALIZE) == 0;
    case FAULT_LATENCY:
    case FAULT_SLOW_START: return 0;
    default: return 1;
    }
}

/* ---- pending message faults ---- */

static void pending_free(pending_t *p)
{
    jsonrpc_id_free(&p->id);
    fault_action_clear(&p->act);
    mcp_free(p);
}

/* Takes over act on success. */
static int pending_add(fault_inject_t *fi, mcp_session_t *session, const jsonrpc_id_t *id,
                       fault_action_t *act)
{
    if (fi->npending >= MAX_PENDING) {
        /* Responses that never came (cancelled calls): forget the oldest. */
        pending_t **pp = &fi->pending;
        while ((*pp)->next)
            pp = &(*pp)->next;
        pending_free(*pp);
        *pp = NULL;
        fi->npending--;
    }
    pending_t *p = mcp_calloc(1, sizeof(*p));
    if (!p || jsonrpc_id_copy(&p->id, id) != 0) {
        mcp_free(p);
        return MCP_ENOMEM;
    }
    p->session = session;
    p->act = *act;
    memset(act, 0, sizeof(*act));
    p->next = fi->pending;
    fi->pending = p;
    fi->npending++;
    return 0;
}

/* Remove and return the effect for this final response, or NULL. */
static pending_t *pending_take(fault_inject_t *fi, const mcp_session_t *session,
                               const jsonrpc_id_t *id)
{
    for (pending_t **pp = &fi->pending; *pp; pp = &(*pp)->next) {
        pending_t *p = *pp;
        if (p->session == session && jsonrpc_id_equal(&p->id, id)) {
            *pp = p->next;
            fi->npending--;
            return p;
        }
    }
    return NULL;
}

/* ---- applying request-level outcomes ---- */

static void die_now(const fault_action_t *act)
{
    if (act->type == FAULT_EXIT) {
        LOG_W(COMP, "fault: exiting", "rule=%s code=%d", log_quote(act->rule), act->exit_code);
        fflush(stderr);
        _exit(act->exit_code);
    }
    LOG_W(COMP, "fault: crashing (SIGABRT)", "rule=%s", log_quote(act->rule));
    fflush(stderr);
    /* A crash fault must not leave core files around the test tree. */
    struct rlimit none = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &none);
    abort();
}

/* Apply act to call (act NULL or of type none = go on normally). Returns
 * MCP_INTERCEPT_CONTINUE when the call should be dispatched normally. act is consumed. */
static int apply(fault_inject_t *fi, mcp_call_t *call, fault_action_t *act)
{
    if (!act || !act->rule)
        return MCP_INTERCEPT_CONTINUE;
    switch (act->type) {
    case FAULT_ERROR: {
        cJSON *data = act->data;
        act->data = NULL;
        (void)mcp_call_error(call, act->code ? act->code : -32603,
                             act->message ? act->message : "Injected fault", data);
        break;
    }
    case FAULT_TOOL_ERROR:
        (void)mcp_call_tool_error(call, act->message ? act->message : "Injected tool error");
        break;
    case FAULT_RATE_LIMIT: {
        const char *tool = mcp_call_tool_name(call);
        cJSON *result = fi->rate_limit ? fi->rate_limit(tool ? tool : "", act->retry_after) : NULL;
        if (result) {
            (void)mcp_call_reply(call, result);
        } else {
            char text[160];
            snprintf(text, sizeof text, "rate limit exceeded; the limit resets in %d s",
                     act->retry_after);
            (void)mcp_call_tool_error(call, text);
        }
        break;
    }
    case FAULT_HANG:
        LOG_D(COMP, "fault: hanging", "rule=%s method=%s", log_quote(act->rule),
              mcp_call_method(call));
        break;
    case FAULT_EXIT:
    case FAULT_CRASH: die_now(act); break;
    default:
        if (is_message_level(act->type)) {
            mcp_session_t *s = mcp_call_session(call);
            if (s && pending_add(fi, s, mcp_call_request_id(call), act) != 0)
                LOG_W(COMP, "fault dropped: out of memory", "rule=%s", log_quote(act->rule));
        }
        fault_action_clear(act);
        return MCP_INTERCEPT_CONTINUE;
    }
    fault_action_clear(act);
    return MCP_INTERCEPT_TAKEN;
}

/* ---- latency ---- */

static void delayed_closed(uv_handle_t *h);

static void delayed_unlink(fault_inject_t *fi, delayed_t *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        fi->delayed = d->next;
    if (d->next)
        d->next->prev = d->prev;
}

static void delayed_end(delayed_t *d)
{
    fault_inject_t *fi = d->fi;
    delayed_unlink(fi, d);
    fault_action_clear(&d->act);
    mcp_call_unref(d->call);
    d->timer.data = d;
    uv_close((uv_handle_t *)&d->timer, delayed_closed);
}

static void on_delay(uv_timer_t *t)
{
    delayed_t *d = t->data;
    mcp_call_t *call = d->call;
    if (!mcp_call_is_finished(call)) {
        if (apply(d->fi, call, &d->act) == MCP_INTERCEPT_CONTINUE)
            (void)mcp_call_continue(call);
    }
    delayed_end(d);
}

/* act taken (may be all zero: only the delay). */
static int delay_call(fault_inject_t *fi, mcp_call_t *call, double ms, fault_action_t *act)
{
    delayed_t *d = mcp_calloc(1, sizeof(*d));
    if (!d)
        return MCP_ENOMEM;
    d->fi = fi;
    d->call = call;
    d->act = *act;
    memset(act, 0, sizeof(*act));
    mcp_call_ref(call);
    uv_timer_init(fi->loop, &d->timer);
    d->timer.data = d;
    fi->handles++;
    d->next = fi->delayed;
    if (fi->delayed)
        fi->delayed->prev = d;
    fi->delayed = d;
    uint64_t delay = ms < 0 ? 0 : (uint64_t)(ms + 0.5);
    uv_timer_start(&d->timer, on_delay, delay, 0);
    return 0;
}

/* ---- the interceptor ---- */

static void stash_clear(fault_inject_t *fi)
{
    if (!fi->stash.valid)
        return;
    mcp_free(fi->stash.method);
    jsonrpc_id_free(&fi->stash.id);
    fault_action_clear(&fi->stash.act);
    memset(&fi->stash, 0, sizeof(fi->stash));
}

static void count_request(fault_inject_t *fi, const char *method, const char *tool_name)
{
    fi->requests++;
    (void)counters_add(&fi->by_method, method, -1, 1);
    if (tool_name)
        (void)counters_add(&fi->by_tool, tool_name, -1, 1);
}

/* Ask the rules about one request: the summed delay and a copy of the outcome (act->rule NULL
 * when there is none, or when it does nothing on this transport). */
static double decide(fault_inject_t *fi, const char *method, const char *target,
                     fault_action_t *act)
{
    memset(act, 0, sizeof(*act));
    if (!fi->set || fi->set->count == 0)
        return 0;
    fault_decision_t d = fault_set_decide(fi->set, method, target);
    if (d.rule) {
        LOG_D(COMP, "fault fired", "rule=%s type=%s method=%s", log_quote(d.rule->name),
              fault_type_name(d.rule->type), method);
        if (fault_action_from_rule(act, d.rule) != 0)
            LOG_W(COMP, "fault dropped: out of memory", "rule=%s", log_quote(d.rule->name));
    }
    return d.delay_ms;
}

static int intercept(mcp_call_t *call, const char *method, const char *tool_name, void *ud)
{
    fault_inject_t *fi = ud;
    count_request(fi, method, tool_name);
    fault_action_t act;
    double delay_ms;
    if (fi->stash.valid && strcmp(fi->stash.method, method) == 0 &&
        jsonrpc_id_equal(&fi->stash.id, mcp_call_request_id(call))) {
        delay_ms = fi->stash.delay_ms;
        act = fi->stash.act;
        memset(&fi->stash.act, 0, sizeof(fi->stash.act));
        stash_clear(fi);
    } else {
        delay_ms = decide(fi, method, mcp_call_target(call), &act);
    }
    if (act.rule && !applies(fi, act.type, method))
        fault_action_clear(&act);
    if (delay_ms > 0) {
        if (delay_call(fi, call, delay_ms, &act) == 0)
            return MCP_INTERCEPT_TAKEN;
        LOG_W(COMP, "latency dropped: out of memory", "method=%s", method);
    }
    return apply(fi, call, &act);
}

/* ---- message transformations ---- */

/* The object's text without its closing brace (trailing whitespace skipped), or 0. */
static size_t open_object_len(const char *json, size_t len)
{
    while (len > 0 && (json[len - 1] == ' ' || json[len - 1] == '\n' || json[len - 1] == '\r'))
        len--;
    if (len < 2 || json[0] != '{' || json[len - 1] != '}')
        return 0;
    return len - 1;
}

int fault_inject_malformed(const char *json, size_t len, buf_t *out)
{
    size_t open = open_object_len(json, len);
    if (!open)
        return MCP_EPARSE;
    /* Recognisably ours, certainly not JSON: the object is cut open and garbage follows. */
    int rc = buf_append(out, json, open);
    return rc ? rc : buf_append_str(out, ",\"_mock\":malformed]");
}

int fault_inject_oversized(const char *json, size_t len, size_t bytes, buf_t *out)
{
    size_t open = open_object_len(json, len);
    if (!open)
        return MCP_EPARSE;
    static const char head[] = ",\"_mock_padding\":\"";
    size_t fixed = open + sizeof(head) - 1 + 2;
    size_t pad = bytes > fixed ? bytes - fixed : 0;
    int rc = buf_reserve(out, fixed + pad);
    if (!rc)
        rc = buf_append(out, json, open);
    if (!rc)
        rc = buf_append(out, head, sizeof(head) - 1);
    if (rc)
        return rc;
    memset(out->data + out->len, 'x', pad);
    out->len += pad;
    out->data[out->len] = '\0';
    return buf_append(out, "\"}", 2);
}

int fault_inject_wrong_version(const char *json, size_t len, const char *version, buf_t *out)
{
    cJSON *msg = cJSON_ParseWithLength(json, len);
    cJSON *result = cJSON_GetObjectItemCaseSensitive(msg, "result");
    if (!cJSON_IsObject(result)) {
        cJSON_Delete(msg);
        return buf_append(out, json, len);
    }
    cJSON *v = cJSON_CreateString(version ? version : "1999-01-01");
    if (!v || !cJSON_ReplaceItemInObjectCaseSensitive(result, "protocolVersion", v)) {
        if (v && !cJSON_AddItemToObject(result, "protocolVersion", v))
            cJSON_Delete(v);
    }
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!text)
        return MCP_ENOMEM;
    int rc = buf_append_str(out, text);
    cJSON_free(text);
    return rc;
}

/* ---- stdio ---- */

static void dribble_tick(uv_timer_t *t)
{
    fault_inject_t *fi = t->data;
    if (!fi->io || fi->dribble.len == 0) {
        buf_reset(&fi->dribble);
        return;
    }
    size_t n = fi->dribble.len < fi->dribble_chunk ? fi->dribble.len : fi->dribble_chunk;
    int rc = mcp_stdio_server_write_raw(fi->io, fi->dribble.data, n);
    buf_consume(&fi->dribble, n);
    if (rc != 0) {
        buf_reset(&fi->dribble);
        return;
    }
    if (fi->dribble.len > 0)
        uv_timer_start(&fi->dribble_timer, dribble_tick, fi->dribble_delay_ms, 0);
}

/* Queue a line behind the bytes being dribbled. */
static int dribble_line(fault_inject_t *fi, const char *data, size_t len)
{
    int rc = buf_append(&fi->dribble, data, len);
    if (!rc)
        rc = buf_putc(&fi->dribble, '\n');
    return rc;
}

static int stdio_transformed(mcp_stdio_server_t *io, buf_t *out)
{
    int rc = buf_putc(out, '\n');
    if (!rc)
        rc = mcp_stdio_server_write_raw(io, out->data, out->len);
    return rc;
}

int fault_inject_stdio_filter(mcp_stdio_server_t *io, const char *json, size_t len,
                              const mcp_send_info_t *info, void *ud)
{
    fault_inject_t *fi = ud;
    fi->io = io;
    pending_t *p = NULL;
    if (fi->npending && info && info->final && info->related)
        p = pending_take(fi, mcp_stdio_server_session(io), info->related);
    if (!p) {
        if (fi->dribble.len == 0)
            return 0;
        int rc = dribble_line(fi, json, len);
        return rc ? rc : 1;
    }
    fault_action_t *act = &p->act;
    int rc = 1;
    buf_t out;
    buf_init(&out, MAX_TRANSFORMED);
    LOG_I(COMP, "fault applied to a response", "rule=%s type=%s bytes=%zu", log_quote(act->rule),
          fault_type_name(act->type), len);
    switch (act->type) {
    case FAULT_STDOUT_NOISE: {
        const char *text = act->text ? act->text : "this is not JSON-RPC";
        rc = buf_append_str(&out, text);
        if (!rc)
            rc = stdio_transformed(io, &out);
        rc = rc ? rc : 0; /* then the message itself, as usual */
        break;
    }
    case FAULT_MALFORMED:
        rc = fault_inject_malformed(json, len, &out);
        if (!rc)
            rc = stdio_transformed(io, &out);
        rc = rc ? rc : 1;
        break;
    case FAULT_OVERSIZED:
        rc = fault_inject_oversized(json, len, act->bytes ? act->bytes : 8u * 1024 * 1024, &out);
        if (!rc)
            rc = stdio_transformed(io, &out);
        rc = rc ? rc : 1;
        break;
    case FAULT_WRONG_VERSION:
        rc = fault_inject_wrong_version(json, len, act->version, &out);
        if (!rc)
            rc = stdio_transformed(io, &out);
        rc = rc ? rc : 1;
        break;
    case FAULT_TRUNCATE: {
        size_t n = act->bytes ? act->bytes : len / 2;
        if (n > len)
            n = len;
        rc = mcp_stdio_server_write_raw(io, json, n);
        mcp_stdio_server_close(io);
        rc = rc ? rc : 1;
        break;
    }
    case FAULT_CLOSE:
        mcp_stdio_server_close(io);
        rc = 1;
        break;
    case FAULT_SLOW_SSE: {
        int was_idle = fi->dribble.len == 0;
        fi->dribble_chunk = act->chunk_bytes ? act->chunk_bytes : 16;
        fi->dribble_delay_ms = act->delay_ms > 0 ? (uint64_t)(act->delay_ms + 0.5) : 20;
        rc = dribble_line(fi, json, len);
        if (!rc && was_idle)
            dribble_tick(&fi->dribble_timer);
        rc = rc ? rc : 1;
        break;
    }
    default: rc = 0; break;
    }
    buf_free(&out);
    pending_free(p);
    return rc;
}

void fault_inject_stdio_detach(fault_inject_t *fi)
{
    if (!fi)
        return;
    fi->io = NULL;
    uv_timer_stop(&fi->dribble_timer);
    buf_reset(&fi->dribble);
}

/* ---- HTTP ---- */

#ifdef MOCK_HAVE_HTTP
void fault_inject_set_http(fault_inject_t *fi, mcp_http_server_t *t)
{
    fi->http = t;
}

/* method and target of a single JSON-RPC request body (NULL when it is something else). */
static const char *request_target(const cJSON *msg, const char *method)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    const char *key = NULL;
    if (strcmp(method, MCP_METHOD_TOOLS_CALL) == 0 || strcmp(method, MCP_METHOD_PROMPTS_GET) == 0)
        key = "name";
    else if (strcmp(method, MCP_METHOD_RESOURCES_READ) == 0)
        key = "uri";
    const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(params, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int fault_inject_http_pre(const mcp_http_pre_info_t *info, void *ud)
{
    fault_inject_t *fi = ud;
    stash_clear(fi);
    if (!fi->set || fi->set->count == 0)
        return 0;
    if (info->kind != MCP_HTTP_REQ_POST && info->kind != MCP_HTTP_REQ_SSE_POST)
        return 0;
    size_t len;
    const char *body = http_req_body(info->req, &len);
    cJSON *msg = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
    const cJSON *idj = cJSON_GetObjectItemCaseSensitive(msg, "id");
    jsonrpc_id_t id = {0};
    /* Only single requests: notifications, responses and batches are left to the interceptor. */
    if (!cJSON_IsObject(msg) || !cJSON_IsString(m) || !idj || jsonrpc_id_from_json(idj, &id) != 0) {
        cJSON_Delete(msg);
        return 0;
    }
    const char *method = m->valuestring;
    fault_action_t act;
    double delay_ms = decide(fi, method, request_target(msg, method), &act);
    int status = 0;
    if (act.rule && act.type == FAULT_HTTP_STATUS) {
        status = act.status >= 400 && act.status <= 599 ? act.status : 503;
        if (act.retry_after > 0) {
            char v[32];
            snprintf(v, sizeof(v), "%d", act.retry_after);
            (void)http_resp_header(info->req, "Retry-After", v);
        }
    } else if (act.rule && act.type == FAULT_SESSION_EXPIRY) {
        status = 404;
        if (info->session && fi->http)
            (void)mcp_http_server_expire_session(fi->http, info->session);
    }
    if (status) {
        LOG_I(COMP, "fault: HTTP status", "rule=%s status=%d method=%s", log_quote(act.rule),
              status, method);
        count_request(fi, method,
                      strcmp(method, MCP_METHOD_TOOLS_CALL) == 0 ? request_target(msg, method)
                                                                 : NULL);
        fault_action_clear(&act);
        jsonrpc_id_free(&id);
        cJSON_Delete(msg);
        return status;
    }
    fi->stash.method = mcp_strdup(method);
    if (!fi->stash.method) {
        fault_action_clear(&act);
        jsonrpc_id_free(&id);
    } else {
        fi->stash.valid = 1;
        fi->stash.id = id;
        fi->stash.delay_ms = delay_ms;
        fi->stash.act = act;
    }
    cJSON_Delete(msg);
    return 0;
}

void fault_inject_http_filter(mcp_session_t *session, const char *json, size_t len,
                              const mcp_send_info_t *info, mcp_http_fault_t *fault, void *ud)
{
    fault_inject_t *fi = ud;
    if (!fi->npending || !info || !info->final || !info->related)
        return;
    pending_t *p = pending_take(fi, session, info->related);
    if (!p)
        return;
    fault_action_t *act = &p->act;
    buf_t out;
    buf_init(&out, MAX_TRANSFORMED);
    int rc = 0;
    LOG_I(COMP, "fault applied to a response", "rule=%s type=%s bytes=%zu", log_quote(act->rule),
          fault_type_name(act->type), len);
    switch (act->type) {
    case FAULT_MALFORMED: rc = fault_inject_malformed(json, len, &out); break;
    case FAULT_OVERSIZED:
        rc = fault_inject_oversized(json, len, act->bytes ? act->bytes : 8u * 1024 * 1024, &out);
        break;
    case FAULT_WRONG_VERSION: rc = fault_inject_wrong_version(json, len, act->version, &out); break;
    case FAULT_TRUNCATE:
        fault->action = MCP_HTTP_SEND_TRUNCATE;
        fault->bytes = act->bytes ? (act->bytes < len ? act->bytes : len) : len / 2;
        break;
    case FAULT_CLOSE: fault->action = MCP_HTTP_SEND_CLOSE; break;
    case FAULT_SLOW_SSE:
        fault->action = MCP_HTTP_SEND_DRIBBLE;
        fault->chunk_bytes = act->chunk_bytes ? act->chunk_bytes : 16;
        fault->delay_ms = act->delay_ms > 0 ? (uint64_t)(act->delay_ms + 0.5) : 20;
        break;
    default: break;
    }
    if (rc == 0 && out.len > 0) {
        size_t n;
        fault->replace = buf_detach(&out, &n);
        fault->replace_len = fault->replace ? n : 0;
    } else if (rc) {
        LOG_W(COMP, "fault not applied", "rule=%s error=%s", log_quote(act->rule),
              mcp_strerror(rc));
    }
    buf_free(&out);
    pending_free(p);
}
#endif

/* ---- rules, stats ---- */

static void archive_counts(fault_inject_t *fi, const fault_set_t *set)
{
    for (size_t i = 0; set && i < set->count; i++)
        if (set->rules[i].fired)
            (void)counters_add(&fi->archived, set->rules[i].name, (int)set->rules[i].type,
                               set->rules[i].fired);
}

void fault_inject_set_rules(fault_inject_t *fi, fault_set_t *set)
{
    archive_counts(fi, fi->set);
    fault_set_free(fi->set);
    fi->set = set;
}

fault_set_t *fault_inject_rules(fault_inject_t *fi)
{
    return fi->set;
}

cJSON *fault_inject_rules_json(const fault_inject_t *fi)
{
    return fault_set_to_json(fi->set);
}

uint64_t fault_inject_requests(const fault_inject_t *fi)
{
    return fi->requests;
}

uint64_t fault_inject_fired(const fault_inject_t *fi)
{
    uint64_t n = 0;
    for (size_t i = 0; i < fi->archived.n; i++)
        n += fi->archived.v[i].n;
    for (size_t i = 0; fi->set && i < fi->set->count; i++)
        n += fi->set->rules[i].fired;
    return n;
}

static cJSON *counters_json(const counters_t *c)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < c->n; i++)
        if (!cJSON_AddNumberToObject(o, c->v[i].name, (double)c->v[i].n)) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

cJSON *fault_inject_stats_json(const fault_inject_t *fi)
{
    counters_t by_rule = {0}, by_type = {0};
    int fail = 0;
    for (size_t i = 0; i < fi->archived.n; i++) {
        const counter_t *a = &fi->archived.v[i];
        fail |= counters_add(&by_rule, a->name, -1, a->n);
        if (a->type >= 0)
            fail |= counters_add(&by_type, fault_type_name((fault_type_t)a->type), -1, a->n);
    }
    for (size_t i = 0; fi->set && i < fi->set->count; i++) {
        const fault_rule_t *r = &fi->set->rules[i];
        if (!r->fired)
            continue;
        fail |= counters_add(&by_rule, r->name, -1, r->fired);
        fail |= counters_add(&by_type, fault_type_name(r->type), -1, r->fired);
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *req = cJSON_AddObjectToObject(root, "requests");
    cJSON *faults = cJSON_AddObjectToObject(root, "faults");
    cJSON *m = counters_json(&fi->by_method), *t = counters_json(&fi->by_tool);
    cJSON *br = counters_json(&by_rule), *bt = counters_json(&by_type);
    counters_free(&by_rule);
    counters_free(&by_type);
    if (fail || !root || !req || !faults || !m || !t || !br || !bt) {
        cJSON_Delete(root);
        cJSON_Delete(m);
        cJSON_Delete(t);
        cJSON_Delete(br);
        cJSON_Delete(bt);
        return NULL;
    }
    cJSON_AddNumberToObject(req, "total", (double)fi->requests);
    cJSON_AddItemToObject(req, "by_method", m);
    cJSON_AddItemToObject(req, "by_tool", t);
    cJSON_AddNumberToObject(faults, "fired_total", (double)fault_inject_fired(fi));
    cJSON_AddItemToObject(faults, "by_rule", br);
    cJSON_AddItemToObject(faults, "by_type", bt);
    cJSON_AddNumberToObject(faults, "rules", fi->set ? (double)fi->set->count : 0);
    cJSON_AddNumberToObject(root, "sessions",
                            fi->server ? (double)mcp_server_session_count(fi->server) : 0);
    cJSON_AddNumberToObject(root, "uptime_ms", (double)(clock_mono_ms() - fi->started_ms));
    return root;
}

/* ---- lifetime ---- */

int fault_inject_new(uv_loop_t *loop, mcp_server_t *server, fault_inject_transport_t transport,
                     fault_set_t *set, fault_inject_t **out)
{
    *out = NULL;
    fault_inject_t *fi = mcp_calloc(1, sizeof(*fi));
    if (!fi) {
        fault_set_free(set);
        return MCP_ENOMEM;
    }
    fi->loop = loop;
    fi->server = server;
    fi->transport = transport;
    fi->set = set;
    fi->started_ms = clock_mono_ms();
    buf_init(&fi->dribble, MAX_DRIBBLE);
    uv_timer_init(loop, &fi->dribble_timer);
    fi->dribble_timer.data = fi;
    fi->handles = 1;
    mcp_server_set_interceptor(server, intercept, fi);
    *out = fi;
    return 0;
}

static void fi_free(fault_inject_t *fi)
{
    while (fi->pending) {
        pending_t *p = fi->pending;
        fi->pending = p->next;
        pending_free(p);
    }
    stash_clear(fi);
    fault_set_free(fi->set);
    counters_free(&fi->by_method);
    counters_free(&fi->by_tool);
    counters_free(&fi->archived);
    buf_free(&fi->dribble);
    mcp_free(fi);
}

static void handle_closed(uv_handle_t *h)
{
    fault_inject_t *fi = h->data;
    if (--fi->handles == 0 && fi->closing)
        fi_free(fi);
}

static void delayed_closed(uv_handle_t *h)
{
    delayed_t *d = h->data;
    fault_inject_t *fi = d->fi;
    mcp_free(d);
    if (--fi->handles == 0 && fi->closing)
        fi_free(fi);
}

void fault_inject_close(fault_inject_t *fi)
{
    if (!fi || fi->closing)
        return;
    fi->closing = 1;
    if (fi->server)
        mcp_server_set_interceptor(fi->server, NULL, NULL);
    fi->server = NULL;
    fi->io = NULL;
    while (fi->delayed)
        delayed_end(fi->delayed);
    uv_timer_stop(&fi->dribble_timer);
    uv_close((uv_handle_t *)&fi->dribble_timer, handle_closed);
}

void fault_inject_set_rate_limit(fault_inject_t *fi, fault_rate_limit_fn fn)
{
    fi->rate_limit = fn;
}
