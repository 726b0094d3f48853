/*
 * conformance/cli.h - the subcommands of the `ocs` command line.
 * Each takes the arguments after its name and returns the process exit status.
 */
#ifndef OCS_CLI_H
#define OCS_CLI_H

int ocs_cmd_onnx_test(int argc, char **argv);

#endif
