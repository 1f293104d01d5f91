#include "http_client.h"

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "errors.h"
#include "log.h"

#include <curl/curl.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#ifdef CURL_WRITEFUNC_ERROR
#define WRITE_ABORT CURL_WRITEFUNC_ERROR
#else
#define WRITE_ABORT 0
#endif

#define DEFAULT_MAX_BODY           (8u * 1024u * 1024u)
#define DEFAULT_CONNECT_TIMEOUT_MS 10000u

typedef enum {
    REQ_NEW,      /* being set up by the caller */
    REQ_QUEUED,   /* started from inside curl: attached by the pump */
    REQ_ACTIVE,   /* in the multi handle */
    REQ_DONE,     /* result known, in the done queue, callback pending */
    REQ_FINISHED, /* callback running; freed when it returns */
} req_state_t;

typedef struct hdr_s {
    char *name;
    char *value;
} hdr_t;

struct http_request_s {
    http_client_t *client;
    CURL *easy;
    char *method;
    char *url;
    struct curl_slist *req_headers;
    int has_content_type;
    int has_expect;
    char *body;
    size_t body_len;
    int has_body;
    uint64_t deadline_ms;
    uint64_t connect_timeout_ms;
    size_t max_body;
    http_head_fn on_head;
    http_body_fn on_body;
    http_done_fn done;
    void *userdata;

    req_state_t state;
    int cancel_requested; /* cancelled from inside curl; the pump removes it */
    int pending_fail;     /* failed inside a curl callback (no memory); the pump removes it */
    int abort_code;       /* why one of our curl callbacks stopped the transfer */
    int result;
    const char *error;
    char errbuf[CURL_ERROR_SIZE];

    int status;
    int head_done;
    size_t head_bytes;
    hdr_t *headers;
    size_t nheaders;
    buf_t resp_body;

    uint64_t start_us;
    uint64_t end_us;
    http_request_t *prev, *next; /* client->reqs: QUEUED and ACTIVE requests */
    http_request_t *done_next;   /* client->done_head queue */
};

typedef struct sock_ctx_s {
    uv_poll_t poll;
    curl_socket_t fd;
    http_client_t *client;
    struct sock_ctx_s *prev, *next;
} sock_ctx_t;

struct http_client_s {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* CURLMOPT_TIMERFUNCTION's one timer */
    uv_idle_t pump;   /* runs deferred work outside curl: attach, cancel, done callbacks */
    size_t default_max_body;
    uint64_t default_connect_timeout_ms;
    char *user_agent;

    http_request_t *reqs;
    http_request_t *done_head, *done_tail;
    size_t nactive; /* started and not yet finished */
    sock_ctx_t *socks;

    int in_curl; /* inside curl_multi_socket_action: no curl_multi_* calls allowed */
    int closing;
    int close_deferred;
    int handles_open;
    http_client_close_fn close_cb;
    void *close_ud;
};

/* ---- global init ---- */

static uv_once_t global_once = UV_ONCE_INIT;
static int global_rc;

static void global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : MCP_EUPSTREAM;
}

int http_client_global_init(void)
{
    uv_once(&global_once, global_init_once);
    return global_rc;
}

void http_client_global_cleanup(void)
{
    curl_global_cleanup();
}

/* ---- lists ---- */

static void reqs_link(http_client_t *c, http_request_t *r)
{
    r->prev = NULL;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
}

static void reqs_unlink(http_client_t *c, http_request_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void pump_kick(http_client_t *c);

/* Take r out of the running set with `result`; its callback runs from the pump (or from the
 * final close step). */
static void move_to_done(http_client_t *c, http_request_t *r, int result)
{
    reqs_unlink(c, r);
    r->state = REQ_DONE;
    r->result = result;
    r->done_next = NULL;
    if (c->done_tail)
        c->done_tail->done_next = r;
    else
        c->done_head = r;
    c->done_tail = r;
    pump_kick(c);
}

/* ---- requests ---- */

static void request_destroy(http_request_t *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->req_headers);
    for (size_t i = 0; i < r->nheaders; i++) {
        mcp_free(r->headers[i].name);
        mcp_free(r->headers[i].value);
    }
    mcp_free(r->headers);
    buf_free(&r->resp_body);
    mcp_free(r->body);
    mcp_free(r->method);
    mcp_free(r->url);
    mcp_free(r);
}

