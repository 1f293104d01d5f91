/* kind_filesystem: `mcp-mock filesystem`, the 14 tools of @modelcontextprotocol/server-filesystem
 * (2026.8.31) over real files below one or more --root directories, plus file:// resources.
 *
 * Surface: names, titles, annotations and schemas come from fixtures/tools/filesystem.json;
 * results carry the text both as content[0].text and as structuredContent.content (read_media_file:
 * the content array), errors are isError results with the reference's texts: "Access denied -
 * path outside allowed directories: P not in R1, R2", "... symlink target outside ...", "...
 * parent directory outside ...", "Parent directory does not exist: D", Node-style system errors
 * ("ENOENT: no such file or directory, open 'P'"), "Destination already exists: P", "Could not
 * find exact match for edit:\n...", and zod-style argument errors ("MCP error -32602: Input
 * validation error: Invalid arguments for tool T: Invalid input: expected string, received
 * undefined at path"; only the first problem is reported).
 *
 * Path rules (the reference's validatePath): relative paths resolve against the first root that
 * contains them; the normalised absolute path must lie in a root; an existing path is resolved
 * with realpath and must still lie in a root; for a path that does not exist yet, each existing
 * component is resolved from the root down and must stay inside (a symlinked parent that leads
 * out is refused, a dangling one gives "Parent directory does not exist"). "~" expands to $HOME.
 * Unicode-equivalent (NFC/NFD) names are not matched: names must be byte-identical.
 *
 * TOCTOU: after validation every file or directory is opened with O_NOFOLLOW (the validated path
 * contains no symlinks, so a component swapped for a link after validation fails with ELOOP) and
 * the opened descriptor's real location (/proc/self/fd) is checked against the roots again before
 * it is used. Writes and renames go through a verified descriptor of the parent directory
 * (openat/mkdirat/renameat2 with RENAME_NOREPLACE), walks descend with openat(O_NOFOLLOW). What
 * remains: without /proc mounted the second check is skipped (the path check stands alone), and
 * the texts of results name paths as validated, which may be stale once they are returned.
 *
 * Deviations, on purpose: directory listings are sorted by name (byte order; the reference uses
 * the directory order of the filesystem) so results are deterministic; list_directory_with_sizes
 * sorts "name" with an ASCII approximation of localeCompare (case-insensitive, punctuation before
 * digits before letters, lowercase first on ties) and reports a symlink's own size; NUL bytes and
 * invalid UTF-8 in text become U+FFFD (Node's decoder does the latter too); edit_file's whitespace
 * matching trims ASCII whitespace only; head/tail round non-integers (head up, tail down); the MCP
 * roots protocol (client roots replacing the allowed directories) is not implemented.
 * get_file_info prints dates like Date.toString() ("Sat Nov 22 2025 04:14:00 GMT+0000
 * (Coordinated Universal Time)"), with the C library's zone abbreviation for zones other than UTC.
 *
 * Glob (search_files, directory_tree's excludePatterns; mock_fs_glob_match): see kind_filesystem.h.
 * Diff (edit_file): jsdiff's Myers line diff ported with its tie-breaking, so hunks equal
 * createTwoFilesPatch(..., "original", "modified") with 4 context lines; past FS_DIFF_MAX_NODES
 * path nodes (very different files) it falls back to one hunk spanning the changed middle.
 *
 * Limits: files are read whole only up to max_read bytes (8 MiB; MCP_MOCK_FS_MAX_READ in the
 * environment; larger files get "File too large: ..."; head/tail read only what they need but
 * their result must fit too); read_multiple_files shares one max_read budget; a directory may
 * hold FS_MAX_DIR_ENTRIES entries, walks (search_files, directory_tree, resources/list) visit at
 * most FS_MAX_WALK entries and FS_MAX_DEPTH levels.
 *
 * Read-only (the default): write_file, edit_file (unless dryRun), create_directory and move_file
 * answer "Access denied - the allowed directories are read-only (start `mcp-mock filesystem
 * --writable` to allow write_file)". --writable allows them.
 *
 * Resources: resources/list walks the roots (regular files only, symlinks skipped, sorted,
 * depth-first) and pages through them with an offset cursor (files added or removed between
 * pages shift the later pages), at most FS_MAX_RESOURCES files in all; each is {uri:
 * file://<percent-encoded real path>, name: path relative to its root, mimeType (by extension, when
 * known), size}. The template file:///{+path} reads any file under the roots (same validation and
 * read limit): text for text/... and JSON/XML/YAML/JavaScript/SVG (and for unknown extensions whose
 * bytes are UTF-8 without NUL), a base64 blob otherwise.
 *
 * All file I/O is synchronous on the loop thread: fine for a mock serving small trees; a slow
 * disk stalls every session. The state is owned by the kind and freed in teardown. */
#include "kind_filesystem.h"

#include "alloc.h"
#include "buf.h"
#include "errors.h"
#include "log.h"
#include "mcp_proto.h"

#include <cjson/cJSON.h>
#include <uv.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const char mock_filesystem_tools_filesystem_json[];
extern const size_t mock_filesystem_tools_filesystem_json_len;

#define FS_DEFAULT_MAX_READ ((size_t)8 << 20)
#define FS_MAX_READ_LIMIT   ((size_t)1 << 30)
#define FS_MAX_DEPTH        64
#define FS_MAX_DIR_ENTRIES  100000
#define FS_MAX_WALK         100000
#define FS_MAX_RESOURCES    10000
#define FS_MAX_PATHS        1000 /* read_multiple_files */
#define FS_MAX_PATTERNS     256  /* excludePatterns */
#define FS_MAX_EDITS        1000
#define FS_CHUNK            16384
#define FS_DEFAULT_PAGE     100
#define FS_GLOB_MAX_ALTS    256 /* {a,b} expansions of one pattern */
#define FS_GLOB_MAX_SEGS    128
#define FS_DIFF_MAX_NODES   ((size_t)1 << 20)
#define FS_DIFF_MAX_LINES   ((size_t)1 << 20) /* old + new lines for the Myers diff */
#define FS_ERR_MAX          ((size_t)1 << 20)

#define FS_URI_TEMPLATE "file:///{+path}"

typedef struct fs_state_s {
    mcp_server_t *server;
    uv_loop_t *loop;
    char *roots[MOCK_MAX_ROOTS]; /* realpath'd, no trailing '/' (except "/") */
    size_t root_count;
    char *roots_joined; /* "R1, R2" for messages */
    char *roots_lines;  /* "R1\nR2" for list_allowed_directories */
    int writable;
    size_t max_read;
    size_t page_size;
} fs_state_t;

/* ---- errors: every helper returns 0, or -1 with a message in *err (owned; NULL on ENOMEM) ---- */

