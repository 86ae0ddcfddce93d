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
// failed check throws SSLError with OpenSSL's reason. connect_tls takes a
// client SSLContext built once, for many connections.
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

class TCPClient {
 public:
  static constexpr Duration kSecondaryDelay = std::chrono::milliseconds(300);

  static Task<std::unique_ptr<IOStream>> connect(std::string host, int port,
                                                 std::optional<Duration> timeout = std::nullopt,
                                                 std::string source_ip = "", IOStream::Options options = {},
                                                 std::optional<SSLOptions> ssl_options = std::nullopt);
  static Task<std::unique_ptr<IOStream>> connect_tls(std::string host, int port,
                                                     std::shared_ptr<const SSLContext> context,
                                                     std::optional<Duration> timeout = std::nullopt,
                                                     std::string source_ip = "", IOStream::Options options = {});

  // The same race over addresses already resolved, in the order given: the
  // family of the first is tried first, the other after the stagger. Plain
  // TCP (start_tls() on the result for TLS).
  static Task<std::unique_ptr<IOStream>> connect(std::vector<SocketAddress> addresses,
                                                 std::optional<Duration> timeout = std::nullopt,
                                                 std::string source_ip = "", IOStream::Options options = {});
};

}  // namespace whirl
