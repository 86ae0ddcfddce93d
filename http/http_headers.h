// whirl/http/http_headers.h: Tornado's HTTPHeaders, a case-insensitive multimap.
//
//     HTTPHeaders headers;
//     headers.add("Set-Cookie", "a=1");
//     headers.add("set-cookie", "b=2");
//     headers.get("SET-COOKIE");              // "a=1" (the first value)
//     headers.get_list("Set-Cookie");         // {"a=1", "b=2"}
//     for (auto [name, value] : headers) ...  // arrival order, names as given
//     headers.set("Content-Type", "text/plain");  // replaces every value
//
// Storage. Names and values live in one string owned by the object and the
// entries are offsets into it, so a parsed header block is copied once (not
// once per field) and clear() keeps both allocations for the next request:
// a keep-alive connection reuses one HTTPHeaders without touching the heap.
// Returned string_views stay valid until the next add/set/clear.
//
// Differences from Tornado: get() returns the first value rather than the
// comma-joined list (joining would allocate; get_list has them all), and
// add()/set() refuse what could split or smuggle a header: a name that is
// not a token, or a value with CR, LF or NUL, throws std::invalid_argument.
// On output (write_to) names are sent in Http-Header-Case.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace whirl {

class HTTPHeaders {
 public:
  using Field = std::pair<std::string_view, std::string_view>;

  HTTPHeaders() = default;
  HTTPHeaders(std::initializer_list<Field> fields);

  void add(std::string_view name, std::string_view value);
  // Replaces every value of `name` with `value`.
  void set(std::string_view name, std::string_view value);
  // The first value, or `fallback` when there is none.
  std::string_view get(std::string_view name, std::string_view fallback = {}) const noexcept;
  std::vector<std::string_view> get_list(std::string_view name) const;
  bool contains(std::string_view name) const noexcept;
  std::size_t count(std::string_view name) const noexcept;
  // Removes every value of `name`; returns how many there were.
  std::size_t remove(std::string_view name) noexcept;
  void clear() noexcept;
  // Room for `fields` fields of `bytes` name and value bytes in all, so that
  // adding up to that many allocates nothing (a copy assigned into a
  // reserved object keeps the room).
  void reserve(std::size_t bytes, std::size_t fields);
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

  // Appends "Name: value\r\n" for every field, names in Http-Header-Case.
  void write_to(std::string& out) const;
  // What write_to appends: its size, and the same bytes written at `to`
  // (which has room for wire_size() of them), returning their end. For a
  // head formatted straight into a stream's queue (IOStream::write_in_place).
  std::size_t wire_size() const noexcept;
  char* write_to(char* to) const noexcept;

  class Iterator {
   public:
    Field operator*() const noexcept { return owner_->field(index_); }
    Iterator& operator++() noexcept {
      ++index_;
      return *this;
    }
    bool operator==(const Iterator& other) const noexcept = default;

   private:
    friend class HTTPHeaders;
    Iterator(const HTTPHeaders* owner, std::size_t index) noexcept : owner_(owner), index_(index) {}
    const HTTPHeaders* owner_;
    std::size_t index_;
  };
  Iterator begin() const noexcept { return Iterator(this, 0); }
  Iterator end() const noexcept { return Iterator(this, entries_.size()); }

  // "content-type" -> "Content-Type" (Tornado's _normalize_header).
  static void normalize_name(std::string_view name, std::string& out);
  static bool is_token(std::string_view text) noexcept;

  // ---- for the parser: fields already validated by it ----

  // Replaces the storage with a copy of `block` (one header block).
  void assign_block(std::string_view block);
  // Adds a field whose name and value lie at these offsets in the block.
  void add_from_block(std::uint32_t name_offset, std::uint32_t name_length, std::uint32_t value_offset,
                      std::uint32_t value_length);

 private:
  struct Entry {
    std::uint32_t name_offset;
    // A name given in Http-Header-Case already (checked by add(), which
    // walks it anyway) is copied as it is by write_to, not re-cased.
    std::uint32_t name_length : 31;
    std::uint32_t canonical : 1;
    std::uint32_t value_offset;
    std::uint32_t value_length;
  };
  void append_entry(std::string_view name, std::string_view value, bool canonical);
  // Writes `name` in Http-Header-Case at `to`; returns the end.
  static char* write_normalized(std::string_view name, char* to) noexcept;
  Field field(std::size_t index) const noexcept;
  std::string_view name_at(std::size_t index) const noexcept;

  std::string storage_;
  std::vector<Entry> entries_;
};

namespace detail {
bool iequals_bytes(const char* a, const char* b, std::size_t n) noexcept;
}  // namespace detail

// Case-insensitive ASCII comparison, for header names and tokens. The size
// test is inline: most comparisons (a lookup walking a header list) fail on
// it and never make the call.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && detail::iequals_bytes(a.data(), b.data(), a.size());
}
namespace detail {
// RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-"
// / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. A table, because the
// parsers ask for every byte of every header name.
inline constexpr std::array<bool, 256> kTcharTable = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[static_cast<std::size_t>(c)] = table[static_cast<std::size_t>(c - 32)] = true;
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) table[c] = true;
  return table;
}();
}  // namespace detail

// RFC 9110 5.6.2 tchar: a character allowed in a token.
inline bool is_tchar(unsigned char c) noexcept { return detail::kTcharTable[c]; }
// RFC 9110 5.5 field-vchar / obs-text, SP and HTAB: a byte allowed in a
// field value (everything but the other controls and DEL).
constexpr bool is_field_value_byte(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7f); }
// The value of a hex digit (either case), or -1: chunk sizes, percent escapes.
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// 1*DIGIT as an unsigned integer (Content-Length); false for anything else
// or overflow.
bool parse_decimal(std::string_view text, std::uint64_t& value) noexcept;
// Whether the comma-separated `list` holds `token`, case-insensitively, each
// element trimmed of OWS ("keep-alive, Close" holds "close").
bool list_contains(std::string_view list, std::string_view token) noexcept;
// `s` without leading and trailing optional whitespace (SP and HTAB, RFC 9110 5.6.3).
std::string_view trim_ows(std::string_view s) noexcept;

}  // namespace whirl
