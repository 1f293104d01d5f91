/* upstream: see upstream.h. */
#include "upstream.h"

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "mcp_client_http.h"
#include "mcp_client_stdio.h"
#include "mcp_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP "upstream"

/* Latency histograms: microseconds up to an hour. */
#define LAT_MAX_US      3600000000LL
#define LAT_SIGFIGS     3
#define TOOL_LAT_SIGFIG 2

enum { K_TOOLS = 0, K_RESOURCES, K_TEMPLATES, K_PROMPTS, K_COUNT };

static const struct {
    unsigned bit;
    const char *method;
    const char *key;   /* the array in the list result */
    const char *ident; /* the member each item must have as a string */
    const char *cap;   /* the capability that declares it */
} kinds[K_COUNT] = {
    {GW_CAT_TOOLS, MCP_METHOD_TOOLS_LIST, "tools", "name", "tools"},
    {GW_CAT_RESOURCES, MCP_METHOD_RESOURCES_LIST, "resources", "uri", "resources"},
    {GW_CAT_TEMPLATES, MCP_METHOD_RESOURCES_TEMPLATES, "resourceTemplates", "uriTemplate",
     "resources"},
    {GW_CAT_PROMPTS, MCP_METHOD_PROMPTS_LIST, "prompts", "name", "prompts"},
};

typedef struct lister_s {
    gw_upstream_t *up;
    int kind;
    mcp_client_req_t *req;
    cJSON *items;  /* the listing being collected */
    cJSON *result; /* a finished listing waiting for the others (initial listing) */
    char *cursor;
    size_t pages;
    int running, again, done;
} lister_t;

typedef struct tool_stat_s {
    char *tool;
    uint64_t calls, errors, timeouts;
    hdr_histogram_t *latency;
} tool_stat_t;

enum { IN_NONE = 0, IN_FLIGHT, IN_WAITING, IN_DEFERRED };

struct gw_upcall_s {
    gw_upcall_t *prev, *next;
    int where;
    gw_upstream_t *up;
    char *method;
    char *tool;
    cJSON *params; /* a copy kept for the one retry (NULL when not retryable) */
    uint64_t deadline_ms, max_deadline_ms;
    uint64_t start_ms; /* loop time of gw_upstream_call */
    uint64_t sent_ns;
    uint64_t latency_us;
    int retry_ok, retried, torn, cancelled;
    int pass; /* what the breaker said */
    int final_status;
    mcp_client_req_t *req;
    gw_upcall_fn cb;
    gw_upcall_progress_fn on_progress;
    void *ud;
};

typedef struct call_list_s {
    gw_upcall_t *head, *tail;
    size_t count;
} call_list_t;

struct gw_upstream_s {
    uv_loop_t *loop;
    gw_server_config_t cfg;
    gw_upstream_settings_t set;
    gw_upstream_hooks_t hooks;
    gw_upstream_state_t state;
    uint64_t state_since;
    char last_error[256];

    mcp_client_t *client; /* the live session, or NULL */
    int session_ready;    /* initialized and listed */
    int closing_clients;  /* sessions being closed */
    uint64_t attempt_start;

    gw_breaker_t breaker;
    gw_backoff_t backoff;
    uv_timer_t reconnect_timer, health_timer, work_timer;
    int handles_open;
    uint64_t reconnect_due;

    int started, settled, closing, finishing;
    gw_upstream_closed_fn close_cb;
    void *close_ud;

    lister_t listers[K_COUNT];
    cJSON *cat[K_COUNT];
    uint64_t cat_version;

    int ping_out;
    uint32_t probe_fail_run;

    call_list_t inflight, waiting, deferred;

    hdr_histogram_t *latency;
    tool_stat_t *tools;
    size_t ntools;
    gw_upstream_stats_t st;
};

/* ---- small helpers ---- */

static void list_push(call_list_t *l, gw_upcall_t *c, int where)
{
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->count++;
    c->where = where;
}

static void list_remove(call_list_t *l, gw_upcall_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    l->count--;
    c->where = IN_NONE;
}

static call_list_t *list_of(gw_upstream_t *up, int where)
{
    switch (where) {
    case IN_FLIGHT: return &up->inflight;
    case IN_WAITING: return &up->waiting;
    case IN_DEFERRED: return &up->deferred;
    }
    return NULL;
}

static void call_unlink(gw_upcall_t *c)
{
    call_list_t *l = list_of(c->up, c->where);
    if (l)
        list_remove(l, c);
}

