/*
 * conformance/onnx_test.c - `ocs onnx-test DIR...`: runs trees in the ONNX
 * backend-test layout on the reference executor.
 *
 * A test is a folder holding model.onnx and test_data_set_N/ folders with
 * input_i.pb and output_i.pb.  Inputs bind, in order, to the graph inputs
 * that have no initializer; outputs compare, in order, with the graph's
 * outputs under ONNX's rule (compare.h).  Each test ends PASS, FAIL (with
 * the error measures and the first differing index), ERROR (the model or
 * its data could not be loaded or run) or SKIPPED (it needs an operator or
 * value kind the reference does not implement).  The last line is
 * "N passed, N failed, N skipped"; the exit status is 1 on any FAIL or ERROR.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "compare.h"
#include "ocs/exec.h"
#include "ocs/model.h"
#include "ocs/value.h"

typedef enum outcome { PASS, FAIL, ERROR, SKIPPED } outcome;
static const char *const outcome_name[] = {"PASS", "FAIL", "ERROR", "SKIPPED"};

typedef struct options {
    ocs_tolerance tol;
    int quiet;              /* print only what did not pass */
} options;

typedef struct counts {
    size_t n[4];
} counts;

/* snprintf into a path buffer; fails (returns -1) rather than truncate. */
static int pathf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir that start with prefix; NULL-terminated. */
static char **list_dir(const char *dir, const char *prefix, size_t *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        if (*count + 1 >= cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        names[*count] = strdup(e->d_name);
        if (names[*count])
            (*count)++;
    }
    closedir(d);
    if (names) {
        qsort(names, *count, sizeof *names, cmp_names);
        names[*count] = NULL;
    }
    return names;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

static const char *kind_name(ocs_type_kind k)
{
    switch (k) {
    case OCS_TYPE_TENSOR: return "tensor";
    case OCS_TYPE_SEQUENCE: return "sequence";
    case OCS_TYPE_OPTIONAL: return "optional";
    case OCS_TYPE_MAP: return "map";
    case OCS_TYPE_SPARSE_TENSOR: return "sparse tensor";
    default: return "untyped";
    }
}

/* Runs one data set; returns its outcome and writes the reason into why. */
static outcome run_data_set(const ocs_model *m, ocs_session *s, const char *dir, const options *opt,
                            char *why, size_t why_len)
{
    const ocs_graph *g = m->graph;
    char path[4096];
    ocs_err err = {{0}};
    outcome res = PASS;

    /* graph inputs fed by the data set: those without an initializer */
    size_t n_free = 0;
    const char **names = calloc(g->n_inputs + 1, sizeof *names);
    ocs_value **ins = calloc(g->n_inputs + 1, sizeof *ins);
    ocs_value **outs = calloc(g->n_outputs + 1, sizeof *outs);
    if (!names || !ins || !outs) {
        snprintf(why, why_len, "out of memory");
        res = ERROR;
        goto done;
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        int init = 0;
        for (size_t k = 0; k < g->n_inits && !init; k++)
            init = !strcmp(g->inits[k].name, g->inputs[i].name);
        if (init)
            continue;
        if (pathf(path, sizeof path, "%s/input_%zu.pb", dir, n_free) || !is_file(path))
            break;              /* trailing optional inputs may be left out */
        ocs_status st = ocs_value_load_file(path, &g->inputs[i].type, &ins[n_free], &err);
        if (st != OCS_OK) {
            snprintf(why, why_len, "%s", err.msg);
            res = ERROR;
            goto done;
        }
        names[n_free++] = g->inputs[i].name;
    }

    ocs_status st = ocs_session_run_values(s, n_free, names, (const ocs_value *const *)ins, g->n_outputs, outs,
                                           &err);
    if (st == OCS_ERR_UNSUPPORTED) {
        snprintf(why, why_len, "%s", err.msg);
        res = SKIPPED;
        goto done;
    }
    if (st != OCS_OK) {
        snprintf(why, why_len, "%s", err.msg);
        res = ERROR;
        goto done;
    }

    for (size_t j = 0; j < g->n_outputs; j++) {
        ocs_value *want = NULL;
        if (pathf(path, sizeof path, "%s/output_%zu.pb", dir, j) || !is_file(path))
            continue;
        if (ocs_value_load_file(path, &g->outputs[j].type, &want, &err) != OCS_OK) {
            snprintf(why, why_len, "%s", err.msg);
            res = ERROR;
            goto done;
        }
        ocs_diff d;
        ocs_compare_values(outs[j], want, &opt->tol, &d);
        ocs_value_free(want);
        if (!d.equal) {
            snprintf(why, why_len, "output %zu '%s': %s", j, g->outputs[j].name, d.reason);
            res = FAIL;
            goto done;
        }
    }
done:
    for (size_t i = 0; ins && i < g->n_inputs; i++)
        ocs_value_free(ins[i]);
    for (size_t j = 0; outs && j < g->n_outputs; j++)
        ocs_value_free(outs[j]);
    free(ins);
    free(outs);
    free(names);
    return res;
}

static outcome run_test(const char *dir, const options *opt, char *why, size_t why_len)
{
    char path[4096];
    ocs_err err = {{0}};
    ocs_model *m = NULL;
    ocs_session *s = NULL;
    outcome res = PASS;

    if (pathf(path, sizeof path, "%s/model.onnx", dir)) {
        snprintf(why, why_len, "path too long");
        return ERROR;
    }
    ocs_status st = ocs_model_load_file(path, &m, &err);
    if (st != OCS_OK) {
        snprintf(why, why_len, "%s", err.msg);
        return st == OCS_ERR_UNSUPPORTED ? SKIPPED : ERROR;
    }
    for (size_t i = 0; i < m->graph->n_inputs + m->graph->n_outputs; i++) {
        const ocs_value_info *vi = i < m->graph->n_inputs ? &m->graph->inputs[i]
                                                            : &m->graph->outputs[i - m->graph->n_inputs];
        if (vi->type.kind == OCS_TYPE_MAP || vi->type.kind == OCS_TYPE_SPARSE_TENSOR) {
            snprintf(why, why_len, "graph value '%s' is a %s; the executor does not run those", vi->name,
                     kind_name(vi->type.kind));
            res = SKIPPED;
            goto done;
        }
    }
    st = ocs_session_new(m, &s, &err);
    if (st != OCS_OK) {
        snprintf(why, why_len, "%s", err.msg);
        res = st == OCS_ERR_UNSUPPORTED ? SKIPPED : ERROR;
        goto done;
    }

    size_t n_sets = 0;
    char **sets = list_dir(dir, "test_data_set_", &n_sets);
    if (n_sets == 0) {
        snprintf(why, why_len, "no test_data_set_N folder");
        res = ERROR;
    }
    for (size_t i = 0; i < n_sets && res == PASS; i++) {
        char sub[4096], reason[1200];
        if (pathf(sub, sizeof sub, "%s/%s", dir, sets[i])) {
            snprintf(why, why_len, "path too long");
            res = ERROR;
            break;
        }
        res = run_data_set(m, s, sub, opt, reason, sizeof reason);
        if (res != PASS)
            snprintf(why, why_len, "%s: %s", sets[i], reason);
    }
    free_list(sets, n_sets);
done:
    ocs_session_free(s);
    ocs_model_free(m);
    return res;
}

static void run_one(const char *dir, const options *opt, counts *c)
{
    char why[1400] = "";
    outcome o = run_test(dir, opt, why, sizeof why);
    c->n[o]++;
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    if (o == PASS) {
        if (!opt->quiet)
            printf("PASS     %s\n", base);
    } else {
        printf("%-8s %s: %s\n", outcome_name[o], base, why);
    }
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ocs onnx-test [options] DIR...\n"
            "  DIR is one test (a folder with model.onnx) or a folder of tests.\n"
            "options:\n"
            "  --rtol X | --rtol TYPE=X   relative tolerance (default 1e-3), or for one type (float16=2e-3)\n"
            "  --atol X | --atol TYPE=X   absolute tolerance (default 1e-7)\n"
            "  -q, --quiet                print only tests that did not pass\n");
}

