#include "steps.h"

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "match.h"

#ifdef MCP_HARNESS_HAVE_CLIENT_HTTP
#include "mcp_client_http.h"
#endif
#ifdef MCP_HARNESS_HAVE_LOAD
#include "load.h"
#endif

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MSG_MAX         (16u * 1024u)
#define BODY_MAX        (16u * 1024u * 1024u)
#define REPORT_TEXT_MAX 4096
#define MAX_HEADERS     64

int steps_have_load(void)
{
#ifdef MCP_HARNESS_HAVE_LOAD
    return 1;
#else
    return 0;
#endif
}

int steps_have_mcp_http(void)
{
#ifdef MCP_HARNESS_HAVE_CLIENT_HTTP
    return 1;
#else
    return 0;
#endif
}

typedef struct exec_s exec_t;

typedef enum { SES_INIT = 0, SES_READY, SES_DEAD } ses_state_t;

typedef struct session_s {
    struct session_s *next;
    steps_t *st;
    char *key;
    char *proc; /* process name, or NULL for a URL */
    unsigned generation;
    mcp_client_t *client;
    int owned; /* 0: a stdio mock's client, owned by the supervisor */
    ses_state_t state;
    int closing;
    exec_t *waiter;
    char error[512];
} session_t;

typedef void (*exec_done_fn)(exec_t *e);

/* A process action scheduled at an offset into a load phase (load.schedule). */
typedef enum { SCHED_WAITING = 0, SCHED_RUNNING, SCHED_DONE, SCHED_SKIPPED } sched_state_t;

typedef struct sched_s {
    uv_timer_t timer;
    exec_t *e;
    const cJSON *entry; /* in the exec's expanded body */
    const char *action;
    const char *process;
    uint64_t at_ns;
    sched_state_t state;
    int status;
    char msg[300];
} sched_t;

struct exec_s {
    steps_t *st;
    const scn_step_t *step;
    exec_t *parent;
    exec_done_fn on_done; /* internal completion (wait attempts), or NULL */
    int refs;
    int finished;
    int quiet; /* a wait attempt: no metrics; captures only by the wait */
    uint64_t start_ns;
    cJSON *body;     /* the kind's body, expanded */
    cJSON *expect;   /* the step's expectations, expanded (NULL: none) */
    cJSON *response; /* the matched document */
    step_status_t status;
    buf_t msg;
    int gate_aborted;
    uv_timer_t timer; /* step timeout */
    uv_timer_t aux;   /* sleep, wait interval */
    int handles;      /* timers still open */
    http_request_t *req;
    mcp_client_req_t *mreq;
    session_t *session;
    const char *mcp_method; /* in body */
    int init_only;
#ifdef MCP_HARNESS_HAVE_LOAD
    load_run_t *load;
    char *load_metric;
    hdr_histogram_t *load_base;
    uint64_t load_base_count, load_base_errors;
    uint64_t load_start_ns;
    /* what the interval log already holds, per series (overall, uncorrected, templates), so
     * the last partial second can be logged at the end */
    hdr_histogram_t **load_logged;
    size_t load_nlogged;
    double load_last_end_s;
    sched_t *sched;
    size_t nsched;
#endif
    /* wait */
    exec_t *attempt;
    unsigned attempts;
    uint64_t wait_deadline_ns;
    char last_fail[600];
    steps_done_fn cb;
    void *ud;
};

struct steps_s {
    steps_options_t o;
    char *gateway_url;
    char **hname, **hvalue; /* extra headers for the gateway, split from "Name: value" */
    size_t nheaders;
    session_t *sessions;
    size_t closing_sessions; /* dropped, waiting for their close callback */
    size_t live_execs;       /* allocated, handles not yet closed */
    exec_t *current;
    int closing;
    steps_closed_fn closed_cb;
    void *closed_ud;
    uv_timer_t defer;
    int defer_open;
    int freed;
};

static void exec_unref(exec_t *e);
static void exec_finish(exec_t *e, step_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int exec_start(steps_t *st, const scn_step_t *step, exec_t *parent, exec_done_fn on_done,
                      exec_t **out);
static void check_closed(steps_t *st);
static void mcp_failure(exec_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- small helpers ---- */

static const char *msg_text(const exec_t *e)
{
    return e->msg.data ? e->msg.data : "";
}

static int is_gateway_proc(const steps_t *st, const char *name)
{
    const scn_process_t *p = scenario_process(st->o.scenario, name);
    return p && p->type == SCN_PROC_GATEWAY;
}

static int starts_with_gateway(const steps_t *st, const char *url)
{
    if (!st->gateway_url)
        return 0;
    size_t n = strlen(st->gateway_url);
    return strncmp(url, st->gateway_url, n) == 0;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* ---- staging: does a step need local processes? ---- */

typedef struct ref_ctx_s {
    const steps_t *st;
    char name[128];
} ref_ctx_t;

static int ref_is_local(const char *name, size_t len, void *ud)
{
    ref_ctx_t *c = ud;
    const char *dot = memchr(name, '.', len);
    if (!dot)
        return 0;
    size_t pl = (size_t)(dot - name);
    if (pl >= sizeof(c->name))
        return 0;
    memcpy(c->name, name, pl);
    c->name[pl] = '\0';
    const scn_process_t *p = scenario_process(c->st->o.scenario, c->name);
    return p && p->type != SCN_PROC_GATEWAY;
}

int steps_needs_local(const steps_t *st, const scn_step_t *step, char *why, size_t whycap)
{
    switch (step->kind) {
    case SCN_STEP_KILL:
    case SCN_STEP_STOP:
    case SCN_STEP_CONTINUE:
    case SCN_STEP_RESTART:
    case SCN_STEP_START:
    case SCN_STEP_TERMINATE:
    case SCN_STEP_SIGNAL:
    case SCN_STEP_FAULTS:
        snprintf(why, whycap, "needs local process control (%s %s)", scn_step_kind_name(step->kind),
                 step->process ? step->process : "");
        return 1;
    case SCN_STEP_WAIT:
        if (step->inner)
            return steps_needs_local(st, step->inner, why, whycap);
        snprintf(why, whycap, "waits for local process %s", step->process);
        return 1;
    default: break;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(step->body, "target");
    if (cJSON_IsString(t) && !is_gateway_proc(st, t->valuestring)) {
        snprintf(why, whycap, "targets local process %s", t->valuestring);
        return 1;
    }
    ref_ctx_t c = {.st = st};
    if (vars_refs_json(step->json, ref_is_local, &c)) {
        snprintf(why, whycap, "refers to local process %s", c.name);
        return 1;
    }
    return 0;
}

/* ---- exec lifetime ---- */

static void exec_handle_done(exec_t *e)
{
    if (--e->handles > 0)
        return;
    cJSON_Delete(e->body);
    cJSON_Delete(e->expect);
    cJSON_Delete(e->response);
    buf_free(&e->msg);
#ifdef MCP_HARNESS_HAVE_LOAD
    mcp_free(e->load_metric);
    hdr_free(e->load_base);
    for (size_t i = 0; i < e->load_nlogged; i++)
        hdr_free(e->load_logged[i]);
    mcp_free(e->load_logged);
    mcp_free(e->sched);
#endif
    steps_t *st = e->st;
    mcp_free(e);
    st->live_execs--;
    check_closed(st);
}

static void exec_handle_closed(uv_handle_t *h)
{
    exec_handle_done(h->data);
}

#ifdef MCP_HARNESS_HAVE_LOAD
/* A schedule timer's data is its entry; the entries live in the exec until its last handle. */
static void sched_timer_closed(uv_handle_t *h)
{
    exec_handle_done(((sched_t *)h->data)->e);
}
#endif

static void exec_unref(exec_t *e)
{
    if (--e->refs > 0)
        return;
    uv_close((uv_handle_t *)&e->timer, exec_handle_closed);
    uv_close((uv_handle_t *)&e->aux, exec_handle_closed);
#ifdef MCP_HARNESS_HAVE_LOAD
    for (size_t i = 0; i < e->nsched; i++)
        uv_close((uv_handle_t *)&e->sched[i].timer, sched_timer_closed);
#endif
}

static void exec_timeout(uv_timer_t *t);

static int exec_new(steps_t *st, const scn_step_t *step, exec_t *parent, exec_t **out)
{
    exec_t *e = mcp_calloc(1, sizeof(*e));
    if (!e)
        return MCP_ENOMEM;
    e->st = st;
    e->step = step;
    e->parent = parent;
    e->refs = 1;
    e->quiet = parent != NULL;
    e->start_ns = clock_mono_ns();
    buf_init(&e->msg, MSG_MAX);
    uv_timer_init(st->o.loop, &e->timer);
    uv_timer_init(st->o.loop, &e->aux);
    e->timer.data = e;
    e->aux.data = e;
    e->handles = 2;
    st->live_execs++;
    *out = e;
    return 0;
}

/* ---- captures and metrics ---- */

static void apply_captures(exec_t *e, const cJSON *cap, const cJSON *root, const cJSON *headers)
{
    if (!cap)
        return;
    const cJSON *c;
    cJSON_ArrayForEach(c, cap)
    {
        const char *path = cJSON_IsString(c)
                               ? c->valuestring
                               : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "json"));
        const char *hdr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "header"));
        const cJSON *def =
            cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "default") : NULL;
        cJSON *val = NULL;
        if (path) {
            int multi;
            match_path_eval(root, path, &val, &multi, NULL, 0);
        } else if (hdr && headers) {
            char low[256];
            snprintf(low, sizeof(low), "%s", hdr);
            lower(low);
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(headers, low);
            if (h)
                val = cJSON_Duplicate(h, 1);
        }
        if (!val && def)
            val = cJSON_Duplicate(def, 1);
        if (val) {
            vars_set(e->st->o.vars, c->string, val);
            cJSON_Delete(val);
        } else {
            if (e->status == STEP_PASSED) {
                e->status = STEP_FAILED;
                buf_reset(&e->msg);
            }
            buf_appendf(&e->msg, "%scapture %s: %s selects nothing", e->msg.len ? "; " : "",
                        c->string,
                        path  ? path
                        : hdr ? hdr
                              : "?");
        }
    }
}

