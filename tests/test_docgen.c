/*
 * tests/test_docgen.c - the textual-syntax printer, the Markdown operator
 * pages and `ocs docs` (writing, and --check finding stale pages).
 *
 * The `docs` command lives in conformance/, which the unit tests do not
 * link, so this file compiles conformance/docs.c in.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ocs/build.h"
#include "ocs/docgen.h"
#include "ocs/text.h"

#include <dirent.h>

#include "../conformance/cli.h"

/* ---- building blocks ----------------------------------------------------------------- */

static ocs_tensor *tensor_f(int rank, const int64_t *dims, const float *v)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, rank, dims, &t, NULL), OCS_OK);
    memcpy(t->data, v, t->numel * sizeof *v);
    return t;
}

static ocs_tensor *tensor_i64(int rank, const int64_t *dims, const int64_t *v)
{
    ocs_tensor *t = NULL;
    assert_int_equal(ocs_tensor_new(OCS_INT64, rank, dims, &t, NULL), OCS_OK);
    memcpy(t->data, v, t->numel * sizeof *v);
    return t;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/* An attribute of any type on n, to be filled by hand. */
static ocs_attr *raw_attr(ocs_node *n, const char *name, ocs_attr_type type)
{
    assert_int_equal(ocs_node_set_int(n, name, 0, NULL), OCS_OK);
    ocs_attr *a = (ocs_attr *)ocs_node_attr(n, name);
    assert_non_null(a);
    a->type = type;
    return a;
}

/* Names dimension d of the last value in list (a symbolic dimension). */
static void name_dim(ocs_value_info *vi, int d, const char *param)
{
    vi->type.dims[d].param = xstrdup(param);
    vi->type.dims[d].value = -1;
}

/* A graph with one unary node: name (inputs) => (out) { out = op (in) }. */
static ocs_graph *unary_graph(const char *name, const char *op, const char *in, const char *out,
                              int typed_in, int typed_out)
{
    ocs_graph *g = NULL;
    assert_int_equal(ocs_graph_new(name, &g, NULL), OCS_OK);
    const int64_t two[] = {-1, 2};
    if (typed_in == 1)
        assert_int_equal(ocs_graph_add_input(g, in, OCS_FLOAT, 1, two + 1, NULL), OCS_OK);
    if (typed_out == 2) {
        assert_int_equal(ocs_graph_add_output(g, out, OCS_FLOAT, 2, two, NULL), OCS_OK);
        name_dim(&g->outputs[0], 0, "N");
    } else {
        assert_int_equal(ocs_graph_add_output(g, out, OCS_UNDEFINED, -1, NULL, NULL), OCS_OK);
    }
    const char *ins[] = {in}, *outs[] = {out};
    assert_int_equal(ocs_graph_add_node(g, op, "", NULL, 1, ins, 1, outs, NULL, NULL), OCS_OK);
    return g;
}

/*
 * The graph of the printer test: typed and symbolic inputs, an initializer,
 * an untyped output, a node with an attribute of every kind, an empty
 * optional input and output, a domain-qualified op, an attribute reference,
 * If with two subgraphs and a GRAPHS attribute.
 */
static ocs_graph *printer_graph(void)
{
    ocs_graph *g = NULL;
    assert_int_equal(ocs_graph_new("main", &g, NULL), OCS_OK);
    const int64_t nx2[] = {-1, 2}, two[] = {2}, six[] = {2};
    assert_int_equal(ocs_graph_add_input(g, "x", OCS_FLOAT, 2, nx2, NULL), OCS_OK);
    name_dim(&g->inputs[0], 0, "N");
    assert_int_equal(ocs_graph_add_input(g, "c", OCS_BOOL, 0, NULL, NULL), OCS_OK);
    ocs_tensor *w = tensor_f(1, two, (const float[]){1.5f, -2.0f});
    assert_int_equal(ocs_graph_add_initializer(g, "w", w, NULL), OCS_OK);
    ocs_tensor_free(w);
    assert_int_equal(ocs_graph_add_output(g, "y", OCS_FLOAT, 2, nx2, NULL), OCS_OK);
    name_dim(&g->outputs[0], 0, "N");
    assert_int_equal(ocs_graph_add_output(g, "z", OCS_UNDEFINED, -1, NULL, NULL), OCS_OK);

    ocs_node *n = NULL;
    const char *add_in[] = {"x", "w"}, *add_out[] = {"t"};
    assert_int_equal(ocs_graph_add_node(g, "Add", "", NULL, 2, add_in, 1, add_out, NULL, NULL), OCS_OK);

    const char *c_in[] = {"t", "", "x"}, *c_out[] = {"u", ""};
    assert_int_equal(ocs_graph_add_node(g, "Custom", "com.example", "custom", 3, c_in, 2, c_out, &n, NULL),
                     OCS_OK);
    assert_int_equal(ocs_node_set_float(n, "f", 0.1f, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_int(n, "i", -3, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_string(n, "s", "a\"b\\c\n", NULL), OCS_OK);
    ocs_tensor *tv = tensor_f(1, two, (const float[]){1.0f, 2.5f});
    assert_int_equal(ocs_node_set_tensor(n, "t", tv, NULL), OCS_OK);
    ocs_tensor_free(tv);
    assert_int_equal(ocs_node_set_floats(n, "fs", 2, (const float[]){1.0f, 0.5f}, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_ints(n, "is", 2, (const int64_t[]){1, -2}, NULL), OCS_OK);
    ocs_attr *a = raw_attr(n, "ss", OCS_ATTR_STRINGS);
    a->n = 2;
    a->strings = calloc(2, sizeof *a->strings);
    assert_non_null(a->strings);
    a->strings[0] = (ocs_string){xstrdup("p"), 1};
    a->strings[1] = (ocs_string){xstrdup("q r"), 3};
    a = raw_attr(n, "ts", OCS_ATTR_TENSORS);
    a->n = 2;
    a->tensors = calloc(2, sizeof *a->tensors);
    assert_non_null(a->tensors);
    a->tensors[0] = tensor_i64(0, NULL, (const int64_t[]){7});
    assert_int_equal(ocs_tensor_new(OCS_FLOAT16, 1, two, &a->tensors[1], NULL), OCS_OK);
    ((uint16_t *)a->tensors[1]->data)[0] = ocs_float_to_half(0.5f);
    ((uint16_t *)a->tensors[1]->data)[1] = ocs_float_to_half(-1.25f);
    raw_attr(n, "e", OCS_ATTR_INTS);
    a = raw_attr(n, "tp", OCS_ATTR_TYPE_PROTO);
    a->tp = calloc(1, sizeof *a->tp);
    assert_non_null(a->tp);
    a->tp->kind = OCS_TYPE_SEQUENCE;
    a->tp->inner = calloc(1, sizeof *a->tp->inner);
    assert_non_null(a->tp->inner);
    a->tp->inner->kind = OCS_TYPE_TENSOR;
    a->tp->inner->elem = OCS_FLOAT;
    a->tp->inner->has_shape = 1;
    a->tp->inner->rank = 2;
    a->tp->inner->dims = calloc(2, sizeof *a->tp->inner->dims);
    assert_non_null(a->tp->inner->dims);
    a->tp->inner->dims[0].value = 2;
    a->tp->inner->dims[1].value = -1;
    a = raw_attr(n, "sp", OCS_ATTR_SPARSE_TENSOR);
    a->sparse = calloc(1, sizeof *a->sparse);
    assert_non_null(a->sparse);
    a->sparse->values = tensor_f(1, two, (const float[]){1.0f, 2.0f});
    a->sparse->indices = tensor_i64(1, six, (const int64_t[]){1, 5});
    a->sparse->rank = 2;
    a->sparse->dims[0] = 2;
    a->sparse->dims[1] = 3;
    a = raw_attr(n, "r", OCS_ATTR_FLOAT);
    a->ref_attr_name = xstrdup("beta");

    const char *if_in[] = {"c"}, *if_out[] = {"y"};
    assert_int_equal(ocs_graph_add_node(g, "If", "", NULL, 1, if_in, 1, if_out, &n, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_graph(n, "then_branch", unary_graph("then_g", "Identity", "u", "a", 0, 2),
                                        NULL),
                     OCS_OK);
    assert_int_equal(ocs_node_set_graph(n, "else_branch", unary_graph("else_g", "Neg", "u", "b", 0, 2), NULL),
                     OCS_OK);

    const char *m_in[] = {"t"}, *m_out[] = {"z"};
    assert_int_equal(ocs_graph_add_node(g, "Multi", "com.example", NULL, 1, m_in, 1, m_out, &n, NULL), OCS_OK);
    a = raw_attr(n, "bodies", OCS_ATTR_GRAPHS);
    a->n = 1;
    a->graphs = calloc(1, sizeof *a->graphs);
    assert_non_null(a->graphs);
    a->graphs[0] = unary_graph("b0", "Relu", "p", "q", 1, 0);
    assert_int_equal(ocs_node_set_int(n, "n", 2, NULL), OCS_OK);
    return g;
}

/* ---- the textual syntax ------------------------------------------------------------------- */

static const char expected_graph[] =
    "<ir_version: 10, opset_import: [\"\" : 24, \"com.example\" : 1]>\n"
    "main (float[N,2] x, bool[] c) => (float[N,2] y, z)\n"
    "  <float[2] w = {1.5, -2.0}>\n"
    "{\n"
    "  t = Add (x, w)\n"
    "  [custom] u, \"\" = com.example.Custom <f = 0.1, i = -3, s = \"a\\\"b\\\\c\\n\", t = float[2] {1.0, 2.5}, "
    "fs = [1.0, 0.5], is = [1, -2], ss = [\"p\", \"q r\"], ts = [int64 {7}, float16[2] {0.5, -1.25}], "
    "e: ints = [], tp = seq(float[2,?]), "
    "sp = sparse_tensor(float[2,3]) {values: float[2] {1.0, 2.0}, indices: int64[2] {1, 5}}, "
    "r: float = @beta> (t, \"\", x)\n"
    "  y = If (c) <then_branch = then_g () => (float[N,2] a) {\n"
    "    a = Identity (u)\n"
    "  }, else_branch = else_g () => (float[N,2] b) {\n"
    "    b = Neg (u)\n"
    "  }>\n"
    "  z = com.example.Multi (t) <bodies = [b0 (float[2] p) => (q) {\n"
    "    q = Relu (p)\n"
    "  }], n = 2>\n"
    "}\n";

static void test_graph_text(void **state)
{
    (void)state;
    ocs_graph *g = printer_graph();
    ocs_opset opsets[] = {{"", 24}, {"com.example", 1}};
    char *text = NULL;
    ocs_err err;
    assert_int_equal(ocs_graph_to_text(g, opsets, 2, &text, &err), OCS_OK);
    assert_string_equal(text, expected_graph);
    free(text);

    /* without opsets: no header */
    assert_int_equal(ocs_graph_to_text(g, NULL, 0, &text, &err), OCS_OK);
    assert_string_equal(text, strchr(expected_graph, '\n') + 1);
    free(text);

    /* one node */
    assert_int_equal(ocs_node_to_text(&g->nodes[0], &text, &err), OCS_OK);
    assert_string_equal(text, "t = Add (x, w)");
    free(text);
    ocs_graph_free(g);
}

static void test_model_and_body_text(void **state)
{
    (void)state;
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 24, NULL), OCS_OK);
    char *text = NULL;
    assert_int_equal(ocs_model_to_text(m, &text, NULL), OCS_OK);
    assert_string_equal(text, "<ir_version: 10, opset_import: [\"\" : 24], producer_name: \"ocs\">\n"
                              "main () => () {\n"
                              "}\n");
    free(text);
    ocs_model_free(m);

    ocs_graph *body = unary_graph("ignored", "Relu", "x", "y", 1, 2);
    ocs_opset opsets[] = {{"", 24}};
    assert_int_equal(ocs_body_to_text("test.domain", "Thing", body, opsets, 1, &text, NULL), OCS_OK);
    assert_string_equal(text, "<domain: \"test.domain\", opset_import: [\"\" : 24]>\n"
                              "Thing (float[2] x) => (float[N,2] y)\n"
                              "{\n"
                              "  y = Relu (x)\n"
                              "}\n");
    free(text);
    ocs_graph_free(body);
}

/* The printed form of one float through the public helper. */
static void assert_float_text(float f, const char *want)
{
    ocs_text t = {0};
    ocs_text_float(&t, f);
    char *s = NULL;
    assert_int_equal(ocs_text_finish(&t, &s, NULL), OCS_OK);
    assert_string_equal(s, want);
    free(s);
}

static void test_float_and_id_text(void **state)
{
    (void)state;
    assert_float_text(0.1f, "0.1");
    assert_float_text(1.0f / 3.0f, "0.33333334");
    assert_float_text(100.0f, "100.0");
    assert_float_text(1e10f, "10000000000.0");
    assert_float_text(1e20f, "1e+20");
    assert_float_text(0.0001f, "0.0001");
    assert_float_text(0.00001f, "1e-05");
    assert_float_text(-2.5e-3f, "-0.0025");
    assert_float_text(-0.0f, "-0.0");
    assert_float_text(16777216.0f, "16777216.0");
    assert_float_text(1e-45f, "1e-45");
    assert_float_text(NAN, "nan");
    assert_float_text(-INFINITY, "-inf");

    ocs_text t = {0};
    ocs_text_id(&t, "ok_name1");
    ocs_text_putc(&t, ' ');
    ocs_text_id(&t, "needs/quote:0");
    ocs_text_putc(&t, ' ');
    ocs_text_id(&t, "9lives");
    ocs_text_putc(&t, ' ');
    ocs_text_quoted(&t, "tab\there\x01", 9);
    char *s = NULL;
    assert_int_equal(ocs_text_finish(&t, &s, NULL), OCS_OK);
    assert_string_equal(s, "ok_name1 \"needs/quote:0\" \"9lives\" \"tab\\there\\x01\"");
    free(s);
}

/* ---- the Markdown page ------------------------------------------------------------------------ */

static const ocs_attr_def test_attrs[] = {
    {"mode", OCS_ATTR_STRING, 0, "\"fast\"", "How to go."},
    {"k", OCS_ATTR_INT, 1, NULL, "How many."},
    {"alpha", OCS_ATTR_FLOAT, 0, "0.5", "A factor."},
    {"hook", OCS_ATTR_GRAPH, 0, NULL, "An optional subgraph."},
};

static const ocs_param_def test_inputs[] = {
    {"X", "T", OCS_PARAM_SINGLE, 0, 0, "The input."},
    {"bias", "T", OCS_PARAM_OPTIONAL, 0, 0, "An optional bias."},
    {"params", "P", OCS_PARAM_VARIADIC, 1, 1, "Parameters."},
};

static const ocs_param_def test_outputs[] = {
    {"Y", "T", OCS_PARAM_SINGLE, 0, 0, "The output."},
    {"stats", "tensor(int64)", OCS_PARAM_OPTIONAL, 0, 0, "Counts."},
};

static const ocs_dtype t_types[] = {OCS_FLOAT, OCS_FLOAT16};
static const ocs_dtype p_types[] = {OCS_FLOAT, OCS_INT64, OCS_BOOL};
static const ocs_type_constraint test_constraints[] = {
    {"T", t_types, 2, "Float types."},
    {"P", p_types, 3, "Anything."},
};

static const char *const test_errors[] = {"`k` is not positive.", "`X` is not 2-D.\n"};

static const ocs_schema test_schema = {
    .domain = "test.domain",
    .name = "Thing",
    .since_version = 3,
    .summary = "Does a thing.\n\nSecond paragraph with a | pipe.\n\n```\n# not a heading\n```\n\n## Details\n\n"
               "### More\n",
    .attrs = test_attrs,
    .n_attrs = 4,
    .inputs = test_inputs,
    .n_inputs = 3,
    .outputs = test_outputs,
    .n_outputs = 2,
    .constraints = test_constraints,
    .n_constraints = 2,
    .errors = test_errors,
    .n_errors = 2,
    .conventions = "| a | b |\n|---|---|\n| 1 | 2 |\n\n# Top\n\nText.  \n\n\n",
};

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("missing from the page:\n%s\n---- page ----\n%s", needle, hay);
}

static size_t position(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    assert_non_null(p);
    return (size_t)(p - hay);
}

static void test_markdown_sections(void **state)
{
    (void)state;
    char *page = NULL;
    ocs_err err;
    assert_int_equal(ocs_schema_markdown(&test_schema, NULL, &page, &err), OCS_OK);
    assert_true(!strncmp(page, OCS_DOCGEN_MARKER, strlen(OCS_DOCGEN_MARKER)));
    assert_contains(page, "## test.domain\n### <a name=\"test.domain.Thing\"></a><a name=\"test.domain.thing\">"
                          "**test.domain.Thing**</a>\n\n  Does a thing.\n\n  Second paragraph");
    /* headings move below the page's own; code is left alone */
    assert_contains(page, "  ```\n  # not a heading\n  ```\n\n  ##### Details\n\n  ###### More\n\n#### Version");
    assert_contains(page, "#### Version\n\nThis version of the operator has been available since version 3 of "
                          "the 'test.domain' operator set.\n");
    /* attributes by name, with default, required and neither */
    assert_contains(page, "#### Attributes\n\n<dl>\n<dt><tt>alpha</tt> : float (default is 0.5)</dt>\n"
                          "<dd>A factor.</dd>\n");
    assert_contains(page, "<dt><tt>k</tt> : int (required)</dt>\n<dd>How many.</dd>\n");
    assert_contains(page, "<dt><tt>hook</tt> : graph</dt>\n");
    assert_contains(page, "<dt><tt>mode</tt> : string (default is \"fast\")</dt>\n");
    assert_true(position(page, "<tt>alpha</tt>") < position(page, "<tt>hook</tt>"));
    assert_true(position(page, "<tt>hook</tt>") < position(page, "<tt>k</tt>"));
    assert_true(position(page, "<tt>k</tt>") < position(page, "<tt>mode</tt>"));
    /* arity */
    assert_contains(page, "#### Inputs (3 - &#8734;)\n\nAt least 3 inputs.\n\n<dl>\n"
                          "<dt><tt>X</tt> : T</dt>\n<dd>The input.</dd>\n"
                          "<dt><tt>bias</tt> (optional) : T</dt>\n"
                          "<dd>An optional bias.</dd>\n"
                          "<dt><tt>params</tt> (variadic, heterogeneous) : P</dt>\n");
    assert_contains(page, "#### Outputs (1 - 2)\n\nBetween 1 and 2 outputs.\n\n");
    assert_contains(page, "<dt><tt>stats</tt> (optional) : tensor(int64)</dt>\n");
    assert_contains(page, "#### Type Constraints\n\n<dl>\n<dt><tt>T</tt> : tensor(float), tensor(float16)</dt>\n"
                          "<dd>Float types.</dd>\n<dt><tt>P</tt> : tensor(float), tensor(int64), tensor(bool)</dt>\n");
    assert_contains(page, "#### Errors\n\n");
    assert_contains(page, "- `k` is not positive.\n- `X` is not 2-D.\n\n#### Example\n\n"
                          "The schema defines no worked example.\n\n#### Function body\n\n"
                          "The schema defines no function body.\n\n#### Conventions\n\n"
                          "| a | b |\n|---|---|\n| 1 | 2 |\n\n##### Top\n\nText.\n");
    assert_true(page[strlen(page) - 2] == '.');
    /* sections in ONNX's order, then OCS's */
    const char *order[] = {"#### Version", "#### Attributes", "#### Inputs", "#### Outputs",
                           "#### Type Constraints", "#### Errors", "#### Example", "#### Function body",
                           "#### Conventions"};
    for (size_t i = 1; i < sizeof order / sizeof order[0]; i++)
        assert_true(position(page, order[i - 1]) < position(page, order[i]));
    free(page);
}

static void test_markdown_minimal_schema(void **state)
{
    (void)state;
    static const ocs_param_def any[] = {{"inputs", "V", OCS_PARAM_VARIADIC, 1, 0, "Anything."}};
    static const ocs_param_def one[] = {{"y", "tensor(float)", OCS_PARAM_SINGLE, 0, 0, "Result."}};
    const ocs_schema s = {.domain = "", .name = "Bare", .since_version = 7, .inputs = any, .n_inputs = 1,
                          .outputs = one, .n_outputs = 1};
    char *page = NULL;
    assert_int_equal(ocs_schema_markdown(&s, NULL, &page, NULL), OCS_OK);
    assert_contains(page, "-->\n### <a name=\"Bare\"></a><a name=\"bare\">**Bare**</a>\n\n"
                          "  The schema gives no summary.\n\n#### Version\n\n"
                          "This version of the operator has been available since version 7 of the default ONNX "
                          "operator set.\n\n#### Inputs (0 - &#8734;)\n\nZero or more inputs.\n\n");
    assert_contains(page, "#### Outputs\n\nExactly 1 output.\n\n");
    assert_null(strstr(page, "#### Attributes"));
    assert_null(strstr(page, "#### Type Constraints"));
    assert_contains(page, "The schema lists no error conditions.");
    assert_contains(page, "The schema records no conventions.\n");
    free(page);
}

static void test_markdown_example_and_determinism(void **state)
{
    (void)state;
    const int64_t d22[] = {2, 2}, d3[] = {3};
    ocs_tensor *x = tensor_f(2, d22, (const float[]){1, 2, 3, 4});
    ocs_tensor *y = tensor_f(1, d3, (const float[]){1.0f / 3.0f, NAN, -0.0f});
    ocs_tensor *z = tensor_i64(1, d3, (const int64_t[]){-5, 1234567890123LL, 0});
    ocs_tensor *big = NULL;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, 1, (const int64_t[]){3}, &big, NULL), OCS_OK);
    ((float *)big->data)[0] = 1e-7f;
    ((float *)big->data)[1] = -INFINITY;
    ((float *)big->data)[2] = 123456789.0f;
    ocs_doc_tensor ins[] = {{"X", x}, {"bias", NULL}};
    ocs_doc_tensor outs[] = {{"Y", y}, {"stats", z}, {"wide", big}};
    ocs_docgen_extra extra = {
        .example_title = "A tiny case",
        .example_node = "Y, stats = test.domain.Thing <k = 1> (X, \"\")",
        .example_inputs = ins,
        .n_example_inputs = 2,
        .example_outputs = outs,
        .n_example_outputs = 3,
        .body_text = "<domain: \"test.domain\", opset_import: [\"\" : 24]>\nThing (X) => (Y)\n{\n  Y = Relu (X)\n}\n",
    };
    char *a = NULL, *b = NULL;
    assert_int_equal(ocs_schema_markdown(&test_schema, &extra, &a, NULL), OCS_OK);
    assert_int_equal(ocs_schema_markdown(&test_schema, &extra, &b, NULL), OCS_OK);
    assert_string_equal(a, b);
    assert_contains(a, "#### Example\n\nA tiny case\n\nThe node, in ONNX textual syntax:\n\n```\n"
                       "Y, stats = test.domain.Thing <k = 1> (X, \"\")\n```\n\n");
    assert_contains(a, "Inputs:\n\n```\nX: float[2,2]\n[[1, 2],\n [3, 4]]\n\nbias: (absent)\n```\n");
    assert_contains(a, "```\nY: float[3]\n[0.333333,      nan,        0]\n\n"
                       "stats: int64[3]\n[           -5, 1234567890123,             0]\n\n"
                       "wide: float[3]\n[      1e-07,        -inf, 1.23457e+08]\n```\n");
    assert_contains(a, "#### Function body\n\nThe operator is defined by a function body");
    assert_contains(a, "```\n<domain: \"test.domain\", opset_import: [\"\" : 24]>\nThing (X) => (Y)\n{\n"
                       "  Y = Relu (X)\n}\n```\n");
    free(a);
    free(b);
    ocs_tensor_free(x);
    ocs_tensor_free(y);
    ocs_tensor_free(z);
    ocs_tensor_free(big);
}

