#include "metrics.h"

#include "alloc.h"
#include "clock.h"
#include "errors.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define NS_PER_S        1e9
#define DEFAULT_HIGHEST 60LL /* seconds */
#define DEFAULT_SIGFIGS 3
#define TABLE_MIN       16
#define OVERFLOW_METRIC "gw_metrics_series_overflow_total"
#define RATIO_MAX_TERMS 8
#define RATIO_VALUE_MAX GW_METRICS_LABEL_VALUE_MAX

const double gw_metrics_default_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
const size_t gw_metrics_default_le_count =
    sizeof gw_metrics_default_le / sizeof gw_metrics_default_le[0];

struct gw_series_s {
    gw_series_t *hash_next;
    gw_series_t *prev, *next; /* first-lookup order */
    gw_metric_t *metric;
    uint64_t hash;
    double value;                    /* counters and gauges */
    hdr_histogram_t *hdr;            /* owned data (direct histograms, collected overflow merge) */
    double sum_ns;                   /* exact sum of observed samples (direct histograms) */
    const hdr_histogram_t *borrowed; /* collected histograms, for one exposition */
    int64_t borrowed_unit_ns;
    uint64_t touched_round; /* collected: the collection that last looked it up */
    uint64_t set_round;     /* collected overflow: the collection that last set it */
    int is_overflow;
    const char *values[GW_METRICS_MAX_LABELS];
    /* name="value",... escaped for the text format, built once so a scrape only copies it */
    const char *label_text;
    size_t label_text_len;
    char storage[]; /* the label values, NUL-separated */
};

struct gw_metric_s {
    gw_metric_t *next; /* registration order */
    gw_metrics_t *reg;
    gw_metric_type_t type;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[GW_METRICS_MAX_LABELS];
    size_t max_series;
    size_t nseries;
    int collected;
    int64_t unit_ns;
    int64_t highest; /* in units */
    int sigfigs;
    double le[GW_METRICS_MAX_BUCKETS];
    char le_text[GW_METRICS_MAX_BUCKETS][32];
    size_t le_count;
    gw_series_t **table;
    size_t table_size; /* power of two */
    gw_series_t *head, *tail;
    uint64_t overflowed;
};

typedef struct ratio_term_s {
    gw_metric_t *metric;
    int label; /* index, -1: no filter */
    int negate;
    char value[RATIO_VALUE_MAX + 1];
} ratio_term_t;

typedef struct ratio_s {
    char *name;
    ratio_term_t num[RATIO_MAX_TERMS], den[RATIO_MAX_TERMS];
    size_t num_count, den_count;
} ratio_t;

struct gw_metrics_s {
    gw_metric_t *head, *tail;
    int process_metrics;
    uint64_t (*clock_ns)(void *ud);
    void *clock_ud;
    uint64_t start_ns;
    uint64_t round; /* collections started */
    int collecting; /* inside an exposition: collectors may borrow */
    struct {
        gw_metrics_collect_fn fn;
        void *ud;
    } collectors[GW_METRICS_MAX_COLLECTORS];
    size_t ncollectors;
    ratio_t ratios[GW_METRICS_MAX_RATIOS];
    size_t nratios;
};

static uint64_t default_clock(void *ud)
{
    (void)ud;
    return clock_mono_ns();
}

/* ---- names and values ---- */

