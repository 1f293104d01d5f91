#include "config.h"

#include "alloc.h"
#include "buf.h"
#include "envexpand.h"
#include "errors.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_MAX_FILE (4u << 20)
#define PATH_KEY        "\x01path" /* hidden member: where a server entry came from */
#define LINE_KEY        "\x01line" /* hidden member: its line in a YAML file */

typedef struct {
    const char *file;
    gw_config_error_t *err;
    gw_env_fn env;
    void *env_ud;
    int raw; /* validate without expanding ${...} (migration) */
} ctx_t;

static int fail(ctx_t *c, int line, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(ctx_t *c, int line, const char *where, const char *fmt, ...)
{
    if (!c->err)
        return MCP_EINVAL;
    char *m = c->err->message;
    size_t cap = sizeof c->err->message;
    int n;
    if (line > 0)
        n = snprintf(m, cap, "%s:%d: %s%s", c->file, line, where ? where : "", where ? ": " : "");
    else
        n = snprintf(m, cap, "%s: %s%s", c->file, where ? where : "", where ? ": " : "");
    if (n >= 0 && (size_t)n < cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m + n, cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return MCP_EINVAL;
}

/* ---- names ---- */

const char *gw_transport_name(gw_transport_t t)
{
    static const char *const names[] = {"stdio", "http", "sse"};
    return t <= GW_TRANSPORT_SSE ? names[t] : "unknown";
}

const char *gw_mode_name(gw_mode_t m)
{
    static const char *const names[] = {"auto", "multi", "single"};
    return m <= GW_MODE_SINGLE ? names[m] : "unknown";
}

int gw_mode_parse(const char *s, gw_mode_t *out)
{
    for (int m = GW_MODE_AUTO; m <= GW_MODE_SINGLE; m++)
        if (strcmp(s, gw_mode_name((gw_mode_t)m)) == 0) {
            *out = (gw_mode_t)m;
            return 0;
        }
    return MCP_EINVAL;
}

static int transport_parse(const char *s, gw_transport_t *out)
{
    if (strcmp(s, "stdio") == 0)
        *out = GW_TRANSPORT_STDIO;
    else if (strcmp(s, "http") == 0 || strcmp(s, "streamable-http") == 0 ||
             strcmp(s, "streamable_http") == 0 || strcmp(s, "streamableHttp") == 0)
        *out = GW_TRANSPORT_HTTP;
    else if (strcmp(s, "sse") == 0)
        *out = GW_TRANSPORT_SSE;
    else
        return MCP_EINVAL;
    return 0;
}

/* cJSON_AddItemToObject copies the key and can fail; the item must not leak then. */
static int add_item(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return MCP_ENOMEM;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return MCP_ENOMEM;
    }
    return 0;
}

/* ---- YAML -> cJSON (libyaml's document API), remembering lines of mapping values ---- */

static cJSON *yaml_scalar(const yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "yes"))
            return cJSON_CreateTrue();
        if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "no"))
            return cJSON_CreateFalse();
        if (!strcmp(v, "null") || !strcmp(v, "~") || !*v)
            return cJSON_CreateNull();
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (*v && !*end && errno == 0 && isfinite(d) &&
            (isdigit((unsigned char)v[0]) || v[0] == '-' || v[0] == '+'))
            return cJSON_CreateNumber(d);
    }
    return cJSON_CreateString(v);
}

static cJSON *yaml_to_json(yaml_document_t *doc, yaml_node_t *node, int depth)
{
    if (!node || depth > 64)
        return NULL;
    switch (node->type) {
    case YAML_SCALAR_NODE: return yaml_scalar(node);
    case YAML_SEQUENCE_NODE: {
        cJSON *arr = cJSON_CreateArray();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             arr && it < node->data.sequence.items.top; it++) {
            yaml_node_t *child = yaml_document_get_node(doc, *it);
            cJSON *v = yaml_to_json(doc, child, depth + 1);
            if (!v) {
                cJSON_Delete(arr);
                return NULL;
            }
            if (cJSON_IsObject(v) &&
                !cJSON_AddNumberToObject(v, LINE_KEY, (double)child->start_mark.line + 1)) {
                cJSON_Delete(v);
                cJSON_Delete(arr);
                return NULL;
            }
            cJSON_AddItemToArray(arr, v);
        }
        return arr;
    }
    case YAML_MAPPING_NODE: {
        cJSON *obj = cJSON_CreateObject();
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
             obj && p < node->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            yaml_node_t *vnode = yaml_document_get_node(doc, p->value);
            if (!k || k->type != YAML_SCALAR_NODE) {
                cJSON_Delete(obj);
                return NULL;
            }
            cJSON *v = yaml_to_json(doc, vnode, depth + 1);
            if (!v) {
                cJSON_Delete(obj);
                return NULL;
            }
            if (cJSON_IsObject(v) &&
                !cJSON_AddNumberToObject(v, LINE_KEY, (double)k->start_mark.line + 1)) {
                cJSON_Delete(v);
                v = NULL;
            }
            if (add_item(obj, (const char *)k->data.scalar.value, v)) {
                cJSON_Delete(obj);
                return NULL;
            }
        }
        return obj;
    }
    case YAML_NO_NODE: break;
    }
    return NULL;
}

static int parse_yaml(ctx_t *c, const char *text, size_t len, cJSON **out)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return MCP_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = MCP_EPARSE;
        fail(c, (int)parser.problem_mark.line + 1, NULL, "invalid YAML: %s",
             parser.problem ? parser.problem : "syntax error");
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        *out = root ? yaml_to_json(&doc, root, 0) : NULL;
        if (!*out) {
            rc = MCP_EPARSE;
            fail(c, 0, NULL, "the YAML document is empty or uses unsupported constructs");
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- normalisation of the three formats into the seed shape ---- */

static int line_of(const cJSON *obj)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(obj, LINE_KEY);
    return cJSON_IsNumber(l) ? (int)l->valuedouble : 0;
}

