// whirl/runtime/internal/ring_queue.h: a growable FIFO ring buffer.
//
// The loop's ready queue and Queue<T> push and pop constantly; std::deque
// allocates and frees blocks as it goes. RingQueue grows by doubling and never
// shrinks, so once it has reached its working size a push/pop cycle does not
// touch the heap.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

namespace whirl {

template <typename T>
class RingQueue {
 public:
  RingQueue() = default;
  RingQueue(const RingQueue&) = delete;
  RingQueue& operator=(const RingQueue&) = delete;
  RingQueue(RingQueue&& other) noexcept
      : slots_(std::exchange(other.slots_, nullptr)),
        capacity_(std::exchange(other.capacity_, 0)),
        head_(std::exchange(other.head_, 0)),
        size_(std::exchange(other.size_, 0)) {}
  ~RingQueue() {
    clear();
    std::allocator<T>().deallocate(slots_, capacity_);
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) grow();
    T* slot = slots_ + ((head_ + size_) & (capacity_ - 1));
    ::new (static_cast<void*>(slot)) T(std::forward<Args>(args)...);
    ++size_;
    return *slot;
  }
  void push_back(T value) { emplace_back(std::move(value)); }
  // Puts `value` before the oldest element (it becomes the next pop_front).
  void push_front(T value) {
    if (size_ == capacity_) grow();
    head_ = (head_ + capacity_ - 1) & (capacity_ - 1);
    ::new (static_cast<void*>(slots_ + head_)) T(std::move(value));
    ++size_;
  }

  T& front() noexcept { return slots_[head_]; }
  // The i-th oldest element, i < size().
  T& operator[](std::size_t i) noexcept { return slots_[(head_ + i) & (capacity_ - 1)]; }

  // Removes and returns the oldest element. The queue must not be empty.
  T pop_front() {
    T* slot = slots_ + head_;
    T value = std::move(*slot);
    slot->~T();
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
    return value;
  }

  void clear() noexcept {
    while (size_ > 0) {
      slots_[head_].~T();
      head_ = (head_ + 1) & (capacity_ - 1);
      --size_;
    }
    head_ = 0;
  }

 private:
  void grow() {
    std::size_t capacity = capacity_ == 0 ? 16 : capacity_ * 2;
    T* slots = std::allocator<T>().allocate(capacity);
    for (std::size_t i = 0; i < size_; ++i) {
      T* from = slots_ + ((head_ + i) & (capacity_ - 1));
      ::new (static_cast<void*>(slots + i)) T(std::move(*from));
      from->~T();
    }
    std::allocator<T>().deallocate(slots_, capacity_);
    slots_ = slots;
    capacity_ = capacity;
    head_ = 0;
  }

  T* slots_ = nullptr;
  std::size_t capacity_ = 0;  // always 0 or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace whirl
