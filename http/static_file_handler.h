// whirl/http/static_file_handler.h: Tornado's StaticFileHandler, on io_uring.
//
//     // Tornado's static_path: /static/..., /favicon.ico and /robots.txt
//     // from one directory, and static_url() for versioned links.
//     Application app({.static_path = "/var/www/static"});
//     std::string url = app.static_url("css/site.css");  // "/static/css/site.css?v=9e107d9d..."
//
//     // Or mounted by hand, with options of its own:
//     auto files = std::make_shared<StaticFiles>(StaticFileOptions{.path = "/srv/downloads", .gzip = false});
//     app.add_handler<StaticFileHandler>("/downloads/{path:.*}", files);
//
// The route's `{path}` capture (percent-decoded) names a file beneath the
// root. What a GET or HEAD gets:
//
// - Paths. Only names beneath the root are served. A path with a `.` or
//   `..` segment, an empty segment, a leading '/', a backslash or a NUL is
//   403 whatever its spelling (`%2e%2e%2f` is decoded first); files are
//   opened with RESOLVE_BENEATH (runtime/file.h), so a symlink pointing out
//   of the root is 403 too. A segment starting with '.' (a dot-file, a
//   `.git` directory) is 404 unless serve_hidden. A directory is served as
//   its default_filename (index.html): `dir` redirects (301) to `dir/`, and
//   a directory without that file is 403. FIFOs, sockets and devices are 403.
// - Validators. `ETag` is strong, made from the file's modification time
//   (nanoseconds) and size, as nginx makes its own (a file rewritten with
//   the same size within the filesystem's timestamp granularity keeps its
//   tag); the gzip variant's tag has "-gz" appended, since it is other
//   bytes. `Last-Modified` is the modification time.
// - Conditional requests (RFC 9110 13.2.2 order): If-Match and then
//   If-Unmodified-Since failing are 412; If-None-Match (a list, weak
//   comparison, `*`) takes precedence over If-Modified-Since; a match is
//   304 with the ETag and no body.
// - Ranges. `Accept-Ranges: bytes`. One range (`first-last`, `first-`,
//   `-suffix`) is 206 with Content-Range; one no byte of the file is in is
//   416 with `Content-Range: bytes */size`; several ranges, a malformed one
//   or one that If-Range rules out get the whole file (200): whirl sends no
//   multipart/byteranges. An empty file, and a HEAD, ignore Range.
// - Content-Type from the extension (mime_types.h). Files of a compressible
//   type from 1 KiB to gzip_max_size are gzipped for clients that accept it,
//   never for a Range request, with `Vary: Accept-Encoding` on both
//   variants; the compressed bytes are made once, by the first request that
//   needs them (it waits for them; a 304 or 412 makes none), requests
//   arriving meanwhile get the file as it is, and they are kept (up to
//   gzip_cache_size in all, least recently used out first) until the file
//   changes.
//   compress_response does not apply: the bytes leave as they are on disk.
// - Caching. A request carrying `v` (a static_url link) gets
//   `Cache-Control: max-age=31536000, public` and an Expires a year out: the
//   URL changes when the file does. Others get no cache headers and
//   revalidate with the ETag.
// - The body. A file up to IOStream::kFilePiece leaves with its headers in
//   one send; a larger one is read through the ring and sent in pieces of
//   that size (HTTPConnection::write_file), so a 1 GiB download costs its
//   connection no more memory than a 1 MiB one, over TLS as over TCP. A HEAD
//   reads nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "whirl/http/web.h"
#include "whirl/runtime/file.h"
#include "whirl/runtime/task.h"

namespace whirl {

struct StaticFileOptions {
  std::string path{};  // the root directory
  // Served for a directory's URL ("" for none: a directory is then 403).
  std::string default_filename = "index.html";
  bool serve_hidden = false;
  bool gzip = true;
  std::uint64_t gzip_max_size = 4 * 1024 * 1024;     // larger files go as they are
  std::uint64_t gzip_cache_size = 64 * 1024 * 1024;  // compressed bytes kept, all files together
};

// One served directory: its options, its open root, and what is cached of
// its files (content hashes for static_url, gzipped bodies). Shared by the
// handlers that serve it (one per request) and safe to share between the
// threads of a multi-loop server.
class StaticFiles {
 public:
  // Opens the root now; throws std::system_error when it is not a directory
  // that can be opened (at startup, with the path, rather than a 404 at
  // every request).
  explicit StaticFiles(StaticFileOptions options);
  ~StaticFiles();
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;

  const StaticFileOptions& options() const noexcept { return options_; }
  const File& root() const noexcept { return root_; }

  // Tornado's get_version: the MD5 of the file's content in hex, to put in a
  // URL as `?v=`. Computed once per file and cached; the cache checks the
  // file's size and time at most once a second, so an edited file gets a new
  // version without a restart. Empty when `path` cannot be read beneath the
  // root. It reads the file on the caller's thread when the file is new or
  // changed: a template's static_url() is synchronous, as Tornado's is.
  std::string version(std::string_view path);

  // The gzipped body of `path` in the state `etag` names, if cached.
  std::shared_ptr<const std::string> cached_gzip(const std::string& path, std::string_view etag);
  // Claims the compression of `path` (false: another request is making it).
  bool begin_gzip(const std::string& path);
  // Keeps what begin_gzip's claimant made (null: nothing, the file failed).
  void end_gzip(const std::string& path, std::string_view etag, std::shared_ptr<const std::string> body);

 private:
  struct Caches;
  StaticFileOptions options_;
  File root_;
  std::unique_ptr<Caches> caches_;
};

class StaticFileHandler : public RequestHandler {
 public:
  explicit StaticFileHandler(std::shared_ptr<StaticFiles> files) : files_(std::move(files)) {}

  // HEAD runs this too (RequestHandler's default) and reads nothing.
  Task<void> get() override;

  // Cache-Control max-age for a URL carrying `v`.
  static constexpr std::chrono::seconds kVersionedMaxAge{365 * 24 * 3600};

 protected:
  // Tornado's hooks. The Content-Type for `path` (guess_content_type).
  virtual std::string_view get_content_type(std::string_view path);
  // Headers of the application's own, added to every file response.
  virtual void set_extra_headers(std::string_view /*path*/) {}

 private:
  struct Target;
  Task<bool> open_target(Target& target);
  Task<File> open_beneath(const std::string& path, bool directory_url);
  void set_validators(Target& target, bool gzipped);
  bool fails_precondition(const Target& target);
  bool not_modified(const Target& target);
  ByteRange requested_range(const Target& target);
  Task<void> send_identity(Target& target, std::uint64_t offset, std::uint64_t length);
  Task<void> send_gzipped(const std::string& body);
  Task<std::shared_ptr<const std::string>> gzipped(Target& target);

  std::shared_ptr<StaticFiles> files_;
};

}  // namespace whirl
