/* vars: the variables of a scenario run and `${...}` substitution.
 *
 * A variable has a name of [A-Za-z_][A-Za-z0-9_.-]* and any JSON value. Names with dots are
 * plain names too: the supervisor publishes each process's attributes as `NAME.url`,
 * `NAME.base`, `NAME.host`, `NAME.port` and `NAME.pid`; captures and scenario `vars` use
 * whatever names they like. `env.NAME` reads the process environment (never stored).
 *
 * Substitution, in every string of a step when it runs:
 *   ${name}            the value (error when unset)
 *   ${name:-default}   default when unset or an empty string (the default is literal text)
 *   $${                a literal "${"
 * A string that is exactly one reference keeps the value's JSON type ("${n}" with n = 5 gives
 * the number 5, "${tool}" an object); inside longer text, strings are inserted as they are and
 * other values as compact JSON. Nothing else in a string changes (so "$.result" stays as is).
 *
 * Ownership: the store owns copies of everything set; lookups return borrowed values valid
 * until the variable is set again or the store is freed. Expansion results are new values owned
 * by the caller. */
#ifndef HARNESS_VARS_H
#define HARNESS_VARS_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct vars_s vars_t;

/* 0 or MCP_ENOMEM. */
int vars_new(vars_t **out);
void vars_free(vars_t *v);

/* 1 when name is a valid variable name. */
int vars_name_valid(const char *name);
/* Set name to a copy of value. 0, MCP_EINVAL (bad name) or MCP_ENOMEM. */
int vars_set(vars_t *v, const char *name, const cJSON *value);
int vars_set_string(vars_t *v, const char *name, const char *value);
int vars_set_number(vars_t *v, const char *name, double value);
/* Remove a variable (no-op when unset). */
void vars_unset(vars_t *v, const char *name);
/* The value or NULL (env.NAME gives NULL here: use vars_lookup_text). Borrowed. */
const cJSON *vars_get(const vars_t *v, const char *name);
/* All variables as one object (borrowed), for reports. */
const cJSON *vars_all(const vars_t *v);

/* Expand one string. 0 with *out a new value (a string, or the referenced value's type when
 * the string is a single reference). MCP_ENOTFOUND (unset variable without default) or
 * MCP_EPARSE (unterminated or malformed ${...}) with a reason in err; MCP_ENOMEM. */
int vars_expand_string(const vars_t *v, const char *in, cJSON **out, char *err, size_t errcap);
/* Same, but the result must be text: a non-string result is printed as compact JSON.
 * *out is mcp_free'd by the caller. */
int vars_expand_text(const vars_t *v, const char *in, char **out, char *err, size_t errcap);
/* A deep copy of in with every string value expanded (object keys are not). Errors as
 * vars_expand_string; the reason names the member path ("headers.Authorization: ..."). */
int vars_expand_json(const vars_t *v, const cJSON *in, cJSON **out, char *err, size_t errcap);

/* Names referenced by ${...} in in (recursively for JSON), for checks such as "does this step
 * need process X". cb is called once per reference (duplicates possible); a non-zero return
 * stops the walk and is returned. */
typedef int (*vars_ref_fn)(const char *name, size_t len, void *ud);
int vars_refs_json(const cJSON *in, vars_ref_fn cb, void *ud);

#endif
