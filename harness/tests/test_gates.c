/* Unit tests for gates (k6-style thresholds) and the metrics registry (counts, rates, the
 * per-second interval log). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "gates.h"
#include "hdr_log.h"
#include "metrics.h"

#include <math.h>
#include <string.h>

#define MS 1000000LL
#define S  1000000000ULL

static void test_parse(void **state)
{
    (void)state;
    gate_expr_t g;
    char err[256];
    assert_int_equal(gate_parse("p(99)<2ms", &g, err, sizeof(err)), 0);
    assert_int_equal(g.agg, GATE_P);
    assert_true(g.percentile == 99.0);
    assert_int_equal(g.op, GATE_LT);
    assert_true(g.threshold == 2e6);
    assert_int_equal(g.is_time, 1);

    assert_int_equal(gate_parse(" p(99.9) <= 250us ", &g, err, sizeof(err)), 0);
    assert_true(g.percentile == 99.9);
    assert_int_equal(g.op, GATE_LE);
    assert_true(g.threshold == 250e3);
    assert_int_equal(gate_parse("avg<1.5", &g, err, sizeof(err)), 0); /* bare number: ms */
    assert_true(g.threshold == 1.5e6);
    assert_int_equal(gate_parse("max<1s", &g, err, sizeof(err)), 0);
    assert_true(g.threshold == 1e9);
    assert_int_equal(gate_parse("min>=100ns", &g, err, sizeof(err)), 0);
    assert_true(g.threshold == 100);
    assert_int_equal(gate_parse("med<3\xc2\xb5s", &g, err, sizeof(err)), 0);
    assert_true(g.threshold == 3000);
    assert_int_equal(gate_parse("errors==0", &g, err, sizeof(err)), 0);
    assert_int_equal(g.agg, GATE_ERRORS);
    assert_int_equal(g.op, GATE_EQ);
    assert_int_equal(g.is_time, 0);
    assert_int_equal(gate_parse("count===10", &g, err, sizeof(err)), 0);
    assert_int_equal(g.op, GATE_EQ);
    assert_int_equal(gate_parse("count!=3", &g, err, sizeof(err)), 0);
    assert_int_equal(g.op, GATE_NE);
    assert_int_equal(gate_parse("rate>100", &g, err, sizeof(err)), 0);
    assert_int_equal(gate_parse("error_rate<0.01", &g, err, sizeof(err)), 0);
    assert_true(g.threshold == 0.01);
    assert_int_equal(gate_parse("stddev<1ms", &g, err, sizeof(err)), 0);
    assert_int_equal(gate_parse("count>5", &g, err, sizeof(err)), 0);
    assert_int_equal(g.op, GATE_GT);

    static const struct {
        const char *text;
        const char *want;
    } bad[] = {{"p99<2ms", "use p(99)"},
               {"p(101)<2", "between 0 and 100"},
               {"p(x)<2", "between 0 and 100"},
               {"mean<2ms", "unknown aggregation \"mean\""},
               {"avg 2ms", "expected an operator"},
               {"avg<", "expected a number"},
               {"avg<2 ms x", "unexpected"},
               {"avg<2h", "units"},
               {"count<5ms", "takes no unit"},
               {"", "unknown aggregation"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(gate_parse(bad[i].text, &g, err, sizeof(err)), MCP_EINVAL);
        if (!strstr(err, bad[i].want))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].text, err, bad[i].want);
    }
}

static int eval(const char *text, const metric_t *mt, char *msg, size_t cap, double *obs)
{
    gate_expr_t g;
    assert_int_equal(gate_parse(text, &g, NULL, 0), 0);
    double o;
    int r = gate_eval(&g, mt, &o, msg, cap);
    if (obs)
        *obs = o;
    return r;
}

static void test_eval(void **state)
{
    (void)state;
    metrics_t *m;
    assert_int_equal(metrics_new(1000, &m), 0);
    /* 100 samples 1..100 ms, 2 of them failed, over 9.9 s */
    for (int i = 1; i <= 100; i++)
        assert_int_equal(
            metrics_record(m, "calls", i * MS, i > 98 ? 0 : 1, 1000 + (uint64_t)i * 100000000ULL),
            0);
    metric_t *mt = metrics_get(m, "calls");
    assert_non_null(mt);
    assert_int_equal(mt->count, 100);
    assert_int_equal(mt->errors, 2);
    char msg[256];
    double obs;
    assert_int_equal(eval("p(99)<100ms", mt, msg, sizeof(msg), &obs), 1);
    assert_true(fabs(obs - 99e6) < 0.1e6);
    assert_int_equal(eval("p(99)<98ms", mt, msg, sizeof(msg), &obs), 0);
    assert_string_equal(msg, "observed 99ms");
    assert_int_equal(eval("p(50)<=50.1ms", mt, msg, sizeof(msg), NULL), 1);
    assert_int_equal(eval("med>49ms", mt, msg, sizeof(msg), NULL), 1);
    assert_int_equal(eval("max<101ms", mt, msg, sizeof(msg), NULL), 1);
    assert_int_equal(eval("max<100ms", mt, msg, sizeof(msg), NULL), 0);
    assert_int_equal(eval("min>=0.99ms", mt, msg, sizeof(msg), NULL), 1);
    assert_int_equal(eval("avg<51ms", mt, msg, sizeof(msg), &obs), 1);
    assert_true(fabs(obs - 50.5e6) < 0.1e6);
    assert_int_equal(eval("count==100", mt, msg, sizeof(msg), NULL), 1);
    assert_int_equal(eval("errors==0", mt, msg, sizeof(msg), &obs), 0);
    assert_string_equal(msg, "observed 2");
    assert_int_equal(eval("error_rate<=0.02", mt, msg, sizeof(msg), NULL), 1);
    assert_int_equal(eval("error_rate<0.02", mt, msg, sizeof(msg), NULL), 0);
    /* 100 samples between 0.1 s and 10 s: ~10.1/s */
    assert_int_equal(eval("rate>10", mt, msg, sizeof(msg), &obs), 1);
    assert_true(obs > 10.0 && obs < 10.2);

    /* a counter-only metric: counts work, latencies have no samples */
    assert_int_equal(metrics_add_counts(m, "dropped", 0, 0, S), 0);
    metric_t *d = metrics_get(m, "dropped");
    assert_int_equal(eval("count==0", d, msg, sizeof(msg), NULL), 1);
    assert_int_equal(eval("p(99)<1s", d, msg, sizeof(msg), &obs), 0);
    assert_string_equal(msg, "no samples");
    assert_true(isnan(obs));
    /* a metric nobody recorded into fails every gate */
    assert_int_equal(eval("count>=0", NULL, msg, sizeof(msg), &obs), 0);
    assert_non_null(strstr(msg, "no such metric"));
    metrics_free(m);
}

