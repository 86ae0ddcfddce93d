// whirl/http/websocket_handoff.h: where one of WebSocketProtocol's two
// tasks waits for the other, handed control by symmetric transfer. Private
// to //http:websocket.
//
//     // the dispatcher, done with a message: park, and resume the receiver
//     // (if it is parked) in the same step, with no loop turn between
//     co_await dispatcher_park.park(receiver_park.take());
//
// A Condition would do, but it wakes through the loop's ready queue: each
// of a pipelined batch's messages would cost two loop turns and a waiter's
// bookkeeping. Here the task that makes progress possible resumes the
// other directly. Rules:
// - take() empties the parking and returns the parked coroutine (or a null
//   handle); the caller must transfer to it (return it from an
//   await_suspend) before anything else runs.
// - wake_later() resumes it through the loop instead, for a waker that
//   is about to suspend on something else (the receiver before a socket
//   read) or is not a coroutine at all (stop()).
// - A parked coroutine whose token is cancelled is scheduled and throws
//   CancelledError, as any cancelled wait does. Destroying its frame while
//   parked (an aborted connection) empties the parking.
#pragma once

#include <coroutine>

#include "whirl/runtime/cancellation.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/task.h"

namespace whirl {

class Parking {
 public:
  class Awaiter : private CancelHook {
   public:
    Awaiter(Parking& parking, std::coroutine_handle<> next) noexcept
        : CancelHook(&Awaiter::on_cancel), parking_(parking), next_(next) {}
    Awaiter(const Awaiter&) = delete;
    ~Awaiter() {
      if (parking_.awaiter_ == this) parking_.clear();
    }
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      parking_.handle_ = self;
      parking_.awaiter_ = this;
      if (CancellationToken* token = detail::token_of(self)) token->add(*this);  // fires now if already cancelled
      return next_ ? next_ : std::noop_coroutine();
    }
    void await_resume() {
      unlink();
      if (cancelled_) throw CancelledError();
    }

   private:
    friend class Parking;
    static void on_cancel(CancelHook* hook) noexcept {
      auto* self = static_cast<Awaiter*>(hook);
      if (self->parking_.awaiter_ != self) return;  // already taken: it is being resumed
      self->cancelled_ = true;
      self->parking_.wake_later();
    }

    Parking& parking_;
    std::coroutine_handle<> next_;
    bool cancelled_ = false;
    ReadyTicket resume_;
  };

  // Parks the awaiting coroutine here and transfers to `next` (another
  // parked coroutine taken with take(), or none).
  Awaiter park(std::coroutine_handle<> next) noexcept { return Awaiter(*this, next); }
  bool occupied() const noexcept { return awaiter_ != nullptr; }
  std::coroutine_handle<> take() noexcept {
    std::coroutine_handle<> handle = handle_;
    clear();
    return handle;
  }
  void wake_later() noexcept {
    if (awaiter_ == nullptr) return;
    Awaiter* awaiter = awaiter_;
    std::coroutine_handle<> handle = handle_;
    clear();
    IOLoop::current().schedule(handle, awaiter->resume_);
  }

 private:
  void clear() noexcept {
    handle_ = nullptr;
    awaiter_ = nullptr;
  }
  std::coroutine_handle<> handle_;
  Awaiter* awaiter_ = nullptr;
};

}  // namespace whirl
