/* gates: k6-style thresholds on the run's metrics (HARNESS-BRIEF 2.2, 2.4).
 *
 * An expression is `AGGREGATION OP VALUE[UNIT]`, spaces optional:
 *   aggregations   p(N) (N in 0..100, e.g. p(99.9)), avg, min, max, med (= p(50)), stddev:
 *                  latencies, compared in time units; count (samples), errors (failed
 *                  samples), error_rate (errors / count, 0..1), rate (samples per second)
 *   operators      <  <=  >  >=  ==  ===  !=
 *   units          ns, us, µs, ms, s for latencies (none: ms, as in k6); none for the others
 * Examples: "p(99)<2ms", "avg<=500us", "max<1s", "count>=100", "errors==0", "error_rate<0.01".
 * Percentiles use HdrHistogram's Java rule (hdr_value_at_percentile), as the .hgrm shows.
 *
 * A latency gate on a metric with no samples fails ("no samples"), and so does any gate on a
 * metric that does not exist (usually a typo in the gate or a step that never ran): a gate can
 * only pass on evidence.
 *
 * Ownership: plain values; gate_expr_t holds a copy of the text. */
#ifndef HARNESS_GATES_H
#define HARNESS_GATES_H

#include "metrics.h"

#include <stddef.h>

typedef enum {
    GATE_P = 0,
    GATE_AVG,
    GATE_MIN,
    GATE_MAX,
    GATE_MED,
    GATE_STDDEV,
    GATE_COUNT,
    GATE_ERRORS,
    GATE_ERROR_RATE,
    GATE_RATE,
} gate_agg_t;

typedef enum { GATE_LT = 0, GATE_LE, GATE_GT, GATE_GE, GATE_EQ, GATE_NE } gate_op_t;

#define GATE_TEXT_MAX 96

typedef struct gate_expr_s {
    gate_agg_t agg;
    double percentile; /* GATE_P */
    gate_op_t op;
    double threshold; /* ns for latency aggregations, else the plain number */
    int is_time;      /* the aggregation is a latency */
    char text[GATE_TEXT_MAX];
} gate_expr_t;

/* Parse text. 0, or MCP_EINVAL with a reason in err (e.g. "unknown aggregation \"p99\": use
 * p(99)"). */
int gate_parse(const char *text, gate_expr_t *out, char *err, size_t errcap);

/* Evaluate against mt (NULL: the metric does not exist). Returns 1 (pass) or 0 (fail);
 * *observed gets the observed value (ns for latencies; NAN when there was nothing to observe)
 * and msg (when not NULL) a one-line explanation ("observed 3.42ms" / "no samples"). */
int gate_eval(const gate_expr_t *g, const metric_t *mt, double *observed, char *msg, size_t msgcap);

/* Render a value of g's aggregation with a unit ("3.42ms", "120", "0.5%"). */
void gate_format_value(const gate_expr_t *g, double v, char *out, size_t cap);

/* Format nanoseconds with a readable unit ("850ns", "12.3us", "4.56ms", "1.20s"). */
void gate_format_ns(double ns, char *out, size_t cap);

#endif
