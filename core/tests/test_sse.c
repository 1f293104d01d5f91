/* Unit tests for sse: every parsing rule, chunking independence, the TS-SDK transcript from the
 * MCP brief, limits, and writer -> parser round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "sse.h"

#include <stdio.h>
#include <string.h>

#define MAX_EVENTS 16

typedef struct {
    char type[64];
    char data[512];
    size_t data_len;
    char id[128];
    long retry;
} rec_event_t;

typedef struct {
    rec_event_t ev[MAX_EVENTS];
    int count;
    int stop_after; /* return 7 from the callback after this many events (0: never) */
} sink_t;

static int on_event(void *ud, const sse_event_t *e)
{
    sink_t *s = ud;
    assert_true(s->count < MAX_EVENTS);
    rec_event_t *r = &s->ev[s->count++];
    assert_int_equal(strlen(e->type), e->type_len);
    assert_int_equal(strlen(e->id), e->id_len);
    assert_true(e->data_len < sizeof r->data);
    assert_int_equal(e->data[e->data_len], '\0');
    snprintf(r->type, sizeof r->type, "%s", e->type);
    memcpy(r->data, e->data, e->data_len + 1);
    r->data_len = e->data_len;
    snprintf(r->id, sizeof r->id, "%s", e->id);
    r->retry = e->retry_ms;
    return s->stop_after && s->count == s->stop_after ? 7 : 0;
}

/* Parse `text` (len bytes) with chunks of `step` bytes (0: all at once) into s. */
static int parse_chunked(sink_t *s, const char *text, size_t len, size_t step, size_t max,
                         int *finish_rc)
{
    sse_parser_t p;
    sse_parser_init(&p, max, on_event, s);
    int rc = 0;
    if (step == 0) {
        rc = sse_parser_feed(&p, text, len);
    } else {
        for (size_t i = 0; i < len && !rc; i += step)
            rc = sse_parser_feed(&p, text + i, len - i < step ? len - i : step);
    }
    int frc = sse_parser_finish(&p);
    if (finish_rc)
        *finish_rc = frc;
    sse_parser_free(&p);
    return rc;
}

static void assert_same_events(const sink_t *a, const sink_t *b)
{
    assert_int_equal(a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        assert_string_equal(a->ev[i].type, b->ev[i].type);
        assert_int_equal(a->ev[i].data_len, b->ev[i].data_len);
        assert_memory_equal(a->ev[i].data, b->ev[i].data, a->ev[i].data_len);
        assert_string_equal(a->ev[i].id, b->ev[i].id);
        assert_int_equal(a->ev[i].retry, b->ev[i].retry);
    }
}

/* Parse at once, then byte by byte and with chunk sizes 2..7: all must agree. */
static void parse_all_ways(sink_t *s, const char *text)
{
    size_t len = strlen(text);
    memset(s, 0, sizeof *s);
    assert_int_equal(parse_chunked(s, text, len, 0, 1 << 16, NULL), 0);
    for (size_t step = 1; step <= 7; step++) {
        sink_t other;
        memset(&other, 0, sizeof other);
        assert_int_equal(parse_chunked(&other, text, len, step, 1 << 16, NULL), 0);
        assert_same_events(s, &other);
    }
}

static void test_basic_fields(void **state)
{
    (void)state;
    sink_t s;
    parse_all_ways(&s, "event: ping\nid: 1\ndata: hello\n\n"
                       "data: second\n\n");
    assert_int_equal(s.count, 2);
    assert_string_equal(s.ev[0].type, "ping");
    assert_string_equal(s.ev[0].data, "hello");
    assert_string_equal(s.ev[0].id, "1");
    assert_int_equal(s.ev[0].retry, -1);
    /* event type resets per event, last event id persists */
    assert_string_equal(s.ev[1].type, "message");
    assert_string_equal(s.ev[1].data, "second");
    assert_string_equal(s.ev[1].id, "1");
}

static void test_multiline_data_and_space_rule(void **state)
{
    (void)state;
    sink_t s;
    parse_all_ways(&s, "data:a\ndata: b\ndata:  c\ndata\ndata:\n\n");
    assert_int_equal(s.count, 1);
    /* one space stripped, not two; "data" without colon and "data:" add empty lines */
    assert_int_equal(s.ev[0].data_len, strlen("a\nb\n c\n\n"));
    assert_string_equal(s.ev[0].data, "a\nb\n c\n\n");
}

