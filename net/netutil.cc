#include "whirl/net/netutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <system_error>

#include "whirl/net/process.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/log.h"
#include "whirl/runtime/operation.h"

namespace whirl {
namespace {

constexpr int kMaxAcceptsPerTurn = 128;
constexpr auto kAcceptPauseOnExhaustion = std::chrono::milliseconds(100);

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const noexcept { freeaddrinfo(info); }
};

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

std::vector<Socket> bind_sockets(int port, const std::string& address, int family, int backlog, int flags,
                                 bool reuse_port) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags | AI_PASSIVE;
  addrinfo* raw = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(address.empty() ? nullptr : address.c_str(), service.c_str(), &hints, &raw);
  if (rc != 0) throw std::runtime_error("bind_sockets: cannot resolve '" + address + "': " + gai_strerror(rc));
  std::unique_ptr<addrinfo, AddrInfoDeleter> results(raw);

  // Tornado sorts by family so IPv4 comes first, and skips duplicates.
  std::vector<const addrinfo*> entries;
  for (const addrinfo* info = results.get(); info != nullptr; info = info->ai_next) entries.push_back(info);
  // (An insertion sort: stable, and the list is a handful of entries.)
  for (std::size_t i = 1; i < entries.size(); ++i) {
    for (std::size_t j = i; j > 0 && entries[j]->ai_family < entries[j - 1]->ai_family; --j) {
      std::swap(entries[j], entries[j - 1]);
    }
  }

  std::vector<Socket> sockets;
  std::vector<std::string> seen;
  int bound_port = 0;
  for (const addrinfo* info : entries) {
    std::string key(reinterpret_cast<const char*>(info->ai_addr), info->ai_addrlen);
    key += static_cast<char>(info->ai_family);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);

    Socket socket = Socket::create(info->ai_family, info->ai_socktype, info->ai_protocol);
    socket.set_option(SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    if (reuse_port) socket.set_option(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT is not supported here");
    if (info->ai_family == AF_INET6) socket.set_option(IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");

    SocketAddress target(info->ai_addr, info->ai_addrlen);
    // Port 0 asks the kernel for a port; every further address reuses the
    // first one's, so v4 and v6 listen on the same number.
    if (port == 0 && bound_port != 0) {
      if (target.family() == AF_INET) reinterpret_cast<sockaddr_in*>(target.data())->sin_port = htons(bound_port);
      if (target.family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(target.data())->sin6_port = htons(bound_port);
    }
    if (::bind(socket.native_handle(), target.data(), target.size()) != 0) {
      int error = errno;
      // Some systems (containers with IPv6 half disabled) resolve
      // "localhost" to ::1 but refuse to bind it; skip only that case, any
      // other EADDRNOTAVAIL is a real configuration problem.
      if (error == EADDRNOTAVAIL && address == "localhost" && target.family() == AF_INET6) continue;
      throw_errno(error, "bind " + target.to_string());
    }
    bound_port = socket.local_address().port();
    if (::listen(socket.native_handle(), backlog) != 0) throw_errno(errno, "listen " + target.to_string());
    sockets.push_back(std::move(socket));
  }
  if (sockets.empty()) throw std::runtime_error("bind_sockets: no usable address for '" + address + "'");
  return sockets;
}

Socket bind_unix_socket(const std::string& path, mode_t mode, int backlog) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    throw std::invalid_argument("bind_unix_socket: bad path length for '" + path + "'");
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  bool abstract = path[0] == '\0';
  if (!abstract) {
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) {
      if (!S_ISSOCK(info.st_mode)) {
        throw std::invalid_argument("bind_unix_socket: file " + path + " exists and is not a socket");
      }
      ::unlink(path.c_str());  // a stale socket from an earlier run
    }
  }
  Socket socket = Socket::create(AF_UNIX, SOCK_STREAM);
  auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  if (::bind(socket.native_handle(), reinterpret_cast<sockaddr*>(&address), size) != 0) {
    throw_errno(errno, "bind unix socket " + path);
  }
  if (!abstract && ::chmod(path.c_str(), mode) != 0) throw_errno(errno, "chmod " + path);
  if (::listen(socket.native_handle(), backlog) != 0) throw_errno(errno, "listen " + path);
  return socket;
}

bool is_valid_ip(const std::string& address) {
  if (address.empty() || address.find('\0') != std::string::npos) return false;
  unsigned char bytes[sizeof(in6_addr)];
  if (inet_pton(AF_INET, address.c_str(), bytes) == 1) return true;
  // An IPv6 address may carry a zone ("fe80::1%eth0").
  std::string host = address.substr(0, address.find('%'));
  return inet_pton(AF_INET6, host.c_str(), bytes) == 1;
}

namespace {

// The multishot accept of one listening socket. Connections accepted but not
// yet handed over when the stream is destroyed are closed here.
//
// A listening socket shared with other processes (inherited across
// fork_processes) gets one-shot accepts instead: the kernel wakes exactly one
// accept waiter per connection, the first in the socket's wait queue, and a
// multishot accept never leaves that queue, so one child would take every
// connection. A one-shot accept re-queues at the tail after each connection,
// which spreads connections across the children.
class AcceptStream final : public MultishotOperation {
 public:
  AcceptStream(int fd, bool multishot)
      : MultishotOperation([fd, multishot](io_uring_sqe* sqe) {
          if (multishot) {
            io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          } else {
            io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          }
        }) {}
  // Accepted connections not yet handed over are closed here, not leaked.
  ~AcceptStream() override { shut_down(); }

