// whirl/runtime/internal/spawned_roots.h: the tasks IOLoop::spawn detached,
// each driven by a root coroutine that owns the task's CancellationToken.
//
//     SpawnedRoots roots(ready);
//     RootId id = roots.spawn(serve(stream));  // first resumed by `ready`
//     roots.cancel(id);                        // CancelledError at its await
//     roots.abort(id);                         // or: destroyed, now
//     roots.live(id);                          // false once it ended
//
// Ownership: a root frame destroys itself when its task returns or throws
// (final_suspend never suspends), and ends its slot on the way out; abort()
// and destroy_all() destroy the frames that have not. A RootId is (slot,
// generation) in a SlotTable, so one kept after its task ended names nothing:
// cancel and abort do nothing, live() is false. Errors a task lets out are
// logged (Tornado's "Exception in callback"), never rethrown into the loop.
//
// IOLoop::spawn wraps a RootId in the public SpawnHandle; the destruction
// order at shutdown (requests reaped before the frames that own them go) is
// IOLoop's, which calls destroy_all() after its Ring let go of every request.
#pragma once

#include <coroutine>
#include <cstdint>

#include "whirl/runtime/cancellation.h"
#include "whirl/runtime/internal/ready_queue.h"
#include "whirl/runtime/internal/slot_table.h"
#include "whirl/runtime/task.h"

namespace whirl {

struct RootId {
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;  // 0 is even: names no live root
};

class SpawnedRoots {
 public:
  explicit SpawnedRoots(ReadyQueue& ready) noexcept : ready_(ready) {}
  SpawnedRoots(const SpawnedRoots&) = delete;
  SpawnedRoots& operator=(const SpawnedRoots&) = delete;
  ~SpawnedRoots() { destroy_all(); }

  // Detaches `task`; it starts on the ready queue's next turn unless aborted
  // before that.
  RootId spawn(Task<void> task);
  bool live(RootId id) const noexcept { return roots_.live(id.slot, id.generation); }
  // Cancels the task's root token: it sees CancelledError at its await.
  void cancel(RootId id) noexcept;
  // Destroys the task's frames now, without letting it run again.
  void abort(RootId id) noexcept;
  // Destroys every root still live (the loop's shutdown).
  void destroy_all() noexcept;

 private:
  // The detached coroutine that drives a spawned Task<void>. Its promise
  // owns the task's root CancellationToken (a promise member has a stable
  // address from the moment the coroutine is called). Frames are pooled.
  struct RootTask {
    struct promise_type : detail::PromiseBase {
      promise_type() { set_token(&root_token); }
      RootTask get_return_object() noexcept {
        return RootTask{std::coroutine_handle<promise_type>::from_promise(*this)};
      }
      std::suspend_never final_suspend() noexcept { return {}; }
      void return_void() noexcept {}
      void unhandled_exception() noexcept { std::terminate(); }  // the body catches everything

      CancellationToken root_token;
    };
    std::coroutine_handle<promise_type> handle;
  };

  RootTask run_root(Task<void> task, std::uint32_t slot);
  void destroy(std::uint32_t slot) noexcept;

  ReadyQueue& ready_;
  SlotTable<std::coroutine_handle<RootTask::promise_type>> roots_;
};

}  // namespace whirl