static const char *result_text(http_request_t *r, int result, CURLcode code)
{
    if (result == 0)
        return "";
    if (result == MCP_ECANCELED)
        return "request canceled";
    if (code == CURLE_OK || r->abort_code || r->pending_fail) {
        if (result == MCP_ENOBUFS) {
            if (r->head_bytes > HTTP_CLIENT_MAX_HEAD || r->nheaders >= HTTP_CLIENT_MAX_HEADERS)
                snprintf(r->errbuf, sizeof r->errbuf,
                         "response head larger than %u bytes or %u lines", HTTP_CLIENT_MAX_HEAD,
                         HTTP_CLIENT_MAX_HEADERS);
            else
                snprintf(r->errbuf, sizeof r->errbuf, "response body larger than %zu bytes",
                         r->max_body);
        } else {
            snprintf(r->errbuf, sizeof r->errbuf, "aborted: %s", mcp_strerror(result));
        }
        return r->errbuf;
    }
    if (code == CURLE_FILESIZE_EXCEEDED) {
        snprintf(r->errbuf, sizeof r->errbuf, "response body larger than %zu bytes", r->max_body);
        return r->errbuf;
    }
    return r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);
}

/* Run the completion callback and free the request. */
static void finish(http_client_t *c, http_request_t *r)
{
    r->state = REQ_FINISHED;
    r->end_us = clock_mono_us();
    if (!r->error)
        r->error = result_text(r, r->result, CURLE_OK);
    c->nactive--;
    r->done(r, r->result, r->userdata);
    request_destroy(r);
}

static int map_curl_result(http_request_t *r, CURLcode code)
{
    /* a cancel that returned 0 promised MCP_ECANCELED, even if the transfer just completed */
    if (r->cancel_requested)
        return MCP_ECANCELED;
    if (code == CURLE_OK)
        return 0;
    if (r->pending_fail)
        return r->pending_fail;
    if (r->abort_code)
        return r->abort_code;
    long os_errno = 0;
    curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT: return MCP_ETIMEDOUT;
    case CURLE_COULDNT_CONNECT: return os_errno > 0 ? (int)-os_errno : UV_ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST: return UV_EAI_NONAME;
    case CURLE_FILESIZE_EXCEEDED: return MCP_ENOBUFS;
    case CURLE_OUT_OF_MEMORY: return MCP_ENOMEM;
    case CURLE_URL_MALFORMAT: return MCP_EINVAL;
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return MCP_ECLOSED;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR: return os_errno > 0 ? (int)-os_errno : MCP_ECLOSED;
    case CURLE_UNSUPPORTED_PROTOCOL: /* http/https were checked: this is an HTTP/0.9 reply */
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP3: return MCP_EPROTO;
    default: return MCP_EUPSTREAM;
    }
}

/* ---- curl callbacks for one transfer ---- */

static int stopped(http_request_t *r)
{
    return r->cancel_requested || r->pending_fail || r->client->closing;
}

static int add_response_header(http_request_t *r, const char *line, size_t len)
{
    if (len && (line[0] == ' ' || line[0] == '\t')) {
        /* obsolete line folding: continue the previous value */
        if (r->nheaders == 0)
            return 0;
        while (len && (line[0] == ' ' || line[0] == '\t')) {
            line++;
            len--;
        }
        hdr_t *h = &r->headers[r->nheaders - 1];
        char *v = mcp_asprintf("%s %.*s", h->value, (int)len, line);
        if (!v)
            return MCP_ENOMEM;
        mcp_free(h->value);
        h->value = v;
        return 0;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return 0; /* not a header line; curl accepted it, so ignore it */
    if (r->nheaders >= HTTP_CLIENT_MAX_HEADERS)
        return MCP_ENOBUFS;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;
    while (vlen && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        vlen--;
    }
    if (r->nheaders % 8 == 0) {
        hdr_t *grown = mcp_realloc(r->headers, (r->nheaders + 8) * sizeof *grown);
        if (!grown)
            return MCP_ENOMEM;
        r->headers = grown;
    }
    hdr_t *h = &r->headers[r->nheaders];
    h->name = mcp_strndup(line, nlen);
    h->value = mcp_strndup(v, vlen);
    if (!h->name || !h->value) {
        mcp_free(h->name);
        mcp_free(h->value);
        return MCP_ENOMEM;
    }
    r->nheaders++;
    return 0;
}

static void clear_response_headers(http_request_t *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        mcp_free(r->headers[i].name);
        mcp_free(r->headers[i].value);
    }
    r->nheaders = 0;
}

