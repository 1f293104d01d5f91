/* metrics: the gateway's metrics registry — counters, gauges and HDR-backed latency histograms
 * with fixed label sets, exposed as Prometheus text (format 0.0.4) and as JSON.
 *
 * A metric (gw_metric_t) has a name, a help text, a type and a fixed list of label names (0..8).
 * A series (gw_series_t) is one combination of label values; it is created on first lookup and
 * kept until the registry is freed. Hot paths look a series up once (or per request, which is a
 * hash lookup) and then update it with gw_series_inc/add/set/observe.
 *
 * Bounded cardinality: each metric holds at most max_series series. A lookup of a new label set
 * beyond that returns the metric's overflow series, whose every label value is "other" (it is
 * the ordinary series for that label set, created past the cap when needed, so a metric never
 * has more than max_series + 1 series). Each diverted lookup is counted and exposed as
 * gw_metrics_series_overflow_total{metric="NAME"}. In collected metrics the overflow series sums
 * what the collectors set on it during one exposition (and merges borrowed histograms into a
 * copy), so nothing is lost, only the labels. Label values are normalised before lookup:
 * invalid UTF-8 bytes become U+FFFD and values are cut at GW_METRICS_LABEL_VALUE_MAX bytes (at a
 * character boundary), so hostile names can neither break the exposition nor grow memory.
 *
 * Histograms vs summaries: we expose Prometheus *histograms* (_bucket{le}, _sum, _count) and
 * compute the bucket counts from the HDR data at scrape time. Histograms aggregate across
 * gateway instances and over time in PromQL (histogram_quantile over rate()), summaries do not;
 * and because the HDR data holds every sample to 3 significant figures, the buckets cost nothing
 * on the hot path. The exact percentiles (p50/p95/p99/max/mean, hdr_value_at_percentile) are in
 * the JSON view. A sample counts in bucket `le` when the lowest value of its HDR bucket is <= le,
 * i.e. bucket counts are exact to within the histogram's precision (1 part in 10^sigfigs).
 * _sum is exact for observed samples (and the median-equivalent sum for borrowed histograms).
 *
 * Collected metrics: numbers owned by other modules (upstream call counts, breaker state, cache
 * counters, the upstreams' own HDR histograms) are mirrored at scrape time. A metric registered
 * with `collected` loses its series' "touched" mark at the start of every exposition; then the
 * collectors (gw_metrics_add_collector) run and look up / set what exists now; series nobody
 * touched (a removed upstream) are dropped. A collected histogram series does not own HDR data:
 * gw_series_borrow points it at another module's histogram for the duration of one exposition.
 *
 * Rates: gw_metrics_add_ratio defines a JSON-only derived value (success rate, cache hit rate)
 * as sum(numerator terms) / sum(denominator terms) over counters (histograms: their count).
 *
 * Output order is registration order for metrics and first-lookup order for series, so the text
 * is deterministic for a given sequence of calls (the golden tests rely on it). Numbers are
 * printed in the shortest form that reads back exactly ("3", "0.25", "1e-06", "+Inf", "NaN").
 *
 * Ownership: the registry owns every metric and series; the pointers it hands out stay valid
 * until gw_metrics_free, except series of collected metrics, which are valid only until the
 * current exposition ends (collectors look them up afresh each time). Names, help texts and label
 * names are copied. Not thread-safe: one registry per event loop. Every series function accepts
 * NULL (a failed lookup) as a no-op so callers on hot paths need not check. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include "buf.h"
#include "hdr_histogram.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define GW_METRICS_MAX_LABELS         8
#define GW_METRICS_LABEL_VALUE_MAX    128 /* bytes, after normalisation */
#define GW_METRICS_DEFAULT_MAX_SERIES 500
#define GW_METRICS_MAX_BUCKETS        32
#define GW_METRICS_MAX_COLLECTORS     16
#define GW_METRICS_MAX_RATIOS         16
#define GW_METRICS_OTHER              "other"

typedef struct gw_metrics_s gw_metrics_t;
typedef struct gw_metric_s gw_metric_t;
typedef struct gw_series_s gw_series_t;

typedef enum { GW_METRIC_COUNTER = 0, GW_METRIC_GAUGE, GW_METRIC_HISTOGRAM } gw_metric_type_t;

