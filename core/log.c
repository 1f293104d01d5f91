#include "log.h"

#include "clock.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOG_LINE_MAX    4096
#define LOG_QUOTE_SLOTS 4
#define LOG_QUOTE_MAX   512

static log_level_t current_level = LOG_INFO;
static log_format_t current_format = LOG_FORMAT_LOGFMT;
static log_sink_fn current_sink;
static void *current_sink_ud;
static char request_id[64];

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(log_level_t level)
{
    current_level = level;
}

log_level_t log_get_level(void)
{
    return current_level;
}

const char *log_level_name(log_level_t level)
{
    return level <= LOG_OFF ? level_names[level] : "unknown";
}

int log_level_parse(const char *name, log_level_t *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return MCP_EINVAL;
}

void log_set_format(log_format_t format)
{
    current_format = format;
}

void log_set_sink(log_sink_fn sink, void *userdata)
{
    current_sink = sink;
    current_sink_ud = userdata;
}

void log_set_request_id(const char *rid)
{
    if (!rid) {
        request_id[0] = '\0';
        return;
    }
    snprintf(request_id, sizeof request_id, "%s", rid);
}

void log_init_from_env(void)
{
    const char *level = getenv("MCP_LOG_LEVEL");
    log_level_t parsed;
    if (level && log_level_parse(level, &parsed) == 0)
        log_set_level(parsed);
    const char *format = getenv("MCP_LOG_FORMAT");
    if (format && strcasecmp(format, "json") == 0)
        log_set_format(LOG_FORMAT_JSON);
}

/* Append `value` escaped for a double-quoted string (logfmt and JSON share \" \\ \n \t). */
static size_t escape_into(char *out, size_t cap, const char *value)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p && n + 7 < cap; p++) {
        switch (*p) {
        case '"':
            out[n++] = '\\';
            out[n++] = '"';
            break;
        case '\\':
            out[n++] = '\\';
            out[n++] = '\\';
            break;
        case '\n':
            out[n++] = '\\';
            out[n++] = 'n';
            break;
        case '\r':
            out[n++] = '\\';
            out[n++] = 'r';
            break;
        case '\t':
            out[n++] = '\\';
            out[n++] = 't';
            break;
        default:
            if (*p < 0x20)
                n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *p);
            else
                out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
    return n;
}

const char *log_quote(const char *value)
{
    static char slots[LOG_QUOTE_SLOTS][LOG_QUOTE_MAX];
    static unsigned next;
    char *out = slots[next++ % LOG_QUOTE_SLOTS];
    if (!value) {
        snprintf(out, LOG_QUOTE_MAX, "\"\"");
        return out;
    }
    int needs_quotes = value[0] == '\0';
    for (const char *p = value; *p && !needs_quotes; p++)
        needs_quotes = *p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20;
    if (!needs_quotes) {
        snprintf(out, LOG_QUOTE_MAX, "%s", value);
        if (strlen(value) >= LOG_QUOTE_MAX)
            memcpy(out + LOG_QUOTE_MAX - 4, "...", 4);
        return out;
    }
    out[0] = '"';
    size_t n = 1 + escape_into(out + 1, LOG_QUOTE_MAX - 6, value);
    if (value[0] && n >= LOG_QUOTE_MAX - 12) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

void log_vwrite(log_level_t level, const char *comp, const char *msg, const char *fields,
                va_list ap)
{
    if (!log_enabled(level))
        return;
    char line[LOG_LINE_MAX];
    char ts[40];
    char esc_msg[1024];
    char field_text[2048] = "";
    clock_format_iso8601(ts, sizeof ts, clock_wall_ms());
    escape_into(esc_msg, sizeof esc_msg, msg ? msg : "");
    if (fields && *fields)
        vsnprintf(field_text, sizeof field_text, fields, ap);

    int n;
    if (current_format == LOG_FORMAT_JSON) {
        char esc_fields[2048 + 512];
        escape_into(esc_fields, sizeof esc_fields, field_text);
        n = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"level\":\"%s\",\"comp\":\"%s\"%s%s%s,\"msg\":\"%s\"%s%s%s}",
                     ts, log_level_name(level), comp, request_id[0] ? ",\"rid\":\"" : "",
                     request_id, request_id[0] ? "\"" : "", esc_msg,
                     field_text[0] ? ",\"fields\":\"" : "", esc_fields, field_text[0] ? "\"" : "");
    } else {
        n = snprintf(line, sizeof line, "ts=%s level=%s comp=%s%s%s msg=\"%s\"%s%s", ts,
                     log_level_name(level), comp, request_id[0] ? " rid=" : "", request_id, esc_msg,
                     field_text[0] ? " " : "", field_text);
    }
    if (n < 0)
        return;
    if (current_sink) {
        current_sink(level, line, current_sink_ud);
    } else {
        fputs(line, stderr);
        fputc('\n', stderr);
    }
}

void log_write(log_level_t level, const char *comp, const char *msg, const char *fields, ...)
{
    va_list ap;
    va_start(ap, fields);
    log_vwrite(level, comp, msg, fields, ap);
    va_end(ap);
}