/* ---- finishing ---- */

static void report(exec_t *e)
{
    if (e->on_done) {
        e->on_done(e);
        return;
    }
    step_result_t r;
    memset(&r, 0, sizeof(r));
    r.status = e->status;
    r.message = msg_text(e);
    r.duration_ns = clock_mono_ns() - e->start_ns;
    r.response = e->response;
    r.gate_aborted = e->gate_aborted;
    steps_done_fn cb = e->cb;
    void *ud = e->ud;
    e->st->current = NULL;
    if (cb)
        cb(e->st, e->step, &r, ud);
}

static void exec_finish(exec_t *e, step_status_t status, const char *fmt, ...)
{
    if (e->finished)
        return;
    e->finished = 1;
    uv_timer_stop(&e->timer);
    uv_timer_stop(&e->aux);
    e->status = status;
    if (fmt) {
        buf_reset(&e->msg);
        va_list ap;
        va_start(ap, fmt);
        buf_vappendf(&e->msg, fmt, ap);
        va_end(ap);
    }
    uint64_t now = clock_mono_ns();
    const scn_step_t *s = e->step;
    if (!e->quiet && s->histogram && s->kind != SCN_STEP_LOAD && status != STEP_SKIPPED &&
        status != STEP_ERROR)
        metrics_record(e->st->o.metrics, s->histogram, (int64_t)(now - e->start_ns),
                       status == STEP_PASSED, now);
    report(e);
    exec_unref(e);
}

/* Cancel whatever the exec waits for; its completion still arrives (and drops its reference). */
static void exec_abandon(exec_t *e)
{
    if (e->req) {
        http_request_cancel(e->req);
        e->req = NULL;
    }
    if (e->mreq) {
        mcp_client_cancel(e->mreq, "step timed out");
        e->mreq = NULL;
    }
    if (e->session && e->session->waiter == e) {
        e->session->waiter = NULL;
        e->session = NULL;
        exec_unref(e);
    }
#ifdef MCP_HARNESS_HAVE_LOAD
    if (e->load)
        load_run_abort(e->load, MCP_ETIMEDOUT);
    for (size_t i = 0; i < e->nsched; i++)
        uv_timer_stop(&e->sched[i].timer);
#endif
    if (e->attempt) {
        exec_t *a = e->attempt;
        e->attempt = NULL;
        exec_abandon(a);
        a->on_done = NULL;
        a->cb = NULL;
        a->finished = 1;
        uv_timer_stop(&a->timer);
        uv_timer_stop(&a->aux);
        exec_unref(a);
    }
}

static void exec_timeout(uv_timer_t *t)
{
    exec_t *e = t->data;
    char d[32];
    snprintf(d, sizeof(d), "%.3gs", (double)e->step->timeout_ns / 1e9);
    exec_abandon(e);
    if (e->last_fail[0])
        exec_finish(e, STEP_FAILED, "timed out after %s; last attempt: %s", d, e->last_fail);
    else
        exec_finish(e, STEP_FAILED, "timed out after %s", d);
}

/* ---- HTTP (and chat) ---- */

static void check_http_expect(exec_t *e, int status, const cJSON *headers, const char *body,
                              const cJSON *json, uint64_t elapsed_ns)
{
    const cJSON *exp = e->expect;
    buf_t *why = &e->msg;
    int ok = 1;
    const cJSON *st_m = cJSON_GetObjectItemCaseSensitive(exp, "status");
    cJSON *sv = cJSON_CreateNumber(status);
    if (!sv) {
        exec_finish(e, STEP_ERROR, "out of memory");
        return;
    }
    if (st_m) {
        if (match_check(st_m, sv, 0, "status", why) != 1)
            ok = 0;
    } else if (status >= 400) {
        buf_appendf(why, "status: expected < 400 (no expect.status given), got %d", status);
        ok = 0;
    }
    cJSON_Delete(sv);
    const cJSON *hm = cJSON_GetObjectItemCaseSensitive(exp, "headers");
    const cJSON *c;
    cJSON_ArrayForEach(c, hm)
    {
        char low[256], label[300];
        snprintf(low, sizeof(low), "%s", c->string);
        lower(low);
        snprintf(label, sizeof(label), "header %s", c->string);
        if (match_check(c, cJSON_GetObjectItemCaseSensitive(headers, low), 0, label, why) != 1)
            ok = 0;
    }
    const cJSON *bm = cJSON_GetObjectItemCaseSensitive(exp, "body");
    if (bm) {
        cJSON *bv = cJSON_CreateString(body ? body : "");
        if (bv && match_check(bm, bv, 0, "body", why) != 1)
            ok = 0;
        cJSON_Delete(bv);
    }
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(exp, "json");
    if (jm) {
        if (!json) {
            buf_appendf(why, "%sbody is not JSON: %.200s", why->len ? "; " : "", body ? body : "");
            ok = 0;
        } else if (match_object(jm, json, why) != 1) {
            ok = 0;
        }
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(exp, "maxDuration");
    uint64_t max_ns;
    if (md && scn_parse_duration(md, &max_ns) == 0 && elapsed_ns > max_ns) {
        buf_appendf(why, "%sduration: expected at most %.3fms, took %.3fms", why->len ? "; " : "",
                    (double)max_ns / 1e6, (double)elapsed_ns / 1e6);
        ok = 0;
    }
    e->status = ok ? STEP_PASSED : STEP_FAILED;
    if (ok)
        buf_reset(why);
    if (ok)
        apply_captures(e, cJSON_GetObjectItemCaseSensitive(e->step->json, "capture"), json,
                       headers);
    if (e->status == STEP_PASSED)
        exec_finish(e, STEP_PASSED, NULL);
    else
        exec_finish(e, STEP_FAILED, NULL);
}

static void http_done(http_request_t *req, int result, void *ud)
{
    exec_t *e = ud;
    e->req = NULL;
    if (e->finished) {
        exec_unref(e);
        return;
    }
    uint64_t elapsed = clock_mono_ns() - e->start_ns;
    if (result != 0) {
        exec_finish(e, STEP_FAILED, "%s %s: %s", http_request_method(req), http_request_url(req),
                    http_request_error(req)[0] ? http_request_error(req) : mcp_strerror(result));
        exec_unref(e);
        return;
    }
    int status = http_request_status(req);
    size_t blen = 0;
    const char *body = http_request_body(req, &blen);
    cJSON *headers = cJSON_CreateObject();
    cJSON *doc = cJSON_CreateObject();
    if (!headers || !doc) {
        cJSON_Delete(headers);
        cJSON_Delete(doc);
        exec_finish(e, STEP_ERROR, "out of memory");
        exec_unref(e);
        return;
    }
    size_t nh = http_request_header_count(req);
    for (size_t i = 0; i < nh; i++) {
        const char *n, *v;
        if (http_request_header_at(req, i, &n, &v) == 0) {
            char low[256];
            snprintf(low, sizeof(low), "%s", n);
            lower(low);
            if (!cJSON_GetObjectItemCaseSensitive(headers, low))
                cJSON_AddStringToObject(headers, low, v);
        }
    }
    cJSON *json = blen ? cJSON_ParseWithLength(body, blen) : NULL;
    cJSON_AddNumberToObject(doc, "status", status);
    cJSON_AddItemToObject(doc, "headers", headers);
    if (json)
        cJSON_AddItemToObject(doc, "body", json);
    else
        cJSON_AddStringToObject(doc, "body",
                                blen > REPORT_TEXT_MAX ? "(long non-JSON body)" : body);
    cJSON_Delete(e->response);
    e->response = doc;
    check_http_expect(e, status, headers, body, json, elapsed);
    exec_unref(e);
}

/* Start an HTTP request for the exec. headers: object name -> string; body may be NULL. */
static int http_send(exec_t *e, const char *method, const char *url, const cJSON *headers,
                     const char *body, size_t blen, int json_body)
{
    steps_t *st = e->st;
    http_request_t *req;
    int rc = http_request_new(st->o.http, method, url, &req);
    if (rc) {
        exec_finish(e, STEP_ERROR, "%s %s: %s", method, url,
                    rc == MCP_EINVAL ? "not a valid http:// URL" : mcp_strerror(rc));
        return rc;
    }
    int have_ct = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, headers)
    {
        char *v = cJSON_IsString(h) ? NULL : cJSON_PrintUnformatted(h);
        rc = http_request_add_header(req, h->string, v ? v : h->valuestring);
        cJSON_free(v);
        if (rc) {
            http_request_free(req);
            exec_finish(e, STEP_ERROR, "header %s: not a valid header", h->string);
            return rc;
        }
        if (strcasecmp(h->string, "content-type") == 0)
            have_ct = 1;
    }
    if (starts_with_gateway(st, url))
        for (size_t i = 0; i < st->nheaders; i++)
            http_request_add_header(req, st->hname[i], st->hvalue[i]);
    if (body) {
        if (json_body && !have_ct)
            http_request_add_header(req, "Content-Type", "application/json");
        rc = http_request_set_body(req, body, blen);
    }
    http_request_set_timeouts(req, e->step->timeout_ns / 1000000ULL + 1, 0);
    http_request_set_max_body(req, BODY_MAX);
    if (!rc) {
        e->refs++;
        rc = http_request_start(req, http_done, e);
        if (rc)
            e->refs--;
    }
    if (rc) {
        http_request_free(req);
        exec_finish(e, STEP_ERROR, "%s %s: %s", method, url, mcp_strerror(rc));
        return rc;
    }
    e->req = req;
    return 0;
}

