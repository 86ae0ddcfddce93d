// whirl/runtime/internal/ring.h: the IOLoop's submission and completion
// layer: one io_uring, the table of requests in flight, and the hooks that
// run before a turn's submit.
//
//     Ring& ring = IOLoop::current().ring();
//     RingRequest request(target);              // a Completion
//     io_uring_prep_read(request.prepare(ring), fd, buffer, size, 0);
//     // ... the loop's turn submits it; its CQE reaches target.complete()
//
// The slot table is where the lifetime rule (ARCHITECTURE.md §2) lives: an
// SQE's user_data names a slot (generation in the high half, index in the
// low half), never the object; a slot stays busy until its request's final
// CQE is reaped; a CQE whose slot was released or reused is dropped. A
// RingRequest destroyed while in flight cancels and reaps its request here
// (cancel_and_wait) before the memory it points at goes.
//
// Everything here runs on the loop's thread. Nothing submits per request:
// the IOLoop calls enter() once a turn; submit_now() is the explicit
// exception (a TLS flight a peer is idle waiting for).
#pragma once

#include <liburing.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "whirl/runtime/clock.h"
#include "whirl/runtime/internal/intrusive_list.h"
#include "whirl/runtime/internal/ring_queue.h"
#include "whirl/runtime/internal/slot_table.h"

namespace whirl {

// Something the kernel completes: the target of a RingRequest. For a
// multishot request every CQE but the last has IORING_CQE_F_MORE in `flags`.
class Completion {
 public:
  virtual void complete(int result, unsigned flags) = 0;

 protected:
  ~Completion() = default;
};

class Ring;

// A one-shot request to run before a turn's submit; see Ring::before_submit.
class PreSubmitHook : private ListNode<PreSubmitHook> {
 public:
  PreSubmitHook() noexcept = default;
  PreSubmitHook(const PreSubmitHook&) = delete;
  PreSubmitHook& operator=(const PreSubmitHook&) = delete;
  bool pending() const noexcept { return linked(); }
  void cancel() noexcept { unlink(); }

 protected:
  ~PreSubmitHook() = default;  // the node unlinks itself
  virtual void run() = 0;

 private:
  friend class Ring;
  friend class IntrusiveList<PreSubmitHook>;
};

class Ring {
 public:
  // The sizes of the two queues, and how long a cancelled request may take
  // to let go (IOLoop::Options holds the defaults).
  Ring(unsigned sq_entries, unsigned cq_entries, Duration release_timeout);
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring();

  // ---- requests (RingRequest is the way in; these are its tools) ----

  // A fresh SQE whose user_data names a new slot for `target`, stored in
  // `*user_data`; in flight until its final CQE has been delivered.
  io_uring_sqe* get_sqe(Completion* target, std::uint64_t* user_data) {
    io_uring_sqe* sqe = get_untracked_sqe();
    std::uint32_t index = slots_.acquire();
    slots_[index] = target;
    *user_data = encode(index, slots_.generation(index));
    io_uring_sqe_set_data64(sqe, *user_data);
    return sqe;
  }
  // An SQE whose CQE is ignored (fire-and-forget requests).
  io_uring_sqe* get_untracked_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) sqe = get_sqe_slow();
    io_uring_sqe_set_data64(sqe, kUntracked);
    return sqe;
  }
  bool in_flight(std::uint64_t user_data) const noexcept {
    // kUntracked's generation, 0, is even: never a live slot's.
    return slots_.live(index_of(user_data), generation_of(user_data));
  }
  // IORING_OP_ASYNC_CANCEL; the request's CQE still arrives.
  void cancel_operation(std::uint64_t user_data);
  // Detaches the target, cancels, and reaps until the request's final CQE
  // (each of its CQEs goes to `on_cqe` if given). Other completions reaped
  // meanwhile are kept and delivered by the loop later. Bounded by
  // release_timeout: past it the request is logged (ERROR), its slot stays
  // busy so the late CQE is dropped, and the frame holding `owner` is
  // quarantined (FramePool::hold) until that CQE arrives.
  void cancel_and_wait(std::uint64_t user_data, void (*on_cqe)(void* context, int result, unsigned flags),
                       void* context, const void* owner);
  std::size_t in_flight_count() const noexcept { return slots_.live_count(); }

  // ---- the turn (IOLoop drives these) ----

  // Runs `hook` once, on this turn, just before the turn's SQEs are
  // submitted. Scheduling a pending hook again is a no-op; destroying it
  // unschedules it.
  void before_submit(PreSubmitHook& hook) noexcept;
  void run_pre_submit_hooks();
  // Ends the batch early: runs the pending hooks and hands every queued SQE
  // to the kernel now, without waiting (IOLoop::submit_now).
  void submit_now();
  // Submits the turn's SQEs; waits, when `block`, until a completion (or a
  // batch of them) or `deadline`.
  void enter(bool block, std::optional<TimePoint> deadline);
  // Copies the CQEs out of the kernel's ring (dispatch_pending delivers them).
  void harvest();
  void dispatch_pending();
  bool has_pending() const noexcept { return !pending_cqes_.empty(); }
  // Loop shutdown: cancels every request in flight and reaps until the
  // kernel has let go of all of them (or release_timeout has passed: then
  // the rest are logged and their frames stay quarantined).
  void cancel_all_and_reap() noexcept;
  // See IOLoop::set_wait_batching (min_completions 1: off).
  void set_wait_batching(unsigned min_completions, Duration max_delay) noexcept {
    min_completions_ = min_completions;
    max_delay_ = max_delay;
  }

  io_uring* native() noexcept { return &ring_; }
  unsigned setup_flags() const noexcept { return setup_flags_; }

 private:
  struct Cqe {
    std::uint64_t user_data;
    int result;
    unsigned flags;
  };
  // A slot's value is the request's target: its Completion, nullptr once
  // detached (cancel_and_wait, shutdown), or &kQuarantined while a frame is
  // held for its last CQE. A marker rather than a flag beside the pointer
  // keeps the slot 16 bytes; the marker's complete() does nothing, so
  // delivery needs no test for it.
  struct Quarantined final : Completion {
    void complete(int, unsigned) override {}
  };
  static Quarantined kQuarantined;

  void setup(unsigned sq_entries, unsigned cq_entries);
  void deliver(const Cqe& cqe);
  void release_slot(std::uint32_t index) noexcept {
    if (slots_[index] == &kQuarantined) release_quarantine(index);  // before the generation moves on
    slots_[index] = nullptr;
    slots_.release(index);
  }
  io_uring_sqe* get_sqe_slow();
  bool kernel_has_work() const noexcept;
  void quarantine(std::uint64_t user_data, const void* owner);
  void release_quarantine(std::uint32_t index) noexcept;
  bool wait_for_release(TimePoint deadline);

  static constexpr std::uint64_t kUntracked = 0;  // CQEs nobody waits for
  static std::uint64_t encode(std::uint32_t index, std::uint32_t generation) noexcept {
    return (static_cast<std::uint64_t>(generation) << 32) | index;
  }
  static std::uint32_t index_of(std::uint64_t user_data) noexcept { return static_cast<std::uint32_t>(user_data); }
  static std::uint32_t generation_of(std::uint64_t user_data) noexcept {
    return static_cast<std::uint32_t>(user_data >> 32);
  }

  io_uring ring_{};
  unsigned setup_flags_ = 0;
  Duration release_timeout_;
  bool release_given_up_ = false;  // shutdown waited release_timeout already
  RingQueue<Cqe> pending_cqes_;
  unsigned min_completions_ = 1;
  Duration max_delay_{};
  bool last_wait_empty_ = true;   // the last blocking wait brought no completion: do not batch
  SlotTable<Completion*> slots_;  // the requests in flight, by target
  IntrusiveList<PreSubmitHook> pre_submit_;
};

