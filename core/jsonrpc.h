/* jsonrpc: JSON-RPC 2.0 messages on cJSON, as MCP uses them.
 *
 * Parsing turns bytes (one message, or a batch = JSON array) into classified messages:
 * request, notification, result response, error response, or INVALID (valid JSON that is not a
 * valid JSON-RPC message, with the reason and the JSON-RPC error code to answer with). Bytes
 * that are not JSON at all fail the whole parse with -32700. Request ids are kept exactly:
 * strings stay strings, integers stay integers (read from the raw text, so every int64 value
 * survives, not only those a double holds); an id of another type (null for requests, floats,
 * booleans, objects) makes the message INVALID with -32600. Whether a batch is acceptable
 * depends on the negotiated protocol version (mcp_version_allows_batch), so the parser only
 * reports that the input was an array and lets the caller decide.
 *
 * Ownership: a parsed message owns its cJSON tree (`json`) and its id; `method`, `params`,
 * `result` and `error_data` point into that tree. jsonrpc_msg_free releases both. Messages can
 * be moved out of a batch with jsonrpc_msg_move (the batch slot becomes empty). Builders take
 * ownership of the cJSON values they are given, also when they fail (they return NULL only on
 * allocation failure). Every allocation goes through alloc.h, so callers see MCP_ENOMEM and no
 * leak when allocation fails. */
#ifndef MCP_JSONRPC_H
#define MCP_JSONRPC_H

#include "buf.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Standard JSON-RPC error codes and the MCP-specific ones. */
#define JSONRPC_PARSE_ERROR              (-32700)
#define JSONRPC_INVALID_REQUEST          (-32600)
#define JSONRPC_METHOD_NOT_FOUND         (-32601)
#define JSONRPC_INVALID_PARAMS           (-32602)
#define JSONRPC_INTERNAL_ERROR           (-32603)
#define JSONRPC_RESOURCE_NOT_FOUND       (-32002) /* MCP resources/read of an unknown URI */
#define JSONRPC_URL_ELICITATION_REQUIRED (-32042) /* MCP 2025-11-25 */

/* ---- ids ---- */

typedef enum {
    JSONRPC_ID_NONE = 0, /* no id member (notifications) */
    JSONRPC_ID_NULL,     /* "id": null (only error responses may carry it) */
    JSONRPC_ID_INT,
    JSONRPC_ID_STR,
} jsonrpc_id_type_t;

/* A zero-initialised id is JSONRPC_ID_NONE. A STR id owns `str` (NUL-terminated). */
typedef struct jsonrpc_id_s {
    jsonrpc_id_type_t type;
    int64_t num;
    char *str;
} jsonrpc_id_t;

void jsonrpc_id_set_int(jsonrpc_id_t *id, int64_t num);
/* Copies s. 0 or MCP_ENOMEM (id left NONE). */
int jsonrpc_id_set_str(jsonrpc_id_t *id, const char *s);
/* dst must not hold anything (it is overwritten). 0 or MCP_ENOMEM (dst left NONE). */
int jsonrpc_id_copy(jsonrpc_id_t *dst, const jsonrpc_id_t *src);
/* Releases the string of a STR id; the id becomes NONE. */
void jsonrpc_id_free(jsonrpc_id_t *id);
/* 1 when both are the same JSON value: the integer 1 and the string "1" differ. */
int jsonrpc_id_equal(const jsonrpc_id_t *a, const jsonrpc_id_t *b);
/* A hash consistent with jsonrpc_id_equal (FNV-1a; type is mixed in). */
uint64_t jsonrpc_id_hash(const jsonrpc_id_t *id);
/* Append the id as JSON text (42, "abc" escaped, null for NONE/NULL). 0 or a buf error. */
int jsonrpc_id_print(const jsonrpc_id_t *id, buf_t *out);
/* The id as text for logs into tmp (strings quoted, truncated to fit). Returns tmp. */
const char *jsonrpc_id_str(const jsonrpc_id_t *id, char *tmp, size_t cap);
/* Read an id (or a progress token) from a cJSON value: a string, or a number that is an exact
 * integer in [-2^53, 2^53]. 0, MCP_EINVAL (wrong type) or MCP_ENOMEM. A NULL item gives NONE;
 * a cJSON null gives JSONRPC_ID_NULL. */
int jsonrpc_id_from_json(const cJSON *item, jsonrpc_id_t *out);
/* A new cJSON value for the id (a raw number when it does not fit a double exactly, so it is
 * printed digit for digit). NONE and NULL give JSON null. NULL on allocation failure. */
cJSON *jsonrpc_id_to_json(const jsonrpc_id_t *id);

/* ---- messages ---- */

