/* mcp-harness: runs scenario files (docs/scenario-format.md) and gates CI with its exit code.
 *
 *   mcp-harness run FILE|DIR... [--out DIR] [--junit FILE] [--seed N] [--only NAME]
 *                               [--gateway URL] [--header 'Name: value'] [--var NAME=VALUE]
 *   mcp-harness validate FILE|DIR...
 *
 * Exit codes: 0 every scenario passed (or was skipped), 1 an expectation or gate failed, 2 a
 * usage or setup error (bad scenario, process that would not start, missing feature), 128+N when
 * interrupted by signal N (SIGINT, SIGTERM) after every process was stopped. */
#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "http_client.h"
#include "log.h"
#include "report.h"
#include "runner.h"
#include "scenario.h"
#include "steps.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define MAX_FILES   4096
#define MAX_ONLY    64
#define MAX_HEADERS 64

static const char usage_text[] =
    "usage: mcp-harness run FILE|DIR... [options]\n"
    "       mcp-harness validate FILE|DIR...\n"
    "       mcp-harness --help | --version\n"
    "\n"
    "Runs scenario files: starts the mocks and the gateway they declare, drives HTTP, MCP and\n"
    "chat requests with expectations, injects faults, generates load, checks gates and writes\n"
    "reports. A DIR stands for the *.json files directly in it (files whose name starts with\n"
    "'_' are include fragments and are skipped). Format: docs/scenario-format.md.\n"
    "\n"
    "run options:\n"
    "  --out DIR          run folders and reports (default: harness-out)\n"
    "  --junit FILE       JUnit XML report (default: DIR/junit.xml)\n"
    "  --seed N           seed for fault rules and load mixes (default: the scenario's seed,\n"
    "                     else a fresh one; every run folder records the seed used)\n"
    "  --only NAME        run only scenarios whose name (or file name) matches NAME, a shell\n"
    "                     pattern; repeatable\n"
    "  --gateway URL      staging mode: run against a gateway already running at URL instead\n"
    "                     of starting one; steps that need local processes are skipped\n"
    "  --header 'K: V'    extra header for requests to the staging gateway; repeatable\n"
    "  --var NAME=VALUE   set a scenario variable (overrides the scenario's vars); repeatable\n"
    "  --bin-dir DIR      look for mcp-mock and mcp-gateway in DIR first (default: next to\n"
    "                     mcp-harness, then PATH)\n"
    "  --grace MS         SIGTERM -> SIGKILL escalation when stopping processes (default 2000)\n"
    "  --no-color         no ANSI colors on the terminal\n"
    "  -v, --verbose      harness logs at info level on stderr (default: errors only;\n"
    "                     MCP_LOG_LEVEL also works)\n"
    "\n"
    "Output in --out DIR: summary.json, junit.xml, and per scenario a run folder DIR/NAME/\n"
    "with scenario.json (resolved), seed, repro (one command line that reruns it), the\n"
    "configs written, each process's stdout/stderr log, processes.log, summary.json, and per\n"
    "histogram NAME.hlog and NAME.hgrm.\n"
    "\n"
    "Exit codes: 0 all passed, 1 an expectation or gate failed, 2 usage or setup error,\n"
    "128+N interrupted by signal N (every process is stopped first).\n";

typedef struct app_s {
    uv_loop_t loop;
    const char *files[MAX_FILES];
    char *owned_files[MAX_FILES];
    size_t nfiles;
    const char *only[MAX_ONLY];
    size_t nonly;
    const char *headers[MAX_HEADERS + 1];
    size_t nheaders;
    cJSON *vars;
    const char *out_dir;
    const char *junit;
    const char *gateway;
    const char *bin_dir;
    int has_seed;
    uint64_t seed;
    unsigned grace_ms;
    int no_color;
    int verbose;
    const char *argv0;
    /* run state */
    runner_t *runner;
    rep_scenario_t *results[MAX_FILES];
    size_t nresults;
    int signum;
    int signals_seen;
    uv_signal_t sig_int, sig_term;
    rep_term_t term;
} app_t;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mcp-harness: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see mcp-harness --help)\n");
    va_end(ap);
    return 2;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A file, or the *.json files directly in a directory (sorted; '_' files skipped). */
