#include "mcp_http_server.h"

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "jsonrpc.h"
#include "log.h"
#include "sse.h"

#include <http_parser.h>

#include <ctype.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COMP "mcp_http"

#define DEFAULT_MAX_SESSIONS      1024
#define DEFAULT_IDLE_MS           (10u * 60 * 1000)
#define DEFAULT_STREAM_EVENTS     256
#define DEFAULT_STREAM_BYTES      (4u * 1024 * 1024)
#define DEFAULT_SESSION_BYTES     (16u * 1024 * 1024)
#define DEFAULT_MESSAGE_BYTES     (16u * 1024 * 1024)
#define DEFAULT_RESUMABLE_STREAMS 8
#define DEFAULT_RETRY_MS          1000
#define DEFAULT_KEEPALIVE_MS      25000
#define DEFAULT_DRIBBLE_CHUNK     16
/* A truncated answer is only cut off once the kernel took the bytes before the cut; poll for
 * that at most this many times, this far apart. */
#define ABORT_POLL_MS  5
#define ABORT_POLL_MAX 400

#define HDR_SESSION  "Mcp-Session-Id"
#define HDR_VERSION  "MCP-Protocol-Version"
#define HDR_LAST_ID  "Last-Event-ID"
#define CODE_GENERIC (-32000)
#define CODE_NO_SESS (-32001)

typedef struct hsess_s hsess_t;
typedef struct stream_s stream_t;
typedef struct job_s job_t;

/* What the send filter asked for one message, kept until the message hits the wire. */
typedef struct wire_fault_s {
    int action;
    size_t bytes, chunk;
    uint64_t delay_ms;
} wire_fault_t;

/* One SSE event as written on the wire; data[json_off .. json_off + json_len) is the message. */
typedef struct ev_s {
    struct ev_s *next;
    uint64_t seq;
    wire_fault_t fault;
    size_t len, json_off, json_len;
    char data[];
} ev_t;

/* A message sent while the POST that caused it is still being received (answer not chosen). */
typedef struct pmsg_s {
    struct pmsg_s *next;
    int final;
    wire_fault_t fault;
    size_t len;
    char json[];
} pmsg_t;

enum { ST_POST = 1, ST_GET, ST_LEGACY };
enum { M_PENDING = 0, M_SSE, M_JSONF };
enum { JOB_CONTINUE = 0, JOB_END, JOB_ABORT };

struct stream_s {
    hsess_t *hs;
    stream_t *next, *prev; /* the session's POST streams, newest first */
    stream_t *dead_next;   /* on the transport's free list */
    uint32_t num;
    int kind, mode;
    http_req_t *req; /* the connection writing this stream, or NULL (detached) */
    job_t *job;      /* a fault being acted out on req */
    size_t expected, finals;
    int done;       /* POST: every final response (or abandon) was seen */
    int linked;     /* in hs->posts */
    int resumable;  /* POST: done while detached; counted in hs->nresumable */
    int disconnect; /* end_call_stream during receive: end right after the priming event */
    int warned;
    pmsg_t *pend_head, *pend_tail;
    size_t pend_bytes;
    int pend_nonfinal, pend_fault;
    ev_t *head, *tail, *unsent;
    size_t nevents, bytes;
    uint64_t last_write;
};

struct hsess_s {
    mcp_http_server_t *t;
    mcp_session_t *session;
    char id[MCP_HTTP_SESSION_ID_MAX];
    int legacy;
    int busy;   /* inside mcp_session_receive: destruction is deferred */
    int doomed; /* to be destroyed from the loop; already unfindable */
    int hashed;
    stream_t *standalone;
    stream_t *posts;
    size_t nresumable;
    uint32_t next_stream;
    uint64_t next_seq;
    size_t bytes;   /* retained event bytes of all streams */
    unsigned nreqs; /* HTTP requests of this session held now */
    uint64_t last_active;
    hsess_t *next, *prev; /* most recently active first */
    hsess_t *hnext;
};

struct job_s {
    uv_timer_t timer;
    mcp_http_server_t *t;
    stream_t *st; /* NULL once cancelled */
    char *data;
    size_t len, off, chunk;
    uint64_t delay_ms;
    uint64_t seq; /* JOB_CONTINUE: the event being written */
    int end;
    unsigned polls;
};

struct mcp_http_server_s {
    uv_loop_t *loop;
    mcp_server_t *server;
    mcp_http_config_t cfg;
    char *mcp_path, *sse_path, *messages_path;
    char **hosts;
    size_t nhosts;
    hsess_t *sessions, *lru_tail;
    hsess_t **buckets;
    size_t nbuckets;
    size_t nsessions, nlegacy, ndoomed, live;
    stream_t *dead;
    uv_timer_t sweep, reap;
    int reap_armed;
    int handles; /* open uv handles (timers, jobs) */
    http_router_t *router;
    http_server_t *http;
    int own_http, http_closing, mounted;
    int closing, torn_down;
    mcp_http_closed_fn closed_cb;
    void *closed_ud;
    mcp_http_pre_fn pre;
    void *pre_ud;
    mcp_http_send_filter_fn filter;
    void *filter_ud;
    mcp_http_stats_t stats;
};

static void stream_flush(stream_t *st);
static void stream_detached(stream_t *st);
static void sess_destroy(hsess_t *hs);
static void defer(mcp_http_server_t *t);
static void maybe_closed(mcp_http_server_t *t);

/* ------------------------------------------------------------------ small helpers */

/* The session's label for logs ("-" once the server dropped it). */
static const char *sess_label(const hsess_t *hs)
{
    return hs->session ? mcp_session_label(hs->session) : "-";
}

static uint64_t now_ms(const mcp_http_server_t *t)
{
    return uv_now(t->loop);
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

static void respond_error(mcp_http_server_t *t, http_req_t *req, int status, int code,
                          const char *message)
{
    cJSON *m = jsonrpc_build_error(NULL, code, message, NULL);
    size_t len = 0;
    char *text = m ? jsonrpc_print(m, &len) : NULL;
    cJSON_Delete(m);
    t->stats.rejected++;
    LOG_D(COMP, "request rejected", "req=%s status=%d msg=%s", http_req_id_str(req), status,
          log_quote(message));
    (void)http_respond(req, status, text ? "application/json" : NULL, text, text ? len : 0);
    cJSON_free(text);
}

static const char *status_text(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Session not found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

/* Does some media range of the Accept header(s) cover type/subtype? */
static int accept_has(const http_req_t *req, const char *type, const char *subtype)
{
    size_t tl = strlen(type), sl = strlen(subtype);
    const char *v;
    for (size_t n = 0; (v = http_req_header_nth(req, "Accept", n)) != NULL; n++) {
        const char *p = v;
        while (*p) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            const char *s = p;
            while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
                p++;
            size_t len = (size_t)(p - s);
            const char *slash = memchr(s, '/', len);
            if (slash) {
                size_t a = (size_t)(slash - s), b = len - a - 1;
                int tm = (a == 1 && s[0] == '*') || (a == tl && !strncasecmp(s, type, tl));
                int sm = (b == 1 && slash[1] == '*') ||
                         (b == sl && !strncasecmp(slash + 1, subtype, sl));
                if (tm && sm && !(a == 1 && s[0] == '*' && !(b == 1 && slash[1] == '*')))
                    return 1;
            }
            while (*p && *p != ',')
                p++;
        }
    }
    return 0;
}

static int content_type_json(const http_req_t *req)
{
    const char *v = http_req_header(req, "Content-Type");
    if (!v)
        return 0;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncasecmp(v, "application/json", 16) != 0)
        return 0;
    v += 16;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v == '\0' || *v == ';';
}

/* The host part of "host[:port]" / "[v6][:port]" into out (lowercased); 0 or -1. */
static int host_part(const char *s, size_t n, char *out, size_t cap)
{
    size_t len;
    if (n > 0 && s[0] == '[') {
        const char *e = memchr(s, ']', n);
        if (!e)
            return -1;
        len = (size_t)(e - s) + 1;
        if (len < n && s[len] != ':')
            return -1;
    } else {
        const char *c = memchr(s, ':', n);
        len = c ? (size_t)(c - s) : n;
    }
    if (len == 0 || len >= cap)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[len] = '\0';
    return 0;
}