static void set_error(gw_upstream_t *up, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(gw_upstream_t *up, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(up->last_error, sizeof up->last_error, fmt, ap);
    va_end(ap);
}

static uint64_t now_ms(gw_upstream_t *up)
{
    return uv_now(up->loop);
}

static uint64_t breaker_clock(void *ud)
{
    return uv_now(((gw_upstream_t *)ud)->loop);
}

const char *gw_upstream_state_name(gw_upstream_state_t s)
{
    switch (s) {
    case GW_UP_CONNECTING: return "connecting";
    case GW_UP_READY: return "ready";
    case GW_UP_DEGRADED: return "degraded";
    case GW_UP_DOWN: return "down";
    case GW_UP_DISABLED: return "disabled";
    }
    return "unknown";
}

static void emit(gw_upstream_t *up, gw_upstream_event_t *ev)
{
    if (up->closing || !up->hooks.on_event)
        return;
    ev->up = up;
    up->hooks.on_event(ev, up->hooks.ud);
}

static void set_state(gw_upstream_t *up, gw_upstream_state_t s)
{
    if (up->state == s)
        return;
    gw_upstream_state_t old = up->state;
    up->state = s;
    up->state_since = now_ms(up);
    log_write(
        s == GW_UP_DOWN ? LOG_WARN : LOG_INFO, COMP, "state changed", "name=%s from=%s to=%s%s%s",
        log_quote(up->cfg.name), gw_upstream_state_name(old), gw_upstream_state_name(s),
        (s == GW_UP_DOWN || s == GW_UP_DEGRADED) && up->last_error[0] ? " error=" : "",
        (s == GW_UP_DOWN || s == GW_UP_DEGRADED) && up->last_error[0] ? log_quote(up->last_error)
                                                                      : "");
    gw_upstream_event_t ev = {.kind = GW_UPEV_STATE, .old_state = old, .new_state = s};
    emit(up, &ev);
}

static void update_state(gw_upstream_t *up)
{
    if (!up->client || !up->session_ready || up->closing)
        return;
    int healthy = gw_breaker_state(&up->breaker) == GW_BREAKER_CLOSED && up->probe_fail_run == 0;
    set_state(up, healthy ? GW_UP_READY : GW_UP_DEGRADED);
}

static void settle(gw_upstream_t *up)
{
    if (up->settled)
        return;
    up->settled = 1;
    gw_upstream_event_t ev = {.kind = GW_UPEV_SETTLED, .new_state = up->state};
    emit(up, &ev);
}

void gw_upstream_settings_from_config(gw_upstream_settings_t *out, const gw_settings_t *s)
{
    *out = (gw_upstream_settings_t){0};
    out->request_timeout_ms = s->request_timeout_ms;
    out->health_interval_ms = s->health_interval_ms;
    out->breaker_enabled = s->breaker_enabled;
    out->breaker_threshold = s->breaker_threshold;
    out->breaker_reset_ms = s->breaker_reset_ms;
    out->reconnect_initial_ms = s->reconnect_initial_ms;
    out->reconnect_max_ms = s->reconnect_max_ms;
}

static void apply_defaults(gw_upstream_settings_t *s)
{
    if (!s->request_timeout_ms)
        s->request_timeout_ms = 30000;
    if (!s->init_timeout_ms)
        s->init_timeout_ms = s->request_timeout_ms;
    if (!s->probe_timeout_ms)
        s->probe_timeout_ms = s->health_interval_ms && s->health_interval_ms < s->request_timeout_ms
                                  ? s->health_interval_ms
                                  : s->request_timeout_ms;
    if (!s->probe_failures_down)
        s->probe_failures_down = 3;
    if (!s->breaker_threshold)
        s->breaker_threshold = 5;
    if (!s->reconnect_initial_ms)
        s->reconnect_initial_ms = 500;
    if (!s->reconnect_max_ms)
        s->reconnect_max_ms = 30000;
    if (!s->crash_limit)
        s->crash_limit = 5;
    if (!s->crash_window_ms)
        s->crash_window_ms = 60000;
    if (!s->close_grace_ms)
        s->close_grace_ms = 2000;
    if (!s->max_list_pages)
        s->max_list_pages = 100;
    if (!s->max_list_items)
        s->max_list_items = 10000;
    if (!s->max_tool_stats)
        s->max_tool_stats = 1024;
}

/* ---- forward declarations ---- */

static void connect_now(gw_upstream_t *up);
static void lose_session(gw_upstream_t *up, int err, int child_exit);
static void lister_start(lister_t *l);
static void resend_waiting(gw_upstream_t *up);
static void arm_work(gw_upstream_t *up);
static void maybe_finish(gw_upstream_t *up);
static void on_health(uv_timer_t *t);

/* ---- session teardown ---- */

static void lister_reset(lister_t *l)
{
    cJSON_Delete(l->items);
    cJSON_Delete(l->result);
    mcp_free(l->cursor);
    l->items = l->result = NULL;
    l->cursor = NULL;
    l->req = NULL;
    l->running = l->again = l->done = 0;
    l->pages = 0;
}

static void on_client_close_done(mcp_client_t *c, void *ud)
{
    gw_upstream_t *up = ud;
    (void)c;
    up->closing_clients--;
    maybe_finish(up);
}

/* Forget the session: its requests end from the loop (calls in flight are marked so that their
 * MCP_ECANCELED reads as the session going away), the client closes in the background. */
static void drop_session(gw_upstream_t *up)
{
    mcp_client_t *c = up->client;
    if (!c)
        return;
    up->client = NULL;
    up->session_ready = 0;
    up->ping_out = 0;
    uv_timer_stop(&up->health_timer);
    for (int k = 0; k < K_COUNT; k++)
        lister_reset(&up->listers[k]);
    for (gw_upcall_t *call = up->inflight.head; call; call = call->next)
        call->torn = 1;
    up->closing_clients++;
    if (mcp_client_close(c, on_client_close_done, up) != 0)
        up->closing_clients--; /* already closing: its close callback is someone else's */
}

static void on_reconnect_timer(uv_timer_t *t)
{
    gw_upstream_t *up = t->data;
    up->reconnect_due = 0;
    connect_now(up);
}

static void schedule_reconnect(gw_upstream_t *up)
{
    if (up->closing || up->state == GW_UP_DISABLED)
        return;
    uint64_t now = now_ms(up);
    uint64_t delay = gw_backoff_next(&up->backoff, now);
    up->reconnect_due = now + delay;
    LOG_I(COMP, "reconnect scheduled", "name=%s delay_ms=%llu attempt=%u crash_loop=%d",
          log_quote(up->cfg.name), (unsigned long long)delay, up->backoff.attempt,
          up->backoff.crash_loop);
    uv_timer_start(&up->reconnect_timer, on_reconnect_timer, delay, 0);
}

/* The session failed or went away: down, and try again later. */
static void lose_session(gw_upstream_t *up, int err, int child_exit)
{
    if (up->session_ready)
        up->st.disconnects++;
    else
        up->st.connect_failures++;
    if (child_exit) {
        up->st.child_exits++;
        if (gw_backoff_record_exit(&up->backoff, now_ms(up)) && up->backoff.crash_loop)
            LOG_W(COMP, "crash loop: restarting with the longest backoff",
                  "name=%s exits=%u window_ms=%llu", log_quote(up->cfg.name),
                  up->backoff.crash_limit, (unsigned long long)up->backoff.crash_window_ms);
    }
    (void)err;
    drop_session(up);
    set_state(up, GW_UP_DOWN);
    settle(up);
    schedule_reconnect(up);
}

/* ---- listing ---- */

static int all_listed(gw_upstream_t *up)
{
    for (int k = 0; k < K_COUNT; k++)
        if (up->listers[k].running)
            return 0;
    return 1;
}

/* Put a finished listing into the catalog; returns the kind's bit when it changed. */
static unsigned install_listing(gw_upstream_t *up, int k, cJSON *items)
{
    if (cJSON_Compare(up->cat[k], items, 1)) {
        cJSON_Delete(items);
        return 0;
    }
    cJSON_Delete(up->cat[k]);
    up->cat[k] = items;
    up->cat_version++;
    return kinds[k].bit;
}

static void became_ready(gw_upstream_t *up)
{
    unsigned changed = 0;
    for (int k = 0; k < K_COUNT; k++) {
        lister_t *l = &up->listers[k];
        if (l->result) {
            changed |= install_listing(up, k, l->result);
            l->result = NULL;
        } else if (!l->done && cJSON_GetArraySize(up->cat[k]) > 0) {
            /* The server no longer declares this kind. */
            changed |= install_listing(up, k, cJSON_CreateArray());
        }
    }
    up->session_ready = 1;
    up->probe_fail_run = 0;
    up->st.connects++;
    gw_backoff_reset(&up->backoff);
    mcp_client_t *c = up->client;
    LOG_I(COMP, "ready",
          "name=%s version=%s tools=%d resources=%d templates=%d prompts=%d connect_ms=%llu",
          log_quote(up->cfg.name), mcp_client_protocol_version(c),
          cJSON_GetArraySize(up->cat[K_TOOLS]), cJSON_GetArraySize(up->cat[K_RESOURCES]),
          cJSON_GetArraySize(up->cat[K_TEMPLATES]), cJSON_GetArraySize(up->cat[K_PROMPTS]),
          (unsigned long long)(now_ms(up) - up->attempt_start));
    if (up->set.health_interval_ms)
        uv_timer_start(&up->health_timer, on_health, up->set.health_interval_ms,
                       up->set.health_interval_ms);
    update_state(up);
    if (up->client != c)
        return;
    if (changed) {
        gw_upstream_event_t ev = {.kind = GW_UPEV_CATALOG, .kinds = changed};
        emit(up, &ev);
    }
    settle(up);
    if (up->client == c)
        resend_waiting(up);
}

static void lister_done(lister_t *l, int status)
{
    gw_upstream_t *up = l->up;
    int k = l->kind;
    l->running = 0;
    l->req = NULL;
    mcp_free(l->cursor);
    l->cursor = NULL;
    cJSON *items = l->items;
    l->items = NULL;
    if (status == MCP_EUPSTREAM) {
        /* The server refused the list (often -32601 for templates): nothing of this kind. */
        LOG_W(COMP, "list refused, taken as empty", "name=%s method=%s", log_quote(up->cfg.name),
              kinds[k].method);
        cJSON_Delete(items);
        items = cJSON_CreateArray();
        status = items ? 0 : MCP_ENOMEM;
    }
    if (status) {
        cJSON_Delete(items);
        if (!up->session_ready) {
            set_error(up, "%s failed: %s", kinds[k].method, mcp_strerror(status));
            lose_session(up, status, 0);
            return;
        }
        LOG_W(COMP, "re-list failed, keeping the previous list", "name=%s method=%s err=%s",
              log_quote(up->cfg.name), kinds[k].method, mcp_err_name(status));
    } else if (!up->session_ready) {
        cJSON_Delete(l->result);
        l->result = items;
        l->done = 1;
    } else {
        unsigned changed = install_listing(up, k, items);
        if (changed) {
            LOG_I(COMP, "list changed", "name=%s kind=%s count=%d", log_quote(up->cfg.name),
                  kinds[k].key, cJSON_GetArraySize(up->cat[k]));
            gw_upstream_event_t ev = {.kind = GW_UPEV_CATALOG, .kinds = changed};
            emit(up, &ev);
        }
    }
    mcp_client_t *c = up->client;
    if (l->again && c) {
        lister_start(l);
        if (up->client != c)
            return;
    }
    if (!up->session_ready && c && all_listed(up))
        became_ready(up);
}

static void lister_page(lister_t *l);

static void on_list_page(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    lister_t *l = ud;
    gw_upstream_t *up = l->up;
    if (mcp_client_req_client(req) != up->client || l->req != req)
        return; /* a dropped session's request */
    l->req = NULL;
    if (status) {
        lister_done(l, status);
        return;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(resp->result, kinds[l->kind].key);
    const cJSON *item;
    size_t skipped = 0;
    cJSON_ArrayForEach(item, arr)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, kinds[l->kind].ident);
        if (!cJSON_IsObject(item) || !cJSON_IsString(id) || !id->valuestring[0]) {
            skipped++;
            continue;
        }
        if ((size_t)cJSON_GetArraySize(l->items) >= up->set.max_list_items) {
            skipped++;
            continue;
        }
        cJSON *dup = cJSON_Duplicate(item, 1);
        if (!dup || !cJSON_AddItemToArray(l->items, dup)) {
            cJSON_Delete(dup);
            lister_done(l, MCP_ENOMEM);
            return;
        }
    }
    if (skipped)
        LOG_W(COMP, "list items skipped (malformed or over the limit)",
              "name=%s method=%s skipped=%zu limit=%zu", log_quote(up->cfg.name),
              kinds[l->kind].method, skipped, up->set.max_list_items);
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(resp->result, "nextCursor");
    if (cJSON_IsString(next) && next->valuestring[0]) {
        if (l->cursor && strcmp(l->cursor, next->valuestring) == 0) {
            LOG_W(COMP, "list cursor repeats, stopping", "name=%s method=%s",
                  log_quote(up->cfg.name), kinds[l->kind].method);
        } else if (l->pages >= up->set.max_list_pages) {
            LOG_W(COMP, "list page limit reached", "name=%s method=%s pages=%zu",
                  log_quote(up->cfg.name), kinds[l->kind].method, l->pages);
        } else {
            char *cur = mcp_strdup(next->valuestring);
            if (!cur) {
                lister_done(l, MCP_ENOMEM);
                return;
            }
            mcp_free(l->cursor);
            l->cursor = cur;
            lister_page(l);
            return;
        }
    }
    lister_done(l, 0);
}

