/* Unit tests for hdr_histogram: the brief's layout tables and index examples, recording and range
 * errors, Java's percentile rule, mean/stddev, coordinated-omission back-fill, merge, reset and
 * the iterators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "hdr_histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static hdr_histogram_t *make(int64_t l, int64_t h, int s)
{
    hdr_histogram_t *hist = NULL;
    char err[160] = "";
    int rc = hdr_init(l, h, s, &hist, err, sizeof(err));
    if (rc != 0)
        fail_msg("hdr_init(%lld, %lld, %d): %s", (long long)l, (long long)h, s, err);
    return hist;
}

/* Brief 1.1: sub-bucket sizes by significant figures. */
static void test_sub_buckets_by_sigfigs(void **state)
{
    (void)state;
    static const struct {
        int s, count, half, half_mag;
    } rows[] = {{1, 32, 16, 4},
                {2, 256, 128, 7},
                {3, 2048, 1024, 10},
                {4, 32768, 16384, 14},
                {5, 262144, 131072, 17}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        hdr_histogram_t l;
        assert_int_equal(hdr_calculate_layout(1, 3600000000LL, rows[i].s, &l, NULL, 0), 0);
        assert_int_equal(l.sub_bucket_count, rows[i].count);
        assert_int_equal(l.sub_bucket_half_count, rows[i].half);
        assert_int_equal(l.sub_bucket_half_count_magnitude, rows[i].half_mag);
    }
}

/* Brief 1.1: worked configurations. */
static void test_worked_configurations(void **state)
{
    (void)state;
    static const struct {
        int64_t l, h;
        int s;
        int unit_mag;
        int64_t mask;
        int buckets, counts_len;
        size_t kib;
    } rows[] = {
        {1, 3600000000LL, 3, 0, 0x7ff, 22, 23552, 184},
        {1, 86400000000LL, 3, 0, 0x7ff, 27, 28672, 224},
        {1, 3600000000000LL, 3, 0, 0x7ff, 32, 33792, 264},
        {1000, 3600000000000LL, 3, 9, 0xffe00, 23, 24576, 192},
        {1, 3600000000LL, 2, 0, 0xff, 25, 3328, 26},
        {1, 60000000LL, 2, 0, 0xff, 19, 2560, 20},
        /* brief 1.9: 60 s in ns */
        {1, 60000000000LL, 3, 0, 0x7ff, 26, 27648, 216},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        hdr_histogram_t *h = make(rows[i].l, rows[i].h, rows[i].s);
        assert_int_equal(h->unit_magnitude, rows[i].unit_mag);
        assert_int_equal(h->sub_bucket_mask, rows[i].mask);
        assert_int_equal(h->bucket_count, rows[i].buckets);
        assert_int_equal(h->counts_len, rows[i].counts_len);
        assert_int_equal((size_t)h->counts_len * 8 / 1024, rows[i].kib);
        assert_true(hdr_memory_size(h) >= (size_t)h->counts_len * 8);
        hdr_free(h);
    }
}

static void test_invalid_parameters(void **state)
{
    (void)state;
    static const struct {
        int64_t l, h;
        int s;
        const char *needle;
    } bad[] = {
        {0, 1000, 3, "lowest discernible value must be >= 1"},
        {-5, 1000, 3, "lowest discernible value must be >= 1"},
        {1, 1000, 0, "significant figures must be 1..5"},
        {1, 1000, 6, "significant figures must be 1..5"},
        {10, 19, 3, "highest trackable value must be >= 2 * lowest"},
        {INT64_MAX / 2, INT64_MAX, 5, "needs more than 64 bits"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hdr_histogram_t *h = (hdr_histogram_t *)1;
        char err[160] = "";
        assert_int_equal(hdr_init(bad[i].l, bad[i].h, bad[i].s, &h, err, sizeof(err)), MCP_EINVAL);
        assert_null(h);
        if (strstr(err, bad[i].needle) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].needle);
    }
    /* Extremes that are valid. */
    hdr_histogram_t *h = make(1, INT64_MAX, 3);
    assert_int_equal(hdr_record_value(h, INT64_MAX), 0);
    assert_int_equal(hdr_max(h), INT64_MAX);
    assert_int_equal(hdr_value_at_percentile(h, 100.0), INT64_MAX);
    hdr_free(h);
    h = make(10, 20, 1);
    assert_int_equal(hdr_record_value(h, 20), 0);
    hdr_free(h);
}

