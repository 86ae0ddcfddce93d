// WebSocketHandler, spoken to byte by byte: the handshake's refusals, the
// protocol's rules with their close codes, and the close handshake.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "tests/testing/http_server_thread.h"
#include "whirl/http/websocket.h"
#include "whirl/http/websocket_deflate.h"
#include "whirl/http/websocket_frame.h"
#include "whirl/runtime/gen.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using testing::RawClient;
using testing::ServerThread;

// Echoes every message; "sleep" makes on_message take 300 ms first, "bye"
// closes with 4000, "throw" throws.
struct EchoSocket : WebSocketHandler {
  Task<void> on_message(std::string_view message, bool binary) override {
    if (message == "sleep") co_await sleep(300ms);
    if (message == "bye") {
      close(4000, "goodbye");
      co_return;
    }
    if (message == "throw") throw std::runtime_error("on_message failed");
    co_await write_message(message, binary);
  }
};
struct CompressedEchoSocket : EchoSocket {
  std::optional<DeflateOptions> get_compression_options() override { return DeflateOptions{}; }
};
struct ChattySocket : EchoSocket {
  std::optional<std::string> select_subprotocol(const std::vector<std::string>& offered) override {
    for (const std::string& name : offered) {
      if (name == "chat") return name;
    }
    return std::nullopt;
  }
};

// On "flood", writes 1 MiB messages without awaiting them, as a broadcast
// does, until the connection refuses; records what it saw.
std::atomic<bool> flood_refused{false};
std::atomic<int> flood_written{0};
struct FloodSocket : WebSocketHandler {
  Task<void> on_message(std::string_view, bool) override {
    std::string megabyte(1 << 20, 'f');
    try {
      for (int i = 0; i < 256; ++i) {
        write_message(megabyte, true);
        flood_written = i + 1;
      }
    } catch (const WebSocketClosedError&) {
      flood_refused = true;
    }
    co_return;
  }
};

// Records its on_close, for the shutdown test.
std::atomic<int> closes_seen{0};
struct CountingSocket : EchoSocket {
  void on_close() override { ++closes_seen; }
};

struct WebSocketApp {
  WebSocketApp() {
    app.add_handler<CountingSocket>("/counted");
    app.add_handler<FloodSocket>("/flood");
    app.add_handler<EchoSocket>("/ws");
    app.add_handler<CompressedEchoSocket>("/deflate");
    app.add_handler<ChattySocket>("/chat");
  }
  Application app{{.access_log = false, .websocket_max_message_size = 64 * 1024}};
};

constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 §1.3's example

std::string handshake(std::string_view path, std::string_view extra = {}) {
  return "GET "s + std::string(path) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
         "Sec-WebSocket-Key: " +
         kKey + "\r\nSec-WebSocket-Version: 13\r\n" + std::string(extra) + "\r\n";
}

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }
bool has_header(const std::string& response, std::string_view line) {
  return response.find("\r\n" + std::string(line) + "\r\n") != std::string::npos;
}

std::string client_frame(Opcode opcode, std::string_view payload, bool fin = true, bool rsv1 = false) {
  std::string wire;
  append_frame(wire, opcode, payload, {.fin = fin, .rsv1 = rsv1, .mask_key = MaskKey{0xA1, 0xB2, 0xC3, 0xD4}});
  return wire;
}

struct Frame {
  bool ok = false;
  FrameHeader header;
  std::string payload;
  std::uint16_t close_code() const { return close_code_in(payload).value_or(0); }
};

