#include "whirl/net/tcpserver.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "whirl/net/resolver.h"
#include "whirl/net/tcpclient.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/locks.h"
#include "whirl/runtime/operation.h"
#include "whirl/testing/log_capture.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;

class EchoServer : public TCPServer {
 protected:
  Task<void> handle_stream(IOStream& stream, SocketAddress) override {
    for (;;) {
      std::string data = co_await stream.read_bytes(64 * 1024, true);
      co_await stream.write(data);
    }
  }
};

int port_of(const TCPServer& server) { return server.addresses().front().port(); }

template <typename F>
void run(F body) {
  IOLoop loop;
  auto task = body();
  loop.run_sync(with_timeout(20s, std::move(task)));
}

Task<std::string> echo_once(int port, std::string message) {
  std::unique_ptr<IOStream> client = co_await TCPClient::connect("127.0.0.1", port);
  co_await client->write(message);
  std::string reply = co_await client->read_bytes(message.size());
  co_return reply;
}

TEST(TCPServer, EchoesOverLoopback) {
  run([]() -> Task<void> {
    EchoServer server;
    server.listen(0, "127.0.0.1");
    std::string reply = co_await echo_once(port_of(server), "hello, whirl");
    EXPECT_EQ(reply, "hello, whirl");
  });
}

TEST(TCPServer, ResolvesLocalhostOffTheLoop) {
  run([]() -> Task<void> {
    EchoServer server;
    server.listen(0, "localhost");
    std::unique_ptr<IOStream> client = co_await TCPClient::connect("localhost", port_of(server));
    co_await client->write("via name");
    std::string reply = co_await client->read_bytes(8);
    EXPECT_EQ(reply, "via name");
  });
}

// The number of threads in this process (/proc/self/status).
int thread_count() {
  FILE* status = std::fopen("/proc/self/status", "r");
  char line[256];
  int threads = -1;
  while (status != nullptr && std::fgets(line, sizeof line, status) != nullptr) {
    if (std::sscanf(line, "Threads: %d", &threads) == 1) break;
  }
  if (status != nullptr) std::fclose(status);
  return threads;
}

TEST(Resolver, ABurstOfLookupsUsesABoundedNumberOfThreads) {
  int before = thread_count();
  // Sampled from a thread of its own: lookups of "localhost" take
  // microseconds, far less than a loop turn.
  std::atomic<bool> sampling{true};
  std::atomic<int> most{before};
  std::thread sampler([&] {
    while (sampling) most = std::max(most.load(), thread_count());
  });
  run([]() -> Task<void> {
    std::vector<Task<std::vector<SocketAddress>>> lookups;
    for (int i = 0; i < 300; ++i) lookups.push_back(resolve("localhost", 80 + i));
    std::vector<std::vector<SocketAddress>> results = co_await gather(std::move(lookups));
    for (const auto& addresses : results) EXPECT_FALSE(addresses.empty());
  });
  sampling = false;
  sampler.join();
  // The sampler itself is one thread more.
  EXPECT_LE(most - before - 1, kMaxResolverThreads) << "a thread per lookup would have been up to 300";
}

// Ten writers, a thousand 5,000-byte writes each, every byte checked.
class CheckingServer : public TCPServer {
 public:
  int complete = 0;
  int corrupt = 0;

 protected:
  Task<void> handle_stream(IOStream& stream, SocketAddress) override {
    std::string id_line = co_await stream.read_until("\n");
    char id = id_line[0];
    for (int i = 0; i < 1000; ++i) {
      std::string block = co_await stream.read_bytes(5000);
      std::string expected = std::to_string(i) + ":";
      expected.resize(5000, id);
      if (block != expected) ++corrupt;
    }
    ++complete;
  }
};

Task<void> writer(int port, char id) {
  std::unique_ptr<IOStream> client = co_await TCPClient::connect("127.0.0.1", port);
  client->write(std::string(1, id) + "\n");
  for (int i = 0; i < 1000; ++i) {
    std::string block = std::to_string(i) + ":";
    block.resize(5000, id);
    co_await client->write(block);
  }
}

