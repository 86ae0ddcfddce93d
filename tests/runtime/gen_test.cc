#include "whirl/runtime/gen.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <stdexcept>
#include <string>
#include <vector>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/operation.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;

Task<void> record_with_moments(std::vector<std::string>* trace, std::string name, int steps) {
  for (int i = 0; i < steps; ++i) {
    trace->push_back(name + std::to_string(i));
    co_await moment();
  }
}

TEST(Moment, YieldsToEveryOtherReadyTask) {
  IOLoop loop;
  std::vector<std::string> trace;
  loop.spawn(record_with_moments(&trace, "a", 3));
  loop.spawn(record_with_moments(&trace, "b", 3));
  loop.call_later(10ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(trace, (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"}));
}

Task<Duration> timed_sleep(Duration d) {
  TimePoint start = Clock::now();
  co_await sleep(d);
  co_return Clock::now() - start;
}

TEST(Sleep, CompletesAfterItsDelay) {
  IOLoop loop;
  EXPECT_GE(loop.run_sync(timed_sleep(20ms)), 20ms);
}

// A read on an empty pipe or socket never completes by itself.
Task<int> read_into(int fd, char* buffer, std::size_t size) {
  int n = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, buffer, size, 0); });
  co_return n;
}

Task<std::string> timeout_around_pending_read(int fd, char* buffer, std::size_t size) {
  Task<int> read = read_into(fd, buffer, size);
  try {
    co_await with_timeout(20ms, std::move(read));
  } catch (const TimeoutError&) {
    co_return "timeout";
  }
  co_return "completed";
}

TEST(WithTimeout, CancelsAPendingPipeReadAndTheBufferIsNotTouchedAfter) {
  IOLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  auto buffer = std::make_unique<std::array<char, 64>>();
  buffer->fill('.');
  EXPECT_EQ(loop.run_sync(timeout_around_pending_read(fds[0], buffer->data(), buffer->size())), "timeout");
  EXPECT_EQ(loop.operations_in_flight(), 1u) << "only the loop's own eventfd read remains";
  // Data written now must not land in the old buffer: the read is gone.
  ASSERT_EQ(write(fds[1], "late data", 9), 9);
  buffer.reset();  // under ASan, a late kernel write here would be reported
  char check[16] = {};
  EXPECT_EQ(read(fds[0], check, sizeof check), 9);
  close(fds[0]);
  close(fds[1]);
}

TEST(WithTimeout, CancelsAPendingSocketRecv) {
  IOLoop loop;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::array<char, 32> buffer{};
  EXPECT_EQ(loop.run_sync(timeout_around_pending_read(sv[0], buffer.data(), buffer.size())), "timeout");
  EXPECT_EQ(loop.operations_in_flight(), 1u);
  close(sv[0]);
  close(sv[1]);
}

Task<int> quick() {
  co_await sleep(1ms);
  co_return 7;
}

TEST(WithTimeout, ReturnsTheResultWhenTheWorkFinishesInTime) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync(with_timeout(1s, quick())), 7);
  EXPECT_EQ(loop.timers_pending(), 0u) << "the deadline timer is removed";
}

Task<std::string> nested_timeouts() {
  // The inner, longer timeout must not turn the outer one into a plain
  // CancelledError, nor the outer into the inner's TimeoutError.
  Task<void> slow = [](Duration d) -> Task<void> { co_await sleep(d); }(10s);
  Task<void> inner = with_timeout(5s, std::move(slow));
  try {
    co_await with_timeout(20ms, std::move(inner));
  } catch (const TimeoutError&) {
    co_return "outer timeout";
  }
  co_return "no timeout";
}

TEST(WithTimeout, TheOuterDeadlineIsReportedAsATimeout) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync(nested_timeouts()), "outer timeout");
}

Task<int> value_after(Duration d, int v) {
  co_await sleep(d);
  co_return v;
}

Task<void> nothing_after(Duration d) { co_await sleep(d); }

Task<int> fail_after(Duration d, std::string message) {
  co_await sleep(d);
  throw std::runtime_error(message);
}

TEST(Gather, RunsConcurrentlyAndReturnsResultsInArgumentOrder) {
  IOLoop loop;
  TimePoint start = loop.time();
  auto [a, b, c] = loop.run_sync(gather(value_after(30ms, 1), value_after(10ms, 2), nothing_after(20ms)));
  Duration took = loop.time() - start;
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(c, std::monostate{});
  EXPECT_LT(took, 55ms) << "concurrent, not 60 ms in sequence";
}

TEST(Gather, OverAVectorKeepsOrder) {
  IOLoop loop;
  std::vector<Task<int>> tasks;
  for (int i = 0; i < 10; ++i) tasks.push_back(value_after(std::chrono::milliseconds(10 - i), i));
  std::vector<int> values = loop.run_sync(gather(std::move(tasks)));
  EXPECT_EQ(values, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

Task<std::string> gather_with_failures(bool* slow_finished) {
  Task<void> slow = [](bool* flag) -> Task<void> {
    co_await sleep(30ms);
    *flag = true;
  }(slow_finished);
  Task<int> first = fail_after(5ms, "first");
  Task<int> second = fail_after(10ms, "second");
  std::vector<Task<int>> failing;
  failing.push_back(std::move(first));
  failing.push_back(std::move(second));
  Task<std::vector<int>> both = gather(std::move(failing));
  try {
    co_await gather(std::move(both), std::move(slow));
  } catch (const std::runtime_error& e) {
    co_return e.what();
  }
  co_return "no error";
}

TEST(Gather, RethrowsTheFirstExceptionAfterAllHaveFinished) {
  IOLoop loop;
  bool slow_finished = false;
  EXPECT_EQ(loop.run_sync(gather_with_failures(&slow_finished)), "first");
  EXPECT_TRUE(slow_finished);
}

TEST(Gather, OfReadyTasksCompletesWithoutSuspending) {
  IOLoop loop;
  auto ready = [](int v) -> Task<int> { co_return v; };
  std::vector<Task<int>> tasks;
  for (int i = 0; i < 1000; ++i) tasks.push_back(ready(i));
  std::vector<int> values = loop.run_sync(gather(std::move(tasks)));
  ASSERT_EQ(values.size(), 1000u);
  EXPECT_EQ(values[999], 999);
}

Task<void> gather_sleepers(int* cancelled) {
  auto sleeper = [](int* count) -> Task<void> {
    try {
      co_await sleep(10s);
    } catch (const CancelledError&) {
      ++*count;
      throw;
    }
  };
  co_await gather(sleeper(cancelled), sleeper(cancelled), sleeper(cancelled));
}

TEST(Gather, CancellingTheGathererCancelsEveryChild) {
  IOLoop loop;
  int cancelled = 0;
  SpawnHandle handle = loop.spawn(gather_sleepers(&cancelled));
  loop.call_later(10ms, [&] { handle.cancel(); });
  loop.call_later(40ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(cancelled, 3);
  EXPECT_TRUE(handle.done());
}

}  // namespace
}  // namespace whirl
