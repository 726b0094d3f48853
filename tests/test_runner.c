/*
 * tests/test_runner.c - the conformance runner: the comparator (ULP, NMSE,
 * NaN/Inf rules, exact integers, per-type defaults), SHA-256 (FIPS 180-2
 * vectors), deterministic cases, shards, outcomes on test backends (a
 * planted one-element error, an unwritten element, a write past the end, a
 * crash and a hang, each caught while the other cases still run), the
 * command protocol, JUnit XML against the schema, and atomic reports.
 *
 * The runner lives in conformance/, outside the library the tests link, so
 * its sources are compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "../conformance/case.h"

#include "../conformance/compare.h"
#include "../conformance/report.h"
#include "../conformance/runner.h"
#include "ocs/sha256.h"

#include "ocs/build.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static ocs_tensor *tensor_f32(int rank, const int64_t *dims, const float *v)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, rank, dims, &t, NULL), OCS_OK);
    memcpy(t->data, v, t->nbytes);
    return t;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static char tmp_root[256];

static int make_tmp(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/ocs-test-runner-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(tmp_root) ? 0 : -1;
}

static int remove_tmp(void **state)
{
    (void)state;
    ocs_path_remove_tree(tmp_root, NULL);
    return 0;
}

/* ---- the comparator ------------------------------------------------------------------------------ */

static void test_ulp_distance(void **state)
{
    (void)state;
    assert_true(ocs_ulp_distance(OCS_FLOAT, f32_bits(1.0f), f32_bits(1.0f)) == 0);
    assert_true(ocs_ulp_distance(OCS_FLOAT, f32_bits(1.0f), f32_bits(nextafterf(1.0f, 2.0f))) == 1);
    assert_true(ocs_ulp_distance(OCS_FLOAT, f32_bits(1.0f), f32_bits(nextafterf(1.0f, 0.0f))) == 1);
    assert_true(ocs_ulp_distance(OCS_FLOAT, f32_bits(0.0f), f32_bits(-0.0f)) == 0);
    /* the smallest subnormals on either side of zero are two apart */
    assert_true(ocs_ulp_distance(OCS_FLOAT, 0x00000001u, 0x80000001u) == 2);
    assert_true(ocs_ulp_distance(OCS_FLOAT, f32_bits(NAN), f32_bits(1.0f)) < 0);
    assert_true(ocs_ulp_distance(OCS_FLOAT16, 0x3C00, 0x3C01) == 1);
    assert_true(ocs_ulp_distance(OCS_FLOAT16, 0x3C00, 0xBC00) == 2.0 * 0x3C00);
    assert_true(ocs_ulp_distance(OCS_BFLOAT16, 0x3F80, 0x3F82) == 2);
    double one = 1.0, next = nextafter(1.0, 2.0);
    uint64_t a, b;
    memcpy(&a, &one, 8);
    memcpy(&b, &next, 8);
    assert_true(ocs_ulp_distance(OCS_DOUBLE, a, b) == 1);
    assert_true(ocs_ulp_distance(OCS_DOUBLE, b, a) == 1);
}

static void test_compare_within_and_planted_error(void **state)
{
    (void)state;
    const int64_t d[] = {6};
    const float want_v[] = {1, -2, 3, 0.5f, 100, 0};
    float got_v[6];
    memcpy(got_v, want_v, sizeof got_v);
    got_v[1] = nextafterf(-2.0f, 0.0f);   /* one ulp: within the float default */
    ocs_tensor *want = tensor_f32(1, d, want_v), *got = tensor_f32(1, d, got_v);
    ocs_tolerance tol;
    ocs_tolerance_init_backend(&tol);
    ocs_diff diff;
    ocs_compare(got, want, &tol, &diff);
    assert_true(diff.equal);
    assert_true(diff.max_ulp == 1);
    assert_true(diff.max_abs > 0 && diff.max_abs < 1e-6);

    /* a planted one-element error is found at its index */
    ((float *)got->data)[4] = 100.1f;
    ocs_compare(got, want, &tol, &diff);
    assert_false(diff.equal);
    assert_int_equal(diff.n_bad, 1);
    assert_int_equal(diff.first_bad, 4);
    assert_non_null(strstr(diff.reason, "index 4"));
    assert_true(fabs(diff.max_abs - 0.1) < 1e-5);

    /* max_ulp as an extra limit */
    ((float *)got->data)[4] = 100;
    ocs_tolerance_override(&tol, -1, -1, 0, -1);
    ocs_compare(got, want, &tol, &diff);
    assert_false(diff.equal);
    assert_int_equal(diff.first_bad, 1);
    ocs_tensor_free(want);
    ocs_tensor_free(got);
}

