// whirl/runtime/task.h: Task<T>, the coroutine type of whirl.
//
// Task<T> is Tornado's coroutine: a function that returns Task<T> may
// co_await, and its caller co_awaits it for the T (or the exception):
//
//     Task<std::string> read_greeting(IOStream& stream) {
//       std::string line = co_await stream.read_until("\r\n");
//       co_return line;
//     }
//     Task<void> serve(IOStream& stream) {
//       std::string greeting = co_await read_greeting(stream);
//     }
//
// Semantics and trade-offs:
//  * Lazy. Calling the function allocates the frame and runs nothing; the
//    body starts when the Task is awaited (or spawned, or run_sync'ed). A Task
//    that is never awaited is destroyed without running, so there is no
//    "fire and forget" by accident: detaching is IOLoop::spawn, explicitly.
//  * Move-only, single consumer. The awaiter owns the child frame through
//    the Task object; awaiting a Task a second time throws std::logic_error.
//  * Exceptions propagate: an exception escaping the body is captured and
//    rethrown from the awaiter's co_await.
//  * Resumption by symmetric transfer, made stack-safe. A child that
//    completes asynchronously hands control straight back to its awaiter
//    (final_suspend returns the awaiter's handle). A child that completes
//    synchronously, while the awaiter's await_suspend is still on the stack,
//    does NOT transfer: await_suspend sees the completion and returns false,
//    so the awaiter continues in its own frame. GCC at -O0 does not turn
//    symmetric transfer into a tail call (docs/ARCHITECTURE.md §2.2), and without this a
//    loop awaiting a million ready tasks grows the stack a million frames.
//  * Cancellation. A child inherits its awaiter's CancellationToken; see
//    cancellation.h.
//  * Frames come from FramePool (per-thread free lists), so a steady-state
//    loop of task calls does not allocate.
#pragma once

#include <coroutine>
#include <exception>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "whirl/runtime/cancellation.h"
#include "whirl/runtime/internal/frame_pool.h"

namespace whirl {

template <typename T = void>
class Task;

namespace detail {

// What every whirl coroutine promise has: the pooled frame allocator, the
// cancellation token, and the continuation bookkeeping described above.
class PromiseBase {
 public:
  static void* operator new(std::size_t size) { return FramePool::allocate(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { FramePool::deallocate(frame, size); }

  CancellationToken* token() const noexcept { return token_; }
  void set_token(CancellationToken* token) noexcept { token_ = token; }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      return self.promise().on_final_suspend();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  // Starts the body from the awaiter's await_suspend. Returns true when the
  // body suspended (the awaiter must suspend too), false when it already ran
  // to completion (the awaiter continues without suspending).
  bool start_inline(std::coroutine_handle<> self, std::coroutine_handle<> continuation, CancellationToken* token) {
    if (state_ != State::kIdle) throw std::logic_error("a Task was awaited twice");
    continuation_ = continuation;
    token_ = token;
    state_ = State::kRunningInline;
    self.resume();
    if (state_ == State::kCompletedInline) return false;
    state_ = State::kSuspended;
    return true;
  }

 private:
  enum class State : unsigned char { kIdle, kRunningInline, kSuspended, kCompletedInline };

  std::coroutine_handle<> on_final_suspend() noexcept {
    if (state_ == State::kRunningInline) {
      // start_inline is still on the stack: let it return false.
      state_ = State::kCompletedInline;
      return std::noop_coroutine();
    }
    if (continuation_) return continuation_;
    return std::noop_coroutine();
  }

  std::coroutine_handle<> continuation_;
  CancellationToken* token_ = nullptr;
  State state_ = State::kIdle;
};

// The token of the coroutine behind `handle`, or nullptr when it is not a
// whirl coroutine (such awaiters cannot be cancelled).
template <typename Promise>
CancellationToken* token_of(std::coroutine_handle<Promise> handle) noexcept {
  if constexpr (std::is_base_of_v<PromiseBase, Promise>) {
    return handle.promise().token();
  } else {
    return nullptr;
  }
}

template <typename T>
class TaskPromise : public PromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { error_ = std::current_exception(); }

  template <typename U>
  void return_value(U&& value) {
    ::new (static_cast<void*>(&value_)) T(std::forward<U>(value));
    has_value_ = true;
  }

  T take_result() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    if (!has_value_) throw std::logic_error("Task result already taken (a Task is awaited once)");
    has_value_ = false;
    T result = std::move(*std::launder(reinterpret_cast<T*>(&value_)));
    std::launder(reinterpret_cast<T*>(&value_))->~T();
    return result;
  }

