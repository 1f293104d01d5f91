#include "vars.h"

#include "alloc.h"
#include "buf.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Expanded strings are bounded so a runaway reference (a huge captured value repeated) fails
 * with an error instead of exhausting memory. */
#define VARS_MAX_EXPANSION (64u * 1024u * 1024u)
#define VARS_MAX_DEPTH     64

struct vars_s {
    cJSON *map;
};

int vars_new(vars_t **out)
{
    vars_t *v = mcp_calloc(1, sizeof(*v));
    if (!v)
        return MCP_ENOMEM;
    v->map = cJSON_CreateObject();
    if (!v->map) {
        mcp_free(v);
        return MCP_ENOMEM;
    }
    *out = v;
    return 0;
}

void vars_free(vars_t *v)
{
    if (!v)
        return;
    cJSON_Delete(v->map);
    mcp_free(v);
}

static int name_char(char c, int first)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_')
        return 1;
    if (first)
        return 0;
    return (c >= '0' && c <= '9') || c == '.' || c == '-';
}

int vars_name_valid(const char *name)
{
    if (!name || !name_char(name[0], 1))
        return 0;
    for (const char *p = name + 1; *p; p++)
        if (!name_char(*p, 0))
            return 0;
    return 1;
}

int vars_set(vars_t *v, const char *name, const cJSON *value)
{
    if (!vars_name_valid(name) || !value)
        return MCP_EINVAL;
    cJSON *copy = cJSON_Duplicate(value, 1);
    if (!copy)
        return MCP_ENOMEM;
    if (cJSON_GetObjectItemCaseSensitive(v->map, name)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(v->map, name, copy)) {
            cJSON_Delete(copy);
            return MCP_ENOMEM;
        }
        return 0;
    }
    if (!cJSON_AddItemToObject(v->map, name, copy)) {
        cJSON_Delete(copy);
        return MCP_ENOMEM;
    }
    return 0;
}

int vars_set_string(vars_t *v, const char *name, const char *value)
{
    cJSON *s = cJSON_CreateString(value ? value : "");
    if (!s)
        return MCP_ENOMEM;
    int rc = vars_set(v, name, s);
    cJSON_Delete(s);
    return rc;
}

int vars_set_number(vars_t *v, const char *name, double value)
{
    cJSON *n = cJSON_CreateNumber(value);
    if (!n)
        return MCP_ENOMEM;
    int rc = vars_set(v, name, n);
    cJSON_Delete(n);
    return rc;
}

void vars_unset(vars_t *v, const char *name)
{
    cJSON_DeleteItemFromObjectCaseSensitive(v->map, name);
}

const cJSON *vars_get(const vars_t *v, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(v->map, name);
}

const cJSON *vars_all(const vars_t *v)
{
    return v->map;
}

/* A reference parsed out of text: name, optional default. */
typedef struct ref_s {
    const char *name;
    size_t name_len;
    const char *def; /* NULL when none */
    size_t def_len;
    size_t total; /* bytes from '$' to '}' inclusive */
} ref_t;

static int parse_ref(const char *s, ref_t *r, char *err, size_t errcap)
{
    /* s points at "${" */
    const char *p = s + 2;
    const char *start = p;
    if (!name_char(*p, 1)) {
        snprintf(err, errcap, "bad variable reference \"%.20s\": a name starts with a letter or _",
                 s);
        return MCP_EPARSE;
    }
    while (name_char(*p, 0))
        p++;
    r->name = start;
    r->name_len = (size_t)(p - start);
    r->def = NULL;
    r->def_len = 0;
    if (p[0] == ':' && p[1] == '-') {
        p += 2;
        const char *d = p;
        while (*p && *p != '}')
            p++;
        r->def = d;
        r->def_len = (size_t)(p - d);
    }
    if (*p != '}') {
        snprintf(err, errcap, "unterminated or malformed variable reference \"%.40s\"", s);
        return MCP_EPARSE;
    }
    r->total = (size_t)(p + 1 - s);
    return 0;
}

/* Look a reference up: a borrowed value, or a new string (env) in *owned. */
static const cJSON *lookup(const vars_t *v, const ref_t *r, cJSON **owned, int *found)
{
    char name[256];
    *owned = NULL;
    *found = 0;
    if (r->name_len >= sizeof(name))
        return NULL;
    memcpy(name, r->name, r->name_len);
    name[r->name_len] = '\0';
    if (strncmp(name, "env.", 4) == 0) {
        const char *e = getenv(name + 4);
        if (!e)
            return NULL;
        *owned = cJSON_CreateString(e);
        *found = *owned != NULL;
        return *owned;
    }
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(v->map, name);
    *found = val != NULL;
    return val;
}

static int empty_string(const cJSON *v)
{
    return cJSON_IsString(v) && v->valuestring[0] == '\0';
}

