/*
 * spec/external_data.c - reading and writing whole files, and the external
 * data of tensors stored outside the model file.
 *
 * External data follows ONNX's ExternalData.md: the keys location, offset
 * and length name a byte range of a file whose path is relative to the
 * model's folder.  Because a model is untrusted input, the location must be
 * relative, free of ".." components, and resolve (after every symlink) to a
 * regular file inside the model's folder; the byte range must lie inside the
 * file.  Files are opened non-blocking so that a FIFO can never stall the
 * loader.
 */
#include "external_data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISLNK(m)) return "a symbolic link";
    return "not a regular file";
}

/* Reads exactly n bytes from fd's current position. */
static ocs_status read_exact(int fd, void *buf, size_t n, const char *what, ocs_err *err)
{
    unsigned char *p = buf;
    while (n > 0) {
        size_t chunk = n > (size_t)1 << 30 ? (size_t)1 << 30 : n;
        ssize_t got = read(fd, p, chunk);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return ocs_fail(err, OCS_ERR_IO, "reading '%s': %s", what, strerror(errno));
        }
        if (got == 0)
            return ocs_fail(err, OCS_ERR_IO, "reading '%s': file ended early (it changed while being read?)",
                            what);
        p += got;
        n -= (size_t)got;
    }
    return OCS_OK;
}

static ocs_status write_all(int fd, const void *buf, size_t n, const char *what, ocs_err *err)
{
    const unsigned char *p = buf;
    while (n > 0) {
        size_t chunk = n > (size_t)1 << 30 ? (size_t)1 << 30 : n;
        ssize_t put = write(fd, p, chunk);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            return ocs_fail(err, OCS_ERR_IO, "writing '%s': %s", what, strerror(errno));
        }
        p += put;
        n -= (size_t)put;
    }
    return OCS_OK;
}

/* Opens a path that must be a regular file, without blocking on FIFOs. */
static ocs_status open_regular(const char *path, int extra_flags, int *fd_out, off_t *size,
                               ocs_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return ocs_fail(err, OCS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ocs_fail(err, OCS_ERR_IO, "'%s' is %s, not a regular file", path, file_kind(st.st_mode));
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | extra_flags);
    if (fd < 0)
        return ocs_fail(err, OCS_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ocs_fail(err, OCS_ERR_IO, "'%s' is not a regular file", path);
    }
    *fd_out = fd;
    *size = st.st_size;
    return OCS_OK;
}

ocs_status ocs_file_read(const char *path, void **buf, size_t *len, ocs_err *err)
{
    *buf = NULL;
    *len = 0;
    if (!path || !*path)
        return ocs_fail(err, OCS_ERR_INVALID, "empty file name");
    int fd;
    off_t size;
    ocs_status s = open_regular(path, 0, &fd, &size, err);
    if (s != OCS_OK)
        return s;
    if (size < 0 || (uintmax_t)size > SIZE_MAX - 1) {
        close(fd);
        return ocs_fail(err, OCS_ERR_NOMEM, "'%s' is too large to read", path);
    }
    size_t n = (size_t)size;
    void *p = malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return ocs_fail(err, OCS_ERR_NOMEM, "no memory to read '%s' (%zu bytes)", path, n);
    }
    s = read_exact(fd, p, n, path, err);
    close(fd);
    if (s != OCS_OK) {
        free(p);
        return s;
    }
    *buf = p;
    *len = n;
    return OCS_OK;
}

char *ocs_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *src = ".";
    size_t n = 1;
    if (slash == path) {
        src = "/";
    } else if (slash) {
        src = path;
        n = (size_t)(slash - path);
    }
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, src, n);
    d[n] = '\0';
    return d;
}

