/* Status codes: fp_status_string() and fp_status_name(). */
#include "fp_test.h"

typedef struct entry {
    fp_status_t value;
    const char *name;
    const char *desc;
} entry_t;

static const entry_t entries[] = {
#define X(name, value, desc) {name, #name, desc},
    FP_STATUS_TABLE(X)
#undef X
};
#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

static void test_table_shape(void **state)
{
    (void)state;
    assert_int_equal(FP_OK, 0);
    assert_true(FP_INPROGRESS > 0);
    assert_true(FP_END > 0);
    for (size_t i = 0; i < NENTRIES; i++) {
        if (strncmp(entries[i].name, "FP_ERR_", 7) == 0)
            assert_true(entries[i].value < 0);
        else
            assert_true(entries[i].value >= 0);
        for (size_t j = i + 1; j < NENTRIES; j++)
            assert_int_not_equal(entries[i].value, entries[j].value);
    }
}

static void test_strings(void **state)
{
    (void)state;
    for (size_t i = 0; i < NENTRIES; i++) {
        const char *s = fp_status_string(entries[i].value);
        assert_non_null(s);
        assert_string_equal(s, entries[i].desc);
        assert_string_not_equal(s, "unknown status");
        assert_true(strlen(s) > 0);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, fp_status_string(entries[j].value));
    }
}

static void test_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < NENTRIES; i++) {
        const char *n = fp_status_name(entries[i].value);
        assert_non_null(n);
        assert_string_equal(n, entries[i].name);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(n, fp_status_name(entries[j].value));
    }
    assert_string_equal(fp_status_name(FP_ERR_TIMEOUT), "FP_ERR_TIMEOUT");
    assert_string_equal(fp_status_name(FP_OK), "FP_OK");
    assert_string_equal(fp_status_name(FP_END), "FP_END");
}

static void test_unknown(void **state)
{
    (void)state;
    const int unknown[] = {3, 4, 100, -19, -20, -1000, 1000000, -1000000};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        fp_status_t s = (fp_status_t)unknown[i];
        assert_non_null(fp_status_string(s));
        assert_string_equal(fp_status_string(s), "unknown status");
        assert_non_null(fp_status_name(s));
        assert_string_equal(fp_status_name(s), "FP_UNKNOWN");
    }
}

/* The strings are static: the same pointer every time. */
static void test_static(void **state)
{
    (void)state;
    for (size_t i = 0; i < NENTRIES; i++) {
        assert_ptr_equal(fp_status_string(entries[i].value),
                         fp_status_string(entries[i].value));
        assert_ptr_equal(fp_status_name(entries[i].value),
                         fp_status_name(entries[i].value));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_shape),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_static),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
