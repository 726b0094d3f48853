/*
 * conformance/compile.c - `ocs compile` and `ocs inspect`.
 *
 *   ocs compile MODEL --backends cpu[,cuda] --encoding function|scopes [--external]
 *               [--inputs DIR] [--region NAME=node,node,...]... -o OUT
 *
 * compiles the model's regions with each listed backend's compile step and
 * writes OUT in the chosen encoding (with --external, the blobs of each
 * backend go to OUT_STEM.<backend>.bin beside OUT; with --local-function,
 * the function encoding also stores each fallback as a model-local function
 * so that runtimes without BackendContext inline it).  The regions are the
 * --region options, else the scopes the model's nodes already carry
 * (metadata ai.onnx.backend_context.scope), else one region per
 * PagedAttention or MoE node.  Sample inputs for the backends' measurements
 * come from --inputs DIR (input_<i>.pb per graph input), or from
 * test_data_set_0 beside MODEL; without them the plans are untuned.
 *
 * --cuda-arch sm_XX makes the cuda blobs with NVRTC for that SM
 * architecture, whether or not a device answers here (NVRTC needs none):
 * "cuda" in --backends then names a compile-only backend for that target.
 * Without it, cuda blobs are compiled for the device present, and a
 * machine without one makes none.
 *
 *   ocs inspect MODEL [--backends LIST] [--strict] [--time] [--runs N] [--inputs DIR]
 *
 * prints the model's regions, their blobs, and what this machine picks for
 * each and why (one reason per blob); with --time, the median time to load
 * the model and make a session with its blobs, with its blobs ignored
 * (fallback), and to compile the regions from scratch instead.
 */
#include "compile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "ocs/blob.h"
#include "ocs/build.h"
#include "../backends/cpu/tuning.h"
#ifdef OCS_HAVE_CUDA
#include "../backends/cuda/compile.h"
#endif

double ocs_cli_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- backends ---------------------------------------------------------------------------- */

void ocs_cli_bc_close(ocs_backend **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        ocs_backend_close(v[i]);
    free(v);
}

ocs_status ocs_cli_bc_open(const char *list, ocs_backend ***out, size_t *n_out, FILE *log, ocs_err *err)
{
    *out = NULL;
    *n_out = 0;
    char *names = NULL;
    if (list) {
        names = dup_str(list);
    } else {
        size_t len = 1;
        for (const char *const *b = ocs_backend_names(); *b; b++)
            len += strlen(*b) + 1;
        names = calloc(len, 1);
        for (const char *const *b = ocs_backend_names(); names && *b; b++) {
            if (names[0])
                strcat(names, ",");
            strcat(names, *b);
        }
    }
    if (!names)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    size_t cap = 1;
    for (const char *c = names; *c; c++)
        cap += *c == ',';
    ocs_backend **v = calloc(cap, sizeof *v);
    if (!v) {
        free(names);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    }
    size_t n = 0;
    char *save = NULL;
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        ocs_backend *b = NULL;
        ocs_err e;
        ocs_err_clear(&e);
        if (ocs_backend_open(name, &b, &e) != OCS_OK) {
            if (log)
                fprintf(log, "backend %s: not present here (%s)\n", name, e.msg);
            continue;
        }
        v[n++] = b;
    }
    free(names);
    *out = v;
    *n_out = n;
    return OCS_OK;
}

/* --backends with --cuda-arch: "cuda" is the compile-only backend for that target. */
static ocs_status open_for_arch(const char *list, const char *arch, ocs_backend ***out, size_t *n_out, FILE *log,
                                ocs_err *err)
{
    *out = NULL;
    *n_out = 0;
#ifndef OCS_HAVE_CUDA
    (void)list;
    (void)log;
    return ocs_fail(err, OCS_ERR_UNSUPPORTED, "--cuda-arch %s: this build has no CUDA backend (nvcc was not found)",
                    arch);
#else
    char *names = dup_str(list ? list : "cuda");
    if (!names)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    size_t cap = 1;
    for (const char *c = names; *c; c++)
        cap += *c == ',';
    ocs_backend **v = calloc(cap, sizeof *v);
    if (!v) {
        free(names);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    }
    size_t n = 0;
    int have_cuda = 0;
    char *save = NULL;
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        ocs_backend *b = NULL;
        ocs_err e;
        ocs_err_clear(&e);
        if (!strcmp(name, "cuda")) {
            have_cuda = 1;
            if (ocs_cuda_compiler_open(arch, &b, err) != OCS_OK) {
                ocs_cli_bc_close(v, n);
                free(names);
                return OCS_ERR_INVALID;
            }
        } else if (ocs_backend_open(name, &b, &e) != OCS_OK) {
            if (log)
                fprintf(log, "backend %s: not present here (%s)\n", name, e.msg);
            continue;
        }
        v[n++] = b;
    }
    free(names);
    if (!have_cuda && log)
        fprintf(log, "compile: --cuda-arch %s given but cuda is not in --backends\n", arch);
    *out = v;
    *n_out = n;
    return OCS_OK;
