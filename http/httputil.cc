#include "whirl/http/httputil.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "whirl/http/http_headers.h"

namespace whirl {
namespace {

constexpr char kHexDigits[] = "0123456789ABCDEF";
constexpr std::string_view kWhitespace = " \t\r\n\f\v";
constexpr std::size_t kMaxBoundarySize = 70;  // RFC 2046 5.1.1

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

bool is_ctl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), to_lower);
  return out;
}

std::string_view trim(std::string_view s) {
  const std::size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kWhitespace) - begin + 1);
}

std::string hex_byte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return {'0', 'x', kHexDigits[byte >> 4], kHexDigits[byte & 0xf]};
}

// ---------------------------------------------------------------------------
// Header parameters.

// Splits `line` on the ';' that are not inside a quoted string.
std::vector<std::string_view> split_params(std::string_view line) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (quoted && line[i] == '\\') {
      ++i;  // an escaped character never ends the quoted string
    } else if (line[i] == '"') {
      quoted = !quoted;
    } else if (line[i] == ';' && !quoted) {
      pieces.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  pieces.push_back(line.substr(start));
  return pieces;
}

// A quoted-string's content with \" and \\ unescaped. Other backslashes stay:
// old browsers send `filename="C:\dir\a.txt"` unescaped, and Python keeps it.
std::string unquote_param(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  const std::string_view inner = value.substr(1, value.size() - 2);
  std::string out;
  out.reserve(inner.size());
  for (std::size_t i = 0; i < inner.size(); ++i) {
    if (inner[i] == '\\' && i + 1 < inner.size() && (inner[i + 1] == '"' || inner[i + 1] == '\\')) ++i;
    out.push_back(inner[i]);
  }
  return out;
}

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      out.push_back(c);
    } else {
      out.push_back(static_cast<char>(0xc0 | (byte >> 6)));
      out.push_back(static_cast<char>(0x80 | (byte & 0x3f)));
    }
  }
  return out;
}

// RFC 2231/5987 ext-value: charset'language'percent-encoded. Without the two
// quotes Python falls back to the bare text, and so do we.
std::string decode_extended_value(std::string_view value) {
  const std::string unquoted = unquote_param(value);
  const std::string_view text = unquoted;
  const std::size_t first = text.find('\'');
  const std::size_t second = first == std::string_view::npos ? first : text.find('\'', first + 1);
  if (second == std::string_view::npos) return url_unescape(text, false);
  const std::string_view charset = text.substr(0, first);
  std::string decoded = url_unescape(text.substr(second + 1), false);
  if (iequals(charset, "iso-8859-1") || iequals(charset, "latin1")) return latin1_to_utf8(decoded);
  return decoded;
}

// "filename*" is extended; "filename*0" and "filename*0*" are RFC 2231
// continuations, which no browser sends: they keep their literal names.
bool is_extended_name(std::string_view name) {
  return name.size() > 1 && name.back() == '*' && name.find('*') == name.size() - 1;
}

// ---------------------------------------------------------------------------
// Cookies.

// Python's http.cookies._unquote: \ooo (first digit 0-3) is an octal byte,
// \ followed by any other character but a newline is that character.
std::string unquote_cookie_value(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  const std::string_view inner = value.substr(1, value.size() - 2);
  std::string out;
  out.reserve(inner.size());
  const auto octal = [](char c, char max) { return c >= '0' && c <= max; };
  for (std::size_t i = 0; i < inner.size(); ++i) {
    const std::string_view rest = inner.substr(i + 1);
    if (inner[i] != '\\' || rest.empty() || rest[0] == '\n') {
      out.push_back(inner[i]);
    } else if (rest.size() >= 3 && octal(rest[0], '3') && octal(rest[1], '7') && octal(rest[2], '7')) {
      out.push_back(static_cast<char>((rest[0] - '0') * 64 + (rest[1] - '0') * 8 + (rest[2] - '0')));
      i += 3;
    } else {
      out.push_back(rest[0]);
      ++i;
    }
  }
  return out;
}

bool is_cookie_value_byte(char c) {
  return !is_ctl(c) && std::string_view(" \",;\\").find(c) == std::string_view::npos;
}

[[noreturn]] void invalid_cookie(std::string_view field, std::string_view why) {
  throw std::invalid_argument("format_set_cookie: " + std::string(field) + " " + std::string(why));
}

