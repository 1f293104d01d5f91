/* Unit tests for linebuf: splitting, CRLF, partial lines, over-long lines, early stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "linebuf.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    char lines[16][64];
    int count;
    int overflows;
    size_t last_overflow;
    int stop_after;
} sink_t;

static int on_line(void *ud, char *line, size_t len)
{
    sink_t *s = ud;
    assert_int_equal(strlen(line), len);
    snprintf(s->lines[s->count++], 64, "%s", line);
    return s->stop_after && s->count == s->stop_after ? 42 : 0;
}

static void on_overflow(void *ud, size_t seen)
{
    sink_t *s = ud;
    s->overflows++;
    s->last_overflow = seen;
}

static int feed(linebuf_t *lb, const char *text)
{
    char tmp[256];
    size_t n = strlen(text);
    memcpy(tmp, text, n + 1);
    int rc = linebuf_feed(lb, tmp, n);
    assert_memory_equal(tmp, text, n); /* the caller's bytes are restored */
    return rc;
}

static void test_split_and_partial(void **state)
{
    (void)state;
    sink_t s = {0};
    linebuf_t lb;
    linebuf_init(&lb, 32, on_line, on_overflow, &s);
    assert_int_equal(feed(&lb, "one\ntwo\r\n\nthr"), 0);
    assert_int_equal(s.count, 2);
    assert_int_equal(feed(&lb, "ee\nfour"), 0);
    assert_int_equal(s.count, 3);
    assert_string_equal(s.lines[0], "one");
    assert_string_equal(s.lines[1], "two");
    assert_string_equal(s.lines[2], "three");
    assert_int_equal(linebuf_finish(&lb), 0);
    assert_int_equal(s.count, 4);
    assert_string_equal(s.lines[3], "four");
    linebuf_free(&lb);
}

static void test_overlong_lines_are_skipped(void **state)
{
    (void)state;
    sink_t s = {0};
    linebuf_t lb;
    linebuf_init(&lb, 8, on_line, on_overflow, &s);
    /* over-long in one chunk */
    assert_int_equal(feed(&lb, "0123456789abc\nok\n"), 0);
    assert_int_equal(s.overflows, 1);
    assert_int_equal(s.last_overflow, 13);
    /* over-long across chunks */
    assert_int_equal(feed(&lb, "01234"), 0);
    assert_int_equal(feed(&lb, "56789"), 0);
    assert_int_equal(feed(&lb, "xyz\nfine\n"), 0);
    assert_int_equal(s.overflows, 2);
    assert_int_equal(s.last_overflow, 13);
    assert_int_equal(s.count, 2);
    assert_string_equal(s.lines[0], "ok");
    assert_string_equal(s.lines[1], "fine");
    linebuf_free(&lb);
}

static void test_stop_early(void **state)
{
    (void)state;
    sink_t s = {.stop_after = 1};
    linebuf_t lb;
    linebuf_init(&lb, 32, on_line, NULL, &s);
    assert_int_equal(feed(&lb, "a\nb\nc\n"), 42);
    assert_int_equal(s.count, 1);
    linebuf_free(&lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_and_partial),
        cmocka_unit_test(test_overlong_lines_are_skipped),
        cmocka_unit_test(test_stop_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