static void test_init_out_of_memory(void **state)
{
    (void)state;
    for (long n = 0; n < 2; n++) {
        hdr_histogram_t *h = (hdr_histogram_t *)1;
        char err[160] = "";
        mcp_alloc_fail_after(n);
        assert_int_equal(hdr_init(1, 3600000000LL, 3, &h, err, sizeof(err)), MCP_ENOMEM);
        mcp_alloc_fail_after(-1);
        assert_null(h);
        assert_non_null(strstr(err, "out of memory"));
    }
}

/* Brief 1.2: worked index examples for (1, 3.6e9, 3). */
static void test_index_math_examples(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        int32_t index;
        int64_t lowest, size, highest, median;
    } rows[] = {
        {0, 0, 0, 1, 0, 0},
        {1000, 1000, 1000, 1, 1000, 1000},
        {2047, 2047, 2047, 1, 2047, 2047},
        {2048, 2048, 2048, 2, 2049, 2049},
        {4095, 3071, 4094, 2, 4095, 4095},
        {4096, 3072, 4096, 4, 4099, 4098},
        {1000000, 11169, 999936, 512, 1000447, 1000192},
        {3599999999LL, 23220, 3598712832LL, 2097152, 3600809983LL, 3599761408LL},
    };
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t v = rows[i].v;
        assert_int_equal(hdr_counts_index_for(h, v), rows[i].index);
        assert_int_equal(hdr_lowest_equivalent(h, v), rows[i].lowest);
        assert_int_equal(hdr_size_of_equivalent_range(h, v), rows[i].size);
        assert_int_equal(hdr_highest_equivalent(h, v), rows[i].highest);
        assert_int_equal(hdr_median_equivalent(h, v), rows[i].median);
        assert_int_equal(hdr_next_non_equivalent(h, v), rows[i].highest + 1);
        assert_int_equal(hdr_value_at_index(h, rows[i].index), rows[i].lowest);
        assert_true(hdr_values_are_equivalent(h, v, rows[i].highest));
        assert_false(hdr_values_are_equivalent(h, v, rows[i].highest + 1));
    }
    /* value_at_index and counts_index_for are inverse over the whole array. */
    for (int32_t i = 0; i < h->counts_len; i++) {
        int64_t v = hdr_value_at_index(h, i);
        if (v > h->highest_trackable_value)
            break;
        assert_int_equal(hdr_counts_index_for(h, v), i);
    }
    hdr_free(h);

    /* L = 1000 rounds down to 512: values below 512 share index 0. */
    h = make(1000, 3600000000000LL, 3);
    assert_int_equal(hdr_counts_index_for(h, 511), 0);
    assert_int_equal(hdr_counts_index_for(h, 512), 1);
    assert_int_equal(hdr_lowest_equivalent(h, 1000), 512);
    assert_int_equal(hdr_size_of_equivalent_range(h, 1000), 512);
    hdr_free(h);
}

/* Brief 1.6 test vector contents, and the queries it must answer. */
static hdr_histogram_t *vector_histogram(void)
{
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    assert_int_equal(hdr_record_value(h, 1), 0);
    assert_int_equal(hdr_record_value(h, 1000), 0);
    assert_int_equal(hdr_record_values(h, 1000000, 2), 0);
    return h;
}

static void test_vector_queries(void **state)
{
    (void)state;
    hdr_histogram_t *h = vector_histogram();
    assert_int_equal(h->counts[1], 1);
    assert_int_equal(h->counts[1000], 1);
    assert_int_equal(h->counts[11169], 2);
    assert_int_equal(hdr_total_count(h), 4);
    assert_int_equal(hdr_max(h), 1000447);
    assert_int_equal(hdr_min(h), 1);
    assert_int_equal(hdr_value_at_percentile(h, 50.0), 1000);
    assert_int_equal(hdr_value_at_percentile(h, 100.0), 1000447);
    assert_int_equal(hdr_value_at_percentile(h, 0.0), 1);
    assert_true(hdr_mean(h) == 500346.25);
    assert_true(fabs(hdr_stddev(h) - 499845.875) < 0.001); /* brief rounds to 3 places */
    assert_int_equal(hdr_count_at_value(h, 1000000), 2);
    assert_int_equal(hdr_count_at_value(h, 999936), 2);
    assert_int_equal(hdr_count_at_value(h, 999935), 0);
    assert_int_equal(hdr_count_at_value(h, -1), 0);
    hdr_free(h);
}