// A client that has done the handshake.
struct WsClient {
  explicit WsClient(int port, std::string_view path = "/ws", std::string_view extra = {}) : raw(port) {
    raw.send(handshake(path, extra));
    response = raw.read_response();
  }
  void send(Opcode opcode, std::string_view payload, bool fin = true) { raw.send(client_frame(opcode, payload, fin)); }
  Frame read() {
    Frame frame;
    std::string head = raw.read_exact(2);
    if (head.size() < 2) return frame;
    std::size_t extra = (head[1] & 0x7F) == 126 ? 2 : (head[1] & 0x7F) == 127 ? 8 : 0;
    head += raw.read_exact(extra);
    FrameHeaderResult got = parse_frame_header(head, {.expect_masked = false, .allow_rsv1 = true});
    if (got.status != FrameHeaderResult::kOk) return frame;
    frame.header = got.header;
    frame.payload = raw.read_exact(got.header.payload_length);
    frame.ok = frame.payload.size() == got.header.payload_length;
    return frame;
  }
  // The close frame the server sent (skipping others), then whether it closed TCP.
  std::uint16_t read_close_code() {
    for (;;) {
      Frame frame = read();
      if (!frame.ok) return 0;
      if (frame.header.opcode == Opcode::kClose) return frame.close_code();
    }
  }
  RawClient raw;
  std::string response;
};

// ---- the handshake ----

TEST(WebSocketHandshake, AValidHandshakeIsAnswered101WithTheRfcAcceptValue) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port());
  EXPECT_EQ(status_line(client.response), "HTTP/1.1 101 Switching Protocols");
  EXPECT_TRUE(has_header(client.response, "Sec-Websocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) << client.response;
  EXPECT_TRUE(has_header(client.response, "Upgrade: websocket"));
  EXPECT_TRUE(has_header(client.response, "Connection: Upgrade"));
  EXPECT_EQ(client.response.find("Content-Length"), std::string::npos) << "a 101 has no body";
  EXPECT_EQ(client.response.find("Sec-Websocket-Extensions"), std::string::npos) << "no compression unless enabled";
}

TEST(WebSocketHandshake, WhatIsNotAHandshakeIsRefusedWithAnHttpError) {
  WebSocketApp web;
  ServerThread server(web.app);
  auto answer = [&](std::string request) {
    RawClient raw(server.port());
    raw.send(request);
    return raw.read_response();
  };
  std::string base = handshake("/ws");
  auto without = [&](std::string_view line) {
    std::string request = base;
    request.erase(request.find(line), line.size() + 2);
    return request;
  };
  EXPECT_EQ(status_line(answer(without("Upgrade: websocket"))), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(answer(without("Connection: keep-alive, Upgrade"))), "HTTP/1.1 400 Bad Request");
  std::string old_version = base;
  old_version.replace(old_version.find("Version: 13"), 11, "Version: 8");
  std::string refused = answer(old_version);
  EXPECT_EQ(status_line(refused), "HTTP/1.1 426 Upgrade Required");
  EXPECT_TRUE(has_header(refused, "Sec-Websocket-Version: 13")) << refused;
  std::string short_key = base;
  short_key.replace(short_key.find(kKey), 24, "c2hvcnQ=");
  EXPECT_EQ(status_line(answer(short_key)), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(answer(without(std::string("Sec-WebSocket-Key: ") + kKey))), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_line(answer(handshake("/ws", "Origin: http://evil.example\r\n"))), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(status_line(answer(handshake("/ws", "Origin: http://127.0.0.1\r\n"))), "HTTP/1.1 101 Switching Protocols")
      << "the request's own host is allowed";
  std::string post = base;
  post.replace(0, 3, "POST");
  EXPECT_EQ(status_line(answer(post)).substr(9, 3), "405");
}

TEST(WebSocketHandshake, ASubprotocolIsChosenFromThoseOffered) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient chosen(server.port(), "/chat", "Sec-WebSocket-Protocol: superchat, chat\r\n");
  EXPECT_TRUE(has_header(chosen.response, "Sec-Websocket-Protocol: chat")) << chosen.response;
  WsClient none(server.port(), "/chat", "Sec-WebSocket-Protocol: superchat\r\n");
  EXPECT_EQ(status_line(none.response), "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(none.response.find("Sec-Websocket-Protocol"), std::string::npos);
}

// ---- messages ----

TEST(WebSocketServer, TextAndBinaryMessagesAreEchoedUnmasked) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port());
  client.send(Opcode::kText, "h\xC3\xA9llo");
  Frame text = client.read();
  ASSERT_TRUE(text.ok);
  EXPECT_FALSE(text.header.masked);
  EXPECT_EQ(text.header.opcode, Opcode::kText);
  EXPECT_EQ(text.payload, "h\xC3\xA9llo");
  std::string blob(70000, '\x07');
  client.send(Opcode::kBinary, "");
  client.send(Opcode::kBinary, std::string(60000, '\x07'));
  Frame empty = client.read();
  Frame big = client.read();
  EXPECT_EQ(empty.header.opcode, Opcode::kBinary);
  EXPECT_EQ(empty.payload, "");
  EXPECT_EQ(big.payload.size(), 60000u);
}

