/*
 * tests/test_plugin.c - the shared-library plugin ABI: loading the example
 * plugin and running models through it against the reference, refusing
 * libraries with another ABI version, no entry point or an incomplete
 * table, and catching a write past the end of an output, an unwritten
 * element and a planted error from a misbehaving plugin.
 *
 * The plugins are built into $OCS_BUILD/plugins/ (default build/).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ocs/backend.h"
#include "ocs/build.h"
/* The loader is part of the ocs command, which the unit tests do not link. */
#include "../conformance/plugin.h"

static const char *plugin_path(const char *name, char *buf, size_t len)
{
    const char *build = getenv("OCS_BUILD");
    snprintf(buf, len, "%s/plugins/%s.so", build && build[0] ? build : "build", name);
    return buf;
}

static ocs_backend *open_plugin(const char *name)
{
    char path[512];
    ocs_backend *b = NULL;
    ocs_err err = {{0}};
    ocs_status st = ocs_plugin_open(plugin_path(name, path, sizeof path), &b, &err);
    if (st != OCS_OK)
        print_error("ocs_plugin_open(%s): %s\n", path, err.msg);
    assert_int_equal(st, OCS_OK);
    assert_non_null(b);
    return b;
}

/* ---- models ------------------------------------------------------------------------------ */

static const int64_t x_dims[] = {2, 3, 5};
static const int64_t scale_dims[] = {5};

static ocs_tensor *filled(int rank, const int64_t *dims, uint32_t seed)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, rank, dims, &t, NULL), OCS_OK);
    uint32_t s = seed;
    for (size_t i = 0; i < t->numel; i++) {
        s = s * 1664525u + 1013904223u;
        ((float *)t->data)[i] = (float)((int)(s >> 8) % 2001 - 1000) / 250.0f;
    }
    return t;
}

/*
 * rms = RMSNormalization(x, scale); sm = Softmax(rms, axis=1); r = Relu(x);
 * outputs sm and r.  opset 23.
 */