static void run_http(exec_t *e)
{
    const cJSON *b = e->body;
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "url"));
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(b, "body");
    const cJSON *json = cJSON_GetObjectItemCaseSensitive(b, "json");
    const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "method"));
    if (!url) {
        exec_finish(e, STEP_ERROR, "http.url: must be a string");
        return;
    }
    if (!method)
        method = body || json ? "POST" : "GET";
    char *text = NULL;
    int is_json = 0;
    if (json) {
        text = cJSON_PrintUnformatted(json);
        is_json = 1;
    } else if (body) {
        text = cJSON_IsString(body) ? NULL : cJSON_PrintUnformatted(body);
    }
    const char *payload = text ? text : cJSON_IsString(body) ? body->valuestring : NULL;
    http_send(e, method, url, cJSON_GetObjectItemCaseSensitive(b, "headers"), payload,
              payload ? strlen(payload) : 0, is_json);
    cJSON_free(text);
}

static const char *proc_var(const steps_t *st, const char *proc, const char *attr)
{
    char key[200];
    snprintf(key, sizeof(key), "%s.%s", proc, attr);
    return cJSON_GetStringValue(vars_get(st->o.vars, key));
}

static const char *first_gateway(const steps_t *st)
{
    for (size_t i = 0; i < st->o.scenario->nprocs; i++)
        if (st->o.scenario->procs[i].type == SCN_PROC_GATEWAY)
            return st->o.scenario->procs[i].name;
    return NULL;
}

static void run_chat(exec_t *e)
{
    const cJSON *b = e->body;
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "url"));
    const char *target = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "target"));
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "path"));
    char *full = NULL;
    if (!url) {
        if (!target)
            target = first_gateway(e->st);
        const char *base = target ? proc_var(e->st, target, "base") : NULL;
        if (!base) {
            exec_finish(e, STEP_ERROR,
                        "chat: no url, and no running gateway process to send it to%s%s",
                        target ? ": " : "", target ? target : "");
            return;
        }
        full = mcp_asprintf("%s%s", base, path ? path : "/api/chat");
        url = full;
    }
    cJSON *payload = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(b, "body"), 1);
    if (!payload)
        payload = cJSON_CreateObject();
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "message");
    if (payload && m && !cJSON_GetObjectItemCaseSensitive(payload, "message"))
        cJSON_AddItemToObject(payload, "message", cJSON_Duplicate(m, 1));
    char *text = payload ? cJSON_PrintUnformatted(payload) : NULL;
    if (!url || !text)
        exec_finish(e, STEP_ERROR, "out of memory");
    else
        http_send(e, "POST", url, cJSON_GetObjectItemCaseSensitive(b, "headers"), text,
                  strlen(text), 1);
    cJSON_free(text);
    cJSON_Delete(payload);
    mcp_free(full);
}

/* ---- MCP ---- */

static void session_free(session_t *s)
{
    mcp_free(s->key);
    mcp_free(s->proc);
    mcp_free(s);
}

static void session_unlink(steps_t *st, session_t *s)
{
    for (session_t **pp = &st->sessions; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            return;
        }
    }
}

static void session_closed_cb(mcp_client_t *c, void *ud)
{
    (void)c;
    session_t *s = ud;
    steps_t *st = s->st;
    session_free(s);
    st->closing_sessions--;
    check_closed(st);
}

/* Close (owned) or forget (supervisor's) a session; it leaves the list at once. */
static void session_drop(steps_t *st, session_t *s)
{
    session_unlink(st, s);
    if (s->waiter) {
        exec_t *w = s->waiter;
        s->waiter = NULL;
        exec_unref(w);
    }
    if (s->owned && s->client && !s->closing) {
        s->closing = 1;
        s->next = NULL;
        /* kept alive by the close callback */
        if (mcp_client_close(s->client, session_closed_cb, s) == 0) {
            st->closing_sessions++;
            return;
        }
    }
    session_free(s);
}

static void mcp_send_request(exec_t *e);

static void session_ready(session_t *s, int status)
{
    exec_t *w = s->waiter;
    s->waiter = NULL;
    if (!w)
        return;
    w->session = NULL;
    if (w->finished) {
        exec_unref(w);
        return;
    }
    if (status != 0) {
        mcp_failure(w, "%s", s->error);
        exec_unref(w);
        return;
    }
    mcp_send_request(w);
    exec_unref(w);
}

static void session_init_done(mcp_client_t *c, int status, void *ud)
{
    session_t *s = ud;
    if (status == 0) {
        s->state = SES_READY;
    } else {
        s->state = SES_DEAD;
        snprintf(s->error, sizeof(s->error), "MCP initialize with %s failed: %s", s->key,
                 mcp_client_error_message(c));
    }
    session_ready(s, status);
}

static void session_on_closed(mcp_client_t *c, int reason, void *ud)
{
    (void)c;
    session_t *s = ud;
    if (s->state == SES_INIT)
        snprintf(s->error, sizeof(s->error), "MCP session with %s closed during initialize: %s",
                 s->key, mcp_strerror(reason));
    s->state = SES_DEAD;
}

#ifdef MCP_HARNESS_HAVE_CLIENT_HTTP
static int session_open_http(steps_t *st, session_t *s, const char *url, int mode,
                             const cJSON *headers, int gateway, char *err, size_t errcap)
{
    mcp_client_http_header_t hs[MAX_HEADERS];
    size_t n = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, headers)
    {
        if (n < MAX_HEADERS && cJSON_IsString(h)) {
            hs[n].name = h->string;
            hs[n].value = h->valuestring;
            n++;
        }
    }
    for (size_t i = 0; gateway && i < st->nheaders && n < MAX_HEADERS; i++) {
        hs[n].name = st->hname[i];
        hs[n].value = st->hvalue[i];
        n++;
    }
    mcp_client_http_options_t ho;
    memset(&ho, 0, sizeof(ho));
    ho.url = url;
    ho.mode = (mcp_client_http_mode_t)mode;
    ho.headers = hs;
    ho.nheaders = n;
    ho.http = st->o.http;
    int rc = mcp_client_http_start(s->client, &ho);
    if (rc)
        snprintf(err, errcap, "MCP over HTTP to %s: %s", url,
                 rc == MCP_EINVAL ? "bad URL or header" : mcp_strerror(rc));
    return rc;
}
#endif

/* Find or open the session the exec's body names. 0 with *out, or an error finished on e. */
static int session_get(exec_t *e, int fresh, session_t **out)
{
    steps_t *st = e->st;
    const cJSON *b = e->body;
    const char *target = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "target"));
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "url"));
    const char *sname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "session"));
    const char *transport = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "transport"));
    if (!sname)
        sname = "default";
    char key[1024];
    sup_proc_t *proc = NULL;
    int gateway = 0;
    if (target) {
        const scn_process_t *sp = scenario_process(st->o.scenario, target);
        if (!sp) {
            exec_finish(e, STEP_ERROR, "mcp.target: no process named %s", target);
            return MCP_EINVAL;
        }
        gateway = sp->type == SCN_PROC_GATEWAY;
        proc = st->o.sup ? sup_find(st->o.sup, target) : NULL;
        if (!gateway || !st->gateway_url) {
            if (!proc || !sup_proc_running(proc)) {
                mcp_failure(e, "process %s is not running", target);
                return MCP_ESTATE;
            }
        }
        snprintf(key, sizeof(key), "%s#%s", target, sname);
    } else {
        if (!url) {
            exec_finish(e, STEP_ERROR, "mcp: needs a target or a url");
            return MCP_EINVAL;
        }
        snprintf(key, sizeof(key), "%s#%s", url, sname);
    }
    unsigned gen = proc ? sup_proc_generation(proc) : 0;
    for (session_t *s = st->sessions; s; s = s->next) {
        if (strcmp(s->key, key) != 0)
            continue;
        if (fresh || s->state == SES_DEAD || s->generation != gen ||
            (!s->owned && s->client != sup_proc_client(proc))) {
            session_drop(st, s);
            break;
        }
        *out = s;
        return 0;
    }
    session_t *s = mcp_calloc(1, sizeof(*s));
    if (!s || !(s->key = mcp_strdup(key)) || (target && !(s->proc = mcp_strdup(target)))) {
        if (s)
            session_free(s);
        exec_finish(e, STEP_ERROR, "out of memory");
        return MCP_ENOMEM;
    }
    s->st = st;
    s->generation = gen;
    /* a stdio mock: the supervisor's own session */
    if (proc && sup_proc_type(proc) == SCN_PROC_MOCK &&
        strcmp(sup_proc_transport(proc), "stdio") == 0) {
        s->client = sup_proc_client(proc);
        if (!s->client) {
            session_free(s);
            mcp_failure(e, "stdio mock %s is not ready", target);
            return MCP_ESTATE;
        }
        s->owned = 0;
        s->state = SES_READY;
        s->next = st->sessions;
        st->sessions = s;
        *out = s;
        return 0;
    }
    /* an HTTP endpoint */
    int mode = 0; /* MCP_HTTP_STREAMABLE */
    char *owned_url = NULL;
    if (target) {
        const char *tr = proc ? sup_proc_transport(proc) : "http";
        if (gateway && st->gateway_url) {
            owned_url = mcp_asprintf("%s/mcp", st->gateway_url);
            url = owned_url;
        } else {
            url = proc_var(st, target, "url");
        }
        if (strcmp(tr, "sse") == 0)
            mode = 1;
        if (!url) {
            session_free(s);
            exec_finish(e, STEP_ERROR, "mcp.target: process %s has no URL", target);
            return MCP_EINVAL;
        }
    }
    if (transport)
        mode = strcmp(transport, "sse") == 0 ? 1 : strcmp(transport, "auto") == 0 ? 2 : 0;
