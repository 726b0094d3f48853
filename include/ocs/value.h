/*
 * ocs/value.h - values that are not only tensors: sequences, optionals and
 * maps, as graph inputs and outputs and as ONNX test data.
 *
 * ONNX backend tests store each input and expected output of a test in
 * test_data_set_N/input_I.pb and output_I.pb.  Which protobuf message a file
 * holds (TensorProto, SequenceProto, OptionalProto, MapProto) is not written
 * in the file; it follows from the declared type of the graph input or
 * output, so the loader takes that type.
 *
 * Ownership: an ocs_value owns everything it points to; ocs_value_free
 * releases the whole tree.
 */
#ifndef OCS_VALUE_H
#define OCS_VALUE_H

#include <stddef.h>
#include "ocs/status.h"
#include "ocs/tensor.h"
#include "ocs/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ocs_value_kind {
    OCS_VALUE_TENSOR = 1,
    OCS_VALUE_SEQUENCE,
    OCS_VALUE_OPTIONAL,
    OCS_VALUE_MAP
} ocs_value_kind;

typedef struct ocs_value {
    ocs_value_kind kind;
    char *name;                  /* name stored in the file; "" if none */
    ocs_tensor *tensor;          /* TENSOR: the tensor (sparse data is densified) */
    size_t n_items;
    struct ocs_value **items;    /* SEQUENCE: the elements in order;
                                    MAP: the values, items[i] belongs to key i */
    ocs_tensor *keys;            /* MAP: 1-D tensor of the keys (an integer type or STRING) */
    struct ocs_value *inner;     /* OPTIONAL: the contained value, NULL when empty */
} ocs_value;

/*
 * Reads one test-data file.  declared is the type of the graph input or
 * output it belongs to and selects the message: tensor (or NULL, or a type
 * of kind NONE) -> TensorProto, sparse tensor -> SparseTensorProto
 * (densified), sequence -> SequenceProto, optional -> OptionalProto, map ->
 * MapProto.  Element kinds inside sequences and optionals come from the
 * file.  External data is resolved against the file's folder.  *out is
 * owned by the caller.
 */
ocs_status ocs_value_load_file(const char *path, const ocs_type *declared, ocs_value **out,
                               ocs_err *err);
/* The same from len bytes; base_dir (may be NULL) resolves external data. */
ocs_status ocs_value_load_memory(const void *buf, size_t len, const ocs_type *declared,
                                 const char *base_dir, ocs_value **out, ocs_err *err);

/* Wraps t (ownership moves into the value; on failure t is freed). */
ocs_status ocs_value_from_tensor(ocs_tensor *t, ocs_value **out, ocs_err *err);

/* Deep copy of src.  *out is owned by the caller. */
ocs_status ocs_value_clone(const ocs_value *src, ocs_value **out, ocs_err *err);

/* Frees the value and everything it owns; NULL is allowed. */
void ocs_value_free(ocs_value *v);

/*
 * One-line description into buf, e.g. "FLOAT[2,3]", "sequence(2)<FLOAT[2],FLOAT[3]>",
 * "optional<none>", "map(3)<INT64 -> FLOAT[1]>" (long lists are cut with "...").
 * Returns buf.
 */
char *ocs_value_describe(const ocs_value *v, char *buf, size_t len);

/*
 * Dense tensor of sp's shape: zeros (empty strings) except at the listed
 * indices.  Fails when an index is out of range or the shapes of values and
 * indices do not agree.  *out is owned by the caller.
 */
ocs_status ocs_sparse_to_dense(const ocs_sparse *sp, ocs_tensor **out, ocs_err *err);

#ifdef __cplusplus
}
#endif
#endif /* OCS_VALUE_H */
