/* Interop test against hdr-histogram-js 3.0.1 (an independent HdrHistogram implementation,
 * installed from npm by ci/node-tools into .cache/node-tools/): it decodes our base64 histograms
 * and reads our .hlog, and we decode what it encodes and read the .hlog its HistogramLogWriter
 * writes. Counts, max, min, mean, stddev, Java-rule percentiles, tags, timestamps and the .hgrm
 * table must agree. Exits 77 (skipped) with a message when npm or the registry is unavailable.
 * Support script: core/tests/hdr/interop.js. */
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

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define JS_PACKAGE    "hdr-histogram-js@3.0.1"
#define START_TIME_MS 1700000000123.0
#define N_INTERVALS   5

static const double PERCENTILES[] = {0,  1,  10, 25,   33.3,  50,     75,
                                     90, 94, 99, 99.9, 99.99, 99.999, 100};
#define N_PCT (sizeof(PERCENTILES) / sizeof(PERCENTILES[0]))

/* ---- fixtures shared by the tests (built once in main) ---- */

enum { H_VECTOR, H_NS, H_COARSE, H_EMPTY, H_BIGCOUNTS, H_CORRECTED, H_SIGFIG5, N_HIST };
static const char *hist_names[N_HIST] = {"vector",    "ns",        "coarse", "empty",
                                         "bigcounts", "corrected", "sigfig5"};
static hdr_histogram_t *ours[N_HIST]; /* as recorded */
static hdr_histogram_t *intervals[N_INTERVALS];
static const char *interval_tags[N_INTERVALS] = {NULL, NULL, "tools_call", NULL, NULL};

typedef struct {
    const char *name;
    int64_t l, h;
    int s;
    const char *tag;
    int64_t pairs[2000][2];
    int n;
} recipe_t;
#define N_RECIPES 4
static recipe_t recipes[N_RECIPES];

static char src_dir[1024];
static char tmp_dir[256] = "/tmp/hdr-interop-XXXXXX";
static cJSON *result;

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

/* Latency-like values in ns: lognormal around 200 us, with rare 250 ms outliers. */
static int64_t latency_ns(void)
{
    if (uniform() < 0.001)
        return 250000000 + (int64_t)(uniform() * 100000);
    double z = sqrt(-2.0 * log(uniform())) * cos(2.0 * M_PI * uniform());
    return (int64_t)exp(log(200000.0) + 1.0 * z);
}

static hdr_histogram_t *make(int64_t l, int64_t h, int s)
{
    hdr_histogram_t *hist = NULL;
    char err[160];
    if (hdr_init(l, h, s, &hist, err, sizeof(err)) != 0) {
        fprintf(stderr, "hdr_init: %s\n", err);
        exit(1);
    }
    return hist;
}

static void must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "test_hdr_interop: %s failed: %s\n", what, mcp_strerror(rc));
        exit(1);
    }
}