#ifdef MCP_HARNESS_HAVE_CLIENT_HTTP
    mcp_client_options_t co;
    memset(&co, 0, sizeof(co));
    co.name = key;
    co.client_name = "mcp-harness";
    co.on_closed = session_on_closed;
    co.userdata = s;
    char err[600];
    int rc = mcp_client_new(st->o.loop, &co, &s->client);
    if (rc) {
        mcp_free(owned_url);
        session_free(s);
        exec_finish(e, STEP_ERROR, "out of memory");
        return rc;
    }
    s->owned = 1;
    rc = session_open_http(st, s, url, mode, cJSON_GetObjectItemCaseSensitive(b, "headers"),
                           gateway, err, sizeof(err));
    mcp_free(owned_url);
    if (rc) {
        mcp_client_close(s->client, NULL, NULL);
        session_free(s);
        exec_finish(e, STEP_ERROR, "%s", err);
        return rc;
    }
    rc = mcp_client_initialize(s->client, e->step->timeout_ns / 1000000ULL, session_init_done, s);
    if (rc) {
        mcp_client_close(s->client, NULL, NULL);
        session_free(s);
        mcp_failure(e, "MCP initialize with %s: %s", key, mcp_strerror(rc));
        return rc;
    }
    s->state = SES_INIT;
    s->next = st->sessions;
    st->sessions = s;
    *out = s;
    return 0;
#else
    (void)mode;
    mcp_free(owned_url);
    session_free(s);
    exec_finish(e, STEP_ERROR,
                "MCP over HTTP is not available in this build (core/mcp_client_http missing)");
    return MCP_EUNSUPPORTED;
#endif
}

static void check_mcp_expect(exec_t *e, const cJSON *doc, uint64_t elapsed_ns);

/* The request could not even be sent: that is the step's outcome {"failure": msg}, which
 * expect.failure may want. */
static void mcp_failure(exec_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mcp_failure(exec_t *e, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *doc = cJSON_CreateObject();
    if (!doc || !cJSON_AddStringToObject(doc, "failure", msg)) {
        cJSON_Delete(doc);
        exec_finish(e, STEP_ERROR, "out of memory");
        return;
    }
    cJSON_Delete(e->response);
    e->response = doc;
    check_mcp_expect(e, doc, clock_mono_ns() - e->start_ns);
}

static void check_mcp_expect(exec_t *e, const cJSON *doc, uint64_t elapsed_ns)
{
    const cJSON *exp = e->expect;
    buf_t *why = &e->msg;
    buf_reset(why);
    int ok = 1;
    const cJSON *failure = cJSON_GetObjectItemCaseSensitive(doc, "failure");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(doc, "result");
    const cJSON *fm = cJSON_GetObjectItemCaseSensitive(exp, "failure");
    const cJSON *em = cJSON_GetObjectItemCaseSensitive(exp, "error");
    if (fm && !cJSON_IsFalse(fm)) {
        if (!failure) {
            buf_append_str(why, "expected the request to fail, but it was answered: ");
            match_describe(doc, why);
            ok = 0;
        } else if (!cJSON_IsTrue(fm) && match_check(fm, failure, 0, "failure", why) != 1) {
            ok = 0;
        }
    } else if (failure) {
        buf_appendf(why, "%s", cJSON_GetStringValue(failure));
        ok = 0;
    } else if (em && !cJSON_IsFalse(em)) {
        if (!error) {
            buf_append_str(why, "$.error: expected a JSON-RPC error, got a result: ");
            match_describe(result, why);
            ok = 0;
        } else if (cJSON_IsObject(em) && match_object(em, error, why) != 1) {
            ok = 0;
        }
    } else if (error) {
        buf_append_str(why, "$.error: expected no JSON-RPC error, got ");
        match_describe(error, why);
        ok = 0;
    }
    if (ok && result) {
        const cJSON *rm = cJSON_GetObjectItemCaseSensitive(exp, "result");
        if (rm && match_object(rm, result, why) != 1)
            ok = 0;
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(exp, "isError");
        if (im) {
            const cJSON *ie = cJSON_GetObjectItemCaseSensitive(result, "isError");
            cJSON *f = ie ? NULL : cJSON_CreateFalse();
            if (match_check(im, ie ? ie : f, 0, "$.result.isError", why) != 1)
                ok = 0;
            cJSON_Delete(f);
        }
    } else if (ok && !result &&
               (cJSON_GetObjectItemCaseSensitive(exp, "result") ||
                cJSON_GetObjectItemCaseSensitive(exp, "isError"))) {
        buf_append_str(why, "$.result: expected a result, got ");
        match_describe(doc, why);
        ok = 0;
    }
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(exp, "json");
    if (jm && match_object(jm, doc, why) != 1)
        ok = 0;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(exp, "maxDuration");
    uint64_t max_ns;
    if (md && scn_parse_duration(md, &max_ns) == 0 && elapsed_ns > max_ns) {
        buf_appendf(why, "%sduration: expected at most %.3fms, took %.3fms", why->len ? "; " : "",
                    (double)max_ns / 1e6, (double)elapsed_ns / 1e6);
        ok = 0;
    }
    e->status = ok ? STEP_PASSED : STEP_FAILED;
    if (ok)
        buf_reset(why);
    if (ok)
        apply_captures(e, cJSON_GetObjectItemCaseSensitive(e->step->json, "capture"), doc, NULL);
    exec_finish(e, e->status, NULL);
}

static void mcp_result(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    exec_t *e = ud;
    e->mreq = NULL;
    if (e->finished) {
        exec_unref(e);
        return;
    }
    uint64_t elapsed = clock_mono_ns() - e->start_ns;
    cJSON *doc = cJSON_CreateObject();
    if (!doc) {
        exec_finish(e, STEP_ERROR, "out of memory");
        exec_unref(e);
        return;
    }
    if (status == 0 && resp) {
        cJSON_AddItemToObject(doc, "result",
                              resp->result ? cJSON_Duplicate(resp->result, 1) : cJSON_CreateNull());
    } else if (status == MCP_EUPSTREAM && resp) {
        cJSON *err = cJSON_AddObjectToObject(doc, "error");
        if (err) {
            cJSON_AddNumberToObject(err, "code", resp->error_code);
            cJSON_AddStringToObject(err, "message", resp->error_message ? resp->error_message : "");
            if (resp->error_data)
                cJSON_AddItemToObject(err, "data", cJSON_Duplicate(resp->error_data, 1));
        }
    } else {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s failed: %s", e->mcp_method, mcp_strerror(status));
        cJSON_AddStringToObject(doc, "failure", msg);
    }
    cJSON_Delete(e->response);
    e->response = doc;
    check_mcp_expect(e, doc, elapsed);
    exec_unref(e);
}

static void mcp_send_request(exec_t *e)
{
    session_t *s = NULL;
    const cJSON *b = e->body;
    (void)b;
    /* the session is looked up again: it may have been replaced while initializing */
    if (session_get(e, 0, &s))
        return;
    if (s->state == SES_INIT) {
        /* cannot happen right after a successful initialize, but be safe */
        exec_finish(e, STEP_FAILED, "MCP session %s is not ready", s->key);
        return;
    }
    if (e->init_only) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *res = doc ? cJSON_AddObjectToObject(doc, "result") : NULL;
        if (res) {
            const char *v = mcp_client_protocol_version(s->client);
            cJSON_AddStringToObject(res, "protocolVersion", v ? v : "");
            const cJSON *si = mcp_client_server_info(s->client);
            const cJSON *caps = mcp_client_server_capabilities(s->client);
            if (si)
                cJSON_AddItemToObject(res, "serverInfo", cJSON_Duplicate(si, 1));
            if (caps)
                cJSON_AddItemToObject(res, "capabilities", cJSON_Duplicate(caps, 1));
            const char *ins = mcp_client_instructions(s->client);
            if (ins)
                cJSON_AddStringToObject(res, "instructions", ins);
        }
        cJSON_Delete(e->response);
        e->response = doc;
        if (!doc)
            exec_finish(e, STEP_ERROR, "out of memory");
        else
            check_mcp_expect(e, doc, clock_mono_ns() - e->start_ns);
        return;
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(e->body, "params");
    cJSON *p = params ? cJSON_Duplicate(params, 1) : NULL;
    if (strncmp(e->mcp_method, "notifications/", 14) == 0) {
        int rc = mcp_client_notify(s->client, e->mcp_method, p);
        if (rc)
            exec_finish(e, STEP_FAILED, "%s: %s", e->mcp_method, mcp_strerror(rc));
        else
            exec_finish(e, STEP_PASSED, NULL);
        return;
    }
    uint64_t elapsed_ms = (clock_mono_ns() - e->start_ns) / 1000000ULL;
    uint64_t budget = e->step->timeout_ns / 1000000ULL;
    uint64_t deadline = budget > elapsed_ms ? budget - elapsed_ms : 1;
    e->refs++;
    int rc = mcp_client_request(s->client, e->mcp_method, p, deadline, mcp_result, e, &e->mreq);
    if (rc) {
        e->refs--;
        e->mreq = NULL;
        if (rc == MCP_ECLOSED || rc == MCP_ESTATE)
            s->state = SES_DEAD;
        mcp_failure(e, "%s failed: %s", e->mcp_method, mcp_strerror(rc));
    }
}

static void run_mcp(exec_t *e)
{
    e->mcp_method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e->body, "method"));
    if (!e->mcp_method) {
        exec_finish(e, STEP_ERROR, "mcp.method: must be a string");
        return;
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(e->body, "params");
    if (params && !cJSON_IsObject(params)) {
        exec_finish(e, STEP_ERROR, "mcp.params: must be an object after expansion");
        return;
    }
    e->init_only = strcmp(e->mcp_method, "initialize") == 0;
    session_t *s = NULL;
    if (session_get(e, e->init_only, &s))
        return;
    if (s->state == SES_INIT) {
        if (s->waiter) {
            exec_finish(e, STEP_ERROR, "internal: session %s already has a waiter", s->key);
            return;
        }
        e->refs++;
        s->waiter = e;
        e->session = s;
        return;
    }
    mcp_send_request(e);
}

