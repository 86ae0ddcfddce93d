#include "whirl/http/websocket.h"

#include <fmt/format.h>

#include <utility>

#include "http/websocket_handshake.h"
#include "http/websocket_protocol.h"
#include "whirl/http/response_parser.h"
#include "whirl/http/url.h"
#include "whirl/net/tcpclient.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/log.h"

namespace whirl {

// ---- the server: WebSocketHandler ----

class WebSocketHandler::Delegate final : public WebSocketProtocol::Delegate {
 public:
  explicit Delegate(WebSocketHandler& handler) noexcept : handler_(handler) {}
  Task<void> on_open() override { return handler_.open(); }
  Task<void> on_message(std::string_view message, bool binary) override { return handler_.on_message(message, binary); }
  void on_ping(std::string_view data) override { handler_.on_ping(data); }
  void on_pong(std::string_view data) override { handler_.on_pong(data); }
  void on_closed() override { handler_.on_close(); }

 private:
  WebSocketHandler& handler_;
};

WebSocketHandler::WebSocketHandler() = default;
WebSocketHandler::~WebSocketHandler() = default;

Task<void> WebSocketHandler::open() { co_return; }

std::optional<std::string> WebSocketHandler::select_subprotocol(const std::vector<std::string>&) {
  return std::nullopt;
}

bool WebSocketHandler::check_origin(std::string_view origin) {
  // Tornado's rule: the Origin's host[:port] must be the request's Host.
  std::size_t scheme = origin.find("://");
  std::string_view host = scheme == std::string_view::npos ? origin : origin.substr(scheme + 3);
  host = host.substr(0, host.find('/'));
  return iequals(host, request().host);
}

WebSocketOptions WebSocketHandler::websocket_options() const {
  const Application::Settings& settings = application().settings();
  WebSocketOptions options;
  options.max_message_size = settings.websocket_max_message_size;
  options.ping_interval = settings.websocket_ping_interval;
  options.ping_timeout = settings.websocket_ping_timeout;
  return options;
}

// RFC 6455 §4.2.1, and Tornado's answers to a request that is not a
// WebSocket handshake. Each refusal is an HTTP response: a client that is
// not speaking WebSocket must never see a 101.
std::optional<int> WebSocketHandler::refuse_handshake() {
  const HTTPHeaders& headers = request().headers;
  auto refuse = [this](int status, std::string_view why) {
    set_status(status);
    finish(why);
    return status;
  };
  if (request().method != "GET") return refuse(405, "A WebSocket handshake is a GET.");
  if (!list_contains(headers.get("Upgrade"), "websocket")) {
    return refuse(400, "Can \"Upgrade\" only to \"WebSocket\".");
  }
  if (!list_contains(joined_header(headers, "Connection"), "upgrade")) {
    return refuse(400, "\"Connection\" must be \"Upgrade\".");
  }
  if (headers.get("Sec-WebSocket-Version") != "13") {
    set_header("Sec-WebSocket-Version", "13");
    return refuse(426, "Only WebSocket version 13 is supported.");
  }
  if (!is_valid_websocket_key(headers.get("Sec-WebSocket-Key"))) {
    return refuse(400, "Missing or invalid Sec-WebSocket-Key.");
  }
  std::string_view origin = headers.get("Origin", headers.get("Sec-WebSocket-Origin"));
  if (!origin.empty() && !check_origin(origin)) return refuse(403, "Cross origin websockets not allowed");
  return std::nullopt;
}

void WebSocketHandler::accept_handshake() {
  const HTTPHeaders& headers = request().headers;
  std::vector<std::string> offered = header_list(headers, "Sec-WebSocket-Protocol");
  if (!offered.empty()) {
    subprotocol_ = select_subprotocol(offered);
    if (subprotocol_ && std::find(offered.begin(), offered.end(), *subprotocol_) == offered.end()) {
      throw std::logic_error("select_subprotocol returned one the client did not offer");
    }
  }
  if (std::optional<DeflateOptions> compression = get_compression_options()) {
    deflate_options_ = *compression;
    deflate_ = accept_deflate_offer(joined_header(headers, "Sec-WebSocket-Extensions"), deflate_options_);
  }
  set_status(101);
  clear_header("Content-Type");
  set_header("Upgrade", "websocket");
  set_header("Connection", "Upgrade");
  set_header("Sec-WebSocket-Accept", websocket_accept(headers.get("Sec-WebSocket-Key")));
  if (subprotocol_) set_header("Sec-WebSocket-Protocol", *subprotocol_);
  if (deflate_) set_header("Sec-WebSocket-Extensions", deflate_->response_header());
  finish();
}

Task<void> WebSocketHandler::get() {
  if (refuse_handshake()) co_return;
  accept_handshake();
  stream_ = &detach();
  delegate_ = std::make_unique<Delegate>(*this);
  protocol_ = std::make_unique<WebSocketProtocol>(*stream_, *delegate_,
                                                  WebSocketProtocol::Settings{.mask_outgoing = false,
                                                                              .options = websocket_options(),
                                                                              .deflate = deflate_,
                                                                              .deflate_options = deflate_options_});
  // The protocol (open(), the messages, on_close()) runs in a task of its
  // own once get() has returned: the HTTP request's frames end, and an
  // idle WebSocket holds only its own.
  detach(protocol_->run());
}

WebSocketWrite WebSocketHandler::write_message(std::string_view message, bool binary) {
  if (protocol_ == nullptr) throw WebSocketClosedError();
  return protocol_->write_message(message, binary);
}

void WebSocketHandler::ping(std::string_view data) {
  if (protocol_ == nullptr) throw WebSocketClosedError();
  protocol_->ping(data);
}

void WebSocketHandler::close(std::optional<std::uint16_t> code, std::string_view reason) {
  if (protocol_ != nullptr) protocol_->close(code, reason);
}

std::optional<std::uint16_t> WebSocketHandler::close_code() const noexcept {
  return protocol_ ? protocol_->close_code() : std::nullopt;
}

std::string WebSocketHandler::close_reason() const { return protocol_ ? protocol_->close_reason() : std::string(); }

void WebSocketHandler::set_nodelay(bool value) {
  if (stream_ != nullptr) stream_->set_nodelay(value);
}

// ---- the client: websocket_connect ----

class WebSocketClientConnection::Delegate final : public WebSocketProtocol::Delegate {
 public:
  explicit Delegate(WebSocketClientConnection& connection) noexcept : connection_(connection) {}
  Task<void> on_message(std::string_view message, bool binary) override {
    // The queue holds one: the next message waits until this one is read.
    // (Named first: GCC 12 copies a temporary in a co_await expression
    // bitwise, and a short string's buffer is inside it; PR 100611.)
    std::optional<WebSocketMessage> item = WebSocketMessage{std::string(message), binary};
    co_await connection_.messages_.put(std::move(item));
  }

