#include "whirl/runtime/task.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/locks.h"

namespace whirl {
namespace {

Task<int> answer(std::vector<std::string>* trace) {
  trace->push_back("answer runs");
  co_return 42;
}

Task<int> add_one(Task<int> inner) { co_return co_await inner + 1; }

Task<void> fail(std::string message) {
  throw std::runtime_error(message);
  co_return;
}

Task<std::string> catch_failure() {
  try {
    co_await fail("boom");
  } catch (const std::runtime_error& e) {
    co_return std::string("caught ") + e.what();
  }
  co_return "not reached";
}

TEST(Task, IsLazyAndRunsWhenAwaited) {
  IOLoop loop;
  std::vector<std::string> trace;
  Task<int> task = answer(&trace);
  EXPECT_TRUE(trace.empty()) << "calling a task function must not run its body";
  int value = loop.run_sync(add_one(std::move(task)));
  EXPECT_EQ(value, 43);
  EXPECT_EQ(trace, std::vector<std::string>{"answer runs"});
}

TEST(Task, ExceptionsPropagateToTheAwaiter) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync(catch_failure()), "caught boom");
  EXPECT_THROW(loop.run_sync(fail("direct")), std::runtime_error);
}

TEST(Task, NeverAwaitedTaskIsDestroyedWithoutRunning) {
  std::vector<std::string> trace;
  { Task<int> task = answer(&trace); }
  EXPECT_TRUE(trace.empty());
}

Task<void> await_twice() {
  std::vector<std::string> trace;
  Task<int> task = answer(&trace);
  co_await task;
  co_await task;  // must throw
}

TEST(Task, AwaitingATaskTwiceIsALogicError) {
  IOLoop loop;
  EXPECT_THROW(loop.run_sync(await_twice()), std::logic_error);
}

// Started beside its owner: runs to its first suspension at once, then on
// its own; the owner awaits it afterwards for the result.
Task<int> wait_then_answer(Event& go, std::vector<std::string>* trace) {
  trace->push_back("helper starts");
  co_await go.wait();
  trace->push_back("helper ends");
  co_return 7;
}

TEST(Task, StartRunsTheBodyToItsFirstSuspensionAndTheResultIsAwaitedLater) {
  IOLoop loop;
  std::vector<std::string> trace;
  int result = loop.run_sync([](std::vector<std::string>* trace) -> Task<int> {
    Event go;
    Task<int> helper = wait_then_answer(go, trace);
    helper.start(nullptr);
    trace->push_back("owner goes on");
    EXPECT_FALSE(helper.done());
    go.set();
    while (!helper.done()) co_await moment();
    co_return co_await helper;
  }(&trace));
  EXPECT_EQ(result, 7);
  EXPECT_EQ(trace, (std::vector<std::string>{"helper starts", "owner goes on", "helper ends"}));
}

TEST(Task, AStartedTaskThatThrowsRethrowsWhenAwaitedAndCannotBeStartedTwice) {
  IOLoop loop;
  loop.run_sync([]() -> Task<void> {
    Task<void> failing = fail("late");
    failing.start(nullptr);
    EXPECT_TRUE(failing.done()) << "it ran to its end inline";
    EXPECT_THROW(failing.start(nullptr), std::logic_error);
    bool threw = false;
    try {
      co_await failing;  // (not inside a gtest macro: GCC 12)
    } catch (const std::runtime_error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
  }());
}

TEST(Task, IsMoveOnly) {
  static_assert(!std::is_copy_constructible_v<Task<int>>);
  static_assert(std::is_nothrow_move_constructible_v<Task<int>>);
  std::vector<std::string> trace;
  Task<int> a = answer(&trace);
  Task<int> b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): pinning moved-from state
  EXPECT_TRUE(b.valid());
}

Task<int> ready_value(int i) { co_return i; }

Task<long> await_many_ready_tasks(int count) {
  long sum = 0;
  for (int i = 0; i < count; ++i) sum += co_await ready_value(1);
  co_return sum;
}

// docs/ARCHITECTURE.md §2.2: GCC does not guarantee the symmetric-transfer tail call at -O0;
// this same test is also built with -O0 (task_o0_test).
TEST(Task, AwaitingAMillionReadyTasksDoesNotOverflowTheStack) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync(await_many_ready_tasks(1'000'000)), 1'000'000);
}

Task<long> await_many_yielding_tasks(int count) {
  long sum = 0;
  for (int i = 0; i < count; ++i) {
    co_await moment();
    sum += co_await ready_value(1);
  }
  co_return sum;
}

TEST(Task, TasksThatSuspendResumeTheirAwaiterWithoutGrowingTheStack) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync(await_many_yielding_tasks(100'000)), 100'000);
}

Task<int> nested(int depth) {
  if (depth == 0) {
    co_await moment();
    co_return 0;
  }
  co_return 1 + co_await nested(depth - 1);
}

TEST(Task, DeepChainsCompleteAcrossASuspension) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync(nested(1000)), 1000);
}

TEST(Task, FramesAreRecycledByThePool) {
  IOLoop loop;
  loop.run_sync(await_many_ready_tasks(10));
  std::size_t cached = FramePool::cached_blocks();
  EXPECT_GT(cached, 0u) << "finished frames return to the per-thread pool";
  loop.run_sync(await_many_ready_tasks(1000));
  EXPECT_LE(FramePool::cached_blocks(), cached + 2) << "a steady loop reuses the same blocks";
}

}  // namespace
}  // namespace whirl
