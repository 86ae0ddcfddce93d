// Captures whirl log lines for the lifetime of the object (tests only).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "whirl/runtime/log.h"

namespace whirl::testing {

class LogCapture {
 public:
  struct Line {
    log::Level level;
    std::string logger;
    std::string message;
  };

  LogCapture() {
    previous_level_ = log::level();
    log::set_level(log::Level::kDebug);
    previous_ = log::set_sink([this](log::Level level, std::string_view logger, std::string_view message) {
      std::lock_guard lock(mutex_);
      lines_.push_back(Line{level, std::string(logger), std::string(message)});
    });
  }
  ~LogCapture() {
    log::set_sink(std::move(previous_));
    log::set_level(previous_level_);
  }

  std::vector<Line> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

  // True if some line at `level` or above contains `needle`.
  bool contains(log::Level level, const std::string& needle) const {
    std::lock_guard lock(mutex_);
    for (const Line& line : lines_) {
      if (line.level >= level && line.message.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  std::size_t count_at_least(log::Level level) const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const Line& line : lines_) n += line.level >= level ? 1 : 0;
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Line> lines_;
  log::Sink previous_;
  log::Level previous_level_;
};

}  // namespace whirl::testing
