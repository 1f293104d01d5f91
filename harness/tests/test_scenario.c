/* Unit tests for the scenario loader and validator: the model built from a valid file, defaults,
 * includes (top-level fragments and step lists), and error messages naming file and JSON path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "errors.h"
#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

static char tmpdir[256];

static void write_at(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0777);
    *slash = '/';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hn1-scenario-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *full_text =
    "{\n"
    "  \"name\": \"full\", \"description\": \"d\", \"seed\": 7, \"timeout\": \"2m\",\n"
    "  \"vars\": {\"text\": \"hi\", \"n\": 3},\n"
    "  \"processes\": {\n"
    "    \"m1\": {\"type\": \"mock\", \"kind\": \"everything\", \"transport\": \"http\",\n"
    "           \"faults\": [{\"type\": \"latency\", \"ms\": 5}], \"readyTimeout\": \"3s\"},\n"
    "    \"gw\": {\"type\": \"gateway\", \"config\": {\"servers\": []}},\n"
    "    \"c\": {\"type\": \"command\", \"command\": \"/bin/sh\", \"args\": [\"-c\", \"sleep "
    "9\"],\n"
    "          \"ready\": {\"stderr\": \"^up\"}, \"port\": true, \"start\": false}\n"
    "  },\n"
    "  \"defaults\": {\"timeout\": \"4s\", \"mcp\": {\"target\": \"m1\"},\n"
    "               \"http\": {\"headers\": {\"X-A\": \"a\", \"X-B\": \"b\"}}},\n"
    "  \"steps\": [\n"
    "    {\"http\": {\"url\": \"${m1.base}/health\", \"headers\": {\"X-B\": \"mine\"}},\n"
    "     \"expect\": {\"status\": 200, \"json\": {\"$.ok\": true}}},\n"
    "    {\"name\": \"call\", \"histogram\": \"calls\", \"timeout\": 1500,\n"
    "     \"mcp\": {\"method\": \"tools/call\", \"params\": {\"name\": \"echo\"}},\n"
    "     \"expect\": {\"isError\": false, \"result\": {\"$.content[0].text\": {\"contains\": "
    "\"hi\"}}},\n"
    "     \"capture\": {\"t\": \"$.result.content[0].text\"}},\n"
    "    {\"name\": \"other target\", \"mcp\": {\"url\": \"http://127.0.0.1:1/mcp\", "
    "\"method\": \"ping\"}},\n"
    "    {\"kill\": \"m1\"},\n"
    "    {\"wait\": {\"step\": {\"mcp\": {\"method\": \"ping\"}}, \"interval\": \"50ms\", "
    "\"timeout\": \"2s\"}},\n"
    "    {\"faults\": {\"process\": \"m1\", \"rules\": []}},\n"
    "    {\"sleep\": \"10ms\"},\n"
    "    {\"signal\": {\"process\": \"c\", \"signal\": \"HUP\"}},\n"
    "    {\"histogram\": \"load\", \"load\": {\"target\": \"gw\", \"phases\": [{\"duration\": "
    "\"1s\", \"rate\": 10}]}}\n"
    "  ],\n"
    "  \"gates\": {\"calls\": [\"p(99)<2ms\", {\"threshold\": \"errors==0\", \"abortOnFail\": "
    "true, "
    "\"delayAbortEval\": \"1s\"}]}\n"
    "}\n";

static void test_full(void **state)
{
    (void)state;
    write_at("full.json", full_text);
    char path[512], err[1024];
    snprintf(path, sizeof(path), "%s/full.json", tmpdir);
    scenario_t *s = NULL;
    int rc = scenario_load(path, &s, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    assert_string_equal(s->name, "full");
    assert_string_equal(s->description, "d");
    assert_int_equal(s->has_seed, 1);
    assert_int_equal(s->seed, 7);
    assert_int_equal(s->timeout_ns, 120ULL * 1000000000ULL);
    assert_int_equal(s->fail_fast, 1);
    assert_string_equal(s->dir, tmpdir);
    assert_int_equal(s->nprocs, 3);
    assert_string_equal(s->procs[0].name, "m1");
    assert_int_equal(s->procs[0].type, SCN_PROC_MOCK);
    assert_int_equal(s->procs[0].ready_timeout_ns, 3000000000ULL);
    assert_int_equal(s->procs[1].type, SCN_PROC_GATEWAY);
    assert_int_equal(s->procs[1].ready_timeout_ns, 10000000000ULL);
    assert_int_equal(s->procs[2].type, SCN_PROC_COMMAND);
    assert_int_equal(s->procs[2].autostart, 0);
    assert_ptr_equal(scenario_process(s, "gw"), &s->procs[1]);
    assert_null(scenario_process(s, "nope"));

    assert_int_equal(s->nsteps, 9);
    const scn_step_t *st = s->steps;
    assert_int_equal(st[0].kind, SCN_STEP_HTTP);
    assert_string_equal(st[0].name, "http #1");
    assert_int_equal(st[0].timeout_ns, 4000000000ULL); /* defaults.timeout */
    const cJSON *h = cJSON_GetObjectItem(cJSON_GetObjectItem(st[0].body, "headers"), "X-B");
    assert_string_equal(h->valuestring, "mine"); /* the step's own header wins */
    h = cJSON_GetObjectItem(cJSON_GetObjectItem(st[0].body, "headers"), "X-A");
    assert_string_equal(h->valuestring, "a");
    assert_non_null(strstr(st[0].where, "full.json: $.steps[0]"));
    assert_int_equal(st[1].kind, SCN_STEP_MCP);
    assert_string_equal(st[1].histogram, "calls");
    assert_int_equal(st[1].timeout_ns, 1500000000ULL);
    assert_string_equal(cJSON_GetObjectItem(st[1].body, "target")->valuestring, "m1");
    /* a step with its own url does not inherit the default target */
    assert_null(cJSON_GetObjectItem(st[2].body, "target"));
    assert_int_equal(st[3].kind, SCN_STEP_KILL);
    assert_string_equal(st[3].process, "m1");
    assert_int_equal(st[4].kind, SCN_STEP_WAIT);
    assert_non_null(st[4].inner);
    assert_int_equal(st[4].inner->kind, SCN_STEP_MCP);
    assert_string_equal(cJSON_GetObjectItem(st[4].inner->body, "target")->valuestring, "m1");
    assert_int_equal(st[4].wait_interval_ns, 50000000ULL);
    assert_int_equal(st[5].kind, SCN_STEP_FAULTS);
    assert_int_equal(st[6].kind, SCN_STEP_SLEEP);
    assert_int_equal(st[7].kind, SCN_STEP_SIGNAL);
    assert_string_equal(st[7].process, "c");
    assert_int_equal(st[8].kind, SCN_STEP_LOAD);
    assert_true(st[8].timeout_ns > 1000000000ULL);

    assert_int_equal(s->ngates, 2);
    assert_string_equal(s->gates[0].metric, "calls");
    assert_int_equal(s->gates[0].expr.agg, GATE_P);
    assert_int_equal(s->gates[0].abort_on_fail, 0);
    assert_int_equal(s->gates[1].expr.agg, GATE_ERRORS);
    assert_int_equal(s->gates[1].abort_on_fail, 1);
    assert_int_equal(s->gates[1].delay_abort_ns, 1000000000ULL);
    assert_non_null(strstr(s->gates[1].where, "full.json: $.gates.calls[1]"));

    /* the resolved document: defaults folded into the steps, nothing left to include */
    assert_null(cJSON_GetObjectItem(s->doc, "defaults"));
    assert_null(cJSON_GetObjectItem(s->doc, "include"));
    assert_non_null(cJSON_GetObjectItem(s->doc, "processes"));
    assert_int_equal(cJSON_GetObjectItem(s->vars, "n")->valueint, 3);
    scenario_free(s);
}

