/*
 * tests/test_bench.c - the machinery of `ocs bench`: option parsing, the
 * median, the JSON writer (escaping, numbers, the document), the work each
 * case counts, the paired ratio and the output check.  Nothing here is timed: speed targets
 * live in the benchmark itself, never in a unit test.
 *
 * The command's sources are included directly, so that their static tables
 * and helpers can be tested too (the Makefile leaves bench.o and
 * ceilings.o out of this test's link).
 */
#include "../conformance/bench.c"
#include "../conformance/ceilings.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ---- median --------------------------------------------------------------- */

static void test_median(void **state)
{
    (void)state;
    double one[] = {7};
    assert_true(ocs_bench_median(one, 1) == 7);
    double odd[] = {5, 1, 4, 2, 3};
    assert_true(ocs_bench_median(odd, 5) == 3);
    double even[] = {10, 1, 4, 2};
    assert_true(ocs_bench_median(even, 4) == 3);
    double dup[] = {2, 2, 9, 2};
    assert_true(ocs_bench_median(dup, 4) == 2);
    double neg[] = {-1.5, -3.5};
    assert_true(ocs_bench_median(neg, 2) == -2.5);
    assert_true(isnan(ocs_bench_median(NULL, 0)));
}

/* ---- JSON ----------------------------------------------------------------- */

/* The JSON text of s or v, from a memory stream (the caller frees it). */
static char *capture_string(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    ocs_bench_json_string(f, s);
    fclose(f);
    return buf;
}

static char *capture_number(double v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    ocs_bench_json_number(f, v);
    fclose(f);
    return buf;
}

static void expect_json(const char *in, const char *want)
{
    char *got = capture_string(in);
    assert_string_equal(got, want);
    free(got);
}

static void test_json_escaping(void **state)
{
    (void)state;
    expect_json("", "\"\"");
    expect_json("pa_decode_ctx2048", "\"pa_decode_ctx2048\"");
    expect_json("a\"b", "\"a\\\"b\"");
    expect_json("back\\slash", "\"back\\\\slash\"");
    expect_json("line\nfeed\ttab\rcr", "\"line\\nfeed\\ttab\\rcr\"");
    expect_json("\b\f", "\"\\b\\f\"");
    expect_json("\x01\x1f", "\"\\u0001\\u001f\"");
    /* UTF-8 and DEL pass through unchanged */
    expect_json("caf\xc3\xa9 \x7f", "\"caf\xc3\xa9 \x7f\"");
}

static void test_json_numbers(void **state)
{
    (void)state;
    char *s = capture_number(0);
    assert_string_equal(s, "0");
    free(s);
    s = capture_number(2);
    assert_string_equal(s, "2");
    free(s);
    s = capture_number(-123456789);
    assert_string_equal(s, "-123456789");
    free(s);
    s = capture_number(NAN);
    assert_string_equal(s, "null");
    free(s);
    s = capture_number(INFINITY);
    assert_string_equal(s, "null");
    free(s);
    s = capture_number(-INFINITY);
    assert_string_equal(s, "null");
    free(s);
    const double vals[] = {0.1, 1.0 / 3.0, 12.345678901234567, 6.02e23, 1e-300, -2.5e-7};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        s = capture_number(vals[i]);
        char *end;
        double back = strtod(s, &end);
        assert_true(*end == 0);
        assert_true(back == vals[i]);
        free(s);
    }
}

static void test_json_document(void **state)
{
    (void)state;
    ocs_ceilings c = {0};
    c.membw_gbs = 20;
    c.membw_1t_gbs = 12.5;
    c.sgemm_gflops = 100;
    c.threads = 2;
    ocs_bench_row rows[2];
    memset(rows, 0, sizeof rows);
    snprintf(rows[0].name, sizeof rows[0].name, "moe_t1");
    snprintf(rows[0].backend, sizeof rows[0].backend, "cpu");
    rows[0].outcome = OCS_BENCH_DONE;
    rows[0].median_ms = 4;
    rows[0].rate = 17.5;
    rows[0].bound = OCS_BENCH_MEMORY;
    rows[0].ratio_to_ceiling = 0.875;
    rows[0].speedup_vs_reference = 250;
    rows[0].peak_extra_bytes = 1048576;
    snprintf(rows[1].name, sizeof rows[1].name, "pa_prefill_2048");
    snprintf(rows[1].backend, sizeof rows[1].backend, "cpu");
    rows[1].outcome = OCS_BENCH_UNSUPPORTED;
    rows[1].median_ms = 99; /* ignored: not run */
    rows[1].bound = OCS_BENCH_COMPUTE;
    rows[1].peak_extra_bytes = -1;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    ocs_bench_write_json(f, &c, rows, 2);
    fclose(f);
    const char *want =
        "{\n"
        "  \"ceilings\": {\"membw_gbs\": 20, \"membw_1t_gbs\": 12.5, \"sgemm_gflops\": 100, \"threads\": 2},\n"
        "  \"cases\": [\n"
        "    {\"name\": \"moe_t1\", \"backend\": \"cpu\", \"median_ms\": 4, \"rate\": 17.5, \"unit\": \"GB/s\", "
        "\"ratio_to_ceiling\": 0.875, \"speedup_vs_reference\": 250, \"peak_extra_bytes\": 1048576},\n"
        "    {\"name\": \"pa_prefill_2048\", \"backend\": \"cpu\", \"median_ms\": null, \"rate\": null, "
        "\"unit\": \"GFLOP/s\", \"ratio_to_ceiling\": null, \"speedup_vs_reference\": null, "
        "\"peak_extra_bytes\": null}\n"
        "  ]\n"
        "}\n";
    assert_string_equal(buf, want);
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    ocs_bench_write_json(f, &c, NULL, 0);
    fclose(f);
    assert_non_null(strstr(buf, "\"cases\": []"));
    free(buf);
}

