/* kind_database: `mcp-mock database`, a SQLite server shaped like the reference SQLite MCP
 * server (read_query, write_query, create_table, list_tables, describe_table, append_insight,
 * the memo://insights resource and the mcp-demo prompt), plus the legacy one-tool name
 * execute_query and the Postgres server's read-only `query` ({"sql"}).
 *
 * The database lives in memory (or in --db FILE) and is seeded from the embedded
 * fixtures/database-seed.sql (or --seed-sql FILE). Read-only is the default and SQLite enforces
 * it, never string matching: an authorizer admits only reads (SELECT, reading columns,
 * functions, recursive CTEs, introspection PRAGMAs) while a statement is prepared and run in
 * read mode, sqlite3_stmt_readonly() double-checks every read-mode statement, and PRAGMA
 * query_only is on unless --writable. ATTACH/DETACH, transaction control and setting PRAGMAs
 * are refused in every mode; ATTACH is also disabled by SQLITE_LIMIT_ATTACHED = 0. Exactly one
 * statement per call: the text after the first statement must be whitespace or comments (the
 * rest is prepared with an authorizer that denies everything, so preparing it has no effect).
 *
 * Each statement runs under a deadline (sqlite3_progress_handler), MCP_MOCK_DB_TIMEOUT_MS in
 * the environment (default 5000 ms), so a runaway query cannot block the loop for long. Query
 * results are one text block of compact JSON {"columns":[...],"rows":[{...}],"row_count":N,
 * "truncated":bool}, the same object as structuredContent; at most --max-rows rows (default
 * 1000) and DB_MAX_RESULT_BYTES of values are returned. Errors are isError results carrying
 * SQLite's message ("Database error: ...") or ours ("Error: ...").
 *
 * Resources: memo://insights (the reference memo; append_insight updates it and sends
 * notifications/resources/updated), sqlite://main/metadata (fixtures/product_metadata.json:
 * table and column meanings, product aliases, date phrases: the entity-resolution hints) and
 * one sqlite://main/<table>/schema resource per table and view (kept in step with the schema
 * after writes), plus the template sqlite://main/{table}/schema with completion of `table`.
 *
 * Everything runs synchronously on the loop thread; the state is owned by the kind and freed in
 * teardown (after the server is gone, so teardown never touches the server). */
#include "mock.h"

#include "alloc.h"
#include "buf.h"
#include "clock.h"
#include "errors.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const char mock_database_tools_database_json[];
extern const size_t mock_database_tools_database_json_len;
extern const char mock_database_seed_database_seed_sql[];
extern const size_t mock_database_seed_database_seed_sql_len;
extern const char mock_database_meta_product_metadata_json[];
extern const size_t mock_database_meta_product_metadata_json_len;

#define DB_DEFAULT_MAX_ROWS   1000
#define DB_DEFAULT_TIMEOUT_MS 5000
#define DB_MAX_RESULT_BYTES   (4u << 20) /* values in one result, roughly as JSON text */
#define DB_MAX_SQL_BYTES      (1 << 20)
#define DB_MAX_VALUE_BYTES    (16 << 20) /* SQLITE_LIMIT_LENGTH */
#define DB_MAX_SEED_BYTES     (64 << 20)
#define DB_MAX_INSIGHTS       1000
#define DB_MAX_INSIGHT_BYTES  4096
#define DB_MAX_TABLES         1024
#define DB_PROGRESS_OPS       1000 /* VM steps between deadline checks */

#define DB_URI_PREFIX   "sqlite://main/"
#define DB_URI_SUFFIX   "/schema"
#define DB_URI_TEMPLATE "sqlite://main/{table}/schema"
#define DB_URI_METADATA "sqlite://main/metadata"
#define DB_URI_MEMO     "memo://insights"

typedef enum {
    DB_MODE_NONE = 0, /* no statement of ours is being prepared or run: deny everything */
    DB_MODE_READ,     /* reads only */
    DB_MODE_WRITE,    /* --writable: changes too */
    DB_MODE_CREATE,   /* --writable create_table: CREATE TABLE only */
} db_mode_t;

enum {
    DB_REQUIRE_WRITE = 1,  /* refuse statements that only read (write_query) */
    DB_REQUIRE_CREATE = 2, /* refuse anything but CREATE TABLE (create_table) */
};

typedef struct db_state_s {
    mcp_server_t *server;
    sqlite3 *db;
    int writable;
    size_t max_rows;
    uint64_t timeout_ms;
    /* Per statement: what the authorizer admits and what it saw. */
    db_mode_t mode;
    const char *read_reason; /* why writes are refused in DB_MODE_READ */
    int saw_create;
    int saw_write;
    char deny[200];       /* the first refusal of the current statement */
    uint64_t deadline_ms; /* 0: no statement running */
    int timed_out;
    /* The memo. */
    char **insights;
    size_t insight_count;
    /* Tables and views with a registered schema resource (sorted, owned). */
    char **tables;
    size_t table_count;
    long long schema_version; /* PRAGMA schema_version when the resources were last synced */
} db_state_t;

/* ---- small helpers ---- */

static const char *const db_read_pragmas[] = {
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "collation_list",
    "database_list",
    "integrity_check",
    "quick_check",
    "compile_options",
    "function_list",
    "module_list",
    "pragma_list",
    NULL,
};
/* Read without a value, set with one: reads are admitted, setting only when writable. */
static const char *const db_value_pragmas[] = {
    "user_version",
    "application_id",
    "schema_version",
    "page_size",
    "page_count",
    "freelist_count",
    "encoding",
    "data_version",
    "foreign_keys",
    "query_only",
    NULL,
};
static const char *const db_settable_pragmas[] = {"user_version", "application_id", NULL};

static int db_in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; name && list[i]; i++)
        if (strcasecmp(list[i], name) == 0)
            return 1;
    return 0;
}

static void db_deny(db_state_t *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void db_deny(db_state_t *st, const char *fmt, ...)
{
    if (st->deny[0] != '\0')
        return; /* the first refusal explains best */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->deny, sizeof st->deny, fmt, ap);
    va_end(ap);
}

static const char *db_action_name(int action)
{
    switch (action) {
    case SQLITE_INSERT: return "INSERT";
    case SQLITE_UPDATE: return "UPDATE";
    case SQLITE_DELETE: return "DELETE";
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TEMP_INDEX: return "CREATE INDEX";
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TEMP_TABLE: return "CREATE TABLE";
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_TEMP_TRIGGER: return "CREATE TRIGGER";
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_TEMP_VIEW: return "CREATE VIEW";
    case SQLITE_CREATE_VTABLE: return "CREATE VIRTUAL TABLE";
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TEMP_INDEX: return "DROP INDEX";
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_TABLE: return "DROP TABLE";
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_TEMP_TRIGGER: return "DROP TRIGGER";
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_TEMP_VIEW: return "DROP VIEW";
    case SQLITE_DROP_VTABLE: return "DROP VIRTUAL TABLE";
    case SQLITE_ALTER_TABLE: return "ALTER TABLE";
    case SQLITE_REINDEX: return "REINDEX";
    case SQLITE_ANALYZE: return "ANALYZE";
    default: return "this statement";
    }
}

