/* Integration tests for the load generator (harness/load.h).
 *
 * The system under test is the project's http_server, running on the same libuv loop as the
 * generator on 127.0.0.1 with a port picked at run time. Its handler answers after a
 * configurable delay (a per-request timer), can stall every answer until a point in time, counts
 * requests per path and the largest number of requests it held at once. Everything is driven by
 * the event loop: no sleeps, no threads. Each test closes every handle and checks
 * uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "http_server.h"
#include "load.h"
#include "log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the test server ---- */

typedef struct pending_resp_s pending_resp_t;

typedef struct tsrv_s {
    uv_loop_t *loop;
    http_server_t *srv;
    int port;
    uint64_t delay_ms;    /* every answer waits this long */
    uint64_t stall_until; /* uv_now() until which answers are held */
    int active, max_active;
    uint64_t n_ok, n_fail, n_a, n_b, n_c, n_total;
    pending_resp_t *pending; /* answers waiting for their timer, or held forever (/hang) */
    bool closed;
} tsrv_t;

struct pending_resp_s {
    tsrv_t *s;
    http_req_t *req;
    uv_timer_t timer;
    bool timer_on;
    pending_resp_t *prev, *next;
};

static void pend_unlink(pending_resp_t *p)
{
    tsrv_t *s = p->s;
    if (p->prev)
        p->prev->next = p->next;
    else
        s->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void pend_free_cb(uv_handle_t *h)
{
    mcp_free(h->data);
}

static void answer(tsrv_t *s, http_req_t *req)
{
    const char *path = http_req_path(req);
    s->active--;
    if (strcmp(path, "/fail") == 0) {
        (void)http_respond(req, 500, "text/plain", "boom", 4);
    } else if (strcmp(path, "/chunked") == 0) {
        if (http_stream_start(req, 200, "text/plain", 0) == 0) {
            (void)http_stream_write(req, "hello ", 6);
            (void)http_stream_write(req, "chunked", 7);
        }
        (void)http_stream_end(req);
    } else if (strcmp(path, "/sse") == 0) {
        /* An MCP-style SSE answer: a notification, then the response; the stream stays open. */
        static const char ev[] =
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        if (http_stream_start(req, 200, "text/event-stream", 0) == 0 &&
            http_stream_write(req, ev, sizeof ev - 1) >= 0) {
            /* Held open: the client must finish on the response event and close. */
            return;
        }
        http_req_abort(req);
    } else {
        (void)http_respond(req, 200, "text/plain", "hello ok", 8);
    }
}

static void on_pend_timer(uv_timer_t *t)
{
    pending_resp_t *p = t->data;
    p->timer_on = false;
    pend_unlink(p);
    answer(p->s, p->req);
    uv_close((uv_handle_t *)&p->timer, pend_free_cb);
}

static void on_req_gone(http_req_t *req, void *ud)
{
    /* /hang and /sse requests: the client closed, so finish them. */
    (void)ud;
    http_req_abort(req);
}

static void handler(http_req_t *req, void *ud)
{
    tsrv_t *s = ud;
    const char *path = http_req_path(req);
    s->n_total++;
    if (strcmp(path, "/a") == 0)
        s->n_a++;
    else if (strcmp(path, "/b") == 0)
        s->n_b++;
    else if (strcmp(path, "/c") == 0)
        s->n_c++;
    if (strcmp(path, "/fail") == 0)
        s->n_fail++;
    s->active++;
    if (s->active > s->max_active)
        s->max_active = s->active;
    if (strcmp(path, "/hang") == 0 || strcmp(path, "/sse") == 0) {
        http_req_on_close(req, on_req_gone, s);
        if (strcmp(path, "/hang") == 0) {
            s->active--;
            return;
        }
    }
    uint64_t now = uv_now(s->loop);
    uint64_t delay = s->delay_ms;
    if (s->stall_until > now && s->stall_until - now > delay)
        delay = s->stall_until - now;
    if (delay == 0) {
        answer(s, req);
        return;
    }
    pending_resp_t *p = mcp_calloc(1, sizeof *p);
    assert_non_null(p);
    p->s = s;
    p->req = req;
    uv_timer_init(s->loop, &p->timer);
    p->timer.data = p;
    p->timer_on = true;
    p->next = s->pending;
    if (s->pending)
        s->pending->prev = p;
    s->pending = p;
    uv_timer_start(&p->timer, on_pend_timer, delay, 0);
}

static void tsrv_start(tsrv_t *s, uv_loop_t *loop)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    assert_int_equal(http_server_new(loop, NULL, handler, s, &s->srv), 0);
    assert_int_equal(http_server_listen(s->srv, "127.0.0.1", 0), 0);
    s->port = http_server_port(s->srv);
    assert_true(s->port > 0);
}

