/* breaker: a circuit breaker for one upstream (closed / open / half-open).
 *
 * Closed: calls pass; each failure adds to a count of consecutive failures and each success
 * resets it. When the count reaches `threshold` the breaker opens. Open: calls are refused
 * without touching the upstream, until `reset_ms` have passed since it opened; it is then
 * half-open. Half-open: exactly one call (the probe) is let through; its success closes the
 * breaker, its failure opens it again for another `reset_ms`; while the probe is out, further
 * calls are refused. A call that ends neither way (cancelled by its caller) gives the probe slot
 * back (gw_breaker_abort).
 *
 * What counts as a failure is the caller's decision (the upstream module counts timeouts and
 * transport errors, not JSON-RPC error responses or tool results with isError).
 *
 * Pure logic: no allocation, no libuv. Time comes from an injectable clock (milliseconds,
 * monotonic) so tests can move time by hand. The open -> half-open transition happens lazily
 * when the state is read or a call asks to pass. A disabled breaker (enabled = 0) lets every
 * call pass and never opens.
 *
 * Ownership: the struct is embedded by its owner; nothing to free. */
#ifndef GW_BREAKER_H
#define GW_BREAKER_H

#include <stdint.h>

typedef enum {
    GW_BREAKER_CLOSED = 0,
    GW_BREAKER_OPEN,
    GW_BREAKER_HALF_OPEN,
} gw_breaker_state_t;

/* Monotonic milliseconds. */
typedef uint64_t (*gw_clock_fn)(void *ud);

typedef struct gw_breaker_s {
    int enabled;
    uint32_t threshold; /* consecutive failures that open the breaker (>= 1) */
    uint64_t reset_ms;  /* open -> half-open after this long */
    gw_clock_fn clock;
    void *clock_ud;
    gw_breaker_state_t state;
    uint32_t failures; /* consecutive, while closed */
    uint64_t opened_at;
    int probe_out; /* half-open: the one probe call is in flight */
    /* counters for stats */
    uint64_t opens;    /* times it opened */
    uint64_t rejected; /* calls refused while open or half-open */
} gw_breaker_t;

/* Initialise closed. threshold 0 is taken as 1. clock NULL uses clock_mono_ms. */
void gw_breaker_init(gw_breaker_t *b, int enabled, uint32_t threshold, uint64_t reset_ms,
                     gw_clock_fn clock, void *clock_ud);
/* Change the parameters (config reload) without changing the state or counters. */
void gw_breaker_configure(gw_breaker_t *b, int enabled, uint32_t threshold, uint64_t reset_ms);
/* Back to closed with no failures (manual reconnect). Counters are kept. */
void gw_breaker_reset(gw_breaker_t *b);

/* May a call go out now? 0: refused (counted). GW_BREAKER_PASS: yes. GW_BREAKER_PROBE: yes, as
 * the half-open probe. Keep the value and hand it back with the call's outcome: only the
 * probe's outcome decides in half-open (late outcomes of calls sent earlier do not). */
enum { GW_BREAKER_REFUSED = 0, GW_BREAKER_PASS = 1, GW_BREAKER_PROBE = 2 };
int gw_breaker_allow(gw_breaker_t *b);
/* Outcome of a call that gw_breaker_allow let through (`pass` is what it returned). Returns 1
 * when the state changed. */
int gw_breaker_success(gw_breaker_t *b, int pass);
int gw_breaker_failure(gw_breaker_t *b, int pass);
/* The call ended without an outcome (cancelled): gives the half-open probe slot back. */
void gw_breaker_abort(gw_breaker_t *b, int pass);

/* Current state (applies the open -> half-open transition when due). */
gw_breaker_state_t gw_breaker_state(gw_breaker_t *b);
/* Milliseconds until an open breaker becomes half-open (0 when not open). */
uint64_t gw_breaker_retry_in(gw_breaker_t *b);
/* "closed", "open", "half-open". */
const char *gw_breaker_state_name(gw_breaker_state_t s);

#endif
