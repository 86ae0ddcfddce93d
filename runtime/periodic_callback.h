// whirl/runtime/periodic_callback.h: Tornado's PeriodicCallback.
//
//     PeriodicCallback stats([&] { report(); }, 1s);
//     stats.start();
//     ...
//     stats.stop();
//
// The callback runs every `period` on the current IOLoop. If a run (or the
// loop) falls behind, missed runs are skipped, not made up in a burst: the
// next run is the next multiple of `period` after now, as in Tornado.
// `jitter` (0..1) spreads each interval by ±jitter/2 of the period, to keep
// many processes' periodic work from aligning. An exception from the
// callback is logged and the schedule continues.
#pragma once

#include "whirl/runtime/clock.h"
#include "whirl/runtime/internal/unique_function.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {

class PeriodicCallback {
 public:
  PeriodicCallback(UniqueFunction callback, Duration period, double jitter = 0.0);
  PeriodicCallback(const PeriodicCallback&) = delete;
  PeriodicCallback& operator=(const PeriodicCallback&) = delete;
  ~PeriodicCallback() { stop(); }

  void start();
  void stop() noexcept;
  bool is_running() const noexcept { return running_; }

 private:
  void run();
  void schedule_next();

  UniqueFunction callback_;
  Duration period_;
  double jitter_;
  bool running_ = false;
  IOLoop* loop_ = nullptr;
  TimePoint next_timeout_{};
  TimeoutHandle timer_;
};

}  // namespace whirl
