/* mcp-mock KIND: deterministic mock MCP servers (mock.h describes the kinds' contract).
 *
 * main owns everything around a kind: the command line, the transport (stdio, or HTTP serving
 * Streamable HTTP on /mcp and legacy SSE on /sse + /messages together), fault injection
 * (fault_inject.h), the control API (control_api.h), signals and stdout. It prints one readiness
 * line once the mock can serve:
 *     mcp-mock ready kind=everything transport=http url=http://127.0.0.1:41234/mcp pid=123
 * on stdout for http/sse and on stderr for stdio (stdout is the protocol there), and with
 * --ready-file writes the URL ("stdio" for stdio) to that file atomically (temp file + rename).
 *
 * Signals: SIGTERM/SIGINT stop gracefully (exit 0 once every handle is closed); SIGHUP reloads
 * the --faults rules (a bad file keeps the old rules). Exit status: 0 after a clean stop or the
 * end of stdin, 1 when the mock could not start, 2 for bad usage (including kind options the
 * kind refuses with MCP_EINVAL). */
#include "alloc.h"
#include "control_api.h"
#include "errors.h"
#include "fault_inject.h"
#include "faults.h"
#include "log.h"
#include "mcp_server.h"
#include "mcp_stdio_server.h"
#include "mock.h"
#include "ready_file.h"
#ifdef MOCK_HAVE_GITHUB
#include "kind_github.h"
#endif

#ifdef MOCK_HAVE_HTTP
#include "mcp_http_server.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMP             "mock"
#define MOCK_VERSION     "0.1.0"
#define SHUTDOWN_GRACE   2000
#define EXIT_USAGE       2
#define EXIT_START_ERROR 1

#if defined(MOCK_HAVE_LLM) || defined(MOCK_HAVE_LLM_SERVER)
extern const mock_kind_t mock_kind_llm;
#endif
#ifdef MOCK_HAVE_LLM_SERVER
#include "llm_server.h"
#endif

typedef struct {
    const char *name;
    const mock_kind_t *kind; /* NULL: not built into this binary */
} kind_entry_t;

