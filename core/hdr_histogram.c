/* hdr_histogram: see hdr_histogram.h. Written from the published algorithm (HARNESS-BRIEF 1.1-1.5).
 */
#include "hdr_histogram.h"

#include "alloc.h"
#include "errors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t cap, const char *fmt,
                                                          ...)
{
    if (err == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Bucket count exactly as the references compute it (brief 1.1 step 8). */
static int32_t buckets_needed(int64_t sub_bucket_count, int32_t unit_magnitude, int64_t highest)
{
    int64_t smallest_untrackable = sub_bucket_count << unit_magnitude;
    int32_t n = 1;
    while (smallest_untrackable <= highest) {
        if (smallest_untrackable > INT64_MAX / 2)
            return n + 1;
        smallest_untrackable <<= 1;
        n++;
    }
    return n;
}

int hdr_calculate_layout(int64_t lowest, int64_t highest, int sigfigs, hdr_histogram_t *out,
                         char *err, size_t err_cap)
{
    if (lowest < 1) {
        set_err(err, err_cap, "lowest discernible value must be >= 1 (got %lld)",
                (long long)lowest);
        return MCP_EINVAL;
    }
    if (sigfigs < HDR_SIGFIGS_MIN || sigfigs > HDR_SIGFIGS_MAX) {
        set_err(err, err_cap, "significant figures must be %d..%d (got %d)", HDR_SIGFIGS_MIN,
                HDR_SIGFIGS_MAX, sigfigs);
        return MCP_EINVAL;
    }
    if (highest / 2 < lowest) {
        set_err(err, err_cap,
                "highest trackable value must be >= 2 * lowest discernible value (got %lld < 2 * "
                "%lld)",
                (long long)highest, (long long)lowest);
        return MCP_EINVAL;
    }

    int64_t largest_single_unit = 2;
    for (int i = 0; i < sigfigs; i++)
        largest_single_unit *= 10;
    /* The references take these logarithms in double precision; doing the same keeps the layout
     * (and therefore the encoding) bit-identical for every input. */
    int32_t sub_bucket_count_magnitude = (int32_t)ceil(log((double)largest_single_unit) / log(2.0));
    int32_t half_magnitude = (sub_bucket_count_magnitude > 1 ? sub_bucket_count_magnitude : 1) - 1;
    int32_t unit_magnitude = (int32_t)(log((double)lowest) / log(2.0));
    if (unit_magnitude + half_magnitude > 61) {
        set_err(err, err_cap,
                "lowest discernible value %lld with %d significant figures needs more than 64 bits",
                (long long)lowest, sigfigs);
        return MCP_EINVAL;
    }

    memset(out, 0, sizeof(*out));
    out->lowest_discernible_value = lowest;
    out->highest_trackable_value = highest;
    out->significant_figures = sigfigs;
    out->unit_magnitude = unit_magnitude;
    out->sub_bucket_half_count_magnitude = half_magnitude;
    out->sub_bucket_count = (int32_t)1 << (half_magnitude + 1);
    out->sub_bucket_half_count = out->sub_bucket_count / 2;
    out->sub_bucket_mask = ((int64_t)out->sub_bucket_count - 1) << unit_magnitude;
    out->bucket_count = buckets_needed(out->sub_bucket_count, unit_magnitude, highest);
    out->counts_len = (out->bucket_count + 1) * out->sub_bucket_half_count;
    out->min_value = INT64_MAX;
    out->max_value = 0;
    return 0;
}

int hdr_init(int64_t lowest, int64_t highest, int sigfigs, hdr_histogram_t **out, char *err,
             size_t err_cap)
{
    *out = NULL;
    hdr_histogram_t layout;
    int rc = hdr_calculate_layout(lowest, highest, sigfigs, &layout, err, err_cap);
    if (rc != 0)
        return rc;
    hdr_histogram_t *h = mcp_malloc(sizeof(*h));
    int64_t *counts = mcp_calloc((size_t)layout.counts_len, sizeof(int64_t));
    if (h == NULL || counts == NULL) {
        mcp_free(h);
        mcp_free(counts);
        set_err(err, err_cap, "out of memory for %d counts", layout.counts_len);
        return MCP_ENOMEM;
    }
    *h = layout;
    h->counts = counts;
    *out = h;
    return 0;
}

void hdr_free(hdr_histogram_t *h)
{
    if (h == NULL)
        return;
    mcp_free(h->counts);
    mcp_free(h);
}

void hdr_reset(hdr_histogram_t *h)
{
    memset(h->counts, 0, (size_t)h->counts_len * sizeof(int64_t));
    h->total_count = 0;
    h->min_value = INT64_MAX;
    h->max_value = 0;
    h->out_of_range = 0;
}

size_t hdr_memory_size(const hdr_histogram_t *h)
{
    return sizeof(*h) + (size_t)h->counts_len * sizeof(int64_t);
}

/* ---- index math ---- */

static int32_t bucket_index_of(const hdr_histogram_t *h, int64_t value)
{
    /* The mask is never 0 (S >= 1), so clz is defined. */
    int32_t pow2ceiling = 64 - __builtin_clzll((uint64_t)value | (uint64_t)h->sub_bucket_mask);
    return pow2ceiling - h->unit_magnitude - (h->sub_bucket_half_count_magnitude + 1);
}

static int32_t sub_bucket_index_of(const hdr_histogram_t *h, int64_t value, int32_t bucket)
{
    return (int32_t)((uint64_t)value >> (bucket + h->unit_magnitude));
}

static int32_t counts_index(const hdr_histogram_t *h, int32_t bucket, int32_t sub_bucket)
{
    return ((bucket + 1) << h->sub_bucket_half_count_magnitude) +
           (sub_bucket - h->sub_bucket_half_count);
}

static int64_t value_from(const hdr_histogram_t *h, int32_t bucket, int32_t sub_bucket)
{
    return (int64_t)((uint64_t)sub_bucket << (bucket + h->unit_magnitude));
}

int32_t hdr_counts_index_for(const hdr_histogram_t *h, int64_t value)
{
    int32_t b = bucket_index_of(h, value);
    return counts_index(h, b, sub_bucket_index_of(h, value, b));
}

int64_t hdr_value_at_index(const hdr_histogram_t *h, int32_t index)
{
    int32_t b = (index >> h->sub_bucket_half_count_magnitude) - 1;
    int32_t sb = (index & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
    if (b < 0) {
        sb -= h->sub_bucket_half_count;
        b = 0;
    }
    return value_from(h, b, sb);
}

int64_t hdr_size_of_equivalent_range(const hdr_histogram_t *h, int64_t value)
{
    int32_t b = bucket_index_of(h, value);
    int32_t sb = sub_bucket_index_of(h, value, b);
    int32_t adjusted = sb >= h->sub_bucket_count ? b + 1 : b;
    return (int64_t)((uint64_t)1 << (h->unit_magnitude + adjusted));
}

int64_t hdr_lowest_equivalent(const hdr_histogram_t *h, int64_t value)
{
    int32_t b = bucket_index_of(h, value);
    return value_from(h, b, sub_bucket_index_of(h, value, b));
}

int64_t hdr_next_non_equivalent(const hdr_histogram_t *h, int64_t value)
{
    uint64_t next = (uint64_t)hdr_lowest_equivalent(h, value) +
                    (uint64_t)hdr_size_of_equivalent_range(h, value);
    return next > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)next;
}

int64_t hdr_highest_equivalent(const hdr_histogram_t *h, int64_t value)
{
    /* lowest + (size - 1) never overflows: the last bucket ends at most at 2^63 - 1. */
    return hdr_lowest_equivalent(h, value) + (hdr_size_of_equivalent_range(h, value) - 1);
}

int64_t hdr_median_equivalent(const hdr_histogram_t *h, int64_t value)
{
    return hdr_lowest_equivalent(h, value) + (hdr_size_of_equivalent_range(h, value) >> 1);
}

bool hdr_values_are_equivalent(const hdr_histogram_t *h, int64_t a, int64_t b)
{
    return hdr_lowest_equivalent(h, a) == hdr_lowest_equivalent(h, b);
}

/* ---- recording ---- */

static void count_rejected(hdr_histogram_t *h, int64_t count)
{
    int64_t n = count > 0 ? count : 1;
    if (__builtin_add_overflow(h->out_of_range, n, &h->out_of_range))
        h->out_of_range = INT64_MAX;
}

/* Add count (> 0) at idx; value is the raw value for min/max. */
static int add_at_index(hdr_histogram_t *h, int32_t idx, int64_t value, int64_t count)
{
    int64_t c, t;
    if (__builtin_add_overflow(h->counts[idx], count, &c) ||
        __builtin_add_overflow(h->total_count, count, &t)) {
        count_rejected(h, count);
        return MCP_ENOBUFS;
    }
    h->counts[idx] = c;
    h->total_count = t;
    if (value > h->max_value)
        h->max_value = value;
    if (value != 0 && value < h->min_value)
        h->min_value = value;
    return 0;
}

int hdr_record_values(hdr_histogram_t *h, int64_t value, int64_t count)
{
    /* The range check comes before the index math: values in (H, highest_equivalent(H)] would
     * map to a valid index but are outside what the caller promised to track. */
    if (value < 0 || value > h->highest_trackable_value || count < 0) {
        count_rejected(h, count);
        return MCP_EINVAL;
    }
    if (count == 0)
        return 0;
    int32_t idx = hdr_counts_index_for(h, value);
    if (idx < 0 || idx >= h->counts_len) {
        count_rejected(h, count);
        return MCP_EINVAL;
    }
    return add_at_index(h, idx, value, count);
}

int hdr_record_value(hdr_histogram_t *h, int64_t value)
{
    return hdr_record_values(h, value, 1);
}

int hdr_record_corrected_values(hdr_histogram_t *h, int64_t value, int64_t count,
                                int64_t expected_interval)
{
    int rc = hdr_record_values(h, value, count);
    if (rc != 0 || count == 0 || expected_interval <= 0 || value <= expected_interval)
        return rc;
    /* The back-filled values value - k*interval form an arithmetic sequence; instead of one
     * record per term (value / interval of them: 10^12 for a 1000 s stall at 1 ns) add each
     * bucket's share at once. Same counts as the per-term loop, at most one step per bucket. */
    int64_t m = value - expected_interval;
    while (m >= expected_interval) {
        int64_t lo = hdr_lowest_equivalent(h, m);
        if (lo < expected_interval)
            lo = expected_interval;
        int64_t terms = (m - lo) / expected_interval + 1;
        int64_t lowest_term = m - (terms - 1) * expected_interval;
        int64_t add;
        if (__builtin_mul_overflow(terms, count, &add)) {
            count_rejected(h, INT64_MAX);
            return MCP_ENOBUFS;
        }
        rc = add_at_index(h, hdr_counts_index_for(h, m), lowest_term, add);
        if (rc != 0)
            return rc;
        m = lowest_term - expected_interval;
    }
    return 0;
}

int hdr_record_corrected_value(hdr_histogram_t *h, int64_t value, int64_t expected_interval)
{
    return hdr_record_corrected_values(h, value, 1, expected_interval);
}

int hdr_add(hdr_histogram_t *dst, const hdr_histogram_t *src, int64_t *dropped)
{
    int64_t lost = 0;
    bool same_layout =
        dst->unit_magnitude == src->unit_magnitude &&
        dst->sub_bucket_half_count_magnitude == src->sub_bucket_half_count_magnitude &&
        dst->counts_len == src->counts_len &&
        dst->highest_trackable_value >= src->highest_trackable_value;
    for (int32_t i = 0; i < src->counts_len; i++) {
        int64_t c = src->counts[i];
        if (c == 0)
            continue;
        int rc;
        if (same_layout) {
            rc = add_at_index(dst, i, hdr_value_at_index(src, i), c);
        } else {
            rc = hdr_record_values(dst, hdr_value_at_index(src, i), c);
        }
        if (rc != 0 && __builtin_add_overflow(lost, c, &lost))
            lost = INT64_MAX;
    }
    if (same_layout && src->total_count > 0) {
        /* Keep the raw extremes rather than the bucket starts add_at_index saw. */
        if (src->max_value > dst->max_value)
            dst->max_value = src->max_value;
        if (src->min_value < dst->min_value)
            dst->min_value = src->min_value;
    }
    if (dropped != NULL)
        *dropped = lost;
    return lost != 0 ? MCP_EINVAL : 0;
}

int hdr_recompute_stats(hdr_histogram_t *h)
{
    int64_t total = 0;
    int32_t first_nonzero = -1, last_nonzero = -1;
    for (int32_t i = 0; i < h->counts_len; i++) {
        int64_t c = h->counts[i];
        if (c == 0)
            continue;
        if (__builtin_add_overflow(total, c, &total))
            return MCP_ENOBUFS;
        if (first_nonzero < 0 && i > 0)
            first_nonzero = i;
        last_nonzero = i;
    }
    h->total_count = total;
    h->max_value =
        last_nonzero >= 0 ? hdr_highest_equivalent(h, hdr_value_at_index(h, last_nonzero)) : 0;
    h->min_value = first_nonzero >= 0 ? hdr_value_at_index(h, first_nonzero) : INT64_MAX;
    return 0;
}

/* ---- queries ---- */

static int64_t value_at_count(const hdr_histogram_t *h, int64_t count_at, bool lowest)
{
    int64_t running = 0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        running += h->counts[i];
        if (running >= count_at) {
            int64_t v = hdr_value_at_index(h, i);
            return lowest ? hdr_lowest_equivalent(h, v) : hdr_highest_equivalent(h, v);
        }
    }
    return 0;
}

int64_t hdr_value_at_percentile(const hdr_histogram_t *h, double percentile)
{
    if (h->total_count == 0)
        return 0;
    int64_t count_at = 1;
    if (!isnan(percentile)) {
        /* One ulp down first, so that e.g. 99.9% of 1000 samples does not round up past 999
         * because 0.999 * 1000 is 999.0000000000001 in binary. */
        double p = nextafter(percentile, -INFINITY);
        p = p < 0.0 ? 0.0 : (p > 100.0 ? 100.0 : p);
        double fp = (p / 100.0) * (double)h->total_count;
        double c = ceil(fp);
        if (c > 1.0)
            count_at = c >= (double)INT64_MAX ? INT64_MAX : (int64_t)c;
    }
    return value_at_count(h, count_at, percentile == 0.0);
}

int64_t hdr_value_at_percentile_nearest(const hdr_histogram_t *h, double percentile)
{
    if (h->total_count == 0)
        return 0;
    int64_t count_at = 1;
    if (!isnan(percentile)) {
        double p = percentile < 100.0 ? percentile : 100.0;
        double c = (p / 100.0) * (double)h->total_count + 0.5;
        if (c > 1.0)
            count_at = c >= (double)INT64_MAX ? INT64_MAX : (int64_t)c;
    }
    return value_at_count(h, count_at, percentile == 0.0);
}

double hdr_mean(const hdr_histogram_t *h)
{
    if (h->total_count == 0)
        return 0.0;
    double total = 0.0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] != 0)
            total +=
                (double)hdr_median_equivalent(h, hdr_value_at_index(h, i)) * (double)h->counts[i];
    }
    return total / (double)h->total_count;
}

