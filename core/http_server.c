#include "http_server.h"

#include "alloc.h"
#include "errors.h"
#include "log.h"

#include <arpa/inet.h>
#include <http_parser.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_READ_BUF_SIZE (64 * 1024)
#define HTTP_MAX_LISTENERS 4
#define HTTP_MAX_PARAMS    8
#define HTTP_RESP_HDR_MAX  (16 * 1024)
#define HTTP_SCRATCH_MAX   (HTTP_RESP_HDR_MAX + 4096)
#define HTTP_CT_MAX        1024
#define HTTP_FREE_REQS_MAX 256
/* Recycled buffers keep their memory up to this size, so one big request does not pin it. */
#define HTTP_KEEP_CAP (64 * 1024)
/* Output buffers hold copies of whole responses the handler already has in memory; streamed
 * writes are bounded far below this by max_output_bytes. */
#define HTTP_OUT_MAX (1024u * 1024u * 1024u)

typedef enum { REQ_PARSING = 0, REQ_HANDLER, REQ_STREAMING, REQ_DONE } req_state_t;
typedef enum { PH_URL = 0, PH_FIELD, PH_VALUE, PH_DONE } parse_phase_t;
typedef enum { DL_NONE = 0, DL_IDLE, DL_HEADER, DL_BODY, DL_LINGER } deadline_kind_t;

/* Offsets into the request arena: the arena may move while headers arrive. */
typedef struct hdr_ent_s {
    uint32_t name, name_len, value, value_len;
} hdr_ent_t;

typedef struct param_ent_s {
    const char *name;
    uint32_t off, len;
} param_ent_t;

typedef struct http_conn_s http_conn_t;

struct http_req_s {
    /* Kept across recycling (memory reuse). */
    buf_t arena; /* target, header names and values, path, query, route params; NUL-separated */
    buf_t body;
    buf_t qbuf; /* decoded query pairs "name\0value\0", built on first lookup */
    buf_t rhdr; /* extra response headers */
    buf_t out;  /* response bytes waiting for earlier responses on the connection */
    hdr_ent_t *hdrs;
    uint32_t hdrs_cap;
    /* Everything from `srv` on is zeroed for each request. */
    http_server_t *srv;
    http_conn_t *conn;
    http_req_t *next;
    uint64_t id;
    uint64_t start_ms;
    req_state_t state;
    parse_phase_t phase;
    int status;
    unsigned method, http_major, http_minor;
    uint32_t nhdrs, nparams, nq;
    size_t header_bytes;
    uint32_t target_off, target_len, path_off, query_off;
    param_ent_t params[HTTP_MAX_PARAMS];
    void *userdata;
    http_req_event_fn on_close, on_drain;
    void *on_close_ud, *on_drain_ud;
    unsigned keep_alive : 1;
    unsigned head_only : 1;
    unsigned chunked : 1;
    unsigned headers_done : 1;
    unsigned query_parsed : 1;
    unsigned drain_armed : 1;
    unsigned in_cb : 1;
    unsigned detached : 1;
    char id_str[24];
    char peer[64]; /* copied when the connection goes away */
};

struct http_conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    http_server_t *srv;
    http_conn_t *prev, *next;
    http_conn_t *resume_next;
    http_parser parser;
    /* Requests in arrival order; the head is the one whose output goes to the socket. The
     * request being parsed, if any, is the tail. */
    http_req_t *q_head, *q_tail;
    http_req_t *parsing;
    http_req_t *ready; /* completed by the parser, to be dispatched outside it */
    unsigned nq;
    int err_status;  /* set by a parser callback that rejects the request */
    size_t deferred; /* bytes buffered in non-head requests */
    buf_t out;       /* waiting for the write in flight */
    buf_t flight;    /* the write in flight */
    buf_t pending;   /* input not parsed yet because max_pipeline was reached */
    uint64_t last_active, body_active, linger_start, timer_due;
    int handles_open;
    unsigned writing : 1;
    unsigned reading : 1;
    unsigned closing : 1;
    unsigned stop_parsing : 1;
    unsigned close_after_flush : 1;
    unsigned lingering : 1;
    unsigned virt : 1;
    unsigned resume_queued : 1;
    unsigned timer_active : 1;
    unsigned eof : 1;
    struct sockaddr_storage peer;
    char peer_str[64];
};

typedef enum { LST_UNUSED = 0, LST_OPEN, LST_CLOSING } lst_state_t;

struct http_server_s {
    uv_loop_t *loop;
    http_server_config_t cfg;
    http_handler_fn handler;
    void *handler_ud;
    uv_tcp_t lst[HTTP_MAX_LISTENERS];
    lst_state_t lst_state[HTTP_MAX_LISTENERS];
    unsigned char lst_blocked[HTTP_MAX_LISTENERS];
    unsigned nlst;
    uv_idle_t idle;
    uv_timer_t grace;
    int idle_init, grace_init, handles_open;
    http_conn_t *conns;
    http_conn_t *resume_head;
    http_req_t *free_reqs;
    unsigned nfree;
    http_server_stats_t stats;
    uint64_t next_id;
    int shutting_down, final_closing, done;
    http_server_closed_fn closed_cb;
    void *closed_ud;
    time_t date_sec;
    char date_line[64];
    size_t date_len;
    buf_t scratch;
    buf_t *virt_out;
    char *rbuf;
};

static void conn_close(http_conn_t *c);
static void conn_advance(http_conn_t *c);
static void conn_linger(http_conn_t *c);
static void conn_schedule(http_conn_t *c);
static void conn_update_timer(http_conn_t *c);
static void conn_fail(http_conn_t *c, int status);
static void conn_read_start(http_conn_t *c);
static void srv_check_done(http_server_t *srv);

