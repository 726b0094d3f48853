/*
 * backends/cpu/pool.c - the CPU backend's thread pool (see pool.h).
 *
 * One mutex guards the job; workers sleep on `wake` between jobs and the
 * caller sleeps on `done` until the last task finishes.  Tasks are claimed
 * by an atomic counter, so threads never wait on each other inside a job.
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct ocs_pool {
    size_t threads;
    pthread_t *workers;              /* threads - 1 of them */
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long generation;        /* bumped for each job */
    int stopping;
    /* the current job */
    ocs_task_fn fn;
    void *arg;
    size_t n_tasks;
    atomic_size_t next;              /* next task to claim */
    size_t busy;                     /* workers still inside the job */
};

typedef struct worker_arg {
    ocs_pool *pool;
    size_t index;
} worker_arg;

static void work(ocs_pool *p, size_t thread)
{
    for (;;) {
        size_t t = atomic_fetch_add(&p->next, 1);
        if (t >= p->n_tasks)
            return;
        p->fn(p->arg, t, thread);
    }
}

static void *worker_main(void *varg)
{
    worker_arg wa = *(worker_arg *)varg;
    free(varg);
    ocs_pool *p = wa.pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stopping)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        work(p, wa.index);
        pthread_mutex_lock(&p->lock);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static size_t default_threads(void)
{
    const char *env = getenv("OCS_NUM_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v > 0 && v <= 1024)
            return (size_t)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

ocs_status ocs_pool_new(size_t threads, ocs_pool **out, ocs_err *err)
{
    *out = NULL;
    if (threads == 0)
        threads = default_threads();
    ocs_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory creating the thread pool");
    p->threads = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    p->workers = calloc(threads, sizeof *p->workers);
    if (!p->workers) {
        ocs_pool_free(p);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory creating the thread pool");
    }
    for (size_t i = 1; i < threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->pool = p;
            wa->index = i;
        }
        if (!wa || pthread_create(&p->workers[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            p->threads = i;          /* only the started ones are joined */
            ocs_pool_free(p);
            return ocs_fail(err, OCS_ERR_RUNTIME, "could not start thread %zu of the pool", i);
        }
    }
    *out = p;
    return OCS_OK;
}

void ocs_pool_free(ocs_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 1; p->workers && i < p->threads; i++)
        pthread_join(p->workers[i - 1], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p);
}

size_t ocs_pool_threads(const ocs_pool *p)
{
    return p->threads;
}

void ocs_pool_run(ocs_pool *p, size_t n_tasks, ocs_task_fn fn, void *arg)
{
    if (n_tasks == 0)
        return;
    if (p->threads == 1 || n_tasks == 1) {
        for (size_t t = 0; t < n_tasks; t++)
            fn(arg, t, 0);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    p->busy = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);

    work(p, 0);

    pthread_mutex_lock(&p->lock);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
