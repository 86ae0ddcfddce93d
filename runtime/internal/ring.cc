#include "whirl/runtime/internal/ring.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "whirl/runtime/internal/frame_pool.h"
#include "whirl/runtime/log.h"

namespace whirl {

Ring::Quarantined Ring::kQuarantined;

// ---- setup and teardown ----

Ring::Ring(unsigned sq_entries, unsigned cq_entries, Duration release_timeout) : release_timeout_(release_timeout) {
  setup(sq_entries, cq_entries);
}

void Ring::setup(unsigned sq_entries, unsigned cq_entries) {
  // Most specific first; older kernels refuse flags they do not know with
  // -EINVAL, so step down until one is accepted.
  const unsigned candidates[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      0,
  };
  int rc = -EINVAL;
  for (unsigned flags : candidates) {
    io_uring_params params{};
    params.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    params.cq_entries = cq_entries;
    rc = io_uring_queue_init_params(sq_entries, &ring_, &params);
    if (rc == 0) {
      setup_flags_ = params.flags;
      if (!(params.features & IORING_FEAT_EXT_ARG)) {
        io_uring_queue_exit(&ring_);
        throw std::runtime_error("whirl needs a kernel with IORING_FEAT_EXT_ARG (Linux 5.11 or later)");
      }
      return;
    }
    if (rc != -EINVAL) break;
  }
  throw std::system_error(-rc, std::generic_category(), "io_uring_queue_init");
}

Ring::~Ring() { io_uring_queue_exit(&ring_); }

void Ring::cancel_all_and_reap() noexcept {
  // Detach and cancel every request in flight, then reap until the kernel
  // has let go of all of them: their buffers live in frames about to go.
  for (std::uint32_t i = 0; i < slots_.capacity(); ++i) {
    if (!slots_.live(i)) continue;
    slots_[i] = nullptr;
    io_uring_prep_cancel64(get_untracked_sqe(), encode(i, slots_.generation(i)), 0);
  }
  dispatch_pending();  // only releases slots now: every target is detached
  TimePoint deadline = Clock::now() + release_timeout_;
  while (slots_.live_count() > 0 && wait_for_release(deadline)) {
    harvest();
    dispatch_pending();
  }
  if (slots_.live_count() > 0) {
    // The frames that own those requests are quarantined, never freed
    // (cancel_and_wait), since the kernel may still write into them.
    log::gen().error("IOLoop destroyed with {} operations the kernel did not release", slots_.live_count());
    release_given_up_ = true;
  }
  pre_submit_.clear();
}

// ---- the turn ----

void Ring::enter(bool block, std::optional<TimePoint> deadline) {
  std::optional<std::chrono::nanoseconds> wait;  // none: until a completion
  if (deadline) {
    wait = std::max(std::chrono::nanoseconds::zero(),
                    std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - Clock::now()));
    // A timer that is already due must not cost a trip through the kernel's
    // timer code: poll instead of waiting with a zero timeout.
    if (wait->count() == 0) block = false;
  }
  unsigned wait_nr = 1;
  if (block && min_completions_ > 1 && !last_wait_empty_) {
    wait_nr = min_completions_;
    if (!wait || *wait > max_delay_) wait = max_delay_;
  }
  int rc;
  if (!block) {
    if (!kernel_has_work()) return;
    // Submits and, with DEFER_TASKRUN, runs the completions the kernel has
    // ready, without waiting.
    rc = io_uring_submit_and_get_events(&ring_);
  } else if (wait) {
    __kernel_timespec ts{static_cast<long long>(wait->count() / 1'000'000'000),
                         static_cast<long long>(wait->count() % 1'000'000'000)};
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, wait_nr, &ts, nullptr);
  } else {
    rc = io_uring_submit_and_wait(&ring_, 1);
  }
  if (block) last_wait_empty_ = io_uring_cq_ready(&ring_) == 0;
  // -ETIME: the timer deadline came first. -EINTR: a signal. -EBUSY/-EAGAIN:
  // the completion queue is full; reaping makes room.
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
    log::gen().error("io_uring_enter failed: {}", std::strerror(-rc));
  }
}

bool Ring::kernel_has_work() const noexcept {
  // SQEs to submit, or completions the kernel holds back until we enter it:
  // deferred task work (IORING_SQ_TASKRUN, set because we ask for
  // TASKRUN_FLAG) or an overflowed CQ. Otherwise a non-blocking enter is a
  // wasted syscall: completions already posted are read from the CQ ring.
  if (io_uring_sq_ready(&ring_) > 0) return true;
  if (!(setup_flags_ & IORING_SETUP_TASKRUN_FLAG)) return true;
  unsigned flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
  return (flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
}

void Ring::harvest() {
  // Copy out, then advance: a completion handler may destroy a request and
  // reap (cancel_and_wait) while we deliver, so CQEs must not stay in the
  // kernel's ring across deliveries.
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    pending_cqes_.push_back(Cqe{cqe->user_data, cqe->res, cqe->flags});
    ++seen;
  }
  if (seen > 0) io_uring_cq_advance(&ring_, seen);
}

void Ring::dispatch_pending() {
  while (!pending_cqes_.empty()) {
    Cqe cqe = pending_cqes_.pop_front();
    deliver(cqe);
  }
}

void Ring::deliver(const Cqe& cqe) {
  if (cqe.user_data == kUntracked || !in_flight(cqe.user_data)) return;
  std::uint32_t index = index_of(cqe.user_data);
  Completion* target = slots_[index];
  // Release before delivering: the target may start its next request (and
  // may be destroyed) inside complete().
  if (!(cqe.flags & IORING_CQE_F_MORE)) release_slot(index);
  if (target != nullptr) target->complete(cqe.result, cqe.flags);
}

void Ring::submit_now() {
  run_pre_submit_hooks();
  if (io_uring_sq_ready(&ring_) == 0) return;
  // Submission only: with DEFER_TASKRUN completions are still processed at
  // the turn's own enter, so delivery order is unchanged.
  int rc = io_uring_submit(&ring_);
  if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
    log::gen().error("io_uring_enter failed: {}", std::strerror(-rc));
  }
}

