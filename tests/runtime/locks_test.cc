#include "whirl/runtime/locks.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;

Task<void> wait_event(Event* event, std::vector<std::string>* trace, std::string name) {
  co_await event->wait();
  trace->push_back(name);
}

TEST(Event, SetWakesEveryWaiter) {
  IOLoop loop;
  Event event;
  std::vector<std::string> trace;
  loop.spawn(wait_event(&event, &trace, "a"));
  loop.spawn(wait_event(&event, &trace, "b"));
  loop.call_later(5ms, [&] {
    EXPECT_TRUE(trace.empty());
    event.set();
    event.clear();  // waiters woken by set() still complete
  });
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(trace, (std::vector<std::string>{"a", "b"}));
}

Task<bool> wait_event_with_timeout(Event* event, Duration timeout) {
  try {
    co_await event->wait(timeout);
  } catch (const TimeoutError&) {
    co_return false;
  }
  co_return true;
}

TEST(Event, WaitWithATimeoutThrowsTimeoutError) {
  IOLoop loop;
  Event event;
  EXPECT_FALSE(loop.run_sync(wait_event_with_timeout(&event, 10ms)));
  event.set();
  EXPECT_TRUE(loop.run_sync(wait_event_with_timeout(&event, 10ms)));
  EXPECT_EQ(loop.timers_pending(), 0u);
}

Task<void> critical_section(Lock* lock, std::vector<std::string>* trace, std::string name) {
  auto held = co_await lock->guard();
  trace->push_back(name + " in");
  co_await sleep(2ms);
  trace->push_back(name + " out");
}

TEST(Lock, SerialisesCriticalSectionsInArrivalOrder) {
  IOLoop loop;
  Lock lock;
  std::vector<std::string> trace;
  Task<void> a = critical_section(&lock, &trace, "a");
  Task<void> b = critical_section(&lock, &trace, "b");
  Task<void> c = critical_section(&lock, &trace, "c");
  loop.run_sync(gather(std::move(a), std::move(b), std::move(c)));
  EXPECT_EQ(trace, (std::vector<std::string>{"a in", "a out", "b in", "b out", "c in", "c out"}));
  EXPECT_FALSE(lock.locked());
}

TEST(Lock, ReleasingAnUnlockedLockThrows) {
  Lock lock;
  EXPECT_THROW(lock.release(), std::logic_error);
}

Task<void> hold_semaphore(Semaphore* semaphore, int* inside, int* max_inside) {
  co_await semaphore->acquire();
  ++*inside;
  *max_inside = std::max(*max_inside, *inside);
  co_await sleep(2ms);
  --*inside;
  semaphore->release();
}

TEST(Semaphore, AdmitsAtMostItsValueAtOnce) {
  IOLoop loop;
  Semaphore semaphore(2);
  int inside = 0;
  int max_inside = 0;
  std::vector<Task<void>> tasks;
  for (int i = 0; i < 6; ++i) tasks.push_back(hold_semaphore(&semaphore, &inside, &max_inside));
  loop.run_sync(gather(std::move(tasks)));
  EXPECT_EQ(max_inside, 2);
  EXPECT_EQ(semaphore.value(), 2u);
}

Task<bool> acquire_with_timeout(Semaphore* semaphore) {
  try {
    co_await semaphore->acquire(5ms);
  } catch (const TimeoutError&) {
    co_return false;
  }
  co_return true;
}

TEST(Semaphore, AcquireTimesOutAndLeavesTheCountAlone) {
  IOLoop loop;
  Semaphore semaphore(0);
  EXPECT_FALSE(loop.run_sync(acquire_with_timeout(&semaphore)));
  semaphore.release();
  EXPECT_EQ(semaphore.value(), 1u) << "the timed-out waiter did not take the unit";
  EXPECT_TRUE(loop.run_sync(acquire_with_timeout(&semaphore)));
}

TEST(BoundedSemaphore, ReleasingTooManyTimesThrows) {
  BoundedSemaphore semaphore(1);
  EXPECT_THROW(semaphore.release(), std::logic_error);
}

Task<bool> condition_wait(Condition* condition, Duration timeout) { co_return co_await condition->wait(timeout); }

TEST(Condition, WaitWithATimeoutReturnsFalseOnTimeout) {
  IOLoop loop;
  Condition condition;
  EXPECT_FALSE(loop.run_sync(condition_wait(&condition, 5ms)));
}

Task<void> count_notifications(Condition* condition, int* woken) {
  // Named first: GCC 12 miscompiles `if (co_await condition->wait(1s))`
  // (the condition reads false although await_resume returned true).
  bool notified = co_await condition->wait(1s);
  if (notified) ++*woken;
}

TEST(Condition, NotifyWakesTheRequestedNumberOfWaiters) {
  IOLoop loop;
  Condition condition;
  int woken = 0;
  for (int i = 0; i < 5; ++i) loop.spawn(count_notifications(&condition, &woken));
  // Each step is scheduled by the one before it, so a late loop (a loaded
  // machine) cannot fire two steps in one turn, before the woken run.
  loop.call_later(5ms, [&] {
    condition.notify(2);
    loop.call_later(10ms, [&] {
      EXPECT_EQ(woken, 2);
      condition.notify_all();
      loop.call_later(15ms, [&] { loop.stop(); });
    });
  });
  loop.run();
  EXPECT_EQ(woken, 5);
}

Task<void> wait_forever(Condition* condition, bool* cancelled) {
  try {
    co_await condition->wait();
  } catch (const CancelledError&) {
    *cancelled = true;
  }
}

TEST(Condition, ACancelledWaiterLeavesTheWaitList) {
  IOLoop loop;
  Condition condition;
  bool cancelled = false;
  SpawnHandle handle = loop.spawn(wait_forever(&condition, &cancelled));
  loop.call_later(5ms, [&] { handle.cancel(); });
  loop.call_later(15ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(handle.done());
}

TEST(Lock, AUnitHandedToATaskAbortedBeforeItRanPassesToTheNextWaiter) {
  IOLoop loop;
  Lock lock;
  std::vector<std::string> got;
  auto holder = [](Lock& lock, std::vector<std::string>& got, std::string name) -> Task<void> {
    co_await lock.acquire();
    got.push_back(name);
  };
  ASSERT_TRUE(lock.acquire().await_ready());  // held by the test
  SpawnHandle first = loop.spawn(holder(lock, got, "first"));
  SpawnHandle second = loop.spawn(holder(lock, got, "second"));
  loop.call_later(5ms, [&] {
    lock.release();  // hands the lock to "first"...
    first.abort();   // ...whose task is destroyed before it ever resumes
  });
  loop.call_later(30ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(got, std::vector<std::string>{"second"}) << "the unit went on to the next waiter, not into the void";
  EXPECT_TRUE(second.done());
}

}  // namespace
}  // namespace whirl
