/* aggregator: see aggregator.h. */
#include "aggregator.h"

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "mcp_proto.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP         "aggregator"
#define LLM_NAME_MAX 64

/* ---- a string -> index map (open addressing; keys borrowed from the catalog) ---- */

typedef struct strmap_s {
    const char **keys;
    size_t *vals;
    size_t cap; /* power of two */
} strmap_t;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int strmap_init(strmap_t *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 + 16)
        cap *= 2;
    m->keys = mcp_calloc(cap, sizeof *m->keys);
    m->vals = mcp_calloc(cap, sizeof *m->vals);
    m->cap = cap;
    return m->keys && m->vals ? 0 : MCP_ENOMEM;
}

static void strmap_free(strmap_t *m)
{
    mcp_free(m->keys);
    mcp_free(m->vals);
    *m = (strmap_t){0};
}

/* 1 inserted, 0 already present (value unchanged). The map never fills: it is sized for the
 * number of keys at init. */
static int strmap_put(strmap_t *m, const char *key, size_t val)
{
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0)
            return 0;
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->vals[i] = val;
    return 1;
}

static int strmap_get(const strmap_t *m, const char *key, size_t *val)
{
    if (!m->cap || !key)
        return 0;
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) {
            if (val)
                *val = m->vals[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}

/* ---- the catalog ---- */

typedef struct src_s {
    char *name;
    void *handle;
    int prefix;
    size_t rank; /* routing position: priority, then config order */
} src_t;

typedef struct item_s {
    size_t src;
    size_t pos;           /* listing position (source order, then upstream order) */
    char *orig;           /* the upstream's name, URI or URI template */
    char *ns;             /* server<sep>orig (tools, prompts) */
    char *name;           /* exposed (NULL: not exposed, name clash) */
    char *llm;            /* tools */
    const cJSON *src_obj; /* the source's object (during the build only) */
    cJSON *def;           /* the listed object (owned by the listing array), NULL: not listed */
    long group;           /* conflict group, or -1 */
    int winner;           /* routes its bare name / owns its URI */
    int dropped;          /* duplicate: neither listed nor routed */
} item_t;

typedef struct itemset_s {
    item_t *v;
    size_t n;
} itemset_t;

typedef struct catalog_s {
    src_t *srcs;
    size_t nsrcs;
    itemset_t tools, prompts, resources, templates;
    size_t *tpl_order; /* indices of the listed templates in routing order */
    size_t ntpl_order;
    strmap_t tool_by_name, tool_by_llm, tool_by_ns, tool_by_orig;
    strmap_t prompt_by_name, prompt_by_ns, prompt_by_orig;
    strmap_t res_by_uri;
    strmap_t denied; /* server<sep>tool of filtered tools */
    char **denied_keys;
    size_t ndenied;
    cJSON *tools_json, *resources_json, *templates_json, *prompts_json;
    cJSON *conflicts; /* [{kind,name,servers,routedTo}] */
    cJSON *caps;
    size_t navailable;
} catalog_t;

typedef struct read_ctx_s read_ctx_t;

struct gw_aggregator_s {
    char *sep;
    gw_agg_change_fn on_change;
    void *ud;
    catalog_t *cat;
    uint64_t version;
    gw_registry_t *reg;
    gw_upstream_t *excluding; /* being removed: left out of the rebuild */
    gw_cache_t *cache;        /* NULL when disabled */
    read_ctx_t *reads;        /* reads in flight (to detach on free) */
    cJSON *empty;
};

struct read_ctx_s {
    read_ctx_t *prev, *next;
    gw_aggregator_t *agg; /* NULL once the aggregator is gone */
    char *uri;
    gw_upcall_fn cb;
    void *ud;
};

static void itemset_free(itemset_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        mcp_free(s->v[i].orig);
        mcp_free(s->v[i].ns);
        mcp_free(s->v[i].name);
        mcp_free(s->v[i].llm);
    }
    mcp_free(s->v);
    *s = (itemset_t){0};
}

static void catalog_free(catalog_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsrcs; i++)
        mcp_free(c->srcs[i].name);
    mcp_free(c->srcs);
    itemset_free(&c->tools);
    itemset_free(&c->prompts);
    itemset_free(&c->resources);
    itemset_free(&c->templates);
    mcp_free(c->tpl_order);
    strmap_free(&c->tool_by_name);
    strmap_free(&c->tool_by_llm);
    strmap_free(&c->tool_by_ns);
    strmap_free(&c->tool_by_orig);
    strmap_free(&c->prompt_by_name);
    strmap_free(&c->prompt_by_ns);
    strmap_free(&c->prompt_by_orig);
    strmap_free(&c->res_by_uri);
    strmap_free(&c->denied);
    for (size_t i = 0; i < c->ndenied; i++)
        mcp_free(c->denied_keys[i]);
    mcp_free(c->denied_keys);
    cJSON_Delete(c->tools_json);
    cJSON_Delete(c->resources_json);
    cJSON_Delete(c->templates_json);
    cJSON_Delete(c->prompts_json);
    cJSON_Delete(c->conflicts);
    cJSON_Delete(c->caps);
    mcp_free(c);
}

/* ---- names ---- */

