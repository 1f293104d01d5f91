#include "report.h"

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "errors.h"
#include "gates.h"
#include "hdr_log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define REPORT_MAX (256u * 1024u * 1024u)

static const char *const status_names[] = {"passed", "failed", "error", "interrupted", "skipped"};

const char *rep_status_name(rep_status_t s)
{
    return s <= REP_SKIPPED ? status_names[s] : "?";
}

static const char *step_status_name(step_status_t s)
{
    switch (s) {
    case STEP_PASSED: return "passed";
    case STEP_FAILED: return "failed";
    case STEP_ERROR: return "error";
    case STEP_SKIPPED: return "skipped";
    }
    return "?";
}

rep_scenario_t *rep_scenario_new(const char *name, const char *file)
{
    rep_scenario_t *r = mcp_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->name = mcp_strdup(name ? name : "?");
    r->file = mcp_strdup(file ? file : "");
    r->events = cJSON_CreateArray();
    r->started_wall_ms = clock_wall_ms();
    if (!r->name || !r->file || !r->events) {
        rep_scenario_free(r);
        return NULL;
    }
    return r;
}

void rep_scenario_free(rep_scenario_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nsteps; i++) {
        mcp_free(r->steps[i].name);
        mcp_free(r->steps[i].where);
        mcp_free(r->steps[i].message);
        cJSON_Delete(r->steps[i].response);
    }
    mcp_free(r->steps);
    for (size_t i = 0; i < r->ngates; i++) {
        mcp_free(r->gates[i].metric);
        mcp_free(r->gates[i].threshold);
        mcp_free(r->gates[i].where);
        mcp_free(r->gates[i].observed_text);
        mcp_free(r->gates[i].message);
    }
    mcp_free(r->gates);
    mcp_free(r->name);
    mcp_free(r->file);
    mcp_free(r->description);
    mcp_free(r->run_dir);
    mcp_free(r->repro);
    mcp_free(r->error);
    cJSON_Delete(r->events);
    metrics_free(r->metrics);
    mcp_free(r);
}

int rep_add_step(rep_scenario_t *r, const char *name, const char *kind, const char *where,
                 step_status_t status, int not_run, const char *message, uint64_t duration_ns,
                 const cJSON *response)
{
    if (r->nsteps == r->capsteps) {
        size_t cap = r->capsteps ? r->capsteps * 2 : 16;
        rep_step_t *s = mcp_realloc(r->steps, cap * sizeof(*s));
        if (!s)
            return MCP_ENOMEM;
        r->steps = s;
        r->capsteps = cap;
    }
    rep_step_t *s = &r->steps[r->nsteps];
    memset(s, 0, sizeof(*s));
    s->name = mcp_strdup(name ? name : "");
    s->kind = kind;
    s->where = mcp_strdup(where ? where : "");
    s->message = mcp_strdup(message ? message : "");
    s->status = status;
    s->not_run = not_run;
    s->duration_ns = duration_ns;
    if (response)
        s->response = cJSON_Duplicate(response, 1);
    r->nsteps++;
    if (!s->name || !s->where || !s->message)
        return MCP_ENOMEM;
    return 0;
}

void rep_add_event(rep_scenario_t *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *s = cJSON_CreateString(msg);
    if (s)
        cJSON_AddItemToArray(r->events, s);
}

int rep_exit_code(const rep_scenario_t *r, int signum)
{
    switch (r->status) {
    case REP_PASSED:
    case REP_SKIPPED: return 0;
    case REP_FAILED: return 1;
    case REP_ERROR: return 2;
    case REP_INTERRUPTED: return signum > 0 ? 128 + signum : 1;
    }
    return 2;
}

void rep_safe_name(const char *name, char *out, size_t cap)
{
    size_t j = 0;
    for (const char *p = name; *p && j + 1 < cap; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        out[j++] = ok ? c : '_';
    }
    if (j == 0 && cap > 1)
        out[j++] = '_';
    /* never "." or ".." */
    if (j > 0 && out[0] == '.')
        out[0] = '_';
    out[j] = '\0';
}

/* ---- terminal ---- */

static const char *col(const rep_term_t *t, const char *code)
{
    return t->color ? code : "";
}

