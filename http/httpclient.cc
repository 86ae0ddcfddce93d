#include "whirl/http/httpclient.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>

#include "http/client_exchange.h"
#include "http/connection_pool.h"
#include "whirl/http/httputil.h"
#include "whirl/http/url.h"
#include "whirl/net/ssl_options.h"
#include "whirl/net/tcpclient.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/locks.h"

namespace whirl {

namespace {

bool is_redirect(int code) noexcept { return code == 301 || code == 302 || code == 303 || code == 307 || code == 308; }

// What browsers do (the Fetch standard): 303 turns anything but HEAD into
// GET, 301 and 302 turn POST into GET; the others keep method and body.
bool becomes_get(int code, std::string_view method) noexcept {
  return (code == 303 && method != "HEAD") || ((code == 301 || code == 302) && method == "POST");
}

// RFC 9110 9.2.2: repeating one of these has the effect of sending it once,
// which is what makes a retry on a fresh connection safe.
bool is_idempotent(std::string_view method) noexcept {
  constexpr std::array<std::string_view, 6> kIdempotent{"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
  return std::find(kIdempotent.begin(), kIdempotent.end(), method) != kIdempotent.end();
}

// Tornado's HTTPRequest checks (simple_httpclient's _HTTPConnection):
// a method it knows, and a body exactly where that method has one.
void check_method_and_body(const HTTPRequest& request) {
  if (!HTTPHeaders::is_token(request.method)) {
    throw std::invalid_argument("HTTPRequest: method is not a token: " + request.method.substr(0, 64));
  }
  if (request.body && request.body_producer) {
    throw std::invalid_argument("HTTPRequest: body and body_producer are exclusive");
  }
  if (request.allow_nonstandard_methods) return;
  constexpr std::array<std::string_view, 7> kKnown{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  if (std::find(kKnown.begin(), kKnown.end(), request.method) == kKnown.end()) {
    throw std::invalid_argument("HTTPRequest: unknown method " + request.method +
                                " (allow_nonstandard_methods allows it)");
  }
  bool body_expected = request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
  bool body_present = request.body.has_value() || static_cast<bool>(request.body_producer);
  if (body_expected && !body_present) {
    throw std::invalid_argument("HTTPRequest: " + request.method +
                                " needs a body (allow_nonstandard_methods for none)");
  }
  if (!body_expected && body_present) {
    throw std::invalid_argument("HTTPRequest: " + request.method +
                                " must not have a body (allow_nonstandard_methods allows one)");
  }
}

// One hop of a fetch: what the request is at this point of its redirects.
struct Hop {
  std::string url;
  std::string method;
  HTTPHeaders headers;
  const std::string* body = nullptr;
  const BodyProducer* producer = nullptr;
  bool send_auth = true;  // the original origin: credentials go along
};

std::string origin_of(const URL& url) { return fmt::format("{}://{}:{}", url.scheme, url.host, url.port); }

// The TLS settings a connection is made with, as part of its pool key.
std::string tls_key(const HTTPRequest& request) {
  // Each path with its length before it: no two settings print alike.
  return fmt::format("{}:{}:{}{}:{}{}:{}", request.validate_cert ? 1 : 0, request.ca_certs.size(), request.ca_certs,
                     request.client_cert.size(), request.client_cert, request.client_key.size(), request.client_key);
}

// A value written into the head by the client itself must obey what
// HTTPHeaders::add enforces for the caller's headers: no CR, LF or NUL.
const std::string& checked_value(const char* what, const std::string& value) {
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    throw std::invalid_argument(std::string("HTTPRequest: CR, LF or NUL in ") + what);
  }
  return value;
}

// The request head. Framing headers are the client's: a Transfer-Encoding
// given by the caller is refused, a Content-Length must agree with the body.
detail::OutgoingRequest prepare(const HTTPRequest& request, const Hop& hop, const URL& url,
                                const AsyncHTTPClientOptions& options) {
  detail::OutgoingRequest out;
  out.body = hop.body;
  out.producer = hop.producer;
  out.head_request = hop.method == "HEAD";
  HTTPHeaders headers = hop.headers;
  if (headers.contains("Transfer-Encoding")) {
    throw std::invalid_argument("HTTPRequest: Transfer-Encoding is set by the client (a body_producer goes chunked)");
  }
  if (headers.count("Content-Length") > 1) throw std::invalid_argument("HTTPRequest: more than one Content-Length");
  std::string_view given_length = headers.get("Content-Length");
  std::uint64_t declared = 0;
  if (!given_length.empty() && !parse_decimal(given_length, declared)) {
    throw std::invalid_argument("HTTPRequest: bad Content-Length " + std::string(given_length));
  }
  if (hop.body == nullptr && hop.producer == nullptr && declared != 0) {
    // The server would wait for a body that never comes.
    throw std::invalid_argument("HTTPRequest: Content-Length " + std::string(given_length) + " without a body");
  }
  if (hop.body != nullptr && !given_length.empty() && declared != hop.body->size()) {
    throw std::invalid_argument(
        fmt::format("HTTPRequest: Content-Length {} but a body of {} bytes", declared, hop.body->size()));
  }
  if (hop.producer != nullptr && !given_length.empty()) out.declared_length = declared;
  out.chunked = hop.producer != nullptr && given_length.empty();
  out.expect_continue = request.expect_100_continue && (hop.body != nullptr || hop.producer != nullptr);
  out.close_after = list_contains(headers.get("Connection"), "close");

  std::string& head = out.head;
  head.reserve(256);
  head += hop.method;
  head += ' ';
  head += url.target;
  head += " HTTP/1.1\r\n";
  if (!headers.contains("Host")) head += fmt::format("Host: {}\r\n", url.authority);
  if (!headers.contains("User-Agent")) {
    const std::string& agent = request.user_agent.empty() ? options.user_agent : request.user_agent;
    if (!agent.empty()) head += fmt::format("User-Agent: {}\r\n", checked_value("user_agent", agent));
  }
  if (request.decompress_response && !headers.contains("Accept-Encoding")) head += "Accept-Encoding: gzip\r\n";
  if (hop.send_auth && !headers.contains("Authorization")) {
    std::string username = request.auth_username;
    std::string password = request.auth_password;
    if (username.empty() && !url.userinfo.empty()) {
      std::size_t colon = url.userinfo.find(':');
      username = url_unescape(url.userinfo.substr(0, colon), false);
      if (colon != std::string::npos) password = url_unescape(url.userinfo.substr(colon + 1), false);
    }
    if (!username.empty()) head += fmt::format("Authorization: Basic {}\r\n", base64_encode(username + ':' + password));
  }
  if (hop.body != nullptr && given_length.empty()) head += fmt::format("Content-Length: {}\r\n", hop.body->size());
  if (out.chunked) head += "Transfer-Encoding: chunked\r\n";
  if (out.expect_continue && !headers.contains("Expect")) head += "Expect: 100-continue\r\n";
  headers.write_to(head);
  head += "\r\n";
  return out;
}

}  // namespace

// ---- the client's state, shared with the fetches in flight ----

class AsyncHTTPClient::State {
 public:
  explicit State(Options options)
      : options_(std::move(options)),
        slots_(std::max<std::size_t>(options_.max_clients, 1)),
        pool_(options_.max_idle_per_host, options_.idle_timeout) {}

