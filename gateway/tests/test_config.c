/* gateway config: the three formats, validation messages, env expansion, migration, diffing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "config.h"
#include "errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *test_env(const char *name, void *ud)
{
    (void)ud;
    if (!strcmp(name, "GH_TOKEN"))
        return "ghp_secret";
    if (!strcmp(name, "DB_PORT"))
        return "5432";
    return NULL;
}

static gw_config_t *parse_ok(const char *text)
{
    gw_config_t *cfg = NULL;
    gw_config_error_t err;
    int rc = gw_config_parse(text, strlen(text), "test.json", test_env, NULL, &cfg, &err);
    if (rc)
        fail_msg("parse failed (%d): %s", rc, err.message);
    return cfg;
}

static void expect_error(const char *text, const char *want)
{
    gw_config_t *cfg = NULL;
    gw_config_error_t err;
    assert_int_not_equal(
        gw_config_parse(text, strlen(text), "bad.conf", test_env, NULL, &cfg, &err), 0);
    assert_null(cfg);
    if (!strstr(err.message, want))
        fail_msg("error \"%s\" lacks \"%s\"", err.message, want);
}

static const char seed[] =
    "{\"version\":\"1.0\",\n"
    " \"gateway\":{\"separator\":\"__\",\"circuit_breaker\":{\"failure_threshold\":3},"
    "  \"security\":{\"api_keys\":[\"k-0123456789abcdef\"]}},\n"
    " \"servers\":[\n"
    "  {\"name\":\"database\",\"transport\":\"stdio\",\"priority\":1,\n"
    "   \"config\":{\"command\":\"mcp-mock\",\"args\":[\"database\",\"--port=${DB_PORT}\"],\n"
    "             \"env\":{\"LEVEL\":\"debug\",\"N\":3},\"timeout\":2.5,"
    "             \"tool_timeouts\":{\"read_query\":\"10\"}}},\n"
    "  {\"name\":\"github\",\"transport\":\"http\",\"enabled\":false,\"critical\":true,\n"
    "   \"config\":{\"endpoint\":\"http://127.0.0.1:9000/mcp\",\n"
    "             \"headers\":{\"Authorization\":\"Bearer ${GH_TOKEN}\"}},"
    "   \"deny_tools\":[\"create_issue\"]},\n"
    "  {\"name\":\"legacy\",\"transport\":\"sse\",\"prefix\":false,\n"
    "   \"config\":{\"url\":\"http://127.0.0.1:9001/sse\"}}]}\n";

static void test_seed_format(void **state)
{
    (void)state;
    gw_config_t *cfg = parse_ok(seed);
    assert_int_equal(cfg->format, GW_FORMAT_SEED);
    assert_int_equal(cfg->server_count, 3);
    gw_server_config_t *db = &cfg->servers[0];
    assert_string_equal(db->name, "database");
    assert_int_equal(db->transport, GW_TRANSPORT_STDIO);
    assert_int_equal(db->priority, 1);
    assert_int_equal(db->enabled, 1);
    assert_int_equal(db->prefix, 1);
    assert_string_equal(db->args.items[1], "--port=5432");
    assert_int_equal(db->env_count, 2);
    assert_string_equal(db->env[1].value, "3");
    assert_int_equal(db->timeout_ms, 2500);
    assert_string_equal(db->tool_timeouts[0].key, "read_query");
    gw_server_config_t *gh = &cfg->servers[1];
    assert_int_equal(gh->enabled, 0);
    assert_int_equal(gh->critical, 1);
    assert_int_equal(gh->priority, 100);
    assert_string_equal(gh->headers[0].value, "Bearer ghp_secret");
    assert_string_equal(gh->deny_tools.items[0], "create_issue");
    gw_server_config_t *legacy = &cfg->servers[2];
    assert_int_equal(legacy->transport, GW_TRANSPORT_SSE);
    assert_int_equal(legacy->prefix, 0);
    assert_string_equal(legacy->endpoint, "http://127.0.0.1:9001/sse");
    assert_int_equal(legacy->order, 2);
    gw_settings_t *s = &cfg->settings;
    assert_string_equal(s->separator, "__");
    assert_int_equal(s->breaker_threshold, 3);
    assert_int_equal(s->breaker_reset_ms, 60000);
    assert_string_equal(s->listen, "127.0.0.1:8001");
    assert_int_equal(s->mode, GW_MODE_AUTO);
    assert_int_equal(s->api_keys.count, 1);
    assert_ptr_equal(gw_config_server(cfg, "github"), gh);
    assert_null(gw_config_server(cfg, "nope"));
    gw_config_free(cfg);
}

static void test_mcpservers_format(void **state)
{
    (void)state;
    gw_config_t *cfg = parse_ok(
        "{\"mcpServers\":{\"fs\":{\"command\":\"npx\",\"args\":[\"-y\",\"server-filesystem\"]},"
        "\"remote\":{\"url\":\"http://127.0.0.1:7000/mcp\",\"headers\":{\"X-Key\":\"v\"}},"
        "\"old\":{\"url\":\"http://127.0.0.1:7001/sse\",\"disabled\":true},"
        "\"typed\":{\"type\":\"sse\",\"url\":\"http://127.0.0.1:7002/events\"}}}");
    assert_int_equal(cfg->format, GW_FORMAT_MCPSERVERS);
    assert_int_equal(cfg->server_count, 4);
    assert_int_equal(cfg->servers[0].transport, GW_TRANSPORT_STDIO);
    assert_int_equal(cfg->servers[1].transport, GW_TRANSPORT_HTTP);
    assert_int_equal(cfg->servers[2].transport, GW_TRANSPORT_SSE);
    assert_int_equal(cfg->servers[2].enabled, 0);
    assert_int_equal(cfg->servers[3].transport, GW_TRANSPORT_SSE);
    gw_config_free(cfg);
}

static const char yaml_cfg[] = "# legacy configuration\n"
                               "gateway:\n"
                               "  mode: multi\n"
                               "mcp_servers:\n"
                               "  database:\n"
                               "    command: mcp-mock\n"
                               "    args: [database, --writable]\n"
                               "    priority: 2\n"
                               "  github:\n"
                               "    transport: http\n"
                               "    url: http://127.0.0.1:9000/mcp\n"
                               "    headers:\n"
                               "      Authorization: Bearer ${GH_TOKEN}\n";

static void test_yaml_format(void **state)
{
    (void)state;
    gw_config_t *cfg = parse_ok(yaml_cfg);
    assert_int_equal(cfg->format, GW_FORMAT_YAML);
    assert_int_equal(cfg->settings.mode, GW_MODE_MULTI);
    assert_int_equal(cfg->server_count, 2);
    assert_string_equal(cfg->servers[0].args.items[1], "--writable");
    assert_int_equal(cfg->servers[0].priority, 2);
    assert_string_equal(cfg->servers[1].headers[0].value, "Bearer ghp_secret");
    gw_config_free(cfg);

    cfg = parse_ok("mcp_servers:\n  - name: a\n    command: x\n  - name: b\n    url: "
                   "http://127.0.0.1:1/sse\n");
    assert_int_equal(cfg->server_count, 2);
    assert_int_equal(cfg->servers[1].transport, GW_TRANSPORT_SSE);
    gw_config_free(cfg);
}

static void test_errors_name_file_and_path(void **state)
{
    (void)state;
    expect_error("{\"servers\":[{\"name\":\"a\",\"transport\":\"ftp\",\"config\":{}}]}",
                 "bad.conf: servers[0].transport: must be one of stdio, http, sse");
    expect_error("{\"servers\":[{\"name\":\"a\",\"transport\":\"stdio\",\"config\":{}}]}",
                 "servers[0].config.command: required for the stdio transport");
    expect_error("{\"servers\":[{\"name\":\"a\",\"transport\":\"http\",\"config\":{}}]}",
                 "servers[0].config.endpoint: required for the http transport");
    expect_error("{\"servers\":[{\"name\":\"a b\",\"transport\":\"stdio\",\"config\":"
                 "{\"command\":\"x\"}}]}",
                 "servers[0].name: \"a b\": use 1-64 letters");
    expect_error("{\"servers\":[{\"name\":\"a\",\"transport\":\"stdio\",\"colour\":1,"
                 "\"config\":{\"command\":\"x\"}}]}",
                 "servers[0].colour: unknown key");
    expect_error("{\"servers\":[{\"name\":\"a\",\"transport\":\"stdio\",\"config\":"
                 "{\"command\":\"x\",\"args\":[1]}}]}",
                 "servers[0].config.args[0]: must be a string");
    expect_error("{\"servers\":[{\"name\":\"a\",\"transport\":\"stdio\",\"config\":"
                 "{\"command\":\"${NOPE}\"}}]}",
                 "servers[0].config.command: environment variable NOPE is not set");
    expect_error("{\"servers\":[{\"name\":\"a\",\"transport\":\"stdio\",\"config\":"
                 "{\"command\":\"x\"}},{\"name\":\"a\",\"transport\":\"stdio\",\"config\":"
                 "{\"command\":\"y\"}}]}",
                 "servers[1]: duplicate server name \"a\"");
    expect_error("{\"servers\":[{\"name\":\"a\",\"transport\":\"http\",\"config\":"
                 "{\"endpoint\":\"ftp://x\"}}]}",
                 "must be an http:// or https:// URL");
    expect_error("{\"gateway\":{\"mode\":\"many\"},\"servers\":[]}",
                 "gateway.mode: must be auto, multi or single");
    expect_error("{\"gateway\":{\"circuit_breaker\":{\"failure_threshold\":0}},\"servers\":[]}",
                 "gateway.circuit_breaker.failure_threshold: must be between 1");
    expect_error("{\"gateway\":{\"security\":{\"api_keys\":[\"short\"]}},\"servers\":[]}",
                 "gateway.security.api_keys: key 0 is shorter than 16");
    expect_error("{\"version\":\"2.0\",\"servers\":[]}", "version: unsupported version");
    expect_error("{\"servers\":[]", "bad.conf:1: invalid JSON");
    expect_error("{\"nothing\":1}", "no servers");
    expect_error("{\"servers\":[],\"mcpServers\":{}}", "use only one of");
    expect_error("mcp_servers:\n  db:\n    command: x\n    colour: red\n",
                 "bad.conf:2: mcp_servers.db: unknown key \"colour\"");
    expect_error("mcp_servers:\n  db:\n    transport: ftp\n    command: x\n",
                 "bad.conf:2: mcp_servers.db.transport: must be one of");
    expect_error("mcp_servers:\n  db: [unclosed\n", "bad.conf:3: invalid YAML");
}

static void test_migrate_keeps_references(void **state)
{
    (void)state;
    char *out = NULL;
    gw_config_error_t err;
    assert_int_equal(gw_config_migrate(yaml_cfg, strlen(yaml_cfg), "old.yaml", &out, &err), 0);
    assert_non_null(strstr(out, "\"version\":\t\"1.0\""));
    assert_non_null(strstr(out, "Bearer ${GH_TOKEN}")); /* not expanded: no secret written */
    assert_null(strstr(out, "\x01"));
    /* the migrated text is itself a valid seed config with the same servers */
    gw_config_t *a = parse_ok(yaml_cfg);
    gw_config_t *b = parse_ok(out);
    assert_int_equal(b->format, GW_FORMAT_SEED);
    assert_int_equal(a->server_count, b->server_count);
    for (size_t i = 0; i < a->server_count; i++)
        assert_true(gw_server_config_same_connection(&a->servers[i], &b->servers[i]));
    assert_int_equal(b->settings.mode, GW_MODE_MULTI);
    gw_config_free(a);
    gw_config_free(b);
    mcp_free(out);

    assert_int_not_equal(gw_config_migrate("mcp_servers: 3\n", 15, "x.yaml", &out, &err), 0);
    assert_non_null(strstr(err.message, "mcp_servers"));
}

