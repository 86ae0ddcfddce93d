// Command-line flags and the signal-driven shutdown shared by the example servers:
//
//     --port N [--address A] [--processes N] [--unix PATH] [--tls-cert FILE --tls-key FILE]
//
//     ServerFlags flags = ServerFlags::parse(argc, argv, "hello_http", "[--no-access-log] [--idle-timeout S]",
//         [&](const ServerFlags& self, std::string_view arg, const std::function<const char*()>& value) {
//           if (arg == "--no-access-log") return quiet = true;
//           if (arg == "--idle-timeout") return parse_seconds(self, value()), true;
//           return false;   // unknown: usage and exit 2
//         });
#pragma once

#include <fmt/core.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "whirl/net/ssl_options.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/log.h"
#include "whirl/runtime/task.h"

namespace examples {

struct ServerFlags {
  int port = 8888;
  std::string address;
  int processes = 1;
  std::string unix_path;
  std::string tls_cert;
  std::string tls_key;
  std::string program;
  std::string extra_usage;

  [[noreturn]] void usage(std::string_view message) const {
    fmt::print(stderr,
               "{}: {}\nusage: {} --port N [--address A] [--processes N] [--unix PATH]"
               " [--tls-cert FILE --tls-key FILE] {}\n",
               program, message, program, extra_usage);
    std::exit(2);
  }

  // Runs `bind`, which opens the server's listening sockets. A port already
  // taken (std::system_error), a name that does not resolve
  // (std::runtime_error) or a unix path that is no socket or too long
  // (std::invalid_argument) ends the program with the reason and exit
  // status 1, rather than with the abort of an uncaught exception: a second
  // demo server on the same port is a common slip, not a crash.
  void bind_or_exit(const std::function<void()>& bind) const {
    try {
      bind();
    } catch (const std::exception& e) {
      fmt::print(stderr, "{}: cannot listen: {}\n", program, e.what());
      std::exit(1);
    }
  }

  std::optional<whirl::SSLOptions> ssl_options() const {
    if (tls_cert.empty()) return std::nullopt;
    whirl::SSLOptions tls;
    tls.certfile = tls_cert;
    tls.keyfile = tls_key;
    return tls;
  }

  // `extra` sees every flag this parser does not know, with the flags so
  // far (for usage()) and a function that takes the flag's value; it
  // returns false to reject the flag.
  using ExtraFlag =
      std::function<bool(const ServerFlags& flags, std::string_view arg, const std::function<const char*()>& value)>;
  static ServerFlags parse(int argc, char** argv, std::string program, std::string extra_usage = "",
                           const ExtraFlag& extra = {}) {
    ServerFlags flags;
    flags.program = std::move(program);
    flags.extra_usage = std::move(extra_usage);
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      std::function<const char*()> value = [&]() -> const char* {
        if (i + 1 >= argc) flags.usage("missing value for " + arg);
        return argv[++i];
      };
      if (arg == "--port") {
        flags.port = std::atoi(value());
      } else if (arg == "--address") {
        flags.address = value();
      } else if (arg == "--processes") {
        flags.processes = std::atoi(value());
      } else if (arg == "--unix") {
        flags.unix_path = value();
      } else if (arg == "--tls-cert") {
        flags.tls_cert = value();
      } else if (arg == "--tls-key") {
        flags.tls_key = value();
      } else if (!extra || !extra(flags, arg, value)) {
        flags.usage("unknown flag " + arg);
      }
    }
    if (flags.tls_cert.empty() != flags.tls_key.empty()) flags.usage("--tls-cert and --tls-key go together");
    return flags;
  }
};

// Runs the loop until `drain` stops it; the first SIGINT or SIGTERM starts
// `drain` (later ones are ignored, so a second Ctrl-C does not cut it short).
inline void run_until_drained(whirl::IOLoop& loop, std::function<whirl::Task<void>()> drain) {
  bool draining = false;
  auto on_signal = [&] {
    if (draining) return;
    draining = true;
    whirl::log::gen().info("signal received, draining connections");
    loop.spawn(drain());
  };
  loop.add_signal_handler(SIGINT, on_signal);
  loop.add_signal_handler(SIGTERM, on_signal);
  loop.run();
}

}  // namespace examples
