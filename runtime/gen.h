// whirl/runtime/gen.h: Tornado's gen module: moment, sleep, with_timeout, gather.
//
//     co_await moment();                       // let every other ready task run
//     co_await sleep(100ms);
//     auto line = co_await with_timeout(5s, stream.read_until("\n"));
//     auto [a, b] = co_await gather(fetch(x), fetch(y));
//     std::vector<int> all = co_await gather(std::move(tasks));
//
// with_timeout does better than Tornado's: when the deadline passes, the
// inner task is cancelled (its pending io_uring operation gets an
// ASYNC_CANCEL), with_timeout waits until it has actually stopped, and then
// throws TimeoutError. Nothing keeps running behind the caller's back and no
// buffer is written after with_timeout returns. If the inner work completed
// anyway (the cancel lost the race), its result is returned.
//
// gather runs its tasks concurrently under the caller's cancellation token,
// waits for all of them, and returns their results in argument order; if any
// threw, the first exception thrown (in time) is rethrown after all have
// finished. A Task<void> contributes std::monostate to a tuple.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "whirl/runtime/cancellation.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/task.h"

namespace whirl {

// ---- moment ----

class MomentAwaiter {
 public:
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiter) {
    token_ = detail::token_of(awaiter);
    if (token_ != nullptr && token_->cancelled()) return false;
    IOLoop::current().schedule(awaiter, resume_);
    return true;
  }
  void await_resume() const {
    if (token_ != nullptr && token_->cancelled()) throw CancelledError();
  }

 private:
  CancellationToken* token_ = nullptr;
  ReadyTicket resume_;
};

// Yields to every task and callback that is ready now, then continues (after
// the loop has also reaped completions once). Tornado's gen.moment.
inline MomentAwaiter moment() noexcept { return {}; }

// ---- sleep ----

class SleepAwaiter : private CancelHook {
 public:
  explicit SleepAwaiter(TimePoint deadline) noexcept : CancelHook(&SleepAwaiter::on_cancel), deadline_(deadline) {}
  SleepAwaiter(SleepAwaiter&&) noexcept = default;  // before it is awaited
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;
  ~SleepAwaiter();

  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiter) {
    return suspend(awaiter, detail::token_of(awaiter));
  }
  void await_resume() const {
    if (cancelled_) throw CancelledError();
  }

 private:
  bool suspend(std::coroutine_handle<> awaiter, CancellationToken* token);
  static void on_cancel(CancelHook* hook) noexcept;

  TimePoint deadline_;
  std::coroutine_handle<> awaiter_;
  TimeoutHandle timer_;
  IOLoop* loop_ = nullptr;
  bool cancelled_ = false;
  ReadyTicket resume_;
};

// Completes after `delay` (Tornado's gen.sleep). Cancellable.
inline SleepAwaiter sleep(Duration delay) { return SleepAwaiter(Clock::now() + delay); }
inline SleepAwaiter sleep_until(TimePoint deadline) { return SleepAwaiter(deadline); }

// ---- with_timeout ----

namespace detail {
// Cancels `scope` when the deadline passes; remembers that it did.
struct Deadline {
  Deadline(IOLoop& loop, TimePoint when, CancellationToken* scope);
  ~Deadline();
  IOLoop& loop;
  TimeoutHandle timer;
  bool fired = false;
};
}  // namespace detail

template <typename T>
Task<T> with_timeout(TimePoint deadline, Task<T> task) {
  CancellationToken* parent = co_await current_token();
  CancellationToken scope(parent);
  detail::Deadline timer(IOLoop::current(), deadline, &scope);
  try {
    co_return co_await task.under(&scope);
  } catch (const CancelledError&) {
    // Our deadline, not an outer cancellation: report it as a timeout.
    if (timer.fired && (parent == nullptr || !parent->cancelled())) throw TimeoutError();
    throw;
  }
}

template <typename T>
Task<T> with_timeout(Duration timeout, Task<T> task) {
  return with_timeout(Clock::now() + timeout, std::move(task));
}

// ---- any awaitable as a Task ----

template <typename A>
using await_result_t = decltype(std::declval<A&>().await_resume());

// Wraps an awaitable (a stream read, a sleep, a queue get …) in a Task, so
// it can be given to with_timeout, gather, spawn or run_sync.
template <typename A>
Task<await_result_t<A>> as_task(A awaitable) {
  co_return co_await awaitable;
}

template <typename A>
requires(!std::is_same_v<std::decay_t<A>, Task<await_result_t<A>>>) Task<await_result_t<A>> with_timeout(
    Duration timeout, A awaitable) {
  return with_timeout(Clock::now() + timeout, as_task(std::move(awaitable)));
}