#endif
}

/* ---- inputs ------------------------------------------------------------------------------- */

void ocs_cli_inputs_free(ocs_cli_inputs *in)
{
    for (size_t i = 0; i < in->n; i++)
        ocs_tensor_free(in->tensors[i]);
    free(in->names);
    free(in->tensors);
    memset(in, 0, sizeof *in);
}

ocs_status ocs_cli_inputs_load(const ocs_model *m, const char *dir, ocs_cli_inputs *out, ocs_err *err)
{
    memset(out, 0, sizeof *out);
    const ocs_graph *g = m->graph;
    out->names = calloc(g->n_inputs + 1, sizeof *out->names);
    out->tensors = calloc(g->n_inputs + 1, sizeof *out->tensors);
    if (!out->names || !out->tensors) {
        ocs_cli_inputs_free(out);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/input_%zu.pb", dir, i);
        struct stat sb;
        if (stat(path, &sb) != 0) {
            int has_init = 0;
            for (size_t k = 0; k < g->n_inits && !has_init; k++)
                has_init = !strcmp(g->inits[k].name, g->inputs[i].name);
            if (has_init)
                continue;
            ocs_cli_inputs_free(out);
            return ocs_fail(err, OCS_ERR_IO, "%s: %s", path, strerror(errno));
        }
        ocs_tensor *t = NULL;
        ocs_status st = ocs_tensor_load_file(path, &t, NULL, err);
        if (st != OCS_OK) {
            ocs_cli_inputs_free(out);
            return st;
        }
        out->names[out->n] = g->inputs[i].name;
        out->tensors[out->n++] = t;
    }
    return OCS_OK;
}

/* ---- compiling ---------------------------------------------------------------------------- */

void ocs_cli_compiled_free(ocs_cli_compiled *c)
{
    ocs_model_free(c->model);
    ocs_bc_files_free(c->files, c->n_files);
    memset(c, 0, sizeof *c);
}

static int set_scope(ocs_node *n, const char *scope)
{
    for (size_t k = 0; k < n->n_meta; k++)
        if (!strcmp(n->meta[k].key, OCS_BC_SCOPE_KEY)) {
            char *v = dup_str(scope);
            if (!v)
                return -1;
            free(n->meta[k].value);
            n->meta[k].value = v;
            return 0;
        }
    ocs_kv *kv = realloc(n->meta, (n->n_meta + 1) * sizeof *kv);
    if (!kv)
        return -1;
    n->meta = kv;
    kv[n->n_meta].key = dup_str(OCS_BC_SCOPE_KEY);
    kv[n->n_meta].value = dup_str(scope);
    if (!kv[n->n_meta].key || !kv[n->n_meta].value) {
        free(kv[n->n_meta].key);
        free(kv[n->n_meta].value);
        return -1;
    }
    n->n_meta++;
    return 0;
}

static ocs_status copy_model(const ocs_model *m, ocs_model **out, ocs_err *err)
{
    void *bytes = NULL;
    size_t len = 0;
    ocs_status st = ocs_model_save_memory(m, &bytes, &len, err);
    if (st == OCS_OK)
        st = ocs_model_load_memory(bytes, len, m->dir && m->dir[0] ? m->dir : NULL, out, err);
    free(bytes);
    return st;
}

/* Marks the regions to compile on a copy of m. */
static ocs_status annotate(ocs_model *m, const char *const *specs, size_t n_specs, FILE *log, ocs_err *err)
{
    ocs_graph *g = m->graph;
    if (n_specs) {
        for (size_t s = 0; s < n_specs; s++) {
            const char *eq = strchr(specs[s], '=');
            if (!eq || eq == specs[s] || !eq[1])
                return ocs_fail(err, OCS_ERR_INVALID, "--region '%s': expected NAME=node,node,...", specs[s]);
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(eq - specs[s]), specs[s]);
            char *list = dup_str(eq + 1), *save = NULL;
            if (!list)
                return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
            ocs_status st = OCS_OK;
            for (char *nn = strtok_r(list, ",", &save); nn && st == OCS_OK; nn = strtok_r(NULL, ",", &save)) {
                size_t found = SIZE_MAX;
                for (size_t i = 0; i < g->n_nodes && found == SIZE_MAX; i++)
                    if (!strcmp(g->nodes[i].name, nn))
                        found = i;
                if (found == SIZE_MAX)
                    st = ocs_fail(err, OCS_ERR_INVALID, "--region %s: the main graph has no node named '%s'", name, nn);
                else if (set_scope(&g->nodes[found], name))
                    st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
            }
            free(list);
            if (st != OCS_OK)
                return st;
        }
        return OCS_OK;
    }
    for (size_t i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < g->nodes[i].n_meta; k++)
            if (!strcmp(g->nodes[i].meta[k].key, OCS_BC_SCOPE_KEY))
                return OCS_OK;   /* the model names its regions */
    size_t auto_n = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        ocs_node *n = &g->nodes[i];
        if (strcmp(n->domain, OCS_PREVIEW_DOMAIN) || (strcmp(n->op_type, "PagedAttention") && strcmp(n->op_type, "MoE")))
            continue;
        char name[256];
        int ok = n->name[0] != '\0';
        for (const char *c = n->name; ok && *c; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
                 *c == '-' || *c == '.' || *c == '/';
        if (ok)
            snprintf(name, sizeof name, "%s", n->name);
        else
            snprintf(name, sizeof name, "region%zu", auto_n);
        if (set_scope(n, name))
            return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
        auto_n++;
    }
    if (!auto_n && log)
        fprintf(log, "compile: the model names no regions and has no PagedAttention or MoE node\n");
    return OCS_OK;
}

