#include "jsonrpc.h"

#include "alloc.h"
#include "errors.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integers up to 2^53 survive a trip through a double. */
#define JSONRPC_EXACT_DOUBLE_MAX 9007199254740992.0
/* Nesting accepted by the validator; cJSON itself allows 1000, so anything that validates can
 * only fail in cJSON for lack of memory. */
#define JSONRPC_MAX_DEPTH 512
/* cJSON copies a number into a 64-byte scratch buffer; longer numbers would fail there. */
#define JSONRPC_MAX_NUMBER_LEN 63

/* ---- ids ---- */

void jsonrpc_id_set_int(jsonrpc_id_t *id, int64_t num)
{
    id->type = JSONRPC_ID_INT;
    id->num = num;
    id->str = NULL;
}

int jsonrpc_id_set_str(jsonrpc_id_t *id, const char *s)
{
    char *copy = mcp_strdup(s);
    memset(id, 0, sizeof(*id));
    if (!copy)
        return MCP_ENOMEM;
    id->type = JSONRPC_ID_STR;
    id->str = copy;
    return 0;
}

int jsonrpc_id_copy(jsonrpc_id_t *dst, const jsonrpc_id_t *src)
{
    if (src->type == JSONRPC_ID_STR)
        return jsonrpc_id_set_str(dst, src->str);
    *dst = *src;
    dst->str = NULL;
    return 0;
}

void jsonrpc_id_free(jsonrpc_id_t *id)
{
    if (id->type == JSONRPC_ID_STR)
        mcp_free(id->str);
    memset(id, 0, sizeof(*id));
}

int jsonrpc_id_equal(const jsonrpc_id_t *a, const jsonrpc_id_t *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case JSONRPC_ID_INT: return a->num == b->num;
    case JSONRPC_ID_STR: return strcmp(a->str, b->str) == 0;
    default: return 1;
    }
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t jsonrpc_id_hash(const jsonrpc_id_t *id)
{
    uint64_t h = 14695981039346656037ULL;
    unsigned char type = (unsigned char)id->type;
    h = fnv1a(h, &type, 1);
    if (id->type == JSONRPC_ID_INT)
        h = fnv1a(h, &id->num, sizeof(id->num));
    else if (id->type == JSONRPC_ID_STR)
        h = fnv1a(h, id->str, strlen(id->str));
    return h;
}

static int append_json_string(buf_t *out, const char *s)
{
    int rc = buf_putc(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        switch (*p) {
        case '"': rc = buf_append(out, "\\\"", 2); break;
        case '\\': rc = buf_append(out, "\\\\", 2); break;
        case '\n': rc = buf_append(out, "\\n", 2); break;
        case '\r': rc = buf_append(out, "\\r", 2); break;
        case '\t': rc = buf_append(out, "\\t", 2); break;
        default:
            if (*p < 0x20)
                rc = buf_appendf(out, "\\u%04x", *p);
            else
                rc = buf_putc(out, (char)*p);
        }
    }
    return rc ? rc : buf_putc(out, '"');
}

int jsonrpc_id_print(const jsonrpc_id_t *id, buf_t *out)
{
    switch (id->type) {
    case JSONRPC_ID_INT: return buf_appendf(out, "%" PRId64, id->num);
    case JSONRPC_ID_STR: return append_json_string(out, id->str);
    default: return buf_append_str(out, "null");
    }
}

const char *jsonrpc_id_str(const jsonrpc_id_t *id, char *tmp, size_t cap)
{
    if (!cap)
        return tmp;
    switch (id->type) {
    case JSONRPC_ID_INT: snprintf(tmp, cap, "%" PRId64, id->num); break;
    case JSONRPC_ID_STR: snprintf(tmp, cap, "\"%s\"", id->str); break;
    case JSONRPC_ID_NULL: snprintf(tmp, cap, "null"); break;
    default: snprintf(tmp, cap, "none"); break;
    }
    return tmp;
}