static int valid_metric_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                 (p != s && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static int valid_label_name(const char *s, size_t len)
{
    if (len == 0 || (len >= 2 && s[0] == '_' && s[1] == '_'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when the byte at p does not start one. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* Copy `in` into out (GW_METRICS_LABEL_VALUE_MAX + 1 bytes) as valid UTF-8, invalid bytes
 * replaced by U+FFFD, cut at a character boundary. Returns the length. The bytes after a
 * mismatching lead byte are NUL-safe: utf8_seq stops at the first non-continuation byte. */
static size_t normalise_value(const char *in, char *out)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    while (*p) {
        size_t len = utf8_seq(p);
        const unsigned char *src = p;
        size_t adv = len;
        if (len == 0) {
            src = (const unsigned char *)"\xef\xbf\xbd";
            len = 3;
            adv = 1;
        }
        if (n + len > GW_METRICS_LABEL_VALUE_MAX)
            break;
        memcpy(out + n, src, len);
        n += len;
        p += adv;
    }
    out[n] = '\0';
    return n;
}

static uint64_t hash_values(char (*vals)[GW_METRICS_LABEL_VALUE_MAX + 1], size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)vals[i]; *p; p++) {
            h ^= *p;
            h *= 1099511628211ULL;
        }
        /* 0xff never occurs in UTF-8, so ("ab","") and ("a","b") hash apart. */
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Shortest text that strtod reads back as v, in Go's / Prometheus' spelling of the specials. */
static void format_number(char *out, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15 && cap >= 24) {
        /* Integers (most samples: counts) without printf. No "-0". */
        char tmp[24];
        size_t n = 0;
        uint64_t u = (uint64_t)fabs(v);
        do {
            tmp[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        size_t k = 0;
        if (v < 0)
            out[k++] = '-';
        while (n)
            out[k++] = tmp[--n];
        out[k] = '\0';
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* ---- registry ---- */

int gw_metrics_new(const gw_metrics_options_t *opts, gw_metrics_t **out)
{
    *out = NULL;
    gw_metrics_t *m = mcp_calloc(1, sizeof *m);
    if (!m)
        return MCP_ENOMEM;
    m->clock_ns = default_clock;
    if (opts) {
        m->process_metrics = opts->process_metrics;
        if (opts->clock_ns) {
            m->clock_ns = opts->clock_ns;
            m->clock_ud = opts->clock_ud;
        }
    }
    m->start_ns = m->clock_ns(m->clock_ud);
    *out = m;
    return 0;
}

static void series_free(gw_series_t *s)
{
    hdr_free(s->hdr);
    mcp_free(s);
}

static void metric_free(gw_metric_t *mt)
{
    for (gw_series_t *s = mt->head, *next; s; s = next) {
        next = s->next;
        series_free(s);
    }
    for (size_t i = 0; i < mt->nlabels; i++)
        mcp_free(mt->labels[i]);
    mcp_free(mt->table);
    mcp_free(mt->name);
    mcp_free(mt->help);
    mcp_free(mt);
}

void gw_metrics_free(gw_metrics_t *m)
{
    if (!m)
        return;
    for (gw_metric_t *mt = m->head, *next; mt; mt = next) {
        next = mt->next;
        metric_free(mt);
    }
    for (size_t i = 0; i < m->nratios; i++)
        mcp_free(m->ratios[i].name);
    mcp_free(m);
}

gw_metric_t *gw_metrics_find(const gw_metrics_t *m, const char *name)
{
    if (!m || !name)
        return NULL;
    for (gw_metric_t *mt = m->head; mt; mt = mt->next)
        if (strcmp(mt->name, name) == 0)
            return mt;
    return NULL;
}

static int parse_labels(gw_metric_t *mt, const char *labels)
{
    if (!labels || !*labels)
        return 0;
    const char *p = labels;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t len = (size_t)(p - start);
        while (*p == ' ')
            p++;
        if (!valid_label_name(start, len) || mt->nlabels == GW_METRICS_MAX_LABELS)
            return MCP_EINVAL;
        if (mt->type == GW_METRIC_HISTOGRAM && len == 2 && memcmp(start, "le", 2) == 0)
            return MCP_EINVAL;
        for (size_t i = 0; i < mt->nlabels; i++)
            if (strlen(mt->labels[i]) == len && memcmp(mt->labels[i], start, len) == 0)
                return MCP_EINVAL;
        if (!(mt->labels[mt->nlabels] = mcp_strndup(start, len)))
            return MCP_ENOMEM;
        mt->nlabels++;
        if (*p == '\0')
            return 0;
        if (*p != ',')
            return MCP_EINVAL;
        p++;
    }
}

int gw_metrics_register(gw_metrics_t *m, gw_metric_type_t type, const char *name, const char *help,
                        const char *labels, const gw_metric_options_t *opts, gw_metric_t **out)
{
    if (out)
        *out = NULL;
    if (!m || !valid_metric_name(name) ||
        (type != GW_METRIC_COUNTER && type != GW_METRIC_GAUGE && type != GW_METRIC_HISTOGRAM))
        return MCP_EINVAL;
    if (strcmp(name, OVERFLOW_METRIC) == 0 || strncmp(name, "process_", 8) == 0)
        return MCP_EEXISTS; /* ours */
    if (gw_metrics_find(m, name))
        return MCP_EEXISTS;
    gw_metric_options_t o = {0};
    if (opts)
        o = *opts;
    if (o.unit_ns < 0 || o.highest < 0 || o.sigfigs < 0 || o.sigfigs > HDR_SIGFIGS_MAX)
        return MCP_EINVAL;

    gw_metric_t *mt = mcp_calloc(1, sizeof *mt);
    if (!mt)
        return MCP_ENOMEM;
    mt->reg = m;
    mt->type = type;
    mt->collected = o.collected;
    mt->max_series = o.max_series ? o.max_series : GW_METRICS_DEFAULT_MAX_SERIES;
    mt->unit_ns = o.unit_ns ? o.unit_ns : 1;
    mt->highest =
        o.highest ? o.highest : (int64_t)(DEFAULT_HIGHEST * (int64_t)NS_PER_S) / mt->unit_ns;
    mt->sigfigs = o.sigfigs ? o.sigfigs : DEFAULT_SIGFIGS;
    int rc = MCP_EINVAL;
    if (mt->highest < 2)
        goto fail;
    const double *le = o.le ? o.le : gw_metrics_default_le;
    size_t le_count = o.le ? o.le_count : gw_metrics_default_le_count;
    if (le_count < 1 || le_count > GW_METRICS_MAX_BUCKETS)
        goto fail;
    for (size_t i = 0; i < le_count; i++) {
        if (!isfinite(le[i]) || le[i] < 0 || (i > 0 && le[i] <= le[i - 1]))
            goto fail;
        mt->le[i] = le[i];
        format_number(mt->le_text[i], sizeof mt->le_text[i], le[i]);
    }
    mt->le_count = le_count;
    if (type == GW_METRIC_HISTOGRAM &&
        hdr_calculate_layout(1, mt->highest, mt->sigfigs, &(hdr_histogram_t){0}, NULL, 0) != 0)
        goto fail;
    if ((rc = parse_labels(mt, labels)) != 0)
        goto fail;
    rc = MCP_ENOMEM;
    if (!(mt->name = mcp_strdup(name)) || !(mt->help = mcp_strdup(help ? help : "")))
        goto fail;
    mt->table_size = TABLE_MIN;
    if (!(mt->table = mcp_calloc(mt->table_size, sizeof *mt->table)))
        goto fail;
    if (mt->nlabels == 0) {
        gw_series_t *s;
        if ((rc = gw_metric_series(mt, NULL, &s)) != 0)
            goto fail;
    }
    if (m->tail)
        m->tail->next = mt;
    else
        m->head = mt;
    m->tail = mt;
    if (out)
        *out = mt;
    return 0;
fail:
    metric_free(mt);
    return rc;
}

static int grow_table(gw_metric_t *mt)
{
    size_t size = mt->table_size * 2;
    gw_series_t **table = mcp_calloc(size, sizeof *table);
    if (!table)
        return MCP_ENOMEM;
    for (gw_series_t *s = mt->head; s; s = s->next) {
        size_t i = s->hash & (size - 1);
        s->hash_next = table[i];
        table[i] = s;
    }
    mcp_free(mt->table);
    mt->table = table;
    mt->table_size = size;
    return 0;
}

static gw_series_t *find_series(gw_metric_t *mt, uint64_t h,
                                char (*vals)[GW_METRICS_LABEL_VALUE_MAX + 1])
{
    for (gw_series_t *s = mt->table[h & (mt->table_size - 1)]; s; s = s->hash_next) {
        if (s->hash != h)
            continue;
        size_t i = 0;
        while (i < mt->nlabels && strcmp(s->values[i], vals[i]) == 0)
            i++;
        if (i == mt->nlabels)
            return s;
    }
    return NULL;
}

/* Label values in the text format: \\, \" and \n escaped (format 0.0.4). */
static size_t escaped_len(const char *v)
{
    size_t n = 0;
    for (; *v; v++)
        n += *v == '\\' || *v == '"' || *v == '\n' ? 2 : 1;
    return n;
}

static char *escape_value(char *p, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') {
            *p++ = '\\';
            *p++ = *v;
        } else if (*v == '\n') {
            *p++ = '\\';
            *p++ = 'n';
        } else {
            *p++ = *v;
        }
    }
    return p;
}

static int create_series(gw_metric_t *mt, uint64_t h, char (*vals)[GW_METRICS_LABEL_VALUE_MAX + 1],
                         gw_series_t **out)
{
    size_t lens[GW_METRICS_MAX_LABELS], total = 0, text_len = 0;
    for (size_t i = 0; i < mt->nlabels; i++) {
        lens[i] = strlen(vals[i]);
        total += lens[i] + 1;
        text_len += (i ? 1 : 0) + strlen(mt->labels[i]) + 3 + escaped_len(vals[i]);
    }
    total += text_len + 1;
    if (mt->nseries >= mt->table_size && mt->table_size < mt->max_series + 1) {
        int rc = grow_table(mt);
        if (rc != 0)
            return rc;
    }
    gw_series_t *s = mcp_calloc(1, sizeof *s + total);
    if (!s)
        return MCP_ENOMEM;
    char *p = s->storage;
    for (size_t i = 0; i < mt->nlabels; i++) {
        memcpy(p, vals[i], lens[i] + 1);
        s->values[i] = p;
        p += lens[i] + 1;
    }
    s->label_text = p;
    s->label_text_len = text_len;
    for (size_t i = 0; i < mt->nlabels; i++) {
        if (i)
            *p++ = ',';
        size_t nl = strlen(mt->labels[i]);
        memcpy(p, mt->labels[i], nl);
        p += nl;
        *p++ = '=';
        *p++ = '"';
        p = escape_value(p, vals[i]);
        *p++ = '"';
    }
    *p = '\0';
    if (mt->type == GW_METRIC_HISTOGRAM && !mt->collected &&
        hdr_init(1, mt->highest, mt->sigfigs, &s->hdr, NULL, 0) != 0) {
        mcp_free(s);
        return MCP_ENOMEM;
    }
    s->metric = mt;
    s->hash = h;
    size_t i = h & (mt->table_size - 1);
    s->hash_next = mt->table[i];
    mt->table[i] = s;
    s->prev = mt->tail;
    if (mt->tail)
        mt->tail->next = s;
    else
        mt->head = s;
    mt->tail = s;
    mt->nseries++;
    *out = s;
    return 0;
}

static void unlink_series(gw_metric_t *mt, gw_series_t *s)
{
    gw_series_t **pp = &mt->table[s->hash & (mt->table_size - 1)];
    while (*pp != s)
        pp = &(*pp)->hash_next;
    *pp = s->hash_next;
    if (s->prev)
        s->prev->next = s->next;
    else
        mt->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        mt->tail = s->prev;
    mt->nseries--;
}

int gw_metric_series(gw_metric_t *mt, const char *const *values, gw_series_t **out)
{
    *out = NULL;
    if (!mt || (mt->nlabels > 0 && !values))
        return MCP_EINVAL;
    char vals[GW_METRICS_MAX_LABELS][GW_METRICS_LABEL_VALUE_MAX + 1];
    for (size_t i = 0; i < mt->nlabels; i++)
        normalise_value(values[i], vals[i]);
    uint64_t h = hash_values(vals, mt->nlabels);
    gw_series_t *s = find_series(mt, h, vals);
    if (!s && mt->nseries >= mt->max_series) {
        mt->overflowed++;
        for (size_t i = 0; i < mt->nlabels; i++)
            memcpy(vals[i], GW_METRICS_OTHER, sizeof GW_METRICS_OTHER);
        h = hash_values(vals, mt->nlabels);
        s = find_series(mt, h, vals);
        if (s)
            s->is_overflow = 1;
    }
    if (!s) {
        int rc = create_series(mt, h, vals, &s);
        if (rc != 0)
            return rc;
        int all_other = mt->nlabels > 0;
        for (size_t i = 0; i < mt->nlabels && all_other; i++)
            all_other = strcmp(vals[i], GW_METRICS_OTHER) == 0;
        s->is_overflow = all_other;
    }
    s->touched_round = mt->reg->round;
    *out = s;
    return 0;
}

gw_series_t *gw_metric_get(gw_metric_t *metric, const char *const *values)
{
    gw_series_t *s;
    return gw_metric_series(metric, values, &s) == 0 ? s : NULL;
}

size_t gw_metric_series_count(const gw_metric_t *metric)
{
    return metric ? metric->nseries : 0;
}

uint64_t gw_metric_overflowed(const gw_metric_t *metric)
{
    return metric ? metric->overflowed : 0;
}

/* ---- updates ---- */

void gw_series_inc(gw_series_t *s)
{
    gw_series_add(s, 1);
}

void gw_series_add(gw_series_t *s, double delta)
{
    if (!s || s->metric->type == GW_METRIC_HISTOGRAM || isnan(delta))
        return;
    if (s->metric->type == GW_METRIC_COUNTER && delta < 0)
        return;
    s->value += delta;
}

void gw_series_set(gw_series_t *s, double value)
{
    if (!s || s->metric->type == GW_METRIC_HISTOGRAM)
        return;
    gw_metrics_t *m = s->metric->reg;
    /* Several label sets folded into the overflow series of a collected metric: their sum. */
    if (m->collecting && s->metric->collected && s->is_overflow && s->set_round == m->round) {
        s->value += value;
        return;
    }
    s->value = value;
    s->set_round = m->round;
}

double gw_series_value(const gw_series_t *s)
{
    return s ? s->value : 0;
}

int gw_series_observe(gw_series_t *s, int64_t value)
{
    if (!s || !s->hdr || s->metric->collected)
        return MCP_EINVAL;
    if (value < 0)
        value = 0;
    if (value > s->metric->highest)
        value = s->metric->highest;
    int rc = hdr_record_value(s->hdr, value);
    if (rc == 0)
        s->sum_ns += (double)value * (double)s->metric->unit_ns;
    return rc;
}

/* Add src (unit src_unit ns) into dst (the metric's unit), value by value, clamped. */
static int merge_scaled(const gw_metric_t *mt, hdr_histogram_t *dst, const hdr_histogram_t *src,
                        int64_t src_unit_ns)
{
    hdr_iter_t it;
    hdr_iter_recorded_init(&it, src);
    while (hdr_iter_next(&it)) {
        double v = (double)it.median_equivalent * (double)src_unit_ns / (double)mt->unit_ns;
        int64_t iv = v >= (double)mt->highest ? mt->highest : (int64_t)llround(v);
        int rc = hdr_record_values(dst, iv, it.count);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int gw_series_borrow(gw_series_t *s, const hdr_histogram_t *h, int64_t src_unit_ns)
{
    if (!s || !h || src_unit_ns < 1 || s->metric->type != GW_METRIC_HISTOGRAM ||
        !s->metric->collected || !s->metric->reg->collecting)
        return MCP_EINVAL;
    gw_metrics_t *m = s->metric->reg;
    if (!s->is_overflow || s->set_round != m->round) {
        s->borrowed = h;
        s->borrowed_unit_ns = src_unit_ns;
        s->set_round = m->round;
        return 0;
    }
    /* A second histogram for the overflow series this round: merge both into owned data. */
    if (!s->hdr) {
        if (hdr_init(1, s->metric->highest, s->metric->sigfigs, &s->hdr, NULL, 0) != 0)
            return MCP_ENOMEM;
    }
    int rc = 0;
    if (s->borrowed) {
        rc = merge_scaled(s->metric, s->hdr, s->borrowed, s->borrowed_unit_ns);
        s->borrowed = NULL;
    }
    int rc2 = merge_scaled(s->metric, s->hdr, h, src_unit_ns);
    return rc ? rc : rc2;
}

const hdr_histogram_t *gw_series_hdr(const gw_series_t *s)
{
    return s && !s->metric->collected ? s->hdr : NULL;
}

/* ---- collection ---- */

int gw_metrics_add_collector(gw_metrics_t *m, gw_metrics_collect_fn fn, void *ud)
{
    if (!m || !fn)
        return MCP_EINVAL;
    if (m->ncollectors == GW_METRICS_MAX_COLLECTORS)
        return MCP_ENOBUFS;
    m->collectors[m->ncollectors].fn = fn;
    m->collectors[m->ncollectors].ud = ud;
    m->ncollectors++;
    return 0;
}

static void collect_begin(gw_metrics_t *m)
{
    m->round++;
    m->collecting = 1;
    for (gw_metric_t *mt = m->head; mt; mt = mt->next) {
        if (!mt->collected)
            continue;
        for (gw_series_t *s = mt->head; s; s = s->next) {
            s->borrowed = NULL;
            if (s->hdr)
                hdr_reset(s->hdr);
        }
    }
    for (size_t i = 0; i < m->ncollectors; i++)
        m->collectors[i].fn(m, m->collectors[i].ud);
    /* What no collector looked up this time is gone (a removed upstream, a tool no longer
     * listed). A metric without labels keeps its one series. */
    for (gw_metric_t *mt = m->head; mt; mt = mt->next) {
        if (!mt->collected || mt->nlabels == 0)
            continue;
        for (gw_series_t *s = mt->head, *next; s; s = next) {
            next = s->next;
            if (s->touched_round != m->round) {
                unlink_series(mt, s);
                series_free(s);
            }
        }
    }
}

static void collect_end(gw_metrics_t *m)
{
    m->collecting = 0;
    for (gw_metric_t *mt = m->head; mt; mt = mt->next)
        if (mt->collected)
            for (gw_series_t *s = mt->head; s; s = s->next)
                s->borrowed = NULL;
}

/* The data a histogram series shows now, and its unit. */
static const hdr_histogram_t *series_hist(const gw_series_t *s, int64_t *unit_ns)
{
    if (s->borrowed) {
        *unit_ns = s->borrowed_unit_ns;
        return s->borrowed;
    }
    *unit_ns = s->metric->unit_ns;
    return s->hdr;
}

typedef struct hist_view_s {
    uint64_t buckets[GW_METRICS_MAX_BUCKETS]; /* cumulative */
    uint64_t count;
    double sum_seconds;
    double mean_units; /* hdr_mean, when asked for */
} hist_view_t;

/* Bucket counts (and the median-equivalent sum when needed) in one walk over the raw counts up
 * to the largest recorded value. Scrapes cover every series, so this stays a plain array walk:
 * per-index work only where a count is non-zero. */
static void hist_view(const gw_series_t *s, int want_mean, hist_view_t *v)
{
    const gw_metric_t *mt = s->metric;
    memset(v, 0, sizeof *v);
    int64_t unit;
    const hdr_histogram_t *h = series_hist(s, &unit);
    if (!h || h->total_count == 0)
        return;
    int exact_sum = !s->borrowed && !mt->collected;
    int need_medians = want_mean || !exact_sum;
    int32_t last = hdr_counts_index_for(h, h->max_value);
    /* A sample counts in `le` when its bucket's lowest value is <= le: every index up to the
     * one holding floor(le) (whose lowest value is <= floor(le), the next one's is above). */
    int32_t bound_index[GW_METRICS_MAX_BUCKETS];
    for (size_t i = 0; i < mt->le_count; i++) {
        double b = floor(mt->le[i] * NS_PER_S / (double)unit);
        bound_index[i] = b >= (double)h->highest_trackable_value
                             ? INT32_MAX
                             : hdr_counts_index_for(h, (int64_t)b);
    }
    uint64_t cum = 0;
    double medians = 0;
    size_t j = 0;
    for (int32_t i = 0; i <= last; i++) {
        int64_t c = h->counts[i];
        if (c) {
            cum += (uint64_t)c;
            if (need_medians)
                medians += (double)hdr_median_equivalent(h, hdr_value_at_index(h, i)) * (double)c;
        }
        while (j < mt->le_count && bound_index[j] <= i)
            v->buckets[j++] = cum;
    }
    while (j < mt->le_count)
        v->buckets[j++] = cum;
    v->count = (uint64_t)h->total_count;
    v->sum_seconds = exact_sum ? s->sum_ns / NS_PER_S : medians * (double)unit / NS_PER_S;
    v->mean_units = medians / (double)h->total_count;
}

static double series_amount(const gw_series_t *s)
{
    if (s->metric->type != GW_METRIC_HISTOGRAM)
        return s->value;
    int64_t unit;
    const hdr_histogram_t *h = series_hist(s, &unit);
    return h ? (double)hdr_total_count(h) : 0;
}

/* ---- ratios ---- */

static int parse_terms(gw_metrics_t *m, const char *expr, ratio_term_t *terms, size_t *count)
{
    *count = 0;
    const char *p = expr;
    if (!p)
        return MCP_EINVAL;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '_' || *p == ':')
            p++;
        size_t len = (size_t)(p - start);
        char name[256];
        if (len == 0 || len >= sizeof name || *count == RATIO_MAX_TERMS)
            return MCP_EINVAL;
        memcpy(name, start, len);
        name[len] = '\0';
        ratio_term_t *t = &terms[*count];
        memset(t, 0, sizeof *t);
        t->label = -1;
        if (!(t->metric = gw_metrics_find(m, name)))
            return MCP_EINVAL;
        while (*p == ' ')
            p++;
        if (*p == '{') {
            p++;
            const char *ls = p;
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '_')
                p++;
            size_t llen = (size_t)(p - ls);
            for (size_t i = 0; i < t->metric->nlabels; i++)
                if (strlen(t->metric->labels[i]) == llen &&
                    memcmp(t->metric->labels[i], ls, llen) == 0)
                    t->label = (int)i;
            if (t->label < 0)
                return MCP_EINVAL;
            if (p[0] == '!' && p[1] == '=') {
                t->negate = 1;
                p += 2;
            } else if (p[0] == '=') {
                p++;
            } else {
                return MCP_EINVAL;
            }
            if (*p++ != '"')
                return MCP_EINVAL;
            const char *vs = p;
            while (*p && *p != '"')
                p++;
            size_t vlen = (size_t)(p - vs);
            if (*p != '"' || vlen > RATIO_VALUE_MAX || p[1] != '}')
                return MCP_EINVAL;
            memcpy(t->value, vs, vlen);
            t->value[vlen] = '\0';
            p += 2;
        }
        (*count)++;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return 0;
        if (*p++ != '+')
            return MCP_EINVAL;
    }
}

int gw_metrics_add_ratio(gw_metrics_t *m, const char *name, const char *numerator,
                         const char *denominator)
{
    if (!m || !name || !*name)
        return MCP_EINVAL;
    if (m->nratios == GW_METRICS_MAX_RATIOS)
        return MCP_ENOBUFS;
    ratio_t *r = &m->ratios[m->nratios];
    memset(r, 0, sizeof *r);
    int rc;
    if ((rc = parse_terms(m, numerator, r->num, &r->num_count)) != 0 ||
        (rc = parse_terms(m, denominator, r->den, &r->den_count)) != 0)
        return rc;
    if (!(r->name = mcp_strdup(name)))
        return MCP_ENOMEM;
    m->nratios++;
    return 0;
}

static double sum_terms(const ratio_term_t *terms, size_t count)
{
    double sum = 0;
    for (size_t i = 0; i < count; i++) {
        const ratio_term_t *t = &terms[i];
        for (const gw_series_t *s = t->metric->head; s; s = s->next) {
            if (t->label >= 0 && (strcmp(s->values[t->label], t->value) == 0) == t->negate)
                continue;
            sum += series_amount(s);
        }
    }
    return sum;
}

static int ratio_eval(const ratio_t *r, double *out)
{
    double den = sum_terms(r->den, r->den_count);
    if (den == 0) {
        *out = NAN;
        return MCP_ESTATE;
    }
    *out = sum_terms(r->num, r->num_count) / den;
    return 0;
}

int gw_metrics_ratio(const gw_metrics_t *m, const char *name, double *out)
{
    *out = NAN;
    for (size_t i = 0; m && name && i < m->nratios; i++)
        if (strcmp(m->ratios[i].name, name) == 0)
            return ratio_eval(&m->ratios[i], out);
    return MCP_ENOTFOUND;
}

/* ---- process metrics ---- */

double gw_metrics_uptime(const gw_metrics_t *m)
{
    return (double)(m->clock_ns(m->clock_ud) - m->start_ns) / NS_PER_S;
}

static int read_small_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = '\0';
    return 0;
}

