/* Unit tests for hdr_log: .hlog header and interval lines exactly as the brief shows them, write ->
 * read round trips with tags, the readers' timestamp rules, malformed lines rejected with the line
 * number, and the .hgrm percentile table against hand-computed and brief output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "hdr_codec.h"
#include "hdr_histogram.h"
#include "hdr_log.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hdr_histogram_t *make(int64_t l, int64_t h, int s)
{
    hdr_histogram_t *hist = NULL;
    assert_int_equal(hdr_init(l, h, s, &hist, NULL, 0), 0);
    return hist;
}

static hdr_histogram_t *vector_histogram(void)
{
    hdr_histogram_t *h = make(1, 3600000000LL, 3);
    assert_int_equal(hdr_record_value(h, 1), 0);
    assert_int_equal(hdr_record_value(h, 1000), 0);
    assert_int_equal(hdr_record_values(h, 1000000, 2), 0);
    return h;
}

static void assert_same_counts(const hdr_histogram_t *a, const hdr_histogram_t *b)
{
    assert_int_equal(a->counts_len, b->counts_len);
    assert_memory_equal(a->counts, b->counts, (size_t)a->counts_len * sizeof(int64_t));
    assert_int_equal(hdr_total_count(a), hdr_total_count(b));
    assert_int_equal(hdr_max(a), hdr_max(b));
}

static const char BRIEF_HEADER[] =
    "#[Logged with mcpbench 0.1]\n"
    "#[Histogram log format version 1.3]\n"
    "#[StartTime: 1700000000.123 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]\n"
    "#[BaseTime: 1700000000.123 (seconds since epoch)]\n"
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

static void test_header_matches_brief(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1 << 20);
    hdr_log_header_t hd = {
        .producer = "mcpbench 0.1", .start_time_s = 1700000000.123, .write_base_time = true};
    assert_int_equal(hdr_log_write_header(&b, &hd), 0);
    assert_string_equal(b.data, BRIEF_HEADER);
    /* Every header line fits HdrHistogram_c's 128-byte line buffer. */
    for (char *line = b.data; *line != '\0';) {
        char *nl = strchr(line, '\n');
        assert_true(nl - line <= HDR_LOG_HEADER_LINE_MAX);
        line = nl + 1;
    }

    /* Comments go before the legend; no producer, no BaseTime. */
    buf_reset(&b);
    const char *comments[] = {
        "UNITS: StartTimestamp = seconds since StartTime; Interval_Length = seconds", NULL};
    hdr_log_header_t hd2 = {.start_time_s = 0.5, .comments = comments};
    assert_int_equal(hdr_log_write_header(&b, &hd2), 0);
    assert_string_equal(b.data, "#[Histogram log format version 1.3]\n"
                                "#[StartTime: 0.500 (seconds since epoch), Thu Jan 01 00:00:00 UTC "
                                "1970]\n"
                                "#UNITS: StartTimestamp = seconds since StartTime; Interval_Length "
                                "= seconds\n"
                                "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
                                "\"Interval_Compressed_Histogram\"\n");
    buf_free(&b);
}

