#include "http/client_exchange.h"

#include <fmt/format.h>

#include <chrono>

#include "whirl/runtime/errors.h"

namespace whirl::detail {
namespace {

[[noreturn]] void body_too_large(std::uint64_t limit) {
  throw HTTPClientError(599, fmt::format("response body larger than max_body_size ({} bytes)", limit));
}

ResponseParser::Limits reader_limits(const ResponseHandling& handling) noexcept {
  ResponseParser::Limits limits;
  limits.max_head_size = handling.max_header_size;
  return limits;
}

// How long a head with Expect: 100-continue waits for the 100 before the
// body goes anyway (curl's default): a server that ignores Expect must not
// cost more than that.
constexpr auto kContinueWait = std::chrono::seconds(1);

// A producer's body, framed as the head said: chunks, or exactly the
// declared Content-Length (more would be a second request on the wire,
// fewer a server waiting for ever).
class FramingBodyWriter final : public BodyWriter {
 public:
  FramingBodyWriter(IOStream& stream, bool chunked, std::optional<std::uint64_t> declared) noexcept
      : stream_(stream), chunked_(chunked), declared_(declared) {}

  Task<void> write(std::string_view data) override {
    if (data.empty()) co_return;  // an empty chunk would end a chunked body
    written_ += data.size();
    if (declared_ && written_ > *declared_) {
      throw std::length_error(
          fmt::format("body producer wrote more than the request's Content-Length ({} bytes)", *declared_));
    }
    if (chunked_) {
      std::string size_line = fmt::format("{:x}\r\n", data.size());
      stream_.write(size_line);
      stream_.write(data);
      co_await stream_.write("\r\n");
    } else {
      co_await stream_.write(data);
    }
  }

  Task<void> finish() {
    if (declared_ && written_ != *declared_) {
      throw std::length_error(
          fmt::format("body producer wrote {} bytes of the request's Content-Length {}", written_, *declared_));
    }
    if (chunked_) co_await stream_.write("0\r\n\r\n");
  }

