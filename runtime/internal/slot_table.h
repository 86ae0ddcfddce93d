// whirl/runtime/internal/slot_table.h: reusable slots named by index and
// generation, the table behind the Ring's requests, the spawned roots and
// the TimerHeap's timers.
//
//     SlotTable<Entry> table;
//     std::uint32_t index = table.acquire();        // live now
//     std::uint32_t generation = table.generation(index);
//     table.live(index, generation);                // true until...
//     table.release(index);                         // ...the slot ends its use
//
// A handle to a slot is (index, generation): releasing a slot moves its
// generation on, so a handle kept past the end of its use (a late CQE, a
// SpawnHandle of a finished task, a timer that already fired) no longer
// names anything, and the slot is reused without allocating.
//
// The generation is also the slot's state: odd while live, even while free
// (acquire and release each add one), with no flag beside it. A handle's
// generation is odd, never 0, and wrapping past UINT32_MAX lands on 0, an
// even (free) one, on its own.
// The value of a released slot is left as it was; its owner resets what
// must not linger.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace whirl {

template <typename T>
class SlotTable {
 public:
  // A free slot, now live; its generation names this use.
  std::uint32_t acquire() {
    std::uint32_t index = free_head_ != kNone ? free_head_ : grow();
    Slot& slot = slots_[index];
    free_head_ = slot.next_free;
    ++slot.generation;  // even -> odd: live
    ++live_count_;
    return index;
  }
  // Ends the slot's use: handles to it go stale and it is free again.
  void release(std::uint32_t index) noexcept {
    Slot& slot = slots_[index];
    ++slot.generation;  // odd -> even: free
    slot.next_free = free_head_;
    free_head_ = index;
    --live_count_;
  }
  bool live(std::uint32_t index, std::uint32_t generation) const noexcept {
    // capacity_, not slots_.size(): the slot's size need not be a power of
    // two, and this runs for every completion and in-flight check. An even
    // generation is a free slot's (0 among them): it names nothing.
    return index < capacity_ && (generation & 1) != 0 && slots_[index].generation == generation;
  }
  bool live(std::uint32_t index) const noexcept { return (slots_[index].generation & 1) != 0; }
  std::uint32_t generation(std::uint32_t index) const noexcept { return slots_[index].generation; }
  T& operator[](std::uint32_t index) noexcept { return slots_[index].value; }
  const T& operator[](std::uint32_t index) const noexcept { return slots_[index].value; }
  // Slots ever made (live or free): the bound for a scan over them.
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::size_t live_count() const noexcept { return live_count_; }

 private:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  // The free list runs through the free slots themselves (LIFO, so the
  // slot reused is the one touched last), so release never allocates and
  // the Ring's slot, a pointer and two words, stays 16 bytes.
  struct Slot {
    T value{};
    std::uint32_t generation = 0;  // even: free
    std::uint32_t next_free = kNone;
  };

  // Out of line: acquire is on every submission's path, and its growth is
  // not. A throw leaves the table as it was.
  [[gnu::noinline]] std::uint32_t grow() {
    slots_.emplace_back();
    return capacity_++;
  }

  std::vector<Slot> slots_;
  std::uint32_t free_head_ = kNone;
  std::uint32_t capacity_ = 0;
  std::size_t live_count_ = 0;
};

}  // namespace whirl
