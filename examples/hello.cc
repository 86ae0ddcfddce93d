// The runtime demo of the README's quick start:
//
//     ./bazelw run //examples:hello
//
// An IOLoop runs a producer and two workers joined by a Queue, a sleeping
// task, and a deliberately slow job that with_timeout cancels, printing what
// happens, then exits.
#include <fmt/core.h>

#include <string>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/queues.h"

using namespace std::chrono_literals;
using whirl::Task;

namespace {

double elapsed_ms(whirl::TimePoint start) {
  return std::chrono::duration<double, std::milli>(whirl::Clock::now() - start).count();
}

Task<void> producer(whirl::Queue<int>* jobs, whirl::TimePoint start) {
  for (int job = 1; job <= 6; ++job) {
    co_await jobs->put(job);
    fmt::print("[{:6.1f} ms] producer: queued job {}\n", elapsed_ms(start), job);
  }
}

Task<void> worker(std::string name, whirl::Queue<int>* jobs, whirl::TimePoint start) {
  for (;;) {
    int job = co_await jobs->get();
    co_await whirl::sleep(std::chrono::milliseconds(5 * job));
    fmt::print("[{:6.1f} ms] {}: finished job {} after {} ms\n", elapsed_ms(start), name, job, 5 * job);
    jobs->task_done();
  }
}

Task<int> slow_answer() {
  co_await whirl::sleep(10s);
  co_return 42;
}

Task<void> demo() {
  whirl::TimePoint start = whirl::Clock::now();
  whirl::IOLoop& loop = whirl::IOLoop::current();
  whirl::Queue<int> jobs(2);  // bounded: the producer waits for the workers

  whirl::SpawnHandle a = loop.spawn(worker("worker A", &jobs, start));
  whirl::SpawnHandle b = loop.spawn(worker("worker B", &jobs, start));
  co_await producer(&jobs, start);
  co_await jobs.join();
  fmt::print("[{:6.1f} ms] all jobs done\n", elapsed_ms(start));
  a.cancel();
  b.cancel();

  Task<int> slow = slow_answer();
  try {
    int answer = co_await whirl::with_timeout(50ms, std::move(slow));
    fmt::print("slow answer: {}\n", answer);
  } catch (const whirl::TimeoutError&) {
    fmt::print("[{:6.1f} ms] with_timeout: the 10 s job was cancelled after 50 ms\n", elapsed_ms(start));
  }
  co_await whirl::moment();
  fmt::print("[{:6.1f} ms] timers pending: {}, operations in flight: {} (the loop's own wakeup read)\n",
             elapsed_ms(start), loop.timers_pending(), loop.operations_in_flight());
}

}  // namespace

int main() {
  whirl::IOLoop loop;
  fmt::print("whirl runtime demo: io_uring setup flags 0x{:x}\n", loop.setup_flags());
  loop.run_sync(demo());
  fmt::print("bye\n");
  return 0;
}