static void test_tensor_layout(void **state)
{
    (void)state;
    /* rank 3 separates blocks with a blank line; a scalar prints bare; long rows wrap */
    const int64_t d223[] = {2, 2, 3}, d40[] = {40};
    float v[40];
    for (int i = 0; i < 40; i++)
        v[i] = (float)i + 0.5f;
    ocs_tensor *x = tensor_f(3, d223, v);
    ocs_tensor *s = tensor_i64(0, NULL, (const int64_t[]){42});
    ocs_tensor *w = tensor_f(1, d40, v);
    ocs_text t = {0};
    ocs_doc_tensor_text(&t, "x", x);
    ocs_doc_tensor_text(&t, "s", s);
    ocs_doc_tensor_text(&t, "w", w);
    char *out = NULL;
    assert_int_equal(ocs_text_finish(&t, &out, NULL), OCS_OK);
    assert_contains(out, "x: float[2,2,3]\n"
                         "[[[ 0.5,  1.5,  2.5],\n"
                         "  [ 3.5,  4.5,  5.5]],\n"
                         "\n"
                         " [[ 6.5,  7.5,  8.5],\n"
                         "  [ 9.5, 10.5, 11.5]]]\n"
                         "s: int64[]\n42\n");
    const char *wl = strstr(out, "w: float[40]\n");
    assert_non_null(wl);
    size_t col = 0, widest = 0;
    for (const char *p = wl; *p; p++) {
        col = *p == '\n' ? 0 : col + 1;
        if (col > widest)
            widest = col;
    }
    assert_true(widest <= 100);
    assert_contains(wl, "15.5,\n 16.5, 17.5");
    free(out);
    ocs_tensor_free(x);
    ocs_tensor_free(s);
    ocs_tensor_free(w);
}

