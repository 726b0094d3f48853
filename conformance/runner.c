/*
 * conformance/runner.c - running cases on targets in isolated worker
 * processes, with poisoned and guarded outputs (see runner.h).
 *
 * The command protocol, version 1 (OCS_TARGET_COMMAND):
 *
 *   The runner writes the cases given to one worker into a fresh temporary
 *   folder IN, in the ONNX backend-test layout of `ocs export`:
 *   IN/<case>/model.onnx, IN/<case>/model_expanded.onnx when the operator
 *   has a function body, and IN/<case>/test_data_set_<N>/input_<i>.pb and
 *   output_<i>.pb (the reference outputs).  A test folder given with
 *   --tests appears as a symbolic link IN/<case> to that folder.  It then
 *   runs `/bin/sh -c 'PROGRAM "$@"' sh IN OUT`, with OUT an empty folder,
 *   stdout and stderr going to a log, and a time limit (--timeout seconds
 *   per case, or --command-timeout for the whole run), after which the
 *   program's process group is killed.  For every case the program then
 *   leaves exactly one of:
 *
 *     OUT/<case>/test_data_set_<N>/output_<i>.pb   one TensorProto per graph
 *                                                   output i, for every data set N
 *     OUT/<case>/SKIP     text: why the case was not run (reported SKIPPED)
 *     OUT/<case>/ERROR    text: what went wrong (reported ERROR)
 *
 *   Outputs compare with the reference like any backend's; a missing or
 *   unreadable output file is an ERROR that quotes the end of the log.  The
 *   exit status of the program is reported but does not decide outcomes,
 *   with one exception: a program that exits with status 77 (the automake
 *   convention for "cannot run here", e.g. its runtime is not installed)
 *   marks every case it left no OUT/<case> folder for as SKIPPED, with the
 *   end of its log as the reason.
 */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "ocs/backend_context.h"
#include "ocs/exec.h"
#include "ocs/schema.h"
#include "ocs/value.h"

const char *ocs_outcome_name(ocs_outcome o)
{
    switch (o) {
    case OCS_PASS: return "PASS";
    case OCS_FAIL: return "FAIL";
    case OCS_ERROR: return "ERROR";
    case OCS_SKIPPED: return "SKIPPED";
    }
    return "?";
}

void ocs_runner_options_init(ocs_runner_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->timeout_s = 60;
    opt->jobs = 1;
    ocs_tolerance_init_backend(&opt->tol);
    ocs_tolerance_init(&opt->tol_stored);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void set_result(ocs_result *r, ocs_outcome o, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_result(ocs_result *r, ocs_outcome o, const char *type, const char *fmt, ...)
{
    r->outcome = o;
    snprintf(r->type, sizeof r->type, "%s", type);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

static int runner_pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int runner_pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int runner_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- the reference kernels as a backend -------------------------------------------------- */

static int ref_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    (void)ctx;
    (void)since;
    (void)n_in;
    (void)in;
    const ocs_op_def *op = ocs_op_find(n->domain, n->op_type);
    return op && op->kernel;
}

static ocs_status ref_run(void *ctx, void *state, ocs_kernel_args *a)
{
    (void)ctx;
    (void)state;
    const ocs_op_def *op = ocs_op_find(a->node->domain, a->node->op_type);
    if (!op || !op->kernel)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "the reference has no kernel for %s", a->node->op_type);
    return op->kernel(a);
}

static const ocs_backend_ops ref_ops = {
    .api_version = OCS_BACKEND_API_VERSION,
    .name = "reference",
    .supports = ref_supports,
    .run = ref_run,
};

static const ocs_backend ref_backend = {&ref_ops, NULL};

const ocs_backend *ocs_reference_backend(void)
{
    return &ref_backend;
}

/* ---- poison and guards ------------------------------------------------------------------ */

static unsigned char canary_byte(size_t k)
{
    return (unsigned char)(0x5C ^ (k * 29));
}

static void poison(ocs_tensor *t)
{
    size_t es = ocs_dtype_size(t->dtype);
    unsigned char pattern[8];
    switch (t->dtype) {
    case OCS_FLOAT: {
        uint32_t v = 0x7FE5A5A5u;
        memcpy(pattern, &v, 4);
        break;
    }
    case OCS_DOUBLE: {
        uint64_t v = 0x7FFCA5A5A5A5A5A5ull;
        memcpy(pattern, &v, 8);
        break;
    }
    case OCS_FLOAT16: {
        uint16_t v = 0x7EA5;
        memcpy(pattern, &v, 2);
        break;
    }
    case OCS_BFLOAT16: {
        uint16_t v = 0x7FE5;
        memcpy(pattern, &v, 2);
        break;
    }
    default:
        memset(t->data, 0xA5, t->nbytes);
        return;
    }
    for (size_t i = 0; i < t->numel; i++)
        memcpy((unsigned char *)t->data + i * es, pattern, es);
}

/* Elements of t that still hold the float poison pattern (0 for other types). */
static size_t count_poison(const ocs_tensor *t, size_t *first)
{
    ocs_tensor probe;
    memset(&probe, 0, sizeof probe);
    probe.dtype = t->dtype;
    probe.numel = 1;
    probe.nbytes = ocs_dtype_size(t->dtype);
    switch (t->dtype) {
    case OCS_FLOAT:
    case OCS_DOUBLE:
    case OCS_FLOAT16:
    case OCS_BFLOAT16: break;
    default: return 0;
    }
    unsigned char cell[8];
    probe.data = cell;
    poison(&probe);
    size_t n = 0, es = probe.nbytes;
    for (size_t i = 0; i < t->numel; i++)
        if (!memcmp((const unsigned char *)t->data + i * es, cell, es) && n++ == 0)
            *first = i;
    return n;
}

/* A tensor like `like`, poisoned, with OCS_GUARD_BYTES canary bytes after its data. */
static ocs_tensor *guarded_tensor(const ocs_tensor *like)
{
    if (like->dtype == OCS_STRING || ocs_dtype_size(like->dtype) == 0)
        return NULL;
    ocs_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->dtype = like->dtype;
    t->rank = like->rank;
    memcpy(t->dims, like->dims, sizeof t->dims);
    t->numel = like->numel;
    t->nbytes = like->nbytes;
    t->data = malloc(t->nbytes + OCS_GUARD_BYTES);
    if (!t->data) {
        free(t);
        return NULL;
    }
    poison(t);
    for (size_t k = 0; k < OCS_GUARD_BYTES; k++)
        ((unsigned char *)t->data)[t->nbytes + k] = canary_byte(k);
    return t;
}

static long canary_check(const ocs_tensor *t)
{
    for (size_t k = 0; k < OCS_GUARD_BYTES; k++)
        if (((const unsigned char *)t->data)[t->nbytes + k] != canary_byte(k))
            return (long)k;
    return -1;
}

typedef struct guard_ctx {
    ocs_backend_ops ops;         /* the wrapper's table */
    const ocs_backend *inner;
    int enabled;
    size_t n_want;
    const char *const *want_names;
    ocs_value *const *want;
    int *inplace;                /* per graph output: filled in place */
    char violation[600];
} guard_ctx;

static int guard_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    const ocs_backend *b = ((guard_ctx *)ctx)->inner;
    return b->ops->supports(b->ctx, n, since, n_in, in);
}

