#include "match.h"

#include "alloc.h"
#include "errors.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- paths ---- */

#define PATH_MAX_SEGMENTS 64
#define DESCRIBE_MAX      120

typedef enum { SEG_NAME, SEG_INDEX, SEG_WILD } seg_kind_t;

typedef struct seg_s {
    seg_kind_t kind;
    char *name; /* SEG_NAME, owned */
    long index; /* SEG_INDEX */
} seg_t;

typedef struct path_s {
    seg_t segs[PATH_MAX_SEGMENTS];
    size_t count;
    int multi;
} path_t;

static void path_free(path_t *p)
{
    for (size_t i = 0; i < p->count; i++)
        mcp_free(p->segs[i].name);
    p->count = 0;
}

static int path_push(path_t *p, seg_kind_t kind, char *name, long index, char *err, size_t errcap)
{
    if (p->count == PATH_MAX_SEGMENTS) {
        mcp_free(name);
        snprintf(err, errcap, "path has more than %d segments", PATH_MAX_SEGMENTS);
        return MCP_EINVAL;
    }
    p->segs[p->count].kind = kind;
    p->segs[p->count].name = name;
    p->segs[p->count].index = index;
    p->count++;
    if (kind == SEG_WILD)
        p->multi = 1;
    return 0;
}

static int path_parse(const char *path, path_t *p, char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    memset(p, 0, sizeof(*p));
    if (!path || path[0] != '$') {
        snprintf(err, errcap, "a JSON path starts with '$'");
        return MCP_EINVAL;
    }
    const char *s = path + 1;
    while (*s) {
        int rc;
        if (*s == '.') {
            s++;
            if (*s == '*') {
                s++;
                rc = path_push(p, SEG_WILD, NULL, 0, err, errcap);
            } else {
                size_t n = strcspn(s, ".[] \t\r\n'\"");
                if (n == 0 || (s[n] && s[n] != '.' && s[n] != '[')) {
                    snprintf(err, errcap, "%s at offset %zu (quote unusual names: ['odd name'])",
                             n ? "unexpected character in a member name" : "empty member name",
                             (size_t)(s + n - path));
                    path_free(p);
                    return MCP_EINVAL;
                }
                char *name = mcp_strndup(s, n);
                if (!name) {
                    path_free(p);
                    return MCP_ENOMEM;
                }
                s += n;
                rc = path_push(p, SEG_NAME, name, 0, err, errcap);
            }
        } else if (*s == '[') {
            s++;
            if (*s == '*' && s[1] == ']') {
                s += 2;
                rc = path_push(p, SEG_WILD, NULL, 0, err, errcap);
            } else if (*s == '\'' || *s == '"') {
                char q = *s++;
                const char *end = strchr(s, q);
                if (!end || end[1] != ']') {
                    snprintf(err, errcap, "unterminated quoted name at offset %zu",
                             (size_t)(s - 1 - path));
                    path_free(p);
                    return MCP_EINVAL;
                }
                char *name = mcp_strndup(s, (size_t)(end - s));
                if (!name) {
                    path_free(p);
                    return MCP_ENOMEM;
                }
                s = end + 2;
                rc = path_push(p, SEG_NAME, name, 0, err, errcap);
            } else {
                char *end = NULL;
                long idx = strtol(s, &end, 10);
                if (end == s || *end != ']') {
                    snprintf(err, errcap,
                             "expected an index, '*' or a quoted name after '[' at offset %zu",
                             (size_t)(s - 1 - path));
                    path_free(p);
                    return MCP_EINVAL;
                }
                s = end + 1;
                rc = path_push(p, SEG_INDEX, NULL, idx, err, errcap);
            }
        } else {
            snprintf(err, errcap, "unexpected '%c' at offset %zu (use .name or [...])", *s,
                     (size_t)(s - path));
            path_free(p);
            return MCP_EINVAL;
        }
        if (rc) {
            path_free(p);
            return rc;
        }
    }
    return 0;
}

int match_path_validate(const char *path, char *err, size_t errcap)
{
    path_t p;
    int rc = path_parse(path, &p, err, errcap);
    if (rc == 0)
        path_free(&p);
    return rc;
}

