#include "mcp_server.h"

#include "alloc.h"
#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP                  "mcp_server"
#define DEFAULT_PAGE_SIZE     100
#define DEFAULT_MAX_INFLIGHT  256
#define DEFAULT_MAX_SUBS      1024
#define MAX_PENDING_REQUESTS  256
#define MAX_COMPLETION_VALUES 100
#define MAX_URI_LEN           8192

/* ---- registries ---- */

typedef union {
    mcp_tool_fn tool;
    mcp_resource_fn resource;
    mcp_prompt_fn prompt;
    mcp_complete_fn complete;
    mcp_method_fn method;
    mcp_notify_fn notify;
} handler_u;

typedef struct entry_s {
    char *key;  /* tool name, URI, URI template, prompt name, method, completion key */
    cJSON *def; /* the object listed to clients (NULL for methods and hooks) */
    handler_u fn;
    void *ud;
} entry_t;

typedef struct registry_s {
    entry_t *items;
    size_t count, cap;
} registry_t;

static entry_t *reg_find(registry_t *r, const char *key)
{
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->items[i].key, key) == 0)
            return &r->items[i];
    return NULL;
}

/* Takes ownership of def (also on failure). */
static int reg_add(registry_t *r, const char *key, cJSON *def, handler_u fn, void *ud)
{
    if (reg_find(r, key)) {
        cJSON_Delete(def);
        return MCP_EEXISTS;
    }
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        entry_t *items = mcp_realloc(r->items, cap * sizeof(*items));
        if (!items) {
            cJSON_Delete(def);
            return MCP_ENOMEM;
        }
        r->items = items;
        r->cap = cap;
    }
    char *k = mcp_strdup(key);
    if (!k) {
        cJSON_Delete(def);
        return MCP_ENOMEM;
    }
    r->items[r->count++] = (entry_t){k, def, fn, ud};
    return 0;
}

static int reg_remove(registry_t *r, const char *key)
{
    entry_t *e = reg_find(r, key);
    if (!e)
        return MCP_ENOTFOUND;
    mcp_free(e->key);
    cJSON_Delete(e->def);
    size_t i = (size_t)(e - r->items);
    memmove(e, e + 1, (r->count - i - 1) * sizeof(*e));
    r->count--;
    return 0;
}

static void reg_free(registry_t *r)
{
    for (size_t i = 0; i < r->count; i++) {
        mcp_free(r->items[i].key);
        cJSON_Delete(r->items[i].def);
    }
    mcp_free(r->items);
    memset(r, 0, sizeof(*r));
}

/* ---- types ---- */

enum { S_NEW = 0, S_READY, S_OPERATIONAL };
enum { C_PENDING = 0, C_DONE, C_CANCELLED };
enum { DECLARED_TOOLS = 1, DECLARED_RESOURCES = 2, DECLARED_PROMPTS = 4, DECLARED_LOGGING = 8 };

typedef struct out_req_s out_req_t;

struct mcp_server_s {
    uv_loop_t *loop;
    char *name, *version, *title, *description, *website_url, *instructions;
    size_t page_size, max_inflight, max_subs;
    mcp_log_level_t default_log_level;
    int cap_tools, cap_resources, cap_prompts, cap_logging, cap_completions;
    cJSON *caps_override;
    registry_t tools, resources, templates, prompts, completions, methods, notifications;
    mcp_interceptor_fn interceptor;
    void *interceptor_ud;
    mcp_session_event_fn on_session;
    void *on_session_ud;
    mcp_session_t *sessions;
    size_t nsessions;
    unsigned long next_session_serial;
};

struct mcp_session_s {
    mcp_server_t *server;
    mcp_session_t *prev, *next;
    const mcp_transport_ops_t *ops;
    void *ctx;
    int state;
    int declared; /* DECLARED_* bits told to this client at initialize */
    char *version;
    cJSON *client_caps, *client_info;
    mcp_log_level_t log_level;
    char **subs;
    size_t nsubs;
    mcp_call_t *calls; /* pending calls */
    size_t ninflight;
    out_req_t *reqs; /* pending server->client requests */
    size_t nreqs;
    int64_t next_req_id;
    int busy, closing, input_closed;
    void *data;
    char label[24];
};

struct mcp_call_s {
    int refs;
    int state;
    int dispatched;
    int linked;
    mcp_server_t *server;
    mcp_session_t *session; /* NULL once finished or the session is gone */
    mcp_call_t *prev, *next;
    jsonrpc_msg_t msg;
    void *origin;
    const char *target;
    jsonrpc_id_t progress_token;
    int has_progress;
    int progress_sent;
    double last_progress;
    cJSON *empty; /* an empty object handed to handlers when arguments are absent */
    mcp_cancel_fn on_cancel;
    void *on_cancel_ud;
    void *data;
};

struct out_req_s {
    out_req_t *prev, *next;
    int64_t id;
    mcp_call_t *call; /* holds a reference, or NULL */
    mcp_response_fn cb;
    void *ud;
};

/* ---- small helpers ---- */

