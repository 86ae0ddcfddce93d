#include "whirl/runtime/internal/timer_heap.h"

#include <utility>

namespace whirl {

TimeoutHandle TimerHeap::add(TimePoint deadline, UniqueFunction callback) {
  std::uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  slot.deadline = deadline;
  slot.sequence = next_sequence_++;
  slot.callback = std::move(callback);
  heap_.push_back(index);
  slot.heap_index = static_cast<std::uint32_t>(heap_.size() - 1);
  sift_up(heap_.size() - 1);
  return TimeoutHandle{index, slot.generation};
}

bool TimerHeap::remove(TimeoutHandle handle) noexcept {
  if (!handle || handle.slot >= slots_.size()) return false;
  Slot& slot = slots_[handle.slot];
  if (slot.generation != handle.generation || slot.heap_index == UINT32_MAX) return false;
  std::size_t pos = slot.heap_index;
  erase_at(pos);
  slot.callback.reset();
  release(handle.slot);
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
  release(index);
  return callback;
}

void TimerHeap::clear() noexcept {
  for (std::uint32_t index : heap_) {
    slots_[index].callback.reset();
    release(index);
  }
  heap_.clear();
}

bool TimerHeap::before(std::uint32_t a, std::uint32_t b) const noexcept {
  const Slot& x = slots_[a];
  const Slot& y = slots_[b];
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
  std::uint32_t removed = heap_[pos];
  std::uint32_t last = heap_.back();
  heap_.pop_back();
  slots_[removed].heap_index = UINT32_MAX;
  if (pos == heap_.size()) return;
  place(pos, last);
  sift_down(pos);
  sift_up(slots_[last].heap_index);
}

void TimerHeap::release(std::uint32_t slot) noexcept {
  slots_[slot].heap_index = UINT32_MAX;
  ++slots_[slot].generation;
  free_.push_back(slot);
}

}  // namespace whirl
