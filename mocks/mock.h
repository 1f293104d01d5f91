/* mock: the contract between `mcp-mock` (mocks/main.c) and each mock kind.
 *
 * main.c parses the command line into mock_options_t, creates the mcp_server_t, lets the kind
 * register its tools, resources, templates and prompts (kind->setup), attaches fault injection
 * (faults.h, through the server's interceptor and the transports' hooks), starts the transport
 * and prints one readiness line. A kind never touches transports, signals or stdout: it only
 * fills the server and answers calls, so every kind works on every transport.
 *
 * Fixture data (tool surfaces, the GitHub world, the SQL seed) is compiled into the binary
 * (cmake/embed.cmake) and can be overridden from files with --fixtures / --seed-sql. */
#ifndef MOCK_MOCK_H
#define MOCK_MOCK_H

#include "mcp_server.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define MOCK_MAX_ROOTS 16

typedef struct mock_options_s {
    uv_loop_t *loop;
    const char *kind;
    uint64_t seed;                     /* --seed N (default 1): faults and any kind randomness */
    const char *roots[MOCK_MAX_ROOTS]; /* filesystem: --root DIR (repeatable) */
    size_t root_count;
    const char *db_path;    /* database: --db FILE (default: in memory) */
    const char *seed_sql;   /* database: --seed-sql FILE (default: the embedded seed) */
    const char *fixtures;   /* github: --fixtures FILE (default: the embedded github.json) */
    int writable;           /* database/filesystem/github: --writable allows writes */
    size_t page_size;       /* --page-size N for list pagination (0: framework default) */
    size_t max_rows;        /* database: --max-rows N (default 1000) */
    const char *llm_script; /* llm: --script FILE (planner rules; default built in) */
    /* Set by main.c on Streamable HTTP (NULL elsewhere): end the SSE stream that carries `call`
     * without answering it, so the client resumes with Last-Event-ID (SSE polling, SEP-1699;
     * the everything kind's test_reconnection). 0 or a negative code. */
    int (*end_call_stream)(void *transport_ud, mcp_call_t *call);
    void *transport_ud;
} mock_options_t;

typedef struct mock_kind_s {
    const char *name;        /* "database", "github", "filesystem", "everything", "llm" */
    const char *summary;     /* one line for `mcp-mock --help` */
    const char *help;        /* kind options and what the kind serves: `mcp-mock KIND --help` */
    const char *server_name; /* serverInfo.name */
    /* Register everything on `server`. On failure return a negative code and write a one-line
     * reason into err; *state is then not used. */
    int (*setup)(mcp_server_t *server, const mock_options_t *opts, void **state, char *err,
                 size_t errcap);
    /* Release what setup created (may be NULL). Runs after the server stopped serving. */
    void (*teardown)(void *state);
} mock_kind_t;

/* The kinds, one per file mocks/kind_<name>.c. */
extern const mock_kind_t mock_kind_database;
extern const mock_kind_t mock_kind_github;
extern const mock_kind_t mock_kind_filesystem;
extern const mock_kind_t mock_kind_everything;

#endif
