#include "runner.h"

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "errors.h"
#include "gates.h"
#include "http_client.h"
#include "log.h"
#include "steps.h"
#include "supervisor.h"
#include "vars.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROGRESS_MS 200

typedef enum { R_PROCS = 0, R_STEPS, R_STOPPING, R_DONE } rstate_t;

struct runner_s {
    runner_options_t o;
    const scenario_t *scn;
    runner_done_fn done;
    void *ud;
    rstate_t state;
    rep_scenario_t *rep;
    uint64_t seed;
    uint64_t start_ns;
    char *run_dir;
    vars_t *vars;
    metrics_t *metrics;
    http_client_t *http;
    sup_t *sup;
    steps_t *steps;
    size_t pi; /* next process to start */
    size_t si; /* running / next step */
    uint64_t step_start_ns;
    int stop_steps; /* no more steps */
    int aborted;
    int signum;
    int timed_out;
    int setup_error;
    int step_error;
    int any_failed;
    uv_timer_t tick;
    uv_timer_t deadline;
    int handles_open;
    char **hdr_copy;
};

static void advance(runner_t *r);
static void begin_stop(runner_t *r);

uint64_t runner_random_seed(void)
{
    uint64_t x = clock_mono_ns() ^ ((uint64_t)clock_wall_ms() << 20) ^ (uint64_t)getpid();
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x & ((1ULL << 53) - 1);
}

/* ---- the run folder ---- */

static int clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = mcp_asprintf("%s/%s", dir, de->d_name);
        if (!p)
            break;
        struct stat st;
        if (lstat(p, &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
            unlink(p);
        mcp_free(p);
    }
    closedir(d);
    return 0;
}

static void shell_quote(buf_t *b, const char *s)
{
    int plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-_./:=@%+,", *p)))
            plain = 0;
    if (plain) {
        buf_append_str(b, s);
        return;
    }
    buf_putc(b, '\'');
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            buf_append_str(b, "'\\''");
        else
            buf_putc(b, *p);
    }
    buf_putc(b, '\'');
}

static char *repro_line(const runner_t *r)
{
    buf_t b;
    buf_init(&b, 64 * 1024);
    /* absolute paths, so the line works from any directory */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0)
        self[n] = '\0';
    char fbuf[PATH_MAX], obuf[PATH_MAX], bbuf[PATH_MAX];
    const char *file = realpath(r->scn->file, fbuf);
    const char *out = realpath(r->o.out_dir, obuf);
    shell_quote(&b, n > 0 ? self : r->o.harness_path ? r->o.harness_path : "mcp-harness");
    buf_append_str(&b, " run ");
    shell_quote(&b, file ? file : r->scn->file);
    buf_appendf(&b, " --seed %llu --out ", (unsigned long long)r->seed);
    shell_quote(&b, out ? out : r->o.out_dir);
    if (r->o.bin_dir) {
        const char *bd = realpath(r->o.bin_dir, bbuf);
        buf_append_str(&b, " --bin-dir ");
        shell_quote(&b, bd ? bd : r->o.bin_dir);
    }
    if (r->o.gateway_url) {
        buf_append_str(&b, " --gateway ");
        shell_quote(&b, r->o.gateway_url);
        for (size_t i = 0; r->o.headers && r->o.headers[i]; i++) {
            /* header values are credentials: the line names them only */
            const char *colon = strchr(r->o.headers[i], ':');
            char line[300];
            snprintf(line, sizeof(line), "%.*s: <redacted>",
                     (int)(colon ? (size_t)(colon - r->o.headers[i]) : strlen(r->o.headers[i])),
                     r->o.headers[i]);
            buf_append_str(&b, " --header ");
            shell_quote(&b, line);
        }
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, r->o.cli_vars)
    {
        char *val = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
        char *kv = mcp_asprintf("%s=%s", v->string, val ? val : v->valuestring);
        cJSON_free(val);
        if (kv) {
            buf_append_str(&b, " --var ");
            shell_quote(&b, kv);
            mcp_free(kv);
        }
    }
    return buf_detach(&b, NULL);
}

static int write_text(runner_t *r, const char *name, const char *text)
{
    char *path = mcp_asprintf("%s/%s", r->run_dir, name);
    if (!path)
        return MCP_ENOMEM;
    int rc = rep_write_file(path, text, strlen(text));
    mcp_free(path);
    return rc;
}

