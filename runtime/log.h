// whirl/runtime/log.h: named loggers on fmt, in Tornado's shape.
//
// Tornado logs through three loggers: `tornado.application` (app_log),
// `tornado.access` (access_log) and `tornado.general` (gen_log). whirl has the
// same three and any others you name:
//
//     whirl::log::app().error("Uncaught exception in {}: {}", path, e.what());
//     whirl::log::access().info("{} {} {:.2f}ms", status, uri, ms);
//     whirl::log::Logger mine("myservice");
//     mine.warning("disk {} is {}% full", disk, pct);
//
// A line looks like Tornado's LogFormatter output:
//     [W 261123 05:07:00 gen] Unsatisfiable read, closing connection
// Lines go to stderr unless a sink is installed (tests capture with one).
// Formatting happens only when the level is enabled.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

namespace whirl::log {

enum class Level : int { kDebug = 10, kInfo = 20, kWarning = 30, kError = 40, kOff = 100 };

// The single character Tornado prints for a level ("D", "I", "W", "E").
char level_letter(Level level) noexcept;

// Where formatted messages go. The default writes the Tornado-style line to
// stderr. Called under a mutex, so loggers may be used from any thread.
using Sink = std::function<void(Level level, std::string_view logger, std::string_view message)>;

// Installs `sink` (an empty function restores stderr). Returns the previous sink.
Sink set_sink(Sink sink);

// The threshold for loggers that have no level of their own (default kInfo).
void set_level(Level level) noexcept;
Level level() noexcept;

class Logger {
 public:
  explicit Logger(std::string name) : name_(std::move(name)) {}

  const std::string& name() const noexcept { return name_; }

  // A level for this logger only; kOff silences it (e.g. the access log
  // during benchmarks). `reset_level` makes it follow the global level again.
  void set_level(Level level) noexcept { level_.store(static_cast<int>(level), std::memory_order_relaxed); }
  void reset_level() noexcept { level_.store(kInherit, std::memory_order_relaxed); }

  bool enabled(Level level) const noexcept;

  void write(Level level, std::string_view message) const;

  template <typename... Args>
  void debug(fmt::format_string<Args...> format, Args&&... args) const {
    emit(Level::kDebug, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void info(fmt::format_string<Args...> format, Args&&... args) const {
    emit(Level::kInfo, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void warning(fmt::format_string<Args...> format, Args&&... args) const {
    emit(Level::kWarning, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void error(fmt::format_string<Args...> format, Args&&... args) const {
    emit(Level::kError, format, std::forward<Args>(args)...);
  }

 private:
  static constexpr int kInherit = -1;

  template <typename... Args>
  void emit(Level level, fmt::format_string<Args...> format, Args&&... args) const {
    if (!enabled(level)) return;
    write(level, fmt::vformat(format, fmt::make_format_args(args...)));
  }

  std::string name_;
  // Relaxed is enough: a level change need not order any other memory, it
  // only has to become visible eventually.
  std::atomic<int> level_{kInherit};
};

Logger& app();     // errors in application code ("Uncaught exception")
Logger& access();  // one line per HTTP request
Logger& gen();     // everything else: the loop, streams, servers

}  // namespace whirl::log
