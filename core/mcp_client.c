#include "mcp_client.h"

#include "alloc.h"
#include "errors.h"
#include "log.h"
#include "mcp_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CLIENT_DEFAULT_MAX_PENDING 4096u
#define CLIENT_HASH_MIN            64u

typedef enum {
    CS_NEW = 0, /* transport attached (or not), initialize not sent */
    CS_INIT,    /* initialize in flight */
    CS_READY,   /* initialized */
    CS_REINIT,  /* session expired: initialize again, then resend */
    CS_FAILED,  /* initialize failed */
    CS_CLOSED,  /* the transport closed by itself */
    CS_CLOSING, /* mcp_client_close called */
} client_state_t;

typedef enum { REQ_HELD = 0, REQ_SENT, REQ_DONE } req_state_t;

struct mcp_client_req_s {
    mcp_client_t *client;
    int64_t id;
    req_state_t state;
    int is_init;
    int resent;
    char *method;
    char *text; /* the serialized request, kept for a resend after a session expiry */
    size_t text_len;
    uint64_t start;       /* loop ms */
    uint64_t deadline;    /* loop ms; 0 none */
    uint64_t deadline_ms; /* relative, for progress resets */
    uint64_t max_deadline;
    size_t heap_idx;                 /* SIZE_MAX when not in the heap */
    mcp_client_req_t *hnext;         /* id hash chain */
    mcp_client_req_t *qprev, *qnext; /* held queue or done queue */
    int status;
    jsonrpc_msg_t resp;
    mcp_client_result_fn cb;
    mcp_client_progress_fn on_progress;
    void *ud;
};

struct mcp_client_incoming_s {
    mcp_client_t *client; /* NULL once the client is freed */
    jsonrpc_msg_t msg;
    int cancelled;
    mcp_client_incoming_t *prev, *next;
};

typedef struct {
    mcp_client_req_t *head, *tail;
} req_queue_t;

struct mcp_client_s {
    uv_loop_t *loop;
    char *name;
    client_state_t state;
    mcp_client_transport_t *transport;
    int transport_closing; /* ops->close called, waiting for on_transport_closed */
    char *client_name, *client_version, *client_title;
    const char *asked_version;
    const char *version; /* negotiated, static */
    cJSON *init_result;  /* owned: the InitializeResult */
    char error[256];
    mcp_client_handler_fn on_sampling, on_elicitation, on_roots;
    int roots_list_changed;
    mcp_client_notify_fn on_notification;
    mcp_client_closed_fn on_closed;
    void *ud;
    mcp_client_init_fn init_cb;
    void *init_ud;
    uint64_t init_deadline_ms; /* also used when re-initializing */
    mcp_client_close_fn close_cb;
    void *close_ud;
    int closed_reason;
    int closed_notify_pending; /* deliver on_closed from the loop */
    int64_t next_id;
    size_t max_pending;
    /* id -> request, for every request not yet completed */
    mcp_client_req_t **buckets;
    size_t nbuckets, count;
    /* deadline min-heap */
    mcp_client_req_t **heap;
    size_t heap_len, heap_cap;
    uint64_t timer_due; /* when the timer fires; 0 when stopped */
    req_queue_t held;   /* not sent yet (before ready, or waiting for re-initialize) */
    req_queue_t done;   /* completed, callbacks delivered from the idle handle */
    size_t ndone;
    mcp_client_incoming_t *incoming;
    uv_timer_t timer;
    uv_idle_t idle;
    int idle_active;
    int handles_open;
    int freeing;
};

static void on_idle(uv_idle_t *h);
static void on_deadline(uv_timer_t *t);
static void maybe_finish_close(mcp_client_t *c);

/* ---- queues ---- */

static void q_push(req_queue_t *q, mcp_client_req_t *r)
{
    r->qnext = NULL;
    r->qprev = q->tail;
    if (q->tail)
        q->tail->qnext = r;
    else
        q->head = r;
    q->tail = r;
}

static void q_remove(req_queue_t *q, mcp_client_req_t *r)
{
    if (r->qprev)
        r->qprev->qnext = r->qnext;
    else
        q->head = r->qnext;
    if (r->qnext)
        r->qnext->qprev = r->qprev;
    else
        q->tail = r->qprev;
    r->qprev = r->qnext = NULL;
}

/* ---- id hash ---- */

static size_t id_slot(const mcp_client_t *c, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (c->nbuckets - 1);
}

static int hash_grow(mcp_client_t *c)
{
    size_t n = c->nbuckets ? c->nbuckets * 2 : CLIENT_HASH_MIN;
    mcp_client_req_t **b = mcp_calloc(n, sizeof *b);
    if (!b)
        return MCP_ENOMEM;
    mcp_client_req_t **old = c->buckets;
    size_t oldn = c->nbuckets;
    c->buckets = b;
    c->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        mcp_client_req_t *r = old[i];
        while (r) {
            mcp_client_req_t *next = r->hnext;
            size_t s = id_slot(c, r->id);
            r->hnext = b[s];
            b[s] = r;
            r = next;
        }
    }
    mcp_free(old);
    return 0;
}

static int hash_add(mcp_client_t *c, mcp_client_req_t *r)
{
    if (c->count >= c->nbuckets) {
        int rc = hash_grow(c);
        if (rc && c->nbuckets == 0)
            return rc;
        /* A failed grow keeps the smaller table: chains get longer, nothing breaks. */
    }
    size_t s = id_slot(c, r->id);
    r->hnext = c->buckets[s];
    c->buckets[s] = r;
    c->count++;
    return 0;
}

