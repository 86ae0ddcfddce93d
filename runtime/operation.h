// whirl/runtime/operation.h: io_uring requests as awaitables.
//
// Any SQE becomes an awaitable with io_op: the lambda fills in the SQE, the
// co_await yields the CQE's result (a byte count, an fd, or -errno):
//
//     char buf[4096];
//     int n = co_await io_op([&](io_uring_sqe* sqe) {
//       io_uring_prep_read(sqe, fd, buf, sizeof buf, 0);
//     });
//     if (n < 0) throw std::system_error(-n, std::generic_category(), "read");
//
// The SQE is queued, not submitted: the loop submits everything queued in a
// turn with one io_uring_enter.
//
// Cancellation: while suspended, the operation is registered with the task's
// CancellationToken. Cancelling submits IORING_OP_ASYNC_CANCEL; the awaiter
// resumes when the operation's own CQE arrives (the kernel is done with the
// buffer by then) and throws CancelledError if that CQE is an error. If the
// operation had already succeeded when the cancel reached it (the cancel
// "lost the race"), the result is returned: data is never dropped, and the
// task's next suspension throws instead.
//
// Destruction: if the awaiting frame is destroyed while the request is in
// flight (SpawnHandle::abort, loop shutdown), the request's RingRequest
// cancels and waits for the CQE first (ARCHITECTURE.md §2.1).
//
// MultishotOperation is the stream form for multishot requests (accept,
// recv): one SQE, many CQEs, consumed with co_await next().
#pragma once

#include <coroutine>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "whirl/runtime/cancellation.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/internal/ring.h"
#include "whirl/runtime/internal/ring_queue.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/task.h"

namespace whirl {

// The shared machinery of one-shot operations. Operation<Prepare> below
// fills in the SQE; everything on the per-operation path is inline.
class OperationBase : public Completion, private CancelHook {
 public:
  OperationBase() noexcept : CancelHook(&OperationBase::on_cancel), request_(*this) {}
  OperationBase(const OperationBase&) = delete;
  OperationBase& operator=(const OperationBase&) = delete;

  bool await_ready() const noexcept { return false; }

  int await_resume() {
    if (cancelled_before_submit_ || (result_ < 0 && token_ != nullptr && token_->cancelled())) {
      throw CancelledError();
    }
    return result_;
  }

  // The CQE flags of the completion (e.g. IORING_CQE_F_BUFFER).
  unsigned flags() const noexcept { return flags_; }

 protected:
  // A frame destroyed mid-flight waits here (request_) for its request,
  // since the request may point into that frame.
  ~OperationBase() = default;

  // The SQE to fill in, or nullptr when the task is already cancelled (then
  // the awaiter must not suspend and await_resume throws).
  io_uring_sqe* begin(std::coroutine_handle<> awaiter, CancellationToken* token) {
    token_ = token;
    if (token != nullptr && token->cancelled()) {
      cancelled_before_submit_ = true;
      return nullptr;
    }
    awaiter_ = awaiter;
    if (token != nullptr) token->add(*this);
    return request_.prepare(IOLoop::current().ring());
  }

 private:
  void complete(int result, unsigned flags) final {
    CancelHook::unlink();
    result_ = result;
    flags_ = flags;
    awaiter_.resume();
  }
  static void on_cancel(CancelHook* hook) noexcept;

  std::coroutine_handle<> awaiter_;
  CancellationToken* token_ = nullptr;
  RingRequest request_;
  int result_ = 0;
  unsigned flags_ = 0;
  bool cancelled_before_submit_ = false;
};

template <typename Prepare>
class Operation final : public OperationBase {
 public:
  explicit Operation(Prepare prepare) : prepare_(std::move(prepare)) {}

  template <typename Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiter) {
    io_uring_sqe* sqe = begin(awaiter, detail::token_of(awaiter));
    if (sqe == nullptr) return false;
    prepare_(sqe);
    return true;
  }

 private:
  Prepare prepare_;
};