static void on_srv_closed(http_server_t *srv, void *ud)
{
    tsrv_t *s = ud;
    (void)srv;
    s->closed = true;
}

static void tsrv_stop(tsrv_t *s)
{
    while (s->pending) {
        pending_resp_t *p = s->pending;
        pend_unlink(p);
        uv_timer_stop(&p->timer);
        http_req_abort(p->req);
        uv_close((uv_handle_t *)&p->timer, pend_free_cb);
    }
    assert_int_equal(http_server_shutdown(s->srv, 0, on_srv_closed, s), 0);
}

/* ---- running the generator ---- */

typedef struct fx_s {
    uv_loop_t loop;
    tsrv_t srv;
    load_run_t *run;
    load_result_t *res;
    bool done;
    int progress_calls;
    uint64_t progress_completed;
    int64_t progress_hist_total;
    int abort_on_progress;
    uint64_t t_start, t_done;
    uv_timer_t aux; /* stall / abort trigger */
    bool aux_on;
    uint64_t aux_stall_ms;
    bool aux_abort;
    void (*done_hook)(void *arg); /* extra servers to stop when the run is over */
    void *done_hook_arg;
} fx_t;

static void on_done(load_run_t *run, const load_result_t *r, void *user)
{
    fx_t *fx = user;
    assert_ptr_equal(run, fx->run);
    assert_non_null(r);
    fx->done = true;
    fx->t_done = uv_hrtime();
    fx->res = load_run_take_result(run);
    assert_non_null(fx->res);
    assert_null(load_run_take_result(run));
    load_run_free(run); /* allowed inside done */
    fx->run = NULL;
    tsrv_stop(&fx->srv);
    if (fx->done_hook)
        fx->done_hook(fx->done_hook_arg);
}

static void on_progress(load_run_t *run, const load_progress_t *p, void *user)
{
    fx_t *fx = user;
    fx->progress_calls++;
    fx->progress_completed += p->completed;
    assert_int_equal(p->n_templates, load_run_result(run)->n_templates);
    fx->progress_hist_total += hdr_total_count(p->interval_uncorrected);
    if (fx->abort_on_progress)
        load_run_abort(run, 7);
}

static void on_aux(uv_timer_t *t)
{
    fx_t *fx = t->data;
    if (fx->aux_abort) {
        if (fx->run)
            load_run_abort(fx->run, 42);
    } else {
        fx->srv.stall_until = uv_now(&fx->loop) + fx->aux_stall_ms;
    }
}

static void fx_init(fx_t *fx)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    tsrv_start(&fx->srv, &fx->loop);
}

