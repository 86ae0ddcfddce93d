#include "whirl/http/websocket_frame.h"

#include <cstring>

namespace whirl {

bool is_valid_close_code(std::uint16_t code) noexcept {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

namespace {

FrameHeaderResult error(std::uint16_t code, const char* why) noexcept {
  FrameHeaderResult result;
  result.status = FrameHeaderResult::kError;
  result.close_code = code;
  result.error = why;
  return result;
}

bool known_opcode(std::uint8_t opcode) noexcept { return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA); }

}  // namespace

FrameHeaderResult parse_frame_header(std::string_view bytes, const FrameRules& rules) noexcept {
  FrameHeaderResult result;
  if (bytes.size() < 2) return result;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  FrameHeader& header = result.header;
  header.fin = (p[0] & 0x80) != 0;
  header.rsv1 = (p[0] & 0x40) != 0;
  std::uint8_t opcode = p[0] & 0x0F;
  header.masked = (p[1] & 0x80) != 0;
  std::uint64_t length = p[1] & 0x7F;

  // Judged on the first two bytes, before waiting for the rest: a peer
  // that sends junk is refused at once.
  if ((p[0] & 0x30) != 0) return error(close_code::kProtocolError, "RSV2 or RSV3 set");
  if (header.rsv1 && !rules.allow_rsv1) return error(close_code::kProtocolError, "RSV1 set without an extension");
  if (!known_opcode(opcode)) return error(close_code::kProtocolError, "reserved opcode");
  header.opcode = static_cast<Opcode>(opcode);
  if (is_control(header.opcode)) {
    if (!header.fin) return error(close_code::kProtocolError, "fragmented control frame");
    if (length > 125) return error(close_code::kProtocolError, "control frame over 125 bytes");
    if (header.rsv1) return error(close_code::kProtocolError, "RSV1 on a control frame");
  }
  if (header.masked != rules.expect_masked) {
    return error(close_code::kProtocolError, rules.expect_masked ? "client frame not masked" : "server frame masked");
  }

  std::size_t size = 2;
  if (length == 126) {
    if (bytes.size() < 4) return result;
    length = (std::uint64_t{p[2]} << 8) | p[3];
    size = 4;
  } else if (length == 127) {
    if (bytes.size() < 10) return result;
    length = 0;
    for (int i = 2; i < 10; ++i) length = (length << 8) | p[i];
    if (length >> 63) return error(close_code::kProtocolError, "frame length's top bit set");
    size = 10;
  }
  // RFC 6455 §5.2 requires the minimal length encoding, but neither
  // browsers nor Tornado refuse a longer one; whirl accepts it too.
  if (header.masked) {
    if (bytes.size() < size + 4) return result;
    std::memcpy(header.mask_key.data(), p + size, 4);
    size += 4;
  }
  header.payload_length = length;
  header.header_size = size;
  result.status = FrameHeaderResult::kOk;
  return result;
}

void apply_mask(char* data, std::size_t size, const MaskKey& key, std::uint64_t offset) noexcept {
  // The key rotated to where `data` starts in the payload, then eight
  // bytes at a time (a word is the key twice).
  std::uint8_t rotated[8];
  for (int i = 0; i < 8; ++i) rotated[i] = key[(offset + i) & 3];
  std::uint64_t word_key;
  std::memcpy(&word_key, rotated, 8);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, 8);
    word ^= word_key;
    std::memcpy(data + i, &word, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ rotated[i & 7]);
}

void append_frame_header(std::string& out, Opcode opcode, std::uint64_t payload_length, const FrameOptions& options) {
  char header[14];
  std::size_t size = 2;
  header[0] =
      static_cast<char>((options.fin ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) | static_cast<std::uint8_t>(opcode));
  std::uint8_t mask_bit = options.mask_key ? 0x80 : 0;
  if (payload_length < 126) {
    header[1] = static_cast<char>(mask_bit | payload_length);
  } else if (payload_length <= 0xFFFF) {
    header[1] = static_cast<char>(mask_bit | 126);
    header[2] = static_cast<char>(payload_length >> 8);
    header[3] = static_cast<char>(payload_length);
    size = 4;
  } else {
    header[1] = static_cast<char>(mask_bit | 127);
    for (int i = 0; i < 8; ++i) header[2 + i] = static_cast<char>(payload_length >> (56 - 8 * i));
    size = 10;
  }
  if (options.mask_key) {
    std::memcpy(header + size, options.mask_key->data(), 4);
    size += 4;
  }
  out.append(header, size);
}

void append_frame(std::string& out, Opcode opcode, std::string_view payload, const FrameOptions& options) {
  append_frame_header(out, opcode, payload.size(), options);
  std::size_t start = out.size();
  out.append(payload);
  if (options.mask_key) apply_mask(out.data() + start, payload.size(), *options.mask_key);
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string payload;
  if (code == close_code::kNoStatus) return payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code));
  // A control frame carries at most 125 bytes; a reason cut mid-character
  // would fail the peer's UTF-8 check, so back up to a boundary.
  if (reason.size() > 123) {
    std::size_t cut = 123;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  payload.append(reason);
  return payload;
}

std::optional<std::uint16_t> close_code_in(std::string_view payload) noexcept {
  if (payload.size() < 2) return std::nullopt;
  return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                    static_cast<unsigned char>(payload[1]));
}

MessageFraming::Verdict MessageFraming::next(const FrameHeader& header) noexcept {
  if (is_control(header.opcode)) return {};  // may come anywhere, even mid-message
  if (header.opcode == Opcode::kContinuation) {
    if (!in_message_) return {close_code::kProtocolError, "continuation frame with no message to continue"};
    if (header.rsv1) return {close_code::kProtocolError, "RSV1 on a continuation frame"};
  } else {
    if (in_message_) return {close_code::kProtocolError, "new message inside a fragmented one"};
    message_opcode_ = header.opcode;
  }
  in_message_ = !header.fin;
  return {};
}

}  // namespace whirl