typedef struct gw_metrics_options_s {
    /* Add process_* metrics (RSS, open fds, start time, uptime, CPU) to both outputs. */
    int process_metrics;
    /* Monotonic ns for uptime; NULL: clock_mono_ns. Wall time always comes from clock.h. */
    uint64_t (*clock_ns)(void *ud);
    void *clock_ud;
} gw_metrics_options_t;

/* Per-metric options; a NULL pointer or zero fields take the defaults. */
typedef struct gw_metric_options_s {
    size_t max_series; /* 0: GW_METRICS_DEFAULT_MAX_SERIES */
    int collected;     /* mirrored by collectors at scrape time (see above) */
    /* histograms only */
    int64_t unit_ns;  /* what one observed unit is worth; 0: 1 (values in ns) */
    int64_t highest;  /* in units; 0: 60 s. Larger values are clamped to it */
    int sigfigs;      /* 1..5; 0: 3 (2 keeps a per-tool series near 30 KiB instead of 200) */
    const double *le; /* bucket upper bounds in seconds, ascending; NULL: the default set */
    size_t le_count;  /* 1..GW_METRICS_MAX_BUCKETS; +Inf is always added */
} gw_metric_options_t;

/* The default bucket bounds (seconds): 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5
 * 1 2.5 5 10 30 60. */
extern const double gw_metrics_default_le[];
extern const size_t gw_metrics_default_le_count;

/* A new, empty registry in *out (release with gw_metrics_free). opts may be NULL (no process
 * metrics, monotonic clock). 0 or MCP_ENOMEM. */
int gw_metrics_new(const gw_metrics_options_t *opts, gw_metrics_t **out);
/* NULL is a no-op. Borrowed histograms are forgotten, never freed. */
void gw_metrics_free(gw_metrics_t *m);

/* Register a metric. `labels` is a comma-separated list of label names ("route,method,status")
 * or NULL/"" for none. Names follow the Prometheus rules: metric [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * [a-zA-Z_][a-zA-Z0-9_]* not starting with "__", not "le" on histograms, no duplicates.
 * Returns 0 and *out (owned by the registry; out may be NULL), MCP_EINVAL (bad name, label or
 * option), MCP_EEXISTS (name taken; process_* and gw_metrics_series_overflow_total are reserved)
 * or MCP_ENOMEM. A metric without labels gets its one series at once, so it is
 * exposed (as 0) before its first update. */
int gw_metrics_register(gw_metrics_t *m, gw_metric_type_t type, const char *name, const char *help,
                        const char *labels, const gw_metric_options_t *opts, gw_metric_t **out);
/* The metric registered under name, or NULL. */
gw_metric_t *gw_metrics_find(const gw_metrics_t *m, const char *name);

/* The series for `values` (one per label name, in order; NULL values read as ""). Returns 0 with
 * *out set (possibly the overflow series), MCP_EINVAL (metric NULL) or MCP_ENOMEM, with *out
 * NULL on error. */
int gw_metric_series(gw_metric_t *metric, const char *const *values, gw_series_t **out);
/* The same, returning the series or NULL (on error); for one-line updates:
 *   gw_series_inc(gw_metric_get(reqs, (const char *[]){route, method, "2xx"})); */
gw_series_t *gw_metric_get(gw_metric_t *metric, const char *const *values);

size_t gw_metric_series_count(const gw_metric_t *metric);
/* Lookups diverted to the overflow series since the registry was created. */
uint64_t gw_metric_overflowed(const gw_metric_t *metric);

/* ---- updates (a NULL series is a no-op) ---- */
/* Counters and gauges. Counters ignore negative or NaN deltas (a counter never goes down). */
void gw_series_inc(gw_series_t *s);
void gw_series_add(gw_series_t *s, double delta);
/* Gauges; counters too, for mirroring another module's monotonic count at scrape time. */
void gw_series_set(gw_series_t *s, double value);
double gw_series_value(const gw_series_t *s);
/* Histograms: one sample in the metric's unit (clamped to [0, highest]). 0 on success,
 * MCP_EINVAL when s is not an owned histogram series. */
