// bench/echo_loadgen: an echo load generator on whirl's client side.
//
//     echo_loadgen --port 9000 [--host 127.0.0.1] [--connections 64] [--size 64]
//                  [--pipeline 1] [--duration 5] [--warmup 1] [--tls] [--handshakes]
//                  [--websocket PATH]
//
// Each connection sends `pipeline` messages of `size` bytes in one write,
// reads them all back, and repeats; a message's latency is its round trip.
// Prints one line: messages/s, MiB/s, p50/p99 latency, loader CPU seconds,
// and errors. Any short or mismatched echo counts as an error.
//
// --tls speaks TLS 1.3 (one client SSL_CTX, the server's certificate not
// verified: the loader's core should spend its time on the exchange, not on
// checking signatures). --handshakes measures new connections instead: each
// connection task connects, completes a TLS handshake, sends one small HTTP
// request (an echo server echoes it, an HTTP server answers it), reads the
// first byte of the answer and closes, over and over; "messages" are then
// handshakes.
//
// --websocket PATH speaks WebSocket to an echo at PATH (HttpArena's echo-ws
// shape): each connection does the handshake (checking the 101), then sends
// `pipeline` masked binary messages of `size` bytes in one write and reads
// their unmasked echoes back, byte for byte. The frames are built once (one
// mask key), so the loader spends its core on the exchange.
#include <fmt/core.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "whirl/http/websocket_frame.h"
#include "whirl/net/ssl_options.h"
#include "whirl/net/tcpclient.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"

using namespace std::chrono_literals;
using whirl::Task;

namespace {

struct Config {
  std::string host = "127.0.0.1";
  int port = 9000;
  int connections = 64;
  std::size_t size = 64;
  int pipeline = 1;
  double duration = 5;
  double warmup = 1;
  bool tls = false;
  bool handshakes = false;
  std::string websocket_path;  // set: WebSocket messages instead of raw bytes
  std::shared_ptr<const whirl::SSLContext> context;
};

struct Stats {
  long messages = 0;
  long errors = 0;
  std::vector<double> latencies_us;
  bool measuring = false;
  bool done = false;
};

Task<std::unique_ptr<whirl::IOStream>> open(const Config* config) {
  if (config->context) {
    whirl::TCPClient::ConnectOptions tls{.ssl_context = config->context};
    co_return co_await whirl::TCPClient::connect(config->host, config->port, tls);
  }
  co_return co_await whirl::TCPClient::connect(config->host, config->port);
}

// One full handshake per iteration (see the file comment).
Task<void> handshaker(const Config* config, Stats* stats) {
  const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  while (!stats->done) {
    whirl::TimePoint start = whirl::Clock::now();
    try {
      std::unique_ptr<whirl::IOStream> stream = co_await open(config);
      stream->set_nodelay(true);
      stream->write(request);
      std::string first = co_await stream->read_bytes(1);
      if (first.empty()) ++stats->errors;
    } catch (const std::exception&) {
      ++stats->errors;
      continue;
    }
    if (stats->measuring) {
      ++stats->messages;
      stats->latencies_us.push_back(std::chrono::duration<double, std::micro>(whirl::Clock::now() - start).count());
    }
  }
}

// The WebSocket opening handshake; false unless the server answered 101.
Task<bool> upgrade(whirl::IOStream& stream, const Config* config) {
  std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      config->websocket_path, config->host, config->port);
  co_await stream.write(request);
  std::string head = co_await stream.read_until("\r\n\r\n", 16 * 1024);
  co_return head.starts_with("HTTP/1.1 101");
}

// What one round sends and what must come back: raw bytes echo as they
// are; WebSocket messages go masked and come back unmasked.
void build_round(const Config* config, std::string& out, std::string& expected) {
  std::string message(config->size, 'x');
  for (int i = 0; i < config->pipeline; ++i) {
    if (config->websocket_path.empty()) {
      out += message;
      continue;
    }
    whirl::append_frame(out, whirl::Opcode::kBinary, message, {.mask_key = whirl::MaskKey{0x5a, 0x17, 0xc3, 0x88}});
    whirl::append_frame(expected, whirl::Opcode::kBinary, message);
  }
  if (config->websocket_path.empty()) expected = out;
}