static void test_header_errors_leave_buffer_unchanged(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_str(&b, "keep\n"), 0);
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    hdr_log_header_t hd = {.producer = longname, .start_time_s = 1.0};
    assert_int_equal(hdr_log_write_header(&b, &hd), MCP_EINVAL);
    assert_string_equal(b.data, "keep\n");
    const char *bad_comment[] = {"two\nlines", NULL};
    hdr_log_header_t hd2 = {.producer = "p", .start_time_s = 1.0, .comments = bad_comment};
    assert_int_equal(hdr_log_write_header(&b, &hd2), MCP_EINVAL);
    assert_string_equal(b.data, "keep\n");
    hdr_log_header_t hd3 = {.producer = "p", .start_time_s = -1.0};
    assert_int_equal(hdr_log_write_header(&b, &hd3), MCP_EINVAL);
    hdr_log_header_t hd4 = {.producer = "p", .start_time_s = NAN};
    assert_int_equal(hdr_log_write_header(&b, &hd4), MCP_EINVAL);
    assert_int_equal(hdr_log_write_header(&b, NULL), MCP_EINVAL);
    assert_string_equal(b.data, "keep\n");
    buf_free(&b);

    /* The buffer's maximum applies. */
    buf_init(&b, 64);
    hdr_log_header_t ok = {.producer = "mcpbench 0.1", .start_time_s = 1700000000.123};
    assert_int_equal(hdr_log_write_header(&b, &ok), MCP_ENOBUFS);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_interval_lines(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1 << 20);
    hdr_histogram_t *h = make(1, 3600000000000LL, 3);
    assert_int_equal(hdr_record_value(h, 5000), 0);
    assert_int_equal(hdr_record_value(h, 250085000), 0);
    assert_int_equal(hdr_log_write_interval(&b, NULL, 0.0, 1.0, h, HDR_LOG_MAX_RATIO_NS_TO_MS, 9),
                     0);
    assert_memory_equal(b.data, "0.000,1.000,250.085,HISTFAAAA", 29);
    assert_int_equal(b.data[b.len - 1], '\n');

    hdr_histogram_t *t = make(1, 3600000000000LL, 3);
    assert_int_equal(hdr_record_value(t, 3457000), 0);
    buf_reset(&b);
    assert_int_equal(hdr_log_write_interval(&b, "tools_call", 1.0, 1.0, t, 1e6, 6), 0);
    assert_memory_equal(b.data, "Tag=tools_call,1.000,1.000,3.457,HISTFAAAA", 42);
    /* "" is untagged. */
    buf_reset(&b);
    assert_int_equal(hdr_log_write_interval(&b, "", 12.3456, 0.5, t, 1.0, 6), 0);
    assert_memory_equal(b.data, "12.346,0.500,3457023.000,HISTF", 30);

    /* Bad arguments: nothing appended. */
    buf_reset(&b);
    assert_int_equal(buf_append_str(&b, "x"), 0);
    static const char *bad_tags[] = {"a,b", "a b", "a\nb", "a\rb"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(hdr_log_write_interval(&b, bad_tags[i], 0, 1, h, 1e6, 6), MCP_EINVAL);
    char longtag[HDR_LOG_TAG_MAX + 2];
    memset(longtag, 't', sizeof(longtag) - 1);
    longtag[sizeof(longtag) - 1] = '\0';
    assert_int_equal(hdr_log_write_interval(&b, longtag, 0, 1, h, 1e6, 6), MCP_EINVAL);
    longtag[HDR_LOG_TAG_MAX] = '\0';
    assert_int_equal(hdr_log_write_interval(&b, longtag, 0, 1, h, 1e6, 6), 0);
    buf_reset(&b);
    assert_int_equal(buf_append_str(&b, "x"), 0);
    assert_int_equal(hdr_log_write_interval(&b, NULL, -1.0, 1, h, 1e6, 6), MCP_EINVAL);
    assert_int_equal(hdr_log_write_interval(&b, NULL, 0, -0.001, h, 1e6, 6), MCP_EINVAL);
    assert_int_equal(hdr_log_write_interval(&b, NULL, INFINITY, 1, h, 1e6, 6), MCP_EINVAL);
    assert_int_equal(hdr_log_write_interval(&b, NULL, 0, NAN, h, 1e6, 6), MCP_EINVAL);
    assert_int_equal(hdr_log_write_interval(&b, NULL, 0, 1, h, 0.0, 6), MCP_EINVAL);
    assert_int_equal(hdr_log_write_interval(&b, NULL, 0, 1, h, 1e6, 11), MCP_EINVAL);
    assert_string_equal(b.data, "x");
    buf_free(&b);

    /* Buffer maximum reached mid-line: the partial line is removed. */
    buf_init(&b, 40);
    assert_int_equal(buf_append_str(&b, "x"), 0);
    assert_int_equal(hdr_log_write_interval(&b, "tag", 0, 1, h, 1e6, 6), MCP_ENOBUFS);
    assert_string_equal(b.data, "x");
    buf_free(&b);
    hdr_free(h);
    hdr_free(t);
}

