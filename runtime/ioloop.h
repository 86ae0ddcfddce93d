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
// Parts (docs/ARCHITECTURE.md §2): IOLoop is the facade over a ReadyQueue
// (internal/ready_queue.h), a Ring, the submission and completion layer
// with its table of requests in flight (internal/ring.h), a TimerHeap, a
// CrossThreadQueue behind add_callback and a SignalReader behind
// add_signal_handler, and the SpawnedRoots (internal/spawned_roots.h). Code that
// submits io_uring requests reaches the Ring through ring(); the lifetime
// rule is enforced there (RingRequest). Destroying the loop cancels and
// reaps every request in flight before it destroys the tasks that own them.
#pragma once

#include <sys/types.h>

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "whirl/runtime/cancellation.h"
#include "whirl/runtime/clock.h"
#include "whirl/runtime/internal/ready_queue.h"
#include "whirl/runtime/internal/spawned_roots.h"
#include "whirl/runtime/internal/timer_heap.h"
#include "whirl/runtime/internal/unique_function.h"
#include "whirl/runtime/task.h"

namespace whirl {

using Callback = UniqueFunction;

class IOLoop;
class Ring;
class CrossThreadQueue;
class SignalReader;

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
  SpawnHandle(SpawnedRoots* roots, RootId id) noexcept : roots_(roots), id_(id) {}

  SpawnedRoots* roots_ = nullptr;
  RootId id_;
};

namespace detail {

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
  void spawn_callback(Callback callback) { ready_.push(std::move(callback)); }
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

  // ---- for awaitables and the layers above (operation.h, locks.h, net/) ----

  // Resumes `handle` on the next turn, unless `ticket` (which the awaiter
  // owns) is destroyed or cancelled before.
  void schedule(std::coroutine_handle<> handle, ReadyTicket& ticket) { ready_.schedule(handle, ticket); }

  // The submission and completion layer (internal/ring.h): requests go in
  // through a RingRequest, pre-submit hooks through before_submit.
  Ring& ring() noexcept { return *ring_; }

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
  void set_wait_batching(WaitBatching batching) noexcept;

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

  // The io_uring setup flags the kernel accepted (IORING_SETUP_*).
  unsigned setup_flags() const noexcept;
  std::size_t operations_in_flight() const noexcept;
  std::size_t timers_pending() const noexcept { return timers_.size(); }

 private:
  void run_once();
  void fire_due_timers();
  static void run_callback(Callback& callback) noexcept;
  void shutdown() noexcept;

  template <typename T>
  static Task<void> capture_result(Task<T> task, detail::SyncResult<T>* out, IOLoop* loop);

  static IOLoop& create_current();
  static inline thread_local IOLoop* tls_current = nullptr;

  // Declared first, destroyed last: every other part may still talk to
  // the ring while it goes.
  std::unique_ptr<Ring> ring_;
  bool running_ = false;
  bool stopping_ = false;
  pid_t owner_pid_;
  std::thread::id owner_thread_;
  IOLoop* previous_current_ = nullptr;

  ReadyQueue ready_;
  TimerHeap timers_;
  std::vector<std::pair<const void*, std::unique_ptr<Local>>> locals_;
  std::unique_ptr<CrossThreadQueue> cross_;
  std::unique_ptr<SignalReader> signals_;  // on first add_signal_handler

  SpawnedRoots roots_{ready_};  // after ready_, which it schedules on
};

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