static mcp_client_req_t *hash_find(const mcp_client_t *c, int64_t id)
{
    if (!c->nbuckets)
        return NULL;
    for (mcp_client_req_t *r = c->buckets[id_slot(c, id)]; r; r = r->hnext)
        if (r->id == id)
            return r;
    return NULL;
}

static void hash_remove(mcp_client_t *c, mcp_client_req_t *r)
{
    mcp_client_req_t **p = &c->buckets[id_slot(c, r->id)];
    while (*p && *p != r)
        p = &(*p)->hnext;
    if (*p) {
        *p = r->hnext;
        c->count--;
    }
    r->hnext = NULL;
}

/* ---- deadline heap ---- */

static void heap_swap(mcp_client_t *c, size_t a, size_t b)
{
    mcp_client_req_t *t = c->heap[a];
    c->heap[a] = c->heap[b];
    c->heap[b] = t;
    c->heap[a]->heap_idx = a;
    c->heap[b]->heap_idx = b;
}

static void heap_up(mcp_client_t *c, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (c->heap[p]->deadline <= c->heap[i]->deadline)
            break;
        heap_swap(c, p, i);
        i = p;
    }
}

static void heap_down(mcp_client_t *c, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < c->heap_len && c->heap[l]->deadline < c->heap[m]->deadline)
            m = l;
        if (r < c->heap_len && c->heap[r]->deadline < c->heap[m]->deadline)
            m = r;
        if (m == i)
            break;
        heap_swap(c, i, m);
        i = m;
    }
}

static void arm_timer(mcp_client_t *c)
{
    if (c->heap_len == 0 || c->freeing)
        return;
    uint64_t due = c->heap[0]->deadline;
    /* Re-arm only when the earliest deadline moved earlier; a timer that fires early re-arms. */
    if (c->timer_due && c->timer_due <= due)
        return;
    uint64_t now = uv_now(c->loop);
    uv_timer_start(&c->timer, on_deadline, due > now ? due - now : 0, 0);
    c->timer_due = due;
}

static int heap_add(mcp_client_t *c, mcp_client_req_t *r)
{
    if (c->heap_len == c->heap_cap) {
        size_t n = c->heap_cap ? c->heap_cap * 2 : 64;
        mcp_client_req_t **h = mcp_realloc(c->heap, n * sizeof *h);
        if (!h)
            return MCP_ENOMEM;
        c->heap = h;
        c->heap_cap = n;
    }
    r->heap_idx = c->heap_len;
    c->heap[c->heap_len++] = r;
    heap_up(c, r->heap_idx);
    arm_timer(c);
    return 0;
}

static void heap_remove(mcp_client_t *c, mcp_client_req_t *r)
{
    size_t i = r->heap_idx;
    if (i == SIZE_MAX)
        return;
    r->heap_idx = SIZE_MAX;
    c->heap_len--;
    if (c->heap_len == 0 && c->timer_due) {
        /* Nothing left to time: an armed timer would keep the loop alive for nothing. */
        uv_timer_stop(&c->timer);
        c->timer_due = 0;
    }
    if (i == c->heap_len)
        return;
    c->heap[i] = c->heap[c->heap_len];
    c->heap[i]->heap_idx = i;
    heap_up(c, i);
    heap_down(c, c->heap[i]->heap_idx);
}

static void heap_update(mcp_client_t *c, mcp_client_req_t *r)
{
    heap_up(c, r->heap_idx);
    heap_down(c, r->heap_idx);
    arm_timer(c);
}

/* ---- sending ---- */

static int transport_send(mcp_client_t *c, const char *json, size_t len, const jsonrpc_id_t *id)
{
    if (!c->transport || c->transport_closing)
        return MCP_ECLOSED;
    return c->transport->ops->send(c->transport, json, len, id);
}

static int send_json(mcp_client_t *c, cJSON *msg)
{
    if (!msg)
        return MCP_ENOMEM;
    size_t len;
    char *text = jsonrpc_print(msg, &len);
    cJSON_Delete(msg);
    if (!text)
        return MCP_ENOMEM;
    int rc = transport_send(c, text, len, NULL);
    mcp_free(text);
    return rc;
}

static void send_cancelled(mcp_client_t *c, int64_t id, const char *reason)
{
    cJSON *params = cJSON_CreateObject();
    if (!params || !cJSON_AddNumberToObject(params, "requestId", (double)id) ||
        (reason && !cJSON_AddStringToObject(params, "reason", reason))) {
        cJSON_Delete(params);
        return;
    }
    int rc = send_json(c, jsonrpc_build_notification(MCP_NOTIFY_CANCELLED, params));
    if (rc && rc != MCP_ECLOSED)
        LOG_W("mcp_client", "cannot send notifications/cancelled", "name=%s id=%lld err=%s",
              log_quote(c->name), (long long)id, mcp_err_name(rc));
}

static int send_req(mcp_client_t *c, mcp_client_req_t *r)
{
    jsonrpc_id_t id = {.type = JSONRPC_ID_INT, .num = r->id};
    int rc = transport_send(c, r->text, r->text_len, &id);
    if (rc == 0)
        r->state = REQ_SENT;
    return rc;
}

