/* Integration tests of the registry, upstreams and aggregator with real stdio upstreams (this
 * binary re-executed with --server NAME) and in-process ones (mcp_loopback):
 *   startup bound with a missing command, a hung initialize and a disabled entry; startup that
 *   ends early when everything settled; SIGKILL of a child (tools leave and come back, restart
 *   with backoff, bare names fail over); an idempotent call retried on the restarted child and a
 *   non-idempotent one failed; a hanging upstream's per-tool deadline while others answer; the
 *   breaker opening after N failures, refusing without upstream traffic, half-opening with one
 *   probe, closing; pagination, list_changed, resource cache and resources/updated; reload by
 *   diff; health probes against a stopped child; crash-loop backoff. Each test closes the
 *   registry, checks every child was reaped (no zombie: waitpid reports ECHILD) and that
 *   uv_loop_close() == 0. Conditions are polled on the loop; nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregator.h"
#include "alloc.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "child.h"
#include "mcp_client_http.h"
#include "mcp_loopback.h"
#include "mcp_server.h"
#include "mcp_stdio_server.h"
#include "registry.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ======================= the upstream server (--server NAME ...) ======================= */

typedef struct {
    char name[64];
    int hang_init;
    int counter;
    int cancels; /* hang calls cancelled by the client */
    uv_timer_t exit_timer;
} srv_ctx_t;

typedef struct {
    uv_timer_t timer;
    mcp_call_t *call;
    char text[128];
} delay_t;

static void tool_echo(mcp_call_t *call, const cJSON *args, void *ud)
{
    srv_ctx_t *s = ud;
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(args, "text"));
    char out[256];
    snprintf(out, sizeof out, "%s:%s", s->name, text ? text : "");
    mcp_call_reply_text(call, out);
}

static void hang_cancelled(mcp_call_t *call, void *ud)
{
    (void)call;
    ((srv_ctx_t *)ud)->cancels++;
}

static void tool_hang(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    /* Never answered: ends with the client's cancellation or the session. */
    mcp_call_on_cancel(call, hang_cancelled, ud);
}

static void delay_closed(uv_handle_t *h)
{
    mcp_free(h->data);
}

static void delay_fire(uv_timer_t *t)
{
    delay_t *d = t->data;
    mcp_call_on_cancel(d->call, NULL, NULL);
    mcp_call_reply_text(d->call, d->text);
    uv_close((uv_handle_t *)&d->timer, delay_closed);
}

static void delay_cancel(mcp_call_t *call, void *ud)
{
    delay_t *d = ud;
    (void)call;
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, delay_closed);
}

/* slow / slow_ro {ms}: answer "<name>:done" after ms. */
static void tool_slow(mcp_call_t *call, const cJSON *args, void *ud)
{
    srv_ctx_t *s = ud;
    const cJSON *ms = cJSON_GetObjectItem(args, "ms");
    delay_t *d = mcp_calloc(1, sizeof *d);
    if (!d) {
        mcp_call_tool_error(call, "out of memory");
        return;
    }
    d->call = call;
    snprintf(d->text, sizeof d->text, "%s:done", s->name);
    uv_timer_init(mcp_call_loop(call), &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, delay_fire, cJSON_IsNumber(ms) ? (uint64_t)ms->valuedouble : 50, 0);
    mcp_call_on_cancel(call, delay_cancel, d);
    mcp_call_progress(call, 1, 2, "half way"); /* MCP_ESTATE without a progress token */
}

static void tool_crash(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)call;
    (void)args;
    (void)ud;
    _exit(3);
}

static void tool_add_tool(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    mcp_tool_def_t def = {.name = "extra", .description = "added at run time"};
    int rc = mcp_server_add_tool(mcp_call_server(call), &def, tool_echo, ud);
    mcp_call_reply_text(call, rc ? mcp_strerror(rc) : "added");
}

static void tool_touch(mcp_call_t *call, const cJSON *args, void *ud)
{
    srv_ctx_t *s = ud;
    (void)args;
    char uri[128];
    snprintf(uri, sizeof uri, "mem://%s/counter", s->name);
    size_t n = mcp_server_notify_resource_updated(mcp_call_server(call), uri);
    char out[32];
    snprintf(out, sizeof out, "%zu", n);
    mcp_call_reply_text(call, out);
}

static void on_sampled(const mcp_response_t *resp, void *ud)
{
    (void)ud;
    const char *text = resp->status == 0 && resp->result
                           ? cJSON_GetStringValue(cJSON_GetObjectItem(
                                 cJSON_GetObjectItem(resp->result, "content"), "text"))
                           : NULL;
    if (text)
        mcp_call_reply_text(resp->call, text);
    else
        mcp_call_tool_error(resp->call, "sampling failed");
}

/* ask: a sampling/createMessage request back to the client, answered with its text. */
static void tool_ask(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    (void)ud;
    cJSON *p = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\","
                           "\"text\":\"hi\"}}],\"maxTokens\":10}");
    int rc = mcp_call_request(call, "sampling/createMessage", p, on_sampled, NULL);
    if (rc)
        mcp_call_tool_error(call, mcp_strerror(rc));
}

static void res_info(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    srv_ctx_t *s = ud;
    (void)vars;
    char text[128];
    snprintf(text, sizeof text, "info of %s", s->name);
    mcp_call_reply_resource_text(call, uri, "text/plain", text);
}

static void res_counter(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    srv_ctx_t *s = ud;
    (void)vars;
    char text[32];
    snprintf(text, sizeof text, "%d", ++s->counter);
    mcp_call_reply_resource_text(call, uri, "text/plain", text);
}

static void res_item(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    srv_ctx_t *s = ud;
    char text[128];
    snprintf(text, sizeof text, "item %s of %s", mcp_uri_vars_get(vars, "id"), s->name);
    mcp_call_reply_resource_text(call, uri, "text/plain", text);
}

static void prompt_hello(mcp_call_t *call, const cJSON *args, void *ud)
{
    srv_ctx_t *s = ud;
    (void)args;
    char text[256];
    snprintf(text, sizeof text,
             "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":"
             "\"hello from %s\"}}]}",
             s->name);
    mcp_call_reply(call, cJSON_Parse(text));
}

static int hang_init(mcp_call_t *call, const char *method, const char *tool, void *ud)
{
    srv_ctx_t *s = ud;
    (void)call;
    (void)tool;
    return s->hang_init && strcmp(method, "initialize") == 0 ? MCP_INTERCEPT_TAKEN
                                                             : MCP_INTERCEPT_CONTINUE;
}

