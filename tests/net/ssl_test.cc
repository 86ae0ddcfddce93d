#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "whirl/net/ssl_iostream.h"
#include "whirl/net/ssl_options.h"
#include "whirl/net/tcpclient.h"
#include "whirl/net/tcpserver.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/locks.h"
#include "whirl/testing/certificates.h"
#include "whirl/runtime/file.h"
#include "whirl/testing/log_capture.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;
using testing::LogCapture;
using testing::TestCertificates;

const TestCertificates& certs() { return TestCertificates::get(); }

SSLOptions server_options() {
  SSLOptions options;
  options.certfile = certs().server_cert;
  options.keyfile = certs().server_key;
  options.alpn_protocols = {"http/1.1"};
  return options;
}

SSLOptions client_options() {
  SSLOptions options;
  options.ca_certs = certs().ca_cert;
  return options;
}

// A TLS server whose connections run `handler` (echo by default).
class TLSServer : public TCPServer {
 public:
  using Handler = std::function<Task<void>(SSLIOStream&)>;
  explicit TLSServer(SSLOptions options, Handler handler = echo)
      : TCPServer(TCPServer::Options{.ssl_options = std::move(options)}), handler_(std::move(handler)) {
    listen(0, "127.0.0.1");
  }
  int port() const { return addresses().front().port(); }

  static Task<void> echo(SSLIOStream& stream) {
    for (;;) {
      std::string data = co_await stream.read_bytes(64 * 1024, true);
      co_await stream.write(data);
    }
  }

  int handled = 0;
  int failed = 0;
  std::string last_failure;

 protected:
  Task<void> handle_stream(IOStream& stream, SocketAddress) override {
    ++handled;
    try {
      co_await handler_(dynamic_cast<SSLIOStream&>(stream));
    } catch (const StreamClosedError& e) {
      ++failed;
      last_failure = e.what();
      throw;
    }
  }

 private:
  Handler handler_;
};

template <typename F>
void run(F body) {
  IOLoop loop;
  auto task = body();
  loop.run_sync(with_timeout(30s, std::move(task)));
}

// Runs a shell command on a helper thread (the loop keeps serving) and
// returns its standard output and error. Commands are wrapped in `timeout`
// so that a stuck peer ends well before the test's own deadline.
Task<std::string> run_command(std::string command) {
  Event done;
  std::string output;
  IOLoop& loop = IOLoop::current();
  std::thread worker([&] {
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe != nullptr) {
      char buffer[4096];
      for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
      ::pclose(pipe);
    }
    loop.add_callback([&] { done.set(); });
  });
  co_await done.wait();
  worker.join();
  co_return output;
}

Task<std::unique_ptr<IOStream>> connect_tls(int port, SSLOptions options, std::string host = "localhost") {
  TCPClient::ConnectOptions tls{.ssl_options = std::move(options)};
  std::unique_ptr<IOStream> stream = co_await TCPClient::connect(host, port, tls);
  co_return stream;
}

SSLIOStream& as_ssl(const std::unique_ptr<IOStream>& stream) { return dynamic_cast<SSLIOStream&>(*stream); }

// ---------------------------------------------------------------- options

