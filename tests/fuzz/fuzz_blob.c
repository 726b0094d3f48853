/*
 * tests/fuzz/fuzz_blob.c - libFuzzer harness for everything that reads a
 * BackendContext blob: the container reader (ocs_blob_parse and
 * ocs_blob_verify), the cpu backend's compatibility check and its plan
 * loader (which parses the payload and replays its data flow against a
 * fixed region).
 *
 * Each input is tried three ways: as a container (and, when it parses, its
 * payload as a cpu plan), as a cpu plan directly, and as a compatibility
 * string.  Nothing may crash, read out of bounds or leak; whatever the
 * bytes, each call returns a status.
 *
 * At start-up the harness compiles the fixed region (x -> MatMul -> Relu ->
 * MatMul) once; when OCS_FUZZ_SEEDS names a folder, it writes a valid
 * container and a valid plan there to seed the corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocs/backend_context.h"
#include "ocs/blob.h"
#include "ocs/build.h"
#include "../../backends/cpu/tuning.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ocs_backend *cpu;
static ocs_model *model;
static ocs_bc_region *regions;
static size_t n_regions;
static ocs_bc_view view;

static void die(const char *what, const ocs_err *err)
{
    fprintf(stderr, "fuzz_blob: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static void scope(ocs_node *n)
{
    n->meta = calloc(1, sizeof *n->meta);
    if (!n->meta)
        die("out of memory", NULL);
    n->meta[0].key = strdup(OCS_BC_SCOPE_KEY);
    n->meta[0].value = strdup("r");
    n->n_meta = 1;
}

static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(p, 1, n, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ocs_err err = {{0}};
    static const int64_t xd[] = {2, 4}, wd[] = {4, 4};
    ocs_tensor *w = NULL;
    ocs_node *n = NULL;
    if (ocs_model_new(&model, &err) || ocs_model_import(model, "", 17, &err) ||
        ocs_graph_add_input(model->graph, "x", OCS_FLOAT, 2, xd, &err) ||
        ocs_graph_add_output(model->graph, "y", OCS_FLOAT, 2, xd, &err) || ocs_tensor_new(OCS_FLOAT, 2, wd, &w, &err) ||
        ocs_graph_add_initializer(model->graph, "W", w, &err))
        die("building the region", &err);
    ocs_tensor_free(w);
    if (ocs_graph_add_node(model->graph, "MatMul", "", "a", 2, (const char *const[]){"x", "W"}, 1,
                           (const char *const[]){"h"}, &n, &err))
        die("building the region", &err);
    scope(n);
    if (ocs_graph_add_node(model->graph, "Relu", "", "b", 1, (const char *const[]){"h"}, 1,
                           (const char *const[]){"r"}, &n, &err))
        die("building the region", &err);
    scope(n);
    if (ocs_graph_add_node(model->graph, "MatMul", "", "c", 2, (const char *const[]){"r", "W"}, 1,
                           (const char *const[]){"y"}, &n, &err))
        die("building the region", &err);
    scope(n);
    if (ocs_bc_discover(model, &regions, &n_regions, &err) || n_regions != 1 || regions[0].problem ||
        ocs_bc_view_make(model, &regions[0], &view, &err))
        die("finding the region", &err);
    if (ocs_backend_open("cpu", &cpu, &err))
        die("opening the cpu backend", &err);
    const char *seeds = getenv("OCS_FUZZ_SEEDS");
    if (seeds) {
        void *payload = NULL, *blob = NULL;
        size_t plen = 0, blen = 0;
        char *compat = NULL;
        if (cpu->ops->bc_compile(cpu->ctx, &view, NULL, &payload, &plen, &compat, &err) ||
            ocs_blob_write("cpu", compat, payload, plen, &blob, &blen, &err))
            die("compiling the seed", &err);
        write_seed(seeds, "seed-container", blob, blen);
        write_seed(seeds, "seed-plan", payload, plen);
        write_seed(seeds, "seed-compat", compat, strlen(compat));
        free(payload);
        free(blob);
        free(compat);
    }
    return 0;
}

static void try_plan(const void *p, size_t n)
{
    ocs_err err;
    void *state = NULL;
    if (cpu->ops->bc_load(cpu->ctx, &view, p, n, &state, &err) == OCS_OK)
        cpu->ops->bc_unload(cpu->ctx, state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ocs_err err;
    ocs_blob b;
    /* a copy of exactly `size` bytes, so that any over-read is caught */
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    ocs_status st = ocs_blob_parse(copy, size, &b, &err);
    if (st == OCS_OK) {
        (void)ocs_blob_verify(&b, &err);
        volatile unsigned sum = 0;
        for (size_t i = 0; i < b.backend_len; i++)
            sum += (unsigned char)b.backend[i];
        for (size_t i = 0; i < b.compat_len; i++)
            sum += (unsigned char)b.compat[i];
        for (size_t i = 0; i < 32; i++)
            sum += b.digest[i];
        try_plan(b.payload, b.payload_len);
    }
    try_plan(copy, size);
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = '\0';
        char why[256];
        (void)cpu->ops->bc_compatible(cpu->ctx, text, why, sizeof why);
        free(text);
    }
    free(copy);
    return 0;
}
