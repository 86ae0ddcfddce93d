#include "bench/hdr_histogram.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

namespace bench {
namespace {

TEST(HdrHistogram, SmallValuesAreExact) {
  HdrHistogram h;
  for (std::uint64_t v = 0; v < 2048; ++v) h.record(v);
  EXPECT_EQ(h.count(), 2048u);
  EXPECT_EQ(h.value_at_percentile(50), 1023u);
  EXPECT_EQ(h.value_at_percentile(100), 2047u);
}

TEST(HdrHistogram, EveryBucketHoldsItsValuesWithinATenthOfAPercent) {
  std::mt19937_64 random(7);
  for (int i = 0; i < 100000; ++i) {
    std::uint64_t v = random() >> (24 + random() % 40);  // all magnitudes up to 2^40
    std::size_t index = HdrHistogram::index_of(v);
    ASSERT_LT(index, HdrHistogram::kBucketCount);
    std::uint64_t highest = HdrHistogram::highest_in(index);
    ASSERT_GE(highest, v);
    ASSERT_LE(static_cast<double>(highest - v), static_cast<double>(v) / 1000.0 + 1) << v;
    if (index > 0) {
      ASSERT_LT(HdrHistogram::highest_in(index - 1), v) << v;
    }
  }
}

TEST(HdrHistogram, PercentilesOfAKnownDistribution) {
  HdrHistogram h;
  for (std::uint64_t v = 1; v <= 1'000'000; ++v) h.record(v * 1000);  // 1 us .. 1 s in ns
  EXPECT_NEAR(static_cast<double>(h.value_at_percentile(50)), 500e6, 500e6 * 0.001);
  EXPECT_NEAR(static_cast<double>(h.value_at_percentile(99)), 990e6, 990e6 * 0.001);
  EXPECT_NEAR(static_cast<double>(h.value_at_percentile(99.9)), 999e6, 999e6 * 0.001);
  EXPECT_EQ(h.max(), 1'000'000'000u);
}

TEST(HdrHistogram, TheTailIsNotHiddenByTheBulk) {
  HdrHistogram h;
  for (int i = 0; i < 9990; ++i) h.record(100'000);
  for (int i = 0; i < 10; ++i) h.record(50'000'000);
  EXPECT_LT(h.value_at_percentile(99.8), 101'000u);
  EXPECT_GE(h.value_at_percentile(99.95), 50'000'000u);
}

TEST(HdrHistogram, ValuesPastTheTopAreClampedButTheMaxIsKept) {
  HdrHistogram h;
  std::uint64_t huge = std::uint64_t{1} << 50;
  h.record(huge);
  EXPECT_EQ(h.max(), huge);
  EXPECT_EQ(h.value_at_percentile(100), huge);
  EXPECT_LE(h.value_at_percentile(50), huge);
}

TEST(HdrHistogram, ResetForgetsEverything) {
  HdrHistogram h;
  h.record(5);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.value_at_percentile(99), 0u);
}

}  // namespace
}  // namespace bench
