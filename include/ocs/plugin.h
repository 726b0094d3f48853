/*
 * ocs/plugin.h - the shared-library ABI for backends built outside OCS.
 *
 * This header is self-contained (it needs only <stddef.h> and <stdint.h>) so
 * that a backend written in another project builds against it alone, in C
 * or C++.  Only plain C types cross the boundary: tensors are described by
 * ocs_plugin_tensor, nodes by ocs_plugin_node, whose attributes are read
 * through getters the host supplies.
 *
 * A plugin is a shared library exporting one function:
 *
 *     const ocs_plugin_v1 *ocs_plugin_entry(uint32_t abi_version);
 *
 * The host passes the ABI version it speaks (OCS_PLUGIN_ABI_VERSION); the
 * plugin returns its function table for that version, or NULL when it
 * cannot speak it.  The host refuses a table whose abi_version differs from
 * its own.  The table is static data: the host never frees it.
 *
 * The call sequence for one node of a model:
 *
 *     supports(node, input types)          -> 1 / 0  (input data is NULL)
 *     prepare(node, &state)                 optional, once per node and session
 *     infer(node, inputs, outputs)          the plugin fills each output's dtype and shape
 *     run(state, node, inputs, outputs)     the plugin writes into host-owned output buffers
 *     release(state)                        optional, when the session ends
 *
 * Buffers: the HOST allocates every output.  After infer, it allocates each
 * output with exactly nbytes of data followed by guard bytes, fills the data
 * with a poison pattern (a NaN for floating-point types, 0xA5 bytes for the
 * others), and after run checks the guard bytes and that no input changed.
 * So a plugin must write every element of every output it is given, exactly
 * within [data, data + nbytes), and must never write its inputs; the
 * conformance runner reports an unwritten element (the poison survives) or
 * a write past the end as a failure of the plugin.
 *
 * Element storage, one element after the other in row-major order, with
 * dtype codes equal to ONNX's TensorProto.DataType:
 *   FLOAT, DOUBLE, (U)INT8..64    native C types, little-endian as the host
 *   FLOAT16, BFLOAT16             uint16_t bit pattern
 *   FLOAT8*, FLOAT8E8M0           uint8_t bit pattern
 *   FLOAT4E2M1, (U)INT4, (U)INT2  one (u)int8_t per element, not packed
 *   BOOL                          uint8_t, 0 or 1
 * STRING and complex tensors do not cross ABI version 1: the host never asks
 * about a node with a string input, and a string output from infer is an
 * error.
 *
 * Threads: the host calls into one context from one thread at a time.
 * Every callback that can fail returns an ocs_plugin_result and writes a
 * one-line, NUL-terminated reason (naming the input, attribute or value)
 * into err, which holds err_len bytes.
 */
#ifndef OCS_PLUGIN_H
#define OCS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes.  Any change to a struct below,
 * including an addition, increments it. */
#define OCS_PLUGIN_ABI_VERSION 1u

/* The name of the exported entry point. */
#define OCS_PLUGIN_ENTRY_NAME "ocs_plugin_entry"

/* The longest shape that crosses the ABI. */
#define OCS_PLUGIN_MAX_RANK 16

#if defined(_WIN32)
#define OCS_PLUGIN_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define OCS_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define OCS_PLUGIN_EXPORT
#endif

/* Element types: ONNX TensorProto.DataType codes. */
enum ocs_plugin_dtype {
    OCS_PLUGIN_UNDEFINED = 0,
    OCS_PLUGIN_FLOAT = 1,
    OCS_PLUGIN_UINT8 = 2,
    OCS_PLUGIN_INT8 = 3,
    OCS_PLUGIN_UINT16 = 4,
    OCS_PLUGIN_INT16 = 5,
    OCS_PLUGIN_INT32 = 6,
    OCS_PLUGIN_INT64 = 7,
    OCS_PLUGIN_STRING = 8,
    OCS_PLUGIN_BOOL = 9,
    OCS_PLUGIN_FLOAT16 = 10,
    OCS_PLUGIN_DOUBLE = 11,
    OCS_PLUGIN_UINT32 = 12,
    OCS_PLUGIN_UINT64 = 13,
    OCS_PLUGIN_BFLOAT16 = 16,
    OCS_PLUGIN_FLOAT8E4M3FN = 17,
    OCS_PLUGIN_FLOAT8E4M3FNUZ = 18,
    OCS_PLUGIN_FLOAT8E5M2 = 19,
    OCS_PLUGIN_FLOAT8E5M2FNUZ = 20,
    OCS_PLUGIN_UINT4 = 21,
    OCS_PLUGIN_INT4 = 22,
    OCS_PLUGIN_FLOAT4E2M1 = 23,
    OCS_PLUGIN_FLOAT8E8M0 = 24,
    OCS_PLUGIN_UINT2 = 25,
    OCS_PLUGIN_INT2 = 26
};

/* Attribute types: ONNX AttributeProto.AttributeType codes. */
enum ocs_plugin_attr_type {
    OCS_PLUGIN_ATTR_UNDEFINED = 0,
    OCS_PLUGIN_ATTR_FLOAT = 1,
    OCS_PLUGIN_ATTR_INT = 2,
    OCS_PLUGIN_ATTR_STRING = 3,
    OCS_PLUGIN_ATTR_TENSOR = 4,
    OCS_PLUGIN_ATTR_GRAPH = 5,
    OCS_PLUGIN_ATTR_FLOATS = 6,
    OCS_PLUGIN_ATTR_INTS = 7,
    OCS_PLUGIN_ATTR_STRINGS = 8
    /* higher codes as in ONNX; none of them has a getter in version 1 */
};

