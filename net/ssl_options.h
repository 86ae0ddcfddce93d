// whirl/net/ssl_options.h: Tornado's ssl_options, and the SSL_CTX built from them.
//
//     SSLOptions tls;
//     tls.certfile = "server.pem";
//     tls.keyfile = "server.key";
//     tls.alpn_protocols = {"http/1.1"};
//     EchoServer server(TCPServer::Options{.ssl_options = tls});    // validated here
//
//     SSLOptions client;                    // verifies the server by default:
//     client.ca_certs = "ca.pem";           // against these CAs (else the system's)
//     auto stream = co_await TCPClient::connect("localhost", 8443, {.ssl_options = client});
//
// Tornado accepts a dict and Python's SSLContext; whirl takes this struct, or
// from_map() for string settings (command lines, configuration files).
// Everything is checked when the context is built: a missing or unreadable
// file, a key that does not match its certificate, a cipher string OpenSSL
// matches nothing with, an unknown min_version: each throws
// std::invalid_argument naming the option and the file or value.
//
// An SSLContext is one SSL_CTX; a server builds one and shares it with all
// of its connections (sessions, tickets and the certificate are loaded
// once). TLS 1.2 and 1.3 only (min_version may raise the floor), no
// renegotiation, no compression.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "whirl/net/iostream.h"

using SSL_CTX = struct ssl_ctx_st;

namespace whirl {

// A TLS failure: the handshake or a record was refused. what() is OpenSSL's
// reason ("certificate verify failed: hostname mismatch"). A stream that
// fails this way is closed with real_error() EPROTO.
class SSLError : public StreamClosedError {
 public:
  explicit SSLError(std::string reason);
  const std::string& reason() const noexcept { return reason_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string reason_;
  std::string message_;
};

struct SSLOptions {
  enum class CertReqs { kNone, kOptional, kRequired };

  std::string certfile;  // PEM certificate chain (required on a server)
  std::string keyfile;   // PEM private key; empty: the key is in certfile
  std::string ca_certs;  // PEM CAs that verify the peer; empty on a client: the system's
  // Whether the peer must present a certificate. Unset: none on a server,
  // required on a client.
  std::optional<CertReqs> cert_reqs;
  std::string ciphers;                      // OpenSSL cipher list for TLS 1.2; empty: OpenSSL's default
  std::string min_version = "TLSv1.2";      // "TLSv1.2" or "TLSv1.3"
  std::vector<std::string> alpn_protocols;  // in order of preference
  bool check_hostname = true;               // client: the certificate must name the host

  // Tornado-style string settings: keys certfile, keyfile, ca_certs,
  // cert_reqs (none|optional|required), ciphers, min_version,
  // alpn_protocols (comma-separated), check_hostname (true|false). An
  // unknown key or value throws std::invalid_argument naming it.
  static SSLOptions from_map(const std::map<std::string, std::string>& settings);
};

class SSLContext {
 public:
  // Validates `options` and builds the SSL_CTX (see the file comment).
  static std::shared_ptr<const SSLContext> create(const SSLOptions& options, bool server_side);

  ~SSLContext();
  SSLContext(const SSLContext&) = delete;
  SSLContext& operator=(const SSLContext&) = delete;

  SSL_CTX* native_handle() const noexcept { return ctx_; }
  bool server_side() const noexcept { return server_side_; }
  const SSLOptions& options() const noexcept { return options_; }
  // The client side checks the peer's certificate (and host name).
  bool verifies_peer() const noexcept;

 private:
  SSLContext(SSL_CTX* ctx, bool server_side, SSLOptions options) noexcept
      : ctx_(ctx), server_side_(server_side), options_(std::move(options)) {}

  SSL_CTX* ctx_;
  bool server_side_;
  SSLOptions options_;
  std::string alpn_wire_;  // the server's ALPN list in wire format, for the select callback
};

}  // namespace whirl