double hdr_stddev(const hdr_histogram_t *h)
{
    if (h->total_count == 0)
        return 0.0;
    double mean = hdr_mean(h);
    double total = 0.0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] == 0)
            continue;
        double dev = (double)hdr_median_equivalent(h, hdr_value_at_index(h, i)) - mean;
        total += (dev * dev) * (double)h->counts[i];
    }
    return sqrt(total / (double)h->total_count);
}

int64_t hdr_min(const hdr_histogram_t *h)
{
    if (h->total_count == 0 || h->counts[0] > 0 || h->min_value == INT64_MAX)
        return 0;
    return hdr_lowest_equivalent(h, h->min_value);
}

int64_t hdr_max(const hdr_histogram_t *h)
{
    /* Like Java, a recorded 0 reports the top of bucket 0 (2^unit_magnitude - 1, which is 0 when
     * L is 1), so a histogram and its decoded copy report the same max. */
    return h->total_count == 0 ? 0 : hdr_highest_equivalent(h, h->max_value);
}

int64_t hdr_total_count(const hdr_histogram_t *h)
{
    return h->total_count;
}

int64_t hdr_count_at_value(const hdr_histogram_t *h, int64_t value)
{
    if (value < 0 || value > h->highest_trackable_value)
        return 0;
    return h->counts[hdr_counts_index_for(h, value)];
}

