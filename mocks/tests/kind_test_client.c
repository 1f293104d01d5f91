/* kind_test_client: see kind_test_client.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kind_test_client.h"

#include "alloc.h"
#include "errors.h"
#include "mcp_loopback.h"

#include <stdio.h>
#include <string.h>

#define KTC_DEADLINE_MS 20000

static void ktc_on_note(mcp_client_t *client, const char *method, const cJSON *params, void *ud)
{
    (void)client;
    ktc_t *t = ud;
    cJSON *note = cJSON_CreateObject();
    cJSON_AddStringToObject(note, "method", method);
    if (params)
        cJSON_AddItemToObject(note, "params", cJSON_Duplicate(params, 1));
    cJSON_AddItemToArray(t->notes, note);
}

static void ktc_init_cb(mcp_client_t *client, int status, void *ud)
{
    (void)client;
    ktc_t *t = ud;
    t->init_status = status;
    t->init_done = 1;
}

int ktc_open(ktc_t *t, const mock_kind_t *kind, mock_options_t *opts, char *err, size_t errcap)
{
    mcp_alloc_init();
    assert_int_equal(uv_loop_init(&t->loop), 0);
    t->kind = kind;
    t->notes = cJSON_CreateArray();
    opts->loop = &t->loop;
    opts->kind = kind->name;
    mcp_server_config_t cfg = {.name = kind->server_name, .version = "0.0.0-test"};
    assert_int_equal(mcp_server_create(&t->loop, &cfg, &t->server), 0);
    int rc = kind->setup(t->server, opts, &t->state, err, errcap);
    if (rc != 0) {
        mcp_server_free(t->server);
        t->server = NULL;
        cJSON_Delete(t->notes);
        t->notes = NULL;
        assert_int_equal(uv_loop_close(&t->loop), 0);
        return rc;
    }
    mcp_client_options_t copts = {
        .name = "kind-test", .on_notification = ktc_on_note, .userdata = t};
    assert_int_equal(mcp_client_new(&t->loop, &copts, &t->client), 0);
    assert_int_equal(mcp_loopback_connect(&t->loop, t->server, t->client, NULL), 0);
    assert_int_equal(mcp_client_initialize(t->client, KTC_DEADLINE_MS, ktc_init_cb, t), 0);
    while (!t->init_done)
        uv_run(&t->loop, UV_RUN_ONCE);
    assert_int_equal(t->init_status, 0);
    return 0;
}

static void ktc_close_cb(mcp_client_t *client, void *ud)
{
    (void)client;
    ((ktc_t *)ud)->close_done = 1;
}

void ktc_close(ktc_t *t)
{
    assert_int_equal(mcp_client_close(t->client, ktc_close_cb, t), 0);
    while (!t->close_done)
        uv_run(&t->loop, UV_RUN_ONCE);
    mcp_server_free(t->server);
    t->kind->teardown(t->state);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    cJSON_Delete(t->notes);
    memset(t, 0, sizeof *t);
}

typedef struct {
    ktc_t *t;
    int done, status, code;
    cJSON *result;
} ktc_wait_t;

static void ktc_result_cb(mcp_client_req_t *req, int status, jsonrpc_msg_t *resp, void *ud)
{
    (void)req;
    ktc_wait_t *w = ud;
    w->done = 1;
    w->status = status;
    if (status == 0) {
        w->result = cJSON_Duplicate(resp->result, 1);
    } else if (status == MCP_EUPSTREAM) {
        w->code = resp->error_code;
        snprintf(w->t->last_error, sizeof w->t->last_error, "%s",
                 resp->error_message ? resp->error_message : "");
    }
}

cJSON *ktc_request(ktc_t *t, const char *method, cJSON *params, int *error_code)
{
    ktc_wait_t w = {.t = t};
    t->last_error[0] = '\0';
    assert_int_equal(
        mcp_client_request(t->client, method, params, KTC_DEADLINE_MS, ktc_result_cb, &w, NULL), 0);
    while (!w.done)
        uv_run(&t->loop, UV_RUN_ONCE);
    if (w.status != 0 && w.status != MCP_EUPSTREAM)
        fail_msg("%s failed: %s", method, mcp_strerror(w.status));
    if (error_code)
        *error_code = w.status == 0 ? 0 : w.code;
    return w.result;
}

cJSON *ktc_call(ktc_t *t, const char *tool, const char *args_json)
{
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "name", tool);
    if (args_json) {
        cJSON *args = cJSON_Parse(args_json);
        if (!args)
            fail_msg("bad test arguments: %s", args_json);
        cJSON_AddItemToObject(params, "arguments", args);
    }
    int code = 0;
    cJSON *result = ktc_request(t, "tools/call", params, &code);
    if (!result)
        fail_msg("tools/call %s: JSON-RPC error %d %s", tool, code, t->last_error);
    return result;
}

const char *ktc_text(const cJSON *result)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(result, "content");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(content, 0), "text");
    return cJSON_IsString(text) ? text->valuestring : "";
}

int ktc_is_error(const cJSON *result)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError"));
}

cJSON *ktc_call_json(ktc_t *t, const char *tool, const char *args_json)
{
    cJSON *result = ktc_call(t, tool, args_json);
    if (ktc_is_error(result))
        fail_msg("%s %s: unexpected error: %s", tool, args_json ? args_json : "", ktc_text(result));
    cJSON *json = cJSON_Parse(ktc_text(result));
    if (!json)
        fail_msg("%s: text is not JSON: %.300s", tool, ktc_text(result));
    cJSON_Delete(result);
    return json;
}

void ktc_expect_error(ktc_t *t, const char *tool, const char *args_json, const char *expected)
{
    cJSON *result = ktc_call(t, tool, args_json);
    if (!ktc_is_error(result))
        fail_msg("%s %s: expected an error, got: %.300s", tool, args_json ? args_json : "",
                 ktc_text(result));
    assert_string_equal(ktc_text(result), expected);
    cJSON_Delete(result);
}

void ktc_expect_error_contains(ktc_t *t, const char *tool, const char *args_json,
                               const char *needle)
{
    cJSON *result = ktc_call(t, tool, args_json);
    if (!ktc_is_error(result))
        fail_msg("%s %s: expected an error, got: %.300s", tool, args_json ? args_json : "",
                 ktc_text(result));
    if (!strstr(ktc_text(result), needle))
        fail_msg("%s %s: error \"%s\" lacks \"%s\"", tool, args_json ? args_json : "",
                 ktc_text(result), needle);
    cJSON_Delete(result);
}

int ktc_count_notes(const ktc_t *t, const char *method)
{
    int n = 0;
    const cJSON *note;
    cJSON_ArrayForEach(note, t->notes)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(note, "method");
        if (cJSON_IsString(m) && strcmp(m->valuestring, method) == 0)
            n++;
    }
    return n;
}

void ktc_flush(ktc_t *t)
{
    cJSON_Delete(ktc_request(t, "ping", NULL, NULL));
}