/* ---- arguments -------------------------------------------------------------- */

static ocs_status parse(ocs_bench_opts *o, ocs_err *err, int argc, ...)
{
    char *argv[32];
    va_list ap;
    va_start(ap, argc);
    argv[0] = "bench";
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return ocs_bench_parse_args(argc, argv, o, err);
}

static void test_args_defaults(void **state)
{
    (void)state;
    ocs_bench_opts o;
    ocs_err err = {{0}};
    assert_int_equal(parse(&o, &err, 1), OCS_OK);
    assert_null(o.cases);
    assert_null(o.json);
    assert_int_equal(o.repeat, 5);
    assert_int_equal(o.quick, 0);
    assert_int_equal(o.ref_full, 0);
    assert_int_equal(o.list, 0);
    assert_int_equal(o.help, 0);
    assert_int_equal(o.n_backends, 2);
    assert_string_equal(o.backends[0], "reference");
    assert_string_equal(o.backends[1], "cpu");
}

static void test_args_values(void **state)
{
    (void)state;
    ocs_bench_opts o;
    ocs_err err = {{0}};
    assert_int_equal(parse(&o, &err, 10, "--cases", "^moe", "--backends=cpu", "--repeat", "3", "--json=out.json",
                           "--quick", "--ref-full", "--list"),
                     OCS_OK);
    assert_string_equal(o.cases, "^moe");
    assert_string_equal(o.json, "out.json");
    assert_int_equal(o.repeat, 3);
    assert_int_equal(o.quick, 1);
    assert_int_equal(o.ref_full, 1);
    assert_int_equal(o.list, 1);
    assert_int_equal(o.n_backends, 1);
    assert_string_equal(o.backends[0], "cpu");

    assert_int_equal(parse(&o, &err, 5, "--cases=pa_.*", "--backends", "cpu,reference", "--timeout=60"), OCS_OK);
    assert_string_equal(o.cases, "pa_.*");
    assert_int_equal(o.timeout_s, 60);
    assert_int_equal(o.n_backends, 2);
    assert_string_equal(o.backends[0], "cpu");
    assert_string_equal(o.backends[1], "reference");

    assert_int_equal(parse(&o, &err, 2, "--help"), OCS_OK);
    assert_int_equal(o.help, 1);
    assert_int_equal(parse(&o, &err, 2, "-h"), OCS_OK);
    assert_int_equal(o.help, 1);
    /* the last --repeat wins */
    assert_int_equal(parse(&o, &err, 5, "--repeat", "2", "--repeat", "1000"), OCS_OK);
    assert_int_equal(o.repeat, 1000);
}

static void expect_bad(const char *what, int argc, char **argv)
{
    ocs_bench_opts o;
    ocs_err err = {{0}};
    assert_int_equal(ocs_bench_parse_args(argc, argv, &o, &err), OCS_ERR_INVALID);
    if (!strstr(err.msg, what))
        fail_msg("message '%s' does not mention '%s'", err.msg, what);
}