/* raw: the id's text in the original input when known, so integers beyond 2^53 stay exact. */
static int id_from_json_raw(const cJSON *item, const char *raw, size_t raw_len, jsonrpc_id_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!item)
        return 0;
    if (cJSON_IsNull(item)) {
        out->type = JSONRPC_ID_NULL;
        return 0;
    }
    if (cJSON_IsString(item))
        return jsonrpc_id_set_str(out, item->valuestring);
    if (!cJSON_IsNumber(item))
        return MCP_EINVAL;
    if (raw && raw_len > 0 && raw_len < 24) {
        char text[24];
        memcpy(text, raw, raw_len);
        text[raw_len] = '\0';
        size_t digits = strspn(text + (text[0] == '-'), "0123456789");
        if (digits > 0 && digits + (text[0] == '-') == raw_len) {
            char *end;
            errno = 0;
            long long v = strtoll(text, &end, 10);
            /* The cross-check guards against a raw span that is not the member cJSON used. */
            if (errno == 0 && *end == '\0' && (double)v == item->valuedouble) {
                jsonrpc_id_set_int(out, (int64_t)v);
                return 0;
            }
        }
    }
    double d = item->valuedouble;
    if (d != d || d < -JSONRPC_EXACT_DOUBLE_MAX || d > JSONRPC_EXACT_DOUBLE_MAX ||
        d != (double)(int64_t)d)
        return MCP_EINVAL;
    jsonrpc_id_set_int(out, (int64_t)d);
    return 0;
}

int jsonrpc_id_from_json(const cJSON *item, jsonrpc_id_t *out)
{
    return id_from_json_raw(item, NULL, 0, out);
}

cJSON *jsonrpc_id_to_json(const jsonrpc_id_t *id)
{
    switch (id->type) {
    case JSONRPC_ID_INT:
        if (id->num >= INT_MIN && id->num <= INT_MAX)
            return cJSON_CreateNumber((double)id->num);
        else {
            /* cJSON would print large integers as "1e+15"; raw keeps every digit. */
            char text[24];
            snprintf(text, sizeof(text), "%" PRId64, id->num);
            return cJSON_CreateRaw(text);
        }
    case JSONRPC_ID_STR: return cJSON_CreateString(id->str);
    default: return cJSON_CreateNull();
    }
}

/* ---- strict validation (no allocation) ---- */

typedef struct {
    const unsigned char *p, *end, *start;
    jsonrpc_error_t *err;
    size_t *err_offset;
} vctx_t;

static int vfail(vctx_t *v, const char *what)
{
    size_t off = (size_t)(v->p - v->start);
    if (v->err_offset)
        *v->err_offset = off;
    if (v->err) {
        v->err->code = JSONRPC_PARSE_ERROR;
        if (v->p < v->end && *v->p >= 0x20 && *v->p < 0x7f)
            snprintf(v->err->message, sizeof(v->err->message),
                     "Parse error: %s at byte %zu (found '%c')", what, off, *v->p);
        else if (v->p < v->end)
            snprintf(v->err->message, sizeof(v->err->message),
                     "Parse error: %s at byte %zu (found byte 0x%02x)", what, off, *v->p);
        else
            snprintf(v->err->message, sizeof(v->err->message),
                     "Parse error: %s at byte %zu (end of input)", what, off);
    }
    return MCP_EPARSE;
}