/* The tool surface every test upstream has (plus `ntools` filler tools t0, t1, ...). */
static mcp_server_t *make_server(uv_loop_t *loop, srv_ctx_t *s, int ntools)
{
    mcp_server_config_t cfg = {.name = s->name, .version = "1.0"};
    mcp_server_t *srv;
    if (mcp_server_create(loop, &cfg, &srv))
        return NULL;
    static const struct {
        const char *name, *annotations;
        mcp_tool_fn fn;
    } tools[] = {
        {"echo", "{\"readOnlyHint\":true}", tool_echo},
        {"hang", NULL, tool_hang},
        {"slow", NULL, tool_slow},
        {"slow_ro", "{\"readOnlyHint\":true}", tool_slow},
        {"crash", NULL, tool_crash},
        {"add_tool", NULL, tool_add_tool},
        {"touch", NULL, tool_touch},
        {"ask", NULL, tool_ask},
    };
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        mcp_tool_def_t def = {
            .name = tools[i].name, .description = "test tool", .annotations = tools[i].annotations};
        if (mcp_server_add_tool(srv, &def, tools[i].fn, s))
            return NULL;
    }
    for (int i = 0; i < ntools; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        mcp_tool_def_t def = {.name = name, .description = "filler"};
        if (mcp_server_add_tool(srv, &def, tool_echo, s))
            return NULL;
    }
    char uri[128], tpl[128];
    snprintf(uri, sizeof uri, "mem://%s/info", s->name);
    mcp_resource_def_t info = {.uri = uri, .name = "info", .mime_type = "text/plain"};
    if (mcp_server_add_resource(srv, &info, res_info, s))
        return NULL;
    snprintf(uri, sizeof uri, "mem://%s/counter", s->name);
    mcp_resource_def_t counter = {.uri = uri, .name = "counter", .mime_type = "text/plain"};
    if (mcp_server_add_resource(srv, &counter, res_counter, s))
        return NULL;
    snprintf(tpl, sizeof tpl, "mem://%s/item/{id}", s->name);
    mcp_template_def_t item = {.uri_template = tpl, .name = "item"};
    if (mcp_server_add_template(srv, &item, res_item, s))
        return NULL;
    mcp_prompt_def_t hello = {.name = "hello", .description = "says hello"};
    if (mcp_server_add_prompt(srv, &hello, prompt_hello, s))
        return NULL;
    mcp_server_set_interceptor(srv, hang_init, s);
    return srv;
}

static void server_exit_now(uv_timer_t *t)
{
    (void)t;
    _exit(0);
}

static void server_closed(mcp_stdio_server_t *io, int status, void *ud)
{
    (void)io;
    (void)status;
    *(int *)ud = 1;
}

/* --server NAME [--hang-init] [--page N] [--tools N] [--exit-after MS] [--tag X] */
static int server_main(int argc, char **argv)
{
    mcp_alloc_init();
    log_set_level(LOG_WARN);
    srv_ctx_t s = {0};
    snprintf(s.name, sizeof s.name, "%s", argv[2]);
    int page = 0, ntools = 0, exit_after = -1;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--hang-init") == 0)
            s.hang_init = 1;
        else if (strcmp(argv[i], "--page") == 0 && i + 1 < argc)
            page = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tools") == 0 && i + 1 < argc)
            ntools = atoi(argv[++i]);
        else if (strcmp(argv[i], "--exit-after") == 0 && i + 1 < argc)
            exit_after = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tag") == 0 && i + 1 < argc)
            i++;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    mcp_server_t *srv = make_server(&loop, &s, ntools);
    if (!srv)
        return 2;
    if (page)
        mcp_server_set_page_size(srv, (size_t)page);
    if (exit_after >= 0) {
        uv_timer_init(&loop, &s.exit_timer);
        uv_timer_start(&s.exit_timer, server_exit_now, (uint64_t)exit_after, 0);
        uv_unref((uv_handle_t *)&s.exit_timer);
    }
    int closed = 0;
    mcp_stdio_server_t *io;
    mcp_stdio_config_t io_cfg = {.eof_grace_ms = 100};
    if (mcp_stdio_server_start(&loop, srv, &io_cfg, server_closed, &closed, &io))
        return 2;
    while (!closed && uv_run(&loop, UV_RUN_ONCE))
        ;
    _exit(0); /* whatever is still pending (hung calls) dies with us */
}

/* ============================== the test side ============================== */

static const char *self_path(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    assert_true(n > 0);
    path[n] = '\0';
    return path;
}

/* Test timeouts (never sleeps: bounds for polling) are longer under valgrind. */
static uint64_t T(uint64_t ms)
{
    return getenv("MCP_UNDER_VALGRIND") ? ms * 10 : ms;
}

#define MAX_INPROC 4
#define MAX_NAMES  8

typedef struct {
    char name[32];
    int to_state[5]; /* state events into each state */
    int catalog;
    int settled;
} up_events_t;

typedef struct {
    uv_loop_t loop;
    uv_timer_t poll;
    gw_config_t *cfg;
    gw_registry_t *reg;
    gw_aggregator_t *agg;
    int started, closed;
    uint64_t started_at;
    int agg_changes;
    unsigned agg_kinds;
    up_events_t ev[MAX_NAMES];
    /* in-process upstreams */
    srv_ctx_t inproc_ctx[MAX_INPROC];
    mcp_server_t *inproc[MAX_INPROC];
    mcp_loopback_t *lb[MAX_INPROC];
    size_t ninproc;
    pid_t pids[64];
    size_t npids;
    int relayed; /* server->client requests seen */
} env_t;

static void poll_tick(uv_timer_t *t)
{
    (void)t;
}

#define WAIT_FOR(e, expr, ms)                                               \
    do {                                                                    \
        uint64_t dl_ = uv_now(&(e)->loop) + T(ms);                          \
        uv_timer_start(&(e)->poll, poll_tick, 2, 2);                        \
        while (!(expr) && uv_now(&(e)->loop) < dl_)                         \
            uv_run(&(e)->loop, UV_RUN_ONCE);                                \
        uv_timer_stop(&(e)->poll);                                          \
        if (!(expr))                                                        \
            fail_msg("line %d: timed out waiting for %s", __LINE__, #expr); \
    } while (0)

static up_events_t *events_of(env_t *e, const char *name)
{
    for (size_t i = 0; i < MAX_NAMES; i++) {
        if (strcmp(e->ev[i].name, name) == 0)
            return &e->ev[i];
        if (!e->ev[i].name[0]) {
            snprintf(e->ev[i].name, sizeof e->ev[i].name, "%s", name);
            return &e->ev[i];
        }
    }
    fail_msg("too many upstream names");
    return NULL;
}

static void on_event(const gw_upstream_event_t *ev, void *ud)
{
    env_t *e = ud;
    up_events_t *u = events_of(e, gw_upstream_name(ev->up));
    if (ev->kind == GW_UPEV_STATE)
        u->to_state[ev->new_state]++;
    else if (ev->kind == GW_UPEV_CATALOG)
        u->catalog++;
    else if (ev->kind == GW_UPEV_SETTLED)
        u->settled++;
}

static void on_agg_change(gw_aggregator_t *agg, unsigned kinds, void *ud)
{
    env_t *e = ud;
    (void)agg;
    e->agg_changes++;
    e->agg_kinds |= kinds;
}

static int connect_test(gw_upstream_t *up, const gw_server_config_t *cfg, mcp_client_t *client,
                        void *ud)
{
    env_t *e = ud;
    if (cfg->command && strcmp(cfg->command, "inproc") == 0) {
        for (size_t i = 0; i < e->ninproc; i++)
            if (e->inproc[i] && strcmp(e->inproc_ctx[i].name, cfg->name) == 0)
                return mcp_loopback_connect(&e->loop, e->inproc[i], client, &e->lb[i]);
        return MCP_ENOTFOUND;
    }
    return gw_upstream_connect_default(up, cfg, client, NULL);
}

static void add_inproc(env_t *e, const char *name, int page, int ntools)
{
    assert_true(e->ninproc < MAX_INPROC);
    size_t i = e->ninproc++;
    snprintf(e->inproc_ctx[i].name, sizeof e->inproc_ctx[i].name, "%s", name);
    e->inproc[i] = make_server(&e->loop, &e->inproc_ctx[i], ntools);
    assert_non_null(e->inproc[i]);
    if (page)
        mcp_server_set_page_size(e->inproc[i], (size_t)page);
}

static gw_upstream_settings_t test_settings(void)
{
    gw_upstream_settings_t s = {.request_timeout_ms = T(5000),
                                .init_timeout_ms = T(5000),
                                .health_interval_ms = 0,
                                .breaker_enabled = 1,
                                .breaker_threshold = 3,
                                .breaker_reset_ms = T(300),
                                .reconnect_initial_ms = 20,
                                .reconnect_max_ms = 200,
                                .crash_limit = 50,
                                .crash_window_ms = 1000,
                                .close_grace_ms = 200};
    return s;
}

/* A seed-format config: `servers` is the inside of the "servers" array; "SELF" in it is
 * replaced by this binary's path. */
static gw_config_t *parse_config(const char *gateway, const char *servers)
{
    const char *self = self_path();
    size_t cap = strlen(servers) * 4 + strlen(gateway) + 1024 + 20 * strlen(self);
    char *text = mcp_malloc(cap), *o = text;
    o += sprintf(o, "{\"version\":\"1.0\",\"gateway\":{%s},\"servers\":[", gateway);
    for (const char *p = servers; *p;) {
        if (strncmp(p, "SELF", 4) == 0) {
            o += sprintf(o, "%s", self);
            p += 4;
        } else {
            *o++ = *p++;
        }
    }
    strcpy(o, "]}");
    gw_config_t *cfg = NULL;
    gw_config_error_t err;
    int rc = gw_config_parse(text, strlen(text), "test.json", NULL, NULL, &cfg, &err);
    mcp_free(text);
    if (rc)
        fail_msg("config: %s", err.message);
    return cfg;
}

#define STDIO(name, prio, extra)                                         \
    "{\"name\":\"" name "\",\"transport\":\"stdio\",\"priority\":" #prio \
    ",\"config\":{\"command\":\"SELF\",\"args\":[\"--server\",\"" name "\"" extra "]}}"
#define INPROC(name, prio, cfgextra)                                     \
    "{\"name\":\"" name "\",\"transport\":\"stdio\",\"priority\":" #prio \
    ",\"config\":{\"command\":\"inproc\"" cfgextra "}}"

/* Server->client requests from upstreams: answer sampling as a downstream client would. */
static void relay_sampling(gw_upstream_t *up, mcp_client_incoming_t *in, const char *method,
                           const cJSON *params, void *ud)
{
    env_t *e = ud;
    (void)params;
    e->relayed++;
    if (strcmp(method, "sampling/createMessage") != 0) {
        mcp_client_reply_error(in, -32601, "not relayed", NULL);
        return;
    }
    char text[256];
    snprintf(text, sizeof text,
             "{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"sampled for "
             "%s\"},\"model\":\"test\"}",
             gw_upstream_name(up));
    mcp_client_reply(in, cJSON_Parse(text));
}

static void on_started(gw_registry_t *reg, void *ud)
{
    env_t *e = ud;
    (void)reg;
    e->started = 1;
    e->started_at = uv_now(&e->loop);
}

static void env_init(env_t *e)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    uv_timer_init(&e->loop, &e->poll);
}

