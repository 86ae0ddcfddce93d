#include "whirl/runtime/cancellation.h"

namespace whirl {

void CancelHook::unlink() noexcept {
  if (owner == nullptr) return;
  if (prev != nullptr) {
    prev->next = next;
  } else {
    owner->head_ = next;
  }
  if (next != nullptr) next->prev = prev;
  owner = nullptr;
  prev = next = nullptr;
}

CancellationToken::CancellationToken(CancellationToken* parent) noexcept {
  if (parent != nullptr) parent->add(parent_link_);
}

CancellationToken::~CancellationToken() {
  parent_link_.unlink();
  while (head_ != nullptr) head_->unlink();
}

void CancellationToken::cancel() noexcept {
  cancelled_ = true;
  // Each hook is unlinked before it fires, so a hook that touches the list
  // (or destroys its awaiter's state) cannot upset this loop.
  while (head_ != nullptr) {
    CancelHook* hook = head_;
    hook->unlink();
    hook->fire(hook);
  }
}

void CancellationToken::add(CancelHook& hook) noexcept {
  hook.unlink();
  if (cancelled_) {
    hook.fire(&hook);
    return;
  }
  hook.owner = this;
  hook.prev = nullptr;
  hook.next = head_;
  if (head_ != nullptr) head_->prev = &hook;
  head_ = &hook;
}

void CancellationToken::on_parent_cancelled(CancelHook* hook) noexcept {
  static_cast<ParentLink*>(hook)->child->cancel();
}

}  // namespace whirl
