// whirl/http/request_parser.h: the strict, incremental HTTP/1.1 request-head parser.
//
//     RequestParser parser({.max_header_size = 64 * 1024});
//     RequestStartLine start;
//     HTTPHeaders headers;
//     for (;;) {
//       auto status = parser.parse(stream.peek_buffer(), start, headers);
//       if (status == RequestParser::Status::kComplete) break;
//       if (status == RequestParser::Status::kError) reply(parser.error_status(), parser.error_reason());
//       co_await stream.wait_for_bytes(stream.buffered() + 1);
//     }
//     stream.consume_buffer(parser.head_size());
//     parser.framing();   // kNone, kLength (parser.content_length()) or kChunked
//
// The parser is given everything received so far, head first, each time more
// arrives; it remembers how far it has checked, so a head that trickles in
// byte by byte is still scanned once. Line endings are checked as they
// arrive, so a bare CR or LF fails at once instead of waiting for a blank
// line that may never come. When the blank line is there the head is parsed
// in one pass where it lies: the block is copied once into `headers`, whose
// fields are offsets into that copy.
//
// Strictness (RFC 9110/9112). Anything a second parser could
// read another way is refused, because request smuggling lives in the gap
// between two parsers' readings:
//   - line endings are CRLF only: a bare CR or LF anywhere is 400;
//   - the request line is exactly `method SP target SP HTTP/x.y`; a method
//     that is not a token, a target with a control, space, '#' or non-ASCII
//     byte, a path (before '?') with a backslash or a percent-encoded NUL,
//     CR or LF, a method longer than 32 bytes (400), or a target longer than
//     max_target (414) is refused; HTTP/1.0
//     and 1.1 are served, any other well-formed version gets 505;
//   - a field name is a token followed directly by ':' (whitespace before
//     the colon is 400), a line starting with whitespace (obs-fold) is 400,
//     values may not hold controls other than HTAB; a name that would be
//     Content-Length or Transfer-Encoding with '_' for '-' is 400;
//   - an Expect other than 100-continue is 417;
//   - HTTP/1.1 needs exactly one Host, not empty; 1.0 at most one; an absolute-form
//     target must name the same authority as Host;
//   - Content-Length is 1*DIGIT (no sign, space, comma list or overflow);
//     repeated, the values must agree;
//   - Transfer-Encoding with Content-Length, or in an HTTP/1.0 request, is
//     400; its codings must end in a single chunked (chunked elsewhere is
//     400; any coding we do not implement is 501).
// Limits: the head (request line + fields) is at most max_header_size bytes
// and max_headers fields (431).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "whirl/http/http_headers.h"
#include "whirl/http/httputil.h"

namespace whirl {

enum class BodyFraming : unsigned char { kNone, kLength, kChunked };

class RequestParser {
 public:
  struct Limits {
    std::size_t max_header_size = 64 * 1024;
    std::size_t max_headers = 100;
    std::size_t max_target = 8 * 1024;
  };
  enum class Status : unsigned char { kIncomplete, kComplete, kError };

  RequestParser() = default;
  explicit RequestParser(Limits limits) noexcept : limits_(limits) {}

  // `data` starts where this request's bytes start and holds all of them
  // received so far. On kComplete, `start`, `headers` and the framing are
  // set and head_size() bytes of `data` were the head.
  Status parse(std::string_view data, RequestStartLine& start, HTTPHeaders& headers);

  std::size_t head_size() const noexcept { return head_end_; }
  BodyFraming framing() const noexcept { return framing_; }
  std::uint64_t content_length() const noexcept { return content_length_; }
  // The head carries `Expect: 100-continue` (any other expectation is 417).
  bool expects_continue() const noexcept { return expects_continue_; }
  // A Connection field lists `close` / `keep-alive` (any of them, any case).
  bool connection_close() const noexcept { return connection_close_; }
  bool connection_keep_alive() const noexcept { return connection_keep_alive_; }
  int error_status() const noexcept { return error_status_; }
  std::string_view error_reason() const noexcept { return error_reason_; }
  const Limits& limits() const noexcept { return limits_; }

  // Ready for the next request on the connection.
  void reset() noexcept;

 private:
  Status scan(std::string_view data);
  Status parse_head(std::string_view head, RequestStartLine& start, HTTPHeaders& headers);
  bool parse_request_line(std::string_view line, RequestStartLine& start);
  bool parse_fields(std::string_view head, std::size_t offset, HTTPHeaders& headers);
  void note_field(std::string_view name, std::string_view value) noexcept;
  bool check_host(const RequestStartLine& start);
  bool resolve_target(RequestStartLine& start);
  bool determine_framing(const RequestStartLine& start, const HTTPHeaders& headers);
  bool parse_transfer_encoding(const HTTPHeaders& headers);
  Status fail(int status, const char* reason) noexcept;
  bool reject(int status, const char* reason) noexcept;  // fail(), for the bool steps

  Limits limits_;
  std::size_t scanned_ = 0;     // bytes of data whose line endings were checked
  std::size_t line_start_ = 0;  // start of the line being scanned
  std::size_t head_start_ = 0;  // after the empty lines allowed before a request
  std::size_t head_end_ = 0;
  std::string_view authority_;  // of an absolute-form target, inside `data`
  BodyFraming framing_ = BodyFraming::kNone;
  std::uint64_t content_length_ = 0;
  bool expects_continue_ = false;
  // What the one pass over the fields noted, so that the checks after it
  // and the connection's keep-alive decision search no header list.
  std::size_t host_count_ = 0;
  std::string_view host_;  // the first Host value, inside `data`
  bool saw_length_ = false;
  bool saw_transfer_encoding_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  int error_status_ = 0;
  const char* error_reason_ = "";
};

}  // namespace whirl