static void test_same_connection(void **state)
{
    (void)state;
    gw_config_t *a = parse_ok(seed);
    gw_config_t *b = parse_ok(seed);
    assert_true(gw_server_config_same_connection(&a->servers[0], &b->servers[0]));
    b->servers[0].priority = 9; /* applies without reconnecting */
    assert_true(gw_server_config_same_connection(&a->servers[0], &b->servers[0]));
    mcp_free(b->servers[0].args.items[0]);
    b->servers[0].args.items[0] = mcp_strdup("other");
    assert_false(gw_server_config_same_connection(&a->servers[0], &b->servers[0]));
    assert_false(gw_server_config_same_connection(&a->servers[0], &a->servers[1]));
    gw_config_free(a);
    gw_config_free(b);
}

static void test_load_and_find(void **state)
{
    (void)state;
    char path[] = "/tmp/gw-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, seed, sizeof seed - 1), (ssize_t)(sizeof seed - 1));
    close(fd);
    gw_config_t *cfg = NULL;
    gw_config_error_t err;
    assert_int_equal(gw_config_load(path, test_env, NULL, &cfg, &err), 0);
    assert_string_equal(cfg->path, path);
    gw_config_free(cfg);
    unlink(path);
    assert_int_equal(gw_config_load(path, test_env, NULL, &cfg, &err), MCP_ENOTFOUND);
    assert_non_null(strstr(err.message, path));

    setenv("MCP_CONFIG_PATH", "/some/where.json", 1);
    assert_string_equal(gw_config_find(NULL, NULL), "/some/where.json");
    unsetenv("MCP_CONFIG_PATH");

    assert_int_equal(gw_config_default(test_env, NULL, &cfg), 0);
    assert_int_equal(cfg->server_count, 0);
    assert_string_equal(cfg->settings.single_url, "http://localhost:8000/mcp");
    gw_config_free(cfg);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    for (long n = 0; n < 400; n++) {
        gw_config_t *cfg = NULL;
        gw_config_error_t err;
        mcp_alloc_fail_after(n);
        int rc = gw_config_parse(seed, sizeof seed - 1, "t", test_env, NULL, &cfg, &err);
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            gw_config_free(cfg);
            return;
        }
        assert_null(cfg);
    }
    fail_msg("parse never succeeded");
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_format),
        cmocka_unit_test(test_mcpservers_format),
        cmocka_unit_test(test_yaml_format),
        cmocka_unit_test(test_errors_name_file_and_path),
        cmocka_unit_test(test_migrate_keeps_references),
        cmocka_unit_test(test_same_connection),
        cmocka_unit_test(test_load_and_find),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