Task<void> connection(const Config* config, Stats* stats) {
  std::unique_ptr<whirl::IOStream> stream;
  try {
    stream = co_await open(config);
    if (!config->websocket_path.empty()) {
      bool upgraded = co_await upgrade(*stream, config);  // (not inside the if: GCC 12)
      if (!upgraded) throw std::runtime_error("no 101");
    }
  } catch (const std::exception&) {
    ++stats->errors;
    co_return;
  }
  stream->set_nodelay(true);
  std::string batch;
  std::string expected;
  build_round(config, batch, expected);
  while (!stats->done) {
    whirl::TimePoint start = whirl::Clock::now();
    try {
      stream->write(batch);
      std::string echoed = co_await stream->read_bytes(expected.size());
      if (echoed != expected) ++stats->errors;
    } catch (const std::exception&) {
      ++stats->errors;
      co_return;
    }
    if (stats->measuring) {
      double us = std::chrono::duration<double, std::micro>(whirl::Clock::now() - start).count();
      stats->messages += config->pipeline;
      stats->latencies_us.push_back(us);
    }
  }
}

Config parse(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--tls" || flag == "--handshakes") {
      (flag == "--tls" ? config.tls : config.handshakes) = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      fmt::print(stderr, "echo_loadgen: {} needs a value\n", flag);
      std::exit(2);
    }
    std::string value = argv[i + 1];
    if (flag == "--host")
      config.host = value;
    else if (flag == "--port")
      config.port = std::atoi(value.c_str());
    else if (flag == "--connections")
      config.connections = std::atoi(value.c_str());
    else if (flag == "--size")
      config.size = static_cast<std::size_t>(std::atol(value.c_str()));
    else if (flag == "--pipeline")
      config.pipeline = std::atoi(value.c_str());
    else if (flag == "--duration")
      config.duration = std::atof(value.c_str());
    else if (flag == "--warmup")
      config.warmup = std::atof(value.c_str());
    else if (flag == "--websocket")
      config.websocket_path = value;
    else {
      fmt::print(stderr, "echo_loadgen: unknown flag {}\n", flag);
      std::exit(2);
    }
  }
  return config;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Config config = parse(argc, argv);
  if (config.tls) {
    whirl::SSLOptions tls;
    tls.cert_reqs = whirl::SSLOptions::CertReqs::kNone;
    tls.min_version = "TLSv1.3";
    config.context = whirl::SSLContext::create(tls, /*server_side=*/false);
  }
  whirl::IOLoop loop;
  Stats stats;
  stats.latencies_us.reserve(1 << 22);
  for (int i = 0; i < config.connections; ++i) {
    loop.spawn(config.handshakes ? handshaker(&config, &stats) : connection(&config, &stats));
  }
  double cpu_start = 0;
  whirl::TimePoint measure_start;
  loop.call_later(std::chrono::duration_cast<whirl::Duration>(std::chrono::duration<double>(config.warmup)), [&] {
    stats.measuring = true;
    cpu_start = cpu_seconds();
    measure_start = whirl::Clock::now();
  });
  double cpu_used = 0;
  double elapsed = 0;
  loop.call_later(
      std::chrono::duration_cast<whirl::Duration>(std::chrono::duration<double>(config.warmup + config.duration)), [&] {
        stats.measuring = false;
        stats.done = true;
        cpu_used = cpu_seconds() - cpu_start;
        elapsed = std::chrono::duration<double>(whirl::Clock::now() - measure_start).count();
        loop.stop();
      });
  loop.run();
  std::sort(stats.latencies_us.begin(), stats.latencies_us.end());
  auto percentile = [&](double p) {
    if (stats.latencies_us.empty()) return 0.0;
    return stats.latencies_us[static_cast<std::size_t>(p * (stats.latencies_us.size() - 1))];
  };
  double rate = elapsed > 0 ? static_cast<double>(stats.messages) / elapsed : 0;
  fmt::print("messages_per_s={:.0f} mib_per_s={:.1f} p50_us={:.0f} p99_us={:.0f} loader_cpu_s={:.2f} errors={}\n", rate,
             rate * static_cast<double>(config.size) / (1 << 20), percentile(0.50), percentile(0.99), cpu_used,
             stats.errors);
  std::fflush(stdout);
  std::_Exit(stats.errors == 0 ? 0 : 1);  // open connections need no orderly teardown here
}
