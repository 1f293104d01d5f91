/* aggregator with fake upstream catalogs: namespacing and separators, bare-name routing by
 * priority then config order, conflicts (stats and per tool), prefix off and name clashes,
 * allow/deny filters, unavailable sources, client-safe LLM names (valid, sanitized, hashed,
 * both ways, deterministic), resources by URI and templates, prompts, capabilities, change
 * detection, and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aggregator.h"
#include "alloc.h"
#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* ---- fixtures ---- */

typedef struct {
    gw_server_config_t cfg;
    cJSON *tools, *resources, *templates, *prompts, *caps;
    char *allow[4], *deny[4];
} fake_t;

static void fake_init(fake_t *f, const char *name, int priority, size_t order, const char *tools,
                      const char *resources, const char *templates, const char *prompts)
{
    memset(f, 0, sizeof *f);
    f->cfg.name = (char *)name;
    f->cfg.enabled = 1;
    f->cfg.priority = priority;
    f->cfg.order = order;
    f->cfg.prefix = 1;
    f->tools = cJSON_Parse(tools ? tools : "[]");
    f->resources = cJSON_Parse(resources ? resources : "[]");
    f->templates = cJSON_Parse(templates ? templates : "[]");
    f->prompts = cJSON_Parse(prompts ? prompts : "[]");
    f->caps = cJSON_Parse("{\"tools\":{},\"resources\":{\"subscribe\":true}}");
    assert_non_null(f->tools);
    assert_non_null(f->resources);
    assert_non_null(f->templates);
    assert_non_null(f->prompts);
}

static void fake_free(fake_t *f)
{
    cJSON_Delete(f->tools);
    cJSON_Delete(f->resources);
    cJSON_Delete(f->templates);
    cJSON_Delete(f->prompts);
    cJSON_Delete(f->caps);
}

static gw_agg_source_t src_of(fake_t *f, int available)
{
    return (gw_agg_source_t){.cfg = &f->cfg,
                             .available = available,
                             .tools = f->tools,
                             .resources = f->resources,
                             .templates = f->templates,
                             .prompts = f->prompts,
                             .capabilities = f->caps,
                             .handle = f};
}

static int changes, last_kinds;

static void on_change(gw_aggregator_t *agg, unsigned kinds, void *ud)
{
    (void)agg;
    (void)ud;
    changes++;
    last_kinds = (int)kinds;
}

static gw_aggregator_t *new_agg(const char *sep)
{
    gw_agg_options_t o = {.separator = sep,
                          .cache_enabled = 1,
                          .cache_max_bytes = 1 << 20,
                          .cache_ttl_ms = 1000,
                          .on_change = on_change};
    gw_aggregator_t *agg;
    assert_int_equal(gw_agg_new(&o, &agg), 0);
    changes = 0;
    last_kinds = 0;
    return agg;
}

static const cJSON *find_by_name(const cJSON *arr, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, arr)
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), name) == 0)
            return t;
    }
    return NULL;
}

static void assert_names(const cJSON *arr, const char *const *want, size_t n)
{
    assert_int_equal(cJSON_GetArraySize(arr), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, (int)i), "name")),
            want[i]);
}

#define TOOL(n) "{\"name\":\"" n "\",\"inputSchema\":{\"type\":\"object\"}}"

/* ---- tests ---- */

