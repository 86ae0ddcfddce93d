// whirl/runtime/ioloop.h: the event loop, one io_uring per thread.
//
// Tornado's IOLoop on io_uring:
//
//     IOLoop loop;                           // becomes IOLoop::current()
//     loop.spawn(serve_forever());           // detached task, errors logged
//     loop.call_later(5s, [&] { loop.stop(); });
//     loop.run();
//
//     int answer = IOLoop::current().run_sync(compute());  // rethrows
//
// One turn of run():
//   1. run the callbacks and coroutines that were ready when the turn began
//      (anything they make ready runs next turn: moment() yields to all of
//      them, the way Tornado's gen.moment does);
//   2. submit every SQE queued during the turn with ONE io_uring_enter, which
//      also waits (only when nothing is ready) until a completion (or a
//      batch of them, see set_wait_batching) or the nearest timer deadline;
//   3. reap every CQE and resume its operation's coroutine;
//   4. run the timers that are due.
// Batching submissions is the point of io_uring: nothing here submits per
// operation. The one exception is asked for explicitly: submit_now() hands
// the batch so far to the kernel mid-turn, for work whose peer would
// otherwise sit idle behind an expensive turn (a TLS handshake step).
//
// The ring asks for SINGLE_ISSUER | DEFER_TASKRUN (completions are processed
// only when this thread enters the kernel, which it does once a turn), then
// COOP_TASKRUN, then plain, as the kernel allows. A ring must not cross a
// fork(): create loops after fork_processes.
//
// Threads: an IOLoop belongs to the thread that created it. add_callback is
// the one thread-safe entry (it writes an eventfd the loop reads through the
// ring); every other member must be called on the loop's thread.
//
// Lifetime rule (docs/ARCHITECTURE.md §2): every SQE's user_data names a slot in the
// loop's operation table, not the awaiting object itself. An operation
// stays in its slot until its final CQE is reaped, so a CQE that arrives late
// (after its task was cancelled or destroyed) finds an orphaned slot and is
// dropped instead of resuming freed memory. An awaiter destroyed while its
// operation is in flight cancels it and waits for that CQE before its
// buffers go away (cancel_and_wait). Destroying the loop cancels and reaps
// every operation in flight before it destroys the tasks that own them.
#pragma once

#include <liburing.h>

#include <atomic>
#include <coroutine>
#include <csignal>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "whirl/runtime/cancellation.h"
#include "whirl/runtime/internal/ring_queue.h"
#include "whirl/runtime/internal/timer_heap.h"
#include "whirl/runtime/internal/unique_function.h"
#include "whirl/runtime/task.h"

namespace whirl {

using Callback = UniqueFunction;

// Something the kernel completes. The loop calls complete() for each CQE of
// an operation registered with IOLoop::get_sqe; for a multishot operation
// every CQE but the last has IORING_CQE_F_MORE in `flags`.
class Completion {
 public:
  virtual void complete(int result, unsigned flags) = 0;

 protected:
  ~Completion() = default;
};

class IOLoop;

// A coroutine resume queued on the loop's ready list, which the awaiter
// that queued it can take back. The ticket lives in the awaiter (so in the
// suspended frame); destroying it while the resume is still queued removes
// the resume. That is what makes it safe to destroy a suspended frame
// whose wake-up is already scheduled (SpawnHandle::abort, a TCPServer
// aborting its connections, loop shutdown): the ready list never holds a
// handle to a destroyed frame.
//
// Cost: one add when scheduling and one compare when the awaiter goes (the
// ready list numbers its entries; a ticket is an entry's number).
class ReadyTicket {
 public:
  ReadyTicket() noexcept = default;
  ReadyTicket(const ReadyTicket&) = delete;
  ReadyTicket& operator=(const ReadyTicket&) = delete;
  // Only an idle ticket moves (an awaiter before it is awaited).
  ReadyTicket(ReadyTicket&& other) noexcept : loop_(std::exchange(other.loop_, nullptr)), entry_(other.entry_) {}
  ~ReadyTicket() { cancel(); }
  // Takes the queued resume back, if it has not run yet.
  inline void cancel() noexcept;
  // A resume is queued and has not run.
  inline bool queued() const noexcept;

