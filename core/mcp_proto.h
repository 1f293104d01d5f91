/* mcp_proto: MCP protocol vocabulary shared by servers, clients and the gateway.
 *
 * Protocol versions of the handshake era ("YYYY-MM-DD" strings, which compare as strings),
 * their negotiation and per-version behaviour (brief 1.11), method names, the RFC 5424 log
 * levels of notifications/message, and opaque pagination cursors.
 *
 * Version negotiation: a server answers the requested version when it supports it, otherwise
 * its latest (MCP_PROTOCOL_LATEST). A client accepts any supported version that is not newer
 * than the one it asked for.
 *
 * Cursors are base64 (URL-safe alphabet, no padding) of "mcp1:" + payload. The payload is an
 * offset for the simple helpers, or any text for callers with composite cursors (the gateway).
 * A cursor that does not decode to that shape is invalid and is answered with -32602.
 *
 * Nothing here allocates except the cursor encoders (mcp_malloc; release with mcp_free). */
#ifndef MCP_PROTO_H
#define MCP_PROTO_H

#include <stddef.h>

#define MCP_PROTOCOL_2025_11_25 "2025-11-25"
#define MCP_PROTOCOL_2025_06_18 "2025-06-18"
#define MCP_PROTOCOL_2025_03_26 "2025-03-26"
#define MCP_PROTOCOL_2024_11_05 "2024-11-05"
#define MCP_PROTOCOL_LATEST     MCP_PROTOCOL_2025_11_25

/* Supported versions, newest first, NULL-terminated. */
extern const char *const mcp_protocol_versions[];

/* 1 when v is one of mcp_protocol_versions (NULL gives 0). */
int mcp_version_supported(const char *v);
/* Server side: the version to answer an initialize that asked for `requested` (never NULL;
 * static storage). */
const char *mcp_version_negotiate(const char *requested);
/* Client side: 1 when the server's answer is usable (supported and not newer than asked). */
int mcp_version_client_accepts(const char *requested, const char *answered);
/* Compare two version strings: <0, 0, >0 (NULL sorts first). */
int mcp_version_compare(const char *a, const char *b);

/* Per-version behaviour (brief 1.11). Unknown or NULL versions behave like the latest. */
int mcp_version_allows_batch(const char *v);           /* only 2025-03-26 */
int mcp_version_has_protocol_header(const char *v);    /* MCP-Protocol-Version: >= 2025-06-18 */
int mcp_version_has_structured_content(const char *v); /* structuredContent, outputSchema,
                                                          title, resource_link: >= 2025-06-18 */
int mcp_version_has_elicitation(const char *v);        /* >= 2025-06-18 */
int mcp_version_has_icons_tasks(const char *v);        /* icons, tasks, URL elicitation */
int mcp_version_has_sse_priming(const char *v);        /* SSE priming event / retry */
int mcp_version_has_streamable_http(const char *v);    /* >= 2025-03-26 */

/* Method names. */
#define MCP_METHOD_INITIALIZE              "initialize"
#define MCP_METHOD_PING                    "ping"
#define MCP_METHOD_TOOLS_LIST              "tools/list"
#define MCP_METHOD_TOOLS_CALL              "tools/call"
#define MCP_METHOD_RESOURCES_LIST          "resources/list"
#define MCP_METHOD_RESOURCES_TEMPLATES     "resources/templates/list"
#define MCP_METHOD_RESOURCES_READ          "resources/read"
#define MCP_METHOD_RESOURCES_SUBSCRIBE     "resources/subscribe"
#define MCP_METHOD_RESOURCES_UNSUBSCRIBE   "resources/unsubscribe"
#define MCP_METHOD_PROMPTS_LIST            "prompts/list"
#define MCP_METHOD_PROMPTS_GET             "prompts/get"
#define MCP_METHOD_LOGGING_SET_LEVEL       "logging/setLevel"
#define MCP_METHOD_COMPLETION_COMPLETE     "completion/complete"
#define MCP_METHOD_SAMPLING_CREATE_MESSAGE "sampling/createMessage"
#define MCP_METHOD_ELICITATION_CREATE      "elicitation/create"
#define MCP_METHOD_ROOTS_LIST              "roots/list"

#define MCP_NOTIFY_INITIALIZED            "notifications/initialized"
#define MCP_NOTIFY_CANCELLED              "notifications/cancelled"
#define MCP_NOTIFY_PROGRESS               "notifications/progress"
#define MCP_NOTIFY_MESSAGE                "notifications/message"
#define MCP_NOTIFY_TOOLS_LIST_CHANGED     "notifications/tools/list_changed"
#define MCP_NOTIFY_RESOURCES_LIST_CHANGED "notifications/resources/list_changed"
#define MCP_NOTIFY_RESOURCES_UPDATED      "notifications/resources/updated"
#define MCP_NOTIFY_PROMPTS_LIST_CHANGED   "notifications/prompts/list_changed"
#define MCP_NOTIFY_ROOTS_LIST_CHANGED     "notifications/roots/list_changed"
#define MCP_NOTIFY_ELICITATION_COMPLETE   "notifications/elicitation/complete"

/* RFC 5424 severities as MCP names them, low to high (so levels compare with < and >). */
typedef enum {
    MCP_LOG_DEBUG = 0,
    MCP_LOG_INFO,
    MCP_LOG_NOTICE,
    MCP_LOG_WARNING,
    MCP_LOG_ERROR,
    MCP_LOG_CRITICAL,
    MCP_LOG_ALERT,
    MCP_LOG_EMERGENCY,
} mcp_log_level_t;

/* Exact, case-sensitive names ("debug" ... "emergency"). 0 or MCP_EINVAL. */
int mcp_log_level_parse(const char *name, mcp_log_level_t *out);
/* Static name; "debug" for out-of-range values. */
const char *mcp_log_level_name(mcp_log_level_t level);

/* Cursor for the item at `offset` of a list. NULL on allocation failure. */
char *mcp_cursor_encode(size_t offset);
/* 0 with *offset, or MCP_EINVAL for anything that is not a cursor made by mcp_cursor_encode. */
int mcp_cursor_decode(const char *cursor, size_t *offset);
/* Cursor around arbitrary payload bytes (e.g. "upstream=3;cursor=..."). NULL on ENOMEM. */
char *mcp_cursor_encode_payload(const char *payload, size_t len);
/* Decode into a new NUL-terminated string (*payload, release with mcp_free; *len may be NULL).
 * 0, MCP_EINVAL (not our cursor) or MCP_ENOMEM. */
int mcp_cursor_decode_payload(const char *cursor, char **payload, size_t *len);

#endif
