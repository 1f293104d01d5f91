/* alloc: the one allocation wrapper of the project.
 *
 * Every heap allocation in core/, gateway/, mocks/ and harness/ goes through these functions so
 * that tests can make the Nth allocation fail (mcp_alloc_fail_after) and check that each caller
 * reports MCP_ENOMEM and leaks nothing. cJSON is routed here too (mcp_alloc_init).
 *
 * Ownership: memory from mcp_malloc/calloc/realloc/strdup/strndup/asprintf is released with
 * mcp_free. mcp_free(NULL) is a no-op. The failure injection counter is process-global and meant
 * for single-threaded tests only. */
#ifndef MCP_ALLOC_H
#define MCP_ALLOC_H

#include <stddef.h>

/* Route cJSON's allocations through this wrapper. Idempotent; call once at start-up. */
void mcp_alloc_init(void);

void *mcp_malloc(size_t size);
void *mcp_calloc(size_t count, size_t size);
void *mcp_realloc(void *ptr, size_t size);
void mcp_free(void *ptr);
char *mcp_strdup(const char *s);
char *mcp_strndup(const char *s, size_t n);
/* printf into a fresh string; NULL on allocation failure. */
char *mcp_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Test hook: after n more successful allocations, every allocation fails until reset with -1. */
void mcp_alloc_fail_after(long n);
/* Number of allocations that failed because of the hook since the last mcp_alloc_fail_after. */
long mcp_alloc_failures(void);

#endif
