// fastpool transport benchmarks (Google Benchmark).
//
//   bench_transport [google-benchmark flags]
//   bench_transport --idle SECONDS    CPU use of a connected, idle pair
//   FP_BENCH_TRANSPORTS=shm,tcp (default: both)
//   FP_BENCH_RNDV=<bytes>   rendezvous threshold (default: the transport's)
//   FP_BENCH_NO_MEMH=1      send without registered-memory handles
//   FP_BENCH_UNFRAMED=1     send eager messages with the header in UCX's AM
//                           header (after the payload) instead of the framed
//                           form (fp__tp_send_framed, what the pool layer
//                           is to use for its batches)
//
// For each transport a server process is forked before the benchmarks run;
// it answers every message of size S with a message of size S (latency)
// from a preallocated buffer, or nothing (bandwidth), and
// receives rendezvous payloads into a preallocated buffer: like
// ucx_perftest, it does no work per byte.  Both sides busy-poll, as
// ucx_perftest does.  Bandwidth, like ucx_perftest -t ucp_am_bw, keeps a
// window of sends in flight and counts send completions (a rendezvous send
// completes once the receiver has the data); the server sends nothing back.  Authentication is on (it happens once per connection).
//
// Reported counters:
//   one_way_us   half the measured round trip (ucx_perftest -t ucp_am_lat
//                prints the same quantity)
//   MiBps        payload MiB (2^20 bytes) delivered per second, one way
//                (what ucx_perftest -t ucp_am_bw prints as MB/s)
//   copied       payload bytes fastpool itself copied (the transport's
//                counter): 0 means every payload went zero-copy
#include <benchmark/benchmark.h>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "transport/tp.h"

