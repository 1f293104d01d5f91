/* llm_planner: rules over the conversation; see llm_planner.h. */
#include "llm_planner.h"

#include "alloc.h"
#include "buf.h"
#include "errors.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

extern const char mock_llm_meta_product_metadata_json[];
extern const size_t mock_llm_meta_product_metadata_json_len;

#define MAX_ENTITIES  8
#define MAX_ROWS_SHOW 10    /* rows quoted in an answer */
#define MAX_ERR_SHOW  300   /* characters of a tool error quoted in an answer */
#define MAX_ID        128   /* tool-call ids we keep */
#define MAX_SQL_FILE  65536 /* decoded SQL of one file */
#define DAY_LEN       32    /* "YYYY-MM-DD" with room for any int year */

/* ------------------------------------------------------------------ metadata */

typedef struct alias_s {
    char *alias;   /* as written in the metadata */
    char *lc;      /* lower-cased, for matching */
    char *name;    /* product name */
    char *name_lc; /* product name up to " (", lower-cased */
    char *kind;
    long id;
} alias_t;

typedef struct datekey_s {
    char *key;
    char **phrases; /* lower-cased */
    size_t nphrases;
    char *filter; /* "{col} >= ..." or NULL */
} datekey_t;

struct llm_planner_s {
    alias_t *aliases;
    size_t naliases;
    datekey_t *dates;
    size_t ndates;
    char **tables; /* table and view names */
    size_t ntables;
    char **idents; /* every table and column name (for corrections) */
    size_t nidents;
    char *currency;
};

static void seterr(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static char *lc_dup(const char *s)
{
    char *d = mcp_strdup(s);
    if (d)
        for (char *c = d; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    return d;
}

static int push_str(char ***arr, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i], s) == 0)
            return 0;
    char **na = mcp_realloc(*arr, (*n + 1) * sizeof(char *));
    if (!na)
        return MCP_ENOMEM;
    *arr = na;
    if (!(na[*n] = mcp_strdup(s)))
        return MCP_ENOMEM;
    (*n)++;
    return 0;
}

void llm_planner_free(llm_planner_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->naliases; i++) {
        mcp_free(p->aliases[i].alias);
        mcp_free(p->aliases[i].lc);
        mcp_free(p->aliases[i].name);
        mcp_free(p->aliases[i].name_lc);
        mcp_free(p->aliases[i].kind);
    }
    mcp_free(p->aliases);
    for (size_t i = 0; i < p->ndates; i++) {
        mcp_free(p->dates[i].key);
        for (size_t j = 0; j < p->dates[i].nphrases; j++)
            mcp_free(p->dates[i].phrases[j]);
        mcp_free(p->dates[i].phrases);
        mcp_free(p->dates[i].filter);
    }
    mcp_free(p->dates);
    for (size_t i = 0; i < p->ntables; i++)
        mcp_free(p->tables[i]);
    mcp_free(p->tables);
    for (size_t i = 0; i < p->nidents; i++)
        mcp_free(p->idents[i]);
    mcp_free(p->idents);
    mcp_free(p->currency);
    mcp_free(p);
}

static int load_aliases(llm_planner_t *p, const cJSON *arr, char *err, size_t errcap)
{
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr)) {
        seterr(err, errcap, "metadata: \"aliases\" must be an array");
        return MCP_EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0)
        return 0;
    p->aliases = mcp_calloc(n, sizeof(alias_t));
    if (!p->aliases)
        return MCP_ENOMEM;
    const cJSON *a;
    size_t i = 0;
    cJSON_ArrayForEach(a, arr)
    {
        const cJSON *al = cJSON_GetObjectItemCaseSensitive(a, "alias");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "product_id");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(a, "product_name");
        const cJSON *kd = cJSON_GetObjectItemCaseSensitive(a, "kind");
        if (!cJSON_IsString(al) || !al->valuestring[0] || !cJSON_IsNumber(id)) {
            seterr(err, errcap,
                   "metadata: aliases[%zu] needs a non-empty \"alias\" and a numeric "
                   "\"product_id\"",
                   i);
            return MCP_EINVAL;
        }
        alias_t *x = &p->aliases[i];
        p->naliases = ++i;
        x->id = (long)id->valuedouble;
        x->alias = mcp_strdup(al->valuestring);
        x->lc = lc_dup(al->valuestring);
        x->name = mcp_strdup(cJSON_IsString(nm) ? nm->valuestring : "");
        x->kind = mcp_strdup(cJSON_IsString(kd) ? kd->valuestring : "alias");
        if (!x->alias || !x->lc || !x->name || !x->kind)
            return MCP_ENOMEM;
        x->name_lc = lc_dup(x->name);
        if (!x->name_lc)
            return MCP_ENOMEM;
        char *paren = strstr(x->name_lc, " (");
        if (paren)
            *paren = '\0';
    }
    return 0;
}

static int load_dates(llm_planner_t *p, const cJSON *obj, char *err, size_t errcap)
{
    if (!obj)
        return 0;
    if (!cJSON_IsObject(obj)) {
        seterr(err, errcap, "metadata: \"dates\" must be an object");
        return MCP_EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(obj);
    p->dates = mcp_calloc(n ? n : 1, sizeof(datekey_t));
    if (!p->dates)
        return MCP_ENOMEM;
    const cJSON *d;
    cJSON_ArrayForEach(d, obj)
    {
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(d, "phrases");
        if (!cJSON_IsObject(d) || !cJSON_IsArray(ph))
            continue; /* e.g. "reference": a note, not a phrase set */
        datekey_t *k = &p->dates[p->ndates++];
        if (!(k->key = mcp_strdup(d->string)))
            return MCP_ENOMEM;
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(d, "filter");
        if (cJSON_IsString(f) && !(k->filter = mcp_strdup(f->valuestring)))
            return MCP_ENOMEM;
        size_t np = (size_t)cJSON_GetArraySize(ph);
        k->phrases = mcp_calloc(np ? np : 1, sizeof(char *));
        if (!k->phrases)
            return MCP_ENOMEM;
        const cJSON *s;
        cJSON_ArrayForEach(s, ph)
        {
            if (!cJSON_IsString(s) || !s->valuestring[0]) {
                seterr(err, errcap, "metadata: dates.%s.phrases must be non-empty strings", k->key);
                return MCP_EINVAL;
            }
            if (!(k->phrases[k->nphrases] = lc_dup(s->valuestring)))
                return MCP_ENOMEM;
            k->nphrases++;
        }
    }
    return 0;
}

static int load_tables(llm_planner_t *p, const cJSON *obj)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, obj)
    {
        if (!t->string)
            continue;
        if (push_str(&p->tables, &p->ntables, t->string) ||
            push_str(&p->idents, &p->nidents, t->string))
            return MCP_ENOMEM;
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(t, "columns"))
        {
            if (c->string && push_str(&p->idents, &p->nidents, c->string))
                return MCP_ENOMEM;
        }
    }
    return 0;
}

