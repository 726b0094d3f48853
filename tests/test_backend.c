/*
 * tests/test_backend.c - node assignment to backends: priority order,
 * per-node preparation and release, the reference fallback and its absence,
 * and the inputs the executor lets a kernel take over (donation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ocs/backend.h"
#include "ocs/build.h"

/* A backend that runs Add as x + y + 1000 so its work is visible. */
typedef struct fake {
    const char *op;       /* the one op it supports */
    int prepares, runs, releases, destroyed;
} fake;

static int fake_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    (void)since;
    fake *f = ctx;
    return !strcmp(n->op_type, f->op) && n_in == 2 && in[0].dtype == OCS_FLOAT;
}

static ocs_status fake_prepare(void *ctx, const ocs_node *n, int64_t since, void **state, ocs_err *err)
{
    (void)n;
    (void)since;
    (void)err;
    fake *f = ctx;
    f->prepares++;
    *state = malloc(16);   /* released by fake_release; ASan reports a leak otherwise */
    return OCS_OK;
}

static ocs_status fake_run(void *ctx, void *state, ocs_kernel_args *a)
{
    fake *f = ctx;
    assert_non_null(state);
    f->runs++;
    const ocs_tensor *x = a->inputs[0], *y = a->inputs[1];
    ocs_tensor *z = NULL;
    ocs_status st = ocs_tensor_new(OCS_FLOAT, x->rank, x->dims, &z, a->err);
    if (st != OCS_OK)
        return st;
    for (size_t i = 0; i < x->numel; i++)
        ((float *)z->data)[i] = ((const float *)x->data)[i] + ((const float *)y->data)[i] + 1000.0f;
    a->outputs[0] = z;
    return OCS_OK;
}

static void fake_release(void *ctx, void *state)
{
    fake *f = ctx;
    f->releases++;
    free(state);
}

static void fake_destroy(void *ctx)
{
    ((fake *)ctx)->destroyed++;
}

static const ocs_backend_ops fake_ops = {
    .api_version = OCS_BACKEND_API_VERSION,
    .name = "fake",
    .supports = fake_supports,
    .prepare = fake_prepare,
    .run = fake_run,
    .release = fake_release,
    .destroy = fake_destroy,
};

/* z = (x + y) * y, with x, y float[3]. */
static ocs_model *add_mul_model(void)
{
    ocs_model *m = NULL;
    static const int64_t d3[] = {3};
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 17, NULL), OCS_OK);
    ocs_graph *g = m->graph;
    ocs_graph_add_input(g, "x", OCS_FLOAT, 1, d3, NULL);
    ocs_graph_add_input(g, "y", OCS_FLOAT, 1, d3, NULL);
    ocs_graph_add_output(g, "z", OCS_FLOAT, 1, d3, NULL);
    const char *add_in[] = {"x", "y"}, *add_out[] = {"s"}, *mul_in[] = {"s", "y"}, *mul_out[] = {"z"};
    assert_int_equal(ocs_graph_add_node(g, "Add", "", "add", 2, add_in, 1, add_out, NULL, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_node(g, "Mul", "", "mul", 2, mul_in, 1, mul_out, NULL, NULL), OCS_OK);
    return m;
}

static ocs_status run_twice(ocs_model *m, const ocs_session_options *opt, float *z_out, ocs_err *err)
{
    static const int64_t d3[] = {3};
    ocs_tensor *x = NULL, *y = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, 1, d3, &x, NULL), OCS_OK);
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, 1, d3, &y, NULL), OCS_OK);
    const float xv[] = {1, 2, 3}, yv[] = {2, 2, 2};
    memcpy(x->data, xv, sizeof xv);
    memcpy(y->data, yv, sizeof yv);
    const char *names[] = {"x", "y"};
    const ocs_tensor *ins[] = {x, y};
    ocs_session *s = NULL;
    ocs_status st = ocs_session_new_with(m, opt, &s, err);
    for (int r = 0; r < 2 && st == OCS_OK; r++) {
        ocs_tensor *z = NULL;
        st = ocs_session_run(s, 2, names, ins, 1, &z, err);
        if (st == OCS_OK)
            memcpy(z_out, z->data, 3 * sizeof *z_out);
        ocs_tensor_free(z);
    }
    ocs_session_free(s);
    ocs_tensor_free(x);
    ocs_tensor_free(y);
    return st;
}