/* What the callbacks return. */
typedef enum ocs_plugin_result {
    OCS_PLUGIN_OK = 0,
    OCS_PLUGIN_FAILED = 1,        /* bad input or internal failure; err says why */
    OCS_PLUGIN_UNSUPPORTED = 2    /* valid, but this plugin does not run it; err says what */
} ocs_plugin_result;

/* What an attribute getter returns. */
#define OCS_PLUGIN_ATTR_ABSENT 0
#define OCS_PLUGIN_ATTR_PRESENT 1
#define OCS_PLUGIN_ATTR_WRONG_TYPE (-1)

/*
 * A tensor crossing the ABI.  For inputs every field is set by the host;
 * an absent optional input has dtype OCS_PLUGIN_UNDEFINED and data NULL.
 * In supports, data is NULL for every input.  For outputs, infer sets dtype,
 * rank and dims[0..rank); the host then sets numel, nbytes and data (NULL
 * for an output the node does not use: skip it).
 */
typedef struct ocs_plugin_tensor {
    int32_t dtype;                       /* enum ocs_plugin_dtype */
    int32_t rank;                        /* 0 for a scalar */
    int64_t dims[OCS_PLUGIN_MAX_RANK];
    size_t numel;                        /* product of dims (1 for a scalar) */
    size_t nbytes;                       /* bytes of data */
    void *data;                          /* inputs: read only, borrowed for the call */
} ocs_plugin_tensor;

/*
 * A node as the plugin sees it.  The strings and arrays are borrowed for
 * the duration of the call.  Attribute getters take the node itself; each
 * returns OCS_PLUGIN_ATTR_PRESENT and fills its outputs, ABSENT (outputs
 * untouched: use the operator's default), or WRONG_TYPE.  What a getter
 * returns through a pointer stays valid for the duration of the call.
 * Graph attributes have no getter in version 1: a plugin declines nodes
 * that carry one (attr_type says which kind each attribute is).
 */
typedef struct ocs_plugin_node ocs_plugin_node;
struct ocs_plugin_node {
    const char *domain;                  /* "" for the default ONNX domain */
    const char *op_type;
    const char *name;                    /* may be "" */
    int64_t since_version;               /* the operator version that applies */
    size_t n_inputs;
    const char *const *inputs;           /* value names; "" marks an absent input */
    size_t n_outputs;
    const char *const *outputs;          /* value names; "" marks an unused output */
    size_t n_attrs;
    const void *host;                    /* the host's handle; for the getters only */

    /* Name of attribute i < n_attrs. */
    const char *(*attr_name)(const ocs_plugin_node *n, size_t i);
    /* enum ocs_plugin_attr_type of the attribute, OCS_PLUGIN_ATTR_UNDEFINED when absent. */
    int (*attr_type)(const ocs_plugin_node *n, const char *name);
    int (*attr_int)(const ocs_plugin_node *n, const char *name, int64_t *value);
    int (*attr_float)(const ocs_plugin_node *n, const char *name, float *value);
    /* *s is NUL-terminated and may hold NULs before *len. */
    int (*attr_string)(const ocs_plugin_node *n, const char *name, const char **s, size_t *len);
    int (*attr_ints)(const ocs_plugin_node *n, const char *name, const int64_t **values, size_t *count);
    int (*attr_floats)(const ocs_plugin_node *n, const char *name, const float **values, size_t *count);
    /* A tensor attribute (read only); WRONG_TYPE also for a string tensor. */
    int (*attr_tensor)(const ocs_plugin_node *n, const char *name, ocs_plugin_tensor *value);
};

/*
 * The function table of ABI version 1.  Members marked optional may be
 * NULL; the others are required (the host refuses a table without them).
 * ctx is what init made (NULL when init is NULL).
 */
typedef struct ocs_plugin_v1 {
    uint32_t abi_version;                /* OCS_PLUGIN_ABI_VERSION */
    const char *name;                    /* short, lower case: reports say "ocs.<name>.<op>" */

    /* Optional: makes the context once, when the host opens the plugin. */
    int (*init)(void **ctx, char *err, size_t err_len);
    /* Optional: frees the context, when the host closes the plugin. */
    void (*fini)(void *ctx);
    /* Optional: one line for reports (device, library versions). */
    const char *(*describe)(void *ctx);

    /* 1 when the plugin runs this node with these inputs (n->n_inputs entries, data NULL), else 0. */
    int (*supports)(void *ctx, const ocs_plugin_node *n, const ocs_plugin_tensor *in);
    /* Optional: per-node state made once per session; *state may stay NULL. */
    int (*prepare)(void *ctx, const ocs_plugin_node *n, void **state, char *err, size_t err_len);
    /*
     * Fills dtype, rank and dims of out[0..n->n_outputs) from the inputs
     * (data present).  The host zeroes out first; an unused output may be
     * left so.  Validate the inputs here or in run.
     */
    int (*infer)(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
                 ocs_plugin_tensor *out, char *err, size_t err_len);
    /* Computes the node: writes every element of each out[i] whose data is not NULL. */
    int (*run)(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
               ocs_plugin_tensor *out, char *err, size_t err_len);
    /* Optional: frees what prepare made. */
    void (*release)(void *ctx, void *state);
} ocs_plugin_v1;

/* The entry point's type, and its declaration for plugins to define. */
typedef const ocs_plugin_v1 *(*ocs_plugin_entry_fn)(uint32_t abi_version);
OCS_PLUGIN_EXPORT const ocs_plugin_v1 *ocs_plugin_entry(uint32_t abi_version);

#ifdef __cplusplus
}
#endif
#endif /* OCS_PLUGIN_H */
