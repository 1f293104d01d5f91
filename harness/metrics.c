#include "metrics.h"

#include "alloc.h"
#include "errors.h"
#include "hdr_codec.h"
#include "hdr_log.h"

#include <string.h>

#define NS_PER_S 1000000000ULL

struct metrics_s {
    uint64_t start_ns;
    metric_t **items;
    size_t count, cap;
};

int metrics_new(uint64_t start_mono_ns, metrics_t **out)
{
    metrics_t *m = mcp_calloc(1, sizeof(*m));
    if (!m)
        return MCP_ENOMEM;
    m->start_ns = start_mono_ns;
    *out = m;
    return 0;
}

static void metric_free(metric_t *mt)
{
    mcp_free(mt->name);
    hdr_free(mt->hist);
    hdr_free(mt->interval);
    buf_free(&mt->hlog);
    mcp_free(mt);
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->count; i++)
        metric_free(m->items[i]);
    mcp_free(m->items);
    mcp_free(m);
}

uint64_t metrics_start_ns(const metrics_t *m)
{
    return m->start_ns;
}

metric_t *metrics_get(const metrics_t *m, const char *name)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->items[i]->name, name) == 0)
            return m->items[i];
    return NULL;
}

size_t metrics_count(const metrics_t *m)
{
    return m->count;
}

metric_t *metrics_at(const metrics_t *m, size_t i)
{
    return i < m->count ? m->items[i] : NULL;
}

static int new_hist(hdr_histogram_t **out)
{
    return hdr_init(METRICS_LOWEST_NS, METRICS_HIGHEST_NS, METRICS_SIGFIGS, out, NULL, 0);
}

int metrics_ensure(metrics_t *m, const char *name, int with_hist, metric_t **out)
{
    if (!name || !*name)
        return MCP_EINVAL;
    metric_t *mt = metrics_get(m, name);
    if (!mt) {
        if (m->count == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 8;
            metric_t **items = mcp_realloc(m->items, cap * sizeof(*items));
            if (!items)
                return MCP_ENOMEM;
            m->items = items;
            m->cap = cap;
        }
        mt = mcp_calloc(1, sizeof(*mt));
        if (!mt)
            return MCP_ENOMEM;
        mt->name = mcp_strdup(name);
        if (!mt->name) {
            mcp_free(mt);
            return MCP_ENOMEM;
        }
        mt->interval_index = -1;
        buf_init(&mt->hlog, METRICS_MAX_HLOG);
        m->items[m->count++] = mt;
    }
    if (with_hist && !mt->hist) {
        int rc = new_hist(&mt->hist);
        if (rc)
            return rc;
    }
    if (out)
        *out = mt;
    return 0;
}

static void interval_flush(const metrics_t *m, metric_t *mt, uint64_t now_ns)
{
    if (mt->interval_index < 0 || !mt->interval)
        return;
    double start_s = (double)mt->interval_index;
    double end_s = (double)(now_ns - m->start_ns) / 1e9;
    double len = end_s - start_s;
    if (len > 1.0 || len <= 0)
        len = 1.0;
    if (hdr_total_count(mt->interval) > 0 &&
        hdr_log_write_interval(&mt->hlog, NULL, start_s, len, mt->interval,
                               HDR_LOG_MAX_RATIO_NS_TO_MS, HDR_DEFAULT_COMPRESSION) == 0)
        mt->hlog_intervals++;
    hdr_reset(mt->interval);
    mt->interval_index = -1;
}

int metrics_record(metrics_t *m, const char *name, int64_t latency_ns, int ok, uint64_t now_ns)
{
    metric_t *mt;
    int rc = metrics_ensure(m, name, 1, &mt);
    if (rc)
        return rc;
    if (latency_ns < METRICS_LOWEST_NS)
        latency_ns = METRICS_LOWEST_NS;
    if (latency_ns > METRICS_HIGHEST_NS)
        latency_ns = METRICS_HIGHEST_NS;
    rc = hdr_record_value(mt->hist, latency_ns);
    if (rc)
        return rc;
    if (!mt->interval) {
        rc = new_hist(&mt->interval);
        if (rc)
            return rc;
    }
    int64_t idx = now_ns > m->start_ns ? (int64_t)((now_ns - m->start_ns) / NS_PER_S) : 0;
    if (mt->interval_index >= 0 && idx != mt->interval_index)
        interval_flush(m, mt, m->start_ns + (uint64_t)(mt->interval_index + 1) * NS_PER_S);
    mt->interval_index = idx;
    hdr_record_value(mt->interval, latency_ns);
    mt->count++;
    if (!ok)
        mt->errors++;
    if (!mt->first_ns)
        mt->first_ns = now_ns;
    mt->last_ns = now_ns;
    return 0;
}

int metrics_add_counts(metrics_t *m, const char *name, uint64_t count, uint64_t errors,
                       uint64_t active_ns)
{
    metric_t *mt;
    int rc = metrics_ensure(m, name, 0, &mt);
    if (rc)
        return rc;
    mt->count += count;
    mt->errors += errors;
    mt->active_ns += active_ns;
    return 0;
}

int metrics_add_histogram(metrics_t *m, const char *name, const hdr_histogram_t *h)
{
    metric_t *mt;
    int rc = metrics_ensure(m, name, 1, &mt);
    if (rc)
        return rc;
    return hdr_add(mt->hist, h, NULL);
}

int metrics_log_interval(metrics_t *m, const char *name, double start_s, double length_s,
                         const hdr_histogram_t *h)
{
    metric_t *mt;
    int rc = metrics_ensure(m, name, 1, &mt);
    if (rc)
        return rc;
    if (mt->interval_index >= 0)
        interval_flush(m, mt, m->start_ns + (uint64_t)(mt->interval_index + 1) * NS_PER_S);
    if (!h || hdr_total_count(h) == 0)
        return 0;
    rc = hdr_log_write_interval(&mt->hlog, NULL, start_s < 0 ? 0 : start_s,
                                length_s < 0 ? 0 : length_s, h, HDR_LOG_MAX_RATIO_NS_TO_MS,
                                HDR_DEFAULT_COMPRESSION);
    if (rc == 0)
        mt->hlog_intervals++;
    return rc;
}

void metrics_finish(metrics_t *m, uint64_t now_ns)
{
    for (size_t i = 0; i < m->count; i++)
        interval_flush(m, m->items[i], now_ns);
}

double metric_rate(const metric_t *mt)
{
    if (!mt->count)
        return 0;
    uint64_t span = mt->last_ns > mt->first_ns ? mt->last_ns - mt->first_ns : 0;
    if (mt->active_ns > span)
        span = mt->active_ns;
    if (span == 0)
        return 0;
    return (double)mt->count / ((double)span / 1e9);
}
