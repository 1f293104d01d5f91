/* hdr_histogram: HdrHistogram (Gil Tene's high dynamic range histogram) for latency recording.
 *
 * A histogram covers integer values 0..H with S significant decimal digits of precision: values
 * are grouped into power-of-two buckets, each split into linear sub-buckets, so the recorded value
 * of any sample is known to within 1 part in 10^S while memory stays a few hundred KiB even for
 * nanosecond values up to an hour. The layout, index math and query rules follow the published
 * algorithm (HARNESS-BRIEF section 1) so that our encoded histograms decode to the same numbers in
 * the Java, JavaScript and C reference libraries; in particular hdr_value_at_percentile uses
 * Java's rule (ceil with a one-ulp nudge), which is what gates should use.
 *
 * Invariants: counts has counts_len entries; total_count is the sum of counts; max_value is the
 * largest raw value recorded (0 when none), min_value the smallest non-zero raw value recorded
 * (INT64_MAX when none). Values outside [0, H], negative counts and count overflows are never
 * stored: they are counted in out_of_range and the call returns an error, so hostile or buggy
 * inputs can not crash the process or corrupt the counts.
 *
 * Ownership: hdr_init allocates the histogram (struct and counts) with mcp_calloc; the caller
 * releases it with hdr_free. All other functions borrow. A histogram is not thread-safe: use one
 * per thread (or per event loop) and merge with hdr_add. The struct fields are public for
 * reading (the codec and log modules use them); change them only through these functions. */
#ifndef MCP_HDR_HISTOGRAM_H
#define MCP_HDR_HISTOGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Significant figures accepted by hdr_init (the C library's range; Java also allows 0). */
#define HDR_SIGFIGS_MIN 1
#define HDR_SIGFIGS_MAX 5

typedef struct hdr_histogram_s {
    int64_t lowest_discernible_value; /* L as given (the encoding stores it verbatim) */
    int64_t highest_trackable_value;  /* H */
    int32_t significant_figures;      /* S */
    int32_t unit_magnitude;           /* floor(log2(L)) */
    int32_t sub_bucket_half_count_magnitude;
    int32_t sub_bucket_count;
    int32_t sub_bucket_half_count;
    int64_t sub_bucket_mask;
    int32_t bucket_count;
    int32_t counts_len;
    int64_t total_count;
    int64_t min_value;    /* raw smallest non-zero value, INT64_MAX when none */
    int64_t max_value;    /* raw largest value, 0 when none */
    int64_t out_of_range; /* number of samples rejected (value out of range, bad count) */
    int64_t *counts;
} hdr_histogram_t;

/* The derived constants for (L, H, S) without allocating anything. Returns 0, or MCP_EINVAL with
 * a one-line reason in err (when err is not NULL) for: L < 1, H < 2L, S outside 1..5, or a
 * unit magnitude + sub-bucket magnitude too large for 64-bit values. Fills every field of *out
 * except counts (NULL), and sets the running statistics to the empty state. */
int hdr_calculate_layout(int64_t lowest_discernible_value, int64_t highest_trackable_value,
                         int significant_figures, hdr_histogram_t *out, char *err, size_t err_cap);

/* Allocate an empty histogram. Returns 0 and stores it in *out (owned by the caller, release with
 * hdr_free); MCP_EINVAL (reason in err, see hdr_calculate_layout) or MCP_ENOMEM otherwise, with
 * *out left NULL. err may be NULL. */
int hdr_init(int64_t lowest_discernible_value, int64_t highest_trackable_value,
             int significant_figures, hdr_histogram_t **out, char *err, size_t err_cap);
/* NULL is a no-op. */
void hdr_free(hdr_histogram_t *h);
/* Back to empty: counts zeroed, total 0, min INT64_MAX, max 0, out_of_range 0. */
void hdr_reset(hdr_histogram_t *h);
/* Bytes allocated for h (struct plus counts). */
size_t hdr_memory_size(const hdr_histogram_t *h);

/* ---- recording: 0, or MCP_EINVAL (value < 0 or > H, or count < 0) / MCP_ENOBUFS (a count
 * would overflow int64); rejected samples are added to out_of_range and nothing is stored. ---- */
int hdr_record_value(hdr_histogram_t *h, int64_t value);
int hdr_record_values(hdr_histogram_t *h, int64_t value, int64_t count);
/* Coordinated-omission correction at record time (Java recordValueWithExpectedInterval, C
 * hdr_record_corrected_value): records value, and when expected_interval > 0 and value exceeds
 * it, also the values value - k*expected_interval (k = 1, 2, ...) that are >= expected_interval,
 * each count times: the samples a stalled closed-loop generator never sent. Cost is bounded by
 * the number of buckets, not by value / expected_interval. */
int hdr_record_corrected_value(hdr_histogram_t *h, int64_t value, int64_t expected_interval);
int hdr_record_corrected_values(hdr_histogram_t *h, int64_t value, int64_t count,
                                int64_t expected_interval);

