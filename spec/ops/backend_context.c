/*
 * spec/ops/backend_context.c - the BackendContext schema (ai.onnx.preview,
 * version 1), the function-based encoding (Option F) of pre-compiled
 * backend blobs: a node standing for a region of the graph, holding the
 * region as its normative fallback and any number of blobs, each for one
 * backend.  Documentation, attributes, the error conditions, the comparison
 * with ONNX Runtime's EPContext and with the metadata encoding (Option M),
 * the static check, type inference, the function body (the fallback,
 * inlined) and the documentation's worked example.  Discovery, selection
 * and the metadata encoding live in spec/backend_context.c.
 */
#include "ocs/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocs/backend_context.h"
#include "ocs/blob.h"
#include "ocs/build.h"
#include "ocs/sha256.h"

/* ---- documentation ------------------------------------------------------------------ */

static const char summary[] =
    "A region of the graph together with pre-compiled forms of it (*blobs*), one per backend and target, "
    "and the region itself as the normative *fallback*. The node's inputs are the values the region reads "
    "from the rest of the graph, in particular its **weights, which stay initializers of the main graph** "
    "and are passed in as inputs, so a blob never holds a copy of them; its outputs are the values the rest "
    "of the graph reads from the region.\n"
    "\n"
    "**Semantics.** The outputs are, by definition, those of the `fallback` graph run on the inputs (bound "
    "by position). A runtime may instead run one of the blobs; a blob is a faithful compilation of the "
    "fallback, so the choice never changes the meaning of the model, only how it runs.\n"
    "\n"
    "**Blobs.** The attributes `backend_ids`, `compatibility`, `sha256`, `blobs`, `locations`, `offsets` "
    "and `lengths` are parallel lists with one entry per blob (the last five may be absent: no embedded "
    "blobs, no external ones, offset 0, length to the end of the file). Blob `i` is embedded when "
    "`blobs[i]` is non-empty, and external when `locations[i]` is non-empty, never both. The bytes are a "
    "*blob container* (magic `OCSBC\\r\\n\\x1a`, format version, backend id, compatibility string, payload, "
    "trailing SHA-256 of the container's own contents); `sha256[i]` is the SHA-256 of the whole container, "
    "64 lower-case hex digits. An external blob follows ONNX's external data rules: `locations[i]` is a "
    "path relative to the model file's folder, and the blob is the `lengths[i]` bytes at `offsets[i]`.\n"
    "\n"
    "**Selection.** A runtime walks its backends in the user's priority order; for each backend, the blobs "
    "naming it in attribute order; and takes the first blob that\n"
    "\n"
    "1. is declared consistently (the parallel lists agree, a valid backend id and digest);\n"
    "2. whose compatibility string the backend accepts (checked before any byte is read);\n"
    "3. whose bytes can be read safely (external: relative path, no `..`, no symlink leaving the model's "
    "folder, a regular file, the byte range inside it);\n"
    "4. whose SHA-256 equals `sha256[i]`, and whose container parses, verifies its own digest and declares "
    "the same backend id and compatibility string as the node;\n"
    "5. and whose payload the backend loads for this region.\n"
    "\n"
    "Every blob considered gets one reason: *accepted*, *incompatible*, *checksum mismatch*, *missing "
    "file*, *unsafe path*, *malformed* or *no such backend*. When no blob is accepted the fallback runs; "
    "a runtime offering a strict mode reports an error instead. A malformed or unreadable blob never "
    "makes the model invalid: it only falls back.\n";