static int host_allowed(const mcp_http_server_t *t, const char *name)
{
    for (size_t i = 0; i < t->nhosts; i++)
        if (strcmp(t->hosts[i], name) == 0)
            return 1;
    return 0;
}

/* Host and Origin against the allow-list; answers 403 itself and returns 0 when refused. */
static int check_origin(mcp_http_server_t *t, http_req_t *req)
{
    if (t->cfg.allow_any_host)
        return 1;
    char name[256], msg[400];
    const char *host = http_req_header(req, "Host");
    if (host && (host_part(host, strlen(host), name, sizeof(name)) || !host_allowed(t, name))) {
        snprintf(msg, sizeof(msg), "Forbidden: invalid Host header: %.300s", host);
        respond_error(t, req, 403, CODE_GENERIC, msg);
        return 0;
    }
    const char *origin = http_req_header(req, "Origin");
    if (origin) {
        const char *p = strstr(origin, "://");
        int ok = 0;
        if (p) {
            p += 3;
            size_t n = strcspn(p, "/");
            ok = host_part(p, n, name, sizeof(name)) == 0 && host_allowed(t, name);
        }
        if (!ok) {
            snprintf(msg, sizeof(msg), "Forbidden: invalid Origin header: %.300s", origin);
            respond_error(t, req, 403, CODE_GENERIC, msg);
            return 0;
        }
    }
    return 1;
}

/* "<stream>_<seq>" */
static int parse_event_id(const char *s, uint32_t *num, uint64_t *seq)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    unsigned long long a = strtoull(s, &end, 10);
    if (*end != '_' || a > UINT32_MAX || !isdigit((unsigned char)end[1]))
        return -1;
    unsigned long long b = strtoull(end + 1, &end, 10);
    if (*end != '\0')
        return -1;
    *num = (uint32_t)a;
    *seq = b;
    return 0;
}

/* ------------------------------------------------------------------ sessions table */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void hash_insert(mcp_http_server_t *t, hsess_t *hs)
{
    size_t b = hash_str(hs->id) & (t->nbuckets - 1);
    hs->hnext = t->buckets[b];
    t->buckets[b] = hs;
    hs->hashed = 1;
}

static void hash_remove(mcp_http_server_t *t, hsess_t *hs)
{
    if (!hs->hashed)
        return;
    hsess_t **pp = &t->buckets[hash_str(hs->id) & (t->nbuckets - 1)];
    while (*pp && *pp != hs)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = hs->hnext;
    hs->hashed = 0;
}

static hsess_t *sess_find(const mcp_http_server_t *t, const char *id)
{
    if (!id || !t->buckets)
        return NULL;
    for (hsess_t *hs = t->buckets[hash_str(id) & (t->nbuckets - 1)]; hs; hs = hs->hnext)
        if (strcmp(hs->id, id) == 0)
            return hs;
    return NULL;
}

static void lru_unlink(mcp_http_server_t *t, hsess_t *hs)
{
    if (hs->prev)
        hs->prev->next = hs->next;
    else
        t->sessions = hs->next;
    if (hs->next)
        hs->next->prev = hs->prev;
    else
        t->lru_tail = hs->prev;
    hs->next = hs->prev = NULL;
}

static void lru_push(mcp_http_server_t *t, hsess_t *hs)
{
    hs->prev = NULL;
    hs->next = t->sessions;
    if (t->sessions)
        t->sessions->prev = hs;
    else
        t->lru_tail = hs;
    t->sessions = hs;
}

static void touch(hsess_t *hs)
{
    mcp_http_server_t *t = hs->t;
    hs->last_active = now_ms(t);
    if (t->sessions != hs) {
        lru_unlink(t, hs);
        lru_push(t, hs);
    }
}

/* Session ids: 128 bits from the OS CSPRNG, formatted as a version-4 UUID. */
static int make_session_id(char *out)
{
    unsigned char r[16];
    int rc = uv_random(NULL, NULL, r, sizeof(r), 0, NULL);
    if (rc)
        return rc;
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[r[i] >> 4];
        *p++ = hex[r[i] & 15];
    }
    *p = '\0';
    return 0;
}

/* ------------------------------------------------------------------ streams */

static stream_t *stream_new(hsess_t *hs, int kind)
{
    stream_t *st = mcp_calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->hs = hs;
    st->kind = kind;
    st->mode = kind == ST_POST ? M_PENDING : M_SSE;
    if (kind == ST_POST) {
        st->num = ++hs->next_stream;
        st->next = hs->posts;
        if (hs->posts)
            hs->posts->prev = st;
        hs->posts = st;
        st->linked = 1;
    }
    return st;
}

static void pend_free(stream_t *st)
{
    while (st->pend_head) {
        pmsg_t *p = st->pend_head;
        st->pend_head = p->next;
        mcp_free(p);
    }
    st->pend_tail = NULL;
    st->pend_bytes = 0;
}

static void ev_pop(stream_t *st)
{
    ev_t *ev = st->head;
    st->head = ev->next;
    if (!st->head)
        st->tail = NULL;
    if (st->unsent == ev)
        st->unsent = ev->next;
    st->nevents--;
    st->bytes -= ev->len;
    st->hs->bytes -= ev->len;
    mcp_free(ev);
}

static void stream_free(stream_t *st)
{
    while (st->head)
        ev_pop(st);
    pend_free(st);
    mcp_free(st);
}

static void job_cancel(job_t *j);

/* Take the stream out of its session and free it from the loop (a message of a call that just
 * finished may still name it as its origin during this turn). */
static void stream_retire(stream_t *st)
{
    hsess_t *hs = st->hs;
    mcp_http_server_t *t = hs->t;
    if (st->job)
        job_cancel(st->job);
    if (st->linked) {
        if (st->prev)
            st->prev->next = st->next;
        else
            hs->posts = st->next;
        if (st->next)
            st->next->prev = st->prev;
        st->next = st->prev = NULL;
        st->linked = 0;
    }
    if (st->resumable) {
        st->resumable = 0;
        hs->nresumable--;
    }
    while (st->head)
        ev_pop(st);
    st->done = 1;
    st->dead_next = t->dead;
    t->dead = st;
    defer(t);
}

static void stream_make_resumable(stream_t *st)
{
    hsess_t *hs = st->hs;
    if (st->resumable)
        return;
    st->resumable = 1;
    hs->nresumable++;
    while (hs->nresumable > hs->t->cfg.max_resumable_streams) {
        stream_t *old = NULL;
        for (stream_t *p = hs->posts; p; p = p->next)
            if (p->resumable)
                old = p; /* the last one found is the oldest */
        if (!old)
            break;
        LOG_D(COMP, "finished stream dropped, never resumed", "session=%s stream=%u",
              sess_label(hs), old->num);
        stream_retire(old);
    }
}

/* Bookkeeping once st->req was finished by the caller (ended, aborted, or detached). */
static void stream_detached(stream_t *st)
{
    hsess_t *hs = st->hs;
    mcp_http_server_t *t = hs->t;
    if (st->job)
        job_cancel(st->job);
    st->req = NULL;
    hs->nreqs--;
    t->live--;
    hs->last_active = now_ms(t);
    if (st->kind == ST_LEGACY) {
        if (!hs->doomed) {
            hs->doomed = 1;
            hash_remove(t, hs);
            t->ndoomed++;
            defer(t);
        }
    } else if (st->kind == ST_POST && st->done) {
        if (st->unsent)
            stream_make_resumable(st);
        else
            stream_retire(st);
    }
}

static void stream_abort(stream_t *st)
{
    http_req_t *req = st->req;
    if (!req)
        return;
    http_req_abort(req);
    stream_detached(st);
}

static void stream_end(stream_t *st)
{
    http_req_t *req = st->req;
    if (!req)
        return;
    (void)http_stream_end(req);
    stream_detached(st);
}

static void on_stream_close(http_req_t *req, void *ud)
{
    stream_t *st = ud;
    if (st->req != req) {
        (void)http_stream_end(req);
        return;
    }
    LOG_D(COMP, "client left a stream", "session=%s stream=%u", sess_label(st->hs), st->num);
    stream_end(st);
}

static void on_stream_drain(http_req_t *req, void *ud)
{
    stream_t *st = ud;
    if (st->req == req)
        stream_flush(st);
}

