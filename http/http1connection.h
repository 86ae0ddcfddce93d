// whirl/http/http1connection.h: Tornado's HTTP1Connection and HTTP1ServerConnection.
//
//     // The request loop of one connection, as HTTPServer runs it:
//     HTTP1ServerConnection connection(stream, HTTP1ConnectionParameters{});
//     co_await connection.start_serving(application);  // an HTTPServerConnectionDelegate
//
// The protocol-neutral side (HTTPConnection, HTTPMessageDelegate,
// HTTPServerConnectionDelegate) is http_connection.h; this is its HTTP/1.x
// implementation.
//
// HTTP1Connection speaks HTTP/1.x on one IOStream. read_request() reads one
// request and drives a delegate through it: headers_received, then
// data_received for each piece of the body (at most chunk_size bytes; the
// reader waits while the delegate's task runs, which is flow control), then
// finish(). The response goes out through write_headers(), write() and
// finish() on the connection, from finish() or later: read_request() returns
// once the response is finished (or the connection is lost) and says whether
// the connection may carry another request.
//
// Framing of the response, as Tornado frames it: Content-Length when the
// headers give one (writing more, or finishing with less, is an error that
// closes the connection), else chunked for HTTP/1.1 and read-to-close for
// HTTP/1.0. HEAD responses and 1xx/204/304 carry no body. Keep-alive: an
// HTTP/1.1 request keeps the connection unless it says `Connection: close`
// (echoed in the response); HTTP/1.0 only with `Connection: keep-alive`
// (echoed) and a response with Content-Length. A response finished before
// the request body was read ends the connection, since the unread body can
// no longer be told apart from a next request.
//
// detach() hands the stream to the caller (a WebSocket after its 101): the
// connection frames nothing more and reads no next request; when the
// request's delegate returns, the request loop ends as for any connection
// (queued bytes flushed within final_flush_timeout, the stream closed),
// without the lingering close. HTTP1ServerConnection::close() closes a
// detached stream at once. detach(session) instead ends the request loop
// and leaves the stream open for `session` (HTTP1ServerConnection's
// Takeover), which the owner runs in a task of its own (HTTPServer moves
// the TCPServer::Connection into continue_connection) or start_serving
// runs before returning.
//
// Bad requests. A head the strict parser (request_parser.h) refuses, a bad
// chunked body, or a body over max_body_size get a short error response
// (400, 413, 414, 431, 501 or 505) with `Connection: close`, one INFO line
// on the `general` logger, and the connection closes: nothing after a
// rejected request is ever read as a request.
//
// HTTP1ServerConnection is Tornado's _server_request_loop: read a request,
// let the delegate answer it, co_await moment(), next request. It waits for
// queued answers to leave before reading on (kMaxQueuedResponseBytes), so a
// client that sends without reading stalls only its own connection. Responses to
// pipelined requests that were already buffered are held back (the stream's
// flush hold) until the batch has been answered, so they leave in one send.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whirl/http/chunked_decoder.h"
#include "whirl/http/http_connection.h"
#include "whirl/http/http_headers.h"
#include "whirl/http/request_parser.h"
#include "whirl/net/iostream.h"
#include "whirl/runtime/locks.h"
#include "whirl/runtime/task.h"

namespace whirl {

class GzipDecompressor;

struct HTTP1ConnectionParameters {
  bool no_keep_alive = false;
  std::size_t chunk_size = 64 * 1024;
  std::size_t max_header_size = 64 * 1024;
  std::size_t max_headers = 100;
  std::uint64_t max_body_size = 100 * 1024 * 1024;
  // Unset: no limit. idle_timeout bounds the wait for a request and its head
  // (Tornado's idle_connection_timeout); header_timeout bounds a head from
  // its first byte to its end (nginx's client_header_timeout); body_timeout
  // bounds the whole body (Tornado's body_timeout).
  std::optional<std::chrono::milliseconds> idle_timeout{};
  std::optional<std::chrono::milliseconds> header_timeout{};
  std::optional<std::chrono::milliseconds> body_timeout{};
  // How long the request loop may wait, when the connection ends, for its
  // last answers to leave (then it closes regardless).
  std::optional<std::chrono::milliseconds> final_flush_timeout{};
  // Inflate `Content-Encoding: gzip` bodies before the delegate sees them.
  bool decompress = false;
  // Headers the connection adds to every response that lacks them, written
  // as bytes (nginx's Server and Date): `Server: <server_header>` when it
  // is not empty, and `Date:` with the current IMF-fixdate (formatted once
  // a second) when date_header is set. server_header is not copied: what it
  // views must outlive the connection (HTTPServer keeps it in its options)
  // and hold no CR, LF or NUL (HTTPServer checks).
  std::string_view server_header{};
  bool date_header = false;
};

class HTTP1Connection final : public HTTPConnection, private IOStream::CloseObserver {
 public:
  // `stream` must outlive the connection.
  HTTP1Connection(IOStream& stream, HTTP1ConnectionParameters params);
  ~HTTP1Connection();
  HTTP1Connection(const HTTP1Connection&) = delete;
  HTTP1Connection& operator=(const HTTP1Connection&) = delete;

