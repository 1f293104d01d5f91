/* kind_github: `mcp-mock github`, github-mcp-server's classic tools over a fixed fixture world.
 *
 * The world (fixtures/github.json, described in fixtures/github.README.md, or --fixtures FILE)
 * is parsed into one cJSON tree owned by the kind; reads build GitHub REST-shaped objects from
 * it and writes (with --writable) change it in place. Tool surfaces come from
 * fixtures/tools/github.json unchanged. Arguments are checked like github-mcp-server checks them
 * ("missing required parameter: owner", "parameter page is not of type number, is string"),
 * API failures are worded like go-github's errors behind github-mcp-server's "failed to ..."
 * prefix, with GitHub's status and message ("404 Not Found", "422 Validation Failed",
 * "409 ... does not match ..."). Pagination is page/perPage with GitHub's defaults (page 1,
 * perPage 30, at most 100); list_issues pages with GraphQL-style cursors (after/endCursor).
 *
 * Searches implement GitHub's qualifier basics: code (repo:, org:, user:, language:,
 * extension:, path:, filename:, in:path), repositories (user:, org:, repo:, topic:, language:,
 * is:public/private, stars:, in:name/description/topics), issues (repo:, org:, user:,
 * is:open/closed, state:, label:, author:, assignee:, no:label, no:assignee, in:title/body/
 * comments; scoped to issues) and users (location:, followers:, repos:, in:login/name; scoped
 * to type:user). Words match case-insensitively as substrings; "quoted phrases" are one word;
 * NOT word / -word / -qualifier:value negate; repeating a qualifier means any of them (labels:
 * all of them, as on GitHub).
 *
 * Writes keep the model consistent: new issue and pull-request numbers continue the shared
 * sequence, comments get new ids, file writes make a commit (derived SHA, the authenticated
 * user as author, the real git blob SHA for the content) and move the branch head. A branch
 * other than the default one keeps its own changed files (branch_files); paths it did not
 * change show the default branch's current content. Every list grows to at most GH_MAX_ITEMS.
 *
 * Everything runs on the loop thread; teardown frees the world after the server is gone. */
#include "kind_github.h"
#include "mock.h"

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "errors.h"
#include "log.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

extern const char mock_github_tools_github_json[];
extern const size_t mock_github_tools_github_json_len;
extern const char mock_github_world_github_json[];
extern const size_t mock_github_world_github_json_len;

#define GH_API              "https://api.github.com"
#define GH_WEB              "https://github.com"
#define GH_DEFAULT_PER_PAGE 30
#define GH_MAX_PER_PAGE     100
#define GH_MAX_ITEMS        10000      /* issues, comments, files, commits, branches per list */
#define GH_MAX_FILE_BYTES   (1 << 20)  /* one file's content */
#define GH_MAX_QUERY_BYTES  1024       /* a search query */
#define GH_MAX_TERMS        32         /* words and qualifiers in a search query */
#define GH_MAX_FIXTURE      (64 << 20) /* --fixtures FILE */
#define GH_READ_ONLY_NOTE \
    " (mcp-mock github is read-only: start it with --writable to allow writes)"

typedef struct gh_state_s {
    mcp_server_t *server;
    cJSON *world; /* the fixture, changed in place by writes */
    int writable;
    const char *me; /* authenticated_user (inside world) */
    double next_comment_id;
    unsigned long writes; /* mixed into derived SHAs */
} gh_state_t;

/* The fixture's authenticated user id, for mock_github_rate_limit_result. */
static double gh_rate_user_id = 40917263;

/* ---------------------------------------------------------------- small helpers ---- */

static const char *gh_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The string or "" (for printf arguments). */
static const char *gh_sv(const cJSON *obj, const char *key)
{
    const char *s = gh_str(obj, key);
    return s ? s : "";
}

static double gh_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static cJSON *gh_arr(const cJSON *obj, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsArray(v) ? v : NULL;
}

static int gh_ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* Case-insensitive substring test. */
static int gh_contains(const char *hay, const char *needle)
{
    if (!hay || !needle)
        return 0;
    size_t n = strlen(needle);
    if (n == 0)
        return 1;
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

static int gh_array_has_string(const cJSON *arr, const char *s, int icase)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        if (cJSON_IsString(v) &&
            (icase ? strcasecmp(v->valuestring, s) == 0 : strcmp(v->valuestring, s) == 0))
            return 1;
    }
    return 0;
}

/* Insert item before position idx (append when idx is past the end). cJSON 1.7.15's
 * cJSON_InsertItemInArray refuses valid positions, so the list is linked here, keeping cJSON's
 * invariant that the first element's prev is the last one. */
static void gh_array_insert(cJSON *array, int idx, cJSON *item)
{
    cJSON *after = idx >= 0 ? cJSON_GetArrayItem(array, idx) : NULL;
    if (!after) {
        cJSON_AddItemToArray(array, item);
        return;
    }
    item->next = after;
    item->prev = after->prev;
    if (after == array->child)
        array->child = item;
    else
        after->prev->next = item;
    after->prev = item;
}

/* Add a copy of item (or JSON null when it is NULL) under key. */
static void gh_add_copy(cJSON *obj, const char *key, const cJSON *item)
{
    cJSON_AddItemToObject(obj, key, item ? cJSON_Duplicate(item, 1) : cJSON_CreateNull());
}

static void gh_add_str_or_null(cJSON *obj, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(obj, key, s);
    else
        cJSON_AddNullToObject(obj, key);
}

/* printf into a new string (mcp_free), NULL on ENOMEM. */
static char *gh_vfmt(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *gh_vfmt(const char *fmt, va_list ap)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    if (buf_vappendf(&b, fmt, ap) != 0) {
        buf_free(&b);
        return NULL;
    }
    char *s = buf_detach(&b, NULL);
    return s ? s : mcp_strdup("");
}

static void gh_add_fmt(cJSON *obj, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void gh_add_fmt(cJSON *obj, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = gh_vfmt(fmt, ap);
    va_end(ap);
    cJSON_AddItemToObject(obj, key, s ? cJSON_CreateString(s) : cJSON_CreateNull());
    mcp_free(s);
}

/* Current time as GitHub writes it: 2026-11-22T04:39:34Z. */
static void gh_now(char out[32])
{
    time_t t = (time_t)(clock_wall_ms() / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- base64 and SHA-1 ---- */

static const char gh_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *gh_base64(const unsigned char *in, size_t n)
{
    char *out = mcp_malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = gh_b64[(v >> 18) & 63];
        out[o++] = gh_b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? gh_b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? gh_b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* Decode standard base64 into out (cap bytes, NUL-terminated); -1 when invalid. */
static int gh_unbase64(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in), o = 0;
    if (n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *p = in[i + k] ? strchr(gh_b64, in[i + k]) : NULL;
            if (in[i + k] == '=' && i + 4 == n && k >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!p || pad)
                return -1;
            v = (v << 6) | (uint32_t)(p - gh_b64);
        }
        for (int k = 0; k < 3 - pad; k++) {
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char)((v >> (16 - 8 * k)) & 0xFF);
        }
    }
    out[o] = '\0';
    return 0;
}

typedef struct {
    uint32_t h[5];
    uint64_t len;
    unsigned char block[64];
    size_t used;
} gh_sha1_t;

static uint32_t gh_rol(uint32_t v, int n)
{
    return (v << n) | (v >> (32 - n));
}

static void gh_sha1_block(gh_sha1_t *s, const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = gh_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6;
        uint32_t t = gh_rol(a, 5) + f + e + k + w[i];
        e = d, d = c, c = gh_rol(b, 30), b = a, a = t;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

static void gh_sha1_init(gh_sha1_t *s)
{
    static const uint32_t init[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    memcpy(s->h, init, sizeof init);
    s->len = 0;
    s->used = 0;
}

static void gh_sha1_update(gh_sha1_t *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    s->len += n;
    while (n > 0) {
        size_t take = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->block + s->used, p, take);
        s->used += take, p += take, n -= take;
        if (s->used == 64) {
            gh_sha1_block(s, s->block);
            s->used = 0;
        }
    }
}

static void gh_sha1_hex(gh_sha1_t *s, char out[41])
{
    uint64_t bits = s->len * 8;
    unsigned char pad = 0x80, zero = 0, lenbuf[8];
    gh_sha1_update(s, &pad, 1);
    while (s->used != 56)
        gh_sha1_update(s, &zero, 1);
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)(bits >> (56 - 8 * i));
    gh_sha1_update(s, lenbuf, 8);
    for (int i = 0; i < 5; i++)
        snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

/* The git blob SHA-1 of content: sha1("blob <size>\0" + content). */
static void gh_blob_sha(const char *content, size_t n, char out[41])
{
    gh_sha1_t s;
    char head[32];
    int hl = snprintf(head, sizeof head, "blob %zu", n);
    gh_sha1_init(&s);
    gh_sha1_update(&s, head, (size_t)hl + 1);
    gh_sha1_update(&s, content, n);
    gh_sha1_hex(&s, out);
}

/* A stable SHA-looking id for something that has no SHA in the fixture (trees, directories). */
static void gh_derived_sha(const char *a, const char *b, const char *c, char out[41])
{
    gh_sha1_t s;
    gh_sha1_init(&s);
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        if (parts[i])
            gh_sha1_update(&s, parts[i], strlen(parts[i]) + 1);
    }
    gh_sha1_hex(&s, out);
}

/* FNV-1a, for label ids and colours. */
static uint32_t gh_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* ---------------------------------------------------------------- world lookups ---- */

static const cJSON *gh_find_user(const gh_state_t *st, const char *login)
{
    const cJSON *u;
    cJSON_ArrayForEach(u, gh_arr(st->world, "users"))
    {
        if (gh_ieq(gh_str(u, "login"), login))
            return u;
    }
    return NULL;
}

static cJSON *gh_find_repo(const gh_state_t *st, const char *owner, const char *name)
{
    cJSON *r;
    cJSON_ArrayForEach(r, gh_arr(st->world, "repositories"))
    {
        if (gh_ieq(gh_str(r, "owner"), owner) && gh_ieq(gh_str(r, "name"), name))
            return r;
    }
    return NULL;
}

static cJSON *gh_find_branch(const cJSON *repo, const char *name)
{
    cJSON *b;
    cJSON_ArrayForEach(b, gh_arr(repo, "branches"))
    {
        if (name && strcmp(gh_str(b, "name") ? gh_str(b, "name") : "", name) == 0)
            return b;
    }
    return NULL;
}

/* A commit by full SHA or unique prefix (at least 4 hex digits). */
static cJSON *gh_find_commit(const cJSON *repo, const char *sha)
{
    size_t n = sha ? strlen(sha) : 0;
    if (n < 4 || n > 40)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)sha[i]))
            return NULL;
    cJSON *found = NULL, *c;
    cJSON_ArrayForEach(c, gh_arr(repo, "commits"))
    {
        const char *s = gh_str(c, "sha");
        if (s && strncasecmp(s, sha, n) == 0) {
            if (found)
                return NULL; /* ambiguous */
            found = c;
        }
    }
    return found;
}

/* An issue or a pull request by number; *is_pr tells which. */
static cJSON *gh_find_item(const cJSON *repo, double number, int *is_pr)
{
    cJSON *i;
    cJSON_ArrayForEach(i, gh_arr(repo, "issues"))
    {
        if (gh_num(i, "number") == number) {
            *is_pr = 0;
            return i;
        }
    }
    cJSON_ArrayForEach(i, gh_arr(repo, "pull_requests"))
    {
        if (gh_num(i, "number") == number) {
            *is_pr = 1;
            return i;
        }
    }
    return NULL;
}

static const char *gh_default_branch(const cJSON *repo)
{
    const char *b = gh_str(repo, "default_branch");
    return b ? b : "main";
}

/* ---------------------------------------------------------------- REST shapes ---- */

static cJSON *gh_user_json(const gh_state_t *st, const char *login)
{
    const cJSON *u = gh_find_user(st, login);
    cJSON *o = cJSON_CreateObject();
    const char *l = u ? gh_str(u, "login") : login;
    double id = u ? gh_num(u, "id") : 0;
    const char *type = u && gh_str(u, "type") ? gh_str(u, "type") : "User";
    cJSON_AddStringToObject(o, "login", l ? l : "ghost");
    cJSON_AddNumberToObject(o, "id", id);
    char raw[64], *node;
    snprintf(raw, sizeof raw, "%s:%s%.0f", strcmp(type, "User") == 0 ? "04" : "012", type, id);
    node = gh_base64((const unsigned char *)raw, strlen(raw));
    gh_add_str_or_null(o, "node_id", node);
    mcp_free(node);
    gh_add_fmt(o, "avatar_url", "https://avatars.githubusercontent.com/u/%.0f?v=4", id);
    gh_add_fmt(o, "url", GH_API "/users/%s", l ? l : "ghost");
    gh_add_fmt(o, "html_url", GH_WEB "/%s", l ? l : "ghost");
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddBoolToObject(o, "site_admin", 0);
    return o;
}

static cJSON *gh_user_full_json(const gh_state_t *st, const cJSON *u)
{
    cJSON *o = gh_user_json(st, gh_str(u, "login"));
    static const char *const keys[] = {"name", "company", "blog", "location", "email", "bio"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        gh_add_copy(o, keys[i], cJSON_GetObjectItemCaseSensitive(u, keys[i]));
    cJSON_AddNumberToObject(o, "public_repos", gh_num(u, "public_repos"));
    cJSON_AddNumberToObject(o, "public_gists", 0);
    cJSON_AddNumberToObject(o, "followers", gh_num(u, "followers"));
    cJSON_AddNumberToObject(o, "following", gh_num(u, "following"));
    gh_add_copy(o, "created_at", cJSON_GetObjectItemCaseSensitive(u, "created_at"));
    gh_add_copy(o, "updated_at", cJSON_GetObjectItemCaseSensitive(u, "created_at"));
    cJSON_AddNumberToObject(o, "total_private_repos", gh_num(u, "total_private_repos"));
    cJSON_AddNumberToObject(o, "owned_private_repos", gh_num(u, "total_private_repos"));
    return o;
}

/* Repository shapes: short (inside search_code items and pull requests), minimal
 * (search_repositories' default) and full (REST repository). */
enum { GH_REPO_SHORT, GH_REPO_MINIMAL, GH_REPO_FULL };

static cJSON *gh_repo_json(const gh_state_t *st, const cJSON *r, int shape)
{
    cJSON *o = cJSON_CreateObject();
    const char *full = gh_sv(r, "full_name");
    double id = gh_num(r, "id");
    cJSON_AddNumberToObject(o, "id", id);
    if (shape != GH_REPO_MINIMAL) {
        char raw[64];
        snprintf(raw, sizeof raw, "010:Repository%.0f", id);
        char *node = gh_base64((const unsigned char *)raw, strlen(raw));
        gh_add_str_or_null(o, "node_id", node);
        mcp_free(node);
    }
    gh_add_copy(o, "name", cJSON_GetObjectItemCaseSensitive(r, "name"));
    gh_add_copy(o, "full_name", cJSON_GetObjectItemCaseSensitive(r, "full_name"));
    cJSON_AddBoolToObject(o, "private",
                          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "private")));
    if (shape != GH_REPO_MINIMAL)
        cJSON_AddItemToObject(o, "owner", gh_user_json(st, gh_str(r, "owner")));
    gh_add_copy(o, "html_url", cJSON_GetObjectItemCaseSensitive(r, "html_url"));
    gh_add_copy(o, "description", cJSON_GetObjectItemCaseSensitive(r, "description"));
    cJSON_AddBoolToObject(o, "fork", 0);
    if (shape != GH_REPO_MINIMAL)
        gh_add_fmt(o, "url", GH_API "/repos/%s", full);
    if (shape == GH_REPO_SHORT)
        return o;
    if (shape == GH_REPO_FULL) {
        gh_add_fmt(o, "git_url", "git://github.com/%s.git", full);
        gh_add_fmt(o, "ssh_url", "git@github.com:%s.git", full);
        gh_add_fmt(o, "clone_url", GH_WEB "/%s.git", full);
        cJSON_AddNullToObject(o, "homepage");
        double size = 0;
        const cJSON *f;
        cJSON_ArrayForEach(f, gh_arr(r, "files")) size += gh_num(f, "size");
        cJSON_AddNumberToObject(o, "size", ceil(size / 1024));
        gh_add_copy(o, "pushed_at", cJSON_GetObjectItemCaseSensitive(r, "pushed_at"));
        cJSON_AddNumberToObject(o, "watchers_count", gh_num(r, "watchers_count"));
        cJSON_AddBoolToObject(o, "has_issues", 1);
        cJSON_AddBoolToObject(o, "disabled", 0);
        const char *spdx = gh_str(r, "license");
        if (spdx) {
            cJSON *lic = cJSON_AddObjectToObject(o, "license");
            char key[64];
            snprintf(key, sizeof key, "%s", spdx);
            for (char *p = key; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            cJSON_AddStringToObject(lic, "key", key);
            cJSON_AddStringToObject(lic, "name", strcmp(spdx, "MIT") == 0 ? "MIT License" : spdx);
            cJSON_AddStringToObject(lic, "spdx_id", spdx);
        } else {
            cJSON_AddNullToObject(o, "license");
        }
        cJSON_AddStringToObject(
            o, "visibility",
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "private")) ? "private" : "public");
    }
    gh_add_copy(o, "language", cJSON_GetObjectItemCaseSensitive(r, "language"));
    cJSON_AddNumberToObject(o, "stargazers_count", gh_num(r, "stargazers_count"));
    cJSON_AddNumberToObject(o, "forks_count", gh_num(r, "forks_count"));
    cJSON_AddNumberToObject(o, "open_issues_count", gh_num(r, "open_issues_count"));
    gh_add_copy(o, "created_at", cJSON_GetObjectItemCaseSensitive(r, "created_at"));
    gh_add_copy(o, "updated_at", cJSON_GetObjectItemCaseSensitive(r, "updated_at"));
    gh_add_copy(o, "topics", cJSON_GetObjectItemCaseSensitive(r, "topics"));
    cJSON_AddBoolToObject(o, "archived", 0);
    gh_add_copy(o, "default_branch", cJSON_GetObjectItemCaseSensitive(r, "default_branch"));
    return o;
}