 private:
  IOStream& stream_;
  bool chunked_;
  std::optional<std::uint64_t> declared_;
  std::uint64_t written_ = 0;
};

}  // namespace

// ---- ResponseReader ----

ResponseReader::ResponseReader(const ResponseHandling& handling, ReceivedResponse& out)
    : ResponseParser(reader_limits(handling)), handling_(handling), out_(out) {}

void ResponseReader::head_parsed(std::string_view head) {
  int status = code();
  if (status < 200 && status != 101) {  // interim: the final head follows
    if (status == 100) saw_continue_ = true;
    return;
  }
  head_done_ = true;
  std::string_view status_line = split_head(head, out_.headers);
  out_.code = status;
  out_.reason = std::string(status_line.size() > 13 ? status_line.substr(13) : std::string_view());
  if (handling_.passes_through && handling_.passes_through(status, out_.headers)) {
    out_.passed_through = true;
    return;
  }
  call_header_callback(head);
  bool has_body = !head_request() && status != 204 && status != 304 && status != 101;
  std::uint64_t declared = 0;
  if (has_body && parse_decimal(out_.headers.get("Content-Length"), declared) && declared > handling_.max_body_size) {
    body_too_large(handling_.max_body_size);  // refused before a byte of it is read
  }
  if (!handling_.decompress) return;
  std::string coding(out_.headers.get("Content-Encoding"));
  if (!iequals(coding, "gzip") && !iequals(coding, "x-gzip")) return;
  // Tornado's rename: the body handed over is no longer gzip, and a caller
  // that looks can still see that it was.
  out_.headers.remove("Content-Encoding");
  out_.headers.add("X-Consumed-Content-Encoding", coding);
  gzip_ = std::make_unique<GzipDecompressor>(handling_.max_body_size);
}

void ResponseReader::call_header_callback(std::string_view head) const {
  if (handling_.header_callback == nullptr || !*handling_.header_callback) return;
  while (!head.empty()) {
    std::size_t end = head.find("\r\n");
    std::size_t size = end == std::string_view::npos ? head.size() : end + 2;
    (*handling_.header_callback)(head.substr(0, size));
    head.remove_prefix(size);
  }
}

void ResponseReader::body_received(std::string_view data) {
  if (out_.passed_through) {  // a redirect's body: read to keep the connection, then dropped
    delivered_ += data.size();
    if (delivered_ > handling_.max_body_size) body_too_large(handling_.max_body_size);
    return;
  }
  if (!gzip_) {
    deliver(data);
    return;
  }
  gzip_fed_ = true;
  try {
    gzip_->feed(data);
    for (std::string_view piece = gzip_->next_piece(); !piece.empty(); piece = gzip_->next_piece()) deliver(piece);
  } catch (const GzipLimitError&) {
    body_too_large(handling_.max_body_size);  // a gzip bomb: stopped before the output exists
  } catch (const GzipError& e) {
    throw HTTPClientError(599, fmt::format("malformed response: bad gzip body: {}", e.what()));
  }
}

void ResponseReader::deliver(std::string_view data) {
  delivered_ += data.size();
  if (delivered_ > handling_.max_body_size) body_too_large(handling_.max_body_size);
  if (handling_.streaming_callback != nullptr && *handling_.streaming_callback) {
    (*handling_.streaming_callback)(data);
  } else {
    out_.body.append(data);
  }
}

void ResponseReader::finish_body() {
  if (!gzip_ || !gzip_fed_) return;
  try {
    gzip_->finish();
  } catch (const GzipError& e) {
    throw HTTPClientError(599, fmt::format("malformed response: bad gzip body: {}", e.what()));
  }
}

// ---- ClientExchange ----

ClientExchange::ClientExchange(IOStream& stream, const OutgoingRequest& request, const ResponseHandling& handling)
    : stream_(stream), request_(request), reader_(handling, response_) {
  reader_.start(request.head_request);
}

Task<void> ClientExchange::run() {
  bool sent = co_await send_request();
  if (sent) {
    co_await read_response();
  } else if (!parse_buffered()) {
    // The connection failed while the request went out. The server may
    // have answered and closed (a 413 before the body): what it said is
    // the answer; if it said nothing, the connection was lost.
    if (reader_.finish_at_close() != ResponseParser::Result::kDone) {
      throw HTTPStreamClosedError(response_started_ ? "connection closed before the response ended"
                                                    : "connection closed while the request was sent");
    }
  }
  reader_.finish_body();
  reusable_ = sent && reader_.keep_alive() && !request_.close_after && !body_withheld_ && stream_.buffered() == 0 &&
              !stream_.closed() && !stream_.reached_eof();
}

Task<bool> ClientExchange::send_request() {
  bool has_body = request_.body != nullptr || (request_.producer != nullptr && *request_.producer);
  try {
    if (!has_body) {
      co_await stream_.write(request_.head);
    } else if (request_.expect_continue) {
      co_await stream_.write(request_.head);
      bool go_on = co_await await_continue();
      if (go_on) {
        co_await send_body();
      } else {
        body_withheld_ = true;
      }
    } else {
      stream_.write(request_.head);  // leaves with the body's first bytes, in one send
      co_await send_body();
    }
  } catch (const StreamClosedError&) {
    co_return false;
  }
  co_return true;
}

Task<void> ClientExchange::send_body() {
  if (request_.body != nullptr) {
    co_await stream_.write(*request_.body);
    co_return;
  }
  FramingBodyWriter writer(stream_, request_.chunked, request_.declared_length);
  co_await (*request_.producer)(writer);
  co_await writer.finish();
}

Task<bool> ClientExchange::await_continue() {
  TimePoint deadline = Clock::now() + kContinueWait;
  for (;;) {
    if (parse_buffered()) co_return false;     // a whole final answer: no body wanted
    if (reader_.head_done()) co_return false;  // a final head (417, 401...): the body stays here
    if (reader_.saw_continue()) co_return true;
    bool waited_long_enough = false;
    try {
      co_await stream_.wait_for_bytes(stream_.buffered() + 1, deadline);
    } catch (const TimeoutError&) {
      waited_long_enough = true;  // a server that ignores Expect (RFC 9110 10.1.1)
    }
    if (waited_long_enough) co_return true;
  }
}

bool ClientExchange::parse_buffered() {
  if (stream_.buffered() != 0) response_started_ = true;
  std::size_t used = 0;
  ResponseParser::Result result = reader_.parse(stream_.peek_buffer(), used);
  stream_.consume_buffer(used);
  if (result == ResponseParser::Result::kError) fail_malformed();
  return result == ResponseParser::Result::kDone;
}

Task<void> ClientExchange::read_response() {
  for (;;) {
    if (parse_buffered()) co_return;
    bool closed = false;
    try {
      co_await stream_.wait_for_bytes(stream_.buffered() + 1);
    } catch (const StreamClosedError&) {
      closed = true;  // what arrived before the close is still buffered
    }
    if (!closed) continue;
    if (parse_buffered()) co_return;
    ResponseParser::Result at_close = reader_.finish_at_close();
    if (at_close == ResponseParser::Result::kDone) co_return;  // a body delimited by the close
    throw HTTPStreamClosedError(response_started_ ? "connection closed before the response ended"
                                                  : "connection closed before the response began");
  }
}

void ClientExchange::fail_malformed() const {
  throw HTTPClientError(599, fmt::format("malformed response: {}", reader_.error_reason()));
}

}  // namespace whirl::detail