static int add_path(app_t *app, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "mcp-harness: %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (app->nfiles == MAX_FILES)
            return usage_error("more than %s scenario files", "4096");
        app->files[app->nfiles++] = path;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "mcp-harness: %s: %s\n", path, strerror(errno));
        return 2;
    }
    size_t first = app->nfiles;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0 || de->d_name[0] == '_' ||
            de->d_name[0] == '.')
            continue;
        if (app->nfiles == MAX_FILES)
            break;
        char *full = mcp_asprintf("%s/%s", path, de->d_name);
        if (!full)
            break;
        app->owned_files[app->nfiles] = full;
        app->files[app->nfiles++] = full;
    }
    closedir(d);
    qsort(&app->files[first], app->nfiles - first, sizeof(app->files[0]), cmp_str);
    qsort(&app->owned_files[first], app->nfiles - first, sizeof(app->owned_files[0]), cmp_str);
    if (app->nfiles == first)
        fprintf(stderr, "mcp-harness: note: %s has no scenario files\n", path);
    return 0;
}

static int parse_args(app_t *app, int argc, char **argv, int validate)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char name[64] = "";
        if (strncmp(a, "--", 2) == 0 && a[2]) {
            const char *eq = strchr(a, '=');
            snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - a) : strlen(a)), a);
            if (eq)
                val = eq + 1;
        }
        static const char *const with_value[] = {"--out",     "--junit",  "--seed", "--only",
                                                 "--gateway", "--header", "--var",  "--bin-dir",
                                                 "--grace",   NULL};
        int needs = 0;
        for (const char *const *w = with_value; *w; w++)
            if (strcmp(name, *w) == 0)
                needs = 1;
        if (needs && !val) {
            if (i + 1 >= argc)
                return usage_error("%s: expects a value", name);
            val = argv[++i];
        }
        if (needs && validate && strcmp(name, "--bin-dir") != 0)
            return usage_error("%s: not an option of validate", name);
        if (strcmp(name, "--out") == 0) {
            app->out_dir = val;
        } else if (strcmp(name, "--junit") == 0) {
            app->junit = val;
        } else if (strcmp(name, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(val, &end, 10);
            if (errno || end == val || *end || val[0] == '-' || s > (1ULL << 53))
                return usage_error("--seed: expected a non-negative integer below 2^53, got '%s'",
                                   val);
            app->has_seed = 1;
            app->seed = s;
        } else if (strcmp(name, "--only") == 0) {
            if (app->nonly == MAX_ONLY)
                return usage_error("%s: too many", "--only");
            app->only[app->nonly++] = val;
        } else if (strcmp(name, "--gateway") == 0) {
            if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0)
                return usage_error("--gateway: expected an http:// or https:// URL, got '%s'", val);
            app->gateway = val;
        } else if (strcmp(name, "--header") == 0) {
            const char *colon = strchr(val, ':');
            if (!colon || colon == val || strpbrk(val, "\r\n"))
                return usage_error("--header: expected 'Name: value', got '%s'", val);
            if (app->nheaders == MAX_HEADERS)
                return usage_error("%s: too many", "--header");
            app->headers[app->nheaders++] = val;
        } else if (strcmp(name, "--var") == 0) {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val)
                return usage_error("--var: expected NAME=VALUE, got '%s'", val);
            char *n = mcp_strndup(val, (size_t)(eq - val));
            if (!n || !cJSON_AddStringToObject(app->vars, n, eq + 1)) {
                mcp_free(n);
                return 2;
            }
            mcp_free(n);
        } else if (strcmp(name, "--bin-dir") == 0) {
            app->bin_dir = val;
        } else if (strcmp(name, "--grace") == 0) {
            char *end;
            long g = strtol(val, &end, 10);
            if (end == val || *end || g < 1 || g > 600000)
                return usage_error("--grace: expected milliseconds (1..600000), got '%s'", val);
            app->grace_ms = (unsigned)g;
        } else if (strcmp(a, "--no-color") == 0) {
            app->no_color = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            app->verbose = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else {
            int rc = add_path(app, a);
            if (rc)
                return rc;
        }
    }
    if (app->nheaders && !app->gateway)
        return usage_error("%s only applies to the staging gateway: give --gateway URL too",
                           "--header");
    return 0;
}