static int is_tool_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= 128 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static const char *str_member(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Add key: string when s is non-NULL. -1 on allocation failure. */
static int add_str(cJSON *obj, const char *key, const char *s)
{
    return s && !cJSON_AddStringToObject(obj, key, s) ? -1 : 0;
}

static int add_item(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return -1;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

static cJSON *parse_json_text(const char *text, int *bad)
{
    *bad = 0;
    if (!text)
        return NULL;
    jsonrpc_error_t err;
    if (jsonrpc_validate_json(text, strlen(text), NULL, &err)) {
        *bad = 1;
        return NULL;
    }
    return cJSON_Parse(text);
}

/* ---- server ---- */

int mcp_server_create(uv_loop_t *loop, const mcp_server_config_t *cfg, mcp_server_t **out)
{
    *out = NULL;
    if (!cfg || !cfg->name || !cfg->version)
        return MCP_EINVAL;
    mcp_server_t *s = mcp_calloc(1, sizeof(*s));
    if (!s)
        return MCP_ENOMEM;
    s->loop = loop;
    s->name = mcp_strdup(cfg->name);
    s->version = mcp_strdup(cfg->version);
    s->title = cfg->title ? mcp_strdup(cfg->title) : NULL;
    s->description = cfg->description ? mcp_strdup(cfg->description) : NULL;
    s->website_url = cfg->website_url ? mcp_strdup(cfg->website_url) : NULL;
    s->instructions = cfg->instructions ? mcp_strdup(cfg->instructions) : NULL;
    if (!s->name || !s->version || (cfg->title && !s->title) ||
        (cfg->description && !s->description) || (cfg->website_url && !s->website_url) ||
        (cfg->instructions && !s->instructions)) {
        mcp_server_free(s);
        return MCP_ENOMEM;
    }
    s->page_size = cfg->page_size ? cfg->page_size : DEFAULT_PAGE_SIZE;
    s->max_inflight = cfg->max_inflight ? cfg->max_inflight : DEFAULT_MAX_INFLIGHT;
    s->max_subs = cfg->max_subscriptions ? cfg->max_subscriptions : DEFAULT_MAX_SUBS;
    s->default_log_level = cfg->default_log_level;
    s->cap_tools = cfg->cap_tools;
    s->cap_resources = cfg->cap_resources;
    s->cap_prompts = cfg->cap_prompts;
    s->cap_logging = cfg->cap_logging;
    s->cap_completions = cfg->cap_completions;
    *out = s;
    return 0;
}

uv_loop_t *mcp_server_loop(mcp_server_t *server)
{
    return server->loop;
}

void mcp_server_set_page_size(mcp_server_t *server, size_t page_size)
{
    server->page_size = page_size ? page_size : DEFAULT_PAGE_SIZE;
}

size_t mcp_server_session_count(mcp_server_t *server)
{
    return server->nsessions;
}

void mcp_server_set_capabilities(mcp_server_t *server, cJSON *capabilities)
{
    cJSON_Delete(server->caps_override);
    server->caps_override = capabilities;
}

void mcp_server_set_interceptor(mcp_server_t *server, mcp_interceptor_fn fn, void *ud)
{
    server->interceptor = fn;
    server->interceptor_ud = ud;
}

void mcp_server_set_session_events(mcp_server_t *server, mcp_session_event_fn fn, void *ud)
{
    server->on_session = fn;
    server->on_session_ud = ud;
}

static int overridden(mcp_server_t *s, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < s->methods.count; i++)
        if (strncmp(s->methods.items[i].key, prefix, n) == 0)
            return 1;
    return 0;
}

static int cap_on(int setting, int derived)
{
    return setting == MCP_CAP_ON || (setting == MCP_CAP_AUTO && derived);
}

static int has_tools(mcp_server_t *s)
{
    return cap_on(s->cap_tools, s->tools.count || overridden(s, "tools/"));
}

static int has_resources(mcp_server_t *s)
{
    return cap_on(s->cap_resources,
                  s->resources.count || s->templates.count || overridden(s, "resources/"));
}

static int has_prompts(mcp_server_t *s)
{
    return cap_on(s->cap_prompts, s->prompts.count || overridden(s, "prompts/"));
}

static int has_logging(mcp_server_t *s)
{
    return cap_on(s->cap_logging, 1);
}

static int has_completions(mcp_server_t *s)
{
    return cap_on(s->cap_completions, s->prompts.count || s->templates.count ||
                                          s->completions.count ||
                                          overridden(s, MCP_METHOD_COMPLETION_COMPLETE));
}

static int has_cap_object(mcp_server_t *s, const char *key)
{
    if (s->caps_override)
        return cJSON_GetObjectItemCaseSensitive(s->caps_override, key) != NULL;
    if (strcmp(key, "tools") == 0)
        return has_tools(s);
    if (strcmp(key, "resources") == 0)
        return has_resources(s);
    if (strcmp(key, "prompts") == 0)
        return has_prompts(s);
    if (strcmp(key, "logging") == 0)
        return has_logging(s);
    return has_completions(s);
}

cJSON *mcp_server_capabilities(mcp_server_t *s)
{
    if (s->caps_override)
        return cJSON_Duplicate(s->caps_override, 1);
    cJSON *caps = cJSON_CreateObject();
    if (!caps)
        return NULL;
    cJSON *o;
    int fail = 0;
    if (has_tools(s)) {
        fail |= add_item(caps, "tools", o = cJSON_CreateObject());
        fail |= !fail && !cJSON_AddTrueToObject(o, "listChanged");
    }
    if (!fail && has_resources(s)) {
        fail |= add_item(caps, "resources", o = cJSON_CreateObject());
        fail |= !fail && !cJSON_AddTrueToObject(o, "subscribe");
        fail |= !fail && !cJSON_AddTrueToObject(o, "listChanged");
    }
    if (!fail && has_prompts(s)) {
        fail |= add_item(caps, "prompts", o = cJSON_CreateObject());
        fail |= !fail && !cJSON_AddTrueToObject(o, "listChanged");
    }
    if (!fail && has_logging(s))
        fail |= add_item(caps, "logging", cJSON_CreateObject());
    if (!fail && has_completions(s))
        fail |= add_item(caps, "completions", cJSON_CreateObject());
    if (fail) {
        cJSON_Delete(caps);
        return NULL;
    }
    return caps;
}

/* ---- sessions: hold/release keep a session alive while its code runs ---- */

static void session_free(mcp_session_t *s)
{
    for (size_t i = 0; i < s->nsubs; i++)
        mcp_free(s->subs[i]);
    mcp_free(s->subs);
    mcp_free(s->version);
    cJSON_Delete(s->client_caps);
    cJSON_Delete(s->client_info);
    mcp_free(s);
}

static void session_hold(mcp_session_t *s)
{
    s->busy++;
}

static void session_release(mcp_session_t *s)
{
    if (--s->busy == 0 && s->closing)
        session_free(s);
}

/* Serialize and send; takes msg. */
static int session_send(mcp_session_t *s, cJSON *msg, const mcp_send_info_t *info)
{
    if (!msg)
        return MCP_ENOMEM;
    if (s->closing || !s->ops) {
        cJSON_Delete(msg);
        return MCP_ECLOSED;
    }
    size_t len;
    char *text = jsonrpc_print(msg, &len);
    cJSON_Delete(msg);
    if (!text)
        return MCP_ENOMEM;
    session_hold(s);
    int rc = s->ops->send(s->ctx, text, len, info);
    session_release(s);
    cJSON_free(text);
    return rc;
}

static int send_notification(mcp_session_t *s, const char *method, cJSON *params, void *origin,
                             const jsonrpc_id_t *related)
{
    mcp_send_info_t info = {origin, related, 0, JSONRPC_NOTIFICATION};
    return session_send(s, jsonrpc_build_notification(method, params), &info);
}

/* An error reply that does not belong to a call (invalid input). */
static void send_error_reply(mcp_session_t *s, void *origin, const jsonrpc_id_t *id, int code,
                             const char *message)
{
    mcp_send_info_t info = {origin, id && id->type != JSONRPC_ID_NULL ? id : NULL, 1,
                            JSONRPC_ERROR};
    (void)session_send(s, jsonrpc_build_error(id, code, message, NULL), &info);
}

int mcp_session_create(mcp_server_t *server, const mcp_transport_ops_t *ops, void *ctx,
                       mcp_session_t **out)
{
    *out = NULL;
    if (!ops || !ops->send)
        return MCP_EINVAL;
    mcp_session_t *s = mcp_calloc(1, sizeof(*s));
    if (!s)
        return MCP_ENOMEM;
    s->server = server;
    s->ops = ops;
    s->ctx = ctx;
    s->log_level = server->default_log_level;
    snprintf(s->label, sizeof(s->label), "s%lu", ++server->next_session_serial);
    s->next = server->sessions;
    if (server->sessions)
        server->sessions->prev = s;
    server->sessions = s;
    server->nsessions++;
    *out = s;
    return 0;
}

size_t mcp_session_inflight(const mcp_session_t *s)
{
    return s->ninflight;
}

const char *mcp_session_protocol_version(const mcp_session_t *s)
{
    return s->state == S_NEW ? NULL : s->version;
}

int mcp_session_is_operational(const mcp_session_t *s)
{
    return s->state == S_OPERATIONAL;
}

const cJSON *mcp_session_client_capabilities(const mcp_session_t *s)
{
    return s->client_caps;
}

const cJSON *mcp_session_client_info(const mcp_session_t *s)
{
    return s->client_info;
}

mcp_log_level_t mcp_session_log_level(const mcp_session_t *s)
{
    return s->log_level;
}

mcp_server_t *mcp_session_server(const mcp_session_t *s)
{
    return s->server;
}

void mcp_session_set_data(mcp_session_t *s, void *data)
{
    s->data = data;
}

void *mcp_session_get_data(const mcp_session_t *s)
{
    return s->data;
}

const char *mcp_session_label(const mcp_session_t *s)
{
    return s->label;
}

int mcp_session_is_subscribed(const mcp_session_t *s, const char *uri)
{
    for (size_t i = 0; i < s->nsubs; i++)
        if (strcmp(s->subs[i], uri) == 0)
            return 1;
    return 0;
}

/* ---- calls ---- */

static void call_free(mcp_call_t *c)
{
    jsonrpc_msg_free(&c->msg);
    jsonrpc_id_free(&c->progress_token);
    cJSON_Delete(c->empty);
    mcp_free(c);
}

void mcp_call_ref(mcp_call_t *call)
{
    call->refs++;
}

void mcp_call_unref(mcp_call_t *call)
{
    if (--call->refs == 0)
        call_free(call);
}

static void call_unlink(mcp_call_t *c)
{
    mcp_session_t *s = c->session;
    if (!c->linked || !s)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->linked = 0;
    s->ninflight--;
}

static void req_unlink(mcp_session_t *s, out_req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        s->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    s->nreqs--;
}

/* Complete a pending server->client request locally (no answer from the client). */
static void req_fail(out_req_t *r, int status, mcp_session_t *s)
{
    mcp_response_t resp = {status, NULL, 0, NULL, NULL, r->call, s};
    r->cb(&resp, r->ud);
    if (r->call)
        mcp_call_unref(r->call);
    mcp_free(r);
}

/* The call's requests to the client are abandoned: tell the client, then the callbacks. */
static void cancel_call_requests(mcp_session_t *s, mcp_call_t *c)
{
    for (;;) {
        out_req_t *r = s->reqs;
        while (r && r->call != c)
            r = r->next;
        if (!r)
            return;
        req_unlink(s, r);
        cJSON *params = cJSON_CreateObject();
        if (params) {
            cJSON_AddNumberToObject(params, "requestId", (double)r->id);
            cJSON_AddStringToObject(params, "reason", "the related request was cancelled");
        }
        if (!s->closing && params)
            (void)send_notification(s, MCP_NOTIFY_CANCELLED, params, c->origin, &c->msg.id);
        else
            cJSON_Delete(params);
        req_fail(r, MCP_ECANCELED, s);
    }
}

/* End a pending call: send `msg` as its final response (or tell the transport it was
 * abandoned when msg is NULL), then drop the framework's reference. */
static int call_finish(mcp_call_t *c, cJSON *msg, int cancelled)
{
    mcp_session_t *s = c->session;
    int rc = 0;
    c->state = cancelled ? C_CANCELLED : C_DONE;
    if (!s) {
        cJSON_Delete(msg);
        mcp_call_unref(c);
        return MCP_ECLOSED;
    }
    session_hold(s);
    call_unlink(c);
    c->session = NULL;
    mcp_send_info_t info = {c->origin, &c->msg.id, 1, JSONRPC_RESULT};
    if (msg) {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(msg, "error");
        info.kind = err ? JSONRPC_ERROR : JSONRPC_RESULT;
        rc = session_send(s, msg, &info);
    } else if (!s->closing && s->ops->abandon) {
        s->ops->abandon(s->ctx, &info);
    }
    if (cancelled)
        cancel_call_requests(s, c);
    if (s->ninflight == 0 && !s->closing && s->ops->drained)
        s->ops->drained(s->ctx);
    session_release(s);
    mcp_call_unref(c);
    return rc;
}

static void call_cancel(mcp_call_t *c)
{
    if (c->state != C_PENDING)
        return;
    mcp_call_ref(c);
    mcp_cancel_fn hook = c->on_cancel;
    void *ud = c->on_cancel_ud;
    c->on_cancel = NULL;
    (void)call_finish(c, NULL, 1);
    if (hook)
        hook(c, ud);
    mcp_call_unref(c);
}

static int call_check(mcp_call_t *c)
{
    if (c->state == C_CANCELLED)
        return MCP_ECANCELED;
    if (c->state == C_DONE)
        return MCP_ESTATE;
    return c->session ? 0 : MCP_ECLOSED;
}

int mcp_call_reply(mcp_call_t *call, cJSON *result)
{
    int rc = call_check(call);
    if (rc) {
        cJSON_Delete(result);
        return rc;
    }
    cJSON *msg = jsonrpc_build_result(&call->msg.id, result);
    if (!msg) {
        (void)call_finish(call,
                          jsonrpc_build_error(&call->msg.id, JSONRPC_INTERNAL_ERROR,
                                              "Internal error: out of memory", NULL),
                          0);
        return MCP_ENOMEM;
    }
    return call_finish(call, msg, 0);
}

int mcp_call_error(mcp_call_t *call, int code, const char *message, cJSON *data)
{
    int rc = call_check(call);
    if (rc) {
        cJSON_Delete(data);
        return rc;
    }
    cJSON *msg = jsonrpc_build_error(&call->msg.id, code, message, data);
    if (!msg) {
        (void)call_finish(call, NULL, 0);
        return MCP_ENOMEM;
    }
    return call_finish(call, msg, 0);
}

static cJSON *text_result(const char *text, int is_error)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *content = cJSON_CreateArray();
    cJSON *block = cJSON_CreateObject();
    if (!r || !content || !block || add_str(block, "type", "text") ||
        add_str(block, "text", text ? text : "")) {
        cJSON_Delete(r);
        cJSON_Delete(content);
        cJSON_Delete(block);
        return NULL;
    }
    cJSON_AddItemToArray(content, block);
    if (add_item(r, "content", content) || (is_error && !cJSON_AddTrueToObject(r, "isError"))) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

static int reply_built(mcp_call_t *call, cJSON *result)
{
    if (!result) {
        int rc = call_check(call);
        if (rc)
            return rc;
        (void)mcp_call_error(call, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory", NULL);
        return MCP_ENOMEM;
    }
    return mcp_call_reply(call, result);
}

int mcp_call_reply_text(mcp_call_t *call, const char *text)
{
    return reply_built(call, text_result(text, 0));
}

int mcp_call_tool_error(mcp_call_t *call, const char *text)
{
    return reply_built(call, text_result(text, 1));
}

int mcp_call_reply_resource_text(mcp_call_t *call, const char *uri, const char *mime_type,
                                 const char *text)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *contents = cJSON_CreateArray();
    cJSON *item = cJSON_CreateObject();
    if (!r || !contents || !item || add_str(item, "uri", uri) ||
        add_str(item, "mimeType", mime_type) || add_str(item, "text", text ? text : "")) {
        cJSON_Delete(r);
        cJSON_Delete(contents);
        cJSON_Delete(item);
        return reply_built(call, NULL);
    }
    cJSON_AddItemToArray(contents, item);
    if (add_item(r, "contents", contents)) {
        cJSON_Delete(r);
        r = NULL;
    }
    return reply_built(call, r);
}

static cJSON *completion_result(const char *const *values, size_t count, long total, int has_more)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *c = cJSON_CreateObject();
    if (!r) {
        cJSON_Delete(c);
        return NULL;
    }
    cJSON *arr = NULL;
    if (!c || add_item(r, "completion", c) || add_item(c, "values", arr = cJSON_CreateArray())) {
        cJSON_Delete(r);
        return NULL;
    }
    for (size_t i = 0; i < count && i < MAX_COMPLETION_VALUES; i++) {
        cJSON *v = cJSON_CreateString(values[i]);
        if (!v || !cJSON_AddItemToArray(arr, v)) {
            cJSON_Delete(v);
            cJSON_Delete(r);
            return NULL;
        }
    }
    if (total >= 0 && !cJSON_AddNumberToObject(c, "total", (double)total)) {
        cJSON_Delete(r);
        return NULL;
    }
    if (!cJSON_AddBoolToObject(c, "hasMore", has_more || count > MAX_COMPLETION_VALUES)) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

int mcp_call_reply_completion(mcp_call_t *call, const char *const *values, size_t count, long total,
                              int has_more)
{
    return reply_built(call, completion_result(values, count, total, has_more));
}

int mcp_call_progress(mcp_call_t *call, double progress, double total, const char *message)
{
    int rc = call_check(call);
    if (rc)
        return rc == MCP_ECLOSED ? rc : MCP_ESTATE;
    if (!call->has_progress)
        return MCP_ESTATE;
    if (call->progress_sent && !(progress > call->last_progress))
        return MCP_EINVAL;
    cJSON *params = cJSON_CreateObject();
    if (!params || add_item(params, "progressToken", jsonrpc_id_to_json(&call->progress_token)) ||
        !cJSON_AddNumberToObject(params, "progress", progress) ||
        (total >= 0 && !cJSON_AddNumberToObject(params, "total", total)) ||
        add_str(params, "message", message)) {
        cJSON_Delete(params);
        return MCP_ENOMEM;
    }
    call->progress_sent = 1;
    call->last_progress = progress;
    return send_notification(call->session, MCP_NOTIFY_PROGRESS, params, call->origin,
                             &call->msg.id);
}

static cJSON *log_params(mcp_log_level_t level, const char *logger, cJSON *data)
{
    cJSON *params = cJSON_CreateObject();
    if (!params || add_str(params, "level", mcp_log_level_name(level)) ||
        add_str(params, "logger", logger)) {
        cJSON_Delete(params);
        cJSON_Delete(data);
        return NULL;
    }
    if (add_item(params, "data", data ? data : cJSON_CreateNull())) {
        cJSON_Delete(params);
        return NULL;
    }
    return params;
}

int mcp_call_log(mcp_call_t *call, mcp_log_level_t level, const char *logger, cJSON *data)
{
    int rc = call_check(call);
    if (rc) {
        cJSON_Delete(data);
        return rc;
    }
    if (!has_cap_object(call->server, "logging")) {
        cJSON_Delete(data);
        return MCP_EUNSUPPORTED;
    }
    if (level < call->session->log_level) {
        cJSON_Delete(data);
        return 0;
    }
    cJSON *params = log_params(level, logger, data);
    if (!params)
        return MCP_ENOMEM;
    return send_notification(call->session, MCP_NOTIFY_MESSAGE, params, call->origin,
                             &call->msg.id);
}

void mcp_call_on_cancel(mcp_call_t *call, mcp_cancel_fn fn, void *ud)
{
    call->on_cancel = fn;
    call->on_cancel_ud = ud;
}

uv_loop_t *mcp_call_loop(const mcp_call_t *call)
{
    return call->server->loop;
}

mcp_server_t *mcp_call_server(const mcp_call_t *call)
{
    return call->server;
}

mcp_session_t *mcp_call_session(const mcp_call_t *call)
{
    return call->session;
}

const jsonrpc_id_t *mcp_call_request_id(const mcp_call_t *call)
{
    return &call->msg.id;
}

const char *mcp_call_method(const mcp_call_t *call)
{
    return call->msg.method;
}

const cJSON *mcp_call_params(const mcp_call_t *call)
{
    return call->msg.params;
}

const char *mcp_call_target(const mcp_call_t *call)
{
    return call->target;
}

const char *mcp_call_tool_name(const mcp_call_t *call)
{
    return strcmp(call->msg.method, MCP_METHOD_TOOLS_CALL) == 0 ? call->target : NULL;
}

int mcp_call_is_cancelled(const mcp_call_t *call)
{
    return call->state == C_CANCELLED;
}

int mcp_call_is_finished(const mcp_call_t *call)
{
    return call->state != C_PENDING;
}

void mcp_call_set_data(mcp_call_t *call, void *data)
{
    call->data = data;
}

void *mcp_call_get_data(const mcp_call_t *call)
{
    return call->data;
}

/* ---- server -> client requests ---- */

static const char *required_client_cap(const char *method)
{
    if (strcmp(method, MCP_METHOD_SAMPLING_CREATE_MESSAGE) == 0)
        return "sampling";
    if (strcmp(method, MCP_METHOD_ELICITATION_CREATE) == 0)
        return "elicitation";
    if (strcmp(method, MCP_METHOD_ROOTS_LIST) == 0)
        return "roots";
    return NULL;
}

static int session_request(mcp_session_t *s, mcp_call_t *call, const char *method, cJSON *params,
                           mcp_response_fn cb, void *ud)
{
    int rc = 0;
    const char *cap = required_client_cap(method);
    if (s->closing || s->input_closed)
        rc = MCP_ECLOSED;
    else if (strcmp(method, MCP_METHOD_PING) != 0 && s->state != S_OPERATIONAL)
        rc = MCP_ESTATE;
    else if (cap && !cJSON_GetObjectItemCaseSensitive(s->client_caps, cap)) {
        LOG_W(COMP, "server->client request refused: client did not declare the capability",
              "session=%s method=%s capability=%s", s->label, method, cap);
        rc = MCP_EUNSUPPORTED;
    } else if (s->nreqs >= MAX_PENDING_REQUESTS)
        rc = MCP_ENOBUFS;
    if (rc) {
        cJSON_Delete(params);
        return rc;
    }
    out_req_t *r = mcp_calloc(1, sizeof(*r));
    if (!r) {
        cJSON_Delete(params);
        return MCP_ENOMEM;
    }
    r->id = ++s->next_req_id;
    r->cb = cb;
    r->ud = ud;
    jsonrpc_id_t id;
    jsonrpc_id_set_int(&id, r->id);
    cJSON *msg = jsonrpc_build_request(&id, method, params);
    if (!msg) {
        mcp_free(r);
        return MCP_ENOMEM;
    }
    /* Link before sending: a transport may deliver the answer as soon as it is written. */
    r->next = s->reqs;
    if (s->reqs)
        s->reqs->prev = r;
    s->reqs = r;
    s->nreqs++;
    if (call) {
        r->call = call;
        mcp_call_ref(call);
    }
    mcp_send_info_t info = {call ? call->origin : NULL, call ? &call->msg.id : NULL, 0,
                            JSONRPC_REQUEST};
    session_hold(s);
    rc = session_send(s, msg, &info);
    if (rc && s->closing)
        rc = 0; /* the close already completed the request through its callback */
    else if (rc) {
        req_unlink(s, r);
        if (r->call)
            mcp_call_unref(r->call);
        mcp_free(r);
    }
    session_release(s);
    return rc;
}

int mcp_session_request(mcp_session_t *session, const char *method, cJSON *params,
                        mcp_response_fn cb, void *ud)
{
    return session_request(session, NULL, method, params, cb, ud);
}

int mcp_call_request(mcp_call_t *call, const char *method, cJSON *params, mcp_response_fn cb,
                     void *ud)
{
    int rc = call_check(call);
    if (rc) {
        cJSON_Delete(params);
        return rc;
    }
    return session_request(call->session, call, method, params, cb, ud);
}

static void handle_response(mcp_session_t *s, jsonrpc_msg_t *m)
{
    out_req_t *r = s->reqs;
    while (r && !(m->id.type == JSONRPC_ID_INT && m->id.num == r->id))
        r = r->next;
    if (!r) {
        char tmp[48];
        LOG_D(COMP, "response to no pending request ignored", "session=%s id=%s", s->label,
              jsonrpc_id_str(&m->id, tmp, sizeof(tmp)));
        return;
    }
    req_unlink(s, r);
    mcp_response_t resp = {0,       m->result, m->error_code, m->error_message, m->error_data,
                           r->call, s};
    r->cb(&resp, r->ud);
    if (r->call)
        mcp_call_unref(r->call);
    mcp_free(r);
}

void mcp_session_input_closed(mcp_session_t *s)
{
    if (s->input_closed)
        return;
    s->input_closed = 1;
    session_hold(s);
    while (s->reqs) {
        out_req_t *r = s->reqs;
        req_unlink(s, r);
        req_fail(r, MCP_ECLOSED, s);
    }
    session_release(s);
}

/* ---- list methods with pagination ---- */

static void reply_list(mcp_call_t *call, const cJSON *params, registry_t *reg, const char *key)
{
    size_t offset = 0;
    const cJSON *cursor = cJSON_GetObjectItemCaseSensitive(params, "cursor");
    if (cursor && !cJSON_IsNull(cursor) &&
        (!cJSON_IsString(cursor) || mcp_cursor_decode(cursor->valuestring, &offset) != 0)) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS, "Invalid params: invalid cursor", NULL);
        return;
    }
    size_t page = call->server->page_size;
    size_t end = offset < reg->count
                     ? offset + (reg->count - offset < page ? reg->count - offset : page)
                     : offset;
    cJSON *result = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    int fail = !result || !arr;
    if (!fail)
        fail = add_item(result, key, arr);
    else
        cJSON_Delete(arr);
    for (size_t i = offset; !fail && i < end; i++) {
        cJSON *item = cJSON_Duplicate(reg->items[i].def, 1);
        fail = !item || !cJSON_AddItemToArray(arr, item);
        if (fail)
            cJSON_Delete(item);
    }
    if (!fail && end < reg->count) {
        char *next = mcp_cursor_encode(end);
        fail = !next || add_str(result, "nextCursor", next);
        mcp_free(next);
    }
    if (fail) {
        cJSON_Delete(result);
        result = NULL;
    }
    (void)reply_built(call, result);
}

