/* aggregator: the gateway's merged catalog — names, routing, conflicts, filters, resource cache.
 *
 * The catalog is rebuilt from "sources" (one per upstream: its server entry and its last
 * listings) whenever something changes: in registry mode (gw_agg_attach_registry) on every
 * upstream event that can change it (availability, catalog, config, removal); tests feed
 * sources directly with gw_agg_build. Only available sources (ready or degraded upstreams)
 * contribute, so a failing upstream's items leave the catalog and come back on recovery.
 *
 * Names. A tool or prompt of server S named T is exposed as S<sep>T (the configured
 * separator, "." by default), or as T when the server's entry has "prefix": false. When a
 * prefix-less name is already taken by a server that routes before it, the later one is
 * exposed with its namespaced name instead (and the conflict is recorded). A call may name a
 * tool by its exposed name, by its client-safe LLM name, as S<sep>T for any server (also one
 * without prefix), or by the bare T: a bare name goes to the server that routes first among
 * those having T — lowest priority number, ties broken by config order. Every bare name that
 * more than one server has is a conflict: listed in gw_agg_stats_json and on each of those
 * tools in the detailed listing (servers in routing order, the first one wins).
 *
 * Filters. A server's allow_tools (empty: all) and deny_tools (wins over allow) are fnmatch(3)
 * patterns over the upstream's tool names; filtered tools are not listed and not routable
 * (a namespaced call of one gets MCP_EDENIED).
 *
 * Resources keep their URIs; each URI is owned by the first source (routing order) that lists
 * it. Reads of other URIs are matched against the resource templates (RFC 6570 level 1-3
 * expressions, in routing order). Successful reads are cached (cache.h: TTL, byte budget, LRU)
 * and an entry is dropped on notifications/resources/updated for its URI.
 *
 * LLM names. Tool names offered to LLMs must match ^[a-zA-Z0-9_-]{1,64}$. A valid exposed name
 * is its own LLM name. Another gets its invalid characters replaced by '_' when that is
 * unique; otherwise (or when longer than 64) the first 55 characters of that and '_' and 8 hex
 * digits of a hash of the exposed name. The mapping is deterministic (the same catalog gives
 * the same names), collision-free, and resolvable both ways.
 *
 * Changes. Each rebuild compares the new listings with the previous ones; when tools,
 * resources (including templates) or prompts differ, the version counter is bumped and the
 * change callback gets the mask (GW_CAT_TOOLS / GW_CAT_RESOURCES / GW_CAT_PROMPTS), so the
 * /mcp endpoint can send notifications/<kind>/list_changed downstream.
 *
 * Ownership: everything returned as `const` is borrowed and valid until the next rebuild
 * (which happens only from upstream events, gw_agg_build, gw_agg_configure or
 * gw_agg_rebuild — never from inside a call below). Functions returning cJSON * return new
 * values the caller deletes. Free the aggregator before closing its registry.
 * Single-threaded. */
#ifndef GW_AGGREGATOR_H
#define GW_AGGREGATOR_H

#include "cache.h"
#include "config.h"
#include "registry.h"
#include "upstream.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_aggregator_s gw_aggregator_t;

/* One upstream's contribution (all borrowed during gw_agg_build). */
typedef struct gw_agg_source_s {
    const gw_server_config_t *cfg; /* name, priority, order, prefix, allow/deny */
    int available;
    const cJSON *tools, *resources, *templates, *prompts; /* arrays or NULL */
    const cJSON *capabilities;                            /* the server's, or NULL */
    void *handle;                                         /* the gw_upstream_t in registry mode */
} gw_agg_source_t;

typedef void (*gw_agg_change_fn)(gw_aggregator_t *agg, unsigned kinds, void *ud);

typedef struct gw_agg_options_s {
    const char *separator; /* default "." */
    int cache_enabled;
    size_t cache_max_bytes; /* 0: 16 MiB */
    uint64_t cache_ttl_ms;
    gw_agg_change_fn on_change; /* may be NULL */
    void *ud;
} gw_agg_options_t;

/* Options from the config's settings (separator, cache). */
void gw_agg_options_from_config(gw_agg_options_t *out, const gw_settings_t *s);

/* 0, MCP_EINVAL (empty separator), MCP_ENOMEM. */
int gw_agg_new(const gw_agg_options_t *opts, gw_aggregator_t **out);
/* Detaches from the registry; pending reads complete without being cached. NULL: no-op. */
void gw_agg_free(gw_aggregator_t *agg);
/* New separator / cache settings (reload); rebuilds. 0, MCP_EINVAL, MCP_ENOMEM. The change
 * callback and userdata are kept. */
int gw_agg_configure(gw_aggregator_t *agg, const gw_agg_options_t *opts);

/* Follow a registry: rebuild now and on its events. 0, MCP_EINVAL, MCP_ENOBUFS, MCP_ESTATE
 * (already attached). */
int gw_agg_attach_registry(gw_aggregator_t *agg, gw_registry_t *reg);
/* Rebuild from the attached registry (e.g. after gw_registry_reload). */
int gw_agg_rebuild(gw_aggregator_t *agg);
/* Rebuild from explicit sources (tests, or callers without a registry). 0 or MCP_ENOMEM (the
 * previous catalog is kept). */
int gw_agg_build(gw_aggregator_t *agg, const gw_agg_source_t *sources, size_t count);