/* The security boundary: SQLite asks this for every action of a statement while compiling it
 * (and while a table-valued PRAGMA function runs). */
static int db_authorize(void *ud, int action, const char *a1, const char *a2, const char *dbname,
                        const char *trigger)
{
    db_state_t *st = ud;
    (void)dbname;
    (void)trigger;
    if (st->mode == DB_MODE_NONE) {
        db_deny(st, "no statement may run here");
        return SQLITE_DENY;
    }
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE: return SQLITE_OK;
    case SQLITE_FUNCTION:
        if (a2 && strcasecmp(a2, "load_extension") == 0)
            return SQLITE_DENY; /* SQLite says "not authorized to use function: ..." */
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        if (db_in_list(db_read_pragmas, a1))
            return SQLITE_OK;
        if (db_in_list(db_value_pragmas, a1) && a2 == NULL)
            return SQLITE_OK;
        if (st->mode == DB_MODE_WRITE && db_in_list(db_settable_pragmas, a1)) {
            st->saw_write = 1;
            return SQLITE_OK;
        }
        db_deny(st, "PRAGMA %s is not allowed here (only reading introspection PRAGMAs)", a1);
        return SQLITE_DENY;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        db_deny(st, "ATTACH, DETACH and VACUUM are not allowed (the mock serves one database)");
        return SQLITE_DENY;
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        db_deny(st, "transaction control is not allowed: every statement commits on its own");
        return SQLITE_DENY;
    default: break;
    }
    /* Everything left changes the database. */
    int schema_row =
        (action == SQLITE_INSERT || action == SQLITE_UPDATE || action == SQLITE_DELETE) && a1 &&
        (strcmp(a1, "sqlite_master") == 0 || strcmp(a1, "sqlite_temp_master") == 0);
    if (st->mode == DB_MODE_WRITE) {
        st->saw_write = 1;
        return SQLITE_OK;
    }
    if (st->mode == DB_MODE_CREATE) {
        if (action == SQLITE_CREATE_TABLE || action == SQLITE_CREATE_TEMP_TABLE) {
            st->saw_create = 1;
            return SQLITE_OK;
        }
        /* CREATE TABLE records itself in the schema table, with an automatic index per
         * UNIQUE or PRIMARY KEY constraint. */
        if (schema_row && action != SQLITE_DELETE)
            return SQLITE_OK;
        if ((action == SQLITE_CREATE_INDEX || action == SQLITE_CREATE_TEMP_INDEX) && a1 &&
            strncmp(a1, "sqlite_autoindex_", 17) == 0)
            return SQLITE_OK;
        db_deny(st, "%s is not allowed: create_table runs CREATE TABLE statements only",
                db_action_name(action));
        return SQLITE_DENY;
    }
    /* Schema statements (CREATE, DROP, ALTER) are asked about their schema-table rows first. */
    db_deny(st, "%s is not allowed: %s",
            schema_row ? "changing the schema" : db_action_name(action),
            st->read_reason ? st->read_reason : "read-only");
    return SQLITE_DENY;
}

static int db_progress(void *ud)
{
    db_state_t *st = ud;
    if (st->deadline_ms && clock_mono_ms() >= st->deadline_ms) {
        st->timed_out = 1;
        return 1;
    }
    return 0;
}

/* A JSON string of SQLite text: invalid UTF-8 and NUL bytes become U+FFFD, so the answer is
 * always valid JSON. NULL on ENOMEM. */
static cJSON *db_json_text(const unsigned char *s, size_t n)
{
    buf_t b;
    buf_init(&b, n * 3 + 16);
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = 0;
        uint32_t cp = 0;
        if (c >= 0x01 && c < 0x80) {
            len = 1;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07;
        }
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                ok = 0;
            else
                cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                   (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))))
            ok = 0;
        int rc = ok ? buf_append(&b, s + i, len) : buf_append_str(&b, "\xEF\xBF\xBD");
        if (rc != 0) {
            buf_free(&b);
            return NULL;
        }
        i += ok ? len : 1;
    }
    cJSON *str = cJSON_CreateString(b.data ? b.data : "");
    buf_free(&b);
    return str;
}

static cJSON *db_json_value(sqlite3_stmt *stmt, int col, size_t *bytes)
{
    switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER: {
        sqlite3_int64 v = sqlite3_column_int64(stmt, col);
        *bytes += 20;
        if (v > (1LL << 53) || v < -(1LL << 53)) {
            char tmp[32]; /* printed digit for digit: a double would round it */
            snprintf(tmp, sizeof tmp, "%lld", (long long)v);
            return cJSON_CreateRaw(tmp);
        }
        return cJSON_CreateNumber((double)v);
    }
    case SQLITE_FLOAT: *bytes += 24; return cJSON_CreateNumber(sqlite3_column_double(stmt, col));
    case SQLITE_TEXT: {
        const unsigned char *t = sqlite3_column_text(stmt, col);
        size_t n = (size_t)sqlite3_column_bytes(stmt, col);
        *bytes += n + 2;
        return t ? db_json_text(t, n) : cJSON_CreateString("");
    }
    case SQLITE_BLOB: {
        /* As an SQL blob literal X'..', so it reads back unambiguously. */
        const unsigned char *p = sqlite3_column_blob(stmt, col);
        size_t n = (size_t)sqlite3_column_bytes(stmt, col);
        *bytes += 2 * n + 3;
        char *hex = mcp_malloc(2 * n + 4);
        if (!hex)
            return NULL;
        static const char digits[] = "0123456789ABCDEF";
        size_t o = 0;
        hex[o++] = 'X';
        hex[o++] = '\'';
        for (size_t i = 0; i < n; i++) {
            hex[o++] = digits[p[i] >> 4];
            hex[o++] = digits[p[i] & 15];
        }
        hex[o++] = '\'';
        hex[o] = '\0';
        cJSON *v = cJSON_CreateString(hex);
        mcp_free(hex);
        return v;
    }
    default: *bytes += 4; return cJSON_CreateNull();
    }
}

/* ---- running one statement ---- */

typedef struct db_outcome_s {
    cJSON *json; /* the result object (rows or affected_rows), or NULL on error */
    char *error; /* the isError text (mcp_asprintf), or NULL */
    int changed; /* the statement was not read-only and ran */
} db_outcome_t;

