#include "whirl/runtime/ioloop.h"

#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/log.h"

namespace whirl {
namespace {

thread_local std::unique_ptr<IOLoop> tls_owned;

[[noreturn]] void throw_errno(int error, const char* what) {
  throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

// Reads the eventfd that add_callback writes from other threads. One read is
// always armed on the ring; its buffer is this object, which the loop owns
// until every operation has been reaped.
class IOLoop::Waker final : public Completion {
 public:
  explicit Waker(IOLoop* loop) : loop_(loop), fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw_errno(errno, "eventfd");
    arm();
  }
  ~Waker() { ::close(fd_); }

  void wake() noexcept {
    std::uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the loop will wake anyway.
    [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
  }

  void complete(int result, unsigned /*flags*/) override {
    if (loop_->shutting_down_) return;
    if (result < 0 && result != -EAGAIN && result != -EINTR) {
      log::gen().error("eventfd read failed: {}", std::strerror(-result));
    }
    loop_->drain_cross_thread();
    arm();
  }

 private:
  void arm() {
    io_uring_sqe* sqe = loop_->get_sqe(this, &user_data_);
    io_uring_prep_read(sqe, fd_, &counter_, sizeof counter_, 0);
  }

  IOLoop* loop_;
  int fd_;
  std::uint64_t counter_ = 0;
  std::uint64_t user_data_ = 0;
};

// Reads a signalfd for the signals given to add_signal_handler and runs their
// handlers on the loop thread.
class IOLoop::SignalReader final : public Completion {
 public:
  explicit SignalReader(IOLoop* loop) : loop_(loop) {
    sigemptyset(&mask_);
    sigemptyset(&previously_blocked_);
  }
  ~SignalReader() {
    if (fd_ >= 0) ::close(fd_);
    // Unblock what we blocked, so the process's signal behaviour is restored.
    sigset_t unblock;
    sigemptyset(&unblock);
    for (auto& [signo, handler] : handlers_) {
      if (!sigismember(&previously_blocked_, signo)) sigaddset(&unblock, signo);
      sigaction(signo, &previous_actions_[signo], nullptr);
    }
    pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
  }

  void add(int signo, Callback handler) {
    if (signo <= 0 || signo >= NSIG) throw std::invalid_argument("add_signal_handler: bad signal number");
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &one, &old);
    if (!handlers_.contains(signo)) {
      if (sigismember(&old, signo)) sigaddset(&previously_blocked_, signo);
      // An ignored signal is discarded when generated and never reaches the
      // signalfd; a shell starts background jobs with SIGINT ignored. Use
      // the default disposition (harmless: the signal stays blocked).
      struct sigaction deflt {};
      deflt.sa_handler = SIG_DFL;
      sigaction(signo, &deflt, &previous_actions_[signo]);
    }
    sigaddset(&mask_, signo);
    handlers_[signo] = std::move(handler);
    int fd = signalfd(fd_, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) throw_errno(errno, "signalfd");
    if (fd_ < 0) {
      fd_ = fd;
      arm();
    }
  }

  void remove(int signo) {
    if (handlers_.erase(signo) == 0) return;
    sigaction(signo, &previous_actions_[signo], nullptr);
    previous_actions_.erase(signo);
    sigdelset(&mask_, signo);
    if (fd_ >= 0) signalfd(fd_, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
    if (!sigismember(&previously_blocked_, signo)) {
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, signo);
      pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    }
    sigdelset(&previously_blocked_, signo);
  }

  void complete(int result, unsigned /*flags*/) override {
    armed_ = false;
    if (loop_->shutting_down_) return;
    if (result == static_cast<int>(sizeof info_)) {
      auto it = handlers_.find(static_cast<int>(info_.ssi_signo));
      if (it != handlers_.end()) loop_->run_callback(it->second);
    } else if (result < 0 && result != -EAGAIN && result != -EINTR) {
      log::gen().error("signalfd read failed: {}", std::strerror(-result));
      return;
    }
    arm();
  }

 private:
  void arm() {
    if (armed_ || fd_ < 0) return;
    io_uring_sqe* sqe = loop_->get_sqe(this, &user_data_);
    io_uring_prep_read(sqe, fd_, &info_, sizeof info_, 0);
    armed_ = true;
  }

  IOLoop* loop_;
  int fd_ = -1;
  bool armed_ = false;
  sigset_t mask_;
  sigset_t previously_blocked_;
  std::map<int, Callback> handlers_;
  std::map<int, struct sigaction> previous_actions_;
  signalfd_siginfo info_{};
  std::uint64_t user_data_ = 0;
};

// ---- construction and teardown ----

IOLoop::IOLoop() : IOLoop(Options{}) {}

IOLoop::IOLoop(Options options)
    : release_timeout_(options.release_timeout), owner_pid_(getpid()), owner_thread_(std::this_thread::get_id()) {
  setup_ring(options);
  waker_ = new Waker(this);
  previous_current_ = tls_current;
  tls_current = this;
}

void IOLoop::setup_ring(const Options& options) {
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
    params.cq_entries = options.cq_entries;
    rc = io_uring_queue_init_params(options.sq_entries, &ring_, &params);
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
  throw_errno(-rc, "io_uring_queue_init");
}

IOLoop::~IOLoop() {
  shutdown();
  // Higher layers' per-loop state last: registered buffer rings are
  // unregistered now that nothing in flight can use them.
  while (!locals_.empty()) locals_.pop_back();
  delete signals_;
  delete waker_;
  io_uring_queue_exit(&ring_);
  if (tls_current == this) tls_current = previous_current_;
}

void IOLoop::shutdown() noexcept {
  shutting_down_ = true;
  // 1. Detach and cancel every operation in flight, then reap until the
  //    kernel has let go of all of them: their buffers live in the frames
  //    destroyed below.
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].busy) continue;
    slots_[i].target = nullptr;
    io_uring_sqe* sqe = get_untracked_sqe();
    io_uring_prep_cancel64(sqe, encode(i, slots_[i].generation), 0);
  }
  dispatch_pending();  // only releases slots now: every target is detached
  TimePoint deadline = time() + release_timeout_;
  while (busy_slots_ > 0 && wait_for_release(deadline)) {
    harvest();
    dispatch_pending();
  }
  if (busy_slots_ > 0) {
    // The frames below that own those requests are quarantined, never
    // freed (cancel_and_wait), since the kernel may still write into them.
    log::gen().error("IOLoop destroyed with {} operations the kernel did not release", busy_slots_);
    release_given_up_ = true;
  }
  // 2. Destroy the tasks that never finished. Their frames' destructors may
  //    still talk to the loop (remove timers, leave wait lists).
  for (Root& root : roots_) {
    if (root.live) {
      root.live = false;
      ++root.generation;
      root.frame.destroy();
    }
  }
  ready_taken_ += ready_.size();
  ready_.clear();
  while (pre_submit_head_ != nullptr) pre_submit_head_->cancel();
  timers_.clear();
  std::lock_guard lock(cross_mutex_);
  cross_queue_.clear();
}

