// whirl/http/httpserver.h: Tornado's HTTPServer.
//
//     Task<void> handle(HTTPServerRequest& request) {
//       HTTPHeaders headers{{"Content-Type", "text/plain"}, {"Content-Length", "13"}};
//       request.connection->write_headers({"HTTP/1.1", 200, "OK"}, headers, "Hello, World!");
//       request.connection->finish();
//       co_return;
//     }
//
//     HTTPServer server(handle, {.xheaders = true});   // or HTTPServer server(application);
//     server.listen(8888);
//     IOLoop::current().run();
//
// A TCPServer whose connections run HTTP1ServerConnection's request loop.
// With a callback, each request's body is read whole (up to max_body_size)
// and its form arguments parsed before the callback runs; with a delegate
// (an Application, or any HTTPServerConnectionDelegate) the delegate sees
// the request as it arrives. Options carry Tornado's names and defaults.
//
// Stopping gracefully:
//     server.stop();                               // no new connections
//     co_await server.close_all_connections();     // idle ones close now,
//                                                  // busy ones after their response
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "whirl/http/http1connection.h"
#include "whirl/http/http_server_request.h"
#include "whirl/net/tcpserver.h"
#include "whirl/runtime/locks.h"

namespace whirl {

struct HTTPServerOptions {
  bool no_keep_alive = false;
  // Trust X-Real-Ip / X-Forwarded-For and X-Scheme / X-Forwarded-Proto.
  bool xheaders = false;
  std::vector<std::string> trusted_downstream{};
  // Overrides the scheme requests report ("http" or "https" by default).
  std::string protocol{};
  bool decompress_request = false;
  std::size_t chunk_size = 64 * 1024;
  std::size_t max_header_size = 64 * 1024;
  std::size_t max_headers = 100;
  // Timeouts (unset: none). idle_connection_timeout bounds the wait for a
  // request (and, as in Tornado, for its head), and a client that reads
  // none of its queued answers for as long. header_timeout bounds a head
  // from its first byte (nginx's client_header_timeout; Tornado has none),
  // body_timeout a whole body. final_flush_timeout bounds the last answer's
  // flush when a connection ends (on close_all_connections or its last
  // request). ssl_handshake_timeout bounds the TLS handshake (as asyncio's).
  std::optional<std::chrono::milliseconds> idle_connection_timeout = std::chrono::hours(1);
  std::optional<std::chrono::milliseconds> header_timeout = std::chrono::seconds(60);
  std::optional<std::chrono::milliseconds> body_timeout{};
  std::optional<std::chrono::milliseconds> final_flush_timeout = std::chrono::seconds(10);
  std::optional<std::chrono::milliseconds> ssl_handshake_timeout = std::chrono::seconds(60);
  std::uint64_t max_body_size = 100 * 1024 * 1024;
  // The most a connection's read buffer may hold; the server holds no more
  // than a head (max_header_size) and one chunk_size behind it.
  std::size_t max_buffer_size = 100 * 1024 * 1024;
  std::optional<SSLOptions> ssl_options{};  // https
  // Written by the server on every response whose headers lack them, as
  // nginx writes its own (Tornado's RequestHandler sets both itself; this
  // is for delegates that answer without one): `Server: <server_header>`
  // unless it is empty, and `Date: <now>` (IMF-fixdate, formatted once a
  // second) when date_header is set. A header the response sets wins. The
  // bytes are checked once, when the server is built (CR, LF or NUL in
  // server_header throws std::invalid_argument), not on every response.
  std::string server_header{};
  bool date_header = false;
};

class HTTPServer : public TCPServer, public HTTPServerConnectionDelegate {
 public:
  using RequestCallback = std::function<Task<void>(HTTPServerRequest&)>;

  explicit HTTPServer(RequestCallback callback, HTTPServerOptions options = {});
  explicit HTTPServer(HTTPServerConnectionDelegate& delegate, HTTPServerOptions options = {});
  ~HTTPServer() override;

  // Closes idle connections now and the others once their request in
  // progress is answered; completes when none is left. Call stop() first to
  // refuse new ones.
  Task<void> close_all_connections();
  std::size_t http_connections() const noexcept { return connections_.size(); }
  const HTTPServerOptions& http_options() const noexcept { return options_; }

  // The callback's delegate: buffers the body, parses it, runs the callback.
  std::unique_ptr<HTTPMessageDelegate> start_request(HTTPConnection& connection) override;

 protected:
  Task<void> handle_stream(IOStream& stream, SocketAddress address) override;
  // As handle_stream, and a request that detaches into a session of its own
  // (a WebSocket) takes the connection with it: see run_detached.
  Task<void> handle_connection(Connection& connection, SocketAddress address) override;

 private:
  HTTP1ConnectionParameters connection_parameters() const;
  HTTPRequestContext make_context(const IOStream& stream, const SocketAddress& address) const;
  // The request loop; `owner` (when the stream has one to give away) lets a
  // detached session continue as a connection task of its own.
  Task<void> serve_http(IOStream& stream, SocketAddress address, Connection* owner);

  HTTPServerOptions options_;
  RequestCallback callback_;
  HTTPServerConnectionDelegate* delegate_;
  std::set<HTTP1ServerConnection*> connections_;
  std::set<IOStream*> detached_;  // the streams of run_detached's sessions
  Event drained_;                 // set while both are empty
};

}  // namespace whirl