static const kind_entry_t kinds[] = {
#ifdef MOCK_HAVE_DATABASE
    {"database", &mock_kind_database},
#else
    {"database", NULL},
#endif
#ifdef MOCK_HAVE_GITHUB
    {"github", &mock_kind_github},
#else
    {"github", NULL},
#endif
#ifdef MOCK_HAVE_FILESYSTEM
    {"filesystem", &mock_kind_filesystem},
#else
    {"filesystem", NULL},
#endif
    {"everything", &mock_kind_everything},
#if defined(MOCK_HAVE_LLM) || defined(MOCK_HAVE_LLM_SERVER)
    {"llm", &mock_kind_llm},
#else
    {"llm", NULL},
#endif
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

typedef enum { T_STDIO = 0, T_HTTP, T_SSE } transport_t;
static const char *const transport_names[] = {"stdio", "http", "sse"};

typedef struct app_s {
    uv_loop_t loop;
    const mock_kind_t *kind;
    mock_options_t mopts;
    transport_t transport;
    char host[64];
    int port;
    const char *faults_spec;
    const char *ready_file;
    mcp_server_t *server;
    void *kind_state;
    int kind_ready;
    fault_inject_t *fi;
    mcp_stdio_server_t *stdio;
#ifdef MOCK_HAVE_HTTP
    mcp_http_server_t *http;
#endif
    control_api_t control;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t start_timer;
    int stopping;
    int finished;
    int exit_code;
} app_t;

/* ---- usage ---- */

static void print_common_options(FILE *f)
{
    fputs(
        "Options (every kind):\n"
        "  --transport stdio|http|sse  how to serve (default stdio). http and sse start the same\n"
        "                              HTTP server: Streamable HTTP on /mcp, legacy HTTP+SSE on\n"
        "                              GET /sse + POST /messages, GET /health and the control\n"
        "                              API; they differ only in the URL of the readiness line\n"
        "  --listen HOST:PORT          HTTP address (default 127.0.0.1:0; port 0 picks a free\n"
        "                              port, shown in the readiness line); IPv6 as [::1]:PORT\n"
        "  --faults SPEC               fault rules: inline JSON or @FILE (see below)\n"
        "  --seed N                    seed of the fault rules' random streams (default 1)\n"
        "  --ready-file PATH           also write the URL (\"stdio\" for stdio) to PATH, "
        "atomically\n"
        "  --log-level LEVEL           debug|info|warn|error|off (default info; logs go to "
        "stderr)\n"
        "  --page-size N               items per page of list results (default 100)\n"
        "  -h, --help                  this help (mcp-mock KIND --help: the kind's help too)\n"
        "  --version                   print the version\n"
        "Kind options (used by the kinds that need them):\n"
        "  --root DIR (repeatable), --db FILE, --seed-sql FILE, --fixtures FILE, --writable,\n"
        "  --max-rows N, --script FILE\n"
        "\n"
        "Readiness: one line once the mock can serve, on stdout for http/sse and on stderr for\n"
        "stdio (stdout carries the protocol there):\n"
        "  mcp-mock ready kind=KIND transport=http url=http://127.0.0.1:PORT/mcp pid=PID\n"
        "  mcp-mock ready kind=KIND transport=stdio pid=PID\n"
        "\n"
        "Fault rules (--faults, PUT /_mock/faults): a JSON array of rules or\n"
        "{\"seed\":N,\"rules\":[...]}. A rule: {\"name\", \"method\" (\"*\", exact, or prefix*),\n"
        "\"tool\" (tools/call and prompts/get name, resources/read URI), \"probability\" (0..1),\n"
        "\"every\" N, \"after\" N, \"times\" N, \"type\", parameters}. Types and parameters:\n"
        "  latency ms | distribution:uniform min_ms max_ms | distribution:normal mean_ms "
        "stddev_ms\n"
        "  error code message data      tool_error message      hang      close\n"
        "  exit exit_code               crash                   malformed\n"
        "  truncate bytes               slow_sse chunk_bytes delay_ms\n"
        "  oversized bytes              wrong_version version (initialize only)\n"
        "  slow_start ms (delays readiness)   session_expiry (HTTP: 404 and the session ends)\n"
        "  http_status status retry_after (HTTP)   stdout_noise text (stdio)\n"
        "A bad rule is rejected with a message naming the field.\n"
        "\n"
        "HTTP control API: GET /health; GET|PUT|DELETE /_mock/faults (read, replace, clear the\n"
        "rules); GET /_mock/stats (requests by method and tool, faults fired by rule and type).\n"
        "Signals: SIGTERM/SIGINT stop cleanly (exit 0); SIGHUP reloads the --faults rules\n"
        "(a bad file keeps the old ones). stdio mocks also stop at the end of stdin.\n"
        "Exit status: 0 clean stop, 1 could not start (e.g. the port is taken), 2 bad usage.\n",
        f);
}

static void print_usage(FILE *f)
{
    fputs("usage: mcp-mock KIND [options]\n"
          "Deterministic mock MCP servers with fault injection.\n\nKinds:\n",
          f);
    for (size_t i = 0; i < NKINDS; i++)
        fprintf(f, "  %-11s %s\n", kinds[i].name,
                kinds[i].kind ? kinds[i].kind->summary : "(not built into this binary)");
    fputc('\n', f);
    print_common_options(f);
}

static const kind_entry_t *find_kind(const char *name)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

/* ---- command line ---- */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mcp-mock: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see mcp-mock --help)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s[0] || s[0] == '-' || s[0] == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* HOST:PORT with an IPv4 literal, [IPv6] literal or localhost (-> 127.0.0.1). */
static int parse_listen(app_t *app, const char *s)
{
    const char *colon;
    size_t hlen;
    const char *host = s;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - s);
    }
    uint64_t port;
    if (hlen == 0 || hlen >= sizeof(app->host) || parse_u64(colon + 1, 65535, &port))
        return -1;
    memcpy(app->host, host, hlen);
    app->host[hlen] = '\0';
    if (strcmp(app->host, "localhost") == 0)
        strcpy(app->host, "127.0.0.1");
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    if (uv_ip4_addr(app->host, 0, &a4) != 0 && uv_ip6_addr(app->host, 0, &a6) != 0)
        return -1;
    app->port = (int)port;
    return 0;
}

