#include "whirl/runtime/internal/spawned_roots.h"

#include <exception>
#include <utility>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/log.h"

namespace whirl {

RootId SpawnedRoots::spawn(Task<void> task) {
  std::uint32_t slot = roots_.acquire();
  try {
    roots_[slot] = run_root(std::move(task), slot).handle;
  } catch (...) {
    roots_.release(slot);  // no frame could be had
    throw;
  }
  RootId id{slot, roots_.generation(slot)};
  // Started on the next turn, unless aborted before that: the abort makes
  // the generation stale, so this entry does not resume a destroyed frame.
  ready_.push([this, id] {
    if (live(id)) roots_[id.slot].resume();
  });
  return id;
}

SpawnedRoots::RootTask SpawnedRoots::run_root(Task<void> task, std::uint32_t slot) {
  try {
    co_await task;
  } catch (const CancelledError&) {
    log::gen().debug("spawned task cancelled");
  } catch (const std::exception& e) {
    log::app().error("Exception in callback: {}", e.what());
  } catch (...) {
    log::app().error("Exception in callback: unknown exception");
  }
  // The frame destroys itself on return (final_suspend never suspends).
  roots_[slot] = nullptr;
  roots_.release(slot);
}

void SpawnedRoots::cancel(RootId id) noexcept {
  if (live(id)) roots_[id.slot].promise().root_token.cancel();
}

void SpawnedRoots::abort(RootId id) noexcept {
  if (live(id)) destroy(id.slot);
}

void SpawnedRoots::destroy_all() noexcept {
  for (std::uint32_t slot = 0; slot < roots_.capacity(); ++slot) {
    if (roots_.live(slot)) destroy(slot);
  }
}

void SpawnedRoots::destroy(std::uint32_t slot) noexcept {
  // Released before the frame goes: its destructors may spawn or abort
  // (a TCPServer aborting its connections' roots), and must find this
  // slot already ended.
  std::coroutine_handle<> frame = std::exchange(roots_[slot], nullptr);
  roots_.release(slot);
  frame.destroy();
}

}  // namespace whirl
