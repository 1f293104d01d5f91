#include "scenario.h"

#include "alloc.h"
#include "errors.h"
#include "match.h"
#include "vars.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Set obj[key] = item, replacing an existing member. The item is taken, also on failure.
 * 0 or MCP_ENOMEM (cJSON copies the key, which can fail). */
static int obj_put(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return MCP_ENOMEM;
    int ok = cJSON_GetObjectItemCaseSensitive(obj, key)
                 ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)
                 : cJSON_AddItemToObject(obj, key, item);
    if (!ok) {
        cJSON_Delete(item);
        return MCP_ENOMEM;
    }
    return 0;
}

/* ---- small helpers ---- */

static const char *const step_kind_names[SCN_STEP_KIND_COUNT_] = {
    [SCN_STEP_HTTP] = "http",           [SCN_STEP_MCP] = "mcp",
    [SCN_STEP_CHAT] = "chat",           [SCN_STEP_WAIT] = "wait",
    [SCN_STEP_SLEEP] = "sleep",         [SCN_STEP_KILL] = "kill",
    [SCN_STEP_STOP] = "stop",           [SCN_STEP_CONTINUE] = "continue",
    [SCN_STEP_RESTART] = "restart",     [SCN_STEP_START] = "start",
    [SCN_STEP_TERMINATE] = "terminate", [SCN_STEP_SIGNAL] = "signal",
    [SCN_STEP_FAULTS] = "faults",       [SCN_STEP_LOAD] = "load",
};

const char *scn_step_kind_name(scn_step_kind_t kind)
{
    return kind < SCN_STEP_KIND_COUNT_ ? step_kind_names[kind] : "?";
}

const char *scn_proc_type_name(scn_proc_type_t type)
{
    switch (type) {
    case SCN_PROC_MOCK: return "mock";
    case SCN_PROC_GATEWAY: return "gateway";
    case SCN_PROC_COMMAND: return "command";
    }
    return "?";
}

static int has_ref(const cJSON *v)
{
    return cJSON_IsString(v) && strstr(v->valuestring, "${") != NULL;
}

int scn_parse_duration_text(const char *s, uint64_t *ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0) || !isfinite(v))
        return MCP_EINVAL;
    double scale;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        scale = 1e6;
    else if (strcmp(end, "ns") == 0)
        scale = 1;
    else if (strcmp(end, "us") == 0 || strcmp(end, "\xc2\xb5s") == 0)
        scale = 1e3;
    else if (strcmp(end, "s") == 0)
        scale = 1e9;
    else if (strcmp(end, "m") == 0)
        scale = 60e9;
    else if (strcmp(end, "h") == 0)
        scale = 3600e9;
    else
        return MCP_EINVAL;
    double r = v * scale;
    if (r > 9.2e18)
        return MCP_EINVAL;
    *ns = (uint64_t)(r + 0.5);
    return 0;
}

int scn_parse_duration(const cJSON *v, uint64_t *ns)
{
    if (cJSON_IsNumber(v)) {
        if (!(v->valuedouble >= 0) || v->valuedouble > 9.2e12)
            return MCP_EINVAL;
        *ns = (uint64_t)(v->valuedouble * 1e6 + 0.5);
        return 0;
    }
    if (cJSON_IsString(v))
        return scn_parse_duration_text(v->valuestring, ns);
    return MCP_EINVAL;
}

/* ---- validation context: "file: $.path: message" ---- */

typedef struct vc_s {
    const char *file;
    char path[768];
    size_t plen;
    char *err;
    size_t errcap;
} vc_t;

static void vc_init(vc_t *v, const char *file, const char *root, char *err, size_t errcap)
{
    v->file = file;
    snprintf(v->path, sizeof(v->path), "%s", root);
    v->plen = strlen(v->path);
    v->err = err;
    v->errcap = errcap;
}

static size_t vc_key(vc_t *v, const char *key)
{
    size_t mark = v->plen;
    int simple =
        (key[0] >= 'a' && key[0] <= 'z') || (key[0] >= 'A' && key[0] <= 'Z') || key[0] == '_';
    for (const char *p = key; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            simple = 0;
    int n = simple ? snprintf(v->path + mark, sizeof(v->path) - mark, ".%s", key)
                   : snprintf(v->path + mark, sizeof(v->path) - mark, "['%s']", key);
    if (n > 0)
        v->plen = mark + (size_t)n < sizeof(v->path) ? mark + (size_t)n : sizeof(v->path) - 1;
    return mark;
}

static size_t vc_idx(vc_t *v, int i)
{
    size_t mark = v->plen;
    int n = snprintf(v->path + mark, sizeof(v->path) - mark, "[%d]", i);
    if (n > 0)
        v->plen = mark + (size_t)n < sizeof(v->path) ? mark + (size_t)n : sizeof(v->path) - 1;
    return mark;
}

static void vc_pop(vc_t *v, size_t mark)
{
    v->plen = mark;
    v->path[mark] = '\0';
}

static int vc_fail(vc_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vc_fail(vc_t *v, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (v->err && v->errcap)
        snprintf(v->err, v->errcap, "%s: %s: %s", v->file, v->path, msg);
    return MCP_EINVAL;
}

/* Fail at path + key. */
static int vc_fail_at(vc_t *v, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int vc_fail_at(vc_t *v, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t mark = vc_key(v, key);
    int rc = vc_fail(v, "%s", msg);
    vc_pop(v, mark);
    return rc;
}

static int check_keys(vc_t *v, const cJSON *obj, const char *const *known)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, obj)
    {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            if (strcmp(*k, c->string) == 0)
                ok = 1;
        if (!ok) {
            char list[400] = "";
            size_t used = 0;
            for (const char *const *k = known; *k; k++) {
                int n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *k);
                if (n < 0 || (size_t)n >= sizeof(list) - used)
                    break;
                used += (size_t)n;
            }
            return vc_fail_at(v, c->string, "unknown key (known here: %s)", list);
        }
    }
    return 0;
}

/* Typed getters: absent and not required -> 0 with *out untouched. */
static int get_str(vc_t *v, const cJSON *obj, const char *key, int required, const char **out)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!c)
        return required ? vc_fail_at(v, key, "required") : 0;
    if (!cJSON_IsString(c))
        return vc_fail_at(v, key, "must be a string");
    if (out)
        *out = c->valuestring;
    return 0;
}

static int get_bool(vc_t *v, const cJSON *obj, const char *key, int *out)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!c)
        return 0;
    if (!cJSON_IsBool(c))
        return vc_fail_at(v, key, "must be true or false");
    if (out)
        *out = cJSON_IsTrue(c);
    return 0;
}

/* A number in [lo, hi] (or a "${...}" string, checked when the step runs). */
static int get_num(vc_t *v, const cJSON *obj, const char *key, int required, double lo, double hi,
                   int integer, double *out)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!c)
        return required ? vc_fail_at(v, key, "required") : 0;
    if (has_ref(c))
        return 0;
    if (!cJSON_IsNumber(c))
        return vc_fail_at(v, key, "must be a number");
    double d = c->valuedouble;
    if (integer && d != floor(d))
        return vc_fail_at(v, key, "must be an integer");
    if (!(d >= lo && d <= hi))
        return vc_fail_at(v, key, "must be between %g and %g", lo, hi);
    if (out)
        *out = d;
    return 0;
}

static int get_duration(vc_t *v, const cJSON *obj, const char *key, int required, uint64_t *out)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!c)
        return required ? vc_fail_at(v, key, "required") : 0;
    if (has_ref(c))
        return 0;
    uint64_t ns;
    if (scn_parse_duration(c, &ns))
        return vc_fail_at(v, key,
                          "must be a duration: a number of milliseconds or a string such as "
                          "\"500ms\", \"2s\", \"250us\", \"1m\"");
    if (out)
        *out = ns;
    return 0;
}

static int get_obj(vc_t *v, const cJSON *obj, const char *key, int required, const cJSON **out)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!c)
        return required ? vc_fail_at(v, key, "required") : 0;
    if (!cJSON_IsObject(c))
        return vc_fail_at(v, key, "must be an object");
    if (out)
        *out = c;
    return 0;
}

/* An object whose values are all strings (headers, env). */
static int get_str_map(vc_t *v, const cJSON *obj, const char *key)
{
    const cJSON *m = NULL;
    int rc = get_obj(v, obj, key, 0, &m);
    if (rc || !m)
        return rc;
    size_t mark = vc_key(v, key);
    const cJSON *c;
    cJSON_ArrayForEach(c, m)
    {
        if (!cJSON_IsString(c) && !cJSON_IsNumber(c) && !cJSON_IsBool(c)) {
            rc = vc_fail_at(v, c->string, "must be a string");
            break;
        }
    }
    vc_pop(v, mark);
    return rc;
}

static int get_str_array(vc_t *v, const cJSON *obj, const char *key)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!a)
        return 0;
    if (!cJSON_IsArray(a))
        return vc_fail_at(v, key, "must be an array of strings");
    size_t mark = vc_key(v, key);
    int i = 0, rc = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, a)
    {
        if (!cJSON_IsString(c) && !cJSON_IsNumber(c)) {
            size_t m2 = vc_idx(v, i);
            rc = vc_fail(v, "must be a string");
            vc_pop(v, m2);
            break;
        }
        i++;
    }
    vc_pop(v, mark);
    return rc;
}

