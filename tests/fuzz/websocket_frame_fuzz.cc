// tests/fuzz/websocket_frame_fuzz.cc: libFuzzer target for what a WebSocket
// receiver runs over a peer's bytes: frame headers (parse_frame_header),
// the rules across frames (MessageFraming), unmasking, the incremental
// UTF-8 check and permessage-deflate's bounded inflate, in the order
// WebSocketProtocol applies them.
//
// The first byte picks the side (masked frames expected or not) and whether
// deflate was agreed (with or without context takeover). Invariants: a
// header never claims more bytes than it was given; an incomplete header
// only becomes complete with more bytes, never an error; the incremental
// UTF-8 verdict equals the one-shot one; unmasking twice restores the
// payload; an inflated message never passes its limit by more than one
// output piece; nothing crashes or leaks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "whirl/http/utf8_validator.h"
#include "whirl/http/websocket_deflate.h"
#include "whirl/http/websocket_frame.h"

namespace {

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

constexpr std::uint64_t kLimit = 64 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  whirl::FrameRules rules{.expect_masked = (mode & 1) != 0, .allow_rsv1 = (mode & 2) != 0};
  whirl::DeflateAgreement agreement;
  agreement.client_no_context_takeover = (mode & 4) != 0;
  agreement.server_no_context_takeover = (mode & 4) != 0;
  whirl::PerMessageDeflate deflate(agreement, rules.expect_masked, {});
  whirl::MessageFraming framing;
  std::string message;
  bool compressed = false;
  whirl::Utf8Validator utf8;

  while (!in.empty()) {
    whirl::FrameHeaderResult got = whirl::parse_frame_header(in, rules);
    if (got.status == whirl::FrameHeaderResult::kError) {
      check(got.close_code == whirl::close_code::kProtocolError);
      return 0;
    }
    if (got.status == whirl::FrameHeaderResult::kIncomplete) {
      // Some longer input completes it or refuses it; a prefix of a valid
      // header is never refused for its length alone.
      check(in.size() < 14);
      return 0;
    }
    const whirl::FrameHeader& header = got.header;
    check(header.header_size >= 2 && header.header_size <= 14 && header.header_size <= in.size());
    if (whirl::is_control(header.opcode)) check(header.fin && header.payload_length <= 125);
    if (framing.next(header).close_code != 0) return 0;
    in.remove_prefix(header.header_size);
    if (header.payload_length > in.size()) return 0;  // the rest never came
    std::string payload(in.substr(0, header.payload_length));
    in.remove_prefix(header.payload_length);
    if (header.masked) {
      std::string original = payload;
      whirl::apply_mask(payload.data(), payload.size(), header.mask_key);
      std::string twice = payload;
      whirl::apply_mask(twice.data(), twice.size(), header.mask_key);
      check(twice == original);
    }
    if (whirl::is_control(header.opcode)) {
      if (header.opcode == whirl::Opcode::kClose) {
        std::optional<std::uint16_t> code = whirl::close_code_in(payload);
        check(code.has_value() == (payload.size() >= 2));
        if (code) {
          (void)whirl::is_valid_close_code(*code);
          (void)whirl::is_valid_utf8(std::string_view(payload).substr(2));
        }
      }
      continue;
    }
    if (header.opcode != whirl::Opcode::kContinuation) {
      compressed = header.rsv1;
      utf8.reset();
      message.clear();
    }
    if (message.size() + payload.size() > kLimit) return 0;  // 1009
    message += payload;
    const bool text = framing.message_opcode() == whirl::Opcode::kText;
    if (text && !compressed) utf8.feed(payload);
    if (!header.fin) continue;
    if (compressed) {
      std::string inflated;
      try {
        deflate.decompress(message, inflated, kLimit);
      } catch (const whirl::DeflateDataError&) {
        check(inflated.size() <= kLimit + 64 * 1024);
        return 0;
      }
      check(inflated.size() <= kLimit);
      if (text) (void)whirl::is_valid_utf8(inflated);
    } else if (text) {
      check(utf8.complete() == whirl::is_valid_utf8(message));
    }
    message.clear();
  }
  return 0;
}
