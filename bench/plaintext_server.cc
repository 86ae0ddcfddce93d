// bench/plaintext_server: TechEmpower's "plaintext" test on whirl's HTTPServer.
//
//     plaintext_server --port 8080 [--address 127.0.0.1] [--processes N]
//
// Every request, whatever its method or path, is answered
//
//     HTTP/1.1 200 OK
//     Content-Type: text/plain
//     Content-Length: 13
//     Server: whirl
//     Date: <IMF-fixdate, refreshed once a second>
//
//     Hello, World!
//
// with no access log. Server and Date are written by the HTTPServer
// (HTTPServerOptions::server_header and date_header), the others by the
// delegate. It is written against the HTTPServerConnectionDelegate
// protocol, the layer a framework sits on, not against a hand-rolled
// responder: it measures whirl's HTTP/1.1 stack (strict parser, keep-alive
// and pipelining rules, flush hold) as a user gets it.
//
// Built as `plaintext_server_counting` it links bench/counting_allocator.cc,
// and `GET /allocations` answers "allocations=A requests=R" (global
// operator new calls and requests served so far, this process), so
// bench/compare.sh can measure heap allocations per request in steady state.
#include <fmt/core.h>

#include <string_view>

#include "bench/bench_server.h"
#include "bench/counting_allocator.h"
#include "examples/server_flags.h"
#include "whirl/http/httpserver.h"
#include "whirl/http/web.h"
#include "whirl/runtime/internal/frame_pool.h"

using whirl::HTTPConnection;
using whirl::HTTPHeaders;
using whirl::RequestStartLine;
using whirl::Task;

namespace {

constexpr std::string_view kBody = "Hello, World!";

class PlaintextServer;

// One request. Its storage comes from FramePool (the coroutine frames'
// per-thread free lists), so the per-request delegate the protocol asks for
// is recycled instead of reaching malloc.
class PlaintextRequest final : public whirl::HTTPMessageDelegate {
 public:
  PlaintextRequest(PlaintextServer& server, HTTPConnection& connection) : server_(server), connection_(connection) {}

  static void* operator new(std::size_t size) { return whirl::FramePool::allocate(size); }
  static void operator delete(void* block, std::size_t size) noexcept { whirl::FramePool::deallocate(block, size); }

  Task<void> headers_received(const RequestStartLine& start_line, const HTTPHeaders&) override {
    wants_allocations_ = start_line.path == "/allocations" && bench::counted_allocations().has_value();
    co_return;
  }
  Task<void> data_received(std::string_view) override { co_return; }
  Task<void> finish() override;

 private:
  PlaintextServer& server_;
  HTTPConnection& connection_;
  bool wants_allocations_ = false;
};

class PlaintextServer final : public whirl::HTTPServerConnectionDelegate {
 public:
  std::unique_ptr<whirl::HTTPMessageDelegate> start_request(HTTPConnection& connection) override {
    return std::make_unique<PlaintextRequest>(*this, connection);
  }

  // The response head is rebuilt in one HTTPHeaders kept for the server:
  // write_headers() formats it into the connection's output synchronously,
  // so one object serves every connection of this (single-threaded) loop and
  // its storage is reused instead of allocated per request.
  void respond(HTTPConnection& connection, std::string_view body) {
    ++requests_;
    headers_.clear();
    headers_.add("Content-Type", "text/plain");
    headers_.add("Content-Length", length_text(body.size()));
    connection.write_headers({"HTTP/1.1", 200, "OK"}, headers_, body);
    connection.finish();
  }

  long requests() const noexcept { return requests_; }

 private:
  std::string_view length_text(std::size_t n) {
    auto end = fmt::format_to(length_, "{}", n);
    return std::string_view(length_, static_cast<std::size_t>(end - length_));
  }

  HTTPHeaders headers_;
  char length_[24] = {};
  long requests_ = 0;
};

Task<void> PlaintextRequest::finish() {
  if (!wants_allocations_) {
    server_.respond(connection_, kBody);
    co_return;
  }
  std::string report = fmt::format("allocations={} requests={}\n", *bench::counted_allocations(), server_.requests());
  server_.respond(connection_, report);
}

}  // namespace

int main(int argc, char** argv) {
  examples::ServerFlags flags = examples::ServerFlags::parse(argc, argv, "plaintext_server");
  PlaintextServer delegate;
  // Server and Date are the server's own (written as bytes, as nginx writes
  // them); Tornado's defaults otherwise: an idle keep-alive connection may
  // wait an hour.
  whirl::HTTPServer server(delegate,
                           {.ssl_options = flags.ssl_options(), .server_header = "whirl", .date_header = true});
  bench::listen(server, flags);
  fmt::print("plaintext_server: serving http://{}:{}/{}\n", flags.address.empty() ? "127.0.0.1" : flags.address,
             server.addresses().front().port(),
             flags.processes != 1 ? fmt::format(" ({} processes)", flags.processes) : "");
  std::fflush(stdout);
  bench::serve_until_drained(server, flags.processes);
  return 0;
}
