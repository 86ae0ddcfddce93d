// whirl/http/websocket_frame.h: RFC 6455 frames, parsed and written; the
// codec under WebSocketProtocol, shared by the server and the client.
//
//     FrameRules rules{.expect_masked = true, .allow_rsv1 = deflate_on};
//     FrameHeaderResult got = parse_frame_header(stream.peek_buffer(), rules);
//     if (got.status == FrameHeaderResult::kIncomplete) ...wait for more...
//     if (got.status == FrameHeaderResult::kError) fail(got.close_code, got.error);
//     // payload: the next got.header.payload_length bytes; unmask them:
//     apply_mask(payload, got.header.mask_key, offset_into_payload);
//
//     std::string wire;
//     append_frame(wire, Opcode::kText, "hi", {.mask_key = client_key});
//
// What a header alone breaks (each a 1002 "protocol error", RFC 6455
// §5.2-5.5): an RSV bit not given meaning by a negotiated extension (only
// RSV1, by permessage-deflate), a reserved opcode, a control frame that is
// fragmented or longer than 125 bytes, a frame from a client that is not
// masked (or from a server that is), a 64-bit length with its top bit set.
// What takes the message so far (a continuation with nothing to continue,
// a new data frame inside a fragmented message, RSV1 on a continuation) is
// checked by MessageFraming below. Length limits (1009) are the caller's:
// only it knows how much of a message it has kept.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace whirl {

enum class Opcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

inline bool is_control(Opcode opcode) noexcept { return (static_cast<std::uint8_t>(opcode) & 0x8) != 0; }

// RFC 6455 §7.4 close codes whirl sends (and the ones a reader meets).
namespace close_code {
inline constexpr std::uint16_t kNormal = 1000;
inline constexpr std::uint16_t kGoingAway = 1001;
inline constexpr std::uint16_t kProtocolError = 1002;
inline constexpr std::uint16_t kUnsupportedData = 1003;
inline constexpr std::uint16_t kNoStatus = 1005;  // never on the wire
inline constexpr std::uint16_t kAbnormal = 1006;  // never on the wire: no close frame came
inline constexpr std::uint16_t kInvalidPayload = 1007;
inline constexpr std::uint16_t kPolicyViolation = 1008;
inline constexpr std::uint16_t kMessageTooBig = 1009;
inline constexpr std::uint16_t kMandatoryExtension = 1010;
inline constexpr std::uint16_t kInternalError = 1011;
}  // namespace close_code

// A code a close frame may carry: 1000-1003, 1007-1014 (1012-1014 are
// IANA-registered since RFC 6455), and 3000-4999 for libraries and
// applications. 1004-1006 and 1015 are reserved or local-only.
bool is_valid_close_code(std::uint16_t code) noexcept;

using MaskKey = std::array<std::uint8_t, 4>;

struct FrameHeader {
  bool fin = true;
  bool rsv1 = false;
  Opcode opcode = Opcode::kText;
  bool masked = false;
  MaskKey mask_key{};
  std::uint64_t payload_length = 0;
  std::size_t header_size = 0;  // bytes before the payload: 2 to 14
};

struct FrameRules {
  bool expect_masked = true;  // a server reads masked frames, a client unmasked ones
  bool allow_rsv1 = false;    // permessage-deflate was negotiated
};

struct FrameHeaderResult {
  enum Status : std::uint8_t { kOk, kIncomplete, kError } status = kIncomplete;
  FrameHeader header;
  std::uint16_t close_code = 0;  // with kError: what to fail the connection with
  const char* error = "";        // with kError: why, for the close reason and the log
};

// The header at the start of `bytes`, if it is all there.
FrameHeaderResult parse_frame_header(std::string_view bytes, const FrameRules& rules) noexcept;

// XORs `data` with `key`; `offset` is where `data` starts within the
// payload, so a payload unmasked piece by piece lines up with its key.
void apply_mask(char* data, std::size_t size, const MaskKey& key, std::uint64_t offset = 0) noexcept;

struct FrameOptions {
  bool fin = true;
  bool rsv1 = false;                  // this message is compressed (its first frame only)
  std::optional<MaskKey> mask_key{};  // a client masks every frame
};

// Appends one frame's header for a payload of `payload_length` bytes.
void append_frame_header(std::string& out, Opcode opcode, std::uint64_t payload_length, const FrameOptions& options);
// Appends a whole frame: header, then the payload (masked with the key).
void append_frame(std::string& out, Opcode opcode, std::string_view payload, const FrameOptions& options = {});

// A close frame's payload: the code (when not kNoStatus) then the reason,
// cut to fit 125 bytes on a character boundary.
std::string close_payload(std::uint16_t code, std::string_view reason);
// The code a close frame's payload carries (its first two bytes), if any.
std::optional<std::uint16_t> close_code_in(std::string_view payload) noexcept;

// The rules that span frames: a message is a first data frame and its
// continuations, and control frames may come between them but not other
// messages. Feed it every frame header in order.
class MessageFraming {
 public:
  struct Verdict {
    std::uint16_t close_code = 0;  // 0: the frame is fine
    const char* error = "";
  };
  Verdict next(const FrameHeader& header) noexcept;
  // Inside a fragmented message (its first frame came, its last not yet).
  bool in_message() const noexcept { return in_message_; }
  Opcode message_opcode() const noexcept { return message_opcode_; }

 private:
  bool in_message_ = false;
  Opcode message_opcode_ = Opcode::kText;
};

}  // namespace whirl
