#include "whirl/runtime/periodic_callback.h"

#include <random>
#include <stdexcept>

#include "whirl/runtime/log.h"

namespace whirl {
namespace {

Duration jittered(Duration period, double jitter) {
  if (jitter <= 0) return period;
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_real_distribution<double> spread(-0.5, 0.5);
  auto ticks = static_cast<double>(period.count()) * (1.0 + jitter * spread(random));
  return Duration(static_cast<Duration::rep>(ticks));
}

}  // namespace

PeriodicCallback::PeriodicCallback(UniqueFunction callback, Duration period, double jitter)
    : callback_(std::move(callback)), period_(period), jitter_(jitter) {
  if (period_ <= Duration::zero()) throw std::invalid_argument("PeriodicCallback: period must be positive");
}

void PeriodicCallback::start() {
  if (running_) return;
  running_ = true;
  loop_ = &IOLoop::current();
  next_timeout_ = loop_->time();
  schedule_next();
}

void PeriodicCallback::stop() noexcept {
  running_ = false;
  if (loop_ != nullptr) loop_->remove_timeout(timer_);
  timer_ = {};
}

void PeriodicCallback::run() {
  if (!running_) return;
  try {
    callback_();
  } catch (const std::exception& e) {
    log::app().error("Exception in callback: {}", e.what());
  } catch (...) {
    log::app().error("Exception in callback: unknown exception");
  }
  if (running_) schedule_next();
}

void PeriodicCallback::schedule_next() {
  TimePoint now = loop_->time();
  if (next_timeout_ <= now) {
    // Skip every run whose time has already passed (Tornado's
    // _update_next: floor((now - next) / period) + 1 periods ahead).
    auto behind = (now - next_timeout_) / period_;
    next_timeout_ += (behind + 1) * jittered(period_, jitter_);
  }
  PeriodicCallback* self = this;
  timer_ = loop_->call_at(next_timeout_, [self] { self->run(); });
}

}  // namespace whirl