/* ---- iteration ---- */

static void iter_init(hdr_iter_t *it, const hdr_histogram_t *h, hdr_iter_mode_t mode)
{
    memset(it, 0, sizeof(*it));
    it->h_ = h;
    it->mode_ = mode;
    it->total_ = h->total_count;
    it->visited_ = -1;
    it->fresh_ = true;
    it->level_ = 0.0;
}

void hdr_iter_all_init(hdr_iter_t *it, const hdr_histogram_t *h)
{
    iter_init(it, h, HDR_ITER_ALL);
}

void hdr_iter_recorded_init(hdr_iter_t *it, const hdr_histogram_t *h)
{
    iter_init(it, h, HDR_ITER_RECORDED);
}

void hdr_iter_percentile_init(hdr_iter_t *it, const hdr_histogram_t *h, int32_t ticks)
{
    iter_init(it, h, HDR_ITER_PERCENTILE);
    it->ticks_per_half_ = ticks < 1 ? 1 : ticks;
}

static bool iter_has_next(hdr_iter_t *it)
{
    switch (it->mode_) {
    case HDR_ITER_ALL:
        return it->visited_ != it->next_index_ || it->next_index_ + 1 < it->h_->counts_len;
    case HDR_ITER_RECORDED: return it->cumulative < it->total_;
    case HDR_ITER_PERCENTILE:
        if (it->cumulative < it->total_)
            return true;
        /* Java's PercentileIterator ends with one extra step at exactly 100%. */
        if (!it->reached_last_ && it->total_ > 0) {
            it->level_ = 100.0;
            it->reached_last_ = true;
            return true;
        }
        return false;
    }
    return false;
}