 private:
  friend class IOLoop;
  void take_back() noexcept;
  IOLoop* loop_ = nullptr;
  std::uint64_t entry_ = 0;  // the ready list's entry number
};

// A one-shot request to run before a turn's submit; see IOLoop::before_submit.
class PreSubmitHook {
 public:
  PreSubmitHook() noexcept = default;
  PreSubmitHook(const PreSubmitHook&) = delete;
  PreSubmitHook& operator=(const PreSubmitHook&) = delete;
  bool pending() const noexcept { return loop_ != nullptr; }
  void cancel() noexcept;

 protected:
  ~PreSubmitHook() { cancel(); }
  virtual void run() = 0;

 private:
  friend class IOLoop;
  IOLoop* loop_ = nullptr;
  PreSubmitHook* prev_ = nullptr;
  PreSubmitHook* next_ = nullptr;
};

// Refers to a task started with IOLoop::spawn. Cheap to copy; safe to use
// after the task finished (then cancel() does nothing and done() is true).
class SpawnHandle {
 public:
  SpawnHandle() = default;

  // Cancels the task: the operation or wait it is suspended on is cancelled
  // and the task sees CancelledError there (and at every later suspension).
  void cancel() const;
  // Destroys the task now, without letting it run again: its frames are
  // torn down (operations in flight are cancelled and reaped first, as at
  // loop shutdown). For owners that must not outlive-or-be-outlived by their
  // tasks, such as a TCPServer and its connections.
  void abort() const;
  bool done() const;

 private:
  friend class IOLoop;
  SpawnHandle(IOLoop* loop, std::uint32_t slot, std::uint32_t generation) noexcept
      : loop_(loop), slot_(slot), generation_(generation) {}

  IOLoop* loop_ = nullptr;
  std::uint32_t slot_ = 0;
  std::uint32_t generation_ = 0;
};

namespace detail {

// The detached coroutine that drives a spawned Task<void>. Its promise owns
// the task's root CancellationToken (a promise member has a stable address
// from the moment the coroutine is called). Frames are pooled.
class RootTask {
 public:
  struct promise_type : PromiseBase {
    promise_type() { set_token(&root_token); }
    RootTask get_return_object() noexcept { return RootTask{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }  // the body catches everything

    CancellationToken root_token;
  };
  std::coroutine_handle<promise_type> handle;
};

template <typename T>
struct SyncResult {
  std::optional<T> value;
  std::exception_ptr error;
  bool done = false;
};
template <>
struct SyncResult<void> {
  std::exception_ptr error;
  bool done = false;
};

}  // namespace detail

class IOLoop {
 public:
  struct Options {
    unsigned sq_entries = 256;
    unsigned cq_entries = 4096;
    // How long destroying an operation (cancel_and_wait) or the loop waits
    // for the kernel to let go of a cancelled request. Sockets let go at
    // once; a request the kernel cannot interrupt may not, and past this
    // bound its frame is quarantined (FramePool::hold) instead of freed.
    Duration release_timeout = std::chrono::seconds(5);
  };

  IOLoop();
  explicit IOLoop(Options options);
  IOLoop(const IOLoop&) = delete;
  IOLoop& operator=(const IOLoop&) = delete;
  ~IOLoop();

  // The loop of this thread: the most recently constructed live one, or a
  // new one owned by the thread if there is none (Tornado's IOLoop.current()).
  static IOLoop& current() {
    if (tls_current == nullptr) return create_current();
    return *tls_current;
  }
  // The current loop without creating one.
  static IOLoop* current_or_null() noexcept { return tls_current; }
  void make_current() noexcept { tls_current = this; }

  // Runs turns until stop(). Returns immediately if stop() was called before.
  void run();
  // Makes run() return after the current turn.
  void stop() noexcept { stopping_ = true; }
  bool running() const noexcept { return running_; }

  // Runs the loop until `task` completes; returns its value or rethrows its
  // exception. Throws std::runtime_error if the loop is stopped first; the
  // task is destroyed then (it never runs again).
  template <typename T>
  T run_sync(Task<T> task);