TEST(WebSocketServer, AFragmentedMessageIsDeliveredWholeWithPingsBetweenItsFrames) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port());
  // A character split across the fragments too.
  client.send(Opcode::kText, "one \xE2\x82", false);
  client.send(Opcode::kPing, "mid");
  client.send(Opcode::kContinuation, "\xAC two", true);
  Frame pong = client.read();
  EXPECT_EQ(pong.header.opcode, Opcode::kPong);
  EXPECT_EQ(pong.payload, "mid");
  Frame echo = client.read();
  EXPECT_EQ(echo.payload, "one \xE2\x82\xAC two");
}

TEST(WebSocketServer, PingsAreAnsweredWhileOnMessageIsBusy) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port());
  client.send(Opcode::kText, "sleep");  // on_message sleeps 300 ms, then echoes
  client.send(Opcode::kPing, "are you there");
  Frame first = client.read();
  EXPECT_EQ(first.header.opcode, Opcode::kPong) << "the pong comes before the slow echo";
  EXPECT_EQ(first.payload, "are you there");
  Frame echo = client.read();
  EXPECT_EQ(echo.payload, "sleep");
}

TEST(WebSocketServer, MessagesAreHandledInOrderOneAtATime) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port());
  client.send(Opcode::kText, "sleep");
  client.send(Opcode::kText, "second");
  EXPECT_EQ(client.read().payload, "sleep");
  EXPECT_EQ(client.read().payload, "second");
}

// ---- protocol errors: each fails the connection with its code ----

struct ProtocolErrorCase {
  const char* name;
  std::string bytes;
  std::uint16_t code;
};

TEST(WebSocketServer, EachProtocolErrorClosesWithItsCode) {
  const std::string unmasked = "\x81\x02hi"s;
  std::string too_big;
  append_frame(too_big, Opcode::kBinary, std::string(64 * 1024 + 1, 'x'), {.mask_key = MaskKey{1, 2, 3, 4}});
  const ProtocolErrorCase cases[] = {
      {"an unmasked frame", unmasked, 1002},
      {"a reserved opcode", client_frame(static_cast<Opcode>(3), "x"), 1002},
      {"RSV1 without deflate", client_frame(Opcode::kText, "x", true, true), 1002},
      {"a continuation with nothing to continue", client_frame(Opcode::kContinuation, "x"), 1002},
      {"a message inside a fragmented one", client_frame(Opcode::kText, "a", false) + client_frame(Opcode::kText, "b"),
       1002},
      {"a fragmented ping", client_frame(Opcode::kPing, "x", false), 1002},
      {"text that is not UTF-8", client_frame(Opcode::kText, "ok \xC0\xAF"), 1007},
      {"text ending mid-character", client_frame(Opcode::kText, "\xE2\x82"), 1007},
      {"a message over max_message_size", too_big, 1009},
      {"fragments adding up past max_message_size",
       client_frame(Opcode::kBinary, std::string(40000, 'x'), false) +
           client_frame(Opcode::kContinuation, std::string(40000, 'x')),
       1009},
      {"a close frame of one byte", client_frame(Opcode::kClose, "\x03"), 1002},
      {"an invalid close code", client_frame(Opcode::kClose, "\x03\xED"), 1002},  // 1005
      {"a close reason that is not UTF-8", client_frame(Opcode::kClose, "\x03\xE8\xFF"), 1007},
  };
  WebSocketApp web;
  ServerThread server(web.app);
  for (const ProtocolErrorCase& error : cases) {
    WsClient client(server.port());
    ASSERT_EQ(status_line(client.response), "HTTP/1.1 101 Switching Protocols");
    client.raw.send(error.bytes);
    EXPECT_EQ(client.read_close_code(), error.code) << error.name;
    EXPECT_TRUE(client.raw.closed_by_server()) << error.name << ": the TCP connection ends too";
  }
}

