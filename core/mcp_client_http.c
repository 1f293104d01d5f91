#include "mcp_client_http.h"

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "log.h"
#include "mcp_proto.h"
#include "sse.h"

#include <curl/curl.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HT_DEFAULT_MAX_MESSAGE  (16u * 1024u * 1024u)
#define HT_DEFAULT_MAX_QUEUED   1024u
#define HT_DEFAULT_MAX_INFLIGHT 4096u
#define HT_DEFAULT_NOTIFY_MS    30000u
#define HT_DEFAULT_CLOSE_MS     2000u
#define HT_DEFAULT_RETRY_MS     1000u
#define HT_DEFAULT_RECONNECTS   3u
#define HT_MAX_BACKOFF_MS       30000u
#define HT_MAX_ERROR_BODY       (64u * 1024u)
#define HT_MAX_SESSION_ID       1024u
#define HT_ACCEPT_BOTH          "application/json, text/event-stream"
#define HT_ACCEPT_SSE           "text/event-stream"
#define HT_METHOD_INITIALIZE    "\"method\":\"initialize\""
#define HT_METHOD_INITIALIZED   "\"method\":\"notifications/initialized\""
#define HT_METHOD_CANCELLED     "\"method\":\"notifications/cancelled\""

typedef struct ht_s ht_t;

typedef enum {
    XK_POST,        /* Streamable HTTP: one message */
    XK_STANDALONE,  /* the standalone GET stream, or its reconnection */
    XK_RESUME,      /* GET with Last-Event-ID continuing the stream of one request */
    XK_DELETE,      /* ends the session on close */
    XK_LEGACY_GET,  /* the legacy SSE stream */
    XK_LEGACY_POST, /* legacy: one message to the endpoint */
} xkind_t;

typedef enum { BODY_DISCARD = 0, BODY_SSE, BODY_JSON, BODY_ERROR } body_mode_t;

/* One HTTP exchange, possibly preceded by a reconnection delay. Freed once its request has
 * completed and its timer is closed (never from inside one of its own callbacks). */
typedef struct xchg_s {
    ht_t *t;
    xkind_t kind;
    http_request_t *req; /* while the HTTP request runs */
    uv_timer_t timer;    /* reconnection delay */
    int timer_open;      /* initialised and its close callback not yet run */
    int cancelled;       /* results are ignored */
    jsonrpc_id_t id;     /* the request this exchange carries or resumes; NONE otherwise */
    char *text;          /* auto probe: the message, to resend through the legacy transport */
    size_t text_len;
    int is_init;          /* the POST of initialize: its response assigns the session */
    int carried_session;  /* Mcp-Session-Id was sent */
    int opens_standalone; /* the POST of notifications/initialized */
    int status;           /* HTTP status, 0 before the head */
    int fatal;            /* why an event callback stopped the stream (legacy endpoint) */
    body_mode_t body;
    sse_parser_t sse;
    int sse_inited;
    buf_t buf; /* JSON body, or the start of an error body */
    int answered;
    unsigned events;   /* SSE events on this connection (priming ones included) */
    unsigned attempts; /* reconnections in a row that brought nothing */
    char *last_id;     /* Last-Event-ID sent with this GET */
    long retry_ms;     /* the server's retry so far, -1 when none */
    struct xchg_s *prev, *next;
} xchg_t;

typedef struct qmsg_s {
    char *text;
    size_t len;
    jsonrpc_id_t id;
    struct qmsg_s *next;
} qmsg_t;

typedef struct {
    char *name;
    char *value;
} hdr_t;

struct ht_s {
    mcp_client_transport_t base; /* first: the client hands us back this pointer */
    mcp_client_t *client;        /* until reported closed */
    uv_loop_t *loop;
    char *name; /* the client's name, for logs */
    http_client_t *http;
    int own_http;
    mcp_client_http_mode_t mode;
    char *url;
    char *post_url; /* legacy: the resolved endpoint */
    char log_url[160];
    hdr_t *headers;
    size_t nheaders;
    char *session_id;
    const char *version; /* sent as MCP-Protocol-Version when set (static) */
    int want_standalone; /* open the GET stream after notifications/initialized */
    xchg_t *standalone;
    xchg_t *legacy_get;
    xchg_t *probe;
    qmsg_t *qhead, *qtail;
    size_t nq;
    xchg_t *xs;
    size_t nx;
    size_t max_message, max_queued, max_inflight;
    uint64_t connect_timeout_ms, notify_timeout_ms, close_timeout_ms, default_retry_ms;
    unsigned max_reconnects;
    int no_standalone;
    void (*on_standalone)(mcp_client_t *client, int status, void *userdata);
    void *userdata;
    int closing;   /* no new work; waiting for the exchanges */
    int reported;  /* mcp_client_on_transport_closed called */
    int finishing; /* the own http_client is closing */
    mcp_client_http_stats_t stats;
};

static const char *const kind_http = "http";
static const char *const kind_sse = "sse";

static int on_head(http_request_t *req, void *ud);
static int on_body(http_request_t *req, const char *data, size_t len, void *ud);
static void on_done(http_request_t *req, int result, void *ud);
static int on_sse_event(void *ud, const sse_event_t *ev);
static void maybe_finish(ht_t *t);
static void begin_close(ht_t *t, int reason);

/* ---- small helpers ---- */

/* scheme://host[:port]/path of a URL, without user info, query or fragment (they may hold
 * secrets), for logs. */
static void make_log_url(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    const char *host = p ? p + 3 : url;
    const char *slash = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(slash - host));
    if (at)
        host = at + 1;
    size_t path_len = strcspn(slash, "?#");
    snprintf(out, cap, "%.*s%.*s%.*s", p ? (int)(p + 3 - url) : 0, url, (int)(slash - host), host,
             (int)path_len, slash);
}

