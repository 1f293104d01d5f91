/* The filesystem mock kind, driven in process through the loopback transport against a fresh
 * copy of mocks/fixtures/filesystem/ per test (mkdtemp): every tool's success and error paths
 * with exact texts, sandbox escapes (../, absolute paths elsewhere, symlinks to /etc, a
 * symlinked directory, a nonexistent path under a symlink, a dangling link), read-only
 * enforcement, the read limit, resources, and the glob matcher and unified diff directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kind_filesystem.h"
#include "kind_test_client.h"

#include "alloc.h"
#include "errors.h"
#include "jsonrpc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MOCK_FS_FIXTURE_DIR
#define MOCK_FS_FIXTURE_DIR "mocks/fixtures/filesystem"
#endif

#define RO_TEXT(tool)                                                                    \
    "Access denied - the allowed directories are read-only (start `mcp-mock filesystem " \
    "--writable` to allow " tool ")"

#define DENY        "Access denied - path outside allowed directories: %s not in %s"
#define LINK_DENY   "Access denied - symlink target outside allowed directories: %s not in %s"
#define PARENT_DENY "Access denied - parent directory outside allowed directories: %s not in %s"
#define HDR                                                                                \
    "Index: %s\n===================================================================\n--- " \
    "%s\toriginal\n+++ %s\tmodified\n"
#define LIMIT_TAIL                                                                             \
    "; this mock reads at most 100 bytes of a file (MCP_MOCK_FS_MAX_READ; read_text_file can " \
    "take head or tail)"

static char g_tmp[PATH_MAX];       /* realpath of the mkdtemp directory */
static char g_root[PATH_MAX + 64]; /* g_tmp/root: the copy of the fixture tree, the allowed dir */

/* ---- temporary tree ---- */

static void copy_tree(const char *src, const char *dst)
{
    assert_int_equal(mkdir(dst, 0755), 0);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char s[PATH_MAX], t[PATH_MAX];
        snprintf(s, sizeof s, "%s/%s", src, de->d_name);
        snprintf(t, sizeof t, "%s/%s", dst, de->d_name);
        struct stat sb;
        assert_int_equal(stat(s, &sb), 0);
        if (S_ISDIR(sb.st_mode)) {
            copy_tree(s, t);
            continue;
        }
        int in = open(s, O_RDONLY), out = open(t, O_WRONLY | O_CREAT | O_EXCL, 0644);
        assert_true(in >= 0 && out >= 0);
        char buf[8192];
        ssize_t n;
        while ((n = read(in, buf, sizeof buf)) > 0)
            assert_int_equal(write(out, buf, (size_t)n), n);
        close(in);
        close(out);
        assert_int_equal(chmod(t, 0644), 0);
    }
    closedir(d);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int tree_setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/mcp-fs-test-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, g_tmp));
    snprintf(g_root, sizeof g_root, "%s/root", g_tmp);
    copy_tree(MOCK_FS_FIXTURE_DIR, g_root);
    char out[PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/outside", g_tmp);
    assert_int_equal(mkdir(out, 0755), 0);
    strcat(out, "/secret.txt");
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    fputs("secret\n", f);
    fclose(f);
    return 0;
}

static int tree_teardown(void **state)
{
    (void)state;
    return nftw(g_tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ---- */

/* Rotating static buffers so several can appear in one expression. */
static char *ring(void)
{
    static char bufs[64][8192];
    static int next;
    return bufs[next++ % 64];
}

/* A path that stays valid for the whole test (P's buffers are reused). */
#define KEEP_PATH(name, rel)  \
    char name[PATH_MAX + 64]; \
    snprintf(name, sizeof name, "%s", P(rel))

/* g_root + "/" + rel (rel "" gives the root). */
static const char *P(const char *rel)
{
    char *b = ring();
    snprintf(b, 8192, "%s%s%s", g_root, *rel ? "/" : "", rel);
    return b;
}

static const char *F(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *F(const char *fmt, ...)
{
    char *b = ring();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 8192, fmt, ap);
    va_end(ap);
    return b;
}

static void open_fs(ktc_t *t, int writable)
{
    mock_options_t opts = {.writable = writable, .roots = {g_root}, .root_count = 1};
    char err[256] = "";
    memset(t, 0, sizeof *t);
    if (ktc_open(t, &mock_kind_filesystem, &opts, err, sizeof err) != 0)
        fail_msg("setup failed: %s", err);
}

/* A successful call's text, also checked against structuredContent.content. */
static char *call_text(ktc_t *t, const char *tool, const char *args)
{
    cJSON *r = ktc_call(t, tool, args);
    if (ktc_is_error(r))
        fail_msg("%s %s: %s", tool, args, ktc_text(r));
    const cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "structuredContent"), "content");
    assert_true(cJSON_IsString(sc));
    assert_string_equal(sc->valuestring, ktc_text(r));
    char *text = mcp_strdup(ktc_text(r));
    cJSON_Delete(r);
    return text;
}

static void expect_text(ktc_t *t, const char *tool, const char *args, const char *expected)
{
    char *text = call_text(t, tool, args);
    assert_string_equal(text, expected);
    mcp_free(text);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *b64(const unsigned char *d, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = mcp_malloc((n + 2) / 3 * 4 + 1), *p = o;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v =
            (uint32_t)d[i] << 16 | (i + 1 < n ? d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        *p++ = t[v >> 18];
        *p++ = t[(v >> 12) & 63];
        *p++ = i + 1 < n ? t[(v >> 6) & 63] : '=';
        *p++ = i + 2 < n ? t[v & 63] : '=';
    }
    *p = '\0';
    return o;
}

static char *file_b64(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return b64(buf, n);
}

#define ARG_ERR(tool, msg) \
    "MCP error -32602: Input validation error: Invalid arguments for tool " tool ": " msg

/* ---- surface ---- */

static void test_surface(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 0);
    const cJSON *info = mcp_client_server_info(t.client);
    assert_string_equal(cJSON_GetObjectItem(info, "name")->valuestring, "secure-filesystem-server");
    assert_true(mcp_client_server_has(t.client, "tools"));
    assert_true(mcp_client_server_has(t.client, "resources"));

    cJSON *list = ktc_request(&t, "tools/list", NULL, NULL);
    static const char *const names[] = {"read_file",
                                        "read_text_file",
                                        "read_media_file",
                                        "read_multiple_files",
                                        "write_file",
                                        "edit_file",
                                        "create_directory",
                                        "list_directory",
                                        "list_directory_with_sizes",
                                        "directory_tree",
                                        "move_file",
                                        "search_files",
                                        "get_file_info",
                                        "list_allowed_directories"};
    const cJSON *tools = cJSON_GetObjectItem(list, "tools");
    assert_int_equal(cJSON_GetArraySize(tools), 14);
    for (int i = 0; i < 14; i++)
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(tools, i), "name")->valuestring,
                            names[i]);
    const cJSON *mv = cJSON_GetArrayItem(tools, 10);
    assert_string_equal(cJSON_GetObjectItem(mv, "title")->valuestring, "Move File");
    const cJSON *ann = cJSON_GetObjectItem(mv, "annotations");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ann, "destructiveHint")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(ann, "openWorldHint")));
    assert_non_null(cJSON_GetObjectItem(mv, "outputSchema"));
    cJSON_Delete(list);

    list = ktc_request(&t, "resources/templates/list", NULL, NULL);
    const cJSON *tpl = cJSON_GetArrayItem(cJSON_GetObjectItem(list, "resourceTemplates"), 0);
    assert_string_equal(cJSON_GetObjectItem(tpl, "uriTemplate")->valuestring, "file:///{+path}");
    cJSON_Delete(list);
    expect_text(&t, "list_allowed_directories", NULL, F("Allowed directories:\n%s", g_root));
    ktc_close(&t);
}