int llm_planner_new(const char *metadata_json, llm_planner_t **out, char *err, size_t errcap)
{
    *out = NULL;
    int builtin = !metadata_json;
    if (builtin)
        metadata_json = mock_llm_meta_product_metadata_json;
    cJSON *root = cJSON_Parse(metadata_json);
    if (!root) {
        /* The built-in text is valid JSON: failing to parse it means running out of memory. */
        seterr(err, errcap, builtin ? "metadata: out of memory" : "metadata: not valid JSON");
        return builtin ? MCP_ENOMEM : MCP_EPARSE;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        seterr(err, errcap, "metadata: expected a JSON object");
        return MCP_EINVAL;
    }
    llm_planner_t *p = mcp_calloc(1, sizeof(*p));
    if (!p) {
        cJSON_Delete(root);
        return MCP_ENOMEM;
    }
    int rc = load_aliases(p, cJSON_GetObjectItemCaseSensitive(root, "aliases"), err, errcap);
    if (!rc)
        rc = load_dates(p, cJSON_GetObjectItemCaseSensitive(root, "dates"), err, errcap);
    if (!rc)
        rc = load_tables(p, cJSON_GetObjectItemCaseSensitive(root, "tables"));
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(root, "currency");
    if (!rc && !(p->currency = mcp_strdup(cJSON_IsString(cur) ? cur->valuestring : "USD")))
        rc = MCP_ENOMEM;
    cJSON_Delete(root);
    if (rc) {
        if (rc == MCP_ENOMEM)
            seterr(err, errcap, "metadata: out of memory");
        llm_planner_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ------------------------------------------------------------------ tool names */

static const char *const known_tools[] = {
    /* database (mcp-server-sqlite, legacy, Postgres) */
    "read_query", "write_query", "create_table", "list_tables", "describe_table", "append_insight",
    "execute_query", "query",
    /* github (github-mcp-server) */
    "get_me", "search_repositories", "get_file_contents", "list_issues", "get_issue",
    "create_issue", "update_issue", "add_issue_comment", "get_issue_comments", "search_issues",
    "search_code", "list_pull_requests", "get_pull_request", "create_pull_request", "list_commits",
    "get_commit", "list_branches", "create_branch", "create_or_update_file", "push_files",
    "search_users"};
#define NKNOWN (sizeof(known_tools) / sizeof(known_tools[0]))

void llm_planner_base_name(const char *offered, char *out, size_t cap)
{
    if (!cap)
        return;
    const char *sep = NULL;
    for (const char *c = offered; *c; c++)
        if (*c == '.' || *c == '/')
            sep = c;
    const char *base = sep ? sep + 1 : offered;
    if (!sep) {
        size_t n = strlen(offered), best = 0;
        int exact = 0;
        for (size_t i = 0; i < NKNOWN && !exact; i++) {
            size_t k = strlen(known_tools[i]);
            if (k == n && strcmp(offered, known_tools[i]) == 0)
                exact = 1;
            else if (k < n && k > best && strcmp(offered + n - k, known_tools[i]) == 0 &&
                     (offered[n - k - 1] == '_' || offered[n - k - 1] == '-')) {
                best = k;
                base = offered + n - k;
            }
        }
        if (exact)
            base = offered;
    }
    snprintf(out, cap, "%s", base);
}

static const char *tool_name_of(const cJSON *tool)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn ? fn : tool, "name");
    return cJSON_IsString(name) ? name->valuestring : NULL;
}

static const cJSON *find_tool_obj(const cJSON *tools, const char *base)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const char *name = tool_name_of(t);
        char b[128];
        if (!name)
            continue;
        llm_planner_base_name(name, b, sizeof(b));
        if (strcmp(b, base) == 0)
            return t;
    }
    return NULL;
}

const char *llm_planner_find_tool(const cJSON *tools, const char *base)
{
    const cJSON *t = find_tool_obj(tools, base);
    return t ? tool_name_of(t) : NULL;
}

static int is_sql_base(const char *base)
{
    return strcmp(base, "read_query") == 0 || strcmp(base, "query") == 0 ||
           strcmp(base, "execute_query") == 0 || strcmp(base, "write_query") == 0;
}

/* The SQL tool to use: read_query, else query, else execute_query. */
static const cJSON *find_sql_tool(const cJSON *tools)
{
    static const char *const order[] = {"read_query", "query", "execute_query"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *t = find_tool_obj(tools, order[i]);
        if (t)
            return t;
    }
    return NULL;
}

static const char *sql_arg_name(const cJSON *tool)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn ? fn : tool, "parameters");
    if (!params)
        params = cJSON_GetObjectItemCaseSensitive(fn ? fn : tool, "inputSchema");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties");
    if (cJSON_GetObjectItemCaseSensitive(props, "query"))
        return "query";
    if (cJSON_GetObjectItemCaseSensitive(props, "sql"))
        return "sql";
    char base[128];
    const char *name = tool_name_of(tool);
    llm_planner_base_name(name ? name : "", base, sizeof(base));
    return strcmp(base, "query") == 0 ? "sql" : "query";
}

/* ------------------------------------------------------------------ dates */

/* Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian). */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

int llm_planner_parse_date(const char *s, int *y, int *m, int *d)
{
    int yy, mm, dd;
    char extra;
    if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &yy, &mm, &dd, &extra) != 3 ||
        s[4] != '-' || s[7] != '-' || yy < 1 || mm < 1 || mm > 12 || dd < 1 || dd > 31)
        return MCP_EINVAL;
    int cy, cm, cd;
    civil_from_days(days_from_civil(yy, mm, dd), &cy, &cm, &cd);
    if (cy != yy || cm != mm || cd != dd)
        return MCP_EINVAL; /* 2025-02-30 */
    *y = yy;
    *m = mm;
    *d = dd;
    return 0;
}

static void fmt_day(long days, char out[DAY_LEN])
{
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, DAY_LEN, "%04d-%02d-%02d", y, m, d);
}

typedef struct range_s {
    int set;
    char key[40];
    char phrase[64];
    char start[DAY_LEN], end[DAY_LEN]; /* [start, end) */
    char *filter;                      /* metadata SQL for keys we do not compute (owned) */
} range_t;

/* [start, end) for a known key; -1 for keys left to the metadata's filter. */
static int compute_range(const char *key, int y, int m, int d, range_t *r)
{
    long today = days_from_civil(y, m, d);
    long month0 = days_from_civil(y, m, 1);
    long next0 = m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1);
    long prev0 = m == 1 ? days_from_civil(y - 1, 12, 1) : days_from_civil(y, m - 1, 1);
    long s, e;
    if (strcmp(key, "this_month") == 0)
        s = month0, e = next0;
    else if (strcmp(key, "last_month") == 0)
        s = prev0, e = month0;
    else if (strcmp(key, "last_two_months") == 0)
        s = prev0, e = next0;
    else if (strcmp(key, "today") == 0)
        s = today, e = today + 1;
    else if (strcmp(key, "yesterday") == 0)
        s = today - 1, e = today;
    else if (strcmp(key, "last_30_days") == 0)
        s = today - 30, e = today + 1;
    else
        return -1;
    fmt_day(s, r->start);
    fmt_day(e, r->end);
    return 0;
}

/* ------------------------------------------------------------------ text helpers */

static int is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* First occurrence of needle in hay with word boundaries on both sides, or NULL. */
static const char *find_word_n(const char *hay, const char *needle, size_t nlen)
{
    if (!nlen)
        return NULL;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) {
        int left = p == hay || !is_word_char(p[-1]) || !is_word_char(needle[0]);
        int right = !is_word_char(p[nlen]) || !is_word_char(needle[nlen - 1]);
        if (left && right)
            return p;
    }
    return NULL;
}

static const char *find_word(const char *hay, const char *needle)
{
    return find_word_n(hay, needle, strlen(needle));
}

static int has(const char *q, const char *sub)
{
    return strstr(q, sub) != NULL;
}

static int has_word(const char *q, const char *w)
{
    return find_word(q, w) != NULL;
}

static const char *skip_ws(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

/* Text of a message's content: a string, or the "text" of an array of parts. NULL when none;
 * MCP_ENOMEM through *rc. */
static char *content_text(const cJSON *content, int *rc)
{
    if (cJSON_IsString(content)) {
        char *s = mcp_strdup(content->valuestring);
        if (!s)
            *rc = MCP_ENOMEM;
        return s;
    }
    if (!cJSON_IsArray(content))
        return NULL;
    buf_t b;
    buf_init(&b, 16u * 1024 * 1024);
    const cJSON *part;
    int any = 0;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t))
            continue;
        if ((any && buf_putc(&b, '\n')) || buf_append_str(&b, t->valuestring)) {
            buf_free(&b);
            *rc = MCP_ENOMEM;
            return NULL;
        }
        any = 1;
    }
    if (!any) {
        buf_free(&b);
        return NULL;
    }
    char *s = buf_detach(&b, NULL);
    if (!s)
        *rc = MCP_ENOMEM;
    return s;
}

static int result_is_error(const char *text)
{
    if (!text)
        return 0;
    const char *t = skip_ws(text);
    static const char *const prefixes[] = {"error", "database error", "failed", "tool error"};
    for (size_t i = 0; i < 4; i++)
        if (strncasecmp(t, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    if (*t != '{')
        return 0;
    cJSON *j = cJSON_Parse(t);
    int e = 0;
    if (cJSON_IsObject(j))
        e = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "isError")) ||
            cJSON_GetObjectItemCaseSensitive(j, "error") != NULL;
    cJSON_Delete(j);
    return e;
}

/* A tool message may carry a whole MCP CallToolResult ({"content":[{"type":"text","text"}],
 * "isError"}) instead of its text: keep the text, note isError. 0 or MCP_ENOMEM. */
static int unwrap_call_result(char **text, int *is_error)
{
    const char *t = *text ? skip_ws(*text) : "";
    if (*t != '{' || !strstr(t, "\"content\""))
        return 0;
    cJSON *j = cJSON_Parse(t);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content");
    int rc = 0;
    if (cJSON_IsObject(j) && cJSON_IsArray(content)) {
        char *inner = content_text(content, &rc);
        if (inner) {
            *is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "isError"));
            mcp_free(*text);
            *text = inner;
        }
    }
    cJSON_Delete(j);
    return rc;
}

