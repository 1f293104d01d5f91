#include "mcp_loopback.h"

#include "alloc.h"
#include "errors.h"

#include <string.h>

typedef struct lb_msg_s {
    struct lb_msg_s *next;
    int to_server;
    size_t len;
    char data[];
} lb_msg_t;

struct mcp_loopback_s {
    mcp_client_transport_t transport; /* first member: the client sees this */
    mcp_client_t *client;
    mcp_session_t *session;
    uv_idle_t pump;
    lb_msg_t *head, *tail;
    int close_reason;    /* why the client side is being told "closed" */
    int closing;         /* client asked to close, or the server dropped the session */
    int client_notified; /* mcp_client_on_transport_closed was called */
    int pump_closed;
    size_t to_server, to_client;
};

static void pump_cb(uv_idle_t *handle);

static int enqueue(mcp_loopback_t *lb, int to_server, const char *json, size_t len)
{
    if (lb->closing)
        return MCP_ECLOSED;
    lb_msg_t *m = mcp_malloc(sizeof *m + len + 1);
    if (!m)
        return MCP_ENOMEM;
    m->next = NULL;
    m->to_server = to_server;
    m->len = len;
    memcpy(m->data, json, len);
    m->data[len] = '\0';
    if (lb->tail)
        lb->tail->next = m;
    else
        lb->head = m;
    lb->tail = m;
    return uv_idle_start(&lb->pump, pump_cb);
}

static void drop_queue(mcp_loopback_t *lb)
{
    while (lb->head) {
        lb_msg_t *m = lb->head;
        lb->head = m->next;
        mcp_free(m);
    }
    lb->tail = NULL;
}

static void pump_closed_cb(uv_handle_t *handle)
{
    mcp_loopback_t *lb = handle->data;
    mcp_free(lb);
}

/* Called once both sides are done with the loopback. */
static void finish(mcp_loopback_t *lb)
{
    if (lb->pump_closed)
        return;
    lb->pump_closed = 1;
    drop_queue(lb);
    uv_close((uv_handle_t *)&lb->pump, pump_closed_cb);
}

static void pump_cb(uv_idle_t *handle)
{
    mcp_loopback_t *lb = handle->data;
    /* Deliver only what is queued now; messages sent during delivery wait for the next turn,
     * like bytes on a real pipe. */
    lb_msg_t *batch = lb->head;
    lb->head = lb->tail = NULL;
    while (batch) {
        lb_msg_t *m = batch;
        batch = m->next;
        if (!lb->closing) {
            if (m->to_server && lb->session) {
                lb->to_server++;
                mcp_session_receive(lb->session, m->data, m->len, NULL, NULL);
            } else if (!m->to_server) {
                lb->to_client++;
                mcp_client_on_message(lb->client, m->data, m->len);
            }
        }
        mcp_free(m);
    }
    if (lb->closing && !lb->client_notified) {
        lb->client_notified = 1;
        drop_queue(lb);
        mcp_client_on_transport_closed(lb->client, lb->close_reason);
        finish(lb);
        return;
    }
    if (!lb->head)
        uv_idle_stop(&lb->pump);
}

/* ---- the client's side ---- */

static int client_send(mcp_client_transport_t *t, const char *json, size_t len,
                       const jsonrpc_id_t *request_id)
{
    (void)request_id;
    return enqueue((mcp_loopback_t *)t, 1, json, len);
}

static void client_close(mcp_client_transport_t *t)
{
    mcp_loopback_t *lb = (mcp_loopback_t *)t;
    lb->closing = 1;
    lb->close_reason = 0;
    if (lb->session) {
        mcp_session_t *session = lb->session;
        lb->session = NULL;
        mcp_session_close(session);
    }
    uv_idle_start(&lb->pump, pump_cb);
}

static const mcp_client_transport_ops_t client_ops = {
    .send = client_send,
    .close = client_close,
};

/* ---- the server's side ---- */

static int server_send(void *ctx, const char *json, size_t len, const mcp_send_info_t *info)
{
    (void)info;
    return enqueue(ctx, 0, json, len);
}

static void server_closed(void *ctx)
{
    mcp_loopback_t *lb = ctx;
    lb->session = NULL;
    if (!lb->closing) {
        lb->closing = 1;
        lb->close_reason = MCP_ECLOSED;
        uv_idle_start(&lb->pump, pump_cb);
    }
}

static const mcp_transport_ops_t server_ops = {
    .send = server_send,
    .closed = server_closed,
};

int mcp_loopback_connect(uv_loop_t *loop, mcp_server_t *server, mcp_client_t *client,
                         mcp_loopback_t **out)
{
    mcp_loopback_t *lb = mcp_calloc(1, sizeof *lb);
    if (!lb)
        return MCP_ENOMEM;
    lb->transport.ops = &client_ops;
    lb->transport.kind = "loopback";
    lb->client = client;
    int rc = uv_idle_init(loop, &lb->pump);
    if (rc) {
        mcp_free(lb);
        return rc;
    }
    lb->pump.data = lb;
    rc = mcp_session_create(server, &server_ops, lb, &lb->session);
    if (rc == 0) {
        rc = mcp_client_attach_transport(client, &lb->transport);
        if (rc) {
            mcp_session_close(lb->session);
            lb->session = NULL;
        }
    }
    if (rc) {
        lb->pump_closed = 1;
        uv_close((uv_handle_t *)&lb->pump, pump_closed_cb);
        return rc;
    }
    if (out)
        *out = lb;
    return 0;
}

mcp_session_t *mcp_loopback_session(const mcp_loopback_t *lb)
{
    return lb->session;
}

size_t mcp_loopback_delivered_to_server(const mcp_loopback_t *lb)
{
    return lb->to_server;
}

size_t mcp_loopback_delivered_to_client(const mcp_loopback_t *lb)
{
    return lb->to_client;
}