static void build_fixtures(void)
{
    ours[H_VECTOR] = make(1, 3600000000LL, 3);
    must(hdr_record_value(ours[H_VECTOR], 1), "record");
    must(hdr_record_value(ours[H_VECTOR], 1000), "record");
    must(hdr_record_values(ours[H_VECTOR], 1000000, 2), "record");

    ours[H_NS] = make(1, 3600000000000LL, 3);
    for (int i = 0; i < N_INTERVALS; i++)
        intervals[i] = make(1, 3600000000000LL, 3);
    for (int i = 0; i < 100000; i++) {
        int64_t v = latency_ns();
        must(hdr_record_value(ours[H_NS], v), "record");
        must(hdr_record_value(intervals[i % N_INTERVALS], v), "record");
    }

    ours[H_COARSE] = make(1000, 60000000000LL, 2);
    for (int i = 0; i < 20000; i++)
        must(hdr_record_value(ours[H_COARSE], latency_ns() * 10), "record");
    must(hdr_record_value(ours[H_COARSE], 0), "record");
    must(hdr_record_value(ours[H_COARSE], 700), "record");

    ours[H_EMPTY] = make(1, 3600000000000LL, 3);

    ours[H_BIGCOUNTS] = make(1, 3600000000LL, 3);
    must(hdr_record_values(ours[H_BIGCOUNTS], 5, INT64_C(1) << 40), "record");
    must(hdr_record_values(ours[H_BIGCOUNTS], 123456789, (INT64_C(1) << 45) + 3), "record");
    must(hdr_record_values(ours[H_BIGCOUNTS], 3600000000LL, 7), "record");

    /* A stalled closed-loop client: 10 ms expected interval, one 2 s stall. */
    ours[H_CORRECTED] = make(1, 3600000000000LL, 3);
    for (int i = 0; i < 1000; i++)
        must(hdr_record_corrected_value(ours[H_CORRECTED], latency_ns(), 10000000), "record");
    must(hdr_record_corrected_value(ours[H_CORRECTED], 2000000000, 10000000), "record");

    ours[H_SIGFIG5] = make(1, 1000000000LL, 5);
    for (int i = 0; i < 5000; i++)
        must(hdr_record_value(ours[H_SIGFIG5], latency_ns() % 1000000000LL), "record");

    /* Recipes hdr-histogram-js records and encodes. */
    recipe_t *r = &recipes[0];
    *r = (recipe_t){.name = "js_ns", .l = 1, .h = 3600000000000LL, .s = 3};
    for (int i = 0; i < 2000; i++) {
        r->pairs[i][0] = latency_ns();
        r->pairs[i][1] = 1 + (int64_t)(uniform() * 5);
    }
    r->n = 2000;
    r = &recipes[1];
    *r = (recipe_t){.name = "js_coarse", .l = 1000, .h = 60000000000LL, .s = 2, .tag = "tagged"};
    for (int i = 0; i < 500; i++) {
        r->pairs[i][0] = latency_ns() * 7;
        r->pairs[i][1] = 1 + (int64_t)(uniform() * 1000);
    }
    r->n = 500;
    r = &recipes[2];
    *r = (recipe_t){.name = "js_vector", .l = 1, .h = 3600000000LL, .s = 3, .n = 3};
    int64_t vec[3][2] = {{1, 1}, {1000, 1}, {1000000, 2}};
    memcpy(r->pairs, vec, sizeof(vec));
    recipes[3] = (recipe_t){.name = "js_empty", .l = 1, .h = 3600000000000LL, .s = 3};
}

static hdr_histogram_t *recipe_histogram(const recipe_t *r)
{
    hdr_histogram_t *h = make(r->l, r->h, r->s);
    for (int i = 0; i < r->n; i++)
        must(hdr_record_values(h, r->pairs[i][0], r->pairs[i][1]), "record");
    return h;
}

/* ---- running things ---- */

static void path_in_tmp(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_dir, name);
}

static void write_file(const char *name, const char *data, size_t len)
{
    char path[512];
    path_in_tmp(path, sizeof(path), name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "test_hdr_interop: cannot write %s\n", path);
        exit(1);
    }
}