static ocs_status guard_prepare(void *ctx, const ocs_node *n, int64_t since, void **state, ocs_err *err)
{
    const ocs_backend *b = ((guard_ctx *)ctx)->inner;
    return b->ops->prepare ? b->ops->prepare(b->ctx, n, since, state, err) : OCS_OK;
}

static void guard_release(void *ctx, void *state)
{
    const ocs_backend *b = ((guard_ctx *)ctx)->inner;
    if (b->ops->release)
        b->ops->release(b->ctx, state);
}

/* BackendContext blobs go straight to the wrapped backend. */
static int guard_bc_compatible(void *ctx, const char *compat, char *why, size_t why_len)
{
    const ocs_backend *b = ((guard_ctx *)ctx)->inner;
    return b->ops->bc_compatible(b->ctx, compat, why, why_len);
}

static ocs_status guard_bc_load(void *ctx, const ocs_bc_view *r, const void *payload, size_t len, void **state,
                                ocs_err *err)
{
    const ocs_backend *b = ((guard_ctx *)ctx)->inner;
    return b->ops->bc_load(b->ctx, r, payload, len, state, err);
}

static ocs_status guard_bc_run(void *ctx, void *state, ocs_kernel_args *a)
{
    const ocs_backend *b = ((guard_ctx *)ctx)->inner;
    return b->ops->bc_run(b->ctx, state, a);
}

static void guard_bc_unload(void *ctx, void *state)
{
    const ocs_backend *b = ((guard_ctx *)ctx)->inner;
    if (b->ops->bc_unload)
        b->ops->bc_unload(b->ctx, state);
}

static ocs_status guard_run(void *ctx, void *state, ocs_kernel_args *a)
{
    guard_ctx *g = ctx;
    enum { MAXO = 64 };
    ocs_tensor *given[MAXO] = {0};
    size_t slot[MAXO] = {0};
    for (size_t i = 0; g->enabled && i < a->n_outputs && i < MAXO; i++) {
        const char *name = a->node->outputs[i];
        if (!name[0] || a->outputs[i])
            continue;
        for (size_t j = 0; j < g->n_want; j++) {
            if (!g->want[j] || g->want[j]->kind != OCS_VALUE_TENSOR || strcmp(g->want_names[j], name))
                continue;
            given[i] = guarded_tensor(g->want[j]->tensor);
            slot[i] = j;
            a->outputs[i] = given[i];
            break;
        }
    }
    ocs_status st = g->inner->ops->run(g->inner->ctx, state, a);
    for (size_t i = 0; i < a->n_outputs && i < MAXO; i++) {
        if (!given[i] || a->outputs[i] != given[i])
            continue;   /* replaced by the backend's own tensor (which may have freed ours) */
        g->inplace[slot[i]] = 1;
        long k = canary_check(given[i]);
        if (k >= 0 && !g->violation[0]) {
            char desc[128];
            snprintf(g->violation, sizeof g->violation,
                     "wrote past the end of output %zu '%s' (%s, %zu bytes): canary byte %ld after the data changed",
                     i, a->node->outputs[i], ocs_tensor_describe(given[i], desc, sizeof desc), given[i]->nbytes, k);
        }
    }
    return st;
}

/* ---- preparing a case: model, inputs, golden outputs ---------------------------------------- */

typedef struct dataset {
    char name[64];               /* test_data_set_N */
    size_t n_in;
    const char **names;          /* borrowed from the model */
    ocs_value **in;
    ocs_value **want;            /* per graph output; NULL where nothing is stored */
} dataset;

typedef struct prepared {
    int expect_error;            /* the reference rejected the input, as the case expects */
    char ref_error[OCS_ERR_MAX]; /* its message */
    ocs_model *model;            /* owned unless it is ci.model */
    int have_ci;
    ocs_case_inst ci;            /* generated cases */
    size_t n_out;
    size_t n_sets;
    dataset *sets;
} prepared;

static void prepared_free(prepared *p)
{
    for (size_t s = 0; s < p->n_sets; s++) {
        dataset *d = &p->sets[s];
        for (size_t i = 0; d->in && i < d->n_in; i++)
            ocs_value_free(d->in[i]);
        for (size_t j = 0; d->want && j < p->n_out; j++)
            ocs_value_free(d->want[j]);
        free(d->in);
        free(d->want);
        free(d->names);
    }
    free(p->sets);
    if (p->have_ci)
        ocs_case_inst_free(&p->ci);
    else
        ocs_model_free(p->model);
    memset(p, 0, sizeof *p);
}

static dataset *add_set(prepared *p, size_t n_inputs)
{
    dataset *grown = realloc(p->sets, (p->n_sets + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    p->sets = grown;
    dataset *d = &p->sets[p->n_sets++];
    memset(d, 0, sizeof *d);
    d->names = calloc(n_inputs + 1, sizeof *d->names);
    d->in = calloc(n_inputs + 1, sizeof *d->in);
    d->want = calloc(p->n_out + 1, sizeof *d->want);
    if (!d->names || !d->in || !d->want)
        return NULL;
    return d;
}

static ocs_status wrap_clone(const ocs_tensor *t, ocs_value **out, ocs_err *err)
{
    ocs_tensor *copy = NULL;
    ocs_status st = ocs_tensor_clone(t, &copy, err);
    return st == OCS_OK ? ocs_value_from_tensor(copy, out, err) : st;
}

/* Returns 0 when ready; otherwise r holds the outcome. */
static int prepare_generated(const ocs_case *c, prepared *p, ocs_result *r)
{
    ocs_err err = {{0}};
    p->have_ci = 1;
    ocs_status st = ocs_case_instantiate(c, &p->ci, &err);
    if (st != OCS_OK) {
        set_result(r, OCS_ERROR, "CaseError", "cannot build the case: %s", err.msg);
        return 1;
    }
    p->model = p->ci.model;
    st = ocs_case_reference(&p->ci, &err);
    if (c->expect_error && st != OCS_ERR_UNSUPPORTED) {
        if (st == OCS_OK) {
            set_result(r, OCS_ERROR, "ReferenceError",
                       "the reference accepted an input this case expects it to reject (\"%s\")", c->expect_error);
            return 1;
        }
        if (!strstr(err.msg, c->expect_error)) {
            set_result(r, OCS_ERROR, "ReferenceError",
                       "the reference rejected the input with \"%s\"; the case expects a message containing \"%s\"",
                       err.msg, c->expect_error);
            return 1;
        }
        p->expect_error = 1;
        snprintf(p->ref_error, sizeof p->ref_error, "%s", err.msg);
        for (size_t j = 0; j < p->ci.n_out; j++) {
            ocs_tensor_free(p->ci.ref[j]);
            p->ci.ref[j] = NULL;
        }
        st = OCS_OK;
    }
    if (st == OCS_ERR_UNSUPPORTED) {
        set_result(r, OCS_SKIPPED, "", "the reference does not run this case: %s", err.msg);
        return 1;
    }
    if (st != OCS_OK) {
        set_result(r, OCS_ERROR, "ReferenceError", "the reference failed (%s): %s", ocs_status_name(st), err.msg);
        return 1;
    }
    p->n_out = p->ci.n_out;
    dataset *d = add_set(p, p->ci.n_in);
    if (!d) {
        set_result(r, OCS_ERROR, "RunnerError", "out of memory");
        return 1;
    }
    snprintf(d->name, sizeof d->name, "test_data_set_0");
    for (size_t i = 0; i < p->ci.n_in && st == OCS_OK; i++) {
        d->names[i] = p->ci.in_names[i];
        st = wrap_clone(p->ci.in[i], &d->in[i], &err);
        d->n_in = i + 1;
    }
    for (size_t j = 0; j < p->ci.n_out && st == OCS_OK && !p->expect_error; j++)
        st = wrap_clone(p->ci.ref[j], &d->want[j], &err);
    if (st != OCS_OK) {
        set_result(r, OCS_ERROR, "RunnerError", "%s", err.msg);
        return 1;
    }
    return 0;
}

static int runner_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of dir's entries starting with prefix (caller frees each and the array). */
static char **runner_list_dir(const char *dir, const char *prefix, size_t *count)
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
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        if ((names[*count] = strdup(e->d_name)))
            (*count)++;
    }
    closedir(d);
    if (names)
        qsort(names, *count, sizeof *names, runner_cmp_str);
    return names;
}