int gw_series_observe(gw_series_t *s, int64_t value);
/* Collected histograms: use `h` (values in units of src_unit_ns) as this series' data until the
 * end of the current exposition. `h` is borrowed and must stay valid and unchanged until the
 * exposition ends (collectors run inside it). 0, or MCP_EINVAL (not a collected histogram
 * series, or src_unit_ns < 1). */
int gw_series_borrow(gw_series_t *s, const hdr_histogram_t *h, int64_t src_unit_ns);
/* The owned HDR data of a histogram series (values in the metric's unit), or NULL. */
const hdr_histogram_t *gw_series_hdr(const gw_series_t *s);

/* ---- collectors and rates ---- */
/* fn runs at the start of every exposition (text or JSON), in registration order, to update
 * collected metrics. 0, MCP_EINVAL (fn NULL) or MCP_ENOBUFS (more than
 * GW_METRICS_MAX_COLLECTORS). */
typedef void (*gw_metrics_collect_fn)(gw_metrics_t *m, void *ud);
int gw_metrics_add_collector(gw_metrics_t *m, gw_metrics_collect_fn fn, void *ud);

/* A derived JSON value "rates": {name: num / den} (null while den is 0). Each expression is a sum
 * of terms `metric` or `metric{label="value"}` or `metric{label!="value"}` joined by '+', e.g.
 *   gw_metrics_add_ratio(m, "success_rate", "gw_upstream_calls_total{outcome=\"ok\"}",
 *                        "gw_upstream_calls_total");
 * The metrics must be registered already (typos fail here, not silently at scrape time).
 * 0, MCP_EINVAL (syntax, unknown metric or label), MCP_ENOBUFS (too many) or MCP_ENOMEM. */
int gw_metrics_add_ratio(gw_metrics_t *m, const char *name, const char *numerator,
                         const char *denominator);
/* Evaluate a ratio now, on the current values (collectors are not run; borrowed histograms count
 * as empty outside an exposition). 0 and *out; MCP_ENOTFOUND (no such ratio); MCP_ESTATE when
 * the denominator is 0 (*out = NaN). */
int gw_metrics_ratio(const gw_metrics_t *m, const char *name, double *out);

/* ---- exposition ---- */
/* Run the collectors, then append the Prometheus text exposition (Content-Type
 * "text/plain; version=0.0.4; charset=utf-8") to out. 0, MCP_ENOBUFS (out's maximum reached;
 * out holds a truncated text the caller should discard) or MCP_ENOMEM. */
int gw_metrics_write_text(gw_metrics_t *m, buf_t *out);
/* Run the collectors and build the JSON view (caller owns it, cJSON_Delete):
 *   {"uptime_seconds":n, "process":{...} (when enabled), "rates":{name:n|null},
 *    "metrics":{NAME:{"type":"counter|gauge|histogram","help":"...","overflowed":n,
 *      "series":[{"labels":{...},"value":n} |
 *                {"labels":{...},"count":n,"sum_seconds":n,"mean_ms":n,"p50_ms":n,
 *                 "p95_ms":n,"p99_ms":n,"max_ms":n}]}}}
 * Percentiles are hdr_value_at_percentile (and hdr_max, hdr_mean) in the metric's unit
 * converted to milliseconds. NULL on allocation failure. */
cJSON *gw_metrics_json(gw_metrics_t *m);
/* gw_metrics_json printed (unformatted) onto out. 0, MCP_ENOBUFS or MCP_ENOMEM. */
int gw_metrics_write_json(gw_metrics_t *m, buf_t *out);

/* ---- process metrics (Linux /proc; fields are 0 where unavailable) ---- */
typedef struct gw_process_stats_s {
    uint64_t rss_bytes;        /* /proc/self/statm resident pages * page size */
    uint64_t vsize_bytes;      /* /proc/self/statm size * page size */
    uint64_t open_fds;         /* entries of /proc/self/fd, not counting the one used to read it */
    uint64_t max_fds;          /* RLIMIT_NOFILE soft limit */
    double cpu_seconds;        /* utime + stime from /proc/self/stat */
    double start_time_seconds; /* Unix time the process started (/proc/stat btime + starttime) */
} gw_process_stats_t;
/* 0 (some fields may be 0) or the first error reading /proc (a UV_E* code). */
int gw_process_stats_read(gw_process_stats_t *out);
/* Seconds since gw_metrics_new (on the registry's clock). */
double gw_metrics_uptime(const gw_metrics_t *m);