 private:
  WebSocketClientConnection& connection_;
};

WebSocketClientConnection::WebSocketClientConnection() = default;

WebSocketClientConnection::~WebSocketClientConnection() {
  // Its frames refer to the protocol and the stream below.
  task_.abort();
}

void WebSocketClientConnection::start(std::unique_ptr<IOStream> stream, const WebSocketClientOptions& options,
                                      std::optional<DeflateAgreement> deflate) {
  stream_ = std::move(stream);
  delegate_ = std::make_unique<Delegate>(*this);
  protocol_ = std::make_unique<WebSocketProtocol>(
      *stream_, *delegate_,
      WebSocketProtocol::Settings{.mask_outgoing = true,
                                  .options = options.websocket,
                                  .deflate = deflate,
                                  .deflate_options = options.compression.value_or(DeflateOptions{})});
  task_ = IOLoop::current().spawn(run());
}

Task<void> WebSocketClientConnection::run() {
  co_await protocol_->run();
  ended_.set();
  std::optional<WebSocketMessage> end;  // read_message's "closed" (named: PR 100611)
  co_await messages_.put(std::move(end));
}

Task<std::optional<WebSocketMessage>> WebSocketClientConnection::read_message() {
  if (end_seen_) co_return std::nullopt;
  std::optional<WebSocketMessage> message = co_await messages_.get();
  if (!message) end_seen_ = true;
  co_return message;
}

WebSocketWrite WebSocketClientConnection::write_message(std::string_view message, bool binary) {
  return protocol_->write_message(message, binary);
}

void WebSocketClientConnection::ping(std::string_view data) { protocol_->ping(data); }

void WebSocketClientConnection::close(std::optional<std::uint16_t> code, std::string_view reason) {
  protocol_->close(code, reason);
}

std::optional<std::uint16_t> WebSocketClientConnection::close_code() const noexcept { return protocol_->close_code(); }

std::string WebSocketClientConnection::close_reason() const { return protocol_->close_reason(); }

Task<void> WebSocketClientConnection::wait_closed() { co_await ended_.wait(); }

namespace {

std::string handshake_request(const URL& url, std::string_view key, const WebSocketClientOptions& options) {
  std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n",
      url.target, url.authority, key);
  if (!options.subprotocols.empty()) {
    request += "Sec-WebSocket-Protocol: ";
    for (std::size_t i = 0; i < options.subprotocols.size(); ++i) {
      if (i > 0) request += ", ";
      request += options.subprotocols[i];
    }
    request += "\r\n";
  }
  if (options.compression)
    request += fmt::format("Sec-WebSocket-Extensions: {}\r\n", deflate_offer(*options.compression));
  options.headers.write_to(request);
  request += "\r\n";
  return request;
}

struct HandshakeResponse {
  int code = 0;
  HTTPHeaders headers;
};

// The status and fields of `head` (which ends with its blank line), read by
// the client's strict ResponseParser: a handshake answer that could be read
// two ways is refused like any other response.
HandshakeResponse parse_handshake_response(std::string_view head) {
  ResponseParser parser;
  parser.start(/*head_request=*/false);
  std::size_t used = 0;
  if (parser.parse(head, used) == ResponseParser::Result::kError) {
    throw WebSocketHandshakeError(std::string("malformed handshake response: ") + parser.error_reason());
  }
  HandshakeResponse response;
  response.code = parser.code();
  ResponseParser::split_head(head, response.headers);
  return response;
}

// RFC 6455 §4.1: what the client must check before it speaks.
std::optional<DeflateAgreement> check_handshake(const HandshakeResponse& response, std::string_view key,
                                                const WebSocketClientOptions& options,
                                                std::optional<std::string>& subprotocol) {
  if (response.code != 101) {
    throw WebSocketHandshakeError(fmt::format("HTTP {}: the server did not switch to WebSocket", response.code));
  }
  const HTTPHeaders& headers = response.headers;
  if (!list_contains(headers.get("Upgrade"), "websocket"))
    throw WebSocketHandshakeError("101 without Upgrade: websocket");
  if (!list_contains(joined_header(headers, "Connection"), "upgrade")) {
    throw WebSocketHandshakeError("101 without Connection: upgrade");
  }
  if (headers.get("Sec-WebSocket-Accept") != websocket_accept(key)) {
    throw WebSocketHandshakeError("Sec-WebSocket-Accept does not match the key");
  }
  if (headers.contains("Sec-WebSocket-Protocol")) {
    std::string chosen(headers.get("Sec-WebSocket-Protocol"));
    if (std::find(options.subprotocols.begin(), options.subprotocols.end(), chosen) == options.subprotocols.end()) {
      throw WebSocketHandshakeError("the server chose a subprotocol that was not offered: " + chosen);
    }
    subprotocol = chosen;
  }
  std::string extensions = joined_header(headers, "Sec-WebSocket-Extensions");
  if (extensions.empty()) return std::nullopt;
  if (!options.compression) throw WebSocketHandshakeError("the server accepted an extension that was not offered");
  try {
    return accept_deflate_response(extensions, *options.compression);
  } catch (const DeflateNegotiationError& error) {
    throw WebSocketHandshakeError(error.what());
  }
}

Task<std::string> read_head(IOStream& stream) { co_return co_await stream.read_until("\r\n\r\n", 64 * 1024); }

}  // namespace