static void runner_free_list(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

static int has_initializer(const ocs_graph *g, const char *name)
{
    for (size_t k = 0; k < g->n_inits; k++)
        if (!strcmp(g->inits[k].name, name))
            return 1;
    return 0;
}

static int prepare_dir(const ocs_case *c, prepared *p, ocs_result *r)
{
    char path[4200];
    ocs_err err = {{0}};
    if (runner_pathf(path, sizeof path, "%s/model.onnx", c->dir)) {
        set_result(r, OCS_ERROR, "LoadError", "path too long: %s", c->dir);
        return 1;
    }
    ocs_status st = ocs_model_load_file(path, &p->model, &err);
    if (st != OCS_OK) {
        set_result(r, st == OCS_ERR_UNSUPPORTED ? OCS_SKIPPED : OCS_ERROR, "LoadError", "%s", err.msg);
        return 1;
    }
    const ocs_graph *g = p->model->graph;
    for (size_t i = 0; i < g->n_inputs + g->n_outputs; i++) {
        const ocs_value_info *vi = i < g->n_inputs ? &g->inputs[i] : &g->outputs[i - g->n_inputs];
        if (vi->type.kind == OCS_TYPE_MAP || vi->type.kind == OCS_TYPE_SPARSE_TENSOR) {
            set_result(r, OCS_SKIPPED, "", "graph value '%s' is a map or sparse tensor; the executor does not run those",
                       vi->name);
            return 1;
        }
    }
    p->n_out = g->n_outputs;
    size_t n_sets = 0;
    char **sets = runner_list_dir(c->dir, "test_data_set_", &n_sets);
    if (n_sets == 0) {
        runner_free_list(sets, n_sets);
        set_result(r, OCS_ERROR, "LoadError", "%s has no test_data_set_N folder", c->dir);
        return 1;
    }
    int bad = 0;
    for (size_t s = 0; s < n_sets && !bad; s++) {
        dataset *d = add_set(p, g->n_inputs);
        if (!d) {
            set_result(r, OCS_ERROR, "RunnerError", "out of memory");
            bad = 1;
            break;
        }
        snprintf(d->name, sizeof d->name, "%s", sets[s]);
        for (size_t i = 0; i < g->n_inputs && !bad; i++) {
            if (has_initializer(g, g->inputs[i].name))
                continue;
            if (runner_pathf(path, sizeof path, "%s/%s/input_%zu.pb", c->dir, sets[s], d->n_in) || !runner_is_file(path))
                break;   /* trailing optional inputs may be left out */
            st = ocs_value_load_file(path, &g->inputs[i].type, &d->in[d->n_in], &err);
            if (st != OCS_OK) {
                set_result(r, OCS_ERROR, "LoadError", "%s", err.msg);
                bad = 1;
                break;
            }
            d->names[d->n_in++] = g->inputs[i].name;
        }
        for (size_t j = 0; j < g->n_outputs && !bad; j++) {
            if (runner_pathf(path, sizeof path, "%s/%s/output_%zu.pb", c->dir, sets[s], j) || !runner_is_file(path))
                continue;
            st = ocs_value_load_file(path, &g->outputs[j].type, &d->want[j], &err);
            if (st != OCS_OK) {
                set_result(r, OCS_ERROR, "LoadError", "%s", err.msg);
                bad = 1;
            }
        }
    }
    runner_free_list(sets, n_sets);
    return bad;
}

static int prepare_case(const ocs_case *c, prepared *p, ocs_result *r)
{
    memset(p, 0, sizeof *p);
    return c->dir ? prepare_dir(c, p, r) : prepare_generated(c, p, r);
}

/* ---- running one case on one target --------------------------------------------------------- */

typedef struct worker {
    const ocs_target *t;
    ocs_backend *be;
    int opened;
    ocs_status open_st;
    char open_msg[OCS_ERR_MAX];
} worker;

static void worker_close(worker *w)
{
    if (w->be)
        ocs_backend_close(w->be);
    w->be = NULL;
}

/* The expanded model of p (or NULL with r set). */
static ocs_model *expanded_model(const ocs_case *c, const prepared *p, ocs_result *r)
{
    ocs_err err = {{0}};
    ocs_model *e = NULL;
    char path[4200];
    if (c->dir && !runner_pathf(path, sizeof path, "%s/model_expanded.onnx", c->dir) && runner_is_file(path)) {
        if (ocs_model_load_file(path, &e, &err) != OCS_OK) {
            set_result(r, OCS_ERROR, "LoadError", "%s", err.msg);
            return NULL;
        }
        return e;
    }
    if (!ocs_model_has_body(p->model)) {
        set_result(r, OCS_SKIPPED, "", "not applicable: %s has no function body", c->op);
        return NULL;
    }
    ocs_status st = ocs_model_expand(p->model, &e, &err);
    if (st != OCS_OK) {
        set_result(r, st == OCS_ERR_UNSUPPORTED ? OCS_SKIPPED : OCS_ERROR, "ExpandError",
                   "cannot expand the function body: %s", err.msg);
        return NULL;
    }
    return e;
}

void ocs_target_tolerance(const ocs_target *t, const ocs_runner_options *opt, int stored, ocs_tolerance *tol)
{
    if (!stored) {
        *tol = opt->tol;
        return;
    }
    *tol = opt->tol_stored;
    if (t->kind != OCS_TARGET_BACKEND && t->kind != OCS_TARGET_COMMAND)
        return;
    for (int i = 1; i < OCS_DTYPE_COUNT_; i++) {
        double r = ocs_tolerance_rtol(&opt->tol, (ocs_dtype)i), a = ocs_tolerance_atol(&opt->tol, (ocs_dtype)i);
        if (r > ocs_tolerance_rtol(tol, (ocs_dtype)i))
            tol->rtol_for[i] = r;
        if (a > ocs_tolerance_atol(tol, (ocs_dtype)i))
            tol->atol_for[i] = a;
    }
}

static void effective_tolerance(const ocs_case *c, const ocs_target *t, const ocs_runner_options *opt,
                                ocs_tolerance *tol)
{
    ocs_target_tolerance(t, opt, c->dir != NULL, tol);
    if (!c->dir)
        ocs_tolerance_override(tol, c->rtol, c->atol, c->max_ulp, c->max_nmse);
}

static void merge_metrics(ocs_result *r, const ocs_diff *d)
{
    if (d->max_abs > r->max_abs)
        r->max_abs = d->max_abs;
    if (d->max_rel > r->max_rel)
        r->max_rel = d->max_rel;
    if (d->max_ulp > r->max_ulp)
        r->max_ulp = d->max_ulp;
    if (d->nmse > r->nmse)
        r->nmse = d->nmse;
}

/*
 * Compares the outputs of one data set; returns 0 when all pass, else r
 * holds the FAIL.  inplace (may be NULL) flags outputs the backend filled
 * in the runner's poisoned tensors.
 */
static int compare_set(const ocs_model *m, const dataset *d, size_t n_out, ocs_value *const *got,
                       const ocs_tolerance *tol, const int *inplace, const char *set_label, ocs_result *r)
{
    const ocs_graph *g = m->graph;
    for (size_t j = 0; j < n_out; j++) {
        if (!d->want[j])
            continue;
        const ocs_value *w = d->want[j];
        if (!r->compared && w->kind == OCS_VALUE_TENSOR && ocs_dtype_is_float(w->tensor->dtype)) {
            r->rtol = ocs_tolerance_rtol(tol, w->tensor->dtype);
            r->atol = ocs_tolerance_atol(tol, w->tensor->dtype);
        }
        r->compared = 1;
        if (inplace && inplace[j] && got[j] && got[j]->kind == OCS_VALUE_TENSOR) {
            size_t first = 0, n = count_poison(got[j]->tensor, &first);
            if (n) {
                set_result(r, OCS_FAIL, "UnwrittenOutput",
                           "%soutput %zu '%s': %zu of %zu elements were never written (they still hold the "
                           "poison pattern), first at index %zu",
                           set_label, j, g->outputs[j].name, n, got[j]->tensor->numel, first);
                return 1;
            }
        }
        ocs_diff diff;
        ocs_compare_values(got[j], w, tol, &diff);
        merge_metrics(r, &diff);
        if (!diff.equal) {
            const char *type = !strncmp(diff.reason, "type", 4) || !strncmp(diff.reason, "shape", 5) ||
                                       !strncmp(diff.reason, "got", 3)
                                   ? "ShapeMismatch"
                                   : "ToleranceExceeded";
            set_result(r, OCS_FAIL, type, "%soutput %zu '%s': %s", set_label, j, g->outputs[j].name, diff.reason);
            return 1;
        }
    }
    return 0;
}

/* Classifies a failed run of the target. */
static void run_failed(ocs_result *r, ocs_status st, const char *msg)
{
    if (st == OCS_ERR_UNSUPPORTED)
        set_result(r, OCS_SKIPPED, "", "not supported: %s", msg);
    else if (strstr(msg, "wrote past the end"))
        set_result(r, OCS_FAIL, "OutOfBoundsWrite", "%s", msg);
    else if (strstr(msg, "modified its input"))
        set_result(r, OCS_FAIL, "InputModified", "%s", msg);
    else
        set_result(r, OCS_ERROR, "BackendError", "%s (%s)", msg, ocs_status_name(st));
}

static void apply_xfail(const ocs_case *c, const ocs_target *t, ocs_result *r)
{
    const char *why = ocs_case_xfail_for(c, t->name);
    if (!why)
        return;
    if (r->outcome == OCS_FAIL || r->outcome == OCS_ERROR) {
        char observed[sizeof r->message], type[sizeof r->type];
        snprintf(observed, sizeof observed, "%s", r->message);
        snprintf(type, sizeof type, "%s", r->type);
        const char *outcome = ocs_outcome_name(r->outcome);
        set_result(r, OCS_SKIPPED, "ExpectedFailure", "expected failure: %s (observed %s %s: %.1200s)", why, outcome,
                   type, observed);
    } else if (r->outcome == OCS_PASS) {
        snprintf(r->message, sizeof r->message, "listed as an expected failure (%s) but passed", why);
    }
}

/* The selection log of one session (one line per BackendContext region). */
typedef struct sel_log {
    char text[1024];
} sel_log;

static void sel_log_line(void *user, const char *line)
{
    sel_log *l = user;
    size_t n = strlen(l->text);
    if (n + 3 < sizeof l->text)
        snprintf(l->text + n, sizeof l->text - n, "%s%s", n ? "; " : "", line);
}

/* Whether every region of sess has an attempt with the reason c expects; else why not, in problem. */
static void check_selection(const ocs_case *c, const ocs_session *sess, const sel_log *l, char *problem, size_t len)
{
    size_t n = ocs_session_bc_count(sess);
    if (n == 0) {
        snprintf(problem, len, "the model has no BackendContext region; the case expects '%s'", c->expect_reason);
        return;
    }
    int want_accept = !strcmp(c->expect_reason, ocs_bc_reason_name(OCS_BC_ACCEPTED));
    for (size_t i = 0; i < n; i++) {
        const ocs_bc_decision *d = ocs_session_bc_decision(sess, i);
        const ocs_bc_region *rg = ocs_session_bc_region(sess, i);
        int seen = 0;
        for (size_t k = 0; d && k < d->n_attempts; k++)
            seen |= !strcmp(ocs_bc_reason_name(d->attempts[k].reason), c->expect_reason);
        if (!d || !seen || (d->accepted != 0) != want_accept) {
            snprintf(problem, len, "region '%s': the selection logged \"%.600s\"; the case expects '%s'",
                     rg ? rg->name : "?", l->text, c->expect_reason);
            return;
        }
    }
}

static void run_item(const ocs_case *c, worker *w, const ocs_runner_options *opt, ocs_result *r)
{
    const ocs_target *t = w->t;
    double start = now_s();
    memset(r, 0, sizeof *r);
    prepared p;
    memset(&p, 0, sizeof p);
    ocs_model *expanded = NULL;
    ocs_err err = {{0}};

    if (t->kind == OCS_TARGET_BACKEND) {
        if (!w->opened) {
            w->opened = 1;
            if (!t->open) {
                w->open_st = OCS_ERR_INVALID;
                snprintf(w->open_msg, sizeof w->open_msg, "no way to open backend %s", t->name);
            } else {
                w->open_st = t->open(t->arg, &w->be, &err);
                snprintf(w->open_msg, sizeof w->open_msg, "%s", err.msg);
            }
        }
        if (w->open_st == OCS_ERR_UNSUPPORTED) {
            set_result(r, OCS_SKIPPED, "", "backend %s is not present: %s", t->name, w->open_msg);
            goto done;
        }
        if (w->open_st != OCS_OK) {
            set_result(r, OCS_ERROR, "BackendError", "cannot open backend %s: %s", t->name, w->open_msg);
            goto done;
        }
    }
    if (prepare_case(c, &p, r))
        goto done;
    const ocs_model *model = p.model;
    if (p.expect_error && t->kind == OCS_TARGET_EXPANDED) {
        set_result(r, OCS_SKIPPED, "", "not applicable: the function body defines valid inputs only");
        goto done;
    }
    if (c->model && t->kind == OCS_TARGET_EXPANDED) {
        set_result(r, OCS_SKIPPED, "", "not applicable: the case's model is built whole, with no expanded form");
        goto done;
    }
    if (t->kind == OCS_TARGET_EXPANDED) {
        if (!(expanded = expanded_model(c, &p, r)))
            goto done;
        model = expanded;
    }
    ocs_tolerance tol;
    effective_tolerance(c, t, opt, &tol);

    int *inplace = calloc(p.n_out + 1, sizeof *inplace);
    ocs_value **got = calloc(p.n_out + 1, sizeof *got);
    if (!inplace || !got) {
        set_result(r, OCS_ERROR, "RunnerError", "out of memory");
        free(inplace);
        free(got);
        goto done;
    }
    r->outcome = OCS_PASS;
    for (size_t s = 0; s < p.n_sets && r->outcome == OCS_PASS; s++) {
        dataset *d = &p.sets[s];
        char label[96] = "";
        if (p.n_sets > 1)
            snprintf(label, sizeof label, "%s: ", d->name);
        guard_ctx gc;
        memset(&gc, 0, sizeof gc);
        memset(inplace, 0, (p.n_out + 1) * sizeof *inplace);
        ocs_backend wrapper = {&gc.ops, &gc};
        ocs_backend *list[1] = {NULL};
        if (t->kind == OCS_TARGET_REFERENCE) {
            list[0] = (ocs_backend *)&ref_backend;
        } else if (t->kind == OCS_TARGET_BACKEND) {
            gc.inner = w->be;
            gc.enabled = t->guard_outputs;
            gc.n_want = p.n_out;
            gc.want_names = (const char *const *)NULL;
            gc.want = d->want;
            gc.inplace = inplace;
            gc.ops = *w->be->ops;
            gc.ops.supports = guard_supports;
            gc.ops.prepare = guard_prepare;
            gc.ops.run = guard_run;
            gc.ops.release = guard_release;
            gc.ops.destroy = NULL;
            gc.ops.bc_compile = NULL;
            gc.ops.bc_compatible = w->be->ops->bc_compatible ? guard_bc_compatible : NULL;
            gc.ops.bc_load = w->be->ops->bc_load ? guard_bc_load : NULL;
            gc.ops.bc_run = w->be->ops->bc_run ? guard_bc_run : NULL;
            gc.ops.bc_unload = w->be->ops->bc_unload ? guard_bc_unload : NULL;
            const char **names = calloc(p.n_out + 1, sizeof *names);
            if (!names) {
                set_result(r, OCS_ERROR, "RunnerError", "out of memory");
                break;
            }
            for (size_t j = 0; j < p.n_out; j++)
                names[j] = model->graph->outputs[j].name;
            gc.want_names = names;
            list[0] = &wrapper;
        }
        /* BackendContext cases test the selection, not the backend's operator coverage: the
           fallback's nodes the backend lacks run on the reference */
        ocs_session_options so = {list, list[0] ? 1 : 0, list[0] && !c->expect_reason[0] ? 1 : 0};
        ocs_session *sess = NULL;
        ocs_err_clear(&err);
        sel_log sl;
        memset(&sl, 0, sizeof sl);
        ocs_bc_options bco = {0, 0, sel_log_line, &sl};
        ocs_status st = ocs_session_new_bc(model, list[0] ? &so : NULL, &bco, &sess, &err);
        int check_sel = st == OCS_OK && c->expect_reason[0] && t->kind == OCS_TARGET_BACKEND &&
                        !strcmp(t->name, c->expect_backend);
        char sel_problem[sizeof r->message] = "";
        if (check_sel)
            check_selection(c, sess, &sl, sel_problem, sizeof sel_problem);
        if (st == OCS_OK)
            st = ocs_session_run_values(sess, d->n_in, d->names, (const ocs_value *const *)d->in,
                                        model->graph->n_outputs, got, &err);
        ocs_session_free(sess);
        r->guarded = gc.enabled;
        if (p.expect_error) {
            if (st == OCS_OK)
                set_result(r, OCS_FAIL, "AcceptedInvalidInput",
                           "returned outputs for an input the reference rejects (%s)", p.ref_error);
            else if (st == OCS_ERR_UNSUPPORTED)
                set_result(r, OCS_SKIPPED, "", "not supported: %s", err.msg);
            else
                snprintf(r->message, sizeof r->message, "rejected as expected: %s", err.msg);
        } else if (st != OCS_OK)
            run_failed(r, st, err.msg);
        else if (gc.violation[0])
            set_result(r, OCS_FAIL, "OutOfBoundsWrite", "%s%s", label, gc.violation);
        else if (sel_problem[0])
            set_result(r, OCS_FAIL, "SelectionMismatch", "%s%s", label, sel_problem);
        else if (!compare_set(model, d, p.n_out, got, &tol, inplace, label, r) && check_sel)
            snprintf(r->message, sizeof r->message, "selection: %s", sl.text);
        for (size_t j = 0; j < p.n_out; j++) {
            ocs_value_free(got[j]);
            got[j] = NULL;
        }
        free((void *)gc.want_names);
    }
    free(inplace);
    free(got);
done:
    apply_xfail(c, t, r);
    ocs_model_free(expanded);
    prepared_free(&p);
    r->time_s = now_s() - start;
    if (t->kind == OCS_TARGET_BACKEND && w->be && w->be->ops->describe && !r->describe[0]) {
        const char *desc = w->be->ops->describe(w->be->ctx);
        snprintf(r->describe, sizeof r->describe, "%s", desc ? desc : "");
    }
}

/* ---- worker processes and their messages ----------------------------------------------------- */

enum { MSG_RESULT = 1, MSG_DEADLINE = 2 };

typedef struct wire {
    int kind;
    size_t case_index;
    double seconds;
    ocs_result r;
} wire;

/* Where a worker's results go: a pipe (fd >= 0) or straight into the table. */
typedef struct sink {
    int fd;
    ocs_result *results;
    unsigned char *reported;
    size_t row;                      /* target * n_cases */
    const ocs_case *cases;
    const ocs_target *target;
    const ocs_runner_options *opt;
} sink;

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(3);   /* the runner is gone */
        p += n;
        len -= (size_t)n;
    }
}

