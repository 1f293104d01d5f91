/* load: the harness's HTTP load generator (scenario `load` phases), open-loop and closed-loop.
 *
 * Open loop (LOAD_MODEL_OPEN, like wrk2 -R and k6 arrival-rate executors): a schedule of
 * intended send times is computed from the phases (constant rate, or a linear ramp from
 * rate_start to rate_end over the phase) independently of how the server answers. One timer
 * with catch-up drives it: on every tick every request whose intended time has passed is
 * dispatched. A request goes out on a free keep-alive connection; when none is free it waits in a
 * backlog and is counted as *late* (its latency is still measured from the intended time). When
 * in-flight plus backlog reach `max_outstanding` further requests are *dropped* (counted, never
 * sent). When the schedule ends, arrivals still in the backlog are sent as connections free up
 * (the run ends when they are answered); only an abort drops them. The *corrected* histogram
 * records (response complete - intended send time); the *uncorrected* one (response complete -
 * actual send, i.e. the moment the request was handed to a connection, a new connection's
 * connect included), so a server stall shows in the first and hardly in the second (coordinated
 * omission, HARNESS-BRIEF 2.1). The scheduler is one uv timer (millisecond resolution) that
 * emits every arrival due on each tick (catch-up), so rates well above 1000/s go out in
 * per-millisecond bursts, as with wrk2.
 *
 * Closed loop (LOAD_MODEL_CLOSED, like wrk / k6 constant-vus): `concurrency` loops per phase,
 * each owning one connection, send a request, wait for the answer, optionally think, repeat (a
 * loop whose connect failed waits 10 ms before the next attempt). The uncorrected histogram
 * records (complete - send); the corrected one records the same value
 * with HdrHistogram's expected-interval back-fill (hdr_record_corrected_value) when
 * `expected_interval_us` is set, and is identical to the uncorrected one otherwise.
 *
 * Transport: a lean HTTP/1.1 client on libuv TCP with libhttp-parser for responses
 * (Content-Length, chunked, close-delimited). Request bytes are serialized once per template at
 * start. One request at a time per connection (no pipelining); keep-alive; a connection closed
 * by the server (or after an error) is reconnected on its next request. An SSE response
 * (text/event-stream) counts as complete at the end of its body or as soon as an event carrying a
 * JSON-RPC response ("result" or "error") has arrived; in the latter case the connection is
 * closed and reconnected, since the stream's end is unknown.
 *
 * What is recorded: every complete HTTP response (whatever its status) goes into the histograms
 * of its template and the overall ones; transport failures (connect, timeout, reset, protocol)
 * are only counted. Values above the histogram's highest trackable value are clamped to it.
 * Requests whose intended send time (open) or send time (closed) falls in a warm-up phase are
 * neither recorded nor counted in the totals (they appear in the phase results only).
 * Mix choice: each request picks a template by weight with a xoshiro256** stream seeded from
 * `seed` (splitmix64), so a seed gives the same template sequence on every run.
 *
 * Ownership: load_run_start copies everything it needs from the spec (strings, templates,
 * phases), so the spec may be released as soon as it returns. The run owns its connections,
 * timers and result; the result (histograms included) is valid until load_run_free, or is handed
 * over with load_run_take_result (then freed with load_result_free). Everything runs on the loop
 * thread; nothing here is thread-safe. Process state: load_run_start sets SIGPIPE to SIG_IGN when
 * it still has its default action (a write to a connection the server closed would otherwise
 * kill the process); a handler the program installed is left alone. Handles: the `done` callback
 * runs once, from a libuv close callback after every handle of the run is closed, so load_run_free
 * may be called inside it. */
#ifndef MCP_HARNESS_LOAD_H
#define MCP_HARNESS_LOAD_H

#include "hdr_histogram.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef enum { LOAD_MODEL_OPEN = 0, LOAD_MODEL_CLOSED } load_model_t;

/* Limits checked by load_spec_validate. */
#define LOAD_MAX_TEMPLATES   64
#define LOAD_MAX_PHASES      64
#define LOAD_MAX_CONNECTIONS 4096
#define LOAD_MAX_HEADERS     32

typedef struct load_header_s {
    const char *name;  /* token; not Host, Content-Length, Transfer-Encoding or Connection */
    const char *value; /* no CR, LF */
} load_header_t;