static void test_setup_errors(void **state)
{
    (void)state;
    ktc_t t = {0};
    char err[256];
    mock_options_t none = {0};
    assert_int_equal(ktc_open(&t, &mock_kind_filesystem, &none, err, sizeof err), MCP_EINVAL);
    assert_string_equal(err, "filesystem: give 1..16 --root DIR (the allowed directories)");
    memset(&t, 0, sizeof t);
    mock_options_t missing = {.roots = {P("nope")}, .root_count = 1};
    assert_int_equal(ktc_open(&t, &mock_kind_filesystem, &missing, err, sizeof err), MCP_EINVAL);
    assert_string_equal(err, F("filesystem: --root %s: No such file or directory", P("nope")));
    memset(&t, 0, sizeof t);
    mock_options_t file = {.roots = {P("hello.txt")}, .root_count = 1};
    assert_int_equal(ktc_open(&t, &mock_kind_filesystem, &file, err, sizeof err), MCP_EINVAL);
    assert_string_equal(err, F("filesystem: --root %s: not a directory", P("hello.txt")));

    /* Two roots (one given with a trailing "/."): both listed, relative paths use the first. */
    memset(&t, 0, sizeof t);
    char second[PATH_MAX + 64];
    snprintf(second, sizeof second, "%s/outside/.", g_tmp);
    mock_options_t two = {.roots = {g_root, second}, .root_count = 2};
    assert_int_equal(ktc_open(&t, &mock_kind_filesystem, &two, err, sizeof err), 0);
    expect_text(&t, "list_allowed_directories", NULL,
                F("Allowed directories:\n%s\n%s/outside", g_root, g_tmp));
    expect_text(&t, "read_text_file", F("{\"path\":\"%s/outside/secret.txt\"}", g_tmp), "secret\n");
    ktc_expect_error(&t, "read_text_file", F("{\"path\":\"%s/x\"}", g_tmp),
                     F("Access denied - path outside allowed directories: %s/x not in %s, "
                       "%s/outside",
                       g_tmp, g_root, g_tmp));
    ktc_close(&t);
}

/* ---- read tools ---- */

static void test_read_text_file(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 0);
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\"}", P("hello.txt")), "hello\n");
    expect_text(&t, "read_file", F("{\"path\":\"%s\"}", P("hello.txt")), "hello\n");
    expect_text(&t, "read_text_file", "{\"path\":\"hello.txt\"}", "hello\n"); /* relative */
    expect_text(&t, "read_text_file", "{\"path\":\"data/../hello.txt\"}", "hello\n");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\"}", P("empty.txt")), "");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"head\":1}", P("hello.txt")), "hello");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"tail\":1}", P("hello.txt")), "");
    KEEP_PATH(nfn, "data/no-final-newline.txt");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"tail\":1}", nfn),
                "line three (no newline after me)");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"tail\":2}", nfn),
                "line two\nline three (no newline after me)");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"head\":2}", nfn), "line one\nline two");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"head\":9}", nfn),
                "line one\nline two\nline three (no newline after me)");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"tail\":9}", nfn),
                "line one\nline two\nline three (no newline after me)");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"head\":0,\"tail\":0}", nfn),
                "line one\nline two\nline three (no newline after me)");
    /* CRLF: the whole file and head keep \r (as Node does), tail normalises. */
    KEEP_PATH(win, "data/windows-lines.txt");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\"}", win),
                "first line\r\nsecond line\r\nthird line\r\n");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"head\":2}", win),
                "first line\r\nsecond line\r");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"tail\":2}", win), "third line\n");
    /* UTF-8 passes through; invalid bytes and NUL become U+FFFD. */
    char *menu = call_text(&t, "read_text_file", F("{\"path\":\"%s\"}", P("i18n/café-menü.txt")));
    assert_non_null(strstr(menu, "Kaffee \xE2\x80\xA6 2,50 \xE2\x82\xAC"));
    mcp_free(menu);
    spit(P("bad.txt"), "a\xFF"
                       "b\xE2\x82");
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\"}", P("bad.txt")),
                "a\xEF\xBF\xBD"
                "b\xEF\xBF\xBD");

    /* Errors. */
    ktc_expect_error(&t, "read_text_file", F("{\"path\":\"%s\",\"head\":1,\"tail\":1}", nfn),
                     "Cannot specify both head and tail parameters simultaneously");
    ktc_expect_error(&t, "read_text_file", F("{\"path\":\"%s\"}", P("nope.txt")),
                     F("ENOENT: no such file or directory, open '%s'", P("nope.txt")));
    ktc_expect_error(&t, "read_text_file", F("{\"path\":\"%s\"}", P("data")),
                     "EISDIR: illegal operation on a directory, read");
    ktc_expect_error(&t, "read_text_file", F("{\"path\":\"%s\"}", P("hello.txt/x")),
                     F("ENOTDIR: not a directory, realpath '%s'", P("hello.txt/x")));
    ktc_expect_error(
        &t, "read_text_file", "{}",
        ARG_ERR("read_text_file", "Invalid input: expected string, received undefined at path"));
    ktc_expect_error(
        &t, "read_file", "{\"path\":7}",
        ARG_ERR("read_file", "Invalid input: expected string, received number at path"));
    ktc_expect_error(
        &t, "read_text_file", F("{\"path\":\"%s\",\"head\":\"1\"}", nfn),
        ARG_ERR("read_text_file", "Invalid input: expected number, received string at head"));
    ktc_expect_error(
        &t, "read_text_file", F("{\"path\":\"%s\",\"tail\":null}", nfn),
        ARG_ERR("read_text_file", "Invalid input: expected number, received null at tail"));
    ktc_close(&t);
}

static void check_media(ktc_t *t, const char *rel, const char *type, const char *mime)
{
    cJSON *r = ktc_call(t, "read_media_file", F("{\"path\":\"%s\"}", P(rel)));
    assert_false(ktc_is_error(r));
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "content"), 0);
    const cJSON *sc = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(r, "structuredContent"), "content"), 0);
    assert_true(cJSON_Compare(item, sc, 1));
    assert_string_equal(cJSON_GetObjectItem(item, "type")->valuestring, type);
    char *want = file_b64(P(rel));
    if (strcmp(type, "resource") == 0) {
        const cJSON *res = cJSON_GetObjectItem(item, "resource");
        assert_string_equal(cJSON_GetObjectItem(res, "uri")->valuestring, F("file://%s", P(rel)));
        assert_string_equal(cJSON_GetObjectItem(res, "mimeType")->valuestring, mime);
        assert_string_equal(cJSON_GetObjectItem(res, "blob")->valuestring, want);
    } else {
        assert_string_equal(cJSON_GetObjectItem(item, "mimeType")->valuestring, mime);
        assert_string_equal(cJSON_GetObjectItem(item, "data")->valuestring, want);
    }
    mcp_free(want);
    cJSON_Delete(r);
}