static void merge_namespaces_and_bare_routing(void **state)
{
    (void)state;
    fake_t gh, db;
    /* db comes first in the file but has the higher priority number: github routes first. */
    fake_init(&db, "db", 20, 0, "[" TOOL("query") "," TOOL("search") "]", NULL, NULL, NULL);
    fake_init(&gh, "github", 10, 1,
              "[" TOOL("search") ",{\"name\":\"create_issue\",\"description\":\"d\","
                                 "\"inputSchema\":{\"type\":\"object\"},\"annotations\":{"
                                 "\"readOnlyHint\":false}}]",
              NULL, NULL, NULL);
    gw_agg_source_t s[] = {src_of(&db, 1), src_of(&gh, 1)};
    gw_aggregator_t *agg = new_agg(NULL);
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    assert_int_equal(changes, 1);
    assert_int_equal(last_kinds, GW_CAT_TOOLS | GW_CAT_RESOURCES | GW_CAT_PROMPTS);
    assert_int_equal(gw_agg_version(agg), 1);
    /* Listing: source order, then upstream order; names namespaced; the rest unchanged. */
    const char *want[] = {"db.query", "db.search", "github.search", "github.create_issue"};
    assert_names(gw_agg_tools(agg), want, 4);
    const cJSON *ci = find_by_name(gw_agg_tools(agg), "github.create_issue");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ci, "description")), "d");
    assert_non_null(cJSON_GetObjectItem(ci, "annotations"));

    gw_agg_route_t r;
    assert_int_equal(gw_agg_resolve_tool(agg, "db.search", &r), 0);
    assert_ptr_equal(r.handle, &db);
    assert_string_equal(r.original, "search");
    assert_string_equal(r.server, "db");
    assert_string_equal(r.exposed, "db.search");
    /* Bare: lowest priority number wins. */
    assert_int_equal(gw_agg_resolve_tool(agg, "search", &r), 0);
    assert_ptr_equal(r.handle, &gh);
    assert_string_equal(r.exposed, "github.search");
    assert_int_equal(gw_agg_resolve_tool(agg, "query", &r), 0);
    assert_ptr_equal(r.handle, &db);
    assert_int_equal(gw_agg_resolve_tool(agg, "nope", &r), MCP_ENOTFOUND);
    assert_int_equal(gw_agg_resolve_tool(agg, "github.query", &r), MCP_ENOTFOUND);

    /* Conflicts: in stats and on each tool of the detailed listing. */
    assert_int_equal(gw_agg_conflict_count(agg), 1);
    cJSON *st = gw_agg_stats_json(agg);
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conflicts"), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "kind")), "tool");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "name")), "search");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c0, "routedTo")), "github");
    cJSON *servers = cJSON_GetObjectItem(c0, "servers");
    assert_int_equal(cJSON_GetArraySize(servers), 2);
    assert_string_equal(cJSON_GetArrayItem(servers, 0)->valuestring, "github");
    assert_string_equal(cJSON_GetArrayItem(servers, 1)->valuestring, "db");
    assert_int_equal(cJSON_GetObjectItem(st, "tools")->valueint, 4);
    cJSON_Delete(st);
    cJSON *det = gw_agg_tools_detailed(agg);
    const cJSON *dbs = find_by_name(det, "db.search");
    const cJSON *ghs = find_by_name(det, "github.search");
    const cJSON *dbq = find_by_name(det, "db.query");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(dbs, "server")), "db");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(dbs, "originalName")), "search");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(dbs, "conflicts")), 2);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(dbs, "bareNameRoutesHere")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ghs, "bareNameRoutesHere")));
    assert_null(cJSON_GetObjectItem(dbq, "conflicts"));
    cJSON_Delete(det);

    /* Same input again: nothing changed, no callback. */
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    assert_int_equal(changes, 1);
    /* Ties in priority: config order decides. */
    gh.cfg.priority = 20;
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    assert_int_equal(gw_agg_resolve_tool(agg, "search", &r), 0);
    assert_ptr_equal(r.handle, &db);
    assert_int_equal(changes, 1); /* listings are the same; only routing moved */
    gh.cfg.order = 0;
    db.cfg.order = 1;
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    assert_int_equal(gw_agg_resolve_tool(agg, "search", &r), 0);
    assert_ptr_equal(r.handle, &gh);

    /* Unavailable: its tools leave the listing and bare names fall to the next server. */
    s[1].available = 0;
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    assert_int_equal(changes, 2);
    assert_int_equal(last_kinds, GW_CAT_TOOLS);
    const char *want2[] = {"db.query", "db.search"};
    assert_names(gw_agg_tools(agg), want2, 2);
    assert_int_equal(gw_agg_resolve_tool(agg, "search", &r), 0);
    assert_ptr_equal(r.handle, &db);
    assert_int_equal(gw_agg_resolve_tool(agg, "github.create_issue", &r), MCP_ENOTFOUND);
    assert_int_equal(gw_agg_conflict_count(agg), 0);
    /* And back. */
    s[1].available = 1;
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    assert_int_equal(changes, 3);
    assert_int_equal(cJSON_GetArraySize(gw_agg_tools(agg)), 4);
    gw_agg_free(agg);

    /* Another separator. */
    agg = new_agg("__");
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    assert_non_null(find_by_name(gw_agg_tools(agg), "db__query"));
    assert_int_equal(gw_agg_resolve_tool(agg, "github__search", &r), 0);
    assert_ptr_equal(r.handle, &gh);
    gw_agg_free(agg);
    gw_aggregator_t *bad;
    gw_agg_options_t o = {.separator = ""};
    assert_int_equal(gw_agg_new(&o, &bad), MCP_EINVAL);
    fake_free(&gh);
    fake_free(&db);
}

