/* load: open-loop and closed-loop HTTP/1.1 load generation (see load.h). */
#include "load.h"

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "log.h"
#include "rng.h"
#include "sse.h"

#include <cjson/cJSON.h>
#include <http_parser.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECTIONS     16u
#define DEFAULT_TIMEOUT_MS      10000u
#define DEFAULT_MAX_BODY        (1024u * 1024u)
#define DEFAULT_HIST_HIGHEST_NS INT64_C(60000000000)
#define READ_BUF_SIZE           (64u * 1024u)
/* A closed loop whose connect failed waits this long before it tries again, so a refused port
 * does not turn the loop into a busy spin of failed connects. */
#define CONNECT_BACKOFF_MS 10u
/* Arrivals emitted per scheduler tick at most; the rest follow on the next loop turn. */
#define MAX_EMIT_PER_TICK 100000u
#define SSE_MAX_EVENT     (4u * 1024u * 1024u)

/* ---- internal types ---- */

typedef struct tmpl_s {
    char *req; /* serialized request */
    size_t req_len;
    uint64_t cum_weight; /* sum of weights up to and including this one */
    char *expect_body;   /* NULL: none */
    bool head;           /* HEAD: the response has no body whatever its headers say */
} tmpl_t;

typedef struct phase_s {
    uint64_t start_ns; /* offset from the run start */
    uint64_t dur_ns;
    bool warmup;
    double r0, r1;
    uint32_t concurrency;
    uint64_t think_ns;
} phase_t;

/* An arrival waiting for a connection (open loop). */
typedef struct pending_s {
    uint64_t intended;
    uint32_t tmpl;
    uint32_t phase;
} pending_t;

typedef enum {
    CONN_DISCONNECTED = 0, /* no handle */
    CONN_CONNECTING,
    CONN_CONNECTED,
    CONN_CLOSING, /* uv_close called, waiting for the close callback */
} conn_state_t;

enum { LIST_NONE = 0, LIST_READY, LIST_DISC };

typedef struct conn_s conn_t;
struct conn_s {
    load_run_t *run;
    uint32_t index;
    conn_state_t state;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    /* Two, because a write's callback can still be queued when its answer has arrived and the
     * next request needs uv_write. */
    uv_write_t write_req[2];
    uv_timer_t timer; /* closed loop: think time and connect back-off */
    http_parser parser;

    /* free lists (open loop) */
    conn_t *prev, *next;
    int list;

    /* the request in flight */
    bool busy;
    bool write_pending[2];
    uint32_t tmpl;
    uint32_t phase;
    uint64_t intended; /* open: schedule; closed: = t_send */
    uint64_t t_send;
    uint64_t deadline;

    /* response parsing */
    bool complete;
    bool sse;
    bool sse_done; /* a JSON-RPC response arrived on an SSE stream: complete, then close */
    int ct_field;  /* header field match progress against "content-type"; -1 = no match */
    int ct_value;  /* value match progress against "text/event-stream"; -1 = no match */
    bool last_was_value;
    buf_t body;
    sse_parser_t sse_parser;
    bool sse_inited;

    /* closed loop */
    bool vu_active;
    bool vu_want_next; /* start the next iteration when the close callback ran */
    bool timer_inited;
    uint64_t next_delay_ns;
};

struct load_run_s {
    uv_loop_t *loop;
    load_progress_fn progress_cb;
    load_done_fn done_cb;
    void *user;

    load_model_t model;
    struct sockaddr_storage addr;
    uint32_t n_conns;
    conn_t *conns;
    conn_t *ready_head; /* connected, idle */
    conn_t *disc_head;  /* disconnected, idle */
    uint64_t timeout_ns;
    uint32_t max_outstanding;
    int ok_class;
    size_t max_body;
    bool want_body;
    int64_t hist_high;
    uint64_t expected_interval_ns;

    size_t n_tmpls;
    tmpl_t *tmpls;
    uint64_t total_weight;
    rng_t rng; /* template mix */

    size_t n_phases;
    phase_t *phases;

    /* schedule */
    uint64_t t0;
    size_t cur_phase;
    uint64_t k; /* arrival index within the current phase (open) */
    uint64_t next_intended;
    bool sending_done;
    uint64_t sending_end; /* when sending stopped */
    uint32_t cur_conc;
    uint64_t cur_think_ns;

    pending_t *backlog; /* ring of max_outstanding entries */
    uint32_t bl_head, bl_len;
    uint32_t in_flight;

    uv_timer_t sched_timer;
    uv_timer_t sweep_timer;
    uv_timer_t progress_timer;
    bool progress_inited;
    uint64_t last_progress;

    /* interval stats (progress) */
    uint64_t iv_sent, iv_completed, iv_errors, iv_late, iv_dropped;
    hdr_histogram_t *iv_corr, *iv_uncorr;
    hdr_histogram_t **iv_t_corr, **iv_t_uncorr;

    load_result_t *result;
    bool result_taken;

    /* shutdown */
    bool shutting_down;
    int open_handles;
    bool done_called;
    bool aborted;

    char *read_buf;
};

const char *load_err_class_name(load_err_class_t c)
{
    static const char *const names[LOAD_ERR_COUNT_] = {"connect", "timeout", "reset",
                                                       "proto",   "status",  "body"};
    return (unsigned)c < LOAD_ERR_COUNT_ ? names[c] : "unknown";
}

/* ---- validation ---- */

__attribute__((format(printf, 3, 4))) static int fail_inval(char *err, size_t cap, const char *fmt,
                                                            ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return MCP_EINVAL;
}

static bool is_token_char(unsigned char c)
{
    return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

static bool is_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!is_token_char((unsigned char)*s))
            return false;
    return true;
}

static bool has_crlf(const char *s)
{
    return s && (strchr(s, '\r') || strchr(s, '\n'));
}

static bool valid_target(const char *p)
{
    if (!p || p[0] != '/')
        return false;
    for (; *p; p++)
        if ((unsigned char)*p <= 32 || *p == 127)
            return false;
    return true;
}

static int resolve_host(const char *host, uint16_t port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (!host)
        return MCP_EINVAL;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    char tmp[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof tmp) {
        memcpy(tmp, host + 1, n - 2);
        tmp[n - 2] = 0;
        host = tmp;
    }
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return MCP_EINVAL;
}

