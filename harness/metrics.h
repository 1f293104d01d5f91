/* metrics: the named histograms and counters of a scenario run (what gates judge and reports
 * write).
 *
 * A metric has a name (the step's or load phase's `histogram`), an HDR histogram of latencies in
 * nanoseconds (1 ns .. 1 h, 3 significant figures; HARNESS-BRIEF 0), a sample count, an error
 * count and the time span it covers (for `rate`). Metrics created only as counters (e.g.
 * `calls.dropped` from a load phase) have no histogram. Failed samples are recorded in the
 * histogram too (as k6 does): their latency is real time spent; `errors` tells them apart.
 *
 * Interval log: samples recorded one by one go into a per-second interval histogram, aligned on
 * whole seconds since the run start; when a sample falls into a later second the previous
 * interval becomes one `.hlog` line. Load phases hand in their own per-second interval
 * histograms (metrics_log_interval). metrics_finish closes the last open interval.
 *
 * Ownership: the registry owns every metric; metric pointers stay valid until metrics_free. */
#ifndef HARNESS_METRICS_H
#define HARNESS_METRICS_H

#include "buf.h"
#include "hdr_histogram.h"

#include <stddef.h>
#include <stdint.h>

#define METRICS_LOWEST_NS  1
#define METRICS_HIGHEST_NS 3600000000000LL
#define METRICS_SIGFIGS    3
/* Largest .hlog text kept per metric (a day of one-second intervals fits). */
#define METRICS_MAX_HLOG (64u * 1024u * 1024u)

typedef struct metric_s {
    char *name;
    hdr_histogram_t *hist; /* NULL for counter-only metrics */
    uint64_t count;        /* samples, failed ones included */
    uint64_t errors;       /* failed samples */
    uint64_t first_ns;     /* monotonic time of the first sample (0: none yet) */
    uint64_t last_ns;      /* monotonic time of the last sample */
    uint64_t active_ns;    /* measured time added by load phases */
    /* interval log */
    hdr_histogram_t *interval;
    int64_t interval_index; /* second since run start of `interval`, -1 when empty */
    buf_t hlog;             /* interval lines, without the header */
    size_t hlog_intervals;
} metric_t;

typedef struct metrics_s metrics_t;

/* A registry for a run that started at start_mono_ns (clock_mono_ns). 0 or MCP_ENOMEM. */
int metrics_new(uint64_t start_mono_ns, metrics_t **out);
void metrics_free(metrics_t *m);
uint64_t metrics_start_ns(const metrics_t *m);

/* The metric or NULL. */
metric_t *metrics_get(const metrics_t *m, const char *name);
/* The metric, created when absent (with a histogram when with_hist; an existing counter-only
 * metric gains one). 0, MCP_EINVAL (empty name) or MCP_ENOMEM. */
int metrics_ensure(metrics_t *m, const char *name, int with_hist, metric_t **out);
size_t metrics_count(const metrics_t *m);
metric_t *metrics_at(const metrics_t *m, size_t i);

/* One sample: latency_ns at monotonic time now_ns; ok = 0 counts an error. 0 or an error. */
int metrics_record(metrics_t *m, const char *name, int64_t latency_ns, int ok, uint64_t now_ns);
/* Add counts without latencies (counter metrics, load totals). */
int metrics_add_counts(metrics_t *m, const char *name, uint64_t count, uint64_t errors,
                       uint64_t active_ns);
/* Merge a histogram into the metric's (created with a histogram). */
int metrics_add_histogram(metrics_t *m, const char *name, const hdr_histogram_t *h);
/* Append an interval line for h covering [start_s, start_s + length_s) since the run start.
 * The metric's own open interval is closed first so lines stay in time order. */
int metrics_log_interval(metrics_t *m, const char *name, double start_s, double length_s,
                         const hdr_histogram_t *h);
/* Close every open interval (at the end of the run, time now_ns). */
void metrics_finish(metrics_t *m, uint64_t now_ns);

/* Samples per second over the metric's span (see the design above); 0 without samples. */
double metric_rate(const metric_t *mt);

#endif