static const char *gh_association(const gh_state_t *st, const cJSON *repo, const char *login)
{
    const char *owner = gh_str(repo, "owner");
    if (gh_ieq(owner, login))
        return "OWNER";
    const cJSON *o = gh_find_user(st, owner);
    if (o && gh_ieq(gh_str(o, "type"), "Organization") && gh_find_user(st, login))
        return "MEMBER";
    return "CONTRIBUTOR";
}

static cJSON *gh_label_json(const cJSON *repo, const char *name)
{
    static const struct {
        const char *name, *color;
    } defaults[] = {
        {"bug", "d73a4a"},         {"documentation", "0075ca"},    {"duplicate", "cfd3d7"},
        {"enhancement", "a2eeef"}, {"good first issue", "7057ff"}, {"help wanted", "008672"},
        {"invalid", "e4e669"},     {"question", "d876e3"},         {"wontfix", "ffffff"}};
    cJSON *o = cJSON_CreateObject();
    char key[300];
    snprintf(key, sizeof key, "%s/%s", gh_sv(repo, "full_name"), name);
    cJSON_AddNumberToObject(o, "id", (double)(4000000000u + gh_hash(key) % 1000000000u));
    gh_add_fmt(o, "url", GH_API "/repos/%s/labels/%s", gh_sv(repo, "full_name"), name);
    cJSON_AddStringToObject(o, "name", name);
    const char *color = NULL;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (strcmp(defaults[i].name, name) == 0)
            color = defaults[i].color;
    char hashed[8];
    snprintf(hashed, sizeof hashed, "%06x", gh_hash(name) & 0xFFFFFF);
    cJSON_AddStringToObject(o, "color", color ? color : hashed);
    cJSON_AddBoolToObject(o, "default", color != NULL);
    cJSON_AddNullToObject(o, "description");
    return o;
}

static double gh_item_id(const cJSON *repo, const cJSON *item, int is_pr)
{
    return gh_num(repo, "id") * 1000 + gh_num(item, "number") + (is_pr ? 500 : 0);
}

static cJSON *gh_comment_json(const gh_state_t *st, const cJSON *repo, const cJSON *item,
                              const cJSON *c)
{
    const char *full = gh_sv(repo, "full_name");
    double num = gh_num(item, "number"), id = gh_num(c, "id");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", id);
    gh_add_fmt(o, "url", GH_API "/repos/%s/issues/comments/%.0f", full, id);
    gh_add_fmt(o, "html_url", GH_WEB "/%s/issues/%.0f#issuecomment-%.0f", full, num, id);
    gh_add_fmt(o, "issue_url", GH_API "/repos/%s/issues/%.0f", full, num);
    gh_add_copy(o, "body", cJSON_GetObjectItemCaseSensitive(c, "body"));
    cJSON_AddItemToObject(o, "user", gh_user_json(st, gh_str(c, "user")));
    gh_add_copy(o, "created_at", cJSON_GetObjectItemCaseSensitive(c, "created_at"));
    gh_add_copy(o, "updated_at", cJSON_GetObjectItemCaseSensitive(c, "created_at"));
    cJSON_AddStringToObject(o, "author_association", gh_association(st, repo, gh_str(c, "user")));
    return o;
}

/* An issue as the REST issues API shows it (a pull request gets its "pull_request" link). */
static cJSON *gh_issue_json(const gh_state_t *st, const cJSON *repo, const cJSON *it, int is_pr)
{
    const char *full = gh_sv(repo, "full_name");
    double num = gh_num(it, "number");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", gh_item_id(repo, it, 0));
    gh_add_fmt(o, "url", GH_API "/repos/%s/issues/%.0f", full, num);
    gh_add_fmt(o, "repository_url", GH_API "/repos/%s", full);
    gh_add_fmt(o, "comments_url", GH_API "/repos/%s/issues/%.0f/comments", full, num);
    gh_add_fmt(o, "html_url", GH_WEB "/%s/%s/%.0f", full, is_pr ? "pull" : "issues", num);
    cJSON_AddNumberToObject(o, "number", num);
    gh_add_copy(o, "title", cJSON_GetObjectItemCaseSensitive(it, "title"));
    gh_add_copy(o, "body", cJSON_GetObjectItemCaseSensitive(it, "body"));
    gh_add_copy(o, "state", cJSON_GetObjectItemCaseSensitive(it, "state"));
    gh_add_copy(o, "state_reason", cJSON_GetObjectItemCaseSensitive(it, "state_reason"));
    cJSON_AddBoolToObject(o, "locked", 0);
    cJSON_AddItemToObject(o, "user", gh_user_json(st, gh_str(it, "user")));
    cJSON *labels = cJSON_AddArrayToObject(o, "labels");
    const cJSON *l;
    cJSON_ArrayForEach(l, gh_arr(it, "labels"))
    {
        if (cJSON_IsString(l))
            cJSON_AddItemToArray(labels, gh_label_json(repo, l->valuestring));
    }
    const cJSON *assignees = gh_arr(it, "assignees");
    const cJSON *first = cJSON_GetArrayItem(assignees, 0);
    if (cJSON_IsString(first))
        cJSON_AddItemToObject(o, "assignee", gh_user_json(st, first->valuestring));
    else
        cJSON_AddNullToObject(o, "assignee");
    cJSON *as = cJSON_AddArrayToObject(o, "assignees");
    const cJSON *a;
    cJSON_ArrayForEach(a, assignees)
    {
        if (cJSON_IsString(a))
            cJSON_AddItemToArray(as, gh_user_json(st, a->valuestring));
    }
    cJSON_AddNullToObject(o, "milestone");
    cJSON_AddNumberToObject(o, "comments", cJSON_GetArraySize(gh_arr(it, "comments")));
    gh_add_copy(o, "created_at", cJSON_GetObjectItemCaseSensitive(it, "created_at"));
    gh_add_copy(o, "updated_at", cJSON_GetObjectItemCaseSensitive(it, "updated_at"));
    gh_add_copy(o, "closed_at", cJSON_GetObjectItemCaseSensitive(it, "closed_at"));
    cJSON_AddStringToObject(o, "author_association", gh_association(st, repo, gh_str(it, "user")));
    if (is_pr) {
        cJSON *pr = cJSON_AddObjectToObject(o, "pull_request");
        gh_add_fmt(pr, "url", GH_API "/repos/%s/pulls/%.0f", full, num);
        gh_add_fmt(pr, "html_url", GH_WEB "/%s/pull/%.0f", full, num);
        gh_add_fmt(pr, "diff_url", GH_WEB "/%s/pull/%.0f.diff", full, num);
        gh_add_fmt(pr, "patch_url", GH_WEB "/%s/pull/%.0f.patch", full, num);
        gh_add_copy(pr, "merged_at", cJSON_GetObjectItemCaseSensitive(it, "merged_at"));
        cJSON_AddBoolToObject(o, "draft",
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "draft")));
    }
    return o;
}

static cJSON *gh_pr_ref_json(const gh_state_t *st, const cJSON *repo, const char *branch,
                             const char *sha)
{
    cJSON *o = cJSON_CreateObject();
    gh_add_fmt(o, "label", "%s:%s", gh_sv(repo, "owner"), branch ? branch : "");
    gh_add_str_or_null(o, "ref", branch);
    gh_add_str_or_null(o, "sha", sha);
    cJSON_AddItemToObject(o, "user", gh_user_json(st, gh_str(repo, "owner")));
    cJSON_AddItemToObject(o, "repo", gh_repo_json(st, repo, GH_REPO_SHORT));
    return o;
}

static cJSON *gh_pr_json(const gh_state_t *st, const cJSON *repo, const cJSON *pr)
{
    const char *full = gh_sv(repo, "full_name");
    double num = gh_num(pr, "number");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", gh_item_id(repo, pr, 1));
    gh_add_fmt(o, "url", GH_API "/repos/%s/pulls/%.0f", full, num);
    gh_add_fmt(o, "html_url", GH_WEB "/%s/pull/%.0f", full, num);
    gh_add_fmt(o, "diff_url", GH_WEB "/%s/pull/%.0f.diff", full, num);
    gh_add_fmt(o, "patch_url", GH_WEB "/%s/pull/%.0f.patch", full, num);
    gh_add_fmt(o, "issue_url", GH_API "/repos/%s/issues/%.0f", full, num);
    cJSON_AddNumberToObject(o, "number", num);
    gh_add_copy(o, "state", cJSON_GetObjectItemCaseSensitive(pr, "state"));
    cJSON_AddBoolToObject(o, "locked", 0);
    gh_add_copy(o, "title", cJSON_GetObjectItemCaseSensitive(pr, "title"));
    cJSON_AddItemToObject(o, "user", gh_user_json(st, gh_str(pr, "user")));
    gh_add_copy(o, "body", cJSON_GetObjectItemCaseSensitive(pr, "body"));
    cJSON *labels = cJSON_AddArrayToObject(o, "labels");
    const cJSON *l;
    cJSON_ArrayForEach(l, gh_arr(pr, "labels"))
    {
        if (cJSON_IsString(l))
            cJSON_AddItemToArray(labels, gh_label_json(repo, l->valuestring));
    }
    cJSON_AddNullToObject(o, "milestone");
    int merged = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pr, "merged"));
    cJSON_AddBoolToObject(o, "draft", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pr, "draft")));
    cJSON_AddBoolToObject(o, "merged", merged);
    if (gh_ieq(gh_str(pr, "state"), "open"))
        cJSON_AddBoolToObject(o, "mergeable", 1);
    else
        cJSON_AddNullToObject(o, "mergeable");
    gh_add_copy(o, "merge_commit_sha", cJSON_GetObjectItemCaseSensitive(pr, "merge_commit_sha"));
    const cJSON *merge = merged ? gh_find_commit(repo, gh_str(pr, "merge_commit_sha")) : NULL;
    const char *merged_by =
        merge ? gh_str(cJSON_GetObjectItemCaseSensitive(merge, "committer"), "login") : NULL;
    if (merged_by)
        cJSON_AddItemToObject(o, "merged_by", gh_user_json(st, merged_by));
    else
        cJSON_AddNullToObject(o, "merged_by");
    cJSON *as = cJSON_AddArrayToObject(o, "assignees");
    const cJSON *a;
    cJSON_ArrayForEach(a, gh_arr(pr, "assignees"))
    {
        if (cJSON_IsString(a))
            cJSON_AddItemToArray(as, gh_user_json(st, a->valuestring));
    }
    cJSON *rr = cJSON_AddArrayToObject(o, "requested_reviewers");
    cJSON_ArrayForEach(a, gh_arr(pr, "requested_reviewers"))
    {
        if (cJSON_IsString(a))
            cJSON_AddItemToArray(rr, gh_user_json(st, a->valuestring));
    }
    cJSON_AddItemToObject(o, "head",
                          gh_pr_ref_json(st, repo, gh_str(pr, "head"), gh_str(pr, "head_sha")));
    cJSON_AddItemToObject(o, "base",
                          gh_pr_ref_json(st, repo, gh_str(pr, "base"), gh_str(pr, "base_sha")));
    gh_add_copy(o, "created_at", cJSON_GetObjectItemCaseSensitive(pr, "created_at"));
    gh_add_copy(o, "updated_at", cJSON_GetObjectItemCaseSensitive(pr, "updated_at"));
    gh_add_copy(o, "closed_at", cJSON_GetObjectItemCaseSensitive(pr, "closed_at"));
    gh_add_copy(o, "merged_at", cJSON_GetObjectItemCaseSensitive(pr, "merged_at"));
    cJSON_AddStringToObject(o, "author_association", gh_association(st, repo, gh_str(pr, "user")));
    double adds = 0, dels = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, gh_arr(pr, "files"))
    {
        adds += gh_num(f, "additions");
        dels += gh_num(f, "deletions");
    }
    cJSON_AddNumberToObject(o, "comments", cJSON_GetArraySize(gh_arr(pr, "comments")));
    cJSON_AddNumberToObject(o, "review_comments", 0);
    cJSON_AddNumberToObject(o, "commits", cJSON_GetArraySize(gh_arr(pr, "commits")));
    cJSON_AddNumberToObject(o, "additions", adds);
    cJSON_AddNumberToObject(o, "deletions", dels);
    cJSON_AddNumberToObject(o, "changed_files", cJSON_GetArraySize(gh_arr(pr, "files")));
    return o;
}

static cJSON *gh_git_person(const cJSON *who, const char *date)
{
    cJSON *o = cJSON_CreateObject();
    gh_add_copy(o, "name", cJSON_GetObjectItemCaseSensitive(who, "name"));
    gh_add_copy(o, "email", cJSON_GetObjectItemCaseSensitive(who, "email"));
    gh_add_str_or_null(o, "date", date);
    return o;
}

/* A commit as GET /repos/{o}/{r}/commits returns it; detail 0 = list entry. */
static cJSON *gh_commit_json(const gh_state_t *st, const cJSON *repo, const cJSON *c)
{
    const char *full = gh_sv(repo, "full_name"), *sha = gh_sv(c, "sha");
    const char *date = gh_str(c, "date");
    const cJSON *author = cJSON_GetObjectItemCaseSensitive(c, "author");
    const cJSON *committer = cJSON_GetObjectItemCaseSensitive(c, "committer");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "sha", sha ? sha : "");
    cJSON *commit = cJSON_AddObjectToObject(o, "commit");
    cJSON_AddItemToObject(commit, "author", gh_git_person(author, date));
    cJSON_AddItemToObject(commit, "committer", gh_git_person(committer, date));
    gh_add_copy(commit, "message", cJSON_GetObjectItemCaseSensitive(c, "message"));
    char tree[41];
    gh_derived_sha("tree", full, sha, tree);
    cJSON *t = cJSON_AddObjectToObject(commit, "tree");
    cJSON_AddStringToObject(t, "sha", tree);
    gh_add_fmt(t, "url", GH_API "/repos/%s/git/trees/%s", full, tree);
    gh_add_fmt(commit, "url", GH_API "/repos/%s/git/commits/%s", full, sha);
    cJSON_AddNumberToObject(commit, "comment_count", 0);
    gh_add_fmt(o, "url", GH_API "/repos/%s/commits/%s", full, sha);
    gh_add_fmt(o, "html_url", GH_WEB "/%s/commit/%s", full, sha);
    const char *al = gh_str(author, "login"), *cl = gh_str(committer, "login");
    cJSON_AddItemToObject(o, "author", al ? gh_user_json(st, al) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "committer", cl ? gh_user_json(st, cl) : cJSON_CreateNull());
    cJSON *parents = cJSON_AddArrayToObject(o, "parents");
    const cJSON *p;
    cJSON_ArrayForEach(p, gh_arr(c, "parents"))
    {
        if (!cJSON_IsString(p))
            continue;
        cJSON *po = cJSON_CreateObject();
        cJSON_AddStringToObject(po, "sha", p->valuestring);
        gh_add_fmt(po, "url", GH_API "/repos/%s/commits/%s", full, p->valuestring);
        gh_add_fmt(po, "html_url", GH_WEB "/%s/commit/%s", full, p->valuestring);
        cJSON_AddItemToArray(parents, po);
    }
    return o;
}

/* ---------------------------------------------------------------- file trees ---- */

/* The files of one branch: the default branch's files with the branch's own changes on top,
 * sorted by path. The array is owned; the file objects belong to the world. */
typedef struct gh_tree_s {
    const cJSON **files;
    size_t count;
} gh_tree_t;

static int gh_path_cmp(const void *a, const void *b)
{
    const char *pa = gh_str(*(const cJSON *const *)a, "path");
    const char *pb = gh_str(*(const cJSON *const *)b, "path");
    return strcmp(pa ? pa : "", pb ? pb : "");
}

static cJSON *gh_branch_overlay(const cJSON *repo, const char *branch)
{
    if (!branch || strcmp(branch, gh_default_branch(repo)) == 0)
        return NULL;
    return gh_arr(cJSON_GetObjectItemCaseSensitive(repo, "branch_files"), branch);
}

static int gh_tree_build(const cJSON *repo, const char *branch, gh_tree_t *t)
{
    const cJSON *base = gh_arr(repo, "files"), *over = gh_branch_overlay(repo, branch);
    size_t cap = (size_t)cJSON_GetArraySize(base) + (size_t)cJSON_GetArraySize(over) + 1;
    t->files = mcp_calloc(cap, sizeof *t->files);
    t->count = 0;
    if (!t->files)
        return MCP_ENOMEM;
    const cJSON *f;
    cJSON_ArrayForEach(f, over) t->files[t->count++] = f;
    cJSON_ArrayForEach(f, base)
    {
        const char *path = gh_str(f, "path");
        int shadowed = 0;
        const cJSON *g;
        cJSON_ArrayForEach(g, over)
        {
            if (path && gh_str(g, "path") && strcmp(gh_str(g, "path"), path) == 0)
                shadowed = 1;
        }
        if (!shadowed)
            t->files[t->count++] = f;
    }
    qsort(t->files, t->count, sizeof *t->files, gh_path_cmp);
    return 0;
}