static void test_where(void **state)
{
    (void)state;
    write_at("w.json", "{\"steps\":[{\"sleep\":\"1ms\"},{\"name\":\"x\",\"sleep\":1}]}");
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/w.json", tmpdir);
    scenario_t *s = NULL;
    assert_int_equal(scenario_load(path, &s, err, sizeof(err)), 0);
    assert_string_equal(s->name, "w"); /* default: the file name */
    assert_int_equal(s->has_seed, 0);
    char want[600];
    snprintf(want, sizeof(want), "%s: $.steps[1]", path);
    assert_string_equal(s->steps[1].where, want);
    scenario_free(s);
}

/* Load text as "t.json" and expect an error containing want. */
static void expect_error(const char *text, const char *want)
{
    char err[1024] = "";
    scenario_t *s = NULL;
    int rc = scenario_load_text("t.json", text, strlen(text), &s, err, sizeof(err));
    if (rc == 0) {
        scenario_free(s);
        fail_msg("accepted: %s", text);
    }
    assert_null(s);
    if (!strstr(err, want))
        fail_msg("for %s\n got: %s\nwant: %s", text, err, want);
}

#define PROCS                                                                           \
    "\"processes\":{\"m\":{\"type\":\"mock\",\"kind\":\"everything\"},\"c\":{\"type\":" \
    "\"command\",\"command\":\"x\"}}"

