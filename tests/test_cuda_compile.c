/*
 * tests/test_cuda_compile.c - the CUDA backend's compile step, without a
 * device: NVRTC compiles the specialised PagedAttention kernel to a cubin
 * for sm_80 and sm_90 (an ELF image that names the kernel), the payload
 * parser rejects every truncation and corruption cleanly, the loader of the
 * compile-only backend refuses a foreign or malformed payload and, for a
 * good one, answers unsupported (no device); and a model holding a cuda
 * blob and a cpu blob for the same region (function encoding) runs its cpu
 * blob here, with the cuda blob's reason logged, outputs equal to the
 * fallback's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <math.h>

#include <cmocka.h>

#include "ocs/backend_context.h"
#include "ocs/blob.h"
#include "ocs/build.h"
#include "ocs/hooks.h"

#ifdef OCS_HAVE_CUDA
#include "../backends/cuda/compile.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define IN(...) N_OF(((const char *const[]){__VA_ARGS__})), (const char *const[]){__VA_ARGS__}

static uint64_t rng_state = 7;

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static ocs_tensor *rand_tensor(int rank, const int64_t *dims)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, rank, dims, &t, NULL), OCS_OK);
    for (size_t i = 0; i < t->numel; i++)
        ((float *)t->data)[i] = (float)(urand() * 2.0 - 1.0);
    return t;
}

static ocs_tensor *i32_tensor(int rank, const int64_t *dims, const int32_t *v)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_INT32, rank, dims, &t, NULL), OCS_OK);
    memcpy(t->data, v, t->nbytes);
    return t;
}

typedef struct built {
    ocs_model *m;
    size_t n_in;
    const char *names[8];
    ocs_tensor *in[8];
} built;

static void add_input(built *b, const char *name, ocs_tensor *t)
{
    assert_int_equal(ocs_graph_add_input(b->m->graph, name, t->dtype, t->rank, t->dims, NULL), OCS_OK);
    b->names[b->n_in] = name;
    b->in[b->n_in++] = t;
}

static void built_free(built *b)
{
    ocs_model_free(b->m);
    for (size_t i = 0; i < b->n_in; i++)
        ocs_tensor_free(b->in[i]);
    memset(b, 0, sizeof *b);
}

enum { T = 2, H = 4, HKV = 2, D = 8, NB = 6, BS = 4, MB = 3, NSEQ = 2 };

/* One PagedAttention node (a decode step of two sequences, GQA group 2) in scope "attn". */
static void build_pa(built *b)
{
    rng_state = 41;
    assert_int_equal(ocs_model_new(&b->m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(b->m, "", 24, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(b->m, OCS_PREVIEW_DOMAIN, 1, NULL), OCS_OK);
    ocs_graph *g = b->m->graph;
    static const int64_t qd[] = {T, H * D}, kd[] = {T, HKV * D}, cd[] = {NB, BS, HKV, D}, cud[] = {NSEQ + 1},
                         pd[] = {NSEQ}, btd[] = {NSEQ, MB};
    static const int32_t cu[] = {0, 1, 2}, past[] = {5, 3}, bt[] = {0, 1, -1, 2, -1, -1};
    add_input(b, "q", rand_tensor(2, qd));
    add_input(b, "k", rand_tensor(2, kd));
    add_input(b, "v", rand_tensor(2, kd));
    add_input(b, "key_cache", rand_tensor(4, cd));
    add_input(b, "value_cache", rand_tensor(4, cd));
    add_input(b, "cu", i32_tensor(1, cud, cu));
    add_input(b, "past", i32_tensor(1, pd, past));
    add_input(b, "block_table", i32_tensor(2, btd, bt));
    assert_int_equal(ocs_graph_add_output(g, "o", OCS_FLOAT, 2, qd, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "key_cache_out", OCS_FLOAT, 4, cd, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "value_cache_out", OCS_FLOAT, 4, cd, NULL), OCS_OK);
    ocs_node *pa = NULL;
    assert_int_equal(ocs_graph_add_node(g, "PagedAttention", OCS_PREVIEW_DOMAIN, "pa",
                                        IN("q", "k", "v", "key_cache", "value_cache", "cu", "past", "block_table"),
                                        IN("o", "key_cache_out", "value_cache_out"), &pa, NULL),
                     OCS_OK);
    assert_int_equal(ocs_node_set_int(pa, "num_heads", H, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_int(pa, "kv_num_heads", HKV, NULL), OCS_OK);
    pa->meta = calloc(1, sizeof *pa->meta);
    assert_non_null(pa->meta);
    pa->meta[0].key = strdup(OCS_BC_SCOPE_KEY);
    pa->meta[0].value = strdup("attn");
    pa->n_meta = 1;
}

static int contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k))
            return 1;
    return 0;
}

