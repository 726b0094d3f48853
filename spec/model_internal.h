/*
 * spec/model_internal.h - shared between the files that turn protobuf
 * messages into OCS structs and back (internal to spec/).
 *
 * model.c owns the generic parts (freeing, copying strings); model_load.c
 * converts protobuf to OCS; model_save.c converts OCS to protobuf; value.c
 * reads test-data values.  Protobuf types appear only here and in those
 * files.
 */
#ifndef OCS_SPEC_MODEL_INTERNAL_H
#define OCS_SPEC_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "ocs/model.h"
#include "onnx.pb-c.h"

/* Deepest message nesting accepted in a protobuf file (as ONNX's own parser). */
#define OCS_PB_MAX_NESTING 100

/* ---- generic helpers (model.c) ------------------------------------------- */

/* malloc'd copy of s (NULL is copied as ""); NULL only when out of memory. */
char *ocs_str_dup(const char *s);
/* malloc'd copy of n bytes plus a terminating NUL; NULL only when out of memory. */
char *ocs_mem_dup_str(const void *p, size_t n);
void ocs_kv_array_free(ocs_kv *kv, size_t n);
void ocs_str_array_free(char **v, size_t n);
void ocs_type_clear(ocs_type *t);
void ocs_value_info_clear(ocs_value_info *v);
void ocs_sparse_free(ocs_sparse *sp);
void ocs_attr_clear(ocs_attr *a);
void ocs_node_clear(ocs_node *n);
void ocs_graph_free(ocs_graph *g);
void ocs_function_clear(ocs_function *f);

/* ---- protobuf -> OCS (model_load.c) -------------------------------------- */

/*
 * Walks the wire format of len bytes as message desc and fails (naming the
 * byte offset) if the bytes are malformed or nest messages deeper than
 * OCS_PB_MAX_NESTING.  Run before unpacking so that hostile input cannot
 * exhaust the stack.
 */
ocs_status ocs_pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                        ocs_err *err);

/* Dense tensor from a TensorProto; base_dir resolves external data (NULL: none allowed). */
ocs_status ocs_pb_tensor_load(const Onnx__TensorProto *tp, const char *base_dir, ocs_tensor **out,
                              ocs_err *err);
/* COO sparse tensor from a SparseTensorProto. */
ocs_status ocs_pb_sparse_load(const Onnx__SparseTensorProto *sp, const char *base_dir,
                              ocs_sparse **out, ocs_err *err);
/* Type from a TypeProto (NULL gives OCS_TYPE_NONE).  Clear *out with ocs_type_clear. */
ocs_status ocs_pb_type_load(const Onnx__TypeProto *tp, ocs_type *out, ocs_err *err);

/* ---- OCS -> protobuf (model_save.c) --------------------------------------- */

/* A malloc'd TensorProto holding t as raw_data (strings as string_data);
 * free with onnx__tensor_proto__free_unpacked(*out, NULL). */
ocs_status ocs_pb_tensor_make(const ocs_tensor *t, const char *name, Onnx__TensorProto **out,
                              ocs_err *err);

#endif /* OCS_SPEC_MODEL_INTERNAL_H */