namespace {

const char kSecret[] = "benchmark secret, not for production use";
constexpr size_t kMaxMsg = 4u << 20;

bool env_flag(const char *name)
{
    const char *e = std::getenv(name);
    return e != nullptr && *e != '\0' && *e != '0';
}
bool no_memh() { return env_flag("FP_BENCH_NO_MEMH"); }
const bool kUnframed = env_flag("FP_BENCH_UNFRAMED");

// Send buffers keep FP__TP_HEADROOM free bytes in front of the payload.
fp_status_t send_payload(fp__tp_conn_t *c, fp__wire_msg_t *m,
                         std::vector<unsigned char> &buf, size_t len,
                         const fp__tp_mem_t *mem, fp__tp_send_cb_t cb, void *ud)
{
    unsigned char *p = buf.data() + FP__TP_HEADROOM;
    if (kUnframed)
        return fp__tp_send_mem(c, m, p, len, mem, cb, ud);
    return fp__tp_send_framed(c, m, p, len, mem, cb, ud);
}

fp__auth_secret_t *make_secret()
{
    fp__auth_secret_t *s = nullptr;
    if (fp__auth_secret_from_bytes(kSecret, sizeof(kSecret) - 1, "bench", &s,
                                   nullptr, 0) != FP_OK)
        std::abort();
    return s;
}

fp__tp_t *make_tp(const char *transport, uint8_t role,
                  const fp__tp_handlers_t &h, fp__auth_secret_t *s)
{
    fp__tp_params_t p{};
    p.transports = transport;
    p.busy_poll = true;
    p.secret = s;
    p.role = role;
    p.executors = 1;
    p.handlers = h;
    p.peer_deadline = 600; // a long benchmark must not look like a hang
    if (const char *t = std::getenv("FP_BENCH_RNDV"))
        p.rndv_threshold = std::strtoull(t, nullptr, 10);
    p.log_level = FP_LOG_ERROR;
    fp__tp_t *tp = nullptr;
    if (fp__tp_create(&p, &tp) != FP_OK)
        std::abort();
    return tp;
}

fp__wire_msg_t bulk_msg(uint8_t kind, uint64_t id, uint8_t index, size_t len)
{
    return fp__wire_bulk_whole(1, kind, id, 1, index, len);
}

// ---- the server (a child process) -------------------------------------------

struct Server {
    std::vector<unsigned char> out, in;
    fp__tp_mem_t *out_mem = nullptr, *in_mem = nullptr;
};
Server *srv;

void srv_reply(fp__tp_conn_t *c, const fp__wire_bulk_t *b)
{
    if (b->index == 1) // bandwidth: receive only
        return;
    size_t len = b->len;
    fp__wire_msg_t m = bulk_msg(FP__WIRE_BULK_RESULT, b->task_id, 0, len);
    send_payload(c, &m, srv->out, len, srv->out_mem, nullptr, nullptr);
}

void srv_message(void *, fp__tp_conn_t *c, const fp__wire_msg_t *m)
{
    if (m->hdr.type == FP__WIRE_BULK && m->u.bulk.kind == FP__WIRE_BULK_ARG)
        srv_reply(c, &m->u.bulk);
}

void srv_bulk_done(fp__tp_conn_t *c, void *, fp_status_t st,
                   const fp__wire_msg_t *m, void *, size_t)
{
    if (st == FP_OK)
        srv_reply(c, &m->u.bulk);
}

void srv_bulk(void *, fp__tp_conn_t *, const fp__wire_msg_t *, size_t len,
              fp__tp_bulk_dest_t *dest)
{
    if (len <= srv->in.size()) {
        dest->buf = srv->in.data();
        dest->mem = srv->in_mem;
        dest->done = srv_bulk_done;
    }
}

[[noreturn]] void run_server(const char *transport, int port_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the benchmark
    srv = new Server;
    srv->out.resize(FP__TP_HEADROOM + kMaxMsg);
    srv->in.resize(kMaxMsg);
    fp__tp_handlers_t h{};
    h.on_message = srv_message;
    h.on_bulk = srv_bulk;
    fp__auth_secret_t *s = make_secret();
    fp__tp_t *tp = make_tp(transport, FP__WIRE_ROLE_NODE, h, s);
    if (no_memh() ||
        fp__tp_mem_get(tp, srv->out.data(), srv->out.size(), &srv->out_mem) !=
            FP_OK)
        srv->out_mem = nullptr;
    if (no_memh() ||
        fp__tp_mem_get(tp, srv->in.data(), srv->in.size(), &srv->in_mem) != FP_OK)
        srv->in_mem = nullptr;
    uint16_t port = 0;
    if (fp__tp_listen(tp, "127.0.0.1", 0, &port) != FP_OK)
        _exit(2);
    if (write(port_fd, &port, sizeof(port)) != sizeof(port))
        _exit(2);
    close(port_fd);
    // Busy-poll while traffic flows, sleep on UCX's event fd once nothing
    // has happened for a while: servers of transports not being measured
    // must not take a core from the pair that is.
    unsigned long empty = 0;
    for (;;) {
        int n = fp__tp_progress(tp, empty > (1ul << 22));
        empty = n > 0 ? 0 : empty + 1;
    }
}

// ---- the client (this process) ----------------------------------------------

struct Client {
    fp__tp_t *tp = nullptr;
    fp__tp_conn_t *conn = nullptr;
    bool ready = false, closed = false;
    uint64_t replies = 0;
    uint64_t started = 0, completed = 0, send_errors = 0; // sends
    std::vector<unsigned char> out, in;
    fp__tp_mem_t *out_mem = nullptr, *in_mem = nullptr;
    pid_t server = -1;
    std::string name;
};
std::map<std::string, Client *> clients;

void cli_ready(void *arg, fp__tp_conn_t *) { static_cast<Client *>(arg)->ready = true; }
void cli_closed(void *arg, fp__tp_conn_t *, fp_status_t, const char *reason)
{
    auto *c = static_cast<Client *>(arg);
    c->closed = true;
    c->conn = nullptr;
    std::fprintf(stderr, "bench_transport %s: connection closed: %s\n",
                 c->name.c_str(), reason);
}
void cli_message(void *arg, fp__tp_conn_t *, const fp__wire_msg_t *m)
{
    if (m->hdr.type == FP__WIRE_BULK)
        static_cast<Client *>(arg)->replies++;
}
void cli_bulk_done(fp__tp_conn_t *, void *ud, fp_status_t st,
                   const fp__wire_msg_t *, void *, size_t)
{
    if (st == FP_OK)
        static_cast<Client *>(ud)->replies++;
}
void cli_bulk(void *arg, fp__tp_conn_t *, const fp__wire_msg_t *, size_t len,
              fp__tp_bulk_dest_t *dest)
{
    auto *c = static_cast<Client *>(arg);
    if (len <= c->in.size()) {
        dest->buf = c->in.data();
        dest->mem = c->in_mem;
        dest->done = cli_bulk_done;
        dest->user_data = c;
    }
}

// Servers are forked before this process creates any UCX context: a child
// forked from a process with live UCX state inherits it without UCX's async
// thread, and its connection manager never answers.
std::map<std::string, std::pair<pid_t, uint16_t>> servers;

void start_server(const std::string &transport)
{
    int fds[2];
    if (pipe(fds) != 0)
        std::abort();
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        run_server(transport.c_str(), fds[1]);
    }
    close(fds[1]);
    uint16_t port = 0;
    if (read(fds[0], &port, sizeof(port)) != sizeof(port)) {
        std::fprintf(stderr, "bench_transport: %s server did not start\n",
                     transport.c_str());
        std::exit(2);
    }
    close(fds[0]);
    servers[transport] = {pid, port};
}