static void test_index_page(void **state)
{
    (void)state;
    const ocs_schema *list[] = {&test_schema};
    char *page = NULL;
    assert_int_equal(ocs_schema_index_markdown(list, 1, &page, NULL), OCS_OK);
    assert_contains(page, "### test.domain\n|**Operator**|**Since version**|**Function body**|**Summary**|\n"
                          "|-|-|-|-|\n|<a href=\"Thing.md\">test.domain.Thing</a>|3|no|Does a thing.|\n");
    free(page);
    char name[64];
    assert_string_equal(ocs_schema_page_name(&test_schema, name, sizeof name), "Thing.md");
}

/* ---- `ocs docs` ------------------------------------------------------------------------------ */

static char *path_in(const char *dir, const char *file)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, file);
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ocs_docs in check mode; *report receives what it printed about stale pages. */
static int check_dir(const char *dir, char *report, size_t len)
{
    FILE *errs = tmpfile();
    assert_non_null(errs);
    int rc = ocs_docs(dir, 1, NULL, errs);
    rewind(errs);
    size_t n = fread(report, 1, len - 1, errs);
    report[n] = '\0';
    fclose(errs);
    return rc;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(path_in(dir, e->d_name));
    closedir(d);
    rmdir(dir);
}

static void test_docs_check_finds_stale(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/ocs-docgen-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char report[8192];

    /* an empty folder: every page is missing */
    assert_int_equal(check_dir(dir, report, sizeof report), 1);
    assert_contains(report, "README.md: missing");
    assert_contains(report, "run `make docs`");

    assert_int_equal(ocs_docs(dir, 0, NULL, stderr), 0);
    assert_int_equal(check_dir(dir, report, sizeof report), 0);
    struct stat st;
    assert_int_equal(stat(path_in(dir, "README.md"), &st), 0);

    /* one edited page is stale, and named */
    const ocs_schema *s0 = ocs_schema_at(0);
    assert_non_null(s0);
    char name[256];
    ocs_schema_page_name(s0, name, sizeof name);
    FILE *f = fopen(path_in(dir, name), "ab");
    assert_non_null(f);
    fputs("edited by hand\n", f);
    fclose(f);
    assert_int_equal(check_dir(dir, report, sizeof report), 1);
    assert_contains(report, name);
    assert_contains(report, ": stale");
    assert_null(strstr(report, "README.md"));

    /* regenerating fixes it; a generated page no schema makes is an orphan and goes;
       a hand-written file is left alone */
    write_text(path_in(dir, "Gone.md"), OCS_DOCGEN_MARKER " from the operator's schema -->\nold\n");
    write_text(path_in(dir, "notes.md"), "hand-written notes\n");
    assert_int_equal(check_dir(dir, report, sizeof report), 1);
    assert_contains(report, "Gone.md: generated page of an operator that has no schema");
    assert_int_equal(ocs_docs(dir, 0, NULL, stderr), 0);
    assert_int_equal(check_dir(dir, report, sizeof report), 0);
    assert_int_not_equal(stat(path_in(dir, "Gone.md"), &st), 0);
    assert_int_equal(stat(path_in(dir, "notes.md"), &st), 0);

    /* generation is deterministic: a second run writes nothing */
    FILE *out = tmpfile();
    assert_non_null(out);
    assert_int_equal(ocs_docs(dir, 0, out, stderr), 0);
    rewind(out);
    size_t n = fread(report, 1, sizeof report - 1, out);
    report[n] = '\0';
    fclose(out);
    assert_contains(report, ", 0 written");

    remove_dir(dir);
}

static void test_docs_command_line(void **state)
{
    (void)state;
    char *no_dir[] = {"docs", "--check", NULL};
    assert_int_equal(ocs_cmd_docs(2, no_dir), 2);
    char *bad[] = {"docs", "--frobnicate", "x", NULL};
    assert_int_equal(ocs_cmd_docs(3, bad), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_text),
        cmocka_unit_test(test_model_and_body_text),
        cmocka_unit_test(test_float_and_id_text),
        cmocka_unit_test(test_markdown_sections),
        cmocka_unit_test(test_markdown_minimal_schema),
        cmocka_unit_test(test_markdown_example_and_determinism),
        cmocka_unit_test(test_tensor_layout),
        cmocka_unit_test(test_index_page),
        cmocka_unit_test(test_docs_check_finds_stale),
        cmocka_unit_test(test_docs_command_line),
    };
    return cmocka_run_group_tests_name("docgen", tests, NULL, NULL);
}