static int tag_entry(cJSON *entry, const char *path, int line)
{
    cJSON_DeleteItemFromObjectCaseSensitive(entry, PATH_KEY);
    cJSON_DeleteItemFromObjectCaseSensitive(entry, LINE_KEY);
    if (!cJSON_AddStringToObject(entry, PATH_KEY, path))
        return MCP_ENOMEM;
    if (line > 0 && !cJSON_AddNumberToObject(entry, LINE_KEY, line))
        return MCP_ENOMEM;
    return 0;
}

/* Move `from` of src into dst as `to` (when present). Sticky: does nothing once *rc is set. */
static void move_key(cJSON *src, const char *from, cJSON *dst, const char *to, int *rc)
{
    cJSON *v = *rc ? NULL : cJSON_DetachItemFromObjectCaseSensitive(src, from);
    if (v)
        *rc = add_item(dst, to, v);
}

/* A flat entry (mcpServers or YAML) into a seed entry. `path` names it for messages. */
static int flat_to_seed(ctx_t *c, const char *name, cJSON *flat, const char *path, int line,
                        cJSON **out)
{
    static const char *const allowed[] = {
        "name",        "type",       "transport",   "command", "args",       "env",
        "cwd",         "url",        "endpoint",    "headers", "enabled",    "disabled",
        "priority",    "prefix",     "critical",    "timeout", "timeout_ms", "tool_timeouts",
        "allow_tools", "deny_tools", "description", LINE_KEY};
    if (!cJSON_IsObject(flat))
        return fail(c, line, path, "must be an object");
    for (const cJSON *f = flat->child; f; f = f->next) {
        int ok = 0;
        for (size_t i = 0; i < sizeof allowed / sizeof *allowed && !ok; i++)
            ok = strcmp(f->string, allowed[i]) == 0;
        if (!ok)
            return fail(c, line_of(flat) ? line_of(flat) : line, path, "unknown key \"%s\"",
                        f->string);
    }
    cJSON *seed = cJSON_CreateObject();
    cJSON *config = cJSON_CreateObject();
    if (!seed || !config) {
        cJSON_Delete(seed);
        cJSON_Delete(config);
        return MCP_ENOMEM;
    }
    int rc = 0;
    if (name && !cJSON_GetObjectItemCaseSensitive(flat, "name") &&
        !cJSON_AddStringToObject(seed, "name", name))
        rc = MCP_ENOMEM;
    move_key(flat, "name", seed, "name", &rc);
    /* transport: explicit, else from the URL (".../sse" is the legacy transport), else stdio */
    cJSON *type = cJSON_DetachItemFromObjectCaseSensitive(flat, "transport");
    if (!type)
        type = cJSON_DetachItemFromObjectCaseSensitive(flat, "type");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(flat, "url");
    if (!url)
        url = cJSON_GetObjectItemCaseSensitive(flat, "endpoint");
    if (!type) {
        const char *t = "stdio";
        if (cJSON_IsString(url)) {
            size_t n = strlen(url->valuestring);
            t = n >= 4 && strcmp(url->valuestring + n - 4, "/sse") == 0 ? "sse" : "http";
        }
        type = cJSON_CreateString(t);
    }
    if (!rc)
        rc = add_item(seed, "transport", type);
    else
        cJSON_Delete(type);
    cJSON *disabled = cJSON_DetachItemFromObjectCaseSensitive(flat, "disabled");
    if (disabled) {
        /* "disabled": true -> "enabled": false; a non-boolean is passed on to be reported */
        if (!rc)
            rc = add_item(seed, "enabled",
                          cJSON_IsBool(disabled) ? cJSON_CreateBool(cJSON_IsFalse(disabled))
                                                 : cJSON_Duplicate(disabled, 1));
        cJSON_Delete(disabled);
    }
    move_key(flat, "enabled", seed, "enabled", &rc);
    move_key(flat, "priority", seed, "priority", &rc);
    move_key(flat, "prefix", seed, "prefix", &rc);
    move_key(flat, "critical", seed, "critical", &rc);
    move_key(flat, "allow_tools", seed, "allow_tools", &rc);
    move_key(flat, "deny_tools", seed, "deny_tools", &rc);
    move_key(flat, "description", seed, "description", &rc);
    move_key(flat, "command", config, "command", &rc);
    move_key(flat, "args", config, "args", &rc);
    move_key(flat, "env", config, "env", &rc);
    move_key(flat, "cwd", config, "cwd", &rc);
    move_key(flat, "url", config, "endpoint", &rc);
    move_key(flat, "endpoint", config, "endpoint", &rc);
    move_key(flat, "headers", config, "headers", &rc);
    move_key(flat, "timeout", config, "timeout", &rc);
    move_key(flat, "timeout_ms", config, "timeout", &rc);
    move_key(flat, "tool_timeouts", config, "tool_timeouts", &rc);
    if (rc)
        cJSON_Delete(config);
    else
        rc = add_item(seed, "config", config);
    if (!rc)
        rc = tag_entry(seed, path, line_of(flat) ? line_of(flat) : line);
    if (rc) {
        cJSON_Delete(seed);
        return rc;
    }
    *out = seed;
    return 0;
}

