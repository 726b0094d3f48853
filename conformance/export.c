/*
 * conformance/export.c - `ocs export DIR`: the generated cases in the ONNX
 * backend-test layout, with a SHA-256 manifest.
 *
 * Every selected case becomes DIR/<case>/model.onnx (one node; graph
 * outputs declare the reference's shapes), DIR/<case>/test_data_set_0/
 * input_<i>.pb and output_<i>.pb (the reference outputs), and, when the
 * operator has a function body, DIR/<case>/model_expanded.onnx.  A case the
 * reference cannot run is left out with a note; invalid-input cases (which
 * must fail) are left out, since the layout cannot express them.  DIR/SHA256SUMS lists
 * every file of every case folder as "<sha256>  <path>" lines sorted by
 * path, so `sha256sum -c SHA256SUMS` checks a copy without OCS.
 * Regenerating removes the case folders the previous manifest listed first.
 *
 * `ocs export --check DIR` exports into a temporary folder and compares:
 * files that changed, appeared or disappeared against DIR/SHA256SUMS, and
 * files in DIR that do not match their manifest line or are not listed.
 * Any difference exits 1 (reference drift, or a hand-edited file).
 */
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "case.h"
#include "cases/cases.h"
#include "cli.h"
#include "ocs/sha256.h"

#define MANIFEST "SHA256SUMS"

typedef struct flist {
    char **items;
    size_t n, cap;
    int oom;
} flist;

static void flist_add(flist *f, const char *s)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        char **grown = realloc(f->items, cap * sizeof *grown);
        if (!grown) {
            f->oom = 1;
            return;
        }
        f->items = grown;
        f->cap = cap;
    }
    if (!(f->items[f->n] = strdup(s)))
        f->oom = 1;
    else
        f->n++;
}

static void flist_free(flist *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->items[i]);
    free(f->items);
    memset(f, 0, sizeof *f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the regular files under base/rel (relative paths), recursively. */
static void list_files(const char *base, const char *rel, flist *out)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[4400], full[8800];
        snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name);
        snprintf(full, sizeof full, "%s/%s", base, sub);
        struct stat st;
        if (lstat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            list_files(base, sub, out);
        else
            flist_add(out, sub);
    }
    closedir(d);
}

/* "hash  path" lines for the files of the case folders in dir, sorted. */
static ocs_status manifest_of(const char *dir, const flist *cases, flist *lines, ocs_err *err)
{
    flist files = {0};
    for (size_t i = 0; i < cases->n; i++)
        list_files(dir, cases->items[i], &files);
    if (files.oom) {
        flist_free(&files);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory listing %s", dir);
    }
    qsort(files.items, files.n, sizeof *files.items, cmp_str);
    for (size_t i = 0; i < files.n; i++) {
        char path[8800], hex[65], line[8900];
        snprintf(path, sizeof path, "%s/%s", dir, files.items[i]);
        ocs_status st = ocs_sha256_file(path, hex, err);
        if (st != OCS_OK) {
            flist_free(&files);
            return st;
        }
        snprintf(line, sizeof line, "%s  %s", hex, files.items[i]);
        flist_add(lines, line);
    }
    flist_free(&files);
    return lines->oom ? ocs_fail(err, OCS_ERR_NOMEM, "out of memory hashing %s", dir) : OCS_OK;
}

/* Reads a manifest's lines (empty list when the file does not exist). */
static void read_manifest(const char *path, flist *lines)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[8900];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 66)
            flist_add(lines, line);
    }
    fclose(f);
}

static const char *line_path(const char *line)
{
    return strlen(line) > 66 ? line + 66 : "";
}