// ---- gather ----

namespace detail {

template <typename T>
using GatherValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// Counts outstanding children; the last one to finish resumes the gatherer.
struct GatherState {
  std::size_t remaining = 0;
  std::coroutine_handle<> waiter;
  std::exception_ptr first_error;
};

// The coroutine that runs one child of a gather. Eager bookkeeping: its
// final_suspend decrements the counter and transfers to the gatherer when it
// is the last. Frames are pooled like Task frames.
class GatherChild {
 public:
  struct promise_type : PromiseBase {
    GatherState* state = nullptr;
    // Where the gatherer keeps this child's handle; cleared when the child
    // finishes, so the gatherer destroys only children still running.
    std::coroutine_handle<>* registry = nullptr;
    GatherChild get_return_object() noexcept {
      return GatherChild{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    struct Final {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> self) noexcept {
        GatherState* state = self.promise().state;
        *self.promise().registry = nullptr;
        self.destroy();
        if (--state->remaining == 0) return state->waiter;
        return std::noop_coroutine();
      }
      void await_resume() const noexcept {}
    };
    Final final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }  // the body catches everything
  };
  std::coroutine_handle<promise_type> handle;
};

template <typename T>
GatherChild gather_one(Task<T>* task, std::optional<GatherValue<T>>* out, GatherState* state) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await *task;
      out->emplace();
    } else {
      out->emplace(co_await *task);
    }
  } catch (...) {
    if (!state->first_error) state->first_error = std::current_exception();
  }
}

// Starts every child, then suspends until the last finishes. A child that
// completes synchronously never transfers back into this frame: the count
// holds one extra reference while children are being started.
class GatherAwaiter {
 public:
  explicit GatherAwaiter(std::vector<GatherChild> children, GatherState* state) : state_(state) {
    running_.reserve(children.size());
    for (GatherChild& child : children) running_.push_back(child.handle);
  }
  GatherAwaiter(const GatherAwaiter&) = delete;
  GatherAwaiter& operator=(const GatherAwaiter&) = delete;
  // Children still running here means the gathering frame is being
  // destroyed mid-wait (loop shutdown): their frames go with it.
  ~GatherAwaiter() {
    for (std::coroutine_handle<> child : running_) {
      if (child) child.destroy();
    }
  }

  bool await_ready() const noexcept { return running_.empty(); }
  template <typename Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiter) {
    CancellationToken* token = token_of(awaiter);
    state_->waiter = awaiter;
    state_->remaining = running_.size() + 1;
    for (std::coroutine_handle<>& slot : running_) {
      auto child = std::coroutine_handle<GatherChild::promise_type>::from_address(slot.address());
      child.promise().state = state_;
      child.promise().registry = &slot;
      child.promise().set_token(token);
    }
    for (std::size_t i = 0; i < running_.size(); ++i) {
      if (running_[i]) running_[i].resume();
    }
    return --state_->remaining != 0;
  }
  void await_resume() const {
    if (state_->first_error) std::rethrow_exception(state_->first_error);
  }

 private:
  std::vector<std::coroutine_handle<>> running_;
  GatherState* state_;
};

template <typename... Ts, std::size_t... I>
Task<std::tuple<GatherValue<Ts>...>> gather_pack(std::index_sequence<I...>, Task<Ts>... tasks) {
  std::tuple<std::optional<GatherValue<Ts>>...> results;
  GatherState state;
  std::vector<GatherChild> children;
  children.reserve(sizeof...(Ts));
  (children.push_back(gather_one(&tasks, &std::get<I>(results), &state)), ...);
  GatherAwaiter all(std::move(children), &state);
  co_await all;
  co_return std::tuple<GatherValue<Ts>...>(std::move(*std::get<I>(results))...);
}

}  // namespace detail

template <typename... Ts>
Task<std::tuple<detail::GatherValue<Ts>...>> gather(Task<Ts>... tasks) {
  return detail::gather_pack(std::index_sequence_for<Ts...>{}, std::move(tasks)...);
}

template <typename T>
Task<std::vector<detail::GatherValue<T>>> gather(std::vector<Task<T>> tasks) {
  std::vector<std::optional<detail::GatherValue<T>>> results(tasks.size());
  detail::GatherState state;
  std::vector<detail::GatherChild> children;
  children.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) children.push_back(detail::gather_one(&tasks[i], &results[i], &state));
  detail::GatherAwaiter all(std::move(children), &state);
  co_await all;
  std::vector<detail::GatherValue<T>> values;
  values.reserve(results.size());
  for (auto& result : results) values.push_back(std::move(*result));
  co_return values;
}

}  // namespace whirl
