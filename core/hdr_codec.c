/* hdr_codec: see hdr_codec.h. Written from the published format description (HARNESS-BRIEF 1.6). */
#include "hdr_codec.h"

#include "alloc.h"
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* Cookie bases with the "word size" nibble (bits 4-7) cleared, as every reader compares them. */
#define COOKIE_MASK        (~(uint32_t)0xf0)
#define V2_ENCODING_BASE   0x1c849303u
#define V2_COMPRESSED_BASE 0x1c849304u
#define V1_ENCODING_BASE   0x1c849301u
#define V1_COMPRESSED_BASE 0x1c849302u
#define V0_ENCODING_BASE   0x1c849308u
#define V0_COMPRESSED_BASE 0x1c849309u
#define DOUBLE_ENC_BASE    (0x0c72124eu & COOKIE_MASK)
#define DOUBLE_COMP_BASE   (0x0c72124fu & COOKIE_MASK)

/* Streaming chunk for the payload: decoding never allocates in proportion to what the input
 * claims, only to the (validated) histogram layout. */
#define PAYLOAD_CHUNK 4096

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

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return mcp_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf ptr)
{
    (void)opaque;
    mcp_free(ptr);
}

/* ---- ZigZag LEB128-64b9B ---- */

size_t hdr_zigzag_encode(int64_t value, uint8_t out[HDR_ZIGZAG_MAX_BYTES])
{
    uint64_t u = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    for (size_t i = 0; i < 8; i++) {
        if (u < 0x80) {
            out[i] = (uint8_t)u;
            return i + 1;
        }
        out[i] = (uint8_t)((u & 0x7f) | 0x80);
        u >>= 7;
    }
    /* After 56 bits the ninth byte carries the last 8 bits whole, without a continuation flag. */
    out[8] = (uint8_t)u;
    return 9;
}

size_t hdr_zigzag_decode(const uint8_t *in, size_t avail, int64_t *value)
{
    uint64_t u = 0;
    size_t i;
    for (i = 0; i < 8; i++) {
        if (i >= avail)
            return 0;
        u |= (uint64_t)(in[i] & 0x7f) << (7 * i);
        if ((in[i] & 0x80) == 0)
            break;
    }
    if (i == 8) {
        if (avail < 9)
            return 0;
        u |= (uint64_t)in[8] << 56;
    }
    *value = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
    return i == 8 ? 9 : i + 1;
}

/* ---- base64 ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t hdr_base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t hdr_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t need = hdr_base64_encoded_len(n);
    if (cap < need + 1)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int hdr_base64_decode(const char *in, size_t n, uint8_t **out, size_t *out_len, char *err,
                      size_t err_cap)
{
    *out = NULL;
    *out_len = 0;
    if (n == 0 || n % 4 != 0) {
        set_err(err, err_cap, "base64: length %zu is not a positive multiple of 4", n);
        return MCP_EPARSE;
    }
    size_t pad = 0;
    if (in[n - 1] == '=')
        pad = in[n - 2] == '=' ? 2 : 1;
    uint8_t *buf = mcp_malloc(n / 4 * 3);
    if (buf == NULL) {
        set_err(err, err_cap, "base64: out of memory");
        return MCP_ENOMEM;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        bool last = i + 4 == n;
        for (size_t k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            int d = b64_value(c);
            if (d < 0 && !(c == '=' && last && k >= 4 - pad)) {
                set_err(err, err_cap, "base64: invalid character 0x%02x at offset %zu", c, i + k);
                mcp_free(buf);
                return MCP_EPARSE;
            }
            v = v << 6 | (uint32_t)(d < 0 ? 0 : d);
        }
        buf[o++] = (uint8_t)(v >> 16);
        if (!last || pad < 2)
            buf[o++] = (uint8_t)(v >> 8);
        if (!last || pad < 1)
            buf[o++] = (uint8_t)v;
    }
    *out = buf;
    *out_len = o;
    return 0;
}

/* ---- encoding ---- */