static void emit(sink *s, size_t case_index, const ocs_result *r)
{
    if (s->fd >= 0) {
        wire m;
        memset(&m, 0, sizeof m);
        m.kind = MSG_RESULT;
        m.case_index = case_index;
        m.r = *r;
        write_all(s->fd, &m, sizeof m);
        return;
    }
    s->results[s->row + case_index] = *r;
    s->reported[s->row + case_index] = 1;
    if (s->opt->on_result)
        s->opt->on_result(s->opt->user, &s->cases[case_index], s->target, r);
}

static void emit_deadline(sink *s, double seconds)
{
    if (s->fd < 0)
        return;
    wire m;
    memset(&m, 0, sizeof m);
    m.kind = MSG_DEADLINE;
    m.seconds = seconds;
    write_all(s->fd, &m, sizeof m);
}

/* ---- command targets (protocol v1, see the top of this file) --------------------------------- */

static void read_text(const char *path, char *buf, size_t len, int tail)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    if (tail) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        if (size > (long)len - 1)
            fseek(f, size - (long)len + 1, SEEK_SET);
        else
            fseek(f, 0, SEEK_SET);
    }
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* one line: newlines become "; ", trailing blanks go */
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
            buf[i] = ' ';
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
}

typedef struct cmd_run {
    int exit_code;        /* -1 unless it exited */
    char status[160];     /* how the program ended */
    char log_tail[400];
    int timed_out;
    double seconds;
} cmd_run;

