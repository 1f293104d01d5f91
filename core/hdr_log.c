/* hdr_log: see hdr_log.h. Written from the published format description (HARNESS-BRIEF 1.7-1.8). */
#include "hdr_log.h"

#include "alloc.h"
#include "errors.h"
#include "hdr_codec.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEGEND \
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
#define YEAR_S (365.0 * 24 * 3600)

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

/* The "C" locale for printf/strtod/strftime, so a process that called setlocale() still writes
 * '.' decimals and English day names that every reader expects. glibc returns a static object for
 * "C", so it is created once and never freed. */
static locale_t c_locale(void)
{
    static locale_t loc;
    if (loc == (locale_t)0)
        loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return loc;
}

typedef struct {
    locale_t saved;
    bool active;
} locale_guard_t;

static locale_guard_t locale_enter(void)
{
    locale_guard_t g = {0};
    locale_t c = c_locale();
    if (c != (locale_t)0) {
        g.saved = uselocale(c);
        g.active = true;
    }
    return g;
}

static void locale_leave(locale_guard_t g)
{
    if (g.active)
        uselocale(g.saved);
}

/* Java's Formatter (HistogramLogProcessor's .hgrm) and hdr-histogram-js round the shortest
 * decimal that identifies the double, half up; printf rounds the exact binary value. They differ
 * only when that shortest decimal is a tie at the printed precision: 99.97802734375 / 100 prints
 * as 0.999780273438 in Java but ...437 with printf, because the double is a hair below the tie.
 * Moving such a value one ulp up (the nearest double to a tie is next to it) makes printf agree,
 * so our text matches theirs byte for byte. Must run in the C locale (strtod). */
static double half_up(double x, int prec)
{
    if (!isfinite(x) || x == 0.0)
        return x;
    char tmp[64];
    int digits;
    for (digits = 1; digits <= 17; digits++) {
        snprintf(tmp, sizeof(tmp), "%.*e", digits - 1, x);
        if (strtod(tmp, NULL) == x)
            break;
    }
    /* tmp is "[-]d[.ddd]e[+-]XX": the last mantissa digit sits at 10^(exp - (digits - 1)). */
    const char *e = strchr(tmp, 'e');
    if (e == NULL || e[-1] != '5')
        return x;
    int exp10 = atoi(e + 1);
    if (exp10 - (digits - 1) != -(prec + 1))
        return x;
    return nextafter(x, x < 0 ? -INFINITY : INFINITY);
}