static void test_compare_nan_inf_rules(void **state)
{
    (void)state;
    const int64_t d[] = {1};
    ocs_tolerance tol;
    ocs_tolerance_init_backend(&tol);
    struct {
        float got, want;
        int equal;
    } cases[] = {
        {NAN, NAN, 1},      {-NAN, NAN, 1},    {NAN, 1, 0},          {1, NAN, 0},
        {INFINITY, INFINITY, 1}, {-INFINITY, -INFINITY, 1}, {INFINITY, -INFINITY, 0},
        {3.4e38f, INFINITY, 0},  {INFINITY, 3.4e38f, 0},    {INFINITY, NAN, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ocs_tensor *g = tensor_f32(1, d, &cases[i].got), *w = tensor_f32(1, d, &cases[i].want);
        ocs_diff diff;
        ocs_compare(g, w, &tol, &diff);
        assert_int_equal(diff.equal, cases[i].equal);
        /* a non-finite mismatch is counted as such, not measured as an error */
        assert_int_equal(diff.n_special, !cases[i].equal);
        assert_true(diff.max_abs == 0);
        ocs_tensor_free(g);
        ocs_tensor_free(w);
    }
}

static void test_compare_integers_exact(void **state)
{
    (void)state;
    const int64_t d[] = {3};
    ocs_tensor *a = NULL, *b = NULL;
    assert_int_equal(ocs_tensor_new(OCS_INT64, 1, d, &a, NULL), OCS_OK);
    assert_int_equal(ocs_tensor_new(OCS_INT64, 1, d, &b, NULL), OCS_OK);
    int64_t *x = a->data, *y = b->data;
    x[0] = y[0] = 7;
    x[1] = y[1] = -3;
    x[2] = (int64_t)1 << 53;
    y[2] = ((int64_t)1 << 53) + 1;   /* equal as doubles, not as integers */
    ocs_tolerance tol;
    ocs_tolerance_init_backend(&tol);
    tol.atol = tol.rtol = 1.0;       /* tolerances never apply to integers */
    ocs_diff diff;
    ocs_compare(a, b, &tol, &diff);
    assert_false(diff.equal);
    assert_int_equal(diff.first_bad, 2);
    y[2] = x[2];
    ocs_compare(a, b, &tol, &diff);
    assert_true(diff.equal);
    /* dtype and shape must match exactly */
    ocs_tensor *c = NULL;
    assert_int_equal(ocs_tensor_new(OCS_INT32, 1, d, &c, NULL), OCS_OK);
    ocs_compare(c, b, &tol, &diff);
    assert_false(diff.equal);
    assert_non_null(strstr(diff.reason, "type"));
    ocs_tensor_free(c);
    const int64_t d2[] = {1, 3};
    assert_int_equal(ocs_tensor_new(OCS_INT64, 2, d2, &c, NULL), OCS_OK);
    ocs_compare(c, b, &tol, &diff);
    assert_false(diff.equal);
    assert_non_null(strstr(diff.reason, "shape"));
    ocs_tensor_free(c);
    ocs_tensor_free(a);
    ocs_tensor_free(b);
}

static void test_per_type_defaults_and_overrides(void **state)
{
    (void)state;
    ocs_tolerance tol;
    ocs_tolerance_init_backend(&tol);
    assert_true(ocs_tolerance_rtol(&tol, OCS_FLOAT) == 1e-4 && ocs_tolerance_atol(&tol, OCS_FLOAT) == 1e-5);
    assert_true(ocs_tolerance_rtol(&tol, OCS_FLOAT16) == 1e-3 && ocs_tolerance_atol(&tol, OCS_FLOAT16) == 2.5e-3);
    assert_true(ocs_tolerance_rtol(&tol, OCS_BFLOAT16) == 1e-2 && ocs_tolerance_atol(&tol, OCS_BFLOAT16) == 2e-2);
    assert_true(ocs_tolerance_rtol(&tol, OCS_DOUBLE) == 1e-9 && ocs_tolerance_atol(&tol, OCS_DOUBLE) == 1e-12);
    ocs_tolerance onnx;
    ocs_tolerance_init(&onnx);
    assert_true(ocs_tolerance_rtol(&onnx, OCS_FLOAT16) == 1e-3 && ocs_tolerance_atol(&onnx, OCS_FLOAT16) == 1e-7);

    /* a float16 difference of two ulps at 1.0 passes the float16 default, not float's */
    const int64_t d[] = {1};
    ocs_tensor *g = NULL, *w = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT16, 1, d, &g, NULL), OCS_OK);
    assert_int_equal(ocs_tensor_new(OCS_FLOAT16, 1, d, &w, NULL), OCS_OK);
    ((uint16_t *)w->data)[0] = 0x3C00;
    ((uint16_t *)g->data)[0] = 0x3C02;
    ocs_diff diff;
    ocs_compare(g, w, &tol, &diff);
    assert_true(diff.equal);
    assert_true(diff.max_ulp == 2);
    ocs_tolerance strict = tol;
    strict.rtol_for[OCS_FLOAT16] = 1e-4;
    strict.atol_for[OCS_FLOAT16] = 1e-5;
    ocs_compare(g, w, &strict, &diff);
    assert_false(diff.equal);
    /* a case override applies to every type */
    ocs_tolerance loose = strict;
    ocs_tolerance_override(&loose, 1e-2, 0, -1, -1);
    ocs_compare(g, w, &loose, &diff);
    assert_true(diff.equal);
    /* the --rtol TYPE=X syntax */
    assert_int_equal(ocs_tolerance_parse(&strict, 1, "float16=0.5"), 0);
    assert_true(ocs_tolerance_rtol(&strict, OCS_FLOAT16) == 0.5);
    assert_int_equal(ocs_tolerance_parse(&strict, 1, "nosuchtype=1"), -1);
    ocs_tensor_free(g);
    ocs_tensor_free(w);
}

