// A steady-state loop allocates nothing: frames come from FramePool, ready
// callbacks are stored inline, timers and operation slots are reused.
// This binary replaces the global operator new to count calls.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/locks.h"
#include "whirl/runtime/operation.h"
#include "whirl/runtime/queues.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace whirl {
namespace {

using namespace std::chrono_literals;

Task<int> child(int i) { co_return i; }

Task<int> one_iteration(Queue<int>* queue, Event* event) {
  int sum = co_await child(1);
  co_await moment();
  sum += co_await io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
  queue->put_nowait(2);
  sum += co_await queue->get();
  event->set();
  co_await event->wait();
  event->clear();
  co_await sleep(0ms);
  co_return sum;
}

Task<long> run_iterations(int warmup, int measured) {
  Queue<int> queue;
  Event event;
  long total = 0;
  for (int i = 0; i < warmup; ++i) total += co_await one_iteration(&queue, &event);
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < measured; ++i) total += co_await one_iteration(&queue, &event);
  g_counting = false;
  co_return total;
}

TEST(SteadyState, AnAwaitYieldIoQueueEventAndTimerLoopAllocatesNothing) {
  IOLoop loop;
  long total = loop.run_sync(run_iterations(1000, 10'000));
  EXPECT_EQ(total, 11'000 * 3);
  EXPECT_EQ(g_allocations.load(), 0) << "heap allocations during 10,000 steady-state iterations";
}

}  // namespace
}  // namespace whirl