static void prefix_off_and_clashes(void **state)
{
    (void)state;
    fake_t fs, other, third;
    fake_init(&fs, "fs", 1, 0, "[" TOOL("read_file") "," TOOL("write_file") "]", NULL, NULL, NULL);
    fake_init(&other, "other", 5, 1, "[" TOOL("read_file") "]", NULL, NULL, NULL);
    fake_init(&third, "third", 9, 2, "[" TOOL("write_file") "]", NULL, NULL, NULL);
    fs.cfg.prefix = 0;
    other.cfg.prefix = 0;
    gw_agg_source_t s[] = {src_of(&fs, 1), src_of(&other, 1), src_of(&third, 1)};
    gw_aggregator_t *agg = new_agg(".");
    assert_int_equal(gw_agg_build(agg, s, 3), 0);
    /* fs routes first and keeps the bare names; other's clashing tool gets its namespaced name. */
    const char *want[] = {"read_file", "write_file", "other.read_file", "third.write_file"};
    assert_names(gw_agg_tools(agg), want, 4);
    gw_agg_route_t r;
    assert_int_equal(gw_agg_resolve_tool(agg, "read_file", &r), 0);
    assert_ptr_equal(r.handle, &fs);
    assert_int_equal(gw_agg_resolve_tool(agg, "other.read_file", &r), 0);
    assert_ptr_equal(r.handle, &other);
    /* A prefix-less server can still be addressed with its namespace. */
    assert_int_equal(gw_agg_resolve_tool(agg, "fs.write_file", &r), 0);
    assert_ptr_equal(r.handle, &fs);
    assert_string_equal(r.exposed, "write_file");
    assert_int_equal(gw_agg_conflict_count(agg), 2);
    /* Exchange priorities: other now owns the bare name. */
    other.cfg.priority = 0;
    assert_int_equal(gw_agg_build(agg, s, 3), 0);
    assert_int_equal(gw_agg_resolve_tool(agg, "read_file", &r), 0);
    assert_ptr_equal(r.handle, &other);
    assert_non_null(find_by_name(gw_agg_tools(agg), "fs.read_file"));
    gw_agg_free(agg);
    fake_free(&fs);
    fake_free(&other);
    fake_free(&third);
}

static void filters(void **state)
{
    (void)state;
    fake_t a;
    fake_init(
        &a, "srv", 1, 0,
        "[" TOOL("get_user") "," TOOL("get_secret") "," TOOL("delete_all") "," TOOL("get_user") "]",
        NULL, NULL, NULL);
    char *allow[] = {"get_*"};
    char *deny[] = {"get_secret"};
    a.cfg.allow_tools = (gw_strlist_t){allow, 1};
    a.cfg.deny_tools = (gw_strlist_t){deny, 1};
    assert_true(gw_agg_tool_allowed(&a.cfg, "get_user"));
    assert_false(gw_agg_tool_allowed(&a.cfg, "get_secret"));
    assert_false(gw_agg_tool_allowed(&a.cfg, "delete_all"));
    gw_agg_source_t s[] = {src_of(&a, 1)};
    gw_aggregator_t *agg = new_agg(NULL);
    assert_int_equal(gw_agg_build(agg, s, 1), 0);
    /* The duplicate get_user from one server is listed once. */
    const char *want[] = {"srv.get_user"};
    assert_names(gw_agg_tools(agg), want, 1);
    gw_agg_route_t r;
    assert_int_equal(gw_agg_resolve_tool(agg, "srv.get_secret", &r), MCP_EDENIED);
    assert_int_equal(gw_agg_resolve_tool(agg, "srv.delete_all", &r), MCP_EDENIED);
    assert_int_equal(gw_agg_resolve_tool(agg, "get_secret", &r), MCP_ENOTFOUND);
    assert_int_equal(gw_agg_resolve_tool(agg, "get_user", &r), 0);
    /* Deny only. */
    a.cfg.allow_tools = (gw_strlist_t){0};
    assert_int_equal(gw_agg_build(agg, s, 1), 0);
    const char *want2[] = {"srv.get_user", "srv.delete_all"};
    assert_names(gw_agg_tools(agg), want2, 2);
    gw_agg_free(agg);
    fake_free(&a);
}

