// The demo HTTP server (the README's first command):
//
//     ./bazelw run //examples:hello_http -- --port 8888 [--address 127.0.0.1] [--processes N]
//                                           [--unix PATH] [--tls-cert F --tls-key F] [--no-access-log]
//                                           [--idle-timeout S] [--header-timeout S] [--tls-handshake-timeout S]
//                                           [--static-root DIR]
//
//   GET /, HEAD /        200 "Hello, World!" (text/plain)
//   OPTIONS /            200 with Allow
//   POST /               the request body, echoed
//   /echo (any method)   the request's headers, one "Name: Value" line each, as received
//   GET /cookie          the parsed cookies, one "name=value" line each
//   GET /stream?n=K      K chunks, each sent with flush()
//   POST /upload         counts the body's bytes as they stream in, without buffering
//   /ws                  a WebSocket echo: text and binary messages (up to 32 MiB) sent
//                        back as received; permessage-deflate for a client that offers it
//   /static/...          the files of examples/static (or --static-root DIR) through
//                        StaticFileHandler; /static/ is its index.html, /robots.txt its robots.txt
//
// SIGINT or SIGTERM stops it gracefully: no new connections, idle ones
// closed, requests in flight answered (5 s at most), exit 0.
#include <fmt/core.h>

#include <climits>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "examples/server_flags.h"
#include "whirl/http/httpserver.h"
#include "whirl/http/web.h"
#include "whirl/http/websocket.h"
#include "whirl/net/netutil.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/log.h"

using namespace std::chrono_literals;
using whirl::Task;

namespace {

class MainHandler : public whirl::RequestHandler {
 public:
  Task<void> get() override {
    set_header("Content-Type", "text/plain");
    write("Hello, World!");
    co_return;
  }
  Task<void> post() override {
    set_header("Content-Type", "application/octet-stream");
    write(request().body);
    co_return;
  }
  Task<void> options() override {
    set_header("Allow", "GET, HEAD, POST, OPTIONS");
    set_header("Content-Type", "text/plain");
    co_return;
  }
};

std::string header_lines(const whirl::HTTPHeaders& headers) {
  std::string out;
  for (auto [name, value] : headers) out += fmt::format("{}: {}\n", name, value);
  return out;
}

class EchoHandler : public whirl::RequestHandler {
 public:
  Task<void> prepare() override {
    set_header("Content-Type", "text/plain");
    write(header_lines(request().headers));
    finish();
    co_return;
  }
};

class CookieHandler : public whirl::RequestHandler {
 public:
  Task<void> get() override {
    set_header("Content-Type", "text/plain");
    for (const auto& [name, value] : request().cookies()) write(fmt::format("{}={}\n", name, value));
    co_return;
  }
};

class StreamHandler : public whirl::RequestHandler {
 public:
  Task<void> get() override {
    long n = std::strtol(std::string(get_argument("n", "10")).c_str(), nullptr, 10);
    if (n < 0 || n > 100000) throw whirl::HTTPError(400, "n must be 0..100000");
    set_header("Content-Type", "text/plain");
    for (long i = 0; i < n; ++i) {
      write(fmt::format("chunk {}\n", i));
      co_await flush();
    }
  }
};

class UploadHandler : public whirl::RequestHandler {
 public:
  bool stream_request_body() const override { return true; }
  Task<void> data_received(std::string_view chunk) override {
    bytes_ += chunk.size();
    co_return;
  }
  Task<void> post() override {
    set_header("Content-Type", "text/plain");
    write(fmt::format("{} bytes\n", bytes_));
    co_return;
  }
  Task<void> put() override { return post(); }

