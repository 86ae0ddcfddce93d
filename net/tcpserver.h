// whirl/net/tcpserver.h: Tornado's TCPServer.
//
//     class EchoServer : public TCPServer {
//       Task<void> handle_stream(IOStream& stream, SocketAddress address) override {
//         for (;;) {
//           std::string data = co_await stream.read_bytes(65536, /*partial=*/true);
//           co_await stream.write(data);
//         }
//       }
//     };
//
//     EchoServer server;
//     server.listen(8888);                    // one process
//     IOLoop::current().run();
//
//     server.bind(8888);                      // or several processes:
//     server.start(0);                        // forks one child per CPU
//     IOLoop::current().run();
//
// Each accepted connection runs handle_stream as its own spawned task, so a
// slow handler never delays accepting others. The stream lives until
// handle_stream returns; then it is closed. A StreamClosedError escaping
// handle_stream is the normal end of a connection; any other exception is
// logged ("Error in connection callback") and the connection closed.
//
// With ssl_options, every connection is an SSLIOStream sharing one SSL_CTX
// (built, and the options validated, when the server is constructed);
// handle_stream may start before the handshake has completed, which its
// first read or write waits for.
//
// stop() stops accepting and closes the listening sockets; connections
// already open continue. It is idempotent. Destroying the server closes the
// connections still open (their tasks are destroyed with it, since their
// handle_stream frames point at the server). To drain gracefully:
//
//     server.stop();
//     bool drained = co_await server.wait_for_connections(30s);  // then destroy it
//
// (HTTPServer::close_all_connections also ends idle keep-alive connections,
// which only the protocol knows how to do politely.)
//
// A protocol that outlives the one that accepted the connection (a
// WebSocket after its HTTP handshake) overrides handle_connection instead,
// and moves the Connection into a task of its own (continue_connection):
// the first protocol's frames end, and an idle connection holds only what
// the second needs.
//
//     Task<void> handle_connection(Connection& connection, SocketAddress address) override {
//       co_await negotiate(connection.stream());
//       continue_connection(speak(std::move(connection)));  // Task<void> speak(Connection)
//     }
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "whirl/net/iostream.h"
#include "whirl/net/netutil.h"
#include "whirl/net/socket.h"
#include "whirl/net/ssl_options.h"
#include "whirl/runtime/locks.h"
#include "whirl/runtime/task.h"

namespace whirl {

class TCPServer {
 public:
  struct Options {
    std::size_t max_buffer_size = 100 * 1024 * 1024;
    std::size_t read_chunk_size = 64 * 1024;
    // Unlike Tornado's unbounded default: a handle_stream that writes without
    // awaiting to a peer that does not read gets StreamBufferFullError once
    // this much waits to leave, instead of growing the process. One write
    // larger than the bound into an empty queue is taken whole.
    // co_await write() for flow control. 0: unbounded.
    std::size_t max_write_buffer_size = 16 * 1024 * 1024;
    std::optional<SSLOptions> ssl_options;  // TLS on every connection
    // A connection whose TLS handshake has not completed this long after
    // accept is closed (asyncio's ssl_handshake_timeout, nginx's
    // ssl_handshake_timeout; both default to 60 s). Unset: no limit.
    std::optional<std::chrono::milliseconds> ssl_handshake_timeout = std::chrono::seconds(60);
  };

  // One accepted connection: owns its stream (closed and destroyed when
  // the Connection goes) and counts among the server's open connections
  // (open_connections, wait_for_connections) while it lives. Move-only; a
  // moved-from Connection owns nothing.
  class Connection {
   public:
    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&&) = delete;
    ~Connection();
    IOStream& stream() const noexcept { return *stream_; }

   private:
    friend class TCPServer;
    Connection(std::unique_ptr<IOStream> stream, TCPServer& server) noexcept;

    std::unique_ptr<IOStream> stream_;
    TCPServer* server_;  // null once moved from
  };

  TCPServer() : TCPServer(Options{}) {}
  explicit TCPServer(Options options);
  TCPServer(const TCPServer&) = delete;
  TCPServer& operator=(const TCPServer&) = delete;
  virtual ~TCPServer();

  // bind_sockets + add_sockets, in this process.
  void listen(int port, const std::string& address = "", int family = AF_UNSPEC, int backlog = kDefaultBacklog,
              bool reuse_port = false);
  // Starts accepting on already-listening sockets (for example from
  // bind_sockets before fork_processes).
  void add_sockets(std::vector<Socket> sockets);
  void add_socket(Socket socket);

  // bind now, accept after start(): the way to several processes.
  void bind(int port, const std::string& address = "", int family = AF_UNSPEC, int backlog = kDefaultBacklog,
            bool reuse_port = false);
  // With num_processes != 1, forks (fork_processes; <= 0 means one per CPU)
  // and every child accepts on the bound sockets. Call before any IOLoop
  // exists in this process.
  void start(int num_processes = 1, int max_restarts = 100);

  void stop();

  // Where the server listens (after listen/bind/add_sockets).
  const std::vector<SocketAddress>& addresses() const noexcept { return addresses_; }
  std::size_t open_connections() const noexcept { return open_connections_; }
  // Completes once no connection is open (every handle_stream has
  // returned): true then, false if `timeout` passed first (the connections
  // still open are left as they are). A connection accepted meanwhile does
  // not undo a completion that was already due.
  Task<bool> wait_for_connections(std::optional<Duration> timeout = std::nullopt);

 protected:
  virtual Task<void> handle_stream(IOStream& stream, SocketAddress address) = 0;
  // What each accepted connection runs: handle_stream on its stream, unless
  // overridden. An override that moves `connection` away (into a task it
  // continues with) keeps the stream open past its own return, for as long
  // as the Connection lives; otherwise the stream is closed when it returns.
  virtual Task<void> handle_connection(Connection& connection, SocketAddress address) {
    return handle_stream(connection.stream(), address);
  }
  // Runs `task` as one of this server's connection tasks: spawned, and
  // destroyed with the server (abort_connections). What escapes it is
  // logged as for any spawned task.
  void continue_connection(Task<void> task);
  // Stops accepting and destroys every connection's task now. A subclass
  // whose handle_stream frames refer to its own members calls this from its
  // destructor, before those members go.
  void abort_connections() noexcept;

 private:
  void on_connection(Socket connection, SocketAddress address);
  Task<void> serve(Socket connection, SocketAddress address);
  std::unique_ptr<IOStream> make_stream(Socket connection) const;
  IOStream::Options stream_options() const;

  Options options_;
  std::shared_ptr<const SSLContext> ssl_context_;
  std::vector<Socket> pending_sockets_;  // bound, waiting for start()
  std::vector<AcceptHandle> handlers_;
  std::vector<SpawnHandle> connections_;  // may hold finished ones; pruned as it grows
  std::size_t prune_at_ = 64;
  std::vector<SocketAddress> addresses_;
  std::size_t open_connections_ = 0;
  Event no_connections_;  // set while open_connections_ == 0
  bool stopped_ = false;
};

}  // namespace whirl