/* ---- small helpers ---- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

static size_t fmt_u64(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static size_t fmt_hex(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* The Date header changes once a second; format it only then. */
static void srv_update_date(http_server_t *srv)
{
    time_t now = time(NULL);
    if (now == srv->date_sec && srv->date_len)
        return;
    struct tm tm;
    gmtime_r(&now, &tm);
    srv->date_sec = now;
    srv->date_len =
        strftime(srv->date_line, sizeof srv->date_line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int http_server_pct_decode(const char *in, size_t len, char *out, int plus_space, int strict)
{
    if (len > INT_MAX / 2)
        return MCP_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (ch == '%') {
            int hi = i + 2 < len ? hexval(in[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(in[i + 2]) : -1;
            if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
                out[o++] = (char)(hi * 16 + lo);
                i += 2;
                continue;
            }
            /* An encoded NUL would silently cut C strings: strict callers reject it, lenient
             * ones keep it encoded. */
            if (strict)
                return MCP_EPARSE;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        }
        out[o++] = ch;
    }
    out[o] = '\0';
    return (int)o;
}

static int is_token_char(unsigned char ch)
{
    if (ch >= 'a' && ch <= 'z')
        return 1;
    if (ch >= 'A' && ch <= 'Z')
        return 1;
    if (ch >= '0' && ch <= '9')
        return 1;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int bad_field_value(const char *v, size_t max)
{
    size_t n = strnlen(v, max + 1);
    return n > max || strpbrk(v, "\r\n") != NULL;
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else {
        snprintf(out, cap, "-");
    }
}

/* ---- request objects ---- */

static http_req_t *req_new(const http_server_t *srv)
{
    http_req_t *r = mcp_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    const http_server_config_t *cfg = &srv->cfg;
    /* Header bytes are limited by counting; the arena also holds NULs, path/query copies and
     * route parameters, all bounded by the header limit. */
    buf_init(&r->arena, 3 * cfg->max_header_bytes + 2 * cfg->max_headers + 256);
    buf_init(&r->body, cfg->max_body_bytes);
    buf_init(&r->qbuf, 2 * cfg->max_header_bytes + 16);
    buf_init(&r->rhdr, HTTP_RESP_HDR_MAX);
    buf_init(&r->out, HTTP_OUT_MAX);
    return r;
}

static void req_free(http_req_t *r)
{
    buf_free(&r->arena);
    buf_free(&r->body);
    buf_free(&r->qbuf);
    buf_free(&r->rhdr);
    buf_free(&r->out);
    mcp_free(r->hdrs);
    mcp_free(r);
}

static void buf_recycle(buf_t *b)
{
    if (b->cap > HTTP_KEEP_CAP)
        buf_free(b);
    else
        buf_reset(b);
}

static void req_reset(http_req_t *r)
{
    buf_recycle(&r->arena);
    buf_recycle(&r->body);
    buf_recycle(&r->qbuf);
    buf_recycle(&r->rhdr);
    buf_recycle(&r->out);
    if (r->hdrs_cap > 128) {
        mcp_free(r->hdrs);
        r->hdrs = NULL;
        r->hdrs_cap = 0;
    }
    size_t off = offsetof(http_req_t, srv);
    memset((char *)r + off, 0, sizeof *r - off);
}

static http_req_t *srv_req_get(http_server_t *srv)
{
    http_req_t *r = srv->free_reqs;
    if (r) {
        srv->free_reqs = r->next;
        srv->nfree--;
        r->next = NULL;
        return r;
    }
    return req_new(srv);
}

static void srv_req_put(http_server_t *srv, http_req_t *r)
{
    if (srv->nfree >= HTTP_FREE_REQS_MAX) {
        req_free(r);
        return;
    }
    req_reset(r);
    r->next = srv->free_reqs;
    srv->free_reqs = r;
    srv->nfree++;
}

/* A finishing call on a detached request releases it, unless we are inside its on_close
 * callback: then the caller of the callback frees it afterwards. */
static void req_release_detached(http_req_t *r)
{
    r->state = REQ_DONE;
    if (!r->in_cb)
        req_free(r);
}

static void conn_enqueue(http_conn_t *c, http_req_t *r)
{
    r->next = NULL;
    if (c->q_tail)
        c->q_tail->next = r;
    else
        c->q_head = r;
    c->q_tail = r;
    c->nq++;
}

static void conn_remove_tail(http_conn_t *c, http_req_t *r)
{
    http_req_t **pp = &c->q_head, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = r->next;
    if (c->q_tail == r)
        c->q_tail = prev;
    c->nq--;
    if (r != c->q_head)
        c->deferred -= r->out.len;
}

static http_req_t *conn_new_req(http_conn_t *c)
{
    http_server_t *srv = c->srv;
    http_req_t *r = srv_req_get(srv);
    if (!r)
        return NULL;
    r->srv = srv;
    r->conn = c;
    r->id = ++srv->next_id;
    r->start_ms = uv_now(srv->loop);
    r->state = REQ_PARSING;
    r->phase = PH_URL;
    r->http_major = 1;
    r->http_minor = 1;
    conn_enqueue(c, r);
    return r;
}

/* ---- output ---- */

static size_t conn_sock_queued(const http_conn_t *c)
{
    size_t q = c->out.len;
    if (c->writing)
        q += uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
    return q;
}

static size_t conn_queued(const http_conn_t *c)
{
    return conn_sock_queued(c) + c->deferred;
}

static void on_write(uv_write_t *w, int status);

static void conn_flush(http_conn_t *c)
{
    if (c->writing || c->closing || c->out.len == 0)
        return;
    buf_t t = c->flight;
    c->flight = c->out;
    c->out = t;
    uv_buf_t b = uv_buf_init(c->flight.data, (unsigned)c->flight.len);
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        conn_close(c);
        return;
    }
    c->writing = 1;
}

/* Output of the connection's head request: straight to the kernel when nothing is queued (no
 * copy), otherwise behind what is queued. */
static int conn_write(http_conn_t *c, const uv_buf_t *iov, unsigned n)
{
    if (c->closing)
        return MCP_ECLOSED;
    if (c->virt) {
        for (unsigned i = 0; i < n && c->srv->virt_out; i++)
            (void)buf_append(c->srv->virt_out, iov[i].base, iov[i].len); /* truncates at max */
        return 0;
    }
    size_t skip = 0;
    if (!c->writing && c->out.len == 0) {
        int w = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
        if (w < 0 && w != UV_EAGAIN) {
            conn_close(c);
            return MCP_ECLOSED;
        }
        if (w > 0)
            skip = (size_t)w;
    }
    for (unsigned i = 0; i < n; i++) {
        size_t l = iov[i].len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        int rc = buf_append(&c->out, iov[i].base + skip, l - skip);
        skip = 0;
        if (rc) {
            conn_close(c);
            return rc;
        }
    }
    conn_flush(c);
    return 0;
}

static void conn_on_drained(http_conn_t *c)
{
    if (c->close_after_flush) {
        conn_linger(c);
        return;
    }
    http_req_t *h = c->q_head;
    if (h && h->drain_armed && h->state == REQ_STREAMING) {
        h->drain_armed = 0;
        if (h->on_drain)
            h->on_drain(h, h->on_drain_ud); /* may finish h */
    }
}

static void on_write(uv_write_t *w, int status)
{
    http_conn_t *c = w->data;
    c->writing = 0;
    if (c->flight.cap > HTTP_KEEP_CAP)
        buf_free(&c->flight);
    else
        buf_reset(&c->flight);
    if (c->closing)
        return;
    if (status < 0) {
        LOG_D("http", "write failed", "peer=%s err=%s", c->peer_str, mcp_strerror(status));
        conn_close(c);
        return;
    }
    c->last_active = uv_now(c->srv->loop);
    if (c->out.len) {
        conn_flush(c);
        return;
    }
    conn_on_drained(c);
}

/* Bytes of request r, in request order. */
static int req_emit(http_req_t *r, const uv_buf_t *iov, unsigned n)
{
    http_conn_t *c = r->conn;
    if (c->closing || c->close_after_flush)
        return MCP_ECLOSED;
    if (r == c->q_head)
        return conn_write(c, iov, n);
    for (unsigned i = 0; i < n; i++) {
        int rc = buf_append(&r->out, iov[i].base, iov[i].len);
        if (rc)
            return rc;
        c->deferred += iov[i].len;
    }
    return 0;
}

static int head_append(buf_t *h, const char *s, size_t n)
{
    return buf_append(h, s, n);
}

#define HEAD_LIT(h, lit) head_append((h), (lit), sizeof(lit) - 1)

/* Status line and headers into the server's scratch buffer (used synchronously only). */
static int build_head(http_req_t *r, int status, const char *ct, int with_length, uint64_t clen,
                      int chunked)
{
    http_server_t *srv = r->srv;
    buf_t *h = &srv->scratch;
    char num[32];
    int rc = 0;
    srv_update_date(srv);
    buf_reset(h);
    rc |= HEAD_LIT(h, "HTTP/1.1 ");
    rc |= head_append(h, num, fmt_u64(num, (uint64_t)status));
    rc |= buf_putc(h, ' ');
    rc |= buf_append_str(h, reason_phrase(status));
    rc |= HEAD_LIT(h, "\r\n");
    rc |= head_append(h, srv->date_line, srv->date_len);
    if (ct) {
        rc |= HEAD_LIT(h, "Content-Type: ");
        rc |= buf_append_str(h, ct);
        rc |= HEAD_LIT(h, "\r\n");
    }
    if (with_length) {
        rc |= HEAD_LIT(h, "Content-Length: ");
        rc |= head_append(h, num, fmt_u64(num, clen));
        rc |= HEAD_LIT(h, "\r\n");
    }
    if (chunked)
        rc |= HEAD_LIT(h, "Transfer-Encoding: chunked\r\n");
    if (!r->keep_alive)
        rc |= HEAD_LIT(h, "Connection: close\r\n");
    else if (r->http_major == 1 && r->http_minor == 0)
        rc |= HEAD_LIT(h, "Connection: keep-alive\r\n");
    if (r->rhdr.len)
        rc |= head_append(h, r->rhdr.data, r->rhdr.len);
    rc |= HEAD_LIT(h, "\r\n");
    return rc ? MCP_ENOBUFS : 0;
}

static void req_decide_keep_alive(http_req_t *r)
{
    http_conn_t *c = r->conn;
    if (c->stop_parsing && r == c->q_tail)
        r->keep_alive = 0;
    if (r->srv->shutting_down && r == c->q_tail)
        r->keep_alive = 0;
}

static int req_send_response(http_req_t *r, int status, const char *ct, const void *body,
                             size_t len)
{
    http_conn_t *c = r->conn;
    int bodyless = status < 200 || status == 204 || status == 304;
    req_decide_keep_alive(r);
    int rc = build_head(r, status, ct, !bodyless, len, 0);
    if (rc) {
        conn_close(c); /* nothing can be sent in this request's place */
        return MCP_ECLOSED;
    }
    buf_t *h = &r->srv->scratch;
    uv_buf_t iov[2];
    unsigned n = 1;
    iov[0] = uv_buf_init(h->data, (unsigned)h->len);
    if (!bodyless && !r->head_only && len)
        iov[n++] = uv_buf_init((char *)body, (unsigned)len);
    r->status = status;
    rc = req_emit(r, iov, n);
    if (rc < 0 && rc != MCP_ECLOSED)
        conn_close(c); /* part of a response may be out: the stream cannot be resynchronised */
    return rc;
}

static void req_log(const http_req_t *r)
{
    if (!log_enabled(LOG_DEBUG))
        return;
    const char *path = r->arena.data && r->headers_done ? r->arena.data + r->path_off : "-";
    LOG_D("http", "request", "rid=r%" PRIu64 " peer=%s method=%s path=%s status=%d ms=%" PRIu64,
          r->id, r->conn ? r->conn->peer_str : "-",
          r->headers_done ? http_method_str((enum http_method)r->method) : "-", log_quote(path),
          r->status, uv_now(r->srv->loop) - r->start_ms);
}

static void req_finish(http_req_t *r)
{
    http_conn_t *c = r->conn;
    r->state = REQ_DONE;
    r->on_close = NULL;
    r->on_drain = NULL;
    r->drain_armed = 0;
    if (!c->closing && r == c->q_head)
        conn_advance(c);
}

/* The head request finished: retire it and every finished request behind it, moving each new
 * head's buffered output to the socket. */
static void conn_advance(http_conn_t *c)
{
    http_server_t *srv = c->srv;
    http_req_t *h;
    while ((h = c->q_head) != NULL && !c->close_after_flush && !c->closing) {
        if (h->out.len) {
            uv_buf_t b = uv_buf_init(h->out.data, (unsigned)h->out.len);
            c->deferred -= h->out.len;
            int rc = conn_write(c, &b, 1);
            buf_recycle(&h->out);
            if (rc)
                return;
        }
        if (h->state != REQ_DONE)
            break;
        c->q_head = h->next;
        if (!c->q_head)
            c->q_tail = NULL;
        c->nq--;
        int close = !h->keep_alive;
        req_log(h);
        srv_req_put(srv, h);
        c->last_active = uv_now(srv->loop);
        if (close) {
            /* Anything behind a "Connection: close" response is never sent. */
            c->close_after_flush = 1;
            c->stop_parsing = 1;
        }
    }
    if (c->closing)
        return;
    if (!c->q_head && (c->stop_parsing || srv->shutting_down))
        c->close_after_flush = 1;
    if (c->close_after_flush) {
        if (!c->writing && c->out.len == 0)
            conn_linger(c);
        return;
    }
    if (c->pending.len)
        conn_schedule(c);
    h = c->q_head;
    if (h && h->drain_armed && conn_sock_queued(c) == 0)
        conn_schedule(c);
    conn_update_timer(c);
}

/* ---- closing ---- */

static void on_conn_handle_closed(uv_handle_t *h);

static void conn_close(http_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->virt)
        return;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *s, int status)
{
    http_conn_t *c = s->data;
    if (!c->closing && status < 0)
        conn_close(c);
}

/* Close after the last response: shut down our side, then read and drop input for a while so
 * unread client data does not turn into a reset that destroys the response in flight. */
static void conn_linger(http_conn_t *c)
{
    if (c->lingering || c->closing)
        return;
    c->stop_parsing = 1;
    if (c->virt || c->eof) {
        conn_close(c);
        return;
    }
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        conn_close(c);
        return;
    }
    c->lingering = 1;
    c->linger_start = uv_now(c->srv->loop);
    if (!c->reading)
        conn_read_start(c);
    conn_update_timer(c);
}