static void test_record_range_errors(void **state)
{
    (void)state;
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    assert_int_equal(hdr_record_value(h, -1), MCP_EINVAL);
    /* Above H but inside H's bucket: still rejected (checked before the index math). */
    assert_int_equal(hdr_record_value(h, 3600000001LL), MCP_EINVAL);
    assert_int_equal(hdr_record_value(h, INT64_MAX), MCP_EINVAL);
    assert_int_equal(hdr_record_values(h, 5, -3), MCP_EINVAL);
    assert_int_equal(hdr_record_values(h, 5000000000LL, 10), MCP_EINVAL);
    assert_int_equal(h->out_of_range, 1 + 1 + 1 + 1 + 10);
    assert_int_equal(hdr_total_count(h), 0);
    assert_int_equal(hdr_max(h), 0);
    assert_int_equal(hdr_min(h), 0);
    /* H itself is fine. */
    assert_int_equal(hdr_record_value(h, 3600000000LL), 0);
    assert_int_equal(hdr_total_count(h), 1);
    assert_int_equal(hdr_max(h), 3600809983LL);
    /* Count overflow is an error, not a wrap. */
    assert_int_equal(hdr_record_values(h, 7, INT64_MAX), MCP_ENOBUFS);
    assert_int_equal(hdr_count_at_value(h, 7), 0);
    assert_int_equal(hdr_total_count(h), 1);
    /* A zero count changes nothing. */
    assert_int_equal(hdr_record_values(h, 9, 0), 0);
    assert_int_equal(hdr_min(h), 3598712832LL);
    hdr_free(h);
}

static void test_min_max_and_zero(void **state)
{
    (void)state;
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    assert_int_equal(hdr_min(h), 0); /* empty, as Java getMinValue */
    assert_int_equal(hdr_max(h), 0);
    assert_true(hdr_mean(h) == 0.0);
    assert_true(hdr_stddev(h) == 0.0);
    assert_int_equal(hdr_value_at_percentile(h, 99.0), 0);
    assert_int_equal(hdr_record_value(h, 5000), 0);
    assert_int_equal(hdr_record_value(h, 3000), 0);
    assert_int_equal(hdr_min(h), 3000);
    assert_int_equal(hdr_max(h), 5003);
    assert_int_equal(hdr_record_value(h, 0), 0);
    assert_int_equal(hdr_min(h), 0);
    assert_int_equal(hdr_max(h), 5003);
    assert_int_equal(hdr_value_at_percentile(h, 0.0), 0);
    hdr_free(h);
}

/* Brief 1.4: Java's ceil rule vs HdrHistogram_c's round-to-nearest, and the ulp nudge. */
static void test_percentile_rules(void **state)
{
    (void)state;
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    for (int v = 1; v <= 10; v++)
        assert_int_equal(hdr_record_value(h, v), 0);
    /* total 10, p 94: Java count_at = ceil(9.4) = 10, C = (int)(9.4 + 0.5) = 9. */
    assert_int_equal(hdr_value_at_percentile(h, 94.0), 10);
    assert_int_equal(hdr_value_at_percentile_nearest(h, 94.0), 9);
    assert_int_equal(hdr_value_at_percentile(h, 50.0), 5);
    assert_int_equal(hdr_value_at_percentile(h, 50.0001), 6);
    assert_int_equal(hdr_value_at_percentile(h, 10.0), 1);
    assert_int_equal(hdr_value_at_percentile(h, 0.0), 1);
    assert_int_equal(hdr_value_at_percentile(h, -5.0), 1);
    assert_int_equal(hdr_value_at_percentile(h, 150.0), 10);
    assert_int_equal(hdr_value_at_percentile(h, NAN), 1);
    hdr_free(h);

    /* 0.999 * 1000 is 999.0000000000001 in binary: without the one-ulp nudge the ceil would
     * land on the 1000th sample. */
    h = make(1, 3600000000LL, 3);
    for (int v = 1; v <= 1000; v++)
        assert_int_equal(hdr_record_value(h, v), 0);
    assert_true((99.9 / 100.0) * 1000.0 > 999.0);
    assert_int_equal(hdr_value_at_percentile(h, 99.9), 999);
    assert_int_equal(hdr_value_at_percentile(h, 99.0), 990);
    assert_int_equal(hdr_value_at_percentile(h, 100.0), 1000);
    hdr_free(h);
}

