/* mcp_client_stdio: the stdio transport of mcp_client (brief 1.3).
 *
 * Spawns the server as a child (core/child: own process group, dies with us, always reaped),
 * writes each message as one line on its stdin and splits its stdout into lines (linebuf,
 * bounded: an over-long line is logged and skipped). The server's stderr lines are logged with
 * its name (comp=child). The transport reports closed to the client once the server exited and
 * was reaped (pending requests then fail with MCP_ECLOSED; the reason given to on_closed is
 * MCP_ECHILD when it died of a signal or exited non-zero, else MCP_ECLOSED); a server that closes
 * its stdout but keeps running is terminated first (stdin closed, then SIGTERM and SIGKILL after
 * close_grace_ms each), so its pending requests fail within that time. A graceful close
 * (mcp_client_close) closes stdin,
 * waits close_grace_ms, sends SIGTERM to the group, waits again, sends SIGKILL, and completes
 * once the child is reaped.
 *
 * Ownership: the transport belongs to the client it is attached to and frees itself after it
 * reported closed and its child was reaped. */
#ifndef MCP_CLIENT_STDIO_H
#define MCP_CLIENT_STDIO_H

#include "child.h"
#include "mcp_client.h"

#include <stddef.h>

typedef struct mcp_client_stdio_options_s {
    const char *command;     /* program; PATH is searched when it has no '/' */
    const char *const *args; /* after argv[0], NULL-terminated; may be NULL */
    const char *const *env;  /* "KEY=VALUE" / "KEY" (remove), NULL-terminated; may be NULL */
    int clean_env;           /* 1: only `env` */
    const char *cwd;         /* NULL: ours */
    unsigned close_grace_ms; /* each step of the graceful close; default 2000 */
    size_t max_message;      /* longest accepted stdout line; default 16 MiB */
    size_t max_write_queue;  /* bytes waiting for the child's stdin; default 16 MiB */
} mcp_client_stdio_options_t;

/* Spawn the server and attach it as the client's transport; the child is named after the client
 * (mcp_client_name) in logs. 0, MCP_EINVAL, MCP_ESTATE (the client has a transport or is
 * closing), MCP_ENOMEM, or child_spawn's error (UV_ENOENT for a missing program, ...); on error
 * nothing is attached and no child is left running. */
int mcp_client_stdio_start(mcp_client_t *client, const mcp_client_stdio_options_t *opts);

/* The child of a client whose transport is stdio (NULL otherwise or once closed): for pid,
 * signals (fault injection) and tests. */
child_t *mcp_client_stdio_child(mcp_client_t *client);

#endif
