#include "whirl/net/ssl_iostream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <utility>

#include "whirl/runtime/log.h"

namespace whirl {
namespace {

// One TLS record's worth of plaintext per SSL_read.
constexpr std::size_t kRecordSize = 16 * 1024;

bool is_ip_literal(const std::string& host) {
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), address) == 1 || inet_pton(AF_INET6, host.c_str(), address) == 1;
}

// What went wrong, in OpenSSL's words, plus the certificate check's verdict
// when that is what failed ("certificate verify failed: hostname mismatch").
std::string failure_reason(SSL* ssl, int ssl_error) {
  unsigned long code = ERR_peek_last_error();
  std::string reason;
  if (code != 0) {
    const char* text = ERR_reason_error_string(code);
    reason = text != nullptr ? text : "error " + std::to_string(code);
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    reason = "unexpected end of the TLS stream";
  } else {
    reason = "TLS error " + std::to_string(ssl_error);
  }
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) reason += std::string(": ") + X509_verify_cert_error_string(verify);
  ERR_clear_error();
  return reason;
}

std::string name_text(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return text;
}

std::string common_name(const X509_NAME* name) {
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return "";
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
}

std::vector<std::string> dns_names(X509* certificate) {
  std::vector<std::string> names;
  auto* entries = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (entries == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(entries); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(entries, i);
    if (entry->type != GEN_DNS) continue;
    const ASN1_STRING* value = entry->d.dNSName;
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                       static_cast<std::size_t>(ASN1_STRING_length(value)));
  }
  GENERAL_NAMES_free(entries);
  return names;
}

std::string pem_of(X509* certificate) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, certificate);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return pem;
}

}  // namespace

SSLIOStream::SSLIOStream(Socket socket, std::shared_ptr<const SSLContext> context, std::string server_hostname,
                         Options options, std::string early_input)
    : IOStream(std::move(socket), options), context_(std::move(context)) {
  // Owned here until the constructor cannot throw any more: a throw below
  // (a bad server_hostname) runs no destructor of ours, so nothing may be
  // left only in ssl_.
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context_->native_handle()), &SSL_free);
  if (ssl == nullptr) throw std::runtime_error("SSL_new failed");
  std::unique_ptr<BIO, decltype(&BIO_free)> input(BIO_new(BIO_s_mem()), &BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> output(BIO_new(BIO_s_mem()), &BIO_free);
  if (input == nullptr || output == nullptr) throw std::runtime_error("BIO_new failed");
  // An empty memory BIO means "wait for more", not end of file.
  BIO_set_mem_eof_return(input.get(), -1);
  BIO_set_mem_eof_return(output.get(), -1);
  input_ = input.release();
  output_ = output.release();
  SSL_set_bio(ssl.get(), input_, output_);  // the SSL owns both now
  ssl_ = ssl.get();
  if (context_->server_side()) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
    bool ip = is_ip_literal(server_hostname);
    // SNI carries host names only (RFC 6066 §3).
    if (!server_hostname.empty() && !ip) SSL_set_tlsext_host_name(ssl_, server_hostname.c_str());
    if (context_->verifies_peer() && context_->options().check_hostname) {
      if (server_hostname.empty()) {
        throw std::invalid_argument("SSLIOStream: checking the host name needs server_hostname");
      }
      int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), server_hostname.c_str())
                  : SSL_set1_host(ssl_, server_hostname.c_str());
      if (ok != 1) throw std::invalid_argument("SSLIOStream: bad server_hostname '" + server_hostname + "'");
    }
  }
  if (!early_input.empty()) BIO_write(input_, early_input.data(), static_cast<int>(early_input.size()));
  expect_first_use();
  ssl.release();  // ~SSLIOStream frees it from here on
}

SSLIOStream::~SSLIOStream() { SSL_free(ssl_); }

// ---------------------------------------------------------------- handshake

