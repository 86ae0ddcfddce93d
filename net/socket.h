// whirl/net/socket.h: RAII sockets and socket addresses.
//
//     Socket listener = Socket::create(AF_INET6, SOCK_STREAM);
//     listener.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
//     SocketAddress local = listener.local_address();
//     fmt::print("listening on {}\n", local.to_string());   // "[::]:8888"
//
// A Socket owns its descriptor and closes it when destroyed; sockets are
// created non-blocking and close-on-exec. No whirl API passes bare file
// descriptors around; native_handle() exists for io_uring preparation and
// interop with other libraries.
#pragma once

#include <sys/socket.h>

#include <string>
#include <utility>

namespace whirl {

class SocketAddress {
 public:
  SocketAddress() noexcept;
  SocketAddress(const sockaddr* address, socklen_t size) noexcept;

  int family() const noexcept { return storage_.ss_family; }
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return size_; }
  socklen_t* size_ptr() noexcept { return &size_; }

  // "127.0.0.1", "::1", a unix socket's path ("" when unnamed, "@name" for
  // the abstract namespace).
  std::string ip() const;
  // The port of an AF_INET/AF_INET6 address, 0 otherwise.
  int port() const noexcept;
  // "127.0.0.1:8888", "[::1]:8888", or the unix path.
  std::string to_string() const;

 private:
  sockaddr_storage storage_;
  socklen_t size_;
};

class Socket {
 public:
  Socket() noexcept = default;
  // Takes ownership of `fd` (interop; whirl itself never hands out fds).
  static Socket adopt(int fd) noexcept { return Socket(fd); }
  // socket(2), non-blocking and close-on-exec. Throws std::system_error.
  static Socket create(int family, int type, int protocol = 0);

  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  int native_handle() const noexcept { return fd_; }
  void close() noexcept;

  // setsockopt with an int value. Throws std::system_error naming the option.
  void set_option(int level, int name, int value, const char* what = "setsockopt");
  int get_option(int level, int name) const;
  SocketAddress local_address() const;
  SocketAddress peer_address() const;

 private:
  explicit Socket(int fd) noexcept : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace whirl