void check_cookie_name(std::string_view name) {
  if (name.empty()) invalid_cookie("name", "is empty");
  for (const char c : name) {
    if (!is_tchar(c)) invalid_cookie("name", "has " + hex_byte(c) + ", which is not a token character");
  }
}

void check_cookie_value(std::string_view value) {
  for (const char c : value) {
    if (!is_cookie_value_byte(c)) {
      invalid_cookie("value", "has " + hex_byte(c) + " (no control characters, space, '\"', ',', ';' or '\\')");
    }
  }
}

// An attribute value must not end the attribute (';') nor smuggle a control
// character (CR LF would split the header) into the response.
void check_cookie_attribute(std::string_view field, std::string_view value) {
  for (const char c : value) {
    if (c == ';' || is_ctl(c)) invalid_cookie(field, "has " + hex_byte(c) + " (no ';' or control characters)");
  }
}

std::string_view canonical_samesite(std::string_view samesite) {
  for (const std::string_view known : {"Strict", "Lax", "None"}) {
    if (iequals(samesite, known)) return known;
  }
  invalid_cookie("samesite", "must be Strict, Lax or None");
}

// ---------------------------------------------------------------------------
// Multipart.

[[noreturn]] void bad_form(const std::string& why) { throw HTTPInputError("multipart/form-data: " + why); }

// One validated part; views point into the body being parsed.
struct FormPart {
  std::string name;
  std::optional<std::string> filename;
  std::string_view content_type;
  std::string_view body;
};

struct PartHeaders {
  std::optional<std::string_view> disposition;
  std::optional<std::string_view> content_type;
};

class MultipartParser {
 public:
  MultipartParser(std::string_view boundary, std::string_view body, const MultipartLimits& limits)
      : line_delimiter_("\r\n--" + std::string(checked(boundary))), body_(body), limits_(limits) {}

  std::vector<FormPart> parse();

 private:
  static std::string_view checked(std::string_view boundary);
  bool is_delimiter_at(std::size_t at) const;
  std::size_t find_delimiter(std::size_t from) const;
  std::size_t first_delimiter() const;
  std::optional<FormPart> parse_part(std::string_view part) const;
  PartHeaders parse_part_headers(std::string_view block) const;
  static FormPart form_part(const PartHeaders& headers, std::string_view body);
  // "--boundary", as it appears at the start of the body.
  std::string_view delimiter() const { return std::string_view(line_delimiter_).substr(2); }

  const std::string line_delimiter_;  // "\r\n--boundary", as it appears after a part
  const std::string_view body_;
  const MultipartLimits& limits_;
};

std::string_view MultipartParser::checked(std::string_view boundary) {
  // An empty boundary would make every "--" a delimiter; a long one makes the
  // delimiter search cost grow with it. RFC 2046 allows 1 to 70 bytes.
  if (boundary.empty()) bad_form("empty boundary");
  if (boundary.size() > kMaxBoundarySize) bad_form("boundary longer than 70 bytes");
  return boundary;
}

// A delimiter is "--boundary" followed by "\r\n" (a part follows) or "--"
// (the end). Anything else merely starts like one and is data.
bool MultipartParser::is_delimiter_at(std::size_t at) const {
  const std::string_view rest = body_.substr(at);
  if (!rest.starts_with(delimiter())) return false;
  const std::string_view after = rest.substr(delimiter().size());
  return after.starts_with("\r\n") || after.starts_with("--");
}

// The next delimiter that starts a line at or after `from`, i.e. the
// position of its "--" (the CRLF before it belongs to the delimiter).
std::size_t MultipartParser::find_delimiter(std::size_t from) const {
  for (std::size_t at = body_.find(line_delimiter_, from); at != std::string_view::npos;
       at = body_.find(line_delimiter_, at + 1)) {
    if (is_delimiter_at(at + 2)) return at + 2;
  }
  return std::string_view::npos;
}

std::size_t MultipartParser::first_delimiter() const {
  if (is_delimiter_at(0)) return 0;
  // A preamble is legal MIME, but browsers never send one and Tornado fails
  // on it; a body that does not start with the boundary is likely not the
  // form the headers announced.
  if (find_delimiter(0) != std::string_view::npos) bad_form("data before the first boundary");
  bad_form("no final boundary");
}