/* 1 when the Content-Type value names `type` (parameters and case ignored). */
static int ct_is(const char *ct, const char *type)
{
    if (!ct)
        return 0;
    size_t n = strlen(type);
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return strncasecmp(ct, type, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

static int status_ok(int st)
{
    return st >= 200 && st < 300;
}

/* Visible ASCII only (0x21-0x7E), as the spec requires of session ids. */
static int valid_session_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
            return 0;
    return n > 0 && n <= HT_MAX_SESSION_ID;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

/* s[i] is '"': the index after the closing quote, or n. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

static size_t skip_value(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, n, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, n, i);
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_ws(s[i]))
        i++;
    return i;
}

static int parse_int(const char *s, size_t n, size_t i, int64_t *out)
{
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    size_t start = i;
    int64_t v = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 18)
        v = v * 10 + (s[i++] - '0');
    if (i == start ||
        (i < n && (s[i] == '.' || s[i] == 'e' || s[i] == 'E' || (s[i] >= '0' && s[i] <= '9'))))
        return 0;
    *out = neg ? -v : v;
    return 1;
}

enum { SCAN_OTHER = 0, SCAN_RESPONSE, SCAN_BATCH };

/* Is this message text a response, and to which integer id? A look at the top-level members
 * only, without building a tree: the session parses the message anyway; the transport only
 * needs to know whether a stream brought the response it was opened for. */
static int scan_response(const char *s, size_t n, int64_t *id)
{
    size_t i = skip_ws(s, n, 0);
    if (i < n && s[i] == '[')
        return SCAN_BATCH;
    if (i >= n || s[i] != '{')
        return SCAN_OTHER;
    int is_resp = 0, has_id = 0;
    int64_t v = 0;
    i = skip_ws(s, n, i + 1);
    while (i < n && s[i] == '"') {
        size_t k = i + 1;
        size_t end = skip_string(s, n, i);
        if (end >= n)
            return SCAN_OTHER;
        size_t klen = end - 1 - k;
        i = skip_ws(s, n, end);
        if (i >= n || s[i] != ':')
            return SCAN_OTHER;
        i = skip_ws(s, n, i + 1);
        if (klen == 2 && memcmp(s + k, "id", 2) == 0)
            has_id = parse_int(s, n, i, &v);
        else if ((klen == 6 && memcmp(s + k, "result", 6) == 0) ||
                 (klen == 5 && memcmp(s + k, "error", 5) == 0))
            is_resp = 1;
        i = skip_ws(s, n, skip_value(s, n, i));
        if (i < n && s[i] == ',') {
            i = skip_ws(s, n, i + 1);
            continue;
        }
        break;
    }
    if (!is_resp || !has_id)
        return SCAN_OTHER;
    *id = v;
    return SCAN_RESPONSE;
}

static int id_is(const jsonrpc_id_t *id, int64_t num)
{
    return id->type == JSONRPC_ID_INT && id->num == num;
}

/* ---- talking to the client ---- */

static int alive(const ht_t *t)
{
    return t->client && !t->closing;
}

static void deliver(ht_t *t, const char *data, size_t len)
{
    if (alive(t))
        mcp_client_on_message(t->client, data, len);
}

static void send_failed(ht_t *t, const jsonrpc_id_t *id, int err)
{
    if (alive(t) && id && id->type != JSONRPC_ID_NONE)
        mcp_client_on_send_failed(t->client, id, err);
}

static void standalone_settled(ht_t *t, int status)
{
    if (alive(t) && t->on_standalone)
        t->on_standalone(t->client, status, t->userdata);
}

static void report_closed(ht_t *t, int reason)
{
    if (t->reported)
        return;
    t->reported = 1;
    mcp_client_t *c = t->client;
    t->client = NULL;
    if (c)
        mcp_client_on_transport_closed(c, reason);
}

/* ---- exchanges ---- */

static xchg_t *x_new(ht_t *t, xkind_t kind, const jsonrpc_id_t *id)
{
    xchg_t *x = mcp_calloc(1, sizeof *x);
    if (!x)
        return NULL;
    if (id && id->type != JSONRPC_ID_NONE && jsonrpc_id_copy(&x->id, id) != 0) {
        mcp_free(x);
        return NULL;
    }
    x->t = t;
    x->kind = kind;
    x->retry_ms = -1;
    buf_init(&x->buf, t->max_message);
    x->next = t->xs;
    if (t->xs)
        t->xs->prev = x;
    t->xs = x;
    t->nx++;
    return x;
}

/* Free x when nothing refers to it any more. */
static void x_release(xchg_t *x)
{
    if (x->req || x->timer_open)
        return;
    ht_t *t = x->t;
    if (x->prev)
        x->prev->next = x->next;
    else
        t->xs = x->next;
    if (x->next)
        x->next->prev = x->prev;
    t->nx--;
    if (t->standalone == x)
        t->standalone = NULL;
    if (t->legacy_get == x)
        t->legacy_get = NULL;
    if (t->probe == x)
        t->probe = NULL;
    if (x->sse_inited)
        sse_parser_free(&x->sse);
    buf_free(&x->buf);
    jsonrpc_id_free(&x->id);
    mcp_free(x->text);
    mcp_free(x->last_id);
    mcp_free(x);
    maybe_finish(t);
}

static void on_timer_closed(uv_handle_t *h)
{
    xchg_t *x = h->data;
    x->timer_open = 0;
    x_release(x);
}

static void x_close_timer(xchg_t *x)
{
    if (x->timer_open && !uv_is_closing((uv_handle_t *)&x->timer)) {
        uv_timer_stop(&x->timer);
        uv_close((uv_handle_t *)&x->timer, on_timer_closed);
    }
}

/* Stop x: its request completes with MCP_ECANCELED (later) and nothing more is done for it. */
static void x_cancel(xchg_t *x)
{
    x->cancelled = 1;
    if (x->req)
        http_request_cancel(x->req);
    x_close_timer(x);
}

enum {
    RQ_ACCEPT_BOTH = 1u,
    RQ_ACCEPT_SSE = 2u,
    RQ_JSON = 4u,    /* body is JSON */
    RQ_SESSION = 8u, /* Mcp-Session-Id and MCP-Protocol-Version */
};

/* Build and start x's HTTP request. 0, or an error with nothing started. */
static int x_start(ht_t *t, xchg_t *x, const char *method, const char *url, const char *body,
                   size_t len, unsigned flags, uint64_t deadline_ms)
{
    http_request_t *req;
    int rc = http_request_new(t->http, method, url, &req);
    if (rc)
        return rc;
    int carried = 0;
    if (flags & RQ_ACCEPT_BOTH)
        rc = http_request_add_header(req, "Accept", HT_ACCEPT_BOTH);
    else if (flags & RQ_ACCEPT_SSE)
        rc = http_request_add_header(req, "Accept", HT_ACCEPT_SSE);
    if (!rc && (flags & RQ_JSON)) {
        rc = http_request_add_header(req, "Content-Type", "application/json");
        if (!rc)
            rc = http_request_set_body(req, body, len);
    }
    if (!rc && (flags & RQ_SESSION)) {
        if (t->session_id) {
            rc = http_request_add_header(req, "Mcp-Session-Id", t->session_id);
            carried = 1;
        }
        if (!rc && t->version)
            rc = http_request_add_header(req, "MCP-Protocol-Version", t->version);
    }
    if (!rc && x->last_id && *x->last_id)
        rc = http_request_add_header(req, "Last-Event-ID", x->last_id);
    for (size_t i = 0; !rc && i < t->nheaders; i++)
        rc = http_request_add_header(req, t->headers[i].name, t->headers[i].value);
    if (!rc) {
        http_request_set_timeouts(req, deadline_ms, t->connect_timeout_ms);
        http_request_set_callbacks(req, on_head, on_body);
        rc = http_request_start(req, on_done, x);
    }
    if (rc) {
        http_request_free(req);
        return rc;
    }
    x->req = req;
    x->carried_session = carried;
    x->status = 0;
    x->body = BODY_DISCARD;
    x->events = 0;
    if (strcmp(method, "POST") == 0)
        t->stats.posts++;
    else if (strcmp(method, "GET") == 0)
        t->stats.gets++;
    else
        t->stats.deletes++;
    if (x->last_id && *x->last_id)
        t->stats.resumes++;
    return 0;
}

/* ---- sending ---- */

/* 1 when the message's method is `method`. mcp_client's messages (jsonrpc_build_*) put "jsonrpc",
 * "id" and "method" before "params", so the first "method" member is the message's own. */
static int method_is(const char *json, size_t len, const char *method)
{
    const char *p = memmem(json, len, "\"method\":\"", 10);
    if (!p)
        return 0;
    p += 10;
    size_t rest = len - (size_t)(p - json), n = strlen(method);
    return rest > n && memcmp(p, method, n) == 0 && p[n] == '"';
}

/* The session gave up on a request (deadline or cancel): stop its POST stream or resumption. */
static void abort_cancelled(ht_t *t, const char *json, size_t len)
{
    cJSON *msg = cJSON_ParseWithLength(json, len);
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(msg, "params"), "requestId");
    const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "method"));
    if (cJSON_IsNumber(rid) && method && strcmp(method, MCP_NOTIFY_CANCELLED) == 0) {
        int64_t id = (int64_t)rid->valuedouble;
        for (xchg_t *x = t->xs; x; x = x->next)
            if ((x->kind == XK_POST || x->kind == XK_RESUME) && !x->cancelled && id_is(&x->id, id))
                x_cancel(x);
    }
    cJSON_Delete(msg);
}

