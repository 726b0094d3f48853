/*
 * tests/test_backend_context.c - BackendContext end to end: the blob
 * container, both encodings (function node and metadata scopes), the cpu
 * backend's compile step, selection with its reasons, and every way a blob
 * can be wrong.
 *
 * Models: an MLP region of standard ops, a PagedAttention region (three
 * projections, PagedAttention, the output projection) and an MoE region
 * (router projection, MoE, residual Add).  Each is annotated with a scope,
 * compiled by the cpu backend on its inputs, encoded both ways (embedded
 * and external) and run three ways: from the blob, from the fallback on the
 * same backend (blobs disabled), and on the reference alone.  Blob and
 * fallback outputs must be bit-identical.
 *
 * Every bad blob (absolute path, "..", a symlink leaving the folder, a FIFO,
 * a folder, a missing file, truncated, wrong magic, wrong checksums,
 * oversized lengths, wrong or unknown backend, an incompatible ISA, a newer
 * container version, a corrupt or foreign plan) must give its reason and a
 * clean fallback with the right outputs, and under the strict flag an error;
 * never a crash (the suite also runs under AddressSanitizer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "ocs/backend_context.h"
#include "ocs/blob.h"
#include "ocs/build.h"
#include "ocs/hooks.h"
#include "ocs/sha256.h"
#include "../backends/cpu/tuning.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- fixture ------------------------------------------------------------------------------- */

static ocs_backend *cpu;
static char rootdir[256];     /* removed at the end; holds the model folder and "outside" files */
static char tmpdir[300];      /* the model folder */

static int setup(void **state)
{
    (void)state;
    ocs_err err = {{0}};
    if (ocs_backend_open("cpu", &cpu, &err) != OCS_OK) {
        fprintf(stderr, "cannot open the cpu backend: %s\n", err.msg);
        return -1;
    }
    snprintf(rootdir, sizeof rootdir, "/tmp/ocs-bc-test-XXXXXX");
    if (!mkdtemp(rootdir))
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "%s/m", rootdir);
    return mkdir(tmpdir, 0700) == 0 ? 0 : -1;
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static int teardown(void **state)
{
    (void)state;
    ocs_backend_close(cpu);
    remove_tree(rootdir);
    return 0;
}

/* ---- data -------------------------------------------------------------------------------- */

static uint64_t rng_state;

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static ocs_tensor *rand_tensor(int rank, const int64_t *dims, double scale)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, rank, dims, &t, NULL), OCS_OK);
    for (size_t i = 0; i < t->numel; i++)
        ((float *)t->data)[i] = (float)((urand() * 2.0 - 1.0) * scale);
    return t;
}

static ocs_tensor *i32_tensor(int rank, const int64_t *dims, const int32_t *v)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_INT32, rank, dims, &t, NULL), OCS_OK);
    memcpy(t->data, v, t->nbytes);
    return t;
}

/* A model with its graph inputs (name, tensor) and a scope to compile. */
typedef struct built {
    ocs_model *m;
    size_t n_in;
    const char *names[12];
    ocs_tensor *in[12];
} built;

static void built_free(built *b)
{
    ocs_model_free(b->m);
    for (size_t i = 0; i < b->n_in; i++)
        ocs_tensor_free(b->in[i]);
    memset(b, 0, sizeof *b);
}

static void add_init(ocs_graph *g, const char *name, ocs_tensor *t)
{
    assert_int_equal(ocs_graph_add_initializer(g, name, t, NULL), OCS_OK);
    ocs_tensor_free(t);
}

static void add_input(built *b, const char *name, ocs_tensor *t)
{
    assert_int_equal(ocs_graph_add_input(b->m->graph, name, t->dtype, t->rank, t->dims, NULL), OCS_OK);
    b->names[b->n_in] = name;
    b->in[b->n_in++] = t;
}

static ocs_node *node(ocs_graph *g, const char *op, const char *domain, const char *name, size_t ni,
                      const char *const *in, size_t no, const char *const *out)
{
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(g, op, domain, name, ni, in, no, out, &n, NULL), OCS_OK);
    return n;
}

static void scope(ocs_node *n, const char *s)
{
    n->meta = realloc(n->meta, (n->n_meta + 1) * sizeof *n->meta);
    assert_non_null(n->meta);
    n->meta[n->n_meta].key = strdup(OCS_BC_SCOPE_KEY);
    n->meta[n->n_meta].value = strdup(s);
    n->n_meta++;
}

#define IN(...) N_OF(((const char *const[]){__VA_ARGS__})), (const char *const[]){__VA_ARGS__}

