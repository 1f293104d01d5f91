/* Interop test: the MCP Inspector CLI (@modelcontextprotocol/inspector, the TypeScript SDK's
 * StreamableHTTPClientTransport and SSEClientTransport) against mcp-test-http-server, which
 * serves our transports on 127.0.0.1 with a port picked at run time. The Inspector is installed
 * by ci/node-tools into .cache/node-tools/; without npm or the npm registry the test exits 77
 * (skipped) with a message. Everything else that goes wrong is a failure.
 *
 * Checked: tools/list and tools/call over Streamable HTTP (a JSON answer, an SSE stream with
 * progress notifications, SSE polling resumed by GET + Last-Event-ID, a tool error and an
 * unknown tool), resources/read, and tools/list + tools/call over the legacy /sse transport.
 * The server must exit 0 on SIGTERM (every handle closed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "buf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define INSPECTOR "@modelcontextprotocol/inspector@2.12.0"

extern char **environ;

static char tools_dir[1024];
static char mcp_url[256], sse_url[256];
static pid_t server_pid = -1;
static int server_out = -1;

/* Run a shell command, collect stdout (stderr passes through); returns the exit status. */
static int run(const char *cmd, buf_t *out)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        if (out)
            assert_int_equal(buf_append(out, chunk, n), 0);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run the Inspector CLI with `args` after the target URL; returns its exit status and its
 * stdout parsed as JSON in *json (NULL when not JSON). */
static int inspector(const char *url, const char *transport, const char *args, cJSON **json)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "PATH='%s/node_modules/.bin':\"$PATH\" timeout 120 mcp-inspector --cli '%s' "
             "--transport %s %s --format json",
             tools_dir, url, transport, args);
    buf_t out;
    buf_init(&out, 16 << 20);
    int rc = run(cmd, &out);
    *json = out.len ? cJSON_ParseWithLength(out.data, out.len) : NULL;
    if (rc != 0 || !*json)
        fprintf(stderr, "test_mcp_http_interop: `%s` -> exit %d, stdout: %s\n", cmd, rc,
                out.data ? out.data : "");
    buf_free(&out);
    return rc;
}

static const cJSON *path(const cJSON *j, const char *a, const char *b)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, a);
    return b ? cJSON_GetObjectItemCaseSensitive(o, b) : o;
}

static const char *first_text(const cJSON *j)
{
    const cJSON *c = cJSON_GetArrayItem(path(j, "result", "content"), 0);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "text");
    return cJSON_IsString(t) ? t->valuestring : "";
}

static void call_expect_text(const char *url, const char *transport, const char *args,
                             const char *want)
{
    cJSON *j = NULL;
    assert_int_equal(inspector(url, transport, args, &j), 0);
    assert_non_null(j);
    assert_string_equal(first_text(j), want);
    cJSON_Delete(j);
}

static void check_tool_list(const cJSON *j)
{
    static const char *const names[] = {"echo", "add", "slow_echo", "progress",
                                        "test_reconnection"};
    const cJSON *tools = path(j, "result", "tools");
    assert_true(cJSON_IsArray(tools));
    assert_int_equal(cJSON_GetArraySize(tools), 5);
    for (size_t i = 0; i < 5; i++) {
        const cJSON *tool = cJSON_GetArrayItem(tools, (int)i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(tool, "name")->valuestring, names[i]);
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(tool, "description")));
        assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(tool, "inputSchema")));
    }
    const cJSON *req =
        path(path(cJSON_GetArrayItem(tools, 0), "inputSchema", NULL), "required", NULL);
    assert_string_equal(cJSON_GetArrayItem(req, 0)->valuestring, "text");
}

static void test_streamable_tools_list(void **state)
{
    (void)state;
    cJSON *j = NULL;
    assert_int_equal(inspector(mcp_url, "http", "--method tools/list", &j), 0);
    check_tool_list(j);
    cJSON_Delete(j);
}

