#include "errors.h"

#include <uv.h>

const char *mcp_strerror(int err)
{
    switch (err) {
#define MCP_ERRNO_TEXT_(name, text) \
    case MCP_E##name: return text;
        MCP_ERRNO_MAP(MCP_ERRNO_TEXT_)
#undef MCP_ERRNO_TEXT_
    case 0: return "success";
    default: return uv_strerror(err);
    }
}

const char *mcp_err_name(int err)
{
    switch (err) {
#define MCP_ERRNO_NAME_(name, text) \
    case MCP_E##name: return "MCP_E" #name;
        MCP_ERRNO_MAP(MCP_ERRNO_NAME_)
#undef MCP_ERRNO_NAME_
    case 0: return "OK";
    default: return uv_err_name(err);
    }
}