/* ---- supervisor actions ---- */

static void sup_done(sup_t *sup, const char *name, int status, const char *message, void *ud)
{
    (void)sup;
    (void)name;
    exec_t *e = ud;
    if (!e->finished) {
        if (status == 0)
            exec_finish(e, STEP_PASSED, NULL);
        else
            exec_finish(e, STEP_FAILED, "%s", message && *message ? message : mcp_strerror(status));
    }
    exec_unref(e);
}

static void run_action(exec_t *e)
{
    steps_t *st = e->st;
    const scn_step_t *s = e->step;
    char err[600] = "";
    int rc;
    sup_action_t act;
    int signum = 0;
    const char *name = cJSON_IsString(e->body) ? e->body->valuestring : s->process;
    if (!st->o.sup) {
        exec_finish(e, STEP_ERROR, "no supervisor");
        return;
    }
    switch (s->kind) {
    case SCN_STEP_KILL: act = SUP_ACT_KILL; break;
    case SCN_STEP_STOP: act = SUP_ACT_STOP; break;
    case SCN_STEP_CONTINUE: act = SUP_ACT_CONTINUE; break;
    case SCN_STEP_RESTART: act = SUP_ACT_RESTART; break;
    case SCN_STEP_START: act = SUP_ACT_START; break;
    case SCN_STEP_TERMINATE: act = SUP_ACT_TERMINATE; break;
    case SCN_STEP_SIGNAL: {
        act = SUP_ACT_SIGNAL;
        const cJSON *sig = cJSON_GetObjectItemCaseSensitive(e->body, "signal");
        char num[16];
        if (cJSON_IsNumber(sig))
            snprintf(num, sizeof(num), "%d", sig->valueint);
        signum = sup_signal_number(cJSON_IsNumber(sig) ? num : cJSON_GetStringValue(sig));
        if (signum < 0) {
            exec_finish(e, STEP_ERROR, "signal: unknown signal");
            return;
        }
        name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e->body, "process"));
        break;
    }
    case SCN_STEP_FAULTS: {
        name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e->body, "process"));
        e->refs++;
        rc = sup_set_faults(st->o.sup, name ? name : "",
                            cJSON_GetObjectItemCaseSensitive(e->body, "rules"), sup_done, e, err,
                            sizeof(err));
        if (rc) {
            e->refs--;
            exec_finish(e, STEP_FAILED, "%s", err);
        }
        return;
    }
    case SCN_STEP_WAIT:
        e->refs++;
        rc = sup_wait_exit(st->o.sup, name, sup_done, e, err, sizeof(err));
        if (rc) {
            e->refs--;
            exec_finish(e, STEP_FAILED, "%s", err);
        }
        return;
    default: exec_finish(e, STEP_ERROR, "internal: not an action"); return;
    }
    if (act == SUP_ACT_START && !sup_find(st->o.sup, name)) {
        const scn_process_t *sp = scenario_process(st->o.scenario, name);
        e->refs++;
        rc = sp ? sup_start(st->o.sup, sp, sup_done, e, err, sizeof(err)) : MCP_ENOTFOUND;
    } else {
        e->refs++;
        rc = sup_action(st->o.sup, name ? name : "", act, signum, sup_done, e, err, sizeof(err));
    }
    if (rc) {
        e->refs--;
        exec_finish(e, STEP_FAILED, "%s", err);
    }
}

/* ---- sleep and wait ---- */

static void sleep_fire(uv_timer_t *t)
{
    exec_t *e = t->data;
    exec_finish(e, STEP_PASSED, NULL);
}

static void run_sleep(exec_t *e)
{
    uint64_t ns;
    if (scn_parse_duration(e->body, &ns)) {
        exec_finish(e, STEP_ERROR, "sleep: not a duration");
        return;
    }
    uv_timer_start(&e->aux, sleep_fire, ns / 1000000ULL, 0);
}

static void wait_attempt(exec_t *e);

static void wait_retry(uv_timer_t *t)
{
    wait_attempt(t->data);
}

static void wait_attempt_done(exec_t *a)
{
    exec_t *e = a->parent;
    e->attempt = NULL;
    e->attempts++;
    if (a->status == STEP_PASSED) {
        /* the wait's response and captures are those of the passing attempt */
        cJSON_Delete(e->response);
        e->response = a->response;
        a->response = NULL;
        a->on_done = NULL;
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(e->step->json, "capture");
        if (cap && e->response) {
            scn_step_kind_t k = e->step->inner->kind;
            const cJSON *root = k == SCN_STEP_MCP
                                    ? e->response
                                    : cJSON_GetObjectItemCaseSensitive(e->response, "body");
            e->status = STEP_PASSED;
            apply_captures(e, cap, root, cJSON_GetObjectItemCaseSensitive(e->response, "headers"));
            if (e->status != STEP_PASSED) {
                exec_finish(e, STEP_FAILED, NULL);
                return;
            }
        }
        exec_finish(e, STEP_PASSED, NULL);
        return;
    }
    snprintf(e->last_fail, sizeof(e->last_fail), "%s", msg_text(a));
    if (a->status == STEP_ERROR) {
        exec_finish(e, STEP_ERROR, "%s", msg_text(a));
        return;
    }
    uint64_t now = clock_mono_ns();
    if (now + e->step->wait_interval_ns > e->wait_deadline_ns) {
        exec_finish(e, STEP_FAILED, "condition not met within %.3gs (%u attempts); last: %s",
                    (double)(e->wait_deadline_ns - e->start_ns) / 1e9, e->attempts, e->last_fail);
        return;
    }
    uv_timer_start(&e->aux, wait_retry, e->step->wait_interval_ns / 1000000ULL, 0);
}

static void wait_attempt(exec_t *e)
{
    if (e->finished)
        return;
    exec_t *a = NULL;
    int rc = exec_start(e->st, e->step->inner, e, wait_attempt_done, &a);
    if (rc && !a)
        exec_finish(e, STEP_ERROR, "cannot start the polled step: %s", mcp_strerror(rc));
    else
        e->attempt = a;
}

static void wait_running_poll(uv_timer_t *t)
{
    exec_t *e = t->data;
    sup_proc_t *p = e->st->o.sup ? sup_find(e->st->o.sup, e->step->process) : NULL;
    if (p && sup_proc_ready(p)) {
        exec_finish(e, STEP_PASSED, NULL);
        return;
    }
    if (clock_mono_ns() > e->wait_deadline_ns)
        exec_finish(e, STEP_FAILED, "process %s was not running within the wait timeout",
                    e->step->process);
}

static void run_wait(exec_t *e)
{
    uint64_t timeout = 10ULL * 1000000000ULL;
    scn_parse_duration(cJSON_GetObjectItemCaseSensitive(e->body, "timeout"), &timeout);
    e->wait_deadline_ns = e->start_ns + timeout;
    /* the step's own timeout must not cut the wait short */
    uv_timer_stop(&e->timer);
    uint64_t total = timeout + 5ULL * 1000000000ULL;
    if (e->step->timeout_ns < total)
        total = e->step->timeout_ns;
    uv_timer_start(&e->timer, exec_timeout, total / 1000000ULL, 0);
    if (e->step->inner) {
        wait_attempt(e);
        return;
    }
    const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e->body, "state"));
    if (state && strcmp(state, "running") == 0) {
        uv_timer_start(&e->aux, wait_running_poll, 0, e->step->wait_interval_ns / 1000000ULL + 1);
        return;
    }
    run_action(e);
}

/* ---- load phases ---- */

#ifdef MCP_HARNESS_HAVE_LOAD
typedef struct load_build_s {
    load_spec_t spec;
    load_phase_t phases[LOAD_MAX_PHASES];
    load_template_t tmpl[LOAD_MAX_TEMPLATES];
    load_header_t headers[LOAD_MAX_TEMPLATES][LOAD_MAX_HEADERS];
    char *bodies[LOAD_MAX_TEMPLATES];
    char host[256];
    char path[1024];
} load_build_t;

static int num_of(const cJSON *v, double *out)
{
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v)) {
        char *end;
        double d = strtod(v->valuestring, &end);
        if (end != v->valuestring && *end == '\0') {
            *out = d;
            return 0;
        }
    }
    return MCP_EINVAL;
}