/* The line of lines (sorted by path) whose path is p, or NULL. */
static const char *find_path(const flist *lines, const char *p)
{
    size_t lo = 0, hi = lines->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(line_path(lines->items[mid]), p);
        if (c == 0)
            return lines->items[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_line_path(const void *a, const void *b)
{
    return strcmp(line_path(*(char *const *)a), line_path(*(char *const *)b));
}

typedef struct export_opts {
    const char *ops;
    regex_t re;
    int have_re;
    uint64_t seed;
    int check, quiet;
    const char *dir;
} export_opts;

static int in_list(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && !strncasecmp(p, name, n))
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* Exports the selected cases into dir; names of the folders written go to written. */
static int export_into(const export_opts *o, const ocs_case_list *l, const char *dir, flist *written)
{
    ocs_err err = {{0}};
    size_t n_skipped = 0;
    for (size_t i = 0; i < l->n; i++) {
        const ocs_case *c = &l->items[i];
        if (o->ops && !in_list(o->ops, c->op))
            continue;
        if (o->have_re && regexec(&o->re, c->name, 0, NULL, 0) != 0)
            continue;
        if (c->expect_error)
            continue;   /* the layout cannot say "must fail" */
        ocs_case_inst ci;
        ocs_status st = ocs_case_instantiate(c, &ci, &err);
        if (st == OCS_OK)
            st = ocs_case_reference(&ci, &err);
        if (st != OCS_OK) {
            ocs_case_inst_free(&ci);
            if (st == OCS_ERR_UNSUPPORTED) {
                n_skipped++;
                if (!o->quiet)
                    fprintf(stderr, "ocs export: left out %s: %s\n", c->name, err.msg);
                continue;
            }
            fprintf(stderr, "ocs export: %s: the reference failed: %s\n", c->name, err.msg);
            return -1;
        }
        st = ocs_case_export(c, &ci, dir, NULL, &err);
        ocs_case_inst_free(&ci);
        if (st != OCS_OK) {
            fprintf(stderr, "ocs export: %s\n", err.msg);
            return -1;
        }
        flist_add(written, c->name);
    }
    if (written->oom) {
        fprintf(stderr, "ocs export: out of memory\n");
        return -1;
    }
    if (!o->quiet && n_skipped)
        fprintf(stderr, "ocs export: %zu cases left out (the reference does not run them yet)\n", n_skipped);
    return 0;
}

static int write_manifest(const char *dir, const flist *lines)
{
    size_t len = 0;
    for (size_t i = 0; i < lines->n; i++)
        len += strlen(lines->items[i]) + 1;
    char *buf = malloc(len + 1);
    if (!buf)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < lines->n; i++) {
        size_t n = strlen(lines->items[i]);
        memcpy(buf + o, lines->items[i], n);
        o += n;
        buf[o++] = '\n';
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, MANIFEST);
    ocs_err err = {{0}};
    ocs_status st = ocs_write_atomic(path, buf, o, &err);
    free(buf);
    if (st != OCS_OK) {
        fprintf(stderr, "ocs export: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int do_export(const export_opts *o, const ocs_case_list *l)
{
    ocs_err err = {{0}};
    if (ocs_path_mkdirs(o->dir, &err) != OCS_OK) {
        fprintf(stderr, "ocs export: %s\n", err.msg);
        return 2;
    }
    /* remove the case folders the previous manifest listed */
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", o->dir, MANIFEST);
    flist old = {0};
    read_manifest(path, &old);
    for (size_t i = 0; i < old.n; i++) {
        const char *p = line_path(old.items[i]);
        const char *slash = strchr(p, '/');
        if (!slash || slash == p || strstr(p, ".."))
            continue;
        char sub[4400];
        snprintf(sub, sizeof sub, "%s/%.*s", o->dir, (int)(slash - p), p);
        ocs_path_remove_tree(sub, NULL);
    }
    flist_free(&old);

    flist written = {0}, lines = {0};
    int rc = export_into(o, l, o->dir, &written) ? 2 : 0;
    if (rc == 0 && manifest_of(o->dir, &written, &lines, &err) != OCS_OK) {
        fprintf(stderr, "ocs export: %s\n", err.msg);
        rc = 2;
    }
    if (rc == 0 && write_manifest(o->dir, &lines))
        rc = 2;
    if (rc == 0 && !o->quiet)
        printf("exported %zu cases (%zu files) to %s, manifest %s/%s\n", written.n, lines.n, o->dir, o->dir,
               MANIFEST);
    flist_free(&written);
    flist_free(&lines);
    return rc;
}

static int do_check(const export_opts *o, const ocs_case_list *l)
{
    ocs_err err = {{0}};
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/ocs-export-XXXXXX", ocs_temp_base());
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "ocs export: cannot create a temporary folder: %s\n", strerror(errno));
        return 2;
    }
    flist written = {0}, fresh = {0}, old = {0};
    int rc = 0;
    size_t problems = 0;
    export_opts quiet = *o;
    quiet.quiet = 1;
    if (export_into(&quiet, l, tmp, &written) || manifest_of(tmp, &written, &fresh, &err) != OCS_OK) {
        if (err.msg[0])
            fprintf(stderr, "ocs export: %s\n", err.msg);
        rc = 2;
        goto done;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", o->dir, MANIFEST);
    read_manifest(path, &old);
    if (old.n == 0) {
        fprintf(stderr, "ocs export --check: %s is missing or empty\n", path);
        problems++;
    }
    qsort(old.items, old.n, sizeof *old.items, cmp_line_path);
    /* what the reference gives now against the manifest */
    for (size_t i = 0; i < fresh.n; i++) {
        const char *p = line_path(fresh.items[i]);
        const char *was = find_path(&old, p);
        if (!was) {
            printf("new:     %s (not in %s)\n", p, MANIFEST);
            problems++;
        } else if (strncmp(was, fresh.items[i], 64)) {
            printf("changed: %s (the reference now gives different bytes)\n", p);
            problems++;
        }
    }
    for (size_t i = 0; i < old.n; i++) {
        const char *p = line_path(old.items[i]);
        if (!find_path(&fresh, p)) {
            printf("stale:   %s (no longer generated)\n", p);
            problems++;
        }
    }
    /* the files on disk against the manifest */
    flist case_dirs = {0}, on_disk = {0};
    for (size_t i = 0; i < old.n; i++) {
        const char *p = line_path(old.items[i]);
        const char *slash = strchr(p, '/');
        if (!slash)
            continue;
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)(slash - p), p);
        if (case_dirs.n == 0 || strcmp(case_dirs.items[case_dirs.n - 1], name))
            flist_add(&case_dirs, name);
    }
    for (size_t i = 0; i < case_dirs.n; i++)
        list_files(o->dir, case_dirs.items[i], &on_disk);
    for (size_t i = 0; i < on_disk.n; i++) {
        const char *was = find_path(&old, on_disk.items[i]);
        char full[8800], hex[65];
        snprintf(full, sizeof full, "%s/%s", o->dir, on_disk.items[i]);
        if (!was) {
            printf("extra:   %s (not in %s)\n", on_disk.items[i], MANIFEST);
            problems++;
        } else if (ocs_sha256_file(full, hex, &err) != OCS_OK || strncmp(was, hex, 64)) {
            printf("edited:  %s (does not match %s)\n", on_disk.items[i], MANIFEST);
            problems++;
        }
    }
    for (size_t i = 0; i < old.n; i++) {
        char full[8800];
        snprintf(full, sizeof full, "%s/%s", o->dir, line_path(old.items[i]));
        if (access(full, F_OK) != 0) {
            printf("missing: %s\n", line_path(old.items[i]));
            problems++;
        }
    }
    flist_free(&case_dirs);
    flist_free(&on_disk);
    if (problems) {
        printf("%s differs from the generated cases in %zu places; regenerate with `ocs export %s` "
               "and review the difference\n",
               o->dir, problems, o->dir);
        rc = 1;
    } else if (!o->quiet) {
        printf("%s is up to date (%zu cases, %zu files)\n", o->dir, written.n, fresh.n);
    }
done:
    flist_free(&written);
    flist_free(&fresh);
    flist_free(&old);
    ocs_path_remove_tree(tmp, NULL);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ocs export [options] DIR\n"
               "Writes the generated cases in the ONNX backend-test layout with the reference outputs,\n"
               "plus DIR/" MANIFEST " (sha256sum format).\n"
               "options:\n"
               "  --op OP[,OP...]   only these operators\n"
               "  --filter REGEX    only cases whose name matches (POSIX extended regex)\n"
               "  --seed N          the seed the inputs derive from (default 0)\n"
               "  --check           compare DIR with a fresh export and its manifest; exit 1 on any difference\n"
               "  -q, --quiet       print only problems\n");
}

