/* cache: see cache.h. */
#include "cache.h"

#include "alloc.h"
#include "errors.h"

#include <string.h>

#define INITIAL_BUCKETS 64
#define MAX_BUCKETS     (1u << 20)

typedef struct entry_s entry_t;
struct entry_s {
    entry_t *hnext;       /* hash chain */
    entry_t *prev, *next; /* LRU: head is the most recently used */
    uint64_t hash;
    uint64_t expires;
    size_t klen, vlen;
    char *key;
    char *value; /* NUL-terminated */
};

struct gw_cache_s {
    entry_t **buckets;
    size_t nbuckets;
    entry_t *head, *tail;
    size_t entries, bytes, max_bytes;
    uint64_t ttl_ms;
    uint64_t hits, misses, evictions, expirations, stores;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int gw_cache_new(size_t max_bytes, uint64_t ttl_ms, gw_cache_t **out)
{
    if (!out || max_bytes == 0)
        return MCP_EINVAL;
    gw_cache_t *c = mcp_calloc(1, sizeof *c);
    if (!c)
        return MCP_ENOMEM;
    c->buckets = mcp_calloc(INITIAL_BUCKETS, sizeof *c->buckets);
    if (!c->buckets) {
        mcp_free(c);
        return MCP_ENOMEM;
    }
    c->nbuckets = INITIAL_BUCKETS;
    c->max_bytes = max_bytes;
    c->ttl_ms = ttl_ms;
    *out = c;
    return 0;
}

static void lru_unlink(gw_cache_t *c, entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(gw_cache_t *c, entry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static entry_t **find_slot(gw_cache_t *c, const char *key, size_t klen, uint64_t hash)
{
    entry_t **pp = &c->buckets[hash & (c->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->hnext)
        if ((*pp)->hash == hash && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    return pp;
}

static void drop(gw_cache_t *c, entry_t *e)
{
    entry_t **pp = find_slot(c, e->key, e->klen, e->hash);
    if (*pp == e)
        *pp = e->hnext;
    lru_unlink(c, e);
    c->entries--;
    c->bytes -= e->klen + e->vlen;
    mcp_free(e->key);
    mcp_free(e->value);
    mcp_free(e);
}

void gw_cache_free(gw_cache_t *c)
{
    if (!c)
        return;
    gw_cache_clear(c);
    mcp_free(c->buckets);
    mcp_free(c);
}

static void grow(gw_cache_t *c)
{
    if (c->entries < c->nbuckets || c->nbuckets >= MAX_BUCKETS)
        return;
    size_t n = c->nbuckets * 2;
    entry_t **nb = mcp_calloc(n, sizeof *nb);
    if (!nb)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < c->nbuckets; i++) {
        entry_t *e = c->buckets[i];
        while (e) {
            entry_t *next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    mcp_free(c->buckets);
    c->buckets = nb;
    c->nbuckets = n;
}

/* Make room for `need` more bytes: expired entries first, then least recently used. */
static void make_room(gw_cache_t *c, size_t need, uint64_t now_ms)
{
    if (c->bytes + need <= c->max_bytes)
        return;
    for (entry_t *e = c->tail; e;) {
        entry_t *prev = e->prev;
        if (e->expires <= now_ms) {
            drop(c, e);
            c->expirations++;
        }
        e = prev;
    }
    while (c->tail && c->bytes + need > c->max_bytes) {
        drop(c, c->tail);
        c->evictions++;
    }
}

void gw_cache_configure(gw_cache_t *c, size_t max_bytes, uint64_t ttl_ms)
{
    c->max_bytes = max_bytes ? max_bytes : 1;
    c->ttl_ms = ttl_ms;
    while (c->tail && c->bytes > c->max_bytes) {
        drop(c, c->tail);
        c->evictions++;
    }
}

int gw_cache_put(gw_cache_t *c, const char *key, const void *value, size_t len, uint64_t now_ms)
{
    if (!c || !key || (!value && len))
        return MCP_EINVAL;
    size_t klen = strlen(key);
    uint64_t hash = fnv1a(key, klen);
    entry_t **pp = find_slot(c, key, klen, hash);
    if (*pp)
        drop(c, *pp);
    if (klen + len > c->max_bytes || klen + len < len)
        return MCP_ENOBUFS;
    entry_t *e = mcp_calloc(1, sizeof *e);
    char *k = mcp_strndup(key, klen);
    char *v = mcp_malloc(len + 1);
    if (!e || !k || !v) {
        mcp_free(e);
        mcp_free(k);
        mcp_free(v);
        return MCP_ENOMEM;
    }
    if (len)
        memcpy(v, value, len);
    v[len] = '\0';
    make_room(c, klen + len, now_ms);
    e->key = k;
    e->value = v;
    e->klen = klen;
    e->vlen = len;
    e->hash = hash;
    e->expires = now_ms + c->ttl_ms;
    pp = find_slot(c, key, klen, hash); /* make_room may have changed the chain */
    *pp = e;
    lru_push_front(c, e);
    c->entries++;
    c->bytes += klen + len;
    c->stores++;
    grow(c);
    return 0;
}

int gw_cache_get(gw_cache_t *c, const char *key, uint64_t now_ms, const char **value, size_t *len)
{
    if (!c || !key)
        return MCP_EINVAL;
    size_t klen = strlen(key);
    entry_t *e = *find_slot(c, key, klen, fnv1a(key, klen));
    if (e && e->expires <= now_ms) {
        drop(c, e);
        c->expirations++;
        e = NULL;
    }
    if (!e) {
        c->misses++;
        return MCP_ENOTFOUND;
    }
    c->hits++;
    lru_unlink(c, e);
    lru_push_front(c, e);
    if (value)
        *value = e->value;
    if (len)
        *len = e->vlen;
    return 0;
}

int gw_cache_remove(gw_cache_t *c, const char *key)
{
    if (!c || !key)
        return MCP_EINVAL;
    size_t klen = strlen(key);
    entry_t *e = *find_slot(c, key, klen, fnv1a(key, klen));
    if (!e)
        return MCP_ENOTFOUND;
    drop(c, e);
    return 0;
}

size_t gw_cache_clear(gw_cache_t *c)
{
    size_t n = 0;
    while (c->head) {
        drop(c, c->head);
        n++;
    }
    return n;
}

void gw_cache_reset_counters(gw_cache_t *c)
{
    c->hits = c->misses = c->evictions = c->expirations = c->stores = 0;
}

void gw_cache_stats(const gw_cache_t *c, gw_cache_stats_t *out)
{
    *out = (gw_cache_stats_t){.hits = c->hits,
                              .misses = c->misses,
                              .evictions = c->evictions,
                              .expirations = c->expirations,
                              .stores = c->stores,
                              .entries = c->entries,
                              .bytes = c->bytes,
                              .max_bytes = c->max_bytes,
                              .ttl_ms = c->ttl_ms};
}