static int post_message(ht_t *t, const char *json, size_t len, const jsonrpc_id_t *id, int probe)
{
    xchg_t *x = x_new(t, XK_POST, id);
    if (!x)
        return MCP_ENOMEM;
    if (id) {
        x->is_init = method_is(json, len, MCP_METHOD_INITIALIZE);
    } else if (t->want_standalone && method_is(json, len, MCP_NOTIFY_INITIALIZED)) {
        t->want_standalone = 0;
        x->opens_standalone = 1;
    }
    if (probe && !(x->text = mcp_strndup(json, len))) {
        x_release(x);
        return MCP_ENOMEM;
    }
    x->text_len = len;
    int rc = x_start(t, x, "POST", t->url, json, len, RQ_ACCEPT_BOTH | RQ_JSON | RQ_SESSION,
                     id ? 0 : t->notify_timeout_ms);
    if (rc) {
        x_release(x);
        return rc;
    }
    if (probe)
        t->probe = x;
    if (!id && method_is(json, len, MCP_NOTIFY_CANCELLED))
        abort_cancelled(t, json, len);
    return 0;
}

static int legacy_post(ht_t *t, const char *json, size_t len, const jsonrpc_id_t *id)
{
    xchg_t *x = x_new(t, XK_LEGACY_POST, id);
    if (!x)
        return MCP_ENOMEM;
    int rc = x_start(t, x, "POST", t->post_url, json, len, RQ_JSON, id ? 0 : t->notify_timeout_ms);
    if (rc)
        x_release(x);
    return rc;
}

/* Send now, in the mode already decided. */
static int send_now(ht_t *t, const char *json, size_t len, const jsonrpc_id_t *id)
{
    if (t->nx >= t->max_inflight)
        return MCP_ENOBUFS;
    if (t->mode == MCP_HTTP_SSE)
        return legacy_post(t, json, len, id);
    return post_message(t, json, len, id, t->mode == MCP_HTTP_AUTO);
}

static void q_free(qmsg_t *q)
{
    jsonrpc_id_free(&q->id);
    mcp_free(q->text);
    mcp_free(q);
}

static qmsg_t *q_make(char *text, size_t len, const jsonrpc_id_t *id)
{
    qmsg_t *q = mcp_calloc(1, sizeof *q);
    if (!q)
        return NULL;
    if (id && id->type != JSONRPC_ID_NONE && jsonrpc_id_copy(&q->id, id) != 0) {
        mcp_free(q);
        return NULL;
    }
    q->text = text;
    q->len = len;
    return q;
}

static int enqueue(ht_t *t, const char *json, size_t len, const jsonrpc_id_t *id)
{
    if (t->nq >= t->max_queued)
        return MCP_ENOBUFS;
    char *text = mcp_strndup(json, len);
    qmsg_t *q = text ? q_make(text, len, id) : NULL;
    if (!q) {
        mcp_free(text);
        return MCP_ENOMEM;
    }
    if (t->qtail)
        t->qtail->next = q;
    else
        t->qhead = q;
    t->qtail = q;
    t->nq++;
    return 0;
}

static void drop_queue(ht_t *t)
{
    while (t->qhead) {
        qmsg_t *q = t->qhead;
        t->qhead = q->next;
        q_free(q);
    }
    t->qtail = NULL;
    t->nq = 0;
}