IOLoop& IOLoop::create_current() {
  tls_owned = std::make_unique<IOLoop>();
  return *tls_current;
}

// ---- running ----

void IOLoop::run() {
  if (running_) throw std::logic_error("IOLoop::run: already running");
  if (getpid() != owner_pid_) {
    throw std::logic_error("IOLoop used in a forked child; create loops after fork_processes");
  }
  running_ = true;
  struct Reset {
    IOLoop* loop;
    ~Reset() {
      loop->running_ = false;
      loop->stopping_ = false;
    }
  } reset{this};
  while (!stopping_) run_once();
}

void IOLoop::run_once() {
  run_ready();
  run_pre_submit_hooks();
  // A cancel_and_wait during this turn may have reaped other operations'
  // CQEs already: waiting for a new one would strand them until unrelated
  // I/O or a timer woke the loop.
  enter_kernel(ready_.empty() && pending_cqes_.empty() && !stopping_);
  harvest();
  dispatch_pending();
  fire_due_timers();
}

void IOLoop::run_ready() {
  // Only what was ready when the turn began: work made ready now runs after
  // the next reap, so I/O is never starved by a task that keeps yielding.
  for (std::size_t n = ready_.size(); n > 0 && !ready_.empty(); --n) {
    Callback callback = ready_.pop_front();
    ++ready_taken_;
    if (callback) run_callback(callback);  // empty: a resume taken back (ReadyTicket)
  }
}

// The resume is still queued: leave an empty entry that run_ready skips.
void ReadyTicket::take_back() noexcept {
  IOLoop* loop = std::exchange(loop_, nullptr);
  std::uint64_t index = entry_ - loop->ready_taken_;
  if (index < loop->ready_.size()) loop->ready_[static_cast<std::size_t>(index)] = nullptr;
}

void IOLoop::run_callback(Callback& callback) noexcept {
  try {
    callback();
  } catch (const std::exception& e) {
    log::app().error("Exception in callback: {}", e.what());
  } catch (...) {
    log::app().error("Exception in callback: unknown exception");
  }
}

