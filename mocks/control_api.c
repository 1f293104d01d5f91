#include "control_api.h"

#include "alloc.h"
#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define COMP "control"

static void respond_json(http_req_t *req, int status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        (void)http_respond(req, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    (void)http_respond(req, status, "application/json", text, strlen(text));
    cJSON_free(text);
}

static void respond_error(http_req_t *req, int status, const char *message)
{
    cJSON *body = cJSON_CreateObject();
    if (body && !cJSON_AddStringToObject(body, "error", message)) {
        cJSON_Delete(body);
        body = NULL;
    }
    respond_json(req, status, body);
}

static void on_health(http_req_t *req, void *ud)
{
    control_api_t *api = ud;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", "ok");
    cJSON_AddStringToObject(body, "kind", api->kind);
    cJSON_AddStringToObject(body, "transport", api->transport);
    cJSON_AddNumberToObject(body, "pid", (double)getpid());
    cJSON_AddNumberToObject(body, "sessions",
                            api->session_count ? (double)api->session_count(api->ud) : 0);
    respond_json(req, 200, body);
}

static void on_faults_get(http_req_t *req, void *ud)
{
    control_api_t *api = ud;
    respond_json(req, 200, fault_inject_rules_json(api->fi));
}

static void on_faults_put(http_req_t *req, void *ud)
{
    control_api_t *api = ud;
    size_t len;
    const char *body = http_req_body(req, &len);
    char err[256] = "";
    fault_set_t *set = NULL;
    int rc = fault_set_parse(body, len, api->seed, &set, err, sizeof(err));
    if (rc) {
        LOG_W(COMP, "PUT /_mock/faults rejected", "error=%s", log_quote(err));
        respond_error(req, rc == MCP_ENOMEM ? 500 : 400, err[0] ? err : mcp_strerror(rc));
        return;
    }
    size_t n = set ? set->count : 0;
    fault_inject_set_rules(api->fi, set);
    LOG_I(COMP, "fault rules replaced", "rules=%zu", n);
    respond_json(req, 200, fault_inject_rules_json(api->fi));
}

static void on_faults_delete(http_req_t *req, void *ud)
{
    control_api_t *api = ud;
    fault_inject_set_rules(api->fi, NULL);
    LOG_I(COMP, "fault rules cleared", "rules=%d", 0);
    respond_json(req, 200, fault_inject_rules_json(api->fi));
}

static void on_stats(http_req_t *req, void *ud)
{
    control_api_t *api = ud;
    cJSON *stats = fault_inject_stats_json(api->fi);
    if (stats) {
        cJSON_AddStringToObject(stats, "kind", api->kind);
        cJSON_AddStringToObject(stats, "transport", api->transport);
        if (api->add_stats)
            api->add_stats(stats, api->ud);
    }
    respond_json(req, 200, stats);
}

int control_api_mount(http_router_t *router, control_api_t *api)
{
    int rc = http_router_add(router, "GET", "/health", on_health, api);
    if (!rc)
        rc = http_router_add(router, "GET", "/_mock/faults", on_faults_get, api);
    if (!rc)
        rc = http_router_add(router, "PUT", "/_mock/faults", on_faults_put, api);
    if (!rc)
        rc = http_router_add(router, "DELETE", "/_mock/faults", on_faults_delete, api);
    if (!rc)
        rc = http_router_add(router, "GET", "/_mock/stats", on_stats, api);
    return rc;
}
