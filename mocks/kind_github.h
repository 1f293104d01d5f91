/* kind_github: what the `github` mock kind offers besides its mock_kind_t (mock.h).
 *
 * The kind serves a fixed fixture GitHub (fixtures/github.json, or --fixtures FILE) through
 * github-mcp-server's classic tools (fixtures/tools/github.json). Results are one text block of
 * compact JSON shaped like GitHub's REST objects; failures are isError results worded like
 * github-mcp-server's, e.g. "failed to get issue: GET https://api.github.com/repos/o/r/issues/9:
 * 404 Not Found []". Writes (create_issue, update_issue, add_issue_comment, create_branch,
 * create_or_update_file, push_files, create_pull_request) change the in-memory copy only with
 * --writable; without it they answer 403 "Resource not accessible by personal access token".
 *
 * The fault layer (faults.h / main.c) can make a tool call fail as if GitHub's primary rate
 * limit were exhausted with mock_github_rate_limit_result(): answer the call with the result it
 * builds (mcp_call_reply) instead of dispatching it. */
#ifndef MOCK_KIND_GITHUB_H
#define MOCK_KIND_GITHUB_H

#include <cjson/cJSON.h>

/* A tools/call result {"content":[{"type":"text","text":...}],"isError":true} carrying
 * github-mcp-server's wording of GitHub's rate-limit answer (HTTP 403, "API rate limit exceeded
 * for user ID N. [rate reset in 59m59s]"): the user is the authenticated user of the fixture
 * last set up (the embedded fixture's before any setup). `tool` names the tool that failed (it
 * picks the "failed to ..." prefix; NULL or unknown gives a generic one); reset_seconds is the
 * time until the limit resets (< 0 words it as "was reset ... ago"). Returns a new object owned
 * by the caller, or NULL when out of memory. Loop thread only. */
cJSON *mock_github_rate_limit_result(const char *tool, long reset_seconds);

#endif