static int prepare_run_dir(runner_t *r, char *err, size_t errcap)
{
    char safe[200];
    rep_safe_name(r->scn->name, safe, sizeof(safe));
    r->run_dir = mcp_asprintf("%s/%s", r->o.out_dir, safe);
    if (!r->run_dir)
        return MCP_ENOMEM;
    if (mkdir(r->run_dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errcap, "cannot create the run folder %s: %s", r->run_dir, strerror(errno));
        return -errno;
    }
    clear_dir(r->run_dir);
    r->rep->run_dir = mcp_strdup(r->run_dir);
    /* what reproduces the run */
    cJSON *doc = cJSON_Duplicate(r->scn->doc, 1);
    if (!doc)
        return MCP_ENOMEM;
    cJSON *seed = cJSON_CreateNumber((double)r->seed);
    if (cJSON_GetObjectItemCaseSensitive(doc, "seed"))
        cJSON_ReplaceItemInObjectCaseSensitive(doc, "seed", seed);
    else
        cJSON_AddItemToObject(doc, "seed", seed);
    char *text = cJSON_Print(doc);
    cJSON_Delete(doc);
    int rc = text ? write_text(r, "scenario.json", text) : MCP_ENOMEM;
    cJSON_free(text);
    char num[32];
    snprintf(num, sizeof(num), "%llu\n", (unsigned long long)r->seed);
    if (!rc)
        rc = write_text(r, "seed", num);
    r->rep->repro = repro_line(r);
    if (!rc && r->rep->repro) {
        char *line = mcp_asprintf(
            "# Reproduce this run (same scenario, same seed; the resolved scenario is in\n"
            "# scenario.json next to this file and runs by itself too):\n%s\n",
            r->rep->repro);
        rc = line ? write_text(r, "repro", line) : MCP_ENOMEM;
        mcp_free(line);
    }
    if (rc)
        snprintf(err, errcap, "cannot write into the run folder %s: %s", r->run_dir,
                 mcp_strerror(rc));
    return rc;
}

/* ---- variables ---- */

static cJSON *cli_value(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        /* --var n=5 gives the number 5, --var flag=true a boolean; anything else is text */
        cJSON *parsed = cJSON_Parse(v->valuestring);
        if (parsed && (cJSON_IsNumber(parsed) || cJSON_IsBool(parsed) || cJSON_IsNull(parsed)))
            return parsed;
        cJSON_Delete(parsed);
    }
    return cJSON_Duplicate(v, 1);
}

static int init_vars(runner_t *r, char *err, size_t errcap)
{
    int rc = vars_new(&r->vars);
    if (rc)
        return rc;
    vars_set_number(r->vars, "seed", (double)r->seed);
    vars_set_string(r->vars, "scenario.name", r->scn->name);
    vars_set_string(r->vars, "scenario.dir", r->scn->dir);
    vars_set_string(r->vars, "run.dir", r->run_dir);
    const cJSON *v;
    cJSON_ArrayForEach(v, r->scn->vars)
    {
        if (cJSON_GetObjectItemCaseSensitive(r->o.cli_vars, v->string))
            continue;
        cJSON *val = NULL;
        char inner[400];
        rc = vars_expand_json(r->vars, v, &val, inner, sizeof(inner));
        if (rc) {
            snprintf(err, errcap, "%s: $.vars.%s: %s", r->scn->file, v->string, inner);
            return rc;
        }
        rc = vars_set(r->vars, v->string, val);
        cJSON_Delete(val);
        if (rc)
            return rc;
    }
    cJSON_ArrayForEach(v, r->o.cli_vars)
    {
        cJSON *val = cli_value(v);
        if (!val)
            return MCP_ENOMEM;
        rc = vars_set(r->vars, v->string, val);
        cJSON_Delete(val);
        if (rc) {
            snprintf(err, errcap, "--var %s: not a valid variable name", v->string);
            return rc;
        }
    }
    return 0;
}

