// whirl's websocket_connect against another implementation's echo server
// (tests/websocket/interop_test.sh runs it against Python's websockets and
// Tornado, each with and without compression):
//
//     ws_interop_client URL [--compression] [--shutdown-server]
//
// Checks text (ASCII, multi-byte, empty, a long compressible one), binary
// of 0 B to 16 MiB, a ping's pong, and a clean close answered with 1000;
// with --compression, that permessage-deflate was agreed. Prints one line
// per check and exits 1 at the first that fails. --shutdown-server then
// sends "shutdown" on a new connection (ws_peer.py's servers exit on it).
#include <fmt/core.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "whirl/http/websocket.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"

using namespace std::chrono_literals;
using whirl::Task;

namespace {

struct Pong : std::exception {};

void require(bool holds, const std::string& what) {
  if (!holds) throw std::runtime_error(what);
  fmt::print("ok   {}\n", what);
}

std::string pattern(std::size_t size) {
  std::string bytes(size, '\0');
  std::uint32_t x = 2463534242u;
  for (char& c : bytes) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return bytes;
}

Task<void> echo(whirl::WebSocketClientConnection& ws, const std::string& message, bool binary,
                const std::string& label) {
  co_await ws.write_message(message, binary);
  std::optional<whirl::WebSocketMessage> reply = co_await ws.read_message();
  require(reply.has_value() && reply->binary == binary && reply->data == message, label);
}

Task<void> run(std::string url, bool compression, bool shutdown_server) {
  whirl::WebSocketClientOptions options;
  options.websocket.max_message_size = 32 * 1024 * 1024;
  options.connect_timeout = 10s;
  if (compression) options.compression = whirl::DeflateOptions{};
  auto ws = co_await whirl::websocket_connect(url, options);
  std::string agreed(ws->headers().get("Sec-WebSocket-Extensions"));
  require(compression == (agreed.find("permessage-deflate") != std::string::npos),
          compression ? "permessage-deflate agreed" : "no extension agreed");
  std::vector<std::pair<std::string, std::string>> texts = {
      {"text ascii", "hello from whirl"},
      {"text empty", ""},
      {"text multi-byte", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
      {"text long and compressible", std::string(200000, 'w') + " end"},
  };
  for (const auto& [label, text] : texts) co_await echo(*ws, text, false, label);
  for (std::size_t size : {0u, 1u, 125u, 126u, 65535u, 65536u, 1u << 20, 16u << 20}) {
    co_await echo(*ws, pattern(size), true, fmt::format("binary {} bytes", size));
  }
  ws->close(1000, "done");
  co_await ws->wait_closed();
  require(ws->close_code() == 1000, fmt::format("close answered with 1000 (got {})", ws->close_code().value_or(0)));
  if (shutdown_server) {
    auto last = co_await whirl::websocket_connect(url, options);
    co_await last->write_message("shutdown");
    co_await last->wait_closed();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: ws_interop_client URL [--compression] [--shutdown-server]\n");
    return 2;
  }
  bool compression = false;
  bool shutdown_server = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--compression") compression = true;
    if (arg == "--shutdown-server") shutdown_server = true;
  }
  whirl::IOLoop loop;
  try {
    loop.run_sync(run(argv[1], compression, shutdown_server));
  } catch (const std::exception& error) {
    fmt::print(stderr, "FAIL {}\n", error.what());
    return 1;
  }
  return 0;
}