/* Mark events up to and including seq as written on this connection. */
static void stream_sent_upto(stream_t *st, uint64_t seq)
{
    while (st->unsent && st->unsent->seq <= seq) {
        st->hs->t->stats.events_sent++;
        st->unsent = st->unsent->next;
    }
    if (st->kind == ST_LEGACY)
        while (st->head && st->head != st->unsent)
            ev_pop(st); /* no replay on the legacy transport */
    st->last_write = now_ms(st->hs->t);
}

/* ---- fault jobs: a piece-by-piece write with a timer ---- */

static void on_job_closed(uv_handle_t *h)
{
    job_t *j = h->data;
    mcp_http_server_t *t = j->t;
    mcp_free(j->data);
    mcp_free(j);
    t->handles--;
    maybe_closed(t);
}

static void job_cancel(job_t *j)
{
    if (j->st) {
        j->st->job = NULL;
        j->st = NULL;
    }
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, on_job_closed);
}

static void on_job_tick(uv_timer_t *tm)
{
    job_t *j = tm->data;
    stream_t *st = j->st;
    if (!st || !st->req)
        return;
    if (j->off < j->len) {
        size_t n = min_sz(j->chunk, j->len - j->off);
        int rc = http_stream_write(st->req, j->data + j->off, n);
        if (rc == MCP_ENOBUFS) {
            uv_timer_start(tm, on_job_tick, j->delay_ms ? j->delay_ms : ABORT_POLL_MS, 0);
            return;
        }
        if (rc < 0)
            return; /* the connection is going away: on_stream_close cancels the job */
        j->off += n;
        st->last_write = now_ms(j->t);
        if (j->off < j->len) {
            uv_timer_start(tm, on_job_tick, j->delay_ms, 0);
            return;
        }
    }
    switch (j->end) {
    case JOB_ABORT:
        if (http_stream_queued(st->req) > 0 && j->polls++ < ABORT_POLL_MAX) {
            uv_timer_start(tm, on_job_tick, ABORT_POLL_MS, 0);
            return;
        }
        job_cancel(j);
        stream_abort(st);
        return;
    case JOB_END:
        job_cancel(j);
        stream_end(st);
        return;
    default:
        job_cancel(j);
        stream_sent_upto(st, j->seq);
        stream_flush(st);
    }
}

static int job_start(stream_t *st, const char *data, size_t len, size_t chunk, uint64_t delay_ms,
                     int end, uint64_t seq)
{
    mcp_http_server_t *t = st->hs->t;
    job_t *j = mcp_calloc(1, sizeof(*j));
    char *copy = mcp_malloc(len ? len : 1);
    if (!j || !copy) {
        mcp_free(j);
        mcp_free(copy);
        return MCP_ENOMEM;
    }
    memcpy(copy, data, len);
    j->t = t;
    j->st = st;
    j->data = copy;
    j->len = len;
    j->chunk = chunk ? chunk : DEFAULT_DRIBBLE_CHUNK;
    j->delay_ms = delay_ms;
    j->end = end;
    j->seq = seq;
    uv_timer_init(t->loop, &j->timer);
    j->timer.data = j;
    t->handles++;
    st->job = j;
    uv_timer_start(&j->timer, on_job_tick, 0, 0);
    return 0;
}

/* Write what the connection has not had yet; end a finished POST stream. */
static void stream_flush(stream_t *st)
{
    while (st->req && st->mode == M_SSE && !st->job && st->unsent) {
        ev_t *ev = st->unsent;
        if (ev->fault.action != MCP_HTTP_SEND_PASS) {
            wire_fault_t f = ev->fault;
            ev->fault.action = MCP_HTTP_SEND_PASS; /* faults act once; a replay is clean */
            int rc = 0;
            switch (f.action) {
            case MCP_HTTP_SEND_CLOSE: stream_abort(st); return;
            case MCP_HTTP_SEND_TRUNCATE:
                rc = job_start(st, ev->data, ev->json_off + min_sz(f.bytes, ev->json_len), SIZE_MAX,
                               0, JOB_ABORT, ev->seq);
                break;
            default:
                rc = job_start(st, ev->data, ev->len, f.chunk, f.delay_ms, JOB_CONTINUE, ev->seq);
            }
            if (rc == 0)
                return;
        }
        int rc = http_stream_write(st->req, ev->data, ev->len);
        if (rc == MCP_ENOBUFS)
            return; /* on_stream_drain resumes */
        if (rc < 0)
            return; /* on_stream_close follows */
        stream_sent_upto(st, ev->seq);
    }
    if (st->req && st->kind == ST_POST && st->done && !st->unsent && !st->job && st->mode == M_SSE)
        stream_end(st);
}

static void stream_gap_warn(stream_t *st)
{
    if (st->warned)
        return;
    st->warned = 1;
    LOG_W(COMP, "stream buffer full: oldest undelivered messages dropped", "session=%s stream=%u",
          sess_label(st->hs), st->num);
}

/* Apply the bounds, oldest first, never dropping `keep` (the event just added). */
static void stream_evict(stream_t *st, const ev_t *keep)
{
    hsess_t *hs = st->hs;
    mcp_http_server_t *t = hs->t;
    const mcp_http_config_t *c = &t->cfg;
    while (st->head && st->head != keep &&
           (st->nevents > c->stream_max_events || st->bytes > c->stream_max_bytes ||
            hs->bytes > c->session_max_bytes)) {
        if (st->nevents <= c->stream_max_events && st->bytes <= c->stream_max_bytes) {
            /* Only the session is over: finished streams nobody resumed go first. */
            stream_t *old = NULL;
            for (stream_t *p = hs->posts; p; p = p->next)
                if (p->resumable && p != st)
                    old = p;
            if (old) {
                stream_retire(old);
                continue;
            }
        }
        if (st->head == st->unsent) {
            t->stats.events_dropped++;
            stream_gap_warn(st);
            if (st->req) {
                LOG_W(COMP, "client does not read its stream; disconnecting it", "session=%s",
                      sess_label(hs));
                stream_abort(st);
            }
        }
        ev_pop(st);
    }
}

static ev_t *ev_make(const stream_t *st, uint64_t seq, const char *json, size_t len)
{
    char id[48];
    int with_id = st->kind != ST_LEGACY;
    if (with_id)
        snprintf(id, sizeof(id), "%" PRIu32 "_%" PRIu64, st->num, seq);
    ev_t *ev;
    if (!memchr(json, '\n', len) && !memchr(json, '\r', len)) {
        char head[96];
        int hl = with_id ? snprintf(head, sizeof(head), "event: message\nid: %s\ndata: ", id)
                         : snprintf(head, sizeof(head), "event: message\ndata: ");
        ev = mcp_malloc(sizeof(*ev) + (size_t)hl + len + 2);
        if (!ev)
            return NULL;
        memcpy(ev->data, head, (size_t)hl);
        memcpy(ev->data + hl, json, len);
        memcpy(ev->data + hl + len, "\n\n", 2);
        ev->len = (size_t)hl + len + 2;
        ev->json_off = (size_t)hl;
    } else {
        /* Replaced bytes with line breaks: one data line per line (readers join them). */
        buf_t b;
        buf_init(&b, SIZE_MAX / 2);
        if (sse_write_event(&b, "message", with_id ? id : NULL, -1, json, len)) {
            buf_free(&b);
            return NULL;
        }
        ev = mcp_malloc(sizeof(*ev) + b.len);
        if (!ev) {
            buf_free(&b);
            return NULL;
        }
        memcpy(ev->data, b.data, b.len);
        ev->len = b.len;
        ev->json_off = strlen("event: message\n") + (with_id ? strlen(id) + 5 : 0) + 6;
        buf_free(&b);
    }
    ev->next = NULL;
    ev->seq = seq;
    ev->json_len = len;
    memset(&ev->fault, 0, sizeof(ev->fault));
    return ev;
}

/* Queue one message as an event (and write it when the stream is live). */
static int stream_push(stream_t *st, const char *json, size_t len, const wire_fault_t *f, int flush)
{
    hsess_t *hs = st->hs;
    ev_t *ev = ev_make(st, ++hs->next_seq, json, len);
    if (!ev)
        return MCP_ENOMEM;
    if (f)
        ev->fault = *f;
    if (st->tail)
        st->tail->next = ev;
    else
        st->head = ev;
    st->tail = ev;
    if (!st->unsent)
        st->unsent = ev;
    st->nevents++;
    st->bytes += ev->len;
    hs->bytes += ev->len;
    stream_evict(st, ev);
    if (flush)
        stream_flush(st);
    return 0;
}

