#include "whirl/net/tcpclient.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

#include "whirl/net/resolver.h"
#include "whirl/net/ssl_iostream.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/locks.h"
#include "whirl/runtime/operation.h"

namespace whirl {
namespace {

struct Race {
  Socket winner;
  int last_error = ECONNREFUSED;
  Event primary_exhausted;
  CancellationToken* scope = nullptr;
};

Task<Socket> connect_to(SocketAddress address, const std::string& source_ip) {
  Socket socket = Socket::create(address.family(), SOCK_STREAM);
  if (!source_ip.empty()) {
    std::vector<SocketAddress> sources = co_await resolve(source_ip, 0, address.family());
    if (::bind(socket.native_handle(), sources.front().data(), sources.front().size()) != 0) {
      throw StreamClosedError(errno);
    }
  }
  int fd = socket.native_handle();
  const sockaddr* target = address.data();
  socklen_t size = address.size();
  int result = co_await io_op([fd, target, size](io_uring_sqe* sqe) { io_uring_prep_connect(sqe, fd, target, size); });
  if (result < 0) throw StreamClosedError(-result);
  co_return socket;
}

// Tries `addresses` one after another until one connects or `race` has a
// winner. The secondary family waits for the delay or the primary's end.
Task<void> try_family(std::vector<SocketAddress> addresses, const std::string& source_ip, Race* race, bool secondary) {
  if (secondary) {
    try {
      co_await race->primary_exhausted.wait(TCPClient::kSecondaryDelay);
    } catch (const TimeoutError&) {
      // The primary family is slow: start in parallel.
    }
  }
  for (const SocketAddress& address : addresses) {
    if (race->winner) break;
    try {
      Socket socket = co_await connect_to(address, source_ip);
      if (!race->winner) {
        race->winner = std::move(socket);
        race->scope->cancel();  // stop the other family
      }
      co_return;
    } catch (const StreamClosedError& e) {
      race->last_error = e.real_error();
    }
  }
  if (!secondary) race->primary_exhausted.set();
}

Task<Socket> race_families(std::vector<SocketAddress> addresses, std::string source_ip) {
  // getaddrinfo never returns an empty list, but a caller's list may be.
  if (addresses.empty()) throw std::invalid_argument("TCPClient::connect: no addresses to connect to");
  std::vector<SocketAddress> primary;
  std::vector<SocketAddress> secondary;
  for (const SocketAddress& address : addresses) {
    (address.family() == addresses.front().family() ? primary : secondary).push_back(address);
  }
  CancellationToken* parent = co_await current_token();
  CancellationToken scope(parent);
  Race race;
  race.scope = &scope;
  if (secondary.empty()) race.primary_exhausted.set();
  Task<void> first = try_family(std::move(primary), source_ip, &race, false);
  Task<void> second = try_family(std::move(secondary), source_ip, &race, true);
  Task<std::tuple<std::monostate, std::monostate>> both = gather(std::move(first), std::move(second));
  try {
    co_await both.under(&scope);
  } catch (const CancelledError&) {
    // The loser was cancelled by the winner; an outer cancellation is real.
    if (parent != nullptr && parent->cancelled()) throw;
  }
  if (!race.winner) throw StreamClosedError(race.last_error);
  co_return std::move(race.winner);
}

// The stream over a connected socket; with a context, TLS with `host` as
// the server name, handshake completed.
Task<std::unique_ptr<IOStream>> open_stream(Socket socket, IOStream::Options options,
                                            std::shared_ptr<const SSLContext> context, std::string host) {
  if (!context) co_return std::make_unique<IOStream>(std::move(socket), options);
  auto stream = std::make_unique<SSLIOStream>(std::move(socket), std::move(context), std::move(host), options);
  co_await stream->wait_for_handshake();
  co_return stream;
}

Task<std::unique_ptr<IOStream>> resolve_and_connect(std::string host, int port, std::string source_ip,
                                                    IOStream::Options options,
                                                    std::shared_ptr<const SSLContext> context) {
  std::vector<SocketAddress> addresses = co_await resolve(host, port);
  Socket socket = co_await race_families(std::move(addresses), std::move(source_ip));
  co_return co_await open_stream(std::move(socket), options, std::move(context), std::move(host));
}

Task<std::unique_ptr<IOStream>> connect_addresses(std::vector<SocketAddress> addresses, std::string source_ip,
                                                  IOStream::Options options) {
  Socket socket = co_await race_families(std::move(addresses), std::move(source_ip));
  co_return std::make_unique<IOStream>(std::move(socket), options);
}

Task<std::unique_ptr<IOStream>> within(std::optional<Duration> timeout, Task<std::unique_ptr<IOStream>> attempt) {
  if (!timeout) co_return co_await attempt;
  co_return co_await with_timeout(*timeout, std::move(attempt));
}

}  // namespace

Task<std::unique_ptr<IOStream>> TCPClient::connect(std::string host, int port, ConnectOptions options) {
  // Built (and validated) before anything connects.
  std::shared_ptr<const SSLContext> context = std::move(options.ssl_context);
  if (!context && options.ssl_options) context = SSLContext::create(*options.ssl_options, /*server_side=*/false);
  if (context && context->server_side()) throw std::invalid_argument("TCPClient: a server-side SSLContext");
  Task<std::unique_ptr<IOStream>> attempt = resolve_and_connect(std::move(host), port, std::move(options.source_ip),
                                                                options.stream_options, std::move(context));
  return within(options.timeout, std::move(attempt));
}

Task<std::unique_ptr<IOStream>> TCPClient::connect(std::vector<SocketAddress> addresses, ConnectOptions options) {
  if (options.ssl_options || options.ssl_context) {
    throw std::invalid_argument("TCPClient::connect(addresses): TLS needs a host name; connect by name or start_tls");
  }
  Task<std::unique_ptr<IOStream>> attempt =
      connect_addresses(std::move(addresses), std::move(options.source_ip), options.stream_options);
  return within(options.timeout, std::move(attempt));
}

// Not coroutines: the default options are built here, outside any caller's
// co_await expression.
Task<std::unique_ptr<IOStream>> TCPClient::connect(std::string host, int port) {
  return connect(std::move(host), port, ConnectOptions{});
}

Task<std::unique_ptr<IOStream>> TCPClient::connect(std::vector<SocketAddress> addresses) {
  return connect(std::move(addresses), ConnectOptions{});
}

}  // namespace whirl