/* Turn whatever was read into {"version","gateway","servers":[...]} with tagged entries. */
static int normalise(ctx_t *c, cJSON *root, gw_config_format_t *format, cJSON **out)
{
    if (!cJSON_IsObject(root))
        return fail(c, 0, NULL, "the configuration must be an object");
    cJSON *mcp = cJSON_GetObjectItemCaseSensitive(root, "mcpServers");
    cJSON *yaml = cJSON_GetObjectItemCaseSensitive(root, "mcp_servers");
    cJSON *servers = cJSON_GetObjectItemCaseSensitive(root, "servers");
    int present = !!mcp + !!yaml + !!servers;
    if (present == 0)
        return fail(c, 0, NULL,
                    "no servers: expected \"servers\" (seed format), \"mcpServers\" "
                    "or \"mcp_servers\" (legacy YAML)");
    if (present > 1)
        return fail(c, 0, NULL, "use only one of \"servers\", \"mcpServers\", \"mcp_servers\"");

    cJSON *norm = cJSON_CreateObject();
    cJSON *list = cJSON_CreateArray();
    if (!norm || !list) {
        cJSON_Delete(norm);
        cJSON_Delete(list);
        return MCP_ENOMEM;
    }
    if (!cJSON_AddStringToObject(norm, "version", "1.0")) {
        cJSON_Delete(norm);
        cJSON_Delete(list);
        return MCP_ENOMEM;
    }
    for (cJSON *f = root->child; f; f = f->next) {
        if (strcmp(f->string, "gateway") == 0 || strcmp(f->string, "settings") == 0) {
            cJSON *g = cJSON_Duplicate(f, 1);
            cJSON_DeleteItemFromObjectCaseSensitive(g, LINE_KEY);
            if (add_item(norm, "gateway", g)) {
                cJSON_Delete(norm);
                cJSON_Delete(list);
                return MCP_ENOMEM;
            }
        } else if (strcmp(f->string, "version") == 0) {
            if (!cJSON_IsString(f) || strcmp(f->valuestring, "1.0") != 0) {
                cJSON_Delete(norm);
                cJSON_Delete(list);
                return fail(c, 0, "version", "unsupported version (expected \"1.0\")");
            }
        } else if (strcmp(f->string, "servers") && strcmp(f->string, "mcpServers") &&
                   strcmp(f->string, "mcp_servers") && strcmp(f->string, LINE_KEY) &&
                   strcmp(f->string, "$schema") && strcmp(f->string, "description")) {
            cJSON_Delete(norm);
            cJSON_Delete(list);
            return fail(c, 0, f->string, "unknown top-level key");
        }
    }
    int rc = add_item(norm, "servers", list);
    if (rc) {
        cJSON_Delete(norm);
        return rc;
    }

    char path[160];
    if (servers) {
        *format = GW_FORMAT_SEED;
        if (!cJSON_IsArray(servers))
            rc = fail(c, 0, "servers", "must be an array");
        size_t i = 0;
        for (cJSON *e = servers->child; !rc && e; e = e->next, i++) {
            snprintf(path, sizeof path, "servers[%zu]", i);
            cJSON *copy = cJSON_Duplicate(e, 1);
            if (!copy)
                rc = MCP_ENOMEM;
            else if (!cJSON_IsObject(copy)) {
                cJSON_Delete(copy);
                rc = fail(c, 0, path, "must be an object");
            } else {
                cJSON_AddItemToArray(list, copy);
                rc = tag_entry(copy, path, 0);
            }
        }
    } else {
        cJSON *src = mcp ? mcp : yaml;
        const char *top = mcp ? "mcpServers" : "mcp_servers";
        *format = mcp ? GW_FORMAT_MCPSERVERS : GW_FORMAT_YAML;
        if (cJSON_IsObject(src)) {
            for (cJSON *e = src->child; !rc && e; e = e->next) {
                if (strcmp(e->string, LINE_KEY) == 0)
                    continue;
                snprintf(path, sizeof path, "%s.%s", top, e->string);
                cJSON *flat = cJSON_Duplicate(e, 1);
                cJSON *seed = NULL;
                rc = flat ? flat_to_seed(c, e->string, flat, path, line_of(e), &seed) : MCP_ENOMEM;
                cJSON_Delete(flat);
                if (!rc)
                    cJSON_AddItemToArray(list, seed);
            }
        } else if (cJSON_IsArray(src) && !mcp) {
            size_t i = 0;
            for (cJSON *e = src->child; !rc && e; e = e->next, i++) {
                snprintf(path, sizeof path, "%s[%zu]", top, i);
                cJSON *flat = cJSON_Duplicate(e, 1);
                cJSON *seed = NULL;
                rc = flat ? flat_to_seed(c, NULL, flat, path, line_of(e), &seed) : MCP_ENOMEM;
                cJSON_Delete(flat);
                if (!rc)
                    cJSON_AddItemToArray(list, seed);
            }
        } else {
            rc = fail(c, line_of(root), top,
                      mcp ? "must be an object" : "must be a mapping or a list");
        }
    }
    if (rc) {
        cJSON_Delete(norm);
        return rc;
    }
    *out = norm;
    return 0;
}

/* ---- the seed shape into the model ---- */

typedef struct {
    ctx_t *c;
    const char *where; /* entry path, e.g. "servers[2]" or "mcp_servers.github" */
    int line;
} at_t;

