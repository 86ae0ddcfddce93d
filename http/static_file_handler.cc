#include "whirl/http/static_file_handler.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <system_error>

#include "http/gzip_content_encoding.h"
#include "whirl/http/gzip.h"
#include "whirl/http/mime_types.h"
#include "whirl/net/iostream.h"

namespace whirl {

namespace {

// MD5 of everything `fd` reads, in hex; empty when a read fails.
std::string md5_hex(int fd) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_md5(), nullptr) != 1) return {};
  std::string buffer(64 * 1024, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {};
    if (n == 0) break;
    EVP_DigestUpdate(context.get(), buffer.data(), static_cast<std::size_t>(n));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  if (EVP_DigestFinal_ex(context.get(), digest, &size) != 1) return {};
  std::string hex;
  for (unsigned i = 0; i < size; ++i) fmt::format_to(std::back_inserter(hex), "{:02x}", digest[i]);
  return hex;
}

// The checks on a request's path before anything is opened. Throws the
// HTTPError it earns.
void check_path(std::string_view path, bool serve_hidden) {
  if (path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos) {
    throw HTTPError(403, "a path with a NUL or a backslash is not served");
  }
  if (path.starts_with('/')) throw HTTPError(403, "an absolute path is not served");
  while (!path.empty()) {
    std::size_t slash = path.find('/');
    std::string_view segment = path.substr(0, slash);
    // An empty segment ("a//b"), "." or "..": a spelling that could only
    // mean to reach somewhere else (RESOLVE_BENEATH would stop "..", but a
    // path that tries is refused before it is opened).
    if (segment.empty() || segment == "." || segment == "..") {
      throw HTTPError(403, fmt::format("path segment '{}' is not served", segment));
    }
    if (segment.front() == '.' && !serve_hidden) throw HTTPError(404);  // a dot-file: not there, as far as anyone knows
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);  // a trailing '/' leaves it empty: a directory's URL
  }
}

