/*
 * The bundle a node needs on a host with nothing installed: the node
 * program and every shared library it loads that is not the C library
 * (libfastpool, UCX and its transport modules, hwloc, libconfig, OpenSSL,
 * the compiler's runtimes), as one tar named by the SHA-256 of its bytes.
 *
 * The file list comes from the dynamic loader itself (`ldd` on the program,
 * on libucp, which libfastpool loads with dlopen, and on each UCX module
 * next to libucs), so it is what this machine would load, not a list
 * written by hand.  The tar is made reproducibly (sorted names, mtime 0,
 * owner 0) in <cache>/bundles/<sha256>.tar; an index file keyed by the
 * inputs' paths, sizes and modification times finds it again without
 * hashing, so building costs once per set of inputs.
 */
#include "boot/boot.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <link.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXFILES 256

typedef struct bfile {
    char src[PATH_MAX]; /* real file */
    char dst[160];      /* path in the bundle: bin/x, lib/x, lib/ucx/x */
} bfile_t;

typedef struct blist {
    bfile_t f[MAXFILES];
    size_t n;
} blist_t;

/* The C library's own objects: the host's must be used. */
static bool is_libc(const char *name)
{
    static const char *const skip[] = {
        "linux-vdso.so", "ld-linux", "libc.so", "libm.so", "libpthread.so",
        "libdl.so", "librt.so", "libresolv.so", "libutil.so", "libanl.so",
        "libmvec.so", "libnsl.so", "libBrokenLocale.so", "libcrypt.so"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (strncmp(name, skip[i], strlen(skip[i])) == 0)
            return true;
    return false;
}

static bool have_dst(const blist_t *l, const char *dst)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->f[i].dst, dst) == 0)
            return true;
    return false;
}

static fp_status_t add_file(blist_t *l, const char *src, const char *dst,
                            fp_error_t *err)
{
    if (have_dst(l, dst))
        return FP_OK;
    if (l->n == MAXFILES) {
        fp__boot_err(err, FP_ERR_OVERFLOW, "bundle: more than %d files",
                     MAXFILES);
        return FP_ERR_OVERFLOW;
    }
    if (realpath(src, l->f[l->n].src) == NULL) {
        fp__boot_err(err, FP_ERR_NOT_FOUND, "bundle: %s: %s", src,
                     strerror(errno));
        return FP_ERR_NOT_FOUND;
    }
    /* one file once: UCX's modules are also DT_NEEDED by each other, and
     * one loaded from two files would register twice */
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->f[i].src, l->f[l->n].src) == 0)
            return FP_OK;
    fp__boot_fmt(l->f[l->n].dst, sizeof(l->f[l->n].dst), "%s", dst);
    l->n++;
    return FP_OK;
}

/* Every library `file` needs (ldd), into lib/ under the name it is asked
 * for by. */
static fp_status_t add_deps(blist_t *l, const char *file, fp_error_t *err)
{
    char cmd[PATH_MAX + 32];
    fp__boot_fmt(cmd, sizeof(cmd), "ldd '%s' 2>&1", file);
    FILE *p = popen(cmd, "re");
    if (p == NULL) {
        fp__boot_err(err, FP_ERR_SYSTEM, "bundle: cannot run ldd: %s",
                     strerror(errno));
        return FP_ERR_SYSTEM;
    }
    char line[PATH_MAX + 128];
    fp_status_t st = FP_OK;
    while (fgets(line, sizeof(line), p) != NULL) {
        char name[256], path[PATH_MAX];
        if (strstr(line, "not found") != NULL) {
            fp__boot_err(err, FP_ERR_NOT_FOUND,
                         "bundle: %s needs a library this machine lacks: %s",
                         file, line);
            st = FP_ERR_NOT_FOUND;
            break;
        }
        if (sscanf(line, " %255s => %4095s", name, path) != 2 ||
            path[0] != '/' || is_libc(name))
            continue;
        char dst[300];
        fp__boot_fmt(dst, sizeof(dst), "lib/%s", name);
        if ((st = add_file(l, path, dst, err)) != FP_OK)
            break;
    }
    int rc = pclose(p);
    if (st == FP_OK && rc != 0 && !(WIFEXITED(rc) && WEXITSTATUS(rc) == 1)) {
        /* ldd says 1 for "not a dynamic executable": nothing to add */
        fp__boot_err(err, FP_ERR_SYSTEM, "bundle: ldd %s failed (%d)", file,
                     rc);
        st = FP_ERR_SYSTEM;
    }
    return st;
}

