// whirl/http/response_parser.h: the client side's strict reader of
// HTTP/1.x responses, incremental and zero-copy.
//
//     ResponseParser parser;
//     parser.start(/*head_request=*/false);
//     for (;;) {
//       std::size_t used = 0;
//       auto result = parser.parse(stream.peek_buffer(), used);
//       stream.consume_buffer(used);
//       if (result == ResponseParser::Result::kDone) break;          // parser.code(), keep_alive()
//       if (result == ResponseParser::Result::kError) fail(parser.error_reason());
//       co_await stream.wait_for_bytes(stream.buffered() + 1);      // kNeedMore
//     }
//
// It finds where a response ends, which is what a client (and a load
// generator that must never miscount) needs: the status line, the header
// block, and the body's framing by RFC 9112 section 6.3: no body for HEAD,
// 1xx, 204 and 304; chunked when Transfer-Encoding ends in chunked (the
// chunked grammar is ChunkedDecoder's); otherwise Content-Length; otherwise
// the body runs until the server closes (finish_at_close()). Body bytes are
// counted and skipped, not kept. Interim 1xx responses (100 Continue, 103
// Early Hints) are skipped and the final response is the one reported.
//
// The grammar is as strict as the server's request parser: CRLF line ends
// only, `HTTP/1.x SP 3DIGIT SP [reason]`, token names with the colon right
// after them, no obs-fold, no control bytes in values, Content-Length as
// 1*DIGIT (repeats must agree), and a response carrying both
// Transfer-Encoding and Content-Length is refused. A refused response leaves
// the connection unusable: nothing says where the next response begins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "whirl/http/chunked_decoder.h"

namespace whirl {

class ResponseParser {
 public:
  struct Limits {
    std::size_t max_head_size = 64 * 1024;
    std::size_t max_headers = 100;
  };
  enum class Result : unsigned char { kNeedMore, kDone, kError };

  ResponseParser() = default;
  explicit ResponseParser(Limits limits) noexcept : limits_(limits) {}

  // Readies the parser for the next response; a response to HEAD has no body
  // whatever its headers say.
  void start(bool head_request) noexcept;
  // Parses from the start of `in`; `consumed` bytes of it belong to this
  // response (consume them, even on kNeedMore: body bytes are skipped as they
  // come). kDone: the response ended; bytes after `consumed` are the next one.
  Result parse(std::string_view in, std::size_t& consumed);
  // The pipelined steady state at the cost of one memcmp a response: frames
  // up to `max` responses in a row at the front of `in` while each repeats
  // the last cleanly parsed head byte for byte (see below) and that head
  // gives a fixed-length or empty body and keeps the connection open.
  // Call it where parse() would start a response (after start()). All of
  // the run answer the kind of request start() was given (HEAD or not), so
  // `max` must not reach past a change of kind. Returns how many it framed
  // and sets `consumed` to their bytes; the parser is then where start()
  // and parse() of the last of them would have left it (kDone: code(),
  // body_bytes() and the rest describe that response). 0 when the first is
  // no such repeat: parse() it.
  std::size_t parse_repeats(std::string_view in, std::size_t max, std::size_t& consumed) noexcept;
  // The peer closed: a body delimited by the close ends here (kDone);
  // anything else is a truncated response (kError).
  Result finish_at_close() noexcept;

  int code() const noexcept { return head_.code; }
  // HTTP/1.1 without `Connection: close`, and not delimited by the close.
  bool keep_alive() const noexcept { return keep_alive_; }
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  std::size_t head_bytes() const noexcept { return head_bytes_; }
  const char* error_reason() const noexcept { return error_reason_; }

 private:
  enum class State : unsigned char { kHead, kFixed, kChunked, kUntilClose, kDone, kError };

  // What a head says about framing: everything choose_framing() reads,
  // kept together so that a remembered head is restored in one copy.
  struct HeadFacts {
    int code = 0;
    bool http11 = false;
    bool has_length = false;
    bool chunked_coding = false;
    bool has_transfer_encoding = false;
    bool connection_close = false;
    std::uint64_t content_length = 0;
  };
  // What choose_framing() made of a head: the state it moved to, whether
  // the connection stays open, and the fixed body's length.
  struct Framing {
    State state = State::kHead;
    bool keep_alive = false;
    std::uint64_t remaining = 0;
  };
  // A server answers a stream of requests with heads that are mostly the
  // same bytes (until its Date header ticks). The last head that parsed
  // cleanly is kept with its facts and its framing; a head whose bytes equal
  // it is neither parsed nor framed again. Sound because the kept bytes end
  // with the head's empty line (input that starts with them has exactly
  // that head), and the framing is reused only for the same kind of request
  // (a response to HEAD has no body whatever its head says).
  static constexpr std::size_t kMaxRememberedHead = 512;
  bool take_remembered_head(std::string_view in, std::size_t& consumed) noexcept;
  void remember_head(std::string_view head);

  Result parse_head(std::string_view in, std::size_t& consumed);
  bool parse_status_line(std::string_view line);
  bool parse_field(std::string_view line);
  void choose_framing();
  Result fail(const char* reason) noexcept;

  Limits limits_;
  ChunkedDecoder chunked_;
  State state_ = State::kHead;
  bool head_request_ = false;
  HeadFacts head_;
  bool keep_alive_ = false;
  std::size_t fields_ = 0;
  std::uint64_t remaining_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::size_t head_bytes_ = 0;
  const char* error_reason_ = "";
  std::string remembered_head_;  // capacity kept: no allocation per response
  HeadFacts remembered_facts_;
  Framing remembered_framing_;
  bool remembered_for_head_request_ = false;
};

}  // namespace whirl
