#include "whirl/http/json_encode.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "whirl/http/byte_scan.h"

namespace whirl {
namespace {

// Bytes a string may hold and still be copied as it is: printable ASCII
// except '"' and '\\' (escaped by JSON) and '<' (the start of "</").
// Control bytes and those above 0x7f (UTF-8, to be validated) go the
// slow way.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x7f; ++c) plain[static_cast<std::size_t>(c)] = c != '"' && c != '\\' && c != '<';
  plain[0x7f] = true;  // dump() writes DEL as it is
  return plain;
}();

// Eight bytes at a time (byte_scan.h): none above 0x7f, none below 0x20,
// none of '"', '\\' or '<'; the tail, and a word that has one, byte by byte.
bool is_plain(std::string_view text) noexcept {
  using namespace byte_scan;
  const char* p = text.data();
  const char* end = p + text.size();
  for (; end - p >= 8; p += 8) {
    std::uint64_t word = load64(p);
    if (has_high_bit(word) || has_byte_below(word, 0x20) || has_byte(word, '"') || has_byte(word, '\\') ||
        has_byte(word, '<')) {
      break;
    }
  }
  for (; p < end; ++p) {
    if (!kPlain[static_cast<unsigned char>(*p)]) return false;
  }
  return true;
}

// "</" in dump()'s text of one value becomes "<\/" ('<' can only be inside
// a string, and so is the '/' that follows it).
void append_escaping_script_end(std::string_view text, std::string& out) {
  for (std::size_t at = text.find("</"); at != std::string_view::npos; at = text.find("</")) {
    out.append(text.substr(0, at + 1)).append("\\/");
    text.remove_prefix(at + 2);
  }
  out.append(text);
}

// Through dump(), for the values the fast paths leave alone. Bytes that
// are not UTF-8 (a percent-decoded argument) become U+FFFD rather than a
// 500: JSON text is UTF-8 by definition (RFC 8259 §8.1).
void append_dumped(const nlohmann::json& value, std::string& out) {
  append_escaping_script_end(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), out);
}

// `before`, the string quoted, `after`: one resize and three copies (the
// separators ride along instead of being pushed a byte at a time).
void append_string(char before, const std::string& text, char after, std::string& out) {
  if (!is_plain(text)) {
    if (before != 0) out.push_back(before);
    append_dumped(nlohmann::json(text), out);
    if (after != 0) out.push_back(after);
    return;
  }
  std::size_t at = out.size();
  std::size_t extra = (before != 0) + (after != 0);
  out.resize(at + text.size() + 2 + extra);
  char* p = out.data() + at;
  if (before != 0) *p++ = before;
  *p++ = '"';
  std::memcpy(p, text.data(), text.size());
  p += text.size();
  *p++ = '"';
  if (after != 0) *p = after;
}

template <typename Integer>
void append_integer(Integer value, std::string& out) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, static_cast<std::size_t>(end - digits));
}

// dump()'s own float formatting (nlohmann's shortest round-trip digits,
// "100.0" for an integral value, "null" for NaN and infinities) without a
// serializer built per number: nlohmann::detail::to_chars is the function
// dump() calls. It is nlohmann's detail namespace, so the test pins the
// result against dump() itself.
void append_float(double value, std::string& out) {
  if (!std::isfinite(value)) {
    out.append("null");
    return;
  }
  char digits[64];
  char* end = nlohmann::detail::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, static_cast<std::size_t>(end - digits));
}

void encode(const nlohmann::json& value, std::string& out);

void encode_object(const nlohmann::json::object_t& object, std::string& out) {
  char separator = '{';
  for (const auto& [key, member] : object) {
    append_string(separator, key, ':', out);
    encode(member, out);
    separator = ',';
  }
  if (separator == '{') out.push_back('{');
  out.push_back('}');
}

void encode_array(const nlohmann::json::array_t& array, std::string& out) {
  out.push_back('[');
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (i != 0) out.push_back(',');
    encode(array[i], out);
  }
  out.push_back(']');
}

void encode(const nlohmann::json& value, std::string& out) {
  using Type = nlohmann::json::value_t;
  switch (value.type()) {
    case Type::object:
      encode_object(value.get_ref<const nlohmann::json::object_t&>(), out);
      return;
    case Type::array:
      encode_array(value.get_ref<const nlohmann::json::array_t&>(), out);
      return;
    case Type::string:
      append_string(0, value.get_ref<const std::string&>(), 0, out);
      return;
    case Type::number_integer:
      append_integer(value.get<std::int64_t>(), out);
      return;
    case Type::number_unsigned:
      append_integer(value.get<std::uint64_t>(), out);
      return;
    case Type::boolean:
      out.append(value.get<bool>() ? "true" : "false");
      return;
    case Type::null:
      out.append("null");
      return;
    case Type::number_float:
      append_float(value.get<double>(), out);
      return;
    default:  // binary, discarded
      append_dumped(value, out);
      return;
  }
}

}  // namespace

void json_encode(const nlohmann::json& value, std::string& out) {
  // Room for a typical small document at once, rather than growing the
  // buffer through several reallocations.
  out.reserve(out.size() + 1024);
  encode(value, out);
}

}  // namespace whirl