static int valid_proc_name(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Reject objects with a repeated key anywhere (cJSON keeps both; readers see the first). */
static int check_dupes(vc_t *v, const cJSON *node, int depth)
{
    if (depth > 200)
        return vc_fail(v, "nested too deeply");
    if (cJSON_IsObject(node)) {
        for (const cJSON *a = node->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return vc_fail_at(v, a->string,
                                      "key appears more than once (the later one would be lost)");
        for (const cJSON *c = node->child; c; c = c->next) {
            size_t mark = vc_key(v, c->string);
            int rc = check_dupes(v, c, depth + 1);
            vc_pop(v, mark);
            if (rc)
                return rc;
        }
    } else if (cJSON_IsArray(node)) {
        int i = 0;
        for (const cJSON *c = node->child; c; c = c->next, i++) {
            size_t mark = vc_idx(v, i);
            int rc = check_dupes(v, c, depth + 1);
            vc_pop(v, mark);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- expectations and captures ---- */

static int check_matcher(vc_t *v, const cJSON *m)
{
    char err[300];
    if (match_validate(m, err, sizeof(err)))
        return vc_fail(v, "%s", err);
    return 0;
}

static int check_path_map(vc_t *v, const cJSON *obj, const char *key)
{
    const cJSON *m = NULL;
    int rc = get_obj(v, obj, key, 0, &m);
    if (rc || !m)
        return rc;
    size_t mark = vc_key(v, key);
    const cJSON *c;
    cJSON_ArrayForEach(c, m)
    {
        char err[200];
        size_t m2 = vc_key(v, c->string);
        if (match_path_validate(c->string, err, sizeof(err)))
            rc = vc_fail(v, "bad JSON path: %s", err);
        else
            rc = check_matcher(v, c);
        vc_pop(v, m2);
        if (rc)
            break;
    }
    vc_pop(v, mark);
    return rc;
}

static int check_expect(vc_t *v, const cJSON *step, scn_step_kind_t kind)
{
    const cJSON *e = NULL;
    int rc = get_obj(v, step, "expect", 0, &e);
    if (rc || !e)
        return rc;
    size_t mark = vc_key(v, "expect");
    if (kind == SCN_STEP_HTTP || kind == SCN_STEP_CHAT) {
        static const char *const known[] = {"status", "headers",     "json",
                                            "body",   "maxDuration", NULL};
        rc = check_keys(v, e, known);
        const cJSON *c;
        if (!rc && (c = cJSON_GetObjectItemCaseSensitive(e, "status"))) {
            size_t m2 = vc_key(v, "status");
            rc = check_matcher(v, c);
            vc_pop(v, m2);
        }
        if (!rc && (c = cJSON_GetObjectItemCaseSensitive(e, "body"))) {
            size_t m2 = vc_key(v, "body");
            rc = check_matcher(v, c);
            vc_pop(v, m2);
        }
        if (!rc) {
            const cJSON *h = NULL;
            rc = get_obj(v, e, "headers", 0, &h);
            if (!rc && h) {
                size_t m2 = vc_key(v, "headers");
                cJSON_ArrayForEach(c, h)
                {
                    size_t m3 = vc_key(v, c->string);
                    rc = check_matcher(v, c);
                    vc_pop(v, m3);
                    if (rc)
                        break;
                }
                vc_pop(v, m2);
            }
        }
        if (!rc)
            rc = check_path_map(v, e, "json");
    } else if (kind == SCN_STEP_MCP) {
        static const char *const known[] = {"json",    "result",      "error", "isError",
                                            "failure", "maxDuration", NULL};
        rc = check_keys(v, e, known);
        if (!rc)
            rc = check_path_map(v, e, "json");
        if (!rc)
            rc = check_path_map(v, e, "result");
        const cJSON *c;
        if (!rc && (c = cJSON_GetObjectItemCaseSensitive(e, "error")) && !cJSON_IsBool(c)) {
            if (!cJSON_IsObject(c))
                rc = vc_fail_at(v, "error",
                                "must be true, false, or an object of JSON path matchers on the "
                                "error ({\"$.code\": -32601})");
            else
                rc = check_path_map(v, e, "error");
        }
        if (!rc && (c = cJSON_GetObjectItemCaseSensitive(e, "isError"))) {
            size_t m2 = vc_key(v, "isError");
            rc = check_matcher(v, c);
            vc_pop(v, m2);
        }
        if (!rc && (c = cJSON_GetObjectItemCaseSensitive(e, "failure")) && !cJSON_IsBool(c)) {
            size_t m2 = vc_key(v, "failure");
            rc = check_matcher(v, c);
            vc_pop(v, m2);
        }
    } else {
        rc = vc_fail(v, "a %s step has no expectations", scn_step_kind_name(kind));
    }
    if (!rc)
        rc = get_duration(v, e, "maxDuration", 0, NULL);
    vc_pop(v, mark);
    return rc;
}

static int check_capture(vc_t *v, const cJSON *step, scn_step_kind_t kind)
{
    const cJSON *cap = NULL;
    int rc = get_obj(v, step, "capture", 0, &cap);
    if (rc || !cap)
        return rc;
    size_t mark = vc_key(v, "capture");
    const cJSON *c;
    cJSON_ArrayForEach(c, cap)
    {
        size_t m2 = vc_key(v, c->string);
        char err[200];
        if (!vars_name_valid(c->string)) {
            rc = vc_fail(v, "a variable name is [A-Za-z_][A-Za-z0-9_.-]*");
        } else if (cJSON_IsString(c)) {
            if (match_path_validate(c->valuestring, err, sizeof(err)))
                rc = vc_fail(v, "bad JSON path: %s", err);
        } else if (cJSON_IsObject(c)) {
            static const char *const known[] = {"json", "header", "default", NULL};
            const char *p = NULL, *h = NULL;
            rc = check_keys(v, c, known);
            if (!rc)
                rc = get_str(v, c, "json", 0, &p);
            if (!rc)
                rc = get_str(v, c, "header", 0, &h);
            if (!rc && !!p == !!h)
                rc = vc_fail(v, "needs exactly one of \"json\" (a JSON path) or \"header\"");
            if (!rc && p && match_path_validate(p, err, sizeof(err)))
                rc = vc_fail_at(v, "json", "bad JSON path: %s", err);
            if (!rc && h && kind == SCN_STEP_MCP)
                rc = vc_fail_at(v, "header", "MCP steps have no headers to capture");
        } else {
            rc = vc_fail(v, "must be a JSON path string or {\"json\": PATH} / {\"header\": NAME}");
        }
        vc_pop(v, m2);
        if (rc)
            break;
    }
    vc_pop(v, mark);
    return rc;
}

/* ---- step bodies ---- */

static int check_http_body(vc_t *v, const cJSON *b, int partial)
{
    static const char *const known[] = {"method", "url", "headers", "body", "json", NULL};
    int rc = check_keys(v, b, known);
    if (!rc)
        rc = get_str(v, b, "method", 0, NULL);
    if (!rc)
        rc = get_str(v, b, "url", !partial, NULL);
    if (!rc)
        rc = get_str_map(v, b, "headers");
    if (!rc)
        rc = get_str(v, b, "body", 0, NULL);
    if (!rc && cJSON_GetObjectItemCaseSensitive(b, "body") &&
        cJSON_GetObjectItemCaseSensitive(b, "json"))
        rc = vc_fail(v, "give either \"body\" (text) or \"json\" (a JSON value), not both");
    return rc;
}

static int check_mcp_body(vc_t *v, const cJSON *b, int partial)
{
    static const char *const known[] = {"target", "url",    "transport", "session",
                                        "method", "params", "headers",   NULL};
    const char *t = NULL;
    int rc = check_keys(v, b, known);
    if (!rc)
        rc = get_str(v, b, "target", 0, NULL);
    if (!rc)
        rc = get_str(v, b, "url", 0, NULL);
    if (!rc)
        rc = get_str(v, b, "transport", 0, &t);
    if (!rc && t && strcmp(t, "http") && strcmp(t, "streamable-http") && strcmp(t, "sse") &&
        strcmp(t, "auto") && !strstr(t, "${"))
        rc = vc_fail_at(v, "transport", "must be one of http, sse, auto");
    if (!rc)
        rc = get_str(v, b, "session", 0, NULL);
    if (!rc)
        rc = get_str(v, b, "method", !partial, NULL);
    if (!rc) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
        if (p && !cJSON_IsObject(p) && !has_ref(p))
            rc = vc_fail_at(v, "params", "must be an object");
    }
    if (!rc)
        rc = get_str_map(v, b, "headers");
    if (!rc && !partial) {
        int has_t = cJSON_GetObjectItemCaseSensitive(b, "target") != NULL;
        int has_u = cJSON_GetObjectItemCaseSensitive(b, "url") != NULL;
        if (has_t == has_u)
            rc = vc_fail(v, "needs exactly one of \"target\" (a process name) or \"url\"");
    }
    return rc;
}

static int check_chat_body(vc_t *v, const cJSON *b, int partial)
{
    static const char *const known[] = {"target", "url",     "path", "message",
                                        "body",   "headers", NULL};
    (void)partial;
    int rc = check_keys(v, b, known);
    if (!rc)
        rc = get_str(v, b, "target", 0, NULL);
    if (!rc)
        rc = get_str(v, b, "url", 0, NULL);
    if (!rc)
        rc = get_str(v, b, "path", 0, NULL);
    if (!rc)
        rc = get_str(v, b, "message", 0, NULL);
    if (!rc)
        rc = get_obj(v, b, "body", 0, NULL);
    if (!rc)
        rc = get_str_map(v, b, "headers");
    if (!rc && !partial && !cJSON_GetObjectItemCaseSensitive(b, "message") &&
        !cJSON_GetObjectItemCaseSensitive(b, "body"))
        rc = vc_fail(v, "needs \"message\" or \"body\"");
    return rc;
}

static int check_load_body(vc_t *v, const cJSON *b, int partial)
{
    static const char *const known[] = {"target",
                                        "url",
                                        "model",
                                        "connections",
                                        "phases",
                                        "requests",
                                        "timeout",
                                        "maxOutstanding",
                                        "okStatus",
                                        "expectBody",
                                        "expectedInterval",
                                        "schedule",
                                        NULL};
    const char *model = NULL;
    int rc = check_keys(v, b, known);
    if (!rc)
        rc = get_str(v, b, "target", 0, NULL);
    if (!rc)
        rc = get_str(v, b, "url", 0, NULL);
    if (!rc)
        rc = get_str(v, b, "model", 0, &model);
    if (!rc && model && strcmp(model, "open") && strcmp(model, "closed"))
        rc = vc_fail_at(v, "model", "must be \"open\" or \"closed\"");
    if (!rc)
        rc = get_num(v, b, "connections", 0, 1, 4096, 1, NULL);
    if (!rc)
        rc = get_duration(v, b, "timeout", 0, NULL);
    if (!rc)
        rc = get_num(v, b, "maxOutstanding", 0, 1, 1e7, 1, NULL);
    if (!rc)
        rc = get_num(v, b, "okStatus", 0, 1, 5, 1, NULL);
    if (!rc)
        rc = get_str(v, b, "expectBody", 0, NULL);
    if (!rc)
        rc = get_duration(v, b, "expectedInterval", 0, NULL);
    if (rc)
        return rc;
    if (!partial) {
        int has_t = cJSON_GetObjectItemCaseSensitive(b, "target") != NULL;
        int has_u = cJSON_GetObjectItemCaseSensitive(b, "url") != NULL;
        if (has_t == has_u)
            return vc_fail(v, "needs exactly one of \"target\" (a process name) or \"url\"");
    }
    const cJSON *phases = cJSON_GetObjectItemCaseSensitive(b, "phases");
    if (!phases) {
        if (!partial)
            return vc_fail_at(v, "phases", "required");
    } else if (!cJSON_IsArray(phases) || cJSON_GetArraySize(phases) == 0) {
        return vc_fail_at(v, "phases", "must be a non-empty array");
    } else {
        int closed = model && strcmp(model, "closed") == 0;
        size_t mark = vc_key(v, "phases");
        int i = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, phases)
        {
            size_t m2 = vc_idx(v, i++);
            static const char *const pk[] = {"name",   "duration",    "rate",  "rateTo",
                                             "warmup", "concurrency", "think", NULL};
            if (!cJSON_IsObject(p))
                rc = vc_fail(v, "must be an object");
            if (!rc)
                rc = check_keys(v, p, pk);
            if (!rc)
                rc = get_str(v, p, "name", 0, NULL);
            if (!rc)
                rc = get_duration(v, p, "duration", 1, NULL);
            if (!rc)
                rc = get_num(v, p, "rate", !closed, 0, 1e7, 0, NULL);
            if (!rc)
                rc = get_num(v, p, "rateTo", 0, 0, 1e7, 0, NULL);
            if (!rc)
                rc = get_bool(v, p, "warmup", NULL);
            if (!rc)
                rc = get_num(v, p, "concurrency", closed, 1, 4096, 1, NULL);
            if (!rc)
                rc = get_duration(v, p, "think", 0, NULL);
            vc_pop(v, m2);
            if (rc)
                break;
        }
        vc_pop(v, mark);
        if (rc)
            return rc;
    }
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(b, "requests");
    if (reqs) {
        if (!cJSON_IsArray(reqs) || cJSON_GetArraySize(reqs) == 0)
            return vc_fail_at(v, "requests", "must be a non-empty array");
        size_t mark = vc_key(v, "requests");
        int i = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, reqs)
        {
            size_t m2 = vc_idx(v, i++);
            static const char *const rk[] = {"name", "method", "path",       "headers", "body",
                                             "json", "weight", "expectBody", NULL};
            if (!cJSON_IsObject(r))
                rc = vc_fail(v, "must be an object");
            if (!rc)
                rc = check_keys(v, r, rk);
            if (!rc)
                rc = get_str(v, r, "name", 0, NULL);
            if (!rc)
                rc = get_str(v, r, "method", 0, NULL);
            if (!rc)
                rc = get_str(v, r, "path", 0, NULL);
            if (!rc)
                rc = get_str_map(v, r, "headers");
            if (!rc)
                rc = get_str(v, r, "body", 0, NULL);
            if (!rc && cJSON_GetObjectItemCaseSensitive(r, "body") &&
                cJSON_GetObjectItemCaseSensitive(r, "json"))
                rc = vc_fail(v, "give either \"body\" or \"json\", not both");
            if (!rc)
                rc = get_num(v, r, "weight", 0, 0, 1e6, 1, NULL);
            if (!rc)
                rc = get_str(v, r, "expectBody", 0, NULL);
            vc_pop(v, m2);
            if (rc)
                break;
        }
        vc_pop(v, mark);
    }
    return rc;
}

static int check_wait_body_partial(vc_t *v, const cJSON *b)
{
    static const char *const known[] = {"interval", "timeout", NULL};
    int rc = check_keys(v, b, known);
    if (!rc)
        rc = get_duration(v, b, "interval", 0, NULL);
    if (!rc)
        rc = get_duration(v, b, "timeout", 0, NULL);
    return rc;
}

/* ---- loader state ---- */

typedef struct step_src_s {
    cJSON *json; /* owned until moved into the document */
    char *where;
} step_src_t;

typedef struct loader_s {
    char *err;
    size_t errcap;
    const char *stack[SCN_MAX_INCLUDE_DEPTH + 2];
    size_t depth;
    /* merged top-level sections (owned) */
    cJSON *vars, *procs, *defaults, *gates;
    cJSON *gate_where; /* metric -> "file: $.gates.x" */
    step_src_t *steps;
    size_t nsteps, capsteps;
} loader_t;

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errcap, "%s: cannot open: %s", path, strerror(e));
        return e == ENOENT ? UV_ENOENT : UV_EACCES;
    }
    buf_t b;
    buf_init(&b, SCN_MAX_FILE_BYTES);
    char chunk[16384];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = buf_append(&b, chunk, n);
        if (rc)
            break;
    }
    int ferr = ferror(f);
    fclose(f);
    if (rc == MCP_ENOBUFS)
        snprintf(err, errcap, "%s: larger than %u bytes", path, SCN_MAX_FILE_BYTES);
    else if (ferr && !rc) {
        snprintf(err, errcap, "%s: read error", path);
        rc = UV_EIO;
    }
    if (rc) {
        buf_free(&b);
        return rc;
    }
    *out = buf_detach(&b, len);
    return *out ? 0 : MCP_ENOMEM;
}

