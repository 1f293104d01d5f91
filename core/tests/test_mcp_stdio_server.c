/* Integration test: spawn mcp-test-stdio-server with pipes (uv_spawn), talk MCP over its
 * stdin/stdout, close stdin and check that every answer arrived and the process exits 0.
 * Under MCP_UNDER_VALGRIND=1 the child runs under valgrind too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

typedef struct {
    uv_loop_t loop;
    uv_process_t proc;
    uv_pipe_t in, out;
    uv_timer_t deadline;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    buf_t output;
    int64_t exit_status;
    int term_signal;
    int exited, timed_out;
    int use_in_pipe;
} child_t;

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    child_t *c = p->data;
    c->exit_status = status;
    c->term_signal = sig;
    c->exited = 1;
    uv_close((uv_handle_t *)p, on_closed);
    uv_timer_stop(&c->deadline);
    uv_close((uv_handle_t *)&c->deadline, on_closed);
}

static void on_deadline(uv_timer_t *t)
{
    child_t *c = t->data;
    c->timed_out = 1;
    uv_process_kill(&c->proc, SIGKILL); /* our own child, by its handle (pid) */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    static char chunk[65536];
    (void)suggested;
    *buf = uv_buf_init(chunk, sizeof(chunk));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    child_t *c = s->data;
    if (n > 0)
        assert_int_equal(buf_append(&c->output, buf->base, (size_t)n), 0);
    else if (n < 0)
        uv_close((uv_handle_t *)s, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    uv_close((uv_handle_t *)req->handle, on_closed);
}

static void on_written(uv_write_t *req, int status)
{
    child_t *c = req->data;
    assert_int_equal(status, 0);
    c->sreq.data = c;
    assert_int_equal(uv_shutdown(&c->sreq, (uv_stream_t *)&c->in, on_shutdown), 0);
}

/* Run the server with `input` on its stdin (a pipe, or a regular file when in_fd >= 0). */
static void run_child(child_t *c, const char *input, int in_fd)
{
    memset(c, 0, sizeof(*c));
    buf_init(&c->output, 16 << 20);
    assert_int_equal(uv_loop_init(&c->loop), 0);
    const char *bin_dir = getenv("MCP_BIN_DIR");
    char server[4096];
    snprintf(server, sizeof(server), "%s/mcp-test-stdio-server", bin_dir ? bin_dir : "bin");
    char *args[16];
    int n = 0;
    int valgrind = getenv("MCP_UNDER_VALGRIND") != NULL;
    if (valgrind) {
        args[n++] = "valgrind";
        args[n++] = "--quiet";
        args[n++] = "--error-exitcode=99";
        args[n++] = "--leak-check=full";
        args[n++] = "--errors-for-leak-kinds=definite,indirect";
    }
    args[n++] = server;
    args[n] = NULL;

    uv_pipe_init(&c->loop, &c->out, 0);
    c->out.data = c;
    uv_stdio_container_t stdio[3];
    if (in_fd < 0) {
        uv_pipe_init(&c->loop, &c->in, 0);
        c->in.data = c;
        stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
        stdio[0].data.stream = (uv_stream_t *)&c->in;
    } else {
        stdio[0].flags = UV_INHERIT_FD;
        stdio[0].data.fd = in_fd;
    }
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&c->out;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    uv_process_options_t opts = {0};
    opts.file = args[0];
    opts.args = args;
    opts.exit_cb = on_exit_cb;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    c->proc.data = c;
    int rc = uv_spawn(&c->loop, &c->proc, &opts);
    if (rc)
        fail_msg("cannot spawn %s: %s", args[0], uv_strerror(rc));
    uv_timer_init(&c->loop, &c->deadline);
    c->deadline.data = c;
    uv_timer_start(&c->deadline, on_deadline, valgrind ? 120000 : 20000, 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read), 0);
    if (in_fd < 0) {
        uv_buf_t b = uv_buf_init((char *)input, (unsigned)strlen(input));
        c->wreq.data = c;
        assert_int_equal(uv_write(&c->wreq, (uv_stream_t *)&c->in, &b, 1, on_written), 0);
    }
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&c->loop), 0);
    assert_false(c->timed_out);
}

