/* breaker: see breaker.h. */
#include "breaker.h"

#include "clock.h"

#include <stddef.h>

static uint64_t default_clock(void *ud)
{
    (void)ud;
    return clock_mono_ms();
}

void gw_breaker_init(gw_breaker_t *b, int enabled, uint32_t threshold, uint64_t reset_ms,
                     gw_clock_fn clock, void *clock_ud)
{
    *b = (gw_breaker_t){0};
    b->clock = clock ? clock : default_clock;
    b->clock_ud = clock ? clock_ud : NULL;
    gw_breaker_configure(b, enabled, threshold, reset_ms);
}

void gw_breaker_configure(gw_breaker_t *b, int enabled, uint32_t threshold, uint64_t reset_ms)
{
    b->enabled = enabled;
    b->threshold = threshold ? threshold : 1;
    b->reset_ms = reset_ms;
    if (!enabled)
        gw_breaker_reset(b);
}

void gw_breaker_reset(gw_breaker_t *b)
{
    b->state = GW_BREAKER_CLOSED;
    b->failures = 0;
    b->probe_out = 0;
    b->opened_at = 0;
}

static void open_now(gw_breaker_t *b)
{
    b->state = GW_BREAKER_OPEN;
    b->opened_at = b->clock(b->clock_ud);
    b->probe_out = 0;
    b->failures = 0;
    b->opens++;
}

gw_breaker_state_t gw_breaker_state(gw_breaker_t *b)
{
    if (b->state == GW_BREAKER_OPEN && b->clock(b->clock_ud) - b->opened_at >= b->reset_ms) {
        b->state = GW_BREAKER_HALF_OPEN;
        b->probe_out = 0;
    }
    return b->state;
}

int gw_breaker_allow(gw_breaker_t *b)
{
    if (!b->enabled)
        return GW_BREAKER_PASS;
    switch (gw_breaker_state(b)) {
    case GW_BREAKER_CLOSED: return GW_BREAKER_PASS;
    case GW_BREAKER_HALF_OPEN:
        if (!b->probe_out) {
            b->probe_out = 1;
            return GW_BREAKER_PROBE;
        }
        break;
    case GW_BREAKER_OPEN: break;
    }
    b->rejected++;
    return GW_BREAKER_REFUSED;
}

int gw_breaker_success(gw_breaker_t *b, int pass)
{
    if (!b->enabled)
        return 0;
    switch (gw_breaker_state(b)) {
    case GW_BREAKER_CLOSED: b->failures = 0; return 0;
    case GW_BREAKER_HALF_OPEN:
        if (pass != GW_BREAKER_PROBE)
            return 0; /* a call sent before the breaker opened: only the probe decides */
        b->failures = 0;
        b->probe_out = 0;
        b->state = GW_BREAKER_CLOSED;
        return 1;
    case GW_BREAKER_OPEN: return 0;
    }
    return 0;
}

int gw_breaker_failure(gw_breaker_t *b, int pass)
{
    if (!b->enabled)
        return 0;
    switch (gw_breaker_state(b)) {
    case GW_BREAKER_CLOSED:
        if (++b->failures >= b->threshold) {
            open_now(b);
            return 1;
        }
        return 0;
    case GW_BREAKER_HALF_OPEN:
        if (pass != GW_BREAKER_PROBE)
            return 0;
        open_now(b);
        return 1;
    case GW_BREAKER_OPEN: return 0; /* late failures of calls sent before it opened */
    }
    return 0;
}

void gw_breaker_abort(gw_breaker_t *b, int pass)
{
    if (pass == GW_BREAKER_PROBE && b->state == GW_BREAKER_HALF_OPEN)
        b->probe_out = 0;
}

uint64_t gw_breaker_retry_in(gw_breaker_t *b)
{
    if (gw_breaker_state(b) != GW_BREAKER_OPEN)
        return 0;
    uint64_t elapsed = b->clock(b->clock_ud) - b->opened_at;
    return elapsed >= b->reset_ms ? 0 : b->reset_ms - elapsed;
}

const char *gw_breaker_state_name(gw_breaker_state_t s)
{
    switch (s) {
    case GW_BREAKER_CLOSED: return "closed";
    case GW_BREAKER_OPEN: return "open";
    case GW_BREAKER_HALF_OPEN: return "half-open";
    }
    return "unknown";
}