/* Values of the names the regions read and produce, from one run of the model on inputs. */
typedef struct captured {
    size_t n;
    char **names;
    ocs_tensor **values;
} captured;

static void captured_free(captured *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->names[i]);
        ocs_tensor_free(c->values[i]);
    }
    free(c->names);
    free(c->values);
    memset(c, 0, sizeof *c);
}

static const ocs_tensor *find_value(const ocs_model *m, const ocs_cli_inputs *in, const captured *c, const char *name)
{
    for (size_t i = 0; in && i < in->n; i++)
        if (!strcmp(in->names[i], name))
            return in->tensors[i];
    for (size_t i = 0; i < m->graph->n_inits; i++)
        if (!strcmp(m->graph->inits[i].name, name))
            return m->graph->inits[i].tensor;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->names[i], name))
            return c->values[i];
    return NULL;
}

static ocs_status capture(const ocs_model *m, const ocs_bc_region *rs, size_t nr, ocs_backend *const *bes, size_t nb,
                          const ocs_cli_inputs *in, captured *out, ocs_err *err)
{
    memset(out, 0, sizeof *out);
    ocs_model *copy = NULL;
    ocs_status st = copy_model(m, &copy, err);
    if (st != OCS_OK)
        return st;
    /* the graph's own outputs first, then every region value that is not an input or initializer */
    size_t n0 = copy->graph->n_outputs;
    for (size_t r = 0; r < nr && st == OCS_OK; r++)
        for (int side = 0; side < 2 && st == OCS_OK; side++) {
            size_t cnt = side ? rs[r].n_outputs : rs[r].n_inputs;
            char **names = side ? rs[r].outputs : rs[r].inputs;
            for (size_t k = 0; k < cnt && st == OCS_OK; k++) {
                if (find_value(copy, in, out, names[k]))
                    continue;
                int dup = 0;
                for (size_t j = 0; j < copy->graph->n_outputs && !dup; j++)
                    dup = !strcmp(copy->graph->outputs[j].name, names[k]);
                if (!dup)
                    st = ocs_graph_add_output(copy->graph, names[k], OCS_UNDEFINED, -1, NULL, err);
            }
        }
    size_t no = copy->graph->n_outputs;
    ocs_tensor **vals = calloc(no + 1, sizeof *vals);
    out->names = calloc(no + 1, sizeof *out->names);
    out->values = calloc(no + 1, sizeof *out->values);
    if (st == OCS_OK && (!vals || !out->names || !out->values))
        st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    ocs_session *s = NULL;
    ocs_session_options opt = {bes, nb, 0};
    ocs_bc_options bc = {0, 1, NULL, NULL};
    if (st == OCS_OK)
        st = ocs_session_new_bc(copy, &opt, &bc, &s, err);
    if (st == OCS_OK)
        st = ocs_session_run(s, in->n, in->names, (const ocs_tensor *const *)in->tensors, no, vals, err);
    ocs_session_free(s);
    for (size_t j = 0; j < no && vals; j++) {
        if (st == OCS_OK && j >= n0) {
            out->names[out->n] = dup_str(copy->graph->outputs[j].name);
            out->values[out->n++] = vals[j];
        } else {
            ocs_tensor_free(vals[j]);
        }
    }
    free(vals);
    ocs_model_free(copy);
    if (st != OCS_OK)
        captured_free(out);
    return st;
}