static void llm_names(void **state)
{
    (void)state;
    /* x.a.b sanitizes to x_a_b, which y's prefix-less tool already is: x.a.b gets hashed.
     * z.q-1 sanitizes to z_q-1 (unique). A long name gets hashed and cut to 64. */
    char longname[200];
    memset(longname, 'L', 150);
    longname[150] = '\0';
    char tools_z[400];
    snprintf(tools_z, sizeof tools_z, "[" TOOL("q-1") ",{\"name\":\"%s\"}]", longname);
    fake_t x, y, z;
    fake_init(&x, "x", 1, 0, "[" TOOL("a.b") "," TOOL("ok") "]", NULL, NULL, NULL);
    fake_init(&y, "y", 2, 1, "[" TOOL("x_a_b") "]", NULL, NULL, NULL);
    fake_init(&z, "z", 3, 2, tools_z, NULL, NULL, NULL);
    y.cfg.prefix = 0;
    gw_agg_source_t s[] = {src_of(&x, 1), src_of(&y, 1), src_of(&z, 1)};
    gw_aggregator_t *agg = new_agg(NULL);
    assert_int_equal(gw_agg_build(agg, s, 3), 0);
    assert_null(gw_agg_llm_name(agg, "x.ok") ? NULL : "missing");
    assert_string_equal(gw_agg_llm_name(agg, "x.ok"), "x_ok");
    assert_string_equal(gw_agg_llm_name(agg, "x_a_b"), "x_a_b");
    const char *hashed = gw_agg_llm_name(agg, "x.a.b");
    assert_non_null(hashed);
    assert_true(gw_agg_llm_name_valid(hashed));
    assert_true(strncmp(hashed, "x_a_b_", 6) == 0);
    assert_int_equal(strlen(hashed), 6 + 8);
    assert_string_equal(gw_agg_llm_name(agg, "z.q-1"), "z_q-1");
    char exposed_long[256];
    snprintf(exposed_long, sizeof exposed_long, "z.%s", longname);
    const char *lg = gw_agg_llm_name(agg, exposed_long);
    assert_non_null(lg);
    assert_true(gw_agg_llm_name_valid(lg));
    assert_int_equal(strlen(lg), 64);
    /* Both ways, and calls by LLM name route. */
    assert_string_equal(gw_agg_tool_from_llm_name(agg, hashed), "x.a.b");
    assert_string_equal(gw_agg_tool_from_llm_name(agg, lg), exposed_long);
    gw_agg_route_t r;
    assert_int_equal(gw_agg_resolve_tool(agg, hashed, &r), 0);
    assert_ptr_equal(r.handle, &x);
    assert_string_equal(r.original, "a.b");
    assert_int_equal(gw_agg_resolve_tool(agg, "x_ok", &r), 0);
    assert_string_equal(r.original, "ok");
    /* Every LLM name valid and unique. */
    cJSON *llm = gw_agg_tools_for_llm(agg);
    assert_int_equal(cJSON_GetArraySize(llm), 5);
    const cJSON *t;
    cJSON_ArrayForEach(t, llm)
    {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(t, "name"));
        assert_true(gw_agg_llm_name_valid(n));
        int seen = 0;
        const cJSON *u;
        cJSON_ArrayForEach(u, llm) seen +=
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(u, "name")), n) == 0;
        assert_int_equal(seen, 1);
    }
    /* Deterministic: a new aggregator over the same catalog gives the same names. */
    gw_aggregator_t *agg2 = new_agg(NULL);
    assert_int_equal(gw_agg_build(agg2, s, 3), 0);
    cJSON *llm2 = gw_agg_tools_for_llm(agg2);
    assert_true(cJSON_Compare(llm, llm2, 1));
    cJSON_Delete(llm);
    cJSON_Delete(llm2);
    gw_agg_free(agg2);
    /* Without the clash, x.a.b gets the plain sanitized name. */
    s[1].available = 0;
    assert_int_equal(gw_agg_build(agg, s, 3), 0);
    assert_string_equal(gw_agg_llm_name(agg, "x.a.b"), "x_a_b");
    /* Validity rules. */
    assert_false(gw_agg_llm_name_valid(""));
    assert_false(gw_agg_llm_name_valid("a.b"));
    assert_false(gw_agg_llm_name_valid(longname));
    assert_true(gw_agg_llm_name_valid("A-z_09"));
    gw_agg_free(agg);
    fake_free(&x);
    fake_free(&y);
    fake_free(&z);
}