static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t cost =
                toupper((unsigned char)a[i - 1]) == toupper((unsigned char)b[j - 1]) ? 0 : 1;
            size_t v = prev + cost;
            if (row[j] + 1 < v)
                v = row[j] + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            prev = cur;
        }
    }
    return row[lb];
}

/* ------------------------------------------------------------------ the turn */

typedef struct call_s {
    const char *id;   /* borrowed from the messages */
    const char *name; /* as offered */
    char base[64];
    cJSON *args; /* owned; {} when the arguments were not a JSON object */
    char *result;
    int answered;
    int is_error;
    int batch; /* index of the assistant message within the turn */
    char orig[MAX_ID];
    int fixes; /* "-fixN" depth */
} call_t;

typedef struct turn_s {
    const char *question;
    char *q; /* lower-cased question */
    call_t *calls;
    size_t ncalls;
    int nbatches;
    int assistants; /* assistant messages in the whole conversation */
    char *meta;     /* metadata override text (owned) */
} turn_t;

static void turn_free(turn_t *t)
{
    for (size_t i = 0; i < t->ncalls; i++) {
        cJSON_Delete(t->calls[i].args);
        mcp_free(t->calls[i].result);
    }
    mcp_free(t->calls);
    mcp_free(t->q);
    mcp_free(t->meta);
}

static void set_orig(call_t *c)
{
    snprintf(c->orig, sizeof(c->orig), "%s", c->id);
    char *fix = strstr(c->orig, "-fix");
    if (fix) {
        c->fixes = atoi(fix + 4);
        *fix = '\0';
    }
}

static int valid_role(const char *r)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    for (size_t i = 0; i < 5; i++)
        if (strcmp(r, roles[i]) == 0)
            return 1;
    return 0;
}

/* Validate the conversation and collect the current turn. */
static int read_turn(const cJSON *messages, turn_t *t, char *err, size_t errcap)
{
    memset(t, 0, sizeof(*t));
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
        seterr(err, errcap, "messages: expected a non-empty array");
        return MCP_EINVAL;
    }
    int n = cJSON_GetArraySize(messages), last_user = -1, rc = 0;
    const cJSON *m;
    int i = 0;
    /* Pass 1: roles, user content, the position of the question. */
    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            seterr(err, errcap, "messages[%d]: expected an object with a string \"role\"", i);
            return MCP_EINVAL;
        }
        if (!valid_role(role->valuestring)) {
            seterr(err, errcap,
                   "messages[%d].role: '%.40s' is not one of system, developer, user, "
                   "assistant, tool",
                   i, role->valuestring);
            return MCP_EINVAL;
        }
        if (strcmp(role->valuestring, "user") == 0)
            last_user = i;
        if (strcmp(role->valuestring, "assistant") == 0)
            t->assistants++;
        i++;
    }
    if (last_user < 0) {
        seterr(err, errcap, "messages: no user message");
        return MCP_EINVAL;
    }
    /* Pass 2: tool-call bookkeeping over the whole conversation, the turn's calls. */
    const char *pending[64];
    size_t npending = 0;
    const cJSON *ids_seen[256];
    size_t nseen = 0;
    i = 0;
    cJSON_ArrayForEach(m, messages)
    {
        const char *role = cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        int in_turn = i > last_user;
        if (strcmp(role, "tool") != 0 && npending) {
            seterr(err, errcap,
                   "messages[%d]: the assistant's tool call '%.64s' has no tool message before "
                   "this %s message",
                   i, pending[0], role);
            return MCP_EINVAL;
        }
        if (i == last_user) {
            char *text = content_text(content, &rc);
            if (rc)
                return rc;
            if (!text) {
                seterr(err, errcap, "messages[%d].content: the user message has no text", i);
                return MCP_EINVAL;
            }
            t->q = lc_dup(text);
            mcp_free(text);
            if (!t->q)
                return MCP_ENOMEM;
            t->question = cJSON_IsString(content) ? content->valuestring : "";
        } else if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0 ||
                   strcmp(role, "tool") == 0) {
            char *text = content_text(content, &rc);
            if (rc)
                return rc;
            const char *s = text ? skip_ws(text) : "";
            if (*s == '{' && strstr(s, "\"aliases\"")) {
                mcp_free(t->meta);
                t->meta = text;
                text = NULL;
            }
            mcp_free(text);
        }
        if (strcmp(role, "assistant") == 0) {
            const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
            if (calls && !cJSON_IsNull(calls) && !cJSON_IsArray(calls)) {
                seterr(err, errcap, "messages[%d].tool_calls: expected an array", i);
                return MCP_EINVAL;
            }
            if (in_turn && cJSON_GetArraySize(calls) > 0)
                t->nbatches++;
            const cJSON *c;
            int j = 0;
            cJSON_ArrayForEach(c, calls)
            {
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
                const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
                if (!cJSON_IsString(id) || !id->valuestring[0] || !cJSON_IsString(name)) {
                    seterr(err, errcap,
                           "messages[%d].tool_calls[%d]: needs a string \"id\" and "
                           "function.name",
                           i, j);
                    return MCP_EINVAL;
                }
                if (npending < 64)
                    pending[npending++] = id->valuestring;
                if (nseen < 256)
                    ids_seen[nseen++] = id;
                if (in_turn) {
                    call_t *na = mcp_realloc(t->calls, (t->ncalls + 1) * sizeof(call_t));
                    if (!na)
                        return MCP_ENOMEM;
                    t->calls = na;
                    call_t *x = &t->calls[t->ncalls++];
                    memset(x, 0, sizeof(*x));
                    x->id = id->valuestring;
                    x->name = name->valuestring;
                    x->batch = t->nbatches - 1;
                    llm_planner_base_name(x->name, x->base, sizeof(x->base));
                    set_orig(x);
                    if (cJSON_IsString(args))
                        x->args = cJSON_Parse(args->valuestring);
                    else if (cJSON_IsObject(args))
                        x->args = cJSON_Duplicate(args, 1);
                    if (!cJSON_IsObject(x->args)) {
                        cJSON_Delete(x->args);
                        if (!(x->args = cJSON_CreateObject()))
                            return MCP_ENOMEM;
                    }
                }
                j++;
            }
        } else if (strcmp(role, "tool") == 0) {
            const cJSON *tcid = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
            if (!cJSON_IsString(tcid)) {
                seterr(err, errcap, "messages[%d]: a tool message needs a string tool_call_id", i);
                return MCP_EINVAL;
            }
            int known = 0;
            for (size_t k = 0; k < nseen && !known; k++)
                known = strcmp(ids_seen[k]->valuestring, tcid->valuestring) == 0;
            if (!known && nseen < 256) {
                seterr(err, errcap,
                       "messages[%d]: tool_call_id '%.64s' answers no earlier assistant tool call",
                       i, tcid->valuestring);
                return MCP_EINVAL;
            }
            for (size_t k = 0; k < npending; k++)
                if (strcmp(pending[k], tcid->valuestring) == 0) {
                    pending[k] = pending[--npending];
                    break;
                }
            for (size_t k = t->ncalls; in_turn && k-- > 0;) {
                call_t *x = &t->calls[k];
                if (strcmp(x->id, tcid->valuestring) != 0)
                    continue;
                mcp_free(x->result);
                x->result = content_text(content, &rc);
                if (rc)
                    return rc;
                x->answered = 1;
                int wrapped_error = 0;
                if ((rc = unwrap_call_result(&x->result, &wrapped_error)) != 0)
                    return rc;
                x->is_error = wrapped_error || result_is_error(x->result);
                break;
            }
        }
        i++;
    }
    if (npending) {
        seterr(err, errcap,
               "messages[%d]: the assistant's tool call '%.64s' has no tool message (every tool "
               "call needs a tool message with its tool_call_id)",
               n - 1, pending[0]);
        return MCP_EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ the question */

typedef enum {
    I_NONE = 0,
    I_GH_RUN,
    I_GH_CODE,
    I_GH_REPOS,
    I_DESCRIBE,
    I_TABLES,
    I_LOW_STOCK,
    I_TOP_CUSTOMERS,
    I_SALES,
} intent_t;

typedef struct entity_s {
    long id;
    const alias_t *via; /* the alias or name that named it (NULL: "product N") */
    int by_name;        /* named by product name, not an alias */
} entity_t;

typedef struct question_s {
    intent_t intent;
    entity_t ents[MAX_ENTITIES];
    size_t nents;
    range_t range;
    char table[64];
    int top_n;
    char search[256]; /* github search text */
} question_t;

static void add_entity(question_t *qq, long id, const alias_t *via, int by_name)
{
    for (size_t i = 0; i < qq->nents; i++)
        if (qq->ents[i].id == id)
            return;
    if (qq->nents < MAX_ENTITIES)
        qq->ents[qq->nents++] = (entity_t){id, via, by_name};
}

/* Blank out [p, p+n) so shorter names inside a matched one do not match again. */
static void blank(char *p, size_t n)
{
    memset(p, ' ', n);
}

static int find_entities(const llm_planner_t *p, const char *q, question_t *qq)
{
    char *s = mcp_strdup(q);
    if (!s)
        return MCP_ENOMEM;
    for (;;) { /* the longest alias or product name first */
        const alias_t *best = NULL;
        const char *where = NULL;
        size_t blen = 0;
        int by_name = 0;
        for (size_t i = 0; i < p->naliases; i++) {
            const alias_t *a = &p->aliases[i];
            const char *cands[2] = {a->lc, a->name_lc};
            for (int k = 0; k < 2; k++) {
                size_t len = strlen(cands[k]);
                const char *w = len > blen ? find_word(s, cands[k]) : NULL;
                if (w) {
                    best = a, where = w, blen = len, by_name = k;
                }
            }
        }
        if (!best)
            break;
        add_entity(qq, best->id, best, by_name);
        blank(s + (where - s), blen);
    }
    /* "product 123", "product #123", "product id 123" */
    for (const char *w = s; (w = find_word(w, "product")) != NULL; w += 7) {
        const char *c = skip_ws(w + 7);
        if (strncmp(c, "id", 2) == 0 && !is_word_char(c[2]))
            c = skip_ws(c + 2);
        if (*c == '#')
            c++;
        if (isdigit((unsigned char)*c)) {
            add_entity(qq, strtol(c, NULL, 10), NULL, 0);
        }
    }
    mcp_free(s);
    /* By id: the same products give the same SQL whatever order they were named in. */
    for (size_t i = 1; i < qq->nents; i++)
        for (size_t j = i; j > 0 && qq->ents[j - 1].id > qq->ents[j].id; j--) {
            entity_t tmp = qq->ents[j];
            qq->ents[j] = qq->ents[j - 1];
            qq->ents[j - 1] = tmp;
        }
    return 0;
}

static int find_range(const llm_planner_t *p, const char *q, const llm_plan_opts_t *o, range_t *r)
{
    const datekey_t *best = NULL;
    const char *phrase = NULL;
    size_t blen = 0;
    for (size_t i = 0; i < p->ndates; i++)
        for (size_t j = 0; j < p->dates[i].nphrases; j++) {
            size_t len = strlen(p->dates[i].phrases[j]);
            if (len > blen && find_word(q, p->dates[i].phrases[j])) {
                best = &p->dates[i], phrase = p->dates[i].phrases[j], blen = len;
            }
        }
    if (!best)
        return 0;
    r->set = 1;
    snprintf(r->key, sizeof(r->key), "%s", best->key);
    snprintf(r->phrase, sizeof(r->phrase), "%s", phrase);
    int y = o->today_y, m = o->today_m, d = o->today_d;
    if (!y) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        y = tm.tm_year + 1900, m = tm.tm_mon + 1, d = tm.tm_mday;
    }
    if (compute_range(best->key, y, m, d, r) == 0)
        return 0;
    if (best->filter && !(r->filter = mcp_strdup(best->filter)))
        return MCP_ENOMEM;
    if (!best->filter)
        r->set = 0;
    return 0;
}

