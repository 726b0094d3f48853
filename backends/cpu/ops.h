/*
 * backends/cpu/ops.h - operators the CPU backend implements (X-macro):
 * OCS_CPU_OP(domain, Name, prefix), see cpu.h.
 */
OCS_CPU_OP(OCS_PREVIEW_DOMAIN, PagedAttention, ocs_cpu_pa)
OCS_CPU_OP(OCS_PREVIEW_DOMAIN, MoE, ocs_cpu_moe)