static void lister_page(lister_t *l)
{
    gw_upstream_t *up = l->up;
    cJSON *params = NULL;
    if (l->cursor) {
        params = cJSON_CreateObject();
        if (!params || !cJSON_AddStringToObject(params, "cursor", l->cursor)) {
            cJSON_Delete(params);
            lister_done(l, MCP_ENOMEM);
            return;
        }
    }
    l->pages++;
    int rc = mcp_client_request(up->client, kinds[l->kind].method, params, up->set.init_timeout_ms,
                                on_list_page, l, &l->req);
    if (rc) {
        l->req = NULL;
        lister_done(l, rc);
    }
}

static void lister_start(lister_t *l)
{
    gw_upstream_t *up = l->up;
    if (!up->client)
        return;
    if (l->running) {
        l->again = 1;
        return;
    }
    l->running = 1;
    l->again = 0;
    l->pages = 0;
    l->items = cJSON_CreateArray();
    if (!l->items) {
        lister_done(l, MCP_ENOMEM);
        return;
    }
    lister_page(l);
}

/* ---- session setup ---- */

static void on_init(mcp_client_t *c, int status, void *ud)
{
    gw_upstream_t *up = ud;
    if (c != up->client)
        return;
    if (status) {
        set_error(up, "initialize failed: %s", mcp_client_error_message(c));
        lose_session(up, status, 0);
        return;
    }
    for (int k = 0; k < K_COUNT; k++) {
        lister_reset(&up->listers[k]);
        if (mcp_client_server_has(c, kinds[k].cap))
            up->listers[k].running = 2; /* mark first: a quick failure must not finish early */
    }
    for (int k = 0; k < K_COUNT && up->client == c; k++) {
        lister_t *l = &up->listers[k];
        if (l->running == 2) {
            l->running = 0;
            lister_start(l);
        }
    }
    if (up->client == c && !up->session_ready && all_listed(up))
        became_ready(up);
}

static void on_notify(mcp_client_t *c, const char *method, const cJSON *params, void *ud)
{
    gw_upstream_t *up = ud;
    if (c != up->client)
        return;
    int relist[K_COUNT] = {0};
    if (strcmp(method, MCP_NOTIFY_TOOLS_LIST_CHANGED) == 0) {
        relist[K_TOOLS] = 1;
    } else if (strcmp(method, MCP_NOTIFY_RESOURCES_LIST_CHANGED) == 0) {
        relist[K_RESOURCES] = relist[K_TEMPLATES] = 1;
    } else if (strcmp(method, MCP_NOTIFY_PROMPTS_LIST_CHANGED) == 0) {
        relist[K_PROMPTS] = 1;
    } else if (strcmp(method, MCP_NOTIFY_RESOURCES_UPDATED) == 0) {
        const char *uri = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(params, "uri"));
        if (uri) {
            gw_upstream_event_t ev = {.kind = GW_UPEV_RESOURCE_UPDATED, .uri = uri};
            emit(up, &ev);
        }
        return;
    } else {
        gw_upstream_event_t ev = {.kind = GW_UPEV_NOTIFICATION, .method = method, .params = params};
        emit(up, &ev);
        return;
    }
    up->st.list_changed++;
    for (int k = 0; k < K_COUNT && up->client == c; k++)
        if (relist[k])
            lister_start(&up->listers[k]);
}

static void on_transport_gone(mcp_client_t *c, int reason, void *ud)
{
    gw_upstream_t *up = ud;
    if (c != up->client)
        return;
    set_error(up, "session closed: %s", mcp_strerror(reason));
    lose_session(up, reason, 1);
}