/* Run cmd with popen, collect stdout into out; returns the exit status (or -1). */
static int run_capture(const char *cmd, buf_t *out)
{
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        if (buf_append(out, chunk, n) != 0) {
            pclose(p);
            return -1;
        }
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void find_source_dir(void)
{
    const char *env = getenv("MCP_SOURCE_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(src_dir, sizeof(src_dir), "%s", env);
        return;
    }
    /* Run by hand: derive it from this file's absolute path. */
    snprintf(src_dir, sizeof(src_dir), "%s", __FILE__);
    char *cut = strstr(src_dir, "/core/tests/");
    if (cut != NULL)
        *cut = '\0';
}

static void cleanup_tmp(void)
{
    static const char *files[] = {"input.json", "ours.hlog"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        path_in_tmp(path, sizeof(path), files[i]);
        unlink(path);
    }
    rmdir(tmp_dir);
}

/* Write the inputs, run interop.js, parse its JSON. Returns 77 to skip, 0 or exits on failure. */
static int run_js(void)
{
    char cmd[4096];
    buf_t out;
    buf_init(&out, 1 << 20);
    snprintf(cmd, sizeof(cmd), "'%s/ci/node-tools' %s", src_dir, JS_PACKAGE);
    int rc = run_capture(cmd, &out);
    if (rc == 77) {
        fprintf(stderr,
                "test_hdr_interop: SKIP: could not install %s (npm or the registry is "
                "unavailable)\n",
                JS_PACKAGE);
        buf_free(&out);
        return 77;
    }
    if (rc != 0 || out.len == 0) {
        fprintf(stderr, "test_hdr_interop: ci/node-tools failed (exit %d)\n", rc);
        exit(1);
    }
    while (out.len > 0 && isspace((unsigned char)out.data[out.len - 1]))
        out.data[--out.len] = '\0';
    char module[2048];
    snprintf(module, sizeof(module), "%s/node_modules/hdr-histogram-js", out.data);
    buf_free(&out);

    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }

    /* Our .hlog: intervals of the ns data, one tagged. */
    buf_t log;
    buf_init(&log, 64 << 20);
    hdr_log_header_t hd = {.producer = "mcpbench 0.1",
                           .start_time_s = START_TIME_MS / 1000.0,
                           .write_base_time = true};
    must(hdr_log_write_header(&log, &hd), "hdr_log_write_header");
    for (int i = 0; i < N_INTERVALS; i++)
        must(hdr_log_write_interval(&log, interval_tags[i], i * 1.0, 1.0, intervals[i], 1e6,
                                    i % 2 == 0 ? 9 : 6),
             "hdr_log_write_interval");
    write_file("ours.hlog", log.data, log.len);
    buf_free(&log);

    cJSON *in = cJSON_CreateObject();
    cJSON_AddItemToObject(in, "percentiles", cJSON_CreateDoubleArray(PERCENTILES, (int)N_PCT));
    cJSON *hs = cJSON_AddArrayToObject(in, "histograms");
    for (int i = 0; i < N_HIST; i++) {
        char *b64;
        must(hdr_encode_base64(ours[i], i % 2 == 0 ? 9 : 6, &b64, NULL), "hdr_encode_base64");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", hist_names[i]);
        cJSON_AddStringToObject(o, "b64", b64);
        cJSON_AddItemToArray(hs, o);
        mcp_free(b64);
    }
    char path[512];
    path_in_tmp(path, sizeof(path), "ours.hlog");
    cJSON_AddStringToObject(in, "hlog", path);
    cJSON_AddNumberToObject(in, "startTimeMs", START_TIME_MS);
    cJSON *rs = cJSON_AddArrayToObject(in, "recipes");
    for (int i = 0; i < N_RECIPES; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", recipes[i].name);
        cJSON_AddNumberToObject(o, "L", (double)recipes[i].l);
        cJSON_AddNumberToObject(o, "H", (double)recipes[i].h);
        cJSON_AddNumberToObject(o, "S", recipes[i].s);
        if (recipes[i].tag != NULL)
            cJSON_AddStringToObject(o, "tag", recipes[i].tag);
        cJSON *pairs = cJSON_AddArrayToObject(o, "pairs");
        for (int k = 0; k < recipes[i].n; k++) {
            double pair[2] = {(double)recipes[i].pairs[k][0], (double)recipes[i].pairs[k][1]};
            cJSON_AddItemToArray(pairs, cJSON_CreateDoubleArray(pair, 2));
        }
        cJSON_AddItemToArray(rs, o);
    }
    char *json = cJSON_PrintUnformatted(in);
    cJSON_Delete(in);
    write_file("input.json", json, strlen(json));
    cJSON_free(json);

    path_in_tmp(path, sizeof(path), "input.json");
    snprintf(cmd, sizeof(cmd), "node '%s/core/tests/hdr/interop.js' '%s' '%s'", src_dir, module,
             path);
    buf_init(&out, 256 << 20);
    rc = run_capture(cmd, &out);
    if (rc != 0) {
        fprintf(stderr, "test_hdr_interop: node interop.js failed (exit %d)\n", rc);
        exit(1);
    }
    result = cJSON_ParseWithLength(out.data, out.len);
    buf_free(&out);
    if (result == NULL) {
        fprintf(stderr, "test_hdr_interop: interop.js printed invalid JSON\n");
        exit(1);
    }
    return 0;
}