// ---- slots ----

io_uring_sqe* Ring::get_sqe_slow() {
  // The submission queue is full: hand what we have to the kernel.
  io_uring_submit(&ring_);
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) throw std::runtime_error("io_uring submission queue stays full");
  return sqe;
}

void Ring::cancel_operation(std::uint64_t user_data) {
  if (!in_flight(user_data)) return;
  io_uring_prep_cancel64(get_untracked_sqe(), user_data, 0);
}

void Ring::cancel_and_wait(std::uint64_t user_data, void (*on_cqe)(void*, int, unsigned), void* context,
                           const void* owner) {
  if (!in_flight(user_data)) return;
  slots_[index_of(user_data)] = nullptr;
  cancel_operation(user_data);
  TimePoint deadline = Clock::now() + (release_given_up_ ? Duration::zero() : release_timeout_);
  for (;;) {
    // Its CQEs may already be reaped and waiting in pending_cqes_.
    for (std::size_t i = 0, n = pending_cqes_.size(); i < n; ++i) {
      Cqe& cqe = pending_cqes_[i];
      if (cqe.user_data != user_data) continue;
      if (on_cqe != nullptr) on_cqe(context, cqe.result, cqe.flags);
      if (!(cqe.flags & IORING_CQE_F_MORE)) release_slot(index_of(user_data));
      cqe.user_data = kUntracked;
    }
    if (!in_flight(user_data)) return;
    if (!wait_for_release(deadline)) break;
    harvest();
  }
  log::gen().error("io_uring request {:#x} not released {} ms after its cancel; its frame is kept until it completes",
                   user_data, std::chrono::duration_cast<std::chrono::milliseconds>(release_timeout_).count());
  quarantine(user_data, owner);
}

// One wait of at most 100 ms for completions, for code that reaps outside
// the turn (cancel_and_wait, shutdown); false once `deadline` has passed
// (or the ring fails).
bool Ring::wait_for_release(TimePoint deadline) {
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  left = std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(100));
  __kernel_timespec ts{static_cast<long long>(left.count() / 1'000'000'000),
                       static_cast<long long>(left.count() % 1'000'000'000)};
  io_uring_cqe* cqe = nullptr;
  int rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN && rc != -ETIME) {
    log::gen().error("io_uring_enter failed while cancelling: {}", std::strerror(-rc));
    return false;
  }
  return true;
}

void Ring::quarantine(std::uint64_t user_data, const void* owner) {
  slots_[index_of(user_data)] = &kQuarantined;
  if (owner != nullptr) FramePool::hold(owner, user_data);
}

void Ring::release_quarantine(std::uint32_t index) noexcept {
  FramePool::release(encode(index, slots_.generation(index)));
}

// ---- pre-submit hooks ----

void Ring::before_submit(PreSubmitHook& hook) noexcept {
  if (!hook.pending()) pre_submit_.push_back(hook);
}

void Ring::run_pre_submit_hooks() {
  // Unlinked first: run() may schedule it again.
  while (PreSubmitHook* hook = pre_submit_.pop_front()) {
    try {
      hook->run();
    } catch (const std::exception& e) {
      log::app().error("Exception in callback: {}", e.what());
    }
  }
}

}  // namespace whirl
