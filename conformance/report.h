/*
 * conformance/report.h - the reports of a conformance run.
 *
 * JUnit XML, written with libxml2 and valid against the Ant schema
 * (windyroad JUnit.xsd): a <testsuites> root holding one <testsuite> per
 * backend (package "ocs", id from 0), whose <properties> carry the OCS
 * version, the run's seed and how case seeds derive from it, the default
 * tolerances, the backend's kind and description, and every case-level
 * tolerance override and expected failure.  Each case is a <testcase> with
 * classname "ocs.<backend>.<op>" and the case name; FAIL becomes
 * <failure>, ERROR <error> (both with a type, the message, and the command
 * line that reproduces the case), and SKIPPED <skipped message="...">
 * (expected failures with their reason).  The suite's <system-out> holds one
 * line of metrics per case (seed, tolerance, max abs/rel/ULP error, NMSE).
 *
 * The Markdown scoreboard is a table op x backend (passed / failed /
 * skipped and the worst error), then the cases that did not pass, the
 * expected failures, and the skip reasons with counts.
 *
 * Both files are written atomically (a temporary file, then rename), so an
 * interrupted run leaves the previous report intact.
 */
#ifndef OCS_REPORT_H
#define OCS_REPORT_H

#include <stdint.h>

#include "case.h"
#include "runner.h"

typedef struct ocs_report_info {
    const char *ocs_version;
    uint64_t seed;
    const char *command;            /* the command line of the run */
    const char *shard;              /* "I/N" or NULL */
    const char *filter;             /* regex or NULL */
    const char *tests_dir;          /* --tests DIR, or NULL for generated cases */
    const ocs_runner_options *opt;  /* tolerances, timeout */
    double wall_s;                  /* the run's duration */
    /* Writes the command line reproducing case c on target t (may be NULL). */
    void (*repro)(void *user, const ocs_case *c, const ocs_target *t, char *buf, size_t len);
    void *user;
} ocs_report_info;

ocs_status ocs_report_junit(const char *path, const ocs_report_info *info, const ocs_case *cases, size_t n_cases,
                            const ocs_target *targets, size_t n_targets, const ocs_result *results, ocs_err *err);

ocs_status ocs_report_scoreboard(const char *path, const ocs_report_info *info, const ocs_case *cases,
                                 size_t n_cases, const ocs_target *targets, size_t n_targets,
                                 const ocs_result *results, ocs_err *err);

/* Copies s into buf as valid UTF-8 without control characters (bad bytes become '?'). */
void ocs_report_clean_text(const char *s, char *buf, size_t len);

#endif
