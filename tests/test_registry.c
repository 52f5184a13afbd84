/* The process-wide task and worker-class registries. */
#include "fp_test.h"

#include <pthread.h>

static fp_status_t reg_task_a(fp_task_t *task, const fp_cbuf_t *args,
                              size_t nargs, fp_buf_t *out)
{
    (void)task, (void)args, (void)nargs, (void)out;
    return FP_OK;
}

static fp_status_t reg_task_b(fp_task_t *task, const fp_cbuf_t *args,
                              size_t nargs, fp_buf_t *out)
{
    (void)task, (void)args, (void)nargs, (void)out;
    return FP_ERR_TASK;
}

/* Registered when the program is loaded, before main(). */
FP_TASK_REGISTER(reg_task_a)
FP_TASK_REGISTER_AS("reg.renamed", reg_task_b)

static void test_load_time_registration(void **state)
{
    (void)state;
    fp_task_fn_t fn = NULL;
    assert_ok(fp_task_lookup("reg_task_a", &fn));
    assert_ptr_equal(fn, reg_task_a);
    fn = NULL;
    assert_ok(fp_task_lookup("reg.renamed", &fn));
    assert_ptr_equal(fn, reg_task_b);
    /* registered under the given name only */
    fn = reg_task_a;
    assert_status(fp_task_lookup("reg_task_b", &fn), FP_ERR_NOT_FOUND);
}

static void test_reregister_same(void **state)
{
    (void)state;
    assert_ok(fp_task_register("reg_task_a", reg_task_a));
    assert_ok(fp_task_register("reg_task_a", reg_task_a));
    fp_task_fn_t fn = NULL;
    assert_ok(fp_task_lookup("reg_task_a", &fn));
    assert_ptr_equal(fn, reg_task_a);
}

static void test_clash(void **state)
{
    (void)state;
    assert_status(fp_task_register("reg_task_a", reg_task_b), FP_ERR_EXISTS);
    fp_task_fn_t fn = NULL;
    assert_ok(fp_task_lookup("reg_task_a", &fn));
    assert_ptr_equal(fn, reg_task_a); /* the first one stays */

    assert_ok(fp_task_register("reg.runtime", reg_task_b));
    assert_status(fp_task_register("reg.runtime", reg_task_a), FP_ERR_EXISTS);
    assert_ok(fp_task_lookup("reg.runtime", &fn));
    assert_ptr_equal(fn, reg_task_b);
    /* one function under several names is fine */
    assert_ok(fp_task_register("reg.runtime2", reg_task_b));
    assert_ok(fp_task_lookup("reg.runtime2", &fn));
    assert_ptr_equal(fn, reg_task_b);
}

static void test_not_found(void **state)
{
    (void)state;
    /* output parameters are written only on success */
    fp_task_fn_t fn = reg_task_b;
    assert_status(fp_task_lookup("no.such.task", &fn), FP_ERR_NOT_FOUND);
    assert_ptr_equal(fn, reg_task_b);
    assert_status(fp_task_lookup("reg_task_", &fn), FP_ERR_NOT_FOUND);  /* prefix */
    assert_status(fp_task_lookup("reg_task_aa", &fn), FP_ERR_NOT_FOUND); /* longer */
    assert_status(fp_task_lookup("REG_TASK_A", &fn), FP_ERR_NOT_FOUND); /* case */
    assert_ptr_equal(fn, reg_task_b);
}

static void test_name_length(void **state)
{
    (void)state;
    char name[FP_NAME_MAX + 8];
    /* FP_NAME_MAX - 1 bytes: the longest allowed */
    memset(name, 'n', FP_NAME_MAX - 1);
    name[FP_NAME_MAX - 1] = '\0';
    assert_ok(fp_task_register(name, reg_task_a));
    fp_task_fn_t fn = NULL;
    assert_ok(fp_task_lookup(name, &fn));
    assert_ptr_equal(fn, reg_task_a);
    /* FP_NAME_MAX bytes: too long */
    memset(name, 'm', FP_NAME_MAX);
    name[FP_NAME_MAX] = '\0';
    assert_status(fp_task_register(name, reg_task_a), FP_ERR_INVALID);
    /* not registered truncated either */
    name[FP_NAME_MAX - 1] = '\0';
    fn = NULL;
    assert_status(fp_task_lookup(name, &fn), FP_ERR_NOT_FOUND);
    assert_null(fn);
}

