#include "whirl/runtime/ioloop.h"

#include <unistd.h>

#include <memory>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/internal/cross_thread_queue.h"
#include "whirl/runtime/internal/ring.h"
#include "whirl/runtime/internal/signal_reader.h"
#include "whirl/runtime/log.h"

namespace whirl {
namespace {

thread_local std::unique_ptr<IOLoop> tls_owned;

}  // namespace

// ---- construction and teardown ----

IOLoop::IOLoop() : IOLoop(Options{}) {}

IOLoop::IOLoop(Options options)
    : ring_(std::make_unique<Ring>(options.sq_entries, options.cq_entries, options.release_timeout)),
      owner_pid_(getpid()),
      owner_thread_(std::this_thread::get_id()) {
  cross_ = std::make_unique<CrossThreadQueue>(*ring_, ready_);
  previous_current_ = tls_current;
  tls_current = this;
}

IOLoop::~IOLoop() {
  shutdown();
  // Higher layers' per-loop state next: registered buffer rings are
  // unregistered now that nothing in flight can use them. The ring last.
  while (!locals_.empty()) locals_.pop_back();
  signals_.reset();
  cross_.reset();
  if (tls_current == this) tls_current = previous_current_;
}

void IOLoop::shutdown() noexcept {
  // 1. Cancel every request in flight and reap until the kernel has let go
  //    of all of them: their buffers live in the frames destroyed below.
  ring_->cancel_all_and_reap();
  // 2. Destroy the tasks that never finished. Their frames' destructors may
  //    still talk to the loop (remove timers, leave wait lists).
  roots_.destroy_all();
  ready_.clear();
  timers_.clear();
  cross_->clear();
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
  ready_.run_turn([](Callback& callback) { run_callback(callback); });
  ring_->run_pre_submit_hooks();
  // A cancel_and_wait during this turn may have reaped other requests'
  // CQEs already: waiting for a new one would strand them until unrelated
  // I/O or a timer woke the loop.
  ring_->enter(ready_.empty() && !ring_->has_pending() && !stopping_, timers_.next_deadline());
  ring_->harvest();
  ring_->dispatch_pending();
  fire_due_timers();
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

void IOLoop::fire_due_timers() {
  TimePoint now = time();
  while (UniqueFunction callback = timers_.pop_due(now)) run_callback(callback);
}

// ---- the ring, through the facade ----

void IOLoop::submit_now() { ring_->submit_now(); }

void IOLoop::set_wait_batching(WaitBatching batching) noexcept {
  ring_->set_wait_batching(batching.min_completions, batching.max_delay);
}

unsigned IOLoop::setup_flags() const noexcept { return ring_->setup_flags(); }

std::size_t IOLoop::operations_in_flight() const noexcept { return ring_->in_flight_count(); }

// ---- callbacks, spawn, signals ----

void IOLoop::add_callback(Callback callback) {
  if (std::this_thread::get_id() == owner_thread_) {
    ready_.push(std::move(callback));
    return;
  }
  cross_->push(std::move(callback));
}

void IOLoop::add_signal_handler(int signo, Callback handler) {
  if (signals_ == nullptr) signals_ = std::make_unique<SignalReader>(*ring_, &IOLoop::run_callback);
  signals_->add(signo, std::move(handler));
}

void IOLoop::remove_signal_handler(int signo) {
  if (signals_ != nullptr) signals_->remove(signo);
}

SpawnHandle IOLoop::spawn(Task<void> task) { return SpawnHandle(&roots_, roots_.spawn(std::move(task))); }

void SpawnHandle::cancel() const {
  if (roots_ != nullptr) roots_->cancel(id_);
}

void SpawnHandle::abort() const {
  if (roots_ != nullptr) roots_->abort(id_);
}

bool SpawnHandle::done() const { return roots_ == nullptr || !roots_->live(id_); }

}  // namespace whirl