/* ---- completion ---- */

static void req_free(mcp_client_req_t *r)
{
    jsonrpc_msg_free(&r->resp);
    mcp_free(r->method);
    mcp_free(r->text);
    mcp_free(r);
}

/* Take r out of every structure; it is DONE afterwards. */
static void req_detach(mcp_client_t *c, mcp_client_req_t *r)
{
    if (r->state == REQ_HELD && (r->qprev || r->qnext || c->held.head == r))
        q_remove(&c->held, r);
    hash_remove(c, r);
    heap_remove(c, r);
    r->state = REQ_DONE;
}

static void run_cb(mcp_client_req_t *r)
{
    jsonrpc_msg_t *resp = r->resp.json ? &r->resp : NULL;
    if (r->cb)
        r->cb(r, r->status, resp, r->ud);
    req_free(r);
}

static void schedule_idle(mcp_client_t *c)
{
    if (!c->idle_active && !c->freeing) {
        uv_idle_start(&c->idle, on_idle);
        c->idle_active = 1;
    }
}

/* Complete later, from the loop (never inside the caller's API call). */
static void complete_later(mcp_client_t *c, mcp_client_req_t *r, int status)
{
    req_detach(c, r);
    r->status = status;
    q_push(&c->done, r);
    c->ndone++;
    schedule_idle(c);
}

/* Complete now (we are in a loop callback: message received, deadline). */
static void complete_now(mcp_client_t *c, mcp_client_req_t *r, int status)
{
    req_detach(c, r);
    r->status = status;
    run_cb(r);
}

static void fail_all(mcp_client_t *c, int status)
{
    for (size_t i = 0; i < c->nbuckets; i++)
        while (c->buckets[i])
            complete_later(c, c->buckets[i], status);
}

/* ---- requests ---- */

static int req_new(mcp_client_t *c, const char *method, cJSON *params,
                   mcp_client_progress_fn on_progress, mcp_client_req_t **out)
{
    mcp_client_req_t *r = mcp_calloc(1, sizeof *r);
    if (!r) {
        cJSON_Delete(params);
        return MCP_ENOMEM;
    }
    r->client = c;
    r->heap_idx = SIZE_MAX;
    r->id = c->next_id++;
    r->method = mcp_strdup(method);
    if (!r->method)
        goto nomem;
    if (on_progress) {
        if (!params && !(params = cJSON_CreateObject()))
            goto nomem;
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
        if (!cJSON_IsObject(meta)) {
            cJSON_DeleteItemFromObjectCaseSensitive(params, "_meta");
            meta = cJSON_AddObjectToObject(params, "_meta");
            if (!meta)
                goto nomem;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "progressToken");
        if (!cJSON_AddNumberToObject(meta, "progressToken", (double)r->id))
            goto nomem;
    }
    jsonrpc_id_t id = {.type = JSONRPC_ID_INT, .num = r->id};
    cJSON *msg = jsonrpc_build_request(&id, method, params);
    params = NULL;
    if (!msg)
        goto nomem;
    r->text = jsonrpc_print(msg, &r->text_len);
    cJSON_Delete(msg);
    if (!r->text)
        goto nomem;
    *out = r;
    return 0;
nomem:
    cJSON_Delete(params);
    req_free(r);
    return MCP_ENOMEM;
}

/* Register r (hash, heap) and send or hold it. On error r is freed and the callback won't run. */
static int req_submit(mcp_client_t *c, mcp_client_req_t *r, int hold)
{
    int rc = hash_add(c, r);
    if (rc) {
        req_free(r);
        return rc;
    }
    r->start = uv_now(c->loop);
    if (r->deadline_ms) {
        r->deadline = r->start + r->deadline_ms;
        if (r->max_deadline)
            r->max_deadline += r->start;
        if ((rc = heap_add(c, r)) != 0) {
            hash_remove(c, r);
            req_free(r);
            return rc;
        }
    }
    if (hold) {
        r->state = REQ_HELD;
        q_push(&c->held, r);
        return 0;
    }
    rc = send_req(c, r);
    if (rc && r->state == REQ_DONE)
        return 0; /* the transport reported closed meanwhile: completed with MCP_ECLOSED */
    if (rc) {
        req_detach(c, r);
        req_free(r);
    }
    return rc;
}

int mcp_client_request_ex(mcp_client_t *c, const mcp_client_call_t *call, mcp_client_req_t **out)
{
    if (out)
        *out = NULL;
    if (!c || !call || !call->method || !call->cb ||
        (call->params && !cJSON_IsObject(call->params))) {
        if (call)
            cJSON_Delete(call->params);
        return MCP_EINVAL;
    }
    int rc = 0;
    if (c->state == CS_CLOSED)
        rc = MCP_ECLOSED;
    else if (c->state == CS_CLOSING || c->state == CS_FAILED)
        rc = MCP_ESTATE;
    else if (c->count >= c->max_pending)
        rc = MCP_ENOBUFS;
    if (rc) {
        cJSON_Delete(call->params);
        return rc;
    }
    mcp_client_req_t *r;
    if ((rc = req_new(c, call->method, call->params, call->on_progress, &r)) != 0)
        return rc;
    r->cb = call->cb;
    r->ud = call->ud;
    r->on_progress = call->on_progress;
    r->deadline_ms = call->deadline_ms;
    r->max_deadline = call->deadline_ms ? call->max_deadline_ms : 0;
    int hold = c->state != CS_READY || c->held.head != NULL;
    if ((rc = req_submit(c, r, hold)) != 0)
        return rc;
    if (out)
        *out = r;
    return 0;
}

