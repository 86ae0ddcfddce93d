// whirl/runtime/internal/wait_list.h: the one waiting mechanism under locks.h and queues.h.
//
// A Waiter is the awaiter object of a task blocked on a primitive (an Event,
// a Lock, a Queue …). It lives in the waiting coroutine's frame and links
// itself into the primitive's WaitList, optionally arms a deadline timer, and
// registers with the task's CancellationToken. Exactly one of three things
// ends the wait, and the first one wins:
//   * the primitive wakes it (wake_one / wake_all), possibly after handing it
//     a value (a queue item, lock ownership);
//   * the deadline passes (kTimedOut);
//   * the task is cancelled (kCancelled).
// Whichever wins unlinks the waiter from the other two and schedules the
// coroutine on the loop (never resumed inline, so `set()` or `put()` never
// runs another task on the caller's stack).
//
// A waiter that was woken but whose task is destroyed before it resumes (an
// aborted task) never runs: its resume is taken back (ReadyTicket), and what
// it was handed goes back to the primitive (woken_but_never_resumed).
//
// Everything is single-threaded: no atomics, no locks.
#pragma once

#include <coroutine>
#include <cstddef>
#include <optional>

#include "whirl/runtime/cancellation.h"
#include "whirl/runtime/internal/intrusive_list.h"
#include "whirl/runtime/internal/timer_heap.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {

class IOLoop;
class WaitList;

class Waiter : private CancelHook, private ListNode<Waiter> {
 public:
  enum class Outcome : unsigned char { kPending, kWoken, kTimedOut, kCancelled };

  Waiter() noexcept : CancelHook(&Waiter::on_cancel) {}
  explicit Waiter(std::optional<TimePoint> deadline) noexcept : CancelHook(&Waiter::on_cancel), deadline_(deadline) {}
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  ~Waiter();

  Outcome outcome() const noexcept { return outcome_; }

 protected:
  // The primitive woke this waiter (and may have handed it something: a
  // semaphore unit, a queue item) but its task was destroyed before it
  // resumed. A subclass that was handed something gives it back from its
  // own destructor when this is true, or it would be lost with the frame.
  bool woken_but_never_resumed() const noexcept { return outcome_ == Outcome::kWoken && resume_.queued(); }
  // Joins `list` and suspends; returns false (do not suspend, outcome
  // kCancelled) if the task is already cancelled.
  bool wait_on(WaitList& list, std::coroutine_handle<> awaiter, CancellationToken* token);
  // For await_resume: returns on kWoken, throws TimeoutError or CancelledError.
  void throw_unless_woken() const;

 private:
  friend class WaitList;
  friend class IntrusiveList<Waiter>;
  void finish(Outcome outcome) noexcept;
  static void on_cancel(CancelHook* hook) noexcept;

  std::optional<TimePoint> deadline_;
  Outcome outcome_ = Outcome::kPending;
  std::coroutine_handle<> awaiter_;
  IOLoop* loop_ = nullptr;
  TimeoutHandle timer_;
  ReadyTicket resume_;  // declared last: taken back first when the frame goes
};

class WaitList {
 public:
  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  bool empty() const noexcept { return waiters_.empty(); }
  // The longest-waiting waiter, to hand it something before waking it.
  Waiter* front() const noexcept { return waiters_.front(); }

  // Wakes the longest-waiting waiter; false if there was none.
  bool wake_one() noexcept;
  void wake_all() noexcept;

 private:
  friend class Waiter;

  // Destroyed with the primitive (its owner's frame is going): the waiters
  // left are never woken and must not touch the list afterwards.
  IntrusiveList<Waiter> waiters_;
};

}  // namespace whirl