/* ---- comparisons ---- */

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("missing number '%s'", key);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        fail_msg("missing string '%s'", key);
    return v->valuestring;
}

static const cJSON *arr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(v))
        fail_msg("missing array '%s'", key);
    return v;
}

static void assert_close(double a, double b, double rel, const char *what)
{
    double tol = rel * fmax(1.0, fmax(fabs(a), fabs(b)));
    if (fabs(a - b) > tol)
        fail_msg("%s: ours %.17g, hdr-histogram-js %.17g", what, a, b);
}

/* A JS summary (total, max, minNonZero, mean, stddev, p[]) against our histogram.
 *
 * hdr-histogram-js's maxValue/minNonZeroValue are its raw tracking fields, not Java's reported
 * getMaxValue()/getMinNonZeroValue(): after recording they hold the raw extremes, and after
 * decoding it sets max to highest_equivalent(last bucket) + (2^unit_magnitude - 1) (an "add"
 * where Java ORs the mask in). So they are compared through the bucket they fall in, and
 * js_decoded selects the decoding quirk for max. */
static void assert_summary(const cJSON *js, const hdr_histogram_t *h, const char *name,
                           bool js_decoded)
{
    char what[128];
    if ((int64_t)num(js, "total") != h->total_count)
        fail_msg("%s: total ours %lld, js %.0f", name, (long long)h->total_count, num(js, "total"));
    int64_t js_max = (int64_t)num(js, "max");
    int64_t mask = ((int64_t)1 << h->unit_magnitude) - 1;
    bool max_ok = h->total_count == 0
                      ? js_max == 0
                      : (js_decoded ? js_max == hdr_max(h) + mask
                                    : hdr_highest_equivalent(h, js_max) == hdr_max(h));
    if (!max_ok)
        fail_msg("%s: max ours %lld, js %lld", name, (long long)hdr_max(h), (long long)js_max);
    if (h->total_count > 0 && h->min_value != INT64_MAX &&
        hdr_lowest_equivalent(h, (int64_t)num(js, "minNonZero")) !=
            hdr_lowest_equivalent(h, h->min_value))
        fail_msg("%s: min non-zero ours %lld, js %.0f", name,
                 (long long)hdr_lowest_equivalent(h, h->min_value), num(js, "minNonZero"));
    snprintf(what, sizeof(what), "%s mean", name);
    assert_close(hdr_mean(h), num(js, "mean"), 1e-12, what);
    snprintf(what, sizeof(what), "%s stddev", name);
    assert_close(hdr_stddev(h), num(js, "stddev"), 1e-9, what);
    const cJSON *p = arr(js, "p");
    assert_int_equal(cJSON_GetArraySize(p), N_PCT);
    for (int i = 0; i < (int)N_PCT; i++) {
        int64_t theirs = (int64_t)cJSON_GetArrayItem(p, i)->valuedouble;
        int64_t mine = hdr_value_at_percentile(h, PERCENTILES[i]);
        if (theirs != mine)
            fail_msg("%s: p%g ours %lld, js %lld", name, PERCENTILES[i], (long long)mine,
                     (long long)theirs);
    }
}

/* Our .hgrm must equal hdr-histogram-js's outputPercentileDistribution byte for byte (both round
 * decimal ties half up, as Java does), except the "#[Max" footer when skip_max: that line prints
 * its raw max field (see assert_summary, which checks the value). Returns the lines compared. */
