/* Unit tests for hdr_codec: the brief's ZigZag vectors and full test vector, round trips across
 * layouts and zlib levels, and hostile input (truncation, corruption, bad lengths, wrong cookies,
 * allocation failure) rejected with clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "hdr_codec.h"
#include "hdr_histogram.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define REFERENCE_B64 "HISTFAAAACh42pNpmSzMwMDAyQABzFCaEURcm7yEwf4DVITpND/T+3mMLACGsAcA"

static const uint8_t VECTOR_RAW[] = {0x1c, 0x84, 0x93, 0x13, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xd6, 0x93,
                                     0xa4, 0x00, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                     /* payload */
                                     0x00, 0x02, 0xcb, 0x0f, 0x02, 0xef, 0x9e, 0x01, 0x04};

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

static void assert_same_histogram(const hdr_histogram_t *a, const hdr_histogram_t *b)
{
    assert_int_equal(a->lowest_discernible_value, b->lowest_discernible_value);
    assert_int_equal(a->highest_trackable_value, b->highest_trackable_value);
    assert_int_equal(a->significant_figures, b->significant_figures);
    assert_int_equal(a->counts_len, b->counts_len);
    assert_memory_equal(a->counts, b->counts, (size_t)a->counts_len * sizeof(int64_t));
    assert_int_equal(hdr_total_count(a), hdr_total_count(b));
    assert_int_equal(hdr_max(a), hdr_max(b));
    assert_int_equal(hdr_min(a), hdr_min(b));
    assert_true(hdr_mean(a) == hdr_mean(b));
}

/* Decode must fail with code and a message containing needle, and leave *out NULL. */
static void expect_reject(const uint8_t *data, size_t len, int code, const char *needle)
{
    hdr_histogram_t *h = (hdr_histogram_t *)1;
    char err[256] = "";
    int rc = hdr_decode(data, len, &h, err, sizeof(err));
    if (rc != code)
        fail_msg("expected %s, got %s (%s)", mcp_err_name(code), mcp_err_name(rc), err);
    assert_null(h);
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", err, needle);
}

static void expect_reject_b64(const char *text, int code, const char *needle)
{
    hdr_histogram_t *h = (hdr_histogram_t *)1;
    char err[256] = "";
    int rc = hdr_decode_base64(text, strlen(text), &h, err, sizeof(err));
    if (rc != code)
        fail_msg("'%s': expected %s, got %s (%s)", text, mcp_err_name(code), mcp_err_name(rc), err);
    assert_null(h);
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", err, needle);
}

/* Brief 1.6 ZigZag-LEB128 table. */
static void test_zigzag_vectors(void **state)
{
    (void)state;
    static const struct {
        int64_t n;
        uint8_t bytes[9];
        size_t len;
    } rows[] = {
        {0, {0x00}, 1},
        {-1, {0x01}, 1},
        {1, {0x02}, 1},
        {-2, {0x03}, 1},
        {2, {0x04}, 1},
        {63, {0x7e}, 1},
        {-64, {0x7f}, 1},
        {64, {0x80, 0x01}, 2},
        {-65, {0x81, 0x01}, 2},
        {300, {0xd8, 0x04}, 2},
        {-1000, {0xcf, 0x0f}, 2},
        {INT64_C(1) << 31, {0x80, 0x80, 0x80, 0x80, 0x10}, 5},
        {INT64_C(1) << 56, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}, 9},
        {-(INT64_C(1) << 62), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 9},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint8_t out[HDR_ZIGZAG_MAX_BYTES];
        size_t n = hdr_zigzag_encode(rows[i].n, out);
        assert_int_equal(n, rows[i].len);
        assert_memory_equal(out, rows[i].bytes, n);
        int64_t back = 0;
        assert_int_equal(hdr_zigzag_decode(rows[i].bytes, rows[i].len, &back), rows[i].len);
        assert_int_equal(back, rows[i].n);
        /* One byte short is a truncated word. */
        assert_int_equal(hdr_zigzag_decode(rows[i].bytes, rows[i].len - 1, &back), 0);
    }
    /* Extremes round-trip. */
    int64_t extremes[] = {INT64_MAX, INT64_MIN, INT64_MIN + 1, (INT64_C(1) << 56) - 1};
    for (size_t i = 0; i < 4; i++) {
        uint8_t out[9];
        int64_t back;
        size_t n = hdr_zigzag_encode(extremes[i], out);
        assert_int_equal(hdr_zigzag_decode(out, n, &back), n);
        assert_int_equal(back, extremes[i]);
    }
}

