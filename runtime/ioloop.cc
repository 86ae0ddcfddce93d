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
  for (Root& root : roots_) {
    if (root.live) {
      root.live = false;
      ++root.generation;
      root.frame.destroy();
    }
  }
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
  ready_.push([this, index, generation] {
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
