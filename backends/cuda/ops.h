/*
 * backends/cuda/ops.h - operators the CUDA backend implements (X-macro):
 * OCS_CUDA_OP(domain, Name, prefix), see cuda.h.
 */
OCS_CUDA_OP(OCS_PREVIEW_DOMAIN, PagedAttention, ocs_cuda_pa)
OCS_CUDA_OP(OCS_PREVIEW_DOMAIN, MoE, ocs_cuda_moe)