// co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_...(sqe, ...); })
template <typename Prepare>
Operation<Prepare> io_op(Prepare prepare) {
  return Operation<Prepare>(std::move(prepare));
}

// One multishot request and the stream of its completions.
//
//     MultishotOperation accepts([&](io_uring_sqe* sqe) {
//       io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, 0);
//     });
//     accepts.start();
//     for (;;) {
//       CqeResult c = co_await accepts.next();
//       if (c.result >= 0) handle(c.result);
//       if (!c.more) accepts.start();  // the kernel ended it; re-arm
//     }
//
// CQEs that arrive while nobody awaits are queued in order. The request is
// cancelled by stop() or the destructor, which waits for its final CQE and
// passes queued-but-unconsumed completions to `discard` (a subclass returns
// provided buffers there).
struct CqeResult {
  int result = 0;
  unsigned flags = 0;
  bool more = false;  // IORING_CQE_F_MORE: further completions will follow
};

class MultishotOperation : public Completion, private CancelHook {
 public:
  template <typename F>
  explicit MultishotOperation(F prepare)
      : CancelHook(&MultishotOperation::on_cancel), prepare_(std::move(prepare)), request_(*this) {}
  MultishotOperation(const MultishotOperation&) = delete;
  MultishotOperation& operator=(const MultishotOperation&) = delete;
  virtual ~MultishotOperation();

  // Submits the request if it is not armed already.
  void start();
  // Requests cancellation; the final CQE (usually -ECANCELED) still arrives
  // through next().
  void stop();
  bool armed() const noexcept { return armed_; }
  std::size_t queued() const noexcept { return queue_.size(); }

  // Lives in the waiting frame. Destroyed while it waits (its frame torn
  // down), it unregisters itself, and its queued resume, if any, goes with it.
  class NextAwaiter {
   public:
    explicit NextAwaiter(MultishotOperation* op) noexcept : op_(op) {}
    NextAwaiter(NextAwaiter&&) noexcept = default;  // only before it is awaited
    ~NextAwaiter() {
      if (op_ != nullptr && op_->waiting_ == this) op_->forget_waiter();
    }
    bool await_ready() const noexcept { return !op_->queue_.empty(); }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiter) {
      return op_->wait(this, awaiter, detail::token_of(awaiter));
    }
    CqeResult await_resume() { return op_->take(); }

   private:
    friend class MultishotOperation;
    MultishotOperation* op_;
    ReadyTicket resume_;
  };
  // The next completion. Only one task may wait at a time.
  NextAwaiter next() noexcept { return NextAwaiter(this); }

 protected:
  // A completion that was reaped but never consumed (at destruction).
  virtual void discard(const CqeResult& /*completion*/) {}
  // Cancels the request, waits for its final CQE and passes what was never
  // consumed to discard(). A subclass that overrides discard() calls this
  // from its own destructor: by the time ~MultishotOperation runs, the
  // override is gone (a virtual call in a base destructor reaches the base).
  void shut_down() noexcept;

 private:
  friend class NextAwaiter;

  void complete(int result, unsigned flags) override;
  bool wait(NextAwaiter* waiting, std::coroutine_handle<> awaiter, CancellationToken* token);
  void forget_waiter() noexcept;
  CqeResult take();
  static void on_cancel(CancelHook* hook) noexcept;
  static void on_cqe_while_destroying(void* self, int result, unsigned flags);

  struct PrepareFn {
    template <typename F>
    explicit PrepareFn(F f) : call([f = std::move(f)](io_uring_sqe* sqe) mutable { f(sqe); }) {}
    std::function<void(io_uring_sqe*)> call;
  };

  PrepareFn prepare_;
  RingRequest request_;
  bool armed_ = false;
  RingQueue<CqeResult> queue_;
  std::coroutine_handle<> waiter_;
  NextAwaiter* waiting_ = nullptr;  // the awaiter of waiter_, until it is resumed or scheduled
  CancellationToken* waiter_token_ = nullptr;
  bool waiter_cancelled_ = false;
};

}  // namespace whirl
