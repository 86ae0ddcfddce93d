// File (file.h): opening beneath a directory, reading through the ring,
// what fstat says, and special files that must not hold the open.
#include "whirl/runtime/file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = fs::temp_directory_path().string() + "/whirl-file-XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
    fs::create_directories(dir_ / "root" / "sub");
    std::ofstream(dir_ / "root" / "sub" / "a.txt") << "0123456789";
    std::ofstream(dir_ / "outside.txt") << "outside";
    fs::create_symlink(dir_ / "outside.txt", dir_ / "root" / "out-link");
    fs::create_symlink("sub/a.txt", dir_ / "root" / "in-link");
    ::mkfifo((dir_ / "root" / "fifo").c_str(), 0600);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The errno File::open throws for `path` beneath root/ (0: it opened).
  int open_errno(const std::string& path) {
    IOLoop loop;
    File root = File::open_directory((dir_ / "root").string());
    auto attempt = [&]() -> Task<int> {
      try {
        File file = co_await File::open(root, path);
        co_return 0;
      } catch (const std::system_error& e) {
        co_return e.code().value();
      }
    };
    return loop.run_sync(with_timeout(5s, attempt()));
  }

  fs::path dir_;
};

TEST_F(FileTest, ReadAtReadsFromTheOffsetAndStopsAtTheEnd) {
  IOLoop loop;
  File root = File::open_directory((dir_ / "root").string());
  auto body = [&]() -> Task<void> {
    File file = co_await File::open(root, "sub/a.txt");
    FileInfo info = file.info();
    EXPECT_TRUE(info.regular);
    EXPECT_FALSE(info.directory);
    EXPECT_EQ(info.size, 10U);
    EXPECT_GT(info.mtime_ns, 0);
    std::string text(4, '\0');
    EXPECT_EQ(co_await file.read_at(text, 3), 4U);
    EXPECT_EQ(text, "3456");
    std::string rest(100, '\0');
    std::size_t got = co_await file.read_at(rest, 8);
    EXPECT_EQ(got, 2U) << "short only at the end";
    EXPECT_EQ(rest.substr(0, got), "89");
    co_await file.close();
    EXPECT_FALSE(file.is_open());
  };
  loop.run_sync(with_timeout(5s, body()));
}

TEST_F(FileTest, NothingOutsideTheDirectoryCanBeOpened) {
  EXPECT_EQ(open_errno("sub/a.txt"), 0);
  EXPECT_EQ(open_errno("in-link"), 0) << "a symlink that stays inside";
  EXPECT_EQ(open_errno("../outside.txt"), EXDEV);
  EXPECT_EQ(open_errno("sub/../../outside.txt"), EXDEV);
  EXPECT_EQ(open_errno((dir_ / "outside.txt").string()), EXDEV) << "an absolute path";
  EXPECT_EQ(open_errno("out-link"), EXDEV) << "a symlink whose target is outside";
  EXPECT_EQ(open_errno("missing.txt"), ENOENT);
  EXPECT_EQ(open_errno("sub/a.txt/x"), ENOTDIR);
}

TEST_F(FileTest, OpenNowKeepsTheSameRules) {
  File root = File::open_directory((dir_ / "root").string());
  EXPECT_EQ(File::open_now(root, "sub/a.txt").info().size, 10U);
  for (std::string path : {"../outside.txt", "out-link"}) {
    try {
      File::open_now(root, path);
      ADD_FAILURE() << path << " opened";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), EXDEV) << path;
    }
  }
}

TEST_F(FileTest, AFifoOpensWithoutWaitingForAWriterAndSaysWhatItIs) {
  IOLoop loop;
  File root = File::open_directory((dir_ / "root").string());
  auto body = [&]() -> Task<void> {
    File fifo = co_await File::open(root, "fifo");
    FileInfo info = fifo.info();
    EXPECT_FALSE(info.regular);
    EXPECT_FALSE(info.directory);
    File sub = co_await File::open(root, "sub");
    EXPECT_TRUE(sub.info().directory);
  };
  loop.run_sync(with_timeout(5s, body()));
}

TEST_F(FileTest, OpenDirectoryNamesThePathItCouldNotOpen) {
  try {
    File::open_directory((dir_ / "nope").string());
    ADD_FAILURE() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos) << e.what();
  }
  EXPECT_THROW(File::open_directory((dir_ / "root" / "sub" / "a.txt").string()), std::system_error);
}

TEST_F(FileTest, AMovedFileOwnsTheDescriptorAlone) {
  File root = File::open_directory((dir_ / "root").string());
  int fd = root.fd();
  File moved = std::move(root);
  EXPECT_EQ(moved.fd(), fd);
  EXPECT_FALSE(root.is_open());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  { File gone = std::move(moved); }
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "closed once, by its last owner";
}

}  // namespace
}  // namespace whirl