/* Run spec to completion against the test server; the result lands in fx->res. */
static void fx_run(fx_t *fx, load_spec_t *spec, bool progress, uint64_t aux_ms)
{
    char err[256];
    if (!spec->host)
        spec->host = "127.0.0.1";
    if (!spec->port)
        spec->port = (uint16_t)fx->srv.port;
    fx->t_start = uv_hrtime();
    int rc = load_run_start(&fx->loop, spec, progress ? on_progress : NULL, on_done, fx, &fx->run,
                            err, sizeof err);
    if (rc != 0)
        fail_msg("load_run_start: %s (%s)", mcp_strerror(rc), err);
    if (aux_ms) {
        uv_timer_init(&fx->loop, &fx->aux);
        fx->aux.data = fx;
        uv_timer_start(&fx->aux, on_aux, aux_ms, 0);
        fx->aux_on = true;
    }
    /* The aux timer keeps the loop alive; run until the generator is done, then close it. */
    while (!fx->done)
        uv_run(&fx->loop, UV_RUN_ONCE);
    if (fx->aux_on)
        uv_close((uv_handle_t *)&fx->aux, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_true(fx->srv.closed);
}

static void fx_done(fx_t *fx)
{
    http_server_free(fx->srv.srv);
    load_result_free(fx->res);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

static void dump(const char *what, const load_counters_t *c)
{
    print_message("%s: scheduled=%llu sent=%llu completed=%llu ok=%llu failed=%llu "
                  "(connect=%llu timeout=%llu reset=%llu proto=%llu status=%llu body=%llu) "
                  "late=%llu dropped=%llu max_lag=%.3fms\n",
                  what, (unsigned long long)c->scheduled, (unsigned long long)c->sent,
                  (unsigned long long)c->completed, (unsigned long long)c->ok,
                  (unsigned long long)c->failed, (unsigned long long)c->errors[LOAD_ERR_CONNECT],
                  (unsigned long long)c->errors[LOAD_ERR_TIMEOUT],
                  (unsigned long long)c->errors[LOAD_ERR_RESET],
                  (unsigned long long)c->errors[LOAD_ERR_PROTO],
                  (unsigned long long)c->errors[LOAD_ERR_STATUS],
                  (unsigned long long)c->errors[LOAD_ERR_BODY], (unsigned long long)c->late,
                  (unsigned long long)c->dropped, (double)c->max_lag_ns / 1e6);
}

static int64_t pct_ms(const hdr_histogram_t *h, double p)
{
    return hdr_value_at_percentile(h, p) / 1000000;
}

/* ---- tests ---- */

static void test_validate(void **state)
{
    (void)state;
    char err[256];
    load_phase_t ph = {.duration_ms = 100, .rate_start = 10, .rate_end = -1};
    load_spec_t s = {.host = "127.0.0.1", .port = 80, .phases = &ph, .n_phases = 1};
    assert_int_equal(load_spec_validate(&s, err, sizeof err), 0);

    s.host = "example.com";
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "host"));
    s.host = "::1";
    assert_int_equal(load_spec_validate(&s, err, sizeof err), 0);
    s.host = "localhost";
    assert_int_equal(load_spec_validate(&s, err, sizeof err), 0);

    s.port = 0;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "port"));
    s.port = 80;

    ph.rate_start = 0;
    ph.rate_end = 0;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "phases[0]"));
    ph.rate_start = -5;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "rate_start"));
    ph.rate_start = 10;
    ph.duration_ms = 0;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "duration_ms"));
    ph.duration_ms = 100;

    s.model = LOAD_MODEL_CLOSED;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "concurrency"));
    ph.concurrency = 2;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), 0);
    s.model = LOAD_MODEL_OPEN;

    s.path = "no-slash";
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "path"));
    s.path = "/x";

    load_header_t bad_h[] = {{"Content-Length", "3"}};
    load_template_t t[2] = {{.name = "a", .headers = bad_h, .n_headers = 1}, {.name = "a"}};
    s.templates = t;
    s.n_templates = 1;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "Content-Length"));
    t[0].n_headers = 0;
    s.n_templates = 2;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "duplicate"));
    t[1].name = "b";
    t[1].method = "GE T";
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "method"));
    t[1].method = NULL;
    load_header_t crlf_h[] = {{"X-A", "v\r\nX-Evil: 1"}};
    t[1].headers = crlf_h;
    t[1].n_headers = 1;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    t[1].n_headers = 0;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), 0);

    s.hist_sigfigs = 9;
    assert_int_equal(load_spec_validate(&s, err, sizeof err), MCP_EINVAL);
    assert_non_null(strstr(err, "histogram"));
    s.hist_sigfigs = 0;

    /* load_run_start refuses the same way and runs no callback. */
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    load_run_t *run = (load_run_t *)&loop;
    s.n_phases = 0;
    assert_int_equal(load_run_start(&loop, &s, NULL, on_done, NULL, &run, err, sizeof err),
                     MCP_EINVAL);
    assert_null(run);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A fixed rate for 1 s sends exactly rate * duration requests (the schedule does not depend on
 * the timer), all answered; a linear ramp 0 -> R sends R * D / 2. */
