#include "whirl/runtime/ioloop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <memory>
#include <thread>
#include <vector>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/internal/ring.h"
#include "whirl/runtime/locks.h"
#include "whirl/runtime/operation.h"
#include "whirl/testing/log_capture.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;

TEST(IOLoop, CurrentIsTheMostRecentLoopOfThisThread) {
  IOLoop outer;
  EXPECT_EQ(&IOLoop::current(), &outer);
  {
    IOLoop inner;
    EXPECT_EQ(&IOLoop::current(), &inner);
  }
  EXPECT_EQ(&IOLoop::current(), &outer);
}

TEST(IOLoop, AsksForSingleIssuerAndDeferredTaskRun) {
  IOLoop loop;
  // This kernel supports them (the machine facts in DEVELOPERS.md); an older
  // one would fall back to COOP_TASKRUN or nothing.
  EXPECT_TRUE(loop.setup_flags() & IORING_SETUP_DEFER_TASKRUN);
  EXPECT_TRUE(loop.setup_flags() & IORING_SETUP_SINGLE_ISSUER);
}

Task<int> twenty() { co_return 20; }

TEST(IOLoop, RunSyncReturnsTheValueAndRethrows) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync(twenty()), 20);
  auto failing = []() -> Task<void> {
    throw std::out_of_range("nope");
    co_return;
  };
  EXPECT_THROW(loop.run_sync(failing()), std::out_of_range);
}

TEST(IOLoop, StopEndsRunAfterTheCurrentTurn) {
  IOLoop loop;
  int calls = 0;
  loop.add_callback([&] {
    ++calls;
    loop.stop();
  });
  loop.add_callback([&] { ++calls; });  // same turn: still runs
  loop.run();
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(loop.running());
}

TEST(IOLoop, TimersFireInDeadlineOrder) {
  IOLoop loop;
  std::vector<int> order;
  TimePoint now = loop.time();
  loop.call_at(now + 30ms, [&] { order.push_back(3); });
  loop.call_at(now + 10ms, [&] { order.push_back(1); });
  loop.call_at(now + 20ms, [&] { order.push_back(2); });
  loop.call_at(now + 20ms, [&] { order.push_back(22); });  // same deadline: FIFO
  loop.call_at(now + 40ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 22, 3}));
}

TEST(IOLoop, CallLaterWaitsAtLeastItsDelay) {
  IOLoop loop;
  TimePoint start = loop.time();
  TimePoint fired{};
  loop.call_later(25ms, [&] {
    fired = loop.time();
    loop.stop();
  });
  loop.run();
  EXPECT_GE(fired - start, 25ms);
}

TEST(IOLoop, RemoveTimeoutCancelsAndIsIdempotent) {
  IOLoop loop;
  bool ran = false;
  TimeoutHandle handle = loop.call_later(5ms, [&] { ran = true; });
  EXPECT_TRUE(loop.remove_timeout(handle));
  EXPECT_FALSE(loop.remove_timeout(handle));
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_FALSE(ran);
  EXPECT_EQ(loop.timers_pending(), 0u);
}

TEST(IOLoop, AddCallbackFromFourThreadsRunsEachCallbackExactlyOnce) {
  IOLoop loop;
  constexpr int kThreads = 4;
  constexpr int kCalls = 10'000;
  std::vector<int> counts(kThreads * kCalls, 0);  // touched only on the loop thread
  int total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        loop.add_callback([&, index = t * kCalls + i] {
          ++counts[index];
          if (++total == kThreads * kCalls) loop.stop();
        });
      }
    });
  }
  loop.run();
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(total, kThreads * kCalls);
  for (int count : counts) ASSERT_EQ(count, 1);
}

TEST(IOLoop, AddCallbackFromAnotherThreadWakesASleepingLoop) {
  IOLoop loop;
  bool ran = false;
  std::thread other([&] {
    std::this_thread::sleep_for(20ms);
    loop.add_callback([&] {
      ran = true;
      loop.stop();
    });
  });
  loop.run();  // blocks in the kernel with no timers until woken
  other.join();
  EXPECT_TRUE(ran);
}

Task<void> throws_in_spawn() {
  co_await moment();
  throw std::runtime_error("spawned failure");
}