static void test_base64(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[32];
        size_t n = hdr_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), out, sizeof(out));
        assert_int_equal(n, strlen(coded[i]));
        assert_string_equal(out, coded[i]);
        if (i == 0)
            continue;
        uint8_t *bin;
        size_t bin_len;
        assert_int_equal(hdr_base64_decode(coded[i], strlen(coded[i]), &bin, &bin_len, NULL, 0), 0);
        assert_int_equal(bin_len, strlen(plain[i]));
        assert_memory_equal(bin, plain[i], bin_len);
        mcp_free(bin);
    }
    char small[4];
    assert_int_equal(hdr_base64_encode((const uint8_t *)"foo", 3, small, sizeof(small)), 0);

    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"Zg=", "multiple of 4"},          {"Zm9vY", "multiple of 4"},
        {"Zm=v", "invalid character"},     {"=m9v", "invalid character"},
        {"Zm9v\nYg==", "multiple of 4"},   {"Zm9 ", "invalid character"},
        {"Zg==Zg==", "invalid character"}, {"Z===", "invalid character"},
        {"Zm9v-g==", "invalid character"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *bin = (uint8_t *)1;
        size_t bin_len = 7;
        char err[128] = "";
        assert_int_equal(
            hdr_base64_decode(bad[i].text, strlen(bad[i].text), &bin, &bin_len, err, sizeof(err)),
            MCP_EPARSE);
        assert_null(bin);
        if (strstr(err, bad[i].needle) == NULL)
            fail_msg("'%s': error '%s' lacks '%s'", bad[i].text, err, bad[i].needle);
    }
}