/* Create the registry and aggregator (settings NULL: from the config). */
static void env_open(env_t *e, gw_config_t *cfg, const gw_upstream_settings_t *settings)
{
    e->cfg = cfg;
    gw_registry_options_t ro = {.config = cfg,
                                .settings = settings,
                                .connect = connect_test,
                                .connect_ud = e,
                                .on_request = relay_sampling,
                                .request_ud = e,
                                .seed = 42};
    assert_int_equal(gw_registry_new(&e->loop, &ro, &e->reg), 0);
    assert_int_equal(gw_registry_add_listener(e->reg, on_event, e), 0);
    gw_agg_options_t ao;
    gw_agg_options_from_config(&ao, &cfg->settings);
    ao.on_change = on_agg_change;
    ao.ud = e;
    assert_int_equal(gw_agg_new(&ao, &e->agg), 0);
    assert_int_equal(gw_agg_attach_registry(e->agg, e->reg), 0);
}

static void env_start(env_t *e)
{
    assert_int_equal(gw_registry_start(e->reg, on_started, e), 0);
    assert_int_equal(gw_registry_start(e->reg, on_started, e), MCP_ESTATE);
}

static gw_upstream_t *up_of(env_t *e, const char *name)
{
    gw_upstream_t *up = gw_registry_find(e->reg, name);
    assert_non_null(up);
    return up;
}

static gw_upstream_state_t state_of(env_t *e, const char *name)
{
    return gw_upstream_state(up_of(e, name));
}

/* Remember a child pid for the zombie check at the end. */
static pid_t track(env_t *e, pid_t pid)
{
    assert_true(pid > 0);
    assert_true(e->npids < sizeof e->pids / sizeof e->pids[0]);
    e->pids[e->npids++] = pid;
    return pid;
}

/* Gone and reaped (by libuv). WNOWAIT: looking must not reap it behind libuv's back. */
static int reaped(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD &&
           kill(pid, 0) == -1 && errno == ESRCH;
}

static void on_reg_closed(void *ud)
{
    ((env_t *)ud)->closed = 1;
}

static void env_close(env_t *e)
{
    for (size_t i = 0; i < gw_registry_count(e->reg); i++) {
        int pid = gw_upstream_pid(gw_registry_at(e->reg, i));
        if (pid > 0)
            track(e, pid);
    }
    gw_agg_free(e->agg);
    assert_int_equal(gw_registry_close(e->reg, on_reg_closed, e), 0);
    WAIT_FOR(e, e->closed, 10000);
    for (size_t i = 0; i < e->ninproc; i++)
        mcp_server_free(e->inproc[i]);
    uv_close((uv_handle_t *)&e->poll, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    gw_config_free(e->cfg);
    /* No zombie, no orphan: every child we saw is gone and reaped, and none is left. */
    for (size_t i = 0; i < e->npids; i++)
        if (!reaped(e->pids[i]))
            fail_msg("child %d not reaped", (int)e->pids[i]);
    siginfo_t si;
    assert_int_equal(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT), -1);
    assert_int_equal(errno, ECHILD);
}

/* ---- call helpers ---- */

typedef struct {
    int done;
    int status;
    int retried;
    uint64_t at;
    char text[256];
    env_t *e;
} result_t;

static void on_result(gw_upcall_t *call, int status, jsonrpc_msg_t *resp, void *ud)
{
    result_t *r = ud;
    r->done = 1;
    r->status = status;
    r->retried = gw_upcall_retried(call);
    r->at = uv_now(&r->e->loop);
    r->text[0] = '\0';
    if (status == 0 && resp) {
        const cJSON *content = cJSON_GetObjectItem(resp->result, "content");
        const cJSON *contents = cJSON_GetObjectItem(resp->result, "contents");
        const cJSON *messages = cJSON_GetObjectItem(resp->result, "messages");
        const char *t = NULL;
        if (content)
            t = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(content, 0), "text"));
        else if (contents)
            t = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(contents, 0), "text"));
        else if (messages)
            t = cJSON_GetStringValue(cJSON_GetObjectItem(
                cJSON_GetObjectItem(cJSON_GetArrayItem(messages, 0), "content"), "text"));
        snprintf(r->text, sizeof r->text, "%s", t ? t : "");
    }
}

static int *progress_count;

static void on_progress(gw_upcall_t *call, const cJSON *params, void *ud)
{
    (void)call;
    (void)ud;
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(params, "message")), "half way");
    (*progress_count)++;
}

static int call_tool(env_t *e, const char *name, const char *args_json, result_t *r)
{
    memset(r, 0, sizeof *r);
    r->e = e;
    gw_agg_call_opts_t o = {.cb = on_result, .ud = r};
    return gw_agg_call_tool(e->agg, name, args_json ? cJSON_Parse(args_json) : NULL, &o, NULL);
}

static void call_ok(env_t *e, const char *name, const char *args, const char *want)
{
    result_t r;
    assert_int_equal(call_tool(e, name, args, &r), 0);
    WAIT_FOR(e, r.done, 5000);
    assert_int_equal(r.status, 0);
    if (want)
        assert_string_equal(r.text, want);
}

