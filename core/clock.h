/* clock: monotonic and wall-clock time helpers.
 *
 * Durations and deadlines always use the monotonic clock (never affected by wall-clock jumps);
 * wall time is only for timestamps shown to people. */
#ifndef MCP_CLOCK_H
#define MCP_CLOCK_H

#include <stddef.h>
#include <stdint.h>

uint64_t clock_mono_ns(void);
uint64_t clock_mono_us(void);
uint64_t clock_mono_ms(void);
/* Milliseconds since the Unix epoch. */
int64_t clock_wall_ms(void);
/* "2026-11-22T03:24:00.123Z" into out (at least 25 bytes). */
void clock_format_iso8601(char *out, size_t cap, int64_t wall_ms);

#endif