void IOLoop::enter_kernel(bool block) {
  std::optional<TimePoint> deadline = timers_.next_deadline();
  std::optional<std::chrono::nanoseconds> wait;  // none: until a completion
  if (deadline) {
    wait = std::max(std::chrono::nanoseconds::zero(),
                    std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - time()));
    // A timer that is already due must not cost a trip through the kernel's
    // timer code: poll instead of waiting with a zero timeout.
    if (wait->count() == 0) block = false;
  }
  unsigned wait_nr = 1;
  if (block && batching_.min_completions > 1 && !last_wait_empty_) {
    wait_nr = batching_.min_completions;
    if (!wait || *wait > batching_.max_delay) wait = batching_.max_delay;
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
  // the completion queue is full; reaping below makes room.
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
    log::gen().error("io_uring_enter failed: {}", std::strerror(-rc));
  }
}

bool IOLoop::kernel_has_work() const noexcept {
  // SQEs to submit, or completions the kernel holds back until we enter it:
  // deferred task work (IORING_SQ_TASKRUN, set because we ask for
  // TASKRUN_FLAG) or an overflowed CQ. Otherwise a non-blocking enter is a
  // wasted syscall: completions already posted are read from the CQ ring.
  if (io_uring_sq_ready(&ring_) > 0) return true;
  if (!(setup_flags_ & IORING_SETUP_TASKRUN_FLAG)) return true;
  unsigned flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
  return (flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
}

void IOLoop::harvest() {
  // Copy out, then advance: a completion handler may destroy an operation
  // and reap (cancel_and_wait) while we deliver, so CQEs must not stay in
  // the kernel's ring across deliveries.
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    pending_cqes_.push_back(Cqe{cqe->user_data, cqe->res, cqe->flags});
    ++seen;
  }
  if (seen > 0) io_uring_cq_advance(&ring_, seen);
}

void IOLoop::dispatch_pending() {
  while (!pending_cqes_.empty()) {
    Cqe cqe = pending_cqes_.pop_front();
    deliver(cqe);
  }
}

void IOLoop::deliver(const Cqe& cqe) {
  if (cqe.user_data == kUntracked || !in_flight(cqe.user_data)) return;
  std::uint32_t index = index_of(cqe.user_data);
  Completion* target = slots_[index].target;
  // Release before delivering: the target may start its next operation (and
  // may be destroyed) inside complete().
  if (!(cqe.flags & IORING_CQE_F_MORE)) release_slot(index);
  if (target != nullptr) target->complete(cqe.result, cqe.flags);
}

void IOLoop::fire_due_timers() {
  TimePoint now = time();
  while (UniqueFunction callback = timers_.pop_due(now)) run_callback(callback);
}

// ---- operation slots ----

io_uring_sqe* IOLoop::get_sqe_slow() {
  // The submission queue is full: hand what we have to the kernel.
  io_uring_submit(&ring_);
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) throw std::runtime_error("io_uring submission queue stays full");
  return sqe;
}