static int load_build(exec_t *e, load_build_t *lb, char *err, size_t errcap)
{
    steps_t *st = e->st;
    const cJSON *b = e->body;
    memset(lb, 0, sizeof(*lb));
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "url"));
    const char *target = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "target"));
    if (target) {
        if (is_gateway_proc(st, target) && st->gateway_url)
            url = st->gateway_url;
        else
            url = proc_var(st, target, "base");
        if (!url) {
            snprintf(err, errcap, "load.target: process %s has no address", target);
            return MCP_EINVAL;
        }
    }
    if (!url || strncmp(url, "http://", 7) != 0) {
        snprintf(err, errcap, "load.url: must be an http:// URL");
        return MCP_EINVAL;
    }
    const char *h = url + 7;
    size_t hl = strcspn(h, "/");
    const char *colon = memchr(h, ':', hl);
    snprintf(lb->host, sizeof(lb->host), "%.*s", (int)(colon ? (size_t)(colon - h) : hl), h);
    long port = colon ? strtol(colon + 1, NULL, 10) : 80;
    if (port <= 0 || port > 65535) {
        snprintf(err, errcap, "load.url: bad port");
        return MCP_EINVAL;
    }
    snprintf(lb->path, sizeof(lb->path), "%s", h[hl] ? h + hl : "/");
    load_spec_t *sp = &lb->spec;
    sp->host = lb->host;
    sp->port = (uint16_t)port;
    sp->path = lb->path;
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "model"));
    sp->model = model && strcmp(model, "closed") == 0 ? LOAD_MODEL_CLOSED : LOAD_MODEL_OPEN;
    double d;
    if (num_of(cJSON_GetObjectItemCaseSensitive(b, "connections"), &d) == 0)
        sp->connections = (uint32_t)d;
    uint64_t ns;
    if (scn_parse_duration(cJSON_GetObjectItemCaseSensitive(b, "timeout"), &ns) == 0)
        sp->timeout_ms = ns / 1000000ULL;
    if (num_of(cJSON_GetObjectItemCaseSensitive(b, "maxOutstanding"), &d) == 0)
        sp->max_outstanding = (uint32_t)d;
    if (num_of(cJSON_GetObjectItemCaseSensitive(b, "okStatus"), &d) == 0)
        sp->ok_status_class = (int)d;
    sp->expect_body = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "expectBody"));
    if (scn_parse_duration(cJSON_GetObjectItemCaseSensitive(b, "expectedInterval"), &ns) == 0)
        sp->expected_interval_us = ns / 1000ULL;
    /* the run seed, mixed with the step's position, drives the request mix */
    sp->seed = st->o.seed ^ (uint64_t)(e->step - st->o.scenario->steps + 1) * 0x9E3779B97F4A7C15ULL;
    const cJSON *ph;
    size_t np = 0;
    cJSON_ArrayForEach(ph, cJSON_GetObjectItemCaseSensitive(b, "phases"))
    {
        if (np == LOAD_MAX_PHASES) {
            snprintf(err, errcap, "load.phases: more than %d", LOAD_MAX_PHASES);
            return MCP_EINVAL;
        }
        load_phase_t *p = &lb->phases[np];
        p->name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ph, "name"));
        if (scn_parse_duration(cJSON_GetObjectItemCaseSensitive(ph, "duration"), &ns)) {
            snprintf(err, errcap, "load.phases[%zu].duration: not a duration", np);
            return MCP_EINVAL;
        }
        p->duration_ms = ns / 1000000ULL;
        p->warmup = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ph, "warmup"));
        p->rate_end = -1;
        if (num_of(cJSON_GetObjectItemCaseSensitive(ph, "rate"), &d) == 0)
            p->rate_start = d;
        if (num_of(cJSON_GetObjectItemCaseSensitive(ph, "rateTo"), &d) == 0)
            p->rate_end = d;
        if (num_of(cJSON_GetObjectItemCaseSensitive(ph, "concurrency"), &d) == 0)
            p->concurrency = (uint32_t)d;
        if (scn_parse_duration(cJSON_GetObjectItemCaseSensitive(ph, "think"), &ns) == 0)
            p->think_time_us = ns / 1000ULL;
        np++;
    }
    sp->phases = lb->phases;
    sp->n_phases = np;
    size_t nt = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(b, "requests"))
    {
        if (nt == LOAD_MAX_TEMPLATES) {
            snprintf(err, errcap, "load.requests: more than %d", LOAD_MAX_TEMPLATES);
            return MCP_EINVAL;
        }
        load_template_t *t = &lb->tmpl[nt];
        t->name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "name"));
        t->method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "method"));
        t->path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "path"));
        t->expect_body = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "expectBody"));
        if (num_of(cJSON_GetObjectItemCaseSensitive(r, "weight"), &d) == 0)
            t->weight = (uint32_t)d;
        const cJSON *json = cJSON_GetObjectItemCaseSensitive(r, "json");
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(r, "body");
        size_t nh = 0;
        int have_ct = 0;
        const cJSON *hh;
        cJSON_ArrayForEach(hh, cJSON_GetObjectItemCaseSensitive(r, "headers"))
        {
            if (nh < LOAD_MAX_HEADERS && cJSON_IsString(hh)) {
                lb->headers[nt][nh].name = hh->string;
                lb->headers[nt][nh].value = hh->valuestring;
                have_ct |= strcasecmp(hh->string, "content-type") == 0;
                nh++;
            }
        }
        int gw = target && is_gateway_proc(st, target) && st->gateway_url;
        for (size_t i = 0; gw && i < st->nheaders && nh < LOAD_MAX_HEADERS; i++) {
            lb->headers[nt][nh].name = st->hname[i];
            lb->headers[nt][nh].value = st->hvalue[i];
            nh++;
        }
        if (json) {
            lb->bodies[nt] = cJSON_PrintUnformatted(json);
            t->body = lb->bodies[nt];
            if (!have_ct && nh < LOAD_MAX_HEADERS) {
                lb->headers[nt][nh].name = "Content-Type";
                lb->headers[nt][nh].value = "application/json";
                nh++;
            }
        } else if (cJSON_IsString(body)) {
            t->body = body->valuestring;
        }
        t->headers = lb->headers[nt];
        t->n_headers = nh;
        nt++;
    }
    sp->templates = lb->tmpl;
    sp->n_templates = nt;
    return load_spec_validate(sp, err, errcap);
}

static void load_build_free(load_build_t *lb)
{
    for (size_t i = 0; i < LOAD_MAX_TEMPLATES; i++)
        cJSON_free(lb->bodies[i]);
}

/* The metric name of series slot (0 overall, 1 uncorrected, 2+i template i) into out. */
static void series_name(const exec_t *e, const load_result_t *res, size_t slot, char *out,
                        size_t cap)
{
    if (slot == 0)
        snprintf(out, cap, "%s", e->load_metric);
    else if (slot == 1)
        snprintf(out, cap, "%s.uncorrected", e->load_metric);
    else
        snprintf(out, cap, "%s.%s", e->load_metric,
                 res && slot - 2 < res->n_templates ? res->templates[slot - 2].name : "?");
}

static void log_series(exec_t *e, const load_result_t *res, size_t slot, double start_s,
                       double len_s, const hdr_histogram_t *h)
{
    if (!h || slot >= e->load_nlogged)
        return;
    char name[512];
    series_name(e, res, slot, name, sizeof(name));
    metrics_log_interval(e->st->o.metrics, name, start_s, len_s, h);
    if (!e->load_logged[slot])
        hdr_init(h->lowest_discernible_value, h->highest_trackable_value, h->significant_figures,
                 &e->load_logged[slot], NULL, 0);
    if (e->load_logged[slot])
        hdr_add(e->load_logged[slot], h, NULL);
}

/* At the end: log what the final histogram holds beyond the intervals already logged. */
static void log_series_rest(exec_t *e, const load_result_t *res, size_t slot,
                            const hdr_histogram_t *final, double end_s)
{
    if (!final || slot >= e->load_nlogged || end_s <= e->load_last_end_s)
        return;
    hdr_histogram_t *rest = NULL;
    if (hdr_init(final->lowest_discernible_value, final->highest_trackable_value,
                 final->significant_figures, &rest, NULL, 0))
        return;
    hdr_iter_t it;
    hdr_iter_recorded_init(&it, final);
    while (hdr_iter_next(&it)) {
        int64_t done =
            e->load_logged[slot] ? hdr_count_at_value(e->load_logged[slot], it.value) : 0;
        if (it.count > done)
            hdr_record_values(rest, it.value, it.count - done);
    }
    if (hdr_total_count(rest) > 0) {
        char name[512];
        series_name(e, res, slot, name, sizeof(name));
        metrics_log_interval(e->st->o.metrics, name, e->load_last_end_s, end_s - e->load_last_end_s,
                             rest);
    }
    hdr_free(rest);
}

