// whirl/net/tcpclient.h: Tornado's TCPClient.
//
//     std::unique_ptr<IOStream> stream = co_await TCPClient::connect("localhost", 8888);
//     co_await stream->write("ping\n");
//
// The name is resolved off the loop (resolver.h); connects go through the
// ring (IORING_OP_CONNECT). With addresses of both families, the family
// listed first is tried first, address by address; the other family starts
// 0.3 s later, or at once when the first has run out (Tornado's happy
// eyeballs). The first connection wins and the others are cancelled. A
// refused connection throws StreamClosedError with real_error()
// ECONNREFUSED; `timeout` throws TimeoutError.
//
// With ssl_options the stream is an SSLIOStream whose handshake has
// completed (within `timeout`): by default the server's certificate is
// verified against ca_certs (or the system's CAs) and must name `host`; a
// failed check throws SSLError with OpenSSL's reason. ssl_context takes a
// client SSLContext built once, for many connections:
//
//     TCPClient::ConnectOptions tls{.timeout = 10s, .ssl_options = SSLOptions{}};
//     auto stream = co_await TCPClient::connect("example.com", 443, tls);
//
// Name the options on a line of their own, as above: GCC 12 can copy a
// temporary built inside a co_await expression bitwise and free a string
// of it twice (PR 100611; ARCHITECTURE.md §2.2), and these options hold
// strings. The overloads without options need none.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "whirl/net/iostream.h"
#include "whirl/net/ssl_options.h"
#include "whirl/runtime/task.h"

namespace whirl {

// How TCPClient::connect connects. (Outside the class: a nested struct's
// member initializers cannot serve a default argument of its own class.)
struct TCPConnectOptions {
  // (Each member initialized, so that designated initializers may leave any out.)
  std::optional<Duration> timeout{};  // the whole connect (and handshake)
  std::string source_ip{};            // bind to this local address first
  IOStream::Options stream_options{};
  // TLS: either options (a context is built, and validated, per connect)
  // or a client context built once for many connections.
  std::optional<SSLOptions> ssl_options{};
  std::shared_ptr<const SSLContext> ssl_context{};
};

class TCPClient {
 public:
  static constexpr Duration kSecondaryDelay = std::chrono::milliseconds(300);

  using ConnectOptions = TCPConnectOptions;

  static Task<std::unique_ptr<IOStream>> connect(std::string host, int port, ConnectOptions options);
  static Task<std::unique_ptr<IOStream>> connect(std::string host, int port);

  // The same race over addresses already resolved, in the order given: the
  // family of the first is tried first, the other after the stagger. Plain
  // TCP (start_tls() on the result for TLS); TLS options throw
  // std::invalid_argument here, since there is no host name to verify.
  static Task<std::unique_ptr<IOStream>> connect(std::vector<SocketAddress> addresses, ConnectOptions options);
  static Task<std::unique_ptr<IOStream>> connect(std::vector<SocketAddress> addresses);
};

}  // namespace whirl