static int compare_hgrm(const char *mine, const char *theirs, const char *name, bool skip_max)
{
    const char *a = mine, *b = theirs;
    int line = 0;
    while (*a != '\0' || *b != '\0') {
        const char *ae = strchr(a, '\n'), *be = strchr(b, '\n');
        if (ae == NULL)
            ae = a + strlen(a);
        if (be == NULL)
            be = b + strlen(b);
        line++;
        bool same = ae - a == be - b && memcmp(a, b, (size_t)(ae - a)) == 0;
        bool max_line = strncmp(a, "#[Max ", 6) == 0 && strncmp(b, "#[Max ", 6) == 0;
        if (!same && !(skip_max && max_line))
            fail_msg("%s .hgrm line %d differs:\n ours: %.*s\n   js: %.*s", name, line,
                     (int)(ae - a), a, (int)(be - b), b);
        a = *ae != '\0' ? ae + 1 : ae;
        b = *be != '\0' ? be + 1 : be;
    }
    return line;
}

/* hdr-histogram-js decodes each of our base64 histograms to the same numbers and .hgrm. */
static void test_js_decodes_ours(void **state)
{
    (void)state;
    const cJSON *decoded = arr(result, "decoded");
    assert_int_equal(cJSON_GetArraySize(decoded), N_HIST);
    int lines = 0;
    for (int i = 0; i < N_HIST; i++) {
        const cJSON *js = cJSON_GetArrayItem(decoded, i);
        assert_string_equal(str(js, "name"), hist_names[i]);
        assert_summary(js, ours[i], hist_names[i], true);
        buf_t b;
        buf_init(&b, 16 << 20);
        assert_int_equal(hdr_hgrm_write(&b, ours[i], 5, 1.0, false), 0);
        lines += compare_hgrm(b.data, str(js, "hgrm"), hist_names[i], ours[i]->unit_magnitude > 0);
        buf_free(&b);
    }
    printf("test_hdr_interop: %d .hgrm lines identical to hdr-histogram-js\n", lines);
    assert_true(lines > 300);
}

/* hdr-histogram-js's HistogramLogReader reads our .hlog: tags, timestamps, every interval. */
static void test_js_reads_our_hlog(void **state)
{
    (void)state;
    const cJSON *hlog = cJSON_GetObjectItemCaseSensitive(result, "hlog");
    const cJSON *tags = arr(hlog, "tags");
    assert_int_equal(cJSON_GetArraySize(tags), 2);
    assert_string_equal(cJSON_GetArrayItem(tags, 0)->valuestring, "NO TAG");
    assert_string_equal(cJSON_GetArrayItem(tags, 1)->valuestring, "tools_call");
    assert_close(num(hlog, "startTimeSec"), START_TIME_MS / 1000.0, 1e-15, "StartTime");
    assert_close(num(hlog, "baseTimeSec"), START_TIME_MS / 1000.0, 1e-15, "BaseTime");

    const cJSON *iv = arr(hlog, "intervals");
    assert_int_equal(cJSON_GetArraySize(iv), N_INTERVALS);
    hdr_histogram_t *merged = make(1, 3600000000000LL, 3);
    for (int i = 0; i < N_INTERVALS; i++) {
        const cJSON *js = cJSON_GetArrayItem(iv, i);
        char name[32];
        snprintf(name, sizeof(name), "interval %d", i);
        assert_string_equal(str(js, "tag"), interval_tags[i] != NULL ? interval_tags[i] : "NO TAG");
        assert_close(num(js, "startMs"), START_TIME_MS + i * 1000.0, 1e-12, "interval start");
        assert_close(num(js, "endMs"), START_TIME_MS + (i + 1) * 1000.0, 1e-12, "interval end");
        assert_summary(js, intervals[i], name, true);
        if (interval_tags[i] == NULL)
            assert_int_equal(hdr_add(merged, intervals[i], NULL), 0);
    }
    /* JS's add() carries the raw max over, so its merged max is the decoded (quirk) one. */
    assert_summary(cJSON_GetObjectItemCaseSensitive(hlog, "mergedUntagged"), merged,
                   "merged untagged", true);
    hdr_free(merged);
}