/* The path of a loaded (or loadable) library, by soname. */
static bool lib_path(const char *soname, char *out, size_t cap)
{
    void *h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
    if (h == NULL)
        return false;
    struct link_map *lm = NULL;
    bool ok = dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL &&
              lm->l_name != NULL && lm->l_name[0] == '/';
    if (ok)
        fp__boot_fmt(out, cap, "%s", lm->l_name);
    dlclose(h);
    return ok;
}

static fp_status_t collect(const char *program, blist_t *l, fp_error_t *err)
{
    char tmp[PATH_MAX];
    fp__boot_fmt(tmp, sizeof(tmp), "%s", program);
    char dst[300];
    fp__boot_fmt(dst, sizeof(dst), "bin/%s", basename(tmp));
    fp_status_t st = add_file(l, program, dst, err);
    if (st == FP_OK)
        st = add_deps(l, program, err);
    /* UCX: libfastpool loads it with dlopen, so ldd does not see it */
    static const char *const ucx[] = {"libucp.so.0", "libuct.so.0",
                                      "libucs.so.0", "libucm.so.0"};
    char path[PATH_MAX], ucs_dir[PATH_MAX] = "";
    for (size_t i = 0; st == FP_OK && i < sizeof(ucx) / sizeof(ucx[0]); i++) {
        if (!lib_path(ucx[i], path, sizeof(path))) {
            fp__boot_err(err, FP_ERR_NOT_FOUND, "bundle: cannot find %s here",
                         ucx[i]);
            return FP_ERR_NOT_FOUND;
        }
        fp__boot_fmt(dst, sizeof(dst), "lib/%s", ucx[i]);
        if ((st = add_file(l, path, dst, err)) == FP_OK)
            st = add_deps(l, path, err);
        if (i == 2) {
            fp__boot_fmt(tmp, sizeof(tmp), "%s", path);
            fp__boot_fmt(ucs_dir, sizeof(ucs_dir), "%s/ucx", dirname(tmp));
        }
    }
    /* UCX's transport modules: it looks for them in ucx/ next to libucs */
    DIR *d = st == FP_OK ? opendir(ucs_dir) : NULL;
    if (st == FP_OK && d == NULL) {
        fp__boot_err(err, FP_ERR_NOT_FOUND, "bundle: no UCX modules in %s",
                     ucs_dir);
        return FP_ERR_NOT_FOUND;
    }
    struct dirent *e;
    size_t first = l->n;
    while (st == FP_OK && d != NULL && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".so.0") != 0)
            continue;
        fp__boot_fmt(path, sizeof(path), "%s/%s", ucs_dir, e->d_name);
        fp__boot_fmt(dst, sizeof(dst), "lib/ucx/%s", e->d_name);
        st = add_file(l, path, dst, err);
    }
    if (d != NULL)
        closedir(d);
    for (size_t i = first, n = l->n; st == FP_OK && i < n; i++) {
        fp__boot_fmt(path, sizeof(path), "%s", l->f[i].src);
        st = add_deps(l, path, err);
    }
    return st;
}

/* ---- hashing ------------------------------------------------------------ */

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