ocs_status ocs_file_write_atomic(const char *path, const void *buf, size_t len, ocs_err *err)
{
    if (!path || !*path)
        return ocs_fail(err, OCS_ERR_INVALID, "empty file name");
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmpXXXXXX");
    if (!tmp)
        return ocs_fail(err, OCS_ERR_NOMEM, "no memory for a temporary name");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmpXXXXXX", sizeof ".tmpXXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ocs_status s = ocs_fail(err, OCS_ERR_IO, "cannot create a temporary file next to '%s': %s",
                                path, strerror(errno));
        free(tmp);
        return s;
    }
    ocs_status s = write_all(fd, buf, len, tmp, err);
    if (s == OCS_OK && fchmod(fd, 0644) != 0)
        s = ocs_fail(err, OCS_ERR_IO, "chmod '%s': %s", tmp, strerror(errno));
    if (s == OCS_OK && fsync(fd) != 0)
        s = ocs_fail(err, OCS_ERR_IO, "fsync '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == OCS_OK)
        s = ocs_fail(err, OCS_ERR_IO, "close '%s': %s", tmp, strerror(errno));
    if (s == OCS_OK && rename(tmp, path) != 0)
        s = ocs_fail(err, OCS_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (s != OCS_OK) {
        unlink(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    /* Make the rename itself durable; failure here loses nothing already written. */
    char *dir = ocs_path_dirname(path);
    if (dir) {
        int dfd = open(dir, O_RDONLY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return OCS_OK;
}

/* Parses an external_data offset or length: decimal digits only. */
static ocs_status parse_size_key(const char *key, const char *text, const char *location,
                                 uint64_t *out, ocs_err *err)
{
    uint64_t v = 0;
    const char *p = text;
    if (!*p)
        return ocs_fail(err, OCS_ERR_INVALID, "external data '%s': %s is empty", location, key);
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return ocs_fail(err, OCS_ERR_INVALID,
                            "external data '%s': %s '%s' is not a non-negative integer", location, key,
                            text);
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return ocs_fail(err, OCS_ERR_INVALID, "external data '%s': %s '%s' is too large", location,
                            key, text);
        v = v * 10 + d;
    }
    *out = v;
    return OCS_OK;
}

/* Syntactic checks on location: relative, no ".." component. */
static ocs_status check_location(const char *location, ocs_err *err)
{
    if (!location || !*location)
        return ocs_fail(err, OCS_ERR_INVALID, "external data has no 'location'");
    if (location[0] == '/' || location[0] == '\\' ||
        (((location[0] >= 'A' && location[0] <= 'Z') || (location[0] >= 'a' && location[0] <= 'z')) &&
         location[1] == ':'))
        return ocs_fail(err, OCS_ERR_INVALID,
                        "external data location '%s' is an absolute path; it must be relative to the "
                        "model's folder", location);
    const char *p = location;
    while (*p) {
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return ocs_fail(err, OCS_ERR_INVALID,
                            "external data location '%s' has a '..' component; it must stay inside the "
                            "model's folder", location);
        p += n;
        if (*p)
            p++;
    }
    return OCS_OK;
}

static int path_inside(const char *base, const char *file)
{
    size_t n = strlen(base);
    if (n == 1 && base[0] == '/')
        return file[0] == '/' && file[1] != '\0';
    return strncmp(base, file, n) == 0 && file[n] == '/' && file[n + 1] != '\0';
}

ocs_status ocs_external_data_read(const char *base_dir, const char *location,
                                  const char *offset, const char *length,
                                  void **buf, size_t *len, ocs_err *err)
{
    *buf = NULL;
    *len = 0;
    ocs_status s = check_location(location, err);
    if (s != OCS_OK)
        return s;
    if (!base_dir)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "tensor data is in external file '%s' but the model's folder is unknown "
                        "(model loaded from memory without a base folder)", location);
    uint64_t off = 0, want = 0;
    int has_length = length != NULL;
    if (offset && (s = parse_size_key("offset", offset, location, &off, err)) != OCS_OK)
        return s;
    if (length && (s = parse_size_key("length", length, location, &want, err)) != OCS_OK)
        return s;

    size_t nb = strlen(base_dir), nl = strlen(location);
    char *joined = malloc(nb + nl + 2);
    if (!joined)
        return ocs_fail(err, OCS_ERR_NOMEM, "no memory for a path");
    memcpy(joined, base_dir, nb);
    joined[nb] = '/';
    memcpy(joined + nb + 1, location, nl + 1);

    char *rbase = NULL, *rfile = NULL;
    int fd = -1;
    void *data = NULL;
    rbase = realpath(*base_dir ? base_dir : ".", NULL);
    if (!rbase) {
        s = ocs_fail(err, OCS_ERR_IO, "model folder '%s': %s", base_dir, strerror(errno));
        goto done;
    }
    rfile = realpath(joined, NULL);
    if (!rfile) {
        s = ocs_fail(err, OCS_ERR_IO, "external data file '%s': %s", joined, strerror(errno));
        goto done;
    }
    if (!path_inside(rbase, rfile)) {
        s = ocs_fail(err, OCS_ERR_INVALID,
                     "external data location '%s' resolves to '%s', outside the model's folder '%s'",
                     location, rfile, rbase);
        goto done;
    }
    off_t size;
    s = open_regular(rfile, O_NOFOLLOW, &fd, &size, err);
    if (s != OCS_OK) {
        ocs_err_prefix(err, s, "external data location '%s': ", location);
        goto done;
    }
    uint64_t fsize = (uint64_t)size;
    if (off > fsize) {
        s = ocs_fail(err, OCS_ERR_INVALID,
                     "external data '%s': offset %llu is beyond the end of the file (%llu bytes)",
                     location, (unsigned long long)off, (unsigned long long)fsize);
        goto done;
    }
    if (has_length && want > fsize - off) {
        s = ocs_fail(err, OCS_ERR_INVALID,
                     "external data '%s': offset %llu + length %llu is beyond the end of the file "
                     "(%llu bytes)", location, (unsigned long long)off, (unsigned long long)want,
                     (unsigned long long)fsize);
        goto done;
    }
    if (!has_length)
        want = fsize - off;
    if (want > SIZE_MAX - 1) {
        s = ocs_fail(err, OCS_ERR_NOMEM, "external data '%s': %llu bytes is too large", location,
                     (unsigned long long)want);
        goto done;
    }
    data = malloc(want ? (size_t)want : 1);
    if (!data) {
        s = ocs_fail(err, OCS_ERR_NOMEM, "no memory for external data '%s' (%llu bytes)", location,
                     (unsigned long long)want);
        goto done;
    }
    if (lseek(fd, (off_t)off, SEEK_SET) == (off_t)-1) {
        s = ocs_fail(err, OCS_ERR_IO, "external data '%s': seek: %s", location, strerror(errno));
        goto done;
    }
    s = read_exact(fd, data, (size_t)want, location, err);
    if (s == OCS_OK) {
        *buf = data;
        *len = (size_t)want;
        data = NULL;
    }
done:
    if (fd >= 0)
        close(fd);
    free(data);
    free(rfile);
    free(rbase);
    free(joined);
    return s;
}
