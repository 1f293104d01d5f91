/* Integration tests for the supervisor: /bin/sh children (readiness by stderr line, file, exit
 * before ready, ready timeout), actions (kill, stop/continue, terminate, restart on the same
 * port, signal), a stdio MCP server as a stdio mock (mcp-test-stdio-server, when built), and the
 * guarantee that stop_all leaves no process of any child's group behind (grandchildren
 * included). Every test closes its handles and checks uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "clock.h"
#include "errors.h"
#include "http_client.h"
#include "scenario.h"
#include "supervisor.h"
#include "vars.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture_s {
    uv_loop_t loop;
    http_client_t *http;
    vars_t *vars;
    sup_t *sup;
    scenario_t *scn;
    char dir[256];
    /* callback results */
    int done;
    int status;
    char msg[1024];
    int all_stopped;
} fixture_t;

static void on_done(sup_t *s, const char *name, int status, const char *message, void *ud)
{
    (void)s;
    (void)name;
    fixture_t *f = ud;
    f->done++;
    f->status = status;
    snprintf(f->msg, sizeof(f->msg), "%s", message ? message : "");
}

static void on_all(sup_t *s, void *ud)
{
    (void)s;
    fixture_t *f = ud;
    f->all_stopped = 1;
}

static void wake(uv_timer_t *t)
{
    (void)t;
}

/* Run the loop until *flag becomes non-zero, at most timeout_ms. A repeating timer makes each
 * UV_RUN_ONCE return even when the callback that set the flag left nothing else to wait for. */
static int run_until(fixture_t *f, const int *flag, uint64_t timeout_ms)
{
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    uv_timer_start(&t, wake, 5, 5);
    uint64_t end = clock_mono_ms() + timeout_ms;
    while (!*flag && clock_mono_ms() < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return *flag;
}

/* Process alive and not a zombie. */
static int pid_alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[2] != 'Z' && rp[2] != 'X';
}

static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp ? rp[2] : 0;
}

