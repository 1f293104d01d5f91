#include "ready_file.h"

#include "alloc.h"
#include "errors.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int mock_write_ready_file(const char *path, const char *text)
{
    char *tmp = mcp_asprintf("%s.tmp.%d", path, (int)getpid());
    if (!tmp)
        return MCP_ENOMEM;
    FILE *f = fopen(tmp, "w");
    int rc = 0;
    if (!f || fprintf(f, "%s\n", text) < 0)
        rc = -errno;
    if (f && fclose(f) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    mcp_free(tmp);
    return rc;
}