static ocs_model *rms_softmax_relu_model(void)
{
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 23, NULL), OCS_OK);
    ocs_graph *g = m->graph;
    assert_int_equal(ocs_graph_add_input(g, "x", OCS_FLOAT, 3, x_dims, NULL), OCS_OK);
    ocs_tensor *scale = filled(1, scale_dims, 7);
    assert_int_equal(ocs_graph_add_initializer(g, "scale", scale, NULL), OCS_OK);
    ocs_tensor_free(scale);
    assert_int_equal(ocs_graph_add_output(g, "sm", OCS_FLOAT, 3, x_dims, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "r", OCS_FLOAT, 3, x_dims, NULL), OCS_OK);
    const char *rms_in[] = {"x", "scale"}, *rms_out[] = {"rms"};
    const char *sm_in[] = {"rms"}, *sm_out[] = {"sm"};
    const char *relu_in[] = {"x"}, *relu_out[] = {"r"};
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(g, "RMSNormalization", "", "rms", 2, rms_in, 1, rms_out, &n, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_float(n, "epsilon", 1e-3f, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_node(g, "Softmax", "", "sm", 1, sm_in, 1, sm_out, &n, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_int(n, "axis", 1, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_node(g, "Relu", "", "relu", 1, relu_in, 1, relu_out, NULL, NULL), OCS_OK);
    return m;
}

/* y = op(x) for one single-input op at the given opset, with an optional int attribute. */
static ocs_model *one_op_model(const char *op, int64_t opset, const char *attr, int64_t value)
{
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", opset, NULL), OCS_OK);
    ocs_graph *g = m->graph;
    assert_int_equal(ocs_graph_add_input(g, "x", OCS_FLOAT, 3, x_dims, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "y", OCS_FLOAT, 3, x_dims, NULL), OCS_OK);
    const char *in[] = {"x"}, *out[] = {"y"};
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(g, op, "", "node", 1, in, 1, out, &n, NULL), OCS_OK);
    if (attr)
        assert_int_equal(ocs_node_set_int(n, attr, value, NULL), OCS_OK);
    return m;
}

/* Runs m once with x bound; b == NULL runs the reference alone. */
static ocs_status run_model(const ocs_model *m, ocs_backend *b, const ocs_tensor *x, size_t n_out,
                            ocs_tensor **out, ocs_err *err)
{
    ocs_backend *list[] = {b};
    ocs_session_options opt = {list, 1, 1};
    ocs_session *s = NULL;
    ocs_status st = ocs_session_new_with(m, b ? &opt : NULL, &s, err);
    if (st == OCS_OK) {
        const char *names[] = {"x"};
        const ocs_tensor *ins[] = {x};
        st = ocs_session_run(s, 1, names, ins, n_out, out, err);
    }
    ocs_session_free(s);
    return st;
}

/* Elements of got outside |got - want| <= 1e-7 + 1e-3 |want| (NaN matches NaN only); *first the first. */
static size_t count_bad(const ocs_tensor *got, const ocs_tensor *want, size_t *first)
{
    assert_int_equal(got->dtype, want->dtype);
    assert_int_equal(got->numel, want->numel);
    size_t bad = 0;
    for (size_t i = 0; i < got->numel; i++) {
        double g = ((const float *)got->data)[i], w = ((const float *)want->data)[i];
        int ok = isnan(w) ? isnan(g) : !isnan(g) && fabs(g - w) <= 1e-7 + 1e-3 * fabs(w);
        if (!ok && bad++ == 0 && first)
            *first = i;
    }
    return bad;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_example_matches_reference(void **state)
{
    (void)state;
    ocs_backend *b = open_plugin("example_plugin");
    assert_string_equal(b->ops->name, "example");
    assert_int_equal(b->ops->api_version, OCS_BACKEND_API_VERSION);
    assert_non_null(strstr(b->ops->describe(b->ctx), "RMSNormalization"));

    ocs_model *m = rms_softmax_relu_model();
    ocs_tensor *x = filled(3, x_dims, 1);
    ocs_tensor *got[2] = {NULL, NULL}, *want[2] = {NULL, NULL};
    ocs_err err = {{0}};
    ocs_status st = run_model(m, b, x, 2, got, &err);
    if (st != OCS_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(st, OCS_OK);   /* no reference fallback: the plugin ran all three nodes */
    assert_int_equal(run_model(m, NULL, x, 2, want, &err), OCS_OK);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(got[k]->rank, 3);
        assert_memory_equal(got[k]->dims, x_dims, sizeof x_dims);
        assert_int_equal(count_bad(got[k], want[k], NULL), 0);
        ocs_tensor_free(got[k]);
        ocs_tensor_free(want[k]);
    }
    ocs_tensor_free(x);
    ocs_model_free(m);
    ocs_backend_close(b);
}

static void test_example_softmax_versions(void **state)
{
    (void)state;
    ocs_backend *b = open_plugin("example_plugin");
    ocs_tensor *x = filled(3, x_dims, 3);
    /* Softmax-11 flattens to 2-D at axis; Softmax-13 normalises one axis */
    const struct { int64_t opset; int64_t axis; } cases[] = {{11, 1}, {11, -1}, {11, 0}, {13, 1}, {13, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ocs_model *m = one_op_model("Softmax", cases[c].opset, "axis", cases[c].axis);
        ocs_tensor *got = NULL, *want = NULL;
        ocs_err err = {{0}};
        ocs_status st = run_model(m, b, x, 1, &got, &err);
        if (st != OCS_OK)
            print_error("%s\n", err.msg);
        assert_int_equal(st, OCS_OK);
        assert_int_equal(run_model(m, NULL, x, 1, &want, &err), OCS_OK);
        assert_int_equal(count_bad(got, want, NULL), 0);
        ocs_tensor_free(got);
        ocs_tensor_free(want);
        ocs_model_free(m);
    }
    ocs_tensor_free(x);
    ocs_backend_close(b);
}

static void test_unsupported_node_is_reported(void **state)
{
    (void)state;
    ocs_backend *b = open_plugin("example_plugin");
    ocs_model *m = one_op_model("Sigmoid", 13, NULL, 0);
    ocs_tensor *x = filled(3, x_dims, 5), *y = NULL;
    ocs_err err = {{0}};
    assert_int_equal(run_model(m, b, x, 1, &y, &err), OCS_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "Sigmoid"));
    assert_null(y);
    ocs_tensor_free(x);
    ocs_model_free(m);
    ocs_backend_close(b);
}

static void expect_open_error(const char *name, ocs_status want, const char *const *needles)
{
    char path[512];
    ocs_backend *b = (ocs_backend *)1;
    ocs_err err = {{0}};
    assert_int_equal(ocs_plugin_open(plugin_path(name, path, sizeof path), &b, &err), want);
    assert_null(b);
    for (const char *const *s = needles; *s; s++) {
        if (!strstr(err.msg, *s))
            print_error("'%s' not in: %s\n", *s, err.msg);
        assert_non_null(strstr(err.msg, *s));
    }
}

static void test_abi_version_mismatch(void **state)
{
    (void)state;
    const char *const needles[] = {"abi_mismatch_plugin.so", "version 2", "version 1", NULL};
    expect_open_error("abi_mismatch_plugin", OCS_ERR_INVALID, needles);
}

static void test_declined_abi_version(void **state)
{
    (void)state;
    const char *const needles[] = {"declining_plugin.so", "declined plugin ABI version 1", NULL};
    expect_open_error("declining_plugin", OCS_ERR_INVALID, needles);
}

static void test_missing_entry_point(void **state)
{
    (void)state;
    const char *const needles[] = {"no_entry_plugin.so", "ocs_plugin_entry", NULL};
    expect_open_error("no_entry_plugin", OCS_ERR_INVALID, needles);
}

static void test_incomplete_table(void **state)
{
    (void)state;
    const char *const needles[] = {"incomplete_plugin.so", "'run'", NULL};
    expect_open_error("incomplete_plugin", OCS_ERR_INVALID, needles);
}

static void test_missing_file(void **state)
{
    (void)state;
    const char *const needles[] = {"no_such_plugin.so", NULL};
    expect_open_error("no_such_plugin", OCS_ERR_IO, needles);
}

static void test_guard_catches_write_past_end(void **state)
{
    (void)state;
    unsetenv("OCS_PLUGIN_BAD_MODE");
    ocs_backend *b = open_plugin("bad_plugin");
    ocs_model *m = one_op_model("Relu", 14, NULL, 0);   /* bad_plugin writes one float past Relu's output */
    ocs_tensor *x = filled(3, x_dims, 9), *y = NULL;
    ocs_err err = {{0}};
    assert_int_equal(run_model(m, b, x, 1, &y, &err), OCS_ERR_RUNTIME);
    assert_null(y);
    assert_non_null(strstr(err.msg, "past the end of output 0 'y'"));
    assert_non_null(strstr(err.msg, "guard byte 0"));
    ocs_tensor_free(x);
    ocs_model_free(m);
    ocs_backend_close(b);
}

static void test_poison_catches_unwritten_element(void **state)
{
    (void)state;
    unsetenv("OCS_PLUGIN_BAD_MODE");
    ocs_backend *b = open_plugin("bad_plugin");
    /* bad_plugin leaves the last element of RMSNormalization's output unwritten */
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 23, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 3, x_dims, NULL), OCS_OK);
    ocs_tensor *scale = filled(1, scale_dims, 11);
    assert_int_equal(ocs_graph_add_initializer(m->graph, "scale", scale, NULL), OCS_OK);
    ocs_tensor_free(scale);
    assert_int_equal(ocs_graph_add_output(m->graph, "y", OCS_FLOAT, 3, x_dims, NULL), OCS_OK);
    const char *in[] = {"x", "scale"}, *out[] = {"y"};
    assert_int_equal(ocs_graph_add_node(m->graph, "RMSNormalization", "", "rms", 2, in, 1, out, NULL, NULL),
                     OCS_OK);

    ocs_tensor *x = filled(3, x_dims, 13), *got = NULL, *want = NULL;
    ocs_err err = {{0}};
    assert_int_equal(run_model(m, b, x, 1, &got, &err), OCS_OK);   /* nothing the wrapper can see */
    assert_int_equal(run_model(m, NULL, x, 1, &want, &err), OCS_OK);
    size_t first = 0;
    assert_int_equal(count_bad(got, want, &first), 1);              /* ... but the comparison fails */
    assert_int_equal(first, got->numel - 1);
    uint32_t bits;
    memcpy(&bits, (const float *)got->data + first, sizeof bits);
    assert_int_equal(bits, 0x7FE5A5A5u);                             /* the poison survived */
    ocs_tensor_free(got);
    ocs_tensor_free(want);
    ocs_tensor_free(x);
    ocs_model_free(m);
    ocs_backend_close(b);
}

