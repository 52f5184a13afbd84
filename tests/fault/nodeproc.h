/*
 * Node processes for the fault tests and benchmarks (header-only): this
 * very program started again as a node ("PROGRAM --node" with
 * FP_NODE_LISTEN), in a network namespace (through `ip netns exec`) or on
 * this host, at a fixed address, so that a node restarted after a kill is
 * found where it was.
 *
 * Rules that keep it safe in a client that already runs threads (UCX's,
 * the pool's): everything the child needs (argv, the environment) is built
 * before fork(), and the child calls only async-signal-safe functions
 * before execve().  The child gets PR_SET_PDEATHSIG(SIGKILL): a node must
 * not outlive its test.  That signal follows the *thread* that forked, so
 * start nodes from a thread that lives as long as they should (main).
 */
#ifndef FP_FAULT_NODEPROC_H
#define FP_FAULT_NODEPROC_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct fp_nodeproc {
    char ns[64];       /* network namespace to run in; "" for this host */
    char addr[96];     /* "IP:PORT" it listens on (a fixed port) */
    char log[256];     /* its stderr goes here (appended); "" for ours */
    const char *env[8]; /* extra "K=V" for the node, NULL-terminated */
    pid_t pid;         /* 0 while not running */
    int out_fd;        /* read end of its stdout, -1 when none */
    int status;        /* its wait status once reaped */
} fp_nodeproc_t;

static inline double fp_nodeproc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void fp_nodeproc_init(fp_nodeproc_t *n, const char *ns,
                                    const char *addr, const char *log)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->ns, sizeof(n->ns), "%s", ns != NULL ? ns : "");
    snprintf(n->addr, sizeof(n->addr), "%s", addr);
    snprintf(n->log, sizeof(n->log), "%s", log != NULL ? log : "");
    n->out_fd = -1;
}

/* the `ip` program, or NULL */
static inline const char *fp_nodeproc_ip(void)
{
    static const char *const where[] = {"/usr/sbin/ip", "/sbin/ip",
                                        "/usr/bin/ip", "/bin/ip"};
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    return NULL;
}

/* "K=V" entries of `env` replace the environment's K */
static inline bool fp_nodeproc_overridden(const char *kv, const char *const *env,
                                          size_t nenv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq != NULL ? (size_t)(eq - kv) : strlen(kv);
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(env[i], kv, klen) == 0 && env[i][klen] == '=')
            return true;
    return false;
}

/* Reap it if it has ended (block: wait until it has).  1 when reaped (or
 * not running), 0 while it runs. */