static void run_program(const char *program, const char *in, const char *out, const char *log, double limit,
                        cmd_run *cr)
{
    char script[1200];
    snprintf(script, sizeof script, "%s \"$@\"", program);
    double start = now_s();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(cr->status, sizeof cr->status, "could not start: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
            close(devnull);
        }
        execl("/bin/sh", "sh", "-c", script, "sh", in, out, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(cr->status, sizeof cr->status, "lost: %s", strerror(errno));
            break;
        }
        if (now_s() - start > limit) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            cr->timed_out = 1;
            snprintf(cr->status, sizeof cr->status, "timed out after %.0f s and was killed", limit);
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr->seconds = now_s() - start;
    cr->exit_code = -1;
    if (!cr->status[0]) {
        if (WIFEXITED(status))
            cr->exit_code = WEXITSTATUS(status);
        if (WIFEXITED(status))
            snprintf(cr->status, sizeof cr->status, "exited with status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            snprintf(cr->status, sizeof cr->status, "was killed by signal %d (%s)", WTERMSIG(status),
                     strsignal(WTERMSIG(status)));
    }
    kill(-pid, SIGKILL);   /* anything it left behind in its group */
    read_text(log, cr->log_tail, sizeof cr->log_tail, 1);
}

static void command_outcome(const ocs_case *c, const ocs_target *t, const prepared *p, const char *out,
                            const cmd_run *cr, const ocs_runner_options *opt, ocs_result *r)
{
    char base[4200], path[4400], text[1200];
    runner_pathf(base, sizeof base, "%s/%s", out, c->name);
    if (!runner_pathf(path, sizeof path, "%s/SKIP", base) && runner_is_file(path)) {
        read_text(path, text, sizeof text, 0);
        set_result(r, OCS_SKIPPED, "", "%s: %s", t->name, text[0] ? text : "skipped (no reason given)");
        return;
    }
    if (!runner_pathf(path, sizeof path, "%s/ERROR", base) && runner_is_file(path)) {
        read_text(path, text, sizeof text, 0);
        set_result(r, OCS_ERROR, "CommandError", "%s: %s", t->name, text[0] ? text : "error (no text given)");
        return;
    }
    struct stat st;
    if (cr->exit_code == 77 && stat(base, &st) != 0) {
        /* exit status 77 with nothing written: the backend is not available here */
        set_result(r, OCS_SKIPPED, "", "%s is not available here: %s", t->name,
                   cr->log_tail[0] ? cr->log_tail : "the program exited with status 77");
        return;
    }
    ocs_tolerance tol;
    effective_tolerance(c, t, opt, &tol);
    const ocs_graph *g = p->model->graph;
    r->outcome = OCS_PASS;
    for (size_t s = 0; s < p->n_sets && r->outcome == OCS_PASS; s++) {
        const dataset *d = &p->sets[s];
        ocs_value **got = calloc(p->n_out + 1, sizeof *got);
        if (!got) {
            set_result(r, OCS_ERROR, "RunnerError", "out of memory");
            return;
        }
        for (size_t j = 0; j < p->n_out && r->outcome == OCS_PASS; j++) {
            if (!d->want[j])
                continue;
            runner_pathf(path, sizeof path, "%s/%s/output_%zu.pb", base, d->name, j);
            if (!runner_is_file(path)) {
                set_result(r, OCS_ERROR, cr->timed_out ? "Timeout" : "MissingOutput",
                           "%s wrote no %s/%s/output_%zu.pb (the program %s; log: %s)", t->name, c->name, d->name, j,
                           cr->status, cr->log_tail[0] ? cr->log_tail : "empty");
                break;
            }
            ocs_err err = {{0}};
            if (ocs_value_load_file(path, &g->outputs[j].type, &got[j], &err) != OCS_OK)
                set_result(r, OCS_ERROR, "BadOutput", "%s: %s", t->name, err.msg);
        }
        if (r->outcome == OCS_PASS) {
            char label[96] = "";
            if (p->n_sets > 1)
                snprintf(label, sizeof label, "%s: ", d->name);
            compare_set(p->model, d, p->n_out, got, &tol, NULL, label, r);
        }
        for (size_t j = 0; j < p->n_out; j++)
            ocs_value_free(got[j]);
        free(got);
    }
}

