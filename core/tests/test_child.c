/* Integration tests for child: real processes (/bin/sh, /bin/cat, sleep, and this binary as an
 * intermediate parent for the PDEATHSIG check). Every test closes its handles and checks
 * uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"
#include "child.h"
#include "errors.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 10000

typedef struct {
    uv_loop_t loop;
    buf_t out;
    int out_eof;
    int out_eof_while_running;
    char lines[8][64];
    int nlines;
    int exits;
    int64_t status;
    int signal;
    int writes_done;
    int write_status;
    int timed_out;
} ctx_t;

static void ctx_init(ctx_t *t)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    buf_init(&t->out, 1 << 20);
    t->signal = -1;
}

static void ctx_done(ctx_t *t)
{
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    buf_free(&t->out);
}

static void on_watchdog(uv_timer_t *timer)
{
    *(int *)timer->data = 1;
}

/* Run the loop until *flag is non-zero; fails the test after WAIT_MS. */
static void run_until(ctx_t *t, const int *flag)
{
    uv_timer_t wd;
    int expired = 0;
    uv_timer_init(&t->loop, &wd);
    wd.data = &expired;
    uv_timer_start(&wd, on_watchdog, WAIT_MS, 0);
    while (!*flag && !expired)
        uv_run(&t->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wd, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    assert_false(expired);
}

static void on_exit_cb(child_t *c, int64_t status, int sig, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    t->exits++;
    t->status = status;
    t->signal = sig;
}

static void on_read_cb(child_t *c, char *data, ssize_t n, void *ud)
{
    ctx_t *t = ud;
    if (n > 0) {
        assert_int_equal(buf_append(&t->out, data, (size_t)n), 0);
        return;
    }
    assert_int_equal(n, UV_EOF);
    t->out_eof = 1;
    t->out_eof_while_running = !child_exited(c);
}

static void on_line_cb(child_t *c, const char *line, size_t len, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    assert_int_equal(strlen(line), len);
    if (t->nlines < 8)
        snprintf(t->lines[t->nlines++], 64, "%s", line);
}

static void on_write_cb(child_t *c, int status, void *ud)
{
    ctx_t *t = ud;
    (void)c;
    t->writes_done++;
    t->write_status = status;
}

static child_t *spawn_sh(ctx_t *t, const char *script)
{
    const char *args[] = {"-c", script, NULL};
    child_options_t o = {.file = "/bin/sh",
                         .args = args,
                         .on_exit = on_exit_cb,
                         .on_stderr = on_line_cb,
                         .userdata = t};
    child_t *c = NULL;
    assert_int_equal(child_spawn(&t->loop, &o, &c), 0);
    assert_non_null(c);
    assert_true(child_pid(c) > 0);
    return c;
}

/* Run until stdout holds at least `n` bytes. */
static int out_has(ctx_t *t, size_t n)
{
    while (t->out.len < n && !t->out_eof && !t->timed_out)
        uv_run(&t->loop, UV_RUN_ONCE);
    return t->out.len >= n;
}

static void test_echo_through_cat(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_options_t o = {.file = "cat", .on_exit = on_exit_cb, .userdata = &t};
    child_t *c;
    assert_int_equal(child_spawn(&t.loop, &o, &c), 0);
    assert_string_equal(child_name(c), "cat");
    assert_int_equal(child_read_start(c, on_read_cb), 0);
    uv_buf_t b[2] = {uv_buf_init("hello\n", 6), uv_buf_init("world\n", 6)};
    assert_int_equal(child_write(c, b, 2, on_write_cb, &t), 0);
    assert_int_equal(child_write(c, b, 1, NULL, NULL), 0); /* the no-callback fast path */
    assert_true(out_has(&t, 18));
    assert_string_equal(t.out.data, "hello\nworld\nhello\n");
    assert_int_equal(t.writes_done, 1);
    assert_int_equal(t.write_status, 0);
    assert_int_equal(child_write_queue_size(c), 0);
    child_close_stdin(c);
    assert_int_equal(child_write(c, b, 1, NULL, NULL), MCP_ECLOSED);
    run_until(&t, &t.exits);
    assert_int_equal(t.exits, 1);
    assert_int_equal(t.status, 0);
    assert_int_equal(t.signal, 0);
    assert_true(t.out_eof); /* delivered before on_exit */
    assert_true(child_exited(c));
    pid_t pid = child_pid(c);
    child_close(c);
    ctx_done(&t);
    assert_int_equal(t.exits, 1);
    assert_int_equal(kill(pid, 0), -1); /* reaped: no zombie left */
    assert_int_equal(errno, ESRCH);
}

static void test_exit_code(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_t *c = spawn_sh(&t, "exit 7");
    run_until(&t, &t.exits);
    assert_int_equal(t.status, 7);
    assert_int_equal(t.signal, 0);
    child_close(c);
    ctx_done(&t);
    assert_int_equal(t.exits, 1);
}

static void test_exit_at_once_then_write(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_options_t o = {.file = "/bin/true", .on_exit = on_exit_cb, .userdata = &t};
    child_t *c;
    assert_int_equal(child_spawn(&t.loop, &o, &c), 0);
    run_until(&t, &t.exits);
    assert_int_equal(t.status, 0);
    /* Writing to a dead child is an error, never a SIGPIPE. */
    uv_buf_t b = uv_buf_init("x\n", 2);
    int rc = child_write(c, &b, 1, on_write_cb, &t);
    if (rc == 0) {
        run_until(&t, &t.writes_done);
        assert_int_equal(t.write_status, UV_EPIPE);
    } else {
        assert_int_equal(rc, UV_EPIPE);
    }
    assert_int_equal(child_terminate(c, 10), 0); /* already exited: nothing to do */
    assert_int_equal(child_signal(c, SIGTERM), MCP_ESTATE);
    child_close(c);
    assert_int_equal(child_terminate(c, 10), MCP_ESTATE);
    ctx_done(&t);
    assert_int_equal(t.exits, 1);
}

static void test_killed_by_signal(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_t *c = spawn_sh(&t, "kill -USR1 $$; sleep 5");
    run_until(&t, &t.exits);
    assert_int_equal(t.signal, SIGUSR1);
    child_close(c);

    /* child_signal reaches the process group. */
    t.exits = 0;
    c = spawn_sh(&t, "echo ready; exec sleep 100");
    assert_int_equal(child_read_start(c, on_read_cb), 0);
    assert_true(out_has(&t, 6));
    assert_int_equal(child_signal(c, SIGUSR2), 0);
    run_until(&t, &t.exits);
    assert_int_equal(t.signal, SIGUSR2);
    child_close(c);
    ctx_done(&t);
}

static void test_stderr_lines(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_t *c = spawn_sh(&t, "echo one >&2; echo 'two words' >&2; printf three >&2; exit 3");
    run_until(&t, &t.exits);
    /* Every line, including the unterminated last one, arrives before on_exit. */
    assert_int_equal(t.nlines, 3);
    assert_string_equal(t.lines[0], "one");
    assert_string_equal(t.lines[1], "two words");
    assert_string_equal(t.lines[2], "three");
    assert_int_equal(t.status, 3);
    child_close(c);
    ctx_done(&t);
}

static void test_stderr_line_bounded(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    const char *args[] = {"-c", "printf '%0100d\\n' 0 >&2; echo short >&2; printf '%0100d' 0 >&2",
                          NULL};
    child_options_t o = {.file = "/bin/sh",
                         .args = args,
                         .max_stderr_line = 16,
                         .on_exit = on_exit_cb,
                         .on_stderr = on_line_cb,
                         .userdata = &t};
    child_t *c;
    assert_int_equal(child_spawn(&t.loop, &o, &c), 0);
    run_until(&t, &t.exits);
    /* Over-long lines (also an unterminated last one) are skipped, the stream goes on. */
    assert_int_equal(t.nlines, 1);
    assert_string_equal(t.lines[0], "short");
    child_close(c);
    ctx_done(&t);
}

static buf_t captured;

static void capture_sink(log_level_t level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    if (strstr(line, "msg=\"stderr\""))
        buf_append_str(&captured, line);
}

static void test_stderr_logged_with_name(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    buf_init(&captured, 1 << 16);
    log_set_sink(capture_sink, NULL);
    log_set_level(LOG_INFO);
    const char *args[] = {"-c", "echo 'disk \"full\"' >&2", NULL};
    child_options_t o = {.name = "db-server",
                         .file = "/bin/sh",
                         .args = args,
                         .on_exit = on_exit_cb,
                         .userdata = &t};
    child_t *c;
    assert_int_equal(child_spawn(&t.loop, &o, &c), 0);
    run_until(&t, &t.exits);
    log_set_sink(NULL, NULL);
    log_set_level(LOG_WARN);
    const char *line = captured.data;
    assert_non_null(line);
    assert_non_null(strstr(line, "level=info"));
    assert_non_null(strstr(line, "comp=child"));
    assert_non_null(strstr(line, "name=db-server"));
    assert_non_null(strstr(line, "line=\"disk \\\"full\\\"\""));
    buf_free(&captured);
    child_close(c);
    ctx_done(&t);
}

static void test_terminate_on_stdin_eof(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_options_t o = {.file = "/bin/cat", .on_exit = on_exit_cb, .userdata = &t};
    child_t *c;
    assert_int_equal(child_spawn(&t.loop, &o, &c), 0);
    /* cat exits on EOF long before the (long) grace period. */
    assert_int_equal(child_terminate(c, 30000), 0);
    run_until(&t, &t.exits);
    assert_int_equal(t.status, 0);
    assert_int_equal(t.signal, 0);
    child_close(c);
    ctx_done(&t);
}

static void test_terminate_sigterm(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_t *c = spawn_sh(&t, "exec sleep 100");
    assert_int_equal(child_terminate(c, 20), 0);
    assert_int_equal(child_terminate(c, 20), 0); /* idempotent */
    run_until(&t, &t.exits);
    assert_int_equal(t.signal, SIGTERM);
    child_close(c);
    ctx_done(&t);
}

static void test_terminate_escalates_to_sigkill(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_t *c = spawn_sh(&t, "trap '' TERM; echo ready; exec sleep 100");
    assert_int_equal(child_read_start(c, on_read_cb), 0);
    assert_true(out_has(&t, 6)); /* the trap is installed */
    assert_int_equal(child_terminate(c, 20), 0);
    run_until(&t, &t.exits);
    assert_int_equal(t.signal, SIGKILL);
    child_close(c);
    ctx_done(&t);
}

static void test_spawn_failure(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_options_t o = {.file = "/nonexistent/prog", .on_exit = on_exit_cb, .userdata = &t};
    child_t *c = (child_t *)&t;
    assert_int_equal(child_spawn(&t.loop, &o, &c), UV_ENOENT);
    assert_null(c);
    o.file = "mcp-no-such-program-h4";
    assert_int_equal(child_spawn(&t.loop, &o, &c), UV_ENOENT);
    o.file = "/etc/passwd";
    assert_int_equal(child_spawn(&t.loop, &o, &c), UV_EACCES);
    o.file = "sh";
    const char *no_path[] = {"PATH=/nonexistent", NULL};
    o.env = no_path;
    assert_int_equal(child_spawn(&t.loop, &o, &c), UV_ENOENT); /* the child's PATH counts */
    o.file = NULL;
    assert_int_equal(child_spawn(&t.loop, &o, &c), MCP_EINVAL);
    o.file = "/bin/sh";
    o.cwd = "/nonexistent-dir";
    o.env = NULL;
    int rc = child_spawn(&t.loop, &o, &c);
    assert_int_equal(rc, UV_ENOENT); /* uv_spawn's own failure (chdir) */
    uv_run(&t.loop, UV_RUN_DEFAULT);
    assert_int_equal(t.exits, 0); /* the callback never runs */
    ctx_done(&t);
}

static void test_spawn_alloc_failure(void **state)
{
    (void)state;
    for (long n = 0; n < 8; n++) {
        ctx_t t;
        ctx_init(&t);
        child_options_t o = {.file = "/bin/true", .on_exit = on_exit_cb, .userdata = &t};
        child_t *c = NULL;
        mcp_alloc_fail_after(n);
        int rc = child_spawn(&t.loop, &o, &c);
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            run_until(&t, &t.exits);
            child_close(c);
        } else {
            assert_int_equal(rc, MCP_ENOMEM);
            assert_null(c);
        }
        ctx_done(&t);
    }
}

