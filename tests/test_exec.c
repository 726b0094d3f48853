/*
 * tests/test_exec.c - the reference executor: ordering, scoping, function
 * calls, control flow and the errors a malformed graph must produce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ocs/build.h"
#include "ocs/exec.h"

static const int64_t dim3[] = {3};

static ocs_tensor *vec_f(size_t n, const float *v)
{
    int64_t d = (int64_t)n;
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, 1, &d, &t, NULL), OCS_OK);
    memcpy(t->data, v, n * sizeof *v);
    return t;
}

static ocs_tensor *scalar_i64(int64_t v)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_INT64, 0, NULL, &t, NULL), OCS_OK);
    *(int64_t *)t->data = v;
    return t;
}

static ocs_tensor *scalar_bool(int v)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_BOOL, 0, NULL, &t, NULL), OCS_OK);
    *(uint8_t *)t->data = (uint8_t)(v != 0);
    return t;
}

static ocs_model *new_model(int64_t opset)
{
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", opset, NULL), OCS_OK);
    return m;
}

static void add_node(ocs_graph *g, const char *op, const char *name, const char *in0, const char *in1,
                     const char *out0)
{
    const char *ins[2] = {in0, in1};
    const char *outs[1] = {out0};
    assert_int_equal(ocs_graph_add_node(g, op, "", name, in1 ? 2 : (in0 ? 1 : 0), ins, 1, outs, NULL, NULL),
                     OCS_OK);
}

/* Runs m with float inputs x (and y) and returns output 0; asserts success. */
static ocs_tensor *run_ok(ocs_model *m, size_t n_in, const char *const *names, ocs_tensor **ins)
{
    ocs_session *s = NULL;
    ocs_err err = {{0}};
    ocs_status st = ocs_session_new(m, &s, &err);
    if (st != OCS_OK)
        fail_msg("session: %s", err.msg);
    ocs_tensor *out[4] = {0};
    st = ocs_session_run(s, n_in, names, (const ocs_tensor *const *)ins, m->graph->n_outputs, out, &err);
    if (st != OCS_OK)
        fail_msg("run: %s", err.msg);
    for (size_t j = 1; j < m->graph->n_outputs; j++)
        ocs_tensor_free(out[j]);
    ocs_session_free(s);
    return out[0];
}

/* Expects session creation or the run to fail with status want and text in the message. */
static void expect_failure(ocs_model *m, size_t n_in, const char *const *names, ocs_tensor **ins,
                           ocs_status want, const char *text)
{
    ocs_session *s = NULL;
    ocs_err err = {{0}};
    ocs_status st = ocs_session_new(m, &s, &err);
    if (st == OCS_OK) {
        ocs_tensor *out[4] = {0};
        st = ocs_session_run(s, n_in, names, (const ocs_tensor *const *)ins, m->graph->n_outputs, out, &err);
        for (size_t j = 0; j < 4; j++)
            ocs_tensor_free(out[j]);
        ocs_session_free(s);
    }
    assert_int_equal(st, want);
    if (!strstr(err.msg, text))
        fail_msg("message '%s' does not mention '%s'", err.msg, text);
}