static int fs_vfail(char **err, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static int fs_vfail(char **err, const char *fmt, va_list ap)
{
    buf_t b;
    buf_init(&b, FS_ERR_MAX);
    if (buf_vappendf(&b, fmt, ap) != 0)
        buf_reset(&b);
    mcp_free(*err);
    *err = b.len ? buf_detach(&b, NULL) : NULL;
    buf_free(&b);
    return -1;
}

static int fs_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fs_fail(char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fs_vfail(err, fmt, ap);
    va_end(ap);
    return -1;
}

/* Node's text for a failed system call: "ENOENT: no such file or directory, open '/p'". */
static int fs_sys_fail(char **err, int errnum, const char *syscall, const char *path,
                       const char *dest)
{
    int uverr = uv_translate_sys_error(errnum);
    const char *name = uv_err_name(uverr), *desc = uv_strerror(uverr);
    if (path && dest)
        return fs_fail(err, "%s: %s, %s '%s' -> '%s'", name, desc, syscall, path, dest);
    if (path)
        return fs_fail(err, "%s: %s, %s '%s'", name, desc, syscall, path);
    return fs_fail(err, "%s: %s, %s", name, desc, syscall);
}

static int fs_oom(char **err)
{
    return fs_fail(err, "Error: out of memory");
}

static int fs_too_large(const fs_state_t *st, const char *path, long long size, char **err)
{
    if (size >= 0)
        return fs_fail(err,
                       "File too large: %s is %lld bytes; this mock reads at most %zu bytes of a "
                       "file (MCP_MOCK_FS_MAX_READ; read_text_file can take head or tail)",
                       path, size, st->max_read);
    return fs_fail(err,
                   "File too large: %s holds more than %zu bytes; this mock reads at most %zu "
                   "bytes of a file (MCP_MOCK_FS_MAX_READ; read_text_file can take head or tail)",
                   path, st->max_read, st->max_read);
}

/* ---- paths ---- */

/* Like Node's path.resolve on an absolute path: collapse "//", "." and ".."; no trailing '/'
 * except for "/". New string or NULL. */
static char *fs_normalize(const char *abs)
{
    size_t n = strlen(abs);
    char *out = mcp_malloc(n + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = abs;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - s);
        if (len == 1 && s[0] == '.')
            continue;
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, s, len);
        o += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

static int fs_in_root(const char *root, const char *path)
{
    if (strcmp(root, "/") == 0)
        return path[0] == '/';
    size_t len = strlen(root);
    return strncmp(path, root, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static int fs_within(const fs_state_t *st, const char *path)
{
    for (size_t i = 0; i < st->root_count; i++)
        if (fs_in_root(st->roots[i], path))
            return 1;
    return 0;
}

/* The longest root holding path, or NULL. */
static const char *fs_root_of(const fs_state_t *st, const char *path)
{
    const char *best = NULL;
    for (size_t i = 0; i < st->root_count; i++)
        if (fs_in_root(st->roots[i], path) && (!best || strlen(st->roots[i]) > strlen(best)))
            best = st->roots[i];
    return best;
}

static char *fs_join(const char *dir, const char *name)
{
    return mcp_asprintf("%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
}

/* Node's path.dirname of a normalised absolute path (new string). */
static char *fs_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return mcp_strdup("/");
    return mcp_strndup(path, (size_t)(slash - path));
}

/* The requested path made absolute: "~" expanded, relative paths against the first root that
 * holds the result (else the first root), normalised. NULL on ENOMEM. */
static char *fs_absolute(const fs_state_t *st, const char *req)
{
    char *expanded = NULL;
    if (req[0] == '~' && (req[1] == '\0' || req[1] == '/')) {
        const char *home = getenv("HOME");
        if (home && *home) {
            if (!(expanded = mcp_asprintf("%s%s", home, req + 1)))
                return NULL;
            req = expanded;
        }
    }
    char *abs = NULL;
    if (req[0] == '/') {
        abs = fs_normalize(req);
    } else {
        for (size_t i = 0; i <= st->root_count; i++) {
            const char *root = st->roots[i < st->root_count ? i : 0];
            char *cand = fs_join(root, req);
            char *norm = cand ? fs_normalize(cand) : NULL;
            mcp_free(cand);
            if (!norm)
                break;
            if (i == st->root_count || fs_within(st, norm)) {
                abs = norm;
                break;
            }
            mcp_free(norm);
        }
    }
    mcp_free(expanded);
    return abs;
}

static int fs_deny(const fs_state_t *st, char **err, const char *what, const char *path)
{
    return fs_fail(err, "Access denied - %s outside allowed directories: %s not in %s", what, path,
                   st->roots_joined);
}

/* validatePath for a path that does not exist (yet): resolve each existing component from the
 * root down; the first missing one ends the walk (nothing below it can be a link). */
static int fs_resolve_missing(const fs_state_t *st, const char *abs, char **real, char **err)
{
    const char *root = fs_root_of(st, abs);
    char cur[PATH_MAX], next[PATH_MAX];
    if (!root || !realpath(root, cur)) {
        char *dir = fs_dirname(abs);
        int rc = dir ? fs_fail(err, "Parent directory does not exist: %s", dir) : fs_oom(err);
        mcp_free(dir);
        return rc;
    }
    const char *p = abs + (strcmp(root, "/") == 0 ? 0 : strlen(root));
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - s);
        size_t clen = strlen(cur);
        int slash = strcmp(cur, "/") != 0;
        if (clen + (size_t)slash + len >= sizeof next)
            return fs_sys_fail(err, ENAMETOOLONG, "realpath", abs, NULL);
        memcpy(next, cur, clen);
        if (slash)
            next[clen++] = '/';
        memcpy(next + clen, s, len);
        next[clen + len] = '\0';
        struct stat sb;
        if (lstat(next, &sb) != 0) {
            if (errno == ENOENT) {
                /* cur is real and inside; append the missing tail as given. */
                *real = mcp_asprintf("%s%s%s", cur, slash ? "/" : "", s);
                return *real ? 0 : fs_oom(err);
            }
            return fs_sys_fail(err, errno, "scandir", cur, NULL);
        }
        if (!realpath(next, cur)) {
            if (errno == ENOENT) {
                char *dir = fs_dirname(abs);
                int rc =
                    dir ? fs_fail(err, "Parent directory does not exist: %s", dir) : fs_oom(err);
                mcp_free(dir);
                return rc;
            }
            return fs_sys_fail(err, errno, "realpath", next, NULL);
        }
        if (!fs_within(st, cur))
            return fs_deny(st, err, "parent directory", cur);
    }
    *real = mcp_strdup(cur);
    return *real ? 0 : fs_oom(err);
}

/* The reference's validatePath: *real (owned) is the path to use, or -1 with *err. */
static int fs_validate(const fs_state_t *st, const char *req, char **real, char **err)
{
    *real = NULL;
    if (isalpha((unsigned char)req[0]) && req[1] == ':' &&
        (req[2] == '\\' || req[2] == '/' || req[2] == '\0'))
        return fs_fail(err, "Access denied - Windows-style path received on a POSIX host: %s", req);
    char *abs = fs_absolute(st, req);
    if (!abs)
        return fs_oom(err);
    int rc;
    char buf[PATH_MAX];
    if (!fs_within(st, abs)) {
        rc = fs_deny(st, err, "path", abs);
    } else if (realpath(abs, buf)) {
        if (!fs_within(st, buf))
            rc = fs_deny(st, err, "symlink target", buf);
        else
            rc = (*real = mcp_strdup(buf)) ? 0 : fs_oom(err);
    } else if (errno == ENOENT) {
        rc = fs_resolve_missing(st, abs, real, err);
    } else {
        rc = fs_sys_fail(err, errno, "realpath", abs, NULL);
    }
    mcp_free(abs);
    return rc;
}

/* ---- descriptors: open without following links, then check where the descriptor really is ---- */

static int fs_fd_check(const fs_state_t *st, int fd, char **err)
{
    char link[64], where[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, where, sizeof where - 1);
    if (n < 0)
        return 0; /* no /proc: the path check before the open stands alone */
    where[n] = '\0';
    if (fs_within(st, where))
        return 0;
    return fs_deny(st, err, "path", where);
}

static int fs_open(const fs_state_t *st, const char *path, int flags, const char *syscall,
                   int *fd_out, char **err)
{
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        return fs_sys_fail(err, errno, syscall, path, NULL);
    if (fs_fd_check(st, fd, err) != 0) {
        close(fd);
        return -1;
    }
    *fd_out = fd;
    return 0;
}

/* The parent directory of `path` (verified) and the last component (points into path). */
static int fs_open_parent(const fs_state_t *st, const char *path, const char *syscall, int *dfd,
                          const char **base, char **err)
{
    char *dir = fs_dirname(path);
    if (!dir)
        return fs_oom(err);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    mcp_free(dir);
    if (fd < 0)
        return fs_sys_fail(err, errno, syscall, path, NULL);
    if (fs_fd_check(st, fd, err) != 0) {
        close(fd);
        return -1;
    }
    *dfd = fd;
    *base = strrchr(path, '/') + 1;
    return 0;
}

static int fs_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static ssize_t fs_read_some(int fd, char *buf, size_t len)
{
    ssize_t n;
    do
        n = read(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

/* The whole file (at most st->max_read bytes): *data NUL-terminated, owned. */
static int fs_read_fd(const fs_state_t *st, int fd, const char *path, char **data, size_t *len,
                      char **err)
{
    struct stat sb;
    if (fstat(fd, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return fs_sys_fail(err, EISDIR, "read", NULL, NULL);
        if (S_ISREG(sb.st_mode) && (unsigned long long)sb.st_size > st->max_read)
            return fs_too_large(st, path, (long long)sb.st_size, err);
    }
    buf_t b;
    buf_init(&b, st->max_read);
    char chunk[FS_CHUNK];
    for (;;) {
        ssize_t n = fs_read_some(fd, chunk, sizeof chunk);
        if (n < 0) {
            buf_free(&b);
            return fs_sys_fail(err, errno, "read", NULL, NULL);
        }
        if (n == 0)
            break;
        int rc = buf_append(&b, chunk, (size_t)n);
        if (rc != 0) {
            buf_free(&b);
            return rc == MCP_ENOBUFS ? fs_too_large(st, path, -1, err) : fs_oom(err);
        }
    }
    *data = buf_detach(&b, len);
    buf_free(&b);
    return *data ? 0 : fs_oom(err);
}

static int fs_read_file(const fs_state_t *st, const char *path, char **data, size_t *len,
                        char **err)
{
    int fd = -1;
    if (fs_open(st, path, O_RDONLY, "open", &fd, err) != 0)
        return -1;
    int rc = fs_read_fd(st, fd, path, data, len, err);
    close(fd);
    return rc;
}

/* ---- text ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not valid (WHATWG rules). */
static size_t fs_utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < need + 1 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return need + 1;
}

/* The bytes as valid UTF-8 without NUL: each maximal invalid subpart and each NUL becomes
 * U+FFFD, as Node's UTF-8 decoder does for the former. New string or NULL. */
static char *fs_utf8_text(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0, clean = 1;
    while (i < len) {
        size_t l = fs_utf8_valid_len(s + i, len - i);
        if (l == 0 || s[i] == 0) {
            clean = 0;
            break;
        }
        i += l;
    }
    if (clean)
        return mcp_strndup(data, len);
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = mcp_malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    i = 0;
    while (i < len) {
        size_t l = s[i] ? fs_utf8_valid_len(s + i, len - i) : 0;
        if (l > 0) {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
            continue;
        }
        /* The maximal subpart: a lead byte followed by the continuation bytes it admits. */
        size_t skip = 1;
        unsigned char c = s[i];
        if (c >= 0xC2 && c <= 0xF4) {
            unsigned char lo = 0x80, hi = 0xBF;
            size_t need = c <= 0xDF ? 1 : c <= 0xEF ? 2 : 3;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
            else if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
            if (i + 1 < len && s[i + 1] >= lo && s[i + 1] <= hi) {
                skip = 2;
                while (skip <= need && i + skip < len && s[i + skip] >= 0x80 && s[i + skip] <= 0xBF)
                    skip++;
            }
        }
        memcpy(out + o, "\xEF\xBF\xBD", 3);
        o += 3;
        i += skip;
    }
    out[o] = '\0';
    return out;
}

/* CRLF -> LF in place; returns the new length. */
static size_t fs_crlf_to_lf(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
            continue;
        s[o++] = s[i];
    }
    s[o] = '\0';
    return o;
}

static char *fs_base64(const unsigned char *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > (SIZE_MAX / 4) * 3 - 3)
        return NULL;
    char *out = mcp_malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* file:// URL of an absolute path: everything but unreserved characters, '/' and the sub-delims
 * Node's pathToFileURL leaves alone is percent-encoded. */
static char *fs_file_uri(const char *path)
{
    size_t n = strlen(path);
    char *out = mcp_malloc(7 + n * 3 + 1);
    if (!out)
        return NULL;
    memcpy(out, "file://", 7);
    size_t o = 7;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (isalnum(*p) || strchr("-._~/!$&'()*+,;=:@", *p)) {
            out[o++] = (char)*p;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* Node's path.extname, lower-cased, into ext (empty when there is none). */
static void fs_extname(const char *path, char *ext, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    ext[0] = '\0';
    if (!dot || dot == base || strlen(dot) >= cap)
        return;
    size_t i = 0;
    for (; dot[i]; i++)
        ext[i] = (char)tolower((unsigned char)dot[i]);
    ext[i] = '\0';
}

/* read_media_file's table, exactly the reference's. */
static const char *fs_media_mime(const char *path)
{
    static const char *const map[][2] = {
        {".png", "image/png"},     {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},     {".webp", "image/webp"}, {".bmp", "image/bmp"},
        {".svg", "image/svg+xml"}, {".mp3", "audio/mpeg"},  {".wav", "audio/wav"},
        {".ogg", "audio/ogg"},     {".flac", "audio/flac"},
    };
    char ext[16];
    fs_extname(path, ext, sizeof ext);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(ext, map[i][0]) == 0)
            return map[i][1];
    return "application/octet-stream";
}

/* Resources: a wider table; NULL when the extension is unknown. */
static const char *fs_resource_mime(const char *path)
{
    static const char *const map[][2] = {
        {".txt", "text/plain"},
        {".log", "text/plain"},
        {".md", "text/markdown"},
        {".markdown", "text/markdown"},
        {".csv", "text/csv"},
        {".tsv", "text/tab-separated-values"},
        {".html", "text/html"},
        {".htm", "text/html"},
        {".css", "text/css"},
        {".js", "text/javascript"},
        {".mjs", "text/javascript"},
        {".json", "application/json"},
        {".xml", "application/xml"},
        {".yaml", "application/yaml"},
        {".yml", "application/yaml"},
        {".toml", "application/toml"},
        {".c", "text/x-c"},
        {".h", "text/x-c"},
        {".py", "text/x-python"},
        {".sh", "application/x-sh"},
        {".pdf", "application/pdf"},
        {".zip", "application/zip"},
        {".gz", "application/gzip"},
        {".dat", "application/octet-stream"},
        {".bin", "application/octet-stream"},
    };
    char ext[16];
    fs_extname(path, ext, sizeof ext);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(ext, map[i][0]) == 0)
            return map[i][1];
    const char *media = fs_media_mime(path);
    return strcmp(media, "application/octet-stream") == 0 ? NULL : media;
}

static int fs_mime_is_text(const char *mime)
{
    static const char *const text[] = {"application/json", "application/xml",  "application/yaml",
                                       "application/toml", "application/x-sh", "image/svg+xml"};
    if (strncmp(mime, "text/", 5) == 0)
        return 1;
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        if (strcmp(mime, text[i]) == 0)
            return 1;
    return 0;
}

/* ---- directories ---- */

typedef enum { FS_E_FILE = 0, FS_E_DIR, FS_E_LINK, FS_E_OTHER } fs_kind_t;

typedef struct fs_ent_s {
    char *name;
    fs_kind_t kind;
} fs_ent_t;

static void fs_ents_free(fs_ent_t *ents, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mcp_free(ents[i].name);
    mcp_free(ents);
}

static int fs_ent_cmp(const void *a, const void *b)
{
    return strcmp(((const fs_ent_t *)a)->name, ((const fs_ent_t *)b)->name);
}

/* The entries of an open directory, sorted by name (byte order). `path` names it in errors. */
static int fs_list_dir(int dfd, const char *path, fs_ent_t **out, size_t *count, char **err)
{
    *out = NULL;
    *count = 0;
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fs_sys_fail(err, e, "scandir", path, NULL);
    }
    fs_ent_t *ents = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    for (;;) {
        errno = 0;
        if (!(de = readdir(d))) {
            if (errno != 0)
                rc = fs_sys_fail(err, errno, "scandir", path, NULL);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == FS_MAX_DIR_ENTRIES) {
            rc = fs_fail(err, "Error: %s holds more than %d entries; this mock lists at most that",
                         path, FS_MAX_DIR_ENTRIES);
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            fs_ent_t *grown = mcp_realloc(ents, ncap * sizeof *ents);
            if (!grown) {
                rc = fs_oom(err);
                break;
            }
            ents = grown;
            cap = ncap;
        }
        fs_kind_t kind = FS_E_OTHER;
        unsigned char type = de->d_type;
        if (type == DT_UNKNOWN) {
            struct stat sb;
            if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
                type = S_ISDIR(sb.st_mode)   ? DT_DIR
                       : S_ISLNK(sb.st_mode) ? DT_LNK
                       : S_ISREG(sb.st_mode) ? DT_REG
                                             : DT_UNKNOWN;
        }
        if (type == DT_DIR)
            kind = FS_E_DIR;
        else if (type == DT_LNK)
            kind = FS_E_LINK;
        else if (type == DT_REG)
            kind = FS_E_FILE;
        if (!(ents[n].name = mcp_strdup(de->d_name))) {
            rc = fs_oom(err);
            break;
        }
        ents[n++].kind = kind;
    }
    closedir(d);
    if (rc != 0) {
        fs_ents_free(ents, n);
        return -1;
    }
    if (n > 1)
        qsort(ents, n, sizeof *ents, fs_ent_cmp);
    *out = ents;
    *count = n;
    return 0;
}

static int fs_open_dir(const fs_state_t *st, const char *path, int *dfd, char **err)
{
    return fs_open(st, path, O_RDONLY | O_DIRECTORY, "scandir", dfd, err);
}

/* ---- glob (minimatch with {dot: true}, the subset documented in kind_filesystem.h) ---- */

/* One code point of s (n > 0 bytes); invalid bytes count as one. */
static size_t glob_cp(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t l = fs_utf8_valid_len(u, n);
    if (l <= 1) {
        *cp = u[0];
        return 1;
    }
    uint32_t v = u[0] & (l == 2 ? 0x1F : l == 3 ? 0x0F : 0x07);
    for (size_t i = 1; i < l; i++)
        v = v << 6 | (u[i] & 0x3F);
    *cp = v;
    return l;
}

static int glob_posix_class(const char *name, size_t len, uint32_t c)
{
    static const struct {
        const char *name;
        int (*fn)(int);
    } classes[] = {{"alpha", isalpha}, {"digit", isdigit}, {"alnum", isalnum}, {"upper", isupper},
                   {"lower", islower}, {"space", isspace}, {"punct", ispunct}, {"xdigit", isxdigit},
                   {"blank", isblank}, {"cntrl", iscntrl}, {"print", isprint}, {"graph", isgraph}};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strlen(classes[i].name) == len && memcmp(classes[i].name, name, len) == 0)
            return c < 128 && classes[i].fn((int)c);
    return 0;
}

/* A bracket expression at p ('['): 1 match, 0 no match, -1 not a class (the '[' is literal).
 * *plen: bytes of the expression. */
static int glob_class(const char *p, size_t n, uint32_t c, size_t *plen)
{
    size_t i = 1;
    int negate = 0, matched = 0;
    if (i < n && (p[i] == '!' || p[i] == '^')) {
        negate = 1;
        i++;
    }
    size_t first = i;
    while (i < n) {
        if (p[i] == ']' && i > first) {
            *plen = i + 1;
            return matched != negate;
        }
        if (p[i] == '[' && i + 1 < n && p[i + 1] == ':') {
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < n; j++)
                if (p[j] == ':' && p[j + 1] == ']') {
                    end = p + j;
                    break;
                }
            if (end) {
                if (glob_posix_class(p + i + 2, (size_t)(end - (p + i + 2)), c))
                    matched = 1;
                i = (size_t)(end - p) + 2;
                continue;
            }
        }
        uint32_t lo;
        if (p[i] == '\\' && i + 1 < n)
            i++;
        i += glob_cp(p + i, n - i, &lo);
        uint32_t hi = lo;
        if (i + 1 < n && p[i] == '-' && p[i + 1] != ']') {
            i++;
            if (p[i] == '\\' && i + 1 < n)
                i++;
            i += glob_cp(p + i, n - i, &hi);
        }
        if (c >= lo && c <= hi)
            matched = 1;
    }
    return -1;
}