int gw_process_stats_read(gw_process_stats_t *out)
{
    memset(out, 0, sizeof *out);
    int first = 0;
    long page = sysconf(_SC_PAGESIZE);
    long ticks = sysconf(_SC_CLK_TCK);
    char text[4096];

    int rc = read_small_file("/proc/self/statm", text, sizeof text);
    unsigned long long size = 0, resident = 0;
    if (rc == 0 && sscanf(text, "%llu %llu", &size, &resident) == 2 && page > 0) {
        out->vsize_bytes = size * (uint64_t)page;
        out->rss_bytes = resident * (uint64_t)page;
    } else if (!first) {
        first = rc ? rc : MCP_EPARSE;
    }

    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        uint64_t n = 0;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        out->open_fds = n > 0 ? n - 1 : 0; /* the directory stream's own descriptor */
    } else if (!first) {
        first = -errno;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        out->max_fds = (uint64_t)rl.rlim_cur;

    /* /proc/self/stat: fields after the command (which may hold spaces and ')'), from field 3. */
    rc = read_small_file("/proc/self/stat", text, sizeof text);
    char *close_paren = rc == 0 ? strrchr(text, ')') : NULL;
    unsigned long long utime = 0, stime = 0, starttime = 0;
    if (close_paren && ticks > 0 &&
        sscanf(close_paren + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu",
               &utime, &stime, &starttime) == 3) {
        out->cpu_seconds = (double)(utime + stime) / (double)ticks;
        char st[8192];
        if (read_small_file("/proc/stat", st, sizeof st) == 0) {
            const char *b = strstr(st, "\nbtime ");
            unsigned long long btime;
            if (b && sscanf(b + 7, "%llu", &btime) == 1)
                out->start_time_seconds = (double)btime + (double)starttime / (double)ticks;
        }
    } else if (!first) {
        first = rc ? rc : MCP_EPARSE;
    }
    return first;
}