int load_spec_validate(const load_spec_t *spec, char *err, size_t cap)
{
    if (err && cap)
        err[0] = 0;
    if (!spec)
        return fail_inval(err, cap, "spec: NULL");
    struct sockaddr_storage ss;
    if (!spec->host || resolve_host(spec->host, spec->port, &ss) != 0)
        return fail_inval(err, cap, "host: must be an IPv4/IPv6 literal or localhost (got %s)",
                          spec->host ? spec->host : "NULL");
    if (spec->port == 0)
        return fail_inval(err, cap, "port: must be 1..65535");
    if (spec->path && !valid_target(spec->path))
        return fail_inval(err, cap, "path: must start with '/' and contain no spaces or controls");
    if (has_crlf(spec->host_header))
        return fail_inval(err, cap, "host_header: must not contain CR or LF");
    if (spec->model != LOAD_MODEL_OPEN && spec->model != LOAD_MODEL_CLOSED)
        return fail_inval(err, cap, "model: must be open or closed");
    if (spec->connections > LOAD_MAX_CONNECTIONS)
        return fail_inval(err, cap, "connections: at most %d", LOAD_MAX_CONNECTIONS);
    if (!spec->phases || spec->n_phases == 0)
        return fail_inval(err, cap, "phases: at least one phase is needed");
    if (spec->n_phases > LOAD_MAX_PHASES)
        return fail_inval(err, cap, "phases: at most %d", LOAD_MAX_PHASES);
    for (size_t i = 0; i < spec->n_phases; i++) {
        const load_phase_t *p = &spec->phases[i];
        if (p->duration_ms == 0)
            return fail_inval(err, cap, "phases[%zu].duration_ms: must be > 0", i);
        if (p->duration_ms > UINT64_C(1000) * 86400 * 365)
            return fail_inval(err, cap, "phases[%zu].duration_ms: too large", i);
        if (spec->model == LOAD_MODEL_OPEN) {
            if (!(p->rate_start >= 0) || !isfinite(p->rate_start))
                return fail_inval(err, cap, "phases[%zu].rate_start: must be >= 0", i);
            if (isnan(p->rate_end) || isinf(p->rate_end))
                return fail_inval(err, cap, "phases[%zu].rate_end: must be a number", i);
            double r1 = p->rate_end < 0 ? p->rate_start : p->rate_end;
            if (p->rate_start == 0 && r1 == 0)
                return fail_inval(err, cap, "phases[%zu]: rate_start and rate_end are both 0", i);
            if (p->rate_start > 1e7 || r1 > 1e7)
                return fail_inval(err, cap, "phases[%zu]: rate above 10000000/s", i);
        } else {
            if (p->concurrency == 0)
                return fail_inval(err, cap, "phases[%zu].concurrency: must be >= 1", i);
            if (p->concurrency > LOAD_MAX_CONNECTIONS)
                return fail_inval(err, cap, "phases[%zu].concurrency: at most %d", i,
                                  LOAD_MAX_CONNECTIONS);
        }
    }
    if (spec->n_templates > LOAD_MAX_TEMPLATES)
        return fail_inval(err, cap, "templates: at most %d", LOAD_MAX_TEMPLATES);
    if (spec->n_templates > 0 && !spec->templates)
        return fail_inval(err, cap, "templates: NULL with n_templates > 0");
    for (size_t i = 0; i < spec->n_templates; i++) {
        const load_template_t *t = &spec->templates[i];
        if (t->name && (!*t->name || has_crlf(t->name)))
            return fail_inval(err, cap, "templates[%zu].name: empty or with CR/LF", i);
        for (size_t j = 0; j < i; j++)
            if (t->name && spec->templates[j].name && strcmp(t->name, spec->templates[j].name) == 0)
                return fail_inval(err, cap, "templates[%zu].name: duplicate \"%s\"", i, t->name);
        if (t->method && !is_token(t->method))
            return fail_inval(err, cap, "templates[%zu].method: not a token", i);
        if (t->path && !valid_target(t->path))
            return fail_inval(err, cap,
                              "templates[%zu].path: must start with '/' and contain no spaces", i);
        if (t->n_headers > LOAD_MAX_HEADERS)
            return fail_inval(err, cap, "templates[%zu].headers: at most %d", i, LOAD_MAX_HEADERS);
        if (t->n_headers && !t->headers)
            return fail_inval(err, cap, "templates[%zu].headers: NULL", i);
        for (size_t j = 0; j < t->n_headers; j++) {
            const load_header_t *h = &t->headers[j];
            if (!is_token(h->name))
                return fail_inval(err, cap, "templates[%zu].headers[%zu].name: not a token", i, j);
            if (!h->value || has_crlf(h->value))
                return fail_inval(err, cap, "templates[%zu].headers[%zu].value: NULL or CR/LF", i,
                                  j);
            static const char *const reserved[] = {"host", "content-length", "transfer-encoding",
                                                   "connection"};
            for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
                if (strcasecmp(h->name, reserved[r]) == 0)
                    return fail_inval(err, cap,
                                      "templates[%zu].headers[%zu]: %s is set by the generator", i,
                                      j, h->name);
        }
    }
    if (spec->ok_status_class < 0 || spec->ok_status_class > 5)
        return fail_inval(err, cap, "ok_status_class: must be 1..5 (0 = 2)");
    int64_t lo = spec->hist_lowest_ns ? spec->hist_lowest_ns : 1;
    int64_t hi = spec->hist_highest_ns ? spec->hist_highest_ns : DEFAULT_HIST_HIGHEST_NS;
    int sf = spec->hist_sigfigs ? spec->hist_sigfigs : 3;
    hdr_histogram_t layout;
    char herr[128];
    if (hdr_calculate_layout(lo, hi, sf, &layout, herr, sizeof herr) != 0)
        return fail_inval(err, cap, "histogram: %s", herr);
    return 0;
}

/* ---- setup ---- */

static int serialize_template(const load_spec_t *spec, const load_template_t *t,
                              const char *hosthdr, tmpl_t *out)
{
    buf_t b;
    buf_init(&b, 64u * 1024u * 1024u);
    const char *method = t->method ? t->method : (t->body ? "POST" : "GET");
    const char *path = t->path ? t->path : (spec->path ? spec->path : "/");
    size_t blen = t->body ? (t->body_len ? t->body_len : strlen(t->body)) : 0;
    int rc = buf_appendf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, hosthdr);
    for (size_t i = 0; rc == 0 && i < t->n_headers; i++)
        rc = buf_appendf(&b, "%s: %s\r\n", t->headers[i].name, t->headers[i].value);
    if (rc == 0 && t->body)
        rc = buf_appendf(&b, "Content-Length: %zu\r\n", blen);
    if (rc == 0)
        rc = buf_append(&b, "\r\n", 2);
    if (rc == 0 && blen)
        rc = buf_append(&b, t->body, blen);
    if (rc != 0) {
        buf_free(&b);
        return rc;
    }
    out->req = buf_detach(&b, &out->req_len);
    if (!out->req)
        return MCP_ENOMEM;
    out->head = strcasecmp(method, "HEAD") == 0;
    return 0;
}

static void counters_add_error(load_counters_t *c, load_err_class_t cls)
{
    c->errors[cls]++;
    c->failed++;
}

void load_result_free(load_result_t *r)
{
    if (!r)
        return;
    hdr_free(r->corrected);
    hdr_free(r->uncorrected);
    for (size_t i = 0; i < r->n_templates; i++) {
        mcp_free(r->templates[i].name);
        hdr_free(r->templates[i].corrected);
        hdr_free(r->templates[i].uncorrected);
    }
    mcp_free(r->templates);
    for (size_t i = 0; i < r->n_phases; i++)
        mcp_free(r->phases[i].name);
    mcp_free(r->phases);
    mcp_free(r);
}

