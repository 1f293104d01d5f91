/* backoff: reconnect delays — capped exponential backoff with full jitter, and crash-loop
 * detection for stdio children.
 *
 * Attempt n (0, 1, 2, ...) waits a uniformly random time in [0, min(max_ms, initial_ms * 2^n)]
 * ("full jitter", AWS Architecture Blog, "Exponential Backoff And Jitter"): many upstreams (or
 * many gateways) that failed together do not retry together. A success resets n to 0.
 *
 * A child that keeps dying right after it started would, with the reset on success, restart
 * almost at once forever. So every unexpected exit is recorded with its time; when `crash_limit`
 * exits fall within `crash_window_ms`, the upstream is in a crash loop and each delay is drawn
 * from [max_ms / 2, max_ms] instead (the longest backoff, still jittered), until the exits age
 * out of the window.
 *
 * The random source is a splitmix64 generator seeded by the owner (tests pass a fixed seed and
 * get the same delays every run). Pure logic: no allocation, no libuv, time is passed in.
 *
 * Ownership: the struct is embedded by its owner; nothing to free. */
#ifndef GW_BACKOFF_H
#define GW_BACKOFF_H

#include <stdint.h>

#define GW_BACKOFF_CRASH_MAX 16 /* largest crash_limit */

typedef struct gw_backoff_s {
    uint64_t initial_ms; /* >= 1 */
    uint64_t max_ms;     /* >= initial_ms */
    uint32_t attempt;    /* delays handed out since the last reset */
    uint64_t rng;        /* splitmix64 state */
    /* crash-loop detection */
    uint32_t crash_limit;     /* exits within the window that make a crash loop (2..16); 0: off */
    uint64_t crash_window_ms; /* the window */
    uint64_t exits[GW_BACKOFF_CRASH_MAX]; /* ring of the most recent exit times */
    uint32_t exit_count;                  /* entries in the ring (<= crash_limit) */
    uint32_t exit_next;                   /* ring position of the next write */
    int crash_loop;                       /* the last recorded exit completed a crash loop */
    uint64_t crash_loops;                 /* times a crash loop was detected (stats) */
} gw_backoff_t;

/* initial_ms 0 is taken as 1; max_ms below initial_ms is raised to it. crash_limit above
 * GW_BACKOFF_CRASH_MAX is clamped; 0 or 1 turns detection off. */
void gw_backoff_init(gw_backoff_t *b, uint64_t initial_ms, uint64_t max_ms, uint64_t seed,
                     uint32_t crash_limit, uint64_t crash_window_ms);
/* New limits (config reload); the attempt count and crash history are kept. */
void gw_backoff_configure(gw_backoff_t *b, uint64_t initial_ms, uint64_t max_ms);

/* The delay before the next attempt, in ms; counts the attempt. now_ms is the current time
 * (crash-loop detection uses it to let old exits age out). */
uint64_t gw_backoff_next(gw_backoff_t *b, uint64_t now_ms);
/* The upstream worked: the next delay starts from attempt 0 again (crash history is kept). */
void gw_backoff_reset(gw_backoff_t *b);
/* A child exited unexpectedly at now_ms. Returns 1 when this makes (or keeps) a crash loop. */
int gw_backoff_record_exit(gw_backoff_t *b, uint64_t now_ms);
/* 1 while crash_limit exits lie within the window before now_ms. */
int gw_backoff_in_crash_loop(const gw_backoff_t *b, uint64_t now_ms);

/* The generator itself (splitmix64): the next 64 random bits. */
uint64_t gw_backoff_random(gw_backoff_t *b);

#endif