static void test_open_rate(void **state)
{
    (void)state;
    fx_t fx;
    fx_init(&fx);
    load_phase_t ph = {.duration_ms = 1000, .rate_start = 200, .rate_end = -1};
    /* a generous cap: a slow start (valgrind) must make requests late, not dropped */
    load_spec_t s = {.path = "/ok",
                     .connections = 4,
                     .max_outstanding = 1000,
                     .phases = &ph,
                     .n_phases = 1,
                     .seed = 1};
    fx_run(&fx, &s, false, 0);
    const load_result_t *r = fx.res;
    dump("open 200/s", &r->total);
    assert_false(r->aborted);
    assert_int_equal(r->status, 0);
    assert_in_range(r->total.scheduled, 199, 201);
    assert_int_equal(r->total.sent, r->total.scheduled);
    assert_int_equal(r->total.ok, r->total.sent);
    assert_int_equal(r->total.failed, 0);
    assert_int_equal(r->total.dropped, 0);
    assert_int_equal(fx.srv.n_total, r->total.sent);
    assert_int_equal(hdr_total_count(r->corrected), r->total.ok);
    assert_int_equal(hdr_total_count(r->uncorrected), r->total.ok);
    assert_int_equal(hdr_total_count(r->templates[0].corrected), r->total.ok);
    assert_string_equal(r->templates[0].name, "t0");
    /* Corrected latency includes the timer's lateness, so it is never below the uncorrected. */
    assert_true(hdr_max(r->corrected) >= hdr_max(r->uncorrected) / 2);
    assert_true(r->connects >= 1 && r->connects <= 4);
    assert_true(r->achieved_rate > 150 && r->achieved_rate < 250);
    assert_int_equal(r->measured_ns, 1000000000ull);
    assert_true(r->total.bytes_sent > 0 && r->total.bytes_received > 0);
    fx_done(&fx);

    /* ramp */
    fx_init(&fx);
    load_phase_t ramp = {.duration_ms = 1000, .rate_start = 0, .rate_end = 200};
    load_spec_t s2 = {
        .path = "/ok", .connections = 4, .max_outstanding = 1000, .phases = &ramp, .n_phases = 1};
    fx_run(&fx, &s2, false, 0);
    assert_in_range(fx.res->total.scheduled, 99, 101);
    assert_int_equal(fx.res->total.ok, fx.res->total.scheduled);
    fx_done(&fx);
}

/* Warm-up phases are run but not counted; progress reports arrive once per second with the
 * interval's histograms. */
static void test_warmup_and_progress(void **state)
{
    (void)state;
    fx_t fx;
    fx_init(&fx);
    load_phase_t ph[2] = {
        {.name = "warm", .duration_ms = 300, .warmup = true, .rate_start = 100, .rate_end = -1},
        {.name = "main", .duration_ms = 1200, .rate_start = 100, .rate_end = -1},
    };
    load_spec_t s = {.path = "/ok", .connections = 2, .phases = ph, .n_phases = 2};
    fx_run(&fx, &s, true, 0);
    const load_result_t *r = fx.res;
    assert_int_equal(r->n_phases, 2);
    assert_string_equal(r->phases[0].name, "warm");
    assert_true(r->phases[0].warmup);
    assert_in_range(r->phases[0].counters.scheduled, 29, 31);
    assert_in_range(r->phases[1].counters.scheduled, 119, 121);
    assert_int_equal(r->total.scheduled, r->phases[1].counters.scheduled);
    assert_int_equal(hdr_total_count(r->corrected), r->total.ok);
    assert_int_equal(r->total.ok, r->phases[1].counters.ok);
    assert_int_equal(r->measured_ns, 1200000000ull);
    assert_true(fx.progress_calls >= 1);
    assert_true(fx.progress_completed > 0);
    /* the first report covers warm-up too, whose samples are not in the histograms */
    assert_true(fx.progress_hist_total > 0);
    assert_true(fx.progress_hist_total <= (int64_t)r->total.ok);
    fx_done(&fx);
}

/* A 200 ms server stall under open-loop load: the requests due during the stall are late and
 * measured from their intended time, so the corrected histogram shows the stall while the
 * uncorrected one (from the actual write) hardly does. */
static void test_stall_corrected(void **state)
{
    (void)state;
    fx_t fx;
    fx_init(&fx);
    load_phase_t ph = {.duration_ms = 1000, .rate_start = 500, .rate_end = -1};
    load_spec_t s = {
        .path = "/ok", .connections = 4, .max_outstanding = 1000, .phases = &ph, .n_phases = 1};
    fx.aux_stall_ms = 200;
    fx_run(&fx, &s, false, 300);
    const load_result_t *r = fx.res;
    assert_in_range(r->total.scheduled, 499, 501);
    assert_int_equal(r->total.ok, r->total.scheduled);
    assert_int_equal(r->total.dropped, 0);
    /* ~100 arrivals fall in the stall and find every connection busy */
    assert_true(r->total.late >= 50);
    assert_true(r->total.max_lag_ns >= 100000000ull);
    int64_t c90 = pct_ms(r->corrected, 90), u90 = pct_ms(r->uncorrected, 90);
    int64_t c99 = pct_ms(r->corrected, 99), u99 = pct_ms(r->uncorrected, 99);
    print_message("stall: corrected p90=%lldms p99=%lldms uncorrected p90=%lldms p99=%lldms "
                  "late=%llu\n",
                  (long long)c90, (long long)c99, (long long)u90, (long long)u99,
                  (unsigned long long)r->total.late);
    assert_true(c99 >= 150);
    assert_true(c90 >= 20);
    assert_true(u90 < c90 / 2);
    assert_true(u99 < c99 / 2);
    fx_done(&fx);
}