static void test_streamable_tools_call(void **state)
{
    (void)state;
    call_expect_text(mcp_url, "http", "--method tools/call --tool-name echo --tool-arg text=hello",
                     "hello");
    call_expect_text(mcp_url, "http",
                     "--method tools/call --tool-name add --tool-arg a=2 --tool-arg b=40", "42");
    /* Answered on an SSE stream after progress notifications and logs. */
    call_expect_text(mcp_url, "http", "--method tools/call --tool-name progress",
                     "progress complete");
    /* The POST stream ends without the answer; the SDK resumes with GET + Last-Event-ID. */
    call_expect_text(mcp_url, "http", "--method tools/call --tool-name test_reconnection",
                     "Reconnection test completed");
    cJSON *j = NULL;
    assert_int_equal(inspector(mcp_url, "http", "--method resources/read --uri test://hello", &j),
                     0);
    const cJSON *c = cJSON_GetArrayItem(path(j, "result", "contents"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring,
                        "hello from mcp-test-http-server");
    cJSON_Delete(j);
    /* A tool error (isError) and an unknown tool: the Inspector's exit code 5. */
    assert_int_equal(inspector(mcp_url, "http", "--method tools/call --tool-name echo", &j), 5);
    assert_true(cJSON_IsTrue(path(j, "result", "isError")));
    cJSON_Delete(j);
    assert_int_equal(inspector(mcp_url, "http", "--method tools/call --tool-name no_such_tool", &j),
                     5);
    cJSON_Delete(j);
}

static void test_legacy_sse(void **state)
{
    (void)state;
    cJSON *j = NULL;
    assert_int_equal(inspector(sse_url, "sse", "--method tools/list", &j), 0);
    check_tool_list(j);
    cJSON_Delete(j);
    call_expect_text(sse_url, "sse",
                     "--method tools/call --tool-name slow_echo --tool-arg text=later "
                     "--tool-arg ms=100",
                     "later");
    call_expect_text(sse_url, "sse", "--method tools/call --tool-name progress",
                     "progress complete");
}

/* Start mcp-test-http-server and read its readiness line. */
static int start_server(const char *bin_dir)
{
    char exe[1024];
    snprintf(exe, sizeof(exe), "%s/mcp-test-http-server", bin_dir);
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char *argv[] = {exe, "--host", "127.0.0.1", "--port", "0", NULL};
    int rc = posix_spawn(&server_pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        fprintf(stderr, "test_mcp_http_interop: cannot start %s: %s\n", exe, strerror(rc));
        close(fds[0]);
        server_pid = -1;
        return -1;
    }
    server_out = fds[0];
    char line[1024];
    size_t len = 0;
    while (len < sizeof(line) - 1) {
        struct pollfd pfd = {server_out, POLLIN, 0};
        if (poll(&pfd, 1, 15000) <= 0)
            break;
        ssize_t n = read(server_out, line + len, 1);
        if (n <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    if (sscanf(line, "READY %255s %255s", mcp_url, sse_url) != 2) {
        fprintf(stderr, "test_mcp_http_interop: no readiness line from the server (got '%s')\n",
                line);
        return -1;
    }
    return 0;
}

static int stop_server(void)
{
    if (server_pid <= 0)
        return 0;
    kill(server_pid, SIGTERM);
    int st = 0;
    while (waitpid(server_pid, &st, 0) < 0 && errno == EINTR)
        ;
    server_pid = -1;
    close(server_out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_server_exits_cleanly(void **state)
{
    (void)state;
    assert_int_equal(stop_server(), 0);
}

int main(void)
{
    mcp_alloc_init();
    const char *src = getenv("MCP_SOURCE_DIR");
    const char *bin = getenv("MCP_BIN_DIR");
    if (!src || !bin) {
        fprintf(stderr, "test_mcp_http_interop: MCP_SOURCE_DIR and MCP_BIN_DIR must be set\n");
        return 1;
    }
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "'%s/ci/node-tools' %s", src, INSPECTOR);
    buf_t out;
    buf_init(&out, 4096);
    int rc = run(cmd, &out);
    if (rc == 77) {
        fprintf(stderr,
                "test_mcp_http_interop: SKIP: %s cannot be installed (npm or the registry "
                "is unavailable)\n",
                INSPECTOR);
        buf_free(&out);
        return 77;
    }
    if (rc != 0 || out.len == 0) {
        fprintf(stderr, "test_mcp_http_interop: ci/node-tools failed (exit %d)\n", rc);
        buf_free(&out);
        return 1;
    }
    snprintf(tools_dir, sizeof(tools_dir), "%.*s", (int)strcspn(out.data, "\n"), out.data);
    buf_free(&out);
    if (start_server(bin) != 0) {
        stop_server();
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamable_tools_list),
        cmocka_unit_test(test_streamable_tools_call),
        cmocka_unit_test(test_legacy_sse),
        cmocka_unit_test(test_server_exits_cleanly),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    stop_server();
    return rc;
}
