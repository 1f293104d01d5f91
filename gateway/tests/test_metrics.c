/* metrics: golden Prometheus text for known values (counters, gauges, histograms, labels, no
 * labels), label and help escaping, UTF-8 normalisation, JSON percentiles equal to
 * hdr_value_at_percentile, cardinality cap with the "other" series, collected metrics (mirrored,
 * borrowed histograms, stale series dropped, overflow sums), ratios, bad names, process metrics,
 * output limit, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static uint64_t fake_now;
static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static gw_metrics_t *new_registry(int process)
{
    gw_metrics_options_t o = {.process_metrics = process, .clock_ns = fake_clock};
    gw_metrics_t *m;
    assert_int_equal(gw_metrics_new(&o, &m), 0);
    return m;
}

static char *text_of(gw_metrics_t *m)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(gw_metrics_write_text(m, &b), 0);
    char *s = buf_detach(&b, NULL);
    assert_non_null(s);
    return s;
}

static void assert_text(gw_metrics_t *m, const char *expected)
{
    char *got = text_of(m);
    if (strcmp(got, expected) != 0)
        fprintf(stderr, "---- got ----\n%s---- expected ----\n%s----\n", got, expected);
    assert_string_equal(got, expected);
    mcp_free(got);
}

static void golden_counters_gauges(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    gw_metric_t *reqs, *up, *plain, *empty;
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "gw_http_requests_total",
                                         "HTTP requests.", "route,method,status", NULL, &reqs),
                     0);
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_GAUGE, "gw_upstream_up", "Up.", "server", NULL, &up), 0);
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_GAUGE, "gw_temperature", "No labels.", NULL, NULL, &plain),
        0);
    /* Labelled and never used: not exposed at all. */
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_COUNTER, "gw_unused_total", "Unused.", "x", NULL, &empty),
        0);
    gw_series_inc(gw_metric_get(reqs, (const char *[]){"/health", "GET", "2xx"}));
    gw_series_inc(gw_metric_get(reqs, (const char *[]){"/mcp", "POST", "2xx"}));
    gw_series_add(gw_metric_get(reqs, (const char *[]){"/health", "GET", "2xx"}), 2);
    gw_series_add(gw_metric_get(reqs, (const char *[]){"/mcp", "POST", "5xx"}), 1);
    /* Counters never go down. */
    gw_series_add(gw_metric_get(reqs, (const char *[]){"/mcp", "POST", "5xx"}), -5);
    gw_series_add(gw_metric_get(reqs, (const char *[]){"/mcp", "POST", "5xx"}), NAN);
    gw_series_set(gw_metric_get(up, (const char *[]){"db"}), 1);
    gw_series_set(gw_metric_get(up, (const char *[]){"github"}), 0);
    gw_series_set(gw_metric_get(plain, NULL), -0.25);
    assert_int_equal(gw_metric_series_count(reqs), 3);
    assert_text(m, "# HELP gw_http_requests_total HTTP requests.\n"
                   "# TYPE gw_http_requests_total counter\n"
                   "gw_http_requests_total{route=\"/health\",method=\"GET\",status=\"2xx\"} 3\n"
                   "gw_http_requests_total{route=\"/mcp\",method=\"POST\",status=\"2xx\"} 1\n"
                   "gw_http_requests_total{route=\"/mcp\",method=\"POST\",status=\"5xx\"} 1\n"
                   "# HELP gw_upstream_up Up.\n"
                   "# TYPE gw_upstream_up gauge\n"
                   "gw_upstream_up{server=\"db\"} 1\n"
                   "gw_upstream_up{server=\"github\"} 0\n"
                   "# HELP gw_temperature No labels.\n"
                   "# TYPE gw_temperature gauge\n"
                   "gw_temperature -0.25\n");
    /* Specials and shortest round-trip spellings. */
    gw_series_set(gw_metric_get(plain, NULL), INFINITY);
    char *t = text_of(m);
    assert_non_null(strstr(t, "\ngw_temperature +Inf\n"));
    mcp_free(t);
    gw_series_set(gw_metric_get(plain, NULL), NAN);
    t = text_of(m);
    assert_non_null(strstr(t, "\ngw_temperature NaN\n"));
    mcp_free(t);
    gw_series_set(gw_metric_get(plain, NULL), 0.1);
    t = text_of(m);
    assert_non_null(strstr(t, "\ngw_temperature 0.1\n"));
    mcp_free(t);
    gw_series_set(gw_metric_get(plain, NULL), 1e-6);
    t = text_of(m);
    assert_non_null(strstr(t, "\ngw_temperature 1e-06\n"));
    mcp_free(t);
    gw_series_set(gw_metric_get(plain, NULL), 1234567890123.0);
    t = text_of(m);
    assert_non_null(strstr(t, "\ngw_temperature 1234567890123\n"));
    mcp_free(t);
    gw_metrics_free(m);
}

