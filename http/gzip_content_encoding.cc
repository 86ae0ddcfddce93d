#include "http/gzip_content_encoding.h"

#include <string>

namespace whirl {

bool GZipContentEncoding::accepts_gzip(std::string_view accept_encoding) noexcept {
  // Token match, ignoring q-values except an explicit q=0.
  std::size_t at = accept_encoding.find("gzip");
  if (at == std::string_view::npos) return false;
  std::string_view rest = accept_encoding.substr(at + 4);
  rest = rest.substr(0, rest.find(','));
  return rest.find("q=0") == std::string_view::npos || rest.find("q=0.") != std::string_view::npos;
}

bool GZipContentEncoding::compressible_type(std::string_view content_type) noexcept {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  return type.starts_with("text/") || type == "application/json" || type == "application/javascript" ||
         type == "application/xml" || type == "image/svg+xml" || type.ends_with("+json") || type.ends_with("+xml");
}

std::unique_ptr<GZipContentEncoding> GZipContentEncoding::transform_first_chunk(const HTTPHeaders& request_headers,
                                                                                int status_code, HTTPHeaders& headers,
                                                                                std::string& chunk, bool finishing) {
  if (finishing && chunk.size() < kMinLength) return nullptr;
  // A 206's Content-Range counts bytes of the body as it stands.
  if (status_code == 204 || status_code == 206 || status_code == 304 || headers.contains("Content-Encoding")) {
    return nullptr;
  }
  if (!accepts_gzip(request_headers.get("Accept-Encoding"))) return nullptr;
  if (!compressible_type(headers.get("Content-Type"))) return nullptr;
  headers.add("Vary", "Accept-Encoding");
  headers.set("Content-Encoding", "gzip");
  // A streamed body's size is unknown: the full window.
  auto encoding = std::make_unique<GZipContentEncoding>(finishing ? ZlibFormat::gzip_for(chunk.size()) : ZlibFormat{});
  encoding->transform_chunk(chunk, finishing);
  // A length the handler set counted the uncompressed bytes (Tornado's
  // transform does the same): the whole body's is known now, a streamed
  // one's is not (chunked then).
  if (finishing) {
    headers.set("Content-Length", std::to_string(chunk.size()));
  } else {
    headers.remove("Content-Length");
  }
  return encoding;
}

void GZipContentEncoding::transform_chunk(std::string& chunk, bool finishing) {
  out_.clear();
  if (finishing) {
    compressor_.finish(chunk, out_);
  } else {
    compressor_.compress(chunk, out_, /*flush=*/true);
  }
  chunk.swap(out_);
}

}  // namespace whirl
