#include "mcp_stdio_server.h"

#include "alloc.h"
#include "errors.h"
#include "linebuf.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define COMP               "stdio"
#define DEFAULT_MAX_LINE   (16u * 1024 * 1024)
#define DEFAULT_MAX_OUTPUT (64u * 1024 * 1024)
#define DEFAULT_GRACE_MS   2000
#define READ_CHUNK         65536
#define HIGH_WATER_CAP     (1u * 1024 * 1024)

enum { KIND_STREAM = 1, KIND_FILE };

typedef union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tty_t tty;
} stream_u;

struct mcp_stdio_server_s {
    uv_loop_t *loop;
    mcp_server_t *server;
    mcp_session_t *session;
    int in_fd, out_fd;
    int in_kind, out_kind;
    stream_u in, out;
    uv_timer_t timer;
    uv_fs_t fs_req;
    int fs_busy;
    linebuf_t lb;
    size_t max_line, max_output, high_water, queued;
    uint64_t grace_ms;
    int reading, paused, eof, closing, write_error, handles_closing, pending_closes;
    int status;
    mcp_stdio_closed_fn on_closed;
    void *ud;
    mcp_stdio_send_filter_fn filter;
    void *filter_ud;
    char rbuf[READ_CHUNK];
};

typedef struct {
    uv_write_t req;
    mcp_stdio_server_t *io;
    size_t len;
    char data[];
} wreq_t;

static void start_reading(mcp_stdio_server_t *io);
static void stop_reading(mcp_stdio_server_t *io);
static void maybe_finish(mcp_stdio_server_t *io);

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h)
{
    mcp_stdio_server_t *io = h->data;
    if (--io->pending_closes > 0)
        return;
    linebuf_free(&io->lb);
    if (io->on_closed)
        io->on_closed(io, io->status, io->ud);
    mcp_free(io);
}

static void close_handles(mcp_stdio_server_t *io)
{
    io->handles_closing = 1;
    io->pending_closes = 1;
    uv_close((uv_handle_t *)&io->timer, on_handle_closed);
    if (io->in_kind == KIND_STREAM) {
        io->pending_closes++;
        uv_close(&io->in.handle, on_handle_closed);
    }
    if (io->out_kind == KIND_STREAM) {
        io->pending_closes++;
        uv_close(&io->out.handle, on_handle_closed);
    }
}

/* The session is closed from a timer callback, never from inside one of its own ops. */
static void on_close_timer(uv_timer_t *t)
{
    mcp_stdio_server_t *io = t->data;
    if (io->session) {
        mcp_session_t *s = io->session;
        io->session = NULL;
        mcp_session_close(s);
    }
    maybe_finish(io);
}

static void begin_close(mcp_stdio_server_t *io, int status)
{
    if (io->closing) {
        if (!io->status)
            io->status = status;
        return;
    }
    io->closing = 1;
    io->status = status;
    stop_reading(io);
    uv_timer_stop(&io->timer);
    uv_timer_start(&io->timer, on_close_timer, 0, 0);
}

static void maybe_finish(mcp_stdio_server_t *io)
{
    if (!io->closing || io->session || io->handles_closing || io->fs_busy)
        return;
    /* Queued responses are flushed first, unless the output is already broken. */
    if (io->queued > 0 && !io->write_error)
        return;
    close_handles(io);
}

/* ---- output ---- */

static void on_write(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    mcp_stdio_server_t *io = w->io;
    io->queued -= w->len;
    mcp_free(w);
    if (status < 0 && status != UV_ECANCELED && !io->write_error) {
        LOG_W(COMP, "write to the client failed", "error=%s", uv_err_name(status));
        io->write_error = 1;
        begin_close(io, status);
    }
    if (io->paused && io->queued < io->high_water / 2) {
        io->paused = 0;
        if (!io->closing && !io->eof)
            start_reading(io);
    }
    maybe_finish(io);
}

static int write_file(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write data (plus a newline when `newline`) as one piece of output. */
static int write_bytes(mcp_stdio_server_t *io, const char *json, size_t len, int newline)
{
    if (io->write_error || io->handles_closing)
        return MCP_ECLOSED;
    size_t total = len + (newline ? 1 : 0);
    if (total == 0)
        return 0;
    if (total > io->max_output - io->queued) {
        LOG_E(COMP, "output queue full: the client does not read; closing", "queued=%zu max=%zu",
              io->queued, io->max_output);
        io->write_error = 1;
        begin_close(io, MCP_ENOBUFS);
        return MCP_ENOBUFS;
    }
    if (io->out_kind == KIND_FILE) {
        char nl = '\n';
        int rc = write_file(io->out_fd, json, len);
        if (!rc && newline)
            rc = write_file(io->out_fd, &nl, 1);
        if (rc) {
            io->write_error = 1;
            begin_close(io, rc);
        }
        return rc;
    }
    wreq_t *w = mcp_malloc(sizeof(*w) + total);
    if (!w)
        return MCP_ENOMEM;
    w->io = io;
    w->len = total;
    memcpy(w->data, json, len);
    if (newline)
        w->data[len] = '\n';
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)total);
    int rc = uv_write(&w->req, &io->out.stream, &buf, 1, on_write);
    if (rc) {
        mcp_free(w);
        io->write_error = 1;
        begin_close(io, rc);
        return rc;
    }
    io->queued += w->len;
    if (io->queued >= io->high_water && !io->paused) {
        io->paused = 1;
        stop_reading(io);
    }
    return 0;
}

