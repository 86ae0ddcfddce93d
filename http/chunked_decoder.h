// whirl/http/chunked_decoder.h: the strict, incremental chunked-body decoder.
//
//     ChunkedDecoder decoder;
//     for (;;) {
//       std::size_t used = 0;
//       std::string_view data;
//       auto result = decoder.decode(stream.peek_buffer(), used, data);
//       deliver(data);                     // body bytes inside the buffer
//       stream.consume_buffer(used);
//       if (result == ChunkedDecoder::Result::kDone) break;
//       if (result == ChunkedDecoder::Result::kError) reject(400, decoder.error_reason());
//       if (result == ChunkedDecoder::Result::kNeedMore) co_await stream.wait_for_bytes(stream.buffered() + 1);
//     }
//
// decode() reads from the start of what it is given and returns after at
// most one run of body bytes, which it points at where they lie (no copy).
// The grammar is RFC 9112 7.1 with no optional whitespace anywhere:
//   chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size = 1*16HEXDIG        (no sign, no 0x, no space, no overflow)
//   chunk-ext  = *( ";" token [ "=" ( token / quoted-string ) ] )
//   last-chunk = 1*("0") [ chunk-ext ] CRLF, then trailer fields, CRLF
// Whitespace around ';' and '=' is legal (BWS) but is exactly where parsers
// have disagreed about where a chunk ends, so it is refused. Trailer fields
// are checked like header fields, bounded, and dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace whirl {

class ChunkedDecoder {
 public:
  struct Limits {
    std::size_t max_line = 4096;  // a chunk-size line with its extensions
    std::size_t max_trailer_size = 64 * 1024;
    std::size_t max_trailers = 100;
  };
  enum class Result : unsigned char { kData, kNeedMore, kDone, kError };

  ChunkedDecoder() = default;
  explicit ChunkedDecoder(Limits limits) noexcept : limits_(limits) {}

  // Decodes from the start of `in`. `consumed` is how many bytes of `in`
  // were used (framing and data). kData: `data` holds body bytes (the tail
  // of the consumed part). kNeedMore: the rest of `in` is an incomplete
  // element. kDone: the body and its trailers ended (bytes after the
  // consumed part belong to the next message).
  Result decode(std::string_view in, std::size_t& consumed, std::string_view& data);

  std::string_view error_reason() const noexcept { return error_reason_; }
  void reset() noexcept { *this = ChunkedDecoder(limits_); }

 private:
  enum class State : unsigned char { kSize, kData, kDataEnd, kTrailer, kDone, kError };

  Result step(std::string_view in, std::size_t& pos, std::string_view& data);
  Result read_size_line(std::string_view in, std::size_t& pos);
  Result read_trailer_line(std::string_view in, std::size_t& pos);
  // Finds the CRLF ending the line at `pos`; npos if incomplete. A bare CR
  // or LF before it fails the decoder.
  std::size_t find_line_end(std::string_view in, std::size_t pos, std::size_t max);
  Result fail(const char* reason) noexcept;

  Limits limits_;
  State state_ = State::kSize;
  std::uint64_t remaining_ = 0;
  std::size_t trailer_bytes_ = 0;
  std::size_t trailers_ = 0;
  const char* error_reason_ = "";
};

}  // namespace whirl