/* ---- URI templates ---- */

typedef struct {
    const char *name;
    size_t name_len;
    const char *val;
    size_t val_len;
} span_var_t;

static int tpl_match(const char *t, const char *u, span_var_t *vars, size_t n, size_t *out_n)
{
    while (*t && *t != '{') {
        if (*t != *u)
            return 0;
        t++;
        u++;
    }
    if (!*t) {
        if (*u)
            return 0;
        *out_n = n;
        return 1;
    }
    const char *close = strchr(t, '}');
    if (!close || n == MCP_URI_MAX_VARS)
        return 0;
    const char *name = t + 1;
    int reserved = *name == '+' || *name == '#';
    if (reserved)
        name++;
    if (name == close || memchr(name, ',', (size_t)(close - name)))
        return 0;
    for (size_t len = 1; u[len - 1]; len++) {
        char c = u[len - 1];
        if (!reserved && (c == '/' || c == '?' || c == '#'))
            break;
        vars[n] = (span_var_t){name, (size_t)(close - name), u, len};
        if (tpl_match(close + 1, u + len, vars, n + 1, out_n))
            return 1;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

static char *pct_decode(const char *s, size_t len)
{
    char *out = mcp_malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void vars_free(mcp_uri_vars_t *v)
{
    for (size_t i = 0; i < v->count; i++) {
        mcp_free(v->names[i]);
        mcp_free(v->values[i]);
    }
    v->count = 0;
}

const char *mcp_uri_vars_get(const mcp_uri_vars_t *vars, const char *name)
{
    for (size_t i = 0; vars && i < vars->count; i++)
        if (strcmp(vars->names[i], name) == 0)
            return vars->values[i];
    return NULL;
}

/* 1 matched (vars filled), 0 no match, MCP_ENOMEM. */
static int template_match(const char *tpl, const char *uri, mcp_uri_vars_t *vars)
{
    span_var_t spans[MCP_URI_MAX_VARS];
    size_t n = 0;
    memset(vars, 0, sizeof(*vars));
    if (!tpl_match(tpl, uri, spans, 0, &n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        vars->names[i] = mcp_strndup(spans[i].name, spans[i].name_len);
        vars->values[i] = pct_decode(spans[i].val, spans[i].val_len);
        vars->count = i + 1;
        if (!vars->names[i] || !vars->values[i]) {
            vars_free(vars);
            return MCP_ENOMEM;
        }
    }
    return 1;
}

/* ---- built-in methods ---- */

static cJSON *server_info(mcp_server_t *s)
{
    cJSON *info = cJSON_CreateObject();
    if (!info || add_str(info, "name", s->name) || add_str(info, "version", s->version) ||
        add_str(info, "title", s->title) || add_str(info, "description", s->description) ||
        add_str(info, "websiteUrl", s->website_url)) {
        cJSON_Delete(info);
        return NULL;
    }
    return info;
}

static void do_initialize(mcp_call_t *call, const cJSON *params)
{
    mcp_session_t *s = call->session;
    mcp_server_t *srv = call->server;
    if (s->state != S_NEW) {
        (void)mcp_call_error(call, JSONRPC_INVALID_REQUEST,
                             "Invalid Request: the session is already initialized", NULL);
        return;
    }
    const char *requested = str_member(params, "protocolVersion");
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(params, "capabilities");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(params, "clientInfo");
    if (!requested) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"protocolVersion\" must be a string", NULL);
        return;
    }
    if (caps && !cJSON_IsObject(caps)) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"capabilities\" must be an object", NULL);
        return;
    }
    if (info && !cJSON_IsObject(info)) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"clientInfo\" must be an object", NULL);
        return;
    }
    const char *version = mcp_version_negotiate(requested);
    char *v = mcp_strdup(version);
    cJSON *c = caps ? cJSON_Duplicate(caps, 1) : cJSON_CreateObject();
    cJSON *i = info ? cJSON_Duplicate(info, 1) : NULL;
    cJSON *result = cJSON_CreateObject();
    cJSON *server_caps = mcp_server_capabilities(srv);
    int fail = !v || !c || (info && !i) || !result || !server_caps ||
               add_str(result, "protocolVersion", version);
    if (!fail) {
        fail = add_item(result, "capabilities", server_caps);
        server_caps = NULL;
    }
    fail = fail || add_item(result, "serverInfo", server_info(srv)) ||
           add_str(result, "instructions", srv->instructions);
    if (fail) {
        mcp_free(v);
        cJSON_Delete(c);
        cJSON_Delete(i);
        cJSON_Delete(result);
        cJSON_Delete(server_caps);
        (void)mcp_call_error(call, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory", NULL);
        return;
    }
    s->version = v;
    s->client_caps = c;
    s->client_info = i;
    s->state = S_READY;
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(result, "capabilities");
    s->declared = (cJSON_GetObjectItemCaseSensitive(sc, "tools") ? DECLARED_TOOLS : 0) |
                  (cJSON_GetObjectItemCaseSensitive(sc, "resources") ? DECLARED_RESOURCES : 0) |
                  (cJSON_GetObjectItemCaseSensitive(sc, "prompts") ? DECLARED_PROMPTS : 0) |
                  (cJSON_GetObjectItemCaseSensitive(sc, "logging") ? DECLARED_LOGGING : 0);
    LOG_D(COMP, "session initialized", "session=%s requested=%s version=%s", s->label,
          log_quote(requested), version);
    (void)mcp_call_reply(call, result);
}

