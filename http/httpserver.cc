#include "whirl/http/httpserver.h"

#include <sys/socket.h>

#include <stdexcept>
#include <string_view>
#include <utility>

#include "whirl/net/ssl_iostream.h"
#include "whirl/runtime/log.h"

namespace whirl {

namespace {

// The most a connection's read buffer needs: the longest thing the HTTP
// layer waits for whole is a request head (max_header_size) or a chunked
// trailer section (64 KiB), and one read chunk may arrive behind it. Bodies
// pass through in chunk_size pieces. IOStream's own 100 MiB default is for
// readers that collect whole messages (read_until), which HTTP does not.
std::size_t read_buffer_bound(const HTTPServerOptions& options) {
  std::size_t whole = std::max<std::size_t>(options.max_header_size, ChunkedDecoder::Limits{}.max_trailer_size);
  return std::min(options.max_buffer_size, whole + options.chunk_size);
}

TCPServer::Options tcp_options(const HTTPServerOptions& options) {
  TCPServer::Options tcp;
  tcp.max_buffer_size = read_buffer_bound(options);
  tcp.read_chunk_size = std::min(options.chunk_size, options.max_buffer_size);
  // One response may be large (a body written whole); the request loop
  // bounds what piles up behind it (kMaxQueuedResponseBytes).
  tcp.max_write_buffer_size = 0;
  tcp.ssl_options = options.ssl_options;
  tcp.ssl_handshake_timeout = options.ssl_handshake_timeout;
  return tcp;
}

// The options as the server keeps them. server_header is written as bytes
// on every response without a check of its own, so it is checked here: a
// CR or LF in it would let whoever configures the server split responses.
HTTPServerOptions checked(HTTPServerOptions options) {
  if (options.server_header.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    throw std::invalid_argument("HTTPServerOptions: server_header holds a CR, LF or NUL");
  }
  return options;
}

// Tornado's _CallableAdapter: collects the body, then calls back.
class CallbackAdapter final : public HTTPMessageDelegate {
 public:
  CallbackAdapter(const HTTPServer::RequestCallback& callback, HTTPConnection& connection)
      : callback_(callback), connection_(connection) {}

  Task<void> headers_received(const RequestStartLine& start_line, const HTTPHeaders& headers) override {
    request_.emplace(&connection_, start_line, headers);
    co_return;
  }

  Task<void> data_received(std::string_view chunk) override {
    request_->body.append(chunk);
    co_return;
  }

  Task<void> finish() override {
    try {
      request_->parse_body();
    } catch (const HTTPInputError& e) {
      // Tornado logs a bad form and goes on; the arguments stay unparsed.
      log::gen().warning("Invalid request body from {}: {}", request_->remote_ip, e.what());
    }
    co_await callback_(*request_);
  }

 private:
  const HTTPServer::RequestCallback& callback_;
  HTTPConnection& connection_;
  std::optional<HTTPServerRequest> request_;
};

// Keeps one of the server's sets of live connections in step with a
// connection's frame, however that frame ends. The server is drained when
// both sets are empty.
template <typename T>
class ConnectionRegistration {
 public:
  ConnectionRegistration(std::set<T*>& set, T* connection, const std::set<HTTP1ServerConnection*>& http,
                         const std::set<IOStream*>& detached, Event& drained)
      : set_(set), connection_(connection), http_(http), detached_(detached), drained_(drained) {
    set_.insert(connection_);
    drained_.clear();
  }
  // Moves with a connection handed over to a task of its own, so the
  // server never looks drained in between.
  ConnectionRegistration(ConnectionRegistration&& other) noexcept
      : set_(other.set_),
        connection_(std::exchange(other.connection_, nullptr)),
        http_(other.http_),
        detached_(other.detached_),
        drained_(other.drained_) {}
  ~ConnectionRegistration() {
    if (connection_ == nullptr) return;
    set_.erase(connection_);
    if (http_.empty() && detached_.empty()) drained_.set();
  }
  ConnectionRegistration(const ConnectionRegistration&) = delete;
  ConnectionRegistration& operator=(const ConnectionRegistration&) = delete;

