#include "whirl/http/utf8_validator.h"

#include <cstring>

namespace whirl {

namespace {

// The number of leading ASCII bytes of [p, end), by words where it can.
std::size_t ascii_run(const unsigned char* p, const unsigned char* end) noexcept {
  const unsigned char* start = p;
  while (end - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    if (word & 0x8080808080808080ULL) break;
    p += 8;
  }
  while (p < end && *p < 0x80) ++p;
  return static_cast<std::size_t>(p - start);
}

}  // namespace

bool Utf8Validator::feed(std::string_view bytes) noexcept {
  if (failed_) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* end = p + bytes.size();
  while (p < end) {
    if (pending_ == 0) {
      p += ascii_run(p, end);
      if (p == end) break;
      unsigned char lead = *p++;
      low_ = 0x80;
      high_ = 0xBF;
      if (lead >= 0xC2 && lead <= 0xDF) {
        pending_ = 1;
      } else if (lead >= 0xE0 && lead <= 0xEF) {
        pending_ = 2;
        if (lead == 0xE0) low_ = 0xA0;   // below is an overlong form
        if (lead == 0xED) high_ = 0x9F;  // above is a UTF-16 surrogate
      } else if (lead >= 0xF0 && lead <= 0xF4) {
        pending_ = 3;
        if (lead == 0xF0) low_ = 0x90;   // below is an overlong form
        if (lead == 0xF4) high_ = 0x8F;  // above is past U+10FFFF
      } else {
        // 80..BF (a continuation with no lead), C0/C1 (overlong), F5..FF.
        failed_ = true;
        return false;
      }
      continue;
    }
    unsigned char next = *p++;
    if (next < low_ || next > high_) {
      failed_ = true;
      return false;
    }
    low_ = 0x80;
    high_ = 0xBF;
    --pending_;
  }
  return true;
}

}  // namespace whirl