void ocs_cli_blobs_free(ocs_cli_blobs *b)
{
    for (size_t r = 0; b->blobs && b->specs && r < b->n_regions; r++) {
        for (size_t k = 0; b->blobs[r] && k < b->specs[r].n_blobs; k++) {
            free((void *)b->blobs[r][k].compat);
            free((void *)b->blobs[r][k].bytes);
        }
        free(b->blobs[r]);
    }
    for (size_t i = 0; b->types && i < 2 * b->n_regions; i++)
        free(b->types[i]);
    free(b->types);
    free(b->blobs);
    free(b->specs);
    ocs_bc_regions_free(b->regions, b->n_regions);
    ocs_model_free(b->annotated);
    memset(b, 0, sizeof *b);
}

ocs_status ocs_cli_bc_compile_regions(const ocs_model *m, ocs_backend *const *bes, size_t nb,
                                      const ocs_cli_inputs *inputs, const char *const *region_specs, size_t n_specs,
                                      ocs_cli_blobs *out, FILE *log, ocs_err *err)
{
    memset(out, 0, sizeof *out);
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    ocs_status st = ocs_bc_discover(m, &rs, &nr, err);
    if (st != OCS_OK)
        return st;
    for (size_t r = 0; r < nr && st == OCS_OK; r++)
        if (rs[r].encoding == OCS_BC_FUNCTION || rs[r].n_blobs)
            st = ocs_fail(err, OCS_ERR_INVALID,
                          "the model already holds compiled regions ('%s'); compile the original model", rs[r].name);
    ocs_bc_regions_free(rs, nr);
    rs = NULL;
    nr = 0;
    if (st != OCS_OK)
        return st;

    captured cap = {0};
    st = copy_model(m, &out->annotated, err);
    ocs_model *ann = out->annotated;
    if (st == OCS_OK)
        st = annotate(ann, region_specs, n_specs, log, err);
    if (st == OCS_OK)
        st = ocs_bc_discover(ann, &out->regions, &out->n_regions, err);
    rs = out->regions;
    nr = out->n_regions;
    for (size_t r = 0; r < nr && st == OCS_OK; r++)
        if (rs[r].problem)
            st = ocs_fail(err, OCS_ERR_INVALID, "region '%s': %s", rs[r].name, rs[r].problem);
    if (st != OCS_OK)
        goto done;

    /* sample values for the measurements */
    int have_samples = inputs != NULL;
    for (size_t i = 0; have_samples && i < ann->graph->n_inputs; i++)
        have_samples = find_value(ann, inputs, &cap, ann->graph->inputs[i].name) != NULL;
    if (have_samples) {
        ocs_err e;
        if (capture(ann, rs, nr, bes, nb, inputs, &cap, &e) != OCS_OK) {
            if (log)
                fprintf(log, "compile: running the model on the sample inputs failed (%s); plans are untuned\n", e.msg);
            have_samples = 0;
        }
    } else if (log) {
        fprintf(log, "compile: no sample inputs; plans use the built-in choices (untuned)\n");
    }
    out->tuned = have_samples;

    out->specs = calloc(nr + 1, sizeof *out->specs);
    out->blobs = calloc(nr + 1, sizeof *out->blobs);
    out->types = calloc(2 * nr + 1, sizeof *out->types);
    ocs_bc_region_spec *specs = out->specs;
    ocs_bc_blob_out **blobs = out->blobs;
    ocs_tensor_type **types = out->types;
    if (!specs || !blobs || !types) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t r = 0; r < nr && st == OCS_OK; r++) {
        ocs_bc_region *rg = &rs[r];
        specs[r].name = rg->name;
        specs[r].n_nodes = rg->n_nodes;
        specs[r].nodes = rg->node_index;
        blobs[r] = calloc(nb + 1, sizeof *blobs[r]);
        types[2 * r] = calloc(rg->n_inputs + 1, sizeof **types);
        types[2 * r + 1] = calloc(rg->n_outputs + 1, sizeof **types);
        const ocs_tensor **sample = calloc(rg->n_inputs + 1, sizeof *sample);
        if (!blobs[r] || !types[2 * r] || !types[2 * r + 1] || !sample) {
            free(sample);
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < rg->n_inputs; k++) {
            sample[k] = have_samples ? find_value(ann, inputs, &cap, rg->inputs[k]) : NULL;
            if (sample[k])
                ocs_tensor_type_of(sample[k], &types[2 * r][k]);
            else
                types[2 * r][k] = rg->input_types[k];
        }
        for (size_t k = 0; k < rg->n_outputs; k++) {
            const ocs_tensor *t = have_samples ? find_value(ann, inputs, &cap, rg->outputs[k]) : NULL;
            ocs_tensor_type_of(t, &types[2 * r + 1][k]);
        }
        specs[r].input_types = types[2 * r];
        specs[r].output_types = types[2 * r + 1];
        ocs_bc_view v;
        st = ocs_bc_view_make(ann, rg, &v, err);
        for (size_t b = 0; b < nb && st == OCS_OK; b++) {
            const ocs_backend *be = bes[b];
            if (!be->ops->bc_compile) {
                if (log)
                    fprintf(log, "compile: backend %s has no compile step; no %s blob for '%s'\n", be->ops->name,
                            be->ops->name, rg->name);
                continue;
            }
            void *payload = NULL, *container = NULL;
            size_t plen = 0, clen = 0;
            char *compat = NULL;
            ocs_err e;
            ocs_err_clear(&e);
            double t0 = ocs_cli_now_ms();
            ocs_status cs = be->ops->bc_compile(be->ctx, &v, have_samples ? sample : NULL, &payload, &plen, &compat, &e);
            out->compile_ms += ocs_cli_now_ms() - t0;
            if (cs == OCS_ERR_UNSUPPORTED) {
                if (log)
                    fprintf(log, "compile: %s does not compile region '%s': %s\n", be->ops->name, rg->name, e.msg);
                continue;
            }
            if (cs == OCS_OK)
                cs = ocs_blob_write(be->ops->name, compat, payload, plen, &container, &clen, &e);
            free(payload);
            if (cs != OCS_OK) {
                free(compat);
                st = ocs_fail(err, cs, "region '%s', backend %s: %s", rg->name, be->ops->name, e.msg);
                break;
            }
            ocs_bc_blob_out *bo = &blobs[r][specs[r].n_blobs++];
            bo->backend = be->ops->name;
            bo->compat = compat;
            bo->bytes = container;
            bo->len = clen;
            out->n_blobs++;
            out->blob_bytes += clen;
            if (log)
                fprintf(log, "compile: region '%s' (%zu nodes): %s blob, %zu bytes, needs '%s'\n", rg->name, rg->n_nodes,
                        be->ops->name, clen, compat);
        }
        specs[r].blobs = blobs[r];
        ocs_bc_view_free(&v);
        free(sample);
    }