Client *client_for(const std::string &transport)
{
    auto it = clients.find(transport);
    if (it != clients.end())
        return it->second;
    pid_t pid = servers.at(transport).first;
    uint16_t port = servers.at(transport).second;

    auto *c = new Client;
    c->name = transport;
    c->server = pid;
    c->out.resize(FP__TP_HEADROOM + kMaxMsg);
    c->in.resize(kMaxMsg);
    fp__tp_handlers_t h{};
    h.arg = c;
    h.on_ready = cli_ready;
    h.on_closed = cli_closed;
    h.on_message = cli_message;
    h.on_bulk = cli_bulk;
    c->tp = make_tp(transport.c_str(), FP__WIRE_ROLE_CLIENT, h, make_secret());
    if (no_memh() ||
        fp__tp_mem_get(c->tp, c->out.data(), c->out.size(), &c->out_mem) !=
            FP_OK)
        c->out_mem = nullptr;
    if (no_memh() ||
        fp__tp_mem_get(c->tp, c->in.data(), c->in.size(), &c->in_mem) != FP_OK)
        c->in_mem = nullptr;
    if (fp__tp_connect(c->tp, "127.0.0.1", port, &c->conn) != FP_OK)
        std::exit(2);
    while (!c->ready && !c->closed)
        fp__tp_progress(c->tp, false);
    if (!c->ready)
        std::exit(2);
    std::fprintf(stderr, "bench_transport %s: connected, UCX uses %s\n",
                 transport.c_str(), fp__tp_conn_transports(c->conn));
    clients[transport] = c;
    return c;
}

void on_sent(void *ud, fp_status_t st)
{
    auto *c = static_cast<Client *>(ud);
    c->completed++;
    if (st != FP_OK)
        c->send_errors++;
}

bool send_one(Client *c, size_t len, uint8_t index)
{
    fp__wire_msg_t m = bulk_msg(FP__WIRE_BULK_ARG, 1, index, len);
    c->started++;
    if (send_payload(c->conn, &m, c->out, len, c->out_mem, on_sent, c) ==
        FP_OK)
        return true;
    c->started--;
    return false;
}

std::vector<std::string> transports()
{
    const char *env = std::getenv("FP_BENCH_TRANSPORTS");
    std::string list = env != nullptr ? env : "shm,tcp";
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos <= list.size()) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos)
            comma = list.size();
        if (comma > pos)
            out.push_back(list.substr(pos, comma - pos));
        pos = comma + 1;
    }
    return out;
}

uint64_t copied(Client *c)
{
    fp__tp_stats_t st;
    fp__tp_get_stats(c->tp, &st);
    return st.bytes_copied;
}

// payload bytes fastpool copied on this side while the benchmark ran
void report_copied(benchmark::State &state, Client *c, uint64_t before)
{
    state.counters["copied"] = static_cast<double>(copied(c) - before);
}