std::vector<FormPart> MultipartParser::parse() {
  std::vector<FormPart> parts;
  std::size_t count = 0;
  for (std::size_t at = first_delimiter();;) {
    const std::size_t after = at + delimiter().size();
    if (body_.substr(after).starts_with("--")) return parts;  // the close delimiter: the rest is epilogue
    // Checked before the part is read, so a flood of parts costs no more
    // than max_parts of them.
    if (++count > limits_.max_parts) bad_form("more than " + std::to_string(limits_.max_parts) + " parts");
    // The search starts at the delimiter line's own CRLF: a part may be
    // empty ("--b\r\n--b"), and then the two delimiters share it.
    const std::size_t next = find_delimiter(after);
    // A body cut short (a client that gave up, a proxy limit) must not pass
    // for a complete form with its last field truncated.
    if (next == std::string_view::npos) bad_form("no final boundary");
    const std::size_t part_start = after + 2;
    if (auto part = parse_part(body_.substr(part_start, next - part_start))) parts.push_back(std::move(*part));
    at = next;
  }
}

// `part` runs from after the delimiter line to the delimiter that ends it,
// so it ends with that delimiter's CRLF (or is empty: "--b\r\n--b", which
// Tornado skips too).
std::optional<FormPart> MultipartParser::parse_part(std::string_view part) const {
  if (part.empty()) return std::nullopt;
  std::size_t header_end = 0;  // the header block is part[0, header_end)
  std::size_t body_start = 2;  // a part without headers starts with the empty line
  if (!part.starts_with("\r\n")) {
    header_end = part.find("\r\n\r\n");
    // Without the empty line there is no telling headers from data.
    if (header_end == std::string_view::npos) bad_form("part without the empty line that ends its headers");
    body_start = header_end + 4;
  }
  if (header_end > limits_.max_part_header_size) {
    bad_form("part headers larger than " + std::to_string(limits_.max_part_header_size) + " bytes");
  }
  const std::size_t body_end = std::max(body_start, part.size() - 2);
  const std::string_view body = part.substr(body_start, body_end - body_start);
  return form_part(parse_part_headers(part.substr(0, header_end)), body);
}

PartHeaders MultipartParser::parse_part_headers(std::string_view block) const {
  PartHeaders headers;
  while (!block.empty()) {
    const std::size_t eol = block.find("\r\n");
    const std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    // A folded line (obs-fold) is obsolete and no browser folds part headers;
    // a bare CR, LF or NUL would end up in a filename or a log.
    if (line.starts_with(' ') || line.starts_with('\t')) bad_form("folded part header line");
    if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
      bad_form("control character in a part header");
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) bad_form("part header line without a colon");
    const std::string_view name = line.substr(0, colon);
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) bad_form("invalid part header name");
    std::optional<std::string_view>* slot = iequals(name, "Content-Disposition") ? &headers.disposition
                                            : iequals(name, "Content-Type")      ? &headers.content_type
                                                                                 : nullptr;
    if (slot == nullptr) continue;
    // Two of them leave it to chance which name or type the handler sees.
    if (slot->has_value()) bad_form("repeated " + std::string(name) + " header in a part");
    *slot = trim(line.substr(colon + 1));
  }
  return headers;
}

FormPart MultipartParser::form_part(const PartHeaders& headers, std::string_view body) {
  // RFC 7578 4.2: every part of a form has a form-data disposition naming
  // its field; a part without one cannot be delivered to any argument.
  if (!headers.disposition) bad_form("part without Content-Disposition");
  HeaderValue disposition = parse_header_value(*headers.disposition);
  if (!iequals(disposition.value, "form-data")) bad_form("part's Content-Disposition is not form-data");
  auto name = disposition.params.find("name");
  if (name == disposition.params.end() || name->second.empty()) bad_form("part without a name");
  FormPart part{.name = std::move(name->second), .filename = std::nullopt, .content_type = {}, .body = body};
  auto filename = disposition.params.find("filename");
  if (filename != disposition.params.end() && !filename->second.empty()) {
    part.filename = std::move(filename->second);
    part.content_type = headers.content_type.value_or("application/unknown");
  }
  return part;
}

void deliver(std::vector<FormPart>& parts, ArgumentMap& arguments, FileMap& files) {
  for (FormPart& part : parts) {
    if (part.filename) {
      files[part.name].push_back(
          HTTPFile{std::move(*part.filename), std::string(part.body), std::string(part.content_type)});
    } else {
      arguments[part.name].emplace_back(part.body);
    }
  }
}