static void run_command_unit(const ocs_case *cases, size_t first, size_t end, const ocs_target *t,
                             const ocs_runner_options *opt, sink *s)
{
    size_t n = end - first;
    ocs_result r;
    char base[4096], in[4200], out[4200], log[4200];
    ocs_err err = {{0}};
    prepared *p = calloc(n + 1, sizeof *p);
    unsigned char *ready = calloc(n + 1, 1);
    double *started = calloc(n + 1, sizeof *started);
    if (!p || !ready || !started || runner_pathf(base, sizeof base, "%s/ocs-cmd-XXXXXX", ocs_temp_base()) ||
        !mkdtemp(base)) {
        for (size_t k = 0; k < n; k++) {
            memset(&r, 0, sizeof r);
            set_result(&r, OCS_ERROR, "RunnerError", "cannot prepare a folder for %s: %s", t->name, strerror(errno));
            emit(s, first + k, &r);
        }
        free(p);
        free(ready);
        free(started);
        return;
    }
    runner_pathf(in, sizeof in, "%s/in", base);
    runner_pathf(out, sizeof out, "%s/out", base);
    runner_pathf(log, sizeof log, "%s/log.txt", base);
    mkdir(in, 0777);
    mkdir(out, 0777);

    /* preparing the tree runs the reference on every case: allow for it */
    emit_deadline(s, opt->timeout_s * (double)n + 30);
    size_t n_ready = 0;
    for (size_t k = 0; k < n; k++) {
        const ocs_case *c = &cases[first + k];
        memset(&r, 0, sizeof r);
        started[k] = now_s();
        if (prepare_case(c, &p[k], &r)) {
            r.time_s = now_s() - started[k];
            apply_xfail(c, t, &r);
            emit(s, first + k, &r);
            continue;
        }
        if (c->model) {
            set_result(&r, OCS_SKIPPED, "", "cases with a built model are not part of the exported layout");
            r.time_s = now_s() - started[k];
            emit(s, first + k, &r);
            continue;
        }
        if (p[k].expect_error) {
            set_result(&r, OCS_SKIPPED, "", "invalid-input cases are not part of the exported layout");
            r.time_s = now_s() - started[k];
            emit(s, first + k, &r);
            continue;
        }
        ocs_status st = OCS_OK;
        if (c->dir) {
            char abs[PATH_MAX], link[4400];
            if (!realpath(c->dir, abs) || runner_pathf(link, sizeof link, "%s/%s", in, c->name) || symlink(abs, link))
                st = ocs_fail(&err, OCS_ERR_IO, "cannot link %s into %s: %s", c->dir, in, strerror(errno));
        } else {
            st = ocs_case_export(c, &p[k].ci, in, NULL, &err);
        }
        if (st != OCS_OK) {
            set_result(&r, OCS_ERROR, "RunnerError", "%s", err.msg);
            r.time_s = now_s() - started[k];
            emit(s, first + k, &r);
            continue;
        }
        ready[k] = 1;
        n_ready++;
    }
    if (n_ready) {
        double limit = opt->command_timeout_s > 0 ? opt->command_timeout_s : opt->timeout_s * (double)n_ready;
        emit_deadline(s, limit + 30);
        cmd_run cr;
        memset(&cr, 0, sizeof cr);
        run_program(t->arg, in, out, log, limit, &cr);
        for (size_t k = 0; k < n; k++) {
            if (!ready[k])
                continue;
            const ocs_case *c = &cases[first + k];
            memset(&r, 0, sizeof r);
            command_outcome(c, t, &p[k], out, &cr, opt, &r);
            r.time_s = cr.seconds / (double)n_ready;
            apply_xfail(c, t, &r);
            emit(s, first + k, &r);
        }
    }
    for (size_t k = 0; k < n; k++)
        prepared_free(&p[k]);
    free(p);
    free(ready);
    free(started);
    if (!getenv("OCS_KEEP_TMP"))
        ocs_path_remove_tree(base, NULL);
}