typedef struct {
    hdr_log_entry_t entries[8];
    int n;
    int stop_at;
} collect_t;

static int collect(void *ud, const hdr_log_reader_t *r, hdr_log_entry_t *e)
{
    (void)r;
    collect_t *c = ud;
    if (c->n >= 8) {
        hdr_free(e->histogram);
        return -1;
    }
    c->entries[c->n++] = *e;
    return c->stop_at != 0 && c->n == c->stop_at ? 42 : 0;
}

static void collect_free(collect_t *c)
{
    for (int i = 0; i < c->n; i++)
        hdr_free(c->entries[i].histogram);
    c->n = 0;
}

static void test_write_read_round_trip(void **state)
{
    (void)state;
    hdr_histogram_t *hs[3];
    hs[0] = vector_histogram();
    hs[1] = make(1, 3600000000000LL, 3);
    for (int i = 1; i <= 20000; i++)
        assert_int_equal(hdr_record_value(hs[1], (int64_t)i * i * 37), 0);
    hs[2] = make(1000, 60000000000LL, 2); /* empty, other layout */
    const char *tags[3] = {NULL, "tools_call", NULL};
    double starts[3] = {0.0, 1.0, 2.5};
    double lengths[3] = {1.0, 1.0, 0.25};

    buf_t b;
    buf_init(&b, 1 << 22);
    hdr_log_header_t hd = {
        .producer = "mcpbench 0.1", .start_time_s = 1700000000.123, .write_base_time = true};
    assert_int_equal(hdr_log_write_header(&b, &hd), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(hdr_log_write_interval(&b, tags[i], starts[i], lengths[i], hs[i], 1e6, 9),
                         0);

    hdr_log_reader_t r;
    hdr_log_reader_init(&r);
    collect_t c = {0};
    char err[256] = "";
    int rc = hdr_log_read_text(&r, b.data, b.len, collect, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("read: %s", err);
    assert_int_equal(c.n, 3);
    assert_true(r.has_version);
    assert_int_equal(r.version_major, 1);
    assert_int_equal(r.version_minor, 3);
    assert_true(r.start_time_s == 1700000000.123);
    assert_true(r.base_time_s == 1700000000.123);
    assert_int_equal(r.intervals, 3);
    assert_int_equal(r.line_no, 8);
    for (int i = 0; i < 3; i++) {
        hdr_log_entry_t *e = &c.entries[i];
        assert_string_equal(e->tag, tags[i] != NULL ? tags[i] : "");
        assert_true(e->timestamp_s == starts[i]);
        assert_true(fabs(e->start_s - (1700000000.123 + starts[i])) < 1e-6);
        assert_true(e->length_s == lengths[i]);
        assert_true(fabs(e->max - (double)hdr_max(hs[i]) / 1e6) < 0.0005 + 1e-9);
        assert_same_counts(hs[i], e->histogram);
        assert_int_equal(e->histogram->lowest_discernible_value, hs[i]->lowest_discernible_value);
        assert_int_equal(e->histogram->significant_figures, hs[i]->significant_figures);
    }
    collect_free(&c);

    /* The callback's non-zero return stops the read (and is returned). */
    hdr_log_reader_init(&r);
    c.stop_at = 2;
    assert_int_equal(hdr_log_read_text(&r, b.data, b.len, collect, &c, err, sizeof(err)), 42);
    assert_int_equal(c.n, 2);
    collect_free(&c);

    /* CRLF and lone CR line endings read the same. */
    for (int variant = 0; variant < 2; variant++) {
        buf_t x;
        buf_init(&x, 1 << 22);
        for (size_t i = 0; i < b.len; i++) {
            if (b.data[i] == '\n')
                assert_int_equal(buf_append_str(&x, variant == 0 ? "\r\n" : "\r"), 0);
            else
                assert_int_equal(buf_putc(&x, b.data[i]), 0);
        }
        hdr_log_reader_init(&r);
        c.stop_at = 0;
        assert_int_equal(hdr_log_read_text(&r, x.data, x.len, collect, &c, err, sizeof(err)), 0);
        assert_int_equal(c.n, 3);
        assert_string_equal(c.entries[1].tag, "tools_call");
        assert_same_counts(hs[1], c.entries[1].histogram);
        collect_free(&c);
        buf_free(&x);
    }
    buf_free(&b);
    for (int i = 0; i < 3; i++)
        hdr_free(hs[i]);
}

/* Read a small log and return the first interval's absolute start (and the reader state). */
static double first_start(const char *text, hdr_log_reader_t *r)
{
    collect_t c = {0};
    char err[256] = "";
    hdr_log_reader_init(r);
    int rc = hdr_log_read_text(r, text, strlen(text), collect, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("read: %s", err);
    assert_true(c.n >= 1);
    double s = c.entries[0].start_s;
    collect_free(&c);
    return s;
}

static void test_reader_timestamps(void **state)
{
    (void)state;
    hdr_histogram_t *h = vector_histogram();
    char *b64;
    assert_int_equal(hdr_encode_base64(h, 9, &b64, NULL), 0);
    hdr_free(h);
    char text[512];
    hdr_log_reader_t r;

    /* No headers, absolute timestamps: StartTime = first timestamp, BaseTime = 0. */
    snprintf(text, sizeof(text), "1700000000.000,1.000,1.000,%s\n1700000001.000,1.000,1.0,%s\n",
             b64, b64);
    assert_true(first_start(text, &r) == 1700000000.0);
    assert_true(r.start_time_s == 1700000000.0);
    assert_true(r.base_time_s == 0.0);

    /* StartTime only, relative timestamps (jHiccup): BaseTime = StartTime. */
    snprintf(text, sizeof(text),
             "#[StartTime: 1700000000.500 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]\n"
             "0.250,1.000,1.000,%s\n",
             b64);
    assert_true(first_start(text, &r) == 1700000000.75);
    assert_true(r.base_time_s == 1700000000.5);
    assert_false(r.has_version);

    /* StartTime only, absolute timestamps: BaseTime = 0. */
    snprintf(text, sizeof(text),
             "#[StartTime: 1700000000.500 (seconds since epoch), x]\n1700000001.000,1.000,1.0,%s\n",
             b64);
    assert_true(first_start(text, &r) == 1700000001.0);
    assert_true(r.base_time_s == 0.0);

    /* Explicit BaseTime wins. */
    snprintf(text, sizeof(text),
             "#[StartTime: 1700000000.500 (seconds since epoch), x]\n"
             "#[BaseTime: 1000.000 (seconds since epoch)]\n"
             "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
             "\"Interval_Compressed_Histogram\"\n"
             "5.000,1.000,1.0,%s\n",
             b64);
    assert_true(first_start(text, &r) == 1005.0);
    assert_true(r.start_time_s == 1700000000.5);
    mcp_free(b64);
}

static void expect_line_error(const char *text, int code, const char *needle)
{
    hdr_log_reader_t r;
    hdr_log_reader_init(&r);
    collect_t c = {0};
    char err[256] = "";
    int rc = hdr_log_read_text(&r, text, strlen(text), collect, &c, err, sizeof(err));
    collect_free(&c);
    if (rc != code)
        fail_msg("'%s': expected %s, got %s (%s)", text, mcp_err_name(code), mcp_err_name(rc), err);
    if (strstr(err, needle) == NULL)
        fail_msg("'%s': error '%s' lacks '%s'", text, err, needle);
}

static void test_reader_errors(void **state)
{
    (void)state;
    hdr_histogram_t *h = vector_histogram();
    char *b64;
    assert_int_equal(hdr_encode_base64(h, 9, &b64, NULL), 0);
    hdr_free(h);
    char text[512];
    const char *hdr = "#[Histogram log format version 1.3]\n\n";

    snprintf(text, sizeof(text), "%s0.000,1.000,1.000\n", hdr);
    expect_line_error(text, MCP_EPARSE, "line 3: expected 4 comma-separated fields, got 3");
    snprintf(text, sizeof(text), "%s-1.000,1.000,1.000,%s\n", hdr, b64);
    expect_line_error(text, MCP_EPARSE, "line 3: StartTimestamp is not a plain");
    snprintf(text, sizeof(text), "%s1e3,1.000,1.000,%s\n", hdr, b64);
    expect_line_error(text, MCP_EPARSE, "StartTimestamp is not a plain");
    snprintf(text, sizeof(text), "0.000,1..0,1.000,%s\n", b64);
    expect_line_error(text, MCP_EPARSE, "line 1: Interval_Length is not a plain");
    snprintf(text, sizeof(text), "0.000,1.0,,%s\n", b64);
    expect_line_error(text, MCP_EPARSE, "Interval_Max is not a plain");
    snprintf(text, sizeof(text), "0.000,1.0, 1.0,%s\n", b64);
    expect_line_error(text, MCP_EPARSE, "Interval_Max is not a plain");
    snprintf(text, sizeof(text), "0.000,1.000,1.000,%s,extra\n", b64);
    expect_line_error(text, MCP_EPARSE, "Interval_Compressed_Histogram: base64");
    expect_line_error("0.000,1.000,1.000,HISTFAAAAA==\n", MCP_EPARSE,
                      "line 1: Interval_Compressed_Histogram: ");
    expect_line_error("0.000,1.000,1.000,\n", MCP_EPARSE, "Interval_Compressed_Histogram: base64");
    expect_line_error("#[Histogram log format version 2.0]\n", MCP_EUNSUPPORTED,
                      "unsupported log format version 2.0");
    expect_line_error("#[Histogram log format version x]\n", MCP_EPARSE, "malformed log format");
    expect_line_error("#[StartTime: abc (seconds since epoch)]\n", MCP_EPARSE,
                      "StartTime is not a plain decimal");
    expect_line_error("#[BaseTime: -5 (seconds since epoch)]\n", MCP_EPARSE,
                      "BaseTime is not a plain decimal");
    expect_line_error("Tag=nofields\n", MCP_EPARSE, "tag without interval fields");
    snprintf(text, sizeof(text), "Tag=a b,0.000,1.000,1.000,%s\n", b64);
    expect_line_error(text, MCP_EPARSE, "containing a space");
    expect_line_error("garbage\n", MCP_EPARSE, "expected 4 comma-separated fields, got 1");

    /* Unknown comments, blank lines and the legend are fine. */
    hdr_log_reader_t r;
    hdr_log_reader_init(&r);
    hdr_log_entry_t e;
    const char *jhiccup = "#[Logged with jHiccup version 2.0.10]";
    assert_int_equal(hdr_log_reader_line(&r, jhiccup, strlen(jhiccup), &e, NULL, 0), 0);
    assert_int_equal(hdr_log_reader_line(&r, "", 0, &e, NULL, 0), 0);
    assert_int_equal(hdr_log_reader_line(&r, "\r", 1, &e, NULL, 0), 0);
    const char *c_legend = "\"StartTimestamp\",\"EndTimestamp\"";
    assert_int_equal(hdr_log_reader_line(&r, c_legend, strlen(c_legend), &e, NULL, 0), 0);
    snprintf(text, sizeof(text), "Tag=,0.000,1.000,1.000,%s", b64);
    assert_int_equal(hdr_log_reader_line(&r, text, strlen(text), &e, NULL, 0), 1);
    assert_string_equal(e.tag, "");
    assert_int_equal(hdr_total_count(e.histogram), 4);
    hdr_free(e.histogram);
    mcp_free(b64);
}

static void test_locale_independent(void **state)
{
    (void)state;
    /* A process that switched to a comma-decimal locale still writes and reads '.' decimals. */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", NULL};
    const char *set = NULL;
    for (int i = 0; names[i] != NULL && set == NULL; i++)
        set = setlocale(LC_ALL, names[i]);
    if (set == NULL)
        skip();
    char probe[16];
    snprintf(probe, sizeof(probe), "%.1f", 1.5);
    hdr_histogram_t *h = vector_histogram();
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(hdr_log_write_interval(&b, NULL, 1.5, 1.0, h, 1.0, 6), 0);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, 1.0, false), 0);
    setlocale(LC_ALL, "C");
    assert_string_equal(probe, "1,5");
    assert_memory_equal(b.data, "1.500,1.000,1000447.000,", 24);
    assert_non_null(strstr(b.data, "#[Mean    =   500346.250, StdDeviation   =   499845.875]"));
    buf_free(&b);
    hdr_free(h);
}

/* .hgrm of the brief's test vector, computed by hand from the rules in brief 1.5 and 1.8. */
static const char VECTOR_HGRM[] = "       Value     Percentile TotalCount 1/(1-Percentile)\n"
                                  "\n"
                                  "       1.000 0.000000000000          1           1.00\n"
                                  "       1.000 0.100000000000          1           1.11\n"
                                  "       1.000 0.200000000000          1           1.25\n"
                                  "    1000.000 0.300000000000          2           1.43\n"
                                  "    1000.000 0.400000000000          2           1.67\n"
                                  "    1000.000 0.500000000000          2           2.00\n"
                                  " 1000447.000 0.550000000000          4           2.22\n"
                                  " 1000447.000 1.000000000000          4\n"
                                  "#[Mean    =   500346.250, StdDeviation   =   499845.875]\n"
                                  "#[Max     =  1000447.000, Total count    =            4]\n"
                                  "#[Buckets =           22, SubBuckets     =         2048]\n";

static const char VECTOR_CSV[] = "\"Value\",\"Percentile\",\"TotalCount\",\"1/(1-Percentile)\"\n"
                                 "1.000,0.000000000000,1,1.00\n"
                                 "1.000,0.100000000000,1,1.11\n"
                                 "1.000,0.200000000000,1,1.25\n"
                                 "1000.000,0.300000000000,2,1.43\n"
                                 "1000.000,0.400000000000,2,1.67\n"
                                 "1000.000,0.500000000000,2,2.00\n"
                                 "1000447.000,0.550000000000,4,2.22\n"
                                 "1000447.000,1.000000000000,4,Infinity\n";

static void test_hgrm_vector(void **state)
{
    (void)state;
    hdr_histogram_t *h = vector_histogram();
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, 1.0, false), 0);
    assert_string_equal(b.data, VECTOR_HGRM);
    buf_reset(&b);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, 1.0, true), 0);
    assert_string_equal(b.data, VECTOR_CSV);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, 0.0, true), MCP_EINVAL);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, -1.0, true), MCP_EINVAL);
    buf_free(&b);

    /* S sets the decimals; the table is bounded by the buffer's maximum. */
    buf_init(&b, 100);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, 1.0, false), MCP_ENOBUFS);
    buf_free(&b);
    hdr_free(h);

    /* Decimal ties round half up, as Java and hdr-histogram-js print them: the mean 1062.5 / 1000
     * is exactly 1.0625, which printf alone would round to even (1.062). */
    h = make(1, 3600000000LL, 3);
    assert_int_equal(hdr_record_value(h, 1062), 0);
    assert_int_equal(hdr_record_value(h, 1063), 0);
    buf_init(&b, 1 << 20);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, 1000.0, false), 0);
    assert_non_null(strstr(b.data, "#[Mean    =        1.063, StdDeviation   =        0.001]\n"));
    buf_free(&b);
    hdr_free(h);

    h = make(1, 3600000000LL, 2);
    assert_int_equal(hdr_record_value(h, 12345), 0);
    buf_init(&b, 1 << 20);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, 1000.0, false), 0);
    assert_non_null(strstr(b.data, "       12.35 0.000000000000          1           1.00\n"
                                   "       12.35 1.000000000000          1\n"));
    assert_non_null(strstr(b.data, "#[Buckets =           25, SubBuckets     =          256]\n"));
    buf_free(&b);
    hdr_free(h);
}