static void srv_unschedule(http_server_t *srv, http_conn_t *c)
{
    if (!c->resume_queued || c->virt)
        return;
    for (http_conn_t **pp = &srv->resume_head; *pp; pp = &(*pp)->resume_next) {
        if (*pp == c) {
            *pp = c->resume_next;
            break;
        }
    }
    c->resume_queued = 0;
}

static void srv_maybe_accept(http_server_t *srv);

/* Both handles are closed: release the connection. Requests still owned by handlers are
 * detached and told through on_close, after the connection is gone. */
static void conn_finalize(http_conn_t *c)
{
    http_server_t *srv = c->srv;
    int virt = c->virt;
    if (!virt) {
        if (c->prev)
            c->prev->next = c->next;
        else
            srv->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        srv->stats.connections--;
        srv_unschedule(srv, c);
    }
    http_req_t *gone = NULL, **tail = &gone;
    http_req_t *r = c->q_head;
    while (r) {
        http_req_t *next = r->next;
        if (r->state == REQ_HANDLER || r->state == REQ_STREAMING) {
            r->conn = NULL;
            r->srv = NULL;
            r->detached = 1;
            r->drain_armed = 0;
            r->on_drain = NULL;
            memcpy(r->peer, c->peer_str, sizeof r->peer);
            r->next = NULL;
            *tail = r;
            tail = &r->next;
        } else {
            srv_req_put(srv, r);
        }
        r = next;
    }
    buf_free(&c->out);
    buf_free(&c->flight);
    buf_free(&c->pending);
    mcp_free(c);
    while (gone) {
        r = gone;
        gone = r->next;
        r->next = NULL;
        http_req_event_fn cb = r->on_close;
        r->on_close = NULL;
        if (cb) {
            r->in_cb = 1;
            cb(r, r->on_close_ud);
            r->in_cb = 0;
        }
        if (r->state == REQ_DONE)
            req_free(r);
    }
    if (!virt) {
        srv_maybe_accept(srv);
        srv_check_done(srv); /* may free srv: last */
    }
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    http_conn_t *c = h->data;
    if (--c->handles_open == 0)
        conn_finalize(c);
}

/* ---- timers ---- */

static uint64_t conn_deadline(const http_conn_t *c, deadline_kind_t *kind)
{
    const http_server_config_t *cfg = &c->srv->cfg;
    if (c->lingering) {
        *kind = DL_LINGER;
        return c->linger_start + cfg->linger_ms;
    }
    if (c->parsing) {
        if (!c->parsing->headers_done) {
            *kind = DL_HEADER;
            return c->parsing->start_ms + cfg->header_timeout_ms;
        }
        *kind = DL_BODY;
        return c->body_active + cfg->body_timeout_ms;
    }
    if (!c->q_head) {
        *kind = DL_IDLE;
        return c->last_active + cfg->idle_timeout_ms;
    }
    *kind = DL_NONE;
    return 0;
}

static void on_conn_timer(uv_timer_t *t);

/* Lazy timer: it is only restarted when the new deadline is earlier than the armed one; the
 * callback recomputes the real deadline, so most requests never touch the timer heap. */
static void conn_update_timer(http_conn_t *c)
{
    if (c->virt || c->closing)
        return;
    deadline_kind_t kind;
    uint64_t due = conn_deadline(c, &kind);
    if (!due || (c->timer_active && c->timer_due <= due))
        return;
    uint64_t now = uv_now(c->srv->loop);
    uv_timer_start(&c->timer, on_conn_timer, due > now ? due - now : 0, 0);
    c->timer_active = 1;
    c->timer_due = due;
}