/* Closed loop: the server never holds more requests than the concurrency of the widest phase,
 * and reaches it; back-fill adds samples to the corrected histogram only. */
static void test_closed_concurrency(void **state)
{
    (void)state;
    fx_t fx;
    fx_init(&fx);
    fx.srv.delay_ms = 5;
    load_phase_t ph[2] = {
        {.duration_ms = 200, .concurrency = 2},
        {.duration_ms = 300, .concurrency = 5},
    };
    load_spec_t s = {.path = "/ok",
                     .model = LOAD_MODEL_CLOSED,
                     .connections = 64, /* ignored in the closed model */
                     .phases = ph,
                     .n_phases = 2,
                     .expected_interval_us = 1000};
    fx_run(&fx, &s, false, 0);
    const load_result_t *r = fx.res;
    assert_int_equal(fx.srv.max_active, 5);
    assert_int_equal(r->connects, 5);
    assert_true(r->total.ok > 50);
    assert_int_equal(r->total.failed, 0);
    assert_int_equal(r->total.ok, fx.srv.n_total);
    assert_int_equal(r->total.scheduled, r->total.sent);
    assert_int_equal(hdr_total_count(r->uncorrected), r->total.ok);
    /* each 5 ms answer with a 1 ms expected interval back-fills about 4 more samples */
    assert_true(hdr_total_count(r->corrected) > 3 * hdr_total_count(r->uncorrected));
    /* phase 0 ran 2 loops, phase 1 five: the later phase does more than twice the work */
    assert_true(r->phases[1].achieved_rate > 1.8 * r->phases[0].achieved_rate);
    fx_done(&fx);

    /* think time paces a single loop: 20 ms think + ~0 ms answer over 300 ms ~ 15 requests */
    fx_init(&fx);
    load_phase_t one = {.duration_ms = 300, .concurrency = 1, .think_time_us = 20000};
    load_spec_t s2 = {.path = "/ok", .model = LOAD_MODEL_CLOSED, .phases = &one, .n_phases = 1};
    fx_run(&fx, &s2, false, 0);
    assert_int_equal(fx.srv.max_active, 1);
    assert_in_range(fx.res->total.ok, 5, 16);
    fx_done(&fx);
}

static void run_mix(uint64_t seed, uint64_t counts[3], uint64_t srv_counts[3])
{
    fx_t fx;
    fx_init(&fx);
    load_header_t hdrs[] = {{"X-Test", "1"}};
    load_template_t t[3] = {
        {.name = "a", .path = "/a", .weight = 1},
        {.name = "b", .path = "/b", .weight = 2, .headers = hdrs, .n_headers = 1},
        {.name = "c", .path = "/c", .weight = 7, .method = "POST", .body = "{\"x\":1}"},
    };
    load_phase_t ph = {.duration_ms = 500, .rate_start = 2000, .rate_end = -1};
    load_spec_t s = {.connections = 8,
                     .max_outstanding = 4000,
                     .phases = &ph,
                     .n_phases = 1,
                     .templates = t,
                     .n_templates = 3,
                     .seed = seed};
    fx_run(&fx, &s, false, 0);
    const load_result_t *r = fx.res;
    assert_int_equal(r->total.scheduled, 1000);
    assert_int_equal(r->total.ok, 1000);
    for (int i = 0; i < 3; i++) {
        counts[i] = r->templates[i].counters.ok;
        assert_int_equal(r->templates[i].counters.scheduled, counts[i]);
        assert_int_equal(hdr_total_count(r->templates[i].corrected), (int64_t)counts[i]);
    }
    assert_non_null(load_result_template(r, "b"));
    assert_ptr_equal(load_result_template(r, "b"), &r->templates[1]);
    assert_null(load_result_template(r, "zz"));
    srv_counts[0] = fx.srv.n_a;
    srv_counts[1] = fx.srv.n_b;
    srv_counts[2] = fx.srv.n_c;
    fx_done(&fx);
}

