#include "linebuf.h"

#include "errors.h"

#include <string.h>

void linebuf_init(linebuf_t *lb, size_t max_line, linebuf_line_fn on_line,
                  linebuf_overflow_fn on_overflow, void *userdata)
{
    buf_init(&lb->pending, max_line);
    lb->max_line = max_line;
    lb->skipping = 0;
    lb->skipped = 0;
    lb->on_line = on_line;
    lb->on_overflow = on_overflow;
    lb->userdata = userdata;
}

void linebuf_free(linebuf_t *lb)
{
    buf_free(&lb->pending);
}

static int deliver(linebuf_t *lb, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    char saved = line[len];
    line[len] = '\0';
    int rc = lb->on_line(lb->userdata, line, len);
    line[len] = saved;
    return rc;
}

static void overflow(linebuf_t *lb, size_t seen)
{
    if (lb->on_overflow)
        lb->on_overflow(lb->userdata, seen);
}

int linebuf_feed(linebuf_t *lb, char *data, size_t len)
{
    while (len) {
        char *nl = memchr(data, '\n', len);
        size_t chunk = nl ? (size_t)(nl - data) : len;
        size_t step = nl ? chunk + 1 : len;
        int rc = 0;

        if (lb->skipping) {
            lb->skipped += chunk;
            if (nl) {
                overflow(lb, lb->skipped);
                lb->skipping = 0;
            }
        } else if (!nl) {
            rc = buf_append(&lb->pending, data, chunk);
            if (rc == MCP_ENOBUFS) {
                lb->skipping = 1;
                lb->skipped = lb->pending.len + chunk;
                buf_reset(&lb->pending);
                rc = 0;
            }
        } else if (lb->pending.len == 0) {
            /* Fast path: the whole line is in this chunk; no copy. */
            if (chunk > lb->max_line)
                overflow(lb, chunk);
            else
                rc = deliver(lb, data, chunk);
        } else {
            rc = buf_append(&lb->pending, data, chunk);
            if (rc == MCP_ENOBUFS) {
                overflow(lb, lb->pending.len + chunk);
                rc = 0;
            } else if (rc == 0) {
                rc = deliver(lb, lb->pending.data, lb->pending.len);
            }
            buf_reset(&lb->pending);
        }
        if (rc)
            return rc;
        data += step;
        len -= step;
    }
    return 0;
}

int linebuf_finish(linebuf_t *lb)
{
    int rc = 0;
    if (lb->skipping)
        overflow(lb, lb->skipped);
    else if (lb->pending.len)
        rc = deliver(lb, lb->pending.data, lb->pending.len);
    lb->skipping = 0;
    buf_reset(&lb->pending);
    return rc;
}