static void on_conn_timer(uv_timer_t *t)
{
    http_conn_t *c = t->data;
    c->timer_active = 0;
    if (c->closing)
        return;
    deadline_kind_t kind;
    uint64_t due = conn_deadline(c, &kind);
    if (!due)
        return;
    if (uv_now(c->srv->loop) < due) {
        conn_update_timer(c);
        return;
    }
    switch (kind) {
    case DL_HEADER:
    case DL_BODY:
        LOG_D("http", "request timeout", "peer=%s phase=%s", c->peer_str,
              kind == DL_HEADER ? "header" : "body");
        c->srv->stats.timeouts++;
        conn_fail(c, 408);
        break;
    case DL_IDLE:
    case DL_LINGER: conn_close(c); break;
    case DL_NONE: break;
    }
}

/* ---- parsing ---- */

static int req_count(http_conn_t *c, http_req_t *r, size_t len)
{
    r->header_bytes += len;
    if (r->header_bytes > c->srv->cfg.max_header_bytes) {
        c->err_status = r->phase == PH_URL ? 414 : 431;
        return -1;
    }
    return 0;
}

static int arena_fail(http_conn_t *c, int rc)
{
    c->err_status = rc == MCP_ENOBUFS ? 431 : 503;
    return -1;
}

/* Close the current arena entry (target, header name or value) with a NUL. */
static int req_end_entry(http_conn_t *c, http_req_t *r)
{
    buf_t *a = &r->arena;
    hdr_ent_t *e = r->nhdrs ? &r->hdrs[r->nhdrs - 1] : NULL;
    int rc = 0;
    switch (r->phase) {
    case PH_URL:
        r->target_len = (uint32_t)(a->len - r->target_off);
        rc = buf_putc(a, '\0');
        break;
    case PH_FIELD: /* a header without a value */
        e->name_len = (uint32_t)(a->len - e->name);
        rc = buf_putc(a, '\0');
        e->value = (uint32_t)a->len;
        e->value_len = 0;
        rc = rc ? rc : buf_putc(a, '\0');
        break;
    case PH_VALUE:
        e->value_len = (uint32_t)(a->len - e->value);
        rc = buf_putc(a, '\0');
        break;
    case PH_DONE: break;
    }
    return rc ? arena_fail(c, rc) : 0;
}

static int hp_message_begin(http_parser *p)
{
    http_conn_t *c = p->data;
    http_req_t *r = conn_new_req(c);
    if (!r) {
        c->err_status = -1;
        return -1;
    }
    c->parsing = r;
    return 0;
}

static int hp_url(http_parser *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    http_req_t *r = c->parsing;
    if (req_count(c, r, len))
        return -1;
    int rc = buf_append(&r->arena, at, len);
    return rc ? arena_fail(c, rc) : 0;
}

static int hp_header_field(http_parser *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    http_req_t *r = c->parsing;
    if (req_count(c, r, len))
        return -1;
    if (r->headers_done)
        return 0; /* trailer: counted, not kept */
    if (r->phase != PH_FIELD) {
        if (req_end_entry(c, r))
            return -1;
        if (r->nhdrs >= c->srv->cfg.max_headers) {
            c->err_status = 431;
            return -1;
        }
        if (r->nhdrs == r->hdrs_cap) {
            uint32_t cap = r->hdrs_cap ? r->hdrs_cap * 2 : 16;
            if (cap > c->srv->cfg.max_headers)
                cap = (uint32_t)c->srv->cfg.max_headers;
            hdr_ent_t *h = mcp_realloc(r->hdrs, cap * sizeof *h);
            if (!h) {
                c->err_status = 503;
                return -1;
            }
            r->hdrs = h;
            r->hdrs_cap = cap;
        }
        hdr_ent_t *e = &r->hdrs[r->nhdrs++];
        e->name = (uint32_t)r->arena.len;
        e->name_len = e->value = e->value_len = 0;
        r->phase = PH_FIELD;
    }
    int rc = buf_append(&r->arena, at, len);
    return rc ? arena_fail(c, rc) : 0;
}

static int hp_header_value(http_parser *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    http_req_t *r = c->parsing;
    if (req_count(c, r, len))
        return -1;
    if (r->headers_done)
        return 0;
    if (r->phase == PH_FIELD) {
        hdr_ent_t *e = &r->hdrs[r->nhdrs - 1];
        e->name_len = (uint32_t)(r->arena.len - e->name);
        int rc = buf_putc(&r->arena, '\0');
        if (rc)
            return arena_fail(c, rc);
        e->value = (uint32_t)r->arena.len;
        r->phase = PH_VALUE;
    }
    int rc = buf_append(&r->arena, at, len);
    return rc ? arena_fail(c, rc) : 0;
}

/* Copy path and query out of the target, as separate NUL-terminated strings. */
static int req_split_target(http_conn_t *c, http_req_t *r)
{
    const char *t = r->arena.data + r->target_off;
    size_t tl = r->target_len;
    size_t p_off = 0, p_len = tl, q_off = 0, q_len = 0;
    int root = 0;
    if (tl && t[0] != '/' && !(tl == 1 && t[0] == '*')) {
        /* absolute-form ("http://host/p?q") or authority-form (CONNECT) */
        struct http_parser_url u;
        http_parser_url_init(&u);
        if (http_parser_parse_url(t, tl, r->method == HTTP_CONNECT, &u) != 0 ||
            !(u.field_set & (1u << UF_HOST))) {
            c->err_status = 400;
            return -1;
        }
        if (u.field_set & (1u << UF_PATH)) {
            p_off = u.field_data[UF_PATH].off;
            p_len = u.field_data[UF_PATH].len;
        } else {
            root = 1;
            p_len = 0;
        }
        if (u.field_set & (1u << UF_QUERY)) {
            q_off = u.field_data[UF_QUERY].off;
            q_len = u.field_data[UF_QUERY].len;
        }
    } else {
        const char *hash = memchr(t, '#', tl);
        size_t end = hash ? (size_t)(hash - t) : tl;
        const char *qm = memchr(t, '?', end);
        if (qm) {
            p_len = (size_t)(qm - t);
            q_off = p_len + 1;
            q_len = end - q_off;
        } else {
            p_len = end;
        }
    }
    int rc = buf_reserve(&r->arena, p_len + q_len + 4);
    if (rc)
        return arena_fail(c, rc);
    t = r->arena.data + r->target_off; /* reserved: no move below */
    r->path_off = (uint32_t)r->arena.len;
    if (root)
        rc |= buf_putc(&r->arena, '/');
    else
        rc |= buf_append(&r->arena, t + p_off, p_len);
    rc |= buf_putc(&r->arena, '\0');
    r->query_off = (uint32_t)r->arena.len;
    rc |= buf_append(&r->arena, t + q_off, q_len);
    rc |= buf_putc(&r->arena, '\0');
    return rc ? arena_fail(c, MCP_ENOMEM) : 0;
}

static int hp_headers_complete(http_parser *p)
{
    http_conn_t *c = p->data;
    http_req_t *r = c->parsing;
    const http_server_config_t *cfg = &c->srv->cfg;
    if (req_end_entry(c, r))
        return -1;
    r->phase = PH_DONE;
    r->headers_done = 1;
    r->method = p->method;
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    r->keep_alive = http_should_keep_alive(p) ? 1 : 0;
    r->head_only = p->method == HTTP_HEAD;
    if (req_split_target(c, r))
        return -1;
    c->body_active = uv_now(c->srv->loop);
    int chunked = (p->flags & F_CHUNKED) != 0;
    int has_len = !chunked && p->content_length != ULLONG_MAX;
    if (has_len && p->content_length > cfg->max_body_bytes) {
        c->err_status = 413;
        return -1;
    }
    const char *expect = http_req_header(r, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0) {
            c->err_status = 417;
            return -1;
        }
        int has_body = chunked || (has_len && p->content_length > 0);
        if (has_body && r->http_major == 1 && r->http_minor >= 1) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
            int rc = req_emit(r, &b, 1);
            if (rc) {
                c->err_status = -1;
                return -1;
            }
        }
    }
    return 0;
}

static int hp_body(http_parser *p, const char *at, size_t len)
{
    http_conn_t *c = p->data;
    http_req_t *r = c->parsing;
    int rc = buf_append(&r->body, at, len);
    if (rc) {
        c->err_status = rc == MCP_ENOBUFS ? 413 : 503;
        return -1;
    }
    c->body_active = uv_now(c->srv->loop);
    return 0;
}

