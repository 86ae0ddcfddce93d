#include "whirl/runtime/log.h"

#include <fmt/chrono.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace whirl::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

std::mutex& sink_mutex() {
  static std::mutex mutex;
  return mutex;
}

Sink& current_sink() {
  static Sink sink;
  return sink;
}

void write_stderr(Level level, std::string_view logger, std::string_view message) {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::string line = fmt::format("[{} {:%y%m%d %H:%M:%S} {}] {}\n", level_letter(level), local, logger, message);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

char level_letter(Level level) noexcept {
  switch (level) {
    case Level::kDebug:
      return 'D';
    case Level::kInfo:
      return 'I';
    case Level::kWarning:
      return 'W';
    case Level::kError:
      return 'E';
    case Level::kOff:
      break;
  }
  return '?';
}

Sink set_sink(Sink sink) {
  std::lock_guard lock(sink_mutex());
  Sink previous = std::move(current_sink());
  current_sink() = std::move(sink);
  return previous;
}

void set_level(Level level) noexcept { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

Level level() noexcept { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool Logger::enabled(Level level) const noexcept {
  int own = level_.load(std::memory_order_relaxed);
  int threshold = own == kInherit ? g_level.load(std::memory_order_relaxed) : own;
  return static_cast<int>(level) >= threshold;
}

void Logger::write(Level level, std::string_view message) const {
  std::lock_guard lock(sink_mutex());
  if (current_sink()) {
    current_sink()(level, name_, message);
  } else {
    write_stderr(level, name_, message);
  }
}

Logger& app() {
  static Logger logger("app");
  return logger;
}

Logger& access() {
  static Logger logger("access");
  return logger;
}

Logger& gen() {
  static Logger logger("gen");
  return logger;
}

}  // namespace whirl::log