/* Runs cases [first, end) of target t, reporting through s. */
static void run_unit(const ocs_case *cases, size_t first, size_t end, const ocs_target *t,
                     const ocs_runner_options *opt, sink *s)
{
    if (t->kind == OCS_TARGET_COMMAND) {
        run_command_unit(cases, first, end, t, opt, s);
        return;
    }
    worker w;
    memset(&w, 0, sizeof w);
    w.t = t;
    for (size_t k = first; k < end; k++) {
        ocs_result r;
        run_item(&cases[k], &w, opt, &r);
        emit(s, k, &r);
    }
    worker_close(&w);
}

/* ---- the scheduler in the parent ------------------------------------------------------------- */

typedef enum { UNIT_PENDING, UNIT_RUNNING, UNIT_DONE } unit_state;

typedef struct unit {
    size_t target;
    size_t first, end;           /* cases [first, end) */
    size_t next;                 /* first case not yet reported */
    unit_state state;
    pid_t pid;
    int fd;
    double deadline;
    double item_start;
    size_t have;
    wire msg;                    /* the message being read */
} unit;

typedef struct sched {
    const ocs_case *cases;
    size_t n_cases;
    const ocs_target *targets;
    const ocs_runner_options *opt;
    ocs_result *results;
    unsigned char *reported;
} sched;

static void describe_status(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "crashed with signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d before reporting", WEXITSTATUS(status));
    else
        snprintf(buf, len, "ended abnormally (status 0x%x)", (unsigned)status);
}

static void record(sched *sc, unit *u, size_t case_index, const ocs_result *r)
{
    size_t slot = u->target * sc->n_cases + case_index;
    sc->results[slot] = *r;
    sc->reported[slot] = 1;
    if (sc->opt->on_result)
        sc->opt->on_result(sc->opt->user, &sc->cases[case_index], &sc->targets[u->target], &sc->results[slot]);
}

/* The first case of u not yet reported, from u->next on. */
static size_t first_unreported(const sched *sc, const unit *u)
{
    size_t k = u->next;
    while (k < u->end && sc->reported[u->target * sc->n_cases + k])
        k++;
    return k;
}