/* We decode what hdr-histogram-js encodes (it writes normalizing offset 1 and an int64 ratio). */
static void test_we_decode_js(void **state)
{
    (void)state;
    const cJSON *enc = arr(result, "encoded");
    assert_int_equal(cJSON_GetArraySize(enc), N_RECIPES);
    for (int i = 0; i < N_RECIPES; i++) {
        const cJSON *js = cJSON_GetArrayItem(enc, i);
        assert_string_equal(str(js, "name"), recipes[i].name);
        const char *b64 = str(js, "b64");
        hdr_histogram_t *d = NULL;
        char err[256] = "";
        int rc = hdr_decode_base64(b64, strlen(b64), &d, err, sizeof(err));
        if (rc != 0)
            fail_msg("%s: decoding hdr-histogram-js output: %s", recipes[i].name, err);
        hdr_histogram_t *expect = recipe_histogram(&recipes[i]);
        assert_int_equal(d->counts_len, expect->counts_len);
        assert_memory_equal(d->counts, expect->counts, (size_t)d->counts_len * sizeof(int64_t));
        assert_int_equal(d->significant_figures, recipes[i].s);
        assert_summary(js, d, recipes[i].name, false);
        /* Our re-encoding of it decodes to the same counts. */
        char *again;
        assert_int_equal(hdr_encode_base64(d, 9, &again, NULL), 0);
        hdr_histogram_t *d2 = NULL;
        assert_int_equal(hdr_decode_base64(again, strlen(again), &d2, NULL, 0), 0);
        assert_memory_equal(d2->counts, expect->counts, (size_t)d->counts_len * sizeof(int64_t));
        hdr_free(d2);
        mcp_free(again);
        hdr_free(expect);
        hdr_free(d);
    }
}

typedef struct {
    int n;
    hdr_log_entry_t e[N_RECIPES];
} entries_t;

static int keep_entry(void *ud, const hdr_log_reader_t *r, hdr_log_entry_t *e)
{
    (void)r;
    entries_t *c = ud;
    if (c->n >= N_RECIPES) {
        hdr_free(e->histogram);
        return -1;
    }
    c->e[c->n++] = *e;
    return 0;
}

/* We read the .hlog written by hdr-histogram-js's HistogramLogWriter. */
static void test_we_read_js_hlog(void **state)
{
    (void)state;
    const char *text = str(result, "jsHlog");
    hdr_log_reader_t r;
    hdr_log_reader_init(&r);
    entries_t c = {0};
    char err[256] = "";
    int rc = hdr_log_read_text(&r, text, strlen(text), keep_entry, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("reading hdr-histogram-js .hlog: %s\n%s", err, text);
    assert_int_equal(c.n, N_RECIPES);
    assert_true(r.has_version);
    assert_close(r.start_time_s, START_TIME_MS / 1000.0, 1e-15, "StartTime");
    for (int i = 0; i < N_RECIPES; i++) {
        assert_string_equal(c.e[i].tag, recipes[i].tag != NULL ? recipes[i].tag : "");
        assert_close(c.e[i].start_s, START_TIME_MS / 1000.0 + i, 1e-12, "start");
        assert_true(c.e[i].length_s == 1.0);
        hdr_histogram_t *expect = recipe_histogram(&recipes[i]);
        assert_memory_equal(c.e[i].histogram->counts, expect->counts,
                            (size_t)expect->counts_len * sizeof(int64_t));
        hdr_free(expect);
        hdr_free(c.e[i].histogram);
    }
}

int main(void)
{
    mcp_alloc_init();
    find_source_dir();
    build_fixtures();
    int rc = run_js();
    if (rc == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_js_decodes_ours),
            cmocka_unit_test(test_js_reads_our_hlog),
            cmocka_unit_test(test_we_decode_js),
            cmocka_unit_test(test_we_read_js_hlog),
        };
        rc = cmocka_run_group_tests(tests, NULL, NULL);
        cJSON_Delete(result);
        cleanup_tmp();
    }
    for (int i = 0; i < N_HIST; i++)
        hdr_free(ours[i]);
    for (int i = 0; i < N_INTERVALS; i++)
        hdr_free(intervals[i]);
    return rc;
}