static void test_format(void **state)
{
    (void)state;
    char out[32];
    gate_format_ns(850, out, sizeof(out));
    assert_string_equal(out, "850ns");
    gate_format_ns(12300, out, sizeof(out));
    assert_string_equal(out, "12.3us");
    gate_format_ns(4.56e6, out, sizeof(out));
    assert_string_equal(out, "4.56ms");
    gate_format_ns(1.2e9, out, sizeof(out));
    assert_string_equal(out, "1.2s");
    gate_format_ns(NAN, out, sizeof(out));
    assert_string_equal(out, "n/a");
}

typedef struct {
    int intervals;
    int64_t total;
} read_ctx_t;

static int on_entry(void *ud, const hdr_log_reader_t *r, hdr_log_entry_t *e)
{
    (void)r;
    read_ctx_t *c = ud;
    c->intervals++;
    c->total += hdr_total_count(e->histogram);
    hdr_free(e->histogram);
    return 0;
}

static void test_interval_log(void **state)
{
    (void)state;
    metrics_t *m;
    uint64_t t0 = 5 * S;
    assert_int_equal(metrics_new(t0, &m), 0);
    /* samples in seconds 0, 0, 1, 3: three intervals */
    assert_int_equal(metrics_record(m, "x", MS, 1, t0 + 100 * 1000000ULL), 0);
    assert_int_equal(metrics_record(m, "x", 2 * MS, 1, t0 + 900 * 1000000ULL), 0);
    assert_int_equal(metrics_record(m, "x", 3 * MS, 1, t0 + 1500 * 1000000ULL), 0);
    assert_int_equal(metrics_record(m, "x", 4 * MS, 0, t0 + 3200 * 1000000ULL), 0);
    metrics_finish(m, t0 + 3500 * 1000000ULL);
    metric_t *mt = metrics_get(m, "x");
    assert_int_equal(mt->hlog_intervals, 3);
    assert_non_null(strstr(mt->hlog.data, "0.000,1.000,"));
    assert_non_null(strstr(mt->hlog.data, "1.000,1.000,"));
    assert_non_null(strstr(mt->hlog.data, "3.000,0.500,"));
    /* a load phase's own interval lands after the open one is closed */
    hdr_histogram_t *h;
    assert_int_equal(hdr_init(1, 3600LL * 1000000000LL, 3, &h, NULL, 0), 0);
    hdr_record_value(h, 5 * MS);
    hdr_record_value(h, 6 * MS);
    assert_int_equal(metrics_log_interval(m, "x", 4.0, 1.0, h), 0);
    assert_int_equal(mt->hlog_intervals, 4);
    hdr_free(h);
    /* the lines decode */
    hdr_log_header_t hh = {.producer = "t", .start_time_s = 1.0, .write_base_time = true};
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(hdr_log_write_header(&b, &hh), 0);
    buf_append(&b, mt->hlog.data, mt->hlog.len);
    hdr_log_reader_t r;
    hdr_log_reader_init(&r);
    read_ctx_t c = {0};
    char err[128];
    assert_int_equal(hdr_log_read_text(&r, b.data, b.len, on_entry, &c, err, sizeof(err)), 0);
    assert_int_equal(c.intervals, 4);
    assert_int_equal(c.total, 6);
    buf_free(&b);
    metrics_free(m);
}

static void test_metrics_registry(void **state)
{
    (void)state;
    metrics_t *m;
    assert_int_equal(metrics_new(0, &m), 0);
    metric_t *a;
    assert_int_equal(metrics_ensure(m, "a", 0, &a), 0);
    assert_null(a->hist);
    assert_int_equal(metrics_ensure(m, "a", 1, &a), 0);
    assert_non_null(a->hist);
    assert_int_equal(metrics_ensure(m, "", 1, &a), MCP_EINVAL);
    /* out-of-range latencies are clamped, not lost */
    assert_int_equal(metrics_record(m, "a", -5, 1, 10), 0);
    assert_int_equal(metrics_record(m, "a", INT64_MAX, 1, 20), 0);
    assert_int_equal(hdr_total_count(a->hist), 2);
    assert_int_equal(metrics_count(m), 1);
    assert_ptr_equal(metrics_at(m, 0), a);
    assert_null(metrics_at(m, 1));
    /* allocation failures are reported */
    mcp_alloc_fail_after(0);
    assert_int_equal(metrics_ensure(m, "b", 1, &a), MCP_ENOMEM);
    mcp_alloc_fail_after(-1);
    metrics_free(m);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_interval_log),
        cmocka_unit_test(test_metrics_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