/* Collect the values selected from node by segs[i..] into list (an array of references). */
static int path_walk(const path_t *p, size_t i, const cJSON *node, cJSON *list)
{
    if (!node)
        return 0;
    if (i == p->count) {
        cJSON *copy = cJSON_Duplicate(node, 1);
        if (!copy)
            return MCP_ENOMEM;
        cJSON_AddItemToArray(list, copy);
        return 0;
    }
    const seg_t *s = &p->segs[i];
    switch (s->kind) {
    case SEG_NAME:
        if (!cJSON_IsObject(node))
            return 0;
        return path_walk(p, i + 1, cJSON_GetObjectItemCaseSensitive(node, s->name), list);
    case SEG_INDEX: {
        if (!cJSON_IsArray(node))
            return 0;
        long n = (long)cJSON_GetArraySize(node);
        long idx = s->index < 0 ? n + s->index : s->index;
        if (idx < 0 || idx >= n)
            return 0;
        return path_walk(p, i + 1, cJSON_GetArrayItem(node, (int)idx), list);
    }
    case SEG_WILD: {
        if (!cJSON_IsArray(node) && !cJSON_IsObject(node))
            return 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, node)
        {
            int rc = path_walk(p, i + 1, c, list);
            if (rc)
                return rc;
        }
        return 0;
    }
    }
    return 0;
}

int match_path_eval(const cJSON *root, const char *path, cJSON **out, int *multi, char *err,
                    size_t errcap)
{
    *out = NULL;
    if (multi)
        *multi = 0;
    path_t p;
    int rc = path_parse(path, &p, err, errcap);
    if (rc)
        return rc;
    cJSON *list = cJSON_CreateArray();
    if (!list) {
        path_free(&p);
        return MCP_ENOMEM;
    }
    rc = path_walk(&p, 0, root, list);
    if (rc) {
        cJSON_Delete(list);
        path_free(&p);
        return rc;
    }
    if (multi)
        *multi = p.multi;
    if (p.multi) {
        *out = list;
    } else {
        cJSON *first = cJSON_DetachItemFromArray(list, 0);
        cJSON_Delete(list);
        *out = first;
    }
    path_free(&p);
    return 0;
}

/* ---- descriptions ---- */

void match_describe(const cJSON *v, buf_t *out)
{
    if (!v) {
        buf_append_str(out, "nothing");
        return;
    }
    char *text = cJSON_PrintUnformatted(v);
    if (!text) {
        buf_append_str(out, "(?)");
        return;
    }
    size_t n = strlen(text);
    if (n > DESCRIBE_MAX) {
        buf_append(out, text, DESCRIBE_MAX);
        buf_append_str(out, "...");
    } else {
        buf_append(out, text, n);
    }
    cJSON_free(text);
}

/* ---- matchers ---- */

typedef enum {
    OP_EQUALS,
    OP_CONTAINS,
    OP_REGEX,
    OP_EXISTS,
    OP_LENGTH,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_NE,
    OP_TYPE,
    OP_NOT,
    OP_SOME,
    OP_EVERY,
    OP_UNKNOWN
} op_t;

static const struct {
    const char *name;
    op_t op;
} op_names[] = {
    {"equals", OP_EQUALS}, {"contains", OP_CONTAINS},
    {"regex", OP_REGEX},   {"exists", OP_EXISTS},
    {"length", OP_LENGTH}, {"lt", OP_LT},
    {"<", OP_LT},          {"le", OP_LE},
    {"<=", OP_LE},         {"gt", OP_GT},
    {">", OP_GT},          {"ge", OP_GE},
    {">=", OP_GE},         {"ne", OP_NE},
    {"!=", OP_NE},         {"type", OP_TYPE},
    {"not", OP_NOT},       {"some", OP_SOME},
    {"every", OP_EVERY},
};

static op_t op_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
        if (strcmp(op_names[i].name, name) == 0)
            return op_names[i].op;
    return OP_UNKNOWN;
}

static const char *type_names[] = {"string", "number", "integer", "boolean",
                                   "null",   "array",  "object"};

