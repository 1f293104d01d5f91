/* match: the JSON path subset and the matchers of scenario expectations.
 *
 * Paths: `$` followed by any number of `.name`, `['name']` / `["name"]`, `[N]` (N < 0 counts
 * from the end), `[*]` or `.*` (every element of an array / every member value of an object).
 * A path without a wildcard selects at most one value; a path with one selects a node list,
 * which the matchers see as a JSON array of the selected values (possibly empty), the way
 * JSONPath tools return results. So `"$.tools[*].name": {"contains": "echo"}` asks whether
 * some tool is named echo, and `{"length": 3}` counts the tools.
 *
 * Matchers: a JSON value that is not an object means "equals this value" (deep equality; 1 and
 * 1.0 are equal). An object is a matcher whose keys are operators, all of which must hold:
 *   equals V        deep equality
 *   contains V      string: substring; array: some element equals V; object: V is an object
 *                   whose members all equal the actual's members of the same name
 *   regex "RE"      POSIX extended regular expression found in the string (numbers and booleans
 *                   are matched as their JSON text)
 *   exists B        the path selects something (for a wildcard path: at least one value)
 *   length L        length of a string (UTF-8 characters), array or object; L is a number or a
 *                   matcher applied to the length
 *   lt/le/gt/ge N   numeric comparisons ("<", "<=", ">", ">=" are accepted as aliases)
 *   ne V            not deep-equal
 *   type T          "string", "number", "integer", "boolean", "null", "array", "object"
 *   not M           M (a matcher or a literal) must not hold
 *   some M / every M  M holds for some / every element of an array
 * An absent value fails every operator except `exists: false` and `not`.
 *
 * Failure messages name the path and say what was expected and what was found, e.g.
 *   $.result.isError: expected false, got true
 *
 * Ownership: every function borrows its inputs; results are written to the caller's buf_t
 * (bounded) or to new cJSON values the caller frees with cJSON_Delete. */
#ifndef HARNESS_MATCH_H
#define HARNESS_MATCH_H

#include "buf.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* Check the syntax of a path. 0, or MCP_EINVAL with a one-line reason in err. */
int match_path_validate(const char *path, char *err, size_t errcap);

/* Evaluate path against root. 0 with *out set to a new value (a copy: cJSON_Delete it) or to
 * NULL when a wildcard-free path selects nothing; *multi (may be NULL) is set to 1 when the path
 * has a wildcard, in which case *out is always an array. MCP_EINVAL (bad path, reason in err)
 * or MCP_ENOMEM. */
int match_path_eval(const cJSON *root, const char *path, cJSON **out, int *multi, char *err,
                    size_t errcap);

/* Check the shape of a matcher (operators known, operand types right, regexes compile).
 * 0, or MCP_EINVAL with a reason in err naming the operator. */
int match_validate(const cJSON *matcher, char *err, size_t errcap);

/* Apply matcher to actual (NULL = absent; `multi` says it is a node list). Returns 1 when it
 * holds, 0 when not (the reason, prefixed by `label` and ": ", is appended to why when why is
 * not NULL), or a negative code for a malformed matcher (reason appended to why). */
int match_check(const cJSON *matcher, const cJSON *actual, int multi, const char *label,
                buf_t *why);

/* Apply an object of `"path": matcher` pairs to root. 1 when every pair holds, 0 otherwise
 * (each failure appended to why, separated by "; "), negative for a malformed path/matcher. */
int match_object(const cJSON *pairs, const cJSON *root, buf_t *why);

/* Append a short JSON rendering of v to out (long values are cut with "..."; NULL as
 * "nothing"). For messages. */
void match_describe(const cJSON *v, buf_t *out);

#endif