  // Waits for more input. Resumes with true once the stream holds at least
  // `want` bytes, false when the peer closed or `deadline` passed (the
  // stream is closed then, ETIMEDOUT: Tornado drops an idle keep-alive
  // connection the same silent way). An awaiter, not a Task: the waiting
  // frame holds it and no coroutine frames of its own.
  class InputAwaiter {
   public:
    InputAwaiter(HTTP1Connection& connection, std::size_t want, std::optional<TimePoint> deadline);
    bool await_ready();
    template <typename Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiter) {
      wait_.await_suspend(awaiter);
    }
    bool await_resume();

   private:
    HTTP1Connection& connection_;
    std::size_t want_;
    IOStream::WaitAwaiter wait_;
  };

  // Waits, under idle_timeout, for the first byte of the next request
  // (resumes at once when one is buffered); the connection is idle()
  // meanwhile. False when the peer closed or the timeout passed. A server
  // loop awaits this before read_request() so that an idle keep-alive
  // connection holds the loop's frame and this awaiter, not read_request's
  // chain of frames (about 1.7 KiB each); read_request() does the same wait
  // itself when it was not awaited first.
  InputAwaiter wait_for_request();

  // Reads one request into `delegate` and waits for its response to finish.
  // True when the connection can carry another request.
  Task<bool> read_request(HTTPMessageDelegate& delegate);

  // ---- the response (HTTPConnection) ----

  using HTTPConnection::write_headers;
  // Queues the status line, `headers` (adding the framing and Connection
  // headers) and the first piece of the body.
  IOStream::WriteAwaiter write_headers(const ResponseStartLine& start_line, HTTPHeaders& headers,
                                       std::string_view chunk) override;
  // Queues a piece of the body (chunk-framed when chunking).
  IOStream::WriteAwaiter write(std::string_view chunk) override;
  Task<void> write_file(File& file, std::uint64_t offset, std::uint64_t length) override;
  void finish() override;
  void set_close_after_response() noexcept override { close_after_response_ = true; }
  void abort() noexcept override;
  IOStream& detach() override;
  IOStream& detach(Task<void> session) override;
  bool detached() const noexcept override { return detached_; }
  // The session a detach(session) left for the connection's owner to run
  // (HTTP1ServerConnection takes it when the request loop ends).
  bool has_session() const noexcept { return session_.valid(); }
  Task<void> take_session() noexcept { return std::move(session_); }
  const HTTPRequestContext* context() const noexcept override { return context_; }

  bool headers_written() const noexcept { return headers_written_; }
  bool response_finished() const noexcept { return write_finished_; }
  // The last request was refused, or answered before its body was read:
  // input the peer sent may still be arriving.
  bool left_input_unread() const noexcept { return rejected_ || !read_finished_; }
  IOStream& stream() noexcept { return stream_; }
  const HTTP1ConnectionParameters& params() const noexcept { return params_; }
  // Waiting for the first byte of a next request (safe to close).
  bool idle() const noexcept { return idle_; }
  void set_context(const HTTPRequestContext* context) noexcept { context_ = context; }

 private:
  enum class ReadOutcome : unsigned char { kOk, kClosed, kRejected };

