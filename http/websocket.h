// whirl/http/websocket.h: Tornado's websocket module: WebSocketHandler on
// the server, websocket_connect for clients (RFC 6455, with RFC 7692
// permessage-deflate).
//
//     class EchoSocket : public WebSocketHandler {
//       Task<void> open() override { co_return; }          // after the 101
//       Task<void> on_message(std::string_view message, bool binary) override {
//         co_await write_message(message, binary);         // waits until it left
//       }
//       void on_close() override { log::app().info("closed {}", close_code().value_or(0)); }
//       std::optional<DeflateOptions> get_compression_options() override { return DeflateOptions{}; }
//     };
//     app.add_handler<EchoSocket>("/ws");
//
//     WebSocketClientOptions options{.compression = DeflateOptions{}};
//     auto ws = co_await websocket_connect("ws://localhost:8888/ws", options);
//     co_await ws->write_message("hello");
//     std::optional<WebSocketMessage> reply = co_await ws->read_message();  // nullopt once closed
//     ws->close();
//
// Messages are delivered in order, and the next one waits until
// on_message returns (read_message is called): that is the flow control,
// and a peer cannot make the other side hold more than one message. Pings
// are answered even while on_message runs. write_message frames and queues
// the message at once; awaiting it waits while much is queued (asyncio's
// drain), so a fast producer keeps pace with a slow peer. Past
// max_write_buffer_size queued
// the peer is taken as not reading: the connection is closed and the write
// throws WebSocketClosedError, as does every write after close.
//
// The handshake (the server's get(), which a WebSocketHandler does not
// override) refuses with an HTTP error, never a 101: 400 without
// `Upgrade: websocket`, `Connection: upgrade` or a valid Sec-WebSocket-Key,
// 426 (with `Sec-WebSocket-Version: 13`) for another version, 403 when
// check_origin refuses the Origin (by default, one whose host is not the
// request's Host, as Tornado). Protocol errors close with their RFC code:
// 1002 for a broken frame or sequence, 1007 for text that is not UTF-8
// (found at the first bad byte), 1009 for a message over max_message_size
// (compressed or inflated: a compression bomb is refused, not allocated).
//
// Unlike Tornado, TCP_NODELAY is on (set_nodelay(false) turns it off): a
// loop turn's writes already leave in one send, so Nagle's algorithm would
// only delay them (with pipelined messages, by a 40 ms delayed ACK each).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "whirl/http/http_headers.h"
#include "whirl/http/web.h"
#include "whirl/http/websocket_deflate.h"
#include "whirl/net/iostream.h"
#include "whirl/net/ssl_options.h"
#include "whirl/runtime/clock.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/queues.h"
#include "whirl/runtime/task.h"

namespace whirl {

class WebSocketProtocol;

// Writing to a connection that is closing or closed.
class WebSocketClosedError : public std::runtime_error {
 public:
  WebSocketClosedError() : std::runtime_error("WebSocket closed") {}
};

// Thrown by websocket_connect: the server refused or broke the handshake.
class WebSocketHandshakeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WebSocketOptions {
  std::uint64_t max_message_size = 10 * 1024 * 1024;  // Tornado's default; 1009 past it
  Duration ping_interval{};                           // zero: no pings
  Duration ping_timeout{};                            // zero: max(3 * ping_interval, 30 s), as Tornado
  Duration close_timeout = std::chrono::seconds(5);   // for the peer's close answer
  std::size_t max_write_buffer_size = 16 * 1024 * 1024;
};

// The awaitable write_message returns. Like asyncio's drain(), awaiting it
// returns at once while little waits to be sent (under kHighWater bytes
// when the message was queued), and otherwise once the message has been
// handed to the kernel: a producer that outruns its peer waits for it,
// and one that does not costs no loop turn per message. Throws
// WebSocketClosedError if the connection closed first. Not awaiting it is
// fine (the message is already queued).
class WebSocketWrite {
 public:
  static constexpr std::size_t kHighWater = 64 * 1024;

  WebSocketWrite(IOStream::WriteAwaiter inner, bool wait) noexcept : inner_(std::move(inner)), wait_(wait) {}
  bool await_ready() const noexcept { return !wait_ || inner_.await_ready(); }
  template <typename Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiter) {
    return inner_.await_suspend(awaiter);
  }
  void await_resume() const {
    if (!wait_) return;
    try {
      inner_.await_resume();
    } catch (const StreamClosedError&) {
      throw WebSocketClosedError();
    }
  }

 private:
  IOStream::WriteAwaiter inner_;
  bool wait_;
};

class WebSocketHandler : public RequestHandler {
 public:
  WebSocketHandler();
  ~WebSocketHandler() override;