static void gh_tree_free(gh_tree_t *t)
{
    mcp_free(t->files);
    t->files = NULL;
    t->count = 0;
}

static const char *gh_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A file or directory entry of the contents API; content included for files when wanted. */
static cJSON *gh_content_json(const cJSON *repo, const char *ref, const char *path, int is_dir,
                              const cJSON *file, int with_content)
{
    const char *full = gh_sv(repo, "full_name");
    cJSON *o = cJSON_CreateObject();
    char sha[41];
    if (is_dir)
        gh_derived_sha("dir", full, path, sha);
    cJSON_AddStringToObject(o, "type", is_dir ? "dir" : "file");
    if (with_content && !is_dir)
        cJSON_AddStringToObject(o, "encoding", "base64");
    cJSON_AddNumberToObject(o, "size", is_dir ? 0 : gh_num(file, "size"));
    cJSON_AddStringToObject(o, "name", gh_basename(path));
    cJSON_AddStringToObject(o, "path", path);
    if (with_content && !is_dir) {
        const char *content = gh_str(file, "content");
        char *b64 = gh_base64((const unsigned char *)(content ? content : ""),
                              content ? strlen(content) : 0);
        gh_add_str_or_null(o, "content", b64);
        mcp_free(b64);
    }
    const char *fsha = is_dir ? sha : gh_str(file, "sha");
    gh_add_str_or_null(o, "sha", fsha);
    gh_add_fmt(o, "url", GH_API "/repos/%s/contents/%s?ref=%s", full, path, ref);
    gh_add_fmt(o, "git_url", GH_API "/repos/%s/git/%s/%s", full, is_dir ? "trees" : "blobs",
               fsha ? fsha : "");
    gh_add_fmt(o, "html_url", GH_WEB "/%s/%s/%s/%s", full, is_dir ? "tree" : "blob", ref, path);
    if (is_dir)
        cJSON_AddNullToObject(o, "download_url");
    else
        gh_add_fmt(o, "download_url", "https://raw.githubusercontent.com/%s/%s/%s", full, ref,
                   path);
    return o;
}

/* ---------------------------------------------------------------- tool plumbing ---- */

/* Argument reading in github-mcp-server's words. After the first failure the call has been
 * answered and every later read returns "absent". */
typedef struct gh_args_s {
    mcp_call_t *call;
    const cJSON *args;
    int failed;
} gh_args_t;

static void gh_fail(gh_args_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gh_fail(gh_args_t *a, const char *fmt, ...)
{
    if (a->failed)
        return;
    a->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    char *msg = gh_vfmt(fmt, ap);
    va_end(ap);
    mcp_call_tool_error(a->call, msg ? msg : "out of memory");
    mcp_free(msg);
}

/* Go's %T of a JSON-decoded value. */
static const char *gh_go_type(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsNumber(v))
        return "float64";
    if (cJSON_IsBool(v))
        return "bool";
    if (cJSON_IsArray(v))
        return "[]interface {}";
    if (cJSON_IsObject(v))
        return "map[string]interface {}";
    return "<nil>";
}

static const cJSON *gh_arg(gh_args_t *a, const char *name)
{
    if (a->failed)
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->args, name);
    return cJSON_IsNull(v) ? NULL : v;
}

static const char *gh_req_str(gh_args_t *a, const char *name)
{
    const cJSON *v = gh_arg(a, name);
    if (a->failed)
        return NULL;
    if (!v) {
        gh_fail(a, "missing required parameter: %s", name);
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        gh_fail(a, "parameter %s is not of type string, is %s", name, gh_go_type(v));
        return NULL;
    }
    if (v->valuestring[0] == '\0') {
        gh_fail(a, "missing required parameter: %s", name);
        return NULL;
    }
    return v->valuestring;
}

static const char *gh_opt_str(gh_args_t *a, const char *name)
{
    const cJSON *v = gh_arg(a, name);
    if (!v)
        return NULL;
    if (!cJSON_IsString(v)) {
        gh_fail(a, "parameter %s is not of type string, is %s", name, gh_go_type(v));
        return NULL;
    }
    return v->valuestring[0] ? v->valuestring : NULL;
}

/* 1 and *out when present, 0 when absent (or after a failure). */
static int gh_opt_int(gh_args_t *a, const char *name, double *out)
{
    const cJSON *v = gh_arg(a, name);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v)) {
        gh_fail(a, "parameter %s is not of type number, is %s", name, gh_go_type(v));
        return 0;
    }
    if (v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9007199254740992.0) {
        gh_fail(a, "parameter %s is not an integer: %g", name, v->valuedouble);
        return 0;
    }
    *out = v->valuedouble;
    return 1;
}

static double gh_req_int(gh_args_t *a, const char *name)
{
    double v = 0;
    if (!gh_opt_int(a, name, &v)) {
        if (!a->failed)
            gh_fail(a, "missing required parameter: %s", name);
        return 0;
    }
    if (v == 0)
        gh_fail(a, "missing required parameter: %s", name);
    return v;
}

static int gh_opt_bool(gh_args_t *a, const char *name, int dflt)
{
    const cJSON *v = gh_arg(a, name);
    if (!v)
        return dflt;
    if (!cJSON_IsBool(v)) {
        gh_fail(a, "parameter %s is not of type bool, is %s", name, gh_go_type(v));
        return dflt;
    }
    return cJSON_IsTrue(v);
}

/* An array of strings, or NULL when absent. */
static const cJSON *gh_opt_str_array(gh_args_t *a, const char *name)
{
    const cJSON *v = gh_arg(a, name);
    if (!v)
        return NULL;
    const cJSON *s;
    if (!cJSON_IsArray(v)) {
        gh_fail(a, "parameter %s is not of type []string, is %s", name, gh_go_type(v));
        return NULL;
    }
    cJSON_ArrayForEach(s, v)
    {
        if (!cJSON_IsString(s)) {
            gh_fail(a, "parameter %s contains a non-string value: %s", name, gh_go_type(s));
            return NULL;
        }
    }
    return v;
}

/* page (default 1, at least 1) and perPage (default 30, 1..100; more is cut to 100 as GitHub
 * does). 0, or -1 after answering. */
static int gh_paging(gh_args_t *a, size_t *page, size_t *per_page)
{
    double p = 1, pp = GH_DEFAULT_PER_PAGE;
    gh_opt_int(a, "page", &p);
    gh_opt_int(a, "perPage", &pp);
    if (a->failed)
        return -1;
    if (p < 1) {
        gh_fail(a, "invalid page: %.0f (pages start at 1)", p);
        return -1;
    }
    if (pp < 1) {
        gh_fail(a, "invalid perPage: %.0f (1 to 100)", pp);
        return -1;
    }
    *page = p > 1e9 ? (size_t)1e9 : (size_t)p;
    *per_page = pp > GH_MAX_PER_PAGE ? GH_MAX_PER_PAGE : (size_t)pp;
    return 0;
}

/* The text of one GitHub API failure, github-mcp-server style. */
static void gh_api_error(mcp_call_t *call, const char *what, const char *method, int status,
                         const char *message, const char *errors, const char *path_fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void gh_api_error(mcp_call_t *call, const char *what, const char *method, int status,
                         const char *message, const char *errors, const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    char *path = gh_vfmt(path_fmt, ap);
    va_end(ap);
    char *text = mcp_asprintf("%s: %s " GH_API "%s: %d %s %s", what, method, path ? path : "",
                              status, message, errors ? errors : "[]");
    mcp_call_tool_error(call, text ? text : "out of memory");
    mcp_free(text);
    mcp_free(path);
}

static void gh_reply(mcp_call_t *call, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        mcp_call_tool_error(call, "out of memory");
        return;
    }
    mcp_call_reply_text(call, text);
    cJSON_free(text);
}

/* The repository named by owner/repo, or NULL after answering 404 for `what`. */
static cJSON *gh_repo_arg(gh_state_t *st, gh_args_t *a, const char *what, const char *method,
                          const char *suffix)
{
    const char *owner = gh_req_str(a, "owner");
    const char *name = gh_req_str(a, "repo");
    if (a->failed)
        return NULL;
    cJSON *repo = gh_find_repo(st, owner, name);
    if (!repo) {
        a->failed = 1;
        gh_api_error(a->call, what, method, 404, "Not Found", NULL, "/repos/%s/%s%s", owner, name,
                     suffix ? suffix : "");
    }
    return repo;
}

/* Writes need --writable; without it GitHub's answer to a token that may not write. */
static int gh_check_writable(gh_state_t *st, gh_args_t *a, const char *what, const char *method,
                             const char *path)
{
    if (a->failed)
        return -1;
    if (st->writable)
        return 0;
    a->failed = 1;
    char *text = mcp_asprintf("%s: %s " GH_API "%s: 403 Resource not accessible by personal "
                              "access token []" GH_READ_ONLY_NOTE,
                              what, method, path);
    mcp_call_tool_error(a->call, text ? text : "read-only");
    mcp_free(text);
    return -1;
}

/* {"total_count","incomplete_results","items"} from all matches (items taken). */
static cJSON *gh_search_page(cJSON *all, size_t page, size_t per_page)
{
    cJSON *o = cJSON_CreateObject();
    size_t total = (size_t)cJSON_GetArraySize(all);
    cJSON_AddNumberToObject(o, "total_count", (double)total);
    cJSON_AddBoolToObject(o, "incomplete_results", 0);
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    size_t start = (page - 1) * per_page;
    for (size_t i = start; i < total && i < start + per_page; i++)
        cJSON_AddItemToArray(items, cJSON_DetachItemFromArray(all, (int)start));
    cJSON_Delete(all);
    return o;
}

/* One page of a plain list (items taken). */
static cJSON *gh_list_page(cJSON *all, size_t page, size_t per_page)
{
    cJSON *out = cJSON_CreateArray();
    size_t total = (size_t)cJSON_GetArraySize(all);
    size_t start = (page - 1) * per_page;
    for (size_t i = start; i < total && i < start + per_page; i++)
        cJSON_AddItemToArray(out, cJSON_DetachItemFromArray(all, (int)start));
    cJSON_Delete(all);
    return out;
}

/* ---------------------------------------------------------------- search queries ---- */

typedef struct gh_term_s {
    char *key;   /* NULL for a word */
    char *value; /* unquoted */
    int negated;
} gh_term_t;

typedef struct gh_query_s {
    gh_term_t terms[GH_MAX_TERMS];
    size_t count;
} gh_query_t;

static void gh_query_free(gh_query_t *q)
{
    for (size_t i = 0; i < q->count; i++) {
        mcp_free(q->terms[i].key);
        mcp_free(q->terms[i].value);
    }
    q->count = 0;
}

/* Split a GitHub search query into words and key:value qualifiers. 0, or -1 with err set. */
static int gh_query_parse(const char *text, gh_query_t *q, char *err, size_t errcap)
{
    memset(q, 0, sizeof *q);
    if (strlen(text) > GH_MAX_QUERY_BYTES) {
        snprintf(err, errcap, "the search query is longer than %d characters", GH_MAX_QUERY_BYTES);
        return -1;
    }
    const char *p = text;
    int negate_next = 0;
    while (*p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        char tok[GH_MAX_QUERY_BYTES + 1];
        size_t n = 0;
        int quoted_any = 0;
        while (*p && !isspace((unsigned char)*p)) {
            if (*p == '"') {
                quoted_any = 1;
                p++;
                while (*p && *p != '"')
                    tok[n++] = *p++;
                if (*p == '"')
                    p++;
            } else {
                tok[n++] = *p++;
            }
        }
        tok[n] = '\0';
        if (!quoted_any && (strcmp(tok, "AND") == 0 || strcmp(tok, "OR") == 0))
            continue;
        if (!quoted_any && strcmp(tok, "NOT") == 0) {
            negate_next = 1;
            continue;
        }
        if (q->count >= GH_MAX_TERMS) {
            snprintf(err, errcap, "the search query has more than %d terms", GH_MAX_TERMS);
            gh_query_free(q);
            return -1;
        }
        gh_term_t *t = &q->terms[q->count];
        const char *word = tok;
        t->negated = negate_next;
        negate_next = 0;
        if (word[0] == '-' && word[1]) {
            t->negated = !t->negated;
            word++;
        }
        const char *colon = strchr(word, ':');
        /* key:value when the key is a plain word (so "a:b" inside quotes stays a word). */
        int qualifier = colon && colon > word && colon[1] && !(quoted_any && tok[0] == '"');
        for (const char *k = word; qualifier && k < colon; k++)
            if (!isalpha((unsigned char)*k) && *k != '_')
                qualifier = 0;
        if (qualifier) {
            t->key = mcp_strndup(word, (size_t)(colon - word));
            t->value = mcp_strdup(colon + 1);
            for (char *k = t->key; k && *k; k++)
                *k = (char)tolower((unsigned char)*k);
        } else {
            t->value = mcp_strdup(word);
        }
        if (!t->value || (qualifier && !t->key)) {
            mcp_free(t->key);
            mcp_free(t->value);
            snprintf(err, errcap, "out of memory");
            gh_query_free(q);
            return -1;
        }
        if (t->value[0] != '\0' || t->key)
            q->count++;
        else
            mcp_free(t->value);
    }
    return 0;
}

/* A numeric qualifier value: N, >N, >=N, <N, <=N, N..M. */
static int gh_range_match(const char *spec, double v)
{
    char *end;
    if (strncmp(spec, ">=", 2) == 0)
        return v >= strtod(spec + 2, &end);
    if (strncmp(spec, "<=", 2) == 0)
        return v <= strtod(spec + 2, &end);
    if (spec[0] == '>')
        return v > strtod(spec + 1, &end);
    if (spec[0] == '<')
        return v < strtod(spec + 1, &end);
    const char *dots = strstr(spec, "..");
    if (dots) {
        double lo = dots == spec || dots[-1] == '*' ? -INFINITY : strtod(spec, &end);
        double hi = dots[2] == '\0' || dots[2] == '*' ? INFINITY : strtod(dots + 2, &end);
        return v >= lo && v <= hi;
    }
    return v == strtod(spec, &end);
}

/* The terms under `key` decide together: 1 (match), 0 (no match), -1 (no such terms). Values of
 * a repeated qualifier are alternatives unless `all` (labels). Negated terms must not match. */
typedef int (*gh_term_fn)(const char *value, const void *ctx);

static int gh_terms_match(const gh_query_t *q, const char *key, int all, gh_term_fn fn,
                          const void *ctx)
{
    int seen = 0, any = 0;
    for (size_t i = 0; i < q->count; i++) {
        const gh_term_t *t = &q->terms[i];
        if (!t->key || strcmp(t->key, key) != 0)
            continue;
        int m = fn(t->value, ctx);
        if (t->negated) {
            if (m)
                return 0;
            continue;
        }
        seen = 1;
        if (all && !m)
            return 0;
        any |= m;
    }
    if (!seen)
        return 1;
    return all ? 1 : any;
}

/* Words: every positive word must occur in one of texts[], no negated word in any. */
static int gh_words_match(const gh_query_t *q, const char *const *texts, size_t ntexts)
{
    for (size_t i = 0; i < q->count; i++) {
        const gh_term_t *t = &q->terms[i];
        if (t->key)
            continue;
        int found = 0;
        for (size_t k = 0; k < ntexts && !found; k++)
            found = gh_contains(texts[k], t->value);
        if (found == t->negated)
            return 0;
    }
    return 1;
}

/* The value of "in:" qualifiers as a set of flags; 0 when absent. */
static int gh_in_flags(const gh_query_t *q, const char *const *names, size_t n)
{
    int flags = 0;
    for (size_t i = 0; i < q->count; i++) {
        if (!q->terms[i].key || strcmp(q->terms[i].key, "in") != 0)
            continue;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", q->terms[i].value);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            for (size_t k = 0; k < n; k++)
                if (strcasecmp(tok, names[k]) == 0)
                    flags |= 1 << k;
    }
    return flags;
}

/* A qualifier key not in `known` makes the query unanswerable (as GitHub: 422). */
static const char *gh_unknown_qualifier(const gh_query_t *q, const char *const *known)
{
    for (size_t i = 0; i < q->count; i++) {
        if (!q->terms[i].key)
            continue;
        int ok = 0;
        for (size_t k = 0; known[k] && !ok; k++)
            ok = strcmp(known[k], q->terms[i].key) == 0;
        if (!ok)
            return q->terms[i].key;
    }
    return NULL;
}

static int gh_eq_fn(const char *value, const void *ctx)
{
    return gh_ieq(value, (const char *)ctx);
}

static int gh_in_array_fn(const char *value, const void *ctx)
{
    return gh_array_has_string((const cJSON *)ctx, value, 1);
}

static int gh_range_fn(const char *value, const void *ctx)
{
    return gh_range_match(value, *(const double *)ctx);
}

/* ---- languages of files ---- */

static const struct {
    const char *ext;
    const char *lang;
} gh_langs[] = {
    {"sql", "SQL"},     {"py", "Python"},     {"go", "Go"},     {"ts", "TypeScript"},
    {"tsx", "TSX"},     {"js", "JavaScript"}, {"c", "C"},       {"h", "C"},
    {"md", "Markdown"}, {"yml", "YAML"},      {"yaml", "YAML"}, {"json", "JSON"},
    {"txt", "Text"},    {"mod", "Go Module"}, {"toml", "TOML"}, {"sh", "Shell"},
};

