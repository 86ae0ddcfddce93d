#include "whirl/runtime/internal/frame_pool.h"

#include <new>
#include <vector>

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

// A hold: an address inside a frame that must not be reused, and, once that
// frame was freed, the block itself.
struct Hold {
  const void* inside;
  std::uint64_t key;
  void* block = nullptr;
  std::size_t size = 0;
};

struct ThreadPool {
  FreeBlock* heads[kClasses] = {};
  std::size_t cached = 0;
  // Rare (a kernel that did not release a request), so a plain vector; the
  // hot path reads only the count.
  std::vector<Hold> hold_list;
  std::size_t holds = 0;
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
    // destructor) goes straight back to the heap. Held blocks are left as
    // they are (the kernel may still write into them; the thread is ending).
    holds = 0;
    alive = false;
  }
};

thread_local ThreadPool tls_pool;

// True when `block` was kept aside for a hold instead of being freed. Out
// of line: the hot path must not pay for its loop's registers.
[[gnu::noinline]] bool keep_for_hold(void* block, std::size_t size) noexcept {
  auto* begin = static_cast<const char*>(block);
  for (Hold& hold : tls_pool.hold_list) {
    auto* inside = static_cast<const char*>(hold.inside);
    if (hold.block == nullptr && inside >= begin && inside < begin + size) {
      hold.block = block;
      hold.size = size;
      ASAN_POISON_MEMORY_REGION(block, size);
      return true;
    }
  }
  return false;
}

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
  ThreadPool& pool = tls_pool;  // one thread_local initialisation check for all uses below
  if (pool.holds != 0 && keep_for_hold(block, size)) [[unlikely]] {
    return;
  }
  if (size == 0 || size > kMaxPooledSize || !pool.alive) {
    ::operator delete(block);
    return;
  }
  std::size_t cls = class_of(size);
  auto* free_block = static_cast<FreeBlock*>(block);
  free_block->next = pool.heads[cls];
  pool.heads[cls] = free_block;
  ++pool.cached;
  ASAN_POISON_MEMORY_REGION(block, (cls + 1) * kGranule);
}

std::size_t FramePool::cached_blocks() noexcept { return tls_pool.cached; }

void FramePool::hold(const void* inside, std::uint64_t key) {
  if (!tls_pool.alive) return;
  tls_pool.hold_list.push_back(Hold{inside, key});
  tls_pool.holds = tls_pool.hold_list.size();
}

void FramePool::release(std::uint64_t key) noexcept {
  if (!tls_pool.alive) return;
  std::vector<Hold>& list = tls_pool.hold_list;
  for (std::size_t i = 0; i < list.size();) {
    Hold hold = list[i];
    if (hold.key != key) {
      ++i;
      continue;
    }
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
    tls_pool.holds = list.size();
    if (hold.block != nullptr) {
      ASAN_UNPOISON_MEMORY_REGION(hold.block, hold.size);
      deallocate(hold.block, hold.size);
    }
  }
}

std::size_t FramePool::quarantined_blocks() noexcept {
  std::size_t n = 0;
  if (tls_pool.holds == 0) return 0;
  for (const Hold& hold : tls_pool.hold_list) n += hold.block != nullptr ? 1 : 0;
  return n;
}

}  // namespace whirl
