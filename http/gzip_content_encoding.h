// whirl/http/gzip_content_encoding.h: Tornado's GZipContentEncoding, the
// policy that gzips a response (an implementation detail of web.cc).
//
//     // The first piece of the body: null when this response stays as it is.
//     auto gzip = GZipContentEncoding::transform_first_chunk(request.headers, status, headers, body, finishing);
//     if (gzip) gzip->transform_chunk(next_piece, finishing);   // the later pieces
//
// A response is compressed when the client accepts gzip (a token in
// Accept-Encoding without q=0), its status can carry a whole body (not
// 204/206/304),
// it has no Content-Encoding already, its type is text-like (text/*, JSON,
// JavaScript, XML, SVG) and it is not a small body sent whole (under
// kMinLength bytes compression costs more than it saves). A compressed
// response gets `Content-Encoding: gzip` and `Vary: Accept-Encoding`, and
// a Content-Length the handler set is replaced by the compressed length
// (or removed, when the body is streamed). Level 6, as Tornado's.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "whirl/http/gzip.h"
#include "whirl/http/http_headers.h"

namespace whirl {

class GZipContentEncoding {
 public:
  static constexpr std::size_t kMinLength = 1024;

  // Decides, for the first piece of the body, whether this response is
  // compressed. If so, updates `headers`, compresses `chunk` in place and
  // returns the encoding for the later pieces; else returns null and
  // changes nothing. `finishing`: `chunk` is the whole body. (A factory, not
  // a constructor: most responses are not compressed and allocate nothing.)
  static std::unique_ptr<GZipContentEncoding> transform_first_chunk(const HTTPHeaders& request_headers, int status_code,
                                                                    HTTPHeaders& headers, std::string& chunk,
                                                                    bool finishing);
  // Compresses a later piece in place.
  void transform_chunk(std::string& chunk, bool finishing);

  // Made by transform_first_chunk; public for make_unique. A body sent
  // whole gets zlib state sized to it (ZlibFormat::gzip_for).
  explicit GZipContentEncoding(ZlibFormat format) : compressor_(6, format) {}

  // Whether `accept_encoding` (an Accept-Encoding value) admits gzip.
  static bool accepts_gzip(std::string_view accept_encoding) noexcept;
  // Whether a body of `content_type` is worth compressing.
  static bool compressible_type(std::string_view content_type) noexcept;

 private:
  GzipCompressor compressor_;
  std::string out_;
};

}  // namespace whirl