static int bad(at_t *at, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(at_t *at, const char *field, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char where[256];
    if (field && *field)
        snprintf(where, sizeof where, "%s%s%s", at->where, *at->where ? "." : "", field);
    else
        snprintf(where, sizeof where, "%s", at->where);
    return fail(at->c, at->line, where, "%s", msg);
}

static int expand(at_t *at, const char *field, const char *in, char **out)
{
    char why[256];
    if (at->c->raw) {
        *out = mcp_strdup(in);
        return *out ? 0 : MCP_ENOMEM;
    }
    int rc = envx_expand(in, out, at->c->env, at->c->env_ud, why, sizeof why);
    if (rc == MCP_ENOMEM)
        return rc;
    if (rc)
        return bad(at, field, "%s", why);
    return 0;
}

static int get_str(at_t *at, const cJSON *obj, const char *field, const char *def, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (v && !cJSON_IsString(v))
        return bad(at, field, "must be a string");
    const char *s = v ? v->valuestring : def;
    if (!s) {
        *out = NULL;
        return 0;
    }
    return expand(at, field, s, out);
}

static int get_bool(at_t *at, const cJSON *obj, const char *field, int def, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v))
        return bad(at, field, "must be true or false");
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_num(at_t *at, const cJSON *obj, const char *field, double def, double min,
                   double max, int whole, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v) {
        *out = def;
        return 0;
    }
    double d;
    if (cJSON_IsNumber(v)) {
        d = v->valuedouble;
    } else if (cJSON_IsString(v)) { /* "${TIMEOUT:-30}" style values */
        if (at->c->raw && strstr(v->valuestring, "${")) {
            *out = def;
            return 0;
        }
        char *s = NULL;
        int rc = expand(at, field, v->valuestring, &s);
        if (rc)
            return rc;
        char *end;
        d = strtod(s, &end);
        int ok = *s && !*end;
        mcp_free(s);
        if (!ok)
            return bad(at, field, "must be a number");
    } else {
        return bad(at, field, "must be a number");
    }
    if (!isfinite(d) || d < min || d > max)
        return bad(at, field, "must be between %g and %g", min, max);
    if (whole && d != floor(d))
        return bad(at, field, "must be a whole number");
    *out = d;
    return 0;
}

static int get_u64(at_t *at, const cJSON *obj, const char *field, uint64_t def, uint64_t *out)
{
    double d = 0; /* set whenever get_num returns 0; GCC's Release build cannot see it */
    int rc = get_num(at, obj, field, (double)def, 0, 9007199254740991.0, 1, &d);
    if (!rc)
        *out = (uint64_t)d;
    return rc;
}

static int get_strlist(at_t *at, const cJSON *obj, const char *field, gw_strlist_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return bad(at, field, "must be an array of strings");
    size_t n = (size_t)cJSON_GetArraySize(v);
    out->items = mcp_calloc(n ? n : 1, sizeof *out->items);
    if (!out->items)
        return MCP_ENOMEM;
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char field_i[96];
        snprintf(field_i, sizeof field_i, "%s[%zu]", field, i);
        if (!cJSON_IsString(e))
            return bad(at, field_i, "must be a string");
        int rc = expand(at, field_i, e->valuestring, &out->items[out->count]);
        if (rc)
            return rc;
        out->count++;
    }
    return 0;
}

