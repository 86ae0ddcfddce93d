// The eight-bytes-at-once tests (whirl/http/byte_scan.h) answer exactly
// what a byte loop answers, for words built to provoke their borrows.
#include "whirl/http/byte_scan.h"

#include <gtest/gtest.h>

#include <random>

namespace whirl {
namespace {

std::uint64_t word_of(const unsigned char (&bytes)[8]) { return byte_scan::load64(bytes); }

bool loop_has_byte(const unsigned char (&bytes)[8], unsigned char c) {
  for (unsigned char b : bytes) {
    if (b == c) return true;
  }
  return false;
}

bool loop_has_below(const unsigned char (&bytes)[8], unsigned char n) {
  for (unsigned char b : bytes) {
    if (b < n) return true;
  }
  return false;
}

bool loop_has_high(const unsigned char (&bytes)[8]) {
  for (unsigned char b : bytes) {
    if (b >= 0x80) return true;
  }
  return false;
}

void expect_like_the_loop(const unsigned char (&bytes)[8]) {
  std::uint64_t word = word_of(bytes);
  for (int c : {0, int{'\r'}, int{'\n'}, int{'"'}, int{'\\'}, int{'<'}, 0x7f, 0x80, 0xff, 0x01}) {
    auto byte = static_cast<unsigned char>(c);
    ASSERT_EQ(byte_scan::has_byte(word, byte), loop_has_byte(bytes, byte)) << std::hex << word << " byte " << c;
  }
  for (int n : {1, 0x20, 0x21, 0x7f, 0x80}) {
    auto limit = static_cast<unsigned char>(n);
    ASSERT_EQ(byte_scan::has_byte_below(word, limit), loop_has_below(bytes, limit))
        << std::hex << word << " below " << n;
  }
  ASSERT_EQ(byte_scan::has_zero(word), loop_has_byte(bytes, 0)) << std::hex << word;
  ASSERT_EQ(byte_scan::has_high_bit(word), loop_has_high(bytes)) << std::hex << word;
}

TEST(ByteScan, EveryByteValueAtEveryPositionIsAnsweredAsAByteLoopAnswers) {
  for (int position = 0; position < 8; ++position) {
    for (int value = 0; value < 256; ++value) {
      unsigned char bytes[8] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
      bytes[position] = static_cast<unsigned char>(value);
      expect_like_the_loop(bytes);
    }
  }
}

TEST(ByteScan, WordsMadeOfTheBorderValuesAreAnsweredAsAByteLoopAnswers) {
  // Bytes next to the values the tests look for, where a borrow from one
  // byte into the next could make a false yes.
  const unsigned char borders[] = {0x00, 0x01, 0x02, 0x0c, 0x0d, 0x0e, 0x1f, 0x20, 0x21,
                                   0x5c, 0x7e, 0x7f, 0x80, 0x81, 0x8d, 0xa0, 0xfe, 0xff};
  std::mt19937 random(3);
  for (int i = 0; i < 200000; ++i) {
    unsigned char bytes[8];
    for (unsigned char& b : bytes) b = borders[random() % sizeof borders];
    expect_like_the_loop(bytes);
  }
}

TEST(ByteScan, Load64ReadsAnyAlignment) {
  const unsigned char data[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  for (int offset = 0; offset < 8; ++offset) {
    std::uint64_t word = byte_scan::load64(data + offset);
    EXPECT_EQ(word & 0xff, static_cast<std::uint64_t>(offset + 1));  // little-endian, as the x86-64 build is
  }
}

}  // namespace
}  // namespace whirl