/* One request of the mix. */
typedef struct load_template_s {
    const char *name;   /* tag for the per-template results; NULL -> "t0", "t1", ... */
    const char *method; /* NULL -> "POST" when body is set, "GET" otherwise */
    const char *path;   /* origin-form target ("/mcp?x=1"); NULL -> spec path */
    const load_header_t *headers;
    size_t n_headers;
    const char *body; /* NULL -> no body; Content-Length is added whenever a body is set */
    size_t body_len;  /* 0 with body set -> strlen(body) */
    uint32_t weight;  /* relative weight; 0 -> 1 */
    /* Success needs this substring in the (de-chunked) body; NULL -> spec expect_body. */
    const char *expect_body;
} load_template_t;

typedef struct load_phase_s {
    const char *name;     /* for reports; NULL -> "p0", "p1", ... */
    uint64_t duration_ms; /* > 0 */
    bool warmup;          /* excluded from histograms and totals */
    /* open loop: requests per second at the phase start and end (linear in between); a
     * negative rate_end means constant rate_start. rate_start and rate_end >= 0, not both 0. */
    double rate_start;
    double rate_end;
    /* closed loop: concurrent loops (>= 1) and the pause between a response and the next
     * request of the same loop (a libuv timer: rounded up to whole milliseconds). */
    uint32_t concurrency;
    uint64_t think_time_us;
} load_phase_t;

typedef struct load_spec_s {
    const char *host;        /* IPv4/IPv6 literal or "localhost" (-> 127.0.0.1) */
    uint16_t port;           /* > 0 */
    const char *path;        /* default target for templates without one; NULL -> "/" */
    const char *host_header; /* NULL -> "host:port" */
    load_model_t model;
    /* open loop: keep-alive connections (default 16); closed loop: ignored, the pool has
     * max(concurrency over the phases) connections. */
    uint32_t connections;
    const load_phase_t *phases; /* 1..LOAD_MAX_PHASES, run in order */
    size_t n_phases;
    /* The mix; when n_templates is 0 one template "GET path" is used. */
    const load_template_t *templates;
    size_t n_templates;
    uint64_t timeout_ms;           /* per request, from the actual send (incl. connect, not the
                                 wait in the backlog); default 10000 */
    uint32_t max_outstanding;      /* open loop: in flight + backlog cap; default 4 * connections
                                      (at least connections) */
    int ok_status_class;           /* success = status / 100 == this; 0 -> 2 (2xx) */
    const char *expect_body;       /* default success substring; NULL -> none */
    size_t max_body_bytes;         /* bytes kept per response for the substring check; default 1 MiB
                                      (a longer body is a body mismatch only if the substring is
                                      not within the kept bytes) */
    uint64_t seed;                 /* mix seed */
    uint64_t expected_interval_us; /* closed loop back-fill interval; 0 -> none */
    /* histogram layout (ns): 0 -> 1, 60 s, 3 significant figures */
    int64_t hist_lowest_ns;
    int64_t hist_highest_ns;
    int hist_sigfigs;
} load_spec_t;

/* Failure classes. */
typedef enum {
    LOAD_ERR_CONNECT = 0, /* connect failed (refused, unreachable) */
    LOAD_ERR_TIMEOUT,     /* no complete response within timeout_ms */
    LOAD_ERR_RESET,       /* connection reset / closed / write failed before the response */
    LOAD_ERR_PROTO,       /* malformed HTTP response */
    LOAD_ERR_STATUS,      /* complete response with a status outside ok_status_class */
    LOAD_ERR_BODY,        /* right status but expect_body not found */
    LOAD_ERR_COUNT_
} load_err_class_t;

/* "connect", "timeout", "reset", "proto", "status", "body". */
const char *load_err_class_name(load_err_class_t c);

typedef struct load_counters_s {
    uint64_t scheduled; /* open: intended sends (= sent + dropped); closed: = sent */
    uint64_t sent;      /* requests written (or attempted: connect failures count) */
    uint64_t completed; /* complete HTTP responses (ok + status + body failures) */
    uint64_t ok;
    uint64_t failed;                  /* sum of errors[] */
    uint64_t errors[LOAD_ERR_COUNT_]; /* by class */
    uint64_t late;                    /* open: waited for a free connection */
    uint64_t dropped;                 /* open: never sent (max_outstanding reached, or abort) */
    uint64_t max_lag_ns;              /* open: largest (actual send - intended time) */
    uint64_t bytes_sent, bytes_received;
} load_counters_t;