done:
    captured_free(&cap);
    if (st != OCS_OK)
        ocs_cli_blobs_free(out);
    return st;
}

ocs_status ocs_cli_bc_encode(const ocs_cli_blobs *b, ocs_bc_encoding enc, const char *external_stem,
                             ocs_cli_compiled *out, ocs_err *err)
{
    memset(out, 0, sizeof *out);
    ocs_status st = ocs_bc_encode(b->annotated, b->specs, b->n_regions, enc, external_stem, &out->model, &out->files,
                                  &out->n_files, err);
    out->n_regions = b->n_regions;
    out->n_blobs = b->n_blobs;
    out->blob_bytes = b->blob_bytes;
    out->compile_ms = b->compile_ms;
    out->tuned = b->tuned;
    return st;
}

ocs_status ocs_cli_bc_compile(const ocs_model *m, ocs_backend *const *bes, size_t nb, const ocs_cli_inputs *inputs,
                              const char *const *region_specs, size_t n_specs, ocs_bc_encoding enc,
                              const char *external_stem, ocs_cli_compiled *out, FILE *log, ocs_err *err)
{
    memset(out, 0, sizeof *out);
    ocs_cli_blobs b;
    ocs_status st = ocs_cli_bc_compile_regions(m, bes, nb, inputs, region_specs, n_specs, &b, log, err);
    if (st != OCS_OK)
        return st;
    st = ocs_cli_bc_encode(&b, enc, external_stem, out, err);
    ocs_cli_blobs_free(&b);
    if (st != OCS_OK)
        ocs_cli_compiled_free(out);
    return st;
}

/* ---- ocs compile --------------------------------------------------------------------------------- */

static void compile_usage(FILE *f)
{
    fprintf(f, "usage: ocs compile MODEL --backends cpu[,cuda] --encoding function|scopes [--external] [--local-function]\n"
               "                   [--inputs DIR] [--region NAME=node,node,...]... [--cuda-arch sm_XX] -o OUT\n");
}

/* The sample inputs: --inputs DIR, else test_data_set_0 beside the model when present. */
static int load_samples(const ocs_model *m, const char *model_path, const char *dir, ocs_cli_inputs *in, FILE *log)
{
    char buf[4096];
    if (!dir) {
        const char *slash = strrchr(model_path, '/');
        if (slash)
            snprintf(buf, sizeof buf, "%.*s/test_data_set_0", (int)(slash - model_path), model_path);
        else
            snprintf(buf, sizeof buf, "test_data_set_0");
        struct stat sb;
        if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return 0;
        dir = buf;
    }
    ocs_err e;
    if (ocs_cli_inputs_load(m, dir, in, &e) != OCS_OK) {
        fprintf(log, "compile: sample inputs from %s: %s\n", dir, e.msg);
        return 0;
    }
    return 1;
}