static void test_line_endings(void **state)
{
    (void)state;
    sink_t s;
    parse_all_ways(&s, "data: lf\n\ndata: crlf\r\n\r\ndata: cr\r\rdata: mixed\r\ndata: x\n\r");
    assert_int_equal(s.count, 4);
    assert_string_equal(s.ev[0].data, "lf");
    assert_string_equal(s.ev[1].data, "crlf");
    assert_string_equal(s.ev[2].data, "cr");
    assert_string_equal(s.ev[3].data, "mixed\nx");
}

static void test_crlf_split_across_feeds(void **state)
{
    (void)state;
    sink_t s = {0};
    sse_parser_t p;
    sse_parser_init(&p, 1024, on_event, &s);
    assert_int_equal(sse_parser_feed(&p, "data: a\r", 8), 0);
    /* "\n" completes the "\r\n": it must not count as a blank line */
    assert_int_equal(sse_parser_feed(&p, "\n", 1), 0);
    assert_int_equal(s.count, 0);
    assert_int_equal(sse_parser_feed(&p, "data: b\r", 8), 0);
    assert_int_equal(sse_parser_feed(&p, "\n\r", 2), 0);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].data, "a\nb");
    /* a "\r" followed by a feed that does not start with "\n" */
    assert_int_equal(sse_parser_feed(&p, "data: c\r", 8), 0);
    assert_int_equal(sse_parser_feed(&p, "\r", 1), 0);
    assert_int_equal(s.count, 2);
    assert_string_equal(s.ev[1].data, "c");
    assert_int_equal(sse_parser_finish(&p), 0);
    sse_parser_free(&p);
}

static void test_comments_ignored(void **state)
{
    (void)state;
    sink_t s;
    parse_all_ways(&s,
                   ": keep-alive\n:\ndata: x\n: inside an event\ndata: y\n\n:only a comment\n\n");
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].data, "x\ny");
}

static void test_comment_longer_than_limit_uses_no_memory(void **state)
{
    (void)state;
    sink_t s = {0};
    sse_parser_t p;
    sse_parser_init(&p, 16, on_event, &s);
    assert_int_equal(sse_parser_feed(&p, ":", 1), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sse_parser_feed(&p, "0123456789", 10), 0);
    assert_int_equal(sse_parser_feed(&p, "\ndata: ok\n\n", 11), 0);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].data, "ok");
    assert_true(p.line.cap <= 17);
    sse_parser_free(&p);
}

static void test_event_default_and_empty_type(void **state)
{
    (void)state;
    sink_t s;
    parse_all_ways(&s, "event:\ndata: 1\n\nevent: endpoint\ndata: /message?sessionId=abc\n\n");
    assert_int_equal(s.count, 2);
    assert_string_equal(s.ev[0].type, "message");
    assert_string_equal(s.ev[1].type, "endpoint");
    assert_string_equal(s.ev[1].data, "/message?sessionId=abc");
}

static void test_id_rules(void **state)
{
    (void)state;
    sink_t s = {0};
    /* an id with a NUL is ignored; an empty id clears the last id */
    static const char text[] = "id: a\ndata: 1\n\nid: b\0c\ndata: 2\n\nid\ndata: 3\n\n";
    assert_int_equal(parse_chunked(&s, text, sizeof text - 1, 0, 1024, NULL), 0);
    assert_int_equal(s.count, 3);
    assert_string_equal(s.ev[0].id, "a");
    assert_string_equal(s.ev[1].id, "a");
    assert_string_equal(s.ev[2].id, "");
    for (size_t step = 1; step < 4; step++) {
        sink_t o = {0};
        assert_int_equal(parse_chunked(&o, text, sizeof text - 1, step, 1024, NULL), 0);
        assert_same_events(&s, &o);
    }
}

