// http/client_exchange.h (private to //http:httpclient): one request and its
// response on one connection, and nothing about pools, redirects or retries.
//
//     ClientExchange exchange(stream, request, handling);
//     co_await exchange.run();          // throws HTTPClientError and its kin
//     exchange.response();              // code, reason, headers, body
//     exchange.reusable();              // may the connection serve another request?
//
// The request is written, then the response read with ResponseReader (the
// strict ResponseParser keeping what a client needs). A failure to write is
// not the end: a server that refuses a request (413) may answer and close
// before reading its body, and what it answered is still read and reported.
// `response_started()` tells whether any byte of a response arrived, which
// is what the client's retry of a stale pooled connection asks.
//
// Timeouts are the caller's (the exchange runs under with_timeout); the one
// wait of its own is Expect: 100-continue's second.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "whirl/http/gzip.h"
#include "whirl/http/http_headers.h"
#include "whirl/http/httpclient.h"
#include "whirl/http/response_parser.h"
#include "whirl/net/iostream.h"
#include "whirl/runtime/task.h"

namespace whirl::detail {

// What goes on the wire, prepared by the client.
struct OutgoingRequest {
  std::string head;                                // request line, fields, the empty line
  const std::string* body = nullptr;               // a body given whole, or null
  const BodyProducer* producer = nullptr;          // or a streamed one
  bool chunked = false;                            // the producer's body goes chunked
  std::optional<std::uint64_t> declared_length{};  // else its Content-Length, enforced
  bool expect_continue = false;                    // the head asked for 100-continue
  bool head_request = false;                       // HEAD: no body in the answer
  bool close_after = false;                        // the request said Connection: close
};

// What to do with the response's body as it comes.
struct ResponseHandling {
  std::uint64_t max_body_size = 0;
  std::size_t max_header_size = 64 * 1024;
  bool decompress = true;
  const std::function<void(std::string_view)>* streaming_callback = nullptr;
  const std::function<void(std::string_view)>* header_callback = nullptr;
  // Asked once the final head is in: true when this response will not be
  // the one returned (a redirect to follow), so its body is read and dropped
  // and the callbacks do not see it.
  std::function<bool(int code, const HTTPHeaders& headers)> passes_through{};
};

// The final response as read.
struct ReceivedResponse {
  int code = 0;
  std::string reason;
  HTTPHeaders headers;
  std::string body;
  bool passed_through = false;
};

// ResponseParser keeping the head and the body (decoded, bounded).
class ResponseReader final : public ResponseParser {
 public:
  ResponseReader(const ResponseHandling& handling, ReceivedResponse& out);
  // Ends the body: a gzip stream must have ended too.
  void finish_body();
  bool saw_continue() const noexcept { return saw_continue_; }
  bool head_done() const noexcept { return head_done_; }

 private:
  void head_parsed(std::string_view head) override;
  void body_received(std::string_view data) override;
  void deliver(std::string_view data);
  void call_header_callback(std::string_view head) const;

  const ResponseHandling& handling_;
  ReceivedResponse& out_;
  std::unique_ptr<GzipDecompressor> gzip_;
  std::uint64_t delivered_ = 0;
  bool saw_continue_ = false;
  bool head_done_ = false;
  bool gzip_fed_ = false;
};

class ClientExchange {
 public:
  ClientExchange(IOStream& stream, const OutgoingRequest& request, const ResponseHandling& handling);

  Task<void> run();

  ReceivedResponse& response() noexcept { return response_; }
  bool response_started() const noexcept { return response_started_; }
  // Read to its end, both sides keep it alive, nothing unasked for after it.
  bool reusable() const noexcept { return reusable_; }

 private:
  // Sends the request; false when the connection failed while sending (the
  // server may have answered already).
  Task<bool> send_request();
  Task<void> send_body();
  // After a head with Expect: 100-continue: true when the body should follow.
  Task<bool> await_continue();
  // Parses what is buffered; true when the response is complete.
  bool parse_buffered();
  Task<void> read_response();
  [[noreturn]] void fail_malformed() const;

  IOStream& stream_;
  const OutgoingRequest& request_;
  ReceivedResponse response_;
  ResponseReader reader_;
  bool response_started_ = false;
  bool body_withheld_ = false;  // a final answer came before the body was sent
  bool reusable_ = false;
};

}  // namespace whirl::detail
