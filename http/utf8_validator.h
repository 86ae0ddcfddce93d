// whirl/http/utf8_validator.h: incremental UTF-8 validation, for WebSocket
// text (RFC 6455 §8.1) which may arrive split anywhere, even mid-character.
//
//     Utf8Validator utf8;
//     for (std::string_view piece : pieces) {
//       if (!utf8.feed(piece)) fail(1007);   // at the first bad byte
//     }
//     if (!utf8.complete()) fail(1007);      // the text ended mid-character
//
// Valid means RFC 3629 UTF-8: shortest forms only (no C0, C1, E0 80..9F,
// F0 80..8F leads), no surrogates (ED A0..BF), nothing above U+10FFFF (F4
// 90.. and F5..FF). feed() fails at the first byte that no valid text could
// continue with, so a peer sending junk is stopped at once rather than when
// the message ends. Runs of ASCII are skipped eight bytes at a time.
#pragma once

#include <cstdint>
#include <string_view>

namespace whirl {

class Utf8Validator {
 public:
  // False once the bytes fed so far cannot begin valid UTF-8 (and from then
  // on until reset()).
  bool feed(std::string_view bytes) noexcept;
  // The bytes so far are valid and end on a character boundary.
  bool complete() const noexcept { return !failed_ && pending_ == 0; }
  void reset() noexcept { *this = Utf8Validator{}; }

 private:
  std::uint8_t pending_ = 0;  // continuation bytes still due
  // The range the next continuation byte must fall in: narrower than
  // 80..BF only right after E0, ED, F0 and F4.
  std::uint8_t low_ = 0x80;
  std::uint8_t high_ = 0xBF;
  bool failed_ = false;
};

// One-shot: the whole of `text` is valid UTF-8.
inline bool is_valid_utf8(std::string_view text) noexcept {
  Utf8Validator validator;
  return validator.feed(text) && validator.complete();
}

}  // namespace whirl