static int selected(const app_t *app, const scenario_t *s)
{
    if (!app->nonly)
        return 1;
    const char *base = strrchr(s->file, '/');
    base = base ? base + 1 : s->file;
    for (size_t i = 0; i < app->nonly; i++)
        if (fnmatch(app->only[i], s->name, 0) == 0 || fnmatch(app->only[i], base, 0) == 0)
            return 1;
    return 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    app->signals_seen++;
    if (app->signals_seen > 1) {
        /* a second Ctrl-C: leave now; children die with us (PR_SET_PDEATHSIG) */
        fprintf(stderr, "mcp-harness: second signal, exiting without cleanup\n");
        _exit(128 + signum);
    }
    app->signum = signum;
    fprintf(stderr,
            "\nmcp-harness: signal %d: stopping every process and writing reports "
            "(again to exit at once)\n",
            signum);
    if (app->runner)
        runner_abort(app->runner, signum);
}

static void scenario_done(runner_t *r, rep_scenario_t *res, void *ud)
{
    app_t *app = ud;
    (void)r;
    app->results[app->nresults++] = res;
}

/* mkdir -p: --out may name a folder whose parents do not exist yet. */
static int make_dirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static int run_all(app_t *app)
{
    int64_t started = clock_wall_ms();
    uint64_t t0 = clock_mono_ns();
    if (make_dirs(app->out_dir) != 0) {
        fprintf(stderr, "mcp-harness: --out %s: %s\n", app->out_dir, strerror(errno));
        return 2;
    }
    uv_signal_init(&app->loop, &app->sig_int);
    uv_signal_init(&app->loop, &app->sig_term);
    app->sig_int.data = app;
    app->sig_term.data = app;
    uv_signal_start(&app->sig_int, on_signal, SIGINT);
    uv_signal_start(&app->sig_term, on_signal, SIGTERM);
    /* the signal watchers must not keep the loop alive between scenarios */
    uv_unref((uv_handle_t *)&app->sig_int);
    uv_unref((uv_handle_t *)&app->sig_term);
    app->term.out = stdout;
    app->term.tty = isatty(STDOUT_FILENO);
    app->term.color = app->term.tty && !app->no_color && !getenv("NO_COLOR");

    for (size_t i = 0; i < app->nfiles && !app->signum; i++) {
        char err[2048];
        scenario_t *s = NULL;
        int rc = scenario_load(app->files[i], &s, err, sizeof(err));
        if (rc) {
            rep_scenario_t *rep = rep_scenario_new(app->files[i], app->files[i]);
            if (rep) {
                rep->status = REP_ERROR;
                rep->error = mcp_strdup(err);
                app->results[app->nresults++] = rep;
            }
            fprintf(stdout, "✗ %s\n", err);
            continue;
        }
        if (!selected(app, s)) {
            scenario_free(s);
            continue;
        }
        runner_options_t ro;
        memset(&ro, 0, sizeof(ro));
        ro.loop = &app->loop;
        ro.out_dir = app->out_dir;
        ro.bin_dir = app->bin_dir;
        ro.has_seed = app->has_seed;
        ro.seed = app->seed;
        ro.gateway_url = app->gateway;
        ro.headers = app->nheaders ? app->headers : NULL;
        ro.cli_vars = app->vars;
        ro.harness_path = app->argv0;
        ro.grace_ms = app->grace_ms;
        ro.term = &app->term;
        size_t before = app->nresults;
        rc = runner_start(&ro, s, scenario_done, app, &app->runner);
        if (rc) {
            scenario_free(s);
            fprintf(stderr, "mcp-harness: %s: %s\n", app->files[i], mcp_strerror(rc));
            return 2;
        }
        uv_run(&app->loop, UV_RUN_DEFAULT);
        runner_free(app->runner);
        app->runner = NULL;
        scenario_free(s);
        if (app->nresults == before) {
            fprintf(stderr, "mcp-harness: internal error: %s produced no result\n", app->files[i]);
            return 2;
        }
    }
    int code = 0;
    for (size_t i = 0; i < app->nresults; i++) {
        int c = rep_exit_code(app->results[i], app->signum);
        if (c == 2 || (c == 1 && code == 0))
            code = c;
    }
    if (app->signum)
        code = 128 + app->signum;
    if (app->nresults == 0 && app->nfiles > 0 && app->nonly) {
        fprintf(stderr, "mcp-harness: no scenario matches --only\n");
        code = 2;
    }
    char *summary = mcp_asprintf("%s/summary.json", app->out_dir);
    char *junit = app->junit ? mcp_strdup(app->junit) : mcp_asprintf("%s/junit.xml", app->out_dir);
    uint64_t dur = clock_mono_ns() - t0;
    if (summary && rep_write_summary(summary, app->results, app->nresults, code, started, dur))
        fprintf(stderr, "mcp-harness: cannot write %s\n", summary);
    if (junit && rep_write_junit(junit, app->results, app->nresults))
        fprintf(stderr, "mcp-harness: cannot write %s\n", junit);
    rep_term_totals(&app->term, app->results, app->nresults, code);
    printf("reports: %s, %s\n", summary ? summary : "?", junit ? junit : "?");
    mcp_free(summary);
    mcp_free(junit);
    uv_close((uv_handle_t *)&app->sig_int, NULL);
    uv_close((uv_handle_t *)&app->sig_term, NULL);
    uv_run(&app->loop, UV_RUN_DEFAULT);
    return code;
}

