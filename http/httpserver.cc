#include "whirl/http/httpserver.h"

#include <sys/socket.h>

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

// Keeps the server's set of live connections in step with a handle_stream
// frame, however that frame ends.
class ConnectionRegistration {
 public:
  ConnectionRegistration(std::set<HTTP1ServerConnection*>& set, HTTP1ServerConnection* connection, Event& drained)
      : set_(set), connection_(connection), drained_(drained) {
    set_.insert(connection_);
    drained_.clear();
  }
  ~ConnectionRegistration() {
    set_.erase(connection_);
    if (set_.empty()) drained_.set();
  }
  ConnectionRegistration(const ConnectionRegistration&) = delete;
  ConnectionRegistration& operator=(const ConnectionRegistration&) = delete;

 private:
  std::set<HTTP1ServerConnection*>& set_;
  HTTP1ServerConnection* connection_;
  Event& drained_;
};

}  // namespace

HTTPServer::HTTPServer(RequestCallback callback, HTTPServerOptions options)
    : TCPServer(tcp_options(options)), options_(std::move(options)), callback_(std::move(callback)), delegate_(this) {
  drained_.set();
}

HTTPServer::HTTPServer(HTTPServerConnectionDelegate& delegate, HTTPServerOptions options)
    : TCPServer(tcp_options(options)), options_(std::move(options)), delegate_(&delegate) {
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
  HTTPRequestContext context = make_context(stream, address);
  HTTP1ServerConnection connection(stream, connection_parameters());
  connection.connection().set_context(&context);
  ConnectionRegistration registration(connections_, &connection, drained_);
  co_await connection.start_serving(*delegate_);
}

std::unique_ptr<HTTPMessageDelegate> HTTPServer::start_request(HTTPConnection& connection) {
  return std::make_unique<CallbackAdapter>(callback_, connection);
}

Task<void> HTTPServer::close_all_connections() {
  // Copy first: closing an idle connection ends its frame, which erases it.
  std::vector<HTTP1ServerConnection*> open(connections_.begin(), connections_.end());
  for (HTTP1ServerConnection* connection : open) connection->close();
  while (!connections_.empty()) co_await drained_.wait();
}

}  // namespace whirl