static void test_id_and_retry_without_data_not_dispatched(void **state)
{
    (void)state;
    sink_t s = {0};
    sse_parser_t p;
    sse_parser_init(&p, 1024, on_event, &s);
    const char *t = "id: event-2\nretry: 500\nevent: x\n\n";
    assert_int_equal(sse_parser_feed(&p, t, strlen(t)), 0);
    assert_int_equal(s.count, 0);
    assert_string_equal(sse_parser_last_id(&p), "event-2");
    assert_int_equal(sse_parser_retry(&p), 500);
    /* the event type of the block without data was reset */
    t = "data: z\n\n";
    assert_int_equal(sse_parser_feed(&p, t, strlen(t)), 0);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].type, "message");
    assert_string_equal(s.ev[0].id, "event-2");
    assert_int_equal(s.ev[0].retry, 500);
    sse_parser_free(&p);
}

static void test_retry_rules(void **state)
{
    (void)state;
    sse_parser_t p;
    sink_t s = {0};
    sse_parser_init(&p, 1024, on_event, &s);
    const char *t = "retry: 1000\n\nretry: 12a\n\nretry: -5\n\nretry:\n\nretry:  7\n\n"
                    "retry: 99999999999999999999\n\n";
    assert_int_equal(sse_parser_feed(&p, t, strlen(t)), 0);
    assert_int_equal(sse_parser_retry(&p), 1000);
    t = "retry:0\n\n";
    assert_int_equal(sse_parser_feed(&p, t, strlen(t)), 0);
    assert_int_equal(sse_parser_retry(&p), 0);
    assert_int_equal(s.count, 0);
    sse_parser_free(&p);
}

static void test_bom(void **state)
{
    (void)state;
    sink_t s;
    parse_all_ways(&s, "\xEF\xBB\xBF"
                       "data: after bom\n\n");
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].data, "after bom");
    /* only one BOM is skipped: a second one belongs to the field name, so it is unknown */
    parse_all_ways(&s, "\xEF\xBB\xBF\xEF\xBB\xBF"
                       "data: x\n\ndata: y\n\n");
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].data, "y");
    /* a partial BOM is ordinary input */
    parse_all_ways(&s, "\xEF\xBB"
                       "data: x\n\ndata: y\n\n");
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].data, "y");
    /* BOM bytes inside a value are kept */
    parse_all_ways(&s, "data: \xEF\xBB\xBF\n\n");
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].data, "\xEF\xBB\xBF");
}

static void test_empty_data_reported(void **state)
{
    (void)state;
    sink_t s;
    parse_all_ways(&s, "id: p1\nretry: 5000\ndata: \n\n");
    assert_int_equal(s.count, 1);
    assert_int_equal(s.ev[0].data_len, 0);
    assert_string_equal(s.ev[0].data, "");
    assert_string_equal(s.ev[0].id, "p1");
    assert_int_equal(s.ev[0].retry, 5000);
}

static void test_unknown_fields_and_case(void **state)
{
    (void)state;
    sink_t s;
    parse_all_ways(&s, "Data: no\nfoo: bar\nDATA: no\ndata: yes\n\n");
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].data, "yes");
}

static void test_unfinished_event_discarded(void **state)
{
    (void)state;
    sink_t s = {0};
    int frc = 0;
    const char *t = "data: done\n\ndata: partial\n";
    assert_int_equal(parse_chunked(&s, t, strlen(t), 0, 1024, &frc), 0);
    assert_int_equal(s.count, 1);
    assert_int_equal(frc, MCP_ECLOSED);
    memset(&s, 0, sizeof s);
    t = "data: done\n\ndata: part";
    assert_int_equal(parse_chunked(&s, t, strlen(t), 3, 1024, &frc), 0);
    assert_int_equal(s.count, 1);
    assert_int_equal(frc, MCP_ECLOSED);
    memset(&s, 0, sizeof s);
    t = "data: done\n\n";
    assert_int_equal(parse_chunked(&s, t, strlen(t), 0, 1024, &frc), 0);
    assert_int_equal(frc, 0);
}