static void test_mean_stddev(void **state)
{
    (void)state;
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    for (int v = 1; v <= 100; v++)
        assert_int_equal(hdr_record_value(h, v), 0);
    assert_true(fabs(hdr_mean(h) - 50.5) < 1e-12);
    assert_true(fabs(hdr_stddev(h) - sqrt((100.0 * 100.0 - 1.0) / 12.0)) < 1e-9);
    hdr_free(h);
}

/* Coordinated-omission back-fill: counts as the per-value loop of the references. */
static void naive_corrected(hdr_histogram_t *h, int64_t v, int64_t n, int64_t interval)
{
    assert_int_equal(hdr_record_values(h, v, n), 0);
    if (interval <= 0 || v <= interval)
        return;
    for (int64_t m = v - interval; m >= interval; m -= interval)
        assert_int_equal(hdr_record_values(h, m, n), 0);
}

static void test_coordinated_omission(void **state)
{
    (void)state;
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    /* 1000 with interval 100: 1000, 900, ..., 100. */
    assert_int_equal(hdr_record_corrected_value(h, 1000, 100), 0);
    assert_int_equal(hdr_total_count(h), 10);
    for (int v = 100; v <= 1000; v += 100)
        assert_int_equal(hdr_count_at_value(h, v), 1);
    assert_int_equal(hdr_min(h), 100);
    /* Below/at the interval or no interval: just the value. */
    assert_int_equal(hdr_record_corrected_value(h, 50, 100), 0);
    assert_int_equal(hdr_record_corrected_value(h, 100, 100), 0);
    assert_int_equal(hdr_record_corrected_value(h, 5000, 0), 0);
    assert_int_equal(hdr_record_corrected_value(h, 5000, -10), 0);
    assert_int_equal(hdr_total_count(h), 14);
    /* Out of range: nothing back-filled. */
    assert_int_equal(hdr_record_corrected_value(h, 4000000000LL, 1000), MCP_EINVAL);
    assert_int_equal(hdr_total_count(h), 14);
    hdr_free(h);

    /* The bucketed back-fill equals the per-value loop, count by count. */
    static const struct {
        int64_t v, n, interval;
    } cases[] = {{1000000, 1, 1000},    {1000000, 3, 7}, {3599999999LL, 2, 1000},
                 {123456789, 1, 12345}, {2049, 5, 1},    {70000, 1, 33},
                 {3000000, 4, 2999999}, {999, 1, 998}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hdr_histogram_t *a = make(1, 3600000000LL, 3);
        hdr_histogram_t *b = make(1, 3600000000LL, 3);
        assert_int_equal(hdr_record_corrected_values(a, cases[i].v, cases[i].n, cases[i].interval),
                         0);
        naive_corrected(b, cases[i].v, cases[i].n, cases[i].interval);
        assert_int_equal(a->total_count, b->total_count);
        assert_int_equal(a->min_value, b->min_value);
        assert_int_equal(a->max_value, b->max_value);
        assert_memory_equal(a->counts, b->counts, (size_t)a->counts_len * sizeof(int64_t));
        hdr_free(a);
        hdr_free(b);
    }

    /* A one-hour stall at 1 ns spacing: 3.6e12 back-filled samples, bounded time. */
    h = make(1, 3600000000000LL, 3);
    assert_int_equal(hdr_record_corrected_value(h, 3600000000000LL, 1), 0);
    assert_int_equal(hdr_total_count(h), 3600000000000LL);
    assert_int_equal(hdr_min(h), 1);
    assert_int_equal(hdr_value_at_percentile(h, 50.0), hdr_highest_equivalent(h, 1800000000000LL));
    hdr_free(h);
}

static void test_add_same_layout(void **state)
{
    (void)state;
    hdr_histogram_t *a = make(1, 3600000000LL, 3);
    hdr_histogram_t *b = make(1, 3600000000LL, 3);
    for (int v = 1; v <= 1000; v++)
        assert_int_equal(hdr_record_value(a, v), 0);
    for (int v = 1001; v <= 3000; v++)
        assert_int_equal(hdr_record_value(b, v * 1000), 0);
    int64_t dropped = -1;
    assert_int_equal(hdr_add(a, b, &dropped), 0);
    assert_int_equal(dropped, 0);
    assert_int_equal(hdr_total_count(a), 3000);
    assert_int_equal(hdr_max(a), hdr_highest_equivalent(a, 3000000));
    assert_int_equal(hdr_min(a), 1);
    assert_int_equal(hdr_value_at_percentile(a, 33.3), 999);
    assert_int_equal(hdr_value_at_percentile(a, 33.4), hdr_highest_equivalent(a, 1002000));
    /* Self-add doubles. */
    assert_int_equal(hdr_add(a, a, NULL), 0);
    assert_int_equal(hdr_total_count(a), 6000);
    hdr_free(a);
    hdr_free(b);
}