static int pend_add(stream_t *st, const char *json, size_t len, int final, const wire_fault_t *f)
{
    const mcp_http_config_t *c = &st->hs->t->cfg;
    if (!final && st->pend_bytes + len > c->stream_max_bytes)
        return MCP_ENOBUFS;
    pmsg_t *p = mcp_malloc(sizeof(*p) + len + 1);
    if (!p)
        return MCP_ENOMEM;
    p->next = NULL;
    p->final = final;
    p->fault = *f;
    p->len = len;
    memcpy(p->json, json, len);
    p->json[len] = '\0';
    if (st->pend_tail)
        st->pend_tail->next = p;
    else
        st->pend_head = p;
    st->pend_tail = p;
    st->pend_bytes += len;
    if (!final)
        st->pend_nonfinal = 1;
    if (f->action != MCP_HTTP_SEND_PASS)
        st->pend_fault = 1;
    return 0;
}

static void stream_final(stream_t *st)
{
    st->finals++;
    if (st->mode == M_PENDING || st->done || st->finals < st->expected)
        return;
    st->done = 1;
    if (st->req)
        stream_flush(st);
    else if (st->unsent)
        stream_make_resumable(st);
    else
        stream_retire(st);
}

/* ------------------------------------------------------------------ session ops */

static int op_send(void *ctx, const char *json, size_t len, const mcp_send_info_t *info)
{
    hsess_t *hs = ctx;
    mcp_http_server_t *t = hs->t;
    stream_t *st = hs->standalone;
    if (!hs->legacy && info->origin && !((stream_t *)info->origin)->done)
        st = info->origin;
    wire_fault_t wf = {0};
    char *repl = NULL;
    if (t->filter) {
        mcp_http_fault_t f = {0};
        t->filter(hs->session, json, len, info, &f, t->filter_ud);
        wf.action = f.action;
        wf.bytes = f.bytes;
        wf.chunk = f.chunk_bytes;
        wf.delay_ms = f.delay_ms;
        if (f.replace) {
            repl = f.replace;
            json = repl;
            len = f.replace_len;
        }
    }
    int final = info->final && st->kind == ST_POST;
    int rc;
    if (len > t->cfg.max_message_bytes) {
        LOG_W(COMP, "outgoing message too large; dropped", "session=%s bytes=%zu max=%zu",
              sess_label(hs), len, t->cfg.max_message_bytes);
        rc = MCP_ENOBUFS;
    } else if (st->mode == M_PENDING) {
        rc = pend_add(st, json, len, final, &wf);
    } else {
        rc = stream_push(st, json, len, &wf, !final);
    }
    mcp_free(repl);
    if (final) {
        stream_final(st);
        if (!st->done && st->req)
            stream_flush(st);
    }
    return rc;
}

static void op_abandon(void *ctx, const mcp_send_info_t *info)
{
    hsess_t *hs = ctx;
    if (hs->legacy || !info->origin)
        return;
    stream_t *st = info->origin;
    if (!st->done && st->kind == ST_POST)
        stream_final(st);
}

static void op_closed(void *ctx)
{
    hsess_t *hs = ctx;
    hs->session = NULL; /* the server closed it (mcp_server_free) */
    sess_destroy(hs);
}

static const mcp_transport_ops_t http_ops = {op_send, op_abandon, NULL, op_closed};

/* ------------------------------------------------------------------ session life */

static hsess_t *lru_evictable(mcp_http_server_t *t)
{
    for (hsess_t *hs = t->lru_tail; hs; hs = hs->prev)
        if (!hs->legacy && !hs->busy && !hs->doomed && hs->nreqs == 0)
            return hs;
    return NULL;
}

static int sess_new(mcp_http_server_t *t, int legacy, hsess_t **out)
{
    *out = NULL;
    if (t->nsessions - t->ndoomed >= t->cfg.max_sessions) {
        hsess_t *victim = lru_evictable(t);
        if (!victim)
            return MCP_ENOBUFS;
        LOG_I(COMP, "session table full: evicting the least recently used idle session",
              "session=%s max=%zu", sess_label(victim), t->cfg.max_sessions);
        t->stats.sessions_evicted++;
        sess_destroy(victim);
    }
    hsess_t *hs = mcp_calloc(1, sizeof(*hs));
    if (!hs)
        return MCP_ENOMEM;
    hs->t = t;
    hs->legacy = legacy;
    int rc = make_session_id(hs->id);
    if (!rc) {
        hs->standalone = stream_new(hs, legacy ? ST_LEGACY : ST_GET);
        rc = hs->standalone ? 0 : MCP_ENOMEM;
    }
    if (!rc)
        rc = mcp_session_create(t->server, &http_ops, hs, &hs->session);
    if (rc) {
        if (hs->standalone)
            stream_free(hs->standalone);
        mcp_free(hs);
        return rc;
    }
    hs->last_active = now_ms(t);
    lru_push(t, hs);
    hash_insert(t, hs);
    t->nsessions++;
    if (legacy)
        t->nlegacy++;
    t->stats.sessions_created++;
    LOG_D(COMP, "session created", "session=%s legacy=%d", sess_label(hs), legacy);
    *out = hs;
    return 0;
}

static void stream_kill(stream_t *st)
{
    if (st->job)
        job_cancel(st->job);
    if (st->req) {
        http_req_t *req = st->req;
        st->req = NULL;
        st->hs->t->live--;
        if (st->mode == M_SSE || st->mode == M_JSONF)
            (void)http_stream_end(req);
        else
            http_req_abort(req);
    }
    stream_free(st);
}

/* Close the session and free everything of it. Deferred while a receive runs on it. */
static void sess_destroy(hsess_t *hs)
{
    mcp_http_server_t *t = hs->t;
    if (hs->busy) {
        if (!hs->doomed) {
            hs->doomed = 1;
            hash_remove(t, hs);
            t->ndoomed++;
            defer(t);
        }
        return;
    }
    if (hs->doomed)
        t->ndoomed--;
    hash_remove(t, hs);
    lru_unlink(t, hs);
    t->nsessions--;
    if (hs->legacy)
        t->nlegacy--;
    if (hs->session) {
        mcp_session_t *s = hs->session;
        LOG_D(COMP, "session closed", "session=%s", mcp_session_label(s));
        hs->session = NULL;
        mcp_session_close(s);
    }
    while (hs->posts) {
        stream_t *st = hs->posts;
        hs->posts = st->next;
        stream_kill(st);
    }
    stream_kill(hs->standalone);
    mcp_free(hs);
}

static void sess_doom(hsess_t *hs)
{
    mcp_http_server_t *t = hs->t;
    if (hs->doomed)
        return;
    hs->doomed = 1;
    hash_remove(t, hs);
    t->ndoomed++;
    defer(t);
}

/* ------------------------------------------------------------------ deferred work, sweep */

static void teardown(mcp_http_server_t *t);

static void on_reap(uv_timer_t *tm)
{
    mcp_http_server_t *t = tm->data;
    t->reap_armed = 0;
    while (t->ndoomed > 0) {
        hsess_t *hs = t->sessions;
        while (hs && !(hs->doomed && !hs->busy))
            hs = hs->next;
        if (!hs)
            break;
        sess_destroy(hs);
    }
    while (t->dead) {
        stream_t *st = t->dead;
        t->dead = st->dead_next;
        stream_free(st);
    }
    if (t->closing && !t->torn_down)
        teardown(t);
}

static void defer(mcp_http_server_t *t)
{
    if (t->reap_armed || t->torn_down)
        return;
    t->reap_armed = 1;
    uv_timer_start(&t->reap, on_reap, 0, 0);
}

static void keepalive(stream_t *st, uint64_t now, uint64_t every)
{
    if (!st->req || st->mode != M_SSE || st->job || now - st->last_write < every)
        return;
    static const char ping[] = ": keepalive\n\n";
    if (http_stream_write(st->req, ping, sizeof(ping) - 1) >= 0)
        st->last_write = now;
}

