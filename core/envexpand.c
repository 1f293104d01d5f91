#include "envexpand.h"

#include "alloc.h"
#include "buf.h"
#include "errors.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENVX_MAX_OUTPUT (1u << 20)

static const char *getenv_lookup(const char *name, void *userdata)
{
    (void)userdata;
    return getenv(name);
}

static int fail(char *errbuf, size_t errcap, int rc, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(char *errbuf, size_t errcap, int rc, size_t col, const char *fmt, ...)
{
    if (errbuf && errcap) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(errbuf, errcap, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < errcap)
            snprintf(errbuf + n, errcap - (size_t)n, " (at column %zu)", col + 1);
    }
    return rc;
}

int envx_expand(const char *in, char **out, envx_lookup_fn lookup, void *userdata, char *errbuf,
                size_t errcap)
{
    if (!lookup)
        lookup = getenv_lookup;
    buf_t b;
    buf_init(&b, ENVX_MAX_OUTPUT);
    int rc = 0;
    for (const char *p = in; *p && rc == 0;) {
        if (p[0] != '$' || (p[1] != '{' && p[1] != '$')) {
            rc = buf_putc(&b, *p++);
            continue;
        }
        if (p[1] == '$') {
            rc = buf_putc(&b, '$');
            p += 2;
            continue;
        }
        size_t col = (size_t)(p - in);
        const char *name = p + 2;
        const char *q = name;
        if (!(isalpha((unsigned char)*q) || *q == '_')) {
            rc = fail(errbuf, errcap, MCP_EPARSE, col, "invalid variable name after '${'");
            break;
        }
        while (isalnum((unsigned char)*q) || *q == '_')
            q++;
        char varname[256];
        size_t name_len = (size_t)(q - name);
        if (name_len >= sizeof varname) {
            rc = fail(errbuf, errcap, MCP_EPARSE, col, "variable name too long");
            break;
        }
        memcpy(varname, name, name_len);
        varname[name_len] = '\0';

        const char *def = NULL;
        size_t def_len = 0;
        int default_if_empty = 0;
        if (q[0] == ':' && q[1] == '-') {
            default_if_empty = 1;
            def = q + 2;
        } else if (q[0] == '-') {
            def = q + 1;
        } else if (q[0] != '}') {
            rc = fail(errbuf, errcap, MCP_EPARSE, col, "expected '}', ':-' or '-' after ${%s",
                      varname);
            break;
        }
        const char *close = strchr(def ? def : q, '}');
        if (!close) {
            rc = fail(errbuf, errcap, MCP_EPARSE, col, "unterminated ${%s", varname);
            break;
        }
        if (def)
            def_len = (size_t)(close - def);

        const char *value = lookup(varname, userdata);
        if (def && (!value || (default_if_empty && !*value)))
            rc = buf_append(&b, def, def_len);
        else if (value)
            rc = buf_append_str(&b, value);
        else
            rc = fail(errbuf, errcap, MCP_ENOTFOUND, col,
                      "environment variable %s is not set and has no default", varname);
        p = close + 1;
    }
    if (rc == 0) {
        *out = buf_detach(&b, NULL);
        if (!*out)
            rc = MCP_ENOMEM;
    }
    if (rc == MCP_ENOMEM || rc == MCP_ENOBUFS) {
        if (errbuf && errcap)
            snprintf(errbuf, errcap, "%s while expanding variables", mcp_strerror(rc));
    }
    buf_free(&b);
    return rc;
}
