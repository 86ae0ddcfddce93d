#include "whirl/http/web.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/log.h"

namespace whirl {

namespace {

// Tornado's GZipContentEncoding: small bodies are not worth compressing.
constexpr std::size_t kMinCompressLength = 1024;

bool compressible_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  return type.starts_with("text/") || type == "application/json" || type == "application/javascript" ||
         type == "application/xml" || type == "image/svg+xml" || type.ends_with("+json") || type.ends_with("+xml");
}

// The methods RequestHandler dispatches, in the order an Allow header lists them.
constexpr std::pair<std::string_view, unsigned> kMethodBits[] = {
    {"GET", kGet},     {"HEAD", kHead},     {"POST", kPost},      {"PUT", kPut},
    {"PATCH", kPatch}, {"DELETE", kDelete}, {"OPTIONS", kOptions}};

unsigned method_bit(std::string_view method) noexcept {
  for (auto [name, bit] : kMethodBits) {
    if (name == method) return bit;
  }
  return 0;
}

bool accepts_gzip(std::string_view accept_encoding) {
  // Token match, ignoring q-values except an explicit q=0.
  std::size_t at = accept_encoding.find("gzip");
  if (at == std::string_view::npos) return false;
  std::string_view rest = accept_encoding.substr(at + 4);
  rest = rest.substr(0, rest.find(','));
  return rest.find("q=0") == std::string_view::npos || rest.find("q=0.") != std::string_view::npos;
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      // "</" is escaped as Tornado's json_encode does, so JSON is safe inside <script>.
      case '/':
        out += (!out.empty() && out.back() == '<') ? "\\/" : "/";
        break;
      default:
        if (c < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace

std::string to_json(const JSONObject& object) {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : object) {
    if (!first) out += ", ";
    first = false;
    append_json_string(out, key);
    out += ": ";
    std::visit(
        [&out](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) {
            out += "null";
          } else if constexpr (std::is_same_v<T, bool>) {
            out += v ? "true" : "false";
          } else if constexpr (std::is_same_v<T, std::string>) {
            append_json_string(out, v);
          } else {
            fmt::format_to(std::back_inserter(out), "{}", v);
          }
        },
        value);
  }
  out += "}";
  return out;
}

std::string_view cached_http_date() {
  thread_local std::time_t formatted_at = 0;
  thread_local char text[29];
  std::time_t now = std::time(nullptr);
  if (now != formatted_at) {
    format_http_date(now, text);
    formatted_at = now;
  }
  return std::string_view(text, sizeof text);
}

// ---------------------------------------------------------------- RequestHandler

Task<void> RequestHandler::get() { throw HTTPError(405); }
Task<void> RequestHandler::head() { throw HTTPError(405); }
Task<void> RequestHandler::post() { throw HTTPError(405); }
Task<void> RequestHandler::put() { throw HTTPError(405); }
Task<void> RequestHandler::patch() { throw HTTPError(405); }
Task<void> RequestHandler::delete_() { throw HTTPError(405); }
Task<void> RequestHandler::options() { throw HTTPError(405); }
Task<void> RequestHandler::prepare() { co_return; }
Task<void> RequestHandler::data_received(std::string_view) { co_return; }

void RequestHandler::initialize(Application* application, HTTPServerRequest* request, unsigned methods,
                                std::map<std::string, std::string, std::less<>> path_args) {
  application_ = application;
  request_ = request;
  methods_ = methods;
  path_args_ = std::move(path_args);
  clear();
}

void RequestHandler::clear() {
  headers_.clear();
  headers_.add("Server", application_->settings().server_header);
  headers_.add("Content-Type", "text/html; charset=UTF-8");
  headers_.add("Date", cached_http_date());
  status_code_ = 200;
  reason_.clear();
  write_buffer_.clear();
}

void RequestHandler::set_status(int status_code, std::string_view reason) {
  if (status_code < 100 || status_code > 999) throw std::invalid_argument(fmt::format("bad status {}", status_code));
  status_code_ = status_code;
  reason_.assign(reason);
}

void RequestHandler::write(std::string_view chunk) {
  if (finished_) throw std::logic_error("Cannot write() after finish()");
  write_buffer_.append(chunk);
}

void RequestHandler::write(const JSONObject& object) {
  write(to_json(object));
  set_header("Content-Type", "application/json; charset=UTF-8");
}

void RequestHandler::maybe_start_compression() {
  if (compression_decided_) return;
  compression_decided_ = true;
  if (!application_->settings().compress_response) return;
  if (status_code_ == 204 || status_code_ == 304 || headers_.contains("Content-Encoding")) return;
  if (!accepts_gzip(request_->headers.get("Accept-Encoding"))) return;
  if (!compressible_type(headers_.get("Content-Type"))) return;
  headers_.add("Vary", "Accept-Encoding");
  compressor_ = std::make_unique<GzipCompressor>();
  headers_.set("Content-Encoding", "gzip");
}

// Writes the head (first time) and the buffered body; `last` when finishing.
void RequestHandler::send_head(bool last) {
  HTTP1Connection& connection = *request_->connection;
  std::string_view body = write_buffer_;
  bool small = last && !headers_written_ && write_buffer_.size() < kMinCompressLength;
  if (!small) maybe_start_compression();
  if (compressor_) {
    compressed_.clear();
    compressor_->compress(write_buffer_, compressed_, /*flush=*/!last);
    if (last) compressor_->finish(compressed_);
    body = compressed_;
  }
  if (!headers_written_) {
    headers_written_ = true;
    bool bodiless = status_code_ == 204 || status_code_ == 304 || (status_code_ >= 100 && status_code_ < 200);
    if (last && !bodiless && !headers_.contains("Content-Length")) {
      char digits[24];
      auto end = fmt::format_to(digits, "{}", body.size());
      headers_.set("Content-Length", std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
    std::string_view reason = reason_.empty() ? http_reason(status_code_) : std::string_view(reason_);
    connection.write_headers({"HTTP/1.1", status_code_, reason}, headers_, body);
  } else if (!body.empty()) {
    connection.write(body);
  }
  bytes_sent_ += body.size();
  write_buffer_.clear();
}

Task<void> RequestHandler::flush() {
  if (finished_) throw std::logic_error("Cannot flush() after finish()");
  send_head(false);
  co_await request_->connection->write({});
}

void RequestHandler::finish(std::string_view chunk) {
  if (finished_) throw std::logic_error("finish() called twice");
  if (!chunk.empty()) write(chunk);
  send_head(true);
  request_->connection->finish();
  finished_ = true;
  request_->mark_finished();
  log_request();
  on_finish();
}

void RequestHandler::redirect(std::string_view url, bool permanent, std::optional<int> status) {
  if (headers_written_) throw std::logic_error("Cannot redirect after headers have been written");
  set_status(status.value_or(permanent ? 301 : 302));
  set_header("Location", url);
  finish();
}

void RequestHandler::write_error(int status_code) {
  std::string_view reason = reason_.empty() ? http_reason(status_code) : std::string_view(reason_);
  finish(fmt::format("<html><title>{0}: {1}</title><body>{0}: {1}</body></html>", status_code, reason));
}

void RequestHandler::send_error(int status_code) {
  if (headers_written_) {
    // Too late for an error page: end the response as it stands, and the
    // connection with it, so the client sees a truncated body, not a valid one.
    log::gen().error("Cannot send error response after headers written");
    request_->connection->set_close_after_response();
    if (!finished_) {
      try {
        request_->connection->stream().close();
      } catch (...) {
      }
      finished_ = true;
    }
    return;
  }
  std::string reason = reason_;
  clear();
  set_status(status_code, reason);
  if (status_code == 405) set_header("Allow", allow_header());
  write_error(status_code);
  if (!finished_) finish();
}

std::string RequestHandler::allow_header() const {
  std::string allow;
  for (auto [name, bit] : kMethodBits) {
    if ((methods_ & bit) == 0) continue;
    if (!allow.empty()) allow += ", ";
    allow += name;
  }
  return allow;
}

std::string_view RequestHandler::get_argument(std::string_view name, std::string_view fallback) const {
  return request_->get_argument(name).value_or(fallback);
}

std::string_view RequestHandler::get_argument(std::string_view name) const {
  auto value = request_->get_argument(name);
  if (!value) throw MissingArgumentError(name);
  return *value;
}

std::vector<std::string> RequestHandler::get_arguments(std::string_view name) const {
  auto found = request_->arguments.find(name);
  return found == request_->arguments.end() ? std::vector<std::string>{} : found->second;
}

std::optional<std::string> RequestHandler::get_cookie(std::string_view name) const {
  const auto& cookies = request_->cookies();
  auto found = cookies.find(name);
  if (found == cookies.end()) return std::nullopt;
  return found->second;
}

void RequestHandler::set_cookie(std::string_view name, std::string_view value, const CookieOptions& options) {
  add_header("Set-Cookie", format_set_cookie(name, value, options));
}

void RequestHandler::clear_cookie(std::string_view name, std::string_view path, std::string_view domain) {
  CookieOptions options;
  options.path = std::string(path);
  options.domain = std::string(domain);
  options.expires = std::time(nullptr) - 365 * 24 * 3600;
  options.max_age = 0;
  set_cookie(name, "", options);
}

std::string_view RequestHandler::path_arg(std::string_view name) const {
  auto found = path_args_.find(name);
  if (found == path_args_.end()) throw std::out_of_range("no path argument " + std::string(name));
  return found->second;
}

Task<void> RequestHandler::begin() {
  std::exception_ptr error;
  try {
    co_await prepare();
    prepared_ = true;
  } catch (...) {
    error = std::current_exception();
  }
  if (error) handle_exception(error);
}

Task<void> RequestHandler::call_method() {
  unsigned bit = method_bit(request_->method);
  if ((methods_ & bit) == 0) throw HTTPError(405);
  switch (bit) {
    case kGet:
      co_await get();
      break;
    case kHead:
      // Without a head() of its own, HEAD runs get(); the connection drops the body.
      if ((methods_ & kHeadImplemented) != 0) {
        co_await head();
      } else {
        co_await get();
      }
      break;
    case kPost:
      co_await post();
      break;
    case kPut:
      co_await put();
      break;
    case kPatch:
      co_await patch();
      break;
    case kDelete:
      co_await delete_();
      break;
    case kOptions:
      co_await options();
      break;
    default:
      throw HTTPError(405);
  }
}

Task<void> RequestHandler::run_method() {
  std::exception_ptr error;
  try {
    if (!finished_) co_await call_method();
    if (!finished_) finish();
  } catch (...) {
    error = std::current_exception();
  }
  if (error) handle_exception(error);
}

Task<void> RequestHandler::execute() {
  co_await begin();
  if (!finished_) co_await run_method();
}

void RequestHandler::handle_exception(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const HTTPError& e) {
    if (e.status_code() >= 500 || e.what() != std::to_string(e.status_code())) {
      log::gen().warning("{} {} {} ({}): {}", e.status_code(), request_->method, request_->uri, request_->remote_ip,
                         e.what());
    }
    if (!e.reason().empty()) reason_ = e.reason();
    if (!finished_) send_error(e.status_code());
  } catch (const StreamClosedError&) {
    // The client went away mid-response: nothing to answer, nothing wrong here.
    finished_ = true;
  } catch (const CancelledError&) {
    throw;
  } catch (const std::exception& e) {
    log::app().error("Uncaught exception {} {} ({}): {}", request_->method, request_->uri, request_->remote_ip,
                     e.what());
    if (!finished_) send_error(500);
  }
}

void RequestHandler::log_request() const {
  if (!application_->settings().access_log) return;
  int status = status_code_;
  log::Level level = status < 400 ? log::Level::kInfo : status < 500 ? log::Level::kWarning : log::Level::kError;
  const log::Logger& access = log::access();
  if (!access.enabled(level)) return;
  access.write(level, fmt::format("{} {} {} ({}) {}B {:.2f}ms", status, request_->method, request_->uri,
                                  request_->remote_ip, bytes_sent_, request_->request_time() * 1000.0));
}

// ---------------------------------------------------------------- Application

// Tornado's _HandlerDelegate: one request, routed to one handler.
class HandlerDelegate final : public HTTPMessageDelegate {
 public:
  HandlerDelegate(Application& application, HTTP1Connection& connection)
      : application_(application), connection_(connection) {}

  Task<void> headers_received(const RequestStartLine& start_line, const HTTPHeaders& headers) override {
    request_.emplace(&connection_, start_line, headers);
    Application::Match match = application_.find_handler(request_->path);
    if (match.factory != nullptr) {
      handler_ = (*match.factory)();
    } else {
      handler_ = std::make_unique<RequestHandler>();  // answers 404 below
    }
    handler_->initialize(&application_, &*request_, match.methods, std::move(match.path_args));
    if (match.factory == nullptr) {
      handler_->send_error(404);
      co_return;
    }
    if (handler_->stream_request_body()) {
      streaming_ = true;
      co_await handler_->begin();
    }
  }

  Task<void> data_received(std::string_view chunk) override {
    if (!streaming_) {
      request_->body.append(chunk);
      co_return;
    }
    std::exception_ptr error;
    try {
      if (!handler_->finished()) co_await handler_->data_received(chunk);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) handler_->handle_exception(error);
  }

  Task<void> finish() override {
    if (handler_->finished()) co_return;
    if (streaming_) {
      co_await handler_->run_method();
      co_return;
    }
    bool bad_body = false;
    try {
      request_->parse_body(application_.settings().multipart);
    } catch (const HTTPInputError& e) {
      log::gen().info("Invalid request body from {}: {}", request_->remote_ip, e.what());
      bad_body = true;
    }
    if (bad_body) {
      handler_->send_error(400);
      co_return;
    }
    co_await handler_->execute();
  }

  void on_connection_close() override {
    if (handler_ && !handler_->finished()) handler_->finished_ = true;  // nothing more can be sent
  }

 private:
  Application& application_;
  HTTP1Connection& connection_;
  std::optional<HTTPServerRequest> request_;
  std::unique_ptr<RequestHandler> handler_;
  bool streaming_ = false;
};

Application::Application(Settings settings) : settings_(std::move(settings)) {}

std::unique_ptr<HTTPMessageDelegate> Application::start_request(HTTP1Connection& connection) {
  return std::make_unique<HandlerDelegate>(*this, connection);
}

void Application::add_handler(std::string_view pattern, Factory factory, unsigned methods) {
  routes_.push_back(Route{compile(pattern), std::move(factory), methods});
}

// "/users/{id:[0-9]+}" -> "", "users", capture id matching [0-9]+.
std::vector<Application::Segment> Application::compile(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
  }
  std::vector<Segment> segments;
  std::size_t at = 1;
  for (;;) {
    // A regex may hold '/', so a capture runs to its closing brace.
    std::size_t end = at;
    if (at < pattern.size() && pattern[at] == '{') {
      end = pattern.find('}', at);
      if (end == std::string_view::npos) throw std::invalid_argument("unclosed '{' in " + std::string(pattern));
      ++end;
    } else {
      end = pattern.find('/', at);
      if (end == std::string_view::npos) end = pattern.size();
    }
    std::string_view text = pattern.substr(at, end - at);
    Segment segment;
    if (!text.empty() && text.front() == '{') {
      std::string_view inner = text.substr(1, text.size() - 2);
      std::size_t colon = inner.find(':');
      segment.name = std::string(inner.substr(0, colon));
      if (segment.name.empty()) throw std::invalid_argument("unnamed capture in " + std::string(pattern));
      if (colon != std::string_view::npos) segment.regex.emplace(std::string(inner.substr(colon + 1)));
    } else {
      if (text.find_first_of("{}") != std::string_view::npos) {
        throw std::invalid_argument("a capture must be a whole segment: " + std::string(pattern));
      }
      segment.literal = std::string(text);
    }
    segments.push_back(std::move(segment));
    if (end >= pattern.size()) break;
    if (pattern[end] != '/') throw std::invalid_argument("a capture must be a whole segment: " + std::string(pattern));
    at = end + 1;
  }
  return segments;
}

bool Application::match(const Route& route, std::string_view path,
                        std::map<std::string, std::string, std::less<>>& args) {
  if (path.empty() || path.front() != '/') return false;
  std::string_view rest = path.substr(1);
  for (std::size_t i = 0; i < route.segments.size(); ++i) {
    const Segment& segment = route.segments[i];
    bool last = i + 1 == route.segments.size();
    // The last capture with a regex may span slashes ({path:.*}).
    std::size_t slash = rest.find('/');
    std::string_view piece = (last && segment.regex) ? rest : rest.substr(0, slash);
    if (last && !(segment.regex) && slash != std::string_view::npos) return false;
    if (segment.name.empty()) {
      if (piece != segment.literal) return false;
    } else {
      if (segment.regex ? !std::regex_match(piece.begin(), piece.end(), *segment.regex) : piece.empty()) return false;
      args[segment.name] = url_unescape(piece, /*plus_as_space=*/false);
    }
    if (last) return true;
    if (slash == std::string_view::npos) return false;
    rest.remove_prefix(slash + 1);
  }
  return false;
}

Application::Match Application::find_handler(std::string_view path) const {
  Match result;
  for (const Route& route : routes_) {
    result.path_args.clear();
    if (match(route, path, result.path_args)) {
      result.factory = &route.factory;
      result.methods = route.methods;
      return result;
    }
  }
  result.path_args.clear();
  return result;
}

}  // namespace whirl