static int listed(env_t *e, const char *tool)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, gw_agg_tools(e->agg))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), tool) == 0)
            return 1;
    }
    return 0;
}

static int is_available(env_t *e, const char *name)
{
    return gw_upstream_available(up_of(e, name));
}

/* ================================ tests ================================ */

static void startup_bound(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    char gateway[256];
    snprintf(gateway, sizeof gateway,
             "\"startup_timeout_ms\":%llu,\"request_timeout_ms\":%llu,"
             "\"health_interval_ms\":0,\"reconnect\":{\"initial_ms\":20,\"max_ms\":100}",
             (unsigned long long)T(1000), (unsigned long long)T(20000));
    gw_config_t *cfg = parse_config(
        gateway,
        STDIO("good", 10, "") ",{\"name\":\"missing\",\"transport\":\"stdio\","
                              "\"critical\":true,\"config\":{\"command\":"
                              "\"/nonexistent/mcp-server\"}}," STDIO(
                                  "hung", 5,
                                  ",\"--hang-init\"") ",{\"name\":\"off\",\"enabled\":false,"
                                                      "\"transport\":\"stdio\",\"config\":{"
                                                      "\"command\":\"SELF\"}}");
    env_open(&e, cfg, NULL);
    uint64_t t0 = uv_now(&e.loop);
    env_start(&e);
    WAIT_FOR(&e, e.started, 5000);
    /* The hung server never settles: startup ended at the bound, and not much later. */
    assert_true(e.started_at - t0 >= T(1000) - 5);
    assert_int_equal(state_of(&e, "good"), GW_UP_READY);
    assert_int_equal(state_of(&e, "missing"), GW_UP_DOWN);
    assert_int_equal(state_of(&e, "hung"), GW_UP_CONNECTING);
    assert_int_equal(state_of(&e, "off"), GW_UP_DISABLED);
    assert_non_null(strstr(gw_upstream_last_error(up_of(&e, "missing")), "no such file"));
    assert_int_equal(events_of(&e, "good")->settled, 1);
    assert_int_equal(events_of(&e, "hung")->settled, 0);
    /* Health: a critical upstream is down -> not ready; not every upstream is down. */
    gw_registry_health_t h;
    gw_registry_health(e.reg, &h);
    assert_int_equal(h.started, 1);
    assert_int_equal(h.enabled, 3);
    assert_int_equal(h.available, 1);
    assert_int_equal(h.disabled, 1);
    assert_int_equal(h.critical_down, 1);
    assert_int_equal(h.ready, 0);
    assert_int_equal(h.fallback, 0);
    assert_string_equal(gw_registry_health_status(&h), "unhealthy");
    /* Only good's items are in the catalog. */
    assert_true(listed(&e, "good.echo"));
    assert_false(listed(&e, "hung.echo"));
    assert_int_equal(cJSON_GetArraySize(gw_agg_tools(e.agg)), 8);
    assert_int_equal(cJSON_GetArraySize(gw_agg_resources(e.agg)), 2);
    call_ok(&e, "good.echo", "{\"text\":\"hi\"}", "good:hi");
    call_ok(&e, "echo", "{\"text\":\"bare\"}", "good:bare");
    /* The missing one keeps retrying in the background, with backoff. */
    WAIT_FOR(&e, ({
        gw_upstream_stats_t st;
        gw_upstream_stats(up_of(&e, "missing"), &st);
        st.connect_failures >= 3;
    }),
             5000);
    result_t r;
    assert_int_equal(call_tool(&e, "missing.echo", NULL, &r), MCP_EUNAVAILABLE);
    assert_int_equal(call_tool(&e, "nothere.echo", NULL, &r), MCP_ENOTFOUND);
    assert_int_equal(gw_registry_reconnect(e.reg, "off"), MCP_ESTATE);
    assert_int_equal(gw_registry_reconnect(e.reg, "nope"), MCP_ENOTFOUND);
    cJSON *sj = gw_registry_status_json(e.reg);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(sj, "status")), "unhealthy");
    cJSON *servers = cJSON_GetObjectItem(sj, "servers");
    assert_int_equal(cJSON_GetArraySize(servers), 4);
    cJSON *g = cJSON_GetArrayItem(servers, 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(g, "state")), "ready");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(g, "serverInfo"), "name")),
        "good");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(g, "counts"), "tools")->valueint, 8);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(g, "stats"), "ok")->valueint, 2);
    cJSON *m = cJSON_GetArrayItem(servers, 1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(m, "state")), "down");
    assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(m, "lastError")), "no such"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "critical")));
    cJSON_Delete(sj);
    gw_upcall_opts_t uo = {.method = "ping", .cb = on_result, .ud = &r};
    assert_int_equal(gw_upstream_call(up_of(&e, "off"), &uo, NULL), MCP_EUNAVAILABLE);
    env_close(&e);
}

static void startup_ends_when_settled(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    gw_config_t *cfg = parse_config(
        "\"startup_timeout_ms\":60000",
        STDIO("a", 1, "") "," STDIO("b", 2, "") ",{\"name\":\"bad\",\"transport\":\"stdio\","
                                                "\"config\":{\"command\":\"/nonexistent/x\"}}");
    gw_upstream_settings_t s = test_settings();
    env_open(&e, cfg, &s);
    uint64_t t0 = uv_now(&e.loop);
    env_start(&e);
    WAIT_FOR(&e, e.started, 10000);
    assert_true(e.started_at - t0 < T(10000)); /* far below the 60 s bound */
    assert_int_equal(state_of(&e, "a"), GW_UP_READY);
    assert_int_equal(state_of(&e, "b"), GW_UP_READY);
    gw_registry_health_t h;
    gw_registry_health(e.reg, &h);
    assert_int_equal(h.ready, 1); /* no critical upstream */
    assert_int_equal(h.degraded, 1);
    assert_string_equal(gw_registry_health_status(&h), "degraded");
    env_close(&e);
}

static void kill_child_restarts(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    gw_config_t *cfg = parse_config("", STDIO("a", 1, "") "," STDIO("b", 2, ""));
    gw_upstream_settings_t s = test_settings();
    env_open(&e, cfg, &s);
    env_start(&e);
    WAIT_FOR(&e, e.started, 10000);
    assert_int_equal(state_of(&e, "a"), GW_UP_READY);
    assert_int_equal(state_of(&e, "b"), GW_UP_READY);
    assert_true(listed(&e, "a.echo"));
    call_ok(&e, "echo", "{\"text\":\"x\"}", "a:x"); /* a routes first */
    int b_ready_events = events_of(&e, "b")->to_state[GW_UP_READY];
    pid_t pid = track(&e, gw_upstream_pid(up_of(&e, "a")));
    int changes = e.agg_changes;
    e.agg_kinds = 0;
    assert_int_equal(kill(pid, SIGKILL), 0);
    /* Its tools leave the catalog (a change event) and bare names fail over to b. */
    WAIT_FOR(&e, !listed(&e, "a.echo"), 5000);
    assert_true(e.agg_changes > changes);
    assert_true(e.agg_kinds & GW_CAT_TOOLS);
    assert_false(is_available(&e, "a"));
    result_t r;
    if (call_tool(&e, "echo", "{\"text\":\"y\"}", &r) == 0) {
        WAIT_FOR(&e, r.done, 5000);
        assert_int_equal(r.status, 0);
        assert_string_equal(r.text, "b:y");
    }
    /* It restarts with backoff and its tools come back with another change event. */
    changes = e.agg_changes;
    WAIT_FOR(&e, listed(&e, "a.echo"), 5000);
    assert_true(e.agg_changes > changes);
    assert_int_equal(state_of(&e, "a"), GW_UP_READY);
    pid_t pid2 = track(&e, gw_upstream_pid(up_of(&e, "a")));
    assert_true(pid2 != pid);
    assert_true(reaped(pid));
    gw_upstream_stats_t st;
    gw_upstream_stats(up_of(&e, "a"), &st);
    assert_int_equal(st.child_exits, 1);
    assert_int_equal(st.connects, 2);
    assert_int_equal(st.disconnects, 1);
    assert_true(events_of(&e, "a")->to_state[GW_UP_DOWN] >= 1);
    call_ok(&e, "echo", "{\"text\":\"z\"}", "a:z");
    /* b never left ready. */
    assert_int_equal(events_of(&e, "b")->to_state[GW_UP_READY], b_ready_events);
    assert_int_equal(events_of(&e, "b")->to_state[GW_UP_DOWN], 0);
    env_close(&e);
}

