/* registry: see registry.h. */
#include "registry.h"

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "log.h"

#include <string.h>
#include <unistd.h>

#define COMP          "registry"
#define MAX_LISTENERS 16

typedef struct listener_s {
    gw_upstream_event_fn fn;
    void *ud;
} listener_t;

struct gw_registry_s {
    uv_loop_t *loop;
    gw_upstream_settings_t settings;
    int settings_override; /* the caller gave settings: reloads do not replace them */
    uint64_t startup_timeout_ms;
    gw_upstream_hooks_t hooks;
    uint64_t seed;

    gw_upstream_t **ups; /* config order */
    size_t count;
    size_t closing_ups; /* removed or closing upstreams not yet freed */

    listener_t listeners[MAX_LISTENERS];
    size_t nlisteners;

    uv_timer_t timer; /* startup bound, then the started callback */
    int started, startup_done, closing, fallback, timer_closing;
    uint64_t start_ms;
    gw_registry_started_fn started_cb;
    void *started_ud;
    gw_registry_closed_fn closed_cb;
    void *closed_ud;
};

static void on_up_event(const gw_upstream_event_t *ev, void *ud);

static uint64_t up_seed(gw_registry_t *reg, size_t i)
{
    return reg->seed + 0x9e3779b97f4a7c15ULL * (i + 1);
}

static int make_upstream(gw_registry_t *reg, const gw_server_config_t *cfg, size_t i,
                         gw_upstream_t **out)
{
    return gw_upstream_new(reg->loop, cfg, &reg->settings, &reg->hooks, up_seed(reg, i), out);
}

static void settings_for(gw_registry_t *reg, const gw_config_t *cfg)
{
    if (reg->settings_override)
        return;
    gw_upstream_settings_from_config(&reg->settings, &cfg->settings);
}

int gw_registry_new(uv_loop_t *loop, const gw_registry_options_t *opts, gw_registry_t **out)
{
    if (!loop || !opts || !opts->config || !out)
        return MCP_EINVAL;
    *out = NULL;
    const gw_config_t *cfg = opts->config;
    gw_registry_t *reg = mcp_calloc(1, sizeof *reg);
    if (!reg)
        return MCP_ENOMEM;
    reg->loop = loop;
    if (opts->settings) {
        reg->settings = *opts->settings;
        reg->settings_override = 1;
    } else {
        settings_for(reg, cfg);
    }
    reg->startup_timeout_ms = opts->startup_timeout_ms           ? opts->startup_timeout_ms
                              : cfg->settings.startup_timeout_ms ? cfg->settings.startup_timeout_ms
                                                                 : 5000;
    reg->hooks = (gw_upstream_hooks_t){.on_event = on_up_event,
                                       .connect = opts->connect,
                                       .connect_ud = opts->connect_ud,
                                       .on_request = opts->on_request,
                                       .request_ud = opts->request_ud,
                                       .ud = reg};
    reg->seed = opts->seed ? opts->seed : clock_mono_ns() ^ ((uint64_t)getpid() << 32);
    if (cfg->server_count) {
        reg->ups = mcp_calloc(cfg->server_count, sizeof *reg->ups);
        if (!reg->ups) {
            mcp_free(reg);
            return MCP_ENOMEM;
        }
    }
    uv_timer_init(loop, &reg->timer);
    reg->timer.data = reg;
    int rc = 0;
    for (size_t i = 0; i < cfg->server_count && !rc; i++) {
        rc = make_upstream(reg, &cfg->servers[i], i, &reg->ups[i]);
        if (!rc)
            reg->count++;
    }
    if (rc) {
        /* Nothing has started: close what was made and free the rest from the loop. */
        gw_registry_close(reg, NULL, NULL);
        return rc;
    }
    *out = reg;
    return 0;
}

int gw_registry_add_listener(gw_registry_t *reg, gw_upstream_event_fn fn, void *ud)
{
    if (!reg || !fn)
        return MCP_EINVAL;
    if (reg->nlisteners >= MAX_LISTENERS)
        return MCP_ENOBUFS;
    reg->listeners[reg->nlisteners++] = (listener_t){fn, ud};
    return 0;
}

