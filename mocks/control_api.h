/* control_api: the HTTP control surface of a mock, mounted on the mock's router next to /mcp.
 *
 *   GET    /health        200 {"status":"ok","kind","transport","pid","sessions"}
 *   GET    /_mock/faults  200 the current rules with their counters (fault_set_to_json)
 *   PUT    /_mock/faults  replace the rules with the body ({"seed","rules":[...]} or [...], as
 *                         --faults takes); 200 and the new rules, or 400
 *                         {"error":"rules[0].type: ..."} naming the bad field (old rules kept)
 *   DELETE /_mock/faults  clear the rules; 200 {"rules":[]}
 *   GET    /_mock/stats   200 fault_inject_stats_json plus the transport's counters
 * Every body is JSON (Content-Type application/json). Rule bodies are bounded by the HTTP
 * server's body limit.
 *
 * Ownership: the control_api_t (and what it points to) must outlive the router's use; nothing
 * is allocated by mounting except the router's copies of the patterns. */
#ifndef MOCK_CONTROL_API_H
#define MOCK_CONTROL_API_H

#include "fault_inject.h"
#include "http_router.h"

#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct control_api_s {
    fault_inject_t *fi;
    const char *kind;
    const char *transport;
    uint64_t seed; /* default seed for rule sets without one */
    /* Optional: add the transport's counters to a /_mock/stats or /health object. */
    void (*add_stats)(cJSON *stats, void *ud);
    size_t (*session_count)(void *ud);
    void *ud;
} control_api_t;

/* Add the routes above. 0 or the router's error (MCP_ENOMEM). */
int control_api_mount(http_router_t *router, control_api_t *api);

#endif
