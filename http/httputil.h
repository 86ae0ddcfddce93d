// whirl/http/httputil.h: Tornado's httputil: forms, query strings, cookies, dates.
//
//     ArgumentMap arguments;
//     FileMap files;
//     parse_query_string("a=1&b=&a=2", arguments);           // a: {"1", "2"}, b: {""}
//     parse_body_arguments(request.content_type, request.body, arguments, files);
//     const HTTPFile& upload = files.at("avatar").front();   // filename, body, content_type
//
//     auto cookies = parse_cookie("sid=abc; theme=\"dark\"");  // sid: abc, theme: dark
//     CookieOptions session;
//     session.max_age = 3600;
//     session.httponly = true;
//     format_set_cookie("sid", "abc", session);  // "sid=abc; Path=/; Max-Age=3600; HttpOnly"
//
//     char date[29];
//     format_http_date(std::time(nullptr), date);            // "Sun, 06 Nov 1994 08:49:37 GMT"
//
// Everything here works on bytes: names, values and file bodies are the
// bytes the client sent, percent-decoded where the format says so and
// otherwise untouched (Tornado's bytes values; its latin-1 decoded names are
// the same bytes). Decoding text is the caller's business.
//
// Malformed input from a client throws HTTPInputError, which the server
// answers with 400 and the exception's message. The form parsers either fill
// `arguments` and `files` completely or leave them as they were: a request
// that was half-read must not reach a handler. Where Tornado's parsers are
// lenient by nature (query strings, cookies, header parameters) whirl is
// lenient too and never throws. Malformed input from the program itself
// (format_set_cookie) throws std::invalid_argument naming the culprit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace whirl {

// Tornado's RequestStartLine. `path` is the target in origin form (for an
// absolute-form target, the part after the authority).
struct RequestStartLine {
  std::string method;
  std::string path;
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  // A size test and one eight-byte compare (the request loop asks often).
  bool http11() const noexcept { return version.size() == 8 && std::memcmp(version.data(), "HTTP/1.1", 8) == 0; }
};

// Tornado's ResponseStartLine.
struct ResponseStartLine {
  std::string_view version = "HTTP/1.1";
  int code = 200;
  std::string_view reason = "OK";
};

// The standard reason phrase for `code` ("Unknown" if none; Tornado's httputil.responses).
std::string_view http_reason(int code) noexcept;