#define C_GREEN  "\x1b[32m"
#define C_RED    "\x1b[31m"
#define C_YELLOW "\x1b[33m"
#define C_DIM    "\x1b[2m"
#define C_BOLD   "\x1b[1m"
#define C_RESET  "\x1b[0m"

static void clear_progress(rep_term_t *t)
{
    if (t->tty && t->progress_shown) {
        fputs("\r\x1b[2K", t->out);
        t->progress_shown = 0;
    }
}

static void fmt_dur(uint64_t ns, char *out, size_t cap)
{
    gate_format_ns((double)ns, out, cap);
}

void rep_term_scenario_start(rep_term_t *t, const rep_scenario_t *r)
{
    clear_progress(t);
    fprintf(t->out, "%s▶ %s%s (%s, seed %llu%s)\n", col(t, C_BOLD), r->name, col(t, C_RESET),
            r->file, (unsigned long long)r->seed, r->staging ? ", staging" : "");
    fflush(t->out);
}

void rep_term_progress(rep_term_t *t, size_t index, size_t total, const char *step,
                       double elapsed_s)
{
    if (!t->tty)
        return;
    fprintf(t->out, "\r\x1b[2K  %s… [%zu/%zu] %s (%.1fs)%s", col(t, C_DIM), index + 1, total, step,
            elapsed_s, col(t, C_RESET));
    t->progress_shown = 1;
    fflush(t->out);
}

void rep_term_step(rep_term_t *t, const rep_step_t *s)
{
    clear_progress(t);
    char d[32];
    fmt_dur(s->duration_ns, d, sizeof(d));
    if (s->not_run) {
        fprintf(t->out, "  %s- %s: not run%s\n", col(t, C_DIM), s->name, col(t, C_RESET));
    } else if (s->status == STEP_SKIPPED) {
        fprintf(t->out, "  %s- %s: skipped (%s)%s\n", col(t, C_YELLOW), s->name, s->message,
                col(t, C_RESET));
    } else if (s->status == STEP_PASSED) {
        fprintf(t->out, "  %s✓%s %s (%s)\n", col(t, C_GREEN), col(t, C_RESET), s->name, d);
    } else {
        fprintf(t->out, "  %s✗%s %s (%s)%s: %s\n", col(t, C_RED), col(t, C_RESET), s->name, d,
                s->status == STEP_ERROR ? " [error]" : "", s->message);
        if (s->where && *s->where)
            fprintf(t->out, "    %sat %s%s\n", col(t, C_DIM), s->where, col(t, C_RESET));
    }
    fflush(t->out);
}

void rep_term_gates(rep_term_t *t, const rep_scenario_t *r)
{
    if (!r->ngates)
        return;
    clear_progress(t);
    fprintf(t->out, "  gates:\n");
    for (size_t i = 0; i < r->ngates; i++) {
        const rep_gate_t *g = &r->gates[i];
        if (!g->evaluated) {
            fprintf(t->out, "  %s- %s %s: not evaluated%s\n", col(t, C_DIM), g->metric,
                    g->threshold, col(t, C_RESET));
            continue;
        }
        fprintf(t->out, "  %s%s%s %s %s (%s)%s\n", col(t, g->passed ? C_GREEN : C_RED),
                g->passed ? "✓" : "✗", col(t, C_RESET), g->metric, g->threshold, g->message,
                g->aborted ? " [aborted the load phase]" : "");
    }
    fflush(t->out);
}

void rep_term_scenario_end(rep_term_t *t, const rep_scenario_t *r)
{
    clear_progress(t);
    char d[32];
    fmt_dur(r->duration_ns, d, sizeof(d));
    const char *c = r->status == REP_PASSED ? C_GREEN : r->status == REP_SKIPPED ? C_YELLOW : C_RED;
    fprintf(t->out, "  %s→ %s%s in %s", col(t, c), rep_status_name(r->status), col(t, C_RESET), d);
    if (r->error && *r->error)
        fprintf(t->out, ": %s", r->error);
    if (r->run_dir)
        fprintf(t->out, "\n    run folder: %s", r->run_dir);
    fputc('\n', t->out);
    for (int i = 0; i < cJSON_GetArraySize(r->events); i++)
        fprintf(t->out, "    note: %s\n", cJSON_GetArrayItem(r->events, i)->valuestring);
    fflush(t->out);
}