static void test_nmse_and_zero_reference(void **state)
{
    (void)state;
    const int64_t d[] = {4};
    const float zeros[] = {0, 0, 0, 0}, small[] = {0, 1e-7f, 0, 0};
    const float want_v[] = {1, 2, 3, 4}, got_v[] = {1, 2, 3, 4.5f};
    ocs_tolerance tol;
    ocs_tolerance_init_backend(&tol);
    ocs_diff diff;
    ocs_tensor *z = tensor_f32(1, d, zeros), *s = tensor_f32(1, d, small);
    ocs_compare(z, z, &tol, &diff);
    assert_true(diff.equal);
    assert_true(diff.nmse == 0);   /* exact zeros: no division by zero */
    ocs_compare(s, z, &tol, &diff);
    assert_true(diff.equal);       /* within atol */
    assert_true(isfinite(diff.nmse) && diff.nmse > 1e10);   /* floored denominator */
    ocs_tensor *w = tensor_f32(1, d, want_v), *g = tensor_f32(1, d, got_v);
    ocs_compare(g, w, &tol, &diff);
    assert_true(fabs(diff.nmse - 0.25 / 30.0) < 1e-12);
    /* an NMSE limit turns it into a failure even where atol/rtol would pass */
    ocs_tolerance loose = tol;
    ocs_tolerance_override(&loose, 1, 1, -1, 1e-3);
    ocs_compare(g, w, &loose, &diff);
    assert_false(diff.equal);
    assert_non_null(strstr(diff.reason, "NMSE"));
    ocs_tensor_free(z);
    ocs_tensor_free(s);
    ocs_tensor_free(w);
    ocs_tensor_free(g);
}

/* ---- SHA-256 ---------------------------------------------------------------------------------------- */

static void to_hex(const unsigned char d[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    /* FIPS 180-2, appendix B */
    ocs_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ocs_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces */
    ocs_sha256 s;
    ocs_sha256_init(&s);
    char block[997];
    memset(block, 'a', sizeof block);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof block ? left : sizeof block;
        ocs_sha256_update(&s, block, n);
        left -= n;
    }
    unsigned char digest[32];
    ocs_sha256_final(&s, digest);
    to_hex(digest, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    ocs_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- cases ----------------------------------------------------------------------------------------------- */

static void small_cases(ocs_case_list *l)
{
    ocs_case_list_init(l);
    ocs_case *c = ocs_case_add(l, "", "MatMul", 13, "mm");
    ocs_case_input_uniform(c, "A", OCS_FLOAT, 2, (const int64_t[]){3, 4}, -1, 1);
    ocs_case_input_uniform(c, "B", OCS_FLOAT, 2, (const int64_t[]){4, 5}, -1, 1);
    ocs_case_output(c, "Y", OCS_FLOAT);
    c = ocs_case_add(l, "", "Softmax", 13, "softmax");
    ocs_case_input_uniform(c, "X", OCS_FLOAT, 2, (const int64_t[]){2, 7}, -3, 3);
    ocs_case_output(c, "Y", OCS_FLOAT);
    c = ocs_case_add(l, "", "Relu", 14, "relu");
    ocs_case_input_uniform(c, "X", OCS_FLOAT, 1, (const int64_t[]){9}, -1, 1);
    ocs_case_output(c, "Y", OCS_FLOAT);
    c = ocs_case_add(l, "", "Gather", 13, "gather");
    ocs_case_input_uniform(c, "data", OCS_FLOAT, 2, (const int64_t[]){5, 3}, -1, 1);
    ocs_case_input_permutation(c, "indices", OCS_INT64, 1, (const int64_t[]){4}, 0, 4);
    ocs_case_output(c, "output", OCS_FLOAT);
    assert_int_equal(ocs_case_list_finish(l, NULL), OCS_OK);
    ocs_case_list_seed(l, 7);
}

static void test_case_determinism(void **state)
{
    (void)state;
    ocs_case_list l;
    small_cases(&l);
    ocs_case_inst a, b;
    ocs_err err = {{0}};
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(ocs_case_instantiate(&l.items[i], &a, &err), OCS_OK);
        assert_int_equal(ocs_case_instantiate(&l.items[i], &b, &err), OCS_OK);
        assert_int_equal(a.n_in, b.n_in);
        for (size_t k = 0; k < a.n_in; k++)
            assert_true(ocs_tensor_equal(a.in[k], b.in[k]));
        assert_int_equal(ocs_case_reference(&a, &err), OCS_OK);
        assert_int_equal(ocs_case_reference(&b, &err), OCS_OK);
        for (size_t k = 0; k < a.n_out; k++)
            assert_true(ocs_tensor_equal(a.ref[k], b.ref[k]));
        ocs_case_inst_free(&a);
        ocs_case_inst_free(&b);
    }
    /* the first value of the MatMul input for seed 7 is fixed for good */
    uint64_t s7 = l.items[0].seed;
    assert_true(s7 == ocs_case_seed(7, "test_mm"));
    /* another run seed gives other bytes; a case's seed ignores the other cases */
    assert_int_equal(ocs_case_instantiate(&l.items[0], &a, &err), OCS_OK);
    ocs_case_list_seed(&l, 8);
    assert_int_equal(ocs_case_instantiate(&l.items[0], &b, &err), OCS_OK);
    assert_false(ocs_tensor_equal(a.in[0], b.in[0]));
    ocs_case_inst_free(&a);
    ocs_case_inst_free(&b);
    assert_true(ocs_case_seed(7, "test_mm") != ocs_case_seed(7, "test_softmax"));
    /* permutation inputs are distinct and in range */
    ocs_case_list_seed(&l, 7);
    assert_int_equal(ocs_case_instantiate(&l.items[3], &a, &err), OCS_OK);
    const int64_t *ix = a.in[1]->data;
    for (int i = 0; i < 4; i++) {
        assert_true(ix[i] >= 0 && ix[i] <= 4);
        for (int j = 0; j < i; j++)
            assert_true(ix[i] != ix[j]);
    }
    ocs_case_inst_free(&a);
    /* the PRNG is splitmix64: the first outputs for seed 0 are published values */
    ocs_rng r;
    ocs_rng_init(&r, 0);
    assert_true(ocs_rng_next(&r) == 0xE220A8397B1DCDAFull);
    assert_true(ocs_rng_next(&r) == 0x6E789E6AA1B965F4ull);
    ocs_case_list_free(&l);
}

static void test_case_list_checks(void **state)
{
    (void)state;
    ocs_case_list l;
    ocs_case_list_init(&l);
    ocs_case_add(&l, "", "Relu", 14, "dup");
    ocs_case_add(&l, "", "Relu", 14, "dup");
    ocs_err err = {{0}};
    assert_int_equal(ocs_case_list_finish(&l, &err), OCS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "test_dup"));
    ocs_case_list_free(&l);
    ocs_case_list_init(&l);
    ocs_case_add(&l, "", "Relu", 14, "bad name(1)");
    assert_int_equal(ocs_case_list_finish(&l, &err), OCS_ERR_INVALID);
    ocs_case_list_free(&l);
    /* setters accept NULL, as ocs_case_add returns on exhaustion */
    ocs_case_input_uniform(NULL, "x", OCS_FLOAT, 0, NULL, 0, 1);
    ocs_case_output(NULL, "y", OCS_FLOAT);
    ocs_case_attr_int(NULL, "a", 1);
}