static void test_errors(void **state)
{
    (void)state;
    expect_error("{\n  \"steps\": [\n    {\"sleep\": 1},,\n  ]\n}", "t.json:3:");
    expect_error("[1]", "t.json: $: a scenario is a JSON object");
    expect_error("{\"steps\":[]} x", "unexpected text after the JSON document");
    expect_error("{}", "t.json: $.steps: required");
    expect_error("{\"stepz\":[]}", "t.json: $.stepz: unknown key");
    expect_error("{\"steps\":{}}", "t.json: $.steps: must be an array");
    expect_error("{\"steps\":[1]}", "t.json: $.steps[0]: a step must be an object");
    expect_error("{\"steps\":[{\"name\":\"a\"}]}", "t.json: $.steps[0]: a step needs one of");
    expect_error("{\"steps\":[{\"sleep\":1,\"http\":{\"url\":\"x\"}}]}",
                 "has both \"http\" and \"sleep\"");
    expect_error("{\"steps\":[{\"sleep\":1,\"bogus\":2}]}",
                 "t.json: $.steps[0].bogus: unknown key");
    expect_error("{\"steps\":[{\"http\":{\"url\":\"x\",\"method\":1}}]}",
                 "t.json: $.steps[0].http.method: must be a string");
    expect_error("{\"steps\":[{\"http\":{}}]}", "t.json: $.steps[0].http.url: required");
    expect_error("{\"steps\":[{\"http\":{\"url\":\"x\",\"url\":\"y\"}}]}",
                 "t.json: $.steps[0].http.url: key appears more than once");
    expect_error("{\"steps\":[{\"sleep\":\"5 parsecs\"}]}", "t.json: $.steps[0].sleep: must be a "
                                                            "duration");
    expect_error("{\"steps\":[{\"sleep\":1,\"timeout\":\"1y\"}]}",
                 "t.json: $.steps[0].timeout: must be a duration");
    expect_error("{\"steps\":[{\"http\":{\"url\":\"x\"},\"expect\":{\"json\":{\"$.a\":{\"equalz\":"
                 "1}}}}]}",
                 "t.json: $.steps[0].expect.json['$.a']: unknown matcher \"equalz\"");
    expect_error("{\"steps\":[{\"http\":{\"url\":\"x\"},\"expect\":{\"json\":{\"a.b\":1}}}]}",
                 "t.json: $.steps[0].expect.json['a.b']: bad JSON path");
    expect_error("{\"steps\":[{\"http\":{\"url\":\"x\"},\"expect\":{\"body\":{\"regex\":\"(\"}}}]}",
                 "t.json: $.steps[0].expect.body: regex: /(/ does not compile");
    expect_error("{\"steps\":[{\"http\":{\"url\":\"x\"},\"expect\":{\"isError\":true}}]}",
                 "t.json: $.steps[0].expect.isError: unknown key");
    expect_error("{\"steps\":[{\"mcp\":{\"target\":\"nope\",\"method\":\"ping\"}}]}",
                 "t.json: $.steps[0].mcp.target: no process named \"nope\" is declared");
    expect_error("{" PROCS ",\"steps\":[{\"mcp\":{\"target\":\"m\",\"url\":\"u\",\"method\":"
                 "\"ping\"}}]}",
                 "t.json: $.steps[0].mcp: needs exactly one of \"target\"");
    expect_error("{" PROCS ",\"steps\":[{\"mcp\":{\"target\":\"m\"}}]}",
                 "t.json: $.steps[0].mcp.method: required");
    expect_error("{" PROCS ",\"steps\":[{\"mcp\":{\"target\":\"m\",\"method\":\"x\"},\"expect\":{"
                 "\"error\":3}}]}",
                 "t.json: $.steps[0].expect.error: must be true, false, or an object");
    expect_error("{\"steps\":[{\"kill\":\"ghost\"}]}",
                 "t.json: $.steps[0].kill: no process named \"ghost\"");
    expect_error("{" PROCS ",\"steps\":[{\"faults\":{\"process\":\"c\",\"rules\":[]}}]}",
                 "t.json: $.steps[0].faults.process: process \"c\" is a command, not a mock");
    expect_error("{" PROCS ",\"steps\":[{\"faults\":{\"process\":\"m\"}}]}",
                 "t.json: $.steps[0].faults.rules: required");
    expect_error("{" PROCS ",\"steps\":[{\"signal\":{\"process\":\"m\"}}]}",
                 "t.json: $.steps[0].signal.signal: required");
    expect_error("{\"processes\":{\"m\":{\"type\":\"robot\"}},\"steps\":[]}",
                 "t.json: $.processes.m.type: must be one of mock, gateway, command");
    expect_error("{\"processes\":{\"m\":{\"type\":\"mock\"}},\"steps\":[]}",
                 "t.json: $.processes.m.kind: required");
    expect_error("{\"processes\":{\"m\":{\"type\":\"mock\",\"kind\":\"x\",\"transport\":\"ws\"}},"
                 "\"steps\":[]}",
                 "t.json: $.processes.m.transport: must be one of stdio, http, sse");
    expect_error("{\"processes\":{\"a.b\":{\"type\":\"mock\",\"kind\":\"x\"}},\"steps\":[]}",
                 "t.json: $.processes['a.b']: a process name is");
    expect_error("{\"processes\":{\"g\":{\"type\":\"gateway\"}},\"steps\":[]}",
                 "t.json: $.processes.g.config: required");
    expect_error("{\"processes\":{\"c\":{\"type\":\"command\",\"command\":\"x\",\"ready\":{}}},"
                 "\"steps\":[]}",
                 "t.json: $.processes.c.ready: needs exactly one of");
    expect_error("{\"steps\":[],\"gates\":{\"calls\":[\"p(99)<2ms\",\"p99<2ms\"]}}",
                 "t.json: $.gates.calls[1]: \"p99<2ms\": unknown aggregation \"p99\": use p(99)");
    expect_error("{\"steps\":[],\"gates\":{\"calls\":\"p(99)<2ms\"}}",
                 "t.json: $.gates.calls: must be an array");
    expect_error("{\"steps\":[],\"gates\":{\"calls\":[{\"threshold\":\"count>1\",\"abortOnFail\":"
                 "1}]}}",
                 "t.json: $.gates.calls[0].abortOnFail: must be true or false");
    expect_error("{\"steps\":[{\"http\":{\"url\":\"x\"},\"capture\":{\"v\":\"nope\"}}]}",
                 "t.json: $.steps[0].capture.v: bad JSON path");
    expect_error("{\"steps\":[{\"sleep\":1,\"capture\":{\"v\":\"$.a\"}}]}",
                 "t.json: $.steps[0].capture: only http, mcp, chat and wait steps capture");
    expect_error("{\"steps\":[{\"load\":{\"url\":\"http://x\"}}]}",
                 "t.json: $.steps[0].load.phases: required");
    expect_error(
        "{\"steps\":[{\"load\":{\"url\":\"http://x\",\"phases\":[{\"duration\":\"1s\"}]}}]}",
        "t.json: $.steps[0].load.phases[0].rate: required");
    expect_error("{\"steps\":[{\"load\":{\"url\":\"http://x\",\"model\":\"closed\",\"phases\":[{"
                 "\"duration\":\"1s\"}]}}]}",
                 "t.json: $.steps[0].load.phases[0].concurrency: required");
    expect_error("{" PROCS ",\"steps\":[{\"load\":{\"url\":\"http://x\",\"phases\":[{"
                 "\"duration\":\"1s\",\"rate\":1}],\"schedule\":[{\"at\":\"1s\",\"explode\":"
                 "\"m\"}]}}]}",
                 "t.json: $.steps[0].load.schedule[0].explode: unknown key");
    expect_error("{" PROCS ",\"steps\":[{\"load\":{\"url\":\"http://x\",\"phases\":[{"
                 "\"duration\":\"1s\",\"rate\":1}],\"schedule\":[{\"at\":\"1s\",\"kill\":"
                 "\"m\",\"stop\":\"m\"}]}}]}",
                 "t.json: $.steps[0].load.schedule[0]: an entry has one action");
    expect_error("{" PROCS ",\"steps\":[{\"load\":{\"url\":\"http://x\",\"phases\":[{"
                 "\"duration\":\"1s\",\"rate\":1}],\"schedule\":[{\"kill\":\"m\"}]}}]}",
                 "t.json: $.steps[0].load.schedule[0].at: required");
    expect_error("{" PROCS ",\"steps\":[{\"load\":{\"url\":\"http://x\",\"phases\":[{"
                 "\"duration\":\"1s\",\"rate\":1}],\"schedule\":[{\"at\":1,\"kill\":"
                 "\"zz\"}]}}]}",
                 "t.json: $.steps[0].load.schedule[0].kill: no process named \"zz\"");
    expect_error("{" PROCS ",\"steps\":[{\"load\":{\"url\":\"http://x\",\"phases\":[{"
                 "\"duration\":\"1s\",\"rate\":1}],\"schedule\":[{\"at\":1,\"faults\":{"
                 "\"process\":\"c\",\"rules\":[]}}]}}]}",
                 "t.json: $.steps[0].load.schedule[0].faults.process: process \"c\" is a command");
    expect_error("{\"steps\":[{\"wait\":{\"step\":{\"http\":{\"url\":\"x\"}}},\"expect\":{}}]}",
                 "t.json: $.steps[0].expect: ");
    expect_error("{\"steps\":[{\"wait\":{\"step\":{\"sleep\":1}}}]}",
                 "t.json: $.steps[0].wait.step: a wait polls a request");
    expect_error("{\"steps\":[{\"wait\":{\"step\":{\"http\":{\"method\":2}}}}]}",
                 "t.json: $.steps[0].wait.step.http.method: must be a string");
    expect_error("{\"vars\":{\"1bad\":1},\"steps\":[]}", "t.json: $.vars['1bad']: a variable name");
    expect_error("{\"requires\":[\"gpu\"],\"steps\":[]}", "t.json: $.requires[0]: unknown "
                                                          "requirement");
    expect_error("{\"seed\":-1,\"steps\":[]}", "t.json: $.seed: must be a non-negative integer");
    expect_error("{\"defaults\":{\"mcp\":{\"method\":1}},\"steps\":[]}",
                 "t.json: $.defaults.mcp.method: must be a string");
    expect_error("{\"defaults\":{\"grpc\":{}},\"steps\":[]}", "t.json: $.defaults.grpc: unknown "
                                                              "key");
    expect_error("{\"steps\":[{\"include\":\"missing.json\"}]}",
                 "t.json: $.steps[0]: include: ./missing.json: cannot open");
}