static const char conventions[] =
    "**ONNX Runtime `com.microsoft.EPContext`** (since 1). The same idea without a fallback: the node "
    "carries one blob (`ep_cache_context`, embedded when `embed_mode=1`, else a path relative to the "
    "model) for the execution provider named by `source`; if no provider claims the node, session "
    "creation fails. BackendContext differs in four points: the original region is kept (`fallback`), so "
    "a model with blobs still runs everywhere; any number of blobs for different backends share one node; "
    "a SHA-256 binds the model to each blob; and path safety is one shared rule (ONNX external data's) "
    "instead of a per-provider check. Compatibility strings play the role of ORT's "
    "`ep_compatibility_info.<EP>` metadata, but per blob and checked before loading. Weights: ORT's "
    "\"ORT-provided initializers\" weightless mode likewise keeps initializers as node inputs.\n"
    "\n"
    "**The metadata encoding (Option M).** The same regions and blobs can instead be expressed without a "
    "new operator: the region's nodes stay in the main graph and carry `metadata_props` "
    "`ai.onnx.backend_context.scope = <scope>`, and model-level `metadata_props` entries "
    "`ai.onnx.backend_context.blob.<scope>.<i>` hold `backend=...;compatibility=...;sha256=...` plus "
    "`data=<base64>` or `location=...;offset=...;length=...`. A tool that ignores metadata runs the nodes "
    "as they are, so the fallback costs nothing; on the other hand the region (a convex set of nodes) is "
    "implicit and must be derived and validated, embedded blobs grow by a third in base64, and any tool "
    "that rewrites the graph may silently drop or split a scope. OCS implements both encodings with the "
    "same selection and compares them in `reports/backend_context.md`.\n"
    "\n"
    "**Shape of a region.** A fallback may read only its own inputs and initializers (no outer-scope "
    "values), so the node's inputs are the complete interface a blob was compiled against.\n";

static const char *const errors[] = {
    "The `fallback` attribute is missing or is not a graph.",
    "The `fallback` graph's input count differs from the node's input count, or its output count from the "
    "node's output count.",
    "The `fallback` graph reads a value from outside itself (only its inputs and initializers are allowed).",
    "An input of the node is empty (every input of the region is required).",
    "A blob attribute has the wrong type (`backend_ids`, `compatibility`, `sha256`, `blobs`, `locations` are "
    "STRINGS; `offsets`, `lengths` are INTS). A list of the wrong length, an inconsistent entry or an "
    "unreadable, corrupt or incompatible blob is not an error of the node: that blob is skipped with its "
    "reason and, when no blob remains, the fallback runs (an error only in a strict mode).",
};

static const ocs_attr_def attrs[] = {
    {"fallback", OCS_ATTR_GRAPH, 1, NULL,
     "The region: its inputs bind to the node's inputs and its outputs to the node's outputs, by position. "
     "The normative definition of the node's outputs."},
    {"backend_ids", OCS_ATTR_STRINGS, 0, "[]", "Per blob: the id of the backend that runs it (`[a-z0-9_.-]+`)."},
    {"compatibility", OCS_ATTR_STRINGS, 0, "[\"\", ...]",
     "Per blob: what the blob needs (ISA features, library or driver versions); the backend decides whether it "
     "accepts it, before any byte of the blob is read."},
    {"sha256", OCS_ATTR_STRINGS, 0, NULL, "Per blob: SHA-256 of the blob container, 64 lower-case hex digits."},
    {"blobs", OCS_ATTR_STRINGS, 0, "[\"\", ...]", "Per blob: the container's bytes, or empty when the blob is external."},
    {"locations", OCS_ATTR_STRINGS, 0, "[\"\", ...]",
     "Per blob: empty when embedded, else the file holding it, relative to the model's folder (ONNX external "
     "data rules)."},
    {"offsets", OCS_ATTR_INTS, 0, "[0, ...]", "Per blob: byte offset of an external blob in its file."},
    {"lengths", OCS_ATTR_INTS, 0, "[-1, ...]", "Per blob: byte length of an external blob; -1: to the end of the file."},
};

static const ocs_param_def inputs[] = {
    {"inputs", "V", OCS_PARAM_VARIADIC, 1, 0,
     "The values the region reads, weights included (they stay initializers of the main graph)."},
};

static const ocs_param_def outputs[] = {
    {"outputs", "V", OCS_PARAM_VARIADIC, 1, 1, "The values of the region that the rest of the graph reads."},
};