/* y = |relu(x W1) W2| with the scope on the two MatMuls and the Relu; the Abs stays outside. */
static void build_mlp(built *b)
{
    rng_state = 11;
    assert_int_equal(ocs_model_new(&b->m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(b->m, "", 17, NULL), OCS_OK);
    ocs_graph *g = b->m->graph;
    static const int64_t xd[] = {3, 8}, w1d[] = {8, 16}, w2d[] = {16, 4}, yd[] = {3, 4};
    add_input(b, "x", rand_tensor(2, xd, 1.0));
    add_init(g, "W1", rand_tensor(2, w1d, 0.5));
    add_init(g, "W2", rand_tensor(2, w2d, 0.5));
    assert_int_equal(ocs_graph_add_output(g, "y", OCS_FLOAT, 2, yd, NULL), OCS_OK);
    scope(node(g, "MatMul", "", "mm1", IN("x", "W1"), IN("h")), "mlp");
    scope(node(g, "Relu", "", "act", IN("h"), IN("a")), "mlp");
    scope(node(g, "MatMul", "", "mm2", IN("a", "W2"), IN("z")), "mlp");
    node(g, "Abs", "", "post", IN("z"), IN("y"));
}

/* Decode step of two sequences: q/k/v projections, PagedAttention, output projection. */
static void build_pa(built *b)
{
    rng_state = 22;
    assert_int_equal(ocs_model_new(&b->m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(b->m, "", 24, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(b->m, OCS_PREVIEW_DOMAIN, 1, NULL), OCS_OK);
    ocs_graph *g = b->m->graph;
    enum { T = 2, H = 2, HKV = 1, D = 8, NB = 6, BS = 4, MB = 3, B = 2 };
    static const int64_t xd[] = {T, H * D}, wq[] = {H * D, H * D}, wk[] = {H * D, HKV * D},
                         cd[] = {NB, BS, HKV, D}, cud[] = {B + 1}, pd[] = {B}, btd[] = {B, MB};
    static const int32_t cu[] = {0, 1, 2}, past[] = {5, 3}, bt[] = {0, 1, -1, 2, -1, -1};
    add_input(b, "x", rand_tensor(2, xd, 1.0));
    add_input(b, "key_cache", rand_tensor(4, cd, 1.0));
    add_input(b, "value_cache", rand_tensor(4, cd, 1.0));
    add_input(b, "cu", i32_tensor(1, cud, cu));
    add_input(b, "past", i32_tensor(1, pd, past));
    add_input(b, "block_table", i32_tensor(2, btd, bt));
    add_init(g, "Wq", rand_tensor(2, wq, 0.3));
    add_init(g, "Wk", rand_tensor(2, wk, 0.3));
    add_init(g, "Wv", rand_tensor(2, wk, 0.3));
    add_init(g, "Wo", rand_tensor(2, wq, 0.3));
    assert_int_equal(ocs_graph_add_output(g, "y", OCS_FLOAT, 2, xd, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "key_cache_out", OCS_FLOAT, 4, cd, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "value_cache_out", OCS_FLOAT, 4, cd, NULL), OCS_OK);
    scope(node(g, "MatMul", "", "q_proj", IN("x", "Wq"), IN("q")), "attn");
    scope(node(g, "MatMul", "", "k_proj", IN("x", "Wk"), IN("k")), "attn");
    scope(node(g, "MatMul", "", "v_proj", IN("x", "Wv"), IN("v")), "attn");
    ocs_node *pa = node(g, "PagedAttention", OCS_PREVIEW_DOMAIN, "pa",
                        IN("q", "k", "v", "key_cache", "value_cache", "cu", "past", "block_table"),
                        IN("o", "key_cache_out", "value_cache_out"));
    assert_int_equal(ocs_node_set_int(pa, "num_heads", H, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_int(pa, "kv_num_heads", HKV, NULL), OCS_OK);
    scope(pa, "attn");
    scope(node(g, "MatMul", "", "o_proj", IN("o", "Wo"), IN("y")), "attn");
}

/* Router projection, MoE with the default router and a ReLU FFN expert, residual Add. */
static void build_moe(built *b)
{
    rng_state = 33;
    assert_int_equal(ocs_model_new(&b->m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(b->m, "", 24, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(b->m, OCS_PREVIEW_DOMAIN, 1, NULL), OCS_OK);
    ocs_graph *g = b->m->graph;
    enum { T = 6, H = 8, E = 4, I = 16 };
    static const int64_t xd[] = {T, H}, wr[] = {H, E}, w1[] = {E, I, H}, w2[] = {E, H, I};
    add_input(b, "x", rand_tensor(2, xd, 1.0));
    add_init(g, "Wr", rand_tensor(2, wr, 1.0));
    add_init(g, "W1", rand_tensor(3, w1, 0.4));
    add_init(g, "W2", rand_tensor(3, w2, 0.4));
    assert_int_equal(ocs_graph_add_output(g, "y", OCS_FLOAT, 2, xd, NULL), OCS_OK);
    scope(node(g, "MatMul", "", "router", IN("x", "Wr"), IN("logits")), "moe");
    ocs_node *moe = node(g, "MoE", OCS_PREVIEW_DOMAIN, "moe", IN("x", "logits", "W1", "W2"), IN("m"));
    assert_int_equal(ocs_node_set_int(moe, "k", 2, NULL), OCS_OK);
    ocs_graph *expert = NULL;
    assert_int_equal(ocs_moe_expert_ffn(OCS_FLOAT, OCS_MOE_ACT_RELU, 0, &expert, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_graph(moe, "expert", expert, NULL), OCS_OK);
    scope(moe, "moe");
    scope(node(g, "Add", "", "residual", IN("m", "x"), IN("y")), "moe");
}

/* ---- compile, encode, run ----------------------------------------------------------------------------- */

/* The value of region input `name`: a graph input of b or an initializer of its model. */
static const ocs_tensor *value_of(const built *b, const char *name)
{
    for (size_t i = 0; i < b->n_in; i++)
        if (!strcmp(b->names[i], name))
            return b->in[i];
    const ocs_graph *g = b->m->graph;
    for (size_t i = 0; i < g->n_inits; i++)
        if (!strcmp(g->inits[i].name, name))
            return g->inits[i].tensor;
    return NULL;
}

/* Compiles the annotated model's only scope with backend be into a container. */
static void compile_region(const built *b, ocs_backend *be, const char *backend_id, void **blob, size_t *len,
                           ocs_bc_region **regions, size_t *n_regions)
{
    ocs_err err = {{0}};
    assert_int_equal(ocs_bc_discover(b->m, regions, n_regions, &err), OCS_OK);
    assert_int_equal(*n_regions, 1);
    ocs_bc_region *r = &(*regions)[0];
    assert_null(r->problem);
    ocs_bc_view v;
    assert_int_equal(ocs_bc_view_make(b->m, r, &v, &err), OCS_OK);
    const ocs_tensor **sample = calloc(r->n_inputs + 1, sizeof *sample);
    for (size_t i = 0; i < r->n_inputs; i++)
        assert_non_null(sample[i] = value_of(b, r->inputs[i]));
    void *payload = NULL;
    size_t plen = 0;
    char *compat = NULL;
    ocs_status st = be->ops->bc_compile(be->ctx, &v, sample, &payload, &plen, &compat, &err);
    if (st != OCS_OK)
        fail_msg("compile: %s", err.msg);
    assert_int_equal(ocs_blob_write(backend_id, compat, payload, plen, blob, len, &err), OCS_OK);
    free(payload);
    free(compat);
    free(sample);
    ocs_bc_view_free(&v);
}

typedef struct variant {
    ocs_bc_encoding enc;
    int external;
} variant;

/* Encodes b's scope with the given blobs and writes it to tmpdir/name.onnx; returns the loaded file. */
static ocs_model *encode_and_load(const built *b, const ocs_bc_region *r, variant var, const ocs_bc_blob_out *blobs,
                                  size_t nb, const char *name)
{
    ocs_err err = {{0}};
    ocs_bc_region_spec spec = {r->name, r->n_nodes, r->node_index, nb, blobs, NULL, NULL};
    char path[512], stem[300];
    snprintf(path, sizeof path, "%s/%s.onnx", tmpdir, name);
    snprintf(stem, sizeof stem, "%s", name);
    ocs_model *enc = NULL;
    ocs_bc_file *files = NULL;
    size_t n_files = 0;
    ocs_status st = ocs_bc_encode(b->m, &spec, 1, var.enc, var.external ? stem : NULL, &enc, &files, &n_files, &err);
    if (st != OCS_OK)
        fail_msg("encode: %s", err.msg);
    assert_int_equal(ocs_bc_save(enc, path, files, n_files, &err), OCS_OK);
    ocs_bc_files_free(files, n_files);
    ocs_model_free(enc);
    ocs_model *m = NULL;
    st = ocs_model_load_file(path, &m, &err);
    if (st != OCS_OK)
        fail_msg("load %s: %s", path, err.msg);
    return m;
}

/* Runs m with b's inputs; returns the session status, outputs into out (graph order). */
static ocs_status run(const built *b, const ocs_model *m, ocs_backend *const *bes, size_t nb, int strict, int disable,
                      ocs_tensor **out, size_t n_out, ocs_bc_decision *decision, ocs_err *err)
{
    ocs_session_options opt = {bes, nb, 0};
    ocs_bc_options bc = {strict, disable, NULL, NULL};
    ocs_session *s = NULL;
    ocs_status st = ocs_session_new_bc(m, &opt, &bc, &s, err);
    if (st == OCS_OK && decision && ocs_session_bc_count(s) > 0) {
        const ocs_bc_decision *d = ocs_session_bc_decision(s, 0);
        decision->accepted = d->accepted;
        decision->n_attempts = d->n_attempts;
        decision->attempts = NULL;
        if (d->n_attempts) {
            decision->attempts = malloc(d->n_attempts * sizeof *d->attempts);
            memcpy(decision->attempts, d->attempts, d->n_attempts * sizeof *d->attempts);
        }
    }
    if (st == OCS_OK)
        st = ocs_session_run(s, b->n_in, b->names, (const ocs_tensor *const *)b->in, n_out, out, err);
    ocs_session_free(s);
    return st;
}

static void outputs_free(ocs_tensor **o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ocs_tensor_free(o[i]);
        o[i] = NULL;
    }
}

/* Fallback outputs on the cpu backend (blobs ignored), the reference for the expectations. */
static void fallback_outputs(const built *b, ocs_tensor **out, size_t n)
{
    ocs_err err = {{0}};
    ocs_status st = run(b, b->m, &cpu, 1, 0, 1, out, n, NULL, &err);
    if (st != OCS_OK)
        fail_msg("fallback run: %s", err.msg);
}

static void assert_same(ocs_tensor *const *a, ocs_tensor *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_non_null(a[i]);
        assert_non_null(b[i]);
        if (!ocs_tensor_equal(a[i], b[i])) {
            double worst = 0.0;
            for (size_t k = 0; k < a[i]->numel && k < b[i]->numel; k++) {
                double d = fabs(ocs_tensor_get_f64(a[i], k) - ocs_tensor_get_f64(b[i], k));
                worst = d > worst ? d : worst;
            }
            fail_msg("output %zu differs (max |diff| %g)", i, worst);
        }
    }
}

/* ---- the container ------------------------------------------------------------------------------- */

static void test_blob_roundtrip(void **state)
{
    (void)state;
    void *b = NULL;
    size_t n = 0;
    ocs_err err = {{0}};
    assert_int_equal(ocs_blob_write("cpu", "isa=x", "payload", 7, &b, &n, &err), OCS_OK);
    assert_int_equal(n, 64 + 3 + 5 + 7);
    ocs_blob c;
    assert_int_equal(ocs_blob_parse(b, n, &c, &err), OCS_OK);
    assert_int_equal(ocs_blob_verify(&c, &err), OCS_OK);
    assert_int_equal(c.backend_len, 3);
    assert_memory_equal(c.backend, "cpu", 3);
    assert_memory_equal(c.compat, "isa=x", 5);
    assert_memory_equal(c.payload, "payload", 7);
    /* every truncation is rejected, never read past */
    for (size_t k = 0; k < n; k++) {
        unsigned char *t = malloc(k ? k : 1);
        memcpy(t, b, k);
        assert_int_not_equal(ocs_blob_parse(t, k, &c, &err), OCS_OK);
        free(t);
    }
    /* every single-byte flip is rejected by the parser or the digest */
    for (size_t k = 0; k < n; k++) {
        unsigned char *t = malloc(n);
        memcpy(t, b, n);
        t[k] ^= 0x5a;
        int ok = ocs_blob_parse(t, n, &c, &err) == OCS_OK && ocs_blob_verify(&c, &err) == OCS_OK;
        assert_false(ok);
        free(t);
    }
    free(b);
    assert_int_not_equal(ocs_blob_write("CPU", "", "x", 1, &b, &n, &err), OCS_OK);
    assert_int_not_equal(ocs_blob_write("cpu", "bad\ncompat", "x", 1, &b, &n, &err), OCS_OK);
}

static void set_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void test_blob_header_fields(void **state)
{
    (void)state;
    void *b = NULL;
    size_t n = 0;
    ocs_err err = {{0}};
    ocs_blob c;
    assert_int_equal(ocs_blob_write("cpu", "", "abc", 3, &b, &n, &err), OCS_OK);
    unsigned char *t = malloc(n);
    /* oversized payload length */
    memcpy(t, b, n);
    set_u64(t + 24, UINT64_MAX);
    assert_int_equal(ocs_blob_parse(t, n, &c, &err), OCS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "payload length"));
    /* a newer format version is "unsupported", not malformed */
    memcpy(t, b, n);
    t[8] = 2;
    assert_int_equal(ocs_blob_parse(t, n, &c, &err), OCS_ERR_UNSUPPORTED);
    /* flags, reserved, lengths */
    memcpy(t, b, n);
    t[12] = 1;
    assert_int_equal(ocs_blob_parse(t, n, &c, &err), OCS_ERR_INVALID);
    memcpy(t, b, n);
    t[20] = 1;
    assert_int_equal(ocs_blob_parse(t, n, &c, &err), OCS_ERR_INVALID);
    memcpy(t, b, n);
    t[16] = 0;
    assert_int_equal(ocs_blob_parse(t, n, &c, &err), OCS_ERR_INVALID);
    memcpy(t, b, n);
    t[18] = 0xff;
    t[19] = 0xff;
    assert_int_equal(ocs_blob_parse(t, n, &c, &err), OCS_ERR_INVALID);
    memcpy(t, b, n);
    t[0] = 'X';
    assert_int_equal(ocs_blob_parse(t, n, &c, &err), OCS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "magic"));
    free(t);
    free(b);
    assert_int_equal(ocs_blob_parse(NULL, 0, &c, &err), OCS_ERR_INVALID);
}

/* ---- regions ---------------------------------------------------------------------------------------- */

static void test_interface_and_convexity(void **state)
{
    (void)state;
    built b = {0};
    build_mlp(&b);
    ocs_err err = {{0}};
    char **in = NULL, **out = NULL;
    size_t ni = 0, no = 0;
    const size_t all[] = {0, 1, 2};
    assert_int_equal(ocs_bc_interface(b.m->graph, 3, all, &in, &ni, &out, &no, &err), OCS_OK);
    assert_int_equal(ni, 3);
    assert_string_equal(in[0], "x");
    assert_string_equal(in[1], "W1");
    assert_string_equal(in[2], "W2");
    assert_int_equal(no, 1);
    assert_string_equal(out[0], "z");
    for (size_t i = 0; i < ni; i++)
        free(in[i]);
    for (size_t i = 0; i < no; i++)
        free(out[i]);
    free(in);
    free(out);
    /* {mm1, mm2} without the Relu between them is not convex */
    const size_t holes[] = {0, 2};
    assert_int_equal(ocs_bc_interface(b.m->graph, 2, holes, &in, &ni, &out, &no, &err), OCS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not convex"));
    const size_t dup[] = {0, 0};
    assert_int_equal(ocs_bc_interface(b.m->graph, 2, dup, &in, &ni, &out, &no, &err), OCS_ERR_INVALID);
    const size_t oob[] = {7};
    assert_int_equal(ocs_bc_interface(b.m->graph, 1, oob, &in, &ni, &out, &no, &err), OCS_ERR_INVALID);
    assert_int_equal(ocs_bc_interface(b.m->graph, 0, NULL, &in, &ni, &out, &no, &err), OCS_ERR_INVALID);
    built_free(&b);
}

/* A scope that is not convex is reported malformed and its nodes simply run. */
static void test_scope_not_convex(void **state)
{
    (void)state;
    built b = {0};
    build_mlp(&b);
    ocs_node *relu = &b.m->graph->nodes[1];
    free(relu->meta[0].value);
    relu->meta[0].value = strdup("other");
    ocs_err err = {{0}};
    ocs_bc_region *rs = NULL;
    size_t n = 0;
    assert_int_equal(ocs_bc_discover(b.m, &rs, &n, &err), OCS_OK);
    assert_int_equal(n, 2);
    assert_non_null(rs[0].problem);
    assert_non_null(strstr(rs[0].problem, "not convex"));
    ocs_bc_regions_free(rs, n);
    ocs_tensor *y[1] = {0}, *ref[1] = {0};
    fallback_outputs(&b, ref, 1);
    assert_int_equal(run(&b, b.m, &cpu, 1, 0, 0, y, 1, NULL, &err), OCS_OK);
    assert_same(y, ref, 1);
    outputs_free(y, 1);
    /* under the strict flag a region that cannot run from a blob is an error */
    assert_int_equal(run(&b, b.m, &cpu, 1, 1, 0, y, 1, NULL, &err), OCS_ERR_UNSUPPORTED);
    outputs_free(ref, 1);
    built_free(&b);
}

/* ---- outputs from the blob and from the fallback ---------------------------------------------------------- */

static void roundtrip(void (*build)(built *), size_t n_out, const char *tag)
{
    built b = {0};
    build(&b);
    ocs_tensor *ref[4] = {0}, *refonly[4] = {0};
    fallback_outputs(&b, ref, n_out);
    ocs_err err = {{0}};
    assert_int_equal(run(&b, b.m, NULL, 0, 0, 0, refonly, n_out, NULL, &err), OCS_OK);
    for (size_t i = 0; i < n_out; i++)
        assert_true(ocs_tensor_equal(refonly[i], refonly[i]));
    void *blob = NULL;
    size_t len = 0;
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    compile_region(&b, cpu, "cpu", &blob, &len, &rs, &nr);
    ocs_bc_blob_out bo = {"cpu", NULL, blob, len};
    ocs_blob c;
    assert_int_equal(ocs_blob_parse(blob, len, &c, &err), OCS_OK);
    char compat[600];
    snprintf(compat, sizeof compat, "%.*s", (int)c.compat_len, c.compat);
    bo.compat = compat;
    const variant vars[] = {{OCS_BC_FUNCTION, 0}, {OCS_BC_FUNCTION, 1}, {OCS_BC_SCOPES, 0}, {OCS_BC_SCOPES, 1}};
    for (size_t k = 0; k < N_OF(vars); k++) {
        char name[64];
        snprintf(name, sizeof name, "%s_%s_%d", tag, ocs_bc_encoding_name(vars[k].enc), vars[k].external);
        ocs_model *m = encode_and_load(&b, &rs[0], vars[k], &bo, 1, name);
        ocs_tensor *y[4] = {0}, *fb[4] = {0}, *ro[4] = {0};
        ocs_bc_decision d = {0};
        ocs_status st = run(&b, m, &cpu, 1, 1, 0, y, n_out, &d, &err);
        if (st != OCS_OK)
            fail_msg("%s: %s", name, err.msg);
        assert_true(d.accepted);
        free(d.attempts);
        assert_same(y, ref, n_out);
        /* the fallback of the encoded model on the same backend */
        assert_int_equal(run(&b, m, &cpu, 1, 0, 1, fb, n_out, NULL, &err), OCS_OK);
        assert_same(fb, ref, n_out);
        /* and on the reference alone (no backend takes the blob) */
        assert_int_equal(run(&b, m, NULL, 0, 0, 0, ro, n_out, NULL, &err), OCS_OK);
        assert_same(ro, refonly, n_out);
        outputs_free(y, n_out);
        outputs_free(fb, n_out);
        outputs_free(ro, n_out);
        /* weights stay initializers of the main graph, none in the blob */
        assert_int_equal(m->graph->n_inits, b.m->graph->n_inits);
        size_t wbytes = 0;
        for (size_t i = 0; i < m->graph->n_inits; i++)
            wbytes += m->graph->inits[i].tensor->nbytes;
        assert_true(len < wbytes || wbytes < 4096);
        ocs_model_free(m);
    }
    outputs_free(ref, n_out);
    outputs_free(refonly, n_out);
    ocs_bc_regions_free(rs, nr);
    free(blob);
    built_free(&b);
}

static void test_mlp_blob_equals_fallback(void **state)
{
    (void)state;
    roundtrip(build_mlp, 1, "mlp");
}

static void test_pa_blob_equals_fallback(void **state)
{
    (void)state;
    roundtrip(build_pa, 3, "pa");
}

static void test_moe_blob_equals_fallback(void **state)
{
    (void)state;
    roundtrip(build_moe, 1, "moe");
}

/* The function encoding's `_expanded` form (the fallback inlined) computes the same outputs. */
static void test_function_body_inlines_fallback(void **state)
{
    (void)state;
    built b = {0};
    build_mlp(&b);
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    ocs_err err = {{0}};
    assert_int_equal(ocs_bc_discover(b.m, &rs, &nr, &err), OCS_OK);
    ocs_bc_region_spec spec = {rs[0].name, rs[0].n_nodes, rs[0].node_index, 0, NULL, NULL, NULL};
    ocs_model *enc = NULL, *exp = NULL;
    ocs_bc_file *files = NULL;
    size_t nf = 0;
    assert_int_equal(ocs_bc_encode(b.m, &spec, 1, OCS_BC_FUNCTION, NULL, &enc, &files, &nf, &err), OCS_OK);
    assert_int_equal(ocs_model_expand(enc, &exp, &err), OCS_OK);
    for (size_t i = 0; i < exp->graph->n_nodes; i++)
        assert_string_not_equal(exp->graph->nodes[i].op_type, "BackendContext");
    ocs_tensor *a[1] = {0}, *c[1] = {0};
    assert_int_equal(run(&b, enc, NULL, 0, 0, 0, a, 1, NULL, &err), OCS_OK);
    assert_int_equal(run(&b, exp, NULL, 0, 0, 0, c, 1, NULL, &err), OCS_OK);
    assert_same(a, c, 1);
    outputs_free(a, 1);
    outputs_free(c, 1);
    ocs_model_free(enc);
    ocs_model_free(exp);
    ocs_bc_regions_free(rs, nr);
    built_free(&b);
}

/* The function encoding with the fallback also stored as a model-local function: the blob is still
 * selected; without it the function call computes the fallback's outputs. */
static void test_local_function(void **state)
{
    (void)state;
    built b = {0};
    build_moe(&b);
    ocs_tensor *ref[1] = {0};
    fallback_outputs(&b, ref, 1);
    void *blob = NULL;
    size_t len = 0;
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    compile_region(&b, cpu, "cpu", &blob, &len, &rs, &nr);
    ocs_blob c;
    assert_int_equal(ocs_blob_parse(blob, len, &c, NULL), OCS_OK);
    char compat[600];
    snprintf(compat, sizeof compat, "%.*s", (int)c.compat_len, c.compat);
    ocs_bc_blob_out bo = {"cpu", compat, blob, len};
    ocs_bc_region_spec spec = {rs[0].name, rs[0].n_nodes, rs[0].node_index, 1, &bo, NULL, NULL};
    ocs_err err = {{0}};
    ocs_model *enc = NULL;
    ocs_bc_file *files = NULL;
    size_t nf = 0;
    assert_int_equal(ocs_bc_encode(b.m, &spec, 1, OCS_BC_FUNCTION, NULL, &enc, &files, &nf, &err), OCS_OK);
    assert_int_equal(ocs_bc_add_local_functions(enc, &err), OCS_OK);
    assert_int_equal(enc->n_functions, 1);
    assert_non_null(ocs_model_function(enc, OCS_PREVIEW_DOMAIN, "BackendContext", "moe"));
    /* twice is an error, not a second copy */
    assert_int_equal(ocs_bc_add_local_functions(enc, &err), OCS_ERR_INVALID);
    char path[512];
    snprintf(path, sizeof path, "%s/localfn.onnx", tmpdir);
    assert_int_equal(ocs_bc_save(enc, path, NULL, 0, &err), OCS_OK);
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_load_file(path, &m, &err), OCS_OK);
    ocs_tensor *y[1] = {0};
    ocs_bc_decision d = {0};
    assert_int_equal(run(&b, m, &cpu, 1, 1, 0, y, 1, &d, &err), OCS_OK);
    assert_true(d.accepted);
    free(d.attempts);
    assert_same(y, ref, 1);
    outputs_free(y, 1);
    assert_int_equal(run(&b, m, &cpu, 1, 0, 1, y, 1, NULL, &err), OCS_OK);
    assert_same(y, ref, 1);
    outputs_free(y, 1);
    ocs_model_free(m);
    ocs_model_free(enc);
    outputs_free(ref, 1);
    ocs_bc_regions_free(rs, nr);
    free(blob);
    built_free(&b);
}

/* ---- every way a blob can be wrong ------------------------------------------------------------------------ */

typedef struct bad_case {
    const char *name;
    ocs_bc_reason want;
    const char *detail;       /* a substring of the attempt's detail, or NULL */
    int external;             /* the case needs the blob in a file */
    int scopes;               /* also run it in the scopes encoding */
    /* changes the container before encoding (the model then declares its digest) */
    void (*edit_blob)(unsigned char **b, size_t *n);
    /* changes the file or the model after encoding */
    void (*edit_model)(ocs_model *m, const char *name);
} bad_case;

static char *fn_attr_string(ocs_model *m, const char *attr)
{
    for (size_t i = 0; i < m->graph->n_nodes; i++) {
        ocs_node *n = &m->graph->nodes[i];
        if (strcmp(n->op_type, "BackendContext"))
            continue;
        for (size_t k = 0; k < n->n_attrs; k++)
            if (!strcmp(n->attrs[k].name, attr) && n->attrs[k].n)
                return n->attrs[k].strings[0].data;
    }
    return NULL;
}

/* Replaces the first blob's field (function: attribute; scopes: field of the metadata value). */
static void set_field(ocs_model *m, const char *attr, const char *field, const char *value)
{
    for (size_t i = 0; i < m->graph->n_nodes; i++) {
        ocs_node *n = &m->graph->nodes[i];
        if (strcmp(n->op_type, "BackendContext"))
            continue;
        for (size_t k = 0; k < n->n_attrs; k++)
            if (!strcmp(n->attrs[k].name, attr)) {
                free(n->attrs[k].strings[0].data);
                n->attrs[k].strings[0].data = strdup(value);
                n->attrs[k].strings[0].len = strlen(value);
                return;
            }
    }
    for (size_t k = 0; k < m->n_meta; k++) {
        if (strncmp(m->meta[k].key, OCS_BC_BLOB_PREFIX, strlen(OCS_BC_BLOB_PREFIX)))
            continue;
        char *v = m->meta[k].value, *out = malloc(strlen(v) + 3 * strlen(value) + 64);
        out[0] = '\0';
        char *save = NULL, *copy = strdup(v);
        for (char *f = strtok_r(copy, ";", &save); f; f = strtok_r(NULL, ";", &save)) {
            size_t fl = strlen(field);
            if (!strncmp(f, field, fl) && f[fl] == '=') {
                sprintf(out + strlen(out), "%s%s=", out[0] ? ";" : "", field);
                for (const char *c = value; *c; c++)
                    sprintf(out + strlen(out), *c == ';' || *c == '=' || *c == '%' ? "%%%02X" : "%c", *c);
            } else {
                sprintf(out + strlen(out), "%s%s", out[0] ? ";" : "", f);
            }
        }
        free(copy);
        free(m->meta[k].value);
        m->meta[k].value = out;
        return;
    }
    fail_msg("no blob to edit");
}

static void external_path(ocs_model *m, char *buf, size_t len)
{
    const char *loc = fn_attr_string(m, "locations");
    char name[256] = "";
    if (!loc) {
        for (size_t k = 0; k < m->n_meta && !name[0]; k++) {
            const char *p = strstr(m->meta[k].value, "location=");
            if (p && !strncmp(m->meta[k].key, OCS_BC_BLOB_PREFIX, strlen(OCS_BC_BLOB_PREFIX)))
                snprintf(name, sizeof name, "%.*s", (int)strcspn(p + 9, ";"), p + 9);
        }
        loc = name;
    }
    snprintf(buf, len, "%s/%s", tmpdir, loc);
}

static void e_truncate_with_digest(unsigned char **b, size_t *n) { (void)b; *n -= 40; }
static void e_magic(unsigned char **b, size_t *n) { (void)n; (*b)[1] = 'X'; }
static void e_oversized(unsigned char **b, size_t *n) { (void)n; set_u64(*b + 24, (uint64_t)1 << 62); }
static void e_inner_digest(unsigned char **b, size_t *n) { (*b)[*n - 1] ^= 1; }
static void e_version(unsigned char **b, size_t *n) { (void)n; (*b)[8] = 9; }
static void e_payload_garbage(unsigned char **b, size_t *n)
{
    ocs_blob c;
    assert_int_equal(ocs_blob_parse(*b, *n, &c, NULL), OCS_OK);
    unsigned char *nb = NULL;
    size_t nn = 0;
    char compat[600];
    snprintf(compat, sizeof compat, "%.*s", (int)c.compat_len, c.compat);
    assert_int_equal(ocs_blob_write("cpu", compat, "ocs-cpu-plan 1\nfingerprint zz\n", 30, (void **)&nb, &nn, NULL), OCS_OK);
    free(*b);
    *b = nb;
    *n = nn;
}
static void e_wrong_backend_inside(unsigned char **b, size_t *n)
{
    ocs_blob c;
    assert_int_equal(ocs_blob_parse(*b, *n, &c, NULL), OCS_OK);
    unsigned char *nb = NULL;
    size_t nn = 0;
    char compat[600];
    snprintf(compat, sizeof compat, "%.*s", (int)c.compat_len, c.compat);
    assert_int_equal(ocs_blob_write("cuda", compat, c.payload, c.payload_len, (void **)&nb, &nn, NULL), OCS_OK);
    free(*b);
    *b = nb;
    *n = nn;
}

static void m_absolute(ocs_model *m, const char *name)
{
    (void)name;
    char p[512];
    external_path(m, p, sizeof p);
    set_field(m, "locations", "location", p);
}
static void m_dotdot(ocs_model *m, const char *name)
{
    char p[300];
    snprintf(p, sizeof p, "../%s/%s.cpu.bin", strrchr(tmpdir, '/') + 1, name);
    set_field(m, "locations", "location", p);
}
static void m_symlink(ocs_model *m, const char *name)
{
    char target[512], link[512], outside[512];
    external_path(m, target, sizeof target);
    snprintf(outside, sizeof outside, "%s/outside-%s.bin", rootdir, name);
    assert_int_equal(rename(target, outside), 0);
    snprintf(link, sizeof link, "%s/%s-link.bin", tmpdir, name);
    assert_int_equal(symlink(outside, link), 0);
    snprintf(link, sizeof link, "%s-link.bin", name);
    set_field(m, "locations", "location", link);
}
static void m_missing(ocs_model *m, const char *name)
{
    (void)name;
    set_field(m, "locations", "location", "no-such-file.bin");
}
static void m_fifo(ocs_model *m, const char *name)
{
    char p[1024], rel[300];
    snprintf(rel, sizeof rel, "%s.fifo", name);
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    assert_int_equal(mkfifo(p, 0600), 0);
    set_field(m, "locations", "location", rel);
}
static void m_folder(ocs_model *m, const char *name)
{
    char p[1024], rel[300];
    snprintf(rel, sizeof rel, "%s.dir", name);
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    assert_int_equal(mkdir(p, 0700), 0);
    set_field(m, "locations", "location", rel);
}
static void m_truncate_file(ocs_model *m, const char *name)
{
    (void)name;
    char p[512];
    external_path(m, p, sizeof p);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(truncate(p, sb.st_size - 10), 0);
}
static void m_flip_file(ocs_model *m, const char *name)
{
    (void)name;
    char p[512];
    external_path(m, p, sizeof p);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 40, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 40, SEEK_SET);
    fputc(c ^ 0x20, f);
    fclose(f);
}
static void m_wrong_digest(ocs_model *m, const char *name)
{
    (void)name;
    set_field(m, "sha256", "sha256", "0000000000000000000000000000000000000000000000000000000000000000");
}
static void m_bad_digest_text(ocs_model *m, const char *name)
{
    (void)name;
    set_field(m, "sha256", "sha256", "not-a-digest");
}
static void m_oversized_length(ocs_model *m, const char *name)
{
    (void)name;
    int done = 0;
    for (size_t i = 0; i < m->graph->n_nodes && !done; i++) {
        ocs_node *n = &m->graph->nodes[i];
        for (size_t k = 0; k < n->n_attrs; k++)
            if (!strcmp(n->attrs[k].name, "lengths")) {
                n->attrs[k].ints[0] = (int64_t)1 << 40;
                done = 1;
            }
    }
    if (!done)
        set_field(m, NULL, "length", "1099511627776");
}
static void m_unknown_backend(ocs_model *m, const char *name)
{
    (void)name;
    set_field(m, "backend_ids", "backend", "nosuch");
}
static void m_incompatible(ocs_model *m, const char *name)
{
    (void)name;
    char compat[600];
    ocs_cpu_bc_compat_here(compat, sizeof compat);
    char *isa = strstr(compat, "isa=");
    assert_non_null(isa);
    char edited[700];
    snprintf(edited, sizeof edited, "%.*sisa=sve2+%s", (int)(isa - compat), compat, isa + 4);
    set_field(m, "compatibility", "compatibility", edited);
}
static void m_bad_base64(ocs_model *m, const char *name)
{
    (void)name;
    set_field(m, NULL, "data", "@@@@");
}

static const bad_case bad_cases[] = {
    {"absolute", OCS_BC_UNSAFE_PATH, "absolute", 1, 1, NULL, m_absolute},
    {"dotdot", OCS_BC_UNSAFE_PATH, "'..'", 1, 1, NULL, m_dotdot},
    {"symlink", OCS_BC_UNSAFE_PATH, "outside", 1, 1, NULL, m_symlink},
    {"fifo", OCS_BC_UNSAFE_PATH, "FIFO", 1, 0, NULL, m_fifo},
    {"folder", OCS_BC_UNSAFE_PATH, "directory", 1, 0, NULL, m_folder},
    {"missing", OCS_BC_MISSING_FILE, NULL, 1, 1, NULL, m_missing},
    {"truncated_file", OCS_BC_MALFORMED, "beyond the end", 1, 1, NULL, m_truncate_file},
    {"truncated_blob", OCS_BC_MALFORMED, "blob:", 0, 1, e_truncate_with_digest, NULL},
    {"wrong_magic", OCS_BC_MALFORMED, "magic", 0, 1, e_magic, NULL},
    {"wrong_checksum", OCS_BC_CHECKSUM_MISMATCH, "declares", 0, 1, NULL, m_wrong_digest},
    {"flipped_byte", OCS_BC_CHECKSUM_MISMATCH, NULL, 1, 1, NULL, m_flip_file},
    {"inner_checksum", OCS_BC_CHECKSUM_MISMATCH, "own SHA-256", 0, 0, e_inner_digest, NULL},
    {"digest_text", OCS_BC_MALFORMED, "sha256", 0, 1, NULL, m_bad_digest_text},
    {"oversized_payload", OCS_BC_MALFORMED, "payload length", 0, 1, e_oversized, NULL},
    {"oversized_length", OCS_BC_MALFORMED, "beyond the end", 1, 1, NULL, m_oversized_length},
    {"wrong_backend", OCS_BC_MALFORMED, "container declares backend 'cuda'", 0, 0, e_wrong_backend_inside, NULL},
    {"unknown_backend", OCS_BC_NO_SUCH_BACKEND, "nosuch", 0, 1, NULL, m_unknown_backend},
    {"incompatible_isa", OCS_BC_INCOMPATIBLE, "isa=sve2", 0, 1, NULL, m_incompatible},
    {"newer_version", OCS_BC_INCOMPATIBLE, "format version 9", 0, 0, e_version, NULL},
    {"corrupt_plan", OCS_BC_MALFORMED, "cpu plan", 0, 0, e_payload_garbage, NULL},
};

static void run_bad_case(const bad_case *k, ocs_bc_encoding enc, const built *b, const ocs_bc_region *r,
                         const void *blob, size_t len, const char *compat, ocs_tensor *const *ref)
{
    ocs_err err = {{0}};
    unsigned char *bytes = malloc(len);
    size_t n = len;
    memcpy(bytes, blob, len);
    if (k->edit_blob)
        k->edit_blob(&bytes, &n);
    ocs_bc_blob_out bo = {"cpu", compat, bytes, n};
    char name[80];
    snprintf(name, sizeof name, "bad_%s_%s", k->name, ocs_bc_encoding_name(enc));
    variant var = {enc, k->external};
    ocs_model *m = encode_and_load(b, r, var, &bo, 1, name);
    if (k->edit_model)
        k->edit_model(m, name);
    ocs_tensor *y[1] = {0};
    ocs_bc_decision d = {0};
    ocs_status st = run(b, m, &cpu, 1, 0, 0, y, 1, &d, &err);
    if (st != OCS_OK)
        fail_msg("%s: the fallback failed: %s", name, err.msg);
    assert_false(d.accepted);
    assert_int_equal(d.n_attempts, 1);
    if (d.attempts[0].reason != k->want)
        fail_msg("%s: reason '%s' (%s), expected '%s'", name, ocs_bc_reason_name(d.attempts[0].reason),
                 d.attempts[0].detail, ocs_bc_reason_name(k->want));
    if (k->detail && !strstr(d.attempts[0].detail, k->detail))
        fail_msg("%s: detail '%s' lacks '%s'", name, d.attempts[0].detail, k->detail);
    free(d.attempts);
    assert_same(y, ref, 1);
    outputs_free(y, 1);
    /* strict: an error naming the reason, and nothing runs */
    st = run(b, m, &cpu, 1, 1, 0, y, 1, NULL, &err);
    assert_int_equal(st, OCS_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, ocs_bc_reason_name(k->want)));
    assert_null(y[0]);
    ocs_model_free(m);
    free(bytes);
}

static void test_bad_blobs(void **state)
{
    (void)state;
    built b = {0};
    build_mlp(&b);
    ocs_tensor *ref[1] = {0};
    fallback_outputs(&b, ref, 1);
    void *blob = NULL;
    size_t len = 0;
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    compile_region(&b, cpu, "cpu", &blob, &len, &rs, &nr);
    ocs_blob c;
    assert_int_equal(ocs_blob_parse(blob, len, &c, NULL), OCS_OK);
    char compat[600];
    snprintf(compat, sizeof compat, "%.*s", (int)c.compat_len, c.compat);
    for (size_t i = 0; i < N_OF(bad_cases); i++) {
        run_bad_case(&bad_cases[i], OCS_BC_FUNCTION, &b, &rs[0], blob, len, compat, ref);
        if (bad_cases[i].scopes)
            run_bad_case(&bad_cases[i], OCS_BC_SCOPES, &b, &rs[0], blob, len, compat, ref);
    }
    /* scopes only: embedded data that is not base64 */
    const bad_case b64 = {"base64", OCS_BC_MALFORMED, "base64", 0, 1, NULL, m_bad_base64};
    run_bad_case(&b64, OCS_BC_SCOPES, &b, &rs[0], blob, len, compat, ref);
    outputs_free(ref, 1);
    ocs_bc_regions_free(rs, nr);
    free(blob);
    built_free(&b);
}

/* A plan compiled for one region, loaded for another, is refused. */
static void test_foreign_plan(void **state)
{
    (void)state;
    built a = {0}, b = {0};
    build_mlp(&a);
    build_moe(&b);
    void *blob = NULL;
    size_t len = 0;
    ocs_bc_region *rs = NULL, *rs2 = NULL;
    size_t nr = 0, nr2 = 0;
    compile_region(&a, cpu, "cpu", &blob, &len, &rs, &nr);
    ocs_err err = {{0}};
    assert_int_equal(ocs_bc_discover(b.m, &rs2, &nr2, &err), OCS_OK);
    ocs_blob c;
    assert_int_equal(ocs_blob_parse(blob, len, &c, NULL), OCS_OK);
    ocs_bc_view v;
    assert_int_equal(ocs_bc_view_make(b.m, &rs2[0], &v, &err), OCS_OK);
    void *st = NULL;
    assert_int_not_equal(cpu->ops->bc_load(cpu->ctx, &v, c.payload, c.payload_len, &st, &err), OCS_OK);
    assert_null(st);
    ocs_bc_view_free(&v);
    ocs_bc_regions_free(rs, nr);
    ocs_bc_regions_free(rs2, nr2);
    free(blob);
    built_free(&a);
    built_free(&b);
}

/* ---- several backends --------------------------------------------------------------------------------------- */

/* A stand-in "cuda" backend: supports no node, loads any blob whose payload is "ok", and runs the region by
 * copying a recorded answer (so the test sees which backend ran). */
typedef struct fake_gpu {
    int loads, runs;
    int compatible;
} fake_gpu;

static int fg_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    (void)ctx, (void)n, (void)since, (void)n_in, (void)in;
    return 0;
}
static ocs_status fg_run_node(void *ctx, void *state, ocs_kernel_args *a)
{
    (void)ctx, (void)state;
    return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "no nodes");
}
static void fg_destroy(void *ctx) { (void)ctx; }
static int fg_compatible(void *ctx, const char *compat, char *why, size_t n)
{
    fake_gpu *g = ctx;
    if (!g->compatible)
        snprintf(why, n, "the blob needs %s; this device is sm_70", compat);
    return g->compatible;
}
static ocs_status fg_load(void *ctx, const ocs_bc_view *r, const void *payload, size_t len, void **state, ocs_err *err)
{
    (void)r;
    fake_gpu *g = ctx;
    if (len != 2 || memcmp(payload, "ok", 2))
        return ocs_fail(err, OCS_ERR_INVALID, "not a cubin");
    g->loads++;
    *state = g;
    return OCS_OK;
}
static ocs_status fg_bc_run(void *ctx, void *state, ocs_kernel_args *a)
{
    (void)state;
    fake_gpu *g = ctx;
    g->runs++;
    /* answer zeros of the first input's shape: visibly not the fallback */
    for (size_t j = 0; j < a->n_outputs; j++) {
        static const int64_t d[] = {3, 4};
        ocs_status st = ocs_tensor_new(OCS_FLOAT, 2, d, &a->outputs[j], a->err);
        if (st != OCS_OK)
            return st;
    }
    return OCS_OK;
}
static void fg_unload(void *ctx, void *state) { (void)ctx, (void)state; }