/* ---- text exposition ---- */

static int put_escaped(buf_t *out, const char *s, int quote)
{
    int rc = 0;
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (quote && *p == '"')
            rep = "\\\"";
        else if (*p != '\0')
            continue;
        if ((rc = buf_append(out, run, (size_t)(p - run))) != 0)
            return rc;
        if (!rep)
            return 0;
        if ((rc = buf_append_str(out, rep)) != 0)
            return rc;
        run = p + 1;
    }
}

static int put_family_header(buf_t *out, const char *name, const char *help, const char *type)
{
    int rc = buf_appendf(out, "# HELP %s ", name);
    if (rc == 0)
        rc = put_escaped(out, help, 0);
    if (rc == 0)
        rc = buf_appendf(out, "\n# TYPE %s %s\n", name, type);
    return rc;
}

/* name{l="v",...[,le="x"]} value\n */
static int put_sample(buf_t *out, const gw_metric_t *mt, const gw_series_t *s, const char *suffix,
                      const char *le, double value)
{
    char num[40];
    int rc = buf_append_str(out, mt->name);
    if (rc == 0 && suffix)
        rc = buf_append_str(out, suffix);
    if (rc == 0 && (mt->nlabels > 0 || le)) {
        rc = buf_putc(out, '{');
        if (rc == 0)
            rc = buf_append(out, s->label_text, s->label_text_len);
        if (rc == 0 && le)
            rc = buf_appendf(out, "%sle=\"%s\"", mt->nlabels ? "," : "", le);
        if (rc == 0)
            rc = buf_putc(out, '}');
    }
    format_number(num, sizeof num, value);
    if (rc == 0)
        rc = buf_putc(out, ' ');
    if (rc == 0)
        rc = buf_append_str(out, num);
    if (rc == 0)
        rc = buf_putc(out, '\n');
    return rc;
}