static const ocs_dtype types_any[] = {
    OCS_UINT8,  OCS_UINT16, OCS_UINT32,     OCS_UINT64,   OCS_INT8,           OCS_INT16,
    OCS_INT32,  OCS_INT64,  OCS_FLOAT16,    OCS_BFLOAT16, OCS_FLOAT,          OCS_DOUBLE,
    OCS_BOOL,   OCS_STRING, OCS_FLOAT8E4M3FN, OCS_FLOAT8E4M3FNUZ, OCS_FLOAT8E5M2, OCS_FLOAT8E5M2FNUZ,
    OCS_UINT4,  OCS_INT4,   OCS_FLOAT4E2M1, OCS_FLOAT8E8M0, OCS_UINT2,    OCS_INT2,
};

static const ocs_type_constraint constraints[] = {
    {"V", types_any, sizeof types_any / sizeof types_any[0], "Any tensor type; each input and output has its own."},
};

/* ---- check and inference ---------------------------------------------------------------- */

static ocs_status check(const ocs_node *n, ocs_err *err)
{
    char label[256];
    ocs_node_label(n, label, sizeof label);
    const ocs_attr *a = ocs_node_attr(n, "fallback");
    if (!a || a->type != OCS_ATTR_GRAPH || !a->g)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: attribute 'fallback' must be a graph", label);
    const ocs_graph *g = a->g;
    if (g->n_inputs != n->n_inputs || g->n_outputs != n->n_outputs)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "%s: the fallback has %zu inputs and %zu outputs, the node has %zu and %zu", label,
                        g->n_inputs, g->n_outputs, n->n_inputs, n->n_outputs);
    ocs_status st = ocs_bc_check_fallback(g, err);
    if (st != OCS_OK)
        return ocs_err_prefix(err, st, "%s: ", label);
    return OCS_OK;
}

static ocs_status infer(const ocs_node *n, size_t n_in, const ocs_tensor_type *in, size_t n_out,
                        ocs_tensor_type *out, ocs_err *err)
{
    (void)n_in;
    (void)in;
    const ocs_graph *g = NULL;
    ocs_status st = ocs_node_attr_graph(n, "fallback", &g, err);
    if (st != OCS_OK)
        return st;
    for (size_t j = 0; j < n_out; j++) {
        memset(&out[j], 0, sizeof out[j]);
        out[j].dtype = OCS_UNDEFINED;
        out[j].rank = -1;
        if (!g || j >= g->n_outputs || g->outputs[j].type.kind != OCS_TYPE_TENSOR)
            continue;
        const ocs_type *t = &g->outputs[j].type;
        out[j].dtype = t->elem;
        if (t->has_shape && t->rank <= OCS_MAX_RANK) {
            out[j].rank = t->rank;
            for (int d = 0; d < t->rank; d++)
                out[j].dims[d] = t->dims[d].value;
        }
    }
    return OCS_OK;
}

/* ---- function body: the fallback, inlined ------------------------------------------------ */

typedef struct name_map {
    char **from, **to;
    size_t n, cap;
} name_map;

static void rename_free(name_map *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->from[i]);
        free(r->to[i]);
    }
    free(r->from);
    free(r->to);
}

static const char *rename_find(const name_map *r, const char *s)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->from[i], s))
            return r->to[i];
    return NULL;
}

static int rename_add(name_map *r, const char *from, const char *prefix, const char *to)
{
    if (!from[0] || rename_find(r, from))
        return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        char **f = realloc(r->from, cap * sizeof *f);
        if (!f)
            return -1;
        r->from = f;
        char **t = realloc(r->to, cap * sizeof *t);
        if (!t)
            return -1;
        r->to = t;
        r->cap = cap;
    }
    size_t len = to ? strlen(to) + 1 : strlen(prefix) + strlen(from) + 1;
    char *f = malloc(strlen(from) + 1), *t = malloc(len);
    if (!f || !t) {
        free(f);
        free(t);
        return -1;
    }
    strcpy(f, from);
    if (to)
        strcpy(t, to);
    else
        snprintf(t, len, "%s%s", prefix, from);
    r->from[r->n] = f;
    r->to[r->n] = t;
    r->n++;
    return 0;
}

