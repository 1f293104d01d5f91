/* cache: hit/miss counters, TTL expiry, byte budget with LRU eviction (a hit refreshes),
 * oversized values, replace, remove, clear, reconfigure, many keys (table growth), OOM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "cache.h"
#include "errors.h"

#include <stdio.h>
#include <string.h>

static void hit_miss_ttl(void **state)
{
    (void)state;
    gw_cache_t *c;
    assert_int_equal(gw_cache_new(0, 10, &c), MCP_EINVAL);
    assert_int_equal(gw_cache_new(1000, 100, &c), 0);
    const char *v;
    size_t len;
    assert_int_equal(gw_cache_get(c, "file:///a", 0, &v, &len), MCP_ENOTFOUND);
    assert_int_equal(gw_cache_put(c, "file:///a", "hello", 5, 0), 0);
    assert_int_equal(gw_cache_get(c, "file:///a", 50, &v, &len), 0);
    assert_int_equal(len, 5);
    assert_string_equal(v, "hello");
    assert_int_equal(gw_cache_get(c, "file:///b", 50, &v, &len), MCP_ENOTFOUND);
    /* Expires ttl after it was stored. */
    assert_int_equal(gw_cache_get(c, "file:///a", 99, &v, &len), 0);
    assert_int_equal(gw_cache_get(c, "file:///a", 100, &v, &len), MCP_ENOTFOUND);
    gw_cache_stats_t st;
    gw_cache_stats(c, &st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.expirations, 1);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.stores, 1);
    /* Replacing keeps one entry with the new value. */
    assert_int_equal(gw_cache_put(c, "k", "one", 3, 0), 0);
    assert_int_equal(gw_cache_put(c, "k", "three", 5, 0), 0);
    gw_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.bytes, 1 + 5);
    assert_int_equal(gw_cache_get(c, "k", 1, &v, &len), 0);
    assert_string_equal(v, "three");
    assert_int_equal(gw_cache_remove(c, "k"), 0);
    assert_int_equal(gw_cache_remove(c, "k"), MCP_ENOTFOUND);
    /* Empty values are fine. */
    assert_int_equal(gw_cache_put(c, "empty", NULL, 0, 0), 0);
    assert_int_equal(gw_cache_get(c, "empty", 1, &v, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(gw_cache_put(c, NULL, "x", 1, 0), MCP_EINVAL);
    gw_cache_reset_counters(c);
    gw_cache_stats(c, &st);
    assert_int_equal(st.hits + st.misses + st.stores, 0);
    gw_cache_free(c);
}

static void lru_budget(void **state)
{
    (void)state;
    gw_cache_t *c;
    /* Each entry is 1 (key) + 9 (value) = 10 bytes; the budget holds 3. */
    assert_int_equal(gw_cache_new(30, 1000, &c), 0);
    assert_int_equal(gw_cache_put(c, "a", "123456789", 9, 0), 0);
    assert_int_equal(gw_cache_put(c, "b", "123456789", 9, 0), 0);
    assert_int_equal(gw_cache_put(c, "c", "123456789", 9, 0), 0);
    const char *v;
    /* Touch a: b is now the least recently used. */
    assert_int_equal(gw_cache_get(c, "a", 1, &v, NULL), 0);
    assert_int_equal(gw_cache_put(c, "d", "123456789", 9, 2), 0);
    assert_int_equal(gw_cache_get(c, "b", 3, &v, NULL), MCP_ENOTFOUND);
    assert_int_equal(gw_cache_get(c, "a", 3, &v, NULL), 0);
    assert_int_equal(gw_cache_get(c, "c", 3, &v, NULL), 0);
    assert_int_equal(gw_cache_get(c, "d", 3, &v, NULL), 0);
    gw_cache_stats_t st;
    gw_cache_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.bytes, 30);
    /* A value larger than the whole budget is refused and removes the old entry. */
    char big[64];
    memset(big, 'x', sizeof big);
    assert_int_equal(gw_cache_put(c, "a", big, sizeof big, 4), MCP_ENOBUFS);
    assert_int_equal(gw_cache_get(c, "a", 4, &v, NULL), MCP_ENOTFOUND);
    /* One 25-byte entry evicts everything older (LRU order: a gone, then c, d). */
    assert_int_equal(gw_cache_put(c, "e", big, 24, 5), 0);
    gw_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_true(st.bytes <= st.max_bytes);
    /* Expired entries go before live ones when space is needed. */
    gw_cache_clear(c);
    gw_cache_configure(c, 30, 10);
    assert_int_equal(gw_cache_put(c, "x", "123456789", 9, 0), 0);  /* expires at 10 */
    assert_int_equal(gw_cache_put(c, "y", "123456789", 9, 8), 0);  /* expires at 18 */
    assert_int_equal(gw_cache_get(c, "x", 9, &v, NULL), 0);        /* x most recent */
    assert_int_equal(gw_cache_put(c, "z", "123456789", 9, 11), 0); /* fits */
    assert_int_equal(gw_cache_put(c, "w", "123456789", 9, 12), 0); /* x expired: dropped */
    assert_int_equal(gw_cache_get(c, "y", 12, &v, NULL), 0);
    gw_cache_stats(c, &st);
    assert_int_equal(st.expirations, 1);
    /* Shrinking the budget evicts at once. */
    gw_cache_configure(c, 10, 10);
    gw_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(gw_cache_get(c, "y", 12, &v, NULL), 0); /* the most recently used stays */
    assert_int_equal(gw_cache_clear(c), 1);
    gw_cache_free(c);
}

static void many_keys(void **state)
{
    (void)state;
    gw_cache_t *c;
    assert_int_equal(gw_cache_new(1 << 20, 1000, &c), 0);
    char key[32], val[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "res://%d", i);
        int n = snprintf(val, sizeof val, "v%d", i);
        assert_int_equal(gw_cache_put(c, key, val, (size_t)n, 0), 0);
    }
    for (int i = 0; i < 5000; i += 7) {
        snprintf(key, sizeof key, "res://%d", i);
        snprintf(val, sizeof val, "v%d", i);
        const char *v;
        assert_int_equal(gw_cache_get(c, key, 1, &v, NULL), 0);
        assert_string_equal(v, val);
    }
    gw_cache_stats_t st;
    gw_cache_stats(c, &st);
    assert_int_equal(st.entries, 5000);
    assert_int_equal(gw_cache_clear(c), 5000);
    gw_cache_free(c);
    gw_cache_free(NULL);
}

static void out_of_memory(void **state)
{
    (void)state;
    gw_cache_t *c = NULL;
    mcp_alloc_fail_after(0);
    assert_int_equal(gw_cache_new(100, 10, &c), MCP_ENOMEM);
    mcp_alloc_fail_after(1);
    assert_int_equal(gw_cache_new(100, 10, &c), MCP_ENOMEM);
    mcp_alloc_fail_after(-1);
    assert_int_equal(gw_cache_new(100, 10, &c), 0);
    for (long n = 0; n < 3; n++) {
        mcp_alloc_fail_after(n);
        assert_int_equal(gw_cache_put(c, "k", "v", 1, 0), MCP_ENOMEM);
        mcp_alloc_fail_after(-1);
    }
    gw_cache_stats_t st;
    gw_cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    gw_cache_free(c);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hit_miss_ttl),
        cmocka_unit_test(lru_budget),
        cmocka_unit_test(many_keys),
        cmocka_unit_test(out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