static void run_release(load_run_t *run)
{
    if (run->conns) {
        for (uint32_t i = 0; i < run->n_conns; i++) {
            buf_free(&run->conns[i].body);
            if (run->conns[i].sse_inited)
                sse_parser_free(&run->conns[i].sse_parser);
        }
    }
    mcp_free(run->conns);
    for (size_t i = 0; run->tmpls && i < run->n_tmpls; i++) {
        mcp_free(run->tmpls[i].req);
        mcp_free(run->tmpls[i].expect_body);
    }
    mcp_free(run->tmpls);
    mcp_free(run->phases);
    mcp_free(run->backlog);
    hdr_free(run->iv_corr);
    hdr_free(run->iv_uncorr);
    for (size_t i = 0; i < run->n_tmpls; i++) {
        if (run->iv_t_corr)
            hdr_free(run->iv_t_corr[i]);
        if (run->iv_t_uncorr)
            hdr_free(run->iv_t_uncorr[i]);
    }
    mcp_free(run->iv_t_corr);
    mcp_free(run->iv_t_uncorr);
    if (!run->result_taken)
        load_result_free(run->result);
    mcp_free(run->read_buf);
    mcp_free(run);
}

static int new_hist(const load_spec_t *spec, hdr_histogram_t **out)
{
    int64_t lo = spec->hist_lowest_ns ? spec->hist_lowest_ns : 1;
    int64_t hi = spec->hist_highest_ns ? spec->hist_highest_ns : DEFAULT_HIST_HIGHEST_NS;
    int sf = spec->hist_sigfigs ? spec->hist_sigfigs : 3;
    return hdr_init(lo, hi, sf, out, NULL, 0);
}

static int build_result(load_run_t *run, const load_spec_t *spec, size_t n_tmpl)
{
    load_result_t *r = mcp_calloc(1, sizeof *r);
    if (!r)
        return MCP_ENOMEM;
    run->result = r;
    r->templates = mcp_calloc(n_tmpl, sizeof *r->templates);
    r->phases = mcp_calloc(spec->n_phases, sizeof *r->phases);
    if (!r->templates || !r->phases)
        return MCP_ENOMEM;
    r->n_templates = n_tmpl;
    r->n_phases = spec->n_phases;
    int rc = new_hist(spec, &r->corrected);
    if (rc == 0)
        rc = new_hist(spec, &r->uncorrected);
    for (size_t i = 0; rc == 0 && i < n_tmpl; i++) {
        const char *nm = spec->n_templates ? spec->templates[i].name : NULL;
        r->templates[i].name = nm ? mcp_strdup(nm) : mcp_asprintf("t%zu", i);
        if (!r->templates[i].name)
            return MCP_ENOMEM;
        rc = new_hist(spec, &r->templates[i].corrected);
        if (rc == 0)
            rc = new_hist(spec, &r->templates[i].uncorrected);
    }
    for (size_t i = 0; rc == 0 && i < spec->n_phases; i++) {
        const char *nm = spec->phases[i].name;
        r->phases[i].name = nm ? mcp_strdup(nm) : mcp_asprintf("p%zu", i);
        if (!r->phases[i].name)
            return MCP_ENOMEM;
        r->phases[i].warmup = spec->phases[i].warmup;
    }
    if (rc == 0 && run->progress_cb) {
        rc = new_hist(spec, &run->iv_corr);
        if (rc == 0)
            rc = new_hist(spec, &run->iv_uncorr);
        run->iv_t_corr = mcp_calloc(n_tmpl, sizeof *run->iv_t_corr);
        run->iv_t_uncorr = mcp_calloc(n_tmpl, sizeof *run->iv_t_uncorr);
        if (!run->iv_t_corr || !run->iv_t_uncorr)
            return MCP_ENOMEM;
        for (size_t i = 0; rc == 0 && i < n_tmpl; i++) {
            rc = new_hist(spec, &run->iv_t_corr[i]);
            if (rc == 0)
                rc = new_hist(spec, &run->iv_t_uncorr[i]);
        }
    }
    return rc;
}

static int setup(load_run_t *run, const load_spec_t *spec)
{
    (void)resolve_host(spec->host, spec->port, &run->addr);
    run->model = spec->model;
    run->timeout_ns =
        (spec->timeout_ms ? spec->timeout_ms : DEFAULT_TIMEOUT_MS) * UINT64_C(1000000);
    run->ok_class = spec->ok_status_class ? spec->ok_status_class : 2;
    run->max_body = spec->max_body_bytes ? spec->max_body_bytes : DEFAULT_MAX_BODY;
    run->expected_interval_ns = spec->expected_interval_us * UINT64_C(1000);
    run->hist_high = spec->hist_highest_ns ? spec->hist_highest_ns : DEFAULT_HIST_HIGHEST_NS;

    if (spec->model == LOAD_MODEL_OPEN) {
        run->n_conns = spec->connections ? spec->connections : DEFAULT_CONNECTIONS;
        uint64_t mo = spec->max_outstanding ? spec->max_outstanding : 4ull * run->n_conns;
        if (mo < run->n_conns)
            mo = run->n_conns;
        run->max_outstanding = (uint32_t)(mo > UINT32_MAX / 2 ? UINT32_MAX / 2 : mo);
    } else {
        uint32_t mx = 0;
        for (size_t i = 0; i < spec->n_phases; i++)
            if (spec->phases[i].concurrency > mx)
                mx = spec->phases[i].concurrency;
        run->n_conns = mx;
        run->max_outstanding = mx;
    }

    char hostbuf[96];
    const char *hosthdr = spec->host_header;
    if (!hosthdr) {
        bool v6 = run->addr.ss_family == AF_INET6 && spec->host[0] != '[';
        snprintf(hostbuf, sizeof hostbuf, v6 ? "[%s]:%u" : "%s:%u", spec->host,
                 (unsigned)spec->port);
        hosthdr = hostbuf;
    }

    size_t n_tmpl = spec->n_templates ? spec->n_templates : 1;
    run->n_tmpls = n_tmpl;
    run->tmpls = mcp_calloc(n_tmpl, sizeof *run->tmpls);
    if (!run->tmpls)
        return MCP_ENOMEM;
    load_template_t deflt = {0};
    for (size_t i = 0; i < n_tmpl; i++) {
        const load_template_t *t = spec->n_templates ? &spec->templates[i] : &deflt;
        int rc = serialize_template(spec, t, hosthdr, &run->tmpls[i]);
        if (rc != 0)
            return rc == MCP_ENOBUFS ? MCP_EINVAL : rc;
        run->total_weight += t->weight ? t->weight : 1;
        run->tmpls[i].cum_weight = run->total_weight;
        const char *eb = t->expect_body ? t->expect_body : spec->expect_body;
        if (eb && *eb) {
            run->tmpls[i].expect_body = mcp_strdup(eb);
            if (!run->tmpls[i].expect_body)
                return MCP_ENOMEM;
            run->want_body = true;
        }
    }
    rng_seed(&run->rng, spec->seed);

    run->n_phases = spec->n_phases;
    run->phases = mcp_calloc(spec->n_phases, sizeof *run->phases);
    if (!run->phases)
        return MCP_ENOMEM;
    uint64_t off = 0;
    for (size_t i = 0; i < spec->n_phases; i++) {
        const load_phase_t *p = &spec->phases[i];
        phase_t *q = &run->phases[i];
        q->start_ns = off;
        q->dur_ns = p->duration_ms * UINT64_C(1000000);
        off += q->dur_ns;
        q->warmup = p->warmup;
        q->r0 = p->rate_start;
        q->r1 = p->rate_end < 0 ? p->rate_start : p->rate_end;
        q->concurrency = p->concurrency;
        q->think_ns = p->think_time_us * UINT64_C(1000);
    }

    run->backlog = mcp_calloc(run->max_outstanding, sizeof *run->backlog);
    run->conns = mcp_calloc(run->n_conns, sizeof *run->conns);
    run->read_buf = mcp_malloc(READ_BUF_SIZE);
    if (!run->backlog || !run->conns || !run->read_buf)
        return MCP_ENOMEM;
    for (uint32_t i = 0; i < run->n_conns; i++) {
        conn_t *c = &run->conns[i];
        c->run = run;
        c->index = i;
        buf_init(&c->body, run->max_body);
    }
    return build_result(run, spec, n_tmpl);
}