static void do_set_level(mcp_call_t *call, const cJSON *params)
{
    mcp_log_level_t level;
    const char *name = str_member(params, "level");
    if (!name || mcp_log_level_parse(name, &level) != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "Invalid params: invalid log level%s%.60s%s", name ? " \"" : "",
                 name ? name : "", name ? "\"" : "");
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS, msg, NULL);
        return;
    }
    call->session->log_level = level;
    (void)mcp_call_reply(call, NULL);
}

static void do_tools_call(mcp_call_t *call, const cJSON *params)
{
    const char *name = str_member(params, "name");
    if (!name) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"name\" must be a string", NULL);
        return;
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "arguments");
    if (args && !cJSON_IsObject(args) && !cJSON_IsNull(args)) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"arguments\" must be an object", NULL);
        return;
    }
    entry_t *e = reg_find(&call->server->tools, name);
    if (!e) {
        char msg[200];
        snprintf(msg, sizeof(msg), "Unknown tool: %.150s", name);
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS, msg, NULL);
        return;
    }
    if (!args || cJSON_IsNull(args)) {
        call->empty = cJSON_CreateObject();
        if (!call->empty) {
            (void)reply_built(call, NULL);
            return;
        }
        args = call->empty;
    }
    e->fn.tool(call, args, e->ud);
}