static void test_add_range_checks(void **state)
{
    (void)state;
    /* Different layout (L=1000 -> unit magnitude 9): values re-recorded by value. */
    hdr_histogram_t *dst = make(1000, 3600000000LL, 3);
    hdr_histogram_t *src = make(1, 3600000000000LL, 3);
    assert_int_equal(hdr_record_values(src, 5000, 3), 0);
    assert_int_equal(hdr_record_values(src, 2000000000LL, 2), 0);
    assert_int_equal(hdr_record_values(src, 3000000000000LL, 4), 0); /* beyond dst's H */
    int64_t dropped = 0;
    assert_int_equal(hdr_add(dst, src, &dropped), MCP_EINVAL);
    assert_int_equal(dropped, 4);
    assert_int_equal(dst->out_of_range, 4);
    assert_int_equal(hdr_total_count(dst), 5);
    assert_int_equal(hdr_count_at_value(dst, 5000), 3);
    assert_int_equal(hdr_count_at_value(dst, 2000000000LL), 2);

    /* Same layout but a smaller H in dst: falls back to the by-value path and its range check. */
    hdr_histogram_t *small = make(1, 3000000000LL, 3);
    hdr_histogram_t *big = make(1, 3600000000LL, 3);
    assert_int_equal(small->counts_len, big->counts_len);
    assert_int_equal(hdr_record_value(big, 3500000000LL), 0);
    assert_int_equal(hdr_record_value(big, 10), 0);
    assert_int_equal(hdr_add(small, big, &dropped), MCP_EINVAL);
    assert_int_equal(dropped, 1);
    assert_int_equal(hdr_total_count(small), 1);

    /* Count overflow while merging. */
    hdr_histogram_t *x = make(1, 3600000000LL, 3);
    hdr_histogram_t *y = make(1, 3600000000LL, 3);
    assert_int_equal(hdr_record_values(x, 3, INT64_MAX - 1), 0);
    assert_int_equal(hdr_record_values(y, 3, 5), 0);
    assert_int_equal(hdr_add(x, y, &dropped), MCP_EINVAL);
    assert_int_equal(dropped, 5);
    assert_int_equal(hdr_total_count(x), INT64_MAX - 1);
    hdr_free(x);
    hdr_free(y);
    hdr_free(small);
    hdr_free(big);
    hdr_free(dst);
    hdr_free(src);
}

static void test_reset(void **state)
{
    (void)state;
    hdr_histogram_t *h = vector_histogram();
    assert_int_equal(hdr_record_value(h, -4), MCP_EINVAL);
    hdr_reset(h);
    assert_int_equal(hdr_total_count(h), 0);
    assert_int_equal(h->min_value, INT64_MAX);
    assert_int_equal(h->max_value, 0);
    assert_int_equal(h->out_of_range, 0);
    for (int32_t i = 0; i < h->counts_len; i++)
        assert_int_equal(h->counts[i], 0);
    assert_int_equal(hdr_record_value(h, 77), 0);
    assert_int_equal(hdr_min(h), 77);
    assert_int_equal(hdr_max(h), 77);
    hdr_free(h);
}

static void test_recompute_stats(void **state)
{
    (void)state;
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    h->counts[0] = 2;
    h->counts[11169] = 3;
    h->counts[3000] = 1;
    assert_int_equal(hdr_recompute_stats(h), 0);
    assert_int_equal(h->total_count, 6);
    assert_int_equal(hdr_max(h), 1000447);
    assert_int_equal(h->min_value, hdr_value_at_index(h, 3000));
    assert_int_equal(hdr_min(h), 0);
    h->counts[5] = INT64_MAX;
    assert_int_equal(hdr_recompute_stats(h), MCP_ENOBUFS);
    hdr_free(h);
}

