// whirl/runtime/internal/timer_heap.h: the IOLoop's user-space timers.
//
// One binary min-heap ordered by (deadline, insertion sequence), so timers
// fire in deadline order and timers with the same deadline fire in the order
// they were scheduled. Entries live in a slot table with a free list and
// generation counters (SlotTable): a TimeoutHandle names a slot and a generation, so
// removing a timer that already fired (or removing twice) is a harmless no-op,
// and scheduling a timer in steady state reuses a slot instead of allocating.
// The loop gives the kernel only the nearest deadline (as the timeout of its
// io_uring_enter wait), never one timeout per timer.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "whirl/runtime/clock.h"
#include "whirl/runtime/internal/slot_table.h"
#include "whirl/runtime/internal/unique_function.h"

namespace whirl {

class TimerHeap {
 public:
  TimeoutHandle add(TimePoint deadline, UniqueFunction callback);

  // Cancels a pending timer. Returns false when it already fired or was removed.
  bool remove(TimeoutHandle handle) noexcept;

  std::optional<TimePoint> next_deadline() const noexcept;
  std::size_t size() const noexcept { return heap_.size(); }

  // Removes the earliest timer if it is due at `now` and returns its
  // callback; returns an empty function otherwise. The loop runs callbacks
  // one at a time so a callback may add or remove timers freely.
  UniqueFunction pop_due(TimePoint now);

  void clear() noexcept;

 private:
  struct Timer {
    TimePoint deadline;
    std::uint64_t sequence = 0;
    UniqueFunction callback;
    std::uint32_t heap_index = UINT32_MAX;
  };

  bool before(std::uint32_t a, std::uint32_t b) const noexcept;
  void place(std::size_t heap_pos, std::uint32_t slot) noexcept;
  void sift_up(std::size_t pos) noexcept;
  void sift_down(std::size_t pos) noexcept;
  void erase_at(std::size_t pos) noexcept;

  SlotTable<Timer> slots_;           // a TimeoutHandle is (slot, generation)
  std::vector<std::uint32_t> heap_;  // slot indices
  std::uint64_t next_sequence_ = 0;
};

}  // namespace whirl