/* Returns -1 to go on, or the exit status (help, version, usage error). */
static int parse_args(app_t *app, int argc, char **argv)
{
    const char *kind_name = NULL;
    int help = 0;
    strcpy(app->host, "127.0.0.1");
    app->mopts.seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (kind_name)
                return usage_error("unexpected argument '%s' (the kind is already '%s')", a,
                                   kind_name);
            kind_name = a;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help = 1;
            continue;
        }
        if (strcmp(a, "--version") == 0) {
            printf("mcp-mock %s\n", MOCK_VERSION);
            return 0;
        }
        if (strcmp(a, "--writable") == 0) {
            app->mopts.writable = 1;
            continue;
        }
        /* Options with a value: --opt VALUE or --opt=VALUE. */
        char name[32];
        const char *value = NULL;
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof(name))
            return usage_error("unknown option '%s'", a);
        memcpy(name, a, nlen);
        name[nlen] = '\0';
        static const char *const valued[] = {
            "--transport", "--listen", "--faults",    "--seed",     "--ready-file",
            "--root",      "--db",     "--seed-sql",  "--fixtures", "--page-size",
            "--max-rows",  "--script", "--log-level",
        };
        int known = 0;
        for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
            known |= strcmp(name, valued[k]) == 0;
        if (!known)
            return usage_error("unknown option '%s'", name);
        if (eq)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return usage_error("%s needs a value", name);
        uint64_t n;
        if (strcmp(name, "--transport") == 0) {
            if (strcmp(value, "stdio") == 0)
                app->transport = T_STDIO;
            else if (strcmp(value, "http") == 0)
                app->transport = T_HTTP;
            else if (strcmp(value, "sse") == 0)
                app->transport = T_SSE;
            else
                return usage_error("--transport: expected stdio, http or sse, got '%s'", value);
        } else if (strcmp(name, "--listen") == 0) {
            if (parse_listen(app, value))
                return usage_error("--listen: expected HOST:PORT with an IP address (e.g. "
                                   "127.0.0.1:0 or [::1]:8080), got '%s'",
                                   value);
        } else if (strcmp(name, "--faults") == 0) {
            if (!value[0])
                return usage_error("--faults: expected inline JSON or @FILE");
            app->faults_spec = value;
        } else if (strcmp(name, "--seed") == 0) {
            if (parse_u64(value, UINT64_MAX, &n))
                return usage_error("--seed: expected a non-negative integer, got '%s'", value);
            app->mopts.seed = n;
        } else if (strcmp(name, "--ready-file") == 0) {
            if (!value[0])
                return usage_error("--ready-file: expected a path");
            app->ready_file = value;
        } else if (strcmp(name, "--root") == 0) {
            if (app->mopts.root_count >= MOCK_MAX_ROOTS)
                return usage_error("--root: at most %d roots", MOCK_MAX_ROOTS);
            app->mopts.roots[app->mopts.root_count++] = value;
        } else if (strcmp(name, "--db") == 0) {
            app->mopts.db_path = value;
        } else if (strcmp(name, "--seed-sql") == 0) {
            app->mopts.seed_sql = value;
        } else if (strcmp(name, "--fixtures") == 0) {
            app->mopts.fixtures = value;
        } else if (strcmp(name, "--script") == 0) {
            app->mopts.llm_script = value;
        } else if (strcmp(name, "--page-size") == 0) {
            if (parse_u64(value, 100000, &n) || n == 0)
                return usage_error("--page-size: expected an integer from 1 to 100000, got '%s'",
                                   value);
            app->mopts.page_size = (size_t)n;
        } else if (strcmp(name, "--max-rows") == 0) {
            if (parse_u64(value, 100000000, &n) || n == 0)
                return usage_error("--max-rows: expected a positive integer, got '%s'", value);
            app->mopts.max_rows = (size_t)n;
        } else if (strcmp(name, "--log-level") == 0) {
            log_level_t level;
            if (log_level_parse(value, &level))
                return usage_error("--log-level: expected debug, info, warn, error or off, got "
                                   "'%s'",
                                   value);
            log_set_level(level);
        }
    }
    if (!kind_name) {
        if (help) {
            print_usage(stdout);
            return 0;
        }
        return usage_error("missing KIND");
    }
    const kind_entry_t *k = find_kind(kind_name);
    if (!k) {
        fprintf(stderr, "mcp-mock: unknown kind '%s'; kinds:", kind_name);
        for (size_t i = 0; i < NKINDS; i++)
            fprintf(stderr, " %s", kinds[i].name);
        fputs("\n", stderr);
        return EXIT_USAGE;
    }
    if (!k->kind) {
        fprintf(stderr, "mcp-mock: kind '%s' is not built into this binary\n", kind_name);
        return EXIT_USAGE;
    }
    if (help) {
        printf("usage: mcp-mock %s [options]\n%s: %s\n\n%s\n", k->name, k->name, k->kind->summary,
               k->kind->help ? k->kind->help : "");
        print_common_options(stdout);
        return 0;
    }