fp_status_t fp__boot_sha256_file(const char *path, char *hex_out,
                                 uint64_t *size_p)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return FP_ERR_IO;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    fp_status_t st = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1
                         ? FP_OK
                         : FP_ERR_SYSTEM;
    static __thread unsigned char buf[1 << 16];
    uint64_t size = 0;
    while (st == FP_OK) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            st = FP_ERR_IO;
        if (r <= 0)
            break;
        size += (uint64_t)r;
        if (EVP_DigestUpdate(c, buf, (size_t)r) != 1)
            st = FP_ERR_SYSTEM;
    }
    unsigned char md[32];
    unsigned mdlen = 0;
    if (st == FP_OK && EVP_DigestFinal_ex(c, md, &mdlen) != 1)
        st = FP_ERR_SYSTEM;
    EVP_MD_CTX_free(c);
    close(fd);
    if (st == FP_OK) {
        hex(md, 32, hex_out);
        if (size_p != NULL)
            *size_p = size;
    }
    return st;
}

/* The inputs' identity: their bundle paths, real paths, sizes and mtimes. */
static void input_key(const blist_t *l, char *hex_out)
{
    unsigned char md[32];
    unsigned mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    for (size_t i = 0; i < l->n; i++) {
        struct stat sb;
        char line[PATH_MAX + 256];
        memset(&sb, 0, sizeof(sb));
        (void)stat(l->f[i].src, &sb);
        int n = snprintf(line, sizeof(line), "%s\n%s\n%lld %lld.%09ld\n",
                         l->f[i].dst, l->f[i].src, (long long)sb.st_size,
                         (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
        EVP_DigestUpdate(c, line, (size_t)n);
    }
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    hex(md, 32, hex_out);
}

/* ---- making it ------------------------------------------------------------ */

static fp_status_t copy_file(const char *src, const char *dst, fp_error_t *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        fp__boot_err(err, FP_ERR_IO, "bundle: %s: %s", src, strerror(errno));
        return FP_ERR_IO;
    }
    struct stat sb;
    fstat(in, &sb);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   (sb.st_mode & 0111) ? 0755 : 0644);
    if (out < 0) {
        fp__boot_err(err, FP_ERR_IO, "bundle: %s: %s", dst, strerror(errno));
        close(in);
        return FP_ERR_IO;
    }
    static __thread char buf[1 << 16];
    fp_status_t st = FP_OK;
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0)
                st = FP_ERR_IO;
            break;
        }
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                st = FP_ERR_IO;
                break;
            }
            off += w;
        }
        if (st != FP_OK)
            break;
    }
    if (close(out) != 0)
        st = FP_ERR_IO;
    close(in);
    if (st != FP_OK)
        fp__boot_err(err, st, "bundle: copying %s: %s", src, strerror(errno));
    return st;
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc == -1 ? -1 : (WIFEXITED(rc) ? WEXITSTATUS(rc) : 128);
}