int gw_agg_llm_name_valid(const char *name)
{
    size_t n = 0;
    if (!name)
        return 0;
    for (; name[n]; n++) {
        char ch = name[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return n >= 1 && n <= LLM_NAME_MAX;
}

static char *sanitize(const char *name)
{
    size_t n = strlen(name);
    char *s = mcp_malloc(n + 5);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-';
        s[i] = ok ? ch : '_';
    }
    s[n] = '\0';
    if (n == 0)
        strcpy(s, "tool");
    return s;
}

static uint32_t fnv32(const char *s, unsigned salt)
{
    uint32_t h = 2166136261u ^ salt;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static char *hashed_name(const char *sanitized, const char *exposed, unsigned salt)
{
    char *s = mcp_malloc(LLM_NAME_MAX + 1);
    if (!s)
        return NULL;
    snprintf(s, LLM_NAME_MAX + 1, "%.55s_%08x", sanitized, fnv32(exposed, salt));
    return s;
}

int gw_agg_tool_allowed(const gw_server_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->deny_tools.count; i++)
        if (fnmatch(cfg->deny_tools.items[i], name, 0) == 0)
            return 0;
    if (cfg->allow_tools.count == 0)
        return 1;
    for (size_t i = 0; i < cfg->allow_tools.count; i++)
        if (fnmatch(cfg->allow_tools.items[i], name, 0) == 0)
            return 1;
    return 0;
}

/* ---- URI templates (RFC 6570 levels 1-3, for matching only) ---- */

/* Characters an expression's value may contain for operator op. */
static int expr_char_ok(char op, char ch)
{
    if (op == '+' || op == '#')
        return ch != '\0';
    return ch != '\0' && ch != '/' && ch != '?' && ch != '#' && ch != '&';
}

static int tpl_match_at(const char *t, const char *u, int depth)
{
    if (depth > 64)
        return 0;
    while (*t && *t != '{') {
        if (*t != *u)
            return 0;
        t++;
        u++;
    }
    if (!*t)
        return *u == '\0';
    const char *close = strchr(t, '}');
    if (!close)
        return 0; /* malformed template: match nothing */
    char op = t[1];
    const char *rest = close + 1;
    if (op == '?' || op == '&') {
        /* Optional query part: nothing, or op char and everything up to '#'. */
        if (tpl_match_at(rest, u, depth + 1))
            return 1;
        if (*u != '?' && *u != '&')
            return 0;
        const char *v = u + 1;
        while (*v && *v != '#')
            v++;
        for (const char *end = v; end > u; end--)
            if (tpl_match_at(rest, end, depth + 1))
                return 1;
        return 0;
    }
    const char *v = u;
    if (op == '/' || op == '.' || op == ';') {
        if (*v != op)
            return 0;
        v++;
    }
    /* One or more characters, longest first. */
    const char *end = v;
    while (expr_char_ok(op == '/' ? '+' : op, *end) && (op != '/' || (*end != '?' && *end != '#')))
        end++;
    for (; end > v; end--)
        if (tpl_match_at(rest, end, depth + 1))
            return 1;
    return 0;
}

int gw_agg_template_match(const char *tpl, const char *uri)
{
    if (!tpl || !uri)
        return 0;
    return tpl_match_at(tpl, uri, 0);
}

/* ---- building ---- */

typedef struct build_s {
    gw_aggregator_t *agg;
    const gw_agg_source_t *in;
    size_t n;
    catalog_t *c;
} build_t;

typedef struct rank_ctx_s {
    const src_t *srcs;
    const item_t *items;
} rank_ctx_t;

static int cmp_src_rank(const void *a, const void *b, void *ud)
{
    const gw_agg_source_t *in = ud;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (in[x].cfg->priority != in[y].cfg->priority)
        return in[x].cfg->priority < in[y].cfg->priority ? -1 : 1;
    if (in[x].cfg->order != in[y].cfg->order)
        return in[x].cfg->order < in[y].cfg->order ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int cmp_item_rank(const void *a, const void *b, void *ud)
{
    const rank_ctx_t *rc = ud;
    const item_t *x = &rc->items[*(const size_t *)a], *y = &rc->items[*(const size_t *)b];
    size_t rx = rc->srcs[x->src].rank, ry = rc->srcs[y->src].rank;
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Item indices in routing order. */
static size_t *rank_order(const catalog_t *c, const itemset_t *s)
{
    size_t *idx = mcp_malloc((s->n ? s->n : 1) * sizeof *idx);
    if (!idx)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        idx[i] = i;
    rank_ctx_t rc = {c->srcs, s->v};
    qsort_r(idx, s->n, sizeof *idx, cmp_item_rank, &rc);
    return idx;
}

static int add_denied(catalog_t *c, char *key)
{
    char **n = mcp_realloc(c->denied_keys, (c->ndenied + 1) * sizeof *n);
    if (!n) {
        mcp_free(key);
        return MCP_ENOMEM;
    }
    c->denied_keys = n;
    n[c->ndenied++] = key;
    return 0;
}

/* Gather the items of one kind from the available sources, in source order. */
static int collect(build_t *b, int kind, itemset_t *out)
{
    catalog_t *c = b->c;
    size_t total = 0;
    for (size_t i = 0; i < b->n; i++) {
        const gw_agg_source_t *s = &b->in[i];
        const cJSON *list = kind == GW_CAT_TOOLS       ? s->tools
                            : kind == GW_CAT_PROMPTS   ? s->prompts
                            : kind == GW_CAT_RESOURCES ? s->resources
                                                       : s->templates;
        if (s->available && cJSON_IsArray(list))
            total += (size_t)cJSON_GetArraySize(list);
    }
    out->v = mcp_calloc(total ? total : 1, sizeof *out->v);
    if (!out->v)
        return MCP_ENOMEM;
    const char *ident = kind == GW_CAT_RESOURCES   ? "uri"
                        : kind == GW_CAT_TEMPLATES ? "uriTemplate"
                                                   : "name";
    int named = kind == GW_CAT_TOOLS || kind == GW_CAT_PROMPTS;
    for (size_t i = 0; i < b->n; i++) {
        const gw_agg_source_t *s = &b->in[i];
        const cJSON *list = kind == GW_CAT_TOOLS       ? s->tools
                            : kind == GW_CAT_PROMPTS   ? s->prompts
                            : kind == GW_CAT_RESOURCES ? s->resources
                                                       : s->templates;
        if (!s->available || !cJSON_IsArray(list))
            continue;
        const cJSON *obj;
        cJSON_ArrayForEach(obj, list)
        {
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, ident));
            if (!cJSON_IsObject(obj) || !id || !id[0])
                continue;
            if (kind == GW_CAT_TOOLS && !gw_agg_tool_allowed(s->cfg, id)) {
                char *key = mcp_asprintf("%s%s%s", s->cfg->name, b->agg->sep, id);
                if (!key || add_denied(c, key))
                    return MCP_ENOMEM;
                continue;
            }
            item_t *it = &out->v[out->n];
            *it = (item_t){.src = i, .pos = out->n, .src_obj = obj, .group = -1};
            it->orig = mcp_strdup(id);
            if (named)
                it->ns = mcp_asprintf("%s%s%s", s->cfg->name, b->agg->sep, id);
            out->n++;
            if (!it->orig || (named && !it->ns))
                return MCP_ENOMEM;
        }
    }
    return 0;
}

/* Record item j (not the winner w of its name) in w's conflict group. */
static int add_conflict(build_t *b, itemset_t *s, size_t w, size_t j, const char *kind)
{
    catalog_t *c = b->c;
    item_t *win = &s->v[w];
    if (win->group < 0) {
        cJSON *g = cJSON_CreateObject();
        if (!g || !cJSON_AddItemToArray(c->conflicts, g)) {
            cJSON_Delete(g);
            return MCP_ENOMEM;
        }
        if (!cJSON_AddStringToObject(g, "kind", kind) ||
            !cJSON_AddStringToObject(g, "name", win->orig) ||
            !cJSON_AddArrayToObject(g, "servers") ||
            !cJSON_AddStringToObject(g, "routedTo", c->srcs[win->src].name))
            return MCP_ENOMEM;
        cJSON *servers = cJSON_GetObjectItemCaseSensitive(g, "servers");
        if (!cJSON_AddItemToArray(servers, cJSON_CreateString(c->srcs[win->src].name)))
            return MCP_ENOMEM;
        win->group = cJSON_GetArraySize(c->conflicts) - 1;
    }
    cJSON *g = cJSON_GetArrayItem(c->conflicts, (int)win->group);
    cJSON *servers = cJSON_GetObjectItemCaseSensitive(g, "servers");
    cJSON *name = cJSON_CreateString(c->srcs[s->v[j].src].name);
    if (!name || !cJSON_AddItemToArray(servers, name)) {
        cJSON_Delete(name);
        return MCP_ENOMEM;
    }
    s->v[j].group = win->group;
    return 0;
}

/* The listing array of a kind, in listing order, with names rewritten where given. */
static int make_listing(itemset_t *s, cJSON **out, int rename)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return MCP_ENOMEM;
    *out = arr;
    for (size_t i = 0; i < s->n; i++) {
        item_t *it = &s->v[i];
        if (it->dropped || (rename && !it->name))
            continue;
        cJSON *d = cJSON_Duplicate(it->src_obj, 1);
        if (!d || !cJSON_AddItemToArray(arr, d)) {
            cJSON_Delete(d);
            return MCP_ENOMEM;
        }
        if (rename) {
            cJSON *nm = cJSON_CreateString(it->name);
            if (!nm || !cJSON_ReplaceItemInObjectCaseSensitive(d, "name", nm)) {
                cJSON_Delete(nm);
                return MCP_ENOMEM;
            }
        }
        it->def = d;
    }
    return 0;
}