static void test_backend_takes_supported_node(void **state)
{
    (void)state;
    fake f = {.op = "Add"};
    ocs_backend be = {&fake_ops, &f};
    ocs_backend *list[] = {&be};
    ocs_session_options opt = {list, 1, 0};
    ocs_model *m = add_mul_model();
    float z[3];
    ocs_err err = {{0}};
    assert_int_equal(run_twice(m, &opt, z, &err), OCS_OK);
    /* Add ran on the fake backend (+1000), Mul on the reference */
    const float want[] = {(1 + 2 + 1000) * 2.0f, (2 + 2 + 1000) * 2.0f, (3 + 2 + 1000) * 2.0f};
    assert_memory_equal(z, want, sizeof want);
    assert_int_equal(f.runs, 2);
    assert_int_equal(f.prepares, 1);      /* once per session, not per run */
    assert_int_equal(f.releases, 1);
    ocs_model_free(m);
}

static void test_first_backend_in_priority_wins(void **state)
{
    (void)state;
    fake a = {.op = "Add"}, b = {.op = "Add"};
    ocs_backend ba = {&fake_ops, &a}, bb = {&fake_ops, &b};
    ocs_backend *list[] = {&bb, &ba};
    ocs_session_options opt = {list, 2, 0};
    ocs_model *m = add_mul_model();
    float z[3];
    assert_int_equal(run_twice(m, &opt, z, NULL), OCS_OK);
    assert_int_equal(b.runs, 2);
    assert_int_equal(a.runs, 0);
    assert_int_equal(a.prepares, 0);
    ocs_model_free(m);
}

static void test_no_fallback_reports_unsupported(void **state)
{
    (void)state;
    fake f = {.op = "Add"};
    ocs_backend be = {&fake_ops, &f};
    ocs_backend *list[] = {&be};
    ocs_session_options opt = {list, 1, 1};
    ocs_model *m = add_mul_model();
    float z[3];
    ocs_err err = {{0}};
    assert_int_equal(run_twice(m, &opt, z, &err), OCS_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "Mul"));
    assert_int_equal(f.releases, f.prepares);
    ocs_model_free(m);
}

/* ---- donated inputs ---------------------------------------------------------------------- */

/*
 * A backend that runs Mul and records which inputs the executor offered.
 * take: multiplies input 0 in place and returns it when it is donated;
 * steal: returns input 0 as its output whether donated or not.
 */
typedef struct taker {
    int take, steal;
    int twice;           /* Split instead: returns its donated input as both outputs */
    int runs, took;
    unsigned char seen[4];
} taker;

static int taker_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    (void)since;
    const taker *t = ctx;
    if (t->twice)
        return !strcmp(n->op_type, "Split") && n_in == 1 && in[0].dtype == OCS_FLOAT;
    return !strcmp(n->op_type, "Mul") && n_in == 2 && in[0].dtype == OCS_FLOAT;
}

static ocs_status taker_run(void *ctx, void *state, ocs_kernel_args *a)
{
    (void)state;
    taker *t = ctx;
    t->runs++;
    if (t->twice) {
        t->seen[0] = a->donatable ? a->donatable[0] : 0;
        a->outputs[0] = a->outputs[1] = (ocs_tensor *)a->inputs[0];
        return OCS_OK;
    }
    for (size_t i = 0; i < 2; i++)
        t->seen[i] = a->donatable ? a->donatable[i] : 0;
    const ocs_tensor *x = a->inputs[0], *y = a->inputs[1];
    ocs_tensor *z = NULL;
    if (t->steal || (t->take && t->seen[0])) {
        z = (ocs_tensor *)x;
        t->took++;
    } else {
        ocs_status st = ocs_tensor_new(OCS_FLOAT, x->rank, x->dims, &z, a->err);
        if (st != OCS_OK)
            return st;
        memcpy(z->data, x->data, x->nbytes);
    }
    for (size_t i = 0; i < z->numel; i++)
        ((float *)z->data)[i] *= ((const float *)y->data)[i % y->numel];
    a->outputs[0] = z;
    return OCS_OK;
}