static void test_shards_partition(void **state)
{
    (void)state;
    for (int n = 1; n <= 5; n++) {
        int count[5] = {0};
        for (int i = 0; i < 200; i++) {
            char name[32];
            snprintf(name, sizeof name, "test_case_%d", i);
            int s = ocs_case_shard(name, n);
            assert_true(s >= 0 && s < n);
            assert_int_equal(s, ocs_case_shard(name, n));   /* stable */
            count[s]++;
        }
        for (int s = 0; s < n; s++)
            assert_true(count[s] > 200 / n / 2);   /* roughly balanced */
    }
}

/* ---- test backends ---------------------------------------------------------------------------------------------- */

typedef enum misbehave {
    HONEST = 0,       /* the reference kernel's result */
    PLANT_ERROR,      /* one element off */
    LEAVE_ONE,        /* in place, one element never written */
    PAST_END,         /* in place, one element written past the end */
    SEGV_ON_SOFTMAX,  /* dies of SIGSEGV on Softmax */
    HANG_ON_SOFTMAX,  /* never returns on Softmax */
    FAIL_ON_SOFTMAX,  /* returns an error on Softmax */
    ACCEPT_ANYTHING   /* Gather: returns zeros whatever the indices */
} misbehave;

typedef struct test_backend {
    misbehave how;
} test_backend;

static int tb_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    (void)ctx;
    (void)since;
    (void)n_in;
    (void)in;
    return strcmp(n->op_type, "Relu") != 0;   /* Relu is "not supported" */
}

/* Runs the reference kernel, then delivers its outputs as `how` says. */
static ocs_status tb_run(void *ctx, void *state, ocs_kernel_args *a)
{
    (void)state;
    test_backend *tb = ctx;
    int softmax = !strcmp(a->node->op_type, "Softmax");
    if (softmax && tb->how == SEGV_ON_SOFTMAX) {
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
    }
    if (softmax && tb->how == HANG_ON_SOFTMAX)
        for (;;)
            pause();
    if (softmax && tb->how == FAIL_ON_SOFTMAX)
        return ocs_fail(a->err, OCS_ERR_RUNTIME, "the test backend refuses Softmax");
    if (tb->how == ACCEPT_ANYTHING && !strcmp(a->node->op_type, "Gather")) {
        const int64_t one[1] = {1};
        return ocs_tensor_new(OCS_FLOAT, 1, one, &a->outputs[0], a->err);
    }
    ocs_tensor *mine[8] = {0};
    ocs_kernel_args b = *a;
    b.outputs = mine;
    const ocs_op_def *op = ocs_op_find(a->node->domain, a->node->op_type);
    ocs_status st = op->kernel(&b);
    if (st != OCS_OK)
        return st;
    for (size_t i = 0; i < a->n_outputs && i < 8; i++) {
        ocs_tensor *r = mine[i];
        if (!r)
            continue;
        if (tb->how == PLANT_ERROR && i == 0 && r->dtype == OCS_FLOAT && r->numel > 1)
            ((float *)r->data)[1] += 0.5f;
        if (a->outputs[i] && a->outputs[i]->nbytes == r->nbytes) {
            /* the runner handed a tensor in: write in place */
            size_t es = ocs_dtype_size(r->dtype);
            if (tb->how == LEAVE_ONE && r->numel > 2) {
                memcpy(a->outputs[i]->data, r->data, 2 * es);
                memcpy((char *)a->outputs[i]->data + 3 * es, (char *)r->data + 3 * es, r->nbytes - 3 * es);
            } else {
                memcpy(a->outputs[i]->data, r->data, r->nbytes);
            }
            if (tb->how == PAST_END)
                memcpy((char *)a->outputs[i]->data + r->nbytes, r->data, es);
            ocs_tensor_free(r);
        } else {
            a->outputs[i] = r;
        }
    }
    return OCS_OK;
}

static void tb_destroy(void *ctx)
{
    free(ctx);
}

