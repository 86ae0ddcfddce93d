#include "whirl/net/netutil.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "whirl/net/tcpclient.h"
#include "whirl/runtime/gen.h"
#include "whirl/testing/log_capture.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;

TEST(BindSockets, PortZeroOnLocalhostGivesV4AndV6TheSamePort) {
  std::vector<Socket> sockets = bind_sockets(0, "localhost");
  ASSERT_FALSE(sockets.empty());
  std::set<int> families;
  std::set<int> ports;
  for (const Socket& socket : sockets) {
    SocketAddress address = socket.local_address();
    families.insert(address.family());
    ports.insert(address.port());
    EXPECT_EQ(socket.get_option(SOL_SOCKET, SO_REUSEADDR), 1);
    EXPECT_TRUE(fcntl(socket.native_handle(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(socket.native_handle(), F_GETFD) & FD_CLOEXEC);
    if (address.family() == AF_INET6) {
      EXPECT_EQ(socket.get_option(IPPROTO_IPV6, IPV6_V6ONLY), 1);
    }
  }
  EXPECT_EQ(ports.size(), 1u) << "every address shares the kernel-chosen port";
  EXPECT_NE(*ports.begin(), 0);
  EXPECT_TRUE(families.contains(AF_INET));
}

TEST(BindSockets, ReusePortLetsTwoSocketsBindOnePort) {
  std::vector<Socket> first = bind_sockets(0, "127.0.0.1", AF_INET, kDefaultBacklog, AI_PASSIVE, true);
  int port = first.front().local_address().port();
  EXPECT_EQ(first.front().get_option(SOL_SOCKET, SO_REUSEPORT), 1);
  std::vector<Socket> second = bind_sockets(port, "127.0.0.1", AF_INET, kDefaultBacklog, AI_PASSIVE, true);
  EXPECT_EQ(second.front().local_address().port(), port);
  EXPECT_THROW(bind_sockets(port, "127.0.0.1", AF_INET), std::system_error) << "without SO_REUSEPORT: EADDRINUSE";
}

std::string temp_path(const char* name) {
  // Not TempDir(): Bazel's is longer than a unix socket path may be.
  return std::string("/tmp/whirl-") + name + std::to_string(getpid());
}

TEST(BindUnixSocket, RemovesAStaleSocketFile) {
  std::string path = temp_path("stale.sock");
  { Socket first = bind_unix_socket(path); }  // closed, file left behind
  Socket second = bind_unix_socket(path, 0600);
  EXPECT_EQ(second.local_address().ip(), path);
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  unlink(path.c_str());
}

TEST(BindUnixSocket, RefusesToRemoveAFileThatIsNotASocket) {
  std::string path = temp_path("regular");
  { std::ofstream(path) << "precious"; }
  EXPECT_THROW(bind_unix_socket(path), std::invalid_argument);
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  unlink(path.c_str());
}

TEST(BindUnixSocket, SupportsTheAbstractNamespace) {
  std::string name = std::string(1, '\0') + "whirl-test-" + std::to_string(getpid());
  Socket socket = bind_unix_socket(name);
  EXPECT_EQ(socket.local_address().ip(), "@whirl-test-" + std::to_string(getpid()));
}

TEST(IsValidIp, AcceptsNumericAddressesOnly) {
  EXPECT_TRUE(is_valid_ip("127.0.0.1"));
  EXPECT_TRUE(is_valid_ip("::1"));
  EXPECT_TRUE(is_valid_ip("4.2.2.2"));
  EXPECT_FALSE(is_valid_ip("localhost"));
  EXPECT_FALSE(is_valid_ip(""));
  EXPECT_FALSE(is_valid_ip(std::string("127.0.0.1\0x", 11)));
  EXPECT_FALSE(is_valid_ip("1.2.3"));
  EXPECT_TRUE(is_valid_ip("2620:0:1cfe:face:b00c::3"));
  EXPECT_FALSE(is_valid_ip("www.google.com"));
  EXPECT_FALSE(is_valid_ip("4.4.4.4<"));
  EXPECT_FALSE(is_valid_ip(" 127.0.0.1"));
  EXPECT_FALSE(is_valid_ip(" "));
  EXPECT_FALSE(is_valid_ip("\n"));
  EXPECT_FALSE(is_valid_ip(std::string(100, 'a')));
  EXPECT_FALSE(is_valid_ip("::ffff:1.2.3.4:80"));
}

// A blocking client on a helper thread: connect, hold the socket briefly.
void connect_clients(int port, int count, std::vector<int>* fds) {
  for (int i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      fds->push_back(fd);
    } else {
      ::close(fd);
    }
  }
}

TEST(AddAcceptHandler, HandsOverEveryConnection) {
  IOLoop loop;
  std::vector<Socket> sockets = bind_sockets(0, "127.0.0.1");
  int port = sockets.front().local_address().port();
  int accepted = 0;
  AcceptHandle handle = add_accept_handler(std::move(sockets.front()), [&](Socket connection, SocketAddress peer) {
    EXPECT_TRUE(connection.valid());
    EXPECT_EQ(peer.ip(), "127.0.0.1");
    if (++accepted == 300) loop.stop();
  });
  std::vector<int> fds;
  std::thread clients(connect_clients, port, 300, &fds);
  loop.call_later(5s, [&] { loop.stop(); });
  loop.run();
  clients.join();
  EXPECT_EQ(accepted, 300);
  for (int fd : fds) ::close(fd);
}

TEST(AddAcceptHandler, AnExceptionFromTheCallbackIsLoggedAndAcceptingGoesOn) {
  testing::LogCapture logs;
  IOLoop loop;
  std::vector<Socket> sockets = bind_sockets(0, "127.0.0.1");
  int port = sockets.front().local_address().port();
  int calls = 0;
  AcceptHandle handle = add_accept_handler(std::move(sockets.front()), [&](Socket, SocketAddress) {
    if (++calls == 10) loop.stop();
    throw std::runtime_error("the application's bug");
  });
  std::vector<int> fds;
  std::thread clients(connect_clients, port, 10, &fds);
  loop.call_later(5s, [&] { loop.stop(); });
  loop.run();
  clients.join();
  EXPECT_EQ(calls, 10) << "every connection after the first failure was still handed over";
  EXPECT_EQ(logs.count_at_least(log::Level::kError), 10u);
  for (int fd : fds) ::close(fd);
}

// Connections reset before they are accepted (getpeername fails on them)
// are dropped; the ones after them are served.
TEST(AddAcceptHandler, ConnectionsResetBeforeAcceptAreSkipped) {
  IOLoop loop;
  std::vector<Socket> sockets = bind_sockets(0, "127.0.0.1");
  int port = sockets.front().local_address().port();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 100; ++i) {  // queued in the backlog before anything accepts
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
  }
  int live = 0;
  AcceptHandle handle = add_accept_handler(std::move(sockets.front()), [&](Socket, SocketAddress) {
    if (++live == 5) loop.stop();
  });
  std::vector<int> fds;
  std::thread clients(connect_clients, port, 5, &fds);
  loop.call_later(5s, [&] { loop.stop(); });
  loop.run();
  clients.join();
  EXPECT_EQ(live, 5);
  for (int fd : fds) ::close(fd);
}

