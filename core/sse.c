#include "sse.h"

#include "errors.h"

#include <limits.h>
#include <string.h>

static const unsigned char sse_bom[3] = {0xEF, 0xBB, 0xBF};

void sse_parser_init(sse_parser_t *p, size_t max_event, sse_event_fn on_event, void *userdata)
{
    /* Each buffer is capped at max_event; the combined check in the parser keeps the sum of the
     * per-event buffers within max_event as well. */
    buf_init(&p->line, max_event);
    buf_init(&p->data, max_event);
    buf_init(&p->type, max_event);
    buf_init(&p->last_id, max_event);
    p->retry_ms = -1;
    p->max_event = max_event;
    p->failed = 0;
    p->bom = 0;
    p->cr_pending = 0;
    p->in_comment = 0;
    p->has_data = 0;
    p->on_event = on_event;
    p->userdata = userdata;
}

void sse_parser_free(sse_parser_t *p)
{
    buf_free(&p->line);
    buf_free(&p->data);
    buf_free(&p->type);
    buf_free(&p->last_id);
}

static void clear_event(sse_parser_t *p)
{
    buf_reset(&p->data);
    buf_reset(&p->type);
    p->has_data = 0;
}

void sse_parser_reset(sse_parser_t *p)
{
    buf_reset(&p->line);
    clear_event(p);
    p->failed = 0;
    p->bom = 0;
    p->cr_pending = 0;
    p->in_comment = 0;
}

static const char *bstr(const buf_t *b)
{
    return b->data ? b->data : "";
}

const char *sse_parser_last_id(const sse_parser_t *p)
{
    return bstr(&p->last_id);
}

long sse_parser_retry(const sse_parser_t *p)
{
    return p->retry_ms;
}

static int fail(sse_parser_t *p, int err)
{
    p->failed = err;
    return err;
}

/* Bytes already held for the event being built. */
static size_t held(const sse_parser_t *p)
{
    return p->data.len + p->type.len + p->line.len;
}

static int dispatch(sse_parser_t *p)
{
    if (!p->has_data) {
        /* WHATWG: a block without data only resets the event type. */
        buf_reset(&p->type);
        return 0;
    }
    sse_event_t ev;
    if (p->type.len) {
        ev.type = p->type.data;
        ev.type_len = p->type.len;
    } else {
        ev.type = "message";
        ev.type_len = 7;
    }
    ev.data = bstr(&p->data);
    ev.data_len = p->data.len;
    ev.id = bstr(&p->last_id);
    ev.id_len = p->last_id.len;
    ev.retry_ms = p->retry_ms;
    int rc = p->on_event(p->userdata, &ev);
    clear_event(p);
    return rc;
}

static int set_buf(sse_parser_t *p, buf_t *b, const char *v, size_t n)
{
    buf_reset(b);
    int rc = buf_append(b, v, n);
    return rc ? fail(p, rc) : 0;
}

static void parse_retry(sse_parser_t *p, const char *v, size_t n)
{
    if (n == 0)
        return;
    long value = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return;
        value = value * 10 + (v[i] - '0');
        if (value > INT_MAX)
            return; /* absurd reconnection times are treated like malformed ones */
    }
    p->retry_ms = value;
}

/* One complete line (without its line end). `line` may point into the caller's chunk or into
 * p->line; in the latter case it is not used after p->line changes. */
static int process_line(sse_parser_t *p, const char *line, size_t len)
{
    if (len == 0)
        return dispatch(p);
    if (line[0] == ':')
        return 0;

    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = colon ? len - name_len - 1 : 0;
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }

#define FIELD_IS(lit) (name_len == sizeof(lit) - 1 && memcmp(line, lit, sizeof(lit) - 1) == 0)
    if (FIELD_IS("data")) {
        /* The line itself is no longer held once it is copied, so only data + type count. */
        size_t add = value_len + (p->has_data ? 1 : 0);
        if (p->data.len + p->type.len + add > p->max_event)
            return fail(p, MCP_ENOBUFS);
        int rc = 0;
        if (p->has_data)
            rc = buf_putc(&p->data, '\n');
        if (!rc)
            rc = buf_append(&p->data, value, value_len);
        if (rc)
            return fail(p, rc);
        p->has_data = 1;
    } else if (FIELD_IS("event")) {
        if (p->data.len + value_len > p->max_event)
            return fail(p, MCP_ENOBUFS);
        return set_buf(p, &p->type, value, value_len);
    } else if (FIELD_IS("id")) {
        if (!memchr(value, '\0', value_len))
            return set_buf(p, &p->last_id, value, value_len);
    } else if (FIELD_IS("retry")) {
        parse_retry(p, value, value_len);
    }