int ocs_cmd_export(int argc, char **argv)
{
    export_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--check")) {
            o.check = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(a, "--op") && i + 1 < argc) {
            o.ops = argv[++i];
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            char *end;
            errno = 0;
            o.seed = strtoull(argv[++i], &end, 0);
            if (*end || errno || argv[i][0] == '-') {
                fprintf(stderr, "ocs export: bad --seed '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--filter") && i + 1 < argc) {
            if (o.have_re)
                regfree(&o.re);
            if (regcomp(&o.re, argv[++i], REG_EXTENDED | REG_NOSUB)) {
                fprintf(stderr, "ocs export: bad --filter '%s'\n", argv[i]);
                return 2;
            }
            o.have_re = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "ocs export: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!o.dir) {
            o.dir = a;
        } else {
            fprintf(stderr, "ocs export: one DIR only\n");
            return 2;
        }
    }
    if (!o.dir) {
        usage(stderr);
        return 2;
    }
    ocs_case_list l;
    ocs_case_list_init(&l);
    ocs_cases_all(&l);
    ocs_err err = {{0}};
    int rc;
    if (ocs_case_list_finish(&l, &err) != OCS_OK) {
        fprintf(stderr, "ocs export: %s\n", err.msg);
        rc = 2;
    } else {
        ocs_case_list_seed(&l, o.seed);
        rc = o.check ? do_check(&o, &l) : do_export(&o, &l);
    }
    ocs_case_list_free(&l);
    if (o.have_re)
        regfree(&o.re);
    return rc;
}