static const char *type_name(gw_metric_type_t t)
{
    switch (t) {
    case GW_METRIC_COUNTER: return "counter";
    case GW_METRIC_GAUGE: return "gauge";
    default: return "histogram";
    }
}

static int put_metric(buf_t *out, const gw_metric_t *mt)
{
    if (!mt->head)
        return 0;
    int rc = put_family_header(out, mt->name, mt->help, type_name(mt->type));
    for (const gw_series_t *s = mt->head; rc == 0 && s; s = s->next) {
        if (mt->type != GW_METRIC_HISTOGRAM) {
            rc = put_sample(out, mt, s, NULL, NULL, s->value);
            continue;
        }
        hist_view_t v;
        hist_view(s, 0, &v);
        for (size_t i = 0; rc == 0 && i < mt->le_count; i++)
            rc = put_sample(out, mt, s, "_bucket", mt->le_text[i], (double)v.buckets[i]);
        if (rc == 0)
            rc = put_sample(out, mt, s, "_bucket", "+Inf", (double)v.count);
        if (rc == 0)
            rc = put_sample(out, mt, s, "_sum", NULL, v.sum_seconds);
        if (rc == 0)
            rc = put_sample(out, mt, s, "_count", NULL, (double)v.count);
    }
    return rc;
}

static int put_simple(buf_t *out, const char *name, const char *help, const char *type, double v)
{
    char num[40];
    format_number(num, sizeof num, v);
    int rc = put_family_header(out, name, help, type);
    return rc ? rc : buf_appendf(out, "%s %s\n", name, num);
}

