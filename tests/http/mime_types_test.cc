#include "whirl/http/mime_types.h"

#include <gtest/gtest.h>

namespace whirl {
namespace {

TEST(GuessContentType, TheWebsFileTypesByExtensionWithoutCase) {
  EXPECT_EQ(guess_content_type("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(guess_content_type("css/site.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(guess_content_type("js/app.min.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(guess_content_type("data.json"), "application/json");
  EXPECT_EQ(guess_content_type("logo.svg"), "image/svg+xml");
  EXPECT_EQ(guess_content_type("photo.JPEG"), "image/jpeg");
  EXPECT_EQ(guess_content_type("font.woff2"), "font/woff2");
  EXPECT_EQ(guess_content_type("app.wasm"), "application/wasm");
  EXPECT_EQ(guess_content_type("movie.mp4"), "video/mp4");
}

TEST(GuessContentType, AnUnknownOrMissingExtensionIsADownload) {
  EXPECT_EQ(guess_content_type("data.bin"), "application/octet-stream");
  EXPECT_EQ(guess_content_type("README"), "application/octet-stream");
  EXPECT_EQ(guess_content_type(".html"), "application/octet-stream") << "a dot-file's name is not an extension";
  EXPECT_EQ(guess_content_type("dir.html/file"), "application/octet-stream") << "only the last segment counts";
  EXPECT_EQ(guess_content_type("trailing."), "application/octet-stream");
}

}  // namespace
}  // namespace whirl
