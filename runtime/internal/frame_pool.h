// whirl/runtime/internal/frame_pool.h: the per-thread allocator behind coroutine frames.
//
// Every Task<T> call allocates a coroutine frame; a server makes several per
// request. FramePool keeps freed frames on per-thread free lists, one list per
// 64-byte size class up to kMaxPooledSize, so after warm-up a request loop
// reuses the same few blocks and never reaches malloc. Larger frames go to
// ::operator new directly.
//
// Frames belong to the thread that runs the loop, so the lists are
// thread_local and lock-free by construction. A block freed on another thread
// simply joins that thread's list: memory is memory.
//
// Under AddressSanitizer the cached blocks are poisoned, so a use of a frame
// after it was freed is still reported even though the memory is not
// returned to malloc.
#pragma once

#include <cstddef>
#include <cstdint>

namespace whirl {

class FramePool {
 public:
  static constexpr std::size_t kGranule = 64;
  static constexpr std::size_t kMaxPooledSize = 4096;

  static void* allocate(std::size_t size);
  static void deallocate(void* block, std::size_t size) noexcept;

  // Blocks currently cached on this thread (for tests and benchmarks).
  static std::size_t cached_blocks() noexcept;

  // Quarantine, for memory the kernel may still write into. After
  // hold(inside, key), the frame that contains `inside`, when it is freed
  // on this thread, is kept aside instead (poisoned, not reused) until
  // release(key) frees it. IOLoop uses it for a frame whose io_uring request
  // the kernel did not release after a cancel (IOLoop::cancel_and_wait): the
  // request may still complete into that frame's buffer. A hold that matches
  // no frame is dropped by release(key) all the same.
  static void hold(const void* inside, std::uint64_t key);
  static void release(std::uint64_t key) noexcept;
  // Frames kept aside on this thread.
  static std::size_t quarantined_blocks() noexcept;
};

}  // namespace whirl
