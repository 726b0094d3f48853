/*
 * conformance/run.c - `ocs run`: the conformance suite on every backend.
 *
 * Selects the cases (the generated default set, or a tree in the ONNX
 * backend-test layout with --tests), the backends (reference, expanded,
 * the built-in backends, plugins given with --backend-lib, programs given
 * with --backend-cmd), runs them through the runner (runner.h), prints a
 * FAIL/ERROR line plus the command that reproduces it as results arrive (a
 * progress bar on a terminal), writes the JUnit XML and the scoreboard
 * (report.h), and ends with "N passed, N failed, N skipped".  The exit
 * status is 1 on any FAIL or ERROR, 2 when the run could not be made.
 */
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "case.h"
#include "cases/cases.h"
#include "cli.h"
#include "plugin.h"
#include "report.h"
#include "runner.h"

#define OCS_RUN_VERSION "0.1.0"
#define MAX_TARGETS 32

typedef struct run_opts {
    int list;
    const char *ops;           /* comma list */
    const char *backends;      /* comma list */
    const char *filter;
    regex_t re;
    int have_re;
    uint64_t seed;
    int shard_i, shard_n;
    const char *shard_text;
    const char *junit;
    const char *scoreboard;
    const char *tests;
    const char *libs[MAX_TARGETS];
    size_t n_libs;
    const char *cmds[MAX_TARGETS];
    size_t n_cmds;
    int verbose, quiet;
    int timeout_set;
    const char *argv0;
    char self[4096];           /* this binary's path, for reproduce lines */
    ocs_runner_options ro;
} run_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ocs run [options]\n"
            "Runs the conformance cases on every backend and diffs each against the reference.\n"
            "options:\n"
            "  --list                   list the selected cases and backends; run nothing\n"
            "  --op OP[,OP...]          only these operators\n"
            "  --backend(s) B[,B...]    only these backends: reference, expanded, the built-in ones\n"
            "                           (cpu, cuda, ...), and names given by --backend-lib/--backend-cmd\n"
            "  --filter REGEX           only cases whose name matches (POSIX extended regex)\n"
            "  --seed N                 the run's seed (default 0); each case's seed derives from it\n"
            "  --shard I/N              only shard I of N (0 <= I < N), by a hash of the case name\n"
            "  -j N                     worker processes at once (default: the online CPUs)\n"
            "  --timeout S              seconds per case before it is an ERROR (default 60)\n"
            "  --command-timeout S      seconds for a --backend-cmd program's whole run\n"
            "                           (default: --timeout per case given to it)\n"
            "  --junit FILE             JUnit XML (default reports/junit.xml)\n"
            "  --scoreboard FILE        Markdown scoreboard (default reports/scoreboard.md)\n"
            "  --tests DIR              run an ONNX backend-test tree (one test or a folder of tests)\n"
            "                           against its stored outputs instead of the generated cases\n"
            "  --backend-lib [NAME=]SO  a backend plugin built against ocs/plugin.h (repeatable)\n"
            "  --backend-cmd NAME=PROG  a program run as `PROG IN OUT` over an exported tree (repeatable;\n"
            "                           protocol v1, see conformance/runner.c)\n"
            "  --rtol X | TYPE=X        override a default relative tolerance (e.g. float16=2e-3)\n"
            "  --atol X | TYPE=X        override a default absolute tolerance\n"
            "  --no-fork                run in this process (debugging: a crash ends the run)\n"
            "  -v, --verbose            print every result, not only FAIL and ERROR\n"
            "  -q, --quiet              no progress bar\n");
}

/* ---- shell quoting for the reproduce line --------------------------------------------------- */

static void append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static void append_quoted(char *buf, size_t len, const char *s)
{
    int plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=,:+", *p) != NULL;
    if (plain) {
        append(buf, len, "%s", s);
        return;
    }
    append(buf, len, "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            append(buf, len, "'\\''");
        else
            append(buf, len, "%c", *p);
    }
    append(buf, len, "'");
}

