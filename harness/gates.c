#include "gates.h"

#include "errors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static const struct {
    const char *name;
    gate_agg_t agg;
    int is_time;
} aggs[] = {
    {"avg", GATE_AVG, 1},       {"min", GATE_MIN, 1},
    {"max", GATE_MAX, 1},       {"med", GATE_MED, 1},
    {"stddev", GATE_STDDEV, 1}, {"count", GATE_COUNT, 0},
    {"errors", GATE_ERRORS, 0}, {"error_rate", GATE_ERROR_RATE, 0},
    {"rate", GATE_RATE, 0},
};

int gate_parse(const char *text, gate_expr_t *out, char *err, size_t errcap)
{
    char dummy[1];
    if (!err) {
        err = dummy;
        errcap = sizeof(dummy);
    }
    memset(out, 0, sizeof(*out));
    if (!text || strlen(text) >= GATE_TEXT_MAX) {
        snprintf(err, errcap, "a threshold is a short text such as \"p(99)<2ms\"");
        return MCP_EINVAL;
    }
    snprintf(out->text, sizeof(out->text), "%s", text);
    const char *s = skip_ws(text);
    if (strncmp(s, "p(", 2) == 0) {
        char *end;
        double pct = strtod(s + 2, &end);
        if (end == s + 2 || *end != ')' || !(pct >= 0 && pct <= 100)) {
            snprintf(err, errcap, "\"%s\": p(N) needs N between 0 and 100", text);
            return MCP_EINVAL;
        }
        out->agg = GATE_P;
        out->percentile = pct;
        out->is_time = 1;
        s = end + 1;
    } else {
        size_t n = 0;
        while ((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_' || (s[n] >= '0' && s[n] <= '9'))
            n++;
        size_t i;
        for (i = 0; i < sizeof(aggs) / sizeof(aggs[0]); i++)
            if (strlen(aggs[i].name) == n && strncmp(aggs[i].name, s, n) == 0)
                break;
        if (i == sizeof(aggs) / sizeof(aggs[0])) {
            if (n > 1 && s[0] == 'p' && s[1] >= '0' && s[1] <= '9')
                snprintf(err, errcap, "\"%s\": unknown aggregation \"%.*s\": use p(%.*s)", text,
                         (int)n, s, (int)(n - 1), s + 1);
            else
                snprintf(err, errcap,
                         "\"%s\": unknown aggregation \"%.*s\" (known: p(N), avg, min, max, med, "
                         "stddev, count, errors, error_rate, rate)",
                         text, (int)n, s);
            return MCP_EINVAL;
        }
        out->agg = aggs[i].agg;
        out->is_time = aggs[i].is_time;
        s += n;
    }
    s = skip_ws(s);
    if (strncmp(s, "===", 3) == 0) {
        out->op = GATE_EQ;
        s += 3;
    } else if (strncmp(s, "==", 2) == 0) {
        out->op = GATE_EQ;
        s += 2;
    } else if (strncmp(s, "!=", 2) == 0) {
        out->op = GATE_NE;
        s += 2;
    } else if (strncmp(s, "<=", 2) == 0) {
        out->op = GATE_LE;
        s += 2;
    } else if (strncmp(s, ">=", 2) == 0) {
        out->op = GATE_GE;
        s += 2;
    } else if (*s == '<') {
        out->op = GATE_LT;
        s++;
    } else if (*s == '>') {
        out->op = GATE_GT;
        s++;
    } else {
        snprintf(err, errcap,
                 "\"%s\": expected an operator (< <= > >= == !=) after the aggregation", text);
        return MCP_EINVAL;
    }
    s = skip_ws(s);
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v)) {
        snprintf(err, errcap, "\"%s\": expected a number after the operator", text);
        return MCP_EINVAL;
    }
    s = end;
    double scale = 1;
    if (out->is_time) {
        scale = 1e6; /* k6: a bare number is milliseconds */
        if (strncmp(s, "ns", 2) == 0) {
            scale = 1;
            s += 2;
        } else if (strncmp(s, "us", 2) == 0) {
            scale = 1e3;
            s += 2;
        } else if (strncmp(s, "\xc2\xb5s", 3) == 0) {
            scale = 1e3;
            s += 3;
        } else if (strncmp(s, "ms", 2) == 0) {
            s += 2;
        } else if (*s == 's') {
            scale = 1e9;
            s++;
        }
    }
    s = skip_ws(s);
    if (*s) {
        if (out->is_time)
            snprintf(err, errcap, "\"%s\": unexpected \"%s\" (units: ns, us, µs, ms, s)", text, s);
        else
            snprintf(err, errcap, "\"%s\": unexpected \"%s\" (this aggregation takes no unit)",
                     text, s);
        return MCP_EINVAL;
    }
    out->threshold = v * scale;
    return 0;
}

