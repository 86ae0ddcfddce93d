// Boost.Beast's side of the WebSocket echo benchmark: a single-threaded
// WebSocket echo server (one io_context run on one thread). It accepts
// upgrades at any path, and each session reads one message at a time and
// writes it back with the same text/binary flag, as a single frame (compressed
// messages: frames of up to 64 KiB).
// permessage-deflate is off unless --compression is given; messages may be up
// to 32 MiB.
//
// Needs Debian's Boost 1.81 headers (`apt-get install -y libboost1.81-dev`);
// Beast and Asio are header-only. Build and run:
//
//     g++ -std=c++20 -O2 bench/beast_ws_echo.cc -o /tmp/beast_ws_echo -lpthread
//     /tmp/beast_ws_echo PORT [--compression]
//
// It listens on 127.0.0.1:PORT, prints READY once listening, and stops on
// SIGTERM/SIGINT.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxMessageBytes = 32u * 1024 * 1024;

// One WebSocket connection: handshake, then read -> write -> read ... until
// the peer closes or an error ends it. Kept alive by the shared_ptr that each
// pending handler holds.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, bool compression) : ws_(std::move(socket)) {
    websocket::permessage_deflate deflate;
    deflate.server_enable = compression;
    deflate.client_enable = compression;
    ws_.set_option(deflate);
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(kMaxMessageBytes);
    // Echo each message as one frame instead of Beast's default 4 KiB pieces.
    ws_.auto_fragment(false);
    // A compressed message still goes out in frames of at most this many
    // bytes (default 4 KiB); 16 MiB in 4 KiB frames is very slow for peers
    // that reassemble fragments by concatenation (Tornado's client does).
    ws_.write_buffer_bytes(64 * 1024);
  }

  void start() {
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->write();
      // websocket::error::closed is the clean close; any error ends the session.
    });
  }

  void write() {
    ws_.text(ws_.got_text());
    ws_.async_write(buffer_.data(), [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
      if (ec) return;
      self->buffer_.consume(bytes);
      self->read();
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
};

// Accepts TCP connections forever and starts a Session on each.
class Listener {
 public:
  Listener(asio::io_context& ioc, const tcp::endpoint& endpoint, bool compression)
      : acceptor_(ioc), compression_(compression) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!ec) std::make_shared<Session>(std::move(socket), compression_)->start();
      if (acceptor_.is_open()) accept();
    });
  }

  void close() { acceptor_.close(); }

 private:
  tcp::acceptor acceptor_;
  bool compression_;
};

int usage() {
  std::fprintf(stderr, "usage: beast_ws_echo PORT [--compression]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  char* end = nullptr;
  long port = std::strtol(argv[1], &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) return usage();
  bool compression = false;
  for (int i = 2; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--compression") {
      compression = true;
    } else {
      return usage();
    }
  }

  asio::io_context ioc(1);  // concurrency hint: one thread, no locking needed
  try {
    Listener listener(ioc, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)}, compression);
    listener.accept();

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
      listener.close();
      ioc.stop();
    });

    std::printf("READY\n");
    std::fflush(stdout);
    ioc.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beast_ws_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
