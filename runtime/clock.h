// whirl/runtime/clock.h: the loop's clock, and the handle of a timeout on it.
//
//     TimePoint deadline = IOLoop::current().time() + std::chrono::seconds(5);
//     TimeoutHandle timer = IOLoop::current().call_at(deadline, [] { ... });
//     IOLoop::current().remove_timeout(timer);
//
// Monotonic (steady_clock): a deadline is never moved by a change of the
// wall clock. Durations are std::chrono's, so `5s` and `250ms` work.
#pragma once

#include <chrono>
#include <cstdint>

namespace whirl {

using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;
using TimePoint = Clock::time_point;

// Names a scheduled timeout (IOLoop::call_later / call_at). Default: none.
struct TimeoutHandle {
  std::uint32_t slot = UINT32_MAX;
  std::uint32_t generation = 0;
  explicit operator bool() const noexcept { return slot != UINT32_MAX; }
};

}  // namespace whirl
