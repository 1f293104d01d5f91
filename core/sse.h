/* sse: an incremental Server-Sent Events (text/event-stream) parser and writer.
 *
 * The parser follows the WHATWG "event stream interpretation" rules and is fed bytes as they
 * arrive, in chunks of any size: feeding a stream byte by byte reports exactly the same events
 * as feeding it at once. Rules implemented:
 *   - lines end with "\n", "\r\n" or "\r" (a "\r\n" split across two feeds is one line end);
 *   - one UTF-8 BOM (EF BB BF) at the very start of the stream is skipped;
 *   - a line starting with ":" is a comment (keep-alive) and is ignored without being buffered;
 *   - "field: value" with at most one space stripped after the colon; a line without a colon is
 *     a field with an empty value; field names are case-sensitive; unknown fields are ignored;
 *   - `data` lines of one event are joined with "\n";
 *   - `event` sets the event type; an event without one (or with an empty one) is "message";
 *   - `id` sets the last event id, which persists across events (and across sse_parser_reset,
 *     for reconnection); an id value containing a NUL byte is ignored; an empty id clears it;
 *   - `retry` sets the reconnection time only when its value is one or more ASCII digits and at
 *     most 2^31-1; otherwise it is ignored. It takes effect when the line is read;
 *   - an event is dispatched at a blank line.
 *
 * What is reported, exactly: an event is reported for every blank line that ends a block with
 * at least one `data` field, even when the joined data is empty (the MCP "priming" event
 * `id: X`, `data: ` is reported with data "" — callers skip empty data). A block without any
 * `data` field is not reported (as in WHATWG), but its `id` and `retry` fields still update
 * sse_parser_last_id() and sse_parser_retry(). Bytes are passed through unchanged: no UTF-8
 * validation, and NUL bytes in data are kept (lengths are given; strings are NUL-terminated).
 * At end of stream an unfinished event is discarded (sse_parser_finish).
 *
 * Bounds: `max_event` limits the bytes held for one event (data + event type + the current
 * line). Going past it fails the parser with MCP_ENOBUFS; a failed parser returns that error
 * from every feed until sse_parser_reset. Comment lines never use memory.
 *
 * The writer appends events and comments in the same format to a buf_t; its output read back
 * by the parser gives the same event type, id, retry and data (data "\r" and "\r\n" come back
 * as "\n", since they are line ends on the wire).
 *
 * Ownership: the parser owns its buffers (sse_parser_free releases them). The event passed to
 * the callback points into the parser and is valid only during the call. */
#ifndef MCP_SSE_H
#define MCP_SSE_H

#include "buf.h"

#include <stddef.h>

typedef struct sse_event_s {
    const char *type; /* "message" by default; NUL-terminated */
    size_t type_len;
    const char *data; /* data lines joined with "\n"; "" when empty; NUL-terminated */
    size_t data_len;
    const char *id; /* the last event id at dispatch time; "" when none */
    size_t id_len;
    long retry_ms; /* the stream's reconnection time so far; -1 when no valid retry was seen */
} sse_event_t;

/* Return 0 to go on; a non-zero value stops sse_parser_feed, which returns it at once and drops
 * the rest of that chunk (the parser should then be reset or discarded). */
typedef int (*sse_event_fn)(void *userdata, const sse_event_t *event);

typedef struct sse_parser_s {
    buf_t line;    /* an unfinished line (never a comment) */
    buf_t data;    /* data of the event being built */
    buf_t type;    /* event type of the event being built */
    buf_t last_id; /* last event id; survives events and resets */
    long retry_ms;
    size_t max_event;
    int failed;     /* sticky error (MCP_ENOBUFS or MCP_ENOMEM), 0 when healthy */
    int bom;        /* BOM bytes matched at stream start; -1 once past the check */
    int cr_pending; /* the last byte seen was "\r": a following "\n" belongs to it */
    int in_comment; /* discarding the rest of a comment line */
    int has_data;   /* the current block had a data field */
    sse_event_fn on_event;
    void *userdata;
} sse_parser_t;

/* Default bound for one event, used by the MCP transports. */
#define SSE_DEFAULT_MAX_EVENT (4u * 1024u * 1024u)

/* max_event must be > 0. Allocates nothing until bytes arrive. */
void sse_parser_init(sse_parser_t *p, size_t max_event, sse_event_fn on_event, void *userdata);
/* Release the buffers. The parser may be re-initialised afterwards. */
void sse_parser_free(sse_parser_t *p);
/* Start a new stream (e.g. after reconnecting): drop any partial event and a sticky error, and
 * look for a BOM again. The last event id and the retry time are kept, as EventSource does. */
void sse_parser_reset(sse_parser_t *p);
/* Parse len bytes. 0, the callback's non-zero value, MCP_ENOBUFS (an event larger than
 * max_event) or MCP_ENOMEM; the two errors are sticky. len == 0 is allowed. */
int sse_parser_feed(sse_parser_t *p, const char *data, size_t len);
/* End of stream: discard an unfinished event (WHATWG) and reset for a new stream. Returns 0 when
 * the stream ended on an event boundary, MCP_ECLOSED when a partial line or an event without
 * its blank line was discarded, or the sticky error. */
int sse_parser_finish(sse_parser_t *p);
/* The last event id ("" when none); valid until the next feed. */
const char *sse_parser_last_id(const sse_parser_t *p);
/* The reconnection time in ms from the last valid retry field, or -1. */
long sse_parser_retry(const sse_parser_t *p);

/* Append one event to out: "event: T\n" (when type is non-NULL), "id: I\n" (when id is
 * non-NULL), "retry: N\n" (when retry_ms >= 0), one "data: L\n" per line of data (data split at
 * "\n", "\r\n" and "\r"; data == NULL writes no data line, so readers update id/retry but report
 * no event; data_len == 0 writes one empty data line), then the blank line. 0, MCP_EINVAL (type
 * or id containing CR or LF; data_len > 0 with data NULL) or the buf error (MCP_ENOBUFS,
 * MCP_ENOMEM); on error `out` is left as it was. */
int sse_write_event(buf_t *out, const char *type, const char *id, long retry_ms, const char *data,
                    size_t data_len);
/* Append a comment line ":" or ": text" (keep-alives; readers ignore it). 0, MCP_EINVAL (text
 * with CR, LF) or the buf error; `out` is unchanged on error. */
int sse_write_comment(buf_t *out, const char *text);

#endif
