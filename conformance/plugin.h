/*
 * conformance/plugin.h - loading a backend built as a shared library
 * against ocs/plugin.h, and running it as an ocs_backend.
 */
#ifndef OCS_CONFORMANCE_PLUGIN_H
#define OCS_CONFORMANCE_PLUGIN_H

#include "ocs/backend.h"

/*
 * Loads the plugin at path (dlopen; give a path with a '/' to load that
 * file rather than search the library path), checks its ABI version and
 * function table, calls its init, and wraps it as a backend named after the
 * plugin.  *out is owned by the caller: ocs_backend_close calls the
 * plugin's fini and unloads it.
 *
 * Errors: OCS_ERR_IO when the file cannot be loaded; OCS_ERR_INVALID when
 * it exports no ocs_plugin_entry, declines or differs in ABI version, or
 * returns an incomplete table; OCS_ERR_UNSUPPORTED when its init says it
 * cannot run here (no device), which callers report as skipped;
 * OCS_ERR_RUNTIME when its init fails otherwise.
 *
 * The backend allocates each output the plugin's infer describes with guard
 * bytes after the data and fills the data with a poison pattern (a NaN for
 * floating-point types, 0xA5 bytes for the others) before run; after run a
 * changed guard byte is an error naming the output, as is a changed input.
 * An element the plugin left unwritten keeps the poison, so comparing the
 * output with the reference fails.
 */
ocs_status ocs_plugin_open(const char *path, ocs_backend **out, ocs_err *err);

#endif
