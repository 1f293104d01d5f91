/* backoff: see backoff.h. */
#include "backoff.h"

void gw_backoff_configure(gw_backoff_t *b, uint64_t initial_ms, uint64_t max_ms)
{
    b->initial_ms = initial_ms ? initial_ms : 1;
    b->max_ms = max_ms < b->initial_ms ? b->initial_ms : max_ms;
}

void gw_backoff_init(gw_backoff_t *b, uint64_t initial_ms, uint64_t max_ms, uint64_t seed,
                     uint32_t crash_limit, uint64_t crash_window_ms)
{
    *b = (gw_backoff_t){0};
    gw_backoff_configure(b, initial_ms, max_ms);
    b->rng = seed;
    if (crash_limit > GW_BACKOFF_CRASH_MAX)
        crash_limit = GW_BACKOFF_CRASH_MAX;
    b->crash_limit = crash_limit >= 2 ? crash_limit : 0;
    b->crash_window_ms = crash_window_ms;
}

uint64_t gw_backoff_random(gw_backoff_t *b)
{
    uint64_t z = (b->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n] without modulo bias worth caring about at these magnitudes (n < 2^40). */
static uint64_t uniform(gw_backoff_t *b, uint64_t n)
{
    if (n == UINT64_MAX)
        return gw_backoff_random(b);
    return gw_backoff_random(b) % (n + 1);
}

int gw_backoff_in_crash_loop(const gw_backoff_t *b, uint64_t now_ms)
{
    if (!b->crash_limit || b->exit_count < b->crash_limit)
        return 0;
    /* The oldest of the last crash_limit exits is the one the next write overwrites. */
    uint64_t oldest = b->exits[b->exit_next % b->crash_limit];
    return now_ms - oldest <= b->crash_window_ms;
}

uint64_t gw_backoff_next(gw_backoff_t *b, uint64_t now_ms)
{
    uint64_t cap;
    if (b->crash_loop && gw_backoff_in_crash_loop(b, now_ms)) {
        b->attempt++;
        return b->max_ms / 2 + uniform(b, b->max_ms - b->max_ms / 2);
    }
    b->crash_loop = 0;
    /* initial * 2^attempt, saturating at max without overflowing. */
    cap = b->initial_ms;
    for (uint32_t i = 0; i < b->attempt && cap < b->max_ms; i++)
        cap = cap > b->max_ms / 2 ? b->max_ms : cap * 2;
    if (cap > b->max_ms)
        cap = b->max_ms;
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    return uniform(b, cap);
}

void gw_backoff_reset(gw_backoff_t *b)
{
    b->attempt = 0;
}

int gw_backoff_record_exit(gw_backoff_t *b, uint64_t now_ms)
{
    if (!b->crash_limit)
        return 0;
    b->exits[b->exit_next] = now_ms;
    b->exit_next = (b->exit_next + 1) % b->crash_limit;
    if (b->exit_count < b->crash_limit)
        b->exit_count++;
    int loop = gw_backoff_in_crash_loop(b, now_ms);
    if (loop && !b->crash_loop)
        b->crash_loops++;
    b->crash_loop = loop;
    return loop;
}