static int put_overflow(buf_t *out, const gw_metrics_t *m)
{
    int any = 0, rc = 0;
    for (const gw_metric_t *mt = m->head; rc == 0 && mt; mt = mt->next) {
        if (!mt->overflowed)
            continue;
        if (!any)
            rc = put_family_header(out, OVERFLOW_METRIC,
                                   "Lookups of new label sets diverted to the \"other\" series "
                                   "because the metric reached its series cap.",
                                   "counter");
        any = 1;
        if (rc == 0)
            rc = buf_appendf(out, OVERFLOW_METRIC "{metric=\"%s\"} %llu\n", mt->name,
                             (unsigned long long)mt->overflowed);
    }
    return rc;
}

static int put_process(buf_t *out, const gw_metrics_t *m)
{
    gw_process_stats_t ps;
    gw_process_stats_read(&ps);
    int rc =
        put_simple(out, "process_cpu_seconds_total",
                   "Total user and system CPU time spent in seconds.", "counter", ps.cpu_seconds);
    if (rc == 0)
        rc = put_simple(out, "process_open_fds", "Number of open file descriptors.", "gauge",
                        (double)ps.open_fds);
    if (rc == 0 && ps.max_fds)
        rc = put_simple(out, "process_max_fds", "Maximum number of open file descriptors.", "gauge",
                        (double)ps.max_fds);
    if (rc == 0)
        rc = put_simple(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                        "gauge", (double)ps.vsize_bytes);
    if (rc == 0)
        rc = put_simple(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
                        "gauge", (double)ps.rss_bytes);
    if (rc == 0)
        rc = put_simple(out, "process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.", "gauge",
                        ps.start_time_seconds);
    if (rc == 0)
        rc = put_simple(out, "process_uptime_seconds",
                        "Seconds since the metrics registry was created.", "gauge",
                        gw_metrics_uptime(m));
    return rc;
}

int gw_metrics_write_text(gw_metrics_t *m, buf_t *out)
{
    if (!m || !out)
        return MCP_EINVAL;
    collect_begin(m);
    int rc = 0;
    for (const gw_metric_t *mt = m->head; rc == 0 && mt; mt = mt->next)
        rc = put_metric(out, mt);
    if (rc == 0)
        rc = put_overflow(out, m);
    if (rc == 0 && m->process_metrics)
        rc = put_process(out, m);
    collect_end(m);
    return rc;
}

/* ---- JSON ---- */

static cJSON *number_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static int add_number(cJSON *obj, const char *key, double v)
{
    cJSON *n = number_or_null(v);
    return n && cJSON_AddItemToObject(obj, key, n) ? 0 : (cJSON_Delete(n), MCP_ENOMEM);
}