static void test_read_media_file(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 0);
    check_media(&t, "images/pixel.png", "image", "image/png");
    check_media(&t, "images/kestrel-16.png", "image", "image/png");
    check_media(&t, "audio/beep.wav", "audio", "audio/wav");
    check_media(&t, "bin/blob.dat", "resource", "application/octet-stream");
    check_media(&t, "hello.txt", "resource", "application/octet-stream");
    /* The 70-byte pixel, spelled out once. */
    cJSON *r = ktc_call(&t, "read_media_file", F("{\"path\":\"%s\"}", P("images/pixel.png")));
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "content"), 0);
    assert_string_equal(cJSON_GetObjectItem(item, "data")->valuestring,
                        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP4z8DwHwAFAAH/"
                        "VscvDQAAAABJRU5ErkJggg==");
    cJSON_Delete(r);
    ktc_expect_error(&t, "read_media_file", F("{\"path\":\"%s\"}", P("images/nope.png")),
                     F("ENOENT: no such file or directory, open '%s'", P("images/nope.png")));
    ktc_expect_error(
        &t, "read_media_file", "{\"path\":\"/etc/passwd\"}",
        F("Access denied - path outside allowed directories: /etc/passwd not in %s", g_root));
    ktc_close(&t);
}

static void test_read_multiple_files(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 0);
    expect_text(&t, "read_multiple_files",
                F("{\"paths\":[\"%s\",\"%s\",\"../outside/secret.txt\",\"data\"]}", P("hello.txt"),
                  P("nope.txt")),
                F("%s:\nhello\n\n\n---\n%s: Error - ENOENT: no such file or directory, open "
                  "'%s'\n---\n../outside/secret.txt: Error - Access denied - path outside allowed "
                  "directories: %s/outside/secret.txt not in %s\n---\ndata: Error - EISDIR: "
                  "illegal operation on a directory, read",
                  P("hello.txt"), P("nope.txt"), P("nope.txt"), g_tmp, g_root));
    expect_text(&t, "read_multiple_files", "{\"paths\":[\"hello.txt\",\"empty.txt\"]}",
                "hello.txt:\nhello\n\n\n---\nempty.txt:\n\n");
    ktc_expect_error(
        &t, "read_multiple_files", "{\"paths\":[]}",
        ARG_ERR("read_multiple_files", "Too small: expected array to have >=1 items at paths"));
    ktc_expect_error(&t, "read_multiple_files", "{\"paths\":[\"a\",1]}",
                     ARG_ERR("read_multiple_files",
                             "Invalid input: expected string, received number at paths.1"));
    ktc_expect_error(
        &t, "read_multiple_files", "{\"paths\":\"hello.txt\"}",
        ARG_ERR("read_multiple_files", "Invalid input: expected array, received string at paths"));
    ktc_close(&t);
}

/* ---- listings ---- */

static void test_list_directory(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 0);
    expect_text(&t, "list_directory", F("{\"path\":\"%s\"}", g_root),
                "[DIR] audio\n[DIR] bin\n[DIR] data\n[DIR] docs\n[FILE] empty.txt\n[FILE] "
                "hello.txt\n[DIR] i18n\n[DIR] images\n[DIR] notes");
    expect_text(&t, "list_directory", "{\"path\":\"notes\"}", "[DIR] 2026\n[FILE] todo.md");
    assert_int_equal(mkdir(P("void"), 0755), 0);
    expect_text(&t, "list_directory", "{\"path\":\"void\"}", "");
    assert_int_equal(symlink("hello.txt", P("link.txt")), 0);
    assert_int_equal(symlink("data", P("link-dir")), 0);
    expect_text(&t, "list_directory", F("{\"path\":\"%s\"}", g_root),
                "[DIR] audio\n[DIR] bin\n[DIR] data\n[DIR] docs\n[FILE] empty.txt\n[FILE] "
                "hello.txt\n[DIR] i18n\n[DIR] images\n[FILE] link-dir\n[FILE] link.txt\n[DIR] "
                "notes\n[DIR] void");
    /* A symlinked directory inside the root resolves to its target. */
    expect_text(&t, "list_directory", "{\"path\":\"link-dir\"}",
                "[FILE] config.json\n[FILE] inventory.csv\n[FILE] no-final-newline.txt\n[FILE] "
                "windows-lines.txt");
    ktc_expect_error(&t, "list_directory", F("{\"path\":\"%s\"}", P("hello.txt")),
                     F("ENOTDIR: not a directory, scandir '%s'", P("hello.txt")));
    ktc_expect_error(&t, "list_directory", F("{\"path\":\"%s\"}", P("nope")),
                     F("ENOENT: no such file or directory, scandir '%s'", P("nope")));
    ktc_close(&t);
}

static void test_list_directory_with_sizes(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 0);
    expect_text(&t, "list_directory_with_sizes", "{\"path\":\"data\"}",
                "[FILE] config.json                         124 B\n"
                "[FILE] inventory.csv                       267 B\n"
                "[FILE] no-final-newline.txt                 50 B\n"
                "[FILE] windows-lines.txt                    37 B\n"
                "\nTotal: 4 files, 0 directories\nCombined size: 478 B");
    expect_text(&t, "list_directory_with_sizes", "{\"path\":\"data\",\"sortBy\":\"size\"}",
                "[FILE] inventory.csv                       267 B\n"
                "[FILE] config.json                         124 B\n"
                "[FILE] no-final-newline.txt                 50 B\n"
                "[FILE] windows-lines.txt                    37 B\n"
                "\nTotal: 4 files, 0 directories\nCombined size: 478 B");
    /* KB with toFixed(2) rounding (1152 / 1024 = 1.125 -> "1.13"), case-insensitive names,
     * directories without a size, an empty directory. */
    char big[1537];
    memset(big, 'x', sizeof big - 1);
    big[1536] = '\0';
    assert_int_equal(mkdir(P("sz"), 0755), 0);
    spit(P("sz/B.txt"), big);
    big[1152] = '\0';
    spit(P("sz/a.txt"), big);
    assert_int_equal(mkdir(P("sz/Sub"), 0755), 0);
    expect_text(&t, "list_directory_with_sizes", "{\"path\":\"sz\"}",
                "[FILE] a.txt                             1.13 KB\n"
                "[FILE] B.txt                             1.50 KB\n"
                "[DIR] Sub                            \n"
                "\nTotal: 2 files, 1 directories\nCombined size: 2.63 KB");
    expect_text(&t, "list_directory_with_sizes", "{\"path\":\"notes/2026/november\"}",
                "[FILE] standup.md                          199 B\n"
                "\nTotal: 1 files, 0 directories\nCombined size: 199 B");
    assert_int_equal(mkdir(P("void"), 0755), 0);
    expect_text(&t, "list_directory_with_sizes", "{\"path\":\"void\"}",
                "\nTotal: 0 files, 0 directories\nCombined size: 0 B");
    ktc_expect_error(&t, "list_directory_with_sizes", "{\"path\":\"data\",\"sortBy\":\"date\"}",
                     ARG_ERR("list_directory_with_sizes",
                             "Invalid option: expected one of \"name\"|\"size\" at sortBy"));
    ktc_close(&t);
}

