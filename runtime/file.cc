#include "whirl/runtime/file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>

#include "whirl/runtime/operation.h"

namespace whirl {

namespace {

[[noreturn]] void throw_errno(int error, std::string_view what) {
  throw std::system_error(error, std::generic_category(), std::string(what));
}

// How open() and open_now() open: read-only, beneath the directory (see
// "Paths"), non-blocking (see "Special files").
open_how beneath() noexcept {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return how;
}

}  // namespace

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    nonblocking_ = other.nonblocking_;
    other.fd_ = -1;
  }
  return *this;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

File File::open_directory(const std::string& path) {
  int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, path);
  return File(fd, false);
}

Task<File> File::open(const File& dir, std::string_view path) {
  // The kernel reads the path when the request is issued, which may be in
  // one of its workers after this frame suspended: it lives in the frame.
  std::string name(path);
  open_how how = beneath();
  int dir_fd = dir.fd();
  int fd = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_openat2(sqe, dir_fd, name.c_str(), &how); });
  if (fd < 0) throw_errno(-fd, name);
  co_return File(fd, true);
}

File File::open_now(const File& dir, const std::string& path) {
  open_how how = beneath();
  int fd = static_cast<int>(::syscall(SYS_openat2, dir.fd(), path.c_str(), &how, sizeof how));
  if (fd < 0) throw_errno(errno, path);
  return File(fd, true);
}

FileInfo File::info() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_errno(errno, "fstat");
  FileInfo info;
  info.size = static_cast<std::uint64_t>(st.st_size);
  info.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  info.inode = st.st_ino;
  info.device = st.st_dev;
  info.regular = S_ISREG(st.st_mode);
  info.directory = S_ISDIR(st.st_mode);
  return info;
}

Task<std::size_t> File::read_at(std::span<char> into, std::uint64_t offset) {
  std::size_t total = 0;
  while (total < into.size()) {
    int fd = fd_;
    char* at = into.data() + total;
    auto want = static_cast<unsigned>(std::min<std::size_t>(into.size() - total, std::size_t{1} << 30));
    std::uint64_t where = offset + total;
    int n = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, at, want, where); });
    // Pages not cached, and O_NONBLOCK (see open) forbids waiting for
    // them: from now on the kernel's workers may.
    if (n == -EAGAIN && clear_nonblocking()) continue;
    if (n == -EINTR) continue;
    if (n < 0) throw_errno(-n, "read");
    if (n == 0) break;  // end of file
    total += static_cast<std::size_t>(n);
  }
  co_return total;
}

bool File::clear_nonblocking() {
  if (!nonblocking_) return false;
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK) != 0) throw_errno(errno, "fcntl");
  nonblocking_ = false;
  return true;
}

Task<void> File::close() {
  if (fd_ < 0) co_return;
  int fd = fd_;
  fd_ = -1;  // gone whatever the result: a failed close(2) still frees the number
  co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_close(sqe, fd); });
}

}  // namespace whirl
