// An echo server: every byte a client sends comes back.
//
//     ./bazelw run //examples:echo_server -- --port 8888 [--address 127.0.0.1]
//                                            [--processes N] [--unix PATH]
//
// SIGINT or SIGTERM stops it gracefully: it stops accepting, lets the open
// connections finish (at most 5 seconds), and exits 0.
#include <fmt/core.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include "whirl/net/netutil.h"
#include "whirl/net/process.h"
#include "whirl/net/tcp_server.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/io_loop.h"
#include "whirl/runtime/log.h"

using namespace std::chrono_literals;

namespace {

class EchoServer : public whirl::TCPServer {
 protected:
  whirl::Task<void> handle_stream(whirl::IOStream& stream, whirl::SocketAddress) override {
    stream.set_nodelay(true);
    for (;;) {
      std::string data = co_await stream.read_bytes(64 * 1024, /*partial=*/true);
      co_await stream.write(data);
    }
  }
};

struct Flags {
  int port = 8888;
  std::string address;
  int processes = 1;
  std::string unix_path;
};

[[noreturn]] void usage(const char* message) {
  fmt::print(stderr, "echo_server: {}\nusage: echo_server --port N [--address A] [--processes N] [--unix PATH]\n",
             message);
  std::exit(2);
}

Flags parse(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + arg).c_str());
      return argv[++i];
    };
    if (arg == "--port") {
      flags.port = std::atoi(value().c_str());
    } else if (arg == "--address") {
      flags.address = value();
    } else if (arg == "--processes") {
      flags.processes = std::atoi(value().c_str());
    } else if (arg == "--unix") {
      flags.unix_path = value();
    } else {
      usage(("unknown flag " + arg).c_str());
    }
  }
  return flags;
}

// Stops accepting, waits for open connections (5 s at most), stops the loop.
whirl::Task<void> drain(EchoServer* server, whirl::IOLoop* loop) {
  server->stop();
  whirl::TimePoint deadline = loop->time() + 5s;
  while (server->open_connections() > 0 && loop->time() < deadline) co_await whirl::sleep(10ms);
  loop->stop();
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = parse(argc, argv);
  EchoServer server;
  if (flags.unix_path.empty()) {
    server.bind(flags.port, flags.address);
    fmt::print("echo server on port {}{}\n", server.addresses().front().port(),
               flags.processes != 1 ? fmt::format(", {} processes", flags.processes) : "");
  } else {
    server.add_socket(whirl::bind_unix_socket(flags.unix_path));
    fmt::print("echo server on {}\n", flags.unix_path);
  }
  std::fflush(stdout);
  if (flags.unix_path.empty()) server.start(flags.processes);

  whirl::IOLoop& loop = whirl::IOLoop::current();
  bool draining = false;
  auto on_signal = [&] {
    if (draining) return;
    draining = true;
    whirl::log::gen().info("signal received, draining {} connections", server.open_connections());
    loop.spawn(drain(&server, &loop));
  };
  loop.add_signal_handler(SIGINT, on_signal);
  loop.add_signal_handler(SIGTERM, on_signal);
  loop.run();
  return 0;
}