/* ---- NVRTC ---------------------------------------------------------------------------------- */

static void test_nvrtc_cubins(void **state)
{
    (void)state;
    static const ocs_cuda_pa_spec specs[] = {
        {1, 4, 2, 8, 4}, {10, 32, 8, 128, 16}, {16, 8, 8, 64, 32}, {10, 16, 2, 200, 16}, {16, 28, 4, 256, 64},
    };
    static const int sms[] = {80, 90};
    for (size_t i = 0; i < N_OF(specs); i++) {
        for (size_t k = 0; k < N_OF(sms); k++) {
            ocs_err err = {{0}};
            char *src = NULL, name[OCS_CUDA_BC_MAX_NAME + 1];
            assert_int_equal(ocs_cuda_bc_source(&specs[i], &src, name, sizeof name, &err), OCS_OK);
            void *cubin = NULL;
            size_t n = 0;
            ocs_status st = ocs_cuda_bc_nvrtc(src, name, sms[k], &cubin, &n, &err);
            if (st != OCS_OK)
                fail_msg("%s sm_%d: %s", name, sms[k], err.msg);
            assert_true(n > 64);
            assert_memory_equal(cubin, "\x7f" "ELF", 4);
            assert_int_equal(((unsigned char *)cubin)[4], 2);   /* ELFCLASS64 */
            assert_true(contains(cubin, n, name));
            free(cubin);
            free(src);
        }
    }
}

static void test_bad_specs_and_arch(void **state)
{
    (void)state;
    ocs_err err = {{0}};
    char *src = NULL, name[OCS_CUDA_BC_MAX_NAME + 1];
    const ocs_cuda_pa_spec bad[] = {{11, 4, 2, 8, 4}, {1, 5, 2, 8, 4}, {1, 4, 2, 0, 4}, {1, 4, 2, 8, 1 << 20}};
    for (size_t i = 0; i < N_OF(bad); i++) {
        assert_int_equal(ocs_cuda_bc_source(&bad[i], &src, name, sizeof name, &err), OCS_ERR_INVALID);
        assert_null(src);
    }
    void *cubin = NULL;
    size_t n = 0;
    assert_int_equal(ocs_cuda_bc_nvrtc("this is not CUDA", "k", 90, &cubin, &n, &err), OCS_ERR_RUNTIME);
    assert_null(cubin);
    assert_non_null(strstr(err.msg, "NVRTC could not compile"));
    assert_int_equal(ocs_cuda_bc_parse_arch("sm_90"), 90);
    assert_int_equal(ocs_cuda_bc_parse_arch("80"), 80);
    assert_int_equal(ocs_cuda_bc_parse_arch("8.6"), 86);
    assert_int_equal(ocs_cuda_bc_parse_arch("sm_90a"), 90);
    assert_int_equal(ocs_cuda_bc_parse_arch("sm_"), -1);
    assert_int_equal(ocs_cuda_bc_parse_arch("sm_9x"), -1);
    assert_int_equal(ocs_cuda_bc_parse_arch("99999999999999999999"), -1);
    assert_int_equal(ocs_cuda_bc_parse_arch("30"), -1);
    ocs_backend *be = NULL;
    assert_int_equal(ocs_cuda_compiler_open("gfx90a", &be, &err), OCS_ERR_INVALID);
    assert_null(be);
}

/* ---- payloads ------------------------------------------------------------------------------ */