/* ---- free lists (open loop) ---- */

static void list_remove(load_run_t *run, conn_t *c)
{
    if (c->list == LIST_NONE)
        return;
    conn_t **head = c->list == LIST_READY ? &run->ready_head : &run->disc_head;
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->list = LIST_NONE;
}

static void list_push(load_run_t *run, conn_t *c, int which)
{
    list_remove(run, c);
    conn_t **head = which == LIST_READY ? &run->ready_head : &run->disc_head;
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
    c->list = which;
}

/* ---- accounting ---- */

static inline bool phase_measured(const load_run_t *run, uint32_t phase)
{
    return !run->phases[phase].warmup;
}

typedef void (*counter_fn)(load_counters_t *c, uint64_t arg);

/* Apply fn to the phase counters, and to the total and template counters when measured. */
static void account(load_run_t *run, uint32_t tmpl, uint32_t phase, counter_fn fn, uint64_t arg)
{
    load_result_t *r = run->result;
    fn(&r->phases[phase].counters, arg);
    if (phase_measured(run, phase)) {
        fn(&r->total, arg);
        fn(&r->templates[tmpl].counters, arg);
    }
}

static void c_scheduled(load_counters_t *c, uint64_t a)
{
    (void)a;
    c->scheduled++;
}
static void c_sent(load_counters_t *c, uint64_t a)
{
    (void)a;
    c->sent++;
}
static void c_late(load_counters_t *c, uint64_t a)
{
    (void)a;
    c->late++;
}
static void c_dropped(load_counters_t *c, uint64_t a)
{
    (void)a;
    c->dropped++;
}
static void c_lag(load_counters_t *c, uint64_t lag)
{
    if (lag > c->max_lag_ns)
        c->max_lag_ns = lag;
}
static void c_bytes_out(load_counters_t *c, uint64_t n)
{
    c->bytes_sent += n;
}
static void c_bytes_in(load_counters_t *c, uint64_t n)
{
    c->bytes_received += n;
}
static void c_ok(load_counters_t *c, uint64_t a)
{
    (void)a;
    c->completed++;
    c->ok++;
}
static void c_completed_fail(load_counters_t *c, uint64_t cls)
{
    c->completed++;
    counters_add_error(c, (load_err_class_t)cls);
}
static void c_fail(load_counters_t *c, uint64_t cls)
{
    counters_add_error(c, (load_err_class_t)cls);
}

static void record(load_run_t *run, hdr_histogram_t *corr, hdr_histogram_t *uncorr, int64_t vc,
                   int64_t vu)
{
    if (run->model == LOAD_MODEL_CLOSED && run->expected_interval_ns)
        (void)hdr_record_corrected_value(corr, vc, (int64_t)run->expected_interval_ns);
    else
        (void)hdr_record_value(corr, vc);
    (void)hdr_record_value(uncorr, vu);
}

static void record_latency(load_run_t *run, conn_t *c, uint64_t now)
{
    if (!phase_measured(run, c->phase))
        return;
    int64_t vc = (int64_t)(now - c->intended);
    int64_t vu = (int64_t)(now - c->t_send);
    if (vc > run->hist_high)
        vc = run->hist_high;
    if (vu > run->hist_high)
        vu = run->hist_high;
    load_result_t *r = run->result;
    record(run, r->corrected, r->uncorrected, vc, vu);
    record(run, r->templates[c->tmpl].corrected, r->templates[c->tmpl].uncorrected, vc, vu);
    if (run->iv_corr) {
        record(run, run->iv_corr, run->iv_uncorr, vc, vu);
        record(run, run->iv_t_corr[c->tmpl], run->iv_t_uncorr[c->tmpl], vc, vu);
    }
}

/* ---- connections ---- */

static void conn_send(conn_t *c);
static void conn_idle(conn_t *c);
static void maybe_finish(load_run_t *run);
static void vu_next(conn_t *c, uint64_t delay_ns);

static void on_close_conn(uv_handle_t *h)
{
    conn_t *c = h->data;
    load_run_t *run = c->run;
    c->state = CONN_DISCONNECTED;
    if (run->shutting_down) {
        if (--run->open_handles == 0)
            maybe_finish(run);
        return;
    }
    conn_idle(c);
}

static void conn_close(conn_t *c)
{
    if (c->state == CONN_DISCONNECTED || c->state == CONN_CLOSING)
        return;
    list_remove(c->run, c);
    c->state = CONN_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_close_conn);
}

/* The request on c is over (answered or failed): free the connection for the next one. */
static void conn_request_over(conn_t *c, bool keep)
{
    load_run_t *run = c->run;
    c->busy = false;
    run->in_flight--;
    if (!keep) {
        bool had_handle = c->state != CONN_DISCONNECTED;
        conn_close(c);
        if (run->model == LOAD_MODEL_CLOSED)
            vu_next(c, 0);
        else if (!had_handle)
            conn_idle(c); /* no close callback will bring it back */
    } else if (run->model == LOAD_MODEL_CLOSED) {
        vu_next(c, run->cur_think_ns);
    } else {
        conn_idle(c);
    }
    if (run->sending_done && run->in_flight == 0 && run->bl_len == 0)
        maybe_finish(run);
}