/* Send what waited for the mode or the endpoint. */
static void flush_queue(ht_t *t)
{
    while (t->qhead && alive(t)) {
        qmsg_t *q = t->qhead;
        t->qhead = q->next;
        if (!t->qhead)
            t->qtail = NULL;
        t->nq--;
        int rc = send_now(t, q->text, q->len, &q->id);
        if (rc) {
            LOG_W("mcp_client", "cannot send queued message", "name=%s url=%s err=%s",
                  log_quote(t->name), log_quote(t->log_url), mcp_err_name(rc));
            send_failed(t, &q->id, rc);
        }
        q_free(q);
    }
}

/* ---- reconnection ---- */

static void on_reconnect_timer(uv_timer_t *timer)
{
    xchg_t *x = timer->data;
    ht_t *t = x->t;
    x_close_timer(x);
    if (x->cancelled || !alive(t))
        return;
    int rc = x_start(t, x, "GET", t->url, NULL, 0, RQ_ACCEPT_SSE | RQ_SESSION, 0);
    if (rc) {
        LOG_W("mcp_client", "cannot reconnect SSE stream", "name=%s url=%s err=%s",
              log_quote(t->name), log_quote(t->log_url), mcp_err_name(rc));
        if (x->kind == XK_RESUME)
            send_failed(t, &x->id, rc);
        x->cancelled = 1;
    }
}

/* GET the endpoint again after the retry delay, with Last-Event-ID when one is known. */
static int schedule_get(ht_t *t, xkind_t kind, const jsonrpc_id_t *id, const char *last_id,
                        long retry_ms, unsigned attempts)
{
    xchg_t *x = x_new(t, kind, id);
    if (!x)
        return MCP_ENOMEM;
    if (last_id && *last_id && !(x->last_id = mcp_strdup(last_id))) {
        x_release(x);
        return MCP_ENOMEM;
    }
    x->retry_ms = retry_ms;
    x->attempts = attempts;
    uint64_t delay;
    if (retry_ms >= 0) {
        delay = (uint64_t)retry_ms;
    } else {
        delay = t->default_retry_ms;
        for (unsigned i = 0; i < attempts && delay < HT_MAX_BACKOFF_MS; i++)
            delay += delay / 2;
        if (delay > HT_MAX_BACKOFF_MS)
            delay = HT_MAX_BACKOFF_MS;
    }
    uv_timer_init(t->loop, &x->timer);
    x->timer.data = x;
    x->timer_open = 1;
    uv_timer_start(&x->timer, on_reconnect_timer, delay, 0);
    if (kind == XK_STANDALONE)
        t->standalone = x;
    LOG_D("mcp_client", "SSE stream ended, reconnecting", "name=%s delay_ms=%llu last_event_id=%s",
          log_quote(t->name), (unsigned long long)delay, log_quote(x->last_id ? x->last_id : ""));
    return 0;
}

/* A stream ended (or a reconnection failed to connect). Returns 1 when a reconnection was
 * scheduled, 0 when there is nothing to resume with or the attempts are used up. */
static int try_reconnect(ht_t *t, xchg_t *x, xkind_t kind)
{
    const char *lid = x->sse_inited ? sse_parser_last_id(&x->sse) : "";
    if (!*lid && x->last_id)
        lid = x->last_id;
    long retry =
        x->sse_inited && sse_parser_retry(&x->sse) >= 0 ? sse_parser_retry(&x->sse) : x->retry_ms;
    int progress = x->events > 0 || (*lid && (!x->last_id || strcmp(lid, x->last_id) != 0));
    unsigned attempts = progress ? 0 : x->attempts + 1;
    if (kind == XK_RESUME && !*lid)
        return 0; /* nothing identifies where to resume */
    if (attempts > t->max_reconnects)
        return 0;
    return schedule_get(t, kind, &x->id, lid, retry, attempts) == 0;
}

/* ---- the standalone GET stream ---- */

static void open_standalone(ht_t *t)
{
    if (t->no_standalone || !alive(t) || t->standalone || t->mode != MCP_HTTP_STREAMABLE)
        return;
    xchg_t *x = x_new(t, XK_STANDALONE, NULL);
    if (!x)
        return;
    int rc = x_start(t, x, "GET", t->url, NULL, 0, RQ_ACCEPT_SSE | RQ_SESSION, 0);
    if (rc) {
        LOG_D("mcp_client", "no standalone stream", "name=%s err=%s", log_quote(t->name),
              mcp_err_name(rc));
        x_release(x);
        standalone_settled(t, rc);
        return;
    }
    t->standalone = x;
}

/* ---- legacy endpoint ---- */

static int origin_part(CURLU *u, CURLUPart part, unsigned flags, char **out)
{
    return curl_url_get(u, part, out, flags) == CURLUE_OK ? 0 : MCP_EPROTO;
}

/* Resolve the endpoint event's data against the SSE URL; refuse another origin. */
static int resolve_endpoint(const char *base, const char *data, size_t len, char **out)
{
    while (len && is_ws(*data)) {
        data++;
        len--;
    }
    while (len && is_ws(data[len - 1]))
        len--;
    if (len == 0)
        return MCP_EPROTO;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)data[i] <= 0x20 || data[i] == 0x7f)
            return MCP_EPROTO;
    char *rel = mcp_strndup(data, len);
    if (!rel)
        return MCP_ENOMEM;
    int rc = MCP_EPROTO;
    char *parts[6] = {0};
    CURLU *b = curl_url(), *u = curl_url();
    if (!b || !u) {
        rc = MCP_ENOMEM;
        goto done;
    }
    if (curl_url_set(b, CURLUPART_URL, base, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_URL, rel, 0) != CURLUE_OK)
        goto done;
    if (origin_part(b, CURLUPART_SCHEME, 0, &parts[0]) ||
        origin_part(b, CURLUPART_HOST, 0, &parts[1]) ||
        origin_part(b, CURLUPART_PORT, CURLU_DEFAULT_PORT, &parts[2]) ||
        origin_part(u, CURLUPART_SCHEME, 0, &parts[3]) ||
        origin_part(u, CURLUPART_HOST, 0, &parts[4]) ||
        origin_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT, &parts[5]))
        goto done;
    if (strcasecmp(parts[0], parts[3]) != 0 || strcasecmp(parts[1], parts[4]) != 0 ||
        strcmp(parts[2], parts[5]) != 0) {
        rc = MCP_EDENIED;
        goto done;
    }
    char *full = NULL;
    if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
        goto done;
    *out = mcp_strdup(full);
    curl_free(full);
    rc = *out ? 0 : MCP_ENOMEM;
