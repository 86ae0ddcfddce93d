// tests/fuzz/request_parser_fuzz.cc: libFuzzer target for RequestParser.
//
// Each input is parsed whole and again fed in growing prefixes (the way
// bytes trickle in from a socket); both must reach the same verdict, and a
// completed head must satisfy the framing invariants the server relies on:
//   - head_size() lies within the input and ends in CRLF CRLF;
//   - kLength only with a Content-Length header, kChunked only with
//     Transfer-Encoding and never both;
//   - no completed head carries a name that is a framing header with '_'
//     for '-', or a path (before '?') with a backslash;
//   - an error status is one of 400, 414, 417, 431, 501, 505.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "whirl/http/request_parser.h"

namespace {

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

using whirl::RequestParser;

RequestParser::Status parse_whole(std::string_view in, RequestParser& parser, whirl::RequestStartLine& start,
                                      whirl::HTTPHeaders& headers) {
  return parser.parse(in, start, headers);
}

RequestParser::Status parse_trickled(std::string_view in, RequestParser& parser) {
  whirl::RequestStartLine start;
  whirl::HTTPHeaders headers;
  auto status = RequestParser::Status::kIncomplete;
  // Prefixes growing by 1, 2, 3 ... bytes, then the whole input.
  std::size_t size = 0;
  for (std::size_t step = 1; size < in.size() && status == RequestParser::Status::kIncomplete; ++step) {
    size = std::min(in.size(), size + step);
    status = parser.parse(in.substr(0, size), start, headers);
  }
  return status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  RequestParser::Limits limits{.max_header_size = 4096, .max_headers = 32, .max_target = 1024};
  RequestParser whole(limits);
  RequestParser trickled(limits);
  whirl::RequestStartLine start;
  whirl::HTTPHeaders headers;
  auto a = parse_whole(in, whole, start, headers);
  auto b = parse_trickled(in, trickled);
  check(a == b || b == RequestParser::Status::kError);  // a prefix may fail earlier (414)
  if (a == RequestParser::Status::kComplete && b == a) {
    check(whole.head_size() == trickled.head_size());
    check(whole.head_size() <= in.size() && whole.head_size() >= 4);
    check(in.substr(whole.head_size() - 4, 4) == "\r\n\r\n");
    bool has_length = headers.contains("Content-Length");
    bool has_te = headers.contains("Transfer-Encoding");
    check(!(has_length && has_te));
    if (whole.framing() == whirl::BodyFraming::kLength) check(has_length);
    if (whole.framing() == whirl::BodyFraming::kChunked) check(has_te);
    std::string_view path = start.path;
    check(path.substr(0, path.find('?')).find('\\') == std::string_view::npos);
    for (auto [name, value] : headers) {
      check(!whirl::iequals(name, "Content_Length") && !whirl::iequals(name, "Transfer_Encoding"));
    }
  }
  if (a == RequestParser::Status::kError) {
    int s = whole.error_status();
    check(s == 400 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505);
  }
  return 0;
}