 protected:
  void discard(const CqeResult& completion) override {
    if (completion.result >= 0) ::close(completion.result);
  }
};

// Gives an accepted connection to the callback. A client that is already
// gone (getpeername fails with ENOTCONN after a reset) is dropped, and an
// exception from the callback is logged: neither may end the accept loop.
void hand_over(Socket connection, AcceptCallback& callback, const Socket& listener) {
  SocketAddress address;
  if (::getpeername(connection.native_handle(), address.data(), address.size_ptr()) != 0) return;
  try {
    callback(std::move(connection), address);
  } catch (const std::exception& e) {
    log::app().error("Exception in accept callback on {}: {}", listener.local_address().to_string(), e.what());
  } catch (...) {
    log::app().error("Exception in accept callback on {}: unknown exception", listener.local_address().to_string());
  }
}

Task<void> accept_loop(Socket listener, AcceptCallback callback) {
  CancellationToken* token = co_await current_token();
  bool shared = task_id().has_value() && listener.get_option(SOL_SOCKET, SO_REUSEPORT) == 0;
  AcceptStream accepts(listener.native_handle(), /*multishot=*/!shared);
  accepts.start();
  bool exhaustion_logged = false;
  for (;;) {
    for (int handed = 0; handed < kMaxAcceptsPerTurn; ++handed) {
      CqeResult completion = co_await accepts.next();
      if (completion.result >= 0) {
        hand_over(Socket::adopt(completion.result), callback, listener);
        // The callback may have removed this handler (AcceptHandle::remove).
        if (token != nullptr && token->cancelled()) co_return;
      } else if (completion.result == -EMFILE || completion.result == -ENFILE) {
        if (!exhaustion_logged) {
          log::gen().error("Out of file descriptors accepting on {}: {}; pausing accepts",
                           listener.local_address().to_string(), std::strerror(-completion.result));
          exhaustion_logged = true;
        }
        if (completion.more) accepts.stop();
        while (accepts.armed() || accepts.queued() > 0) {
          CqeResult rest = co_await accepts.next();
          if (rest.result >= 0) ::close(rest.result);
        }
        co_await sleep(kAcceptPauseOnExhaustion);
      } else if (completion.result != -ECONNABORTED && completion.result != -ECANCELED) {
        // ECONNABORTED: a client gave up while queued. Anything else is
        // unexpected but must not stop the server.
        log::gen().warning("accept on {} failed: {}", listener.local_address().to_string(),
                           std::strerror(-completion.result));
      }
      // Whatever happened to this connection, the accept goes on: a one-shot
      // accept that was not re-armed here would leave the listen queue to
      // fill up (a burst of resets once stopped a forked child this way).
      if (!completion.more && !accepts.armed()) accepts.start();
    }
    // 128 handed over: let the other sockets and connections run a turn.
    co_await moment();
  }
}

}  // namespace

AcceptHandle add_accept_handler(Socket listener, AcceptCallback callback) {
  Task<void> task = accept_loop(std::move(listener), std::move(callback));
  return AcceptHandle(IOLoop::current().spawn(std::move(task)));
}

}  // namespace whirl