/* One path segment against one pattern segment: '*', '?', '[...]', '\' escapes. */
static int glob_segment(const char *p, size_t plen, const char *s, size_t slen)
{
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < slen) {
        if (pi < plen) {
            char c = p[pi];
            if (c == '*') {
                while (pi < plen && p[pi] == '*')
                    pi++;
                star_p = pi;
                star_s = si;
                continue;
            }
            uint32_t cp;
            size_t sl = glob_cp(s + si, slen - si, &cp);
            if (c == '?') {
                pi++;
                si += sl;
                continue;
            }
            if (c == '[') {
                size_t cl = 0;
                int r = glob_class(p + pi, plen - pi, cp, &cl);
                if (r == 1) {
                    pi += cl;
                    si += sl;
                    continue;
                }
                if (r == 0)
                    goto mismatch;
            }
            if (c == '\\' && pi + 1 < plen)
                pi++;
            if (p[pi] == s[si]) {
                pi++;
                si++;
                continue;
            }
        }
    mismatch:
        if (star_p == SIZE_MAX)
            return 0;
        uint32_t skip;
        star_s += glob_cp(s + star_s, slen - star_s, &skip);
        si = star_s;
        pi = star_p;
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

typedef struct {
    const char *p;
    size_t len;
} glob_seg_t;

static size_t glob_split(const char *s, glob_seg_t *segs, size_t max)
{
    size_t n = 0;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        /* "//" collapses; a leading or trailing '/' keeps an empty segment, which no
         * relative path has, so "/abs" and "dir/" match nothing (as in minimatch). */
        int keep = len > 0 || !e || p == s;
        if (keep) {
            if (n == max)
                return SIZE_MAX;
            segs[n].p = p;
            segs[n].len = len;
            n++;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

static int glob_segments(const glob_seg_t *pat, size_t np, const glob_seg_t *path, size_t ns)
{
    while (np > 0) {
        if (pat[0].len == 2 && memcmp(pat[0].p, "**", 2) == 0) {
            while (np > 1 && pat[1].len == 2 && memcmp(pat[1].p, "**", 2) == 0) {
                pat++;
                np--;
            }
            if (np == 1)
                return ns > 0; /* a trailing ** takes the rest, at least one segment */
            for (size_t k = 0; k <= ns; k++)
                if (glob_segments(pat + 1, np - 1, path + k, ns - k))
                    return 1;
            return 0;
        }
        if (ns == 0 || !glob_segment(pat[0].p, pat[0].len, path[0].p, path[0].len))
            return 0;
        pat++;
        np--;
        path++;
        ns--;
    }
    return ns == 0;
}

static int glob_match_one(const char *pattern, const char *path)
{
    glob_seg_t pat[FS_GLOB_MAX_SEGS], segs[FS_GLOB_MAX_SEGS];
    size_t np = glob_split(pattern, pat, FS_GLOB_MAX_SEGS);
    size_t ns = glob_split(path, segs, FS_GLOB_MAX_SEGS);
    if (np == SIZE_MAX || ns == SIZE_MAX)
        return 0;
    return glob_segments(pat, np, segs, ns);
}

/* Expand the first {a,b,...} group (nested groups recurse) and match each alternative. */
static int glob_match_braces(const char *pattern, const char *path, int *budget)
{
    size_t n = strlen(pattern);
    for (size_t i = 0; i < n; i++) {
        if (pattern[i] == '\\') {
            i++;
            continue;
        }
        if (pattern[i] != '{')
            continue;
        size_t depth = 0, close = 0, commas = 0;
        for (size_t j = i; j < n; j++) {
            if (pattern[j] == '\\') {
                j++;
                continue;
            }
            if (pattern[j] == '{')
                depth++;
            else if (pattern[j] == '}' && --depth == 0) {
                close = j;
                break;
            } else if (pattern[j] == ',' && depth == 1)
                commas++;
        }
        if (!close || !commas)
            continue;
        size_t start = i + 1;
        depth = 0;
        for (size_t j = i + 1; j <= close; j++) {
            if (pattern[j] == '\\' && j < close) {
                j++;
                continue;
            }
            if (pattern[j] == '{')
                depth++;
            else if (pattern[j] == '}' && depth > 0)
                depth--;
            else if ((pattern[j] == ',' && depth == 0) || j == close) {
                if (--*budget < 0)
                    return 0;
                char *alt = mcp_asprintf("%.*s%.*s%s", (int)i, pattern, (int)(j - start),
                                         pattern + start, pattern + close + 1);
                int m = alt && glob_match_braces(alt, path, budget);
                mcp_free(alt);
                if (m)
                    return 1;
                start = j + 1;
            }
        }
        return 0;
    }
    return glob_match_one(pattern, path);
}

int mock_fs_glob_match(const char *pattern, const char *path)
{
    if (!pattern || !path || pattern[0] == '#')
        return 0;
    int negate = 0;
    while (*pattern == '!') {
        negate = !negate;
        pattern++;
    }
    int budget = FS_GLOB_MAX_ALTS;
    return glob_match_braces(pattern, path, &budget) != negate;
}

/* ---- unified diff (jsdiff's diffLines + createTwoFilesPatch) ---- */

typedef struct {
    const char *p;
    size_t len; /* with the '\n', when the line has one */
} fs_line_t;

static int fs_split_lines(const char *text, size_t len, fs_line_t **out, size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            n++;
    if (len > 0 && text[len - 1] != '\n')
        n++;
    fs_line_t *lines = mcp_malloc((n ? n : 1) * sizeof *lines);
    if (!lines)
        return -1;
    size_t k = 0, start = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') {
            lines[k].p = text + start;
            lines[k++].len = i + 1 - start;
            start = i + 1;
        }
    if (start < len) {
        lines[k].p = text + start;
        lines[k++].len = len - start;
    }
    *out = lines;
    *count = n;
    return 0;
}

static int fs_line_eq(const fs_line_t *a, const fs_line_t *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

typedef struct {
    uint32_t count;
    int32_t prev;
    uint8_t added, removed;
} fs_dnode_t;

typedef struct {
    fs_dnode_t *v;
    size_t n, cap;
} fs_arena_t;

typedef struct {
    long old_pos;
    int32_t last;
    int live;
} fs_dpath_t;

static int32_t fs_arena_push(fs_arena_t *a, uint32_t count, int added, int removed, int32_t prev)
{
    if (a->n == a->cap) {
        if (a->cap >= FS_DIFF_MAX_NODES)
            return -1;
        size_t ncap = a->cap ? a->cap * 2 : 1024;
        fs_dnode_t *grown = mcp_realloc(a->v, ncap * sizeof *grown);
        if (!grown)
            return -1;
        a->v = grown;
        a->cap = ncap;
    }
    a->v[a->n] = (fs_dnode_t){count, prev, (uint8_t)added, (uint8_t)removed};
    return (int32_t)a->n++;
}

/* Follow the common lines from bp along diagonal k; returns newPos, or LONG_MIN on failure. */
static long fs_extract_common(fs_dpath_t *bp, const fs_line_t *nw, long nlen, const fs_line_t *old,
                              long olen, long k, fs_arena_t *a)
{
    long old_pos = bp->old_pos, new_pos = old_pos - k;
    uint32_t common = 0;
    while (new_pos + 1 < nlen && old_pos + 1 < olen &&
           fs_line_eq(&old[old_pos + 1], &nw[new_pos + 1])) {
        new_pos++;
        old_pos++;
        common++;
    }
    if (common) {
        int32_t idx = fs_arena_push(a, common, 0, 0, bp->last);
        if (idx < 0)
            return LONG_MIN;
        bp->last = idx;
    }
    bp->old_pos = old_pos;
    return new_pos;
}

static int fs_add_to_path(const fs_dpath_t *path, int added, int removed, long old_inc,
                          fs_arena_t *a, fs_dpath_t *out)
{
    int32_t last = path->last, idx;
    if (last >= 0 && a->v[last].added == added && a->v[last].removed == removed)
        idx = fs_arena_push(a, a->v[last].count + 1, added, removed, a->v[last].prev);
    else
        idx = fs_arena_push(a, 1, added, removed, last);
    if (idx < 0)
        return -1;
    out->old_pos = path->old_pos + old_inc;
    out->last = idx;
    out->live = 1;
    return 0;
}

/* jsdiff's Diff.diffWithOptionsObj: *last_out is the last component of the edit script. */
static int fs_myers(const fs_line_t *old, long olen, const fs_line_t *nw, long nlen, fs_arena_t *a,
                    int32_t *last_out)
{
    fs_dpath_t init = {-1, -1, 1};
    long new_pos = fs_extract_common(&init, nw, nlen, old, olen, 0, a);
    if (new_pos == LONG_MIN)
        return -1;
    if (init.old_pos + 1 >= olen && new_pos + 1 >= nlen) {
        *last_out = init.last;
        return 0;
    }
    long offset = nlen + 1, size = olen + nlen + 3;
    fs_dpath_t *best = mcp_calloc((size_t)size, sizeof *best);
    if (!best)
        return -1;
    best[offset] = init;
    long min_d = LONG_MIN, max_d = LONG_MAX;
    if (init.old_pos + 1 >= olen)
        max_d = -1;
    if (new_pos + 1 >= nlen)
        min_d = 1;
    for (long edit = 1; edit <= olen + nlen; edit++) {
        long kmin = min_d > -edit ? min_d : -edit, kmax = max_d < edit ? max_d : edit;
        for (long k = kmin; k <= kmax; k += 2) {
            long ri = offset + k - 1, ai = offset + k + 1;
            fs_dpath_t none = {0, -1, 0};
            fs_dpath_t rem = ri >= 0 && ri < size ? best[ri] : none;
            fs_dpath_t add = ai >= 0 && ai < size ? best[ai] : none;
            if (rem.live)
                best[ri].live = 0;
            int can_add = 0;
            if (add.live) {
                long anp = add.old_pos - k;
                can_add = 0 <= anp && anp < nlen;
            }
            int can_remove = rem.live && rem.old_pos + 1 < olen;
            if (!can_add && !can_remove) {
                best[offset + k].live = 0;
                continue;
            }
            fs_dpath_t base;
            int rc = (!can_remove || (can_add && rem.old_pos < add.old_pos))
                         ? fs_add_to_path(&add, 1, 0, 0, a, &base)
                         : fs_add_to_path(&rem, 0, 1, 1, a, &base);
            if (rc != 0 ||
                (new_pos = fs_extract_common(&base, nw, nlen, old, olen, k, a)) == LONG_MIN) {
                mcp_free(best);
                return -1;
            }
            if (base.old_pos + 1 >= olen && new_pos + 1 >= nlen) {
                *last_out = base.last;
                mcp_free(best);
                return 0;
            }
            best[offset + k] = base;
            if (base.old_pos + 1 >= olen && k - 1 < max_d)
                max_d = k - 1;
            if (new_pos + 1 >= nlen && k + 1 > min_d)
                min_d = k + 1;
        }
    }
    mcp_free(best);
    return -1;
}

typedef struct {
    int added, removed;
    const fs_line_t *lines;
    size_t count;
} fs_comp_t;

/* The components of the edit script, in order, plus jsdiff's empty sentinel. */
static int fs_diff_components(const fs_line_t *old, size_t olen, const fs_line_t *nw, size_t nlen,
                              fs_comp_t **out, size_t *count)
{
    fs_arena_t a = {0};
    int32_t last = -1;
    int ok = olen + nlen <= FS_DIFF_MAX_LINES &&
             fs_myers(old, (long)olen, nw, (long)nlen, &a, &last) == 0;
    size_t n = 0;
    if (ok)
        for (int32_t c = last; c >= 0; c = a.v[c].prev)
            n++;
    fs_comp_t *comps = mcp_calloc(ok ? n + 1 : 5, sizeof *comps);
    if (!comps) {
        mcp_free(a.v);
        return -1;
    }
    if (ok) {
        size_t i = n, op = 0, np = 0;
        for (int32_t c = last; c >= 0; c = a.v[c].prev) {
            comps[--i].count = a.v[c].count;
            comps[i].added = a.v[c].added;
            comps[i].removed = a.v[c].removed;
        }
        for (i = 0; i < n; i++) {
            if (comps[i].removed) {
                comps[i].lines = old + op;
                op += comps[i].count;
            } else {
                comps[i].lines = nw + np;
                np += comps[i].count;
                if (!comps[i].added)
                    op += comps[i].count;
            }
        }
    } else {
        /* Too different for the node budget: common prefix, one change, common suffix. */
        size_t pre = 0, suf = 0;
        while (pre < olen && pre < nlen && fs_line_eq(&old[pre], &nw[pre]))
            pre++;
        while (suf < olen - pre && suf < nlen - pre &&
               fs_line_eq(&old[olen - 1 - suf], &nw[nlen - 1 - suf]))
            suf++;
        if (pre)
            comps[n++] = (fs_comp_t){0, 0, nw, pre};
        if (olen - pre - suf)
            comps[n++] = (fs_comp_t){0, 1, old + pre, olen - pre - suf};
        if (nlen - pre - suf)
            comps[n++] = (fs_comp_t){1, 0, nw + pre, nlen - pre - suf};
        if (suf)
            comps[n++] = (fs_comp_t){0, 0, nw + nlen - suf, suf};
    }
    mcp_free(a.v);
    comps[n] = (fs_comp_t){0, 0, NULL, 0};
    *out = comps;
    *count = n + 1;
    return 0;
}

typedef struct {
    char prefix;
    const fs_line_t *line;
} fs_hline_t;

static int fs_emit_hunk(buf_t *b, size_t old_start, size_t old_lines, size_t new_start,
                        size_t new_lines, const fs_hline_t *lines, size_t n)
{
    if (old_lines == 0)
        old_start--;
    if (new_lines == 0)
        new_start--;
    int rc =
        buf_appendf(b, "@@ -%zu,%zu +%zu,%zu @@\n", old_start, old_lines, new_start, new_lines);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const fs_line_t *l = lines[i].line;
        int nl = l->len > 0 && l->p[l->len - 1] == '\n';
        if ((rc = buf_putc(b, lines[i].prefix)) == 0 &&
            (rc = buf_append(b, l->p, l->len - (size_t)nl)) == 0)
            rc = buf_append_str(b, nl ? "\n" : "\n\\ No newline at end of file\n");
    }
    return rc;
}

static int fs_hlines_push(fs_hline_t **v, size_t *n, size_t *cap, char prefix,
                          const fs_line_t *line)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        fs_hline_t *grown = mcp_realloc(*v, ncap * sizeof *grown);
        if (!grown)
            return -1;
        *v = grown;
        *cap = ncap;
    }
    (*v)[*n].prefix = prefix;
    (*v)[(*n)++].line = line;
    return 0;
}