static const char *gh_file_ext(const char *path)
{
    const char *base = gh_basename(path);
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot + 1 : "";
}

static const char *gh_file_language(const char *path)
{
    const char *base = gh_basename(path);
    if (strcmp(base, "Makefile") == 0)
        return "Makefile";
    if (strcmp(base, "LICENSE") == 0)
        return "Text";
    const char *ext = gh_file_ext(path);
    for (size_t i = 0; i < sizeof gh_langs / sizeof gh_langs[0]; i++)
        if (strcasecmp(gh_langs[i].ext, ext) == 0)
            return gh_langs[i].lang;
    return NULL;
}

/* ---------------------------------------------------------------- tools: users ---- */

static void gh_tool_get_me(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    (void)args;
    const cJSON *u = gh_find_user(st, st->me);
    if (!u) {
        mcp_call_tool_error(call,
                            "failed to get user: GET " GH_API "/user: 401 Bad credentials []");
        return;
    }
    gh_reply(call, gh_user_full_json(st, u));
}

static const char *gh_sort_key_name;
static int gh_sort_desc;

static int gh_user_cmp(const void *a, const void *b)
{
    const cJSON *ua = *(const cJSON *const *)a, *ub = *(const cJSON *const *)b;
    int r = 0;
    if (strcmp(gh_sort_key_name, "joined") == 0) {
        const char *ca = gh_str(ua, "created_at"), *cb = gh_str(ub, "created_at");
        r = strcmp(ca ? ca : "", cb ? cb : "");
    } else {
        const char *key = strcmp(gh_sort_key_name, "followers") == 0 ? "followers" : "public_repos";
        double va = gh_num(ua, key), vb = gh_num(ub, key);
        r = va < vb ? -1 : va > vb;
    }
    return gh_sort_desc ? -r : r;
}

static int gh_location_fn(const char *value, const void *ctx)
{
    return gh_contains(gh_str((const cJSON *)ctx, "location"), value);
}

static void gh_tool_search_users(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *query = gh_req_str(&a, "query");
    const char *sort = gh_opt_str(&a, "sort");
    const char *order = gh_opt_str(&a, "order");
    size_t page, per_page;
    if (gh_paging(&a, &page, &per_page) != 0 || a.failed)
        return;
    gh_query_t q;
    char err[160];
    if (gh_query_parse(query, &q, err, sizeof err) != 0) {
        gh_api_error(call, "failed to search users", "GET", 422, "Validation Failed", NULL,
                     "/search/users: %s", err);
        return;
    }
    static const char *const known[] = {"type",  "in",   "location", "followers",
                                        "repos", "user", NULL};
    const char *bad = gh_unknown_qualifier(&q, known);
    if (bad) {
        gh_api_error(call, "failed to search users", "GET", 422, "Validation Failed", NULL,
                     "/search/users?q=%s", query);
        gh_query_free(&q);
        return;
    }
    static const char *const in_names[] = {"login", "name", "email"};
    int in = gh_in_flags(&q, in_names, 3);
    const cJSON *matches[256];
    size_t n = 0;
    const cJSON *u;
    cJSON_ArrayForEach(u, gh_arr(st->world, "users"))
    {
        /* github-mcp-server scopes the search to type:user. */
        if (!gh_ieq(gh_str(u, "type"), "User") || n >= 256)
            continue;
        const char *texts[3];
        size_t nt = 0;
        if (!in || (in & 1))
            texts[nt++] = gh_str(u, "login");
        if (!in || (in & 2))
            texts[nt++] = gh_str(u, "name");
        if (in & 4)
            texts[nt++] = gh_str(u, "email");
        double followers = gh_num(u, "followers"), repos = gh_num(u, "public_repos");
        if (!gh_words_match(&q, texts, nt) || !gh_terms_match(&q, "type", 0, gh_eq_fn, "user") ||
            !gh_terms_match(&q, "user", 0, gh_eq_fn, gh_str(u, "login")) ||
            !gh_terms_match(&q, "location", 0, gh_location_fn, u) ||
            !gh_terms_match(&q, "followers", 1, gh_range_fn, &followers) ||
            !gh_terms_match(&q, "repos", 1, gh_range_fn, &repos))
            continue;
        matches[n++] = u;
    }
    gh_query_free(&q);
    if (sort) {
        gh_sort_key_name = sort;
        gh_sort_desc = !order || strcmp(order, "asc") != 0;
        qsort(matches, n, sizeof matches[0], gh_user_cmp);
    }
    cJSON *all = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *item = gh_user_json(st, gh_str(matches[i], "login"));
        cJSON_AddNumberToObject(item, "score", 1);
        cJSON_AddItemToArray(all, item);
    }
    gh_reply(call, gh_search_page(all, page, per_page));
}

/* ---------------------------------------------------------------- tools: repositories ---- */

static int gh_owner_fn(const char *value, const void *ctx)
{
    return gh_ieq(value, gh_str((const cJSON *)ctx, "owner"));
}

static int gh_fullname_fn(const char *value, const void *ctx)
{
    return gh_ieq(value, gh_str((const cJSON *)ctx, "full_name"));
}

static int gh_visibility_fn(const char *value, const void *ctx)
{
    int priv = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive((const cJSON *)ctx, "private"));
    if (gh_ieq(value, "public"))
        return !priv;
    if (gh_ieq(value, "private"))
        return priv;
    return 1; /* is:issue, is:open ... are not about repositories */
}

static void gh_tool_search_repositories(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *query = gh_req_str(&a, "query");
    int minimal = gh_opt_bool(&a, "minimal_output", 1);
    size_t page, per_page;
    if (gh_paging(&a, &page, &per_page) != 0 || a.failed)
        return;
    gh_query_t q;
    char err[160];
    if (gh_query_parse(query, &q, err, sizeof err) != 0) {
        gh_api_error(call, "failed to search repositories", "GET", 422, "Validation Failed", NULL,
                     "/search/repositories: %s", err);
        return;
    }
    static const char *const known[] = {"user",  "org", "repo", "topic",    "language", "is",
                                        "stars", "in",  "fork", "archived", NULL};
    if (gh_unknown_qualifier(&q, known)) {
        gh_api_error(call, "failed to search repositories", "GET", 422, "Validation Failed", NULL,
                     "/search/repositories?q=%s", query);
        gh_query_free(&q);
        return;
    }
    static const char *const in_names[] = {"name", "description", "topics", "readme"};
    int in = gh_in_flags(&q, in_names, 4);
    cJSON *all = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, gh_arr(st->world, "repositories"))
    {
        char topics[1024] = "";
        const cJSON *t;
        cJSON_ArrayForEach(t, gh_arr(r, "topics"))
        {
            if (cJSON_IsString(t) && strlen(topics) + strlen(t->valuestring) + 2 < sizeof topics) {
                strcat(topics, t->valuestring);
                strcat(topics, " ");
            }
        }
        const char *readme = NULL;
        const cJSON *f;
        cJSON_ArrayForEach(f, gh_arr(r, "files"))
        {
            if (gh_ieq(gh_str(f, "path"), "README.md"))
                readme = gh_str(f, "content");
        }
        const char *texts[4];
        size_t nt = 0;
        if (!in || (in & 1))
            texts[nt++] = gh_str(r, "name");
        if (!in || (in & 2))
            texts[nt++] = gh_str(r, "description");
        if (!in || (in & 4))
            texts[nt++] = topics;
        if (in & 8)
            texts[nt++] = readme;
        double stars = gh_num(r, "stargazers_count");
        if (!gh_words_match(&q, texts, nt) || !gh_terms_match(&q, "user", 0, gh_owner_fn, r) ||
            !gh_terms_match(&q, "org", 0, gh_owner_fn, r) ||
            !gh_terms_match(&q, "repo", 0, gh_fullname_fn, r) ||
            !gh_terms_match(&q, "topic", 1, gh_in_array_fn, gh_arr(r, "topics")) ||
            !gh_terms_match(&q, "language", 0, gh_eq_fn, gh_str(r, "language")) ||
            !gh_terms_match(&q, "is", 1, gh_visibility_fn, r) ||
            !gh_terms_match(&q, "stars", 1, gh_range_fn, &stars) ||
            !gh_terms_match(&q, "archived", 0, gh_eq_fn, "false") ||
            !gh_terms_match(&q, "fork", 0, gh_eq_fn, "false"))
            continue;
        cJSON_AddItemToArray(all, gh_repo_json(st, r, minimal ? GH_REPO_MINIMAL : GH_REPO_FULL));
    }
    gh_query_free(&q);
    gh_reply(call, gh_search_page(all, page, per_page));
}

/* ---------------------------------------------------------------- tools: contents ---- */

/* Which branch a ref/sha names: 0 and *branch (in the world), or -1 after answering. */
static int gh_resolve_ref(gh_args_t *a, const cJSON *repo, const char *ref, const char *sha,
                          const char **branch, const char *path)
{
    const char *full = gh_sv(repo, "full_name");
    if (sha) {
        const cJSON *b;
        cJSON_ArrayForEach(b, gh_arr(repo, "branches"))
        {
            if (gh_ieq(gh_str(b, "commit_sha"), sha) ||
                (strlen(sha) >= 7 && gh_str(b, "commit_sha") &&
                 strncasecmp(gh_str(b, "commit_sha"), sha, strlen(sha)) == 0)) {
                *branch = gh_str(b, "name");
                return 0;
            }
        }
        const cJSON *c = gh_find_commit(repo, sha);
        /* Older commits: the tree of the branch they were made on (the fixture keeps one tree
         * per branch, not one per commit). */
        if (c && gh_find_branch(repo, gh_str(c, "branch"))) {
            *branch = gh_str(gh_find_branch(repo, gh_str(c, "branch")), "name");
            return 0;
        }
        if (c) {
            *branch = gh_default_branch(repo);
            return 0;
        }
        a->failed = 1;
        gh_api_error(a->call, "failed to get file contents", "GET", 404,
                     "No commit found for the ref", NULL, "/repos/%s/contents/%s?ref=%s", full,
                     path, sha);
        return -1;
    }
    if (!ref) {
        *branch = gh_default_branch(repo);
        return 0;
    }
    const char *name = ref;
    if (strncmp(ref, "refs/heads/", 11) == 0)
        name = ref + 11;
    else if (strncmp(ref, "heads/", 6) == 0)
        name = ref + 6;
    const cJSON *b = gh_find_branch(repo, name);
    if (b) {
        *branch = gh_str(b, "name");
        return 0;
    }
    unsigned pr_number = 0;
    char tail[16] = "";
    if (sscanf(ref, "refs/pull/%u/%15s", &pr_number, tail) == 2 && strcmp(tail, "head") == 0) {
        int is_pr = 0;
        const cJSON *pr = gh_find_item(repo, pr_number, &is_pr);
        if (pr && is_pr && gh_find_branch(repo, gh_str(pr, "head"))) {
            *branch = gh_str(gh_find_branch(repo, gh_str(pr, "head")), "name");
            return 0;
        }
    }
    const cJSON *c = gh_find_commit(repo, ref);
    if (c) {
        const cJSON *cb = gh_find_branch(repo, gh_str(c, "branch"));
        *branch = cb ? gh_str(cb, "name") : gh_default_branch(repo);
        return 0;
    }
    a->failed = 1;
    gh_api_error(a->call, "failed to get file contents", "GET", 404, "No commit found for the ref",
                 NULL, "/repos/%s/contents/%s?ref=%s", full, path, ref);
    return -1;
}

static void gh_tool_get_file_contents(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *path_arg = gh_opt_str(&a, "path");
    const char *ref = gh_opt_str(&a, "ref");
    const char *sha = gh_opt_str(&a, "sha");
    char path[1024];
    snprintf(path, sizeof path, "%s", path_arg ? path_arg : "/");
    char *p = path;
    while (*p == '/')
        p++;
    size_t plen = strlen(p);
    int want_dir = plen == 0 || p[plen - 1] == '/';
    while (plen > 0 && p[plen - 1] == '/')
        p[--plen] = '\0';
    cJSON *repo = gh_repo_arg(st, &a, "failed to get file contents", "GET", "/contents/");
    if (!repo)
        return;
    const char *branch = NULL;
    if (gh_resolve_ref(&a, repo, ref, sha, &branch, p) != 0)
        return;
    gh_tree_t tree;
    if (gh_tree_build(repo, branch, &tree) != 0) {
        mcp_call_tool_error(call, "out of memory");
        return;
    }
    if (!want_dir) {
        for (size_t i = 0; i < tree.count; i++) {
            if (strcmp(gh_str(tree.files[i], "path"), p) == 0) {
                gh_reply(call, gh_content_json(repo, branch, p, 0, tree.files[i], 1));
                gh_tree_free(&tree);
                return;
            }
        }
    }
    /* A directory: the immediate children of p, directories once each. */
    cJSON *list = cJSON_CreateArray();
    char last_dir[1024] = "";
    for (size_t i = 0; i < tree.count; i++) {
        const char *fp = gh_str(tree.files[i], "path");
        const char *rest = fp;
        if (plen > 0) {
            if (strncmp(fp, p, plen) != 0 || fp[plen] != '/')
                continue;
            rest = fp + plen + 1;
        }
        const char *slash = strchr(rest, '/');
        if (slash) {
            char dir[1024];
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - fp), fp);
            if (strcmp(dir, last_dir) == 0)
                continue;
            snprintf(last_dir, sizeof last_dir, "%s", dir);
            cJSON_AddItemToArray(list, gh_content_json(repo, branch, dir, 1, NULL, 0));
        } else {
            cJSON_AddItemToArray(list, gh_content_json(repo, branch, fp, 0, tree.files[i], 0));
        }
    }
    gh_tree_free(&tree);
    if (cJSON_GetArraySize(list) == 0 && plen > 0) {
        cJSON_Delete(list);
        gh_api_error(call, "failed to get file contents", "GET", 404, "Not Found", NULL,
                     "/repos/%s/contents/%s?ref=%s", gh_sv(repo, "full_name"), p, branch);
        return;
    }
    gh_reply(call, list);
}

typedef struct {
    const cJSON *repo;
    const char *path;
} gh_code_ctx_t;

static int gh_code_lang_fn(const char *value, const void *ctx)
{
    const gh_code_ctx_t *c = ctx;
    const char *lang = gh_file_language(c->path);
    if (lang && gh_ieq(value, lang))
        return 1;
    /* language:ts, language:py: the extension works as the language's short name. */
    return lang && gh_ieq(value, gh_file_ext(c->path));
}

static int gh_code_ext_fn(const char *value, const void *ctx)
{
    const gh_code_ctx_t *c = ctx;
    return gh_ieq(value[0] == '.' ? value + 1 : value, gh_file_ext(c->path));
}

static int gh_code_path_fn(const char *value, const void *ctx)
{
    const gh_code_ctx_t *c = ctx;
    while (*value == '/')
        value++;
    if (strpbrk(value, "*?["))
        return fnmatch(value, c->path, 0) == 0;
    return gh_contains(c->path, value);
}

static int gh_code_filename_fn(const char *value, const void *ctx)
{
    const gh_code_ctx_t *c = ctx;
    const char *base = gh_basename(c->path);
    if (strpbrk(value, "*?["))
        return fnmatch(value, base, 0) == 0;
    return gh_ieq(value, base);
}

static int gh_code_repo_fn(const char *value, const void *ctx)
{
    return gh_fullname_fn(value, ((const gh_code_ctx_t *)ctx)->repo);
}

static int gh_code_owner_fn(const char *value, const void *ctx)
{
    return gh_owner_fn(value, ((const gh_code_ctx_t *)ctx)->repo);
}

static int gh_code_is_fn(const char *value, const void *ctx)
{
    return gh_visibility_fn(value, ((const gh_code_ctx_t *)ctx)->repo);
}