/* The search text after "for" / "about" (up to punctuation), without filler words. */
static void search_words(const char *q, char *out, size_t cap)
{
    out[0] = '\0';
    const char *s = find_word(q, "for");
    if (!s)
        s = find_word(q, "about");
    if (!s)
        return;
    s = skip_ws(s + (s[0] == 'f' ? 3 : 5));
    size_t n = strcspn(s, ".,;?!\"");
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%.*s", (int)(n < 255 ? n : 255), s);
    static const char *const drop[] = {"github", "on",         "in",   "repositories",
                                       "repos",  "repository", "code", "the",
                                       "and",    "me",         "some"};
    size_t o = 0;
    for (char *save = NULL, *w = strtok_r(tmp, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        int skip = 0;
        for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
            skip |= strcmp(w, drop[i]) == 0;
        if (skip)
            continue;
        int k = snprintf(out + o, cap - o, "%s%s", o ? " " : "", w);
        if (k < 0 || (size_t)k >= cap - o)
            break;
        o += (size_t)k;
    }
}

static int classify(const llm_planner_t *p, const char *q, const llm_plan_opts_t *o, question_t *qq)
{
    memset(qq, 0, sizeof(*qq));
    int rc = find_entities(p, q, qq);
    if (!rc)
        rc = find_range(p, q, o, &qq->range);
    if (rc)
        return rc;
    int github = has_word(q, "github");
    int sqlish = has_word(q, "sql") || has(q, "quer");
    if (github && sqlish && (has_word(q, "run") || has(q, "execut"))) {
        qq->intent = I_GH_RUN;
        return 0;
    }
    if (github && (sqlish || has_word(q, "code") || has(q, "file"))) {
        qq->intent = I_GH_CODE;
        if (!sqlish)
            search_words(q, qq->search, sizeof(qq->search));
        return 0;
    }
    if (github && has(q, "repo")) {
        qq->intent = I_GH_REPOS;
        search_words(q, qq->search, sizeof(qq->search));
        if (!qq->search[0])
            snprintf(qq->search, sizeof(qq->search), "sql");
        return 0;
    }
    if (has_word(q, "describe") || has_word(q, "schema") || has_word(q, "columns")) {
        /* the longest table name mentioned ("order_items" over "orders") */
        size_t best = 0;
        for (size_t i = 0; i < p->ntables; i++) {
            size_t len = strlen(p->tables[i]);
            if (len > best && has_word(q, p->tables[i])) {
                best = len;
                snprintf(qq->table, sizeof(qq->table), "%s", p->tables[i]);
            }
        }
        if (best) {
            qq->intent = I_DESCRIBE;
            return 0;
        }
    }
    if (has_word(q, "tables") && (has_word(q, "list") || has_word(q, "what") ||
                                  has_word(q, "which") || has_word(q, "show"))) {
        qq->intent = I_TABLES;
        return 0;
    }
    if (has(q, "reorder") || has(q, "low stock") || has(q, "restock")) {
        qq->intent = I_LOW_STOCK;
        return 0;
    }
    if ((has_word(q, "top") || has_word(q, "best")) && has(q, "customer")) {
        qq->intent = I_TOP_CUSTOMERS;
        qq->top_n = 5;
        const char *t = find_word(q, "top");
        if (t) {
            long n = strtol(skip_ws(t + 3), NULL, 10);
            if (n >= 1 && n <= 100)
                qq->top_n = (int)n;
        }
        return 0;
    }
    static const char *const sales_words[] = {"sales", "sale", "revenue", "orders",
                                              "sold",  "sell", "units",   "turnover"};
    int salesy = has(q, "how many");
    for (size_t i = 0; i < sizeof(sales_words) / sizeof(sales_words[0]); i++)
        salesy |= has_word(q, sales_words[i]);
    if (salesy && (qq->nents || qq->range.set)) {
        qq->intent = I_SALES;
        return 0;
    }
    qq->intent = I_NONE;
    return 0;
}

/* ------------------------------------------------------------------ SQL */

static int range_sql(buf_t *b, const range_t *r, const char *col)
{
    if (!r->set)
        return 0;
    if (!r->filter)
        return buf_appendf(b, " AND %s >= '%s' AND %s < '%s'", col, r->start, col, r->end);
    /* The metadata's own filter, with {col} replaced. */
    int rc = buf_append_str(b, " AND ");
    for (const char *f = r->filter; !rc && *f;) {
        if (strncmp(f, "{col}", 5) == 0) {
            rc = buf_append_str(b, col);
            f += 5;
        } else {
            rc = buf_putc(b, *f++);
        }
    }
    return rc;
}

static char *question_sql(const question_t *qq)
{
    buf_t b;
    buf_init(&b, LLM_PLANNER_MAX_TEXT);
    int rc = 0;
    switch (qq->intent) {
    case I_SALES:
        if (qq->nents) {
            rc = buf_append_str(
                &b, "SELECT p.id AS product_id, p.name AS product, COUNT(DISTINCT s.order_id) AS "
                    "orders, COALESCE(SUM(s.quantity), 0) AS units, "
                    "ROUND(COALESCE(SUM(s.revenue), 0), 2) AS revenue FROM products p LEFT JOIN "
                    "sales s ON s.product_id = p.id AND s.status <> 'refunded'");
            if (!rc)
                rc = range_sql(&b, &qq->range, "s.sale_date");
            if (!rc)
                rc = buf_append_str(&b, " WHERE p.id IN (");
            for (size_t i = 0; !rc && i < qq->nents; i++)
                rc = buf_appendf(&b, "%s%ld", i ? ", " : "", qq->ents[i].id);
            if (!rc)
                rc = buf_append_str(&b, ") GROUP BY p.id, p.name ORDER BY p.id");
        } else {
            rc = buf_append_str(&b, "SELECT COUNT(DISTINCT s.order_id) AS orders, "
                                    "COALESCE(SUM(s.quantity), 0) AS units, "
                                    "ROUND(COALESCE(SUM(s.revenue), 0), 2) AS revenue FROM sales "
                                    "s WHERE s.status <> 'refunded'");
            if (!rc)
                rc = range_sql(&b, &qq->range, "s.sale_date");
        }
        break;
    case I_TOP_CUSTOMERS:
        rc = buf_append_str(&b, "SELECT c.id, c.name, COUNT(DISTINCT o.id) AS orders, "
                                "ROUND(SUM(o.total_amount), 2) AS revenue FROM orders o JOIN "
                                "customers c ON c.id = o.customer_id WHERE o.status NOT IN "
                                "('cancelled', 'refunded')");
        if (!rc)
            rc = range_sql(&b, &qq->range, "o.order_date");
        if (!rc)
            rc =
                buf_appendf(&b, " GROUP BY c.id, c.name ORDER BY revenue DESC LIMIT %d", qq->top_n);
        break;
    case I_LOW_STOCK:
        rc = buf_append_str(&b, "SELECT p.id, p.name, i.on_hand, i.reorder_point FROM inventory "
                                "i JOIN products p ON p.id = i.product_id WHERE i.on_hand < "
                                "i.reorder_point ORDER BY i.reorder_point - i.on_hand DESC");
        break;
    default: break;
    }
    if (rc || !b.len) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* The first whole-word occurrence of `word` in sql (case-insensitive for keywords). */
static const char *find_sql_word(const char *sql, const char *word, int icase)
{
    size_t n = strlen(word);
    for (const char *p = sql; *p; p++) {
        if ((icase ? strncasecmp(p, word, n) : strncmp(p, word, n)) != 0)
            continue;
        if ((p == sql || !is_word_char(p[-1])) && !is_word_char(p[n]))
            return p;
    }
    return NULL;
}

static char *replace_at(const char *sql, const char *at, size_t oldlen, const char *with)
{
    size_t pre = (size_t)(at - sql);
    return mcp_asprintf("%.*s%s%s", (int)pre, sql, with, at + oldlen);
}

/* The turn's first SQL gets a typo. */
static char *typo_sql(const char *sql)
{
    static const char *const from[] = {"SELECT", "WITH", "FROM"};
    static const char *const to[] = {"SELCT", "WTIH", "FRMO"};
    for (size_t i = 0; i < 3; i++) {
        const char *at = find_sql_word(sql, from[i], 1);
        if (at)
            return replace_at(sql, at, strlen(from[i]), to[i]);
    }
    return mcp_strdup(sql);
}

static const char *const sql_keywords[] = {
    "SELECT",   "FROM",     "WHERE", "GROUP",  "BY",   "ORDER",   "JOIN", "LEFT",  "INNER",
    "ON",       "AND",      "OR",    "NOT",    "IN",   "AS",      "SUM",  "COUNT", "ROUND",
    "COALESCE", "DISTINCT", "LIMIT", "HAVING", "WITH", "UNION",   "CASE", "WHEN",  "THEN",
    "ELSE",     "END",      "IS",    "NULL",   "LIKE", "BETWEEN", "DESC", "ASC",   "OFFSET"};

/* Closest candidate within distance 2 (and closer than the word's own length), or NULL. */
static const char *closest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bd = 3, wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(word, cands[i]) == 0)
            return NULL; /* the word is right: the error lies elsewhere */
        size_t d = levenshtein(word, cands[i]);
        if (d < bd && d < wl) {
            bd = d;
            best = cands[i];
        }
    }
    return best;
}