static void conn_fail(conn_t *c, load_err_class_t cls)
{
    load_run_t *run = c->run;
    if (!c->busy)
        return;
    account(run, c->tmpl, c->phase, c_fail, cls);
    run->iv_errors++;
    if (cls == LOAD_ERR_CONNECT && run->model == LOAD_MODEL_CLOSED) {
        c->busy = false;
        run->in_flight--;
        conn_close(c);
        vu_next(c, CONNECT_BACKOFF_MS * UINT64_C(1000000));
        if (run->sending_done && run->in_flight == 0 && run->bl_len == 0)
            maybe_finish(run);
        return;
    }
    conn_request_over(c, false);
}

static bool body_matches(const conn_t *c, const char *needle)
{
    size_t n = strlen(needle);
    if (n > c->body.len || !c->body.data)
        return false;
    return memmem(c->body.data, c->body.len, needle, n) != NULL;
}

static void conn_complete(conn_t *c)
{
    load_run_t *run = c->run;
    uint64_t now = uv_hrtime();
    record_latency(run, c, now);
    int status = c->parser.status_code;
    const tmpl_t *t = &run->tmpls[c->tmpl];
    run->iv_completed++;
    if (status / 100 != run->ok_class) {
        account(run, c->tmpl, c->phase, c_completed_fail, LOAD_ERR_STATUS);
        run->iv_errors++;
    } else if (t->expect_body && !body_matches(c, t->expect_body)) {
        account(run, c->tmpl, c->phase, c_completed_fail, LOAD_ERR_BODY);
        run->iv_errors++;
    } else {
        account(run, c->tmpl, c->phase, c_ok, 0);
    }
    bool keep = !c->sse_done && http_should_keep_alive(&c->parser);
    conn_request_over(c, keep);
}

/* http_parser callbacks (responses) */

static const char ct_name[] = "content-type";
static const char sse_type[] = "text/event-stream";

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    c->ct_field = 0;
    c->ct_value = -1;
    c->last_was_value = false;
    c->sse = false;
    buf_reset(&c->body);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->last_was_value) {
        c->ct_field = 0;
        c->last_was_value = false;
    }
    if (c->ct_field < 0)
        return 0;
    size_t pos = (size_t)c->ct_field;
    if (pos + len > sizeof ct_name - 1 || strncasecmp(at, ct_name + pos, len) != 0)
        c->ct_field = -1;
    else
        c->ct_field = (int)(pos + len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (!c->last_was_value) {
        c->last_was_value = true;
        c->ct_value = c->ct_field == (int)(sizeof ct_name - 1) ? 0 : -1;
    }
    if (c->ct_value < 0)
        return 0;
    /* Skip leading whitespace, then compare the prefix. */
    size_t pos = (size_t)c->ct_value;
    for (size_t i = 0; i < len; i++) {
        if (pos == 0 && (at[i] == ' ' || at[i] == '\t'))
            continue;
        if (pos >= sizeof sse_type - 1)
            break;
        if ((at[i] | 0x20) != sse_type[pos] && at[i] != sse_type[pos]) {
            c->ct_value = -1;
            return 0;
        }
        pos++;
    }
    c->ct_value = (int)pos;
    if (pos == sizeof sse_type - 1)
        c->sse = true;
    return 0;
}

static int on_sse_event(void *ud, const sse_event_t *ev);

static int on_headers_complete(http_parser *p)
{
    conn_t *c = p->data;
    if (c->sse && !c->sse_inited) {
        sse_parser_init(&c->sse_parser, SSE_MAX_EVENT, on_sse_event, c);
        c->sse_inited = true;
    }
    /* A HEAD response announces a body it does not carry. */
    return c->run->tmpls[c->tmpl].head ? 1 : 0;
}

static bool json_is_response(const cJSON *j)
{
    if (cJSON_IsArray(j)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, j)
        {
            if (json_is_response(e))
                return true;
        }
        return false;
    }
    return cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "id") &&
           !cJSON_GetObjectItemCaseSensitive(j, "method") &&
           (cJSON_GetObjectItemCaseSensitive(j, "result") ||
            cJSON_GetObjectItemCaseSensitive(j, "error"));
}

static int on_sse_event(void *ud, const sse_event_t *ev)
{
    conn_t *c = ud;
    if (ev->data_len == 0)
        return 0;
    cJSON *j = cJSON_ParseWithLength(ev->data, ev->data_len);
    bool resp = j && json_is_response(j);
    cJSON_Delete(j);
    if (resp) {
        c->sse_done = true;
        return 1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->run->tmpls[c->tmpl].expect_body && c->body.len < c->body.max) {
        size_t room = c->body.max - c->body.len;
        (void)buf_append(&c->body, at, len < room ? len : room);
    }
    if (c->sse) {
        int rc = sse_parser_feed(&c->sse_parser, at, len);
        if (c->sse_done) {
            http_parser_pause(p, 1);
            return 0;
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101)
        return 0; /* interim response: the real one follows */
    c->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    buf->base = c->run->read_buf;
    buf->len = READ_BUF_SIZE;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    load_run_t *run = c->run;
    if (run->shutting_down || c->state != CONN_CONNECTED)
        return;
    if (nread == 0)
        return;
    if (!c->busy) {
        /* The server closed an idle keep-alive connection (or sent stray bytes): reconnect on
         * the next request. */
        conn_close(c);
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF) {
            /* A close-delimited body ends here. */
            http_parser_execute(&c->parser, &parser_settings, NULL, 0);
            if (c->complete) {
                c->sse_done = true; /* do not keep the connection */
                conn_complete(c);
                return;
            }
        }
        conn_fail(c, LOAD_ERR_RESET);
        return;
    }
    account(run, c->tmpl, c->phase, c_bytes_in, (uint64_t)nread);
    size_t n = http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)nread);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->complete || c->sse_done) {
        /* Bytes after the response (no pipelining here) mean a confused server: do not reuse. */
        if (n < (size_t)nread && !c->sse_done && e == HPE_PAUSED)
            c->sse_done = true;
        c->complete = true;
        conn_complete(c);
        return;
    }
    if (e != HPE_OK)
        conn_fail(c, LOAD_ERR_PROTO);
}

static void on_write(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    c->write_pending[req == &c->write_req[1]] = false;
    if (c->run->shutting_down || c->state != CONN_CONNECTED)
        return;
    if (status < 0)
        conn_fail(c, LOAD_ERR_RESET);
}