static void relay_request(mcp_client_t *c, mcp_client_incoming_t *in, const char *method,
                          const cJSON *params, void *ud)
{
    gw_upstream_t *up = ud;
    if (c != up->client || up->closing || !up->hooks.on_request) {
        mcp_client_reply_error(in, JSONRPC_INTERNAL_ERROR, "upstream session is closing", NULL);
        return;
    }
    up->hooks.on_request(up, in, method, params, up->hooks.request_ud);
}

static void connect_now(gw_upstream_t *up)
{
    if (up->closing || up->state == GW_UP_DISABLED)
        return;
    uv_timer_stop(&up->reconnect_timer);
    up->reconnect_due = 0;
    drop_session(up);
    up->attempt_start = now_ms(up);
    set_state(up, GW_UP_CONNECTING);
    mcp_client_options_t o = {.name = up->cfg.name,
                              .on_notification = on_notify,
                              .on_closed = on_transport_gone,
                              .userdata = up};
    if (up->hooks.on_request)
        o.on_sampling = o.on_elicitation = o.on_roots = relay_request;
    mcp_client_t *c;
    int rc = mcp_client_new(up->loop, &o, &c);
    if (rc) {
        set_error(up, "cannot create the session: %s", mcp_strerror(rc));
        lose_session(up, rc, 0);
        return;
    }
    up->client = c;
    gw_upstream_connect_fn fn = up->hooks.connect ? up->hooks.connect : gw_upstream_connect_default;
    rc = fn(up, &up->cfg, c, up->hooks.connect_ud);
    if (rc) {
        set_error(up, "cannot start the %s transport: %s", gw_transport_name(up->cfg.transport),
                  mcp_strerror(rc));
        lose_session(up, rc, 0);
        return;
    }
    rc = mcp_client_initialize(c, up->set.init_timeout_ms, on_init, up);
    if (rc) {
        set_error(up, "cannot send initialize: %s", mcp_strerror(rc));
        lose_session(up, rc, 0);
    }
}

/* Streamable HTTP ("http") or the legacy HTTP+SSE transport ("sse"). */
static int connect_http(gw_upstream_t *up, const gw_server_config_t *cfg, mcp_client_t *client)
{
    (void)up;
    if (!cfg->endpoint || !cfg->endpoint[0])
        return MCP_EINVAL;
    mcp_client_http_header_t *hs = NULL;
    if (cfg->header_count) {
        hs = mcp_calloc(cfg->header_count, sizeof *hs);
        if (!hs)
            return MCP_ENOMEM;
        for (size_t i = 0; i < cfg->header_count; i++)
            hs[i] = (mcp_client_http_header_t){cfg->headers[i].key, cfg->headers[i].value};
    }
    mcp_client_http_options_t ho = {
        .url = cfg->endpoint,
        .mode = cfg->transport == GW_TRANSPORT_SSE ? MCP_HTTP_SSE : MCP_HTTP_STREAMABLE,
        .headers = hs,
        .nheaders = cfg->header_count,
    };
    int rc = mcp_client_http_start(client, &ho);
    mcp_free(hs);
    return rc;
}

int gw_upstream_connect_default(gw_upstream_t *up, const gw_server_config_t *cfg,
                                mcp_client_t *client, void *ud)
{
    (void)ud;
    if (cfg->transport != GW_TRANSPORT_STDIO)
        return connect_http(up, cfg, client);
    if (!cfg->command || !cfg->command[0])
        return MCP_EINVAL;
    const char **args = mcp_calloc(cfg->args.count + 1, sizeof *args);
    const char **env = mcp_calloc(cfg->env_count + 1, sizeof *env);
    char **env_buf = mcp_calloc(cfg->env_count + 1, sizeof *env_buf);
    int rc = 0;
    if (!args || !env || !env_buf) {
        rc = MCP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < cfg->args.count; i++)
        args[i] = cfg->args.items[i];
    for (size_t i = 0; i < cfg->env_count; i++) {
        env_buf[i] = mcp_asprintf("%s=%s", cfg->env[i].key, cfg->env[i].value);
        if (!env_buf[i]) {
            rc = MCP_ENOMEM;
            goto out;
        }
        env[i] = env_buf[i];
    }
    mcp_client_stdio_options_t so = {.command = cfg->command,
                                     .args = args,
                                     .env = env,
                                     .cwd = cfg->cwd,
                                     .close_grace_ms = up->set.close_grace_ms};
    rc = mcp_client_stdio_start(client, &so);
out:
    if (env_buf)
        for (size_t i = 0; i < cfg->env_count; i++)
            mcp_free(env_buf[i]);
    mcp_free(env_buf);
    mcp_free(env);
    mcp_free(args);
    return rc;
}

/* ---- health probes ---- */

static void probe_failed(gw_upstream_t *up, int err)
{
    up->st.probe_failures++;
    up->probe_fail_run++;
    set_error(up, "health probe failed: %s", mcp_strerror(err));
    if (up->probe_fail_run >= up->set.probe_failures_down) {
        LOG_W(COMP, "health probes keep failing, dropping the session", "name=%s failures=%u",
              log_quote(up->cfg.name), up->probe_fail_run);
        lose_session(up, err, 0);
        return;
    }
    update_state(up);
}

static void on_ping(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    gw_upstream_t *up = ud;
    (void)resp;
    if (mcp_client_req_client(req) != up->client)
        return;
    up->ping_out = 0;
    if (status == 0 || status == MCP_EUPSTREAM) {
        up->probe_fail_run = 0;
        update_state(up);
    } else if (status != MCP_ECANCELED) {
        probe_failed(up, status);
    }
}

static void on_health(uv_timer_t *t)
{
    gw_upstream_t *up = t->data;
    if (!up->client || !up->session_ready || up->ping_out || up->closing)
        return;
    up->st.probes++;
    up->ping_out = 1;
    int rc = mcp_client_request(up->client, MCP_METHOD_PING, NULL, up->set.probe_timeout_ms,
                                on_ping, up, NULL);
    if (rc) {
        up->ping_out = 0;
        probe_failed(up, rc);
    }
}

/* ---- calls ---- */

static tool_stat_t *tool_stat(gw_upstream_t *up, const char *tool)
{
    for (size_t i = 0; i < up->ntools; i++)
        if (strcmp(up->tools[i].tool, tool) == 0)
            return &up->tools[i];
    if (up->ntools >= up->set.max_tool_stats)
        return NULL;
    tool_stat_t *n = mcp_realloc(up->tools, (up->ntools + 1) * sizeof *n);
    if (!n)
        return NULL;
    up->tools = n;
    tool_stat_t *s = &n[up->ntools];
    *s = (tool_stat_t){0};
    s->tool = mcp_strdup(tool);
    if (!s->tool || hdr_init(1, LAT_MAX_US, TOOL_LAT_SIGFIG, &s->latency, NULL, 0) != 0) {
        mcp_free(s->tool);
        return NULL;
    }
    up->ntools++;
    return s;
}