static size_t on_curl_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
    http_request_t *r = userdata;
    size_t len = size * nitems;
    if (stopped(r))
        return WRITE_ABORT;
    r->head_bytes += len;
    if (r->head_bytes > HTTP_CLIENT_MAX_HEAD) {
        r->abort_code = MCP_ENOBUFS;
        return WRITE_ABORT;
    }
    size_t n = len;
    while (n && (ptr[n - 1] == '\n' || ptr[n - 1] == '\r'))
        n--;

    if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* a new response (after a 1xx, or the first one) */
        clear_response_headers(r);
        r->head_done = 0;
        r->status = 0;
        const char *sp = memchr(ptr, ' ', n);
        if (sp && (size_t)(sp - ptr) + 4 <= n) {
            int st = 0;
            for (int i = 1; i <= 3; i++)
                st = st * 10 + (sp[i] >= '0' && sp[i] <= '9' ? sp[i] - '0' : 0);
            r->status = st;
        }
        return len;
    }
    if (r->head_done)
        return len; /* trailers of a chunked body: not kept */
    if (n == 0) {
        if (r->status >= 200) {
            r->head_done = 1;
            if (r->on_head) {
                int rc = r->on_head(r, r->userdata);
                if (rc || stopped(r)) {
                    r->abort_code = rc < 0 ? rc : MCP_ECANCELED;
                    return WRITE_ABORT;
                }
            }
        }
        return len;
    }
    int rc = add_response_header(r, ptr, n);
    if (rc) {
        r->abort_code = rc;
        return WRITE_ABORT;
    }
    return len;
}

static size_t on_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_request_t *r = userdata;
    size_t len = size * nmemb;
    if (stopped(r))
        return WRITE_ABORT;
    if (r->on_body) {
        int rc = r->on_body(r, ptr, len, r->userdata);
        if (rc || stopped(r)) {
            r->abort_code = rc < 0 ? rc : MCP_ECANCELED;
            return WRITE_ABORT;
        }
        return len;
    }
    int rc = buf_append(&r->resp_body, ptr, len);
    if (rc) {
        r->abort_code = rc;
        return WRITE_ABORT;
    }
    return len;
}

/* ---- multi-uv plumbing ---- */

static void check_multi_info(http_client_t *c)
{
    CURLMsg *msg;
    int pending;
    while (!c->closing && (msg = curl_multi_info_read(c->multi, &pending))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* msg is invalid after curl_multi_remove_handle: copy what is needed first */
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        http_request_t *r = (http_request_t *)priv;
        curl_multi_remove_handle(c->multi, easy);
        reqs_unlink(c, r);
        r->result = map_curl_result(r, code);
        r->error = result_text(r, r->result, code);
        if (r->result)
            LOG_D("http", "request failed", "method=%s url=%s err=%s detail=%s", r->method,
                  log_quote(r->url), mcp_err_name(r->result), log_quote(r->error));
        finish(c, r);
    }
}

static void close_now(http_client_t *c);

static void socket_action(http_client_t *c, curl_socket_t fd, int flags)
{
    int running;
    c->in_curl = 1;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    c->in_curl = 0;
    if (c->close_deferred) {
        c->close_deferred = 0;
        close_now(c);
        return;
    }
    check_multi_info(c);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    sock_ctx_t *ctx = handle->data;
    http_client_t *c = ctx->client;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    socket_action(c, ctx->fd, flags);
}