int mcp_client_request(mcp_client_t *c, const char *method, cJSON *params, uint64_t deadline_ms,
                       mcp_client_result_fn cb, void *ud, mcp_client_req_t **out)
{
    mcp_client_call_t call = {
        .method = method, .params = params, .deadline_ms = deadline_ms, .cb = cb, .ud = ud};
    return mcp_client_request_ex(c, &call, out);
}

int mcp_client_cancel(mcp_client_req_t *r, const char *reason)
{
    if (!r || r->state == REQ_DONE || r->is_init)
        return MCP_ESTATE;
    mcp_client_t *c = r->client;
    int was_sent = r->state == REQ_SENT;
    complete_later(c, r, MCP_ECANCELED);
    if (was_sent)
        send_cancelled(c, r->id, reason);
    return 0;
}

int64_t mcp_client_req_id(const mcp_client_req_t *r)
{
    return r ? r->id : 0;
}

const char *mcp_client_req_method(const mcp_client_req_t *r)
{
    return r ? r->method : NULL;
}

mcp_client_t *mcp_client_req_client(const mcp_client_req_t *r)
{
    return r ? r->client : NULL;
}

int mcp_client_notify(mcp_client_t *c, const char *method, cJSON *params)
{
    if (!c || !method || (params && !cJSON_IsObject(params))) {
        cJSON_Delete(params);
        return MCP_EINVAL;
    }
    if (c->state == CS_CLOSING || c->state == CS_CLOSED) {
        cJSON_Delete(params);
        return MCP_ECLOSED;
    }
    return send_json(c, jsonrpc_build_notification(method, params));
}

/* ---- deadlines ---- */

static void on_deadline(uv_timer_t *t)
{
    mcp_client_t *c = t->data;
    c->timer_due = 0;
    uint64_t now = uv_now(c->loop);
    while (c->heap_len && c->heap[0]->deadline <= now && !c->freeing) {
        mcp_client_req_t *r = c->heap[0];
        int was_sent = r->state == REQ_SENT;
        LOG_D("mcp_client", "request timed out", "name=%s id=%lld method=%s", log_quote(c->name),
              (long long)r->id, log_quote(r->method));
        int64_t id = r->id;
        int is_init = r->is_init;
        complete_now(c, r, MCP_ETIMEDOUT);
        /* initialize is never cancelled (spec). */
        if (was_sent && !is_init && c->state != CS_CLOSING)
            send_cancelled(c, id, "timeout");
    }
    arm_timer(c);
}

/* ---- initialize ---- */

