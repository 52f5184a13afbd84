/*
 * When the transport is in use, UCX is loaded (on first use) but its signal
 * handling stays off: SIGHUP still kills the program and SIGSEGV keeps its
 * disposition, unless FP_UCX_SIGNALS=yes asks for UCX's handlers.  Plain C,
 * not cmocka (which installs signal handlers of its own); each case runs in
 * a fresh child, since UCX is loaded once per process.
 */
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

#include "fp_plain.h"
#include "tp.h"



static bool has_handler(int sig)
{
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    return (sa.sa_flags & SA_SIGINFO) || sa.sa_handler != SIG_DFL;
}

/* In a child: make a transport; exit 10 if it could not, 11 if UCX is not
 * loaded after it, 12 if a watched signal has a handler (13 if none has and
 * `want_handlers`); else raise `sig` (0: exit 0). */
static void child(int sig, bool want_handlers)
{
    static const char bytes[] = "signal-test secret with enough bytes";
    fp__auth_secret_t *s = NULL;
    if (fp__auth_secret_from_bytes(bytes, sizeof(bytes) - 1, "test", &s, NULL,
                                   0) != FP_OK)
        _exit(10);
    fp__tp_params_t p = {.transports = "tcp", .secret = s,
                         .log_level = FP_LOG_ERROR};
    fp__tp_t *tp = NULL;
    if (fp__tp_create(&p, &tp) != FP_OK)
        _exit(10);
    if (!fp_plain_mapped("libucp"))
        _exit(11);
    static const int watched[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGHUP};
    bool any = false;
    for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
        any |= has_handler(watched[i]);
    if (any && !want_handlers)
        _exit(12);
    if (!any && want_handlers)
        _exit(13);
    if (sig != 0) {
        kill(getpid(), sig);
        struct timespec ts = {2, 0};
        nanosleep(&ts, NULL);
    }
    fp__tp_destroy(tp);
    fp__auth_secret_free(s);
    _exit(0);
}

/* Run child(sig, want) with FP_UCX_SIGNALS=`env` (NULL: unset). */
static int run(const char *env, int sig, bool want, int *termsig)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (env != NULL)
            setenv("FP_UCX_SIGNALS", env, 1);
        else
            unsetenv("FP_UCX_SIGNALS");
        child(sig, want);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    *termsig = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

int main(void)
{
    int term = 0, rc;
    /* UCX loaded, its handlers kept out; SIGHUP and SIGSEGV kill */
    rc = run(NULL, SIGHUP, false, &term);
    CHECK(term == SIGHUP, "SIGHUP with a transport: rc %d, signal %d", rc,
          term);
    rc = run(NULL, SIGSEGV, false, &term);
    CHECK(term == SIGSEGV, "SIGSEGV with a transport: rc %d, signal %d", rc,
          term);
    rc = run("no", 0, false, &term);
    CHECK(rc == 0 && term == 0, "FP_UCX_SIGNALS=no: rc %d, signal %d", rc,
          term);
    /* asked for: UCX's handlers stay */
    rc = run("yes", 0, true, &term);
    CHECK(rc == 0 && term == 0, "FP_UCX_SIGNALS=yes: rc %d, signal %d", rc,
          term);
    printf("%s: UCX's signal handlers off while the transport is in use, on "
           "with FP_UCX_SIGNALS=yes\n",
           fp_plain_failures ? "FAIL" : "PASS");
    return fp_plain_failures ? 1 : 0;
}