TEST(WebSocketServer, InvalidUtf8FailsAtOnceWithoutWaitingForTheRestOfTheMessage) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port());
  // A header announcing 1000 bytes, then 4 of them, the last invalid.
  std::string frame = client_frame(Opcode::kText, "abc\xFF" + std::string(996, 'a'));
  client.raw.send(frame.substr(0, 8 + 4));
  EXPECT_EQ(client.read_close_code(), 1007);
}

// ---- closing ----

TEST(WebSocketServer, AClientsCloseIsEchoedAndTheServerEndsTheConnection) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port());
  client.send(Opcode::kClose, close_payload(1000, "done"));
  Frame reply = client.read();
  ASSERT_TRUE(reply.ok);
  EXPECT_EQ(reply.header.opcode, Opcode::kClose);
  EXPECT_EQ(reply.close_code(), 1000);
  EXPECT_TRUE(client.raw.closed_by_server());
}

TEST(WebSocketServer, AHandlersCloseSendsItsCodeAndReason) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port());
  client.send(Opcode::kText, "bye");
  Frame close = client.read();
  ASSERT_EQ(close.header.opcode, Opcode::kClose);
  EXPECT_EQ(close.close_code(), 4000);
  EXPECT_EQ(close.payload.substr(2), "goodbye");
  client.send(Opcode::kClose, close_payload(4000, ""));
  EXPECT_TRUE(client.raw.closed_by_server());
}

TEST(WebSocketServer, AnExceptionInOnMessageClosesWith1011) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port());
  client.send(Opcode::kText, "throw");
  EXPECT_EQ(client.read_close_code(), 1011);
}

TEST(WebSocketServer, APeerThatVanishesEndsTheHandlerQuietly) {
  WebSocketApp web;
  ServerThread server(web.app);
  {
    WsClient client(server.port());
    client.send(Opcode::kText, "half", false);
  }  // closed mid-message
  WsClient after(server.port());
  after.send(Opcode::kText, "still serving");
  EXPECT_EQ(after.read().payload, "still serving");
}