static fp_status_t make_tar(const blist_t *l, const char *dir,
                            const char *tar_tmp, fp_error_t *err)
{
    char stage[PATH_MAX];
    fp__boot_fmt(stage, sizeof(stage), "%s/.stage.%ld", dir, (long)getpid());
    char cmd[3 * PATH_MAX];
    fp__boot_fmt(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s/bin' '%s/lib/ucx'",
             stage, stage, stage);
    if (run(cmd) != 0) {
        fp__boot_err(err, FP_ERR_IO, "bundle: cannot make %s", stage);
        return FP_ERR_IO;
    }
    fp_status_t st = FP_OK;
    for (size_t i = 0; st == FP_OK && i < l->n; i++) {
        char dst[PATH_MAX + 200];
        fp__boot_fmt(dst, sizeof(dst), "%s/%s", stage, l->f[i].dst);
        st = copy_file(l->f[i].src, dst, err);
    }
    if (st == FP_OK) {
        fp__boot_fmt(cmd, sizeof(cmd),
                 "tar --sort=name --mtime=@0 --owner=0 --group=0 "
                 "--numeric-owner -C '%s' -cf '%s' . 2>&1",
                 stage, tar_tmp);
        if (run(cmd) != 0) {
            fp__boot_err(err, FP_ERR_IO, "bundle: tar failed: %s", cmd);
            st = FP_ERR_IO;
        }
    }
    fp__boot_fmt(cmd, sizeof(cmd), "rm -rf '%s'", stage);
    (void)run(cmd);
    return st;
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* An index file: "<hash> <size>" of a tar in `dir` that must exist. */
static bool read_index(const char *index, const char *dir, fp__bndl_t *b)
{
    FILE *f = fopen(index, "re");
    if (f == NULL)
        return false;
    char h[65];
    unsigned long long size = 0;
    bool ok = false;
    if (fscanf(f, "%64s %llu", h, &size) == 2 && strlen(h) == 64 &&
        strspn(h, "0123456789abcdef") == 64) {
        fp__boot_fmt(b->path, sizeof(b->path), "%s/%s.tar", dir, h);
        struct stat sb;
        if (stat(b->path, &sb) == 0 && (uint64_t)sb.st_size == size) {
            fp__boot_fmt(b->hash, sizeof(b->hash), "%s", h);
            b->size = size;
            ok = true;
        }
    }
    fclose(f);
    return ok;
}

static void write_index(const char *index, const fp__bndl_t *b)
{
    char tmp[PATH_MAX + 100];
    fp__boot_fmt(tmp, sizeof(tmp), "%s.%ld", index, (long)getpid());
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return;
    fprintf(f, "%s %llu\n", b->hash, (unsigned long long)b->size);
    if (fclose(f) == 0)
        (void)rename(tmp, index);
    else
        unlink(tmp);
}

fp_status_t fp__boot_bundle(const char *program, fp__bndl_t *b,
                            fp_error_t *err)
{
    memset(b, 0, sizeof(*b));
    blist_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return FP_ERR_NOMEM;
    pthread_mutex_lock(&g_lock);
    char dir[PATH_MAX];
    fp_status_t st = fp__boot_cache_dir("bundles", dir, sizeof(dir), err);
    if (st != FP_OK)
        goto out;
    /* the quick way: the program and libucp unchanged since a bundle was
     * made for them (no ldd run, no hashing) */
    char quick[65], qindex[PATH_MAX + 80];
    blist_t *q = calloc(1, sizeof(*q));
    char ucp[PATH_MAX];
    bool have_quick = false;
    if (q != NULL && lib_path("libucp.so.0", ucp, sizeof(ucp)) &&
        add_file(q, program, "bin", NULL) == FP_OK &&
        add_file(q, ucp, "ucp", NULL) == FP_OK) {
        input_key(q, quick);
        fp__boot_fmt(qindex, sizeof(qindex), "%s/program-%s", dir, quick);
        have_quick = true;
        if (read_index(qindex, dir, b)) {
            free(q);
            goto out;
        }
    }
    free(q);
    if ((st = collect(program, l, err)) != FP_OK)
        goto out;
    char key[65], index[PATH_MAX + 80];
    input_key(l, key);
    fp__boot_fmt(index, sizeof(index), "%s/inputs-%s", dir, key);
    if (read_index(index, dir, b)) {
        b->files = l->n;
        if (have_quick)
            write_index(qindex, b);
        goto out;
    }
    char tmp[PATH_MAX + 40];
    fp__boot_fmt(tmp, sizeof(tmp), "%s/.new.%ld.tar", dir, (long)getpid());
    if ((st = make_tar(l, dir, tmp, err)) != FP_OK) {
        unlink(tmp);
        goto out;
    }
    if (fp__boot_sha256_file(tmp, b->hash, &b->size) != FP_OK) {
        fp__boot_err(err, FP_ERR_IO, "bundle: cannot hash %s", tmp);
        unlink(tmp);
        st = FP_ERR_IO;
        goto out;
    }
    fp__boot_fmt(b->path, sizeof(b->path), "%s/%s.tar", dir, b->hash);
    if (rename(tmp, b->path) != 0) {
        fp__boot_err(err, FP_ERR_IO, "bundle: %s: %s", b->path,
                     strerror(errno));
        unlink(tmp);
        st = FP_ERR_IO;
        goto out;
    }
    b->files = l->n;
    write_index(index, b);
    if (have_quick)
        write_index(qindex, b);
out:
    pthread_mutex_unlock(&g_lock);
    free(l);
    return st;
}