static void golden_histogram(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    static const double le[] = {0.001, 0.01, 0.1};
    gw_metric_options_t o = {.le = le, .le_count = 3};
    gw_metric_t *lat, *bare;
    assert_int_equal(gw_metrics_register(m, GW_METRIC_HISTOGRAM, "gw_req_seconds", "Latency.",
                                         "route", &o, &lat),
                     0);
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_HISTOGRAM, "gw_bare_seconds", "Bare.", "", &o, &bare), 0);
    gw_series_t *s = gw_metric_get(lat, (const char *[]){"/x"});
    /* 0.5 ms, exactly 1 ms (le is inclusive), 2 ms, 50 ms, 2 s (above every bound) */
    assert_int_equal(gw_series_observe(s, 500000), 0);
    assert_int_equal(gw_series_observe(s, 1000000), 0);
    assert_int_equal(gw_series_observe(s, 2000000), 0);
    assert_int_equal(gw_series_observe(s, 50000000), 0);
    assert_int_equal(gw_series_observe(s, 2000000000), 0);
    assert_int_equal(gw_series_observe(gw_metric_get(bare, NULL), 250000), 0);
    /* Not a histogram of ours: refused; counter ops on histograms are ignored. */
    gw_series_add(s, 5);
    assert_text(m, "# HELP gw_req_seconds Latency.\n"
                   "# TYPE gw_req_seconds histogram\n"
                   "gw_req_seconds_bucket{route=\"/x\",le=\"0.001\"} 2\n"
                   "gw_req_seconds_bucket{route=\"/x\",le=\"0.01\"} 3\n"
                   "gw_req_seconds_bucket{route=\"/x\",le=\"0.1\"} 4\n"
                   "gw_req_seconds_bucket{route=\"/x\",le=\"+Inf\"} 5\n"
                   "gw_req_seconds_sum{route=\"/x\"} 2.0535\n"
                   "gw_req_seconds_count{route=\"/x\"} 5\n"
                   "# HELP gw_bare_seconds Bare.\n"
                   "# TYPE gw_bare_seconds histogram\n"
                   "gw_bare_seconds_bucket{le=\"0.001\"} 1\n"
                   "gw_bare_seconds_bucket{le=\"0.01\"} 1\n"
                   "gw_bare_seconds_bucket{le=\"0.1\"} 1\n"
                   "gw_bare_seconds_bucket{le=\"+Inf\"} 1\n"
                   "gw_bare_seconds_sum 0.00025\n"
                   "gw_bare_seconds_count 1\n");
    /* Clamping: negative to 0, beyond 60 s to 60 s. */
    gw_series_t *c = gw_metric_get(lat, (const char *[]){"/clamp"});
    assert_int_equal(gw_series_observe(c, -5), 0);
    assert_int_equal(gw_series_observe(c, INT64_MAX), 0);
    assert_int_equal(hdr_total_count(gw_series_hdr(c)), 2);
    assert_true(hdr_max(gw_series_hdr(c)) >= 60000000000LL);
    assert_true(hdr_max(gw_series_hdr(c)) <= 60100000000LL);
    gw_metrics_free(m);
}