/* Undo a partial append so a failed call leaves the buffer as it was. */
static void buf_truncate(buf_t *b, size_t len)
{
    if (b->data != NULL && len <= b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

static bool valid_time(double s)
{
    return isfinite(s) && s >= 0.0;
}

/* ---- writer ---- */

__attribute__((format(printf, 2, 3))) static int header_line(buf_t *out, const char *fmt, ...)
{
    char line[HDR_LOG_HEADER_LINE_MAX + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || n > HDR_LOG_HEADER_LINE_MAX || strpbrk(line, "\r\n") != NULL)
        return MCP_EINVAL;
    int rc = buf_append(out, line, (size_t)n);
    return rc != 0 ? rc : buf_putc(out, '\n');
}

static int write_header_lines(buf_t *out, const hdr_log_header_t *hd)
{
    int rc;
    if (hd->producer != NULL && (rc = header_line(out, "#[Logged with %s]", hd->producer)) != 0)
        return rc;
    if ((rc = header_line(out, "#[Histogram log format version " HDR_LOG_VERSION "]")) != 0)
        return rc;
    /* Java writes Date.toString() ("EEE MMM dd HH:mm:ss zzz yyyy"); HistogramLogAnalyzer matches
     * the text after ", " against it, so the same shape in UTC. */
    time_t secs = (time_t)floor(hd->start_time_s);
    struct tm tm;
    char date[64];
    if (gmtime_r(&secs, &tm) == NULL ||
        strftime(date, sizeof(date), "%a %b %d %H:%M:%S UTC %Y", &tm) == 0)
        return MCP_EINVAL;
    if ((rc = header_line(out, "#[StartTime: %.3f (seconds since epoch), %s]",
                          half_up(hd->start_time_s, 3), date)) != 0)
        return rc;
    if (hd->write_base_time && (rc = header_line(out, "#[BaseTime: %.3f (seconds since epoch)]",
                                                 half_up(hd->start_time_s, 3))) != 0)
        return rc;
    for (const char *const *c = hd->comments; c != NULL && *c != NULL; c++) {
        if ((rc = header_line(out, "#%s", *c)) != 0)
            return rc;
    }
    rc = buf_append_str(out, LEGEND);
    return rc != 0 ? rc : buf_putc(out, '\n');
}

int hdr_log_write_header(buf_t *out, const hdr_log_header_t *hd)
{
    if (hd == NULL || !valid_time(hd->start_time_s))
        return MCP_EINVAL;
    size_t mark = out->len;
    locale_guard_t g = locale_enter();
    int rc = write_header_lines(out, hd);
    locale_leave(g);
    if (rc != 0)
        buf_truncate(out, mark);
    return rc;
}

static bool valid_tag(const char *tag)
{
    size_t n = strlen(tag);
    return n <= HDR_LOG_TAG_MAX && strpbrk(tag, ", \r\n") == NULL;
}

int hdr_log_write_interval(buf_t *out, const char *tag, double start_s, double length_s,
                           const hdr_histogram_t *h, double max_ratio, int level)
{
    if (tag != NULL && !valid_tag(tag))
        return MCP_EINVAL;
    if (!valid_time(start_s) || !valid_time(length_s) || !(max_ratio > 0.0) || !isfinite(max_ratio))
        return MCP_EINVAL;
    char *b64;
    size_t b64_len;
    int rc = hdr_encode_base64(h, level, &b64, &b64_len);
    if (rc != 0)
        return rc;
    size_t mark = out->len;
    locale_guard_t g = locale_enter();
    if (tag != NULL && tag[0] != '\0')
        rc = buf_appendf(out, "Tag=%s,", tag);
    if (rc == 0)
        rc = buf_appendf(out, "%.3f,%.3f,%.3f,", half_up(start_s, 3), half_up(length_s, 3),
                         half_up((double)hdr_max(h) / max_ratio, 3));
    locale_leave(g);
    if (rc == 0)
        rc = buf_append(out, b64, b64_len);
    if (rc == 0)
        rc = buf_putc(out, '\n');
    mcp_free(b64);
    if (rc != 0)
        buf_truncate(out, mark);
    return rc;
}

/* ---- reader ---- */

static bool starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

/* A plain non-negative decimal ("12", "12.345"): what every writer emits and what the C reader
 * accepts; signs, exponents, "inf" and "nan" are rejected. Parsed in the C locale. */
static bool parse_decimal(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return false;
    size_t digits = 0, dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else if (s[i] == '.' && dots == 0)
            dots++;
        else
            return false;
    }
    if (digits == 0)
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    locale_t c = c_locale();
    *out = c != (locale_t)0 ? strtod_l(tmp, &end, c) : strtod(tmp, &end);
    return end == tmp + len && isfinite(*out);
}

/* "#[Name: <decimal> ..." -> the decimal. */
static int parse_time_header(const char *line, size_t len, size_t prefix_len, double *out)
{
    const char *p = line + prefix_len, *end = line + len;
    const char *q = p;
    while (q < end && ((*q >= '0' && *q <= '9') || *q == '.'))
        q++;
    return parse_decimal(p, (size_t)(q - p), out) ? 0 : MCP_EPARSE;
}

static int parse_comment(hdr_log_reader_t *r, const char *line, size_t len, char *err,
                         size_t err_cap)
{
    static const char start[] = "#[StartTime: ";
    static const char base[] = "#[BaseTime: ";
    static const char version[] = "#[Histogram log format version ";
    if (starts_with(line, len, start)) {
        if (parse_time_header(line, len, sizeof(start) - 1, &r->start_time_s) != 0) {
            set_err(err, err_cap, "line %ld: StartTime is not a plain decimal number", r->line_no);
            return MCP_EPARSE;
        }
        r->has_start_time = true;
    } else if (starts_with(line, len, base)) {
        if (parse_time_header(line, len, sizeof(base) - 1, &r->base_time_s) != 0) {
            set_err(err, err_cap, "line %ld: BaseTime is not a plain decimal number", r->line_no);
            return MCP_EPARSE;
        }
        r->has_base_time = true;
    } else if (starts_with(line, len, version)) {
        int major = 0, minor = 0;
        size_t i = sizeof(version) - 1;
        size_t d0 = i;
        while (i < len && line[i] >= '0' && line[i] <= '9' && major < 1000)
            major = major * 10 + (line[i++] - '0');
        bool ok = i > d0 && i < len && line[i++] == '.';
        size_t d1 = i;
        while (ok && i < len && line[i] >= '0' && line[i] <= '9' && minor < 1000)
            minor = minor * 10 + (line[i++] - '0');
        if (!ok || i == d1) {
            set_err(err, err_cap, "line %ld: malformed log format version", r->line_no);
            return MCP_EPARSE;
        }
        if (major != 1) {
            set_err(err, err_cap, "line %ld: unsupported log format version %d.%d (need 1.x)",
                    r->line_no, major, minor);
            return MCP_EUNSUPPORTED;
        }
        r->has_version = true;
        r->version_major = major;
        r->version_minor = minor;
    }
    return 0;
}

void hdr_log_reader_init(hdr_log_reader_t *r)
{
    memset(r, 0, sizeof(*r));
}

int hdr_log_reader_line(hdr_log_reader_t *r, const char *line, size_t len, hdr_log_entry_t *entry,
                        char *err, size_t err_cap)
{
    r->line_no++;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    if (line[0] == '#')
        return parse_comment(r, line, len, err, err_cap);
    if (starts_with(line, len, "\"StartTimestamp\""))
        return 0;

    memset(entry, 0, sizeof(*entry));
    const char *p = line, *end = line + len;
    if (starts_with(p, len, "Tag=")) {
        p += 4;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        if (comma == NULL) {
            set_err(err, err_cap, "line %ld: tag without interval fields", r->line_no);
            return MCP_EPARSE;
        }
        size_t tlen = (size_t)(comma - p);
        if (tlen > HDR_LOG_TAG_MAX || memchr(p, ' ', tlen) != NULL) {
            set_err(err, err_cap, "line %ld: tag longer than %d characters or containing a space",
                    r->line_no, HDR_LOG_TAG_MAX);
            return MCP_EPARSE;
        }
        memcpy(entry->tag, p, tlen);
        entry->tag[tlen] = '\0';
        p = comma + 1;
    }

    const char *field[4];
    size_t flen[4];
    int nf = 0;
    while (nf < 4) {
        const char *comma = nf < 3 ? memchr(p, ',', (size_t)(end - p)) : NULL;
        field[nf] = p;
        flen[nf] = (size_t)((comma != NULL ? comma : end) - p);
        nf++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    static const char *const names[] = {"StartTimestamp", "Interval_Length", "Interval_Max"};
    if (nf != 4) {
        set_err(err, err_cap, "line %ld: expected 4 comma-separated fields, got %d", r->line_no,
                nf);
        return MCP_EPARSE;
    }
    double num[3];
    for (int i = 0; i < 3; i++) {
        if (!parse_decimal(field[i], flen[i], &num[i])) {
            set_err(err, err_cap, "line %ld: %s is not a plain non-negative decimal", r->line_no,
                    names[i]);
            return MCP_EPARSE;
        }
    }
    char why[200];
    hdr_histogram_t *h;
    int rc = hdr_decode_base64(field[3], flen[3], &h, why, sizeof(why));
    if (rc != 0) {
        set_err(err, err_cap, "line %ld: Interval_Compressed_Histogram: %s", r->line_no, why);
        return rc;
    }

    /* Java HistogramLogReader's rules: without headers the first interval defines StartTime, and
     * timestamps more than a year before StartTime are relative to it. */
    if (!r->has_start_time) {
        r->start_time_s = num[0];
        r->has_start_time = true;
    }
    if (!r->has_base_time) {
        r->base_time_s = num[0] < r->start_time_s - YEAR_S ? r->start_time_s : 0.0;
        r->has_base_time = true;
    }
    entry->timestamp_s = num[0];
    entry->start_s = num[0] + r->base_time_s;
    entry->length_s = num[1];
    entry->max = num[2];
    entry->histogram = h;
    r->intervals++;
    return 1;
}

int hdr_log_read_text(hdr_log_reader_t *r, const char *text, size_t len, hdr_log_entry_cb cb,
                      void *userdata, char *err, size_t err_cap)
{
    size_t pos = 0;
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n' && text[e] != '\r')
            e++;
        hdr_log_entry_t entry;
        int rc = hdr_log_reader_line(r, text + pos, e - pos, &entry, err, err_cap);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            rc = cb(userdata, r, &entry);
            if (rc != 0)
                return rc;
        }
        if (e < len && text[e] == '\r' && e + 1 < len && text[e + 1] == '\n')
            e++;
        pos = e + 1;
    }
    return 0;
}