TEST(IOLoop, AnExceptionEscapingASpawnedTaskIsLogged) {
  testing::LogCapture logs;
  IOLoop loop;
  SpawnHandle handle = loop.spawn(throws_in_spawn());
  loop.call_later(10ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_TRUE(handle.done());
  EXPECT_TRUE(logs.contains(log::Level::kError, "Exception in callback: spawned failure"));
}

TEST(IOLoop, AnExceptionFromACallbackIsLoggedAndTheLoopGoesOn) {
  testing::LogCapture logs;
  IOLoop loop;
  loop.add_callback([] { throw std::runtime_error("callback failure"); });
  bool later = false;
  loop.call_later(1ms, [&] {
    later = true;
    loop.stop();
  });
  loop.run();
  EXPECT_TRUE(later);
  EXPECT_TRUE(logs.contains(log::Level::kError, "Exception in callback: callback failure"));
}

Task<void> read_forever(int fd, bool* saw_cancelled) {
  char byte = 0;
  try {
    co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, &byte, 1, 0); });
  } catch (const CancelledError&) {
    *saw_cancelled = true;
    throw;
  }
}

TEST(IOLoop, CancellingASpawnedTaskCancelsTheOperationItWaitsOn) {
  testing::LogCapture logs;
  IOLoop loop;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  bool saw_cancelled = false;
  SpawnHandle handle = loop.spawn(read_forever(fds[0], &saw_cancelled));
  loop.call_later(10ms, [&] {
    EXPECT_EQ(loop.operations_in_flight(), 2u);  // the read and the loop's own eventfd read
    handle.cancel();
  });
  loop.call_later(50ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_TRUE(saw_cancelled);
  EXPECT_TRUE(handle.done());
  EXPECT_EQ(loop.operations_in_flight(), 1u) << "the cancelled read is retired";
  EXPECT_EQ(logs.count_at_least(log::Level::kError), 0u) << "cancellation is not an error";
  close(fds[0]);
  close(fds[1]);
}

TEST(IOLoop, DestroyingTheLoopWithAThousandOperationsInFlightReleasesEverything) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<bool> cancelled(1000, false);
  {
    IOLoop loop;
    bool flags[1000] = {};
    for (bool& flag : flags) loop.spawn(read_forever(fds[0], &flag));
    loop.call_later(20ms, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(loop.operations_in_flight(), 1001u);
  }
  // Nothing to assert beyond "no crash": ASan's leak checker (--config=asan)
  // reports any frame or slot the loop failed to free, and a write into a
  // freed frame would be a heap-use-after-free.
  // The pipe is still usable: no read is left pending on it.
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  char byte = 0;
  EXPECT_EQ(read(fds[0], &byte, 1), 1);
  EXPECT_EQ(byte, 'x');
  close(fds[0]);
  close(fds[1]);
}

TEST(IOLoop, SignalHandlersRunOnTheLoopThread) {
  IOLoop loop;
  int received = 0;
  loop.add_signal_handler(SIGUSR1, [&] {
    ++received;
    loop.stop();
  });
  loop.add_callback([] { raise(SIGUSR1); });  // thread-directed: our blocked signal
  loop.call_later(2s, [&] { loop.stop(); });  // safety net
  loop.run();
  EXPECT_EQ(received, 1);
  loop.remove_signal_handler(SIGUSR1);
}

TEST(IOLoop, ASignalIgnoredBeforehandStillReachesItsHandler) {
  // Shells start background jobs with SIGINT ignored; a server started that
  // way must still see it.
  std::signal(SIGUSR2, SIG_IGN);
  {
    IOLoop loop;
    int received = 0;
    loop.add_signal_handler(SIGUSR2, [&] {
      ++received;
      loop.stop();
    });
    loop.add_callback([] { raise(SIGUSR2); });
    loop.call_later(2s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(received, 1);
  }
  struct sigaction now {};
  sigaction(SIGUSR2, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_IGN) << "the previous disposition is restored";
  std::signal(SIGUSR2, SIG_DFL);
}

TEST(IOLoop, RunSyncThrowsWhenTheLoopStopsFirst) {
  IOLoop loop;
  auto slow = []() -> Task<void> { co_await sleep(1s); };
  loop.call_later(5ms, [&] { loop.stop(); });
  EXPECT_THROW(loop.run_sync(slow()), std::runtime_error);
}

// Sets a flag when destroyed: tells whether a task's frame is gone.
struct DestroyFlag {
  bool* destroyed;
  ~DestroyFlag() { *destroyed = true; }
};

TEST(IOLoop, RunSyncDestroysATaskTheStoppedLoopLeftUnfinished) {
  IOLoop loop;
  bool destroyed = false;
  int resumed = 0;
  auto slow = [](bool* destroyed, int* resumed) -> Task<int> {
    DestroyFlag flag{destroyed};
    co_await sleep(30ms);
    ++*resumed;
    co_return 7;
  };
  loop.call_later(5ms, [&] { loop.stop(); });
  EXPECT_THROW(loop.run_sync(slow(&destroyed, &resumed)), std::runtime_error);
  EXPECT_TRUE(destroyed) << "the unfinished task is torn down before run_sync throws";
  // A later run must not resume it: it would write its result through a
  // pointer to run_sync's dead stack frame.
  loop.call_later(60ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(resumed, 0);
}

TEST(IOLoop, AbortingATaskWhoseWakeUpIsAlreadyScheduledNeverResumesIt) {
  IOLoop loop;
  Event event;
  bool waiter_destroyed = false;
  bool yielder_destroyed = false;
  int waiter_resumed = 0;
  int yields = 0;
  auto waiter = [](Event& event, bool* destroyed, int* resumed) -> Task<void> {
    DestroyFlag flag{destroyed};
    co_await event.wait();
    ++*resumed;
  };
  auto yielder = [](bool* destroyed, int* yields) -> Task<void> {
    DestroyFlag flag{destroyed};
    for (;;) {
      co_await moment();  // its resume is queued whenever a timer runs
      ++*yields;
    }
  };
  SpawnHandle waiting = loop.spawn(waiter(event, &waiter_destroyed, &waiter_resumed));
  SpawnHandle yielding = loop.spawn(yielder(&yielder_destroyed, &yields));
  int yields_at_abort = -1;
  loop.call_later(5ms, [&] {
    event.set();      // queues the waiter's resume...
    waiting.abort();  // ...and its frame goes at once
    yields_at_abort = yields;
    yielding.abort();  // likewise the yielder's, queued by moment()
  });
  loop.call_later(30ms, [&] { loop.stop(); });
  loop.run();  // under ASan a resume of a destroyed frame is a use after free
  EXPECT_TRUE(waiter_destroyed);
  EXPECT_TRUE(yielder_destroyed);
  EXPECT_EQ(waiter_resumed, 0);
  EXPECT_GT(yields_at_abort, 0) << "the yielder was running";
  EXPECT_EQ(yields, yields_at_abort) << "and never resumed after its abort";
}

// A NOP linked behind a 300 ms timeout: until the timeout fires, the kernel
// cannot cancel it (a linked request waiting for its head is in no list
// that IORING_OP_ASYNC_CANCEL searches). The stand-in for a request the
// kernel will not let go of.
Task<void> wait_on_unreleasable_nop(IOLoop& loop, bool* destroyed) {
  DestroyFlag flag{destroyed};
  static __kernel_timespec head_timeout{0, 300'000'000};
  io_uring_sqe* head = loop.ring().get_untracked_sqe();
  io_uring_prep_timeout(head, &head_timeout, 0, 0);
  head->flags |= IOSQE_IO_LINK;
  co_await io_op([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
}

TEST(IOLoop, DestroyingAFrameWhoseRequestTheKernelKeepsIsBoundedAndQuarantinesIt) {
  testing::LogCapture logs;
  IOLoop loop(IOLoop::Options{.release_timeout = 50ms});
  bool destroyed = false;
  std::size_t idle = loop.operations_in_flight();  // the loop's own (its waker)
  SpawnHandle task = loop.spawn(wait_on_unreleasable_nop(loop, &destroyed));
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.run();  // the NOP is in the kernel now, behind its head
  ASSERT_EQ(loop.operations_in_flight(), idle + 1);
  auto start = Clock::now();
  task.abort();  // destroys the frame: its awaiter cancels and waits, within bounds
  EXPECT_LT(Clock::now() - start, 250ms) << "the wait for the kernel is bounded by release_timeout";
  EXPECT_TRUE(destroyed);
  EXPECT_EQ(FramePool::quarantined_blocks(), 1u) << "the frame is kept, not freed under the kernel";
  EXPECT_EQ(logs.count_at_least(log::Level::kError), 1u);
  loop.call_later(600ms, [&] { loop.stop(); });
  loop.run();  // the head fires, the NOP completes: its frame is freed at last
  EXPECT_EQ(loop.operations_in_flight(), idle);
  EXPECT_EQ(FramePool::quarantined_blocks(), 0u);
}

// Queues a write of `byte` to `fd` just before the turn's submit.
class WriteBeforeSubmit final : public PreSubmitHook {
 public:
  WriteBeforeSubmit(IOLoop& loop, int fd) : loop_(loop), fd_(fd) {}
  void run() override { io_uring_prep_write(loop_.ring().get_untracked_sqe(), fd_, &byte_, 1, 0); }

 private:
  IOLoop& loop_;
  int fd_;
  char byte_ = 'x';
};

TEST(IOLoop, SubmitNowHandsTheQueuedWorkToTheKernelBeforeTheTurnEnds) {
  IOLoop loop;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  WriteBeforeSubmit hook(loop, fds[1]);
  char got = 0;
  ssize_t before = -2, after = -2;
  loop.add_callback([&] {
    loop.ring().before_submit(hook);
    // Still this callback's turn: nothing has been submitted yet.
    before = ::read(fds[0], &got, 1);
    loop.submit_now();
    after = ::read(fds[0], &got, 1);
    loop.stop();
  });
  loop.run();
  EXPECT_EQ(before, -1) << "the write waits for the end of the turn by default";
  EXPECT_FALSE(hook.pending()) << "submit_now ran the pre-submit hook";
  EXPECT_EQ(after, 1) << "submit_now submitted the write while the callback was still running";
  EXPECT_EQ(got, 'x');
  ::close(fds[0]);
  ::close(fds[1]);
}

// Reads one byte from `fd`, then notes how many writes the writer had
// started by the time this coroutine ran again.
Task<void> read_one_and_note(int fd, const std::atomic<int>* writes, std::atomic<int>* seen) {
  char byte = 0;
  co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, &byte, 1, 0); });
  seen->store(writes->load());
}

struct Pipes {
  explicit Pipes(int n) : fds(static_cast<std::size_t>(n)) {
    for (auto& pair : fds) EXPECT_EQ(pipe(pair.data()), 0);
  }
  ~Pipes() {
    for (auto& pair : fds) {
      close(pair[0]);
      close(pair[1]);
    }
  }
  std::vector<std::array<int, 2>> fds;
};

TEST(IOLoop, WaitBatchingHandsCompletionsThatArriveApartToOneTurn) {
  IOLoop loop;
  // Four reads plus nothing else: the loop's own eventfd read stays quiet.
  loop.set_wait_batching({.min_completions = 4, .max_delay = 10s});
  Pipes pipes(5);
  std::atomic<int> writes{0};
  std::array<std::atomic<int>, 5> seen{};
  for (auto& s : seen) s = -1;
  for (int i = 0; i < 4; ++i) loop.spawn(read_one_and_note(pipes.fds[i][0], &writes, &seen[i]));
  // The last read ends the run (after the turn it completes in). No timer
  // may be pending meanwhile: a due timer ends a batched wait early.
  loop.spawn([](int fd, const std::atomic<int>* writes, std::atomic<int>* seen, IOLoop* loop) -> Task<void> {
    co_await read_one_and_note(fd, writes, seen);
    loop->stop();
  }(pipes.fds[4][0], &writes, &seen[4], &loop));
  std::thread writer([&] {
    auto write_pipe = [&](int i) {
      writes.fetch_add(1);  // counted before it can be read
      EXPECT_EQ(write(pipes.fds[i][1], "x", 1), 1);
    };
    // The first read completes on its own: batching waits only once
    // completions are flowing.
    write_pipe(0);
    while (seen[0].load() < 0) std::this_thread::sleep_for(1ms);
    for (int i = 1; i < 5; ++i) {
      std::this_thread::sleep_for(20ms);
      write_pipe(i);
    }
  });
  loop.run();
  writer.join();
  EXPECT_EQ(seen[0].load(), 1);
  for (int i = 1; i < 5; ++i) {
    EXPECT_EQ(seen[i].load(), 5) << "read " << i << " ran before the fourth completion of the batch arrived";
  }
}

TEST(IOLoop, WaitBatchingDeliversFewerCompletionsThanTheBatchAfterTheDelay) {
  IOLoop loop;
  loop.set_wait_batching({.min_completions = 8, .max_delay = 30ms});
  Pipes pipes(1);
  std::atomic<int> writes{0};
  std::atomic<int> seen{-1};
  ASSERT_EQ(write(pipes.fds[0][1], "x", 1), 1);
  TimePoint start = loop.time();
  // One completion of the eight asked for, and no timer before it: the wait
  // ends at max_delay, not never.
  loop.run_sync(read_one_and_note(pipes.fds[0][0], &writes, &seen));
  EXPECT_EQ(seen.load(), 0);
  EXPECT_LT(loop.time() - start, 3s) << "a lone completion waited far past max_delay";
}

TEST(IOLoop, WaitBatchingNeverHoldsBackATimer) {
  IOLoop loop;
  loop.set_wait_batching({.min_completions = 8, .max_delay = 10s});
  Pipes pipes(1);
  bool fired = false;
  TimePoint start = loop.time();
  // A read that never completes keeps the loop waiting in the kernel; the
  // timer's deadline, not the 10 s batching delay, must end that wait.
  loop.spawn([](int fd) -> Task<void> {
    char byte = 0;
    co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, &byte, 1, 0); });
  }(pipes.fds[0][0]));
  loop.call_later(20ms, [&] {
    fired = true;
    loop.stop();
  });
  loop.run();
  EXPECT_TRUE(fired);
  EXPECT_LT(loop.time() - start, 3s) << "the timer waited for the batching delay";
}

}  // namespace
}  // namespace whirl