static void test_directory_tree(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 0);
    expect_text(&t, "directory_tree", "{\"path\":\"notes\"}",
                "[\n"
                "  {\n"
                "    \"name\": \"2026\",\n"
                "    \"type\": \"directory\",\n"
                "    \"children\": [\n"
                "      {\n"
                "        \"name\": \"november\",\n"
                "        \"type\": \"directory\",\n"
                "        \"children\": [\n"
                "          {\n"
                "            \"name\": \"standup.md\",\n"
                "            \"type\": \"file\"\n"
                "          }\n"
                "        ]\n"
                "      }\n"
                "    ]\n"
                "  },\n"
                "  {\n"
                "    \"name\": \"todo.md\",\n"
                "    \"type\": \"file\"\n"
                "  }\n"
                "]");
    /* A plain name excludes that entry anywhere; a '*' pattern is matched as it is. */
    expect_text(&t, "directory_tree", "{\"path\":\"notes\",\"excludePatterns\":[\"november\"]}",
                "[\n  {\n    \"name\": \"2026\",\n    \"type\": \"directory\",\n    \"children\": "
                "[]\n  },\n  {\n    \"name\": \"todo.md\",\n    \"type\": \"file\"\n  }\n]");
    expect_text(&t, "directory_tree", "{\"path\":\"notes\",\"excludePatterns\":[\"**/*.md\"]}",
                "[\n  {\n    \"name\": \"2026\",\n    \"type\": \"directory\",\n    \"children\": "
                "[\n      {\n        \"name\": \"november\",\n        \"type\": \"directory\",\n   "
                "     \"children\": []\n      }\n    ]\n  }\n]");
    expect_text(&t, "directory_tree", "{\"path\":\"notes\",\"excludePatterns\":[\"*\"]}", "[]");
    /* Names are JSON-escaped. */
    assert_int_equal(mkdir(P("q"), 0755), 0);
    spit(P("q/say \"hi\"\\.txt"), "");
    expect_text(
        &t, "directory_tree", "{\"path\":\"q\"}",
        "[\n  {\n    \"name\": \"say \\\"hi\\\"\\\\.txt\",\n    \"type\": \"file\"\n  }\n]");
    ktc_expect_error(&t, "directory_tree", "{\"path\":\"hello.txt\"}",
                     F("ENOTDIR: not a directory, scandir '%s'", P("hello.txt")));
    ktc_expect_error(&t, "directory_tree", "{\"path\":\"notes\",\"excludePatterns\":\"x\"}",
                     ARG_ERR("directory_tree",
                             "Invalid input: expected array, received string at excludePatterns"));
    ktc_close(&t);
}

static void test_search_files(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 0);
    expect_text(&t, "search_files", F("{\"path\":\"%s\",\"pattern\":\"**/*.md\"}", g_root),
                F("%s\n%s\n%s\n%s", P("docs/guide/faq.md"), P("docs/guide/getting-started.md"),
                  P("notes/2026/november/standup.md"), P("notes/todo.md")));
    expect_text(&t, "search_files", "{\"path\":\".\",\"pattern\":\"*.txt\"}",
                F("%s\n%s", P("empty.txt"), P("hello.txt")));
    expect_text(&t, "search_files", "{\"path\":\"\",\"pattern\":\"*.md\"}", "No matches found");
    expect_text(&t, "search_files", "{\"path\":\"notes\",\"pattern\":\"**/*.{md,csv}\"}",
                F("%s\n%s", P("notes/2026/november/standup.md"), P("notes/todo.md")));
    /* Directories match too; an excluded directory is not entered. */
    expect_text(&t, "search_files",
                "{\"path\":\"\",\"pattern\":\"**/g*\",\"excludePatterns\":[\"i18n\"]}",
                F("%s\n%s", P("docs/guide"), P("docs/guide/getting-started.md")));
    expect_text(&t, "search_files",
                "{\"path\":\"\",\"pattern\":\"**/*.md\",\"excludePatterns\":[\"docs\",\"**/"
                "standup.md\"]}",
                P("notes/todo.md"));
    expect_text(&t, "search_files", "{\"path\":\"i18n\",\"pattern\":\"caf?-men?.txt\"}",
                P("i18n/café-menü.txt"));
    ktc_expect_error(&t, "search_files", "{\"path\":\"nope\",\"pattern\":\"*\"}",
                     F("ENOENT: no such file or directory, scandir '%s'", P("nope")));
    ktc_expect_error(
        &t, "search_files", "{\"path\":\"data\"}",
        ARG_ERR("search_files", "Invalid input: expected string, received undefined at pattern"));
    ktc_close(&t);
}

static void test_get_file_info(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    struct timespec times[2] = {{1700000000, 0}, {1700000123, 0}}; /* atime, mtime */
    assert_int_equal(utimensat(AT_FDCWD, P("empty.txt"), times, 0), 0);
    ktc_t t;
    open_fs(&t, 0);
    char *text = call_text(&t, "get_file_info", F("{\"path\":\"%s\"}", P("empty.txt")));
    assert_true(strncmp(text, "size: 0\ncreated: ", 17) == 0);
    assert_non_null(strstr(text, "\nmodified: Tue Nov 14 2023 22:15:23 GMT+0000 (Coordinated "
                                 "Universal Time)\naccessed: Tue Nov 14 2023 22:13:20 GMT+0000 "
                                 "(Coordinated Universal Time)\nisDirectory: false\nisFile: "
                                 "true\npermissions: 644"));
    mcp_free(text);
    assert_int_equal(chmod(P("notes"), 0750), 0);
    text = call_text(&t, "get_file_info", "{\"path\":\"notes\"}");
    assert_non_null(strstr(text, "\nisDirectory: true\nisFile: false\npermissions: 750"));
    mcp_free(text);
    text = call_text(&t, "get_file_info", "{\"path\":\"hello.txt\"}");
    assert_true(strncmp(text, "size: 6\n", 8) == 0);
    mcp_free(text);
    ktc_expect_error(&t, "get_file_info", "{\"path\":\"nope\"}",
                     F("ENOENT: no such file or directory, stat '%s'", P("nope")));
    ktc_close(&t);
}

/* ---- the sandbox ---- */