static int define_all(name_map *r, const ocs_graph *g, const char *prefix)
{
    int rc = 0;
    for (size_t i = 0; i < g->n_inits && !rc; i++)
        rc = rename_add(r, g->inits[i].name, prefix, NULL);
    for (size_t i = 0; i < g->n_nodes && !rc; i++) {
        const ocs_node *n = &g->nodes[i];
        for (size_t k = 0; k < n->n_outputs && !rc; k++)
            rc = rename_add(r, n->outputs[k], prefix, NULL);
        for (size_t k = 0; k < n->n_attrs && !rc; k++) {
            const ocs_attr *at = &n->attrs[k];
            if (at->type == OCS_ATTR_GRAPH && at->g) {
                for (size_t j = 0; j < at->g->n_inputs && !rc; j++)
                    rc = rename_add(r, at->g->inputs[j].name, prefix, NULL);
                rc = rc || define_all(r, at->g, prefix);
            }
            for (size_t m = 0; at->type == OCS_ATTR_GRAPHS && m < at->n && !rc; m++) {
                for (size_t j = 0; j < at->graphs[m]->n_inputs && !rc; j++)
                    rc = rename_add(r, at->graphs[m]->inputs[j].name, prefix, NULL);
                rc = rc || define_all(r, at->graphs[m], prefix);
            }
        }
    }
    return rc;
}

static int apply_one(const name_map *r, char **s)
{
    const char *to = rename_find(r, *s);
    if (!to)
        return 0;
    char *d = malloc(strlen(to) + 1);
    if (!d)
        return -1;
    strcpy(d, to);
    free(*s);
    *s = d;
    return 0;
}

static int apply_all(const name_map *r, ocs_graph *g)
{
    int rc = 0;
    for (size_t i = 0; i < g->n_inputs && !rc; i++)
        rc = apply_one(r, &g->inputs[i].name);
    for (size_t i = 0; i < g->n_outputs && !rc; i++)
        rc = apply_one(r, &g->outputs[i].name);
    for (size_t i = 0; i < g->n_value_info && !rc; i++)
        rc = apply_one(r, &g->value_info[i].name);
    for (size_t i = 0; i < g->n_inits && !rc; i++)
        rc = apply_one(r, &g->inits[i].name);
    for (size_t i = 0; i < g->n_nodes && !rc; i++) {
        ocs_node *n = &g->nodes[i];
        for (size_t k = 0; k < n->n_inputs && !rc; k++)
            rc = apply_one(r, &n->inputs[k]);
        for (size_t k = 0; k < n->n_outputs && !rc; k++)
            rc = apply_one(r, &n->outputs[k]);
        for (size_t k = 0; k < n->n_attrs && !rc; k++) {
            ocs_attr *at = &n->attrs[k];
            if (at->type == OCS_ATTR_GRAPH && at->g)
                rc = apply_all(r, at->g);
            for (size_t m = 0; at->type == OCS_ATTR_GRAPHS && m < at->n && !rc; m++)
                rc = apply_all(r, at->graphs[m]);
        }
    }
    return rc;
}

/* A deep copy of g, through the protobuf form (which carries every attribute kind). */
static ocs_status copy_graph(const ocs_graph *g, ocs_graph **out, ocs_err *err)
{
    *out = NULL;
    ocs_model *holder = NULL, *copy = NULL;
    void *bytes = NULL;
    size_t len = 0;
    ocs_status st = ocs_model_new(&holder, err);
    if (st != OCS_OK)
        return st;
    ocs_graph *empty = holder->graph;
    holder->graph = (ocs_graph *)g;
    st = ocs_model_save_memory(holder, &bytes, &len, err);
    holder->graph = empty;
    ocs_model_free(holder);
    if (st == OCS_OK)
        st = ocs_model_load_memory(bytes, len, NULL, &copy, err);
    free(bytes);
    if (st != OCS_OK)
        return st;
    *out = copy->graph;
    copy->graph = NULL;
    ocs_model_free(copy);
    return OCS_OK;
}

