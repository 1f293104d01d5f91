/* llm_client: OpenAI-compatible chat completions over http_client; see llm_client.h. */
#include "llm_client.h"

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "errors.h"
#include "log.h"

#include <curl/curl.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMP            "llm_client"
#define MAX_ERROR       512
#define MAX_HEADERS     32  /* extra header pairs per call */
#define MAX_SERVER_TEXT 300 /* characters of a server's error message quoted */

struct gw_llm_client_s {
    uv_loop_t *loop;
    http_client_t *http;
    int own_http;
    char *chat_url; /* with credentials, if any, for the requests */
    char *safe_url; /* without user info, for texts and logs */
    char *auth;     /* "Bearer <key>" or NULL; never logged */
    char *model;
    gw_llm_config_t cfg; /* numbers only; the strings above are the copies */
    gw_llm_call_t *calls;
    size_t alive; /* calls not yet freed (their timers close asynchronously) */
    int http_open;
    uv_timer_t idle; /* closed last, so the close callback always runs from the loop */
    int idle_open;
    int closing;
    gw_llm_closed_fn close_cb;
    void *close_ud;
    uint64_t rng;
    gw_llm_stats_t stats;
};

struct gw_llm_call_s {
    gw_llm_client_t *c;
    char *body;
    size_t len;
    char *model;
    char **headers; /* name, value pairs (copies) */
    size_t nheaders;
    char rid[64];
    uint64_t start_ms, deadline_ms;
    unsigned attempts;
    http_request_t *req; /* the attempt in flight */
    uv_timer_t timer;    /* backoff waits and deferred completion */
    int waiting;         /* the timer runs a backoff wait */
    int cancelled;
    int done_called;
    int last_status; /* the last attempt's code */
    int http_status;
    char error[MAX_ERROR];
    gw_llm_done_fn done;
    void *ud;
    gw_llm_call_t *prev, *next;
};

/* ------------------------------------------------------------------ config */

void gw_llm_config_init(gw_llm_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->base_url = GW_LLM_DEFAULT_BASE_URL;
    cfg->model = GW_LLM_DEFAULT_MODEL;
    cfg->timeout_ms = 60000;
    cfg->connect_timeout_ms = 5000;
    cfg->max_attempts = 3;
    cfg->backoff_initial_ms = 250;
    cfg->backoff_max_ms = 8000;
    cfg->retry_after_max_ms = 30000;
    cfg->max_response_bytes = 8u * 1024 * 1024;
}

static int is_http_url(const char *u)
{
    return u &&
           ((strncmp(u, "http://", 7) == 0 && u[7]) || (strncmp(u, "https://", 8) == 0 && u[8]));
}

static int env_u64(const char *name, uint64_t min, uint64_t max, uint64_t *out, char *err,
                   size_t errcap)
{
    const char *v = getenv(name);
    if (!v || !v[0])
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (v[0] == '-' || *end || errno || n < min || n > max) {
        snprintf(err, errcap, "%s: expected an integer from %llu to %llu, got '%.40s'", name,
                 (unsigned long long)min, (unsigned long long)max, v);
        return MCP_EINVAL;
    }
    *out = n;
    return 0;
}

int gw_llm_config_from_env(gw_llm_config_t *cfg, char *err, size_t errcap)
{
    gw_llm_config_init(cfg);
    const char *url = getenv("LLM_BASE_URL");
    if (url && url[0]) {
        if (!is_http_url(url)) {
            snprintf(err, errcap, "LLM_BASE_URL: expected an http:// or https:// URL");
            return MCP_EINVAL;
        }
        cfg->base_url = url;
    }
    const char *key = getenv("LLM_API_KEY");
    if (key && key[0])
        cfg->api_key = key;
    const char *model = getenv("LLM_MODEL");
    if (model && model[0])
        cfg->model = model;
    uint64_t n = cfg->timeout_ms;
    int rc = env_u64("LLM_TIMEOUT_MS", 1, 3600000, &n, err, errcap);
    if (rc)
        return rc;
    cfg->timeout_ms = n;
    n = cfg->max_attempts;
    rc = env_u64("LLM_MAX_ATTEMPTS", 1, 20, &n, err, errcap);
    if (rc)
        return rc;
    cfg->max_attempts = (unsigned)n;
    return 0;
}

