// whirl/net/ssl_iostream.h: Tornado's SSLIOStream, OpenSSL over memory BIOs.
//
//     auto context = SSLContext::create(options, /*server_side=*/true);
//     SSLIOStream stream(std::move(socket), context);
//     co_await stream.wait_for_handshake();            // optional: reads and writes
//     stream.selected_alpn_protocol();                 // start it too
//     std::string line = co_await stream.read_until("\n");
//
// The interface is IOStream's. OpenSSL never touches the socket: ciphertext
// arrives through the stream's multishot recv and is fed into a memory BIO;
// SSL_read decrypts it into the read buffer at once (so read_until and
// backpressure work on plaintext as they do on a plain stream). Written
// plaintext is queued as usual and encrypted in the turn's flush, so all
// writes of a turn leave as one run of TLS records in one send; a write
// completes when its records have been handed to the kernel.
//
// The handshake starts at the first read or write, or at
// wait_for_handshake(); until it completes, writes stay queued (plaintext)
// and reads wait. A failed handshake or a bad record closes the stream with
// real_error() EPROTO after a best-effort alert to the peer; the waiting
// read or write and wait_for_handshake() fail with SSLError (a
// StreamClosedError whose what() carries OpenSSL's reason), and one line is
// logged at WARNING
// ("SSL Error on <fd> (<peer>): <reason>"). A peer that connects and leaves
// without a word (a port scanner) or resets logs nothing above DEBUG.
//
// A close_notify from the peer ends the stream; a peer that vanishes
// mid-handshake ends it with StreamClosedError(0). End of file after the
// handshake closes only the reading half, as on a plain IOStream.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "whirl/net/iostream.h"
#include "whirl/net/ssl_options.h"
#include "whirl/runtime/locks.h"
#include "whirl/runtime/task.h"

using SSL = struct ssl_st;
using BIO = struct bio_st;

namespace whirl {

struct PeerCertificate {
  std::string subject;                 // "CN=localhost,O=whirl" (RFC 2253)
  std::string issuer;                  // likewise
  std::string common_name;             // the subject's CN, if any
  std::vector<std::string> dns_names;  // subjectAltName DNS entries
  std::string pem;
};

struct CipherInfo {
  std::string name;      // "TLS_AES_256_GCM_SHA384"
  std::string protocol;  // "TLSv1.3"
  int secret_bits = 0;
};

class SSLIOStream final : public IOStream {
 public:
  // `server_hostname` (client side) is sent as SNI and, when the context
  // verifies the peer, checked against the certificate. `early_input` is
  // ciphertext already received (start_tls).
  SSLIOStream(Socket socket, std::shared_ptr<const SSLContext> context, std::string server_hostname = "",
              Options options = {}, std::string early_input = "");
  ~SSLIOStream() override;

  // Completes when the handshake has; throws SSLError if it failed,
  // StreamClosedError if the connection closed first. Awaiting it while
  // another wait is pending is a logic error (std::logic_error).
  Task<void> wait_for_handshake();
  bool handshake_done() const noexcept { return state_ == State::kEstablished; }
  // Closes the stream with ETIMEDOUT unless the handshake has completed by
  // `deadline` (TCPServer::Options::ssl_handshake_timeout).
  void set_handshake_deadline(TimePoint deadline);

  // After the handshake:
  std::string selected_alpn_protocol() const;  // "" when none was agreed
  std::optional<PeerCertificate> peer_certificate() const;
  std::optional<CipherInfo> cipher() const;
  std::string server_name() const;  // server side: the SNI the client sent, or ""
  // Why the stream failed, if TLS made it fail ("" otherwise).
  const std::string& ssl_error() const noexcept { return ssl_error_; }

 protected:
  void on_socket_bytes(std::string_view bytes) override;
  void encode(std::string& queued, std::string& wire) override;
  bool has_output(const std::string& queued) const override;
  void on_first_use() override;
  void on_close() override;
  void on_end_of_input() override;
  bool allows_shutdown_write() const override { return false; }  // a close_notify would be owed first
  bool sends_as_written() const override { return false; }       // every byte is encrypted
  [[noreturn]] void raise_closed(int error) const override;

 private:
  enum class State : unsigned char { kIdle, kHandshaking, kEstablished, kFailed };

  void start_handshake();
  void advance();
  bool continue_handshake();
  void send_flight_now();
  void read_records();
  void fail(const std::string& reason);
  void take_output(std::string& wire);
  std::size_t output_pending() const;

  std::shared_ptr<const SSLContext> context_;
  SSL* ssl_ = nullptr;
  BIO* input_ = nullptr;   // ciphertext received, read by OpenSSL
  BIO* output_ = nullptr;  // ciphertext OpenSSL wrote, to be sent
  State state_ = State::kIdle;
  bool handshake_waiting_ = false;
  bool handshake_deadline_armed_ = false;
  Event handshake_settled_;  // set when established, failed or closed
  std::string ssl_error_;
};

// Tornado's IOStream.start_tls: a TLS stream over `stream`'s connection
// (for STARTTLS exchanges). Bytes already received and not yet read become
// the TLS stream's first input; `stream` is left closed (take_socket).
// Throws std::logic_error while a read or write is pending on it,
// StreamClosedError if it is closed, and the SSLOptions validation errors
// (then `stream` is untouched).
std::unique_ptr<SSLIOStream> start_tls(IOStream& stream, bool server_side, const SSLOptions& ssl_options,
                                       std::string server_hostname = "");

}  // namespace whirl
