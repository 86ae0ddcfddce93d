// whirl/net/internal/pipe_pool.h: the pipes IOStream::write_file splices
// files through, one loop's worth.
//
//     std::optional<PipePool::Pipe> pipe = PipePool::of(loop).take();   // empty, kCapacity if allowed
//     ... splice file -> pipe.write_fd, pipe.read_fd -> socket ...
//     PipePool::of(loop).give_back(pipe, /*empty=*/true);
//
// splice(2) moves a file's page-cache pages to a socket without copying
// them, but only through a pipe. Making one costs two descriptors and
// system calls, so a loop keeps up to kMaxIdle of them between transfers.
// A pipe comes back only when it is empty: one that still holds bytes (a
// transfer that failed half way) is closed, never handed to the next
// transfer with someone else's file in it.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "whirl/runtime/ioloop.h"

namespace whirl {

class PipePool final : public IOLoop::Local {
 public:
  static constexpr std::size_t kCapacity = 1024 * 1024;  // the default pipe-max-size
  static constexpr std::size_t kMaxIdle = 16;

  struct Pipe {
    int read_fd = -1;
    int write_fd = -1;
    std::size_t capacity = 0;
  };

  explicit PipePool(IOLoop& /*loop*/) {}
  ~PipePool() override;
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // An empty pipe; nullopt when none can be made (the process is out of
  // descriptors: the caller copies instead).
  std::optional<Pipe> take() noexcept;
  void give_back(Pipe pipe, bool empty) noexcept;

  static PipePool& of(IOLoop& loop) { return loop.local<PipePool>(); }

 private:
  static void close(Pipe pipe) noexcept;
  std::vector<Pipe> idle_;
};

}  // namespace whirl
