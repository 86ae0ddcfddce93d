// whirl/runtime/cancellation.h: how a suspended task is told to stop waiting.
//
// Every task runs under a CancellationToken. A task awaited by another
// inherits its awaiter's token; a spawned task gets a fresh one (held by its
// SpawnHandle); with_timeout runs its inner task under a child token that is
// cancelled when the deadline passes or when the parent is cancelled.
//
// Whatever a task is suspended on (an io_uring operation, a timer, a lock or
// queue wait) registers a CancelHook with the task's token while it waits.
// `cancel()` marks the token and fires every registered hook: an operation
// hook submits IORING_OP_ASYNC_CANCEL, a timer hook removes its timer, a wait
// hook leaves its wait list. The awaiter then resumes and throws
// CancelledError.
//
// Cancellation is level-triggered (like a Trio cancel scope, unlike asyncio):
// once a token is cancelled, every later suspension point under it throws
// CancelledError at once, so a task cannot accidentally swallow it and wait
// forever. A result that was already complete when cancellation arrived
// (a read that returned data, a lock that was handed over) is still
// delivered: cancellation never loses data, it stops further waiting.
//
// Tokens are single-threaded (the loop's thread); nothing here is atomic.
#pragma once

#include "whirl/runtime/internal/intrusive_list.h"

namespace whirl {

class CancellationToken;

// An intrusive list node a suspended awaiter registers with a token.
// `fire` is called once, after the hook has been unlinked; it must not
// resume the awaiting coroutine inline (schedule it on the loop instead), so
// that cancel() never runs arbitrary task code on the canceller's stack.
// Destroying a registered hook unregisters it.
struct CancelHook : ListNode<CancelHook, /*kFrontOnly=*/true> {
  using Fire = void (*)(CancelHook* self);

  explicit CancelHook(Fire fire) noexcept : fire(fire) {}
  // Awaiters are moved only before they are awaited (into a wrapping
  // coroutine's frame), never while registered: a move copies `fire` only.
  CancelHook(CancelHook&& other) noexcept : ListNode(), fire(other.fire) {}
  CancelHook(const CancelHook&) = delete;
  CancelHook& operator=(const CancelHook&) = delete;

  Fire fire;
};

class CancellationToken {
 public:
  CancellationToken() noexcept = default;
  // A child token: cancelled with `parent` (if any), or on its own.
  explicit CancellationToken(CancellationToken* parent) noexcept;
  CancellationToken(const CancellationToken&) = delete;
  CancellationToken& operator=(const CancellationToken&) = delete;
  ~CancellationToken();

  bool cancelled() const noexcept { return cancelled_; }

  // Marks the token cancelled and fires every registered hook once.
  // Idempotent.
  void cancel() noexcept;

  // Registers `hook`; if the token is already cancelled the hook fires now.
  void add(CancelHook& hook) noexcept;

 private:
  static void on_parent_cancelled(CancelHook* hook) noexcept;

  // Registered in the parent's list for a child token.
  struct ParentLink : CancelHook {
    explicit ParentLink(CancellationToken* child) noexcept
        : CancelHook(&CancellationToken::on_parent_cancelled), child(child) {}
    CancellationToken* child;
  };

  bool cancelled_ = false;
  IntrusiveList<CancelHook, CancelHook, /*kFrontOnly=*/true> hooks_;
  ParentLink parent_link_{this};  // last: leaves the parent's list first
};

// On the path of every suspension, so inline.
inline void CancellationToken::add(CancelHook& hook) noexcept {
  hook.unlink();
  if (cancelled_) {
    hook.fire(&hook);
    return;
  }
  hooks_.push_front(hook);
}

}  // namespace whirl
