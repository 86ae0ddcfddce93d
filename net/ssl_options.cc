#include "whirl/net/ssl_options.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace whirl {
namespace {

// OpenSSL's queued errors as one line, oldest first; clears the queue.
std::string openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

[[noreturn]] void invalid(const std::string& option, const std::string& detail) {
  ERR_clear_error();
  throw std::invalid_argument("ssl_options " + option + ": " + detail);
}

// A file option must name a readable file; say which and why before OpenSSL
// gives its less direct reason.
void require_readable(const std::string& option, const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0) invalid(option, "'" + path + "': " + std::strerror(errno));
}

int version_of(const std::string& name) {
  if (name == "TLSv1.2") return TLS1_2_VERSION;
  if (name == "TLSv1.3") return TLS1_3_VERSION;
  invalid("min_version", "unknown value '" + name + "' (TLSv1.2 or TLSv1.3)");
}

SSLOptions::CertReqs cert_reqs_of(const std::string& name) {
  if (name == "none") return SSLOptions::CertReqs::kNone;
  if (name == "optional") return SSLOptions::CertReqs::kOptional;
  if (name == "required") return SSLOptions::CertReqs::kRequired;
  invalid("cert_reqs", "unknown value '" + name + "' (none, optional or required)");
}

// ALPN's wire format: each protocol prefixed by its length.
std::string alpn_wire_format(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      invalid("alpn_protocols", "'" + protocol + "' must be 1 to 255 bytes long");
    }
    wire.push_back(static_cast<char>(protocol.size()));
    wire += protocol;
  }
  return wire;
}

// Server side: the first of our protocols the client also offers; none in
// common means no ALPN (the client decides whether to go on), as Python does.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* offered,
                unsigned offered_size, void* arg) {
  const auto* ours = static_cast<const std::string*>(arg);
  unsigned char* chosen = nullptr;
  int status = SSL_select_next_proto(&chosen, out_size, reinterpret_cast<const unsigned char*>(ours->data()),
                                     static_cast<unsigned>(ours->size()), offered, offered_size);
  if (status != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

void load_identity(SSL_CTX* ctx, const SSLOptions& options) {
  require_readable("certfile", options.certfile);
  if (SSL_CTX_use_certificate_chain_file(ctx, options.certfile.c_str()) != 1) {
    invalid("certfile", "'" + options.certfile + "' is not a PEM certificate (" + openssl_errors() + ")");
  }
  const std::string& keyfile = options.keyfile.empty() ? options.certfile : options.keyfile;
  const char* key_option = options.keyfile.empty() ? "certfile" : "keyfile";
  require_readable(key_option, keyfile);
  // Parsed apart from installing it, so a key that does not match the
  // certificate is told apart from a file that holds no key.
  BIO* file = BIO_new_file(keyfile.c_str(), "r");
  EVP_PKEY* key = file != nullptr ? PEM_read_bio_PrivateKey(file, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(file);
  if (key == nullptr) {
    invalid(key_option, "'" + keyfile + "' holds no usable PEM private key (" + openssl_errors() + ")");
  }
  bool installed = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  if (!installed) {
    invalid(key_option, "the key in '" + keyfile + "' does not match the certificate in '" + options.certfile + "'");
  }
}

void configure_verification(SSL_CTX* ctx, const SSLOptions& options, bool server_side) {
  SSLOptions::CertReqs reqs =
      options.cert_reqs.value_or(server_side ? SSLOptions::CertReqs::kNone : SSLOptions::CertReqs::kRequired);
  if (!options.ca_certs.empty()) {
    require_readable("ca_certs", options.ca_certs);
    if (SSL_CTX_load_verify_locations(ctx, options.ca_certs.c_str(), nullptr) != 1) {
      invalid("ca_certs", "'" + options.ca_certs + "' holds no PEM certificates (" + openssl_errors() + ")");
    }
    if (server_side) {
      // Tell clients which CAs we accept, so they pick the right certificate.
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.ca_certs.c_str());
      if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
    }
  } else if (reqs != SSLOptions::CertReqs::kNone) {
    if (server_side) invalid("cert_reqs", "verifying clients needs ca_certs");
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) invalid("ca_certs", "no system CA store: " + openssl_errors());
  }
  int mode = SSL_VERIFY_NONE;
  if (reqs == SSLOptions::CertReqs::kOptional) mode = SSL_VERIFY_PEER;
  if (reqs == SSLOptions::CertReqs::kRequired) mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
}

struct CtxDeleter {
  void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};

}  // namespace

