/* End-to-end tests of the mcp-harness binary: exit codes (0 pass, 1 failed expectation or gate,
 * 2 bad scenario), reports (summary.json, junit.xml, run folder with repro), staging mode
 * (--gateway), and no process left behind when the harness is stopped by SIGTERM (during the
 * steps and during start-up). Scenarios that need mcp-mock are skipped until it is built. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "clock.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char bin_dir[512];
static char src_dir[512];
static char tmp[256];

static int have(const char *name)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/%s", bin_dir, name);
    return access(p, X_OK) == 0;
}

static void write_file(const char *rel, const char *text)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", tmp, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = mcp_malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* Start mcp-harness with args; stdout+stderr to <tmp>/<log>. */
static pid_t spawn_harness(const char *const *args, const char *log)
{
    char exe[700], logpath[600];
    snprintf(exe, sizeof(exe), "%s/mcp-harness", bin_dir);
    snprintf(logpath, sizeof(logpath), "%s/%s", tmp, log);
    const char *argv[32];
    size_t n = 0;
    argv[n++] = exe;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    return pid;
}

/* Wait for pid to exit (at most timeout_ms); its exit code, 128+signal, or -1 on timeout. */
static int wait_exit(pid_t pid, uint64_t timeout_ms)
{
    uint64_t end = clock_mono_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (clock_mono_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(10000); /* polling a foreign process: nothing to wait on */
    }
}

static int run_harness(const char *const *args, const char *log, uint64_t timeout_ms)
{
    return wait_exit(spawn_harness(args, log), timeout_ms);
}

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

/* pids from "start name=... pid=N" lines of a processes.log */
static size_t started_pids(const char *log, pid_t *out, size_t cap)
{
    char *text = read_file(log);
    size_t n = 0;
    for (char *p = text; p && (p = strstr(p, "start name=")) != NULL && n < cap; p++) {
        char *q = strstr(p, " pid=");
        if (q)
            out[n++] = (pid_t)atoi(q + 5);
    }
    mcp_free(text);
    return n;
}

static int wait_for_file(const char *path, uint64_t timeout_ms)
{
    uint64_t end = clock_mono_ms() + timeout_ms;
    while (access(path, F_OK) != 0 && clock_mono_ms() < end)
        usleep(10000);
    return access(path, F_OK) == 0;
}

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("MCP_BIN_DIR");
    const char *s = getenv("MCP_SOURCE_DIR");
    if (!b || !s) {
        print_message("skipped: MCP_BIN_DIR and MCP_SOURCE_DIR are set by ctest\n");
        exit(77);
    }
    snprintf(bin_dir, sizeof(bin_dir), "%s", b);
    snprintf(src_dir, sizeof(src_dir), "%s", s);
    snprintf(tmp, sizeof(tmp), "/tmp/hn1-e2e-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* A scenario that starts command processes with grandchildren (and a stdio MCP server when
 * mcp-test-stdio-server is built), then sleeps; the last process drops a marker file once every
 * earlier one is ready. */
static void write_sleepy(const char *name, int never_ready)
{
    char text[4096];
    char stdio[1024] = "";
    if (have("mcp-test-stdio-server"))
        snprintf(stdio, sizeof(stdio),
                 "\"srv\": {\"type\": \"mock\", \"kind\": \"x\", \"transport\": \"stdio\", "
                 "\"binary\": \"%s/mcp-test-stdio-server\"},",
                 bin_dir);
    snprintf(text, sizeof(text),
             "{\"name\": \"%s\", \"processes\": {\n"
             "  \"tree\": {\"type\": \"command\", \"command\": \"/bin/sh\", \"args\": [\"-c\", "
             "\"sleep 100 & sleep 100 & echo ok >&2; wait\"], \"ready\": {\"stderr\": \"ok\"}},\n"
             "  %s\n"
             "  \"trapper\": {\"type\": \"command\", \"command\": \"/bin/sh\", \"args\": [\"-c\", "
             "\"trap '' TERM; echo ok >&2; while :; do sleep 0.05; done\"], \"ready\": "
             "{\"stderr\": \"ok\"}},\n"
             "  \"marker\": {\"type\": \"command\", \"command\": \"/bin/sh\", \"args\": [\"-c\", "
             "\"touch ${run.dir}/all-started; exec sleep 100\"], \"ready\": {\"%s\": "
             "\"%s\"}, \"readyTimeout\": \"60s\"}\n"
             "}, \"steps\": [{\"name\": \"nap\", \"sleep\": \"60s\"}]}",
             name, stdio, never_ready ? "stderr" : "file",
             never_ready ? "never" : "${run.dir}/all-started");
    char file[300];
    snprintf(file, sizeof(file), "%s.json", name);
    write_file(file, text);
}

