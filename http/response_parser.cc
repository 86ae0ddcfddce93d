#include "whirl/http/response_parser.h"

#include <algorithm>
#include <cstring>

#include "whirl/http/byte_scan.h"
#include "whirl/http/http_headers.h"

namespace whirl {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// The last element of a comma-separated list, trimmed.
std::string_view last_element(std::string_view list) noexcept {
  std::size_t comma = list.rfind(',');
  return trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1));
}

// True when none of the n bytes is below 0x20 or DEL (so also no HTAB: a
// false answer only sends the caller to its exact byte loop). Eight bytes
// per step (byte_scan.h).
bool no_control_bytes(const unsigned char* p, std::size_t n) noexcept {
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t word = byte_scan::load64(p);
    if (byte_scan::has_byte_below(word, 0x20) || byte_scan::has_byte(word, 0x7f)) return false;
  }
  for (; n > 0; ++p, --n) {
    if (*p < 0x20 || *p == 0x7f) return false;
  }
  return true;
}

// A token (already checked to be one) against a lower-case name of letters
// and '-': OR-ing 0x20 lowers a letter, and the only byte it could turn into
// '-' is CR, which is no tchar.
bool name_is(std::string_view token, std::string_view lower_name) noexcept {
  if (token.size() != lower_name.size()) return false;
  for (std::size_t i = 0; i < token.size(); ++i) {
    if ((token[i] | 0x20) != lower_name[i]) return false;
  }
  return true;
}

}  // namespace

void ResponseParser::start(bool head_request) noexcept {
  // Field by field rather than `*this = ResponseParser(limits_)`: this runs
  // once per response, and the chunked decoder is only reset when used.
  if (state_ == State::kChunked || head_.chunked_coding) chunked_.reset();
  state_ = State::kHead;
  head_request_ = head_request;
  head_ = HeadFacts{};
  keep_alive_ = false;
  fields_ = 0;
  remaining_ = body_bytes_ = 0;
  head_bytes_ = 0;
  error_reason_ = "";
}

ResponseParser::Result ResponseParser::fail(const char* reason) noexcept {
  state_ = State::kError;
  error_reason_ = reason;
  return Result::kError;
}

ResponseParser::Result ResponseParser::parse(std::string_view in, std::size_t& consumed) {
  consumed = 0;
  if (state_ == State::kHead) take_known_head(in, consumed);
  for (;;) {
    std::string_view rest(in.data() + consumed, in.size() - consumed);  // consumed <= in.size()
    switch (state_) {
      case State::kHead: {
        std::size_t used = 0;
        Result result = parse_head(rest, used);
        consumed += used;
        if (result != Result::kDone) return result;
        continue;  // choose_framing() moved on (or back to kHead after a 1xx)
      }
      case State::kFixed: {
        auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, rest.size()));
        if (take != 0) body_received(rest.substr(0, take));
        consumed += take;
        remaining_ -= take;
        body_bytes_ += take;
        if (remaining_ != 0) return Result::kNeedMore;
        state_ = State::kDone;
        return Result::kDone;
      }
      case State::kChunked: {
        std::size_t used = 0;
        std::string_view data;
        ChunkedDecoder::Result result = chunked_.decode(rest, used, data);
        consumed += used;
        body_bytes_ += data.size();
        if (!data.empty()) body_received(data);
        if (result == ChunkedDecoder::Result::kError) return fail("bad chunked body");
        if (result == ChunkedDecoder::Result::kDone) {
          state_ = State::kDone;
          return Result::kDone;
        }
        if (result == ChunkedDecoder::Result::kNeedMore) return Result::kNeedMore;
        continue;  // kData: more may follow in `in`
      }
      case State::kUntilClose:
        if (!rest.empty()) body_received(rest);
        consumed += rest.size();
        body_bytes_ += rest.size();
        return Result::kNeedMore;
      case State::kDone:
        return Result::kDone;
      case State::kError:
        return Result::kError;
    }
  }
}

ResponseParser::Result ResponseParser::finish_at_close() noexcept {
  if (state_ == State::kUntilClose || state_ == State::kDone) {
    state_ = State::kDone;
    return Result::kDone;
  }
  if (state_ == State::kError) return Result::kError;
  return fail("connection closed before the response ended");
}

// The whole head must be in `in`; until it is, nothing is consumed and the
// next call starts over (heads are small, so rescanning costs little).
ResponseParser::Result ResponseParser::parse_head(std::string_view in, std::size_t& consumed) {
  std::size_t pos = 0;
  bool first = true;
  fields_ = 0;
  for (;;) {
    std::size_t limit = std::min(in.size(), limits_.max_head_size);
    const void* lf = std::memchr(in.data() + pos, '\n', limit - pos);
    if (lf == nullptr) {
      if (in.size() >= limits_.max_head_size) return fail("response head too large");
      return Result::kNeedMore;
    }
    std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - in.data());
    if (end == pos || in[end - 1] != '\r') return fail("bare LF in response head");
    // A CR inside the line is caught below: the status line's reason, names
    // and values all refuse control bytes.
    std::string_view line = in.substr(pos, end - 1 - pos);
    pos = end + 1;
    if (first) {
      if (!parse_status_line(line)) return Result::kError;
      first = false;
      continue;
    }
    if (line.empty()) break;
    if (++fields_ > limits_.max_headers) return fail("too many header fields");
    if (!parse_field(line)) return Result::kError;
  }
  consumed = pos;
  head_bytes_ += pos;
  choose_framing();
  if (state_ == State::kError) return Result::kError;
  head_parsed(in.substr(0, pos));
  return Result::kDone;
}

