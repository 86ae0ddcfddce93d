#include "whirl/net/socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace whirl {

SocketAddress::SocketAddress() noexcept : storage_{}, size_(sizeof storage_) {}

SocketAddress::SocketAddress(const sockaddr* address, socklen_t size) noexcept : storage_{}, size_(size) {
  if (size_ > sizeof storage_) size_ = sizeof storage_;
  std::memcpy(&storage_, address, size_);
}

std::string SocketAddress::ip() const {
  char text[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, text, sizeof text);
      return text;
    case AF_INET6:
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text, sizeof text);
      return text;
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      std::size_t offset = offsetof(sockaddr_un, sun_path);
      if (size_ <= offset) return "";
      std::size_t length = size_ - offset;
      if (un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, length - 1);
      return std::string(un->sun_path, strnlen(un->sun_path, length));
    }
    default:
      return "";
  }
}

int SocketAddress::port() const noexcept {
  switch (family()) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default:
      return 0;
  }
}

std::string SocketAddress::to_string() const {
  switch (family()) {
    case AF_INET:
      return ip() + ":" + std::to_string(port());
    case AF_INET6:
      return "[" + ip() + "]:" + std::to_string(port());
    default:
      return ip();
  }
}

Socket Socket::create(int family, int type, int protocol) {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  return Socket(fd);
}

void Socket::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void Socket::set_option(int level, int name, int value, const char* what) {
  if (::setsockopt(fd_, level, name, &value, sizeof value) != 0) {
    throw std::system_error(errno, std::generic_category(), what);
  }
}

int Socket::get_option(int level, int name) const {
  int value = 0;
  socklen_t size = sizeof value;
  if (::getsockopt(fd_, level, name, &value, &size) != 0) {
    throw std::system_error(errno, std::generic_category(), "getsockopt");
  }
  return value;
}

SocketAddress Socket::local_address() const {
  SocketAddress address;
  if (::getsockname(fd_, address.data(), address.size_ptr()) != 0) {
    throw std::system_error(errno, std::generic_category(), "getsockname");
  }
  return address;
}

SocketAddress Socket::peer_address() const {
  SocketAddress address;
  if (::getpeername(fd_, address.data(), address.size_ptr()) != 0) {
    throw std::system_error(errno, std::generic_category(), "getpeername");
  }
  return address;
}

}  // namespace whirl