static int get_map(at_t *at, const cJSON *obj, const char *field, gw_kv_t **out, size_t *count)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v)
        return 0;
    if (!cJSON_IsObject(v))
        return bad(at, field, "must be an object of strings");
    size_t n = (size_t)cJSON_GetArraySize(v);
    *out = mcp_calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return MCP_ENOMEM;
    for (const cJSON *e = v->child; e; e = e->next) {
        if (strcmp(e->string, LINE_KEY) == 0)
            continue;
        char field_k[160];
        snprintf(field_k, sizeof field_k, "%s.%s", field, e->string);
        char numbuf[32];
        const char *text;
        if (cJSON_IsString(e)) {
            text = e->valuestring;
        } else if (cJSON_IsNumber(e)) {
            snprintf(numbuf, sizeof numbuf, "%.17g", e->valuedouble);
            text = numbuf;
        } else if (cJSON_IsBool(e)) {
            text = cJSON_IsTrue(e) ? "true" : "false";
        } else {
            return bad(at, field_k, "must be a string");
        }
        gw_kv_t *kv = &(*out)[*count];
        if (!(kv->key = mcp_strdup(e->string)))
            return MCP_ENOMEM;
        (*count)++;
        int rc = expand(at, field_k, text, &kv->value);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_keys(at_t *at, const cJSON *obj, const char *prefix, const char *const *allowed,
                      size_t n)
{
    for (const cJSON *f = obj->child; f; f = f->next) {
        if (f->string[0] == '\x01')
            continue;
        int ok = 0;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(f->string, allowed[i]) == 0;
        if (!ok) {
            char field[160];
            snprintf(field, sizeof field, "%s%s%s", prefix, *prefix ? "." : "", f->string);
            return bad(at, field, "unknown key");
        }
    }
    return 0;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static int load_server(ctx_t *c, const cJSON *e, size_t order, gw_server_config_t *s)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, PATH_KEY);
    at_t at = {c, cJSON_IsString(p) ? p->valuestring : "servers", line_of(e)};
    static const char *const keys[] = {"name",       "enabled",    "transport", "priority",
                                       "prefix",     "critical",   "config",    "allow_tools",
                                       "deny_tools", "description"};
    int rc = check_keys(&at, e, "", keys, sizeof keys / sizeof *keys);
    if (rc)
        return rc;
    s->order = order;
    if ((rc = get_str(&at, e, "name", NULL, &s->name)))
        return rc;
    if (!s->name)
        return bad(&at, "name", "required");
    if (!valid_name(s->name))
        return bad(&at, "name", "\"%s\": use 1-64 letters, digits, '_' or '-'", s->name);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "transport");
    if (!cJSON_IsString(t) || transport_parse(t->valuestring, &s->transport))
        return bad(&at, "transport", "must be one of stdio, http, sse");
    double d;
    if ((rc = get_bool(&at, e, "enabled", 1, &s->enabled)) ||
        (rc = get_bool(&at, e, "prefix", 1, &s->prefix)) ||
        (rc = get_bool(&at, e, "critical", 0, &s->critical)) ||
        (rc = get_num(&at, e, "priority", 100, -1e6, 1e6, 1, &d)))
        return rc;
    s->priority = (int)d;
    if ((rc = get_strlist(&at, e, "allow_tools", &s->allow_tools)) ||
        (rc = get_strlist(&at, e, "deny_tools", &s->deny_tools)))
        return rc;

    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(e, "config");
    if (!cfg)
        return bad(&at, "config", "required");
    if (!cJSON_IsObject(cfg))
        return bad(&at, "config", "must be an object");
    char cfg_where[200];
    snprintf(cfg_where, sizeof cfg_where, "%s.config", at.where);
    at_t cat = {c, cfg_where, at.line};
    static const char *const cfg_keys[] = {
        "command", "args", "env", "cwd", "endpoint", "url", "headers", "timeout", "tool_timeouts"};
    if ((rc = check_keys(&cat, cfg, "config", cfg_keys, sizeof cfg_keys / sizeof *cfg_keys)))
        return rc;
    /* `timeout` is in seconds, as in the seed format; internally everything is ms. */
    if ((rc = get_num(&cat, cfg, "timeout", 0, 0, 86400, 0, &d)))
        return rc;
    s->timeout_ms = (uint64_t)(d * 1000.0);
    if ((rc = get_map(&cat, cfg, "tool_timeouts", &s->tool_timeouts, &s->tool_timeout_count)))
        return rc;
    for (size_t i = 0; i < s->tool_timeout_count; i++) {
        char *end;
        double secs = strtod(s->tool_timeouts[i].value, &end);
        if (*end || !(secs > 0 && secs <= 86400))
            return bad(&cat, "tool_timeouts", "%s: must be seconds (0 < t <= 86400)",
                       s->tool_timeouts[i].key);
    }

    if (s->transport == GW_TRANSPORT_STDIO) {
        if ((rc = get_str(&cat, cfg, "command", NULL, &s->command)))
            return rc;
        if (!s->command || !*s->command)
            return bad(&cat, "command", "required for the stdio transport");
        if ((rc = get_strlist(&cat, cfg, "args", &s->args)) ||
            (rc = get_map(&cat, cfg, "env", &s->env, &s->env_count)) ||
            (rc = get_str(&cat, cfg, "cwd", NULL, &s->cwd)))
            return rc;
        if (cJSON_GetObjectItemCaseSensitive(cfg, "endpoint") ||
            cJSON_GetObjectItemCaseSensitive(cfg, "url"))
            return bad(&cat, "endpoint", "not used by the stdio transport");
    } else {
        const char *key = cJSON_GetObjectItemCaseSensitive(cfg, "url") ? "url" : "endpoint";
        if ((rc = get_str(&cat, cfg, key, NULL, &s->endpoint)))
            return rc;
        if (!s->endpoint)
            return bad(&cat, "endpoint", "required for the %s transport",
                       gw_transport_name(s->transport));
        if (strncmp(s->endpoint, "http://", 7) && strncmp(s->endpoint, "https://", 8) &&
            !(c->raw && strstr(s->endpoint, "${")))
            return bad(&cat, "endpoint", "must be an http:// or https:// URL");
        if ((rc = get_map(&cat, cfg, "headers", &s->headers, &s->header_count)))
            return rc;
        if (cJSON_GetObjectItemCaseSensitive(cfg, "command"))
            return bad(&cat, "command", "not used by the %s transport",
                       gw_transport_name(s->transport));
    }
    return 0;
}

/* A nested settings object named by its full path (a string literal such as "gateway.cache"):
 * its keys checked; *out NULL when absent; *sub reports errors under that path. */
static int section(at_t *parent, const cJSON *g, const char *path, const char *const *keys,
                   size_t nkeys, const cJSON **out, at_t *sub)
{
    *sub = *parent;
    sub->where = path;
    *out = cJSON_GetObjectItemCaseSensitive(g, strrchr(path, '.') + 1);
    if (!*out)
        return 0;
    if (!cJSON_IsObject(*out))
        return bad(sub, "", "must be an object");
    return check_keys(sub, *out, "", keys, nkeys);
}