static const ocs_backend_ops taker_ops = {
    .api_version = OCS_BACKEND_API_VERSION,
    .name = "taker",
    .supports = taker_supports,
    .run = taker_run,
};

/* s = x + y; z = Mul(s, m1); extra: w = s + z as well (s then outlives the Mul); twice: Mul(s, s). */
static ocs_model *donate_model(int extra, int twice)
{
    ocs_model *m = NULL;
    static const int64_t d3[] = {3};
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 17, NULL), OCS_OK);
    ocs_graph *g = m->graph;
    ocs_graph_add_input(g, "x", OCS_FLOAT, 1, d3, NULL);
    ocs_graph_add_input(g, "y", OCS_FLOAT, 1, d3, NULL);
    ocs_graph_add_output(g, extra ? "w" : "z", OCS_FLOAT, 1, d3, NULL);
    const char *add_in[] = {"x", "y"}, *add_out[] = {"s"}, *mul_in[] = {"s", twice ? "s" : "y"}, *mul_out[] = {"z"};
    assert_int_equal(ocs_graph_add_node(g, "Add", "", "add", 2, add_in, 1, add_out, NULL, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_node(g, "Mul", "", "mul", 2, mul_in, 1, mul_out, NULL, NULL), OCS_OK);
    if (extra) {
        const char *in2[] = {"s", "z"}, *out2[] = {"w"};
        assert_int_equal(ocs_graph_add_node(g, "Add", "", "add2", 2, in2, 1, out2, NULL, NULL), OCS_OK);
    }
    return m;
}

static void check_donation(int extra, int twice, int want_donated, const float *want)
{
    taker t = {.take = 1};
    ocs_backend be = {&taker_ops, &t};
    ocs_backend *list[] = {&be};
    ocs_session_options opt = {list, 1, 0};
    ocs_model *m = donate_model(extra, twice);
    float z[3];
    ocs_err err = {{0}};
    assert_int_equal(run_twice(m, &opt, z, &err), OCS_OK);
    assert_memory_equal(z, want, 3 * sizeof *want);
    assert_int_equal(t.runs, 2);
    assert_int_equal(t.seen[0], want_donated);
    assert_int_equal(t.seen[1], 0);          /* a graph input is never donated */
    assert_int_equal(t.took, want_donated ? 2 : 0);
    ocs_model_free(m);
}

static void test_last_use_is_donated_and_taken(void **state)
{
    (void)state;
    /* x = {1,2,3}, y = {2,2,2}: s = {3,4,5}, z = s * y */
    const float want[] = {6, 8, 10};
    check_donation(0, 0, 1, want);
}

static void test_value_read_later_is_not_donated(void **state)
{
    (void)state;
    /* w = s + s * y */
    const float want[] = {9, 12, 15};
    check_donation(1, 0, 0, want);
}

static void test_value_named_twice_is_not_donated(void **state)
{
    (void)state;
    /* z = s * s */
    const float want[] = {9, 16, 25};
    check_donation(0, 1, 0, want);
}

static void test_taking_an_input_not_donated_fails(void **state)
{
    (void)state;
    taker t = {.steal = 1};
    ocs_backend be = {&taker_ops, &t};
    ocs_backend *list[] = {&be};
    ocs_session_options opt = {list, 1, 0};
    ocs_model *m = donate_model(1, 0);   /* s is read again after the Mul */
    float z[3];
    ocs_err err = {{0}};
    assert_int_equal(run_twice(m, &opt, z, &err), OCS_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "may not take"));
    assert_non_null(strstr(err.msg, "'s'"));
    ocs_model_free(m);
}