static void set_error(mcp_client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(mcp_client_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
}

/* Add item to obj under key; on failure the item is deleted. 1 on success. */
static int add_item(cJSON *obj, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(obj, key, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

static cJSON *build_init_params(mcp_client_t *c)
{
    cJSON *p = cJSON_CreateObject();
    if (!p)
        return NULL;
    if (!cJSON_AddStringToObject(p, "protocolVersion", c->asked_version))
        goto fail;
    cJSON *caps = cJSON_CreateObject();
    if (!add_item(p, "capabilities", caps))
        goto fail;
    cJSON *info = cJSON_CreateObject();
    if (!add_item(p, "clientInfo", info))
        goto fail;
    if (c->on_roots) {
        cJSON *roots = cJSON_AddObjectToObject(caps, "roots");
        if (!roots || (c->roots_list_changed && !cJSON_AddTrueToObject(roots, "listChanged")))
            goto fail;
    }
    if (c->on_sampling && !cJSON_AddObjectToObject(caps, "sampling"))
        goto fail;
    if (c->on_elicitation && !cJSON_AddObjectToObject(caps, "elicitation"))
        goto fail;
    if (!cJSON_AddStringToObject(info, "name", c->client_name) ||
        (c->client_title && !cJSON_AddStringToObject(info, "title", c->client_title)) ||
        !cJSON_AddStringToObject(info, "version", c->client_version))
        goto fail;
    return p;
fail:
    cJSON_Delete(p);
    return NULL;
}

static const char *static_version(const char *v)
{
    for (size_t i = 0; mcp_protocol_versions[i]; i++)
        if (strcmp(v, mcp_protocol_versions[i]) == 0)
            return mcp_protocol_versions[i];
    return NULL;
}

static void flush_held(mcp_client_t *c)
{
    while (c->held.head && c->state == CS_READY) {
        mcp_client_req_t *r = c->held.head;
        q_remove(&c->held, r);
        int rc = send_req(c, r);
        if (rc && r->state != REQ_DONE)
            complete_later(c, r, rc);
    }
}

/* Check the InitializeResult; 0 or an error with c->error set. Takes the result on success. */
static int accept_init_result(mcp_client_t *c, jsonrpc_msg_t *resp)
{
    cJSON *res = resp->result;
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(res, "protocolVersion");
    if (!cJSON_IsObject(res) || !cJSON_IsString(pv)) {
        set_error(c, "initialize result without protocolVersion");
        return MCP_EPROTO;
    }
    if (!mcp_version_client_accepts(c->asked_version, pv->valuestring)) {
        set_error(c, "server answered unsupported protocol version %.64s (asked %s)",
                  pv->valuestring, c->asked_version);
        return MCP_EUNSUPPORTED;
    }
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(res, "capabilities");
    if (caps && !cJSON_IsObject(caps)) {
        set_error(c, "initialize result: capabilities is not an object");
        return MCP_EPROTO;
    }
    c->version = static_version(pv->valuestring);
    cJSON_Delete(c->init_result);
    /* Keep only the result subtree: detach it from the message. */
    c->init_result = cJSON_DetachItemViaPointer(resp->json, res);
    resp->result = NULL;
    return 0;
}

static void on_init_result(mcp_client_req_t *r, int status, jsonrpc_msg_t *resp, void *ud)
{
    mcp_client_t *c = r->client;
    (void)ud;
    int reinit = c->state == CS_REINIT;
    if (c->state == CS_CLOSING || c->state == CS_CLOSED) {
        status = status ? status : MCP_ECLOSED;
    } else if (status == MCP_EUPSTREAM) {
        set_error(c, "initialize failed: %d %.160s", resp->error_code,
                  resp->error_message ? resp->error_message : "");
    } else if (status == 0) {
        status = accept_init_result(c, resp);
    } else {
        set_error(c, "initialize failed: %s", mcp_strerror(status));
    }
    if (status == 0) {
        c->state = CS_READY;
        if (c->transport && c->transport->ops->set_protocol_version)
            c->transport->ops->set_protocol_version(c->transport, c->version);
        int rc = send_json(c, jsonrpc_build_notification(MCP_NOTIFY_INITIALIZED, NULL));
        if (rc)
            LOG_W("mcp_client", "cannot send notifications/initialized", "name=%s err=%s",
                  log_quote(c->name), mcp_err_name(rc));
        LOG_I("mcp_client", reinit ? "re-initialized" : "initialized",
              "name=%s version=%s server=%s", log_quote(c->name), c->version,
              log_quote(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                  cJSON_GetObjectItemCaseSensitive(c->init_result, "serverInfo"), "name"))));
    } else {
        if (c->state != CS_CLOSING && c->state != CS_CLOSED)
            c->state = CS_FAILED;
        LOG_W("mcp_client", "initialize failed", "name=%s err=%s detail=%s", log_quote(c->name),
              mcp_err_name(status), log_quote(c->error));
    }
    mcp_client_init_fn cb = c->init_cb;
    void *cb_ud = c->init_ud;
    c->init_cb = NULL;
    if (status == 0) {
        flush_held(c);
    } else {
        /* Held requests cannot be sent on a session that failed to start. */
        while (c->held.head)
            complete_later(c, c->held.head, status);
    }
    if (cb)
        cb(c, status, cb_ud);
}

static int send_initialize(mcp_client_t *c, uint64_t deadline_ms)
{
    cJSON *params = build_init_params(c);
    if (!params)
        return MCP_ENOMEM;
    mcp_client_req_t *r;
    int rc = req_new(c, MCP_METHOD_INITIALIZE, params, NULL, &r);
    if (rc)
        return rc;
    r->is_init = 1;
    r->cb = on_init_result;
    r->deadline_ms = deadline_ms;
    return req_submit(c, r, 0);
}

int mcp_client_initialize(mcp_client_t *c, uint64_t deadline_ms, mcp_client_init_fn cb, void *ud)
{
    if (!c)
        return MCP_EINVAL;
    if (!c->transport || c->state != CS_NEW)
        return c->state == CS_CLOSED ? MCP_ECLOSED : MCP_ESTATE;
    c->init_cb = cb;
    c->init_ud = ud;
    c->init_deadline_ms = deadline_ms;
    c->state = CS_INIT;
    int rc = send_initialize(c, deadline_ms);
    if (rc) {
        c->state = CS_NEW;
        c->init_cb = NULL;
    }
    return rc;
}

/* ---- transport events ---- */

int mcp_client_attach_transport(mcp_client_t *c, mcp_client_transport_t *t)
{
    if (!c || !t || !t->ops || !t->ops->send || !t->ops->close)
        return MCP_EINVAL;
    if (c->transport || c->state >= CS_CLOSED)
        return MCP_ESTATE;
    c->transport = t;
    t->client = c;
    return 0;
}

mcp_client_transport_t *mcp_client_transport(const mcp_client_t *c)
{
    return c ? c->transport : NULL;
}

static mcp_client_req_t *find_by_id(mcp_client_t *c, const jsonrpc_id_t *id)
{
    if (!id || id->type != JSONRPC_ID_INT)
        return NULL;
    return hash_find(c, id->num);
}

void mcp_client_on_send_failed(mcp_client_t *c, const jsonrpc_id_t *request_id, int err)
{
    mcp_client_req_t *r = find_by_id(c, request_id);
    if (!r || r->state == REQ_DONE)
        return;
    complete_later(c, r, err ? err : MCP_ECLOSED);
}

void mcp_client_on_session_expired(mcp_client_t *c, const jsonrpc_id_t *request_id)
{
    mcp_client_req_t *r = find_by_id(c, request_id);
    if (r && r->is_init) {
        /* The fresh initialize itself was refused: the server is not usable. */
        complete_later(c, r, MCP_ECLOSED);
        return;
    }
    if (r && r->state == REQ_SENT) {
        if (r->resent) {
            /* Expired again right after a fresh session: give up on this one. */
            complete_later(c, r, MCP_ECLOSED);
        } else {
            r->resent = 1;
            r->state = REQ_HELD;
            q_push(&c->held, r);
        }
    }
    if (c->state != CS_READY)
        return; /* already re-initializing (or not in a state to) */
    LOG_I("mcp_client", "session expired, re-initializing", "name=%s", log_quote(c->name));
    c->state = CS_REINIT;
    if (c->transport && c->transport->ops->reset_session)
        c->transport->ops->reset_session(c->transport);
    int rc = send_initialize(c, c->init_deadline_ms);
    if (rc) {
        c->state = CS_FAILED;
        set_error(c, "re-initialize failed: %s", mcp_strerror(rc));
        while (c->held.head)
            complete_later(c, c->held.head, rc);
    }
}

static void deliver_closed(mcp_client_t *c)
{
    /* on_closed runs from the idle callback so transports may report from inside ops->send. */
    c->closed_notify_pending = 1;
    schedule_idle(c);
}

void mcp_client_on_transport_closed(mcp_client_t *c, int reason)
{
    if (!c || !c->transport)
        return;
    c->transport->client = NULL;
    c->transport = NULL;
    c->transport_closing = 0;
    if (c->state == CS_CLOSING) {
        maybe_finish_close(c);
        return;
    }
    LOG_W("mcp_client", "transport closed", "name=%s reason=%s", log_quote(c->name),
          mcp_err_name(reason ? reason : MCP_ECLOSED));
    c->state = CS_CLOSED;
    c->closed_reason = reason ? reason : MCP_ECLOSED;
    fail_all(c, MCP_ECLOSED);
    deliver_closed(c);
}

/* ---- incoming messages ---- */

static void handle_response(mcp_client_t *c, jsonrpc_msg_t *m)
{
    mcp_client_req_t *r = find_by_id(c, &m->id);
    if (!r || r->state != REQ_SENT) {
        char tmp[64];
        LOG_D("mcp_client", "response to no pending request", "name=%s id=%s", log_quote(c->name),
              jsonrpc_id_str(&m->id, tmp, sizeof tmp));
        return;
    }
    jsonrpc_msg_move(&r->resp, m);
    complete_now(c, r, r->resp.kind == JSONRPC_RESULT ? 0 : MCP_EUPSTREAM);
}

static double num_or(const cJSON *item, double dflt)
{
    return cJSON_IsNumber(item) ? item->valuedouble : dflt;
}

static void handle_progress(mcp_client_t *c, const cJSON *params)
{
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(params, "progressToken");
    jsonrpc_id_t id = {0};
    if (!tok || jsonrpc_id_from_json(tok, &id) != 0)
        return;
    mcp_client_req_t *r = find_by_id(c, &id);
    jsonrpc_id_free(&id);
    if (!r || r->state != REQ_SENT || !r->on_progress)
        return;
    if (r->max_deadline && r->heap_idx != SIZE_MAX) {
        uint64_t d = uv_now(c->loop) + r->deadline_ms;
        r->deadline = d < r->max_deadline ? d : r->max_deadline;
        heap_update(c, r);
    }
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(params, "message");
    r->on_progress(r, num_or(cJSON_GetObjectItemCaseSensitive(params, "progress"), 0),
                   num_or(cJSON_GetObjectItemCaseSensitive(params, "total"), -1),
                   cJSON_IsString(msg) ? msg->valuestring : NULL, params, r->ud);
}

static void handle_cancelled(mcp_client_t *c, const cJSON *params)
{
    jsonrpc_id_t id = {0};
    if (jsonrpc_id_from_json(cJSON_GetObjectItemCaseSensitive(params, "requestId"), &id) != 0)
        return;
    for (mcp_client_incoming_t *in = c->incoming; in; in = in->next)
        if (jsonrpc_id_equal(&in->msg.id, &id))
            in->cancelled = 1;
    jsonrpc_id_free(&id);
}

static void handle_notification(mcp_client_t *c, jsonrpc_msg_t *m)
{
    const cJSON *params = m->params;
    if (strcmp(m->method, MCP_NOTIFY_PROGRESS) == 0) {
        handle_progress(c, params);
        return;
    }
    if (strcmp(m->method, MCP_NOTIFY_CANCELLED) == 0)
        handle_cancelled(c, params);
    if (c->on_notification)
        c->on_notification(c, m->method, params, c->ud);
}

static void incoming_unlink(mcp_client_incoming_t *in)
{
    mcp_client_t *c = in->client;
    if (!c)
        return;
    if (in->prev)
        in->prev->next = in->next;
    else
        c->incoming = in->next;
    if (in->next)
        in->next->prev = in->prev;
    in->prev = in->next = NULL;
}

static void send_error_reply(mcp_client_t *c, const jsonrpc_id_t *id, int code, const char *text)
{
    int rc = send_json(c, jsonrpc_build_error(id, code, text, NULL));
    if (rc)
        LOG_W("mcp_client", "cannot send error reply", "name=%s err=%s", log_quote(c->name),
              mcp_err_name(rc));
}

static void handle_request(mcp_client_t *c, jsonrpc_msg_t *m)
{
    if (strcmp(m->method, MCP_METHOD_PING) == 0) {
        int rc = send_json(c, jsonrpc_build_result(&m->id, NULL));
        if (rc)
            LOG_W("mcp_client", "cannot answer ping", "name=%s err=%s", log_quote(c->name),
                  mcp_err_name(rc));
        return;
    }
    mcp_client_handler_fn h = NULL;
    if (strcmp(m->method, MCP_METHOD_SAMPLING_CREATE_MESSAGE) == 0)
        h = c->on_sampling;
    else if (strcmp(m->method, MCP_METHOD_ELICITATION_CREATE) == 0)
        h = c->on_elicitation;
    else if (strcmp(m->method, MCP_METHOD_ROOTS_LIST) == 0)
        h = c->on_roots;
    if (!h) {
        send_error_reply(c, &m->id, JSONRPC_METHOD_NOT_FOUND, "Method not found");
        return;
    }
    mcp_client_incoming_t *in = mcp_calloc(1, sizeof *in);
    if (!in) {
        send_error_reply(c, &m->id, JSONRPC_INTERNAL_ERROR, "Out of memory");
        return;
    }
    in->client = c;
    jsonrpc_msg_move(&in->msg, m);
    in->next = c->incoming;
    if (c->incoming)
        c->incoming->prev = in;
    c->incoming = in;
    h(c, in, in->msg.method, in->msg.params, c->ud);
}

static int client_live(const mcp_client_t *c)
{
    return c->state != CS_CLOSING && c->state != CS_CLOSED && !c->freeing;
}

static void handle_msg(mcp_client_t *c, jsonrpc_msg_t *m)
{
    switch (m->kind) {
    case JSONRPC_RESULT:
    case JSONRPC_ERROR: handle_response(c, m); break;
    case JSONRPC_NOTIFICATION: handle_notification(c, m); break;
    case JSONRPC_REQUEST: handle_request(c, m); break;
    case JSONRPC_INVALID:
        LOG_W("mcp_client", "invalid message from server", "name=%s reason=%s", log_quote(c->name),
              log_quote(m->reason));
        if (m->id.type == JSONRPC_ID_INT || m->id.type == JSONRPC_ID_STR) {
            /* A request we could not accept: answer it, unless it was meant as a response. */
            mcp_client_req_t *r = find_by_id(c, &m->id);
            if (!r)
                send_error_reply(c, &m->id, m->error_code, m->reason);
            else if (r->state == REQ_SENT)
                complete_now(c, r, MCP_EPROTO); /* a malformed response to it */
        }
        break;
    }
}

void mcp_client_on_message(mcp_client_t *c, const char *data, size_t len)
{
    if (!c || !client_live(c))
        return;
    jsonrpc_batch_t batch;
    jsonrpc_error_t err;
    int rc = jsonrpc_parse(data, len, &batch, &err);
    if (rc) {
        LOG_W("mcp_client", "unreadable message from server", "name=%s err=%s detail=%s",
              log_quote(c->name), mcp_err_name(rc), log_quote(rc == MCP_ENOMEM ? "" : err.message));
        return;
    }
    for (size_t i = 0; i < batch.count && client_live(c); i++)
        handle_msg(c, &batch.msgs[i]);
    jsonrpc_batch_free(&batch);
}

/* ---- replies to server requests ---- */

static int reply_json(mcp_client_incoming_t *in, cJSON *msg)
{
    mcp_client_t *c = in->client;
    int rc;
    if (!c || !client_live(c))
        rc = MCP_ECLOSED;
    else if (in->cancelled)
        rc = MCP_ECANCELED;
    else
        rc = send_json(c, msg), msg = NULL;
    cJSON_Delete(msg);
    incoming_unlink(in);
    jsonrpc_msg_free(&in->msg);
    mcp_free(in);
    return rc;
}

int mcp_client_reply(mcp_client_incoming_t *in, cJSON *result)
{
    if (!in) {
        cJSON_Delete(result);
        return MCP_EINVAL;
    }
    cJSON *msg = jsonrpc_build_result(&in->msg.id, result);
    if (!msg) {
        reply_json(in, NULL);
        return MCP_ENOMEM;
    }
    return reply_json(in, msg);
}

int mcp_client_reply_error(mcp_client_incoming_t *in, int code, const char *message, cJSON *data)
{
    if (!in) {
        cJSON_Delete(data);
        return MCP_EINVAL;
    }
    cJSON *msg = jsonrpc_build_error(&in->msg.id, code, message ? message : "", data);
    if (!msg) {
        reply_json(in, NULL);
        return MCP_ENOMEM;
    }
    return reply_json(in, msg);
}

int mcp_client_incoming_cancelled(const mcp_client_incoming_t *in)
{
    return in ? in->cancelled : 0;
}

const jsonrpc_id_t *mcp_client_incoming_id(const mcp_client_incoming_t *in)
{
    return in ? &in->msg.id : NULL;
}

/* ---- lifecycle ---- */

static void on_idle(uv_idle_t *h)
{
    mcp_client_t *c = h->data;
    /* Only what is queued now: callbacks that queue more are served on the next turn. */
    mcp_client_req_t *last = c->done.tail;
    while (c->done.head) {
        mcp_client_req_t *r = c->done.head;
        q_remove(&c->done, r);
        c->ndone--;
        run_cb(r);
        if (r == last)
            break;
    }
    if (c->closed_notify_pending && !c->freeing) {
        c->closed_notify_pending = 0;
        if (c->on_closed && c->state == CS_CLOSED)
            c->on_closed(c, c->closed_reason, c->ud);
    }
    if (!c->done.head && !c->closed_notify_pending) {
        uv_idle_stop(&c->idle);
        c->idle_active = 0;
    }
    if (c->state == CS_CLOSING)
        maybe_finish_close(c);
}

static void client_free(mcp_client_t *c)
{
    for (mcp_client_incoming_t *in = c->incoming; in;) {
        mcp_client_incoming_t *next = in->next;
        in->client = NULL; /* the handler still owns it; its reply will be dropped */
        in->prev = in->next = NULL;
        in = next;
    }
    cJSON_Delete(c->init_result);
    mcp_free(c->buckets);
    mcp_free(c->heap);
    mcp_free(c->name);
    mcp_free(c->client_name);
    mcp_free(c->client_version);
    mcp_free(c->client_title);
    mcp_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    mcp_client_t *c = h->data;
    if (--c->handles_open > 0)
        return;
    mcp_client_close_fn cb = c->close_cb;
    void *ud = c->close_ud;
    if (cb)
        cb(c, ud);
    client_free(c);
}

static void maybe_finish_close(mcp_client_t *c)
{
    if (c->freeing || c->transport || c->done.head || c->count)
        return;
    c->freeing = 1;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
}

int mcp_client_close(mcp_client_t *c, mcp_client_close_fn cb, void *ud)
{
    if (!c)
        return MCP_EINVAL;
    if (c->state == CS_CLOSING)
        return MCP_ESTATE;
    c->state = CS_CLOSING;
    c->close_cb = cb;
    c->close_ud = ud;
    c->closed_notify_pending = 0;
    fail_all(c, MCP_ECANCELED);
    if (c->transport && !c->transport_closing) {
        c->transport_closing = 1;
        c->transport->ops->close(c->transport);
    }
    /* Finish from the loop: the idle callback delivers the cancellations first. */
    schedule_idle(c);
    return 0;
}

int mcp_client_new(uv_loop_t *loop, const mcp_client_options_t *opts, mcp_client_t **out)
{
    if (!loop || !out)
        return MCP_EINVAL;
    *out = NULL;
    mcp_client_options_t none = {0};
    if (!opts)
        opts = &none;
    const char *asked = opts->protocol_version ? opts->protocol_version : MCP_PROTOCOL_LATEST;
    if (!mcp_version_supported(asked))
        return MCP_EINVAL;
    mcp_client_t *c = mcp_calloc(1, sizeof *c);
    if (!c)
        return MCP_ENOMEM;
    c->loop = loop;
    c->name = mcp_strdup(opts->name ? opts->name : "upstream");
    c->client_name = mcp_strdup(opts->client_name ? opts->client_name : "mcp-gateway");
    c->client_version = mcp_strdup(opts->client_version ? opts->client_version : "0.1.0");
    c->client_title = opts->client_title ? mcp_strdup(opts->client_title) : NULL;
    if (!c->name || !c->client_name || !c->client_version ||
        (opts->client_title && !c->client_title) || hash_grow(c) != 0) {
        client_free(c);
        return MCP_ENOMEM;
    }
    c->asked_version = static_version(asked);
    c->on_sampling = opts->on_sampling;
    c->on_elicitation = opts->on_elicitation;
    c->on_roots = opts->on_roots;
    c->roots_list_changed = opts->roots_list_changed;
    c->on_notification = opts->on_notification;
    c->on_closed = opts->on_closed;
    c->ud = opts->userdata;
    c->max_pending = opts->max_pending ? opts->max_pending : CLIENT_DEFAULT_MAX_PENDING;
    c->next_id = 1;
    snprintf(c->error, sizeof c->error, "no error");
    uv_timer_init(loop, &c->timer);
    uv_idle_init(loop, &c->idle);
    c->timer.data = c;
    c->idle.data = c;
    c->handles_open = 2;
    *out = c;
    return 0;
}

/* ---- state ---- */

int mcp_client_ready(const mcp_client_t *c)
{
    return c && (c->state == CS_READY || c->state == CS_REINIT);
}

const char *mcp_client_protocol_version(const mcp_client_t *c)
{
    return c ? c->version : NULL;
}

const cJSON *mcp_client_server_info(const mcp_client_t *c)
{
    return c ? cJSON_GetObjectItemCaseSensitive(c->init_result, "serverInfo") : NULL;
}

const cJSON *mcp_client_server_capabilities(const mcp_client_t *c)
{
    return c ? cJSON_GetObjectItemCaseSensitive(c->init_result, "capabilities") : NULL;
}

const char *mcp_client_instructions(const mcp_client_t *c)
{
    return c ? cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(c->init_result, "instructions"))
             : NULL;
}

int mcp_client_server_has(const mcp_client_t *c, const char *name)
{
    return cJSON_IsObject(
        cJSON_GetObjectItemCaseSensitive(mcp_client_server_capabilities(c), name));
}

const char *mcp_client_error_message(const mcp_client_t *c)
{
    return c ? c->error : "no client";
}

const char *mcp_client_name(const mcp_client_t *c)
{
    return c ? c->name : NULL;
}

uv_loop_t *mcp_client_loop(const mcp_client_t *c)
{
    return c ? c->loop : NULL;
}

size_t mcp_client_pending(const mcp_client_t *c)
{
    return c ? c->count + c->ndone : 0;
}
