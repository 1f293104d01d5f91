/* faults: deterministic fault-injection rules for the mock MCP servers.
 *
 * A fault set is parsed from JSON (`--faults SPEC`, `PUT /_mock/faults`): either an array of
 * rules or {"seed": N, "rules": [...]}. Each rule names what it matches, when it fires and what
 * it does:
 *
 *   {"name": "slow-reads",            optional; default "rule-<index>"
 *    "method": "tools/call",          JSON-RPC method, "*" (default) for any; a trailing "*"
 *                                     matches a prefix, e.g. "resources/" followed by "*"
 *    "tool": "read_query",            params.name (tools/call, prompts/get) or params.uri
 *                                     (resources/read); "*" or absent for any
 *    "probability": 0.25,             fire with this probability (default 1)
 *    "every": 3,                      fire on every 3rd matching request (default 1 = each)
 *    "after": 10,                     only once 10 matching requests have passed (default 0)
 *    "times": 2,                      fire at most twice (default 0 = unlimited)
 *    "type": "latency", ...}          what to do, with the parameters of that type (below)
 *
 * Types and their parameters:
 *   latency        ms | distribution:"uniform" min_ms max_ms | distribution:"normal" mean_ms
 *                  stddev_ms (clamped at 0)                      delay the answer
 *   error          code (default -32603), message, data            JSON-RPC error response
 *   tool_error     message                                         result with isError:true
 *   hang           -                                               never answer
 *   close          -                                               close the connection / stdout
 *   exit           exit_code (default 1)                           the process exits
 *   crash          -                                               the process aborts (SIGABRT)
 *   malformed      -                                               answer with invalid JSON
 *   truncate       bytes (default: half of the answer)             answer cut short, then close
 *   slow_sse       chunk_bytes (default 16), delay_ms (default 20) dribble the answer in pieces
 *   oversized      bytes (default 8 MiB)                           pad the answer to this size
 *   wrong_version  version (default "1999-01-01")                  initialize answers it
 *   slow_start     ms                                              delay before ready (start-up)
 *   session_expiry -                                               HTTP 404 "session not found"
 *                                                                  and the session is dropped
 *   stdout_noise   text (default "this is not JSON-RPC")           a non-protocol line first
 *   http_status    status (default 503), retry_after (seconds)     HTTP error instead of MCP
 *   rate_limit     retry_after (seconds until reset, default 3600) the kind's rate-limit answer
 *                                                                  (GitHub's 403 "API rate limit
 *                                                                  exceeded" isError result on
 *                                                                  the github kind)
 *
 * Evaluation: for each request every rule is checked in order; each matching rule advances its
 * own counter, and fires when the counter is past `after`, is a multiple of `every`, the rule has
 * fired fewer than `times` and its own random stream says yes. All firing latency rules add up;
 * the first firing rule of any other type decides the outcome. Each rule has its own random
 * stream derived from the set's seed and the rule's index, so a given request sequence and seed
 * always fire the same faults, and adding a rule does not change the others' draws.
 *
 * Ownership: fault_set_parse returns a set owned by the caller (fault_set_free). Decisions refer
 * to rules inside the set: valid until the set is freed or replaced. Not thread-safe. */
#ifndef MOCK_FAULTS_H
#define MOCK_FAULTS_H

#include "rng.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define FAULT_TYPE_MAP(X)               \
    X(LATENCY, "latency")               \
    X(ERROR, "error")                   \
    X(TOOL_ERROR, "tool_error")         \
    X(HANG, "hang")                     \
    X(CLOSE, "close")                   \
    X(EXIT, "exit")                     \
    X(CRASH, "crash")                   \
    X(MALFORMED, "malformed")           \
    X(TRUNCATE, "truncate")             \
    X(SLOW_SSE, "slow_sse")             \
    X(OVERSIZED, "oversized")           \
    X(WRONG_VERSION, "wrong_version")   \
    X(SLOW_START, "slow_start")         \
    X(SESSION_EXPIRY, "session_expiry") \
    X(STDOUT_NOISE, "stdout_noise")     \
    X(HTTP_STATUS, "http_status")       \
    X(RATE_LIMIT, "rate_limit")

typedef enum {
#define FAULT_TYPE_ENUM_(name, text) FAULT_##name,
    FAULT_TYPE_MAP(FAULT_TYPE_ENUM_)
#undef FAULT_TYPE_ENUM_
        FAULT_TYPE_COUNT
} fault_type_t;

typedef enum { FAULT_DIST_FIXED = 0, FAULT_DIST_UNIFORM, FAULT_DIST_NORMAL } fault_dist_t;

typedef struct fault_rule_s {
    char *name;
    char *method; /* "*" for any */
    char *tool;   /* NULL for any */
    double probability;
    uint64_t every, after, times;
    fault_type_t type;
    /* parameters; only those of `type` are meaningful */
    fault_dist_t dist;
    double ms, min_ms, max_ms, mean_ms, stddev_ms;
    int code;
    char *message;
    cJSON *data;
    int exit_code;
    size_t bytes;
    size_t chunk_bytes;
    double delay_ms;
    char *version;
    char *text;
    int status;
    int retry_after;
    cJSON *source; /* the rule as given, for GET /_mock/faults */
    /* state */
    rng_t rng;
    uint64_t matched;
    uint64_t fired;
} fault_rule_t;

typedef struct fault_set_s {
    fault_rule_t *rules;
    size_t count;
    uint64_t seed;
    uint64_t requests_seen;
} fault_set_t;

/* What a request should suffer. `rule` is NULL when no non-latency rule fired. */
typedef struct fault_decision_s {
    double delay_ms;          /* sum of firing latency rules */
    const fault_rule_t *rule; /* the outcome-deciding rule, or NULL */
} fault_decision_t;

/* Parse a rule set from JSON text. `default_seed` is used when the JSON has no "seed". On error
 * returns MCP_EINVAL (or MCP_EPARSE for invalid JSON, MCP_ENOMEM) and writes a message naming the
 * rule index and field (e.g. "rules[2].probability: must be a number between 0 and 1") into err. */
int fault_set_parse(const char *json, size_t len, uint64_t default_seed, fault_set_t **out,
                    char *err, size_t errcap);
/* Parse `@path` (a file) or inline JSON, as --faults accepts. */
int fault_set_parse_spec(const char *spec, uint64_t default_seed, fault_set_t **out, char *err,
                         size_t errcap);
void fault_set_free(fault_set_t *set);

/* Decide for one request. `tool` may be NULL. Updates the rules' counters and random streams. */
fault_decision_t fault_set_decide(fault_set_t *set, const char *method, const char *tool);
/* First rule of `type` that matches and fires for a process-level event (slow_start), or NULL. */
const fault_rule_t *fault_set_find_type(fault_set_t *set, fault_type_t type);

/* Sample a delay from a latency rule (uses and advances the rule's stream). */
double fault_rule_sample_ms(fault_rule_t *rule);

/* The set as JSON: the rules as given plus per-rule counters ("matched", "fired"), the seed
 * and the number of requests seen: GET /_mock/faults. NULL on allocation failure. */
cJSON *fault_set_to_json(const fault_set_t *set);

const char *fault_type_name(fault_type_t type);

#endif
