// whirl/http/websocket_deflate.h: permessage-deflate (RFC 7692), the one
// WebSocket extension: its negotiation and the per-message codec.
//
//     // server: the client's Sec-WebSocket-Extensions, our options
//     std::optional<DeflateAgreement> agreed = accept_deflate_offer(offered, options);
//     if (agreed) response.set("Sec-WebSocket-Extensions", agreed->response_header());
//     PerMessageDeflate codec(*agreed, /*is_server=*/true, options);
//     codec.compress(message, wire_payload);          // RSV1 goes on the frame
//     codec.decompress(wire_payload, message, limit); // throws past `limit`
//
//     // client: offer, then check the server's answer
//     request.set("Sec-WebSocket-Extensions", deflate_offer(options));
//     DeflateAgreement agreed = accept_deflate_response(answer);  // throws if invalid
//
// Parameters: *_no_context_takeover makes that side start every message
// with an empty window (less memory, less compression); *_max_window_bits
// bounds that side's window (2^8..2^15 bytes). A server takes the first
// offer it can honour: one asking it for an 8-bit window is declined
// (zlib's raw deflate cannot make one), as is one with a parameter it does
// not know or one given twice (§7.1: such an offer is invalid). Inflating
// always uses a full 2^15 window, which decodes a peer's smaller one too.
//
// Memory: a side that takes no context over frees its zlib state after
// each message, so an idle connection holds none of it; one that does
// keeps its deflater (about 256 KiB at mem_level 8) for the connection's
// life, the price of the better ratio. mem_level trades that memory for
// ratio, as Tornado's compression_options["mem_level"] does.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace whirl {

class GzipCompressor;
class GzipDecompressor;

// Tornado's compression_options, and what whirl asks for itself.
struct DeflateOptions {
  int compression_level = 6;  // zlib's 0..9 (Tornado's default, Z_DEFAULT_COMPRESSION, is 6)
  int mem_level = 8;          // zlib's 1..9
  // Ask for (client) or insist on (server) no context takeover on our side.
  bool no_context_takeover = false;
  int max_window_bits = 15;  // our own window, 9..15
};

struct DeflateAgreement {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
  // The parameters as a server answers them.
  std::string response_header() const;
};

// The handshake's answer was not a permessage-deflate the client can use.
class DeflateNegotiationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Server: the first offer in `offered` (a Sec-WebSocket-Extensions value,
// several header lines joined with ", ") that can be honoured.
std::optional<DeflateAgreement> accept_deflate_offer(std::string_view offered, const DeflateOptions& options);
// Client: what to offer.
std::string deflate_offer(const DeflateOptions& options);
// Client: the server's answer (its Sec-WebSocket-Extensions value, which
// names permessage-deflate); throws DeflateNegotiationError if it breaks
// §7 or asks for what the client cannot do.
DeflateAgreement accept_deflate_response(std::string_view answered, const DeflateOptions& options);

// A compressed message inflated past its limit (close 1009), or one that
// is not valid DEFLATE (close 1007).
class DeflateDataError : public std::runtime_error {
 public:
  DeflateDataError(const char* what, bool too_big) : std::runtime_error(what), too_big_(too_big) {}
  bool too_big() const noexcept { return too_big_; }

 private:
  bool too_big_;
};

class PerMessageDeflate {
 public:
  PerMessageDeflate(const DeflateAgreement& agreement, bool is_server, const DeflateOptions& options);
  ~PerMessageDeflate();
  PerMessageDeflate(const PerMessageDeflate&) = delete;
  PerMessageDeflate& operator=(const PerMessageDeflate&) = delete;

  // Appends `message` compressed, as one message's payload (the flush
  // marker 00 00 FF FF taken off, §7.2.1).
  void compress(std::string_view message, std::string& out);
  // Replaces `payload` (one compressed message, which this may modify) by
  // its inflated form, appended to `out`; throws DeflateDataError when that
  // would pass `max_size` bytes, before producing them.
  void decompress(std::string& payload, std::string& out, std::uint64_t max_size);
  // zlib state held now (tests: an idle side without context takeover holds none).
  bool holds_compressor() const noexcept { return compressor_ != nullptr; }
  bool holds_decompressor() const noexcept { return decompressor_ != nullptr; }

 private:
  int level_;
  int mem_level_;
  int window_bits_;  // our compressor's
  bool our_reset_;   // we take no context over between messages
  bool peer_reset_;  // nor does the peer
  std::unique_ptr<GzipCompressor> compressor_;
  std::unique_ptr<GzipDecompressor> decompressor_;
};

}  // namespace whirl