TEST(TCPServer, TenWritersOfAThousandWritesArriveIntactAndInOrder) {
  int complete = 0;
  int corrupt = 0;
  run([&]() -> Task<void> {
    CheckingServer server;  // a server must not outlive its loop
    server.listen(0, "127.0.0.1");
    std::vector<Task<void>> writers;
    for (char id = 'a'; id < 'a' + 10; ++id) writers.push_back(writer(port_of(server), id));
    co_await gather(std::move(writers));
    while (server.complete < 10 && server.corrupt == 0) co_await sleep(5ms);
    complete = server.complete;
    corrupt = server.corrupt;
  });
  EXPECT_EQ(complete, 10);
  EXPECT_EQ(corrupt, 0);
}

class ThrowingServer : public TCPServer {
 protected:
  Task<void> handle_stream(IOStream& stream, SocketAddress) override {
    co_await stream.read_bytes(1);
    throw std::runtime_error("handler bug");
  }
};

TEST(TCPServer, AnExceptionInHandleStreamIsLoggedAndClosesTheConnection) {
  testing::LogCapture logs;
  run([]() -> Task<void> {
    ThrowingServer server;
    server.listen(0, "127.0.0.1");
    std::unique_ptr<IOStream> client = co_await TCPClient::connect("127.0.0.1", port_of(server));
    co_await client->write("x");
    bool closed = false;
    try {
      co_await client->read_bytes(1);
    } catch (const StreamClosedError&) {
      closed = true;
    }
    EXPECT_TRUE(closed);
  });
  EXPECT_TRUE(logs.contains(log::Level::kError, "Error in connection callback"));
  EXPECT_TRUE(logs.contains(log::Level::kError, "handler bug"));
}

// Writes without awaiting: only the write buffer bound stops it.
class FloodingServer : public TCPServer {
 protected:
  Task<void> handle_stream(IOStream& stream, SocketAddress) override {
    co_await stream.read_bytes(1);
    std::string mebibyte(1024 * 1024, 'f');
    for (int i = 0; i < 64; ++i) stream.write(mebibyte);
  }
};

TEST(TCPServer, AHandlerWritingWithoutAwaitingToAPeerThatDoesNotReadHitsTheWriteBufferBound) {
  testing::LogCapture logs;
  run([]() -> Task<void> {
    FloodingServer server;
    server.listen(0, "127.0.0.1");
    std::unique_ptr<IOStream> client = co_await TCPClient::connect("127.0.0.1", port_of(server));
    co_await client->write("x");
    // Never read: the server's writes pile up until its 16 MiB bound.
    for (int i = 0; i < 200 && server.open_connections() > 0; ++i) co_await sleep(10ms);
    EXPECT_EQ(server.open_connections(), 0u) << "the connection ended at the bound";
  });
  EXPECT_TRUE(logs.contains(log::Level::kError, "Reached maximum write buffer size"));
}

class SlowFirstServer : public TCPServer {
 public:
  int served = 0;

 protected:
  Task<void> handle_stream(IOStream& stream, SocketAddress) override {
    if (served++ == 0) co_await sleep(2s);
    co_await stream.write("served\n");
  }
};

TEST(TCPServer, ASlowHandlerDoesNotDelayAcceptingOthers) {
  run([]() -> Task<void> {
    SlowFirstServer server;
    server.listen(0, "127.0.0.1");
    std::unique_ptr<IOStream> slow = co_await TCPClient::connect("127.0.0.1", port_of(server));
    co_await sleep(10ms);
    std::unique_ptr<IOStream> fast = co_await TCPClient::connect("127.0.0.1", port_of(server));
    std::string line = co_await with_timeout(500ms, fast->read_until("\n"));
    EXPECT_EQ(line, "served\n");
  });
}

TEST(TCPServer, StopIsIdempotentAndOpenConnectionsContinue) {
  run([]() -> Task<void> {
    EchoServer server;
    server.listen(0, "127.0.0.1");
    int port = port_of(server);
    std::unique_ptr<IOStream> client = co_await TCPClient::connect("127.0.0.1", port);
    co_await client->write("before");
    std::string reply = co_await client->read_bytes(6);
    EXPECT_EQ(reply, "before");
    server.stop();
    server.stop();
    co_await sleep(10ms);
    co_await client->write("after");
    reply = co_await client->read_bytes(5);
    EXPECT_EQ(reply, "after") << "the open connection is still served";
    int error = 0;
    try {
      co_await TCPClient::connect("127.0.0.1", port);
    } catch (const StreamClosedError& e) {
      error = e.real_error();
    }
    EXPECT_EQ(error, ECONNREFUSED) << "the listening socket is closed";
  });
}