static void gh_tool_search_code(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *query = gh_req_str(&a, "query");
    gh_opt_str(&a, "order");
    gh_opt_str(&a, "sort");
    size_t page, per_page;
    if (gh_paging(&a, &page, &per_page) != 0 || a.failed)
        return;
    gh_query_t q;
    char err[160];
    if (gh_query_parse(query, &q, err, sizeof err) != 0) {
        gh_api_error(call, "failed to search code", "GET", 422, "Validation Failed", NULL,
                     "/search/code: %s", err);
        return;
    }
    static const char *const known[] = {"repo", "org",      "user", "language", "extension",
                                        "path", "filename", "in",   "is",       NULL};
    if (gh_unknown_qualifier(&q, known) || q.count == 0) {
        gh_api_error(call, "failed to search code", "GET", 422, "Validation Failed", NULL,
                     "/search/code?q=%s", query);
        gh_query_free(&q);
        return;
    }
    static const char *const in_names[] = {"file", "path"};
    int in = gh_in_flags(&q, in_names, 2);
    cJSON *all = cJSON_CreateArray();
    const cJSON *r;
    cJSON_ArrayForEach(r, gh_arr(st->world, "repositories"))
    {
        const cJSON *head = gh_find_branch(r, gh_default_branch(r));
        const char *head_sha = gh_str(head, "commit_sha");
        const cJSON *f;
        cJSON_ArrayForEach(f, gh_arr(r, "files"))
        {
            gh_code_ctx_t ctx = {r, gh_str(f, "path")};
            if (!ctx.path)
                continue;
            const char *texts[2];
            size_t nt = 0;
            if (!in || (in & 1))
                texts[nt++] = gh_str(f, "content");
            if (in & 2)
                texts[nt++] = ctx.path;
            if (!gh_words_match(&q, texts, nt) ||
                !gh_terms_match(&q, "repo", 0, gh_code_repo_fn, &ctx) ||
                !gh_terms_match(&q, "org", 0, gh_code_owner_fn, &ctx) ||
                !gh_terms_match(&q, "user", 0, gh_code_owner_fn, &ctx) ||
                !gh_terms_match(&q, "language", 0, gh_code_lang_fn, &ctx) ||
                !gh_terms_match(&q, "extension", 0, gh_code_ext_fn, &ctx) ||
                !gh_terms_match(&q, "path", 0, gh_code_path_fn, &ctx) ||
                !gh_terms_match(&q, "filename", 0, gh_code_filename_fn, &ctx) ||
                !gh_terms_match(&q, "is", 1, gh_code_is_fn, &ctx))
                continue;
            const char *full = gh_sv(r, "full_name"), *fsha = gh_str(f, "sha");
            cJSON *item = cJSON_CreateObject();
            cJSON_AddStringToObject(item, "name", gh_basename(ctx.path));
            cJSON_AddStringToObject(item, "path", ctx.path);
            gh_add_str_or_null(item, "sha", fsha);
            gh_add_fmt(item, "url", GH_API "/repositories/%.0f/contents/%s?ref=%s", gh_num(r, "id"),
                       ctx.path, head_sha ? head_sha : "");
            gh_add_fmt(item, "git_url", GH_API "/repositories/%.0f/git/blobs/%s", gh_num(r, "id"),
                       fsha ? fsha : "");
            gh_add_fmt(item, "html_url", GH_WEB "/%s/blob/%s/%s", full, head_sha ? head_sha : "",
                       ctx.path);
            cJSON_AddItemToObject(item, "repository", gh_repo_json(st, r, GH_REPO_SHORT));
            cJSON_AddNumberToObject(item, "score", 1);
            cJSON_AddItemToArray(all, item); /* every score is equal: fixture order */
        }
    }
    gh_query_free(&q);
    gh_reply(call, gh_search_page(all, page, per_page));
}

/* ---------------------------------------------------------------- tools: issues ---- */

static char *gh_cursor(size_t index)
{
    char raw[32];
    snprintf(raw, sizeof raw, "cursor:%zu", index);
    return gh_base64((const unsigned char *)raw, strlen(raw));
}

static const char *gh_order_field;
static int gh_order_desc;

static int gh_issue_cmp(const void *a, const void *b)
{
    const cJSON *ia = *(const cJSON *const *)a, *ib = *(const cJSON *const *)b;
    int r;
    if (strcmp(gh_order_field, "comments") == 0) {
        int ca = cJSON_GetArraySize(gh_arr(ia, "comments")),
            cb = cJSON_GetArraySize(gh_arr(ib, "comments"));
        r = ca < cb ? -1 : ca > cb;
    } else {
        const char *sa = gh_str(ia, gh_order_field), *sb = gh_str(ib, gh_order_field);
        r = strcmp(sa ? sa : "", sb ? sb : "");
    }
    if (r == 0) {
        double na = gh_num(ia, "number"), nb = gh_num(ib, "number");
        r = na < nb ? -1 : na > nb;
    }
    return gh_order_desc ? -r : r;
}

static void gh_tool_list_issues(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *state = gh_opt_str(&a, "state");
    const cJSON *labels = gh_opt_str_array(&a, "labels");
    const char *order_by = gh_opt_str(&a, "orderBy");
    const char *direction = gh_opt_str(&a, "direction");
    const char *since = gh_opt_str(&a, "since");
    const char *after = gh_opt_str(&a, "after");
    double per_page = GH_DEFAULT_PER_PAGE;
    gh_opt_int(&a, "perPage", &per_page);
    const char *owner = gh_req_str(&a, "owner"), *name = gh_req_str(&a, "repo");
    if (a.failed)
        return;
    if (per_page < 1) {
        gh_fail(&a, "invalid perPage: %.0f (1 to 100)", per_page);
        return;
    }
    if (per_page > GH_MAX_PER_PAGE)
        per_page = GH_MAX_PER_PAGE;
    if (state && !gh_ieq(state, "OPEN") && !gh_ieq(state, "CLOSED")) {
        gh_fail(&a, "invalid state: %s (OPEN or CLOSED)", state);
        return;
    }
    const char *field = "created_at";
    if (order_by) {
        if (gh_ieq(order_by, "UPDATED_AT"))
            field = "updated_at";
        else if (gh_ieq(order_by, "COMMENTS"))
            field = "comments";
        else if (!gh_ieq(order_by, "CREATED_AT")) {
            gh_fail(&a, "invalid orderBy: %s (CREATED_AT, UPDATED_AT or COMMENTS)", order_by);
            return;
        }
    }
    if (direction && !gh_ieq(direction, "ASC") && !gh_ieq(direction, "DESC")) {
        gh_fail(&a, "invalid direction: %s (ASC or DESC)", direction);
        return;
    }
    size_t offset = 0;
    if (after) {
        char raw[64];
        unsigned long idx = 0;
        char extra;
        if (gh_unbase64(after, raw, sizeof raw) != 0 ||
            sscanf(raw, "cursor:%lu%c", &idx, &extra) != 1) {
            gh_fail(&a, "invalid after cursor: %s", after);
            return;
        }
        offset = idx;
    }
    const cJSON *repo = gh_find_repo(st, owner, name);
    if (!repo) {
        char *msg = mcp_asprintf("failed to list issues: Could not resolve to a Repository with "
                                 "the name '%s/%s'.",
                                 owner, name);
        mcp_call_tool_error(call, msg ? msg : "not found");
        mcp_free(msg);
        return;
    }
    size_t cap = (size_t)cJSON_GetArraySize(gh_arr(repo, "issues")) + 1, n = 0;
    const cJSON **items = mcp_calloc(cap, sizeof *items);
    if (!items) {
        mcp_call_tool_error(call, "out of memory");
        return;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, gh_arr(repo, "issues"))
    {
        if (state && !gh_ieq(gh_str(it, "state"), state))
            continue;
        if (since && strcmp(gh_str(it, "updated_at") ? gh_str(it, "updated_at") : "", since) < 0)
            continue;
        if (labels && cJSON_GetArraySize(labels) > 0) {
            int any = 0;
            const cJSON *l;
            cJSON_ArrayForEach(l, labels) any |=
                gh_array_has_string(gh_arr(it, "labels"), l->valuestring, 1);
            if (!any)
                continue;
        }
        items[n++] = it;
    }
    gh_order_field = field;
    gh_order_desc = !direction || gh_ieq(direction, "DESC");
    qsort(items, n, sizeof *items, gh_issue_cmp);
    cJSON *out = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(out, "issues");
    size_t end = offset + (size_t)per_page;
    for (size_t i = offset; i < n && i < end; i++)
        cJSON_AddItemToArray(list, gh_issue_json(st, repo, items[i], 0));
    mcp_free(items);
    cJSON *info = cJSON_AddObjectToObject(out, "pageInfo");
    cJSON_AddBoolToObject(info, "hasNextPage", end < n);
    cJSON_AddBoolToObject(info, "hasPreviousPage", offset > 0);
    size_t shown = (size_t)cJSON_GetArraySize(list);
    char *start_c = shown ? gh_cursor(offset + 1) : NULL,
         *end_c = shown ? gh_cursor(offset + shown) : NULL;
    gh_add_str_or_null(info, "startCursor", start_c);
    gh_add_str_or_null(info, "endCursor", end_c);
    mcp_free(start_c);
    mcp_free(end_c);
    cJSON_AddNumberToObject(out, "totalCount", (double)n);
    gh_reply(call, out);
}

/* The issue (or pull request) named by owner/repo/issue_number, or NULL after answering. */
static cJSON *gh_item_arg(gh_state_t *st, gh_args_t *a, const char *what, const char *method,
                          const char *suffix, cJSON **repo_out, int *is_pr)
{
    const char *owner = gh_req_str(a, "owner");
    const char *name = gh_req_str(a, "repo");
    double number = gh_req_int(a, "issue_number");
    if (a->failed)
        return NULL;
    cJSON *repo = gh_find_repo(st, owner, name);
    cJSON *item = repo ? gh_find_item(repo, number, is_pr) : NULL;
    if (!item) {
        a->failed = 1;
        gh_api_error(a->call, what, method, 404, "Not Found", NULL, "/repos/%s/%s/issues/%.0f%s",
                     owner, name, number, suffix ? suffix : "");
        return NULL;
    }
    *repo_out = repo;
    return item;
}

static void gh_tool_get_issue(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    cJSON *repo = NULL;
    int is_pr = 0;
    cJSON *item = gh_item_arg(st, &a, "failed to get issue", "GET", NULL, &repo, &is_pr);
    if (item)
        gh_reply(call, gh_issue_json(st, repo, item, is_pr));
}

static void gh_tool_get_issue_comments(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    size_t page, per_page;
    if (gh_paging(&a, &page, &per_page) != 0)
        return;
    cJSON *repo = NULL;
    int is_pr = 0;
    cJSON *item =
        gh_item_arg(st, &a, "failed to get issue comments", "GET", "/comments", &repo, &is_pr);
    if (!item)
        return;
    cJSON *all = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, gh_arr(item, "comments"))
        cJSON_AddItemToArray(all, gh_comment_json(st, repo, item, c));
    gh_reply(call, gh_list_page(all, page, per_page));
}

typedef struct {
    const cJSON *repo;
    const cJSON *item;
} gh_issue_ctx_t;

static int gh_issue_repo_fn(const char *value, const void *ctx)
{
    return gh_fullname_fn(value, ((const gh_issue_ctx_t *)ctx)->repo);
}

static int gh_issue_owner_fn(const char *value, const void *ctx)
{
    return gh_owner_fn(value, ((const gh_issue_ctx_t *)ctx)->repo);
}

static int gh_issue_is_fn(const char *value, const void *ctx)
{
    const gh_issue_ctx_t *c = ctx;
    if (gh_ieq(value, "open") || gh_ieq(value, "closed"))
        return gh_ieq(value, gh_str(c->item, "state"));
    if (gh_ieq(value, "issue"))
        return 1;
    if (gh_ieq(value, "pr") || gh_ieq(value, "pull-request") || gh_ieq(value, "merged"))
        return 0; /* the search is scoped to issues */
    return gh_visibility_fn(value, c->repo);
}

static int gh_issue_state_fn(const char *value, const void *ctx)
{
    return gh_ieq(value, gh_str(((const gh_issue_ctx_t *)ctx)->item, "state"));
}

static int gh_issue_label_fn(const char *value, const void *ctx)
{
    /* label:"a","b" means either. */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", value);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (gh_array_has_string(gh_arr(((const gh_issue_ctx_t *)ctx)->item, "labels"), tok, 1))
            return 1;
    return 0;
}

static int gh_issue_author_fn(const char *value, const void *ctx)
{
    return gh_ieq(value, gh_str(((const gh_issue_ctx_t *)ctx)->item, "user"));
}

static int gh_issue_assignee_fn(const char *value, const void *ctx)
{
    return gh_array_has_string(gh_arr(((const gh_issue_ctx_t *)ctx)->item, "assignees"), value, 1);
}

static int gh_issue_no_fn(const char *value, const void *ctx)
{
    const cJSON *item = ((const gh_issue_ctx_t *)ctx)->item;
    if (gh_ieq(value, "label"))
        return cJSON_GetArraySize(gh_arr(item, "labels")) == 0;
    if (gh_ieq(value, "assignee"))
        return cJSON_GetArraySize(gh_arr(item, "assignees")) == 0;
    return 1;
}

static int gh_issue_comments_fn(const char *value, const void *ctx)
{
    double n = cJSON_GetArraySize(gh_arr(((const gh_issue_ctx_t *)ctx)->item, "comments"));
    return gh_range_match(value, n);
}

typedef struct {
    const cJSON *repo;
    const cJSON *item;
} gh_pair_t;

static int gh_pair_cmp(const void *a, const void *b)
{
    const gh_pair_t *pa = a, *pb = b;
    const cJSON *ia = pa->item, *ib = pb->item;
    return gh_issue_cmp(&ia, &ib);
}

static void gh_tool_search_issues(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *query = gh_req_str(&a, "query");
    const char *owner = gh_opt_str(&a, "owner");
    const char *rname = gh_opt_str(&a, "repo");
    const char *sort = gh_opt_str(&a, "sort");
    const char *order = gh_opt_str(&a, "order");
    size_t page, per_page;
    if (gh_paging(&a, &page, &per_page) != 0 || a.failed)
        return;
    gh_query_t q;
    char err[160];
    if (gh_query_parse(query, &q, err, sizeof err) != 0) {
        gh_api_error(call, "failed to search issues", "GET", 422, "Validation Failed", NULL,
                     "/search/issues: %s", err);
        return;
    }
    static const char *const known[] = {"repo",     "org",    "user",     "is", "state",
                                        "label",    "author", "assignee", "no", "in",
                                        "comments", "type",   NULL};
    if (gh_unknown_qualifier(&q, known)) {
        gh_api_error(call, "failed to search issues", "GET", 422, "Validation Failed", NULL,
                     "/search/issues?q=%s", query);
        gh_query_free(&q);
        return;
    }
    static const char *const in_names[] = {"title", "body", "comments"};
    int in = gh_in_flags(&q, in_names, 3);
    size_t cap = 64, n = 0;
    gh_pair_t *found = mcp_calloc(cap, sizeof *found);
    const cJSON *r;
    cJSON_ArrayForEach(r, gh_arr(st->world, "repositories"))
    {
        if (owner && rname &&
            !(gh_ieq(owner, gh_str(r, "owner")) && gh_ieq(rname, gh_str(r, "name"))))
            continue;
        const cJSON *it;
        cJSON_ArrayForEach(it, gh_arr(r, "issues"))
        {
            gh_issue_ctx_t ctx = {r, it};
            char comments[8192] = "";
            const cJSON *c;
            if (in & 4)
                cJSON_ArrayForEach(c, gh_arr(it, "comments"))
                {
                    const char *b = gh_str(c, "body");
                    if (b && strlen(comments) + strlen(b) + 2 < sizeof comments) {
                        strcat(comments, b);
                        strcat(comments, "\n");
                    }
                }
            const char *texts[3];
            size_t nt = 0;
            if (!in || (in & 1))
                texts[nt++] = gh_str(it, "title");
            if (!in || (in & 2))
                texts[nt++] = gh_str(it, "body");
            if (in & 4)
                texts[nt++] = comments;
            if (!gh_words_match(&q, texts, nt) ||
                !gh_terms_match(&q, "repo", 0, gh_issue_repo_fn, &ctx) ||
                !gh_terms_match(&q, "org", 0, gh_issue_owner_fn, &ctx) ||
                !gh_terms_match(&q, "user", 0, gh_issue_owner_fn, &ctx) ||
                !gh_terms_match(&q, "is", 1, gh_issue_is_fn, &ctx) ||
                !gh_terms_match(&q, "type", 1, gh_issue_is_fn, &ctx) ||
                !gh_terms_match(&q, "state", 0, gh_issue_state_fn, &ctx) ||
                !gh_terms_match(&q, "label", 1, gh_issue_label_fn, &ctx) ||
                !gh_terms_match(&q, "author", 0, gh_issue_author_fn, &ctx) ||
                !gh_terms_match(&q, "assignee", 0, gh_issue_assignee_fn, &ctx) ||
                !gh_terms_match(&q, "no", 1, gh_issue_no_fn, &ctx) ||
                !gh_terms_match(&q, "comments", 1, gh_issue_comments_fn, &ctx))
                continue;
            if (n == cap) {
                gh_pair_t *grown = found ? mcp_realloc(found, 2 * cap * sizeof *found) : NULL;
                if (!grown)
                    break;
                found = grown;
                cap *= 2;
            }
            if (!found)
                break;
            found[n].repo = r;
            found[n].item = it;
            n++;
        }
    }
    gh_query_free(&q);
    if (!found) {
        mcp_call_tool_error(call, "out of memory");
        return;
    }
    if (sort && (strcmp(sort, "created") == 0 || strcmp(sort, "updated") == 0 ||
                 strcmp(sort, "comments") == 0)) {
        gh_order_field = strcmp(sort, "created") == 0   ? "created_at"
                         : strcmp(sort, "updated") == 0 ? "updated_at"
                                                        : "comments";
        gh_order_desc = !order || strcmp(order, "asc") != 0;
        qsort(found, n, sizeof *found, gh_pair_cmp);
    }
    cJSON *all = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *item = gh_issue_json(st, found[i].repo, found[i].item, 0);
        cJSON_AddNumberToObject(item, "score", 1);
        cJSON_AddItemToArray(all, item);
    }
    mcp_free(found);
    gh_reply(call, gh_search_page(all, page, per_page));
}

/* ---- issue writes ---- */

static void gh_touch(cJSON *obj, const char *key, const char *now)
{
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateString(now));
}

static void gh_bump_open_count(cJSON *repo, int delta)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(repo, "open_issues_count");
    if (cJSON_IsNumber(v))
        cJSON_SetNumberValue(v, v->valuedouble + delta);
}

/* Unknown logins among assignees: 422 like GitHub. 0, or -1 after answering. */
static int gh_check_assignees(gh_state_t *st, gh_args_t *a, const cJSON *assignees,
                              const char *what, const char *method, const char *path)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, assignees)
    {
        if (!gh_find_user(st, s->valuestring)) {
            a->failed = 1;
            gh_api_error(a->call, what, method, 422, "Validation Failed",
                         "[{Resource:Issue Field:assignees Code:invalid Message: "
                         "DocumentationURL:}]",
                         "%s", path);
            return -1;
        }
    }
    return 0;
}

