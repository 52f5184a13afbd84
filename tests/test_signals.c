/*
 * A library must not change its host program: linking libfastpool and using
 * local pools leaves UCX out of the process entirely (not loaded, none of
 * its signal handlers), so SIGHUP kills the program and SIGSEGV has its
 * default disposition.  Built twice: against libfastpool.so and against
 * libfastpool.a (test_signals, test_signals_static).
 */
/* Not a cmocka program: cmocka installs its own handlers for SIGSEGV,
 * SIGBUS, SIGFPE and SIGILL while tests run, which is what this checks. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fastpool/fastpool.h"
#include "fp_plain.h"

#define assert_ok(e) CHECK((e) == FP_OK, "%s failed", #e)

static fp_status_t sig_square(fp_task_t *t, const fp_cbuf_t *a, size_t n,
                              fp_buf_t *out)
{
    (void)t;
    (void)n;
    int x = *(const int *)a[0].data;
    *(int *)out->data = x * x;
    return FP_OK;
}
FP_TASK_REGISTER(sig_square)

static const int watched[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGHUP};

/* Whether a library whose name contains `name` is mapped into us. */

static void assert_default_dispositions(void)
{
    for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++) {
        struct sigaction sa;
        CHECK(sigaction(watched[i], NULL, &sa) == 0, "sigaction");
        CHECK(!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL,
              "signal %d (%s) has a handler the program never set",
              watched[i], strsignal(watched[i]));
    }
}

static void use_local_pool(void)
{
    fp_context_t *ctx;
    fp_pool_t *pool;
    assert_ok(fp_context_create(NULL, &ctx));
    fp_pool_params_t pp = {.executors = 2};
    assert_ok(fp_pool_create(ctx, &pp, &pool, NULL));
    int in[100], out[100];
    for (int i = 0; i < 100; i++)
        in[i] = i;
    assert_ok(fp_map(pool, "sig_square", in, sizeof(int), 100, out,
                     sizeof(int), NULL, NULL));
    CHECK(out[99] == 99 * 99, "map result");
    assert_ok(fp_pool_destroy(pool));
    fp_context_destroy(ctx);
}

static void check_no_ucx(const char *when)
{
    CHECK(!fp_plain_mapped("libucp") && !fp_plain_mapped("libucs"),
          "UCX is loaded %s, though nothing used the transport", when);
    assert_default_dispositions();
}

/* A child that uses a local pool, then gets `sig`: it must die of it. */
static void expect_death_by(int sig)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid < 0)
        return;
    if (pid == 0) {
        use_local_pool();
        if (sig == SIGHUP)
            kill(getpid(), SIGHUP); /* as `kill -HUP <pid>` */
        else
            raise(sig);
        struct timespec ts = {2, 0}; /* a handler that swallowed it */
        nanosleep(&ts, NULL);
        _exit(0);
    }
    int ws = 0;
    CHECK(waitpid(pid, &ws, 0) == pid, "waitpid");
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == sig,
          "child %s %d instead of dying of signal %d (%s)",
          WIFSIGNALED(ws) ? "died of signal" : "exited with",
          WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws), sig,
          strsignal(sig));
}

int main(void)
{
    check_no_ucx("before main()");
    use_local_pool();
    check_no_ucx("after a local pool ran");
    expect_death_by(SIGHUP);
    expect_death_by(SIGSEGV);
    printf("%s: %s\n", fp_plain_failures ? "FAIL" : "PASS",
           "no UCX and default signal dispositions with local pools; SIGHUP "
           "and SIGSEGV kill the program");
    return fp_plain_failures ? 1 : 0;
}
