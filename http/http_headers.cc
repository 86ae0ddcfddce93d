#include "whirl/http/http_headers.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "whirl/http/byte_scan.h"

namespace whirl {

namespace {

constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
constexpr char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }

// What a header-name byte is, as bits, for the one pass add() makes over a
// name: a tchar at all, a lowercase letter, an uppercase letter.
constexpr unsigned char kTchar = 1;
constexpr unsigned char kLowerLetter = 2;
constexpr unsigned char kUpperLetter = 4;
constexpr auto kNameBytes = [] {
  std::array<unsigned char, 256> table{};
  for (std::size_t c = 0; c < 256; ++c) {
    if (!detail::kTcharTable[c]) continue;
    table[c] = kTchar | (c >= 'a' && c <= 'z' ? kLowerLetter : 0) | (c >= 'A' && c <= 'Z' ? kUpperLetter : 0);
  }
  return table;
}();

using byte_scan::load64;

std::uint32_t load32(const char* p) noexcept {
  std::uint32_t word;
  std::memcpy(&word, p, 4);
  return word;
}

// Whether the n bytes at a and b are the same, for n >= 4, a word at a time,
// the last word overlapping the one before it (no byte loop for a tail).
bool same_bytes(const char* a, const char* b, std::size_t n) noexcept {
  if (n < 8) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  for (std::size_t i = 0; i + 8 < n; i += 8) {
    if (load64(a + i) != load64(b + i)) return false;
  }
  return load64(a + n - 8) == load64(b + n - 8);
}

// Names responses commonly carry, as they go on the wire, in order of
// length. Each is a token in Http-Header-Case by construction, so add()
// recognises one with a compare of a word or two instead of a pass over its
// bytes (the pass was the largest single cost of a plaintext response).
constexpr std::string_view kKnownNames[] = {"Date",
                                            "Etag",
                                            "Link",
                                            "Vary",
                                            "Allow",
                                            "Pragma",
                                            "Server",
                                            "Expires",
                                            "Refresh",
                                            "Trailer",
                                            "Upgrade",
                                            "Location",
                                            "Connection",
                                            "Keep-Alive",
                                            "Set-Cookie",
                                            "Content-Type",
                                            "Accept-Ranges",
                                            "Cache-Control",
                                            "Content-Range",
                                            "Last-Modified",
                                            "Content-Length",
                                            "Content-Encoding",
                                            "Content-Language",
                                            "Content-Location",
                                            "Www-Authenticate",
                                            "Transfer-Encoding",
                                            "Content-Disposition",
                                            "Sec-Websocket-Accept",
                                            "X-Content-Type-Options",
                                            "Content-Security-Policy",
                                            "Strict-Transport-Security",
                                            "Access-Control-Allow-Origin"};
constexpr std::size_t kLongestKnownName = 27;

// For each length, where its names start in kKnownNames and where they end.
struct NameRange {
  unsigned char begin = 0, end = 0;
};
constexpr auto kKnownByLength = [] {
  std::array<NameRange, kLongestKnownName + 1> ranges{};
  for (std::size_t i = 0; i < std::size(kKnownNames); ++i) {
    NameRange& range = ranges[kKnownNames[i].size()];
    if (range.begin == range.end) range.begin = static_cast<unsigned char>(i);
    range.end = static_cast<unsigned char>(i + 1);
  }
  return ranges;
}();
static_assert(kKnownNames[std::size(kKnownNames) - 1].size() == kLongestKnownName);

// Every known name is exactly what write_to would make of it (so "Etag",
// not "ETag"), in order of length, and a token: checked where it is built.
constexpr bool in_header_case(std::string_view name) {
  bool start = true;
  for (char c : name) {
    if (!detail::kTcharTable[static_cast<unsigned char>(c)] || c != (start ? upper(c) : lower(c))) return false;
    start = c == '-';
  }
  return true;
}
constexpr bool known_names_are_well_formed() {
  for (std::size_t i = 0; i < std::size(kKnownNames); ++i) {
    if (!in_header_case(kKnownNames[i]) || kKnownNames[i].size() < 4) return false;
    if (i > 0 && kKnownNames[i].size() < kKnownNames[i - 1].size()) return false;
  }
  return true;
}
static_assert(known_names_are_well_formed());

bool is_known_name(std::string_view name) noexcept {
  if (name.size() < 4 || name.size() > kLongestKnownName) return false;
  NameRange range = kKnownByLength[name.size()];
  for (unsigned i = range.begin; i < range.end; ++i) {
    if (same_bytes(name.data(), kKnownNames[i].data(), name.size())) return true;
  }
  return false;
}

// Throws unless `name` is a token; returns whether it is in Http-Header-Case
// already (an uppercase letter first and after each '-', lowercase
// elsewhere). A known name needs no pass; otherwise the pass is branch-free
// per byte: the first version, with a branch per test, cost 16 instructions
// a byte, the most of any step of a response.
bool check_name(std::string_view name) {
  if (is_known_name(name)) return true;
  unsigned all_tchar = name.empty() ? 0 : kTchar;
  unsigned miscased = 0;
  unsigned wrong_case = kLowerLetter;  // at a word's start, lowercase is the wrong case
  for (unsigned char c : name) {
    unsigned bits = kNameBytes[c];
    all_tchar &= bits;
    miscased |= bits & wrong_case;
    wrong_case = c == '-' ? kLowerLetter : kUpperLetter;
  }
  if (all_tchar == 0) throw std::invalid_argument("HTTPHeaders: invalid header name: " + std::string(name));
  return miscased == 0;
}

// Whether `text` holds a CR, LF or NUL. Eight bytes at a time: a value is
// checked on every add() of every response, and a byte loop with three
// compares cost more than the rest of add() together (callgrind).
bool has_cr_lf_nul(std::string_view text) noexcept {
  const char* p = text.data();
  std::size_t n = text.size();
  std::size_t i = 0;
  auto bad_word = [&](std::size_t at) {
    std::uint64_t word = load64(p + at);
    return byte_scan::has_zero(word) || byte_scan::has_byte(word, '\r') || byte_scan::has_byte(word, '\n');
  };
  if (n < 8) {
    for (; i < n; ++i) {
      if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0') return true;
    }
    return false;
  }
  for (; i + 8 <= n; i += 8) {
    if (bad_word(i)) return true;
  }
  // The last, partial word: the eight bytes that end the value, overlapping
  // what was checked.
  return i < n && bad_word(n - 8);
}

// A CR or LF would end the field early and let the rest be read as a new
// header (response splitting); NUL is refused by every strict peer.
void check_value(std::string_view name, std::string_view value) {
  if (has_cr_lf_nul(value)) {
    throw std::invalid_argument("HTTPHeaders: CR, LF or NUL in the value of " + std::string(name));
  }
}

std::uint32_t checked_offset(std::size_t n) {
  if (n > std::numeric_limits<std::uint32_t>::max()) throw std::length_error("HTTPHeaders: too large");
  return static_cast<std::uint32_t>(n);
}

}  // namespace

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool list_contains(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    if (iequals(trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

namespace detail {
namespace {
// The word with its ASCII uppercase letters made lowercase, all eight bytes
// at once: a byte's high bit in `upper` is set exactly when the byte is in
// 'A'..'Z' (7-bit sums that cannot carry across bytes), and 0x20 is added
// to those bytes.
std::uint64_t fold_word(std::uint64_t word) noexcept {
  using byte_scan::kHighs;
  using byte_scan::kOnes;
  std::uint64_t low7 = word & ~kHighs;
  std::uint64_t at_least_a = low7 + kOnes * (0x80 - 'A');
  std::uint64_t above_z = low7 + kOnes * (0x7F - 'Z');
  std::uint64_t upper = at_least_a & ~above_z & ~word & kHighs;
  return word | (upper >> 2);
}

bool words_iequal(std::uint64_t a, std::uint64_t b) noexcept { return a == b || fold_word(a) == fold_word(b); }
}  // namespace

bool iequals_bytes(const char* a, const char* b, std::size_t n) noexcept {
  if (n < 8) {
    for (std::size_t i = 0; i < n; ++i) {
      // Most names compared are spelled alike: equal bytes skip the folding.
      if (a[i] != b[i] && lower(a[i]) != lower(b[i])) return false;
    }
    return true;
  }
  // A word at a time, the last one overlapping the one before it.
  for (std::size_t i = 0; i + 8 < n; i += 8) {
    if (!words_iequal(load64(a + i), load64(b + i))) return false;
  }
  return words_iequal(load64(a + n - 8), load64(b + n - 8));
}
}  // namespace detail

bool HTTPHeaders::is_token(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

HTTPHeaders::HTTPHeaders(std::initializer_list<Field> fields) {
  for (auto [name, value] : fields) add(name, value);
}

void HTTPHeaders::add(std::string_view name, std::string_view value) {
  bool canonical = check_name(name);
  check_value(name, value);
  append_entry(name, value, canonical);
}

void HTTPHeaders::set(std::string_view name, std::string_view value) {
  bool canonical = check_name(name);
  check_value(name, value);
  remove(name);
  append_entry(name, value, canonical);
}

void HTTPHeaders::append_entry(std::string_view name, std::string_view value, bool canonical) {
  if (name.size() >= (std::uint32_t{1} << 31)) throw std::length_error("HTTPHeaders: name too long");
  std::uint32_t name_offset = checked_offset(storage_.size());
  std::uint32_t value_offset = checked_offset(storage_.size() + name.size());
  checked_offset(storage_.size() + name.size() + value.size());
  storage_.append(name).append(value);
  entries_.push_back({name_offset, static_cast<std::uint32_t>(name.size()), canonical ? 1U : 0U, value_offset,
                      static_cast<std::uint32_t>(value.size())});
}

std::string_view HTTPHeaders::name_at(std::size_t index) const noexcept {
  const Entry& e = entries_[index];
  return std::string_view(storage_).substr(e.name_offset, e.name_length);
}

HTTPHeaders::Field HTTPHeaders::field(std::size_t index) const noexcept {
  const Entry& e = entries_[index];
  std::string_view all(storage_);
  return {all.substr(e.name_offset, e.name_length), all.substr(e.value_offset, e.value_length)};
}

std::string_view HTTPHeaders::get(std::string_view name, std::string_view fallback) const noexcept {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (iequals(name_at(i), name)) return field(i).second;
  }
  return fallback;
}

std::vector<std::string_view> HTTPHeaders::get_list(std::string_view name) const {
  std::vector<std::string_view> values;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (iequals(name_at(i), name)) values.push_back(field(i).second);
  }
  return values;
}

bool HTTPHeaders::contains(std::string_view name) const noexcept { return count(name) != 0; }

std::size_t HTTPHeaders::count(std::string_view name) const noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) n += iequals(name_at(i), name) ? 1 : 0;
  return n;
}