static ocs_status start_unit(sched *sc, unit *u, ocs_err *err)
{
    int fds[2];
    if (pipe(fds) != 0)
        return ocs_fail(err, OCS_ERR_RUNTIME, "cannot create a pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return ocs_fail(err, OCS_ERR_RUNTIME, "cannot fork a worker: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        setpgid(0, 0);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        signal(SIGPIPE, SIG_DFL);
        sink s = {fds[1], NULL, NULL, 0, sc->cases, &sc->targets[u->target], sc->opt};
        run_unit(sc->cases, u->next, u->end, &sc->targets[u->target], sc->opt, &s);
        close(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    setpgid(pid, pid);
    u->pid = pid;
    u->fd = fds[0];
    u->state = UNIT_RUNNING;
    u->have = 0;
    u->item_start = now_s();
    u->deadline = u->item_start + sc->opt->timeout_s;
    return OCS_OK;
}

/* The worker of u ended (EOF, crash or timeout): account for what it did not report. */
static void unit_ended(sched *sc, unit *u, const char *why, const char *type)
{
    close(u->fd);
    u->fd = -1;
    u->pid = 0;
    size_t k = first_unreported(sc, u);
    const ocs_target *t = &sc->targets[u->target];
    if (k >= u->end) {
        u->state = UNIT_DONE;
        return;
    }
    ocs_result r;
    memset(&r, 0, sizeof r);
    r.time_s = now_s() - u->item_start;
    if (t->kind == OCS_TARGET_COMMAND) {
        /* a command worker does not restart: every case it still owed is an error */
        for (; k < u->end; k++) {
            if (sc->reported[u->target * sc->n_cases + k])
                continue;
            memset(&r, 0, sizeof r);
            set_result(&r, OCS_ERROR, type, "the worker running %s %s", t->name, why);
            apply_xfail(&sc->cases[k], t, &r);
            record(sc, u, k, &r);
        }
        u->state = UNIT_DONE;
        return;
    }
    set_result(&r, OCS_ERROR, type, "the worker %s", why);
    apply_xfail(&sc->cases[k], t, &r);
    record(sc, u, k, &r);
    u->next = k + 1;
    u->next = first_unreported(sc, u);
    u->state = u->next < u->end ? UNIT_PENDING : UNIT_DONE;
}

static void unit_read(sched *sc, unit *u)
{
    for (;;) {
        ssize_t n = read(u->fd, (char *)&u->msg + u->have, sizeof u->msg - u->have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            int status = 0;
            waitpid(u->pid, &status, 0);
            char why[200];
            describe_status(status, why, sizeof why);
            unit_ended(sc, u, why, "Crash");
            return;
        }
        u->have += (size_t)n;
        if (u->have < sizeof u->msg)
            return;   /* wait for the rest */
        u->have = 0;
        double now = now_s();
        if (u->msg.kind == MSG_DEADLINE) {
            u->deadline = now + u->msg.seconds;
        } else if (u->msg.kind == MSG_RESULT && u->msg.case_index >= u->first && u->msg.case_index < u->end) {
            record(sc, u, u->msg.case_index, &u->msg.r);
            if (u->msg.case_index == u->next)
                u->next = first_unreported(sc, u);
            u->item_start = now;
            u->deadline = now + sc->opt->timeout_s;
        }
        return;
    }
}

static void unit_timeout(sched *sc, unit *u, double limit)
{
    kill(-u->pid, SIGKILL);
    kill(u->pid, SIGKILL);
    int status;
    waitpid(u->pid, &status, 0);
    char why[160];
    snprintf(why, sizeof why, "timed out after %.3g s and was killed", limit);
    unit_ended(sc, u, why, "Timeout");
}

ocs_status ocs_run_cases(const ocs_case *cases, size_t n_cases, const ocs_target *targets, size_t n_targets,
                         const ocs_runner_options *opt, ocs_result **results, ocs_err *err)
{
    *results = NULL;
    size_t total = n_cases * n_targets;
    ocs_result *res = calloc(total + 1, sizeof *res);
    unsigned char *reported = calloc(total + 1, 1);
    int jobs = opt->jobs > 0 ? opt->jobs : 1;
    size_t chunks = n_cases == 0 ? 0 : (size_t)jobs < n_cases ? (size_t)jobs : n_cases;
    unit *units = calloc(n_targets * chunks + 1, sizeof *units);
    if (!res || !reported || !units) {
        free(res);
        free(reported);
        free(units);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory for %zu results", total);
    }
    sched sc = {cases, n_cases, targets, opt, res, reported};

    size_t n_units = 0;
    for (size_t t = 0; t < n_targets; t++)
        for (size_t k = 0; k < chunks; k++) {
            unit *u = &units[n_units++];
            u->target = t;
            u->first = n_cases * k / chunks;
            u->end = n_cases * (k + 1) / chunks;
            u->next = u->first;
            u->fd = -1;
            u->state = u->first < u->end ? UNIT_PENDING : UNIT_DONE;
        }

    ocs_status st = OCS_OK;
    if (opt->no_fork) {
        for (size_t i = 0; i < n_units; i++) {
            unit *u = &units[i];
            if (u->state == UNIT_DONE)
                continue;
            sink s = {-1, res, reported, u->target * n_cases, cases, &targets[u->target], opt};
            run_unit(cases, u->first, u->end, &targets[u->target], opt, &s);
            u->state = UNIT_DONE;
        }
    } else {
        struct pollfd *pfd = calloc(n_units + 1, sizeof *pfd);
        unit **polled = calloc(n_units + 1, sizeof *polled);
        if (!pfd || !polled)
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory for %zu workers", n_units);
        while (st == OCS_OK) {
            int running = 0, pending = 0;
            for (size_t i = 0; i < n_units; i++) {
                running += units[i].state == UNIT_RUNNING;
                pending += units[i].state == UNIT_PENDING;
            }
            for (size_t i = 0; i < n_units && running < jobs && pending > 0 && st == OCS_OK; i++)
                if (units[i].state == UNIT_PENDING) {
                    st = start_unit(&sc, &units[i], err);
                    running++;
                    pending--;
                }
            if (st != OCS_OK || running == 0)
                break;
            size_t np = 0;
            double now = now_s(), wait = 1.0;
            for (size_t i = 0; i < n_units; i++) {
                if (units[i].state != UNIT_RUNNING)
                    continue;
                pfd[np].fd = units[i].fd;
                pfd[np].events = POLLIN;
                pfd[np].revents = 0;
                polled[np++] = &units[i];
                if (units[i].deadline - now < wait)
                    wait = units[i].deadline - now;
            }
            int ms = wait <= 0 ? 0 : (int)(wait * 1000) + 1;
            int rc = poll(pfd, np, ms);
            if (rc < 0 && errno != EINTR) {
                st = ocs_fail(err, OCS_ERR_RUNTIME, "poll: %s", strerror(errno));
                break;
            }
            for (size_t i = 0; rc > 0 && i < np; i++)
                if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                    unit_read(&sc, polled[i]);
            now = now_s();
            for (size_t i = 0; i < np; i++) {
                unit *u = polled[i];
                if (u->state == UNIT_RUNNING && now > u->deadline)
                    unit_timeout(&sc, u, u->deadline - u->item_start);
            }
        }
        /* on a runner failure, stop what still runs */
        for (size_t i = 0; i < n_units; i++)
            if (units[i].state == UNIT_RUNNING) {
                kill(-units[i].pid, SIGKILL);
                kill(units[i].pid, SIGKILL);
                waitpid(units[i].pid, NULL, 0);
                close(units[i].fd);
            }
        free(pfd);
        free(polled);
    }
    free(units);
    free(reported);
    if (st != OCS_OK) {
        free(res);
        return st;
    }
    *results = res;
    return OCS_OK;
}

/* ---- test folders ------------------------------------------------------------------------------ */

static void snake_case(const char *name, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; name[i] && o + 2 < len; i++) {
        char ch = name[i];
        int upper = ch >= 'A' && ch <= 'Z';
        if (upper && i > 0) {
            char prev = name[i - 1], next = name[i + 1];
            int prev_lower = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
            int next_lower = next >= 'a' && next <= 'z';
            int prev_upper = prev >= 'A' && prev <= 'Z';
            if (prev_lower || (prev_upper && next_lower))
                buf[o++] = '_';
        }
        buf[o++] = upper ? (char)(ch - 'A' + 'a') : ch;
    }
    buf[o] = '\0';
}

static void lower_case(const char *name, char *buf, size_t len)
{
    size_t o = 0;
    for (; name[o] && o + 1 < len; o++)
        buf[o] = name[o] >= 'A' && name[o] <= 'Z' ? (char)(name[o] - 'A' + 'a') : name[o];
    buf[o] = '\0';
}

/* Length of form as a prefix of rest ending at '_' or the end; 0 if not a prefix. */
static size_t prefix_len(const char *rest, const char *form)
{
    size_t n = strlen(form);
    if (n == 0 || strncmp(rest, form, n) || (rest[n] && rest[n] != '_'))
        return 0;
    return n;
}

const char *ocs_test_dir_op(const char *name, const ocs_model *m, char *buf, size_t len)
{
    if (m && m->graph && m->graph->n_nodes == 1) {
        snprintf(buf, len, "%s", m->graph->nodes[0].op_type);
        return buf;
    }
    const char *rest = !strncmp(name, "test_", 5) ? name + 5 : name;
    size_t best = 0;
    /* fallback: the first word of the name, for operators the suite does not know */
    size_t word = strcspn(rest, "_");
    if (word > 0 && word < 64)
        snprintf(buf, len, "%.*s", (int)word, rest);
    else
        snprintf(buf, len, "graph");
    char form[128];
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t i = 0;; i++) {
            const char *op = NULL;
            if (pass == 0) {
                const ocs_op_def *d = ocs_op_at(i);
                if (!d)
                    break;
                op = d->name;
            } else {
                const ocs_schema *s = ocs_schema_at(i);
                if (!s)
                    break;
                op = s->name;
            }
            for (int f = 0; f < 2; f++) {
                (f ? lower_case : snake_case)(op, form, sizeof form);
                size_t n = prefix_len(rest, form);
                if (n > best) {
                    best = n;
                    snprintf(buf, len, "%s", op);
                }
            }
        }
    return buf;
}
