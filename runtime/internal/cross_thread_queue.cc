#include "whirl/runtime/internal/cross_thread_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "whirl/runtime/log.h"

namespace whirl {

CrossThreadQueue::CrossThreadQueue(Ring& ring, ReadyQueue& ready)
    : ring_(ring), ready_(ready), fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  arm();
}

// The loop reaps every request before its parts go, so the read is no
// longer in flight here (read_'s destructor would wait for it otherwise).
CrossThreadQueue::~CrossThreadQueue() {
  read_.wait_out();
  ::close(fd_);
}

void CrossThreadQueue::push(UniqueFunction callback) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(callback));
  }
  // acq_rel: if we see `true`, the loop has not yet reset the flag, and its
  // reset (an RMW that reads our value or a later one) happens before it
  // takes mutex_ to drain, so our callback is in that drain.
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    std::uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the loop wakes anyway.
    [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
  }
}

void CrossThreadQueue::clear() noexcept {
  std::lock_guard lock(mutex_);
  queue_.clear();
}

void CrossThreadQueue::complete(int result, unsigned /*flags*/) {
  if (result < 0 && result != -EAGAIN && result != -EINTR) {
    log::gen().error("eventfd read failed: {}", std::strerror(-result));
  }
  drain();
  arm();
}

void CrossThreadQueue::arm() { io_uring_prep_read(read_.prepare(ring_), fd_, &counter_, sizeof counter_, 0); }

void CrossThreadQueue::drain() {
  wake_pending_.exchange(false, std::memory_order_acq_rel);
  {
    std::lock_guard lock(mutex_);
    batch_.swap(queue_);
  }
  for (UniqueFunction& callback : batch_) ready_.push(std::move(callback));
  batch_.clear();
}

}  // namespace whirl
