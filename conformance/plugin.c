/*
 * conformance/plugin.c - external backends through the shared-library ABI
 * of ocs/plugin.h, wrapped as an ocs_backend.
 *
 * The wrapper translates each call: an ocs_node becomes an ocs_plugin_node
 * whose attribute getters read the node, tensors become plain views.  For
 * run it asks the plugin's infer for the output types, allocates every used
 * output itself with PLUGIN_GUARD guard bytes after the data (the tensor
 * keeps an ordinary malloc'd buffer, so ocs_tensor_free releases it), fills
 * the data with a poison pattern, runs the plugin, and then checks the
 * guard bytes and a hash of every input.
 *
 * exec.h hands a kernel NULL outputs; a caller that guards outputs itself
 * (the conformance runner) may instead hand a poisoned, guarded tensor in
 * a->outputs[i].  When its type and shape are what infer says, the plugin
 * writes into it in place and the caller checks it; otherwise the wrapper
 * frees it and returns its own.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocs/plugin.h"
#include "plugin.h"

/* Guard bytes after each output's data. */
#define PLUGIN_GUARD 64

/* The ABI's dtype and attribute codes are ONNX's, as OCS's are. */
_Static_assert((int)OCS_PLUGIN_FLOAT == (int)OCS_FLOAT && (int)OCS_PLUGIN_BFLOAT16 == (int)OCS_BFLOAT16 &&
                   (int)OCS_PLUGIN_INT2 == (int)OCS_INT2,
               "plugin dtype codes are ONNX's");
_Static_assert((int)OCS_PLUGIN_ATTR_INTS == (int)OCS_ATTR_INTS && (int)OCS_PLUGIN_ATTR_GRAPH == (int)OCS_ATTR_GRAPH,
               "plugin attribute codes are ONNX's");
_Static_assert(OCS_PLUGIN_MAX_RANK == OCS_MAX_RANK, "plugin rank limit is OCS's");

typedef struct plugin_ctx {
    void *dl;                    /* dlopen handle */
    const ocs_plugin_v1 *p;      /* the plugin's table (static data in dl) */
    void *pctx;                  /* what the plugin's init made */
    char *name;
    char *path;
    char *label;                 /* describe() when the plugin has none */
    ocs_backend_ops ops;
} plugin_ctx;

/* ---- node views and attribute getters -------------------------------------- */

static const ocs_node *plugin_host_node(const ocs_plugin_node *v)
{
    return (const ocs_node *)v->host;
}

static const char *plugin_attr_name(const ocs_plugin_node *v, size_t i)
{
    const ocs_node *n = plugin_host_node(v);
    return i < n->n_attrs ? n->attrs[i].name : NULL;
}

static int plugin_attr_type(const ocs_plugin_node *v, const char *name)
{
    const ocs_attr *a = name ? ocs_node_attr(plugin_host_node(v), name) : NULL;
    return a ? (int)a->type : OCS_PLUGIN_ATTR_UNDEFINED;
}

/* The attribute called name if it has type t: PRESENT, ABSENT or WRONG_TYPE. */
static int plugin_find_attr(const ocs_plugin_node *v, const char *name, ocs_attr_type t, const ocs_attr **out)
{
    const ocs_attr *a = name ? ocs_node_attr(plugin_host_node(v), name) : NULL;
    if (!a)
        return OCS_PLUGIN_ATTR_ABSENT;
    if (a->type != t)
        return OCS_PLUGIN_ATTR_WRONG_TYPE;
    *out = a;
    return OCS_PLUGIN_ATTR_PRESENT;
}

static int plugin_attr_int(const ocs_plugin_node *v, const char *name, int64_t *value)
{
    const ocs_attr *a = NULL;
    int r = plugin_find_attr(v, name, OCS_ATTR_INT, &a);
    if (r == OCS_PLUGIN_ATTR_PRESENT && value)
        *value = a->i;
    return r;
}

static int plugin_attr_float(const ocs_plugin_node *v, const char *name, float *value)
{
    const ocs_attr *a = NULL;
    int r = plugin_find_attr(v, name, OCS_ATTR_FLOAT, &a);
    if (r == OCS_PLUGIN_ATTR_PRESENT && value)
        *value = a->f;
    return r;
}

