#include "alloc.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long fail_countdown = -1; /* -1: never fail */
static long failures;

static int should_fail(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0) {
        failures++;
        return 1;
    }
    fail_countdown--;
    return 0;
}

void mcp_alloc_fail_after(long n)
{
    fail_countdown = n;
    failures = 0;
}

long mcp_alloc_failures(void)
{
    return failures;
}

void *mcp_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *mcp_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *mcp_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(ptr, size ? size : 1);
}

void mcp_free(void *ptr)
{
    free(ptr);
}

char *mcp_strndup(const char *s, size_t n)
{
    char *copy = mcp_malloc(n + 1);
    if (copy) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

char *mcp_strdup(const char *s)
{
    return mcp_strndup(s, strlen(s));
}

char *mcp_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *out = mcp_malloc((size_t)n + 1);
    if (!out)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

static void *cjson_malloc(size_t size)
{
    return mcp_malloc(size);
}

void mcp_alloc_init(void)
{
    cJSON_Hooks hooks = {.malloc_fn = cjson_malloc, .free_fn = mcp_free};
    cJSON_InitHooks(&hooks);
}