static void test_args_errors(void **state)
{
    (void)state;
    char *a1[] = {"bench", "--repeat", "0"};
    expect_bad("--repeat", 3, a1);
    char *a2[] = {"bench", "--repeat=abc"};
    expect_bad("abc", 2, a2);
    char *a3[] = {"bench", "--repeat", "1001"};
    expect_bad("1001", 3, a3);
    char *a4[] = {"bench", "--repeat", "3x"};
    expect_bad("3x", 3, a4);
    char *a5[] = {"bench", "--json"};
    expect_bad("--json", 2, a5);
    char *a6[] = {"bench", "--json="};
    expect_bad("--json", 2, a6);
    char *a7[] = {"bench", "--frobnicate"};
    expect_bad("--frobnicate", 2, a7);
    char *a8[] = {"bench", "--backends", "cpu,,reference"};
    expect_bad("empty", 3, a8);
    char *a9[] = {"bench", "--backends", "cpu,cpu"};
    expect_bad("twice", 3, a9);
    char *a10[] = {"bench", "--backends", "a,b,c,d,e,f,g,h,i"};
    expect_bad("more than", 3, a10);
    char *a11[] = {"bench", "--backends", "a-name-that-is-much-too-long-for-a-backend"};
    expect_bad("too long", 3, a11);
    char *a12[] = {"bench", "--cases"};
    expect_bad("--cases", 2, a12);
    char *a13[] = {"bench", "--casesfoo"};
    expect_bad("--casesfoo", 2, a13);
    char *a14[] = {"bench", "--backends="};
    expect_bad("empty", 2, a14);
    char *a15[] = {"bench", "--timeout", "-5"};
    expect_bad("--timeout", 3, a15);
}

/* ---- what each case counts ---------------------------------------------------------- */

static const bench_case *find_case(const char *name)
{
    for (size_t i = 0; i < N_CASES; i++)
        if (!strcmp(cases[i].name, name))
            return &cases[i];
    fail_msg("no case %s", name);
    return NULL;
}