static void load_progress(load_run_t *run, const load_progress_t *p, void *ud)
{
    exec_t *e = ud;
    steps_t *st = e->st;
    metrics_t *m = st->o.metrics;
    const char *name = e->load_metric;
    double now_s = (double)(e->load_start_ns + p->elapsed_ns - metrics_start_ns(m)) / 1e9;
    double len_s = (double)p->interval_ns / 1e9;
    double start_s = now_s - len_s;
    const load_result_t *res = load_run_result(run);
    log_series(e, res, 0, start_s, len_s, p->interval_corrected);
    log_series(e, res, 1, start_s, len_s, p->interval_uncorrected);
    for (size_t i = 0; i < p->n_templates; i++)
        log_series(e, res, 2 + i, start_s, len_s, p->interval_template_corrected[i]);
    e->load_last_end_s = now_s;
    /* live view for the gates: what was there before + what this phase measured so far */
    metric_t *mt = metrics_get(m, name);
    if (mt && mt->hist) {
        hdr_add(mt->hist, p->interval_corrected, NULL);
        mt->count = e->load_base_count + p->total->ok + p->total->failed;
        mt->errors = e->load_base_errors + p->total->failed;
    }
    if (st->o.gate_check && !e->gate_aborted) {
        char why[500];
        if (st->o.gate_check(st, name, p->elapsed_ns, why, sizeof(why), st->o.gate_ud)) {
            e->gate_aborted = 1;
            snprintf(e->last_fail, sizeof(e->last_fail), "aborted by %s", why);
            load_run_abort(run, MCP_ECANCELED);
        }
    }
}

static void sched_done(sup_t *sup, const char *name, int status, const char *message, void *ud)
{
    (void)sup;
    (void)name;
    sched_t *sc = ud;
    sc->state = SCHED_DONE;
    sc->status = status;
    snprintf(sc->msg, sizeof(sc->msg), "%s", status && message ? message : "");
    exec_unref(sc->e);
}

static void sched_fire(uv_timer_t *t)
{
    sched_t *sc = t->data;
    exec_t *e = sc->e;
    steps_t *st = e->st;
    if (e->finished || !e->load)
        return;
    if (st->gateway_url || !st->o.sup) {
        sc->state = SCHED_SKIPPED;
        snprintf(sc->msg, sizeof(sc->msg), "needs local process control (staging mode)");
        return;
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(sc->entry, sc->action);
    char err[300] = "";
    int rc;
    sc->state = SCHED_RUNNING;
    e->refs++;
    if (strcmp(sc->action, "faults") == 0) {
        rc = sup_set_faults(st->o.sup, sc->process, cJSON_GetObjectItemCaseSensitive(a, "rules"),
                            sched_done, sc, err, sizeof(err));
    } else {
        static const struct {
            const char *name;
            sup_action_t act;
        } acts[] = {{"kill", SUP_ACT_KILL},         {"stop", SUP_ACT_STOP},
                    {"continue", SUP_ACT_CONTINUE}, {"restart", SUP_ACT_RESTART},
                    {"start", SUP_ACT_START},       {"terminate", SUP_ACT_TERMINATE},
                    {"signal", SUP_ACT_SIGNAL}};
        sup_action_t act = SUP_ACT_SIGNAL;
        for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
            if (strcmp(acts[i].name, sc->action) == 0)
                act = acts[i].act;
        int signum = 0;
        if (act == SUP_ACT_SIGNAL) {
            const cJSON *sig = cJSON_GetObjectItemCaseSensitive(a, "signal");
            char num[16];
            if (cJSON_IsNumber(sig))
                snprintf(num, sizeof(num), "%d", sig->valueint);
            signum = sup_signal_number(cJSON_IsNumber(sig) ? num : cJSON_GetStringValue(sig));
        }
        if (act == SUP_ACT_SIGNAL && signum < 0) {
            snprintf(err, sizeof(err), "unknown signal");
            rc = MCP_EINVAL;
        } else {
            rc = sup_action(st->o.sup, sc->process, act, signum, sched_done, sc, err, sizeof(err));
        }
    }
    if (rc) {
        e->refs--;
        sc->state = SCHED_DONE;
        sc->status = rc;
        snprintf(sc->msg, sizeof(sc->msg), "%s", err[0] ? err : mcp_strerror(rc));
    }
}

/* Arm the schedule's timers (offsets from now, the start of the load phase). */
static int sched_start(exec_t *e)
{
    const cJSON *sched = cJSON_GetObjectItemCaseSensitive(e->body, "schedule");
    size_t n = (size_t)cJSON_GetArraySize(sched);
    if (!n)
        return 0;
    e->sched = mcp_calloc(n, sizeof(*e->sched));
    if (!e->sched)
        return MCP_ENOMEM;
    size_t i = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, sched)
    {
        sched_t *sc = &e->sched[i++];
        sc->e = e;
        sc->entry = entry;
        const cJSON *c;
        cJSON_ArrayForEach(c, entry)
        {
            if (strcmp(c->string, "at") != 0)
                sc->action = c->string;
        }
        const cJSON *a = sc->action ? cJSON_GetObjectItemCaseSensitive(entry, sc->action) : NULL;
        sc->process = cJSON_IsString(a)
                          ? a->valuestring
                          : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "process"));
        scn_parse_duration(cJSON_GetObjectItemCaseSensitive(entry, "at"), &sc->at_ns);
        uv_timer_init(e->st->o.loop, &sc->timer);
        sc->timer.data = sc;
        e->handles++;
        e->nsched = i;
        if (sc->action && sc->process)
            uv_timer_start(&sc->timer, sched_fire, sc->at_ns / 1000000ULL, 0);
        else
            sc->state = SCHED_SKIPPED;
    }
    return 0;
}

/* The schedule's outcome as JSON; *failed gets the first failed entry's description. */
static cJSON *sched_report(exec_t *e, char *failed, size_t cap)
{
    cJSON *arr = cJSON_CreateArray();
    failed[0] = '\0';
    for (size_t i = 0; arr && i < e->nsched; i++) {
        sched_t *sc = &e->sched[i];
        uv_timer_stop(&sc->timer);
        static const char *const names[] = {"not reached", "pending", "done", "skipped"};
        const char *state = sc->state == SCHED_DONE && sc->status ? "failed" : names[sc->state];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddNumberToObject(o, "atMs", (double)sc->at_ns / 1e6);
        cJSON_AddStringToObject(o, "action", sc->action ? sc->action : "?");
        cJSON_AddStringToObject(o, "process", sc->process ? sc->process : "?");
        cJSON_AddStringToObject(o, "status", state);
        if (sc->msg[0])
            cJSON_AddStringToObject(o, "message", sc->msg);
        cJSON_AddItemToArray(arr, o);
        if (!failed[0] && sc->state == SCHED_DONE && sc->status)
            snprintf(failed, cap, "scheduled %s %s at %.0fms failed: %s", sc->action,
                     sc->process ? sc->process : "?", (double)sc->at_ns / 1e6, sc->msg);
    }
    return arr;
}

static void load_done(load_run_t *run, const load_result_t *res, void *ud)
{
    exec_t *e = ud;
    steps_t *st = e->st;
    metrics_t *m = st->o.metrics;
    const char *name = e->load_metric;
    double end_s = (double)(clock_mono_ns() - metrics_start_ns(m)) / 1e9;
    log_series_rest(e, res, 0, res->corrected, end_s);
    log_series_rest(e, res, 1, res->uncorrected, end_s);
    for (size_t i = 0; i < res->n_templates; i++)
        log_series_rest(e, res, 2 + i, res->templates[i].corrected, end_s);
    metric_t *mt = NULL;
    metrics_ensure(m, name, 1, &mt);
    if (mt) {
        hdr_reset(mt->hist);
        if (e->load_base)
            hdr_add(mt->hist, e->load_base, NULL);
        hdr_add(mt->hist, res->corrected, NULL);
        mt->count = e->load_base_count;
        mt->errors = e->load_base_errors;
    }
    metrics_add_counts(m, name, res->total.ok + res->total.failed, res->total.failed,
                       res->measured_ns);
    char sub[512];
    snprintf(sub, sizeof(sub), "%s.uncorrected", name);
    metrics_add_histogram(m, sub, res->uncorrected);
    metrics_add_counts(m, sub, res->total.ok + res->total.failed, res->total.failed,
                       res->measured_ns);
    for (size_t i = 0; i < res->n_templates; i++) {
        const load_template_result_t *t = &res->templates[i];
        snprintf(sub, sizeof(sub), "%s.%s", name, t->name);
        metrics_add_histogram(m, sub, t->corrected);
        metrics_add_counts(m, sub, t->counters.ok + t->counters.failed, t->counters.failed,
                           res->measured_ns);
    }
    snprintf(sub, sizeof(sub), "%s.dropped", name);
    metrics_add_counts(m, sub, res->total.dropped, 0, res->measured_ns);
    snprintf(sub, sizeof(sub), "%s.late", name);
    metrics_add_counts(m, sub, res->total.late, 0, res->measured_ns);
    cJSON *doc = cJSON_CreateObject();
    if (doc) {
        cJSON_AddNumberToObject(doc, "sent", (double)res->total.sent);
        cJSON_AddNumberToObject(doc, "completed", (double)res->total.completed);
        cJSON_AddNumberToObject(doc, "ok", (double)res->total.ok);
        cJSON_AddNumberToObject(doc, "failed", (double)res->total.failed);
        cJSON *ec = cJSON_AddObjectToObject(doc, "errors");
        for (int i = 0; ec && i < LOAD_ERR_COUNT_; i++)
            cJSON_AddNumberToObject(ec, load_err_class_name((load_err_class_t)i),
                                    (double)res->total.errors[i]);
        cJSON_AddNumberToObject(doc, "late", (double)res->total.late);
        cJSON_AddNumberToObject(doc, "dropped", (double)res->total.dropped);
        cJSON_AddNumberToObject(doc, "maxLagMs", (double)res->total.max_lag_ns / 1e6);
        cJSON_AddNumberToObject(doc, "achievedRate", res->achieved_rate);
        cJSON_AddNumberToObject(doc, "connects", (double)res->connects);
    }
    char sched_fail[400] = "";
    if (e->nsched) {
        cJSON *sr = sched_report(e, sched_fail, sizeof(sched_fail));
        if (doc && sr)
            cJSON_AddItemToObject(doc, "schedule", sr);
        else
            cJSON_Delete(sr);
    }
    cJSON_Delete(e->response);
    e->response = doc;
    e->load = NULL;
    if (!e->finished) {
        if (e->gate_aborted)
            exec_finish(e, STEP_FAILED, "%s", e->last_fail);
        else if (sched_fail[0])
            exec_finish(e, STEP_FAILED, "%s", sched_fail);
        else if (res->status)
            exec_finish(e, STEP_FAILED, "load run ended with an error: %s",
                        mcp_strerror(res->status));
        else
            exec_finish(e, STEP_PASSED, NULL);
    }
    load_run_free(run);
    exec_unref(e);
}
#endif