static int parse_json(const char *file, const char *text, size_t len, cJSON **out, char *err,
                      size_t errcap)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!doc) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        int line = 1, col = 1;
        for (size_t i = 0; i < off && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        snprintf(err, errcap, "%s:%d:%d: invalid JSON near \"%.20s\"", file, line, col,
                 off < len ? text + off : "");
        return MCP_EPARSE;
    }
    /* Trailing content after the value. */
    if (end) {
        const char *p = end;
        while (p < text + len && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (p < text + len && *p) {
            int line = 1;
            for (const char *q = text; q < p; q++)
                line += *q == '\n';
            snprintf(err, errcap, "%s:%d: unexpected text after the JSON document", file, line);
            cJSON_Delete(doc);
            return MCP_EPARSE;
        }
    }
    *out = doc;
    return 0;
}

static char *path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return mcp_strdup(".");
    if (slash == path)
        return mcp_strdup("/");
    return mcp_strndup(path, (size_t)(slash - path));
}

static char *path_join(const char *dir, const char *rel)
{
    if (rel[0] == '/')
        return mcp_strdup(rel);
    return mcp_asprintf("%s/%s", dir, rel);
}

/* Merge src's members into dst (owned), src members winning; one level deep, except that
 * objects under `deep` merge recursively. */
static int merge_into(cJSON *dst, const cJSON *src, int deep)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, src)
    {
        cJSON *old = cJSON_GetObjectItemCaseSensitive(dst, c->string);
        if (deep && old && cJSON_IsObject(old) && cJSON_IsObject(c)) {
            int rc = merge_into(old, c, deep);
            if (rc)
                return rc;
            continue;
        }
        int rc = obj_put(dst, c->string, cJSON_Duplicate(c, 1));
        if (rc)
            return rc;
    }
    return 0;
}