static int staging_gateway_vars(runner_t *r)
{
    for (size_t i = 0; i < r->scn->nprocs; i++) {
        const scn_process_t *p = &r->scn->procs[i];
        if (p->type != SCN_PROC_GATEWAY)
            continue;
        char base[1024], key[200];
        snprintf(base, sizeof(base), "%s", r->o.gateway_url);
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
            base[--n] = '\0';
        snprintf(key, sizeof(key), "%s.base", p->name);
        vars_set_string(r->vars, key, base);
        char url[1100];
        snprintf(url, sizeof(url), "%s/mcp", base);
        snprintf(key, sizeof(key), "%s.url", p->name);
        vars_set_string(r->vars, key, url);
        const char *h = strstr(base, "://");
        h = h ? h + 3 : base;
        size_t hl = strcspn(h, ":/");
        char host[256];
        snprintf(host, sizeof(host), "%.*s", (int)hl, h);
        snprintf(key, sizeof(key), "%s.host", p->name);
        vars_set_string(r->vars, key, host);
        long port = h[hl] == ':'                     ? strtol(h + hl + 1, NULL, 10)
                    : strncmp(base, "https", 5) == 0 ? 443
                                                     : 80;
        snprintf(key, sizeof(key), "%s.port", p->name);
        vars_set_number(r->vars, key, (double)port);
    }
    return 0;
}

/* ---- gates ---- */

static void gate_fill(rep_gate_t *g, const scn_gate_t *sg, const metric_t *mt)
{
    char msg[300], obs[64];
    double observed;
    g->passed = gate_eval(&sg->expr, mt, &observed, msg, sizeof(msg));
    g->evaluated = 1;
    g->observed = observed;
    gate_format_value(&sg->expr, observed, obs, sizeof(obs));
    mcp_free(g->observed_text);
    mcp_free(g->message);
    g->observed_text = mcp_strdup(obs);
    g->message = mcp_strdup(msg);
}

static int gate_check(steps_t *st, const char *metric, uint64_t elapsed_ns, char *why,
                      size_t whycap, void *ud)
{
    (void)st;
    runner_t *r = ud;
    size_t ml = strlen(metric);
    for (size_t i = 0; i < r->scn->ngates; i++) {
        const scn_gate_t *sg = &r->scn->gates[i];
        rep_gate_t *g = &r->rep->gates[i];
        if (!sg->abort_on_fail || g->aborted)
            continue;
        if (strcmp(sg->metric, metric) != 0 &&
            !(strncmp(sg->metric, metric, ml) == 0 && sg->metric[ml] == '.'))
            continue;
        if (elapsed_ns < sg->delay_abort_ns)
            continue;
        const metric_t *mt = metrics_get(r->metrics, sg->metric);
        if (!mt) /* nothing recorded yet: no evidence either way during the phase */
            continue;
        rep_gate_t tmp;
        memset(&tmp, 0, sizeof(tmp));
        gate_fill(&tmp, sg, mt);
        int failed = !tmp.passed;
        mcp_free(tmp.observed_text);
        if (failed) {
            gate_fill(g, sg, mt);
            g->aborted = 1;
            snprintf(why, whycap, "gate %s %s (%s)", sg->metric, sg->expr.text,
                     tmp.message ? tmp.message : "");
            mcp_free(tmp.message);
            return 1;
        }
        mcp_free(tmp.message);
    }
    return 0;
}

static void eval_gates(runner_t *r)
{
    for (size_t i = 0; i < r->scn->ngates; i++) {
        const scn_gate_t *sg = &r->scn->gates[i];
        rep_gate_t *g = &r->rep->gates[i];
        if (!g->aborted)
            gate_fill(g, sg, metrics_get(r->metrics, sg->metric));
        if (!g->passed)
            r->any_failed = 1;
    }
}

/* ---- finishing ---- */

static void handle_closed(uv_handle_t *h)
{
    runner_t *r = h->data;
    if (--r->handles_open > 0)
        return;
    r->state = R_DONE;
    rep_scenario_t *rep = r->rep;
    r->rep = NULL;
    if (r->done)
        r->done(r, rep, r->ud);
}

static void finish(runner_t *r)
{
    rep_scenario_t *rep = r->rep;
    rep->duration_ns = clock_mono_ns() - r->start_ns;
    if (r->metrics) {
        metrics_finish(r->metrics, clock_mono_ns());
        rep->metrics = r->metrics;
        r->metrics = NULL;
    }
    if (rep->status != REP_SKIPPED) {
        if (r->aborted)
            rep->status = REP_INTERRUPTED;
        else if (r->setup_error || r->step_error)
            rep->status = REP_ERROR;
        else if (r->any_failed || r->timed_out)
            rep->status = REP_FAILED;
        else
            rep->status = REP_PASSED;
    }
    if (rep->run_dir) {
        int rc = rep_write_histograms(rep);
        if (rc)
            rep_add_event(rep, "writing histograms: %s", mcp_strerror(rc));
        cJSON *j = rep_scenario_json(rep);
        char *text = j ? cJSON_Print(j) : NULL;
        cJSON_Delete(j);
        if (text)
            write_text(r, "summary.json", text);
        cJSON_free(text);
    }
    if (r->o.term) {
        rep_term_gates(r->o.term, rep);
        rep_term_scenario_end(r->o.term, rep);
    }
    uv_timer_stop(&r->tick);
    uv_timer_stop(&r->deadline);
    uv_close((uv_handle_t *)&r->tick, handle_closed);
    uv_close((uv_handle_t *)&r->deadline, handle_closed);
}

