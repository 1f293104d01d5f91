/* hdr_codec: the HdrHistogram V2 binary encoding, compressed and base64'd (brief 1.6).
 *
 * Encoding, outer to inner: base64 (standard alphabet, padded, no line breaks; always starts
 * "HISTF") -> 8-byte compressed wrapper (cookie 0x1c849314, int32 length, zlib RFC 1950 stream)
 * -> 40-byte header (cookie 0x1c849313, payload length, normalizing offset 0, S, L, H, ratio 1.0)
 * -> counts as ZigZag LEB128-64b9B words with runs of zeros folded into one negative word. All
 * integers are big-endian. The output decodes in HdrHistogram Java, hdr-histogram-js and
 * HdrHistogram_c; the V2 format carries no total count, so decoders recompute total/min/max.
 *
 * Decoding treats its input as hostile: every length is checked against what is available and
 * against the most a valid histogram of the declared layout could need, zlib output is bounded
 * before anything is allocated for it, words may not run past the counts array, counts may not be
 * negative or sum past INT64_MAX, and trailing payload bytes are rejected. Errors come back as a
 * code plus a one-line reason in the caller's err buffer (err may be NULL).
 * Accepted: V2 compressed (cookie nibble masked, as all references do) and V2 uncompressed.
 * V0/V1 and DoubleHistogram encodings are reported as MCP_EUNSUPPORTED.
 *
 * Ownership: every output buffer/histogram is allocated with mcp_* and owned by the caller
 * (mcp_free / hdr_free). zlib's own allocations go through mcp_calloc too. */
#ifndef MCP_HDR_CODEC_H
#define MCP_HDR_CODEC_H

#include "hdr_histogram.h"

#include <stddef.h>
#include <stdint.h>

#define HDR_V2_ENCODING_COOKIE     0x1c849313u
#define HDR_V2_COMPRESSED_COOKIE   0x1c849314u
#define HDR_ENCODING_HEADER_SIZE   40
#define HDR_COMPRESSED_HEADER_SIZE 8
/* Most bytes one LEB128-64b9B word takes. */
#define HDR_ZIGZAG_MAX_BYTES 9
/* zlib level of Java's HistogramLogWriter; any level decodes everywhere. */
#define HDR_DEFAULT_COMPRESSION 9

/* ZigZag + LEB128-64b9B of one signed word into out; returns the byte count (1..9). */
size_t hdr_zigzag_encode(int64_t value, uint8_t out[HDR_ZIGZAG_MAX_BYTES]);
/* Decode one word from at most avail bytes. Returns the bytes used (1..9), or 0 when the word is
 * truncated (every available byte had the continuation bit). */
size_t hdr_zigzag_decode(const uint8_t *in, size_t avail, int64_t *value);

/* The uncompressed V2 encoding (40-byte header + payload) of h: *out is owned by the caller.
 * Returns 0, MCP_ENOMEM, or MCP_EINVAL if h holds a negative count. */
int hdr_encode_uncompressed(const hdr_histogram_t *h, uint8_t **out, size_t *out_len);
/* The compressed wrapper (cookie, length, zlib stream at level 0..9, -1 = zlib default). */
int hdr_encode_compressed(const hdr_histogram_t *h, int level, uint8_t **out, size_t *out_len);
/* The base64 text of the compressed encoding, NUL-terminated (out_len may be NULL). */
int hdr_encode_base64(const hdr_histogram_t *h, int level, char **out, size_t *out_len);

/* Decode any accepted encoding (compressed or uncompressed V2, told apart by the cookie) into a
 * new histogram. Returns 0 with *out owned by the caller, or MCP_EPARSE (malformed, truncated,
 * inconsistent), MCP_EUNSUPPORTED (another format version), MCP_EINVAL (bad L/H/S in the
 * header), MCP_ENOBUFS (counts overflow), MCP_ENOMEM; *out is NULL on error. */
int hdr_decode(const uint8_t *data, size_t len, hdr_histogram_t **out, char *err, size_t err_cap);
/* Base64 text (exactly len bytes; no whitespace) to a histogram, as hdr_decode. */
int hdr_decode_base64(const char *text, size_t len, hdr_histogram_t **out, char *err,
                      size_t err_cap);

/* Standard padded base64. encode writes hdr_base64_encoded_len(n) characters plus a NUL into out
 * (cap must be at least that + 1) and returns the length, or 0 when cap is too small. */
size_t hdr_base64_encoded_len(size_t n);
size_t hdr_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
/* Strict decode: length a multiple of 4, alphabet only, '=' only as final padding. Returns 0
 * with *out (caller frees with mcp_free) and *out_len, MCP_EPARSE or MCP_ENOMEM. */
int hdr_base64_decode(const char *in, size_t n, uint8_t **out, size_t *out_len, char *err,
                      size_t err_cap);

#endif
