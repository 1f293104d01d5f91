/* http_hello: the smallest http_server program, for bench-http-server.sh.
 *
 * Serves GET /hello -> 200 {"ok":true} through http_router, with a number of other routes
 * registered first (default 20, a REST API's worth of literals and patterns) so the benchmark
 * pays a realistic routing cost. Prints "port=N" on stdout once listening; SIGINT or SIGTERM
 * shut it down gracefully.
 *
 *   http_hello [--host 127.0.0.1] [--port 0] [--routes 20] */
#include "alloc.h"
#include "errors.h"
#include "http_router.h"
#include "http_server.h"
#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct app_s {
    uv_loop_t *loop;
    http_server_t *srv;
    uv_signal_t sigint, sigterm;
    int stopping;
} app_t;

static void h_hello(http_req_t *req, void *ud)
{
    (void)ud;
    static const char body[] = "{\"ok\":true}";
    (void)http_respond(req, 200, "application/json", body, sizeof body - 1);
}

static void h_other(http_req_t *req, void *ud)
{
    (void)ud;
    (void)http_respond(req, 204, NULL, NULL, 0);
}

static void on_closed(http_server_t *srv, void *ud)
{
    app_t *app = ud;
    (void)srv;
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_t *app = s->data;
    (void)signum;
    if (app->stopping)
        return;
    app->stopping = 1;
    (void)http_server_shutdown(app->srv, 2000, on_closed, app);
}

static int add_routes(http_router_t *r, int extra)
{
    static const char *const patterns[] = {
        "/api/mcp/servers",
        "/api/mcp/server/{name}",
        "/api/mcp/server/{name}/reconnect",
        "/api/mcp/tools",
        "/api/mcp/tools/{name}/call",
        "/api/mcp/resources",
        "/api/mcp/resources/{uri*}",
        "/api/mcp/prompts",
        "/api/mcp/prompts/{name}",
        "/api/config",
        "/api/health",
        "/api/stats",
        "/api/sessions/{id}",
        "/api/sessions/{id}/messages",
        "/mcp",
        "/sse",
        "/message",
        "/static/{path*}",
        "/api/logs",
        "/api/version",
    };
    size_t n = sizeof patterns / sizeof patterns[0];
    for (int i = 0; i < extra; i++) {
        char pattern[128];
        if ((size_t)i < n)
            snprintf(pattern, sizeof pattern, "%s", patterns[i]);
        else
            snprintf(pattern, sizeof pattern, "/api/extra%d/{id}", i);
        int rc = http_router_add(r, "GET,POST", pattern, h_other, NULL);
        if (rc)
            return rc;
    }
    return http_router_add(r, "GET", "/hello", h_hello, NULL);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0, routes = 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
            host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--routes") == 0 && i + 1 < argc)
            routes = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--host H] [--port N] [--routes N]\n", argv[0]);
            return 2;
        }
    }
    mcp_alloc_init();
    log_set_level(LOG_WARN);
    log_init_from_env();
    signal(SIGPIPE, SIG_IGN);
    app_t app = {.loop = uv_default_loop()};
    http_router_t *router = http_router_new();
    if (!router || add_routes(router, routes) != 0) {
        fprintf(stderr, "http_hello: cannot build routes\n");
        return 1;
    }
    http_server_config_t cfg;
    http_server_config_init(&cfg);
    cfg.max_connections = 4096;
    int rc = http_server_new(app.loop, &cfg, http_router_handle, router, &app.srv);
    if (rc == 0)
        rc = http_server_listen(app.srv, host, port);
    if (rc) {
        fprintf(stderr, "http_hello: cannot listen on %s:%d: %s\n", host, port, mcp_strerror(rc));
        return 1;
    }
    uv_signal_init(app.loop, &app.sigint);
    uv_signal_init(app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    printf("port=%d\n", http_server_port(app.srv));
    fflush(stdout);
    uv_run(app.loop, UV_RUN_DEFAULT);
    http_server_free(app.srv);
    http_router_free(router);
    rc = uv_loop_close(app.loop);
    return rc == 0 ? 0 : 1;
}