static void retry_idempotent_after_child_death(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    gw_config_t *cfg = parse_config("", STDIO("a", 1, ""));
    gw_upstream_settings_t s = test_settings();
    s.request_timeout_ms = T(20000);
    env_open(&e, cfg, &s);
    env_start(&e);
    WAIT_FOR(&e, e.started, 10000);
    pid_t pid = track(&e, gw_upstream_pid(up_of(&e, "a")));
    result_t ro, rw;
    assert_int_equal(call_tool(&e, "a.slow_ro", "{\"ms\":100000}", &ro), 0);
    assert_int_equal(call_tool(&e, "a.slow", "{\"ms\":100000}", &rw), 0);
    /* Let both reach the server (the echo answered after them on the same pipe). */
    call_ok(&e, "a.echo", "{\"text\":\"sync\"}", "a:sync");
    assert_int_equal(kill(pid, SIGKILL), 0);
    /* The non-idempotent call fails; the read-only one waits for the new child. */
    WAIT_FOR(&e, rw.done, 5000);
    assert_int_equal(rw.status, MCP_ECLOSED);
    assert_int_equal(rw.retried, 0);
    assert_false(ro.done);
    WAIT_FOR(&e, state_of(&e, "a") == GW_UP_READY, 5000);
    track(&e, gw_upstream_pid(up_of(&e, "a")));
    gw_upstream_stats_t st;
    WAIT_FOR(&e, (gw_upstream_stats(up_of(&e, "a"), &st), st.retries == 1), 5000);
    /* It is now waiting on the new child (100 s): cancel it, it ends cancelled. */
    assert_false(ro.done);
    env_close(&e); /* pending calls end with MCP_ECANCELED on close */
    assert_true(ro.done);
    assert_int_equal(ro.status, MCP_ECANCELED);
    assert_int_equal(ro.retried, 1);
}

static void retry_completes(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    gw_config_t *cfg = parse_config("", STDIO("a", 1, ""));
    gw_upstream_settings_t s = test_settings();
    s.request_timeout_ms = T(20000);
    env_open(&e, cfg, &s);
    env_start(&e);
    WAIT_FOR(&e, e.started, 10000);
    pid_t pid = track(&e, gw_upstream_pid(up_of(&e, "a")));
    result_t ro;
    assert_int_equal(call_tool(&e, "a.slow_ro", "{\"ms\":300}", &ro), 0);
    call_ok(&e, "a.echo", "{\"text\":\"sync\"}", "a:sync");
    assert_int_equal(kill(pid, SIGKILL), 0);
    WAIT_FOR(&e, ro.done, 10000);
    assert_int_equal(ro.status, 0);
    assert_int_equal(ro.retried, 1);
    assert_string_equal(ro.text, "a:done");
    env_close(&e);
}

static void hanging_upstream_and_breaker(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    add_inproc(&e, "slow", 0, 0);
    add_inproc(&e, "fast", 0, 0);
    gw_config_t *cfg = parse_config(
        "", INPROC("slow", 1, ",\"tool_timeouts\":{\"hang\":0.1}") "," INPROC("fast", 2, ""));
    gw_upstream_settings_t s = test_settings();
    env_open(&e, cfg, &s);
    env_start(&e);
    WAIT_FOR(&e, e.started, 5000);
    gw_upstream_t *slow = up_of(&e, "slow");
    assert_int_equal(gw_upstream_deadline_ms(slow, "hang"), 100);
    assert_int_equal(gw_upstream_deadline_ms(slow, "echo"), T(5000));
    /* The hanging call gets its deadline error; the other upstream answers meanwhile. */
    result_t hang, echo;
    uint64_t t0 = uv_now(&e.loop);
    assert_int_equal(call_tool(&e, "slow.hang", NULL, &hang), 0);
    assert_int_equal(call_tool(&e, "fast.echo", "{\"text\":\"q\"}", &echo), 0);
    WAIT_FOR(&e, hang.done && echo.done, 5000);
    assert_int_equal(echo.status, 0);
    assert_string_equal(echo.text, "fast:q");
    assert_int_equal(hang.status, MCP_ETIMEDOUT);
    assert_true(echo.at <= hang.at);
    assert_true(hang.at - t0 >= 100);
    assert_int_equal(state_of(&e, "slow"), GW_UP_READY); /* one failure: still closed */
    /* Two more timeouts reach the threshold (3): the breaker opens, slow is degraded. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(call_tool(&e, "slow.hang", NULL, &hang), 0);
        WAIT_FOR(&e, hang.done, 5000);
        assert_int_equal(hang.status, MCP_ETIMEDOUT);
    }
    gw_breaker_t *b = gw_upstream_breaker(slow);
    assert_int_equal(gw_breaker_state(b), GW_BREAKER_OPEN);
    assert_int_equal(state_of(&e, "slow"), GW_UP_DEGRADED);
    assert_true(events_of(&e, "slow")->to_state[GW_UP_DEGRADED] >= 1);
    assert_true(listed(&e, "slow.echo")); /* degraded stays in the catalog */
    /* Open: refused at once, nothing reaches the upstream. */
    call_ok(&e, "fast.echo", "{\"text\":\"flush\"}", "fast:flush"); /* cancellations sent */
    size_t delivered = mcp_loopback_delivered_to_server(e.lb[0]);
    result_t r;
    assert_int_equal(call_tool(&e, "slow.echo", "{\"text\":\"x\"}", &r), MCP_EUNAVAILABLE);
    call_ok(&e, "fast.echo", "{\"text\":\"still\"}", "fast:still");
    assert_int_equal(mcp_loopback_delivered_to_server(e.lb[0]), delivered);
    gw_upstream_stats_t st;
    gw_upstream_stats(slow, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.timeouts, 3);
    /* After the reset timeout: half-open, one probe at a time. */
    WAIT_FOR(&e, gw_breaker_state(b) == GW_BREAKER_HALF_OPEN, 5000);
    result_t probe;
    assert_int_equal(call_tool(&e, "slow.hang", NULL, &probe), 0);
    assert_int_equal(call_tool(&e, "slow.echo", "{\"text\":\"x\"}", &r), MCP_EUNAVAILABLE);
    WAIT_FOR(&e, probe.done, 5000);
    assert_int_equal(probe.status, MCP_ETIMEDOUT); /* the probe failed: open again */
    assert_int_equal(gw_breaker_state(b), GW_BREAKER_OPEN);
    WAIT_FOR(&e, gw_breaker_state(b) == GW_BREAKER_HALF_OPEN, 5000);
    call_ok(&e, "slow.echo", "{\"text\":\"back\"}", "slow:back"); /* the probe succeeds */
    assert_int_equal(gw_breaker_state(b), GW_BREAKER_CLOSED);
    assert_int_equal(state_of(&e, "slow"), GW_UP_READY);
    assert_int_equal(b->opens, 2);
    /* fast was never affected. */
    assert_int_equal(events_of(&e, "fast")->to_state[GW_UP_DEGRADED], 0);
    assert_int_equal(gw_breaker_state(gw_upstream_breaker(up_of(&e, "fast"))), GW_BREAKER_CLOSED);
    /* Per-tool stats: hang had 4 calls and 4 timeouts. */
    gw_tool_stats_t ts;
    int found = 0;
    for (size_t i = 0; gw_upstream_tool_stats(slow, i, &ts) == 0; i++) {
        if (strcmp(ts.tool, "hang") == 0) {
            found = 1;
            assert_int_equal(ts.calls, 4);
            assert_int_equal(ts.timeouts, 4);
            assert_true(hdr_total_count(ts.latency) == 4);
        }
    }
    assert_true(found);
    assert_true(hdr_total_count(gw_upstream_latency(slow)) >= 5);
    /* Cancellation is forwarded upstream; it is no failure for the breaker. */
    gw_upcall_t *uc;
    memset(&r, 0, sizeof r);
    r.e = &e;
    gw_agg_call_opts_t co = {.cb = on_result, .ud = &r};
    assert_int_equal(gw_agg_call_tool(e.agg, "slow.hang", NULL, &co, &uc), 0);
    call_ok(&e, "slow.echo", NULL, "slow:"); /* the hang call has reached the server */
    int cancels = e.inproc_ctx[0].cancels;   /* timed-out calls were cancelled upstream too */
    assert_true(cancels >= 4);
    assert_int_equal(gw_upcall_cancel(uc, "client gave up"), 0);
    assert_int_equal(gw_upcall_cancel(uc, NULL), MCP_ESTATE);
    assert_false(r.done); /* never from inside cancel */
    WAIT_FOR(&e, r.done && e.inproc_ctx[0].cancels == cancels + 1, 5000);
    assert_int_equal(r.status, MCP_ECANCELED);
    assert_int_equal(gw_breaker_state(b), GW_BREAKER_CLOSED);
    gw_upstream_stats(slow, &st);
    assert_int_equal(st.cancelled, 1);
    env_close(&e);
}