/* ---- the gateway's standard metric set ----
 *
 * One place that fixes the names the REST routes, dashboards and the harness use. Direct metrics
 * are updated by the HTTP layer and security checks; the rest are mirrored by a collector that
 * main writes from the registry/aggregator (gw_metrics_std_upstream/_tool/_cache below take
 * plain numbers so this module does not depend on them). Rates: "success_rate" (upstream calls
 * answered with a result, over all calls except those cancelled by their caller) and
 * "cache_hit_rate" (hits / (hits + misses)). */
typedef struct gw_metrics_std_s {
    /* direct */
    gw_metric_t *http_requests; /* gw_http_requests_total{route,method,status}: "2xx".. */
    gw_metric_t *http_duration; /* gw_http_request_duration_seconds{route,method} (ns) */
    gw_metric_t *auth_failures; /* gw_auth_failures_total{reason} */
    gw_metric_t *rate_limited;  /* gw_rate_limited_total */
    gw_metric_t *host_rejected; /* gw_host_rejected_total */
    /* collected */
    gw_metric_t *upstream_up;      /* gw_upstream_up{server}: 1 ready/degraded, else 0 */
    gw_metric_t *upstream_calls;   /* gw_upstream_calls_total{server,outcome} */
    gw_metric_t *upstream_latency; /* gw_upstream_call_duration_seconds{server} (borrowed, us) */
    gw_metric_t *breaker_state;    /* gw_upstream_breaker_state{server}: 0 closed 1 open 2 half */
    gw_metric_t *tool_calls;       /* gw_tool_calls_total{server,tool} */
    gw_metric_t *tool_errors;      /* gw_tool_errors_total{server,tool} (timeouts included) */
    gw_metric_t *tool_timeouts;    /* gw_tool_timeouts_total{server,tool} */
    gw_metric_t *tool_latency;     /* gw_tool_call_duration_seconds{server,tool} (borrowed, us) */
    gw_metric_t *cache_hits;       /* gw_cache_hits_total */
    gw_metric_t *cache_misses;     /* gw_cache_misses_total */
    gw_metric_t *cache_evictions;  /* gw_cache_evictions_total */
    gw_metric_t *cache_bytes;      /* gw_cache_bytes */
    gw_metric_t *cache_entries;    /* gw_cache_entries */
} gw_metrics_std_t;

/* Register the standard set into m and fill *std. max_tool_series caps the per-tool metrics
 * (0: 1000). 0, or the first gw_metrics_register / gw_metrics_add_ratio error. */
int gw_metrics_std_register(gw_metrics_t *m, size_t max_tool_series, gw_metrics_std_t *std);

/* One finished HTTP request: counts it (status class "1xx".."5xx") and records its duration. */
void gw_metrics_std_request(const gw_metrics_std_t *std, const char *route, const char *method,
                            int status, uint64_t duration_ns);

/* The numbers of one upstream, as gw_upstream_stats_t reports them (errors include timeouts). */
typedef struct gw_metrics_upstream_sample_s {
    const char *server;
    int up;            /* 1 when available (ready or degraded) */
    int breaker_state; /* gw_breaker_state_t: 0 closed, 1 open, 2 half-open */
    uint64_t ok, upstream_errors, errors, timeouts, cancelled, rejected;
    const hdr_histogram_t *latency_us; /* borrowed for this exposition; may be NULL */
} gw_metrics_upstream_sample_t;
/* From inside a collector: mirror one upstream. outcome label values: ok, rpc_error (answered
 * with a JSON-RPC error), error (no answer, timeouts excluded), timeout, cancelled, rejected. */
void gw_metrics_std_upstream(const gw_metrics_std_t *std, const gw_metrics_upstream_sample_t *s);
/* From inside a collector: one tool of one upstream. */
void gw_metrics_std_tool(const gw_metrics_std_t *std, const char *server, const char *tool,
                         uint64_t calls, uint64_t errors, uint64_t timeouts,
                         const hdr_histogram_t *latency_us);
/* From inside a collector: the resource cache's counters. */
void gw_metrics_std_cache(const gw_metrics_std_t *std, uint64_t hits, uint64_t misses,
                          uint64_t evictions, uint64_t bytes, uint64_t entries);

#endif