/* The brief's sample (1.8): ns values scaled to ms. Counts chosen to reproduce its rows. */
static void test_hgrm_brief_sample(void **state)
{
    (void)state;
    hdr_histogram_t *h = make(1, 3600000000000LL, 3);
    assert_int_equal(hdr_record_value(h, 5000), 0);
    assert_int_equal(hdr_record_values(h, 72000, 8009), 0);
    assert_int_equal(hdr_record_values(h, 103000, 7991), 0);
    assert_int_equal(hdr_record_values(h, 250085000, 80000 - 16001), 0);
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, 1e6, false), 0);
    static const char *sample_lines[] = {
        "       Value     Percentile TotalCount 1/(1-Percentile)\n\n",
        "\n       0.005 0.000000000000          1           1.00\n",
        "\n       0.072 0.100000000000       8010           1.11\n",
        "\n       0.103 0.200000000000      16001           1.25\n",
        "\n     250.085 1.000000000000      80000\n#[Mean    = ",
        "\n#[Max     =      250.085, Total count    =        80000]\n",
        "\n#[Buckets =           32, SubBuckets     =         2048]\n",
    };
    for (size_t i = 0; i < sizeof(sample_lines) / sizeof(sample_lines[0]); i++) {
        if (strstr(b.data, sample_lines[i]) == NULL)
            fail_msg("missing brief line '%s' in:\n%s", sample_lines[i], b.data);
    }
    /* The plotter's rule: rows with exactly 4 fields, all but the header parse as numbers. */
    int rows4 = 0;
    for (char *line = b.data; *line != '\0';) {
        char *nl = strchr(line, '\n');
        int fields = 0;
        for (char *p = line; p < nl;) {
            while (p < nl && *p == ' ')
                p++;
            if (p < nl)
                fields++;
            while (p < nl && *p != ' ')
                p++;
        }
        if (line[0] != '#' && fields == 4)
            rows4++;
        line = nl + 1;
    }
    assert_int_equal(rows4, 1 + 4); /* header + 0%, 10%, 20%, 30% */
    buf_free(&b);

    /* Empty histogram: header and a zero footer. */
    hdr_reset(h);
    buf_init(&b, 1 << 20);
    assert_int_equal(hdr_hgrm_write(&b, h, 5, 1e6, false), 0);
    assert_string_equal(b.data, "       Value     Percentile TotalCount 1/(1-Percentile)\n\n"
                                "#[Mean    =        0.000, StdDeviation   =        0.000]\n"
                                "#[Max     =        0.000, Total count    =            0]\n"
                                "#[Buckets =           32, SubBuckets     =         2048]\n");
    buf_free(&b);
    hdr_free(h);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_matches_brief),
        cmocka_unit_test(test_header_errors_leave_buffer_unchanged),
        cmocka_unit_test(test_interval_lines),
        cmocka_unit_test(test_write_read_round_trip),
        cmocka_unit_test(test_reader_timestamps),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_locale_independent),
        cmocka_unit_test(test_hgrm_vector),
        cmocka_unit_test(test_hgrm_brief_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