  // Schedules `callback` for the next turn. Thread-safe; from another thread
  // it wakes a loop blocked in the kernel.
  void add_callback(Callback callback);
  // Tornado's spawn_callback: add_callback, loop thread only.
  void spawn_callback(Callback callback) { ready_.push_back(std::move(callback)); }
  // Starts `task` detached on the next turn. An exception escaping it is
  // logged ("Exception in callback ..."), a CancelledError quietly.
  SpawnHandle spawn(Task<void> task);

  TimeoutHandle call_later(Duration delay, Callback callback) { return call_at(time() + delay, std::move(callback)); }
  TimeoutHandle call_at(TimePoint when, Callback callback) { return timers_.add(when, std::move(callback)); }
  // Cancels a pending timeout; false if it already ran or was removed.
  bool remove_timeout(TimeoutHandle handle) noexcept { return timers_.remove(handle); }
  // The loop's clock: monotonic.
  TimePoint time() const noexcept { return Clock::now(); }

  // Calls `handler` on the loop thread each time `signo` is delivered. The
  // signal is blocked in the calling thread and read from a signalfd through
  // the ring. Block it in other threads too (or install handlers before
  // starting threads), or the kernel may deliver it to a thread that does
  // not block it.
  void add_signal_handler(int signo, Callback handler);
  void remove_signal_handler(int signo);

  // ---- for awaitables (operation.h, gen.h, locks.h, net/) ----

  // Resumes `handle` on the next turn, unless `ticket` (which the awaiter
  // owns) is destroyed or cancelled before.
  void schedule(std::coroutine_handle<> handle, ReadyTicket& ticket) {
    ticket.loop_ = this;
    ticket.entry_ = ready_taken_ + ready_.size();
    ready_.emplace_back([handle] { handle.resume(); });
  }

  // A fresh SQE whose user_data names a new operation slot for `target`.
  // The slot's user_data is stored in `*user_data`; it is in flight until
  // its final CQE has been delivered to `target`.
  io_uring_sqe* get_sqe(Completion* target, std::uint64_t* user_data) {
    io_uring_sqe* sqe = get_untracked_sqe();
    std::uint32_t index;
    if (!free_slots_.empty()) {
      index = free_slots_.back();
      free_slots_.pop_back();
    } else {
      index = new_slot();
    }
    OpSlot& slot = slots_[index];
    slot.target = target;
    slot.busy = true;
    ++busy_slots_;
    *user_data = encode(index, slot.generation);
    io_uring_sqe_set_data64(sqe, *user_data);
    return sqe;
  }
  // An SQE whose CQE is ignored (for fire-and-forget requests).
  io_uring_sqe* get_untracked_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) sqe = get_sqe_slow();
    io_uring_sqe_set_data64(sqe, kUntracked);
    return sqe;
  }
  bool in_flight(std::uint64_t user_data) const noexcept {
    std::uint32_t index = index_of(user_data);
    return user_data != kUntracked && index < slots_.size() && slots_[index].busy &&
           slots_[index].generation == generation_of(user_data);
  }
  // Requests cancellation (IORING_OP_ASYNC_CANCEL); the operation's CQE
  // still arrives, usually with -ECANCELED, possibly with a real result.
  void cancel_operation(std::uint64_t user_data);
  // For an awaiter that is being destroyed while its operation is in flight:
  // detaches the target, cancels, and reaps until the operation's final CQE
  // (each of its CQEs goes to `on_cqe` if given). Other completions reaped
  // meanwhile are kept and delivered by the loop later.
  //
  // Bounded by Options::release_timeout: a request the kernel has not let go
  // of by then is logged (ERROR), its slot stays busy so the late CQE is
  // dropped, and the coroutine frame holding `owner` (the awaiter, whose
  // buffers live beside it) is quarantined until that CQE arrives rather
  // than freed under the kernel's feet. Buffers outside that frame are the
  // caller's to keep alive.
  void cancel_and_wait(std::uint64_t user_data, void (*on_cqe)(void* context, int result, unsigned flags) = nullptr,
                       void* context = nullptr, const void* owner = nullptr);

  // Runs `hook` once, on this turn, after the ready callbacks and just
  // before the turn's SQEs are submitted (IOStream gathers every write() of
  // a turn into one send this way). Scheduling a pending hook again is a
  // no-op; destroying it unschedules it.
  void before_submit(PreSubmitHook& hook) noexcept;