/* "scheme://user:pass@host/..." without "user:pass@". */
static char *redact_url(const char *url)
{
    const char *s = strstr(url, "://");
    if (!s)
        return mcp_strdup(url);
    s += 3;
    size_t hostlen = strcspn(s, "/?#");
    const char *at = memchr(s, '@', hostlen);
    if (!at)
        return mcp_strdup(url);
    return mcp_asprintf("%.*s%s", (int)(s - url), url, at + 1);
}

/* ------------------------------------------------------------------ client */

static void maybe_closed(gw_llm_client_t *c)
{
    if (!c->closing || c->alive || c->http_open || c->idle_open)
        return;
    if (c->close_cb)
        c->close_cb(c, c->close_ud);
    mcp_free(c->chat_url);
    mcp_free(c->safe_url);
    mcp_free(c->auth);
    mcp_free(c->model);
    mcp_free(c);
}

static void client_free_now(gw_llm_client_t *c)
{
    mcp_free(c->chat_url);
    mcp_free(c->safe_url);
    mcp_free(c->auth);
    mcp_free(c->model);
    mcp_free(c);
}

int gw_llm_client_new(uv_loop_t *loop, http_client_t *http, const gw_llm_config_t *cfg,
                      gw_llm_client_t **out, char *err, size_t errcap)
{
    *out = NULL;
    gw_llm_config_t defaults;
    if (!cfg) {
        gw_llm_config_init(&defaults);
        cfg = &defaults;
    }
    if (!is_http_url(cfg->base_url)) {
        snprintf(err, errcap, "LLM base URL: expected an http:// or https:// URL");
        return MCP_EINVAL;
    }
    if (!cfg->model || !cfg->model[0]) {
        snprintf(err, errcap, "LLM model: must not be empty");
        return MCP_EINVAL;
    }
    if (cfg->max_attempts < 1 || cfg->max_attempts > 20) {
        snprintf(err, errcap, "LLM max_attempts: expected 1 to 20, got %u", cfg->max_attempts);
        return MCP_EINVAL;
    }
    if (cfg->api_key && strpbrk(cfg->api_key, "\r\n")) {
        snprintf(err, errcap, "LLM API key: must not contain line breaks");
        return MCP_EINVAL;
    }
    gw_llm_client_t *c = mcp_calloc(1, sizeof(*c));
    if (!c)
        return MCP_ENOMEM;
    c->loop = loop;
    c->cfg = *cfg;
    c->cfg.base_url = c->cfg.api_key = c->cfg.model = NULL;
    if (!c->cfg.timeout_ms)
        c->cfg.timeout_ms = 60000;
    if (!c->cfg.backoff_initial_ms)
        c->cfg.backoff_initial_ms = 1;
    if (c->cfg.backoff_max_ms < c->cfg.backoff_initial_ms)
        c->cfg.backoff_max_ms = c->cfg.backoff_initial_ms;
    if (!c->cfg.max_response_bytes)
        c->cfg.max_response_bytes = 8u * 1024 * 1024;
    size_t blen = strlen(cfg->base_url);
    while (blen > 0 && cfg->base_url[blen - 1] == '/')
        blen--;
    c->chat_url = mcp_asprintf("%.*s/chat/completions", (int)blen, cfg->base_url);
    c->safe_url = c->chat_url ? redact_url(c->chat_url) : NULL;
    c->model = mcp_strdup(cfg->model);
    if (cfg->api_key && cfg->api_key[0])
        c->auth = mcp_asprintf("Bearer %s", cfg->api_key);
    c->rng = clock_mono_ns() ^ (uint64_t)(uintptr_t)c;
    if (!c->chat_url || !c->safe_url || !c->model ||
        (cfg->api_key && cfg->api_key[0] && !c->auth)) {
        client_free_now(c);
        return MCP_ENOMEM;
    }
    if (http) {
        c->http = http;
    } else {
        http_client_options_t o = {0};
        o.user_agent = "mcp-gateway-llm";
        o.default_max_body = c->cfg.max_response_bytes;
        int rc = http_client_new(loop, &o, &c->http);
        if (rc) {
            snprintf(err, errcap, "cannot create the HTTP client: %s", mcp_strerror(rc));
            client_free_now(c);
            return rc;
        }
        c->own_http = 1;
        c->http_open = 1;
    }
    uv_timer_init(loop, &c->idle);
    c->idle.data = c;
    c->idle_open = 1;
    *out = c;
    return 0;
}

