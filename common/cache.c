/* The cache directory resolver (cache.h). */
#include "cache.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *nonempty(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

fp_status_t fp__cache_dir(const char *sub, char *out, size_t cap)
{
    const char *base = nonempty("FP_CACHE_DIR"), *tail = "";
    if (base == NULL) {
        base = nonempty("XDG_CACHE_HOME");
        if (base != NULL && base[0] != '/')
            base = NULL; /* XDG: relative paths are invalid, ignore them */
        tail = "/fastpool";
    }
    if (base == NULL) {
        base = nonempty("HOME");
        tail = "/.cache/fastpool";
    }
    if (base == NULL)
        return FP_ERR_NOT_FOUND;
    bool has_sub = sub != NULL && sub[0] != '\0';
    char buf[4096];
    int n = snprintf(buf, sizeof(buf), "%s%s%s%s", base, tail,
                     has_sub ? "/" : "", has_sub ? sub : "");
    if (n < 0 || (size_t)n >= sizeof(buf) || (size_t)n >= cap)
        return FP_ERR_OVERFLOW;
    memcpy(out, buf, (size_t)n + 1);
    return FP_OK;
}

fp_status_t fp__cache_mkdirs(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) {
        errno = len == 0 ? ENOENT : ENAMETOOLONG;
        return FP_ERR_SYSTEM;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0) {
            struct stat sb;
            int e = errno;
            if (e != EEXIST || stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
                errno = e == EEXIST ? ENOTDIR : e;
                return FP_ERR_SYSTEM;
            }
        }
        buf[i] = c;
    }
    return FP_OK;
}