static int plugin_attr_string(const ocs_plugin_node *v, const char *name, const char **s, size_t *len)
{
    const ocs_attr *a = NULL;
    int r = plugin_find_attr(v, name, OCS_ATTR_STRING, &a);
    if (r == OCS_PLUGIN_ATTR_PRESENT) {
        if (s)
            *s = a->s.data ? a->s.data : "";
        if (len)
            *len = a->s.data ? a->s.len : 0;
    }
    return r;
}

static int plugin_attr_ints(const ocs_plugin_node *v, const char *name, const int64_t **values, size_t *count)
{
    const ocs_attr *a = NULL;
    int r = plugin_find_attr(v, name, OCS_ATTR_INTS, &a);
    if (r == OCS_PLUGIN_ATTR_PRESENT) {
        if (values)
            *values = a->ints;
        if (count)
            *count = a->n;
    }
    return r;
}

static int plugin_attr_floats(const ocs_plugin_node *v, const char *name, const float **values, size_t *count)
{
    const ocs_attr *a = NULL;
    int r = plugin_find_attr(v, name, OCS_ATTR_FLOATS, &a);
    if (r == OCS_PLUGIN_ATTR_PRESENT) {
        if (values)
            *values = a->floats;
        if (count)
            *count = a->n;
    }
    return r;
}

static void plugin_view_tensor(const ocs_tensor *t, ocs_plugin_tensor *v)
{
    memset(v, 0, sizeof *v);
    v->dtype = (int32_t)t->dtype;
    v->rank = t->rank;
    memcpy(v->dims, t->dims, (size_t)t->rank * sizeof t->dims[0]);
    v->numel = t->numel;
    v->nbytes = t->nbytes;
    v->data = t->data;
}

static int plugin_attr_tensor(const ocs_plugin_node *v, const char *name, ocs_plugin_tensor *value)
{
    const ocs_attr *a = NULL;
    int r = plugin_find_attr(v, name, OCS_ATTR_TENSOR, &a);
    if (r != OCS_PLUGIN_ATTR_PRESENT)
        return r;
    if (!a->t || a->t->dtype == OCS_STRING)
        return OCS_PLUGIN_ATTR_WRONG_TYPE;
    if (value)
        plugin_view_tensor(a->t, value);
    return r;
}

static void plugin_node_view(const ocs_node *n, int64_t since_version, ocs_plugin_node *v)
{
    memset(v, 0, sizeof *v);
    v->domain = n->domain ? n->domain : "";
    v->op_type = n->op_type;
    v->name = n->name ? n->name : "";
    v->since_version = since_version;
    v->n_inputs = n->n_inputs;
    v->inputs = (const char *const *)n->inputs;
    v->n_outputs = n->n_outputs;
    v->outputs = (const char *const *)n->outputs;
    v->n_attrs = n->n_attrs;
    v->host = n;
    v->attr_name = plugin_attr_name;
    v->attr_type = plugin_attr_type;
    v->attr_int = plugin_attr_int;
    v->attr_float = plugin_attr_float;
    v->attr_string = plugin_attr_string;
    v->attr_ints = plugin_attr_ints;
    v->attr_floats = plugin_attr_floats;
    v->attr_tensor = plugin_attr_tensor;
}

/* ocs_status for a plugin's result, with its reason (or a stock one) in err. */
static ocs_status plugin_status(const plugin_ctx *c, int r, char *buf, size_t len, const char *what,
                                ocs_err *err)
{
    buf[len - 1] = '\0';
    ocs_status st = r == OCS_PLUGIN_UNSUPPORTED ? OCS_ERR_UNSUPPORTED : OCS_ERR_RUNTIME;
    if (buf[0])
        return ocs_fail(err, st, "%s", buf);
    return ocs_fail(err, st, "plugin %s: %s returned %d without a reason", c->name, what, r);
}

/* ---- poison and guards ------------------------------------------------------------ */

static void plugin_fill16(void *data, size_t n, uint16_t bits)
{
    for (size_t i = 0; i < n; i++)
        memcpy((char *)data + 2 * i, &bits, 2);
}

/*
 * Fills every element with a NaN of its type where the type has one, else
 * 0xA5 bytes.  The float, double, float16 and bfloat16 patterns are the
 * conformance runner's, so it recognises an unwritten element either way.
 */
