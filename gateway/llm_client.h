/* llm_client: an OpenAI-compatible chat-completions client (POST {base}/chat/completions) with
 * function calling, for the gateway's chat endpoint. Works against any such server: OpenAI,
 * vLLM, Ollama, llama.cpp's server, LiteLLM, or `mcp-mock llm`.
 *
 * A call sends {"model","messages","tools","tool_choice":"auto"} (tools and tool_choice only
 * when tools are given) and parses choices[0].message into text and tool calls: id, function
 * name and the arguments string, also parsed as a JSON object. Messages use OpenAI's shapes:
 * {"role":"system|user","content"}, {"role":"assistant","content","tool_calls":[{"id","type":
 * "function","function":{"name","arguments"}}]}, {"role":"tool","tool_call_id","content"}; the
 * gw_llm_msg_* helpers build them, and a response's `message` is ready to be appended as is.
 *
 * Deadlines and retries. Each call has a total deadline (timeout_ms, retries and waits
 * included) and optionally a shorter one per attempt. Attempts that fail with HTTP 408, 429 or
 * 5xx, or with a connection error (refused, reset, closed early, attempt timeout), are retried
 * up to max_attempts in all, after a capped exponential backoff (backoff_initial_ms doubling up
 * to backoff_max_ms, each wait drawn from [d/2, d]); a Retry-After header (seconds or an HTTP
 * date) raises the wait to what the server asked for. When the wait would pass the deadline, or
 * Retry-After asks for more than retry_after_max_ms, the call fails at once with the last error.
 * Other 4xx answers, invalid JSON and answers without choices are not retried.
 *
 * Results (gw_llm_result_t.status): 0; MCP_ETIMEDOUT (the deadline passed); MCP_EHTTP (a non-2xx
 * answer: the text has the status and the server's {"error":{"message"}}); MCP_EPROTO (a 2xx
 * answer that is not a chat completion); MCP_ENOBUFS (the answer exceeded max_response_bytes);
 * MCP_ECANCELED; UV_ECONNREFUSED and other transport codes (http_client.h); MCP_ENOMEM. The
 * text names the URL (user info removed), the status and the number of attempts; it never
 * contains the API key, which is sent only in the Authorization header and never logged.
 *
 * Lifetimes (libuv rules). A client lives on one loop and ends with gw_llm_client_close: every
 * call still running completes with MCP_ECANCELED, then the close callback runs and the client
 * is freed. A call's done callback runs exactly once, always from the loop, never from inside
 * gw_llm_chat, gw_llm_cancel or gw_llm_client_close; when gw_llm_chat fails it never runs. The
 * call handle is valid until its done callback returns. The client may share an http_client_t
 * (then the owner closes that after the LLM client) or own one. Single-threaded. */
#ifndef GW_LLM_CLIENT_H
#define GW_LLM_CLIENT_H

#include "http_client.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define GW_LLM_DEFAULT_BASE_URL "http://127.0.0.1:8090/v1"
#define GW_LLM_DEFAULT_MODEL    "mock-planner"

typedef struct gw_llm_config_s {
    const char *base_url;        /* ".../v1"; the client appends "/chat/completions" */
    const char *api_key;         /* NULL or "": no Authorization header */
    const char *model;           /* default GW_LLM_DEFAULT_MODEL */
    uint64_t timeout_ms;         /* the whole call, retries included; default 60000 */
    uint64_t attempt_timeout_ms; /* one attempt; 0: what is left of timeout_ms */
    uint64_t connect_timeout_ms; /* default 5000 */
    unsigned max_attempts;       /* 1..20, default 3 (1: no retry) */
    uint64_t backoff_initial_ms; /* default 250 */
    uint64_t backoff_max_ms;     /* default 8000 */
    uint64_t retry_after_max_ms; /* longest Retry-After honoured; default 30000 */
    size_t max_response_bytes;   /* default 8 MiB */
} gw_llm_config_t;

/* Defaults, as listed above. */
void gw_llm_config_init(gw_llm_config_t *cfg);
/* Defaults overridden by the environment: LLM_BASE_URL, LLM_API_KEY, LLM_MODEL and, optionally,
 * LLM_TIMEOUT_MS and LLM_MAX_ATTEMPTS. The strings point into the environment (the client copies
 * them). 0, or MCP_EINVAL with the variable named in err (e.g. a base URL that is not http(s)). */
int gw_llm_config_from_env(gw_llm_config_t *cfg, char *err, size_t errcap);

typedef struct gw_llm_client_s gw_llm_client_t;
typedef struct gw_llm_call_s gw_llm_call_t;

typedef struct gw_llm_tool_call_s {
    char *id;
    char *name;
    char *arguments; /* the arguments string as sent by the model */
    cJSON *args;     /* arguments parsed: an object, or NULL when they are not a JSON object */
} gw_llm_tool_call_t;