char *mock_fs_unified_diff(const char *name, const char *old_text, size_t old_len,
                           const char *new_text, size_t new_len)
{
    enum { CONTEXT = 4 };
    fs_line_t *old = NULL, *nw = NULL;
    size_t olen = 0, nlen = 0, ncomp = 0;
    fs_comp_t *comps = NULL;
    fs_hline_t *cur = NULL;
    size_t ncur = 0, capcur = 0;
    buf_t b;
    buf_init(&b, SIZE_MAX / 2);
    int rc = -1;
    if (fs_split_lines(old_text, old_len, &old, &olen) != 0 ||
        fs_split_lines(new_text, new_len, &nw, &nlen) != 0 ||
        fs_diff_components(old, olen, nw, nlen, &comps, &ncomp) != 0)
        goto done;
    if (buf_appendf(&b,
                    "Index: %s\n"
                    "===================================================================\n"
                    "--- %s\toriginal\n+++ %s\tmodified\n",
                    name, name, name) != 0)
        goto done;
    size_t old_range = 0, new_range = 0, old_line = 1, new_line = 1;
    for (size_t i = 0; i < ncomp; i++) {
        const fs_comp_t *c = &comps[i];
        if (c->added || c->removed) {
            if (!old_range) {
                old_range = old_line;
                new_range = new_line;
                if (i > 0) {
                    const fs_comp_t *prev = &comps[i - 1];
                    size_t take = prev->count < CONTEXT ? prev->count : CONTEXT;
                    for (size_t j = prev->count - take; j < prev->count; j++)
                        if (fs_hlines_push(&cur, &ncur, &capcur, ' ', &prev->lines[j]) != 0)
                            goto done;
                    old_range -= take;
                    new_range -= take;
                }
            }
            for (size_t j = 0; j < c->count; j++)
                if (fs_hlines_push(&cur, &ncur, &capcur, c->added ? '+' : '-', &c->lines[j]) != 0)
                    goto done;
            if (c->added)
                new_line += c->count;
            else
                old_line += c->count;
        } else {
            if (old_range) {
                if (c->count <= CONTEXT * 2 && i + 2 < ncomp) {
                    for (size_t j = 0; j < c->count; j++)
                        if (fs_hlines_push(&cur, &ncur, &capcur, ' ', &c->lines[j]) != 0)
                            goto done;
                } else {
                    size_t ctx = c->count < CONTEXT ? c->count : CONTEXT;
                    for (size_t j = 0; j < ctx; j++)
                        if (fs_hlines_push(&cur, &ncur, &capcur, ' ', &c->lines[j]) != 0)
                            goto done;
                    if (fs_emit_hunk(&b, old_range, old_line - old_range + ctx, new_range,
                                     new_line - new_range + ctx, cur, ncur) != 0)
                        goto done;
                    old_range = new_range = 0;
                    ncur = 0;
                }
            }
            old_line += c->count;
            new_line += c->count;
        }
    }
    rc = 0;
done:
    mcp_free(old);
    mcp_free(nw);
    mcp_free(comps);
    mcp_free(cur);
    char *out = rc == 0 ? buf_detach(&b, NULL) : NULL;
    buf_free(&b);
    return out;
}

/* ---- arguments (the zod schemas of the reference, first problem only) ---- */

typedef enum {
    FS_T_STRING,
    FS_T_NUMBER,
    FS_T_BOOLEAN,
    FS_T_STRINGS,      /* array of strings */
    FS_T_STRINGS_MIN1, /* ... with at least one item */
    FS_T_EDITS,        /* array of {oldText, newText} */
    FS_T_SORT,         /* "name" | "size" */
} fs_type_t;

typedef struct {
    const char *name;
    fs_type_t type;
    int required;
} fs_arg_t;

static const char *fs_json_type(const cJSON *v)
{
    if (!v)
        return "undefined";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "boolean";
    if (cJSON_IsNumber(v))
        return "number";
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsArray(v))
        return "array";
    return "object";
}

static char *fs_arg_issue(const char *tool, const char *message, const char *path)
{
    return mcp_asprintf("MCP error -32602: Input validation error: Invalid arguments for tool %s: "
                        "%s at %s",
                        tool, message, path);
}

static char *fs_type_issue(const char *tool, const char *expected, const cJSON *v, const char *path)
{
    char msg[128];
    snprintf(msg, sizeof msg, "Invalid input: expected %s, received %s", expected, fs_json_type(v));
    return fs_arg_issue(tool, msg, path);
}

/* NULL when args fit the spec, else the message (owned; "Error: out of memory" on ENOMEM is
 * the caller's fallback). */
static char *fs_check_args(const char *tool, const cJSON *args, const fs_arg_t *spec, size_t n,
                           int *failed)
{
    *failed = 1;
    for (size_t i = 0; i < n; i++) {
        const fs_arg_t *a = &spec[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, a->name);
        if (!v && !a->required)
            continue;
        char path[96];
        switch (a->type) {
        case FS_T_STRING:
            if (!cJSON_IsString(v))
                return fs_type_issue(tool, "string", v, a->name);
            break;
        case FS_T_NUMBER:
            if (!cJSON_IsNumber(v))
                return fs_type_issue(tool, "number", v, a->name);
            break;
        case FS_T_BOOLEAN:
            if (!cJSON_IsBool(v))
                return fs_type_issue(tool, "boolean", v, a->name);
            break;
        case FS_T_SORT:
            if (!cJSON_IsString(v) ||
                (strcmp(v->valuestring, "name") != 0 && strcmp(v->valuestring, "size") != 0))
                return fs_arg_issue(tool, "Invalid option: expected one of \"name\"|\"size\"",
                                    a->name);
            break;
        case FS_T_STRINGS:
        case FS_T_STRINGS_MIN1:
        case FS_T_EDITS: {
            if (!cJSON_IsArray(v))
                return fs_type_issue(tool, "array", v, a->name);
            int count = cJSON_GetArraySize(v);
            if (a->type == FS_T_STRINGS_MIN1 && count == 0)
                return fs_arg_issue(tool, "Too small: expected array to have >=1 items", a->name);
            int idx = 0;
            const cJSON *item;
            cJSON_ArrayForEach(item, v)
            {
                if (a->type != FS_T_EDITS) {
                    if (!cJSON_IsString(item)) {
                        snprintf(path, sizeof path, "%s.%d", a->name, idx);
                        return fs_type_issue(tool, "string", item, path);
                    }
                } else {
                    if (!cJSON_IsObject(item)) {
                        snprintf(path, sizeof path, "%s.%d", a->name, idx);
                        return fs_type_issue(tool, "object", item, path);
                    }
                    static const char *const fields[] = {"oldText", "newText"};
                    for (size_t f = 0; f < 2; f++) {
                        const cJSON *fv = cJSON_GetObjectItemCaseSensitive(item, fields[f]);
                        if (!cJSON_IsString(fv)) {
                            snprintf(path, sizeof path, "%s.%d.%s", a->name, idx, fields[f]);
                            return fs_type_issue(tool, "string", fv, path);
                        }
                    }
                }
                idx++;
            }
            break;
        }
        }
    }
    *failed = 0;
    return NULL;
}

/* Check the arguments; on a problem answer the call and return -1. */
static int fs_args_ok(mcp_call_t *call, const cJSON *args, const fs_arg_t *spec, size_t n)
{
    int failed = 0;
    const char *tool = mcp_call_tool_name(call);
    char *msg = fs_check_args(tool ? tool : "?", args, spec, n, &failed);
    if (!failed)
        return 0;
    mcp_call_tool_error(call, msg ? msg : "Error: out of memory");
    mcp_free(msg);
    return -1;
}

static const char *fs_str(const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- replies ---- */

/* text and err are taken; exactly one should be set (neither: out of memory). */
static void fs_reply(mcp_call_t *call, char *text, char *err)
{
    if (text) {
        cJSON *result = cJSON_CreateObject();
        cJSON *content = cJSON_AddArrayToObject(result, "content");
        cJSON *sc = cJSON_AddObjectToObject(result, "structuredContent");
        cJSON *item = cJSON_CreateObject();
        int ok = content && sc && item && cJSON_AddItemToArray(content, item);
        if (!ok)
            cJSON_Delete(item);
        if (ok && cJSON_AddStringToObject(item, "type", "text") &&
            cJSON_AddStringToObject(item, "text", text) &&
            cJSON_AddStringToObject(sc, "content", text)) {
            mcp_call_reply(call, result);
        } else {
            cJSON_Delete(result);
            mcp_call_tool_error(call, "Error: out of memory");
        }
    } else {
        mcp_call_tool_error(call, err ? err : "Error: out of memory");
    }
    mcp_free(text);
    mcp_free(err);
}

static int fs_refuse_readonly(const fs_state_t *st, mcp_call_t *call)
{
    if (st->writable)
        return 0;
    char *msg = mcp_asprintf("Access denied - the allowed directories are read-only (start "
                             "`mcp-mock filesystem --writable` to allow %s)",
                             mcp_call_tool_name(call));
    mcp_call_tool_error(call, msg ? msg : "Access denied - the allowed directories are read-only");
    mcp_free(msg);
    return -1;
}

/* ---- read_text_file / read_file ---- */

/* The first n lines (headFile): up to the n-th '\n' (excluded); at EOF a final '\n' is dropped. */
static int fs_head(const fs_state_t *st, const char *path, size_t n, char **text, char **err)
{
    int fd = -1;
    if (fs_open(st, path, O_RDONLY, "open", &fd, err) != 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        return fs_sys_fail(err, EISDIR, "read", NULL, NULL);
    }
    buf_t b;
    buf_init(&b, st->max_read);
    char chunk[FS_CHUNK];
    size_t lines = 0;
    int rc = 0, stopped = n == 0;
    while (rc == 0 && !stopped) {
        ssize_t got = fs_read_some(fd, chunk, sizeof chunk);
        if (got < 0) {
            rc = fs_sys_fail(err, errno, "read", NULL, NULL);
            break;
        }
        if (got == 0)
            break;
        size_t take = (size_t)got;
        for (char *p = chunk; (p = memchr(p, '\n', (size_t)(chunk + got - p))) != NULL; p++)
            if (++lines == n) {
                take = (size_t)(p - chunk);
                stopped = 1;
                break;
            }
        int brc = buf_append(&b, chunk, take);
        if (brc != 0)
            rc = brc == MCP_ENOBUFS ? fs_too_large(st, path, -1, err) : fs_oom(err);
    }
    close(fd);
    if (rc == 0) {
        if (!stopped && b.len > 0 && b.data[b.len - 1] == '\n')
            b.len--;
        *text = fs_utf8_text(b.data ? b.data : "", b.len);
        if (!*text)
            rc = fs_oom(err);
    }
    buf_free(&b);
    return rc;
}

/* The last n lines (tailFile): read back from the end until n newlines are in, CRLF -> LF, then
 * the last n '\n'-separated segments. */
static int fs_tail(const fs_state_t *st, const char *path, size_t n, char **text, char **err)
{
    int fd = -1;
    if (fs_open(st, path, O_RDONLY, "open", &fd, err) != 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return fs_sys_fail(err, e, "stat", path, NULL);
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return fs_sys_fail(err, EISDIR, "read", NULL, NULL);
    }
    size_t size = sb.st_size > 0 ? (size_t)sb.st_size : 0;
    size_t window = size < st->max_read ? size : st->max_read;
    char *w = mcp_malloc(window + 1);
    if (!w) {
        close(fd);
        return fs_oom(err);
    }
    size_t pos = size, start = window, newlines = 0;
    int rc = 0;
    while (pos > 0 && newlines < n) {
        size_t chunk = pos < FS_CHUNK ? pos : FS_CHUNK;
        if (chunk > start)
            chunk = start;
        if (chunk == 0) { /* the window is full and the lines are not all in */
            rc = fs_too_large(st, path, (long long)size, err);
            break;
        }
        size_t have = 0;
        int rerr = 0;
        while (have < chunk) {
            ssize_t got =
                pread(fd, w + start - chunk + have, chunk - have, (off_t)(pos - chunk + have));
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                rerr = errno;
            if (got <= 0)
                break;
            have += (size_t)got;
        }
        if (have < chunk) {
            rc = rerr ? fs_sys_fail(err, rerr, "read", NULL, NULL)
                      : fs_fail(err, "Error: %s changed while it was read", path);
            break;
        }
        pos -= chunk;
        start -= chunk;
        for (size_t i = 0; i < chunk; i++)
            if (w[start + i] == '\n')
                newlines++;
    }
    close(fd);
    if (rc == 0) {
        char *region = w + start;
        size_t len = fs_crlf_to_lf(region, window - start);
        size_t from = 0, seen = 0;
        if (n == 0) {
            from = len;
        } else {
            for (size_t i = len; i > 0; i--)
                if (region[i - 1] == '\n' && ++seen == n) {
                    from = i;
                    break;
                }
        }
        *text = fs_utf8_text(region + from, len - from);
        if (!*text)
            rc = fs_oom(err);
    }
    mcp_free(w);
    return rc;
}

static void fs_tool_read_text(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {
        {"path", FS_T_STRING, 1}, {"tail", FS_T_NUMBER, 0}, {"head", FS_T_NUMBER, 0}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 3) != 0)
        return;
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(args, "head");
    const cJSON *tail = cJSON_GetObjectItemCaseSensitive(args, "tail");
    /* JavaScript truthiness: 0 (and an absent value) means "not given". */
    double h = head ? head->valuedouble : 0, t = tail ? tail->valuedouble : 0;
    char *real = NULL, *text = NULL, *err = NULL;
    if (fs_validate(st, fs_str(args, "path"), &real, &err) == 0) {
        if (h != 0 && t != 0) {
            fs_fail(&err, "Cannot specify both head and tail parameters simultaneously");
        } else if (t != 0) {
            double lines = t < 0 ? 0 : trunc(t);
            fs_tail(st, real, lines > 1e15 ? (size_t)1e15 : (size_t)lines, &text, &err);
        } else if (h != 0) {
            double lines = h < 0 ? 0 : ceil(h);
            fs_head(st, real, lines > 1e15 ? (size_t)1e15 : (size_t)lines, &text, &err);
        } else {
            char *data = NULL;
            size_t len = 0;
            if (fs_read_file(st, real, &data, &len, &err) == 0 && !(text = fs_utf8_text(data, len)))
                fs_oom(&err);
            mcp_free(data);
        }
    }
    mcp_free(real);
    fs_reply(call, text, err);
}