std::size_t HTTPHeaders::remove(std::string_view name) noexcept {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (!iequals(name_at(i), name)) entries_[kept++] = entries_[i];
  }
  std::size_t removed = entries_.size() - kept;
  entries_.resize(kept);
  return removed;  // their bytes stay in storage_ until clear()
}

void HTTPHeaders::clear() noexcept {
  storage_.clear();
  entries_.clear();
}

void HTTPHeaders::reserve(std::size_t bytes, std::size_t fields) {
  storage_.reserve(bytes);
  entries_.reserve(fields);
}

char* HTTPHeaders::write_normalized(std::string_view name, char* to) noexcept {
  bool start = true;
  for (char c : name) {
    *to++ = start ? upper(c) : lower(c);
    start = c == '-';
  }
  return to;
}

void HTTPHeaders::normalize_name(std::string_view name, std::string& out) {
  // Grown once and written in place: a push_back per byte measured ~900
  // instructions per response head (callgrind), more than the parser.
  std::size_t at = out.size();
  out.resize(at + name.size());
  write_normalized(name, out.data() + at);
}

void HTTPHeaders::write_to(std::string& out) const {
  // Sized once and written through a pointer: appending piece by piece
  // checked capacity four times per field.
  std::size_t at = out.size();
  out.resize(at + wire_size());
  write_to(out.data() + at);
}