/* Quoted token after `marker` in an error text ("near \"SELCT\"" or "no such column: s.qty"). */
static int error_token(const char *error, const char *marker, int quoted, char *out, size_t cap)
{
    const char *m = strstr(error, marker);
    if (!m)
        return 0;
    const char *s = m + strlen(marker);
    size_t n;
    if (quoted) {
        if (*s != '"')
            return 0;
        s++;
        n = strcspn(s, "\"");
    } else {
        s = skip_ws(s);
        n = 0;
        while (s[n] && (is_word_char(s[n]) || s[n] == '.'))
            n++;
    }
    if (!n || n >= cap)
        return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    char *dot = strrchr(out, '.');
    if (dot && !quoted)
        memmove(out, dot + 1, strlen(dot + 1) + 1);
    return out[0] != '\0';
}

/* A corrected SQL for a failed one (owned), with what was changed in desc; NULL when no
 * correction is known. `regenerated` (may be NULL) is the query the question implies. */
static char *fix_sql(const llm_planner_t *p, const char *sql, const char *error,
                     const char *regenerated, char *desc, size_t desccap)
{
    char tok[64];
    const char *with = NULL;
    if (error_token(error, "near ", 1, tok, sizeof(tok)))
        with = closest(tok, sql_keywords, sizeof(sql_keywords) / sizeof(sql_keywords[0]));
    else if (error_token(error, "no such column:", 0, tok, sizeof(tok)) ||
             error_token(error, "no such table:", 0, tok, sizeof(tok)))
        with = closest(tok, (const char *const *)p->idents, p->nidents);
    if (with) {
        const char *at = find_sql_word(sql, tok, 0);
        if (at) {
            snprintf(desc, desccap, "'%s' -> '%s'", tok, with);
            return replace_at(sql, at, strlen(tok), with);
        }
    }
    if (regenerated && strcmp(regenerated, sql) != 0) {
        snprintf(desc, desccap, "the query was written again");
        return mcp_strdup(regenerated);
    }
    return NULL;
}

/* ------------------------------------------------------------------ building the answer */

typedef struct ctx_s {
    const llm_planner_t *p;
    const cJSON *tools;
    const llm_plan_opts_t *o;
    turn_t *t;
    question_t qq;
    cJSON *calls; /* tool calls being emitted */
    buf_t text;   /* answer being written */
    int rc;       /* first ENOMEM */
    const char *rule;
} ctx_t;

static void say(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vappendf(&c->text, fmt, ap);
    va_end(ap);
    if (rc == MCP_ENOMEM && !c->rc)
        c->rc = rc; /* MCP_ENOBUFS: the answer is cut at its maximum */
}

/* Emit a call; args taken. id NULL: "call_<assistant number>_<index>". */
static void emit(ctx_t *c, const char *name, cJSON *args, const char *id)
{
    char idbuf[MAX_ID + 16];
    if (!c->calls && !(c->calls = cJSON_CreateArray()))
        goto oom;
    if (!args)
        goto oom;
    if (!id) {
        snprintf(idbuf, sizeof(idbuf), "call_%d_%d", c->t->assistants + 1,
                 cJSON_GetArraySize(c->calls));
        id = idbuf;
    }
    char *a = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    args = NULL;
    cJSON *call = cJSON_CreateObject();
    cJSON *fn = cJSON_CreateObject();
    if (!a || !call || !fn || !cJSON_AddStringToObject(call, "id", id) ||
        !cJSON_AddStringToObject(call, "type", "function") ||
        !cJSON_AddStringToObject(fn, "name", name) ||
        !cJSON_AddStringToObject(fn, "arguments", a)) {
        cJSON_free(a);
        cJSON_Delete(call);
        cJSON_Delete(fn);
        goto oom;
    }
    cJSON_free(a);
    if (!cJSON_AddItemToObject(call, "function", fn)) {
        cJSON_Delete(call);
        cJSON_Delete(fn);
        goto oom;
    }
    cJSON_AddItemToArray(c->calls, call);
    return;
oom:
    cJSON_Delete(args);
    if (!c->rc)
        c->rc = MCP_ENOMEM;
}

static int turn_has_sql(const turn_t *t)
{
    for (size_t i = 0; i < t->ncalls; i++)
        if (is_sql_base(t->calls[i].base))
            return 1;
    return 0;
}

