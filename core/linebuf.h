/* linebuf: split a byte stream into lines (newline-delimited JSON on stdio, child stderr).
 *
 * Bytes are fed as they arrive; each complete line is handed to the callback without its "\n"
 * (a trailing "\r" is dropped too). A line longer than `max_line` is reported once through
 * `on_overflow` and then skipped up to its newline, so one bad peer line never grows memory or
 * stops the stream. Empty lines are skipped. */
#ifndef MCP_LINEBUF_H
#define MCP_LINEBUF_H

#include "buf.h"

#include <stddef.h>

/* `line` is NUL-terminated and valid only during the call. Return non-zero to stop (e.g. the
 * owner closed itself): linebuf_feed returns that value at once and drops the remaining bytes. */
typedef int (*linebuf_line_fn)(void *userdata, char *line, size_t len);
/* Called once per over-long line, with the number of bytes seen so far. May be NULL. */
typedef void (*linebuf_overflow_fn)(void *userdata, size_t seen);

typedef struct linebuf_s {
    buf_t pending; /* the start of an unfinished line */
    size_t max_line;
    int skipping; /* discarding the rest of an over-long line */
    size_t skipped;
    linebuf_line_fn on_line;
    linebuf_overflow_fn on_overflow;
    void *userdata;
} linebuf_t;

void linebuf_init(linebuf_t *lb, size_t max_line, linebuf_line_fn on_line,
                  linebuf_overflow_fn on_overflow, void *userdata);
void linebuf_free(linebuf_t *lb);
/* 0, the callback's non-zero value, or MCP_ENOMEM. `data` is written to temporarily (a NUL is
 * placed after each line while its callback runs) and restored before return. */
int linebuf_feed(linebuf_t *lb, char *data, size_t len);
/* At end of stream: deliver a final unterminated line, if any. */
int linebuf_finish(linebuf_t *lb);

#endif