int gw_registry_remove_listener(gw_registry_t *reg, gw_upstream_event_fn fn, void *ud)
{
    for (size_t i = 0; i < reg->nlisteners; i++) {
        if (reg->listeners[i].fn == fn && reg->listeners[i].ud == ud) {
            memmove(&reg->listeners[i], &reg->listeners[i + 1],
                    (reg->nlisteners - i - 1) * sizeof reg->listeners[0]);
            reg->nlisteners--;
            return 0;
        }
    }
    return MCP_ENOTFOUND;
}

/* ---- startup ---- */

static void log_server_line(gw_registry_t *reg, gw_upstream_t *up, const char *status)
{
    const gw_server_config_t *cfg = gw_upstream_config(up);
    log_write(
        strcmp(status, "ready") == 0 || strcmp(status, "disabled") == 0 ? LOG_INFO : LOG_WARN, COMP,
        "upstream startup",
        "name=%s transport=%s status=%s critical=%d tools=%d resources=%d templates=%d "
        "prompts=%d elapsed_ms=%llu%s%s",
        log_quote(cfg->name), gw_transport_name(cfg->transport), status, cfg->critical,
        cJSON_GetArraySize(gw_upstream_tools(up)), cJSON_GetArraySize(gw_upstream_resources(up)),
        cJSON_GetArraySize(gw_upstream_templates(up)), cJSON_GetArraySize(gw_upstream_prompts(up)),
        (unsigned long long)(uv_now(reg->loop) - reg->start_ms),
        gw_upstream_last_error(up)[0] && strcmp(status, "ready") ? " error=" : "",
        gw_upstream_last_error(up)[0] && strcmp(status, "ready")
            ? log_quote(gw_upstream_last_error(up))
            : "");
}

static const char *startup_status(gw_upstream_t *up)
{
    switch (gw_upstream_state(up)) {
    case GW_UP_READY:
    case GW_UP_DEGRADED: return "ready";
    case GW_UP_DISABLED: return "disabled";
    case GW_UP_CONNECTING: return "pending";
    case GW_UP_DOWN: return "failed";
    }
    return "unknown";
}

static void deliver_started(uv_timer_t *t)
{
    gw_registry_t *reg = t->data;
    gw_registry_started_fn cb = reg->started_cb;
    reg->started_cb = NULL;
    if (cb && !reg->closing)
        cb(reg, reg->started_ud);
}

static void check_fallback(gw_registry_t *reg);

static void finish_startup(gw_registry_t *reg, int timed_out)
{
    if (reg->startup_done)
        return;
    reg->startup_done = 1;
    uv_timer_stop(&reg->timer);
    gw_registry_health_t h;
    for (size_t i = 0; i < reg->count; i++)
        if (gw_upstream_state(reg->ups[i]) == GW_UP_CONNECTING)
            log_server_line(reg, reg->ups[i], "pending");
    gw_registry_health(reg, &h);
    log_write(h.available == h.enabled ? LOG_INFO : LOG_WARN, COMP, "startup complete",
              "servers=%zu enabled=%zu ready=%zu failed=%zu pending=%zu disabled=%zu "
              "timed_out=%d elapsed_ms=%llu status=%s",
              h.total, h.enabled, h.available, h.down, h.connecting, h.disabled, timed_out,
              (unsigned long long)(uv_now(reg->loop) - reg->start_ms),
              gw_registry_health_status(&h));
    check_fallback(reg);
    uv_timer_start(&reg->timer, deliver_started, 0, 0);
}

static void on_startup_bound(uv_timer_t *t)
{
    finish_startup(t->data, 1);
}

static int all_settled(gw_registry_t *reg)
{
    for (size_t i = 0; i < reg->count; i++)
        if (gw_upstream_state(reg->ups[i]) == GW_UP_CONNECTING)
            return 0;
    return 1;
}

int gw_registry_start(gw_registry_t *reg, gw_registry_started_fn cb, void *ud)
{
    if (!reg || reg->started || reg->closing)
        return MCP_ESTATE;
    reg->started = 1;
    reg->started_cb = cb;
    reg->started_ud = ud;
    reg->start_ms = uv_now(reg->loop);
    LOG_I(COMP, "starting upstreams", "servers=%zu startup_timeout_ms=%llu", reg->count,
          (unsigned long long)reg->startup_timeout_ms);
    uv_timer_start(&reg->timer, on_startup_bound, reg->startup_timeout_ms, 0);
    for (size_t i = 0; i < reg->count && !reg->closing; i++)
        gw_upstream_start(reg->ups[i]);
    if (!reg->startup_done && all_settled(reg))
        finish_startup(reg, 0);
    return 0;
}

