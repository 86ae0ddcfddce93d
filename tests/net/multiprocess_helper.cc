// A server for process_test: run as
//   multiprocess_helper MODE PORT N
// with MODE one of Tornado's three multi-process set-ups:
//   start      TCPServer::bind + start(N)
//   fork       bind_sockets + fork_processes(N) + add_sockets
//   reuse_port fork_processes(N), then listen(reuse_port) in every child
//   stubborn   as start, but the children ignore SIGTERM and the parent's
//              shutdown_timeout is 500 ms (it has to kill them)
// Each connection is answered "<task id> <pid>\n"; then the line the client
// sends decides: "crash" aborts the child, "exit" makes it exit cleanly.
// A sequential client meets every child: connections to a shared socket are
// spread across them (see AcceptStream in net/netutil.cc).
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>

#include "whirl/net/netutil.h"
#include "whirl/net/process.h"
#include "whirl/net/tcpserver.h"

namespace {

class IdServer : public whirl::TCPServer {
 protected:
  whirl::Task<void> handle_stream(whirl::IOStream& stream, whirl::SocketAddress) override {
    co_await stream.write(std::to_string(*whirl::task_id()) + " " + std::to_string(getpid()) + "\n");
    std::string command = co_await stream.read_until("\n");
    if (command == "crash\n") std::abort();
    if (command == "exit\n") whirl::IOLoop::current().stop();
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  std::string mode = argv[1];
  int port = std::atoi(argv[2]);
  int n = std::atoi(argv[3]);
  IdServer server;
  if (mode == "start") {
    server.bind(port, "127.0.0.1");
    server.start(n);
  } else if (mode == "fork") {
    std::vector<whirl::Socket> sockets = whirl::bind_sockets(port, "127.0.0.1");
    whirl::fork_processes(n);
    server.add_sockets(std::move(sockets));
  } else if (mode == "stubborn") {
    std::vector<whirl::Socket> sockets = whirl::bind_sockets(port, "127.0.0.1");
    whirl::fork_processes(n, whirl::ForkOptions{.shutdown_timeout = std::chrono::milliseconds(500)});
    std::signal(SIGTERM, SIG_IGN);
    server.add_sockets(std::move(sockets));
  } else if (mode == "reuse_port") {
    whirl::fork_processes(n);
    server.listen(port, "127.0.0.1", AF_INET, whirl::kDefaultBacklog, /*reuse_port=*/true);
  } else {
    return 2;
  }
  whirl::IOLoop::current().run();
  return 0;
}
