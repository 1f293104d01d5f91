/* libFuzzer target for the HdrHistogram decoders: the input is tried as a binary encoding
 * (compressed or not), as base64 text and as .hlog text. Whatever decodes must re-encode and
 * decode to identical counts, so a decoder that accepts something it misreads is a finding too. */
#include "alloc.h"
#include "buf.h"
#include "hdr_codec.h"
#include "hdr_histogram.h"
#include "hdr_log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const hdr_histogram_t *h)
{
    uint8_t *bin;
    size_t len;
    if (hdr_encode_compressed(h, 1, &bin, &len) != 0)
        abort();
    hdr_histogram_t *again = NULL;
    if (hdr_decode(bin, len, &again, NULL, 0) != 0)
        abort();
    if (again->counts_len != h->counts_len || again->total_count != h->total_count ||
        memcmp(again->counts, h->counts, (size_t)h->counts_len * sizeof(int64_t)) != 0 ||
        hdr_max(again) != hdr_max(h) || hdr_min(again) != hdr_min(h))
        abort();
    /* Queries must be total on anything that decoded. */
    (void)hdr_value_at_percentile(h, 99.9);
    (void)hdr_stddev(h);
    hdr_iter_t it;
    hdr_iter_percentile_init(&it, h, 5);
    int steps = 0;
    while (hdr_iter_next(&it))
        if (++steps > 100000)
            abort();
    buf_t text;
    buf_init(&text, 1 << 20);
    (void)hdr_hgrm_write(&text, h, 5, 1000.0, false);
    buf_free(&text);
    hdr_free(again);
    mcp_free(bin);
}

static int on_entry(void *ud, const hdr_log_reader_t *r, hdr_log_entry_t *e)
{
    (void)ud;
    (void)r;
    check_round_trip(e->histogram);
    hdr_free(e->histogram);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised;
    if (!initialised) {
        mcp_alloc_init();
        initialised = 1;
    }
    char err[256];
    hdr_histogram_t *h = NULL;
    if (hdr_decode(data, size, &h, err, sizeof(err)) == 0) {
        check_round_trip(h);
        hdr_free(h);
    }
    if (hdr_decode_base64((const char *)data, size, &h, err, sizeof(err)) == 0) {
        check_round_trip(h);
        hdr_free(h);
    }
    hdr_log_reader_t r;
    hdr_log_reader_init(&r);
    (void)hdr_log_read_text(&r, (const char *)data, size, on_entry, NULL, err, sizeof(err));
    return 0;
}