/* A good payload for the test region (compiled for sm_90). */
static void good_payload(const built *b, void **payload, size_t *len, char **compat, ocs_bc_region **rs,
                         size_t *nr, ocs_bc_view *v)
{
    ocs_err err = {{0}};
    assert_int_equal(ocs_bc_discover(b->m, rs, nr, &err), OCS_OK);
    assert_int_equal(*nr, 1);
    assert_int_equal(ocs_bc_view_make(b->m, &(*rs)[0], v, &err), OCS_OK);
    ocs_backend *be = NULL;
    assert_int_equal(ocs_cuda_compiler_open("sm_90", &be, &err), OCS_OK);
    ocs_status st = be->ops->bc_compile(be->ctx, v, NULL, payload, len, compat, &err);
    if (st != OCS_OK)
        fail_msg("compile: %s", err.msg);
    ocs_backend_close(be);
}

static void test_payload_parse(void **state)
{
    (void)state;
    built b = {0};
    build_pa(&b);
    void *payload = NULL;
    size_t len = 0;
    char *compat = NULL;
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    ocs_bc_view v;
    good_payload(&b, &payload, &len, &compat, &rs, &nr, &v);
    assert_int_equal(strncmp(compat, "cuda-cubin=1;sm=90;cuda=", 24), 0);
    ocs_err err = {{0}};
    ocs_cuda_payload p;
    assert_int_equal(ocs_cuda_bc_payload_parse(payload, len, &p, &err), OCS_OK);
    assert_int_equal(p.sm, 90);
    assert_int_equal(p.spec.dtype, 1);
    assert_int_equal(p.spec.H, H);
    assert_int_equal(p.spec.Hkv, HKV);
    assert_int_equal(p.spec.D, D);
    assert_int_equal(p.spec.BS, BS);
    assert_string_equal(p.kernel, "ocs_pa_f32_h4_kv2_d8_bs4");

    /* every truncation: a clean error, never a read past the end (copied so ASan sees the exact size) */
    for (size_t n = 0; n < len; n++) {
        unsigned char *c = malloc(n ? n : 1);
        memcpy(c, payload, n);
        assert_int_equal(ocs_cuda_bc_payload_parse(n ? c : NULL, n, &p, &err), OCS_ERR_INVALID);
        free(c);
    }
    /* one flipped byte anywhere in the header, and in the cubin's magic */
    const unsigned char *cb = memchr(payload, 0x7f, len);
    assert_non_null(cb);
    size_t head = (size_t)(cb - (const unsigned char *)payload);
    const char *tl = strstr((const char *)payload, "\ntarget ");   /* the header is text up to the cubin */
    assert_non_null(tl);
    const size_t t0 = (size_t)(tl - (const char *)payload) + 1, t1 = t0 + strcspn(tl + 1, "\n");
    for (size_t i = 0; i < head + 4; i++) {
        unsigned char *c = malloc(len);
        memcpy(c, payload, len);
        for (int bit = 0; bit < 8; bit += 3) {
            c[i] ^= (unsigned char)(1u << bit);
            ocs_status st = ocs_cuda_bc_payload_parse(c, len, &p, &err);
            /* a flip may leave a valid header only where it changes a digit of the fingerprint
             * (caught by the fingerprint check at load) or of the target line (the architecture and
             * CUDA version, checked against the device and by the driver at load) */
            if (st == OCS_OK && !((i >= 29 && i < 29 + 64) || (i >= t0 && i < t1)))
                fail_msg("a flip of bit %d at byte %zu (%c) was accepted", bit, i, ((char *)payload)[i]);
            c[i] ^= (unsigned char)(1u << bit);
        }
        free(c);
    }
    /* trailing bytes, a longer declared cubin, an oversized count, a kernel name not matching the spec */
    {
        unsigned char *c = malloc(len + 1);
        memcpy(c, payload, len);
        c[len] = 0;
        assert_int_equal(ocs_cuda_bc_payload_parse(c, len + 1, &p, &err), OCS_ERR_INVALID);
        assert_non_null(strstr(err.msg, "declared"));
        free(c);
    }
    const char *forged[] = {
        "ocs-cuda-cubin 1\nfingerprint 0000000000000000000000000000000000000000000000000000000000000000\n"
        "target sm=90 cuda=13.0\nkernel ocs_pa_f32_h4_kv2_d8_bs4\nspec dtype=1 H=4 Hkv=2 D=8 BS=4\n"
        "cubin 99999999999999999999\n",
        "ocs-cuda-cubin 1\nfingerprint 0000000000000000000000000000000000000000000000000000000000000000\n"
        "target sm=90 cuda=13.0\nkernel evil\nspec dtype=1 H=4 Hkv=2 D=8 BS=4\ncubin 4\n\x7f" "ELF",
        "ocs-cuda-cubin 1\nfingerprint 0000000000000000000000000000000000000000000000000000000000000000\n"
        "target sm=90 cuda=13.0\nkernel ocs_pa_f32_h5_kv2_d8_bs4\nspec dtype=1 H=5 Hkv=2 D=8 BS=4\ncubin 4\n\x7f" "ELF",
        "ocs-cuda-cubin 1\nfingerprint 0000000000000000000000000000000000000000000000000000000000000000\n"
        "target sm=90 cuda=13.0\nkernel ocs_pa_f32_h4_kv2_d8_bs4\nspec dtype=1 H=4 Hkv=2 D=8 BS=4\ncubin 4\n\x7f" "ELF",
        "ocs-cuda-cubin 2\n",
        "ocs-cuda-cubin 1\nfingerprint ABCDEF\n",
        "ocs-cuda-cubin 1\nfingerprint 0000000000000000000000000000000000000000000000000000000000000000\n"
        "target sm=9000 cuda=13.0\n",
    };
    for (size_t i = 0; i < N_OF(forged); i++) {
        size_t n = strlen(forged[i]);
        unsigned char *c = malloc(n);
        memcpy(c, forged[i], n);
        assert_int_equal(ocs_cuda_bc_payload_parse(c, n, &p, &err), OCS_ERR_INVALID);
        free(c);
    }

    /* the compile-only loader: a good payload is unsupported (no device), a foreign one malformed */
    ocs_backend *be = NULL;
    assert_int_equal(ocs_cuda_compiler_open("90", &be, &err), OCS_OK);
    void *st_ = NULL;
    assert_int_equal(be->ops->bc_load(be->ctx, &v, payload, len, &st_, &err), OCS_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "no CUDA device"));
    char why[256] = "";
    assert_int_equal(be->ops->bc_compatible(be->ctx, compat, why, sizeof why), 0);
    assert_non_null(strstr(why, "no CUDA device"));
    {
        unsigned char *c = malloc(len);
        memcpy(c, payload, len);
        c[29] = c[29] == 'a' ? 'b' : 'a';   /* a fingerprint digit */
        assert_int_equal(be->ops->bc_load(be->ctx, &v, c, len, &st_, &err), OCS_ERR_INVALID);
        assert_non_null(strstr(err.msg, "another region"));
        free(c);
    }
    ocs_backend_close(be);
    ocs_bc_view_free(&v);
    ocs_bc_regions_free(rs, nr);
    free(payload);
    free(compat);
    built_free(&b);
}