static void db_outcome_free(db_outcome_t *o)
{
    cJSON_Delete(o->json);
    mcp_free(o->error);
    memset(o, 0, sizeof *o);
}

static void db_begin(db_state_t *st, db_mode_t mode, const char *read_reason)
{
    st->mode = mode;
    st->read_reason = read_reason;
    st->saw_create = st->saw_write = 0;
    st->deny[0] = '\0';
    st->timed_out = 0;
    st->deadline_ms = clock_mono_ms() + st->timeout_ms;
}

static void db_end(db_state_t *st)
{
    st->mode = DB_MODE_NONE;
    st->read_reason = NULL;
    st->deadline_ms = 0;
}

static char *db_sqlite_error(db_state_t *st, int rc)
{
    if (st->timed_out)
        return mcp_asprintf("Database error: interrupted: the statement ran longer than %llu ms "
                            "and was stopped",
                            (unsigned long long)st->timeout_ms);
    if ((rc & 0xFF) == SQLITE_AUTH && st->deny[0])
        return mcp_asprintf("Database error: %s: %s", sqlite3_errmsg(st->db), st->deny);
    return mcp_asprintf("Database error: %s", sqlite3_errmsg(st->db));
}

/* Nothing but whitespace and comments may follow the first statement. The rest is compiled
 * with every action denied, so even a PRAGMA that acts while compiling cannot take effect. */
static int db_only_comments(db_state_t *st, const char *tail)
{
    while (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == '\f')
        tail++;
    if (*tail == '\0')
        return 1;
    db_mode_t saved_mode = st->mode;
    char saved_deny[sizeof st->deny];
    memcpy(saved_deny, st->deny, sizeof saved_deny);
    st->mode = DB_MODE_NONE;
    int only = 1;
    while (only && *tail) {
        sqlite3_stmt *next = NULL;
        const char *rest = NULL;
        int rc = sqlite3_prepare_v2(st->db, tail, -1, &next, &rest);
        only = rc == SQLITE_OK && next == NULL;
        sqlite3_finalize(next);
        if (!rest || rest == tail)
            break; /* nothing consumed: only whitespace and comments were left */
        tail = rest;
    }
    st->mode = saved_mode;
    memcpy(st->deny, saved_deny, sizeof saved_deny);
    return only;
}

/* Column keys for row objects: a repeated name gets a suffix (_2, _3, ...). */
static cJSON *db_columns(sqlite3_stmt *stmt)
{
    int n = sqlite3_column_count(stmt);
    cJSON *cols = cJSON_CreateArray();
    for (int i = 0; cols && i < n; i++) {
        const char *name = sqlite3_column_name(stmt, i);
        if (!name)
            name = "?";
        int dup = 1;
        for (int j = 0; j < i; j++) {
            const char *prev = sqlite3_column_name(stmt, j);
            if (prev && strcmp(prev, name) == 0)
                dup++;
        }
        cJSON *item;
        if (dup > 1) {
            char *alt = mcp_asprintf("%s_%d", name, dup);
            item = alt ? cJSON_CreateString(alt) : NULL;
            mcp_free(alt);
        } else {
            item = cJSON_CreateString(name);
        }
        if (!item || !cJSON_AddItemToArray(cols, item)) {
            cJSON_Delete(item);
            cJSON_Delete(cols);
            return NULL;
        }
    }
    return cols;
}

static int db_collect_rows(db_state_t *st, sqlite3_stmt *stmt, cJSON **out, char **err)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *cols = db_columns(stmt);
    cJSON *rows = cJSON_CreateArray();
    if (!obj || !cols || !rows) {
        cJSON_Delete(obj);
        cJSON_Delete(cols);
        cJSON_Delete(rows);
        *err = mcp_strdup("Error: out of memory");
        return MCP_ENOMEM;
    }
    cJSON_AddItemToObject(obj, "columns", cols);
    cJSON_AddItemToObject(obj, "rows", rows);
    int ncol = sqlite3_column_count(stmt);
    size_t count = 0, bytes = 0;
    int truncated = 0, rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (count >= st->max_rows || bytes >= DB_MAX_RESULT_BYTES) {
            truncated = 1; /* there is more: stop here */
            break;
        }
        cJSON *row = cJSON_CreateObject();
        if (!row || !cJSON_AddItemToArray(rows, row)) {
            cJSON_Delete(row);
            rc = SQLITE_NOMEM;
            break;
        }
        for (int i = 0; i < ncol; i++) {
            cJSON *v = db_json_value(stmt, i, &bytes);
            const char *key = cJSON_GetArrayItem(cols, i)->valuestring;
            if (!v || !cJSON_AddItemToObject(row, key, v)) {
                cJSON_Delete(v);
                rc = SQLITE_NOMEM;
                break;
            }
        }
        if (rc == SQLITE_NOMEM)
            break;
        count++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        *err = rc == SQLITE_NOMEM && sqlite3_errcode(st->db) != SQLITE_NOMEM
                   ? mcp_strdup("Error: out of memory")
                   : db_sqlite_error(st, rc);
        cJSON_Delete(obj);
        return MCP_EINVAL;
    }
    cJSON_AddNumberToObject(obj, "row_count", (double)count);
    cJSON_AddBoolToObject(obj, "truncated", truncated);
    if (truncated && count >= st->max_rows)
        cJSON_AddNumberToObject(obj, "max_rows", (double)st->max_rows);
    *out = obj;
    return 0;
}

/* Compile and run exactly one statement of `sql` in `mode`. On return exactly one of
 * out->json / out->error is set. */