static const ocs_backend_ops tb_ops = {
    .api_version = OCS_BACKEND_API_VERSION,
    .name = "test",
    .supports = tb_supports,
    .run = tb_run,
    .destroy = tb_destroy,
};

static ocs_status tb_open(const char *arg, ocs_backend **out, ocs_err *err)
{
    if (!strcmp(arg, "absent"))
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "no such device here");
    test_backend *tb = calloc(1, sizeof *tb);
    ocs_backend *b = calloc(1, sizeof *b);
    if (!tb || !b) {
        free(tb);
        free(b);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    }
    tb->how = (misbehave)atoi(arg);
    b->ops = &tb_ops;
    b->ctx = tb;
    *out = b;
    return OCS_OK;
}

static ocs_target backend_target(const char *name, misbehave how, int guard)
{
    ocs_target t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.kind = OCS_TARGET_BACKEND;
    t.open = tb_open;
    snprintf(t.arg, sizeof t.arg, "%d", (int)how);
    t.guard_outputs = guard;
    return t;
}

static size_t case_index(const ocs_case_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].name, name))
            return i;
    fail_msg("no case %s", name);
    return 0;
}

typedef struct seen {
    size_t calls;
} seen;

static void count_result(void *user, const ocs_case *c, const ocs_target *t, const ocs_result *r)
{
    (void)c;
    (void)t;
    (void)r;
    ((seen *)user)->calls++;
}

static ocs_result *run_all(const ocs_case_list *l, const ocs_target *t, size_t nt, double timeout, int jobs,
                           seen *s)
{
    ocs_runner_options opt;
    ocs_runner_options_init(&opt);
    opt.timeout_s = timeout;
    opt.jobs = jobs;
    opt.on_result = count_result;
    opt.user = s;
    ocs_result *res = NULL;
    ocs_err err = {{0}};
    assert_int_equal(ocs_run_cases(l->items, l->n, t, nt, &opt, &res, &err), OCS_OK);
    return res;
}

static void test_outcomes_honest_and_planted(void **state)
{
    (void)state;
    ocs_case_list l;
    small_cases(&l);
    ocs_target t[4];
    memset(t, 0, sizeof t);
    snprintf(t[0].name, sizeof t[0].name, "reference");
    t[0].kind = OCS_TARGET_REFERENCE;
    t[1] = backend_target("honest", HONEST, 1);
    t[2] = backend_target("planted", PLANT_ERROR, 0);
    snprintf(t[3].name, sizeof t[3].name, "expanded");
    t[3].kind = OCS_TARGET_EXPANDED;
    seen s = {0};
    ocs_result *r = run_all(&l, t, 4, 60, 2, &s);
    assert_int_equal(s.calls, 4 * l.n);
    size_t mm = case_index(&l, "test_mm"), relu = case_index(&l, "test_relu");
    for (size_t c = 0; c < l.n; c++) {
        assert_int_equal(r[0 * l.n + c].outcome, OCS_PASS);
        assert_int_equal(r[3 * l.n + c].outcome, OCS_SKIPPED);   /* no function body */
        assert_non_null(strstr(r[3 * l.n + c].message, "not applicable"));
    }
    for (size_t c = 0; c < l.n; c++) {
        if (c == relu) {
            assert_int_equal(r[1 * l.n + c].outcome, OCS_SKIPPED);
            assert_non_null(strstr(r[1 * l.n + c].message, "not supported"));
            continue;
        }
        assert_int_equal(r[1 * l.n + c].outcome, OCS_PASS);
        assert_true(r[1 * l.n + c].guarded);
        /* the planted error: exactly the element at index 1 of output 0 */
        const ocs_result *p = &r[2 * l.n + c];
        assert_int_equal(p->outcome, OCS_FAIL);
        assert_string_equal(p->type, "ToleranceExceeded");
        assert_non_null(strstr(p->message, "1 of "));
        assert_non_null(strstr(p->message, "first at index 1"));
        assert_true(p->max_abs > 0.4 && p->max_abs < 0.6);
    }
    assert_true(r[1 * l.n + mm].compared);
    free(r);
    ocs_case_list_free(&l);
}

static void test_unwritten_and_past_end_caught(void **state)
{
    (void)state;
    ocs_case_list l;
    small_cases(&l);
    ocs_target t[3] = {backend_target("leave_one", LEAVE_ONE, 1), backend_target("past_end", PAST_END, 1),
                       backend_target("unguarded", LEAVE_ONE, 0)};
    seen s = {0};
    ocs_result *r = run_all(&l, t, 3, 60, 1, &s);
    size_t relu = case_index(&l, "test_relu");
    for (size_t c = 0; c < l.n; c++) {
        if (c == relu)
            continue;
        const ocs_result *u = &r[0 * l.n + c], *p = &r[1 * l.n + c], *n = &r[2 * l.n + c];
        assert_int_equal(u->outcome, OCS_FAIL);
        assert_string_equal(u->type, "UnwrittenOutput");
        assert_non_null(strstr(u->message, "1 of "));
        assert_non_null(strstr(u->message, "index 2"));
        assert_int_equal(p->outcome, OCS_FAIL);
        assert_string_equal(p->type, "OutOfBoundsWrite");
        assert_non_null(strstr(p->message, "past the end of output 0"));
        /* without guards the backend allocates itself and is simply compared */
        assert_int_equal(n->outcome, OCS_PASS);
    }
    free(r);
    ocs_case_list_free(&l);
}