void rep_term_totals(rep_term_t *t, rep_scenario_t *const *list, size_t n, int exit_code)
{
    size_t counts[5] = {0};
    for (size_t i = 0; i < n; i++)
        if (list[i]->status <= REP_SKIPPED)
            counts[list[i]->status]++;
    clear_progress(t);
    fprintf(t->out,
            "%s%zu scenario%s: %zu passed, %zu failed, %zu error, %zu skipped%s%s "
            "(exit %d)\n",
            col(t, C_BOLD), n, n == 1 ? "" : "s", counts[REP_PASSED], counts[REP_FAILED],
            counts[REP_ERROR], counts[REP_SKIPPED], counts[REP_INTERRUPTED] ? ", interrupted" : "",
            col(t, C_RESET), exit_code);
    fflush(t->out);
}

/* ---- files ---- */

int rep_write_file(const char *path, const char *text, size_t len)
{
    char *tmp = mcp_asprintf("%s.tmp", path);
    if (!tmp)
        return MCP_ENOMEM;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = -errno;
        mcp_free(tmp);
        return e;
    }
    int ok = fwrite(text, 1, len, f) == len;
    ok &= fclose(f) == 0;
    int rc = ok ? (rename(tmp, path) == 0 ? 0 : -errno) : UV_EIO;
    if (rc)
        remove(tmp);
    mcp_free(tmp);
    return rc;
}

static double ms(int64_t ns)
{
    return (double)ns / 1e6;
}

static cJSON *metric_json(const metric_t *mt)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "count", (double)mt->count);
    cJSON_AddNumberToObject(o, "errors", (double)mt->errors);
    cJSON_AddNumberToObject(o, "rate", metric_rate(mt));
    if (mt->hist && hdr_total_count(mt->hist) > 0) {
        const hdr_histogram_t *h = mt->hist;
        cJSON_AddNumberToObject(o, "samples", (double)hdr_total_count(h));
        cJSON_AddNumberToObject(o, "minMs", ms(hdr_min(h)));
        cJSON_AddNumberToObject(o, "meanMs", hdr_mean(h) / 1e6);
        cJSON_AddNumberToObject(o, "stddevMs", hdr_stddev(h) / 1e6);
        cJSON_AddNumberToObject(o, "p50Ms", ms(hdr_value_at_percentile(h, 50)));
        cJSON_AddNumberToObject(o, "p90Ms", ms(hdr_value_at_percentile(h, 90)));
        cJSON_AddNumberToObject(o, "p95Ms", ms(hdr_value_at_percentile(h, 95)));
        cJSON_AddNumberToObject(o, "p99Ms", ms(hdr_value_at_percentile(h, 99)));
        cJSON_AddNumberToObject(o, "p999Ms", ms(hdr_value_at_percentile(h, 99.9)));
        cJSON_AddNumberToObject(o, "maxMs", ms(hdr_max(h)));
        char safe[256], file[300];
        rep_safe_name(mt->name, safe, sizeof(safe));
        snprintf(file, sizeof(file), "%s.hlog", safe);
        cJSON_AddStringToObject(o, "hlog", file);
        snprintf(file, sizeof(file), "%s.hgrm", safe);
        cJSON_AddStringToObject(o, "hgrm", file);
    }
    return o;
}

int rep_write_histograms(const rep_scenario_t *r)
{
    if (!r->metrics || !r->run_dir)
        return 0;
    int first_err = 0;
    for (size_t i = 0; i < metrics_count(r->metrics); i++) {
        const metric_t *mt = metrics_at(r->metrics, i);
        if (!mt->hist || hdr_total_count(mt->hist) == 0)
            continue;
        char safe[256];
        rep_safe_name(mt->name, safe, sizeof(safe));
        buf_t b;
        buf_init(&b, REPORT_MAX);
        char c1[128], c2[128];
        snprintf(c1, sizeof(c1), "[Scenario: %.100s]", r->name);
        snprintf(c2, sizeof(c2), "[Histogram: %.80s, values in ns]", mt->name);
        const char *comments[] = {c1, c2, NULL};
        hdr_log_header_t hh = {.producer = "mcp-harness 0.1.0",
                               .start_time_s = (double)r->started_wall_ms / 1000.0,
                               .write_base_time = true,
                               .comments = comments};
        int rc = hdr_log_write_header(&b, &hh);
        if (!rc && mt->hlog.len)
            rc = buf_append(&b, mt->hlog.data, mt->hlog.len);
        char *path = rc ? NULL : mcp_asprintf("%s/%s.hlog", r->run_dir, safe);
        if (!rc)
            rc = path ? rep_write_file(path, b.data ? b.data : "", b.len) : MCP_ENOMEM;
        mcp_free(path);
        buf_reset(&b);
        if (!rc)
            rc = hdr_hgrm_write(&b, mt->hist, 5, 1e6, false);
        path = rc ? NULL : mcp_asprintf("%s/%s.hgrm", r->run_dir, safe);
        if (!rc)
            rc = path ? rep_write_file(path, b.data ? b.data : "", b.len) : MCP_ENOMEM;
        mcp_free(path);
        buf_free(&b);
        if (rc && !first_err)
            first_err = rc;
    }
    return first_err;
}