static int method_idempotent(gw_upstream_t *up, const char *method, const char *tool)
{
    static const char *const safe[] = {MCP_METHOD_PING,
                                       MCP_METHOD_TOOLS_LIST,
                                       MCP_METHOD_RESOURCES_LIST,
                                       MCP_METHOD_RESOURCES_TEMPLATES,
                                       MCP_METHOD_RESOURCES_READ,
                                       MCP_METHOD_RESOURCES_SUBSCRIBE,
                                       MCP_METHOD_RESOURCES_UNSUBSCRIBE,
                                       MCP_METHOD_PROMPTS_LIST,
                                       MCP_METHOD_PROMPTS_GET,
                                       MCP_METHOD_COMPLETION_COMPLETE,
                                       MCP_METHOD_LOGGING_SET_LEVEL,
                                       NULL};
    for (size_t i = 0; safe[i]; i++)
        if (strcmp(method, safe[i]) == 0)
            return 1;
    if (strcmp(method, MCP_METHOD_TOOLS_CALL) != 0 || !tool)
        return 0;
    const cJSON *ann =
        cJSON_GetObjectItemCaseSensitive(gw_upstream_find_tool(up, tool), "annotations");
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ann, "readOnlyHint")) ||
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ann, "idempotentHint"));
}

/* The session went away under the call (not a deadline, not an answer). */
static int session_gone(int status)
{
    return status == MCP_ECLOSED || status == MCP_ECHILD;
}

static void call_free(gw_upcall_t *call)
{
    mcp_free(call->method);
    mcp_free(call->tool);
    cJSON_Delete(call->params);
    mcp_free(call);
}

static void deliver(gw_upcall_t *call, int status, jsonrpc_msg_t *resp)
{
    gw_upstream_t *up = call->up;
    call_unlink(call);
    up->st.inflight--;
    call->cb(call, status, resp, call->ud);
    call_free(call);
    maybe_finish(up);
}

static void defer(gw_upcall_t *call, int status)
{
    gw_upstream_t *up = call->up;
    call_unlink(call);
    call->final_status = status;
    list_push(&up->deferred, call, IN_DEFERRED);
    arm_work(up);
}

static void account(gw_upcall_t *call, int status)
{
    gw_upstream_t *up = call->up;
    int changed = 0;
    switch (status) {
    case 0:
        up->st.ok++;
        changed = gw_breaker_success(&up->breaker, call->pass);
        break;
    case MCP_EUPSTREAM:
        up->st.upstream_errors++;
        changed = gw_breaker_success(&up->breaker, call->pass);
        break;
    case MCP_ECANCELED:
        up->st.cancelled++;
        gw_breaker_abort(&up->breaker, call->pass);
        break;
    default:
        up->st.errors++;
        if (status == MCP_ETIMEDOUT)
            up->st.timeouts++;
        /* A lost session is the state machine's business (reconnect), not the breaker's: one
         * dead child with many calls in flight must not open it. */
        if (session_gone(status))
            gw_breaker_abort(&up->breaker, call->pass);
        else
            changed = gw_breaker_failure(&up->breaker, call->pass);
        break;
    }
    if (status == 0 || status == MCP_EUPSTREAM || status == MCP_ETIMEDOUT)
        hdr_record_value(up->latency,
                         call->latency_us > LAT_MAX_US ? LAT_MAX_US : (int64_t)call->latency_us);
    if (call->tool && strcmp(call->method, MCP_METHOD_TOOLS_CALL) == 0) {
        tool_stat_t *ts = tool_stat(up, call->tool);
        if (ts) {
            ts->calls++;
            if (status != 0 && status != MCP_EUPSTREAM && status != MCP_ECANCELED)
                ts->errors++;
            if (status == MCP_ETIMEDOUT)
                ts->timeouts++;
            if (status == 0 || status == MCP_EUPSTREAM || status == MCP_ETIMEDOUT)
                hdr_record_value(ts->latency, call->latency_us > LAT_MAX_US
                                                  ? LAT_MAX_US
                                                  : (int64_t)call->latency_us);
        }
    }
    if (changed) {
        if (gw_breaker_state(&up->breaker) == GW_BREAKER_OPEN) {
            set_error(up, "circuit opened after %u consecutive failures (last: %s)",
                      up->breaker.threshold, mcp_strerror(status));
            LOG_W(COMP, "circuit opened", "name=%s threshold=%u reset_ms=%llu",
                  log_quote(up->cfg.name), up->breaker.threshold,
                  (unsigned long long)up->breaker.reset_ms);
        } else {
            LOG_I(COMP, "circuit closed", "name=%s", log_quote(up->cfg.name));
        }
        update_state(up);
    }
}

static void on_call_result(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    gw_upcall_t *call = ud;
    gw_upstream_t *up = call->up;
    (void)req;
    call->req = NULL;
    call->latency_us = (uv_hrtime() - call->sent_ns) / 1000;
    if (status == MCP_ECANCELED && call->torn && !call->cancelled && !up->closing)
        status = MCP_ECLOSED;
    call->torn = 0;
    account(call, status);
    if (session_gone(status) && call->retry_ok && !call->retried && !call->cancelled &&
        !up->closing && up->state != GW_UP_DISABLED) {
        call_unlink(call);
        list_push(&up->waiting, call, IN_WAITING);
        LOG_D(COMP, "call waits for the next session", "name=%s method=%s", log_quote(up->cfg.name),
              call->method);
        arm_work(up);
        if (up->client && up->session_ready)
            resend_waiting(up); /* the new session is already up */
        return;
    }
    deliver(call, status, resp);
}

static void on_call_progress(mcp_client_req_t *req, double progress, double total,
                             const char *message, const cJSON *params, void *ud)
{
    gw_upcall_t *call = ud;
    (void)req;
    (void)progress;
    (void)total;
    (void)message;
    if (call->on_progress)
        call->on_progress(call, params, call->ud);
}

static int send_call(gw_upcall_t *call, cJSON *params)
{
    gw_upstream_t *up = call->up;
    uint64_t elapsed = now_ms(up) - call->start_ms;
    uint64_t remaining = call->deadline_ms > elapsed ? call->deadline_ms - elapsed : 1;
    uint64_t max_remaining = 0;
    if (call->max_deadline_ms)
        max_remaining = call->max_deadline_ms > elapsed ? call->max_deadline_ms - elapsed : 1;
    mcp_client_call_t cc = {.method = call->method,
                            .params = params,
                            .deadline_ms = remaining,
                            .max_deadline_ms = max_remaining,
                            .cb = on_call_result,
                            .on_progress = call->on_progress ? on_call_progress : NULL,
                            .ud = call};
    call->sent_ns = uv_hrtime();
    return mcp_client_request_ex(up->client, &cc, &call->req);
}

static void resend_waiting(gw_upstream_t *up)
{
    /* A session whose transport is gone (its failures arrive before its closed callback) is
     * not the next session: wait for became_ready of the new one. */
    if (!up->client || !mcp_client_transport(up->client))
        return;
    while (up->waiting.head && up->client && up->session_ready && !up->closing) {
        gw_upcall_t *call = up->waiting.head;
        if (now_ms(up) - call->start_ms >= call->deadline_ms) {
            defer(call, MCP_ETIMEDOUT);
            continue;
        }
        call->pass = gw_breaker_allow(&up->breaker);
        if (!call->pass) {
            up->st.rejected++;
            defer(call, MCP_EUNAVAILABLE);
            continue;
        }
        cJSON *params = call->params ? cJSON_Duplicate(call->params, 1) : NULL;
        if (call->params && !params) {
            gw_breaker_abort(&up->breaker, call->pass);
            defer(call, MCP_ENOMEM);
            continue;
        }
        call->retried = 1;
        up->st.retries++;
        call_unlink(call);
        list_push(&up->inflight, call, IN_FLIGHT);
        int rc = send_call(call, params);
        if (rc) {
            gw_breaker_abort(&up->breaker, call->pass);
            defer(call, rc);
        }
    }
}