// ---------------------------------------------------------------------------
// Dates.

// IMF-fixdate has four year digits: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
constexpr long long kFirstDate = -62135596800LL;
constexpr long long kLastDate = 253402300799LL;

void put_digits(char* out, int value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

}  // namespace

std::string url_unescape(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string url_escape(std::string_view s, bool plus) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    if (is_unreserved(c)) {
      out.push_back(c);
    } else if (c == ' ' && plus) {
      out.push_back('+');
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += {'%', kHexDigits[byte >> 4], kHexDigits[byte & 0xf]};
    }
  }
  return out;
}

void parse_query_string(std::string_view query, ArgumentMap& arguments) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view field = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (field.empty()) continue;
    const std::size_t eq = field.find('=');
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : field.substr(eq + 1);
    arguments[url_unescape(field.substr(0, eq))].push_back(url_unescape(value));
  }
}

HeaderValue parse_header_value(std::string_view line) {
  const std::vector<std::string_view> pieces = split_params(line);
  HeaderValue result{.value = std::string(trim(pieces.front())), .params = {}};
  std::map<std::string, std::string, std::less<>> extended;
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    const std::size_t eq = pieces[i].find('=');
    if (eq == std::string_view::npos) continue;
    std::string name = lower(trim(pieces[i].substr(0, eq)));
    const std::string_view value = trim(pieces[i].substr(eq + 1));
    if (is_extended_name(name)) {
      name.pop_back();
      extended[name] = decode_extended_value(value);
    } else {
      result.params[name] = unquote_param(value);
    }
  }
  // Extended values carry the exact bytes; RFC 6266 4.3 prefers them.
  for (auto& [name, value] : extended) result.params[name] = std::move(value);
  return result;
}

void parse_multipart_form_data(std::string_view boundary, std::string_view body, ArgumentMap& arguments, FileMap& files,
                               const MultipartLimits& limits) {
  std::vector<FormPart> parts = MultipartParser(boundary, body, limits).parse();
  deliver(parts, arguments, files);
}

void parse_body_arguments(std::string_view content_type, std::string_view body, ArgumentMap& arguments, FileMap& files,
                          const MultipartLimits& limits) {
  // No Content-Type (every GET): no form to parse, and nothing to build a
  // HeaderValue for (~300 instructions of each such request).
  if (content_type.empty()) return;
  const HeaderValue type = parse_header_value(content_type);
  if (iequals(type.value, "application/x-www-form-urlencoded")) {
    parse_query_string(body, arguments);
  } else if (iequals(type.value, "multipart/form-data")) {
    const auto boundary = type.params.find("boundary");
    // Without the boundary the parts cannot be found; guessing one from the
    // body would accept forms the client never declared.
    if (boundary == type.params.end() || boundary->second.empty()) {
      throw HTTPInputError("multipart/form-data: Content-Type has no boundary parameter");
    }
    parse_multipart_form_data(boundary->second, body, arguments, files, limits);
  }
}

std::map<std::string, std::string, std::less<>> parse_cookie(std::string_view header) {
  std::map<std::string, std::string, std::less<>> cookies;
  while (!header.empty()) {
    // Plain split, quotes or not, as Python does: browsers do not quote ';'.
    const std::size_t semicolon = header.find(';');
    const std::string_view chunk = header.substr(0, semicolon);
    header = semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
    const std::size_t eq = chunk.find('=');
    const std::string_view name = eq == std::string_view::npos ? std::string_view() : trim(chunk.substr(0, eq));
    const std::string_view value = trim(eq == std::string_view::npos ? chunk : chunk.substr(eq + 1));
    if (name.empty() && value.empty()) continue;
    cookies[std::string(name)] = unquote_cookie_value(value);
  }
  return cookies;
}

std::string format_set_cookie(std::string_view name, std::string_view value, const CookieOptions& options) {
  check_cookie_name(name);
  check_cookie_value(value);
  check_cookie_attribute("domain", options.domain);
  check_cookie_attribute("path", options.path);
  std::string cookie = std::string(name) + "=" + std::string(value);
  if (!options.domain.empty()) cookie += "; Domain=" + options.domain;
  if (!options.path.empty()) cookie += "; Path=" + options.path;
  if (options.expires) cookie += "; Expires=" + format_http_date(*options.expires);
  if (options.max_age) cookie += "; Max-Age=" + std::to_string(*options.max_age);
  if (options.secure) cookie += "; Secure";
  if (options.httponly) cookie += "; HttpOnly";
  if (!options.samesite.empty()) cookie += "; SameSite=" + std::string(canonical_samesite(options.samesite));
  return cookie;
}