static int add_step(loader_t *L, cJSON *json, char *where)
{
    if (L->nsteps >= SCN_MAX_STEPS) {
        cJSON_Delete(json);
        mcp_free(where);
        snprintf(L->err, L->errcap, "more than %d steps", SCN_MAX_STEPS);
        return MCP_EINVAL;
    }
    if (L->nsteps == L->capsteps) {
        size_t cap = L->capsteps ? L->capsteps * 2 : 16;
        step_src_t *s = mcp_realloc(L->steps, cap * sizeof(*s));
        if (!s) {
            cJSON_Delete(json);
            mcp_free(where);
            return MCP_ENOMEM;
        }
        L->steps = s;
        L->capsteps = cap;
    }
    L->steps[L->nsteps].json = json;
    L->steps[L->nsteps].where = where;
    L->nsteps++;
    return 0;
}

static int push_file(loader_t *L, const char *file)
{
    for (size_t i = 0; i < L->depth; i++) {
        if (strcmp(L->stack[i], file) == 0) {
            snprintf(L->err, L->errcap, "%s: include cycle (%s is already being loaded)",
                     L->stack[L->depth - 1], file);
            return MCP_EINVAL;
        }
    }
    if (L->depth > SCN_MAX_INCLUDE_DEPTH) {
        snprintf(L->err, L->errcap, "%s: includes nested deeper than %d", file,
                 SCN_MAX_INCLUDE_DEPTH);
        return MCP_EINVAL;
    }
    L->stack[L->depth++] = file;
    return 0;
}

static int load_steps_array(loader_t *L, const char *file, const char *dir, const cJSON *arr,
                            const char *root);

/* A step-level include: the file holds an array of steps or {"steps": [...]}. */
static int load_step_include(loader_t *L, vc_t *v, const char *dir, const char *rel)
{
    char *file = path_join(dir, rel);
    if (!file)
        return MCP_ENOMEM;
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(file, &text, &len, L->err, L->errcap);
    if (rc) {
        char inner[400];
        snprintf(inner, sizeof(inner), "%s", L->err);
        vc_fail(v, "include: %s", inner);
        mcp_free(file);
        return rc;
    }
    cJSON *doc = NULL;
    rc = parse_json(file, text, len, &doc, L->err, L->errcap);
    mcp_free(text);
    if (rc) {
        mcp_free(file);
        return rc;
    }
    rc = push_file(L, file);
    if (rc) {
        cJSON_Delete(doc);
        mcp_free(file);
        return rc;
    }
    vc_t fv;
    vc_init(&fv, file, "$", L->err, L->errcap);
    rc = check_dupes(&fv, doc, 0);
    const cJSON *arr = doc;
    const char *root = "$";
    if (!rc && cJSON_IsObject(doc)) {
        static const char *const known[] = {"$schema", "description", "steps", NULL};
        rc = check_keys(&fv, doc, known);
        arr = cJSON_GetObjectItemCaseSensitive(doc, "steps");
        root = "$.steps";
    }
    if (!rc && !cJSON_IsArray(arr))
        rc = vc_fail(&fv, "a step include holds an array of steps or {\"steps\": [...]}");
    if (!rc) {
        char *fdir = path_dirname(file);
        rc = fdir ? load_steps_array(L, file, fdir, arr, root) : MCP_ENOMEM;
        mcp_free(fdir);
    }
    L->depth--;
    cJSON_Delete(doc);
    mcp_free(file);
    return rc;
}

static int load_steps_array(loader_t *L, const char *file, const char *dir, const cJSON *arr,
                            const char *root)
{
    int i = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, arr)
    {
        vc_t v;
        vc_init(&v, file, root, L->err, L->errcap);
        vc_idx(&v, i);
        int rc = 0;
        if (!cJSON_IsObject(s))
            return vc_fail(&v, "a step must be an object");
        const cJSON *inc = cJSON_GetObjectItemCaseSensitive(s, "include");
        if (inc) {
            static const char *const known[] = {"include", NULL};
            rc = check_keys(&v, s, known);
            if (!rc && !cJSON_IsString(inc))
                rc = vc_fail_at(&v, "include", "must be a file name");
            if (!rc)
                rc = load_step_include(L, &v, dir, inc->valuestring);
            if (rc)
                return rc;
        } else {
            cJSON *copy = cJSON_Duplicate(s, 1);
            char *where = mcp_asprintf("%s: %s", file, v.path);
            if (!copy || !where) {
                cJSON_Delete(copy);
                mcp_free(where);
                return MCP_ENOMEM;
            }
            rc = add_step(L, copy, where);
            if (rc)
                return rc;
        }
        i++;
    }
    return 0;
}

/* ---- top-level sections, validated per file ---- */

static int check_process(vc_t *v, const cJSON *p)
{
    if (!cJSON_IsObject(p))
        return vc_fail(v, "a process must be an object");
    const char *type = NULL;
    int rc = get_str(v, p, "type", 1, &type);
    if (rc)
        return rc;
    if (strcmp(type, "mock") == 0) {
        static const char *const known[] = {"type", "kind",   "transport",    "faults", "args",
                                            "env",  "binary", "readyTimeout", "start",  NULL};
        const char *tr = NULL;
        rc = check_keys(v, p, known);
        if (!rc)
            rc = get_str(v, p, "kind", 1, NULL);
        if (!rc)
            rc = get_str(v, p, "transport", 0, &tr);
        if (!rc && tr && strcmp(tr, "stdio") && strcmp(tr, "http") && strcmp(tr, "sse"))
            rc = vc_fail_at(v, "transport", "must be one of stdio, http, sse");
        const cJSON *f;
        if (!rc && (f = cJSON_GetObjectItemCaseSensitive(p, "faults")) && !cJSON_IsArray(f) &&
            !cJSON_IsObject(f))
            rc = vc_fail_at(v, "faults",
                            "must be an array of fault rules or {\"seed\": N, \"rules\": [...]} "
                            "(mocks/faults.h)");
    } else if (strcmp(type, "gateway") == 0) {
        static const char *const known[] = {"type",      "config",       "args",  "env", "binary",
                                            "readyPath", "readyTimeout", "start", NULL};
        rc = check_keys(v, p, known);
        if (!rc)
            rc = get_obj(v, p, "config", 1, NULL);
        if (!rc)
            rc = get_str(v, p, "readyPath", 0, NULL);
    } else if (strcmp(type, "command") == 0) {
        static const char *const known[] = {"type", "command", "args",         "env",   "port",
                                            "url",  "ready",   "readyTimeout", "start", NULL};
        rc = check_keys(v, p, known);
        if (!rc)
            rc = get_str(v, p, "command", 1, NULL);
        if (!rc)
            rc = get_bool(v, p, "port", NULL);
        if (!rc)
            rc = get_str(v, p, "url", 0, NULL);
        const cJSON *r = NULL;
        if (!rc)
            rc = get_obj(v, p, "ready", 0, &r);
        if (!rc && r) {
            static const char *const rk[] = {"http", "file", "stdout", "stderr", NULL};
            size_t mark = vc_key(v, "ready");
            rc = check_keys(v, r, rk);
            int n = 0;
            for (const char *const *k = rk; !rc && *k; k++) {
                const char *val = NULL;
                rc = get_str(v, r, *k, 0, &val);
                n += val != NULL;
                if (!rc && val && (strcmp(*k, "stdout") == 0 || strcmp(*k, "stderr") == 0)) {
                    cJSON *m = cJSON_CreateObject();
                    if (!m || !cJSON_AddStringToObject(m, "regex", val)) {
                        cJSON_Delete(m);
                        rc = MCP_ENOMEM;
                        break;
                    }
                    size_t m2 = vc_key(v, *k);
                    rc = check_matcher(v, m);
                    vc_pop(v, m2);
                    cJSON_Delete(m);
                }
            }
            if (!rc && n != 1)
                rc = vc_fail(v, "needs exactly one of http, file, stdout, stderr");
            vc_pop(v, mark);
        }
    } else {
        return vc_fail_at(v, "type", "must be one of mock, gateway, command");
    }
    if (!rc)
        rc = get_str_array(v, p, "args");
    if (!rc)
        rc = get_str_map(v, p, "env");
    if (!rc)
        rc = get_str(v, p, "binary", 0, NULL);
    if (!rc)
        rc = get_duration(v, p, "readyTimeout", 0, NULL);
    if (!rc)
        rc = get_bool(v, p, "start", NULL);
    return rc;
}