/* The work timer delivers deferred completions and fails waiting calls whose deadline passed;
 * it runs again at the earliest remaining deadline. */
static void on_work(uv_timer_t *t)
{
    gw_upstream_t *up = t->data;
    uint64_t now = now_ms(up);
    for (gw_upcall_t *call = up->waiting.head, *next; call; call = next) {
        next = call->next;
        if (up->closing)
            defer(call, MCP_ECANCELED);
        else if (now - call->start_ms >= call->deadline_ms)
            defer(call, MCP_ETIMEDOUT);
    }
    while (up->deferred.head) {
        gw_upcall_t *call = up->deferred.head;
        if (call->final_status == MCP_ETIMEDOUT) {
            up->st.errors++;
            up->st.timeouts++;
        } else if (call->final_status == MCP_ECANCELED) {
            up->st.cancelled++;
        }
        deliver(call, call->final_status, NULL);
    }
    arm_work(up);
}

static void arm_work(gw_upstream_t *up)
{
    if (up->finishing)
        return;
    uint64_t delay = UINT64_MAX;
    if (up->deferred.head || (up->closing && up->waiting.head)) {
        delay = 0;
    } else {
        uint64_t now = now_ms(up);
        for (gw_upcall_t *call = up->waiting.head; call; call = call->next) {
            uint64_t end = call->start_ms + call->deadline_ms;
            uint64_t d = end > now ? end - now : 0;
            if (d < delay)
                delay = d;
        }
    }
    if (delay == UINT64_MAX)
        uv_timer_stop(&up->work_timer);
    else
        uv_timer_start(&up->work_timer, on_work, delay, 0);
}

uint64_t gw_upstream_deadline_ms(const gw_upstream_t *up, const char *tool)
{
    if (tool) {
        for (size_t i = 0; i < up->cfg.tool_timeout_count; i++) {
            if (strcmp(up->cfg.tool_timeouts[i].key, tool) != 0)
                continue;
            /* Seconds, as written in the config file (validated there). */
            char *end;
            double secs = strtod(up->cfg.tool_timeouts[i].value, &end);
            if (end != up->cfg.tool_timeouts[i].value && *end == '\0' && secs > 0)
                return secs * 1000.0 < 1.0 ? 1 : (uint64_t)(secs * 1000.0 + 0.5);
        }
    }
    return up->cfg.timeout_ms ? up->cfg.timeout_ms : up->set.request_timeout_ms;
}

int gw_upstream_call(gw_upstream_t *up, const gw_upcall_opts_t *o, gw_upcall_t **out)
{
    if (out)
        *out = NULL;
    if (!up || !o || !o->method || !o->cb) {
        if (o)
            cJSON_Delete(o->params);
        return MCP_EINVAL;
    }
    cJSON *params = o->params;
    if (up->closing || up->state == GW_UP_DISABLED || !up->client || !up->session_ready) {
        cJSON_Delete(params);
        up->st.rejected++;
        return MCP_EUNAVAILABLE;
    }
    gw_upcall_t *call = mcp_calloc(1, sizeof *call);
    const char *tool = o->tool;
    if (!tool && strcmp(o->method, MCP_METHOD_TOOLS_CALL) == 0)
        tool = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(params, "name"));
    if (!call || !(call->method = mcp_strdup(o->method)) ||
        (tool && !(call->tool = mcp_strdup(tool)))) {
        if (call)
            call_free(call);
        cJSON_Delete(params);
        return MCP_ENOMEM;
    }
    call->up = up;
    call->cb = o->cb;
    call->on_progress = o->on_progress;
    call->ud = o->ud;
    call->start_ms = now_ms(up);
    call->deadline_ms = gw_upstream_deadline_ms(up, call->tool);
    if (o->deadline_ms && o->deadline_ms < call->deadline_ms)
        call->deadline_ms = o->deadline_ms;
    if (o->max_deadline_ms > call->deadline_ms)
        call->max_deadline_ms = o->max_deadline_ms;
    call->retry_ok = o->retry == GW_RETRY_ONCE ||
                     (o->retry == GW_RETRY_AUTO && method_idempotent(up, o->method, call->tool));
    if (call->retry_ok && params && !(call->params = cJSON_Duplicate(params, 1))) {
        call_free(call);
        cJSON_Delete(params);
        return MCP_ENOMEM;
    }
    call->pass = gw_breaker_allow(&up->breaker);
    if (!call->pass) {
        up->st.rejected++;
        call_free(call);
        cJSON_Delete(params);
        /* The breaker may have become half-open or stayed open: state stays degraded. */
        return MCP_EUNAVAILABLE;
    }
    int rc = send_call(call, params);
    if (rc) {
        gw_breaker_abort(&up->breaker, call->pass);
        call->req = NULL;
        call_free(call);
        return rc;
    }
    list_push(&up->inflight, call, IN_FLIGHT);
    up->st.calls++;
    up->st.inflight++;
    if (out)
        *out = call;
    return 0;
}

int gw_upcall_cancel(gw_upcall_t *call, const char *reason)
{
    if (!call)
        return MCP_EINVAL;
    if (call->where == IN_DEFERRED || call->cancelled)
        return MCP_ESTATE;
    /* Set even when the answer is already on its way: a cancelled call is never retried. */
    call->cancelled = 1;
    if (call->where == IN_WAITING) {
        defer(call, MCP_ECANCELED);
        return 0;
    }
    return call->req ? mcp_client_cancel(call->req, reason) : MCP_ESTATE;
}

gw_upstream_t *gw_upcall_upstream(const gw_upcall_t *call)
{
    return call->up;
}

uint64_t gw_upcall_latency_us(const gw_upcall_t *call)
{
    return call->latency_us;
}

int gw_upcall_retried(const gw_upcall_t *call)
{
    return call->retried;
}

/* ---- lifecycle ---- */

