/*
 * conformance/report.c - JUnit XML and the Markdown scoreboard (see
 * report.h).
 */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#define X (const xmlChar *)

void ocs_report_clean_text(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p && o + 1 < len) {
        unsigned c = *p;
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        int ok = n > 0;
        for (size_t k = 1; ok && k < n; k++)
            ok = (p[k] & 0xC0) == 0x80;
        if (ok && n == 2 && c < 0xC2)
            ok = 0;   /* overlong */
        if (!ok || (n == 1 && c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
            buf[o++] = '?';
            p++;
            continue;
        }
        if (o + n >= len)
            break;
        memcpy(buf + o, p, n);
        o += n;
        p += n;
    }
    buf[o] = '\0';
}

/* The text, cleaned, in a static-size local buffer of the caller. */
#define CLEAN(dst, src) ocs_report_clean_text((src), (dst), sizeof(dst))

static void utc_timestamp(char *buf, size_t len, int with_space)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, with_space ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%dT%H:%M:%S", &tm);
}

static void host_name(char *buf, size_t len)
{
    if (gethostname(buf, len) != 0 || !buf[0])
        snprintf(buf, len, "localhost");
    buf[len - 1] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == ' ' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F)
            *p = '-';
}

static const char *kind_name(ocs_target_kind k)
{
    switch (k) {
    case OCS_TARGET_REFERENCE: return "reference kernels through the backend interface";
    case OCS_TARGET_EXPANDED: return "function-body (_expanded) variant on the reference";
    case OCS_TARGET_BACKEND: return "backend";
    case OCS_TARGET_COMMAND: return "command (protocol v1)";
    }
    return "?";
}