/* Tools and prompts: bare-name winners, conflicts, exposed names. */
static int build_named(build_t *b, itemset_t *s, strmap_t *by_name, strmap_t *by_ns,
                       strmap_t *by_orig, const char *kind)
{
    catalog_t *c = b->c;
    if (strmap_init(by_name, s->n) || strmap_init(by_ns, s->n) || strmap_init(by_orig, s->n))
        return MCP_ENOMEM;
    size_t *idx = rank_order(c, s);
    if (!idx)
        return MCP_ENOMEM;
    int rc = 0;
    for (size_t r = 0; r < s->n && !rc; r++) {
        size_t j = idx[r];
        item_t *it = &s->v[j];
        if (!strmap_put(by_ns, it->ns, j)) {
            LOG_W(COMP, "duplicate name from one server, ignored", "kind=%s name=%s", kind,
                  log_quote(it->ns));
            it->dropped = 1;
            continue;
        }
        size_t w;
        if (strmap_put(by_orig, it->orig, j))
            it->winner = 1;
        else if (strmap_get(by_orig, it->orig, &w))
            rc = add_conflict(b, s, w, j, kind);
    }
    for (size_t r = 0; r < s->n && !rc; r++) {
        size_t j = idx[r];
        item_t *it = &s->v[j];
        if (it->dropped)
            continue;
        const char *want = c->srcs[it->src].prefix ? it->ns : it->orig;
        if (!strmap_put(by_name, want, j)) {
            if (want != it->ns && strmap_put(by_name, it->ns, j)) {
                want = it->ns;
            } else {
                LOG_W(COMP, "name clash, not listed", "kind=%s name=%s server=%s", kind,
                      log_quote(want), log_quote(c->srcs[it->src].name));
                continue;
            }
        }
        /* The map keys point at the item's ns/orig strings, which live as long as it. */
        if (!(it->name = mcp_strdup(want)))
            rc = MCP_ENOMEM;
    }
    mcp_free(idx);
    return rc;
}

static int build_llm_names(catalog_t *c)
{
    itemset_t *s = &c->tools;
    if (strmap_init(&c->tool_by_llm, s->n))
        return MCP_ENOMEM;
    for (size_t j = 0; j < s->n; j++) {
        item_t *it = &s->v[j];
        if (!it->name || it->dropped || !gw_agg_llm_name_valid(it->name))
            continue;
        if (!(it->llm = mcp_strdup(it->name)))
            return MCP_ENOMEM;
        strmap_put(&c->tool_by_llm, it->llm, j);
    }
    /* Invalid names: sanitized when that is unique, else hashed. */
    char **san = mcp_calloc(s->n ? s->n : 1, sizeof *san);
    char *clash = mcp_calloc(s->n ? s->n : 1, 1);
    strmap_t seen = {0};
    int rc = san && clash && !strmap_init(&seen, s->n) ? 0 : MCP_ENOMEM;
    for (size_t j = 0; j < s->n && !rc; j++) {
        item_t *it = &s->v[j];
        if (!it->name || it->dropped || it->llm)
            continue;
        if (!(san[j] = sanitize(it->name))) {
            rc = MCP_ENOMEM;
            break;
        }
        size_t other;
        if (!strmap_put(&seen, san[j], j) && strmap_get(&seen, san[j], &other))
            clash[j] = clash[other] = 1;
    }
    for (size_t j = 0; j < s->n && !rc; j++) {
        item_t *it = &s->v[j];
        if (!san[j])
            continue;
        if (!clash[j] && strlen(san[j]) <= LLM_NAME_MAX) {
            it->llm = san[j];
            san[j] = NULL;
            if (strmap_put(&c->tool_by_llm, it->llm, j))
                continue;
            san[j] = it->llm; /* taken by a valid name: hash instead */
            it->llm = NULL;
        }
        for (unsigned salt = 0; salt < 1000 && !it->llm; salt++) {
            char *h = hashed_name(san[j], it->name, salt);
            if (!h) {
                rc = MCP_ENOMEM;
                break;
            }
            it->llm = h;
            if (!strmap_put(&c->tool_by_llm, h, j)) {
                it->llm = NULL;
                mcp_free(h);
            }
        }
    }
    if (san)
        for (size_t j = 0; j < s->n; j++)
            mcp_free(san[j]);
    mcp_free(san);
    mcp_free(clash);
    strmap_free(&seen);
    return rc;
}

