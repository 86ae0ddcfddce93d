// gzip streams (whirl/http/gzip.h): the window sized to a body compressed
// whole loses no match, and every stream round-trips.
#include "whirl/http/gzip.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace whirl {
namespace {

// `size` bytes whose second half repeats the first (random, so only a match
// reaching back size/2 bytes compresses it): a window too small for the
// body shows as a compressed size near `size` instead of near size/2.
std::string self_repeating(std::size_t size) {
  std::mt19937 random(static_cast<unsigned>(size));
  std::string half(size / 2, '\0');
  for (char& c : half) c = static_cast<char>(random());
  return half + half + std::string(size % 2, 'x');
}

// `size` random bytes ending with a repeat of their first 300: the one
// match reaches back size - 300 bytes, nearly the whole body, which is
// where a window sized without zlib's lookahead would miss it.
std::string far_repeat(std::size_t size) {
  std::mt19937 random(static_cast<unsigned>(size) + 1);
  std::string data(size - 300, '\0');
  for (char& c : data) c = static_cast<char>(random());
  return data + data.substr(0, 300);
}

std::string compress_with(const std::string& data, ZlibFormat format) {
  GzipCompressor compressor(6, format);
  std::string out;
  compressor.compress(data, out);
  compressor.finish(out);
  return out;
}

TEST(ZlibFormat, GzipForShrinksTheWindowWhileTheBodyStillFits) {
  EXPECT_EQ(ZlibFormat::gzip_for(1000).window_bits, 11);  // 1000 + 262 <= 2^11
  EXPECT_EQ(ZlibFormat::gzip_for(1000).mem_level, 4);
  EXPECT_FALSE(ZlibFormat::gzip_for(1000).raw);
  EXPECT_EQ(ZlibFormat::gzip_for(0).window_bits, 9);  // zlib's smallest window for deflate
  EXPECT_EQ(ZlibFormat::gzip_for(0).mem_level, 2);
  EXPECT_EQ(ZlibFormat::gzip_for(16384 - 262).window_bits, 14);
  EXPECT_EQ(ZlibFormat::gzip_for(16384 - 261).window_bits, 15);
  EXPECT_EQ(ZlibFormat::gzip_for(std::uint64_t{1} << 40).window_bits, 15);
  EXPECT_EQ(ZlibFormat::gzip_for(std::uint64_t{1} << 40).mem_level, 8);
}

TEST(ZlibFormat, ABodyCompressedInItsSizedWindowLosesNoMatch) {
  for (int bits = 9; bits <= 16; ++bits) {
    for (long delta : {-263L, -262L, -261L, 0L, 1L}) {
      auto size = static_cast<std::size_t>((1L << bits) + delta);
      std::string data = self_repeating(size);
      std::string sized = compress_with(data, ZlibFormat::gzip_for(size));
      std::string full = compress_with(data, ZlibFormat{});
      EXPECT_EQ(gzip_decompress(sized, size), data) << size;
      // No worse than the full window; and where even that reaches back
      // size/2 (2^15 less the lookahead), the second half is found.
      EXPECT_LE(sized.size(), full.size() + full.size() / 50 + 8) << size;
      if (size / 2 + 262 <= 32768) {
        EXPECT_LT(sized.size(), size * 3 / 4 + 64) << size;
      }
    }
  }
}

TEST(ZlibFormat, AMatchReachingBackNearlyTheWholeBodyIsStillFound) {
  for (int bits = 10; bits <= 15; ++bits) {
    for (long delta : {-300L, -263L, -262L, -261L, 0L}) {
      auto size = static_cast<std::size_t>((1L << bits) + delta);
      std::string data = far_repeat(size);
      std::string sized = compress_with(data, ZlibFormat::gzip_for(size));
      EXPECT_EQ(gzip_decompress(sized, size), data) << size;
      // The 300 repeated bytes are one match (a few bytes), not 300 literals.
      EXPECT_LE(sized.size(), compress_with(data, ZlibFormat{}).size() + 16) << size;
      EXPECT_LT(sized.size(), size - 200) << size;
    }
  }
}

TEST(GzipCompressor, ManySmallPiecesAndOneLargeOneRoundTrip) {
  std::string data = self_repeating(200000);
  GzipCompressor compressor;
  std::string out;
  for (std::size_t at = 0; at < data.size(); at += 777) compressor.compress(data.substr(at, 777), out, at % 7 == 0);
  compressor.finish(out);
  EXPECT_EQ(gzip_decompress(out, data.size()), data);
  EXPECT_EQ(gzip_decompress(gzip_compress(data), data.size()), data);
}

TEST(GzipCompressor, ABodyGivenWholeToFinishRoundTripsFromEmptyToLarge) {
  for (std::size_t size : {0UL, 1UL, 1219UL, 16384UL, 300000UL}) {
    std::string data = self_repeating(size);
    GzipCompressor compressor(6, ZlibFormat::gzip_for(size));
    std::string out = "kept";  // finish appends
    compressor.finish(data, out);
    ASSERT_EQ(out.substr(0, 4), "kept");
    EXPECT_EQ(gzip_decompress(out.substr(4), size), data) << size;
  }
}

}  // namespace
}  // namespace whirl