const char *gw_llm_client_url(const gw_llm_client_t *c)
{
    return c->safe_url;
}

const char *gw_llm_client_model(const gw_llm_client_t *c)
{
    return c->model;
}

void gw_llm_client_get_stats(const gw_llm_client_t *c, gw_llm_stats_t *out)
{
    *out = c->stats;
}

static void on_idle_closed(uv_handle_t *h)
{
    gw_llm_client_t *c = h->data;
    c->idle_open = 0;
    maybe_closed(c);
}

static void on_http_closed(http_client_t *h, void *ud)
{
    (void)h;
    gw_llm_client_t *c = ud;
    c->http_open = 0;
    c->http = NULL;
    maybe_closed(c);
}

int gw_llm_client_close(gw_llm_client_t *c, gw_llm_closed_fn cb, void *ud)
{
    if (c->closing)
        return MCP_ESTATE;
    c->closing = 1;
    c->close_cb = cb;
    c->close_ud = ud;
    for (gw_llm_call_t *call = c->calls; call; call = call->next)
        (void)gw_llm_cancel(call);
    if (c->own_http) {
        /* Its requests' callbacks (our cancelled attempts) run before its close callback. */
        if (http_client_close(c->http, on_http_closed, c) != 0)
            c->http_open = 0;
    }
    uv_close((uv_handle_t *)&c->idle, on_idle_closed);
    return 0;
}

/* ------------------------------------------------------------------ responses */

void gw_llm_response_free(gw_llm_response_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->tool_call_count; i++) {
        mcp_free(r->tool_calls[i].id);
        mcp_free(r->tool_calls[i].name);
        mcp_free(r->tool_calls[i].arguments);
        cJSON_Delete(r->tool_calls[i].args);
    }
    mcp_free(r->tool_calls);
    mcp_free(r->content);
    mcp_free(r->finish_reason);
    mcp_free(r->id);
    mcp_free(r->model);
    cJSON_Delete(r->message);
    mcp_free(r);
}

static char *dup_opt(const cJSON *v, int *oom)
{
    if (!cJSON_IsString(v))
        return NULL;
    char *s = mcp_strdup(v->valuestring);
    if (!s)
        *oom = 1;
    return s;
}

