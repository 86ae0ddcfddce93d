#include "whirl/http/websocket_deflate.h"

#include <fmt/format.h>

#include <vector>

#include "whirl/http/gzip.h"
#include "whirl/http/http_headers.h"

namespace whirl {

namespace {

constexpr std::string_view kName = "permessage-deflate";

// Splits at `separator` outside quoted strings (RFC 9110 §5.6).
std::vector<std::string_view> split_outside_quotes(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == separator) {
      parts.push_back(trim_ows(text.substr(start, i - start)));
      start = i + 1;
    }
  }
  parts.push_back(trim_ows(text.substr(start)));
  return parts;
}

std::string unquote(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  std::string out;
  for (std::size_t i = 1; i + 1 < value.size(); ++i) {
    if (value[i] == '\\' && i + 2 < value.size()) ++i;
    out.push_back(value[i]);
  }
  return out;
}

struct Param {
  std::string name;
  std::optional<std::string> value;
};

// One extension's parameters, if it is permessage-deflate.
std::optional<std::vector<Param>> deflate_params(std::string_view extension) {
  std::vector<std::string_view> pieces = split_outside_quotes(extension, ';');
  if (!iequals(pieces.front(), kName)) return std::nullopt;
  std::vector<Param> params;
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    std::string_view piece = pieces[i];
    std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      params.push_back({std::string(piece), std::nullopt});
    } else {
      params.push_back({std::string(trim_ows(piece.substr(0, eq))), unquote(trim_ows(piece.substr(eq + 1)))});
    }
  }
  return params;
}

// "8".."15", nothing else (no sign, no leading zero: §7.1.2.1).
std::optional<int> window_bits(const std::optional<std::string>& value) {
  if (!value || value->empty() || value->size() > 2 || value->front() == '0') return std::nullopt;
  int bits = 0;
  for (char c : *value) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  if (bits < 8 || bits > 15) return std::nullopt;
  return bits;
}

// The agreement `params` describe, read as `from_server` says; nullopt if
// §7.1 makes them invalid (an unknown or repeated parameter, a bad value).
// `client_bits_offered` is set when the client offered client_max_window_bits.
std::optional<DeflateAgreement> read_params(const std::vector<Param>& params, bool from_server,
                                            bool* client_bits_offered) {
  DeflateAgreement agreement;
  bool seen[4] = {false, false, false, false};
  for (const Param& param : params) {
    int which;
    if (iequals(param.name, "server_no_context_takeover")) {
      which = 0;
      if (param.value) return std::nullopt;
      agreement.server_no_context_takeover = true;
    } else if (iequals(param.name, "client_no_context_takeover")) {
      which = 1;
      if (param.value) return std::nullopt;
      agreement.client_no_context_takeover = true;
    } else if (iequals(param.name, "server_max_window_bits")) {
      which = 2;
      std::optional<int> bits = window_bits(param.value);
      if (!bits) return std::nullopt;
      agreement.server_max_window_bits = *bits;
    } else if (iequals(param.name, "client_max_window_bits")) {
      which = 3;
      // In an offer it may come without a value ("I can limit mine").
      if (param.value || from_server) {
        std::optional<int> bits = window_bits(param.value);
        if (!bits) return std::nullopt;
        agreement.client_max_window_bits = *bits;
      }
      if (client_bits_offered != nullptr) *client_bits_offered = true;
    } else {
      return std::nullopt;
    }
    if (seen[which]) return std::nullopt;
    seen[which] = true;
  }
  return agreement;
}

}  // namespace

std::string DeflateAgreement::response_header() const {
  std::string header(kName);
  if (server_no_context_takeover) header += "; server_no_context_takeover";
  if (client_no_context_takeover) header += "; client_no_context_takeover";
  if (server_max_window_bits != 15) header += fmt::format("; server_max_window_bits={}", server_max_window_bits);
  if (client_max_window_bits != 15) header += fmt::format("; client_max_window_bits={}", client_max_window_bits);
  return header;
}

std::optional<DeflateAgreement> accept_deflate_offer(std::string_view offered, const DeflateOptions& options) {
  for (std::string_view extension : split_outside_quotes(offered, ',')) {
    std::optional<std::vector<Param>> params = deflate_params(extension);
    if (!params) continue;
    bool client_bits_offered = false;
    std::optional<DeflateAgreement> agreement = read_params(*params, /*from_server=*/false, &client_bits_offered);
    if (!agreement) continue;  // invalid: try the next offer (§7.1)
    // zlib's raw deflate has no 8-bit window; an offer that requires one
    // of us cannot be honoured.
    if (agreement->server_max_window_bits < 9) continue;
    if (options.no_context_takeover) agreement->server_no_context_takeover = true;
    if (options.max_window_bits < agreement->server_max_window_bits) {
      agreement->server_max_window_bits = options.max_window_bits;
    }
    // The client's window: we inflate with 2^15, which decodes any, so we
    // never ask it to shrink; an offered value is the client's own hint
    // and needs no echo. Without the parameter in the offer the answer
    // must not carry it (§7.1.2.2).
    agreement->client_max_window_bits = 15;
    return agreement;
  }
  return std::nullopt;
}

