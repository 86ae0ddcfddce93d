#include "whirl/runtime/gen.h"

namespace whirl {

SleepAwaiter::~SleepAwaiter() {
  if (loop_ != nullptr) loop_->remove_timeout(timer_);
}

bool SleepAwaiter::suspend(std::coroutine_handle<> awaiter, CancellationToken* token) {
  if (token != nullptr && token->cancelled()) {
    cancelled_ = true;
    return false;
  }
  loop_ = &IOLoop::current();
  awaiter_ = awaiter;
  SleepAwaiter* self = this;
  timer_ = loop_->call_at(deadline_, [self] {
    self->CancelHook::unlink();
    self->awaiter_.resume();
  });
  if (token != nullptr) token->add(*this);
  return true;
}

void SleepAwaiter::on_cancel(CancelHook* hook) noexcept {
  auto* self = static_cast<SleepAwaiter*>(hook);
  if (self->loop_->remove_timeout(self->timer_)) {
    self->cancelled_ = true;
    self->loop_->schedule(self->awaiter_, self->resume_);
  }
}

namespace detail {

Deadline::Deadline(IOLoop& loop, TimePoint when, CancellationToken* scope) : loop(loop) {
  Deadline* self = this;
  timer = loop.call_at(when, [self, scope] {
    self->fired = true;
    scope->cancel();
  });
}

Deadline::~Deadline() { loop.remove_timeout(timer); }

}  // namespace detail
}  // namespace whirl