int ocs_cmd_compile(int argc, char **argv)
{
    const char *model_path = NULL, *out_path = NULL, *backends = "cpu", *enc_name = NULL, *inputs_dir = NULL;
    const char *cuda_arch = NULL;
    int external = 0, local_fn = 0;
    const char **specs = calloc((size_t)argc + 1, sizeof *specs);
    size_t n_specs = 0;
    if (!specs)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            compile_usage(stdout);
            free(specs);
            return 0;
        } else if (!strcmp(a, "--external")) {
            external = 1;
        } else if (!strcmp(a, "--local-function")) {
            local_fn = 1;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--backends") || !strcmp(a, "--encoding") ||
                    !strcmp(a, "--inputs") || !strcmp(a, "--region") || !strcmp(a, "--cuda-arch")) && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(a, "--cuda-arch"))
                cuda_arch = v;
            else if (!strcmp(a, "-o"))
                out_path = v;
            else if (!strcmp(a, "--backends"))
                backends = v;
            else if (!strcmp(a, "--encoding"))
                enc_name = v;
            else if (!strcmp(a, "--inputs"))
                inputs_dir = v;
            else
                specs[n_specs++] = v;
        } else if (a[0] != '-' && !model_path) {
            model_path = a;
        } else {
            fprintf(stderr, "ocs compile: unexpected argument '%s'\n", a);
            compile_usage(stderr);
            free(specs);
            return 2;
        }
    }
    ocs_bc_encoding enc = OCS_BC_FUNCTION;
    if (!model_path || !out_path || !enc_name || (strcmp(enc_name, "function") && strcmp(enc_name, "scopes"))) {
        compile_usage(stderr);
        free(specs);
        return 2;
    }
    if (!strcmp(enc_name, "scopes"))
        enc = OCS_BC_SCOPES;
    ocs_err err;
    ocs_err_clear(&err);
    ocs_model *m = NULL;
    ocs_backend **bes = NULL;
    size_t nb = 0;
    ocs_cli_inputs in = {0};
    ocs_cli_compiled c = {0};
    int rc = 1;
    if (ocs_model_load_file(model_path, &m, &err) != OCS_OK) {
        fprintf(stderr, "ocs compile: %s\n", err.msg);
        goto done;
    }
    if ((cuda_arch ? open_for_arch(backends, cuda_arch, &bes, &nb, stderr, &err)
                   : ocs_cli_bc_open(backends, &bes, &nb, stderr, &err)) != OCS_OK) {
        fprintf(stderr, "ocs compile: %s\n", err.msg);
        goto done;
    }
    int have = load_samples(m, model_path, inputs_dir, &in, stderr);
    /* the stem of the blob files: OUT's file name without ".onnx" */
    const char *base = strrchr(out_path, '/');
    base = base ? base + 1 : out_path;
    char stem[1024];
    snprintf(stem, sizeof stem, "%s", base);
    size_t sl = strlen(stem);
    if (sl > 5 && !strcmp(stem + sl - 5, ".onnx"))
        stem[sl - 5] = '\0';
    if (ocs_cli_bc_compile(m, bes, nb, have ? &in : NULL, specs, n_specs, enc, external ? stem : NULL, &c, stderr,
                           &err) != OCS_OK) {
        fprintf(stderr, "ocs compile: %s\n", err.msg);
        goto done;
    }
    if (local_fn && enc == OCS_BC_FUNCTION && ocs_bc_add_local_functions(c.model, &err) != OCS_OK) {
        fprintf(stderr, "ocs compile: %s\n", err.msg);
        goto done;
    }
    if (ocs_bc_save(c.model, out_path, c.files, c.n_files, &err) != OCS_OK) {
        fprintf(stderr, "ocs compile: %s\n", err.msg);
        goto done;
    }
    printf("%s: %zu region(s), %zu blob(s), %zu blob bytes, %s encoding%s, compile steps %.1f ms (%s)\n", out_path,
           c.n_regions, c.n_blobs, c.blob_bytes, enc_name, external ? " with external blob files" : "", c.compile_ms,
           c.tuned ? "tuned on sample inputs" : "untuned");
    for (size_t i = 0; i < c.n_files; i++)
        printf("  %s (%zu bytes)\n", c.files[i].name, c.files[i].len);
    rc = 0;
done:
    ocs_cli_compiled_free(&c);
    ocs_cli_inputs_free(&in);
    ocs_cli_bc_close(bes, nb);
    ocs_model_free(m);
    free(specs);
    return rc;
}

/* ---- ocs inspect ---------------------------------------------------------------------------------- */

static void inspect_usage(FILE *f)
{
    fprintf(f, "usage: ocs inspect MODEL [--backends LIST] [--strict] [--time] [--runs N] [--inputs DIR]\n");
}

static void print_line(void *user, const char *line)
{
    fprintf((FILE *)user, "  decision: %s\n", line);
}