static bool iter_reached_level(hdr_iter_t *it, int64_t count)
{
    switch (it->mode_) {
    case HDR_ITER_ALL: return it->visited_ != it->next_index_;
    case HDR_ITER_RECORDED: return count != 0 && it->visited_ != it->next_index_;
    case HDR_ITER_PERCENTILE:
        if (count == 0)
            return false;
        return (100.0 * (double)it->cumulative) / (double)it->total_ >= it->level_;
    }
    return false;
}

static void iter_increment_level(hdr_iter_t *it)
{
    it->visited_ = it->next_index_;
    if (it->mode_ != HDR_ITER_PERCENTILE)
        return;
    if (it->level_ >= 100.0) {
        it->level_ = INFINITY; /* the 100% step was the last one */
        return;
    }
    /* Halve the step every half distance to 100%: ticks_per_half * 2^(floor(log2(1/(1-p)))+1)
     * reporting points per 100%. */
    double halvings = floor(log(100.0 / (100.0 - it->level_)) / log(2.0));
    double ticks = (double)it->ticks_per_half_ * ldexp(1.0, (int)halvings + 1);
    double next = it->level_ + 100.0 / ticks;
    /* Past 2^53 samples the increment can vanish below one ulp; jump to the final level rather
     * than emitting the same level forever. */
    it->level_ = next > it->level_ ? next : 100.0;
}

