#include "whirl/runtime/internal/wait_list.h"

#include "whirl/runtime/errors.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {

Waiter::~Waiter() {
  if (list_ != nullptr) list_->remove(this);
  if (loop_ != nullptr) loop_->remove_timeout(timer_);
}

bool Waiter::wait_on(WaitList& list, std::coroutine_handle<> awaiter, CancellationToken* token) {
  if (token != nullptr && token->cancelled()) {
    outcome_ = Outcome::kCancelled;
    return false;
  }
  loop_ = &IOLoop::current();
  awaiter_ = awaiter;
  list.push_back(this);
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
  if (list_ != nullptr) list_->remove(this);
  CancelHook::unlink();
  loop_->remove_timeout(timer_);
  loop_->schedule(awaiter_, resume_);
}

void Waiter::on_cancel(CancelHook* hook) noexcept { static_cast<Waiter*>(hook)->finish(Outcome::kCancelled); }

WaitList::~WaitList() {
  // The primitive is going away (its owner's frame is being destroyed); its
  // waiters are never woken, and must not touch this list afterwards.
  while (head_ != nullptr) remove(head_);
}

bool WaitList::wake_one() noexcept {
  if (head_ == nullptr) return false;
  head_->finish(Waiter::Outcome::kWoken);
  return true;
}

void WaitList::wake_all() noexcept {
  while (head_ != nullptr) head_->finish(Waiter::Outcome::kWoken);
}

void WaitList::push_back(Waiter* waiter) noexcept {
  waiter->list_ = this;
  waiter->prev_ = tail_;
  waiter->next_ = nullptr;
  if (tail_ != nullptr) {
    tail_->next_ = waiter;
  } else {
    head_ = waiter;
  }
  tail_ = waiter;
  ++size_;
}

void WaitList::remove(Waiter* waiter) noexcept {
  if (waiter->prev_ != nullptr) {
    waiter->prev_->next_ = waiter->next_;
  } else {
    head_ = waiter->next_;
  }
  if (waiter->next_ != nullptr) {
    waiter->next_->prev_ = waiter->prev_;
  } else {
    tail_ = waiter->prev_;
  }
  waiter->list_ = nullptr;
  waiter->prev_ = waiter->next_ = nullptr;
  --size_;
}

}  // namespace whirl