static void print_regions(const ocs_model *m, const ocs_bc_region *rs, size_t nr)
{
    printf("%zu region(s)\n", nr);
    for (size_t r = 0; r < nr; r++) {
        const ocs_bc_region *g = &rs[r];
        printf("region '%s' (%s encoding): %zu node(s)", g->name, ocs_bc_encoding_name(g->encoding), g->n_nodes);
        for (size_t k = 0; k < g->n_nodes && k < 8; k++)
            printf("%s%s", k ? ", " : " [", g->nodes[k]->op_type);
        printf("%s\n", g->n_nodes > 8 ? ", ...]" : g->n_nodes ? "]" : "");
        if (g->problem)
            printf("  malformed: %s\n", g->problem);
        printf("  inputs:");
        for (size_t k = 0; k < g->n_inputs; k++)
            printf(" %s", g->inputs[k]);
        printf("\n  outputs:");
        for (size_t k = 0; k < g->n_outputs; k++)
            printf(" %s", g->outputs[k]);
        printf("\n");
        for (size_t b = 0; b < g->n_blobs; b++) {
            const ocs_bc_blob *bl = &g->blobs[b];
            printf("  blob %zu: backend '%s', needs '%s', sha256 %.16s...", b, bl->backend, bl->compat, bl->sha256);
            if (bl->external)
                printf(", file '%s' offset %lld length %lld\n", bl->location, (long long)bl->offset,
                       (long long)bl->length);
            else
                printf(", embedded (%zu bytes)\n", bl->len);
            if (bl->problem)
                printf("    malformed: %s\n", bl->problem);
        }
    }
    (void)m;
}

/* Prints the text payload of an accepted blob (the cpu plan), indented. */
static void print_plan(const ocs_model *m, const ocs_bc_region *r, const ocs_bc_decision *d)
{
    if (!d->accepted)
        return;
    const unsigned char *bytes = NULL;
    size_t len = 0;
    void *owned = NULL;
    ocs_bc_reason why;
    ocs_err e;
    if (ocs_bc_blob_bytes(m, &r->blobs[d->blob], &bytes, &len, &owned, &why, &e) != OCS_OK)
        return;
    ocs_blob c;
    if (ocs_blob_parse(bytes, len, &c, &e) == OCS_OK) {
        int text = 1;
        for (size_t i = 0; i < c.payload_len && text; i++)
            text = (c.payload[i] >= 0x20 && c.payload[i] <= 0x7e) || c.payload[i] == '\n';
        if (text) {
            printf("  payload of the accepted blob:\n");
            const char *p = (const char *)c.payload, *end = p + c.payload_len;
            while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
                printf("    %.*s\n", (int)(n > 300 ? 300 : n), p);
                p += n + 1;
            }
        }
    }
    free(owned);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over runs of: load the file, make a session (blobs used or ignored). */
static int time_load(const char *path, ocs_backend *const *bes, size_t nb, int disable, int runs, double *median)
{
    double t[64];
    if (runs > 64)
        runs = 64;
    for (int i = -1; i < runs; i++) {   /* run -1 warms the caches */
        ocs_err e;
        double t0 = ocs_cli_now_ms();
        ocs_model *m = NULL;
        ocs_session *s = NULL;
        ocs_session_options opt = {bes, nb, 0};
        ocs_bc_options bc = {0, disable, NULL, NULL};
        ocs_status st = ocs_model_load_file(path, &m, &e);
        if (st == OCS_OK)
            st = ocs_session_new_bc(m, &opt, &bc, &s, &e);
        if (i >= 0)
            t[i] = ocs_cli_now_ms() - t0;
        ocs_session_free(s);
        ocs_model_free(m);
        if (st != OCS_OK)
            return -1;
    }
    qsort(t, (size_t)runs, sizeof *t, dbl_cmp);
    *median = t[runs / 2];
    return 0;
}