static void repro_line(void *user, const ocs_case *c, const ocs_target *t, char *buf, size_t len)
{
    const run_opts *o = user;
    buf[0] = '\0';
    append_quoted(buf, len, o->argv0);
    append(buf, len, " run");
    if (o->tests) {
        append(buf, len, " --tests ");
        append_quoted(buf, len, o->tests);
    } else {
        append(buf, len, " --seed %llu", (unsigned long long)o->seed);
    }
    if (t->kind == OCS_TARGET_BACKEND && t->open != ocs_backend_open) {
        char spec[1200];
        snprintf(spec, sizeof spec, "%s=%s", t->name, t->arg);
        append(buf, len, " --backend-lib ");
        append_quoted(buf, len, spec);
    } else if (t->kind == OCS_TARGET_COMMAND) {
        char spec[1200];
        snprintf(spec, sizeof spec, "%s=%s", t->name, t->arg);
        append(buf, len, " --backend-cmd ");
        append_quoted(buf, len, spec);
    }
    append(buf, len, " --backend ");
    append_quoted(buf, len, t->name);
    if (o->timeout_set)
        append(buf, len, " --timeout %g", o->ro.timeout_s);
    char re[300];
    snprintf(re, sizeof re, "^%s$", c->name);
    append(buf, len, " --filter ");
    append_quoted(buf, len, re);
}

/* ---- console output ---------------------------------------------------------------------- */

typedef struct console {
    run_opts *o;
    int tty;
    size_t done, total;
    size_t n[4];
} console;

static void bar(console *con, const ocs_case *c, const ocs_target *t)
{
    if (!con->tty)
        return;
    int width = 30;
    int filled = con->total ? (int)((double)con->done / (double)con->total * width) : width;
    char line[256];
    int k = snprintf(line, sizeof line, "\r[");
    for (int i = 0; i < width && k < (int)sizeof line - 2; i++)
        line[k++] = i < filled ? '#' : '.';
    snprintf(line + k, sizeof line - (size_t)k, "] %zu/%zu  %zu failed  %.20s %.40s\033[K", con->done, con->total,
             con->n[OCS_FAIL] + con->n[OCS_ERROR], t ? t->name : "", c ? c->name : "");
    fputs(line, stdout);
    fflush(stdout);
}

static void on_result(void *user, const ocs_case *c, const ocs_target *t, const ocs_result *r)
{
    console *con = user;
    con->done++;
    con->n[r->outcome]++;
    int loud = r->outcome == OCS_FAIL || r->outcome == OCS_ERROR;
    if (loud || con->o->verbose) {
        if (con->tty)
            fputs("\r\033[K", stdout);
        printf("%-7s %s %s %s: %s\n", ocs_outcome_name(r->outcome), t->name, c->op, c->name,
               r->message[0] ? r->message : "ok");
        if (loud) {
            char repro[2048];
            repro_line(con->o, c, t, repro, sizeof repro);
            printf("        reproduce: %s\n", repro);
        }
    }
    bar(con, c, t);
}

/* ---- selecting cases ----------------------------------------------------------------------- */