#ifndef MOCK_HAVE_HTTP
    if (app->transport != T_STDIO) {
        fprintf(stderr, "mcp-mock: --transport %s is not built into this binary\n",
                transport_names[app->transport]);
        return EXIT_USAGE;
    }
#endif
    app->kind = k->kind;
    app->mopts.kind = k->name;
    return -1;
}

/* ---- readiness ---- */

/* The ready file first: whoever sees the line may read the file at once. */
static int announce(app_t *app, const char *url)
{
    if (app->ready_file) {
        int rc = mock_write_ready_file(app->ready_file, url ? url : "stdio");
        if (rc) {
            LOG_E(COMP, "cannot write the ready file", "path=%s error=%s",
                  log_quote(app->ready_file), mcp_strerror(rc));
            return rc;
        }
    }
    FILE *out = app->transport == T_STDIO ? stderr : stdout;
    if (url)
        fprintf(out, "mcp-mock ready kind=%s transport=%s url=%s pid=%d\n", app->mopts.kind,
                transport_names[app->transport], url, (int)getpid());
    else
        fprintf(out, "mcp-mock ready kind=%s transport=%s pid=%d\n", app->mopts.kind,
                transport_names[app->transport], (int)getpid());
    fflush(out);
    return 0;
}

/* ---- stopping ---- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Everything the transports used is gone: free the rest (from the loop, never from inside a
 * transport's own callback chain). */
static void finish(app_t *app)
{
    if (app->finished)
        return;
    app->finished = 1;
    if (app->fi) {
        fault_inject_stdio_detach(app->fi);
        fault_inject_close(app->fi);
        app->fi = NULL;
    }
    mcp_server_free(app->server);
    app->server = NULL;
    if (app->kind_ready && app->kind->teardown)
        app->kind->teardown(app->kind_state);
    app->kind_ready = 0;
    uv_close((uv_handle_t *)&app->sig_term, on_handle_closed);
    uv_close((uv_handle_t *)&app->sig_int, on_handle_closed);
    uv_close((uv_handle_t *)&app->sig_hup, on_handle_closed);
    uv_close((uv_handle_t *)&app->start_timer, on_handle_closed);
}

static void on_finish_timer(uv_timer_t *t)
{
    finish(t->data);
}

static void finish_later(app_t *app)
{
    uv_timer_stop(&app->start_timer);
    uv_timer_start(&app->start_timer, on_finish_timer, 0, 0);
}

