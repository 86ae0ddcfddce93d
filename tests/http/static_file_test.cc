// StaticFileHandler (static_file_handler.h) over raw sockets: what a file
// response carries, the conditional and range rules, gzip, the paths that
// must never leave the root, directories, and large files intact.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "whirl/http/gzip.h"
#include "whirl/http/httputil.h"
#include "whirl/http/static_file_handler.h"
#include "whirl/testing/http_server_thread.h"

namespace whirl {
namespace {

namespace fs = std::filesystem;
using testing::RawClient;
using testing::ServerThread;

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool has(const std::string& name) const { return headers.contains(name); }
  std::string header(const std::string& name) const {
    auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

Response parse(const std::string& raw) {
  Response response;
  std::size_t head_end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || head_end == std::string::npos) return response;
  response.status = std::stoi(raw.substr(9, 3));
  std::size_t at = raw.find("\r\n") + 2;
  while (at < head_end) {
    std::size_t end = raw.find("\r\n", at);
    std::string line = raw.substr(at, end - at);
    std::size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    response.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    at = end + 2;
  }
  response.body = testing::body_of(raw);
  return response;
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(generator());
  return out;
}

std::string css_text() {
  std::string text;
  for (int i = 0; i < 200; ++i) text += ".rule-" + std::to_string(i) + " { color: #123456; margin: 0 auto; }\n";
  return text;
}

// A root with one of every kind of entry, served by an Application whose
// static_path it is, on a server thread.
class StaticFiles_ : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/whirl-static-XXXXXX";
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string base = tmp != nullptr ? std::string(tmp) + "/static-XXXXXX" : std::string(pattern);
    root_ = ::mkdtemp(base.data());
    outside_ = root_.parent_path() / (root_.filename().string() + "-outside");
    fs::create_directories(outside_);
    write_file(outside_ / "secret.txt", "SECRET outside the root\n");
    write_file(root_ / "hello.txt", "Hello, static world!\n");
    write_file(root_ / "site.css", css_text());
    write_file(root_ / "image.png", random_bytes(4000, 1));
    write_file(root_ / "empty.txt", "");
    write_file(root_ / ".hidden", "hidden\n");
    fs::create_directories(root_ / ".git");
    write_file(root_ / ".git" / "config", "[core]\n");
    fs::create_directories(root_ / "sub");
    write_file(root_ / "sub" / "index.html", "<p>sub index</p>\n");
    write_file(root_ / "sub" / "page.html", "<p>page</p>\n");
    fs::create_directories(root_ / "noindex");
    write_file(root_ / "noindex" / "file.txt", "x\n");
    write_file(root_ / "favicon.ico", "ICON");
    write_file(root_ / "robots.txt", "User-agent: *\n");
    fs::create_symlink(outside_ / "secret.txt", root_ / "escape.txt");
    fs::create_symlink(outside_, root_ / "escape-dir");
    fs::create_symlink("hello.txt", root_ / "alias.txt");  // inside: allowed
    ::mkfifo((root_ / "pipe").c_str(), 0600);
    large_ = random_bytes(5 * 1024 * 1024 + 123, 2);
    write_file(root_ / "large.bin", large_);
    app_ = std::make_unique<Application>(Application::Settings{.access_log = false, .static_path = root_.string()});
    server_ = std::make_unique<ServerThread>(*app_);
  }
  void TearDown() override {
    server_.reset();
    app_.reset();
    fs::remove_all(root_);
    fs::remove_all(outside_);
  }

  // One request on a new connection; `extra` is header lines, each ending in CRLF.
  Response request(const std::string& target, const std::string& extra = "", const std::string& method = "GET") {
    RawClient client(server_->port());
    client.send(method + " " + target + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n");
    if (method == "HEAD") client.expect_no_body();
    return parse(client.read_response());
  }
  std::string etag_of(const std::string& target) { return request(target).header("etag"); }

  fs::path root_;
  fs::path outside_;
  std::string large_;
  std::unique_ptr<Application> app_;
  std::unique_ptr<ServerThread> server_;
};

// ---- what a file response carries ----

TEST_F(StaticFiles_, AFileIsServedWithItsTypeLengthAndValidators) {
  Response response = request("/static/hello.txt");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "Hello, static world!\n");
  EXPECT_EQ(response.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(response.header("content-length"), "21");
  EXPECT_EQ(response.header("accept-ranges"), "bytes");
  EXPECT_TRUE(response.header("etag").starts_with("\"")) << response.header("etag");
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "hello.txt").c_str(), &st), 0);
  EXPECT_EQ(response.header("last-modified"), format_http_date(st.st_mtim.tv_sec));
  EXPECT_FALSE(response.has("cache-control")) << "an unversioned URL revalidates";
  EXPECT_EQ(request("/static/image.png").header("content-type"), "image/png");
}