static void test_region_not_compiled(void **state)
{
    (void)state;
    /* a region of a MatMul: the cuda compile step answers unsupported with a reason */
    ocs_model *m = NULL;
    ocs_err err = {{0}};
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 17, NULL), OCS_OK);
    static const int64_t d[] = {2, 2};
    assert_int_equal(ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 2, d, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(m->graph, "y", OCS_FLOAT, 2, d, NULL), OCS_OK);
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(m->graph, "MatMul", "", "mm", IN("x", "x"), IN("y"), &n, NULL), OCS_OK);
    n->meta = calloc(1, sizeof *n->meta);
    n->meta[0].key = strdup(OCS_BC_SCOPE_KEY);
    n->meta[0].value = strdup("mm");
    n->n_meta = 1;
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    assert_int_equal(ocs_bc_discover(m, &rs, &nr, &err), OCS_OK);
    ocs_bc_view v;
    assert_int_equal(ocs_bc_view_make(m, &rs[0], &v, &err), OCS_OK);
    ocs_backend *be = NULL;
    assert_int_equal(ocs_cuda_compiler_open("sm_80", &be, &err), OCS_OK);
    void *payload = NULL;
    size_t len = 0;
    char *compat = NULL;
    assert_int_equal(be->ops->bc_compile(be->ctx, &v, NULL, &payload, &len, &compat, &err), OCS_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "PagedAttention"));
    assert_null(payload);
    assert_null(compat);
    ocs_backend_close(be);
    ocs_bc_view_free(&v);
    ocs_bc_regions_free(rs, nr);
    ocs_model_free(m);
}