done:
    for (int i = 0; i < 6; i++)
        curl_free(parts[i]);
    curl_url_cleanup(b);
    curl_url_cleanup(u);
    mcp_free(rel);
    return rc;
}

static int legacy_endpoint(ht_t *t, xchg_t *x, const char *data, size_t len)
{
    if (t->post_url) {
        LOG_D("mcp_client", "another endpoint event ignored", "name=%s", log_quote(t->name));
        return 0;
    }
    char *resolved = NULL;
    int rc = resolve_endpoint(t->url, data, len, &resolved);
    if (rc) {
        LOG_E("mcp_client",
              rc == MCP_EDENIED ? "SSE endpoint of another origin refused" : "bad SSE endpoint",
              "name=%s url=%s err=%s", log_quote(t->name), log_quote(t->log_url), mcp_err_name(rc));
        x->fatal = rc;
        return rc;
    }
    t->post_url = resolved;
    char shown[160];
    make_log_url(resolved, shown, sizeof shown);
    LOG_D("mcp_client", "SSE endpoint", "name=%s endpoint=%s", log_quote(t->name),
          log_quote(shown));
    flush_queue(t);
    return alive(t) ? 0 : MCP_ECANCELED;
}

/* ---- HTTP callbacks ---- */

/* A response that is not for x's own request: it may finish a request whose stream broke. */
static void note_foreign_response(ht_t *t, xchg_t *x, int64_t rid)
{
    for (xchg_t *y = t->xs; y; y = y->next) {
        if (y == x || !id_is(&y->id, rid) || (y->kind != XK_POST && y->kind != XK_RESUME))
            continue;
        y->answered = 1;
        if (y->kind == XK_RESUME)
            x_cancel(y);
    }
}

static int on_sse_event(void *ud, const sse_event_t *ev)
{
    xchg_t *x = ud;
    ht_t *t = x->t;
    x->events++;
    if (x->cancelled || !alive(t))
        return MCP_ECANCELED;
    if (x->kind == XK_LEGACY_GET && strcmp(ev->type, "endpoint") == 0)
        return legacy_endpoint(t, x, ev->data, ev->data_len);
    if (strcmp(ev->type, "message") != 0) {
        LOG_D("mcp_client", "SSE event of another type ignored", "name=%s type=%s",
              log_quote(t->name), log_quote(ev->type));
        return 0;
    }
    if (ev->data_len == 0)
        return 0; /* priming event: only its id matters */
    if (x->kind != XK_LEGACY_GET) {
        int64_t rid;
        int r = scan_response(ev->data, ev->data_len, &rid);
        if (r == SCAN_BATCH && x->id.type != JSONRPC_ID_NONE)
            x->answered = 1;
        else if (r == SCAN_RESPONSE && id_is(&x->id, rid))
            x->answered = 1;
        else if (r == SCAN_RESPONSE)
            note_foreign_response(t, x, rid);
    }
    deliver(t, ev->data, ev->data_len);
    if (x->cancelled || !alive(t))
        return MCP_ECANCELED;
    if (x->kind == XK_RESUME && x->answered)
        return MCP_ECANCELED; /* the continuation served its purpose */
    return 0;
}

static void capture_session(ht_t *t, xchg_t *x, http_request_t *req)
{
    const char *sid = http_request_header(req, "Mcp-Session-Id");
    /* Assigned with the InitializeResult; later responses of an old session must not
     * overwrite the id of a new one. */
    if (!sid || !*sid || (!x->is_init && t->session_id))
        return;
    if (t->session_id && strcmp(t->session_id, sid) == 0)
        return;
    if (!valid_session_id(sid)) {
        LOG_W("mcp_client", "invalid Mcp-Session-Id ignored", "name=%s url=%s", log_quote(t->name),
              log_quote(t->log_url));
        return;
    }
    char *copy = mcp_strdup(sid);
    if (!copy)
        return;
    mcp_free(t->session_id);
    t->session_id = copy;
}

static int on_head(http_request_t *req, void *ud)
{
    xchg_t *x = ud;
    ht_t *t = x->t;
    x->status = http_request_status(req);
    if (x->cancelled || (t->closing && x->kind != XK_DELETE))
        return MCP_ECANCELED;
    int ok = status_ok(x->status);
    const char *ct = http_request_header(req, "Content-Type");
    int is_sse = ct_is(ct, "text/event-stream");
    switch (x->kind) {
    case XK_POST:
        if (x == t->probe) {
            if (x->status == 400 || x->status == 404 || x->status == 405)
                return MCP_EHTTP; /* not Streamable HTTP: fall back (on_done) */
            if (t->mode == MCP_HTTP_AUTO) {
                t->mode = MCP_HTTP_STREAMABLE;
                t->probe = NULL;
                flush_queue(t);
            }
        }
        if (!ok) {
            x->body = x->id.type != JSONRPC_ID_NONE ? BODY_ERROR : BODY_DISCARD;
            break;
        }
        capture_session(t, x, req);
        if (x->id.type == JSONRPC_ID_NONE)
            x->body = BODY_DISCARD; /* 202, or a body nobody asked for (tolerated) */
        else if (is_sse)
            x->body = BODY_SSE;
        else if (x->status != 202 && x->status != 204)
            x->body = BODY_JSON; /* application/json, or a server that mislabels it */
        break;
    case XK_LEGACY_POST: x->body = ok ? BODY_DISCARD : BODY_ERROR; break;
    case XK_DELETE: x->body = BODY_DISCARD; break;
    case XK_STANDALONE:
    case XK_RESUME:
    case XK_LEGACY_GET:
        if (!ok || !is_sse)
            return MCP_EHTTP;
        x->body = BODY_SSE;
        break;
    }
    if (x->body == BODY_SSE) {
        sse_parser_init(&x->sse, t->max_message, on_sse_event, x); /* one per connection */
        x->sse_inited = 1;
    }
    if (x->kind == XK_STANDALONE) {
        standalone_settled(t, 0);
        if (x->cancelled || !alive(t))
            return MCP_ECANCELED;
    }
    return 0;
}