int hdr_encode_uncompressed(const hdr_histogram_t *h, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    int32_t limit = h->max_value > 0 ? hdr_counts_index_for(h, h->max_value) + 1 : 1;
    if (limit > h->counts_len || limit < 1)
        limit = h->counts_len;
    uint8_t *buf = mcp_malloc(HDR_ENCODING_HEADER_SIZE + (size_t)limit * HDR_ZIGZAG_MAX_BYTES);
    if (buf == NULL)
        return MCP_ENOMEM;
    size_t pos = HDR_ENCODING_HEADER_SIZE;
    for (int32_t i = 0; i < limit;) {
        int64_t c = h->counts[i++];
        if (c < 0) {
            mcp_free(buf);
            return MCP_EINVAL;
        }
        int64_t word = c;
        if (c == 0) {
            int64_t zeros = 1;
            while (i < limit && h->counts[i] == 0) {
                zeros++;
                i++;
            }
            /* A lone zero is written as 0 (as Java and JS do); longer runs as -run. */
            word = zeros > 1 ? -zeros : 0;
        }
        pos += hdr_zigzag_encode(word, buf + pos);
    }
    size_t payload = pos - HDR_ENCODING_HEADER_SIZE;
    put_u32(buf, HDR_V2_ENCODING_COOKIE);
    put_u32(buf + 4, (uint32_t)payload);
    put_u32(buf + 8, 0); /* normalizing index offset */
    put_u32(buf + 12, (uint32_t)h->significant_figures);
    put_u64(buf + 16, (uint64_t)h->lowest_discernible_value);
    put_u64(buf + 24, (uint64_t)h->highest_trackable_value);
    double ratio = 1.0;
    uint64_t ratio_bits;
    memcpy(&ratio_bits, &ratio, sizeof(ratio_bits));
    put_u64(buf + 32, ratio_bits);
    *out = buf;
    *out_len = pos;
    return 0;
}

int hdr_encode_compressed(const hdr_histogram_t *h, int level, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (level < -1 || level > 9)
        return MCP_EINVAL;
    uint8_t *raw;
    size_t raw_len;
    int rc = hdr_encode_uncompressed(h, &raw, &raw_len);
    if (rc != 0)
        return rc;

    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    if (deflateInit(&zs, level) != Z_OK) {
        mcp_free(raw);
        return MCP_ENOMEM;
    }
    size_t bound = deflateBound(&zs, (uLong)raw_len);
    uint8_t *buf = mcp_malloc(HDR_COMPRESSED_HEADER_SIZE + bound);
    if (buf == NULL) {
        deflateEnd(&zs);
        mcp_free(raw);
        return MCP_ENOMEM;
    }
    zs.next_in = raw;
    zs.avail_in = (uInt)raw_len;
    zs.next_out = buf + HDR_COMPRESSED_HEADER_SIZE;
    zs.avail_out = (uInt)bound;
    int zrc = deflate(&zs, Z_FINISH);
    size_t zlen = zs.total_out;
    deflateEnd(&zs);
    mcp_free(raw);
    if (zrc != Z_STREAM_END) {
        mcp_free(buf);
        return zrc == Z_MEM_ERROR ? MCP_ENOMEM : MCP_EINVAL;
    }
    put_u32(buf, HDR_V2_COMPRESSED_COOKIE);
    put_u32(buf + 4, (uint32_t)zlen); /* the actual length, never the bound */
    *out = buf;
    *out_len = HDR_COMPRESSED_HEADER_SIZE + zlen;
    return 0;
}

int hdr_encode_base64(const hdr_histogram_t *h, int level, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    uint8_t *bin;
    size_t bin_len;
    int rc = hdr_encode_compressed(h, level, &bin, &bin_len);
    if (rc != 0)
        return rc;
    size_t cap = hdr_base64_encoded_len(bin_len) + 1;
    char *text = mcp_malloc(cap);
    if (text == NULL) {
        mcp_free(bin);
        return MCP_ENOMEM;
    }
    size_t n = hdr_base64_encode(bin, bin_len, text, cap);
    mcp_free(bin);
    *out = text;
    if (out_len != NULL)
        *out_len = n;
    return 0;
}

/* ---- decoding ---- */

/* Where the 40-byte header and payload come from: the caller's bytes, or a zlib stream over them.
 */
typedef struct {
    z_stream *zs;
    const uint8_t *raw;
    size_t raw_len, raw_pos;
} source_t;

/* Read exactly n bytes (n > 0). 0, or MCP_EPARSE with a reason when fewer are available. */
static int source_read(source_t *s, uint8_t *dst, size_t n, const char *what, char *err,
                       size_t err_cap)
{
    if (s->zs == NULL) {
        if (s->raw_len - s->raw_pos < n) {
            set_err(err, err_cap, "truncated %s: need %zu bytes, %zu left", what, n,
                    s->raw_len - s->raw_pos);
            return MCP_EPARSE;
        }
        memcpy(dst, s->raw + s->raw_pos, n);
        s->raw_pos += n;
        return 0;
    }
    z_stream *zs = s->zs;
    zs->next_out = dst;
    zs->avail_out = (uInt)n;
    while (zs->avail_out > 0) {
        int zrc = inflate(zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END || (zrc == Z_BUF_ERROR && zs->avail_in == 0)) {
            if (zs->avail_out == 0)
                break;
            set_err(err, err_cap, "truncated %s: compressed data ends %u bytes short", what,
                    zs->avail_out);
            return MCP_EPARSE;
        }
        if (zrc == Z_MEM_ERROR) {
            set_err(err, err_cap, "zlib: out of memory");
            return MCP_ENOMEM;
        }
        if (zrc != Z_OK) {
            set_err(err, err_cap, "corrupt zlib stream in %s: %s", what,
                    zs->msg != NULL ? zs->msg : "error");
            return MCP_EPARSE;
        }
    }
    return 0;
}