/* Pause so the request is dispatched outside http_parser_execute: handlers then never run
 * inside the parser, and may close or shut down anything. */
static int hp_message_complete(http_parser *p)
{
    http_conn_t *c = p->data;
    c->ready = c->parsing;
    c->parsing = NULL;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings hp_settings = {
    .on_message_begin = hp_message_begin,
    .on_url = hp_url,
    .on_header_field = hp_header_field,
    .on_header_value = hp_header_value,
    .on_headers_complete = hp_headers_complete,
    .on_body = hp_body,
    .on_message_complete = hp_message_complete,
};

static const char *error_body(int status, size_t *len)
{
    static char body[96];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", reason_phrase(status));
    *len = n > 0 ? (size_t)n : 0;
    return body;
}

/* Answer the request being parsed (or a new one, when the input broke before a request began)
 * with an error, in order, then close. */
static void conn_fail(http_conn_t *c, int status)
{
    c->stop_parsing = 1;
    if (c->closing)
        return;
    if (status <= 0) {
        conn_close(c);
        return;
    }
    http_req_t *r = c->parsing;
    c->parsing = NULL;
    if (!r) {
        r = conn_new_req(c);
        if (!r) {
            conn_close(c);
            return;
        }
    }
    if (status != 408)
        c->srv->stats.bad_requests++;
    r->keep_alive = 0;
    r->head_only = 0;
    buf_reset(&r->rhdr);
    size_t blen;
    const char *body = error_body(status, &blen);
    (void)req_send_response(r, status, "application/json", body, blen);
    if (!c->closing)
        req_finish(r);
}

static void conn_parse_error(http_conn_t *c, enum http_errno e)
{
    int status = 400;
    if (e == HPE_HEADER_OVERFLOW)
        status = 431;
    else if (e >= HPE_CB_message_begin && e <= HPE_CB_chunk_complete)
        status = c->err_status ? c->err_status : 500;
    c->err_status = 0;
    LOG_D("http", "bad request", "peer=%s err=%s status=%d", c->peer_str, http_errno_name(e),
          status);
    conn_fail(c, status);
}

static void req_dispatch(http_req_t *r)
{
    http_server_t *srv = r->srv;
    r->state = REQ_HANDLER;
    srv->stats.requests++;
    srv->handler(r, srv->handler_ud);
}

/* Parse and dispatch; returns the bytes consumed. Stops early when max_pipeline requests are
 * in flight (the caller keeps the rest) or when no more requests are accepted. */
static size_t conn_feed(http_conn_t *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && !c->closing && !c->stop_parsing) {
        if (!c->parsing && c->nq >= c->srv->cfg.max_pipeline)
            break;
        size_t n = http_parser_execute(&c->parser, &hp_settings, data + off, len - off);
        off += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            http_req_t *r = c->ready;
            c->ready = NULL;
            if (!r->keep_alive || c->parser.upgrade) {
                /* Upgrades are not supported: answer as plain HTTP, then close. */
                r->keep_alive = 0;
                c->stop_parsing = 1;
            }
            req_dispatch(r); /* may finish (and recycle) r, or close c */
            continue;
        }
        if (e != HPE_OK) {
            conn_parse_error(c, e);
            break;
        }
        if (n == 0)
            break;
    }
    return off;
}

/* ---- deferred work (resume a paused pipeline, fire drain), run from the loop ---- */

static void conn_run_deferred(http_conn_t *c)
{
    c->resume_queued = 0;
    if (c->closing)
        return;
    http_req_t *h = c->q_head;
    if (h && h->drain_armed && h->state == REQ_STREAMING && conn_sock_queued(c) == 0) {
        h->drain_armed = 0;
        if (h->on_drain)
            h->on_drain(h, h->on_drain_ud);
        if (c->closing)
            return;
    }
    if (c->pending.len && !c->stop_parsing) {
        size_t used = conn_feed(c, c->pending.data, c->pending.len);
        buf_consume(&c->pending, used);
    }
    if (c->stop_parsing || c->closing)
        buf_free(&c->pending);
    if (!c->closing && !c->virt && !c->reading && c->pending.len == 0)
        conn_read_start(c);
    conn_update_timer(c);
}

static void on_srv_idle(uv_idle_t *h)
{
    http_server_t *srv = h->data;
    http_conn_t *list = srv->resume_head;
    srv->resume_head = NULL;
    uv_idle_stop(h);
    while (list) {
        http_conn_t *c = list;
        list = c->resume_next;
        c->resume_next = NULL;
        conn_run_deferred(c);
    }
}

static void conn_schedule(http_conn_t *c)
{
    if (c->resume_queued || c->closing)
        return;
    c->resume_queued = 1;
    if (c->virt)
        return; /* http_server_feed runs it */
    http_server_t *srv = c->srv;
    if (!srv->idle_init) {
        uv_idle_init(srv->loop, &srv->idle);
        srv->idle.data = srv;
        srv->idle_init = 1;
        srv->handles_open++;
    }
    c->resume_next = srv->resume_head;
    srv->resume_head = c;
    uv_idle_start(&srv->idle, on_srv_idle);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    http_conn_t *c = h->data;
    /* One buffer per server: input is parsed (and copied where kept) before the callback ends. */
    b->base = c->srv->rbuf;
    b->len = HTTP_READ_BUF_SIZE;
}

static void conn_on_eof(http_conn_t *c)
{
    c->eof = 1;
    c->reading = 0;
    c->stop_parsing = 1;
    /* A head request still being parsed or handled means the client left mid-exchange. */
    if (c->lingering || c->q_head || conn_sock_queued(c) == 0) {
        conn_close(c);
        return;
    }
    c->close_after_flush = 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    http_conn_t *c = s->data;
    if (c->closing)
        return;
    if (nread > 0) {
        /* Reads do not count as activity for the idle timer: bytes that start no request
         * (stray CRLFs) must not keep a connection open forever. */
        if (c->stop_parsing)
            return; /* lingering, or after the connection's last request */
        size_t used = conn_feed(c, b->base, (size_t)nread);
        if (used < (size_t)nread && !c->closing && !c->stop_parsing) {
            /* max_pipeline reached: keep the rest, stop reading until a request finishes */
            if (buf_append(&c->pending, b->base + used, (size_t)nread - used)) {
                conn_close(c);
                return;
            }
            uv_read_stop(s);
            c->reading = 0;
        }
        conn_update_timer(c);
        return;
    }
    if (nread == 0)
        return;
    if (nread != UV_EOF)
        LOG_D("http", "read failed", "peer=%s err=%s", c->peer_str, mcp_strerror((int)nread));
    if (nread != UV_EOF) {
        conn_close(c);
        return;
    }
    conn_on_eof(c);
}

static void conn_read_start(http_conn_t *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_close(c);
        return;
    }
    c->reading = 1;
}

/* ---- accepting ---- */

static void conn_init_common(http_server_t *srv, http_conn_t *c)
{
    c->srv = srv;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    buf_init(&c->out, HTTP_OUT_MAX);
    buf_init(&c->flight, HTTP_OUT_MAX);
    buf_init(&c->pending, HTTP_READ_BUF_SIZE);
    c->wreq.data = c;
    c->sreq.data = c;
    c->last_active = uv_now(srv->loop);
}