static void do_resources_read(mcp_call_t *call, const cJSON *params)
{
    const char *uri = str_member(params, "uri");
    if (!uri) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"uri\" must be a string", NULL);
        return;
    }
    mcp_server_t *srv = call->server;
    entry_t *e = reg_find(&srv->resources, uri);
    if (e) {
        e->fn.resource(call, uri, NULL, e->ud);
        return;
    }
    for (size_t i = 0; strlen(uri) <= MAX_URI_LEN && i < srv->templates.count; i++) {
        mcp_uri_vars_t vars;
        int m = template_match(srv->templates.items[i].key, uri, &vars);
        if (m < 0) {
            (void)reply_built(call, NULL);
            return;
        }
        if (m) {
            entry_t t = srv->templates.items[i];
            t.fn.resource(call, uri, &vars, t.ud);
            vars_free(&vars);
            return;
        }
    }
    cJSON *data = cJSON_CreateObject();
    if (data && add_str(data, "uri", uri)) {
        cJSON_Delete(data);
        data = NULL;
    }
    (void)mcp_call_error(call, JSONRPC_RESOURCE_NOT_FOUND, "Resource not found", data);
}

static void do_subscribe(mcp_call_t *call, const cJSON *params, int subscribe)
{
    mcp_session_t *s = call->session;
    const char *uri = str_member(params, "uri");
    if (!uri) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"uri\" must be a string", NULL);
        return;
    }
    for (size_t i = 0; i < s->nsubs; i++) {
        if (strcmp(s->subs[i], uri) == 0) {
            if (!subscribe) {
                mcp_free(s->subs[i]);
                s->subs[i] = s->subs[--s->nsubs];
            }
            (void)mcp_call_reply(call, NULL);
            return;
        }
    }
    if (subscribe) {
        if (s->nsubs >= call->server->max_subs) {
            (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                                 "Invalid params: too many subscriptions on this session", NULL);
            return;
        }
        char **subs = mcp_realloc(s->subs, (s->nsubs + 1) * sizeof(*subs));
        char *copy = subs ? mcp_strdup(uri) : NULL;
        if (subs)
            s->subs = subs;
        if (!copy) {
            (void)reply_built(call, NULL);
            return;
        }
        s->subs[s->nsubs++] = copy;
    }
    (void)mcp_call_reply(call, NULL);
}

static void do_prompts_get(mcp_call_t *call, const cJSON *params)
{
    const char *name = str_member(params, "name");
    char msg[200];
    if (!name) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"name\" must be a string", NULL);
        return;
    }
    entry_t *e = reg_find(&call->server->prompts, name);
    if (!e) {
        snprintf(msg, sizeof(msg), "Invalid params: unknown prompt: %.150s", name);
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS, msg, NULL);
        return;
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "arguments");
    if (args && cJSON_IsNull(args))
        args = NULL;
    if (args && !cJSON_IsObject(args)) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"arguments\" must be an object", NULL);
        return;
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, args)
    {
        if (!cJSON_IsString(a)) {
            snprintf(msg, sizeof(msg), "Invalid params: argument \"%.100s\" must be a string",
                     a->string);
            (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS, msg, NULL);
            return;
        }
    }
    const cJSON *decl;
    cJSON_ArrayForEach(decl, cJSON_GetObjectItemCaseSensitive(e->def, "arguments"))
    {
        const char *an = str_member(decl, "name");
        if (an && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(decl, "required")) &&
            !cJSON_GetObjectItemCaseSensitive(args, an)) {
            snprintf(msg, sizeof(msg), "Invalid params: missing required argument \"%.100s\"", an);
            (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS, msg, NULL);
            return;
        }
    }
    if (!args) {
        call->empty = cJSON_CreateObject();
        if (!call->empty) {
            (void)reply_built(call, NULL);
            return;
        }
        args = call->empty;
    }
    e->fn.prompt(call, args, e->ud);
}

static char *completion_key(const char *type, const char *ref, const char *arg)
{
    return mcp_asprintf("%s\x1f%s\x1f%s", type, ref, arg);
}

static void do_complete(mcp_call_t *call, const cJSON *params)
{
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(params, "ref");
    const cJSON *arg = cJSON_GetObjectItemCaseSensitive(params, "argument");
    const char *type = str_member(ref, "type");
    const char *arg_name = str_member(arg, "name");
    const char *value = str_member(arg, "value");
    const char *target = NULL;
    if (type && strcmp(type, "ref/prompt") == 0)
        target = str_member(ref, "name");
    else if (type && strcmp(type, "ref/resource") == 0)
        target = str_member(ref, "uri");
    if (!target || !arg_name || !value) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: completion/complete needs ref {type: "
                             "\"ref/prompt\", name} or {type: \"ref/resource\", uri} and "
                             "argument {name, value}",
                             NULL);
        return;
    }
    if (strcmp(type, "ref/prompt") == 0 && !reg_find(&call->server->prompts, target)) {
        char msg[200];
        snprintf(msg, sizeof(msg), "Invalid params: unknown prompt: %.150s", target);
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS, msg, NULL);
        return;
    }
    char *key = completion_key(type, target, arg_name);
    if (!key) {
        (void)reply_built(call, NULL);
        return;
    }
    entry_t *e = reg_find(&call->server->completions, key);
    mcp_free(key);
    if (!e) {
        (void)mcp_call_reply_completion(call, NULL, 0, 0, 0);
        return;
    }
    const cJSON *context = cJSON_GetObjectItemCaseSensitive(params, "context");
    e->fn.complete(call, arg_name, value, cJSON_GetObjectItemCaseSensitive(context, "arguments"),
                   e->ud);
}