static int check_gates(vc_t *v, const cJSON *gates)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, gates)
    {
        size_t mark = vc_key(v, g->string);
        int rc = 0;
        if (!cJSON_IsArray(g)) {
            rc = vc_fail(v, "must be an array of thresholds, e.g. [\"p(99)<2ms\", \"errors==0\"]");
        } else {
            int i = 0;
            const cJSON *t;
            cJSON_ArrayForEach(t, g)
            {
                size_t m2 = vc_idx(v, i++);
                const char *text = NULL;
                if (cJSON_IsString(t)) {
                    text = t->valuestring;
                } else if (cJSON_IsObject(t)) {
                    static const char *const known[] = {"threshold", "abortOnFail",
                                                        "delayAbortEval", NULL};
                    rc = check_keys(v, t, known);
                    if (!rc)
                        rc = get_str(v, t, "threshold", 1, &text);
                    if (!rc)
                        rc = get_bool(v, t, "abortOnFail", NULL);
                    if (!rc)
                        rc = get_duration(v, t, "delayAbortEval", 0, NULL);
                } else {
                    rc = vc_fail(v, "must be a threshold string or {\"threshold\": ..., "
                                    "\"abortOnFail\": true}");
                }
                if (!rc && text) {
                    gate_expr_t e;
                    char err[300];
                    if (gate_parse(text, &e, err, sizeof(err)))
                        rc = vc_fail(v, "%s", err);
                }
                vc_pop(v, m2);
                if (rc)
                    break;
            }
        }
        vc_pop(v, mark);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_defaults(vc_t *v, const cJSON *d)
{
    static const char *const known[] = {
        "timeout", "continueOnFailure", "http", "mcp", "chat", "wait", "load", NULL};
    int rc = check_keys(v, d, known);
    if (!rc)
        rc = get_duration(v, d, "timeout", 0, NULL);
    if (!rc)
        rc = get_bool(v, d, "continueOnFailure", NULL);
    static const char *const kinds[] = {"http", "mcp", "chat", "wait", "load"};
    for (size_t i = 0; !rc && i < 5; i++) {
        const cJSON *b = NULL;
        rc = get_obj(v, d, kinds[i], 0, &b);
        if (rc || !b)
            continue;
        size_t mark = vc_key(v, kinds[i]);
        switch (i) {
        case 0: rc = check_http_body(v, b, 1); break;
        case 1: rc = check_mcp_body(v, b, 1); break;
        case 2: rc = check_chat_body(v, b, 1); break;
        case 3: rc = check_wait_body_partial(v, b); break;
        case 4: rc = check_load_body(v, b, 1); break;
        }
        vc_pop(v, mark);
    }
    return rc;
}

static int load_fragment(loader_t *L, const char *file, int is_main, const char *text, size_t len,
                         cJSON **main_doc);

static int load_include_file(loader_t *L, vc_t *v, const char *dir, const char *rel)
{
    char *file = path_join(dir, rel);
    if (!file)
        return MCP_ENOMEM;
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(file, &text, &len, L->err, L->errcap);
    if (rc) {
        char inner[400];
        snprintf(inner, sizeof(inner), "%s", L->err);
        vc_fail(v, "%s", inner);
    } else {
        rc = load_fragment(L, file, 0, text, len, NULL);
    }
    mcp_free(text);
    mcp_free(file);
    return rc;
}

/* Load one file (the scenario or a top-level include) and merge its sections into L. Includes
 * are merged first, so the including file overrides what it includes. */
static int load_fragment(loader_t *L, const char *file, int is_main, const char *text, size_t len,
                         cJSON **main_doc)
{
    cJSON *doc = NULL;
    int rc = parse_json(file, text, len, &doc, L->err, L->errcap);
    if (rc)
        return rc;
    rc = push_file(L, file);
    if (rc) {
        cJSON_Delete(doc);
        return rc;
    }
    vc_t v;
    vc_init(&v, file, "$", L->err, L->errcap);
    char *dir = path_dirname(file);
    if (!dir) {
        rc = MCP_ENOMEM;
        goto out;
    }
    if (!cJSON_IsObject(doc)) {
        rc = vc_fail(&v, is_main ? "a scenario is a JSON object" : "an include is a JSON object");
        goto out;
    }
    rc = check_dupes(&v, doc, 0);
    if (rc)
        goto out;
    if (is_main) {
        static const char *const known[] = {
            "$schema",  "name", "description", "include",  "requires", "seed",  "timeout",
            "failFast", "vars", "processes",   "defaults", "steps",    "gates", NULL};
        rc = check_keys(&v, doc, known);
    } else {
        static const char *const known[] = {"$schema",   "description", "include", "vars",
                                            "processes", "defaults",    "gates",   NULL};
        rc = check_keys(&v, doc, known);
    }
    if (rc)
        goto out;
    /* includes first */
    const cJSON *inc = cJSON_GetObjectItemCaseSensitive(doc, "include");
    if (inc) {
        if (cJSON_IsString(inc)) {
            size_t mark = vc_key(&v, "include");
            rc = load_include_file(L, &v, dir, inc->valuestring);
            vc_pop(&v, mark);
        } else if (cJSON_IsArray(inc)) {
            size_t mark = vc_key(&v, "include");
            int i = 0;
            const cJSON *c;
            cJSON_ArrayForEach(c, inc)
            {
                size_t m2 = vc_idx(&v, i++);
                if (!cJSON_IsString(c))
                    rc = vc_fail(&v, "must be a file name");
                else
                    rc = load_include_file(L, &v, dir, c->valuestring);
                vc_pop(&v, m2);
                if (rc)
                    break;
            }
            vc_pop(&v, mark);
        } else {
            rc = vc_fail_at(&v, "include", "must be a file name or an array of file names");
        }
        if (rc)
            goto out;
    }
    /* vars */
    const cJSON *vars = NULL;
    rc = get_obj(&v, doc, "vars", 0, &vars);
    if (rc)
        goto out;
    if (vars) {
        const cJSON *c;
        cJSON_ArrayForEach(c, vars)
        {
            if (!vars_name_valid(c->string)) {
                size_t mark = vc_key(&v, "vars");
                rc = vc_fail_at(&v, c->string, "a variable name is [A-Za-z_][A-Za-z0-9_.-]*");
                vc_pop(&v, mark);
                goto out;
            }
        }
        rc = merge_into(L->vars, vars, 0);
        if (rc)
            goto out;
    }
    /* processes */
    const cJSON *procs = NULL;
    rc = get_obj(&v, doc, "processes", 0, &procs);
    if (rc)
        goto out;
    if (procs) {
        size_t mark = vc_key(&v, "processes");
        const cJSON *c;
        cJSON_ArrayForEach(c, procs)
        {
            size_t m2 = vc_key(&v, c->string);
            if (!valid_proc_name(c->string))
                rc = vc_fail(&v, "a process name is [A-Za-z_][A-Za-z0-9_-]* (no dots)");
            else
                rc = check_process(&v, c);
            vc_pop(&v, m2);
            if (rc)
                break;
        }
        vc_pop(&v, mark);
        if (rc)
            goto out;
        rc = merge_into(L->procs, procs, 0);
        if (rc)
            goto out;
    }
    /* defaults */
    const cJSON *defs = NULL;
    rc = get_obj(&v, doc, "defaults", 0, &defs);
    if (rc)
        goto out;
    if (defs) {
        size_t mark = vc_key(&v, "defaults");
        rc = check_defaults(&v, defs);
        vc_pop(&v, mark);
        if (rc)
            goto out;
        rc = merge_into(L->defaults, defs, 1);
        if (rc)
            goto out;
    }
    /* gates */
    const cJSON *gates = NULL;
    rc = get_obj(&v, doc, "gates", 0, &gates);
    if (rc)
        goto out;
    if (gates) {
        size_t mark = vc_key(&v, "gates");
        rc = check_gates(&v, gates);
        if (!rc) {
            const cJSON *g;
            cJSON_ArrayForEach(g, gates)
            {
                size_t m2 = vc_key(&v, g->string);
                char *w = mcp_asprintf("%s: %s", file, v.path);
                vc_pop(&v, m2);
                cJSON *ws = w ? cJSON_CreateString(w) : NULL;
                mcp_free(w);
                rc = obj_put(L->gate_where, g->string, ws);
                if (rc)
                    break;
            }
        }
        vc_pop(&v, mark);
        if (!rc)
            rc = merge_into(L->gates, gates, 0);
        if (rc)
            goto out;
    }
    if (is_main) {
        const cJSON *steps = cJSON_GetObjectItemCaseSensitive(doc, "steps");
        if (!steps) {
            rc = vc_fail_at(&v, "steps", "required (an array of steps)");
            goto out;
        }
        if (!cJSON_IsArray(steps)) {
            rc = vc_fail_at(&v, "steps", "must be an array of steps");
            goto out;
        }
        rc = load_steps_array(L, file, dir, steps, "$.steps");
        if (rc)
            goto out;
        *main_doc = doc;
        doc = NULL;
    }
out:
    L->depth--;
    mcp_free(dir);
    cJSON_Delete(doc);
    return rc;
}

/* ---- defaults and step validation ---- */

static const char *const step_common_keys[] = {
    "name", "timeout", "histogram", "capture", "expect", "continueOnFailure", "description", NULL};

static int step_kind_of(vc_t *v, const cJSON *s, scn_step_kind_t *kind)
{
    int found = -1;
    for (int k = 0; k < SCN_STEP_KIND_COUNT_; k++) {
        if (cJSON_GetObjectItemCaseSensitive(s, step_kind_names[k])) {
            if (found >= 0)
                return vc_fail(v,
                               "a step has exactly one kind, but this one has both \"%s\" and "
                               "\"%s\"",
                               step_kind_names[found], step_kind_names[k]);
            found = k;
        }
    }
    if (found < 0)
        return vc_fail(v, "a step needs one of: http, mcp, chat, wait, sleep, kill, stop, "
                          "continue, restart, start, terminate, signal, faults, load, include");
    *kind = (scn_step_kind_t)found;
    /* unknown keys: the common ones plus the kind key */
    const cJSON *c;
    cJSON_ArrayForEach(c, s)
    {
        int ok = strcmp(c->string, step_kind_names[found]) == 0;
        for (const char *const *k = step_common_keys; !ok && *k; k++)
            ok = strcmp(*k, c->string) == 0;
        if (!ok)
            return vc_fail_at(v, c->string,
                              "unknown key (a step has name, timeout, histogram, capture, expect, "
                              "continueOnFailure, description and one kind key)");
    }
    return 0;
}

/* Merge defaults.<kind> under the step's body and defaults.timeout/continueOnFailure. */
static int apply_defaults(cJSON *step, const cJSON *defs, scn_step_kind_t kind)
{
    if (!defs)
        return 0;
    const char *kname = step_kind_names[kind];
    const cJSON *kd = cJSON_GetObjectItemCaseSensitive(defs, kname);
    cJSON *body = cJSON_GetObjectItemCaseSensitive(step, kname);
    if (kd && cJSON_IsObject(body) && kind != SCN_STEP_WAIT) {
        const cJSON *c;
        cJSON_ArrayForEach(c, kd)
        {
            cJSON *have = cJSON_GetObjectItemCaseSensitive(body, c->string);
            if (have && cJSON_IsObject(have) && cJSON_IsObject(c) &&
                strcmp(c->string, "headers") == 0) {
                /* headers: defaults under the step's own */
                const cJSON *h;
                cJSON_ArrayForEach(h, c)
                {
                    if (!cJSON_GetObjectItemCaseSensitive(have, h->string)) {
                        int rc = obj_put(have, h->string, cJSON_Duplicate(h, 1));
                        if (rc)
                            return rc;
                    }
                }
                continue;
            }
            if (have)
                continue;
            /* the target/url pair: a step giving one of them does not inherit the other */
            if ((strcmp(c->string, "target") == 0 &&
                 cJSON_GetObjectItemCaseSensitive(body, "url")) ||
                (strcmp(c->string, "url") == 0 && cJSON_GetObjectItemCaseSensitive(body, "target")))
                continue;
            /* http body/json are exclusive too */
            if ((strcmp(c->string, "body") == 0 &&
                 cJSON_GetObjectItemCaseSensitive(body, "json")) ||
                (strcmp(c->string, "json") == 0 && cJSON_GetObjectItemCaseSensitive(body, "body")))
                continue;
            int rc = obj_put(body, c->string, cJSON_Duplicate(c, 1));
            if (rc)
                return rc;
        }
    }
    if (kind == SCN_STEP_WAIT && cJSON_IsObject(body)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, kd)
        {
            if (!cJSON_GetObjectItemCaseSensitive(body, c->string)) {
                int rc = obj_put(body, c->string, cJSON_Duplicate(c, 1));
                if (rc)
                    return rc;
            }
        }
        cJSON *inner = cJSON_GetObjectItemCaseSensitive(body, "step");
        if (cJSON_IsObject(inner)) {
            for (int k = 0; k < SCN_STEP_KIND_COUNT_; k++) {
                if (k != SCN_STEP_WAIT &&
                    cJSON_GetObjectItemCaseSensitive(inner, step_kind_names[k])) {
                    int rc = apply_defaults(inner, defs, (scn_step_kind_t)k);
                    if (rc)
                        return rc;
                    break;
                }
            }
        }
    }
    static const char *const common[] = {"timeout", "continueOnFailure"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(defs, common[i]);
        if (d && !cJSON_GetObjectItemCaseSensitive(step, common[i]) &&
            (kind == SCN_STEP_HTTP || kind == SCN_STEP_MCP || kind == SCN_STEP_CHAT || i == 1)) {
            int rc = obj_put(step, common[i], cJSON_Duplicate(d, 1));
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int lookup_proc(const cJSON *procs, const char *name, const char **type)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(procs, name);
    if (!p)
        return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
    *type = cJSON_IsString(t) ? t->valuestring : "";
    return 1;
}

static int check_proc_ref(vc_t *v, const cJSON *procs, const char *key, const char *name,
                          const char *want_type)
{
    const char *type = NULL;
    if (strstr(name, "${"))
        return 0;
    if (!lookup_proc(procs, name, &type))
        return vc_fail_at(v, key, "no process named \"%s\" is declared", name);
    if (want_type && strcmp(type, want_type) != 0)
        return vc_fail_at(v, key, "process \"%s\" is a %s, not a %s", name, type, want_type);
    return 0;
}

/* load.schedule: [{"at": DURATION, ACTION: ...}], ACTION one of the process actions. */
static int check_schedule(vc_t *v, const cJSON *sched, const cJSON *procs)
{
    if (!cJSON_IsArray(sched))
        return vc_fail(v, "must be an array of {\"at\": \"2s\", \"kill\": \"name\"} entries");
    static const char *const actions[] = {"kill",      "stop",   "continue", "restart", "start",
                                          "terminate", "signal", "faults",   NULL};
    int i = 0, rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sched)
    {
        size_t mark = vc_idx(v, i++);
        if (!cJSON_IsObject(e)) {
            rc = vc_fail(v, "must be an object");
        } else {
            const char *act = NULL;
            const cJSON *c;
            cJSON_ArrayForEach(c, e)
            {
                if (strcmp(c->string, "at") == 0)
                    continue;
                int known = 0;
                for (const char *const *a = actions; *a; a++)
                    known |= strcmp(*a, c->string) == 0;
                if (!known) {
                    rc = vc_fail_at(v, c->string,
                                    "unknown key (an entry has \"at\" and one of kill, stop, "
                                    "continue, restart, start, terminate, signal, faults)");
                    break;
                }
                if (act) {
                    rc = vc_fail(v, "an entry has one action, this one has \"%s\" and \"%s\"", act,
                                 c->string);
                    break;
                }
                act = c->string;
            }
            if (!rc && !act)
                rc = vc_fail(v, "needs an action: kill, stop, continue, restart, start, "
                                "terminate, signal or faults");
            if (!rc)
                rc = get_duration(v, e, "at", 1, NULL);
            if (!rc) {
                const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, act);
                const char *proc = NULL;
                if (strcmp(act, "signal") == 0 || strcmp(act, "faults") == 0) {
                    size_t m2 = vc_key(v, act);
                    if (!cJSON_IsObject(a))
                        rc = vc_fail(v, "must be an object with \"process\"");
                    else
                        rc = get_str(v, a, "process", 1, &proc);
                    if (!rc && strcmp(act, "signal") == 0 &&
                        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(a, "signal")) &&
                        !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(a, "signal")))
                        rc = vc_fail_at(v, "signal", "required: a signal name or number");
                    if (!rc && strcmp(act, "faults") == 0 &&
                        !cJSON_GetObjectItemCaseSensitive(a, "rules"))
                        rc = vc_fail_at(v, "rules", "required");
                    if (!rc)
                        rc = check_proc_ref(v, procs, "process", proc,
                                            strcmp(act, "faults") == 0 ? "mock" : NULL);
                    vc_pop(v, m2);
                } else if (!cJSON_IsString(a)) {
                    rc = vc_fail_at(v, act, "must be a process name");
                } else {
                    rc = check_proc_ref(v, procs, act, a->valuestring, NULL);
                }
            }
        }
        vc_pop(v, mark);
        if (rc)
            break;
    }
    return rc;
}