static void test_planted_error_is_caught(void **state)
{
    (void)state;
    unsetenv("OCS_PLUGIN_BAD_MODE");
    ocs_backend *b = open_plugin("bad_plugin");
    ocs_model *m = one_op_model("Softmax", 13, "axis", -1);
    ocs_tensor *x = filled(3, x_dims, 17), *got = NULL, *want = NULL;
    ocs_err err = {{0}};
    assert_int_equal(run_model(m, b, x, 1, &got, &err), OCS_OK);
    assert_int_equal(run_model(m, NULL, x, 1, &want, &err), OCS_OK);
    size_t first = 0;
    assert_int_equal(count_bad(got, want, &first), 1);
    assert_int_equal(first, got->numel / 2);
    ocs_tensor_free(got);
    ocs_tensor_free(want);
    ocs_tensor_free(x);
    ocs_model_free(m);
    ocs_backend_close(b);
}

/*
 * A caller that hands the backend its own output buffer in a->outputs[0],
 * as the conformance runner does to guard outputs; mismatch makes the
 * buffer one row too long, so the plugin host must replace it.
 */
typedef struct handing {
    ocs_backend_ops ops;
    const ocs_backend *inner;
    int mismatch;
    int kept;                 /* the handed tensor came back */
} handing;

static int hand_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    const ocs_backend *b = ((handing *)ctx)->inner;
    return b->ops->supports(b->ctx, n, since, n_in, in);
}