/* A name of FP_NAME_MAX bytes or more can never have been registered: every
 * call naming it says FP_ERR_NOT_FOUND, as for any name whose registration
 * failed (the header's promise), not FP_ERR_INVALID. */
static void test_long_name_not_found(void **state)
{
    (void)state;
    char name[FP_NAME_MAX + 40];
    memset(name, 'q', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    fp_task_fn_t fn = NULL;
    assert_status(fp_task_lookup(name, &fn), FP_ERR_NOT_FOUND);
    assert_status(fp_task_lookup("", &fn), FP_ERR_NOT_FOUND);

    fp_context_t *ctx;
    fp_pool_t *pool;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_params_t pp = {.executors = 2};
    assert_ok(fp_pool_create(ctx, &pp, &pool, NULL));
    int in[4] = {1, 2, 3, 4}, out[4];
    fp_error_t err;
    assert_status(fp_map(pool, name, in, sizeof(int), 4, out, sizeof(int),
                         NULL, &err),
                  FP_ERR_NOT_FOUND);
    fp_array_t arr = {in, sizeof(int)};
    assert_status(fp_starmap(pool, name, &arr, 1, 4, out, sizeof(int), NULL,
                             &err),
                  FP_ERR_NOT_FOUND);
    fp_future_t *f;
    assert_status(fp_map_async(pool, name, in, sizeof(int), 4, out,
                               sizeof(int), NULL, &f),
                  FP_ERR_NOT_FOUND);
    assert_status(fp_apply(pool, name, NULL, 0, NULL, &err), FP_ERR_NOT_FOUND);
    assert_status(fp_apply_async(pool, name, NULL, 0, NULL, &f),
                  FP_ERR_NOT_FOUND);
    fp_iter_t *it;
    assert_status(fp_imap(pool, name, in, sizeof(int), 4, sizeof(int), NULL,
                          &it),
                  FP_ERR_NOT_FOUND);
    assert_status(fp_imap_unordered(pool, name, in, sizeof(int), 4,
                                    sizeof(int), NULL, &it),
                  FP_ERR_NOT_FOUND);
    assert_ok(fp_pool_destroy(pool));
    fp_pool_params_t wp = {.executors = 1, .worker_class = name};
    assert_status(fp_pool_create(ctx, &wp, &pool, &err), FP_ERR_NOT_FOUND);
    fp_context_destroy(ctx);
}

static void test_invalid_args(void **state)
{
    (void)state;
    fp_task_fn_t fn = NULL;
    assert_status(fp_task_register(NULL, reg_task_a), FP_ERR_INVALID);
    assert_status(fp_task_register("reg.null_fn", NULL), FP_ERR_INVALID);
    assert_status(fp_task_register("", reg_task_a), FP_ERR_INVALID);
    assert_status(fp_task_lookup(NULL, &fn), FP_ERR_INVALID);
    assert_status(fp_task_lookup("reg.null_fn", &fn), FP_ERR_NOT_FOUND);
}

/* ---- concurrent registration --------------------------------------------- */

#define REG_THREADS 4
#define REG_PER_THREAD 200

static void *register_many(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    intptr_t failures = 0;
    char name[FP_NAME_MAX];
    for (int i = 0; i < REG_PER_THREAD; i++) {
        snprintf(name, sizeof(name), "reg.conc.%u.%d", (unsigned)t, i);
        if (fp_task_register(name, (t % 2) ? reg_task_a : reg_task_b) != FP_OK)
            failures++;
        /* everybody also races on one shared name with the same fn */
        if (fp_task_register("reg.conc.shared", reg_task_a) != FP_OK)
            failures++;
    }
    return (void *)failures;
}

static void test_concurrent(void **state)
{
    (void)state;
    pthread_t th[REG_THREADS];
    for (uintptr_t t = 0; t < REG_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, register_many, (void *)t), 0);
    for (int t = 0; t < REG_THREADS; t++) {
        void *failures = NULL;
        assert_int_equal(pthread_join(th[t], &failures), 0);
        assert_int_equal((intptr_t)failures, 0);
    }
    char name[FP_NAME_MAX];
    for (unsigned t = 0; t < REG_THREADS; t++) {
        for (int i = 0; i < REG_PER_THREAD; i++) {
            snprintf(name, sizeof(name), "reg.conc.%u.%d", t, i);
            fp_task_fn_t fn = NULL;
            assert_ok(fp_task_lookup(name, &fn));
            assert_ptr_equal(fn, (t % 2) ? reg_task_a : reg_task_b);
        }
    }
}