  // Ends the batch early: runs the pending pre-submit hooks and hands every
  // queued SQE to the kernel now, without waiting for completions. For code
  // that has just produced output a peer is idle waiting for and whose turn
  // may go on computing for a long time: a TLS handshake step costs hundreds
  // of microseconds, and with several handshakes in one turn the first
  // flight would otherwise leave only after the last one was computed while
  // the peer (and its core) sat idle. One extra io_uring_enter; cheap
  // work should let the turn batch as usual.
  void submit_now();

  // Completion batching, the ring's counterpart of a NIC's interrupt
  // coalescing. By default a loop with nothing to do sleeps until the first
  // completion, so a loop that is not saturated wakes once per arriving
  // packet and pays a context switch (several microseconds on a VM) for a
  // few hundred nanoseconds of work. With `min_completions` > 1 it sleeps
  // until that many completions are ready, `max_delay` has passed or the
  // next timer is due, whichever comes first, and then handles them in one
  // turn. This needs the kernel's lazy wake-up for DEFER_TASKRUN rings (Linux
  // 6.5 and later); older kernels wake on each completion as before.
  //
  // The price is latency: a completion can wait up to `max_delay` (a
  // cross-thread add_callback or a signal too). Worth it for throughput
  // work with many operations in flight, such as a load generator's closed
  // loop; wrong for a latency-bound server. A wait that brought no
  // completion at all (the delay passed, or a timer was due) makes the next
  // wait an ordinary one, so an idle loop does not tick every `max_delay`;
  // batching resumes once completions flow again.
  struct WaitBatching {
    unsigned min_completions = 1;  // 1: off
    Duration max_delay{};
  };
  void set_wait_batching(WaitBatching batching) noexcept { batching_ = batching; }

  // Per-loop state of a higher layer (net/'s provided-buffer ring): one T per
  // loop, built on first use as T(IOLoop&), destroyed with the loop after
  // every operation has been reaped and before the ring is torn down.
  struct Local {
    virtual ~Local() = default;
  };
  template <typename T>
  T& local() {
    static const char key = 0;
    for (auto& [k, value] : locals_) {
      if (k == &key) return static_cast<T&>(*value);
    }
    auto value = std::make_unique<T>(*this);
    T& ref = *value;
    locals_.emplace_back(&key, std::move(value));
    return ref;
  }

  io_uring* ring() noexcept { return &ring_; }
  unsigned setup_flags() const noexcept { return setup_flags_; }
  std::size_t operations_in_flight() const noexcept { return busy_slots_; }
  std::size_t timers_pending() const noexcept { return timers_.size(); }

 private:
  friend class SpawnHandle;
  friend class PreSubmitHook;
  friend class ReadyTicket;
  void run_pre_submit_hooks();

  struct Cqe {
    std::uint64_t user_data;
    int result;
    unsigned flags;
  };
  struct OpSlot {
    Completion* target = nullptr;
    std::uint32_t generation = 1;
    bool busy = false;
    bool quarantined = false;  // a frame waits for this slot's last CQE (cancel_and_wait)
  };
  struct Root {
    std::coroutine_handle<detail::RootTask::promise_type> frame;
    std::uint32_t generation = 1;
    bool live = false;
  };
  class Waker;
  class SignalReader;

  void setup_ring(const Options& options);
  void run_once();
  void run_ready();
  void enter_kernel(bool block);
  bool kernel_has_work() const noexcept;
  void harvest();
  void dispatch_pending();
  void deliver(const Cqe& cqe);
  void release_slot(std::uint32_t index) noexcept {
    OpSlot& slot = slots_[index];
    if (slot.quarantined) release_quarantine(index);
    slot.busy = false;
    slot.target = nullptr;
    if (++slot.generation == 0) slot.generation = 1;  // user_data 0 is kUntracked
    --busy_slots_;
    free_slots_.push_back(index);
  }
  io_uring_sqe* get_sqe_slow();
  std::uint32_t new_slot();
  void quarantine(std::uint64_t user_data, const void* owner);
  void release_quarantine(std::uint32_t index) noexcept;
  bool wait_for_release(TimePoint deadline);

