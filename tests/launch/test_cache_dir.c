/*
 * The cache directory resolver (common/cache.h): FP_CACHE_DIR, then
 * $XDG_CACHE_HOME/fastpool (absolute only), then $HOME/.cache/fastpool;
 * sub-paths; overflow; mkdirs with 0700.
 */
#include "fp_test.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

#include "common/cache.h"

static void expect_dir(const char *sub, const char *want)
{
    char out[512];
    fp_status_t st = fp__cache_dir(sub, out, sizeof(out));
    if (st != FP_OK)
        fail_msg("fp__cache_dir: %s", fp_status_name(st));
    assert_string_equal(out, want);
}

static void test_precedence(void **state)
{
    (void)state;
    setenv("HOME", "/home/u", 1);
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    setenv("FP_CACHE_DIR", "/fp/c", 1);
    expect_dir(NULL, "/fp/c");
    expect_dir("modules", "/fp/c/modules");
    setenv("FP_CACHE_DIR", "", 1); /* empty: not set */
    expect_dir("", "/x/cache/fastpool");
    expect_dir("bundles/a", "/x/cache/fastpool/bundles/a");
    unsetenv("FP_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "relative/cache", 1); /* invalid: ignored */
    expect_dir("modules", "/home/u/.cache/fastpool/modules");
    unsetenv("XDG_CACHE_HOME");
    expect_dir(NULL, "/home/u/.cache/fastpool");
    unsetenv("HOME");
    char out[64] = "untouched";
    assert_int_equal(fp__cache_dir(NULL, out, sizeof(out)), FP_ERR_NOT_FOUND);
    assert_string_equal(out, "untouched");
    setenv("FP_CACHE_DIR", "/a/rather/long/directory/name", 1);
    assert_int_equal(fp__cache_dir("modules", out, 20), FP_ERR_OVERFLOW);
    assert_string_equal(out, "untouched");
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void test_mkdirs(void **state)
{
    (void)state;
    char root[] = "/tmp/fp-cache-test-XXXXXX";
    assert_non_null(mkdtemp(root));
    char path[256];
    snprintf(path, sizeof(path), "%s/a/b/modules", root);
    mode_t old = umask(0);
    assert_int_equal(fp__cache_mkdirs(path), FP_OK);
    assert_int_equal(fp__cache_mkdirs(path), FP_OK); /* exists: fine */
    umask(old);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/a", root);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    /* a file in the way */
    snprintf(path, sizeof(path), "%s/file", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/file/modules", root);
    assert_int_equal(fp__cache_mkdirs(path), FP_ERR_SYSTEM);
    assert_int_equal(errno, ENOTDIR);
    nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_mkdirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