static int type_known(const char *t)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(type_names[i], t) == 0)
            return 1;
    return 0;
}

static const char *json_type_name(const cJSON *v)
{
    if (!v)
        return "nothing";
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsNumber(v))
        return "number";
    if (cJSON_IsBool(v))
        return "boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "array";
    if (cJSON_IsObject(v))
        return "object";
    return "raw";
}

static int type_is(const cJSON *v, const char *t)
{
    if (!v)
        return 0;
    if (strcmp(t, "integer") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
               fabs(v->valuedouble) < 9007199254740992.0;
    return strcmp(json_type_name(v), t) == 0;
}

int match_validate(const cJSON *m, char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    if (!cJSON_IsObject(m))
        return 0; /* a literal: equality */
    if (!m->child) {
        snprintf(err, errcap, "empty matcher object (use {\"equals\": {}} to compare with {})");
        return MCP_EINVAL;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, m)
    {
        op_t op = op_lookup(c->string);
        switch (op) {
        case OP_UNKNOWN:
            snprintf(err, errcap,
                     "unknown matcher \"%s\" (known: equals, contains, regex, exists, length, "
                     "lt, le, gt, ge, ne, type, not, some, every)",
                     c->string);
            return MCP_EINVAL;
        case OP_REGEX: {
            if (!cJSON_IsString(c)) {
                snprintf(err, errcap, "regex: must be a string");
                return MCP_EINVAL;
            }
            regex_t re;
            int rc = regcomp(&re, c->valuestring, REG_EXTENDED | REG_NOSUB);
            if (rc) {
                char msg[128];
                regerror(rc, &re, msg, sizeof(msg));
                snprintf(err, errcap, "regex: /%s/ does not compile: %s", c->valuestring, msg);
                return MCP_EINVAL;
            }
            regfree(&re);
            break;
        }
        case OP_EXISTS:
            if (!cJSON_IsBool(c)) {
                snprintf(err, errcap, "exists: must be true or false");
                return MCP_EINVAL;
            }
            break;
        case OP_LENGTH:
            if (cJSON_IsObject(c)) {
                int rc = match_validate(c, err, errcap);
                if (rc)
                    return rc;
            } else if (!cJSON_IsNumber(c) || c->valuedouble < 0) {
                snprintf(err, errcap, "length: must be a non-negative number or a matcher");
                return MCP_EINVAL;
            }
            break;
        case OP_LT:
        case OP_LE:
        case OP_GT:
        case OP_GE:
            if (!cJSON_IsNumber(c)) {
                snprintf(err, errcap, "%s: must be a number", c->string);
                return MCP_EINVAL;
            }
            break;
        case OP_TYPE:
            if (!cJSON_IsString(c) || !type_known(c->valuestring)) {
                snprintf(err, errcap,
                         "type: must be one of string, number, integer, boolean, null, array, "
                         "object");
                return MCP_EINVAL;
            }
            break;
        case OP_NOT:
        case OP_SOME:
        case OP_EVERY: {
            int rc = match_validate(c, err, errcap);
            if (rc) {
                char inner[256];
                snprintf(inner, sizeof(inner), "%s", err);
                snprintf(err, errcap, "%s: %s", c->string, inner);
                return rc;
            }
            break;
        }
        case OP_EQUALS:
        case OP_CONTAINS:
        case OP_NE: break;
        }
    }
    return 0;
}

static int json_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return 0;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    return cJSON_Compare(a, b, 1) ? 1 : 0;
}

/* Number of UTF-8 code points (continuation bytes are not counted). */
static size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static void fail_msg(buf_t *why, const char *label, const char *fmt_expected, const cJSON *exp_v,
                     const cJSON *actual)
{
    if (!why)
        return;
    if (why->len)
        buf_append_str(why, "; ");
    if (label && *label)
        buf_appendf(why, "%s: ", label);
    buf_append_str(why, "expected ");
    buf_append_str(why, fmt_expected);
    if (exp_v)
        match_describe(exp_v, why);
    buf_append_str(why, ", got ");
    match_describe(actual, why);
}