static void call_dispatch(mcp_call_t *call)
{
    mcp_server_t *srv = call->server;
    const char *m = call->msg.method;
    const cJSON *params = call->msg.params;
    call->dispatched = 1;
    if (params && !cJSON_IsObject(params)) {
        (void)mcp_call_error(call, JSONRPC_INVALID_PARAMS,
                             "Invalid params: \"params\" must be an object", NULL);
        return;
    }
    if (strcmp(m, MCP_METHOD_INITIALIZE) == 0) {
        do_initialize(call, params);
        return;
    }
    if (strcmp(m, MCP_METHOD_PING) == 0) {
        (void)mcp_call_reply(call, NULL);
        return;
    }
    if (call->session->state == S_NEW) {
        (void)mcp_call_error(call, JSONRPC_INVALID_REQUEST,
                             "Invalid Request: session not initialized (send initialize first)",
                             NULL);
        return;
    }
    entry_t *e = reg_find(&srv->methods, m);
    if (e) {
        e->fn.method(call, params, e->ud);
        return;
    }
    int known = 1;
    if (strcmp(m, MCP_METHOD_LOGGING_SET_LEVEL) == 0 && has_cap_object(srv, "logging"))
        do_set_level(call, params);
    else if (strcmp(m, MCP_METHOD_TOOLS_LIST) == 0 && has_cap_object(srv, "tools"))
        reply_list(call, params, &srv->tools, "tools");
    else if (strcmp(m, MCP_METHOD_TOOLS_CALL) == 0 && has_cap_object(srv, "tools"))
        do_tools_call(call, params);
    else if (strcmp(m, MCP_METHOD_RESOURCES_LIST) == 0 && has_cap_object(srv, "resources"))
        reply_list(call, params, &srv->resources, "resources");
    else if (strcmp(m, MCP_METHOD_RESOURCES_TEMPLATES) == 0 && has_cap_object(srv, "resources"))
        reply_list(call, params, &srv->templates, "resourceTemplates");
    else if (strcmp(m, MCP_METHOD_RESOURCES_READ) == 0 && has_cap_object(srv, "resources"))
        do_resources_read(call, params);
    else if (strcmp(m, MCP_METHOD_RESOURCES_SUBSCRIBE) == 0 && has_cap_object(srv, "resources"))
        do_subscribe(call, params, 1);
    else if (strcmp(m, MCP_METHOD_RESOURCES_UNSUBSCRIBE) == 0 && has_cap_object(srv, "resources"))
        do_subscribe(call, params, 0);
    else if (strcmp(m, MCP_METHOD_PROMPTS_LIST) == 0 && has_cap_object(srv, "prompts"))
        reply_list(call, params, &srv->prompts, "prompts");
    else if (strcmp(m, MCP_METHOD_PROMPTS_GET) == 0 && has_cap_object(srv, "prompts"))
        do_prompts_get(call, params);
    else if (strcmp(m, MCP_METHOD_COMPLETION_COMPLETE) == 0 && has_cap_object(srv, "completions"))
        do_complete(call, params);
    else
        known = 0;
    if (!known) {
        char msg[200];
        snprintf(msg, sizeof(msg), "Method not found: %.150s", m);
        (void)mcp_call_error(call, JSONRPC_METHOD_NOT_FOUND, msg, NULL);
    }
}

int mcp_call_continue(mcp_call_t *call)
{
    if (call->state != C_PENDING || call->dispatched)
        return MCP_ESTATE;
    mcp_call_ref(call);
    call_dispatch(call);
    mcp_call_unref(call);
    return 0;
}

/* ---- receiving ---- */

static mcp_call_t *find_call(mcp_session_t *s, const jsonrpc_id_t *id)
{
    for (mcp_call_t *c = s->calls; c; c = c->next)
        if (jsonrpc_id_equal(&c->msg.id, id))
            return c;
    return NULL;
}

static void handle_request(mcp_session_t *s, jsonrpc_msg_t *m, void *origin)
{
    mcp_server_t *srv = s->server;
    if (find_call(s, &m->id)) {
        send_error_reply(s, origin, &m->id, JSONRPC_INVALID_REQUEST,
                         "Invalid Request: a request with this id is already in flight");
        return;
    }
    if (s->ninflight >= srv->max_inflight) {
        send_error_reply(s, origin, &m->id, JSONRPC_INTERNAL_ERROR,
                         "Internal error: too many requests in flight on this session");
        return;
    }
    mcp_call_t *c = mcp_calloc(1, sizeof(*c));
    if (!c) {
        send_error_reply(s, origin, &m->id, JSONRPC_INTERNAL_ERROR,
                         "Internal error: out of memory");
        return;
    }
    c->refs = 1; /* the framework's, dropped when the call finishes */
    c->server = srv;
    c->session = s;
    c->origin = origin;
    jsonrpc_msg_move(&c->msg, m);
    const cJSON *params = c->msg.params;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(meta, "progressToken");
    if (token) {
        int rc = jsonrpc_id_from_json(token, &c->progress_token);
        c->has_progress = rc == 0 && (c->progress_token.type == JSONRPC_ID_INT ||
                                      c->progress_token.type == JSONRPC_ID_STR);
        if (rc == MCP_ENOMEM) {
            send_error_reply(s, origin, &c->msg.id, JSONRPC_INTERNAL_ERROR,
                             "Internal error: out of memory");
            call_free(c);
            return;
        }
    }
    const char *method = c->msg.method;
    if (strcmp(method, MCP_METHOD_TOOLS_CALL) == 0 || strcmp(method, MCP_METHOD_PROMPTS_GET) == 0)
        c->target = str_member(params, "name");
    else if (strcmp(method, MCP_METHOD_RESOURCES_READ) == 0)
        c->target = str_member(params, "uri");
    c->next = s->calls;
    if (s->calls)
        s->calls->prev = c;
    s->calls = c;
    c->linked = 1;
    s->ninflight++;

    mcp_call_ref(c); /* valid for the whole interceptor + handler run */
    int taken = srv->interceptor && srv->interceptor(c, method, mcp_call_tool_name(c),
                                                     srv->interceptor_ud) == MCP_INTERCEPT_TAKEN;
    if (!taken && c->state == C_PENDING && !c->dispatched)
        call_dispatch(c);
    mcp_call_unref(c);
}

static void handle_notification(mcp_session_t *s, jsonrpc_msg_t *m)
{
    mcp_server_t *srv = s->server;
    const cJSON *params = m->params;
    if (strcmp(m->method, MCP_NOTIFY_INITIALIZED) == 0) {
        if (s->state == S_READY) {
            s->state = S_OPERATIONAL;
            if (srv->on_session)
                srv->on_session(s, MCP_SESSION_INITIALIZED, srv->on_session_ud);
        }
    } else if (strcmp(m->method, MCP_NOTIFY_CANCELLED) == 0) {
        jsonrpc_id_t id;
        const cJSON *rid = cJSON_GetObjectItemCaseSensitive(params, "requestId");
        if (rid && jsonrpc_id_from_json(rid, &id) == 0) {
            mcp_call_t *c = find_call(s, &id);
            /* initialize must not be cancelled; unknown ids are ignored silently. */
            if (c && strcmp(c->msg.method, MCP_METHOD_INITIALIZE) != 0)
                call_cancel(c);
            jsonrpc_id_free(&id);
        }
    }
    if (s->closing)
        return;
    entry_t *e = reg_find(&srv->notifications, m->method);
    if (!e)
        e = reg_find(&srv->notifications, "");
    if (e)
        e->fn.notify(s, m->method, params, e->ud);
}

int mcp_session_receive(mcp_session_t *s, const char *data, size_t len, void *origin,
                        mcp_receive_info_t *info)
{
    mcp_receive_info_t local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    if (s->closing)
        return MCP_ECLOSED;
    jsonrpc_batch_t b;
    jsonrpc_error_t err;
    int rc = jsonrpc_parse(data, len, &b, &err);
    if (rc == MCP_ENOMEM)
        return rc;
    session_hold(s);
    if (rc) {
        info->parse_error = rc == MCP_EPARSE;
        info->invalid = rc == MCP_EPROTO;
        info->replies = 1;
        send_error_reply(s, origin, NULL, err.code, err.message);
        session_release(s);
        return 0;
    }
    info->batch = b.is_batch;
    if (b.is_batch && !(s->state != S_NEW && mcp_version_allows_batch(s->version))) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "Invalid Request: JSON-RPC batches are only allowed with protocol version "
                 "2025-03-26 (this session: %s)",
                 s->state == S_NEW ? "not initialized" : s->version);
        info->batch_rejected = 1;
        info->invalid = 1;
        info->replies = 1;
        send_error_reply(s, origin, NULL, JSONRPC_INVALID_REQUEST, msg);
        jsonrpc_batch_free(&b);
        session_release(s);
        return 0;
    }
    for (size_t i = 0; i < b.count; i++) {
        switch (b.msgs[i].kind) {
        case JSONRPC_REQUEST:
            info->requests++;
            info->replies++;
            if (strcmp(b.msgs[i].method, MCP_METHOD_INITIALIZE) == 0)
                info->initialize = 1;
            break;
        case JSONRPC_NOTIFICATION: info->notifications++; break;
        case JSONRPC_RESULT:
        case JSONRPC_ERROR: info->responses++; break;
        default: info->invalid++; info->replies++;
        }
    }
    for (size_t i = 0; i < b.count && !s->closing; i++) {
        jsonrpc_msg_t *m = &b.msgs[i];
        switch (m->kind) {
        case JSONRPC_REQUEST: handle_request(s, m, origin); break;
        case JSONRPC_NOTIFICATION: handle_notification(s, m); break;
        case JSONRPC_RESULT:
        case JSONRPC_ERROR: handle_response(s, m); break;
        default: {
            char msg[160];
            snprintf(msg, sizeof(msg), "Invalid Request: %s", m->reason);
            send_error_reply(s, origin, &m->id, m->error_code, msg);
        }
        }
    }
    jsonrpc_batch_free(&b);
    session_release(s);
    return 0;
}