static void default_buckets(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    gw_metric_t *h;
    gw_metric_options_t us = {.unit_ns = 1000};
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_HISTOGRAM, "gw_us_seconds", "Micro.", NULL, &us, &h), 0);
    /* 3 ms in microseconds */
    assert_int_equal(gw_series_observe(gw_metric_get(h, NULL), 3000), 0);
    char *t = text_of(m);
    const char *expect = "gw_us_seconds_bucket{le=\"0.0005\"} 0\n"
                         "gw_us_seconds_bucket{le=\"0.001\"} 0\n"
                         "gw_us_seconds_bucket{le=\"0.0025\"} 0\n"
                         "gw_us_seconds_bucket{le=\"0.005\"} 1\n"
                         "gw_us_seconds_bucket{le=\"0.01\"} 1\n";
    assert_non_null(strstr(t, expect));
    assert_non_null(strstr(t, "gw_us_seconds_bucket{le=\"60\"} 1\n"
                              "gw_us_seconds_bucket{le=\"+Inf\"} 1\n"
                              "gw_us_seconds_sum 0.003\n"
                              "gw_us_seconds_count 1\n"));
    size_t lines = 0;
    for (const char *p = t; (p = strstr(p, "_bucket{")) != NULL; p++)
        lines++;
    assert_int_equal(lines, gw_metrics_default_le_count + 1);
    mcp_free(t);
    gw_metrics_free(m);
}

static void escaping(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    gw_metric_t *c;
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "gw_x_total",
                                         "Help with \\ backslash\nand \"quotes\".", "tool", NULL,
                                         &c),
                     0);
    gw_series_inc(gw_metric_get(c, (const char *[]){"a\"b\\c\nd"}));
    /* Each byte of invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong
     * NUL) becomes U+FFFD; valid multi-byte text passes. */
    gw_series_inc(gw_metric_get(c, (const char *[]){"x\x80y\xe2\x82z\xc0\x80"}));
    gw_series_inc(gw_metric_get(c, (const char *[]){"caf\xc3\xa9 \xf0\x9f\x98\x80"}));
    /* The same invalid input finds the same series (normalised before lookup). */
    gw_series_inc(gw_metric_get(c, (const char *[]){"x\x80y\xe2\x82z\xc0\x80"}));
    assert_int_equal(gw_metric_series_count(c), 3);
    assert_text(
        m,
        "# HELP gw_x_total Help with \\\\ backslash\\nand \"quotes\".\n"
        "# TYPE gw_x_total counter\n"
        "gw_x_total{tool=\"a\\\"b\\\\c\\nd\"} 1\n"
        "gw_x_total{tool=\"x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\"} 2\n"
        "gw_x_total{tool=\"caf\xc3\xa9 \xf0\x9f\x98\x80\"} 1\n");

    /* Long values are cut at GW_METRICS_LABEL_VALUE_MAX bytes, at a character boundary: two
     * values differing only after the cut share a series. */
    char longv[400], longw[400];
    memset(longv, 'a', sizeof longv);
    longv[0] = 'L';
    longv[GW_METRICS_LABEL_VALUE_MAX - 1] = '\xc3'; /* a 2-byte char straddling the cut */
    longv[GW_METRICS_LABEL_VALUE_MAX] = '\xa9';
    longv[sizeof longv - 1] = '\0';
    memcpy(longw, longv, sizeof longw);
    longw[300] = 'b';
    gw_series_t *s1 = gw_metric_get(c, (const char *[]){longv});
    gw_series_t *s2 = gw_metric_get(c, (const char *[]){longw});
    assert_ptr_equal(s1, s2);
    char *t = text_of(m);
    const char *line = strstr(t, "{tool=\"L");
    assert_non_null(line);
    const char *end = strchr(line + 7, '"');
    assert_int_equal(end - (line + 7), GW_METRICS_LABEL_VALUE_MAX - 1);
    mcp_free(t);
    gw_metrics_free(m);
}

