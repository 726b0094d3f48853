/*
 * conformance/compare.h - comparing an output against its expected value.
 *
 * The rule is ONNX's: exact dtype and shape; integers, booleans and strings
 * exactly; floats pass when |got - want| <= atol + rtol * |want|, NaN
 * matches NaN, and an infinity matches only the same infinity.
 */
#ifndef OCS_COMPARE_H
#define OCS_COMPARE_H

#include "ocs/tensor.h"
#include "ocs/value.h"

/* Tolerances per element type; a negative entry means "use the default". */
typedef struct ocs_tolerance {
    double rtol, atol;                      /* defaults: 1e-3, 1e-7 */
    double rtol_for[OCS_DTYPE_COUNT_];
    double atol_for[OCS_DTYPE_COUNT_];
} ocs_tolerance;

void ocs_tolerance_init(ocs_tolerance *tol);
/*
 * Parses one --rtol/--atol argument: "1e-3" sets the default, "float16=2e-3"
 * one element type.  Returns 0 on success, -1 on malformed text.
 */
int ocs_tolerance_parse(ocs_tolerance *tol, int is_rtol, const char *text);

typedef struct ocs_diff {
    int equal;              /* 1 when the tensors compare equal under the rule */
    double max_abs;         /* largest |got - want| over finite pairs */
    double max_rel;         /* largest |got - want| / |want| over finite pairs, want != 0 */
    size_t n_bad;           /* elements outside tolerance */
    size_t first_bad;       /* flat index of the first one */
    char reason[256];       /* why not equal: dtype, shape, or the first bad element */
} ocs_diff;

/* Compares got against want (the reference) with tol; fills *d. */
void ocs_compare(const ocs_tensor *got, const ocs_tensor *want, const ocs_tolerance *tol, ocs_diff *d);

/* The same for values: kinds must agree, sequences element by element,
 * optionals both empty or with equal contents. */
void ocs_compare_values(const ocs_value *got, const ocs_value *want, const ocs_tolerance *tol, ocs_diff *d);

#endif