static void resources_templates_prompts(void **state)
{
    (void)state;
    fake_t a, b;
    fake_init(
        &a, "a", 5, 0, NULL,
        "[{\"uri\":\"file:///shared\",\"name\":\"s\"},{\"uri\":\"file:///a\",\"name\":\"a\"}]",
        "[{\"uriTemplate\":\"db://{table}/rows\",\"name\":\"rows\"}]",
        "[{\"name\":\"summarize\",\"arguments\":[{\"name\":\"text\"}]}]");
    fake_init(&b, "b", 1, 1, NULL, "[{\"uri\":\"file:///shared\",\"name\":\"s2\"}]",
              "[{\"uriTemplate\":\"file:///{+path}\",\"name\":\"files\"},"
              "{\"uriTemplate\":\"db://{table}/rows\",\"name\":\"rows-b\"}]",
              "[{\"name\":\"summarize\"},{\"name\":\"greet\"}]");
    gw_agg_source_t s[] = {src_of(&a, 1), src_of(&b, 1)};
    gw_aggregator_t *agg = new_agg(NULL);
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    /* One entry per URI (the owner's, by priority); URIs unchanged. */
    assert_int_equal(cJSON_GetArraySize(gw_agg_resources(agg)), 2);
    gw_agg_route_t r;
    assert_int_equal(gw_agg_resolve_resource(agg, "file:///shared", &r), 0);
    assert_ptr_equal(r.handle, &b);
    assert_int_equal(gw_agg_resolve_resource(agg, "file:///a", &r), 0);
    assert_ptr_equal(r.handle, &a);
    /* Not listed: templates in routing order (b first). */
    assert_int_equal(gw_agg_resolve_resource(agg, "file:///x/y.txt", &r), 0);
    assert_ptr_equal(r.handle, &b);
    assert_string_equal(r.exposed, "file:///{+path}");
    assert_string_equal(r.original, "file:///x/y.txt");
    assert_int_equal(gw_agg_resolve_resource(agg, "db://users/rows", &r), 0);
    assert_ptr_equal(r.handle, &b);
    assert_int_equal(gw_agg_resolve_resource(agg, "db://a/b/rows", &r), MCP_ENOTFOUND);
    assert_int_equal(gw_agg_resolve_resource(agg, "http://x", &r), MCP_ENOTFOUND);
    /* Identical templates are listed once. */
    assert_int_equal(cJSON_GetArraySize(gw_agg_templates(agg)), 2);
    cJSON *rd = gw_agg_resources_detailed(agg);
    assert_int_equal(cJSON_GetArraySize(rd), 2);
    const cJSON *item;
    cJSON_ArrayForEach(item, rd)
    {
        const char *uri = cJSON_GetStringValue(cJSON_GetObjectItem(item, "uri"));
        const char *server = cJSON_GetStringValue(cJSON_GetObjectItem(item, "server"));
        assert_string_equal(server, strcmp(uri, "file:///shared") == 0 ? "b" : "a");
        if (strcmp(uri, "file:///shared") == 0) /* the owner's object */
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(item, "name")), "s2");
    }
    cJSON_Delete(rd);
    /* Prompts are namespaced like tools, bare names by priority. */
    const char *want[] = {"a.summarize", "b.summarize", "b.greet"};
    assert_names(gw_agg_prompts(agg), want, 3);
    assert_int_equal(gw_agg_resolve_prompt(agg, "summarize", &r), 0);
    assert_ptr_equal(r.handle, &b);
    assert_int_equal(gw_agg_resolve_prompt(agg, "a.summarize", &r), 0);
    assert_ptr_equal(r.handle, &a);
    assert_string_equal(r.original, "summarize");
    assert_non_null(cJSON_GetObjectItem(r.def, "arguments"));
    /* Conflicts: the prompt and the resource. */
    assert_int_equal(gw_agg_conflict_count(agg), 2);
    /* Capabilities: the union, list kinds with listChanged. */
    cJSON *caps = gw_agg_capabilities(agg);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(caps, "tools"), "listChanged")));
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(caps, "resources"), "subscribe")));
    assert_null(cJSON_GetObjectItem(caps, "logging"));
    cJSON_Delete(caps);
    /* A resource change alone reports only resources. */
    changes = 0;
    cJSON_DeleteItemFromArray(a.resources, 1);
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    assert_int_equal(changes, 1);
    assert_int_equal(last_kinds, GW_CAT_RESOURCES);
    cJSON_DeleteItemFromArray(b.prompts, 1);
    assert_int_equal(gw_agg_build(agg, s, 2), 0);
    assert_int_equal(last_kinds, GW_CAT_PROMPTS);
    /* Without a registry there is nothing to call. */
    gw_agg_call_opts_t co = {.cb = (gw_upcall_fn)1};
    assert_int_equal(gw_agg_call_tool(agg, "x", NULL, &co, NULL), MCP_ESTATE);
    gw_agg_free(agg);
    fake_free(&a);
    fake_free(&b);
}

