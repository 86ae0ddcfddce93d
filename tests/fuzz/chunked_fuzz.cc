// tests/fuzz/chunked_fuzz.cc: libFuzzer target for ChunkedDecoder.
//
// The input is decoded twice: whole, and in pieces whose sizes come from the
// input's first byte. Both runs must agree on the verdict and the decoded
// body, consumption never exceeds the input, and the body is never longer
// than the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "whirl/http/chunked_decoder.h"

namespace {

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

using Result = whirl::ChunkedDecoder::Result;

// Feeds `in` in pieces of `step` bytes (0: all at once), as a stream would.
Result decode(std::string_view in, std::size_t step, std::string& body) {
  whirl::ChunkedDecoder decoder({.max_line = 256, .max_trailer_size = 1024, .max_trailers = 8});
  std::string pending;
  std::size_t fed = 0;
  for (;;) {
    std::size_t take = step == 0 ? in.size() - fed : std::min(step, in.size() - fed);
    pending.append(in.substr(fed, take));
    fed += take;
    Result result;
    do {
      std::size_t used = 0;
      std::string_view data;
      result = decoder.decode(pending, used, data);
      check(used <= pending.size());
      body.append(data);
      pending.erase(0, used);
    } while (result == Result::kData);
    if (result != Result::kNeedMore || fed == in.size()) return result;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t step = 1 + data[0] % 7;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string whole_body;
  std::string piece_body;
  Result whole = decode(in, 0, whole_body);
  Result pieces = decode(in, step, piece_body);
  check(whole == pieces);
  check(whole_body == piece_body);
  check(whole_body.size() <= in.size());
  return 0;
}