static int cache_read(env_t *e, const char *uri, result_t *r, const char **cached)
{
    memset(r, 0, sizeof *r);
    r->e = e;
    gw_agg_call_opts_t o = {.cb = on_result, .ud = r};
    return gw_agg_read_resource(e->agg, uri, &o, cached, NULL);
}

static void lists_cache_and_notifications(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    add_inproc(&e, "p", 2, 5); /* 13 tools in pages of 2 */
    add_inproc(&e, "q", 0, 0);
    gw_config_t *cfg =
        parse_config("\"cache\":{\"ttl_ms\":60000}", INPROC("p", 1, "") "," INPROC("q", 2, ""));
    gw_upstream_settings_t s = test_settings();
    env_open(&e, cfg, &s);
    env_start(&e);
    WAIT_FOR(&e, e.started, 5000);
    gw_upstream_t *p = up_of(&e, "p");
    /* Pagination followed: every tool, resource and prompt. */
    assert_int_equal(cJSON_GetArraySize(gw_upstream_tools(p)), 13);
    assert_int_equal(cJSON_GetArraySize(gw_upstream_resources(p)), 2);
    assert_int_equal(cJSON_GetArraySize(gw_upstream_templates(p)), 1);
    assert_int_equal(cJSON_GetArraySize(gw_upstream_prompts(p)), 1);
    assert_int_equal(cJSON_GetArraySize(gw_agg_tools(e.agg)), 13 + 8);
    assert_true(listed(&e, "p.t4"));
    /* Bare names shared by both: conflicts, p routes first. */
    assert_int_equal(gw_agg_conflict_count(e.agg), 9); /* 8 tools + 1 prompt */
    /* list_changed: a tool added upstream appears, with a change event. */
    int changes = e.agg_changes;
    e.agg_kinds = 0;
    call_ok(&e, "p.add_tool", NULL, "added");
    WAIT_FOR(&e, listed(&e, "p.extra"), 5000);
    assert_true(e.agg_changes > changes);
    assert_int_equal(e.agg_kinds, GW_CAT_TOOLS);
    gw_upstream_stats_t st;
    gw_upstream_stats(p, &st);
    assert_int_equal(st.list_changed, 1);
    call_ok(&e, "extra", "{\"text\":\"new\"}", "p:new");
    /* Progress notifications reach the caller. */
    int progress = 0;
    result_t pr = {.e = &e};
    gw_agg_call_opts_t pco = {.cb = on_result, .on_progress = on_progress, .ud = &pr};
    pr.text[0] = '\0';
    progress_count = &progress;
    assert_int_equal(gw_agg_call_tool(e.agg, "p.slow", cJSON_Parse("{\"ms\":20}"), &pco, NULL), 0);
    WAIT_FOR(&e, pr.done, 5000);
    assert_int_equal(pr.status, 0);
    assert_int_equal(progress, 1);
    /* Prompts route like tools. */
    result_t r;
    gw_agg_call_opts_t po = {.cb = on_result, .ud = &r};
    memset(&r, 0, sizeof r);
    r.e = &e;
    assert_int_equal(gw_agg_get_prompt(e.agg, "q.hello", NULL, &po, NULL), 0);
    WAIT_FOR(&e, r.done, 5000);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, "hello from q");
    /* A server->client request (sampling) is relayed through the registry's hook. */
    call_ok(&e, "q.ask", NULL, "sampled for q");
    assert_int_equal(e.relayed, 1);
    /* Resource reads: routed by URI, cached, counted. */
    const char *cached = NULL;
    assert_int_equal(cache_read(&e, "mem://p/counter", &r, &cached), 0);
    WAIT_FOR(&e, r.done, 5000);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, "1");
    assert_int_equal(cache_read(&e, "mem://p/counter", &r, &cached), GW_AGG_CACHED);
    assert_non_null(strstr(cached, "\"text\":\"1\""));
    gw_cache_stats_t cs;
    gw_agg_cache_stats(e.agg, &cs);
    assert_int_equal(cs.hits, 1);
    assert_int_equal(cs.misses, 1);
    assert_int_equal(gw_agg_cache_clear(e.agg), 1);
    assert_int_equal(cache_read(&e, "mem://p/counter", &r, &cached), 0);
    WAIT_FOR(&e, r.done, 5000);
    assert_string_equal(r.text, "2");
    /* resources/updated from the upstream drops the entry. */
    gw_upcall_opts_t so = {.method = "resources/subscribe",
                           .params = cJSON_Parse("{\"uri\":\"mem://p/counter\"}"),
                           .cb = on_result,
                           .ud = &r};
    memset(&r, 0, sizeof r);
    r.e = &e;
    assert_int_equal(gw_upstream_call(p, &so, NULL), 0);
    WAIT_FOR(&e, r.done, 5000);
    assert_int_equal(r.status, 0);
    assert_int_equal(cache_read(&e, "mem://p/counter", &r, &cached), GW_AGG_CACHED);
    call_ok(&e, "p.touch", NULL, "1");
    WAIT_FOR(&e, (gw_agg_cache_stats(e.agg, &cs), cs.entries == 0), 5000);
    assert_int_equal(cache_read(&e, "mem://p/counter", &r, &cached), 0);
    WAIT_FOR(&e, r.done, 5000);
    assert_string_equal(r.text, "3");
    /* Templates route to their owner. */
    assert_int_equal(cache_read(&e, "mem://q/item/7", &r, &cached), 0);
    WAIT_FOR(&e, r.done, 5000);
    assert_string_equal(r.text, "item 7 of q");
    assert_int_equal(cache_read(&e, "mem://zzz/1", &r, &cached), MCP_ENOTFOUND);
    /* Stats JSON has the conflicts and the cache. */
    cJSON *sj = gw_agg_stats_json(e.agg);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(sj, "conflicts")), 9);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(sj, "cache"), "hits")->valueint, 2);
    cJSON_Delete(sj);
    /* An in-process upstream whose server goes away: down, then back when it exists again. */
    mcp_server_free(e.inproc[1]);
    e.inproc[1] = NULL;
    WAIT_FOR(&e, !listed(&e, "q.echo"), 5000);
    WAIT_FOR(&e, (gw_upstream_stats(up_of(&e, "q"), &st), st.connect_failures >= 2), 5000);
    e.inproc[1] = make_server(&e.loop, &e.inproc_ctx[1], 0);
    WAIT_FOR(&e, listed(&e, "q.echo"), 5000);
    env_close(&e);
}