/* After the payload: nothing may follow (checking the stream end also verifies zlib's Adler-32,
 * which catches corruption the payload structure alone would not). */
static int source_expect_end(source_t *s, char *err, size_t err_cap)
{
    if (s->zs == NULL) {
        if (s->raw_pos != s->raw_len) {
            set_err(err, err_cap, "%zu unexpected bytes after the payload",
                    s->raw_len - s->raw_pos);
            return MCP_EPARSE;
        }
        return 0;
    }
    uint8_t extra;
    z_stream *zs = s->zs;
    zs->next_out = &extra;
    zs->avail_out = 1;
    int zrc = inflate(zs, Z_FINISH);
    if (zrc == Z_STREAM_END && zs->avail_out == 1) {
        if (zs->avail_in != 0) {
            set_err(err, err_cap, "%u unexpected bytes after the zlib stream", zs->avail_in);
            return MCP_EPARSE;
        }
        return 0;
    }
    if (zs->avail_out == 0) {
        set_err(err, err_cap, "unexpected data after the payload in the zlib stream");
        return MCP_EPARSE;
    }
    if (zrc == Z_MEM_ERROR) {
        set_err(err, err_cap, "zlib: out of memory");
        return MCP_ENOMEM;
    }
    set_err(err, err_cap, "corrupt or truncated zlib stream: %s",
            zs->msg != NULL ? zs->msg : "missing end of stream");
    return MCP_EPARSE;
}

static int apply_word(hdr_histogram_t *h, int32_t *index, int64_t word, char *err, size_t err_cap)
{
    if (word < 0) {
        int64_t room = (int64_t)h->counts_len - *index;
        if (word == INT64_MIN || -word > room) {
            set_err(err, err_cap, "zero run of %lld at index %d runs past the %d counts",
                    (long long)word == INT64_MIN ? 0 : -(long long)word, *index, h->counts_len);
            return MCP_EPARSE;
        }
        *index += (int32_t)-word;
        return 0;
    }
    if (*index >= h->counts_len) {
        set_err(err, err_cap, "count at index %d is past the %d counts", *index, h->counts_len);
        return MCP_EPARSE;
    }
    h->counts[(*index)++] = word;
    return 0;
}

static int decode_payload(source_t *src, hdr_histogram_t *h, size_t payload_len, char *err,
                          size_t err_cap)
{
    uint8_t buf[PAYLOAD_CHUNK + HDR_ZIGZAG_MAX_BYTES];
    size_t carry = 0, remaining = payload_len;
    int32_t index = 0;
    while (remaining > 0) {
        size_t want = remaining < PAYLOAD_CHUNK ? remaining : PAYLOAD_CHUNK;
        int rc = source_read(src, buf + carry, want, "payload", err, err_cap);
        if (rc != 0)
            return rc;
        remaining -= want;
        size_t avail = carry + want, pos = 0;
        while (pos < avail) {
            int64_t word;
            size_t used = hdr_zigzag_decode(buf + pos, avail - pos, &word);
            if (used == 0)
                break; /* the word continues in the next chunk */
            rc = apply_word(h, &index, word, err, err_cap);
            if (rc != 0)
                return rc;
            pos += used;
        }
        carry = avail - pos;
        memmove(buf, buf + pos, carry);
    }
    if (carry != 0) {
        set_err(err, err_cap, "payload ends inside a counts word");
        return MCP_EPARSE;
    }
    return 0;
}