static const ocs_backend_ops fake_gpu_ops = {
    .api_version = OCS_BACKEND_API_VERSION,
    .name = "cuda",
    .supports = fg_supports,
    .run = fg_run_node,
    .destroy = fg_destroy,
    .bc_compatible = fg_compatible,
    .bc_load = fg_load,
    .bc_run = fg_bc_run,
    .bc_unload = fg_unload,
};

static void test_several_backends(void **state)
{
    (void)state;
    built b = {0};
    build_mlp(&b);
    ocs_tensor *ref[1] = {0};
    fallback_outputs(&b, ref, 1);
    void *cpu_blob = NULL, *gpu_blob = NULL;
    size_t cpu_len = 0, gpu_len = 0;
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    ocs_err err = {{0}};
    compile_region(&b, cpu, "cpu", &cpu_blob, &cpu_len, &rs, &nr);
    assert_int_equal(ocs_blob_write("cuda", "sm=90;cuda=12.4", "ok", 2, &gpu_blob, &gpu_len, &err), OCS_OK);
    ocs_blob c;
    assert_int_equal(ocs_blob_parse(cpu_blob, cpu_len, &c, NULL), OCS_OK);
    char compat[600];
    snprintf(compat, sizeof compat, "%.*s", (int)c.compat_len, c.compat);
    const ocs_bc_blob_out blobs[] = {{"cuda", "sm=90;cuda=12.4", gpu_blob, gpu_len}, {"cpu", compat, cpu_blob, cpu_len}};
    for (int enc = 0; enc < 2; enc++) {
        variant var = {enc ? OCS_BC_SCOPES : OCS_BC_FUNCTION, enc};
        ocs_model *m = encode_and_load(&b, &rs[0], var, blobs, 2, enc ? "multi_scopes" : "multi_function");
        fake_gpu g = {0, 0, 1};
        ocs_backend gpu = {&fake_gpu_ops, &g};
        ocs_tensor *y[1] = {0};
        ocs_bc_decision d = {0};
        /* cpu only: the cuda blob has no backend, the cpu blob runs */
        assert_int_equal(run(&b, m, &cpu, 1, 1, 0, y, 1, &d, &err), OCS_OK);
        assert_true(d.accepted);
        assert_int_equal(d.n_attempts, 2);
        assert_int_equal(d.attempts[0].reason, OCS_BC_ACCEPTED);
        assert_int_equal(d.attempts[1].reason, OCS_BC_NO_SUCH_BACKEND);
        free(d.attempts);
        assert_same(y, ref, 1);
        outputs_free(y, 1);
        /* cuda first: its blob wins */
        ocs_backend *both[] = {&gpu, cpu};
        assert_int_equal(run(&b, m, both, 2, 1, 0, y, 1, &d, &err), OCS_OK);
        assert_int_equal(d.attempts[0].reason, OCS_BC_ACCEPTED);
        assert_int_equal(d.attempts[1].reason, OCS_BC_NOT_TRIED);
        free(d.attempts);
        assert_int_equal(g.runs, 1);
        assert_float_equal(((float *)y[0]->data)[0], 0.0f, 0.0f);
        outputs_free(y, 1);
        /* cuda first but incompatible: cpu takes over, both reasons logged */
        g.compatible = 0;
        assert_int_equal(run(&b, m, both, 2, 1, 0, y, 1, &d, &err), OCS_OK);
        assert_int_equal(d.attempts[0].reason, OCS_BC_INCOMPATIBLE);
        assert_int_equal(d.attempts[1].reason, OCS_BC_ACCEPTED);
        free(d.attempts);
        assert_same(y, ref, 1);
        outputs_free(y, 1);
        /* no backend at all: the reference runs the fallback */
        assert_int_equal(run(&b, m, NULL, 0, 0, 0, y, 1, &d, &err), OCS_OK);
        assert_false(d.accepted);
        free(d.attempts);
        outputs_free(y, 1);
        ocs_model_free(m);
    }
    outputs_free(ref, 1);
    ocs_bc_regions_free(rs, nr);
    free(cpu_blob);
    free(gpu_blob);
    built_free(&b);
}