Task<std::unique_ptr<WebSocketClientConnection>> connect_websocket(std::string url, WebSocketClientOptions options) {
  URL target = URL::parse(url);  // std::invalid_argument naming the URL
  std::optional<TimePoint> deadline;
  if (options.connect_timeout) deadline = Clock::now() + *options.connect_timeout;
  TCPConnectOptions connect;
  connect.timeout = options.connect_timeout;
  if (target.secure()) connect.ssl_options = options.ssl_options.value_or(SSLOptions{});
  std::unique_ptr<IOStream> stream = co_await TCPClient::connect(target.host, target.port, connect);
  std::string key = new_websocket_key();
  co_await stream->write(handshake_request(target, key, options));
  std::string head;
  if (deadline) {
    head = co_await with_timeout(*deadline, read_head(*stream));
  } else {
    head = co_await read_head(*stream);
  }
  HandshakeResponse response = parse_handshake_response(head);
  std::unique_ptr<WebSocketClientConnection> connection(new WebSocketClientConnection());
  std::optional<DeflateAgreement> deflate = check_handshake(response, key, options, connection->subprotocol_);
  connection->headers_ = std::move(response.headers);
  connection->start(std::move(stream), options, deflate);
  co_return connection;
}

Task<std::unique_ptr<WebSocketClientConnection>> websocket_connect(std::string_view url,
                                                                   const WebSocketClientOptions& options) {
  return connect_websocket(std::string(url), options);
}

Task<std::unique_ptr<WebSocketClientConnection>> websocket_connect(std::string_view url) {
  return connect_websocket(std::string(url), WebSocketClientOptions{});
}

}  // namespace whirl
