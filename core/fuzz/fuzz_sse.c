/* Fuzz target for the SSE parser: the events reported must not depend on how the input is split
 * into feeds, and every reported event written back with the writer must parse to itself. */
#include "alloc.h"
#include "buf.h"
#include "sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each event is serialised as type \0 data-length data id \0 retry into a buf. */
static int record(void *ud, const sse_event_t *e)
{
    buf_t *out = ud;
    if (buf_append(out, e->type, e->type_len + 1) ||
        buf_append(out, &e->data_len, sizeof e->data_len) ||
        buf_append(out, e->data, e->data_len) || buf_append(out, e->id, e->id_len + 1) ||
        buf_append(out, &e->retry_ms, sizeof e->retry_ms))
        return 1;
    return 0;
}

typedef struct {
    const sse_event_t *want;
    int seen;
} check_t;

static int check_one(void *ud, const sse_event_t *e)
{
    check_t *c = ud;
    c->seen++;
    if (e->data_len != c->want->data_len || memcmp(e->data, c->want->data, e->data_len) ||
        strcmp(e->type, c->want->type) || strcmp(e->id, c->want->id) ||
        e->retry_ms != c->want->retry_ms)
        abort();
    return 0;
}

/* Write the event back and parse it alone: it must come back unchanged. */
static int roundtrip(void *ud, const sse_event_t *e)
{
    (void)ud;
    /* The writer takes the type as a C string, so a type with a NUL cannot be written back. */
    if (memchr(e->type, '\0', e->type_len))
        return 0;
    buf_t b;
    buf_init(&b, 1 << 20);
    const char *id = e->id_len ? e->id : NULL;
    if (sse_write_event(&b, e->type, id, e->retry_ms, e->data, e->data_len) == 0) {
        check_t c = {e, 0};
        sse_parser_t p;
        sse_parser_init(&p, 1 << 20, check_one, &c);
        /* an empty id is written as no id line, which parses back to the empty id as well */
        if (sse_parser_feed(&p, b.data, b.len) != 0 || c.seen != 1 || sse_parser_finish(&p) != 0)
            abort();
        sse_parser_free(&p);
    }
    buf_free(&b);
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t step, buf_t *out, sse_event_fn fn)
{
    sse_parser_t p;
    sse_parser_init(&p, 4096, fn, out);
    int rc = 0;
    for (size_t i = 0; i < size && !rc; i += step) {
        size_t n = size - i < step ? size - i : step;
        rc = sse_parser_feed(&p, (const char *)data + i, n);
    }
    int frc = sse_parser_finish(&p);
    sse_parser_free(&p);
    return rc ? rc : frc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mcp_alloc_init();
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] % 16) + 1;
    data++;
    size--;

    buf_t whole, split;
    buf_init(&whole, 1 << 24);
    buf_init(&split, 1 << 24);
    int a = run(data, size, size ? size : 1, &whole, record);
    int b = run(data, size, step, &split, record);
    if (a != b || whole.len != split.len ||
        (whole.len && memcmp(whole.data, split.data, whole.len)))
        abort();
    run(data, size, size ? size : 1, NULL, roundtrip);
    buf_free(&whole);
    buf_free(&split);
    return 0;
}