TEST(WebSocketServer, APeerThatNeverReadsIsDroppedAtTheWriteBoundNotBuffered) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port(), "/flood");
  int small = 4096;  // a small receive window: the kernel holds little for us
  ::setsockopt(client.raw.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  client.send(Opcode::kText, "go");
  for (int i = 0; i < 100 && !flood_refused; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(flood_refused) << "writes past the bound throw WebSocketClosedError";
  // 16 MiB queued, plus what the kernel's buffers took: far from 256.
  EXPECT_LT(flood_written.load(), 64);
  EXPECT_GE(flood_written.load(), 16);
}

TEST(WebSocketServer, ClosingAllConnectionsEndsOpenWebSocketsAndCallsOnClose) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient idle(server.port(), "/counted");
  WsClient busy(server.port(), "/counted");
  busy.send(Opcode::kText, "sleep");  // its on_message is running when the server closes
  std::this_thread::sleep_for(50ms);
  int before = closes_seen;
  server.loop().add_callback([&] {
    server.loop().spawn(
        [](HTTPServer* http) -> Task<void> { co_await http->close_all_connections(); }(&server.server()));
  });
  EXPECT_TRUE(idle.raw.closed_by_server());
  EXPECT_TRUE(busy.raw.closed_by_server());
  for (int i = 0; i < 100 && closes_seen < before + 2; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(closes_seen - before, 2) << "each handler's on_close ran once";
}

// ---- pings ----

struct PingingApp {
  explicit PingingApp(std::chrono::milliseconds timeout)
      : app({.access_log = false,
             .websocket_ping_interval = std::chrono::milliseconds(100),
             .websocket_ping_timeout = timeout}) {
    app.add_handler<EchoSocket>("/ws");
  }
  Application app;
};

TEST(WebSocketServer, WithAPingIntervalAPeerThatNeverPongsIsClosedWith1001) {
  PingingApp web(std::chrono::milliseconds(350));
  ServerThread server(web.app);
  WsClient client(server.port());
  Frame first = client.read();
  EXPECT_EQ(first.header.opcode, Opcode::kPing) << "a ping comes every ping_interval";
  EXPECT_EQ(client.read_close_code(), 1001) << "no pong for ping_timeout: closed, going away";
}

TEST(WebSocketServer, APeerThatAnswersPingsStaysOpen) {
  // Past the timeout's length, with room for a loaded machine's delays.
  PingingApp web(std::chrono::milliseconds(1000));
  ServerThread server(web.app);
  WsClient client(server.port());
  int pings = 0;
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < 1500ms) {
    Frame frame = client.read();
    ASSERT_TRUE(frame.ok);
    ASSERT_EQ(frame.header.opcode, Opcode::kPing) << "closed while answering its pings";
    client.send(Opcode::kPong, frame.payload);
    ++pings;
  }
  EXPECT_GE(pings, 5);
  client.send(Opcode::kText, "still here");
  Frame echo = client.read();
  while (echo.ok && echo.header.opcode == Opcode::kPing) echo = client.read();
  EXPECT_EQ(echo.payload, "still here");
}

// ---- permessage-deflate ----

TEST(WebSocketServer, CompressionIsNegotiatedAndMessagesFlowCompressedBothWays) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port(), "/deflate",
                  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
  ASSERT_TRUE(has_header(client.response, "Sec-Websocket-Extensions: permessage-deflate")) << client.response;
  PerMessageDeflate codec(DeflateAgreement{}, /*is_server=*/false, {});
  for (std::string message : {"Hello"s, std::string(5000, 'z') + "end"}) {
    std::string compressed;
    codec.compress(message, compressed);
    client.raw.send(client_frame(Opcode::kText, compressed, true, /*rsv1=*/true));
    Frame echo = client.read();
    ASSERT_TRUE(echo.ok);
    EXPECT_TRUE(echo.header.rsv1) << "the echo is compressed too";
    std::string inflated;
    codec.decompress(echo.payload, inflated, 1 << 20);
    EXPECT_EQ(inflated, message);
  }
  client.send(Opcode::kText, "uncompressed in between");
  Frame plain = client.read();
  std::string inflated;
  ASSERT_TRUE(plain.header.rsv1);
  codec.decompress(plain.payload, inflated, 1 << 20);
  EXPECT_EQ(inflated, "uncompressed in between");
}

TEST(WebSocketServer, ACompressionBombIsA1009NotAnAllocation) {
  WebSocketApp web;
  ServerThread server(web.app);
  WsClient client(server.port(), "/deflate", "Sec-WebSocket-Extensions: permessage-deflate\r\n");
  PerMessageDeflate codec(DeflateAgreement{}, false, {});
  std::string bomb;
  codec.compress(std::string(8 * 1024 * 1024, 'a'), bomb);  // limit is 64 KiB
  client.raw.send(client_frame(Opcode::kBinary, bomb, true, true));
  EXPECT_EQ(client.read_close_code(), 1009);
}

}  // namespace
}  // namespace whirl