static void test_iter_recorded_and_all(void **state)
{
    (void)state;
    hdr_histogram_t *h = vector_histogram();
    hdr_iter_t it;
    hdr_iter_recorded_init(&it, h);
    int64_t expect_values[] = {1, 1000, 999936};
    int64_t expect_counts[] = {1, 1, 2};
    int n = 0;
    while (hdr_iter_next(&it)) {
        assert_true(n < 3);
        assert_int_equal(it.value, expect_values[n]);
        assert_int_equal(it.value_iterated_to, expect_values[n]);
        assert_int_equal(it.count, expect_counts[n]);
        assert_int_equal(it.count_added, expect_counts[n]);
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(it.cumulative, 4);
    assert_int_equal(it.highest_equivalent, 1000447);
    assert_true(it.percentile == 100.0);

    hdr_iter_all_init(&it, h);
    int32_t steps = 0;
    int64_t sum = 0;
    while (hdr_iter_next(&it)) {
        assert_int_equal(it.index, steps);
        sum += it.count;
        steps++;
    }
    assert_int_equal(steps, h->counts_len);
    assert_int_equal(sum, 4);

    /* An empty histogram: nothing recorded, still every index for "all". */
    hdr_reset(h);
    hdr_iter_recorded_init(&it, h);
    assert_false(hdr_iter_next(&it));
    hdr_iter_percentile_init(&it, h, 5);
    assert_false(hdr_iter_next(&it));
    hdr_iter_all_init(&it, h);
    steps = 0;
    while (hdr_iter_next(&it))
        steps++;
    assert_int_equal(steps, h->counts_len);
    hdr_free(h);
}

/* Brief 1.5: level sequence with 5 ticks per half distance. */
static void test_iter_percentile_levels(void **state)
{
    (void)state;
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    for (int v = 1; v <= 100000; v++)
        assert_int_equal(hdr_record_value(h, v), 0);
    static const double levels[] = {0,     10, 20,    30,   40,    50,     55,  60,
                                    65,    70, 75,    77.5, 80,    82.5,   85,  87.5,
                                    88.75, 90, 91.25, 92.5, 93.75, 94.375, 95.0};
    hdr_iter_t it;
    hdr_iter_percentile_init(&it, h, 5);
    size_t n = 0;
    double prev_level = -1;
    int64_t prev_value = -1;
    bool saw_100 = false;
    while (hdr_iter_next(&it)) {
        if (n < sizeof(levels) / sizeof(levels[0]))
            assert_true(it.percentile_level == levels[n]);
        assert_true(it.percentile_level > prev_level);
        assert_true(it.value_iterated_to >= prev_value);
        assert_true(it.percentile >= it.percentile_level);
        assert_int_equal(it.value_iterated_to, it.highest_equivalent);
        /* The value reported is the Java percentile value for that level. */
        if (it.percentile_level > 0 && it.percentile_level < 100)
            assert_int_equal(it.value_iterated_to, hdr_value_at_percentile(h, it.percentile_level));
        prev_level = it.percentile_level;
        prev_value = it.value_iterated_to;
        saw_100 = it.percentile_level == 100.0;
        n++;
    }
    assert_true(saw_100);
    assert_int_equal(prev_value, hdr_max(h));
    assert_int_equal(it.cumulative, 100000);
    assert_true(n > 40 && n < 200);
    hdr_free(h);

    /* Single value: 0% and 100% only... plus nothing in between (the first step reaches it). */
    h = make(1, 3600000000LL, 3);
    assert_int_equal(hdr_record_values(h, 42, 7), 0);
    hdr_iter_percentile_init(&it, h, 5);
    assert_true(hdr_iter_next(&it));
    assert_true(it.percentile_level == 0.0);
    assert_int_equal(it.value_iterated_to, 42);
    assert_true(hdr_iter_next(&it));
    assert_true(it.percentile_level == 100.0);
    assert_int_equal(it.cumulative, 7);
    assert_false(hdr_iter_next(&it));
    hdr_free(h);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sub_buckets_by_sigfigs), cmocka_unit_test(test_worked_configurations),
        cmocka_unit_test(test_invalid_parameters),     cmocka_unit_test(test_init_out_of_memory),
        cmocka_unit_test(test_index_math_examples),    cmocka_unit_test(test_vector_queries),
        cmocka_unit_test(test_record_range_errors),    cmocka_unit_test(test_min_max_and_zero),
        cmocka_unit_test(test_percentile_rules),       cmocka_unit_test(test_mean_stddev),
        cmocka_unit_test(test_coordinated_omission),   cmocka_unit_test(test_add_same_layout),
        cmocka_unit_test(test_add_range_checks),       cmocka_unit_test(test_reset),
        cmocka_unit_test(test_recompute_stats),        cmocka_unit_test(test_iter_recorded_and_all),
        cmocka_unit_test(test_iter_percentile_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