static void reload_diff(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    gw_config_t *cfg =
        parse_config("", STDIO("a", 1, "") "," STDIO("b", 2, "") "," STDIO("c", 3, ""));
    gw_upstream_settings_t s = test_settings();
    env_open(&e, cfg, &s);
    env_start(&e);
    WAIT_FOR(&e, e.started, 10000);
    pid_t pa = track(&e, gw_upstream_pid(up_of(&e, "a")));
    pid_t pb = track(&e, gw_upstream_pid(up_of(&e, "b")));
    pid_t pc = track(&e, gw_upstream_pid(up_of(&e, "c")));
    call_ok(&e, "echo", NULL, "a:");
    /* a: priority only (kept), b: new args (reconnect), c: removed, d: added. */
    gw_config_t *cfg2 = parse_config(
        "", STDIO("a", 50, "") "," STDIO("b", 2, ",\"--tag\",\"x\"") "," STDIO("d", 3, ""));
    gw_reload_result_t res;
    assert_int_equal(gw_registry_reload(e.reg, cfg2, &res), 0);
    gw_config_free(e.cfg);
    e.cfg = cfg2;
    assert_int_equal(res.added, 1);
    assert_int_equal(res.removed, 1);
    assert_int_equal(res.reconnected, 1);
    assert_int_equal(res.updated, 1);
    assert_int_equal(res.unchanged, 0);
    assert_null(gw_registry_find(e.reg, "c"));
    assert_int_equal(gw_registry_count(e.reg), 3);
    assert_string_equal(gw_upstream_name(gw_registry_at(e.reg, 2)), "d");
    WAIT_FOR(&e, is_available(&e, "b") && is_available(&e, "d"), 10000);
    assert_int_equal(gw_upstream_pid(up_of(&e, "a")), pa); /* same session */
    pid_t pb2 = track(&e, gw_upstream_pid(up_of(&e, "b")));
    assert_true(pb2 != pb);
    WAIT_FOR(&e, reaped(pb) && reaped(pc), 5000);
    assert_false(listed(&e, "c.echo"));
    assert_true(listed(&e, "d.echo"));
    call_ok(&e, "echo", NULL, "b:"); /* b now has the lowest priority number */
    call_ok(&e, "a.echo", NULL, "a:");
    /* The same config again changes nothing. */
    gw_config_t *cfg3 = parse_config(
        "", STDIO("a", 50, "") "," STDIO("b", 2, ",\"--tag\",\"x\"") "," STDIO("d", 3, ""));
    assert_int_equal(gw_registry_reload(e.reg, cfg3, &res), 0);
    gw_config_free(cfg3);
    assert_int_equal(res.unchanged, 3);
    assert_int_equal(res.added + res.removed + res.reconnected + res.updated, 0);
    /* Reconnect by name: a new child, ready again. */
    assert_int_equal(gw_registry_reconnect(e.reg, "a"), 0);
    WAIT_FOR(&e, is_available(&e, "a") && gw_upstream_pid(up_of(&e, "a")) != pa, 10000);
    track(&e, gw_upstream_pid(up_of(&e, "a")));
    WAIT_FOR(&e, reaped(pa), 5000);
    /* Disabling by reload: disabled state, tools gone, child stopped. */
    pid_t pd = track(&e, gw_upstream_pid(up_of(&e, "d")));
    gw_config_t *cfg4 = parse_config(
        "", STDIO("a", 50, "") "," STDIO("b", 2, ",\"--tag\",\"x\"") ",{\"name\":\"d\","
                                                                     "\"enabled\":false,"
                                                                     "\"transport\":\"stdio\","
                                                                     "\"config\":{\"command\":"
                                                                     "\"SELF\",\"args\":[\"--"
                                                                     "server\",\"d\"]}}");
    assert_int_equal(gw_registry_reload(e.reg, cfg4, &res), 0);
    gw_config_free(e.cfg);
    e.cfg = cfg4;
    assert_int_equal(res.reconnected, 1);
    assert_int_equal(state_of(&e, "d"), GW_UP_DISABLED);
    assert_false(listed(&e, "d.echo"));
    WAIT_FOR(&e, reaped(pd), 5000);
    env_close(&e);
}

static void health_probe_stopped_child(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    gw_config_t *cfg = parse_config("", STDIO("a", 1, ""));
    gw_upstream_settings_t s = test_settings();
    s.health_interval_ms = 50;
    s.probe_timeout_ms = T(100);
    s.probe_failures_down = 2;
    s.close_grace_ms = 100;
    env_open(&e, cfg, &s);
    env_start(&e);
    WAIT_FOR(&e, e.started, 10000);
    gw_upstream_t *a = up_of(&e, "a");
    gw_upstream_stats_t st;
    WAIT_FOR(&e, (gw_upstream_stats(a, &st), st.probes >= 2), 5000);
    assert_int_equal(st.probe_failures, 0);
    pid_t pid = track(&e, gw_upstream_pid(a));
    assert_int_equal(kill(pid, SIGSTOP), 0);
    /* Pings time out: degraded, then the session is dropped and a new child started. */
    WAIT_FOR(&e, events_of(&e, "a")->to_state[GW_UP_DEGRADED] >= 1, 5000);
    WAIT_FOR(&e, gw_upstream_pid(a) != pid && gw_upstream_available(a), 10000);
    track(&e, gw_upstream_pid(a));
    gw_upstream_stats(a, &st);
    assert_true(st.probe_failures >= 2);
    assert_int_equal(st.child_exits, 0); /* we stopped it; it did not exit by itself */
    WAIT_FOR(&e, reaped(pid), 5000);     /* the stopped child was killed and reaped */
    call_ok(&e, "a.echo", "{\"text\":\"alive\"}", "a:alive");
    env_close(&e);
}

static void crash_loop_backoff(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    gw_config_t *cfg = parse_config("", STDIO("crashy", 1, ",\"--exit-after\",\"30\""));
    gw_upstream_settings_t s = test_settings();
    s.crash_limit = 3;
    s.crash_window_ms = T(60000);
    s.reconnect_max_ms = 60000;
    env_open(&e, cfg, &s);
    env_start(&e);
    gw_upstream_t *up = up_of(&e, "crashy");
    gw_upstream_stats_t st;
    WAIT_FOR(&e, (gw_upstream_stats(up, &st), st.child_exits >= 3), 10000);
    /* Three exits in the window: the next restart waits the long backoff. */
    assert_int_equal(gw_upstream_state(up), GW_UP_DOWN);
    assert_true(gw_upstream_reconnect_in(up) >= 25000);
    gw_registry_health_t h;
    gw_registry_health(e.reg, &h);
    assert_int_equal(h.fallback, 1); /* the only upstream is down */
    assert_int_equal(h.ready, 0);
    assert_string_equal(gw_registry_health_status(&h), "unhealthy");
    /* A manual reconnect still works at once. */
    assert_int_equal(gw_upstream_reconnect(up), 0);
    assert_int_equal(gw_upstream_state(up), GW_UP_CONNECTING);
    env_close(&e);
}