static void on_stdio_closed(mcp_stdio_server_t *io, int status, void *ud)
{
    (void)io;
    app_t *app = ud;
    app->stdio = NULL;
    if (app->fi)
        fault_inject_stdio_detach(app->fi);
    if (status != 0 && status != MCP_ECLOSED)
        LOG_W(COMP, "stdio transport closed with an error", "error=%s", mcp_strerror(status));
    else
        LOG_I(COMP, "stdio transport closed", "status=%s", mcp_err_name(status));
    app->stopping = 1;
    finish_later(app);
}

#ifdef MOCK_HAVE_HTTP
static void on_http_closed(mcp_http_server_t *t, void *ud)
{
    (void)t;
    app_t *app = ud;
    app->http = NULL;
    LOG_I(COMP, "http transport closed", "kind=%s", app->mopts.kind);
    finish_later(app);
}
#endif

static void stop(app_t *app)
{
    if (app->stopping)
        return;
    app->stopping = 1;
    if (app->stdio) {
        mcp_stdio_server_close(app->stdio);
        return;
    }
#ifdef MOCK_HAVE_HTTP
    if (app->http) {
        if (mcp_http_server_close(app->http, on_http_closed, app) == 0)
            return;
        app->http = NULL;
    }
#endif
    /* Not serving yet (slow start) or the transport is already gone. */
    finish_later(app);
}

/* ---- signals ---- */