Task<void> SSLIOStream::wait_for_handshake() {
  if (handshake_waiting_) throw std::logic_error("SSLIOStream: wait_for_handshake is already pending");
  start_handshake();
  handshake_waiting_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{handshake_waiting_};
  co_await handshake_settled_.wait();
  if (state_ == State::kEstablished) co_return;
  raise_closed(error());
}

void SSLIOStream::set_handshake_deadline(TimePoint deadline) {
  if (state_ == State::kEstablished) return;
  handshake_deadline_armed_ = true;
  set_close_deadline(deadline);
}

void SSLIOStream::on_first_use() { start_handshake(); }

void SSLIOStream::start_handshake() {
  if (state_ != State::kIdle) return;
  if (closed()) {
    handshake_settled_.set();
    return;
  }
  state_ = State::kHandshaking;
  set_needs_input(true);  // the peer's flight must be read even with no read pending
  advance();
}

// Runs OpenSSL on what has arrived: the handshake, then records.
void SSLIOStream::advance() {
  if (state_ == State::kHandshaking && !continue_handshake()) return;
  if (state_ == State::kEstablished) read_records();
  if (state_ != State::kFailed && !closed() && output_pending() > 0) schedule_flush();
}

bool SSLIOStream::continue_handshake() {
  ERR_clear_error();
  int result = SSL_do_handshake(ssl_);
  if (result == 1) {
    state_ = State::kEstablished;
    if (std::exchange(handshake_deadline_armed_, false)) set_close_deadline(std::nullopt);
    set_needs_input(false);
    handshake_settled_.set();
    schedule_flush();  // writes queued during the handshake can go now
    send_flight_now();
    return true;
  }
  int error = SSL_get_error(ssl_, result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    send_flight_now();
    return false;
  }
  fail(failure_reason(ssl_, error));
  return false;
}

// A handshake step's output goes to the kernel at once rather than at the
// end of the turn: the step just cost hundreds of microseconds of public-key
// work, the peer is idle until this flight arrives, and the rest of the turn
// may be more handshakes (a server under a connection storm). Batching them
// measured 0.79x nginx's handshake rate, both cores partly idle; sending
// each flight as it is made keeps the peer busy meanwhile.
void SSLIOStream::send_flight_now() {
  if (output_pending() == 0) return;
  schedule_flush();
  loop().submit_now();
}

// ---------------------------------------------------------------- records

void SSLIOStream::on_socket_bytes(std::string_view bytes) {
  // A memory BIO grows as needed; BIO_write fails only without memory.
  if (BIO_write(input_, bytes.data(), static_cast<int>(bytes.size())) != static_cast<int>(bytes.size())) {
    fail("out of memory buffering TLS input");
    return;
  }
  // Before the first use the bytes wait in the BIO (the handshake is lazy).
  if (state_ == State::kHandshaking || state_ == State::kEstablished) advance();
}