static void test_sandbox(void **state)
{
    (void)state;
    assert_int_equal(symlink("/etc/passwd", P("passwd-link")), 0);
    assert_int_equal(symlink("/etc", P("etc-dir")), 0);
    assert_int_equal(symlink("/nonexistent/target", P("dangling")), 0);
    assert_int_equal(symlink("../outside", P("out-dir")), 0);
    ktc_t t;
    open_fs(&t, 1);
    ktc_expect_error(&t, "read_text_file", "{\"path\":\"../outside/secret.txt\"}",
                     F(DENY, F("%s/outside/secret.txt", g_tmp), g_root));
    ktc_expect_error(&t, "read_text_file", F("{\"path\":\"%s/../outside/secret.txt\"}", g_root),
                     F(DENY, F("%s/outside/secret.txt", g_tmp), g_root));
    ktc_expect_error(&t, "read_text_file", "{\"path\":\"/etc/passwd\"}",
                     F(DENY, "/etc/passwd", g_root));
    ktc_expect_error(&t, "list_directory", "{\"path\":\"/\"}", F(DENY, "/", g_root));
    ktc_expect_error(&t, "read_text_file", F("{\"path\":\"%s-evil/x\"}", g_root),
                     F(DENY, F("%s-evil/x", g_root), g_root));
    setenv("HOME", F("%s/home", g_tmp), 1); /* "~" expands to $HOME, outside the root */
    ktc_expect_error(&t, "read_text_file", "{\"path\":\"~/x\"}",
                     F(DENY, F("%s/home/x", g_tmp), g_root));
    ktc_expect_error(&t, "read_text_file", "{\"path\":\"C:\\\\Users\\\\x\"}",
                     "Access denied - Windows-style path received on a POSIX host: C:\\Users\\x");
    /* Links that lead out, to a file and to a directory. */
    ktc_expect_error(&t, "read_text_file", "{\"path\":\"passwd-link\"}",
                     F(LINK_DENY, "/etc/passwd", g_root));
    ktc_expect_error(&t, "list_directory", "{\"path\":\"etc-dir\"}", F(LINK_DENY, "/etc", g_root));
    ktc_expect_error(&t, "read_text_file", "{\"path\":\"etc-dir/passwd\"}",
                     F(LINK_DENY, "/etc/passwd", g_root));
    ktc_expect_error(&t, "read_text_file", "{\"path\":\"out-dir/secret.txt\"}",
                     F(LINK_DENY, F("%s/outside/secret.txt", g_tmp), g_root));
    /* A path that does not exist yet below a link that leads out: the parent is checked. */
    ktc_expect_error(&t, "write_file", "{\"path\":\"etc-dir/evil.txt\",\"content\":\"x\"}",
                     F(PARENT_DENY, "/etc", g_root));
    ktc_expect_error(&t, "create_directory", "{\"path\":\"etc-dir/new/deeper\"}",
                     F(PARENT_DENY, "/etc", g_root));
    ktc_expect_error(&t, "write_file", "{\"path\":\"out-dir/new.txt\",\"content\":\"x\"}",
                     F(PARENT_DENY, F("%s/outside", g_tmp), g_root));
    ktc_expect_error(&t, "write_file", "{\"path\":\"dangling\",\"content\":\"x\"}",
                     F("Parent directory does not exist: %s", g_root));
    ktc_expect_error(&t, "move_file", "{\"source\":\"hello.txt\",\"destination\":\"../h.txt\"}",
                     F(DENY, F("%s/h.txt", g_tmp), g_root));
    ktc_expect_error(&t, "move_file",
                     "{\"source\":\"hello.txt\",\"destination\":\"out-dir/h.txt\"}",
                     F(PARENT_DENY, F("%s/outside", g_tmp), g_root));
    ktc_expect_error(&t, "move_file", "{\"source\":\"passwd-link\",\"destination\":\"p.txt\"}",
                     F(LINK_DENY, "/etc/passwd", g_root));
    /* Nothing got out. */
    assert_int_equal(access("/etc/evil.txt", F_OK), -1);
    assert_int_equal(access(F("%s/outside/new.txt", g_tmp), F_OK), -1);
    assert_int_equal(access(F("%s/h.txt", g_tmp), F_OK), -1);
    assert_string_equal(slurp(P("hello.txt")), "hello\n");
    /* Walks skip links that lead out; directory_tree shows links as files (as the reference). */
    expect_text(&t, "search_files", "{\"path\":\"\",\"pattern\":\"*\"}",
                F("%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s", P("audio"), P("bin"), P("data"), P("docs"),
                  P("empty.txt"), P("hello.txt"), P("i18n"), P("images"), P("notes")));
    char *tree = call_text(&t, "directory_tree", "{\"path\":\"\",\"excludePatterns\":[\"**\"]}");
    assert_string_equal(tree, "[]");
    mcp_free(tree);
    tree = call_text(&t, "directory_tree", "{\"path\":\"\"}");
    assert_non_null(strstr(tree, "\"name\": \"etc-dir\",\n    \"type\": \"file\"\n"));
    assert_null(strstr(tree, "passwd\""));
    mcp_free(tree);
    /* Resources: outside paths and links out are refused. */
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", "file:///etc/passwd");
    int code = 0;
    assert_null(ktc_request(&t, "resources/read", params, &code));
    assert_int_equal(code, JSONRPC_INVALID_PARAMS);
    assert_string_equal(t.last_error, F(DENY, "/etc/passwd", g_root));
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", F("file://%s", P("passwd-link")));
    assert_null(ktc_request(&t, "resources/read", params, &code));
    assert_string_equal(t.last_error, F(LINK_DENY, "/etc/passwd", g_root));
    ktc_close(&t);
}

/* ---- writes ---- */

static void test_read_only(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 0);
    ktc_expect_error(&t, "write_file", "{\"path\":\"hello.txt\",\"content\":\"x\"}",
                     RO_TEXT("write_file"));
    ktc_expect_error(&t, "edit_file",
                     "{\"path\":\"hello.txt\",\"edits\":[{\"oldText\":\"hello\",\"newText\":"
                     "\"hi\"}]}",
                     RO_TEXT("edit_file"));
    ktc_expect_error(&t, "create_directory", "{\"path\":\"newdir\"}", RO_TEXT("create_directory"));
    ktc_expect_error(&t, "move_file", "{\"source\":\"hello.txt\",\"destination\":\"h.txt\"}",
                     RO_TEXT("move_file"));
    /* A dry run writes nothing, so it is allowed. */
    char *diff = call_text(&t, "edit_file",
                           "{\"path\":\"hello.txt\",\"dryRun\":true,\"edits\":[{\"oldText\":"
                           "\"hello\",\"newText\":\"hi\"}]}");
    assert_non_null(strstr(diff, "-hello\n+hi\n"));
    mcp_free(diff);
    assert_string_equal(slurp(P("hello.txt")), "hello\n");
    assert_int_equal(access(P("newdir"), F_OK), -1);
    assert_int_equal(access(P("h.txt"), F_OK), -1);
    ktc_close(&t);
}