static void on_sweep(uv_timer_t *tm)
{
    mcp_http_server_t *t = tm->data;
    uint64_t now = now_ms(t);
    hsess_t *next;
    for (hsess_t *hs = t->sessions; hs; hs = next) {
        next = hs->next;
        if (hs->doomed)
            continue;
        if (!hs->legacy && hs->nreqs == 0 && !hs->busy &&
            now - hs->last_active >= t->cfg.idle_timeout_ms) {
            LOG_I(COMP, "idle session expired", "session=%s idle_ms=%" PRIu64, sess_label(hs),
                  now - hs->last_active);
            t->stats.sessions_expired++;
            sess_destroy(hs);
            continue;
        }
        keepalive(hs->standalone, now, t->cfg.keepalive_ms);
        for (stream_t *st = hs->posts; st; st = st->next)
            keepalive(st, now, t->cfg.keepalive_ms);
    }
}

/* ------------------------------------------------------------------ answering a POST */

static void add_sse_headers(hsess_t *hs, http_req_t *req)
{
    (void)http_resp_header(req, "Cache-Control", "no-cache, no-transform");
    (void)http_resp_header(req, "X-Accel-Buffering", "no");
    if (hs && !hs->legacy)
        (void)http_resp_header(req, HDR_SESSION, hs->id);
}

/* Start the SSE response of st on req (held by the caller until now); a priming event with
 * sequence number priming_seq (0: none) goes first. */
static void stream_attach(stream_t *st, http_req_t *req, uint64_t priming_seq)
{
    hsess_t *hs = st->hs;
    mcp_http_server_t *t = hs->t;
    add_sse_headers(hs, req);
    int rc = http_stream_start(req, 200, "text/event-stream", 0);
    st->req = req;
    st->mode = M_SSE;
    hs->nreqs++;
    t->live++;
    st->last_write = now_ms(t);
    if (rc == MCP_ECLOSED && http_req_closed(req)) {
        stream_end(st);
        return;
    }
    http_req_on_close(req, on_stream_close, st);
    http_req_on_drain(req, on_stream_drain, st);
    if (priming_seq) {
        char ev[128];
        int n =
            t->cfg.retry_ms >= 0
                ? snprintf(ev, sizeof(ev), "id: %" PRIu32 "_%" PRIu64 "\nretry: %ld\ndata: \n\n",
                           st->num, priming_seq, t->cfg.retry_ms)
                : snprintf(ev, sizeof(ev), "id: %" PRIu32 "_%" PRIu64 "\ndata: \n\n", st->num,
                           priming_seq);
        (void)http_stream_write(req, ev, (size_t)n);
    }
}

/* Priming events (empty data) only go to clients that know to skip them: the session's
 * negotiated version decides (the conformance suite sends an older MCP-Protocol-Version on a
 * 2025-11-25 session and still expects them); before negotiation, the header does. */
static int wants_priming(hsess_t *hs, const http_req_t *req)
{
    const char *v = hs->session ? mcp_session_protocol_version(hs->session) : NULL;
    if (!v)
        v = http_req_header(req, HDR_VERSION);
    return v && mcp_version_has_sse_priming(v);
}

