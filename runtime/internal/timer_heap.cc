#include "whirl/runtime/internal/timer_heap.h"

#include <utility>

namespace whirl {

TimeoutHandle TimerHeap::add(TimePoint deadline, UniqueFunction callback) {
  // The heap's room first: a throw from either allocation leaves no live
  // slot without its heap entry.
  heap_.push_back(0);
  std::uint32_t index;
  try {
    index = slots_.acquire();
  } catch (...) {
    heap_.pop_back();
    throw;
  }
  Timer& timer = slots_[index];
  timer.deadline = deadline;
  timer.sequence = next_sequence_++;
  timer.callback = std::move(callback);
  place(heap_.size() - 1, index);
  sift_up(heap_.size() - 1);
  return TimeoutHandle{index, slots_.generation(index)};
}

bool TimerHeap::remove(TimeoutHandle handle) noexcept {
  if (!slots_.live(handle.slot, handle.generation)) return false;  // fired, removed, or never set
  Timer& timer = slots_[handle.slot];
  erase_at(timer.heap_index);
  timer.callback.reset();
  slots_.release(handle.slot);
  return true;
}

std::optional<TimePoint> TimerHeap::next_deadline() const noexcept {
  if (heap_.empty()) return std::nullopt;
  return slots_[heap_.front()].deadline;
}

UniqueFunction TimerHeap::pop_due(TimePoint now) {
  if (heap_.empty()) return nullptr;
  std::uint32_t index = heap_.front();
  if (slots_[index].deadline > now) return nullptr;
  erase_at(0);
  UniqueFunction callback = std::move(slots_[index].callback);
  slots_.release(index);
  return callback;
}

void TimerHeap::clear() noexcept {
  for (std::uint32_t index : heap_) {
    slots_[index].callback.reset();
    slots_.release(index);
  }
  heap_.clear();
}

bool TimerHeap::before(std::uint32_t a, std::uint32_t b) const noexcept {
  const Timer& x = slots_[a];
  const Timer& y = slots_[b];
  return x.deadline < y.deadline || (x.deadline == y.deadline && x.sequence < y.sequence);
}

void TimerHeap::place(std::size_t heap_pos, std::uint32_t slot) noexcept {
  heap_[heap_pos] = slot;
  slots_[slot].heap_index = static_cast<std::uint32_t>(heap_pos);
}

void TimerHeap::sift_up(std::size_t pos) noexcept {
  std::uint32_t moving = heap_[pos];
  while (pos > 0) {
    std::size_t parent = (pos - 1) / 2;
    if (!before(moving, heap_[parent])) break;
    place(pos, heap_[parent]);
    pos = parent;
  }
  place(pos, moving);
}

void TimerHeap::sift_down(std::size_t pos) noexcept {
  std::uint32_t moving = heap_[pos];
  std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], moving)) break;
    place(pos, heap_[child]);
    pos = child;
  }
  place(pos, moving);
}

void TimerHeap::erase_at(std::size_t pos) noexcept {
  std::uint32_t last = heap_.back();
  heap_.pop_back();
  if (pos == heap_.size()) return;
  place(pos, last);
  sift_down(pos);
  sift_up(slots_[last].heap_index);
}

}  // namespace whirl
