/* mcp_loopback: connect an MCP client session to an MCP server inside one process.
 *
 * The loopback is a transport for both sides at once: what the client sends is received by a
 * server session, and what the server session sends is received by the client. Messages are
 * queued and delivered from the loop (never from inside the sender's call), so both sides see
 * exactly the ordering and re-entrancy rules of a real transport. Tests of mock kinds, of the
 * gateway's in-process paths and benchmarks of the framework without sockets use it.
 *
 * Lifetime: mcp_loopback_connect attaches itself to the client (as its transport) and creates a
 * server session. It frees itself after the client closed it (mcp_client_close, which ends in
 * on_transport_closed) or after the server closed the session (mcp_server_free: the client
 * then sees its transport close with MCP_ECLOSED). The server must outlive neither: free the
 * client first, or free the server and let the client observe the close, then close the
 * client. Everything runs on the loop thread. */
#ifndef MCP_LOOPBACK_H
#define MCP_LOOPBACK_H

#include "mcp_client.h"
#include "mcp_server.h"

#include <stddef.h>
#include <uv.h>

typedef struct mcp_loopback_s mcp_loopback_t;

/* Attach a loopback transport to `client` (which must have none) and open a session on
 * `server`. 0, MCP_ENOMEM, MCP_ESTATE (client already has a transport) or a libuv error.
 * On failure nothing is attached. *out may be NULL when the caller does not need the handle. */
int mcp_loopback_connect(uv_loop_t *loop, mcp_server_t *server, mcp_client_t *client,
                         mcp_loopback_t **out);

/* The server-side session (NULL once it was closed). */
mcp_session_t *mcp_loopback_session(const mcp_loopback_t *lb);

/* Messages delivered so far in each direction (for tests). */
size_t mcp_loopback_delivered_to_server(const mcp_loopback_t *lb);
size_t mcp_loopback_delivered_to_client(const mcp_loopback_t *lb);

#endif
