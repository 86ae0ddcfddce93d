#include "whirl/runtime/cancellation.h"

namespace whirl {

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

void CancellationToken::on_parent_cancelled(CancelHook* hook) noexcept {
  static_cast<ParentLink*>(hook)->child->cancel();
}

}  // namespace whirl