std::uint32_t IOLoop::new_slot() {
  slots_.emplace_back();
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

void IOLoop::cancel_operation(std::uint64_t user_data) {
  if (!in_flight(user_data)) return;
  io_uring_sqe* sqe = get_untracked_sqe();
  io_uring_prep_cancel64(sqe, user_data, 0);
}

void IOLoop::cancel_and_wait(std::uint64_t user_data, void (*on_cqe)(void*, int, unsigned), void* context,
                             const void* owner) {
  if (!in_flight(user_data)) return;
  slots_[index_of(user_data)].target = nullptr;
  cancel_operation(user_data);
  TimePoint deadline = time() + (release_given_up_ ? Duration::zero() : release_timeout_);
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
bool IOLoop::wait_for_release(TimePoint deadline) {
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - time());
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

void IOLoop::quarantine(std::uint64_t user_data, const void* owner) {
  OpSlot& slot = slots_[index_of(user_data)];
  slot.quarantined = true;
  if (owner != nullptr) FramePool::hold(owner, user_data);
}

void IOLoop::release_quarantine(std::uint32_t index) noexcept {
  slots_[index].quarantined = false;
  FramePool::release(encode(index, slots_[index].generation));
}

// ---- pre-submit hooks ----

void IOLoop::before_submit(PreSubmitHook& hook) noexcept {
  if (hook.loop_ != nullptr) return;
  hook.loop_ = this;
  hook.prev_ = pre_submit_tail_;
  hook.next_ = nullptr;
  if (pre_submit_tail_ != nullptr) {
    pre_submit_tail_->next_ = &hook;
  } else {
    pre_submit_head_ = &hook;
  }
  pre_submit_tail_ = &hook;
}

void PreSubmitHook::cancel() noexcept {
  if (loop_ == nullptr) return;
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else {
    loop_->pre_submit_head_ = next_;
  }
  if (next_ != nullptr) {
    next_->prev_ = prev_;
  } else {
    loop_->pre_submit_tail_ = prev_;
  }
  loop_ = nullptr;
  prev_ = next_ = nullptr;
}

void IOLoop::submit_now() {
  run_pre_submit_hooks();
  if (io_uring_sq_ready(&ring_) == 0) return;
  // Submission only: with DEFER_TASKRUN completions are still processed at
  // the turn's own enter, so delivery order is unchanged.
  int rc = io_uring_submit(&ring_);
  if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
    log::gen().error("io_uring_enter failed: {}", std::strerror(-rc));
  }
}

void IOLoop::run_pre_submit_hooks() {
  while (pre_submit_head_ != nullptr) {
    PreSubmitHook* hook = pre_submit_head_;
    hook->cancel();  // unlinked first: run() may schedule it again
    try {
      hook->run();
    } catch (const std::exception& e) {
      log::app().error("Exception in callback: {}", e.what());
    }
  }
}

// ---- callbacks, spawn, signals ----

void IOLoop::add_callback(Callback callback) {
  if (std::this_thread::get_id() == owner_thread_) {
    ready_.push_back(std::move(callback));
    return;
  }
  {
    std::lock_guard lock(cross_mutex_);
    cross_queue_.push_back(std::move(callback));
  }
  // acq_rel: if we see `true`, the loop has not yet reset the flag, and its
  // reset (an RMW that reads our value or a later one) happens before it
  // takes cross_mutex_ to drain, so our callback is in that drain.
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) waker_->wake();
}

void IOLoop::drain_cross_thread() {
  wake_pending_.exchange(false, std::memory_order_acq_rel);
  {
    std::lock_guard lock(cross_mutex_);
    cross_batch_.swap(cross_queue_);
  }
  for (Callback& callback : cross_batch_) ready_.push_back(std::move(callback));
  cross_batch_.clear();
}

void IOLoop::add_signal_handler(int signo, Callback handler) {
  if (signals_ == nullptr) signals_ = new SignalReader(this);
  signals_->add(signo, std::move(handler));
}

void IOLoop::remove_signal_handler(int signo) {
  if (signals_ != nullptr) signals_->remove(signo);
}

SpawnHandle IOLoop::spawn(Task<void> task) {
  std::uint32_t index;
  if (!free_roots_.empty()) {
    index = free_roots_.back();
    free_roots_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(roots_.size());
    roots_.emplace_back();
  }
  detail::RootTask root = run_root(std::move(task), index);
  Root& slot = roots_[index];
  slot.frame = root.handle;
  slot.live = true;
  std::uint32_t generation = slot.generation;
  // Started on the next turn, unless aborted before that.
  ready_.emplace_back([this, index, generation] {
    if (root_live(index, generation)) roots_[index].frame.resume();
  });
  return SpawnHandle(this, index, generation);
}

detail::RootTask IOLoop::run_root(Task<void> task, std::uint32_t slot) {
  try {
    co_await task;
  } catch (const CancelledError&) {
    log::gen().debug("spawned task cancelled");
  } catch (const std::exception& e) {
    log::app().error("Exception in callback: {}", e.what());
  } catch (...) {
    log::app().error("Exception in callback: unknown exception");
  }
  Root& root = roots_[slot];
  root.live = false;
  ++root.generation;
  free_roots_.push_back(slot);
}

bool IOLoop::root_live(std::uint32_t slot, std::uint32_t generation) const noexcept {
  return slot < roots_.size() && roots_[slot].live && roots_[slot].generation == generation;
}

void SpawnHandle::cancel() const {
  if (loop_ != nullptr && loop_->root_live(slot_, generation_)) {
    loop_->roots_[slot_].frame.promise().root_token.cancel();
  }
}

void SpawnHandle::abort() const {
  if (loop_ == nullptr || !loop_->root_live(slot_, generation_)) return;
  IOLoop::Root& root = loop_->roots_[slot_];
  root.live = false;
  ++root.generation;
  loop_->free_roots_.push_back(slot_);
  // A root still waiting for its first turn is in the ready queue; the
  // scheduled entry must not resume a destroyed frame.
  std::coroutine_handle<> frame = root.frame;
  root.frame = {};
  frame.destroy();
}

bool SpawnHandle::done() const { return loop_ == nullptr || !loop_->root_live(slot_, generation_); }

}  // namespace whirl
