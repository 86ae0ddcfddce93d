// whirl/http/http_connection.h: the seam between a wire protocol and request handling.
//
// Tornado's httputil.HTTPConnection, HTTPMessageDelegate and
// HTTPServerConnectionDelegate. A protocol implementation (HTTP1Connection
// today; an HTTP/2 stream can be another) parses requests into an
// HTTPMessageDelegate and takes the response through HTTPConnection.
// Everything above it (HTTPServerRequest, Application, RequestHandler) talks
// only to these three types, never to a protocol:
//
//     class Hello : public HTTPMessageDelegate {
//      public:
//       explicit Hello(HTTPConnection& connection) : connection_(connection) {}
//       Task<void> headers_received(const RequestStartLine&, const HTTPHeaders&) override { co_return; }
//       Task<void> data_received(std::string_view) override { co_return; }
//       Task<void> finish() override {
//         HTTPHeaders headers{{"Content-Type", "text/plain"}, {"Content-Length", "13"}};
//         connection_.write_headers({"HTTP/1.1", 200, "OK"}, headers, "Hello, World!");
//         connection_.finish();
//         co_return;
//       }
//      private:
//       HTTPConnection& connection_;
//     };
//     class HelloApp : public HTTPServerConnectionDelegate {
//       std::unique_ptr<HTTPMessageDelegate> start_request(HTTPConnection& c) override {
//         return std::make_unique<Hello>(c);
//       }
//     };
//
// One request's life on a connection: headers_received, data_received for
// each piece of the body (the protocol waits while the returned task runs:
// that is flow control), finish(). The response goes out through
// write_headers, write and finish, from the delegate's finish() or later.
// The protocol frames it (Content-Length, chunked, or its own frames) and
// decides whether the connection carries another request.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "whirl/http/http_headers.h"
#include "whirl/http/httputil.h"
#include "whirl/net/iostream.h"
#include "whirl/runtime/task.h"

namespace whirl {

// Writing past or finishing short of a declared Content-Length, or a body on
// a response that cannot have one. The connection is closed.
class HTTPOutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Who is on the other end, as the server saw it (Tornado's
// _HTTPRequestContext); HTTPServerRequest applies xheaders on top.
struct HTTPRequestContext {
  std::string remote_ip;  // "0.0.0.0" for unix sockets
  std::string protocol = "http";
  bool xheaders = false;
  std::vector<std::string> trusted_downstream;
};

// Tornado's HTTPMessageDelegate: receives one request.
class HTTPMessageDelegate {
 public:
  virtual ~HTTPMessageDelegate() = default;
  virtual Task<void> headers_received(const RequestStartLine& start_line, const HTTPHeaders& headers) = 0;
  virtual Task<void> data_received(std::string_view chunk) = 0;
  // The whole request has arrived; answer it (now or later).
  virtual Task<void> finish() = 0;
  // The connection was lost before the response was finished.
  virtual void on_connection_close() {}
};

// Tornado's HTTPConnection: the response side of one request.
//
// The write calls queue their bytes at once; the awaitable they return
// completes when those bytes have been handed to the kernel and may be
// ignored (co_await it for flow control).
class HTTPConnection {
 public:
  // The status line, `headers` (the protocol adds its framing and
  // connection headers to them) and the first piece of the body.
  virtual IOStream::WriteAwaiter write_headers(const ResponseStartLine& start_line, HTTPHeaders& headers,
                                               std::string_view chunk) = 0;
  IOStream::WriteAwaiter write_headers(const ResponseStartLine& start_line, HTTPHeaders& headers) {
    return write_headers(start_line, headers, {});
  }
  // A piece of the body.
  virtual IOStream::WriteAwaiter write(std::string_view chunk) = 0;
  // A piece of the body read from `file`: `length` bytes from `offset`,
  // framed as write() frames a piece and sent as IOStream::write_file sends
  // it (bounded pieces, read through the ring), dropped for a HEAD request.
  // Completes once the last of it is queued. A file that ends early throws
  // and the connection is closed: the response's framing cannot be kept.
  virtual Task<void> write_file(File& file, std::uint64_t offset, std::uint64_t length) = 0;
  // Ends the response.
  virtual void finish() = 0;
  // Ends the connection after this response.
  virtual void set_close_after_response() noexcept = 0;
  // Ends the connection now: a response that cannot be completed (an error
  // after its headers left) must reach the client truncated, not as valid.
  virtual void abort() noexcept = 0;
  // Tornado's detach(): the caller takes the connection's stream over, for
  // a protocol of its own (WebSocket after its 101 answer). The protocol
  // writes no framing and reads no further request from then on. The
  // stream stays owned by the connection, so the taker uses it until the
  // request's delegate returns from finish() (a handler's method: a
  // WebSocket runs its message loop there); then the connection ends as any
  // other does (what is queued is flushed, the stream closed). Bytes the
  // client sent after the request are still buffered in the stream. A
  // protocol switch finishes its 101 answer first, then detaches; detaching
  // while a response is half written (headers sent, not finished) throws
  // std::logic_error.
  virtual IOStream& detach() = 0;
  // detach() for a protocol that outlives its request (a WebSocket): once
  // the request's delegate has returned from finish(), the request loop
  // ends and its frames go, and `session` runs as the connection from then
  // on, with the stream (left open for it) and the request's delegate,
  // which stays alive until `session` ends, so a handler may run the
  // protocol in its own members. The stream is closed when `session` ends.
  // This connection object is gone by the time `session` runs: it must not
  // be used there. May follow a detach() (which gave the stream to build
  // the session over); detaching into a second session throws
  // std::logic_error.
  virtual IOStream& detach(Task<void> session) = 0;
  virtual bool detached() const noexcept = 0;
  // The server's view of the peer, or nullptr outside a server.
  virtual const HTTPRequestContext* context() const noexcept = 0;

 protected:
  ~HTTPConnection() = default;
};

// Tornado's HTTPServerConnectionDelegate: makes one delegate per request.
class HTTPServerConnectionDelegate {
 public:
  virtual ~HTTPServerConnectionDelegate() = default;
  // A delegate for the next request on `connection`; it lives until the
  // response is finished.
  virtual std::unique_ptr<HTTPMessageDelegate> start_request(HTTPConnection& connection) = 0;
};

}  // namespace whirl