static int series_json(const gw_metric_t *mt, const gw_series_t *s, cJSON *arr)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return MCP_ENOMEM;
    }
    cJSON *labels = cJSON_AddObjectToObject(o, "labels");
    if (!labels)
        return MCP_ENOMEM;
    for (size_t i = 0; i < mt->nlabels; i++)
        if (!cJSON_AddStringToObject(labels, mt->labels[i], s->values[i]))
            return MCP_ENOMEM;
    if (mt->type != GW_METRIC_HISTOGRAM)
        return add_number(o, "value", s->value);
    hist_view_t v;
    hist_view(s, 1, &v);
    int64_t unit;
    const hdr_histogram_t *h = series_hist(s, &unit);
    /* value * unit is exact for any sane value, so one rounding: the same number a reader gets
     * from hdr_value_at_percentile(h, p) * unit / 1e6. */
    double u = (double)unit;
    int rc = add_number(o, "count", (double)v.count);
    if (rc == 0)
        rc = add_number(o, "sum_seconds", v.sum_seconds);
    if (rc == 0)
        rc = add_number(o, "mean_ms", v.mean_units * u / 1e6);
    if (rc == 0)
        rc = add_number(o, "p50_ms", h ? (double)hdr_value_at_percentile(h, 50) * u / 1e6 : 0);
    if (rc == 0)
        rc = add_number(o, "p95_ms", h ? (double)hdr_value_at_percentile(h, 95) * u / 1e6 : 0);
    if (rc == 0)
        rc = add_number(o, "p99_ms", h ? (double)hdr_value_at_percentile(h, 99) * u / 1e6 : 0);
    if (rc == 0)
        rc = add_number(o, "max_ms", h ? (double)hdr_max(h) * u / 1e6 : 0);
    return rc;
}

static int process_json(const gw_metrics_t *m, cJSON *root)
{
    gw_process_stats_t ps;
    gw_process_stats_read(&ps);
    cJSON *p = cJSON_AddObjectToObject(root, "process");
    if (!p)
        return MCP_ENOMEM;
    int rc = add_number(p, "resident_memory_bytes", (double)ps.rss_bytes);
    if (rc == 0)
        rc = add_number(p, "virtual_memory_bytes", (double)ps.vsize_bytes);
    if (rc == 0)
        rc = add_number(p, "open_fds", (double)ps.open_fds);
    if (rc == 0)
        rc = add_number(p, "max_fds", (double)ps.max_fds);
    if (rc == 0)
        rc = add_number(p, "cpu_seconds_total", ps.cpu_seconds);
    if (rc == 0)
        rc = add_number(p, "start_time_seconds", ps.start_time_seconds);
    if (rc == 0)
        rc = add_number(p, "uptime_seconds", gw_metrics_uptime(m));
    return rc;
}

static int build_json(gw_metrics_t *m, cJSON *root)
{
    int rc = add_number(root, "uptime_seconds", gw_metrics_uptime(m));
    if (rc == 0 && m->process_metrics)
        rc = process_json(m, root);
    cJSON *rates = rc == 0 ? cJSON_AddObjectToObject(root, "rates") : NULL;
    if (!rates)
        return MCP_ENOMEM;
    for (size_t i = 0; i < m->nratios; i++) {
        double v;
        ratio_eval(&m->ratios[i], &v);
        if ((rc = add_number(rates, m->ratios[i].name, v)) != 0)
            return rc;
    }
    cJSON *metrics = cJSON_AddObjectToObject(root, "metrics");
    if (!metrics)
        return MCP_ENOMEM;
    for (const gw_metric_t *mt = m->head; mt; mt = mt->next) {
        cJSON *o = cJSON_AddObjectToObject(metrics, mt->name);
        if (!o || !cJSON_AddStringToObject(o, "type", type_name(mt->type)) ||
            !cJSON_AddStringToObject(o, "help", mt->help) ||
            add_number(o, "overflowed", (double)mt->overflowed) != 0)
            return MCP_ENOMEM;
        cJSON *arr = cJSON_AddArrayToObject(o, "series");
        if (!arr)
            return MCP_ENOMEM;
        for (const gw_series_t *s = mt->head; s; s = s->next)
            if ((rc = series_json(mt, s, arr)) != 0)
                return rc;
    }
    return 0;
}

cJSON *gw_metrics_json(gw_metrics_t *m)
{
    if (!m)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    collect_begin(m);
    int rc = build_json(m, root);
    collect_end(m);
    if (rc != 0) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int gw_metrics_write_json(gw_metrics_t *m, buf_t *out)
{
    if (!m || !out)
        return MCP_EINVAL;
    cJSON *root = gw_metrics_json(m);
    if (!root)
        return MCP_ENOMEM;
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        return MCP_ENOMEM;
    int rc = buf_append_str(out, text);
    mcp_free(text);
    return rc;
}

/* ---- the standard set ---- */

static const double http_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};

