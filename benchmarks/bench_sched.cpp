// bench_sched: Google Benchmark microbenchmarks of the fastpool scheduler.
//
//  BM_spawn_sync/N      one executor; a root job spawns and syncs N empty
//                       jobs one after the other.  ns_per_task counter.
//  BM_fib/n/E           fib(n), every call a job (no cut-off), E executors.
//  BM_map_empty/N       fp_map of N 8-byte elements, empty registered task.
//  BM_map_1us/N         the same with a task that spins ~1 us (calibrated).
//
// All use real (wall-clock) time: the benchmark thread only waits.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench_util.h"
#include "fp_jobs.h"

namespace {

// A context and a pool for the duration of one benchmark run.
class Pool {
public:
    explicit Pool(unsigned executors) : pool_(bu_pool_create(&ctx_, executors)) {}
    ~Pool() { bu_pool_destroy(ctx_, pool_); }
    Pool(const Pool &) = delete;
    Pool &operator=(const Pool &) = delete;
    fp_pool_t *get() const { return pool_; }

private:
    fp_context_t *ctx_ = nullptr;
    fp_pool_t *pool_;
};

// Average wall-clock nanoseconds per task over the timed loop.
double NsPer(std::uint64_t start_ns, double tasks)
{
    return static_cast<double>(bu_now_ns() - start_ns) / tasks;
}

void BM_spawn_sync(benchmark::State &state)
{
    Pool pool(1);
    const auto n = static_cast<std::uint64_t>(state.range(0));
    const std::uint64_t t0 = bu_now_ns();
    for (auto _ : state) {
        bench_spawn_sync(pool.get(), n);
    }
    const double tasks = static_cast<double>(state.iterations()) * static_cast<double>(n);
    state.counters["ns_per_task"] = NsPer(t0, tasks);
    state.SetItemsProcessed(static_cast<std::int64_t>(tasks));
}
BENCHMARK(BM_spawn_sync)->Arg(1 << 20)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_fib(benchmark::State &state)
{
    const int n = static_cast<int>(state.range(0));
    Pool pool(static_cast<unsigned>(state.range(1)));
    const std::uint64_t expect = bench_fib_seq(n);
    const std::uint64_t t0 = bu_now_ns();
    for (auto _ : state) {
        if (bench_fib(pool.get(), n) != expect) {
            state.SkipWithError("wrong fib result");
            break;
        }
    }
    const double tasks =
        static_cast<double>(state.iterations()) * static_cast<double>(bench_fib_calls(n));
    state.counters["ns_per_task"] = NsPer(t0, tasks);
    state.counters["executors"] = static_cast<double>(fp_pool_size(pool.get()));
}
BENCHMARK(BM_fib)
    ->ArgNames({"n", "executors"})
    ->Args({32, 1})
    ->Args({32, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void map_bench(benchmark::State &state, const char *task)
{
    const auto n = static_cast<std::size_t>(state.range(0));
    Pool pool(0);
    std::vector<std::uint64_t> in(n), out(n);
    for (std::size_t i = 0; i < n; i++) {
        in[i] = i;
    }
    for (auto _ : state) {
        bench_map(pool.get(), task, in.data(), out.data(), n);
    }
    if (out != in) {
        state.SkipWithError("wrong map result");
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(n));
    state.counters["executors"] = static_cast<double>(fp_pool_size(pool.get()));
}

void BM_map_empty(benchmark::State &state) { map_bench(state, BENCH_TASK_EMPTY); }
void BM_map_1us(benchmark::State &state) { map_bench(state, BENCH_TASK_SPIN); }
BENCHMARK(BM_map_empty)->Arg(1000000)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_map_1us)->Arg(1000000)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace

int main(int argc, char **argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::AddCustomContext("spin_ns_per_call", std::to_string(bench_spin_calibrate()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