static void plugin_poison(ocs_tensor *t)
{
    size_t n = t->numel;
    switch (t->dtype) {
    case OCS_FLOAT: {
        uint32_t bits = 0x7FE5A5A5u;   /* quiet NaN with a recognisable payload */
        for (size_t i = 0; i < n; i++)
            memcpy((char *)t->data + 4 * i, &bits, 4);
        return;
    }
    case OCS_DOUBLE: {
        uint64_t bits = 0x7FFCA5A5A5A5A5A5u;
        for (size_t i = 0; i < n; i++)
            memcpy((char *)t->data + 8 * i, &bits, 8);
        return;
    }
    case OCS_FLOAT16:
        plugin_fill16(t->data, n, 0x7EA5u);
        return;
    case OCS_BFLOAT16:
        plugin_fill16(t->data, n, 0x7FE5u);
        return;
    case OCS_FLOAT8E4M3FN:
    case OCS_FLOAT8E5M2:
        memset(t->data, 0x7F, n);
        return;
    case OCS_FLOAT8E4M3FNUZ:
    case OCS_FLOAT8E5M2FNUZ:
        memset(t->data, 0x80, n);
        return;
    case OCS_FLOAT8E8M0:
        memset(t->data, 0xFF, n);
        return;
    default:
        memset(t->data, 0xA5, t->nbytes);   /* float4e2m1 has no NaN; integers and bool */
        return;
    }
}

static unsigned char plugin_guard_byte(size_t k)
{
    return (unsigned char)(0xC3u ^ (unsigned)(k * 29u));
}

static void plugin_guard_set(ocs_tensor *t)
{
    unsigned char *g = (unsigned char *)t->data + t->nbytes;
    for (size_t k = 0; k < PLUGIN_GUARD; k++)
        g[k] = plugin_guard_byte(k);
}

/* Index of the first changed guard byte, or -1. */
static long plugin_guard_check(const ocs_tensor *t)
{
    const unsigned char *g = (const unsigned char *)t->data + t->nbytes;
    for (size_t k = 0; k < PLUGIN_GUARD; k++)
        if (g[k] != plugin_guard_byte(k))
            return (long)k;
    return -1;
}