/* ---- read_media_file ---- */

static void fs_tool_read_media(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"path", FS_T_STRING, 1}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 1) != 0)
        return;
    char *real = NULL, *err = NULL, *data = NULL, *b64 = NULL, *uri = NULL;
    size_t len = 0;
    if (fs_validate(st, fs_str(args, "path"), &real, &err) != 0 ||
        fs_read_file(st, real, &data, &len, &err) != 0) {
        mcp_free(real);
        fs_reply(call, NULL, err);
        return;
    }
    const char *mime = fs_media_mime(real);
    int media = strncmp(mime, "image/", 6) == 0 || strncmp(mime, "audio/", 6) == 0;
    b64 = fs_base64((const unsigned char *)data, len);
    mcp_free(data);
    if (!media)
        uri = fs_file_uri(real);
    mcp_free(real);
    cJSON *item = cJSON_CreateObject();
    int ok = b64 && (media || uri) && item;
    if (ok && media) {
        ok = cJSON_AddStringToObject(item, "type", mime[0] == 'i' ? "image" : "audio") &&
             cJSON_AddStringToObject(item, "data", b64) &&
             cJSON_AddStringToObject(item, "mimeType", mime);
    } else if (ok) {
        cJSON *res = cJSON_AddObjectToObject(item, "resource");
        ok = cJSON_AddStringToObject(item, "type", "resource") && res &&
             cJSON_AddStringToObject(res, "uri", uri) &&
             cJSON_AddStringToObject(res, "mimeType", mime) &&
             cJSON_AddStringToObject(res, "blob", b64);
    }
    mcp_free(b64);
    mcp_free(uri);
    cJSON *result = ok ? cJSON_CreateObject() : NULL;
    cJSON *copy = ok ? cJSON_Duplicate(item, 1) : NULL;
    cJSON *content = result ? cJSON_AddArrayToObject(result, "content") : NULL;
    cJSON *sc = result ? cJSON_AddObjectToObject(result, "structuredContent") : NULL;
    cJSON *sc_content = sc ? cJSON_AddArrayToObject(sc, "content") : NULL;
    if (content && sc_content && copy && cJSON_AddItemToArray(content, item)) {
        item = NULL;
        if (cJSON_AddItemToArray(sc_content, copy)) {
            copy = NULL;
            mcp_call_reply(call, result);
            result = NULL;
        }
    }
    if (result)
        mcp_call_tool_error(call, "Error: out of memory");
    cJSON_Delete(result);
    cJSON_Delete(item);
    cJSON_Delete(copy);
}

/* ---- read_multiple_files ---- */

static void fs_tool_read_multiple(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"paths", FS_T_STRINGS_MIN1, 1}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 1) != 0)
        return;
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(args, "paths");
    if (cJSON_GetArraySize(paths) > FS_MAX_PATHS) {
        char *msg = mcp_asprintf("Error: at most %d paths per call", FS_MAX_PATHS);
        fs_reply(call, NULL, msg);
        return;
    }
    buf_t out;
    buf_init(&out, SIZE_MAX / 2);
    size_t budget = st->max_read;
    int rc = 0, first = 1;
    const cJSON *item;
    cJSON_ArrayForEach(item, paths)
    {
        const char *p = item->valuestring;
        char *real = NULL, *err = NULL, *data = NULL, *text = NULL;
        size_t len = 0;
        if (fs_validate(st, p, &real, &err) == 0 &&
            fs_read_file(st, real, &data, &len, &err) == 0) {
            if (len > budget)
                fs_fail(&err,
                        "Error: reading %s would pass the %zu bytes one read_multiple_files call "
                        "returns (MCP_MOCK_FS_MAX_READ)",
                        real, st->max_read);
            else if (!(text = fs_utf8_text(data, len)))
                fs_oom(&err);
            else
                budget -= len;
        }
        if (!first)
            rc = rc ? rc : buf_append_str(&out, "\n---\n");
        first = 0;
        if (text)
            rc = rc ? rc : buf_appendf(&out, "%s:\n%s\n", p, text);
        else
            rc = rc ? rc
                    : buf_appendf(&out, "%s: Error - %s", p, err ? err : "Error: out of memory");
        mcp_free(real);
        mcp_free(err);
        mcp_free(data);
        mcp_free(text);
    }
    char *text = rc == 0 ? buf_detach(&out, NULL) : NULL;
    buf_free(&out);
    fs_reply(call, text, NULL);
}

/* ---- list_directory / list_directory_with_sizes ---- */

static void fs_tool_list_directory(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"path", FS_T_STRING, 1}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 1) != 0)
        return;
    char *real = NULL, *err = NULL, *text = NULL;
    int dfd = -1;
    fs_ent_t *ents = NULL;
    size_t n = 0;
    if (fs_validate(st, fs_str(args, "path"), &real, &err) == 0 &&
        fs_open_dir(st, real, &dfd, &err) == 0 && fs_list_dir(dfd, real, &ents, &n, &err) == 0) {
        buf_t b;
        buf_init(&b, SIZE_MAX / 2);
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = buf_appendf(&b, "%s%s %s", i ? "\n" : "",
                             ents[i].kind == FS_E_DIR ? "[DIR]" : "[FILE]", ents[i].name);
        text = rc == 0 ? buf_detach(&b, NULL) : NULL;
        buf_free(&b);
    }
    if (dfd >= 0)
        close(dfd);
    fs_ents_free(ents, n);
    mcp_free(real);
    fs_reply(call, text, err);
}

/* formatSize: "0 B", "6 B", "1.50 KB" (toFixed(2) rounds halves up). */
static void fs_format_size(unsigned long long bytes, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    if (bytes == 0) {
        snprintf(out, cap, "0 B");
        return;
    }
    int i = (int)floor(log((double)bytes) / log(1024));
    if (i <= 0) {
        snprintf(out, cap, "%llu B", bytes);
        return;
    }
    if (i > 4)
        i = 4;
    double v = (double)bytes / pow(1024, i) * 100;
    double r = floor(v);
    if (v - r >= 0.5)
        r += 1;
    snprintf(out, cap, "%.2f %s", r / 100, units[i]);
}

/* UTF-16 code units of a UTF-8 string (String.prototype.length, for padEnd/padStart). */
static size_t fs_js_length(const char *s)
{
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += glob_cp(s + i, len - i, &cp);
        n += cp >= 0x10000 ? 2 : 1;
    }
    return n;
}

/* An approximation of localeCompare for names: punctuation < digits < letters (case folded),
 * then lowercase before uppercase, then bytes. */
static int fs_collate_class(unsigned char c)
{
    if (isalpha(c))
        return 3000 + tolower(c);
    if (isdigit(c))
        return 2000 + c;
    if (c >= 0x80)
        return 4000 + c;
    return 1000 + c;
}

static int fs_locale_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    size_t i = 0;
    for (; x[i] && y[i]; i++) {
        int d = fs_collate_class(x[i]) - fs_collate_class(y[i]);
        if (d)
            return d;
    }
    if (x[i] || y[i])
        return x[i] ? 1 : -1;
    for (i = 0; x[i]; i++)
        if (x[i] != y[i])
            return islower(x[i]) ? -1 : isupper(x[i]) ? 1 : x[i] - y[i];
    return 0;
}

typedef struct {
    const fs_ent_t *ent;
    unsigned long long size;
    size_t order;
} fs_sized_t;

static int fs_sized_by_name(const void *a, const void *b)
{
    const fs_sized_t *x = a, *y = b;
    int c = fs_locale_cmp(x->ent->name, y->ent->name);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int fs_sized_by_size(const void *a, const void *b)
{
    const fs_sized_t *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return (x->order > y->order) - (x->order < y->order);
}

static void fs_tool_list_sizes(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"path", FS_T_STRING, 1}, {"sortBy", FS_T_SORT, 0}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 2) != 0)
        return;
    const char *sort = fs_str(args, "sortBy");
    char *real = NULL, *err = NULL, *text = NULL;
    int dfd = -1;
    fs_ent_t *ents = NULL;
    size_t n = 0;
    fs_sized_t *sized = NULL;
    if (fs_validate(st, fs_str(args, "path"), &real, &err) == 0 &&
        fs_open_dir(st, real, &dfd, &err) == 0 && fs_list_dir(dfd, real, &ents, &n, &err) == 0 &&
        ((sized = mcp_calloc(n ? n : 1, sizeof *sized)) != NULL || fs_oom(&err) == 0)) {
        size_t files = 0, dirs = 0;
        unsigned long long total = 0;
        for (size_t i = 0; i < n; i++) {
            struct stat sb;
            sized[i].ent = &ents[i];
            sized[i].order = i;
            /* A symlink's own size: following it could report a file outside the roots. */
            sized[i].size = fstatat(dfd, ents[i].name, &sb, AT_SYMLINK_NOFOLLOW) == 0
                                ? (unsigned long long)sb.st_size
                                : 0;
            if (ents[i].kind == FS_E_DIR) {
                dirs++;
            } else {
                files++;
                total += sized[i].size;
            }
        }
        qsort(sized, n, sizeof *sized,
              sort && strcmp(sort, "size") == 0 ? fs_sized_by_size : fs_sized_by_name);
        buf_t b;
        buf_init(&b, SIZE_MAX / 2);
        int rc = 0;
        char size[32];
        for (size_t i = 0; rc == 0 && i < n; i++) {
            const fs_ent_t *e = sized[i].ent;
            int dir = e->kind == FS_E_DIR;
            size_t len = fs_js_length(e->name);
            size[0] = '\0';
            if (!dir)
                fs_format_size(sized[i].size, size, sizeof size);
            size_t slen = strlen(size);
            rc = buf_appendf(&b, "%s %s%*s %*s%s\n", dir ? "[DIR]" : "[FILE]", e->name,
                             len < 30 ? (int)(30 - len) : 0, "",
                             !dir && slen < 10 ? (int)(10 - slen) : 0, "", size);
        }
        fs_format_size(total, size, sizeof size);
        if (rc == 0)
            rc = buf_appendf(&b, "\nTotal: %zu files, %zu directories\nCombined size: %s", files,
                             dirs, size);
        text = rc == 0 ? buf_detach(&b, NULL) : NULL;
        buf_free(&b);
    }
    if (dfd >= 0)
        close(dfd);
    mcp_free(sized);
    fs_ents_free(ents, n);
    mcp_free(real);
    fs_reply(call, text, err);
}

/* ---- directory_tree ---- */

/* JSON.stringify of a string. */
static int fs_json_string(buf_t *b, const char *s)
{
    int rc = buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        switch (*p) {
        case '"': rc = buf_append_str(b, "\\\""); break;
        case '\\': rc = buf_append_str(b, "\\\\"); break;
        case '\b': rc = buf_append_str(b, "\\b"); break;
        case '\f': rc = buf_append_str(b, "\\f"); break;
        case '\n': rc = buf_append_str(b, "\\n"); break;
        case '\r': rc = buf_append_str(b, "\\r"); break;
        case '\t': rc = buf_append_str(b, "\\t"); break;
        default: rc = *p < 0x20 ? buf_appendf(b, "\\u%04x", *p) : buf_putc(b, (char)*p);
        }
    }
    return rc ? rc : buf_putc(b, '"');
}

static int fs_excluded_tree(const cJSON *excludes, const char *rel)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, excludes)
    {
        const char *pat = p->valuestring;
        if (mock_fs_glob_match(pat, rel))
            return 1;
        if (strchr(pat, '*'))
            continue;
        /* A plain name: also anywhere below, and everything inside a directory of that name. */
        char *any = mcp_asprintf("**/%s", pat), *inside = mcp_asprintf("**/%s/**", pat);
        int hit =
            (any && mock_fs_glob_match(any, rel)) || (inside && mock_fs_glob_match(inside, rel));
        mcp_free(any);
        mcp_free(inside);
        if (hit)
            return 1;
    }
    return 0;
}

