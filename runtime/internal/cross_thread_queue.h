// whirl/runtime/internal/cross_thread_queue.h: add_callback from other
// threads, and the eventfd that wakes the loop for them.
//
//     CrossThreadQueue cross(ring, ready);   // on the loop's thread
//     cross.push(callback);                  // on any thread
//
// One read of the eventfd is always armed on the ring (a RingRequest). A
// push takes the mutex, queues, and writes the eventfd unless a write is
// already outstanding, so a burst of callbacks costs one write and one
// wake-up; the read's completion moves the batch into the ready queue, in
// push order, and re-arms.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "whirl/runtime/internal/ready_queue.h"
#include "whirl/runtime/internal/ring.h"
#include "whirl/runtime/internal/unique_function.h"

namespace whirl {

class CrossThreadQueue final : private Completion {
 public:
  CrossThreadQueue(Ring& ring, ReadyQueue& ready);
  ~CrossThreadQueue();
  CrossThreadQueue(const CrossThreadQueue&) = delete;
  CrossThreadQueue& operator=(const CrossThreadQueue&) = delete;

  // Thread-safe.
  void push(UniqueFunction callback);
  // Drops what was pushed and not yet moved (loop shutdown).
  void clear() noexcept;

 private:
  void complete(int result, unsigned flags) override;
  void arm();
  void drain();

  Ring& ring_;
  ReadyQueue& ready_;
  int fd_;
  std::uint64_t counter_ = 0;  // the read's buffer
  std::mutex mutex_;
  std::vector<UniqueFunction> queue_;
  std::vector<UniqueFunction> batch_;
  // True while an eventfd write is outstanding.
  std::atomic<bool> wake_pending_{false};
  RingRequest read_{*this};  // points at counter_: declared after it
};

}  // namespace whirl