static void test_crash_and_hang_isolated(void **state)
{
    (void)state;
    ocs_case_list l;
    small_cases(&l);
    ocs_target t[4] = {backend_target("segv", SEGV_ON_SOFTMAX, 0), backend_target("hang", HANG_ON_SOFTMAX, 0),
                       backend_target("fails", FAIL_ON_SOFTMAX, 0), backend_target("absent", HONEST, 0)};
    snprintf(t[3].arg, sizeof t[3].arg, "absent");
    seen s = {0};
    ocs_result *r = run_all(&l, t, 4, 1.0, 2, &s);
    assert_int_equal(s.calls, 4 * l.n);
    size_t sm = case_index(&l, "test_softmax"), relu = case_index(&l, "test_relu");
    for (size_t k = 0; k < 3; k++) {
        size_t errors = 0;
        for (size_t c = 0; c < l.n; c++) {
            const ocs_result *x = &r[k * l.n + c];
            if (c == sm) {
                assert_int_equal(x->outcome, OCS_ERROR);
                errors++;
            } else if (c == relu) {
                assert_int_equal(x->outcome, OCS_SKIPPED);
            } else {
                assert_int_equal(x->outcome, OCS_PASS);   /* the run went on */
            }
        }
        assert_int_equal(errors, 1);
    }
    assert_string_equal(r[0 * l.n + sm].type, "Crash");
    assert_non_null(strstr(r[0 * l.n + sm].message, "signal 11"));
    assert_string_equal(r[1 * l.n + sm].type, "Timeout");
    assert_non_null(strstr(r[1 * l.n + sm].message, "timed out"));
    assert_string_equal(r[2 * l.n + sm].type, "BackendError");
    assert_non_null(strstr(r[2 * l.n + sm].message, "refuses Softmax"));
    for (size_t c = 0; c < l.n; c++) {
        assert_int_equal(r[3 * l.n + c].outcome, OCS_SKIPPED);
        assert_non_null(strstr(r[3 * l.n + c].message, "not present"));
    }
    free(r);
    ocs_case_list_free(&l);
}

static void test_expected_failure_is_skipped(void **state)
{
    (void)state;
    ocs_case_list l;
    small_cases(&l);
    ocs_case_xfail(&l.items[case_index(&l, "test_mm")], "planted,other", "a known difference");
    ocs_target t[2] = {backend_target("planted", PLANT_ERROR, 0), backend_target("other2", PLANT_ERROR, 0)};
    seen s = {0};
    ocs_result *r = run_all(&l, t, 2, 60, 1, &s);
    size_t mm = case_index(&l, "test_mm");
    assert_int_equal(r[mm].outcome, OCS_SKIPPED);
    assert_string_equal(r[mm].type, "ExpectedFailure");
    assert_non_null(strstr(r[mm].message, "a known difference"));
    assert_int_equal(r[l.n + mm].outcome, OCS_FAIL);   /* other2 is not listed */
    free(r);
    ocs_case_list_free(&l);
}

static void test_invalid_input_cases(void **state)
{
    (void)state;
    ocs_case_list l;
    ocs_case_list_init(&l);
    ocs_case *c = ocs_case_add(&l, "", "Gather", 13, "gather_index_out_of_range");
    ocs_case_input_uniform(c, "data", OCS_FLOAT, 2, (const int64_t[]){5, 3}, -1, 1);
    ocs_case_input_ints(c, "indices", OCS_INT64, 1, (const int64_t[]){2}, (const int64_t[]){1, 5});
    ocs_case_output(c, "output", OCS_FLOAT);
    ocs_case_expect_error(c, "");
    c = ocs_case_add(&l, "", "Gather", 13, "gather_wrong_message");
    ocs_case_input_uniform(c, "data", OCS_FLOAT, 2, (const int64_t[]){5, 3}, -1, 1);
    ocs_case_input_ints(c, "indices", OCS_INT64, 1, (const int64_t[]){2}, (const int64_t[]){1, 5});
    ocs_case_output(c, "output", OCS_FLOAT);
    ocs_case_expect_error(c, "no reference says this");
    c = ocs_case_add(&l, "", "Gather", 13, "gather_valid_after_all");
    ocs_case_input_uniform(c, "data", OCS_FLOAT, 2, (const int64_t[]){5, 3}, -1, 1);
    ocs_case_input_ints(c, "indices", OCS_INT64, 1, (const int64_t[]){2}, (const int64_t[]){1, 4});
    ocs_case_output(c, "output", OCS_FLOAT);
    ocs_case_expect_error(c, "");
    assert_int_equal(ocs_case_list_finish(&l, NULL), OCS_OK);
    ocs_target t[3] = {backend_target("honest", HONEST, 1), backend_target("lax", ACCEPT_ANYTHING, 1)};
    memset(&t[2], 0, sizeof t[2]);
    snprintf(t[2].name, sizeof t[2].name, "expanded");
    t[2].kind = OCS_TARGET_EXPANDED;
    seen s = {0};
    ocs_result *r = run_all(&l, t, 3, 60, 1, &s);
    assert_int_equal(r[0].outcome, OCS_PASS);            /* rejected, as the reference does */
    assert_non_null(strstr(r[0].message, "rejected as expected"));
    assert_int_equal(r[l.n].outcome, OCS_FAIL);          /* returned outputs for an invalid input */
    assert_string_equal(r[l.n].type, "AcceptedInvalidInput");
    assert_int_equal(r[2 * l.n].outcome, OCS_SKIPPED);   /* the body defines valid inputs only */
    for (size_t k = 0; k < 3; k++) {
        /* the case itself is wrong: the reference's message, or its acceptance */
        assert_int_equal(r[k * l.n + 1].outcome, OCS_ERROR);
        assert_string_equal(r[k * l.n + 1].type, "ReferenceError");
        assert_int_equal(r[k * l.n + 2].outcome, OCS_ERROR);
        assert_non_null(strstr(r[k * l.n + 2].message, "accepted"));
    }
    free(r);
    ocs_case_list_free(&l);
}