/* z = Mul(x, y) on graph inputs; read_x_after: w = z + x is the output instead. */
static ocs_model *mul_inputs_model(int read_x_after)
{
    ocs_model *m = NULL;
    static const int64_t d3[] = {3};
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 17, NULL), OCS_OK);
    ocs_graph *g = m->graph;
    ocs_graph_add_input(g, "x", OCS_FLOAT, 1, d3, NULL);
    ocs_graph_add_input(g, "y", OCS_FLOAT, 1, d3, NULL);
    ocs_graph_add_output(g, read_x_after ? "w" : "z", OCS_FLOAT, 1, d3, NULL);
    const char *mul_in[] = {"x", "y"}, *mul_out[] = {"z"}, *add_in[] = {"z", "x"}, *add_out[] = {"w"};
    assert_int_equal(ocs_graph_add_node(g, "Mul", "", "mul", 2, mul_in, 1, mul_out, NULL, NULL), OCS_OK);
    if (read_x_after)
        assert_int_equal(ocs_graph_add_node(g, "Add", "", "add", 2, add_in, 1, add_out, NULL, NULL), OCS_OK);
    return m;
}

static ocs_tensor *vec3(float a, float b, float c)
{
    static const int64_t d3[] = {3};
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, 1, d3, &t, NULL), OCS_OK);
    float *v = t->data;
    v[0] = a, v[1] = b, v[2] = c;
    return t;
}

/*
 * One input returned as two outputs is refused, donated (s at its last use)
 * or not (s read again later), and nothing is freed twice (ASan).
 */
static void test_one_input_as_two_outputs_fails(void **state)
{
    (void)state;
    for (int later = 0; later < 2; later++) {
        taker t = {.twice = 1};
        ocs_backend be = {&taker_ops, &t};
        ocs_backend *list[] = {&be};
        ocs_session_options opt = {list, 1, 0};
        ocs_model *m = NULL;
        static const int64_t d3[] = {3};
        assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
        assert_int_equal(ocs_model_import(m, "", 17, NULL), OCS_OK);
        ocs_graph *g = m->graph;
        ocs_graph_add_input(g, "x", OCS_FLOAT, 1, d3, NULL);
        ocs_graph_add_input(g, "y", OCS_FLOAT, 1, d3, NULL);
        ocs_graph_add_output(g, "a", OCS_FLOAT, 1, d3, NULL);
        ocs_graph_add_output(g, "b", OCS_FLOAT, 1, d3, NULL);
        const char *add_in[] = {"x", "y"}, *add_out[] = {"s"}, *split_in[] = {"s"}, *split_out[] = {"a", "b"};
        assert_int_equal(ocs_graph_add_node(g, "Add", "", "add", 2, add_in, 1, add_out, NULL, NULL), OCS_OK);
        assert_int_equal(ocs_graph_add_node(g, "Split", "", "split", 1, split_in, 2, split_out, NULL, NULL),
                         OCS_OK);
        if (later) {
            const char *in2[] = {"s", "y"}, *out2[] = {"w"};
            ocs_graph_add_output(g, "w", OCS_FLOAT, 1, d3, NULL);
            assert_int_equal(ocs_graph_add_node(g, "Add", "", "add2", 2, in2, 1, out2, NULL, NULL), OCS_OK);
        }
        ocs_session *s = NULL;
        assert_int_equal(ocs_session_new_with(m, &opt, &s, NULL), OCS_OK);
        ocs_tensor *x = vec3(1, 2, 3), *y = vec3(2, 2, 2), *outs[3] = {NULL, NULL, NULL};
        const char *names[] = {"x", "y"};
        const ocs_tensor *ins[] = {x, y};
        ocs_err err = {{0}};
        assert_int_equal(ocs_session_run(s, 2, names, ins, later ? 3 : 2, outs, &err), OCS_ERR_RUNTIME);
        assert_int_equal(t.seen[0], !later);
        assert_non_null(strstr(err.msg, "may not take"));
        ocs_tensor_free(x);
        ocs_tensor_free(y);
        ocs_session_free(s);
        ocs_model_free(m);
    }
}

/* Inputs handed over with the run are donated at their last use, not before; the caller's output is
 * then the very tensor it gave. */
