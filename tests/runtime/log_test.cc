#include "whirl/runtime/log.h"

#include <gtest/gtest.h>

#include "whirl/testing/log_capture.h"

namespace whirl {
namespace {

TEST(Log, NamedLoggersFormatWithFmt) {
  testing::LogCapture logs;
  log::app().error("code {} in {}", 7, "handler");
  auto lines = logs.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].logger, "app");
  EXPECT_EQ(lines[0].level, log::Level::kError);
  EXPECT_EQ(lines[0].message, "code 7 in handler");
}

TEST(Log, LevelsFilterAndALoggerCanBeSilenced) {
  testing::LogCapture logs;
  log::set_level(log::Level::kWarning);
  log::gen().info("hidden");
  log::gen().warning("shown");
  log::access().set_level(log::Level::kOff);
  log::access().error("silenced");
  log::access().reset_level();
  auto lines = logs.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].message, "shown");
}

TEST(Log, LevelLettersMatchTornado) {
  EXPECT_EQ(log::level_letter(log::Level::kDebug), 'D');
  EXPECT_EQ(log::level_letter(log::Level::kInfo), 'I');
  EXPECT_EQ(log::level_letter(log::Level::kWarning), 'W');
  EXPECT_EQ(log::level_letter(log::Level::kError), 'E');
}

TEST(Log, DefaultSinkWritesATornadoStyleLineToStderr) {
  ::testing::internal::CaptureStderr();
  log::Logger mine("mine");
  mine.warning("disk {}% full", 93);
  std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.rfind("[W ", 0), 0u) << out;
  EXPECT_NE(out.find(" mine] disk 93% full\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace whirl