static int build_step(vc_t *v, cJSON *s, const cJSON *procs, int index, int nested,
                      scn_step_t *out);

static void step_free_fields(scn_step_t *st)
{
    mcp_free(st->name);
    mcp_free(st->where);
    if (st->inner) {
        step_free_fields(st->inner);
        mcp_free(st->inner);
    }
}

static int build_step(vc_t *v, cJSON *s, const cJSON *procs, int index, int nested, scn_step_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(s))
        return vc_fail(v, "a step must be an object");
    scn_step_kind_t kind;
    int rc = step_kind_of(v, s, &kind);
    if (rc)
        return rc;
    out->kind = kind;
    out->json = s;
    out->body = cJSON_GetObjectItemCaseSensitive(s, step_kind_names[kind]);
    const char *name = NULL;
    rc = get_str(v, s, "name", 0, &name);
    if (!rc)
        rc = get_str(v, s, "description", 0, NULL);
    if (!rc)
        rc = get_bool(v, s, "continueOnFailure", &out->continue_on_failure);
    if (!rc)
        rc = get_str(v, s, "histogram", 0, &out->histogram);
    if (!rc && out->histogram && !*out->histogram)
        rc = vc_fail_at(v, "histogram", "must not be empty");
    out->timeout_ns = 30ULL * 1000000000ULL;
    if (!rc)
        rc = get_duration(v, s, "timeout", 0, &out->timeout_ns);
    if (!rc && out->timeout_ns == 0)
        rc = vc_fail_at(v, "timeout", "must be more than 0");
    if (rc)
        return rc;
    if (name)
        out->name = mcp_strdup(name);
    else
        out->name = mcp_asprintf("%s #%d", step_kind_names[kind], index + 1);
    if (!out->name)
        return MCP_ENOMEM;

    const cJSON *b = out->body;
    size_t mark = vc_key(v, step_kind_names[kind]);
    switch (kind) {
    case SCN_STEP_HTTP:
        if (!cJSON_IsObject(b))
            rc = vc_fail(v, "must be an object");
        else
            rc = check_http_body(v, b, 0);
        break;
    case SCN_STEP_MCP:
        if (!cJSON_IsObject(b)) {
            rc = vc_fail(v, "must be an object");
        } else {
            rc = check_mcp_body(v, b, 0);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "target");
            if (!rc && cJSON_IsString(t))
                rc = check_proc_ref(v, procs, "target", t->valuestring, NULL);
        }
        break;
    case SCN_STEP_CHAT:
        if (!cJSON_IsObject(b)) {
            rc = vc_fail(v, "must be an object");
        } else {
            rc = check_chat_body(v, b, 0);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "target");
            if (!rc && cJSON_IsString(t))
                rc = check_proc_ref(v, procs, "target", t->valuestring, NULL);
        }
        break;
    case SCN_STEP_LOAD:
        if (!cJSON_IsObject(b)) {
            rc = vc_fail(v, "must be an object");
        } else {
            rc = check_load_body(v, b, 0);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "target");
            if (!rc && cJSON_IsString(t))
                rc = check_proc_ref(v, procs, "target", t->valuestring, NULL);
            const cJSON *sched = cJSON_GetObjectItemCaseSensitive(b, "schedule");
            if (!rc && sched) {
                size_t m2 = vc_key(v, "schedule");
                rc = check_schedule(v, sched, procs);
                vc_pop(v, m2);
            }
            if (!rc && !cJSON_GetObjectItemCaseSensitive(s, "timeout")) {
                /* the phases plus a margin for the in-flight requests */
                uint64_t total = 0;
                const cJSON *p;
                cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(b, "phases"))
                {
                    uint64_t d = 0;
                    if (scn_parse_duration(cJSON_GetObjectItemCaseSensitive(p, "duration"), &d) ==
                        0)
                        total += d;
                    else
                        total += 3600ULL * 1000000000ULL; /* "${...}": checked at run time */
                }
                out->timeout_ns = total + 30ULL * 1000000000ULL;
            }
        }
        break;
    case SCN_STEP_SLEEP: {
        uint64_t d;
        if (!has_ref(b) && scn_parse_duration(b, &d))
            rc = vc_fail(v, "must be a duration such as \"500ms\" or \"2s\"");
        else if (!cJSON_GetObjectItemCaseSensitive(s, "timeout") && !has_ref(b))
            out->timeout_ns = d + 30ULL * 1000000000ULL;
        break;
    }
    case SCN_STEP_KILL:
    case SCN_STEP_STOP:
    case SCN_STEP_CONTINUE:
    case SCN_STEP_RESTART:
    case SCN_STEP_START:
    case SCN_STEP_TERMINATE:
        if (!cJSON_IsString(b)) {
            rc = vc_fail(v, "must be a process name");
        } else {
            vc_pop(v, mark);
            rc = check_proc_ref(v, procs, step_kind_names[kind], b->valuestring, NULL);
            mark = v->plen;
            out->process = b->valuestring;
        }
        break;
    case SCN_STEP_SIGNAL:
        if (!cJSON_IsObject(b)) {
            rc = vc_fail(v, "must be {\"process\": NAME, \"signal\": \"HUP\"}");
        } else {
            static const char *const known[] = {"process", "signal", NULL};
            rc = check_keys(v, b, known);
            if (!rc)
                rc = get_str(v, b, "process", 1, &out->process);
            if (!rc)
                rc = check_proc_ref(v, procs, "process", out->process, NULL);
            const cJSON *sig = cJSON_GetObjectItemCaseSensitive(b, "signal");
            if (!rc && !cJSON_IsString(sig) && !cJSON_IsNumber(sig))
                rc = vc_fail_at(v, "signal",
                                "required: a signal name (\"HUP\", \"SIGUSR1\") or "
                                "number");
        }
        break;
    case SCN_STEP_FAULTS:
        if (!cJSON_IsObject(b)) {
            rc = vc_fail(v, "must be {\"process\": NAME, \"rules\": [...]}");
        } else {
            static const char *const known[] = {"process", "rules", NULL};
            rc = check_keys(v, b, known);
            if (!rc)
                rc = get_str(v, b, "process", 1, &out->process);
            if (!rc)
                rc = check_proc_ref(v, procs, "process", out->process, "mock");
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(b, "rules");
            if (!rc && (!r || (!cJSON_IsArray(r) && !cJSON_IsObject(r) && !cJSON_IsNull(r))))
                rc = vc_fail_at(v, "rules",
                                "required: an array of fault rules, {\"seed\", \"rules\"}, or "
                                "[] / null to clear them");
        }
        break;
    case SCN_STEP_WAIT:
        if (nested) {
            rc = vc_fail(v, "a wait cannot poll another wait");
        } else if (!cJSON_IsObject(b)) {
            rc = vc_fail(v, "must be {\"step\": {...}, \"interval\": \"100ms\", \"timeout\": "
                            "\"10s\"} or {\"process\": NAME, \"state\": \"exited\"}");
        } else {
            static const char *const known[] = {"step",    "interval", "timeout",
                                                "process", "state",    NULL};
            rc = check_keys(v, b, known);
            uint64_t wt = 10ULL * 1000000000ULL;
            out->wait_interval_ns = 100ULL * 1000000ULL;
            if (!rc)
                rc = get_duration(v, b, "interval", 0, &out->wait_interval_ns);
            if (!rc)
                rc = get_duration(v, b, "timeout", 0, &wt);
            if (!rc && !cJSON_GetObjectItemCaseSensitive(s, "timeout"))
                out->timeout_ns = wt + 5ULL * 1000000000ULL;
            cJSON *inner = cJSON_GetObjectItemCaseSensitive((cJSON *)b, "step");
            const cJSON *proc = cJSON_GetObjectItemCaseSensitive(b, "process");
            if (!rc && !!inner == !!proc)
                rc = vc_fail(v, "needs exactly one of \"step\" or \"process\"");
            if (!rc && proc) {
                const char *state = NULL;
                rc = get_str(v, b, "process", 1, &out->process);
                if (!rc)
                    rc = check_proc_ref(v, procs, "process", out->process, NULL);
                if (!rc)
                    rc = get_str(v, b, "state", 1, &state);
                if (!rc && strcmp(state, "exited") && strcmp(state, "running"))
                    rc = vc_fail_at(v, "state", "must be \"exited\" or \"running\"");
            }
            if (!rc && inner) {
                out->inner = mcp_calloc(1, sizeof(*out->inner));
                if (!out->inner) {
                    rc = MCP_ENOMEM;
                } else {
                    size_t m2 = vc_key(v, "step");
                    rc = build_step(v, inner, procs, 0, 1, out->inner);
                    vc_pop(v, m2);
                    if (!rc && !cJSON_GetObjectItemCaseSensitive(inner, "name")) {
                        mcp_free(out->inner->name);
                        out->inner->name = mcp_strdup(out->name);
                        if (!out->inner->name)
                            rc = MCP_ENOMEM;
                    }
                    if (!rc &&
                        (out->inner->kind == SCN_STEP_LOAD || out->inner->kind == SCN_STEP_SLEEP))
                        rc = vc_fail_at(v, "step", "a wait polls a request (http, mcp, chat)");
                }
            }
        }
        break;
    case SCN_STEP_KIND_COUNT_: break;
    }
    vc_pop(v, mark);
    if (!rc)
        rc = check_expect(v, s, kind);
    if (!rc && cJSON_GetObjectItemCaseSensitive(s, "capture") && kind != SCN_STEP_HTTP &&
        kind != SCN_STEP_MCP && kind != SCN_STEP_CHAT && kind != SCN_STEP_WAIT)
        rc = vc_fail_at(v, "capture", "only http, mcp, chat and wait steps capture values");
    if (!rc)
        rc = check_capture(v, s, kind == SCN_STEP_WAIT && out->inner ? out->inner->kind : kind);
    if (!rc && kind == SCN_STEP_WAIT && cJSON_GetObjectItemCaseSensitive(s, "expect"))
        rc = vc_fail_at(v, "expect", "put the expectation inside wait.step");
    return rc;
}

