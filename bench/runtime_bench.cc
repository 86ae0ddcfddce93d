// bench/runtime_bench: the runtime's hot paths, and NOP requests through the
// ring next to a plain liburing loop written below, in the same run.
//
//     ./bazelw build --config=opt //bench:runtime_bench
//     taskset -c 1 bazel-bin/bench/runtime_bench --benchmark_repetitions=5
//         --benchmark_report_aggregates_only=true   (one command line)
//
// The last lines print runtime/plain ratios for the NOP benchmarks (goal:
// the runtime keeps at least 0.8 of the plain loop's rate).
#include <benchmark/benchmark.h>
#include <fmt/core.h>
#include <liburing.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/operation.h"

namespace {

using whirl::Task;

constexpr int kBatch = 64;

Task<int> ready_value(int v) { co_return v; }

Task<void> task_create_await(benchmark::State& state) {
  for (auto _ : state) {
    int v = co_await ready_value(1);
    benchmark::DoNotOptimize(v);
  }
}

void BM_TaskCreateAndAwait(benchmark::State& state) {
  whirl::IOLoop loop;
  loop.run_sync(task_create_await(state));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TaskCreateAndAwait);

Task<void> moment_round_trips(benchmark::State& state) {
  for (auto _ : state) co_await whirl::moment();
}

void BM_MomentRoundTrip(benchmark::State& state) {
  whirl::IOLoop loop;
  loop.run_sync(moment_round_trips(state));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MomentRoundTrip);

Task<void> timer_round_trips(benchmark::State& state) {
  using namespace std::chrono_literals;
  for (auto _ : state) co_await whirl::sleep(0ns);
}

void BM_TimerScheduleAndFire(benchmark::State& state) {
  whirl::IOLoop loop;
  loop.run_sync(timer_round_trips(state));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerScheduleAndFire);

// ---- NOPs: one at a time ----

Task<void> runtime_nops(benchmark::State& state) {
  for (auto _ : state) {
    int r = co_await whirl::io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
    benchmark::DoNotOptimize(r);
  }
}

void BM_Nop_Runtime_Sequential(benchmark::State& state) {
  whirl::IOLoop loop;
  loop.run_sync(runtime_nops(state));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Nop_Runtime_Sequential);

// The same ring setup the loop uses, driven by hand.
io_uring make_plain_ring() {
  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = 4096;
  if (io_uring_queue_init_params(256, &ring, &params) != 0) throw std::runtime_error("io_uring_queue_init");
  return ring;
}

void plain_nops(io_uring* ring, int count) {
  for (int i = 0; i < count; ++i) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, static_cast<unsigned>(i) + 1);
  }
  io_uring_submit_and_wait(ring, count);
  io_uring_cqe* cqe;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(ring, head, cqe) {
    benchmark::DoNotOptimize(cqe->res);
    ++seen;
  }
  io_uring_cq_advance(ring, seen);
}

void BM_Nop_Plain_Sequential(benchmark::State& state) {
  io_uring ring = make_plain_ring();
  for (auto _ : state) plain_nops(&ring, 1);
  io_uring_queue_exit(&ring);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Nop_Plain_Sequential);

// ---- NOPs: 64 tasks at once, one submit per turn ----
// Each iteration: 64 tasks each await 64 NOPs in sequence, so every loop
// turn submits 64 NOPs with one io_uring_enter, like the plain batch below.

Task<void> nop_chain(int count) {
  for (int i = 0; i < count; ++i) co_await whirl::io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
}

Task<void> runtime_nop_batches(benchmark::State& state) {
  std::vector<Task<void>> tasks;
  tasks.reserve(kBatch);
  for (auto _ : state) {
    tasks.clear();
    for (int i = 0; i < kBatch; ++i) tasks.push_back(nop_chain(kBatch));
    co_await whirl::gather(std::move(tasks));
  }
}

void BM_Nop_Runtime_Batch64(benchmark::State& state) {
  whirl::IOLoop loop;
  loop.run_sync(runtime_nop_batches(state));
  state.SetItemsProcessed(state.iterations() * kBatch * kBatch);
}
BENCHMARK(BM_Nop_Runtime_Batch64);

void BM_Nop_Plain_Batch64(benchmark::State& state) {
  io_uring ring = make_plain_ring();
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) plain_nops(&ring, kBatch);
  }
  io_uring_queue_exit(&ring);
  state.SetItemsProcessed(state.iterations() * kBatch * kBatch);
}
BENCHMARK(BM_Nop_Plain_Batch64);

// Records items/s per benchmark so main() can print the ratios.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      // Plain runs, or the median when --benchmark_repetitions is given.
      if (run.run_type == Run::RT_Iteration) {
        rates.try_emplace(run.run_name.function_name, it->second);
      } else if (run.aggregate_name == "median") {
        rates[run.run_name.function_name] = it->second;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> rates;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  for (const char* mode : {"Sequential", "Batch64"}) {
    double runtime = reporter.rates[fmt::format("BM_Nop_Runtime_{}", mode)];
    double plain = reporter.rates[fmt::format("BM_Nop_Plain_{}", mode)];
    if (runtime > 0 && plain > 0) {
      fmt::print("NOP {:<10} runtime {:>7.2f} M/s  plain liburing {:>7.2f} M/s  ratio {:.2f} (goal >= 0.80)\n", mode,
                 runtime / 1e6, plain / 1e6, runtime / plain);
    }
  }
  benchmark::Shutdown();
  return 0;
}