static void run_load(exec_t *e)
{
#ifdef MCP_HARNESS_HAVE_LOAD
    steps_t *st = e->st;
    load_build_t *lb = mcp_calloc(1, sizeof(*lb));
    if (!lb) {
        exec_finish(e, STEP_ERROR, "out of memory");
        return;
    }
    char err[600];
    int rc = load_build(e, lb, err, sizeof(err));
    if (rc) {
        load_build_free(lb);
        mcp_free(lb);
        exec_finish(e, STEP_ERROR, "load: %s", err);
        return;
    }
    e->load_metric = mcp_strdup(e->step->histogram ? e->step->histogram : "load");
    metric_t *mt = NULL;
    if (e->load_metric)
        metrics_ensure(st->o.metrics, e->load_metric, 1, &mt);
    if (mt) {
        hdr_init(METRICS_LOWEST_NS, METRICS_HIGHEST_NS, METRICS_SIGFIGS, &e->load_base, NULL, 0);
        if (e->load_base)
            hdr_add(e->load_base, mt->hist, NULL);
        e->load_base_count = mt->count;
        e->load_base_errors = mt->errors;
    }
    e->load_start_ns = clock_mono_ns();
    e->load_last_end_s = (double)(e->load_start_ns - metrics_start_ns(st->o.metrics)) / 1e9;
    e->load_nlogged = 2 + lb->spec.n_templates + (lb->spec.n_templates == 0);
    e->load_logged = mcp_calloc(e->load_nlogged, sizeof(*e->load_logged));
    if (!e->load_logged)
        e->load_nlogged = 0;
    e->refs++;
    rc = load_run_start(st->o.loop, &lb->spec, load_progress, load_done, e, &e->load, err,
                        sizeof(err));
    load_build_free(lb);
    mcp_free(lb);
    if (rc) {
        e->refs--;
        exec_finish(e, STEP_ERROR, "load: %s", err);
        return;
    }
    if (sched_start(e))
        load_run_abort(e->load, MCP_ENOMEM);
#else
    exec_finish(e, STEP_ERROR,
                "load phases are not available in this build (harness/load.c is not linked)");
#endif
}

/* ---- dispatch ---- */

static void exec_begin(exec_t *e)
{
    const scn_step_t *s = e->step;
    if (s->body) {
        char err[600];
        int rc = vars_expand_json(e->st->o.vars, s->body, &e->body, err, sizeof(err));
        if (rc) {
            exec_finish(e, STEP_ERROR, "%s.%s", scn_step_kind_name(s->kind), err);
            return;
        }
    }
    /* expectations may compare with captured values ("${sid}") */
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(s->json, "expect");
    if (exp) {
        char err[600];
        int rc = vars_expand_json(e->st->o.vars, exp, &e->expect, err, sizeof(err));
        if (rc) {
            exec_finish(e, STEP_ERROR, "expect.%s", err);
            return;
        }
    }
    if (s->kind != SCN_STEP_WAIT)
        uv_timer_start(&e->timer, exec_timeout, s->timeout_ns / 1000000ULL + 1, 0);
    switch (s->kind) {
    case SCN_STEP_HTTP: run_http(e); break;
    case SCN_STEP_MCP: run_mcp(e); break;
    case SCN_STEP_CHAT: run_chat(e); break;
    case SCN_STEP_WAIT: run_wait(e); break;
    case SCN_STEP_SLEEP: run_sleep(e); break;
    case SCN_STEP_LOAD: run_load(e); break;
    case SCN_STEP_KILL:
    case SCN_STEP_STOP:
    case SCN_STEP_CONTINUE:
    case SCN_STEP_RESTART:
    case SCN_STEP_START:
    case SCN_STEP_TERMINATE:
    case SCN_STEP_SIGNAL:
    case SCN_STEP_FAULTS: run_action(e); break;
    case SCN_STEP_KIND_COUNT_: exec_finish(e, STEP_ERROR, "internal: bad step kind"); break;
    }
}

static void begin_cb(uv_timer_t *t)
{
    exec_t *e = t->data;
    uv_timer_stop(&e->aux);
    if (!e->finished)
        exec_begin(e);
}

static int exec_start(steps_t *st, const scn_step_t *step, exec_t *parent, exec_done_fn on_done,
                      exec_t **out)
{
    exec_t *e;
    int rc = exec_new(st, step, parent, &e);
    if (rc)
        return rc;
    e->on_done = on_done;
    *out = e;
    /* begin from the loop, so no callback runs inside steps_run */
    uv_timer_start(&e->aux, begin_cb, 0, 0);
    return 0;
}

/* ---- public ---- */

int steps_new(const steps_options_t *opts, steps_t **out)
{
    if (!opts || !opts->loop || !opts->vars || !opts->metrics || !opts->http || !opts->scenario)
        return MCP_EINVAL;
    steps_t *st = mcp_calloc(1, sizeof(*st));
    if (!st)
        return MCP_ENOMEM;
    st->o = *opts;
    if (opts->gateway_url) {
        st->gateway_url = mcp_strdup(opts->gateway_url);
        if (!st->gateway_url) {
            mcp_free(st);
            return MCP_ENOMEM;
        }
        size_t n = strlen(st->gateway_url);
        while (n > 0 && st->gateway_url[n - 1] == '/')
            st->gateway_url[--n] = '\0';
        st->o.gateway_url = st->gateway_url;
    }
    size_t nh = 0;
    while (opts->headers && opts->headers[nh])
        nh++;
    st->o.headers = NULL;
    if (nh) {
        st->hname = mcp_calloc(nh, sizeof(char *));
        st->hvalue = mcp_calloc(nh, sizeof(char *));
        if (!st->hname || !st->hvalue) {
            steps_free(st);
            return MCP_ENOMEM;
        }
        for (size_t i = 0; i < nh; i++) {
            const char *line = opts->headers[i];
            const char *colon = strchr(line, ':');
            if (!colon || colon == line) {
                steps_free(st);
                return MCP_EINVAL;
            }
            const char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            st->hname[i] = mcp_strndup(line, (size_t)(colon - line));
            st->hvalue[i] = mcp_strdup(v);
            st->nheaders = i + 1;
            if (!st->hname[i] || !st->hvalue[i]) {
                steps_free(st);
                return MCP_ENOMEM;
            }
        }
    }
    *out = st;
    return 0;
}

int steps_run(steps_t *st, const scn_step_t *step, steps_done_fn cb, void *ud)
{
    if (st->current || st->closing)
        return MCP_ESTATE;
    exec_t *e;
    int rc = exec_start(st, step, NULL, NULL, &e);
    if (rc)
        return rc;
    e->cb = cb;
    e->ud = ud;
    st->current = e;
    return 0;
}

static void cancel_fire(uv_timer_t *t)
{
    exec_t *e = t->data;
    exec_finish(e, STEP_FAILED, "%s", e->last_fail);
}

void steps_cancel(steps_t *st, const char *reason)
{
    exec_t *e = st->current;
    if (!e || e->finished)
        return;
    exec_abandon(e);
    snprintf(e->last_fail, sizeof(e->last_fail), "%s", reason ? reason : "canceled");
    uv_timer_stop(&e->timer);
    uv_timer_start(&e->aux, cancel_fire, 0, 0);
}

static void check_closed(steps_t *st)
{
    if (!st->closing || st->freed)
        return;
    if (st->current || st->sessions || st->closing_sessions || st->live_execs || st->defer_open)
        return;
    steps_closed_fn cb = st->closed_cb;
    st->closed_cb = NULL;
    if (cb)
        cb(st, st->closed_ud);
}

static void defer_closed(uv_handle_t *h)
{
    steps_t *st = h->data;
    /* only now may the owner free st: libuv still holds the handle until this callback */
    st->defer_open = 0;
    check_closed(st);
}

static void close_defer(uv_timer_t *t)
{
    steps_t *st = t->data;
    uv_close((uv_handle_t *)&st->defer, defer_closed);
}

int steps_close(steps_t *st, steps_closed_fn cb, void *ud)
{
    if (st->closing)
        return MCP_ESTATE;
    st->closing = 1;
    st->closed_cb = cb;
    st->closed_ud = ud;
    steps_cancel(st, "the run is stopping");
    while (st->sessions)
        session_drop(st, st->sessions);
    uv_timer_init(st->o.loop, &st->defer);
    st->defer.data = st;
    st->defer_open = 1;
    uv_timer_start(&st->defer, close_defer, 0, 0);
    return 0;
}

void steps_free(steps_t *st)
{
    if (!st)
        return;
    st->freed = 1;
    for (size_t i = 0; i < st->nheaders; i++) {
        mcp_free(st->hname[i]);
        mcp_free(st->hvalue[i]);
    }
    mcp_free(st->hname);
    mcp_free(st->hvalue);
    mcp_free(st->gateway_url);
    mcp_free(st);
}
