/*
 * tests/test_pool.c - the CPU backend's thread pool: every task runs exactly
 * once, on a valid thread index, across repeated jobs and pool sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../backends/cpu/pool.h"

typedef struct job {
    atomic_int *hits;
    size_t threads;
    atomic_int bad_thread;
} job;

static void count(void *arg, size_t task, size_t thread)
{
    job *j = arg;
    atomic_fetch_add(&j->hits[task], 1);
    if (thread >= j->threads)
        atomic_store(&j->bad_thread, 1);
}

static void run_jobs(size_t threads)
{
    ocs_pool *p = NULL;
    assert_int_equal(ocs_pool_new(threads, &p, NULL), OCS_OK);
    assert_int_equal(ocs_pool_threads(p), threads);
    const size_t sizes[] = {0, 1, 2, 3, 7, 64, 1000};
    for (int rep = 0; rep < 20; rep++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s];
            job j = {calloc(n + 1, sizeof(atomic_int)), threads, 0};
            assert_non_null(j.hits);
            ocs_pool_run(p, n, count, &j);
            for (size_t t = 0; t < n; t++)
                assert_int_equal(atomic_load(&j.hits[t]), 1);
            assert_int_equal(atomic_load(&j.bad_thread), 0);
            free(j.hits);
        }
    ocs_pool_free(p);
}

static void test_one_thread(void **state)
{
    (void)state;
    run_jobs(1);
}

static void test_several_threads(void **state)
{
    (void)state;
    run_jobs(2);
    run_jobs(5);
}

static void test_env_sets_default(void **state)
{
    (void)state;
    setenv("OCS_NUM_THREADS", "3", 1);
    ocs_pool *p = NULL;
    assert_int_equal(ocs_pool_new(0, &p, NULL), OCS_OK);
    assert_int_equal(ocs_pool_threads(p), 3);
    ocs_pool_free(p);
    unsetenv("OCS_NUM_THREADS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread),
        cmocka_unit_test(test_several_threads),
        cmocka_unit_test(test_env_sets_default),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