/* ---- the command protocol -------------------------------------------------------------------------------------- */

static void test_command_protocol(void **state)
{
    (void)state;
    char script[512];
    snprintf(script, sizeof script, "%s/backend.sh", tmp_root);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    /* copies the reference outputs, except: SKIP for softmax, ERROR for gather, nothing for relu */
    fputs("#!/bin/sh\n"
          "in=$1; out=$2\n"
          "for d in \"$in\"/*/; do\n"
          "  n=$(basename \"$d\")\n"
          "  mkdir -p \"$out/$n/test_data_set_0\"\n"
          "  case $n in\n"
          "    test_softmax) echo 'no softmax here' > \"$out/$n/SKIP\" ;;\n"
          "    test_gather) printf 'gather broke\\nsecond line' > \"$out/$n/ERROR\" ;;\n"
          "    test_relu) ;;\n"
          "    *) cp \"$d\"test_data_set_0/output_*.pb \"$out/$n/test_data_set_0/\" ;;\n"
          "  esac\n"
          "done\n"
          "echo finished\n",
          f);
    fclose(f);
    chmod(script, 0755);
    ocs_case_list l;
    small_cases(&l);
    ocs_target t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "cmd");
    t.kind = OCS_TARGET_COMMAND;
    snprintf(t.arg, sizeof t.arg, "%s", script);
    seen s = {0};
    ocs_result *r = run_all(&l, &t, 1, 30, 1, &s);
    assert_int_equal(r[case_index(&l, "test_mm")].outcome, OCS_PASS);
    assert_int_equal(r[case_index(&l, "test_softmax")].outcome, OCS_SKIPPED);
    assert_non_null(strstr(r[case_index(&l, "test_softmax")].message, "no softmax here"));
    const ocs_result *g = &r[case_index(&l, "test_gather")];
    assert_int_equal(g->outcome, OCS_ERROR);
    assert_non_null(strstr(g->message, "gather broke"));
    const ocs_result *m = &r[case_index(&l, "test_relu")];
    assert_int_equal(m->outcome, OCS_ERROR);
    assert_string_equal(m->type, "MissingOutput");
    assert_non_null(strstr(m->message, "finished"));   /* the log's tail */
    free(r);

    /* exit status 77 without outputs: not available here, every case SKIPPED */
    snprintf(t.arg, sizeof t.arg, "echo 'node is not installed'; exit 77; true");
    r = run_all(&l, &t, 1, 30, 1, &s);
    for (size_t c = 0; c < l.n; c++) {
        assert_int_equal(r[c].outcome, OCS_SKIPPED);
        assert_non_null(strstr(r[c].message, "node is not installed"));
    }
    free(r);

    /* a program that never ends is killed at the limit; every case is an ERROR */
    snprintf(t.arg, sizeof t.arg, "sleep 30; true");
    ocs_runner_options opt;
    ocs_runner_options_init(&opt);
    opt.command_timeout_s = 0.5;
    ocs_err err = {{0}};
    time_t t0 = time(NULL);
    assert_int_equal(ocs_run_cases(l.items, l.n, &t, 1, &opt, &r, &err), OCS_OK);
    assert_true(time(NULL) - t0 < 10);
    for (size_t c = 0; c < l.n; c++) {
        assert_int_equal(r[c].outcome, OCS_ERROR);
        assert_non_null(strstr(r[c].message, "timed out"));
    }
    free(r);
    ocs_case_list_free(&l);
}

/* ---- reports ----------------------------------------------------------------------------------------------------- */

static void fake_repro(void *user, const ocs_case *c, const ocs_target *t, char *buf, size_t len)
{
    (void)user;
    snprintf(buf, len, "ocs run --backend %s --filter '^%s$'", t->name, c->name);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    if (len)
        *len = got;
    return buf;
}