static void on_timer(uv_timer_t *timer)
{
    http_client_t *c = timer->data;
    socket_action(c, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    http_client_t *c = userp;
    if (c->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static void maybe_final(http_client_t *c);

static void on_handle_closed(uv_handle_t *handle)
{
    http_client_t *c = handle->data;
    c->handles_open--;
    maybe_final(c);
}

static void on_sock_closed(uv_handle_t *handle)
{
    sock_ctx_t *ctx = handle->data;
    http_client_t *c = ctx->client;
    mcp_free(ctx);
    c->handles_open--;
    maybe_final(c);
}

static void sock_close(http_client_t *c, sock_ctx_t *ctx)
{
    if (ctx->prev)
        ctx->prev->next = ctx->next;
    else
        c->socks = ctx->next;
    if (ctx->next)
        ctx->next->prev = ctx->prev;
    /* uv_close stops the watcher now, before curl closes the fd */
    uv_close((uv_handle_t *)&ctx->poll, on_sock_closed);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp)
{
    http_client_t *c = userp;
    sock_ctx_t *ctx = socketp;

    if (action == CURL_POLL_REMOVE) {
        if (ctx) {
            sock_close(c, ctx);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    if (c->closing)
        return 0;
    if (!ctx) {
        ctx = mcp_calloc(1, sizeof *ctx);
        int rc = ctx ? uv_poll_init_socket(c->loop, &ctx->poll, s) : MCP_ENOMEM;
        if (rc) {
            /* Returning -1 would mark the whole multi handle dead (curl 7.88): fail only this
             * transfer, from the pump. */
            mcp_free(ctx);
            char *priv = NULL;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
            http_request_t *r = (http_request_t *)priv;
            if (r && !r->pending_fail)
                r->pending_fail = rc;
            pump_kick(c);
            return 0;
        }
        ctx->fd = s;
        ctx->client = c;
        ctx->poll.data = ctx;
        ctx->next = c->socks;
        if (c->socks)
            c->socks->prev = ctx;
        c->socks = ctx;
        c->handles_open++;
        curl_multi_assign(c->multi, s, ctx);
    }
    int events = 0;
    if (action != CURL_POLL_IN)
        events |= UV_WRITABLE;
    if (action != CURL_POLL_OUT)
        events |= UV_READABLE;
    return uv_poll_start(&ctx->poll, events, on_poll) == 0 ? 0 : -1;
}

/* ---- attaching a request to curl ---- */

#define SETOPT(opt, val)                                     \
    do {                                                     \
        if (curl_easy_setopt(r->easy, opt, val) != CURLE_OK) \
            return MCP_ENOMEM;                               \
    } while (0)

static int append_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n)
        return MCP_ENOMEM;
    *list = n;
    return 0;
}

static int configure(http_client_t *c, http_request_t *r)
{
    SETOPT(CURLOPT_URL, r->url);
    SETOPT(CURLOPT_PRIVATE, (char *)r);
    SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* only direct connections: an http_proxy in the environment must not reroute loopback */
    SETOPT(CURLOPT_PROXY, "");
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_HEADERFUNCTION, on_curl_header);
    SETOPT(CURLOPT_HEADERDATA, r);
    SETOPT(CURLOPT_WRITEFUNCTION, on_curl_write);
    SETOPT(CURLOPT_WRITEDATA, r);
    SETOPT(CURLOPT_USERAGENT, c->user_agent);
    SETOPT(CURLOPT_TIMEOUT_MS, (long)r->deadline_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
           (long)(r->connect_timeout_ms ? r->connect_timeout_ms : c->default_connect_timeout_ms));
    if (!r->max_body)
        r->max_body = c->default_max_body;
    if (!r->on_body)
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_body);
    buf_init(&r->resp_body, r->max_body);

    /* No surprising defaults: no "Expect: 100-continue" round trip, no form content type. */
    if (!r->has_expect && append_header(&r->req_headers, "Expect:"))
        return MCP_ENOMEM;
    if (r->has_body && !r->has_content_type && append_header(&r->req_headers, "Content-Type:"))
        return MCP_ENOMEM;
    SETOPT(CURLOPT_HTTPHEADER, r->req_headers);

    if (strcmp(r->method, "HEAD") == 0) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") == 0 && !r->has_body) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(r->method, "POST") == 0 || r->has_body) {
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
            SETOPT(CURLOPT_POSTFIELDS, r->body ? r->body : "");
        }
        if (strcmp(r->method, "POST") != 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, r->method);
    }
    return 0;
}

static int attach(http_client_t *c, http_request_t *r)
{
    int rc = configure(c, r);
    if (rc)
        return rc;
    CURLMcode mc = curl_multi_add_handle(c->multi, r->easy);
    if (mc != CURLM_OK)
        return mc == CURLM_OUT_OF_MEMORY ? MCP_ENOMEM : MCP_EUPSTREAM;
    r->state = REQ_ACTIVE;
    return 0;
}

/* ---- the pump: deferred work, always outside curl ---- */

static void deliver_done(http_client_t *c, int even_when_closing)
{
    while (c->done_head && (even_when_closing || !c->closing)) {
        http_request_t *r = c->done_head;
        c->done_head = r->done_next;
        if (!c->done_head)
            c->done_tail = NULL;
        finish(c, r);
    }
}

static void on_pump(uv_idle_t *idle)
{
    http_client_t *c = idle->data;
    http_request_t *next;
    for (http_request_t *r = c->reqs; r && !c->closing; r = next) {
        next = r->next;
        if (r->state == REQ_QUEUED) {
            int rc = attach(c, r);
            if (rc)
                move_to_done(c, r, rc);
        } else if (r->state == REQ_ACTIVE && (r->cancel_requested || r->pending_fail)) {
            curl_multi_remove_handle(c->multi, r->easy);
            move_to_done(c, r, r->cancel_requested ? MCP_ECANCELED : r->pending_fail);
        }
    }
    deliver_done(c, 0);
    if (!c->closing && !c->done_head)
        uv_idle_stop(&c->pump);
}

