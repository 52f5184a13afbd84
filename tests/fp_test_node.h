/*
 * Test nodes: a test program that also serves as its own node (started
 * again with --node and FP_NODE_LISTEN), placed on this host's loopback or,
 * with FP_TEST_NODE_NS="ns1:ip1,ns2:ip2,..." (tests/dist/in_netns.sh), in
 * those network namespaces.  Include after fp_test.h.
 */
#ifndef FP_TEST_NODE_H
#define FP_TEST_NODE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where the i-th node goes: its namespace ("" for loopback) and its IP. */
static inline void fp_test_node_place(int i, char *ns, size_t nscap, char *ip,
                                      size_t ipcap)
{
    ns[0] = '\0';
    snprintf(ip, ipcap, "127.0.0.1");
    const char *spec = getenv("FP_TEST_NODE_NS");
    if (spec == NULL || *spec == '\0')
        return;
    char buf[512], *toks[8], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", spec);
    int count = 0;
    for (char *t = strtok_r(buf, ",", &save); t != NULL && count < 8;
         t = strtok_r(NULL, ",", &save))
        toks[count++] = t;
    if (count == 0)
        return;
    char *colon = strchr(toks[i % count], ':');
    if (colon == NULL)
        return;
    *colon = '\0';
    snprintf(ns, nscap, "%s", toks[i % count]);
    snprintf(ip, ipcap, "%s", colon + 1);
}

typedef struct fp_test_node {
    pid_t pid;
    char addr[96];
} fp_test_node_t;

/* Start `self --node` as node i with `executors`, listening on `port` (0:
 * any), with one extra "K=V" in its environment (or NULL); it must not
 * outlive the test, and dumps no core (tests make nodes abort).  Its log
 * level is error unless FP_TEST_NODE_LOG is set; FP_TEST_ON_NODE=1 tells
 * its tasks where they run.  Fails the test if it
 * does not print "LISTENING ADDR:PORT". */
static inline void fp_test_node_start(fp_test_node_t *n, const char *self,
                                      int i, unsigned executors, unsigned port,
                                      const char *env)
{
    char ns[64], ip[64];
    fp_test_node_place(i, ns, sizeof(ns), ip, sizeof(ip));
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        char listen[96], ex[32];
        snprintf(listen, sizeof(listen), "%s:%u", ip, port);
        snprintf(ex, sizeof(ex), "%u", executors);
        setenv("FP_NODE_LISTEN", listen, 1);
        setenv("FP_EXECUTORS", ex, 1);
        setenv("FP_TEST_ON_NODE", "1", 1);
        if (getenv("FP_TEST_NODE_LOG") == NULL)
            setenv("FP_LOG_LEVEL", "error", 1);
        if (env != NULL) {
            char kv[256];
            snprintf(kv, sizeof(kv), "%s", env);
            char *eq = strchr(kv, '=');
            if (eq != NULL) {
                *eq = '\0';
                setenv(kv, eq + 1, 1);
            }
        }
        if (ns[0] != '\0')
            execlp("ip", "ip", "netns", "exec", ns, self, "--node",
                   (char *)NULL);
        else
            execl(self, self, "--node", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[256] = "";
    if (fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "LISTENING %95s", n->addr) != 1)
        fail_msg("node did not start (got '%s')", line);
    fclose(f);
    n->pid = pid;
}

/* Send `sig` and reap the node (a stopped one is continued so that it
 * takes the signal). */
static inline void fp_test_node_end(fp_test_node_t *n, int sig)
{
    if (n->pid <= 0)
        return;
    kill(n->pid, sig);
    kill(n->pid, SIGCONT);
    int st;
    waitpid(n->pid, &st, 0);
    n->pid = 0;
}

#endif
