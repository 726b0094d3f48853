/*
 * backends/list.h - the built-in backends (X-macro), in default priority
 * order.  OCS_BACKEND(name) expects `ocs_status ocs_backend_open_<name>(
 * ocs_backend **out, ocs_err *err)` in backends/<name>/.
 */
OCS_BACKEND(cpu)
#ifdef OCS_HAVE_CUDA
OCS_BACKEND(cuda)
#endif