void SSLIOStream::read_records() {
  char plaintext[kRecordSize];
  for (;;) {
    ERR_clear_error();
    std::size_t got = 0;
    int result = SSL_read_ex(ssl_, plaintext, sizeof plaintext, &got);
    if (result == 1) {
      append_readable(std::string_view(plaintext, got));
      continue;
    }
    int error = SSL_get_error(ssl_, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
    if (error == SSL_ERROR_ZERO_RETURN) {
      close(0);  // the peer's close_notify: end of stream
      return;
    }
    fail(failure_reason(ssl_, error));
    return;
  }
}

void SSLIOStream::encode(std::string& queued, std::string& wire) {
  if (state_ == State::kEstablished && !queued.empty()) {
    ERR_clear_error();
    std::size_t written = 0;
    // Into a memory BIO SSL_write takes everything, as records of at most
    // 16 KiB; all the writes of a turn become one run of records.
    if (SSL_write_ex(ssl_, queued.data(), queued.size(), &written) != 1 || written != queued.size()) {
      fail(failure_reason(ssl_, SSL_get_error(ssl_, 0)));
      return;
    }
    queued.clear();
  }
  take_output(wire);
}

bool SSLIOStream::has_output(const std::string& queued) const {
  return output_pending() > 0 || (state_ == State::kEstablished && !queued.empty());
}

std::size_t SSLIOStream::output_pending() const { return BIO_ctrl_pending(output_); }

// Drains the output BIO by reading it (a BIO_reset would zero its whole
// allocation every time).
void SSLIOStream::take_output(std::string& wire) {
  std::size_t pending = output_pending();
  if (pending == 0) return;
  std::size_t start = wire.size();
  wire.resize(start + pending);
  std::size_t got = 0;
  BIO_read_ex(output_, wire.data() + start, pending, &got);
  wire.resize(start + got);
}

// ---------------------------------------------------------------- failure

void SSLIOStream::fail(const std::string& reason) {
  if (state_ == State::kFailed || closed()) return;
  state_ = State::kFailed;
  ssl_error_ = reason;
  std::string peer = "unknown peer";
  try {
    peer = socket().peer_address().to_string();
  } catch (const std::exception&) {
    // Already disconnected; the fd identifies the connection well enough.
  }
  log::gen().warning("SSL Error on {} ({}): {}", socket().native_handle(), peer, reason);
  // The alert OpenSSL wrote tells the peer why. Best effort, straight to
  // the socket: the stream closes now and will not send again.
  std::string alert;
  take_output(alert);
  if (!alert.empty()) {
    [[maybe_unused]] ssize_t sent =
        ::send(socket().native_handle(), alert.data(), alert.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  close(EPROTO);
}

void SSLIOStream::raise_closed(int error) const {
  if (state_ == State::kFailed) throw SSLError(ssl_error_);
  throw StreamClosedError(error);
}

// No handshake can complete without the peer's next flight.
void SSLIOStream::on_end_of_input() {
  if (state_ != State::kEstablished) close(0);
}

void SSLIOStream::on_close() {
  if (state_ == State::kHandshaking) state_ = State::kIdle;
  handshake_settled_.set();
}

// ---------------------------------------------------------------- after the handshake

std::string SSLIOStream::selected_alpn_protocol() const {
  const unsigned char* data = nullptr;
  unsigned size = 0;
  SSL_get0_alpn_selected(ssl_, &data, &size);
  return std::string(reinterpret_cast<const char*>(data), size);
}

std::optional<PeerCertificate> SSLIOStream::peer_certificate() const {
  X509* certificate = SSL_get1_peer_certificate(ssl_);
  if (certificate == nullptr) return std::nullopt;
  PeerCertificate result;
  result.subject = name_text(X509_get_subject_name(certificate));
  result.issuer = name_text(X509_get_issuer_name(certificate));
  result.common_name = common_name(X509_get_subject_name(certificate));
  result.dns_names = dns_names(certificate);
  result.pem = pem_of(certificate);
  X509_free(certificate);
  return result;
}

std::optional<CipherInfo> SSLIOStream::cipher() const {
  const SSL_CIPHER* current = SSL_get_current_cipher(ssl_);
  if (current == nullptr) return std::nullopt;
  return CipherInfo{SSL_CIPHER_get_name(current), SSL_get_version(ssl_), SSL_CIPHER_get_bits(current, nullptr)};
}

std::string SSLIOStream::server_name() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? name : "";
}

// ---------------------------------------------------------------- start_tls

std::unique_ptr<SSLIOStream> start_tls(IOStream& stream, bool server_side, const SSLOptions& ssl_options,
                                       std::string server_hostname) {
  if (stream.reading() || stream.writing()) throw std::logic_error("start_tls: a read or write is pending");
  if (stream.closed()) throw StreamClosedError(stream.error());
  // The context first: invalid options must leave the plaintext stream as it was.
  std::shared_ptr<const SSLContext> context = SSLContext::create(ssl_options, server_side);
  IOStream::TakenSocket taken = stream.take_socket();
  return std::make_unique<SSLIOStream>(std::move(taken.socket), std::move(context), std::move(server_hostname),
                                       taken.options, std::move(taken.unread));
}

}  // namespace whirl
