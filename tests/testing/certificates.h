// whirl/testing/certificates.h: TLS certificates made at test time.
//
//     const TestCertificates& certs = TestCertificates::get();
//     SSLOptions server;
//     server.certfile = certs.server_cert;
//     server.keyfile = certs.server_key;
//
// Nothing is committed: on first use a throwaway CA (ECDSA P-256) signs a
// server certificate for localhost, 127.0.0.1 and ::1, a client
// certificate, and one for another host name; all are written as PEM files
// under $TEST_TMPDIR (or /tmp) and live for the test process.
#pragma once

#include <string>

namespace whirl::testing {

struct TestCertificates {
  std::string directory;
  std::string ca_cert;
  std::string server_cert;  // CN=localhost, SAN localhost, 127.0.0.1, ::1
  std::string server_key;
  std::string client_cert;  // CN=whirl test client
  std::string client_key;
  std::string other_cert;  // CN=other.invalid: right CA, wrong host name
  std::string other_key;
  std::string self_signed_cert;  // localhost, but signed by nobody we trust
  std::string self_signed_key;

  static const TestCertificates& get();
};

}  // namespace whirl::testing
