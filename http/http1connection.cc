#include "whirl/http/http1connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "whirl/http/gzip.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/log.h"

namespace whirl {

HTTP1Connection::HTTP1Connection(IOStream& stream, HTTP1ConnectionParameters params)
    : stream_(stream),
      params_(params),
      parser_(RequestParser::Limits{.max_header_size = params.max_header_size, .max_headers = params.max_headers}) {
  stream_.set_close_observer(this);
}

HTTP1Connection::~HTTP1Connection() {
  // A taker of the stream (detach) may have an observer of its own there.
  if (!detached_) stream_.set_close_observer(nullptr);
}

void HTTP1Connection::start_request() noexcept {
  headers_written_ = write_finished_ = read_finished_ = false;
  chunking_output_ = no_body_ = close_after_response_ = rejected_ = false;
  expected_remaining_.reset();
  response_code_ = 0;
  body_received_ = 0;
  response_done_.clear();
  decompressor_.reset();
}

// ---------------------------------------------------------------- reading

Task<bool> HTTP1Connection::read_request(HTTPMessageDelegate& delegate) {
  start_request();
  parser_.reset();
  if (!head_wait_done_) start_head_wait();
  head_wait_done_ = false;
  // A head that arrived whole (nearly every one) is parsed without the
  // read_head coroutine's frame.
  std::optional<ReadOutcome> head = parse_buffered_head();
  ReadOutcome outcome = ReadOutcome::kOk;
  if (head) {
    outcome = *head;
  } else {
    outcome = co_await read_head();
  }
  if (outcome != ReadOutcome::kOk) co_return false;
  if (start_line_.path.size() == 1 && start_line_.path[0] == '*') co_return answer_server_options();  // OPTIONS *
  // With no body there is nothing left to read: an early response keeps the connection.
  read_finished_ = parser_.framing() == BodyFraming::kNone;
  prepare_decompression();
  bool delegate_failed = false;
  try {
    co_await delegate.headers_received(start_line_, headers_);
    if (!write_finished_ && !stream_.closed()) {
      if (expects_continue() && !headers_written_) stream_.write("HTTP/1.1 100 (Continue)\r\n\r\n");
      // Most requests have no body: no read_body frame for them.
      if (parser_.framing() != BodyFraming::kNone || decompressor_) outcome = co_await read_body(delegate);
    }
    if (outcome == ReadOutcome::kOk && !stream_.closed()) {
      // A detach in headers_received (a streaming handler's prepare) left
      // the body to the taker, who still gets finish() to speak in.
      if (!detached_) read_finished_ = true;
      if (!write_finished_ || detached_) co_await delegate.finish();
    }
  } catch (const StreamClosedError&) {
    outcome = ReadOutcome::kClosed;
  } catch (const CancelledError&) {
    throw;  // the loop is shutting down
  } catch (const std::exception& e) {
    // The delegate's own errors end this connection, not the server.
    log::app().error("Uncaught exception in HTTP delegate: {}", e.what());
    delegate_failed = true;
  }
  if (delegate_failed) {
    if (!headers_written_ && !stream_.closed()) reject(500, "Internal Server Error");
    co_return false;
  }
  if (outcome == ReadOutcome::kRejected) co_return false;
  while (outcome == ReadOutcome::kOk && !write_finished_ && !stream_.closed()) co_await response_done_.wait();
  if (!write_finished_ || outcome == ReadOutcome::kClosed) {
    delegate.on_connection_close();
    co_return false;
  }
  co_return request_keeps_alive() && !close_after_response_ && read_finished_ && !stream_.closed();
}

// OPTIONS * asks about the server, not a resource (RFC 9110 §9.3.7): it is
// answered here and never reaches the delegate, whose routes are paths. The
// parser lets "*" through for OPTIONS only.
bool HTTP1Connection::answer_server_options() {
  // A body is not read, so a connection with one ends (and says so).
  read_finished_ = parser_.framing() == BodyFraming::kNone ||
                   (parser_.framing() == BodyFraming::kLength && parser_.content_length() == 0);
  if (!read_finished_) close_after_response_ = true;
  HTTPHeaders headers{{"Allow", "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"}, {"Content-Length", "0"}};
  write_headers({"HTTP/1.1", 200, "OK"}, headers);
  finish();
  return request_keeps_alive() && !close_after_response_;
}

// One attempt at the head buffered so far: kOk (consumed) or kRejected,
// or nothing when more must arrive first.
std::optional<HTTP1Connection::ReadOutcome> HTTP1Connection::parse_buffered_head() {
  auto status = parser_.parse(stream_.peek_buffer(), start_line_, headers_);
  if (status == RequestParser::Status::kComplete) {
    stream_.consume_buffer(parser_.head_size());
    return ReadOutcome::kOk;
  }
  if (status == RequestParser::Status::kError) {
    idle_ = false;
    return reject(parser_.error_status(), parser_.error_reason());
  }
  return std::nullopt;
}

// Reads and parses the next request's head where it lies in the stream,
// waiting for input as needed (parse_buffered_head has found it short).
Task<HTTP1Connection::ReadOutcome> HTTP1Connection::read_head() {
  bool head_bounded = false;
  for (;;) {
    // Only a head that is not whole yet needs the clock: the fast path
    // (the head arrived in one piece) never comes here.
    if (!head_bounded && stream_.buffered() > 0) {
      bound_head_deadline();
      head_bounded = true;
    }
    InputAwaiter input = wait_for_input(head_deadline_);
    bool more = co_await input;
    if (!more) co_return ReadOutcome::kClosed;
    std::optional<ReadOutcome> outcome = parse_buffered_head();
    if (outcome) co_return *outcome;
  }
}

void HTTP1Connection::start_head_wait() {
  head_deadline_.reset();
  if (params_.idle_timeout) head_deadline_ = Clock::now() + *params_.idle_timeout;
  idle_ = stream_.buffered() == 0;
}

// A head has begun to arrive: it must be whole within header_timeout (and
// still within the idle deadline), so a peer that drips bytes cannot hold
// the connection for the hour an idle one may wait (slowloris).
void HTTP1Connection::bound_head_deadline() {
  if (!params_.header_timeout) return;
  TimePoint limit = Clock::now() + *params_.header_timeout;
  if (!head_deadline_ || limit < *head_deadline_) head_deadline_ = limit;
}

HTTP1Connection::InputAwaiter HTTP1Connection::wait_for_request() {
  start_head_wait();
  head_wait_done_ = true;
  return InputAwaiter(*this, std::max<std::size_t>(stream_.buffered(), 1), head_deadline_);
}

// Waits for at least one byte more than is buffered.
HTTP1Connection::InputAwaiter HTTP1Connection::wait_for_input(std::optional<TimePoint> deadline) {
  return InputAwaiter(*this, stream_.buffered() + 1, deadline);
}

HTTP1Connection::InputAwaiter::InputAwaiter(HTTP1Connection& connection, std::size_t want,
                                            std::optional<TimePoint> deadline)
    : connection_(connection), want_(want), wait_(connection.stream_.wait_for_bytes(want, deadline)) {}

bool HTTP1Connection::InputAwaiter::await_ready() {
  // About to wait on the peer: held answers (a pipelined batch) go now.
  if (connection_.stream_.buffered() < want_) connection_.stream_.hold_flush(false);
  return wait_.await_ready();
}

bool HTTP1Connection::InputAwaiter::await_resume() {
  connection_.idle_ = false;
  switch (wait_.outcome()) {  // cancellation (loop shutdown) still throws
    case IOStream::WaitAwaiter::Outcome::kReady:
      return true;
    case IOStream::WaitAwaiter::Outcome::kTimedOut:
      // An idle keep-alive connection timing out is routine; whoever else
      // waits on the stream sees ETIMEDOUT.
      connection_.stream_.close(ETIMEDOUT);
      return false;
    case IOStream::WaitAwaiter::Outcome::kClosed:
      break;
  }
  return false;
}

void HTTP1Connection::prepare_decompression() {
  if (!params_.decompress || !iequals(headers_.get("Content-Encoding"), "gzip")) return;
  decompressor_ = std::make_unique<GzipDecompressor>(params_.max_body_size, params_.chunk_size);
  // As Tornado's _GzipMessageDelegate: the application sees the plain body.
  headers_.add("X-Consumed-Content-Encoding", "gzip");
  headers_.remove("Content-Encoding");
}

Task<HTTP1Connection::ReadOutcome> HTTP1Connection::read_body(HTTPMessageDelegate& delegate) {
  body_deadline_.reset();
  if (params_.body_timeout) body_deadline_ = Clock::now() + *params_.body_timeout;
  ReadOutcome outcome = ReadOutcome::kOk;
  int reject_code = 0;
  const char* reject_reason = "";
  try {
    switch (parser_.framing()) {
      case BodyFraming::kNone:
        break;
      case BodyFraming::kLength:
        if (parser_.content_length() > params_.max_body_size) {
          reject_code = 413;
          reject_reason = "Content-Length too long";
          break;
        }
        outcome = co_await read_fixed_body(delegate, parser_.content_length());
        break;
      case BodyFraming::kChunked:
        outcome = co_await read_chunked_body(delegate);
        break;
    }
    if (outcome == ReadOutcome::kOk && reject_code == 0 && decompressor_) decompressor_->finish();
  } catch (const GzipLimitError&) {
    reject_code = 413;
    reject_reason = "Decompressed body too large";
  } catch (const GzipError& e) {
    reject_code = 400;
    reject_reason = "Invalid gzip request body";
  }
  if (reject_code != 0) co_return reject(reject_code, reject_reason);
  co_return outcome;
}

Task<HTTP1Connection::ReadOutcome> HTTP1Connection::read_fixed_body(HTTPMessageDelegate& delegate,
                                                                    std::uint64_t length) {
  std::uint64_t remaining = length;
  while (remaining > 0) {
    if (stream_.buffered() == 0) {
      InputAwaiter input = wait_for_input(body_deadline_);
      bool more = co_await input;
      if (!more) co_return body_input_lost();
    }
    std::size_t take = static_cast<std::size_t>(
        std::min<std::uint64_t>({remaining, stream_.buffered(), static_cast<std::uint64_t>(params_.chunk_size)}));
    piece_.assign(stream_.peek_buffer().substr(0, take));
    stream_.consume_buffer(take);
    remaining -= take;
    co_await deliver(delegate);
  }
  co_return ReadOutcome::kOk;
}

Task<HTTP1Connection::ReadOutcome> HTTP1Connection::read_chunked_body(HTTPMessageDelegate& delegate) {
  chunked_.reset();
  for (;;) {
    std::size_t used = 0;
    std::string_view data;
    auto result = chunked_.decode(stream_.peek_buffer(), used, data);
    if (result == ChunkedDecoder::Result::kError) co_return reject(400, chunked_.error_reason());
    body_received_ += data.size();
    if (body_received_ > params_.max_body_size) co_return reject(413, "Chunked body too large");
    piece_.assign(data);  // copied before the buffer may move
    stream_.consume_buffer(used);
    if (!piece_.empty()) co_await deliver(delegate);
    if (result == ChunkedDecoder::Result::kDone) co_return ReadOutcome::kOk;
    if (result == ChunkedDecoder::Result::kNeedMore) {
      InputAwaiter input = wait_for_input(body_deadline_);
      bool more = co_await input;
      if (!more) co_return body_input_lost();
    }
  }
}

HTTP1Connection::ReadOutcome HTTP1Connection::body_input_lost() {
  if (stream_.error() == ETIMEDOUT && params_.body_timeout) {
    log::gen().info("Timeout reading body from {}", peer());
  }
  return ReadOutcome::kClosed;
}

// Hands piece_ to the delegate, inflated if need be, in pieces of at most
// chunk_size bytes.
Task<void> HTTP1Connection::deliver(HTTPMessageDelegate& delegate) {
  if (decompressor_) {
    decompressor_->feed(piece_);
    for (std::string_view plain = decompressor_->next_piece(); !plain.empty(); plain = decompressor_->next_piece()) {
      co_await delegate.data_received(plain);
    }
    co_return;
  }
  std::string_view rest = piece_;
  while (!rest.empty()) {
    std::string_view part = rest.substr(0, params_.chunk_size);
    rest.remove_prefix(part.size());
    co_await delegate.data_received(part);
  }
}

// Answers a request we will not serve, and marks the connection for closing.
HTTP1Connection::ReadOutcome HTTP1Connection::reject(int code, std::string_view reason) {
  if (code >= 500) {
    log::gen().warning("{} response to {}: {}", code, peer(), reason);
  } else {
    log::gen().info("Malformed HTTP request from {}: {}", peer(), reason);
  }
  close_after_response_ = true;
  rejected_ = true;
  if (!headers_written_ && !stream_.closed()) {
    fmt::memory_buffer answer;  // on the stack: a connection keeps no buffer for its rare rejections
    fmt::format_to(std::back_inserter(answer), "HTTP/1.1 {} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code,
                   http_reason(code));
    headers_written_ = write_finished_ = true;
    try {
      stream_.write(std::string_view(answer.data(), answer.size()));
    } catch (const StreamClosedError&) {
      // The peer is gone; nothing to tell it.
    }
  }
  return ReadOutcome::kRejected;
}

std::string_view HTTP1Connection::peer() const noexcept {
  return context_ != nullptr ? std::string_view(context_->remote_ip) : std::string_view("peer");
}

bool HTTP1Connection::request_keeps_alive() const noexcept {
  if (params_.no_keep_alive) return false;
  if (start_line_.http11()) return !parser_.connection_close();
  return parser_.connection_keep_alive();
}

bool HTTP1Connection::expects_continue() const noexcept {
  return parser_.expects_continue() && start_line_.http11() && parser_.framing() != BodyFraming::kNone;
}

// ---------------------------------------------------------------- writing

namespace {

struct ResponseFraming {
  bool has_length = false;
  bool has_transfer_encoding = false;
  bool has_date = false;    // the connection's own Date is not added
  bool has_server = false;  // nor its Server
  std::string_view length;  // the first Content-Length
};

// The headers of a response the connection acts on, in one pass over its
// fields (a lookup each walked the list). A name is compared only when its
// length matches one of them.
ResponseFraming response_framing(const HTTPHeaders& headers) noexcept {
  ResponseFraming framing;
  for (auto [name, value] : headers) {
    switch (name.size()) {
      case 4:
        framing.has_date = framing.has_date || iequals(name, "Date");
        break;
      case 6:
        framing.has_server = framing.has_server || iequals(name, "Server");
        break;
      case 14:
        if (iequals(name, "Content-Length")) {
          if (!framing.has_length) framing.length = value;
          framing.has_length = true;
        }
        break;
      case 17:
        framing.has_transfer_encoding = framing.has_transfer_encoding || iequals(name, "Transfer-Encoding");
        break;
      default:
        break;
    }
  }
  return framing;
}

char* put(char* to, std::string_view bytes) noexcept {
  std::memcpy(to, bytes.data(), bytes.size());
  return to + bytes.size();
}

// A response head as it goes on the wire: the status line, the response's
// own headers, then the connection's Server and Date (empty: not written).
struct ResponseHead {
  const ResponseStartLine& start_line;
  const HTTPHeaders& headers;
  std::string_view server;
  std::string_view date;
  fmt::format_int code;