static void vskip_ws(vctx_t *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static int vhex4(vctx_t *v, unsigned *out)
{
    unsigned value = 0;
    for (int i = 0; i < 4; i++, v->p++) {
        if (v->p >= v->end)
            return vfail(v, "truncated \\u escape");
        unsigned c = *v->p;
        if (c >= '0' && c <= '9')
            value = value * 16 + (c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            value = value * 16 + ((c | 0x20) - 'a' + 10);
        else
            return vfail(v, "invalid hex digit in \\u escape");
    }
    *out = value;
    return 0;
}

static int vstring(vctx_t *v)
{
    v->p++; /* the opening quote */
    while (v->p < v->end) {
        unsigned char c = *v->p;
        if (c == '"') {
            v->p++;
            return 0;
        }
        if (c < 0x20)
            return vfail(v, "control character in string");
        if (c != '\\') {
            v->p++;
            continue;
        }
        v->p++;
        if (v->p >= v->end)
            break;
        c = *v->p;
        if (c != 'u') {
            if (!strchr("\"\\/bfnrt", c) || c == '\0')
                return vfail(v, "invalid escape in string");
            v->p++;
            continue;
        }
        v->p++;
        unsigned cp = 0;
        if (vhex4(v, &cp))
            return MCP_EPARSE;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return vfail(v, "unpaired low surrogate in string");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (v->end - v->p < 2 || v->p[0] != '\\' || v->p[1] != 'u')
                return vfail(v, "unpaired high surrogate in string");
            v->p += 2;
            if (vhex4(v, &cp))
                return MCP_EPARSE;
            if (cp < 0xDC00 || cp > 0xDFFF)
                return vfail(v, "invalid low surrogate in string");
        }
    }
    return vfail(v, "unterminated string");
}

static int vdigits(vctx_t *v)
{
    const unsigned char *s = v->p;
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
        v->p++;
    return v->p > s ? 0 : vfail(v, "expected a digit");
}

static int vnumber(vctx_t *v)
{
    const unsigned char *s = v->p;
    if (*v->p == '-')
        v->p++;
    if (v->p < v->end && *v->p == '0')
        v->p++;
    else if (vdigits(v))
        return MCP_EPARSE;
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (vdigits(v))
            return MCP_EPARSE;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
            v->p++;
        if (vdigits(v))
            return MCP_EPARSE;
    }
    if (v->p - s > JSONRPC_MAX_NUMBER_LEN) {
        v->p = s;
        return vfail(v, "number too long");
    }
    return 0;
}

static int vliteral(vctx_t *v, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, word, n) != 0)
        return vfail(v, "invalid literal");
    v->p += n;
    return 0;
}