static void template_matching(void **state)
{
    (void)state;
    struct {
        const char *tpl, *uri;
        int match;
    } cases[] = {
        {"file:///{path}", "file:///a", 1},
        {"file:///{path}", "file:///a/b", 0},
        {"file:///{+path}", "file:///a/b", 1},
        {"file:///{+path}", "file:///", 0},
        {"repo://{owner}/{repo}/issues/{n}", "repo://me/x/issues/12", 1},
        {"repo://{owner}/{repo}/issues/{n}", "repo://me/x/pulls/12", 0},
        {"search://q{?term,page}", "search://q", 1},
        {"search://q{?term,page}", "search://q?term=a&page=2", 1},
        {"x://a{/seg}", "x://a/b", 1},
        {"x://a{/seg}", "x://a", 0},
        {"x://{a}.{b}", "x://one.two", 1},
        {"x://{broken", "x://anything", 0},
        {"exact://uri", "exact://uri", 1},
        {"exact://uri", "exact://uri2", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (gw_agg_template_match(cases[i].tpl, cases[i].uri) != cases[i].match)
            fail_msg("%s vs %s: want %d", cases[i].tpl, cases[i].uri, cases[i].match);
    assert_int_equal(gw_agg_template_match(NULL, "x"), 0);
}

static void allocation_failures(void **state)
{
    (void)state;
    fake_t a, b;
    fake_init(&a, "a", 1, 0, "[" TOOL("t.1") "," TOOL("t2") "]",
              "[{\"uri\":\"u://1\",\"name\":\"1\"}]",
              "[{\"uriTemplate\":\"u://{x}\",\"name\":\"t\"}]", "[{\"name\":\"p\"}]");
    fake_init(&b, "b", 2, 1, "[" TOOL("t2") "]", "[{\"uri\":\"u://1\",\"name\":\"1\"}]", NULL,
              "[{\"name\":\"p\"}]");
    gw_agg_source_t s[] = {src_of(&a, 1), src_of(&b, 1)};
    gw_aggregator_t *agg = new_agg(NULL);
    int ok = 0;
    for (long n = 0; n < 2000 && !ok; n++) {
        mcp_alloc_fail_after(n);
        int rc = gw_agg_build(agg, s, 2);
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
        } else {
            assert_int_equal(rc, MCP_ENOMEM);
            /* The previous (empty) catalog is still there. */
            assert_int_equal(cJSON_GetArraySize(gw_agg_tools(agg)), 0);
        }
    }
    assert_true(ok);
    assert_int_equal(cJSON_GetArraySize(gw_agg_tools(agg)), 3);
    /* Listings under failure give NULL, never a partial array. */
    for (long n = 0; n < 50; n++) {
        mcp_alloc_fail_after(n);
        cJSON *d = gw_agg_tools_detailed(agg);
        cJSON *l = gw_agg_tools_for_llm(agg);
        cJSON *st = gw_agg_stats_json(agg);
        mcp_alloc_fail_after(-1);
        if (d)
            assert_int_equal(cJSON_GetArraySize(d), 3);
        cJSON_Delete(d);
        cJSON_Delete(l);
        cJSON_Delete(st);
    }
    gw_agg_free(agg);
    fake_free(&a);
    fake_free(&b);
}

int main(void)
{
    mcp_alloc_init();
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(merge_namespaces_and_bare_routing),
        cmocka_unit_test(prefix_off_and_clashes),
        cmocka_unit_test(filters),
        cmocka_unit_test(llm_names),
        cmocka_unit_test(resources_templates_prompts),
        cmocka_unit_test(template_matching),
        cmocka_unit_test(allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