static int on_body(http_request_t *req, const char *data, size_t len, void *ud)
{
    xchg_t *x = ud;
    (void)req;
    if (x->cancelled)
        return MCP_ECANCELED;
    switch (x->body) {
    case BODY_SSE: {
        int rc = sse_parser_feed(&x->sse, data, len);
        return rc > 0 ? MCP_ECANCELED : rc;
    }
    case BODY_JSON: return buf_append(&x->buf, data, len);
    case BODY_ERROR:
        if (x->buf.len < HT_MAX_ERROR_BODY) {
            size_t room = HT_MAX_ERROR_BODY - x->buf.len;
            buf_append(&x->buf, data, len < room ? len : room);
        }
        return 0;
    default: return 0;
    }
}

static void log_http_error(ht_t *t, xchg_t *x, const char *method, const char *what)
{
    t->stats.http_errors++;
    LOG_W("mcp_client", what, "name=%s method=%s url=%s status=%d body=%s", log_quote(t->name),
          method, log_quote(t->log_url), x->status, log_quote(x->buf.data ? x->buf.data : ""));
}

/* An error status for a request: its JSON-RPC error when the body is one for that request
 * (the clearest error there is), else MCP_EHTTP. */
static void fail_request_status(ht_t *t, xchg_t *x)
{
    int64_t rid;
    if (x->buf.len && scan_response(x->buf.data, x->buf.len, &rid) == SCAN_RESPONSE &&
        id_is(&x->id, rid)) {
        deliver(t, x->buf.data, x->buf.len);
        return;
    }
    send_failed(t, &x->id, MCP_EHTTP);
}

static void fallback_to_legacy(ht_t *t, xchg_t *x);

static void done_post(ht_t *t, xchg_t *x, int result)
{
    int st = x->status;
    int is_req = x->id.type != JSONRPC_ID_NONE;
    if (x == t->probe) {
        t->probe = NULL;
        if (st == 400 || st == 404 || st == 405) {
            fallback_to_legacy(t, x);
            return;
        }
        if (t->mode == MCP_HTTP_AUTO) { /* no answer at all: stay with Streamable HTTP */
            t->mode = MCP_HTTP_STREAMABLE;
            flush_queue(t);
        }
    }
    if (st == 0) {
        if (is_req) {
            send_failed(t, &x->id, result ? result : MCP_ECLOSED);
        } else {
            LOG_W("mcp_client", "message not delivered", "name=%s url=%s err=%s",
                  log_quote(t->name), log_quote(t->log_url), mcp_err_name(result));
        }
        return;
    }
    if (status_ok(st)) {
        if (x->body == BODY_JSON && result == 0 && x->buf.len)
            deliver(t, x->buf.data, x->buf.len);
        if (x->opens_standalone && result == 0)
            open_standalone(t);
        if (!is_req || x->answered || !alive(t))
            return;
        if (x->body == BODY_SSE) {
            /* An oversized event would come back on every resumption. */
            if (result == MCP_ENOBUFS || !try_reconnect(t, x, XK_RESUME)) {
                LOG_W("mcp_client", "SSE stream ended without the response", "name=%s url=%s",
                      log_quote(t->name), log_quote(t->log_url));
                send_failed(t, &x->id, result ? result : MCP_ECLOSED);
            }
        } else if (result) {
            send_failed(t, &x->id, result);
        }
        return;
    }
    if (st == 404 && x->carried_session) {
        t->stats.expired++;
        LOG_I("mcp_client", "session expired (404)", "name=%s url=%s", log_quote(t->name),
              log_quote(t->log_url));
        if (alive(t))
            mcp_client_on_session_expired(t->client, is_req ? &x->id : NULL);
        return;
    }
    log_http_error(t, x, "POST", "HTTP error status");
    if (is_req)
        fail_request_status(t, x);
}

static void done_get(ht_t *t, xchg_t *x, int result)
{
    int st = x->status;
    if (x->kind == XK_STANDALONE) {
        if (t->standalone != x)
            return;
        if (st && !(status_ok(st) && x->body == BODY_SSE)) {
            LOG_D("mcp_client", "no standalone stream", "name=%s status=%d", log_quote(t->name),
                  st);
            standalone_settled(t, MCP_EHTTP);
            return;
        }
        if (!st)
            standalone_settled(t, result ? result : MCP_ECLOSED);
        t->standalone = NULL;
        if (alive(t) && (result == MCP_ENOBUFS || !try_reconnect(t, x, XK_STANDALONE)))
            LOG_D("mcp_client", "standalone stream given up", "name=%s", log_quote(t->name));
        return;
    }
    /* XK_RESUME */
    if (x->answered || !alive(t))
        return;
    if (st && !(status_ok(st) && x->body == BODY_SSE)) {
        if (st == 404 && x->carried_session) {
            t->stats.expired++;
            mcp_client_on_session_expired(t->client, &x->id);
            return;
        }
        log_http_error(t, x, "GET", "cannot resume SSE stream");
        send_failed(t, &x->id, MCP_EHTTP);
        return;
    }
    if (result == MCP_ENOBUFS || !try_reconnect(t, x, XK_RESUME)) {
        LOG_W("mcp_client", "resumed SSE stream ended without the response", "name=%s url=%s",
              log_quote(t->name), log_quote(t->log_url));
        send_failed(t, &x->id, result && result != MCP_EHTTP ? result : MCP_ECLOSED);
    }
}

static void self_close(ht_t *t, int reason)
{
    if (t->closing)
        return;
    report_closed(t, reason);
    begin_close(t, reason);
}

static void done_legacy_get(ht_t *t, xchg_t *x, int result)
{
    int st = x->status;
    int reason;
    if (x->fatal) {
        reason = x->fatal;
    } else if (st && !(status_ok(st) && x->body == BODY_SSE)) {
        log_http_error(t, x, "GET", "SSE stream refused");
        reason = MCP_EHTTP;
    } else if (!st) {
        LOG_W("mcp_client", "cannot open SSE stream", "name=%s url=%s err=%s", log_quote(t->name),
              log_quote(t->log_url), mcp_err_name(result));
        reason = result ? result : MCP_ECLOSED;
    } else {
        LOG_W("mcp_client", "SSE stream ended", "name=%s url=%s", log_quote(t->name),
              log_quote(t->log_url));
        reason = MCP_ECLOSED;
    }
    self_close(t, reason);
}