static void http_closed(http_client_t *c, void *ud)
{
    (void)c;
    runner_t *r = ud;
    r->http = NULL;
    finish(r);
}

static void sup_all_stopped(sup_t *s, void *ud)
{
    runner_t *r = ud;
    sup_free(s);
    r->sup = NULL;
    if (r->http)
        http_client_close(r->http, http_closed, r);
    else
        finish(r);
}

static void steps_closed(steps_t *st, void *ud)
{
    runner_t *r = ud;
    steps_free(st);
    r->steps = NULL;
    if (r->sup) {
        if (sup_stop_all(r->sup, sup_all_stopped, r) == 0)
            return;
        sup_free(r->sup);
        r->sup = NULL;
    }
    if (r->http)
        http_client_close(r->http, http_closed, r);
    else
        finish(r);
}

static void begin_stop(runner_t *r)
{
    if (r->state >= R_STOPPING)
        return;
    r->state = R_STOPPING;
    /* record the steps that never ran */
    for (size_t i = r->rep->nsteps; i < r->scn->nsteps; i++) {
        const scn_step_t *s = &r->scn->steps[i];
        rep_add_step(r->rep, s->name, scn_step_kind_name(s->kind), s->where, STEP_SKIPPED, 1, "", 0,
                     NULL);
        if (r->o.term && r->rep->status != REP_SKIPPED)
            rep_term_step(r->o.term, &r->rep->steps[r->rep->nsteps - 1]);
    }
    if (!r->setup_error && !r->aborted && r->rep->status != REP_SKIPPED)
        eval_gates(r);
    if (r->steps) {
        if (steps_close(r->steps, steps_closed, r) == 0)
            return;
    }
    steps_closed(NULL, r);
}

/* ---- steps ---- */

static void step_done(steps_t *st, const scn_step_t *step, const step_result_t *res, void *ud)
{
    (void)st;
    runner_t *r = ud;
    rep_add_step(r->rep, step->name, scn_step_kind_name(step->kind), step->where, res->status, 0,
                 res->message, res->duration_ns, res->response);
    if (r->o.term)
        rep_term_step(r->o.term, &r->rep->steps[r->rep->nsteps - 1]);
    if (res->status == STEP_FAILED) {
        r->any_failed = 1;
        if (r->scn->fail_fast && !step->continue_on_failure)
            r->stop_steps = 1;
    } else if (res->status == STEP_ERROR) {
        r->step_error = 1;
        r->stop_steps = 1;
    }
    r->si++;
    advance(r);
}

static void run_next_step(runner_t *r)
{
    while (r->si < r->scn->nsteps && !r->stop_steps && !r->aborted) {
        const scn_step_t *s = &r->scn->steps[r->si];
        char why[300];
        if (r->o.gateway_url && steps_needs_local(r->steps, s, why, sizeof(why))) {
            rep_add_step(r->rep, s->name, scn_step_kind_name(s->kind), s->where, STEP_SKIPPED, 0,
                         why, 0, NULL);
            if (r->o.term)
                rep_term_step(r->o.term, &r->rep->steps[r->rep->nsteps - 1]);
            r->si++;
            continue;
        }
        r->step_start_ns = clock_mono_ns();
        int rc = steps_run(r->steps, s, step_done, r);
        if (rc == 0)
            return;
        rep_add_step(r->rep, s->name, scn_step_kind_name(s->kind), s->where, STEP_ERROR, 0,
                     mcp_strerror(rc), 0, NULL);
        r->step_error = 1;
        r->stop_steps = 1;
    }
    begin_stop(r);
}

/* ---- processes ---- */