/* ---- a model with a cuda blob and a cpu blob ------------------------------------------------------ */

static ocs_status run(const built *b, const ocs_model *m, ocs_backend *const *bes, size_t nb, int disable,
                      ocs_tensor **out, char *line, size_t line_len, ocs_bc_decision *dec, ocs_err *err)
{
    ocs_session_options opt = {bes, nb, 0};
    ocs_bc_options bc = {0, disable, NULL, NULL};
    ocs_session *s = NULL;
    ocs_status st = ocs_session_new_bc(m, &opt, &bc, &s, err);
    if (st == OCS_OK && line && ocs_session_bc_count(s) > 0) {
        const ocs_bc_decision *d = ocs_session_bc_decision(s, 0);
        ocs_bc_decision_format(ocs_session_bc_region(s, 0), d, bes, line, line_len);
        dec->accepted = d->accepted;
        dec->backend = d->backend;
        dec->blob = d->blob;
        dec->n_attempts = d->n_attempts;
        dec->attempts = malloc((d->n_attempts + 1) * sizeof *d->attempts);
        memcpy(dec->attempts, d->attempts, d->n_attempts * sizeof *d->attempts);
    }
    if (st == OCS_OK)
        st = ocs_session_run(s, b->n_in, b->names, (const ocs_tensor *const *)b->in, 3, out, err);
    ocs_session_free(s);
    return st;
}