static void bad_registrations(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    gw_metric_t *x;
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "", "h", NULL, NULL, &x),
                     MCP_EINVAL);
    assert_null(x);
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "9abc", "h", NULL, NULL, &x),
                     MCP_EINVAL);
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "a-b", "h", NULL, NULL, &x),
                     MCP_EINVAL);
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "ok_total", "h", "__x", NULL, &x),
                     MCP_EINVAL);
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "ok_total", "h", "a,a", NULL, &x),
                     MCP_EINVAL);
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "ok_total", "h", "a,,b", NULL, &x),
                     MCP_EINVAL);
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "ok_total", "h", "a:b", NULL, &x),
                     MCP_EINVAL);
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_COUNTER, "ok_total", "h", "a,b,c,d,e,f,g,h,i", NULL, &x),
        MCP_EINVAL);
    assert_int_equal(gw_metrics_register(m, GW_METRIC_HISTOGRAM, "h_seconds", "h", "le", NULL, &x),
                     MCP_EINVAL);
    static const double unsorted[] = {0.1, 0.01};
    gw_metric_options_t o = {.le = unsorted, .le_count = 2};
    assert_int_equal(gw_metrics_register(m, GW_METRIC_HISTOGRAM, "h_seconds", "h", NULL, &o, &x),
                     MCP_EINVAL);
    o = (gw_metric_options_t){.sigfigs = 6};
    assert_int_equal(gw_metrics_register(m, GW_METRIC_HISTOGRAM, "h_seconds", "h", NULL, &o, &x),
                     MCP_EINVAL);
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_GAUGE, "process_open_fds", "h", NULL, NULL, &x),
        MCP_EEXISTS);
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_COUNTER, "ok_total", "h", " a , b_2 ", NULL, &x), 0);
    assert_int_equal(gw_metrics_register(m, GW_METRIC_GAUGE, "ok_total", "h", NULL, NULL, &x),
                     MCP_EEXISTS);
    assert_non_null(gw_metrics_find(m, "ok_total"));
    assert_null(gw_metrics_find(m, "nope"));
    gw_series_t *s;
    assert_int_equal(gw_metric_series(NULL, NULL, &s), MCP_EINVAL);
    assert_int_equal(gw_metric_series(gw_metrics_find(m, "ok_total"), NULL, &s), MCP_EINVAL);
    assert_null(s);
    /* NULL series are no-ops. */
    gw_series_inc(NULL);
    gw_series_set(NULL, 1);
    assert_int_equal(gw_series_observe(NULL, 1), MCP_EINVAL);
    /* Ratios are checked at definition. */
    assert_int_equal(gw_metrics_add_ratio(m, "r", "nope_total", "ok_total"), MCP_EINVAL);
    assert_int_equal(gw_metrics_add_ratio(m, "r", "ok_total{zz=\"1\"}", "ok_total"), MCP_EINVAL);
    assert_int_equal(gw_metrics_add_ratio(m, "r", "ok_total{a=1}", "ok_total"), MCP_EINVAL);
    assert_int_equal(gw_metrics_add_ratio(m, "r", "ok_total +", "ok_total"), MCP_EINVAL);
    assert_int_equal(gw_metrics_add_ratio(m, "r", "ok_total{a=\"1\"", "ok_total"), MCP_EINVAL);
    double v;
    assert_int_equal(gw_metrics_ratio(m, "r", &v), MCP_ENOTFOUND);
    gw_metrics_free(m);
}

static void percentiles_json(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    gw_metric_t *h, *c;
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_HISTOGRAM, "gw_lat_seconds", "L.", "route", NULL, &h), 0);
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "gw_c_total", "C.", NULL, NULL, &c),
                     0);
    gw_series_add(gw_metric_get(c, NULL), 7);
    gw_series_t *s = gw_metric_get(h, (const char *[]){"/r"});
    /* A spread of values: 1 us .. ~1 s, skewed. */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t v = 1000 + (int64_t)(x % 1000000) * (i % 100 == 0 ? 1000 : 1);
        assert_int_equal(gw_series_observe(s, v), 0);
    }
    const hdr_histogram_t *hd = gw_series_hdr(s);
    assert_non_null(hd);
    fake_now = 2500000000ULL; /* uptime from the registry's clock (started at 0) */
    cJSON *j = gw_metrics_json(m);
    assert_non_null(j);
    assert_true(fabs(cJSON_GetObjectItem(j, "uptime_seconds")->valuedouble - 2.5) < 1e-9);
    assert_null(cJSON_GetObjectItem(j, "process"));
    cJSON *mj = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metrics"), "gw_lat_seconds");
    assert_string_equal(cJSON_GetObjectItem(mj, "type")->valuestring, "histogram");
    cJSON *sj = cJSON_GetArrayItem(cJSON_GetObjectItem(mj, "series"), 0);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(sj, "labels"), "route")->valuestring, "/r");
    assert_int_equal(cJSON_GetObjectItem(sj, "count")->valuedouble, 10000);
    const struct {
        const char *key;
        double pct;
    } p[] = {{"p50_ms", 50}, {"p95_ms", 95}, {"p99_ms", 99}};
    for (size_t i = 0; i < 3; i++) {
        double want = (double)hdr_value_at_percentile(hd, p[i].pct) / 1e6;
        assert_true(cJSON_GetObjectItem(sj, p[i].key)->valuedouble == want);
    }
    assert_true(cJSON_GetObjectItem(sj, "max_ms")->valuedouble == (double)hdr_max(hd) / 1e6);
    assert_true(fabs(cJSON_GetObjectItem(sj, "mean_ms")->valuedouble - hdr_mean(hd) / 1e6) < 1e-9);
    /* p99 is in the slow tail, p50 not: the data is really there. */
    assert_true(cJSON_GetObjectItem(sj, "p50_ms")->valuedouble < 1.1);
    assert_true(cJSON_GetObjectItem(sj, "p99_ms")->valuedouble > 1.0);
    cJSON *cj = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metrics"), "gw_c_total");
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cj, "series"), 0), "value")
            ->valuedouble,
        7);
    cJSON_Delete(j);

    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(gw_metrics_write_json(m, &b), 0);
    cJSON *again = cJSON_Parse(b.data);
    assert_non_null(again);
    cJSON_Delete(again);
    buf_free(&b);
    gw_metrics_free(m);
}

