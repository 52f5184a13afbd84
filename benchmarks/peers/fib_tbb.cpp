// fib_tbb <n> <threads> [reps]
//
// fib(n) with oneTBB task_group: both recursive calls through g.run, then
// g.wait().  No cut-off, the same rule as fib_fastpool and the OpenMP peers.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_group.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

static std::uint64_t fib(int n)
{
    if (n < 2) {
        return static_cast<std::uint64_t>(n);
    }
    std::uint64_t x = 0, y = 0;
    tbb::task_group g;
    g.run([&] { x = fib(n - 1); });
    g.run([&] { y = fib(n - 2); });
    g.wait();
    return x + y;
}

static std::uint64_t fib_seq(int n)
{
    return n < 2 ? static_cast<std::uint64_t>(n) : fib_seq(n - 1) + fib_seq(n - 2);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s <n> <threads> [reps]\n", argv[0]);
        return 2;
    }
    const int n = std::atoi(argv[1]);
    const int threads = std::atoi(argv[2]);
    const int reps = argc > 3 ? std::atoi(argv[3]) : 3;
    if (n < 0 || threads < 1 || reps < 1) {
        std::fprintf(stderr, "fib_tbb: bad arguments\n");
        return 2;
    }
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                              static_cast<std::size_t>(threads));
    const std::uint64_t expect = fib_seq(n);

    double best = 1e30;
    std::uint64_t result = 0;
    for (int r = 0; r < reps; r++) {
        const auto t0 = std::chrono::steady_clock::now();
        result = fib(n);
        const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
        if (result != expect) {
            std::fprintf(stderr, "fib_tbb: fib(%d) = %" PRIu64 ", expected %" PRIu64 "\n",
                         n, result, expect);
            return 1;
        }
        best = dt.count() < best ? dt.count() : best;
    }
    std::printf("fib_tbb n=%d threads=%d seconds=%.4f result=%" PRIu64 " reps=%d\n",
                n, threads, best, result, reps);
    return 0;
}