/* ---- the whole scenario ---- */

void scenario_free(scenario_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nsteps; i++)
        step_free_fields(&s->steps[i]);
    mcp_free(s->steps);
    for (size_t i = 0; i < s->ngates; i++) {
        mcp_free(s->gates[i].metric);
        mcp_free(s->gates[i].where);
    }
    mcp_free(s->gates);
    mcp_free(s->procs);
    mcp_free(s->name);
    mcp_free(s->file);
    mcp_free(s->dir);
    mcp_free(s->description);
    cJSON_Delete(s->doc);
    mcp_free(s);
}

const scn_process_t *scenario_process(const scenario_t *s, const char *name)
{
    for (size_t i = 0; i < s->nprocs; i++)
        if (strcmp(s->procs[i].name, name) == 0)
            return &s->procs[i];
    return NULL;
}

static void loader_free(loader_t *L)
{
    cJSON_Delete(L->vars);
    cJSON_Delete(L->procs);
    cJSON_Delete(L->defaults);
    cJSON_Delete(L->gates);
    cJSON_Delete(L->gate_where);
    for (size_t i = 0; i < L->nsteps; i++) {
        cJSON_Delete(L->steps[i].json);
        mcp_free(L->steps[i].where);
    }
    mcp_free(L->steps);
}