static void cardinality_cap(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    gw_metric_t *c;
    gw_metric_options_t o = {.max_series = 3};
    assert_int_equal(
        gw_metrics_register(m, GW_METRIC_COUNTER, "gw_t_total", "T.", "server,tool", &o, &c), 0);
    char name[32];
    gw_series_t *first[3];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "t%d", i);
        first[i] = gw_metric_get(c, (const char *[]){"s", name});
        gw_series_inc(first[i]);
    }
    gw_series_t *other = NULL;
    for (int i = 3; i < 50; i++) {
        snprintf(name, sizeof name, "t%d", i);
        gw_series_t *s = gw_metric_get(c, (const char *[]){"s", name});
        assert_non_null(s);
        if (other)
            assert_ptr_equal(s, other);
        other = s;
        gw_series_inc(s);
    }
    /* Existing series are still found; new ones all land in "other". */
    assert_ptr_equal(gw_metric_get(c, (const char *[]){"s", "t1"}), first[1]);
    assert_int_equal(gw_metric_series_count(c), 4);
    assert_int_equal(gw_metric_overflowed(c), 47);
    assert_int_equal(gw_series_value(other), 47);
    /* Explicitly asking for the all-"other" set is not an overflow. */
    assert_ptr_equal(gw_metric_get(c, (const char *[]){"other", "other"}), other);
    assert_int_equal(gw_metric_overflowed(c), 47);
    assert_text(m, "# HELP gw_t_total T.\n"
                   "# TYPE gw_t_total counter\n"
                   "gw_t_total{server=\"s\",tool=\"t0\"} 1\n"
                   "gw_t_total{server=\"s\",tool=\"t1\"} 1\n"
                   "gw_t_total{server=\"s\",tool=\"t2\"} 1\n"
                   "gw_t_total{server=\"other\",tool=\"other\"} 47\n"
                   "# HELP gw_metrics_series_overflow_total Lookups of new label sets diverted to "
                   "the \"other\" series because the metric reached its series cap.\n"
                   "# TYPE gw_metrics_series_overflow_total counter\n"
                   "gw_metrics_series_overflow_total{metric=\"gw_t_total\"} 47\n");
    cJSON *j = gw_metrics_json(m);
    cJSON *mj = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metrics"), "gw_t_total");
    assert_int_equal(cJSON_GetObjectItem(mj, "overflowed")->valuedouble, 47);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(mj, "series")), 4);
    cJSON_Delete(j);
    gw_metrics_free(m);
}

static void table_growth(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    gw_metric_t *c;
    gw_metric_options_t o = {.max_series = 5000};
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "gw_g_total", "G.", "k", &o, &c), 0);
    char name[32];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 3000; i++) {
            snprintf(name, sizeof name, "k%d", i);
            gw_series_add(gw_metric_get(c, (const char *[]){name}), i);
        }
    assert_int_equal(gw_metric_series_count(c), 3000);
    assert_int_equal(gw_metric_overflowed(c), 0);
    snprintf(name, sizeof name, "k%d", 1234);
    assert_int_equal(gw_series_value(gw_metric_get(c, (const char *[]){name})), 2468);
    gw_metrics_free(m);
}

