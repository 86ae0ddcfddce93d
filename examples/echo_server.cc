// An echo server: every byte a client sends comes back.
//
//     ./bazelw run //examples:echo_server -- --port 8888 [--address 127.0.0.1]
//                                            [--processes N] [--unix PATH]
//                                            [--tls-cert FILE --tls-key FILE]
//
// With --tls-cert and --tls-key every connection speaks TLS (1.2 or 1.3):
//
//     openssl s_client -connect 127.0.0.1:8888 -quiet
//
// SIGINT or SIGTERM stops it gracefully: it stops accepting, lets the open
// connections finish (at most 5 seconds), and exits 0.
#include <fmt/core.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "examples/server_flags.h"
#include "whirl/net/netutil.h"
#include "whirl/net/process.h"
#include "whirl/net/tcpserver.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/log.h"

using namespace std::chrono_literals;

namespace {

class EchoServer : public whirl::TCPServer {
 public:
  using TCPServer::TCPServer;

 protected:
  whirl::Task<void> handle_stream(whirl::IOStream& stream, whirl::SocketAddress) override {
    stream.set_nodelay(true);
    for (;;) {
      std::string data = co_await stream.read_bytes(64 * 1024, /*partial=*/true);
      co_await stream.write(data);
    }
  }
};

whirl::TCPServer::Options server_options(const examples::ServerFlags& flags) {
  whirl::TCPServer::Options options;
  options.ssl_options = flags.ssl_options();
  return options;
}

// Stops accepting, waits for open connections (5 s at most), stops the loop.
whirl::Task<void> drain(EchoServer* server, whirl::IOLoop* loop) {
  server->stop();
  co_await server->wait_for_connections(5s);
  loop->stop();
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = examples::ServerFlags::parse(argc, argv, "echo_server");
  std::unique_ptr<EchoServer> owned;
  try {
    owned = std::make_unique<EchoServer>(server_options(flags));
  } catch (const std::invalid_argument& e) {
    flags.usage(e.what());  // a missing or mismatched certificate or key, named
  }
  EchoServer& server = *owned;
  if (flags.unix_path.empty()) {
    flags.bind_or_exit([&] { server.bind(flags.port, flags.address); });
    fmt::print("echo server on port {}{}{}\n", server.addresses().front().port(),
               flags.tls_cert.empty() ? "" : " (TLS)",
               flags.processes != 1 ? fmt::format(", {} processes", flags.processes) : "");
  } else {
    flags.bind_or_exit([&] { server.add_socket(whirl::bind_unix_socket(flags.unix_path)); });
    fmt::print("echo server on {}\n", flags.unix_path);
  }
  std::fflush(stdout);
  if (flags.unix_path.empty()) server.start(flags.processes);

  whirl::IOLoop& loop = whirl::IOLoop::current();
  examples::run_until_drained(loop, [&] { return drain(&server, &loop); });
  return 0;
}