static int in_list(const char *list, const char *name)
{
    if (!list)
        return 1;
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

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_test_dir(ocs_case_list *l, const char *dir)
{
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    char model[4200], op[128];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    ocs_model *m = NULL;
    ocs_err err;
    if (ocs_model_load_file(model, &m, &err) != OCS_OK)
        m = NULL;
    ocs_test_dir_op(base, m, op, sizeof op);
    ocs_model_free(m);
    ocs_case_add_dir(l, base, op, dir);
}

/* The test folders under root (root itself when it holds model.onnx). */
static int collect_tests(ocs_case_list *l, const char *root)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.onnx", root);
    if (is_file(path)) {
        char trimmed[4096];
        snprintf(trimmed, sizeof trimmed, "%s", root);
        size_t n = strlen(trimmed);
        while (n > 1 && trimmed[n - 1] == '/')
            trimmed[--n] = '\0';
        add_test_dir(l, trimmed);
        return 0;
    }
    DIR *d = opendir(root);
    if (!d) {
        fprintf(stderr, "ocs run: %s: %s\n", root, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        if ((names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    if (names)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char sub[4200];
        if (snprintf(sub, sizeof sub, "%s/%s", root, names[i]) < (int)sizeof sub &&
            snprintf(path, sizeof path, "%s/model.onnx", sub) < (int)sizeof path && is_file(path))
            add_test_dir(l, sub);
        free(names[i]);
    }
    free(names);
    return 0;
}

static int selected(const run_opts *o, const ocs_case *c)
{
    if (o->ops && !in_list(o->ops, c->op))
        return 0;
    if (o->have_re && regexec(&o->re, c->name, 0, NULL, 0) != 0)
        return 0;
    if (o->shard_n > 0 && ocs_case_shard(c->name, o->shard_n) != o->shard_i)
        return 0;
    return 1;
}

/* Keeps the selected cases of l (moving, not copying, what they own). */
static void keep_selected(const run_opts *o, ocs_case_list *l)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (!selected(o, &l->items[i])) {
            ocs_case_clear(&l->items[i]);
            continue;
        }
        if (k != i)
            l->items[k] = l->items[i];
        k++;
    }
    l->n = k;
}

/* ---- selecting targets ------------------------------------------------------------------------ */

static ocs_status open_plugin(const char *path, ocs_backend **out, ocs_err *err)
{
    return ocs_plugin_open(path, out, err);
}

static int add_target(ocs_target *ts, size_t *n, const char *name, ocs_target_kind kind, ocs_target_open_fn open,
                      const char *arg)
{
    if (*n >= MAX_TARGETS) {
        fprintf(stderr, "ocs run: more than %d backends\n", MAX_TARGETS);
        return -1;
    }
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(ts[i].name, name)) {
            fprintf(stderr, "ocs run: two backends are called '%s'\n", name);
            return -1;
        }
    ocs_target *t = &ts[(*n)++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->open = open;
    snprintf(t->arg, sizeof t->arg, "%s", arg ? arg : "");
    return 0;
}

/* "NAME=VALUE" -> name, value; or plain VALUE with a name derived from its file name. */
static int split_spec(const char *spec, int need_name, char *name, size_t name_len, const char **value)
{
    const char *eq = strchr(spec, '=');
    const char *slash = strchr(spec, '/');
    if (eq && (!slash || eq < slash) && eq > spec) {
        size_t n = (size_t)(eq - spec);
        if (n >= name_len)
            return -1;
        memcpy(name, spec, n);
        name[n] = '\0';
        *value = eq + 1;
        return **value ? 0 : -1;
    }
    if (need_name)
        return -1;
    const char *base = strrchr(spec, '/');
    base = base ? base + 1 : spec;
    if (!strncmp(base, "lib", 3) && base[3])
        base += 3;
    snprintf(name, name_len, "%s", base);
    char *dot = strstr(name, ".so");
    if (dot)
        *dot = '\0';
    *value = spec;
    return name[0] ? 0 : -1;
}

static int build_targets(run_opts *o, ocs_target *ts, size_t *n)
{
    *n = 0;
    if (add_target(ts, n, "reference", OCS_TARGET_REFERENCE, NULL, NULL) ||
        add_target(ts, n, "expanded", OCS_TARGET_EXPANDED, NULL, NULL))
        return -1;
    for (const char *const *b = ocs_backend_names(); *b; b++)
        if (add_target(ts, n, *b, OCS_TARGET_BACKEND, ocs_backend_open, *b))
            return -1;
    for (size_t i = 0; i < o->n_libs; i++) {
        char name[64];
        const char *path;
        if (split_spec(o->libs[i], 0, name, sizeof name, &path)) {
            fprintf(stderr, "ocs run: bad --backend-lib '%s' (want [NAME=]PATH)\n", o->libs[i]);
            return -1;
        }
        if (add_target(ts, n, name, OCS_TARGET_BACKEND, open_plugin, path))
            return -1;
    }
    for (size_t i = 0; i < o->n_cmds; i++) {
        char name[64];
        const char *prog;
        if (split_spec(o->cmds[i], 1, name, sizeof name, &prog)) {
            fprintf(stderr, "ocs run: bad --backend-cmd '%s' (want NAME=PROGRAM)\n", o->cmds[i]);
            return -1;
        }
        if (add_target(ts, n, name, OCS_TARGET_COMMAND, NULL, prog))
            return -1;
    }
    if (o->backends) {
        /* every name asked for must exist */
        for (const char *p = o->backends; *p;) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            int found = 0;
            for (size_t i = 0; i < *n && !found; i++)
                found = strlen(ts[i].name) == len && !strncasecmp(ts[i].name, p, len);
            if (!found && len) {
                fprintf(stderr, "ocs run: no backend called '%.*s'; there are:", (int)len, p);
                for (size_t i = 0; i < *n; i++)
                    fprintf(stderr, " %s", ts[i].name);
                fprintf(stderr, "\n");
                return -1;
            }
            if (!end)
                break;
            p = end + 1;
        }
        size_t k = 0;
        for (size_t i = 0; i < *n; i++)
            if (in_list(o->backends, ts[i].name))
                ts[k++] = ts[i];
        *n = k;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (end == s || *end || errno || *s == '-')
        return -1;
    *v = x;
    return 0;
}

static int parse_seconds(const char *s, double *v)
{
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || !(x > 0) || x > 1e7)
        return -1;
    *v = x;
    return 0;
}