static void test_cpu_and_cuda_blobs(void **state)
{
    (void)state;
    built b = {0};
    build_pa(&b);
    ocs_err err = {{0}};
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    assert_int_equal(ocs_bc_discover(b.m, &rs, &nr, &err), OCS_OK);
    assert_int_equal(nr, 1);
    ocs_bc_view v;
    assert_int_equal(ocs_bc_view_make(b.m, &rs[0], &v, &err), OCS_OK);

    ocs_backend *cpu = NULL, *cuda_c = NULL, *cuda_dev = NULL;
    assert_int_equal(ocs_backend_open("cpu", &cpu, &err), OCS_OK);
    assert_int_equal(ocs_cuda_compiler_open("sm_90", &cuda_c, &err), OCS_OK);
    /* this machine has no device: the real backend is absent, with the reason */
    ocs_err e2 = {{0}};
    if (ocs_backend_open("cuda", &cuda_dev, &e2) == OCS_OK) {
        print_message("a CUDA device answers here (%s): the no-device expectations are skipped\n",
                      cuda_dev->ops->describe(cuda_dev->ctx));
    } else {
        assert_non_null(strstr(e2.msg, "cudaGetDeviceCount") ? e2.msg : strstr(e2.msg, "CUDA"));
    }

    ocs_backend *compilers[] = {cuda_c, cpu};
    const char *ids[] = {"cuda", "cpu"};
    void *containers[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    char *compats[2] = {NULL, NULL};
    ocs_bc_blob_out outs[2];
    for (int i = 0; i < 2; i++) {
        void *payload = NULL;
        size_t plen = 0;
        ocs_status st = compilers[i]->ops->bc_compile(compilers[i]->ctx, &v, NULL, &payload, &plen, &compats[i], &err);
        if (st != OCS_OK)
            fail_msg("%s compile: %s", ids[i], err.msg);
        assert_int_equal(ocs_blob_write(ids[i], compats[i], payload, plen, &containers[i], &lens[i], &err), OCS_OK);
        free(payload);
        outs[i] = (ocs_bc_blob_out){ids[i], compats[i], containers[i], lens[i]};
    }
    ocs_bc_region_spec spec = {rs[0].name, rs[0].n_nodes, rs[0].node_index, 2, outs, rs[0].input_types, NULL};
    ocs_model *enc = NULL;
    ocs_bc_file *files = NULL;
    size_t n_files = 0;
    ocs_status st = ocs_bc_encode(b.m, &spec, 1, OCS_BC_FUNCTION, NULL, &enc, &files, &n_files, &err);
    if (st != OCS_OK)
        fail_msg("encode: %s", err.msg);
    void *bytes = NULL;
    size_t nbytes = 0;
    assert_int_equal(ocs_model_save_memory(enc, &bytes, &nbytes, &err), OCS_OK);
    ocs_model_free(enc);
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_load_memory(bytes, nbytes, NULL, &m, &err), OCS_OK);
    free(bytes);

    /* the blob's view from the encoded model: the cuda payload still matches its region */
    {
        ocs_bc_region *r2 = NULL;
        size_t n2 = 0;
        assert_int_equal(ocs_bc_discover(m, &r2, &n2, &err), OCS_OK);
        assert_int_equal(n2, 1);
        assert_int_equal(r2[0].encoding, OCS_BC_FUNCTION);
        ocs_bc_view v2;
        assert_int_equal(ocs_bc_view_make(m, &r2[0], &v2, &err), OCS_OK);
        ocs_blob cb;
        assert_int_equal(ocs_blob_parse(containers[0], lens[0], &cb, &err), OCS_OK);
        void *ls = NULL;
        assert_int_equal(cuda_c->ops->bc_load(cuda_c->ctx, &v2, cb.payload, cb.payload_len, &ls, &err),
                         OCS_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.msg, "well formed"));
        ocs_bc_view_free(&v2);
        ocs_bc_regions_free(r2, n2);
    }

    ocs_tensor *fb[3] = {0}, *got[3] = {0};
    assert_int_equal(run(&b, m, &cpu, 1, 1, fb, NULL, 0, NULL, &err), OCS_OK);

    /* cuda first in priority: its blob is refused (no device), the cpu blob runs */
    ocs_backend *order[] = {cuda_c, cpu};
    char line[2048] = "";
    ocs_bc_decision dec = {0};
    st = run(&b, m, order, 2, 0, got, line, sizeof line, &dec, &err);
    if (st != OCS_OK)
        fail_msg("run: %s", err.msg);
    print_message("selection: %s\n", line);
    assert_int_equal(dec.accepted, 1);
    assert_int_equal(dec.backend, 1);
    assert_int_equal(dec.blob, 1);
    int saw = 0;
    for (size_t i = 0; i < dec.n_attempts; i++) {
        if (dec.attempts[i].blob == 0) {
            assert_int_equal(dec.attempts[i].reason, OCS_BC_INCOMPATIBLE);
            assert_non_null(strstr(dec.attempts[i].detail, "no CUDA device"));
            saw = 1;
        }
    }
    assert_true(saw);
    free(dec.attempts);
    for (int i = 0; i < 3; i++)
        assert_true(ocs_tensor_equal(fb[i], got[i]));
    for (int i = 0; i < 3; i++) {
        ocs_tensor_free(got[i]);
        got[i] = NULL;
    }

    /* only the cpu backend (as where cuda does not open): the cuda blob has no backend */
    memset(&dec, 0, sizeof dec);
    assert_int_equal(run(&b, m, &cpu, 1, 0, got, line, sizeof line, &dec, &err), OCS_OK);
    print_message("selection: %s\n", line);
    assert_int_equal(dec.accepted, 1);
    assert_int_equal(dec.blob, 1);
    for (size_t i = 0; i < dec.n_attempts; i++)
        if (dec.attempts[i].blob == 0)
            assert_int_equal(dec.attempts[i].reason, OCS_BC_NO_SUCH_BACKEND);
    free(dec.attempts);
    for (int i = 0; i < 3; i++)
        assert_true(ocs_tensor_equal(fb[i], got[i]));

    for (int i = 0; i < 3; i++) {
        ocs_tensor_free(fb[i]);
        ocs_tensor_free(got[i]);
    }
    for (int i = 0; i < 2; i++) {
        free(containers[i]);
        free(compats[i]);
    }
    ocs_model_free(m);
    ocs_backend_close(cpu);
    ocs_backend_close(cuda_c);
    ocs_backend_close(cuda_dev);
    ocs_bc_view_free(&v);
    ocs_bc_regions_free(rs, nr);
    built_free(&b);
}

