#include "whirl/http/request_parser.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>

#include "whirl/http/byte_scan.h"

namespace whirl {

namespace {

using Status = RequestParser::Status;

// How many CRLFs may precede a request line (RFC 9112 2.2 asks servers to
// ignore at least one, which clients send after a body by mistake).
constexpr std::size_t kMaxLeadingEmptyLines = 4;

// What a request-target byte is: refused, plain, or one the path checks
// look at ('%', '\\', '?'). Visible ASCII only: a control, space, DEL or
// non-ASCII byte is read differently by different peers; '#' starts a
// fragment, which a request never carries.
enum class TargetByte : unsigned char { kRefused, kPlain, kNoted };
constexpr auto kTargetBytes = [] {
  std::array<TargetByte, 256> table{};
  for (int c = 0x21; c < 0x7f; ++c) table[c] = TargetByte::kPlain;
  table['#'] = TargetByte::kRefused;
  table['%'] = table['\\'] = table['?'] = TargetByte::kNoted;
  return table;
}();

// Longer than any registered method (the longest, UPDATEREDIRECTREF, has
// 17 letters); a longer "method" is garbage, not a long URI (400, not 414).
constexpr std::size_t kMaxMethodLength = 32;

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// A path (the target before '?') that holds a backslash, or an escape that
// decodes to NUL, CR or LF, means different paths to different readers: a
// backslash is a separator to Windows back ends and to URL parsers of the
// WHATWG kind, a decoded CR/LF can split a header a proxy or a logger
// writes, a NUL ends a C string early. The query is left alone: browsers
// send a form's newlines there as %0D%0A and a backslash raw.
bool has_dangerous_path(std::string_view target) noexcept {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.find('\\') != std::string_view::npos) return true;
  for (std::size_t i = path.find('%'); i != std::string_view::npos && i + 2 < path.size(); i = path.find('%', i + 1)) {
    int high = hex_value(path[i + 1]);
    int low = hex_value(path[i + 2]);
    if (high < 0 || low < 0) continue;
    int byte = high * 16 + low;
    if (byte == 0 || byte == '\r' || byte == '\n') return true;
  }
  return false;
}

// A field name that reads as a framing header once '_' becomes '-', as CGI,
// WSGI and many proxies turn it: a back end could frame the body by a
// header we did not (nginx drops such names; we refuse the request). The
// swap keeps the length, so only names of those two lengths are looked at.
bool is_framing_name_in_disguise(std::string_view name) noexcept {
  constexpr std::string_view kLength = "Content-Length";
  constexpr std::string_view kCoding = "Transfer-Encoding";
  if (name.size() != kLength.size() && name.size() != kCoding.size()) return false;
  if (name.find('_') == std::string_view::npos) return false;
  std::string_view framing = name.size() == kLength.size() ? kLength : kCoding;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i] == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    if (c != std::tolower(static_cast<unsigned char>(framing[i]))) return false;
  }
  return true;
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Host's value: uri-host [ ":" port ] (RFC 3986 reg-name, IPv4 or [IPv6]).
bool is_valid_host(std::string_view host) noexcept {
  for (unsigned char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(static_cast<char>(c));
    if (!ok) {
      switch (c) {
        case '-':
        case '.':
        case '_':
        case '~':
        case '%':
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '[':
        case ']':
          ok = true;
          break;
        default:
          break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace

void RequestParser::reset() noexcept {
  scanned_ = line_start_ = head_start_ = head_end_ = 0;
  authority_ = {};
  framing_ = BodyFraming::kNone;
  content_length_ = 0;
  expects_continue_ = false;
  host_count_ = 0;
  host_ = {};
  saw_length_ = saw_transfer_encoding_ = false;
  connection_close_ = connection_keep_alive_ = false;
  error_status_ = 0;
  error_reason_ = "";
}

Status RequestParser::fail(int status, const char* reason) noexcept {
  error_status_ = status;
  error_reason_ = reason;
  return Status::kError;
}

bool RequestParser::reject(int status, const char* reason) noexcept {
  fail(status, reason);
  return false;
}

Status RequestParser::parse(std::string_view data, RequestStartLine& start, HTTPHeaders& headers) {
  if (error_status_ != 0) return Status::kError;
  Status status = scan(data);
  if (status != Status::kComplete) return status;
  return parse_head(data.substr(head_start_, head_end_ - head_start_), start, headers);
}

namespace {

// The index of the first CR or LF in `data` at or after `i` (data.size()
// if none). Eight bytes at a time: the head's scan visits every byte of
// every request, and a byte loop was the parser's largest cost.
std::size_t skip_to_cr_or_lf(std::string_view data, std::size_t i) noexcept {
  for (; i + 8 <= data.size(); i += 8) {
    std::uint64_t word = byte_scan::load64(data.data() + i);
    // A word that has one goes to the byte loop below, which finds it.
    if (byte_scan::has_byte(word, '\r') || byte_scan::has_byte(word, '\n')) break;
  }
  while (i < data.size() && data[i] != '\r' && data[i] != '\n') ++i;
  return i;
}

void assign_if_changed(std::string& to, std::string_view from) {
  if (to.size() != from.size() || std::memcmp(to.data(), from.data(), from.size()) != 0) to.assign(from);
}

}  // namespace

// Checks line endings up to the blank line that ends the head.
Status RequestParser::scan(std::string_view data) {
  std::size_t i = scanned_;
  for (; i < data.size(); ++i) {
    i = skip_to_cr_or_lf(data, i);
    if (i == data.size()) break;
    char c = data[i];
    if (c == '\n') return fail(400, "Bare LF in request head");
    if (c != '\r') continue;
    if (i + 1 == data.size()) break;  // the LF has not arrived yet
    if (data[i + 1] != '\n') return fail(400, "Bare CR in request head");
    bool empty_line = i == line_start_;
    line_start_ = i + 2;
    ++i;
    if (!empty_line) continue;
    if (line_start_ - 2 == head_start_) {  // before any request line
      if (head_start_ / 2 >= kMaxLeadingEmptyLines) return fail(400, "Too many empty lines before the request");
      head_start_ = line_start_;
      continue;
    }
    head_end_ = line_start_;
    scanned_ = head_end_;
    return Status::kComplete;
  }
  scanned_ = i;
  std::size_t size = scanned_ - head_start_;
  if (line_start_ == head_start_ && size > kMaxMethodLength &&
      data.substr(head_start_, kMaxMethodLength + 1).find(' ') == std::string_view::npos) {
    return fail(400, "Malformed HTTP method");  // no space yet: the method itself is too long
  }
  if (line_start_ == head_start_ && size > limits_.max_target + 16) return fail(414, "Request-URI Too Long");
  if (size >= limits_.max_header_size) return fail(431, "Request Header Fields Too Large");
  return Status::kIncomplete;
}

Status RequestParser::parse_head(std::string_view head, RequestStartLine& start, HTTPHeaders& headers) {
  if (head.size() > limits_.max_header_size) return fail(431, "Request Header Fields Too Large");
  std::size_t line_end = head.find("\r\n");
  if (!parse_request_line(head.substr(0, line_end), start)) return Status::kError;
  headers.assign_block(head);
  if (!parse_fields(head, line_end + 2, headers)) return Status::kError;
  if (!check_host(start)) return Status::kError;
  if (!resolve_target(start)) return Status::kError;
  if (!determine_framing(start, headers)) return Status::kError;
  return Status::kComplete;
}

bool RequestParser::parse_request_line(std::string_view line, RequestStartLine& start) {
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return reject(400, "Malformed HTTP request line");
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return reject(400, "Malformed HTTP request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!HTTPHeaders::is_token(method) || method.size() > kMaxMethodLength) return reject(400, "Malformed HTTP method");
  if (target.empty()) return reject(400, "Malformed HTTP request line");
  if (target.size() > limits_.max_target) return reject(414, "Request-URI Too Long");
  bool noted = false;
  for (unsigned char c : target) {
    TargetByte kind = kTargetBytes[c];
    if (kind == TargetByte::kRefused) return reject(400, "Invalid character in request target");
    noted = noted || kind == TargetByte::kNoted;
  }
  if (noted && has_dangerous_path(target)) return reject(400, "Backslash or encoded NUL, CR or LF in the path");
  // Exactly "HTTP/" DIGIT "." DIGIT; a third space lands here too.
  bool well_formed = version.size() == 8 && version.substr(0, 5) == "HTTP/" && is_digit(version[5]) &&
                     version[6] == '.' && is_digit(version[7]);
  if (!well_formed) return reject(400, "Malformed HTTP version in HTTP Request-Line");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return reject(505, "HTTP Version Not Supported");
  // The method and version are nearly always those of the connection's
  // last request: compared first (a word compare), they are rarely copied.
  assign_if_changed(start.method, method);
  start.path.assign(target);
  assign_if_changed(start.version, version);
  return true;
}

bool RequestParser::parse_fields(std::string_view head, std::size_t offset, HTTPHeaders& headers) {
  std::size_t count = 0;
  while (offset < head.size()) {
    std::size_t end = head.find("\r\n", offset);
    std::string_view line = head.substr(offset, end - offset);
    if (line.empty()) break;  // the blank line
    if (is_ows(line.front())) return reject(400, "Obsolete line folding in header");
    if (++count > limits_.max_headers) return reject(431, "Too many header fields");
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return reject(400, "Malformed header line (no colon)");
    std::string_view name = line.substr(0, colon);
    // A space or tab before the colon fails here: they are not tchars.
    if (!HTTPHeaders::is_token(name)) return reject(400, "Invalid header name");
    if (is_framing_name_in_disguise(name)) return reject(400, "Header name with '_' posing as a framing header");
    std::string_view value = line.substr(colon + 1);
    for (unsigned char c : value) {
      if (!is_field_value_byte(c)) return reject(400, "Invalid character in header value");
    }
    value = trim_ows(value);
    if (name.size() == 6 && iequals(name, "Expect")) {
      // RFC 9110 §10.1.1: 100-continue is the only expectation defined.
      if (!iequals(value, "100-continue")) return reject(417, "Unsupported Expect");
      expects_continue_ = true;
    }
    note_field(name, value);
    auto value_offset = static_cast<std::size_t>(value.data() - head.data());
    headers.add_from_block(static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(name.size()),
                           static_cast<std::uint32_t>(value_offset), static_cast<std::uint32_t>(value.size()));
    offset = end + 2;
  }
  return true;
}

// The fields later steps ask about, told apart by length first: most names
// match none of the lengths and cost one switch.
void RequestParser::note_field(std::string_view name, std::string_view value) noexcept {
  switch (name.size()) {
    case 4:
      if (iequals(name, "Host") && host_count_++ == 0) host_ = value;
      break;
    case 10:
      if (iequals(name, "Connection")) {
        connection_close_ = connection_close_ || list_contains(value, "close");
        connection_keep_alive_ = connection_keep_alive_ || list_contains(value, "keep-alive");
      }
      break;
    case 14:
      saw_length_ = saw_length_ || iequals(name, "Content-Length");
      break;
    case 17:
      saw_transfer_encoding_ = saw_transfer_encoding_ || iequals(name, "Transfer-Encoding");
      break;
    default:
      break;
  }
}

bool RequestParser::check_host(const RequestStartLine& start) {
  std::size_t hosts = host_count_;
  if (start.http11() && hosts != 1) return reject(400, hosts == 0 ? "Missing Host header" : "Multiple Host headers");
  if (hosts > 1) return reject(400, "Multiple Host headers");
  if (hosts == 0) return true;
  std::string_view host = host_;
  if (!is_valid_host(host)) return reject(400, "Invalid Host header");
  // RFC 9112 §3.2 allows an empty Host only for a target without an
  // authority, which no origin server is; nginx refuses it too.
  if (host.empty() && start.http11()) return reject(400, "Empty Host header");
  return true;
}

// Origin form ("/path?q"), asterisk form (OPTIONS *) or absolute form
// ("http://host/path", whose authority must agree with Host).
bool RequestParser::resolve_target(RequestStartLine& start) {
  std::string_view target = start.path;
  if (target.front() == '/') return true;
  if (target == "*") {
    if (start.method != "OPTIONS") return reject(400, "Asterisk-form target outside OPTIONS");
    return true;
  }
  std::size_t scheme_length = starts_with_icase(target, "http://") ? 7 : starts_with_icase(target, "https://") ? 8 : 0;
  if (scheme_length == 0) return reject(400, "Unsupported request target form");
  std::string_view rest = target.substr(scheme_length);
  std::size_t path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  if (authority.empty() || authority.find('@') != std::string_view::npos) {
    return reject(400, "Invalid authority in request target");
  }
  if (host_count_ != 0 && !iequals(authority, host_)) {
    return reject(400, "Host header does not match the request target");
  }
  std::string origin = path_start == std::string_view::npos ? std::string("/") : std::string(rest.substr(path_start));
  if (origin.front() == '?') origin.insert(0, "/");
  start.path = std::move(origin);
  return true;
}

bool RequestParser::determine_framing(const RequestStartLine& start, const HTTPHeaders& headers) {
  framing_ = BodyFraming::kNone;
  content_length_ = 0;
  if (!saw_length_ && !saw_transfer_encoding_) return true;  // most requests: no body
  bool has_length = false;
  bool has_te = false;
  for (auto [name, value] : headers) {
    if (iequals(name, "Content-Length")) {
      std::uint64_t length = 0;
      if (!parse_decimal(value, length)) return reject(400, "Invalid Content-Length");
      if (has_length && length != content_length_) return reject(400, "Conflicting Content-Length headers");
      has_length = true;
      content_length_ = length;
    } else if (iequals(name, "Transfer-Encoding")) {
      has_te = true;
    }
  }
  if (has_te) {
    // Two framings in one message is the classic smuggling setup; and an
    // HTTP/1.0 peer cannot have meant chunked (RFC 9112 6.1).
    if (has_length) return reject(400, "Transfer-Encoding together with Content-Length");
    if (!start.http11()) return reject(400, "Transfer-Encoding in an HTTP/1.0 request");
    return parse_transfer_encoding(headers);
  }
  if (has_length) framing_ = BodyFraming::kLength;
  return true;
}

// The codings over every Transfer-Encoding field must be exactly "chunked".
bool RequestParser::parse_transfer_encoding(const HTTPHeaders& headers) {
  std::size_t codings = 0;
  bool chunked_seen = false;
  bool unsupported = false;
  bool chunked_last = false;
  for (auto [name, value] : headers) {
    if (!iequals(name, "Transfer-Encoding")) continue;
    std::string_view rest = value;
    for (;;) {
      std::size_t comma = rest.find(',');
      std::string_view coding = trim_ows(rest.substr(0, comma));
      if (coding.empty()) return reject(400, "Empty Transfer-Encoding element");
      ++codings;
      chunked_last = iequals(coding, "chunked");
      if (chunked_last) {
        if (chunked_seen) return reject(400, "chunked applied more than once");
        chunked_seen = true;
      } else if (chunked_seen) {
        return reject(400, "chunked is not the final transfer coding");
      } else if (HTTPHeaders::is_token(coding)) {
        unsupported = true;  // gzip, deflate, identity, ...: not implemented
      } else {
        return reject(400, "Invalid Transfer-Encoding");
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  if (!chunked_last) {
    if (chunked_seen) return reject(400, "chunked is not the final transfer coding");
    return reject(501, "Unsupported Transfer-Encoding");
  }
  if (unsupported || codings != 1) return reject(501, "Unsupported Transfer-Encoding");
  framing_ = BodyFraming::kChunked;
  return true;
}

}  // namespace whirl