static void test_write_file(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 1);
    expect_text(&t, "write_file", F("{\"path\":\"%s\",\"content\":\"new\\nfile\"}", P("c.txt")),
                F("Successfully wrote to %s", P("c.txt")));
    assert_string_equal(slurp(P("c.txt")), "new\nfile");
    /* Overwrite: content replaced, permission bits kept. */
    assert_int_equal(chmod(P("hello.txt"), 0600), 0);
    expect_text(&t, "write_file", "{\"path\":\"hello.txt\",\"content\":\"bye \\u20ac\"}",
                "Successfully wrote to hello.txt");
    assert_string_equal(slurp(P("hello.txt")), "bye \xE2\x82\xAC");
    struct stat sb;
    assert_int_equal(stat(P("hello.txt"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    expect_text(&t, "write_file", "{\"path\":\"empty.txt\",\"content\":\"\"}",
                "Successfully wrote to empty.txt");
    assert_string_equal(slurp(P("empty.txt")), "");
    /* No temporary files left behind. */
    expect_text(&t, "search_files", "{\"path\":\"\",\"pattern\":\"**/*.tmp\"}", "No matches found");
    ktc_expect_error(&t, "write_file", "{\"path\":\"nodir/x.txt\",\"content\":\"x\"}",
                     F("ENOENT: no such file or directory, open '%s'", P("nodir/x.txt")));
    ktc_expect_error_contains(&t, "write_file", "{\"path\":\"data\",\"content\":\"x\"}",
                              "EISDIR: illegal operation on a directory, rename '");
    expect_text(&t, "search_files", "{\"path\":\"\",\"pattern\":\"**/*.tmp\"}", "No matches found");
    ktc_expect_error(
        &t, "write_file", "{\"path\":\"x.txt\"}",
        ARG_ERR("write_file", "Invalid input: expected string, received undefined at content"));
    ktc_close(&t);
}

static void test_edit_file(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 1);
    KEEP_PATH(hello, "hello.txt");
    /* The example of MCP-BRIEF 3.1, dry run first. */
    const char *expected =
        F("```diff\n%s@@ -1,1 +1,1 @@\n-hello\n+hi\n```\n\n", F(HDR, hello, hello, hello));
    expect_text(&t, "edit_file",
                F("{\"path\":\"%s\",\"edits\":[{\"oldText\":\"hello\",\"newText\":\"hi\"}],"
                  "\"dryRun\":true}",
                  hello),
                expected);
    assert_string_equal(slurp(hello), "hello\n");
    expect_text(
        &t, "edit_file",
        F("{\"path\":\"%s\",\"edits\":[{\"oldText\":\"hello\",\"newText\":\"hi\"}]}", hello),
        expected);
    assert_string_equal(slurp(hello), "hi\n");

    /* Two edits in one call (jsdiff's hunk, checked against diff 8.0.3). */
    KEEP_PATH(todo, "notes/todo.md");
    expect_text(&t, "edit_file",
                F("{\"path\":\"%s\",\"edits\":[{\"oldText\":\"- [x] Count the puzzle shelf\","
                  "\"newText\":\"- [x] Count the puzzle shelves\"},{\"oldText\":\"- [ ] Book the "
                  "van for the Reno warehouse run\",\"newText\":\"- [x] Book the van for the Reno "
                  "warehouse run\\n- [ ] Return the van\"}]}",
                  todo),
                F("```diff\n%s@@ -1,6 +1,7 @@\n # To do\n \n-- [x] Count the puzzle shelf\n+- [x] "
                  "Count the puzzle shelves\n - [ ] Reorder the Deluxe Magic Kit (product 123, "
                  "\"abracadabra\")\n - [ ] Ask Tomas about the low stock badge\n-- [ ] Book the "
                  "van for the Reno warehouse run\n+- [x] Book the van for the Reno warehouse "
                  "run\n+- [ ] Return the van\n```\n\n",
                  F(HDR, todo, todo, todo)));
    assert_non_null(strstr(slurp(todo), "- [ ] Return the van\n"));

    /* No final newline. */
    KEEP_PATH(nfn, "data/no-final-newline.txt");
    expect_text(&t, "edit_file",
                F("{\"path\":\"%s\",\"edits\":[{\"oldText\":\"line three\",\"newText\":\"line "
                  "3\"}]}",
                  nfn),
                F("```diff\n%s@@ -1,3 +1,3 @@\n line one\n line two\n-line three (no newline "
                  "after me)\n\\ No newline at end of file\n+line 3 (no newline after me)\n\\ No "
                  "newline at end of file\n```\n\n",
                  F(HDR, nfn, nfn, nfn)));

    /* CRLF: matched and written back with LF (as the reference). */
    KEEP_PATH(win, "data/windows-lines.txt");
    expect_text(&t, "edit_file",
                F("{\"path\":\"%s\",\"edits\":[{\"oldText\":\"second line\\r\\n\",\"newText\":"
                  "\"2nd line\\r\\n\"}]}",
                  win),
                F("```diff\n%s@@ -1,3 +1,3 @@\n first line\n-second line\n+2nd line\n third "
                  "line\n```\n\n",
                  F(HDR, win, win, win)));
    assert_string_equal(slurp(win), "first line\n2nd line\nthird line\n");

    /* Whitespace-tolerant matching keeps the file's indentation. */
    KEEP_PATH(cfg, "data/config.json");
    expect_text(&t, "edit_file",
                F("{\"path\":\"%s\",\"edits\":[{\"oldText\":\"\\\"currency\\\": \\\"USD\\\",\","
                  "\"newText\":\"\\\"currency\\\": \\\"EUR\\\",\"}]}",
                  cfg),
                F("```diff\n%s@@ -1,6 +1,6 @@\n {\n   \"shop\": \"Kestrel Toys & Games\",\n-  "
                  "\"currency\": \"USD\",\n+  \"currency\": \"EUR\",\n   \"warehouses\": "
                  "[\"Portland\", \"Reno\"],\n   \"low_stock_alerts\": true\n }\n```\n\n",
                  F(HDR, cfg, cfg, cfg)));
    spit(P("code.py"), "def f():\n    if x:\n        return 1\n    return 2\n");
    char *d = call_text(&t, "edit_file",
                        "{\"path\":\"code.py\",\"edits\":[{\"oldText\":\"if x:\\n    return "
                        "1\",\"newText\":\"if y:\\n      return 3\"}]}");
    mcp_free(d);
    assert_string_equal(slurp(P("code.py")), "def f():\n    if y:\n      return 3\n    return 2\n");

    /* Backticks in the diff lengthen the fence. */
    spit(P("md.md"), "```c\nx\n```\n");
    d = call_text(&t, "edit_file",
                  "{\"path\":\"md.md\",\"dryRun\":true,\"edits\":[{\"oldText\":\"x\","
                  "\"newText\":\"y\"}]}");
    assert_true(strncmp(d, "````diff\nIndex: ", 16) == 0);
    assert_non_null(strstr(d, " ```\n````\n\n"));
    mcp_free(d);

    /* No change: only the header. */
    expect_text(&t, "edit_file",
                F("{\"path\":\"%s\",\"edits\":[{\"oldText\":\"hi\",\"newText\":\"hi\"}]}", hello),
                F("```diff\n%s```\n\n", F(HDR, hello, hello, hello)));

    ktc_expect_error(&t, "edit_file",
                     F("{\"path\":\"%s\",\"edits\":[{\"oldText\":\"hi\",\"newText\":\"ho\"},{"
                       "\"oldText\":\"zzz\\r\\n\",\"newText\":\"y\"}]}",
                       hello),
                     "Could not find exact match for edit:\nzzz\r\n");
    assert_string_equal(slurp(hello), "hi\n"); /* all or nothing */
    ktc_expect_error(&t, "edit_file", "{\"path\":\"nope.txt\",\"edits\":[]}",
                     F("ENOENT: no such file or directory, open '%s'", P("nope.txt")));
    ktc_expect_error(&t, "edit_file", "{\"path\":\"hello.txt\",\"edits\":[{\"oldText\":\"a\"}]}",
                     ARG_ERR("edit_file", "Invalid input: expected string, received undefined at "
                                          "edits.0.newText"));
    ktc_expect_error(
        &t, "edit_file", "{\"path\":\"hello.txt\",\"edits\":[],\"dryRun\":1}",
        ARG_ERR("edit_file", "Invalid input: expected boolean, received number at dryRun"));
    ktc_close(&t);
}

static void test_create_directory(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 1);
    expect_text(&t, "create_directory", "{\"path\":\"a/b/c\"}",
                "Successfully created directory a/b/c");
    struct stat sb;
    assert_int_equal(stat(P("a/b/c"), &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    expect_text(&t, "create_directory", F("{\"path\":\"%s\"}", P("a/b")),
                F("Successfully created directory %s", P("a/b")));
    expect_text(&t, "create_directory", F("{\"path\":\"%s\"}", g_root),
                F("Successfully created directory %s", g_root));
    ktc_expect_error(&t, "create_directory", "{\"path\":\"hello.txt\"}",
                     F("EEXIST: file already exists, mkdir '%s'", P("hello.txt")));
    ktc_expect_error(&t, "create_directory", "{\"path\":\"hello.txt/sub\"}",
                     F("ENOTDIR: not a directory, realpath '%s'", P("hello.txt/sub")));
    ktc_close(&t);
}

static void test_move_file(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 1);
    expect_text(&t, "move_file", "{\"source\":\"hello.txt\",\"destination\":\"notes/h.txt\"}",
                "Successfully moved hello.txt to notes/h.txt");
    assert_int_equal(access(P("hello.txt"), F_OK), -1);
    assert_string_equal(slurp(P("notes/h.txt")), "hello\n");
    expect_text(&t, "move_file",
                F("{\"source\":\"%s\",\"destination\":\"%s\"}", P("docs"), P("d2")),
                F("Successfully moved %s to %s", P("docs"), P("d2")));
    assert_int_equal(access(P("d2/guide/faq.md"), F_OK), 0);
    ktc_expect_error(&t, "move_file",
                     "{\"source\":\"empty.txt\",\"destination\":\"notes/todo.md\"}",
                     F("Destination already exists: %s", P("notes/todo.md")));
    assert_string_equal(slurp(P("empty.txt")), "");
    ktc_expect_error(
        &t, "move_file", "{\"source\":\"nope.txt\",\"destination\":\"n2.txt\"}",
        F("ENOENT: no such file or directory, rename '%s' -> '%s'", P("nope.txt"), P("n2.txt")));
    ktc_expect_error(
        &t, "move_file", "{\"source\":\"empty.txt\"}",
        ARG_ERR("move_file", "Invalid input: expected string, received undefined at destination"));
    ktc_close(&t);
}

/* ---- limits ---- */

static void test_read_limit(void **state)
{
    (void)state;
    ktc_t t;
    open_fs(&t, 1);
    mock_filesystem_set_max_read(t.state, 100);
    KEEP_PATH(inv, "data/inventory.csv");
    ktc_expect_error(&t, "read_text_file", F("{\"path\":\"%s\"}", inv),
                     F("File too large: %s is 267 bytes" LIMIT_TAIL, inv));
    ktc_expect_error(&t, "read_media_file", F("{\"path\":\"%s\"}", P("audio/beep.wav")),
                     F("File too large: %s is 1004 bytes" LIMIT_TAIL, P("audio/beep.wav")));
    ktc_expect_error(&t, "edit_file", F("{\"path\":\"%s\",\"edits\":[],\"dryRun\":true}", inv),
                     F("File too large: %s is 267 bytes" LIMIT_TAIL, inv));
    /* head and tail read only what they need. */
    expect_text(&t, "read_text_file", F("{\"path\":\"%s\",\"head\":1}", inv),
                "product_id,name,warehouse,on_hand,reorder_point");
    char *last = call_text(&t, "read_text_file", F("{\"path\":\"%s\",\"tail\":1}", inv));
    assert_string_equal(last, "");
    mcp_free(last);
    ktc_expect_error_contains(&t, "read_text_file", F("{\"path\":\"%s\",\"head\":9}", inv),
                              F("File too large: %s holds more than 100 bytes", inv));
    /* read_multiple_files shares one budget: 50 + 50 bytes fit, a third file does not. */
    expect_text(&t, "read_multiple_files",
                "{\"paths\":[\"data/no-final-newline.txt\",\"data/no-final-newline.txt\","
                "\"hello.txt\"]}",
                F("data/no-final-newline.txt:\nline one\nline two\nline three (no newline after "
                  "me)\n\n---\ndata/no-final-newline.txt:\nline one\nline two\nline three (no "
                  "newline after me)\n\n---\nhello.txt: Error - Error: reading %s would pass the "
                  "100 bytes one read_multiple_files call returns (MCP_MOCK_FS_MAX_READ)",
                  P("hello.txt")));
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", F("file://%s", inv));
    int code = 0;
    assert_null(ktc_request(&t, "resources/read", params, &code));
    assert_int_equal(code, JSONRPC_INVALID_PARAMS);
    assert_string_equal(t.last_error, F("File too large: %s is 267 bytes" LIMIT_TAIL, inv));
    mock_filesystem_set_max_read(t.state, 0); /* back to the default */
    char *all = call_text(&t, "read_text_file", F("{\"path\":\"%s\"}", inv));
    assert_int_equal(strlen(all), 267);
    mcp_free(all);
    ktc_close(&t);
}

/* ---- resources ---- */

static void test_resources(void **state)
{
    (void)state;
    ktc_t t;
    mock_options_t opts = {.roots = {g_root}, .root_count = 1, .page_size = 5};
    char err[256];
    memset(&t, 0, sizeof t);
    assert_int_equal(ktc_open(&t, &mock_kind_filesystem, &opts, err, sizeof err), 0);
    assert_int_equal(symlink("hello.txt", P("zz-link")), 0); /* links are not listed */
    static const char *const files[] = {"audio/beep.wav",
                                        "bin/blob.dat",
                                        "data/config.json",
                                        "data/inventory.csv",
                                        "data/no-final-newline.txt",
                                        "data/windows-lines.txt",
                                        "docs/guide/faq.md",
                                        "docs/guide/getting-started.md",
                                        "empty.txt",
                                        "hello.txt",
                                        "i18n/café-menü.txt",
                                        "i18n/greetings.txt",
                                        "images/kestrel-16.png",
                                        "images/pixel.png",
                                        "notes/2026/november/standup.md",
                                        "notes/todo.md"};
    size_t seen = 0, pages = 0;
    char *cursor = NULL;
    do {
        cJSON *params = cJSON_CreateObject();
        if (cursor)
            cJSON_AddStringToObject(params, "cursor", cursor);
        mcp_free(cursor);
        cursor = NULL;
        cJSON *r = ktc_request(&t, "resources/list", params, NULL);
        assert_non_null(r);
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItem(r, "resources"))
        {
            assert_true(seen < 16);
            assert_string_equal(cJSON_GetObjectItem(item, "name")->valuestring, files[seen]);
            seen++;
        }
        const cJSON *next = cJSON_GetObjectItem(r, "nextCursor");
        if (next)
            cursor = mcp_strdup(next->valuestring);
        if (pages == 0) {
            const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "resources"), 0);
            assert_string_equal(cJSON_GetObjectItem(first, "uri")->valuestring,
                                F("file://%s", P("audio/beep.wav")));
            assert_string_equal(cJSON_GetObjectItem(first, "mimeType")->valuestring, "audio/wav");
            assert_int_equal(cJSON_GetObjectItem(first, "size")->valueint, 1004);
        }
        pages++;
        cJSON_Delete(r);
    } while (cursor);
    assert_int_equal(seen, 16);
    assert_int_equal(pages, 4);

    /* The UTF-8 name is percent-encoded in the URI and decoded by the template. */
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", F("file://%s/i18n/caf%%C3%%A9-men%%C3%%BC.txt", g_root));
    cJSON *r = ktc_request(&t, "resources/read", params, NULL);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "mimeType")->valuestring, "text/plain");
    assert_non_null(strstr(cJSON_GetObjectItem(c, "text")->valuestring, "Kuchen"));
    cJSON_Delete(r);

    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", F("file://%s", P("hello.txt")));
    r = ktc_request(&t, "resources/read", params, NULL);
    c = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "uri")->valuestring, F("file://%s", P("hello.txt")));
    assert_string_equal(cJSON_GetObjectItem(c, "text")->valuestring, "hello\n");
    cJSON_Delete(r);

    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", F("file://%s", P("images/pixel.png")));
    r = ktc_request(&t, "resources/read", params, NULL);
    c = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "mimeType")->valuestring, "image/png");
    char *want = file_b64(P("images/pixel.png"));
    assert_string_equal(cJSON_GetObjectItem(c, "blob")->valuestring, want);
    assert_null(cJSON_GetObjectItem(c, "text"));
    mcp_free(want);
    cJSON_Delete(r);

    /* Unknown extension: text when UTF-8 without NUL, else a blob. */
    spit(P("README"), "plain words\n");
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", F("file://%s", P("README")));
    r = ktc_request(&t, "resources/read", params, NULL);
    c = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "mimeType")->valuestring, "text/plain");
    assert_string_equal(cJSON_GetObjectItem(c, "text")->valuestring, "plain words\n");
    cJSON_Delete(r);
    FILE *f = fopen(P("raw"), "wb");
    fwrite("a\0b", 1, 3, f);
    fclose(f);
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", F("file://%s", P("raw")));
    r = ktc_request(&t, "resources/read", params, NULL);
    c = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "mimeType")->valuestring,
                        "application/octet-stream");
    assert_string_equal(cJSON_GetObjectItem(c, "blob")->valuestring, "YQBi");
    cJSON_Delete(r);

    int code = 0;
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", F("file://%s", P("nope.txt")));
    assert_null(ktc_request(&t, "resources/read", params, &code));
    assert_int_equal(code, JSONRPC_RESOURCE_NOT_FOUND);
    assert_string_equal(t.last_error, "Resource not found");
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "uri", F("file://%s", P("data")));
    assert_null(ktc_request(&t, "resources/read", params, &code));
    assert_int_equal(code, JSONRPC_INVALID_PARAMS);
    assert_string_equal(t.last_error,
                        F("Error: %s is a directory; resources/read reads files", P("data")));
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "cursor", "garbage");
    assert_null(ktc_request(&t, "resources/list", params, &code));
    assert_int_equal(code, JSONRPC_INVALID_PARAMS);
    ktc_close(&t);
}