/* On a machine with a device: the blob compiled for it is accepted and runs the specialised kernel;
 * outputs within float tolerance of the fallback's (different summation order), caches bit-identical. */
static void test_device_blob(void **state)
{
    (void)state;
    ocs_err err = {{0}};
    ocs_backend *dev = NULL, *cpu = NULL;
    if (ocs_backend_open("cuda", &dev, &err) != OCS_OK) {
        print_message("no CUDA device here (%s)\n", err.msg);
        skip();
    }
    built b = {0};
    build_pa(&b);
    assert_int_equal(ocs_backend_open("cpu", &cpu, &err), OCS_OK);
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    assert_int_equal(ocs_bc_discover(b.m, &rs, &nr, &err), OCS_OK);
    ocs_bc_view v;
    assert_int_equal(ocs_bc_view_make(b.m, &rs[0], &v, &err), OCS_OK);
    void *payload = NULL, *container = NULL;
    size_t plen = 0, clen = 0;
    char *compat = NULL;
    ocs_status st = dev->ops->bc_compile(dev->ctx, &v, NULL, &payload, &plen, &compat, &err);
    if (st != OCS_OK)
        fail_msg("device compile: %s", err.msg);
    char why[256] = "";
    if (!dev->ops->bc_compatible(dev->ctx, compat, why, sizeof why))
        fail_msg("own blob incompatible: %s", why);
    assert_int_equal(ocs_blob_write("cuda", compat, payload, plen, &container, &clen, &err), OCS_OK);
    ocs_bc_blob_out out = {"cuda", compat, container, clen};
    ocs_bc_region_spec spec = {rs[0].name, rs[0].n_nodes, rs[0].node_index, 1, &out, rs[0].input_types, NULL};
    ocs_model *enc = NULL;
    ocs_bc_file *files = NULL;
    size_t n_files = 0;
    assert_int_equal(ocs_bc_encode(b.m, &spec, 1, OCS_BC_FUNCTION, NULL, &enc, &files, &n_files, &err), OCS_OK);
    ocs_tensor *fb[3] = {0}, *got[3] = {0};
    char line[2048] = "";
    ocs_bc_decision dec = {0};
    assert_int_equal(run(&b, enc, &cpu, 1, 1, fb, NULL, 0, NULL, &err), OCS_OK);
    ocs_backend *order[] = {dev, cpu};
    st = run(&b, enc, order, 2, 0, got, line, sizeof line, &dec, &err);
    if (st != OCS_OK)
        fail_msg("device run: %s", err.msg);
    print_message("selection: %s\n", line);
    assert_int_equal(dec.accepted, 1);
    assert_int_equal(dec.backend, 0);
    free(dec.attempts);
    for (size_t k = 0; k < fb[0]->numel; k++) {
        double x = ocs_tensor_get_f64(fb[0], k), y = ocs_tensor_get_f64(got[0], k);
        if (!(fabs(x - y) <= 1e-5 + 1e-4 * fabs(x)))
            fail_msg("output element %zu: fallback %.9g, cuda blob %.9g", k, x, y);
    }
    assert_true(ocs_tensor_equal(fb[1], got[1]));
    assert_true(ocs_tensor_equal(fb[2], got[2]));
    for (int i = 0; i < 3; i++) {
        ocs_tensor_free(fb[i]);
        ocs_tensor_free(got[i]);
    }
    ocs_model_free(enc);
    free(payload);
    free(container);
    free(compat);
    ocs_bc_view_free(&v);
    ocs_bc_regions_free(rs, nr);
    ocs_backend_close(cpu);
    ocs_backend_close(dev);
    built_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_blob),
        cmocka_unit_test(test_nvrtc_cubins),
        cmocka_unit_test(test_bad_specs_and_arch),
        cmocka_unit_test(test_payload_parse),
        cmocka_unit_test(test_region_not_compiled),
        cmocka_unit_test(test_cpu_and_cuda_blobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else /* no CUDA in this build */

static void test_not_built(void **state)
{
    (void)state;
    skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_not_built)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