static void add_prop(xmlNodePtr props, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_prop(xmlNodePtr props, const char *name, const char *fmt, ...)
{
    char raw[2048], value[2048], clean_name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    CLEAN(value, raw);
    CLEAN(clean_name, name);
    xmlNodePtr p = xmlNewChild(props, NULL, X "property", NULL);
    xmlNewProp(p, X "name", X clean_name);
    xmlNewProp(p, X "value", X value);
}

static void tolerance_text(const ocs_tolerance *tol, ocs_dtype t, char *buf, size_t len)
{
    snprintf(buf, len, "rtol=%g atol=%g", ocs_tolerance_rtol(tol, t), ocs_tolerance_atol(tol, t));
}

static const ocs_dtype listed_types[] = {OCS_DOUBLE, OCS_FLOAT, OCS_FLOAT16, OCS_BFLOAT16};

static void first_line(const char *s, char *buf, size_t len)
{
    char tmp[512];
    size_t n = strcspn(s, "\n");
    if (n >= sizeof tmp)
        n = sizeof tmp - 1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    ocs_report_clean_text(tmp, buf, len);
}

static const char *target_describe(const ocs_target *t, const ocs_result *row, size_t n_cases)
{
    for (size_t c = 0; c < n_cases; c++)
        if (row[c].describe[0])
            return row[c].describe;
    (void)t;
    return "";
}

ocs_status ocs_report_junit(const char *path, const ocs_report_info *info, const ocs_case *cases, size_t n_cases,
                            const ocs_target *targets, size_t n_targets, const ocs_result *results, ocs_err *err)
{
    char stamp[32], host[256];
    utc_timestamp(stamp, sizeof stamp, 0);
    host_name(host, sizeof host);
    xmlDocPtr doc = xmlNewDoc(X "1.0");
    if (!doc)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory building %s", path);
    xmlNodePtr root = xmlNewNode(NULL, X "testsuites");
    xmlDocSetRootElement(doc, root);

    for (size_t t = 0; t < n_targets; t++) {
        const ocs_target *tg = &targets[t];
        const ocs_result *row = &results[t * n_cases];
        size_t n[4] = {0};
        double time_sum = 0;
        for (size_t c = 0; c < n_cases; c++) {
            n[row[c].outcome]++;
            time_sum += row[c].time_s;
        }
        char buf[4096], clean[4096];
        xmlNodePtr suite = xmlNewChild(root, NULL, X "testsuite", NULL);
        CLEAN(clean, tg->name);
        xmlNewProp(suite, X "name", X clean);
        xmlNewProp(suite, X "package", X "ocs");
        snprintf(buf, sizeof buf, "%zu", t);
        xmlNewProp(suite, X "id", X buf);
        xmlNewProp(suite, X "timestamp", X stamp);
        xmlNewProp(suite, X "hostname", X host);
        snprintf(buf, sizeof buf, "%zu", n_cases);
        xmlNewProp(suite, X "tests", X buf);
        snprintf(buf, sizeof buf, "%zu", n[OCS_FAIL]);
        xmlNewProp(suite, X "failures", X buf);
        snprintf(buf, sizeof buf, "%zu", n[OCS_ERROR]);
        xmlNewProp(suite, X "errors", X buf);
        snprintf(buf, sizeof buf, "%zu", n[OCS_SKIPPED]);
        xmlNewProp(suite, X "skipped", X buf);
        snprintf(buf, sizeof buf, "%.3f", time_sum);
        xmlNewProp(suite, X "time", X buf);

        xmlNodePtr props = xmlNewChild(suite, NULL, X "properties", NULL);
        add_prop(props, "ocs.version", "%s", info->ocs_version ? info->ocs_version : "");
        add_prop(props, "backend", "%s", tg->name);
        add_prop(props, "backend.kind", "%s", kind_name(tg->kind));
        if (tg->kind == OCS_TARGET_BACKEND || tg->kind == OCS_TARGET_COMMAND)
            add_prop(props, "backend.source", "%s", tg->arg);
        const char *desc = target_describe(tg, row, n_cases);
        if (desc[0])
            add_prop(props, "backend.description", "%s", desc);
        add_prop(props, "backend.output_guards",
                 "%s", tg->guard_outputs ? "poisoned, canary-guarded outputs handed to the backend"
                                         : tg->kind == OCS_TARGET_BACKEND ? "as the backend allocates them"
                                                                          : "not applicable");
        add_prop(props, "seed", "%llu", (unsigned long long)info->seed);
        add_prop(props, "seed.derivation",
                 "case seed = splitmix64 step from (seed XOR FNV-1a-64(case name)); input i draws from "
                 "splitmix64 seeded with case seed XOR 0xD1B54A32D192ED03*(i+1)");
        if (info->command)
            add_prop(props, "command", "%s", info->command);
        if (info->shard)
            add_prop(props, "shard", "%s", info->shard);
        if (info->filter)
            add_prop(props, "filter", "%s", info->filter);
        if (info->tests_dir)
            add_prop(props, "tests", "%s", info->tests_dir);
        if (info->opt) {
            add_prop(props, "timeout_s", "%g", info->opt->timeout_s);
            for (size_t k = 0; k < sizeof listed_types / sizeof listed_types[0]; k++) {
                char name[64];
                ocs_tolerance tol;
                ocs_target_tolerance(tg, info->opt, info->tests_dir != NULL, &tol);
                snprintf(name, sizeof name, "tolerance.%s", ocs_dtype_name(listed_types[k]));
                tolerance_text(&tol, listed_types[k], buf, sizeof buf);
                add_prop(props, name, "%s", buf);
            }
        }
        for (size_t c = 0; c < n_cases; c++) {
            const ocs_case *cs = &cases[c];
            char name[256];
            if (cs->rtol >= 0 || cs->atol >= 0 || cs->max_ulp >= 0 || cs->max_nmse >= 0) {
                snprintf(name, sizeof name, "tolerance.%s", cs->name);
                add_prop(props, name, "rtol=%g atol=%g max_ulp=%g max_nmse=%g", cs->rtol, cs->atol, cs->max_ulp,
                         cs->max_nmse);
            }
            const char *why = ocs_case_xfail_for(cs, tg->name);
            if (why) {
                snprintf(name, sizeof name, "xfail.%s", cs->name);
                add_prop(props, name, "%s", why);
            }
        }

        size_t out_cap = 256 + n_cases * 400, out_len = 0;
        char *out = malloc(out_cap);
        if (out)
            out[0] = '\0';
        for (size_t c = 0; c < n_cases; c++) {
            const ocs_case *cs = &cases[c];
            const ocs_result *r = &row[c];
            xmlNodePtr tc = xmlNewChild(suite, NULL, X "testcase", NULL);
            CLEAN(clean, cs->name);
            xmlNewProp(tc, X "name", X clean);
            snprintf(buf, sizeof buf, "ocs.%s.%s", tg->name, cs->op);
            CLEAN(clean, buf);
            xmlNewProp(tc, X "classname", X clean);
            snprintf(buf, sizeof buf, "%.3f", r->time_s);
            xmlNewProp(tc, X "time", X buf);
            char line[512];
            first_line(r->message, line, sizeof line);
            if (r->outcome == OCS_FAIL || r->outcome == OCS_ERROR) {
                char repro[1200] = "";
                if (info->repro)
                    info->repro(info->user, cs, tg, repro, sizeof repro);
                snprintf(buf, sizeof buf, "%s\n\nseed %llu; reproduce with:\n  %s\n", r->message,
                         (unsigned long long)cs->seed, repro);
                CLEAN(clean, buf);
                xmlNodePtr e = xmlNewTextChild(tc, NULL, X(r->outcome == OCS_FAIL ? "failure" : "error"), X clean);
                xmlNewProp(e, X "message", X line);
                xmlNewProp(e, X "type", X(r->type[0] ? r->type : "Failure"));
            } else if (r->outcome == OCS_SKIPPED) {
                xmlNodePtr e = xmlNewChild(tc, NULL, X "skipped", NULL);
                CLEAN(clean, r->message);
                xmlNewProp(e, X "message", X clean);
            }
            if (out) {
                char m[700];
                int k;
                if (cs->dir)
                    k = snprintf(m, sizeof m, "%s: %s op=%s dir=%s", cs->name, ocs_outcome_name(r->outcome), cs->op,
                                 cs->dir);
                else
                    k = snprintf(m, sizeof m, "%s: %s op=%s opset=%s:%lld seed=%llu", cs->name,
                                 ocs_outcome_name(r->outcome), cs->op, cs->domain[0] ? cs->domain : "ai.onnx",
                                 (long long)cs->opset, (unsigned long long)cs->seed);
                if (r->compared && k > 0 && (size_t)k < sizeof m)
                    k += snprintf(m + k, sizeof m - (size_t)k,
                                  " rtol=%g atol=%g max_abs=%.3g max_rel=%.3g max_ulp=%.0f nmse=%.3g", r->rtol, r->atol,
                                  r->max_abs, r->max_rel, r->max_ulp, r->nmse);
                if (k > 0 && (size_t)k < sizeof m)
                    snprintf(m + k, sizeof m - (size_t)k, " time=%.3fs\n", r->time_s);
                size_t ml = strlen(m);
                if (out_len + ml + 1 < out_cap) {
                    memcpy(out + out_len, m, ml + 1);
                    out_len += ml;
                }
            }
        }
        if (out) {
            char *clean_out = malloc(out_len + 1);
            if (clean_out) {
                ocs_report_clean_text(out, clean_out, out_len + 1);
                xmlNewTextChild(suite, NULL, X "system-out", X clean_out);
                free(clean_out);
            } else {
                xmlNewChild(suite, NULL, X "system-out", NULL);
            }
            free(out);
        } else {
            xmlNewChild(suite, NULL, X "system-out", NULL);
        }
        xmlNewChild(suite, NULL, X "system-err", NULL);
    }

    xmlChar *mem = NULL;
    int size = 0;
    xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
    xmlFreeDoc(doc);
    if (!mem || size <= 0) {
        xmlFree(mem);
        return ocs_fail(err, OCS_ERR_NOMEM, "cannot serialise %s", path);
    }
    ocs_status st = ocs_write_atomic(path, mem, (size_t)size, err);
    xmlFree(mem);
    return st;
}

/* ---- the Markdown scoreboard ------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *grown = realloc(b->p, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
}

/* Markdown-safe one-line text: no '|', no newlines, at most max bytes. */
static void md_text(const char *s, char *buf, size_t len, size_t max)
{
    char clean[2048];
    CLEAN(clean, s);
    size_t o = 0;
    for (size_t i = 0; clean[i] && o + 3 < len && i < max; i++) {
        char ch = clean[i];
        if (ch == '\n' || ch == '\t')
            ch = ' ';
        if (ch == '|' || ch == '`' || ch == '<' || ch == '>' || ch == '*' || ch == '_') {
            buf[o++] = '\\';
        }
        buf[o++] = ch;
    }
    if (strlen(clean) > max && o + 4 < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

typedef struct cell {
    size_t n[4];
    int have_err;
    double worst_abs, worst_ulp;
} cell;

static void cell_text(const cell *c, char *buf, size_t len)
{
    size_t total = c->n[0] + c->n[1] + c->n[2] + c->n[3];
    if (total == 0) {
        snprintf(buf, len, "–");
        return;
    }
    int k = snprintf(buf, len, "%zu / %zu / %zu", c->n[OCS_PASS], c->n[OCS_FAIL] + c->n[OCS_ERROR], c->n[OCS_SKIPPED]);
    if (c->have_err && k > 0 && (size_t)k < len)
        snprintf(buf + k, len - (size_t)k, " · %.2g (%.3g ulp)", c->worst_abs, c->worst_ulp);
}

static void cell_add(cell *c, const ocs_result *r)
{
    c->n[r->outcome]++;
    if (r->compared && (r->outcome == OCS_PASS || r->outcome == OCS_FAIL)) {
        if (!c->have_err || r->max_abs > c->worst_abs)
            c->worst_abs = r->max_abs;
        if (!c->have_err || r->max_ulp > c->worst_ulp)
            c->worst_ulp = r->max_ulp;
        c->have_err = 1;
    }
}

ocs_status ocs_report_scoreboard(const char *path, const ocs_report_info *info, const ocs_case *cases,
                                 size_t n_cases, const ocs_target *targets, size_t n_targets,
                                 const ocs_result *results, ocs_err *err)
{
    sbuf b = {0};
    char stamp[64], text[2048], cellbuf[128];
    utc_timestamp(stamp, sizeof stamp, 1);

    /* the ops, in order of first appearance */
    const char **ops = calloc(n_cases + 1, sizeof *ops);
    size_t n_ops = 0;
    if (!ops)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory writing %s", path);
    for (size_t c = 0; c < n_cases; c++) {
        size_t k = 0;
        while (k < n_ops && strcmp(ops[k], cases[c].op))
            k++;
        if (k == n_ops)
            ops[n_ops++] = cases[c].op;
    }

    size_t tot[4] = {0};
    for (size_t i = 0; i < n_cases * n_targets; i++)
        tot[results[i].outcome]++;

    sb_printf(&b, "# OCS conformance scoreboard\n\n");
    sb_printf(&b, "| | |\n|---|---|\n");
    sb_printf(&b, "| OCS | %s |\n", info->ocs_version ? info->ocs_version : "");
    sb_printf(&b, "| date | %s |\n", stamp);
    if (info->tests_dir) {
        md_text(info->tests_dir, text, sizeof text, 300);
        sb_printf(&b, "| tests | %s (%zu) |\n", text, n_cases);
    } else {
        sb_printf(&b, "| cases | %zu generated, %zu operators |\n", n_cases, n_ops);
        sb_printf(&b, "| seed | %llu |\n", (unsigned long long)info->seed);
    }
    if (info->shard)
        sb_printf(&b, "| shard | %s |\n", info->shard);
    if (info->command) {
        md_text(info->command, text, sizeof text, 400);
        sb_printf(&b, "| command | %s |\n", text);
    }
    sb_printf(&b, "| result | %zu passed, %zu failed, %zu skipped |\n\n", tot[OCS_PASS], tot[OCS_FAIL] + tot[OCS_ERROR],
              tot[OCS_SKIPPED]);
    sb_printf(&b, "Each cell: passed / failed / skipped, then the worst error over the compared outputs: "
                  "max absolute error (max ULP distance). Errors (crashes, timeouts, backend errors) count as "
                  "failed; expected failures and unsupported cases as skipped.\n\n");

    sb_printf(&b, "| op |");
    for (size_t t = 0; t < n_targets; t++) {
        md_text(targets[t].name, text, sizeof text, 60);
        sb_printf(&b, " %s |", text);
    }
    sb_printf(&b, "\n|---|");
    for (size_t t = 0; t < n_targets; t++)
        sb_printf(&b, "---|");
    sb_printf(&b, "\n");
    cell *totals = calloc(n_targets + 1, sizeof *totals);
    for (size_t o = 0; o < n_ops; o++) {
        md_text(ops[o], text, sizeof text, 60);
        sb_printf(&b, "| %s |", text);
        for (size_t t = 0; t < n_targets; t++) {
            cell c;
            memset(&c, 0, sizeof c);
            for (size_t k = 0; k < n_cases; k++)
                if (!strcmp(cases[k].op, ops[o])) {
                    cell_add(&c, &results[t * n_cases + k]);
                    if (totals)
                        cell_add(&totals[t], &results[t * n_cases + k]);
                }
            cell_text(&c, cellbuf, sizeof cellbuf);
            sb_printf(&b, " %s |", cellbuf);
        }
        sb_printf(&b, "\n");
    }
    if (totals) {
        sb_printf(&b, "| **all** |");
        for (size_t t = 0; t < n_targets; t++) {
            cell_text(&totals[t], cellbuf, sizeof cellbuf);
            sb_printf(&b, " %s |", cellbuf);
        }
        sb_printf(&b, "\n");
        free(totals);
    }

    /* what did not pass */
    size_t n_bad = tot[OCS_FAIL] + tot[OCS_ERROR];
    sb_printf(&b, "\n## Not passing (%zu)\n\n", n_bad);
    if (n_bad) {
        sb_printf(&b, "| backend | op | case | outcome | detail |\n|---|---|---|---|---|\n");
        for (size_t t = 0; t < n_targets; t++)
            for (size_t k = 0; k < n_cases; k++) {
                const ocs_result *r = &results[t * n_cases + k];
                if (r->outcome != OCS_FAIL && r->outcome != OCS_ERROR)
                    continue;
                char name[300], op[100];
                md_text(cases[k].name, name, sizeof name, 120);
                md_text(cases[k].op, op, sizeof op, 60);
                md_text(r->message, text, sizeof text, 300);
                sb_printf(&b, "| %s | %s | %s | %s %s | %s |\n", targets[t].name, op, name, ocs_outcome_name(r->outcome),
                          r->type, text);
            }
    }

    /* expected failures */
    size_t n_x = 0;
    for (size_t i = 0; i < n_cases * n_targets; i++)
        n_x += !strcmp(results[i].type, "ExpectedFailure");
    if (n_x) {
        sb_printf(&b, "\n## Expected failures (%zu)\n\n| backend | op | case | reason and observation |\n|---|---|---|---|\n",
                  n_x);
        for (size_t t = 0; t < n_targets; t++)
            for (size_t k = 0; k < n_cases; k++) {
                const ocs_result *r = &results[t * n_cases + k];
                if (strcmp(r->type, "ExpectedFailure"))
                    continue;
                char name[300];
                md_text(cases[k].name, name, sizeof name, 120);
                md_text(r->message, text, sizeof text, 400);
                sb_printf(&b, "| %s | %s | %s | %s |\n", targets[t].name, cases[k].op, name, text);
            }
    }

    /* skip reasons, grouped */
    sb_printf(&b, "\n## Skipped, by reason\n\n");
    size_t n_skip = 0;
    for (size_t t = 0; t < n_targets; t++) {
        /* group by the first 80 bytes of the message */
        size_t shown = 0;
        unsigned char *done = calloc(n_cases + 1, 1);
        if (!done)
            break;
        for (size_t k = 0; k < n_cases; k++) {
            const ocs_result *r = &results[t * n_cases + k];
            if (done[k] || r->outcome != OCS_SKIPPED || !strcmp(r->type, "ExpectedFailure"))
                continue;
            size_t count = 0;
            for (size_t q = k; q < n_cases; q++) {
                const ocs_result *s = &results[t * n_cases + q];
                if (!done[q] && s->outcome == OCS_SKIPPED && strcmp(s->type, "ExpectedFailure") &&
                    !strncmp(s->message, r->message, 80)) {
                    done[q] = 1;
                    count++;
                }
            }
            if (shown++ == 0)
                sb_printf(&b, "- **%s**\n", targets[t].name);
            md_text(r->message, text, sizeof text, 200);
            sb_printf(&b, "  - %zu × %s%s\n", count, text, count > 1 ? " (first case shown)" : "");
            n_skip += count;
        }
        free(done);
    }
    if (!n_skip)
        sb_printf(&b, "None.\n");
    free(ops);
    if (b.oom) {
        free(b.p);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory writing %s", path);
    }
    ocs_status st = ocs_write_atomic(path, b.p, b.len, err);
    free(b.p);
    return st;
}