static void conn_write(conn_t *c)
{
    load_run_t *run = c->run;
    const tmpl_t *t = &run->tmpls[c->tmpl];
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->complete = false;
    c->sse_done = false;
    c->sse = false;
    if (c->sse_inited)
        sse_parser_reset(&c->sse_parser);
    account(run, c->tmpl, c->phase, c_bytes_out, t->req_len);
    uv_buf_t b = uv_buf_init(t->req, (unsigned)t->req_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)t->req_len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        conn_fail(c, LOAD_ERR_RESET);
        return;
    }
    if (n > 0) {
        b.base += n;
        b.len -= (size_t)n;
    }
    int w = c->write_pending[0] ? 1 : 0;
    if (c->write_pending[w]) {
        /* Answers came back while two requests were still being written: a server that
         * answers before reading the request. Do not reuse this connection. */
        conn_fail(c, LOAD_ERR_RESET);
        return;
    }
    /* The template bytes live as long as the run, which outlives every write. */
    c->write_req[w].data = c;
    int rc = uv_write(&c->write_req[w], (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        conn_fail(c, LOAD_ERR_RESET);
        return;
    }
    c->write_pending[w] = true;
}

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    load_run_t *run = c->run;
    if (run->shutting_down || c->state != CONN_CONNECTING)
        return;
    if (status < 0) {
        conn_fail(c, LOAD_ERR_CONNECT);
        return;
    }
    c->state = CONN_CONNECTED;
    (void)uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        conn_fail(c, LOAD_ERR_RESET);
        return;
    }
    if (c->busy)
        conn_write(c);
}

/* Send the request already set on c (busy), connecting first when needed. */
static void conn_send(conn_t *c)
{
    load_run_t *run = c->run;
    list_remove(run, c);
    run->in_flight++;
    run->iv_sent++;
    account(run, c->tmpl, c->phase, c_sent, 0);
    c->deadline = c->t_send + run->timeout_ns;
    if (c->state == CONN_CONNECTED) {
        conn_write(c);
        return;
    }
    /* DISCONNECTED: open a new connection. */
    int rc = uv_tcp_init(run->loop, &c->tcp);
    if (rc < 0) {
        conn_fail(c, LOAD_ERR_CONNECT);
        return;
    }
    c->tcp.data = c;
    c->state = CONN_CONNECTING;
    run->result->connects++;
    c->connect_req.data = c;
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&run->addr, on_connect);
    if (rc < 0)
        conn_fail(c, LOAD_ERR_CONNECT); /* closes the handle */
}

static uint32_t pick_template(load_run_t *run)
{
    if (run->n_tmpls == 1)
        return 0;
    uint64_t v = (uint64_t)(rng_unit(&run->rng) * (double)run->total_weight);
    if (v >= run->total_weight)
        v = run->total_weight - 1;
    size_t lo = 0, hi = run->n_tmpls - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (run->tmpls[mid].cum_weight > v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (uint32_t)lo;
}

/* ---- open loop ---- */

static void start_on(conn_t *c, uint64_t intended, uint32_t tmpl, uint32_t phase, uint64_t now)
{
    load_run_t *run = c->run;
    c->busy = true;
    c->tmpl = tmpl;
    c->phase = phase;
    c->intended = intended;
    c->t_send = now;
    if (now > intended)
        account(run, tmpl, phase, c_lag, now - intended);
    conn_send(c);
}

/* An idle connection: take the oldest waiting arrival, or go on a free list. */
static void conn_idle(conn_t *c)
{
    load_run_t *run = c->run;
    if (run->shutting_down)
        return;
    if (run->model == LOAD_MODEL_CLOSED) {
        if (c->vu_want_next) {
            c->vu_want_next = false;
            vu_next(c, c->next_delay_ns);
        }
        return;
    }
    if (run->bl_len > 0) {
        pending_t p = run->backlog[run->bl_head];
        run->bl_head = (run->bl_head + 1) % run->max_outstanding;
        run->bl_len--;
        account(run, p.tmpl, p.phase, c_late, 0);
        run->iv_late++;
        start_on(c, p.intended, p.tmpl, p.phase, uv_hrtime());
        return;
    }
    list_push(run, c, c->state == CONN_CONNECTED ? LIST_READY : LIST_DISC);
}

static void emit_arrival(load_run_t *run, uint64_t intended, uint64_t now)
{
    uint32_t tmpl = pick_template(run);
    uint32_t phase = (uint32_t)run->cur_phase;
    account(run, tmpl, phase, c_scheduled, 0);
    conn_t *c = run->ready_head ? run->ready_head : run->disc_head;
    if (c && run->bl_len == 0) {
        start_on(c, intended, tmpl, phase, now);
        return;
    }
    if (run->in_flight + run->bl_len >= run->max_outstanding) {
        account(run, tmpl, phase, c_dropped, 0);
        run->iv_dropped++;
        return;
    }
    uint32_t slot = (run->bl_head + run->bl_len) % run->max_outstanding;
    run->backlog[slot] = (pending_t){intended, tmpl, phase};
    run->bl_len++;
}

/* Seconds from the phase start to arrival k for a rate going linearly from r0 to r1 over the
 * phase: the root of r0 t + (r1 - r0) t^2 / (2 D) = k, in the cancellation-free form. */
static double arrival_time(const phase_t *p, uint64_t k)
{
    if (k == 0)
        return 0.0;
    double d = (double)p->dur_ns * 1e-9;
    double a = (p->r1 - p->r0) / (2.0 * d);
    double disc = p->r0 * p->r0 + 4.0 * a * (double)k;
    if (disc < 0)
        return INFINITY;
    double den = p->r0 + sqrt(disc);
    if (den <= 0)
        return INFINITY;
    return 2.0 * (double)k / den;
}

static uint64_t phase_arrival_abs(load_run_t *run, size_t phase, uint64_t k)
{
    const phase_t *p = &run->phases[phase];
    double t = arrival_time(p, k);
    uint64_t end = run->t0 + p->start_ns + p->dur_ns;
    if (!(t * 1e9 < (double)p->dur_ns))
        return end;
    uint64_t v = run->t0 + p->start_ns + (uint64_t)(t * 1e9);
    return v < end ? v : end;
}

static void drop_backlog(load_run_t *run)
{
    while (run->bl_len > 0) {
        pending_t p = run->backlog[run->bl_head];
        run->bl_head = (run->bl_head + 1) % run->max_outstanding;
        run->bl_len--;
        account(run, p.tmpl, p.phase, c_dropped, 0);
        run->iv_dropped++;
    }
}

/* The schedule is over: arrivals still waiting for a connection are sent as connections free
 * up (they belong to the offered load; their wait is in the corrected latency). */
static void stop_sending(load_run_t *run, uint64_t now)
{
    if (run->sending_done)
        return;
    run->sending_done = true;
    run->sending_end = now;
    uv_timer_stop(&run->sched_timer);
    if (run->in_flight == 0 && run->bl_len == 0)
        maybe_finish(run);
}

static void enter_phase(load_run_t *run, size_t i);
static void on_sched(uv_timer_t *t);

static void arm_sched(load_run_t *run, uint64_t due, uint64_t now)
{
    uint64_t ms = due > now ? (due - now + 999999) / 1000000 : 0;
    uv_timer_start(&run->sched_timer, on_sched, ms, 0);
}

static void open_tick(load_run_t *run)
{
    uint64_t now = uv_hrtime();
    unsigned emitted = 0;
    while (!run->sending_done) {
        const phase_t *p = &run->phases[run->cur_phase];
        uint64_t end = run->t0 + p->start_ns + p->dur_ns;
        if (run->next_intended >= end) {
            if (now < end) {
                arm_sched(run, end, now);
                return;
            }
            if (run->cur_phase + 1 >= run->n_phases) {
                stop_sending(run, now);
                return;
            }
            enter_phase(run, run->cur_phase + 1);
            continue;
        }
        if (run->next_intended > now) {
            arm_sched(run, run->next_intended, now);
            return;
        }
        if (emitted++ >= MAX_EMIT_PER_TICK) {
            uv_timer_start(&run->sched_timer, on_sched, 0, 0);
            return;
        }
        emit_arrival(run, run->next_intended, now);
        run->k++;
        run->next_intended = phase_arrival_abs(run, run->cur_phase, run->k);
    }
}

/* ---- closed loop ---- */

static void on_vu_timer(uv_timer_t *t);

static void vu_start(conn_t *c)
{
    load_run_t *run = c->run;
    if (run->sending_done || run->shutting_down || c->index >= run->cur_conc) {
        c->vu_active = false;
        return;
    }
    c->vu_active = true;
    uint64_t now = uv_hrtime();
    c->busy = true;
    c->tmpl = pick_template(run);
    c->phase = (uint32_t)run->cur_phase;
    account(run, c->tmpl, c->phase, c_scheduled, 0);
    c->intended = now;
    c->t_send = now;
    conn_send(c);
}

/* The loop on c finished an iteration: go on after delay_ns, once the connection is usable. */
static void vu_next(conn_t *c, uint64_t delay_ns)
{
    load_run_t *run = c->run;
    if (run->sending_done || run->shutting_down || c->index >= run->cur_conc) {
        c->vu_active = false;
        c->vu_want_next = false;
        return;
    }
    if (c->state == CONN_CLOSING) {
        c->vu_want_next = true;
        c->next_delay_ns = delay_ns;
        return;
    }
    if (delay_ns > 0) {
        uint64_t ms = (delay_ns + 999999) / 1000000;
        /* Sub-millisecond think times: libuv timers have millisecond resolution. */
        c->timer.data = c;
        uv_timer_start(&c->timer, on_vu_timer, ms, 0);
        return;
    }
    vu_start(c);
}

static void on_vu_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    if (c->state == CONN_CLOSING) {
        c->vu_want_next = true;
        c->next_delay_ns = 0;
        return;
    }
    vu_start(c);
}