bool is_errno(const std::error_code& code, std::initializer_list<int> values) {
  if (code.category() != std::generic_category() && code.category() != std::system_category()) return false;
  for (int value : values) {
    if (code.value() == value) return true;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------- StaticFiles

struct StaticFiles::Caches {
  struct Version {
    FileInfo file;
    std::string hash;
    std::time_t checked_at = 0;
  };
  struct Gzipped {
    std::string path;
    std::string etag;
    std::shared_ptr<const std::string> body;
  };

  std::mutex mutex;
  std::map<std::string, Version, std::less<>> versions;
  std::list<Gzipped> gzipped;  // most recently used first
  std::map<std::string, std::list<Gzipped>::iterator, std::less<>> gzipped_by_path;
  std::uint64_t gzipped_bytes = 0;
  std::set<std::string, std::less<>> compressing;

  void forget_gzipped(std::map<std::string, std::list<Gzipped>::iterator, std::less<>>::iterator found) {
    gzipped_bytes -= found->second->body->size();
    gzipped.erase(found->second);
    gzipped_by_path.erase(found);
  }
};

StaticFiles::StaticFiles(StaticFileOptions options)
    : options_(std::move(options)), root_(File::open_directory(options_.path)), caches_(std::make_unique<Caches>()) {}

StaticFiles::~StaticFiles() = default;

std::string StaticFiles::version(std::string_view path) {
  std::string name(path);
  std::time_t now = std::time(nullptr);
  {
    std::lock_guard lock(caches_->mutex);
    auto found = caches_->versions.find(name);
    if (found != caches_->versions.end() && found->second.checked_at == now) return found->second.hash;
  }
  File file;
  FileInfo info;
  try {
    file = File::open_now(root_, name);
    info = file.info();
  } catch (const std::system_error&) {
    return {};
  }
  if (!info.regular) return {};
  {
    std::lock_guard lock(caches_->mutex);
    auto found = caches_->versions.find(name);
    if (found != caches_->versions.end() && found->second.file == info) {
      found->second.checked_at = now;
      return found->second.hash;
    }
  }
  // A regular file opened O_NONBLOCK still reads (and waits for the disk):
  // the flag only matters for FIFOs and devices, which are refused above.
  std::string hash = md5_hex(file.fd());
  if (hash.empty()) return {};
  std::lock_guard lock(caches_->mutex);
  caches_->versions[name] = Caches::Version{info, hash, now};
  return hash;
}

std::shared_ptr<const std::string> StaticFiles::cached_gzip(const std::string& path, std::string_view etag) {
  std::lock_guard lock(caches_->mutex);
  auto found = caches_->gzipped_by_path.find(path);
  if (found == caches_->gzipped_by_path.end()) return nullptr;
  if (found->second->etag != etag) {
    caches_->forget_gzipped(found);  // the file changed: its old bytes are no use to anyone
    return nullptr;
  }
  caches_->gzipped.splice(caches_->gzipped.begin(), caches_->gzipped, found->second);
  return found->second->body;
}

bool StaticFiles::begin_gzip(const std::string& path) {
  std::lock_guard lock(caches_->mutex);
  return caches_->compressing.insert(path).second;
}

void StaticFiles::end_gzip(const std::string& path, std::string_view etag, std::shared_ptr<const std::string> body) {
  std::lock_guard lock(caches_->mutex);
  caches_->compressing.erase(path);
  if (!body || body->size() > options_.gzip_cache_size) return;
  auto found = caches_->gzipped_by_path.find(path);
  if (found != caches_->gzipped_by_path.end()) caches_->forget_gzipped(found);
  caches_->gzipped.push_front(Caches::Gzipped{path, std::string(etag), body});
  caches_->gzipped_by_path[path] = caches_->gzipped.begin();
  caches_->gzipped_bytes += body->size();
  while (caches_->gzipped_bytes > options_.gzip_cache_size) {
    caches_->forget_gzipped(caches_->gzipped_by_path.find(caches_->gzipped.back().path));
  }
}

// ---------------------------------------------------------------- StaticFileHandler

struct StaticFileHandler::Target {
  std::string path;  // beneath the root, as opened (a directory's default file included)
  File file;
  FileInfo info;
  std::string etag;
  std::string gzip_etag;
  std::string_view sent_etag;  // the variant's: etag or gzip_etag
  std::string_view content_type;
  bool compressible = false;
};

std::string_view StaticFileHandler::get_content_type(std::string_view path) { return guess_content_type(path); }

Task<void> StaticFileHandler::get() {
  Target target;
  bool found = co_await open_target(target);
  if (!found) co_return;  // redirected
  const StaticFileOptions& options = files_->options();
  target.etag = fmt::format("\"{:x}-{:x}\"", target.info.mtime_ns, target.info.size);
  target.gzip_etag = target.etag;
  target.gzip_etag.insert(target.gzip_etag.size() - 1, "-gz");
  target.content_type = get_content_type(target.path);
  target.compressible = options.gzip && GZipContentEncoding::compressible_type(target.content_type) &&
                        target.info.size >= GZipContentEncoding::kMinLength &&
                        target.info.size <= options.gzip_max_size;
  disable_compression();

  const HTTPHeaders& headers = request().headers;
  bool wants_gzip = target.compressible && !headers.contains("Range") &&
                    GZipContentEncoding::accepts_gzip(headers.get("Accept-Encoding"));
  // The validators of the variant this client gets, decided before anything
  // is compressed: a revalidation that ends in 304 or 412 costs no gzip.
  set_validators(target, wants_gzip);
  int refusal = fails_precondition(target) ? 412 : not_modified(target) ? 304 : 0;
  if (refusal != 0) {
    set_status(refusal);
    // The representation's own headers go; its validators stay (RFC 9110 15.4.5).
    clear_header("Content-Type");
    clear_header("Content-Encoding");
    finish();
    co_return;
  }
  std::shared_ptr<const std::string> gzipped_body;
  if (wants_gzip) {
    gzipped_body = co_await gzipped(target);
    if (!gzipped_body) set_validators(target, false);  // being made by another request: this one goes as it is
  }
  bool head = request().method == "HEAD";
  if (gzipped_body) {
    set_header("Content-Length", std::to_string(gzipped_body->size()));
    if (!head) co_await send_gzipped(*gzipped_body);
    if (!finished()) finish();
    co_return;
  }
  std::uint64_t offset = 0;
  std::uint64_t length = target.info.size;
  ByteRange range = requested_range(target);
  if (range.kind == ByteRange::Kind::kUnsatisfiable) {
    set_status(416);
    set_header("Content-Range", fmt::format("bytes */{}", target.info.size));
    clear_header("Content-Type");
    finish();
    co_return;
  }
  if (range.kind == ByteRange::Kind::kSatisfiable) {
    set_status(206);
    offset = range.first;
    length = range.length;
    set_header("Content-Range", fmt::format("bytes {}-{}/{}", offset, offset + length - 1, target.info.size));
  }
  set_header("Content-Length", std::to_string(length));
  if (!head) co_await send_identity(target, offset, length);
  if (!finished()) finish();
  co_await target.file.close();
}

Task<bool> StaticFileHandler::open_target(Target& target) {
  const StaticFileOptions& options = files_->options();
  std::string_view path = path_arg("path");
  check_path(path, options.serve_hidden);
  bool directory_url = path.empty() || path.back() == '/';
  if (directory_url && options.default_filename.empty()) throw HTTPError(403, "directory listings are not served");
  target.path = std::string(path);
  if (directory_url) target.path += options.default_filename;
  File opened = co_await open_beneath(target.path, directory_url);  // named: GCC 12 (README)
  target.file = std::move(opened);
  target.info = target.file.info();
  if (target.info.directory) {
    if (directory_url || options.default_filename.empty()) throw HTTPError(403, "a directory is not served");
    // Tornado's redirect to "dir/", so that the index's relative links
    // resolve inside the directory. A path beginning "//" would make the
    // Location another host's (a protocol-relative URL): never redirected.
    std::string_view url = request().path;
    if (url.starts_with("//")) throw HTTPError(404);
    redirect(std::string(url) + "/", /*permanent=*/true);
    co_return false;
  }
  if (!target.info.regular) throw HTTPError(403, "only regular files are served");
  co_return true;
}

Task<File> StaticFileHandler::open_beneath(const std::string& path, bool directory_url) {
  std::error_code error;
  try {
    File file = co_await File::open(files_->root(), path);  // named: GCC 12 (README)
    co_return file;
  } catch (const std::system_error& e) {
    error = e.code();
  }
  if (is_errno(error, {ENOENT, ENOTDIR, ENAMETOOLONG})) {
    if (directory_url) {
      // The default file is missing. Is the directory there? A directory
      // without its index is 403 (nginx's answer), a missing one 404.
      std::string directory = path.substr(0, path.size() - files_->options().default_filename.size());
      if (directory.empty()) directory = ".";
      bool exists = true;
      try {
        // Named, not a temporary in the co_await (GCC 12, README).
        File dir = co_await File::open(files_->root(), directory);
        exists = dir.info().directory;
      } catch (const std::system_error&) {
        exists = false;
      }
      if (exists) throw HTTPError(403, "a directory without its default file is not served");
    }
    throw HTTPError(404);
  }
  // EXDEV: the path (a symlink in it) would leave the root; ELOOP: a
  // symlink loop or a magic link.
  if (is_errno(error, {EXDEV, ELOOP, EACCES, EPERM})) {
    throw HTTPError(403, fmt::format("{}: {}", path, error.message()));
  }
  if (is_errno(error, {EMFILE, ENFILE})) throw HTTPError(503, fmt::format("{}: {}", path, error.message()));
  throw std::system_error(error, path);
}

void StaticFileHandler::set_validators(Target& target, bool gzipped) {
  target.sent_etag = gzipped ? target.gzip_etag : target.etag;
  set_header("Accept-Ranges", "bytes");
  set_header("ETag", target.sent_etag);
  set_header("Last-Modified", format_http_date(static_cast<std::time_t>(target.info.mtime_seconds())));
  set_header("Content-Type", target.content_type);
  if (target.compressible) set_header("Vary", "Accept-Encoding");
  if (gzipped) {
    set_header("Content-Encoding", "gzip");
  } else {
    clear_header("Content-Encoding");
  }
  if (request().get_argument("v")) {
    set_header("Cache-Control", fmt::format("max-age={}, public", kVersionedMaxAge.count()));
    set_header("Expires", format_http_date(std::time(nullptr) + kVersionedMaxAge.count()));
  }
  set_extra_headers(target.path);
}

bool StaticFileHandler::fails_precondition(const Target& target) {
  const HTTPHeaders& headers = request().headers;
  if (headers.contains("If-Match")) {
    return !etag_list_matches(headers.get("If-Match"), target.sent_etag, /*weak=*/false);
  }
  if (headers.contains("If-Unmodified-Since")) {
    std::optional<std::time_t> since = parse_http_date(headers.get("If-Unmodified-Since"));
    return since && target.info.mtime_seconds() > *since;
  }
  return false;
}

bool StaticFileHandler::not_modified(const Target& target) {
  const HTTPHeaders& headers = request().headers;
  // If-None-Match, when present, decides alone (RFC 9110 13.1.3).
  if (headers.contains("If-None-Match")) {
    return etag_list_matches(headers.get("If-None-Match"), target.sent_etag, /*weak=*/true);
  }
  if (headers.contains("If-Modified-Since")) {
    std::optional<std::time_t> since = parse_http_date(headers.get("If-Modified-Since"));
    return since && target.info.mtime_seconds() <= *since;
  }
  return false;
}

ByteRange StaticFileHandler::requested_range(const Target& target) {
  const HTTPHeaders& headers = request().headers;
  // RFC 9110 14.2: range handling is defined for GET only (a HEAD says 200).
  if (request().method != "GET" || !headers.contains("Range") || target.info.size == 0) return {};
  if (headers.contains("If-Range")) {
    // The range only if the client's copy is this one (RFC 9110 13.1.5): a
    // strong ETag equal to ours, or exactly our Last-Modified.
    std::string_view validator = headers.get("If-Range");
    bool same = false;
    if (validator.starts_with('"') || validator.starts_with("W/")) {
      same = etag_list_matches(validator, target.etag, /*weak=*/false) && !validator.starts_with("W/");
    } else {
      std::optional<std::time_t> date = parse_http_date(validator);
      same = date && *date == target.info.mtime_seconds();
    }
    if (!same) return {};
  }
  return parse_byte_range(headers.get("Range"), target.info.size);
}

Task<void> StaticFileHandler::send_identity(Target& target, std::uint64_t offset, std::uint64_t length) {
  if (length > IOStream::kFilePiece) {
    co_await write_file(target.file, offset, length);
    co_return;
  }
  // Small: read whole, so that it leaves with the headers in one send.
  std::string body(static_cast<std::size_t>(length), '\0');
  std::size_t got = co_await target.file.read_at(body, offset);
  if (got < length) throw std::runtime_error(fmt::format("{} shrank while it was read", target.path));
  finish(body);
}

Task<void> StaticFileHandler::send_gzipped(const std::string& body) {
  // In pieces, each waited for: a slow client holds one piece, not the
  // whole body (its bytes stay in the cache, shared).
  std::string_view rest = body;
  while (rest.size() > IOStream::kFilePiece) {
    write(rest.substr(0, IOStream::kFilePiece));
    rest.remove_prefix(IOStream::kFilePiece);
    co_await flush();
  }
  finish(rest);
}

Task<std::shared_ptr<const std::string>> StaticFileHandler::gzipped(Target& target) {
  if (auto cached = files_->cached_gzip(target.path, target.etag)) co_return cached;
  if (!files_->begin_gzip(target.path)) co_return nullptr;
  // Whatever happens to this frame (an error, the client gone, the server
  // destroying it), the claim ends, or nobody would compress this file again.
  struct Claim {
    StaticFiles& files;
    const std::string& path;
    const std::string& etag;
    std::shared_ptr<const std::string> made;
    ~Claim() { files.end_gzip(path, etag, std::move(made)); }
  } claim{*files_, target.path, target.etag, nullptr};
  auto body = std::make_shared<std::string>();
  GzipCompressor compressor;
  std::string piece(static_cast<std::size_t>(std::min<std::uint64_t>(target.info.size, IOStream::kFilePiece)), '\0');
  for (std::uint64_t offset = 0; offset < target.info.size;) {
    std::size_t got = co_await target.file.read_at(piece, offset);
    if (got == 0) throw std::runtime_error(fmt::format("{} shrank while it was compressed", target.path));
    compressor.compress(std::string_view(piece).substr(0, got), *body);
    offset += got;
  }
  compressor.finish(*body);
  claim.made = body;
  co_return body;
}

}  // namespace whirl