SSLError::SSLError(std::string reason)
    : StreamClosedError(EPROTO), reason_(std::move(reason)), message_("SSL error: " + reason_) {}

SSLOptions SSLOptions::from_map(const std::map<std::string, std::string>& settings) {
  SSLOptions options;
  for (const auto& [key, value] : settings) {
    if (key == "certfile") {
      options.certfile = value;
    } else if (key == "keyfile") {
      options.keyfile = value;
    } else if (key == "ca_certs") {
      options.ca_certs = value;
    } else if (key == "cert_reqs") {
      options.cert_reqs = cert_reqs_of(value);
    } else if (key == "ciphers") {
      options.ciphers = value;
    } else if (key == "min_version") {
      version_of(value);
      options.min_version = value;
    } else if (key == "alpn_protocols") {
      options.alpn_protocols.clear();
      for (std::size_t start = 0; start <= value.size();) {
        std::size_t comma = value.find(',', start);
        if (comma == std::string::npos) comma = value.size();
        options.alpn_protocols.push_back(value.substr(start, comma - start));
        start = comma + 1;
      }
      alpn_wire_format(options.alpn_protocols);
    } else if (key == "check_hostname") {
      if (value != "true" && value != "false")
        invalid("check_hostname", "unknown value '" + value + "' (true or false)");
      options.check_hostname = value == "true";
    } else {
      invalid(key, "unknown option");
    }
  }
  return options;
}

std::shared_ptr<const SSLContext> SSLContext::create(const SSLOptions& options, bool server_side) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, CtxDeleter> ctx(SSL_CTX_new(server_side ? TLS_server_method() : TLS_client_method()));
  if (!ctx) throw std::runtime_error("SSL_CTX_new failed: " + openssl_errors());
  SSL_CTX* raw = ctx.get();

  SSL_CTX_set_min_proto_version(raw, version_of(options.min_version));
  // Renegotiation (TLS 1.2) lets a client make the server redo expensive
  // handshakes on one connection; compression is the CRIME attack.
  SSL_CTX_set_options(
      raw, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | (server_side ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
  if (!options.ciphers.empty() && SSL_CTX_set_cipher_list(raw, options.ciphers.c_str()) != 1) {
    invalid("ciphers", "OpenSSL matches no cipher with '" + options.ciphers + "'");
  }
  if (server_side) {
    if (options.certfile.empty()) invalid("certfile", "required on the server side");
    load_identity(raw, options);
  } else if (!options.certfile.empty()) {
    load_identity(raw, options);  // a client certificate
  }
  configure_verification(raw, options, server_side);

  std::string alpn = alpn_wire_format(options.alpn_protocols);
  std::shared_ptr<SSLContext> context(new SSLContext(ctx.release(), server_side, options));
  context->alpn_wire_ = std::move(alpn);
  if (!context->alpn_wire_.empty()) {
    if (server_side) {
      // The callback reads alpn_wire_, which lives as long as the SSL_CTX.
      SSL_CTX_set_alpn_select_cb(context->ctx_, select_alpn, &context->alpn_wire_);
    } else if (SSL_CTX_set_alpn_protos(context->ctx_,
                                       reinterpret_cast<const unsigned char*>(context->alpn_wire_.data()),
                                       static_cast<unsigned>(context->alpn_wire_.size())) != 0) {
      invalid("alpn_protocols", openssl_errors());
    }
  }
  return context;
}

SSLContext::~SSLContext() { SSL_CTX_free(ctx_); }

bool SSLContext::verifies_peer() const noexcept { return (SSL_CTX_get_verify_mode(ctx_) & SSL_VERIFY_PEER) != 0; }

}  // namespace whirl