std::string format_http_date(std::time_t t) {
  char out[29];
  format_http_date(t, out);
  return std::string(out, sizeof out);
}

void format_http_date(std::time_t t, char (&out)[29]) noexcept {
  static constexpr char kDays[] = "SunMonTueWedThuFriSat";
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const std::time_t clamped = static_cast<std::time_t>(std::clamp<long long>(t, kFirstDate, kLastDate));
  std::tm tm{};
  // Cannot fail inside the clamped range; if a platform's gmtime_r still
  // refuses, the epoch is a valid date where garbage would not be.
  if (gmtime_r(&clamped, &tm) == nullptr) {
    const std::time_t epoch = 0;
    gmtime_r(&epoch, &tm);
  }
  std::copy_n(kDays + 3 * tm.tm_wday, 3, out);
  std::copy_n(", ", 2, out + 3);
  put_digits(out + 5, tm.tm_mday, 2);
  out[7] = ' ';
  std::copy_n(kMonths + 3 * tm.tm_mon, 3, out + 8);
  out[11] = ' ';
  put_digits(out + 12, tm.tm_year + 1900, 4);
  out[16] = ' ';
  put_digits(out + 17, tm.tm_hour, 2);
  out[19] = ':';
  put_digits(out + 20, tm.tm_min, 2);
  out[22] = ':';
  put_digits(out + 23, tm.tm_sec, 2);
  std::copy_n(" GMT", 4, out + 25);
}

namespace {

// Days from 1970-01-01 to year-month-day (proleptic Gregorian; Howard
// Hinnant's days_from_civil, which needs no time zone and no locale).
long long days_from_civil(long long year, unsigned month, unsigned day) noexcept {
  year -= month <= 2 ? 1 : 0;
  const long long era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<long long>(day_of_era) - 719468;
}

// Reads exactly `width` digits from the front of `text`.
bool take_digits(std::string_view& text, std::size_t width, int& value) noexcept {
  if (text.size() < width) return false;
  value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  text.remove_prefix(width);
  return true;
}

bool take_literal(std::string_view& text, std::string_view literal) noexcept {
  if (!text.starts_with(literal)) return false;
  text.remove_prefix(literal.size());
  return true;
}

// "Nov" -> 1..12, 0 when it is no month.
unsigned take_month(std::string_view& text) noexcept {
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (text.size() < 3) return 0;
  std::size_t at = kMonths.find(text.substr(0, 3));
  if (at == std::string_view::npos || at % 3 != 0) return 0;
  text.remove_prefix(3);
  return static_cast<unsigned>(at / 3 + 1);
}

// "08:49:37"
bool take_time(std::string_view& text, int& hour, int& minute, int& second) noexcept {
  return take_digits(text, 2, hour) && take_literal(text, ":") && take_digits(text, 2, minute) &&
         take_literal(text, ":") && take_digits(text, 2, second) && hour < 24 && minute < 60 && second <= 60;
}

}  // namespace

