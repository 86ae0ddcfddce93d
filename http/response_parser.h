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
//
// A reader that keeps the response (the HTTP client, httpclient.h)
// subclasses it: head_parsed() hands over each head, which split_head()
// turns into the status line and HTTPHeaders, and body_received() each run
// of body bytes where it lies (chunk framing removed). A subclass may also
// skip parsing heads it recognizes (take_known_head): the load generator's
// RepeatingResponseParser (bench/) frames a server's identical pipelined
// answers a run at a time that way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "whirl/http/chunked_decoder.h"

namespace whirl {

class HTTPHeaders;

class ResponseParser {
 public:
  struct Limits {
    std::size_t max_head_size = 64 * 1024;
    std::size_t max_headers = 100;
  };
  enum class Result : unsigned char { kNeedMore, kDone, kError };

  ResponseParser() = default;
  explicit ResponseParser(Limits limits) noexcept : limits_(limits) {}
  ResponseParser(const ResponseParser&) = default;
  ResponseParser& operator=(const ResponseParser&) = default;
  virtual ~ResponseParser() = default;

  // Readies the parser for the next response; a response to HEAD has no body
  // whatever its headers say.
  void start(bool head_request) noexcept;
  // Parses from the start of `in`; `consumed` bytes of it belong to this
  // response (consume them, even on kNeedMore: body bytes are skipped as they
  // come). kDone: the response ended; bytes after `consumed` are the next one.
  Result parse(std::string_view in, std::size_t& consumed);
  // The peer closed: a body delimited by the close ends here (kDone);
  // anything else is a truncated response (kError).
  Result finish_at_close() noexcept;

  int code() const noexcept { return head_.code; }
  // HTTP/1.1 without `Connection: close`, and not delimited by the close.
  bool keep_alive() const noexcept { return keep_alive_; }
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  std::size_t head_bytes() const noexcept { return head_bytes_; }
  const char* error_reason() const noexcept { return error_reason_; }

  // A head that parse() accepted (as head_parsed() receives it) split into
  // its status line, returned, and its fields, which replace `headers`.
  // Only for such a head: the grammar is not checked again.
  static std::string_view split_head(std::string_view head, HTTPHeaders& headers);

 private:
  enum class State : unsigned char { kHead, kFixed, kChunked, kUntilClose, kDone, kError };

  // What a head says about framing: everything choose_framing() reads.
  struct HeadFacts {
    int code = 0;
    bool http11 = false;
    bool has_length = false;
    bool chunked_coding = false;
    bool has_transfer_encoding = false;
    bool connection_close = false;
    std::uint64_t content_length = 0;
  };

 public:
  // What parsing one head left behind: its facts and the framing chosen for
  // it. A reader that recognizes a head it has seen before (a load
  // generator, whose server repeats the same head byte for byte) restores
  // the state instead of parsing again: see take_known_head.
  class HeadState {
   public:
    // The response leaves the connection open at an end its head gives (a
    // fixed-length or empty body): one like it may follow.
    bool repeatable() const noexcept { return keep_alive_ && (state_ == State::kFixed || state_ == State::kDone); }
    // The body's length, for a repeatable response.
    std::uint64_t body_length() const noexcept { return state_ == State::kFixed ? remaining_ : 0; }
    bool for_head_request() const noexcept { return head_request_; }

   private:
    friend class ResponseParser;
    HeadFacts facts_;
    State state_ = State::kHead;
    bool keep_alive_ = false;
    std::uint64_t remaining_ = 0;
    bool head_request_ = false;
  };

 protected:
  // ---- for subclasses that recognize heads (bench/repeating_response_parser.h) ----

  // Called where a response's head begins in `in`. An override that knows
  // the head `in` starts with sets `consumed` to its size, calls
  // resume_after_head with the state it kept, and returns true; parse()
  // then goes on from the body. The default parses every head.
  virtual bool take_known_head(std::string_view /*in*/, std::size_t& /*consumed*/) { return false; }
  // Called with each head parse() parsed (the bytes up to its empty line),
  // once the framing is chosen: head_state() describes it.
  // Interim (1xx) heads come here too; code() tells them apart. It may throw:
  // parse() lets the exception out and the response is abandoned.
  virtual void head_parsed(std::string_view /*head*/) {}
  // Each run of body bytes as parse() passes it, valid only during the
  // call. It may throw, as head_parsed may.
  virtual void body_received(std::string_view /*data*/) {}
  HeadState head_state() const noexcept;
  // As if parse() had just parsed a head of `head_bytes` with `state`.
  void resume_after_head(const HeadState& state, std::size_t head_bytes) noexcept;
  // As if parse() had just framed a whole repeatable response with `state`:
  // its head of `head_bytes` and its body.
  void complete_response(const HeadState& state, std::size_t head_bytes) noexcept;
  // Where start() left it: nothing of the response parsed yet.
  bool at_response_start() const noexcept { return state_ == State::kHead && head_bytes_ == 0; }
  bool head_request() const noexcept { return head_request_; }

 private:
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
};

}  // namespace whirl
