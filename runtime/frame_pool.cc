#include "whirl/runtime/frame_pool.h"

#include <new>

#if defined(__has_include)
#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

namespace whirl {
namespace {

constexpr std::size_t kClasses = FramePool::kMaxPooledSize / FramePool::kGranule;

struct FreeBlock {
  FreeBlock* next;
};

struct ThreadPool {
  FreeBlock* heads[kClasses] = {};
  std::size_t cached = 0;
  bool alive = true;

  ~ThreadPool() {
    for (FreeBlock*& head : heads) {
      while (head != nullptr) {
        ASAN_UNPOISON_MEMORY_REGION(head, sizeof(FreeBlock));
        FreeBlock* next = head->next;
        ::operator delete(head);
        head = next;
      }
    }
    // A frame destroyed after this thread's pool (by another thread_local's
    // destructor) goes straight back to the heap.
    alive = false;
  }
};

thread_local ThreadPool tls_pool;

std::size_t class_of(std::size_t size) { return (size + FramePool::kGranule - 1) / FramePool::kGranule - 1; }

}  // namespace

void* FramePool::allocate(std::size_t size) {
  if (size == 0 || size > kMaxPooledSize || !tls_pool.alive) return ::operator new(size);
  std::size_t cls = class_of(size);
  FreeBlock* block = tls_pool.heads[cls];
  if (block == nullptr) return ::operator new((cls + 1) * kGranule);
  ASAN_UNPOISON_MEMORY_REGION(block, (cls + 1) * kGranule);
  tls_pool.heads[cls] = block->next;
  --tls_pool.cached;
  return block;
}

void FramePool::deallocate(void* block, std::size_t size) noexcept {
  if (size == 0 || size > kMaxPooledSize || !tls_pool.alive) {
    ::operator delete(block);
    return;
  }
  std::size_t cls = class_of(size);
  auto* free_block = static_cast<FreeBlock*>(block);
  free_block->next = tls_pool.heads[cls];
  tls_pool.heads[cls] = free_block;
  ++tls_pool.cached;
  ASAN_POISON_MEMORY_REGION(block, (cls + 1) * kGranule);
}

std::size_t FramePool::cached_blocks() noexcept { return tls_pool.cached; }

}  // namespace whirl