static char *base_name_no_ext(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && strcmp(b + n - 5, ".json") == 0)
        n -= 5;
    return mcp_strndup(b, n);
}

/* Replace (or add) doc[key] with value (taken). */
static int doc_set(cJSON *doc, const char *key, cJSON *value)
{
    return obj_put(doc, key, value);
}

static int finish(loader_t *L, scenario_t *s, cJSON *doc)
{
    int rc;
    vc_t v;
    vc_init(&v, s->file, "$", L->err, L->errcap);
    s->doc = doc;
    /* top-level scalars */
    const char *name = NULL, *desc = NULL;
    if ((rc = get_str(&v, doc, "name", 0, &name)) ||
        (rc = get_str(&v, doc, "description", 0, &desc)))
        return rc;
    if (name && !*name)
        return vc_fail_at(&v, "name", "must not be empty");
    s->name = name ? mcp_strdup(name) : base_name_no_ext(s->file);
    if (desc)
        s->description = mcp_strdup(desc);
    if (!s->name || (desc && !s->description))
        return MCP_ENOMEM;
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(doc, "seed");
    if (seed) {
        if (!cJSON_IsNumber(seed) || seed->valuedouble < 0 ||
            seed->valuedouble != floor(seed->valuedouble) || seed->valuedouble > 9007199254740991.0)
            return vc_fail_at(&v, "seed", "must be a non-negative integer");
        s->has_seed = 1;
        s->seed = (uint64_t)seed->valuedouble;
    }
    s->timeout_ns = 600ULL * 1000000000ULL;
    if ((rc = get_duration(&v, doc, "timeout", 0, &s->timeout_ns)))
        return rc;
    s->fail_fast = 1;
    if ((rc = get_bool(&v, doc, "failFast", &s->fail_fast)))
        return rc;
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(doc, "requires");
    if (req) {
        if (!cJSON_IsArray(req))
            return vc_fail_at(&v, "requires", "must be an array, e.g. [\"local-processes\"]");
        const cJSON *c;
        int i = 0;
        cJSON_ArrayForEach(c, req)
        {
            if (!cJSON_IsString(c) || strcmp(c->valuestring, "local-processes") != 0) {
                size_t mark = vc_key(&v, "requires");
                vc_idx(&v, i);
                rc = vc_fail(&v, "unknown requirement (known: \"local-processes\")");
                vc_pop(&v, mark);
                return rc;
            }
            s->requires_local = 1;
            i++;
        }
    }

    /* Put the merged sections into the resolved document. */
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "include");
    if (cJSON_GetArraySize(L->vars) > 0) {
        rc = doc_set(doc, "vars", L->vars);
        L->vars = NULL;
        if (rc)
            return rc;
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(doc, "vars");
    }
    rc = doc_set(doc, "processes", L->procs);
    L->procs = NULL;
    if (rc)
        return rc;
    if (cJSON_GetArraySize(L->gates) > 0) {
        rc = doc_set(doc, "gates", L->gates);
        L->gates = NULL;
        if (rc)
            return rc;
    }
    const cJSON *defs = L->defaults;
    cJSON *steps = cJSON_CreateArray();
    if (!steps)
        return MCP_ENOMEM;
    rc = doc_set(doc, "steps", steps);
    if (rc)
        return rc;
    s->vars = cJSON_GetObjectItemCaseSensitive(doc, "vars");
    const cJSON *procs = cJSON_GetObjectItemCaseSensitive(doc, "processes");

    /* processes */
    s->nprocs = (size_t)cJSON_GetArraySize(procs);
    if (s->nprocs) {
        s->procs = mcp_calloc(s->nprocs, sizeof(*s->procs));
        if (!s->procs)
            return MCP_ENOMEM;
    }
    size_t pi = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, procs)
    {
        scn_process_t *sp = &s->procs[pi++];
        sp->name = p->string;
        sp->spec = p;
        const char *type = cJSON_GetObjectItemCaseSensitive(p, "type")->valuestring;
        sp->type = strcmp(type, "mock") == 0      ? SCN_PROC_MOCK
                   : strcmp(type, "gateway") == 0 ? SCN_PROC_GATEWAY
                                                  : SCN_PROC_COMMAND;
        sp->ready_timeout_ns = 10ULL * 1000000000ULL;
        scn_parse_duration(cJSON_GetObjectItemCaseSensitive(p, "readyTimeout"),
                           &sp->ready_timeout_ns);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(p, "start");
        sp->autostart = st ? cJSON_IsTrue(st) : 1;
    }

    /* steps: defaults, then validation with the original location */
    if (L->nsteps) {
        s->steps = mcp_calloc(L->nsteps, sizeof(*s->steps));
        if (!s->steps)
            return MCP_ENOMEM;
    }
    for (size_t i = 0; i < L->nsteps; i++) {
        cJSON *sj = L->steps[i].json;
        L->steps[i].json = NULL;
        cJSON_AddItemToArray(steps, sj);
        /* the where string is "file: $.steps[i]": split it for the validation context */
        const char *where = L->steps[i].where;
        const char *sep = strstr(where, ": $");
        char *file = sep ? mcp_strndup(where, (size_t)(sep - where)) : mcp_strdup(where);
        if (!file)
            return MCP_ENOMEM;
        vc_t sv;
        vc_init(&sv, file, sep ? sep + 2 : "$", L->err, L->errcap);
        if (cJSON_IsObject(sj)) {
            scn_step_kind_t kind;
            char tmp[8];
            vc_t quiet;
            vc_init(&quiet, file, "$", tmp, sizeof(tmp));
            if (step_kind_of(&quiet, sj, &kind) == 0) {
                rc = apply_defaults(sj, defs, kind);
                if (rc) {
                    mcp_free(file);
                    return rc;
                }
            }
        }
        rc = build_step(&sv, sj, procs, (int)i, 0, &s->steps[i]);
        s->nsteps = i + 1;
        if (!rc) {
            s->steps[i].where = L->steps[i].where;
            L->steps[i].where = NULL;
        }
        mcp_free(file);
        if (rc)
            return rc;
    }

    /* gates */
    size_t ng = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(doc, "gates"))
    {
        ng += (size_t)cJSON_GetArraySize(g);
    }
    if (ng) {
        s->gates = mcp_calloc(ng, sizeof(*s->gates));
        if (!s->gates)
            return MCP_ENOMEM;
    }
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(doc, "gates"))
    {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(L->gate_where, g->string);
        int i = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, g)
        {
            scn_gate_t *sg = &s->gates[s->ngates++];
            const char *text = cJSON_IsString(t)
                                   ? t->valuestring
                                   : cJSON_GetObjectItemCaseSensitive(t, "threshold")->valuestring;
            gate_parse(text, &sg->expr, NULL, 0);
            sg->abort_on_fail = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "abortOnFail"));
            scn_parse_duration(cJSON_GetObjectItemCaseSensitive(t, "delayAbortEval"),
                               &sg->delay_abort_ns);
            sg->metric = mcp_strdup(g->string);
            sg->where = mcp_asprintf("%s[%d]", w ? w->valuestring : s->file, i++);
            if (!sg->metric || !sg->where)
                return MCP_ENOMEM;
        }
    }
    /* the resolved document no longer needs defaults: they are in the steps */
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "defaults");
    return 0;
}

int scenario_load_text(const char *file, const char *text, size_t len, scenario_t **out, char *err,
                       size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    *out = NULL;
    loader_t L;
    memset(&L, 0, sizeof(L));
    L.err = err;
    L.errcap = errcap;
    L.vars = cJSON_CreateObject();
    L.procs = cJSON_CreateObject();
    L.defaults = cJSON_CreateObject();
    L.gates = cJSON_CreateObject();
    L.gate_where = cJSON_CreateObject();
    scenario_t *s = mcp_calloc(1, sizeof(*s));
    if (!L.vars || !L.procs || !L.defaults || !L.gates || !L.gate_where || !s) {
        loader_free(&L);
        mcp_free(s);
        return MCP_ENOMEM;
    }
    s->file = mcp_strdup(file);
    s->dir = path_dirname(file);
    if (!s->file || !s->dir) {
        loader_free(&L);
        scenario_free(s);
        return MCP_ENOMEM;
    }
    cJSON *doc = NULL;
    int rc = load_fragment(&L, s->file, 1, text, len, &doc);
    if (rc == 0)
        rc = finish(&L, s, doc);
    else
        cJSON_Delete(doc);
    loader_free(&L);
    if (rc) {
        if (rc == MCP_ENOMEM)
            snprintf(err, errcap, "%s: out of memory", file);
        scenario_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int scenario_load(const char *path, scenario_t **out, char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, err, errcap);
    if (rc)
        return rc;
    rc = scenario_load_text(path, text, len, out, err, errcap);
    mcp_free(text);
    return rc;
}
