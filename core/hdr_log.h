/* hdr_log: the HdrHistogram interval log (.hlog) and percentile distribution (.hgrm) text formats.
 *
 * .hlog (brief 1.7): header comment lines, then the legend, then one line per interval:
 *   #[Logged with mcpbench 0.1]
 *   #[Histogram log format version 1.3]
 *   #[StartTime: 1700000000.123 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]
 *   #[BaseTime: 1700000000.123 (seconds since epoch)]
 *   "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
 *   [Tag=<tag>,]<start s %.3f>,<length s %.3f>,<max / ratio %.3f>,<base64 V2 histogram>
 * Column 2 is the interval LENGTH, not its end. Timestamps are written relative to BaseTime
 * (= StartTime = run start), which every reader (Java HistogramLogProcessor and
 * HistogramLogAnalyzer, hdr-histogram-js, HdrHistogram_c) resolves the same way. The writer
 * keeps every header line within 126 characters (HdrHistogram_c reads headers into 128 bytes)
 * and puts no comment after the legend, since the C reader accepts none there.
 *
 * .hgrm (brief 1.8): Java's outputPercentileDistribution table, which HistogramLogProcessor
 * writes and the HdrHistogram plotter reads.
 *
 * Numbers are formatted and parsed independently of the process locale ('.' decimals always).
 * Ownership: writers append to the caller's buf_t (its maximum applies: MCP_ENOBUFS); the reader
 * hands each decoded histogram to the caller (entry->histogram, release with hdr_free). */
#ifndef MCP_HDR_LOG_H
#define MCP_HDR_LOG_H

#include "buf.h"
#include "hdr_histogram.h"

#include <stdbool.h>
#include <stddef.h>

#define HDR_LOG_VERSION "1.3"
/* Longest header line accepted by HdrHistogram_c's reader, without the newline. */
#define HDR_LOG_HEADER_LINE_MAX 126
/* Longest tag we write or read. */
#define HDR_LOG_TAG_MAX 255
/* Default divisor for the Interval_Max column: values in ns shown as ms. */
#define HDR_LOG_MAX_RATIO_NS_TO_MS 1e6

typedef struct hdr_log_header_s {
    const char *producer;        /* "#[Logged with <producer>]"; NULL omits the line */
    double start_time_s;         /* run start, seconds since the epoch (>= 0) */
    bool write_base_time;        /* also "#[BaseTime: ...]" = start_time_s (recommended) */
    const char *const *comments; /* extra free comment lines (without '#'), NULL-terminated */
} hdr_log_header_t;

/* Header lines and the legend. 0, MCP_EINVAL (negative/NaN time, a line longer than
 * HDR_LOG_HEADER_LINE_MAX, a newline in producer/comments), MCP_ENOBUFS or MCP_ENOMEM. On error
 * nothing is appended. */
int hdr_log_write_header(buf_t *out, const hdr_log_header_t *header);

/* One interval line. tag: NULL or "" for untagged, else 1..HDR_LOG_TAG_MAX chars without ',',
 * space, CR or LF. start_s: seconds since BaseTime; length_s: duration (end - start), both >= 0.
 * max_ratio (> 0) divides hdr_max(h) for the informational Interval_Max column
 * (HDR_LOG_MAX_RATIO_NS_TO_MS for ns). level: zlib level 0..9 (HDR_DEFAULT_COMPRESSION).
 * Returns 0, MCP_EINVAL, MCP_ENOBUFS or MCP_ENOMEM; on error nothing is appended. */
int hdr_log_write_interval(buf_t *out, const char *tag, double start_s, double length_s,
                           const hdr_histogram_t *h, double max_ratio, int level);

/* ---- reading ---- */

typedef struct hdr_log_reader_s {
    bool has_start_time;
    double start_time_s; /* #[StartTime:], else the first interval's timestamp */
    bool has_base_time;
    double base_time_s; /* #[BaseTime:], else inferred at the first interval (brief 1.7) */
    bool has_version;
    int version_major, version_minor;
    long line_no;   /* lines seen so far */
    long intervals; /* interval lines decoded so far */
} hdr_log_reader_t;

typedef struct hdr_log_entry_s {
    char tag[HDR_LOG_TAG_MAX + 1]; /* "" when untagged */
    double timestamp_s;            /* column 1 as written */
    double start_s;                /* absolute start: timestamp + base time */
    double length_s;               /* column 2 */
    double max;                    /* column 3 as written (informational) */
    hdr_histogram_t *histogram;    /* owned by the caller after a successful read */
} hdr_log_entry_t;

void hdr_log_reader_init(hdr_log_reader_t *r);
/* Feed one line (without its '\n'; a trailing '\r' is ignored). Returns 1 when it was an
 * interval (entry filled; the caller owns entry->histogram), 0 for a comment, header, legend or
 * blank line, or a negative code with a reason in err naming the line number: MCP_EPARSE for a
 * malformed line or histogram, MCP_EUNSUPPORTED for a log format major version other than 1. */
int hdr_log_reader_line(hdr_log_reader_t *r, const char *line, size_t len, hdr_log_entry_t *entry,
                        char *err, size_t err_cap);

/* Called for each interval of hdr_log_read_text; takes ownership of entry->histogram. A non-zero
 * return stops the read and is returned by hdr_log_read_text. */
typedef int (*hdr_log_entry_cb)(void *userdata, const hdr_log_reader_t *r, hdr_log_entry_t *entry);

/* Split text into lines ('\n', "\r\n" or a lone '\r', as hdr-histogram-js does) and feed them to
 * r. Returns 0, the first error (see hdr_log_reader_line) or the callback's non-zero value. */
int hdr_log_read_text(hdr_log_reader_t *r, const char *text, size_t len, hdr_log_entry_cb cb,
                      void *userdata, char *err, size_t err_cap);

/* ---- .hgrm ---- */

/* Java's outputPercentileDistribution(ticks_per_half_distance, value_scale, csv): the percentile
 * table (values divided by value_scale, e.g. 1e6 for ns shown as ms) and, when !csv, the
 * Mean/StdDeviation, Max/Total count and Buckets/SubBuckets footer. 0, MCP_EINVAL (scale <= 0),
 * MCP_ENOBUFS or MCP_ENOMEM (out may then hold part of the table). */
int hdr_hgrm_write(buf_t *out, const hdr_histogram_t *h, int32_t ticks_per_half_distance,
                   double value_scale, bool csv);

#endif