int gw_upstream_new(uv_loop_t *loop, const gw_server_config_t *cfg,
                    const gw_upstream_settings_t *settings, const gw_upstream_hooks_t *hooks,
                    uint64_t seed, gw_upstream_t **out)
{
    if (!loop || !cfg || !cfg->name || !settings || !out)
        return MCP_EINVAL;
    *out = NULL;
    gw_upstream_t *up = mcp_calloc(1, sizeof *up);
    if (!up)
        return MCP_ENOMEM;
    up->loop = loop;
    up->set = *settings;
    apply_defaults(&up->set);
    if (hooks)
        up->hooks = *hooks;
    int rc = gw_server_config_copy(&up->cfg, cfg);
    if (rc) {
        mcp_free(up);
        return rc;
    }
    for (int k = 0; k < K_COUNT; k++) {
        up->listers[k].up = up;
        up->listers[k].kind = k;
        if (!(up->cat[k] = cJSON_CreateArray()))
            rc = MCP_ENOMEM;
    }
    if (!rc)
        rc = hdr_init(1, LAT_MAX_US, LAT_SIGFIGS, &up->latency, NULL, 0);
    if (rc) {
        for (int k = 0; k < K_COUNT; k++)
            cJSON_Delete(up->cat[k]);
        gw_server_config_clear(&up->cfg);
        mcp_free(up);
        return rc;
    }
    gw_breaker_init(&up->breaker, up->set.breaker_enabled, up->set.breaker_threshold,
                    up->set.breaker_reset_ms, breaker_clock, up);
    gw_backoff_init(&up->backoff, up->set.reconnect_initial_ms, up->set.reconnect_max_ms, seed,
                    up->set.crash_limit, up->set.crash_window_ms);
    uv_timer_init(loop, &up->reconnect_timer);
    uv_timer_init(loop, &up->health_timer);
    uv_timer_init(loop, &up->work_timer);
    up->reconnect_timer.data = up->health_timer.data = up->work_timer.data = up;
    up->handles_open = 3;
    up->state = cfg->enabled ? GW_UP_CONNECTING : GW_UP_DISABLED;
    up->state_since = now_ms(up);
    *out = up;
    return 0;
}

int gw_upstream_start(gw_upstream_t *up)
{
    if (!up || up->closing || up->started)
        return MCP_ESTATE;
    up->started = 1;
    if (up->state == GW_UP_DISABLED) {
        settle(up);
        return 0;
    }
    connect_now(up);
    return 0;
}

int gw_upstream_reconnect(gw_upstream_t *up)
{
    if (!up || up->closing || up->state == GW_UP_DISABLED)
        return MCP_ESTATE;
    LOG_I(COMP, "reconnect requested", "name=%s", log_quote(up->cfg.name));
    up->started = 1;
    gw_breaker_reset(&up->breaker);
    gw_backoff_reset(&up->backoff);
    up->probe_fail_run = 0;
    connect_now(up);
    return 0;
}

int gw_upstream_update_config(gw_upstream_t *up, const gw_server_config_t *cfg)
{
    if (!up || !cfg || !cfg->name)
        return MCP_EINVAL;
    if (up->closing)
        return MCP_ESTATE;
    if (strcmp(up->cfg.name, cfg->name) != 0)
        return MCP_EINVAL;
    int same = gw_server_config_same_connection(&up->cfg, cfg);
    gw_server_config_t copy;
    int rc = gw_server_config_copy(&copy, cfg);
    if (rc)
        return rc;
    gw_server_config_clear(&up->cfg);
    up->cfg = copy;
    if (same) {
        gw_upstream_event_t ev = {.kind = GW_UPEV_CONFIG};
        emit(up, &ev);
        return 0;
    }
    LOG_I(COMP, "connection settings changed", "name=%s enabled=%d", log_quote(up->cfg.name),
          up->cfg.enabled);
    uv_timer_stop(&up->reconnect_timer);
    up->reconnect_due = 0;
    drop_session(up);
    if (!up->cfg.enabled) {
        set_state(up, GW_UP_DISABLED);
        for (gw_upcall_t *call = up->waiting.head, *next; call; call = next) {
            next = call->next;
            defer(call, MCP_EUNAVAILABLE);
        }
        gw_upstream_event_t ev = {.kind = GW_UPEV_CONFIG};
        emit(up, &ev);
        return 0;
    }
    if (up->state == GW_UP_DISABLED)
        up->state = GW_UP_DOWN; /* so connect_now proceeds; it reports connecting */
    gw_upstream_event_t ev = {.kind = GW_UPEV_CONFIG};
    emit(up, &ev);
    gw_breaker_reset(&up->breaker);
    gw_backoff_reset(&up->backoff);
    up->started = 1;
    connect_now(up);
    return 0;
}

void gw_upstream_set_settings(gw_upstream_t *up, const gw_upstream_settings_t *settings)
{
    uint64_t old_interval = up->set.health_interval_ms;
    up->set = *settings;
    apply_defaults(&up->set);
    gw_breaker_configure(&up->breaker, up->set.breaker_enabled, up->set.breaker_threshold,
                         up->set.breaker_reset_ms);
    gw_backoff_configure(&up->backoff, up->set.reconnect_initial_ms, up->set.reconnect_max_ms);
    if (old_interval != up->set.health_interval_ms && up->client && up->session_ready) {
        uv_timer_stop(&up->health_timer);
        if (up->set.health_interval_ms)
            uv_timer_start(&up->health_timer, on_health, up->set.health_interval_ms,
                           up->set.health_interval_ms);
    }
    update_state(up);
}

static void on_handle_closed(uv_handle_t *h)
{
    gw_upstream_t *up = h->data;
    if (--up->handles_open > 0)
        return;
    gw_upstream_closed_fn cb = up->close_cb;
    void *ud = up->close_ud;
    for (int k = 0; k < K_COUNT; k++) {
        lister_reset(&up->listers[k]);
        cJSON_Delete(up->cat[k]);
    }
    for (size_t i = 0; i < up->ntools; i++) {
        mcp_free(up->tools[i].tool);
        hdr_free(up->tools[i].latency);
    }
    mcp_free(up->tools);
    hdr_free(up->latency);
    gw_server_config_clear(&up->cfg);
    mcp_free(up);
    if (cb)
        cb(ud);
}

static void maybe_finish(gw_upstream_t *up)
{
    if (!up->closing || up->finishing || up->closing_clients || up->client || up->inflight.head ||
        up->waiting.head || up->deferred.head)
        return;
    up->finishing = 1;
    uv_close((uv_handle_t *)&up->reconnect_timer, on_handle_closed);
    uv_close((uv_handle_t *)&up->health_timer, on_handle_closed);
    uv_close((uv_handle_t *)&up->work_timer, on_handle_closed);
}

int gw_upstream_close(gw_upstream_t *up, gw_upstream_closed_fn cb, void *ud)
{
    if (!up)
        return MCP_EINVAL;
    if (up->closing)
        return MCP_ESTATE;
    up->closing = 1;
    up->close_cb = cb;
    up->close_ud = ud;
    uv_timer_stop(&up->reconnect_timer);
    uv_timer_stop(&up->health_timer);
    up->reconnect_due = 0;
    for (gw_upcall_t *call = up->waiting.head, *next; call; call = next) {
        next = call->next;
        defer(call, MCP_ECANCELED);
    }
    drop_session(up);
    arm_work(up);
    maybe_finish(up);
    return 0;
}

/* ---- accessors ---- */

const char *gw_upstream_name(const gw_upstream_t *up)
{
    return up->cfg.name;
}

const gw_server_config_t *gw_upstream_config(const gw_upstream_t *up)
{
    return &up->cfg;
}

gw_upstream_state_t gw_upstream_state(const gw_upstream_t *up)
{
    return up->state;
}

int gw_upstream_available(const gw_upstream_t *up)
{
    return up->state == GW_UP_READY || up->state == GW_UP_DEGRADED;
}

const char *gw_upstream_last_error(const gw_upstream_t *up)
{
    return up->last_error;
}

mcp_client_t *gw_upstream_client(const gw_upstream_t *up)
{
    return up->session_ready ? up->client : NULL;
}

