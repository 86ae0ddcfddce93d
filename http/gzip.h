// whirl/http/gzip.h: gzip streams over zlib, for request bodies and responses.
//
//     GzipDecompressor in(/*max_output=*/max_body_size, /*piece_size=*/chunk_size);
//     in.feed(compressed_piece);           // stays valid until the pieces are taken
//     for (auto plain = in.next_piece(); !plain.empty(); plain = in.next_piece()) co_await use(plain);
//     in.finish();                         // throws if the stream was cut short
//
//     GzipCompressor out;
//     std::string wire;
//     out.compress(body_piece, wire);   // appends compressed bytes
//     out.finish(wire);                 // the gzip trailer
//
// Decompression is bounded: a small body that inflates past `max_output`
// (a "zip bomb") throws GzipLimitError before the output is produced, so
// max_body_size holds for the decompressed size. Corrupt input throws
// GzipError. Output is handed over in pieces of at most `piece_size` bytes.
//
// With ZlibFormat::raw_deflate(bits) the same two classes speak raw DEFLATE
// (RFC 1951, no gzip wrapper) with a 2^bits window, which is what
// permessage-deflate (RFC 7692, websocket_deflate.h) puts in a message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

// zlib's stream state, kept out of this header (zlib.h stays an implementation detail).
struct z_stream_s;

namespace whirl {

class GzipError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class GzipLimitError : public GzipError {
 public:
  using GzipError::GzipError;
};

// The stream's format: gzip by default (HTTP's Content-Encoding).
struct ZlibFormat {
  bool raw = false;      // raw DEFLATE: no header, no trailer
  int window_bits = 15;  // 9..15 to compress, 8..15 to decompress
  int mem_level = 8;     // the compressor's memory, 1..9 (zlib's default 8)

  static ZlibFormat raw_deflate(int window_bits, int mem_level = 8) noexcept { return {true, window_bits, mem_level}; }

  // gzip sized for an input of `size` bytes compressed whole (a response
  // body known at once): the window shrinks, by halves down to 512 bytes,
  // while the input still fits in what the smaller window can reach, and
  // the memory level follows it down. zlib can look back at most the
  // window less its 262-byte lookahead (MIN_LOOKAHEAD), so no match the
  // full window would find is lost; what is saved is setting up zlib's
  // state: about 270 KiB at the defaults (above malloc's mmap threshold,
  // so an mmap, a munmap and their page faults per response) against
  // about 10 KiB for a 1 KiB JSON body. nginx's gzip filter sizes its
  // state by Content-Length the same way.
  static ZlibFormat gzip_for(std::uint64_t size) noexcept;
};

class GzipDecompressor {
 public:
  explicit GzipDecompressor(std::uint64_t max_output, std::size_t piece_size = 64 * 1024, ZlibFormat format = {});
  ~GzipDecompressor();
  GzipDecompressor(const GzipDecompressor&) = delete;
  GzipDecompressor& operator=(const GzipDecompressor&) = delete;

  // The next compressed input; `input` must outlive the next_piece() calls.
  void feed(std::string_view input) noexcept;
  // Up to piece_size inflated bytes (valid until the next call); empty once
  // the fed input is used up.
  std::string_view next_piece();
  // feed + next_piece until done, calling `sink` with each piece.
  void decompress(std::string_view input, const std::function<void(std::string_view)>& sink);
  // Throws GzipError unless the gzip stream ended properly.
  void finish() const;
  // The stream's last block came (a raw stream ignores what follows it).
  bool ended() const noexcept { return ended_; }
  std::uint64_t total_out() const noexcept { return total_out_; }
  // From now on, at most `max_output` more bytes (one message's limit).
  void set_limit(std::uint64_t max_output) noexcept { max_output_ = total_out_ + max_output; }
  // Forgets the stream so far (its window too): the next input starts anew.
  void reset();

 private:
  std::unique_ptr<z_stream_s> stream_;
  std::string piece_;
  std::uint64_t max_output_;
  std::uint64_t total_out_ = 0;
  bool raw_;
  bool ended_ = false;
};

class GzipCompressor {
 public:
  explicit GzipCompressor(int level = 6, ZlibFormat format = {});
  ~GzipCompressor();
  GzipCompressor(const GzipCompressor&) = delete;
  GzipCompressor& operator=(const GzipCompressor&) = delete;

  // Appends the compressed form of `input` to `out`; with `flush`, everything
  // so far becomes decodable (Z_SYNC_FLUSH, for streamed responses).
  void compress(std::string_view input, std::string& out, bool flush = false);
  void finish(std::string& out);
  // compress(last) and finish in one pass: for a body given whole.
  void finish(std::string_view last, std::string& out);
  // Forgets the stream so far (its window too).
  void reset();

 private:
  void run(std::string_view input, std::string& out, int mode);
  std::unique_ptr<z_stream_s> stream_;
};

// One-shot helpers (tests, small bodies).
std::string gzip_compress(std::string_view data, int level = 6);
std::string gzip_decompress(std::string_view data, std::uint64_t max_output);

}  // namespace whirl