/* Emit one SQL call on the chosen tool, with the typo when asked and this is the turn's first. */
static void emit_sql(ctx_t *c, const cJSON *tool, const char *sql, const char *id, int *first)
{
    char *text = NULL;
    if (c->o->typo_first && *first && !turn_has_sql(c->t))
        text = typo_sql(sql);
    *first = 0;
    cJSON *args = cJSON_CreateObject();
    if (args && !cJSON_AddStringToObject(args, sql_arg_name(tool), text ? text : sql)) {
        cJSON_Delete(args);
        args = NULL;
    }
    mcp_free(text);
    emit(c, tool_name_of(tool), args, id);
}

static void say_tools_used(ctx_t *c)
{
    if (!c->t->ncalls)
        return;
    say(c, "\nTools used: ");
    int first = 1;
    for (size_t i = 0; i < c->t->ncalls; i++) {
        int seen = 0, count = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(c->t->calls[j].name, c->t->calls[i].name) == 0;
        if (seen)
            continue;
        for (size_t j = i; j < c->t->ncalls; j++)
            count += strcmp(c->t->calls[j].name, c->t->calls[i].name) == 0;
        say(c, "%s%s (%d call%s)", first ? "" : ", ", c->t->calls[i].name, count,
            count == 1 ? "" : "s");
        first = 0;
    }
    say(c, ".");
}

static void say_value(ctx_t *c, const cJSON *v)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
            say(c, "%lld", (long long)d);
        else
            say(c, "%.2f", d);
    } else if (cJSON_IsString(v)) {
        say(c, "%.200s", v->valuestring);
    } else if (cJSON_IsBool(v)) {
        say(c, "%s", cJSON_IsTrue(v) ? "true" : "false");
    } else {
        say(c, "null");
    }
}

static void say_error_text(ctx_t *c, const char *text)
{
    const char *s = skip_ws(text ? text : "");
    size_t n = strcspn(s, "\n");
    if (n > MAX_ERR_SHOW)
        n = MAX_ERR_SHOW;
    say(c, "%.*s", (int)n, s);
}

/* A database result object, or NULL when the text is not one. */
static cJSON *parse_rows(const char *text)
{
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "rows"))) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* "N rows: a=1, b=2; ..." (at most `max` rows). */
static void say_rows(ctx_t *c, const char *text, int max)
{
    cJSON *j = parse_rows(text);
    if (!j) {
        say(c, "%.300s", text ? skip_ws(text) : "(no result)");
        return;
    }
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "rows");
    int n = cJSON_GetArraySize(rows), shown = 0;
    say(c, "%d row%s", n, n == 1 ? "" : "s");
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        if (shown == max) {
            say(c, "; ...");
            break;
        }
        say(c, "%s", shown ? "; " : ": ");
        const cJSON *v;
        int k = 0;
        cJSON_ArrayForEach(v, row)
        {
            say(c, "%s%s=", k++ ? ", " : "", v->string ? v->string : "?");
            say_value(c, v);
        }
        shown++;
    }
    cJSON_Delete(j);
}

/* The last call in the chain of corrections that started with `orig` (or NULL). */
static const call_t *final_of(const turn_t *t, const char *orig)
{
    const call_t *last = NULL;
    for (size_t i = 0; i < t->ncalls; i++)
        if (strcmp(t->calls[i].orig, orig) == 0)
            last = &t->calls[i];
    return last;
}

/* Report failures and corrections of the chain of `orig`. */
static void say_corrections(ctx_t *c, const char *orig)
{
    for (size_t i = 0; i < c->t->ncalls; i++) {
        const call_t *x = &c->t->calls[i];
        if (strcmp(x->orig, orig) != 0 || !x->is_error)
            continue;
        const call_t *next = NULL;
        for (size_t j = i + 1; j < c->t->ncalls && !next; j++)
            if (strcmp(c->t->calls[j].orig, orig) == 0)
                next = &c->t->calls[j];
        say(c, "\n%s query failed (", x->fixes ? "The corrected" : "The first");
        say_error_text(c, x->result);
        say(c, ")");
        if (next) {
            char desc[160] = "";
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(
                x->args, cJSON_GetObjectItemCaseSensitive(x->args, "sql") ? "sql" : "query");
            char *regen = strstr(orig, "-run") ? NULL : question_sql(&c->qq);
            char *fixed = cJSON_IsString(q)
                              ? fix_sql(c->p, q->valuestring, x->result ? x->result : "", regen,
                                        desc, sizeof(desc))
                              : NULL;
            mcp_free(regen);
            mcp_free(fixed);
            say(c, "; I corrected it (%s) and ran it again.", desc[0] ? desc : "rewritten");
        } else {
            say(c, ".");
        }
    }
}

static void say_range(ctx_t *c, const range_t *r)
{
    if (!r->set)
        return;
    if (r->filter) {
        say(c, " %s", r->phrase);
        return;
    }
    int y, m, d;
    long end = 0;
    if (llm_planner_parse_date(r->end, &y, &m, &d) == 0)
        end = days_from_civil(y, m, d) - 1;
    char last[DAY_LEN];
    fmt_day(end, last);
    if (strcmp(r->start, last) == 0)
        say(c, " %s (%s)", r->phrase, r->start);
    else
        say(c, " %s (%s to %s)", r->phrase, r->start, last);
}

static void answer_sales(ctx_t *c, const call_t *res)
{
    const question_t *qq = &c->qq;
    for (size_t i = 0; i < qq->nents; i++) {
        const entity_t *e = &qq->ents[i];
        if (e->via && !e->by_name)
            say(c, "\"%s\" is the %s of product %ld, %s.\n", e->via->alias, e->via->kind, e->id,
                e->via->name);
    }
    cJSON *j = parse_rows(res->result);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "rows");
    if (!j || cJSON_GetArraySize(rows) == 0) {
        say(c, "The query returned no figures: ");
        say_rows(c, res->result, MAX_ROWS_SHOW);
        cJSON_Delete(j);
        return;
    }
    say(c, "%s", qq->nents ? "Sales" : "Total sales");
    say_range(c, &qq->range);
    say(c, ":");
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(row, "product_id");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(row, "product");
        say(c, "\n- ");
        if (cJSON_IsString(name))
            say(c, "%s (product %.0f): ", name->valuestring, cJSON_GetNumberValue(pid));
        else
            say(c, "all products: ");
        say_value(c, cJSON_GetObjectItemCaseSensitive(row, "units"));
        say(c, " units in ");
        say_value(c, cJSON_GetObjectItemCaseSensitive(row, "orders"));
        say(c, " orders, revenue ");
        const cJSON *rev = cJSON_GetObjectItemCaseSensitive(row, "revenue");
        say(c, "%.2f %s", cJSON_GetNumberValue(rev), c->p->currency);
    }
    say(c, "\n(refunded and cancelled orders excluded)");
    cJSON_Delete(j);
}

/* Rule 2 for questions answered by one call chain (SQL, list_tables, describe_table, search). */
static void answer_single(ctx_t *c, const call_t *first)
{
    const call_t *res = final_of(c->t, first->orig);
    c->rule = "answer";
    if (res->is_error) {
        say(c, "I could not answer: %s failed: ", res->name);
        say_error_text(c, res->result);
        say(c, ".");
        say_corrections(c, first->orig);
        say_tools_used(c);
        return;
    }
    switch (c->qq.intent) {
    case I_SALES: answer_sales(c, res); break;
    case I_TOP_CUSTOMERS:
        say(c, "Top %d customers", c->qq.top_n);
        say_range(c, &c->qq.range);
        say(c, " by revenue: ");
        say_rows(c, res->result, MAX_ROWS_SHOW);
        break;
    case I_LOW_STOCK:
        say(c, "Products below their reorder point: ");
        say_rows(c, res->result, MAX_ROWS_SHOW);
        break;
    case I_TABLES:
        say(c, "The database has ");
        say_rows(c, res->result, 50);
        break;
    case I_DESCRIBE:
        say(c, "Columns of %s: ", c->qq.table);
        say_rows(c, res->result, 50);
        break;
    default: say_rows(c, res->result, MAX_ROWS_SHOW); break;
    }
    say_corrections(c, first->orig);
    say_tools_used(c);
}

/* ------------------------------------------------------------------ rules */

static const call_t *first_with_base(const turn_t *t, const char *base)
{
    for (size_t i = 0; i < t->ncalls; i++)
        if (strcmp(t->calls[i].base, base) == 0)
            return &t->calls[i];
    return NULL;
}

