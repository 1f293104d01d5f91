/* cache: the gateway's resource cache — key -> bytes with a TTL, a byte budget and LRU eviction.
 *
 * The aggregator caches resources/read results by URI (the value is the result's JSON text).
 * Every entry expires ttl_ms after it was stored (an expired entry is a miss and is dropped
 * when looked up, or when space is needed). The sum of key and value bytes of all entries never
 * exceeds max_bytes: storing evicts least recently used entries (a hit makes an entry the most
 * recently used) until the new one fits; a value larger than the whole budget is not stored.
 * Counters: hits, misses (including expired), evictions (for space), expirations, stores.
 *
 * Lookup is a hash table (FNV-1a, chained, grown by doubling up to a bounded size); LRU is a
 * doubly linked list. Time is passed in (monotonic ms) so tests control expiry.
 *
 * Ownership: the cache owns copies of keys and values. A pointer returned by gw_cache_get is
 * valid until the next call that modifies the cache (put, remove, clear, a get that expires an
 * entry, free). Single-threaded. */
#ifndef GW_CACHE_H
#define GW_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_cache_s gw_cache_t;

typedef struct gw_cache_stats_s {
    uint64_t hits, misses, evictions, expirations, stores;
    size_t entries;
    size_t bytes;     /* keys + values now held */
    size_t max_bytes; /* the budget */
    uint64_t ttl_ms;
} gw_cache_stats_t;

/* 0 and *out, MCP_EINVAL (max_bytes 0 or out NULL), MCP_ENOMEM. */
int gw_cache_new(size_t max_bytes, uint64_t ttl_ms, gw_cache_t **out);
/* NULL is a no-op. */
void gw_cache_free(gw_cache_t *c);
/* New limits (config reload); entries over a smaller budget are evicted (LRU first). */
void gw_cache_configure(gw_cache_t *c, size_t max_bytes, uint64_t ttl_ms);

/* Store a copy of value under key (replacing an older entry). 0, MCP_EINVAL, MCP_ENOBUFS (the
 * entry alone exceeds the budget: nothing stored, an older entry under key is removed),
 * MCP_ENOMEM. */
int gw_cache_put(gw_cache_t *c, const char *key, const void *value, size_t len, uint64_t now_ms);
/* 0 and *value / *len (borrowed, see above; the value is NUL-terminated) on a hit, or
 * MCP_ENOTFOUND on a miss. Counts the hit or miss. */
int gw_cache_get(gw_cache_t *c, const char *key, uint64_t now_ms, const char **value, size_t *len);
/* Drop one entry: 0 or MCP_ENOTFOUND. Not counted as an eviction. */
int gw_cache_remove(gw_cache_t *c, const char *key);
/* Drop everything; returns how many entries were dropped. Counters are kept. */
size_t gw_cache_clear(gw_cache_t *c);
/* Zero the hit/miss/eviction/expiration/store counters. */
void gw_cache_reset_counters(gw_cache_t *c);
void gw_cache_stats(const gw_cache_t *c, gw_cache_stats_t *out);

#endif