static void test_case_names(void **state)
{
    (void)state;
    const char *want[] = {"pa_decode_ctx2048", "pa_decode_ctx8192", "pa_prefill_2048",
                          "moe_t512", "moe_t16", "moe_t1"};
    assert_int_equal(N_CASES, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(cases[i].name, want[i]);
    /* the full shapes of the targets */
    const bench_case *c = find_case("pa_decode_ctx8192");
    assert_int_equal(c->full.batch, 8);
    assert_int_equal(c->full.heads, 32);
    assert_int_equal(c->full.kv_heads, 8);
    assert_int_equal(c->full.head_size, 128);
    assert_int_equal(c->full.block_size, 16);
    assert_int_equal(c->full.past + c->full.tokens, 8192);
    c = find_case("moe_t16");
    assert_int_equal(c->full.tokens, 16);
    assert_int_equal(c->full.hidden, 1024);
    assert_int_equal(c->full.inter, 2816);
    assert_int_equal(c->full.experts, 8);
    assert_int_equal(c->full.k, 2);
}

static void test_decode_work(void **state)
{
    (void)state;
    const bench_case *c = find_case("pa_decode_ctx2048");
    built b;
    ocs_err err = {{0}};
    assert_int_equal(build_case(c, &c->quick, &b, &err), OCS_OK);
    const shape *s = &c->quick;
    double ctx = (double)(s->past + s->tokens);
    assert_true(b.work == (double)s->batch * ctx * (double)s->kv_heads * (double)s->head_size * 4.0 * 2.0);
    assert_int_equal(b.n_inputs, 8);
    assert_int_equal(b.n_outputs, 1);
    assert_int_equal(b.out_numel, (size_t)(s->batch * s->heads * s->head_size));
    /* the block table is a permutation of every block */
    const ocs_tensor *table = b.inputs[7];
    size_t nb = table->numel;
    char *seen = calloc(nb, 1);
    assert_non_null(seen);
    for (size_t i = 0; i < nb; i++) {
        int32_t v = ((const int32_t *)table->data)[i];
        assert_true(v >= 0 && (size_t)v < nb);
        assert_false(seen[v]);
        seen[v] = 1;
    }
    free(seen);
    assert_int_equal(b.inputs[3]->dims[0], (int64_t)nb);
    built_free(&b);
}

static void test_prefill_work(void **state)
{
    (void)state;
    /* 1 sequence, 3 tokens, no past: queries see 1, 2, 3 keys */
    bench_case c = *find_case("pa_prefill_2048");
    shape s = {1, 4, 2, 8, 16, 0, 3, 0, 0, 0, 0};
    built b;
    ocs_err err = {{0}};
    assert_int_equal(build_case(&c, &s, &b, &err), OCS_OK);
    assert_true(b.work == 4.0 * 4.0 * 8.0 * 6.0);
    built_free(&b);
    /* with a past of 10: 11 + 12 + 13 keys, two sequences */
    shape s2 = {2, 4, 2, 8, 16, 10, 3, 0, 0, 0, 0};
    assert_int_equal(build_case(&c, &s2, &b, &err), OCS_OK);
    assert_true(b.work == 2.0 * 4.0 * 4.0 * 8.0 * 36.0);
    assert_int_equal(b.inputs[7]->dims[1], 1); /* 13 positions fit in one block of 16 */
    built_free(&b);
}

static void test_moe_work(void **state)
{
    (void)state;
    ocs_err err = {{0}};
    built b;
    const bench_case *c = find_case("moe_t512");
    const shape *s = &c->quick;
    assert_int_equal(build_case(c, s, &b, &err), OCS_OK);
    assert_true(b.work == 2.0 * (double)s->tokens * (double)s->k * 3.0 * (double)s->hidden * (double)s->inter);
    assert_int_equal(b.n_inputs, 5);
    built_free(&b);

    /* memory-bound: whole experts' weights, between k and E of them */
    c = find_case("moe_t16");
    s = &c->quick;
    assert_int_equal(build_case(c, s, &b, &err), OCS_OK);
    double expert = 3.0 * (double)s->hidden * (double)s->inter * 4.0;
    double n = b.work / expert;
    assert_true(n == floor(n));
    assert_true(n >= (double)s->k && n <= (double)s->experts);
    built_free(&b);

    /* one token picks exactly k experts */
    c = find_case("moe_t1");
    assert_int_equal(build_case(c, &c->quick, &b, &err), OCS_OK);
    assert_true(b.work == (double)c->quick.k * 3.0 * (double)c->quick.hidden * (double)c->quick.inter * 4.0);
    built_free(&b);
}

/* ---- the output check -------------------------------------------------------------- */

static void test_check_output(void **state)
{
    (void)state;
    bench_state bs = {0};
    ocs_bench_row r;
    memset(&r, 0, sizeof r);
    const float ref[4] = {1.0f, -2.0f, NAN, 0.0f};
    const float close[4] = {1.0005f, -2.001f, NAN, 5e-5f};
    check_output(&r, ref, close, 4, "", &bs);
    assert_int_equal(bs.failures, 0);
    assert_non_null(strstr(r.note, "matches"));

    memset(&r, 0, sizeof r);
    const float off[4] = {1.01f, -2.0f, NAN, 0.0f};
    check_output(&r, ref, off, 4, " on the proxy", &bs);
    assert_int_equal(bs.failures, 1);
    assert_non_null(strstr(r.note, "MISMATCH on the proxy: 1 of 4"));

    memset(&r, 0, sizeof r);
    const float nan_where_number[4] = {NAN, -2.0f, NAN, 0.0f};
    check_output(&r, ref, nan_where_number, 4, "", &bs);
    assert_int_equal(bs.failures, 2);
    memset(&r, 0, sizeof r);
    const float number_where_nan[4] = {1.0f, -2.0f, 3.0f, 0.0f};
    check_output(&r, ref, number_where_nan, 4, "", &bs);
    assert_int_equal(bs.failures, 3);
}

static void test_paired_ratio(void **state)
{
    (void)state;
    /* 1e9 bytes in 100 ms = 10 GB/s; passes 20, 25, 40, 10 GB/s around three runs */
    const double ms[3] = {100, 100, 50};
    const double ceil[4] = {20, 25, 40, 10};
    /* run 0: 10 / max(20, 25) = 0.4; run 1: 10 / 40 = 0.25; run 2: 20 / 40 = 0.5 */
    assert_true(fabs(paired_ratio(1e9, ms, 3, ceil) - 0.4) < 1e-12);
    const double one_ms[1] = {200};
    const double one_ceil[2] = {10, 5};
    assert_true(fabs(paired_ratio(1e9, one_ms, 1, one_ceil) - 0.5) < 1e-12);
    assert_true(isnan(paired_ratio(1e9, ms, 0, ceil)));
}

static void test_threads(void **state)
{
    (void)state;
    assert_true(ocs_bench_threads() >= 1);
    setenv("OCS_NUM_THREADS", "3", 1);
    assert_int_equal(ocs_bench_threads(), 3);
    setenv("OCS_NUM_THREADS", "zero", 1);
    assert_true(ocs_bench_threads() >= 1);
    unsetenv("OCS_NUM_THREADS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_numbers),
        cmocka_unit_test(test_json_document),
        cmocka_unit_test(test_args_defaults),
        cmocka_unit_test(test_args_values),
        cmocka_unit_test(test_args_errors),
        cmocka_unit_test(test_case_names),
        cmocka_unit_test(test_decode_work),
        cmocka_unit_test(test_prefill_work),
        cmocka_unit_test(test_moe_work),
        cmocka_unit_test(test_check_output),
        cmocka_unit_test(test_paired_ratio),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