/* ---- collected metrics ---- */

typedef struct world_s {
    gw_metrics_std_t std;
    int servers; /* how many upstreams exist now */
    int tools;   /* tools per upstream */
    hdr_histogram_t *lat[3];
    hdr_histogram_t *tool_lat;
    int collected;
} world_t;

static void collect_world(gw_metrics_t *m, void *ud)
{
    (void)m;
    world_t *w = ud;
    w->collected++;
    static const char *const names[] = {"db", "github", "fs"};
    for (int i = 0; i < w->servers; i++) {
        gw_metrics_upstream_sample_t s = {.server = names[i],
                                          .up = i != 1,
                                          .breaker_state = i == 1 ? 1 : 0,
                                          .ok = 90,
                                          .upstream_errors = 4,
                                          .errors = 5,
                                          .timeouts = 2,
                                          .cancelled = 10,
                                          .rejected = 1,
                                          .latency_us = w->lat[i]};
        gw_metrics_std_upstream(&w->std, &s);
        for (int t = 0; t < w->tools; t++) {
            char tool[16];
            snprintf(tool, sizeof tool, "tool%d", t);
            gw_metrics_std_tool(&w->std, names[i], tool, 10, 2, 1, w->tool_lat);
        }
    }
    gw_metrics_std_cache(&w->std, 30, 10, 2, 4096, 3);
}

