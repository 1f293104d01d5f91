#include "http_router.h"

#include "alloc.h"
#include "errors.h"

#include <http_parser.h>
#include <stdint.h>
#include <string.h>

#define ROUTER_MAX_SEGS   32
#define ROUTER_MAX_PARAMS 8
#define ROUTER_LIT_MAX    256
#define ROUTER_METHODS    34 /* enum http_method values 0..33 in http_parser 2.9 */

typedef enum { SEG_LIT = 0, SEG_PARAM = 1, SEG_REST = 2 } seg_kind_t;

typedef struct seg_s {
    seg_kind_t kind;
    char *text; /* literal text or parameter name */
    size_t len;
} seg_t;

typedef struct route_s {
    uint64_t methods; /* bit per enum http_method; all bits for any */
    seg_t *segs;
    size_t nsegs;
    http_handler_fn fn;
    void *ud;
} route_t;

struct http_router_s {
    route_t *routes;
    size_t n, cap;
    http_handler_fn fallback;
    void *fallback_ud;
};

/* A path segment as an offset into the request path: the path's storage may move when route
 * parameters are stored. */
typedef struct pseg_s {
    size_t off, len;
} pseg_t;

http_router_t *http_router_new(void)
{
    return mcp_calloc(1, sizeof(http_router_t));
}

static void route_free(route_t *rt)
{
    for (size_t i = 0; i < rt->nsegs; i++)
        mcp_free(rt->segs[i].text);
    mcp_free(rt->segs);
}

void http_router_free(http_router_t *router)
{
    if (!router)
        return;
    for (size_t i = 0; i < router->n; i++)
        route_free(&router->routes[i]);
    mcp_free(router->routes);
    mcp_free(router);
}

static int method_index(const char *name, size_t len)
{
    for (int m = 0; m < ROUTER_METHODS; m++) {
        const char *s = http_method_str((enum http_method)m);
        if (strlen(s) == len && memcmp(s, name, len) == 0)
            return m;
    }
    return -1;
}

static int parse_methods(const char *spec, uint64_t *mask)
{
    if (!spec || strcmp(spec, "*") == 0) {
        *mask = UINT64_MAX;
        return 0;
    }
    *mask = 0;
    const char *p = spec;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        if (p == start)
            continue;
        int m = method_index(start, (size_t)(p - start));
        if (m < 0)
            return MCP_EINVAL;
        *mask |= UINT64_C(1) << m;
    }
    if (*mask & (UINT64_C(1) << HTTP_GET))
        *mask |= UINT64_C(1) << HTTP_HEAD;
    return *mask ? 0 : MCP_EINVAL;
}

static int valid_param_name(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

static int parse_pattern(const char *pattern, route_t *rt)
{
    if (!pattern || pattern[0] != '/')
        return MCP_EINVAL;
    size_t count = 1;
    for (const char *p = pattern + 1; *p; p++)
        count += *p == '/';
    if (count > ROUTER_MAX_SEGS)
        return MCP_EINVAL;
    rt->segs = mcp_calloc(count, sizeof *rt->segs);
    if (!rt->segs)
        return MCP_ENOMEM;
    size_t params = 0;
    const char *p = pattern + 1;
    for (size_t i = 0; i < count; i++) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        seg_t *s = &rt->segs[i];
        const char *text = p;
        size_t tlen = len;
        if (len == 1 && p[0] == '*') {
            s->kind = SEG_REST;
        } else if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            text = p + 1;
            tlen = len - 2;
            s->kind = SEG_PARAM;
            if (tlen && text[tlen - 1] == '*') {
                s->kind = SEG_REST;
                tlen--;
            }
            if (!valid_param_name(text, tlen))
                return MCP_EINVAL;
        } else {
            s->kind = SEG_LIT;
            if (len > ROUTER_LIT_MAX || memchr(p, '{', len) || memchr(p, '}', len) ||
                memchr(p, '*', len))
                return MCP_EINVAL;
        }
        if (s->kind == SEG_REST && i + 1 != count)
            return MCP_EINVAL;
        if (s->kind != SEG_LIT && ++params > ROUTER_MAX_PARAMS)
            return MCP_EINVAL;
        s->text = mcp_strndup(text, tlen);
        if (!s->text)
            return MCP_ENOMEM;
        s->len = tlen;
        rt->nsegs = i + 1;
        p = end ? end + 1 : p + len;
    }
    return 0;
}

int http_router_add(http_router_t *router, const char *methods, const char *pattern,
                    http_handler_fn handler, void *userdata)
{
    if (!router || !handler)
        return MCP_EINVAL;
    route_t rt = {0};
    rt.fn = handler;
    rt.ud = userdata;
    int rc = parse_methods(methods, &rt.methods);
    if (rc)
        return rc;
    rc = parse_pattern(pattern, &rt);
    if (rc) {
        route_free(&rt);
        return rc;
    }
    if (router->n == router->cap) {
        size_t cap = router->cap ? router->cap * 2 : 16;
        route_t *routes = mcp_realloc(router->routes, cap * sizeof *routes);
        if (!routes) {
            route_free(&rt);
            return MCP_ENOMEM;
        }
        router->routes = routes;
        router->cap = cap;
    }
    router->routes[router->n++] = rt;
    return 0;
}