static void proc_started(sup_t *s, const char *name, int status, const char *message, void *ud)
{
    (void)s;
    runner_t *r = ud;
    if (r->state != R_PROCS)
        return;
    if (status != 0) {
        r->setup_error = 1;
        mcp_free(r->rep->error);
        r->rep->error = mcp_asprintf("%s", message && *message ? message : mcp_strerror(status));
        if (r->o.term)
            fprintf(r->o.term->out, "  ✗ process %s: %s\n", name, r->rep->error);
        begin_stop(r);
        return;
    }
    r->pi++;
    advance(r);
}

static void proc_exit_notice(sup_t *s, const char *name, int64_t status, int sig, void *ud)
{
    (void)s;
    runner_t *r = ud;
    if (sig)
        rep_add_event(r->rep, "process %s was killed by signal %d without a scenario action", name,
                      sig);
    else
        rep_add_event(r->rep, "process %s exited with status %lld without a scenario action", name,
                      (long long)status);
}

static void advance(runner_t *r)
{
    if (r->state == R_PROCS && r->aborted) {
        begin_stop(r);
        return;
    }
    if (r->state == R_PROCS) {
        while (r->pi < r->scn->nprocs) {
            const scn_process_t *p = &r->scn->procs[r->pi];
            if (!p->autostart || r->o.gateway_url) {
                r->pi++;
                continue;
            }
            char err[1024];
            int rc = sup_start(r->sup, p, proc_started, r, err, sizeof(err));
            if (rc == 0)
                return;
            r->setup_error = 1;
            mcp_free(r->rep->error);
            r->rep->error = mcp_strdup(err);
            if (r->o.term)
                fprintf(r->o.term->out, "  ✗ process %s: %s\n", p->name, err);
            begin_stop(r);
            return;
        }
        r->state = R_STEPS;
    }
    if (r->state == R_STEPS) {
        if (r->aborted || r->timed_out)
            r->stop_steps = 1;
        run_next_step(r);
    }
}

static void tick_cb(uv_timer_t *t)
{
    runner_t *r = t->data;
    if (r->state == R_STEPS && r->o.term && r->si < r->scn->nsteps)
        rep_term_progress(r->o.term, r->si, r->scn->nsteps, r->scn->steps[r->si].name,
                          (double)(clock_mono_ns() - r->step_start_ns) / 1e9);
}

static void deadline_cb(uv_timer_t *t)
{
    runner_t *r = t->data;
    if (r->state >= R_STOPPING)
        return;
    r->timed_out = 1;
    r->stop_steps = 1;
    mcp_free(r->rep->error);
    r->rep->error =
        mcp_asprintf("the scenario timed out after %.3gs", (double)r->scn->timeout_ns / 1e9);
    if (r->state == R_STEPS && r->steps)
        steps_cancel(r->steps, "the scenario timed out");
    else if (r->state == R_PROCS) {
        r->setup_error = 1;
        begin_stop(r);
    }
}

static void start_cb(uv_timer_t *t)
{
    runner_t *r = t->data;
    uv_timer_stop(t);
    if (r->o.term && r->o.term->tty)
        uv_timer_start(&r->tick, tick_cb, PROGRESS_MS, PROGRESS_MS);
    uv_timer_start(&r->deadline, deadline_cb, r->scn->timeout_ns / 1000000ULL + 1, 0);
    char err[1024] = "";
    int rc = prepare_run_dir(r, err, sizeof(err));
    if (!rc)
        rc = init_vars(r, err, sizeof(err));
    if (!rc && r->scn->requires_local && r->o.gateway_url) {
        r->rep->status = REP_SKIPPED;
        r->rep->error = mcp_strdup("the scenario needs local processes (requires: "
                                   "local-processes); skipped in staging mode");
        if (r->o.term)
            rep_term_scenario_start(r->o.term, r->rep);
        begin_stop(r);
        return;
    }
    if (!rc && r->o.gateway_url)
        staging_gateway_vars(r);
    if (!rc)
        rc = metrics_new(r->start_ns, &r->metrics);
    if (!rc) {
        http_client_options_t ho;
        memset(&ho, 0, sizeof(ho));
        ho.user_agent = "mcp-harness/0.1.0";
        rc = http_client_new(r->o.loop, &ho, &r->http);
        if (rc)
            snprintf(err, sizeof(err), "cannot create the HTTP client: %s", mcp_strerror(rc));
    }
    if (!rc) {
        sup_options_t so;
        memset(&so, 0, sizeof(so));
        so.run_dir = r->run_dir;
        so.bin_dir = r->o.bin_dir;
        so.seed = r->seed;
        so.grace_ms = r->o.grace_ms;
        so.http = r->http;
        so.vars = r->vars;
        rc = sup_new(r->o.loop, &so, &r->sup);
        if (!rc)
            sup_set_exit_callback(r->sup, proc_exit_notice, r);
    }
    if (!rc) {
        steps_options_t to;
        memset(&to, 0, sizeof(to));
        to.loop = r->o.loop;
        to.sup = r->sup;
        to.vars = r->vars;
        to.metrics = r->metrics;
        to.http = r->http;
        to.scenario = r->scn;
        to.seed = r->seed;
        to.gateway_url = r->o.gateway_url;
        to.headers = r->o.headers;
        to.gate_check = gate_check;
        to.gate_ud = r;
        rc = steps_new(&to, &r->steps);
        if (rc == MCP_EINVAL)
            snprintf(err, sizeof(err), "--header: expected \"Name: value\"");
    }
    if (r->o.term)
        rep_term_scenario_start(r->o.term, r->rep);
    if (rc) {
        r->setup_error = 1;
        r->rep->error = mcp_strdup(err[0] ? err : mcp_strerror(rc));
        if (r->o.term)
            fprintf(r->o.term->out, "  ✗ setup: %s\n", r->rep->error);
        begin_stop(r);
        return;
    }
    r->state = R_PROCS;
    advance(r);
}