static int last_batch_is(const turn_t *t, const char *base)
{
    if (!t->ncalls)
        return 0;
    int b = t->calls[t->ncalls - 1].batch;
    for (size_t i = t->ncalls; i-- > 0 && t->calls[i].batch == b;)
        if (strcmp(t->calls[i].base, base) == 0)
            return 1;
    return 0;
}

/* Rule 1. Returns 1 when corrections were emitted. */
static int rule_recover(ctx_t *c)
{
    turn_t *t = c->t;
    if (!c->o->recover || !t->ncalls)
        return 0;
    int b = t->calls[t->ncalls - 1].batch;
    char *regen = NULL;
    int regen_done = 0;
    for (size_t i = 0; i < t->ncalls; i++) {
        const call_t *x = &t->calls[i];
        if (x->batch != b || !x->is_error || !is_sql_base(x->base) ||
            x->fixes >= LLM_PLANNER_MAX_FIXES)
            continue;
        const char *argname = cJSON_GetObjectItemCaseSensitive(x->args, "sql") ? "sql" : "query";
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(x->args, argname);
        if (!cJSON_IsString(q))
            continue;
        if (!regen_done) {
            regen_done = 1;
            /* Only a question-level query may be regenerated (not a file's SQL). */
            if (!strstr(x->orig, "-run"))
                regen = question_sql(&c->qq);
        }
        char desc[160];
        char *fixed = fix_sql(c->p, q->valuestring, x->result ? x->result : "",
                              strstr(x->orig, "-run") ? NULL : regen, desc, sizeof(desc));
        if (!fixed)
            continue;
        char id[MAX_ID + 16];
        snprintf(id, sizeof(id), "%s-fix%d", x->orig, x->fixes + 1);
        cJSON *args = cJSON_CreateObject();
        if (args && !cJSON_AddStringToObject(args, argname, fixed)) {
            cJSON_Delete(args);
            args = NULL;
        }
        mcp_free(fixed);
        emit(c, x->name, args, id);
    }
    mcp_free(regen);
    if (c->calls)
        c->rule = "recover";
    return c->calls != NULL;
}

static void missing_tool(ctx_t *c, const char *what)
{
    c->rule = "missing_tool";
    say(c, "I would need %s to answer this, but no such tool was offered.", what);
    say_tools_used(c);
}

static void plan_db(ctx_t *c)
{
    const question_t *qq = &c->qq;
    const char *base = qq->intent == I_TABLES     ? "list_tables"
                       : qq->intent == I_DESCRIBE ? "describe_table"
                                                  : NULL;
    const call_t *first = NULL;
    if (base)
        first = first_with_base(c->t, base);
    else
        for (size_t i = 0; i < c->t->ncalls && !first; i++)
            if (is_sql_base(c->t->calls[i].base))
                first = &c->t->calls[i];
    if (first) {
        answer_single(c, first);
        return;
    }
    if (base) {
        const char *name = llm_planner_find_tool(c->tools, base);
        if (!name) {
            missing_tool(c, base);
            return;
        }
        cJSON *args = cJSON_CreateObject();
        if (args && qq->intent == I_DESCRIBE &&
            !cJSON_AddStringToObject(args, "table_name", qq->table)) {
            cJSON_Delete(args);
            args = NULL;
        }
        c->rule = base;
        emit(c, name, args, NULL);
        return;
    }
    const cJSON *tool = find_sql_tool(c->tools);
    if (!tool) {
        missing_tool(c, "a database query tool (read_query, query or execute_query)");
        return;
    }
    char *sql = question_sql(qq);
    if (!sql) {
        c->rc = MCP_ENOMEM;
        return;
    }
    int first_sql = 1;
    c->rule = "sql";
    emit_sql(c, tool, sql, NULL, &first_sql);
    mcp_free(sql);
}

static void say_search_query(ctx_t *c, const call_t *s)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(s->args, "query");
    say(c, "\"%s\"", cJSON_IsString(q) ? q->valuestring : "");
}

static void emit_search(ctx_t *c, const char *base, const char *query)
{
    const char *name = llm_planner_find_tool(c->tools, base);
    if (!name) {
        missing_tool(c, base);
        return;
    }
    cJSON *args = cJSON_CreateObject();
    if (args && !cJSON_AddStringToObject(args, "query", query)) {
        cJSON_Delete(args);
        args = NULL;
    }
    c->rule = base;
    emit(c, name, args, NULL);
}

static void sql_search_query(const ctx_t *c, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "extension:sql");
    for (size_t i = 0; i < c->qq.nents && o < cap; i++) {
        const alias_t *a = c->qq.ents[i].via;
        if (!a || c->qq.ents[i].by_name)
            continue;
        int sp = strchr(a->alias, ' ') != NULL;
        int k = snprintf(out + o, cap - o, sp ? " \"%s\"" : " %s", a->alias);
        if (k < 0)
            break;
        o += (size_t)k;
    }
}

/* "owner/repo path" of a search hit into *owner etc. (borrowed). */
static int hit_location(const cJSON *item, const char **full, const char **path)
{
    const cJSON *repo = cJSON_GetObjectItemCaseSensitive(item, "repository");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(repo, "full_name");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(item, "path");
    if (!cJSON_IsString(fn) || !cJSON_IsString(p) || !strchr(fn->valuestring, '/'))
        return 0;
    *full = fn->valuestring;
    *path = p->valuestring;
    return 1;
}

static void answer_search(ctx_t *c, const call_t *s)
{
    c->rule = "answer";
    if (s->is_error) {
        say(c, "The GitHub search failed: ");
        say_error_text(c, s->result);
        say(c, ".");
        say_tools_used(c);
        return;
    }
    cJSON *j = s->result ? cJSON_Parse(s->result) : NULL;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(j, "total_count");
    int n = cJSON_GetArraySize(items);
    say(c, "GitHub search %s for ", s->base);
    say_search_query(c, s);
    say(c, ": %d result%s", cJSON_IsNumber(total) ? (int)total->valuedouble : n,
        (cJSON_IsNumber(total) ? (int)total->valuedouble : n) == 1 ? "" : "s");
    const cJSON *it;
    int shown = 0;
    cJSON_ArrayForEach(it, items)
    {
        if (shown == MAX_ROWS_SHOW) {
            say(c, "\n- ...");
            break;
        }
        const char *full, *path;
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "full_name");
        if (hit_location(it, &full, &path))
            say(c, "\n- %s: %s", full, path);
        else if (cJSON_IsString(fn))
            say(c, "\n- %s", fn->valuestring);
        else
            continue;
        shown++;
    }
    cJSON_Delete(j);
    say_tools_used(c);
}

/* base64 (standard alphabet; white space and padding skipped). NULL when invalid. */
static char *unbase64(const char *in)
{
    size_t n = strlen(in), o = 0;
    char *out = mcp_malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        int v;
        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '+')
            v = 62;
        else if (ch == '/')
            v = 63;
        else if (ch == '=' || isspace(ch))
            continue;
        else {
            mcp_free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    return out;
}

/* The SQL text of a get_file_contents result (owned), or NULL. */
static char *file_sql(const char *result)
{
    if (!result)
        return NULL;
    const char *s = skip_ws(result);
    if (*s != '{')
        return strlen(s) <= MAX_SQL_FILE ? mcp_strdup(s) : NULL;
    cJSON *j = cJSON_Parse(s);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content");
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(j, "encoding");
    char *sql = NULL;
    if (cJSON_IsString(content) && strlen(content->valuestring) <= MAX_SQL_FILE * 2) {
        if (cJSON_IsString(enc) && strcmp(enc->valuestring, "base64") == 0)
            sql = unbase64(content->valuestring);
        else
            sql = mcp_strdup(content->valuestring);
    }
    cJSON_Delete(j);
    return sql;
}

static void file_label(const call_t *f, char *out, size_t cap)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(f->args, "owner");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(f->args, "repo");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(f->args, "path");
    snprintf(out, cap, "%s/%s %s", cJSON_IsString(o) ? o->valuestring : "?",
             cJSON_IsString(r) ? r->valuestring : "?", cJSON_IsString(p) ? p->valuestring : "?");
}