/* Weighted mix: proportions follow the weights; the same seed gives the same counts. */
static void test_mix(void **state)
{
    (void)state;
    uint64_t c1[3], s1[3], c2[3], s2[3], c3[3], s3[3];
    run_mix(42, c1, s1);
    run_mix(42, c2, s2);
    run_mix(43, c3, s3);
    print_message("mix seed 42: %llu %llu %llu; seed 43: %llu %llu %llu\n",
                  (unsigned long long)c1[0], (unsigned long long)c1[1], (unsigned long long)c1[2],
                  (unsigned long long)c3[0], (unsigned long long)c3[1], (unsigned long long)c3[2]);
    const double w[3] = {0.1, 0.2, 0.7};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c1[i], s1[i]); /* the server saw each template's path */
        assert_int_equal(c1[i], c2[i]);
        double f = (double)c1[i] / 1000.0;
        assert_true(f > w[i] - 0.05 && f < w[i] + 0.05);
    }
    assert_true(c1[0] != c3[0] || c1[1] != c3[1]);
}

/* Refused connections, 500s, timeouts and body mismatches land in their own classes. */
static void test_errors(void **state)
{
    (void)state;
    /* a port with no listener: bind one, note it, close it */
    int dead_port;
    {
        uv_loop_t l;
        uv_tcp_t t;
        assert_int_equal(uv_loop_init(&l), 0);
        uv_tcp_init(&l, &t);
        struct sockaddr_in a;
        uv_ip4_addr("127.0.0.1", 0, &a);
        assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&a, 0), 0);
        struct sockaddr_in got;
        int len = sizeof got;
        assert_int_equal(uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len), 0);
        dead_port = ntohs(got.sin_port);
        uv_close((uv_handle_t *)&t, NULL);
        uv_run(&l, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&l), 0);
    }
    fx_t fx;
    fx_init(&fx);
    load_phase_t ph = {.duration_ms = 200, .rate_start = 50, .rate_end = -1};
    load_spec_t s = {.port = (uint16_t)dead_port, .phases = &ph, .n_phases = 1};
    fx_run(&fx, &s, false, 0);
    assert_in_range(fx.res->total.scheduled, 9, 11);
    assert_int_equal(fx.res->total.errors[LOAD_ERR_CONNECT], fx.res->total.scheduled);
    assert_int_equal(fx.res->total.failed, fx.res->total.scheduled);
    assert_int_equal(fx.res->total.ok, 0);
    assert_int_equal(fx.res->total.completed, 0);
    assert_int_equal(hdr_total_count(fx.res->corrected), 0);
    fx_done(&fx);

    /* closed loop against the dead port: errors are counted, the loop backs off */
    fx_init(&fx);
    load_phase_t cph = {.duration_ms = 200, .concurrency = 2};
    load_spec_t cs = {
        .port = (uint16_t)dead_port, .model = LOAD_MODEL_CLOSED, .phases = &cph, .n_phases = 1};
    fx_run(&fx, &cs, false, 0);
    assert_true(fx.res->total.errors[LOAD_ERR_CONNECT] >= 2);
    assert_true(fx.res->total.errors[LOAD_ERR_CONNECT] <= 2 * (200 / 10 + 2));
    assert_int_equal(fx.res->total.failed, fx.res->total.errors[LOAD_ERR_CONNECT]);
    fx_done(&fx);

    /* 500s: complete responses, recorded, classified as status errors */
    fx_init(&fx);
    load_spec_t s500 = {.path = "/fail", .phases = &ph, .n_phases = 1};
    fx_run(&fx, &s500, false, 0);
    assert_in_range(fx.res->total.scheduled, 9, 11);
    assert_int_equal(fx.res->total.errors[LOAD_ERR_STATUS], fx.res->total.scheduled);
    assert_int_equal(fx.res->total.completed, fx.res->total.scheduled);
    assert_int_equal(fx.res->total.ok, 0);
    assert_int_equal(hdr_total_count(fx.res->corrected), (int64_t)fx.res->total.completed);
    assert_int_equal(fx.srv.n_fail, fx.res->total.scheduled);
    fx_done(&fx);

    /* ok_status_class 5 turns them into successes */
    fx_init(&fx);
    s500.ok_status_class = 5;
    s500.port = 0; /* the new server's port */
    fx_run(&fx, &s500, false, 0);
    assert_int_equal(fx.res->total.ok, fx.res->total.scheduled);
    fx_done(&fx);

    /* timeouts: the server never answers /hang */
    fx_init(&fx);
    load_phase_t tph = {.duration_ms = 200, .rate_start = 20, .rate_end = -1};
    load_spec_t sh = {
        .path = "/hang", .connections = 8, .timeout_ms = 100, .phases = &tph, .n_phases = 1};
    fx_run(&fx, &sh, false, 0);
    assert_int_equal(fx.res->total.scheduled, 4);
    assert_int_equal(fx.res->total.errors[LOAD_ERR_TIMEOUT], 4);
    assert_int_equal(fx.res->total.completed, 0);
    fx_done(&fx);

    /* body mismatch, per template expectation overriding the spec's */
    fx_init(&fx);
    load_template_t bt[2] = {
        {.name = "miss", .path = "/ok", .expect_body = "not there"},
        {.name = "hit", .path = "/ok"},
    };
    load_spec_t sb = {.expect_body = "hello",
                      .phases = &ph,
                      .n_phases = 1,
                      .templates = bt,
                      .n_templates = 2,
                      .seed = 5};
    fx_run(&fx, &sb, false, 0);
    const load_template_result_t *miss = load_result_template(fx.res, "miss");
    const load_template_result_t *hit = load_result_template(fx.res, "hit");
    assert_true(miss->counters.scheduled > 0 && hit->counters.scheduled > 0);
    assert_int_equal(miss->counters.errors[LOAD_ERR_BODY], miss->counters.scheduled);
    assert_int_equal(hit->counters.ok, hit->counters.scheduled);
    assert_int_equal(fx.res->total.errors[LOAD_ERR_BODY], miss->counters.scheduled);
    fx_done(&fx);
}