static void reload_faults(app_t *app)
{
    if (!app->faults_spec) {
        LOG_W(COMP, "SIGHUP: no --faults to reload", "kind=%s", app->mopts.kind);
        return;
    }
    char err[256] = "";
    fault_set_t *set = NULL;
    int rc = fault_set_parse_spec(app->faults_spec, app->mopts.seed, &set, err, sizeof(err));
    if (rc) {
        LOG_E(COMP, "SIGHUP: fault rules not reloaded; keeping the old ones", "error=%s",
              log_quote(err[0] ? err : mcp_strerror(rc)));
        return;
    }
    size_t n = set ? set->count : 0;
    if (app->fi)
        fault_inject_set_rules(app->fi, set);
    else
        fault_set_free(set);
    LOG_I(COMP, "SIGHUP: fault rules reloaded", "rules=%zu spec=%s", n,
          log_quote(app->faults_spec));
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_t *app = s->data;
    if (signum == SIGHUP) {
        reload_faults(app);
        return;
    }
    LOG_I(COMP, "stopping", "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    stop(app);
}

/* ---- serving ---- */

#ifdef MOCK_HAVE_HTTP
static int end_call_stream(void *ud, mcp_call_t *call)
{
    app_t *app = ud;
    return app->http ? mcp_http_server_end_call_stream(app->http, call) : MCP_ESTATE;
}

static size_t http_session_count(void *ud)
{
    app_t *app = ud;
    return app->http ? mcp_http_server_session_count(app->http) : 0;
}

static void http_add_stats(cJSON *stats, void *ud)
{
    app_t *app = ud;
    if (!app->http)
        return;
    mcp_http_stats_t s;
    mcp_http_server_get_stats(app->http, &s);
    cJSON *h = cJSON_AddObjectToObject(stats, "http");
    if (!h)
        return;
    cJSON_AddNumberToObject(h, "sessions", (double)s.sessions);
    cJSON_AddNumberToObject(h, "legacy_sessions", (double)s.legacy_sessions);
    cJSON_AddNumberToObject(h, "live_streams", (double)s.live_streams);
    cJSON_AddNumberToObject(h, "sessions_created", (double)s.sessions_created);
    cJSON_AddNumberToObject(h, "sessions_expired", (double)s.sessions_expired);
    cJSON_AddNumberToObject(h, "sessions_deleted", (double)s.sessions_deleted);
    cJSON_AddNumberToObject(h, "posts", (double)s.posts);
    cJSON_AddNumberToObject(h, "gets", (double)s.gets);
    cJSON_AddNumberToObject(h, "deletes", (double)s.deletes);
    cJSON_AddNumberToObject(h, "rejected", (double)s.rejected);
    cJSON_AddNumberToObject(h, "events_sent", (double)s.events_sent);
}

static int start_http(app_t *app)
{
    mcp_http_config_t cfg;
    mcp_http_config_init(&cfg);
    cfg.max_message_bytes = 256u * 1024 * 1024; /* oversized faults go far past 16 MiB */
    int rc = mcp_http_server_new(&app->loop, app->server, &cfg, &app->http);
    if (rc) {
        LOG_E(COMP, "cannot create the HTTP transport", "error=%s", mcp_strerror(rc));
        return rc;
    }
    http_server_config_t hcfg;
    http_server_config_init(&hcfg);
    hcfg.max_output_bytes = 512u * 1024 * 1024;
    hcfg.max_body_bytes = 16u * 1024 * 1024;
    rc = mcp_http_server_listen(app->http, app->host, app->port, &hcfg);
    if (!rc)
        rc = control_api_mount(mcp_http_server_router(app->http), &app->control);
    if (rc) {
        LOG_E(COMP, "cannot listen", "host=%s port=%d error=%s", app->host, app->port,
              mcp_strerror(rc));
        return rc;
    }
    fault_inject_set_http(app->fi, app->http);
    mcp_http_server_set_pre_hook(app->http, fault_inject_http_pre, app->fi);
    mcp_http_server_set_send_filter(app->http, fault_inject_http_filter, app->fi);
    int port = mcp_http_server_port(app->http);
    int v6 = strchr(app->host, ':') != NULL;
    char url[128];
    snprintf(url, sizeof(url), "http://%s%s%s:%d%s", v6 ? "[" : "", app->host, v6 ? "]" : "", port,
             app->transport == T_SSE ? "/sse" : "/mcp");
    return announce(app, url);
}
#endif

static int start_serving(app_t *app)
{
    if (app->transport == T_STDIO) {
        int rc = mcp_stdio_server_start(&app->loop, app->server, NULL, on_stdio_closed, app,
                                        &app->stdio);
        if (rc) {
            LOG_E(COMP, "cannot serve on stdin/stdout", "error=%s", mcp_strerror(rc));
            return rc;
        }
        mcp_stdio_server_set_send_filter(app->stdio, fault_inject_stdio_filter, app->fi);
        return announce(app, NULL);
    }
#ifdef MOCK_HAVE_HTTP
    return start_http(app);
#else
    return MCP_EUNSUPPORTED;
#endif
}

static void fail_start(app_t *app)
{
    app->exit_code = EXIT_START_ERROR;
    stop(app);
}

static void on_slow_start(uv_timer_t *t)
{
    app_t *app = t->data;
    if (app->stopping)
        return;
    if (start_serving(app) != 0)
        fail_start(app);
}

/* ---- main ---- */

static int setup(app_t *app)
{
    fault_set_t *set = NULL;
    if (app->faults_spec) {
        char err[256] = "";
        int rc = fault_set_parse_spec(app->faults_spec, app->mopts.seed, &set, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "mcp-mock: --faults: %s\n", err[0] ? err : mcp_strerror(rc));
            return EXIT_USAGE;
        }
    }
    mcp_server_config_t cfg = {
        .name = app->kind->server_name ? app->kind->server_name : app->mopts.kind,
        .version = MOCK_VERSION,
        .page_size = app->mopts.page_size,
        .default_log_level = MCP_LOG_DEBUG,
    };
    int rc = mcp_server_create(&app->loop, &cfg, &app->server);
    if (rc) {
        fault_set_free(set);
        fprintf(stderr, "mcp-mock: cannot create the server: %s\n", mcp_strerror(rc));
        return EXIT_START_ERROR;
    }
    rc = fault_inject_new(&app->loop, app->server,
                          app->transport == T_STDIO ? FAULT_INJECT_STDIO : FAULT_INJECT_HTTP, set,
                          &app->fi);
    if (rc) {
        fprintf(stderr, "mcp-mock: cannot set up fault injection: %s\n", mcp_strerror(rc));
        return EXIT_START_ERROR;
    }
#ifdef MOCK_HAVE_GITHUB
    if (app->kind == &mock_kind_github)
        fault_inject_set_rate_limit(app->fi, mock_github_rate_limit_result);
#endif
    app->mopts.loop = &app->loop;
#ifdef MOCK_HAVE_HTTP
    if (app->transport != T_STDIO) {
        app->mopts.end_call_stream = end_call_stream;
        app->mopts.transport_ud = app;
        app->control.session_count = http_session_count;
        app->control.add_stats = http_add_stats;
        app->control.ud = app;
    }
#endif
    app->control.fi = app->fi;
    app->control.kind = app->mopts.kind;
    app->control.transport = transport_names[app->transport];
    app->control.seed = app->mopts.seed;
    char err[256] = "";
    rc = app->kind->setup(app->server, &app->mopts, &app->kind_state, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "mcp-mock: %s: %s\n", app->mopts.kind, err[0] ? err : mcp_strerror(rc));
        /* MCP_EINVAL: the kind refused its options (a usage error like any other). */
        return rc == MCP_EINVAL ? EXIT_USAGE : EXIT_START_ERROR;
    }
    app->kind_ready = 1;
    return 0;
}

