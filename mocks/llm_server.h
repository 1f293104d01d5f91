/* llm_server: `mcp-mock llm`, an OpenAI-compatible chat-completions server whose model is the
 * deterministic planner of llm_planner.h.
 *
 * Routes (JSON bodies; errors in OpenAI's shape {"error":{"message","type","param","code"}}):
 *   POST /v1/chat/completions   (also /chat/completions) the request's messages and tools go to
 *                               the planner; the answer is a "chat.completion" object: id
 *                               ("chatcmpl-mock-N"), object, created, model (as asked),
 *                               choices[0].message with content or tool_calls
 *                               [{id,type:"function",function:{name,arguments (a string)}}],
 *                               finish_reason "tool_calls" or "stop", usage (tokens estimated
 *                               as bytes / 4). 400 for a bad request (invalid JSON, no model,
 *                               bad messages or tools, stream:true, n > 1), 401 with a wrong or
 *                               missing bearer key when an API key is configured.
 *   GET  /v1/models             the model ids "mock-planner" and "mock-planner-typo"
 *   GET  /health                {"status":"ok","kind":"llm",...}
 *   GET|PUT|DELETE /_mock/faults, GET /_mock/stats   as control_api.h describes for the MCP
 *                               mocks (read, replace, clear the rules; counters)
 *
 * Planner switches per request: the model name ending in "-typo", or the header
 * X-Mock-LLM-Typo: 1 (0 turns the server's --typo-first off), makes the turn's first SQL
 * misspelt; X-Mock-LLM-Recover: 0|1 turns SQL correction off or on; X-Mock-LLM-Today:
 * YYYY-MM-DD sets the planner's "today"; tool_choice "none" makes it answer in text.
 *
 * Faults (faults.h) are decided for every chat request with method "chat.completions" and, as
 * the rule's "tool", the requested model name. latency delays the answer; error answers HTTP
 * 500 with the rule's message; http_status answers its status (default 503) with Retry-After
 * when set (429 for rate limits); hang never answers (until the client goes away or the server
 * closes); close drops the connection; malformed sends invalid JSON; truncate sends part of the
 * body and drops the connection; slow_sse dribbles the body in chunks; oversized pads it;
 * tool_error answers 200 with the rule's message as the assistant's text; session_expiry
 * answers 404; exit and crash end the process when allowed (the program) and close the
 * connection otherwise; slow_start delays listening (the program); the others change nothing.
 *
 * Lifetime: llm_server_start listens at once; llm_server_close answers nothing more, drops
 * requests held by faults, shuts the HTTP server down and calls cb from the loop once every
 * handle is closed; the server is freed right after cb returns. Everything runs on the loop
 * thread. */
#ifndef MOCK_LLM_SERVER_H
#define MOCK_LLM_SERVER_H

#include "faults.h"
#include "mock.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct llm_server_s llm_server_t;

typedef struct llm_server_config_s {
    const char *host;          /* IP literal; NULL: "127.0.0.1" */
    int port;                  /* 0: a free port */
    int typo_first;            /* --typo-first */
    int no_recover;            /* --no-recover */
    const char *today;         /* "YYYY-MM-DD" or NULL (the current UTC date per request) */
    const char *metadata_json; /* product metadata text (copied into the planner); NULL: built in */
    const char *api_key;       /* copied; NULL or "": no authentication */
    size_t max_files;          /* github workflow; 0: the planner's default */
    fault_set_t *faults;       /* taken, also on failure; may be NULL */
    uint64_t seed;             /* default seed of rule sets PUT without one */
    int allow_exit;            /* exit/crash faults end the process (1 only in the program) */
} llm_server_config_t;

typedef struct llm_server_stats_s {
    uint64_t requests;     /* chat requests */
    uint64_t tool_calls;   /* answers with tool calls */
    uint64_t answers;      /* answers with text */
    uint64_t bad_requests; /* 400 and 401 */
    uint64_t faults;       /* chat requests a non-latency fault decided */
} llm_server_stats_t;

typedef void (*llm_server_closed_fn)(llm_server_t *srv, void *ud);

/* Create the server and listen. 0; MCP_EINVAL (bad host, today or metadata; reason in err), a
 * UV_E* code from bind/listen, MCP_ENOMEM. On failure nothing is left open. */
int llm_server_start(uv_loop_t *loop, const llm_server_config_t *cfg, llm_server_t **out, char *err,
                     size_t errcap);
/* The bound port. */
int llm_server_port(const llm_server_t *srv);
/* Replace the fault rules (set taken; NULL clears them). */
void llm_server_set_faults(llm_server_t *srv, fault_set_t *set);
/* The current rules (may be NULL), owned by the server. */
fault_set_t *llm_server_faults(llm_server_t *srv);
void llm_server_get_stats(const llm_server_t *srv, llm_server_stats_t *out);
/* See "Lifetime". 0, or MCP_ESTATE when already closing (cb will not run). */
int llm_server_close(llm_server_t *srv, llm_server_closed_fn cb, void *ud);

/* `mcp-mock llm [options]`: argv[1] is "llm". Returns the exit status (0 clean stop, 1 could
 * not start, 2 bad usage). */
int mock_llm_main(int argc, char **argv);

/* The llm entry of mcp-mock's list of kinds (name, summary, help). It is no MCP kind: main.c
 * hands `mcp-mock llm` to mock_llm_main, and its setup refuses to run. */
extern const mock_kind_t mock_kind_llm;

#endif