TEST(TCPServer, WaitForConnectionsCompletesWhenTheLastConnectionEnds) {
  run([]() -> Task<void> {
    EchoServer server;
    server.listen(0, "127.0.0.1");
    EXPECT_TRUE(co_await server.wait_for_connections(1s)) << "nothing open: at once";
    std::unique_ptr<IOStream> first = co_await TCPClient::connect("127.0.0.1", port_of(server));
    std::unique_ptr<IOStream> second = co_await TCPClient::connect("127.0.0.1", port_of(server));
    co_await first->write("x");
    co_await first->read_bytes(1);
    co_await second->write("y");
    co_await second->read_bytes(1);
    EXPECT_EQ(server.open_connections(), 2u);
    server.stop();
    EXPECT_FALSE(co_await server.wait_for_connections(50ms)) << "both are still open";
    bool drained = false;
    IOLoop::current().spawn(
        [](TCPServer& s, bool& done) -> Task<void> { done = co_await s.wait_for_connections(); }(server, drained));
    first->close();
    co_await sleep(50ms);
    EXPECT_FALSE(drained) << "one is still open";
    second->close();
    for (int i = 0; i < 100 && !drained; ++i) co_await sleep(10ms);
    EXPECT_TRUE(drained);
    EXPECT_EQ(server.open_connections(), 0u);
  });
}

// Reads a greeting line, then continues the connection in a task of its
// own (continue_connection), which echoes in upper case: handle_connection
// has returned by then.
class HandOverServer : public TCPServer {
 public:
  explicit HandOverServer(int& sessions_ended) : sessions_ended_(sessions_ended) {}
  ~HandOverServer() override { abort_connections(); }  // its tasks refer to this object
  int greetings_done = 0;

 protected:
  Task<void> handle_connection(Connection& connection, SocketAddress) override {
    std::string hello = co_await connection.stream().read_until("\n");
    co_await connection.stream().write("welcome " + hello);
    continue_connection(shout(std::move(connection)));
    ++greetings_done;
  }
  Task<void> handle_stream(IOStream&, SocketAddress) override { co_return; }  // not reached

 private:
  Task<void> shout(Connection connection) {
    struct Count {
      int& ended;
      ~Count() { ++ended; }
    } count{sessions_ended_};
    for (;;) {
      std::string data = co_await connection.stream().read_bytes(64 * 1024, true);
      for (char& c : data) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      co_await connection.stream().write(data);
    }
  }

  int& sessions_ended_;
};

TEST(TCPServer, AConnectionMovedIntoATaskOfItsOwnStaysOpenAndCountedUntilThatTaskEnds) {
  run([]() -> Task<void> {
    int ended = 0;
    HandOverServer server(ended);
    server.listen(0, "127.0.0.1");
    std::unique_ptr<IOStream> client = co_await TCPClient::connect("127.0.0.1", port_of(server));
    co_await client->write("hi\n");
    EXPECT_EQ(co_await client->read_until("\n"), "welcome hi\n");
    co_await client->write("quiet");
    EXPECT_EQ(co_await client->read_bytes(5), "QUIET") << "the second task speaks on the same stream";
    EXPECT_EQ(server.greetings_done, 1) << "handle_connection returned";
    EXPECT_EQ(server.open_connections(), 1u) << "the connection still counts";
    EXPECT_FALSE(co_await server.wait_for_connections(50ms));
    client->close();
    EXPECT_TRUE(co_await server.wait_for_connections(2s)) << "its end is the connection's end";
    EXPECT_EQ(ended, 1);
  });
}

