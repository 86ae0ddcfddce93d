// An HTTP/1.1 server in steady state allocates nothing per request: the
// request loop's frames come from FramePool, the parser, the headers and
// the stream buffers keep their storage from one request to the next.
//
// This binary replaces the global operator new to count the calls made on
// the server's loop thread while counting is on. The clients are blocking
// sockets on the test thread with stack buffers; they switch counting on
// only after a warm-up (every connection's buffers have reached their size)
// and off after the last answer has arrived, so the window holds exactly
// the requests counted. The server is the one bench/plaintext_server runs:
// a delegate that answers with four headers, the Date cached per second.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>

#include "whirl/http/httpserver.h"
#include "whirl/http/web.h"
#include "whirl/runtime/internal/frame_pool.h"
#include "whirl/testing/http_server_thread.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
thread_local bool t_server_thread = false;

void* counted(std::size_t size) {
  if (t_server_thread && g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = counted(size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace whirl {
namespace {

constexpr std::string_view kBody = "Hello, World!";

// One request, answered at finish(); its storage is FramePool's, as
// bench/plaintext_server's is, so the delegate itself reaches no malloc.
class HelloRequest final : public HTTPMessageDelegate {
 public:
  HelloRequest(HTTPHeaders& headers, HTTPConnection& connection) : headers_(headers), connection_(connection) {}
  static void* operator new(std::size_t size) { return FramePool::allocate(size); }
  static void operator delete(void* block, std::size_t size) noexcept { FramePool::deallocate(block, size); }

  Task<void> headers_received(const RequestStartLine&, const HTTPHeaders&) override { co_return; }
  Task<void> data_received(std::string_view chunk) override {
    body_bytes_ += chunk.size();
    co_return;
  }
  Task<void> finish() override {
    headers_.clear();
    headers_.add("Content-Type", "text/plain");
    headers_.add("Server", "whirl");
    headers_.add("Date", cached_http_date());
    headers_.add("Content-Length", "13");
    connection_.write_headers({"HTTP/1.1", 200, "OK"}, headers_, kBody);
    connection_.finish();
    co_return;
  }

 private:
  HTTPHeaders& headers_;
  HTTPConnection& connection_;
  std::size_t body_bytes_ = 0;
};

class HelloServer final : public HTTPServerConnectionDelegate {
 public:
  std::unique_ptr<HTTPMessageDelegate> start_request(HTTPConnection& connection) override {
    return std::make_unique<HelloRequest>(headers_, connection);
  }

 private:
  HTTPHeaders headers_;  // one response head, rebuilt per request on the loop thread
};

// A blocking client connection that sends batches of one request and
// counts the answers by their body, with no heap use of its own.
class Client {
 public:
  // Connected by RawClient (its receive timeout guards every read here).
  explicit Client(int port) : connection_(port, 10'000), fd_(connection_.fd()) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `depth` copies of `request` at once and reads their `depth` answers.
  void exchange(std::string_view request, int depth) {
    std::array<char, 8192> out;
    std::size_t size = 0;
    for (int i = 0; i < depth; ++i) {
      std::memcpy(out.data() + size, request.data(), request.size());
      size += request.size();
    }
    send_all(std::string_view(out.data(), size));
    read_answers(depth);
  }

 private:
  void send_all(std::string_view data) const {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads until `count` bodies have arrived. The bytes after the last body
  // found are kept (fewer than a body's length), so a body split over two
  // reads is still found once.
  void read_answers(int count) {
    while (count > 0) {
      ssize_t n = ::recv(fd_, buffer_.data() + kept_, buffer_.size() - kept_, 0);
      if (n <= 0) throw std::runtime_error("the server closed or timed out");
      std::string_view data(buffer_.data(), kept_ + static_cast<std::size_t>(n));
      std::size_t from = 0;
      for (std::size_t at; (at = data.find(kBody, from)) != std::string_view::npos; from = at + kBody.size()) --count;
      std::size_t keep = std::min(data.size() - from, kBody.size() - 1);
      std::memmove(buffer_.data(), data.data() + data.size() - keep, keep);
      kept_ = keep;
    }
  }

  testing::RawClient connection_;
  int fd_;
  std::array<char, 65536> buffer_{};
  std::size_t kept_ = 0;
};

constexpr std::string_view kGet = "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
constexpr std::string_view kPost =
    "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

// Warms `clients` up with `warmup` rounds, then counts the server's
// allocations over `rounds` more; returns the count.
long allocations_over(std::array<Client*, 4> clients, std::string_view request, int depth, int warmup, int rounds) {
  for (int i = 0; i < warmup; ++i) {
    for (Client* client : clients) client->exchange(request, depth);
  }
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < rounds; ++i) {
    for (Client* client : clients) client->exchange(request, depth);
  }
  g_counting = false;
  return g_allocations.load();
}

struct ServedLoop {
  HelloServer delegate;
  testing::ServerThread server{[this] {
    t_server_thread = true;  // `make` runs on the loop thread
    return std::make_unique<HTTPServer>(delegate);
  }};
  Client a{server.port()}, b{server.port()}, c{server.port()}, d{server.port()};
  std::array<Client*, 4> clients{&a, &b, &c, &d};
};

TEST(HTTPServerSteadyState, KeepAliveRequestsAllocateNothing) {
  ServedLoop served;
  long allocations = allocations_over(served.clients, kGet, 1, 500, 2'500);
  EXPECT_EQ(allocations, 0) << "heap allocations on the server over 10,000 keep-alive requests";
}

TEST(HTTPServerSteadyState, PipelinedRequestsAllocateNothing) {
  ServedLoop served;
  long allocations = allocations_over(served.clients, kGet, 16, 50, 250);
  EXPECT_EQ(allocations, 0) << "heap allocations on the server over 16,000 requests pipelined 16 deep";
}

TEST(HTTPServerSteadyState, RequestsWithABodyAllocateNothing) {
  ServedLoop served;
  long allocations = allocations_over(served.clients, kPost, 4, 200, 1'000);
  EXPECT_EQ(allocations, 0) << "heap allocations on the server over 16,000 POSTs with a Content-Length body";
}

// The counter sees the server's allocations at all: a connection's first
// requests grow its buffers, so a window without warm-up counts some. (If
// this fails, a zero above proves nothing.)
TEST(HTTPServerSteadyState, TheCounterSeesANewConnectionsAllocations) {
  HelloServer delegate;
  testing::ServerThread server([&delegate] {
    t_server_thread = true;
    return std::make_unique<HTTPServer>(delegate);
  });
  g_allocations = 0;
  g_counting = true;
  {
    Client client(server.port());
    client.exchange(kGet, 1);
  }
  g_counting = false;
  EXPECT_GT(g_allocations.load(), 0);
}

}  // namespace
}  // namespace whirl