void gate_format_ns(double ns, char *out, size_t cap)
{
    if (isnan(ns))
        snprintf(out, cap, "n/a");
    else if (ns < 1e3)
        snprintf(out, cap, "%.0fns", ns);
    else if (ns < 1e6)
        snprintf(out, cap, "%.3gus", ns / 1e3);
    else if (ns < 1e9)
        snprintf(out, cap, "%.3gms", ns / 1e6);
    else
        snprintf(out, cap, "%.3gs", ns / 1e9);
}

void gate_format_value(const gate_expr_t *g, double v, char *out, size_t cap)
{
    if (isnan(v))
        snprintf(out, cap, "n/a");
    else if (g->is_time)
        gate_format_ns(v, out, cap);
    else if (g->agg == GATE_COUNT || g->agg == GATE_ERRORS)
        snprintf(out, cap, "%.0f", v);
    else if (g->agg == GATE_RATE)
        snprintf(out, cap, "%.4g/s", v);
    else
        snprintf(out, cap, "%.4g", v);
}

static int compare(gate_op_t op, double a, double b)
{
    switch (op) {
    case GATE_LT: return a < b;
    case GATE_LE: return a <= b;
    case GATE_GT: return a > b;
    case GATE_GE: return a >= b;
    case GATE_EQ: return a == b;
    case GATE_NE: return a != b;
    }
    return 0;
}

int gate_eval(const gate_expr_t *g, const metric_t *mt, double *observed, char *msg, size_t msgcap)
{
    char dummy[1];
    if (!msg) {
        msg = dummy;
        msgcap = sizeof(dummy);
    }
    *observed = NAN;
    if (!mt) {
        snprintf(msg, msgcap, "no such metric (no step or load phase records into it)");
        return 0;
    }
    double v;
    if (g->is_time) {
        if (!mt->hist || hdr_total_count(mt->hist) == 0) {
            snprintf(msg, msgcap, "no samples");
            return 0;
        }
        switch (g->agg) {
        case GATE_P: v = (double)hdr_value_at_percentile(mt->hist, g->percentile); break;
        case GATE_MED: v = (double)hdr_value_at_percentile(mt->hist, 50.0); break;
        case GATE_AVG: v = hdr_mean(mt->hist); break;
        case GATE_MIN: v = (double)hdr_min(mt->hist); break;
        case GATE_MAX: v = (double)hdr_max(mt->hist); break;
        case GATE_STDDEV: v = hdr_stddev(mt->hist); break;
        default: v = NAN; break;
        }
    } else {
        switch (g->agg) {
        case GATE_COUNT: v = (double)mt->count; break;
        case GATE_ERRORS: v = (double)mt->errors; break;
        case GATE_ERROR_RATE:
            if (!mt->count) {
                snprintf(msg, msgcap, "no samples");
                return 0;
            }
            v = (double)mt->errors / (double)mt->count;
            break;
        case GATE_RATE:
            if (!mt->count) {
                snprintf(msg, msgcap, "no samples");
                return 0;
            }
            v = metric_rate(mt);
            break;
        default: v = NAN; break;
        }
    }
    *observed = v;
    char obs[48];
    gate_format_value(g, v, obs, sizeof(obs));
    snprintf(msg, msgcap, "observed %s", obs);
    return compare(g->op, v, g->threshold);
}