static void srv_accept(http_server_t *srv, unsigned idx)
{
    http_conn_t *c = mcp_calloc(1, sizeof *c);
    if (!c) {
        /* Leave it in the backlog; retried when a connection closes. */
        srv->lst_blocked[idx] = 1;
        return;
    }
    conn_init_common(srv, c);
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->stats.connections++;
    if (uv_accept((uv_stream_t *)&srv->lst[idx], (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    srv->stats.accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    int alen = sizeof c->peer;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &alen) == 0)
        format_peer(&c->peer, c->peer_str, sizeof c->peer_str);
    else
        snprintf(c->peer_str, sizeof c->peer_str, "-");
    conn_read_start(c);
    conn_update_timer(c);
}

static void on_connection(uv_stream_t *lst, int status)
{
    http_server_t *srv = lst->data;
    unsigned idx = (unsigned)((uv_tcp_t *)lst - srv->lst);
    if (status < 0) {
        LOG_W("http", "accept failed", "err=%s", mcp_strerror(status));
        return;
    }
    if (srv->shutting_down)
        return;
    if (srv->stats.connections >= srv->cfg.max_connections) {
        /* Not accepting makes libuv stop watching the listener until we do. */
        srv->lst_blocked[idx] = 1;
        srv->stats.accept_deferred++;
        return;
    }
    srv_accept(srv, idx);
}

static void srv_maybe_accept(http_server_t *srv)
{
    for (unsigned i = 0; i < srv->nlst; i++) {
        if (!srv->lst_blocked[i] || srv->lst_state[i] != LST_OPEN || srv->shutting_down)
            continue;
        if (srv->stats.connections >= srv->cfg.max_connections)
            return;
        srv->lst_blocked[i] = 0;
        srv_accept(srv, i);
    }
}

/* ---- server ---- */

void http_server_config_init(http_server_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_header_bytes = 16 * 1024;
    cfg->max_headers = 100;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->max_output_bytes = 1024 * 1024;
    cfg->stream_high_water = 64 * 1024;
    cfg->max_pipeline = 16;
    cfg->max_connections = 1024;
    cfg->header_timeout_ms = 10000;
    cfg->body_timeout_ms = 30000;
    cfg->idle_timeout_ms = 60000;
    cfg->linger_ms = 2000;
    cfg->backlog = 511;
}

#define CFG_TAKE(field)             \
    do {                            \
        if (in->field)              \
            out->field = in->field; \
    } while (0)

static int config_merge(http_server_config_t *out, const http_server_config_t *in)
{
    http_server_config_init(out);
    if (!in)
        return 0;
    CFG_TAKE(max_header_bytes);
    CFG_TAKE(max_headers);
    CFG_TAKE(max_body_bytes);
    CFG_TAKE(max_output_bytes);
    CFG_TAKE(stream_high_water);
    CFG_TAKE(max_pipeline);
    CFG_TAKE(max_connections);
    CFG_TAKE(header_timeout_ms);
    CFG_TAKE(body_timeout_ms);
    CFG_TAKE(idle_timeout_ms);
    CFG_TAKE(linger_ms);
    CFG_TAKE(backlog);
    /* Offsets into the arena are 32-bit and bodies are copied whole. */
    if (out->max_header_bytes > 1024 * 1024 || out->max_headers > 10000 ||
        out->max_body_bytes > HTTP_OUT_MAX || out->max_output_bytes > HTTP_OUT_MAX ||
        out->backlog < 0)
        return MCP_EINVAL;
    return 0;
}

int http_server_new(uv_loop_t *loop, const http_server_config_t *cfg, http_handler_fn handler,
                    void *userdata, http_server_t **out)
{
    if (!loop || !handler || !out)
        return MCP_EINVAL;
    *out = NULL;
    http_server_config_t merged;
    if (config_merge(&merged, cfg))
        return MCP_EINVAL;
    http_server_t *srv = mcp_calloc(1, sizeof *srv);
    if (!srv)
        return MCP_ENOMEM;
    srv->rbuf = mcp_malloc(HTTP_READ_BUF_SIZE);
    if (!srv->rbuf) {
        mcp_free(srv);
        return MCP_ENOMEM;
    }
    srv->loop = loop;
    srv->cfg = merged;
    srv->handler = handler;
    srv->handler_ud = userdata;
    buf_init(&srv->scratch, HTTP_SCRATCH_MAX);
    *out = srv;
    return 0;
}

void http_server_set_handler(http_server_t *srv, http_handler_fn handler, void *userdata)
{
    if (!srv || !handler)
        return;
    srv->handler = handler;
    srv->handler_ud = userdata;
}

static void on_srv_handle_closed(uv_handle_t *h)
{
    http_server_t *srv = h->data;
    srv->handles_open--;
    srv_check_done(srv);
}

int http_server_listen(http_server_t *srv, const char *host, int port)
{
    if (!srv || !host || port < 0 || port > 65535)
        return MCP_EINVAL;
    if (srv->shutting_down)
        return MCP_ESTATE;
    if (srv->nlst >= HTTP_MAX_LISTENERS)
        return MCP_ENOBUFS;
    struct sockaddr_storage ss;
    char h6[INET6_ADDRSTRLEN + 2];
    size_t hl = strlen(host);
    int v6 = 0;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
        const char *lit = host;
        if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof h6) {
            memcpy(h6, host + 1, hl - 2);
            h6[hl - 2] = '\0';
            lit = h6;
        }
        if (uv_ip6_addr(lit, port, (struct sockaddr_in6 *)&ss) != 0)
            return MCP_EINVAL;
        v6 = 1;
    }
    unsigned idx = srv->nlst++;
    uv_tcp_t *l = &srv->lst[idx];
    int rc = uv_tcp_init(srv->loop, l);
    if (rc < 0) {
        srv->nlst--;
        return rc;
    }
    l->data = srv;
    srv->handles_open++;
    srv->lst_state[idx] = LST_OPEN;
    rc = uv_tcp_bind(l, (const struct sockaddr *)&ss, v6 ? UV_TCP_IPV6ONLY : 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)l, srv->cfg.backlog, on_connection);
    if (rc < 0) {
        srv->lst_state[idx] = LST_CLOSING;
        uv_close((uv_handle_t *)l, on_srv_handle_closed);
        return rc;
    }
    return 0;
}