/* A hand-written function node with inconsistent blob lists falls back; a bad fallback is an error. */
static void test_function_node_checks(void **state)
{
    (void)state;
    built b = {0};
    build_mlp(&b);
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    ocs_err err = {{0}};
    assert_int_equal(ocs_bc_discover(b.m, &rs, &nr, &err), OCS_OK);
    const ocs_bc_blob_out bo = {"cpu", "x", "bytes", 5};
    variant var = {OCS_BC_FUNCTION, 0};
    ocs_model *m = encode_and_load(&b, &rs[0], var, &bo, 1, "lists");
    ocs_node *n = NULL;
    for (size_t i = 0; i < m->graph->n_nodes; i++)
        if (!strcmp(m->graph->nodes[i].op_type, "BackendContext"))
            n = &m->graph->nodes[i];
    assert_non_null(n);
    /* a sha256 list one entry short */
    for (size_t k = 0; k < n->n_attrs; k++)
        if (!strcmp(n->attrs[k].name, "sha256"))
            n->attrs[k].n = 0;
    ocs_tensor *y[1] = {0};
    ocs_bc_decision d = {0};
    assert_int_equal(run(&b, m, &cpu, 1, 0, 0, y, 1, &d, &err), OCS_OK);
    assert_int_equal(d.attempts[0].reason, OCS_BC_MALFORMED);
    free(d.attempts);
    outputs_free(y, 1);
    for (size_t k = 0; k < n->n_attrs; k++)
        if (!strcmp(n->attrs[k].name, "sha256"))
            n->attrs[k].n = 1;
    /* a fallback that reads an outer value is an invalid node */
    const ocs_graph *fb = NULL;
    assert_int_equal(ocs_node_attr_graph(n, "fallback", &fb, &err), OCS_OK);
    free(((ocs_graph *)fb)->nodes[0].inputs[0]);
    ((ocs_graph *)fb)->nodes[0].inputs[0] = strdup("outer_value");
    assert_int_not_equal(run(&b, m, &cpu, 1, 0, 0, y, 1, NULL, &err), OCS_OK);
    assert_non_null(strstr(err.msg, "outside itself"));
    ocs_model_free(m);
    ocs_bc_regions_free(rs, nr);
    built_free(&b);
}

