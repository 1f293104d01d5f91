/* rng: a small, fast, seedable pseudo-random generator (xoshiro256**, seeded by splitmix64).
 *
 * Used wherever a run must replay identically under `--seed`: mock fault rules, load mixes,
 * backoff jitter in tests. Not for secrets (session ids use the OS's random source). Each
 * consumer keeps its own rng_t, so independent streams never shift each other. */
#ifndef MCP_RNG_H
#define MCP_RNG_H

#include <stdint.h>

typedef struct rng_s {
    uint64_t s[4];
} rng_t;

/* Seed from one 64-bit value; different seeds give unrelated streams. */
void rng_seed(rng_t *r, uint64_t seed);
/* Seed stream number `stream` of `seed` (e.g. one per fault rule or per load template). */
void rng_seed_stream(rng_t *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng_t *r);
/* Uniform in [0, 1). */
double rng_unit(rng_t *r);
/* Uniform in [0, bound) for bound > 0 (multiply-shift; bias below bound / 2^64). */
uint64_t rng_below(rng_t *r, uint64_t bound);

#endif
