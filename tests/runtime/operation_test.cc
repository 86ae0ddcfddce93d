#include "whirl/runtime/operation.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "whirl/runtime/gen.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;

Task<int> nop() {
  int result = co_await io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
  co_return result;
}

TEST(Operation, ANopCompletesWithZero) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync(nop()), 0);
}

Task<std::string> pipe_round_trip(int read_fd, int write_fd) {
  char buffer[16] = {};
  const char message[] = "hello";
  int written = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_write(sqe, write_fd, message, 5, 0); });
  EXPECT_EQ(written, 5);
  int n = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, read_fd, buffer, sizeof buffer, 0); });
  co_return std::string(buffer, n > 0 ? n : 0);
}

TEST(Operation, ReadsAndWritesThroughTheRing) {
  IOLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EXPECT_EQ(loop.run_sync(pipe_round_trip(fds[0], fds[1])), "hello");
  close(fds[0]);
  close(fds[1]);
}

Task<int> read_bad_fd() {
  char byte;
  int result = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, -1, &byte, 1, 0); });
  co_return result;
}

TEST(Operation, ErrorsComeBackAsNegativeErrno) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync(read_bad_fd()), -EBADF);
}

// The race docs/ARCHITECTURE.md §2.1 names: the operation has already completed (its
// CQE is reaped, not yet delivered) when the cancellation arrives. The
// ASYNC_CANCEL then finds nothing (-ENOENT) and the real result wins.
Task<int> read_then_cancel_late(int fd, CancellationToken* scope_out[1]) {
  char byte = 0;
  CancellationToken* token = co_await current_token();
  scope_out[0] = token;
  int n = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, &byte, 1, 0); });
  co_return n == 1 ? byte : -1;
}

// Runs the read to its end: its result, or -2 if it was cancelled; then
// stops the loop (at its end, not after a fixed wait a loaded machine may
// overrun).
Task<void> record_read(Task<int> task, int* out, bool* done) {
  try {
    *out = co_await task;
  } catch (const CancelledError&) {
    *out = -2;
  }
  *done = true;
  IOLoop::current().stop();
}

TEST(Operation, ACancelThatLosesTheRaceDeliversTheRealResult) {
  IOLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  CancellationToken* token[1] = {nullptr};
  int result = 0;
  bool finished = false;
  SpawnHandle handle = loop.spawn(record_read(read_then_cancel_late(fds[0], token), &result, &finished));
  // Once the read is pending, make it completable and, in the same kernel
  // entry, complete a NOP whose task then cancels the reader. The NOP's CQE
  // is posted at submit time, the read's when task work runs, so both are
  // reaped in one batch and the cancel arrives while the read's CQE waits
  // to be delivered: ASYNC_CANCEL finds nothing and the real result wins.
  auto canceller = [](SpawnHandle* target) -> Task<void> {
    co_await io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
    target->cancel();
  };
  loop.call_later(5ms, [&] {
    ASSERT_EQ(write(fds[1], "z", 1), 1);
    loop.spawn(canceller(&handle));
  });
  loop.call_later(5s, [&] { loop.stop(); });  // a bound only
  loop.run();
  EXPECT_TRUE(finished);
  EXPECT_EQ(result, 'z') << "a completed read is delivered even though cancel was requested";
  close(fds[0]);
  close(fds[1]);
}

TEST(Operation, ACancelThatWinsTheRaceThrowsCancelledError) {
  IOLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  CancellationToken* token[1] = {nullptr};
  int result = 0;
  bool finished = false;
  SpawnHandle handle = loop.spawn(record_read(read_then_cancel_late(fds[0], token), &result, &finished));
  loop.call_later(5ms, [&] {
    handle.cancel();
    // Data that arrives after the cancel was submitted stays in the pipe.
    ASSERT_EQ(write(fds[1], "z", 1), 1);
  });
  loop.call_later(5s, [&] { loop.stop(); });  // a bound only
  loop.run();
  EXPECT_TRUE(finished);
  EXPECT_EQ(result, -2);
  char byte = 0;
  EXPECT_EQ(read(fds[0], &byte, 1), 1) << "the byte was not consumed by the cancelled read";
  close(fds[0]);
  close(fds[1]);
}

Task<std::vector<int>> poll_three_times(int read_fd, int write_fd) {
  MultishotOperation polls([read_fd](io_uring_sqe* sqe) { io_uring_prep_poll_multishot(sqe, read_fd, POLLIN); });
  polls.start();
  std::vector<int> events;
  for (int i = 0; i < 3; ++i) {
    char byte = 'a';
    EXPECT_EQ(write(write_fd, &byte, 1), 1);
    CqeResult completion = co_await polls.next();
    EXPECT_TRUE(completion.more);
    events.push_back(completion.result);
    char sink;
    EXPECT_EQ(read(read_fd, &sink, 1), 1);
  }
  polls.stop();
  CqeResult last = co_await polls.next();
  EXPECT_FALSE(last.more);
  EXPECT_EQ(last.result, -ECANCELED);
  EXPECT_FALSE(polls.armed());
  co_return events;
}

TEST(MultishotOperation, DeliversEveryCompletionOfOneRequest) {
  IOLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<int> events = loop.run_sync(poll_three_times(fds[0], fds[1]));
  ASSERT_EQ(events.size(), 3u);
  for (int e : events) EXPECT_TRUE(e & POLLIN);
  EXPECT_EQ(loop.operations_in_flight(), 1u);
  close(fds[0]);
  close(fds[1]);
}

Task<void> destroy_armed_multishot(int read_fd) {
  {
    MultishotOperation polls([read_fd](io_uring_sqe* sqe) { io_uring_prep_poll_multishot(sqe, read_fd, POLLIN); });
    polls.start();
    co_await moment();  // submitted and pending in the kernel
  }
  // The destructor cancelled it and waited for its final CQE.
  EXPECT_EQ(IOLoop::current().operations_in_flight(), 1u);
}

TEST(MultishotOperation, DestroyingAnArmedRequestCancelsAndReapsIt) {
  IOLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  loop.run_sync(destroy_armed_multishot(fds[0]));
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace whirl