int ocs_cmd_inspect(int argc, char **argv)
{
    const char *model_path = NULL, *backends = NULL, *inputs_dir = NULL;
    int strict = 0, timing = 0, runs = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            inspect_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--strict")) {
            strict = 1;
        } else if (!strcmp(a, "--time")) {
            timing = 1;
        } else if (!strcmp(a, "--backends") && i + 1 < argc) {
            backends = argv[++i];
        } else if (!strcmp(a, "--inputs") && i + 1 < argc) {
            inputs_dir = argv[++i];
        } else if (!strcmp(a, "--runs") && i + 1 < argc) {
            runs = atoi(argv[++i]);
            if (runs < 1 || runs > 64) {
                fprintf(stderr, "ocs inspect: --runs must be 1..64\n");
                return 2;
            }
        } else if (a[0] != '-' && !model_path) {
            model_path = a;
        } else {
            inspect_usage(stderr);
            return 2;
        }
    }
    if (!model_path) {
        inspect_usage(stderr);
        return 2;
    }
    ocs_err err;
    ocs_err_clear(&err);
    ocs_model *m = NULL;
    double t0 = ocs_cli_now_ms();
    if (ocs_model_load_file(model_path, &m, &err) != OCS_OK) {
        fprintf(stderr, "ocs inspect: %s\n", err.msg);
        return 1;
    }
    double load_ms = ocs_cli_now_ms() - t0;
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    ocs_backend **bes = NULL;
    size_t nb = 0;
    int rc = 1;
    if (ocs_bc_discover(m, &rs, &nr, &err) != OCS_OK) {
        fprintf(stderr, "ocs inspect: %s\n", err.msg);
        goto done;
    }
    printf("%s: loaded in %.2f ms\n", model_path, load_ms);
    print_regions(m, rs, nr);
    if (ocs_cli_bc_open(backends, &bes, &nb, stdout, &err) != OCS_OK) {
        fprintf(stderr, "ocs inspect: %s\n", err.msg);
        goto done;
    }
    printf("this machine, backends in priority order:");
    for (size_t b = 0; b < nb; b++)
        printf(" %s", bes[b]->ops->name);
    printf("%s\n", nb ? "" : " (none: the reference runs every region's fallback)");
    for (size_t b = 0; b < nb; b++)
        if (bes[b]->ops->describe)
            printf("  %s: %s\n", bes[b]->ops->name, bes[b]->ops->describe(bes[b]->ctx));
    {
        ocs_session *s = NULL;
        ocs_session_options opt = {bes, nb, 0};
        ocs_bc_options bc = {strict, 0, print_line, stdout};
        double s0 = ocs_cli_now_ms();
        ocs_status st = ocs_session_new_bc(m, &opt, &bc, &s, &err);
        double sess_ms = ocs_cli_now_ms() - s0;
        if (st != OCS_OK) {
            printf("session: %s\n", err.msg);
            goto done;
        }
        printf("session made in %.2f ms\n", sess_ms);
        for (size_t i = 0; i < ocs_session_bc_count(s); i++)
            print_plan(m, ocs_session_bc_region(s, i), ocs_session_bc_decision(s, i));
        ocs_session_free(s);
    }
    if (timing) {
        double with_blob = 0, fallback = 0;
        if (time_load(model_path, bes, nb, 0, runs, &with_blob) || time_load(model_path, bes, nb, 1, runs, &fallback)) {
            printf("timing: loading failed\n");
            goto done;
        }
        printf("time (median of %d): load + session with blobs %.3f ms; with blobs ignored (fallback) %.3f ms\n", runs,
               with_blob, fallback);
        /* compiling instead: the backends' compile steps on the same regions */
        ocs_cli_inputs in = {0};
        int have = load_samples(m, model_path, inputs_dir, &in, stdout);
        double compile_ms = 0.0;
        for (size_t r = 0; r < nr; r++) {
            if (rs[r].problem || !rs[r].nodes)
                continue;
            ocs_bc_view v;
            if (ocs_bc_view_make(m, &rs[r], &v, &err) != OCS_OK)
                continue;
            const ocs_tensor **sample = calloc(rs[r].n_inputs + 1, sizeof *sample);
            int complete = have && sample;
            for (size_t k = 0; complete && k < rs[r].n_inputs; k++) {
                for (size_t i = 0; i < in.n && !sample[k]; i++)
                    if (!strcmp(in.names[i], rs[r].inputs[k]))
                        sample[k] = in.tensors[i];
                for (size_t i = 0; i < m->graph->n_inits && !sample[k]; i++)
                    if (!strcmp(m->graph->inits[i].name, rs[r].inputs[k]))
                        sample[k] = m->graph->inits[i].tensor;
                complete = sample[k] != NULL;
            }
            for (size_t b = 0; b < nb; b++) {
                if (!bes[b]->ops->bc_compile)
                    continue;
                void *payload = NULL;
                size_t len = 0;
                char *compat = NULL;
                ocs_err e;
                double c0 = ocs_cli_now_ms();
                if (bes[b]->ops->bc_compile(bes[b]->ctx, &v, complete ? sample : NULL, &payload, &len, &compat, &e) ==
                    OCS_OK)
                    compile_ms += ocs_cli_now_ms() - c0;
                free(payload);
                free(compat);
            }
            free(sample);
            ocs_bc_view_free(&v);
        }
        ocs_cli_inputs_free(&in);
        printf("time: compiling the regions instead (%s) %.3f ms, plus the fallback load above\n",
               have ? "tuned on the sample inputs" : "untuned, no sample inputs", compile_ms);
    }
    rc = 0;
done:
    ocs_cli_bc_close(bes, nb);
    ocs_bc_regions_free(rs, nr);
    ocs_model_free(m);
    return rc;
}