static void test_ts_sdk_transcript(void **state)
{
    (void)state;
    /* The body of the TS SDK tools/call SSE response in the brief (1.5.2), ids shortened. */
    static const char body[] =
        "id: 24a65098::1795315672301_0899b648\n"
        "retry: 5000\n"
        "data: \n"
        "\n"
        "event: message\n"
        "id: 24a65098::1795315672303_2e039389\n"
        "data: "
        "{\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"Tool "
        "execution started\"},\"jsonrpc\":\"2.0\"}\n"
        "\n"
        "event: message\n"
        "id: 24a65098::1795315672354_a\n"
        "data: "
        "{\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"Tool "
        "processing data\"},\"jsonrpc\":\"2.0\"}\n"
        "\n"
        "event: message\n"
        "id: 24a65098::1795315672404_b\n"
        "data: "
        "{\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"Tool "
        "execution completed\"},\"jsonrpc\":\"2.0\"}\n"
        "\n"
        "event: message\n"
        "id: 24a65098::1795315672406_c\n"
        "data: {\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Tool with logging executed "
        "successfully\"}]},\"jsonrpc\":\"2.0\",\"id\":2}\n"
        "\n";
    sink_t s;
    parse_all_ways(&s, body);
    assert_int_equal(s.count, 5);
    assert_string_equal(s.ev[0].type, "message");
    assert_string_equal(s.ev[0].data, "");
    assert_string_equal(s.ev[0].id, "24a65098::1795315672301_0899b648");
    assert_int_equal(s.ev[0].retry, 5000);
    assert_string_equal(s.ev[1].id, "24a65098::1795315672303_2e039389");
    assert_non_null(strstr(s.ev[1].data, "Tool execution started"));
    assert_non_null(strstr(s.ev[2].data, "Tool processing data"));
    assert_non_null(strstr(s.ev[3].data, "Tool execution completed"));
    assert_string_equal(s.ev[4].id, "24a65098::1795315672406_c");
    assert_int_equal(s.ev[4].data[0], '{');
    assert_non_null(strstr(s.ev[4].data, "\"id\":2}"));
    for (int i = 0; i < 5; i++)
        assert_int_equal(s.ev[i].retry, 5000);
}

static void test_limits(void **state)
{
    (void)state;
    sink_t s = {0};
    sse_parser_t p;
    sse_parser_init(&p, 32, on_event, &s);
    /* the limit counts raw line bytes too: a 32-byte line fits */
    const char *ok = "data: 01234567890123456789012345\n\n";
    assert_int_equal(strlen(ok), 34);
    assert_int_equal(sse_parser_feed(&p, ok, strlen(ok)), 0);
    assert_int_equal(s.count, 1);
    /* many data lines that together exceed the limit */
    const char *t = "data: 0123456789\ndata: 0123456789\ndata: 0123456789\n";
    assert_int_equal(sse_parser_feed(&p, t, strlen(t)), MCP_ENOBUFS);
    /* sticky until reset */
    assert_int_equal(sse_parser_feed(&p, "\n", 1), MCP_ENOBUFS);
    assert_int_equal(s.count, 1);
    sse_parser_reset(&p);
    assert_int_equal(sse_parser_feed(&p, "data: x\n\n", 9), 0);
    assert_int_equal(s.count, 2);
    /* one endless line, fed in pieces, never grows past the limit */
    int rc = 0;
    for (int i = 0; i < 100 && !rc; i++)
        rc = sse_parser_feed(&p, "data: aaaaaaa", 13);
    assert_int_equal(rc, MCP_ENOBUFS);
    assert_true(p.line.cap <= 33);
    assert_int_equal(sse_parser_finish(&p), MCP_ENOBUFS);
    /* finish reset the error */
    assert_int_equal(sse_parser_feed(&p, "data: y\n\n", 9), 0);
    assert_int_equal(s.count, 3);
    sse_parser_free(&p);
}

static void test_callback_stop(void **state)
{
    (void)state;
    sink_t s = {0};
    s.stop_after = 1;
    sse_parser_t p;
    sse_parser_init(&p, 1024, on_event, &s);
    const char *t = "data: 1\n\ndata: 2\n\n";
    assert_int_equal(sse_parser_feed(&p, t, strlen(t)), 7);
    assert_int_equal(s.count, 1);
    sse_parser_free(&p);
}

static void test_alloc_failure(void **state)
{
    (void)state;
    const char *t = "event: e\nid: i\ndata: 1\n\n";
    for (long n = 0; n < 4; n++) {
        sink_t s = {0};
        sse_parser_t p;
        sse_parser_init(&p, 1024, on_event, &s);
        mcp_alloc_fail_after(n);
        int rc = sse_parser_feed(&p, t, strlen(t));
        mcp_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == MCP_ENOMEM);
        if (rc)
            assert_int_equal(sse_parser_feed(&p, "\n", 1), MCP_ENOMEM);
        sse_parser_free(&p);
    }
}

/* ---- writer ---- */