typedef enum {
    JSONRPC_INVALID = 0,
    JSONRPC_REQUEST,
    JSONRPC_NOTIFICATION,
    JSONRPC_RESULT,
    JSONRPC_ERROR,
} jsonrpc_kind_t;

typedef struct jsonrpc_msg_s {
    jsonrpc_kind_t kind;
    /* REQUEST, RESULT, ERROR: the id (ERROR may have NULL). INVALID: the id when it could be
     * read (so the error reply can carry it), else JSONRPC_ID_NULL. */
    jsonrpc_id_t id;
    const char *method; /* REQUEST, NOTIFICATION */
    cJSON *params;      /* REQUEST, NOTIFICATION: an object or an array, or NULL when absent */
    cJSON *result;      /* RESULT: any JSON value */
    /* ERROR: the peer's code/message/data. INVALID: the code to answer with (-32600). */
    int error_code;
    const char *error_message;
    cJSON *error_data;
    cJSON *json;      /* the whole message (owned); NULL in an empty slot */
    char reason[128]; /* INVALID: what is wrong, e.g. "\"method\" must be a string" */
} jsonrpc_msg_t;

typedef struct jsonrpc_batch_s {
    int is_batch; /* the input was a JSON array (even of one element) */
    size_t count; /* >= 1 after a successful parse */
    jsonrpc_msg_t *msgs;
} jsonrpc_batch_t;

/* What went wrong with the input as a whole (MCP_EPARSE / MCP_EPROTO from the parsers). */
typedef struct jsonrpc_error_s {
    int code;          /* JSONRPC_PARSE_ERROR or JSONRPC_INVALID_REQUEST */
    char message[160]; /* e.g. "Parse error: unexpected character 'x' at byte 12" */
} jsonrpc_error_t;

/* Parse one message or a batch from data[0..len). Returns
 *   0            out is filled (count >= 1); each message may still be INVALID;
 *   MCP_EPARSE   not JSON (err: -32700 and where);
 *   MCP_EPROTO   an empty array (err: -32600);
 *   MCP_ENOMEM   allocation failed (nothing leaks).
 * On failure out is empty (jsonrpc_batch_free on it is harmless). err may be NULL. */
int jsonrpc_parse(const char *data, size_t len, jsonrpc_batch_t *out, jsonrpc_error_t *err);
/* Parse exactly one message: like jsonrpc_parse, but an array is MCP_EPROTO (-32600, "batch
 * not allowed here"). On 0, out->kind may be JSONRPC_INVALID. */
int jsonrpc_parse_message(const char *data, size_t len, jsonrpc_msg_t *out, jsonrpc_error_t *err);
/* Classify an already parsed value, taking ownership of it (also on failure). Integer ids are
 * read from the double here. 0 (out may be INVALID) or MCP_ENOMEM. */
int jsonrpc_classify(cJSON *json, jsonrpc_msg_t *out);
void jsonrpc_batch_free(jsonrpc_batch_t *batch);
void jsonrpc_msg_free(jsonrpc_msg_t *msg);
/* Move src into dst (dst must be empty/free); src becomes an empty message. */
void jsonrpc_msg_move(jsonrpc_msg_t *dst, jsonrpc_msg_t *src);
/* "request", "notification", "result", "error", "invalid". */
const char *jsonrpc_kind_name(jsonrpc_kind_t kind);

/* ---- builders (each returns a new message object, or NULL on allocation failure) ---- */

/* params: an object/array or NULL (omitted); ownership taken. */
cJSON *jsonrpc_build_request(const jsonrpc_id_t *id, const char *method, cJSON *params);
cJSON *jsonrpc_build_notification(const char *method, cJSON *params);
/* result NULL means {}. */
cJSON *jsonrpc_build_result(const jsonrpc_id_t *id, cJSON *result);
/* id NULL or NONE gives "id": null. data may be NULL (omitted). */
cJSON *jsonrpc_build_error(const jsonrpc_id_t *id, int code, const char *message, cJSON *data);

/* ---- serialization (compact: no newline anywhere, suitable for stdio lines) ---- */

/* Append msg as compact JSON to out. 0, MCP_ENOMEM, or MCP_ENOBUFS (out's maximum). */
int jsonrpc_write(const cJSON *msg, buf_t *out);
/* Compact JSON in a new string (release with mcp_free); *len_out may be NULL. NULL on ENOMEM. */
char *jsonrpc_print(const cJSON *msg, size_t *len_out);

/* Check that data[0..len) is one strict RFC 8259 JSON text (at most 512 levels deep), without
 * allocating. 0, or MCP_EPARSE with *err_offset and a message in err (may be NULL). */
int jsonrpc_validate_json(const char *data, size_t len, size_t *err_offset, jsonrpc_error_t *err);

#endif
