#include "mcp_client_stdio.h"

#include "alloc.h"
#include "child.h"
#include "errors.h"
#include "linebuf.h"
#include "log.h"

#include <signal.h>
#include <string.h>

#define STDIO_DEFAULT_GRACE_MS    2000u
#define STDIO_DEFAULT_MAX_MESSAGE (16u * 1024 * 1024)
#define STDIO_DEFAULT_MAX_QUEUE   (16u * 1024 * 1024)

typedef struct {
    mcp_client_transport_t base; /* first: the client hands us back this pointer */
    mcp_client_t *client;        /* until reported closed */
    child_t *child;
    linebuf_t lines;
    unsigned grace_ms;
    int closing;  /* ops->close called */
    int reported; /* mcp_client_on_transport_closed called */
} stdio_t;

static const char *const stdio_kind = "stdio";

static void report_closed(stdio_t *st, int reason)
{
    if (st->reported)
        return;
    st->reported = 1;
    mcp_client_t *c = st->client;
    st->client = NULL;
    mcp_client_on_transport_closed(c, reason);
}

static int on_line(void *ud, char *line, size_t len)
{
    stdio_t *st = ud;
    if (st->reported || st->closing)
        return 1; /* nobody to deliver to any more */
    mcp_client_on_message(st->client, line, len);
    return st->reported || st->closing;
}

static void on_overflow(void *ud, size_t seen)
{
    stdio_t *st = ud;
    LOG_W("mcp_client", "message line too long, skipped", "name=%s bytes=%zu",
          log_quote(child_name(st->child)), seen);
}

static void on_read(child_t *child, char *data, ssize_t n, void *ud)
{
    stdio_t *st = ud;
    if (n > 0) {
        linebuf_feed(&st->lines, data, (size_t)n);
        return;
    }
    if (!st->reported && !st->closing)
        linebuf_finish(&st->lines);
    if (st->closing || st->reported)
        return; /* a graceful close completes when the child is reaped */
    /* Nothing more can arrive. Usually the child is exiting; one that closed stdout and keeps
     * running is stopped. Either way the close is reported when it has been reaped, with the
     * exit status known. */
    if (!child_exited(child))
        LOG_D("mcp_client", "server closed stdout", "name=%s pid=%d", log_quote(child_name(child)),
              (int)child_pid(child));
    child_terminate(child, st->grace_ms);
}

static void on_exit_cb(child_t *child, int64_t status, int sig, void *ud)
{
    stdio_t *st = ud;
    if (!st->reported) {
        int reason = 0;
        if (!st->closing) {
            reason = (sig || status) ? MCP_ECHILD : MCP_ECLOSED;
            LOG_W("mcp_client", "server exited", "name=%s pid=%d status=%lld signal=%d",
                  log_quote(child_name(child)), (int)child_pid(child), (long long)status, sig);
        }
        report_closed(st, reason);
    }
    child_close(child);
    linebuf_free(&st->lines);
    mcp_free(st);
}

static int stdio_send(mcp_client_transport_t *t, const char *json, size_t len,
                      const jsonrpc_id_t *request_id)
{
    stdio_t *st = (stdio_t *)t;
    (void)request_id;
    if (st->closing || st->reported)
        return MCP_ECLOSED;
    uv_buf_t bufs[2] = {uv_buf_init((char *)json, (unsigned)len), uv_buf_init("\n", 1)};
    return child_write(st->child, bufs, 2, NULL, NULL);
}

static void stdio_close(mcp_client_transport_t *t)
{
    stdio_t *st = (stdio_t *)t;
    if (st->closing)
        return;
    st->closing = 1;
    child_terminate(st->child, st->grace_ms);
}

static const mcp_client_transport_ops_t stdio_ops = {
    .send = stdio_send,
    .close = stdio_close,
};

int mcp_client_stdio_start(mcp_client_t *client, const mcp_client_stdio_options_t *opts)
{
    if (!client || !opts || !opts->command)
        return MCP_EINVAL;
    stdio_t *st = mcp_calloc(1, sizeof *st);
    if (!st)
        return MCP_ENOMEM;
    st->base.ops = &stdio_ops;
    st->base.kind = stdio_kind;
    st->client = client;
    st->grace_ms = opts->close_grace_ms ? opts->close_grace_ms : STDIO_DEFAULT_GRACE_MS;
    linebuf_init(&st->lines, opts->max_message ? opts->max_message : STDIO_DEFAULT_MAX_MESSAGE,
                 on_line, on_overflow, st);
    child_options_t co = {
        .name = mcp_client_name(client),
        .file = opts->command,
        .args = opts->args,
        .env = opts->env,
        .clean_env = opts->clean_env,
        .cwd = opts->cwd,
        .max_write_queue = opts->max_write_queue ? opts->max_write_queue : STDIO_DEFAULT_MAX_QUEUE,
        .on_exit = on_exit_cb,
        .userdata = st,
    };
    int rc = child_spawn(mcp_client_loop(client), &co, &st->child);
    if (rc == 0)
        rc = child_read_start(st->child, on_read);
    if (rc == 0)
        rc = mcp_client_attach_transport(client, &st->base);
    if (rc != 0) {
        child_close(st->child); /* SIGKILL, reaped in the background; no callback */
        linebuf_free(&st->lines);
        mcp_free(st);
        return rc;
    }
    return 0;
}

child_t *mcp_client_stdio_child(mcp_client_t *client)
{
    mcp_client_transport_t *t = mcp_client_transport(client);
    return t && t->kind == stdio_kind ? ((stdio_t *)t)->child : NULL;
}