int jsonrpc_validate_json(const char *data, size_t len, size_t *err_offset, jsonrpc_error_t *err)
{
    vctx_t v = {(const unsigned char *)data, (const unsigned char *)data + len,
                (const unsigned char *)data, err, err_offset};
    char stack[JSONRPC_MAX_DEPTH]; /* '{' or '[' per open container */
    int depth = 0;

    vskip_ws(&v);
    if (v.p == v.end)
        return vfail(&v, "empty input");
value:
    if (v.p >= v.end)
        return vfail(&v, "unexpected end of input");
    switch (*v.p) {
    case '{':
    case '[':
        if (depth == JSONRPC_MAX_DEPTH)
            return vfail(&v, "nesting too deep");
        stack[depth++] = (char)*v.p;
        v.p++;
        vskip_ws(&v);
        if (v.p < v.end && (*v.p == '}' || *v.p == ']') &&
            *v.p == (stack[depth - 1] == '{' ? '}' : ']')) {
            v.p++;
            depth--;
            goto after_value;
        }
        if (stack[depth - 1] == '{')
            goto key;
        goto value;
    case '"':
        if (vstring(&v))
            return MCP_EPARSE;
        goto after_value;
    case 't':
        if (vliteral(&v, "true"))
            return MCP_EPARSE;
        goto after_value;
    case 'f':
        if (vliteral(&v, "false"))
            return MCP_EPARSE;
        goto after_value;
    case 'n':
        if (vliteral(&v, "null"))
            return MCP_EPARSE;
        goto after_value;
    default:
        if (*v.p == '-' || (*v.p >= '0' && *v.p <= '9')) {
            if (vnumber(&v))
                return MCP_EPARSE;
            goto after_value;
        }
        return vfail(&v, "unexpected character");
    }
key:
    if (v.p >= v.end || *v.p != '"')
        return vfail(&v, "expected a string key");
    if (vstring(&v))
        return MCP_EPARSE;
    vskip_ws(&v);
    if (v.p >= v.end || *v.p != ':')
        return vfail(&v, "expected ':'");
    v.p++;
    vskip_ws(&v);
    goto value;
after_value:
    vskip_ws(&v);
    if (depth == 0) {
        if (v.p != v.end)
            return vfail(&v, "unexpected data after the JSON value");
        return 0;
    }
    if (v.p >= v.end)
        return vfail(&v, "unexpected end of input");
    if (*v.p == ',') {
        v.p++;
        vskip_ws(&v);
        if (stack[depth - 1] == '{')
            goto key;
        goto value;
    }
    if (*v.p == (stack[depth - 1] == '{' ? '}' : ']')) {
        v.p++;
        depth--;
        goto after_value;
    }
    return vfail(&v, stack[depth - 1] == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* ---- raw scanning of validated text (to read integer ids digit for digit) ---- */

static const char *raw_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *raw_skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static const char *raw_skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return raw_skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = raw_skip_string(p, end);
                if (!p)
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    while (p < end && !strchr(",]} \t\r\n", *p))
        p++;
    return p;
}

/* Find the first member "id" of the object at p; its raw value span goes to vs and vl. */
static void raw_find_id(const char *p, const char *end, const char **vs, size_t *vl)
{
    *vs = NULL;
    *vl = 0;
    p = raw_ws(p, end);
    if (p >= end || *p != '{')
        return;
    p = raw_ws(p + 1, end);
    while (p && p < end && *p == '"') {
        const char *ks = p + 1;
        p = raw_skip_string(p, end);
        if (!p)
            return;
        int is_id = p - ks - 1 == 2 && memcmp(ks, "id", 2) == 0;
        p = raw_ws(p, end);
        if (p >= end || *p != ':')
            return;
        const char *s = raw_ws(p + 1, end);
        p = raw_skip_value(s, end);
        if (!p)
            return;
        if (is_id) {
            *vs = s;
            *vl = (size_t)(p - s);
            return;
        }
        p = raw_ws(p, end);
        if (p >= end || *p != ',')
            return;
        p = raw_ws(p + 1, end);
    }
}

/* ---- classification ---- */

static int invalid(jsonrpc_msg_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int invalid(jsonrpc_msg_t *m, const char *fmt, ...)
{
    va_list ap;
    m->kind = JSONRPC_INVALID;
    m->method = NULL;
    m->params = m->result = m->error_data = NULL;
    m->error_message = NULL;
    m->error_code = JSONRPC_INVALID_REQUEST;
    if (m->id.type == JSONRPC_ID_NONE)
        m->id.type = JSONRPC_ID_NULL;
    va_start(ap, fmt);
    vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
    va_end(ap);
    return 0;
}

static int classify_raw(cJSON *json, const char *raw_id, size_t raw_id_len, jsonrpc_msg_t *m)
{
    memset(m, 0, sizeof(*m));
    m->json = json;
    if (!cJSON_IsObject(json))
        return invalid(m, "a JSON-RPC message must be a JSON object");

    const cJSON *id = cJSON_GetObjectItemCaseSensitive(json, "id");
    int rc = id_from_json_raw(id, raw_id, raw_id_len, &m->id);
    int bad_id = rc == MCP_EINVAL;
    if (rc == MCP_ENOMEM)
        return rc;

    const cJSON *version = cJSON_GetObjectItemCaseSensitive(json, "jsonrpc");
    if (!cJSON_IsString(version) || strcmp(version->valuestring, "2.0") != 0)
        return invalid(m, version ? "\"jsonrpc\" must be the string \"2.0\""
                                  : "missing \"jsonrpc\": \"2.0\"");

    cJSON *method = cJSON_GetObjectItemCaseSensitive(json, "method");
    cJSON *result = cJSON_GetObjectItemCaseSensitive(json, "result");
    cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");
    if (method) {
        if (!cJSON_IsString(method))
            return invalid(m, "\"method\" must be a string");
        if (result || error)
            return invalid(m, "a request must not carry \"result\" or \"error\"");
        cJSON *params = cJSON_GetObjectItemCaseSensitive(json, "params");
        if (params && !cJSON_IsObject(params) && !cJSON_IsArray(params))
            return invalid(m, "\"params\" must be an object or an array");
        if (bad_id)
            return invalid(m, "\"id\" must be a string or an integer");
        if (m->id.type == JSONRPC_ID_NULL)
            return invalid(m, "\"id\" of a request must not be null");
        m->kind = m->id.type == JSONRPC_ID_NONE ? JSONRPC_NOTIFICATION : JSONRPC_REQUEST;
        m->method = method->valuestring;
        m->params = params;
        return 0;
    }
    if (!result && !error)
        return invalid(m, "message has none of \"method\", \"result\" or \"error\"");
    if (result && error)
        return invalid(m, "a response must not carry both \"result\" and \"error\"");
    if (bad_id)
        return invalid(m, "\"id\" must be a string or an integer");
    if (result) {
        if (m->id.type == JSONRPC_ID_NONE || m->id.type == JSONRPC_ID_NULL)
            return invalid(m, "a result response needs a string or integer \"id\"");
        m->kind = JSONRPC_RESULT;
        m->result = result;
        return 0;
    }
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
    if (!cJSON_IsObject(error) || !cJSON_IsNumber(code) || !cJSON_IsString(message))
        return invalid(m, "\"error\" must be an object with an integer \"code\" and a string "
                          "\"message\"");
    double d = code->valuedouble;
    if (d != d || d < INT_MIN || d > INT_MAX || d != (double)(int)d)
        return invalid(m, "\"error.code\" must be an integer");
    if (m->id.type == JSONRPC_ID_NONE)
        m->id.type = JSONRPC_ID_NULL;
    m->kind = JSONRPC_ERROR;
    m->error_code = (int)d;
    m->error_message = message->valuestring;
    m->error_data = cJSON_GetObjectItemCaseSensitive(error, "data");
    return 0;
}

int jsonrpc_classify(cJSON *json, jsonrpc_msg_t *out)
{
    int rc = classify_raw(json, NULL, 0, out);
    if (rc)
        jsonrpc_msg_free(out);
    return rc;
}

void jsonrpc_msg_free(jsonrpc_msg_t *msg)
{
    if (!msg)
        return;
    cJSON_Delete(msg->json);
    jsonrpc_id_free(&msg->id);
    memset(msg, 0, sizeof(*msg));
}

void jsonrpc_msg_move(jsonrpc_msg_t *dst, jsonrpc_msg_t *src)
{
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

void jsonrpc_batch_free(jsonrpc_batch_t *batch)
{
    if (!batch)
        return;
    for (size_t i = 0; i < batch->count; i++)
        jsonrpc_msg_free(&batch->msgs[i]);
    mcp_free(batch->msgs);
    memset(batch, 0, sizeof(*batch));
}

const char *jsonrpc_kind_name(jsonrpc_kind_t kind)
{
    switch (kind) {
    case JSONRPC_REQUEST: return "request";
    case JSONRPC_NOTIFICATION: return "notification";
    case JSONRPC_RESULT: return "result";
    case JSONRPC_ERROR: return "error";
    default: return "invalid";
    }
}

static void set_err(jsonrpc_error_t *err, int code, const char *message)
{
    if (err) {
        err->code = code;
        snprintf(err->message, sizeof(err->message), "%s", message);
    }
}

int jsonrpc_parse(const char *data, size_t len, jsonrpc_batch_t *out, jsonrpc_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (jsonrpc_validate_json(data, len, NULL, err))
        return MCP_EPARSE;
    /* The text is valid JSON within cJSON's limits, so a failure here is lack of memory. */
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!root)
        return MCP_ENOMEM;
    const char *end = data + len;

    if (!cJSON_IsArray(root)) {
        out->msgs = mcp_calloc(1, sizeof(jsonrpc_msg_t));
        if (!out->msgs) {
            cJSON_Delete(root);
            return MCP_ENOMEM;
        }
        const char *vs;
        size_t vl;
        raw_find_id(data, end, &vs, &vl);
        if (classify_raw(root, vs, vl, &out->msgs[0])) {
            jsonrpc_msg_free(&out->msgs[0]);
            mcp_free(out->msgs);
            out->msgs = NULL;
            return MCP_ENOMEM;
        }
        out->count = 1;
        return 0;
    }

    int n = cJSON_GetArraySize(root);
    if (n == 0) {
        cJSON_Delete(root);
        set_err(err, JSONRPC_INVALID_REQUEST, "Invalid Request: empty batch");
        return MCP_EPROTO;
    }
    out->msgs = mcp_calloc((size_t)n, sizeof(jsonrpc_msg_t));
    if (!out->msgs) {
        cJSON_Delete(root);
        return MCP_ENOMEM;
    }
    out->is_batch = 1;
    /* Unlink the elements so each message owns its own tree. */
    cJSON *child = root->child;
    root->child = NULL;
    cJSON_Delete(root);
    const char *p = raw_ws(data, end);
    p = p < end ? raw_ws(p + 1, end) : NULL; /* past '[' */
    while (child) {
        cJSON *next = child->next;
        child->next = child->prev = NULL;
        const char *vs = NULL;
        size_t vl = 0;
        if (p) {
            raw_find_id(p, end, &vs, &vl);
            p = raw_skip_value(p, end);
            if (p) {
                p = raw_ws(p, end);
                p = p < end && *p == ',' ? raw_ws(p + 1, end) : NULL;
            }
        }
        if (classify_raw(child, vs, vl, &out->msgs[out->count])) {
            jsonrpc_msg_free(&out->msgs[out->count]);
            while (next) {
                cJSON *after = next->next;
                next->next = next->prev = NULL;
                cJSON_Delete(next);
                next = after;
            }
            jsonrpc_batch_free(out);
            return MCP_ENOMEM;
        }
        out->count++;
        child = next;
    }
    return 0;
}

int jsonrpc_parse_message(const char *data, size_t len, jsonrpc_msg_t *out, jsonrpc_error_t *err)
{
    jsonrpc_batch_t batch;
    memset(out, 0, sizeof(*out));
    int rc = jsonrpc_parse(data, len, &batch, err);
    if (rc)
        return rc;
    if (batch.is_batch) {
        jsonrpc_batch_free(&batch);
        set_err(err, JSONRPC_INVALID_REQUEST,
                "Invalid Request: a batch (JSON array) is not allowed");
        return MCP_EPROTO;
    }
    jsonrpc_msg_move(out, &batch.msgs[0]);
    jsonrpc_batch_free(&batch);
    return 0;
}

/* ---- builders ---- */

static int add(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return -1;
    if (!cJSON_AddItemToObjectCS(obj, key, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

static cJSON *new_message(void)
{
    cJSON *o = cJSON_CreateObject();
    if (o && add(o, "jsonrpc", cJSON_CreateString("2.0"))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *jsonrpc_build_request(const jsonrpc_id_t *id, const char *method, cJSON *params)
{
    cJSON *o = new_message();
    if (!o || add(o, "id", jsonrpc_id_to_json(id)) ||
        add(o, "method", cJSON_CreateString(method))) {
        cJSON_Delete(o);
        cJSON_Delete(params);
        return NULL;
    }
    if (params && add(o, "params", params)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *jsonrpc_build_notification(const char *method, cJSON *params)
{
    cJSON *o = new_message();
    if (!o || add(o, "method", cJSON_CreateString(method))) {
        cJSON_Delete(o);
        cJSON_Delete(params);
        return NULL;
    }
    if (params && add(o, "params", params)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *jsonrpc_build_result(const jsonrpc_id_t *id, cJSON *result)
{
    cJSON *o = new_message();
    if (!o || add(o, "id", jsonrpc_id_to_json(id))) {
        cJSON_Delete(o);
        cJSON_Delete(result);
        return NULL;
    }
    if (add(o, "result", result ? result : cJSON_CreateObject())) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *jsonrpc_build_error(const jsonrpc_id_t *id, int code, const char *message, cJSON *data)
{
    static const jsonrpc_id_t null_id = {JSONRPC_ID_NULL, 0, NULL};
    cJSON *o = new_message();
    cJSON *e = cJSON_CreateObject();
    if (!o || !e || add(o, "id", jsonrpc_id_to_json(id ? id : &null_id)) ||
        add(e, "code", cJSON_CreateNumber(code)) ||
        add(e, "message", cJSON_CreateString(message ? message : ""))) {
        cJSON_Delete(o);
        cJSON_Delete(e);
        cJSON_Delete(data);
        return NULL;
    }
    if (data && add(e, "data", data)) {
        cJSON_Delete(o);
        cJSON_Delete(e);
        return NULL;
    }
    if (add(o, "error", e)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- serialization ---- */

char *jsonrpc_print(const cJSON *msg, size_t *len_out)
{
    /* cJSON allocates through the same hooks as mcp_malloc (mcp_alloc_init), so the string
     * can be released with mcp_free; without the hooks both are plain malloc/free. */
    char *s = cJSON_PrintUnformatted(msg);
    if (s && len_out)
        *len_out = strlen(s);
    return s;
}

int jsonrpc_write(const cJSON *msg, buf_t *out)
{
    size_t len;
    char *s = jsonrpc_print(msg, &len);
    if (!s)
        return MCP_ENOMEM;
    int rc = buf_append(out, s, len);
    cJSON_free(s);
    return rc;
}
