#include "whirl/net/tcpserver.h"

#include <algorithm>
#include <utility>

#include "whirl/net/process.h"
#include "whirl/net/ssl_iostream.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/log.h"

namespace whirl {

TCPServer::TCPServer(Options options) : options_(std::move(options)) {
  no_connections_.set();
  if (options_.ssl_options) ssl_context_ = SSLContext::create(*options_.ssl_options, /*server_side=*/true);
}

TCPServer::~TCPServer() { abort_connections(); }

void TCPServer::abort_connections() noexcept {
  stop();
  for (const SpawnHandle& connection : connections_) connection.abort();
  connections_.clear();
}

void TCPServer::listen(int port, const std::string& address, int family, int backlog, bool reuse_port) {
  add_sockets(bind_sockets(port, address, family, backlog, AI_PASSIVE, reuse_port));
}

void TCPServer::add_sockets(std::vector<Socket> sockets) {
  for (Socket& socket : sockets) add_socket(std::move(socket));
}

void TCPServer::add_socket(Socket socket) {
  stopped_ = false;
  addresses_.push_back(socket.local_address());
  TCPServer* self = this;
  handlers_.push_back(add_accept_handler(std::move(socket), [self](Socket connection, SocketAddress address) {
    self->on_connection(std::move(connection), address);
  }));
}

void TCPServer::bind(int port, const std::string& address, int family, int backlog, bool reuse_port) {
  for (Socket& socket : bind_sockets(port, address, family, backlog, AI_PASSIVE, reuse_port)) {
    addresses_.push_back(socket.local_address());
    pending_sockets_.push_back(std::move(socket));
  }
}

void TCPServer::start(int num_processes, int max_restarts) {
  if (num_processes != 1) fork_processes(num_processes, max_restarts);
  std::vector<Socket> sockets = std::move(pending_sockets_);
  pending_sockets_.clear();
  addresses_.clear();
  add_sockets(std::move(sockets));
}

void TCPServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  // Removing the handlers cancels the multishot accepts; each listening
  // socket is closed once its accept has left the kernel.
  handlers_.clear();
  pending_sockets_.clear();
}

Task<bool> TCPServer::wait_for_connections(std::optional<Duration> timeout) {
  if (!timeout) {
    co_await no_connections_.wait();
    co_return true;
  }
  try {
    co_await no_connections_.wait(*timeout);
  } catch (const TimeoutError&) {
    co_return false;
  }
  co_return true;
}

IOStream::Options TCPServer::stream_options() const {
  IOStream::Options options;
  options.max_buffer_size = options_.max_buffer_size;
  options.read_chunk_size = options_.read_chunk_size;
  options.max_write_buffer_size = options_.max_write_buffer_size;
  return options;
}

void TCPServer::on_connection(Socket connection, SocketAddress address) {
  continue_connection(serve(std::move(connection), address));
}

void TCPServer::continue_connection(Task<void> task) {
  if (connections_.size() >= prune_at_) {
    std::erase_if(connections_, [](const SpawnHandle& handle) { return handle.done(); });
    prune_at_ = std::max<std::size_t>(64, connections_.size() * 2);
  }
  connections_.push_back(IOLoop::current().spawn(std::move(task)));
}

// ---- Connection ----

TCPServer::Connection::Connection(std::unique_ptr<IOStream> stream, TCPServer& server) noexcept
    : stream_(std::move(stream)), server_(&server) {
  ++server.open_connections_;
  server.no_connections_.clear();
}

TCPServer::Connection::Connection(Connection&& other) noexcept
    : stream_(std::move(other.stream_)), server_(std::exchange(other.server_, nullptr)) {}

// However its task ends (returned, thrown, destroyed by abort_connections).
TCPServer::Connection::~Connection() {
  if (server_ == nullptr) return;
  stream_->close();
  if (--server_->open_connections_ == 0) server_->no_connections_.set();
}

std::unique_ptr<IOStream> TCPServer::make_stream(Socket connection) const {
  if (!ssl_context_) return std::make_unique<IOStream>(std::move(connection), stream_options());
  auto tls = std::make_unique<SSLIOStream>(std::move(connection), ssl_context_, "", stream_options());
  // A peer that connects and says nothing (or stalls mid-handshake) must
  // not hold a connection for as long as an idle established one may.
  if (options_.ssl_handshake_timeout) {
    tls->set_handshake_deadline(IOLoop::current().time() + *options_.ssl_handshake_timeout);
  }
  return tls;
}

Task<void> TCPServer::serve(Socket socket, SocketAddress address) {
  Connection connection(make_stream(std::move(socket)), *this);
  try {
    co_await handle_connection(connection, address);
  } catch (const StreamClosedError&) {
    // The peer went away: the normal end of a connection.
  } catch (const CancelledError&) {
    throw;
  } catch (const std::exception& e) {
    log::app().error("Error in connection callback from {}: {}", address.to_string(), e.what());
  }
}

}  // namespace whirl
