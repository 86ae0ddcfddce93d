#include "whirl/http/gzip.h"

#include <zlib.h>

#include <algorithm>

namespace whirl {

namespace {
// zlib's windowBits: negative selects raw DEFLATE, +16 the gzip wrapper.
int zlib_window_bits(const ZlibFormat& format) noexcept {
  return format.raw ? -format.window_bits : format.window_bits + 16;
}
constexpr std::size_t kOutChunk = 16 * 1024;
}  // namespace

ZlibFormat ZlibFormat::gzip_for(std::uint64_t size) noexcept {
  constexpr std::uint64_t kLookahead = 262;  // zlib's MIN_LOOKAHEAD: the window's part it cannot match into
  ZlibFormat format;
  while (format.window_bits > 9 && size + kLookahead <= (std::uint64_t{1} << (format.window_bits - 1))) {
    --format.window_bits;
    format.mem_level = std::max(1, format.mem_level - 1);
  }
  return format;
}

GzipDecompressor::GzipDecompressor(std::uint64_t max_output, std::size_t piece_size, ZlibFormat format)
    : stream_(std::make_unique<z_stream>()), max_output_(max_output), raw_(format.raw) {
  if (inflateInit2(stream_.get(), zlib_window_bits(format)) != Z_OK) throw GzipError("inflateInit2 failed");
  piece_.resize(std::max<std::size_t>(piece_size, 1));
}

GzipDecompressor::~GzipDecompressor() { inflateEnd(stream_.get()); }

void GzipDecompressor::feed(std::string_view input) noexcept {
  stream_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  stream_->avail_in = static_cast<uInt>(input.size());
}

std::string_view GzipDecompressor::next_piece() {
  if (stream_->avail_in == 0) return {};
  // Bytes after the end of the gzip member are not part of any body we read.
  if (ended_) throw GzipError("trailing data after the gzip stream");
  stream_->next_out = reinterpret_cast<Bytef*>(piece_.data());
  stream_->avail_out = static_cast<uInt>(piece_.size());
  int status = inflate(stream_.get(), Z_NO_FLUSH);
  if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) {
    throw GzipError(stream_->msg != nullptr ? stream_->msg : "invalid gzip data");
  }
  std::size_t produced = piece_.size() - stream_->avail_out;
  total_out_ += produced;
  // Checked before the piece is passed on: nothing beyond the limit is ever delivered.
  if (total_out_ > max_output_) throw GzipLimitError("decompressed body exceeds the limit");
  if (status == Z_STREAM_END) {
    ended_ = true;
    // A raw stream's final block may be followed by permessage-deflate's
    // flush marker (RFC 7692 §7.2.3.1 lets a sender end a message so).
    if (raw_) stream_->avail_in = 0;
    if (stream_->avail_in > 0 && produced == 0) throw GzipError("trailing data after the gzip stream");
  }
  if (produced == 0 && status == Z_BUF_ERROR) stream_->avail_in = 0;  // cannot progress: wants more input
  if (produced == 0 && stream_->avail_in > 0) return next_piece();    // header bytes only
  return std::string_view(piece_.data(), produced);
}

void GzipDecompressor::decompress(std::string_view input, const std::function<void(std::string_view)>& sink) {
  feed(input);
  for (std::string_view piece = next_piece(); !piece.empty(); piece = next_piece()) sink(piece);
}

void GzipDecompressor::reset() {
  if (inflateReset(stream_.get()) != Z_OK) throw GzipError("inflateReset failed");
  ended_ = false;
}

void GzipDecompressor::finish() const {
  if (!ended_) throw GzipError("truncated gzip stream");
}

GzipCompressor::GzipCompressor(int level, ZlibFormat format) : stream_(std::make_unique<z_stream>()) {
  if (deflateInit2(stream_.get(), level, Z_DEFLATED, zlib_window_bits(format), format.mem_level, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw GzipError("deflateInit2 failed");
  }
}

GzipCompressor::~GzipCompressor() { deflateEnd(stream_.get()); }

void GzipCompressor::run(std::string_view input, std::string& out, int mode) {
  stream_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  stream_->avail_in = static_cast<uInt>(input.size());
  // Room for what this input can become (deflateBound, plus a flush's few
  // bytes), doubling when zlib has more (input it held back earlier), at
  // most kOutChunk a pass: a 1 KiB body compressed whole fills one exact
  // pass instead of zeroing 16 KiB of string.
  std::size_t room = std::min<std::size_t>(kOutChunk, deflateBound(stream_.get(), stream_->avail_in) + 64);
  for (;;) {
    std::size_t old_size = out.size();
    out.resize(old_size + room);
    stream_->next_out = reinterpret_cast<Bytef*>(out.data() + old_size);
    stream_->avail_out = static_cast<uInt>(room);
    int status = deflate(stream_.get(), mode);
    out.resize(old_size + room - stream_->avail_out);
    room = std::min(kOutChunk, 2 * room);
    if (status == Z_STREAM_ERROR) throw GzipError("deflate failed");
    if (status == Z_STREAM_END) return;
    if (stream_->avail_out != 0 && stream_->avail_in == 0) return;  // all input taken and flushed
  }
}

void GzipCompressor::compress(std::string_view input, std::string& out, bool flush) {
  run(input, out, flush ? Z_SYNC_FLUSH : Z_NO_FLUSH);
}

void GzipCompressor::finish(std::string& out) { run({}, out, Z_FINISH); }

void GzipCompressor::finish(std::string_view last, std::string& out) { run(last, out, Z_FINISH); }

void GzipCompressor::reset() {
  if (deflateReset(stream_.get()) != Z_OK) throw GzipError("deflateReset failed");
}

std::string gzip_compress(std::string_view data, int level) {
  GzipCompressor compressor(level, ZlibFormat::gzip_for(data.size()));
  std::string out;
  compressor.finish(data, out);
  return out;
}

std::string gzip_decompress(std::string_view data, std::uint64_t max_output) {
  GzipDecompressor decompressor(max_output);
  std::string out;
  decompressor.decompress(data, [&](std::string_view piece) { out.append(piece); });
  decompressor.finish();
  return out;
}

}  // namespace whirl
