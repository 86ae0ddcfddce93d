// whirl/net/internal/buffer_ring.h: the IOLoop's provided-buffer ring for receives.
//
// Every IOStream of a loop receives through one multishot recv that picks
// its buffer from this ring (IOSQE_BUFFER_SELECT), so an idle connection
// holds no receive buffer at all: memory is per loop, not per connection.
// The stream copies the bytes out and recycles the buffer at once.
//
// liburing 2.3 has no io_uring_setup_buf_ring, so the ring is mmap'ed here,
// initialised with io_uring_buf_ring_init and registered with
// io_uring_register_buf_ring. It is one IOLoop::Local: built on first use,
// unregistered when the loop is destroyed, after every receive was reaped.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "whirl/runtime/ioloop.h"

namespace whirl {

class BufferRing final : public IOLoop::Local {
 public:
  static constexpr std::uint16_t kGroupId = 7;
  static constexpr unsigned kEntries = 256;  // a power of two
  static constexpr std::size_t kBufferSize = 16 * 1024;
  // Buffer i starts at i * kStride, not i * kBufferSize. Buffers are taken
  // in ring order, so all kEntries take turns, and a receive mostly fills
  // only a buffer's first lines: with a stride that is a multiple of 16 KiB
  // those first lines of all buffers fall into the same few cache sets (a
  // 1 MiB 8-way L2 repeats its sets every 128 KiB, so 8 positions for 256
  // buffers) and evict each other. Five extra lines per buffer move each
  // buffer's start to another set: the lines receives touch spread over the
  // whole cache (loader CPU per response about -6% with 2 KiB receives).
  static constexpr std::size_t kStride = kBufferSize + 5 * 64;

  explicit BufferRing(IOLoop& loop);
  ~BufferRing() override;

  // The bytes of buffer `id` filled by a receive of `length` bytes.
  std::string_view view(unsigned id, std::size_t length) const noexcept { return {buffer(id), length}; }
  // Gives buffer `id` back to the kernel.
  void recycle(unsigned id) noexcept;

  static BufferRing& of(IOLoop& loop) { return loop.local<BufferRing>(); }

  // Receives that ended with -ENOBUFS because every buffer was taken (they
  // are re-armed; counted for tests and tuning).
  void note_exhausted() noexcept { ++exhausted_; }
  std::uint64_t exhausted() const noexcept { return exhausted_; }

 private:
  char* buffer(unsigned id) const noexcept { return memory_.get() + static_cast<std::size_t>(id) * kStride; }

  IOLoop& loop_;
  io_uring_buf_ring* ring_ = nullptr;
  std::size_t ring_bytes_ = 0;
  std::unique_ptr<char[]> memory_;
  std::uint64_t exhausted_ = 0;
};

}  // namespace whirl