static ocs_status hand_prepare(void *ctx, const ocs_node *n, int64_t since, void **st, ocs_err *err)
{
    const ocs_backend *b = ((handing *)ctx)->inner;
    return b->ops->prepare(b->ctx, n, since, st, err);
}

static void hand_release(void *ctx, void *st)
{
    const ocs_backend *b = ((handing *)ctx)->inner;
    b->ops->release(b->ctx, st);
}

static ocs_status hand_run(void *ctx, void *st, ocs_kernel_args *a)
{
    handing *h = ctx;
    const ocs_tensor *x = a->inputs[0];
    int64_t dims[OCS_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[0] += h->mismatch;
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, x->rank, dims, &t, NULL), OCS_OK);
    for (size_t i = 0; i < t->numel; i++)
        ((float *)t->data)[i] = NAN;
    a->outputs[0] = t;
    ocs_status r = h->inner->ops->run(h->inner->ctx, st, a);
    h->kept = a->outputs[0] == t;
    return r;
}

static void test_caller_handed_outputs(void **state)
{
    (void)state;
    ocs_backend *b = open_plugin("example_plugin");
    ocs_model *m = one_op_model("Relu", 14, NULL, 0);
    ocs_tensor *x = filled(3, x_dims, 29), *want = NULL;
    assert_int_equal(run_model(m, NULL, x, 1, &want, NULL), OCS_OK);
    for (int mismatch = 0; mismatch < 2; mismatch++) {
        handing h = {.ops = {.api_version = OCS_BACKEND_API_VERSION, .name = "handing", .supports = hand_supports,
                             .prepare = hand_prepare, .run = hand_run, .release = hand_release},
                     .inner = b, .mismatch = mismatch};
        ocs_backend hb = {&h.ops, &h};
        ocs_tensor *got = NULL;
        ocs_err err = {{0}};
        ocs_status st = run_model(m, &hb, x, 1, &got, &err);
        if (st != OCS_OK)
            print_error("%s\n", err.msg);
        assert_int_equal(st, OCS_OK);
        assert_int_equal(h.kept, !mismatch);   /* filled in place when it fits, else replaced (and freed) */
        assert_memory_equal(got->dims, x_dims, sizeof x_dims);
        assert_int_equal(count_bad(got, want, NULL), 0);
        ocs_tensor_free(got);
    }
    ocs_tensor_free(want);
    ocs_tensor_free(x);
    ocs_model_free(m);
    ocs_backend_close(b);
}