/* ---- public ---- */

int runner_start(const runner_options_t *opts, const scenario_t *scn, runner_done_fn done, void *ud,
                 runner_t **out)
{
    runner_t *r = mcp_calloc(1, sizeof(*r));
    if (!r)
        return MCP_ENOMEM;
    r->o = *opts;
    r->scn = scn;
    r->done = done;
    r->ud = ud;
    r->seed = opts->has_seed ? opts->seed : scn->has_seed ? scn->seed : runner_random_seed();
    r->start_ns = clock_mono_ns();
    r->rep = rep_scenario_new(scn->name, scn->file);
    if (!r->rep) {
        mcp_free(r);
        return MCP_ENOMEM;
    }
    r->rep->seed = r->seed;
    r->rep->staging = opts->gateway_url != NULL;
    if (scn->description)
        r->rep->description = mcp_strdup(scn->description);
    r->rep->ngates = scn->ngates;
    if (scn->ngates) {
        r->rep->gates = mcp_calloc(scn->ngates, sizeof(rep_gate_t));
        if (!r->rep->gates) {
            rep_scenario_free(r->rep);
            mcp_free(r);
            return MCP_ENOMEM;
        }
        for (size_t i = 0; i < scn->ngates; i++) {
            r->rep->gates[i].metric = mcp_strdup(scn->gates[i].metric);
            r->rep->gates[i].threshold = mcp_strdup(scn->gates[i].expr.text);
            r->rep->gates[i].where = mcp_strdup(scn->gates[i].where);
            r->rep->gates[i].abort_on_fail = scn->gates[i].abort_on_fail;
            r->rep->gates[i].observed = NAN;
        }
    }
    uv_timer_init(opts->loop, &r->tick);
    uv_timer_init(opts->loop, &r->deadline);
    r->tick.data = r;
    r->deadline.data = r;
    r->handles_open = 2;
    r->state = R_PROCS;
    /* start from the loop: done never runs inside runner_start */
    uv_timer_start(&r->tick, start_cb, 0, 0);
    *out = r;
    return 0;
}

void runner_abort(runner_t *r, int signum)
{
    if (!r || r->aborted || r->state >= R_STOPPING)
        return;
    r->aborted = 1;
    r->signum = signum;
    r->stop_steps = 1;
    mcp_free(r->rep->error);
    r->rep->error = mcp_asprintf("interrupted by signal %d", signum);
    if (r->state == R_STEPS && r->steps && r->si < r->scn->nsteps)
        steps_cancel(r->steps, "interrupted");
    else if (r->state == R_PROCS && r->sup)
        begin_stop(r); /* pending starts are canceled by the stop */
    else if (r->state == R_STEPS)
        begin_stop(r);
}

void runner_free(runner_t *r)
{
    if (!r)
        return;
    rep_scenario_free(r->rep);
    metrics_free(r->metrics);
    vars_free(r->vars);
    mcp_free(r->run_dir);
    mcp_free(r);
}