int http_server_port(const http_server_t *srv)
{
    if (!srv)
        return MCP_EINVAL;
    for (unsigned i = 0; i < srv->nlst; i++) {
        if (srv->lst_state[i] != LST_OPEN)
            continue;
        struct sockaddr_storage ss;
        int len = sizeof ss;
        int rc = uv_tcp_getsockname(&srv->lst[i], (struct sockaddr *)&ss, &len);
        if (rc < 0)
            return rc;
        if (ss.ss_family == AF_INET)
            return ntohs(((struct sockaddr_in *)&ss)->sin_port);
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return MCP_ESTATE;
}

void http_server_get_stats(const http_server_t *srv, http_server_stats_t *out)
{
    if (srv && out)
        *out = srv->stats;
}

static void srv_check_done(http_server_t *srv)
{
    if (!srv->shutting_down || srv->done || srv->stats.connections > 0)
        return;
    if (!srv->final_closing) {
        srv->final_closing = 1;
        if (srv->grace_init) {
            uv_timer_stop(&srv->grace);
            uv_close((uv_handle_t *)&srv->grace, on_srv_handle_closed);
        }
        if (srv->idle_init)
            uv_close((uv_handle_t *)&srv->idle, on_srv_handle_closed);
    }
    if (srv->handles_open > 0)
        return;
    srv->done = 1;
    if (srv->closed_cb)
        srv->closed_cb(srv, srv->closed_ud); /* may free srv */
}

/* Stop taking requests on c; close it when nothing is in flight. */
static void conn_shutdown(http_conn_t *c)
{
    if (c->closing)
        return;
    c->stop_parsing = 1;
    http_req_t *p = c->parsing;
    if (p) {
        conn_remove_tail(c, p);
        c->parsing = NULL;
        srv_req_put(c->srv, p);
    }
    if (!c->q_head) {
        c->close_after_flush = 1;
        if (conn_sock_queued(c) == 0)
            conn_close(c);
        return;
    }
    c->q_tail->keep_alive = 0;
    if (!c->reading && !c->eof)
        conn_read_start(c); /* to notice the client leaving */
}

static void on_grace(uv_timer_t *t)
{
    http_server_t *srv = t->data;
    for (http_conn_t *c = srv->conns; c; c = c->next)
        conn_close(c);
}

int http_server_shutdown(http_server_t *srv, uint64_t grace_ms, http_server_closed_fn cb,
                         void *userdata)
{
    if (!srv)
        return MCP_EINVAL;
    if (srv->shutting_down)
        return MCP_ESTATE;
    srv->shutting_down = 1;
    srv->closed_cb = cb;
    srv->closed_ud = userdata;
    for (unsigned i = 0; i < srv->nlst; i++) {
        if (srv->lst_state[i] == LST_OPEN) {
            srv->lst_state[i] = LST_CLOSING;
            uv_close((uv_handle_t *)&srv->lst[i], on_srv_handle_closed);
        }
    }
    /* The grace timer always exists, so the callback always comes from the loop. */
    uv_timer_init(srv->loop, &srv->grace);
    srv->grace.data = srv;
    srv->grace_init = 1;
    srv->handles_open++;
    if (grace_ms)
        uv_timer_start(&srv->grace, on_grace, grace_ms, 0);
    for (http_conn_t *c = srv->conns; c; c = c->next) {
        if (grace_ms)
            conn_shutdown(c);
        else
            conn_close(c);
    }
    srv_check_done(srv);
    return 0;
}

void http_server_free(http_server_t *srv)
{
    if (!srv)
        return;
    if (srv->handles_open > 0 || srv->stats.connections > 0) {
        LOG_E("http", "server freed while open; leaking it", "handles=%d", srv->handles_open);
        return;
    }
    while (srv->free_reqs) {
        http_req_t *r = srv->free_reqs;
        srv->free_reqs = r->next;
        req_free(r);
    }
    buf_free(&srv->scratch);
    mcp_free(srv->rbuf);
    mcp_free(srv);
}

int http_server_feed(http_server_t *srv, const void *data, size_t len, size_t split, buf_t *out)
{
    if (!srv || (len && !data))
        return MCP_EINVAL;
    if (srv->shutting_down)
        return MCP_ESTATE;
    http_conn_t *c = mcp_calloc(1, sizeof *c);
    if (!c)
        return MCP_ENOMEM;
    conn_init_common(srv, c);
    c->virt = 1;
    snprintf(c->peer_str, sizeof c->peer_str, "-");
    buf_t *saved = srv->virt_out;
    srv->virt_out = out;
    const char *p = data;
    size_t left = len;
    if (split == 0)
        split = len ? len : 1;
    while (left && !c->closing) {
        size_t n = left < split ? left : split;
        if (!c->stop_parsing) {
            if (c->pending.len) {
                /* paused: a real client would be blocked on a full socket */
                if (buf_append(&c->pending, p, n))
                    break;
            } else {
                size_t used = conn_feed(c, p, n);
                if (used < n && !c->closing && !c->stop_parsing &&
                    buf_append(&c->pending, p + used, n - used))
                    break;
            }
        }
        p += n;
        left -= n;
        while (c->resume_queued && !c->closing)
            conn_run_deferred(c);
    }
    if (!c->closing)
        conn_on_eof(c);
    c->closing = 1;
    conn_finalize(c);
    srv->virt_out = saved;
    return 0;
}

/* ---- request accessors ---- */

int http_req_method(const http_req_t *req)
{
    return req ? (int)req->method : -1;
}

const char *http_req_method_str(const http_req_t *req)
{
    return req ? http_method_str((enum http_method)req->method) : "";
}

int http_req_version(const http_req_t *req)
{
    return req ? (int)(req->http_major * 10 + req->http_minor) : 0;
}

static const char *arena_str(const http_req_t *req, uint32_t off)
{
    return req && req->arena.data ? req->arena.data + off : "";
}

const char *http_req_target(const http_req_t *req)
{
    return arena_str(req, req ? req->target_off : 0);
}

const char *http_req_path(const http_req_t *req)
{
    return arena_str(req, req ? req->path_off : 0);
}

const char *http_req_query(const http_req_t *req)
{
    return arena_str(req, req ? req->query_off : 0);
}

static void req_parse_query(http_req_t *r)
{
    r->query_parsed = 1;
    const char *q = http_req_query(r);
    size_t qlen = strlen(q);
    /* Each pair of k input bytes (plus its '&') decodes to at most k + 2 bytes. */
    if (qlen == 0 || buf_reserve(&r->qbuf, 2 * qlen + 2))
        return;
    const char *p = q, *end = q + qlen;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (!amp)
            amp = end;
        if (amp > p) {
            const char *eq = memchr(p, '=', (size_t)(amp - p));
            const char *nend = eq ? eq : amp;
            char *dst = r->qbuf.data + r->qbuf.len;
            int n = http_server_pct_decode(p, (size_t)(nend - p), dst, 1, 0);
            r->qbuf.len += (size_t)n + 1;
            dst = r->qbuf.data + r->qbuf.len;
            n = eq ? http_server_pct_decode(eq + 1, (size_t)(amp - eq - 1), dst, 1, 0) : 0;
            if (!eq)
                dst[0] = '\0';
            r->qbuf.len += (size_t)n + 1;
            r->nq++;
        }
        p = amp + 1;
    }
    r->qbuf.data[r->qbuf.len] = '\0';
}

const char *http_req_query_param(http_req_t *req, const char *name)
{
    if (!req || !name)
        return NULL;
    if (!req->query_parsed)
        req_parse_query(req);
    const char *s = req->qbuf.data;
    for (uint32_t i = 0; i < req->nq; i++) {
        const char *k = s;
        const char *v = k + strlen(k) + 1;
        s = v + strlen(v) + 1;
        if (strcmp(k, name) == 0)
            return v;
    }
    return NULL;
}

const char *http_req_header_nth(const http_req_t *req, const char *name, size_t n)
{
    if (!req || !name || !req->arena.data)
        return NULL;
    size_t nl = strlen(name);
    const char *base = req->arena.data;
    for (uint32_t i = 0; i < req->nhdrs; i++) {
        const hdr_ent_t *e = &req->hdrs[i];
        if (e->name_len == nl && strncasecmp(base + e->name, name, nl) == 0 && n-- == 0)
            return base + e->value;
    }
    return NULL;
}

const char *http_req_header(const http_req_t *req, const char *name)
{
    return http_req_header_nth(req, name, 0);
}

size_t http_req_header_count(const http_req_t *req)
{
    return req ? req->nhdrs : 0;
}

int http_req_header_at(const http_req_t *req, size_t i, const char **name, const char **value)
{
    if (!req || i >= req->nhdrs)
        return MCP_EINVAL;
    if (name)
        *name = req->arena.data + req->hdrs[i].name;
    if (value)
        *value = req->arena.data + req->hdrs[i].value;
    return 0;
}

const char *http_req_body(const http_req_t *req, size_t *len)
{
    if (len)
        *len = req ? req->body.len : 0;
    return req && req->body.data ? req->body.data : "";
}

const char *http_req_param(const http_req_t *req, const char *name)
{
    if (!req || !name)
        return NULL;
    for (uint32_t i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].name, name) == 0)
            return req->arena.data + req->params[i].off;
    }
    return NULL;
}

int http_req_set_param(http_req_t *req, const char *name, const char *raw, size_t len)
{
    if (!req || !name || (len && !raw) || len > INT_MAX / 2)
        return MCP_EINVAL;
    if (req->nparams >= HTTP_MAX_PARAMS)
        return MCP_ENOBUFS;
    buf_t *a = &req->arena;
    uintptr_t base = (uintptr_t)a->data, at = (uintptr_t)raw;
    int inside = a->data && at >= base && at < base + a->len;
    size_t off = inside ? (size_t)(at - base) : 0;
    int rc = buf_reserve(a, len + 1);
    if (rc)
        return rc;
    if (inside)
        raw = a->data + off; /* the arena may have moved */
    /* Decode straight into the reserved tail; it never overlaps the source, which lies below
     * a->len. */
    char *dst = a->data + a->len;
    int n = http_server_pct_decode(raw ? raw : "", len, dst, 0, 1);
    if (n < 0) {
        a->data[a->len] = '\0';
        return n;
    }
    param_ent_t *p = &req->params[req->nparams++];
    p->name = name;
    p->off = (uint32_t)a->len;
    p->len = (uint32_t)n;
    a->len += (size_t)n + 1;
    a->data[a->len] = '\0';
    return 0;
}

void http_req_clear_params(http_req_t *req)
{
    if (req)
        req->nparams = 0;
}

const char *http_req_remote_addr(const http_req_t *req)
{
    if (!req)
        return "";
    return req->conn ? req->conn->peer_str : req->peer;
}