static void pump_kick(http_client_t *c)
{
    if (!c->closing)
        uv_idle_start(&c->pump, on_pump);
}

/* ---- client ---- */

int http_client_new(uv_loop_t *loop, const http_client_options_t *opts, http_client_t **out)
{
    *out = NULL;
    int rc = http_client_global_init();
    if (rc)
        return rc;
    http_client_options_t defaults = {0};
    if (!opts)
        opts = &defaults;
    http_client_t *c = mcp_calloc(1, sizeof *c);
    if (!c)
        return MCP_ENOMEM;
    c->loop = loop;
    c->default_max_body = opts->default_max_body ? opts->default_max_body : DEFAULT_MAX_BODY;
    c->default_connect_timeout_ms = opts->default_connect_timeout_ms
                                        ? opts->default_connect_timeout_ms
                                        : DEFAULT_CONNECT_TIMEOUT_MS;
    c->user_agent = mcp_strdup(opts->user_agent ? opts->user_agent : "mcp-gateway");
    c->multi = curl_multi_init();
    if (!c->user_agent || !c->multi) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        mcp_free(c->user_agent);
        mcp_free(c);
        return MCP_ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    if (opts->max_host_connections > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, opts->max_host_connections);
    if (opts->max_total_connections > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, opts->max_total_connections);
    if (opts->max_cached_connections > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, opts->max_cached_connections);

    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_idle_init(loop, &c->pump);
    c->pump.data = c;
    c->handles_open = 2;
    *out = c;
    return 0;
}

static void maybe_final(http_client_t *c)
{
    if (!c->closing || c->close_deferred || c->handles_open > 0)
        return;
    /* every uv handle is closed: deliver the cancelled requests' callbacks, then the close
     * callback, then free */
    deliver_done(c, 1);
    if (c->close_cb)
        c->close_cb(c, c->close_ud);
    mcp_free(c->user_agent);
    mcp_free(c);
}

static void close_now(http_client_t *c)
{
    /* Stop watching sockets while their fds are still open (curl closes them below). */
    while (c->socks) {
        sock_ctx_t *ctx = c->socks;
        uv_poll_stop(&ctx->poll);
        curl_multi_assign(c->multi, ctx->fd, NULL);
        sock_close(c, ctx);
    }
    while (c->reqs) {
        http_request_t *r = c->reqs;
        if (r->state == REQ_ACTIVE)
            curl_multi_remove_handle(c->multi, r->easy);
        move_to_done(c, r, MCP_ECANCELED);
    }
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->pump, on_handle_closed);
}

int http_client_close(http_client_t *c, http_client_close_fn cb, void *userdata)
{
    if (c->closing)
        return MCP_ESTATE;
    c->closing = 1;
    c->close_cb = cb;
    c->close_ud = userdata;
    if (c->in_curl)
        c->close_deferred = 1; /* socket_action finishes the close when curl returns */
    else
        close_now(c);
    return 0;
}

size_t http_client_active(const http_client_t *c)
{
    return c->nactive;
}

/* ---- request setup ---- */