static long usage_n(const cJSON *usage, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

/* Parse a chat completion. 0, MCP_EPROTO (reason in err), MCP_ENOMEM. */
static int parse_completion(const char *body, size_t len, gw_llm_response_t **out, char *err,
                            size_t errcap)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root) {
        snprintf(err, errcap, "the answer is not valid JSON (%zu bytes)", len);
        return MCP_EPROTO;
    }
    int rc = MCP_EPROTO, oom = 0;
    gw_llm_response_t *r = NULL;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *c0 = cJSON_GetArrayItem(choices, 0);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c0, "message");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(choices)) {
        snprintf(err, errcap, "the answer has no \"choices\" array");
        goto fail;
    }
    if (!cJSON_IsObject(msg)) {
        snprintf(err, errcap, "choices[0] has no \"message\" object");
        goto fail;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (content && !cJSON_IsString(content) && !cJSON_IsNull(content)) {
        snprintf(err, errcap, "choices[0].message.content is neither a string nor null");
        goto fail;
    }
    if (calls && !cJSON_IsArray(calls) && !cJSON_IsNull(calls)) {
        snprintf(err, errcap, "choices[0].message.tool_calls is not an array");
        goto fail;
    }
    r = mcp_calloc(1, sizeof(*r));
    if (!r)
        goto nomem;
    size_t n = cJSON_IsArray(calls) ? (size_t)cJSON_GetArraySize(calls) : 0;
    if (n && !(r->tool_calls = mcp_calloc(n, sizeof(gw_llm_tool_call_t))))
        goto nomem;
    const cJSON *tc;
    const cJSON *call_arr = n ? calls : NULL;
    size_t i = 0;
    cJSON_ArrayForEach(tc, call_arr)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (!cJSON_IsString(id) || !cJSON_IsString(name) || !name->valuestring[0]) {
            snprintf(err, errcap,
                     "choices[0].message.tool_calls[%zu] needs a string \"id\" and "
                     "function.name",
                     i);
            goto fail;
        }
        gw_llm_tool_call_t *t = &r->tool_calls[i];
        r->tool_call_count = ++i;
        t->id = mcp_strdup(id->valuestring);
        t->name = mcp_strdup(name->valuestring);
        if (cJSON_IsString(args))
            t->arguments = mcp_strdup(args->valuestring);
        else if (cJSON_IsObject(args)) /* some servers send an object */
            t->arguments = cJSON_PrintUnformatted(args);
        else
            t->arguments = mcp_strdup("{}");
        if (!t->id || !t->name || !t->arguments)
            goto nomem;
        t->args = cJSON_Parse(t->arguments);
        if (t->args && !cJSON_IsObject(t->args)) {
            cJSON_Delete(t->args);
            t->args = NULL;
        }
    }
    r->content = dup_opt(content, &oom);
    r->finish_reason = dup_opt(cJSON_GetObjectItemCaseSensitive(c0, "finish_reason"), &oom);
    r->id = dup_opt(cJSON_GetObjectItemCaseSensitive(root, "id"), &oom);
    r->model = dup_opt(cJSON_GetObjectItemCaseSensitive(root, "model"), &oom);
    if (oom)
        goto nomem;
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    r->prompt_tokens = usage_n(usage, "prompt_tokens");
    r->completion_tokens = usage_n(usage, "completion_tokens");
    r->total_tokens = usage_n(usage, "total_tokens");
    /* The message to send back: role, content and tool calls in the canonical shape. */
    r->message = cJSON_CreateObject();
    if (!r->message || !cJSON_AddStringToObject(r->message, "role", "assistant") ||
        !(r->content ? cJSON_AddStringToObject(r->message, "content", r->content)
                     : cJSON_AddNullToObject(r->message, "content")))
        goto nomem;
    if (r->tool_call_count) {
        cJSON *arr = cJSON_AddArrayToObject(r->message, "tool_calls");
        if (!arr)
            goto nomem;
        for (i = 0; i < r->tool_call_count; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON *f = cJSON_CreateObject();
            if (!o || !f) {
                cJSON_Delete(o);
                cJSON_Delete(f);
                goto nomem;
            }
            cJSON_AddItemToArray(arr, o);
            if (!cJSON_AddItemToObject(o, "function", f)) {
                cJSON_Delete(f);
                goto nomem;
            }
            if (!cJSON_AddStringToObject(o, "id", r->tool_calls[i].id) ||
                !cJSON_AddStringToObject(o, "type", "function") ||
                !cJSON_AddStringToObject(f, "name", r->tool_calls[i].name) ||
                !cJSON_AddStringToObject(f, "arguments", r->tool_calls[i].arguments))
                goto nomem;
        }
    }
    cJSON_Delete(root);
    *out = r;
    return 0;
nomem:
    rc = MCP_ENOMEM;
    snprintf(err, errcap, "out of memory");
fail:
    gw_llm_response_free(r);
    cJSON_Delete(root);
    return rc;
}

/* The server's own words: {"error":{"message"}}, {"error":"..."}, {"message"} or the text. */
static void server_message(const char *body, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    cJSON *root = len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *m = cJSON_IsObject(e)   ? cJSON_GetObjectItemCaseSensitive(e, "message")
                     : cJSON_IsString(e) ? e
                                         : cJSON_GetObjectItemCaseSensitive(root, "message");
    if (cJSON_IsString(m)) {
        snprintf(out, cap, "%.*s", MAX_SERVER_TEXT, m->valuestring);
    } else if (len) {
        size_t o = 0;
        for (size_t i = 0; i < len && o + 1 < cap && o < MAX_SERVER_TEXT; i++)
            out[o++] = isprint((unsigned char)body[i]) ? body[i] : ' ';
        out[o] = '\0';
    }
    cJSON_Delete(root);
}

/* ------------------------------------------------------------------ calls */

static void on_call_closed(uv_handle_t *h)
{
    gw_llm_call_t *call = h->data;
    gw_llm_client_t *c = call->c;
    for (size_t i = 0; i < call->nheaders; i++)
        mcp_free(call->headers[i]);
    mcp_free(call->headers);
    mcp_free(call->body);
    mcp_free(call->model);
    mcp_free(call);
    c->alive--;
    maybe_closed(c);
}