static int build_resources(build_t *b)
{
    catalog_t *c = b->c;
    itemset_t *s = &c->resources;
    if (strmap_init(&c->res_by_uri, s->n))
        return MCP_ENOMEM;
    size_t *idx = rank_order(c, s);
    if (!idx)
        return MCP_ENOMEM;
    int rc = 0;
    for (size_t r = 0; r < s->n && !rc; r++) {
        size_t j = idx[r], w;
        item_t *it = &s->v[j];
        if (strmap_put(&c->res_by_uri, it->orig, j)) {
            it->winner = 1;
        } else if (strmap_get(&c->res_by_uri, it->orig, &w)) {
            it->dropped = 1; /* one entry per URI: the owner's */
            if (s->v[w].src != it->src)
                rc = add_conflict(b, s, w, j, "resource");
        }
    }
    mcp_free(idx);
    return rc;
}

static int build_templates(build_t *b)
{
    catalog_t *c = b->c;
    itemset_t *s = &c->templates;
    strmap_t seen = {0};
    size_t *idx = rank_order(c, s);
    c->tpl_order = mcp_malloc((s->n ? s->n : 1) * sizeof *c->tpl_order);
    int rc = idx && c->tpl_order && !strmap_init(&seen, s->n) ? 0 : MCP_ENOMEM;
    size_t k = 0;
    for (size_t r = 0; r < s->n && !rc; r++) {
        size_t j = idx[r];
        if (strmap_put(&seen, s->v[j].orig, j)) {
            s->v[j].winner = 1;
            c->tpl_order[k++] = j;
        } else {
            s->v[j].dropped = 1;
        }
    }
    c->ntpl_order = k;
    mcp_free(idx);
    strmap_free(&seen);
    return rc;
}

static int build_caps(build_t *b)
{
    catalog_t *c = b->c;
    int subscribe = 0, logging = 0, completions = 0;
    for (size_t i = 0; i < b->n; i++) {
        const cJSON *caps = b->in[i].capabilities;
        if (!b->in[i].available || !caps)
            continue;
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(caps, "resources");
        subscribe |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "subscribe"));
        logging |= cJSON_HasObjectItem(caps, "logging");
        completions |= cJSON_HasObjectItem(caps, "completions");
    }
    cJSON *o = c->caps = cJSON_CreateObject();
    if (!o)
        return MCP_ENOMEM;
    cJSON *t = cJSON_AddObjectToObject(o, "tools");
    cJSON *r = cJSON_AddObjectToObject(o, "resources");
    cJSON *p = cJSON_AddObjectToObject(o, "prompts");
    if (!t || !r || !p || !cJSON_AddTrueToObject(t, "listChanged") ||
        !cJSON_AddTrueToObject(r, "listChanged") || !cJSON_AddTrueToObject(p, "listChanged") ||
        (subscribe && !cJSON_AddTrueToObject(r, "subscribe")) ||
        (logging && !cJSON_AddObjectToObject(o, "logging")) ||
        (completions && !cJSON_AddObjectToObject(o, "completions")))
        return MCP_ENOMEM;
    return 0;
}