int ocs_cmd_onnx_test(int argc, char **argv)
{
    options opt = {0};
    ocs_tolerance_init(&opt.tol);
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        const char *a = argv[first];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            opt.quiet = 1;
        } else if ((!strcmp(a, "--rtol") || !strcmp(a, "--atol")) && first + 1 < argc) {
            if (ocs_tolerance_parse(&opt.tol, a[2] == 'r', argv[++first])) {
                fprintf(stderr, "ocs onnx-test: bad tolerance '%s' for %s\n", argv[first], a);
                return 2;
            }
        } else {
            fprintf(stderr, "ocs onnx-test: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (first == argc) {
        usage(stderr);
        return 2;
    }

    counts c = {{0}};
    for (int i = first; i < argc; i++) {
        char path[4096];
        if (!pathf(path, sizeof path, "%s/model.onnx", argv[i]) && is_file(path)) {
            run_one(argv[i], &opt, &c);
            continue;
        }
        if (!is_dir(argv[i])) {
            fprintf(stderr, "ocs onnx-test: %s: %s\n", argv[i], strerror(errno ? errno : ENOENT));
            c.n[ERROR]++;
            continue;
        }
        size_t n = 0;
        char **names = list_dir(argv[i], "", &n);
        for (size_t k = 0; k < n; k++) {
            char sub[4096];
            if (!pathf(sub, sizeof sub, "%s/%s", argv[i], names[k]) &&
                !pathf(path, sizeof path, "%s/model.onnx", sub) && is_file(path))
                run_one(sub, &opt, &c);
        }
        free_list(names, n);
    }
    if (c.n[ERROR])
        printf("%zu errors (counted as failed)\n", c.n[ERROR]);
    printf("%zu passed, %zu failed, %zu skipped\n", c.n[PASS], c.n[FAIL] + c.n[ERROR], c.n[SKIPPED]);
    return c.n[FAIL] || c.n[ERROR] ? 1 : 0;
}
