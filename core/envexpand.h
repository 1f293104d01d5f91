/* envexpand: `${VAR}` and `${VAR:-default}` expansion for configuration values.
 *
 * Forms: `${VAR}` (error when VAR is unset), `${VAR:-default}` (default when VAR is unset or
 * empty), `${VAR-default}` (default only when unset), `$$` (a literal `$`). A `$` not followed by
 * `{` or `$` is kept as is. Defaults are taken literally (no nested expansion). Variable names
 * are [A-Za-z_][A-Za-z0-9_]*. */
#ifndef MCP_ENVEXPAND_H
#define MCP_ENVEXPAND_H

#include <stddef.h>

/* Returns the value of `name` or NULL when unset. The default looks in the process environment. */
typedef const char *(*envx_lookup_fn)(const char *name, void *userdata);

/* Expand `in`. On success *out is a new string (mcp_free). On failure returns MCP_ENOTFOUND
 * (unset variable without default) or MCP_EPARSE (unterminated or bad `${...}`) or MCP_ENOMEM,
 * and writes a one-line explanation naming the variable or column into errbuf (if not NULL).
 * lookup may be NULL for getenv. */
int envx_expand(const char *in, char **out, envx_lookup_fn lookup, void *userdata, char *errbuf,
                size_t errcap);

#endif