static int write_line(mcp_stdio_server_t *io, const char *json, size_t len)
{
    return write_bytes(io, json, len, 1);
}

/* ---- session ops ---- */

static int op_send(void *ctx, const char *json, size_t len, const mcp_send_info_t *info)
{
    mcp_stdio_server_t *io = ctx;
    /* one stream: every message goes to the same output */
    if (io->filter) {
        int rc = io->filter(io, json, len, info, io->filter_ud);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
    return write_line(io, json, len);
}

static void op_drained(void *ctx)
{
    mcp_stdio_server_t *io = ctx;
    if (io->eof)
        begin_close(io, 0);
}

static void op_closed(void *ctx)
{
    mcp_stdio_server_t *io = ctx;
    io->session = NULL;
    begin_close(io, MCP_ECLOSED);
}

static const mcp_transport_ops_t stdio_ops = {op_send, NULL, op_drained, op_closed};

/* ---- input ---- */

static void send_error(mcp_stdio_server_t *io, int code, const char *message)
{
    cJSON *msg = jsonrpc_build_error(NULL, code, message, NULL);
    size_t len;
    char *text = msg ? jsonrpc_print(msg, &len) : NULL;
    cJSON_Delete(msg);
    if (text)
        (void)write_line(io, text, len);
    cJSON_free(text);
}

static int on_line(void *ud, char *line, size_t len)
{
    mcp_stdio_server_t *io = ud;
    if (!io->session || io->closing)
        return 1;
    int rc = mcp_session_receive(io->session, line, len, NULL, NULL);
    if (rc == MCP_ENOMEM) {
        LOG_E(COMP, "out of memory while handling a message", "bytes=%zu", len);
        send_error(io, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
    }
    return io->closing ? 1 : 0;
}

static void on_overflow(void *ud, size_t seen)
{
    mcp_stdio_server_t *io = ud;
    char msg[128];
    snprintf(msg, sizeof(msg), "Invalid Request: message longer than %zu bytes", io->max_line);
    LOG_W(COMP, "over-long line skipped", "seen=%zu max=%zu", seen, io->max_line);
    send_error(io, JSONRPC_INVALID_REQUEST, msg);
}

static void on_grace(uv_timer_t *t)
{
    mcp_stdio_server_t *io = t->data;
    LOG_W(COMP, "calls still in flight after end of input; cancelling them", "grace_ms=%llu",
          (unsigned long long)io->grace_ms);
    begin_close(io, 0);
}

static void on_eof(mcp_stdio_server_t *io)
{
    if (io->eof)
        return;
    io->eof = 1;
    stop_reading(io);
    (void)linebuf_finish(&io->lb);
    if (io->closing)
        return;
    if (io->session)
        mcp_session_input_closed(io->session);
    if (!io->session || mcp_session_inflight(io->session) == 0) {
        begin_close(io, 0);
        return;
    }
    /* Let calls in flight finish (their responses can still be read), but not forever. */
    uv_timer_start(&io->timer, on_grace, io->grace_ms, 0);
}

static void on_feed_result(mcp_stdio_server_t *io, int rc)
{
    if (rc == MCP_ENOMEM)
        LOG_E(COMP, "out of memory while buffering input", "max_line=%zu", io->max_line);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    mcp_stdio_server_t *io = h->data;
    *buf = uv_buf_init(io->rbuf, sizeof(io->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    mcp_stdio_server_t *io = s->data;
    (void)buf;
    if (nread > 0) {
        on_feed_result(io, linebuf_feed(&io->lb, io->rbuf, (size_t)nread));
    } else if (nread == UV_EOF || nread == UV_ECONNRESET) {
        on_eof(io);
    } else if (nread < 0) {
        LOG_W(COMP, "read from the client failed", "error=%s", uv_err_name((int)nread));
        begin_close(io, (int)nread);
    }
}

static void on_fs_read(uv_fs_t *req)
{
    mcp_stdio_server_t *io = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    io->fs_busy = 0;
    if (n > 0 && !io->closing)
        on_feed_result(io, linebuf_feed(&io->lb, io->rbuf, (size_t)n));
    if (n == 0)
        on_eof(io);
    else if (n < 0 && !io->closing)
        begin_close(io, (int)n);
    if (io->reading && !io->closing && !io->eof && !io->paused) {
        io->reading = 0;
        start_reading(io);
    }
    maybe_finish(io);
}

static void start_reading(mcp_stdio_server_t *io)
{
    if (io->reading)
        return;
    if (io->in_kind == KIND_STREAM) {
        if (uv_read_start(&io->in.stream, on_alloc, on_read) == 0)
            io->reading = 1;
        return;
    }
    io->reading = 1;
    if (io->fs_busy)
        return;
    uv_buf_t buf = uv_buf_init(io->rbuf, sizeof(io->rbuf));
    io->fs_req.data = io;
    if (uv_fs_read(io->loop, &io->fs_req, io->in_fd, &buf, 1, -1, on_fs_read) == 0)
        io->fs_busy = 1;
    else
        io->reading = 0;
}

static void stop_reading(mcp_stdio_server_t *io)
{
    if (!io->reading)
        return;
    io->reading = 0;
    if (io->in_kind == KIND_STREAM)
        uv_read_stop(&io->in.stream);
    /* A file read in flight completes on its own; its callback sees reading == 0. */
}

/* ---- start ---- */

static int kind_of(int fd, int *kind)
{
    switch (uv_guess_handle(fd)) {
    case UV_NAMED_PIPE:
    case UV_TTY:
    case UV_TCP: *kind = KIND_STREAM; return 0;
    case UV_FILE: *kind = KIND_FILE; return 0;
    default: return MCP_EUNSUPPORTED;
    }
}

/* *inited tells whether the handle must be closed even when opening failed. */
static int open_stream(uv_loop_t *loop, int fd, stream_u *s, int *inited)
{
    *inited = 0;
    if (uv_guess_handle(fd) == UV_TTY) {
        int rc = uv_tty_init(loop, &s->tty, fd, 0);
        *inited = rc == 0;
        return rc;
    }
    int rc = uv_pipe_init(loop, &s->pipe, 0);
    if (rc)
        return rc;
    *inited = 1;
    return uv_pipe_open(&s->pipe, fd);
}

static void on_start_failed_closed(uv_handle_t *h)
{
    mcp_stdio_server_t *io = h->data;
    if (--io->pending_closes == 0) {
        linebuf_free(&io->lb);
        mcp_free(io);
    }
}

int mcp_stdio_server_start(uv_loop_t *loop, mcp_server_t *server, const mcp_stdio_config_t *cfg,
                           mcp_stdio_closed_fn on_closed, void *ud, mcp_stdio_server_t **out)
{
    *out = NULL;
    mcp_stdio_config_t defaults = {0};
    if (!cfg)
        cfg = &defaults;
    int in_fd = cfg->use_fds ? cfg->in_fd : 0;
    int out_fd = cfg->use_fds ? cfg->out_fd : 1;
    int in_kind, out_kind;
    if (kind_of(in_fd, &in_kind) || kind_of(out_fd, &out_kind)) {
        LOG_E(COMP, "stdin/stdout must be a pipe, socket, terminal or file", "in_fd=%d out_fd=%d",
              in_fd, out_fd);
        return MCP_EUNSUPPORTED;
    }
    mcp_stdio_server_t *io = mcp_calloc(1, sizeof(*io));
    if (!io)
        return MCP_ENOMEM;
    io->loop = loop;
    io->server = server;
    io->in_fd = in_fd;
    io->out_fd = out_fd;
    io->in_kind = in_kind;
    io->out_kind = out_kind;
    io->max_line = cfg->max_line ? cfg->max_line : DEFAULT_MAX_LINE;
    io->max_output = cfg->max_output ? cfg->max_output : DEFAULT_MAX_OUTPUT;
    io->high_water = io->max_output / 2 < HIGH_WATER_CAP ? io->max_output / 2 : HIGH_WATER_CAP;
    io->grace_ms = cfg->eof_grace_ms ? cfg->eof_grace_ms : DEFAULT_GRACE_MS;
    io->on_closed = on_closed;
    io->ud = ud;
    linebuf_init(&io->lb, io->max_line, on_line, on_overflow, io);

    uv_timer_init(loop, &io->timer);
    io->timer.data = io;
    int rc = 0;
    int opened_in = 0, opened_out = 0;
    if (in_kind == KIND_STREAM) {
        rc = open_stream(loop, in_fd, &io->in, &opened_in);
        io->in.handle.data = io;
    }
    if (!rc && out_kind == KIND_STREAM) {
        rc = open_stream(loop, out_fd, &io->out, &opened_out);
        io->out.handle.data = io;
    }
    if (!rc)
        rc = mcp_session_create(server, &stdio_ops, io, &io->session);
    if (rc) {
        io->pending_closes = 1;
        uv_close((uv_handle_t *)&io->timer, on_start_failed_closed);
        if (opened_in) {
            io->pending_closes++;
            uv_close(&io->in.handle, on_start_failed_closed);
        }
        if (opened_out) {
            io->pending_closes++;
            uv_close(&io->out.handle, on_start_failed_closed);
        }
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    start_reading(io);
    *out = io;
    return 0;
}

void mcp_stdio_server_close(mcp_stdio_server_t *io)
{
    if (io)
        begin_close(io, 0);
}

mcp_session_t *mcp_stdio_server_session(mcp_stdio_server_t *io)
{
    return io->session;
}

void mcp_stdio_server_set_send_filter(mcp_stdio_server_t *io, mcp_stdio_send_filter_fn fn, void *ud)
{
    io->filter = fn;
    io->filter_ud = ud;
}

int mcp_stdio_server_write_raw(mcp_stdio_server_t *io, const char *data, size_t len)
{
    return write_bytes(io, data, len, 0);
}
