/*
 * conformance/case.c - building, seeding, materialising and exporting
 * conformance cases (see case.h), plus the few file helpers the runner
 * and the exporter share.
 */
#include "case.h"
#include "ort_variant.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ocs/build.h"
#include "ocs/exec.h"
#include "ocs/schema.h"

/* ---- random numbers -------------------------------------------------------------------- */

void ocs_rng_init(ocs_rng *r, uint64_t seed)
{
    r->state = seed;
}

uint64_t ocs_rng_next(ocs_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double ocs_rng_uniform(ocs_rng *r)
{
    return (double)(ocs_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

int64_t ocs_rng_int(ocs_rng *r, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;   /* 0 means the full 64-bit range */
    uint64_t v = ocs_rng_next(r);
    return (int64_t)((uint64_t)lo + (span ? v % span : v));
}

uint64_t ocs_hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t ocs_case_seed(uint64_t run_seed, const char *name)
{
    ocs_rng r;
    ocs_rng_init(&r, run_seed ^ ocs_hash_str(name));
    return ocs_rng_next(&r);
}

int ocs_case_shard(const char *name, int n)
{
    return n > 1 ? (int)(ocs_hash_str(name) % (uint64_t)n) : 0;
}

/* ---- case lists ------------------------------------------------------------------------ */

void ocs_case_list_init(ocs_case_list *l)
{
    memset(l, 0, sizeof *l);
}

void ocs_case_clear(ocs_case *c)
{
    for (size_t i = 0; i < c->n_inputs; i++) {
        free(c->inputs[i].values);
        free(c->inputs[i].ints);
    }
    for (size_t i = 0; i < c->n_attrs; i++) {
        free(c->attrs[i].s);
        free(c->attrs[i].ints);
        free(c->attrs[i].floats);
    }
    free(c->xfail);
    free(c->xfail_backends);
    free(c->expect_error);
    free(c->dir);
    c->n_inputs = c->n_attrs = 0;
    c->xfail = c->xfail_backends = c->expect_error = c->dir = NULL;
}

void ocs_case_list_free(ocs_case_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        ocs_case_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static ocs_case *list_append(ocs_case_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ocs_case *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) {
            l->oom = 1;
            return NULL;
        }
        l->items = grown;
        l->cap = cap;
    }
    ocs_case *c = &l->items[l->n++];
    memset(c, 0, sizeof *c);
    c->rtol = c->atol = c->max_ulp = c->max_nmse = -1;
    return c;
}

static void case_error(ocs_case *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void case_error(ocs_case *c, const char *fmt, ...)
{
    if (c->error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
}

static void copy_str(char *dst, size_t cap, const char *src, ocs_case *c, const char *what)
{
    size_t n = strlen(src);
    if (n >= cap) {
        case_error(c, "%s '%s' is longer than %zu bytes", what, src, cap - 1);
        n = cap - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

ocs_case *ocs_case_add(ocs_case_list *l, const char *domain, const char *op, int64_t opset, const char *fmt, ...)
{
    ocs_case *c = list_append(l);
    if (!c)
        return NULL;
    char suffix[OCS_CASE_NAME_MAX - 5];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(suffix, sizeof suffix, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof suffix)
        case_error(c, "case name 'test_%s...' is too long", suffix);
    memcpy(c->name, "test_", 5);
    memcpy(c->name + 5, suffix, strlen(suffix) + 1);
    copy_str(c->op, sizeof c->op, op, c, "operator");
    copy_str(c->domain, sizeof c->domain, domain, c, "domain");
    c->opset = opset;
    return c;
}

ocs_case *ocs_case_add_dir(ocs_case_list *l, const char *name, const char *op, const char *dir)
{
    ocs_case *c = list_append(l);
    if (!c)
        return NULL;
    copy_str(c->name, sizeof c->name, name, c, "test name");
    copy_str(c->op, sizeof c->op, op, c, "operator");
    c->dir = strdup(dir);
    if (!c->dir)
        l->oom = 1;
    return c;
}

static int cmp_case_names(const void *a, const void *b)
{
    const ocs_case *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

ocs_status ocs_case_list_finish(ocs_case_list *l, ocs_err *err)
{
    if (l->oom)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory building the cases");
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].error[0])
            return ocs_fail(err, OCS_ERR_INVALID, "case %s: %s", l->items[i].name, l->items[i].error);
        /* names are folder names and appear in regular expressions: keep them plain */
        const char *bad = l->items[i].name + strspn(l->items[i].name,
                                                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
        if (*bad || !l->items[i].name[0])
            return ocs_fail(err, OCS_ERR_INVALID, "case name '%s' has the character '%c'; use letters, digits, "
                            "'_' and '-'", l->items[i].name, *bad);
    }
    if (l->n < 2)
        return OCS_OK;
    const ocs_case **sorted = malloc(l->n * sizeof *sorted);
    if (!sorted)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory checking %zu case names", l->n);
    for (size_t i = 0; i < l->n; i++)
        sorted[i] = &l->items[i];
    qsort(sorted, l->n, sizeof *sorted, cmp_case_names);
    ocs_status st = OCS_OK;
    for (size_t i = 1; i < l->n && st == OCS_OK; i++)
        if (!strcmp(sorted[i]->name, sorted[i - 1]->name))
            st = ocs_fail(err, OCS_ERR_INVALID, "two cases are called %s (ops %s and %s)", sorted[i]->name,
                          sorted[i - 1]->op, sorted[i]->op);
    free(sorted);
    return st;
}

void ocs_case_list_seed(ocs_case_list *l, uint64_t run_seed)
{
    for (size_t i = 0; i < l->n; i++)
        l->items[i].seed = ocs_case_seed(run_seed, l->items[i].name);
}

/* ---- setters ----------------------------------------------------------------------------- */

static ocs_case_input *new_input(ocs_case *c, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                                 size_t *numel)
{
    if (!c)
        return NULL;
    if (c->n_inputs >= OCS_CASE_MAX_INPUTS) {
        case_error(c, "more than %d inputs", OCS_CASE_MAX_INPUTS);
        return NULL;
    }
    if (rank < 0 || rank > OCS_MAX_RANK) {
        case_error(c, "input '%s' has rank %d", name, rank);
        return NULL;
    }
    ocs_err err;
    if (ocs_shape_numel(rank, dims, numel, &err) != OCS_OK) {
        case_error(c, "input '%s': %s", name, err.msg);
        return NULL;
    }
    ocs_case_input *in = &c->inputs[c->n_inputs++];
    memset(in, 0, sizeof *in);
    copy_str(in->name, sizeof in->name, name, c, "input name");
    in->dtype = t;
    in->rank = rank;
    if (rank)
        memcpy(in->dims, dims, (size_t)rank * sizeof *dims);
    return in;
}

void ocs_case_input_uniform(ocs_case *c, const char *name, ocs_dtype t, int rank, const int64_t *dims, double lo,
                            double hi)
{
    size_t n;
    ocs_case_input *in = new_input(c, name, t, rank, dims, &n);
    if (!in)
        return;
    in->fill = OCS_FILL_UNIFORM;
    in->lo = lo;
    in->hi = hi;
}

void ocs_case_input_values(ocs_case *c, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                           const double *values)
{
    size_t n;
    ocs_case_input *in = new_input(c, name, t, rank, dims, &n);
    if (!in)
        return;
    in->fill = OCS_FILL_VALUES;
    in->n_values = n;
    in->values = malloc((n ? n : 1) * sizeof *in->values);
    if (!in->values) {
        case_error(c, "out of memory");
        return;
    }
    if (n)
        memcpy(in->values, values, n * sizeof *values);
}

void ocs_case_input_ints(ocs_case *c, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                         const int64_t *values)
{
    size_t n;
    ocs_case_input *in = new_input(c, name, t, rank, dims, &n);
    if (!in)
        return;
    in->fill = OCS_FILL_INTS;
    in->n_values = n;
    in->ints = malloc((n ? n : 1) * sizeof *in->ints);
    if (!in->ints) {
        case_error(c, "out of memory");
        return;
    }
    if (n)
        memcpy(in->ints, values, n * sizeof *values);
}

void ocs_case_input_permutation(ocs_case *c, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                                int64_t lo, int64_t hi)
{
    size_t n;
    ocs_case_input *in = new_input(c, name, t, rank, dims, &n);
    if (!in)
        return;
    in->fill = OCS_FILL_PERMUTATION;
    in->lo = (double)lo;
    in->hi = (double)hi;
    if (hi < lo || (uint64_t)(hi - lo) + 1 < n || hi - lo >= (1 << 22))
        case_error(c, "input '%s': cannot draw %zu distinct values from [%lld, %lld]", name, n, (long long)lo,
                   (long long)hi);
}

void ocs_case_input_absent(ocs_case *c)
{
    if (!c)
        return;
    if (c->n_inputs >= OCS_CASE_MAX_INPUTS) {
        case_error(c, "more than %d inputs", OCS_CASE_MAX_INPUTS);
        return;
    }
    memset(&c->inputs[c->n_inputs++], 0, sizeof c->inputs[0]);
}

void ocs_case_output(ocs_case *c, const char *name, ocs_dtype t)
{
    if (!c)
        return;
    if (c->n_outputs >= OCS_CASE_MAX_OUTPUTS) {
        case_error(c, "more than %d outputs", OCS_CASE_MAX_OUTPUTS);
        return;
    }
    copy_str(c->outputs[c->n_outputs], sizeof c->outputs[0], name, c, "output name");
    c->output_types[c->n_outputs++] = t;
}

static ocs_case_attr *new_attr(ocs_case *c, const char *name, ocs_attr_type type)
{
    if (!c)
        return NULL;
    if (c->n_attrs >= OCS_CASE_MAX_ATTRS) {
        case_error(c, "more than %d attributes", OCS_CASE_MAX_ATTRS);
        return NULL;
    }
    ocs_case_attr *a = &c->attrs[c->n_attrs++];
    memset(a, 0, sizeof *a);
    copy_str(a->name, sizeof a->name, name, c, "attribute name");
    a->type = type;
    return a;
}

void ocs_case_attr_int(ocs_case *c, const char *name, int64_t v)
{
    ocs_case_attr *a = new_attr(c, name, OCS_ATTR_INT);
    if (a)
        a->i = v;
}

void ocs_case_attr_float(ocs_case *c, const char *name, float v)
{
    ocs_case_attr *a = new_attr(c, name, OCS_ATTR_FLOAT);
    if (a)
        a->f = v;
}

void ocs_case_attr_string(ocs_case *c, const char *name, const char *v)
{
    ocs_case_attr *a = new_attr(c, name, OCS_ATTR_STRING);
    if (a && !(a->s = strdup(v)))
        case_error(c, "out of memory");
}

void ocs_case_attr_ints(ocs_case *c, const char *name, size_t n, const int64_t *v)
{
    ocs_case_attr *a = new_attr(c, name, OCS_ATTR_INTS);
    if (!a)
        return;
    a->n = n;
    if (!(a->ints = malloc((n ? n : 1) * sizeof *v))) {
        case_error(c, "out of memory");
        return;
    }
    if (n)
        memcpy(a->ints, v, n * sizeof *v);
}

void ocs_case_attr_floats(ocs_case *c, const char *name, size_t n, const float *v)
{
    ocs_case_attr *a = new_attr(c, name, OCS_ATTR_FLOATS);
    if (!a)
        return;
    a->n = n;
    if (!(a->floats = malloc((n ? n : 1) * sizeof *v))) {
        case_error(c, "out of memory");
        return;
    }
    if (n)
        memcpy(a->floats, v, n * sizeof *v);
}

void ocs_case_attr_graph(ocs_case *c, const char *name, ocs_case_graph_fn fn, int arg)
{
    ocs_case_attr *a = new_attr(c, name, OCS_ATTR_GRAPH);
    if (!a)
        return;
    a->graph = fn;
    a->graph_arg = arg;
}

void ocs_case_tolerance(ocs_case *c, double rtol, double atol)
{
    if (!c)
        return;
    c->rtol = rtol;
    c->atol = atol;
}

void ocs_case_xfail(ocs_case *c, const char *backends, const char *reason)
{
    if (!c)
        return;
    free(c->xfail);
    free(c->xfail_backends);
    c->xfail = strdup(reason);
    c->xfail_backends = backends ? strdup(backends) : NULL;
    if (!c->xfail || (backends && !c->xfail_backends))
        case_error(c, "out of memory");
}

void ocs_case_expect_error(ocs_case *c, const char *message)
{
    if (!c)
        return;
    free(c->expect_error);
    if (!(c->expect_error = strdup(message ? message : "")))
        case_error(c, "out of memory");
}

void ocs_case_set_model(ocs_case *c, ocs_case_model_fn fn, int arg)
{
    if (!c)
        return;
    c->model = fn;
    c->model_arg = arg;
}

void ocs_case_expect_selection(ocs_case *c, const char *backend, const char *reason)
{
    if (!c)
        return;
    copy_str(c->expect_backend, sizeof c->expect_backend, backend, c, "backend");
    copy_str(c->expect_reason, sizeof c->expect_reason, reason, c, "selection reason");
}

const char *ocs_case_xfail_for(const ocs_case *c, const char *backend)
{
    if (!c->xfail)
        return NULL;
    if (!c->xfail_backends)
        return c->xfail;
    size_t len = strlen(backend);
    for (const char *p = c->xfail_backends; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && !strncmp(p, backend, n))
            return c->xfail;
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

/* ---- materialisation ----------------------------------------------------------------------- */

static ocs_status set_attr(const ocs_case *c, const ocs_case_attr *a, ocs_node *n, ocs_err *err)
{
    switch (a->type) {
    case OCS_ATTR_INT: return ocs_node_set_int(n, a->name, a->i, err);
    case OCS_ATTR_FLOAT: return ocs_node_set_float(n, a->name, a->f, err);
    case OCS_ATTR_STRING: return ocs_node_set_string(n, a->name, a->s, err);
    case OCS_ATTR_INTS: return ocs_node_set_ints(n, a->name, a->n, a->ints, err);
    case OCS_ATTR_FLOATS: return ocs_node_set_floats(n, a->name, a->n, a->floats, err);
    case OCS_ATTR_GRAPH: {
        ocs_graph *g = NULL;
        ocs_status st = a->graph(c, a->graph_arg, &g, err);
        if (st != OCS_OK)
            return ocs_err_prefix(err, st, "attribute '%s': ", a->name);
        return ocs_node_set_graph(n, a->name, g, err);
    }
    default:
        return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' has unsupported type %s", a->name,
                        ocs_attr_type_name(a->type));
    }
}

ocs_status ocs_case_model(const ocs_case *c, const ocs_tensor *const *shapes, ocs_model **out, ocs_err *err)
{
    *out = NULL;
    if (c->dir)
        return ocs_fail(err, OCS_ERR_INVALID, "case %s is a test folder, not a generated case", c->name);
    ocs_model *m = NULL;
    ocs_status st = ocs_model_new(&m, err);
    if (st == OCS_OK)
        st = ocs_model_import(m, c->domain, c->opset, err);
    if (st == OCS_OK && c->domain[0] && c->default_opset > 0)
        st = ocs_model_import(m, "", c->default_opset, err);
    const char *in_names[OCS_CASE_MAX_INPUTS], *out_names[OCS_CASE_MAX_OUTPUTS];
    size_t n_in = 0, n_out = 0;
    for (size_t i = 0; i < c->n_inputs && st == OCS_OK; i++) {
        const ocs_case_input *in = &c->inputs[i];
        in_names[i] = in->name;
        if (in->name[0]) {
            st = ocs_graph_add_input(m->graph, in->name, in->dtype, in->rank, in->dims, err);
            n_in = i + 1;
        }
    }
    size_t k = 0;
    for (size_t j = 0; j < c->n_outputs && st == OCS_OK; j++) {
        out_names[j] = c->outputs[j];
        if (!c->outputs[j][0])
            continue;
        n_out = j + 1;
        const ocs_tensor *s = shapes ? shapes[k++] : NULL;
        if (s && s->dtype != c->output_types[j])
            st = ocs_fail(err, OCS_ERR_INVALID, "case %s: output '%s' is %s, the case declares %s", c->name,
                          c->outputs[j], ocs_dtype_name(s->dtype), ocs_dtype_name(c->output_types[j]));
        else
            st = ocs_graph_add_output(m->graph, c->outputs[j], c->output_types[j], s ? s->rank : -1,
                                      s ? s->dims : NULL, err);
    }
    ocs_node *node = NULL;
    if (st == OCS_OK)
        st = ocs_graph_add_node(m->graph, c->op, c->domain, "node", n_in, in_names, n_out, out_names, &node, err);
    for (size_t i = 0; i < c->n_attrs && st == OCS_OK; i++)
        st = set_attr(c, &c->attrs[i], node, err);
    if (st != OCS_OK) {
        ocs_model_free(m);
        return ocs_err_prefix(err, st, "case %s: ", c->name);
    }
    *out = m;
    return OCS_OK;
}

static ocs_status fill_input(const ocs_case *c, size_t index, ocs_tensor *t, ocs_err *err)
{
    const ocs_case_input *in = &c->inputs[index];
    ocs_rng r;
    ocs_rng_init(&r, c->seed ^ (0xD1B54A32D192ED03ull * (index + 1)));
    switch (in->fill) {
    case OCS_FILL_UNIFORM:
        for (size_t i = 0; i < t->numel; i++) {
            if (ocs_dtype_is_float(t->dtype))
                ocs_tensor_set_f64(t, i, in->lo + (in->hi - in->lo) * ocs_rng_uniform(&r));
            else
                ocs_tensor_set_i64(t, i, ocs_rng_int(&r, (int64_t)in->lo, (int64_t)in->hi));
        }
        return OCS_OK;
    case OCS_FILL_VALUES:
        for (size_t i = 0; i < t->numel; i++)
            ocs_tensor_set_f64(t, i, in->values[i]);
        return OCS_OK;
    case OCS_FILL_INTS:
        for (size_t i = 0; i < t->numel; i++)
            ocs_tensor_set_i64(t, i, in->ints[i]);
        return OCS_OK;
    case OCS_FILL_PERMUTATION: {
        int64_t lo = (int64_t)in->lo, hi = (int64_t)in->hi;
        size_t span = (size_t)(hi - lo) + 1;
        int64_t *pool = malloc(span * sizeof *pool);
        if (!pool)
            return ocs_fail(err, OCS_ERR_NOMEM, "out of memory drawing input '%s'", in->name);
        for (size_t i = 0; i < span; i++)
            pool[i] = lo + (int64_t)i;
        /* Fisher-Yates on the first numel slots */
        for (size_t i = 0; i < t->numel && i < span; i++) {
            size_t j = i + (size_t)ocs_rng_int(&r, 0, (int64_t)(span - 1 - i));
            int64_t tmp = pool[i];
            pool[i] = pool[j];
            pool[j] = tmp;
            ocs_tensor_set_i64(t, i, pool[i]);
        }
        free(pool);
        return OCS_OK;
    }
    }
    return ocs_fail(err, OCS_ERR_INVALID, "input '%s': unknown fill", in->name);
}

ocs_status ocs_case_instantiate(const ocs_case *c, ocs_case_inst *ci, ocs_err *err)
{
    memset(ci, 0, sizeof *ci);
    ocs_status st = c->model && !c->dir ? c->model(c, ci, err) : ocs_case_model(c, NULL, &ci->model, err);
    if (st == OCS_OK && !ci->model)
        st = ocs_fail(err, OCS_ERR_INVALID, "case %s: its model builder made no model", c->name);
    if (st != OCS_OK)
        return st;
    const ocs_graph *g = ci->model->graph;
    for (size_t i = 0; i < c->n_inputs && st == OCS_OK; i++) {
        const ocs_case_input *in = &c->inputs[i];
        if (!in->name[0])
            continue;
        ocs_tensor *t = NULL;
        st = ocs_tensor_new(in->dtype, in->rank, in->dims, &t, err);
        if (st == OCS_OK)
            st = fill_input(c, i, t, err);
        if (st != OCS_OK) {
            ocs_tensor_free(t);
            break;
        }
        ci->in[ci->n_in] = t;
        ci->in_names[ci->n_in] = g->inputs[ci->n_in].name;
        ci->n_in++;
    }
    for (size_t j = 0; j < g->n_outputs; j++)
        ci->out_names[j] = g->outputs[j].name;
    ci->n_out = g->n_outputs;
    return st == OCS_OK ? OCS_OK : ocs_err_prefix(err, st, "case %s: ", c->name);
}

ocs_status ocs_case_reference(ocs_case_inst *ci, ocs_err *err)
{
    ocs_session *s = NULL;
    ocs_status st = ocs_session_new(ci->model, &s, err);
    if (st == OCS_OK)
        st = ocs_session_run(s, ci->n_in, ci->in_names, (const ocs_tensor *const *)ci->in, ci->n_out, ci->ref, err);
    ocs_session_free(s);
    return st;
}

void ocs_case_inst_free(ocs_case_inst *ci)
{
    for (size_t i = 0; i < ci->n_in; i++)
        ocs_tensor_free(ci->in[i]);
    for (size_t j = 0; j < ci->n_out; j++)
        ocs_tensor_free(ci->ref[j]);
    ocs_model_free(ci->model);
    if (ci->tmpdir && !getenv("OCS_KEEP_TMP"))
        ocs_path_remove_tree(ci->tmpdir, NULL);
    free(ci->tmpdir);
    memset(ci, 0, sizeof *ci);
}

int ocs_model_has_body(const ocs_model *m)
{
    for (size_t i = 0; i < m->graph->n_nodes; i++) {
        const ocs_node *n = &m->graph->nodes[i];
        int64_t v = ocs_model_opset(m, n->domain);
        const ocs_schema *s = v >= 0 ? ocs_schema_find(n->domain, n->op_type, v) : NULL;
        if (s && s->body)
            return 1;
    }
    return 0;
}

static int case_pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int case_pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

ocs_status ocs_case_export(const ocs_case *c, const ocs_case_inst *ci, const char *dir, size_t *written,
                           ocs_err *err)
{
    char base[4096], path[4200];
    size_t files = 0;
    if (written)
        *written = 0;
    if (c->model)
        return OCS_OK;   /* built models may read files the layout cannot carry */
    if (case_pathf(base, sizeof base, "%s/%s/test_data_set_0", dir, c->name))
        return ocs_fail(err, OCS_ERR_IO, "path too long under %s", dir);
    ocs_status st = ocs_path_mkdirs(base, err);
    if (st != OCS_OK)
        return st;
    case_pathf(base, sizeof base, "%s/%s", dir, c->name);

    ocs_model *m = NULL, *expanded = NULL;
    st = ocs_case_model(c, (const ocs_tensor *const *)ci->ref, &m, err);
    if (st == OCS_OK) {
        case_pathf(path, sizeof path, "%s/model.onnx", base);
        st = ocs_model_save_file(m, path, err);
        files += st == OCS_OK;
    }
    if (st == OCS_OK && ocs_model_has_body(m)) {
        st = ocs_model_expand(m, &expanded, err);
        if (st == OCS_OK) {
            case_pathf(path, sizeof path, "%s/model_expanded.onnx", base);
            st = ocs_model_save_file(expanded, path, err);
            files += st == OCS_OK;
        }
    }
    if (st == OCS_OK) {
        ocs_model *contrib = NULL;
        ocs_err ignored;
        if (ocs_ort_variant(m, &contrib, &ignored) == OCS_OK) {
            case_pathf(path, sizeof path, "%s/model_com.microsoft.onnx", base);
            st = ocs_model_save_file(contrib, path, err);
            files += st == OCS_OK;
            ocs_model_free(contrib);
        }
    }
    for (size_t i = 0; i < ci->n_in && st == OCS_OK; i++) {
        case_pathf(path, sizeof path, "%s/test_data_set_0/input_%zu.pb", base, i);
        st = ocs_tensor_save_file(ci->in[i], ci->in_names[i], path, err);
        files += st == OCS_OK;
    }
    for (size_t j = 0; j < ci->n_out && st == OCS_OK; j++) {
        case_pathf(path, sizeof path, "%s/test_data_set_0/output_%zu.pb", base, j);
        st = ocs_tensor_save_file(ci->ref[j], ci->out_names[j], path, err);
        files += st == OCS_OK;
    }
    ocs_model_free(m);
    ocs_model_free(expanded);
    if (written)
        *written = files;
    return st == OCS_OK ? OCS_OK : ocs_err_prefix(err, st, "exporting %s: ", c->name);
}

/* ---- files ------------------------------------------------------------------------------------ */

ocs_status ocs_path_mkdirs(const char *path, ocs_err *err)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf)
        return ocs_fail(err, OCS_ERR_IO, "bad folder path '%s'", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return ocs_fail(err, OCS_ERR_IO, "cannot create folder %s: %s", buf, strerror(errno));
        struct stat st;
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return ocs_fail(err, OCS_ERR_IO, "%s exists and is not a folder", buf);
        buf[i] = saved;
    }
    return OCS_OK;
}

ocs_status ocs_write_atomic(const char *path, const void *data, size_t len, ocs_err *err)
{
    char tmp[4200];
    if (case_pathf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()))
        return ocs_fail(err, OCS_ERR_IO, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0)
        return ocs_fail(err, OCS_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return ocs_fail(err, OCS_ERR_IO, "cannot write %s: %s", tmp, strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return ocs_fail(err, OCS_ERR_IO, "cannot write %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ocs_fail(err, OCS_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    return OCS_OK;
}

const char *ocs_temp_base(void)
{
    const char *t = getenv("TMPDIR");
    if (t && *t)
        return t;
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK | X_OK) == 0)
        return "/dev/shm";
    return "/tmp";
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

ocs_status ocs_path_remove_tree(const char *path, ocs_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? OCS_OK : ocs_fail(err, OCS_ERR_IO, "%s: %s", path, strerror(errno));
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return ocs_fail(err, OCS_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    return OCS_OK;
}
