/*
 * backends/cpu/pool.h - a fixed thread pool for the CPU backend.
 *
 * Threads start once, with the backend, and wait on a condition variable;
 * ocs_pool_run hands them n_tasks calls of fn(arg, task, thread) and
 * returns when all are done.  The calling thread works too, so a pool of
 * N threads starts N - 1.  Runs do not nest: fn must not call
 * ocs_pool_run on the same pool.
 */
#ifndef OCS_CPU_POOL_H
#define OCS_CPU_POOL_H

#include <stddef.h>

#include "ocs/status.h"

typedef struct ocs_pool ocs_pool;

/* fn(arg, task, thread): task in [0, n_tasks), thread in [0, threads). */
typedef void (*ocs_task_fn)(void *arg, size_t task, size_t thread);

/* threads == 0 means OCS_NUM_THREADS from the environment, else every online core. */
ocs_status ocs_pool_new(size_t threads, ocs_pool **out, ocs_err *err);
void ocs_pool_free(ocs_pool *p);
size_t ocs_pool_threads(const ocs_pool *p);
/* Runs the tasks; tasks are taken in ascending order by whichever thread is free. */
void ocs_pool_run(ocs_pool *p, size_t n_tasks, ocs_task_fn fn, void *arg);

#endif