/* The JSON answer (one message or a batch array), with the first fault of its messages. */
static void respond_json(stream_t *st, http_req_t *req, int batch, int with_sid)
{
    hsess_t *hs = st->hs;
    mcp_http_server_t *t = hs->t;
    buf_t body;
    buf_init(&body, SIZE_MAX / 2);
    wire_fault_t f = {0};
    int rc = 0;
    if (batch)
        rc = buf_putc(&body, '[');
    for (pmsg_t *p = st->pend_head; p && !rc; p = p->next) {
        if (p != st->pend_head)
            rc = buf_putc(&body, ',');
        if (!rc)
            rc = buf_append(&body, p->json, p->len);
        if (f.action == MCP_HTTP_SEND_PASS)
            f = p->fault;
    }
    if (!rc && batch)
        rc = buf_putc(&body, ']');
    pend_free(st);
    if (rc) {
        buf_free(&body);
        respond_error(t, req, 500, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
        return;
    }
    if (with_sid)
        (void)http_resp_header(req, HDR_SESSION, hs->id);
    switch (f.action) {
    case MCP_HTTP_SEND_PASS:
        (void)http_respond(req, 200, "application/json", body.data, body.len);
        break;
    case MCP_HTTP_SEND_CLOSE: http_req_abort(req); break;
    default:
        /* Truncated or dribbled bodies are close-delimited: a Content-Length would be a lie. */
        if (http_stream_start(req, 200, "application/json", HTTP_STREAM_CLOSE_DELIMITED) < 0 &&
            http_req_closed(req)) {
            (void)http_stream_end(req);
            break;
        }
        st->req = req;
        st->mode = M_JSONF;
        hs->nreqs++;
        t->live++;
        http_req_on_close(req, on_stream_close, st);
        if (f.action == MCP_HTTP_SEND_TRUNCATE)
            rc = job_start(st, body.data, min_sz(f.bytes, body.len), SIZE_MAX, 0, JOB_ABORT, 0);
        else
            rc = job_start(st, body.data, body.len, f.chunk, f.delay_ms, JOB_END, 0);
        if (rc)
            stream_abort(st);
        buf_free(&body);
        return; /* the job finishes the request; stream_detached retires the stream */
    }
    buf_free(&body);
    stream_retire(st);
}

/* Move the messages gathered during receive onto the stream as events. */
static void pend_to_events(stream_t *st)
{
    pmsg_t *p = st->pend_head;
    st->pend_head = st->pend_tail = NULL;
    st->pend_bytes = 0;
    while (p) {
        pmsg_t *next = p->next;
        if (stream_push(st, p->json, p->len, &p->fault, 0) == MCP_ENOMEM)
            LOG_E(COMP, "out of memory: a message was lost", "session=%s", sess_label(st->hs));
        mcp_free(p);
        p = next;
    }
}

/* Append one message event (as ev_make lays it out) to b. */
static int sse_append(buf_t *b, const char *id, const char *json, size_t len)
{
    if (memchr(json, '\n', len) || memchr(json, '\r', len))
        return sse_write_event(b, "message", id, -1, json, len);
    int rc = id ? buf_appendf(b, "event: message\nid: %s\ndata: ", id)
                : buf_append_str(b, "event: message\ndata: ");
    if (!rc)
        rc = buf_append(b, json, len);
    if (!rc)
        rc = buf_append(b, "\n\n", 2);
    return rc;
}

/* Every answer is ready and no fault applies, but an SSE answer is wanted (messages came first,
 * or always_sse): the whole stream goes out as one response with a Content-Length, in one
 * write, instead of a chunked stream of several. Clients read it as any SSE stream. */
static void respond_sse_whole(stream_t *st, http_req_t *req, uint64_t pseq)
{
    hsess_t *hs = st->hs;
    mcp_http_server_t *t = hs->t;
    buf_t body;
    buf_init(&body, SIZE_MAX / 2);
    int rc = 0;
    if (pseq)
        rc = t->cfg.retry_ms >= 0
                 ? buf_appendf(&body, "id: %" PRIu32 "_%" PRIu64 "\nretry: %ld\ndata: \n\n",
                               st->num, pseq, t->cfg.retry_ms)
                 : buf_appendf(&body, "id: %" PRIu32 "_%" PRIu64 "\ndata: \n\n", st->num, pseq);
    for (pmsg_t *p = st->pend_head; p && !rc; p = p->next) {
        char id[48];
        snprintf(id, sizeof(id), "%" PRIu32 "_%" PRIu64, st->num, ++hs->next_seq);
        rc = sse_append(&body, id, p->json, p->len);
        t->stats.events_sent++;
    }
    pend_free(st);
    if (rc) {
        buf_free(&body);
        respond_error(t, req, 500, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
    } else {
        add_sse_headers(hs, req);
        (void)http_respond(req, 200, "text/event-stream", body.data, body.len);
        buf_free(&body);
    }
    stream_retire(st);
}

static void handle_post(mcp_http_server_t *t, http_req_t *req, hsess_t *hs)
{
    if (!accept_has(req, "application", "json") || !accept_has(req, "text", "event-stream")) {
        respond_error(t, req, 406, CODE_GENERIC,
                      "Not Acceptable: Client must accept both application/json and "
                      "text/event-stream");
        return;
    }
    if (!content_type_json(req)) {
        respond_error(t, req, 415, CODE_GENERIC,
                      "Unsupported Media Type: Content-Type must be application/json");
        return;
    }
    int created = 0;
    if (!hs) {
        int rc = sess_new(t, 0, &hs);
        if (rc) {
            if (rc == MCP_ENOBUFS)
                (void)http_resp_header(req, "Retry-After", "1");
            respond_error(t, req, rc == MCP_ENOBUFS ? 503 : 500, CODE_GENERIC,
                          rc == MCP_ENOBUFS ? "Service Unavailable: too many sessions"
                                            : "Internal error: cannot create a session");
            return;
        }
        created = 1;
    }
    stream_t *st = stream_new(hs, ST_POST);
    if (!st) {
        if (created)
            sess_destroy(hs);
        respond_error(t, req, 500, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
        return;
    }
    st->req = req; /* for end_call_stream during the receive */
    size_t len;
    const char *body = http_req_body(req, &len);
    mcp_receive_info_t info;
    hs->busy++;
    int rc = mcp_session_receive(hs->session, body, len, st, &info);
    hs->busy--;
    st->req = NULL;
    touch(hs);
    st->expected = rc ? 0 : info.replies;
    if (st->finals >= st->expected)
        st->done = 1;
    const char *err = NULL;
    int status = 0, code = CODE_GENERIC;
    if (rc) {
        status = rc == MCP_ECLOSED ? 404 : 500;
        code = rc == MCP_ECLOSED ? CODE_NO_SESS : JSONRPC_INTERNAL_ERROR;
        err = rc == MCP_ECLOSED ? "Session not found" : "Internal error: out of memory";
    } else if (info.parse_error || info.batch_rejected ||
               (!info.batch && info.invalid && !info.requests)) {
        status = 400; /* body: the session's own error reply */
    } else if (created && !info.initialize) {
        status = 400;
        err = "Bad Request: Mcp-Session-Id header is required";
    } else if (!created && info.initialize && !info.batch && st->done && st->pend_head &&
               strstr(st->pend_head->json, "\"error\"")) {
        status = 400; /* initialize on an initialized session: the -32600 reply */
    }
    if (status) {
        if (err || !st->pend_head) {
            respond_error(t, req, status, code, err ? err : status_text(status));
        } else {
            t->stats.rejected++;
            (void)http_respond(req, status, "application/json", st->pend_head->json,
                               st->pend_head->len);
        }
        pend_free(st);
        st->done = 1;
        stream_retire(st);
        if (created)
            sess_destroy(hs);
        return;
    }
    if (info.replies == 0) {
        pend_free(st);
        st->done = 1;
        stream_retire(st);
        (void)http_respond(req, 202, NULL, NULL, 0);
        return;
    }
    /* An initialize that failed at once leaves nothing to keep. */
    int failed_init = created && st->done && !mcp_session_protocol_version(hs->session);
    if (st->done && !st->pend_nonfinal && !t->cfg.always_sse && !st->disconnect) {
        respond_json(st, req, info.batch, !failed_init);
        if (failed_init)
            sess_destroy(hs);
        return;
    }
    if (created)
        LOG_D(COMP, "session initialized", "session=%s", sess_label(hs));
    /* The priming id must sort before the messages gathered so far (replay goes by order). */
    uint64_t pseq = wants_priming(hs, req) ? ++hs->next_seq : 0;
    if (st->done && !st->pend_fault && !st->disconnect) {
        respond_sse_whole(st, req, pseq);
        if (failed_init)
            sess_destroy(hs);
        return;
    }
    st->mode = M_SSE;
    pend_to_events(st);
    stream_attach(st, req, pseq);
    stream_flush(st);
    if (st->disconnect && st->req)
        stream_end(st);
    else if (st->done && !st->req && st->linked && !st->resumable && !st->unsent)
        stream_retire(st);
    if (failed_init)
        sess_doom(hs);
}

/* ------------------------------------------------------------------ GET, DELETE */

static stream_t *find_stream(hsess_t *hs, uint32_t num)
{
    if (num == 0)
        return hs->standalone;
    for (stream_t *st = hs->posts; st; st = st->next)
        if (st->num == num)
            return st;
    return NULL;
}

static void handle_get(mcp_http_server_t *t, http_req_t *req, hsess_t *hs)
{
    if (!accept_has(req, "text", "event-stream")) {
        respond_error(t, req, 406, CODE_GENERIC,
                      "Not Acceptable: Client must accept text/event-stream");
        return;
    }
    stream_t *st = hs->standalone;
    const char *lei = http_req_header(req, HDR_LAST_ID);
    uint32_t num = 0;
    uint64_t after = 0;
    int replay = 0;
    if (lei && parse_event_id(lei, &num, &after) == 0) {
        stream_t *f = find_stream(hs, num);
        if (f && f->mode == M_SSE) {
            st = f;
            replay = 1;
        }
    }
    if (st->req) {
        if (st == hs->standalone && !replay) {
            respond_error(t, req, 409, CODE_GENERIC,
                          "Conflict: Only one SSE stream is allowed per session");
            return;
        }
        LOG_D(COMP, "stream resumed on a new connection; ending the old one", "session=%s",
              sess_label(hs));
        http_req_t *old = st->req;
        if (st->job)
            job_cancel(st->job);
        st->req = NULL;
        hs->nreqs--;
        t->live--;
        (void)http_stream_end(old);
    }
    if (replay) {
        /* Rewind to just after `after`; what was written before counts as replayed. */
        uint64_t written_below = st->unsent ? st->unsent->seq : UINT64_MAX;
        ev_t *ev = st->head;
        while (ev && ev->seq <= after)
            ev = ev->next;
        for (ev_t *p = ev; p && p->seq < written_below; p = p->next)
            t->stats.events_replayed++;
        st->unsent = ev;
        if (st->resumable) {
            st->resumable = 0;
            hs->nresumable--;
        }
    }
    touch(hs);
    stream_attach(st, req, wants_priming(hs, req) ? ++hs->next_seq : 0);
    stream_flush(st);
}

/* ------------------------------------------------------------------ routing */

static int run_pre_hook(mcp_http_server_t *t, http_req_t *req, mcp_http_req_kind_t kind,
                        const char *sid, hsess_t *hs)
{
    if (!t->pre)
        return 0;
    mcp_http_pre_info_t info = {req, kind, sid, hs ? hs->session : NULL};
    int status = t->pre(&info, t->pre_ud);
    if (status == 0)
        return 0;
    if (status < 400 || status > 599)
        status = 500;
    respond_error(t, req, status, status == 404 ? CODE_NO_SESS : CODE_GENERIC, status_text(status));
    return 1;
}

static void on_mcp(http_req_t *req, void *ud)
{
    mcp_http_server_t *t = ud;
    if (t->closing) {
        respond_error(t, req, 503, CODE_GENERIC, "Service Unavailable: shutting down");
        return;
    }
    if (!check_origin(t, req))
        return;
    int m = http_req_method(req);
    /* The route only takes GET, POST and DELETE (the router answers 405 for the rest, so the
     * caller may add e.g. OPTIONS for CORS on the same path). */
    mcp_http_req_kind_t kind = m == HTTP_POST  ? MCP_HTTP_REQ_POST
                               : m == HTTP_GET ? MCP_HTTP_REQ_GET
                                               : MCP_HTTP_REQ_DELETE;
    const char *sid = http_req_header(req, HDR_SESSION);
    hsess_t *hs = sid ? sess_find(t, sid) : NULL;
    if (hs && hs->legacy)
        hs = NULL;
    if (run_pre_hook(t, req, kind, sid, hs))
        return;
    switch (kind) {
    case MCP_HTTP_REQ_POST: t->stats.posts++; break;
    case MCP_HTTP_REQ_GET: t->stats.gets++; break;
    default: t->stats.deletes++;
    }
    const char *ver = http_req_header(req, HDR_VERSION);
    if (ver && !mcp_version_supported(ver)) {
        char msg[300];
        int n = snprintf(msg, sizeof(msg),
                         "Bad Request: Unsupported protocol version: %.64s "
                         "(supported versions: ",
                         ver);
        for (size_t i = 0; mcp_protocol_versions[i] && n < (int)sizeof(msg); i++)
            n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%s%s", i ? ", " : "",
                          mcp_protocol_versions[i]);
        if (n < (int)sizeof(msg))
            snprintf(msg + n, sizeof(msg) - (size_t)n, ")");
        respond_error(t, req, 400, CODE_GENERIC, msg);
        return;
    }
    if (sid && !hs) {
        respond_error(t, req, 404, CODE_NO_SESS, "Session not found");
        return;
    }
    if (!sid && kind != MCP_HTTP_REQ_POST) {
        respond_error(t, req, 400, CODE_GENERIC, "Bad Request: Mcp-Session-Id header is required");
        return;
    }
    switch (kind) {
    case MCP_HTTP_REQ_POST: handle_post(t, req, hs); break;
    case MCP_HTTP_REQ_GET: handle_get(t, req, hs); break;
    default:
        LOG_D(COMP, "session deleted by the client", "session=%s", sess_label(hs));
        t->stats.sessions_deleted++;
        sess_destroy(hs);
        (void)http_respond(req, 200, NULL, NULL, 0);
    }
}

static void on_sse(http_req_t *req, void *ud)
{
    mcp_http_server_t *t = ud;
    if (t->closing) {
        respond_error(t, req, 503, CODE_GENERIC, "Service Unavailable: shutting down");
        return;
    }
    if (!check_origin(t, req))
        return;
    if (run_pre_hook(t, req, MCP_HTTP_REQ_SSE_GET, NULL, NULL))
        return;
    t->stats.gets++;
    hsess_t *hs;
    int rc = sess_new(t, 1, &hs);
    if (rc) {
        if (rc == MCP_ENOBUFS)
            (void)http_resp_header(req, "Retry-After", "1");
        respond_error(t, req, rc == MCP_ENOBUFS ? 503 : 500, CODE_GENERIC,
                      rc == MCP_ENOBUFS ? "Service Unavailable: too many sessions"
                                        : "Internal error: cannot create a session");
        return;
    }
    stream_t *st = hs->standalone;
    stream_attach(st, req, 0);
    if (!st->req)
        return; /* the client is already gone: the session goes with it */
    char *ev = mcp_asprintf("event: endpoint\ndata: %s?sessionId=%s\n\n", t->messages_path, hs->id);
    if (!ev || http_stream_write(req, ev, strlen(ev)) < 0) {
        mcp_free(ev);
        stream_abort(st);
        return;
    }
    mcp_free(ev);
    LOG_D(COMP, "legacy SSE session opened", "session=%s", sess_label(hs));
}

static void on_messages(http_req_t *req, void *ud)
{
    mcp_http_server_t *t = ud;
    if (t->closing) {
        respond_error(t, req, 503, CODE_GENERIC, "Service Unavailable: shutting down");
        return;
    }
    if (!check_origin(t, req))
        return;
    const char *sid = http_req_query_param(req, "sessionId");
    hsess_t *hs = sid ? sess_find(t, sid) : NULL;
    if (hs && !hs->legacy)
        hs = NULL;
    if (run_pre_hook(t, req, MCP_HTTP_REQ_SSE_POST, sid, hs))
        return;
    t->stats.posts++;
    if (!sid || !*sid) {
        respond_error(t, req, 400, CODE_GENERIC, "Bad Request: sessionId is required");
        return;
    }
    if (!hs) {
        respond_error(t, req, 404, CODE_NO_SESS, "Session not found");
        return;
    }
    if (!content_type_json(req)) {
        respond_error(t, req, 415, CODE_GENERIC,
                      "Unsupported Media Type: Content-Type must be application/json");
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    mcp_receive_info_t info;
    hs->busy++;
    int rc = mcp_session_receive(hs->session, body, len, NULL, &info);
    hs->busy--;
    touch(hs);
    if (rc) {
        respond_error(t, req, rc == MCP_ECLOSED ? 404 : 500,
                      rc == MCP_ECLOSED ? CODE_NO_SESS : JSONRPC_INTERNAL_ERROR,
                      rc == MCP_ECLOSED ? "Session not found" : "Internal error: out of memory");
        return;
    }
    if (info.parse_error) {
        t->stats.rejected++;
        static const char msg[] = "Invalid message: not JSON";
        (void)http_respond(req, 400, "text/plain", msg, sizeof(msg) - 1);
        return;
    }
    (void)http_respond(req, 202, "text/plain", "Accepted", 8);
}

/* ------------------------------------------------------------------ public API */

void mcp_http_config_init(mcp_http_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
}

static int valid_path(const char *p)
{
    return p && p[0] == '/' && !strchr(p, '?') && !strchr(p, '#');
}

static char *dup_or(const char *s, const char *dflt)
{
    return mcp_strdup(s ? s : dflt);
}

static void free_strings(mcp_http_server_t *t)
{
    for (size_t i = 0; i < t->nhosts; i++)
        mcp_free(t->hosts[i]);
    mcp_free(t->hosts);
    mcp_free(t->mcp_path);
    mcp_free(t->sse_path);
    mcp_free(t->messages_path);
    mcp_free(t->buckets);
}

static int copy_hosts(mcp_http_server_t *t, const char *const *list)
{
    static const char *const dflt[] = {"localhost", "127.0.0.1", "[::1]", NULL};
    if (!list)
        list = dflt;
    size_t n = 0;
    while (list[n])
        n++;
    t->hosts = mcp_calloc(n ? n : 1, sizeof(char *));
    if (!t->hosts)
        return MCP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *h = list[i];
        /* "::1" means "[::1]" (how it appears in Host and Origin). */
        char *c = strchr(h, ':') && h[0] != '[' ? mcp_asprintf("[%s]", h) : mcp_strdup(h);
        if (!c)
            return MCP_ENOMEM;
        for (char *p = c; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        t->hosts[t->nhosts++] = c;
    }
    return 0;
}

/* A client that vanishes must show up as EPIPE on the socket, not kill the process (libuv
 * writes to sockets with write(2)). Only the default disposition is replaced. */
static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

int mcp_http_server_new(uv_loop_t *loop, mcp_server_t *server, const mcp_http_config_t *cfg,
                        mcp_http_server_t **out)
{
    *out = NULL;
    mcp_http_config_t c;
    if (cfg)
        c = *cfg;
    else
        mcp_http_config_init(&c);
    if (!loop || !server || (c.mcp_path && !valid_path(c.mcp_path)) ||
        (c.sse_path && !valid_path(c.sse_path)) ||
        (c.messages_path && !valid_path(c.messages_path)))
        return MCP_EINVAL;
    if (!c.max_sessions)
        c.max_sessions = DEFAULT_MAX_SESSIONS;
    if (!c.idle_timeout_ms)
        c.idle_timeout_ms = DEFAULT_IDLE_MS;
    if (!c.stream_max_events)
        c.stream_max_events = DEFAULT_STREAM_EVENTS;
    if (!c.stream_max_bytes)
        c.stream_max_bytes = DEFAULT_STREAM_BYTES;
    if (!c.session_max_bytes)
        c.session_max_bytes = DEFAULT_SESSION_BYTES;
    if (!c.max_message_bytes)
        c.max_message_bytes = DEFAULT_MESSAGE_BYTES;
    if (!c.max_resumable_streams)
        c.max_resumable_streams = DEFAULT_RESUMABLE_STREAMS;
    if (!c.retry_ms)
        c.retry_ms = DEFAULT_RETRY_MS;
    if (!c.keepalive_ms)
        c.keepalive_ms = DEFAULT_KEEPALIVE_MS;
    mcp_http_server_t *t = mcp_calloc(1, sizeof(*t));
    if (!t)
        return MCP_ENOMEM;
    ignore_sigpipe();
    t->loop = loop;
    t->server = server;
    t->cfg = c;
    t->cfg.allowed_hosts = NULL;
    t->mcp_path = dup_or(c.mcp_path, "/mcp");
    t->sse_path = dup_or(c.sse_path, "/sse");
    t->messages_path = dup_or(c.messages_path, "/messages");
    t->nbuckets = 16;
    while (t->nbuckets < c.max_sessions && t->nbuckets < 65536)
        t->nbuckets <<= 1;
    t->buckets = mcp_calloc(t->nbuckets, sizeof(hsess_t *));
    if (!t->mcp_path || !t->sse_path || !t->messages_path || !t->buckets ||
        copy_hosts(t, cfg ? cfg->allowed_hosts : NULL)) {
        free_strings(t);
        mcp_free(t);
        return MCP_ENOMEM;
    }
    t->cfg.mcp_path = t->mcp_path;
    t->cfg.sse_path = t->sse_path;
    t->cfg.messages_path = t->messages_path;
    uv_timer_init(loop, &t->sweep);
    uv_timer_init(loop, &t->reap);
    t->sweep.data = t->reap.data = t;
    t->handles = 2;
    uint64_t tick = (c.idle_timeout_ms < c.keepalive_ms ? c.idle_timeout_ms : c.keepalive_ms) / 4;
    tick = tick < 5 ? 5 : tick > 1000 ? 1000 : tick;
    uv_timer_start(&t->sweep, on_sweep, tick, tick);
    *out = t;
    return 0;
}

int mcp_http_server_mount(mcp_http_server_t *t, http_router_t *router, http_server_t *http)
{
    if (!t || !router)
        return MCP_EINVAL;
    if (t->mounted || t->closing)
        return MCP_ESTATE;
    int rc = 0;
    if (!t->cfg.no_streamable)
        rc = http_router_add(router, "GET,POST,DELETE", t->mcp_path, on_mcp, t);
    if (!rc && !t->cfg.no_legacy_sse) {
        rc = http_router_add(router, "GET", t->sse_path, on_sse, t);
        if (!rc)
            rc = http_router_add(router, "POST", t->messages_path, on_messages, t);
    }
    if (rc)
        return rc;
    t->mounted = 1;
    if (http)
        t->http = http;
    return 0;
}

int mcp_http_server_listen(mcp_http_server_t *t, const char *host, int port,
                           const http_server_config_t *hcfg)
{
    if (!t || !host)
        return MCP_EINVAL;
    if (t->mounted || t->closing || t->own_http)
        return MCP_ESTATE;
    http_router_t *router = http_router_new();
    if (!router)
        return MCP_ENOMEM;
    http_server_t *http = NULL;
    int rc = http_server_new(t->loop, hcfg, http_router_handle, router, &http);
    if (rc) {
        http_router_free(router);
        return rc;
    }
    t->router = router;
    t->http = http;
    t->own_http = 1;
    rc = mcp_http_server_mount(t, router, http);
    if (!rc)
        rc = http_server_listen(http, host, port);
    if (rc)
        LOG_E(COMP, "cannot listen", "host=%s port=%d err=%s", host, port, mcp_strerror(rc));
    return rc;
}

http_router_t *mcp_http_server_router(mcp_http_server_t *t)
{
    return t->own_http ? t->router : NULL;
}

http_server_t *mcp_http_server_http(mcp_http_server_t *t)
{
    return t->http;
}

int mcp_http_server_port(const mcp_http_server_t *t)
{
    return t->http ? http_server_port(t->http) : MCP_ESTATE;
}

static void on_timer_closed(uv_handle_t *h)
{
    mcp_http_server_t *t = h->data;
    t->handles--;
    maybe_closed(t);
}

static void on_http_closed(http_server_t *srv, void *ud)
{
    mcp_http_server_t *t = ud;
    http_server_free(srv);
    http_router_free(t->router);
    t->router = NULL;
    t->http = NULL;
    t->own_http = 0;
    t->http_closing = 0;
    maybe_closed(t);
}

static void maybe_closed(mcp_http_server_t *t)
{
    if (!t->torn_down || t->handles > 0 || t->http_closing || t->own_http)
        return;
    if (t->closed_cb)
        t->closed_cb(t, t->closed_ud);
    free_strings(t);
    mcp_free(t);
}

static void teardown(mcp_http_server_t *t)
{
    t->torn_down = 1;
    while (t->sessions) {
        hsess_t *hs = t->sessions;
        hs->busy = 0;
        sess_destroy(hs);
    }
    while (t->dead) {
        stream_t *st = t->dead;
        t->dead = st->dead_next;
        stream_free(st);
    }
    uv_timer_stop(&t->sweep);
    uv_timer_stop(&t->reap);
    uv_close((uv_handle_t *)&t->sweep, on_timer_closed);
    uv_close((uv_handle_t *)&t->reap, on_timer_closed);
    if (t->own_http) {
        t->http_closing = 1;
        if (http_server_shutdown(t->http, 0, on_http_closed, t) != 0)
            on_http_closed(t->http, t);
    }
}

int mcp_http_server_close(mcp_http_server_t *t, mcp_http_closed_fn cb, void *ud)
{
    if (!t)
        return MCP_EINVAL;
    if (t->closing)
        return MCP_ESTATE;
    t->closing = 1;
    t->closed_cb = cb;
    t->closed_ud = ud;
    defer(t);
    return 0;
}

size_t mcp_http_server_session_count(const mcp_http_server_t *t)
{
    return t->nsessions - t->ndoomed;
}

void mcp_http_server_get_stats(const mcp_http_server_t *t, mcp_http_stats_t *out)
{
    *out = t->stats;
    out->sessions = t->nsessions - t->ndoomed;
    out->legacy_sessions = t->nlegacy;
    out->live_streams = t->live;
}

static hsess_t *sess_of(const mcp_http_server_t *t, const mcp_session_t *s)
{
    if (!s)
        return NULL;
    for (hsess_t *hs = t->sessions; hs; hs = hs->next)
        if (hs->session == s && !hs->doomed)
            return hs;
    return NULL;
}

const char *mcp_http_server_session_id(const mcp_http_server_t *t, const mcp_session_t *session)
{
    hsess_t *hs = sess_of(t, session);
    return hs ? hs->id : NULL;
}

mcp_session_t *mcp_http_server_find_session(const mcp_http_server_t *t, const char *id)
{
    hsess_t *hs = sess_find(t, id);
    return hs && !hs->doomed ? hs->session : NULL;
}

void mcp_http_server_set_pre_hook(mcp_http_server_t *t, mcp_http_pre_fn fn, void *ud)
{
    t->pre = fn;
    t->pre_ud = ud;
}

void mcp_http_server_set_send_filter(mcp_http_server_t *t, mcp_http_send_filter_fn fn, void *ud)
{
    t->filter = fn;
    t->filter_ud = ud;
}

int mcp_http_server_expire_session(mcp_http_server_t *t, mcp_session_t *session)
{
    hsess_t *hs = sess_of(t, session);
    if (!hs)
        return MCP_ENOTFOUND;
    LOG_I(COMP, "session expired on request", "session=%s", mcp_session_label(session));
    t->stats.sessions_expired++;
    sess_doom(hs);
    return 0;
}

/* Does the POST body of req carry a request with this id? */
static int body_has_id(http_req_t *req, const jsonrpc_id_t *id)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    jsonrpc_batch_t b;
    jsonrpc_error_t err;
    if (jsonrpc_parse(body, len, &b, &err) != 0)
        return 0;
    int found = 0;
    for (size_t i = 0; i < b.count && !found; i++)
        found = b.msgs[i].kind == JSONRPC_REQUEST && jsonrpc_id_equal(&b.msgs[i].id, id);
    jsonrpc_batch_free(&b);
    return found;
}

int mcp_http_server_end_call_stream(mcp_http_server_t *t, mcp_call_t *call)
{
    mcp_session_t *s = mcp_call_session(call);
    if (!s || mcp_call_is_finished(call))
        return MCP_ESTATE;
    hsess_t *hs = sess_of(t, s);
    if (!hs || hs->legacy)
        return MCP_ENOTFOUND;
    const jsonrpc_id_t *id = mcp_call_request_id(call);
    for (stream_t *st = hs->posts; st; st = st->next) {
        if (!st->req || st->done || http_req_method(st->req) != HTTP_POST ||
            !body_has_id(st->req, id))
            continue;
        if (st->mode == M_PENDING) {
            st->disconnect = 1;
        } else {
            LOG_D(COMP, "ending a call's stream for the client to poll", "session=%s stream=%u",
                  mcp_session_label(s), st->num);
            stream_end(st);
        }
        return 0;
    }
    return MCP_ENOTFOUND;
}