static void test_junit_and_scoreboard(void **state)
{
    (void)state;
    ocs_case_list l;
    small_cases(&l);
    ocs_case_xfail(&l.items[case_index(&l, "test_gather")], "planted", "known <&> \"quirk\"");
    ocs_target t[3] = {backend_target("honest", HONEST, 1), backend_target("planted", PLANT_ERROR, 0),
                       backend_target("fails", FAIL_ON_SOFTMAX, 0)};
    seen s = {0};
    ocs_result *r = run_all(&l, t, 3, 60, 1, &s);
    /* a message with control bytes and invalid UTF-8 must still give valid XML */
    snprintf(r[2 * l.n + case_index(&l, "test_mm")].message, 64, "bad \x01 bytes \xff\xfe <tag> & done");
    r[2 * l.n + case_index(&l, "test_mm")].outcome = OCS_ERROR;
    ocs_runner_options opt;
    ocs_runner_options_init(&opt);
    ocs_report_info info = {.ocs_version = "test", .seed = 7, .command = "ocs run", .opt = &opt,
                            .repro = fake_repro};
    char xml[512], md[512];
    snprintf(xml, sizeof xml, "%s/junit.xml", tmp_root);
    snprintf(md, sizeof md, "%s/scoreboard.md", tmp_root);
    ocs_err err = {{0}};
    assert_int_equal(ocs_report_junit(xml, &info, l.items, l.n, t, 3, r, &err), OCS_OK);
    assert_int_equal(ocs_report_scoreboard(md, &info, l.items, l.n, t, 3, r, &err), OCS_OK);

    xmlDocPtr doc = xmlReadFile(xml, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal((const char *)root->name, "testsuites");
    size_t suites = 0, failures = 0, errors = 0, skipped = 0;
    for (xmlNodePtr su = root->children; su; su = su->next) {
        if (su->type != XML_ELEMENT_NODE)
            continue;
        suites++;
        xmlChar *name = xmlGetProp(su, (const xmlChar *)"name");
        for (xmlNodePtr tc = su->children; tc; tc = tc->next) {
            if (tc->type != XML_ELEMENT_NODE || strcmp((const char *)tc->name, "testcase"))
                continue;
            xmlChar *cls = xmlGetProp(tc, (const xmlChar *)"classname");
            char prefix[128];
            snprintf(prefix, sizeof prefix, "ocs.%s.", (const char *)name);
            assert_int_equal(strncmp((const char *)cls, prefix, strlen(prefix)), 0);
            xmlFree(cls);
            for (xmlNodePtr e = tc->children; e; e = e->next) {
                if (e->type != XML_ELEMENT_NODE)
                    continue;
                failures += !strcmp((const char *)e->name, "failure");
                errors += !strcmp((const char *)e->name, "error");
                skipped += !strcmp((const char *)e->name, "skipped");
                if (!strcmp((const char *)e->name, "failure")) {
                    xmlChar *text = xmlNodeGetContent(e);
                    assert_non_null(strstr((const char *)text, "reproduce with"));
                    xmlFree(text);
                }
            }
        }
        xmlFree(name);
    }
    xmlFreeDoc(doc);
    assert_int_equal(suites, 3);
    assert_int_equal(failures, 2);   /* planted: mm, softmax (gather is expected, relu unsupported) */
    assert_int_equal(errors, 2);     /* fails: softmax, and the mm planted above */
    assert_int_equal(skipped, 3 + 1);   /* relu on each backend, gather on planted */

    /* against the schema, when xmllint and the XSD are here */
    const char *shared = getenv("OCS_SHARED");
    char xsd[512], cmd[1600];
    snprintf(xsd, sizeof xsd, "%s/schemas/JUnit.xsd", shared && *shared ? shared : "../shared");
    if (access(xsd, R_OK) == 0 && system("command -v xmllint >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof cmd, "xmllint --noout --schema '%s' '%s' 2>/dev/null", xsd, xml);
        assert_int_equal(system(cmd), 0);
    } else {
        fprintf(stderr, "note: xmllint or %s missing; schema validation skipped\n", xsd);
    }

    char *board = read_all(md, NULL);
    assert_non_null(board);
    assert_non_null(strstr(board, "| op | honest | planted | fails |"));
    assert_non_null(strstr(board, "| MatMul |"));
    assert_non_null(strstr(board, "Not passing (4)"));
    assert_non_null(strstr(board, "Expected failures (1)"));
    free(board);
    free(r);
    ocs_case_list_free(&l);
}

static void test_reports_written_atomically(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/atomic.txt", tmp_root);
    assert_int_equal(ocs_write_atomic(path, "old report\n", 11, NULL), OCS_OK);
    /* a failed write (here: the temporary name is taken by a folder) leaves the old file */
    char blocker[600];
    snprintf(blocker, sizeof blocker, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(mkdir(blocker, 0755), 0);
    ocs_err err = {{0}};
    assert_int_not_equal(ocs_write_atomic(path, "new", 3, &err), OCS_OK);
    rmdir(blocker);
    size_t len = 0;
    char *s = read_all(path, &len);
    assert_string_equal(s, "old report\n");
    free(s);
    /* a writer killed mid-way leaves either the old or the complete new file, never a torn one */
    size_t big = 64u << 20;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *buf = malloc(big);
        if (!buf)
            _exit(1);
        memset(buf, 'B', big);
        ocs_write_atomic(path, buf, big, NULL);
        _exit(0);
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s = read_all(path, &len);
    assert_non_null(s);
    assert_true((len == 11 && !strcmp(s, "old report\n")) || (len == big && s[0] == 'B' && s[big - 1] == 'B'));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ulp_distance),
        cmocka_unit_test(test_compare_within_and_planted_error),
        cmocka_unit_test(test_compare_nan_inf_rules),
        cmocka_unit_test(test_compare_integers_exact),
        cmocka_unit_test(test_per_type_defaults_and_overrides),
        cmocka_unit_test(test_nmse_and_zero_reference),
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_case_determinism),
        cmocka_unit_test(test_case_list_checks),
        cmocka_unit_test(test_shards_partition),
        cmocka_unit_test(test_outcomes_honest_and_planted),
        cmocka_unit_test(test_unwritten_and_past_end_caught),
        cmocka_unit_test(test_crash_and_hang_isolated),
        cmocka_unit_test(test_expected_failure_is_skipped),
        cmocka_unit_test(test_invalid_input_cases),
        cmocka_unit_test(test_command_protocol),
        cmocka_unit_test(test_junit_and_scoreboard),
        cmocka_unit_test(test_reports_written_atomically),
    };
    return cmocka_run_group_tests_name("runner", tests, make_tmp, remove_tmp);
}