/* Number of live (non-zombie) processes in process group pgid. */
static int group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        char state;
        int ppid, pgrp;
        if (rp && sscanf(rp + 2, "%c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z' && state != 'X')
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static int wait_group_gone(pid_t pgid, uint64_t timeout_ms)
{
    uint64_t end = clock_mono_ms() + timeout_ms;
    while (group_alive(pgid) && clock_mono_ms() < end)
        usleep(5000); /* polling the kernel's view; nothing to wait on */
    return group_alive(pgid) == 0;
}

static const char *scenario_text =
    "{\"processes\": {\n"
    "  \"up\": {\"type\": \"command\", \"command\": \"/bin/sh\",\n"
    "          \"args\": [\"-c\", \"echo starting >&2; echo up >&2; exec sleep 100\"],\n"
    "          \"ready\": {\"stderr\": \"^up$\"}, \"port\": true, \"start\": false},\n"
    "  \"tree\": {\"type\": \"command\", \"command\": \"/bin/sh\",\n"
    "          \"args\": [\"-c\", \"sleep 100 & sleep 100 & echo ${greeting} >&2; wait\"],\n"
    "          \"ready\": {\"stderr\": \"hello\"}, \"start\": false},\n"
    "  \"file\": {\"type\": \"command\", \"command\": \"/bin/sh\",\n"
    "          \"args\": [\"-c\", \"echo hi > ${run.dir}/flag.tmp; mv ${run.dir}/flag.tmp "
    "${run.dir}/flag; exec sleep 100\"],\n"
    "          \"ready\": {\"file\": \"${run.dir}/flag\"}, \"start\": false},\n"
    "  \"dies\": {\"type\": \"command\", \"command\": \"/bin/sh\",\n"
    "          \"args\": [\"-c\", \"echo it broke >&2; exit 3\"],\n"
    "          \"ready\": {\"stderr\": \"never\"}, \"start\": false},\n"
    "  \"mute\": {\"type\": \"command\", \"command\": \"/bin/sh\",\n"
    "          \"args\": [\"-c\", \"exec sleep 100\"], \"readyTimeout\": \"200ms\",\n"
    "          \"ready\": {\"stdout\": \"ready\"}, \"start\": false},\n"
    "  \"term\": {\"type\": \"command\", \"command\": \"/bin/sh\",\n"
    "          \"args\": [\"-c\", \"trap 'echo got-term >&2; exit 0' TERM; echo up >&2; while :; "
    "do "
    "sleep 0.05; done\"],\n"
    "          \"ready\": {\"stderr\": \"up\"}, \"start\": false},\n"
    "  \"plain\": {\"type\": \"command\", \"command\": \"sleep\", \"args\": [\"100\"], "
    "\"start\": false},\n"
    "  \"ghost\": {\"type\": \"command\", \"command\": \"/nonexistent/prog\", \"start\": false},\n"
    "  \"stdio\": {\"type\": \"mock\", \"kind\": \"x\", \"transport\": \"stdio\",\n"
    "          \"binary\": \"${env.MCP_BIN_DIR}/mcp-test-stdio-server\", \"start\": false}\n"
    "}, \"steps\": []}";

static int setup(void **state)
{
    fixture_t *f = mcp_calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hn1-sup-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(http_client_new(&f->loop, NULL, &f->http), 0);
    assert_int_equal(vars_new(&f->vars), 0);
    vars_set_string(f->vars, "greeting", "hello");
    vars_set_string(f->vars, "run.dir", f->dir);
    char err[512];
    int rc = scenario_load_text("sup.json", scenario_text, strlen(scenario_text), &f->scn, err,
                                sizeof(err));
    if (rc)
        fail_msg("%s", err);
    sup_options_t o = {
        .run_dir = f->dir, .seed = 1, .grace_ms = 300, .http = f->http, .vars = f->vars};
    assert_int_equal(sup_new(&f->loop, &o, &f->sup), 0);
    *state = f;
    return 0;
}

static void http_closed(http_client_t *c, void *ud)
{
    (void)c;
    *(int *)ud = 1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->sup) {
        if (sup_stop_all(f->sup, on_all, f) == 0)
            run_until(f, &f->all_stopped, 10000);
        sup_free(f->sup);
    }
    int closed = 0;
    http_client_close(f->http, http_closed, &closed);
    run_until(f, &closed, 5000);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    vars_free(f->vars);
    scenario_free(f->scn);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    mcp_free(f);
    return rc == 0 ? 0 : -1;
}

static int start(fixture_t *f, const char *name, uint64_t timeout_ms)
{
    char err[1024];
    f->done = 0;
    int rc = sup_start(f->sup, scenario_process(f->scn, name), on_done, f, err, sizeof(err));
    if (rc) {
        snprintf(f->msg, sizeof(f->msg), "%s", err);
        return rc;
    }
    assert_int_equal(f->done, 0); /* never from inside the call */
    assert_true(run_until(f, &f->done, timeout_ms));
    return f->status;
}

static int action(fixture_t *f, const char *name, sup_action_t a, int sig)
{
    char err[512];
    f->done = 0;
    int rc = sup_action(f->sup, name, a, sig, on_done, f, err, sizeof(err));
    if (rc) {
        snprintf(f->msg, sizeof(f->msg), "%s", err);
        return rc;
    }
    assert_int_equal(f->done, 0);
    assert_true(run_until(f, &f->done, 10000));
    return f->status;
}

static void test_ready_by_stderr_and_kill(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(start(f, "up", 5000), 0);
    sup_proc_t *p = sup_find(f->sup, "up");
    assert_non_null(p);
    pid_t pid = sup_proc_pid(p);
    assert_true(pid > 0);
    assert_true(sup_proc_ready(p));
    assert_true(pid_alive(pid));
    /* attributes published as variables */
    assert_int_equal((pid_t)vars_get(f->vars, "up.pid")->valuedouble, pid);
    const cJSON *port = vars_get(f->vars, "up.port");
    assert_non_null(port);
    assert_true(port->valuedouble > 0);
    assert_string_equal(vars_get(f->vars, "up.host")->valuestring, "127.0.0.1");
    /* stderr kept in the run folder */
    char path[512], buf[256] = "";
    snprintf(path, sizeof(path), "%s/up.stderr.log", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_string_equal(buf, "starting\nup\n");
    /* starting again while running is refused */
    char err[256];
    assert_int_equal(
        sup_start(f->sup, scenario_process(f->scn, "up"), on_done, f, err, sizeof(err)),
        MCP_ESTATE);
    assert_non_null(strstr(err, "already running"));
    /* kill completes once the process is reaped */
    assert_int_equal(action(f, "up", SUP_ACT_KILL, 0), 0);
    assert_false(sup_proc_running(p));
    assert_false(pid_alive(pid));
    /* actions on a dead process are refused with a reason */
    assert_int_equal(sup_action(f->sup, "up", SUP_ACT_KILL, 0, on_done, f, err, sizeof(err)),
                     MCP_ESTATE);
    assert_non_null(strstr(err, "not running"));
    assert_int_equal(sup_action(f->sup, "nobody", SUP_ACT_KILL, 0, on_done, f, err, sizeof(err)),
                     MCP_ENOTFOUND);
}

static void test_stop_continue_restart(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(start(f, "up", 5000), 0);
    sup_proc_t *p = sup_find(f->sup, "up");
    pid_t pid = sup_proc_pid(p);
    double port = vars_get(f->vars, "up.port")->valuedouble;
    assert_int_equal(action(f, "up", SUP_ACT_STOP, 0), 0);
    char st = proc_state(pid);
    assert_true(st == 'T' || st == 't');
    assert_true(sup_proc_running(p));
    assert_int_equal(action(f, "up", SUP_ACT_CONTINUE, 0), 0);
    uint64_t end = clock_mono_ms() + 2000;
    while ((proc_state(pid) == 'T' || proc_state(pid) == 't') && clock_mono_ms() < end)
        usleep(2000);
    st = proc_state(pid);
    assert_true(st == 'S' || st == 'R');
    /* restart: a new process, same port, ready again */
    unsigned gen = sup_proc_generation(p);
    assert_int_equal(action(f, "up", SUP_ACT_RESTART, 0), 0);
    assert_true(sup_proc_ready(p));
    assert_int_equal(sup_proc_generation(p), gen + 1);
    assert_int_not_equal(sup_proc_pid(p), pid);
    assert_false(pid_alive(pid));
    assert_true(vars_get(f->vars, "up.port")->valuedouble == port);
    /* a stopped process is continued before it is terminated by stop_all */
    assert_int_equal(action(f, "up", SUP_ACT_STOP, 0), 0);
    pid = sup_proc_pid(p);
    assert_int_equal(sup_stop_all(f->sup, on_all, f), 0);
    assert_true(run_until(f, &f->all_stopped, 10000));
    assert_false(pid_alive(pid));
}

static void test_terminate_and_signal(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(start(f, "term", 5000), 0);
    pid_t pid = sup_proc_pid(sup_find(f->sup, "term"));
    /* SIGUSR2 ends a shell that has no trap for it: the process exits by itself */
    assert_int_equal(action(f, "term", SUP_ACT_SIGNAL, SIGUSR2), 0);
    uint64_t end = clock_mono_ms() + 3000;
    while (sup_proc_running(sup_find(f->sup, "term")) && clock_mono_ms() < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_false(sup_proc_running(sup_find(f->sup, "term")));
    assert_false(pid_alive(pid));
    /* terminate: SIGTERM is handled by the trap, the process exits 0 */
    assert_int_equal(start(f, "term", 5000), 0);
    assert_int_equal(action(f, "term", SUP_ACT_TERMINATE, 0), 0);
    char path[512], buf[512] = "";
    snprintf(path, sizeof(path), "%s/term.stderr.log", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "got-term"));
}

static void test_ready_file_and_plain(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(start(f, "file", 5000), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/flag", f->dir);
    assert_int_equal(access(path, F_OK), 0);
    /* no readiness condition: ready once spawned; PATH lookup for "sleep" */
    assert_int_equal(start(f, "plain", 5000), 0);
    assert_true(pid_alive(sup_proc_pid(sup_find(f->sup, "plain"))));
}

static void test_start_failures(void **state)
{
    fixture_t *f = *state;
    /* exits before it is ready: status and last stderr lines in the message */
    assert_int_equal(start(f, "dies", 5000), MCP_ECHILD);
    assert_non_null(strstr(f->msg, "status 3"));
    assert_non_null(strstr(f->msg, "it broke"));
    /* never ready: killed after readyTimeout */
    uint64_t t0 = clock_mono_ms();
    assert_int_equal(start(f, "mute", 5000), MCP_ETIMEDOUT);
    assert_true(clock_mono_ms() - t0 >= 200);
    assert_non_null(strstr(f->msg, "not ready within 200 ms"));
    pid_t pid = sup_proc_pid(sup_find(f->sup, "mute"));
    uint64_t end = clock_mono_ms() + 3000;
    while (sup_proc_running(sup_find(f->sup, "mute")) && clock_mono_ms() < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_false(pid_alive(pid));
    /* a program that does not exist: refused at once, callback never runs */
    f->done = 0;
    char err[512];
    assert_int_equal(
        sup_start(f->sup, scenario_process(f->scn, "ghost"), on_done, f, err, sizeof(err)),
        UV_ENOENT);
    assert_non_null(strstr(err, "/nonexistent/prog"));
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->done, 0);
}

static void test_stop_all_no_leftovers(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(start(f, "tree", 5000), 0);
    assert_int_equal(start(f, "up", 5000), 0);
    assert_int_equal(start(f, "plain", 5000), 0);
    pid_t groups[3] = {sup_proc_pid(sup_find(f->sup, "tree")), sup_proc_pid(sup_find(f->sup, "up")),
                       sup_proc_pid(sup_find(f->sup, "plain"))};
    /* the tree's grandchildren share its group */
    uint64_t end = clock_mono_ms() + 2000;
    while (group_alive(groups[0]) < 3 && clock_mono_ms() < end)
        usleep(5000);
    assert_int_equal(group_alive(groups[0]), 3);
    assert_int_equal(sup_stop_all(f->sup, on_all, f), 0);
    assert_int_equal(f->all_stopped, 0);
    assert_true(run_until(f, &f->all_stopped, 10000));
    for (int i = 0; i < 3; i++)
        assert_true(wait_group_gone(groups[i], 3000));
    pid_t pids[16];
    assert_int_equal(sup_pids(f->sup, pids, 16), 3);
    /* nothing starts once stopping */
    char err[256];
    assert_int_equal(sup_action(f->sup, "up", SUP_ACT_START, 0, on_done, f, err, sizeof(err)),
                     MCP_ESTATE);
}

static void test_stdio_mock(void **state)
{
    fixture_t *f = *state;
    const char *bin = getenv("MCP_BIN_DIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/mcp-test-stdio-server", bin ? bin : ".");
    if (!bin || access(path, X_OK) != 0) {
        print_message("skipped: %s not built\n", path);
        return;
    }
    assert_int_equal(start(f, "stdio", 5000), 0);
    sup_proc_t *p = sup_find(f->sup, "stdio");
    assert_non_null(sup_proc_client(p));
    assert_true(mcp_client_ready(sup_proc_client(p)));
    pid_t pid = sup_proc_pid(p);
    assert_true(pid_alive(pid));
    /* the faults file was written for SIGHUP reloads */
    snprintf(path, sizeof(path), "%s/stdio.faults.json", f->dir);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(action(f, "stdio", SUP_ACT_KILL, 0), 0);
    assert_null(sup_proc_client(p));
    assert_false(pid_alive(pid));
    assert_int_equal(action(f, "stdio", SUP_ACT_RESTART, 0), 0);
    assert_non_null(sup_proc_client(p));
    pid = sup_proc_pid(p);
    assert_int_equal(sup_stop_all(f->sup, on_all, f), 0);
    assert_true(run_until(f, &f->all_stopped, 10000));
    assert_false(pid_alive(pid));
}

static void test_helpers(void **state)
{
    (void)state;
    assert_int_equal(sup_signal_number("HUP"), SIGHUP);
    assert_int_equal(sup_signal_number("SIGUSR1"), SIGUSR1);
    assert_int_equal(sup_signal_number("9"), 9);
    assert_int_equal(sup_signal_number("BOGUS"), -1);
    assert_int_equal(sup_signal_number(""), -1);
    uint16_t port = 0;
    assert_int_equal(sup_pick_port(&port), 0);
    assert_true(port > 0);
    char *out = NULL, err[256];
    assert_int_equal(sup_find_binary("sh", NULL, &out, err, sizeof(err)), 0);
    assert_non_null(strstr(out, "/sh"));
    mcp_free(out);
    assert_int_equal(sup_find_binary("no-such-program-hn1", "/tmp", &out, err, sizeof(err)),
                     UV_ENOENT);
    assert_non_null(strstr(err, "no-such-program-hn1 not found"));
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_by_stderr_and_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_continue_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminate_and_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready_file_and_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_all_no_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdio_mock, setup, teardown),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