std::string deflate_offer(const DeflateOptions& options) {
  std::string offer(kName);
  if (options.no_context_takeover) offer += "; client_no_context_takeover";
  if (options.max_window_bits != 15) {
    offer += fmt::format("; client_max_window_bits={}", options.max_window_bits);
  } else {
    offer += "; client_max_window_bits";
  }
  return offer;
}

DeflateAgreement accept_deflate_response(std::string_view answered, const DeflateOptions& options) {
  std::vector<std::string_view> extensions = split_outside_quotes(answered, ',');
  if (extensions.size() != 1) throw DeflateNegotiationError("the server accepted more than one extension");
  std::optional<std::vector<Param>> params = deflate_params(extensions.front());
  if (!params) throw DeflateNegotiationError("the server accepted an extension that was not offered");
  std::optional<DeflateAgreement> agreement = read_params(*params, /*from_server=*/true, nullptr);
  if (!agreement) throw DeflateNegotiationError("invalid permessage-deflate parameters in the server's answer");
  if (agreement->client_max_window_bits > options.max_window_bits) {
    throw DeflateNegotiationError("the server allowed a larger client window than offered");
  }
  if (agreement->client_max_window_bits < 9) {
    throw DeflateNegotiationError("the server asked for an 8-bit client window, which zlib cannot make");
  }
  if (options.no_context_takeover && !agreement->client_no_context_takeover) {
    // We asked for it; the server may leave it out, and we keep ours anyway.
    agreement->client_no_context_takeover = true;
  }
  return *agreement;
}

PerMessageDeflate::PerMessageDeflate(const DeflateAgreement& agreement, bool is_server, const DeflateOptions& options)
    : level_(options.compression_level),
      mem_level_(options.mem_level),
      window_bits_(is_server ? agreement.server_max_window_bits : agreement.client_max_window_bits),
      our_reset_(is_server ? agreement.server_no_context_takeover : agreement.client_no_context_takeover),
      peer_reset_(is_server ? agreement.client_no_context_takeover : agreement.server_no_context_takeover) {}

PerMessageDeflate::~PerMessageDeflate() = default;

void PerMessageDeflate::compress(std::string_view message, std::string& out) {
  if (compressor_ == nullptr) {
    compressor_ = std::make_unique<GzipCompressor>(level_, ZlibFormat::raw_deflate(window_bits_, mem_level_));
  }
  std::size_t start = out.size();
  compressor_->compress(message, out, /*flush=*/true);
  // A sync flush ends with an empty stored block, 00 00 FF FF: the wire
  // leaves it off and the reader puts it back (§7.2.1).
  if (out.size() - start >= 4 && out.compare(out.size() - 4, 4, "\x00\x00\xff\xff", 4) == 0) out.resize(out.size() - 4);
  // An empty message after a flush makes zlib emit nothing at all, but the
  // reader appends the marker's 4 bytes, which only complete a block after
  // a stored block's header: send that header, one 0x00 (§7.2.3.6).
  if (out.size() == start) out.push_back('\0');
  if (our_reset_) compressor_.reset();  // the next message starts empty: hold nothing meanwhile
}

void PerMessageDeflate::decompress(std::string& payload, std::string& out, std::uint64_t max_size) {
  if (decompressor_ == nullptr) {
    decompressor_ = std::make_unique<GzipDecompressor>(max_size, 64 * 1024, ZlibFormat::raw_deflate(15));
  }
  // An empty payload carries no DEFLATE data (senders that strip the
  // marker from an empty flush send nothing): the message is empty, and
  // the window must not see the marker alone, which is no block.
  if (payload.empty()) return;
  decompressor_->set_limit(max_size);
  payload.append("\x00\x00\xff\xff", 4);
  try {
    decompressor_->decompress(payload, [&](std::string_view piece) { out.append(piece); });
  } catch (const GzipLimitError&) {
    decompressor_.reset();  // its state is mid-message: unusable
    throw DeflateDataError("message too big after inflation", true);
  } catch (const GzipError&) {
    decompressor_.reset();
    throw DeflateDataError("invalid compressed data", false);
  }
  // A final block ends the peer's stream: its next message starts a new one.
  if (peer_reset_ || decompressor_->ended()) decompressor_.reset();
}

}  // namespace whirl