static double gh_next_number(const cJSON *repo)
{
    double max = 0;
    const cJSON *i;
    cJSON_ArrayForEach(i, gh_arr(repo, "issues")) max = fmax(max, gh_num(i, "number"));
    cJSON_ArrayForEach(i, gh_arr(repo, "pull_requests")) max = fmax(max, gh_num(i, "number"));
    return max + 1;
}

static int gh_list_full(gh_args_t *a, const cJSON *list, const char *what)
{
    if (cJSON_GetArraySize(list) < GH_MAX_ITEMS)
        return 0;
    gh_fail(a, "%s: the mock holds at most %d of these", what, GH_MAX_ITEMS);
    return -1;
}

static void gh_tool_create_issue(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *title = gh_req_str(&a, "title");
    const char *body = gh_opt_str(&a, "body");
    const cJSON *labels = gh_opt_str_array(&a, "labels");
    const cJSON *assignees = gh_opt_str_array(&a, "assignees");
    double milestone = 0;
    int has_milestone = gh_opt_int(&a, "milestone", &milestone);
    gh_opt_str(&a, "type");
    cJSON *repo = gh_repo_arg(st, &a, "failed to create issue", "POST", "/issues");
    if (!repo)
        return;
    char path[600];
    snprintf(path, sizeof path, "/repos/%s/issues", gh_sv(repo, "full_name"));
    if (gh_check_writable(st, &a, "failed to create issue", "POST", path) != 0)
        return;
    if (has_milestone) {
        gh_api_error(call, "failed to create issue", "POST", 422, "Validation Failed",
                     "[{Resource:Issue Field:milestone Code:invalid Message: DocumentationURL:}]",
                     "%s", path);
        return;
    }
    if (gh_check_assignees(st, &a, assignees, "failed to create issue", "POST", path) != 0)
        return;
    cJSON *issues = gh_arr(repo, "issues");
    if (!issues) {
        issues = cJSON_CreateArray();
        cJSON_AddItemToObject(repo, "issues", issues);
    }
    if (gh_list_full(&a, issues, "failed to create issue") != 0)
        return;
    char now[32];
    gh_now(now);
    cJSON *it = cJSON_CreateObject();
    cJSON_AddNumberToObject(it, "number", gh_next_number(repo));
    cJSON_AddStringToObject(it, "title", title);
    gh_add_str_or_null(it, "body", body);
    cJSON_AddStringToObject(it, "state", "open");
    cJSON_AddNullToObject(it, "state_reason");
    cJSON_AddStringToObject(it, "user", st->me);
    cJSON_AddItemToObject(it, "labels", labels ? cJSON_Duplicate(labels, 1) : cJSON_CreateArray());
    cJSON_AddItemToObject(it, "assignees",
                          assignees ? cJSON_Duplicate(assignees, 1) : cJSON_CreateArray());
    cJSON_AddStringToObject(it, "created_at", now);
    cJSON_AddStringToObject(it, "updated_at", now);
    cJSON_AddNullToObject(it, "closed_at");
    cJSON_AddItemToObject(it, "comments", cJSON_CreateArray());
    cJSON_AddItemToArray(issues, it);
    gh_bump_open_count(repo, +1);
    gh_touch(repo, "updated_at", now);
    st->writes++;
    gh_reply(call, gh_issue_json(st, repo, it, 0));
}

static void gh_tool_update_issue(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *title = gh_opt_str(&a, "title");
    const char *body = gh_opt_str(&a, "body");
    const char *state = gh_opt_str(&a, "state");
    const char *reason = gh_opt_str(&a, "state_reason");
    const cJSON *labels = gh_opt_str_array(&a, "labels");
    const cJSON *assignees = gh_opt_str_array(&a, "assignees");
    double milestone = 0, dup = 0;
    int has_milestone = gh_opt_int(&a, "milestone", &milestone);
    gh_opt_int(&a, "duplicate_of", &dup);
    gh_opt_str(&a, "type");
    cJSON *repo = NULL;
    int is_pr = 0;
    cJSON *it = gh_item_arg(st, &a, "failed to update issue", "PATCH", NULL, &repo, &is_pr);
    if (!it)
        return;
    char path[600];
    snprintf(path, sizeof path, "/repos/%s/issues/%.0f", gh_sv(repo, "full_name"),
             gh_num(it, "number"));
    if (gh_check_writable(st, &a, "failed to update issue", "PATCH", path) != 0)
        return;
    if (state && strcmp(state, "open") != 0 && strcmp(state, "closed") != 0) {
        gh_api_error(call, "failed to update issue", "PATCH", 422, "Validation Failed",
                     "[{Resource:Issue Field:state Code:invalid Message: DocumentationURL:}]", "%s",
                     path);
        return;
    }
    if (reason && strcmp(reason, "completed") != 0 && strcmp(reason, "not_planned") != 0 &&
        strcmp(reason, "duplicate") != 0) {
        gh_api_error(call, "failed to update issue", "PATCH", 422, "Validation Failed",
                     "[{Resource:Issue Field:state_reason Code:invalid Message: "
                     "DocumentationURL:}]",
                     "%s", path);
        return;
    }
    if (has_milestone) {
        gh_api_error(call, "failed to update issue", "PATCH", 422, "Validation Failed",
                     "[{Resource:Issue Field:milestone Code:invalid Message: DocumentationURL:}]",
                     "%s", path);
        return;
    }
    if (gh_check_assignees(st, &a, assignees, "failed to update issue", "PATCH", path) != 0)
        return;
    char now[32];
    gh_now(now);
    if (title)
        cJSON_ReplaceItemInObjectCaseSensitive(it, "title", cJSON_CreateString(title));
    if (body)
        cJSON_ReplaceItemInObjectCaseSensitive(it, "body", cJSON_CreateString(body));
    if (labels)
        cJSON_ReplaceItemInObjectCaseSensitive(it, "labels", cJSON_Duplicate(labels, 1));
    if (assignees) {
        if (cJSON_GetObjectItemCaseSensitive(it, "assignees"))
            cJSON_ReplaceItemInObjectCaseSensitive(it, "assignees", cJSON_Duplicate(assignees, 1));
        else
            cJSON_AddItemToObject(it, "assignees", cJSON_Duplicate(assignees, 1));
    }
    const char *old = gh_str(it, "state");
    if (state && old && strcmp(state, old) != 0) {
        int closing = strcmp(state, "closed") == 0;
        cJSON_ReplaceItemInObjectCaseSensitive(it, "state", cJSON_CreateString(state));
        cJSON_ReplaceItemInObjectCaseSensitive(
            it, "closed_at", closing ? cJSON_CreateString(now) : cJSON_CreateNull());
        if (!is_pr) {
            cJSON *sr = closing ? cJSON_CreateString(reason ? reason : "completed")
                                : cJSON_CreateString("reopened");
            if (cJSON_GetObjectItemCaseSensitive(it, "state_reason"))
                cJSON_ReplaceItemInObjectCaseSensitive(it, "state_reason", sr);
            else
                cJSON_AddItemToObject(it, "state_reason", sr);
        }
        gh_bump_open_count(repo, closing ? -1 : +1);
    }
    gh_touch(it, "updated_at", now);
    st->writes++;
    gh_reply(call, gh_issue_json(st, repo, it, is_pr));
}

static void gh_tool_add_issue_comment(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *body = gh_req_str(&a, "body");
    cJSON *repo = NULL;
    int is_pr = 0;
    cJSON *it = gh_item_arg(st, &a, "failed to create comment", "POST", "/comments", &repo, &is_pr);
    if (!it)
        return;
    char path[600];
    snprintf(path, sizeof path, "/repos/%s/issues/%.0f/comments", gh_sv(repo, "full_name"),
             gh_num(it, "number"));
    if (gh_check_writable(st, &a, "failed to create comment", "POST", path) != 0)
        return;
    cJSON *comments = gh_arr(it, "comments");
    if (!comments) {
        comments = cJSON_CreateArray();
        cJSON_AddItemToObject(it, "comments", comments);
    }
    if (gh_list_full(&a, comments, "failed to create comment") != 0)
        return;
    char now[32];
    gh_now(now);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "id", st->next_comment_id++);
    cJSON_AddStringToObject(c, "user", st->me);
    cJSON_AddStringToObject(c, "body", body);
    cJSON_AddStringToObject(c, "created_at", now);
    cJSON_AddItemToArray(comments, c);
    gh_touch(it, "updated_at", now);
    st->writes++;
    gh_reply(call, gh_comment_json(st, repo, it, c));
}

/* ---------------------------------------------------------------- tools: pull requests ---- */

static void gh_tool_list_pull_requests(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *state = gh_opt_str(&a, "state");
    const char *head = gh_opt_str(&a, "head");
    const char *base = gh_opt_str(&a, "base");
    const char *sort = gh_opt_str(&a, "sort");
    const char *direction = gh_opt_str(&a, "direction");
    size_t page, per_page;
    if (gh_paging(&a, &page, &per_page) != 0)
        return;
    cJSON *repo = gh_repo_arg(st, &a, "failed to list pull requests", "GET", "/pulls");
    if (!repo)
        return;
    if (!state)
        state = "open";
    if (strcmp(state, "open") != 0 && strcmp(state, "closed") != 0 && strcmp(state, "all") != 0) {
        gh_api_error(call, "failed to list pull requests", "GET", 422, "Validation Failed",
                     "[{Resource:Search Field:state Code:invalid Message: DocumentationURL:}]",
                     "/repos/%s/pulls?state=%s", gh_sv(repo, "full_name"), state);
        return;
    }
    /* head is "user:branch" or a branch. */
    const char *head_branch = head ? strchr(head, ':') : NULL;
    char head_owner[128] = "";
    if (head_branch) {
        snprintf(head_owner, sizeof head_owner, "%.*s", (int)(head_branch - head), head);
        head_branch++;
    } else {
        head_branch = head;
    }
    size_t cap = (size_t)cJSON_GetArraySize(gh_arr(repo, "pull_requests")) + 1, n = 0;
    const cJSON **items = mcp_calloc(cap, sizeof *items);
    if (!items) {
        mcp_call_tool_error(call, "out of memory");
        return;
    }
    const cJSON *pr;
    cJSON_ArrayForEach(pr, gh_arr(repo, "pull_requests"))
    {
        if (strcmp(state, "all") != 0 && !gh_ieq(gh_str(pr, "state"), state))
            continue;
        if (head_owner[0] && !gh_ieq(head_owner, gh_str(repo, "owner")))
            continue;
        if (head_branch && strcmp(head_branch, gh_str(pr, "head") ? gh_str(pr, "head") : "") != 0)
            continue;
        if (base && strcmp(base, gh_str(pr, "base") ? gh_str(pr, "base") : "") != 0)
            continue;
        items[n++] = pr;
    }
    /* GitHub: sorted by creation, newest first unless asked otherwise; long-running means the
     * oldest open first; popularity means most comments. */
    gh_order_field = "created_at";
    int desc = 1;
    if (sort && strcmp(sort, "updated") == 0)
        gh_order_field = "updated_at";
    else if (sort && strcmp(sort, "popularity") == 0)
        gh_order_field = "comments";
    if (sort && strcmp(sort, "created") != 0)
        desc = 0;
    if (sort && strcmp(sort, "long-running") == 0)
        desc = 0;
    if (sort && (strcmp(sort, "updated") == 0 || strcmp(sort, "popularity") == 0))
        desc = 1;
    if (direction)
        desc = strcmp(direction, "asc") != 0;
    gh_order_desc = desc;
    qsort(items, n, sizeof *items, gh_issue_cmp);
    cJSON *all = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(all, gh_pr_json(st, repo, items[i]));
    mcp_free(items);
    gh_reply(call, gh_list_page(all, page, per_page));
}

static void gh_tool_get_pull_request(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *owner = gh_req_str(&a, "owner");
    const char *name = gh_req_str(&a, "repo");
    double number = gh_req_int(&a, "pullNumber");
    if (a.failed)
        return;
    cJSON *repo = gh_find_repo(st, owner, name);
    int is_pr = 0;
    cJSON *pr = repo ? gh_find_item(repo, number, &is_pr) : NULL;
    if (!pr || !is_pr) {
        gh_api_error(call, "failed to get pull request", "GET", 404, "Not Found", NULL,
                     "/repos/%s/%s/pulls/%.0f", owner, name, number);
        return;
    }
    gh_reply(call, gh_pr_json(st, repo, pr));
}

/* Commits reachable from `head` through parents (a set, as flags on the commits array). */
static unsigned char *gh_reachable(const cJSON *repo, const char *head)
{
    int n = cJSON_GetArraySize(gh_arr(repo, "commits"));
    unsigned char *mark = mcp_calloc((size_t)n + 1, 1);
    const char **stack = mcp_calloc((size_t)n * 2 + 2, sizeof *stack);
    if (!mark || !stack) {
        mcp_free(mark);
        mcp_free(stack);
        return NULL;
    }
    size_t top = 0;
    if (head)
        stack[top++] = head;
    while (top > 0) {
        const char *sha = stack[--top];
        int idx = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, gh_arr(repo, "commits"))
        {
            if (gh_str(c, "sha") && strcmp(gh_str(c, "sha"), sha) == 0)
                break;
            idx++;
        }
        if (idx >= n || mark[idx])
            continue;
        mark[idx] = 1;
        const cJSON *p;
        cJSON_ArrayForEach(p, gh_arr(c, "parents"))
        {
            if (cJSON_IsString(p) && top < (size_t)n * 2 + 2)
                stack[top++] = p->valuestring;
        }
    }
    mcp_free(stack);
    return mark;
}

static void gh_tool_create_pull_request(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *title = gh_req_str(&a, "title");
    const char *head = gh_req_str(&a, "head");
    const char *base = gh_req_str(&a, "base");
    const char *body = gh_opt_str(&a, "body");
    int draft = gh_opt_bool(&a, "draft", 0);
    gh_opt_bool(&a, "maintainer_can_modify", 0);
    cJSON *repo = gh_repo_arg(st, &a, "failed to create pull request", "POST", "/pulls");
    if (!repo)
        return;
    char path[600];
    snprintf(path, sizeof path, "/repos/%s/pulls", gh_sv(repo, "full_name"));
    if (gh_check_writable(st, &a, "failed to create pull request", "POST", path) != 0)
        return;
    const char *hb = strchr(head, ':') ? strchr(head, ':') + 1 : head;
    const cJSON *hbr = gh_find_branch(repo, hb), *bbr = gh_find_branch(repo, base);
    if (!hbr || !bbr) {
        gh_api_error(call, "failed to create pull request", "POST", 422, "Validation Failed",
                     !hbr ? "[{Resource:PullRequest Field:head Code:invalid Message: "
                            "DocumentationURL:}]"
                          : "[{Resource:PullRequest Field:base Code:invalid Message: "
                            "DocumentationURL:}]",
                     "%s", path);
        return;
    }
    const cJSON *pr;
    cJSON_ArrayForEach(pr, gh_arr(repo, "pull_requests"))
    {
        if (gh_ieq(gh_str(pr, "state"), "open") && gh_str(pr, "head") &&
            strcmp(gh_str(pr, "head"), hb) == 0 && gh_str(pr, "base") &&
            strcmp(gh_str(pr, "base"), base) == 0) {
            char errors[300];
            snprintf(errors, sizeof errors,
                     "[{Resource:PullRequest Field: Code:custom Message:A pull request already "
                     "exists for %s:%s. DocumentationURL:}]",
                     gh_sv(repo, "owner"), hb);
            gh_api_error(call, "failed to create pull request", "POST", 422, "Validation Failed",
                         errors, "%s", path);
            return;
        }
    }
    const char *head_sha = gh_str(hbr, "commit_sha"), *base_sha = gh_str(bbr, "commit_sha");
    unsigned char *in_head = gh_reachable(repo, head_sha), *in_base = gh_reachable(repo, base_sha);
    cJSON *commits = cJSON_CreateArray(), *files = cJSON_CreateArray();
    int idx = 0;
    const cJSON *c;
    if (in_head && in_base)
        cJSON_ArrayForEach(c, gh_arr(repo, "commits"))
        {
            if (in_head[idx] && !in_base[idx]) {
                /* Oldest first, as GitHub lists a pull request's commits. */
                gh_array_insert(commits, 0, cJSON_CreateString(gh_str(c, "sha")));
                const cJSON *f;
                cJSON_ArrayForEach(f, gh_arr(c, "files"))
                {
                    int dup = 0;
                    const cJSON *g;
                    cJSON_ArrayForEach(g, files) dup |=
                        gh_ieq(gh_str(g, "filename"), gh_str(f, "filename"));
                    if (!dup)
                        cJSON_AddItemToArray(files, cJSON_Duplicate(f, 1));
                }
            }
            idx++;
        }
    mcp_free(in_head);
    mcp_free(in_base);
    if (cJSON_GetArraySize(commits) == 0) {
        cJSON_Delete(commits);
        cJSON_Delete(files);
        char errors[300];
        snprintf(errors, sizeof errors,
                 "[{Resource:PullRequest Field: Code:custom Message:No commits between %s and %s "
                 "DocumentationURL:}]",
                 base, hb);
        gh_api_error(call, "failed to create pull request", "POST", 422, "Validation Failed",
                     errors, "%s", path);
        return;
    }
    cJSON *prs = gh_arr(repo, "pull_requests");
    if (!prs) {
        prs = cJSON_CreateArray();
        cJSON_AddItemToObject(repo, "pull_requests", prs);
    }
    if (gh_list_full(&a, prs, "failed to create pull request") != 0) {
        cJSON_Delete(commits);
        cJSON_Delete(files);
        return;
    }
    char now[32];
    gh_now(now);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "number", gh_next_number(repo));
    cJSON_AddStringToObject(p, "title", title);
    gh_add_str_or_null(p, "body", body);
    cJSON_AddStringToObject(p, "state", "open");
    cJSON_AddBoolToObject(p, "draft", draft);
    cJSON_AddBoolToObject(p, "merged", 0);
    cJSON_AddStringToObject(p, "user", st->me);
    cJSON_AddStringToObject(p, "head", hb);
    cJSON_AddStringToObject(p, "head_sha", head_sha);
    cJSON_AddStringToObject(p, "base", base);
    cJSON_AddStringToObject(p, "base_sha", base_sha);
    cJSON_AddNullToObject(p, "merge_commit_sha");
    cJSON_AddItemToObject(p, "labels", cJSON_CreateArray());
    cJSON_AddItemToObject(p, "requested_reviewers", cJSON_CreateArray());
    cJSON_AddStringToObject(p, "created_at", now);
    cJSON_AddStringToObject(p, "updated_at", now);
    cJSON_AddNullToObject(p, "closed_at");
    cJSON_AddNullToObject(p, "merged_at");
    cJSON_AddItemToObject(p, "commits", commits);
    cJSON_AddItemToObject(p, "files", files);
    cJSON_AddItemToObject(p, "comments", cJSON_CreateArray());
    cJSON_AddItemToArray(prs, p);
    gh_bump_open_count(repo, +1);
    st->writes++;
    gh_reply(call, gh_pr_json(st, repo, p));
}