static void test_env_and_cwd(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    setenv("MCP_H4_INHERITED", "yes", 1);
    const char *args[] = {"-c", "echo \"$FOO:${HOME-unset}:$MCP_H4_INHERITED:$(pwd)\"", NULL};
    const char *env[] = {"FOO=first", "HOME", "FOO=bar", NULL};
    child_options_t o = {.file = "/bin/sh",
                         .args = args,
                         .env = env,
                         .cwd = "/",
                         .on_exit = on_exit_cb,
                         .userdata = &t};
    child_t *c;
    assert_int_equal(child_spawn(&t.loop, &o, &c), 0);
    assert_int_equal(child_read_start(c, on_read_cb), 0);
    run_until(&t, &t.exits);
    assert_string_equal(t.out.data, "bar:unset:yes:/\n");
    child_close(c);

    /* A clean environment has only what we pass (sh adds PWD and friends). */
    buf_reset(&t.out);
    t.exits = 0;
    const char *args2[] = {"-c", "env", NULL};
    const char *env2[] = {"ONLY=1", NULL};
    child_options_t o2 = {.file = "/bin/sh",
                          .args = args2,
                          .env = env2,
                          .clean_env = 1,
                          .on_exit = on_exit_cb,
                          .userdata = &t};
    assert_int_equal(child_spawn(&t.loop, &o2, &c), 0);
    assert_int_equal(child_read_start(c, on_read_cb), 0);
    run_until(&t, &t.exits);
    assert_non_null(strstr(t.out.data, "ONLY=1\n"));
    assert_null(strstr(t.out.data, "MCP_H4_INHERITED"));
    assert_null(strstr(t.out.data, "MCP_CHILD_EXEC")); /* the helper's markers are removed */
    child_close(c);
    unsetenv("MCP_H4_INHERITED");
    ctx_done(&t);
}

