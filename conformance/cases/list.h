/*
 * conformance/cases/list.h - the case generators (X-macro), in report
 * order.  OCS_CASE_GENERATOR(name) expects `void ocs_cases_<name>(
 * ocs_case_list *l)` in conformance/cases/<name>.c.
 */
OCS_CASE_GENERATOR(matmul)
OCS_CASE_GENERATOR(gemm)
OCS_CASE_GENERATOR(softmax)
OCS_CASE_GENERATOR(topk)
OCS_CASE_GENERATOR(gather)
OCS_CASE_GENERATOR(scatter_nd)
OCS_CASE_GENERATOR(tensor_scatter)
OCS_CASE_GENERATOR(layer_norm)
OCS_CASE_GENERATOR(rms_norm)
OCS_CASE_GENERATOR(rotary)
OCS_CASE_GENERATOR(attention)
OCS_CASE_GENERATOR(paged_attention)
OCS_CASE_GENERATOR(moe)
OCS_CASE_GENERATOR(backend_context)