/* Brief 1.6 full test vector: exact uncompressed bytes, and the reference base64 decodes. */
static void test_full_vector(void **state)
{
    (void)state;
    hdr_histogram_t *h = vector_histogram();
    uint8_t *raw;
    size_t raw_len;
    assert_int_equal(hdr_encode_uncompressed(h, &raw, &raw_len), 0);
    assert_int_equal(raw_len, sizeof(VECTOR_RAW));
    assert_memory_equal(raw, VECTOR_RAW, raw_len);
    mcp_free(raw);

    hdr_histogram_t *d = NULL;
    char err[256] = "";
    assert_int_equal(hdr_decode_base64(REFERENCE_B64, strlen(REFERENCE_B64), &d, err, sizeof(err)),
                     0);
    assert_int_equal(hdr_total_count(d), 4);
    assert_int_equal(hdr_max(d), 1000447);
    assert_int_equal(hdr_min(d), 1);
    assert_int_equal(hdr_value_at_percentile(d, 50.0), 1000);
    assert_int_equal(hdr_value_at_percentile(d, 100.0), 1000447);
    assert_true(hdr_mean(d) == 500346.25);
    assert_true(fabs(hdr_stddev(d) - 499845.875) < 0.001);
    assert_same_histogram(h, d);
    hdr_free(d);

    /* The uncompressed form decodes too. */
    assert_int_equal(hdr_decode(VECTOR_RAW, sizeof(VECTOR_RAW), &d, err, sizeof(err)), 0);
    assert_same_histogram(h, d);
    hdr_free(d);

    /* Our compressed forms: the wrapper, the zlib header of the level, and the "HISTF" prefix. */
    static const struct {
        int level;
        uint8_t zhdr2;
        const char *b64_prefix;
    } levels[] = {{9, 0xda, "HISTFAAAA"}, {6, 0x9c, "HISTFAAAA"}, {1, 0x01, "HISTFAAAA"}};
    for (size_t i = 0; i < 3; i++) {
        uint8_t *bin;
        size_t bin_len;
        assert_int_equal(hdr_encode_compressed(h, levels[i].level, &bin, &bin_len), 0);
        assert_int_equal(bin[0], 0x1c);
        assert_int_equal(bin[3], 0x14);
        uint32_t zlen = (uint32_t)bin[4] << 24 | bin[5] << 16 | bin[6] << 8 | bin[7];
        assert_int_equal(zlen, bin_len - 8);
        assert_int_equal(bin[8], 0x78);
        assert_int_equal(bin[9], levels[i].zhdr2);
        mcp_free(bin);
        char *text;
        size_t text_len;
        assert_int_equal(hdr_encode_base64(h, levels[i].level, &text, &text_len), 0);
        assert_int_equal(strlen(text), text_len);
        assert_int_equal(text_len % 4, 0);
        assert_memory_equal(text, levels[i].b64_prefix, strlen(levels[i].b64_prefix));
        assert_int_equal(hdr_decode_base64(text, text_len, &d, err, sizeof(err)), 0);
        assert_same_histogram(h, d);
        hdr_free(d);
        mcp_free(text);
    }
    /* With zlib 1.2.13 at level 9 we reproduce the reference blob byte for byte. */
    char *text;
    assert_int_equal(hdr_encode_base64(h, 9, &text, NULL), 0);
    if (strcmp(zlibVersion(), "1.2.13") == 0)
        assert_string_equal(text, REFERENCE_B64);
    mcp_free(text);
    assert_int_equal(hdr_encode_compressed(h, 10, (uint8_t **)&text, &(size_t){0}), MCP_EINVAL);
    hdr_free(h);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void round_trip(const hdr_histogram_t *h, int level)
{
    char *text;
    size_t text_len;
    assert_int_equal(hdr_encode_base64(h, level, &text, &text_len), 0);
    assert_memory_equal(text, "HISTF", 5);
    hdr_histogram_t *d = NULL;
    char err[256] = "";
    int rc = hdr_decode_base64(text, text_len, &d, err, sizeof(err));
    if (rc != 0)
        fail_msg("decode: %s", err);
    assert_same_histogram(h, d);
    /* Re-encoding the decoded histogram gives the same bytes. */
    char *again;
    assert_int_equal(hdr_encode_base64(d, level, &again, NULL), 0);
    assert_string_equal(text, again);
    mcp_free(again);
    hdr_free(d);
    mcp_free(text);
}

static void test_round_trips(void **state)
{
    (void)state;
    static const struct {
        int64_t l, h;
        int s;
    } configs[] = {
        {1, 3600000000LL, 3}, {1, 3600000000000LL, 3}, {1000, 3600000000000LL, 3},
        {1, 60000000LL, 2},   {1, 3600000000LL, 1},    {1, 3600000000LL, 5},
        {7, 1000000000LL, 4}, {1, INT64_MAX, 3},       {10, 20, 1},
    };
    for (size_t c = 0; c < sizeof(configs) / sizeof(configs[0]); c++) {
        hdr_histogram_t *h = make(configs[c].l, configs[c].h, configs[c].s);
        round_trip(h, 6); /* empty */
        assert_int_equal(hdr_record_value(h, 0), 0);
        round_trip(h, 6); /* only a zero */
        for (int i = 0; i < 5000; i++) {
            /* log-uniform values over the whole range, plus large counts */
            int bits = (int)(rng() % 63);
            int64_t v = (int64_t)(rng() & ((UINT64_C(1) << bits) - 1));
            if (v > configs[c].h)
                v = configs[c].h;
            int64_t n = (i % 97 == 0) ? (int64_t)(rng() >> 8) : 1 + (int64_t)(rng() % 3);
            assert_int_equal(hdr_record_values(h, v, n), 0);
        }
        assert_int_equal(hdr_record_value(h, configs[c].h), 0);
        for (int level = 0; level <= 9; level += 3)
            round_trip(h, level);
        hdr_free(h);
    }
}

/* A valid compressed blob of the test vector (level 9) for the corruption tests. */
static uint8_t *vector_compressed(size_t *len)
{
    hdr_histogram_t *h = vector_histogram();
    uint8_t *bin;
    assert_int_equal(hdr_encode_compressed(h, 9, &bin, len), 0);
    hdr_free(h);
    return bin;
}

/* Compress arbitrary inner bytes into the V2 wrapper (for hand-made hostile payloads). */
static uint8_t *wrap(const uint8_t *inner, size_t n, size_t *len)
{
    uLongf zlen = compressBound((uLong)n);
    uint8_t *out = malloc(8 + zlen);
    assert_non_null(out);
    assert_int_equal(compress2(out + 8, &zlen, inner, (uLong)n, 9), Z_OK);
    out[0] = 0x1c, out[1] = 0x84, out[2] = 0x93, out[3] = 0x14;
    out[4] = (uint8_t)(zlen >> 24), out[5] = (uint8_t)(zlen >> 16);
    out[6] = (uint8_t)(zlen >> 8), out[7] = (uint8_t)zlen;
    *len = 8 + zlen;
    return out;
}

/* The test vector's header with another payload length and payload. */
static size_t inner_with(uint8_t *dst, const uint8_t *payload, size_t n, int32_t declared)
{
    memcpy(dst, VECTOR_RAW, 40);
    dst[4] = (uint8_t)((uint32_t)declared >> 24);
    dst[5] = (uint8_t)((uint32_t)declared >> 16);
    dst[6] = (uint8_t)((uint32_t)declared >> 8);
    dst[7] = (uint8_t)declared;
    memcpy(dst + 40, payload, n);
    return 40 + n;
}

static void expect_inner_reject(const uint8_t *payload, size_t n, int32_t declared, int code,
                                const char *needle)
{
    uint8_t inner[256];
    size_t inner_len = inner_with(inner, payload, n, declared);
    /* Both as the uncompressed encoding and wrapped in zlib. */
    expect_reject(inner, inner_len, code, needle);
    size_t len;
    uint8_t *bin = wrap(inner, inner_len, &len);
    expect_reject(bin, len, code, needle);
    free(bin);
}

static void test_hostile_payloads(void **state)
{
    (void)state;
    /* zero run past the end: -23552 at index 0 is fine, -23553 is not */
    uint8_t buf[2 * HDR_ZIGZAG_MAX_BYTES];
    size_t n = hdr_zigzag_encode(-23553, buf);
    expect_inner_reject(buf, n, (int32_t)n, MCP_EPARSE, "runs past");
    n = hdr_zigzag_encode(-23552, buf);
    n += hdr_zigzag_encode(5, buf + n);
    expect_inner_reject(buf, n, (int32_t)n, MCP_EPARSE, "past the 23552 counts");
    n = hdr_zigzag_encode(INT64_MIN, buf);
    expect_inner_reject(buf, n, (int32_t)n, MCP_EPARSE, "runs past");
    /* word cut off at the end of the payload */
    static const uint8_t cut[] = {0x02, 0x80, 0x80};
    expect_inner_reject(cut, sizeof(cut), 3, MCP_EPARSE, "inside a counts word");
    /* payload longer than declared (trailing bytes) */
    expect_inner_reject(VECTOR_RAW + 40, 9, 8, MCP_EPARSE, "after the payload");
    expect_inner_reject(VECTOR_RAW + 40, 9, 7, MCP_EPARSE, "inside a counts word");
    /* payload shorter than declared */
    expect_inner_reject(VECTOR_RAW + 40, 9, 10, MCP_EPARSE, "truncated payload");
    /* negative and absurd payload lengths */
    expect_inner_reject(VECTOR_RAW + 40, 9, -1, MCP_EPARSE, "negative payload length");
    expect_inner_reject(VECTOR_RAW + 40, 9, INT32_MAX, MCP_EPARSE, "exceeds");
    /* counts that sum past INT64_MAX */
    n = hdr_zigzag_encode(INT64_MAX, buf);
    n += hdr_zigzag_encode(INT64_MAX, buf + n);
    expect_inner_reject(buf, n, (int32_t)n, MCP_ENOBUFS, "INT64_MAX");

    /* bad parameters in the header */
    uint8_t inner[64];
    memcpy(inner, VECTOR_RAW, sizeof(VECTOR_RAW));
    inner[15] = 0; /* S = 0 */
    expect_reject(inner, sizeof(VECTOR_RAW), MCP_EINVAL, "significant figures");
    memcpy(inner, VECTOR_RAW, sizeof(VECTOR_RAW));
    inner[23] = 0; /* L = 0 */
    expect_reject(inner, sizeof(VECTOR_RAW), MCP_EINVAL, "lowest discernible");
    memcpy(inner, VECTOR_RAW, sizeof(VECTOR_RAW));
    memset(inner + 24, 0, 8); /* H = 0 */
    expect_reject(inner, sizeof(VECTOR_RAW), MCP_EINVAL, "highest trackable");
    memcpy(inner, VECTOR_RAW, sizeof(VECTOR_RAW));
    memset(inner + 24, 0xff, 8); /* H < 0 */
    expect_reject(inner, sizeof(VECTOR_RAW), MCP_EINVAL, "highest trackable");

    /* Tolerated: hdr-histogram-js's normalizing offset 1 and int64 ratio 1; cookie nibble 0. */
    memcpy(inner, VECTOR_RAW, sizeof(VECTOR_RAW));
    inner[11] = 1;
    memset(inner + 32, 0, 8);
    inner[39] = 1;
    inner[3] = 0x03;
    size_t len;
    uint8_t *bin = wrap(inner, sizeof(VECTOR_RAW), &len);
    bin[3] = 0x04;
    hdr_histogram_t *d = NULL;
    char err[256] = "";
    assert_int_equal(hdr_decode(bin, len, &d, err, sizeof(err)), 0);
    assert_int_equal(hdr_total_count(d), 4);
    hdr_free(d);
    free(bin);
}

static void test_wrong_cookies(void **state)
{
    (void)state;
    uint8_t data[64];
    memcpy(data, VECTOR_RAW, sizeof(VECTOR_RAW));
    static const struct {
        uint32_t cookie;
        int code;
        const char *needle;
    } rows[] = {
        {0x1c849301, MCP_EUNSUPPORTED, "V1"},       {0x1c849302, MCP_EUNSUPPORTED, "V1"},
        {0x1c849312, MCP_EUNSUPPORTED, "V1"},       {0x1c849308, MCP_EUNSUPPORTED, "V0"},
        {0x1c849329, MCP_EUNSUPPORTED, "V0"},       {0x0c72124e, MCP_EUNSUPPORTED, "Double"},
        {0x0c72124f, MCP_EUNSUPPORTED, "Double"},   {0xdeadbeef, MCP_EPARSE, "unknown cookie"},
        {0x00000000, MCP_EPARSE, "unknown cookie"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        data[0] = (uint8_t)(rows[i].cookie >> 24);
        data[1] = (uint8_t)(rows[i].cookie >> 16);
        data[2] = (uint8_t)(rows[i].cookie >> 8);
        data[3] = (uint8_t)rows[i].cookie;
        expect_reject(data, sizeof(VECTOR_RAW), rows[i].code, rows[i].needle);
    }
    expect_reject(data, 3, MCP_EPARSE, "too short");
    expect_reject(data, 0, MCP_EPARSE, "too short");

    /* A compressed wrapper around a V1 inner cookie. */
    uint8_t inner[64];
    memcpy(inner, VECTOR_RAW, sizeof(VECTOR_RAW));
    inner[3] = 0x11;
    size_t len;
    uint8_t *bin = wrap(inner, sizeof(VECTOR_RAW), &len);
    expect_reject(bin, len, MCP_EUNSUPPORTED, "inner cookie");
    free(bin);
    /* The compressed cookie inside the compressed wrapper is not an encoding cookie. */
    inner[3] = 0x14;
    bin = wrap(inner, sizeof(VECTOR_RAW), &len);
    expect_reject(bin, len, MCP_EPARSE, "inner cookie");
    free(bin);
}

static void test_wrapper_errors(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bin = vector_compressed(&len);
    /* Every truncation is rejected, never read past. */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut + 1);
        memcpy(copy, bin, cut);
        hdr_histogram_t *d = (hdr_histogram_t *)1;
        char err[256] = "";
        int rc = hdr_decode(copy, cut, &d, err, sizeof(err));
        assert_int_equal(rc, MCP_EPARSE);
        assert_null(d);
        assert_true(err[0] != '\0');
        free(copy);
    }
    expect_reject(bin, 7, MCP_EPARSE, "truncated compressed header");
    expect_reject(bin, len - 1, MCP_EPARSE, "does not fit");

    /* Trailing garbage after the zlib stream. */
    uint8_t *longer = malloc(len + 3);
    memcpy(longer, bin, len);
    memcpy(longer + len, "xyz", 3);
    expect_reject(longer, len + 3, MCP_EPARSE, "unexpected bytes after");
    /* ... also when the length field claims it. */
    longer[7] = (uint8_t)(longer[7] + 3);
    expect_reject(longer, len + 3, MCP_EPARSE, "unexpected bytes after the zlib stream");
    free(longer);

    /* Zero / negative compressed lengths. */
    uint8_t *copy = malloc(len);
    memcpy(copy, bin, len);
    memset(copy + 4, 0, 4);
    expect_reject(copy, len, MCP_EPARSE, "compressed length 0");
    memset(copy + 4, 0xff, 4);
    expect_reject(copy, len, MCP_EPARSE, "compressed length -1");

    /* Single-bit corruption of the zlib stream is caught (structure or Adler-32). A flip may
     * only go unnoticed when the inflated bytes are unchanged (a back-reference distance that
     * copies equal bytes, an unused padding bit), and then the histogram must be the original. */
    hdr_histogram_t *orig = vector_histogram();
    int benign = 0, caught = 0;
    for (size_t i = 8; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, bin, len);
            copy[i] ^= (uint8_t)(1u << bit);
            hdr_histogram_t *d = NULL;
            char err[256] = "";
            if (hdr_decode(copy, len, &d, err, sizeof(err)) == 0) {
                assert_same_histogram(orig, d);
                hdr_free(d);
                benign++;
            } else {
                assert_null(d);
                assert_true(err[0] != '\0');
                caught++;
            }
        }
    }
    assert_true(caught > 10 * benign);
    hdr_free(orig);
    free(copy);

    /* Raw deflate and gzip streams are not zlib streams. */
    hdr_histogram_t *h = vector_histogram();
    uint8_t *raw;
    size_t raw_len;
    assert_int_equal(hdr_encode_uncompressed(h, &raw, &raw_len), 0);
    hdr_free(h);
    for (int wbits = -15; wbits <= 31; wbits += 46) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
        uint8_t out[256];
        zs.next_in = raw;
        zs.avail_in = (uInt)raw_len;
        zs.next_out = out + 8;
        zs.avail_out = sizeof(out) - 8;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        size_t zlen = zs.total_out;
        deflateEnd(&zs);
        memcpy(out, bin, 4);
        out[4] = 0, out[5] = 0, out[6] = (uint8_t)(zlen >> 8), out[7] = (uint8_t)zlen;
        expect_reject(out, 8 + zlen, MCP_EPARSE, "corrupt zlib stream");
    }
    mcp_free(raw);

    /* Base64 level errors come through hdr_decode_base64. */
    expect_reject_b64("HISTF", MCP_EPARSE, "base64");
    expect_reject_b64(
        "HISTFAAAACh42pNpmSzMwMDAyQABzFCaEURcm7yEwf4DVITpND/T+3mMLACGsAc=", MCP_EPARSE, NULL);
    expect_reject_b64("AAAAAAAA", MCP_EPARSE, "unknown cookie");
    mcp_free(bin);
}

