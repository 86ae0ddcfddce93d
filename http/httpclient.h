// whirl/http/httpclient.h: Tornado's AsyncHTTPClient, with the keep-alive
// pool Tornado's simple client never had.
//
//     AsyncHTTPClient client;
//     HTTPResponse page = co_await client.fetch("http://localhost:8888/");   // page.code, page.body
//
//     HTTPRequest upload{.url = "https://api.example.com/items", .method = "POST", .body = R"({"a": 1})"};
//     upload.headers.add("Content-Type", "application/json");
//     HTTPResponse created = co_await client.fetch(std::move(upload));      // HTTPClientError unless 2xx
//
//     HTTPRequest probe{.url = "http://localhost:8888/maybe"};
//     HTTPResponse r = co_await client.fetch(std::move(probe), {.raise_error = false});  // r.code, r.error
//
// Name a request on its own line before the co_await that sends it (as
// above), never `fetch(HTTPRequest{...})`: it holds strings, and GCC 12 can
// free a string of a temporary built inside a co_await expression twice
// (PR 100611, ARCHITECTURE.md §2.2). fetch takes the request by reference
// and a URL as a string_view for that reason: a literal needs no care.
//
// **What fetch does.** It waits for one of `max_clients` slots (Tornado's
// 10; the wait counts against the request's timeouts from the moment it was
// asked), takes an idle connection to the same scheme, host, port and TLS
// settings from the pool or opens one (TCPClient: happy eyeballs, SNI and
// host-name verification), writes the request and reads the response with
// ResponseParser, which is as strict as the server's request parser: a
// response that could be read two ways is an error and its connection is
// dropped. Redirects (301, 302, 303, 307, 308) are followed up to
// `max_redirects`: 303, and 301/302 after a POST, become GET without a
// body, as browsers do; 307/308 keep the method and the body. A redirect to
// another origin drops Authorization, Cookie and Host. Out of redirects, the
// last 3xx is the response.
//
// **The pool.** A connection goes back to the pool only when its response
// was read to the end, both sides keep it alive, and nothing unasked for
// followed it. An idle connection waits at most `idle_timeout`, and at most
// `max_idle_per_host` wait per origin; one that the server closed, or sent
// bytes on, is never handed out. A server may still close an idle
// connection just as a request goes out on it: an idempotent request
// (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) without a body producer that
// fails on a reused connection before any byte of its response arrived is
// retried once on a fresh connection. Nothing else is ever retried.
//
// **Errors.** A response that arrived whole but is not 2xx throws
// HTTPClientError with its code and the response (unless raise_error is
// false: then it is returned). A transport failure throws HTTPClientError
// with code 599 and the cause: HTTPTimeoutError (which timeout), a refused
// or unresolvable connection, TLS verification with OpenSSL's reason,
// HTTPStreamClosedError (the connection ended before the response did), a
// malformed response with the parser's reason, a body over max_body_size
// (counted after decompression, so a gzip bomb is an error and not an
// allocation). With raise_error false a transport failure still throws:
// there is no response to return (Tornado returns a 599 response there; a
// thrown error that names its cause is harder to ignore).
//
// A client belongs to the loop it first fetches on, and must be destroyed
// before that loop (its idle connections and their sweep timer are the
// loop's). Destroying it closes its idle connections; fetches still
// running keep what they use alive and end normally.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "whirl/http/http_headers.h"
#include "whirl/runtime/clock.h"
#include "whirl/runtime/task.h"

namespace whirl {

struct HTTPResponse;

// What a body producer writes a streamed request body with. Without a
// Content-Length header in the request the body goes chunked.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  // Completes when the bytes were handed to the kernel.
  virtual Task<void> write(std::string_view data) = 0;
};

// Tornado's body_producer: called once with the writer, the request body is
// what it wrote when its task ends.
using BodyProducer = std::function<Task<void>(BodyWriter&)>;