static int load_settings(ctx_t *c, const cJSON *g, gw_settings_t *s)
{
    at_t at = {c, "gateway", line_of(g)};
    static const char *const keys[] = {"listen",
                                       "separator",
                                       "mode",
                                       "fallback_to_single",
                                       "single_url",
                                       "multi_rollout_percent",
                                       "cache",
                                       "circuit_breaker",
                                       "request_timeout_ms",
                                       "startup_timeout_ms",
                                       "health_interval_ms",
                                       "reconnect",
                                       "security"};
    int rc;
    cJSON *placeholder = NULL;
    if (!g) {
        placeholder = cJSON_CreateObject();
        if (!placeholder)
            return MCP_ENOMEM;
        g = placeholder;
    }
    if (!cJSON_IsObject(g))
        return bad(&at, "", "must be an object");
    if ((rc = check_keys(&at, g, "", keys, sizeof keys / sizeof *keys)))
        goto out;
    const char *env_url = c->env ? c->env("MCP_SERVER_URL", c->env_ud) : getenv("MCP_SERVER_URL");
    if ((rc = get_str(&at, g, "listen", "127.0.0.1:8001", &s->listen)) ||
        (rc = get_str(&at, g, "separator", ".", &s->separator)) ||
        (rc = get_bool(&at, g, "fallback_to_single", 1, &s->fallback_to_single)) ||
        (rc = get_str(&at, g, "single_url", env_url ? env_url : "http://localhost:8000/mcp",
                      &s->single_url)))
        goto out;
    if (!*s->separator || strlen(s->separator) > 4) {
        rc = bad(&at, "separator", "must be 1 to 4 characters");
        goto out;
    }
    char *mode = NULL;
    if ((rc = get_str(&at, g, "mode", "auto", &mode)))
        goto out;
    rc = gw_mode_parse(mode, &s->mode) ? bad(&at, "mode", "must be auto, multi or single") : 0;
    mcp_free(mode);
    if (rc)
        goto out;
    double d;
    if ((rc = get_num(&at, g, "multi_rollout_percent", 100, 0, 100, 1, &d)))
        goto out;
    s->multi_rollout_percent = (int)d;
    if ((rc = get_u64(&at, g, "request_timeout_ms", 30000, &s->request_timeout_ms)) ||
        (rc = get_u64(&at, g, "startup_timeout_ms", 5000, &s->startup_timeout_ms)) ||
        (rc = get_u64(&at, g, "health_interval_ms", 30000, &s->health_interval_ms)))
        goto out;

    static const char *const cache_keys[] = {"enabled", "ttl_ms", "max_bytes"};
    const cJSON *cache;
    at_t cat;
    if ((rc = section(&at, g, "gateway.cache", cache_keys, sizeof cache_keys / sizeof *cache_keys,
                      &cache, &cat)))
        goto out;
    if ((rc = get_bool(&cat, cache, "enabled", 1, &s->cache_enabled)) ||
        (rc = get_u64(&cat, cache, "ttl_ms", 60000, &s->cache_ttl_ms)) ||
        (rc = get_u64(&cat, cache, "max_bytes", 16u << 20, &s->cache_max_bytes)))
        goto out;

    static const char *const cb_keys[] = {"enabled", "failure_threshold", "reset_timeout_ms"};
    const cJSON *cb;
    at_t bat;
    if ((rc = section(&at, g, "gateway.circuit_breaker", cb_keys, sizeof cb_keys / sizeof *cb_keys,
                      &cb, &bat)))
        goto out;
    if ((rc = get_bool(&bat, cb, "enabled", 1, &s->breaker_enabled)) ||
        (rc = get_num(&bat, cb, "failure_threshold", 5, 1, 1e6, 1, &d)))
        goto out;
    s->breaker_threshold = (uint32_t)d;
    if ((rc = get_u64(&bat, cb, "reset_timeout_ms", 60000, &s->breaker_reset_ms)))
        goto out;

    static const char *const rec_keys[] = {"initial_ms", "max_ms"};
    const cJSON *rec;
    at_t rat;
    if ((rc = section(&at, g, "gateway.reconnect", rec_keys, sizeof rec_keys / sizeof *rec_keys,
                      &rec, &rat)))
        goto out;
    if ((rc = get_u64(&rat, rec, "initial_ms", 500, &s->reconnect_initial_ms)) ||
        (rc = get_u64(&rat, rec, "max_ms", 30000, &s->reconnect_max_ms)))
        goto out;
    if (s->reconnect_max_ms < s->reconnect_initial_ms) {
        rc = bad(&rat, "max_ms", "must not be below initial_ms");
        goto out;
    }

    static const char *const sec_keys[] = {"api_keys",         "auth_all_routes", "rate_limit_rps",
                                           "rate_limit_burst", "cors_origins",    "allowed_hosts",
                                           "max_body_bytes"};
    const cJSON *sec;
    at_t sat;
    if ((rc = section(&at, g, "gateway.security", sec_keys, sizeof sec_keys / sizeof *sec_keys,
                      &sec, &sat)))
        goto out;
    if ((rc = get_strlist(&sat, sec, "api_keys", &s->api_keys)) ||
        (rc = get_bool(&sat, sec, "auth_all_routes", 0, &s->auth_all_routes)) ||
        (rc = get_num(&sat, sec, "rate_limit_rps", 0, 0, 1e9, 0, &s->rate_limit_rps)) ||
        (rc = get_num(&sat, sec, "rate_limit_burst", 0, 0, 1e9, 1, &d)))
        goto out;
    s->rate_limit_burst = (uint32_t)d;
    if ((rc = get_strlist(&sat, sec, "cors_origins", &s->cors_origins)) ||
        (rc = get_strlist(&sat, sec, "allowed_hosts", &s->allowed_hosts)) ||
        (rc = get_u64(&sat, sec, "max_body_bytes", 4u << 20, &s->max_body_bytes)))
        goto out;
    for (size_t i = 0; i < s->api_keys.count; i++)
        if (strlen(s->api_keys.items[i]) < 16) {
            rc = bad(&sat, "api_keys", "key %zu is shorter than 16 characters", i);
            goto out;
        }
out:
    cJSON_Delete(placeholder);
    return rc;
}

/* ---- freeing ---- */

static void free_strlist(gw_strlist_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        mcp_free(l->items[i]);
    mcp_free(l->items);
}

static void free_map(gw_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mcp_free(kv[i].key);
        mcp_free(kv[i].value);
    }
    mcp_free(kv);
}

static void free_server(gw_server_config_t *s)
{
    mcp_free(s->name);
    mcp_free(s->command);
    free_strlist(&s->args);
    free_map(s->env, s->env_count);
    mcp_free(s->cwd);
    mcp_free(s->endpoint);
    free_map(s->headers, s->header_count);
    free_map(s->tool_timeouts, s->tool_timeout_count);
    free_strlist(&s->allow_tools);
    free_strlist(&s->deny_tools);
}