  Task<HTTPResponse> fetch(HTTPRequest request, FetchOptions fetch_options);
  void close() {
    closed_ = true;
    pool_.close();
  }
  Stats stats() const noexcept {
    Stats stats = counters_;
    stats.idle_connections = pool_.idle();
    return stats;
  }

 private:
  // One request (no redirects) on a pooled or fresh connection, retried
  // once on a fresh one when a pooled connection proves stale.
  Task<detail::ReceivedResponse> send(const HTTPRequest& request, const URL& url, const detail::OutgoingRequest& out,
                                      const detail::ResponseHandling& handling, TimePoint deadline,
                                      Duration connect_timeout);
  Task<std::unique_ptr<IOStream>> connect(const HTTPRequest& request, const URL& url, TimePoint deadline);
  std::shared_ptr<const SSLContext> tls_context(const HTTPRequest& request);
  // The next hop after a redirect `response` to hop `from`; false when it is not followed.
  static Hop redirected(const Hop& from, const URL& from_url, const HTTPHeaders& response_headers, int code);

  Options options_;
  Semaphore slots_;
  detail::ConnectionPool pool_;
  std::map<std::string, std::shared_ptr<const SSLContext>, std::less<>> tls_contexts_;
  Stats counters_;
  bool closed_ = false;
};

// Releases a max_clients slot however the fetch ends.
class SlotGuard {
 public:
  SlotGuard(Semaphore& slots, std::size_t& active) noexcept : slots_(slots), active_(active) { ++active_; }
  ~SlotGuard() {
    --active_;
    slots_.release();
  }
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;

