// tests/fuzz/response_parser_fuzz.cc: libFuzzer target for ResponseParser
// and the load generator's RepeatingResponseParser over it.
//
// The input's first byte picks how the rest is fed and which responses
// answer HEAD; the rest is a stream of responses on one connection. It is
// framed four ways, as loadgen and a client would:
//
//   1. whole, a new ResponseParser for every response (the reference);
//   2. in pieces of 1-8 bytes, one ResponseParser for the connection;
//   3. whole, one RepeatingResponseParser trying parse_repeats() (runs of a
//      repeated head) first, and reusing remembered heads in parse();
//   4. the same in pieces (a run cut short by the end of what has arrived,
//      loadgen's usual case).
//
// All must frame the same responses (where each ends, its status, head and
// body sizes, keep-alive) and reach the same verdict. No call may consume
// more than it was given.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "bench/repeating_response_parser.h"
#include "whirl/http/response_parser.h"

namespace {

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

using whirl::ResponseParser;
using Result = ResponseParser::Result;

struct Framed {
  std::size_t end = 0;  // offset in the stream just past the response
  int code = 0;
  std::size_t head_bytes = 0;
  std::uint64_t body_bytes = 0;
  bool keep_alive = false;
  bool operator==(const Framed&) const = default;
};

struct Outcome {
  std::vector<Framed> responses;
  Result verdict = Result::kNeedMore;  // of the response that ended the stream
  bool operator==(const Outcome&) const = default;
};

struct Options {
  std::size_t step = 0;  // 0: the whole stream at once
  bool fresh = false;    // a new parser for every response
  std::size_t max_repeats = 1;
  unsigned head_mask = 0;  // response i answers HEAD when bit i % 4 is set

  bool head_request(std::size_t index) const { return ((head_mask >> (index % 4)) & 1U) != 0; }
  // The longest run parse_repeats may frame from response `index` on: all of
  // a run answer the kind of request start() was given (HEAD or not).
  std::size_t run_limit(std::size_t index) const {
    std::size_t n = 1;
    while (n < max_repeats && head_request(index + n) == head_request(index)) ++n;
    return n;
  }
};

constexpr ResponseParser::Limits kLimits{.max_head_size = 1024, .max_headers = 16};

Framed describe(const ResponseParser& parser, std::size_t end) {
  return {end, parser.code(), parser.head_bytes(), parser.body_bytes(), parser.keep_alive()};
}

// One connection's responses, fed as `options` says.
template <typename Parser>
Outcome frame(std::string_view stream, const Options& options) {
  Outcome outcome;
  std::optional<Parser> parser;
  auto start_next = [&] {
    if (!parser || options.fresh) parser.emplace(kLimits);
    parser->start(options.head_request(outcome.responses.size()));
  };
  std::size_t fed = 0;       // bytes of the stream handed over so far
  std::size_t consumed = 0;  // bytes of the stream the parser has taken
  start_next();
  for (;;) {
    std::string_view available = stream.substr(consumed, fed - consumed);
    if constexpr (std::is_same_v<Parser, bench::RepeatingResponseParser>) {
      std::size_t used = 0;
      std::size_t limit = options.run_limit(outcome.responses.size());
      std::size_t count = parser->parse_repeats(available, limit, used);
      check(count <= limit && used <= available.size() && (count == 0) == (used == 0));
      if (count != 0) {
        // Each repeat is as long as the others: the run's bytes split evenly.
        check(used % count == 0);
        for (std::size_t i = 1; i <= count; ++i) {
          outcome.responses.push_back(describe(*parser, consumed + used / count * i));
        }
        consumed += used;
        if (consumed == stream.size()) {  // as parse() below: the stream ended with a response
          outcome.verdict = Result::kDone;
          return outcome;
        }
        start_next();
        continue;
      }
    }
    std::size_t used = 0;
    Result result = parser->parse(available, used);
    check(used <= available.size());
    consumed += used;
    if (result == Result::kNeedMore && fed < stream.size()) {
      std::size_t step = options.step == 0 ? stream.size() : options.step;
      fed += std::min(step, stream.size() - fed);
      continue;
    }
    if (result == Result::kNeedMore) result = parser->finish_at_close();
    if (result == Result::kDone) outcome.responses.push_back(describe(*parser, consumed));
    if (result == Result::kError || !parser->keep_alive() || consumed == stream.size()) {
      outcome.verdict = result;
      return outcome;
    }
    start_next();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  Options reference{.fresh = true, .head_mask = static_cast<unsigned>(data[0] >> 4U)};
  Options pieces{.step = 1 + (data[0] & 7U), .head_mask = reference.head_mask};
  Options repeats{.max_repeats = (data[0] & 8U) != 0 ? 16U : 2U, .head_mask = reference.head_mask};
  Options repeats_in_pieces = repeats;
  repeats_in_pieces.step = pieces.step;
  Outcome expected = frame<ResponseParser>(stream, reference);
  check(frame<ResponseParser>(stream, pieces) == expected);
  check(frame<bench::RepeatingResponseParser>(stream, repeats) == expected);
  check(frame<bench::RepeatingResponseParser>(stream, repeats_in_pieces) == expected);
  return 0;
}