int gw_registry_started(const gw_registry_t *reg)
{
    return reg->startup_done;
}

/* ---- events ---- */

static void check_fallback(gw_registry_t *reg)
{
    if (!reg->startup_done || reg->closing)
        return;
    gw_registry_health_t h;
    gw_registry_health(reg, &h);
    if (h.fallback && !reg->fallback) {
        reg->fallback = 1;
        LOG_E(COMP, "ALERT: all upstreams are down, fallback mode", "enabled=%zu", h.enabled);
    } else if (!h.fallback && reg->fallback) {
        reg->fallback = 0;
        LOG_I(COMP, "leaving fallback mode: an upstream is available", "available=%zu",
              h.available);
    }
}

static void on_up_event(const gw_upstream_event_t *ev, void *ud)
{
    gw_registry_t *reg = ud;
    if (ev->kind == GW_UPEV_SETTLED && reg->started && !reg->startup_done) {
        log_server_line(reg, ev->up, startup_status(ev->up));
    }
    if (ev->kind == GW_UPEV_STATE) {
        const gw_server_config_t *cfg = gw_upstream_config(ev->up);
        int was = ev->old_state == GW_UP_READY || ev->old_state == GW_UP_DEGRADED;
        int is = ev->new_state == GW_UP_READY || ev->new_state == GW_UP_DEGRADED;
        if (cfg->critical && was && !is)
            LOG_E(COMP, "critical upstream unavailable: gateway not ready", "name=%s state=%s",
                  log_quote(cfg->name), gw_upstream_state_name(ev->new_state));
        else if (cfg->critical && !was && is)
            LOG_I(COMP, "critical upstream available again", "name=%s", log_quote(cfg->name));
        check_fallback(reg);
    }
    size_t n = reg->nlisteners;
    listener_t copy[MAX_LISTENERS];
    memcpy(copy, reg->listeners, n * sizeof copy[0]);
    for (size_t i = 0; i < n; i++)
        copy[i].fn(ev, copy[i].ud);
    if (reg->started && !reg->startup_done && (ev->kind == GW_UPEV_SETTLED) && all_settled(reg))
        finish_startup(reg, 0);
}

/* ---- lookups and actions ---- */

size_t gw_registry_count(const gw_registry_t *reg)
{
    return reg->count;
}

gw_upstream_t *gw_registry_at(const gw_registry_t *reg, size_t i)
{
    return i < reg->count ? reg->ups[i] : NULL;
}

gw_upstream_t *gw_registry_find(const gw_registry_t *reg, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < reg->count; i++)
        if (strcmp(gw_upstream_name(reg->ups[i]), name) == 0)
            return reg->ups[i];
    return NULL;
}

int gw_registry_reconnect(gw_registry_t *reg, const char *name)
{
    if (!reg || reg->closing)
        return MCP_ESTATE;
    gw_upstream_t *up = gw_registry_find(reg, name);
    if (!up)
        return MCP_ENOTFOUND;
    return gw_upstream_reconnect(up);
}

void gw_registry_health(const gw_registry_t *reg, gw_registry_health_t *out)
{
    *out = (gw_registry_health_t){0};
    out->started = reg->startup_done;
    out->total = reg->count;
    for (size_t i = 0; i < reg->count; i++) {
        const gw_upstream_t *up = reg->ups[i];
        const gw_server_config_t *cfg = gw_upstream_config(up);
        gw_upstream_state_t s = gw_upstream_state(up);
        if (s == GW_UP_DISABLED) {
            out->disabled++;
            continue;
        }
        out->enabled++;
        if (cfg->critical)
            out->critical++;
        switch (s) {
        case GW_UP_READY: out->ready_count++; break;
        case GW_UP_DEGRADED: out->degraded_count++; break;
        case GW_UP_CONNECTING: out->connecting++; break;
        case GW_UP_DOWN: out->down++; break;
        case GW_UP_DISABLED: break;
        }
        if (gw_upstream_available(up))
            out->available++;
        else if (cfg->critical)
            out->critical_down++;
    }
    out->fallback = out->enabled > 0 && out->available == 0;
    out->degraded = out->available < out->enabled || out->degraded_count > 0;
    out->ready = out->started && out->critical_down == 0 && !out->fallback;
}