static void done_legacy_post(ht_t *t, xchg_t *x, int result)
{
    int is_req = x->id.type != JSONRPC_ID_NONE;
    if (!x->status) {
        if (is_req)
            send_failed(t, &x->id, result ? result : MCP_ECLOSED);
        else
            LOG_W("mcp_client", "message not delivered", "name=%s url=%s err=%s",
                  log_quote(t->name), log_quote(t->log_url), mcp_err_name(result));
        return;
    }
    if (status_ok(x->status))
        return;
    log_http_error(t, x, "POST", "HTTP error status");
    if (is_req)
        send_failed(t, &x->id, MCP_EHTTP);
}

static void on_done(http_request_t *req, int result, void *ud)
{
    xchg_t *x = ud;
    ht_t *t = x->t;
    (void)req;
    x->req = NULL;
    if (x->body == BODY_SSE && result == 0)
        sse_parser_finish(&x->sse); /* an unfinished event is dropped (WHATWG) */
    if (!x->cancelled) {
        switch (x->kind) {
        case XK_POST: done_post(t, x, result); break;
        case XK_STANDALONE:
        case XK_RESUME: done_get(t, x, result); break;
        case XK_DELETE:
            if (x->status && !status_ok(x->status) && x->status != 405)
                LOG_D("mcp_client", "DELETE refused", "name=%s status=%d", log_quote(t->name),
                      x->status);
            break;
        case XK_LEGACY_GET:
            if (!t->closing)
                done_legacy_get(t, x, result);
            break;
        case XK_LEGACY_POST: done_legacy_post(t, x, result); break;
        }
    }
    x_release(x);
}

/* ---- auto fallback ---- */

static void fallback_to_legacy(ht_t *t, xchg_t *x)
{
    t->stats.fallbacks++;
    t->mode = MCP_HTTP_SSE;
    t->base.kind = kind_sse;
    LOG_I("mcp_client", "no Streamable HTTP, using HTTP+SSE", "name=%s url=%s status=%d",
          log_quote(t->name), log_quote(t->log_url), x->status);
    /* the probe's message goes first, through the new transport */
    qmsg_t *q = q_make(x->text, x->text_len, &x->id);
    if (!q) {
        send_failed(t, &x->id, MCP_ENOMEM);
    } else {
        x->text = NULL;
        q->next = t->qhead;
        t->qhead = q;
        if (!t->qtail)
            t->qtail = q;
        t->nq++;
    }
    xchg_t *g = x_new(t, XK_LEGACY_GET, NULL);
    int rc = g ? x_start(t, g, "GET", t->url, NULL, 0, RQ_ACCEPT_SSE, 0) : MCP_ENOMEM;
    if (rc) {
        if (g)
            x_release(g);
        self_close(t, rc);
        return;
    }
    t->legacy_get = g;
}

/* ---- close ---- */

static void finalize(ht_t *t)
{
    report_closed(t, 0);
    drop_queue(t);
    for (size_t i = 0; i < t->nheaders; i++) {
        mcp_free(t->headers[i].name);
        mcp_free(t->headers[i].value);
    }
    mcp_free(t->headers);
    mcp_free(t->session_id);
    mcp_free(t->post_url);
    mcp_free(t->url);
    mcp_free(t->name);
    mcp_free(t);
}

static void on_http_closed(http_client_t *http, void *ud)
{
    (void)http;
    finalize(ud);
}

static void maybe_finish(ht_t *t)
{
    if (!t->closing || t->nx || t->finishing)
        return;
    t->finishing = 1;
    if (t->own_http)
        http_client_close(t->http, on_http_closed, t);
    else
        finalize(t);
}

static void begin_close(ht_t *t, int reason)
{
    if (t->closing)
        return;
    drop_queue(t);
    xchg_t *del = NULL;
    if (reason == 0 && t->mode == MCP_HTTP_STREAMABLE && t->session_id &&
        (del = x_new(t, XK_DELETE, NULL)) != NULL) {
        int rc = x_start(t, del, "DELETE", t->url, NULL, 0, RQ_SESSION, t->close_timeout_ms);
        if (rc) {
            LOG_D("mcp_client", "cannot send DELETE", "name=%s err=%s", log_quote(t->name),
                  mcp_err_name(rc));
            x_release(del); /* not closing yet: this cannot finish the transport */
            del = NULL;
        }
    }
    t->closing = 1;
    for (xchg_t *x = t->xs; x; x = x->next)
        if (x != del)
            x_cancel(x);
    maybe_finish(t);
}

/* ---- transport ops ---- */

static int ht_send(mcp_client_transport_t *bt, const char *json, size_t len,
                   const jsonrpc_id_t *request_id)
{
    ht_t *t = (ht_t *)bt;
    if (!alive(t))
        return MCP_ECLOSED;
    if ((t->mode == MCP_HTTP_AUTO && t->probe) || (t->mode == MCP_HTTP_SSE && !t->post_url))
        return enqueue(t, json, len, request_id);
    return send_now(t, json, len, request_id);
}

static void ht_close(mcp_client_transport_t *bt)
{
    begin_close((ht_t *)bt, 0);
}

static void ht_set_protocol_version(mcp_client_transport_t *bt, const char *version)
{
    ht_t *t = (ht_t *)bt;
    t->version = mcp_version_has_protocol_header(version) ? version : NULL;
    t->want_standalone = 1;
}

static void ht_reset_session(mcp_client_transport_t *bt)
{
    ht_t *t = (ht_t *)bt;
    mcp_free(t->session_id);
    t->session_id = NULL;
    t->version = NULL;
    t->want_standalone = 0;
    if (t->standalone) {
        x_cancel(t->standalone);
        t->standalone = NULL;
    }
}

static const mcp_client_transport_ops_t ht_ops = {
    .send = ht_send,
    .close = ht_close,
    .set_protocol_version = ht_set_protocol_version,
    .reset_session = ht_reset_session,
};

