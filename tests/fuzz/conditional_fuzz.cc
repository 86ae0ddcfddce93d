// tests/fuzz/conditional_fuzz.cc: libFuzzer target for what StaticFileHandler
// reads from a request's conditional and range headers: parse_byte_range,
// parse_http_date and etag_list_matches.
//
// The input is a representation size (its first 8 bytes, little-endian,
// kept under 2^40) and the rest, used whole as each header's value. None of
// the parsers may throw. Invariants checked on every input:
//   - a satisfiable range lies inside the representation and is not empty;
//     an ignored or unsatisfiable one says nothing of first and length;
//   - a date that parses formats back to a date that parses to the same time
//     (a round trip through the IMF-fixdate whirl writes);
//   - `*` matches any tag, a tag matches a list holding just itself weakly,
//     and a strong match is always a weak one too.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "whirl/http/httputil.h"

namespace {

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

void fuzz_range(std::string_view header, std::uint64_t size) {
  whirl::ByteRange range = whirl::parse_byte_range(header, size);
  if (range.kind == whirl::ByteRange::Kind::kSatisfiable) {
    check(range.length >= 1);
    check(range.first < size);
    check(range.length <= size - range.first);
  }
}

void fuzz_date(std::string_view header) {
  std::optional<std::time_t> time = whirl::parse_http_date(header);
  if (!time) return;
  // Only years 1..9999 format as themselves (format_http_date clamps).
  if (*time < -62135596800LL || *time > 253402300799LL) return;
  std::optional<std::time_t> again = whirl::parse_http_date(whirl::format_http_date(*time));
  check(again.has_value() && *again == *time);
}

void fuzz_etags(std::string_view header) {
  check(whirl::etag_list_matches("*", header, true));
  if (whirl::etag_list_matches(header, "\"abc\"", false)) check(whirl::etag_list_matches(header, "\"abc\"", true));
  // A well-formed tag (quoted, no quote inside) matches itself.
  if (header.size() >= 2 && header.front() == '"' && header.back() == '"' &&
      header.substr(1, header.size() - 2).find('"') == std::string_view::npos) {
    check(whirl::etag_list_matches(header, header, true));
    check(whirl::etag_list_matches(header, header, false));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t representation = 0;
  std::memcpy(&representation, data, 8);
  representation &= (std::uint64_t{1} << 40) - 1;
  std::string_view header(reinterpret_cast<const char*>(data) + 8, size - 8);
  fuzz_range(header, representation);
  fuzz_date(header);
  fuzz_etags(header);
  return 0;
}