static void collected_std(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    world_t w = {.servers = 3, .tools = 2};
    assert_int_equal(gw_metrics_std_register(m, 3, &w.std), 0);
    assert_int_equal(gw_metrics_add_collector(m, collect_world, &w), 0);
    assert_int_equal(gw_metrics_add_collector(m, NULL, NULL), MCP_EINVAL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hdr_init(1, 3600000000LL, 3, &w.lat[i], NULL, 0), 0);
        for (int k = 0; k < 100; k++)
            assert_int_equal(hdr_record_value(w.lat[i], 500 * (i + 1)), 0); /* .5, 1, 1.5 ms */
    }
    assert_int_equal(hdr_init(1, 3600000000LL, 2, &w.tool_lat, NULL, 0), 0);
    assert_int_equal(hdr_record_value(w.tool_lat, 20000), 0); /* 20 ms */

    gw_metrics_std_request(&w.std, "/mcp", "POST", 200, 1500000);
    gw_metrics_std_request(&w.std, "/mcp", "POST", 503, 3500000);
    gw_metrics_std_request(&w.std, "/health", "GET", 999, 100);

    char *t = text_of(m);
    assert_int_equal(w.collected, 1);
    assert_non_null(strstr(t, "gw_http_requests_total{route=\"/mcp\",method=\"POST\","
                              "status=\"2xx\"} 1\n"));
    assert_non_null(strstr(t, "gw_http_requests_total{route=\"/mcp\",method=\"POST\","
                              "status=\"5xx\"} 1\n"));
    assert_non_null(strstr(t, "gw_http_requests_total{route=\"/health\",method=\"GET\","
                              "status=\"other\"} 1\n"));
    assert_non_null(strstr(t, "gw_http_request_duration_seconds_bucket{route=\"/mcp\","
                              "method=\"POST\",le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(t, "gw_http_request_duration_seconds_count{route=\"/mcp\","
                              "method=\"POST\"} 2\n"));
    assert_non_null(strstr(t, "gw_upstream_up{server=\"github\"} 0\n"));
    assert_non_null(strstr(t, "gw_upstream_up{server=\"db\"} 1\n"));
    assert_non_null(strstr(t, "gw_upstream_breaker_state{server=\"github\"} 1\n"));
    assert_non_null(strstr(t, "gw_upstream_calls_total{server=\"db\",outcome=\"ok\"} 90\n"));
    assert_non_null(strstr(t, "gw_upstream_calls_total{server=\"db\",outcome=\"error\"} 3\n"));
    assert_non_null(strstr(t, "gw_upstream_calls_total{server=\"db\",outcome=\"timeout\"} 2\n"));
    /* Borrowed microsecond histograms, converted to seconds. */
    assert_non_null(strstr(t, "gw_upstream_call_duration_seconds_bucket{server=\"fs\","
                              "le=\"0.001\"} 0\n"));
    assert_non_null(strstr(t, "gw_upstream_call_duration_seconds_bucket{server=\"fs\","
                              "le=\"0.0025\"} 100\n"));
    assert_non_null(strstr(t, "gw_upstream_call_duration_seconds_count{server=\"fs\"} 100\n"));
    assert_non_null(strstr(t, "gw_upstream_call_duration_seconds_sum{server=\"fs\"} 0.15\n"));
    assert_non_null(strstr(t, "gw_tool_calls_total{server=\"db\",tool=\"tool0\"} 10\n"));
    assert_non_null(strstr(t, "gw_cache_hits_total 30\n"));
    assert_non_null(strstr(t, "gw_cache_bytes 4096\n"));
    /* 6 tool series, cap 3: 3 real + other, summing the 3 folded ones. */
    assert_non_null(strstr(t, "gw_tool_calls_total{server=\"other\",tool=\"other\"} 30\n"));
    assert_non_null(strstr(t, "gw_tool_call_duration_seconds_count{server=\"other\","
                              "tool=\"other\"} 3\n"));
    assert_non_null(strstr(t, "gw_metrics_series_overflow_total{metric=\"gw_tool_calls_total\"} "
                              "3\n"));
    mcp_free(t);

    /* Rates: success = ok / (all but cancelled) = 90 / (90 + 4 + 3 + 2 + 1); cache 30 / 40. */
    cJSON *j = gw_metrics_json(m);
    assert_int_equal(w.collected, 2);
    cJSON *rates = cJSON_GetObjectItem(j, "rates");
    assert_true(fabs(cJSON_GetObjectItem(rates, "success_rate")->valuedouble - 0.9) < 1e-12);
    assert_true(fabs(cJSON_GetObjectItem(rates, "cache_hit_rate")->valuedouble - 0.75) < 1e-12);
    cJSON *lat =
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metrics"), "gw_upstream_call_duration_seconds");
    cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(lat, "series"), 0);
    assert_true(cJSON_GetObjectItem(s0, "p99_ms")->valuedouble ==
                (double)hdr_value_at_percentile(w.lat[0], 99) / 1000);
    cJSON_Delete(j);
    double r;
    assert_int_equal(gw_metrics_ratio(m, "cache_hit_rate", &r), 0);
    assert_true(fabs(r - 0.75) < 1e-12);

    /* An upstream goes away: its series go with it; label-less cache metrics stay. */
    w.servers = 1;
    w.tools = 1;
    t = text_of(m);
    assert_null(strstr(t, "server=\"github\""));
    assert_null(strstr(t, "server=\"fs\""));
    assert_null(strstr(t, "tool=\"other\""));
    assert_non_null(strstr(t, "gw_upstream_up{server=\"db\"} 1\n"));
    assert_non_null(strstr(t, "gw_tool_calls_total{server=\"db\",tool=\"tool0\"} 10\n"));
    assert_int_equal(gw_metric_series_count(w.std.tool_calls), 1);
    mcp_free(t);
    /* Borrowing outside an exposition is refused. */
    gw_series_t *s;
    assert_int_equal(gw_metric_series(w.std.upstream_latency, (const char *[]){"db"}, &s), 0);
    assert_int_equal(gw_series_borrow(s, w.lat[0], 1000), MCP_EINVAL);
    /* Borrowed data is forgotten after the exposition (the source may be freed now). */
    for (int i = 0; i < 3; i++)
        hdr_free(w.lat[i]);
    hdr_free(w.tool_lat);
    w.servers = 0;
    assert_int_equal(gw_metrics_ratio(m, "success_rate", &r), 0); /* counters stay until next */
    t = text_of(m);
    assert_null(strstr(t, "gw_upstream_up{"));
    mcp_free(t);
    assert_int_equal(gw_metrics_ratio(m, "success_rate", &r), MCP_ESTATE);
    assert_true(isnan(r));
    j = gw_metrics_json(m);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rates"), "success_rate")));
    cJSON_Delete(j);
    gw_metrics_free(m);
}