static void db_execute(db_state_t *st, const char *sql, db_mode_t mode, const char *read_reason,
                       int require, db_outcome_t *out)
{
    memset(out, 0, sizeof *out);
    if (strlen(sql) > DB_MAX_SQL_BYTES) {
        out->error = mcp_asprintf("Error: the statement is longer than %d bytes", DB_MAX_SQL_BYTES);
        return;
    }
    db_begin(st, mode, read_reason);
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, &tail);
    /* Empty statements (lone semicolons) before the first real one are skipped. */
    while (rc == SQLITE_OK && !stmt && tail && *tail && tail != sql) {
        sql = tail;
        rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, &tail);
    }
    if (rc != SQLITE_OK) {
        out->error = db_sqlite_error(st, rc);
        goto done;
    }
    if (!stmt) {
        out->error = mcp_strdup("Error: the query is empty (no SQL statement found)");
        goto done;
    }
    if (!db_only_comments(st, tail)) {
        out->error = mcp_strdup("Error: only one SQL statement per call is allowed; send the "
                                "statements one at a time");
        goto done;
    }
    int readonly = sqlite3_stmt_readonly(stmt);
    if (mode == DB_MODE_READ && !readonly) {
        /* The authorizer admitted it, yet SQLite says it writes: refuse all the same. */
        out->error = mcp_asprintf("Database error: not authorized: this statement would change "
                                  "the database: %s",
                                  read_reason ? read_reason : "read-only");
        goto done;
    }
    if ((require & DB_REQUIRE_CREATE) && !st->saw_create) {
        out->error = mcp_strdup("Error: Only CREATE TABLE statements are allowed");
        goto done;
    }
    if ((require & DB_REQUIRE_WRITE) && readonly) {
        out->error = mcp_strdup("Error: SELECT queries are not allowed for write_query; use "
                                "read_query");
        goto done;
    }
    if (mode == DB_MODE_WRITE && !readonly && !st->saw_write) {
        out->error = mcp_strdup("Database error: not authorized: this kind of statement (such "
                                "as VACUUM) is not allowed");
        goto done;
    }
    if (sqlite3_column_count(stmt) > 0) {
        if (db_collect_rows(st, stmt, &out->json, &out->error) != 0)
            goto done;
    } else {
        /* sqlite3_changes() keeps the count of the last INSERT/UPDATE/DELETE: only trust it
         * when this statement changed something. */
        sqlite3_int64 total_before = sqlite3_total_changes64(st->db);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        }
        if (rc != SQLITE_DONE) {
            out->error = db_sqlite_error(st, rc);
            goto done;
        }
        out->json = cJSON_CreateObject();
        sqlite3_int64 changes =
            sqlite3_total_changes64(st->db) != total_before ? sqlite3_changes64(st->db) : 0;
        if (!out->json || !cJSON_AddNumberToObject(out->json, "affected_rows", (double)changes)) {
            cJSON_Delete(out->json);
            out->json = NULL;
            out->error = mcp_strdup("Error: out of memory");
            goto done;
        }
    }
    out->changed = !readonly;
done:
    sqlite3_finalize(stmt);
    db_end(st);
    if (out->error) {
        cJSON_Delete(out->json);
        out->json = NULL;
    }
}

/* ---- schema resources ---- */

static int db_uri_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* sqlite://main/<percent-encoded table>/schema (mcp_free). */
static char *db_schema_uri(const char *table)
{
    buf_t b;
    buf_init(&b, 4 * strlen(table) + 64);
    int rc = buf_append_str(&b, DB_URI_PREFIX);
    for (const unsigned char *p = (const unsigned char *)table; rc == 0 && *p; p++)
        rc = db_uri_unreserved(*p) ? buf_putc(&b, (char)*p) : buf_appendf(&b, "%%%02X", *p);
    if (rc == 0)
        rc = buf_append_str(&b, DB_URI_SUFFIX);
    if (rc != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

static int db_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The table named by a schema URI (mcp_free), or NULL when it is not one. */
static char *db_uri_table(const char *uri)
{
    size_t plen = strlen(DB_URI_PREFIX), slen = strlen(DB_URI_SUFFIX), n = strlen(uri);
    if (n <= plen + slen || strncmp(uri, DB_URI_PREFIX, plen) != 0 ||
        strcmp(uri + n - slen, DB_URI_SUFFIX) != 0)
        return NULL;
    char *out = mcp_malloc(n);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = plen; i < n - slen; i++) {
        if (uri[i] == '%' && i + 2 < n - slen + 2 && db_hex(uri[i + 1]) >= 0 &&
            db_hex(uri[i + 2]) >= 0) {
            out[o++] = (char)(db_hex(uri[i + 1]) * 16 + db_hex(uri[i + 2]));
            i += 2;
        } else if (uri[i] == '/') {
            mcp_free(out);
            return NULL;
        } else {
            out[o++] = uri[i];
        }
    }
    out[o] = '\0';
    if (o == 0 || memchr(out, '\0', o) != NULL) {
        mcp_free(out);
        return NULL;
    }
    return out;
}

/* "table", "view" or NULL when no such table or view exists (static string). */
static const char *db_table_type(db_state_t *st, const char *name)
{
    const char *type = NULL;
    db_begin(st, DB_MODE_READ, "internal lookup");
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT type FROM sqlite_schema WHERE name = ?1 AND type IN "
                           "('table','view')",
                           -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(stmt, 0);
        type = t && strcmp(t, "view") == 0 ? "view" : "table";
    }
    sqlite3_finalize(stmt);
    db_end(st);
    return type;
}

/* User tables and views, sorted by name. 0 or MCP_ENOMEM / MCP_EINVAL (SQLite error). */
static int db_list_tables(db_state_t *st, char ***names_out, size_t *count_out)
{
    char **names = NULL;
    size_t count = 0;
    int err = 0;
    db_begin(st, DB_MODE_READ, "internal lookup");
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT name FROM sqlite_schema WHERE type IN ('table','view') "
                                "AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name",
                                -1, &stmt, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW && count < DB_MAX_TABLES) {
        char **grown = mcp_realloc(names, (count + 1) * sizeof *names);
        char *name = mcp_strdup((const char *)sqlite3_column_text(stmt, 0));
        if (!grown || !name) {
            mcp_free(name);
            if (grown)
                names = grown;
            err = MCP_ENOMEM;
            break;
        }
        names = grown;
        names[count++] = name;
        rc = SQLITE_OK;
    }
    if (!err && rc != SQLITE_DONE && rc != SQLITE_OK && rc != SQLITE_ROW)
        err = MCP_EINVAL;
    sqlite3_finalize(stmt);
    db_end(st);
    if (err) {
        for (size_t i = 0; i < count; i++)
            mcp_free(names[i]);
        mcp_free(names);
        return err;
    }
    *names_out = names;
    *count_out = count;
    return 0;
}

static void db_free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        mcp_free(names[i]);
    mcp_free(names);
}

static void db_schema_read(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud);

static int db_add_schema_resource(db_state_t *st, const char *table)
{
    char *uri = db_schema_uri(table);
    char *name = mcp_asprintf("\"%s\" database schema", table);
    char *desc = mcp_asprintf("Columns of %s %s (name, declared type, NOT NULL, default, "
                              "primary key) with their meaning where known",
                              db_table_type(st, table) ? db_table_type(st, table) : "table", table);
    int rc = MCP_ENOMEM;
    if (uri && name && desc) {
        mcp_resource_def_t def = {
            .uri = uri, .name = name, .description = desc, .mime_type = "application/json"};
        rc = mcp_server_add_resource(st->server, &def, db_schema_read, st);
    }
    mcp_free(uri);
    mcp_free(name);
    mcp_free(desc);
    return rc;
}