 private:
  Semaphore& slots_;
  std::size_t& active_;
};

Task<HTTPResponse> AsyncHTTPClient::State::fetch(HTTPRequest request, FetchOptions fetch_options) {
  if (closed_) throw std::logic_error("AsyncHTTPClient: fetch after close()");
  TimePoint asked = Clock::now();
  check_method_and_body(request);
  Duration connect_timeout = request.connect_timeout.value_or(options_.connect_timeout);
  Duration request_timeout = request.request_timeout.value_or(options_.request_timeout);
  TimePoint deadline = asked + request_timeout;
  bool queued_too_long = false;
  try {
    co_await slots_.acquire(std::min(connect_timeout, request_timeout));
  } catch (const TimeoutError&) {
    queued_too_long = true;
  }
  if (queued_too_long) throw HTTPTimeoutError("Timeout in request queue");
  SlotGuard slot(slots_, counters_.active_requests);

  Hop hop{.url = request.url, .method = request.method, .headers = request.headers};
  if (request.body) hop.body = &*request.body;
  if (request.body_producer) hop.producer = &request.body_producer;
  detail::ResponseHandling handling;
  handling.max_body_size = request.max_body_size.value_or(options_.max_body_size);
  handling.max_header_size = options_.max_header_size;
  handling.decompress = request.decompress_response;
  handling.streaming_callback = &request.streaming_callback;
  handling.header_callback = &request.header_callback;
  int redirects = 0;
  bool redirects_left = request.follow_redirects && request.max_redirects > 0;
  handling.passes_through = [&](int code, const HTTPHeaders& headers) {
    if (!redirects_left || !is_redirect(code) || !headers.contains("Location")) return false;
    // A streamed body cannot be sent twice: a redirect that would send it
    // again (307, 308, and 301/302 for anything but POST) is returned.
    return hop.producer == nullptr || becomes_get(code, hop.method);
  };

  for (;;) {
    URL url = URL::parse(hop.url);
    detail::OutgoingRequest out = prepare(request, hop, url, options_);
    detail::ReceivedResponse received = co_await send(request, url, out, handling, deadline, connect_timeout);
    if (received.passed_through) {
      hop = redirected(hop, url, received.headers, received.code);
      redirects_left = ++redirects < request.max_redirects;
      continue;
    }
    HTTPResponse response;
    response.code = received.code;
    response.reason = std::move(received.reason);
    response.headers = std::move(received.headers);
    response.body = std::move(received.body);
    response.effective_url = hop.url;
    response.request_time = Clock::now() - asked;
    response.request = std::move(request);
    if (response.code >= 200 && response.code < 300) co_return response;
    std::string message = fmt::format("HTTP {}: {}", response.code,
                                      response.reason.empty() ? http_reason(response.code) : response.reason);
    if (fetch_options.raise_error) {
      throw HTTPClientError(response.code, message, std::make_shared<const HTTPResponse>(std::move(response)));
    }
    response.error = std::make_exception_ptr(
        HTTPClientError(response.code, message, std::make_shared<const HTTPResponse>(response)));
    co_return response;
  }
}

Hop AsyncHTTPClient::State::redirected(const Hop& from, const URL& from_url, const HTTPHeaders& response_headers,
                                       int code) {
  Hop next = from;
  std::string location(response_headers.get("Location"));
  try {
    next.url = resolve_url(from.url, location);
    URL to = URL::parse(next.url);
    if (origin_of(to) != origin_of(from_url)) {
      // Credentials were for the origin that was asked; a redirect must not
      // carry them to another (RFC 9110 15.4, and the Fetch standard).
      next.headers.remove("Authorization");
      next.headers.remove("Cookie");
      next.send_auth = false;
    }
  } catch (const std::invalid_argument& e) {
    throw HTTPClientError(599, fmt::format("redirect to a bad Location ({})", e.what()));
  }
  next.headers.remove("Host");
  if (becomes_get(code, from.method)) {
    next.method = "GET";
    next.body = nullptr;
    next.producer = nullptr;
    for (std::string_view name : {"Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding"})
      next.headers.remove(name);
  }
  return next;
}

Task<detail::ReceivedResponse> AsyncHTTPClient::State::send(const HTTPRequest& request, const URL& url,
                                                            const detail::OutgoingRequest& out,
                                                            const detail::ResponseHandling& handling,
                                                            TimePoint deadline, Duration connect_timeout) {
  std::string origin = origin_of(url) + '#' + (url.secure() ? tls_key(request) : std::string());
  bool may_retry = is_idempotent(out.head.substr(0, out.head.find(' '))) && out.producer == nullptr;
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<IOStream> stream = attempt == 0 ? pool_.take(origin) : nullptr;
    bool reused = stream != nullptr;
    if (reused) {
      ++counters_.connections_reused;
    } else {
      stream = co_await connect(request, url, std::min(deadline, Clock::now() + connect_timeout));
    }
    detail::ClientExchange exchange(*stream, out, handling);
    bool stale = false;
    bool timed_out = false;
    try {
      co_await with_timeout(deadline, exchange.run());
    } catch (const HTTPStreamClosedError&) {
      // The server closed a pooled connection just as it was reused: the
      // request never reached it (nothing came back), so once more, fresh.
      if (!reused || !may_retry || exchange.response_started()) throw;
      stale = true;
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    if (timed_out) throw HTTPTimeoutError("Timeout during request");
    if (stale) {
      ++counters_.retries;
      continue;
    }
    if (exchange.reusable()) pool_.give_back(origin, std::move(stream));
    co_return std::move(exchange.response());
  }
}

Task<std::unique_ptr<IOStream>> AsyncHTTPClient::State::connect(const HTTPRequest& request, const URL& url,
                                                                TimePoint deadline) {
  TCPConnectOptions options;
  options.timeout = std::max<Duration>(deadline - Clock::now(), Duration::zero());
  if (url.secure()) options.ssl_context = tls_context(request);
  std::string where = fmt::format("{}:{}", url.host, url.port);
  std::unique_ptr<IOStream> stream;
  std::string failure;
  bool timed_out = false;
  try {
    stream = co_await TCPClient::connect(url.host, url.port, options);
  } catch (const TimeoutError&) {
    timed_out = true;
  } catch (const CancelledError&) {
    throw;  // the caller's cancellation, not a failure to connect
  } catch (const SSLError& e) {
    failure = fmt::format("TLS with {} failed: {}", where, e.reason());
  } catch (const StreamClosedError& e) {
    failure = fmt::format("cannot connect to {}: {}", where,
                          e.real_error() != 0 ? std::strerror(e.real_error()) : "connection closed");
  } catch (const std::runtime_error& e) {
    failure = fmt::format("cannot connect to {}: {}", where, e.what());  // the name did not resolve
  }
  if (timed_out) throw HTTPTimeoutError("Timeout while connecting to " + where);
  if (!stream) throw HTTPClientError(599, failure);
  ++counters_.connections_opened;
  stream->set_nodelay(true);
  co_return stream;
}

std::shared_ptr<const SSLContext> AsyncHTTPClient::State::tls_context(const HTTPRequest& request) {
  // One context per TLS setting, built once: loading the system's CAs is
  // far dearer than a handshake.
  std::string key = tls_key(request);
  auto found = tls_contexts_.find(key);
  if (found != tls_contexts_.end()) return found->second;
  SSLOptions tls;
  tls.ca_certs = request.ca_certs;
  tls.certfile = request.client_cert;
  tls.keyfile = request.client_key;
  tls.cert_reqs = request.validate_cert ? SSLOptions::CertReqs::kRequired : SSLOptions::CertReqs::kNone;
  tls.check_hostname = request.validate_cert;
  tls.alpn_protocols = {"http/1.1"};
  std::shared_ptr<const SSLContext> context = SSLContext::create(tls, /*server_side=*/false);
  tls_contexts_.emplace(std::move(key), context);
  return context;
}

// ---- AsyncHTTPClient ----

AsyncHTTPClient::AsyncHTTPClient() : AsyncHTTPClient(Options{}) {}
AsyncHTTPClient::AsyncHTTPClient(Options options) : state_(std::make_shared<State>(std::move(options))) {}
AsyncHTTPClient::~AsyncHTTPClient() { state_->close(); }

namespace {
// Holds the state for the fetch's whole life: the client may go first.
Task<HTTPResponse> fetch_with(std::shared_ptr<AsyncHTTPClient::State> state, HTTPRequest request,
                              FetchOptions options) {
  Task<HTTPResponse> fetching = state->fetch(std::move(request), options);  // named: GCC PR 100611
  co_return co_await std::move(fetching);
}
}  // namespace

Task<HTTPResponse> AsyncHTTPClient::fetch(HTTPRequest&& request, FetchOptions options) {
  return fetch_with(state_, std::move(request), options);
}
Task<HTTPResponse> AsyncHTTPClient::fetch(const HTTPRequest& request, FetchOptions options) {
  return fetch_with(state_, request, options);
}
Task<HTTPResponse> AsyncHTTPClient::fetch(std::string_view url) {
  HTTPRequest request;
  request.url = std::string(url);
  return fetch_with(state_, std::move(request), FetchOptions{});
}

void AsyncHTTPClient::close() { state_->close(); }
AsyncHTTPClient::Stats AsyncHTTPClient::stats() const noexcept { return state_->stats(); }

}  // namespace whirl