static int check_one(op_t op, const cJSON *operand, const cJSON *actual, int multi,
                     const char *label, buf_t *why);

/* Apply a matcher or literal quietly (no message), for not/some/every/length. */
static int check_quiet(const cJSON *m, const cJSON *actual, int multi)
{
    return match_check(m, actual, multi, NULL, NULL);
}

static int contains(const cJSON *actual, const cJSON *want)
{
    if (cJSON_IsString(actual) && cJSON_IsString(want))
        return strstr(actual->valuestring, want->valuestring) != NULL;
    if (cJSON_IsArray(actual)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, actual)
        {
            if (json_equal(e, want))
                return 1;
        }
        return 0;
    }
    if (cJSON_IsObject(actual) && cJSON_IsObject(want)) {
        const cJSON *w;
        cJSON_ArrayForEach(w, want)
        {
            if (!json_equal(cJSON_GetObjectItemCaseSensitive(actual, w->string), w))
                return 0;
        }
        return 1;
    }
    if (cJSON_IsObject(actual) && cJSON_IsString(want))
        return cJSON_GetObjectItemCaseSensitive(actual, want->valuestring) != NULL;
    return 0;
}

static int regex_match(const char *re_text, const cJSON *actual, int *bad)
{
    *bad = 0;
    char *owned = NULL;
    const char *subject;
    if (cJSON_IsString(actual)) {
        subject = actual->valuestring;
    } else if (cJSON_IsNumber(actual) || cJSON_IsBool(actual)) {
        owned = cJSON_PrintUnformatted(actual);
        if (!owned)
            return 0;
        subject = owned;
    } else {
        return 0;
    }
    regex_t re;
    if (regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB) != 0) {
        *bad = 1;
        cJSON_free(owned);
        return 0;
    }
    int ok = regexec(&re, subject, 0, NULL, 0) == 0;
    regfree(&re);
    cJSON_free(owned);
    return ok;
}