  std::size_t size() const noexcept {
    std::size_t total = start_line.version.size() + 1 + code.size() + 1 + start_line.reason.size() + 2;
    total += headers.wire_size() + 2;
    if (!server.empty()) total += server.size() + 10;  // "Server: " and CRLF
    if (!date.empty()) total += date.size() + 8;       // "Date: " and CRLF
    return total;
  }

  void write(char* to) const noexcept {
    to = put(to, start_line.version);
    *to++ = ' ';
    to = put(to, std::string_view(code.data(), code.size()));
    *to++ = ' ';
    to = put(to, start_line.reason);
    to = put(to, "\r\n");
    to = headers.write_to(to);
    if (!server.empty()) to = put(put(put(to, "Server: "), server), "\r\n");
    if (!date.empty()) to = put(put(put(to, "Date: "), date), "\r\n");
    put(to, "\r\n");
  }
};

}  // namespace

IOStream::WriteAwaiter HTTP1Connection::write_headers(const ResponseStartLine& start_line, HTTPHeaders& headers,
                                                      std::string_view chunk) {
  if (headers_written_) throw std::logic_error("HTTP1Connection: headers already written");
  headers_written_ = true;
  response_code_ = start_line.code;
  bool is_head = start_line_.method == "HEAD";
  bool bodiless_status =
      start_line.code == 204 || start_line.code == 304 || (start_line.code >= 100 && start_line.code < 200);
  no_body_ = is_head || bodiless_status;
  if (start_line.code == 204 || start_line.code < 200) {
    // RFC 9110 §8.6, RFC 9112 §6.1: these never carry framing headers.
    headers.remove("Content-Length");
    headers.remove("Transfer-Encoding");
  }
  ResponseFraming framing = response_framing(headers);
  bool has_length = framing.has_length;
  chunking_output_ = start_line_.http11() && !no_body_ && !has_length && !framing.has_transfer_encoding;
  if (has_length && !no_body_) {
    std::uint64_t length = 0;
    if (!parse_decimal(framing.length, length)) {
      stream_.close();
      throw HTTPOutputError("Invalid Content-Length in response headers");
    }
    expected_remaining_ = length;
  }
  set_connection_header(headers, has_length || no_body_);
  if (chunking_output_) headers.set("Transfer-Encoding", "chunked");
  // Formatted straight into the stream's queue: built in out_ first, the
  // head was copied twice.
  ResponseHead head{start_line, headers, framing.has_server ? std::string_view() : params_.server_header,
                    params_.date_header && !framing.has_date ? cached_http_date() : std::string_view(),
                    fmt::format_int(start_line.code)};
  stream_.write_in_place(head.size(), [&head](char* to) { head.write(to); });
  return write_body(chunk);
}

// Keep-alive as the request asked, echoed: "Connection: close" on HTTP/1.1
// when this is the last response, "Connection: Keep-Alive" on HTTP/1.0 when
// it is not (which needs a length, since 1.0 has no chunked coding).
void HTTP1Connection::set_connection_header(HTTPHeaders& headers, bool self_delimited) {
  bool keep = request_keeps_alive() && !close_after_response_;
  if (start_line_.http11()) {
    if (!keep) headers.set("Connection", "close");
    return;
  }
  if (keep && self_delimited) {
    headers.set("Connection", "Keep-Alive");
  } else {
    close_after_response_ = true;  // the body, if any, ends when we close
  }
}

IOStream::WriteAwaiter HTTP1Connection::write(std::string_view chunk) {
  if (!headers_written_) throw std::logic_error("HTTP1Connection: write() before write_headers()");
  if (write_finished_) throw std::logic_error("HTTP1Connection: write() after finish()");
  return write_body(chunk);
}

IOStream::WriteAwaiter HTTP1Connection::write_body(std::string_view chunk) {
  if (chunk.empty() || !admit_body(chunk.size())) return stream_.write({});
  if (!chunking_output_) return stream_.write(chunk);
  write_chunk_prefix(chunk.size());
  stream_.write(chunk);
  return stream_.write("\r\n");
}

Task<void> HTTP1Connection::write_file(File& file, std::uint64_t offset, std::uint64_t length) {
  if (!headers_written_) throw std::logic_error("HTTP1Connection: write_file() before write_headers()");
  if (write_finished_) throw std::logic_error("HTTP1Connection: write_file() after finish()");
  if (length == 0 || !admit_body(length)) co_return;
  if (chunking_output_) write_chunk_prefix(length);
  std::exception_ptr error;
  try {
    co_await stream_.write_file(file, offset, length);
  } catch (const StreamClosedError&) {
    throw;
  } catch (...) {
    error = std::current_exception();
  }
  if (error) {
    // Part of the declared body is on its way and the rest will not come:
    // the client must see a cut-off response, not a shorter valid one.
    abort();
    std::rethrow_exception(error);
  }
  if (chunking_output_) stream_.write("\r\n");
}

bool HTTP1Connection::admit_body(std::uint64_t size) {
  if (no_body_) {
    // A HEAD response's body is computed (for its Content-Length) and dropped.
    if (start_line_.method == "HEAD") return false;
    stream_.close();
    throw HTTPOutputError(fmt::format("Cannot send a body with a {} response", response_code_));
  }
  if (expected_remaining_) {
    if (size > *expected_remaining_) {
      stream_.close();
      throw HTTPOutputError("Tried to write more data than Content-Length");
    }
    *expected_remaining_ -= size;
  }
  return true;
}

void HTTP1Connection::write_chunk_prefix(std::uint64_t size) {
  char prefix[24];
  auto end = fmt::format_to(prefix, "{:x}\r\n", size);
  stream_.write(std::string_view(prefix, static_cast<std::size_t>(end - prefix)));
}

void HTTP1Connection::finish() {
  if (!headers_written_) throw std::logic_error("HTTP1Connection: finish() before write_headers()");
  if (write_finished_) throw std::logic_error("HTTP1Connection: finish() called twice");
  if (expected_remaining_ && *expected_remaining_ != 0) {
    std::uint64_t missing = *expected_remaining_;
    stream_.close();
    throw HTTPOutputError(fmt::format("Tried to write {} bytes less than Content-Length", missing));
  }
  if (chunking_output_) stream_.write("0\r\n\r\n");
  write_finished_ = true;
  // An unread body cannot be told apart from the next request.
  if (!read_finished_) close_after_response_ = true;
  response_done_.set();
}

void HTTP1Connection::abort() noexcept {
  close_after_response_ = true;
  try {
    stream_.close();
  } catch (const std::exception& e) {
    // A transport's own goodbye failed (TLS close_notify): it is closed regardless.
    log::gen().debug("closing an aborted response's stream: {}", e.what());
  }
}

IOStream& HTTP1Connection::detach() {
  if (headers_written_ && !write_finished_) throw std::logic_error("HTTP1Connection: detach() inside a response");
  detached_ = true;
  // From here this connection frames nothing: the response counts as
  // finished (read_request stops waiting for it) and no request follows.
  write_finished_ = true;
  close_after_response_ = true;
  stream_.hold_flush(false);
  stream_.set_close_observer(nullptr);
  response_done_.set();
  return stream_;
}

IOStream& HTTP1Connection::detach(Task<void> session) {
  if (!session.valid()) throw std::invalid_argument("HTTP1Connection: detach() with an empty session");
  if (session_.valid()) throw std::logic_error("HTTP1Connection: detached twice");
  IOStream& stream = detach();
  session_ = std::move(session);
  return stream;
}

// ---------------------------------------------------------------- the request loop

HTTP1ServerConnection::HTTP1ServerConnection(IOStream& stream, HTTP1ConnectionParameters params)
    : stream_(stream), connection_(stream, params) {}

Task<void> HTTP1ServerConnection::start_serving(HTTPServerConnectionDelegate& delegate) {
  std::optional<Takeover> takeover;
  try {
    while (!closing_) {
      // The wait between requests happens here, in this frame (see
      // HTTP1Connection::wait_for_request): an idle connection costs less.
      HTTP1Connection::InputAwaiter next = connection_.wait_for_request();
      bool more = co_await next;
      if (!more || closing_) break;
      std::unique_ptr<HTTPMessageDelegate> request = delegate.start_request(connection_);
      bool keep_alive = co_await connection_.read_request(*request);
      if (connection_.has_session()) {
        takeover.emplace(Takeover{std::move(request), connection_.take_session()});
        break;
      }
      request.reset();
      if (!keep_alive || closing_) break;
      if (stream_.write_buffer_size() > kMaxQueuedResponseBytes) {
        // Backpressure: a client that pipelines without reading would
        // otherwise pile up responses here and requests behind them. The
        // next request is not read until these answers have left; while we
        // wait, the stream stops receiving once a read chunk is buffered.
        co_await flush_within(connection_.params().idle_timeout);
      }
      // A pipelined request already buffered is answered before anything is
      // sent; the hold lifts when the batch is done or we wait on the peer.
      stream_.hold_flush(stream_.buffered() > 0);
      co_await moment();
    }
  } catch (const StreamClosedError&) {
    // The peer went away between requests.
  }
  if (takeover && hand_over_) {
    hand_over_(std::move(*takeover));  // the stream is the session's from here: not a byte more of ours
    co_return;
  }
  if (takeover) {
    try {
      co_await takeover->session;
    } catch (const StreamClosedError&) {
    }
    takeover.reset();
  }
  co_await flush_within(connection_.params().final_flush_timeout);
  // A detached stream's input belongs to its taker, who is done with it.
  if (!stream_.closed() && !stream_.reached_eof() && connection_.left_input_unread() && !connection_.detached()) {
    co_await linger();
  }
  stream_.close();
}

// nginx's lingering close. After answering a request whose input we did not
// read (a refused head, a body answered early), closing at once makes the
// kernel reset the connection as soon as more input arrives, and a reset
// can destroy the answer in the client's receive buffer before the client
// has read it: the client sees "connection reset" instead of our 400 or
// 413. So: send our end of file, drop what still arrives, and close when
// the client closes too, or after kLingerTimeout.
Task<void> HTTP1ServerConnection::linger() {
  if (!stream_.shutdown_write()) co_return;
  TimePoint deadline = Clock::now() + kLingerTimeout;
  for (;;) {
    stream_.consume_buffer(stream_.buffered());
    try {
      co_await stream_.wait_for_bytes(1, deadline);
    } catch (const StreamClosedError&) {
      break;  // the client's end of file (or an error): done
    } catch (const TimeoutError&) {
      break;
    }
  }
}

// Waits until every queued answer has been handed to the kernel, or closes
// the stream (ETIMEDOUT) once `timeout` has passed: a peer that reads
// nothing cannot hold the connection (or a drain) forever.
Task<void> HTTP1ServerConnection::flush_within(std::optional<std::chrono::milliseconds> timeout) {
  stream_.hold_flush(false);
  if (stream_.closed() || !stream_.writing()) co_return;
  if (timeout) set_flush_deadline(Clock::now() + *timeout);
  try {
    co_await stream_.write({});
  } catch (const StreamClosedError&) {
    // Closed meanwhile: by the deadline, the peer or close_all_connections.
  }
  flush_deadline_.reset();
  stream_.set_close_deadline(std::nullopt);
}

void HTTP1ServerConnection::set_flush_deadline(TimePoint deadline) {
  if (flush_deadline_ && *flush_deadline_ <= deadline) return;
  flush_deadline_ = deadline;
  stream_.set_close_deadline(deadline);
}

void HTTP1ServerConnection::close() {
  closing_ = true;
  // A detached stream runs a protocol this loop cannot end politely: its
  // taker sees StreamClosedError.
  if (connection_.idle() || connection_.detached()) {
    stream_.close();
    return;
  }
  // Answers waiting to leave for a client that reads nothing (in the
  // request loop's backpressure wait, or a handler's flush()): a drain must
  // not wait the idle_connection_timeout (or forever) for them. A request
  // still being computed, with nothing queued, runs on.
  std::optional<std::chrono::milliseconds> final_flush = connection_.params().final_flush_timeout;
  if (stream_.writing() && final_flush) set_flush_deadline(Clock::now() + *final_flush);
}

}  // namespace whirl