/* Nodes listed out of order still run in dependency order. */
static void test_topological_order(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph *g = m->graph;
    ocs_graph_add_input(g, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_input(g, "y", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(g, "z", OCS_FLOAT, 1, dim3, NULL);
    add_node(g, "Mul", "second", "s", "y", "z");   /* z = (x + y) * y */
    add_node(g, "Add", "first", "x", "y", "s");
    const float x[] = {1, 2, 3}, y[] = {10, 20, 30};
    ocs_tensor *ins[] = {vec_f(3, x), vec_f(3, y)};
    const char *names[] = {"x", "y"};
    ocs_tensor *z = run_ok(m, 2, names, ins);
    const float want[] = {110, 440, 990};
    assert_int_equal(z->numel, 3);
    assert_memory_equal(z->data, want, sizeof want);
    ocs_tensor_free(z);
    ocs_tensor_free(ins[0]);
    ocs_tensor_free(ins[1]);
    ocs_model_free(m);
}

static void test_cycle_is_rejected(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph *g = m->graph;
    ocs_graph_add_input(g, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(g, "b", OCS_FLOAT, 1, dim3, NULL);
    add_node(g, "Add", "a", "x", "b", "a_out");
    add_node(g, "Neg", "b", "a_out", NULL, "b");
    expect_failure(m, 0, NULL, NULL, OCS_ERR_INVALID, "cycle");
    ocs_model_free(m);
}

static void test_unknown_op_is_unsupported(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(m->graph, "y", OCS_FLOAT, 1, dim3, NULL);
    add_node(m->graph, "NoSuchOp", "n", "x", NULL, "y");
    expect_failure(m, 0, NULL, NULL, OCS_ERR_UNSUPPORTED, "NoSuchOp");
    ocs_model_free(m);
}

static void test_op_absent_at_opset(void **state)
{
    (void)state;
    ocs_model *m = new_model(13);   /* Gelu arrived in opset 20 */
    ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(m->graph, "y", OCS_FLOAT, 1, dim3, NULL);
    add_node(m->graph, "Gelu", "g", "x", NULL, "y");
    expect_failure(m, 0, NULL, NULL, OCS_ERR_INVALID, "opset 13");
    ocs_model_free(m);
}

static void test_domain_without_import(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    const char *ins[] = {"x"}, *outs[] = {"y"};
    ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(m->graph, "y", OCS_FLOAT, 1, dim3, NULL);
    assert_int_equal(ocs_graph_add_node(m->graph, "Relu", "com.example", "r", 1, ins, 1, outs, NULL, NULL), OCS_OK);
    expect_failure(m, 0, NULL, NULL, OCS_ERR_INVALID, "com.example");
    ocs_model_free(m);
}

static void test_value_assigned_twice(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(m->graph, "y", OCS_FLOAT, 1, dim3, NULL);
    add_node(m->graph, "Neg", "a", "x", NULL, "y");
    add_node(m->graph, "Abs", "b", "x", NULL, "y");
    expect_failure(m, 0, NULL, NULL, OCS_ERR_INVALID, "more than one node");
    ocs_model_free(m);
}

static void test_undefined_input_names_node(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(m->graph, "y", OCS_FLOAT, 1, dim3, NULL);
    add_node(m->graph, "Add", "adder", "x", "ghost", "y");
    const float x[] = {1, 2, 3};
    ocs_tensor *in[] = {vec_f(3, x)};
    const char *names[] = {"x"};
    expect_failure(m, 1, names, in, OCS_ERR_INVALID, "ghost");
    expect_failure(m, 1, names, in, OCS_ERR_INVALID, "adder");
    ocs_tensor_free(in[0]);
    ocs_model_free(m);
}

static void test_missing_graph_input(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(m->graph, "y", OCS_FLOAT, 1, dim3, NULL);
    add_node(m->graph, "Neg", "n", "x", NULL, "y");
    expect_failure(m, 0, NULL, NULL, OCS_ERR_INVALID, "'x' was not given");
    ocs_model_free(m);
}

static void test_kernel_error_names_node(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_input(m->graph, "y", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(m->graph, "z", OCS_FLOAT, -1, NULL, NULL);
    add_node(m->graph, "Add", "bad_add", "x", "y", "z");
    const float x[] = {1, 2, 3}, y[] = {1, 2};
    ocs_tensor *ins[] = {vec_f(3, x), vec_f(2, y)};
    const char *names[] = {"x", "y"};
    expect_failure(m, 2, names, ins, OCS_ERR_INVALID, "bad_add");
    ocs_tensor_free(ins[0]);
    ocs_tensor_free(ins[1]);
    ocs_model_free(m);
}

static void test_wrong_attribute_type(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_node *n = NULL;
    const char *ins[] = {"x"}, *outs[] = {"y"};
    ocs_graph_add_input(m->graph, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(m->graph, "y", OCS_FLOAT, 1, dim3, NULL);
    assert_int_equal(ocs_graph_add_node(m->graph, "Softmax", "", "sm", 1, ins, 1, outs, &n, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_string(n, "axis", "last", NULL), OCS_OK);
    const float x[] = {1, 2, 3};
    ocs_tensor *in[] = {vec_f(3, x)};
    const char *names[] = {"x"};
    expect_failure(m, 1, names, in, OCS_ERR_INVALID, "axis");
    ocs_tensor_free(in[0]);
    ocs_model_free(m);
}

/* A shape whose element count overflows is an error, not an allocation. */
static void test_overflowing_shape(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph_add_input(m->graph, "shape", OCS_INT64, 1, (const int64_t[]){3}, NULL);
    ocs_graph_add_output(m->graph, "y", OCS_FLOAT, -1, NULL, NULL);
    add_node(m->graph, "ConstantOfShape", "big", "shape", NULL, "y");
    int64_t d = 3;
    ocs_tensor *shape = NULL;
    assert_int_equal(ocs_tensor_new(OCS_INT64, 1, &d, &shape, NULL), OCS_OK);
    const int64_t huge[] = {INT64_C(1) << 40, INT64_C(1) << 40, INT64_C(1) << 40};
    memcpy(shape->data, huge, sizeof huge);
    ocs_tensor *ins[] = {shape};
    const char *names[] = {"shape"};
    ocs_session *s = NULL;
    ocs_err err = {{0}};
    assert_int_equal(ocs_session_new(m, &s, &err), OCS_OK);
    ocs_tensor *out[1] = {0};
    ocs_status st = ocs_session_run(s, 1, names, (const ocs_tensor *const *)ins, 1, out, &err);
    assert_int_not_equal(st, OCS_OK);
    assert_true(strstr(err.msg, "big") != NULL);
    assert_null(out[0]);
    ocs_session_free(s);
    ocs_tensor_free(shape);
    ocs_model_free(m);
}

/* If's branches read a value of the enclosing graph. */
static void test_if_reads_outer_scope(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph *g = m->graph;
    ocs_graph_add_input(g, "c", OCS_BOOL, 0, NULL, NULL);
    ocs_graph_add_input(g, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(g, "y", OCS_FLOAT, 1, dim3, NULL);
    add_node(g, "Neg", "outer", "x", NULL, "negx");

    ocs_graph *then_g = NULL, *else_g = NULL;
    assert_int_equal(ocs_graph_new("then", &then_g, NULL), OCS_OK);
    ocs_graph_add_output(then_g, "t", OCS_FLOAT, 1, dim3, NULL);
    add_node(then_g, "Abs", "t_abs", "negx", NULL, "t");
    assert_int_equal(ocs_graph_new("else", &else_g, NULL), OCS_OK);
    ocs_graph_add_output(else_g, "e", OCS_FLOAT, 1, dim3, NULL);
    add_node(else_g, "Identity", "e_id", "negx", NULL, "e");

    ocs_node *n = NULL;
    const char *ins[] = {"c"}, *outs[] = {"y"};
    assert_int_equal(ocs_graph_add_node(g, "If", "", "if", 1, ins, 1, outs, &n, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_graph(n, "then_branch", then_g, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_graph(n, "else_branch", else_g, NULL), OCS_OK);

    const float x[] = {1, -2, 3};
    const char *names[] = {"c", "x"};
    for (int c = 0; c < 2; c++) {
        ocs_tensor *in[] = {scalar_bool(c), vec_f(3, x)};
        ocs_tensor *y = run_ok(m, 2, names, in);
        const float want_then[] = {1, 2, 3}, want_else[] = {-1, 2, -3};
        assert_memory_equal(y->data, c ? want_then : want_else, sizeof want_then);
        ocs_tensor_free(y);
        ocs_tensor_free(in[0]);
        ocs_tensor_free(in[1]);
    }
    ocs_model_free(m);
}

/* Loop: a running sum as a carried value plus each partial sum as a scan output. */
static void test_loop_carried_and_scan(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    ocs_graph *g = m->graph;
    ocs_graph_add_input(g, "M", OCS_INT64, 0, NULL, NULL);
    ocs_graph_add_input(g, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(g, "sum", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(g, "partials", OCS_FLOAT, -1, NULL, NULL);

    ocs_graph *body = NULL;
    assert_int_equal(ocs_graph_new("body", &body, NULL), OCS_OK);
    ocs_graph_add_input(body, "i", OCS_INT64, 0, NULL, NULL);
    ocs_graph_add_input(body, "cond_in", OCS_BOOL, 0, NULL, NULL);
    ocs_graph_add_input(body, "acc", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(body, "cond_out", OCS_BOOL, 0, NULL, NULL);
    ocs_graph_add_output(body, "acc_out", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(body, "partial", OCS_FLOAT, 1, dim3, NULL);
    add_node(body, "Identity", "keep_going", "cond_in", NULL, "cond_out");
    add_node(body, "Add", "accumulate", "acc", "x", "acc_out");   /* x from the outer scope */
    add_node(body, "Identity", "emit", "acc_out", NULL, "partial");

    ocs_node *n = NULL;
    const char *ins[] = {"M", "", "x"}, *outs[] = {"sum", "partials"};
    assert_int_equal(ocs_graph_add_node(g, "Loop", "", "loop", 3, ins, 2, outs, &n, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_graph(n, "body", body, NULL), OCS_OK);

    const float x[] = {1, 2, 3};
    ocs_tensor *in[] = {scalar_i64(4), vec_f(3, x)};
    const char *names[] = {"M", "x"};
    ocs_session *s = NULL;
    ocs_err err = {{0}};
    if (ocs_session_new(m, &s, &err) != OCS_OK)
        fail_msg("%s", err.msg);
    ocs_tensor *out[2] = {0};
    if (ocs_session_run(s, 2, names, (const ocs_tensor *const *)in, 2, out, &err) != OCS_OK)
        fail_msg("%s", err.msg);
    /* the carried value starts as x itself: x + 4x = 5x */
    const float want_sum[] = {5, 10, 15};
    const float want_partials[] = {2, 4, 6, 3, 6, 9, 4, 8, 12, 5, 10, 15};
    assert_memory_equal(out[0]->data, want_sum, sizeof want_sum);
    assert_int_equal(out[1]->rank, 2);
    assert_int_equal(out[1]->dims[0], 4);
    assert_int_equal(out[1]->dims[1], 3);
    assert_memory_equal(out[1]->data, want_partials, sizeof want_partials);
    ocs_tensor_free(out[0]);
    ocs_tensor_free(out[1]);
    ocs_session_free(s);
    ocs_tensor_free(in[0]);
    ocs_tensor_free(in[1]);
    ocs_model_free(m);
}

/* A model-local function whose body refers to a caller attribute. */
static void test_function_with_attribute_reference(void **state)
{
    (void)state;
    ocs_model *m = new_model(17);
    assert_int_equal(ocs_model_import(m, "local", 1, NULL), OCS_OK);
    ocs_graph *g = m->graph;
    ocs_graph_add_input(g, "x", OCS_FLOAT, 1, dim3, NULL);
    ocs_graph_add_output(g, "y", OCS_FLOAT, 1, dim3, NULL);
    ocs_node *call = NULL;
    const char *ins[] = {"x"}, *outs[] = {"y"};
    assert_int_equal(ocs_graph_add_node(g, "Scale", "local", "call", 1, ins, 1, outs, &call, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_float(call, "alpha", 2.5f, NULL), OCS_OK);

    /* function Scale(X) -> (Y) { a = Constant<value_float: float = @alpha>(); Y = Mul(X, a) } */
    ocs_graph *tmp = NULL;   /* a scratch graph to build the body's nodes */
    assert_int_equal(ocs_graph_new("body", &tmp, NULL), OCS_OK);
    ocs_node *c = NULL;
    const char *c_out[] = {"a"};
    assert_int_equal(ocs_graph_add_node(tmp, "Constant", "", "k", 0, NULL, 1, c_out, &c, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_float(c, "value_float", 0.0f, NULL), OCS_OK);
    c->attrs[0].ref_attr_name = strdup("alpha");
    add_node(tmp, "Mul", "mul", "X", "a", "Y");

    ocs_function *fn = calloc(1, sizeof *fn);
    assert_non_null(fn);
    fn->name = strdup("Scale");
    fn->domain = strdup("local");
    fn->overload = strdup("");
    fn->doc = strdup("");
    fn->n_inputs = 1;
    fn->inputs = calloc(1, sizeof(char *));
    fn->inputs[0] = strdup("X");
    fn->n_outputs = 1;
    fn->outputs = calloc(1, sizeof(char *));
    fn->outputs[0] = strdup("Y");
    fn->n_attr_names = 1;
    fn->attr_names = calloc(1, sizeof(char *));
    fn->attr_names[0] = strdup("alpha");
    fn->nodes = tmp->nodes;
    fn->n_nodes = tmp->n_nodes;
    tmp->nodes = NULL;
    tmp->n_nodes = 0;
    ocs_graph_free(tmp);
    fn->n_opsets = 1;
    fn->opsets = calloc(1, sizeof *fn->opsets);
    fn->opsets[0].domain = strdup("");
    fn->opsets[0].version = 17;
    m->functions = fn;
    m->n_functions = 1;

    const float x[] = {1, 2, -4};
    ocs_tensor *in[] = {vec_f(3, x)};
    const char *names[] = {"x"};
    ocs_tensor *y = run_ok(m, 1, names, in);
    const float want[] = {2.5f, 5.0f, -10.0f};
    assert_memory_equal(y->data, want, sizeof want);
    ocs_tensor_free(y);
    ocs_tensor_free(in[0]);
    ocs_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topological_order),
        cmocka_unit_test(test_cycle_is_rejected),
        cmocka_unit_test(test_unknown_op_is_unsupported),
        cmocka_unit_test(test_op_absent_at_opset),
        cmocka_unit_test(test_domain_without_import),
        cmocka_unit_test(test_value_assigned_twice),
        cmocka_unit_test(test_undefined_input_names_node),
        cmocka_unit_test(test_missing_graph_input),
        cmocka_unit_test(test_kernel_error_names_node),
        cmocka_unit_test(test_wrong_attribute_type),
        cmocka_unit_test(test_overflowing_shape),
        cmocka_unit_test(test_if_reads_outer_scope),
        cmocka_unit_test(test_loop_carried_and_scan),
        cmocka_unit_test(test_function_with_attribute_reference),
    };
    return cmocka_run_group_tests_name("exec", tests, NULL, NULL);
}