/* Shared by both forms: 40-byte header, payload, end check, statistics. */
static int decode_inner(source_t *src, hdr_histogram_t **out, char *err, size_t err_cap)
{
    uint8_t hdr[HDR_ENCODING_HEADER_SIZE];
    int rc = source_read(src, hdr, sizeof(hdr), "header", err, err_cap);
    if (rc != 0)
        return rc;
    uint32_t cookie = get_u32(hdr);
    if ((cookie & COOKIE_MASK) != V2_ENCODING_BASE) {
        set_err(err, err_cap, "inner cookie 0x%08x is not a V2 encoding cookie", cookie);
        return (cookie & COOKIE_MASK) == V1_ENCODING_BASE ? MCP_EUNSUPPORTED : MCP_EPARSE;
    }
    int32_t payload_len = (int32_t)get_u32(hdr + 4);
    /* hdr + 8 (normalizing index offset) and hdr + 32 (value conversion ratio) do not change
     * integer counts; hdr-histogram-js writes 1 and an int64 1 there, so both are tolerated. */
    int32_t sigfigs = (int32_t)get_u32(hdr + 12);
    int64_t lowest = (int64_t)get_u64(hdr + 16);
    int64_t highest = (int64_t)get_u64(hdr + 24);
    if (payload_len < 0) {
        set_err(err, err_cap, "negative payload length %d", payload_len);
        return MCP_EPARSE;
    }
    char why[160];
    hdr_histogram_t layout;
    rc = hdr_calculate_layout(lowest, highest, sigfigs, &layout, why, sizeof(why));
    if (rc != 0) {
        set_err(err, err_cap, "bad histogram parameters in header: %s", why);
        return rc;
    }
    if ((int64_t)payload_len > (int64_t)layout.counts_len * HDR_ZIGZAG_MAX_BYTES) {
        set_err(err, err_cap, "payload length %d exceeds the %lld bytes %d counts can need",
                payload_len, (long long)layout.counts_len * HDR_ZIGZAG_MAX_BYTES,
                layout.counts_len);
        return MCP_EPARSE;
    }
    hdr_histogram_t *h;
    rc = hdr_init(lowest, highest, sigfigs, &h, why, sizeof(why));
    if (rc != 0) {
        set_err(err, err_cap, "%s", why);
        return rc;
    }
    rc = decode_payload(src, h, (size_t)payload_len, err, err_cap);
    if (rc == 0)
        rc = source_expect_end(src, err, err_cap);
    if (rc == 0 && (rc = hdr_recompute_stats(h)) != 0)
        set_err(err, err_cap, "counts add up to more than INT64_MAX");
    if (rc != 0) {
        hdr_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

int hdr_decode(const uint8_t *data, size_t len, hdr_histogram_t **out, char *err, size_t err_cap)
{
    *out = NULL;
    if (len < 4) {
        set_err(err, err_cap, "truncated: %zu bytes is too short for a histogram", len);
        return MCP_EPARSE;
    }
    uint32_t cookie = get_u32(data) & COOKIE_MASK;
    source_t src = {.raw = data, .raw_len = len};
    if (cookie == V2_ENCODING_BASE)
        return decode_inner(&src, out, err, err_cap);
    if (cookie != V2_COMPRESSED_BASE) {
        const char *kind = NULL;
        if (cookie == V1_ENCODING_BASE || cookie == V1_COMPRESSED_BASE)
            kind = "V1";
        else if (cookie == V0_ENCODING_BASE || cookie == V0_COMPRESSED_BASE)
            kind = "V0";
        else if (cookie == DOUBLE_ENC_BASE || cookie == DOUBLE_COMP_BASE)
            kind = "DoubleHistogram";
        if (kind != NULL) {
            set_err(err, err_cap, "%s encoding is not supported (only V2)", kind);
            return MCP_EUNSUPPORTED;
        }
        set_err(err, err_cap, "unknown cookie 0x%08x (not an HdrHistogram encoding)",
                get_u32(data));
        return MCP_EPARSE;
    }

    if (len < HDR_COMPRESSED_HEADER_SIZE) {
        set_err(err, err_cap, "truncated compressed header: %zu of 8 bytes", len);
        return MCP_EPARSE;
    }
    int32_t zlen = (int32_t)get_u32(data + 4);
    size_t have = len - HDR_COMPRESSED_HEADER_SIZE;
    if (zlen <= 0 || (size_t)zlen > have) {
        set_err(err, err_cap, "compressed length %d does not fit the %zu bytes present", zlen,
                have);
        return MCP_EPARSE;
    }
    if ((size_t)zlen < have) {
        set_err(err, err_cap, "%zu unexpected bytes after the %d-byte compressed histogram",
                have - (size_t)zlen, zlen);
        return MCP_EPARSE;
    }
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    zs.next_in = (Bytef *)(uintptr_t)(data + HDR_COMPRESSED_HEADER_SIZE);
    zs.avail_in = (uInt)zlen;
    /* windowBits 15: a zlib (RFC 1950) wrapper only, as Java's Inflater and node's inflate
     * require; raw deflate or gzip would not decode elsewhere, so they are not accepted here. */
    int zrc = inflateInit(&zs);
    if (zrc != Z_OK) {
        set_err(err, err_cap, "zlib: cannot initialise inflate");
        return zrc == Z_MEM_ERROR ? MCP_ENOMEM : MCP_EPARSE;
    }
    src.zs = &zs;
    int rc = decode_inner(&src, out, err, err_cap);
    inflateEnd(&zs);
    return rc;
}

int hdr_decode_base64(const char *text, size_t len, hdr_histogram_t **out, char *err,
                      size_t err_cap)
{
    *out = NULL;
    uint8_t *bin;
    size_t bin_len;
    int rc = hdr_base64_decode(text, len, &bin, &bin_len, err, err_cap);
    if (rc != 0)
        return rc;
    rc = hdr_decode(bin, bin_len, out, err, err_cap);
    mcp_free(bin);
    return rc;
}