static int build_catalog(gw_aggregator_t *agg, const gw_agg_source_t *in, size_t n, catalog_t **out)
{
    for (size_t i = 0; i < n; i++)
        if (!in[i].cfg || !in[i].cfg->name)
            return MCP_EINVAL;
    catalog_t *c = mcp_calloc(1, sizeof *c);
    if (!c)
        return MCP_ENOMEM;
    build_t b = {.agg = agg, .in = in, .n = n, .c = c};
    int rc = 0;
    size_t *order = mcp_malloc((n ? n : 1) * sizeof *order);
    c->srcs = mcp_calloc(n ? n : 1, sizeof *c->srcs);
    c->conflicts = cJSON_CreateArray();
    if (!order || !c->srcs || !c->conflicts) {
        rc = MCP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof *order, cmp_src_rank, (void *)in);
    for (size_t r = 0; r < n; r++)
        c->srcs[order[r]].rank = r;
    c->nsrcs = n;
    for (size_t i = 0; i < n; i++) {
        c->srcs[i].handle = in[i].handle;
        c->srcs[i].prefix = in[i].cfg->prefix;
        c->navailable += in[i].available != 0;
        if (!(c->srcs[i].name = mcp_strdup(in[i].cfg->name))) {
            rc = MCP_ENOMEM;
            goto out;
        }
    }
    if ((rc = collect(&b, GW_CAT_TOOLS, &c->tools)) ||
        (rc = collect(&b, GW_CAT_PROMPTS, &c->prompts)) ||
        (rc = collect(&b, GW_CAT_RESOURCES, &c->resources)) ||
        (rc = collect(&b, GW_CAT_TEMPLATES, &c->templates)))
        goto out;
    if (strmap_init(&c->denied, c->ndenied)) {
        rc = MCP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < c->ndenied; i++)
        strmap_put(&c->denied, c->denied_keys[i], i);
    if ((rc = build_named(&b, &c->tools, &c->tool_by_name, &c->tool_by_ns, &c->tool_by_orig,
                          "tool")) ||
        (rc = build_named(&b, &c->prompts, &c->prompt_by_name, &c->prompt_by_ns, &c->prompt_by_orig,
                          "prompt")) ||
        (rc = build_llm_names(c)) || (rc = build_resources(&b)) || (rc = build_templates(&b)) ||
        (rc = build_caps(&b)))
        goto out;
    if ((rc = make_listing(&c->tools, &c->tools_json, 1)) ||
        (rc = make_listing(&c->prompts, &c->prompts_json, 1)) ||
        (rc = make_listing(&c->resources, &c->resources_json, 0)) ||
        (rc = make_listing(&c->templates, &c->templates_json, 0)))
        goto out;
out:
    mcp_free(order);
    if (rc) {
        catalog_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* ---- installing a catalog ---- */

static int same_json(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return cJSON_GetArraySize(a) == 0 && cJSON_GetArraySize(b) == 0;
    return cJSON_Compare(a, b, 1);
}

static void install(gw_aggregator_t *agg, catalog_t *c)
{
    catalog_t *old = agg->cat;
    unsigned changed = 0;
    if (!old || !same_json(old->tools_json, c ? c->tools_json : NULL))
        changed |= GW_CAT_TOOLS;
    if (!old || !same_json(old->resources_json, c ? c->resources_json : NULL) ||
        !same_json(old->templates_json, c ? c->templates_json : NULL))
        changed |= GW_CAT_RESOURCES;
    if (!old || !same_json(old->prompts_json, c ? c->prompts_json : NULL))
        changed |= GW_CAT_PROMPTS;
    agg->cat = c;
    catalog_free(old);
    if (!changed)
        return;
    agg->version++;
    LOG_I(COMP, "catalog changed",
          "version=%llu tools=%d resources=%d templates=%d prompts=%d conflicts=%d sources=%zu",
          (unsigned long long)agg->version, c ? cJSON_GetArraySize(c->tools_json) : 0,
          c ? cJSON_GetArraySize(c->resources_json) : 0,
          c ? cJSON_GetArraySize(c->templates_json) : 0,
          c ? cJSON_GetArraySize(c->prompts_json) : 0, c ? cJSON_GetArraySize(c->conflicts) : 0,
          c ? c->navailable : 0);
    if (agg->on_change)
        agg->on_change(agg, changed, agg->ud);
}

int gw_agg_build(gw_aggregator_t *agg, const gw_agg_source_t *sources, size_t count)
{
    if (!agg || (count && !sources))
        return MCP_EINVAL;
    catalog_t *c;
    int rc = build_catalog(agg, sources, count, &c);
    if (rc)
        return rc;
    install(agg, c);
    return 0;
}

static int rebuild_from_registry(gw_aggregator_t *agg)
{
    size_t n = gw_registry_count(agg->reg), m = 0;
    gw_agg_source_t *src = mcp_calloc(n ? n : 1, sizeof *src);
    int rc = MCP_ENOMEM;
    if (src) {
        for (size_t i = 0; i < n; i++) {
            gw_upstream_t *up = gw_registry_at(agg->reg, i);
            if (up == agg->excluding)
                continue;
            mcp_client_t *cl = gw_upstream_client(up);
            src[m++] =
                (gw_agg_source_t){.cfg = gw_upstream_config(up),
                                  .available = gw_upstream_available(up),
                                  .tools = gw_upstream_tools(up),
                                  .resources = gw_upstream_resources(up),
                                  .templates = gw_upstream_templates(up),
                                  .prompts = gw_upstream_prompts(up),
                                  .capabilities = cl ? mcp_client_server_capabilities(cl) : NULL,
                                  .handle = up};
        }
        rc = gw_agg_build(agg, src, m);
        mcp_free(src);
    }
    if (rc) {
        LOG_E(COMP, "cannot rebuild the catalog", "err=%s", mcp_err_name(rc));
        /* Never keep routes to an upstream that is going away. */
        if (agg->excluding)
            install(agg, NULL);
    }
    return rc;
}

int gw_agg_rebuild(gw_aggregator_t *agg)
{
    if (!agg || !agg->reg)
        return MCP_ESTATE;
    return rebuild_from_registry(agg);
}

static void on_reg_event(const gw_upstream_event_t *ev, void *ud)
{
    gw_aggregator_t *agg = ud;
    switch (ev->kind) {
    case GW_UPEV_STATE: {
        int was = ev->old_state == GW_UP_READY || ev->old_state == GW_UP_DEGRADED;
        int is = ev->new_state == GW_UP_READY || ev->new_state == GW_UP_DEGRADED;
        if (was != is)
            rebuild_from_registry(agg);
        break;
    }
    case GW_UPEV_CATALOG:
        if (gw_upstream_available(ev->up))
            rebuild_from_registry(agg);
        break;
    case GW_UPEV_CONFIG: rebuild_from_registry(agg); break;
    case GW_UPEV_REMOVED:
        agg->excluding = ev->up;
        rebuild_from_registry(agg);
        agg->excluding = NULL;
        break;
    case GW_UPEV_RESOURCE_UPDATED:
        if (agg->cache && ev->uri)
            gw_cache_remove(agg->cache, ev->uri);
        break;
    case GW_UPEV_SETTLED:
    case GW_UPEV_NOTIFICATION: break;
    }
}

int gw_agg_attach_registry(gw_aggregator_t *agg, gw_registry_t *reg)
{
    if (!agg || !reg)
        return MCP_EINVAL;
    if (agg->reg)
        return MCP_ESTATE;
    int rc = gw_registry_add_listener(reg, on_reg_event, agg);
    if (rc)
        return rc;
    agg->reg = reg;
    rebuild_from_registry(agg);
    return 0;
}

/* ---- lifecycle ---- */

void gw_agg_options_from_config(gw_agg_options_t *out, const gw_settings_t *s)
{
    *out = (gw_agg_options_t){0};
    out->separator = s->separator;
    out->cache_enabled = s->cache_enabled;
    out->cache_max_bytes = (size_t)s->cache_max_bytes;
    out->cache_ttl_ms = s->cache_ttl_ms;
}

static int apply_options(gw_aggregator_t *agg, const gw_agg_options_t *o)
{
    const char *sep = o->separator ? o->separator : ".";
    if (!sep[0])
        return MCP_EINVAL;
    char *s = mcp_strdup(sep);
    if (!s)
        return MCP_ENOMEM;
    size_t max = o->cache_max_bytes ? o->cache_max_bytes : (size_t)16 << 20;
    if (o->cache_enabled && !agg->cache) {
        if (gw_cache_new(max, o->cache_ttl_ms, &agg->cache)) {
            mcp_free(s);
            return MCP_ENOMEM;
        }
    } else if (o->cache_enabled) {
        gw_cache_configure(agg->cache, max, o->cache_ttl_ms);
    } else {
        gw_cache_free(agg->cache);
        agg->cache = NULL;
    }
    mcp_free(agg->sep);
    agg->sep = s;
    return 0;
}

int gw_agg_new(const gw_agg_options_t *opts, gw_aggregator_t **out)
{
    if (!out)
        return MCP_EINVAL;
    *out = NULL;
    gw_agg_options_t none = {0};
    if (!opts)
        opts = &none;
    gw_aggregator_t *agg = mcp_calloc(1, sizeof *agg);
    if (!agg)
        return MCP_ENOMEM;
    agg->on_change = opts->on_change;
    agg->ud = opts->ud;
    int rc = apply_options(agg, opts);
    if (!rc && !(agg->empty = cJSON_CreateArray()))
        rc = MCP_ENOMEM;
    if (rc) {
        gw_agg_free(agg);
        return rc;
    }
    *out = agg;
    return 0;
}

int gw_agg_configure(gw_aggregator_t *agg, const gw_agg_options_t *opts)
{
    if (!agg || !opts)
        return MCP_EINVAL;
    int rc = apply_options(agg, opts);
    if (rc)
        return rc;
    return agg->reg ? rebuild_from_registry(agg) : 0;
}

void gw_agg_free(gw_aggregator_t *agg)
{
    if (!agg)
        return;
    if (agg->reg)
        gw_registry_remove_listener(agg->reg, on_reg_event, agg);
    for (read_ctx_t *r = agg->reads; r; r = r->next)
        r->agg = NULL;
    catalog_free(agg->cat);
    gw_cache_free(agg->cache);
    cJSON_Delete(agg->empty);
    mcp_free(agg->sep);
    mcp_free(agg);
}

uint64_t gw_agg_version(const gw_aggregator_t *agg)
{
    return agg->version;
}

/* ---- listings ---- */

const cJSON *gw_agg_tools(const gw_aggregator_t *agg)
{
    return agg->cat ? agg->cat->tools_json : agg->empty;
}

const cJSON *gw_agg_resources(const gw_aggregator_t *agg)
{
    return agg->cat ? agg->cat->resources_json : agg->empty;
}

const cJSON *gw_agg_templates(const gw_aggregator_t *agg)
{
    return agg->cat ? agg->cat->templates_json : agg->empty;
}

const cJSON *gw_agg_prompts(const gw_aggregator_t *agg)
{
    return agg->cat ? agg->cat->prompts_json : agg->empty;
}

size_t gw_agg_conflict_count(const gw_aggregator_t *agg)
{
    return agg->cat ? (size_t)cJSON_GetArraySize(agg->cat->conflicts) : 0;
}

cJSON *gw_agg_tools_detailed(const gw_aggregator_t *agg)
{
    cJSON *arr = cJSON_CreateArray();
    const catalog_t *c = agg->cat;
    if (!arr || !c)
        return arr;
    for (size_t j = 0; j < c->tools.n; j++) {
        const item_t *it = &c->tools.v[j];
        if (!it->def)
            continue;
        cJSON *d = cJSON_Duplicate(it->def, 1);
        if (!d || !cJSON_AddItemToArray(arr, d)) {
            cJSON_Delete(d);
            goto oom;
        }
        if (!cJSON_AddStringToObject(d, "server", c->srcs[it->src].name) ||
            !cJSON_AddStringToObject(d, "originalName", it->orig) ||
            (it->llm && !cJSON_AddStringToObject(d, "llmName", it->llm)))
            goto oom;
        if (it->group >= 0) {
            const cJSON *g = cJSON_GetArrayItem(c->conflicts, (int)it->group);
            cJSON *servers = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(g, "servers"), 1);
            if (!servers || !cJSON_AddItemToObject(d, "conflicts", servers)) {
                cJSON_Delete(servers);
                goto oom;
            }
            if (!cJSON_AddBoolToObject(d, "bareNameRoutesHere", it->winner))
                goto oom;
        }
    }
    return arr;
oom:
    cJSON_Delete(arr);
    return NULL;
}

cJSON *gw_agg_tools_for_llm(const gw_aggregator_t *agg)
{
    cJSON *arr = cJSON_CreateArray();
    const catalog_t *c = agg->cat;
    if (!arr || !c)
        return arr;
    for (size_t j = 0; j < c->tools.n; j++) {
        const item_t *it = &c->tools.v[j];
        if (!it->def || !it->llm)
            continue;
        cJSON *d = cJSON_Duplicate(it->def, 1);
        cJSON *nm = cJSON_CreateString(it->llm);
        if (!d || !nm || !cJSON_AddItemToArray(arr, d)) {
            cJSON_Delete(d);
            cJSON_Delete(nm);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(d, "name", nm);
    }
    return arr;
}

cJSON *gw_agg_resources_detailed(const gw_aggregator_t *agg)
{
    cJSON *arr = cJSON_CreateArray();
    const catalog_t *c = agg->cat;
    if (!arr || !c)
        return arr;
    for (size_t j = 0; j < c->resources.n; j++) {
        const item_t *it = &c->resources.v[j];
        if (!it->def)
            continue;
        cJSON *d = cJSON_Duplicate(it->def, 1);
        if (!d || !cJSON_AddItemToArray(arr, d)) {
            cJSON_Delete(d);
            cJSON_Delete(arr);
            return NULL;
        }
        if (!cJSON_AddStringToObject(d, "server", c->srcs[it->src].name)) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

cJSON *gw_agg_stats_json(const gw_aggregator_t *agg)
{
    const catalog_t *c = agg->cat;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "tools", c ? cJSON_GetArraySize(c->tools_json) : 0);
    cJSON_AddNumberToObject(o, "resources", c ? cJSON_GetArraySize(c->resources_json) : 0);
    cJSON_AddNumberToObject(o, "templates", c ? cJSON_GetArraySize(c->templates_json) : 0);
    cJSON_AddNumberToObject(o, "prompts", c ? cJSON_GetArraySize(c->prompts_json) : 0);
    cJSON_AddNumberToObject(o, "sources", c ? (double)c->navailable : 0);
    cJSON_AddNumberToObject(o, "version", (double)agg->version);
    cJSON_AddStringToObject(o, "separator", agg->sep);
    cJSON *conf = c ? cJSON_Duplicate(c->conflicts, 1) : cJSON_CreateArray();
    if (!conf || !cJSON_AddItemToObject(o, "conflicts", conf)) {
        cJSON_Delete(conf);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON *cache = cJSON_AddObjectToObject(o, "cache");
    if (cache) {
        gw_cache_stats_t st;
        gw_agg_cache_stats(agg, &st);
        cJSON_AddBoolToObject(cache, "enabled", agg->cache != NULL);
        cJSON_AddNumberToObject(cache, "hits", (double)st.hits);
        cJSON_AddNumberToObject(cache, "misses", (double)st.misses);
        cJSON_AddNumberToObject(cache, "evictions", (double)st.evictions);
        cJSON_AddNumberToObject(cache, "expirations", (double)st.expirations);
        cJSON_AddNumberToObject(cache, "entries", (double)st.entries);
        cJSON_AddNumberToObject(cache, "bytes", (double)st.bytes);
        cJSON_AddNumberToObject(cache, "maxBytes", (double)st.max_bytes);
        cJSON_AddNumberToObject(cache, "ttlMs", (double)st.ttl_ms);
    }
    return o;
}

cJSON *gw_agg_capabilities(const gw_aggregator_t *agg)
{
    if (agg->cat && agg->cat->caps)
        return cJSON_Duplicate(agg->cat->caps, 1);
    return cJSON_Parse("{\"tools\":{\"listChanged\":true},\"resources\":{\"listChanged\":true},"
                       "\"prompts\":{\"listChanged\":true}}");
}

/* ---- routing ---- */

static void fill_route(const catalog_t *c, const item_t *it, gw_agg_route_t *out)
{
    *out = (gw_agg_route_t){.handle = c->srcs[it->src].handle,
                            .server = c->srcs[it->src].name,
                            .original = it->orig,
                            .exposed = it->name ? it->name : it->orig,
                            .def = it->def};
}

/* server<sep>rest where server is a registry upstream that is not available. */
static int names_unavailable_server(const gw_aggregator_t *agg, const char *name)
{
    if (!agg->reg)
        return 0;
    size_t seplen = strlen(agg->sep);
    for (const char *p = strstr(name, agg->sep); p; p = strstr(p + 1, agg->sep)) {
        size_t n = (size_t)(p - name);
        char server[128];
        if (n == 0 || n >= sizeof server || !p[seplen])
            continue;
        memcpy(server, name, n);
        server[n] = '\0';
        gw_upstream_t *up = gw_registry_find(agg->reg, server);
        if (up && !gw_upstream_available(up))
            return 1;
    }
    return 0;
}

static int resolve_named(const gw_aggregator_t *agg, const itemset_t *s, const strmap_t *by_name,
                         const strmap_t *by_llm, const strmap_t *by_ns, const strmap_t *by_orig,
                         const strmap_t *denied, const char *name, gw_agg_route_t *out)
{
    const catalog_t *c = agg->cat;
    size_t j;
    if (!name)
        return MCP_EINVAL;
    if (c) {
        if (strmap_get(by_name, name, &j) || (by_llm && strmap_get(by_llm, name, &j)) ||
            strmap_get(by_ns, name, &j) || strmap_get(by_orig, name, &j)) {
            if (!s->v[j].dropped) {
                fill_route(c, &s->v[j], out);
                return 0;
            }
        }
        if (denied && strmap_get(denied, name, NULL))
            return MCP_EDENIED;
    }
    if (names_unavailable_server(agg, name))
        return MCP_EUNAVAILABLE;
    return MCP_ENOTFOUND;
}

int gw_agg_resolve_tool(const gw_aggregator_t *agg, const char *name, gw_agg_route_t *out)
{
    const catalog_t *c = agg->cat;
    if (!c)
        return resolve_named(agg, NULL, NULL, NULL, NULL, NULL, NULL, name, out);
    return resolve_named(agg, &c->tools, &c->tool_by_name, &c->tool_by_llm, &c->tool_by_ns,
                         &c->tool_by_orig, &c->denied, name, out);
}

int gw_agg_resolve_prompt(const gw_aggregator_t *agg, const char *name, gw_agg_route_t *out)
{
    const catalog_t *c = agg->cat;
    if (!c)
        return resolve_named(agg, NULL, NULL, NULL, NULL, NULL, NULL, name, out);
    return resolve_named(agg, &c->prompts, &c->prompt_by_name, NULL, &c->prompt_by_ns,
                         &c->prompt_by_orig, NULL, name, out);
}

const char *gw_agg_tool_from_llm_name(const gw_aggregator_t *agg, const char *llm_name)
{
    size_t j;
    if (!agg->cat || !strmap_get(&agg->cat->tool_by_llm, llm_name, &j))
        return NULL;
    return agg->cat->tools.v[j].name;
}

const char *gw_agg_llm_name(const gw_aggregator_t *agg, const char *exposed)
{
    size_t j;
    if (!agg->cat || !strmap_get(&agg->cat->tool_by_name, exposed, &j))
        return NULL;
    return agg->cat->tools.v[j].llm;
}

int gw_agg_resolve_resource(const gw_aggregator_t *agg, const char *uri, gw_agg_route_t *out)
{
    const catalog_t *c = agg->cat;
    size_t j;
    if (!uri)
        return MCP_EINVAL;
    if (!c)
        return MCP_ENOTFOUND;
    if (strmap_get(&c->res_by_uri, uri, &j)) {
        fill_route(c, &c->resources.v[j], out);
        return 0;
    }
    for (size_t k = 0; k < c->ntpl_order; k++) {
        const item_t *it = &c->templates.v[c->tpl_order[k]];
        if (gw_agg_template_match(it->orig, uri)) {
            fill_route(c, it, out);
            out->original = uri;
            out->exposed = it->orig;
            return 0;
        }
    }
    return MCP_ENOTFOUND;
}

/* ---- calls ---- */

static int forward(gw_aggregator_t *agg, const gw_agg_route_t *r, const char *method, cJSON *params,
                   const char *tool, const gw_agg_call_opts_t *o, gw_upcall_fn cb, void *ud,
                   gw_upcall_t **out)
{
    (void)agg;
    gw_upcall_opts_t uo = {.method = method,
                           .params = params,
                           .tool = tool,
                           .deadline_ms = o->deadline_ms,
                           .max_deadline_ms = o->max_deadline_ms,
                           .cb = cb,
                           .on_progress = o->on_progress,
                           .ud = ud};
    return gw_upstream_call(r->handle, &uo, out);
}

/* params {key: value, [argkey: args or {}], [_meta: meta]}; takes args and meta. */
static cJSON *make_params(const char *key, const char *value, const char *argkey, cJSON *args,
                          cJSON *meta)
{
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddStringToObject(p, key, value))
        goto fail;
    if (argkey) {
        if (!args && !(args = cJSON_CreateObject()))
            goto fail;
        if (!cJSON_AddItemToObject(p, argkey, args))
            goto fail;
        args = NULL;
    }
    if (meta) {
        if (!cJSON_AddItemToObject(p, "_meta", meta))
            goto fail;
        meta = NULL;
    }
    cJSON_Delete(args);
    return p;
fail:
    cJSON_Delete(p);
    cJSON_Delete(args);
    cJSON_Delete(meta);
    return NULL;
}

int gw_agg_call_tool(gw_aggregator_t *agg, const char *name, cJSON *arguments,
                     const gw_agg_call_opts_t *opts, gw_upcall_t **out)
{
    gw_agg_route_t r;
    int rc = !agg || !opts || !opts->cb ? MCP_EINVAL
             : !agg->reg                ? MCP_ESTATE
                                        : gw_agg_resolve_tool(agg, name, &r);
    if (!rc && arguments && !cJSON_IsObject(arguments))
        rc = MCP_EINVAL;
    if (rc) {
        cJSON_Delete(arguments);
        if (opts)
            cJSON_Delete(opts->meta);
        return rc;
    }
    cJSON *p = make_params("name", r.original, "arguments", arguments, opts->meta);
    if (!p)
        return MCP_ENOMEM;
    return forward(agg, &r, MCP_METHOD_TOOLS_CALL, p, r.original, opts, opts->cb, opts->ud, out);
}

int gw_agg_get_prompt(gw_aggregator_t *agg, const char *name, cJSON *arguments,
                      const gw_agg_call_opts_t *opts, gw_upcall_t **out)
{
    gw_agg_route_t r;
    int rc = !agg || !opts || !opts->cb ? MCP_EINVAL
             : !agg->reg                ? MCP_ESTATE
                                        : gw_agg_resolve_prompt(agg, name, &r);
    if (rc) {
        cJSON_Delete(arguments);
        if (opts)
            cJSON_Delete(opts->meta);
        return rc;
    }
    cJSON *p = arguments ? make_params("name", r.original, "arguments", arguments, opts->meta)
                         : make_params("name", r.original, NULL, NULL, opts->meta);
    if (!p)
        return MCP_ENOMEM;
    return forward(agg, &r, MCP_METHOD_PROMPTS_GET, p, NULL, opts, opts->cb, opts->ud, out);
}

static void read_unlink(gw_aggregator_t *agg, read_ctx_t *r)
{
    if (!agg)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        agg->reads = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void on_read_done(gw_upcall_t *call, int status, jsonrpc_msg_t *resp, void *ud)
{
    read_ctx_t *r = ud;
    gw_aggregator_t *agg = r->agg;
    if (agg && agg->cache && status == 0 && resp && resp->result) {
        char *text = cJSON_PrintUnformatted(resp->result);
        if (text) {
            uint64_t now = uv_now(gw_registry_loop(agg->reg));
            int rc = gw_cache_put(agg->cache, r->uri, text, strlen(text), now);
            if (rc && rc != MCP_ENOBUFS)
                LOG_W(COMP, "cannot cache a resource", "uri=%s err=%s", log_quote(r->uri),
                      mcp_err_name(rc));
            cJSON_free(text);
        }
    }
    read_unlink(agg, r);
    r->cb(call, status, resp, r->ud);
    mcp_free(r->uri);
    mcp_free(r);
}

int gw_agg_read_resource(gw_aggregator_t *agg, const char *uri, const gw_agg_call_opts_t *opts,
                         const char **cached, gw_upcall_t **out)
{
    gw_agg_route_t r;
    int rc = !agg || !opts || !opts->cb || !uri ? MCP_EINVAL
             : !agg->reg                        ? MCP_ESTATE
                                                : gw_agg_resolve_resource(agg, uri, &r);
    if (rc) {
        if (opts)
            cJSON_Delete(opts->meta);
        return rc;
    }
    if (agg->cache && cached) {
        size_t len;
        uint64_t now = uv_now(gw_registry_loop(agg->reg));
        if (gw_cache_get(agg->cache, uri, now, cached, &len) == 0) {
            cJSON_Delete(opts->meta);
            return GW_AGG_CACHED;
        }
    }
    read_ctx_t *ctx = mcp_calloc(1, sizeof *ctx);
    cJSON *p = make_params("uri", uri, NULL, NULL, opts->meta);
    if (!ctx || !p || !(ctx->uri = mcp_strdup(uri))) {
        mcp_free(ctx);
        cJSON_Delete(p);
        return MCP_ENOMEM;
    }
    ctx->agg = agg;
    ctx->cb = opts->cb;
    ctx->ud = opts->ud;
    ctx->next = agg->reads;
    if (agg->reads)
        agg->reads->prev = ctx;
    agg->reads = ctx;
    rc = forward(agg, &r, MCP_METHOD_RESOURCES_READ, p, NULL, opts, on_read_done, ctx, out);
    if (rc) {
        read_unlink(agg, ctx);
        mcp_free(ctx->uri);
        mcp_free(ctx);
    }
    return rc;
}

/* ---- cache ---- */

void gw_agg_cache_stats(const gw_aggregator_t *agg, gw_cache_stats_t *out)
{
    if (agg->cache)
        gw_cache_stats(agg->cache, out);
    else
        *out = (gw_cache_stats_t){0};
}

size_t gw_agg_cache_clear(gw_aggregator_t *agg)
{
    size_t n = agg->cache ? gw_cache_clear(agg->cache) : 0;
    LOG_I(COMP, "resource cache cleared", "entries=%zu", n);
    return n;
}
