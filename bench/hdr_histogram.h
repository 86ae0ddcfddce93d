// bench/hdr_histogram.h: a log-linear latency histogram in the manner of
// HdrHistogram, with three significant decimal digits.
//
//     HdrHistogram latencies;
//     latencies.record(elapsed_ns);
//     latencies.value_at_percentile(99.9);    // ns, within 0.1% of the truth
//
// Values below 2048 have a bucket each. Above, every power of two is split
// into 1024 equal buckets, so a bucket's width is under 1/1024 of its
// values: the relative error is below 0.1% at any magnitude, in a fixed
// table (about 240 KiB for values up to 2^40 ns, some 18 minutes) that
// never allocates while recording. Values past the top are clamped to it
// and the true maximum is kept apart.
//
// Recording is an index computation and an increment: cheap enough to
// record every response of a load run, which is what keeps percentiles
// honest (sampling would hide the tail).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace bench {

class HdrHistogram {
 public:
  static constexpr int kSubBucketBits = 11;  // 2048 sub-buckets, the top half used above the first
  static constexpr std::uint64_t kSubBucketCount = std::uint64_t{1} << kSubBucketBits;
  static constexpr std::uint64_t kHalfCount = kSubBucketCount / 2;
  static constexpr int kMaxBits = 40;
  static constexpr std::size_t kBucketCount = kSubBucketCount + (kMaxBits - kSubBucketBits) * kHalfCount;

  HdrHistogram() : counts_(kBucketCount, 0) {}

  // `count` equal values at once (a pipelined batch answered together).
  void record(std::uint64_t value, std::uint64_t count = 1) noexcept {
    max_ = std::max(max_, value);
    counts_[index_of(std::min(value, (std::uint64_t{1} << kMaxBits) - 1))] += count;
    total_ += count;
  }

  void reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = max_ = 0;
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }

  // The smallest recorded bucket's highest value such that `percentile`
  // percent of the values are at or below it (the max for 100).
  std::uint64_t value_at_percentile(double percentile) const noexcept {
    if (total_ == 0) return 0;
    if (percentile >= 100.0) return max_;
    auto wanted = static_cast<std::uint64_t>(percentile / 100.0 * static_cast<double>(total_) + 0.5);
    wanted = std::clamp<std::uint64_t>(wanted, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= wanted) return std::min(highest_in(i), max_);
    }
    return max_;
  }

  // Bucket arithmetic, public for tests.
  static std::size_t index_of(std::uint64_t value) noexcept {
    if (value < kSubBucketCount) return static_cast<std::size_t>(value);
    int shift = std::bit_width(value) - kSubBucketBits;  // >= 1
    std::uint64_t sub = value >> shift;                  // in [kHalfCount, kSubBucketCount)
    return static_cast<std::size_t>(kSubBucketCount + (shift - 1) * kHalfCount + (sub - kHalfCount));
  }
  static std::uint64_t highest_in(std::size_t index) noexcept {
    if (index < kSubBucketCount) return index;
    std::size_t above = index - kSubBucketCount;
    int shift = static_cast<int>(above / kHalfCount) + 1;
    std::uint64_t sub = kHalfCount + above % kHalfCount;
    return ((sub + 1) << shift) - 1;
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace bench
