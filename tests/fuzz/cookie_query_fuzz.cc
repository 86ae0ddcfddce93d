// tests/fuzz/cookie_query_fuzz.cc: libFuzzer target for the lenient parsers:
// parse_cookie, parse_query_string, url_unescape (with url_escape) and
// parse_header_value, plus format_set_cookie on the same bytes.
//
// None of the parsers may throw. Invariants checked on every input:
//   - url_unescape never grows its input, and undoes url_escape exactly;
//   - cookie names are trimmed and hold no ';' or '=';
//   - query values never outnumber the '&'-separated fields;
//   - header parameter names are lower-case (a name may hold ';' when an
//     unbalanced quote swallowed the rest of the line, as in Python);
//   - a cookie format_set_cookie accepts reads back through parse_cookie.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "whirl/http/httputil.h"

namespace {

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

bool is_space(char c) { return std::string_view(" \t\r\n\f\v").find(c) != std::string_view::npos; }

void fuzz_url(std::string_view input) {
  for (const bool plus : {true, false}) {
    check(whirl::url_unescape(input, plus).size() <= input.size());
    check(whirl::url_unescape(whirl::url_escape(input, plus), plus) == input);
  }
}

void fuzz_cookie(std::string_view input) {
  for (const auto& [name, value] : whirl::parse_cookie(input)) {
    check(name.find_first_of(";=") == std::string::npos);
    check(name.empty() || (!is_space(name.front()) && !is_space(name.back())));
    check(value.size() <= input.size());
  }
}

void fuzz_query(std::string_view input) {
  whirl::ArgumentMap arguments;
  whirl::parse_query_string(input, arguments);
  std::size_t values = 0;
  for (const auto& [name, list] : arguments) values += list.size();
  check(values <= static_cast<std::size_t>(std::count(input.begin(), input.end(), '&')) + 1);
}

void fuzz_header(std::string_view input) {
  const whirl::HeaderValue header = whirl::parse_header_value(input);
  check(header.value.size() <= input.size());
  for (const auto& [name, value] : header.params) {
    check(std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
  }
}

// The input split at its first '=' is a name and a value; when they make a
// valid cookie, the browser's view of it must be the same pair.
void fuzz_set_cookie(std::string_view input) {
  const std::size_t eq = input.find('=');
  if (eq == std::string_view::npos) return;
  const std::string_view name = input.substr(0, eq);
  const std::string_view value = input.substr(eq + 1);
  std::string cookie;
  try {
    cookie = whirl::format_set_cookie(name, value);
  } catch (const std::invalid_argument&) {
    return;
  }
  const auto parsed = whirl::parse_cookie(cookie.substr(0, cookie.find(';')));
  const auto found = parsed.find(name);
  check(found != parsed.end() && found->second == value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz_url(input);
  fuzz_cookie(input);
  fuzz_query(input);
  fuzz_header(input);
  fuzz_set_cookie(input);
  return 0;
}
