/* config: the gateway's configuration — formats, validation, env expansion, migration.
 *
 * Three input formats are read into one model (gw_config_t):
 *   - the seed JSON:   {"version":"1.0","gateway":{...},"servers":[{"name","enabled","transport":
 *                      "stdio|http|sse","priority","config":{...}}]}
 *   - desktop clients' {"mcpServers":{"name":{"command","args","env"} | {"url","type","headers"}}}
 *   - the legacy YAML  mcp_servers: (a mapping name -> entry, or a list of entries with name:),
 *                      with an optional `gateway:` section; read with libyaml.
 * Every string value goes through `${VAR}` / `${VAR:-default}` expansion (envexpand.h) after
 * parsing, so a secret can live in the environment. Unknown keys are errors (they are usually
 * typos); each error names the file and the JSON path, plus the line for YAML input, e.g.
 *   "servers.yaml:7: mcp_servers.github.transport: must be one of stdio, http, sse".
 * docs/configuration.md lists every key with its default.
 *
 * gw_config_migrate writes any accepted input as the seed JSON (the format `mcp-gateway config
 * migrate` prints), with `${...}` references kept unexpanded so secrets are not written out.
 *
 * Ownership: a gw_config_t and everything in it belong to the caller (gw_config_free). Strings
 * are NUL-terminated copies. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { GW_TRANSPORT_STDIO = 0, GW_TRANSPORT_HTTP, GW_TRANSPORT_SSE } gw_transport_t;
typedef enum { GW_FORMAT_SEED = 0, GW_FORMAT_MCPSERVERS, GW_FORMAT_YAML } gw_config_format_t;
typedef enum { GW_MODE_AUTO = 0, GW_MODE_MULTI, GW_MODE_SINGLE } gw_mode_t;

typedef struct gw_kv_s {
    char *key;
    char *value;
} gw_kv_t;

typedef struct gw_strlist_s {
    char **items;
    size_t count;
} gw_strlist_t;

typedef struct gw_server_config_s {
    char *name;  /* [A-Za-z0-9_-]{1,64}: it prefixes tool names */
    int enabled; /* default 1 */
    gw_transport_t transport;
    int priority; /* lower wins for bare tool names; default 100 */
    size_t order; /* position in the file (breaks priority ties) */
    int prefix;   /* namespace this server's tools as name<sep>tool; default 1 */
    int critical; /* when down, the gateway reports degraded/unready; default 0 */
    /* stdio */
    char *command;
    gw_strlist_t args;
    gw_kv_t *env;
    size_t env_count;
    char *cwd;
    /* http and sse */
    char *endpoint;
    gw_kv_t *headers;
    size_t header_count;
    /* limits and filters */
    uint64_t timeout_ms;    /* per-request deadline; 0: the gateway default */
    gw_kv_t *tool_timeouts; /* tool name -> decimal seconds (as written in the file) */
    size_t tool_timeout_count;
    gw_strlist_t allow_tools; /* empty: all */
    gw_strlist_t deny_tools;
} gw_server_config_t;

typedef struct gw_settings_s {
    char *listen;                  /* "127.0.0.1:8001" */
    char *separator;               /* "." */
    gw_mode_t mode;                /* auto */
    int fallback_to_single;        /* 1 */
    char *single_url;              /* MCP_SERVER_URL or "http://localhost:8000/mcp" */
    int multi_rollout_percent;     /* 100 */
    int cache_enabled;             /* 1 */
    uint64_t cache_ttl_ms;         /* 60000 */
    uint64_t cache_max_bytes;      /* 16 MiB */
    int breaker_enabled;           /* 1 */
    uint32_t breaker_threshold;    /* 5 consecutive failures */
    uint64_t breaker_reset_ms;     /* 60000 */
    uint64_t request_timeout_ms;   /* 30000 */
    uint64_t startup_timeout_ms;   /* 5000: start serving after this even if servers are slow */
    uint64_t health_interval_ms;   /* 30000; 0 disables probes */
    uint64_t reconnect_initial_ms; /* 500 */
    uint64_t reconnect_max_ms;     /* 30000 */
    gw_strlist_t api_keys;         /* bearer keys for admin routes */
    int auth_all_routes;           /* 0: only admin routes need a key */
    double rate_limit_rps;         /* 0: off */
    uint32_t rate_limit_burst;     /* 0: = rps */
    gw_strlist_t cors_origins;
    gw_strlist_t allowed_hosts; /* Host/Origin allow-list for /mcp; empty: loopback names */
    uint64_t max_body_bytes;    /* 4 MiB */
} gw_settings_t;

typedef struct gw_config_s {
    char *path; /* where it was read from, or NULL */
    gw_config_format_t format;
    gw_settings_t settings;
    gw_server_config_t *servers;
    size_t server_count;
} gw_config_t;

/* Looks up environment variables for expansion; NULL uses getenv. */
typedef const char *(*gw_env_fn)(const char *name, void *ud);

typedef struct gw_config_error_s {
    char message[512];
} gw_config_error_t;

/* Parse `text` (the format is detected: YAML when it is not JSON). `path` names the source in
 * messages (may be NULL). 0, MCP_EINVAL / MCP_EPARSE (err says why) or MCP_ENOMEM. */
int gw_config_parse(const char *text, size_t len, const char *path, gw_env_fn env, void *env_ud,
                    gw_config_t **out, gw_config_error_t *err);
/* Read and parse a file (at most 4 MiB). MCP_ENOTFOUND when it does not exist. */
int gw_config_load(const char *path, gw_env_fn env, void *env_ud, gw_config_t **out,
                   gw_config_error_t *err);
/* The first existing of: $MCP_CONFIG_PATH, config/mcp-servers.json, /etc/mcp/servers.json.
 * Returns a static or environment string, or NULL when none exists. When MCP_CONFIG_PATH is
 * set but missing, returns it anyway (so the caller reports it). */
const char *gw_config_find(gw_env_fn env, void *env_ud);
/* Defaults only, no servers (single mode, or tests). */
int gw_config_default(gw_env_fn env, void *env_ud, gw_config_t **out);
void gw_config_free(gw_config_t *cfg);

/* Migration: the input (unexpanded) as seed JSON, pretty-printed. *out: mcp_free. */
int gw_config_migrate(const char *text, size_t len, const char *path, char **out,
                      gw_config_error_t *err);

/* 1 when two server entries would produce the same upstream connection (all fields but
 * order, priority, prefix, critical, allow/deny and timeouts, which apply without a reconnect). */
int gw_server_config_same_connection(const gw_server_config_t *a, const gw_server_config_t *b);
const gw_server_config_t *gw_config_server(const gw_config_t *cfg, const char *name);
/* Deep copy of one server entry into *dst (overwritten; release with gw_server_config_clear).
 * 0 or MCP_ENOMEM (dst then holds nothing). */
int gw_server_config_copy(gw_server_config_t *dst, const gw_server_config_t *src);
/* Free what a server entry holds (from gw_server_config_copy) and zero it. */
void gw_server_config_clear(gw_server_config_t *s);

const char *gw_transport_name(gw_transport_t t);
const char *gw_mode_name(gw_mode_t m);
int gw_mode_parse(const char *s, gw_mode_t *out);

#endif