// Progress until done() or the connection closes.  A reply that never
// comes must not hang a benchmark run (or compare.sh) for ever: after 10 s
// without any send completing or reply arriving, say what both counters
// show and stop the process.
template <typename Done> void progress_until(Client *c, Done done)
{
    uint64_t spins = 0, seen = c->replies + c->completed;
    double since = 0;
    while (!done() && !c->closed) {
        fp__tp_progress(c->tp, false);
        if ((++spins & 0xfffff) != 0)
            continue;
        double t = std::chrono::duration<double>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
        uint64_t now_seen = c->replies + c->completed;
        if (now_seen != seen || since == 0) {
            seen = now_seen;
            since = t;
        } else if (t - since > 10) {
            fp__tp_stats_t st;
            fp__tp_get_stats(c->tp, &st);
            std::fprintf(stderr,
                         "bench_transport %s: no progress for 10 s: sends "
                         "started %llu, completed %llu, replies %llu; "
                         "transport sent %llu messages, received %llu, "
                         "sequence jumps %llu\n",
                         c->name.c_str(), (unsigned long long)c->started,
                         (unsigned long long)c->completed,
                         (unsigned long long)c->replies,
                         (unsigned long long)st.msgs_sent,
                         (unsigned long long)st.msgs_received,
                         (unsigned long long)st.seq_gaps);
            std::exit(3);
        }
    }
}

void BM_latency(benchmark::State &state, std::string transport)
{
    Client *c = client_for(transport);
    size_t len = static_cast<size_t>(state.range(0));
    for (int i = 0; i < 100; i++) { // warm-up (UCX lazily wires lanes up)
        uint64_t want = c->replies + 1;
        send_one(c, len, 0);
        progress_until(c, [&] { return c->replies >= want; });
    }
    uint64_t copied0 = copied(c);
    for (auto _ : state) {
        uint64_t want = c->replies + 1;
        if (!send_one(c, len, 0)) {
            state.SkipWithError("send failed");
            break;
        }
        progress_until(c, [&] { return c->replies >= want; });
    }
    double iters = static_cast<double>(state.iterations());
    state.counters["one_way_us"] = benchmark::Counter(
        iters * 2 / 1e6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    report_copied(state, c, copied0);
}

void BM_bandwidth(benchmark::State &state, std::string transport)
{
    Client *c = client_for(transport);
    size_t len = static_cast<size_t>(state.range(0));
    const uint64_t window = 32; // sends in flight
    uint64_t copied0 = copied(c);
    for (auto _ : state) {
        progress_until(c, [&] { return c->started - c->completed < window; });
        if (!send_one(c, len, 1)) {
            state.SkipWithError("send failed");
            break;
        }
    }
    progress_until(c, [&] { return c->completed >= c->started; }); // all delivered
    if (c->send_errors != 0)
        state.SkipWithError("a send completed with an error");
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                            static_cast<int64_t>(len));
    state.counters["MiBps"] = benchmark::Counter(
        static_cast<double>(state.iterations()) * static_cast<double>(len) /
            (1024.0 * 1024.0),
        benchmark::Counter::kIsRate);
    report_copied(state, c, copied0);
}

// The per-message work of the wire code, without UCX: encoding a BULK
// header as fp__tp_send does, and decoding one as a receiver does.
void BM_wire_encode_header(benchmark::State &state)
{
    unsigned char hdr[FP__WIRE_HDR_MAX];
    fp__wire_msg_t m = bulk_msg(FP__WIRE_BULK_ARG, 7, 0, 4096);
    size_t hl = 0;
    for (auto _ : state) {
        m.hdr.seq++;
        benchmark::DoNotOptimize(m);
        if (fp__wire_encode_header(hdr, sizeof(hdr), &m, &hl, nullptr, 0) !=
            FP_OK)
            state.SkipWithError("encode failed");
        benchmark::DoNotOptimize(hdr);
    }
}

void BM_wire_decode(benchmark::State &state)
{
    unsigned char hdr[FP__WIRE_HDR_MAX];
    static unsigned char payload[4096];
    fp__wire_msg_t m = bulk_msg(FP__WIRE_BULK_ARG, 7, 0, sizeof(payload));
    size_t hl = 0;
    if (fp__wire_encode_header(hdr, sizeof(hdr), &m, &hl, nullptr, 0) != FP_OK)
        state.SkipWithError("encode failed");
    fp__wire_msg_t out;
    for (auto _ : state) {
        benchmark::DoNotOptimize(hdr);
        if (fp__wire_decode(hdr, hl, payload, sizeof(payload), &out, nullptr,
                            0) != FP_OK)
            state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(out);
    }
}

