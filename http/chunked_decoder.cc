#include "whirl/http/chunked_decoder.h"

#include <algorithm>
#include <cstdint>

#include "whirl/http/http_headers.h"

namespace whirl {

namespace {

using Result = ChunkedDecoder::Result;

constexpr bool is_qdtext(unsigned char c) noexcept {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c != 0x7f);
}

// token or quoted-string, consumed from the front of `s`.
bool take_ext_value(std::string_view& s) noexcept {
  if (!s.empty() && s.front() == '"') {
    for (std::size_t i = 1; i < s.size(); ++i) {
      auto c = static_cast<unsigned char>(s[i]);
      if (c == '"') {
        s.remove_prefix(i + 1);
        return true;
      }
      if (c == '\\') {
        if (++i == s.size()) return false;
        auto escaped = static_cast<unsigned char>(s[i]);
        if (escaped < 0x20 ? escaped != '\t' : escaped == 0x7f) return false;
      } else if (!is_qdtext(c)) {
        return false;
      }
    }
    return false;  // unterminated
  }
  std::size_t end = std::min(s.find(';'), s.size());
  if (!HTTPHeaders::is_token(s.substr(0, end))) return false;
  s.remove_prefix(end);
  return true;
}

// *( ";" token [ "=" ( token / quoted-string ) ] ), no whitespace.
bool valid_extensions(std::string_view s) noexcept {
  while (!s.empty()) {
    if (s.front() != ';') return false;
    s.remove_prefix(1);
    std::size_t end = std::min(s.find_first_of(";="), s.size());
    if (!HTTPHeaders::is_token(s.substr(0, end))) return false;
    s.remove_prefix(end);
    if (!s.empty() && s.front() == '=') {
      s.remove_prefix(1);
      if (!take_ext_value(s)) return false;
    }
  }
  return true;
}

bool valid_trailer_field(std::string_view line) noexcept {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || !HTTPHeaders::is_token(line.substr(0, colon))) return false;
  for (unsigned char c : line.substr(colon + 1)) {
    if (!is_field_value_byte(c)) return false;
  }
  return true;
}

}  // namespace

Result ChunkedDecoder::fail(const char* reason) noexcept {
  state_ = State::kError;
  error_reason_ = reason;
  return Result::kError;
}

Result ChunkedDecoder::decode(std::string_view in, std::size_t& consumed, std::string_view& data) {
  std::size_t pos = 0;
  data = {};
  Result result = Result::kNeedMore;
  // Framing elements are consumed until data, the end, an error, or a
  // shortage of input.
  while (result == Result::kNeedMore) {
    std::size_t before = pos;
    result = step(in, pos, data);
    if (result == Result::kNeedMore && pos == before) break;
  }
  consumed = pos;
  return result;
}

// One element. kNeedMore with `pos` advanced means "go on".
Result ChunkedDecoder::step(std::string_view in, std::size_t& pos, std::string_view& data) {
  switch (state_) {
    case State::kSize:
      return read_size_line(in, pos);
    case State::kData: {
      std::size_t available = in.size() - pos;
      if (available == 0) return Result::kNeedMore;
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, available));
      data = in.substr(pos, take);
      pos += take;
      remaining_ -= take;
      if (remaining_ == 0) state_ = State::kDataEnd;
      return Result::kData;
    }
    case State::kDataEnd:
      if (in.size() - pos < 2) {
        if (in.size() > pos && in[pos] != '\r') return fail("Chunk data not followed by CRLF");
        return Result::kNeedMore;
      }
      if (in.substr(pos, 2) != "\r\n") return fail("Chunk data not followed by CRLF");
      pos += 2;
      state_ = State::kSize;
      return Result::kNeedMore;
    case State::kTrailer:
      return read_trailer_line(in, pos);
    case State::kDone:
      return Result::kDone;
    case State::kError:
      return Result::kError;
  }
  return Result::kError;
}

std::size_t ChunkedDecoder::find_line_end(std::string_view in, std::size_t pos, std::size_t max) {
  std::size_t limit = std::min(in.size(), pos + max + 2);
  for (std::size_t i = pos; i < limit; ++i) {
    if (in[i] == '\n') {
      fail("Bare LF in chunked framing");
      return std::string_view::npos;
    }
    if (in[i] != '\r') continue;
    if (i + 1 == in.size()) return std::string_view::npos;  // wait for the LF
    if (in[i + 1] != '\n') {
      fail("Bare CR in chunked framing");
      return std::string_view::npos;
    }
    return i;
  }
  if (limit - pos >= max + 2) fail("Chunk line too long");
  return std::string_view::npos;
}

Result ChunkedDecoder::read_size_line(std::string_view in, std::size_t& pos) {
  std::size_t end = find_line_end(in, pos, limits_.max_line);
  if (state_ == State::kError) return Result::kError;
  if (end == std::string_view::npos) return Result::kNeedMore;
  std::string_view line = in.substr(pos, end - pos);
  std::size_t digits = 0;
  std::uint64_t size = 0;
  while (digits < line.size() && hex_value(line[digits]) >= 0) {
    // 16 significant hex digits fill 64 bits; leading zeros are harmless.
    if (size > (UINT64_MAX >> 4)) return fail("Chunk size overflows");
    size = size * 16 + static_cast<std::uint64_t>(hex_value(line[digits]));
    ++digits;
  }
  if (digits == 0) return fail("Invalid chunk size");
  if (!valid_extensions(line.substr(digits))) return fail("Invalid chunk size or extension");
  pos = end + 2;
  remaining_ = size;
  state_ = size == 0 ? State::kTrailer : State::kData;
  return Result::kNeedMore;
}

Result ChunkedDecoder::read_trailer_line(std::string_view in, std::size_t& pos) {
  std::size_t room = limits_.max_trailer_size - std::min(trailer_bytes_, limits_.max_trailer_size);
  std::size_t end = find_line_end(in, pos, room);
  if (state_ == State::kError) return Result::kError;
  if (end == std::string_view::npos) return Result::kNeedMore;
  std::string_view line = in.substr(pos, end - pos);
  pos = end + 2;
  if (line.empty()) {
    state_ = State::kDone;
    return Result::kDone;
  }
  trailer_bytes_ += line.size() + 2;
  if (++trailers_ > limits_.max_trailers) return fail("Too many trailer fields");
  if (line.front() == ' ' || line.front() == '\t') return fail("Obsolete line folding in trailer");
  if (!valid_trailer_field(line)) return fail("Invalid trailer field");
  return Result::kNeedMore;
}

}  // namespace whirl