static long long db_schema_version(db_state_t *st)
{
    long long v = -1;
    db_begin(st, DB_MODE_READ, "internal lookup");
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(st->db, "PRAGMA schema_version", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    db_end(st);
    return v;
}

/* Make the schema resources match the tables (after setup and after every change): new tables
 * are added and dropped ones removed (list_changed), and when the schema changed, subscribers
 * of the remaining ones get notifications/resources/updated. */
static int db_sync_resources(db_state_t *st)
{
    long long version = db_schema_version(st);
    int schema_changed = st->tables && version != st->schema_version;
    st->schema_version = version;
    char **now = NULL;
    size_t n = 0;
    int rc = db_list_tables(st, &now, &n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < st->table_count; i++) {
        int keep = 0;
        for (size_t j = 0; j < n && !keep; j++)
            keep = strcmp(st->tables[i], now[j]) == 0;
        if (!keep) {
            char *uri = db_schema_uri(st->tables[i]);
            if (uri)
                mcp_server_remove_resource(st->server, uri);
            mcp_free(uri);
        }
    }
    for (size_t j = 0; j < n && rc == 0; j++) {
        int had = 0;
        for (size_t i = 0; i < st->table_count && !had; i++)
            had = strcmp(st->tables[i], now[j]) == 0;
        if (!had) {
            rc = db_add_schema_resource(st, now[j]);
            if (rc == MCP_EEXISTS)
                rc = 0;
        }
    }
    db_free_names(st->tables, st->table_count);
    st->tables = now;
    st->table_count = n;
    for (size_t j = 0; schema_changed && j < n; j++) {
        char *uri = db_schema_uri(now[j]);
        if (uri)
            mcp_server_notify_resource_updated(st->server, uri);
        mcp_free(uri);
    }
    return rc;
}

/* Column meanings from the metadata fixture, or NULL. */
static const cJSON *db_meta_table(const cJSON *meta, const char *table)
{
    const cJSON *tables = cJSON_GetObjectItemCaseSensitive(meta, "tables");
    return cJSON_GetObjectItemCaseSensitive(tables, table);
}

/* {"table","type","description"?,"columns":[{"column_name","data_type","not_null","default",
 * "primary_key","description"?}],"sql"} for one table or view; NULL with *err set. */
static cJSON *db_schema_json(db_state_t *st, const char *table, char **err)
{
    const char *type = db_table_type(st, table);
    if (!type) {
        *err = mcp_asprintf("no such table: %s", table);
        return NULL;
    }
    char *sql = sqlite3_mprintf("PRAGMA table_info(\"%w\")", table);
    if (!sql) {
        *err = mcp_strdup("out of memory");
        return NULL;
    }
    db_outcome_t o;
    db_execute(st, sql, DB_MODE_READ, "internal lookup", 0, &o);
    sqlite3_free(sql);
    if (!o.json) {
        *err = o.error ? o.error : mcp_strdup("out of memory");
        o.error = NULL;
        db_outcome_free(&o);
        return NULL;
    }
    cJSON *meta = cJSON_Parse(mock_database_meta_product_metadata_json);
    const cJSON *mt = db_meta_table(meta, table);
    const cJSON *mcols = cJSON_GetObjectItemCaseSensitive(mt, "columns");
    cJSON *out = cJSON_CreateObject();
    cJSON *cols = cJSON_AddArrayToObject(out, "columns");
    cJSON_AddStringToObject(out, "table", table);
    cJSON_AddStringToObject(out, "type", type);
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(mt, "description");
    if (cJSON_IsString(desc))
        cJSON_AddStringToObject(out, "description", desc->valuestring);
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(o.json, "rows"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(row, "name");
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(row, "type");
        const cJSON *notnull = cJSON_GetObjectItemCaseSensitive(row, "notnull");
        const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(row, "dflt_value");
        const cJSON *pk = cJSON_GetObjectItemCaseSensitive(row, "pk");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToArray(cols, c);
        cJSON_AddItemToObject(c, "column_name", cJSON_Duplicate(name, 1));
        cJSON_AddItemToObject(c, "data_type", cJSON_Duplicate(dtype, 1));
        cJSON_AddBoolToObject(c, "not_null", cJSON_IsNumber(notnull) && notnull->valuedouble != 0);
        cJSON_AddItemToObject(c, "default", cJSON_Duplicate(dflt, 1));
        cJSON_AddBoolToObject(c, "primary_key", cJSON_IsNumber(pk) && pk->valuedouble != 0);
        const cJSON *meaning = cJSON_IsString(name)
                                   ? cJSON_GetObjectItemCaseSensitive(mcols, name->valuestring)
                                   : NULL;
        if (cJSON_IsString(meaning))
            cJSON_AddStringToObject(c, "description", meaning->valuestring);
    }
    cJSON_Delete(meta);
    db_outcome_free(&o);
    /* The CREATE statement, for the constraints PRAGMA table_info does not show. */
    db_begin(st, DB_MODE_READ, "internal lookup");
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT sql FROM sqlite_schema WHERE name = ?1", -1, &stmt,
                           NULL) == SQLITE_OK &&
        sqlite3_bind_text(stmt, 1, table, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
        cJSON_AddStringToObject(out, "sql", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    db_end(st);
    if (!out || !cols) {
        cJSON_Delete(out);
        *err = mcp_strdup("out of memory");
        return NULL;
    }
    return out;
}

static void db_schema_read(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    db_state_t *st = ud;
    char *table = NULL;
    if (vars && mcp_uri_vars_get(vars, "table"))
        table = mcp_strdup(mcp_uri_vars_get(vars, "table"));
    else
        table = db_uri_table(uri);
    char *err = NULL;
    cJSON *schema = table ? db_schema_json(st, table, &err) : NULL;
    mcp_free(table);
    if (!schema) {
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "uri", uri);
        if (err)
            cJSON_AddStringToObject(data, "reason", err);
        mcp_call_error(call, -32002, "Resource not found", data);
        mcp_free(err);
        return;
    }
    char *text = cJSON_PrintUnformatted(schema);
    cJSON_Delete(schema);
    if (!text) {
        mcp_call_error(call, -32603, "out of memory", NULL);
        return;
    }
    mcp_call_reply_resource_text(call, uri, "application/json", text);
    cJSON_free(text);
}

static void db_complete_table(mcp_call_t *call, const char *argument, const char *value,
                              const cJSON *context_args, void *ud)
{
    db_state_t *st = ud;
    (void)argument;
    (void)context_args;
    const char *vals[DB_MAX_TABLES];
    size_t n = 0, plen = value ? strlen(value) : 0;
    for (size_t i = 0; i < st->table_count; i++)
        if (plen == 0 || strncasecmp(st->tables[i], value, plen) == 0)
            vals[n++] = st->tables[i];
    mcp_call_reply_completion(call, vals, n, (long)n, 0);
}

/* ---- memo and metadata ---- */

static char *db_memo_text(const db_state_t *st)
{
    if (st->insight_count == 0)
        return mcp_strdup("No business insights have been discovered yet.");
    buf_t b;
    buf_init(&b, (size_t)DB_MAX_INSIGHTS * (DB_MAX_INSIGHT_BYTES + 4) + 1024);
    int rc = buf_append_str(&b, "\xF0\x9F\x93\x8A Business Intelligence Memo \xF0\x9F\x93\x8A\n\n"
                                "Key Insights Discovered:\n\n");
    for (size_t i = 0; rc == 0 && i < st->insight_count; i++)
        rc = buf_appendf(&b, "%s- %s", i ? "\n" : "", st->insights[i]);
    if (rc == 0 && st->insight_count > 1)
        rc = buf_appendf(&b,
                         "\nSummary:\nAnalysis has revealed %zu key business insights that "
                         "suggest opportunities for strategic optimization and growth.",
                         st->insight_count);
    if (rc != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

static void db_memo_read(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars, void *ud)
{
    (void)vars;
    char *text = db_memo_text(ud);
    if (!text) {
        mcp_call_error(call, -32603, "out of memory", NULL);
        return;
    }
    mcp_call_reply_resource_text(call, uri, "text/plain", text);
    mcp_free(text);
}

static void db_metadata_read(mcp_call_t *call, const char *uri, const mcp_uri_vars_t *vars,
                             void *ud)
{
    (void)vars;
    (void)ud;
    mcp_call_reply_resource_text(call, uri, "application/json",
                                 mock_database_meta_product_metadata_json);
}

/* ---- tools ---- */

/* The string argument `name`, or NULL after answering the call with an isError result. */
static const char *db_string_arg(mcp_call_t *call, const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!v) {
        char *msg = mcp_asprintf("Error: missing required argument \"%s\"", name);
        mcp_call_tool_error(call, msg ? msg : "Error: missing required argument");
        mcp_free(msg);
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        char *msg = mcp_asprintf("Error: argument \"%s\" must be a string", name);
        mcp_call_tool_error(call, msg ? msg : "Error: argument must be a string");
        mcp_free(msg);
        return NULL;
    }
    return v->valuestring;
}

/* Answer with the JSON object as text and as structuredContent (json is taken). */
static void db_reply_json(mcp_call_t *call, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON *result = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(result, "content");
    cJSON *block = cJSON_CreateObject();
    cJSON_AddItemToArray(content, block);
    cJSON_AddStringToObject(block, "type", "text");
    if (!text || !cJSON_AddStringToObject(block, "text", text) ||
        !cJSON_AddItemToObject(result, "structuredContent", json)) {
        cJSON_Delete(json);
        cJSON_Delete(result);
        cJSON_free(text);
        mcp_call_tool_error(call, "Error: out of memory");
        return;
    }
    cJSON_free(text);
    mcp_call_reply(call, result);
}

static const char *const DB_RO_DATABASE =
    "the database is read-only (start `mcp-mock database --writable` to allow changes)";

static void db_finish(db_state_t *st, mcp_call_t *call, db_outcome_t *o)
{
    if (!o->json) {
        mcp_call_tool_error(call, o->error ? o->error : "Error: out of memory");
        db_outcome_free(o);
        return;
    }
    if (o->changed)
        db_sync_resources(st);
    cJSON *json = o->json;
    o->json = NULL;
    db_outcome_free(o);
    db_reply_json(call, json);
}

static void db_tool_read_query(mcp_call_t *call, const cJSON *args, void *ud)
{
    db_state_t *st = ud;
    const char *q = db_string_arg(call, args, "query");
    if (!q)
        return;
    db_outcome_t o;
    db_execute(st, q, DB_MODE_READ,
               "read_query runs read-only statements (SELECT); use write_query for changes", 0, &o);
    db_finish(st, call, &o);
}

static void db_tool_write_query(mcp_call_t *call, const cJSON *args, void *ud)
{
    db_state_t *st = ud;
    const char *q = db_string_arg(call, args, "query");
    if (!q)
        return;
    db_outcome_t o;
    db_execute(st, q, st->writable ? DB_MODE_WRITE : DB_MODE_READ, DB_RO_DATABASE, DB_REQUIRE_WRITE,
               &o);
    db_finish(st, call, &o);
}

static void db_tool_create_table(mcp_call_t *call, const cJSON *args, void *ud)
{
    db_state_t *st = ud;
    const char *q = db_string_arg(call, args, "query");
    if (!q)
        return;
    db_outcome_t o;
    db_execute(st, q, st->writable ? DB_MODE_CREATE : DB_MODE_READ, DB_RO_DATABASE,
               DB_REQUIRE_CREATE, &o);
    if (!o.json) {
        db_finish(st, call, &o);
        return;
    }
    db_sync_resources(st);
    db_outcome_free(&o);
    mcp_call_reply_text(call, "Table created successfully");
}

static void db_tool_list_tables(mcp_call_t *call, const cJSON *args, void *ud)
{
    db_state_t *st = ud;
    (void)args;
    db_outcome_t o;
    db_execute(st,
               "SELECT name, type FROM sqlite_schema WHERE type IN ('table','view') AND name NOT "
               "LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name",
               DB_MODE_READ, "list_tables only reads", 0, &o);
    db_finish(st, call, &o);
}

static void db_tool_describe_table(mcp_call_t *call, const cJSON *args, void *ud)
{
    db_state_t *st = ud;
    const char *table = db_string_arg(call, args, "table_name");
    if (!table)
        return;
    if (!db_table_type(st, table)) {
        char *msg = mcp_asprintf("Error: no such table: %s", table);
        mcp_call_tool_error(call, msg ? msg : "Error: no such table");
        mcp_free(msg);
        return;
    }
    char *sql = sqlite3_mprintf("PRAGMA table_info(\"%w\")", table);
    if (!sql) {
        mcp_call_tool_error(call, "Error: out of memory");
        return;
    }
    db_outcome_t o;
    db_execute(st, sql, DB_MODE_READ, "describe_table only reads", 0, &o);
    sqlite3_free(sql);
    db_finish(st, call, &o);
}

static void db_tool_append_insight(mcp_call_t *call, const cJSON *args, void *ud)
{
    db_state_t *st = ud;
    const char *insight = db_string_arg(call, args, "insight");
    if (!insight)
        return;
    size_t n = strlen(insight);
    while (n > 0 && (insight[0] == ' ' || insight[0] == '\n' || insight[0] == '\t'))
        insight++, n--;
    if (n == 0) {
        mcp_call_tool_error(call, "Error: the insight is empty");
        return;
    }
    if (n > DB_MAX_INSIGHT_BYTES) {
        char *msg =
            mcp_asprintf("Error: an insight may be at most %d bytes long", DB_MAX_INSIGHT_BYTES);
        mcp_call_tool_error(call, msg ? msg : "Error: insight too long");
        mcp_free(msg);
        return;
    }
    if (st->insight_count >= DB_MAX_INSIGHTS) {
        mcp_call_tool_error(call, "Error: the memo is full (1000 insights)");
        return;
    }
    char **grown = mcp_realloc(st->insights, (st->insight_count + 1) * sizeof *grown);
    char *copy = grown ? mcp_strdup(insight) : NULL;
    if (grown)
        st->insights = grown;
    if (!copy) {
        mcp_call_tool_error(call, "Error: out of memory");
        return;
    }
    st->insights[st->insight_count++] = copy;
    mcp_call_reply_text(call, "Insight added to memo");
    mcp_server_notify_resource_updated(st->server, DB_URI_MEMO);
}

static void db_tool_execute_query(mcp_call_t *call, const cJSON *args, void *ud)
{
    db_state_t *st = ud;
    const char *q = db_string_arg(call, args, "query");
    if (!q)
        return;
    db_outcome_t o;
    db_execute(st, q, st->writable ? DB_MODE_WRITE : DB_MODE_READ, DB_RO_DATABASE, 0, &o);
    db_finish(st, call, &o);
}

static void db_tool_query(mcp_call_t *call, const cJSON *args, void *ud)
{
    db_state_t *st = ud;
    const char *q = db_string_arg(call, args, "sql");
    if (!q)
        return;
    db_outcome_t o;
    db_execute(st, q, DB_MODE_READ, "query runs in a read-only transaction", 0, &o);
    db_finish(st, call, &o);
}

static const struct {
    const char *name;
    mcp_tool_fn fn;
} db_tools[] = {
    {"read_query", db_tool_read_query},         {"write_query", db_tool_write_query},
    {"create_table", db_tool_create_table},     {"list_tables", db_tool_list_tables},
    {"describe_table", db_tool_describe_table}, {"append_insight", db_tool_append_insight},
    {"execute_query", db_tool_execute_query},   {"query", db_tool_query},
};

/* ---- prompt ---- */

static void db_prompt_demo(mcp_call_t *call, const cJSON *args, void *ud)
{
    (void)ud;
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(args, "topic");
    const char *t = cJSON_IsString(topic) ? topic->valuestring : "";
    char *desc = mcp_asprintf("Demo template for %s", t);
    char *text = mcp_asprintf(
        "You are helping a user explore a SQLite database through an MCP server. The topic of "
        "this session is: %s.\n\n"
        "1. Call list_tables and describe_table to learn the schema, and read the resource "
        "sqlite://main/metadata for what the columns mean and which aliases name which "
        "products.\n"
        "2. Ask the user one business question about %s, then answer it with read_query "
        "(SELECT statements only).\n"
        "3. Whenever a result teaches something useful, record it with append_insight; the memo "
        "resource memo://insights collects them.\n"
        "4. If the database is writable (write_query, create_table), you may seed extra tables "
        "about %s first; say what you changed.\n"
        "Keep answers short, show the SQL you ran, and finish with a summary of the memo.",
        t, t, t);
    cJSON *result = cJSON_CreateObject();
    cJSON_AddStringToObject(result, "description", desc ? desc : "Demo template");
    cJSON *messages = cJSON_AddArrayToObject(result, "messages");
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddItemToArray(messages, msg);
    cJSON_AddStringToObject(msg, "role", "user");
    cJSON *content = cJSON_AddObjectToObject(msg, "content");
    cJSON_AddStringToObject(content, "type", "text");
    cJSON_AddStringToObject(content, "text", text ? text : "");
    mcp_free(desc);
    mcp_free(text);
    mcp_call_reply(call, result);
}

static void db_complete_topic(mcp_call_t *call, const char *argument, const char *value,
                              const cJSON *context_args, void *ud)
{
    (void)argument;
    (void)context_args;
    (void)ud;
    static const char *const topics[] = {"customers", "inventory", "orders", "products", "sales"};
    const char *vals[5];
    size_t n = 0, plen = value ? strlen(value) : 0;
    for (size_t i = 0; i < 5; i++)
        if (strncasecmp(topics[i], value ? value : "", plen) == 0)
            vals[n++] = topics[i];
    mcp_call_reply_completion(call, vals, n, (long)n, 0);
}

/* ---- setup ---- */

static char *db_read_file(const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b;
    buf_init(&b, DB_MAX_SEED_BYTES);
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

static void db_teardown(void *state)
{
    db_state_t *st = state;
    if (!st)
        return;
    if (st->db)
        sqlite3_close_v2(st->db);
    for (size_t i = 0; i < st->insight_count; i++)
        mcp_free(st->insights[i]);
    mcp_free(st->insights);
    db_free_names(st->tables, st->table_count);
    mcp_free(st);
}

static int db_fail(db_state_t *st, int rc, char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int db_fail(db_state_t *st, int rc, char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
    db_teardown(st);
    return rc;
}

static int db_open(db_state_t *st, const mock_options_t *opts, char *err, size_t errcap)
{
    const char *path = opts->db_path ? opts->db_path : ":memory:";
    int rc = sqlite3_open_v2(
        path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errcap, "cannot open database %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        return MCP_EINVAL;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_limit(st->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(st->db, SQLITE_LIMIT_SQL_LENGTH, DB_MAX_SQL_BYTES);
    sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, DB_MAX_VALUE_BYTES);
    sqlite3_busy_timeout(st->db, 100);

    /* A file that already has tables is used as it is; anything else gets the seed. */
    int has_tables = 0;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' LIMIT 1", -1,
                           &stmt, NULL) == SQLITE_OK)
        has_tables = sqlite3_step(stmt) == SQLITE_ROW;
    else {
        snprintf(err, errcap, "cannot read database %s: %s", path, sqlite3_errmsg(st->db));
        sqlite3_finalize(stmt);
        return MCP_EINVAL;
    }
    sqlite3_finalize(stmt);
    if (!has_tables || opts->seed_sql) {
        char *seed = NULL;
        if (opts->seed_sql && !(seed = db_read_file(opts->seed_sql, err, errcap)))
            return MCP_EINVAL;
        char *msg = NULL;
        rc = sqlite3_exec(st->db, seed ? seed : mock_database_seed_database_seed_sql, NULL, NULL,
                          &msg);
        mcp_free(seed);
        if (rc != SQLITE_OK) {
            snprintf(err, errcap, "seed SQL (%s) failed: %s",
                     opts->seed_sql ? opts->seed_sql : "embedded database-seed.sql",
                     msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            return MCP_EINVAL;
        }
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    /* Table-valued PRAGMA functions declare themselves on first use, which the authorizer
     * would see as a schema write: declare them now, before it is installed. */
    static const char *const warm[] = {"table_info", "table_xinfo", "table_list",      "index_list",
                                       "index_info", "index_xinfo", "foreign_key_list"};
    for (size_t i = 0; i < sizeof warm / sizeof warm[0]; i++) {
        char *sql = sqlite3_mprintf("SELECT * FROM pragma_%s('sqlite_schema') LIMIT 0", warm[i]);
        if (sql)
            sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        sqlite3_free(sql);
    }
    if (!st->writable && sqlite3_exec(st->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != 0) {
        snprintf(err, errcap, "cannot make the database read-only: %s", sqlite3_errmsg(st->db));
        return MCP_EINVAL;
    }
    sqlite3_set_authorizer(st->db, db_authorize, st);
    sqlite3_progress_handler(st->db, DB_PROGRESS_OPS, db_progress, st);
    return 0;
}

static int db_setup(mcp_server_t *server, const mock_options_t *opts, void **state, char *err,
                    size_t errcap)
{
    db_state_t *st = mcp_calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errcap, "out of memory");
        return MCP_ENOMEM;
    }
    st->server = server;
    st->writable = opts->writable;
    st->max_rows = opts->max_rows ? opts->max_rows : DB_DEFAULT_MAX_ROWS;
    st->timeout_ms = DB_DEFAULT_TIMEOUT_MS;
    const char *env = getenv("MCP_MOCK_DB_TIMEOUT_MS");
    if (env && *env) {
        char *end = NULL;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end != '\0' || v == 0 || v > 3600000)
            return db_fail(st, MCP_EINVAL, err, errcap,
                           "MCP_MOCK_DB_TIMEOUT_MS must be 1..3600000 (milliseconds), not '%s'",
                           env);
        st->timeout_ms = v;
    }
    int rc = db_open(st, opts, err, errcap);
    if (rc != 0) {
        db_teardown(st);
        return rc;
    }

    cJSON *surface = cJSON_ParseWithLength(mock_database_tools_database_json,
                                           mock_database_tools_database_json_len);
    const cJSON *tool;
    size_t registered = 0;
    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(surface, "tools"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(tool, "name");
        mcp_tool_fn fn = NULL;
        for (size_t i = 0; cJSON_IsString(name) && i < sizeof db_tools / sizeof db_tools[0]; i++)
            if (strcmp(db_tools[i].name, name->valuestring) == 0)
                fn = db_tools[i].fn;
        if (!fn) {
            cJSON_Delete(surface);
            return db_fail(st, MCP_EINVAL, err, errcap, "tool surface: unknown tool %s",
                           cJSON_IsString(name) ? name->valuestring : "?");
        }
        if ((rc = mcp_server_add_tool_json(server, tool, fn, st)) != 0) {
            cJSON_Delete(surface);
            return db_fail(st, rc, err, errcap, "cannot register tool %s", name->valuestring);
        }
        registered++;
    }
    cJSON_Delete(surface);
    if (registered != sizeof db_tools / sizeof db_tools[0])
        return db_fail(st, MCP_EINVAL, err, errcap, "tool surface: %s", "tools missing");

    mcp_resource_def_t memo = {.uri = DB_URI_MEMO,
                               .name = "Business Insights Memo",
                               .description = "A living document of discovered business insights",
                               .mime_type = "text/plain"};
    mcp_resource_def_t meta = {
        .uri = DB_URI_METADATA,
        .name = "product_metadata",
        .title = "Database metadata for entity resolution",
        .description = "What the tables and columns mean, product aliases and codenames "
                       "(\"abracadabra\" is product 123), date phrases such as \"this month\" "
                       "as SQL ranges, and example questions with their SQL",
        .mime_type = "application/json",
        .size = (long long)mock_database_meta_product_metadata_json_len,
        .size_known = 1};
    mcp_template_def_t tpl = {.uri_template = DB_URI_TEMPLATE,
                              .name = "table-schema",
                              .title = "Table schema",
                              .description = "Columns of any table or view of the database",
                              .mime_type = "application/json"};
    mcp_prompt_arg_t topic = {.name = "topic",
                              .description = "Topic to seed the database with initial data",
                              .required = 1};
    mcp_prompt_def_t demo = {.name = "mcp-demo",
                             .description = "A prompt to explore the shop database with the "
                                            "SQLite tools and record insights in the memo",
                             .args = &topic,
                             .nargs = 1};
    if ((rc = mcp_server_add_resource(server, &memo, db_memo_read, st)) != 0 ||
        (rc = mcp_server_add_resource(server, &meta, db_metadata_read, st)) != 0 ||
        (rc = mcp_server_add_template(server, &tpl, db_schema_read, st)) != 0 ||
        (rc = mcp_server_set_completion(server, "ref/resource", DB_URI_TEMPLATE, "table",
                                        db_complete_table, st)) != 0 ||
        (rc = mcp_server_add_prompt(server, &demo, db_prompt_demo, st)) != 0 ||
        (rc = mcp_server_set_completion(server, "ref/prompt", "mcp-demo", "topic",
                                        db_complete_topic, st)) != 0 ||
        (rc = db_sync_resources(st)) != 0)
        return db_fail(st, rc, err, errcap, "cannot register resources and prompts: %s",
                       mcp_strerror(rc));
    LOG_D("mock", "database ready", "tables=%zu writable=%d max_rows=%zu timeout_ms=%llu",
          st->table_count, st->writable, st->max_rows, (unsigned long long)st->timeout_ms);
    *state = st;
    return 0;
}

const mock_kind_t mock_kind_database = {
    .name = "database",
    .summary = "SQLite shop database (the SQLite reference server's tools, memo, schema resources)",
    .help =
        "mcp-mock database [--db FILE] [--seed-sql FILE] [--writable] [--max-rows N]\n"
        "  A SQLite database seeded with a small toy shop (customers, products with aliases,\n"
        "  orders, order_items, inventory and the view sales; \"abracadabra\" is product 123).\n"
        "  --db FILE        use this file (seeded when it has no tables); default: in memory\n"
        "  --seed-sql FILE  seed with this SQL instead of the embedded database-seed.sql\n"
        "  --writable       allow write_query, create_table and writes by execute_query\n"
        "                   (default: read-only, enforced by SQLite's authorizer)\n"
        "  --max-rows N     rows per result before it is cut (truncated: true); default 1000\n"
        "  Environment: MCP_MOCK_DB_TIMEOUT_MS stops a statement after this long (5000).\n"
        "  Tools: read_query, write_query, create_table, list_tables, describe_table,\n"
        "  append_insight, execute_query, query. Resources: memo://insights,\n"
        "  sqlite://main/metadata, sqlite://main/<table>/schema. Prompt: mcp-demo(topic).\n",
    .server_name = "sqlite",
    .setup = db_setup,
    .teardown = db_teardown,
};
