/* errors: the project's error codes.
 *
 * Functions return 0 on success or a negative code. libuv's UV_E* codes (negated errno values)
 * pass through unchanged; the project's own codes come from MCP_ERRNO_MAP below and live in a
 * range libuv never uses. mcp_strerror() names either kind. */
#ifndef MCP_ERRORS_H
#define MCP_ERRORS_H

#define MCP_ERRNO_MAP(X)                                 \
    X(NOMEM, "out of memory")                            \
    X(INVAL, "invalid argument")                         \
    X(NOBUFS, "size limit reached")                      \
    X(PARSE, "malformed input")                          \
    X(PROTO, "protocol violation")                       \
    X(TIMEDOUT, "deadline exceeded")                     \
    X(CANCELED, "canceled")                              \
    X(CLOSED, "connection closed")                       \
    X(NOTFOUND, "not found")                             \
    X(EXISTS, "already exists")                          \
    X(STATE, "operation not valid in the current state") \
    X(UNSUPPORTED, "not supported")                      \
    X(HTTP, "unexpected HTTP status")                    \
    X(UPSTREAM, "upstream error")                        \
    X(CHILD, "child process failed")                     \
    X(DENIED, "permission denied")                       \
    X(UNAVAILABLE, "upstream unavailable")

#define MCP_ERRNO_BASE (-30000)

typedef enum {
    MCP_ERRNO_FIRST_ = MCP_ERRNO_BASE,
#define MCP_ERRNO_ENUM_(name, text) MCP_E##name,
    MCP_ERRNO_MAP(MCP_ERRNO_ENUM_)
#undef MCP_ERRNO_ENUM_
        MCP_ERRNO_LAST_
} mcp_errno_t;

/* A static description of err (our codes, libuv codes, or "unknown error"). Never NULL. */
const char *mcp_strerror(int err);
/* The symbolic name ("MCP_ETIMEDOUT", "ECONNREFUSED"). Never NULL. */
const char *mcp_err_name(int err);

#endif