static void on_walk(uv_handle_t *h, void *ud)
{
    (void)ud;
    LOG_E(COMP, "handle left open at exit", "type=%s active=%d", uv_handle_type_name(h->type),
          uv_is_active(h));
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    log_init_from_env();
#ifdef MOCK_HAVE_LLM_SERVER
    /* llm is no MCP kind: it serves OpenAI chat completions (llm_server.h). */
    if (argc > 1 && strcmp(argv[1], "llm") == 0)
        return mock_llm_main(argc, argv);
#endif
    app_t app;
    memset(&app, 0, sizeof(app));
    int rc = parse_args(&app, argc, argv);
    if (rc >= 0)
        return rc;
    if (uv_loop_init(&app.loop) != 0) {
        fprintf(stderr, "mcp-mock: cannot create the event loop\n");
        return EXIT_START_ERROR;
    }
    uv_signal_init(&app.loop, &app.sig_term);
    uv_signal_init(&app.loop, &app.sig_int);
    uv_signal_init(&app.loop, &app.sig_hup);
    uv_timer_init(&app.loop, &app.start_timer);
    app.sig_term.data = app.sig_int.data = app.sig_hup.data = &app;
    app.start_timer.data = &app;

    int status = setup(&app);
    if (status == 0) {
        uv_signal_start(&app.sig_term, on_signal, SIGTERM);
        uv_signal_start(&app.sig_int, on_signal, SIGINT);
        uv_signal_start(&app.sig_hup, on_signal, SIGHUP);
        const fault_rule_t *slow =
            fault_set_find_type(fault_inject_rules(app.fi), FAULT_SLOW_START);
        if (slow && slow->ms > 0) {
            LOG_I(COMP, "slow start: delaying readiness", "ms=%.0f rule=%s", slow->ms,
                  log_quote(slow->name));
            uv_timer_start(&app.start_timer, on_slow_start, (uint64_t)(slow->ms + 0.5), 0);
        } else if (start_serving(&app) != 0) {
            fail_start(&app);
        }
    } else {
        app.exit_code = status;
        app.stopping = 1;
        finish(&app);
    }
    uv_run(&app.loop, UV_RUN_DEFAULT);
    if (!app.finished)
        finish(&app);
    uv_run(&app.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&app.loop) != 0) {
        uv_walk(&app.loop, on_walk, NULL);
        LOG_E(COMP, "event loop not empty at exit", "kind=%s", app.mopts.kind);
        return EXIT_START_ERROR;
    }
    return app.exit_code;
}
