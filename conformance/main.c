/*
 * conformance/main.c - `ocs`, the single entry point of the suite.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#ifdef OCS_HAVE_CUDA
#include "../backends/cuda/gpu_bench.h"
#endif

#define OCS_VERSION "0.1.0"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", ocs_cmd_run, "run the conformance cases on every backend; JUnit XML and a scoreboard"},
    {"export", ocs_cmd_export, "write the cases in the ONNX backend-test layout with a SHA-256 manifest"},
    {"onnx-test", ocs_cmd_onnx_test,
     "run trees in the ONNX backend-test layout on the reference executor"},
    {"docs", ocs_cmd_docs, "write (or --check) the Markdown pages of the operator schemas"},
    {"bench", ocs_cmd_bench, "time the target cases on each backend against ceilings measured in the same run"},
    {"compile", ocs_cmd_compile, "compile a model's regions into BackendContext blobs (function or scopes encoding)"},
    {"inspect", ocs_cmd_inspect, "print a model's BackendContext regions, blobs, and what this machine picks and why"},
    {"bc-report", ocs_cmd_bc_report, "compare the two BackendContext encodings; writes reports/backend_context.md"},
#ifdef OCS_HAVE_CUDA
    {"cuda-bench", ocs_cuda_bench_main, "time the GPU cases on device buffers against copy and cuBLAS ceilings"},
#endif
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ocs <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-12s %s\n", "version", "print the version");
    fprintf(f, "\n`ocs <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("ocs %s\n", OCS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ocs: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