/* ---- .hgrm ---- */

static int hgrm_rows(buf_t *out, const hdr_histogram_t *h, int32_t ticks, double scale, bool csv)
{
    int s = h->significant_figures;
    int rc =
        csv ? buf_append_str(out, "\"Value\",\"Percentile\",\"TotalCount\",\"1/(1-Percentile)\"\n")
            : buf_appendf(out, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
                          "1/(1-Percentile)");
    hdr_iter_t it;
    hdr_iter_percentile_init(&it, h, ticks);
    while (rc == 0 && hdr_iter_next(&it)) {
        double value = half_up((double)it.value_iterated_to / scale, s);
        double level = it.percentile_level / 100.0;
        double level_text = half_up(level, 12);
        long long cum = (long long)it.cumulative;
        if (it.percentile_level != 100.0) {
            double inv = half_up(1.0 / (1.0 - level), 2);
            rc = csv ? buf_appendf(out, "%.*f,%.12f,%lld,%.2f\n", s, value, level_text, cum, inv)
                     : buf_appendf(out, "%12.*f %2.12f %10lld %14.2f\n", s, value, level_text, cum,
                                   inv);
        } else {
            rc = csv ? buf_appendf(out, "%.*f,%.12f,%lld,Infinity\n", s, value, level_text, cum)
                     : buf_appendf(out, "%12.*f %2.12f %10lld\n", s, value, level_text, cum);
        }
    }
    if (rc != 0 || csv)
        return rc;
    rc = buf_appendf(out, "#[Mean    = %12.*f, StdDeviation   = %12.*f]\n", s,
                     half_up(hdr_mean(h) / scale, s), s, half_up(hdr_stddev(h) / scale, s));
    if (rc == 0)
        rc = buf_appendf(out, "#[Max     = %12.*f, Total count    = %12lld]\n", s,
                         half_up((double)hdr_max(h) / scale, s), (long long)h->total_count);
    if (rc == 0)
        rc = buf_appendf(out, "#[Buckets = %12d, SubBuckets     = %12d]\n", h->bucket_count,
                         h->sub_bucket_count);
    return rc;
}

int hdr_hgrm_write(buf_t *out, const hdr_histogram_t *h, int32_t ticks_per_half_distance,
                   double value_scale, bool csv)
{
    if (!(value_scale > 0.0) || !isfinite(value_scale))
        return MCP_EINVAL;
    locale_guard_t g = locale_enter();
    int rc = hgrm_rows(out, h, ticks_per_half_distance, value_scale, csv);
    locale_leave(g);
    return rc;
}
