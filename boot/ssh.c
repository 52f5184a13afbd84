/*
 * SSH bootstrap: fp_pool_add_host.
 *
 * One ssh process per host, a child of this one, runs a small POSIX sh
 * script there (the command line holds the bundle's hash and size, the
 * cache folder and the program: nothing secret).  The conversation on the
 * SSH channel:
 *
 *   there                               here
 *   FP-NEED        (bundle not cached)  -> the bundle's bytes, then
 *                                          sha256sum checks them there
 *   FP-READY IP    (IP: the address this
 *                   connection reached)  -> FP-SECRET <key hex>, FP-GO
 *   LISTENING IP:PORT (the node)         -> fp_pool_add_node(IP:PORT)
 *   FP-FAIL why    (the script failed)   -> the error, naming the host
 *
 * then the node's output, forwarded with a "[host] " prefix by a thread per
 * host.  Only this process holds the write end of ssh's stdin: if it dies,
 * the pipe closes, ssh sends EOF, the node reads EOF on stdin and exits
 * (dist/node.c, FP_BOOT_STDIN), and ssh ends with it.  fp_pool_destroy closes the channel the
 * same way (after the pool closed its nodes) and reaps ssh, killing it if
 * it lingers.
 */
#include "boot/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/cache.h"
#include "common/clock.h"
#include "dist/dist.h"
#include "transport/auth.h"

bool fp__boot_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

void fp__boot_err(fp_error_t *err, fp_status_t st, const char *fmt, ...)
{
    if (err == NULL)
        return;
    err->status = st;
    err->index = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

fp_status_t fp__boot_cache_dir(const char *what, char *out, size_t cap,
                               fp_error_t *err)
{
    fp_status_t st = fp__cache_dir(what, out, cap);
    if (st == FP_ERR_NOT_FOUND) {
        fp__boot_err(err, FP_ERR_CONFIG,
                     "no cache folder: set FP_CACHE_DIR or HOME");
        return FP_ERR_CONFIG;
    }
    if (st != FP_OK) {
        fp__boot_err(err, st, "cache folder path too long");
        return st;
    }
    if (fp__cache_mkdirs(out) != FP_OK) {
        fp__boot_err(err, FP_ERR_IO, "cache folder %s: %s", out,
                     strerror(errno));
        return FP_ERR_IO;
    }
    return FP_OK;
}

/* ---- the script run there -------------------------------------------------- */

/* $1 hash ("-": no bundle)  $2 size  $3 cache folder ("": default)
 * $4 program (in the bundle, or a path there)  $5 node port  $6 count of
 * NAME=VALUE settings that follow, then the program's arguments.  No
 * single quote in it: it travels inside one. */
static const char k_script[] =
    "H=$1; S=$2; C=$3; P=$4; L=$5; NE=$6; shift 6\n"
    "IP=${SSH_CONNECTION#* }; IP=${IP#* }; IP=${IP%% *}\n"
    "case $C in \"~\") C=$HOME;; \"~/\"*) C=$HOME/${C#??};; esac\n"
    "[ -n \"$C\" ] || C=${FP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fastpool}\n"
    "if [ \"$H\" != - ]; then\n"
    "  D=$C/bundles/$H\n"
    "  if [ ! -f \"$D/.complete\" ]; then\n"
    "    echo FP-NEED\n"
    "    mkdir -p \"$C/bundles\" && T=$(mktemp -d \"$C/bundles/.in.XXXXXX\") ||"
    " { echo \"FP-FAIL cannot make a folder in $C/bundles\"; exit 90; }\n"
    "    head -c \"$S\" > \"$T/b.tar\" ||"
    " { echo FP-FAIL receiving the bundle; rm -rf \"$T\"; exit 91; }\n"
    "    if ! echo \"$H  $T/b.tar\" | sha256sum -c --status; then"
    " echo \"FP-FAIL the bundle received does not match its SHA-256 $H\";"
    " rm -rf \"$T\"; exit 92; fi\n"
    "    mkdir \"$T/b\" && tar -xf \"$T/b.tar\" -C \"$T/b\" &&"
    " : > \"$T/b/.complete\" ||"
    " { echo \"FP-FAIL cannot unpack the bundle in $T\"; rm -rf \"$T\"; exit 93; }\n"
    "    mv -T \"$T/b\" \"$D\" 2>/dev/null || true\n"
    "    rm -rf \"$T\"\n"
    "  fi\n"
    "  P=$D/$P\n"
    "  export LD_LIBRARY_PATH=\"$D/lib:$D/lib/ucx${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\"\n"
    "elif [ ! -x \"$P\" ]; then\n"
    "  echo \"FP-FAIL $P is not on this host (bundle = never)\"; exit 94\n"
    "fi\n"
    "while [ \"$NE\" -gt 0 ]; do export \"$1\"; shift; NE=$((NE - 1)); done\n"
    "echo \"FP-READY $IP\"\n"
    "export FP_BOOT_STDIN=1 FP_NODE_LISTEN=\"${IP:-0.0.0.0}:$L\"\n"
    "exec ${FP_NODE_WRAPPER:-} \"$P\" \"$@\"\n";

/* Append `s` single-quoted for a POSIX shell. */
static bool sh_quote(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = *len;
#define PUT(c)                                                                 \
    do {                                                                       \
        if (n + 1 >= cap)                                                      \
            return false;                                                      \
        out[n++] = (c);                                                        \
    } while (0)
    PUT(' ');
    PUT('\'');
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\'') {
            PUT('\'');
            PUT('\\');
            PUT('\'');
            PUT('\'');
        } else {
            PUT(*p);
        }
    }
    PUT('\'');
