/* kind_test_client: drive a mock kind in process, as a remote client would.
 *
 * ktc_open creates a loop, an mcp_server_t, runs the kind's setup on it, connects an
 * mcp_client_t through mcp_loopback and completes initialize. Requests run the loop until
 * their answer arrives. Notifications the client receives are collected in `notes` (an array
 * of {"method","params"}). ktc_close closes the client, frees the server, runs the kind's
 * teardown and asserts that the loop closes cleanly. For CMocka tests only: failures assert. */
#ifndef MOCK_KIND_TEST_CLIENT_H
#define MOCK_KIND_TEST_CLIENT_H

#include "mcp_client.h"
#include "mcp_server.h"
#include "mock.h"

#include <cjson/cJSON.h>
#include <uv.h>

typedef struct ktc_s {
    uv_loop_t loop;
    mcp_server_t *server;
    mcp_client_t *client;
    const mock_kind_t *kind;
    void *state;
    cJSON *notes;         /* notifications received, oldest first (owned) */
    char last_error[512]; /* message of the last JSON-RPC error answer */
    int init_done, init_status, close_done;
} ktc_t;

/* Set up `kind` with opts (opts->loop is filled in) and initialize a client. Returns the
 * setup's code; on failure err holds its message and nothing is left open (the loop is
 * closed). t must be zeroed by the caller. */
int ktc_open(ktc_t *t, const mock_kind_t *kind, mock_options_t *opts, char *err, size_t errcap);
void ktc_close(ktc_t *t);

/* Send a request and wait. Returns the result (caller frees) or NULL after a JSON-RPC error,
 * whose code goes to *error_code (may be NULL) and message to t->last_error. params taken. */
cJSON *ktc_request(ktc_t *t, const char *method, cJSON *params, int *error_code);
/* tools/call with arguments given as JSON text (NULL: none); asserts that the call produced a
 * result (not a JSON-RPC error). Caller frees. */
cJSON *ktc_call(ktc_t *t, const char *tool, const char *args_json);
/* content[0].text of a tools/call result (or "" when absent). */
const char *ktc_text(const cJSON *result);
/* 1 when result.isError is true. */
int ktc_is_error(const cJSON *result);
/* content[0].text parsed as JSON (caller frees); asserts it parses and is no error result. */
cJSON *ktc_call_json(ktc_t *t, const char *tool, const char *args_json);
/* Assert the call gives an isError result whose text equals `expected`. */
void ktc_expect_error(ktc_t *t, const char *tool, const char *args_json, const char *expected);
/* Assert the call gives an isError result whose text contains `needle`. */
void ktc_expect_error_contains(ktc_t *t, const char *tool, const char *args_json,
                               const char *needle);
/* Number of collected notifications named `method`. */
int ktc_count_notes(const ktc_t *t, const char *method);
/* Let queued deliveries (notifications) arrive: a ping round trip. */
void ktc_flush(ktc_t *t);

#endif
