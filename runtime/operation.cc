#include "whirl/runtime/operation.h"

namespace whirl {

// ---- OperationBase ----

void OperationBase::on_cancel(CancelHook* hook) noexcept {
  auto* self = static_cast<OperationBase*>(hook);
  // The awaiter stays suspended until the operation's own CQE: only then may
  // its buffers be reused.
  try {
    self->request_.cancel();
  } catch (...) {
    // No SQE could be had even after a submit; the CQE still comes when the
    // operation finishes on its own.
  }
}

// ---- MultishotOperation ----

MultishotOperation::~MultishotOperation() {
  CancelHook::unlink();
  if (waiting_ != nullptr) waiting_->op_ = nullptr;  // that waiter is never resumed now
  shut_down();
}

void MultishotOperation::shut_down() noexcept {
  request_.wait_out(&MultishotOperation::on_cqe_while_destroying, this);
  while (!queue_.empty()) discard(queue_.pop_front());
}

void MultishotOperation::on_cqe_while_destroying(void* self, int result, unsigned flags) {
  static_cast<MultishotOperation*>(self)->queue_.push_back(CqeResult{result, flags, (flags & IORING_CQE_F_MORE) != 0});
}

void MultishotOperation::start() {
  if (armed_) return;
  io_uring_sqe* sqe = request_.prepare(IOLoop::current().ring());
  prepare_.call(sqe);
  armed_ = true;
}

void MultishotOperation::stop() {
  if (armed_) request_.cancel();
}

void MultishotOperation::complete(int result, unsigned flags) {
  bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) armed_ = false;
  queue_.push_back(CqeResult{result, flags, more});
  if (waiter_) {
    CancelHook::unlink();
    waiting_ = nullptr;
    std::exchange(waiter_, nullptr).resume();
  }
}

void MultishotOperation::forget_waiter() noexcept {
  CancelHook::unlink();
  waiter_ = nullptr;
  waiting_ = nullptr;
}

bool MultishotOperation::wait(NextAwaiter* waiting, std::coroutine_handle<> awaiter, CancellationToken* token) {
  if (waiter_) throw std::logic_error("MultishotOperation::next awaited by two tasks at once");
  waiter_cancelled_ = false;
  if (token != nullptr && token->cancelled()) {
    waiter_cancelled_ = true;
    return false;
  }
  waiter_ = awaiter;
  waiting_ = waiting;
  waiter_token_ = token;
  if (token != nullptr) token->add(*this);
  return true;
}

CqeResult MultishotOperation::take() {
  if (waiter_cancelled_ && queue_.empty()) throw CancelledError();
  return queue_.pop_front();
}

void MultishotOperation::on_cancel(CancelHook* hook) noexcept {
  // Only the wait is cancelled, not the request: the stream belongs to its
  // owner, who stops it explicitly or by destroying it.
  auto* self = static_cast<MultishotOperation*>(hook);
  self->waiter_cancelled_ = true;
  if (self->waiter_) {
    NextAwaiter* waiting = std::exchange(self->waiting_, nullptr);
    IOLoop::current().schedule(std::exchange(self->waiter_, nullptr), waiting->resume_);
  }
}

}  // namespace whirl
