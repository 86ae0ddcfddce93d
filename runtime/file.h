// whirl/runtime/file.h: a file on disk, opened and read through the ring.
//
//     File root = File::open_directory("/var/www");               // once, at startup
//     File file = co_await File::open(root, "css/site.css");      // never leaves root
//     FileInfo info = file.info();
//     std::string text(info.size, '\0');
//     text.resize(co_await file.read_at(text, 0));
//     co_await file.close();
//
// open() and read_at() are io_uring requests (IORING_OP_OPENAT2,
// IORING_OP_READ): the kernel does them inline when the dentries and pages
// are cached and in its own workers when the disk must be read, so the
// loop's thread never waits for a disk. info() is fstat(2) on the open
// descriptor, metadata the kernel already holds. close() is a ring request
// too; a File destroyed without it closes with close(2), which for a
// regular file does not wait for the disk either.
//
// Paths. open(dir, path) resolves `path` beneath `dir` (RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS): "..", an absolute path, or a symlink whose target
// would leave `dir` fails with EXDEV whatever the path's spelling, so a
// server's root cannot be escaped even by a symlink planted inside it.
//
// Special files. open() opens with O_NONBLOCK, so a FIFO or a device in the
// tree cannot hold the open (a FIFO's open waits for a writer); callers
// check info() before reading. A regular file opened that way would answer
// a read of uncached pages with EAGAIN instead of waiting in the kernel's
// workers, so the first such read clears O_NONBLOCK and asks again: cached
// files never pay the extra system call.
//
// Errors throw std::system_error carrying the errno and the path (or
// "read"). A File is move-only and owns its descriptor.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "whirl/runtime/task.h"

namespace whirl {

// What fstat(2) says of an open file, in the units HTTP caching wants.
struct FileInfo {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  // modification time, nanoseconds since the epoch
  std::uint64_t inode = 0;
  std::uint64_t device = 0;
  bool regular = false;
  bool directory = false;

  std::int64_t mtime_seconds() const noexcept { return mtime_ns / 1'000'000'000; }
  // The same file in the same state (what a cache keyed by it checks).
  friend bool operator==(const FileInfo&, const FileInfo&) noexcept = default;
};

class File {
 public:
  File() noexcept = default;
  File(File&& other) noexcept : fd_(other.fd_), nonblocking_(other.nonblocking_) { other.fd_ = -1; }
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  // A directory to open files beneath, opened now (O_PATH: no read access
  // needed, nothing read). Throws std::system_error.
  static File open_directory(const std::string& path);
  // `path` (relative) beneath `dir`, read-only. Throws std::system_error:
  // ENOENT/ENOTDIR when it is not there, EXDEV when it would leave `dir`,
  // ELOOP for a symlink loop, EACCES when not readable.
  static Task<File> open(const File& dir, std::string_view path);
  // open() now, with openat2(2) on the caller's thread, for a caller that
  // cannot wait (a template's static_url); the same rules. Throws
  // std::system_error.
  static File open_now(const File& dir, const std::string& path);

  bool is_open() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  FileInfo info() const;
  // Reads up to into.size() bytes at `offset`; fewer only at the end of the
  // file. Yields the count.
  Task<std::size_t> read_at(std::span<char> into, std::uint64_t offset);
  // Closes through the ring (the descriptor is gone when it resumes).
  Task<void> close();
  // Lets requests on the descriptor wait for the disk from now on (see
  // "Special files"): for a caller that hands fd() to a request of its own
  // (a splice) and got EAGAIN. False when it already could.
  bool clear_nonblocking();

 private:
  explicit File(int fd, bool nonblocking) noexcept : fd_(fd), nonblocking_(nonblocking) {}

  int fd_ = -1;
  bool nonblocking_ = false;  // opened O_NONBLOCK and not yet cleared
};

}  // namespace whirl