// One io_uring request, and the lifetime rule for it.
//
//     class Reader final : public Completion {
//       void start(int fd) {
//         io_uring_prep_read(request_.prepare(IOLoop::current().ring()), fd, buffer_, sizeof buffer_, 0);
//       }
//       void complete(int result, unsigned flags) override { ... }
//       char buffer_[4096];
//       RingRequest request_{*this};   // after the buffer: destroyed first
//     };
//
// Every request whirl submits and wants to hear back from is a RingRequest:
// a one-shot io_op (operation.h), a multishot accept, an IOStream's recv and
// send, the loop's own eventfd and signalfd reads. Destroying one that is
// still in flight cancels it and waits for its final CQE first
// (Ring::cancel_and_wait, with this object as the frame to quarantine if
// the kernel does not let go). Owners declare it after the memory the
// request points at, so that it goes first; an owner that must see the
// CQEs reaped while it waits (to recycle provided buffers, or to keep
// received bytes) calls wait_out itself.
class RingRequest {
 public:
  explicit RingRequest(Completion& target) noexcept : target_(&target) {}
  RingRequest(const RingRequest&) = delete;
  RingRequest& operator=(const RingRequest&) = delete;
  ~RingRequest() { wait_out(); }

  // The SQE of a new request on `ring` (queued; the turn submits it). At
  // most one request at a time: prepare again once the last one has ended.
  io_uring_sqe* prepare(Ring& ring) {
    ring_ = &ring;
    return ring.get_sqe(target_, &user_data_);
  }
  bool in_flight() const noexcept { return ring_ != nullptr && ring_->in_flight(user_data_); }
  // Asks the kernel to end the request (IORING_OP_ASYNC_CANCEL); its final
  // CQE still comes, usually with -ECANCELED, possibly with a real result.
  void cancel() {
    if (ring_ != nullptr) ring_->cancel_operation(user_data_);
  }
  // Cancels the request, if in flight, and reaps until its final CQE; each
  // of its CQEs reaped meanwhile goes to `on_cqe` (never to the target).
  void wait_out(void (*on_cqe)(void* context, int result, unsigned flags) = nullptr, void* context = nullptr) noexcept {
    if (!in_flight()) return;
    ring_->cancel_and_wait(user_data_, on_cqe, context, this);
    // Released, or given up on (logged, its frame quarantined): either way
    // not ours to wait for again (a second wait would log and hold twice).
    ring_ = nullptr;
  }

 private:
  Completion* target_;
  Ring* ring_ = nullptr;
  std::uint64_t user_data_ = 0;
};

}  // namespace whirl
