#include "whirl/runtime/locks.h"

#include <stdexcept>

namespace whirl {

void Semaphore::release() {
  // Handing the unit to a waiter keeps value_ at 0: the waiter owns it now.
  release_unit();
}

void BoundedSemaphore::release() {
  if (waiters_.empty() && value_ >= initial_) throw std::logic_error("Semaphore released too many times");
  Semaphore::release();
}

void Lock::release() {
  if (!locked()) throw std::logic_error("release unlocked lock");
  semaphore_.release();
}

}  // namespace whirl