static inline int fp_nodeproc_reap(fp_nodeproc_t *n, bool block)
{
    if (n->pid <= 0)
        return 1;
    int st = 0;
    pid_t r;
    do
        r = waitpid(n->pid, &st, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    n->status = r > 0 ? st : 0;
    n->pid = 0;
    if (n->out_fd >= 0) {
        close(n->out_fd);
        n->out_fd = -1;
    }
    return 1;
}

/*
 * Start the node: `self` (this program's path) with "--node", stdout read
 * until its "LISTENING ADDR:PORT" line, at most `timeout` seconds.  0 on
 * success; -1 with `why` otherwise (it ended first, say because the port
 * is still taken, or timed out: it is then killed and reaped).
 */
static inline int fp_nodeproc_start(fp_nodeproc_t *n, const char *self,
                                    double timeout, char *why, size_t cap)
{
    const char *ip = fp_nodeproc_ip();
    if (n->ns[0] != '\0' && ip == NULL) {
        snprintf(why, cap, "no 'ip' program for namespace %s", n->ns);
        return -1;
    }
    /* the environment: ours, less what the node gets its own value for */
    char listen[128];
    snprintf(listen, sizeof(listen), "FP_NODE_LISTEN=%s", n->addr);
    const char *mine[10];
    size_t nmine = 0;
    mine[nmine++] = listen;
    for (size_t i = 0; i < 8 && n->env[i] != NULL; i++)
        mine[nmine++] = n->env[i];
    size_t nenv = 0;
    while (environ[nenv] != NULL)
        nenv++;
    char **envp = calloc(nenv + nmine + 1, sizeof(*envp));
    if (envp == NULL) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (!fp_nodeproc_overridden(environ[i], mine, nmine))
            envp[k++] = environ[i];
    for (size_t i = 0; i < nmine; i++)
        envp[k++] = (char *)mine[i];
    envp[k] = NULL;
    char *argv[8];
    k = 0;
    if (n->ns[0] != '\0') {
        argv[k++] = (char *)ip;
        argv[k++] = (char *)"netns";
        argv[k++] = (char *)"exec";
        argv[k++] = n->ns;
    }
    argv[k++] = (char *)self;
    argv[k++] = (char *)"--node";
    argv[k] = NULL;
    int logfd = -1;
    if (n->log[0] != '\0')
        logfd = open(n->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(why, cap, "pipe: %s", strerror(errno));
        if (logfd >= 0)
            close(logfd);
        free(envp);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        dup2(pfd[1], 1);
        if (logfd >= 0)
            dup2(logfd, 2);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    int err = errno;
    close(pfd[1]);
    if (logfd >= 0)
        close(logfd);
    free(envp);
    if (pid < 0) {
        close(pfd[0]);
        snprintf(why, cap, "fork: %s", strerror(err));
        return -1;
    }
    n->pid = pid;
    n->out_fd = pfd[0];
    /* its first line */
    char line[256];
    size_t got = 0;
    double end = fp_nodeproc_now() + timeout;
    for (;;) {
        char *nl = memchr(line, '\n', got);
        if (nl != NULL) {
            *nl = '\0';
            char bound[128];
            if (sscanf(line, "LISTENING %127s", bound) == 1)
                return 0;
            snprintf(why, cap, "first line '%.100s', not LISTENING", line);
            break;
        }
        double left = end - fp_nodeproc_now();
        if (left <= 0 || got + 1 >= sizeof(line)) {
            snprintf(why, cap, "no LISTENING line within %.1f s", timeout);
            break;
        }
        struct pollfd p = {n->out_fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t m = read(n->out_fd, line + got, sizeof(line) - 1 - got);
        if (m < 0 && errno == EINTR)
            continue;
        if (m <= 0) {
            fp_nodeproc_reap(n, true);
            if (WIFEXITED(n->status))
                snprintf(why, cap, "it exited with status %d before listening",
                         WEXITSTATUS(n->status));
            else
                snprintf(why, cap, "it ended (signal %d) before listening",
                         WIFSIGNALED(n->status) ? WTERMSIG(n->status) : 0);
            return -1;
        }
        got += (size_t)m;
    }
    kill(n->pid, SIGKILL);
    fp_nodeproc_reap(n, true);
    return -1;
}

/* Send `sig` to it (if running). */
static inline void fp_nodeproc_signal(fp_nodeproc_t *n, int sig)
{
    if (n->pid > 0)
        kill(n->pid, sig);
}

/* SIGKILL and reap. */
static inline void fp_nodeproc_kill(fp_nodeproc_t *n)
{
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGKILL);
    fp_nodeproc_reap(n, true);
}

/* SIGCONT (a stopped node would never act on TERM), SIGTERM, wait up to
 * `timeout` seconds, then SIGKILL.  true when it ended on the TERM. */
static inline bool fp_nodeproc_stop(fp_nodeproc_t *n, double timeout)
{
    if (n->pid <= 0)
        return true;
    kill(n->pid, SIGCONT);
    kill(n->pid, SIGTERM);
    double end = fp_nodeproc_now() + timeout;
    while (fp_nodeproc_now() < end) {
        if (fp_nodeproc_reap(n, false))
            return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fp_nodeproc_kill(n);
    return false;
}

#endif