static void test_stdout_closed_child_running(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_t *c = spawn_sh(&t, "exec >&-; exec sleep 100");
    assert_int_equal(child_read_start(c, on_read_cb), 0);
    run_until(&t, &t.out_eof);
    assert_true(t.out_eof_while_running);
    assert_int_equal(t.exits, 0);
    assert_int_equal(child_read_start(c, on_read_cb), MCP_ESTATE);
    assert_int_equal(child_terminate(c, 20), 0);
    run_until(&t, &t.exits);
    assert_int_equal(t.signal, SIGTERM);
    child_close(c);
    ctx_done(&t);
}

static void test_write_queue_limit(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    const char *args[] = {"-c", "exec sleep 100", NULL};
    child_options_t o = {.file = "/bin/sh",
                         .args = args,
                         .max_write_queue = 64 * 1024,
                         .on_exit = on_exit_cb,
                         .userdata = &t};
    child_t *c;
    assert_int_equal(child_spawn(&t.loop, &o, &c), 0);
    static char chunk[48 * 1024];
    memset(chunk, 'x', sizeof chunk);
    uv_buf_t b = uv_buf_init(chunk, sizeof chunk);
    assert_int_equal(child_write(c, &b, 1, on_write_cb, &t), 0);
    assert_int_equal(child_write_queue_size(c), sizeof chunk);
    assert_int_equal(child_write(c, &b, 1, on_write_cb, &t), MCP_ENOBUFS);
    run_until(&t, &t.writes_done);
    assert_int_equal(t.write_status, 0);
    /* Nobody reads: the pipe fills, then the queue, then writes are refused. */
    int rc = 0;
    for (int i = 0; i < 100000 && rc == 0; i++)
        rc = child_write(c, &b, 1, NULL, NULL);
    assert_int_equal(rc, MCP_ENOBUFS);
    assert_true(child_write_queue_size(c) > 0);
    assert_true(child_write_queue_size(c) <= 64 * 1024);
    uv_buf_t small = uv_buf_init("y", 1);
    assert_int_equal(child_write(c, &small, 1, on_write_cb, &t), 0);
    int before = t.writes_done;
    child_close(c); /* queued writes are dropped; no callback after close */
    ctx_done(&t);
    assert_int_equal(t.writes_done, before);
    assert_int_equal(t.exits, 0);
}