static uint64_t plugin_hash(const ocs_tensor *t)
{
    uint64_t h = 0xcbf29ce484222325u;   /* FNV-1a */
    const unsigned char *p = t->data;
    for (size_t i = 0; i < t->nbytes; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return h;
}

/*
 * A new tensor of the type out describes, whose data buffer has
 * PLUGIN_GUARD guard bytes after nbytes; poisoned and guarded.
 */
static ocs_status plugin_guarded_output(const plugin_ctx *c, const ocs_node *n, size_t i,
                                        const ocs_plugin_tensor *out, ocs_tensor **res, ocs_err *err)
{
    *res = NULL;
    ocs_dtype dt = (ocs_dtype)out->dtype;
    if (!ocs_dtype_valid(dt) || dt == OCS_UNDEFINED || dt == OCS_STRING || ocs_dtype_size(dt) == 0)
        return ocs_fail(err, dt == OCS_STRING ? OCS_ERR_UNSUPPORTED : OCS_ERR_RUNTIME,
                        "plugin %s: infer gave output %zu '%s' element type %d (%s), which cannot cross the "
                        "plugin ABI", c->name, i, n->outputs[i], (int)out->dtype, ocs_dtype_name(dt));
    if (out->rank < 0 || out->rank > OCS_PLUGIN_MAX_RANK)
        return ocs_fail(err, OCS_ERR_RUNTIME, "plugin %s: infer gave output %zu '%s' rank %d (0..%d allowed)",
                        c->name, i, n->outputs[i], (int)out->rank, OCS_PLUGIN_MAX_RANK);
    ocs_tensor *t = NULL;
    ocs_status st = ocs_tensor_new(dt, out->rank, out->dims, &t, err);
    if (st != OCS_OK)
        return ocs_err_prefix(err, st, "plugin %s: infer gave output %zu '%s' a bad shape: ", c->name, i,
                              n->outputs[i]);
    if (t->nbytes > SIZE_MAX - PLUGIN_GUARD) {
        ocs_tensor_free(t);
        return ocs_fail(err, OCS_ERR_NOMEM, "plugin %s: output %zu '%s' is too large", c->name, i,
                        n->outputs[i]);
    }
    void *buf = malloc(t->nbytes + PLUGIN_GUARD);
    if (!buf) {
        ocs_tensor_free(t);
        return ocs_fail(err, OCS_ERR_NOMEM, "plugin %s: out of memory for output %zu '%s' (%zu bytes)",
                        c->name, i, n->outputs[i], t->nbytes);
    }
    free(t->data);
    t->data = buf;
    plugin_poison(t);
    plugin_guard_set(t);
    *res = t;
    return OCS_OK;
}

/* Whether t has the element type and shape that v describes. */
static int plugin_same_type(const ocs_tensor *t, const ocs_plugin_tensor *v)
{
    if ((int32_t)t->dtype != v->dtype || t->rank != v->rank || t->dtype == OCS_STRING)
        return 0;
    for (int d = 0; d < t->rank; d++)
        if (t->dims[d] != v->dims[d])
            return 0;
    return 1;
}

/* ---- the backend ---------------------------------------------------------------------- */

static const char *plugin_describe(void *ctx)
{
    plugin_ctx *c = ctx;
    if (c->p->describe) {
        const char *d = c->p->describe(c->pctx);
        if (d && d[0])
            return d;
    }
    return c->label;
}

static int plugin_supports(void *ctx, const ocs_node *n, int64_t since_version, size_t n_in,
                           const ocs_tensor_type *in)
{
    plugin_ctx *c = ctx;
    if (n_in != n->n_inputs)
        return 0;
    ocs_plugin_tensor *v = calloc(n_in ? n_in : 1, sizeof *v);
    if (!v)
        return 0;
    int ok = 1;
    for (size_t i = 0; i < n_in && ok; i++) {
        if (!n->inputs[i][0])
            continue;   /* absent: dtype UNDEFINED */
        ocs_dtype dt = in[i].dtype;
        /* a non-tensor value, a string, or an unknown shape does not cross the ABI */
        if (dt == OCS_UNDEFINED || dt == OCS_STRING || !ocs_dtype_valid(dt) || in[i].rank < 0 ||
            in[i].rank > OCS_PLUGIN_MAX_RANK) {
            ok = 0;
            break;
        }
        v[i].dtype = (int32_t)dt;
        v[i].rank = in[i].rank;
        size_t numel = 1;
        for (int d = 0; d < in[i].rank; d++) {
            if (in[i].dims[d] < 0) {
                ok = 0;
                break;
            }
            v[i].dims[d] = in[i].dims[d];
        }
        if (ok && ocs_shape_numel(in[i].rank, in[i].dims, &numel, NULL) != OCS_OK)
            ok = 0;
        v[i].numel = numel;
        v[i].nbytes = numel * ocs_dtype_size(dt);
    }
    if (ok) {
        ocs_plugin_node view;
        plugin_node_view(n, since_version, &view);
        ok = c->p->supports(c->pctx, &view, v) == 1;
    }
    free(v);
    return ok;
}

static ocs_status plugin_prepare(void *ctx, const ocs_node *n, int64_t since_version, void **state,
                                 ocs_err *err)
{
    plugin_ctx *c = ctx;
    *state = NULL;
    if (!c->p->prepare)
        return OCS_OK;
    ocs_plugin_node view;
    plugin_node_view(n, since_version, &view);
    char buf[OCS_ERR_MAX] = "";
    int r = c->p->prepare(c->pctx, &view, state, buf, sizeof buf);
    if (r != OCS_PLUGIN_OK)
        return plugin_status(c, r, buf, sizeof buf, "prepare", err);
    return OCS_OK;
}

static void plugin_release(void *ctx, void *state)
{
    plugin_ctx *c = ctx;
    if (c->p->release)
        c->p->release(c->pctx, state);
}

static ocs_status plugin_run(void *ctx, void *state, ocs_kernel_args *a)
{
    plugin_ctx *c = ctx;
    const ocs_node *n = a->node;
    size_t n_in = a->n_inputs, n_out = a->n_outputs;
    ocs_plugin_tensor *in = calloc(n_in ? n_in : 1, sizeof *in);
    ocs_plugin_tensor *out = calloc(n_out ? n_out : 1, sizeof *out);
    uint64_t *hash = calloc(n_in ? n_in : 1, sizeof *hash);
    ocs_tensor **made = calloc(n_out ? n_out : 1, sizeof *made);
    char buf[OCS_ERR_MAX] = "";
    ocs_status st = OCS_OK;
    if (!in || !out || !hash || !made) {
        st = ocs_fail(a->err, OCS_ERR_NOMEM, "plugin %s: out of memory", c->name);
        goto done;
    }

    for (size_t i = 0; i < n_in; i++) {
        const ocs_tensor *t = a->inputs[i];
        if (!t) {
            if (i < n->n_inputs && n->inputs[i][0]) {
                st = ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "plugin %s: input %zu '%s' is not a tensor",
                              c->name, i, n->inputs[i]);
                goto done;
            }
            continue;
        }
        if (t->dtype == OCS_STRING) {
            st = ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "plugin %s: input %zu '%s' is a string tensor", c->name,
                          i, n->inputs[i]);
            goto done;
        }
        plugin_view_tensor(t, &in[i]);
        hash[i] = plugin_hash(t);
    }

    ocs_plugin_node view;
    plugin_node_view(n, a->since_version, &view);
    int r = c->p->infer(c->pctx, state, &view, in, out, buf, sizeof buf);
    if (r != OCS_PLUGIN_OK) {
        st = plugin_status(c, r, buf, sizeof buf, "infer", a->err);
        goto done;
    }
    for (size_t i = 0; i < n_out; i++) {
        if (!ocs_kernel_output_wanted(a, i)) {
            out[i].numel = 0;
            out[i].nbytes = 0;
            out[i].data = NULL;
            continue;
        }
        const ocs_tensor *pre = a->outputs[i];
        if (pre && plugin_same_type(pre, &out[i])) {
            /* the caller's own poisoned and guarded buffer: filled in place, checked by the caller */
            out[i].numel = pre->numel;
            out[i].nbytes = pre->nbytes;
            out[i].data = pre->data;
            continue;
        }
        st = plugin_guarded_output(c, n, i, &out[i], &made[i], a->err);
        if (st != OCS_OK)
            goto done;
        out[i].numel = made[i]->numel;
        out[i].nbytes = made[i]->nbytes;
        out[i].data = made[i]->data;
    }

    r = c->p->run(c->pctx, state, &view, in, out, buf, sizeof buf);

    /* an out-of-bounds write or a changed input outranks whatever run said */
    for (size_t i = 0; i < n_out; i++) {
        long k = made[i] ? plugin_guard_check(made[i]) : -1;
        if (k >= 0) {
            char desc[64];
            st = ocs_fail(a->err, OCS_ERR_RUNTIME,
                          "plugin %s wrote past the end of output %zu '%s' (%s, %zu bytes): guard byte %ld "
                          "after the data changed",
                          c->name, i, n->outputs[i], ocs_tensor_describe(made[i], desc, sizeof desc),
                          made[i]->nbytes, k);
            goto done;
        }
    }
    for (size_t i = 0; i < n_in; i++) {
        if (a->inputs[i] && plugin_hash(a->inputs[i]) != hash[i]) {
            st = ocs_fail(a->err, OCS_ERR_RUNTIME, "plugin %s modified its input %zu '%s'", c->name, i,
                          n->inputs[i]);
            goto done;
        }
    }
    if (r != OCS_PLUGIN_OK) {
        st = plugin_status(c, r, buf, sizeof buf, "run", a->err);
        goto done;
    }
    for (size_t i = 0; i < n_out; i++) {
        if (!made[i])
            continue;
        ocs_tensor_free(a->outputs[i]);   /* a buffer handed in that did not fit is replaced */
        a->outputs[i] = made[i];
        made[i] = NULL;
    }

