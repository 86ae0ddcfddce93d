// A TCP server that answers each request with bytes a test scripts, on
// threads of its own: for client tests that need a server to misbehave
// exactly (a malformed head, a body cut short, a close at the wrong moment,
// an answer that trickles or never comes). Tests only.
//
//     ScriptedServer server([](const ScriptedServer::Request& request) {
//       return ScriptedServer::Reply{.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
//     });
//     ... fetch "http://127.0.0.1:" + std::to_string(server.port()) + "/" ...
//     server.connections();   // how many were accepted
//
// A request is read as its head plus a Content-Length body or a chunked one
// (up to "0\r\n\r\n"); a head with Expect: 100-continue is handed over
// without waiting for its body, whose bytes then show up in `received` (and
// are read as the start of the next request, so such a script should close).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace whirl::testing {

class ScriptedServer {
 public:
  struct Request {
    std::string text;    // head and body as received
    int connection = 0;  // 0, 1, ... in accept order
    int index = 0;       // the request's place on its connection: 0, 1, ...
  };
  struct Reply {
    std::string bytes{};
    bool close = false;                     // close the connection after the reply
    bool hang = false;                      // send nothing, keep reading until the client or the server ends
    std::chrono::milliseconds delay{0};     // before the reply
    std::chrono::milliseconds per_byte{0};  // trickle: one byte per interval
    bool reset = false;                     // abort the connection (RST) instead of replying
  };
  using Script = std::function<Reply(const Request&)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener_, 64) != 0)
      throw std::runtime_error("ScriptedServer: bind/listen");
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(threads_);
    }
    for (std::thread& thread : threads) thread.join();
    ::close(listener_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  int port() const noexcept { return port_; }
  std::string url(std::string_view path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  int connections() const noexcept { return accepted_.load(); }
  // Connections whose client went away (or that the script closed).
  int finished_connections() const noexcept { return finished_.load(); }
  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // Everything connection `n` received.
  std::string received(int n) const {
    std::lock_guard lock(mutex_);
    return n < static_cast<int>(received_.size()) ? received_[static_cast<std::size_t>(n)] : std::string();
  }

 private:
  // Waits up to 50 ms for `fd`; false when the server is ending.
  bool wait_readable(int fd) const {
    for (;;) {
      if (stopping_) return false;
      pollfd p{fd, POLLIN, 0};
      int ready = ::poll(&p, 1, 50);
      if (ready > 0) return true;
    }
  }

  void accept_loop() {
    while (wait_readable(listener_)) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      int n = accepted_++;
      std::lock_guard lock(mutex_);
      received_.emplace_back();
      threads_.emplace_back([this, fd, n] { serve(fd, n); });
    }
  }

  // Reads one more request from `fd` into `buffer`; false at EOF or stop.
  bool read_request(int fd, int n, std::string& buffer, std::string& request) {
    for (;;) {
      std::size_t end = buffer.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = buffer.substr(0, end + 4);
        std::string lower = head;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::size_t total = end + 4;
        bool complete = true;
        if (lower.find("\r\nexpect: 100-continue") != std::string::npos) {
          // handed over at once: the script decides whether the body may come
        } else if (std::size_t cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
          total += std::stoul(head.substr(cl + 17));
          complete = buffer.size() >= total;
        } else if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
          std::size_t last = buffer.find("\r\n0\r\n\r\n", end + 2);
          complete = last != std::string::npos;
          if (complete) total = last + 7;
        }
        if (complete) {
          request = buffer.substr(0, total);
          buffer.erase(0, total);
          return true;
        }
      }
      if (!wait_readable(fd)) return false;
      char chunk[65536];
      ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
      if (got <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(got));
      std::lock_guard lock(mutex_);
      received_[static_cast<std::size_t>(n)].append(chunk, static_cast<std::size_t>(got));
    }
  }

  void send_all(int fd, std::string_view bytes, std::chrono::milliseconds per_byte) const {
    while (!bytes.empty() && !stopping_) {
      std::size_t size = per_byte.count() > 0 ? 1 : bytes.size();
      ssize_t sent = ::send(fd, bytes.data(), size, MSG_NOSIGNAL);
      if (sent <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
      if (per_byte.count() > 0) std::this_thread::sleep_for(per_byte);
    }
  }

  void serve(int fd, int n) {
    std::string buffer;
    std::string text;
    for (int index = 0; read_request(fd, n, buffer, text); ++index) {
      {
        std::lock_guard lock(mutex_);
        requests_.push_back({text, n, index});
      }
      Reply reply = script_({text, n, index});
      if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);
      if (reply.reset) {
        linger abort{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        break;
      }
      if (reply.hang) {  // answers nothing, still takes in what comes
        char chunk[65536];
        while (wait_readable(fd)) {
          ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
          if (got <= 0) break;
          std::lock_guard lock(mutex_);
          received_[static_cast<std::size_t>(n)].append(chunk, static_cast<std::size_t>(got));
        }
        break;
      }
      send_all(fd, reply.bytes, reply.per_byte);
      if (reply.close) break;
    }
    ::close(fd);
    ++finished_;
  }

  Script script_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> finished_{0};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::thread> threads_;
  std::vector<Request> requests_;
  std::vector<std::string> received_;
};

}  // namespace whirl::testing
