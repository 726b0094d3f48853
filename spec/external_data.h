/*
 * spec/external_data.h - file access for the loader and writer (internal).
 *
 * Whole-file reads, atomic whole-file writes, and the path checks that keep
 * a tensor's external data inside the model's folder.
 */
#ifndef OCS_SPEC_EXTERNAL_DATA_H
#define OCS_SPEC_EXTERNAL_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "ocs/status.h"

/* Reads a regular file whole.  *buf is malloc'd (never NULL on success, even
 * for an empty file); the caller frees it. */
ocs_status ocs_file_read(const char *path, void **buf, size_t *len, ocs_err *err);

/* Writes len bytes to path atomically: a temporary file in the same folder,
 * fsync, then rename over path.  On failure path is left untouched. */
ocs_status ocs_file_write_atomic(const char *path, const void *buf, size_t len, ocs_err *err);

/* The folder part of path ("." when it has none), malloc'd; NULL when out of memory. */
char *ocs_path_dirname(const char *path);

/*
 * Reads the bytes of one tensor stored outside the model (ONNX ExternalData):
 * location is relative to base_dir; offset and length are the decimal
 * strings of the external_data keys, or NULL when absent (offset 0, length
 * to the end of the file).  Rejects an empty or absolute location, any ".."
 * component, a path that resolves (through symlinks) outside base_dir, a
 * file that is not a regular file, and an offset or length beyond the end of
 * the file.  *buf is malloc'd (never NULL on success); the caller frees it.
 */
ocs_status ocs_external_data_read(const char *base_dir, const char *location,
                                  const char *offset, const char *length,
                                  void **buf, size_t *len, ocs_err *err);

#endif /* OCS_SPEC_EXTERNAL_DATA_H */