/* The reply with this integer id (or the id-null error when id < 0); fails if absent. */
static cJSON *find_reply(cJSON **msgs, int count, int id)
{
    for (int i = 0; i < count; i++) {
        cJSON *mid = cJSON_GetObjectItem(msgs[i], "id");
        if (id < 0 ? cJSON_IsNull(mid) : (cJSON_IsNumber(mid) && mid->valueint == id))
            return msgs[i];
    }
    fail_msg("no reply with id %d", id);
    return NULL;
}

static int split_output(child_t *c, cJSON **msgs, int max)
{
    int count = 0;
    char *p = c->output.data ? c->output.data : "";
    /* Every byte on stdout is part of one JSON-RPC line. */
    assert_true(c->output.len == 0 || p[c->output.len - 1] == '\n');
    for (char *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        assert_true(count < max);
        msgs[count] = cJSON_Parse(p);
        if (!msgs[count])
            fail_msg("stdout line is not JSON: %s", p);
        assert_string_equal(cJSON_GetObjectItem(msgs[count], "jsonrpc")->valuestring, "2.0");
        count++;
    }
    return count;
}

static const char *text0(cJSON *msg)
{
    cJSON *r = cJSON_GetObjectItem(msg, "result");
    assert_non_null(r);
    return cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "content"), 0), "text")
        ->valuestring;
}

static const char *session_input =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n"
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\r\n"
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"slow_echo\","
    "\"arguments\":{\"text\":\"late\",\"ms\":150}}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
    "\"arguments\":{\"text\":\"line\\nbreak\"}}}\n"
    "this is not json\n"
    "\n"
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"add\","
    "\"arguments\":{\"a\":2,\"b\":40}}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}"; /* no final newline: still read */

static void check_session_output(child_t *c)
{
    cJSON *msgs[32];
    int count = split_output(c, msgs, 32);
    assert_int_equal(count, 7);
    cJSON *init = cJSON_GetObjectItem(find_reply(msgs, count, 1), "result");
    assert_string_equal(cJSON_GetObjectItem(init, "protocolVersion")->valuestring, "2025-11-25");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(init, "serverInfo"), "name")->valuestring,
        "mcp-test-stdio-server");
    cJSON *tools =
        cJSON_GetObjectItem(cJSON_GetObjectItem(find_reply(msgs, count, 2), "result"), "tools");
    assert_int_equal(cJSON_GetArraySize(tools), 3);
    assert_string_equal(text0(find_reply(msgs, count, 3)), "late");
    assert_string_equal(text0(find_reply(msgs, count, 4)), "line\nbreak");
    assert_string_equal(text0(find_reply(msgs, count, 5)), "42");
    assert_non_null(cJSON_GetObjectItem(find_reply(msgs, count, 6), "result"));
    cJSON *err = cJSON_GetObjectItem(find_reply(msgs, count, -1), "error");
    assert_int_equal(cJSON_GetObjectItem(err, "code")->valueint, -32700);
    /* The slow call was answered after the quick ones read in the same chunk (the final
     * unterminated line only arrives with end of input, which may come later). */
    int pos[7] = {0};
    for (int i = 0; i < count; i++) {
        cJSON *id = cJSON_GetObjectItem(msgs[i], "id");
        if (cJSON_IsNumber(id) && id->valueint >= 1 && id->valueint <= 6)
            pos[id->valueint] = i;
    }
    for (int i = 0; i < count; i++)
        cJSON_Delete(msgs[i]);
    assert_true(pos[3] > pos[4] && pos[3] > pos[5] && pos[3] > pos[2]);
}

static void test_over_pipes(void **state)
{
    (void)state;
    child_t c;
    run_child(&c, session_input, -1);
    assert_int_equal(c.term_signal, 0);
    assert_int_equal(c.exit_status, 0);
    check_session_output(&c);
    buf_free(&c.output);
}

static void test_stdin_regular_file(void **state)
{
    (void)state;
    char path[] = "/tmp/mcp-stdio-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    size_t len = strlen(session_input);
    assert_int_equal(write(fd, session_input, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    child_t c;
    run_child(&c, NULL, fd);
    close(fd);
    assert_int_equal(c.exit_status, 0);
    check_session_output(&c);
    buf_free(&c.output);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_over_pipes),
        cmocka_unit_test(test_stdin_regular_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
