#include "whirl/runtime/cancellation.h"

namespace whirl {

CancellationToken::CancellationToken(CancellationToken* parent) noexcept {
  if (parent != nullptr) parent->add(parent_link_);
}

// The members do it: parent_link_ leaves the parent's list, then hooks_
// lets go of the hooks still registered.
CancellationToken::~CancellationToken() = default;

void CancellationToken::cancel() noexcept {
  cancelled_ = true;
  // Each hook is unlinked before it fires, so a hook that touches the list
  // (or destroys its awaiter's state) cannot upset this loop.
  while (CancelHook* hook = hooks_.pop_front()) hook->fire(hook);
}

void CancellationToken::on_parent_cancelled(CancelHook* hook) noexcept {
  static_cast<ParentLink*>(hook)->child->cancel();
}

}  // namespace whirl