TEST(TCPServer, DestroyingTheServerEndsAConnectionContinuedInATaskOfItsOwn) {
  run([]() -> Task<void> {
    int ended = 0;
    std::unique_ptr<IOStream> client;
    {
      HandOverServer server(ended);
      server.listen(0, "127.0.0.1");
      client = co_await TCPClient::connect("127.0.0.1", port_of(server));
      co_await client->write("hi\n");
      co_await client->read_until("\n");
      co_await client->write("a");
      co_await client->read_bytes(1);
      EXPECT_EQ(ended, 0);
    }
    EXPECT_EQ(ended, 1) << "the continued task was destroyed with the server";
    std::string rest = co_await client->read_until_close();
    EXPECT_EQ(rest, "") << "and its stream closed";
  });
}

TEST(TCPClient, ARefusedConnectionThrowsStreamClosedErrorWithECONNREFUSED) {
  run([]() -> Task<void> {
    int port;
    {
      std::vector<Socket> sockets = bind_sockets(0, "127.0.0.1");
      port = sockets.front().local_address().port();
    }  // closed: nothing listens there now
    int error = 0;
    try {
      co_await TCPClient::connect("127.0.0.1", port);
    } catch (const StreamClosedError& e) {
      error = e.real_error();
    }
    EXPECT_EQ(error, ECONNREFUSED);
  });
}

// [::1] and 127.0.0.1 on one port, IPv6 listed first. The IPv6 listener
// has a backlog of 0 and one connection already queued, so the kernel drops
// the client's SYN and that connect hangs; IPv4 is tried after the 0.3 s
// stagger and wins.
TEST(TCPClient, WhenTheFirstFamilyHangsTheOtherIsTriedAfterTheStagger) {
  std::vector<Socket> v6 = bind_sockets(0, "::1", AF_INET6, /*backlog=*/0);
  int port = v6.front().local_address().port();
  std::vector<Socket> v4 = bind_sockets(port, "127.0.0.1", AF_INET);
  int filler = ::socket(AF_INET6, SOCK_STREAM, 0);  // blocking: connected on return
  SocketAddress target = v6.front().local_address();
  ASSERT_EQ(::connect(filler, target.data(), target.size()), 0);
  run([&]() -> Task<void> {
    EchoServer server;
    server.add_sockets(std::move(v4));
    std::vector<SocketAddress> addresses = co_await resolve("::1", port);
    std::vector<SocketAddress> v4_addresses = co_await resolve("127.0.0.1", port);
    addresses.push_back(v4_addresses.front());
    TimePoint started = IOLoop::current().time();
    std::unique_ptr<IOStream> client = co_await TCPClient::connect(addresses);
    Duration took = IOLoop::current().time() - started;
    EXPECT_EQ(client->socket().peer_address().family(), AF_INET) << "IPv4 won";
    EXPECT_GE(took, TCPClient::kSecondaryDelay) << "IPv4 waited for the stagger";
    co_await client->write("eyeballs");
    std::string reply = co_await client->read_bytes(8);
    EXPECT_EQ(reply, "eyeballs");
  });
  ::close(filler);
}

// When the first family fails outright, the other starts at once.
TEST(TCPClient, WhenTheFirstFamilyIsRefusedTheOtherStartsAtOnce) {
  run([]() -> Task<void> {
    EchoServer server;
    server.listen(0, "127.0.0.1");
    int port = port_of(server);
    std::vector<SocketAddress> addresses = co_await resolve("::1", port);  // nothing listens there
    std::vector<SocketAddress> v4_addresses = co_await resolve("127.0.0.1", port);
    addresses.push_back(v4_addresses.front());
    TimePoint started = IOLoop::current().time();
    std::unique_ptr<IOStream> client = co_await TCPClient::connect(addresses);
    Duration took = IOLoop::current().time() - started;
    EXPECT_EQ(client->socket().peer_address().family(), AF_INET);
    EXPECT_LT(took, TCPClient::kSecondaryDelay) << "a refused primary does not wait out the stagger";
  });
}