 private:
  std::set<T*>& set_;
  T* connection_;
  const std::set<HTTP1ServerConnection*>& http_;
  const std::set<IOStream*>& detached_;
  Event& drained_;
};

using DetachedRegistration = ConnectionRegistration<IOStream>;

// A request's session after detach(session), as a connection of its own,
// and what it keeps alive. Members go last to first: the
// registration, the session's frames and the request's delegate (the
// Takeover's own order), and the stream last, since all of them use it.
struct DetachedSession {
  TCPServer::Connection connection;
  HTTP1ServerConnection::Takeover takeover;
  DetachedRegistration registration;
};

Task<void> run_detached(DetachedSession detached) {
  try {
    co_await detached.takeover.session;
  } catch (const StreamClosedError&) {
    // The peer went away, or close_all_connections: the normal end.
  }
}

}  // namespace

HTTPServer::HTTPServer(RequestCallback callback, HTTPServerOptions options)
    : TCPServer(tcp_options(options)),
      options_(checked(std::move(options))),
      callback_(std::move(callback)),
      delegate_(this) {
  drained_.set();
}

HTTPServer::HTTPServer(HTTPServerConnectionDelegate& delegate, HTTPServerOptions options)
    : TCPServer(tcp_options(options)), options_(checked(std::move(options))), delegate_(&delegate) {
  drained_.set();
}

// The connection frames hold registrations in connections_: end them while
// it still exists (~TCPServer would run after it is gone).
HTTPServer::~HTTPServer() { abort_connections(); }

HTTP1ConnectionParameters HTTPServer::connection_parameters() const {
  HTTP1ConnectionParameters params;
  params.no_keep_alive = options_.no_keep_alive;
  params.chunk_size = options_.chunk_size;
  params.max_header_size = options_.max_header_size;
  params.max_headers = options_.max_headers;
  params.max_body_size = options_.max_body_size;
  params.idle_timeout = options_.idle_connection_timeout;
  params.header_timeout = options_.header_timeout;
  params.body_timeout = options_.body_timeout;
  params.final_flush_timeout = options_.final_flush_timeout;
  params.decompress = options_.decompress_request;
  params.server_header = options_.server_header;  // options_ outlives every connection
  params.date_header = options_.date_header;
  return params;
}

HTTPRequestContext HTTPServer::make_context(const IOStream& stream, const SocketAddress& address) const {
  HTTPRequestContext context;
  // A unix socket has no IP; Tornado reports 0.0.0.0 so that code which
  // expects an address keeps working.
  context.remote_ip = address.family() == AF_INET || address.family() == AF_INET6 ? address.ip() : "0.0.0.0";
  if (!options_.protocol.empty()) {
    context.protocol = options_.protocol;
  } else {
    context.protocol = dynamic_cast<const SSLIOStream*>(&stream) != nullptr ? "https" : "http";
  }
  context.xheaders = options_.xheaders;
  context.trusted_downstream = options_.trusted_downstream;
  return context;
}

Task<void> HTTPServer::handle_stream(IOStream& stream, SocketAddress address) {
  return serve_http(stream, address, nullptr);
}

Task<void> HTTPServer::handle_connection(Connection& connection, SocketAddress address) {
  return serve_http(connection.stream(), address, &connection);
}

Task<void> HTTPServer::serve_http(IOStream& stream, SocketAddress address, Connection* owner) {
  HTTPRequestContext context = make_context(stream, address);
  HTTP1ServerConnection connection(stream, connection_parameters());
  connection.connection().set_context(&context);
  if (owner != nullptr) {
    // A WebSocket (or another protocol a handler detaches into) continues
    // in a task of its own: this frame, the request loop's and the
    // request's handler chain end, and an idle session holds only its own.
    connection.set_hand_over([this, owner](HTTP1ServerConnection::Takeover takeover) {
      DetachedRegistration registration(detached_, &owner->stream(), connections_, detached_, drained_);
      continue_connection(
          run_detached(DetachedSession{std::move(*owner), std::move(takeover), std::move(registration)}));
    });
  }
  ConnectionRegistration registration(connections_, &connection, connections_, detached_, drained_);
  co_await connection.start_serving(*delegate_);
}

std::unique_ptr<HTTPMessageDelegate> HTTPServer::start_request(HTTPConnection& connection) {
  return std::make_unique<CallbackAdapter>(callback_, connection);
}

Task<void> HTTPServer::close_all_connections() {
  // Copy first: closing an idle connection ends its frame, which erases it.
  std::vector<HTTP1ServerConnection*> open(connections_.begin(), connections_.end());
  for (HTTP1ServerConnection* connection : open) connection->close();
  // A detached protocol cannot be ended politely from here: its session
  // sees StreamClosedError.
  std::vector<IOStream*> detached(detached_.begin(), detached_.end());
  for (IOStream* stream : detached) stream->close();
  while (!connections_.empty() || !detached_.empty()) co_await drained_.wait();
}

}  // namespace whirl