// Two listening sockets, the first with 300 connections already queued in
// its backlog, the second with one. The first handler's accepts complete
// first, so without the per-turn cap it would hand over all 300 before the
// second socket's task ran; with it, the second socket's connection comes
// right after the first 128.
TEST(AddAcceptHandler, OneBusySocketHandsOverAtMost128PerTurn) {
  IOLoop loop;
  Socket busy = std::move(bind_sockets(0, "127.0.0.1", AF_INET, 512).front());
  Socket quiet = std::move(bind_sockets(0, "127.0.0.1", AF_INET, 512).front());
  std::vector<int> fds;
  connect_clients(busy.local_address().port(), 300, &fds);
  connect_clients(quiet.local_address().port(), 1, &fds);
  ASSERT_EQ(fds.size(), 301u) << "the backlogs hold every connection before anything is accepted";
  std::vector<char> order;
  auto record = [&](char which) {
    order.push_back(which);
    if (order.size() == 301) loop.stop();
  };
  AcceptHandle busy_handle = add_accept_handler(std::move(busy), [&](Socket, SocketAddress) { record('b'); });
  AcceptHandle quiet_handle = add_accept_handler(std::move(quiet), [&](Socket, SocketAddress) { record('q'); });
  loop.call_later(5s, [&] { loop.stop(); });
  loop.run();
  ASSERT_EQ(order.size(), 301u);
  auto quiet_at = std::find(order.begin(), order.end(), 'q') - order.begin();
  EXPECT_LE(quiet_at, 128) << "the quiet socket waited behind more than 128 of the busy one's connections";
  for (int fd : fds) ::close(fd);
}

TEST(AddAcceptHandler, RemovingTwiceAndFromInsideTheHandlerIsSafe) {
  IOLoop loop;
  std::vector<Socket> sockets = bind_sockets(0, "127.0.0.1");
  int port = sockets.front().local_address().port();
  int accepted = 0;
  AcceptHandle handle;
  handle = add_accept_handler(std::move(sockets.front()), [&](Socket, SocketAddress) {
    ++accepted;
    handle.remove();
    handle.remove();
  });
  std::vector<int> fds;
  std::thread clients(connect_clients, port, 40, &fds);
  loop.call_later(300ms, [&] { loop.stop(); });
  loop.run();
  clients.join();
  EXPECT_EQ(accepted, 1) << "nothing is handed over after remove()";
  EXPECT_FALSE(handle.active());
  handle.remove();
  // The listening socket is closed once its accept left the kernel: new
  // connections are refused now.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  ::close(fd);
  for (int client : fds) ::close(client);
}

}  // namespace
}  // namespace whirl
