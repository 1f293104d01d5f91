/* buf: a growable byte buffer with a hard maximum (after curl's dynbuf).
 *
 * Every buffer that grows with peer input has a maximum, so a misbehaving peer gets an error
 * (MCP_ENOBUFS) instead of our memory. The data is always NUL-terminated (not counted in len),
 * so text can be used as a C string. A zero-initialised buf_t is not usable: call buf_init.
 *
 * Ownership: the buffer owns `data`; buf_free releases it; buf_detach hands it to the caller
 * (release with mcp_free). */
#ifndef MCP_BUF_H
#define MCP_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf_s {
    char *data; /* NULL until the first append */
    size_t len; /* bytes in use, excluding the terminating NUL */
    size_t cap; /* allocated bytes, including room for the NUL */
    size_t max; /* largest len allowed */
} buf_t;

void buf_init(buf_t *b, size_t max);
void buf_free(buf_t *b);
/* Keep the allocation, drop the contents. */
void buf_reset(buf_t *b);
/* 0, MCP_ENOBUFS (would exceed max; buffer unchanged) or MCP_ENOMEM (buffer unchanged). */
int buf_append(buf_t *b, const void *data, size_t len);
int buf_append_str(buf_t *b, const char *s);
int buf_putc(buf_t *b, char c);
int buf_appendf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vappendf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Make sure `extra` more bytes fit without another allocation. */
int buf_reserve(buf_t *b, size_t extra);
/* Remove the first n bytes (n > len removes everything). */
void buf_consume(buf_t *b, size_t n);
/* Take ownership of the data (an empty string when nothing was appended); the buffer is reset
 * to empty. Returns NULL only on allocation failure. *len_out may be NULL. */
char *buf_detach(buf_t *b, size_t *len_out);

#endif