/* Complete the call (from the loop only) and free it once its timer is closed. */
static void finish(gw_llm_call_t *call, int status, gw_llm_response_t *resp)
{
    gw_llm_client_t *c = call->c;
    call->done_called = 1;
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    uv_timer_stop(&call->timer);
    if (status == 0)
        c->stats.succeeded++;
    else
        c->stats.failed++;
    gw_llm_result_t res = {
        .status = status,
        .http_status = call->http_status,
        .attempts = call->attempts,
        .elapsed_ms = clock_mono_ms() - call->start_ms,
        .error = status ? call->error : "",
        .response = resp,
    };
    if (status && status != MCP_ECANCELED)
        LOG_W(COMP, "LLM call failed", "rid=%s url=%s model=%s status=%s attempts=%u error=%s",
              log_quote(call->rid), log_quote(c->safe_url), log_quote(call->model),
              mcp_err_name(status), call->attempts, log_quote(call->error));
    call->done(call, &res, call->ud);
    gw_llm_response_free(res.response);
    uv_close((uv_handle_t *)&call->timer, on_call_closed);
}

static void attempt(gw_llm_call_t *call);

static void on_timer(uv_timer_t *t)
{
    gw_llm_call_t *call = t->data;
    call->waiting = 0;
    if (call->cancelled) {
        snprintf(call->error, sizeof(call->error), "LLM call cancelled");
        finish(call, MCP_ECANCELED, NULL);
        return;
    }
    attempt(call);
}

