// whirl/net/netutil.h: Tornado's netutil: listening sockets and accepting.
//
//     std::vector<Socket> sockets = bind_sockets(8888);           // v4 and v6
//     Socket unix_socket = bind_unix_socket("/tmp/app.sock");
//     AcceptHandle handle = add_accept_handler(std::move(sockets[0]),
//         [](Socket connection, SocketAddress address) { ... });
//     handle.remove();                                          // idempotent
//
// Accepting uses one multishot accept per listening socket (one-shot
// accepts for a socket shared by forked children, so they share the load). At most 128
// connections are handed over per socket per loop turn, so a busy port
// cannot starve another one (or the connections already open). EMFILE and
// ENFILE never spin the loop: the first one is logged, accepting pauses
// briefly and resumes; open connections keep being served meanwhile.
// ECONNABORTED (a client that gave up while queued) is skipped.
#pragma once

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "whirl/net/socket.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {

constexpr int kDefaultBacklog = 128;

// Creates listening sockets for every address `address` resolves to ("" is
// every interface). SO_REUSEADDR always; SO_REUSEPORT when `reuse_port`
// (std::system_error if the system lacks it); IPV6_V6ONLY on v6 sockets.
// With port 0 every socket gets the same kernel-chosen port.
std::vector<Socket> bind_sockets(int port, const std::string& address = "", int family = AF_UNSPEC,
                                 int backlog = kDefaultBacklog, int flags = AI_PASSIVE, bool reuse_port = false);

// A listening unix socket. A stale socket file at `path` is removed; any
// other kind of file there is an error (std::invalid_argument), never
// deleted. A path starting with '\0' is in the abstract namespace.
Socket bind_unix_socket(const std::string& path, mode_t mode = 0600, int backlog = kDefaultBacklog);

// True if `address` is a numeric IPv4 or IPv6 address.
bool is_valid_ip(const std::string& address);

using AcceptCallback = std::function<void(Socket connection, SocketAddress address)>;

// Stops accepting when remove() is called or when destroyed. The listening
// socket is closed once its accept request has left the kernel, so its
// descriptor number is never reused under a pending request.
class AcceptHandle {
 public:
  AcceptHandle() = default;
  explicit AcceptHandle(SpawnHandle task) noexcept : task_(task) {}
  AcceptHandle(AcceptHandle&& other) noexcept : task_(std::exchange(other.task_, SpawnHandle{})) {}
  AcceptHandle& operator=(AcceptHandle&& other) noexcept {
    if (this != &other) {
      remove();
      task_ = std::exchange(other.task_, SpawnHandle{});
    }
    return *this;
  }
  ~AcceptHandle() { remove(); }

  void remove() const { task_.cancel(); }
  bool active() const { return !task_.done(); }

 private:
  SpawnHandle task_;
};

// Calls `callback` on the current IOLoop for each accepted connection.
AcceptHandle add_accept_handler(Socket listener, AcceptCallback callback);

}  // namespace whirl