void gw_server_config_clear(gw_server_config_t *s)
{
    if (!s)
        return;
    free_server(s);
    memset(s, 0, sizeof *s);
}

static int copy_strlist(gw_strlist_t *dst, const gw_strlist_t *src)
{
    *dst = (gw_strlist_t){0};
    if (!src->count)
        return 0;
    dst->items = mcp_calloc(src->count, sizeof *dst->items);
    if (!dst->items)
        return MCP_ENOMEM;
    for (; dst->count < src->count; dst->count++)
        if (!(dst->items[dst->count] = mcp_strdup(src->items[dst->count])))
            return MCP_ENOMEM;
    return 0;
}

static int copy_map(gw_kv_t **dst, size_t *dst_n, const gw_kv_t *src, size_t n)
{
    *dst = NULL;
    *dst_n = 0;
    if (!n)
        return 0;
    if (!(*dst = mcp_calloc(n, sizeof **dst)))
        return MCP_ENOMEM;
    for (; *dst_n < n; (*dst_n)++) {
        gw_kv_t *kv = &(*dst)[*dst_n];
        kv->key = mcp_strdup(src[*dst_n].key);
        kv->value = mcp_strdup(src[*dst_n].value);
        if (!kv->key || !kv->value) {
            (*dst_n)++; /* so the partial pair is freed */
            return MCP_ENOMEM;
        }
    }
    return 0;
}

static int copy_str(char **dst, const char *src)
{
    *dst = src ? mcp_strdup(src) : NULL;
    return src && !*dst ? MCP_ENOMEM : 0;
}

int gw_server_config_copy(gw_server_config_t *dst, const gw_server_config_t *src)
{
    *dst = *src;
    /* Start from no owned pointers, so a failure half-way frees only what was copied. */
    dst->name = dst->command = dst->cwd = dst->endpoint = NULL;
    dst->args = dst->allow_tools = dst->deny_tools = (gw_strlist_t){0};
    dst->env = dst->headers = dst->tool_timeouts = NULL;
    dst->env_count = dst->header_count = dst->tool_timeout_count = 0;
    int rc = 0;
    if (copy_str(&dst->name, src->name) || copy_str(&dst->command, src->command) ||
        copy_str(&dst->cwd, src->cwd) || copy_str(&dst->endpoint, src->endpoint) ||
        copy_strlist(&dst->args, &src->args) ||
        copy_strlist(&dst->allow_tools, &src->allow_tools) ||
        copy_strlist(&dst->deny_tools, &src->deny_tools) ||
        copy_map(&dst->env, &dst->env_count, src->env, src->env_count) ||
        copy_map(&dst->headers, &dst->header_count, src->headers, src->header_count) ||
        copy_map(&dst->tool_timeouts, &dst->tool_timeout_count, src->tool_timeouts,
                 src->tool_timeout_count))
        rc = MCP_ENOMEM;
    if (rc)
        gw_server_config_clear(dst);
    return rc;
}

void gw_config_free(gw_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->server_count; i++)
        free_server(&cfg->servers[i]);
    mcp_free(cfg->servers);
    gw_settings_t *s = &cfg->settings;
    mcp_free(s->listen);
    mcp_free(s->separator);
    mcp_free(s->single_url);
    free_strlist(&s->api_keys);
    free_strlist(&s->cors_origins);
    free_strlist(&s->allowed_hosts);
    mcp_free(cfg->path);
    mcp_free(cfg);
}

/* ---- entry points ---- */

static int read_any(ctx_t *c, const char *text, size_t len, cJSON **out)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    if (i < len && (text[i] == '{' || text[i] == '[')) {
        const char *end = NULL;
        *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
        if (*out)
            return 0;
        /* Name the line of the error: cJSON reports the position. */
        int line = 1;
        const char *stop = cJSON_GetErrorPtr();
        if (!stop || stop < text || stop > text + len)
            stop = text;
        for (const char *p = text; p < stop; p++)
            line += *p == '\n';
        fail(c, line, NULL, "invalid JSON");
        return MCP_EPARSE;
    }
    return parse_yaml(c, text, len, out);
}

static int build(ctx_t *c, const cJSON *norm, gw_config_t *cfg)
{
    int rc = load_settings(c, cJSON_GetObjectItemCaseSensitive(norm, "gateway"), &cfg->settings);
    if (rc)
        return rc;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(norm, "servers");
    size_t n = (size_t)cJSON_GetArraySize(list);
    cfg->servers = mcp_calloc(n ? n : 1, sizeof *cfg->servers);
    if (!cfg->servers)
        return MCP_ENOMEM;
    for (const cJSON *e = list->child; e; e = e->next) {
        gw_server_config_t *s = &cfg->servers[cfg->server_count];
        rc = load_server(c, e, cfg->server_count, s);
        cfg->server_count++; /* counted even on failure so gw_config_free releases it */
        if (rc)
            return rc;
        for (size_t j = 0; j + 1 < cfg->server_count; j++) {
            if (strcmp(cfg->servers[j].name, s->name) == 0) {
                const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, PATH_KEY);
                return fail(c, line_of(e), cJSON_IsString(p) ? p->valuestring : "servers",
                            "duplicate server name \"%s\"", s->name);
            }
        }
    }
    return 0;
}

