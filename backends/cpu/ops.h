/*
 * backends/cpu/ops.h - operators the CPU backend implements (X-macro):
 * OCS_CPU_OP(domain, Name, prefix), see cpu.h.
 */