static void sigterm_case(const char *name, int never_ready)
{
    write_sleepy(name, never_ready);
    char file[600], out[600], marker[700], plog[700];
    snprintf(file, sizeof(file), "%s/%s.json", tmp, name);
    snprintf(out, sizeof(out), "%s/out", tmp);
    mkdir(out, 0777);
    snprintf(marker, sizeof(marker), "%s/%s/all-started", out, name);
    snprintf(plog, sizeof(plog), "%s/%s/processes.log", out, name);
    const char *args[] = {"run", file, "--out", out, "--grace", "300", NULL};
    char log[64];
    snprintf(log, sizeof(log), "%s.log", name);
    pid_t h = spawn_harness(args, log);
    assert_true(wait_for_file(marker, 20000));
    pid_t pids[16];
    size_t want = have("mcp-test-stdio-server") ? 4 : 3;
    size_t n = 0;
    uint64_t end = clock_mono_ms() + 5000;
    while ((n = started_pids(plog, pids, 16)) < want && clock_mono_ms() < end)
        usleep(10000);
    assert_int_equal(n, want);
    assert_true(group_alive(pids[0]) >= 3); /* the shell and its two sleeps */
    assert_int_equal(kill(h, SIGTERM), 0);
    /* stop: SIGTERM, then SIGKILL after the grace time for the one that ignores it */
    int code = wait_exit(h, 15000);
    assert_int_equal(code, 128 + SIGTERM);
    for (size_t i = 0; i < n; i++) {
        if (group_alive(pids[i]))
            fail_msg("process group %d of %s is still alive", (int)pids[i], name);
    }
    /* the reports were still written */
    char summary[700];
    snprintf(summary, sizeof(summary), "%s/summary.json", out);
    char *text = read_file(summary);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"interrupted\""));
    mcp_free(text);
}

static void test_sigterm_during_steps(void **state)
{
    (void)state;
    sigterm_case("sleepy", 0);
}

static void test_sigterm_during_startup(void **state)
{
    (void)state;
    sigterm_case("starting", 1);
}