#undef FIELD_IS
    return 0;
}

/* Handle bytes that are past the BOM check. */
static int process(sse_parser_t *p, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (p->cr_pending) {
            p->cr_pending = 0;
            if (data[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        int at_line_start = p->line.len == 0 && !p->in_comment;
        if (at_line_start && j > i && data[i] == ':')
            p->in_comment = 1;

        if (j == len) { /* no line end in this chunk: keep the partial line */
            if (p->in_comment)
                return 0;
            size_t n = len - i;
            if (held(p) + n > p->max_event)
                return fail(p, MCP_ENOBUFS);
            int rc = buf_append(&p->line, data + i, n);
            return rc ? fail(p, rc) : 0;
        }

        if (data[j] == '\r')
            p->cr_pending = 1;
        int rc;
        if (p->in_comment) {
            p->in_comment = 0;
            rc = 0;
        } else if (p->line.len == 0) {
            /* Fast path: the whole line is in this chunk, no copy. */
            if (held(p) + (j - i) > p->max_event)
                return fail(p, MCP_ENOBUFS);
            rc = process_line(p, data + i, j - i);
        } else {
            size_t n = j - i;
            if (held(p) + n > p->max_event)
                return fail(p, MCP_ENOBUFS);
            rc = buf_append(&p->line, data + i, n);
            if (rc)
                return fail(p, rc);
            /* process_line may write to other buffers only, so p->line stays valid. */
            rc = process_line(p, p->line.data, p->line.len);
            buf_reset(&p->line);
        }
        if (rc)
            return rc;
        i = j + 1;
    }
    return 0;
}

int sse_parser_feed(sse_parser_t *p, const char *data, size_t len)
{
    if (p->failed)
        return p->failed;
    size_t i = 0;
    while (p->bom >= 0 && i < len) {
        if ((unsigned char)data[i] == sse_bom[p->bom]) {
            i++;
            if (++p->bom == 3)
                p->bom = -1;
            continue;
        }
        /* Not a BOM after all: the bytes matched so far are ordinary input. */
        int matched = p->bom;
        p->bom = -1;
        if (matched) {
            int rc = process(p, (const char *)sse_bom, (size_t)matched);
            if (rc)
                return rc;
        }
    }
    return process(p, data + i, len - i);
}

int sse_parser_finish(sse_parser_t *p)
{
    int rc = p->failed;
    if (!rc &&
        (p->line.len || p->in_comment || p->has_data || p->type.len || (p->bom > 0 && p->bom < 3)))
        rc = MCP_ECLOSED;
    sse_parser_reset(p);
    return rc;
}

/* ---- writer ---- */

static int has_line_break(const char *s, size_t n)
{
    return memchr(s, '\n', n) || memchr(s, '\r', n);
}

static int write_field(buf_t *out, const char *name, const char *value, size_t n)
{
    int rc = buf_append_str(out, name);
    if (!rc)
        rc = buf_append(out, ": ", 2);
    if (!rc)
        rc = buf_append(out, value, n);
    if (!rc)
        rc = buf_putc(out, '\n');
    return rc;
}

static int write_data(buf_t *out, const char *data, size_t len)
{
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        int rc = write_field(out, "data", data + i, j - i);
        if (rc || j == len)
            return rc;
        if (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n')
            j++;
        i = j + 1;
    }
}

static int undo(buf_t *out, size_t mark, int rc)
{
    if (out->data) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    return rc;
}

int sse_write_event(buf_t *out, const char *type, const char *id, long retry_ms, const char *data,
                    size_t data_len)
{
    if (type && (has_line_break(type, strlen(type))))
        return MCP_EINVAL;
    if (id && (has_line_break(id, strlen(id))))
        return MCP_EINVAL;
    if (!data && data_len)
        return MCP_EINVAL;
    size_t mark = out->len;
    int rc = 0;
    if (type)
        rc = write_field(out, "event", type, strlen(type));
    if (!rc && id)
        rc = write_field(out, "id", id, strlen(id));
    if (!rc && retry_ms >= 0)
        rc = buf_appendf(out, "retry: %ld\n", retry_ms);
    if (!rc && data)
        rc = write_data(out, data, data_len);
    if (!rc)
        rc = buf_putc(out, '\n');
    return rc ? undo(out, mark, rc) : 0;
}

int sse_write_comment(buf_t *out, const char *text)
{
    if (text && has_line_break(text, strlen(text)))
        return MCP_EINVAL;
    size_t mark = out->len;
    int rc = text && *text ? write_field(out, "", text, strlen(text)) : buf_append(out, ":\n", 2);
    return rc ? undo(out, mark, rc) : 0;
}