 private:
  std::uint64_t bytes_ = 0;
};

class EchoWebSocket : public whirl::WebSocketHandler {
 public:
  Task<void> on_message(std::string_view message, bool binary) override { co_await write_message(message, binary); }
  std::optional<whirl::DeflateOptions> get_compression_options() override { return whirl::DeflateOptions{}; }
};

// Stops accepting, closes idle connections, lets the others finish (5 s at most).
Task<void> drain(whirl::HTTPServer* server, whirl::IOLoop* loop) {
  server->stop();
  try {
    co_await whirl::with_timeout(5s, server->close_all_connections());
  } catch (const whirl::TimeoutError&) {
    whirl::log::gen().warning("{} connections still open after 5 s; exiting", server->http_connections());
  }
  loop->stop();
}

// "1.5" -> 1500 ms; a timeout flag's value.
std::chrono::milliseconds seconds_flag(const examples::ServerFlags& flags, std::string_view name, const char* text) {
  char* end = nullptr;
  double seconds = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(seconds > 0))
    flags.usage(fmt::format("{} needs a positive number of seconds", name));
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

// The bundled examples/static: found in the runfiles `bazel run` starts in,
// or beside the binary when it is run from elsewhere. A runfiles tree is
// symlinks to the sources, and StaticFileHandler serves nothing a symlink
// leads out of its root to, so the root is where index.html really is.
std::string bundled_static_root(const char* argv0) {
  for (std::string candidate :
       {std::string("examples/static"), std::string(argv0) + ".runfiles/whirl/examples/static"}) {
    char real[PATH_MAX];
    if (::realpath((candidate + "/index.html").c_str(), real) != nullptr) {
      return std::filesystem::path(real).parent_path().string();
    }
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  bool access_log = true;
  std::string static_root;
  whirl::HTTPServerOptions options;
  auto flags = examples::ServerFlags::parse(
      argc, argv, "hello_http",
      "[--no-access-log] [--idle-timeout S] [--header-timeout S] [--tls-handshake-timeout S] [--static-root DIR]",
      [&](const examples::ServerFlags& self, std::string_view arg, const std::function<const char*()>& value) {
        if (arg == "--no-access-log") {
          access_log = false;
        } else if (arg == "--idle-timeout") {
          options.idle_connection_timeout = seconds_flag(self, arg, value());
        } else if (arg == "--header-timeout") {
          options.header_timeout = seconds_flag(self, arg, value());
        } else if (arg == "--tls-handshake-timeout") {
          options.ssl_handshake_timeout = seconds_flag(self, arg, value());
        } else if (arg == "--static-root") {
          static_root = value();
        } else {
          return false;
        }
        return true;
      });
  options.ssl_options = flags.ssl_options();

  // WebSocket messages up to 32 MiB (Tornado's default is 10): the interop
  // tests send 16 MiB ones.
  if (static_root.empty()) static_root = bundled_static_root(argv[0]);
  whirl::Application::Settings settings{
      .compress_response = true, .access_log = access_log, .websocket_max_message_size = 32 * 1024 * 1024};
  settings.static_path = static_root;
  std::unique_ptr<whirl::Application> owned_app;
  try {
    owned_app = std::make_unique<whirl::Application>(settings);
  } catch (const std::system_error& e) {
    flags.usage(fmt::format("--static-root {}: {}", static_root, e.code().message()));
  }
  whirl::Application& app = *owned_app;
  app.add_handler<MainHandler>("/");
  app.add_handler<EchoHandler>("/echo");
  app.add_handler<CookieHandler>("/cookie");
  app.add_handler<StreamHandler>("/stream");
  app.add_handler<UploadHandler>("/upload");
  app.add_handler<EchoWebSocket>("/ws");

  std::unique_ptr<whirl::HTTPServer> owned;
  try {
    owned = std::make_unique<whirl::HTTPServer>(app, options);
  } catch (const std::invalid_argument& e) {
    flags.usage(e.what());  // a missing or mismatched certificate or key, named
  }
  whirl::HTTPServer& server = *owned;
  std::string scheme = flags.tls_cert.empty() ? "http" : "https";
  if (flags.unix_path.empty()) {
    flags.bind_or_exit([&] { server.bind(flags.port, flags.address); });
    const whirl::SocketAddress& where = server.addresses().front();
    std::string host = flags.address.empty() ? "127.0.0.1" : flags.address;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    fmt::print("hello_http: serving {}://{}:{}/{}\n", scheme, host, where.port(),
               flags.processes != 1 ? fmt::format(" ({} processes)", flags.processes) : "");
  } else {
    flags.bind_or_exit([&] { server.add_socket(whirl::bind_unix_socket(flags.unix_path)); });
    fmt::print("hello_http: serving {} on unix socket {}\n", scheme, flags.unix_path);
  }
  std::fflush(stdout);
  if (flags.unix_path.empty()) server.start(flags.processes);

  whirl::IOLoop& loop = whirl::IOLoop::current();
  examples::run_until_drained(loop, [&] { return drain(&server, &loop); });
  return 0;
}
