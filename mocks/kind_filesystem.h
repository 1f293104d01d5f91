/* kind_filesystem: `mcp-mock filesystem`, the 14 tools of @modelcontextprotocol/server-filesystem
 * over real files below one or more --root directories, plus file:// resources.
 *
 * The kind itself is `mock_kind_filesystem` (mock.h); kind_filesystem.c's opening comment says
 * what it serves, the path rules, the TOCTOU window that remains and the limits. This header
 * only exposes what the tests drive directly: the read limit of a running instance and the two
 * pure helpers whose exact output matters to clients (the glob matcher of search_files /
 * directory_tree and the unified diff of edit_file). Everything here runs on the loop thread;
 * nothing keeps pointers to its arguments. */
#ifndef MOCK_KIND_FILESYSTEM_H
#define MOCK_KIND_FILESYSTEM_H

#include "mock.h"

#include <stddef.h>

/* Largest file the tools and resources/read read (default 8 MiB, or MCP_MOCK_FS_MAX_READ).
 * `state` is what mock_kind_filesystem.setup returned; bytes 0 restores the default. */
void mock_filesystem_set_max_read(void *state, size_t bytes);

/* 1 when `path` (relative, '/'-separated, no "." or ".." segments) matches the glob `pattern`
 * as minimatch 10 does with {dot: true}, else 0. Supported: '*' and '?' within one segment ('?'
 * is one UTF-8 character; both match a leading '.'), bracket expressions ("[a-z]", "[!x]",
 * "[^x]", "[[:digit:]]" and the other POSIX classes, ASCII only), '\' escapes, "**" as a whole
 * segment for zero or more segments (one or more when it is the last segment: "docs" plus a
 * trailing globstar does not match "docs" itself), {a,b} alternatives (nested; at most 256
 * expansions), a leading '!' negating, a leading '#' matching nothing; "//" collapses; "./x",
 * "dir/" and "/abs" match no relative path, as in minimatch. Not supported: extglobs ("+(a|b)",
 * "@(x)", ...; taken literally), numeric ranges "{1..3}", matchBase and case folding. Checked
 * against minimatch 10 on 1000 pattern/path pairs while writing it. */
int mock_fs_glob_match(const char *pattern, const char *path);

/* The patch jsdiff 8's createTwoFilesPatch(name, name, old, new, "original", "modified") makes
 * (CRLF already normalised by the caller; 4 lines of context; "\ No newline at end of file"
 * markers): a port of its Myers line diff with the same tie-breaking, so hunks are identical
 * (checked against jsdiff on 400 random edits). For very different inputs (more than 2^20
 * search nodes or 2^20 lines) it falls back to one hunk spanning the changed middle. Returns a
 * new NUL-terminated string (release with mcp_free) or NULL on allocation failure. */
char *mock_fs_unified_diff(const char *name, const char *old_text, size_t old_len,
                           const char *new_text, size_t new_len);

#endif