std::optional<std::time_t> parse_http_date(std::string_view text) noexcept {
  std::size_t comma = text.find(',');
  int day = 0;
  int year = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  unsigned month = 0;
  if (comma == 3) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    text.remove_prefix(4);
    if (!take_literal(text, " ") || !take_digits(text, 2, day) || !take_literal(text, " ")) return std::nullopt;
    if ((month = take_month(text)) == 0 || !take_literal(text, " ") || !take_digits(text, 4, year)) return std::nullopt;
    if (!take_literal(text, " ") || !take_time(text, hour, minute, second) || text != " GMT") return std::nullopt;
  } else if (comma != std::string_view::npos && comma >= 6) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    text.remove_prefix(comma + 1);
    if (!take_literal(text, " ") || !take_digits(text, 2, day) || !take_literal(text, "-")) return std::nullopt;
    if ((month = take_month(text)) == 0 || !take_literal(text, "-") || !take_digits(text, 2, year)) return std::nullopt;
    if (!take_literal(text, " ") || !take_time(text, hour, minute, second) || text != " GMT") return std::nullopt;
    year += year < 70 ? 2000 : 1900;
  } else if (comma == std::string_view::npos && text.size() == 24) {
    // asctime: "Sun Nov  6 08:49:37 1994" (the day padded with a space)
    text.remove_prefix(4);
    if ((month = take_month(text)) == 0 || !take_literal(text, " ")) return std::nullopt;
    bool padded = take_literal(text, " ");
    if (!take_digits(text, padded ? 1 : 2, day) || !take_literal(text, " ")) return std::nullopt;
    if (!take_time(text, hour, minute, second) || !take_literal(text, " ") || !take_digits(text, 4, year)) {
      return std::nullopt;
    }
    if (!text.empty()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (day < 1 || day > 31) return std::nullopt;
  long long days = days_from_civil(year, month, static_cast<unsigned>(day));
  return static_cast<std::time_t>(days * 86400 + hour * 3600 + minute * 60 + second);
}

ByteRange parse_byte_range(std::string_view range, std::uint64_t size) noexcept {
  ByteRange result;
  range = trim(range);
  std::size_t equals = range.find('=');
  if (equals == std::string_view::npos || !iequals(trim(range.substr(0, equals)), "bytes")) return result;
  std::string_view spec = trim(range.substr(equals + 1));
  if (spec.find(',') != std::string_view::npos) return result;  // several ranges: the whole file
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return result;
  std::string_view first_text = trim(spec.substr(0, dash));
  std::string_view last_text = trim(spec.substr(dash + 1));
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (first_text.empty()) {
    // "-N": the last N bytes (all of them when the file is shorter).
    if (!parse_decimal(last_text, last)) return result;
    if (last == 0 || size == 0) {  // no last bytes to give
      result.kind = ByteRange::Kind::kUnsatisfiable;
      return result;
    }
    result.kind = ByteRange::Kind::kSatisfiable;
    result.length = std::min(last, size);
    result.first = size - result.length;
    return result;
  }
  if (!parse_decimal(first_text, first)) return result;
  if (last_text.empty()) {
    last = size == 0 ? 0 : size - 1;  // "N-": to the end
  } else if (!parse_decimal(last_text, last) || last < first) {
    return result;  // malformed: ignored, as RFC 9110 14.2 allows
  }
  if (first >= size) {
    result.kind = ByteRange::Kind::kUnsatisfiable;
    return result;
  }
  last = std::min(last, size - 1);
  result.kind = ByteRange::Kind::kSatisfiable;
  result.first = first;
  result.length = last - first + 1;
  return result;
}

bool etag_list_matches(std::string_view list, std::string_view etag, bool weak) noexcept {
  auto opaque = [](std::string_view tag) { return tag.starts_with("W/") ? tag.substr(2) : tag; };
  if (!weak && etag.starts_with("W/")) return false;
  list = trim(list);
  if (list == "*") return true;
  while (!list.empty()) {
    // An entity-tag is W/? "..." with no '"' inside, so a comma inside the
    // quotes cannot end it.
    list = trim(list);
    std::size_t open = list.find('"');
    if (open == std::string_view::npos) return false;
    std::size_t close = list.find('"', open + 1);
    if (close == std::string_view::npos) return false;
    std::string_view tag = trim(list.substr(0, close + 1));
    if (weak ? opaque(tag) == opaque(etag) : tag == etag) return true;
    list.remove_prefix(close + 1);
    std::size_t comma = list.find(',');
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view cached_http_date() noexcept {
  thread_local std::time_t formatted_at = 0;
  thread_local char text[29];
  std::time_t now = std::time(nullptr);
  if (now != formatted_at) {
    format_http_date(now, text);
    formatted_at = now;
  }
  return std::string_view(text, sizeof text);
}

std::string_view http_reason(int code) noexcept {
  switch (code) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string base64_encode(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t size = data.size();
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    std::uint32_t group = std::uint32_t{bytes[i]} << 16;
    if (i + 1 < size) group |= std::uint32_t{bytes[i + 1]} << 8;
    if (i + 2 < size) group |= bytes[i + 2];
    out.push_back(kAlphabet[(group >> 18) & 63]);
    out.push_back(kAlphabet[(group >> 12) & 63]);
    out.push_back(i + 1 < size ? kAlphabet[(group >> 6) & 63] : '=');
    out.push_back(i + 2 < size ? kAlphabet[group & 63] : '=');
  }
  return out;
}

}  // namespace whirl
