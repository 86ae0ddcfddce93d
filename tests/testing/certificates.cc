#include "whirl/testing/certificates.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

namespace whirl::testing {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("making test certificates: ") + what);
}

Key new_key() {
  Key key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(extension != nullptr, value);
  X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
}

// A certificate for `key`, named `common_name`, signed by `issuer_key`
// (self-signed when `issuer` is null).
Cert make_cert(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key, bool ca,
               const char* subject_alt_names) {
  static long serial = 1;
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("whirl tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "CA:FALSE");
  }
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (subject_alt_names != nullptr) add_extension(cert.get(), signer, NID_subject_alt_name, subject_alt_names);
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* file = std::fopen(path.c_str(), "w");
  check(file != nullptr, "fopen");
  bool ok = cert != nullptr ? PEM_write_X509(file, cert) == 1
                            : PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(file);
  check(ok, "PEM_write");
  return path;
}

TestCertificates make_all() {
  TestCertificates certs;
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/whirl-certs-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  check(mkdtemp(buffer.data()) != nullptr, "mkdtemp");
  certs.directory = buffer.data();
  auto at = [&](const char* file) { return certs.directory + "/" + file; };

  Key ca_key = new_key();
  Cert ca = make_cert(ca_key.get(), "whirl test CA", nullptr, nullptr, true, nullptr);
  certs.ca_cert = write_pem(at("ca.pem"), ca.get(), nullptr);

  Key server_key = new_key();
  Cert server =
      make_cert(server_key.get(), "localhost", ca.get(), ca_key.get(), false, "DNS:localhost,IP:127.0.0.1,IP:::1");
  certs.server_cert = write_pem(at("server.pem"), server.get(), nullptr);
  certs.server_key = write_pem(at("server.key"), nullptr, server_key.get());

  Key client_key = new_key();
  Cert client = make_cert(client_key.get(), "whirl test client", ca.get(), ca_key.get(), false, nullptr);
  certs.client_cert = write_pem(at("client.pem"), client.get(), nullptr);
  certs.client_key = write_pem(at("client.key"), nullptr, client_key.get());

  Key other_key = new_key();
  Cert other = make_cert(other_key.get(), "other.invalid", ca.get(), ca_key.get(), false, "DNS:other.invalid");
  certs.other_cert = write_pem(at("other.pem"), other.get(), nullptr);
  certs.other_key = write_pem(at("other.key"), nullptr, other_key.get());

  Key lone_key = new_key();
  Cert lone = make_cert(lone_key.get(), "localhost", nullptr, nullptr, false, "DNS:localhost,IP:127.0.0.1");
  certs.self_signed_cert = write_pem(at("self.pem"), lone.get(), nullptr);
  certs.self_signed_key = write_pem(at("self.key"), nullptr, lone_key.get());
  return certs;
}

}  // namespace

const TestCertificates& TestCertificates::get() {
  static const TestCertificates certs = make_all();
  return certs;
}

}  // namespace whirl::testing
