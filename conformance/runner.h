/*
 * conformance/runner.h - running conformance cases on backends and
 * deciding each outcome.
 *
 * A target is what a case runs on: the reference kernels driven through
 * the backend interface (a sanity check of the harness), the `_expanded`
 * variant (the model with each proposed operator replaced by its function
 * body, on the reference), an ocs_backend (built in, or a plugin) opened
 * inside the worker process, or a command run over an exported tree.
 *
 * For every (target, case) the runner computes the golden outputs with the
 * reference executor (for a test folder: the stored outputs), runs the
 * target in a session with that backend only and no reference fallback,
 * and compares each output (compare.h).  Outcomes:
 *
 *   PASS     every output within tolerance
 *   FAIL     an output differs, has the wrong type or shape, kept the
 *            poison pattern (an unwritten element), or a write went past
 *            its end (a changed guard byte)
 *   ERROR    the backend returned an error, crashed (the signal is named),
 *            or ran past the timeout; also when the reference itself fails
 *   SKIPPED  the backend is not present here, does not support the node,
 *            there is no function body (expanded), or the case is an
 *            expected failure of that backend (with its reason)
 *
 * Isolation: each target's cases run in a forked worker process (with -j N,
 * up to N workers at once, each on a contiguous share of one target's
 * cases).  Results travel back over a pipe, one fixed-size record per case.
 * When the worker dies from a signal or does not report within the timeout
 * (it is then killed), the case it was running becomes an ERROR naming the
 * signal or the timeout, and a new worker carries on with the next case.
 *
 * Output guards: with ocs_target.guard_outputs set, the runner hands the
 * backend, in a->outputs[i], a tensor of the reference's dtype and shape
 * whose data is filled with a poison pattern (a quiet NaN with payload 0xA5
 * for float types, 0xA5 bytes otherwise) and followed, in the same
 * allocation, by OCS_GUARD_BYTES canary bytes.  A backend that follows that
 * convention writes in place; an element it leaves unwritten keeps the
 * poison and a write past the end changes a canary, and both are FAILs.
 * A backend that replaces the pointer with its own tensor is compared
 * normally (the handed tensor is then not freed by the runner, since the
 * callee may have freed it).  Plugins (conformance/plugin.c) get the same
 * checks from the plugin host itself.
 */
#ifndef OCS_RUNNER_H
#define OCS_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "case.h"
#include "compare.h"
#include "ocs/backend.h"

#define OCS_GUARD_BYTES 64

typedef enum ocs_outcome { OCS_PASS = 0, OCS_FAIL, OCS_ERROR, OCS_SKIPPED } ocs_outcome;

const char *ocs_outcome_name(ocs_outcome o);

typedef enum ocs_target_kind {
    OCS_TARGET_REFERENCE = 0,   /* the reference kernels through the backend interface */
    OCS_TARGET_EXPANDED,        /* the function-body variant on the reference */
    OCS_TARGET_BACKEND,         /* an ocs_backend made by open(arg) in the worker */
    OCS_TARGET_COMMAND          /* `PROGRAM IN OUT` over an exported tree (protocol v1) */
} ocs_target_kind;

typedef ocs_status (*ocs_target_open_fn)(const char *arg, ocs_backend **out, ocs_err *err);

typedef struct ocs_target {
    char name[64];              /* reports say ocs.<name>.<op> */
    ocs_target_kind kind;
    ocs_target_open_fn open;    /* BACKEND */
    char arg[1024];             /* BACKEND: open's argument; COMMAND: the program (a shell word list) */
    int guard_outputs;          /* BACKEND: hand poisoned, guarded outputs in (see above) */
} ocs_target;

typedef struct ocs_result {
    ocs_outcome outcome;
    int compared;               /* the metrics below are set */
    int guarded;                /* outputs were poisoned and guarded */
    double time_s;
    double max_abs, max_rel, max_ulp, nmse;
    double rtol, atol;          /* the tolerance of the first float output */
    char type[32];              /* JUnit failure/error type: ToleranceExceeded, Crash, Timeout, ... */
    char describe[160];         /* the backend's one-line description, when it has one */
    char message[1536];
} ocs_result;

typedef struct ocs_runner_options {
    double timeout_s;           /* per case, default 60 */
    double command_timeout_s;   /* a command's whole run; <= 0: timeout_s per case given to it */
    int jobs;                   /* workers at once, default 1 */
    int no_fork;                /* run in this process (debugging; a crash ends the run) */
    ocs_tolerance tol;          /* generated cases: per-type defaults before case overrides */
    ocs_tolerance tol_stored;   /* test folders: against their stored outputs */
    /* Called in the parent for every result as it arrives (may be NULL). */
    void (*on_result)(void *user, const ocs_case *c, const ocs_target *t, const ocs_result *r);
    void *user;
} ocs_runner_options;

/* timeout 60 s, one job, ocs_tolerance_init_backend and ocs_tolerance_init. */
void ocs_runner_options_init(ocs_runner_options *opt);

/*
 * Runs every case on every target.  *results (n_targets * n_cases entries,
 * result of case c on target t at [t * n_cases + c]) is owned by the
 * caller (free()).  Fails only when the runner itself cannot work (no
 * memory, no pipe or fork); outcomes of cases are in the results.
 */
ocs_status ocs_run_cases(const ocs_case *cases, size_t n_cases, const ocs_target *targets, size_t n_targets,
                         const ocs_runner_options *opt, ocs_result **results, ocs_err *err);

/*
 * The tolerance target t is held to, before a case's own overrides:
 * generated cases (stored = 0) use opt->tol, the per-type defaults; test
 * folders (stored = 1) use opt->tol_stored (ONNX's rule) on the reference
 * and the expanded variant, and for a backend or a command the looser of
 * that rule and the per-type defaults.
 */
void ocs_target_tolerance(const ocs_target *t, const ocs_runner_options *opt, int stored, ocs_tolerance *tol);

/* The reference kernels as a backend (name "reference"); static, do not close. */
const ocs_backend *ocs_reference_backend(void);

/*
 * The op a test folder exercises, for reports: the op of a one-node model,
 * else the registered op whose snake-case name is the longest prefix of the
 * test name after "test_", else the first word of that name.  buf
 * receives it.
 */
const char *ocs_test_dir_op(const char *name, const ocs_model *m, char *buf, size_t len);

#endif