typedef struct {
    const fs_state_t *st;
    const cJSON *excludes;
    const char *top;
    buf_t out;
    size_t visited;
} fs_tree_t;

static int fs_indent(buf_t *b, int level)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < level; i++)
        rc = buf_append_str(b, "  ");
    return rc;
}

/* The children array of one directory at JSON nesting `level` (its ']' is indented by level). */
static int fs_tree_dir(fs_tree_t *t, int dfd, const char *path, const char *rel, int level,
                       char **err)
{
    if (level / 2 > FS_MAX_DEPTH)
        return fs_fail(err, "Error: %s is more than %d directories deep; pass a smaller path",
                       t->top, FS_MAX_DEPTH);
    fs_ent_t *ents = NULL;
    size_t n = 0, kept = 0;
    if (fs_list_dir(dfd, path, &ents, &n, err) != 0)
        return -1;
    char **rels = mcp_calloc(n ? n : 1, sizeof *rels);
    int rc = rels ? 0 : fs_oom(err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (++t->visited > FS_MAX_WALK) {
            rc = fs_fail(err,
                         "Error: more than %d entries below %s; pass excludePatterns or a "
                         "smaller path",
                         FS_MAX_WALK, t->top);
            break;
        }
        rels[i] = rel ? mcp_asprintf("%s/%s", rel, ents[i].name) : mcp_strdup(ents[i].name);
        if (!rels[i])
            rc = fs_oom(err);
        else if (fs_excluded_tree(t->excludes, rels[i])) {
            mcp_free(rels[i]);
            rels[i] = NULL;
        } else
            kept++;
    }
    if (rc == 0 && kept == 0)
        rc = buf_append_str(&t->out, "[]") ? fs_oom(err) : 0;
    else if (rc == 0 && buf_append_str(&t->out, "[\n") != 0)
        rc = fs_oom(err);
    for (size_t i = 0, done = 0; rc == 0 && i < n; i++) {
        if (!rels[i])
            continue;
        buf_t *b = &t->out;
        int dir = ents[i].kind == FS_E_DIR;
        if (fs_indent(b, level + 1) || buf_append_str(b, "{\n") || fs_indent(b, level + 2) ||
            buf_append_str(b, "\"name\": ") || fs_json_string(b, ents[i].name) ||
            buf_append_str(b, ",\n") || fs_indent(b, level + 2) ||
            buf_append_str(b, dir ? "\"type\": \"directory\",\n" : "\"type\": \"file\"\n")) {
            rc = fs_oom(err);
            break;
        }
        if (dir) {
            if (fs_indent(b, level + 2) || buf_append_str(b, "\"children\": ")) {
                rc = fs_oom(err);
                break;
            }
            char *sub = fs_join(path, ents[i].name);
            int sfd =
                sub ? openat(dfd, ents[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    : -1;
            if (!sub)
                rc = fs_oom(err);
            else if (sfd < 0)
                rc = fs_sys_fail(err, errno, "scandir", sub, NULL);
            else
                rc = fs_tree_dir(t, sfd, sub, rels[i], level + 2, err);
            if (sfd >= 0)
                close(sfd);
            mcp_free(sub);
            if (rc == 0 && buf_putc(b, '\n'))
                rc = fs_oom(err);
        }
        if (rc == 0 &&
            (fs_indent(b, level + 1) || buf_append_str(b, ++done < kept ? "},\n" : "}\n")))
            rc = fs_oom(err);
    }
    if (rc == 0 && kept > 0 && (fs_indent(&t->out, level) || buf_putc(&t->out, ']')))
        rc = fs_oom(err);
    for (size_t i = 0; rels && i < n; i++)
        mcp_free(rels[i]);
    mcp_free(rels);
    fs_ents_free(ents, n);
    return rc;
}

static void fs_tool_directory_tree(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"path", FS_T_STRING, 1}, {"excludePatterns", FS_T_STRINGS, 0}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 2) != 0)
        return;
    const cJSON *excludes = cJSON_GetObjectItemCaseSensitive(args, "excludePatterns");
    char *real = NULL, *err = NULL, *text = NULL;
    int dfd = -1;
    fs_tree_t t = {.st = st, .excludes = excludes};
    buf_init(&t.out, (size_t)64 << 20);
    if (cJSON_GetArraySize(excludes) > FS_MAX_PATTERNS)
        fs_fail(&err, "Error: at most %d excludePatterns", FS_MAX_PATTERNS);
    else if (fs_validate(st, fs_str(args, "path"), &real, &err) == 0 &&
             fs_open_dir(st, real, &dfd, &err) == 0) {
        t.top = real;
        if (fs_tree_dir(&t, dfd, real, NULL, 0, &err) == 0 && !(text = buf_detach(&t.out, NULL)))
            fs_oom(&err);
    }
    if (dfd >= 0)
        close(dfd);
    buf_free(&t.out);
    mcp_free(real);
    fs_reply(call, text, err);
}

/* ---- search_files ---- */

typedef struct {
    const fs_state_t *st;
    const char *pattern;
    const cJSON *excludes;
    const char *top;
    buf_t out;
    size_t visited, matches;
} fs_search_t;

static int fs_search_dir(fs_search_t *s, int dfd, const char *path, const char *rel, int depth,
                         char **err)
{
    fs_ent_t *ents = NULL;
    size_t n = 0;
    if (fs_list_dir(dfd, path, &ents, &n, err) != 0) {
        if (depth == 0)
            return -1;
        mcp_free(*err); /* the reference skips unreadable subdirectories */
        *err = NULL;
        return 0;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (++s->visited > FS_MAX_WALK) {
            rc = fs_fail(err, "Error: more than %d entries below %s; search a smaller directory",
                         FS_MAX_WALK, s->top);
            break;
        }
        char *full = fs_join(path, ents[i].name);
        char *r = rel ? mcp_asprintf("%s/%s", rel, ents[i].name) : mcp_strdup(ents[i].name);
        if (!full || !r) {
            rc = fs_oom(err);
        } else {
            int skip = 0;
            if (ents[i].kind == FS_E_LINK) { /* validatePath: links must resolve inside */
                char target[PATH_MAX];
                skip = !realpath(full, target) || !fs_within(s->st, target);
            }
            const cJSON *ex;
            cJSON_ArrayForEach(ex, s->excludes)
            {
                if (!skip && mock_fs_glob_match(ex->valuestring, r))
                    skip = 1;
            }
            if (!skip && mock_fs_glob_match(s->pattern, r)) {
                rc = buf_appendf(&s->out, "%s%s", s->matches ? "\n" : "", full) ? fs_oom(err) : 0;
                s->matches++;
            }
            if (rc == 0 && !skip && ents[i].kind == FS_E_DIR) {
                if (depth >= FS_MAX_DEPTH) {
                    rc = fs_fail(err, "Error: %s is more than %d directories deep", s->top,
                                 FS_MAX_DEPTH);
                } else {
                    int sfd =
                        openat(dfd, ents[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    if (sfd >= 0) {
                        rc = fs_search_dir(s, sfd, full, r, depth + 1, err);
                        close(sfd);
                    }
                }
            }
        }
        mcp_free(full);
        mcp_free(r);
    }
    fs_ents_free(ents, n);
    return rc;
}

static void fs_tool_search_files(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"path", FS_T_STRING, 1},
                                    {"pattern", FS_T_STRING, 1},
                                    {"excludePatterns", FS_T_STRINGS, 0}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 3) != 0)
        return;
    char *real = NULL, *err = NULL, *text = NULL;
    int dfd = -1;
    fs_search_t s = {.st = st,
                     .pattern = fs_str(args, "pattern"),
                     .excludes = cJSON_GetObjectItemCaseSensitive(args, "excludePatterns")};
    buf_init(&s.out, (size_t)64 << 20);
    if (cJSON_GetArraySize(s.excludes) > FS_MAX_PATTERNS)
        fs_fail(&err, "Error: at most %d excludePatterns", FS_MAX_PATTERNS);
    else if (fs_validate(st, fs_str(args, "path"), &real, &err) == 0 &&
             fs_open_dir(st, real, &dfd, &err) == 0) {
        s.top = real;
        if (fs_search_dir(&s, dfd, real, NULL, 0, &err) == 0 &&
            !(text = s.matches ? buf_detach(&s.out, NULL) : mcp_strdup("No matches found")))
            fs_oom(&err);
    }
    if (dfd >= 0)
        close(dfd);
    buf_free(&s.out);
    mcp_free(real);
    fs_reply(call, text, err);
}

/* ---- get_file_info / list_allowed_directories ---- */

/* Date.prototype.toString(): "Sat Nov 22 2025 04:14:00 GMT+0000 (Coordinated Universal Time)". */
static void fs_js_date(const uv_timespec_t *ts, char *out, size_t cap)
{
    time_t sec = (time_t)ts->tv_sec;
    struct tm tm;
    if (!localtime_r(&sec, &tm)) {
        snprintf(out, cap, "Invalid Date");
        return;
    }
    char base[64];
    strftime(base, sizeof base, "%a %b %d %Y %H:%M:%S", &tm);
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    const char *zone = tm.tm_zone ? tm.tm_zone : "";
    if (tm.tm_gmtoff == 0 && (!*zone || strcmp(zone, "UTC") == 0 || strcmp(zone, "GMT") == 0 ||
                              strcmp(zone, "UCT") == 0))
        zone = "Coordinated Universal Time";
    /* A zone name longer than fits is cut: snprintf always terminates. */
    if (snprintf(out, cap, "%s GMT%c%02ld%02ld (%s)", base, sign, off / 3600, off % 3600 / 60,
                 zone) < 0)
        snprintf(out, cap, "Invalid Date");
}

static void fs_tool_get_file_info(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"path", FS_T_STRING, 1}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 1) != 0)
        return;
    char *real = NULL, *err = NULL, *text = NULL;
    int fd = -1;
    if (fs_validate(st, fs_str(args, "path"), &real, &err) == 0 &&
        fs_open(st, real, O_PATH, "stat", &fd, &err) == 0) {
        uv_fs_t req;
        int r = uv_fs_fstat(st->loop, &req, fd, NULL);
        if (r < 0) {
            fs_sys_fail(&err, -r, "stat", real, NULL);
        } else {
            const uv_stat_t *s = &req.statbuf;
            char created[96], modified[96], accessed[96];
            fs_js_date(&s->st_birthtim, created, sizeof created);
            fs_js_date(&s->st_mtim, modified, sizeof modified);
            fs_js_date(&s->st_atim, accessed, sizeof accessed);
            int isdir = (s->st_mode & S_IFMT) == S_IFDIR, isfile = (s->st_mode & S_IFMT) == S_IFREG;
            text = mcp_asprintf("size: %llu\ncreated: %s\nmodified: %s\naccessed: %s\n"
                                "isDirectory: %s\nisFile: %s\npermissions: %03o",
                                (unsigned long long)s->st_size, created, modified, accessed,
                                isdir ? "true" : "false", isfile ? "true" : "false",
                                (unsigned)(s->st_mode & 0777));
            if (!text)
                fs_oom(&err);
        }
        uv_fs_req_cleanup(&req);
    }
    if (fd >= 0)
        close(fd);
    mcp_free(real);
    fs_reply(call, text, err);
}

static void fs_tool_allowed(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)args;
    fs_state_t *st = ud;
    fs_reply(call, mcp_asprintf("Allowed directories:\n%s", st->roots_lines), NULL);
}

/* ---- writes ---- */

/* Replace an existing file as the reference does: a temporary file next to it, rename over,
 * then the old permission bits. */
static int fs_replace(int dfd, const char *base, const char *real, const char *data, size_t len,
                      char **err)
{
    struct stat orig;
    if (fstatat(dfd, base, &orig, 0) != 0)
        return fs_sys_fail(err, errno, "stat", real, NULL);
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
        static unsigned counter;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid() ^
                     ((uint64_t)++counter << 48);
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(v >> (8 * (i % 8)) ^ i * 37);
    }
    char hex[33];
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    char *tmp = mcp_asprintf("%s.%s.tmp", base, hex);
    char *tmp_full = mcp_asprintf("%s.%s.tmp", real, hex);
    int rc = 0;
    if (!tmp || !tmp_full) {
        rc = fs_oom(err);
        goto out;
    }
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = fs_sys_fail(err, errno, "open", tmp_full, NULL);
        goto out;
    }
    if (fs_write_all(fd, data, len) != 0) {
        int e = errno;
        close(fd);
        unlinkat(dfd, tmp, 0);
        rc = fs_sys_fail(err, e, "write", NULL, NULL);
        goto out;
    }
    close(fd);
    if (renameat(dfd, tmp, dfd, base) != 0) {
        int e = errno;
        unlinkat(dfd, tmp, 0);
        rc = fs_sys_fail(err, e, "rename", tmp_full, real);
        goto out;
    }
    (void)fchmodat(dfd, base, orig.st_mode & 0777, 0); /* the write already succeeded */
out:
    mcp_free(tmp);
    mcp_free(tmp_full);
    return rc;
}