/* ---- the pure helpers ---- */

static void test_glob(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *path;
        int match;
    } cases[] = {
        {"*", "a", 1},
        {"*", "a/b", 0},
        {"*.md", "todo.md", 1},
        {"*.md", "notes/todo.md", 0},
        {"**/*.md", "todo.md", 1},
        {"**/*.md", "notes/2026/november/standup.md", 1},
        {"**", "a/b/c", 1},
        {"docs/**", "docs/guide", 1},
        {"docs/**", "docs", 0},
        {"a/**/b", "a/b", 1},
        {"a/**/b", "a/x/y/b", 1},
        {"a/*/b", "a/b", 0},
        {".*", ".hidden", 1},
        {"*", ".hidden", 1}, /* dot: true */
        {"**/.git/**", "x/.git/objects", 1},
        {"?ello.txt", "hello.txt", 1},
        {"?ello.txt", "ello.txt", 0},
        {"caf?-men?.txt", "caf\xC3\xA9-men\xC3\xBC.txt", 1}, /* ? is one character */
        {"[a-c]*", "bell.txt", 1},
        {"[!a-c]*", "bell.txt", 0},
        {"[^a-c]*", "docs", 1},
        {"x[[:digit:]]", "x5", 1},
        {"x[0-9]", "x5x", 0},
        {"a\\*b", "a*b", 1},
        {"a\\*b", "axb", 0},
        {"*a*b*", "xxaxxbxx", 1},
        {"{a,b}/*", "b/e", 1},
        {"*.{md,txt}", "hello.txt", 1},
        {"{a,b{c,d}}e", "bde", 1},
        {"{a,b{c,d}}e", "be", 0},
        {"!*.md", "todo.md", 0},
        {"!*.md", "hello.txt", 1},
        {"#comment", "#comment", 0},
        {"./hello.txt", "hello.txt", 0},
        {"a//b", "a/b", 1},
        {"docs/", "docs", 0},
        {"/abs", "abs", 0},
        {"", "", 1},
        {"", "a", 0},
        {"[", "[", 1},
        {"a[", "a[", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (mock_fs_glob_match(cases[i].pattern, cases[i].path) != cases[i].match)
            fail_msg("glob \"%s\" vs \"%s\": expected %d", cases[i].pattern, cases[i].path,
                     cases[i].match);
}

static void check_diff(const char *old, const char *nw, const char *body)
{
    char *d = mock_fs_unified_diff("f", old, strlen(old), nw, strlen(nw));
    assert_non_null(d);
    char want[4096];
    snprintf(want, sizeof want,
             "Index: f\n===================================================================\n--- "
             "f\toriginal\n+++ f\tmodified\n%s",
             body);
    assert_string_equal(d, want);
    mcp_free(d);
}

static void test_diff(void **state)
{
    (void)state;
    /* Each expected body is what jsdiff 8.0.3's createTwoFilesPatch printed. */
    check_diff("a\nb\n", "a\nb\n", "");
    check_diff("", "x\n", "@@ -0,0 +1,1 @@\n+x\n");
    check_diff("x\ny\n", "", "@@ -1,2 +0,0 @@\n-x\n-y\n");
    check_diff("a", "a\n", "@@ -1,1 +1,1 @@\n-a\n\\ No newline at end of file\n+a\n");
    check_diff(
        "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n", "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nL\nm\nn\n",
        "@@ -1,6 +1,6 @@\n a\n-b\n+B\n c\n d\n e\n f\n@@ -8,7 +8,7 @@\n h\n i\n j\n k\n-l\n+L\n "
        "m\n n\n");
    check_diff("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", "a\nB\nc\nd\ne\nf\ng\nh\nI\nj\n",
               "@@ -1,10 +1,10 @@\n a\n-b\n+B\n c\n d\n e\n f\n g\n h\n-i\n+I\n j\n");
    check_diff("x\na\nb\n", "a\nb\ny\n", "@@ -1,3 +1,3 @@\n-x\n a\n b\n+y\n");
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_diff),
        cmocka_unit_test_setup_teardown(test_surface, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_setup_errors, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_text_file, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_media_file, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_multiple_files, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_list_directory, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_list_directory_with_sizes, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_directory_tree, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_search_files, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_get_file_info, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_sandbox, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_only, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_write_file, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_edit_file, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_create_directory, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_move_file, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_read_limit, tree_setup, tree_teardown),
        cmocka_unit_test_setup_teardown(test_resources, tree_setup, tree_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
