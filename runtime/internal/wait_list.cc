#include "whirl/runtime/internal/wait_list.h"

#include "whirl/runtime/errors.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {

Waiter::~Waiter() {
  ListNode<Waiter>::unlink();
  if (loop_ != nullptr) loop_->remove_timeout(timer_);
}

bool Waiter::wait_on(WaitList& list, std::coroutine_handle<> awaiter, CancellationToken* token) {
  if (token != nullptr && token->cancelled()) {
    outcome_ = Outcome::kCancelled;
    return false;
  }
  loop_ = &IOLoop::current();
  awaiter_ = awaiter;
  list.waiters_.push_back(*this);
  if (deadline_) {
    Waiter* self = this;
    timer_ = loop_->call_at(*deadline_, [self] { self->finish(Outcome::kTimedOut); });
  }
  if (token != nullptr) token->add(*this);
  return true;
}

void Waiter::throw_unless_woken() const {
  switch (outcome_) {
    case Outcome::kWoken:
      return;
    case Outcome::kTimedOut:
      throw TimeoutError();
    case Outcome::kCancelled:
    case Outcome::kPending:
      break;
  }
  throw CancelledError();
}

void Waiter::finish(Outcome outcome) noexcept {
  if (outcome_ != Outcome::kPending) return;
  outcome_ = outcome;
  ListNode<Waiter>::unlink();
  CancelHook::unlink();
  loop_->remove_timeout(timer_);
  loop_->schedule(awaiter_, resume_);
}

void Waiter::on_cancel(CancelHook* hook) noexcept { static_cast<Waiter*>(hook)->finish(Outcome::kCancelled); }

bool WaitList::wake_one() noexcept {
  Waiter* first = waiters_.front();
  if (first == nullptr) return false;
  first->finish(Waiter::Outcome::kWoken);  // leaves the list
  return true;
}

void WaitList::wake_all() noexcept {
  while (Waiter* first = waiters_.front()) first->finish(Waiter::Outcome::kWoken);
}

}  // namespace whirl