TEST_F(StaticFiles_, HeadAnswersWithTheSameHeadersAndNoBody) {
  Response get = request("/static/site.css");
  Response head = request("/static/site.css", "", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), get.header("content-length"));
  EXPECT_EQ(head.header("etag"), get.header("etag"));
  EXPECT_EQ(head.header("last-modified"), get.header("last-modified"));
  EXPECT_TRUE(head.body.empty());
}

TEST_F(StaticFiles_, AnEmptyFileIsAnEmptyBodyAndIgnoresRange) {
  Response response = request("/static/empty.txt", "Range: bytes=-5\r\n");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("content-length"), "0");
  EXPECT_TRUE(response.body.empty());
}

TEST_F(StaticFiles_, AFileChangedOnDiskGetsANewETag) {
  std::string before = etag_of("/static/hello.txt");
  write_file(root_ / "hello.txt", "Hello again, a longer static world!\n");
  Response after = request("/static/hello.txt");
  EXPECT_NE(after.header("etag"), before);
  EXPECT_EQ(after.body, "Hello again, a longer static world!\n");
  // Same size, later time: a new tag too.
  std::string second = after.header("etag");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write_file(root_ / "hello.txt", "Hello AGAIN, a longer static world!\n");
  EXPECT_NE(etag_of("/static/hello.txt"), second);
}

TEST_F(StaticFiles_, FaviconAndRobotsAreServedFromTheStaticPath) {
  EXPECT_EQ(request("/favicon.ico").body, "ICON");
  EXPECT_EQ(request("/robots.txt").body, "User-agent: *\n");
}

// ---- conditional requests ----

TEST_F(StaticFiles_, IfNoneMatchWithTheETagIs304WithTheETagAndNoBody) {
  std::string etag = etag_of("/static/hello.txt");
  for (std::string value : {etag, "\"other\", " + etag, "W/" + etag, std::string("*")}) {
    Response response = request("/static/hello.txt", "If-None-Match: " + value + "\r\n");
    EXPECT_EQ(response.status, 304) << value;
    EXPECT_EQ(response.header("etag"), etag) << value;
    EXPECT_TRUE(response.body.empty()) << value;
    EXPECT_FALSE(response.has("content-length")) << value;
    EXPECT_FALSE(response.has("content-type")) << value;
  }
  EXPECT_EQ(request("/static/hello.txt", "If-None-Match: \"other\"\r\n").status, 200);
}

TEST_F(StaticFiles_, IfNoneMatchTakesPrecedenceOverIfModifiedSince) {
  std::string last_modified = request("/static/hello.txt").header("last-modified");
  // The date alone would be a 304; the tag that does not match decides.
  Response response =
      request("/static/hello.txt", "If-None-Match: \"stale\"\r\nIf-Modified-Since: " + last_modified + "\r\n");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "Hello, static world!\n");
}

