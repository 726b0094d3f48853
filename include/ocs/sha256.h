/*
 * ocs/sha256.h - SHA-256 (FIPS 180-4): blob checksums, report manifests.
 *
 * Incremental: init, update any number of times, final.  The digest is 32
 * bytes; ocs_sha256_hex writes it as 64 lower-case hex digits plus NUL.
 */
#ifndef OCS_SHA256_H
#define OCS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "ocs/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ocs_sha256 {
    uint32_t h[8];
    uint64_t total;          /* bytes hashed so far */
    unsigned char block[64];
    size_t fill;             /* bytes waiting in block */
} ocs_sha256;

void ocs_sha256_init(ocs_sha256 *s);
void ocs_sha256_update(ocs_sha256 *s, const void *data, size_t len);
void ocs_sha256_final(ocs_sha256 *s, unsigned char digest[32]);

/* One call: the digest of len bytes as hex into hex[65]. */
void ocs_sha256_hex(const void *data, size_t len, char hex[65]);

/* The digest of a file's contents as hex into hex[65]. */
ocs_status ocs_sha256_file(const char *path, char hex[65], ocs_err *err);

#ifdef __cplusplus
}
#endif
#endif /* OCS_SHA256_H */