/* ---------------------------------------------------------------- tools: commits, branches */

static void gh_tool_list_commits(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *sha = gh_opt_str(&a, "sha");
    const char *author = gh_opt_str(&a, "author");
    size_t page, per_page;
    if (gh_paging(&a, &page, &per_page) != 0)
        return;
    cJSON *repo = gh_repo_arg(st, &a, "failed to list commits", "GET", "/commits");
    if (!repo)
        return;
    const char *head = NULL;
    const cJSON *b = gh_find_branch(repo, sha ? sha : gh_default_branch(repo));
    if (b)
        head = gh_str(b, "commit_sha");
    else if (sha && gh_find_commit(repo, sha))
        head = gh_str(gh_find_commit(repo, sha), "sha");
    if (!head) {
        char msg[200];
        snprintf(msg, sizeof msg, "No commit found for SHA: %s", sha ? sha : "");
        gh_api_error(call, "failed to list commits", "GET", 404, msg, NULL,
                     "/repos/%s/commits?sha=%s", gh_sv(repo, "full_name"), sha ? sha : "");
        return;
    }
    unsigned char *mark = gh_reachable(repo, head);
    if (!mark) {
        mcp_call_tool_error(call, "out of memory");
        return;
    }
    cJSON *all = cJSON_CreateArray();
    int idx = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, gh_arr(repo, "commits"))
    {
        const cJSON *au = cJSON_GetObjectItemCaseSensitive(c, "author");
        if (mark[idx++] &&
            (!author || gh_ieq(author, gh_str(au, "login")) || gh_ieq(author, gh_str(au, "email"))))
            cJSON_AddItemToArray(all, gh_commit_json(st, repo, c));
    }
    mcp_free(mark);
    gh_reply(call, gh_list_page(all, page, per_page));
}

static int gh_count_lines(const char *s)
{
    if (!s || !*s)
        return 0;
    int n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '\n';
    return n + (s[strlen(s) - 1] != '\n');
}

static void gh_tool_get_commit(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *sha = gh_req_str(&a, "sha");
    const char *detail = gh_opt_str(&a, "detail");
    size_t page, per_page;
    if (gh_paging(&a, &page, &per_page) != 0)
        return;
    cJSON *repo = gh_repo_arg(st, &a, "failed to get commit", "GET", "/commits");
    if (!repo)
        return;
    if (!detail)
        detail = "stats";
    if (strcmp(detail, "none") != 0 && strcmp(detail, "stats") != 0 &&
        strcmp(detail, "full_patch") != 0) {
        gh_fail(&a, "invalid detail: %s (none, stats or full_patch)", detail);
        return;
    }
    const cJSON *b = gh_find_branch(repo, sha);
    const cJSON *c = b ? gh_find_commit(repo, gh_str(b, "commit_sha")) : gh_find_commit(repo, sha);
    if (!c) {
        char msg[200];
        snprintf(msg, sizeof msg, "No commit found for SHA: %s", sha);
        gh_api_error(call, "failed to get commit", "GET", 422, msg, NULL, "/repos/%s/commits/%s",
                     gh_sv(repo, "full_name"), sha);
        return;
    }
    cJSON *o = gh_commit_json(st, repo, c);
    if (strcmp(detail, "none") != 0) {
        double adds = 0, dels = 0;
        cJSON *all = cJSON_CreateArray();
        gh_tree_t tree = {0};
        int have_tree = strcmp(detail, "full_patch") == 0 &&
                        gh_tree_build(repo, gh_str(c, "branch"), &tree) == 0;
        const cJSON *f;
        cJSON_ArrayForEach(f, gh_arr(c, "files"))
        {
            double ad = gh_num(f, "additions"), de = gh_num(f, "deletions");
            adds += ad, dels += de;
            const char *fname = gh_str(f, "filename");
            cJSON *fo = cJSON_CreateObject();
            gh_add_copy(fo, "filename", cJSON_GetObjectItemCaseSensitive(f, "filename"));
            gh_add_copy(fo, "status", cJSON_GetObjectItemCaseSensitive(f, "status"));
            cJSON_AddNumberToObject(fo, "additions", ad);
            cJSON_AddNumberToObject(fo, "deletions", de);
            cJSON_AddNumberToObject(fo, "changes", ad + de);
            gh_add_fmt(fo, "blob_url", GH_WEB "/%s/blob/%s/%s", gh_sv(repo, "full_name"),
                       gh_sv(c, "sha"), fname ? fname : "");
            /* The fixture has no diffs: an added file's patch is its current content. */
            for (size_t i = 0;
                 have_tree && fname && gh_ieq(gh_str(f, "status"), "added") && i < tree.count;
                 i++) {
                const char *content = gh_str(tree.files[i], "content");
                if (strcmp(gh_str(tree.files[i], "path"), fname) != 0 || !content ||
                    strlen(content) > 65536)
                    continue;
                buf_t pb;
                buf_init(&pb, 4 * 65536);
                int rc = buf_appendf(&pb, "@@ -0,0 +1,%d @@", gh_count_lines(content));
                for (const char *line = content; rc == 0 && *line;) {
                    const char *nl = strchr(line, '\n');
                    size_t len = nl ? (size_t)(nl - line) : strlen(line);
                    rc = buf_appendf(&pb, "\n+%.*s", (int)len, line);
                    line += len + (nl ? 1 : 0);
                }
                if (rc == 0 && pb.data)
                    cJSON_AddStringToObject(fo, "patch", pb.data);
                buf_free(&pb);
            }
            cJSON_AddItemToArray(all, fo);
        }
        gh_tree_free(&tree);
        cJSON *stats = cJSON_AddObjectToObject(o, "stats");
        cJSON_AddNumberToObject(stats, "total", adds + dels);
        cJSON_AddNumberToObject(stats, "additions", adds);
        cJSON_AddNumberToObject(stats, "deletions", dels);
        cJSON_AddItemToObject(o, "files", gh_list_page(all, page, per_page));
    }
    gh_reply(call, o);
}

static void gh_tool_list_branches(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    size_t page, per_page;
    if (gh_paging(&a, &page, &per_page) != 0)
        return;
    cJSON *repo = gh_repo_arg(st, &a, "failed to list branches", "GET", "/branches");
    if (!repo)
        return;
    cJSON *all = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, gh_arr(repo, "branches"))
    {
        cJSON *o = cJSON_CreateObject();
        gh_add_copy(o, "name", cJSON_GetObjectItemCaseSensitive(b, "name"));
        cJSON *commit = cJSON_AddObjectToObject(o, "commit");
        gh_add_copy(commit, "sha", cJSON_GetObjectItemCaseSensitive(b, "commit_sha"));
        gh_add_fmt(commit, "url", GH_API "/repos/%s/commits/%s", gh_sv(repo, "full_name"),
                   gh_sv(b, "commit_sha"));
        cJSON_AddBoolToObject(o, "protected",
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "protected")));
        cJSON_AddItemToArray(all, o);
    }
    gh_reply(call, gh_list_page(all, page, per_page));
}

static int gh_valid_branch_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 250 || name[0] == '/' || name[n - 1] == '/' || name[n - 1] == '.' ||
        strstr(name, "..") || strstr(name, "//") || strstr(name, "@{") || strcmp(name, "@") == 0)
        return 0;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || strchr(" ~^:?*[\\\x7f", *p))
            return 0;
    return 1;
}

static cJSON *gh_ref_json(const cJSON *repo, const char *branch, const char *sha)
{
    const char *full = gh_sv(repo, "full_name");
    cJSON *o = cJSON_CreateObject();
    gh_add_fmt(o, "ref", "refs/heads/%s", branch);
    gh_add_fmt(o, "url", GH_API "/repos/%s/git/refs/heads/%s", full, branch);
    cJSON *obj = cJSON_AddObjectToObject(o, "object");
    cJSON_AddStringToObject(obj, "sha", sha);
    cJSON_AddStringToObject(obj, "type", "commit");
    gh_add_fmt(obj, "url", GH_API "/repos/%s/git/commits/%s", full, sha);
    return o;
}

static void gh_tool_create_branch(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *branch = gh_req_str(&a, "branch");
    const char *from = gh_opt_str(&a, "from_branch");
    cJSON *repo = gh_repo_arg(st, &a, "failed to get repository", "GET", NULL);
    if (!repo)
        return;
    const char *full = gh_sv(repo, "full_name");
    if (!from)
        from = gh_default_branch(repo);
    const cJSON *src = gh_find_branch(repo, from);
    if (!src) {
        gh_api_error(call, "failed to get reference", "GET", 404, "Not Found", NULL,
                     "/repos/%s/git/ref/heads/%s", full, from);
        return;
    }
    char path[600];
    snprintf(path, sizeof path, "/repos/%s/git/refs", full);
    if (gh_check_writable(st, &a, "failed to create branch", "POST", path) != 0)
        return;
    if (gh_find_branch(repo, branch)) {
        gh_api_error(call, "failed to create branch", "POST", 422, "Reference already exists", NULL,
                     "%s", path);
        return;
    }
    if (!gh_valid_branch_name(branch)) {
        char msg[400];
        snprintf(msg, sizeof msg, "refs/heads/%s is not a valid ref name.", branch);
        gh_api_error(call, "failed to create branch", "POST", 422, msg, NULL, "%s", path);
        return;
    }
    cJSON *branches = gh_arr(repo, "branches");
    if (gh_list_full(&a, branches, "failed to create branch") != 0)
        return;
    const char *sha = gh_str(src, "commit_sha");
    cJSON *nb = cJSON_CreateObject();
    cJSON_AddStringToObject(nb, "name", branch);
    cJSON_AddStringToObject(nb, "commit_sha", sha ? sha : "");
    cJSON_AddBoolToObject(nb, "protected", 0);
    cJSON_AddItemToArray(branches, nb);
    /* The new branch starts with the source branch's own changes. */
    const cJSON *over = gh_branch_overlay(repo, from);
    if (over) {
        cJSON *bf = cJSON_GetObjectItemCaseSensitive(repo, "branch_files");
        if (!cJSON_IsObject(bf)) {
            bf = cJSON_CreateObject();
            cJSON_AddItemToObject(repo, "branch_files", bf);
        }
        cJSON_AddItemToObject(bf, branch, cJSON_Duplicate(over, 1));
    }
    st->writes++;
    gh_reply(call, gh_ref_json(repo, branch, sha ? sha : ""));
}

/* ---- file writes: one commit for one or more files ---- */

typedef struct gh_put_s {
    const char *path;
    const char *content;
} gh_put_t;

/* A path a repository may hold: no leading slash, no empty, "." or ".." parts. */
static int gh_valid_path(const char *p)
{
    if (!*p || p[0] == '/' || p[strlen(p) - 1] == '/' || strlen(p) > 1000)
        return 0;
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        s += n + (e ? 1 : 0);
    }
    return 1;
}

/* The file at path on branch (from the overlay or the default tree), or NULL. */
static cJSON *gh_branch_file(cJSON *repo, const char *branch, const char *path)
{
    cJSON *f;
    cJSON_ArrayForEach(f, gh_branch_overlay(repo, branch))
    {
        if (gh_str(f, "path") && strcmp(gh_str(f, "path"), path) == 0)
            return f;
    }
    cJSON_ArrayForEach(f, gh_arr(repo, "files"))
    {
        if (gh_str(f, "path") && strcmp(gh_str(f, "path"), path) == 0)
            return f;
    }
    return NULL;
}

/* Write the files on branch as one commit. Returns the new commit (in the world). */
static cJSON *gh_commit_files(gh_state_t *st, cJSON *repo, cJSON *branch, const gh_put_t *puts,
                              size_t n, const char *message)
{
    const char *bname = gh_str(branch, "name");
    int on_default = strcmp(bname, gh_default_branch(repo)) == 0;
    cJSON *target = NULL;
    if (on_default) {
        target = gh_arr(repo, "files");
    } else {
        cJSON *bf = cJSON_GetObjectItemCaseSensitive(repo, "branch_files");
        if (!cJSON_IsObject(bf)) {
            bf = cJSON_CreateObject();
            cJSON_AddItemToObject(repo, "branch_files", bf);
        }
        target = gh_arr(bf, bname);
        if (!target) {
            target = cJSON_CreateArray();
            cJSON_AddItemToObject(bf, bname, target);
        }
    }
    char now[32];
    gh_now(now);
    const cJSON *me = gh_find_user(st, st->me);
    cJSON *files = cJSON_CreateArray();
    gh_sha1_t sum;
    gh_sha1_init(&sum);
    const char *parent = gh_str(branch, "commit_sha");
    gh_sha1_update(&sum, parent ? parent : "", parent ? strlen(parent) : 0);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(puts[i].content);
        char sha[41];
        gh_blob_sha(puts[i].content, len, sha);
        gh_sha1_update(&sum, puts[i].path, strlen(puts[i].path) + 1);
        gh_sha1_update(&sum, sha, 40);
        cJSON *old = gh_branch_file(repo, bname, puts[i].path);
        const char *old_content = old ? gh_str(old, "content") : NULL;
        cJSON *fc = cJSON_CreateObject();
        cJSON_AddStringToObject(fc, "filename", puts[i].path);
        cJSON_AddStringToObject(fc, "status", old ? "modified" : "added");
        cJSON_AddNumberToObject(fc, "additions", gh_count_lines(puts[i].content));
        cJSON_AddNumberToObject(fc, "deletions", gh_count_lines(old_content));
        cJSON_AddItemToArray(files, fc);
        cJSON *nf = cJSON_CreateObject();
        cJSON_AddStringToObject(nf, "path", puts[i].path);
        cJSON_AddStringToObject(nf, "sha", sha);
        cJSON_AddNumberToObject(nf, "size", (double)len);
        cJSON_AddStringToObject(nf, "content", puts[i].content);
        /* Replace within the target list, or insert keeping it sorted by path. */
        int idx = 0, placed = 0;
        cJSON *f;
        cJSON_ArrayForEach(f, target)
        {
            int cmp = strcmp(gh_str(f, "path") ? gh_str(f, "path") : "", puts[i].path);
            if (cmp == 0) {
                cJSON_ReplaceItemInArray(target, idx, nf);
                placed = 1;
                break;
            }
            if (cmp > 0) {
                gh_array_insert(target, idx, nf);
                placed = 1;
                break;
            }
            idx++;
        }
        if (!placed)
            cJSON_AddItemToArray(target, nf);
    }
    char stamp[64];
    snprintf(stamp, sizeof stamp, "%s#%lu", now, ++st->writes);
    gh_sha1_update(&sum, message, strlen(message));
    gh_sha1_update(&sum, stamp, strlen(stamp));
    char commit_sha[41];
    gh_sha1_hex(&sum, commit_sha);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "sha", commit_sha);
    cJSON_AddStringToObject(c, "branch", bname);
    cJSON_AddStringToObject(c, "message", message);
    cJSON *who = cJSON_CreateObject();
    cJSON_AddStringToObject(who, "login", st->me);
    gh_add_copy(who, "name", cJSON_GetObjectItemCaseSensitive(me, "name"));
    gh_add_copy(who, "email", cJSON_GetObjectItemCaseSensitive(me, "email"));
    cJSON_AddItemToObject(c, "author", who);
    cJSON_AddItemToObject(c, "committer", cJSON_Duplicate(who, 1));
    cJSON_AddStringToObject(c, "date", now);
    cJSON *parents = cJSON_AddArrayToObject(c, "parents");
    if (parent)
        cJSON_AddItemToArray(parents, cJSON_CreateString(parent));
    cJSON_AddItemToObject(c, "files", files);
    gh_array_insert(gh_arr(repo, "commits"), 0, c); /* newest first */
    cJSON_ReplaceItemInObjectCaseSensitive(branch, "commit_sha", cJSON_CreateString(commit_sha));
    gh_touch(repo, "pushed_at", now);
    gh_touch(repo, "updated_at", now);
    return c;
}

