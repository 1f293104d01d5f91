/* http_router: maps (method, path) to handlers for http_server.
 *
 * Patterns are absolute paths made of segments:
 *   literal      /api/tools           matched after percent-decoding the request segment
 *   parameter    /servers/{name}      one non-empty segment, value percent-decoded
 *   rest         /static/{path*} or a bare "*"   the rest of the path, possibly empty (a
 *                                     trailing segment only; parameter "*" for the bare form)
 * Segments are split on the raw '/', so an encoded "%2F" stays inside a parameter. No dot-segment
 * normalisation is done and "/a" differs from "/a/".
 *
 * When several routes match a path, the most specific wins: segment by segment, a literal beats a
 * parameter, which beats a rest segment; ties go to the earlier registration. A route for GET
 * also answers HEAD. When routes match the path but none the method, the answer is 405 with an
 * Allow header; when nothing matches, the fallback handler runs, or 404. Error bodies are JSON:
 * {"error":"not found"}.
 *
 * Ownership: the router copies patterns; it must outlive every server that dispatches to it and
 * cannot be changed while requests are being routed from inside a handler call. */
#ifndef MCP_HTTP_ROUTER_H
#define MCP_HTTP_ROUTER_H

#include "http_server.h"

typedef struct http_router_s http_router_t;

/* NULL on allocation failure. */
http_router_t *http_router_new(void);
void http_router_free(http_router_t *router);

/* Register a route. methods: "GET", "GET,POST" (comma or space separated), or NULL / "*" for any.
 * 0, MCP_EINVAL (bad pattern, unknown method, NULL handler, more than 8 parameters), MCP_ENOMEM. */
int http_router_add(http_router_t *router, const char *methods, const char *pattern,
                    http_handler_fn handler, void *userdata);
/* Handler for paths no route matches (instead of 404). NULL restores the 404. */
void http_router_set_fallback(http_router_t *router, http_handler_fn handler, void *userdata);

/* An http_handler_fn: pass it to http_server_new with the router as userdata. */
void http_router_handle(http_req_t *req, void *router);

#endif