std::string_view ResponseParser::split_head(std::string_view head, HTTPHeaders& headers) {
  headers.assign_block(head);
  std::size_t line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  std::size_t pos = line_end + 2;
  while (pos + 2 <= head.size()) {
    std::size_t end = head.find("\r\n", pos);
    if (end == pos || end == std::string_view::npos) break;  // the empty line that ends the head
    std::size_t colon = head.find(':', pos);
    std::size_t begin = colon + 1;
    while (begin < end && (head[begin] == ' ' || head[begin] == '\t')) ++begin;
    std::size_t value_end = end;
    while (value_end > begin && (head[value_end - 1] == ' ' || head[value_end - 1] == '\t')) --value_end;
    headers.add_from_block(static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(colon - pos),
                           static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(value_end - begin));
    pos = end + 2;
  }
  return status_line;
}

ResponseParser::HeadState ResponseParser::head_state() const noexcept {
  HeadState state;
  state.facts_ = head_;
  state.state_ = state_;
  state.keep_alive_ = keep_alive_;
  state.remaining_ = remaining_;
  state.head_request_ = head_request_;
  return state;
}

void ResponseParser::resume_after_head(const HeadState& state, std::size_t head_bytes) noexcept {
  head_ = state.facts_;
  state_ = state.state_;
  keep_alive_ = state.keep_alive_;
  remaining_ = state.remaining_;
  head_bytes_ += head_bytes;
}

void ResponseParser::complete_response(const HeadState& state, std::size_t head_bytes) noexcept {
  head_ = state.facts_;
  state_ = State::kDone;
  keep_alive_ = state.keep_alive_;
  remaining_ = 0;
  head_bytes_ = head_bytes;
  body_bytes_ = state.body_length();
}

bool ResponseParser::parse_status_line(std::string_view line) {
  // HTTP/1.x SP 3DIGIT SP [reason-phrase]
  if (line.size() < 13 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
      !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) || line[12] != ' ') {
    fail("malformed status line");
    return false;
  }
  for (unsigned char c : line.substr(13)) {
    if (!is_field_value_byte(c)) {
      fail("control byte in reason phrase");
      return false;
    }
  }
  head_.http11 = line[7] == '1';
  head_.code = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (head_.code < 100) {
    fail("status code below 100");
    return false;
  }
  // A final response after a 1xx starts from nothing.
  head_.has_length = head_.chunked_coding = head_.has_transfer_encoding = head_.connection_close = false;
  head_.content_length = 0;
  return true;
}

bool ResponseParser::parse_field(std::string_view line) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(line.data());
  std::size_t size = line.size();
  std::size_t colon = 0;
  while (colon < size && is_tchar(bytes[colon])) ++colon;
  if (colon == 0 || colon == size || bytes[colon] != ':') {
    fail(bytes[0] == ' ' || bytes[0] == '\t' ? "obs-fold in response head" : "malformed header field");
    return false;
  }
  // The value: leading OWS skipped, every byte checked (eight at a time
  // while none is a control byte), trailing OWS dropped.
  std::size_t begin = colon + 1;
  while (begin < size && (bytes[begin] == ' ' || bytes[begin] == '\t')) ++begin;
  if (!no_control_bytes(bytes + begin, size - begin)) {
    for (std::size_t i = begin; i < size; ++i) {
      if (!is_field_value_byte(bytes[i])) {
        fail("control byte in header value");
        return false;
      }
    }
  }
  std::size_t end = size;
  while (end > begin && (bytes[end - 1] == ' ' || bytes[end - 1] == '\t')) --end;
  std::string_view name = line.substr(0, colon);
  std::string_view value = line.substr(begin, end - begin);
  // Only the framing headers matter; the length is compared first, it is cheap.
  if (colon == 14 && name_is(name, "content-length")) {
    std::uint64_t length = 0;
    const char* problem = nullptr;
    if (!parse_decimal(value, length)) {
      problem = "invalid Content-Length";
    } else if (head_.has_length && length != head_.content_length) {
      problem = "conflicting Content-Length headers";
    }
    if (problem != nullptr) {
      fail(problem);
      return false;
    }
    head_.has_length = true;
    head_.content_length = length;
  } else if (colon == 17 && name_is(name, "transfer-encoding")) {
    head_.has_transfer_encoding = true;
    head_.chunked_coding = iequals(last_element(value), "chunked");
  } else if (colon == 10 && name_is(name, "connection")) {
    head_.connection_close = head_.connection_close || list_contains(value, "close");
  }
  return true;
}

void ResponseParser::choose_framing() {
  if (head_.code < 200 && head_.code != 101) {
    state_ = State::kHead;  // interim response: the final one follows
    return;
  }
  keep_alive_ = head_.http11 && !head_.connection_close;
  if (head_.has_transfer_encoding && head_.has_length) {
    fail("both Transfer-Encoding and Content-Length");
    return;
  }
  if (head_request_ || head_.code == 204 || head_.code == 304 || head_.code == 101) {
    state_ = State::kDone;
    if (head_.code == 101) keep_alive_ = false;  // the connection speaks another protocol now
    return;
  }
  if (head_.has_transfer_encoding && head_.chunked_coding) {
    state_ = State::kChunked;
  } else if (head_.has_length && !head_.has_transfer_encoding) {
    remaining_ = head_.content_length;
    state_ = State::kFixed;
  } else {
    state_ = State::kUntilClose;  // RFC 9112 6.3 (7), and a TE not ending in chunked
    keep_alive_ = false;
  }
}

}  // namespace whirl