static void answer_gh_run(ctx_t *c, const call_t *search)
{
    c->rule = "answer";
    cJSON *j = search->result ? cJSON_Parse(search->result) : NULL;
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(j, "total_count");
    int nfiles = 0, ran = 0, ok = 0;
    for (size_t i = 0; i < c->t->ncalls; i++)
        nfiles += strcmp(c->t->calls[i].base, "get_file_contents") == 0;
    for (size_t i = 0; i < c->t->ncalls; i++)
        if (is_sql_base(c->t->calls[i].base) && !c->t->calls[i].fixes) {
            ran++;
            ok += !final_of(c->t, c->t->calls[i].orig)->is_error;
        }
    say(c, "I searched GitHub code for ");
    say_search_query(c, search);
    if (cJSON_IsNumber(total))
        say(c, " (%d files found)", (int)total->valuedouble);
    say(c, ", read %d file%s and ran %d quer%s on the database (%d succeeded):", nfiles,
        nfiles == 1 ? "" : "s", ran, ran == 1 ? "y" : "ies", ok);
    cJSON_Delete(j);
    int k = 0;
    for (size_t i = 0; i < c->t->ncalls; i++) {
        const call_t *f = &c->t->calls[i];
        if (strcmp(f->base, "get_file_contents") != 0)
            continue;
        char label[512], runid[MAX_ID + 8];
        file_label(f, label, sizeof(label));
        say(c, "\n%d. %s: ", ++k, label);
        if (f->is_error) {
            say(c, "could not be read (");
            say_error_text(c, f->result);
            say(c, ")");
            continue;
        }
        snprintf(runid, sizeof(runid), "%s-run", f->id);
        const call_t *res = final_of(c->t, runid);
        if (!res) {
            say(c, "no SQL in the file");
            continue;
        }
        if (res->is_error) {
            say(c, "failed: ");
            say_error_text(c, res->result);
        } else {
            say_rows(c, res->result, 1);
        }
    }
    for (size_t i = 0; i < c->t->ncalls; i++)
        if (is_sql_base(c->t->calls[i].base) && !c->t->calls[i].fixes)
            say_corrections(c, c->t->calls[i].orig);
    say_tools_used(c);
}

static void plan_gh_run(ctx_t *c)
{
    const call_t *search = first_with_base(c->t, "search_code");
    if (!search) {
        char q[256];
        sql_search_query(c, q, sizeof(q));
        emit_search(c, "search_code", q);
        return;
    }
    if (search->is_error) {
        answer_search(c, search);
        return;
    }
    const call_t *files = first_with_base(c->t, "get_file_contents");
    if (!files && last_batch_is(c->t, "search_code")) {
        const char *gfc = llm_planner_find_tool(c->tools, "get_file_contents");
        if (!gfc) {
            missing_tool(c, "get_file_contents");
            return;
        }
        cJSON *j = search->result ? cJSON_Parse(search->result) : NULL;
        const cJSON *it;
        size_t max = c->o->max_files ? c->o->max_files : LLM_PLANNER_DEFAULT_FILES, n = 0;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "items"))
        {
            const char *full, *path;
            if (n == max)
                break;
            if (!hit_location(it, &full, &path))
                continue;
            const char *slash = strchr(full, '/');
            char owner[256];
            snprintf(owner, sizeof(owner), "%.*s", (int)(slash - full), full);
            cJSON *args = cJSON_CreateObject();
            if (args && (!cJSON_AddStringToObject(args, "owner", owner) ||
                         !cJSON_AddStringToObject(args, "repo", slash + 1) ||
                         !cJSON_AddStringToObject(args, "path", path))) {
                cJSON_Delete(args);
                args = NULL;
            }
            emit(c, gfc, args, NULL);
            n++;
        }
        cJSON_Delete(j);
        if (!n) {
            answer_search(c, search);
            return;
        }
        c->rule = "get_file_contents";
        return;
    }
    if (files && last_batch_is(c->t, "get_file_contents")) {
        const cJSON *tool = find_sql_tool(c->tools);
        if (!tool) {
            missing_tool(c, "a database query tool (read_query, query or execute_query)");
            return;
        }
        int first_sql = 1;
        for (size_t i = 0; i < c->t->ncalls; i++) {
            const call_t *f = &c->t->calls[i];
            if (strcmp(f->base, "get_file_contents") != 0 || f->is_error)
                continue;
            char *sql = file_sql(f->result);
            if (sql && *skip_ws(sql)) {
                char id[MAX_ID + 8];
                snprintf(id, sizeof(id), "%s-run", f->id);
                emit_sql(c, tool, sql, id, &first_sql);
            }
            mcp_free(sql);
        }
        if (c->calls) {
            c->rule = "sql";
            return;
        }
    }
    answer_gh_run(c, search);
}

static void plan_gh_simple(ctx_t *c, const char *base)
{
    const call_t *s = first_with_base(c->t, base);
    if (s) {
        answer_search(c, s);
        return;
    }
    char q[256];
    if (c->qq.search[0])
        snprintf(q, sizeof(q), "%s", c->qq.search);
    else
        sql_search_query(c, q, sizeof(q));
    emit_search(c, base, q);
}

static void plan_text(ctx_t *c)
{
    c->rule = "text";
    int ntools = cJSON_GetArraySize(c->tools);
    if (has_word(c->t->q, "hello") || has_word(c->t->q, "hi") || has_word(c->t->q, "hey"))
        say(c, "Hello! ");
    say(c,
        "I am the mcp-mock planner. I can answer questions about the shop's sales, revenue "
        "and orders (for example \"Show me total sales for abracadabra this month\"), list "
        "or describe tables, find products below their reorder point and top customers with "
        "the database tools, and search GitHub for SQL files and run them on the database. "
        "%d tool%s offered.",
        ntools, ntools == 1 ? " was" : "s were");
    say_tools_used(c);
}

int llm_planner_plan(const llm_planner_t *p, const cJSON *messages, const cJSON *tools,
                     const llm_plan_opts_t *opts, llm_plan_t *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    llm_plan_opts_t defaults = {.recover = 1};
    if (!opts)
        opts = &defaults;
    if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools)) {
        seterr(err, errcap, "tools: expected an array");
        return MCP_EINVAL;
    }
    const cJSON *t;
    int i = 0;
    const cJSON *tarr = cJSON_IsArray(tools) ? tools : NULL;
    cJSON_ArrayForEach(t, tarr)
    {
        if (!tool_name_of(t)) {
            seterr(err, errcap,
                   "tools[%d]: expected {\"type\":\"function\",\"function\":{\"name\":...}}", i);
            return MCP_EINVAL;
        }
        i++;
    }
    turn_t turn;
    int rc = read_turn(messages, &turn, err, errcap);
    if (rc) {
        turn_free(&turn);
        return rc;
    }
    llm_planner_t *override = NULL;
    if (turn.meta && llm_planner_new(turn.meta, &override, NULL, 0) == 0)
        p = override;
    ctx_t c = {.p = p, .tools = opts->tool_choice_none ? NULL : tools, .o = opts, .t = &turn};
    buf_init(&c.text, LLM_PLANNER_MAX_TEXT);
    rc = classify(p, turn.q, opts, &c.qq);
    if (!rc && !rule_recover(&c)) {
        switch (c.qq.intent) {
        case I_GH_RUN: plan_gh_run(&c); break;
        case I_GH_CODE: plan_gh_simple(&c, "search_code"); break;
        case I_GH_REPOS: plan_gh_simple(&c, "search_repositories"); break;
        case I_DESCRIBE:
        case I_TABLES:
        case I_LOW_STOCK:
        case I_TOP_CUSTOMERS:
        case I_SALES: plan_db(&c); break;
        default: plan_text(&c); break;
        }
    }
    if (!rc)
        rc = c.rc;
    cJSON *msg = NULL;
    if (!rc) {
        msg = cJSON_CreateObject();
        if (!msg || !cJSON_AddStringToObject(msg, "role", "assistant"))
            rc = MCP_ENOMEM;
        else if (c.calls) {
            if (!cJSON_AddNullToObject(msg, "content") ||
                !cJSON_AddItemToObject(msg, "tool_calls", c.calls))
                rc = MCP_ENOMEM;
            else
                c.calls = NULL;
        } else if (!cJSON_AddStringToObject(msg, "content", c.text.data ? c.text.data : "")) {
            rc = MCP_ENOMEM;
        }
    }
    if (!rc) {
        out->message = msg;
        out->finish_reason =
            cJSON_GetObjectItemCaseSensitive(msg, "tool_calls") ? "tool_calls" : "stop";
        out->rule = c.rule ? c.rule : "text";
    } else {
        cJSON_Delete(msg);
        if (rc == MCP_ENOMEM)
            seterr(err, errcap, "out of memory");
    }
    cJSON_Delete(c.calls);
    buf_free(&c.text);
    mcp_free(c.qq.range.filter);
    llm_planner_free(override);
    turn_free(&turn);
    return rc;
}

void llm_plan_clear(llm_plan_t *plan)
{
    if (!plan)
        return;
    cJSON_Delete(plan->message);
    memset(plan, 0, sizeof(*plan));
}
