// whirl/http/websocket_handshake.h: the pieces of RFC 6455 §4 both sides
// compute: the key, its accept value, the header checks. Private to
// //http:websocket.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "whirl/http/http_headers.h"

namespace whirl {

// A fresh Sec-WebSocket-Key: 16 random bytes, base64.
std::string new_websocket_key();
// Whether `key` is base64 of exactly 16 bytes (24 characters, "==" last).
bool is_valid_websocket_key(std::string_view key) noexcept;
// Sec-WebSocket-Accept for `key`: base64(SHA-1(key + the RFC's GUID)).
std::string websocket_accept(std::string_view key);
// Every element of every `name` line, a comma-separated list, trimmed.
std::vector<std::string> header_list(const HTTPHeaders& headers, std::string_view name);
// The `name` lines joined with ", " (one list, as RFC 9110 §5.3 allows).
std::string joined_header(const HTTPHeaders& headers, std::string_view name);

}  // namespace whirl