TEST_F(StaticFiles_, IfModifiedSinceComparesWithTheModificationTime) {
  std::string last_modified = request("/static/hello.txt").header("last-modified");
  EXPECT_EQ(request("/static/hello.txt", "If-Modified-Since: " + last_modified + "\r\n").status, 304);
  EXPECT_EQ(request("/static/hello.txt", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n").status, 200);
  EXPECT_EQ(request("/static/hello.txt", "If-Modified-Since: yesterday\r\n").status, 200) << "a bad date is ignored";
}

TEST_F(StaticFiles_, IfMatchAndIfUnmodifiedSinceThatFailAre412) {
  std::string etag = etag_of("/static/hello.txt");
  EXPECT_EQ(request("/static/hello.txt", "If-Match: \"other\"\r\n").status, 412);
  EXPECT_EQ(request("/static/hello.txt", "If-Match: W/" + etag + "\r\n").status, 412) << "If-Match compares strongly";
  EXPECT_EQ(request("/static/hello.txt", "If-Match: " + etag + "\r\n").status, 200);
  EXPECT_EQ(request("/static/hello.txt", "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n").status, 412);
}

// ---- ranges ----

TEST_F(StaticFiles_, OneRangeIs206WithContentRange) {
  struct Case {
    std::string range;
    std::string content_range;
    std::string body;
  };
  const std::string text = "Hello, static world!\n";  // 21 bytes
  for (const Case& c :
       {Case{"bytes=0-4", "bytes 0-4/21", "Hello"}, Case{"bytes=7-", "bytes 7-20/21", text.substr(7)},
        Case{"bytes=-7", "bytes 14-20/21", "world!\n"}, Case{"bytes=14-100", "bytes 14-20/21", text.substr(14)},
        Case{"bytes=-100", "bytes 0-20/21", text}}) {
    Response response = request("/static/hello.txt", "Range: " + c.range + "\r\n");
    EXPECT_EQ(response.status, 206) << c.range;
    EXPECT_EQ(response.header("content-range"), c.content_range) << c.range;
    EXPECT_EQ(response.body, c.body) << c.range;
    EXPECT_EQ(response.header("content-length"), std::to_string(c.body.size())) << c.range;
  }
}

TEST_F(StaticFiles_, ARangeOutsideTheFileIs416WithItsSize) {
  for (std::string range : {"bytes=21-", "bytes=100-200", "bytes=-0"}) {
    Response response = request("/static/hello.txt", "Range: " + range + "\r\n");
    EXPECT_EQ(response.status, 416) << range;
    EXPECT_EQ(response.header("content-range"), "bytes */21") << range;
    EXPECT_TRUE(response.body.empty()) << range;
  }
}

TEST_F(StaticFiles_, SeveralOrMalformedRangesGetTheWholeFile) {
  for (std::string range : {"bytes=0-1,5-6", "bytes=5-2", "bytes=abc", "lines=1-2", "bytes=1-2-3"}) {
    Response response = request("/static/hello.txt", "Range: " + range + "\r\n");
    EXPECT_EQ(response.status, 200) << range;
    EXPECT_EQ(response.body, "Hello, static world!\n") << range;
  }
}

TEST_F(StaticFiles_, IfRangeHonoursTheRangeOnlyForTheSameFile) {
  Response full = request("/static/hello.txt");
  std::string etag = full.header("etag");
  EXPECT_EQ(request("/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: " + etag + "\r\n").status, 206);
  EXPECT_EQ(request("/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n").status, 200);
  EXPECT_EQ(request("/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: W/" + etag + "\r\n").status, 200)
      << "a weak tag never validates a range";
  std::string date = full.header("last-modified");
  EXPECT_EQ(request("/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: " + date + "\r\n").status, 206);
  EXPECT_EQ(request("/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: Sat, 01 Jan 2000 00:00:00 GMT\r\n").status,
            200);
}

TEST_F(StaticFiles_, AHeadIgnoresRange) {
  Response response = request("/static/hello.txt", "Range: bytes=0-4\r\n", "HEAD");
  EXPECT_EQ(response.status, 200) << "range handling is defined for GET only (RFC 9110 14.2)";
  EXPECT_EQ(response.header("content-length"), "21");
  EXPECT_FALSE(response.has("content-range"));
}

TEST_F(StaticFiles_, A412CarriesNoRepresentationHeaders) {
  Response response = request("/static/site.css", "Accept-Encoding: gzip\r\nIf-Match: \"other\"\r\n");
  EXPECT_EQ(response.status, 412);
  EXPECT_FALSE(response.has("content-encoding"));
  EXPECT_FALSE(response.has("content-type"));
  EXPECT_TRUE(response.body.empty());
}

TEST_F(StaticFiles_, ARangeOfALargeFileIsItsBytes) {
  Response response = request("/static/large.bin", "Range: bytes=1000000-3999999\r\n");
  EXPECT_EQ(response.status, 206);
  ASSERT_EQ(response.body.size(), 3000000U);
  EXPECT_TRUE(response.body == large_.substr(1000000, 3000000));
}

// ---- gzip ----

TEST_F(StaticFiles_, ACompressibleFileIsGzippedForAClientThatAcceptsIt) {
  Response plain = request("/static/site.css");
  Response gzipped = request("/static/site.css", "Accept-Encoding: gzip, deflate\r\n");
  EXPECT_EQ(gzipped.status, 200);
  EXPECT_EQ(gzipped.header("content-encoding"), "gzip");
  EXPECT_EQ(gzipped.header("vary"), "Accept-Encoding");
  EXPECT_EQ(plain.header("vary"), "Accept-Encoding") << "both variants say what they vary on";
  EXPECT_FALSE(plain.has("content-encoding"));
  EXPECT_LT(gzipped.body.size(), plain.body.size());
  EXPECT_EQ(gzipped.header("content-length"), std::to_string(gzipped.body.size()));
  EXPECT_EQ(gzip_decompress(gzipped.body, 1 << 20), css_text());
  EXPECT_NE(gzipped.header("etag"), plain.header("etag")) << "other bytes, another strong tag";
  // The cached bytes come back the same, and the gzip tag validates them.
  Response again = request("/static/site.css", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(again.body, gzipped.body);
  EXPECT_EQ(
      request("/static/site.css", "Accept-Encoding: gzip\r\nIf-None-Match: " + gzipped.header("etag") + "\r\n").status,
      304);
}

TEST_F(StaticFiles_, ARangeRequestIsNeverGzipped) {
  Response response = request("/static/site.css", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n");
  EXPECT_EQ(response.status, 206);
  EXPECT_FALSE(response.has("content-encoding"));
  EXPECT_EQ(response.body, css_text().substr(0, 10));
}

TEST_F(StaticFiles_, OnlyCompressibleTypesAreGzipped) {
  Response response = request("/static/image.png", "Accept-Encoding: gzip\r\n");
  EXPECT_FALSE(response.has("content-encoding"));
  EXPECT_FALSE(response.has("vary"));
  EXPECT_EQ(response.body.size(), 4000U);
}

TEST_F(StaticFiles_, AChangedFileIsCompressedAgain) {
  ASSERT_EQ(gzip_decompress(request("/static/site.css", "Accept-Encoding: gzip\r\n").body, 1 << 20), css_text());
  std::string changed = css_text() + "/* more */\n" + css_text();
  write_file(root_ / "site.css", changed);
  EXPECT_EQ(gzip_decompress(request("/static/site.css", "Accept-Encoding: gzip\r\n").body, 1 << 20), changed);
}

// ---- paths ----

TEST_F(StaticFiles_, NoSpellingOfAPathOutsideTheRootIsServed) {
  const std::string targets[] = {
      "/static/../secret.txt",
      "/static/%2e%2e/secret.txt",
      "/static/%2E%2E/secret.txt",
      "/static/..%2fsecret.txt",
      "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/static/sub/../../secret.txt",
      "/static/sub/%2e%2e/%2e%2e/secret.txt",
      "/static/..\\secret.txt",
      "/static/..%5csecret.txt",
      "/static/%5cetc%5cpasswd",
      "/static//etc/passwd",
      "/static/%2fetc%2fpasswd",
      "/static/./hello.txt",
      "/static/sub//page.html",
      "/static/hello.txt%00.png",
      "/static/escape.txt",
      "/static/escape-dir/secret.txt",
      "/static/.hidden",
      "/static/.git/config",
      "/static/sub/.%2e/.hidden",
      "/static/%2ehidden",
  };
  for (const std::string& target : targets) {
    Response response = request(target);
    EXPECT_TRUE(response.status == 403 || response.status == 404 || response.status == 400)
        << target << " got " << response.status;
    EXPECT_EQ(response.body.find("SECRET"), std::string::npos) << target;
    EXPECT_EQ(response.body.find("root:"), std::string::npos) << target;
    EXPECT_EQ(response.body.find("hidden\n"), std::string::npos) << target;
  }
  // The two kinds are told apart: escaping is forbidden, hidden files are not there.
  EXPECT_EQ(request("/static/escape.txt").status, 403);
  EXPECT_EQ(request("/static/%2e%2e/secret.txt").status, 403);
  EXPECT_EQ(request("/static/.hidden").status, 404);
}

TEST_F(StaticFiles_, ASymlinkThatStaysInsideTheRootIsServed) {
  EXPECT_EQ(request("/static/alias.txt").body, "Hello, static world!\n");
}

TEST_F(StaticFiles_, AFifoIsRefusedWithoutWaitingForAWriter) { EXPECT_EQ(request("/static/pipe").status, 403); }

TEST_F(StaticFiles_, ADirectoryIsServedAsItsIndexAfterARedirectToItsSlash) {
  Response redirect = request("/static/sub");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.header("location"), "/static/sub/");
  EXPECT_EQ(request("/static/sub/").body, "<p>sub index</p>\n");
  EXPECT_EQ(request("/static/sub/").header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(request("/static/noindex/").status, 403) << "no default file: no listing either";
  EXPECT_EQ(request("/static/missing/").status, 404);
  EXPECT_EQ(request("/static/missing.txt").status, 404);
  EXPECT_EQ(request("/static/hello.txt/").status, 404) << "a file is not a directory";
}

// ---- large files ----

TEST_F(StaticFiles_, ALargeFileArrivesIntactAndTheConnectionCarriesOn) {
  RawClient client(server_->port(), 20000);
  client.send("GET /static/large.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  Response large = parse(client.read_response());
  EXPECT_EQ(large.status, 200);
  ASSERT_EQ(large.body.size(), large_.size());
  EXPECT_TRUE(large.body == large_);
  EXPECT_EQ(parse(client.read_response()).body, "Hello, static world!\n") << "the framing held";
}

TEST_F(StaticFiles_, AClientThatLeavesMidFileHurtsOnlyItself) {
  for (int i = 0; i < 5; ++i) {
    RawClient client(server_->port());
    client.send("GET /static/large.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_FALSE(client.read_exact(100000).empty());
    struct linger reset {
      1, 0
    };  // RST, not FIN
    ::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  EXPECT_EQ(request("/static/hello.txt").body, "Hello, static world!\n");
}

// ---- versioned URLs ----

TEST_F(StaticFiles_, StaticUrlCarriesTheContentHashAndAVersionedUrlIsCachedForAYear) {
  std::string url = app_->static_url("hello.txt");
  // The MD5 of "Hello, static world!\n" (md5sum).
  EXPECT_EQ(url, "/static/hello.txt?v=18212b8544fe241932d0be842f0fe20b");
  Response response = request(url);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("cache-control"), "max-age=31536000, public");
  EXPECT_TRUE(response.has("expires"));
  EXPECT_EQ(app_->static_url("missing.txt"), "/static/missing.txt") << "no version for a file that is not there";
  // The same content, the same version; new content, a new one (the cache
  // looks at the file again after a second).
  EXPECT_EQ(app_->static_url("hello.txt"), url);
  write_file(root_ / "hello.txt", "changed\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_NE(app_->static_url("hello.txt"), url);
}

// ---- mounted by hand ----

TEST(StaticFileHandler, OptionsOfItsOwnWhenMountedByHand) {
  char pattern[] = "/tmp/whirl-static-own-XXXXXX";
  fs::path root = ::mkdtemp(pattern);
  write_file(root / ".well-known", "served\n");
  fs::create_directories(root / "dir");
  write_file(root / "dir" / "index.html", "index\n");
  write_file(root / "page.css", css_text());
  auto files = std::make_shared<StaticFiles>(
      StaticFileOptions{.path = root.string(), .default_filename = "", .serve_hidden = true, .gzip = false});
  Application app({.access_log = false});
  app.add_handler<StaticFileHandler>("/files/{path:.*}", files);
  {
    ServerThread server(app);
    auto get = [&](const std::string& target, const std::string& extra = "") {
      RawClient client(server.port());
      client.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n");
      return parse(client.read_response());
    };
    EXPECT_EQ(get("/files/.well-known").body, "served\n") << "serve_hidden";
    EXPECT_EQ(get("/files/dir/").status, 403) << "no default_filename";
    EXPECT_EQ(get("/files/dir").status, 403);
    EXPECT_FALSE(get("/files/page.css", "Accept-Encoding: gzip\r\n").has("content-encoding")) << "gzip off";
  }
  fs::remove_all(root);
}

TEST(StaticFileHandler, AMissingRootIsAnErrorAtStartupAndStaticUrlNeedsAStaticPath) {
  EXPECT_THROW(StaticFiles(StaticFileOptions{.path = "/nonexistent/whirl-static"}), std::system_error);
  EXPECT_THROW(Application({.static_path = "/nonexistent/whirl-static"}), std::system_error);
  Application app;
  EXPECT_THROW(app.static_url("a.css"), std::logic_error);
}

}  // namespace
}  // namespace whirl