const struct sockaddr *http_req_peer(const http_req_t *req)
{
    if (!req || !req->conn || req->conn->virt)
        return NULL;
    return (const struct sockaddr *)&req->conn->peer;
}

uint64_t http_req_id(const http_req_t *req)
{
    return req ? req->id : 0;
}

const char *http_req_id_str(http_req_t *req)
{
    if (!req)
        return "";
    if (!req->id_str[0])
        snprintf(req->id_str, sizeof req->id_str, "r%" PRIu64, req->id);
    return req->id_str;
}

void http_req_set_userdata(http_req_t *req, void *userdata)
{
    if (req)
        req->userdata = userdata;
}

void *http_req_userdata(const http_req_t *req)
{
    return req ? req->userdata : NULL;
}

int http_req_closed(const http_req_t *req)
{
    return !req || req->detached || req->conn->closing || req->conn->close_after_flush;
}

/* ---- responses ---- */

int http_resp_header(http_req_t *req, const char *name, const char *value)
{
    if (!req || !name || !value || !name[0])
        return MCP_EINVAL;
    if (req->state != REQ_HANDLER)
        return MCP_ESTATE;
    size_t nl = 0;
    for (; name[nl]; nl++) {
        if (!is_token_char((unsigned char)name[nl]) || nl > 256)
            return MCP_EINVAL;
    }
    static const char *const reserved[] = {"content-length", "transfer-encoding", "connection",
                                           "date"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        if (strcasecmp(name, reserved[i]) == 0)
            return MCP_EINVAL;
    }
    if (bad_field_value(value, HTTP_RESP_HDR_MAX))
        return MCP_EINVAL;
    size_t mark = req->rhdr.len;
    int rc = buf_append(&req->rhdr, name, nl);
    rc = rc ? rc : buf_append(&req->rhdr, ": ", 2);
    rc = rc ? rc : buf_append_str(&req->rhdr, value);
    rc = rc ? rc : buf_append(&req->rhdr, "\r\n", 2);
    if (rc && req->rhdr.data) {
        req->rhdr.len = mark;
        req->rhdr.data[mark] = '\0';
    }
    return rc;
}

void http_resp_close(http_req_t *req)
{
    if (req && !req->detached && req->state == REQ_HANDLER)
        req->keep_alive = 0;
}

int http_respond(http_req_t *req, int status, const char *content_type, const void *body,
                 size_t len)
{
    if (!req || (len && !body))
        return MCP_EINVAL;
    if (req->detached) {
        req_release_detached(req);
        return MCP_ECLOSED;
    }
    if (req->state != REQ_HANDLER)
        return MCP_ESTATE;
    if (status < 200 || status > 999 || len > HTTP_OUT_MAX ||
        (content_type && bad_field_value(content_type, HTTP_CT_MAX)))
        return MCP_EINVAL;
    http_conn_t *c = req->conn;
    int rc = MCP_ECLOSED;
    if (!c->closing)
        rc = req_send_response(req, status, content_type, body, len);
    if (rc == MCP_ENOBUFS || rc == MCP_ENOMEM)
        rc = MCP_ECLOSED; /* the connection was closed */
    req_finish(req);
    return rc;
}

int http_stream_start(http_req_t *req, int status, const char *content_type, unsigned flags)
{
    if (!req || status < 200 || status > 999 || status == 204 || status == 304 ||
        (content_type && bad_field_value(content_type, HTTP_CT_MAX)))
        return MCP_EINVAL;
    if (req->detached)
        return MCP_ECLOSED;
    if (req->state != REQ_HANDLER)
        return MCP_ESTATE;
    http_conn_t *c = req->conn;
    req->state = REQ_STREAMING;
    req->status = status;
    if (c->closing || c->close_after_flush)
        return MCP_ECLOSED;
    /* HTTP/1.0 has no chunked encoding: the end of the body is the end of the connection. */
    if ((flags & HTTP_STREAM_CLOSE_DELIMITED) || req->http_major != 1 || req->http_minor == 0)
        req->keep_alive = 0;
    else
        req->chunked = 1;
    req_decide_keep_alive(req);
    int rc = build_head(req, status, content_type, 0, 0, req->chunked);
    if (rc) {
        conn_close(c);
        return MCP_ECLOSED;
    }
    buf_t *h = &req->srv->scratch;
    uv_buf_t b = uv_buf_init(h->data, (unsigned)h->len);
    rc = req_emit(req, &b, 1);
    if (rc < 0 && rc != MCP_ECLOSED) {
        conn_close(c);
        rc = MCP_ECLOSED;
    }
    return rc;
}

static int clamp_int(size_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}

int http_stream_write(http_req_t *req, const void *data, size_t len)
{
    if (!req || (len && !data))
        return MCP_EINVAL;
    if (req->detached)
        return MCP_ECLOSED;
    if (req->state != REQ_STREAMING)
        return MCP_ESTATE;
    http_conn_t *c = req->conn;
    if (c->closing || c->close_after_flush)
        return MCP_ECLOSED;
    const http_server_config_t *cfg = &c->srv->cfg;
    size_t q = conn_queued(c);
    if (len == 0 || req->head_only)
        return clamp_int(q);
    if (len > HTTP_OUT_MAX)
        return MCP_ENOBUFS;
    if (q > 0 && (len > cfg->max_output_bytes || q > cfg->max_output_bytes - len)) {
        req->drain_armed = 1;
        return MCP_ENOBUFS;
    }
    uv_buf_t iov[3];
    unsigned n = 0;
    char size_line[24];
    if (req->chunked) {
        size_t sl = fmt_hex(size_line, len);
        size_line[sl++] = '\r';
        size_line[sl++] = '\n';
        iov[n++] = uv_buf_init(size_line, (unsigned)sl);
    }
    iov[n++] = uv_buf_init((char *)data, (unsigned)len);
    if (req->chunked)
        iov[n++] = uv_buf_init((char *)"\r\n", 2);
    int rc = req_emit(req, iov, n);
    if (rc < 0) {
        if (rc != MCP_ECLOSED)
            conn_close(c);
        return rc == MCP_ENOMEM ? rc : MCP_ECLOSED;
    }
    q = conn_queued(c);
    if (q > cfg->stream_high_water)
        req->drain_armed = 1;
    return clamp_int(q);
}

size_t http_stream_queued(const http_req_t *req)
{
    if (!req || req->detached || req->conn->closing)
        return 0;
    return conn_queued(req->conn);
}

int http_stream_end(http_req_t *req)
{
    if (!req)
        return MCP_EINVAL;
    if (req->detached) {
        req_release_detached(req);
        return MCP_ECLOSED;
    }
    if (req->state != REQ_STREAMING)
        return MCP_ESTATE;
    http_conn_t *c = req->conn;
    int rc = 0;
    if (c->closing || c->close_after_flush) {
        rc = MCP_ECLOSED;
    } else if (req->chunked && !req->head_only) {
        uv_buf_t b = uv_buf_init((char *)"0\r\n\r\n", 5);
        rc = req_emit(req, &b, 1);
        if (rc < 0 && rc != MCP_ECLOSED)
            conn_close(c);
        if (rc < 0)
            rc = MCP_ECLOSED;
    }
    req_finish(req);
    return rc;
}

void http_req_abort(http_req_t *req)
{
    if (!req)
        return;
    if (req->detached) {
        req_release_detached(req);
        return;
    }
    if (req->state == REQ_DONE || req->state == REQ_PARSING)
        return;
    req->state = REQ_DONE;
    req->on_close = NULL;
    req->on_drain = NULL;
    conn_close(req->conn); /* the finished request is recycled with the connection */
}

void http_req_on_drain(http_req_t *req, http_req_event_fn cb, void *userdata)
{
    if (!req || req->state == REQ_DONE)
        return;
    req->on_drain = cb;
    req->on_drain_ud = userdata;
}

void http_req_on_close(http_req_t *req, http_req_event_fn cb, void *userdata)
{
    if (!req || req->state == REQ_DONE)
        return;
    req->on_close = cb;
    req->on_close_ud = userdata;
}