/* ---- worker classes ------------------------------------------------------ */

static fp_status_t wc_init(fp_task_t *task, void *state, fp_cbuf_t init_data)
{
    (void)task, (void)state, (void)init_data;
    return FP_OK;
}

static fp_status_t wc_init_other(fp_task_t *task, void *state,
                                 fp_cbuf_t init_data)
{
    (void)task, (void)state, (void)init_data;
    return FP_OK;
}

static fp_worker_class_t reg_wc_loaded = {
    .name = "reg.wc.loaded",
    .state_size = 64,
    .init = wc_init,
};
FP_WORKER_CLASS_REGISTER(reg_wc_loaded)

static void test_worker_class_register(void **state)
{
    (void)state;
    fp_worker_class_t wc = {.name = "reg.wc.runtime", .state_size = 16,
                            .init = wc_init};
    assert_ok(fp_worker_class_register(&wc));
    /* the same class again: a no-op, as for tasks */
    assert_ok(fp_worker_class_register(&wc));
    /* the same name with other hooks: a clash */
    fp_worker_class_t other = {.name = "reg.wc.runtime", .state_size = 16,
                               .init = wc_init_other};
    assert_status(fp_worker_class_register(&other), FP_ERR_EXISTS);
    fp_worker_class_t bigger = {.name = "reg.wc.runtime", .state_size = 32,
                                .init = wc_init};
    assert_status(fp_worker_class_register(&bigger), FP_ERR_EXISTS);
    /* the load-time one is there: registering something else under its
     * name clashes */
    assert_status(fp_worker_class_register(&other), FP_ERR_EXISTS);
    fp_worker_class_t clash_loaded = {.name = "reg.wc.loaded", .state_size = 8};
    assert_status(fp_worker_class_register(&clash_loaded), FP_ERR_EXISTS);
    /* all hooks NULL is allowed */
    fp_worker_class_t bare = {.name = "reg.wc.bare"};
    assert_ok(fp_worker_class_register(&bare));
}

/* The struct is copied at registration: changing or freeing the caller's
 * copy afterwards must not matter. */
static void test_worker_class_copied(void **state)
{
    (void)state;
    fp_worker_class_t *wc = malloc(sizeof(*wc));
    assert_non_null(wc);
    char *name = strdup("reg.wc.copied");
    assert_non_null(name);
    *wc = (fp_worker_class_t){.name = name, .state_size = 8, .init = wc_init};
    assert_ok(fp_worker_class_register(wc));
    memset(name, 'x', strlen(name));
    free(name);
    free(wc);
    fp_worker_class_t again = {.name = "reg.wc.copied", .state_size = 8,
                               .init = wc_init_other};
    assert_status(fp_worker_class_register(&again), FP_ERR_EXISTS);
}

static void test_worker_class_invalid(void **state)
{
    (void)state;
    assert_status(fp_worker_class_register(NULL), FP_ERR_INVALID);
    fp_worker_class_t noname = {.name = NULL, .state_size = 8};
    assert_status(fp_worker_class_register(&noname), FP_ERR_INVALID);
    char name[FP_NAME_MAX + 1];
    memset(name, 'w', FP_NAME_MAX);
    name[FP_NAME_MAX] = '\0';
    fp_worker_class_t longname = {.name = name, .state_size = 8};
    assert_status(fp_worker_class_register(&longname), FP_ERR_INVALID);
    name[FP_NAME_MAX - 1] = '\0'; /* FP_NAME_MAX - 1 bytes: fine */
    assert_ok(fp_worker_class_register(&longname));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_time_registration),
        cmocka_unit_test(test_reregister_same),
        cmocka_unit_test(test_clash),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_long_name_not_found),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_worker_class_register),
        cmocka_unit_test(test_worker_class_copied),
        cmocka_unit_test(test_worker_class_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