const char *gw_registry_health_status(const gw_registry_health_t *h)
{
    if (h->fallback || h->critical_down)
        return "unhealthy";
    if (h->degraded || !h->started)
        return "degraded";
    return "ok";
}

cJSON *gw_registry_status_json(const gw_registry_t *reg)
{
    gw_registry_health_t h;
    gw_registry_health(reg, &h);
    cJSON *o = cJSON_CreateObject();
    cJSON *counts = o ? cJSON_AddObjectToObject(o, "counts") : NULL;
    cJSON *servers = o ? cJSON_AddArrayToObject(o, "servers") : NULL;
    int ok = counts && servers &&
             cJSON_AddStringToObject(o, "status", gw_registry_health_status(&h)) &&
             cJSON_AddBoolToObject(o, "started", h.started) &&
             cJSON_AddBoolToObject(o, "ready", h.ready) &&
             cJSON_AddBoolToObject(o, "fallback", h.fallback) &&
             cJSON_AddNumberToObject(counts, "total", (double)h.total) &&
             cJSON_AddNumberToObject(counts, "enabled", (double)h.enabled) &&
             cJSON_AddNumberToObject(counts, "available", (double)h.available) &&
             cJSON_AddNumberToObject(counts, "ready", (double)h.ready_count) &&
             cJSON_AddNumberToObject(counts, "degraded", (double)h.degraded_count) &&
             cJSON_AddNumberToObject(counts, "connecting", (double)h.connecting) &&
             cJSON_AddNumberToObject(counts, "down", (double)h.down) &&
             cJSON_AddNumberToObject(counts, "disabled", (double)h.disabled) &&
             cJSON_AddNumberToObject(counts, "critical", (double)h.critical) &&
             cJSON_AddNumberToObject(counts, "criticalDown", (double)h.critical_down);
    for (size_t i = 0; ok && i < reg->count; i++) {
        cJSON *s = gw_upstream_status_json(reg->ups[i]);
        ok = s && cJSON_AddItemToArray(servers, s);
        if (!ok)
            cJSON_Delete(s);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

uv_loop_t *gw_registry_loop(const gw_registry_t *reg)
{
    return reg->loop;
}

/* ---- reload ---- */

static int strlist_eq(const gw_strlist_t *a, const gw_strlist_t *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->items[i], b->items[i]))
            return 0;
    return 1;
}

static int routing_same(const gw_server_config_t *a, const gw_server_config_t *b)
{
    if (a->priority != b->priority || a->order != b->order || a->prefix != b->prefix ||
        a->critical != b->critical || a->timeout_ms != b->timeout_ms ||
        a->tool_timeout_count != b->tool_timeout_count ||
        !strlist_eq(&a->allow_tools, &b->allow_tools) ||
        !strlist_eq(&a->deny_tools, &b->deny_tools))
        return 0;
    for (size_t i = 0; i < a->tool_timeout_count; i++)
        if (strcmp(a->tool_timeouts[i].key, b->tool_timeouts[i].key) ||
            strcmp(a->tool_timeouts[i].value, b->tool_timeouts[i].value))
            return 0;
    return 1;
}

static void maybe_closed(gw_registry_t *reg);

static void on_removed_closed(void *ud)
{
    gw_registry_t *reg = ud;
    reg->closing_ups--;
    if (reg->closing)
        maybe_closed(reg);
}