/* Every allocation failure on the decode and encode paths is reported, and leaks nothing (the
 * ASan and valgrind runs check the latter). */
static void test_allocation_failures(void **state)
{
    (void)state;
    hdr_histogram_t *h = vector_histogram();
    char *text;
    size_t text_len;
    assert_int_equal(hdr_encode_base64(h, 9, &text, &text_len), 0);
    bool succeeded = false;
    for (long n = 0; n < 100 && !succeeded; n++) {
        hdr_histogram_t *d = NULL;
        char err[256] = "";
        mcp_alloc_fail_after(n);
        int rc = hdr_decode_base64(text, text_len, &d, err, sizeof(err));
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            assert_same_histogram(h, d);
            hdr_free(d);
            succeeded = true;
        } else {
            assert_int_equal(rc, MCP_ENOMEM);
            assert_null(d);
        }
    }
    assert_true(succeeded);
    succeeded = false;
    for (long n = 0; n < 100 && !succeeded; n++) {
        char *out = NULL;
        mcp_alloc_fail_after(n);
        int rc = hdr_encode_base64(h, 9, &out, NULL);
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            assert_string_equal(out, text);
            mcp_free(out);
            succeeded = true;
        } else {
            assert_int_equal(rc, MCP_ENOMEM);
            assert_null(out);
        }
    }
    assert_true(succeeded);
    mcp_free(text);
    hdr_free(h);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zigzag_vectors),   cmocka_unit_test(test_base64),
        cmocka_unit_test(test_full_vector),      cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_hostile_payloads), cmocka_unit_test(test_wrong_cookies),
        cmocka_unit_test(test_wrapper_errors),   cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