static void roundtrip(const char *type, const char *id, long retry, const char *data, size_t dlen,
                      sink_t *s)
{
    buf_t b;
    buf_init(&b, 4096);
    assert_int_equal(sse_write_event(&b, type, id, retry, data, dlen), 0);
    assert_int_equal(sse_write_comment(&b, "keep-alive"), 0);
    assert_int_equal(sse_write_comment(&b, NULL), 0);
    memset(s, 0, sizeof *s);
    int frc = -1;
    assert_int_equal(parse_chunked(s, b.data, b.len, 1, 4096, &frc), 0);
    assert_int_equal(frc, 0);
    buf_free(&b);
}

static void test_writer_format(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1024);
    assert_int_equal(sse_write_event(&b, "message", "7", 500, "a\nb", 3), 0);
    assert_string_equal(b.data, "event: message\nid: 7\nretry: 500\ndata: a\ndata: b\n\n");
    buf_reset(&b);
    assert_int_equal(sse_write_event(&b, NULL, "p", -1, "", 0), 0);
    assert_string_equal(b.data, "id: p\ndata: \n\n");
    buf_reset(&b);
    assert_int_equal(sse_write_comment(&b, NULL), 0);
    assert_int_equal(sse_write_comment(&b, "ping"), 0);
    assert_string_equal(b.data, ":\n: ping\n");
    buf_free(&b);
}

static void test_writer_roundtrip(void **state)
{
    (void)state;
    sink_t s;
    const char *json = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
    roundtrip("message", "s1::42", 5000, json, strlen(json), &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].type, "message");
    assert_string_equal(s.ev[0].id, "s1::42");
    assert_int_equal(s.ev[0].retry, 5000);
    assert_string_equal(s.ev[0].data, json);

    const char *multi = "line1\n line2 \n\nline4:x";
    roundtrip(NULL, NULL, -1, multi, strlen(multi), &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].type, "message");
    assert_string_equal(s.ev[0].data, multi);
    assert_string_equal(s.ev[0].id, "");

    roundtrip("endpoint", NULL, -1, "cr\r\ncrlf\rend", 12, &s);
    assert_string_equal(s.ev[0].type, "endpoint");
    assert_string_equal(s.ev[0].data, "cr\ncrlf\nend");

    roundtrip(NULL, "prime", 10, "", 0, &s);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.ev[0].data, "");

    roundtrip(NULL, "only-id", -1, NULL, 0, &s);
    assert_int_equal(s.count, 0);

    /* data ending with a newline keeps it */
    roundtrip(NULL, NULL, -1, "x\n", 2, &s);
    assert_int_equal(s.ev[0].data_len, 2);
}

static void test_writer_errors(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 20);
    assert_int_equal(sse_write_event(&b, "a\nb", NULL, -1, "x", 1), MCP_EINVAL);
    assert_int_equal(sse_write_event(&b, NULL, "a\rb", -1, "x", 1), MCP_EINVAL);
    assert_int_equal(sse_write_event(&b, NULL, NULL, -1, NULL, 3), MCP_EINVAL);
    assert_int_equal(sse_write_comment(&b, "x\ny"), MCP_EINVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(sse_write_event(&b, NULL, NULL, -1, "ok", 2), 0);
    size_t before = b.len;
    /* too large for the buffer: nothing is left behind */
    assert_int_equal(sse_write_event(&b, NULL, NULL, -1, "0123456789", 10), MCP_ENOBUFS);
    assert_int_equal(b.len, before);
    assert_string_equal(b.data, "data: ok\n\n");
    buf_free(&b);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_fields),
        cmocka_unit_test(test_multiline_data_and_space_rule),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_crlf_split_across_feeds),
        cmocka_unit_test(test_comments_ignored),
        cmocka_unit_test(test_comment_longer_than_limit_uses_no_memory),
        cmocka_unit_test(test_event_default_and_empty_type),
        cmocka_unit_test(test_id_rules),
        cmocka_unit_test(test_id_and_retry_without_data_not_dispatched),
        cmocka_unit_test(test_retry_rules),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_empty_data_reported),
        cmocka_unit_test(test_unknown_fields_and_case),
        cmocka_unit_test(test_unfinished_event_discarded),
        cmocka_unit_test(test_ts_sdk_transcript),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_writer_format),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_writer_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