std::size_t HTTPHeaders::wire_size() const noexcept {
  std::size_t total = 0;
  for (const Entry& e : entries_) total += e.name_length + e.value_length + 4;
  return total;
}

char* HTTPHeaders::write_to(char* to) const noexcept {
  const char* from = storage_.data();
  for (const Entry& e : entries_) {
    if (e.canonical) {
      std::memcpy(to, from + e.name_offset, e.name_length);
      to += e.name_length;
    } else {
      to = write_normalized(std::string_view(from + e.name_offset, e.name_length), to);
    }
    *to++ = ':';
    *to++ = ' ';
    std::memcpy(to, from + e.value_offset, e.value_length);
    to += e.value_length;
    *to++ = '\r';
    *to++ = '\n';
  }
  return to;
}

void HTTPHeaders::assign_block(std::string_view block) {
  entries_.clear();
  storage_.assign(block);
}

void HTTPHeaders::add_from_block(std::uint32_t name_offset, std::uint32_t name_length, std::uint32_t value_offset,
                                 std::uint32_t value_length) {
  // Parsed names are as the client spelled them: write_to re-cases them.
  entries_.push_back({name_offset, name_length, 0U, value_offset, value_length});
}

bool parse_decimal(std::string_view text, std::uint64_t& value) noexcept {
  if (text.empty()) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (!(c >= '0' && c <= '9')) return false;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    v = v * 10 + digit;
  }
  value = v;
  return true;
}

}  // namespace whirl