static int validate_all(app_t *app)
{
    int code = 0;
    for (size_t i = 0; i < app->nfiles; i++) {
        char err[2048];
        scenario_t *s = NULL;
        if (scenario_load(app->files[i], &s, err, sizeof(err))) {
            printf("✗ %s\n", err);
            code = 2;
            continue;
        }
        size_t loads = 0;
        for (size_t j = 0; j < s->nsteps; j++)
            loads += s->steps[j].kind == SCN_STEP_LOAD;
        printf("✓ %s: %s (%zu processes, %zu steps, %zu gates)%s\n", app->files[i], s->name,
               s->nprocs, s->nsteps, s->ngates,
               loads && !steps_have_load() ? " — note: this build cannot run its load phases" : "");
        scenario_free(s);
    }
    return code;
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    log_set_level(LOG_ERROR);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("mcp-harness 0.1.0 (load phases: %s, MCP over HTTP: %s)\n",
               steps_have_load() ? "yes" : "no", steps_have_mcp_http() ? "yes" : "no");
        return 0;
    }
    int validate = strcmp(argv[1], "validate") == 0;
    if (!validate && strcmp(argv[1], "run") != 0)
        return usage_error("unknown command '%s' (run, validate, --help)", argv[1]);
    static app_t app;
    app.argv0 = argv[0];
    app.out_dir = "harness-out";
    app.vars = cJSON_CreateObject();
    if (!app.vars)
        return 2;
    int code = parse_args(&app, argc, argv, validate);
    if (code == 0 && app.nfiles == 0)
        code = usage_error("%s: no scenario file given", argv[1]);
    if (code == 0) {
        if (app.verbose)
            log_set_level(LOG_INFO);
        log_init_from_env();
        if (validate) {
            code = validate_all(&app);
        } else {
            if (http_client_global_init() != 0) {
                fprintf(stderr, "mcp-harness: libcurl initialisation failed\n");
                code = 2;
            } else {
                uv_loop_init(&app.loop);
                code = run_all(&app);
                if (uv_loop_close(&app.loop) != 0)
                    fprintf(stderr, "mcp-harness: warning: event loop still had handles\n");
                http_client_global_cleanup();
            }
        }
    }
    for (size_t i = 0; i < app.nresults; i++)
        rep_scenario_free(app.results[i]);
    for (size_t i = 0; i < app.nfiles; i++)
        mcp_free(app.owned_files[i]);
    cJSON_Delete(app.vars);
    return code;
}
