/* registry: all configured upstreams — parallel start with a bound, events, reload, health.
 *
 * The registry makes one gw_upstream_t per server entry (disabled entries too, in state
 * disabled, so they are visible) in config order, and starts them all at once: each connects
 * on its own, and a server that fails or is slow to start never blocks the others. The
 * startup callback runs once every enabled upstream has either become ready or failed its
 * first attempt, or when startup_timeout_ms has passed, whichever comes first; failed and slow
 * ones keep retrying in the background. One structured log line per server (transport,
 * status, counts, time) and a summary line are written when startup completes.
 *
 * Events of every upstream are fanned out to the registered listeners (the aggregator, the
 * /mcp endpoint, metrics), synchronously and in registration order. Listeners must not close
 * the registry or an upstream from inside an event.
 *
 * Health: the gateway is unready while a critical upstream is not available, degraded when
 * any enabled upstream is not available, and in fallback mode when no enabled upstream is
 * available (an alert line is logged on entering and leaving it).
 *
 * Reload (gw_registry_reload) applies a new config by difference: servers whose connection
 * settings are unchanged (gw_server_config_same_connection) keep their sessions and take the
 * new priority/prefix/filters/timeouts; changed ones reconnect; removed ones get
 * GW_UPEV_REMOVED and are closed; added ones start. Gateway settings (breaker, backoff,
 * timeouts, health interval) are applied to every upstream.
 *
 * Shutdown (gw_registry_close) closes every upstream: pending calls fail with MCP_ECANCELED,
 * stdio children get end of input, then SIGTERM/SIGKILL after the grace period, and are reaped;
 * every handle is closed, so the loop can then be closed with uv_loop_close() == 0.
 *
 * Ownership: the registry copies what it needs from the config (the caller may free it after
 * gw_registry_new / gw_registry_reload return). Upstream pointers stay valid until
 * GW_UPEV_REMOVED for them, or until the registry is closed. Single-threaded. */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include "config.h"
#include "upstream.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct gw_registry_s gw_registry_t;

typedef struct gw_registry_options_s {
    const gw_config_t *config; /* required */
    /* Upstream settings; NULL derives them from config->settings. */
    const gw_upstream_settings_t *settings;
    uint64_t startup_timeout_ms;    /* 0: config->settings.startup_timeout_ms (else 5000) */
    gw_upstream_connect_fn connect; /* NULL: gw_upstream_connect_default */
    void *connect_ud;
    gw_upstream_request_fn on_request; /* server->client requests; NULL: none declared */
    void *request_ud;
    uint64_t seed; /* backoff jitter; 0: from the clock and pid */
} gw_registry_options_t;

typedef void (*gw_registry_started_fn)(gw_registry_t *reg, void *ud);
typedef void (*gw_registry_closed_fn)(void *ud);

/* A registry with one (not yet started) upstream per server entry. 0, MCP_EINVAL,
 * MCP_ENOMEM (what was made is then closed in the background: run the loop before closing
 * it). */
int gw_registry_new(uv_loop_t *loop, const gw_registry_options_t *opts, gw_registry_t **out);
/* Receive every upstream's events (at most 16 listeners). 0, MCP_ENOBUFS, MCP_EINVAL. */
int gw_registry_add_listener(gw_registry_t *reg, gw_upstream_event_fn fn, void *ud);
/* 0 or MCP_ENOTFOUND. */
int gw_registry_remove_listener(gw_registry_t *reg, gw_upstream_event_fn fn, void *ud);

/* Start every upstream in parallel. cb (may be NULL) runs once, from the loop, when startup
 * is complete (see above). 0 or MCP_ESTATE (already started or closing). */
int gw_registry_start(gw_registry_t *reg, gw_registry_started_fn cb, void *ud);
/* 1 once startup is complete. */
int gw_registry_started(const gw_registry_t *reg);

/* Upstreams in config order. */
size_t gw_registry_count(const gw_registry_t *reg);
gw_upstream_t *gw_registry_at(const gw_registry_t *reg, size_t i);
gw_upstream_t *gw_registry_find(const gw_registry_t *reg, const char *name);

/* Drop the named upstream's session and connect again now. 0, MCP_ENOTFOUND, MCP_ESTATE
 * (disabled). */
int gw_registry_reconnect(gw_registry_t *reg, const char *name);

typedef struct gw_reload_result_s {
    size_t added, removed;
    size_t reconnected; /* connection settings changed */
    size_t updated;     /* same connection, other fields changed */
    size_t unchanged;
} gw_reload_result_t;
/* Apply a new config (see above). out may be NULL. 0, MCP_EINVAL, MCP_ENOMEM, MCP_ESTATE
 * (closing). */
int gw_registry_reload(gw_registry_t *reg, const gw_config_t *cfg, gw_reload_result_t *out);

typedef struct gw_registry_health_s {
    int started;  /* startup complete */
    int ready;    /* serving: started, no critical upstream unavailable, not in fallback */
    int degraded; /* some enabled upstream is not available */
    int fallback; /* enabled upstreams exist and none is available */
    size_t total, enabled, available, ready_count, degraded_count, connecting, down, disabled;
    size_t critical, critical_down;
} gw_registry_health_t;
void gw_registry_health(const gw_registry_t *reg, gw_registry_health_t *out);
/* "ok", "degraded" or "unhealthy" for the health summary above. */
const char *gw_registry_health_status(const gw_registry_health_t *h);

/* {"status":"ok|degraded|unhealthy","started","ready","fallback","counts":{...},
 *  "servers":[gw_upstream_status_json of each, in config order]}. New object or NULL. */
cJSON *gw_registry_status_json(const gw_registry_t *reg);

/* Close everything (see above); cb (may be NULL) runs after the registry was freed.
 * 0 or MCP_ESTATE when already closing. */
int gw_registry_close(gw_registry_t *reg, gw_registry_closed_fn cb, void *ud);

uv_loop_t *gw_registry_loop(const gw_registry_t *reg);

#endif
