// whirl/http/byte_scan.h: tests on eight bytes at once (SWAR), for the
// scanners that look at every byte of a head or a JSON string: header
// values (http_headers.cc), the request head (request_parser.cc), the
// response head (response_parser.cc) and JSON strings (json_encode.cc).
// Private to //http.
//
//     for (; i + 8 <= n; i += 8) {
//       std::uint64_t word = byte_scan::load64(p + i);
//       if (byte_scan::has_byte(word, '\r') || byte_scan::has_byte(word, '\n')) break;
//     }
//     // then byte by byte from i
//
// The tests answer "is there such a byte in the word", not where: they are
// exact when they say no, and a yes is never false (the borrow that can
// mark a byte wrongly only starts at a byte that really matches). So the
// rule for a caller: after a yes, find the byte by looking at them one by
// one.
#pragma once

#include <cstdint>
#include <cstring>

namespace whirl::byte_scan {

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// Eight bytes from `p`, any alignment (memcpy compiles to one load).
inline std::uint64_t load64(const void* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, 8);
  return word;
}

// `c` in every byte.
constexpr std::uint64_t broadcast(unsigned char c) noexcept { return kOnes * c; }

// Some byte is below `n`, for n <= 0x80: only a byte below n borrows in
// byte - n and keeps its top bit clear in ~byte.
constexpr bool has_byte_below(std::uint64_t word, unsigned char n) noexcept {
  return ((word - broadcast(n)) & ~word & kHighs) != 0;
}

// Some byte is zero.
constexpr bool has_zero(std::uint64_t word) noexcept { return has_byte_below(word, 1); }

// Some byte is `c`.
constexpr bool has_byte(std::uint64_t word, unsigned char c) noexcept { return has_zero(word ^ broadcast(c)); }

// Some byte is above 0x7f.
constexpr bool has_high_bit(std::uint64_t word) noexcept { return (word & kHighs) != 0; }

}  // namespace whirl::byte_scan