void mcp_session_close(mcp_session_t *s)
{
    if (!s || s->closing)
        return;
    mcp_server_t *srv = s->server;
    session_hold(s);
    if (srv->on_session)
        srv->on_session(s, MCP_SESSION_CLOSED, srv->on_session_ud);
    s->closing = 1;
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    srv->nsessions--;

    /* Detach every pending call first, so hooks see a consistent world: each is cancelled,
     * has no session, and is kept alive by a temporary reference while its hook runs. */
    mcp_call_t *calls = s->calls;
    s->calls = NULL;
    s->ninflight = 0;
    for (mcp_call_t *c = calls; c; c = c->next) {
        mcp_call_ref(c);
        c->linked = 0;
        c->session = NULL;
        c->state = C_CANCELLED;
    }
    for (out_req_t *r = s->reqs; r; r = r->next)
        if (r->call)
            r->call->session = NULL;
    for (mcp_call_t *c = calls, *next; c; c = next) {
        next = c->next;
        c->prev = c->next = NULL;
        mcp_cancel_fn hook = c->on_cancel;
        c->on_cancel = NULL;
        if (hook)
            hook(c, c->on_cancel_ud);
        mcp_call_unref(c); /* the framework's */
        mcp_call_unref(c); /* the temporary one */
    }
    while (s->reqs) {
        out_req_t *r = s->reqs;
        req_unlink(s, r);
        req_fail(r, MCP_ECLOSED, NULL);
    }
    session_release(s);
}

/* ---- registries: public API ---- */

static void notify_changed(mcp_server_t *srv, mcp_list_kind_t kind)
{
    (void)mcp_server_notify_list_changed(srv, kind);
}

static int add_tool_obj(mcp_server_t *srv, cJSON *tool, mcp_tool_fn fn, void *ud)
{
    const char *name = str_member(tool, "name");
    if (!fn || !name || !is_tool_name(name)) {
        cJSON_Delete(tool);
        return MCP_EINVAL;
    }
    cJSON *schema = cJSON_GetObjectItemCaseSensitive(tool, "inputSchema");
    if (schema && !cJSON_IsObject(schema)) {
        cJSON_Delete(tool);
        return MCP_EINVAL;
    }
    if (!schema) {
        cJSON *def = cJSON_CreateObject();
        if (!def || add_str(def, "type", "object")) {
            cJSON_Delete(def);
            cJSON_Delete(tool);
            return MCP_ENOMEM;
        }
        if (add_item(tool, "inputSchema", def)) {
            cJSON_Delete(tool);
            return MCP_ENOMEM;
        }
    }
    char *key = mcp_strdup(name);
    if (!key) {
        cJSON_Delete(tool);
        return MCP_ENOMEM;
    }
    int rc = reg_add(&srv->tools, key, tool, (handler_u){.tool = fn}, ud);
    mcp_free(key);
    if (rc == 0)
        notify_changed(srv, MCP_LIST_TOOLS);
    return rc;
}

int mcp_server_add_tool_json(mcp_server_t *srv, const cJSON *tool, mcp_tool_fn fn, void *ud)
{
    if (!cJSON_IsObject(tool))
        return MCP_EINVAL;
    cJSON *copy = cJSON_Duplicate(tool, 1);
    return copy ? add_tool_obj(srv, copy, fn, ud) : MCP_ENOMEM;
}

int mcp_server_add_tool(mcp_server_t *srv, const mcp_tool_def_t *def, mcp_tool_fn fn, void *ud)
{
    if (!def || !is_tool_name(def->name))
        return MCP_EINVAL;
    int bad_in, bad_out, bad_ann;
    cJSON *in = parse_json_text(def->input_schema, &bad_in);
    cJSON *out = parse_json_text(def->output_schema, &bad_out);
    cJSON *ann = parse_json_text(def->annotations, &bad_ann);
    cJSON *tool = cJSON_CreateObject();
    int rc = 0;
    if (bad_in || bad_out || bad_ann || (in && !cJSON_IsObject(in)) ||
        (out && !cJSON_IsObject(out)) || (ann && !cJSON_IsObject(ann)))
        rc = MCP_EINVAL;
    else if (!tool || (def->input_schema && !in) || (def->output_schema && !out) ||
             (def->annotations && !ann))
        rc = MCP_ENOMEM;
    if (!rc && (add_str(tool, "name", def->name) || add_str(tool, "title", def->title) ||
                add_str(tool, "description", def->description)))
        rc = MCP_ENOMEM;
    if (!rc && in) {
        rc = add_item(tool, "inputSchema", in) ? MCP_ENOMEM : 0;
        in = NULL;
    }
    if (!rc && out) {
        rc = add_item(tool, "outputSchema", out) ? MCP_ENOMEM : 0;
        out = NULL;
    }
    if (!rc && ann) {
        rc = add_item(tool, "annotations", ann) ? MCP_ENOMEM : 0;
        ann = NULL;
    }
    cJSON_Delete(in);
    cJSON_Delete(out);
    cJSON_Delete(ann);
    if (rc) {
        cJSON_Delete(tool);
        return rc;
    }
    return add_tool_obj(srv, tool, fn, ud);
}

int mcp_server_remove_tool(mcp_server_t *srv, const char *name)
{
    int rc = reg_remove(&srv->tools, name);
    if (rc == 0)
        notify_changed(srv, MCP_LIST_TOOLS);
    return rc;
}

static int add_keyed(mcp_server_t *srv, registry_t *reg, cJSON *obj, const char *key_member,
                     handler_u fn, mcp_list_kind_t kind, void *ud)
{
    const char *key = str_member(obj, key_member);
    if (!key || !*key || !str_member(obj, "name")) {
        cJSON_Delete(obj);
        return MCP_EINVAL;
    }
    char *k = mcp_strdup(key);
    if (!k) {
        cJSON_Delete(obj);
        return MCP_ENOMEM;
    }
    int rc = reg_add(reg, k, obj, fn, ud);
    mcp_free(k);
    if (rc == 0)
        notify_changed(srv, kind);
    return rc;
}

int mcp_server_add_resource_json(mcp_server_t *srv, const cJSON *res, mcp_resource_fn fn, void *ud)
{
    if (!cJSON_IsObject(res) || !fn)
        return MCP_EINVAL;
    cJSON *copy = cJSON_Duplicate(res, 1);
    if (!copy)
        return MCP_ENOMEM;
    return add_keyed(srv, &srv->resources, copy, "uri", (handler_u){.resource = fn},
                     MCP_LIST_RESOURCES, ud);
}

int mcp_server_add_resource(mcp_server_t *srv, const mcp_resource_def_t *def, mcp_resource_fn fn,
                            void *ud)
{
    if (!def || !def->uri || !def->name || !fn)
        return MCP_EINVAL;
    cJSON *o = cJSON_CreateObject();
    if (!o || add_str(o, "uri", def->uri) || add_str(o, "name", def->name) ||
        add_str(o, "title", def->title) || add_str(o, "description", def->description) ||
        add_str(o, "mimeType", def->mime_type) ||
        (def->size_known && def->size >= 0 &&
         !cJSON_AddNumberToObject(o, "size", (double)def->size))) {
        cJSON_Delete(o);
        return MCP_ENOMEM;
    }
    return add_keyed(srv, &srv->resources, o, "uri", (handler_u){.resource = fn},
                     MCP_LIST_RESOURCES, ud);
}

int mcp_server_remove_resource(mcp_server_t *srv, const char *uri)
{
    int rc = reg_remove(&srv->resources, uri);
    if (rc == 0)
        notify_changed(srv, MCP_LIST_RESOURCES);
    return rc;
}

int mcp_server_add_template_json(mcp_server_t *srv, const cJSON *tpl, mcp_resource_fn fn, void *ud)
{
    if (!cJSON_IsObject(tpl) || !fn)
        return MCP_EINVAL;
    cJSON *copy = cJSON_Duplicate(tpl, 1);
    if (!copy)
        return MCP_ENOMEM;
    return add_keyed(srv, &srv->templates, copy, "uriTemplate", (handler_u){.resource = fn},
                     MCP_LIST_RESOURCES, ud);
}

