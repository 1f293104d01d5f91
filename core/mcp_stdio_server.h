/* mcp_stdio_server: the stdio transport for mcp_server (brief 1.3).
 *
 * Reads newline-delimited JSON-RPC from the input fd (stdin by default) and feeds each line to
 * one mcp_session_t; writes every message the session sends as one compact line to the output
 * fd (stdout by default). Nothing else is ever written to the output: logs go to stderr.
 *
 * Input may be a pipe or socket, a TTY, or a regular file; output a pipe or socket, a TTY
 * (libuv streams), or a regular file (written synchronously). A line longer than max_line is
 * skipped and answered with -32600 (id null); a line that is not JSON gets -32700 (id null);
 * reading goes on in both cases. Output is bounded: reading pauses while more than a high-water
 * mark is queued, and going past max_output closes the transport with MCP_ENOBUFS.
 *
 * End of input: pending server->client requests fail (the client can no longer answer), calls
 * still in flight may finish and have their responses written, for at most eof_grace_ms; then
 * the session is closed (remaining calls cancelled), queued output is flushed, the handles are
 * closed and `on_closed` runs with status 0. A write error (e.g. EPIPE) closes at once with that
 * status. SIGPIPE is ignored process-wide once a transport starts, so a vanished reader shows
 * up as EPIPE instead of killing the process.
 *
 * Ownership: the transport is freed by the library right after on_closed returns; do not use
 * it afterwards. mcp_server_free on the server closes the session and then the transport. */
#ifndef MCP_STDIO_SERVER_H
#define MCP_STDIO_SERVER_H

#include "mcp_server.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct mcp_stdio_server_s mcp_stdio_server_t;

typedef struct mcp_stdio_config_s {
    int use_fds;           /* 0: stdin/stdout; 1: in_fd/out_fd below */
    int in_fd, out_fd;     /* not closed by the transport */
    size_t max_line;       /* 0 = 16 MiB */
    size_t max_output;     /* queued output bytes; 0 = 64 MiB */
    uint64_t eof_grace_ms; /* 0 = 2000 */
} mcp_stdio_config_t;

/* status: 0 after a normal end of input, a UV_E* code after an I/O error, MCP_ENOBUFS after
 * output overflow, MCP_ECLOSED when the server closed the session. */
typedef void (*mcp_stdio_closed_fn)(mcp_stdio_server_t *io, int status, void *ud);

/* Start serving. config may be NULL. 0, MCP_EUNSUPPORTED (an fd of an unusable kind), a UV_E*
 * code, or MCP_ENOMEM; on failure nothing is left open and on_closed never runs. */
int mcp_stdio_server_start(uv_loop_t *loop, mcp_server_t *server, const mcp_stdio_config_t *config,
                           mcp_stdio_closed_fn on_closed, void *ud, mcp_stdio_server_t **out);
/* Stop: the session is closed (calls cancelled), queued output flushed, on_closed(status 0)
 * runs from the loop. Idempotent. */
void mcp_stdio_server_close(mcp_stdio_server_t *io);
/* The session, or NULL once it was closed. */
mcp_session_t *mcp_stdio_server_session(mcp_stdio_server_t *io);

/* Send filter (fault injection in mcp-mock): sees every message the session sends, before it is
 * written. Return 0 to write it as usual (after writing anything extra first, e.g. a noise line);
 * 1 when the filter took care of it (wrote other bytes with mcp_stdio_server_write_raw, closed
 * the transport, or kept it to write later); a negative code to fail the send with it. The
 * filter may call mcp_stdio_server_close (the close happens from the loop). fn NULL removes. */
typedef int (*mcp_stdio_send_filter_fn)(mcp_stdio_server_t *io, const char *json, size_t len,
                                        const mcp_send_info_t *info, void *ud);
void mcp_stdio_server_set_send_filter(mcp_stdio_server_t *io, mcp_stdio_send_filter_fn fn,
                                      void *ud);
/* Queue bytes verbatim (no newline added), bounded like every other output. 0, MCP_ECLOSED,
 * MCP_ENOBUFS (the transport then closes), MCP_ENOMEM or a write error. */
int mcp_stdio_server_write_raw(mcp_stdio_server_t *io, const char *data, size_t len);

#endif