typedef struct load_template_result_s {
    char *name;
    hdr_histogram_t *corrected;   /* ns, from intended send time (open) / back-filled (closed) */
    hdr_histogram_t *uncorrected; /* ns, from the actual send */
    load_counters_t counters;     /* scheduled/late/dropped/max_lag per template too */
} load_template_result_t;

typedef struct load_phase_result_s {
    char *name;
    bool warmup;
    uint64_t duration_ns; /* actual, from phase start to the next phase (or the end of sending) */
    load_counters_t counters; /* by intended (open) / actual (closed) send time in this phase */
    double achieved_rate;     /* completed / duration */
} load_phase_result_t;

typedef struct load_result_s {
    hdr_histogram_t *corrected; /* overall, measured (non-warm-up) requests */
    hdr_histogram_t *uncorrected;
    load_counters_t total; /* measured requests only */
    size_t n_templates;
    load_template_result_t *templates; /* in spec order */
    size_t n_phases;
    load_phase_result_t *phases;
    uint64_t measured_ns; /* summed duration of the non-warm-up phases */
    double achieved_rate; /* total.completed / measured seconds */
    uint64_t connects;    /* TCP connections opened (all phases) */
    bool aborted;         /* load_run_abort was called */
    int abort_reason;     /* as given to load_run_abort */
    int status;           /* 0, or the first internal error (MCP_ENOMEM...) that ended the run */
} load_result_t;

/* Progress, once per second of run time (and not after abort). Interval histograms cover the
 * responses recorded since the previous report (measured requests only) and are valid only
 * during the callback. */
typedef struct load_progress_s {
    uint64_t elapsed_ns; /* since the run started */
    size_t phase;        /* index of the current phase */
    bool warmup;
    /* in the last interval (warm-up included): */
    uint64_t interval_ns;
    uint64_t sent, completed, errors, late, dropped;
    double rate;        /* completed / interval */
    double target_rate; /* open: scheduled rate now; closed: 0 */
    uint32_t in_flight, backlog;
    const load_counters_t *total; /* cumulative, measured requests */
    const hdr_histogram_t *interval_corrected;
    const hdr_histogram_t *interval_uncorrected;
    /* per template, n_templates entries each */
    const hdr_histogram_t *const *interval_template_corrected;
    const hdr_histogram_t *const *interval_template_uncorrected;
    size_t n_templates;
} load_progress_t;

typedef struct load_run_s load_run_t;

typedef void (*load_progress_fn)(load_run_t *run, const load_progress_t *progress, void *user);
/* The run is over and every handle is closed; result is owned by the run. */
typedef void (*load_done_fn)(load_run_t *run, const load_result_t *result, void *user);

/* Check a spec without running it. 0, or MCP_EINVAL with a one-line reason in err (when err is
 * not NULL) naming the field ("phases[1].rate_start: must be >= 0"). */
int load_spec_validate(const load_spec_t *spec, char *err, size_t err_cap);

/* Start a run on loop. progress may be NULL; done must not be NULL. On success returns 0, sets
 * *out (owned by the caller: load_run_free after done ran) and done will run exactly once. On
 * failure returns MCP_EINVAL (reason in err, see load_spec_validate) or MCP_ENOMEM, *out is NULL
 * and no callback runs. */
int load_run_start(uv_loop_t *loop, const load_spec_t *spec, load_progress_fn progress,
                   load_done_fn done, void *user, load_run_t **out, char *err, size_t err_cap);

/* Stop early (e.g. a gate with abortOnFail): no further sends; requests in flight are abandoned
 * (not counted as failures); unsent backlog counts as dropped; done runs later from the loop
 * with result->aborted set. reason is stored in result->abort_reason. Safe from any callback of
 * the run, including progress; no-op after the first call or once the run finished. */
void load_run_abort(load_run_t *run, int reason);

/* The result so far (final once done ran). Owned by the run. */
const load_result_t *load_run_result(const load_run_t *run);

/* Hand the result over to the caller (after done ran; NULL before or when already taken). Free it
 * with load_result_free. */
load_result_t *load_run_take_result(load_run_t *run);
void load_result_free(load_result_t *result);

/* Release the run (after done ran, possibly inside done). NULL is a no-op. Calling it before done
 * ran is a programming error (MCP_ESTATE is logged and nothing is freed). */
void load_run_free(load_run_t *run);

/* Find a template result by name; NULL when absent. */
const load_template_result_t *load_result_template(const load_result_t *result, const char *name);

#endif