cJSON *rep_scenario_json(const rep_scenario_t *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    char iso[40];
    clock_format_iso8601(iso, sizeof(iso), r->started_wall_ms);
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "file", r->file);
    if (r->description)
        cJSON_AddStringToObject(o, "description", r->description);
    cJSON_AddStringToObject(o, "status", rep_status_name(r->status));
    cJSON_AddNumberToObject(o, "exitCode", rep_exit_code(r, 0));
    if (r->error)
        cJSON_AddStringToObject(o, "error", r->error);
    cJSON_AddNumberToObject(o, "seed", (double)r->seed);
    cJSON_AddBoolToObject(o, "staging", r->staging);
    cJSON_AddStringToObject(o, "started", iso);
    cJSON_AddNumberToObject(o, "durationMs", (double)r->duration_ns / 1e6);
    if (r->run_dir)
        cJSON_AddStringToObject(o, "runDir", r->run_dir);
    if (r->repro)
        cJSON_AddStringToObject(o, "repro", r->repro);
    cJSON *steps = cJSON_AddArrayToObject(o, "steps");
    for (size_t i = 0; steps && i < r->nsteps; i++) {
        const rep_step_t *s = &r->steps[i];
        cJSON *so = cJSON_CreateObject();
        if (!so)
            break;
        cJSON_AddStringToObject(so, "name", s->name);
        cJSON_AddStringToObject(so, "kind", s->kind ? s->kind : "");
        cJSON_AddStringToObject(so, "where", s->where);
        cJSON_AddStringToObject(so, "status", s->not_run ? "not_run" : step_status_name(s->status));
        cJSON_AddNumberToObject(so, "durationMs", (double)s->duration_ns / 1e6);
        if (s->message && *s->message)
            cJSON_AddStringToObject(so, "message", s->message);
        /* load phases always: their counters and fault schedule are the result */
        if (s->response && (s->status != STEP_PASSED || (s->kind && !strcmp(s->kind, "load"))))
            cJSON_AddItemToObject(so, "response", cJSON_Duplicate(s->response, 1));
        cJSON_AddItemToArray(steps, so);
    }
    cJSON *gates = cJSON_AddArrayToObject(o, "gates");
    for (size_t i = 0; gates && i < r->ngates; i++) {
        const rep_gate_t *g = &r->gates[i];
        cJSON *go = cJSON_CreateObject();
        if (!go)
            break;
        cJSON_AddStringToObject(go, "metric", g->metric);
        cJSON_AddStringToObject(go, "threshold", g->threshold);
        cJSON_AddStringToObject(go, "status",
                                !g->evaluated ? "not_evaluated"
                                : g->passed   ? "passed"
                                              : "failed");
        if (g->evaluated && !isnan(g->observed))
            cJSON_AddNumberToObject(go, "observed", g->observed);
        if (g->observed_text)
            cJSON_AddStringToObject(go, "observedText", g->observed_text);
        if (g->message)
            cJSON_AddStringToObject(go, "message", g->message);
        cJSON_AddBoolToObject(go, "abortOnFail", g->abort_on_fail);
        cJSON_AddBoolToObject(go, "aborted", g->aborted);
        cJSON_AddStringToObject(go, "where", g->where ? g->where : "");
        cJSON_AddItemToArray(gates, go);
    }
    cJSON *metrics = cJSON_AddObjectToObject(o, "metrics");
    for (size_t i = 0; metrics && r->metrics && i < metrics_count(r->metrics); i++) {
        const metric_t *mt = metrics_at(r->metrics, i);
        cJSON *mo = metric_json(mt);
        if (mo)
            cJSON_AddItemToObject(metrics, mt->name, mo);
    }
    cJSON_AddItemToObject(o, "events", cJSON_Duplicate(r->events, 1));
    return o;
}