static int parse_args(run_opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                            \
    do {                                                                        \
        if (!v) {                                                               \
            fprintf(stderr, "ocs run: %s needs a value\n", a);                  \
            return -1;                                                          \
        }                                                                       \
        i++;                                                                    \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--list")) {
            o->list = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (!strcmp(a, "--no-fork")) {
            o->ro.no_fork = 1;
        } else if (!strcmp(a, "--op")) {
            NEED_VALUE();
            o->ops = v;
        } else if (!strcmp(a, "--backend") || !strcmp(a, "--backends")) {
            NEED_VALUE();
            o->backends = v;
        } else if (!strcmp(a, "--filter")) {
            NEED_VALUE();
            o->filter = v;
            if (o->have_re)
                regfree(&o->re);
            o->have_re = 0;
            int rc = regcomp(&o->re, v, REG_EXTENDED | REG_NOSUB);
            if (rc) {
                char msg[256];
                regerror(rc, &o->re, msg, sizeof msg);
                fprintf(stderr, "ocs run: bad --filter '%s': %s\n", v, msg);
                return -1;
            }
            o->have_re = 1;
        } else if (!strcmp(a, "--seed")) {
            NEED_VALUE();
            if (parse_u64(v, &o->seed)) {
                fprintf(stderr, "ocs run: bad --seed '%s'\n", v);
                return -1;
            }
        } else if (!strcmp(a, "--shard")) {
            NEED_VALUE();
            int si, sn, used = 0;
            if (sscanf(v, "%d/%d%n", &si, &sn, &used) != 2 || v[used] || sn < 1 || si < 0 || si >= sn) {
                fprintf(stderr, "ocs run: bad --shard '%s' (want I/N with 0 <= I < N)\n", v);
                return -1;
            }
            o->shard_i = si;
            o->shard_n = sn;
            o->shard_text = v;
        } else if (!strcmp(a, "-j") || !strncmp(a, "-j", 2)) {
            const char *num = a[2] ? a + 2 : v;
            if (!a[2])
                NEED_VALUE();
            uint64_t j;
            if (!num || parse_u64(num, &j) || j < 1 || j > 1024) {
                fprintf(stderr, "ocs run: bad -j '%s'\n", num ? num : "");
                return -1;
            }
            o->ro.jobs = (int)j;
        } else if (!strcmp(a, "--timeout")) {
            NEED_VALUE();
            if (parse_seconds(v, &o->ro.timeout_s)) {
                fprintf(stderr, "ocs run: bad --timeout '%s'\n", v);
                return -1;
            }
            o->timeout_set = 1;
        } else if (!strcmp(a, "--command-timeout")) {
            NEED_VALUE();
            if (parse_seconds(v, &o->ro.command_timeout_s)) {
                fprintf(stderr, "ocs run: bad --command-timeout '%s'\n", v);
                return -1;
            }
        } else if (!strcmp(a, "--junit")) {
            NEED_VALUE();
            o->junit = v;
        } else if (!strcmp(a, "--scoreboard")) {
            NEED_VALUE();
            o->scoreboard = v;
        } else if (!strcmp(a, "--tests")) {
            NEED_VALUE();
            o->tests = v;
        } else if (!strcmp(a, "--backend-lib")) {
            NEED_VALUE();
            if (o->n_libs >= MAX_TARGETS)
                return -1;
            o->libs[o->n_libs++] = v;
        } else if (!strcmp(a, "--backend-cmd")) {
            NEED_VALUE();
            if (o->n_cmds >= MAX_TARGETS)
                return -1;
            o->cmds[o->n_cmds++] = v;
        } else if (!strcmp(a, "--rtol") || !strcmp(a, "--atol")) {
            NEED_VALUE();
            int r = a[2] == 'r';
            if (ocs_tolerance_parse(&o->ro.tol, r, v) || ocs_tolerance_parse(&o->ro.tol_stored, r, v)) {
                fprintf(stderr, "ocs run: bad tolerance '%s' for %s\n", v, a);
                return -1;
            }
        } else {
            fprintf(stderr, "ocs run: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        }
#undef NEED_VALUE
    }
    return 0;
}

static void command_text(int argc, char **argv, char *buf, size_t len)
{
    buf[0] = '\0';
    append(buf, len, "ocs");
    for (int i = 0; i < argc; i++) {
        append(buf, len, " ");
        append_quoted(buf, len, argv[i]);
    }
}

static void list_cases(const ocs_case_list *l, const ocs_target *ts, size_t nt)
{
    for (size_t i = 0; i < l->n; i++) {
        const ocs_case *c = &l->items[i];
        if (c->dir) {
            printf("%-20s %s  (%s)\n", c->op, c->name, c->dir);
            continue;
        }
        printf("%-20s %s  opset %s:%lld seed %llu", c->op, c->name, c->domain[0] ? c->domain : "ai.onnx",
               (long long)c->opset, (unsigned long long)c->seed);
        if (c->xfail)
            printf("  [expected failure%s%s: %s]", c->xfail_backends ? " on " : "",
                   c->xfail_backends ? c->xfail_backends : "", c->xfail);
        if (c->expect_error)
            printf("  [invalid input: must be rejected%s%s]", c->expect_error[0] ? " with " : "",
                   c->expect_error);
        printf("\n");
    }
    printf("%zu cases; backends:", l->n);
    for (size_t i = 0; i < nt; i++)
        printf(" %s", ts[i].name);
    printf("\n");
}

int ocs_cmd_run(int argc, char **argv)
{
    run_opts o;
    memset(&o, 0, sizeof o);
    o.argv0 = getenv("OCS_ARGV0") ? getenv("OCS_ARGV0") : "ocs";
    ocs_runner_options_init(&o.ro);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.ro.jobs = cpus > 0 ? (int)(cpus < 64 ? cpus : 64) : 1;
    o.junit = "reports/junit.xml";
    o.scoreboard = "reports/scoreboard.md";
    int rc = parse_args(&o, argc, argv);
    if (rc)
        return rc > 0 ? 0 : 2;
    {
        /* the path this binary was run as, for reproduce lines */
        ssize_t n = readlink("/proc/self/exe", o.self, sizeof o.self - 1);
        if (!getenv("OCS_ARGV0") && n > 0) {
            o.self[n] = '\0';
            char cwd[4096];
            size_t cl = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
            o.argv0 = cl && !strncmp(o.self, cwd, cl) && o.self[cl] == '/' ? o.self + cl + 1 : o.self;
        }
    }

    ocs_target targets[MAX_TARGETS];
    size_t n_targets = 0;
    if (build_targets(&o, targets, &n_targets))
        return 2;

    ocs_case_list l;
    ocs_case_list_init(&l);
    if (o.tests) {
        if (collect_tests(&l, o.tests)) {
            ocs_case_list_free(&l);
            return 2;
        }
    } else {
        ocs_cases_all(&l);
    }
    ocs_err err = {{0}};
    if (ocs_case_list_finish(&l, &err) != OCS_OK) {
        fprintf(stderr, "ocs run: %s\n", err.msg);
        ocs_case_list_free(&l);
        return 2;
    }
    ocs_case_list_seed(&l, o.seed);
    keep_selected(&o, &l);
    if (o.have_re)
        regfree(&o.re);

    if (o.list) {
        list_cases(&l, targets, n_targets);
        ocs_case_list_free(&l);
        return 0;
    }
    if (l.n == 0)
        fprintf(stderr, "ocs run: no case matches the selection\n");

    console con = {&o, isatty(1) && !o.quiet, 0, l.n * n_targets, {0}};
    o.ro.on_result = on_result;
    o.ro.user = &con;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ocs_result *results = NULL;
    ocs_status st = ocs_run_cases(l.items, l.n, targets, n_targets, &o.ro, &results, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (con.tty)
        fputs("\r\033[K", stdout);
    if (st != OCS_OK) {
        fprintf(stderr, "ocs run: %s\n", err.msg);
        ocs_case_list_free(&l);
        return 2;
    }

    char command[4096];
    command_text(argc, argv, command, sizeof command);
    ocs_report_info info = {
        .ocs_version = OCS_RUN_VERSION,
        .seed = o.seed,
        .command = command,
        .shard = o.shard_text,
        .filter = o.filter,
        .tests_dir = o.tests,
        .opt = &o.ro,
        .wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
        .repro = repro_line,
        .user = &o,
    };
    int exit_code = 0;
    const char *paths[2] = {o.junit, o.scoreboard};
    for (int k = 0; k < 2; k++) {
        if (!paths[k] || !paths[k][0])
            continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", paths[k]);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (ocs_path_mkdirs(dir, &err) != OCS_OK) {
                fprintf(stderr, "ocs run: %s\n", err.msg);
                exit_code = 2;
                continue;
            }
        }
        st = k == 0 ? ocs_report_junit(paths[k], &info, l.items, l.n, targets, n_targets, results, &err)
                    : ocs_report_scoreboard(paths[k], &info, l.items, l.n, targets, n_targets, results, &err);
        if (st != OCS_OK) {
            fprintf(stderr, "ocs run: %s\n", err.msg);
            exit_code = 2;
        }
    }

    size_t n[4] = {0};
    for (size_t t = 0; t < n_targets; t++) {
        size_t m[4] = {0};
        for (size_t c = 0; c < l.n; c++)
            m[results[t * l.n + c].outcome]++;
        for (int k = 0; k < 4; k++)
            n[k] += m[k];
        printf("%-12s %zu passed, %zu failed, %zu errors, %zu skipped\n", targets[t].name, m[OCS_PASS], m[OCS_FAIL],
               m[OCS_ERROR], m[OCS_SKIPPED]);
    }
    printf("reports: %s, %s (%.1f s)\n", o.junit, o.scoreboard, info.wall_s);
    if (n[OCS_ERROR])
        printf("%zu errors (counted as failed)\n", n[OCS_ERROR]);
    printf("%zu passed, %zu failed, %zu skipped\n", n[OCS_PASS], n[OCS_FAIL] + n[OCS_ERROR], n[OCS_SKIPPED]);
    free(results);
    ocs_case_list_free(&l);
    if (exit_code)
        return exit_code;
    return n[OCS_FAIL] || n[OCS_ERROR] ? 1 : 0;
}