static void process_metrics(void **state)
{
    (void)state;
    gw_process_stats_t ps;
    assert_int_equal(gw_process_stats_read(&ps), 0);
    assert_true(ps.rss_bytes > 0);
    assert_true(ps.vsize_bytes >= ps.rss_bytes);
    assert_true(ps.open_fds > 2); /* stdin, stdout, stderr at least */
    assert_true(ps.start_time_seconds > 1.5e9);
    assert_true(ps.cpu_seconds >= 0);
    /* Opening a file shows up. */
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    gw_process_stats_t ps2;
    assert_int_equal(gw_process_stats_read(&ps2), 0);
    assert_int_equal(ps2.open_fds, ps.open_fds + 1);
    fclose(f);

    gw_metrics_t *m = new_registry(1);
    char *t = text_of(m);
    unsigned long long rss = 0, fds = 0;
    const char *p = strstr(t, "\nprocess_resident_memory_bytes ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\nprocess_resident_memory_bytes %llu", &rss), 1);
    assert_true(rss > 0);
    p = strstr(t, "\nprocess_open_fds ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\nprocess_open_fds %llu", &fds), 1);
    assert_true(fds > 2);
    assert_non_null(strstr(t, "# TYPE process_start_time_seconds gauge\n"));
    assert_non_null(strstr(t, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(t, "\nprocess_uptime_seconds "));
    mcp_free(t);
    cJSON *j = gw_metrics_json(m);
    cJSON *pj = cJSON_GetObjectItem(j, "process");
    assert_true(cJSON_GetObjectItem(pj, "resident_memory_bytes")->valuedouble > 0);
    assert_true(cJSON_GetObjectItem(pj, "open_fds")->valuedouble > 2);
    cJSON_Delete(j);
    gw_metrics_free(m);
}

static void output_limit(void **state)
{
    (void)state;
    gw_metrics_t *m = new_registry(0);
    gw_metric_t *c;
    assert_int_equal(gw_metrics_register(m, GW_METRIC_COUNTER, "gw_l_total", "L.", "k", NULL, &c),
                     0);
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "k%d", i);
        gw_series_inc(gw_metric_get(c, (const char *[]){name}));
    }
    buf_t b;
    buf_init(&b, 256);
    assert_int_equal(gw_metrics_write_text(m, &b), MCP_ENOBUFS);
    assert_true(b.len <= 256);
    buf_reset(&b);
    assert_int_equal(gw_metrics_write_json(m, &b), MCP_ENOBUFS);
    buf_free(&b);
    gw_metrics_free(m);
}

static void alloc_failures(void **state)
{
    (void)state;
    /* Every allocation in registration, lookup and exposition may fail: errors, no leaks. */
    for (long n = 0; n < 4000; n++) {
        mcp_alloc_fail_after(n);
        gw_metrics_t *m = NULL;
        gw_metrics_std_t std;
        world_t w = {.servers = 0};
        if (gw_metrics_new(NULL, &m) == 0 && gw_metrics_std_register(m, 2, &std) == 0) {
            w.std = std;
            gw_metrics_add_collector(m, collect_world, &w);
            gw_metrics_std_request(&std, "/a", "GET", 200, 1000);
            gw_metrics_std_request(&std, "/b", "GET", 200, 1000);
            buf_t b;
            buf_init(&b, 1 << 20);
            gw_metrics_write_text(m, &b);
            buf_free(&b);
            cJSON_Delete(gw_metrics_json(m));
        }
        gw_metrics_free(m);
        long failures = mcp_alloc_failures();
        mcp_alloc_fail_after(-1);
        if (failures == 0)
            return; /* the whole sequence ran: every earlier allocation was made to fail once */
    }
    fail_msg("the sequence needs more than 4000 allocations");
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_counters_gauges), cmocka_unit_test(golden_histogram),
        cmocka_unit_test(default_buckets),        cmocka_unit_test(escaping),
        cmocka_unit_test(bad_registrations),      cmocka_unit_test(percentiles_json),
        cmocka_unit_test(cardinality_cap),        cmocka_unit_test(table_growth),
        cmocka_unit_test(collected_std),          cmocka_unit_test(process_metrics),
        cmocka_unit_test(output_limit),           cmocka_unit_test(alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
