/*
 * fastpool-info --cluster FILE: check every host of a cluster file before
 * a launch.  The file is checked by the library's own parser (FILE:LINE
 * errors); then each host, all at once, over ssh as the launch would reach
 * it (the same user, port, keys, ssh_config and options, BatchMode): is it
 * reachable, how many cores and GPUs it has, which transports its devices
 * allow (shared memory always; tcp with a network interface; verbs rc/ud
 * with an InfiniBand/RoCE device), and its clock's offset from this one
 * (the remote `date` against the moment its answer arrives here: within
 * one network latency).  Exit status 0 when every host answered, 1 if one
 * did not, 2 for a bad file.
 */
#define _GNU_SOURCE
#include <fastpool/fastpool.h>

#include "info.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/cluster.h"

static const char k_probe[] =
    "echo FP-PROBE; nproc; date +%s.%N; "
    "ls -d /dev/nvidia[0-9]* 2>/dev/null | wc -l; "
    "ls /sys/class/infiniband 2>/dev/null | wc -l; "
    "ls /sys/class/net 2>/dev/null | grep -vx lo | wc -l; uname -m";

typedef struct probe {
    const fp__cluster_host_t *h;
    bool ok;
    char why[256];
    unsigned cores, gpus, ib, nets;
    char arch[32];
    double skew; /* remote - local, seconds */
    double took;
} probe_t;

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *probe_main(void *arg)
{
    probe_t *p = arg;
    const fp__cluster_ssh_t *s = &p->h->ssh;
    const char *argv[64 + 2 * 32];
    size_t n = 0;
    char to[32], port[16];
    argv[n++] = "ssh";
    argv[n++] = "-T";
    argv[n++] = "-o";
    argv[n++] = "BatchMode=yes";
    snprintf(to, sizeof(to), "ConnectTimeout=%d",
             s->connect_timeout > 0 ? s->connect_timeout : 10);
    argv[n++] = "-o";
    argv[n++] = to;
    if (s->config_file != NULL) {
        argv[n++] = "-F";
        argv[n++] = s->config_file;
    }
    if (s->port > 0) {
        snprintf(port, sizeof(port), "%d", s->port);
        argv[n++] = "-p";
        argv[n++] = port;
    }
    if (s->user != NULL) {
        argv[n++] = "-l";
        argv[n++] = s->user;
    }
    if (s->identity_file != NULL) {
        argv[n++] = "-i";
        argv[n++] = s->identity_file;
    }
    for (size_t i = 0; i < s->n_options && n + 4 < 64 + 2 * 32; i++) {
        argv[n++] = "-o";
        argv[n++] = s->options[i];
    }
    argv[n++] = p->h->address;
    argv[n++] = k_probe;
    argv[n] = NULL;

    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        snprintf(p->why, sizeof(p->why), "pipe: %s", strerror(errno));
        return NULL;
    }
    double t0 = wall();
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execvp("ssh", (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    char obuf[2048] = "", ebuf[2048] = "";
    size_t olen = 0, elen = 0;
    double t_line = 0;
    struct pollfd pf[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    double deadline = t0 + (s->connect_timeout > 0 ? s->connect_timeout : 10) + 5;
    while ((pf[0].fd >= 0 || pf[1].fd >= 0) && wall() < deadline) {
        int r = poll(pf, 2, 200);
        if (r < 0 && errno == EINTR)
            continue;
        for (int k = 0; k < 2; k++) {
            if (pf[k].fd < 0 || pf[k].revents == 0)
                continue;
            char *b = k == 0 ? obuf : ebuf;
            size_t *l = k == 0 ? &olen : &elen;
            ssize_t got = read(pf[k].fd, b + *l, 2047 - *l);
            if (got <= 0) {
                close(pf[k].fd);
                pf[k].fd = -1;
                continue;
            }
            *l += (size_t)got;
            b[*l] = '\0';
            /* the date line: the third; note when it came */
            if (k == 0 && t_line == 0) {
                int lines = 0;
                for (size_t i = 0; i < *l; i++)
                    lines += b[i] == '\n';
                if (lines >= 3)
                    t_line = wall();
            }
        }
    }
    for (int k = 0; k < 2; k++)
        if (pf[k].fd >= 0)
            close(pf[k].fd);
    int status = 0;
    if (wall() >= deadline)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    p->took = wall() - t0;
    double rdate = 0;
    if (strncmp(obuf, "FP-PROBE\n", 9) == 0 &&
        sscanf(obuf + 9, "%u %lf %u %u %u %31s", &p->cores, &rdate, &p->gpus,
               &p->ib, &p->nets, p->arch) == 6) {
        p->ok = true;
        p->skew = rdate - t_line;
        return NULL;
    }
    /* ssh's last line says why */
    char *last = ebuf, *q;
    while ((q = strchr(last, '\n')) != NULL && q[1] != '\0')
        last = q + 1;
    last[strcspn(last, "\n")] = '\0';
    snprintf(p->why, sizeof(p->why), "%.250s",
             last[0] ? last
                     : (WIFEXITED(status) ? "no answer" : "timed out"));
    return NULL;
}

int info_run_cluster(const info_opts_t *o, const char *path)
{
    fp__cluster_t *cl = NULL;
    fp_error_t err = {0};
    if (fp__cluster_load(path, &cl, &err) != FP_OK) {
        fprintf(stderr, "fastpool-info: %s\n", err.message);
        return 2;
    }
    if (cl->bootstrap != FP__BOOTSTRAP_SSH && cl->bootstrap != FP__BOOTSTRAP_NONE &&
        cl->bootstrap != FP__BOOTSTRAP_MPIRUN) {
        printf("cluster %s: bootstrap %s: no host list to check%s\n", cl->name,
               fp__bootstrap_name(cl->bootstrap),
               cl->server != NULL ? " (try --server)" : "");
        fp__cluster_free(cl);
        return 0;
    }
    probe_t *p = calloc(cl->n_hosts, sizeof(*p));
    pthread_t *t = calloc(cl->n_hosts, sizeof(*t));
    if (p == NULL || t == NULL)
        return 1;
    for (size_t i = 0; i < cl->n_hosts; i++) {
        p[i].h = &cl->hosts[i];
        if (pthread_create(&t[i], NULL, probe_main, &p[i]) != 0)
            probe_main(&p[i]), t[i] = 0;
    }
    for (size_t i = 0; i < cl->n_hosts; i++)
        if (t[i] != 0)
            pthread_join(t[i], NULL);
    int bad = 0;
    if (o->json) {
        printf("{\"cluster\": \"%s\", \"hosts\": [", cl->name);
        for (size_t i = 0; i < cl->n_hosts; i++) {
            const probe_t *q = &p[i];
            printf("%s{\"name\": \"%s\", \"address\": \"%s\", \"ssh\": %s", i ? ", " : "",
                   q->h->name, q->h->address, q->ok ? "true" : "false");
            if (q->ok)
                printf(", \"cores\": %u, \"gpus\": %u, \"verbs_devices\": %u, "
                       "\"net_interfaces\": %u, \"clock_skew_s\": %.4f}",
                       q->cores, q->gpus, q->ib, q->nets, q->skew);
            else
                printf(", \"error\": \"%s\"}", q->why);
            bad += !q->ok;
        }
        printf("]}\n");
    } else {
        printf("cluster %s (%s, bootstrap %s): %zu hosts\n", cl->name, cl->path,
               fp__bootstrap_name(cl->bootstrap), cl->n_hosts);
        printf("%-12s %-18s %-5s %5s %4s %-18s %10s %7s\n", "HOST", "ADDRESS",
               "SSH", "CORES", "GPUS", "TRANSPORTS", "CLOCK", "SSH-TIME");
        for (size_t i = 0; i < cl->n_hosts; i++) {
            const probe_t *q = &p[i];
            if (!q->ok) {
                printf("%-12s %-18s %-5s %s\n", q->h->name, q->h->address, "NO",
                       q->why);
                bad++;
                continue;
            }
            char tl[64];
            snprintf(tl, sizeof(tl), "shm%s%s%s", q->nets ? ",tcp" : "",
                     q->ib ? ",rc,ud" : "", q->gpus ? ",cuda?" : "");
            printf("%-12s %-18s %-5s %5u %4u %-18s %+9.3fs %6.2fs\n",
                   q->h->name, q->h->address, "ok", q->cores, q->gpus, tl,
                   q->skew, q->took);
        }
        printf("%s\n", bad == 0 ? "all hosts reachable"
                                : "some hosts are not reachable (see above)");
    }
    free(p);
    free(t);
    fp__cluster_free(cl);
    return bad == 0 ? 0 : 1;
}
