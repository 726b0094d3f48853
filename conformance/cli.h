/*
 * conformance/cli.h - the subcommands of the `ocs` command line.
 * Each takes the arguments after its name and returns the process exit status.
 */
#ifndef OCS_CLI_H
#define OCS_CLI_H

#include <stdio.h>

int ocs_cmd_onnx_test(int argc, char **argv);
int ocs_cmd_docs(int argc, char **argv);
int ocs_cmd_bench(int argc, char **argv);
int ocs_cmd_run(int argc, char **argv);
int ocs_cmd_export(int argc, char **argv);
int ocs_cmd_compile(int argc, char **argv);
int ocs_cmd_inspect(int argc, char **argv);
int ocs_cmd_bc_report(int argc, char **argv);

/*
 * Generates every operator page into dir, or with check compares them with
 * the files there.  Progress goes to out, problems to errs (either may be
 * NULL).  Returns 0 when done (or up to date), 1 when check found stale,
 * missing or orphaned pages, 2 on an error.
 */
int ocs_docs(const char *dir, int check, FILE *out, FILE *errs);

#endif
