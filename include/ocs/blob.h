/*
 * ocs/blob.h - the versioned container that holds one backend's
 * pre-compiled form of a BackendContext region.
 *
 * Layout, every integer little-endian, no padding:
 *
 *   offset  size  field
 *        0     8  magic "OCSBC\r\n\x1a" (a text-mode transfer or a
 *                 truncation to a C string damages it visibly)
 *        8     4  format version, 1
 *       12     4  flags, 0 in version 1 (anything else is malformed)
 *       16     2  backend id length B, 1..OCS_BLOB_MAX_ID
 *       18     2  compatibility string length C, 0..OCS_BLOB_MAX_COMPAT
 *       20     4  reserved, 0
 *       24     8  payload length P
 *       32     B  backend id: [a-z0-9_.-]
 *     32+B     C  compatibility string: printable ASCII (0x20..0x7e)
 *   32+B+C     P  payload: the backend's own bytes, opaque here
 *   32+B+C+P  32  SHA-256 of every byte before it
 *
 * so a container is exactly 64 + B + C + P bytes.  The trailing digest
 * makes a container self-checking wherever it travels; the model that
 * references a container separately records the SHA-256 of the whole
 * container, which binds the model to that exact file.
 *
 * The reader trusts nothing: ocs_blob_parse checks every length against
 * the bytes actually present (with overflow-free arithmetic), never reads
 * outside [buf, buf + len), allocates nothing, and returns views into the
 * caller's buffer.
 */
#ifndef OCS_BLOB_H
#define OCS_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "ocs/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCS_BLOB_MAGIC "OCSBC\r\n\x1a"
#define OCS_BLOB_MAGIC_LEN 8
#define OCS_BLOB_VERSION 1u
#define OCS_BLOB_HEADER 32
#define OCS_BLOB_TRAILER 32
#define OCS_BLOB_MAX_ID 64
#define OCS_BLOB_MAX_COMPAT 4096

/* A parsed container: views into the buffer given to ocs_blob_parse. */
typedef struct ocs_blob {
    uint32_t version;
    const char *backend;            /* not NUL-terminated */
    size_t backend_len;
    const char *compat;             /* not NUL-terminated */
    size_t compat_len;
    const unsigned char *payload;
    size_t payload_len;
    const unsigned char *digest;    /* the 32-byte trailer */
    const unsigned char *bytes;     /* the whole container */
    size_t len;
} ocs_blob;

/*
 * Checks the structure of len bytes and fills *out.  OCS_ERR_INVALID with
 * a reason for anything malformed (bad magic, truncated, a length beyond
 * the bytes present, trailing bytes, non-zero flags, bad characters);
 * OCS_ERR_UNSUPPORTED for a well-formed container of a format version this
 * reader does not know.  The digest is not checked here.
 */
ocs_status ocs_blob_parse(const void *buf, size_t len, ocs_blob *out, ocs_err *err);

/* Checks the trailing SHA-256 of a parsed container; OCS_ERR_INVALID on a mismatch. */
ocs_status ocs_blob_verify(const ocs_blob *b, ocs_err *err);

/*
 * Builds a container.  backend must be 1..OCS_BLOB_MAX_ID characters of
 * [a-z0-9_.-]; compat at most OCS_BLOB_MAX_COMPAT printable ASCII
 * characters.  *out is malloc'd; the caller frees it.
 */
ocs_status ocs_blob_write(const char *backend, const char *compat, const void *payload, size_t payload_len,
                          void **out, size_t *out_len, ocs_err *err);

/* Whether s (n bytes) is a valid backend id / compatibility string. */
int ocs_blob_id_valid(const char *s, size_t n);
int ocs_blob_compat_valid(const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* OCS_BLOB_H */