static void enter_phase(load_run_t *run, size_t i)
{
    load_result_t *r = run->result;
    uint64_t now = uv_hrtime();
    if (i > 0) {
        uint64_t s = run->t0 + run->phases[i - 1].start_ns;
        r->phases[i - 1].duration_ns = now > s ? now - s : 0;
    }
    run->cur_phase = i;
    const phase_t *p = &run->phases[i];
    if (run->model == LOAD_MODEL_OPEN) {
        run->k = 0;
        run->next_intended = phase_arrival_abs(run, i, 0);
        return;
    }
    run->cur_conc = p->concurrency;
    run->cur_think_ns = p->think_ns;
    for (uint32_t j = 0; j < run->cur_conc && j < run->n_conns; j++) {
        conn_t *c = &run->conns[j];
        if (!c->vu_active) {
            c->vu_active = true;
            vu_next(c, 0);
        }
    }
    uint64_t end = run->t0 + p->start_ns + p->dur_ns;
    arm_sched(run, end, now);
}

static void closed_tick(load_run_t *run)
{
    uint64_t now = uv_hrtime();
    const phase_t *p = &run->phases[run->cur_phase];
    uint64_t end = run->t0 + p->start_ns + p->dur_ns;
    if (now < end) {
        arm_sched(run, end, now);
        return;
    }
    if (run->cur_phase + 1 >= run->n_phases) {
        stop_sending(run, now);
        return;
    }
    enter_phase(run, run->cur_phase + 1);
}

static void on_sched(uv_timer_t *t)
{
    load_run_t *run = t->data;
    if (run->shutting_down)
        return;
    if (run->model == LOAD_MODEL_OPEN)
        open_tick(run);
    else
        closed_tick(run);
}

/* ---- timeouts and progress ---- */

static void on_sweep(uv_timer_t *t)
{
    load_run_t *run = t->data;
    if (run->shutting_down)
        return;
    uint64_t now = uv_hrtime();
    for (uint32_t i = 0; i < run->n_conns; i++) {
        conn_t *c = &run->conns[i];
        if (c->busy && now >= c->deadline)
            conn_fail(c, LOAD_ERR_TIMEOUT);
    }
}

static double phase_rate_at(const phase_t *p, uint64_t off_ns)
{
    double f = p->dur_ns ? (double)off_ns / (double)p->dur_ns : 0;
    if (f > 1)
        f = 1;
    return p->r0 + (p->r1 - p->r0) * f;
}

static void on_progress(uv_timer_t *t)
{
    load_run_t *run = t->data;
    if (run->shutting_down || !run->progress_cb)
        return;
    uint64_t now = uv_hrtime();
    const phase_t *p = &run->phases[run->cur_phase];
    uint64_t poff = now - run->t0 > p->start_ns ? now - run->t0 - p->start_ns : 0;
    load_progress_t pr = {
        .elapsed_ns = now - run->t0,
        .phase = run->cur_phase,
        .warmup = p->warmup,
        .interval_ns = now - run->last_progress,
        .sent = run->iv_sent,
        .completed = run->iv_completed,
        .errors = run->iv_errors,
        .late = run->iv_late,
        .dropped = run->iv_dropped,
        .target_rate =
            run->model == LOAD_MODEL_OPEN && !run->sending_done ? phase_rate_at(p, poff) : 0,
        .in_flight = run->in_flight,
        .backlog = run->bl_len,
        .total = &run->result->total,
        .interval_corrected = run->iv_corr,
        .interval_uncorrected = run->iv_uncorr,
        .interval_template_corrected = (const hdr_histogram_t *const *)run->iv_t_corr,
        .interval_template_uncorrected = (const hdr_histogram_t *const *)run->iv_t_uncorr,
        .n_templates = run->n_tmpls,
    };
    pr.rate = pr.interval_ns ? (double)pr.completed * 1e9 / (double)pr.interval_ns : 0;
    run->last_progress = now;
    run->iv_sent = run->iv_completed = run->iv_errors = run->iv_late = run->iv_dropped = 0;
    run->progress_cb(run, &pr, run->user);
    hdr_reset(run->iv_corr);
    hdr_reset(run->iv_uncorr);
    for (size_t i = 0; i < run->n_tmpls; i++) {
        hdr_reset(run->iv_t_corr[i]);
        hdr_reset(run->iv_t_uncorr[i]);
    }
}

/* ---- finishing ---- */

static void on_close_timer(uv_handle_t *h)
{
    load_run_t *run = h->data;
    if (--run->open_handles == 0)
        maybe_finish(run);
}