int gw_config_parse(const char *text, size_t len, const char *path, gw_env_fn env, void *env_ud,
                    gw_config_t **out, gw_config_error_t *err)
{
    *out = NULL;
    ctx_t c = {path ? path : "<config>", err, env, env_ud, 0};
    if (err)
        err->message[0] = '\0';
    cJSON *root = NULL, *norm = NULL;
    int rc = read_any(&c, text, len, &root);
    gw_config_t *cfg = NULL;
    if (!rc) {
        cfg = mcp_calloc(1, sizeof *cfg);
        rc = cfg ? normalise(&c, root, &cfg->format, &norm) : MCP_ENOMEM;
    }
    if (!rc && path && !(cfg->path = mcp_strdup(path)))
        rc = MCP_ENOMEM;
    if (!rc)
        rc = build(&c, norm, cfg);
    cJSON_Delete(root);
    cJSON_Delete(norm);
    if (rc) {
        if (rc == MCP_ENOMEM && err)
            snprintf(err->message, sizeof err->message, "%s: out of memory", c.file);
        gw_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

static int read_file(ctx_t *c, const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (c->err)
            snprintf(c->err->message, sizeof c->err->message, "%s: cannot open: %s", path,
                     strerror(errno));
        return errno == ENOENT ? MCP_ENOTFOUND : MCP_EINVAL;
    }
    buf_t b;
    buf_init(&b, CONFIG_MAX_FILE);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buf_append(&b, chunk, n);
    fclose(f);
    if (rc) {
        buf_free(&b);
        if (c->err)
            snprintf(c->err->message, sizeof c->err->message, "%s: %s", path,
                     rc == MCP_ENOBUFS ? "larger than 4 MiB" : "out of memory");
        return rc;
    }
    *text = buf_detach(&b, len);
    return *text ? 0 : MCP_ENOMEM;
}

int gw_config_load(const char *path, gw_env_fn env, void *env_ud, gw_config_t **out,
                   gw_config_error_t *err)
{
    ctx_t c = {path, err, env, env_ud, 0};
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = read_file(&c, path, &text, &len);
    if (rc)
        return rc;
    rc = gw_config_parse(text, len, path, env, env_ud, out, err);
    mcp_free(text);
    return rc;
}

const char *gw_config_find(gw_env_fn env, void *env_ud)
{
    const char *p = env ? env("MCP_CONFIG_PATH", env_ud) : getenv("MCP_CONFIG_PATH");
    if (p && *p)
        return p;
    static const char *const candidates[] = {"config/mcp-servers.json", "/etc/mcp/servers.json"};
    for (size_t i = 0; i < 2; i++)
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    return NULL;
}

int gw_config_default(gw_env_fn env, void *env_ud, gw_config_t **out)
{
    static const char empty[] = "{\"version\":\"1.0\",\"servers\":[]}";
    return gw_config_parse(empty, sizeof empty - 1, "<defaults>", env, env_ud, out, NULL);
}

static void strip_hidden(cJSON *node)
{
    for (cJSON *f = node ? node->child : NULL; f;) {
        cJSON *next = f->next;
        if (f->string && f->string[0] == '\x01')
            cJSON_Delete(cJSON_DetachItemViaPointer(node, f));
        else
            strip_hidden(f);
        f = next;
    }
}

int gw_config_migrate(const char *text, size_t len, const char *path, char **out,
                      gw_config_error_t *err)
{
    *out = NULL;
    ctx_t c = {path ? path : "<config>", err, NULL, NULL, 0};
    if (err)
        err->message[0] = '\0';
    cJSON *root = NULL, *norm = NULL;
    gw_config_format_t format;
    int rc = read_any(&c, text, len, &root);
    if (!rc)
        rc = normalise(&c, root, &format, &norm);
    if (!rc) {
        /* Validate with references left as they are: expansion would need the environment. */
        gw_config_t probe = {0};
        ctx_t vc = c;
        vc.raw = 1;
        rc = build(&vc, norm, &probe);
        for (size_t i = 0; i < probe.server_count; i++)
            free_server(&probe.servers[i]);
        mcp_free(probe.servers);
        gw_settings_t *s = &probe.settings;
        mcp_free(s->listen);
        mcp_free(s->separator);
        mcp_free(s->single_url);
        free_strlist(&s->api_keys);
        free_strlist(&s->cors_origins);
        free_strlist(&s->allowed_hosts);
    }
    if (!rc) {
        strip_hidden(norm);
        *out = cJSON_Print(norm);
        if (!*out)
            rc = MCP_ENOMEM;
    }
    cJSON_Delete(root);
    cJSON_Delete(norm);
    return rc;
}

/* ---- comparisons for hot reload ---- */

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int list_eq(const gw_strlist_t *a, const gw_strlist_t *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->items[i], b->items[i]))
            return 0;
    return 1;
}

static int map_eq(const gw_kv_t *a, size_t an, const gw_kv_t *b, size_t bn)
{
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++)
        if (strcmp(a[i].key, b[i].key) || strcmp(a[i].value, b[i].value))
            return 0;
    return 1;
}

int gw_server_config_same_connection(const gw_server_config_t *a, const gw_server_config_t *b)
{
    return str_eq(a->name, b->name) && a->enabled == b->enabled && a->transport == b->transport &&
           str_eq(a->command, b->command) && list_eq(&a->args, &b->args) &&
           map_eq(a->env, a->env_count, b->env, b->env_count) && str_eq(a->cwd, b->cwd) &&
           str_eq(a->endpoint, b->endpoint) &&
           map_eq(a->headers, a->header_count, b->headers, b->header_count);
}

const gw_server_config_t *gw_config_server(const gw_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->server_count; i++)
        if (strcmp(cfg->servers[i].name, name) == 0)
            return &cfg->servers[i];
    return NULL;
}
