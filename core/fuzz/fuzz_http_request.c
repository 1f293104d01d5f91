/* libFuzzer target: arbitrary bytes through http_server's request path without sockets
 * (http_server_feed): parsing, limits, routing, ordered responses, streaming, requests left
 * unfinished when the input ends.
 *
 * Input layout: byte 0 = piece size (0: everything at once), byte 1 = allocation failure
 * injection (bit 7 set: fail after (byte & 63) allocations), the rest = what the client sends. */
#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "http_router.h"
#include "http_server.h"
#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 20
#define MAX_BODY    4096
#define NDEFER      4

static http_req_t *deferred[NDEFER];

static void check_req(http_req_t *req)
{
    const char *path = http_req_path(req);
    if (!path || (path[0] != '/' && strcmp(path, "*") != 0))
        abort();
    if (http_req_header_count(req) > MAX_HEADERS)
        abort();
    size_t len;
    const char *body = http_req_body(req, &len);
    if (len > MAX_BODY || body[len] != '\0')
        abort();
    for (size_t i = 0; i < http_req_header_count(req); i++) {
        const char *n, *v;
        if (http_req_header_at(req, i, &n, &v) != 0 || !n || !v)
            abort();
        if (http_req_header(req, n) == NULL)
            abort();
    }
    (void)http_req_query_param(req, "q");
    (void)http_req_query_param(req, "");
    (void)http_req_id_str(req);
    (void)http_req_remote_addr(req);
}

static void h_echo(http_req_t *req, void *ud)
{
    (void)ud;
    check_req(req);
    size_t len;
    const char *body = http_req_body(req, &len);
    const char *q = http_req_query_param(req, "h");
    if (q)
        (void)http_resp_header(req, "X-Echo", q); /* may be refused: CR/LF, reserved names */
    (void)http_respond(req, 200, "text/plain", body, len);
}

static void h_params(http_req_t *req, void *ud)
{
    (void)ud;
    check_req(req);
    const char *id = http_req_param(req, "id");
    const char *rest = http_req_param(req, "rest");
    const char *v = id ? id : rest ? rest : "";
    (void)http_respond(req, 200, "text/plain", v, strlen(v));
}

static void h_stream(http_req_t *req, void *ud)
{
    (void)ud;
    check_req(req);
    const char *mode = http_req_query_param(req, "close");
    if (http_stream_start(req, 200, "text/event-stream", mode ? HTTP_STREAM_CLOSE_DELIMITED : 0) ==
        0) {
        (void)http_stream_write(req, "data: a\n\n", 9);
        (void)http_stream_write(req, "", 0);
        (void)http_stream_write(req, "data: b\n\n", 9);
    }
    (void)http_stream_end(req);
}

static void on_deferred_close(http_req_t *req, void *ud)
{
    (void)ud;
    for (int i = 0; i < NDEFER; i++) {
        if (deferred[i] == req)
            deferred[i] = NULL;
    }
    if (http_respond(req, 200, NULL, NULL, 0) != MCP_ECLOSED)
        abort();
}

static void h_defer(http_req_t *req, void *ud)
{
    (void)ud;
    check_req(req);
    for (int i = 0; i < NDEFER; i++) {
        if (!deferred[i]) {
            deferred[i] = req;
            http_req_on_close(req, on_deferred_close, NULL);
            return;
        }
    }
    (void)http_respond(req, 503, "text/plain", "full", 4);
}

/* Answer the held requests newest first, so responses complete out of order. */
static void h_flush(http_req_t *req, void *ud)
{
    (void)ud;
    check_req(req);
    for (int i = NDEFER - 1; i >= 0; i--) {
        http_req_t *d = deferred[i];
        if (!d)
            continue;
        deferred[i] = NULL;
        if (i % 2) {
            (void)http_respond(d, 201, "text/plain", "late", 4);
        } else {
            (void)http_stream_start(d, 200, "text/plain", 0);
            if (http_stream_end(d) == MCP_ESTATE)
                http_req_abort(d);
        }
    }
    (void)http_respond(req, 204, NULL, NULL, 0);
}

static void h_abort(http_req_t *req, void *ud)
{
    (void)ud;
    check_req(req);
    http_req_abort(req);
}

static void h_fallback(http_req_t *req, void *ud)
{
    (void)ud;
    check_req(req);
    (void)http_respond(req, 404, "application/json", "{}", 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uv_loop_t loop;
    static http_server_t *srv;
    static http_router_t *router;
    if (!srv) {
        mcp_alloc_init();
        log_set_level(LOG_OFF);
        uv_loop_init(&loop);
        router = http_router_new();
        if (!router)
            abort();
        http_router_add(router, "GET,POST", "/echo", h_echo, NULL);
        http_router_add(router, "GET", "/items/{id}", h_params, NULL);
        http_router_add(router, "GET", "/items/x", h_params, NULL);
        http_router_add(router, NULL, "/static/{rest*}", h_params, NULL);
        http_router_add(router, "GET", "/stream", h_stream, NULL);
        http_router_add(router, "GET", "/defer", h_defer, NULL);
        http_router_add(router, "GET", "/flush", h_flush, NULL);
        http_router_add(router, "GET", "/abort", h_abort, NULL);
        http_router_set_fallback(router, h_fallback, NULL);
        http_server_config_t cfg = {.max_header_bytes = 2048,
                                    .max_headers = MAX_HEADERS,
                                    .max_body_bytes = MAX_BODY,
                                    .max_pipeline = 4,
                                    .max_output_bytes = 8192};
        if (http_server_new(&loop, &cfg, http_router_handle, router, &srv) != 0)
            abort();
    }
    if (size < 2)
        return 0;
    size_t split = data[0];
    if (data[1] & 0x80)
        mcp_alloc_fail_after(data[1] & 63);
    buf_t out;
    buf_init(&out, 1 << 20);
    int rc = http_server_feed(srv, data + 2, size - 2, split, &out);
    mcp_alloc_fail_after(-1);
    if (rc != 0 && rc != MCP_ENOMEM)
        abort();
    if (out.len && strncmp(out.data, "HTTP/1.1 ", out.len < 9 ? out.len : 9) != 0)
        abort();
    for (int i = 0; i < NDEFER; i++) {
        if (deferred[i]) /* every held request was detached and released by on_close */
            abort();
    }
    buf_free(&out);
    return 0;
}