/*
 * Runs op through plugin in a child with OCS_PLUGIN_MISBEHAVE_OP=op and
 * returns its wait status, or -1 when it still runs after timeout_ms (it is
 * then killed).
 */
static int run_in_child(const char *plugin, const char *op, int timeout_ms)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("OCS_PLUGIN_MISBEHAVE_OP", op, 1);
        char path[512];
        ocs_backend *b = NULL;
        if (ocs_plugin_open(plugin_path(plugin, path, sizeof path), &b, NULL) != OCS_OK)
            _exit(3);
        ocs_model *m = one_op_model(op, 14, NULL, 0);
        ocs_tensor *x = filled(3, x_dims, 19), *y = NULL;
        ocs_status st = run_model(m, b, x, 1, &y, NULL);
        _exit(st == OCS_OK ? 0 : 4);
    }
    int status = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void test_crash_and_hang_doubles(void **state)
{
    (void)state;
    /* honest on an op they are not told to break */
    int st = run_in_child("crash_plugin", "Softmax", 5000);
    assert_true(st != -1);
    /* a sanitizer may turn the signal into its own exit status; either way the child died */
    assert_true(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3 &&
                                    WEXITSTATUS(st) != 4));
    if (WIFSIGNALED(st))
        assert_int_equal(WTERMSIG(st), SIGSEGV);
    assert_int_equal(run_in_child("hang_plugin", "Softmax", 300), -1);

    ocs_backend *b = open_plugin("crash_plugin");   /* OCS_PLUGIN_MISBEHAVE_OP unset: breaks Softmax only */
    unsetenv("OCS_PLUGIN_MISBEHAVE_OP");
    ocs_model *m = one_op_model("Relu", 14, NULL, 0);
    ocs_tensor *x = filled(3, x_dims, 23), *got = NULL, *want = NULL;
    assert_int_equal(run_model(m, b, x, 1, &got, NULL), OCS_OK);
    assert_int_equal(run_model(m, NULL, x, 1, &want, NULL), OCS_OK);
    assert_int_equal(count_bad(got, want, NULL), 0);
    ocs_tensor_free(got);
    ocs_tensor_free(want);
    ocs_tensor_free(x);
    ocs_model_free(m);
    ocs_backend_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_matches_reference),
        cmocka_unit_test(test_example_softmax_versions),
        cmocka_unit_test(test_unsupported_node_is_reported),
        cmocka_unit_test(test_abi_version_mismatch),
        cmocka_unit_test(test_declined_abi_version),
        cmocka_unit_test(test_missing_entry_point),
        cmocka_unit_test(test_incomplete_table),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_guard_catches_write_past_end),
        cmocka_unit_test(test_poison_catches_unwritten_element),
        cmocka_unit_test(test_planted_error_is_caught),
        cmocka_unit_test(test_caller_handed_outputs),
        cmocka_unit_test(test_crash_and_hang_doubles),
    };
    return cmocka_run_group_tests_name("plugin", tests, NULL, NULL);
}