typedef struct gw_llm_response_s {
    char *content; /* assistant text, or NULL */
    gw_llm_tool_call_t *tool_calls;
    size_t tool_call_count;
    char *finish_reason; /* NULL when absent */
    char *id;            /* completion id, NULL when absent */
    char *model;         /* the model that answered, NULL when absent */
    long prompt_tokens, completion_tokens, total_tokens; /* -1 when absent */
    cJSON *message; /* {"role":"assistant","content",["tool_calls"]} to append to the messages */
} gw_llm_response_t;

typedef struct gw_llm_result_s {
    int status;          /* see "Results" */
    int http_status;     /* status of the last answer, 0 when none arrived */
    unsigned attempts;   /* HTTP attempts made */
    uint64_t elapsed_ms; /* from gw_llm_chat to completion */
    const char *error;   /* readable text; "" on success */
    /* On success. Owned by the client and freed after the callback returns, unless the callback
     * takes it by setting this to NULL (then release it with gw_llm_response_free). */
    gw_llm_response_t *response;
} gw_llm_result_t;

typedef void (*gw_llm_done_fn)(gw_llm_call_t *call, gw_llm_result_t *result, void *ud);
typedef void (*gw_llm_closed_fn)(gw_llm_client_t *client, void *ud);

typedef struct gw_llm_chat_opts_s {
    const char *model;          /* NULL: the client's */
    uint64_t timeout_ms;        /* 0: the client's */
    const char *tool_choice;    /* "auto" (default with tools), "none", "required" */
    const char *const *headers; /* extra request headers: name, value, name, value, ... */
    size_t header_pairs;
    const char *request_id; /* correlation id for the logs, may be NULL */
} gw_llm_chat_opts_t;

typedef struct gw_llm_stats_s {
    uint64_t calls;     /* gw_llm_chat accepted */
    uint64_t attempts;  /* HTTP requests sent */
    uint64_t retries;   /* attempts after the first */
    uint64_t succeeded; /* calls done with 0 */
    uint64_t failed;    /* calls done with an error (cancellations included) */
} gw_llm_stats_t;

/* Create a client on `loop`. http may be NULL (the client creates and owns one) or a shared
 * client that must outlive this one. cfg NULL: gw_llm_config_init defaults. Strings are copied.
 * 0; MCP_EINVAL with the reason in err (bad URL, empty model, max_attempts out of range);
 * MCP_ENOMEM; MCP_EUPSTREAM (libcurl). */
int gw_llm_client_new(uv_loop_t *loop, http_client_t *http, const gw_llm_config_t *cfg,
                      gw_llm_client_t **out, char *err, size_t errcap);
/* Cancel the running calls (their callbacks run with MCP_ECANCELED), close what the client owns,
 * then call cb (may be NULL) from the loop and free the client. 0 or MCP_ESTATE (closing). */
int gw_llm_client_close(gw_llm_client_t *client, gw_llm_closed_fn cb, void *ud);
/* The chat-completions URL, with any user info removed (safe to log). */
const char *gw_llm_client_url(const gw_llm_client_t *client);
const char *gw_llm_client_model(const gw_llm_client_t *client);
void gw_llm_client_get_stats(const gw_llm_client_t *client, gw_llm_stats_t *out);

/* Start a chat completion. messages (a non-empty array) and tools (NULL or an array of
 * {"type":"function","function":{...}}) are borrowed during the call only: the request body is
 * built at once. opts may be NULL. 0 and *out (may be NULL) set; MCP_EINVAL (bad arguments),
 * MCP_ESTATE (client closing), MCP_ENOMEM: done never runs then. */
int gw_llm_chat(gw_llm_client_t *client, const cJSON *messages, const cJSON *tools,
                const gw_llm_chat_opts_t *opts, gw_llm_done_fn done, void *ud, gw_llm_call_t **out);
/* Make a running call complete with MCP_ECANCELED (later, from the loop). 0, or MCP_ESTATE when
 * it is already completing. */
int gw_llm_cancel(gw_llm_call_t *call);

void gw_llm_response_free(gw_llm_response_t *resp);

/* ---- building requests (each returns 0, MCP_EINVAL or MCP_ENOMEM; strings are copied) ---- */

/* Append {"role","content"}: role "system", "developer", "user" or "assistant". */
int gw_llm_msg_add(cJSON *messages, const char *role, const char *content);
/* Append the assistant message of a response (text and tool calls). */
int gw_llm_msg_add_assistant(cJSON *messages, const gw_llm_response_t *resp);
/* Append {"role":"tool","tool_call_id","content"}. */
int gw_llm_msg_add_tool_result(cJSON *messages, const char *tool_call_id, const char *content);
/* Append {"type":"function","function":{"name","description","parameters"}}; description and
 * parameters may be NULL (parameters default to an empty object schema; a given one is
 * duplicated). */
int gw_llm_tools_add(cJSON *tools, const char *name, const char *description,
                     const cJSON *parameters);

#endif