  // user_data: slot generation in the high half, slot index in the low half.
  static constexpr std::uint64_t kUntracked = 0;  // CQEs nobody waits for
  static std::uint64_t encode(std::uint32_t index, std::uint32_t generation) noexcept {
    return (static_cast<std::uint64_t>(generation) << 32) | index;
  }
  static std::uint32_t index_of(std::uint64_t user_data) noexcept { return static_cast<std::uint32_t>(user_data); }
  static std::uint32_t generation_of(std::uint64_t user_data) noexcept {
    return static_cast<std::uint32_t>(user_data >> 32);
  }
  void fire_due_timers();
  void run_callback(Callback& callback) noexcept;
  void drain_cross_thread();
  void shutdown() noexcept;

  detail::RootTask run_root(Task<void> task, std::uint32_t slot);
  bool root_live(std::uint32_t slot, std::uint32_t generation) const noexcept;

  template <typename T>
  static Task<void> capture_result(Task<T> task, detail::SyncResult<T>* out, IOLoop* loop);

  static IOLoop& create_current();
  static inline thread_local IOLoop* tls_current = nullptr;

  io_uring ring_{};
  unsigned setup_flags_ = 0;
  bool running_ = false;
  bool stopping_ = false;
  bool shutting_down_ = false;
  bool release_given_up_ = false;  // shutdown waited release_timeout already
  Duration release_timeout_;
  pid_t owner_pid_;
  std::thread::id owner_thread_;
  IOLoop* previous_current_ = nullptr;

  RingQueue<Callback> ready_;
  // How many entries have left ready_ (run or cleared): entry number n is
  // ready_[n - ready_taken_] while n >= ready_taken_ (see ReadyTicket).
  std::uint64_t ready_taken_ = 0;
  PreSubmitHook* pre_submit_head_ = nullptr;
  PreSubmitHook* pre_submit_tail_ = nullptr;
  std::vector<std::pair<const void*, std::unique_ptr<Local>>> locals_;
  RingQueue<Cqe> pending_cqes_;
  TimerHeap timers_;
  WaitBatching batching_{};
  bool last_wait_empty_ = true;  // the last blocking wait brought no completion: do not batch

  std::vector<OpSlot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t busy_slots_ = 0;

  std::vector<Root> roots_;
  std::vector<std::uint32_t> free_roots_;

  // add_callback from other threads. wake_pending_ is true while an eventfd
  // write is outstanding, so a burst of callbacks costs one write.
  std::mutex cross_mutex_;
  std::vector<Callback> cross_queue_;
  std::vector<Callback> cross_batch_;
  std::atomic<bool> wake_pending_{false};
  Waker* waker_ = nullptr;

  SignalReader* signals_ = nullptr;
};

// Inline: every awaiter that was ever scheduled runs this when it goes,
// and almost always its resume has run (one compare).
void ReadyTicket::cancel() noexcept {
  if (loop_ == nullptr) return;
  if (entry_ < loop_->ready_taken_) {
    loop_ = nullptr;
    return;
  }
  take_back();
}

bool ReadyTicket::queued() const noexcept { return loop_ != nullptr && entry_ >= loop_->ready_taken_; }

template <typename T>
Task<void> IOLoop::capture_result(Task<T> task, detail::SyncResult<T>* out, IOLoop* loop) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await task;
    } else {
      out->value.emplace(co_await task);
    }
  } catch (...) {
    out->error = std::current_exception();
  }
  out->done = true;
  loop->stop();
}

template <typename T>
T IOLoop::run_sync(Task<T> task) {
  if (running_) throw std::logic_error("IOLoop::run_sync called on a running loop");
  detail::SyncResult<T> result;
  Task<void> capture = capture_result(std::move(task), &result, this);
  SpawnHandle root = spawn(std::move(capture));
  run();
  if (!result.done) {
    // The task points at `result`, which dies with this frame: it must not
    // run again (a later run() would write through the dangling pointer).
    // Its frames are torn down now, their operations cancelled and reaped.
    root.abort();
    throw std::runtime_error("IOLoop stopped before the Task passed to run_sync completed");
  }
  if (result.error) std::rethrow_exception(result.error);
  if constexpr (!std::is_void_v<T>) return std::move(*result.value);
}

}  // namespace whirl