static void test_exit_codes(void **state)
{
    (void)state;
    /* 2: a scenario with an error names file and path */
    write_file("bad.json", "{\"steps\": [{\"http\": {\"url\": 5}}]}");
    char file[600], out[600];
    snprintf(file, sizeof(file), "%s/bad.json", tmp);
    snprintf(out, sizeof(out), "%s/out-bad", tmp);
    const char *a1[] = {"run", file, "--out", out, NULL};
    assert_int_equal(run_harness(a1, "bad.log", 20000), 2);
    char log[700];
    snprintf(log, sizeof(log), "%s/bad.log", tmp);
    char *text = read_file(log);
    assert_non_null(strstr(text, "bad.json: $.steps[0].http.url: must be a string"));
    mcp_free(text);
    const char *a2[] = {"validate", file, NULL};
    assert_int_equal(run_harness(a2, "validate.log", 20000), 2);
    /* usage errors */
    const char *a3[] = {"run", file, "--seed", "x", NULL};
    assert_int_equal(run_harness(a3, "usage.log", 20000), 2);
    const char *a4[] = {"frobnicate", NULL};
    assert_int_equal(run_harness(a4, "usage2.log", 20000), 2);
    /* 1: a broken expectation and a violated gate are named */
    write_file("fail.json",
               "{\"processes\": {\"c\": {\"type\": \"command\", \"command\": \"/bin/sh\", "
               "\"args\": [\"-c\", \"exec sleep 100\"]}},\n"
               " \"steps\": [{\"name\": \"a short nap\", \"histogram\": \"naps\", \"sleep\": "
               "\"20ms\"},\n"
               "   {\"name\": \"the broken one\", \"http\": {\"url\": \"http://127.0.0.1:1/x\"}, "
               "\"continueOnFailure\": true},\n"
               "   {\"name\": \"after\", \"sleep\": 1}],\n"
               " \"gates\": {\"naps\": [\"max<1ms\", \"count==1\"]}}");
    snprintf(file, sizeof(file), "%s/fail.json", tmp);
    snprintf(out, sizeof(out), "%s/out-fail", tmp);
    const char *a5[] = {"run", file, "--out", out, "--seed", "5", NULL};
    assert_int_equal(run_harness(a5, "fail.log", 30000), 1);
    snprintf(log, sizeof(log), "%s/fail.log", tmp);
    text = read_file(log);
    assert_non_null(strstr(text, "✗ the broken one"));
    assert_non_null(strstr(text, "✗ naps max<1ms"));
    assert_non_null(strstr(text, "✓ naps count==1"));
    assert_non_null(strstr(text, "✓ after")); /* continueOnFailure */
    mcp_free(text);
    /* reports */
    char path[700];
    snprintf(path, sizeof(path), "%s/junit.xml", out);
    text = read_file(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "name=\"step: the broken one\""));
    assert_non_null(strstr(text, "<failure message="));
    assert_non_null(strstr(text, "name=\"gate: naps max&lt;1ms\""));
    mcp_free(text);
    snprintf(path, sizeof(path), "%s/fail/repro", out);
    text = read_file(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "--seed 5"));
    mcp_free(text);
    snprintf(path, sizeof(path), "%s/fail/naps.hlog", out);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/fail/naps.hgrm", out);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/fail/scenario.json", out);
    text = read_file(path);
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetObjectItem(doc, "seed")->valueint, 5);
    cJSON_Delete(doc);
    mcp_free(text);
    snprintf(path, sizeof(path), "%s/summary.json", out);
    text = read_file(path);
    doc = cJSON_Parse(text);
    assert_non_null(doc);
    assert_int_equal(cJSON_GetObjectItem(doc, "exitCode")->valueint, 1);
    cJSON_Delete(doc);
    mcp_free(text);
    /* nothing of the failed run is left */
    pid_t pids[8];
    snprintf(path, sizeof(path), "%s/fail/processes.log", out);
    assert_int_equal(started_pids(path, pids, 8), 1);
    assert_int_equal(group_alive(pids[0]), 0);

    /* 2 after a process failed to start: the ones already running are stopped too */
    write_file("setup.json",
               "{\"processes\": {\n"
               "  \"ok\": {\"type\": \"command\", \"command\": \"/bin/sh\", \"args\": [\"-c\", "
               "\"sleep 100 & exec sleep 100\"]},\n"
               "  \"broken\": {\"type\": \"command\", \"command\": \"/bin/sh\", \"args\": [\"-c\", "
               "\"echo cannot bind >&2; exit 4\"], \"ready\": {\"stderr\": \"never\"}}},\n"
               " \"steps\": [{\"name\": \"never runs\", \"sleep\": 1}]}");
    snprintf(file, sizeof(file), "%s/setup.json", tmp);
    snprintf(out, sizeof(out), "%s/out-setup", tmp);
    const char *a6[] = {"run", file, "--out", out, NULL};
    assert_int_equal(run_harness(a6, "setup.log", 30000), 2);
    snprintf(log, sizeof(log), "%s/setup.log", tmp);
    text = read_file(log);
    assert_non_null(strstr(text, "process broken exited (status 4, signal 0) before it was ready; "
                                 "last stderr: cannot bind"));
    assert_non_null(strstr(text, "- never runs: not run"));
    mcp_free(text);
    snprintf(path, sizeof(path), "%s/setup/processes.log", out);
    assert_int_equal(started_pids(path, pids, 8), 2);
    assert_int_equal(group_alive(pids[0]), 0);
    assert_int_equal(group_alive(pids[1]), 0);

    /* --only selects by name or file name; no match is a usage error */
    snprintf(file, sizeof(file), "%s/fail.json", tmp);
    char file2[600];
    snprintf(file2, sizeof(file2), "%s/setup.json", tmp);
    snprintf(out, sizeof(out), "%s/out-only", tmp);
    const char *a7[] = {"run", file, file2, "--out", out, "--only", "fa*", NULL};
    assert_int_equal(run_harness(a7, "only.log", 30000), 1);
    snprintf(path, sizeof(path), "%s/setup", out);
    assert_int_not_equal(access(path, F_OK), 0); /* not run */
    const char *a8[] = {"run", file, "--out", out, "--only", "nothing-like-it", NULL};
    assert_int_equal(run_harness(a8, "only2.log", 30000), 2);
}

