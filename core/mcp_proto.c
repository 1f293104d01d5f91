#include "mcp_proto.h"

#include "alloc.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const mcp_protocol_versions[] = {
    MCP_PROTOCOL_2025_11_25,
    MCP_PROTOCOL_2025_06_18,
    MCP_PROTOCOL_2025_03_26,
    MCP_PROTOCOL_2024_11_05,
    NULL,
};

int mcp_version_supported(const char *v)
{
    if (!v)
        return 0;
    for (size_t i = 0; mcp_protocol_versions[i]; i++)
        if (strcmp(v, mcp_protocol_versions[i]) == 0)
            return 1;
    return 0;
}

const char *mcp_version_negotiate(const char *requested)
{
    for (size_t i = 0; requested && mcp_protocol_versions[i]; i++)
        if (strcmp(requested, mcp_protocol_versions[i]) == 0)
            return mcp_protocol_versions[i];
    return MCP_PROTOCOL_LATEST;
}

int mcp_version_compare(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

int mcp_version_client_accepts(const char *requested, const char *answered)
{
    return mcp_version_supported(answered) && mcp_version_compare(answered, requested) <= 0;
}

/* Unknown versions behave like the latest: an unknown string is most likely newer. */
static const char *effective(const char *v)
{
    return mcp_version_supported(v) ? v : MCP_PROTOCOL_LATEST;
}

int mcp_version_allows_batch(const char *v)
{
    return strcmp(effective(v), MCP_PROTOCOL_2025_03_26) == 0;
}

int mcp_version_has_protocol_header(const char *v)
{
    return strcmp(effective(v), MCP_PROTOCOL_2025_06_18) >= 0;
}

int mcp_version_has_structured_content(const char *v)
{
    return strcmp(effective(v), MCP_PROTOCOL_2025_06_18) >= 0;
}

int mcp_version_has_elicitation(const char *v)
{
    return strcmp(effective(v), MCP_PROTOCOL_2025_06_18) >= 0;
}

int mcp_version_has_icons_tasks(const char *v)
{
    return strcmp(effective(v), MCP_PROTOCOL_2025_11_25) >= 0;
}

int mcp_version_has_sse_priming(const char *v)
{
    return strcmp(effective(v), MCP_PROTOCOL_2025_11_25) >= 0;
}

int mcp_version_has_streamable_http(const char *v)
{
    return strcmp(effective(v), MCP_PROTOCOL_2025_03_26) >= 0;
}

static const char *const log_level_names[] = {
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency",
};

int mcp_log_level_parse(const char *name, mcp_log_level_t *out)
{
    for (size_t i = 0; name && i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcmp(name, log_level_names[i]) == 0) {
            *out = (mcp_log_level_t)i;
            return 0;
        }
    }
    return MCP_EINVAL;
}

const char *mcp_log_level_name(mcp_log_level_t level)
{
    if ((unsigned)level >= sizeof(log_level_names) / sizeof(log_level_names[0]))
        return "debug";
    return log_level_names[level];
}

/* ---- cursors: URL-safe base64 without padding ---- */

#define CURSOR_PREFIX     "mcp1:"
#define CURSOR_PREFIX_LEN 5
#define CURSOR_MAX        4096

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_value(unsigned char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

char *mcp_cursor_encode_payload(const char *payload, size_t len)
{
    size_t in_len = CURSOR_PREFIX_LEN + len;
    unsigned char *in = mcp_malloc(in_len);
    char *out = mcp_malloc((in_len + 2) / 3 * 4 + 1);
    if (!in || !out) {
        mcp_free(in);
        mcp_free(out);
        return NULL;
    }
    memcpy(in, CURSOR_PREFIX, CURSOR_PREFIX_LEN);
    if (len)
        memcpy(in + CURSOR_PREFIX_LEN, payload, len);
    size_t o = 0;
    for (size_t i = 0; i < in_len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < in_len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < in_len)
            v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < in_len)
            out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < in_len)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    mcp_free(in);
    return out;
}

int mcp_cursor_decode_payload(const char *cursor, char **payload, size_t *len)
{
    *payload = NULL;
    if (!cursor)
        return MCP_EINVAL;
    size_t n = strlen(cursor);
    if (n == 0 || n > CURSOR_MAX || n % 4 == 1)
        return MCP_EINVAL;
    unsigned char *raw = mcp_malloc(n / 4 * 3 + 3);
    if (!raw)
        return MCP_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        unsigned v = 0;
        size_t chunk = n - i < 4 ? n - i : 4;
        for (size_t j = 0; j < 4; j++) {
            int d = j < chunk ? b64_value((unsigned char)cursor[i + j]) : 0;
            if (d < 0) {
                mcp_free(raw);
                return MCP_EINVAL;
            }
            v = v << 6 | (unsigned)d;
        }
        raw[o++] = (unsigned char)(v >> 16);
        if (chunk > 2)
            raw[o++] = (unsigned char)(v >> 8);
        if (chunk > 3)
            raw[o++] = (unsigned char)v;
        /* Non-canonical trailing bits mean the text was not made by the encoder. */
        if ((chunk == 2 && (v & 0xFFFF)) || (chunk == 3 && (v & 0xFF))) {
            mcp_free(raw);
            return MCP_EINVAL;
        }
    }
    if (o < CURSOR_PREFIX_LEN || memcmp(raw, CURSOR_PREFIX, CURSOR_PREFIX_LEN) != 0) {
        mcp_free(raw);
        return MCP_EINVAL;
    }
    size_t plen = o - CURSOR_PREFIX_LEN;
    memmove(raw, raw + CURSOR_PREFIX_LEN, plen);
    raw[plen] = '\0';
    *payload = (char *)raw;
    if (len)
        *len = plen;
    return 0;
}

char *mcp_cursor_encode(size_t offset)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "o=%zu", offset);
    return mcp_cursor_encode_payload(text, (size_t)n);
}

int mcp_cursor_decode(const char *cursor, size_t *offset)
{
    char *payload;
    size_t len;
    int rc = mcp_cursor_decode_payload(cursor, &payload, &len);
    if (rc)
        return rc;
    rc = MCP_EINVAL;
    if (len > 2 && len <= 22 && payload[0] == 'o' && payload[1] == '=' &&
        strspn(payload + 2, "0123456789") == len - 2 && (payload[2] != '0' || len == 3)) {
        char *end;
        unsigned long long v = strtoull(payload + 2, &end, 10);
        if (*end == '\0' && v <= (size_t)-1) {
            *offset = (size_t)v;
            rc = 0;
        }
    }
    mcp_free(payload);
    return rc;
}
