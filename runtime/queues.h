// whirl/runtime/queues.h: Queue<T>, Tornado's tornado.queues.Queue.
//
//     Queue<Job> jobs(100);                  // maxsize 100; 0 is unbounded
//     co_await jobs.put(job);                // waits while full
//     Job next = co_await jobs.get();        // waits while empty
//     jobs.task_done();
//     co_await jobs.join();                  // until every item is done
//
// put/get/join take an optional timeout (TimeoutError); put_nowait and
// get_nowait throw QueueFull / QueueEmpty. Getters and putters are served in
// arrival order. An item handed to a waiting getter is delivered even if that
// getter's task was cancelled in the meantime: a queue never drops an item.
// Single-threaded, like every primitive in runtime/.
#pragma once

#include <coroutine>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/internal/ring_queue.h"
#include "whirl/runtime/internal/wait_list.h"
#include "whirl/runtime/locks.h"

namespace whirl {

template <typename T>
class Queue {
 public:
  explicit Queue(std::size_t maxsize = 0) noexcept : maxsize_(maxsize) { finished_.set(); }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  std::size_t maxsize() const noexcept { return maxsize_; }
  std::size_t qsize() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  bool full() const noexcept { return maxsize_ != 0 && items_.size() >= maxsize_; }

  class GetAwaiter : public Waiter {
   public:
    GetAwaiter(Queue& queue, std::optional<TimePoint> deadline) noexcept : Waiter(deadline), queue_(queue) {}
    GetAwaiter(const GetAwaiter&) = delete;
    GetAwaiter& operator=(const GetAwaiter&) = delete;
    // Handed an item but destroyed before it could take it: the item stays
    // in the queue, first in line, rather than vanishing with the frame.
    ~GetAwaiter() {
      if (woken_but_never_resumed() && item_) queue_.give_back(std::move(*item_));
    }
    bool await_ready() {
      if (queue_.items_.empty()) return false;
      item_.emplace(queue_.get_nowait());
      return true;
    }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiter) {
      return wait_on(queue_.getters_, awaiter, detail::token_of(awaiter));
    }
    T await_resume() {
      if (!item_) throw_unless_woken();
      return std::move(*item_);
    }

   private:
    friend class Queue;
    Queue& queue_;
    std::optional<T> item_;
  };

  class PutAwaiter : public Waiter {
   public:
    PutAwaiter(Queue& queue, T item, std::optional<TimePoint> deadline)
        : Waiter(deadline), queue_(queue), item_(std::move(item)) {}
    bool await_ready() {
      if (queue_.full()) return false;
      queue_.put_nowait(std::move(*item_));
      item_.reset();
      return true;
    }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiter) {
      return wait_on(queue_.putters_, awaiter, detail::token_of(awaiter));
    }
    void await_resume() const {
      if (item_) throw_unless_woken();  // still ours: it never entered the queue
    }

   private:
    friend class Queue;
    Queue& queue_;
    std::optional<T> item_;
  };

  GetAwaiter get() noexcept { return GetAwaiter(*this, std::nullopt); }
  GetAwaiter get(Duration timeout) { return GetAwaiter(*this, detail::deadline_after(timeout)); }
  PutAwaiter put(T item) { return PutAwaiter(*this, std::move(item), std::nullopt); }
  PutAwaiter put(T item, Duration timeout) {
    return PutAwaiter(*this, std::move(item), detail::deadline_after(timeout));
  }

  void put_nowait(T item) {
    if (!getters_.empty()) {
      // Straight to the longest-waiting getter.
      static_cast<GetAwaiter*>(getters_.front())->item_.emplace(std::move(item));
      getters_.wake_one();
    } else {
      if (full()) throw QueueFull();
      items_.push_back(std::move(item));
    }
    ++unfinished_;
    finished_.clear();
  }

  T get_nowait() {
    if (items_.empty()) throw QueueEmpty();
    T item = items_.pop_front();
    if (!putters_.empty()) {
      auto* putter = static_cast<PutAwaiter*>(putters_.front());
      items_.push_back(std::move(*putter->item_));
      putter->item_.reset();
      ++unfinished_;
      finished_.clear();
      putters_.wake_one();
    }
    return item;
  }

  // Marks one item (previously got) as processed.
  void task_done() {
    if (unfinished_ == 0) throw std::logic_error("task_done() called too many times");
    if (--unfinished_ == 0) finished_.set();
  }

  // Completes when every item put so far has been marked task_done.
  Event::WaitAwaiter join() noexcept { return finished_.wait(); }
  Event::WaitAwaiter join(Duration timeout) { return finished_.wait(timeout); }

 private:
  // An item handed to a getter that never took it: to the next getter, or
  // back to the front of the queue. It still counts as unfinished.
  void give_back(T item) {
    if (!getters_.empty()) {
      static_cast<GetAwaiter*>(getters_.front())->item_.emplace(std::move(item));
      getters_.wake_one();
    } else {
      items_.push_front(std::move(item));
    }
  }

  std::size_t maxsize_;
  RingQueue<T> items_;
  WaitList getters_;
  WaitList putters_;
  std::size_t unfinished_ = 0;
  Event finished_;
};

}  // namespace whirl
