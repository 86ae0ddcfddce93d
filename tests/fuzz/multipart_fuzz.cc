// tests/fuzz/multipart_fuzz.cc: libFuzzer target for parse_multipart_form_data.
//
// The input's first line is the boundary (a trailing CR is dropped), the rest
// is the body. HTTPInputError is the only acceptable failure; any other
// exception, a crash, or a broken invariant below is a bug:
//   - a failed parse leaves the maps untouched;
//   - a successful one yields at most max_parts entries, each with a name,
//     files with a filename, and every value and file body is bytes of the
//     input body.
// Each input is parsed twice: with the defaults and with tight limits, so
// the limit checks are reached by small inputs too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "whirl/http/httputil.h"

namespace {

using whirl::ArgumentMap;
using whirl::FileMap;
using whirl::MultipartLimits;

void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

bool is_in(std::string_view body, std::string_view piece) { return body.find(piece) != std::string_view::npos; }

void check_result(std::string_view body, const ArgumentMap& arguments, const FileMap& files,
                  const MultipartLimits& limits) {
  std::size_t count = 0;
  for (const auto& [name, values] : arguments) {
    check(!name.empty() && !values.empty());
    for (const std::string& value : values) check(is_in(body, value));
    count += values.size();
  }
  for (const auto& [name, uploads] : files) {
    check(!name.empty() && !uploads.empty());
    for (const whirl::HTTPFile& file : uploads) check(!file.filename.empty() && is_in(body, file.body));
    count += uploads.size();
  }
  check(count <= limits.max_parts);
}

void parse(std::string_view boundary, std::string_view body, const MultipartLimits& limits) {
  ArgumentMap arguments;
  FileMap files;
  try {
    whirl::parse_multipart_form_data(boundary, body, arguments, files, limits);
  } catch (const whirl::HTTPInputError&) {
    check(arguments.empty() && files.empty());
    return;
  }
  check_result(body, arguments, files, limits);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t eol = input.find('\n');
  std::string_view boundary = input.substr(0, eol);
  if (boundary.ends_with('\r')) boundary.remove_suffix(1);
  const std::string_view body = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
  parse(boundary, body, MultipartLimits{});
  MultipartLimits tight;
  tight.max_parts = 3;
  tight.max_part_header_size = 64;
  parse(boundary, body, tight);
  return 0;
}