int gw_metrics_std_register(gw_metrics_t *m, size_t max_tool_series, gw_metrics_std_t *std)
{
    memset(std, 0, sizeof *std);
    size_t tools = max_tool_series ? max_tool_series : 1000;
    /* Routes are patterns, so few series; 2 significant figures keep each near 30 KiB. */
    gw_metric_options_t http_req = {.max_series = 500};
    gw_metric_options_t http_dur = {.max_series = 200,
                                    .sigfigs = 2,
                                    .le = http_le,
                                    .le_count = sizeof http_le / sizeof http_le[0]};
    gw_metric_options_t small = {.max_series = 100};
    gw_metric_options_t srv = {.max_series = 200, .collected = 1};
    /* Upstream histograms are in microseconds up to an hour (upstream.c); the metric's own
     * layout only matters for the overflow series' merged copy. */
    gw_metric_options_t srv_lat = {.max_series = 200,
                                   .collected = 1,
                                   .unit_ns = 1000,
                                   .highest = 3600LL * 1000000,
                                   .sigfigs = 2};
    gw_metric_options_t tool = {.max_series = tools, .collected = 1};
    gw_metric_options_t tool_lat = srv_lat;
    tool_lat.max_series = tools;
    gw_metric_options_t one = {.collected = 1};
    struct {
        gw_metric_t **slot;
        gw_metric_type_t type;
        const char *name, *help, *labels;
        const gw_metric_options_t *opts;
    } defs[] = {
        {&std->http_requests, GW_METRIC_COUNTER, "gw_http_requests_total",
         "HTTP requests answered, by route pattern, method and status class.",
         "route,method,status", &http_req},
        {&std->http_duration, GW_METRIC_HISTOGRAM, "gw_http_request_duration_seconds",
         "Time from request start to the end of the response.", "route,method", &http_dur},
        {&std->auth_failures, GW_METRIC_COUNTER, "gw_auth_failures_total",
         "Requests refused for a missing or wrong API key.", "reason", &small},
        {&std->rate_limited, GW_METRIC_COUNTER, "gw_rate_limited_total",
         "Requests refused by the per-client rate limit.", NULL, NULL},
        {&std->host_rejected, GW_METRIC_COUNTER, "gw_host_rejected_total",
         "Requests to /mcp refused by the Host/Origin check.", NULL, NULL},
        {&std->upstream_up, GW_METRIC_GAUGE, "gw_upstream_up",
         "1 when the upstream server is ready or degraded, 0 otherwise.", "server", &srv},
        {&std->upstream_calls, GW_METRIC_COUNTER, "gw_upstream_calls_total",
         "Calls to upstream servers by outcome.", "server,outcome", &srv},
        {&std->upstream_latency, GW_METRIC_HISTOGRAM, "gw_upstream_call_duration_seconds",
         "Latency of answered or timed-out upstream calls.", "server", &srv_lat},
        {&std->breaker_state, GW_METRIC_GAUGE, "gw_upstream_breaker_state",
         "Circuit breaker state: 0 closed, 1 open, 2 half-open.", "server", &srv},
        {&std->tool_calls, GW_METRIC_COUNTER, "gw_tool_calls_total",
         "Tool calls per upstream tool.", "server,tool", &tool},
        {&std->tool_errors, GW_METRIC_COUNTER, "gw_tool_errors_total",
         "Tool calls that failed without an answer (timeouts included).", "server,tool", &tool},
        {&std->tool_timeouts, GW_METRIC_COUNTER, "gw_tool_timeouts_total",
         "Tool calls that exceeded their deadline.", "server,tool", &tool},
        {&std->tool_latency, GW_METRIC_HISTOGRAM, "gw_tool_call_duration_seconds",
         "Latency of tool calls per upstream tool.", "server,tool", &tool_lat},
        {&std->cache_hits, GW_METRIC_COUNTER, "gw_cache_hits_total", "Resource cache hits.", NULL,
         &one},
        {&std->cache_misses, GW_METRIC_COUNTER, "gw_cache_misses_total",
         "Resource cache misses (expired entries included).", NULL, &one},
        {&std->cache_evictions, GW_METRIC_COUNTER, "gw_cache_evictions_total",
         "Resource cache entries evicted for space.", NULL, &one},
        {&std->cache_bytes, GW_METRIC_GAUGE, "gw_cache_bytes",
         "Bytes held by the resource cache (keys and values).", NULL, &one},
        {&std->cache_entries, GW_METRIC_GAUGE, "gw_cache_entries",
         "Entries held by the resource cache.", NULL, &one},
    };
    int rc;
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if ((rc = gw_metrics_register(m, defs[i].type, defs[i].name, defs[i].help, defs[i].labels,
                                      defs[i].opts, defs[i].slot)) != 0)
            return rc;
    if ((rc = gw_metrics_add_ratio(m, "success_rate", "gw_upstream_calls_total{outcome=\"ok\"}",
                                   "gw_upstream_calls_total{outcome!=\"cancelled\"}")) != 0)
        return rc;
    return gw_metrics_add_ratio(m, "cache_hit_rate", "gw_cache_hits_total",
                                "gw_cache_hits_total + gw_cache_misses_total");
}

void gw_metrics_std_request(const gw_metrics_std_t *std, const char *route, const char *method,
                            int status, uint64_t duration_ns)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    const char *cls = status >= 100 && status < 600 ? classes[status / 100 - 1] : "other";
    gw_series_inc(gw_metric_get(std->http_requests, (const char *[]){route, method, cls}));
    gw_series_observe(gw_metric_get(std->http_duration, (const char *[]){route, method}),
                      duration_ns > INT64_MAX ? INT64_MAX : (int64_t)duration_ns);
}

void gw_metrics_std_upstream(const gw_metrics_std_t *std, const gw_metrics_upstream_sample_t *s)
{
    const char *srv[] = {s->server};
    gw_series_set(gw_metric_get(std->upstream_up, srv), s->up ? 1 : 0);
    gw_series_set(gw_metric_get(std->breaker_state, srv), s->breaker_state);
    uint64_t plain_errors = s->errors > s->timeouts ? s->errors - s->timeouts : 0;
    struct {
        const char *outcome;
        uint64_t n;
    } outcomes[] = {{"ok", s->ok},
                    {"rpc_error", s->upstream_errors},
                    {"error", plain_errors},
                    {"timeout", s->timeouts},
                    {"cancelled", s->cancelled},
                    {"rejected", s->rejected}};
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
        gw_series_set(
            gw_metric_get(std->upstream_calls, (const char *[]){s->server, outcomes[i].outcome}),
            (double)outcomes[i].n);
    gw_series_t *lat = gw_metric_get(std->upstream_latency, srv);
    if (s->latency_us)
        gw_series_borrow(lat, s->latency_us, 1000);
}

void gw_metrics_std_tool(const gw_metrics_std_t *std, const char *server, const char *tool,
                         uint64_t calls, uint64_t errors, uint64_t timeouts,
                         const hdr_histogram_t *latency_us)
{
    const char *v[] = {server, tool};
    gw_series_set(gw_metric_get(std->tool_calls, v), (double)calls);
    gw_series_set(gw_metric_get(std->tool_errors, v), (double)errors);
    gw_series_set(gw_metric_get(std->tool_timeouts, v), (double)timeouts);
    gw_series_t *lat = gw_metric_get(std->tool_latency, v);
    if (latency_us)
        gw_series_borrow(lat, latency_us, 1000);
}

void gw_metrics_std_cache(const gw_metrics_std_t *std, uint64_t hits, uint64_t misses,
                          uint64_t evictions, uint64_t bytes, uint64_t entries)
{
    gw_series_set(gw_metric_get(std->cache_hits, NULL), (double)hits);
    gw_series_set(gw_metric_get(std->cache_misses, NULL), (double)misses);
    gw_series_set(gw_metric_get(std->cache_evictions, NULL), (double)evictions);
    gw_series_set(gw_metric_get(std->cache_bytes, NULL), (double)bytes);
    gw_series_set(gw_metric_get(std->cache_entries, NULL), (double)entries);
}