int rep_write_summary(const char *path, rep_scenario_t *const *list, size_t n, int exit_code,
                      int64_t started_wall_ms, uint64_t duration_ns)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return MCP_ENOMEM;
    char iso[40];
    clock_format_iso8601(iso, sizeof(iso), started_wall_ms);
    cJSON_AddStringToObject(o, "tool", "mcp-harness");
    cJSON_AddStringToObject(o, "version", "0.1.0");
    cJSON_AddStringToObject(o, "started", iso);
    cJSON_AddNumberToObject(o, "durationMs", (double)duration_ns / 1e6);
    cJSON_AddNumberToObject(o, "exitCode", exit_code);
    size_t counts[5] = {0};
    for (size_t i = 0; i < n; i++)
        if (list[i]->status <= REP_SKIPPED)
            counts[list[i]->status]++;
    cJSON *tot = cJSON_AddObjectToObject(o, "totals");
    for (int i = 0; tot && i < 5; i++)
        cJSON_AddNumberToObject(tot, status_names[i], (double)counts[i]);
    cJSON *arr = cJSON_AddArrayToObject(o, "scenarios");
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *so = rep_scenario_json(list[i]);
        if (so)
            cJSON_AddItemToArray(arr, so);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return MCP_ENOMEM;
    size_t len = strlen(text);
    int rc = rep_write_file(path, text, len);
    cJSON_free(text);
    return rc;
}

static void xml_escape(buf_t *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '<': buf_append_str(b, "&lt;"); break;
        case '>': buf_append_str(b, "&gt;"); break;
        case '&': buf_append_str(b, "&amp;"); break;
        case '"': buf_append_str(b, "&quot;"); break;
        case '\'': buf_append_str(b, "&apos;"); break;
        default:
            /* XML 1.0 forbids most control characters */
            if (*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
                buf_putc(b, '?');
            else
                buf_putc(b, (char)*p);
        }
    }
}

