// tests/fuzz/http_client_fuzz.cc: libFuzzer target for what AsyncHTTPClient
// runs over a server's bytes: ResponseReader (the strict ResponseParser
// keeping the head as HTTPHeaders and the body, gzip-decoded and bounded by
// max_body_size), fed in pieces as ClientExchange feeds it; and URL::parse
// and resolve_url over the same bytes, as a redirect's Location.
//
// The first byte picks the piece size, HEAD or not, decoding or not, and
// whether the body streams to a callback. Invariants:
// - the reader frames the first response as a fresh ResponseParser given it
//   whole does: the same verdict, code and (undecoded) body size, unless it
//   threw HTTPClientError for a reason the parser does not know (the body's
//   size limit, a bad gzip stream);
// - a body, decoded or not, streamed or not, never passes max_body_size;
// - every header split from an accepted head is a token name and a value
//   with no CR, LF or NUL and no surrounding whitespace;
// - a URL that parses prints as one that parses to the same parts; a
//   resolved reference that parses has a target starting with '/' and no
//   "/../" segment left.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "whirl/http/client_exchange.h"
#include "whirl/http/httpclient.h"
#include "whirl/http/url.h"

namespace {

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

using whirl::ResponseParser;
using Result = ResponseParser::Result;

constexpr std::uint64_t kMaxBody = 16 * 1024;

bool clean_value(std::string_view value) {
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return value.empty() ||
         (value.front() != ' ' && value.front() != '\t' && value.back() != ' ' && value.back() != '\t');
}

struct Reference {
  Result verdict = Result::kNeedMore;
  int code = 0;
  std::uint64_t body_bytes = 0;
};

Reference frame_whole(std::string_view stream, bool head_request) {
  ResponseParser parser;
  parser.start(head_request);
  std::size_t used = 0;
  Reference reference;
  reference.verdict = parser.parse(stream, used);
  if (reference.verdict == Result::kNeedMore) reference.verdict = parser.finish_at_close();
  reference.code = parser.code();
  reference.body_bytes = parser.body_bytes();
  return reference;
}

void fuzz_reader(std::string_view stream, std::uint8_t mode) {
  bool head_request = (mode & 1U) != 0;
  bool decompress = (mode & 2U) != 0;
  bool streaming = (mode & 4U) != 0;
  std::size_t step = 1 + (mode >> 3U);
  whirl::detail::ResponseHandling handling;
  handling.max_body_size = kMaxBody;
  handling.max_header_size = 4096;
  handling.decompress = decompress;
  std::uint64_t streamed = 0;
  std::function<void(std::string_view)> callback = [&](std::string_view piece) { streamed += piece.size(); };
  if (streaming) handling.streaming_callback = &callback;
  whirl::detail::ReceivedResponse received;
  whirl::detail::ResponseReader reader(handling, received);
  reader.start(head_request);

  Result verdict = Result::kNeedMore;
  bool threw = false;
  try {
    std::size_t consumed = 0;
    std::size_t fed = 0;
    for (;;) {
      std::size_t used = 0;
      std::string_view available = stream.substr(consumed, fed - consumed);
      verdict = reader.parse(available, used);
      check(used <= available.size());
      consumed += used;
      if (verdict != Result::kNeedMore) break;
      if (fed == stream.size()) {
        verdict = reader.finish_at_close();
        break;
      }
      fed += std::min(step, stream.size() - fed);
    }
    if (verdict == Result::kDone) reader.finish_body();
  } catch (const whirl::HTTPClientError&) {
    threw = true;  // too large, or bad gzip: the reference cannot tell
  }
  Reference reference = frame_whole(stream, head_request);
  if (!threw) {
    check(verdict == reference.verdict);
    if (verdict == Result::kDone) {
      check(received.code == reference.code);
      bool decoded = received.headers.contains("X-Consumed-Content-Encoding");
      std::uint64_t body = streaming ? streamed : received.body.size();
      if (!decoded) check(body == reference.body_bytes);
      check(body <= kMaxBody);
    }
  }
  if (streaming) check(received.body.empty());
  check(streamed <= kMaxBody && received.body.size() <= kMaxBody);
  for (auto [name, value] : received.headers) {
    check(!name.empty() && whirl::HTTPHeaders::is_token(name));
    check(clean_value(value));
  }
}

void fuzz_url(std::string_view text) {
  try {
    whirl::URL url = whirl::URL::parse(text);
    whirl::URL again = whirl::URL::parse(url.str());
    check(again.scheme == url.scheme && again.host == url.host && again.port == url.port &&
          again.target == url.target && again.authority == url.authority);
    check(!url.target.empty() && url.target.front() == '/');
  } catch (const std::invalid_argument&) {
  }
  try {
    std::string resolved = whirl::resolve_url("http://example.com/a/b/c?q", text);
    whirl::URL url = whirl::URL::parse(resolved);
    check(url.target.front() == '/');
    std::string_view path = std::string_view(url.target).substr(0, url.target.find('?'));
    check(path.find("/../") == std::string_view::npos && !path.ends_with("/.."));
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz_reader(stream, data[0]);
  fuzz_url(stream.substr(0, 2048));
  return 0;
}