static int reserved_header(const char *name)
{
    static const char *const names[] = {"Accept",
                                        "Content-Type",
                                        "Content-Length",
                                        "Host",
                                        "Transfer-Encoding",
                                        "Mcp-Session-Id",
                                        "MCP-Protocol-Version",
                                        "Last-Event-ID",
                                        "Connection",
                                        NULL};
    for (size_t i = 0; names[i]; i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

static int valid_header(const mcp_client_http_header_t *h)
{
    if (!h->name || !*h->name || !h->value || reserved_header(h->name))
        return 0;
    for (const char *p = h->name; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
            strchr("()<>@,;:\\\"/[]?={}", *p))
            return 0;
    return strpbrk(h->value, "\r\n") == NULL;
}

static void ht_free_unstarted(ht_t *t)
{
    t->closing = 1;
    t->finishing = 1; /* no exchanges exist: nothing calls maybe_finish */
    t->reported = 1;
    if (t->own_http && t->http)
        http_client_close(t->http, NULL, NULL);
    t->client = NULL;
    finalize(t);
}

int mcp_client_http_start(mcp_client_t *client, const mcp_client_http_options_t *opts)
{
    if (!client || !opts || !opts->url ||
        (opts->mode != MCP_HTTP_STREAMABLE && opts->mode != MCP_HTTP_SSE &&
         opts->mode != MCP_HTTP_AUTO) ||
        (opts->nheaders && !opts->headers))
        return MCP_EINVAL;
    if (strncasecmp(opts->url, "http://", 7) != 0 && strncasecmp(opts->url, "https://", 8) != 0)
        return MCP_EINVAL;
    CURLU *u = curl_url();
    if (!u)
        return MCP_ENOMEM;
    int bad = curl_url_set(u, CURLUPART_URL, opts->url, 0) != CURLUE_OK;
    curl_url_cleanup(u);
    if (bad)
        return MCP_EINVAL;
    for (size_t i = 0; i < opts->nheaders; i++)
        if (!valid_header(&opts->headers[i]))
            return MCP_EINVAL;
    if (mcp_client_transport(client))
        return MCP_ESTATE;

    ht_t *t = mcp_calloc(1, sizeof *t);
    if (!t)
        return MCP_ENOMEM;
    t->base.ops = &ht_ops;
    t->base.kind = opts->mode == MCP_HTTP_SSE ? kind_sse : kind_http;
    t->client = client;
    t->loop = mcp_client_loop(client);
    t->mode = opts->mode;
    t->max_message = opts->max_message ? opts->max_message : HT_DEFAULT_MAX_MESSAGE;
    t->max_queued = opts->max_queued ? opts->max_queued : HT_DEFAULT_MAX_QUEUED;
    t->max_inflight = opts->max_inflight ? opts->max_inflight : HT_DEFAULT_MAX_INFLIGHT;
    t->connect_timeout_ms = opts->connect_timeout_ms;
    t->notify_timeout_ms = opts->notify_timeout_ms ? opts->notify_timeout_ms : HT_DEFAULT_NOTIFY_MS;
    t->close_timeout_ms = opts->close_timeout_ms ? opts->close_timeout_ms : HT_DEFAULT_CLOSE_MS;
    t->default_retry_ms = opts->default_retry_ms ? opts->default_retry_ms : HT_DEFAULT_RETRY_MS;
    t->max_reconnects = opts->max_reconnects ? opts->max_reconnects : HT_DEFAULT_RECONNECTS;
    t->no_standalone = opts->no_standalone_stream;
    t->on_standalone = opts->on_standalone;
    t->userdata = opts->userdata;
    t->url = mcp_strdup(opts->url);
    t->name = mcp_strdup(mcp_client_name(client) ? mcp_client_name(client) : "upstream");
    int rc = 0;
    if (!t->url || !t->name)
        rc = MCP_ENOMEM;
    if (!rc && opts->nheaders) {
        t->headers = mcp_calloc(opts->nheaders, sizeof *t->headers);
        if (!t->headers)
            rc = MCP_ENOMEM;
        for (size_t i = 0; !rc && i < opts->nheaders; i++) {
            t->nheaders++; /* a partly filled slot is freed too */
            t->headers[i].name = mcp_strdup(opts->headers[i].name);
            t->headers[i].value = mcp_strdup(opts->headers[i].value);
            if (!t->headers[i].name || !t->headers[i].value)
                rc = MCP_ENOMEM;
        }
    }
    if (rc) {
        ht_free_unstarted(t);
        return rc;
    }
    make_log_url(t->url, t->log_url, sizeof t->log_url);
    if (opts->http) {
        t->http = opts->http;
    } else {
        http_client_options_t ho = {.default_connect_timeout_ms = opts->connect_timeout_ms};
        if ((rc = http_client_new(t->loop, &ho, &t->http)) != 0) {
            t->http = NULL;
            ht_free_unstarted(t);
            return rc;
        }
        t->own_http = 1;
    }
    if (t->mode == MCP_HTTP_SSE) {
        /* Started before attaching, so a failure leaves the client untouched. */
        xchg_t *g = x_new(t, XK_LEGACY_GET, NULL);
        rc = g ? x_start(t, g, "GET", t->url, NULL, 0, RQ_ACCEPT_SSE, 0) : MCP_ENOMEM;
        if (rc) {
            if (g)
                x_release(g);
            ht_free_unstarted(t);
            return rc;
        }
        t->legacy_get = g;
    }
    if ((rc = mcp_client_attach_transport(client, &t->base)) != 0) {
        /* The GET may be running: cancel it; the transport frees itself once it completed. */
        t->client = NULL;
        t->reported = 1;
        begin_close(t, rc);
        return rc;
    }
    return 0;
}

static ht_t *find(const mcp_client_t *client)
{
    mcp_client_transport_t *bt = client ? mcp_client_transport(client) : NULL;
    return bt && bt->ops == &ht_ops ? (ht_t *)bt : NULL;
}

int mcp_client_http_mode(const mcp_client_t *client)
{
    ht_t *t = find(client);
    return t ? (int)t->mode : MCP_EINVAL;
}

const char *mcp_client_http_session_id(const mcp_client_t *client)
{
    ht_t *t = find(client);
    return t ? t->session_id : NULL;
}

int mcp_client_http_get_stats(const mcp_client_t *client, mcp_client_http_stats_t *out)
{
    ht_t *t = find(client);
    if (!t || !out)
        return MCP_EINVAL;
    *out = t->stats;
    return 0;
}
