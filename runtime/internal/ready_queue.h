// whirl/runtime/internal/ready_queue.h: the IOLoop's queue of ready work,
// and the ticket that lets an awaiter take its queued resume back.
//
//     ReadyTicket ticket;                   // lives in the awaiter (in the frame)
//     ready.schedule(handle, ticket);       // resumes `handle` on the next turn...
//     ticket.cancel();                      // ...unless taken back first
//
// One FIFO of callbacks: coroutine resumes, add_callback, the start of a
// spawned task. A turn runs only what was ready when it began (run_turn),
// so work made ready meanwhile runs after the next reap and I/O is never
// starved by a task that keeps yielding.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "whirl/runtime/internal/ring_queue.h"
#include "whirl/runtime/internal/unique_function.h"

namespace whirl {

class ReadyQueue;

// A coroutine resume queued on the ready queue, which the awaiter that
// queued it can take back. The ticket lives in the awaiter (so in the
// suspended frame); destroying it while the resume is still queued removes
// the resume. That is what makes it safe to destroy a suspended frame
// whose wake-up is already scheduled (SpawnHandle::abort, a TCPServer
// aborting its connections, loop shutdown): the queue never holds a handle
// to a destroyed frame.
//
// Cost: one add when scheduling and one compare when the awaiter goes (the
// queue numbers its entries; a ticket is an entry's number).
class ReadyTicket {
 public:
  ReadyTicket() noexcept = default;
  ReadyTicket(const ReadyTicket&) = delete;
  ReadyTicket& operator=(const ReadyTicket&) = delete;
  // Only an idle ticket moves (an awaiter before it is awaited).
  ReadyTicket(ReadyTicket&& other) noexcept : queue_(std::exchange(other.queue_, nullptr)), entry_(other.entry_) {}
  ~ReadyTicket() { cancel(); }
  // Takes the queued resume back, if it has not run yet.
  inline void cancel() noexcept;
  // A resume is queued and has not run.
  inline bool queued() const noexcept;

 private:
  friend class ReadyQueue;
  void take_back() noexcept;
  ReadyQueue* queue_ = nullptr;
  std::uint64_t entry_ = 0;  // the queue's entry number
};

class ReadyQueue {
 public:
  void push(UniqueFunction callback) { queue_.push_back(std::move(callback)); }
  // Resumes `handle` on the next turn, unless `ticket` (which the awaiter
  // owns) is destroyed or cancelled before.
  void schedule(std::coroutine_handle<> handle, ReadyTicket& ticket) {
    ticket.queue_ = this;
    ticket.entry_ = taken_ + queue_.size();
    queue_.emplace_back([handle] { handle.resume(); });
  }
  // Runs, through `run(callback)`, what was ready when called.
  template <typename Run>
  void run_turn(Run&& run) {
    for (std::size_t n = queue_.size(); n > 0 && !queue_.empty(); --n) {
      UniqueFunction callback = queue_.pop_front();
      ++taken_;
      if (callback) run(callback);  // empty: a resume taken back (ReadyTicket)
    }
  }
  bool empty() const noexcept { return queue_.empty(); }
  std::size_t size() const noexcept { return queue_.size(); }
  // Drops everything queued (loop shutdown).
  void clear() noexcept {
    taken_ += queue_.size();
    queue_.clear();
  }

 private:
  friend class ReadyTicket;
  RingQueue<UniqueFunction> queue_;
  // How many entries have left queue_ (run or cleared): entry number n is
  // queue_[n - taken_] while n >= taken_ (see ReadyTicket).
  std::uint64_t taken_ = 0;
};

// Inline: every awaiter that was ever scheduled runs this when it goes,
// and almost always its resume has run (one compare).
void ReadyTicket::cancel() noexcept {
  if (queue_ == nullptr) return;
  if (entry_ < queue_->taken_) {
    queue_ = nullptr;
    return;
  }
  take_back();
}

bool ReadyTicket::queued() const noexcept { return queue_ != nullptr && entry_ >= queue_->taken_; }

// The resume is still queued: leave an empty entry that run_turn skips.
inline void ReadyTicket::take_back() noexcept {
  ReadyQueue* queue = std::exchange(queue_, nullptr);
  std::uint64_t index = entry_ - queue->taken_;
  if (index < queue->queue_.size()) queue->queue_[static_cast<std::size_t>(index)] = nullptr;
}

}  // namespace whirl