static void test_handed_over_inputs_are_donated(void **state)
{
    (void)state;
    for (int later = 0; later < 2; later++) {
        taker t = {.take = 1};
        ocs_backend be = {&taker_ops, &t};
        ocs_backend *list[] = {&be};
        ocs_session_options opt = {list, 1, 0};
        ocs_model *m = mul_inputs_model(later);
        ocs_session *s = NULL;
        assert_int_equal(ocs_session_new_with(m, &opt, &s, NULL), OCS_OK);
        ocs_tensor *in[2] = {vec3(1, 2, 3), vec3(2, 2, 2)}, *out = NULL;
        const uintptr_t x_was = (uintptr_t)in[0];
        const char *names[] = {"x", "y"};
        ocs_err err = {{0}};
        assert_int_equal(ocs_session_run_donated(s, 2, names, in, 1, &out, &err), OCS_OK);
        const float *z = out->data;
        if (later) {   /* w = x * y + x */
            assert_true(z[0] == 3 && z[1] == 6 && z[2] == 9);
            assert_int_equal(t.seen[0], 0);
        } else {
            assert_true(z[0] == 2 && z[1] == 4 && z[2] == 6);
            assert_int_equal(t.seen[0], 1);
            assert_true((uintptr_t)out == x_was);   /* updated in place and handed back */
        }
        assert_int_equal(t.seen[1], 1);   /* y: last use, handed over */
        ocs_tensor_free(out);
        /* borrowed inputs are never donated */
        ocs_tensor *x = vec3(1, 2, 3), *y = vec3(2, 2, 2);
        const ocs_tensor *borrowed[] = {x, y};
        assert_int_equal(ocs_session_run(s, 2, names, borrowed, 1, &out, NULL), OCS_OK);
        assert_int_equal(t.seen[0], 0);
        assert_int_equal(t.seen[1], 0);
        assert_true(((float *)x->data)[2] == 3);
        ocs_tensor_free(out);
        ocs_tensor_free(x);
        ocs_tensor_free(y);
        ocs_session_free(s);
        ocs_model_free(m);
    }
}

/* Every tensor handed over is freed when the run fails (AddressSanitizer reports a leak otherwise). */
static void test_handed_over_inputs_freed_on_failure(void **state)
{
    (void)state;
    ocs_model *m = mul_inputs_model(0);
    ocs_session *s = NULL;
    assert_int_equal(ocs_session_new(m, &s, NULL), OCS_OK);
    ocs_err err = {{0}};
    ocs_tensor *out = (ocs_tensor *)1;
    ocs_tensor *in[3] = {vec3(1, 2, 3), vec3(2, 2, 2), vec3(0, 0, 0)};
    const char *bad[] = {"x", "nope", "y"};
    assert_int_equal(ocs_session_run_donated(s, 3, bad, in, 1, &out, &err), OCS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "nope"));
    assert_null(out);
    ocs_tensor *same = vec3(1, 2, 3);
    ocs_tensor *twice[2] = {same, same};
    const char *names[] = {"x", "y"};
    assert_int_equal(ocs_session_run_donated(s, 2, names, twice, 1, &out, &err), OCS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "same tensor"));
    ocs_session_free(s);
    ocs_model_free(m);
}

static void test_unknown_builtin_is_unsupported(void **state)
{
    (void)state;
    ocs_backend *b = (ocs_backend *)1;
    ocs_err err = {{0}};
    assert_int_equal(ocs_backend_open("no-such-backend", &b, &err), OCS_ERR_UNSUPPORTED);
    assert_null(b);
    assert_non_null(strstr(err.msg, "no-such-backend"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_takes_supported_node),
        cmocka_unit_test(test_first_backend_in_priority_wins),
        cmocka_unit_test(test_no_fallback_reports_unsupported),
        cmocka_unit_test(test_unknown_builtin_is_unsupported),
        cmocka_unit_test(test_last_use_is_donated_and_taken),
        cmocka_unit_test(test_value_read_later_is_not_donated),
        cmocka_unit_test(test_value_named_twice_is_not_donated),
        cmocka_unit_test(test_taking_an_input_not_donated_fails),
        cmocka_unit_test(test_handed_over_inputs_are_donated),
        cmocka_unit_test(test_handed_over_inputs_freed_on_failure),
        cmocka_unit_test(test_one_input_as_two_outputs_fails),
    };
    return cmocka_run_group_tests_name("backend", tests, NULL, NULL);
}
