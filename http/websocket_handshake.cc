#include "http/websocket_handshake.h"

#include <openssl/evp.h>
#include <stdlib.h>

#include <array>
#include <cstdint>
#include <stdexcept>

#include "whirl/http/httputil.h"

namespace whirl {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string new_websocket_key() {
  std::array<unsigned char, 16> nonce;
  arc4random_buf(nonce.data(), nonce.size());
  return base64_encode({reinterpret_cast<const char*>(nonce.data()), nonce.size()});
}

bool is_valid_websocket_key(std::string_view key) noexcept {
  // 16 bytes are five full groups and one of a single byte: 22 symbols,
  // then "==". The last symbol carries 2 bits of that byte; its other 4
  // must be zero, or the text is not the canonical encoding of 16 bytes.
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i) {
    if (base64_value(key[i]) < 0) return false;
  }
  return (base64_value(key[21]) & 0x0F) == 0;
}

std::string websocket_accept(std::string_view key) {
  std::string text(key);
  text.append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("SHA-1 failed");
  }
  return base64_encode({reinterpret_cast<const char*>(digest), size});
}

std::vector<std::string> header_list(const HTTPHeaders& headers, std::string_view name) {
  std::vector<std::string> items;
  for (std::string_view line : headers.get_list(name)) {
    while (!line.empty()) {
      std::size_t comma = line.find(',');
      std::string_view item = trim_ows(line.substr(0, comma));
      if (!item.empty()) items.emplace_back(item);
      if (comma == std::string_view::npos) break;
      line.remove_prefix(comma + 1);
    }
  }
  return items;
}

std::string joined_header(const HTTPHeaders& headers, std::string_view name) {
  std::string joined;
  for (std::string_view line : headers.get_list(name)) {
    if (!joined.empty()) joined += ", ";
    joined.append(line);
  }
  return joined;
}

}  // namespace whirl