int mcp_server_add_template(mcp_server_t *srv, const mcp_template_def_t *def, mcp_resource_fn fn,
                            void *ud)
{
    if (!def || !def->uri_template || !def->name || !fn)
        return MCP_EINVAL;
    cJSON *o = cJSON_CreateObject();
    if (!o || add_str(o, "uriTemplate", def->uri_template) || add_str(o, "name", def->name) ||
        add_str(o, "title", def->title) || add_str(o, "description", def->description) ||
        add_str(o, "mimeType", def->mime_type)) {
        cJSON_Delete(o);
        return MCP_ENOMEM;
    }
    return add_keyed(srv, &srv->templates, o, "uriTemplate", (handler_u){.resource = fn},
                     MCP_LIST_RESOURCES, ud);
}

int mcp_server_remove_template(mcp_server_t *srv, const char *uri_template)
{
    int rc = reg_remove(&srv->templates, uri_template);
    if (rc == 0)
        notify_changed(srv, MCP_LIST_RESOURCES);
    return rc;
}

int mcp_server_add_prompt_json(mcp_server_t *srv, const cJSON *prompt, mcp_prompt_fn fn, void *ud)
{
    if (!cJSON_IsObject(prompt) || !fn)
        return MCP_EINVAL;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(prompt, "arguments");
    if (args && !cJSON_IsArray(args))
        return MCP_EINVAL;
    cJSON *copy = cJSON_Duplicate(prompt, 1);
    if (!copy)
        return MCP_ENOMEM;
    return add_keyed(srv, &srv->prompts, copy, "name", (handler_u){.prompt = fn}, MCP_LIST_PROMPTS,
                     ud);
}

int mcp_server_add_prompt(mcp_server_t *srv, const mcp_prompt_def_t *def, mcp_prompt_fn fn,
                          void *ud)
{
    if (!def || !def->name || !fn || (def->nargs && !def->args))
        return MCP_EINVAL;
    cJSON *o = cJSON_CreateObject();
    int fail = !o || add_str(o, "name", def->name) || add_str(o, "title", def->title) ||
               add_str(o, "description", def->description);
    if (!fail && def->nargs) {
        cJSON *arr = cJSON_CreateArray();
        fail = add_item(o, "arguments", arr);
        for (size_t i = 0; !fail && i < def->nargs; i++) {
            const mcp_prompt_arg_t *a = &def->args[i];
            cJSON *ao = cJSON_CreateObject();
            if (!a->name) {
                cJSON_Delete(ao);
                cJSON_Delete(o);
                return MCP_EINVAL;
            }
            fail = !ao || !cJSON_AddItemToArray(arr, ao);
            if (fail)
                cJSON_Delete(ao);
            else
                fail = add_str(ao, "name", a->name) || add_str(ao, "title", a->title) ||
                       add_str(ao, "description", a->description) ||
                       (a->required && !cJSON_AddTrueToObject(ao, "required"));
        }
    }
    if (fail) {
        cJSON_Delete(o);
        return MCP_ENOMEM;
    }
    return add_keyed(srv, &srv->prompts, o, "name", (handler_u){.prompt = fn}, MCP_LIST_PROMPTS,
                     ud);
}

int mcp_server_remove_prompt(mcp_server_t *srv, const char *name)
{
    int rc = reg_remove(&srv->prompts, name);
    if (rc == 0)
        notify_changed(srv, MCP_LIST_PROMPTS);
    return rc;
}

int mcp_server_set_completion(mcp_server_t *srv, const char *ref_type, const char *ref,
                              const char *argument, mcp_complete_fn fn, void *ud)
{
    if (!ref_type || !ref || !argument ||
        (strcmp(ref_type, "ref/prompt") != 0 && strcmp(ref_type, "ref/resource") != 0))
        return MCP_EINVAL;
    char *key = completion_key(ref_type, ref, argument);
    if (!key)
        return MCP_ENOMEM;
    (void)reg_remove(&srv->completions, key);
    int rc = fn ? reg_add(&srv->completions, key, NULL, (handler_u){.complete = fn}, ud) : 0;
    mcp_free(key);
    return rc;
}

int mcp_server_set_method(mcp_server_t *srv, const char *method, mcp_method_fn fn, void *ud)
{
    if (!method || !*method || strcmp(method, MCP_METHOD_INITIALIZE) == 0)
        return MCP_EINVAL;
    (void)reg_remove(&srv->methods, method);
    return fn ? reg_add(&srv->methods, method, NULL, (handler_u){.method = fn}, ud) : 0;
}

int mcp_server_set_notification(mcp_server_t *srv, const char *method, mcp_notify_fn fn, void *ud)
{
    const char *key = method ? method : "";
    (void)reg_remove(&srv->notifications, key);
    return fn ? reg_add(&srv->notifications, key, NULL, (handler_u){.notify = fn}, ud) : 0;
}

/* ---- server-initiated notifications ---- */

/* Sessions are collected first (each held) because a send may close any of them. */
static mcp_session_t **snapshot(mcp_server_t *srv, size_t *n)
{
    *n = 0;
    if (!srv->nsessions)
        return NULL;
    mcp_session_t **list = mcp_malloc(srv->nsessions * sizeof(*list));
    if (!list)
        return NULL;
    for (mcp_session_t *s = srv->sessions; s; s = s->next) {
        session_hold(s);
        list[(*n)++] = s;
    }
    return list;
}

static void snapshot_release(mcp_session_t **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        session_release(list[i]);
    mcp_free(list);
}

size_t mcp_server_notify_list_changed(mcp_server_t *srv, mcp_list_kind_t kind)
{
    static const char *const methods[] = {MCP_NOTIFY_TOOLS_LIST_CHANGED,
                                          MCP_NOTIFY_RESOURCES_LIST_CHANGED,
                                          MCP_NOTIFY_PROMPTS_LIST_CHANGED};
    static const int bits[] = {DECLARED_TOOLS, DECLARED_RESOURCES, DECLARED_PROMPTS};
    size_t n, sent = 0;
    mcp_session_t **list = snapshot(srv, &n);
    for (size_t i = 0; i < n; i++) {
        mcp_session_t *s = list[i];
        if (!s->closing && s->state == S_OPERATIONAL && (s->declared & bits[kind]) &&
            send_notification(s, methods[kind], NULL, NULL, NULL) == 0)
            sent++;
    }
    snapshot_release(list, n);
    return sent;
}

size_t mcp_server_notify_resource_updated(mcp_server_t *srv, const char *uri)
{
    size_t n, sent = 0;
    mcp_session_t **list = snapshot(srv, &n);
    for (size_t i = 0; i < n; i++) {
        mcp_session_t *s = list[i];
        if (s->closing || s->state != S_OPERATIONAL || !mcp_session_is_subscribed(s, uri))
            continue;
        cJSON *params = cJSON_CreateObject();
        if (!params || add_str(params, "uri", uri)) {
            cJSON_Delete(params);
            continue;
        }
        if (send_notification(s, MCP_NOTIFY_RESOURCES_UPDATED, params, NULL, NULL) == 0)
            sent++;
    }
    snapshot_release(list, n);
    return sent;
}

size_t mcp_server_broadcast_log(mcp_server_t *srv, mcp_log_level_t level, const char *logger,
                                cJSON *data)
{
    size_t n, sent = 0;
    if (!has_cap_object(srv, "logging")) {
        cJSON_Delete(data);
        return 0;
    }
    /* Serialized once, sent to every session whose level lets it through. */
    cJSON *msg = jsonrpc_build_notification(MCP_NOTIFY_MESSAGE, log_params(level, logger, data));
    size_t len;
    char *text = msg ? jsonrpc_print(msg, &len) : NULL;
    cJSON_Delete(msg);
    if (!text)
        return 0;
    mcp_session_t **list = snapshot(srv, &n);
    mcp_send_info_t info = {NULL, NULL, 0, JSONRPC_NOTIFICATION};
    for (size_t i = 0; i < n; i++) {
        mcp_session_t *s = list[i];
        if (!s->closing && s->state != S_NEW && level >= s->log_level &&
            s->ops->send(s->ctx, text, len, &info) == 0)
            sent++;
    }
    snapshot_release(list, n);
    cJSON_free(text);
    return sent;
}

void mcp_server_free(mcp_server_t *srv)
{
    if (!srv)
        return;
    while (srv->sessions) {
        mcp_session_t *s = srv->sessions;
        const mcp_transport_ops_t *ops = s->ops;
        void *ctx = s->ctx;
        mcp_session_close(s);
        if (ops && ops->closed)
            ops->closed(ctx);
    }
    reg_free(&srv->tools);
    reg_free(&srv->resources);
    reg_free(&srv->templates);
    reg_free(&srv->prompts);
    reg_free(&srv->completions);
    reg_free(&srv->methods);
    reg_free(&srv->notifications);
    cJSON_Delete(srv->caps_override);
    mcp_free(srv->name);
    mcp_free(srv->version);
    mcp_free(srv->title);
    mcp_free(srv->description);
    mcp_free(srv->website_url);
    mcp_free(srv->instructions);
    mcp_free(srv);
}