#undef PUT
    out[n] = '\0';
    *len = n;
    return true;
}

/* ---- one host ---------------------------------------------------------------- */

struct fp__shost {
    char host[256];
    pid_t pid;
    int in, out, errfd; /* ssh's stdin (ours to write), stdout, stderr */
    pthread_t fwd;
    bool fwd_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool fwd_done;
    /* partial lines */
    char obuf[1024], ebuf[1024];
    size_t olen, elen;
    char last_err[512]; /* ssh's last stderr line before the node ran */
};
typedef fp__shost_t shost_t;

static double now(void) { return fp__now(); }

/* Forward whole lines of `buf` to `to` with the host prefix. */
static void emit(shost_t *h, char *buf, size_t *len, FILE *to, bool flush_all)
{
    size_t start = 0;
    for (size_t i = 0; i < *len; i++) {
        if (buf[i] == '\n') {
            flockfile(to);
            fprintf(to, "[%s] %.*s\n", h->host, (int)(i - start), buf + start);
            funlockfile(to);
            start = i + 1;
        }
    }
    if (flush_all && start < *len) {
        fprintf(to, "[%s] %.*s\n", h->host, (int)(*len - start), buf + start);
        start = *len;
    }
    if (start == 0 && *len == 1023) { /* a line too long: as it is */
        fprintf(to, "[%s] %.*s\n", h->host, (int)*len, buf);
        start = *len;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    fflush(to);
}

static void *fwd_main(void *arg)
{
    shost_t *h = arg;
    struct pollfd p[2] = {{h->out, POLLIN, 0}, {h->errfd, POLLIN, 0}};
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        int r = poll(p, 2, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        for (int k = 0; k < 2; k++) {
            if (p[k].fd < 0 || p[k].revents == 0)
                continue;
            char *buf = k == 0 ? h->obuf : h->ebuf;
            size_t *len = k == 0 ? &h->olen : &h->elen;
            ssize_t n = read(p[k].fd, buf + *len, 1023 - *len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                emit(h, buf, len, k == 0 ? stdout : stderr, true);
                p[k].fd = -1;
                continue;
            }
            *len += (size_t)n;
            emit(h, buf, len, k == 0 ? stdout : stderr, false);
        }
    }
    pthread_mutex_lock(&h->lock);
    h->fwd_done = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void host_free(shost_t *h)
{
    if (h->in >= 0)
        close(h->in);
    if (h->out >= 0)
        close(h->out);
    if (h->errfd >= 0)
        close(h->errfd);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h);
}

/* Close the channel, give ssh (and through it the node) `grace` seconds to
 * end, then kill it; reap it. */
static void host_end(shost_t *h, double grace)
{
    if (h->in >= 0) {
        close(h->in);
        h->in = -1;
    }
    double until = now() + grace;
    int status;
    bool reaped = false;
    while (!reaped && now() < until) {
        pid_t r = waitpid(h->pid, &status, WNOHANG);
        if (r == h->pid || (r < 0 && errno != EINTR)) {
            reaped = true;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!reaped) {
        kill(h->pid, SIGTERM);
        for (int i = 0; i < 50 && !reaped; i++) {
            if (waitpid(h->pid, &status, WNOHANG) == h->pid)
                reaped = true;
            else {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        if (!reaped) {
            kill(h->pid, SIGKILL);
            while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
                ;
        }
    }
    if (h->fwd_started) {
        pthread_join(h->fwd, NULL);
        h->fwd_started = false;
    }
}

static void host_fini(void *arg)
{
    shost_t *h = arg;
    host_end(h, 3.0);
    host_free(h);
}

/* Path of `prog` on PATH (or itself when it has a slash). */
static bool find_exe(const char *prog, char *out, size_t cap)
{
    if (strchr(prog, '/') != NULL) {
        fp__boot_fmt(out, cap, "%s", prog);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    for (const char *p = path; *p != '\0';) {
        const char *e = strchr(p, ':');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        fp__boot_fmt(out, cap, "%.*s/%s", (int)n, p, prog);
        if (n > 0 && access(out, X_OK) == 0)
            return true;
        p += n;
        if (*p == ':')
            p++;
    }
    return false;
}

/* This process's arguments after argv[0] (for the SPMD node): a vector
 * whose strings live in *buf_p; free both. */
static char **self_args(size_t *n_p, char **buf_p)
{
    *n_p = 0;
    *buf_p = NULL;
    FILE *f = fopen("/proc/self/cmdline", "re");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    size_t len = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[len] = '\0';
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            count++;
    char **v = calloc(count + 1, sizeof(*v));
    if (v == NULL) {
        free(buf);
        return NULL;
    }
    size_t k = 0, i = strlen(buf) + 1; /* skip argv[0] */
    while (i < len && k < count) {
        v[k++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    *n_p = k;
    *buf_p = buf;
    return v;
}

/* Settings the node should see as this process does: these, and every
 * UCX_* variable (the same transports and options at both ends). */
static const char *const k_forward_env[] = {
    "FP_LOG_LEVEL", "FP_TRANSPORT", "FP_HEARTBEAT", "FP_PEER_DEADLINE",
    "FP_NODE_LEAVE_TIMEOUT", "FP_PIN", "FP_ENCRYPT", "ASAN_OPTIONS",
    "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS",
    "FP_NODE_WRAPPER" /* e.g. "valgrind -q": run the node under it */};

extern char **environ;

static bool forwarded(const char *kv)
{
    if (strncmp(kv, "UCX_", 4) == 0)
        return true;
    for (size_t i = 0; i < sizeof(k_forward_env) / sizeof(k_forward_env[0]);
         i++) {
        size_t n = strlen(k_forward_env[i]);
        if (strncmp(kv, k_forward_env[i], n) == 0 && kv[n] == '=')
            return true;
    }
    return false;
}

static bool ssh_argv(const char *host, const fp_host_params_t *hp,
                     double timeout, const char *cmd, const char *ssh_path,
                     const char **argv, size_t cap, char *tbuf, size_t tcap,
                     char *pbuf, size_t pcap)
{
    size_t n = 0;
#define ARG(x)                                                                 \
    do {                                                                       \
        if (n + 2 >= cap)                                                      \
            return false;                                                      \
        argv[n++] = (x);                                                       \
    } while (0)
    ARG(ssh_path);
    ARG("-T");
    ARG("-o");
    ARG("BatchMode=yes");
    fp__boot_fmt(tbuf, tcap, "ConnectTimeout=%d", (int)(timeout + 0.999));
    ARG("-o");
    ARG(tbuf);
    ARG("-o");
    ARG("ServerAliveInterval=5");
    ARG("-o");
    ARG("ServerAliveCountMax=3");
    const char *cfg = hp->ssh_config != NULL ? hp->ssh_config
                                             : getenv("FP_SSH_CONFIG");
    if (cfg != NULL && cfg[0] != '\0') {
        ARG("-F");
        ARG(cfg);
    }
    if (hp->port != 0) {
        fp__boot_fmt(pbuf, pcap, "%u", hp->port);
        ARG("-p");
        ARG(pbuf);
    }
    if (hp->user != NULL) {
        ARG("-l");
        ARG(hp->user);
    }
    if (hp->identity != NULL) {
        ARG("-i");
        ARG(hp->identity);
    }
    for (size_t i = 0; i < hp->nssh_options; i++)
        ARG(hp->ssh_options[i]);
    ARG(host);
    ARG(cmd);
#undef ARG
    argv[n] = NULL;
    return true;
}

static fp_status_t spawn(shost_t *h, const char **argv, fp_error_t *err)
{
    int pin[2], pout[2], perr[2];
    if (pipe2(pin, O_CLOEXEC) != 0) {
        fp__boot_err(err, FP_ERR_SYSTEM, "pipe: %s", strerror(errno));
        return FP_ERR_SYSTEM;
    }
    if (pipe2(pout, O_CLOEXEC) != 0) {
        close(pin[0]);
        close(pin[1]);
        fp__boot_err(err, FP_ERR_SYSTEM, "pipe: %s", strerror(errno));
        return FP_ERR_SYSTEM;
    }
    if (pipe2(perr, O_CLOEXEC) != 0) {
        close(pin[0]);
        close(pin[1]);
        close(pout[0]);
        close(pout[1]);
        fp__boot_err(err, FP_ERR_SYSTEM, "pipe: %s", strerror(errno));
        return FP_ERR_SYSTEM;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fp__boot_err(err, FP_ERR_SYSTEM, "fork: %s", strerror(errno));
        close(pin[0]);
        close(pin[1]);
        close(pout[0]);
        close(pout[1]);
        close(perr[0]);
        close(perr[1]);
        return FP_ERR_SYSTEM;
    }
    if (pid == 0) {
        /* the child: only async-signal-safe calls until exec.  No
         * PR_SET_PDEATHSIG: it fires when the *thread* that forked ends
         * (fp_pool_create starts hosts from threads of its own).  ssh goes
         * with its stdin instead: when this process ends, however it ends,
         * the pipe's write end (close-on-exec, ours alone) closes, ssh
         * sends EOF, the node exits, ssh exits. */
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        /* pipes are close-on-exec; 0..2 are the dup2 copies */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    h->pid = pid;
    h->in = pin[1];
    h->out = pout[0];
    h->errfd = perr[0];
    return FP_OK;
}

/* Read ssh's stdout and stderr until a whole stdout line is there (into
 * `line`), writing `tx` (may be NULL) to its stdin meanwhile.  stderr lines
 * are kept (the last one names ssh's failure) and shown at FP_LOG_LEVEL
 * info.  FP_ERR_TIMEOUT when nothing happened for `timeout` seconds,
 * FP_ERR_CLOSED when ssh closed its stdout. */
static fp_status_t converse(shost_t *h, const char *tx_path, uint64_t tx_size,
                            char *line, size_t cap, double timeout)
{
    int txfd = -1;
    uint64_t sent = 0;
    static __thread char txbuf[1 << 16];
    size_t txlen = 0, txoff = 0;
    if (tx_path != NULL) {
        txfd = open(tx_path, O_RDONLY | O_CLOEXEC);
        if (txfd < 0)
            return FP_ERR_IO;
    }
    double deadline = now() + timeout;
    fp_status_t st = FP_OK;
    for (;;) {
        /* a whole line already buffered? */
        char *nl = memchr(h->obuf, '\n', h->olen);
        if (nl != NULL && (txfd < 0 || sent == tx_size)) {
            size_t n = (size_t)(nl - h->obuf);
            fp__boot_fmt(line, cap, "%.*s", (int)n, h->obuf);
            memmove(h->obuf, nl + 1, h->olen - n - 1);
            h->olen -= n + 1;
            break;
        }
        struct pollfd p[3] = {{h->out, POLLIN, 0},
                              {h->errfd, h->errfd >= 0 ? POLLIN : 0, 0},
                              {txfd >= 0 && sent < tx_size ? h->in : -1,
                               POLLOUT, 0}};
        double left = deadline - now();
        if (left <= 0) {
            st = FP_ERR_TIMEOUT;
            break;
        }
        int r = poll(p, 3, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = FP_ERR_SYSTEM;
            break;
        }
        if (p[1].revents != 0) {
            ssize_t n = read(h->errfd, h->ebuf + h->elen, 1023 - h->elen);
            if (n <= 0) {
                close(h->errfd);
                h->errfd = -1;
            } else {
                h->elen += (size_t)n;
                char *e;
                while ((e = memchr(h->ebuf, '\n', h->elen)) != NULL ||
                       h->elen == 1023) {
                    size_t k = e != NULL ? (size_t)(e - h->ebuf) : h->elen;
                    if (k > 0)
                        fp__boot_fmt(h->last_err, sizeof(h->last_err), "%.*s",
                                 (int)k, h->ebuf);
                    size_t drop = e != NULL ? k + 1 : k;
                    memmove(h->ebuf, h->ebuf + drop, h->elen - drop);
                    h->elen -= drop;
                }
            }
        }
        if (p[2].fd >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            if (txoff == txlen) {
                ssize_t n = read(txfd, txbuf, sizeof(txbuf));
                if (n <= 0) {
                    st = FP_ERR_IO;
                    break;
                }
                txlen = (size_t)n;
                txoff = 0;
            }
            ssize_t w = write(h->in, txbuf + txoff, txlen - txoff);
            if (w < 0 && errno != EINTR && errno != EAGAIN) {
                st = FP_ERR_CLOSED;
                break;
            }
            if (w > 0) {
                txoff += (size_t)w;
                sent += (uint64_t)w;
                deadline = now() + timeout; /* progress */
            }
        }
        if (p[0].revents != 0) {
            if (h->olen == sizeof(h->obuf) - 1) { /* overlong: drop it */
                h->olen = 0;
            }
            ssize_t n = read(h->out, h->obuf + h->olen,
                             sizeof(h->obuf) - 1 - h->olen);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                st = FP_ERR_CLOSED;
                break;
            }
            h->olen += (size_t)n;
        }
    }
    if (txfd >= 0)
        close(txfd);
    return st;
}

static bool write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        s += w;
        len -= (size_t)w;
    }
    return true;
}

/* The error for a conversation that ended early. */
static void fail_err(shost_t *h, fp_status_t st, double timeout,
                     const char *phase, fp_error_t *err)
{
    if (st == FP_ERR_TIMEOUT) {
        fp__boot_err(err, FP_ERR_TIMEOUT,
                     "host '%s': no answer over ssh within %.3g s (%s)%s%s",
                     h->host, timeout, phase, h->last_err[0] ? ": " : "",
                     h->last_err);
        return;
    }
    /* ssh ended: its status and last words */
    int status = 0;
    bool reaped = false;
    for (int i = 0; i < 200 && !reaped; i++) {
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            reaped = true;
            h->pid = -1;
        } else {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    /* what is left on stderr */
    if (h->errfd >= 0) {
        ssize_t n;
        while ((n = read(h->errfd, h->ebuf + h->elen, 1023 - h->elen)) > 0) {
            h->elen += (size_t)n;
            char *e;
            while ((e = memchr(h->ebuf, '\n', h->elen)) != NULL) {
                size_t k = (size_t)(e - h->ebuf);
                if (k > 0)
                    fp__boot_fmt(h->last_err, sizeof(h->last_err), "%.*s", (int)k,
                             h->ebuf);
                memmove(h->ebuf, e + 1, h->elen - k - 1);
                h->elen -= k + 1;
            }
            if (h->elen == 1023)
                h->elen = 0;
        }
        if (h->elen > 0)
            fp__boot_fmt(h->last_err, sizeof(h->last_err), "%.*s", (int)h->elen,
                     h->ebuf);
    }
    int code = reaped && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 255)
        fp__boot_err(err, FP_ERR_PEER, "host '%s': ssh failed while %s: %s",
                     h->host, phase,
                     h->last_err[0] ? h->last_err : "(ssh said nothing)");
    else
        fp__boot_err(err, FP_ERR_SYSTEM,
                     "host '%s': the node did not start (%s, exit %d)%s%s",
                     h->host, phase, code, h->last_err[0] ? ": " : "",
                     h->last_err);
}

fp_status_t fp_pool_add_host(fp_pool_t *pool, const char *host,
                             const fp_host_params_t *params, fp_error_t *err)
{
    return fp__boot_start_host(pool, host, params, true, NULL, NULL, 0, err);
}

fp_status_t fp__boot_start_host(fp_pool_t *pool, const char *host,
                                const fp_host_params_t *params, bool attach,
                                fp__shost_t **h_p, char *addr_out,
                                size_t addr_cap, fp_error_t *err)
{
    static const fp_host_params_t defaults = {0};
    if (pool == NULL || host == NULL || host[0] == '\0')
        return FP_ERR_INVALID;
    if (err != NULL)
        memset(err, 0, sizeof(*err));
    const fp_host_params_t *hp = params != NULL ? params : &defaults;
    if (hp->bundle < FP_BUNDLE_DEFAULT || hp->bundle > FP_BUNDLE_NEVER ||
        (hp->nssh_options > 0 && hp->ssh_options == NULL) ||
        (hp->nenv > 0 && hp->env == NULL) ||
        (hp->nprogram_args > 0 && hp->program_args == NULL) ||
        hp->executors > 4096 || hp->node_port > 65535 || hp->timeout < 0)
        return FP_ERR_INVALID;
    if (host[0] == '-') {
        fp__boot_err(err, FP_ERR_INVALID, "host '%s': not a host name", host);
        return FP_ERR_INVALID;
    }
    unsigned char key[FP__AUTH_KEY_LEN];
    fp_status_t st = fp__dpool_secret_key(pool, key);
    if (st != FP_OK) {
        fp__boot_err(err, FP_ERR_STATE,
                     "a local pool takes no hosts: create it with hosts, "
                     "nodes, FP_NODES or local = FP_LOCAL_YES");
        return FP_ERR_STATE;
    }
    double timeout = hp->timeout;
    if (timeout == 0) {
        const char *t = getenv("FP_SSH_TIMEOUT");
        timeout = t != NULL ? strtod(t, NULL) : 0;
        if (!(timeout > 0 && timeout < 3600))
            timeout = 10;
    }
    fp_bundle_t mode = hp->bundle;
    if (mode == FP_BUNDLE_DEFAULT) {
        const char *b = getenv("FP_BUNDLE");
        mode = b != NULL && strcmp(b, "never") == 0 ? FP_BUNDLE_NEVER
                                                    : FP_BUNDLE_SHIP;
    }

    /* the program and its arguments */
    char prog[PATH_MAX];
    char **args = NULL, *args_buf = NULL;
    size_t nargs = 0;
    if (hp->program != NULL) {
        char found[PATH_MAX];
        if (!find_exe(hp->program, found, sizeof(found)) ||
            realpath(found, prog) == NULL) {
            fp__boot_err(err, FP_ERR_NOT_FOUND,
                         "host '%s': program '%s' not found here", host,
                         hp->program);
            return FP_ERR_NOT_FOUND;
        }
    } else {
        ssize_t n = readlink("/proc/self/exe", prog, sizeof(prog) - 1);
        if (n <= 0) {
            fp__boot_err(err, FP_ERR_SYSTEM, "cannot find this program");
            return FP_ERR_SYSTEM;
        }
        prog[n] = '\0';
        args = self_args(&nargs, &args_buf);
    }
    fp__bndl_t b;
    memset(&b, 0, sizeof(b));
    if (mode == FP_BUNDLE_SHIP && (st = fp__boot_bundle(prog, &b, err)) != FP_OK) {
        free(args);
        free(args_buf);
        return st;
    }
    char ssh_path[PATH_MAX];
    const char *ssh = getenv("FP_SSH");
    if (!find_exe(ssh != NULL && ssh[0] != '\0' ? ssh : "ssh", ssh_path,
                  sizeof(ssh_path))) {
        free(args);
        free(args_buf);
        fp__boot_err(err, FP_ERR_NOT_FOUND,
                     "host '%s': no ssh program here (install openssh-client)",
                     host);
        return FP_ERR_NOT_FOUND;
    }

    /* the command there */
    size_t cap = 8192 + PATH_MAX;
    for (size_t i = 0; i < hp->nenv; i++)
        cap += 4 * strlen(hp->env[i]) + 4;
    for (size_t i = 0; i < nargs; i++)
        cap += 4 * strlen(args[i]) + 4;
    for (size_t i = 0; i < hp->nprogram_args; i++)
        cap += 4 * strlen(hp->program_args[i]) + 4;
    char *cmd = malloc(cap);
    if (cmd == NULL) {
        free(args);
        free(args_buf);
        return FP_ERR_NOMEM;
    }
    size_t len = (size_t)snprintf(cmd, cap, "sh -c");
    char num[64], env_buf[600];
    bool ok = sh_quote(cmd, cap, &len, k_script) &&
              sh_quote(cmd, cap, &len, "fastpool-boot") &&
              sh_quote(cmd, cap, &len, mode == FP_BUNDLE_SHIP ? b.hash : "-");
    fp__boot_fmt(num, sizeof(num), "%llu", (unsigned long long)b.size);
    ok = ok && sh_quote(cmd, cap, &len, num) &&
         sh_quote(cmd, cap, &len,
                  hp->remote_cache != NULL        ? hp->remote_cache
                  : getenv("FP_REMOTE_CACHE") != NULL ? getenv("FP_REMOTE_CACHE")
                                                    : "");
    char bprog[PATH_MAX + 8];
    if (mode == FP_BUNDLE_SHIP) {
        const char *base = strrchr(prog, '/');
        fp__boot_fmt(bprog, sizeof(bprog), "bin/%s", base != NULL ? base + 1 : prog);
    } else {
        fp__boot_fmt(bprog, sizeof(bprog), "%s", prog);
    }
    ok = ok && sh_quote(cmd, cap, &len, bprog);
    fp__boot_fmt(num, sizeof(num), "%u", hp->node_port);
    ok = ok && sh_quote(cmd, cap, &len, num);
    /* settings: forwarded ones, executors, the caller's */
    const char *envs[64 + 64 + 2];
    size_t ne = 0;
    for (char **e = environ; e != NULL && *e != NULL && ne < 64; e++)
        if (forwarded(*e))
            envs[ne++] = *e;
    if (hp->executors > 0) {
        fp__boot_fmt(env_buf, sizeof(env_buf), "FP_EXECUTORS=%u", hp->executors);
        envs[ne++] = env_buf;
    }
    if (hp->nenv > 64) {
        free(cmd);
        free(args);
        free(args_buf);
        fp__boot_err(err, FP_ERR_INVALID, "at most 64 env settings per host");
        return FP_ERR_INVALID;
    }
    for (size_t i = 0; i < hp->nenv; i++) {
        if (strchr(hp->env[i], '=') == NULL || hp->env[i][0] == '=') {
            free(cmd);
            free(args);
            free(args_buf);
            fp__boot_err(err, FP_ERR_INVALID,
                         "host '%s': env '%s' is not NAME=VALUE", host,
                         hp->env[i]);
            return FP_ERR_INVALID;
        }
        envs[ne++] = hp->env[i];
    }
    fp__boot_fmt(num, sizeof(num), "%zu", ne);
    ok = ok && sh_quote(cmd, cap, &len, num);
    for (size_t i = 0; ok && i < ne; i++)
        ok = sh_quote(cmd, cap, &len, envs[i]);
    for (size_t i = 0; ok && i < nargs; i++)
        ok = sh_quote(cmd, cap, &len, args[i]);
    for (size_t i = 0; ok && i < hp->nprogram_args; i++)
        ok = sh_quote(cmd, cap, &len, hp->program_args[i]);
    free(args);
    free(args_buf);
    if (!ok) {
        free(cmd);
        fp__boot_err(err, FP_ERR_INVALID, "host '%s': command too long", host);
        return FP_ERR_INVALID;
    }

    const char *argv[64 + 2 * 64];
    char tbuf[64], pbuf[16];
    if (hp->nssh_options > 64 ||
        !ssh_argv(host, hp, timeout, cmd, ssh_path, argv,
                  sizeof(argv) / sizeof(argv[0]), tbuf, sizeof(tbuf), pbuf,
                  sizeof(pbuf))) {
        free(cmd);
        fp__boot_err(err, FP_ERR_INVALID, "host '%s': too many ssh options",
                     host);
        return FP_ERR_INVALID;
    }
    shost_t *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        free(cmd);
        return FP_ERR_NOMEM;
    }
    fp__boot_fmt(h->host, sizeof(h->host), "%s", host);
    h->in = h->out = h->errfd = -1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    double t0 = now();
    st = spawn(h, argv, err);
    free(cmd);
    if (st != FP_OK) {
        host_free(h);
        return st;
    }

    /* the conversation */
    char line[1100], ip[300] = "", addr[400] = "";
    const char *phase = "connecting";
    double t_ready = 0;
    bool shipped = false;
    for (;;) {
        st = converse(h, NULL, 0, line, sizeof(line), timeout);
        if (st != FP_OK)
            break;
        if (strcmp(line, "FP-NEED") == 0 && mode == FP_BUNDLE_SHIP &&
            !shipped) {
            phase = "sending the bundle";
            st = converse(h, b.path, b.size, line, sizeof(line), timeout);
            shipped = true;
            if (st != FP_OK)
                break;
            /* the line after the bytes: handled below like any other */
        }
        if (strncmp(line, "FP-READY", 8) == 0) {
            t_ready = now() - t0;
            fp__boot_fmt(ip, sizeof(ip), "%s", line[8] == ' ' ? line + 9 : "");
            char sec[16 + 2 * FP__AUTH_KEY_LEN];
            int n = snprintf(sec, sizeof(sec), "FP-SECRET ");
            static const char digits[] = "0123456789abcdef";
            for (size_t i = 0; i < FP__AUTH_KEY_LEN; i++) {
                sec[n++] = digits[key[i] >> 4];
                sec[n++] = digits[key[i] & 15];
            }
            sec[n++] = '\n';
            bool w = write_all(h->in, sec, (size_t)n) &&
                     write_all(h->in, "FP-GO\n", 6);
            OPENSSL_cleanse(sec, sizeof(sec));
            if (!w) {
                st = FP_ERR_CLOSED;
                break;
            }
            phase = "starting the node";
            continue;
        }
        if (strncmp(line, "FP-FAIL ", 8) == 0) {
            fp__boot_err(err, FP_ERR_SYSTEM, "host '%s': %s", host, line + 8);
            st = FP_ERR_SYSTEM;
            break;
        }
        if (strncmp(line, "LISTENING ", 10) == 0) {
            const char *a = line + 10;
            const char *colon = strrchr(a, ':');
            if (colon == NULL) {
                fp__boot_err(err, FP_ERR_PROTOCOL,
                             "host '%s': the node said '%s'", host, line);
                st = FP_ERR_PROTOCOL;
                break;
            }
            /* the address this SSH connection reached, unless the node
             * bound a specific one */
            if (strncmp(a, "0.0.0.0:", 8) == 0 && ip[0] != '\0')
                fp__boot_fmt(addr, sizeof(addr), "%s%s", ip, colon);
            else if (strncmp(a, "0.0.0.0:", 8) == 0)
                fp__boot_fmt(addr, sizeof(addr), "%s%s", host, colon);
            else
                fp__boot_fmt(addr, sizeof(addr), "%s", a);
            break;
        }
        /* anything else: the program's own output before it served */
        fprintf(stdout, "[%s] %s\n", host, line);
        fflush(stdout);
    }
    OPENSSL_cleanse(key, sizeof(key));
    if (st != FP_OK) {
        if (err == NULL || err->message[0] == '\0')
            fail_err(h, st, timeout, phase, err);
        if (err != NULL && err->status != FP_OK)
            st = err->status;
        if (h->pid > 0)
            host_end(h, 0);
        host_free(h);
        return st;
    }
    double t_started = now() - t0;

    /* from here its output is forwarded */
    if (pthread_create(&h->fwd, NULL, fwd_main, h) == 0)
        h->fwd_started = true;
    st = fp_pool_add_node(pool, addr, err);
    if (st == FP_OK && attach)
        st = fp__dpool_attach(pool, host_fini, h);
    if (st != FP_OK) {
        host_end(h, 2.0);
        host_free(h);
        return st;
    }
    const char *lv = getenv("FP_LOG_LEVEL");
    if (lv != NULL && (strcmp(lv, "info") == 0 || strcmp(lv, "debug") == 0))
        fprintf(stderr,
                "fastpool: host %s: node %s up in %.3f s (ssh and script "
                "%.3f s, node start %.3f s, joining %.3f s; %s)\n",
                host, addr, now() - t0, t_ready, t_started - t_ready,
                now() - t0 - t_started,
                mode == FP_BUNDLE_NEVER ? "installed program"
                : shipped               ? "bundle sent"
                                        : "bundle cached there");
    if (h_p != NULL)
        *h_p = h;
    if (addr_out != NULL)
        fp__boot_fmt(addr_out, addr_cap, "%s", addr);
    return FP_OK;
}

void fp__boot_host_stop(fp__shost_t *h)
{
    /* EOF on the node's stdin: it stops cleanly (queued records handed
     * back, running ones finished) and says goodbye */
    if (h->in >= 0) {
        close(h->in);
        h->in = -1;
    }
}

void fp__boot_host_end(fp__shost_t *h) { host_fini(h); }

/* ---- a pool's hosts at creation (fp_pool_params_t.hosts, FP_HOSTS) --------- */

typedef struct add_job {
    fp_pool_t *pool;
    const char *host;
    const fp_host_params_t *hp;
    fp_error_t err;
    fp_status_t st;
} add_job_t;

static void *add_main(void *arg)
{
    add_job_t *j = arg;
    j->st = fp_pool_add_host(j->pool, j->host, j->hp, &j->err);
    return NULL;
}

/* Every host at once: a cluster comes up in the time of its slowest host. */
static fp_status_t add_hosts(fp_pool_t *pool, const char *const *hosts,
                             size_t nhosts, const struct fp_host_params *hp,
                             fp_error_t *err)
{
    add_job_t *jobs = calloc(nhosts, sizeof(*jobs));
    pthread_t *t = calloc(nhosts, sizeof(*t));
    bool *started = calloc(nhosts, sizeof(*started));
    if (jobs == NULL || t == NULL || started == NULL) {
        free(jobs);
        free(t);
        free(started);
        return FP_ERR_NOMEM;
    }
    for (size_t i = 0; i < nhosts; i++) {
        jobs[i] = (add_job_t){.pool = pool, .host = hosts[i], .hp = hp};
        started[i] = pthread_create(&t[i], NULL, add_main, &jobs[i]) == 0;
        if (!started[i])
            add_main(&jobs[i]);
    }
    fp_status_t st = FP_OK;
    for (size_t i = 0; i < nhosts; i++) {
        if (started[i])
            pthread_join(t[i], NULL);
        if (jobs[i].st != FP_OK && st == FP_OK) {
            st = jobs[i].st;
            if (err != NULL)
                *err = jobs[i].err;
            if (err != NULL && err->message[0] == '\0')
                fp__boot_err(err, st, "host '%s': %s", hosts[i],
                             fp_status_string(st));
        }
    }
    free(jobs);
    free(t);
    free(started);
    return st;
}

/* A static link keeps this object (and with it cluster.c, which it names)
 * through this symbol: fp_layer ANCHORS in boot/CMakeLists.txt. */
int fp__boot_ssh_anchor;

/* The layer's hooks into dist/ (dist/dist.h). */
__attribute__((constructor)) static void boot_ssh_register(void)
{
    fp__boot_hosts_hook = add_hosts;
    fp__boot_cluster_hook_load = fp__boot_plan_load;
    fp__boot_cluster_hook_start = fp__boot_plan_start;
    fp__boot_cluster_hook_free = fp__boot_plan_free;
}