  // The stream closed: a response that was awaited will never be written
  // (Tornado resolves _finish_future in _on_connection_close).
  void on_stream_closed() noexcept override { response_done_.set(); }
  std::optional<ReadOutcome> parse_buffered_head();
  Task<ReadOutcome> read_head();
  bool answer_server_options();
  InputAwaiter wait_for_input(std::optional<TimePoint> deadline);
  // Begins the wait for a request head: the header timeout runs from now.
  void start_head_wait();
  void bound_head_deadline();
  void prepare_decompression();
  Task<ReadOutcome> read_body(HTTPMessageDelegate& delegate);
  Task<ReadOutcome> read_fixed_body(HTTPMessageDelegate& delegate, std::uint64_t length);
  Task<ReadOutcome> read_chunked_body(HTTPMessageDelegate& delegate);
  ReadOutcome body_input_lost();
  Task<void> deliver(HTTPMessageDelegate& delegate);
  ReadOutcome reject(int code, std::string_view reason);
  std::string_view peer() const noexcept;
  bool request_keeps_alive() const noexcept;
  bool expects_continue() const noexcept;
  void start_request() noexcept;
  void set_connection_header(HTTPHeaders& headers, bool self_delimited);
  IOStream::WriteAwaiter write_body(std::string_view chunk);
  // Whether `size` more body bytes go on the wire: false for a HEAD
  // response (dropped); throws HTTPOutputError (and closes) for a body the
  // response cannot carry or one past its Content-Length.
  bool admit_body(std::uint64_t size);
  void write_chunk_prefix(std::uint64_t size);

  IOStream& stream_;
  HTTP1ConnectionParameters params_;
  RequestParser parser_;
  ChunkedDecoder chunked_;
  RequestStartLine start_line_;
  HTTPHeaders headers_;
  std::string piece_;  // body bytes handed to the delegate (reused)
  std::unique_ptr<GzipDecompressor> decompressor_;
  std::optional<TimePoint> head_deadline_;
  std::optional<TimePoint> body_deadline_;
  bool head_wait_done_ = false;  // wait_for_request() began this head's wait
  std::uint64_t body_received_ = 0;
  Event response_done_;
  const HTTPRequestContext* context_ = nullptr;
  Task<void> session_;  // from detach(session), until the request loop takes it
  bool idle_ = false;
  bool detached_ = false;

  // Per response.
  bool headers_written_ = false;
  bool write_finished_ = false;
  bool read_finished_ = true;  // nothing is unread before the first request
  bool chunking_output_ = false;
  bool no_body_ = false;
  bool close_after_response_ = false;
  bool rejected_ = false;
  int response_code_ = 0;
  std::optional<std::uint64_t> expected_remaining_;
};

class HTTP1ServerConnection {
 public:
  // The request loop reads no further request while more than this many
  // response bytes wait to leave (aiohttp caps pipelined responses at 32;
  // a byte bound also covers large answers). Clients that read never reach
  // it: a turn's answers leave in one send.
  static constexpr std::size_t kMaxQueuedResponseBytes = 64 * 1024;
  // The longest a lingering close waits for the peer's end of file.
  static constexpr std::chrono::seconds kLingerTimeout{2};

  // What a request handed the connection to with detach(session): the
  // session, and the request's delegate (which owns what the session may
  // refer to: a handler, its request) to keep alive until it ends. The
  // session is declared last, so it goes first.
  struct Takeover {
    std::unique_ptr<HTTPMessageDelegate> delegate;
    Task<void> session;
  };
  // Receives a Takeover when the request loop ends; it owns the stream from
  // then on (and closes it when the session ends).
  using HandOver = std::function<void(Takeover)>;

  HTTP1ServerConnection(IOStream& stream, HTTP1ConnectionParameters params);

  // The request loop; returns when the connection ends (it is closed then).
  // After a detach(session), it returns at once without closing the stream
  // when a hand_over was set (having given it the Takeover), and otherwise
  // runs the session itself first.
  Task<void> start_serving(HTTPServerConnectionDelegate& delegate);
  void set_hand_over(HandOver hand_over) { hand_over_ = std::move(hand_over); }
  // Ends the connection once the request in progress, if any, is answered;
  // an idle connection closes at once, and one waiting for its answers to
  // leave gets final_flush_timeout for them.
  void close();
  // Between requests, waiting for the next one.
  bool idle() const noexcept { return connection_.idle(); }
  HTTP1Connection& connection() noexcept { return connection_; }

 private:
  Task<void> flush_within(std::optional<std::chrono::milliseconds> timeout);
  // Closes the stream at `deadline` if the flush has not ended; never later
  // than a deadline already set.
  void set_flush_deadline(TimePoint deadline);
  Task<void> linger();

  IOStream& stream_;
  HTTP1Connection connection_;
  HandOver hand_over_;
  bool closing_ = false;
  std::optional<TimePoint> flush_deadline_;
};

}  // namespace whirl
