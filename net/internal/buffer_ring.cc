#include "whirl/net/internal/buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <system_error>

#include "whirl/runtime/internal/ring.h"

namespace whirl {

BufferRing::BufferRing(IOLoop& loop)
    : loop_(loop), ring_bytes_(kEntries * sizeof(io_uring_buf)), memory_(std::make_unique<char[]>(kEntries * kStride)) {
  void* mapped = ::mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mapped == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap buffer ring");
  ring_ = static_cast<io_uring_buf_ring*>(mapped);
  io_uring_buf_ring_init(ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(ring_);
  reg.ring_entries = kEntries;
  reg.bgid = kGroupId;
  int rc = io_uring_register_buf_ring(loop_.ring().native(), &reg, 0);
  if (rc != 0) {
    ::munmap(ring_, ring_bytes_);
    throw std::system_error(-rc, std::generic_category(), "io_uring_register_buf_ring");
  }
  int mask = io_uring_buf_ring_mask(kEntries);
  for (unsigned id = 0; id < kEntries; ++id) {
    io_uring_buf_ring_add(ring_, buffer(id), kBufferSize, static_cast<unsigned short>(id), mask, static_cast<int>(id));
  }
  io_uring_buf_ring_advance(ring_, kEntries);
}

BufferRing::~BufferRing() {
  io_uring_unregister_buf_ring(loop_.ring().native(), kGroupId);
  ::munmap(ring_, ring_bytes_);
}

void BufferRing::recycle(unsigned id) noexcept {
  io_uring_buf_ring_add(ring_, buffer(id), kBufferSize, static_cast<unsigned short>(id),
                        io_uring_buf_ring_mask(kEntries), 0);
  io_uring_buf_ring_advance(ring_, 1);
}

}  // namespace whirl