bool hdr_iter_next(hdr_iter_t *it)
{
    if (!iter_has_next(it))
        return false;
    const hdr_histogram_t *h = it->h_;
    while (it->next_index_ < h->counts_len) {
        int32_t i = it->next_index_;
        int64_t count = h->counts[i];
        if (it->fresh_) {
            it->cumulative += count;
            it->fresh_ = false;
        }
        if (iter_reached_level(it, count)) {
            it->index = i;
            it->count = count;
            it->count_added = it->cumulative - it->prev_cumulative_;
            it->prev_cumulative_ = it->cumulative;
            it->value = hdr_value_at_index(h, i);
            it->lowest_equivalent = hdr_lowest_equivalent(h, it->value);
            it->highest_equivalent = hdr_highest_equivalent(h, it->value);
            it->median_equivalent = hdr_median_equivalent(h, it->value);
            it->value_iterated_to =
                it->mode_ == HDR_ITER_PERCENTILE ? it->highest_equivalent : it->value;
            it->percentile =
                it->total_ > 0 ? (100.0 * (double)it->cumulative) / (double)it->total_ : 0.0;
            it->percentile_level = it->mode_ == HDR_ITER_PERCENTILE ? it->level_ : it->percentile;
            iter_increment_level(it);
            return true;
        }
        it->next_index_++;
        it->fresh_ = true;
    }
    return false;
}