static void test_includes(void **state)
{
    (void)state;
    write_at("common/procs.json",
             "{\"include\": \"more.json\", \"vars\": {\"a\": \"from-include\", \"b\": 1},\n"
             " \"processes\": {\"m\": {\"type\": \"mock\", \"kind\": \"everything\"}},\n"
             " \"defaults\": {\"mcp\": {\"target\": \"m\"}},\n"
             " \"gates\": {\"calls\": [\"count>0\"]}}");
    write_at("common/more.json", "{\"vars\": {\"c\": \"deep\", \"a\": \"deeper\"}}");
    write_at("common/steps.json", "[{\"name\": \"s1\", \"mcp\": {\"method\": \"ping\"}},\n"
                                  " {\"include\": \"steps2.json\"}]");
    write_at("common/steps2.json", "{\"steps\": [{\"name\": \"s2\", \"sleep\": \"1ms\"}]}");
    write_at("main.json",
             "{\"include\": [\"common/procs.json\"], \"vars\": {\"a\": \"mine\"},\n"
             " \"steps\": [{\"include\": \"common/steps.json\"}, {\"name\": \"s3\", \"mcp\": "
             "{\"method\": \"x\"}}]}");
    char path[512], err[1024];
    snprintf(path, sizeof(path), "%s/main.json", tmpdir);
    scenario_t *s = NULL;
    int rc = scenario_load(path, &s, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    assert_string_equal(cJSON_GetObjectItem(s->vars, "a")->valuestring, "mine");
    assert_string_equal(cJSON_GetObjectItem(s->vars, "c")->valuestring, "deep");
    assert_int_equal(cJSON_GetObjectItem(s->vars, "b")->valueint, 1);
    assert_int_equal(s->nprocs, 1);
    assert_int_equal(s->nsteps, 3);
    assert_string_equal(s->steps[0].name, "s1");
    assert_string_equal(cJSON_GetObjectItem(s->steps[0].body, "target")->valuestring, "m");
    assert_non_null(strstr(s->steps[0].where, "common/steps.json: $[0]"));
    assert_string_equal(s->steps[1].name, "s2");
    assert_non_null(strstr(s->steps[1].where, "common/steps2.json: $.steps[0]"));
    assert_string_equal(s->steps[2].name, "s3");
    assert_int_equal(s->ngates, 1);
    /* the resolved document holds the included steps themselves */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s->doc, "steps")), 3);
    scenario_free(s);

    /* an error inside an include names the included file */
    write_at("bad/procs.json", "{\"processes\": {\"m\": {\"type\": \"mock\"}}}");
    write_at("bad/main.json", "{\"include\": \"procs.json\", \"steps\": []}");
    snprintf(path, sizeof(path), "%s/bad/main.json", tmpdir);
    assert_int_equal(scenario_load(path, &s, err, sizeof(err)), MCP_EINVAL);
    assert_non_null(strstr(err, "bad/procs.json: $.processes.m.kind: required"));
    /* in an included step list too */
    write_at("bad/steps.json", "[{\"sleep\": 1}, {\"http\": {\"url\": 5}}]");
    write_at("bad/main2.json", "{\"steps\": [{\"include\": \"steps.json\"}]}");
    snprintf(path, sizeof(path), "%s/bad/main2.json", tmpdir);
    assert_int_equal(scenario_load(path, &s, err, sizeof(err)), MCP_EINVAL);
    assert_non_null(strstr(err, "bad/steps.json: $[1].http.url: must be a string"));
    /* cycles */
    write_at("cyc/a.json", "{\"include\": \"b.json\"}");
    write_at("cyc/b.json", "{\"include\": \"a.json\"}");
    write_at("cyc/main.json", "{\"include\": \"a.json\", \"steps\": []}");
    snprintf(path, sizeof(path), "%s/cyc/main.json", tmpdir);
    assert_int_equal(scenario_load(path, &s, err, sizeof(err)), MCP_EINVAL);
    assert_non_null(strstr(err, "include cycle"));
    /* a fragment may not carry steps */
    write_at("frag/f.json", "{\"steps\": []}");
    write_at("frag/main.json", "{\"include\": \"f.json\", \"steps\": []}");
    snprintf(path, sizeof(path), "%s/frag/main.json", tmpdir);
    assert_int_equal(scenario_load(path, &s, err, sizeof(err)), MCP_EINVAL);
    assert_non_null(strstr(err, "frag/f.json: $.steps: unknown key"));
    /* a missing scenario file */
    snprintf(path, sizeof(path), "%s/none.json", tmpdir);
    assert_int_equal(scenario_load(path, &s, err, sizeof(err)), UV_ENOENT);
    assert_non_null(strstr(err, "none.json: cannot open"));
}