void http_router_set_fallback(http_router_t *router, http_handler_fn handler, void *userdata)
{
    if (!router)
        return;
    router->fallback = handler;
    router->fallback_ud = userdata;
}

/* Literal segments compare against the decoded request segment, so "/api/%74ools" is
 * "/api/tools". */
static int literal_eq(const seg_t *ps, const char *s, size_t len)
{
    if (!memchr(s, '%', len))
        return len == ps->len && memcmp(s, ps->text, len) == 0;
    if (len > 3 * ps->len) /* cannot decode to ps->len bytes */
        return 0;
    char tmp[3 * ROUTER_LIT_MAX + 1];
    int n = http_server_pct_decode(s, len, tmp, 0, 1);
    return n >= 0 && (size_t)n == ps->len && memcmp(tmp, ps->text, ps->len) == 0;
}

static int route_match(const route_t *rt, const char *path, const pseg_t *segs, size_t nseg)
{
    size_t i;
    for (i = 0; i < rt->nsegs; i++) {
        const seg_t *ps = &rt->segs[i];
        if (ps->kind == SEG_REST)
            return 1;
        if (i >= nseg)
            return 0;
        if (ps->kind == SEG_PARAM) {
            if (segs[i].len == 0)
                return 0;
            continue;
        }
        if (!literal_eq(ps, path + segs[i].off, segs[i].len))
            return 0;
    }
    return i == nseg;
}

/* Non-zero when a is strictly more specific than b. */
static int more_specific(const route_t *a, const route_t *b)
{
    size_t n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
    for (size_t i = 0; i < n; i++) {
        if (a->segs[i].kind != b->segs[i].kind)
            return a->segs[i].kind < b->segs[i].kind;
    }
    /* "/a" against "/a/{rest*}" on path "/a": the one without the rest segment wins. */
    if (a->nsegs < b->nsegs)
        return b->segs[n].kind == SEG_REST;
    return 0;
}

static void respond_error(http_req_t *req, int status, const char *body)
{
    (void)http_respond(req, status, "application/json", body, strlen(body));
}

static void respond_405(http_req_t *req, uint64_t allow)
{
    char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (int m = 0; m < ROUTER_METHODS; m++) {
        if (!(allow & (UINT64_C(1) << m)))
            continue;
        const char *name = http_method_str((enum http_method)m);
        size_t nl = strlen(name);
        if (len + nl + 3 >= sizeof list)
            break;
        if (len) {
            memcpy(list + len, ", ", 2);
            len += 2;
        }
        memcpy(list + len, name, nl + 1);
        len += nl;
    }
    (void)http_resp_header(req, "Allow", list);
    respond_error(req, 405, "{\"error\":\"method not allowed\"}");
}

void http_router_handle(http_req_t *req, void *ud)
{
    http_router_t *router = ud;
    const char *path = http_req_path(req);
    pseg_t segs[ROUTER_MAX_SEGS];
    size_t nseg = 0;
    int routable = path[0] == '/';
    if (routable) {
        size_t off = 1;
        for (;;) {
            const char *slash = strchr(path + off, '/');
            size_t len = slash ? (size_t)(slash - (path + off)) : strlen(path + off);
            if (nseg == ROUTER_MAX_SEGS) {
                routable = 0; /* deeper than any pattern can be */
                break;
            }
            segs[nseg].off = off;
            segs[nseg].len = len;
            nseg++;
            if (!slash)
                break;
            off += len + 1;
        }
    }
    int method = http_req_method(req);
    uint64_t mbit = method >= 0 && method < 64 ? UINT64_C(1) << method : 0;
    const route_t *best = NULL;
    uint64_t allow = 0;
    for (size_t i = 0; routable && i < router->n; i++) {
        const route_t *rt = &router->routes[i];
        if (!route_match(rt, path, segs, nseg))
            continue;
        allow |= rt->methods;
        if ((rt->methods & mbit) && (!best || more_specific(rt, best)))
            best = rt;
    }
    if (best) {
        http_req_clear_params(req);
        for (size_t i = 0; i < best->nsegs; i++) {
            const seg_t *ps = &best->segs[i];
            if (ps->kind == SEG_LIT)
                continue;
            /* Re-read the path: storing a parameter may move the request's strings. */
            path = http_req_path(req);
            size_t off = i < nseg ? segs[i].off : strlen(path);
            size_t len = ps->kind == SEG_REST ? strlen(path + off) : segs[i].len;
            if (http_req_set_param(req, ps->text, path + off, len) != 0) {
                respond_error(req, 400, "{\"error\":\"bad percent-encoding in path\"}");
                return;
            }
        }
        best->fn(req, best->ud);
        return;
    }
    if (allow) {
        respond_405(req, allow);
        return;
    }
    if (router->fallback) {
        router->fallback(req, router->fallback_ud);
        return;
    }
    respond_error(req, 404, "{\"error\":\"not found\"}");
}
