#include "whirl/net/internal/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace whirl {

PipePool::~PipePool() {
  for (Pipe pipe : idle_) close(pipe);
}

std::optional<PipePool::Pipe> PipePool::take() noexcept {
  if (!idle_.empty()) {
    Pipe pipe = idle_.back();
    idle_.pop_back();
    return pipe;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  Pipe pipe{fds[0], fds[1], 0};
  // Bigger than the default 64 KiB, so a 1 MiB file crosses in one pair of
  // splices. The kernel may refuse (pipe-max-size, a user's pipe quota):
  // the pipe then keeps the size it has.
  int capacity = ::fcntl(pipe.write_fd, F_SETPIPE_SZ, static_cast<int>(kCapacity));
  if (capacity < 0) capacity = ::fcntl(pipe.write_fd, F_GETPIPE_SZ);
  pipe.capacity = capacity > 0 ? static_cast<std::size_t>(capacity) : 64 * 1024;
  return pipe;
}

void PipePool::give_back(Pipe pipe, bool empty) noexcept {
  if (empty && idle_.size() < kMaxIdle) {
    idle_.push_back(pipe);
  } else {
    close(pipe);
  }
}

void PipePool::close(Pipe pipe) noexcept {
  ::close(pipe.read_fd);
  ::close(pipe.write_fd);
}

}  // namespace whirl