static void test_durations(void **state)
{
    (void)state;
    uint64_t ns;
    assert_int_equal(scn_parse_duration_text("250us", &ns), 0);
    assert_int_equal(ns, 250000);
    assert_int_equal(scn_parse_duration_text("1.5s", &ns), 0);
    assert_int_equal(ns, 1500000000ULL);
    assert_int_equal(scn_parse_duration_text("2m", &ns), 0);
    assert_int_equal(ns, 120000000000ULL);
    assert_int_equal(scn_parse_duration_text("7", &ns), 0);
    assert_int_equal(ns, 7000000);
    assert_int_equal(scn_parse_duration_text("3\xc2\xb5s", &ns), 0);
    assert_int_equal(ns, 3000);
    assert_int_equal(scn_parse_duration_text("-1s", &ns), MCP_EINVAL);
    assert_int_equal(scn_parse_duration_text("1 s", &ns), MCP_EINVAL);
    assert_int_equal(scn_parse_duration_text("s", &ns), MCP_EINVAL);
    cJSON *n = cJSON_CreateNumber(12.5);
    assert_int_equal(scn_parse_duration(n, &ns), 0);
    assert_int_equal(ns, 12500000);
    cJSON_Delete(n);
}

static void test_oom(void **state)
{
    (void)state;
    /* every allocation failure is reported as such and leaks nothing (ASan/valgrind check) */
    write_at("oom.json", full_text);
    char path[512], err[1024];
    snprintf(path, sizeof(path), "%s/oom.json", tmpdir);
    int ok = 0;
    for (long n = 0; n < 5000 && !ok; n++) {
        scenario_t *s = NULL;
        mcp_alloc_fail_after(n);
        int rc = scenario_load(path, &s, err, sizeof(err));
        mcp_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            scenario_free(s);
        } else {
            assert_null(s);
        }
    }
    assert_true(ok);
}

int main(void)
{
    mcp_alloc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),      cmocka_unit_test(test_where),
        cmocka_unit_test(test_errors),    cmocka_unit_test(test_includes),
        cmocka_unit_test(test_durations), cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