static int check_one(op_t op, const cJSON *operand, const cJSON *actual, int multi,
                     const char *label, buf_t *why)
{
    char tmp[96];
    switch (op) {
    case OP_EQUALS:
        if (json_equal(actual, operand))
            return 1;
        fail_msg(why, label, "", operand, actual);
        return 0;
    case OP_NE:
        if (actual && !json_equal(actual, operand))
            return 1;
        fail_msg(why, label, "a value other than ", operand, actual);
        return 0;
    case OP_CONTAINS:
        if (actual && contains(actual, operand))
            return 1;
        fail_msg(why, label, "to contain ", operand, actual);
        return 0;
    case OP_REGEX: {
        int bad;
        if (!cJSON_IsString(operand))
            return MCP_EINVAL;
        if (regex_match(operand->valuestring, actual, &bad))
            return 1;
        if (bad) {
            if (why)
                buf_appendf(why, "%s%s: regex /%s/ does not compile", why->len ? "; " : "",
                            label ? label : "", operand->valuestring);
            return MCP_EINVAL;
        }
        snprintf(tmp, sizeof(tmp), "to match /%.80s/", operand->valuestring);
        fail_msg(why, label, tmp, NULL, actual);
        return 0;
    }
    case OP_EXISTS: {
        int exists = actual != NULL && !(multi && cJSON_GetArraySize(actual) == 0);
        if (exists == cJSON_IsTrue(operand))
            return 1;
        if (why) {
            if (why->len)
                buf_append_str(why, "; ");
            if (label && *label)
                buf_appendf(why, "%s: ", label);
            if (exists) {
                buf_append_str(why, "expected to be absent, got ");
                match_describe(actual, why);
            } else {
                buf_append_str(why, "expected to exist, but it is missing");
            }
        }
        return 0;
    }
    case OP_LENGTH: {
        double len;
        if (cJSON_IsString(actual))
            len = (double)utf8_length(actual->valuestring);
        else if (cJSON_IsArray(actual) || cJSON_IsObject(actual))
            len = (double)cJSON_GetArraySize(actual);
        else {
            fail_msg(why, label, "a string, array or object for length", NULL, actual);
            return 0;
        }
        cJSON *lv = cJSON_CreateNumber(len);
        if (!lv)
            return MCP_ENOMEM;
        int ok = check_quiet(operand, lv, 0);
        if (ok == 0 && why) {
            if (why->len)
                buf_append_str(why, "; ");
            if (label && *label)
                buf_appendf(why, "%s: ", label);
            buf_append_str(why, "expected length ");
            if (cJSON_IsObject(operand))
                match_describe(operand, why);
            else
                buf_appendf(why, "%g", operand->valuedouble);
            buf_appendf(why, ", got length %g", len);
        }
        cJSON_Delete(lv);
        return ok;
    }
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE: {
        static const char *sym[] = {
            [OP_LT] = "< ", [OP_LE] = "<= ", [OP_GT] = "> ", [OP_GE] = ">= "};
        if (!cJSON_IsNumber(operand))
            return MCP_EINVAL;
        if (cJSON_IsNumber(actual)) {
            double a = actual->valuedouble, b = operand->valuedouble;
            int ok = op == OP_LT ? a < b : op == OP_LE ? a <= b : op == OP_GT ? a > b : a >= b;
            if (ok)
                return 1;
        }
        fail_msg(why, label, sym[op], operand, actual);
        return 0;
    }
    case OP_TYPE:
        if (!cJSON_IsString(operand))
            return MCP_EINVAL;
        if (type_is(actual, operand->valuestring))
            return 1;
        snprintf(tmp, sizeof(tmp), "a value of type %s", operand->valuestring);
        fail_msg(why, label, tmp, NULL, actual);
        return 0;
    case OP_NOT: {
        int r = check_quiet(operand, actual, multi);
        if (r < 0)
            return r;
        if (!r)
            return 1;
        fail_msg(why, label, "not ", operand, actual);
        return 0;
    }
    case OP_SOME:
    case OP_EVERY: {
        if (!cJSON_IsArray(actual)) {
            fail_msg(why, label, "an array", NULL, actual);
            return 0;
        }
        int any = 0, all = 1;
        const cJSON *e;
        cJSON_ArrayForEach(e, actual)
        {
            int r = check_quiet(operand, e, 0);
            if (r < 0)
                return r;
            any |= r;
            all &= r;
        }
        if (op == OP_SOME ? any : all)
            return 1;
        fail_msg(why, label, op == OP_SOME ? "some element to match " : "every element to match ",
                 operand, actual);
        return 0;
    }
    case OP_UNKNOWN: break;
    }
    return MCP_EINVAL;
}

int match_check(const cJSON *m, const cJSON *actual, int multi, const char *label, buf_t *why)
{
    if (!m)
        return MCP_EINVAL;
    if (!cJSON_IsObject(m))
        return check_one(OP_EQUALS, m, actual, multi, label, why);
    if (!m->child) {
        if (why)
            buf_appendf(why, "%s%s: empty matcher", why->len ? "; " : "", label ? label : "");
        return MCP_EINVAL;
    }
    int all = 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, m)
    {
        op_t op = op_lookup(c->string);
        if (op == OP_UNKNOWN) {
            if (why)
                buf_appendf(why, "%s%s: unknown matcher \"%s\"", why->len ? "; " : "",
                            label ? label : "", c->string);
            return MCP_EINVAL;
        }
        int r = check_one(op, c, actual, multi, label, why);
        if (r < 0)
            return r;
        if (!r) {
            all = 0;
            if (!why)
                return 0;
        }
    }
    return all;
}

int match_object(const cJSON *pairs, const cJSON *root, buf_t *why)
{
    if (!cJSON_IsObject(pairs))
        return MCP_EINVAL;
    int all = 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, pairs)
    {
        char err[160];
        cJSON *v = NULL;
        int multi = 0;
        int rc = match_path_eval(root, c->string, &v, &multi, err, sizeof(err));
        if (rc) {
            if (why)
                buf_appendf(why, "%s%s: %s", why->len ? "; " : "", c->string, err);
            return rc;
        }
        int r = match_check(c, v, multi, c->string, why);
        cJSON_Delete(v);
        if (r < 0)
            return r;
        if (!r)
            all = 0;
    }
    return all;
}
