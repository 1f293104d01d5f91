/* mock_proc: run build/bin/mcp-mock as a child process in integration tests.
 *
 * The binary is found through MCP_BIN_DIR (set by mcp_unit_test). stdout bytes are collected
 * raw (for stdio they are the protocol, so tests can see malformed or truncated output exactly),
 * stderr lines are collected as text; the readiness line is recognised on stderr (stdio) or
 * stdout (http/sse) and its url= field kept. Every wait runs the caller's loop until the
 * condition holds or the timeout passes (a timer wakes the loop); nothing sleeps.
 *
 * Also: a synchronous HTTP helper over http_client.h for the control API and for MCP over
 * Streamable HTTP (initialize, session header, JSON or SSE answers).
 *
 * For CMocka tests: helpers return codes, callers assert. */
#ifndef MOCK_TEST_MOCK_PROC_H
#define MOCK_TEST_MOCK_PROC_H

#include "buf.h"
#include "child.h"
#include "http_client.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <uv.h>

typedef struct mock_proc_s {
    uv_loop_t *loop;
    child_t *child;
    buf_t out; /* stdout bytes not yet consumed */
    buf_t err; /* stderr lines, each ending in '\n' */
    int out_eof;
    int exited;
    int64_t exit_status;
    int term_signal;
    int ready;
    char url[256];
    uint64_t start_ms, ready_ms;
} mock_proc_t;

/* Path of mcp-mock (static buffer) or NULL when MCP_BIN_DIR is unset / the file is missing. */
const char *mock_proc_bin(void);
/* Spawn mcp-mock with args (NULL-terminated, after argv[0]). 0 or child_spawn's error. */
int mock_proc_start(mock_proc_t *p, uv_loop_t *loop, const char *const *args);
/* Wait for the readiness line. 0, MCP_ETIMEDOUT, or MCP_ECHILD when the process exited. */
int mock_proc_wait_ready(mock_proc_t *p, uint64_t timeout_ms);
/* Write line + '\n' to the mock's stdin. */
int mock_proc_send(mock_proc_t *p, const char *line);
/* The next complete stdout line (without '\n'; mcp_free it) or NULL (timeout or EOF; *rc says
 * which: MCP_ETIMEDOUT / MCP_ECLOSED). rc may be NULL. */
char *mock_proc_read_line(mock_proc_t *p, uint64_t timeout_ms, int *rc);
/* Wait until stdout reached EOF. 0 or MCP_ETIMEDOUT. */
int mock_proc_wait_eof(mock_proc_t *p, uint64_t timeout_ms);
/* Wait until stderr contains needle. 0 or MCP_ETIMEDOUT. */
int mock_proc_wait_stderr(mock_proc_t *p, const char *needle, uint64_t timeout_ms);
/* Wait until the process exited (exit_status / term_signal set). 0 or MCP_ETIMEDOUT. */
int mock_proc_wait_exit(mock_proc_t *p, uint64_t timeout_ms);
int mock_proc_signal(mock_proc_t *p, int signum);
/* Release the child (SIGKILL if still running); run the loop afterwards to free it. */
void mock_proc_close(mock_proc_t *p);
/* Run the loop for ms (to observe that nothing happens). */
void mock_proc_idle(uv_loop_t *loop, uint64_t ms);

/* ---- HTTP ---- */

typedef struct http_resp_s {
    int result; /* http_client result: 0 or a negative code */
    int status;
    char *body; /* mcp_free */
    size_t len;
    char content_type[128];
    char session_id[128];
    char retry_after[32];
    uint64_t elapsed_ms;
} http_resp_t;

/* One request, waited for. headers: "Name: value" strings, NULL-terminated (may be NULL).
 * body may be NULL. 0 when a response arrived (see out->status), else the client's error
 * (also in out->result). out is always filled; release with http_resp_free. */
int http_sync(uv_loop_t *loop, http_client_t *c, const char *method, const char *url,
              const char *const *headers, const char *body, uint64_t timeout_ms, http_resp_t *out);
void http_resp_free(http_resp_t *r);

/* MCP over Streamable HTTP: POST one message to url with the session (may be "") and the usual
 * headers. The JSON-RPC message that answers (single JSON body, or the last SSE data event with
 * an id) is parsed into *msg (NULL when none); notifications seen on the SSE stream are counted
 * into *notes when not NULL. */
int mcp_http_post(uv_loop_t *loop, http_client_t *c, const char *url, const char *session,
                  const char *json, uint64_t timeout_ms, http_resp_t *out, cJSON **msg, int *notes);
/* initialize + notifications/initialized; fills session (cap bytes). 0 or an error code. */
int mcp_http_open(uv_loop_t *loop, http_client_t *c, const char *url, char *session, size_t cap);

#endif