  ~TaskPromise() {
    if (has_value_) std::launder(reinterpret_cast<T*>(&value_))->~T();
  }

 private:
  std::exception_ptr error_;
  alignas(T) unsigned char value_[sizeof(T)];
  bool has_value_ = false;
};

template <>
class TaskPromise<void> : public PromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  void return_void() noexcept { completed_ = true; }

  void take_result() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    if (!completed_) throw std::logic_error("Task result already taken (a Task is awaited once)");
    completed_ = false;
  }

 private:
  std::exception_ptr error_;
  bool completed_ = false;
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using value_type = T;

  Task() noexcept = default;
  explicit Task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { destroy(); }

  bool valid() const noexcept { return static_cast<bool>(handle_); }
  bool done() const noexcept { return handle_ && handle_.done(); }

  // Awaits the task under an explicit cancellation token instead of the
  // awaiter's (used by spawn and with_timeout).
  class Awaiter {
   public:
    Awaiter(std::coroutine_handle<promise_type> handle, CancellationToken* token, bool inherit) noexcept
        : handle_(handle), token_(token), inherit_(inherit) {}

    bool await_ready() const {
      if (!handle_) throw std::logic_error("co_await on an empty Task");
      return handle_.done();
    }
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiter) {
      CancellationToken* token = inherit_ ? detail::token_of(awaiter) : token_;
      return handle_.promise().start_inline(handle_, awaiter, token);
    }
    T await_resume() { return handle_.promise().take_result(); }

   private:
    std::coroutine_handle<promise_type> handle_;
    CancellationToken* token_;
    bool inherit_;
  };

  Awaiter operator co_await() & noexcept { return Awaiter(handle_, nullptr, true); }
  Awaiter operator co_await() && noexcept { return Awaiter(handle_, nullptr, true); }
  Awaiter under(CancellationToken* token) noexcept { return Awaiter(handle_, token, false); }

  // Starts the body now without awaiting it, for a helper that runs beside
  // its owner (WebSocketProtocol's dispatcher): it runs, under `token`,
  // until it first suspends, and later on its own; when it ends nothing is
  // resumed. The owner keeps the Task (destroying it destroys the frame,
  // wherever it is suspended), learns the end from done() or from the
  // helper itself, and then co_awaits the Task for its result, which is
  // ready at once. Cheaper than gather (no frame of its own, no child
  // wrappers); unlike spawn, not detached: the owner must outlive it.
  void start(CancellationToken* token) {
    if (!handle_) throw std::logic_error("start() on an empty Task");
    handle_.promise().start_inline(handle_, std::noop_coroutine(), token);
  }

 private:
  void destroy() noexcept {
    if (handle_) std::exchange(handle_, nullptr).destroy();
  }

  std::coroutine_handle<promise_type> handle_;
};

namespace detail {

template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}

inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

}  // namespace detail

// co_await current_token() yields the CancellationToken the awaiting task
// runs under (nullptr outside a whirl task). Does not suspend.
struct current_token {
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  bool await_suspend(std::coroutine_handle<Promise> handle) noexcept {
    token_ = detail::token_of(handle);
    return false;
  }
  CancellationToken* await_resume() const noexcept { return token_; }
  CancellationToken* token_ = nullptr;
};

}  // namespace whirl