static void test_close_running_child_reaps(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_t *c = spawn_sh(&t, "exec sleep 100");
    pid_t pid = child_pid(c);
    child_close(c);
    ctx_done(&t); /* returns only once the process handle saw the exit */
    assert_int_equal(t.exits, 0);
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
}

/* ---- leftovers in the group and parent death ---- */

/* 1 if pid is gone or a zombie (the container's init may be slow to reap orphans). */
static int pid_dead(pid_t pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *p = strrchr(stat, ')');
    return !p || p[2] == 'Z' || p[2] == 'X';
}

typedef struct {
    pid_t pid;
    int dead;
    int ticks;
} poll_dead_t;

static void on_poll_dead(uv_timer_t *timer)
{
    poll_dead_t *p = timer->data;
    if (pid_dead(p->pid) || ++p->ticks > 300) {
        p->dead = pid_dead(p->pid);
        p->ticks = -1;
        uv_timer_stop(timer);
    }
}

/* Poll (on the loop, every 10 ms, up to 3 s) whether pid dies. */
static int wait_dead(ctx_t *t, pid_t pid)
{
    poll_dead_t p = {.pid = pid};
    uv_timer_t timer;
    uv_timer_init(&t->loop, &timer);
    timer.data = &p;
    uv_timer_start(&timer, on_poll_dead, 10, 10);
    while (p.ticks >= 0)
        uv_run(&t->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    return p.dead;
}

static pid_t read_pid(ctx_t *t)
{
    for (;;) {
        char *nl = t->out.data ? strchr(t->out.data, '\n') : NULL;
        if (nl)
            return (pid_t)strtol(t->out.data, NULL, 10);
        size_t len = t->out.len;
        out_has(t, len + 1);
        assert_true(t->out.len > len);
    }
}

static void test_group_leftovers_killed_on_exit(void **state)
{
    (void)state;
    ctx_t t;
    ctx_init(&t);
    child_t *c = spawn_sh(&t, "sleep 100 & echo $!; exit 0");
    assert_int_equal(child_read_start(c, on_read_cb), 0);
    pid_t bg = read_pid(&t);
    assert_true(bg > 0);
    run_until(&t, &t.exits);
    assert_int_equal(t.status, 0);
    assert_true(t.out_eof); /* the background sleep held stdout until the group kill */
    child_close(c);
    assert_true(wait_dead(&t, bg));
    ctx_done(&t);
}

static const char *self_path(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    assert_true(n > 0);
    path[n] = '\0';
    return path;
}

/* The intermediate parent: spawn `sleep`, report its pid, run until killed. */
static int intermediate_main(int no_pdeathsig)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *args[] = {"300", NULL};
    child_options_t o = {.file = "sleep", .args = args, .no_pdeathsig = no_pdeathsig};
    child_t *c;
    if (child_spawn(&loop, &o, &c) != 0)
        return 2;
    printf("%d\n", (int)child_pid(c));
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    return 0;
}

