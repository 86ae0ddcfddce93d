// bench/repeating_response_parser.h: ResponseParser for a load generator,
// which frames a server's repeated answers without parsing them again.
//
//     RepeatingResponseParser parser;
//     parser.start(/*head_request=*/false);
//     std::size_t used = 0;
//     std::size_t n = parser.parse_repeats(in, /*max=*/16, used);   // a run of repeats,
//     if (n == 0) result = parser.parse(in, used);                 // else parse as usual
//
// A server answers a stream of requests with heads that are mostly the same
// bytes (until its Date header ticks). The last head that parsed cleanly is
// kept with the state parsing it left (ResponseParser::HeadState); a head
// whose bytes equal it is neither parsed nor framed again, at the cost of
// one memcmp. Sound because the kept bytes end with the head's empty line
// (input that starts with them has exactly that head), and the state is
// reused only for the same kind of request (a response to HEAD has no body
// whatever its head says). Benchmark-only: a client of one response at a
// time gains nothing from it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "whirl/http/response_parser.h"

namespace bench {

class RepeatingResponseParser final : public whirl::ResponseParser {
 public:
  using ResponseParser::ResponseParser;

  // The pipelined steady state: frames up to `max` responses in a row at
  // the front of `in` while each repeats the last cleanly parsed head byte
  // for byte and that head gives a fixed-length or empty body and keeps the
  // connection open. Call it where parse() would start a response (after
  // start()). All of the run answer the kind of request start() was given
  // (HEAD or not), so `max` must not reach past a change of kind. Returns
  // how many it framed and sets `consumed` to their bytes; the parser is
  // then where start() and parse() of the last of them would have left it
  // (kDone: code(), body_bytes() and the rest describe that response). 0
  // when the first is no such repeat: parse() it.
  std::size_t parse_repeats(std::string_view in, std::size_t max, std::size_t& consumed) noexcept;

 private:
  static constexpr std::size_t kMaxRememberedHead = 512;

  bool take_known_head(std::string_view in, std::size_t& consumed) override;
  void head_parsed(std::string_view head) override;
  bool knows(std::string_view in) const noexcept;

  std::string remembered_head_;  // capacity kept: no allocation per response
  HeadState remembered_;
};

}  // namespace bench