static int is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int is_token(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

int http_request_new(http_client_t *c, const char *method, const char *url, http_request_t **out)
{
    *out = NULL;
    if (!is_token(method) || !url ||
        (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) ||
        strpbrk(url, " \r\n"))
        return MCP_EINVAL;
    if (c->closing)
        return MCP_ESTATE;
    http_request_t *r = mcp_calloc(1, sizeof *r);
    if (!r)
        return MCP_ENOMEM;
    r->client = c;
    r->state = REQ_NEW;
    r->method = mcp_strdup(method);
    r->url = mcp_strdup(url);
    r->easy = curl_easy_init();
    buf_init(&r->resp_body, 0);
    if (!r->method || !r->url || !r->easy) {
        request_destroy(r);
        return MCP_ENOMEM;
    }
    *out = r;
    return 0;
}

void http_request_free(http_request_t *r)
{
    if (r && r->state == REQ_NEW)
        request_destroy(r);
}

int http_request_add_header(http_request_t *r, const char *name, const char *value)
{
    if (r->state != REQ_NEW)
        return MCP_ESTATE;
    if (!is_token(name) || !value || strpbrk(value, "\r\n"))
        return MCP_EINVAL;
    /* curl: "Name:" removes the header, "Name;" sends it empty */
    char *line = *value ? mcp_asprintf("%s: %s", name, value) : mcp_asprintf("%s:", name);
    if (!line)
        return MCP_ENOMEM;
    int rc = append_header(&r->req_headers, line);
    mcp_free(line);
    if (rc)
        return rc;
    if (strcasecmp(name, "Content-Type") == 0)
        r->has_content_type = 1;
    if (strcasecmp(name, "Expect") == 0)
        r->has_expect = 1;
    return 0;
}

int http_request_set_body_owned(http_request_t *r, char *data, size_t len)
{
    if (r->state != REQ_NEW)
        return MCP_ESTATE;
    if (!data && len)
        return MCP_EINVAL;
    mcp_free(r->body);
    r->body = data;
    r->body_len = len;
    r->has_body = 1;
    return 0;
}

int http_request_set_body(http_request_t *r, const void *data, size_t len)
{
    if (r->state != REQ_NEW)
        return MCP_ESTATE;
    if (!data && len)
        return MCP_EINVAL;
    char *copy = mcp_malloc(len + 1);
    if (!copy)
        return MCP_ENOMEM;
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    return http_request_set_body_owned(r, copy, len);
}

void http_request_set_timeouts(http_request_t *r, uint64_t deadline_ms, uint64_t connect_timeout_ms)
{
    r->deadline_ms = deadline_ms;
    r->connect_timeout_ms = connect_timeout_ms;
}

void http_request_set_max_body(http_request_t *r, size_t max)
{
    r->max_body = max;
}

void http_request_set_callbacks(http_request_t *r, http_head_fn on_head, http_body_fn on_body)
{
    r->on_head = on_head;
    r->on_body = on_body;
}

int http_request_start(http_request_t *r, http_done_fn done, void *userdata)
{
    http_client_t *c = r->client;
    if (!done)
        return MCP_EINVAL;
    if (r->state != REQ_NEW || c->closing)
        return MCP_ESTATE;
    r->done = done;
    r->userdata = userdata;
    r->start_us = clock_mono_us();
    if (c->in_curl) {
        /* curl_multi_add_handle is not allowed from inside curl's callbacks */
        r->state = REQ_QUEUED;
        pump_kick(c);
    } else {
        int rc = attach(c, r);
        if (rc)
            return rc;
    }
    reqs_link(c, r);
    c->nactive++;
    return 0;
}

int http_request_cancel(http_request_t *r)
{
    http_client_t *c = r->client;
    switch (r->state) {
    case REQ_QUEUED: move_to_done(c, r, MCP_ECANCELED); return 0;
    case REQ_ACTIVE:
        if (r->cancel_requested)
            return 0;
        if (c->in_curl) {
            r->cancel_requested = 1;
            pump_kick(c);
        } else {
            curl_multi_remove_handle(c->multi, r->easy);
            move_to_done(c, r, MCP_ECANCELED);
        }
        return 0;
    case REQ_DONE: return r->result == MCP_ECANCELED ? 0 : MCP_ESTATE;
    default: return MCP_ESTATE;
    }
}

/* ---- results ---- */

int http_request_status(const http_request_t *r)
{
    return r->head_done ? r->status : 0;
}

const char *http_request_header(const http_request_t *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

size_t http_request_header_count(const http_request_t *r)
{
    return r->nheaders;
}

int http_request_header_at(const http_request_t *r, size_t i, const char **name, const char **value)
{
    if (i >= r->nheaders)
        return MCP_EINVAL;
    *name = r->headers[i].name;
    *value = r->headers[i].value;
    return 0;
}

const char *http_request_body(const http_request_t *r, size_t *len)
{
    if (len)
        *len = r->resp_body.len;
    return r->resp_body.data ? r->resp_body.data : "";
}

char *http_request_take_body(http_request_t *r, size_t *len)
{
    return buf_detach(&r->resp_body, len);
}

const char *http_request_error(const http_request_t *r)
{
    return r->error ? r->error : "";
}

void *http_request_userdata(const http_request_t *r)
{
    return r->userdata;
}

const char *http_request_url(const http_request_t *r)
{
    return r->url;
}

const char *http_request_method(const http_request_t *r)
{
    return r->method;
}

uint64_t http_request_elapsed_us(const http_request_t *r)
{
    if (!r->start_us)
        return 0;
    return (r->end_us ? r->end_us : clock_mono_us()) - r->start_us;
}