int vars_expand_string(const vars_t *v, const char *in, cJSON **out, char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    *out = NULL;
    /* Fast path: no reference at all. */
    if (!strstr(in, "${")) {
        *out = cJSON_CreateString(in);
        return *out ? 0 : MCP_ENOMEM;
    }
    /* A single whole-string reference keeps its type. */
    if (in[0] == '$' && in[1] == '{') {
        ref_t r;
        if (parse_ref(in, &r, err, errcap) == 0 && in[r.total] == '\0') {
            cJSON *owned;
            int found;
            const cJSON *val = lookup(v, &r, &owned, &found);
            if (found && !(r.def && empty_string(val))) {
                *out = owned ? owned : cJSON_Duplicate(val, 1);
                return *out ? 0 : MCP_ENOMEM;
            }
            cJSON_Delete(owned);
            if (r.def) {
                char *d = mcp_strndup(r.def, r.def_len);
                if (!d)
                    return MCP_ENOMEM;
                *out = cJSON_CreateString(d);
                mcp_free(d);
                return *out ? 0 : MCP_ENOMEM;
            }
            snprintf(err, errcap, "variable \"%.*s\" is not set", (int)r.name_len, r.name);
            return MCP_ENOTFOUND;
        }
    }
    buf_t b;
    buf_init(&b, VARS_MAX_EXPANSION);
    const char *p = in;
    int rc = 0;
    while (*p && rc == 0) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            rc = buf_append_str(&b, "${");
            p += 3;
            continue;
        }
        if (p[0] == '$' && p[1] == '{') {
            ref_t r;
            rc = parse_ref(p, &r, err, errcap);
            if (rc)
                break;
            cJSON *owned;
            int found;
            const cJSON *val = lookup(v, &r, &owned, &found);
            if (found && !(r.def && empty_string(val))) {
                if (cJSON_IsString(val)) {
                    rc = buf_append_str(&b, val->valuestring);
                } else {
                    char *t = cJSON_PrintUnformatted(val);
                    rc = t ? buf_append_str(&b, t) : MCP_ENOMEM;
                    cJSON_free(t);
                }
            } else if (r.def) {
                rc = buf_append(&b, r.def, r.def_len);
            } else {
                snprintf(err, errcap, "variable \"%.*s\" is not set", (int)r.name_len, r.name);
                rc = MCP_ENOTFOUND;
            }
            cJSON_Delete(owned);
            p += r.total;
            continue;
        }
        const char *next = strchr(p + 1, '$');
        size_t n = next ? (size_t)(next - p) : strlen(p);
        rc = buf_append(&b, p, n);
        p += n;
    }
    if (rc == MCP_ENOBUFS)
        snprintf(err, errcap, "expanded text is larger than %u bytes", VARS_MAX_EXPANSION);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    *out = cJSON_CreateString(b.data ? b.data : "");
    buf_free(&b);
    return *out ? 0 : MCP_ENOMEM;
}

int vars_expand_text(const vars_t *v, const char *in, char **out, char *err, size_t errcap)
{
    cJSON *val = NULL;
    *out = NULL;
    int rc = vars_expand_string(v, in, &val, err, errcap);
    if (rc)
        return rc;
    if (cJSON_IsString(val)) {
        *out = mcp_strdup(val->valuestring);
    } else {
        char *t = cJSON_PrintUnformatted(val);
        *out = t ? mcp_strdup(t) : NULL;
        cJSON_free(t);
    }
    cJSON_Delete(val);
    return *out ? 0 : MCP_ENOMEM;
}

static int expand_rec(const vars_t *v, const cJSON *in, cJSON **out, buf_t *path, int depth,
                      char *err, size_t errcap)
{
    if (depth > VARS_MAX_DEPTH) {
        snprintf(err, errcap, "nested deeper than %d levels", VARS_MAX_DEPTH);
        return MCP_EINVAL;
    }
    if (cJSON_IsString(in)) {
        char inner[256];
        int rc = vars_expand_string(v, in->valuestring, out, inner, sizeof(inner));
        if (rc && rc != MCP_ENOMEM)
            snprintf(err, errcap, "%s%s%s", path->len ? path->data : "", path->len ? ": " : "",
                     inner);
        return rc;
    }
    if (cJSON_IsArray(in) || cJSON_IsObject(in)) {
        cJSON *copy = cJSON_IsArray(in) ? cJSON_CreateArray() : cJSON_CreateObject();
        if (!copy)
            return MCP_ENOMEM;
        size_t mark = path->len;
        int idx = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, in)
        {
            if (cJSON_IsArray(in))
                buf_appendf(path, "[%d]", idx);
            else
                buf_appendf(path, "%s%s", mark ? "." : "", c->string);
            cJSON *item = NULL;
            int rc = expand_rec(v, c, &item, path, depth + 1, err, errcap);
            path->len = mark;
            if (path->data)
                path->data[mark] = '\0';
            if (rc) {
                cJSON_Delete(copy);
                return rc;
            }
            if (cJSON_IsArray(in)) {
                cJSON_AddItemToArray(copy, item);
            } else if (!cJSON_AddItemToObject(copy, c->string, item)) {
                cJSON_Delete(item);
                cJSON_Delete(copy);
                return MCP_ENOMEM;
            }
            idx++;
        }
        *out = copy;
        return 0;
    }
    *out = cJSON_Duplicate(in, 0);
    return *out ? 0 : MCP_ENOMEM;
}

int vars_expand_json(const vars_t *v, const cJSON *in, cJSON **out, char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    *out = NULL;
    if (!in)
        return MCP_EINVAL;
    buf_t path;
    buf_init(&path, 4096);
    int rc = expand_rec(v, in, out, &path, 0, err, errcap);
    buf_free(&path);
    return rc;
}

static int refs_string(const char *s, vars_ref_fn cb, void *ud)
{
    for (const char *p = s; (p = strstr(p, "${")) != NULL;) {
        if (p > s && p[-1] == '$') {
            p += 2;
            continue;
        }
        const char *n = p + 2;
        size_t len = 0;
        while (name_char(n[len], len == 0))
            len++;
        if (len) {
            int rc = cb(n, len, ud);
            if (rc)
                return rc;
        }
        p = n + len;
    }
    return 0;
}

int vars_refs_json(const cJSON *in, vars_ref_fn cb, void *ud)
{
    if (!in)
        return 0;
    if (cJSON_IsString(in))
        return refs_string(in->valuestring, cb, ud);
    const cJSON *c;
    if (cJSON_IsArray(in) || cJSON_IsObject(in)) {
        cJSON_ArrayForEach(c, in)
        {
            int rc = vars_refs_json(c, cb, ud);
            if (rc)
                return rc;
        }
    }
    return 0;
}