/* ---- a raw TCP server that answers anything with broken HTTP ---- */

typedef enum { RAW_GARBAGE, RAW_CLOSE, RAW_TRUNCATED } raw_mode_t;

typedef struct raw_srv_s {
    uv_tcp_t listener;
    uv_tcp_t clients[64];
    uv_write_t writes[64];
    int n_clients;
    raw_mode_t mode;
    int port;
} raw_srv_t;

static void raw_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    static char buf[4096];
    (void)h;
    (void)sz;
    *b = uv_buf_init(buf, sizeof buf);
}

static void raw_on_write(uv_write_t *w, int status)
{
    (void)status;
    uv_close((uv_handle_t *)w->handle, NULL); /* the truncated/garbage answer, then close */
}

static void raw_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    raw_srv_t *rs = st->data;
    (void)b;
    if (n == 0)
        return;
    uv_read_stop(st);
    if (n < 0 || rs->mode == RAW_CLOSE) {
        uv_close((uv_handle_t *)st, NULL);
        return;
    }
    static const char garbage[] = "NOT HTTP AT ALL\r\n\r\n";
    static const char trunc[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
    uv_buf_t out = rs->mode == RAW_GARBAGE ? uv_buf_init((char *)garbage, sizeof garbage - 1)
                                           : uv_buf_init((char *)trunc, sizeof trunc - 1);
    int i = (int)((uv_tcp_t *)st - rs->clients);
    uv_write(&rs->writes[i], st, &out, 1, raw_on_write);
}

static void raw_on_conn(uv_stream_t *l, int status)
{
    raw_srv_t *rs = l->data;
    assert_int_equal(status, 0);
    assert_true(rs->n_clients < 64);
    uv_tcp_t *c = &rs->clients[rs->n_clients++];
    uv_tcp_init(l->loop, c);
    c->data = rs;
    assert_int_equal(uv_accept(l, (uv_stream_t *)c), 0);
    uv_read_start((uv_stream_t *)c, raw_alloc, raw_on_read);
}

static void raw_start(raw_srv_t *rs, uv_loop_t *loop, raw_mode_t mode)
{
    memset(rs, 0, sizeof *rs);
    rs->mode = mode;
    uv_tcp_init(loop, &rs->listener);
    rs->listener.data = rs;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&rs->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&rs->listener, 64, raw_on_conn), 0);
    struct sockaddr_in got;
    int len = sizeof got;
    assert_int_equal(uv_tcp_getsockname(&rs->listener, (struct sockaddr *)&got, &len), 0);
    rs->port = ntohs(got.sin_port);
}

static void raw_stop(void *arg)
{
    raw_srv_t *rs = arg;
    uv_close((uv_handle_t *)&rs->listener, NULL);
    for (int i = 0; i < rs->n_clients; i++)
        if (!uv_is_closing((uv_handle_t *)&rs->clients[i]))
            uv_close((uv_handle_t *)&rs->clients[i], NULL);
}

/* Malformed answers are protocol errors; a connection closed before the answer, or in the
 * middle of its body, is a reset. */