/* ---- Streamable HTTP upstream (mcp-mock everything) with a session expiry ---- */

static void mock_exited(child_t *ch, int64_t status, int sig, void *ud)
{
    (void)ch;
    (void)status;
    (void)sig;
    *(int *)ud = 1;
}

static int mock_path(char *out, size_t cap)
{
    const char *dir = getenv("MCP_BIN_DIR");
    char guess[PATH_MAX];
    if (!dir) {
        snprintf(guess, sizeof guess, "%s", self_path());
        char *slash = strrchr(guess, '/');
        if (slash)
            strcpy(slash, "/../bin");
        dir = guess;
    }
    int n = snprintf(out, cap, "%s/mcp-mock", dir);
    return n > 0 && (size_t)n < cap && access(out, X_OK) == 0;
}

static int file_ready(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

static void http_upstream_session_expiry(void **state)
{
    (void)state;
    char mock[PATH_MAX];
    if (!mock_path(mock, sizeof mock))
        skip(); /* mcp-mock is not built */
    env_t e;
    env_init(&e);
    char ready[64];
    snprintf(ready, sizeof ready, "/tmp/gw-reg-mock-%d.url", (int)getpid());
    unlink(ready);
    /* The third tools/call gets 404 (session gone): the client re-initializes and resends. */
    const char *const args[] = {"everything",
                                "--transport",
                                "http",
                                "--listen",
                                "127.0.0.1:0",
                                "--ready-file",
                                ready,
                                "--log-level",
                                "error",
                                "--faults",
                                "[{\"method\":\"tools/call\",\"after\":2,\"times\":1,"
                                "\"type\":\"session_expiry\"}]",
                                NULL};
    int exited = 0;
    child_options_t co = {
        .name = "mock", .file = mock, .args = args, .on_exit = mock_exited, .userdata = &exited};
    child_t *ch;
    assert_int_equal(child_spawn(&e.loop, &co, &ch), 0);
    pid_t mock_pid = track(&e, child_pid(ch));
    WAIT_FOR(&e, file_ready(ready), 10000);
    char url[256] = {0};
    FILE *f = fopen(ready, "r");
    assert_non_null(f);
    assert_non_null(fgets(url, sizeof url, f));
    fclose(f);
    unlink(ready);
    url[strcspn(url, "\r\n")] = '\0';
    char servers[512];
    snprintf(servers, sizeof servers,
             "{\"name\":\"mock\",\"transport\":\"http\",\"config\":{\"url\":\"%s\"}}", url);
    gw_config_t *cfg = parse_config("", servers);
    gw_upstream_settings_t s = test_settings();
    s.health_interval_ms = 50; /* pings go over HTTP too */
    env_open(&e, cfg, &s);
    env_start(&e);
    WAIT_FOR(&e, e.started, 10000);
    gw_upstream_t *up = up_of(&e, "mock");
    assert_int_equal(gw_upstream_state(up), GW_UP_READY);
    assert_true(listed(&e, "mock.test_simple_text"));
    assert_true(cJSON_GetArraySize(gw_upstream_resources(up)) > 0);
    for (int i = 0; i < 4; i++)
        call_ok(&e, "mock.test_simple_text", NULL, NULL);
    mcp_client_http_stats_t hs;
    assert_int_equal(mcp_client_http_get_stats(gw_upstream_client(up), &hs), 0);
    assert_int_equal(hs.expired, 1);
    gw_upstream_stats_t st;
    gw_upstream_stats(up, &st);
    assert_int_equal(st.ok, 4);
    assert_int_equal(st.disconnects, 0); /* the session was renewed, not dropped */
    WAIT_FOR(&e, (gw_upstream_stats(up, &st), st.probes >= 2), 5000);
    assert_int_equal(st.probe_failures, 0);
    /* The server goes away: probes fail, the upstream goes down and keeps retrying. */
    assert_int_equal(child_signal(ch, SIGKILL), 0);
    WAIT_FOR(&e, exited, 5000);
    child_close(ch);
    WAIT_FOR(&e, gw_upstream_state(up) == GW_UP_DOWN || gw_upstream_state(up) == GW_UP_CONNECTING,
             10000);
    assert_false(listed(&e, "mock.test_simple_text"));
    (void)mock_pid;
    env_close(&e);
}

/* Allocation failures: gw_registry_new and calls either fail with an error (and no callback)
 * or work; nothing leaks (ASan/valgrind) and the loop still closes. */
static void allocation_failures(void **state)
{
    (void)state;
    env_t e;
    env_init(&e);
    add_inproc(&e, "m", 0, 0);
    gw_config_t *cfg = parse_config("", INPROC("m", 1, "") "," INPROC("n", 2, ""));
    gw_upstream_settings_t s = test_settings();
    gw_registry_options_t ro = {
        .config = cfg, .settings = &s, .connect = connect_test, .connect_ud = &e, .seed = 1};
    int made = 0;
    for (long n = 0; n < 200 && !made; n++) {
        gw_registry_t *reg = NULL;
        mcp_alloc_fail_after(n);
        int rc = gw_registry_new(&e.loop, &ro, &reg);
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            made = 1;
            e.closed = 0;
            gw_registry_close(reg, on_reg_closed, &e);
            uv_run(&e.loop, UV_RUN_DEFAULT);
            assert_true(e.closed);
        } else {
            assert_int_equal(rc, MCP_ENOMEM);
            uv_run(&e.loop, UV_RUN_DEFAULT); /* the partial registry closes in the background */
        }
    }
    assert_true(made);
    env_open(&e, cfg, &s);
    env_start(&e);
    WAIT_FOR(&e, e.started, 5000);
    int ok = 0;
    for (long n = 0; n < 400 && !ok; n++) {
        result_t r = {.e = &e};
        gw_agg_call_opts_t o = {.cb = on_result, .ud = &r};
        mcp_alloc_fail_after(n);
        cJSON *args = cJSON_Parse("{\"text\":\"oom\"}");
        int rc = gw_agg_call_tool(e.agg, "m.echo", args, &o, NULL);
        mcp_alloc_fail_after(-1);
        if (rc) {
            assert_int_equal(rc, MCP_ENOMEM);
            assert_false(r.done);
            continue;
        }
        WAIT_FOR(&e, r.done, 5000);
        ok = r.status == 0 && strcmp(r.text, "m:oom") == 0;
    }
    assert_true(ok);
    call_ok(&e, "m.echo", "{\"text\":\"after\"}", "m:after");
    env_close(&e);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--server") == 0)
        return server_main(argc, argv);
    mcp_alloc_init();
    log_set_level(getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERROR);
    if (getenv("TEST_ONLY"))
        cmocka_set_test_filter(getenv("TEST_ONLY"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(startup_bound),
        cmocka_unit_test(startup_ends_when_settled),
        cmocka_unit_test(kill_child_restarts),
        cmocka_unit_test(retry_idempotent_after_child_death),
        cmocka_unit_test(retry_completes),
        cmocka_unit_test(hanging_upstream_and_breaker),
        cmocka_unit_test(lists_cache_and_notifications),
        cmocka_unit_test(reload_diff),
        cmocka_unit_test(health_probe_stopped_child),
        cmocka_unit_test(crash_loop_backoff),
        cmocka_unit_test(http_upstream_session_expiry),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