static int fs_write_file(const fs_state_t *st, const char *real, const char *data, size_t len,
                         int replace_only, char **err)
{
    int dfd = -1;
    const char *base;
    if (fs_open_parent(st, real, "open", &dfd, &base, err) != 0)
        return -1;
    int rc = 0;
    /* Exclusive creation first: an existing file (or link) is never written through. */
    int fd = replace_only
                 ? -1
                 : openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0) {
        if (fs_write_all(fd, data, len) != 0)
            rc = fs_sys_fail(err, errno, "write", NULL, NULL);
        close(fd);
    } else if (replace_only || errno == EEXIST) {
        rc = fs_replace(dfd, base, real, data, len, err);
    } else {
        rc = fs_sys_fail(err, errno, "open", real, NULL);
    }
    close(dfd);
    return rc;
}

static void fs_tool_write_file(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"path", FS_T_STRING, 1}, {"content", FS_T_STRING, 1}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 2) != 0 || fs_refuse_readonly(st, call) != 0)
        return;
    const char *path = fs_str(args, "path"), *content = fs_str(args, "content");
    char *real = NULL, *err = NULL, *text = NULL;
    if (fs_validate(st, path, &real, &err) == 0 &&
        fs_write_file(st, real, content, strlen(content), 0, &err) == 0 &&
        !(text = mcp_asprintf("Successfully wrote to %s", path)))
        fs_oom(&err);
    mcp_free(real);
    fs_reply(call, text, err);
}

static size_t fs_ws_len(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\v' ||
                       s[i] == '\f' || s[i] == '\n'))
        i++;
    return i;
}

static int fs_trim_eq(const fs_line_t *a, const fs_line_t *b)
{
    size_t as = fs_ws_len(a->p, a->len), bs = fs_ws_len(b->p, b->len);
    size_t ae = a->len, be = b->len;
    while (ae > as && strchr(" \t\r\v\f\n", a->p[ae - 1]))
        ae--;
    while (be > bs && strchr(" \t\r\v\f\n", b->p[be - 1]))
        be--;
    return ae - as == be - bs && memcmp(a->p + as, b->p + bs, ae - as) == 0;
}

/* JavaScript's s.split('\n'): n + 1 pieces for n newlines, without the '\n'. */
static fs_line_t *fs_split_js(const char *s, size_t len, size_t *count)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    fs_line_t *v = mcp_malloc(n * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || s[i] == '\n') {
            v[k].p = s + start;
            v[k++].len = i - start;
            start = i + 1;
        }
    *count = n;
    return v;
}

/* The reference's whitespace-tolerant fallback: find old's lines, trimmed, in content. */
static int fs_edit_lines(buf_t *out, const char *content, size_t clen, const char *old, size_t olen,
                         const char *nw, size_t nlen, int *found)
{
    size_t nc = 0, no = 0, nn = 0;
    fs_line_t *cl = fs_split_js(content, clen, &nc), *ol = fs_split_js(old, olen, &no),
              *nl = fs_split_js(nw, nlen, &nn);
    int rc = cl && ol && nl ? 0 : MCP_ENOMEM;
    *found = 0;
    for (size_t i = 0; rc == 0 && no <= nc && i <= nc - no; i++) {
        size_t j = 0;
        while (j < no && fs_trim_eq(&cl[i + j], &ol[j]))
            j++;
        if (j < no)
            continue;
        *found = 1;
        size_t indent = fs_ws_len(cl[i].p, cl[i].len);
        for (size_t k = 0; rc == 0 && k < i; k++)
            rc = buf_append(out, cl[k].p, cl[k].len) ? -1 : buf_putc(out, '\n');
        for (size_t k = 0; rc == 0 && k < nn; k++) {
            const fs_line_t *l = &nl[k];
            size_t lead = fs_ws_len(l->p, l->len);
            if (k > 0)
                rc = buf_putc(out, '\n');
            if (rc != 0)
                break;
            if (k == 0) {
                rc = buf_append(out, cl[i].p, indent) ? -1
                                                      : buf_append(out, l->p + lead, l->len - lead);
                continue;
            }
            size_t old_indent = k < no ? fs_ws_len(ol[k].p, ol[k].len) : 0;
            if (old_indent && lead) {
                rc = buf_append(out, cl[i].p, indent);
                for (size_t s = old_indent; rc == 0 && s < lead; s++)
                    rc = buf_putc(out, ' ');
                if (rc == 0)
                    rc = buf_append(out, l->p + lead, l->len - lead);
            } else {
                rc = buf_append(out, l->p, l->len);
            }
        }
        for (size_t k = i + no; rc == 0 && k < nc; k++)
            rc = buf_putc(out, '\n') ? -1 : buf_append(out, cl[k].p, cl[k].len);
        break;
    }
    mcp_free(cl);
    mcp_free(ol);
    mcp_free(nl);
    return rc;
}

/* Apply the edits in order to *content (NUL-terminated, owned; replaced). */
static int fs_apply_edits(const fs_state_t *st, char **content, size_t *len, const cJSON *edits,
                          char **err)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, edits)
    {
        const char *old_raw = fs_str(e, "oldText"), *new_raw = fs_str(e, "newText");
        char *old = mcp_strdup(old_raw), *nw = mcp_strdup(new_raw);
        if (!old || !nw) {
            mcp_free(old);
            mcp_free(nw);
            return fs_oom(err);
        }
        size_t olen = fs_crlf_to_lf(old, strlen(old)), nlen = fs_crlf_to_lf(nw, strlen(nw));
        buf_t out;
        buf_init(&out, st->max_read);
        int rc = 0, found = 0;
        const char *hit = olen == 0 ? *content : memmem(*content, *len, old, olen);
        if (hit) {
            size_t at = (size_t)(hit - *content);
            found = 1;
            if (buf_append(&out, *content, at) || buf_append(&out, nw, nlen) ||
                buf_append(&out, hit + olen, *len - at - olen))
                rc = -1;
        } else {
            rc = fs_edit_lines(&out, *content, *len, old, olen, nw, nlen, &found);
        }
        mcp_free(old);
        mcp_free(nw);
        if (rc == 0 && found) {
            char *next = buf_detach(&out, len);
            if (!next)
                rc = -1;
            else {
                mcp_free(*content);
                *content = next;
            }
        }
        int too_big = out.len >= out.max || rc == MCP_ENOBUFS;
        buf_free(&out);
        if (rc != 0)
            return too_big ? fs_fail(err,
                                     "Error: the edited file would pass %zu bytes (the read "
                                     "limit of this mock)",
                                     st->max_read)
                           : fs_oom(err);
        if (!found)
            return fs_fail(err, "Could not find exact match for edit:\n%s", old_raw);
    }
    return 0;
}

static void fs_tool_edit_file(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {
        {"path", FS_T_STRING, 1}, {"edits", FS_T_EDITS, 1}, {"dryRun", FS_T_BOOLEAN, 0}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 3) != 0)
        return;
    int dry = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args, "dryRun"));
    if (!dry && fs_refuse_readonly(st, call) != 0) /* a dry run changes nothing */
        return;
    const cJSON *edits = cJSON_GetObjectItemCaseSensitive(args, "edits");
    char *real = NULL, *err = NULL, *data = NULL, *content = NULL, *modified = NULL, *diff = NULL;
    char *text = NULL;
    size_t len = 0;
    if (cJSON_GetArraySize(edits) > FS_MAX_EDITS) {
        fs_fail(&err, "Error: at most %d edits per call", FS_MAX_EDITS);
    } else if (fs_validate(st, fs_str(args, "path"), &real, &err) == 0 &&
               fs_read_file(st, real, &data, &len, &err) == 0) {
        /* As the reference: decode as UTF-8, CRLF -> LF, edit, write back the LF text. */
        if (!(content = fs_utf8_text(data, len)) || !(modified = mcp_strdup(content))) {
            fs_oom(&err);
        } else {
            size_t clen = fs_crlf_to_lf(content, strlen(content)), mlen = clen;
            fs_crlf_to_lf(modified, strlen(modified));
            if (fs_apply_edits(st, &modified, &mlen, edits, &err) == 0) {
                if (!(diff = mock_fs_unified_diff(real, content, clen, modified, mlen))) {
                    fs_oom(&err);
                } else {
                    size_t ticks = 3;
                    for (;;) {
                        char fence[64];
                        if (ticks >= sizeof fence - 1)
                            break;
                        memset(fence, '`', ticks);
                        fence[ticks] = '\0';
                        if (!strstr(diff, fence))
                            break;
                        ticks++;
                    }
                    text = mcp_asprintf("%.*sdiff\n%s%.*s\n\n", (int)ticks,
                                        "``````````````````````````````````````````````````````````"
                                        "``",
                                        diff, (int)ticks,
                                        "``````````````````````````````````````````````````````````"
                                        "``");
                    if (!text)
                        fs_oom(&err);
                    else if (!dry && fs_write_file(st, real, modified, mlen, 1, &err) != 0) {
                        mcp_free(text);
                        text = NULL;
                    }
                }
            }
        }
    }
    mcp_free(real);
    mcp_free(data);
    mcp_free(content);
    mcp_free(modified);
    mcp_free(diff);
    fs_reply(call, text, err);
}

/* mkdir -p below the root that holds real, one verified directory descriptor at a time. */
static int fs_mkdir_p(const fs_state_t *st, const char *real, char **err)
{
    const char *root = fs_root_of(st, real);
    if (!root)
        return fs_deny(st, err, "path", real);
    int dfd = -1;
    if (fs_open(st, root, O_RDONLY | O_DIRECTORY, "mkdir", &dfd, err) != 0)
        return -1;
    const char *p = real + (strcmp(root, "/") == 0 ? 0 : strlen(root));
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        char name[NAME_MAX + 1];
        size_t len = (size_t)(p - s);
        if (len > NAME_MAX) {
            close(dfd);
            return fs_sys_fail(err, ENAMETOOLONG, "mkdir", real, NULL);
        }
        memcpy(name, s, len);
        name[len] = '\0';
        const char *rest = p;
        while (*rest == '/')
            rest++;
        if (mkdirat(dfd, name, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            close(dfd);
            return fs_sys_fail(err, e, "mkdir", real, NULL);
        }
        int nfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(dfd);
        if (nfd < 0)
            return fs_sys_fail(err, e == ENOTDIR && !*rest ? EEXIST : e, "mkdir", real, NULL);
        dfd = nfd;
    }
    close(dfd);
    return 0;
}

static void fs_tool_create_directory(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"path", FS_T_STRING, 1}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 1) != 0 || fs_refuse_readonly(st, call) != 0)
        return;
    const char *path = fs_str(args, "path");
    char *real = NULL, *err = NULL, *text = NULL;
    if (fs_validate(st, path, &real, &err) == 0 && fs_mkdir_p(st, real, &err) == 0 &&
        !(text = mcp_asprintf("Successfully created directory %s", path)))
        fs_oom(&err);
    mcp_free(real);
    fs_reply(call, text, err);
}

static void fs_tool_move_file(mcp_call_t *call, const cJSON *args, void *ud)
{
    static const fs_arg_t spec[] = {{"source", FS_T_STRING, 1}, {"destination", FS_T_STRING, 1}};
    fs_state_t *st = ud;
    if (fs_args_ok(call, args, spec, 2) != 0 || fs_refuse_readonly(st, call) != 0)
        return;
    const char *src = fs_str(args, "source"), *dst = fs_str(args, "destination");
    char *rsrc = NULL, *rdst = NULL, *err = NULL, *text = NULL;
    int sdfd = -1, ddfd = -1;
    const char *sbase = NULL, *dbase = NULL;
    struct stat sb;
    if (fs_validate(st, src, &rsrc, &err) != 0 || fs_validate(st, dst, &rdst, &err) != 0) {
        /* err says why */
    } else if (lstat(rdst, &sb) == 0) {
        fs_fail(&err, "Destination already exists: %s", rdst);
    } else if (errno != ENOENT) {
        fs_sys_fail(&err, errno, "lstat", rdst, NULL);
    } else if (fs_open_parent(st, rsrc, "rename", &sdfd, &sbase, &err) == 0 &&
               fs_open_parent(st, rdst, "rename", &ddfd, &dbase, &err) == 0) {
        /* RENAME_NOREPLACE closes the window between the check above and the rename. */
        int r = renameat2(sdfd, sbase, ddfd, dbase, RENAME_NOREPLACE);
        if (r != 0 && (errno == EINVAL || errno == ENOSYS))
            r = renameat(sdfd, sbase, ddfd, dbase);
        if (r != 0 && errno == EEXIST)
            fs_fail(&err, "Destination already exists: %s", rdst);
        else if (r != 0)
            fs_sys_fail(&err, errno, "rename", rsrc, rdst);
        else if (!(text = mcp_asprintf("Successfully moved %s to %s", src, dst)))
            fs_oom(&err);
    }
    if (sdfd >= 0)
        close(sdfd);
    if (ddfd >= 0)
        close(ddfd);
    mcp_free(rsrc);
    mcp_free(rdst);
    fs_reply(call, text, err);
}

/* ---- resources ---- */

typedef struct {
    const fs_state_t *st;
    size_t index, offset, want, visited, got;
    cJSON *arr;
    int more, stop, failed;
} fs_rlist_t;