static void test_broken_servers(void **state)
{
    (void)state;
    static const struct {
        raw_mode_t mode;
        load_err_class_t cls;
    } cases[] = {
        {RAW_GARBAGE, LOAD_ERR_PROTO},
        {RAW_CLOSE, LOAD_ERR_RESET},
        {RAW_TRUNCATED, LOAD_ERR_RESET},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_t fx;
        fx_init(&fx);
        raw_srv_t rs;
        raw_start(&rs, &fx.loop, cases[i].mode);
        fx.done_hook = raw_stop;
        fx.done_hook_arg = &rs;
        load_phase_t ph = {.duration_ms = 200, .rate_start = 50, .rate_end = -1};
        load_spec_t s = {.port = (uint16_t)rs.port, .phases = &ph, .n_phases = 1};
        fx_run(&fx, &s, false, 0);
        dump(load_err_class_name(cases[i].cls), &fx.res->total);
        assert_in_range(fx.res->total.scheduled, 9, 11);
        assert_int_equal(fx.res->total.errors[cases[i].cls], fx.res->total.scheduled);
        assert_int_equal(fx.res->total.failed, fx.res->total.scheduled);
        assert_int_equal(fx.res->total.completed, 0);
        fx_done(&fx);
    }
}

/* Chunked bodies keep the connection; an SSE answer is complete at its JSON-RPC response even
 * though the stream stays open (the connection is then replaced). */
static void test_chunked_and_sse(void **state)
{
    (void)state;
    fx_t fx;
    fx_init(&fx);
    load_phase_t ph = {.duration_ms = 200, .rate_start = 50, .rate_end = -1};
    load_spec_t s = {
        .path = "/chunked", .expect_body = "hello chunked", .phases = &ph, .n_phases = 1};
    fx_run(&fx, &s, false, 0);
    assert_in_range(fx.res->total.ok, 9, 11);
    assert_int_equal(fx.res->total.failed, 0);
    assert_int_equal(fx.res->connects, 1);
    fx_done(&fx);

    fx_init(&fx);
    load_spec_t se = {.path = "/sse",
                      .expect_body = "\"result\"",
                      .phases = &ph,
                      .n_phases = 1,
                      .timeout_ms = 1000};
    fx_run(&fx, &se, false, 0);
    assert_in_range(fx.res->total.ok, 9, 11);
    assert_int_equal(fx.res->total.failed, 0);
    assert_int_equal(fx.res->connects, fx.res->total.ok);
    assert_true(pct_ms(fx.res->uncorrected, 100) < 500);
    fx_done(&fx);
}

/* Abort from a timer mid-run and from the progress callback. */
static void test_abort(void **state)
{
    (void)state;
    fx_t fx;
    fx_init(&fx);
    fx.srv.delay_ms = 50;
    load_phase_t ph = {.duration_ms = 10000, .rate_start = 100, .rate_end = -1};
    load_spec_t s = {.path = "/ok", .connections = 2, .phases = &ph, .n_phases = 1};
    fx.aux_abort = true;
    fx_run(&fx, &s, false, 300);
    const load_result_t *r = fx.res;
    assert_true(r->aborted);
    assert_int_equal(r->abort_reason, 42);
    assert_true(fx.t_done - fx.t_start < 2000000000ull);
    assert_true(r->total.scheduled >= 20 && r->total.scheduled <= 40);
    assert_true(r->total.dropped > 0); /* 2 connections at 50 ms: the backlog was unsent */
    assert_true(r->measured_ns < 1000000000ull);
    fx_done(&fx);

    fx_init(&fx);
    load_phase_t cph = {.duration_ms = 10000, .concurrency = 3};
    load_spec_t cs = {.path = "/ok", .model = LOAD_MODEL_CLOSED, .phases = &cph, .n_phases = 1};
    fx.abort_on_progress = 1;
    fx_run(&fx, &cs, true, 0);
    assert_true(fx.res->aborted);
    assert_int_equal(fx.res->abort_reason, 7);
    assert_int_equal(fx.progress_calls, 1);
    assert_true(fx.t_done - fx.t_start < 3000000000ull);
    assert_true(fx.res->total.ok > 0);
    fx_done(&fx);
}

int main(void)
{
    mcp_alloc_init();
    log_init_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_open_rate),
        cmocka_unit_test(test_warmup_and_progress),
        cmocka_unit_test(test_stall_corrected),
        cmocka_unit_test(test_closed_concurrency),
        cmocka_unit_test(test_mix),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_chunked_and_sse),
        cmocka_unit_test(test_broken_servers),
        cmocka_unit_test(test_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