/* The compatibility check itself. */
static void test_cpu_compatibility(void **state)
{
    (void)state;
    char here[600], why[300];
    ocs_cpu_bc_compat_here(here, sizeof here);
    assert_true(ocs_cpu_bc_compatible(NULL, here, why, sizeof why));
    assert_false(ocs_cpu_bc_compatible(NULL, "", why, sizeof why));
    assert_false(ocs_cpu_bc_compatible(NULL, "cpu-plan=2;arch=x86_64;isa=none;openblas=0", why, sizeof why));
    char other[700];
    snprintf(other, sizeof other, "%s;extra=1", here);
    assert_false(ocs_cpu_bc_compatible(NULL, other, why, sizeof why));
    assert_non_null(strstr(why, "unknown requirement"));
    char *o = strstr(here, "openblas=");
    assert_non_null(o);
    snprintf(other, sizeof other, "%.*sopenblas=0.0.1/Nothing", (int)(o - here), here);
    assert_false(ocs_cpu_bc_compatible(NULL, other, why, sizeof why));
    assert_non_null(strstr(why, "openblas"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_roundtrip),
        cmocka_unit_test(test_blob_header_fields),
        cmocka_unit_test(test_interface_and_convexity),
        cmocka_unit_test(test_scope_not_convex),
        cmocka_unit_test(test_mlp_blob_equals_fallback),
        cmocka_unit_test(test_pa_blob_equals_fallback),
        cmocka_unit_test(test_moe_blob_equals_fallback),
        cmocka_unit_test(test_function_body_inlines_fallback),
        cmocka_unit_test(test_local_function),
        cmocka_unit_test(test_bad_blobs),
        cmocka_unit_test(test_foreign_plan),
        cmocka_unit_test(test_several_backends),
        cmocka_unit_test(test_function_node_checks),
        cmocka_unit_test(test_cpu_compatibility),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