static int fs_rlist_add(fs_rlist_t *w, int dfd, const char *name, const char *full, const char *rel)
{
    struct stat sb;
    char *uri = fs_file_uri(full);
    const char *mime = fs_resource_mime(full);
    cJSON *it = cJSON_CreateObject();
    int ok = uri && it && cJSON_AddStringToObject(it, "uri", uri) &&
             cJSON_AddStringToObject(it, "name", rel) &&
             (!mime || cJSON_AddStringToObject(it, "mimeType", mime));
    if (ok && fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        ok = cJSON_AddNumberToObject(it, "size", (double)sb.st_size) != NULL;
    if (ok)
        ok = cJSON_AddItemToArray(w->arr, it);
    if (!ok)
        cJSON_Delete(it);
    mcp_free(uri);
    return ok ? 0 : -1;
}

static void fs_rlist_dir(fs_rlist_t *w, int dfd, const char *path, const char *rel, int depth)
{
    fs_ent_t *ents = NULL;
    size_t n = 0;
    char *err = NULL;
    if (fs_list_dir(dfd, path, &ents, &n, &err) != 0) { /* unreadable: not listed */
        mcp_free(err);
        return;
    }
    for (size_t i = 0; i < n && !w->stop; i++) {
        if (++w->visited > FS_MAX_WALK) {
            w->stop = 1;
            break;
        }
        const fs_ent_t *e = &ents[i];
        if (e->kind != FS_E_DIR && e->kind != FS_E_FILE)
            continue; /* links and special files are not resources */
        char *full = fs_join(path, e->name);
        char *r = rel ? mcp_asprintf("%s/%s", rel, e->name) : mcp_strdup(e->name);
        if (!full || !r) {
            w->failed = w->stop = 1;
        } else if (e->kind == FS_E_DIR) {
            int sfd = depth < FS_MAX_DEPTH
                          ? openat(dfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                          : -1;
            if (sfd >= 0) {
                fs_rlist_dir(w, sfd, full, r, depth + 1);
                close(sfd);
            }
        } else if (w->index >= FS_MAX_RESOURCES) {
            w->stop = 1;
        } else {
            if (w->index >= w->offset) {
                if (w->got == w->want) {
                    w->more = w->stop = 1;
                } else if (fs_rlist_add(w, dfd, e->name, full, r) != 0) {
                    w->failed = w->stop = 1;
                } else {
                    w->got++;
                }
            }
            w->index++;
        }
        mcp_free(full);
        mcp_free(r);
    }
    fs_ents_free(ents, n);
}

static void fs_resources_list(mcp_call_t *call, const cJSON *params, void *ud)
{
    fs_state_t *st = ud;
    size_t offset = 0;
    const cJSON *cursor = cJSON_GetObjectItemCaseSensitive(params, "cursor");
    if (cursor && !cJSON_IsNull(cursor) &&
        (!cJSON_IsString(cursor) || mcp_cursor_decode(cursor->valuestring, &offset) != 0)) {
        mcp_call_error(call, JSONRPC_INVALID_PARAMS, "Invalid params: invalid cursor", NULL);
        return;
    }
    cJSON *result = cJSON_CreateObject();
    fs_rlist_t w = {.st = st, .offset = offset, .want = st->page_size};
    w.arr = cJSON_AddArrayToObject(result, "resources");
    if (!w.arr)
        w.failed = 1;
    for (size_t i = 0; i < st->root_count && !w.stop && !w.failed; i++) {
        int dfd = -1;
        char *err = NULL;
        if (fs_open_dir(st, st->roots[i], &dfd, &err) != 0) {
            mcp_free(err);
            continue;
        }
        fs_rlist_dir(&w, dfd, st->roots[i], NULL, 0);
        close(dfd);
    }
    if (!w.failed && w.more) {
        char *next = mcp_cursor_encode(offset + w.got);
        w.failed = !next || !cJSON_AddStringToObject(result, "nextCursor", next);
        mcp_free(next);
    }
    if (w.failed) {
        cJSON_Delete(result);
        mcp_call_error(call, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory", NULL);
        return;
    }
    mcp_call_reply(call, result);
}

static void fs_resource_error(mcp_call_t *call, int code, const char *message, const char *uri)
{
    cJSON *data = cJSON_CreateObject();
    if (data && !cJSON_AddStringToObject(data, "uri", uri)) {
        cJSON_Delete(data);
        data = NULL;
    }
    mcp_call_error(call, code, message ? message : "Internal error: out of memory", data);
}

static void fs_resource_read(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars,
                             void *ud)
{
    fs_state_t *st = ud;
    const char *rel = vars ? mcp_uri_vars_get(vars, "path") : NULL;
    char *path = rel ? mcp_asprintf("/%s", rel) : NULL;
    char *real = NULL, *err = NULL, *data = NULL, *payload = NULL;
    size_t len = 0;
    struct stat sb;
    if (!path) {
        fs_resource_error(call, JSONRPC_INTERNAL_ERROR, NULL, uri);
    } else if (fs_validate(st, path, &real, &err) != 0) {
        fs_resource_error(call, JSONRPC_INVALID_PARAMS, err, uri);
    } else if (stat(real, &sb) != 0) {
        fs_resource_error(call, JSONRPC_RESOURCE_NOT_FOUND, "Resource not found", uri);
    } else if (S_ISDIR(sb.st_mode)) {
        fs_fail(&err, "Error: %s is a directory; resources/read reads files", real);
        fs_resource_error(call, JSONRPC_INVALID_PARAMS, err, uri);
    } else if (fs_read_file(st, real, &data, &len, &err) != 0) {
        fs_resource_error(call, JSONRPC_INVALID_PARAMS, err, uri);
    } else {
        const char *mime = fs_resource_mime(real);
        int text;
        if (mime) {
            text = fs_mime_is_text(mime);
        } else { /* unknown extension: UTF-8 without NUL is text */
            text = memchr(data, 0, len) == NULL;
            for (size_t i = 0, l; text && i < len; i += l)
                text = (l = fs_utf8_valid_len((const unsigned char *)data + i, len - i)) > 0;
            mime = text ? "text/plain" : "application/octet-stream";
        }
        payload = text ? fs_utf8_text(data, len) : fs_base64((const unsigned char *)data, len);
        cJSON *result = cJSON_CreateObject();
        cJSON *contents = cJSON_AddArrayToObject(result, "contents");
        cJSON *item = cJSON_CreateObject();
        int ok = payload && contents && item && cJSON_AddItemToArray(contents, item);
        if (!ok)
            cJSON_Delete(item);
        if (ok && cJSON_AddStringToObject(item, "uri", uri) &&
            cJSON_AddStringToObject(item, "mimeType", mime) &&
            cJSON_AddStringToObject(item, text ? "text" : "blob", payload)) {
            mcp_call_reply(call, result);
        } else {
            cJSON_Delete(result);
            fs_resource_error(call, JSONRPC_INTERNAL_ERROR, NULL, uri);
        }
    }
    mcp_free(path);
    mcp_free(real);
    mcp_free(err);
    mcp_free(data);
    mcp_free(payload);
}

/* ---- setup ---- */

void mock_filesystem_set_max_read(void *state, size_t bytes)
{
    fs_state_t *st = state;
    if (st)
        st->max_read = bytes ? bytes : FS_DEFAULT_MAX_READ;
}

static void fs_teardown(void *state)
{
    fs_state_t *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < st->root_count; i++)
        mcp_free(st->roots[i]);
    mcp_free(st->roots_joined);
    mcp_free(st->roots_lines);
    mcp_free(st);
}

static int fs_setup_fail(fs_state_t *st, int rc, char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fs_setup_fail(fs_state_t *st, int rc, char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
    fs_teardown(st);
    return rc;
}

static const struct {
    const char *name;
    mcp_tool_fn fn;
} fs_tools[] = {
    {"read_file", fs_tool_read_text},
    {"read_text_file", fs_tool_read_text},
    {"read_media_file", fs_tool_read_media},
    {"read_multiple_files", fs_tool_read_multiple},
    {"write_file", fs_tool_write_file},
    {"edit_file", fs_tool_edit_file},
    {"create_directory", fs_tool_create_directory},
    {"list_directory", fs_tool_list_directory},
    {"list_directory_with_sizes", fs_tool_list_sizes},
    {"directory_tree", fs_tool_directory_tree},
    {"move_file", fs_tool_move_file},
    {"search_files", fs_tool_search_files},
    {"get_file_info", fs_tool_get_file_info},
    {"list_allowed_directories", fs_tool_allowed},
};

static int fs_setup(mcp_server_t *server, const mock_options_t *opts, void **state, char *err,
                    size_t errcap)
{
    fs_state_t *st = mcp_calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errcap, "out of memory");
        return MCP_ENOMEM;
    }
    st->server = server;
    st->loop = opts->loop;
    st->writable = opts->writable;
    st->max_read = FS_DEFAULT_MAX_READ;
    st->page_size = opts->page_size ? opts->page_size : FS_DEFAULT_PAGE;
    const char *env = getenv("MCP_MOCK_FS_MAX_READ");
    if (env && *env) {
        char *end = NULL;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end != '\0' || v == 0 || v > FS_MAX_READ_LIMIT)
            return fs_setup_fail(st, MCP_EINVAL, err, errcap,
                                 "MCP_MOCK_FS_MAX_READ must be 1..%zu (bytes), not '%s'",
                                 FS_MAX_READ_LIMIT, env);
        st->max_read = (size_t)v;
    }
    if (opts->root_count == 0 || opts->root_count > MOCK_MAX_ROOTS)
        return fs_setup_fail(st, MCP_EINVAL, err, errcap,
                             "filesystem: give 1..%d --root DIR (the allowed directories)",
                             MOCK_MAX_ROOTS);
    buf_t joined, lines;
    buf_init(&joined, (size_t)1 << 20);
    buf_init(&lines, (size_t)1 << 20);
    int rc = 0;
    for (size_t i = 0; i < opts->root_count; i++) {
        char real[PATH_MAX];
        struct stat sb;
        const char *r = opts->roots[i];
        if (!r || !realpath(r, real) || stat(real, &sb) != 0) {
            snprintf(err, errcap, "filesystem: --root %s: %s", r ? r : "(null)", strerror(errno));
            rc = MCP_EINVAL;
            break;
        }
        if (!S_ISDIR(sb.st_mode)) {
            snprintf(err, errcap, "filesystem: --root %s: not a directory", r);
            rc = MCP_EINVAL;
            break;
        }
        if (!(st->roots[i] = mcp_strdup(real)) ||
            buf_appendf(&joined, "%s%s", i ? ", " : "", real) ||
            buf_appendf(&lines, "%s%s", i ? "\n" : "", real)) {
            snprintf(err, errcap, "out of memory");
            rc = MCP_ENOMEM;
            break;
        }
        st->root_count = i + 1;
    }
    if (rc == 0) {
        st->roots_joined = buf_detach(&joined, NULL);
        st->roots_lines = buf_detach(&lines, NULL);
        if (!st->roots_joined || !st->roots_lines) {
            snprintf(err, errcap, "out of memory");
            rc = MCP_ENOMEM;
        }
    }
    buf_free(&joined);
    buf_free(&lines);
    if (rc != 0) {
        fs_teardown(st);
        return rc;
    }

    cJSON *surface = cJSON_ParseWithLength(mock_filesystem_tools_filesystem_json,
                                           mock_filesystem_tools_filesystem_json_len);
    size_t registered = 0;
    const cJSON *tool;
    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(surface, "tools"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(tool, "name");
        mcp_tool_fn fn = NULL;
        for (size_t i = 0; cJSON_IsString(name) && i < sizeof fs_tools / sizeof fs_tools[0]; i++)
            if (strcmp(fs_tools[i].name, name->valuestring) == 0)
                fn = fs_tools[i].fn;
        if (!fn) {
            cJSON_Delete(surface);
            return fs_setup_fail(st, MCP_EINVAL, err, errcap, "tool surface: unknown tool %s",
                                 cJSON_IsString(name) ? name->valuestring : "?");
        }
        if ((rc = mcp_server_add_tool_json(server, tool, fn, st)) != 0) {
            cJSON_Delete(surface);
            return fs_setup_fail(st, rc, err, errcap, "cannot register tool %s: %s",
                                 name->valuestring, mcp_strerror(rc));
        }
        registered++;
    }
    cJSON_Delete(surface);
    if (registered != sizeof fs_tools / sizeof fs_tools[0])
        return fs_setup_fail(st, MCP_EINVAL, err, errcap, "tool surface: %zu of %zu tools",
                             registered, sizeof fs_tools / sizeof fs_tools[0]);

    mcp_template_def_t tpl = {.uri_template = FS_URI_TEMPLATE,
                              .name = "file",
                              .title = "File",
                              .description = "Any file below the allowed directories, by absolute "
                                             "path: file:///srv/root/notes/todo.md"};
    if ((rc = mcp_server_set_method(server, "resources/list", fs_resources_list, st)) != 0 ||
        (rc = mcp_server_add_template(server, &tpl, fs_resource_read, st)) != 0)
        return fs_setup_fail(st, rc, err, errcap, "cannot register resources: %s",
                             mcp_strerror(rc));
    LOG_D("mock", "filesystem ready", "roots=%zu writable=%d max_read=%zu", st->root_count,
          st->writable, st->max_read);
    *state = st;
    return 0;
}

const mock_kind_t mock_kind_filesystem = {
    .name = "filesystem",
    .summary = "real files below --root directories (the filesystem reference server's 14 tools, "
               "file:// resources)",
    .help =
        "mcp-mock filesystem --root DIR [--root DIR ...] [--writable] [--page-size N]\n"
        "  The 14 tools of @modelcontextprotocol/server-filesystem over the files below the\n"
        "  allowed directories (copy mocks/fixtures/filesystem/ somewhere and serve that).\n"
        "  Paths outside them, and symlinks leading out, are refused (\"Access denied - ...\").\n"
        "  --root DIR       an allowed directory (repeatable, at least one)\n"
        "  --writable       allow write_file, edit_file, create_directory, move_file\n"
        "                   (default: read-only; edit_file with dryRun works either way)\n"
        "  --page-size N    resources/list page size (default 100)\n"
        "  Environment: MCP_MOCK_FS_MAX_READ caps the bytes read from one file (8 MiB).\n"
        "  Resources: every regular file as file://<path> (resources/list, at most 10000),\n"
        "  and the template file:///{+path}.\n",
    .server_name = "secure-filesystem-server",
    .setup = fs_setup,
    .teardown = fs_teardown,
};