static ocs_status body(const ocs_node *n, size_t n_in, const ocs_tensor_type *in, ocs_graph *g, ocs_err *err)
{
    (void)in;
    const ocs_graph *fb = NULL;
    ocs_status st = ocs_node_attr_graph(n, "fallback", &fb, err);
    if (st != OCS_OK)
        return st;
    if (!fb || fb->n_inputs != n_in || fb->n_outputs != n->n_outputs)
        return ocs_fail(err, OCS_ERR_INVALID, "BackendContext: the fallback does not match the node's inputs and outputs");
    if (!n->n_outputs)
        return ocs_fail(err, OCS_ERR_INVALID, "BackendContext: the node has no outputs");
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s__", n->outputs[0]);
    ocs_graph *copy = NULL;
    name_map r = {0};
    if ((st = copy_graph(fb, &copy, err)) != OCS_OK)
        return st;
    int rc = 0;
    for (size_t i = 0; i < n_in && !rc; i++)
        rc = rename_add(&r, copy->inputs[i].name, prefix, n->inputs[i]);
    rc = rc || define_all(&r, copy, prefix) || apply_all(&r, copy);
    if (rc) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory inlining the fallback");
        goto done;
    }
    for (size_t i = 0; i < copy->n_inits && st == OCS_OK; i++) {
        ocs_node *k = NULL;
        const char *outs[1] = {copy->inits[i].name};
        st = ocs_graph_add_node(g, "Constant", "", NULL, 0, NULL, 1, outs, &k, err);
        if (st == OCS_OK)
            st = ocs_node_set_tensor(k, "value", copy->inits[i].tensor, err);
    }
    if (st == OCS_OK && copy->n_nodes) {
        ocs_node *grown = realloc(g->nodes, (g->n_nodes + copy->n_nodes) * sizeof *grown);
        if (!grown) {
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory inlining the fallback");
            goto done;
        }
        g->nodes = grown;
        memcpy(g->nodes + g->n_nodes, copy->nodes, copy->n_nodes * sizeof *grown);
        g->n_nodes += copy->n_nodes;
        copy->n_nodes = 0;
    }
    for (size_t j = 0; j < n->n_outputs && st == OCS_OK; j++) {
        if (!n->outputs[j][0])
            continue;
        const char *ins[1] = {copy->outputs[j].name}, *outs[1] = {n->outputs[j]};
        st = ocs_graph_add_node(g, "Identity", "", NULL, 1, ins, 1, outs, NULL, err);
    }
done:
    rename_free(&r);
    ocs_graph_free(copy);
    return st;
}

/* ---- worked example ------------------------------------------------------------------------ */

static ocs_status add_init(ocs_graph *g, const char *name, int rank, const int64_t *dims, const float *v,
                           ocs_err *err)
{
    ocs_tensor *t = NULL;
    ocs_status st = ocs_tensor_new(OCS_FLOAT, rank, dims, &t, err);
    if (st != OCS_OK)
        return st;
    memcpy(t->data, v, t->numel * sizeof *v);
    st = ocs_graph_add_initializer(g, name, t, err);
    ocs_tensor_free(t);
    return st;
}

static ocs_status strings_attr(ocs_node *n, const char *name, const char *v, ocs_err *err)
{
    ocs_attr *a = realloc(n->attrs, (n->n_attrs + 1) * sizeof *a);
    if (!a)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    n->attrs = a;
    ocs_attr *at = &a[n->n_attrs];
    memset(at, 0, sizeof *at);
    at->type = OCS_ATTR_STRINGS;
    at->name = malloc(strlen(name) + 1);
    at->strings = calloc(1, sizeof *at->strings);
    if (at->strings)
        at->strings[0].data = malloc(strlen(v) + 1);
    if (!at->name || !at->strings || !at->strings[0].data) {
        free(at->name);
        if (at->strings)
            free(at->strings[0].data);
        free(at->strings);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    }
    strcpy(at->name, name);
    strcpy(at->strings[0].data, v);
    at->strings[0].len = strlen(v);
    at->n = 1;
    n->n_attrs++;
    return OCS_OK;
}

