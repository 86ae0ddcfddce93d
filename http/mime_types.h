// whirl/http/mime_types.h: the media type of a file, from its name.
//
//     guess_content_type("css/site.css")    // "text/css; charset=utf-8"
//     guess_content_type("logo.SVG")        // "image/svg+xml"
//     guess_content_type("data.bin")        // "application/octet-stream"
//
// What Python's mimetypes.guess_type gives Tornado's StaticFileHandler, as
// a fixed table of the types the web serves (extensions compared without
// case): markup, styles and scripts, data formats, images, fonts, audio,
// video, archives and WebAssembly. Text types say charset=utf-8, the
// encoding of nearly every file a web server holds, so a browser does not
// guess one. A name the table does not know is application/octet-stream
// (a download, never something a browser would render or run).
#pragma once

#include <string_view>

namespace whirl {

std::string_view guess_content_type(std::string_view path) noexcept;

}  // namespace whirl
