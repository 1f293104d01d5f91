/* llm_planner: the "model" of `mcp-mock llm`, a deterministic planner over an OpenAI-style
 * conversation.
 *
 * The planner is stateless, like the chat-completions API: every call gets the whole
 * conversation (messages) and the offered tools, and returns the next assistant message: either
 * tool calls or a text answer. It looks only at the current turn: the last user message (the
 * question) and the assistant tool calls and tool results after it. The same input always gives
 * the same output (no clock is read when "today" is given; tool-call ids are derived from the
 * position in the conversation).
 *
 * Rules, in order (the first that applies decides):
 *   1. recover: the last assistant message made SQL calls (read_query, query, execute_query,
 *      write_query) and a result reports an error (see "errors" below); with recovery on and
 *      fewer than LLM_PLANNER_MAX_FIXES corrections of that call so far, the planner sends the
 *      corrected call(s): a misspelt keyword named by `near "X": syntax error` is replaced by
 *      the closest SQL keyword, a misspelt table or column named by `no such table|column: X` by
 *      the closest name of the metadata's schema, otherwise the query the question implies is
 *      generated again. A correction's id is the failed call's id plus "-fixN".
 *   2. answer: the question's plan has results for all its steps: a text answer summarising
 *      the results (figures, rows, files), any failure and correction, and naming every tool
 *      used with its number of calls ("Tools used: database_read_query (2 calls)").
 *   3. the next step of the question's plan, chosen by keywords (on the lower-cased question):
 *        "github" + "sql"/"quer" + "run"/"execute"  search_code {"query":"extension:sql"} (plus
 *                                   the aliases named), then get_file_contents for the first
 *                                   max_files hits (parallel calls), then the SQL tool on each
 *                                   file's SQL (base64 content decoded), then the answer
 *        "github" + "code"/"sql"/"quer"/"file"    search_code, then the answer listing hits
 *        "github" + "repo"                        search_repositories, then the answer
 *        "tables" (list/what/which/show)          list_tables
 *        "describe"/"schema"/"columns" + a table  describe_table {"table_name"}
 *        "reorder"/"low stock"/"restock"          SQL: products below their reorder point
 *        "top"/"best" + "customer"                SQL: top N customers (N from "top N", default
 *                                                 5) in the time range, if any
 *        "sales"/"revenue"/"orders"/"sold"/"units"/"how many" with a product or a time phrase
 *                                                 SQL over the `sales` view: orders, units and
 *                                                 revenue per product (LEFT JOIN: always one
 *                                                 row per product) or in total
 *      Products are recognised by alias ("abracadabra" -> 123), by product name, or as
 *      "product 123"; time phrases ("this month", "last month", "today", ... from the
 *      metadata's "dates") become literal date ranges computed from `today`
 *      ('2025-06-01' <= sale_date < '2025-07-01'). A phrase key the planner does not know uses
 *      the metadata's own SQL filter.
 *   4. otherwise (or when the tool a plan needs is not offered, or tool_choice is "none"): a
 *      text answer saying what the planner can do, or which tool is missing.
 *   typo: with typo_first, the first SQL the turn sends gets a typo (SELECT -> SELCT), so that
 *   rule 1 can be tested; the correction is reported in the answer.
 *
 * Tool names. Tools may be offered bare ("read_query"), namespaced by a gateway
 * ("database.read_query", "db/read_query") or made LLM-safe ("database_read_query"). The
 * planner compares base names: the part after the last '.' or '/'; without either, the name
 * itself when it is one the planner knows, else the longest known name that ends the offered
 * name after a '_' or '-' ("database_write_query" is write_query, not query). Calls use the
 * name exactly as offered. The SQL argument is "query", or "sql" when the tool's schema has
 * that property and not "query" (the Postgres server's `query` tool).
 *
 * Tool results. A tool message's content is the tool's text (a string or text parts), or a
 * whole MCP CallToolResult ({"content":[{"type":"text","text"}],"isError"}), whose text is
 * used. A result counts as failed when isError was true, when its text starts with "error",
 * "database error", "failed" or "tool error" (case-insensitive, after white space), or when it
 * is a JSON object with "isError": true or an "error" member.
 *
 * Metadata. Aliases, product names, date phrases and the schema's tables and columns come from
 * product_metadata.json (embedded by default). A system or tool message of the conversation
 * whose text is a JSON object with an "aliases" array (the product-metadata resource as read
 * through the gateway) replaces it for that request.
 *
 * Ownership: a planner is immutable after llm_planner_new and may serve any number of plans.
 * Inputs are borrowed; results are owned by the caller (llm_plan_clear). */
#ifndef MOCK_LLM_PLANNER_H
#define MOCK_LLM_PLANNER_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define LLM_PLANNER_MAX_FIXES     2             /* corrections of one SQL call */
#define LLM_PLANNER_DEFAULT_FILES 5             /* files the github workflow reads and runs */
#define LLM_PLANNER_MAX_TEXT      (64u * 1024u) /* longest answer / generated SQL */

typedef struct llm_planner_s llm_planner_t;

typedef struct llm_plan_opts_s {
    int typo_first;                /* the turn's first SQL gets a typo */
    int recover;                   /* rule 1 on (usually 1) */
    int tool_choice_none;          /* the request said tool_choice "none": answer in text */
    int today_y, today_m, today_d; /* "today" for time phrases; all 0: the current UTC date */
    size_t max_files;              /* github workflow; 0: LLM_PLANNER_DEFAULT_FILES */
} llm_plan_opts_t;

typedef struct llm_plan_s {
    cJSON *message;            /* {"role":"assistant","content":..,"tool_calls":[..]} (owned) */
    const char *finish_reason; /* "tool_calls" or "stop" (static) */
    const char *rule;          /* the rule that decided, for logs and tests (static) */
} llm_plan_t;

/* Build a planner from product-metadata JSON text (NULL: the embedded
 * fixtures/product_metadata.json). 0; MCP_EPARSE / MCP_EINVAL with a reason in err; MCP_ENOMEM. */
int llm_planner_new(const char *metadata_json, llm_planner_t **out, char *err, size_t errcap);
void llm_planner_free(llm_planner_t *p);

/* Plan the next assistant message. `messages` is the request's array, `tools` its array of
 * {"type":"function","function":{"name","description","parameters"}} (may be NULL). 0 and *out
 * filled; MCP_EINVAL with the reason in err when the conversation is not valid (no messages, an
 * unknown role, a tool message answering no earlier call, calls left without results, ...);
 * MCP_ENOMEM. */
int llm_planner_plan(const llm_planner_t *p, const cJSON *messages, const cJSON *tools,
                     const llm_plan_opts_t *opts, llm_plan_t *out, char *err, size_t errcap);
void llm_plan_clear(llm_plan_t *plan);

/* The base name of an offered tool name (see "Tool names"), written into out. */
void llm_planner_base_name(const char *offered, char *out, size_t cap);
/* The first offered tool (name as offered, borrowed from tools) whose base name is `base`, or
 * NULL. */
const char *llm_planner_find_tool(const cJSON *tools, const char *base);

/* Parse "YYYY-MM-DD" (a real date). 0 or MCP_EINVAL. */
int llm_planner_parse_date(const char *s, int *y, int *m, int *d);

#endif
