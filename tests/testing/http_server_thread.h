// An HTTPServer on its own thread and loop, and a blocking raw-socket client,
// for conformance tests that speak bytes at the server (tests only).
//
//     ServerThread server(app, {.max_body_size = 1024});
//     RawClient client(server.port());
//     client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
//     std::string response = client.read_response();   // one framed response
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "whirl/http/httpserver.h"
#include "whirl/net/netutil.h"
#include "whirl/runtime/ioloop.h"

namespace whirl::testing {

class ServerThread {
 public:
  // `make` builds the server on the loop thread; `unix_path` serves a unix socket instead of TCP.
  ServerThread(std::function<std::unique_ptr<HTTPServer>()> make, std::string unix_path = "") {
    thread_ = std::thread([this, make = std::move(make), unix_path] {
      IOLoop loop;
      std::unique_ptr<HTTPServer> server = make();
      if (unix_path.empty()) {
        server->listen(0, "127.0.0.1");
      } else {
        server->add_socket(bind_unix_socket(unix_path));
      }
      {
        std::lock_guard lock(mutex_);
        loop_ = &loop;
        server_ = server.get();
        port_ = unix_path.empty() ? server->addresses().front().port() : 0;
      }
      ready_.notify_all();
      loop.run();
      server.reset();
      // The loop (and its wake-up eventfd) must outlive the add_callback
      // call that stopped it, which may still be writing on the test thread.
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stop_sent_; });
    });
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return loop_ != nullptr; });
  }
  ServerThread(HTTPServerConnectionDelegate& app, HTTPServerOptions options = {})
      : ServerThread([&app, options] { return std::make_unique<HTTPServer>(app, options); }) {}
  ~ServerThread() {
    loop_->add_callback([loop = loop_] { loop->stop(); });
    {
      std::lock_guard lock(mutex_);
      stop_sent_ = true;
    }
    ready_.notify_all();
    thread_.join();
  }
  int port() const { return port_; }
  IOLoop& loop() { return *loop_; }
  HTTPServer& server() { return *server_; }

 private:
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable ready_;
  IOLoop* loop_ = nullptr;
  HTTPServer* server_ = nullptr;
  int port_ = 0;
  bool stop_sent_ = false;
};

class RawClient {
 public:
  explicit RawClient(int port, int timeout_ms = 5000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) throw std::runtime_error("connect");
    set_timeout(timeout_ms);
  }
  explicit RawClient(const std::string& unix_path, int timeout_ms = 5000) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, unix_path.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) throw std::runtime_error("connect");
    set_timeout(timeout_ms);
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(std::string_view data) const {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("send failed");
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Everything until the server closes (or the timeout: then "" + what came).
  std::string read_until_close() {
    std::string out = std::move(pending_);
    pending_.clear();
    char buffer[65536];
    for (;;) {
      ssize_t n = receive(buffer, sizeof buffer);
      if (n <= 0) {
        closed_ = n == 0;
        return out;
      }
      out.append(buffer, static_cast<std::size_t>(n));
    }
  }
  // True if the server closed (EOF) within the timeout.
  bool closed_by_server() {
    read_until_close();
    return closed_;
  }
  // One response: the head and a Content-Length or chunked body (as sent).
  std::string read_response() {
    std::size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return std::exchange(pending_, {});
    }
    head_end += 4;
    std::string head = pending_.substr(0, head_end);
    std::size_t body_end = head_end;
    std::string lower;
    for (char c : head) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    std::size_t cl = lower.find("\r\ncontent-length:");
    bool is_head_or_1xx = head.compare(9, 1, "1") == 0 || no_body_next_;
    no_body_next_ = false;
    if (is_head_or_1xx) {
    } else if (cl != std::string::npos) {
      body_end += std::stoul(head.substr(cl + 17));
      while (pending_.size() < body_end) {
        if (!fill()) break;
      }
    } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      for (;;) {
        std::size_t end = pending_.find("0\r\n\r\n", head_end);
        if (end != std::string::npos && (pending_[end - 1] == '\n')) {
          body_end = end + 5;
          break;
        }
        if (!fill()) {
          body_end = pending_.size();
          break;
        }
      }
    }
    body_end = std::min(body_end, pending_.size());
    std::string response = pending_.substr(0, body_end);
    pending_.erase(0, body_end);
    return response;
  }
  // Exactly `n` bytes (what was buffered first); fewer if the server
  // closed or the timeout passed.
  std::string read_exact(std::size_t n) {
    while (pending_.size() < n) {
      if (!fill()) break;
    }
    std::size_t take = std::min(n, pending_.size());
    std::string out = pending_.substr(0, take);
    pending_.erase(0, take);
    return out;
  }
  // The next read_response() is for a HEAD request.
  void expect_no_body() { no_body_next_ = true; }
  int fd() const { return fd_; }

 private:
  void set_timeout(int ms) const {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  // recv, retried when interrupted. A socket with SO_RCVTIMEO is not
  // restarted after a signal, and a thread that ran an io_uring (a test's
  // own IOLoop) gets task-work notifications that interrupt it the same way.
  ssize_t receive(char* buffer, std::size_t size) const {
    for (;;) {
      ssize_t n = ::recv(fd_, buffer, size, 0);
      if (n >= 0 || errno != EINTR) return n;
    }
  }
  bool fill() {
    char buffer[65536];
    ssize_t n = receive(buffer, sizeof buffer);
    if (n <= 0) {
      closed_ = n == 0;
      return false;
    }
    pending_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string pending_;
  bool closed_ = false;
  bool no_body_next_ = false;
};

// The body of a response read by read_response (chunked framing removed).
inline std::string body_of(const std::string& response) {
  std::size_t head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos) return {};
  std::string body = response.substr(head_end + 4);
  if (response.find("Transfer-Encoding: chunked") == std::string::npos) return body;
  std::string out;
  std::size_t at = 0;
  while (at < body.size()) {
    std::size_t line_end = body.find("\r\n", at);
    if (line_end == std::string::npos) break;
    std::size_t size = std::stoul(body.substr(at, line_end - at), nullptr, 16);
    if (size == 0) break;
    out += body.substr(line_end + 2, size);
    at = line_end + 2 + size + 2;
  }
  return out;
}

}  // namespace whirl::testing