static uint64_t next_random(gw_llm_client_t *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Retry-After in ms (delta seconds or an HTTP date), or -1 when absent or unreadable. */
static int64_t retry_after_ms(const char *v)
{
    if (!v || !v[0])
        return -1;
    char *end;
    errno = 0;
    long long s = strtoll(v, &end, 10);
    if (!errno && *end == '\0' && s >= 0)
        return s > 86400 ? 86400000 : (int64_t)s * 1000;
    time_t when = curl_getdate(v, NULL);
    if (when == (time_t)-1)
        return -1;
    int64_t delta = (int64_t)when * 1000 - clock_wall_ms();
    return delta > 0 ? delta : 0;
}

/* Retry after a retryable failure, or complete with `status`. call->error holds the text. */
static void retry_or_fail(gw_llm_call_t *call, int status, int64_t server_wait_ms)
{
    gw_llm_client_t *c = call->c;
    size_t elen = strlen(call->error);
    char *etail = call->error + elen;
    size_t ecap = sizeof(call->error) - elen;
    if (call->attempts >= c->cfg.max_attempts) {
        snprintf(etail, ecap, " (after %u attempt%s)", call->attempts,
                 call->attempts == 1 ? "" : "s");
        finish(call, status, NULL);
        return;
    }
    if (server_wait_ms >= 0 && (uint64_t)server_wait_ms > c->cfg.retry_after_max_ms) {
        snprintf(etail, ecap,
                 " (the server asked to retry after %lld ms, more than the %llu ms we wait; "
                 "attempt %u)",
                 (long long)server_wait_ms, (unsigned long long)c->cfg.retry_after_max_ms,
                 call->attempts);
        finish(call, status, NULL);
        return;
    }
    uint64_t d = c->cfg.backoff_initial_ms;
    for (unsigned i = 1; i < call->attempts && d < c->cfg.backoff_max_ms; i++)
        d *= 2;
    if (d > c->cfg.backoff_max_ms)
        d = c->cfg.backoff_max_ms;
    uint64_t wait = d / 2 + (d > 1 ? next_random(c) % (d - d / 2 + 1) : 0);
    if (server_wait_ms >= 0 && (uint64_t)server_wait_ms > wait)
        wait = (uint64_t)server_wait_ms;
    uint64_t now = clock_mono_ms();
    if (now + wait >= call->deadline_ms) {
        snprintf(etail, ecap,
                 " (after %u attempt%s; no time left for a retry within the %llu ms deadline)",
                 call->attempts, call->attempts == 1 ? "" : "s",
                 (unsigned long long)(call->deadline_ms - call->start_ms));
        finish(call, status, NULL);
        return;
    }
    LOG_I(COMP, "LLM call failed, retrying", "rid=%s url=%s attempt=%u wait_ms=%llu error=%s",
          log_quote(call->rid), log_quote(c->safe_url), call->attempts, (unsigned long long)wait,
          log_quote(call->error));
    call->waiting = 1;
    uv_timer_start(&call->timer, on_timer, wait, 0);
}

static int retryable_transport(int rc)
{
    return rc == UV_ECONNREFUSED || rc == UV_ECONNRESET || rc == UV_ECONNABORTED ||
           rc == UV_EPIPE || rc == UV_ETIMEDOUT || rc == UV_EHOSTUNREACH || rc == UV_ENETUNREACH ||
           rc == UV_EAI_AGAIN || rc == MCP_ECLOSED || rc == MCP_ETIMEDOUT;
}

static void on_http_done(http_request_t *req, int result, void *ud)
{
    gw_llm_call_t *call = ud;
    gw_llm_client_t *c = call->c;
    call->req = NULL;
    call->last_status = result;
    if (result == MCP_ECANCELED || call->cancelled) {
        snprintf(call->error, sizeof(call->error), "LLM call cancelled");
        finish(call, MCP_ECANCELED, NULL);
        return;
    }
    if (result != 0) {
        uint64_t now = clock_mono_ms();
        if (result == MCP_ETIMEDOUT && now + 1 >= call->deadline_ms) {
            snprintf(call->error, sizeof(call->error),
                     "LLM request to %s timed out after %llu ms (%u attempt%s)", c->safe_url,
                     (unsigned long long)(call->deadline_ms - call->start_ms), call->attempts,
                     call->attempts == 1 ? "" : "s");
            finish(call, MCP_ETIMEDOUT, NULL);
            return;
        }
        snprintf(call->error, sizeof(call->error), "cannot get an answer from the LLM at %s: %s",
                 c->safe_url,
                 http_request_error(req)[0] ? http_request_error(req) : mcp_strerror(result));
        if (retryable_transport(result))
            retry_or_fail(call, result, -1);
        else
            finish(call, result, NULL);
        return;
    }
    int status = http_request_status(req);
    call->http_status = status;
    size_t len;
    const char *body = http_request_body(req, &len);
    if (status >= 200 && status < 300) {
        gw_llm_response_t *resp = NULL;
        char why[256];
        int rc = parse_completion(body, len, &resp, why, sizeof(why));
        if (rc) {
            snprintf(call->error, sizeof(call->error),
                     "the LLM at %s answered HTTP %d with something that is not a chat "
                     "completion: %s",
                     c->safe_url, status, why);
            finish(call, rc, NULL);
            return;
        }
        finish(call, 0, resp);
        return;
    }
    char msg[MAX_SERVER_TEXT + 8];
    server_message(body, len, msg, sizeof(msg));
    snprintf(call->error, sizeof(call->error), "the LLM at %s answered HTTP %d%s%s", c->safe_url,
             status, msg[0] ? ": " : "", msg);
    if (status == 408 || status == 429 || status >= 500)
        retry_or_fail(call, MCP_EHTTP, retry_after_ms(http_request_header(req, "Retry-After")));
    else
        finish(call, MCP_EHTTP, NULL);
}

static void attempt(gw_llm_call_t *call)
{
    gw_llm_client_t *c = call->c;
    uint64_t now = clock_mono_ms();
    if (now >= call->deadline_ms) {
        snprintf(call->error, sizeof(call->error),
                 "LLM request to %s timed out after %llu ms (%u attempt%s)", c->safe_url,
                 (unsigned long long)(call->deadline_ms - call->start_ms), call->attempts,
                 call->attempts == 1 ? "" : "s");
        finish(call, MCP_ETIMEDOUT, NULL);
        return;
    }
    uint64_t budget = call->deadline_ms - now;
    if (c->cfg.attempt_timeout_ms && c->cfg.attempt_timeout_ms < budget)
        budget = c->cfg.attempt_timeout_ms;
    http_request_t *req = NULL;
    int rc = http_request_new(c->http, "POST", c->chat_url, &req);
    if (!rc)
        rc = http_request_add_header(req, "Content-Type", "application/json");
    if (!rc)
        rc = http_request_add_header(req, "Accept", "application/json");
    if (!rc && c->auth)
        rc = http_request_add_header(req, "Authorization", c->auth);
    for (size_t i = 0; !rc && i + 1 < call->nheaders; i += 2)
        rc = http_request_add_header(req, call->headers[i], call->headers[i + 1]);
    if (!rc)
        rc = http_request_set_body(req, call->body, call->len);
    if (!rc) {
        http_request_set_timeouts(req, budget, c->cfg.connect_timeout_ms);
        http_request_set_max_body(req, c->cfg.max_response_bytes);
        rc = http_request_start(req, on_http_done, call);
    }
    if (rc) {
        if (req)
            http_request_free(req);
        snprintf(call->error, sizeof(call->error), "cannot send the LLM request to %s: %s",
                 c->safe_url, mcp_strerror(rc));
        finish(call, rc, NULL);
        return;
    }
    call->req = req;
    call->attempts++;
    c->stats.attempts++;
    if (call->attempts > 1)
        c->stats.retries++;
    LOG_D(COMP, "LLM request", "rid=%s url=%s model=%s attempt=%u timeout_ms=%llu bytes=%zu",
          log_quote(call->rid), log_quote(c->safe_url), log_quote(call->model), call->attempts,
          (unsigned long long)budget, call->len);
}

static int valid_header(const char *name, const char *value)
{
    if (!name || !name[0] || !value || strpbrk(value, "\r\n"))
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return 0;
    return strcasecmp(name, "Authorization") != 0 && strcasecmp(name, "Content-Type") != 0;
}

static char *build_body(const char *model, const cJSON *messages, const cJSON *tools,
                        const char *tool_choice, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    if (!root || !cJSON_AddStringToObject(root, "model", model) ||
        !cJSON_AddItemReferenceToObject(root, "messages", (cJSON *)messages)) {
        cJSON_Delete(root);
        return NULL;
    }
    if (tools && cJSON_GetArraySize(tools) > 0) {
        if (!cJSON_AddItemReferenceToObject(root, "tools", (cJSON *)tools) ||
            !cJSON_AddStringToObject(root, "tool_choice", tool_choice ? tool_choice : "auto")) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root); /* references: the caller's arrays are not freed */
    if (text)
        *len = strlen(text);
    return text;
}

int gw_llm_chat(gw_llm_client_t *c, const cJSON *messages, const cJSON *tools,
                const gw_llm_chat_opts_t *opts, gw_llm_done_fn done, void *ud, gw_llm_call_t **out)
{
    if (out)
        *out = NULL;
    if (c->closing)
        return MCP_ESTATE;
    if (!done || !cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0 ||
        (tools && !cJSON_IsArray(tools)))
        return MCP_EINVAL;
    gw_llm_chat_opts_t none = {0};
    if (!opts)
        opts = &none;
    if (opts->header_pairs > MAX_HEADERS || (opts->header_pairs && !opts->headers))
        return MCP_EINVAL;
    for (size_t i = 0; i < opts->header_pairs; i++)
        if (!valid_header(opts->headers[2 * i], opts->headers[2 * i + 1]))
            return MCP_EINVAL;
    if (opts->tool_choice && strcmp(opts->tool_choice, "auto") != 0 &&
        strcmp(opts->tool_choice, "none") != 0 && strcmp(opts->tool_choice, "required") != 0)
        return MCP_EINVAL;
    gw_llm_call_t *call = mcp_calloc(1, sizeof(*call));
    if (!call)
        return MCP_ENOMEM;
    call->c = c;
    call->done = done;
    call->ud = ud;
    snprintf(call->rid, sizeof(call->rid), "%s", opts->request_id ? opts->request_id : "");
    call->model = mcp_strdup(opts->model && opts->model[0] ? opts->model : c->model);
    int oom = !call->model;
    if (!oom)
        call->body = build_body(call->model, messages, tools, opts->tool_choice, &call->len);
    oom |= !call->body;
    if (!oom && opts->header_pairs) {
        call->headers = mcp_calloc(opts->header_pairs * 2, sizeof(char *));
        oom |= !call->headers;
        for (size_t i = 0; !oom && i < opts->header_pairs * 2; i++) {
            call->headers[i] = mcp_strdup(opts->headers[i]);
            call->nheaders = i + 1;
            oom |= !call->headers[i];
        }
    }
    if (oom) {
        for (size_t i = 0; i < call->nheaders; i++)
            mcp_free(call->headers[i]);
        mcp_free(call->headers);
        mcp_free(call->body);
        mcp_free(call->model);
        mcp_free(call);
        return MCP_ENOMEM;
    }
    call->start_ms = clock_mono_ms();
    call->deadline_ms = call->start_ms + (opts->timeout_ms ? opts->timeout_ms : c->cfg.timeout_ms);
    uv_timer_init(c->loop, &call->timer);
    call->timer.data = call;
    c->alive++;
    call->next = c->calls;
    if (call->next)
        call->next->prev = call;
    c->calls = call;
    c->stats.calls++;
    /* The first attempt starts from the loop, so that every failure, even an immediate one,
     * reaches done from there and never from inside this function. */
    call->waiting = 1;
    uv_timer_start(&call->timer, on_timer, 0, 0);
    if (out)
        *out = call;
    return 0;
}

int gw_llm_cancel(gw_llm_call_t *call)
{
    if (call->done_called || call->cancelled)
        return call->done_called ? MCP_ESTATE : 0;
    call->cancelled = 1;
    if (call->req)
        return http_request_cancel(call->req) == 0 ? 0 : MCP_ESTATE;
    /* Waiting: complete from the loop at once. */
    uv_timer_stop(&call->timer);
    uv_timer_start(&call->timer, on_timer, 0, 0);
    return 0;
}

/* ------------------------------------------------------------------ building requests */

int gw_llm_msg_add(cJSON *messages, const char *role, const char *content)
{
    if (!cJSON_IsArray(messages) || !role || !content ||
        (strcmp(role, "system") != 0 && strcmp(role, "developer") != 0 &&
         strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
        return MCP_EINVAL;
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", role) ||
        !cJSON_AddStringToObject(m, "content", content)) {
        cJSON_Delete(m);
        return MCP_ENOMEM;
    }
    cJSON_AddItemToArray(messages, m);
    return 0;
}

int gw_llm_msg_add_assistant(cJSON *messages, const gw_llm_response_t *resp)
{
    if (!cJSON_IsArray(messages) || !resp || !resp->message)
        return MCP_EINVAL;
    cJSON *m = cJSON_Duplicate(resp->message, 1);
    if (!m)
        return MCP_ENOMEM;
    cJSON_AddItemToArray(messages, m);
    return 0;
}

int gw_llm_msg_add_tool_result(cJSON *messages, const char *tool_call_id, const char *content)
{
    if (!cJSON_IsArray(messages) || !tool_call_id || !tool_call_id[0] || !content)
        return MCP_EINVAL;
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", "tool") ||
        !cJSON_AddStringToObject(m, "tool_call_id", tool_call_id) ||
        !cJSON_AddStringToObject(m, "content", content)) {
        cJSON_Delete(m);
        return MCP_ENOMEM;
    }
    cJSON_AddItemToArray(messages, m);
    return 0;
}

int gw_llm_tools_add(cJSON *tools, const char *name, const char *description,
                     const cJSON *parameters)
{
    if (!cJSON_IsArray(tools) || !name || !name[0] || (parameters && !cJSON_IsObject(parameters)))
        return MCP_EINVAL;
    cJSON *t = cJSON_CreateObject();
    cJSON *fn = cJSON_CreateObject();
    cJSON *params = parameters ? cJSON_Duplicate(parameters, 1) : cJSON_CreateObject();
    if (!t || !fn || !params) {
        cJSON_Delete(t);
        cJSON_Delete(fn);
        cJSON_Delete(params);
        return MCP_ENOMEM;
    }
    if (!cJSON_AddItemToObject(t, "function", fn)) {
        cJSON_Delete(t);
        cJSON_Delete(fn);
        cJSON_Delete(params);
        return MCP_ENOMEM;
    }
    if (!cJSON_AddItemToObject(fn, "parameters", params)) {
        cJSON_Delete(t);
        cJSON_Delete(params);
        return MCP_ENOMEM;
    }
    if (!parameters && (!cJSON_AddStringToObject(params, "type", "object") ||
                        !cJSON_AddObjectToObject(params, "properties"))) {
        cJSON_Delete(t);
        return MCP_ENOMEM;
    }
    if (!cJSON_AddStringToObject(t, "type", "function") ||
        !cJSON_AddStringToObject(fn, "name", name) ||
        (description && !cJSON_AddStringToObject(fn, "description", description))) {
        cJSON_Delete(t);
        return MCP_ENOMEM;
    }
    cJSON_AddItemToArray(tools, t);
    return 0;
}