// A request the server must refuse: 400 with this message (Tornado's HTTPInputError).
class HTTPInputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Name -> values in arrival order (Tornado's dict of lists).
using ArgumentMap = std::map<std::string, std::vector<std::string>, std::less<>>;

// One uploaded file of a multipart/form-data body.
struct HTTPFile {
  std::string filename;
  std::string body;
  std::string content_type;
};
using FileMap = std::map<std::string, std::vector<HTTPFile>, std::less<>>;

// Percent-decoding ("%41" -> "A"); with plus_as_space '+' becomes ' ' (query
// strings and forms), and "%2B" stays '+'. A malformed escape ("%4", "%zz")
// is kept literally, as Python's unquote does.
std::string url_unescape(std::string_view s, bool plus_as_space = true);

// Percent-encoding (uppercase hex) of every byte but the unreserved ones
// (A-Z a-z 0-9 - . _ ~); with `plus`, space becomes '+'. '/' is escaped too.
std::string url_escape(std::string_view s, bool plus = true);

// Tornado's parse_qs_bytes(keep_blank_values=True): "a=1&b=&a=2&c" appends
// a: {"1", "2"}, b: {""}, c: {""}. Fields are separated by '&' only (';' is
// data, as in Python 3.10+); empty fields ("a=1&&b=2") are skipped. Names and
// values are url_unescape()d with plus_as_space. Never throws.
void parse_query_string(std::string_view query, ArgumentMap& arguments);

// A header value with parameters (Tornado's _parse_header):
// `form-data; name="f"; filename="a b.txt"` ->
// {"form-data", {{"name", "f"}, {"filename", "a b.txt"}}}.
// `value` is the text before the first ';', trimmed. Parameter names are
// lower-cased; a quoted value is unquoted, with \" and \\ unescaped (other
// backslashes are kept: old browsers send Windows paths unescaped); ';'
// inside quotes does not split. RFC 2231/5987 extended values
// (`filename*=UTF-8''a%20b.txt`) are percent-decoded into "filename" and win
// over a plain `filename`; ISO-8859-1 ones are converted to UTF-8, other
// charsets are kept as bytes. Parameters without '=' are ignored; a repeated
// parameter keeps its last value. Never throws.
struct HeaderValue {
  std::string value;
  std::map<std::string, std::string, std::less<>> params;
};
HeaderValue parse_header_value(std::string_view line);

struct MultipartLimits {
  std::size_t max_parts = 100;  // Tornado's ParseMultipartConfig defaults
  std::size_t max_part_header_size = 10 * 1024;
};

// A multipart/form-data body (RFC 7578) with the given boundary (already
// unquoted; 1 to 70 bytes, as RFC 2046 says).
//
// The body starts with "--boundary\r\n"; each part runs to the next
// "\r\n--boundary" that is followed by "\r\n" (another part) or by "--" (the
// end: anything after it is ignored). A part is a block of "Name: value"
// header lines (names case-insensitive), an empty line, and the part's body.
// Its Content-Disposition must be `form-data` with a non-empty `name`. With a
// non-empty `filename` the part becomes an HTTPFile in files[name]
// (content_type from its Content-Type, else "application/unknown"); otherwise
// its body is appended to arguments[name]. An empty filename is a field, as
// in Tornado: it is what a browser sends for a file input left empty.
//
// Throws HTTPInputError, saying why, for: a bad boundary, data before the
// first boundary, no final boundary (a truncated body), more than max_parts
// parts, a part without the empty line that ends its headers, a header block
// over max_part_header_size, a malformed or repeated header, a missing or
// non-form-data Content-Disposition, a missing name. Tornado 6.5 raises too
// (earlier versions logged and skipped bad parts): a server that half-reads a
// form is worse than a 400. On a throw `arguments` and `files` are unchanged.
void parse_multipart_form_data(std::string_view boundary, std::string_view body, ArgumentMap& arguments, FileMap& files,
                               const MultipartLimits& limits = {});

// Tornado's parse_body_arguments, by the Content-Type's media type
// (case-insensitive): application/x-www-form-urlencoded -> parse_query_string;
// multipart/form-data -> parse_multipart_form_data with the `boundary`
// parameter (quotes removed; missing or empty: HTTPInputError). Any other
// content type is not a form: nothing is parsed and nothing is thrown.
void parse_body_arguments(std::string_view content_type, std::string_view body, ArgumentMap& arguments, FileMap& files,
                          const MultipartLimits& limits = {});

// Tornado's parse_cookie, lenient like browsers and Django: split on ';',
// each "name=value" chunk trimmed of whitespace; a chunk without '=' is a
// value with the empty name (as Python does); empty chunks are skipped. A
// value in double quotes is unquoted as Python's http.cookies does (\" -> ",
// octal \012 -> newline). A repeated name keeps its last value. Never throws.
std::map<std::string, std::string, std::less<>> parse_cookie(std::string_view header);

struct CookieOptions {
  std::string domain{};                  // empty: none
  std::string path = "/";                // empty: none
  std::optional<std::time_t> expires{};  // "Expires=Sun, 06 Nov 1994 08:49:37 GMT"
  std::optional<long long> max_age{};    // "Max-Age=N"
  bool secure = false;
  bool httponly = false;
  std::string samesite{};  // "", "Strict", "Lax" or "None" (any case)
};

// A Set-Cookie header value: "name=value; Domain=d; Path=/; Expires=...;
// Max-Age=N; Secure; HttpOnly; SameSite=Lax" (attributes that are set only).
// Throws std::invalid_argument naming the field and the byte when: name is
// not a token (RFC 9110 tchar, non-empty); value holds a control character,
// space, '"', ',', ';' or '\\' (whirl never quotes a value, so a value that
// would need quoting is refused rather than altered); domain or path holds
// ';' or a control character (it would end or corrupt the attribute list);
// samesite is anything else.
std::string format_set_cookie(std::string_view name, std::string_view value, const CookieOptions& options = {});

// IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT". Locale-free
// and thread-safe. The format has four year digits, so a time before year 1
// or after year 9999 is clamped to the first or last second of that range.
std::string format_http_date(std::time_t t);
// The same in exactly 29 chars, not NUL-terminated; allocates nothing (the
// server's cached Date header).
void format_http_date(std::time_t t, char (&out)[29]) noexcept;
// An HTTP-date (RFC 9110 5.6.7) as a time: IMF-fixdate, and the obsolete
// RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT", a two-digit year below 70 is
// 20xx) and asctime ("Sun Nov  6 08:49:37 1994") forms a recipient must
// accept. nullopt for anything else (a conditional header with a date that
// does not parse is ignored, as RFC 9110 13.1.3 says).
std::optional<std::time_t> parse_http_date(std::string_view text) noexcept;
// One `Range: bytes=...` request against a representation of `size` bytes
// (RFC 9110 14.1.2, Tornado's _parse_request_range): kIgnored when the
// header is absent, malformed, names another unit or asks for several
// ranges (the whole representation is served then: 200), kUnsatisfiable
// when no byte of it exists (416, `Content-Range: bytes *\/size`), else the
// one range, clamped to the end ("500-" and "-500" included).
struct ByteRange {
  enum class Kind : unsigned char { kIgnored, kSatisfiable, kUnsatisfiable };
  Kind kind = Kind::kIgnored;
  std::uint64_t first = 0;
  std::uint64_t length = 0;
};
ByteRange parse_byte_range(std::string_view range, std::uint64_t size) noexcept;

// Whether an If-Match / If-None-Match value (a list of entity-tags, or `*`)
// names `etag` (itself quoted, as sent: "\"abc\"" or "W/\"abc\""). The
// weak comparison (RFC 9110 8.8.3.2, for If-None-Match) ignores W/ on
// either side; the strong one (If-Match, If-Range) matches only two equal
// strong tags.
bool etag_list_matches(std::string_view list, std::string_view etag, bool weak) noexcept;

// The current time as an IMF-fixdate, formatted at most once a second per
// thread (a Date header for every response at the cost of a time() call).
std::string_view cached_http_date() noexcept;

// RFC 4648 base64 with padding (Authorization: Basic, Sec-WebSocket-Key).
std::string base64_encode(std::string_view data);

}  // namespace whirl
