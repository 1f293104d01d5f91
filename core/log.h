/* log: leveled, structured log lines on stderr (stdout belongs to the stdio protocol).
 *
 * Each line is logfmt:
 *   ts=2026-11-22T03:24:00.123Z level=info comp=registry rid=abc msg="server ready" name=db tools=5
 * `rid` (the correlation id of the request being handled) appears when one is set. The optional
 * JSON-lines format carries the same keys with the caller's fields under "fields" as raw logfmt.
 *
 * The logger is process-global and not thread-safe: the project runs one libuv loop per process.
 * Secrets must never be passed to it: callers redact first (the gateway uses gw_sec_redact). */
#ifndef MCP_LOG_H
#define MCP_LOG_H

#include <stdarg.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;
typedef enum { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON } log_format_t;

/* A sink receives each finished line (without the trailing newline). Default: stderr. */
typedef void (*log_sink_fn)(log_level_t level, const char *line, void *userdata);

void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* "debug", "info", "warn"/"warning", "error", "off"; 0 on success, MCP_EINVAL otherwise. */
int log_level_parse(const char *name, log_level_t *out);
const char *log_level_name(log_level_t level);
void log_set_format(log_format_t format);
/* NULL restores the default stderr sink. */
void log_set_sink(log_sink_fn sink, void *userdata);
/* Correlation id added to every line until cleared with NULL. The string is copied. */
void log_set_request_id(const char *rid);
/* Apply MCP_LOG_LEVEL and MCP_LOG_FORMAT from the environment, when set. */
void log_init_from_env(void);

static inline int log_enabled(log_level_t level)
{
    return level >= log_get_level() && level != LOG_OFF;
}

/* Emit one line. `msg` is a short constant-ish text (quoted as needed); `fields` is an optional
 * printf format producing logfmt `key=value` pairs (NULL for none). Values that may contain spaces
 * or quotes should be passed through log_quote(). */
void log_write(log_level_t level, const char *comp, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 4, 5)));
void log_vwrite(log_level_t level, const char *comp, const char *msg, const char *fields,
                va_list ap) __attribute__((format(printf, 4, 0)));

/* Quote a value for logfmt into a rotating set of static buffers (valid for the current log
 * statement; at most 4 per statement; long values are truncated with "..."). */
const char *log_quote(const char *value);

#define LOG_D(comp, msg, ...)                             \
    do {                                                  \
        if (log_enabled(LOG_DEBUG))                       \
            log_write(LOG_DEBUG, comp, msg, __VA_ARGS__); \
    } while (0)
#define LOG_I(comp, msg, ...) log_write(LOG_INFO, comp, msg, __VA_ARGS__)
#define LOG_W(comp, msg, ...) log_write(LOG_WARN, comp, msg, __VA_ARGS__)
#define LOG_E(comp, msg, ...) log_write(LOG_ERROR, comp, msg, __VA_ARGS__)

#endif
