// whirl/runtime/locks.h: Tornado's tornado.locks for coroutines on one loop.
//
//     Event ready;                          Lock lock;
//     co_await ready.wait();                auto held = co_await lock.guard();
//     ready.set();                          // released when `held` goes away
//
//     Semaphore slots(4);                   Condition cond;
//     co_await slots.acquire();             bool notified = co_await cond.wait(1s);
//     slots.release();                      cond.notify_all();
//
// Single-threaded, like Tornado's: use them between tasks of one IOLoop.
// Every wait can take a timeout (TimeoutError, except Condition::wait which
// returns false, as in Tornado) and is cancellable. Waiters are served in
// arrival order; a released Lock or Semaphore is handed straight to the
// longest waiter, so a newcomer cannot barge in ahead of it.
#pragma once

#include <coroutine>
#include <cstddef>
#include <optional>
#include <utility>

#include "whirl/runtime/clock.h"
#include "whirl/runtime/internal/wait_list.h"
#include "whirl/runtime/task.h"

namespace whirl {

namespace detail {
inline std::optional<TimePoint> deadline_after(Duration timeout) { return Clock::now() + timeout; }
}  // namespace detail

class Event {
 public:
  bool is_set() const noexcept { return set_; }
  // Sets the flag and wakes every waiter (each completes even if the flag
  // is cleared again before it runs).
  void set() noexcept {
    set_ = true;
    waiters_.wake_all();
  }
  void clear() noexcept { set_ = false; }

  class WaitAwaiter : public Waiter {
   public:
    WaitAwaiter(Event& event, std::optional<TimePoint> deadline) noexcept : Waiter(deadline), event_(event) {}
    bool await_ready() const noexcept { return event_.set_; }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiter) {
      return wait_on(event_.waiters_, awaiter, detail::token_of(awaiter));
    }
    void await_resume() const {
      if (outcome() != Outcome::kPending) throw_unless_woken();
    }

   private:
    Event& event_;
  };

  WaitAwaiter wait() noexcept { return WaitAwaiter(*this, std::nullopt); }
  // Throws TimeoutError if the event is not set within `timeout`.
  WaitAwaiter wait(Duration timeout) { return WaitAwaiter(*this, detail::deadline_after(timeout)); }

 private:
  bool set_ = false;
  WaitList waiters_;
};

class Semaphore {
 public:
  explicit Semaphore(std::size_t value = 1) noexcept : value_(value) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  virtual ~Semaphore() = default;

  std::size_t value() const noexcept { return value_; }

  class AcquireAwaiter : public Waiter {
   public:
    AcquireAwaiter(Semaphore& semaphore, std::optional<TimePoint> deadline) noexcept
        : Waiter(deadline), semaphore_(semaphore) {}
    AcquireAwaiter(const AcquireAwaiter&) = delete;
    AcquireAwaiter& operator=(const AcquireAwaiter&) = delete;
    // Handed a unit but destroyed before it could use it: the unit goes on.
    ~AcquireAwaiter() {
      if (woken_but_never_resumed()) semaphore_.release_unit();
    }
    bool await_ready() noexcept {
      if (semaphore_.value_ == 0 || !semaphore_.waiters_.empty()) return false;
      --semaphore_.value_;
      return true;
    }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiter) {
      return wait_on(semaphore_.waiters_, awaiter, detail::token_of(awaiter));
    }
    // Woken means the releaser handed us its unit: we hold it even if the
    // task was cancelled meanwhile (it must release it as usual).
    void await_resume() const {
      if (outcome() != Outcome::kPending) throw_unless_woken();
    }

   protected:
    Semaphore& semaphore_;
  };

  AcquireAwaiter acquire() noexcept { return AcquireAwaiter(*this, std::nullopt); }
  AcquireAwaiter acquire(Duration timeout) { return AcquireAwaiter(*this, detail::deadline_after(timeout)); }

  // Gives a unit back: to the longest waiter if there is one.
  virtual void release();

 protected:
  void release_unit() noexcept {
    if (!waiters_.wake_one()) ++value_;
  }
  std::size_t value_;
  WaitList waiters_;
};

// A Semaphore that refuses to be released above its initial value.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::size_t value = 1) noexcept : Semaphore(value), initial_(value) {}
  // Throws std::logic_error("Semaphore released too many times").
  void release() override;

 private:
  std::size_t initial_;
};

class Lock {
 public:
  bool locked() const noexcept { return semaphore_.value() == 0; }

  Semaphore::AcquireAwaiter acquire() noexcept { return semaphore_.acquire(); }
  Semaphore::AcquireAwaiter acquire(Duration timeout) { return semaphore_.acquire(timeout); }
  // Throws std::logic_error when the lock is not held.
  void release();

  // Releases the lock when destroyed (Tornado's `async with lock:`).
  class Guard {
   public:
    explicit Guard(Lock* lock) noexcept : lock_(lock) {}
    Guard(Guard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {}
    Guard& operator=(Guard&&) = delete;
    ~Guard() {
      if (lock_ != nullptr) lock_->release();
    }

   private:
    Lock* lock_;
  };

  class GuardAwaiter : public Semaphore::AcquireAwaiter {
   public:
    GuardAwaiter(Lock& lock, std::optional<TimePoint> deadline) noexcept
        : AcquireAwaiter(lock.semaphore_, deadline), lock_(lock) {}
    Guard await_resume() const {
      AcquireAwaiter::await_resume();
      return Guard(&lock_);
    }

   private:
    Lock& lock_;
  };

  GuardAwaiter guard() noexcept { return GuardAwaiter(*this, std::nullopt); }
  GuardAwaiter guard(Duration timeout) { return GuardAwaiter(*this, detail::deadline_after(timeout)); }

 private:
  BoundedSemaphore semaphore_{1};
};

class Condition {
 public:
  class WaitAwaiter : public Waiter {
   public:
    WaitAwaiter(Condition& condition, std::optional<TimePoint> deadline) noexcept
        : Waiter(deadline), condition_(condition) {}
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiter) {
      return wait_on(condition_.waiters_, awaiter, detail::token_of(awaiter));
    }
    // true when notified, false when the timeout passed first.
    bool await_resume() const {
      if (outcome() == Outcome::kTimedOut) return false;
      throw_unless_woken();
      return true;
    }

   private:
    Condition& condition_;
  };

  WaitAwaiter wait() noexcept { return WaitAwaiter(*this, std::nullopt); }
  WaitAwaiter wait(Duration timeout) { return WaitAwaiter(*this, detail::deadline_after(timeout)); }

  // Wakes up to `n` waiters, longest-waiting first.
  void notify(std::size_t n = 1) noexcept {
    while (n-- > 0 && waiters_.wake_one()) {
    }
  }
  void notify_all() noexcept { waiters_.wake_all(); }

 private:
  WaitList waiters_;
};

}  // namespace whirl
