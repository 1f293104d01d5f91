/* breaker: closed -> open after N consecutive failures, refusals while open, half-open after the
 * reset timeout with exactly one probe, probe outcome, late outcomes, abort, disabled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "breaker.h"

static uint64_t fake_now;

static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static void opens_after_threshold(void **state)
{
    (void)state;
    gw_breaker_t b;
    fake_now = 1000;
    gw_breaker_init(&b, 1, 3, 500, fake_clock, NULL);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_CLOSED);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gw_breaker_allow(&b), GW_BREAKER_PASS);
        assert_int_equal(gw_breaker_failure(&b, GW_BREAKER_PASS), 0);
    }
    /* A success in between resets the consecutive count. */
    assert_int_equal(gw_breaker_success(&b, GW_BREAKER_PASS), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(gw_breaker_failure(&b, GW_BREAKER_PASS), 0);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_CLOSED);
    assert_int_equal(gw_breaker_failure(&b, GW_BREAKER_PASS), 1);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_OPEN);
    assert_int_equal(b.opens, 1);
    /* Open: refused and counted; late outcomes change nothing. */
    assert_int_equal(gw_breaker_allow(&b), GW_BREAKER_REFUSED);
    assert_int_equal(gw_breaker_allow(&b), GW_BREAKER_REFUSED);
    assert_int_equal(b.rejected, 2);
    assert_int_equal(gw_breaker_success(&b, GW_BREAKER_PASS), 0);
    assert_int_equal(gw_breaker_failure(&b, GW_BREAKER_PASS), 0);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_OPEN);
    assert_int_equal(gw_breaker_retry_in(&b), 500);
    fake_now += 499;
    assert_int_equal(gw_breaker_retry_in(&b), 1);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_OPEN);
}

static void half_open_single_probe(void **state)
{
    (void)state;
    gw_breaker_t b;
    fake_now = 0;
    gw_breaker_init(&b, 1, 1, 100, fake_clock, NULL);
    assert_int_equal(gw_breaker_failure(&b, gw_breaker_allow(&b)), 1);
    fake_now = 100;
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_HALF_OPEN);
    assert_int_equal(gw_breaker_retry_in(&b), 0);
    int probe = gw_breaker_allow(&b);
    assert_int_equal(probe, GW_BREAKER_PROBE);
    /* Only one probe at a time. */
    assert_int_equal(gw_breaker_allow(&b), GW_BREAKER_REFUSED);
    /* A late outcome of a call sent before the breaker opened does not decide. */
    assert_int_equal(gw_breaker_success(&b, GW_BREAKER_PASS), 0);
    assert_int_equal(gw_breaker_failure(&b, GW_BREAKER_PASS), 0);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_HALF_OPEN);
    /* Probe fails: open again for another reset period. */
    assert_int_equal(gw_breaker_failure(&b, probe), 1);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_OPEN);
    assert_int_equal(b.opens, 2);
    fake_now = 150;
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_OPEN);
    fake_now = 200;
    probe = gw_breaker_allow(&b);
    assert_int_equal(probe, GW_BREAKER_PROBE);
    /* The caller cancelled the probe: the slot is given back. */
    gw_breaker_abort(&b, probe);
    probe = gw_breaker_allow(&b);
    assert_int_equal(probe, GW_BREAKER_PROBE);
    assert_int_equal(gw_breaker_success(&b, probe), 1);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_CLOSED);
    assert_int_equal(gw_breaker_allow(&b), GW_BREAKER_PASS);
    assert_int_equal(gw_breaker_allow(&b), GW_BREAKER_PASS);
}

static void disabled_and_reset(void **state)
{
    (void)state;
    gw_breaker_t b;
    fake_now = 0;
    gw_breaker_init(&b, 0, 1, 100, fake_clock, NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(gw_breaker_failure(&b, gw_breaker_allow(&b)), 0);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_CLOSED);
    gw_breaker_configure(&b, 1, 2, 100);
    gw_breaker_failure(&b, GW_BREAKER_PASS);
    gw_breaker_failure(&b, GW_BREAKER_PASS);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_OPEN);
    gw_breaker_reset(&b);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_CLOSED);
    assert_int_equal(gw_breaker_allow(&b), GW_BREAKER_PASS);
    /* Disabling an open breaker closes it. */
    gw_breaker_failure(&b, GW_BREAKER_PASS);
    gw_breaker_failure(&b, GW_BREAKER_PASS);
    gw_breaker_configure(&b, 0, 2, 100);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_CLOSED);
    /* threshold 0 behaves as 1; the default clock works. */
    gw_breaker_init(&b, 1, 0, 60000, NULL, NULL);
    assert_int_equal(b.threshold, 1);
    gw_breaker_failure(&b, GW_BREAKER_PASS);
    assert_int_equal(gw_breaker_state(&b), GW_BREAKER_OPEN);
    assert_true(gw_breaker_retry_in(&b) > 59000);
    assert_string_equal(gw_breaker_state_name(GW_BREAKER_HALF_OPEN), "half-open");
    assert_string_equal(gw_breaker_state_name(GW_BREAKER_OPEN), "open");
    assert_string_equal(gw_breaker_state_name(GW_BREAKER_CLOSED), "closed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opens_after_threshold),
        cmocka_unit_test(half_open_single_probe),
        cmocka_unit_test(disabled_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