int gw_upstream_pid(const gw_upstream_t *up)
{
    child_t *ch = up->client ? mcp_client_stdio_child(up->client) : NULL;
    return ch ? (int)child_pid(ch) : 0;
}

gw_breaker_t *gw_upstream_breaker(gw_upstream_t *up)
{
    return &up->breaker;
}

uint64_t gw_upstream_reconnect_in(const gw_upstream_t *up)
{
    if (!up->reconnect_due)
        return 0;
    uint64_t now = uv_now(up->loop);
    return up->reconnect_due > now ? up->reconnect_due - now : 0;
}

const cJSON *gw_upstream_tools(const gw_upstream_t *up)
{
    return up->cat[K_TOOLS];
}

const cJSON *gw_upstream_resources(const gw_upstream_t *up)
{
    return up->cat[K_RESOURCES];
}

const cJSON *gw_upstream_templates(const gw_upstream_t *up)
{
    return up->cat[K_TEMPLATES];
}

const cJSON *gw_upstream_prompts(const gw_upstream_t *up)
{
    return up->cat[K_PROMPTS];
}

const cJSON *gw_upstream_find_tool(const gw_upstream_t *up, const char *name)
{
    const cJSON *t;
    if (!name)
        return NULL;
    cJSON_ArrayForEach(t, up->cat[K_TOOLS])
    {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name"));
        if (n && strcmp(n, name) == 0)
            return t;
    }
    return NULL;
}

uint64_t gw_upstream_catalog_version(const gw_upstream_t *up)
{
    return up->cat_version;
}

void gw_upstream_stats(const gw_upstream_t *up, gw_upstream_stats_t *out)
{
    *out = up->st;
    out->state_since_ms = up->state_since;
}

const hdr_histogram_t *gw_upstream_latency(const gw_upstream_t *up)
{
    return up->latency;
}

int gw_upstream_tool_stats(const gw_upstream_t *up, size_t i, gw_tool_stats_t *out)
{
    if (i >= up->ntools)
        return MCP_ENOTFOUND;
    const tool_stat_t *s = &up->tools[i];
    *out = (gw_tool_stats_t){.tool = s->tool,
                             .calls = s->calls,
                             .errors = s->errors,
                             .timeouts = s->timeouts,
                             .latency = s->latency};
    return 0;
}

cJSON *gw_upstream_status_json(gw_upstream_t *up)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const gw_server_config_t *cfg = &up->cfg;
    uint64_t now = now_ms(up);
    mcp_client_t *cl = gw_upstream_client(up);
    int ok = cJSON_AddStringToObject(o, "name", cfg->name) &&
             cJSON_AddStringToObject(o, "transport", gw_transport_name(cfg->transport)) &&
             cJSON_AddBoolToObject(o, "enabled", cfg->enabled) &&
             cJSON_AddBoolToObject(o, "critical", cfg->critical) &&
             cJSON_AddNumberToObject(o, "priority", cfg->priority) &&
             cJSON_AddBoolToObject(o, "prefix", cfg->prefix) &&
             cJSON_AddStringToObject(o, "state", gw_upstream_state_name(up->state)) &&
             cJSON_AddNumberToObject(o, "stateSinceMs", (double)(now - up->state_since)) &&
             cJSON_AddStringToObject(o, "lastError", up->last_error) &&
             cJSON_AddNumberToObject(o, "reconnectInMs", (double)gw_upstream_reconnect_in(up)) &&
             cJSON_AddNumberToObject(o, "pid", gw_upstream_pid(up));
    if (ok && cl) {
        const char *v = mcp_client_protocol_version(cl);
        const cJSON *info = mcp_client_server_info(cl);
        ok = (!v || cJSON_AddStringToObject(o, "protocolVersion", v)) &&
             (!info || cJSON_AddItemToObject(o, "serverInfo", cJSON_Duplicate(info, 1)));
    }
    cJSON *b = ok ? cJSON_AddObjectToObject(o, "breaker") : NULL;
    ok = b &&
         cJSON_AddStringToObject(b, "state",
                                 gw_breaker_state_name(gw_breaker_state(&up->breaker))) &&
         cJSON_AddNumberToObject(b, "failures", up->breaker.failures) &&
         cJSON_AddNumberToObject(b, "opens", (double)up->breaker.opens) &&
         cJSON_AddNumberToObject(b, "rejected", (double)up->breaker.rejected) &&
         cJSON_AddNumberToObject(b, "retryInMs", (double)gw_breaker_retry_in(&up->breaker));
    cJSON *n = ok ? cJSON_AddObjectToObject(o, "counts") : NULL;
    ok = n && cJSON_AddNumberToObject(n, "tools", cJSON_GetArraySize(up->cat[K_TOOLS])) &&
         cJSON_AddNumberToObject(n, "resources", cJSON_GetArraySize(up->cat[K_RESOURCES])) &&
         cJSON_AddNumberToObject(n, "templates", cJSON_GetArraySize(up->cat[K_TEMPLATES])) &&
         cJSON_AddNumberToObject(n, "prompts", cJSON_GetArraySize(up->cat[K_PROMPTS]));
    cJSON *s = ok ? cJSON_AddObjectToObject(o, "stats") : NULL;
    const gw_upstream_stats_t *st = &up->st;
    ok = s && cJSON_AddNumberToObject(s, "calls", (double)st->calls) &&
         cJSON_AddNumberToObject(s, "ok", (double)st->ok) &&
         cJSON_AddNumberToObject(s, "upstreamErrors", (double)st->upstream_errors) &&
         cJSON_AddNumberToObject(s, "errors", (double)st->errors) &&
         cJSON_AddNumberToObject(s, "timeouts", (double)st->timeouts) &&
         cJSON_AddNumberToObject(s, "cancelled", (double)st->cancelled) &&
         cJSON_AddNumberToObject(s, "rejected", (double)st->rejected) &&
         cJSON_AddNumberToObject(s, "retries", (double)st->retries) &&
         cJSON_AddNumberToObject(s, "inflight", (double)st->inflight) &&
         cJSON_AddNumberToObject(s, "connects", (double)st->connects) &&
         cJSON_AddNumberToObject(s, "connectFailures", (double)st->connect_failures) &&
         cJSON_AddNumberToObject(s, "disconnects", (double)st->disconnects) &&
         cJSON_AddNumberToObject(s, "childExits", (double)st->child_exits) &&
         cJSON_AddNumberToObject(s, "probes", (double)st->probes) &&
         cJSON_AddNumberToObject(s, "probeFailures", (double)st->probe_failures) &&
         cJSON_AddNumberToObject(s, "listChanged", (double)st->list_changed);
    cJSON *l = ok ? cJSON_AddObjectToObject(o, "latencyUs") : NULL;
    ok = l && cJSON_AddNumberToObject(l, "p50", (double)hdr_value_at_percentile(up->latency, 50)) &&
         cJSON_AddNumberToObject(l, "p90", (double)hdr_value_at_percentile(up->latency, 90)) &&
         cJSON_AddNumberToObject(l, "p99", (double)hdr_value_at_percentile(up->latency, 99)) &&
         cJSON_AddNumberToObject(l, "max", (double)hdr_max(up->latency)) &&
         cJSON_AddNumberToObject(l, "count", (double)hdr_total_count(up->latency));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