TEST(TCPClient, AnEmptyAddressListIsAnError) {
  run([]() -> Task<void> {
    bool threw = false;
    try {
      co_await TCPClient::connect(std::vector<SocketAddress>{});
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
  });
}

TEST(TCPClient, TlsOptionsWithAnAddressListAreRefusedSinceNoNameCanBeVerified) {
  run([]() -> Task<void> {
    EchoServer server;
    server.listen(0, "127.0.0.1");
    std::vector<SocketAddress> addresses = co_await resolve("127.0.0.1", port_of(server));
    TCPClient::ConnectOptions tls{.ssl_options = SSLOptions{}};
    bool threw = false;
    try {
      co_await TCPClient::connect(addresses, tls);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
  });
}

TEST(TCPClient, ConnectOptionsCarryTheTimeoutAndTheSourceAddress) {
  run([]() -> Task<void> {
    EchoServer server;
    server.listen(0, "127.0.0.1");
    TCPClient::ConnectOptions options{.timeout = std::chrono::seconds(5), .source_ip = "127.0.0.2"};
    std::unique_ptr<IOStream> client = co_await TCPClient::connect("127.0.0.1", port_of(server), options);
    EXPECT_EQ(client->socket().local_address().ip(), "127.0.0.2");
  });
}

Task<std::unique_ptr<IOStream>> connect_unix(std::string path) {
  Socket socket = Socket::create(AF_UNIX, SOCK_STREAM);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '\0' ? 0 : 1));
  int fd = socket.native_handle();
  const auto* target = reinterpret_cast<const sockaddr*>(&address);
  int result = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_connect(sqe, fd, target, size); });
  if (result < 0) throw StreamClosedError(-result);
  co_return std::make_unique<IOStream>(std::move(socket));
}

TEST(TCPServer, ServesUnixSocketsFileAndAbstract) {
  run([]() -> Task<void> {
    std::string file = "/tmp/whirl-echo-" + std::to_string(getpid()) + ".sock";
    std::string abstract = std::string(1, '\0') + "whirl-echo-" + std::to_string(getpid());
    EchoServer server;
    server.add_socket(bind_unix_socket(file));
    server.add_socket(bind_unix_socket(abstract));
    for (const std::string& path : {file, abstract}) {
      std::unique_ptr<IOStream> client = co_await connect_unix(path);
      co_await client->write("unix");
      std::string reply = co_await client->read_bytes(4);
      EXPECT_EQ(reply, "unix");
    }
    unlink(file.c_str());
  });
}

TEST(TCPServer, RunningOutOfDescriptorsPausesAcceptingWithoutSpinning) {
  testing::LogCapture logs;
  IOLoop loop;
  EchoServer server;
  server.listen(0, "127.0.0.1");
  int port = port_of(server);
  // Client sockets made now; then the descriptor limit leaves room for one
  // more connection (its client socket and its accepted socket) only. The
  // accept request reads the limit when it is armed, on the loop's first turn.
  std::vector<Socket> clients;
  for (int i = 0; i < 5; ++i) clients.push_back(Socket::create(AF_INET, SOCK_STREAM));
  int lowest_free = dup(0);
  close(lowest_free);
  rlimit saved{};
  getrlimit(RLIMIT_NOFILE, &saved);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free + 2);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::unique_ptr<IOStream> first = loop.run_sync(TCPClient::connect("127.0.0.1", port));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (Socket& client : clients) {
    ::connect(client.native_handle(), reinterpret_cast<sockaddr*>(&address), sizeof address);  // EINPROGRESS
  }
  std::string reply = loop.run_sync([](IOStream* s) -> Task<std::string> {
    co_await sleep(250ms);  // two pauses' worth of retries
    co_await s->write("still here");
    co_return co_await s->read_bytes(10);
  }(first.get()));
  EXPECT_EQ(reply, "still here") << "open connections are served while accepting is paused";
  EXPECT_EQ(server.open_connections(), 1u);
  setrlimit(RLIMIT_NOFILE, &saved);
  loop.run_sync(as_task(sleep(300ms)));  // accepting resumes
  EXPECT_EQ(server.open_connections(), 6u);
  std::size_t exhaustion_lines = 0;
  for (const auto& line : logs.lines()) {
    if (line.message.find("Out of file descriptors") != std::string::npos) ++exhaustion_lines;
  }
  EXPECT_EQ(exhaustion_lines, 1u) << "logged once, not once per retry";
  clients.clear();
  first.reset();
  loop.run_sync(as_task(sleep(20ms)));
}

}  // namespace
}  // namespace whirl
