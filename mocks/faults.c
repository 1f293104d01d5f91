#include "faults.h"

#include "alloc.h"
#include "errors.h"
#include "rng.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const type_names[] = {
#define FAULT_TYPE_NAME_(name, text) text,
    FAULT_TYPE_MAP(FAULT_TYPE_NAME_)
#undef FAULT_TYPE_NAME_
};

const char *fault_type_name(fault_type_t type)
{
    return type < FAULT_TYPE_COUNT ? type_names[type] : "unknown";
}

static void seed_rule(fault_rule_t *rule, uint64_t seed, size_t index)
{
    rng_seed_stream(&rule->rng, seed, index);
}

/* ---- parsing ---- */

typedef struct {
    char *err;
    size_t errcap;
    size_t index;
} parse_ctx_t;

static int bad(parse_ctx_t *ctx, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(parse_ctx_t *ctx, const char *field, const char *fmt, ...)
{
    if (ctx->err && ctx->errcap) {
        int n = snprintf(ctx->err, ctx->errcap, "rules[%zu].%s: ", ctx->index, field);
        if (n >= 0 && (size_t)n < ctx->errcap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ctx->err + n, ctx->errcap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return MCP_EINVAL;
}

static int get_string(parse_ctx_t *ctx, const cJSON *obj, const char *field, const char *def,
                      char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (item && !cJSON_IsString(item))
        return bad(ctx, field, "must be a string");
    const char *value = item ? item->valuestring : def;
    if (!value) {
        *out = NULL;
        return 0;
    }
    *out = mcp_strdup(value);
    return *out ? 0 : MCP_ENOMEM;
}

static int get_number(parse_ctx_t *ctx, const cJSON *obj, const char *field, double def, double min,
                      double max, double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!item) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return bad(ctx, field, "must be a number");
    if (item->valuedouble < min || item->valuedouble > max)
        return bad(ctx, field, "must be between %g and %g", min, max);
    *out = item->valuedouble;
    return 0;
}

static int get_count(parse_ctx_t *ctx, const cJSON *obj, const char *field, uint64_t def,
                     uint64_t min, uint64_t *out)
{
    double v = 0;
    int rc = get_number(ctx, obj, field, (double)def, (double)min, 9007199254740991.0, &v);
    if (rc)
        return rc;
    if (v != floor(v))
        return bad(ctx, field, "must be a whole number");
    *out = (uint64_t)v;
    return 0;
}

static const char *const known_fields[] = {
    "name",    "method",  "tool",         "probability", "every",   "after",       "times",
    "type",    "ms",      "distribution", "min_ms",      "max_ms",  "mean_ms",     "stddev_ms",
    "code",    "message", "data",         "exit_code",   "bytes",   "chunk_bytes", "delay_ms",
    "version", "text",    "status",       "retry_after", "comment",
};

static int parse_rule(parse_ctx_t *ctx, const cJSON *obj, fault_rule_t *rule)
{
    if (!cJSON_IsObject(obj))
        return bad(ctx, "", "a rule must be a JSON object");
    for (const cJSON *f = obj->child; f; f = f->next) {
        int known = 0;
        for (size_t i = 0; i < sizeof known_fields / sizeof *known_fields && !known; i++)
            known = strcmp(f->string, known_fields[i]) == 0;
        if (!known)
            return bad(ctx, f->string, "unknown field");
    }

    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (!cJSON_IsString(type))
        return bad(ctx, "type",
                   "required; one of latency, error, tool_error, hang, close, exit, "
                   "crash, malformed, truncate, slow_sse, oversized, wrong_version, "
                   "slow_start, session_expiry, stdout_noise, http_status, rate_limit");
    rule->type = FAULT_TYPE_COUNT;
    for (int t = 0; t < FAULT_TYPE_COUNT; t++)
        if (strcmp(type->valuestring, type_names[t]) == 0)
            rule->type = (fault_type_t)t;
    if (rule->type == FAULT_TYPE_COUNT)
        return bad(ctx, "type", "unknown fault type \"%s\"", type->valuestring);

    char default_name[32];
    snprintf(default_name, sizeof default_name, "rule-%zu", ctx->index);
    int rc;
    if ((rc = get_string(ctx, obj, "name", default_name, &rule->name)) ||
        (rc = get_string(ctx, obj, "method", "*", &rule->method)) ||
        (rc = get_string(ctx, obj, "tool", NULL, &rule->tool)))
        return rc;
    if (rule->tool && strcmp(rule->tool, "*") == 0) {
        mcp_free(rule->tool);
        rule->tool = NULL;
    }
    if ((rc = get_number(ctx, obj, "probability", 1.0, 0.0, 1.0, &rule->probability)) ||
        (rc = get_count(ctx, obj, "every", 1, 1, &rule->every)) ||
        (rc = get_count(ctx, obj, "after", 0, 0, &rule->after)) ||
        (rc = get_count(ctx, obj, "times", 0, 0, &rule->times)))
        return rc;

    const double max_ms = 3600.0 * 1000.0;
    double v;
    switch (rule->type) {
    case FAULT_LATENCY: {
        char *dist = NULL;
        if ((rc = get_string(ctx, obj, "distribution", "fixed", &dist)))
            return rc;
        if (strcmp(dist, "fixed") == 0)
            rule->dist = FAULT_DIST_FIXED;
        else if (strcmp(dist, "uniform") == 0)
            rule->dist = FAULT_DIST_UNIFORM;
        else if (strcmp(dist, "normal") == 0)
            rule->dist = FAULT_DIST_NORMAL;
        else
            rc = bad(ctx, "distribution", "must be fixed, uniform or normal");
        mcp_free(dist);
        if (rc)
            return rc;
        if (rule->dist == FAULT_DIST_FIXED) {
            if (!cJSON_GetObjectItemCaseSensitive(obj, "ms"))
                return bad(ctx, "ms", "required for a fixed latency");
            return get_number(ctx, obj, "ms", 0, 0, max_ms, &rule->ms);
        }
        if (rule->dist == FAULT_DIST_UNIFORM) {
            if ((rc = get_number(ctx, obj, "min_ms", 0, 0, max_ms, &rule->min_ms)) ||
                (rc = get_number(ctx, obj, "max_ms", -1, 0, max_ms, &rule->max_ms)))
                return rc;
            if (rule->max_ms < rule->min_ms)
                return bad(ctx, "max_ms", "required, and not below min_ms");
            return 0;
        }
        if ((rc = get_number(ctx, obj, "mean_ms", -1, 0, max_ms, &rule->mean_ms)) ||
            (rc = get_number(ctx, obj, "stddev_ms", 0, 0, max_ms, &rule->stddev_ms)))
            return rc;
        if (rule->mean_ms < 0)
            return bad(ctx, "mean_ms", "required for a normal latency");
        return 0;
    }
    case FAULT_ERROR:
        if ((rc = get_number(ctx, obj, "code", -32603, -2147483648.0, 2147483647.0, &v)))
            return rc;
        rule->code = (int)v;
        if ((rc = get_string(ctx, obj, "message", "Injected fault", &rule->message)))
            return rc;
        {
            const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
            if (data && !(rule->data = cJSON_Duplicate(data, 1)))
                return MCP_ENOMEM;
        }
        return 0;
    case FAULT_TOOL_ERROR:
        return get_string(ctx, obj, "message", "Injected tool failure", &rule->message);
    case FAULT_EXIT:
        if ((rc = get_number(ctx, obj, "exit_code", 1, 0, 255, &v)))
            return rc;
        rule->exit_code = (int)v;
        return 0;
    case FAULT_TRUNCATE:
        if ((rc = get_number(ctx, obj, "bytes", 0, 0, 1 << 30, &v)))
            return rc;
        rule->bytes = (size_t)v;
        return 0;
    case FAULT_SLOW_SSE:
        if ((rc = get_number(ctx, obj, "chunk_bytes", 16, 1, 1 << 20, &v)))
            return rc;
        rule->chunk_bytes = (size_t)v;
        return get_number(ctx, obj, "delay_ms", 20, 0, max_ms, &rule->delay_ms);
    case FAULT_OVERSIZED:
        if ((rc = get_number(ctx, obj, "bytes", 8 << 20, 1, 1 << 30, &v)))
            return rc;
        rule->bytes = (size_t)v;
        return 0;
    case FAULT_WRONG_VERSION: return get_string(ctx, obj, "version", "1999-01-01", &rule->version);
    case FAULT_SLOW_START:
        if (!cJSON_GetObjectItemCaseSensitive(obj, "ms"))
            return bad(ctx, "ms", "required for slow_start");
        return get_number(ctx, obj, "ms", 0, 0, max_ms, &rule->ms);
    case FAULT_STDOUT_NOISE:
        return get_string(ctx, obj, "text", "this is not JSON-RPC", &rule->text);
    case FAULT_HTTP_STATUS:
        if ((rc = get_number(ctx, obj, "status", 503, 100, 599, &v)))
            return rc;
        rule->status = (int)v;
        if ((rc = get_number(ctx, obj, "retry_after", 0, 0, 86400, &v)))
            return rc;
        rule->retry_after = (int)v;
        return 0;
    case FAULT_RATE_LIMIT:
        if ((rc = get_number(ctx, obj, "retry_after", 3600, 0, 86400 * 7, &v)))
            return rc;
        rule->retry_after = (int)v;
        return 0;
    case FAULT_HANG:
    case FAULT_CLOSE:
    case FAULT_CRASH:
    case FAULT_MALFORMED:
    case FAULT_SESSION_EXPIRY:
    case FAULT_TYPE_COUNT: return 0;
    }
    return 0;
}

static void free_rule(fault_rule_t *rule)
{
    mcp_free(rule->name);
    mcp_free(rule->method);
    mcp_free(rule->tool);
    mcp_free(rule->message);
    cJSON_Delete(rule->data);
    cJSON_Delete(rule->source);
    mcp_free(rule->version);
    mcp_free(rule->text);
}

void fault_set_free(fault_set_t *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++)
        free_rule(&set->rules[i]);
    mcp_free(set->rules);
    mcp_free(set);
}

int fault_set_parse(const char *json, size_t len, uint64_t default_seed, fault_set_t **out,
                    char *err, size_t errcap)
{
    *out = NULL;
    parse_ctx_t ctx = {.err = err, .errcap = errcap};
    if (err && errcap)
        err[0] = '\0';
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        if (err && errcap)
            snprintf(err, errcap, "faults: invalid JSON");
        return MCP_EPARSE;
    }
    int rc = 0;
    const cJSON *rules = root;
    uint64_t seed = default_seed;
    if (cJSON_IsObject(root)) {
        for (const cJSON *f = root->child; f; f = f->next) {
            if (strcmp(f->string, "rules") && strcmp(f->string, "seed")) {
                if (err && errcap)
                    snprintf(err, errcap, "faults.%s: unknown field (expected rules, seed)",
                             f->string);
                cJSON_Delete(root);
                return MCP_EINVAL;
            }
        }
        rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "seed");
        if (s) {
            if (!cJSON_IsNumber(s) || s->valuedouble < 0 ||
                s->valuedouble != floor(s->valuedouble)) {
                if (err && errcap)
                    snprintf(err, errcap, "faults.seed: must be a non-negative whole number");
                cJSON_Delete(root);
                return MCP_EINVAL;
            }
            seed = (uint64_t)s->valuedouble;
        }
    }
    if (!cJSON_IsArray(rules)) {
        if (err && errcap)
            snprintf(err, errcap, "faults: expected an array of rules or {\"rules\": [...]}");
        cJSON_Delete(root);
        return MCP_EINVAL;
    }

    fault_set_t *set = mcp_calloc(1, sizeof *set);
    size_t count = (size_t)cJSON_GetArraySize(rules);
    if (set && count)
        set->rules = mcp_calloc(count, sizeof *set->rules);
    if (!set || (count && !set->rules)) {
        mcp_free(set);
        cJSON_Delete(root);
        return MCP_ENOMEM;
    }
    set->seed = seed;
    const cJSON *item;
    cJSON_ArrayForEach(item, rules)
    {
        ctx.index = set->count;
        fault_rule_t *rule = &set->rules[set->count++];
        rc = parse_rule(&ctx, item, rule);
        if (rc == 0 && !(rule->source = cJSON_Duplicate(item, 1)))
            rc = MCP_ENOMEM;
        if (rc)
            break;
        seed_rule(rule, seed, ctx.index);
    }
    cJSON_Delete(root);
    if (rc) {
        if (rc == MCP_ENOMEM && err && errcap)
            snprintf(err, errcap, "faults: out of memory");
        fault_set_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

int fault_set_parse_spec(const char *spec, uint64_t default_seed, fault_set_t **out, char *err,
                         size_t errcap)
{
    if (spec[0] != '@')
        return fault_set_parse(spec, strlen(spec), default_seed, out, err, errcap);
    FILE *f = fopen(spec + 1, "rb");
    if (!f) {
        if (err && errcap)
            snprintf(err, errcap, "faults: cannot open %s", spec + 1);
        return MCP_ENOTFOUND;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (16u << 20)) {
                rc = MCP_ENOBUFS;
                break;
            }
            char *grown = mcp_realloc(text, cap);
            if (!grown) {
                rc = MCP_ENOMEM;
                break;
            }
            text = grown;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    if (rc == 0)
        rc = fault_set_parse(text, len, default_seed, out, err, errcap);
    else if (err && errcap)
        snprintf(err, errcap, "faults: cannot read %s: %s", spec + 1, mcp_strerror(rc));
    mcp_free(text);
    return rc;
}

/* ---- decisions ---- */

static int method_matches(const char *pattern, const char *method)
{
    size_t n = strlen(pattern);
    if (n == 1 && pattern[0] == '*')
        return 1;
    if (n && pattern[n - 1] == '*')
        return strncmp(pattern, method, n - 1) == 0;
    return strcmp(pattern, method) == 0;
}

static int rule_fires(fault_rule_t *rule, const char *method, const char *tool)
{
    if (!method_matches(rule->method, method))
        return 0;
    if (rule->tool && (!tool || strcmp(rule->tool, tool) != 0))
        return 0;
    uint64_t n = ++rule->matched;
    if (n <= rule->after)
        return 0;
    if ((n - rule->after) % rule->every != 0)
        return 0;
    if (rule->times && rule->fired >= rule->times)
        return 0;
    /* Draw even when probability is 1 so the stream position depends only on the sequence. */
    if (rng_unit(&rule->rng) >= rule->probability)
        return 0;
    rule->fired++;
    return 1;
}

double fault_rule_sample_ms(fault_rule_t *rule)
{
    switch (rule->dist) {
    case FAULT_DIST_UNIFORM:
        return rule->min_ms + (rule->max_ms - rule->min_ms) * rng_unit(&rule->rng);
    case FAULT_DIST_NORMAL: {
        /* Box-Muller; 1 - u keeps the logarithm's argument in (0, 1]. */
        double u1 = 1.0 - rng_unit(&rule->rng);
        double u2 = rng_unit(&rule->rng);
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
        double v = rule->mean_ms + rule->stddev_ms * z;
        return v < 0 ? 0 : v;
    }
    case FAULT_DIST_FIXED: break;
    }
    return rule->ms;
}

fault_decision_t fault_set_decide(fault_set_t *set, const char *method, const char *tool)
{
    fault_decision_t d = {0};
    if (!set)
        return d;
    set->requests_seen++;
    for (size_t i = 0; i < set->count; i++) {
        fault_rule_t *rule = &set->rules[i];
        if (rule->type == FAULT_SLOW_START)
            continue;
        if (!rule_fires(rule, method, tool))
            continue;
        if (rule->type == FAULT_LATENCY)
            d.delay_ms += fault_rule_sample_ms(rule);
        else if (!d.rule)
            d.rule = rule;
    }
    return d;
}

const fault_rule_t *fault_set_find_type(fault_set_t *set, fault_type_t type)
{
    if (!set)
        return NULL;
    for (size_t i = 0; i < set->count; i++) {
        fault_rule_t *rule = &set->rules[i];
        if (rule->type != type)
            continue;
        rule->matched++;
        if (rule->probability >= 1.0 || rng_unit(&rule->rng) < rule->probability) {
            rule->fired++;
            return rule;
        }
    }
    return NULL;
}

cJSON *fault_set_to_json(const fault_set_t *set)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *rules = cJSON_AddArrayToObject(root, "rules");
    if (!root || !rules) {
        cJSON_Delete(root);
        return NULL;
    }
    if (set) {
        cJSON_AddNumberToObject(root, "seed", (double)set->seed);
        cJSON_AddNumberToObject(root, "requests_seen", (double)set->requests_seen);
    }
    for (size_t i = 0; set && i < set->count; i++) {
        const fault_rule_t *r = &set->rules[i];
        cJSON *o = cJSON_Duplicate(r->source, 1);
        if (!o || !cJSON_AddNumberToObject(o, "matched", (double)r->matched) ||
            !cJSON_AddNumberToObject(o, "fired", (double)r->fired)) {
            cJSON_Delete(o);
            cJSON_Delete(root);
            return NULL;
        }
        cJSON_AddItemToArray(rules, o);
    }
    return root;
}