/* Add every count of src to dst. When both have the same layout the counts are added index by
 * index; otherwise each of src's values (value at its index) is recorded into dst. Returns 0, or
 * MCP_EINVAL when some of src's samples do not fit dst's range (or would overflow a count): those
 * are skipped, added to dst->out_of_range and to *dropped (when not NULL; set to 0 on success). */
int hdr_add(hdr_histogram_t *dst, const hdr_histogram_t *src, int64_t *dropped);

/* ---- queries ---- */
/* Java / hdr-histogram-js rule (brief 1.4): p in 0..100 (clamped); 0 when empty. */
int64_t hdr_value_at_percentile(const hdr_histogram_t *h, double percentile);
/* HdrHistogram_c's round-to-nearest rule, for comparing with wrk2 output; not for gates. */
int64_t hdr_value_at_percentile_nearest(const hdr_histogram_t *h, double percentile);
/* Mean and population standard deviation over median-equivalent values; 0.0 when empty. */
double hdr_mean(const hdr_histogram_t *h);
double hdr_stddev(const hdr_histogram_t *h);
/* Reported min: 0 when a 0 was recorded or when empty (Java getMinValue), else
 * lowest_equivalent(min). Reported max: 0 when empty, else highest_equivalent(max) (so a lone
 * recorded 0 reports 2^unit_magnitude - 1, as Java does). */
int64_t hdr_min(const hdr_histogram_t *h);
int64_t hdr_max(const hdr_histogram_t *h);
int64_t hdr_total_count(const hdr_histogram_t *h);
/* Count recorded in value's bucket; 0 when value is outside [0, H]. */
int64_t hdr_count_at_value(const hdr_histogram_t *h, int64_t value);

/* ---- index math (brief 1.2); value must be in [0, H] for the index functions ---- */
int32_t hdr_counts_index_for(const hdr_histogram_t *h, int64_t value);
int64_t hdr_value_at_index(const hdr_histogram_t *h, int32_t index);
int64_t hdr_size_of_equivalent_range(const hdr_histogram_t *h, int64_t value);
int64_t hdr_lowest_equivalent(const hdr_histogram_t *h, int64_t value);
/* Saturates at INT64_MAX for the very last bucket of a histogram with H near INT64_MAX. */
int64_t hdr_highest_equivalent(const hdr_histogram_t *h, int64_t value);
int64_t hdr_median_equivalent(const hdr_histogram_t *h, int64_t value);
int64_t hdr_next_non_equivalent(const hdr_histogram_t *h, int64_t value);
bool hdr_values_are_equivalent(const hdr_histogram_t *h, int64_t a, int64_t b);

/* Recompute total_count, min_value and max_value from the counts (after bulk-loading counts, as
 * the decoder does). Returns 0, or MCP_ENOBUFS when the counts sum past INT64_MAX. */
int hdr_recompute_stats(hdr_histogram_t *h);

/* ---- iteration (brief 1.5) ----
 *
 *   hdr_iter_t it;
 *   hdr_iter_percentile_init(&it, h, 5);
 *   while (hdr_iter_next(&it)) use(it.value_iterated_to, it.percentile_level, it.cumulative);
 *
 * The iterator borrows h, which must not change during the walk. */
typedef enum {
    HDR_ITER_ALL,        /* every counts index, empty or not */
    HDR_ITER_RECORDED,   /* every index with a non-zero count */
    HDR_ITER_PERCENTILE, /* Java PercentileIterator: levels 0, 10, 20 ... halving towards 100 */
} hdr_iter_mode_t;

typedef struct hdr_iter_s {
    /* the current step (valid after hdr_iter_next returned true) */
    int32_t index;              /* counts index */
    int64_t count;              /* count at index */
    int64_t cumulative;         /* counts up to and including index */
    int64_t count_added;        /* counts since the previous step */
    int64_t value;              /* value_at_index(index) */
    int64_t lowest_equivalent;  /* of value */
    int64_t highest_equivalent; /* of value */
    int64_t median_equivalent;  /* of value */
    int64_t value_iterated_to;  /* percentile: highest_equivalent; others: value */
    double percentile;          /* 100 * cumulative / total (0 when empty) */
    double percentile_level;    /* percentile mode: the level this step reports */

    /* private */
    const hdr_histogram_t *h_;
    hdr_iter_mode_t mode_;
    int64_t total_;
    int64_t prev_cumulative_;
    int32_t next_index_;
    int32_t visited_;
    bool fresh_;
    bool reached_last_;
    int32_t ticks_per_half_;
    double level_;
} hdr_iter_t;

void hdr_iter_all_init(hdr_iter_t *it, const hdr_histogram_t *h);
void hdr_iter_recorded_init(hdr_iter_t *it, const hdr_histogram_t *h);
/* ticks_per_half_distance < 1 is treated as 1. */
void hdr_iter_percentile_init(hdr_iter_t *it, const hdr_histogram_t *h,
                              int32_t ticks_per_half_distance);
/* Advance to the next step; false when the walk is over. */
bool hdr_iter_next(hdr_iter_t *it);

#endif