template <typename F>
std::string error_of(F make) {
  try {
    make();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SSLOptions, AMissingCertfileIsNamed) {
  SSLOptions options = server_options();
  options.certfile = "/nonexistent/cert.pem";
  std::string error = error_of([&] { SSLContext::create(options, true); });
  EXPECT_NE(error.find("certfile"), std::string::npos) << error;
  EXPECT_NE(error.find("/nonexistent/cert.pem"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST(SSLOptions, AKeyThatDoesNotMatchTheCertificateIsNamed) {
  SSLOptions options = server_options();
  options.keyfile = certs().client_key;
  std::string error = error_of([&] { SSLContext::create(options, true); });
  EXPECT_NE(error.find("does not match"), std::string::npos) << error;
  EXPECT_NE(error.find(certs().client_key), std::string::npos) << error;
}

TEST(SSLOptions, AFileThatIsNotPemIsNamed) {
  SSLOptions options = server_options();
  options.certfile = "/proc/self/status";
  std::string error = error_of([&] { SSLContext::create(options, true); });
  EXPECT_NE(error.find("certfile: '/proc/self/status' is not a PEM certificate"), std::string::npos) << error;
}

TEST(SSLOptions, UnknownValuesAndKeysAreNamed) {
  SSLOptions options = server_options();
  options.min_version = "SSLv3";
  EXPECT_NE(error_of([&] { SSLContext::create(options, true); }).find("min_version: unknown value 'SSLv3'"),
            std::string::npos);
  options = server_options();
  options.ciphers = "NO-SUCH-CIPHER";
  EXPECT_NE(error_of([&] { SSLContext::create(options, true); }).find("ciphers"), std::string::npos);
  EXPECT_NE(error_of([] { SSLOptions::from_map({{"cert_reqs", "sometimes"}}); }).find("cert_reqs"), std::string::npos);
  EXPECT_NE(error_of([] {
              SSLOptions::from_map({{"certfiel", "x"}});
            }).find("certfiel: unknown option"),
            std::string::npos);
  EXPECT_NE(error_of([] { SSLContext::create(SSLOptions{}, true); }).find("certfile: required"), std::string::npos);
}

TEST(SSLOptions, FromMapReadsEveryKey) {
  SSLOptions options = SSLOptions::from_map({{"certfile", "c.pem"},
                                             {"keyfile", "k.pem"},
                                             {"ca_certs", "ca.pem"},
                                             {"cert_reqs", "optional"},
                                             {"ciphers", "ECDHE+AESGCM"},
                                             {"min_version", "TLSv1.3"},
                                             {"alpn_protocols", "h2,http/1.1"},
                                             {"check_hostname", "false"}});
  EXPECT_EQ(options.certfile, "c.pem");
  EXPECT_EQ(options.keyfile, "k.pem");
  EXPECT_EQ(options.ca_certs, "ca.pem");
  EXPECT_EQ(options.cert_reqs, SSLOptions::CertReqs::kOptional);
  EXPECT_EQ(options.ciphers, "ECDHE+AESGCM");
  EXPECT_EQ(options.min_version, "TLSv1.3");
  EXPECT_EQ(options.alpn_protocols, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_FALSE(options.check_hostname);
}

TEST(SSLOptions, ATCPServerValidatesWhenBuilt) {
  IOLoop loop;
  SSLOptions options = server_options();
  options.keyfile = "/nonexistent/key.pem";
  EXPECT_THROW(TLSServer server(options), std::invalid_argument);
}

// ---------------------------------------------------------------- whirl to whirl

// The constructor throws after it has made its SSL object; LeakSanitizer
// (--config=asan) fails this test if that object is not freed.
TEST(SSLIOStream, AConstructorThatThrowsLeaksNothing) {
  IOLoop loop;
  auto context = SSLContext::create(client_options(), /*server_side=*/false);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  ::close(fds[1]);
  EXPECT_THROW(SSLIOStream(Socket::adopt(fds[0]), context, /*server_hostname=*/""), std::invalid_argument)
      << "checking the host name needs one";
}

TEST(SSLIOStream, ASilentClientIsClosedAtTheHandshakeTimeout) {
  IOLoop loop;
  TCPServer::Options options{.ssl_options = server_options(), .ssl_handshake_timeout = 200ms};
  class Silent : public TCPServer {
   public:
    using TCPServer::TCPServer;
    Task<void> handle_stream(IOStream& stream, SocketAddress) override { co_await stream.read_bytes(1); }
  } server(options);
  server.listen(0, "127.0.0.1");
  int port = server.addresses().front().port();
  auto silent = [](int port) -> Task<double> {
    std::unique_ptr<IOStream> raw = co_await TCPClient::connect("127.0.0.1", port);  // plain TCP: says nothing
    auto start = Clock::now();
    bool closed = false;
    try {
      co_await raw->read_bytes(1);
    } catch (const StreamClosedError&) {
      closed = true;
    }
    EXPECT_TRUE(closed);
    co_return std::chrono::duration<double>(Clock::now() - start).count();
  };
  double waited = loop.run_sync(with_timeout(5s, silent(port)));
  EXPECT_GE(waited, 0.15);
  EXPECT_LT(waited, 2.0) << "closed by the handshake timeout, not the idle one";
}

TEST(SSLIOStream, WhirlClientAndServerEchoAndAgreeOnTheDetails) {
  run([]() -> Task<void> {
    std::string sni;
    std::string server_alpn;
    TLSServer server(server_options(), [&](SSLIOStream& stream) -> Task<void> {
      co_await stream.wait_for_handshake();
      sni = stream.server_name();
      server_alpn = stream.selected_alpn_protocol();
      co_await TLSServer::echo(stream);
    });
    SSLOptions options = client_options();
    options.alpn_protocols = {"h2", "http/1.1"};
    std::unique_ptr<IOStream> client = co_await connect_tls(server.port(), options);
    SSLIOStream& tls = as_ssl(client);
    EXPECT_TRUE(tls.handshake_done());
    EXPECT_EQ(tls.selected_alpn_protocol(), "http/1.1");
    std::optional<CipherInfo> cipher = tls.cipher();
    EXPECT_TRUE(cipher.has_value());
    if (!cipher) co_return;
    EXPECT_EQ(cipher->protocol, "TLSv1.3");
    EXPECT_GE(cipher->secret_bits, 128);
    std::optional<PeerCertificate> peer = tls.peer_certificate();
    EXPECT_TRUE(peer.has_value());
    if (!peer) co_return;
    EXPECT_EQ(peer->common_name, "localhost");
    EXPECT_EQ(peer->issuer, "CN=whirl test CA,O=whirl tests");
    EXPECT_NE(std::find(peer->dns_names.begin(), peer->dns_names.end(), "localhost"), peer->dns_names.end());
    EXPECT_EQ(peer->pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
    co_await client->write("over tls\n");
    std::string reply = co_await client->read_until("\n");
    EXPECT_EQ(reply, "over tls\n");
    EXPECT_EQ(sni, "localhost");
    EXPECT_EQ(server_alpn, "http/1.1");
  });
}

TEST(SSLIOStream, TenMebibytesEachWayArriveIntact) {
  run([]() -> Task<void> {
    constexpr std::size_t kSize = 10 * 1024 * 1024;
    std::string payload(kSize, '\0');
    for (std::size_t i = 0; i < kSize; ++i) payload[i] = static_cast<char>((i * 7919) >> 3);
    TLSServer server(server_options());
    std::unique_ptr<IOStream> client = co_await connect_tls(server.port(), client_options());
    client->write(payload);  // queued; the echo comes back while we read
    std::string echoed = co_await client->read_bytes(kSize);
    EXPECT_TRUE(echoed == payload) << "10 MiB came back byte for byte";
  });
}

TEST(SSLIOStream, WriteFileSendsTheFileEncryptedInPieces) {
  run([]() -> Task<void> {
    std::string dir = std::filesystem::temp_directory_path().string() + "/whirl-tls-file-XXXXXX";
    dir = ::mkdtemp(dir.data());
    std::string content(3 * 1024 * 1024 + 5, '\0');
    for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>((i * 131) >> 4);
    std::ofstream(dir + "/data", std::ios::binary) << content;
    File root = File::open_directory(dir);
    TLSServer server(server_options(), [&](SSLIOStream& stream) -> Task<void> {
      File file = co_await File::open(root, "data");
      co_await stream.write_file(file, 0, content.size());
      co_await stream.write({});
    });
    std::unique_ptr<IOStream> client = co_await connect_tls(server.port(), client_options());
    std::string got = co_await client->read_bytes(content.size());
    EXPECT_TRUE(got == content) << "3 MiB through TLS, byte for byte";
    std::filesystem::remove_all(dir);
  });
}

TEST(SSLIOStream, WritesBeforeTheHandshakeAreSentAfterIt) {
  run([]() -> Task<void> {
    TLSServer server(server_options(), [](SSLIOStream& stream) -> Task<void> {
      stream.write("first ");
      stream.write("second\n");
      std::string line = co_await stream.read_until("\n");
      co_await stream.write(line);
    });
    std::unique_ptr<IOStream> client = co_await connect_tls(server.port(), client_options());
    std::string greeting = co_await client->read_until("\n");
    EXPECT_EQ(greeting, "first second\n");
    co_await client->write("third\n");
    std::string reply = co_await client->read_until("\n");
    EXPECT_EQ(reply, "third\n");
  });
}

TEST(SSLIOStream, WaitingForTheHandshakeTwiceAtOnceIsALogicError) {
  run([]() -> Task<void> {
    TLSServer server(server_options());
    std::unique_ptr<IOStream> plain = co_await TCPClient::connect("127.0.0.1", server.port());
    std::unique_ptr<SSLIOStream> tls = start_tls(*plain, false, client_options(), "localhost");
    bool first_done = false;
    auto first = [](SSLIOStream* stream, bool* done) -> Task<void> {
      co_await stream->wait_for_handshake();
      *done = true;
    };
    IOLoop::current().spawn(first(tls.get(), &first_done));
    co_await moment();  // the first wait is pending now
    bool threw = false;
    try {
      co_await tls->wait_for_handshake();
    } catch (const std::logic_error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    for (int i = 0; i < 100 && !first_done; ++i) co_await sleep(10ms);
    EXPECT_TRUE(first_done);
    EXPECT_TRUE(tls->handshake_done());
    co_await tls->wait_for_handshake();  // once done, waiting again returns at once
  });
}

// ---------------------------------------------------------------- verification

TEST(SSLIOStream, AHostNameMismatchIsRejectedByTheClient) {
  run([]() -> Task<void> {
    SSLOptions options = server_options();
    options.certfile = certs().other_cert;
    options.keyfile = certs().other_key;
    TLSServer server(options);
    std::string error;
    try {
      co_await connect_tls(server.port(), client_options(), "localhost");
    } catch (const SSLError& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
    EXPECT_NE(error.find("hostname mismatch"), std::string::npos) << error;
  });
}

TEST(SSLIOStream, AnUntrustedCertificateIsRejectedByTheClient) {
  run([]() -> Task<void> {
    SSLOptions options = server_options();
    options.certfile = certs().self_signed_cert;
    options.keyfile = certs().self_signed_key;
    TLSServer server(options);
    std::string error;
    try {
      co_await connect_tls(server.port(), client_options(), "127.0.0.1");
    } catch (const SSLError& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("self-signed certificate"), std::string::npos) << error;
  });
}

TEST(SSLIOStream, AnIPAddressIsCheckedAgainstTheCertificate) {
  run([]() -> Task<void> {
    TLSServer server(server_options());
    std::unique_ptr<IOStream> client = co_await connect_tls(server.port(), client_options(), "127.0.0.1");
    EXPECT_TRUE(as_ssl(client).handshake_done());
    EXPECT_EQ(as_ssl(client).server_name(), "") << "no SNI for an IP address";
  });
}

SSLOptions requiring_client_certificates() {
  SSLOptions options = server_options();
  options.ca_certs = certs().ca_cert;
  options.cert_reqs = SSLOptions::CertReqs::kRequired;
  return options;
}

TEST(SSLIOStream, ARequiredClientCertificateIsAccepted) {
  run([]() -> Task<void> {
    std::string client_name;
    TLSServer server(requiring_client_certificates(), [&](SSLIOStream& stream) -> Task<void> {
      co_await stream.wait_for_handshake();
      std::optional<PeerCertificate> peer = stream.peer_certificate();
      client_name = peer ? peer->common_name : "(none)";
      co_await TLSServer::echo(stream);
    });
    SSLOptions options = client_options();
    options.certfile = certs().client_cert;
    options.keyfile = certs().client_key;
    std::unique_ptr<IOStream> client = co_await connect_tls(server.port(), options);
    co_await client->write("with cert\n");
    std::string reply = co_await client->read_until("\n");
    EXPECT_EQ(reply, "with cert\n");
    EXPECT_EQ(client_name, "whirl test client");
  });
}

TEST(SSLIOStream, AMissingRequiredClientCertificateFailsOnBothSides) {
  LogCapture log;
  run([]() -> Task<void> {
    std::string server_error;
    TLSServer server(requiring_client_certificates(), [&](SSLIOStream& stream) -> Task<void> {
      try {
        co_await stream.wait_for_handshake();
      } catch (const SSLError& e) {
        server_error = e.what();
        throw;
      }
    });
    std::string client_error;
    try {
      // TLS 1.3: the client finishes its half before the server's verdict,
      // which arrives as an alert on the first read.
      std::unique_ptr<IOStream> client = co_await connect_tls(server.port(), client_options());
      co_await client->read_until("\n");
    } catch (const SSLError& e) {
      client_error = e.what();
    } catch (const StreamClosedError& e) {
      client_error = e.what();
    }
    for (int i = 0; i < 100 && server_error.empty(); ++i) co_await sleep(10ms);
    EXPECT_NE(server_error.find("peer did not return a certificate"), std::string::npos) << server_error;
    EXPECT_NE(client_error.find("certificate required"), std::string::npos) << client_error;
  });
  EXPECT_FALSE(log.contains(log::Level::kError, "")) << "a refused client is not an ERROR";
}

// ---------------------------------------------------------------- bad input

TEST(SSLIOStream, PlaintextOnTheTLSPortClosesThatConnectionWithOneWarning) {
  LogCapture log;
  run([]() -> Task<void> {
    TLSServer server(server_options());
    std::unique_ptr<IOStream> good = co_await connect_tls(server.port(), client_options());
    std::unique_ptr<IOStream> plain = co_await TCPClient::connect("127.0.0.1", server.port());
    co_await plain->write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    std::string answer = co_await plain->read_until_close();  // a TLS alert, then the close
    EXPECT_LT(answer.size(), 64u);
    co_await good->write("still here\n");
    std::string reply = co_await good->read_until("\n");
    EXPECT_EQ(reply, "still here\n") << "the other TLS client keeps working";
  });
  int warnings = 0;
  for (const LogCapture::Line& line : log.lines()) {
    EXPECT_LT(line.level, log::Level::kError) << line.message;
    if (line.message.find("SSL Error") != std::string::npos) {
      ++warnings;
      EXPECT_EQ(line.level, log::Level::kWarning);
      EXPECT_EQ(line.message.find('\n'), std::string::npos) << "one line, no stack";
    }
  }
  EXPECT_EQ(warnings, 1);
}

TEST(SSLIOStream, AScannerThatConnectsAndLeavesLogsNothing) {
  LogCapture log;
  run([]() -> Task<void> {
    TLSServer server(server_options());
    for (int i = 0; i < 5; ++i) {
      std::unique_ptr<IOStream> scanner = co_await TCPClient::connect("127.0.0.1", server.port());
      scanner->close();
    }
    for (int i = 0; i < 100 && server.failed < 5; ++i) co_await sleep(10ms);
    EXPECT_EQ(server.failed, 5) << "each handler saw StreamClosedError";
  });
  for (const LogCapture::Line& line : log.lines()) EXPECT_LT(line.level, log::Level::kWarning) << line.message;
}

TEST(SSLIOStream, APeerThatVanishesMidHandshakeEndsInStreamClosedError) {
  run([]() -> Task<void> {
    TLSServer server(server_options());
    std::unique_ptr<IOStream> client = co_await TCPClient::connect("127.0.0.1", server.port());
    // The first bytes of a ClientHello record, then nothing.
    co_await client->write(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
    client->close();
    for (int i = 0; i < 100 && server.failed < 1; ++i) co_await sleep(10ms);
    EXPECT_EQ(server.failed, 1);
    EXPECT_EQ(server.last_failure, "Stream is closed");
  });
}

TEST(SSLIOStream, ATruncatedRecordEndsInStreamClosedError) {
  run([]() -> Task<void> {
    TLSServer server(server_options());
    std::unique_ptr<IOStream> client = co_await connect_tls(server.port(), client_options());
    co_await client->write("ping\n");
    std::string reply = co_await client->read_until("\n");
    EXPECT_EQ(reply, "ping\n");
    // Half an application-data record straight onto the socket, then EOF.
    std::string half(
        "\x17\x03\x03\x00\x40"
        "0123456789",
        15);
    EXPECT_EQ(::send(client->socket().native_handle(), half.data(), half.size(), MSG_NOSIGNAL), 15);
    ::shutdown(client->socket().native_handle(), SHUT_WR);
    for (int i = 0; i < 100 && server.failed < 1; ++i) co_await sleep(10ms);
    EXPECT_EQ(server.failed, 1) << "the server's pending read failed instead of hanging";
  });
}

// ---------------------------------------------------------------- start_tls

TEST(SSLIOStream, StartTLSUpgradesAPlaintextExchange) {
  run([]() -> Task<void> {
    class StartTLSServer : public TCPServer {
     public:
      std::string secret;

     protected:
      Task<void> handle_stream(IOStream& stream, SocketAddress) override {
        std::string command = co_await stream.read_until("\n");
        if (command != "STARTTLS\n") co_return;
        co_await stream.write("GO\n");
        std::unique_ptr<SSLIOStream> tls = start_tls(stream, true, server_options());
        secret = co_await tls->read_until("\n");
        co_await tls->write("secret received\n");
      }
    } server;
    server.listen(0, "127.0.0.1");
    std::unique_ptr<IOStream> plain = co_await TCPClient::connect("127.0.0.1", server.addresses().front().port());
    co_await plain->write("STARTTLS\n");
    std::string go = co_await plain->read_until("\n");
    EXPECT_EQ(go, "GO\n");
    std::unique_ptr<SSLIOStream> tls = start_tls(*plain, false, client_options(), "localhost");
    EXPECT_TRUE(plain->closed()) << "the plaintext stream gave its connection away";
    co_await tls->write("the password\n");
    std::string ack = co_await tls->read_until("\n");
    EXPECT_EQ(ack, "secret received\n");
    EXPECT_EQ(server.secret, "the password\n");
    EXPECT_TRUE(tls->handshake_done());
  });
}

TEST(SSLIOStream, StartTLSIsRefusedWhileAReadOrWriteIsPending) {
  run([]() -> Task<void> {
    TLSServer unused(server_options());
    class Silent : public TCPServer {
     protected:
      Task<void> handle_stream(IOStream& stream, SocketAddress) override { co_await stream.read_until_close(); }
    } server;
    server.listen(0, "127.0.0.1");
    std::unique_ptr<IOStream> plain = co_await TCPClient::connect("127.0.0.1", server.addresses().front().port());
    IOStream* stream = plain.get();
    auto reader = IOLoop::current().spawn([](IOStream* s) -> Task<void> { co_await s->read_bytes(1); }(stream));
    co_await moment();
    EXPECT_THROW(start_tls(*plain, false, client_options(), "localhost"), std::logic_error);
    reader.cancel();
    co_await moment();
    plain->write("queued, not yet sent");
    EXPECT_THROW(start_tls(*plain, false, client_options(), "localhost"), std::logic_error);
  });
}

// ---------------------------------------------------------------- real peers

// ThreadSanitizer can deadlock a child forked from a threaded process before
// it execs (one CI run hung 30 s in popen); the interop tests below are
// about the protocol, not threads, and run in every other configuration.
#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kUnderThreadSanitizer = true;
#else
constexpr bool kUnderThreadSanitizer = false;
#endif
#else
constexpr bool kUnderThreadSanitizer = false;
#endif

// The reply external clients get: their line back and what the server saw.
Task<void> describe(SSLIOStream& stream) {
  std::string line = co_await stream.read_until("\n");
  std::optional<CipherInfo> cipher = stream.cipher();
  // Named first: GCC 12 destroys temporaries in a co_await expression twice.
  std::string reply = "echo " + line + "version=" + (cipher ? cipher->protocol : "?") +
                      " alpn=" + stream.selected_alpn_protocol() + " sni=" + stream.server_name() + "\n";
  co_await stream.write(reply);
}

std::string s_client(int port, const std::string& version_flag) {
  return "printf 'hello from s_client\\n' | timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
         " " + version_flag + " -alpn http/1.1 -servername localhost -verify_return_error -CAfile " + certs().ca_cert +
         " -ign_eof";
}

TEST(SSLIOStream, OpenSSLSClientSpeaksTLS12AndTLS13WithALPN) {
  if (kUnderThreadSanitizer) GTEST_SKIP() << "forks a peer; see kUnderThreadSanitizer";
  run([]() -> Task<void> {
    TLSServer server(server_options(), describe);
    std::string tls13 = co_await run_command(s_client(server.port(), "-tls1_3"));
    EXPECT_NE(tls13.find("echo hello from s_client\nversion=TLSv1.3 alpn=http/1.1 sni=localhost"), std::string::npos)
        << tls13;
    EXPECT_NE(tls13.find("Verify return code: 0 (ok)"), std::string::npos) << tls13;
    std::string tls12 = co_await run_command(s_client(server.port(), "-tls1_2"));
    EXPECT_NE(tls12.find("echo hello from s_client\nversion=TLSv1.2 alpn=http/1.1 sni=localhost"), std::string::npos)
        << tls12;
    std::string tls11 = co_await run_command(s_client(server.port(), "-tls1_1"));
    EXPECT_EQ(tls11.find("echo hello"), std::string::npos) << "TLS 1.1 is refused: " << tls11;
  });
}

TEST(SSLIOStream, PythonsSslModuleConnectsAndVerifies) {
  if (kUnderThreadSanitizer) GTEST_SKIP() << "forks a peer; see kUnderThreadSanitizer";
  run([]() -> Task<void> {
    TLSServer server(server_options(), describe);
    std::string script =
        "import socket, ssl, sys\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
        "ctx.set_alpn_protocols(['http/1.1'])\n"
        "with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as raw:\n"
        "    with ctx.wrap_socket(raw, server_hostname='localhost') as s:\n"
        "        s.sendall(b'hello from python\\n')\n"
        "        data = b''\n"
        "        while data.count(b'\\n') < 2:\n"
        "            chunk = s.recv(4096)\n"
        "            if not chunk: break\n"
        "            data += chunk\n"
        "        print(s.version(), s.selected_alpn_protocol(), data.decode(), end='')\n";
    std::string path = testing::TestCertificates::get().directory + "/client.py";
    FILE* file = std::fopen(path.c_str(), "w");
    std::fputs(script.c_str(), file);
    std::fclose(file);
    std::string output = co_await run_command("timeout 20 /usr/bin/python3 " + path + " " +
                                              std::to_string(server.port()) + " " + certs().ca_cert);
    EXPECT_NE(output.find("TLSv1.3 http/1.1 echo hello from python\nversion=TLSv1.3 alpn=http/1.1 sni=localhost"),
              std::string::npos)
        << output;
  });
}

}  // namespace
}  // namespace whirl
