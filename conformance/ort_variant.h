/*
 * conformance/ort_variant.h - a case rewritten with ONNX Runtime's contrib
 * operators (see ort_variant.c for the mapping).
 */
#ifndef OCS_ORT_VARIANT_H
#define OCS_ORT_VARIANT_H

#include "ocs/model.h"

/* The contrib-op form of one-node model m; OCS_ERR_UNSUPPORTED when it has none.
 * *out is owned by the caller. */
ocs_status ocs_ort_variant(const ocs_model *m, ocs_model **out, ocs_err *err);

#endif
