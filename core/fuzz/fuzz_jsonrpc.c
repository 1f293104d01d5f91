/* libFuzzer target: jsonrpc_parse on arbitrary bytes, then every helper on what came out
 * (classification invariants, id copy/compare/hash/print, rebuilding and printing replies). */
#include "alloc.h"
#include "errors.h"
#include "jsonrpc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const jsonrpc_msg_t *m)
{
    jsonrpc_id_t copy;
    if (jsonrpc_id_copy(&copy, &m->id) == 0) {
        if (!jsonrpc_id_equal(&copy, &m->id) || jsonrpc_id_hash(&copy) != jsonrpc_id_hash(&m->id))
            abort();
        jsonrpc_id_free(&copy);
    }
    buf_t out;
    buf_init(&out, 1 << 20);
    (void)jsonrpc_id_print(&m->id, &out);
    cJSON *reply = NULL;
    switch (m->kind) {
    case JSONRPC_REQUEST:
        if (!m->method || m->id.type == JSONRPC_ID_NONE || m->id.type == JSONRPC_ID_NULL)
            abort();
        reply = jsonrpc_build_result(&m->id, m->params ? cJSON_Duplicate(m->params, 1) : NULL);
        break;
    case JSONRPC_NOTIFICATION:
        if (!m->method || m->id.type != JSONRPC_ID_NONE)
            abort();
        reply = jsonrpc_build_notification(m->method, NULL);
        break;
    case JSONRPC_RESULT:
    case JSONRPC_ERROR: reply = jsonrpc_build_request(&m->id, "x", NULL); break;
    default:
        if (m->error_code != JSONRPC_INVALID_REQUEST || !m->reason[0])
            abort();
        reply = jsonrpc_build_error(&m->id, m->error_code, m->reason, NULL);
    }
    if (reply) {
        buf_reset(&out);
        if (jsonrpc_write(reply, &out) == 0) {
            /* What we print must parse back as one message with the same id. */
            jsonrpc_msg_t back;
            if (jsonrpc_parse_message(out.data, out.len, &back, NULL) != 0)
                abort();
            if (back.kind != JSONRPC_INVALID && m->kind != JSONRPC_INVALID &&
                !jsonrpc_id_equal(&back.id, &m->id) && m->kind != JSONRPC_NOTIFICATION)
                abort();
            jsonrpc_msg_free(&back);
        }
        cJSON_Delete(reply);
    }
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        mcp_alloc_init();
        init = 1;
    }
    jsonrpc_batch_t batch;
    jsonrpc_error_t err;
    int rc = jsonrpc_parse((const char *)data, size, &batch, &err);
    if (rc == 0) {
        if (batch.count == 0)
            abort();
        for (size_t i = 0; i < batch.count; i++)
            check_message(&batch.msgs[i]);
    } else if (rc != MCP_EPARSE && rc != MCP_EPROTO) {
        abort();
    }
    jsonrpc_batch_free(&batch);
    return 0;
}