struct HTTPRequest {
  // (Each member initialized, so that designated initializers may leave any out.)
  std::string url{};
  std::string method = "GET";
  HTTPHeaders headers{};
  std::optional<std::string> body{};
  BodyProducer body_producer{};
  // Unset: the client's (Tornado's 20 s each). connect_timeout bounds the
  // wait for a slot and the connection (with its TLS handshake);
  // request_timeout the whole fetch, redirects included, from when it was asked.
  std::optional<Duration> connect_timeout{};
  std::optional<Duration> request_timeout{};
  bool follow_redirects = true;
  int max_redirects = 5;
  std::string user_agent{};  // empty: the client's
  // Ask for gzip (unless the request names its own Accept-Encoding) and
  // decode it; the header then reads X-Consumed-Content-Encoding.
  bool decompress_response = true;
  // Body pieces as they arrive, decoded; response.body stays empty.
  std::function<void(std::string_view)> streaming_callback{};
  // Each line of the final response's head: the status line, each header
  // line, the empty line (each with its CRLF), as Tornado's.
  std::function<void(std::string_view)> header_callback{};
  bool validate_cert = true;
  std::string ca_certs{};       // PEM file; empty: the system's CAs
  std::string client_cert{};    // PEM certificate to present
  std::string client_key{};     // its key; empty: in client_cert
  std::string auth_username{};  // HTTP basic authentication (also from the URL's user:password@)
  std::string auth_password{};
  // Send the head with Expect: 100-continue and the body only after the
  // server's 100 (or after a second without an answer, as curl does).
  bool expect_100_continue = false;
  std::optional<std::uint64_t> max_body_size{};  // unset: the client's
  // Without this, the method must be one of GET HEAD POST PUT DELETE PATCH
  // OPTIONS, and POST, PUT and PATCH need a body, the others must have none.
  bool allow_nonstandard_methods = false;
};

struct HTTPResponse {
  HTTPRequest request{};  // as it was asked for (before any redirect)
  int code = 0;
  std::string reason{};
  HTTPHeaders headers{};
  std::string body{};
  std::string effective_url{};  // after redirects
  Duration request_time{};      // from when fetch was called
  // The HTTPClientError fetch would have thrown (a non-2xx code), when
  // raise_error was false; null for a 2xx.
  std::exception_ptr error{};

  void rethrow() const {
    if (error) std::rethrow_exception(error);
  }
};

// A non-2xx response (code and response), or a transport failure (code 599,
// no response).
class HTTPClientError : public std::runtime_error {
 public:
  HTTPClientError(int code, const std::string& message, std::shared_ptr<const HTTPResponse> response = nullptr)
      : std::runtime_error(message), code_(code), response_(std::move(response)) {}
  int code() const noexcept { return code_; }
  // The response, for a non-2xx; null for a transport failure.
  const HTTPResponse* response() const noexcept { return response_.get(); }

 private:
  int code_;
  std::shared_ptr<const HTTPResponse> response_;
};

// A timeout (599): "Timeout in request queue", "Timeout while connecting",
// "Timeout during request".
class HTTPTimeoutError : public HTTPClientError {
 public:
  explicit HTTPTimeoutError(const std::string& message) : HTTPClientError(599, message) {}
};

// The connection ended before the response did (599).
class HTTPStreamClosedError : public HTTPClientError {
 public:
  explicit HTTPStreamClosedError(const std::string& message) : HTTPClientError(599, message) {}
};

struct AsyncHTTPClientOptions {
  std::size_t max_clients = 10;        // requests at once; more wait in line
  std::size_t max_idle_per_host = 16;  // idle connections kept per origin
  // How long an idle connection is kept; under common servers' own (nginx
  // 75 s, Node 5 s, Tornado an hour): the retry covers a server that is quicker.
  Duration idle_timeout = std::chrono::seconds(30);
  Duration connect_timeout = std::chrono::seconds(20);
  Duration request_timeout = std::chrono::seconds(20);
  std::uint64_t max_body_size = 100 * 1024 * 1024;
  std::size_t max_header_size = 64 * 1024;
  std::string user_agent = "whirl";
};

struct FetchOptions {
  // A complete non-2xx response throws HTTPClientError (Tornado's default);
  // false returns it, with `error` set.
  bool raise_error = true;
};

class AsyncHTTPClient {
 public:
  using Options = AsyncHTTPClientOptions;

  struct Stats {
    std::uint64_t connections_opened = 0;
    std::uint64_t connections_reused = 0;  // requests sent on a pooled connection
    std::uint64_t retries = 0;             // stale pooled connections retried fresh
    std::size_t idle_connections = 0;      // in the pool now
    std::size_t active_requests = 0;       // holding a slot now
  };

  AsyncHTTPClient();
  explicit AsyncHTTPClient(Options options);
  ~AsyncHTTPClient();
  AsyncHTTPClient(const AsyncHTTPClient&) = delete;
  AsyncHTTPClient& operator=(const AsyncHTTPClient&) = delete;

  // By reference, so that a co_await on fetch builds no temporary (a
  // request or its copy is made inside, before the fetch starts).
  Task<HTTPResponse> fetch(HTTPRequest&& request, FetchOptions options = {});
  Task<HTTPResponse> fetch(const HTTPRequest& request, FetchOptions options = {});
  Task<HTTPResponse> fetch(std::string_view url);

  // Tornado's close(): idle connections are closed; fetches after it throw
  // std::logic_error. Fetches running finish.
  void close();
  Stats stats() const noexcept;

  class State;  // shared with the fetches in flight (httpclient.cc)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace whirl
