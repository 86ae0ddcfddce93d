// bench/ws_echo_server: whirl's side of the WebSocket echo benchmark
// (bench/ws_compare.sh): a WebSocketHandler at every path that writes each
// message back as received, on one loop.
//
//     ws_echo_server --port 19101 [--address 127.0.0.1] [--compression]
//
// Messages up to 32 MiB; permessage-deflate offered back only with
// --compression (the benchmark's loader does not ask for it).
#include <fmt/core.h>

#include <cstdlib>
#include <string>

#include "whirl/http/httpserver.h"
#include "whirl/http/web.h"
#include "whirl/http/websocket.h"
#include "whirl/runtime/ioloop.h"

using whirl::Task;

namespace {

bool compression = false;

class EchoSocket : public whirl::WebSocketHandler {
 public:
  Task<void> on_message(std::string_view message, bool binary) override { co_await write_message(message, binary); }
  std::optional<whirl::DeflateOptions> get_compression_options() override {
    return compression ? std::optional<whirl::DeflateOptions>(whirl::DeflateOptions{}) : std::nullopt;
  }
};

}  // namespace

int main(int argc, char** argv) {
  int port = 19101;
  std::string address = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--compression") {
      compression = true;
    } else if (flag == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (flag == "--address" && i + 1 < argc) {
      address = argv[++i];
    } else {
      fmt::print(stderr, "usage: ws_echo_server --port N [--address A] [--compression]\n");
      return 2;
    }
  }
  whirl::Application app({.access_log = false, .websocket_max_message_size = 32 * 1024 * 1024});
  app.add_handler<EchoSocket>("/{path:.*}");
  whirl::HTTPServer server(app);
  server.listen(port, address);
  fmt::print("READY\n");
  std::fflush(stdout);
  whirl::IOLoop& loop = whirl::IOLoop::current();
  loop.add_signal_handler(SIGTERM, [&] { loop.stop(); });
  loop.add_signal_handler(SIGINT, [&] { loop.stop(); });
  loop.run();
  return 0;
}
