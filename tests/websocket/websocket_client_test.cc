// websocket_connect against whirl's own WebSocketHandler (another thread,
// another loop): the client's half of the protocol, masking on.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "tests/testing/http_server_thread.h"
#include "whirl/http/websocket.h"
#include "whirl/runtime/gen.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;
using testing::ServerThread;

// The close code the server's last connection saw from the client (0: none
// came, -1: not closed yet).
std::atomic<int> server_saw_close{-1};

struct EchoSocket : WebSocketHandler {
  void on_close() override { server_saw_close = close_code().value_or(0); }
  Task<void> on_message(std::string_view message, bool binary) override {
    if (message == "bye") {
      close(4001, "see you");
      co_return;
    }
    co_await write_message(message, binary);
  }
  std::optional<DeflateOptions> get_compression_options() override { return DeflateOptions{}; }
  std::optional<std::string> select_subprotocol(const std::vector<std::string>& offered) override {
    return offered.empty() ? std::nullopt : std::optional<std::string>(offered.back());
  }
};

struct EchoApp {
  EchoApp() { app.add_handler<EchoSocket>("/ws"); }
  Application app{{.access_log = false, .websocket_max_message_size = 32 * 1024 * 1024}};
};

std::string url(const ServerThread& server, std::string_view path = "/ws") {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + std::string(path);
}

TEST(WebSocketClient, EchoesTextAndBinaryOfManySizes) {
  EchoApp web;
  ServerThread server(web.app);
  IOLoop loop;
  loop.run_sync([&]() -> Task<void> {
    std::string address = url(server);
    auto ws = co_await websocket_connect(address);
    co_await ws->write_message("h\xC3\xA9llo");
    std::optional<WebSocketMessage> text = co_await ws->read_message();
    EXPECT_TRUE(text.has_value());
    EXPECT_EQ(text->data, "h\xC3\xA9llo");
    EXPECT_FALSE(text->binary);
    for (std::size_t size : {0u, 125u, 126u, 65535u, 65536u, 3u << 20}) {
      std::string blob(size, '\0');
      for (std::size_t i = 0; i < size; ++i) blob[i] = static_cast<char>(i * 31 + 7);
      co_await ws->write_message(blob, /*binary=*/true);
      std::optional<WebSocketMessage> echo = co_await ws->read_message();
      EXPECT_TRUE(echo && echo->binary) << size;
      EXPECT_TRUE(echo && echo->data == blob) << size;
    }
    ws->close(1000, "done");
    co_await ws->wait_closed();
    EXPECT_EQ(ws->close_code(), 1000) << "the server echoed our code";
    std::optional<WebSocketMessage> after = co_await ws->read_message();
    EXPECT_FALSE(after) << "nullopt once closed";
    EXPECT_THROW(ws->write_message("late"), WebSocketClosedError);
  }());
}

TEST(WebSocketClient, NegotiatesCompressionAndASubprotocol) {
  EchoApp web;
  ServerThread server(web.app);
  IOLoop loop;
  loop.run_sync([&]() -> Task<void> {
    WebSocketClientOptions options{.subprotocols = {"v1", "v2"}, .compression = DeflateOptions{}};
    std::string address = url(server);
    auto ws = co_await websocket_connect(address, options);
    EXPECT_NE(ws->headers().get("Sec-WebSocket-Extensions").find("permessage-deflate"), std::string_view::npos);
    EXPECT_EQ(ws->selected_subprotocol(), "v2");
    std::string big(200000, 'w');
    co_await ws->write_message(big);
    std::optional<WebSocketMessage> echo = co_await ws->read_message();
    EXPECT_TRUE(echo && echo->data == big);
    ws->close();
    co_await ws->wait_closed();
  }());
}

TEST(WebSocketClient, SeesTheServersCloseCodeAndThenTheEnd) {
  EchoApp web;
  ServerThread server(web.app);
  IOLoop loop;
  loop.run_sync([&]() -> Task<void> {
    std::string address = url(server);
    auto ws = co_await websocket_connect(address);
    co_await ws->write_message("bye");
    server_saw_close = -1;
    std::optional<WebSocketMessage> end = co_await ws->read_message();
    EXPECT_FALSE(end);
    EXPECT_EQ(ws->close_code(), 4001);
    EXPECT_EQ(ws->close_reason(), "see you");
  }());
  // The client answered the close frame at once (it did not sit behind a
  // held flush): the server got 4001 back, rather than closing after its
  // close_timeout with no answer.
  for (int i = 0; i < 10000 && server_saw_close == -1; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(server_saw_close, 4001);
}

TEST(WebSocketClient, AMessageOverTheClientsMaxMessageSizeFailsTheConnectionWith1009) {
  EchoApp web;
  ServerThread server(web.app);
  IOLoop loop;
  loop.run_sync([&]() -> Task<void> {
    std::string address = url(server);
    WebSocketClientOptions options;
    options.websocket.max_message_size = 1000;
    auto ws = co_await websocket_connect(address, options);
    server_saw_close = -1;
    std::string at_limit(1000, 'a');
    co_await ws->write_message(at_limit);
    std::optional<WebSocketMessage> echo = co_await ws->read_message();
    EXPECT_TRUE(echo && echo->data == at_limit) << "a message of exactly the limit is taken";
    std::string over(1001, 'b');
    co_await ws->write_message(over);
    std::optional<WebSocketMessage> refused = co_await ws->read_message();
    EXPECT_FALSE(refused) << "the echo over the limit is not delivered: the connection ends";
  }());
  for (int i = 0; i < 10000 && server_saw_close == -1; ++i) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(server_saw_close, 1009) << "the client said why: message too big";
}

TEST(WebSocketClient, ARefusedHandshakeThrowsWithTheStatus) {
  EchoApp web;
  ServerThread server(web.app);
  IOLoop loop;
  loop.run_sync([&]() -> Task<void> {
    std::string address = url(server, "/nowhere");
    try {
      co_await websocket_connect(address);
      ADD_FAILURE() << "connected to a 404";
    } catch (const WebSocketHandshakeError& error) {
      EXPECT_NE(std::string(error.what()).find("HTTP 404"), std::string::npos) << error.what();
    }
  }());
}

TEST(WebSocketClient, ABadUrlOrARefusedConnectionThrows) {
  IOLoop loop;
  loop.run_sync([&]() -> Task<void> {
    // (Each URL named first, and no co_await inside a macro's condition:
    // GCC 12's coroutine traps, ARCHITECTURE.md §2.2.)
    for (std::string bad : {"ftp://127.0.0.1/x", "ws://127.0.0.1:0x/", "ws:///path"}) {
      bool threw = false;
      try {
        co_await websocket_connect(bad);
      } catch (const std::invalid_argument&) {
        threw = true;
      }
      EXPECT_TRUE(threw) << bad;
    }
    bool refused = false;
    try {
      co_await websocket_connect("ws://127.0.0.1:1/ws");  // nothing listens on port 1; a literal is fine
    } catch (const StreamClosedError&) {
      refused = true;
    }
    EXPECT_TRUE(refused);
  }());
}

}  // namespace
}  // namespace whirl