int gw_registry_reload(gw_registry_t *reg, const gw_config_t *cfg, gw_reload_result_t *out)
{
    if (!reg || !cfg)
        return MCP_EINVAL;
    if (reg->closing)
        return MCP_ESTATE;
    gw_reload_result_t res = {0};
    size_t n = cfg->server_count;
    gw_upstream_t **next = mcp_calloc(n ? n : 1, sizeof *next);
    char *added = mcp_calloc(n ? n : 1, 1);
    if (!next || !added) {
        mcp_free(next);
        mcp_free(added);
        return MCP_ENOMEM;
    }
    settings_for(reg, cfg);
    /* Create the added ones first so that an allocation failure changes nothing. */
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (gw_registry_find(reg, cfg->servers[i].name))
            continue;
        rc = make_upstream(reg, &cfg->servers[i], reg->count + i, &next[i]);
        added[i] = rc == 0;
    }
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            if (added[i]) {
                reg->closing_ups++;
                gw_upstream_close(next[i], on_removed_closed, reg);
            }
        }
        mcp_free(next);
        mcp_free(added);
        return rc;
    }
    /* Removed servers: tell the listeners, then close. */
    for (size_t i = 0; i < reg->count; i++) {
        gw_upstream_t *up = reg->ups[i];
        if (gw_config_server(cfg, gw_upstream_name(up)))
            continue;
        LOG_I(COMP, "reload: server removed", "name=%s", log_quote(gw_upstream_name(up)));
        gw_upstream_event_t ev = {.kind = GW_UPEV_REMOVED, .up = up};
        for (size_t l = 0; l < reg->nlisteners; l++)
            reg->listeners[l].fn(&ev, reg->listeners[l].ud);
        reg->closing_ups++;
        gw_upstream_close(up, on_removed_closed, reg);
        res.removed++;
    }
    for (size_t i = 0; i < n; i++)
        if (!added[i])
            next[i] = gw_registry_find(reg, cfg->servers[i].name);
    mcp_free(reg->ups);
    reg->ups = next;
    reg->count = n;
    /* Kept servers: same, updated in place, or reconnected. Then start the added ones. */
    for (size_t i = 0; i < n; i++) {
        gw_upstream_t *up = reg->ups[i];
        const gw_server_config_t *now = &cfg->servers[i];
        if (added[i]) {
            res.added++;
            LOG_I(COMP, "reload: server added", "name=%s", log_quote(now->name));
            continue;
        }
        gw_upstream_set_settings(up, &reg->settings);
        const gw_server_config_t *was = gw_upstream_config(up);
        if (gw_server_config_same_connection(was, now)) {
            if (routing_same(was, now)) {
                res.unchanged++;
                continue;
            }
            res.updated++;
        } else {
            res.reconnected++;
            LOG_I(COMP, "reload: connection settings changed", "name=%s", log_quote(now->name));
        }
        int urc = gw_upstream_update_config(up, now);
        if (urc && !rc)
            rc = urc;
    }
    for (size_t i = 0; i < n && !reg->closing; i++)
        if (added[i] && reg->started)
            gw_upstream_start(reg->ups[i]);
    mcp_free(added);
    LOG_I(COMP, "reload applied", "added=%zu removed=%zu reconnected=%zu updated=%zu unchanged=%zu",
          res.added, res.removed, res.reconnected, res.updated, res.unchanged);
    if (out)
        *out = res;
    return rc;
}

/* ---- shutdown ---- */

static void on_timer_closed(uv_handle_t *h)
{
    gw_registry_t *reg = h->data;
    gw_registry_closed_fn cb = reg->closed_cb;
    void *ud = reg->closed_ud;
    mcp_free(reg->ups);
    mcp_free(reg);
    if (cb)
        cb(ud);
}

static void maybe_closed(gw_registry_t *reg)
{
    if (reg->closing_ups == 0 && !reg->timer_closing) {
        reg->timer_closing = 1;
        uv_close((uv_handle_t *)&reg->timer, on_timer_closed);
    }
}

static void on_up_closed(void *ud)
{
    gw_registry_t *reg = ud;
    reg->closing_ups--;
    if (reg->closing)
        maybe_closed(reg);
}

int gw_registry_close(gw_registry_t *reg, gw_registry_closed_fn cb, void *ud)
{
    if (!reg)
        return MCP_EINVAL;
    if (reg->closing)
        return MCP_ESTATE;
    reg->closing = 1;
    reg->closed_cb = cb;
    reg->closed_ud = ud;
    reg->started_cb = NULL;
    uv_timer_stop(&reg->timer);
    LOG_I(COMP, "closing upstreams", "servers=%zu", reg->count);
    for (size_t i = 0; i < reg->count; i++) {
        reg->closing_ups++;
        gw_upstream_close(reg->ups[i], on_up_closed, reg);
    }
    reg->count = 0;
    maybe_closed(reg);
    return 0;
}