static ocs_status example(ocs_doc_example *ex, ocs_err *err)
{
    /* y = Relu(x W): x [2, 3], W [3, 2] (a weight, so a node input) */
    static const float x[6] = {1.0f, -2.0f, 0.5f, 0.0f, 1.0f, -1.0f};
    static const float w[6] = {1.0f, 0.5f, -1.0f, 1.0f, 2.0f, 0.0f};
    static const int64_t xd[2] = {2, 3}, wd[2] = {3, 2}, yd[2] = {2, 2};
    ocs_graph *g = NULL, *fb = NULL;
    ocs_node *n = NULL;
    void *blob = NULL;
    size_t blob_len = 0;
    ocs_status st = ocs_graph_new("backend_context_example", &g, err);
    if (st == OCS_OK)
        st = add_init(g, "x", 2, xd, x, err);
    if (st == OCS_OK)
        st = add_init(g, "W", 2, wd, w, err);
    if (st == OCS_OK)
        st = ocs_graph_add_output(g, "y", OCS_FLOAT, 2, yd, err);
    if (st == OCS_OK)
        st = ocs_graph_new("region", &fb, err);
    if (st == OCS_OK)
        st = ocs_graph_add_input(fb, "x", OCS_FLOAT, 2, xd, err);
    if (st == OCS_OK)
        st = ocs_graph_add_input(fb, "W", OCS_FLOAT, 2, wd, err);
    if (st == OCS_OK)
        st = ocs_graph_add_output(fb, "y", OCS_FLOAT, 2, yd, err);
    if (st == OCS_OK)
        st = ocs_graph_add_node(fb, "MatMul", "", "proj", 2, (const char *const[]){"x", "W"}, 1,
                                (const char *const[]){"h"}, NULL, err);
    if (st == OCS_OK)
        st = ocs_graph_add_node(fb, "Relu", "", "act", 1, (const char *const[]){"h"}, 1,
                                (const char *const[]){"y"}, NULL, err);
    if (st == OCS_OK)
        st = ocs_graph_add_node(g, "BackendContext", OCS_PREVIEW_DOMAIN, "mlp", 2, (const char *const[]){"x", "W"},
                                1, (const char *const[]){"y"}, &n, err);
    if (st == OCS_OK) {
        st = ocs_node_set_graph(n, "fallback", fb, err);
        fb = NULL;
    }
    /* one external blob for a backend "example": the reference never reads it */
    static const char payload[] = "an opaque payload";
    if (st == OCS_OK)
        st = ocs_blob_write("example", "isa=none", payload, sizeof payload - 1, &blob, &blob_len, err);
    char hex[65] = "";
    if (st == OCS_OK)
        ocs_sha256_hex(blob, blob_len, hex);
    if (st == OCS_OK)
        st = strings_attr(n, "backend_ids", "example", err);
    if (st == OCS_OK)
        st = strings_attr(n, "compatibility", "isa=none", err);
    if (st == OCS_OK)
        st = strings_attr(n, "sha256", hex, err);
    if (st == OCS_OK)
        st = strings_attr(n, "locations", "model.example.bin", err);
    if (st == OCS_OK)
        st = ocs_node_set_ints(n, "offsets", 1, (const int64_t[]){0}, err);
    if (st == OCS_OK)
        st = ocs_node_set_ints(n, "lengths", 1, (const int64_t[]){(int64_t)blob_len}, err);
    free(blob);
    ocs_graph_free(fb);
    if (st != OCS_OK) {
        ocs_graph_free(g);
        return st;
    }
    ex->title = "A two-node region (MatMul, then Relu) whose weight `W` stays a main-graph initializer and is "
                "passed in as an input, with one external blob for a backend called `example`. No backend of "
                "that name is present, so the fallback runs and gives the outputs below.";
    ex->graph = g;
    return OCS_OK;
}

/* ---- the schema ------------------------------------------------------------------------------ */

const ocs_schema ocs_schema_BackendContext = {
    .domain = OCS_PREVIEW_DOMAIN,
    .name = "BackendContext",
    .since_version = 1,
    .summary = summary,
    .attrs = attrs,
    .n_attrs = sizeof attrs / sizeof attrs[0],
    .inputs = inputs,
    .n_inputs = sizeof inputs / sizeof inputs[0],
    .outputs = outputs,
    .n_outputs = sizeof outputs / sizeof outputs[0],
    .constraints = constraints,
    .n_constraints = sizeof constraints / sizeof constraints[0],
    .errors = errors,
    .n_errors = sizeof errors / sizeof errors[0],
    .conventions = conventions,
    .check = check,
    .infer = infer,
    .body = body,
    .body_opset = 0,
    .example = example,
};