int rep_write_junit(const char *path, rep_scenario_t *const *list, size_t n)
{
    buf_t b;
    buf_init(&b, REPORT_MAX);
    size_t tests = 0, failures = 0, errors = 0, skipped = 0;
    double total_s = 0;
    for (size_t i = 0; i < n; i++) {
        const rep_scenario_t *r = list[i];
        tests += r->nsteps + r->ngates + (r->status == REP_ERROR && r->error ? 1 : 0);
        total_s += (double)r->duration_ns / 1e9;
    }
    buf_append_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    /* totals are filled per suite below; the root repeats them */
    for (size_t i = 0; i < n; i++) {
        const rep_scenario_t *r = list[i];
        for (size_t j = 0; j < r->nsteps; j++) {
            const rep_step_t *s = &r->steps[j];
            if (s->not_run || s->status == STEP_SKIPPED)
                skipped++;
            else if (s->status == STEP_FAILED)
                failures++;
            else if (s->status == STEP_ERROR)
                errors++;
        }
        for (size_t j = 0; j < r->ngates; j++)
            if (!r->gates[j].evaluated)
                skipped++;
            else if (!r->gates[j].passed)
                failures++;
        if (r->status == REP_ERROR && r->error)
            errors++;
    }
    buf_appendf(&b,
                "<testsuites name=\"mcp-harness\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
                "skipped=\"%zu\" time=\"%.3f\">\n",
                tests, failures, errors, skipped, total_s);
    for (size_t i = 0; i < n; i++) {
        const rep_scenario_t *r = list[i];
        size_t t = r->nsteps + r->ngates, f = 0, e = 0, sk = 0;
        for (size_t j = 0; j < r->nsteps; j++) {
            const rep_step_t *s = &r->steps[j];
            if (s->not_run || s->status == STEP_SKIPPED)
                sk++;
            else if (s->status == STEP_FAILED)
                f++;
            else if (s->status == STEP_ERROR)
                e++;
        }
        for (size_t j = 0; j < r->ngates; j++)
            if (!r->gates[j].evaluated)
                sk++;
            else if (!r->gates[j].passed)
                f++;
        int setup = r->status == REP_ERROR && r->error;
        if (setup) {
            t++;
            e++;
        }
        char iso[40];
        clock_format_iso8601(iso, sizeof(iso), r->started_wall_ms);
        buf_append_str(&b, "  <testsuite name=\"");
        xml_escape(&b, r->name);
        buf_appendf(&b,
                    "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" "
                    "time=\"%.3f\" timestamp=\"%s\" file=\"",
                    t, f, e, sk, (double)r->duration_ns / 1e9, iso);
        xml_escape(&b, r->file);
        buf_append_str(&b, "\">\n");
        buf_appendf(&b, "    <properties>\n      <property name=\"seed\" value=\"%llu\"/>\n",
                    (unsigned long long)r->seed);
        if (r->repro) {
            buf_append_str(&b, "      <property name=\"repro\" value=\"");
            xml_escape(&b, r->repro);
            buf_append_str(&b, "\"/>\n");
        }
        buf_append_str(&b, "    </properties>\n");
        if (setup) {
            buf_append_str(&b, "    <testcase classname=\"");
            xml_escape(&b, r->name);
            buf_append_str(&b, "\" name=\"setup\" time=\"0\">\n      <error message=\"");
            xml_escape(&b, r->error);
            buf_append_str(&b, "\"/>\n    </testcase>\n");
        }
        for (size_t j = 0; j < r->nsteps; j++) {
            const rep_step_t *s = &r->steps[j];
            buf_append_str(&b, "    <testcase classname=\"");
            xml_escape(&b, r->name);
            buf_append_str(&b, "\" name=\"step: ");
            xml_escape(&b, s->name);
            buf_appendf(&b, "\" time=\"%.6f\"", (double)s->duration_ns / 1e9);
            if (s->status == STEP_PASSED && !s->not_run) {
                buf_append_str(&b, "/>\n");
                continue;
            }
            buf_append_str(&b, ">\n");
            if (s->not_run) {
                buf_append_str(&b,
                               "      <skipped message=\"not run: an earlier step failed\"/>\n");
            } else if (s->status == STEP_SKIPPED) {
                buf_append_str(&b, "      <skipped message=\"");
                xml_escape(&b, s->message);
                buf_append_str(&b, "\"/>\n");
            } else {
                const char *tag = s->status == STEP_ERROR ? "error" : "failure";
                buf_appendf(&b, "      <%s message=\"", tag);
                xml_escape(&b, s->message);
                buf_append_str(&b, "\">");
                xml_escape(&b, s->where);
                buf_appendf(&b, "</%s>\n", tag);
            }
            buf_append_str(&b, "    </testcase>\n");
        }
        for (size_t j = 0; j < r->ngates; j++) {
            const rep_gate_t *g = &r->gates[j];
            buf_append_str(&b, "    <testcase classname=\"");
            xml_escape(&b, r->name);
            buf_append_str(&b, "\" name=\"gate: ");
            xml_escape(&b, g->metric);
            buf_putc(&b, ' ');
            xml_escape(&b, g->threshold);
            buf_append_str(&b, "\" time=\"0\"");
            if (g->evaluated && g->passed) {
                buf_append_str(&b, "/>\n");
                continue;
            }
            buf_append_str(&b, ">\n");
            if (!g->evaluated) {
                buf_append_str(&b, "      <skipped message=\"not evaluated\"/>\n");
            } else {
                buf_append_str(&b, "      <failure message=\"");
                xml_escape(&b, g->metric);
                buf_putc(&b, ' ');
                xml_escape(&b, g->threshold);
                buf_append_str(&b, ": ");
                xml_escape(&b, g->message);
                buf_append_str(&b, "\">");
                xml_escape(&b, g->where);
                buf_append_str(&b, "</failure>\n");
            }
            buf_append_str(&b, "    </testcase>\n");
        }
        buf_append_str(&b, "  </testsuite>\n");
    }
    int rc = buf_append_str(&b, "</testsuites>\n");
    if (!rc)
        rc = rep_write_file(path, b.data, b.len);
    buf_free(&b);
    return rc;
}