double cpu_seconds(pid_t pid)
{
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
    FILE *f = std::fopen(path, "r");
    if (f == nullptr)
        return -1;
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    const char *p = std::strrchr(buf, ')'); // after the command name
    unsigned long ut = 0, st = 0;
    if (p == nullptr ||
        std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                    &ut, &st) != 2)
        return -1;
    return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// An idle pair: a node and a client with sleeping progress threads (the
// default mode), connected and authenticated, heartbeats on; both
// processes' CPU time over `secs`, as a percentage of one core.
int run_idle(double secs)
{
    int fds[2];
    if (pipe(fds) != 0)
        return 2;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(fds[0]);
        fp__tp_handlers_t h{};
        fp__tp_params_t p{};
        p.transports = "tcp";
        p.secret = make_secret();
        p.role = FP__WIRE_ROLE_NODE;
        p.executors = 1;
        p.handlers = h;
        p.log_level = FP_LOG_ERROR;
        fp__tp_t *tp = nullptr;
        uint16_t port = 0;
        if (fp__tp_create(&p, &tp) != FP_OK ||
            fp__tp_listen(tp, "127.0.0.1", 0, &port) != FP_OK ||
            fp__tp_start(tp) != FP_OK)
            _exit(2);
        if (write(fds[1], &port, sizeof(port)) != sizeof(port))
            _exit(2);
        for (;;)
            pause();
    }
    close(fds[1]);
    uint16_t port = 0;
    if (read(fds[0], &port, sizeof(port)) != sizeof(port))
        return 2;
    Client c;
    fp__tp_handlers_t h{};
    h.arg = &c;
    h.on_ready = cli_ready;
    h.on_closed = cli_closed;
    fp__tp_params_t p{};
    p.transports = "tcp";
    p.secret = make_secret();
    p.handlers = h;
    p.log_level = FP_LOG_ERROR;
    if (fp__tp_create(&p, &c.tp) != FP_OK ||
        fp__tp_connect(c.tp, "127.0.0.1", port, &c.conn) != FP_OK)
        return 2;
    while (!c.ready && !c.closed)
        fp__tp_progress(c.tp, true);
    if (!c.ready || fp__tp_start(c.tp) != FP_OK)
        return 2;
    usleep(500000);
    double s0 = cpu_seconds(pid), c0 = cpu_seconds(getpid());
    usleep(static_cast<useconds_t>(secs * 1e6));
    double s1 = cpu_seconds(pid), c1 = cpu_seconds(getpid());
    std::printf("idle_connected seconds=%.1f client_cpu_percent=%.3f "
                "node_cpu_percent=%.3f connected=%s\n",
                secs, (c1 - c0) / secs * 100, (s1 - s0) / secs * 100,
                c.closed ? "no" : "yes");
    bool lost = c.closed;
    fp__tp_destroy(c.tp);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return lost ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 3 && std::strcmp(argv[1], "--idle") == 0)
        return run_idle(std::atof(argv[2]));
    benchmark::RegisterBenchmark("wire/encode_header/BULK", BM_wire_encode_header);
    benchmark::RegisterBenchmark("wire/decode/BULK", BM_wire_decode);
    for (const std::string &t : transports())
        start_server(t);
    for (const std::string &t : transports()) {
        for (long size : {8L, 4096L, 65536L})
            benchmark::RegisterBenchmark(("latency/" + t).c_str(), BM_latency, t)
                ->Arg(size)
                ->UseRealTime();
        for (long size : {65536L, 1L << 20, 4L << 20})
            benchmark::RegisterBenchmark(("bandwidth/" + t).c_str(), BM_bandwidth,
                                         t)
                ->Arg(size)
                ->UseRealTime();
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    for (auto &kv : servers) {
        kill(kv.second.first, SIGKILL);
        waitpid(kv.second.first, nullptr, 0);
    }
    return 0;
}
