/*
 * spec/blob.c - reading and writing the BackendContext blob container
 * (layout in include/ocs/blob.h).
 *
 * The reader checks, in this order: the magic, that the fixed header and
 * trailer fit, the format version, the reserved fields, each length against
 * what remains of the buffer (subtracting, never adding, so nothing can
 * overflow), and the characters of the backend id and compatibility string.
 * Every message names the field and the values involved.
 */
#include "ocs/blob.h"

#include <stdlib.h>
#include <string.h>

#include "ocs/sha256.h"

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void wr64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int ocs_blob_id_valid(const char *s, size_t n)
{
    if (!s || n == 0 || n > OCS_BLOB_MAX_ID)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int ocs_blob_compat_valid(const char *s, size_t n)
{
    if (n > OCS_BLOB_MAX_COMPAT || (n && !s))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

ocs_status ocs_blob_parse(const void *buf, size_t len, ocs_blob *out, ocs_err *err)
{
    memset(out, 0, sizeof *out);
    const unsigned char *p = buf;
    if (!p && len)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: no buffer");
    if (len < OCS_BLOB_MAGIC_LEN)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: truncated: %zu bytes, not even the %d-byte magic", len,
                        OCS_BLOB_MAGIC_LEN);
    if (memcmp(p, OCS_BLOB_MAGIC, OCS_BLOB_MAGIC_LEN) != 0)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "blob: wrong magic %02x %02x %02x %02x %02x %02x %02x %02x (not an OCS blob container)",
                        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
    if (len < OCS_BLOB_HEADER + OCS_BLOB_TRAILER)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: truncated: %zu bytes, the header and checksum alone take %d",
                        len, OCS_BLOB_HEADER + OCS_BLOB_TRAILER);
    uint32_t version = rd32(p + 8), flags = rd32(p + 12), reserved = rd32(p + 20);
    size_t b = rd16(p + 16), c = rd16(p + 18);
    uint64_t plen = rd64(p + 24);
    if (version != OCS_BLOB_VERSION)
        return ocs_fail(err, version == 0 ? OCS_ERR_INVALID : OCS_ERR_UNSUPPORTED,
                        "blob: format version %u; this reader knows version %u", version, OCS_BLOB_VERSION);
    if (flags != 0)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: flags 0x%08x; version 1 defines none", flags);
    if (reserved != 0)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: reserved field is 0x%08x, must be 0", reserved);
    if (b == 0 || b > OCS_BLOB_MAX_ID)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: backend id length %zu is outside 1..%d", b, OCS_BLOB_MAX_ID);
    if (c > OCS_BLOB_MAX_COMPAT)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: compatibility string length %zu exceeds %d", c,
                        OCS_BLOB_MAX_COMPAT);
    size_t avail = len - OCS_BLOB_HEADER - OCS_BLOB_TRAILER;
    if (b > avail || c > avail - b)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "blob: truncated: backend id (%zu) and compatibility string (%zu) need more than the %zu "
                        "bytes present", b, c, avail);
    avail -= b + c;
    if (plen > avail)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "blob: payload length %llu exceeds the %zu bytes present (oversized length or truncated "
                        "container)", (unsigned long long)plen, avail);
    if (plen < avail)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: %llu bytes follow the payload before the checksum; expected none",
                        (unsigned long long)(avail - plen));
    const char *id = (const char *)p + OCS_BLOB_HEADER;
    const char *compat = id + b;
    if (!ocs_blob_id_valid(id, b))
        return ocs_fail(err, OCS_ERR_INVALID, "blob: backend id has characters outside [a-z0-9_.-]");
    if (!ocs_blob_compat_valid(compat, c))
        return ocs_fail(err, OCS_ERR_INVALID, "blob: compatibility string has non-printable characters");
    out->version = version;
    out->backend = id;
    out->backend_len = b;
    out->compat = compat;
    out->compat_len = c;
    out->payload = (const unsigned char *)compat + c;
    out->payload_len = (size_t)plen;
    out->digest = p + len - OCS_BLOB_TRAILER;
    out->bytes = p;
    out->len = len;
    return OCS_OK;
}

ocs_status ocs_blob_verify(const ocs_blob *b, ocs_err *err)
{
    if (!b->bytes || b->len < OCS_BLOB_HEADER + OCS_BLOB_TRAILER)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: not parsed");
    ocs_sha256 s;
    unsigned char d[32];
    ocs_sha256_init(&s);
    ocs_sha256_update(&s, b->bytes, b->len - OCS_BLOB_TRAILER);
    ocs_sha256_final(&s, d);
    if (memcmp(d, b->digest, 32) != 0)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: the container's own SHA-256 does not match its contents");
    return OCS_OK;
}

ocs_status ocs_blob_write(const char *backend, const char *compat, const void *payload, size_t payload_len,
                          void **out, size_t *out_len, ocs_err *err)
{
    *out = NULL;
    *out_len = 0;
    size_t b = backend ? strlen(backend) : 0, c = compat ? strlen(compat) : 0;
    if (!ocs_blob_id_valid(backend, b))
        return ocs_fail(err, OCS_ERR_INVALID, "blob: backend id '%s' must be 1..%d characters of [a-z0-9_.-]",
                        backend ? backend : "", OCS_BLOB_MAX_ID);
    if (!ocs_blob_compat_valid(compat, c))
        return ocs_fail(err, OCS_ERR_INVALID,
                        "blob: compatibility string must be at most %d printable ASCII characters",
                        OCS_BLOB_MAX_COMPAT);
    if (payload_len && !payload)
        return ocs_fail(err, OCS_ERR_INVALID, "blob: no payload bytes");
    const size_t fixed = OCS_BLOB_HEADER + OCS_BLOB_TRAILER + b + c;
    if (payload_len > SIZE_MAX - fixed)
        return ocs_fail(err, OCS_ERR_NOMEM, "blob: a %zu-byte payload is too large", payload_len);
    size_t total = fixed + payload_len;
    unsigned char *p = malloc(total);
    if (!p)
        return ocs_fail(err, OCS_ERR_NOMEM, "blob: no memory for %zu bytes", total);
    memcpy(p, OCS_BLOB_MAGIC, OCS_BLOB_MAGIC_LEN);
    wr32(p + 8, OCS_BLOB_VERSION);
    wr32(p + 12, 0);
    wr16(p + 16, (uint16_t)b);
    wr16(p + 18, (uint16_t)c);
    wr32(p + 20, 0);
    wr64(p + 24, (uint64_t)payload_len);
    memcpy(p + OCS_BLOB_HEADER, backend, b);
    if (c)
        memcpy(p + OCS_BLOB_HEADER + b, compat, c);
    if (payload_len)
        memcpy(p + OCS_BLOB_HEADER + b + c, payload, payload_len);
    ocs_sha256 s;
    ocs_sha256_init(&s);
    ocs_sha256_update(&s, p, total - OCS_BLOB_TRAILER);
    ocs_sha256_final(&s, p + total - OCS_BLOB_TRAILER);
    *out = p;
    *out_len = total;
    return OCS_OK;
}
