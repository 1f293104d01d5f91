/* backoff: full-jitter bounds per attempt, the cap, reset, determinism under a seed, and
 * crash-loop detection (exits within the window -> delays from [max/2, max]; aging out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

static void bounds_and_cap(void **state)
{
    (void)state;
    gw_backoff_t b;
    gw_backoff_init(&b, 100, 1000, 42, 0, 0);
    uint64_t caps[] = {100, 200, 400, 800, 1000, 1000, 1000};
    /* Over many seeds, each attempt stays within [0, cap] and reaches above cap/2 sometimes
     * (so it is not a constant and not capped too low). */
    for (size_t a = 0; a < sizeof caps / sizeof caps[0]; a++) {
        uint64_t hi = 0;
        for (uint64_t seed = 1; seed <= 200; seed++) {
            gw_backoff_init(&b, 100, 1000, seed, 0, 0);
            uint64_t d = 0;
            for (size_t i = 0; i <= a; i++)
                d = gw_backoff_next(&b, 0);
            assert_true(d <= caps[a]);
            if (d > hi)
                hi = d;
        }
        assert_true(hi > caps[a] / 2);
    }
    /* Many attempts never overflow past the cap. */
    gw_backoff_init(&b, 1, UINT64_MAX / 4, 7, 0, 0);
    for (int i = 0; i < 200; i++)
        assert_true(gw_backoff_next(&b, 0) <= UINT64_MAX / 4);
    /* reset starts over from the initial delay. */
    gw_backoff_init(&b, 100, 100000, 9, 0, 0);
    for (int i = 0; i < 10; i++)
        gw_backoff_next(&b, 0);
    gw_backoff_reset(&b);
    assert_int_equal(b.attempt, 0);
    assert_true(gw_backoff_next(&b, 0) <= 100);
    /* Degenerate limits. */
    gw_backoff_init(&b, 0, 0, 1, 0, 0);
    assert_int_equal(b.initial_ms, 1);
    assert_int_equal(b.max_ms, 1);
    assert_true(gw_backoff_next(&b, 0) <= 1);
}

static void deterministic_seed(void **state)
{
    (void)state;
    gw_backoff_t a, b, c;
    gw_backoff_init(&a, 50, 5000, 1234, 0, 0);
    gw_backoff_init(&b, 50, 5000, 1234, 0, 0);
    gw_backoff_init(&c, 50, 5000, 4321, 0, 0);
    int differ = 0;
    for (int i = 0; i < 20; i++) {
        uint64_t x = gw_backoff_next(&a, 0), y = gw_backoff_next(&b, 0);
        assert_int_equal(x, y);
        if (gw_backoff_next(&c, 0) != x)
            differ = 1;
    }
    assert_true(differ);
}

static void crash_loop(void **state)
{
    (void)state;
    gw_backoff_t b;
    gw_backoff_init(&b, 10, 10000, 5, 3, 1000);
    /* Two quick exits: not yet a loop; delays stay small after a reset. */
    assert_int_equal(gw_backoff_record_exit(&b, 100), 0);
    assert_int_equal(gw_backoff_record_exit(&b, 200), 0);
    gw_backoff_reset(&b);
    assert_true(gw_backoff_next(&b, 200) <= 10);
    /* Third within the window: crash loop; every delay is long even after a reset. */
    assert_int_equal(gw_backoff_record_exit(&b, 300), 1);
    assert_int_equal(b.crash_loops, 1);
    assert_true(gw_backoff_in_crash_loop(&b, 300));
    for (int i = 0; i < 20; i++) {
        gw_backoff_reset(&b);
        uint64_t d = gw_backoff_next(&b, 400);
        assert_true(d >= 5000 && d <= 10000);
    }
    /* Exits age out of the window: back to the normal schedule. */
    assert_false(gw_backoff_in_crash_loop(&b, 1101));
    gw_backoff_reset(&b);
    assert_true(gw_backoff_next(&b, 1101) <= 10);
    /* Spread-out exits never make a loop. */
    gw_backoff_init(&b, 10, 10000, 5, 3, 1000);
    for (uint64_t t = 0; t < 20000; t += 600)
        assert_int_equal(gw_backoff_record_exit(&b, t), 0);
    /* Detection off with limit 0 or 1; limits above the ring size are clamped. */
    gw_backoff_init(&b, 10, 100, 5, 1, 1000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(gw_backoff_record_exit(&b, 1), 0);
    gw_backoff_init(&b, 10, 100, 5, 100, 1000);
    assert_int_equal(b.crash_limit, GW_BACKOFF_CRASH_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bounds_and_cap),
        cmocka_unit_test(deterministic_seed),
        cmocka_unit_test(crash_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