  // ---- what a handler overrides ----
  // After the 101: path_arg() and get_argument() work here.
  virtual Task<void> open();
  virtual Task<void> on_message(std::string_view message, bool binary) = 0;
  // Once, when the connection has ended (close_code() says how).
  virtual void on_close() {}
  virtual void on_ping(std::string_view /*data*/) {}
  virtual void on_pong(std::string_view /*data*/) {}
  // The subprotocol to speak, one of those the client offered, or none.
  virtual std::optional<std::string> select_subprotocol(const std::vector<std::string>& subprotocols);
  // Whether to accept a browser's Origin; by default, only the request's
  // own host (as Tornado). Requests without Origin (non-browsers) pass.
  virtual bool check_origin(std::string_view origin);
  // permessage-deflate is offered back when this returns options.
  virtual std::optional<DeflateOptions> get_compression_options() { return std::nullopt; }

  // ---- the connection ----
  WebSocketWrite write_message(std::string_view message, bool binary = false);
  void ping(std::string_view data = {});
  // Starts the close handshake (Tornado's close(code, reason)).
  void close(std::optional<std::uint16_t> code = std::nullopt, std::string_view reason = {});
  std::optional<std::uint16_t> close_code() const noexcept;
  std::string close_reason() const;
  const std::optional<std::string>& selected_subprotocol() const noexcept { return subprotocol_; }
  void set_nodelay(bool value);
  // From Application::Settings (websocket_max_message_size and friends).
  virtual WebSocketOptions websocket_options() const;

  Task<void> get() final;

 private:
  class Delegate;
  std::optional<int> refuse_handshake();  // the status to refuse with, if any
  void accept_handshake();

  std::optional<std::string> subprotocol_;
  std::optional<DeflateAgreement> deflate_;
  DeflateOptions deflate_options_;
  std::unique_ptr<Delegate> delegate_;
  std::unique_ptr<WebSocketProtocol> protocol_;
  IOStream* stream_ = nullptr;
};

struct WebSocketMessage {
  std::string data;
  bool binary = false;
};

struct WebSocketClientOptions {
  WebSocketOptions websocket{};
  std::optional<Duration> connect_timeout{};  // the TCP connect, TLS and the handshake
  std::vector<std::string> subprotocols{};
  HTTPHeaders headers{};                        // sent with the handshake (Origin, cookies...)
  std::optional<DeflateOptions> compression{};  // offer permessage-deflate
  std::optional<SSLOptions> ssl_options{};      // wss://: TCPClient's defaults when unset
};

// A client's connection (Tornado's WebSocketClientConnection).
class WebSocketClientConnection {
 public:
  ~WebSocketClientConnection();
  WebSocketClientConnection(const WebSocketClientConnection&) = delete;
  WebSocketClientConnection& operator=(const WebSocketClientConnection&) = delete;

  // The next message; nullopt once the connection has closed.
  Task<std::optional<WebSocketMessage>> read_message();
  WebSocketWrite write_message(std::string_view message, bool binary = false);
  void ping(std::string_view data = {});
  void close(std::optional<std::uint16_t> code = std::nullopt, std::string_view reason = {});
  std::optional<std::uint16_t> close_code() const noexcept;
  std::string close_reason() const;
  const std::optional<std::string>& selected_subprotocol() const noexcept { return subprotocol_; }
  // The handshake's response headers.
  const HTTPHeaders& headers() const noexcept { return headers_; }
  // Waits until the connection has ended (the close handshake done or failed).
  Task<void> wait_closed();

 private:
  friend Task<std::unique_ptr<WebSocketClientConnection>> connect_websocket(std::string url,
                                                                            WebSocketClientOptions options);
  class Delegate;
  WebSocketClientConnection();
  void start(std::unique_ptr<IOStream> stream, const WebSocketClientOptions& options,
             std::optional<DeflateAgreement> deflate);
  Task<void> run();

  std::unique_ptr<IOStream> stream_;
  std::unique_ptr<Delegate> delegate_;
  std::unique_ptr<WebSocketProtocol> protocol_;
  Queue<std::optional<WebSocketMessage>> messages_{1};
  bool end_seen_ = false;  // read_message returned nullopt
  Event ended_;
  SpawnHandle task_;
  std::optional<std::string> subprotocol_;
  HTTPHeaders headers_;
};

// Connects to a ws:// or wss:// URL. Throws WebSocketHandshakeError when
// the server answers other than with a valid 101 (the status in the
// message), and what TCPClient::connect throws (StreamClosedError,
// TimeoutError, SSLError). Both are copied before the connect starts. Name
// the options on a line of their own, as tcpclient.h explains (GCC 12,
// PR 100611); a URL may be a literal.
Task<std::unique_ptr<WebSocketClientConnection>> websocket_connect(std::string_view url,
                                                                   const WebSocketClientOptions& options);
Task<std::unique_ptr<WebSocketClientConnection>> websocket_connect(std::string_view url);

// The coroutine behind websocket_connect (which takes views and references,
// so that nothing a caller writes inside `co_await` is a temporary string).
Task<std::unique_ptr<WebSocketClientConnection>> connect_websocket(std::string url, WebSocketClientOptions options);

}  // namespace whirl