static void test_e2e_scenarios(void **state)
{
    (void)state;
    if (!have("mcp-mock")) {
        print_message("skipped: %s/mcp-mock is not built\n", bin_dir);
        skip();
    }
    char dir[700], dir2[700], out[600];
    snprintf(dir, sizeof(dir), "%s/scenarios/e2e", src_dir);
    snprintf(dir2, sizeof(dir2), "%s/scenarios/default", src_dir);
    snprintf(out, sizeof(out), "%s/out-e2e", tmp);
    const char *args[] = {"run", dir, dir2, "--out", out, NULL};
    int code = run_harness(args, "e2e.log", 120000);
    if (code != 0) {
        char log[700];
        snprintf(log, sizeof(log), "%s/e2e.log", tmp);
        char *text = read_file(log);
        print_message("%s\n", text ? text : "");
        mcp_free(text);
    }
    assert_int_equal(code, 0);
    const char *v[] = {"validate", dir, dir2, NULL};
    assert_int_equal(run_harness(v, "e2e-validate.log", 20000), 0);
}

static void test_staging(void **state)
{
    (void)state;
    if (!have("mcp-mock")) {
        print_message("skipped: %s/mcp-mock is not built\n", bin_dir);
        skip();
    }
    /* a "deployment": mcp-mock over HTTP, answering /health and /mcp like the gateway would */
    char exe[700], ready[600];
    snprintf(exe, sizeof(exe), "%s/mcp-mock", bin_dir);
    snprintf(ready, sizeof(ready), "%s/deploy.ready", tmp);
    const char *argv[] = {exe,           "everything",   "--transport", "http", "--listen",
                          "127.0.0.1:0", "--ready-file", ready,         NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t mock;
    assert_int_equal(posix_spawn(&mock, exe, &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    assert_true(wait_for_file(ready, 10000));
    char *url = read_file(ready);
    char *path = strstr(url, "/mcp");
    assert_non_null(path);
    *path = '\0'; /* the base URL */
    write_file("staging.json",
               "{\"name\": \"staging\", \"processes\": {\n"
               "  \"gw\": {\"type\": \"gateway\", \"config\": {\"servers\": []}},\n"
               "  \"m\": {\"type\": \"mock\", \"kind\": \"everything\"}},\n"
               " \"steps\": [\n"
               "  {\"name\": \"health\", \"http\": {\"url\": \"${gw.base}/health\"}, \"expect\": "
               "{\"status\": 200}},\n"
               "  {\"name\": \"tools via gateway\", \"mcp\": {\"target\": \"gw\", \"method\": "
               "\"tools/list\"}, \"expect\": {\"result\": {\"$.tools\": {\"length\": {\"gt\": "
               "0}}}}},\n"
               "  {\"name\": \"direct to the mock\", \"mcp\": {\"target\": \"m\", \"method\": "
               "\"ping\"}},\n"
               "  {\"name\": \"kill the mock\", \"kill\": \"m\"},\n"
               "  {\"name\": \"uses a mock address\", \"http\": {\"url\": \"${m.base}/health\"}}\n"
               " ]}");
    write_file("local.json", "{\"name\": \"local\", \"requires\": [\"local-processes\"], "
                             "\"steps\": [{\"sleep\": 1}]}");
    char f1[600], f2[600], out[600];
    snprintf(f1, sizeof(f1), "%s/staging.json", tmp);
    snprintf(f2, sizeof(f2), "%s/local.json", tmp);
    snprintf(out, sizeof(out), "%s/out-staging", tmp);
    const char *args[] = {"run",       f1,  f2,         "--out",     out,
                          "--gateway", url, "--header", "X-Test: 1", NULL};
    int code = run_harness(args, "staging.log", 60000);
    kill(mock, SIGTERM);
    int st;
    waitpid(mock, &st, 0);
    char log[700];
    snprintf(log, sizeof(log), "%s/staging.log", tmp);
    char *text = read_file(log);
    if (code != 0)
        print_message("%s\n", text);
    assert_int_equal(code, 0);
    assert_non_null(strstr(text, "✓ health"));
    assert_non_null(strstr(text, "✓ tools via gateway"));
    assert_non_null(strstr(text, "- direct to the mock: skipped (targets local process m)"));
    assert_non_null(strstr(text, "- kill the mock: skipped (needs local process control"));
    assert_non_null(strstr(text, "- uses a mock address: skipped (refers to local process m)"));
    assert_non_null(strstr(text, "skipped in staging mode"));
    mcp_free(text);
    mcp_free(url);
}

static void test_gate_abort(void **state)
{
    (void)state;
    if (!have("mcp-mock")) {
        print_message("skipped: %s/mcp-mock is not built\n", bin_dir);
        skip();
    }
    /* every call 20 ms late: the abortOnFail gate stops a 20 s phase after about a second */
    write_file(
        "abort.json",
        "{\"processes\": {\"m\": {\"type\": \"mock\", \"kind\": \"everything\", \"transport\": "
        "\"http\", \"faults\": [{\"method\": \"tools/call\", \"type\": \"latency\", \"ms\": "
        "20}]}},\n"
        " \"steps\": [\n"
        "  {\"name\": \"init\", \"http\": {\"method\": \"POST\", \"url\": \"${m.url}\", "
        "\"headers\": "
        "{\"Accept\": \"application/json, text/event-stream\"}, \"json\": {\"jsonrpc\": \"2.0\", "
        "\"id\": 1, \"method\": \"initialize\", \"params\": {\"protocolVersion\": \"2025-06-18\", "
        "\"capabilities\": {}, \"clientInfo\": {\"name\": \"t\", \"version\": \"0\"}}}},\n"
        "   \"capture\": {\"sid\": {\"header\": \"mcp-session-id\"}}},\n"
        "  {\"name\": \"too slow\", \"histogram\": \"calls\", \"load\": {\"target\": \"m\", "
        "\"phases\": [{\"duration\": \"20s\", \"rate\": 50}], \"requests\": [{\"method\": "
        "\"POST\", "
        "\"path\": \"/mcp\", \"headers\": {\"Mcp-Session-Id\": \"${sid}\", \"Accept\": "
        "\"application/json, text/event-stream\"}, \"json\": {\"jsonrpc\": \"2.0\", \"id\": 2, "
        "\"method\": \"tools/call\", \"params\": {\"name\": \"test_simple_text\", \"arguments\": "
        "{}}}}]}}],\n"
        " \"gates\": {\"calls\": [{\"threshold\": \"p(99)<5ms\", \"abortOnFail\": true, "
        "\"delayAbortEval\": \"500ms\"}, \"count>0\"]}}");
    char file[600], out[600], log[700];
    snprintf(file, sizeof(file), "%s/abort.json", tmp);
    snprintf(out, sizeof(out), "%s/out-abort", tmp);
    const char *args[] = {"run", file, "--out", out, NULL};
    uint64_t t0 = clock_mono_ms();
    assert_int_equal(run_harness(args, "abort.log", 60000), 1);
    assert_true(clock_mono_ms() - t0 < 10000);
    snprintf(log, sizeof(log), "%s/abort.log", tmp);
    char *text = read_file(log);
    assert_non_null(strstr(text, "✗ too slow"));
    assert_non_null(strstr(text, "aborted by gate calls p(99)<5ms"));
    assert_non_null(strstr(text, "✓ calls count>0"));
    mcp_free(text);
}

/* A stand-in for mcp-gateway (python3 -m http.server): the gateway process type writes the
 * configuration with variables expanded, picks the port, waits for /health/ready, restarts on the
 * same port; chat steps post to /api/chat; expectations use captured values. */
static void test_gateway_process(void **state)
{
    (void)state;
    if (system("python3 -c 'import http.server' >/dev/null 2>&1") != 0) {
        print_message("skipped: python3 is not available for the stand-in gateway\n");
        skip();
    }
    write_file("fakegw.sh",
               "#!/bin/sh\n"
               "# mcp-gateway stand-in: --config FILE --listen HOST:PORT\n"
               "[ \"$1\" = --config ] && [ \"$3\" = --listen ] || exit 2\n"
               "dir=$(dirname \"$2\")/fakegw-root\n"
               "mkdir -p \"$dir/health\"\n"
               "echo '{\"status\":\"ready\"}' > \"$dir/health/ready\"\n"
               "cp \"$2\" \"$dir/config.json\"\n"
               "exec python3 -m http.server \"${4##*:}\" --bind 127.0.0.1 --directory \"$dir\"\n");
    char sh[600];
    snprintf(sh, sizeof(sh), "%s/fakegw.sh", tmp);
    chmod(sh, 0755);
    char text[4096];
    snprintf(
        text, sizeof(text),
        "{\"vars\": {\"marker\": \"hello\"},\n"
        " \"processes\": {\"gw\": {\"type\": \"gateway\", \"binary\": \"%s\", \"readyTimeout\": "
        "\"20s\",\n"
        "   \"config\": {\"marker\": \"${marker}\", \"servers\": [{\"name\": \"x\", \"transport\": "
        "\"http\", \"config\": {\"endpoint\": \"${gw.base}/x\"}}]}}},\n"
        " \"steps\": [\n"
        "  {\"name\": \"config written\", \"http\": {\"url\": \"${gw.base}/config.json\"},\n"
        "   \"expect\": {\"json\": {\"$.marker\": \"hello\", \"$.servers[0].config.endpoint\": "
        "{\"regex\": \"^http://127\\\\.0\\\\.0\\\\.1:[0-9]+/x$\"}}},\n"
        "   \"capture\": {\"ep\": \"$.servers[0].config.endpoint\"}},\n"
        "  {\"name\": \"chat\", \"chat\": {\"message\": \"hi\"}, \"expect\": {\"status\": {\"ge\": "
        "400}}},\n"
        "  {\"name\": \"restart\", \"restart\": \"gw\"},\n"
        "  {\"name\": \"same address after the restart\", \"http\": {\"url\": "
        "\"${gw.base}/config.json\"},\n"
        "   \"expect\": {\"json\": {\"$.servers[0].config.endpoint\": \"${ep}\"}}},\n"
        "  {\"name\": \"captured values in expectations\", \"http\": {\"url\": "
        "\"${gw.base}/config.json\"},\n"
        "   \"expect\": {\"json\": {\"$.marker\": \"${ep}\"}}, \"continueOnFailure\": true}\n"
        " ]}",
        sh);
    write_file("gw.json", text);
    char file[600], out[600], log[700];
    snprintf(file, sizeof(file), "%s/gw.json", tmp);
    snprintf(out, sizeof(out), "%s/out-gw", tmp);
    const char *args[] = {"run", file, "--out", out, NULL};
    int code = run_harness(args, "gw.log", 60000);
    snprintf(log, sizeof(log), "%s/gw.log", tmp);
    char *t = read_file(log);
    if (code != 1)
        print_message("%s\n", t);
    assert_int_equal(code, 1); /* the last step is meant to fail */
    assert_non_null(strstr(t, "✓ config written"));
    assert_non_null(strstr(t, "✓ chat"));
    assert_non_null(strstr(t, "✓ restart"));
    assert_non_null(strstr(t, "✓ same address after the restart"));
    assert_non_null(strstr(t, "✗ captured values in expectations"));
    assert_non_null(strstr(t, "$.marker: expected \"http://127.0.0.1:"));
    mcp_free(t);
    char path[700];
    snprintf(path, sizeof(path), "%s/gw/gw.config.json", out);
    t = read_file(path);
    assert_non_null(t);
    assert_non_null(strstr(t, "\"marker\":\t\"hello\""));
    mcp_free(t);
}

/* A fault schedule inside a load phase: the mock is killed and restarted while the load runs;
 * the outage shows up as connect errors, the schedule's outcome is in summary.json. */
static void test_load_schedule(void **state)
{
    (void)state;
    if (!have("mcp-mock")) {
        print_message("skipped: %s/mcp-mock is not built\n", bin_dir);
        skip();
    }
    write_file("sched.json",
               "{\"processes\": {\"m\": {\"type\": \"mock\", \"kind\": \"everything\", "
               "\"transport\": \"http\"}},\n"
               " \"steps\": [\n"
               "  {\"name\": \"load with an outage\", \"histogram\": \"h\", \"load\": {\"target\": "
               "\"m\", \"connections\": 4, \"timeout\": \"500ms\",\n"
               "    \"phases\": [{\"duration\": \"1500ms\", \"rate\": 100}],\n"
               "    \"requests\": [{\"name\": \"health\", \"path\": \"/health\"}],\n"
               "    \"schedule\": [{\"at\": \"400ms\", \"kill\": \"m\"}, {\"at\": \"700ms\", "
               "\"restart\": \"m\"}, {\"at\": \"1m\", \"stop\": \"m\"}]}},\n"
               "  {\"name\": \"up again\", \"http\": {\"url\": \"${m.base}/health\"}}],\n"
               " \"gates\": {\"h\": [\"errors>0\", \"count>=140\"], \"h.health\": [\"count>0\"]}}");
    char file[600], out[600], path[700];
    snprintf(file, sizeof(file), "%s/sched.json", tmp);
    snprintf(out, sizeof(out), "%s/out-sched", tmp);
    const char *args[] = {"run", file, "--out", out, NULL};
    assert_int_equal(run_harness(args, "sched.log", 60000), 0);
    snprintf(path, sizeof(path), "%s/summary.json", out);
    char *text = read_file(path);
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    cJSON *step = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "scenarios"), 0), "steps"),
        0);
    cJSON *resp = cJSON_GetObjectItem(step, "response");
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "errors"), "connect")->valueint > 0);
    cJSON *sched = cJSON_GetObjectItem(resp, "schedule");
    assert_int_equal(cJSON_GetArraySize(sched), 3);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(sched, 0), "status")->valuestring,
                        "done");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(sched, 1), "status")->valuestring,
                        "done");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(sched, 2), "status")->valuestring,
                        "not reached");
    cJSON_Delete(doc);
    mcp_free(text);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_sigterm_during_steps),
        cmocka_unit_test(test_sigterm_during_startup),
        cmocka_unit_test(test_e2e_scenarios),
        cmocka_unit_test(test_staging),
        cmocka_unit_test(test_gate_abort),
        cmocka_unit_test(test_gateway_process),
        cmocka_unit_test(test_load_schedule),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