done:
    for (size_t i = 0; made && i < n_out; i++)
        ocs_tensor_free(made[i]);
    free(made);
    free(hash);
    free(out);
    free(in);
    return st;
}

static void plugin_destroy(void *ctx)
{
    plugin_ctx *c = ctx;
    if (!c)
        return;
    if (c->p && c->p->fini)
        c->p->fini(c->pctx);
    if (c->dl)
        dlclose(c->dl);
    free(c->name);
    free(c->path);
    free(c->label);
    free(c);
}

static char *plugin_strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (d)
        memcpy(d, s, len);
    return d;
}

ocs_status ocs_plugin_open(const char *path, ocs_backend **out, ocs_err *err)
{
    if (!out)
        return ocs_fail(err, OCS_ERR_INVALID, "ocs_plugin_open: no output pointer");
    *out = NULL;
    if (!path || !path[0])
        return ocs_fail(err, OCS_ERR_INVALID, "ocs_plugin_open: no plugin path");

    plugin_ctx *c = calloc(1, sizeof *c);
    ocs_backend *b = calloc(1, sizeof *b);
    if (!c || !b) {
        free(c);
        free(b);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory opening plugin %s", path);
    }
    ocs_status st = OCS_OK;
    dlerror();
    c->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!c->dl) {
        const char *why = dlerror();
        st = ocs_fail(err, OCS_ERR_IO, "cannot load plugin %s: %s", path, why ? why : "dlopen failed");
        goto fail;
    }
    void *sym = dlsym(c->dl, OCS_PLUGIN_ENTRY_NAME);
    if (!sym) {
        st = ocs_fail(err, OCS_ERR_INVALID,
                      "%s is not an OCS plugin: it exports no '%s' (build it against ocs/plugin.h and export "
                      "the entry point)", path, OCS_PLUGIN_ENTRY_NAME);
        goto fail;
    }
    ocs_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);   /* POSIX: a data pointer from dlsym holds a function */
    c->p = entry(OCS_PLUGIN_ABI_VERSION);
    if (!c->p) {
        st = ocs_fail(err, OCS_ERR_INVALID,
                      "plugin %s declined plugin ABI version %u (its %s returned NULL); it was built for "
                      "another version of ocs/plugin.h", path, OCS_PLUGIN_ABI_VERSION, OCS_PLUGIN_ENTRY_NAME);
        goto fail;
    }
    if (c->p->abi_version != OCS_PLUGIN_ABI_VERSION) {
        st = ocs_fail(err, OCS_ERR_INVALID,
                      "plugin %s implements plugin ABI version %u, this OCS speaks version %u; rebuild it "
                      "against this ocs/plugin.h", path, (unsigned)c->p->abi_version, OCS_PLUGIN_ABI_VERSION);
        c->p = NULL;
        goto fail;
    }
    const char *missing = !c->p->name || !c->p->name[0] ? "name"
                          : !c->p->supports             ? "supports"
                          : !c->p->infer                ? "infer"
                          : !c->p->run                  ? "run"
                                                        : NULL;
    if (missing) {
        st = ocs_fail(err, OCS_ERR_INVALID, "plugin %s: its function table has no '%s', which ABI version %u "
                      "requires", path, missing, OCS_PLUGIN_ABI_VERSION);
        c->p = NULL;
        goto fail;
    }
    if (c->p->init) {
        char buf[OCS_ERR_MAX] = "";
        int r = c->p->init(&c->pctx, buf, sizeof buf);
        if (r != OCS_PLUGIN_OK) {
            buf[sizeof buf - 1] = '\0';
            st = ocs_fail(err, r == OCS_PLUGIN_UNSUPPORTED ? OCS_ERR_UNSUPPORTED : OCS_ERR_RUNTIME,
                          "plugin %s (%s) did not start: %s", c->p->name, path, buf[0] ? buf : "no reason given");
            c->p = NULL;   /* no fini after a failed init */
            goto fail;
        }
    }

    c->name = plugin_strdup(c->p->name);
    c->path = plugin_strdup(path);
    size_t label_len = strlen(c->p->name) + strlen(path) + 32;
    c->label = malloc(label_len);
    if (!c->name || !c->path || !c->label) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory opening plugin %s", path);
        goto fail;
    }
    snprintf(c->label, label_len, "plugin %s (%s)", c->p->name, path);

    c->ops.api_version = OCS_BACKEND_API_VERSION;
    c->ops.name = c->name;
    c->ops.describe = plugin_describe;
    c->ops.supports = plugin_supports;
    c->ops.prepare = plugin_prepare;
    c->ops.run = plugin_run;
    c->ops.release = plugin_release;
    c->ops.destroy = plugin_destroy;
    b->ops = &c->ops;
    b->ctx = c;
    *out = b;
    return OCS_OK;

fail:
    plugin_destroy(c);
    free(b);
    return st;
}