static void run_parent_death(int no_pdeathsig, int expect_dead)
{
    ctx_t t;
    ctx_init(&t);
    const char *args[] = {"--intermediate", no_pdeathsig ? "nodeath" : "death", NULL};
    child_options_t o = {.name = "intermediate",
                         .file = self_path(),
                         .args = args,
                         .on_exit = on_exit_cb,
                         .userdata = &t};
    child_t *c;
    assert_int_equal(child_spawn(&t.loop, &o, &c), 0);
    assert_int_equal(child_read_start(c, on_read_cb), 0);
    pid_t grandchild = read_pid(&t);
    assert_true(grandchild > 0);
    assert_false(pid_dead(grandchild));
    /* SIGKILL the parent alone (not its group): no cleanup code of it can run. */
    assert_int_equal(kill(child_pid(c), SIGKILL), 0);
    run_until(&t, &t.exits);
    assert_int_equal(t.signal, SIGKILL);
    int dead = wait_dead(&t, grandchild);
    if (!dead)
        kill(grandchild, SIGKILL); /* the control case: our own grandchild, by pid */
    assert_int_equal(dead, expect_dead);
    child_close(c);
    ctx_done(&t);
}

static void test_pdeathsig_kills_grandchild(void **state)
{
    (void)state;
    run_parent_death(0, 1);
}

/* Control: without PDEATHSIG the grandchild survives, so the test above checks something. */
static void test_pdeathsig_control(void **state)
{
    (void)state;
    run_parent_death(1, 0);
}

int main(int argc, char **argv)
{
    mcp_alloc_init();
    if (argc >= 2 && strcmp(argv[1], "--intermediate") == 0)
        return intermediate_main(argc >= 3 && strcmp(argv[2], "nodeath") == 0);
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_through_cat),
        cmocka_unit_test(test_exit_code),
        cmocka_unit_test(test_exit_at_once_then_write),
        cmocka_unit_test(test_killed_by_signal),
        cmocka_unit_test(test_stderr_lines),
        cmocka_unit_test(test_stderr_line_bounded),
        cmocka_unit_test(test_stderr_logged_with_name),
        cmocka_unit_test(test_terminate_on_stdin_eof),
        cmocka_unit_test(test_terminate_sigterm),
        cmocka_unit_test(test_terminate_escalates_to_sigkill),
        cmocka_unit_test(test_spawn_failure),
        cmocka_unit_test(test_spawn_alloc_failure),
        cmocka_unit_test(test_env_and_cwd),
        cmocka_unit_test(test_stdout_closed_child_running),
        cmocka_unit_test(test_write_queue_limit),
        cmocka_unit_test(test_close_running_child_reaps),
        cmocka_unit_test(test_group_leftovers_killed_on_exit),
        cmocka_unit_test(test_pdeathsig_kills_grandchild),
        cmocka_unit_test(test_pdeathsig_control),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