/* Bumped on every rebuild that changed a listing. */
uint64_t gw_agg_version(const gw_aggregator_t *agg);

/* ---- listings (MCP objects; names rewritten to the exposed names) ---- */

const cJSON *gw_agg_tools(const gw_aggregator_t *agg);
const cJSON *gw_agg_resources(const gw_aggregator_t *agg);
const cJSON *gw_agg_templates(const gw_aggregator_t *agg);
const cJSON *gw_agg_prompts(const gw_aggregator_t *agg);
/* The tools with gateway details added to each: "server", "originalName", "llmName", and when
 * the bare name is shared, "conflicts" (servers in routing order) and "bareNameRoutesHere".
 * New array, or NULL on ENOMEM. */
cJSON *gw_agg_tools_detailed(const gw_aggregator_t *agg);
/* The tools as offered to an LLM: each object with "name" set to its LLM name. New array. */
cJSON *gw_agg_tools_for_llm(const gw_aggregator_t *agg);
/* Same shape for resources: "server" added. New array. */
cJSON *gw_agg_resources_detailed(const gw_aggregator_t *agg);
/* {"tools":n,"resources":n,"templates":n,"prompts":n,"sources":n,"version":v,
 *  "conflicts":[{"kind":"tool"|"prompt"|"resource","name":..,"servers":[..],"routedTo":..}],
 *  "cache":{...}}. New object. */
cJSON *gw_agg_stats_json(const gw_aggregator_t *agg);
/* Union of the available sources' capabilities, each list kind with listChanged: true.
 * New object. */
cJSON *gw_agg_capabilities(const gw_aggregator_t *agg);
size_t gw_agg_conflict_count(const gw_aggregator_t *agg);

/* ---- routing ---- */

typedef struct gw_agg_route_s {
    void *handle;         /* the source's handle (gw_upstream_t * in registry mode) */
    const char *server;   /* the source's name */
    const char *original; /* the upstream's tool/prompt name, or the URI */
    const char *exposed;  /* the catalog name (tools/prompts), or the matched template */
    const cJSON *def;     /* the catalog object (exposed name) */
} gw_agg_route_t;

/* 0 and *out; MCP_ENOTFOUND; MCP_EDENIED (filtered by allow/deny); MCP_EUNAVAILABLE (named
 * as server<sep>tool with a known but unavailable server, registry mode). */
int gw_agg_resolve_tool(const gw_aggregator_t *agg, const char *name, gw_agg_route_t *out);
/* The exposed name for an LLM name (or NULL). */
const char *gw_agg_tool_from_llm_name(const gw_aggregator_t *agg, const char *llm_name);
/* The LLM name of an exposed tool name (or NULL). */
const char *gw_agg_llm_name(const gw_aggregator_t *agg, const char *exposed);
int gw_agg_resolve_prompt(const gw_aggregator_t *agg, const char *name, gw_agg_route_t *out);
/* Exact URI of a listed resource first, then templates. 0, MCP_ENOTFOUND. */
int gw_agg_resolve_resource(const gw_aggregator_t *agg, const char *uri, gw_agg_route_t *out);
/* 1 when uri matches the RFC 6570 template (level 1-3 expressions). */
int gw_agg_template_match(const char *tpl, const char *uri);
/* 1 when the server's allow/deny lists let tool `name` through. */
int gw_agg_tool_allowed(const gw_server_config_t *cfg, const char *name);
/* 1 when name matches ^[a-zA-Z0-9_-]{1,64}$. */
int gw_agg_llm_name_valid(const char *name);

/* ---- calls (registry mode) ---- */

typedef struct gw_agg_call_opts_s {
    uint64_t deadline_ms; /* the caller's; 0: the configured one */
    uint64_t max_deadline_ms;
    cJSON *meta; /* params._meta to send (taken; may be NULL) */
    gw_upcall_fn cb;
    gw_upcall_progress_fn on_progress;
    void *ud;
} gw_agg_call_opts_t;

/* tools/call by any accepted name (see above); arguments taken (NULL: {}). Returns what
 * gw_agg_resolve_tool or gw_upstream_call returns; cb runs only after 0. */
int gw_agg_call_tool(gw_aggregator_t *agg, const char *name, cJSON *arguments,
                     const gw_agg_call_opts_t *opts, gw_upcall_t **out);
/* prompts/get; arguments taken (NULL: none). */
int gw_agg_get_prompt(gw_aggregator_t *agg, const char *name, cJSON *arguments,
                      const gw_agg_call_opts_t *opts, gw_upcall_t **out);

/* resources/read. GW_AGG_CACHED (> 0): a cache hit, *cached is the result's JSON text
 * (borrowed until the next aggregator call) and cb does not run. 0: sent to the owner; cb runs
 * with its answer, and a successful result is cached. Or an error (cb never runs):
 * MCP_ENOTFOUND, MCP_EUNAVAILABLE, MCP_ESTATE (no registry), MCP_ENOMEM. */
enum { GW_AGG_CACHED = 1 };
int gw_agg_read_resource(gw_aggregator_t *agg, const char *uri, const gw_agg_call_opts_t *opts,
                         const char **cached, gw_upcall_t **out);

/* ---- cache ---- */

void gw_agg_cache_stats(const gw_aggregator_t *agg, gw_cache_stats_t *out);
/* Drop every cached entry; returns how many. */
size_t gw_agg_cache_clear(gw_aggregator_t *agg);

#endif