static void finalize_result(load_run_t *run)
{
    load_result_t *r = run->result;
    uint64_t end = run->sending_end ? run->sending_end : uv_hrtime();
    uint64_t measured = 0;
    for (size_t i = 0; i < run->n_phases; i++) {
        const phase_t *p = &run->phases[i];
        load_phase_result_t *pr = &r->phases[i];
        uint64_t s = run->t0 + p->start_ns;
        if (i == run->cur_phase)
            pr->duration_ns = end > s ? end - s : 0;
        else if (i > run->cur_phase)
            pr->duration_ns = 0;
        /* Open loop phases are as long as their schedule, whatever the timer did. */
        if (run->model == LOAD_MODEL_OPEN && !run->aborted && pr->duration_ns > p->dur_ns)
            pr->duration_ns = p->dur_ns;
        pr->achieved_rate =
            pr->duration_ns ? (double)pr->counters.completed * 1e9 / (double)pr->duration_ns : 0;
        if (!p->warmup)
            measured += pr->duration_ns;
    }
    r->measured_ns = measured;
    r->achieved_rate = measured ? (double)r->total.completed * 1e9 / (double)measured : 0;
    r->aborted = run->aborted;
}

/* Close every handle (once); done runs from the last close callback. */
static void begin_shutdown(load_run_t *run)
{
    if (run->shutting_down)
        return;
    if (!run->sending_done) {
        /* abort: count unsent arrivals */
        stop_sending(run, uv_hrtime());
        if (run->shutting_down)
            return;
    }
    run->shutting_down = true;
    finalize_result(run);
    run->open_handles = 1; /* held until the loop below is over */
    for (uint32_t i = 0; i < run->n_conns; i++) {
        conn_t *c = &run->conns[i];
        c->busy = false;
        if (c->state == CONN_CONNECTING || c->state == CONN_CONNECTED) {
            run->open_handles++;
            list_remove(run, c);
            c->state = CONN_CLOSING;
            uv_close((uv_handle_t *)&c->tcp, on_close_conn);
        } else if (c->state == CONN_CLOSING) {
            run->open_handles++; /* its pending close callback counts it down */
        }
        if (c->timer_inited) {
            run->open_handles++;
            c->timer.data = run; /* on_close_timer counts down on the run */
            uv_close((uv_handle_t *)&c->timer, on_close_timer);
        }
    }
    uv_handle_t *timers[] = {(uv_handle_t *)&run->sched_timer, (uv_handle_t *)&run->sweep_timer,
                             run->progress_inited ? (uv_handle_t *)&run->progress_timer : NULL};
    for (size_t i = 0; i < 3; i++) {
        if (!timers[i])
            continue;
        run->open_handles++;
        uv_close(timers[i], on_close_timer);
    }
    if (--run->open_handles == 0)
        maybe_finish(run);
}

static void maybe_finish(load_run_t *run)
{
    if (!run->shutting_down) {
        if (run->sending_done && run->in_flight == 0 && run->bl_len == 0)
            begin_shutdown(run);
        return;
    }
    if (run->open_handles > 0 || run->done_called)
        return;
    run->done_called = true;
    /* Last touch of run: the callback may free it. */
    run->done_cb(run, run->result, run->user);
}

/* ---- public ---- */

int load_run_start(uv_loop_t *loop, const load_spec_t *spec, load_progress_fn progress,
                   load_done_fn done, void *user, load_run_t **out, char *err, size_t err_cap)
{
    if (out)
        *out = NULL;
    if (!loop || !done || !out)
        return fail_inval(err, err_cap, "load_run_start: loop, done and out are required");
    int rc = load_spec_validate(spec, err, err_cap);
    if (rc != 0)
        return rc;
    /* Writing to a connection the server has closed raises SIGPIPE, whose default action kills
     * the process; libuv writes with write(2), so ignore it unless the program has its own
     * handler. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    load_run_t *run = mcp_calloc(1, sizeof *run);
    if (!run)
        return MCP_ENOMEM;
    run->loop = loop;
    run->progress_cb = progress;
    run->done_cb = done;
    run->user = user;
    rc = setup(run, spec);
    if (rc != 0) {
        if (rc == MCP_EINVAL)
            (void)fail_inval(err, err_cap, "template: request too large");
        run_release(run);
        return rc;
    }
    /* Timers cannot fail to initialise on a valid loop. */
    uv_timer_init(loop, &run->sched_timer);
    uv_timer_init(loop, &run->sweep_timer);
    run->sched_timer.data = run->sweep_timer.data = run;
    if (progress) {
        uv_timer_init(loop, &run->progress_timer);
        run->progress_timer.data = run;
        run->progress_inited = true;
    }
    if (run->model == LOAD_MODEL_CLOSED) {
        for (uint32_t i = 0; i < run->n_conns; i++) {
            uv_timer_init(loop, &run->conns[i].timer);
            run->conns[i].timer.data = &run->conns[i];
            run->conns[i].timer_inited = true;
        }
    } else {
        for (uint32_t i = run->n_conns; i-- > 0;)
            list_push(run, &run->conns[i], LIST_DISC);
    }
    uv_update_time(loop);
    run->t0 = uv_hrtime();
    run->last_progress = run->t0;
    uint64_t sweep_ms = run->timeout_ns / 10 / 1000000;
    if (sweep_ms < 1)
        sweep_ms = 1;
    if (sweep_ms > 100)
        sweep_ms = 100;
    uv_timer_start(&run->sweep_timer, on_sweep, sweep_ms, sweep_ms);
    if (progress)
        uv_timer_start(&run->progress_timer, on_progress, 1000, 1000);
    uv_timer_start(&run->sched_timer, on_sched, 0, 0);
    enter_phase(run, 0);
    *out = run;
    return 0;
}

void load_run_abort(load_run_t *run, int reason)
{
    if (!run || run->aborted || run->shutting_down)
        return;
    run->aborted = true;
    run->result->abort_reason = reason;
    /* Abandon requests in flight (neither answers nor failures); waiting ones are dropped. */
    run->in_flight = 0;
    drop_backlog(run);
    uv_timer_stop(&run->sched_timer);
    stop_sending(run, uv_hrtime());
    begin_shutdown(run);
}

const load_result_t *load_run_result(const load_run_t *run)
{
    return run ? run->result : NULL;
}

load_result_t *load_run_take_result(load_run_t *run)
{
    if (!run || !run->done_called || run->result_taken)
        return NULL;
    run->result_taken = true;
    return run->result;
}

void load_run_free(load_run_t *run)
{
    if (!run)
        return;
    if (!run->done_called) {
        LOG_E("load", "load_run_free before done", "err=%s", mcp_err_name(MCP_ESTATE));
        return;
    }
    run_release(run);
}

const load_template_result_t *load_result_template(const load_result_t *result, const char *name)
{
    if (!result || !name)
        return NULL;
    for (size_t i = 0; i < result->n_templates; i++)
        if (strcmp(result->templates[i].name, name) == 0)
            return &result->templates[i];
    return NULL;
}