static void gh_tool_create_or_update_file(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *path = gh_req_str(&a, "path");
    const cJSON *content_v = gh_arg(&a, "content");
    const char *message = gh_req_str(&a, "message");
    const char *bname = gh_req_str(&a, "branch");
    const char *sha = gh_opt_str(&a, "sha");
    if (a.failed)
        return;
    /* Empty content is a valid file. */
    if (!content_v) {
        gh_fail(&a, "missing required parameter: content");
        return;
    }
    if (!cJSON_IsString(content_v)) {
        gh_fail(&a, "parameter content is not of type string, is %s", gh_go_type(content_v));
        return;
    }
    const char *content = content_v->valuestring;
    while (*path == '/')
        path++;
    cJSON *repo = gh_repo_arg(st, &a, "failed to create/update file", "PUT", "/contents/");
    if (!repo)
        return;
    char apipath[1400];
    snprintf(apipath, sizeof apipath, "/repos/%s/contents/%s", gh_sv(repo, "full_name"), path);
    if (gh_check_writable(st, &a, "failed to create/update file", "PUT", apipath) != 0)
        return;
    cJSON *branch = gh_find_branch(repo, bname);
    if (!branch) {
        char msg[400];
        snprintf(msg, sizeof msg, "Branch %s not found", bname);
        gh_api_error(call, "failed to create/update file", "PUT", 404, msg, NULL, "%s", apipath);
        return;
    }
    if (!gh_valid_path(path)) {
        gh_api_error(call, "failed to create/update file", "PUT", 422,
                     "path contains a malformed path component", NULL, "%s", apipath);
        return;
    }
    if (strlen(content) > GH_MAX_FILE_BYTES) {
        gh_api_error(call, "failed to create/update file", "PUT", 422,
                     "content is larger than the mock's 1 MiB limit", NULL, "%s", apipath);
        return;
    }
    const cJSON *old = gh_branch_file(repo, bname, path);
    if (old && !sha) {
        gh_api_error(call, "failed to create/update file", "PUT", 422,
                     "Invalid request.\n\n\"sha\" wasn't supplied.", NULL, "%s", apipath);
        return;
    }
    if (old && strcasecmp(sha, gh_str(old, "sha") ? gh_str(old, "sha") : "") != 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s does not match %s", path, sha);
        gh_api_error(call, "failed to create/update file", "PUT", 409, msg, NULL, "%s", apipath);
        return;
    }
    if (!old && gh_list_full(&a, gh_arr(repo, "files"), "failed to create/update file") != 0)
        return;
    if (gh_list_full(&a, gh_arr(repo, "commits"), "failed to create/update file") != 0)
        return;
    gh_put_t put = {path, content};
    cJSON *c = gh_commit_files(st, repo, branch, &put, 1, message);
    const cJSON *nf = gh_branch_file(repo, bname, path);
    cJSON *out = cJSON_CreateObject();
    cJSON *cj = gh_content_json(repo, bname, path, 0, nf, 0);
    cJSON_AddItemToObject(out, "content", cj);
    cJSON *commit = gh_commit_json(st, repo, c);
    /* The contents API shows the git commit: its fields at the top level. */
    cJSON *git = cJSON_DetachItemFromObjectCaseSensitive(commit, "commit");
    cJSON *co = cJSON_AddObjectToObject(out, "commit");
    cJSON_AddStringToObject(co, "sha", gh_str(c, "sha"));
    gh_add_copy(co, "url", cJSON_GetObjectItemCaseSensitive(git, "url"));
    gh_add_copy(co, "html_url", cJSON_GetObjectItemCaseSensitive(commit, "html_url"));
    gh_add_copy(co, "author", cJSON_GetObjectItemCaseSensitive(git, "author"));
    gh_add_copy(co, "committer", cJSON_GetObjectItemCaseSensitive(git, "committer"));
    gh_add_copy(co, "message", cJSON_GetObjectItemCaseSensitive(git, "message"));
    gh_add_copy(co, "tree", cJSON_GetObjectItemCaseSensitive(git, "tree"));
    gh_add_copy(co, "parents", cJSON_GetObjectItemCaseSensitive(commit, "parents"));
    cJSON_Delete(git);
    cJSON_Delete(commit);
    gh_reply(call, out);
}

static void gh_tool_push_files(mcp_call_t *call, const cJSON *args, void *ud)
{
    gh_state_t *st = ud;
    gh_args_t a = {call, args, 0};
    const char *bname = gh_req_str(&a, "branch");
    const char *message = gh_req_str(&a, "message");
    const cJSON *files = gh_arg(&a, "files");
    if (a.failed)
        return;
    if (!files) {
        gh_fail(&a, "missing required parameter: files");
        return;
    }
    if (!cJSON_IsArray(files) || cJSON_GetArraySize(files) == 0) {
        gh_fail(&a, "files parameter must be a non-empty array of objects with path and content");
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(files);
    if (n > 1000) {
        gh_fail(&a, "files: at most 1000 files per push");
        return;
    }
    gh_put_t *puts = mcp_calloc(n, sizeof *puts);
    if (!puts) {
        mcp_call_tool_error(call, "out of memory");
        return;
    }
    size_t i = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, files)
    {
        const char *p = gh_str(f, "path"), *c = gh_str(f, "content");
        if (!cJSON_IsObject(f) || !p || !c) {
            gh_fail(&a, "each file must be an object with path (string) and content (string)");
            break;
        }
        while (*p == '/')
            p++;
        if (!gh_valid_path(p)) {
            gh_fail(&a, "invalid file path: %s", gh_sv(f, "path"));
            break;
        }
        if (strlen(c) > GH_MAX_FILE_BYTES) {
            gh_fail(&a, "file %s is larger than the mock's 1 MiB limit", p);
            break;
        }
        puts[i].path = p;
        puts[i].content = c;
        i++;
    }
    if (a.failed) {
        mcp_free(puts);
        return;
    }
    cJSON *repo = gh_repo_arg(st, &a, "failed to get branch reference", "GET", "/git/ref/heads/");
    if (!repo) {
        mcp_free(puts);
        return;
    }
    const char *full = gh_sv(repo, "full_name");
    cJSON *branch = gh_find_branch(repo, bname);
    if (!branch) {
        gh_api_error(call, "failed to get branch reference", "GET", 404, "Not Found", NULL,
                     "/repos/%s/git/ref/heads/%s", full, bname);
        mcp_free(puts);
        return;
    }
    char path[600];
    snprintf(path, sizeof path, "/repos/%s/git/trees", full);
    if (gh_check_writable(st, &a, "failed to create tree", "POST", path) != 0 ||
        gh_list_full(&a, gh_arr(repo, "commits"), "failed to create commit") != 0 ||
        gh_list_full(&a, gh_arr(repo, "files"), "failed to create tree") != 0) {
        mcp_free(puts);
        return;
    }
    cJSON *c = gh_commit_files(st, repo, branch, puts, n, message);
    mcp_free(puts);
    gh_reply(call, gh_ref_json(repo, bname, gh_str(c, "sha")));
}

/* ---------------------------------------------------------------- registration ---- */

static const struct {
    const char *name;
    mcp_tool_fn fn;
    const char *failure; /* "failed to ..." for rate-limit answers */
} gh_tools[] = {
    {"get_me", gh_tool_get_me, "failed to get user"},
    {"search_repositories", gh_tool_search_repositories, "failed to search repositories"},
    {"get_file_contents", gh_tool_get_file_contents, "failed to get file contents"},
    {"list_issues", gh_tool_list_issues, "failed to list issues"},
    {"get_issue", gh_tool_get_issue, "failed to get issue"},
    {"create_issue", gh_tool_create_issue, "failed to create issue"},
    {"update_issue", gh_tool_update_issue, "failed to update issue"},
    {"add_issue_comment", gh_tool_add_issue_comment, "failed to create comment"},
    {"get_issue_comments", gh_tool_get_issue_comments, "failed to get issue comments"},
    {"search_issues", gh_tool_search_issues, "failed to search issues"},
    {"search_code", gh_tool_search_code, "failed to search code"},
    {"list_pull_requests", gh_tool_list_pull_requests, "failed to list pull requests"},
    {"get_pull_request", gh_tool_get_pull_request, "failed to get pull request"},
    {"create_pull_request", gh_tool_create_pull_request, "failed to create pull request"},
    {"list_commits", gh_tool_list_commits, "failed to list commits"},
    {"get_commit", gh_tool_get_commit, "failed to get commit"},
    {"list_branches", gh_tool_list_branches, "failed to list branches"},
    {"create_branch", gh_tool_create_branch, "failed to create branch"},
    {"create_or_update_file", gh_tool_create_or_update_file, "failed to create/update file"},
    {"push_files", gh_tool_push_files, "failed to push files"},
    {"search_users", gh_tool_search_users, "failed to search users"},
};

cJSON *mock_github_rate_limit_result(const char *tool, long reset_seconds)
{
    const char *what = "failed to call GitHub";
    for (size_t i = 0; tool && i < sizeof gh_tools / sizeof gh_tools[0]; i++)
        if (strcmp(gh_tools[i].name, tool) == 0)
            what = gh_tools[i].failure;
    long secs = reset_seconds < 0 ? -reset_seconds : reset_seconds;
    char when[64];
    if (secs >= 60)
        snprintf(when, sizeof when, "%ldm%02lds", secs / 60, secs % 60);
    else
        snprintf(when, sizeof when, "%lds", secs);
    char *text = mcp_asprintf(
        "%s: 403 API rate limit exceeded for user ID %.0f. [rate %s %s%s]", what, gh_rate_user_id,
        reset_seconds < 0 ? "limit was reset" : "reset in", when, reset_seconds < 0 ? " ago" : "");
    if (!text)
        return NULL;
    cJSON *result = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(result, "content");
    cJSON *block = cJSON_CreateObject();
    cJSON_AddItemToArray(content, block);
    cJSON_AddStringToObject(block, "type", "text");
    cJSON_AddStringToObject(block, "text", text);
    cJSON_AddBoolToObject(result, "isError", 1);
    mcp_free(text);
    if (!result || !content || !cJSON_GetObjectItemCaseSensitive(block, "text")) {
        cJSON_Delete(result);
        return NULL;
    }
    return result;
}

static char *gh_read_file(const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b;
    buf_init(&b, GH_MAX_FIXTURE);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buf_append(&b, chunk, n);
    int ioerr = ferror(f);
    fclose(f);
    if (rc != 0 || ioerr) {
        snprintf(err, errcap, "cannot read %s: %s", path,
                 rc == MCP_ENOBUFS ? "larger than 64 MiB"
                 : ioerr           ? "I/O error"
                                   : "out of memory");
        buf_free(&b);
        return NULL;
    }
    char *text = buf_detach(&b, NULL);
    return text ? text : mcp_strdup("");
}

static void gh_teardown(void *state)
{
    gh_state_t *st = state;
    if (!st)
        return;
    cJSON_Delete(st->world);
    mcp_free(st);
}

static int gh_fail_setup(gh_state_t *st, int rc, char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int gh_fail_setup(gh_state_t *st, int rc, char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
    gh_teardown(st);
    return rc;
}

/* The minimum the tools rely on: users and repositories with owner/name/full_name. */
static int gh_check_world(const cJSON *w, char *err, size_t errcap)
{
    if (!cJSON_IsObject(w)) {
        snprintf(err, errcap, "the fixture is not a JSON object");
        return -1;
    }
    if (!gh_arr(w, "users") || !gh_arr(w, "repositories")) {
        snprintf(err, errcap, "the fixture needs \"users\" and \"repositories\" arrays");
        return -1;
    }
    if (!gh_str(w, "authenticated_user")) {
        snprintf(err, errcap, "the fixture needs \"authenticated_user\" (a login)");
        return -1;
    }
    int i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, gh_arr(w, "repositories"))
    {
        if (!gh_str(r, "owner") || !gh_str(r, "name") || !gh_str(r, "full_name")) {
            snprintf(err, errcap, "repositories[%d] needs owner, name and full_name", i);
            return -1;
        }
        static const char *const lists[] = {"branches", "files", "commits", "issues",
                                            "pull_requests"};
        for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, lists[k]);
            if (v && !cJSON_IsArray(v)) {
                snprintf(err, errcap, "repositories[%d].%s must be an array", i, lists[k]);
                return -1;
            }
            if (!v)
                cJSON_AddItemToObject((cJSON *)r, lists[k], cJSON_CreateArray());
        }
        i++;
    }
    return 0;
}

static int gh_setup(mcp_server_t *server, const mock_options_t *opts, void **state, char *err,
                    size_t errcap)
{
    gh_state_t *st = mcp_calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errcap, "out of memory");
        return MCP_ENOMEM;
    }
    st->server = server;
    st->writable = opts->writable;
    if (opts->fixtures) {
        char *text = gh_read_file(opts->fixtures, err, errcap);
        if (!text) {
            gh_teardown(st);
            return MCP_EINVAL;
        }
        const char *end = NULL;
        st->world = cJSON_ParseWithOpts(text, &end, 1);
        if (!st->world) {
            long at = end ? (long)(end - text) : 0;
            mcp_free(text);
            return gh_fail_setup(st, MCP_EINVAL, err, errcap, "%s: not valid JSON (near byte %ld)",
                                 opts->fixtures, at);
        }
        mcp_free(text);
    } else {
        st->world =
            cJSON_ParseWithLength(mock_github_world_github_json, mock_github_world_github_json_len);
        if (!st->world)
            return gh_fail_setup(st, MCP_ENOMEM, err, errcap, "out of memory");
    }
    char why[200];
    if (gh_check_world(st->world, why, sizeof why) != 0)
        return gh_fail_setup(st, MCP_EINVAL, err, errcap, "%s: %s",
                             opts->fixtures ? opts->fixtures : "embedded github.json", why);
    st->me = gh_str(st->world, "authenticated_user");
    const cJSON *me = gh_find_user(st, st->me);
    if (me)
        gh_rate_user_id = gh_num(me, "id");
    /* New comment ids continue after the largest one in the fixture. */
    double max_id = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, gh_arr(st->world, "repositories"))
    {
        const char *lists[] = {"issues", "pull_requests"};
        for (int k = 0; k < 2; k++) {
            const cJSON *it;
            cJSON_ArrayForEach(it, gh_arr(r, lists[k]))
            {
                const cJSON *c;
                cJSON_ArrayForEach(c, gh_arr(it, "comments")) max_id =
                    fmax(max_id, gh_num(c, "id"));
            }
        }
    }
    st->next_comment_id = max_id + 1;

    cJSON *surface =
        cJSON_ParseWithLength(mock_github_tools_github_json, mock_github_tools_github_json_len);
    size_t registered = 0;
    int rc = 0;
    const cJSON *tool;
    cJSON_ArrayForEach(tool, gh_arr(surface, "tools"))
    {
        const char *name = gh_str(tool, "name");
        mcp_tool_fn fn = NULL;
        for (size_t i = 0; name && i < sizeof gh_tools / sizeof gh_tools[0]; i++)
            if (strcmp(gh_tools[i].name, name) == 0)
                fn = gh_tools[i].fn;
        if (!fn) {
            cJSON_Delete(surface);
            return gh_fail_setup(st, MCP_EINVAL, err, errcap, "tool surface: unknown tool %s",
                                 name ? name : "?");
        }
        if ((rc = mcp_server_add_tool_json(server, tool, fn, st)) != 0) {
            cJSON_Delete(surface);
            return gh_fail_setup(st, rc, err, errcap, "cannot register tool %s: %s", name,
                                 mcp_strerror(rc));
        }
        registered++;
    }
    cJSON_Delete(surface);
    if (registered != sizeof gh_tools / sizeof gh_tools[0])
        return gh_fail_setup(st, MCP_EINVAL, err, errcap, "tool surface: %zu of %zu tools",
                             registered, sizeof gh_tools / sizeof gh_tools[0]);
    LOG_D("mock", "github ready", "repositories=%d writable=%d",
          cJSON_GetArraySize(gh_arr(st->world, "repositories")), st->writable);
    *state = st;
    return 0;
}

const mock_kind_t mock_kind_github = {
    .name = "github",
    .summary = "a fixture GitHub (github-mcp-server's classic tools, REST-shaped JSON)",
    .help = "mcp-mock github [--fixtures FILE] [--writable]\n"
            "  A small fixed GitHub: the kestrel-toys organisation, three people, six\n"
            "  repositories with files (SQL queries among them), branches, commits, issues and\n"
            "  pull requests (fixtures/github.README.md).\n"
            "  --fixtures FILE  serve this world instead of the embedded github.json\n"
            "  --writable       let create_issue, update_issue, add_issue_comment,\n"
            "                   create_branch, create_or_update_file, push_files and\n"
            "                   create_pull_request change the in-memory copy (default: they\n"
            "                   answer 403 Resource not accessible by personal access token)\n"
            "  Tools: github-mcp-server v0.15 names and arguments (get_me, search_code,\n"
            "  get_file_contents, list_issues, ...); page/perPage paging (30 per page, at most\n"
            "  100); search qualifiers repo:, org:, user:, language:, extension:, path:,\n"
            "  is:open/closed, label:, author:, ...\n",
    .server_name = "github-mcp-server",
    .setup = gh_setup,
    .teardown = gh_teardown,
};
