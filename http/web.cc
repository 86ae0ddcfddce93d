#include "whirl/http/web.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "http/gzip_content_encoding.h"
#include "whirl/http/json_encode.h"
#include "whirl/http/static_file_handler.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/log.h"

namespace whirl {

namespace {

// The methods RequestHandler dispatches, in the order an Allow header lists them.
constexpr std::pair<std::string_view, Method> kMethods[] = {
    {"GET", Method::kGet},     {"HEAD", Method::kHead},     {"POST", Method::kPost},      {"PUT", Method::kPut},
    {"PATCH", Method::kPatch}, {"DELETE", Method::kDelete}, {"OPTIONS", Method::kOptions}};

std::optional<Method> method_named(std::string_view name) noexcept {
  for (auto [text, method] : kMethods) {
    if (text == name) return method;
  }
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------- RequestHandler

RequestHandler::RequestHandler() = default;
RequestHandler::~RequestHandler() = default;

Task<void> RequestHandler::get() { throw HTTPError(405); }
Task<void> RequestHandler::head() { co_await get(); }
Task<void> RequestHandler::post() { throw HTTPError(405); }
Task<void> RequestHandler::put() { throw HTTPError(405); }
Task<void> RequestHandler::patch() { throw HTTPError(405); }
Task<void> RequestHandler::delete_() { throw HTTPError(405); }
Task<void> RequestHandler::options() { throw HTTPError(405); }
Task<void> RequestHandler::prepare() { co_return; }
Task<void> RequestHandler::data_received(std::string_view) { co_return; }

void RequestHandler::initialize(Application* application, HTTPServerRequest* request, MethodSet methods,
                                PathArgs path_args) {
  application_ = application;
  request_ = request;
  methods_ = methods;
  path_args_ = std::move(path_args);
  clear();
}

namespace {

// The headers Tornado's clear() starts a response with (Server,
// Content-Type, Date), built once a second per thread and copied into each
// handler: add() would check and case every name and value again on every
// request (~1,500 instructions of a pipelined request's ~12,700).
const HTTPHeaders& default_headers(std::string_view server) {
  struct Defaults {
    std::string server;
    std::string date;
    HTTPHeaders headers;
  };
  thread_local Defaults defaults;
  std::string_view date = cached_http_date();
  if (defaults.date != date || defaults.server != server || defaults.headers.empty()) {
    defaults.headers.clear();
    defaults.headers.add("Server", server);
    defaults.headers.add("Content-Type", "text/html; charset=UTF-8");
    defaults.headers.add("Date", date);
    defaults.server.assign(server);
    defaults.date.assign(date);
  }
  return defaults.headers;
}

}  // namespace

void RequestHandler::clear() {
  // Room for the handler's own headers and the framing ones send_head adds,
  // taken before the copy (which keeps it): one allocation each for the
  // bytes and the fields, not a copy and then a regrowth on the first add.
  headers_.reserve(256, 8);
  headers_ = default_headers(application_->settings().server_header);
  status_code_ = 200;
  reason_.clear();
  write_buffer_.clear();
}

void RequestHandler::set_status(int status_code, std::string_view reason) {
  if (status_code < 100 || status_code > 999) throw std::invalid_argument(fmt::format("bad status {}", status_code));
  status_code_ = status_code;
  reason_.assign(reason);
}

namespace {
// Both write()s refuse a finished response the same way.
void check_not_finished(bool finished) {
  if (finished) throw std::logic_error("Cannot write() after finish()");
}
}  // namespace

void RequestHandler::write(std::string_view chunk) {
  check_not_finished(finished_);
  write_buffer_.append(chunk);
}

void RequestHandler::write_json(const nlohmann::json& object) {
  if (!object.is_object()) {
    // Tornado refuses lists too: a top-level JSON array is a script some
    // old browsers let another site's page run and read (JSON hijacking).
    throw std::invalid_argument("write() takes a JSON object; wrap arrays and scalars in one");
  }
  check_not_finished(finished_);
  // Straight into the body buffer (json_encode.h: dump()'s text, "</" escaped).
  json_encode(object, write_buffer_);
  set_header("Content-Type", "application/json; charset=UTF-8");
}

// Writes the head (first time) and the buffered body; `last` when finishing.
void RequestHandler::send_head(bool last) {
  HTTPConnection& connection = *request_->connection;
  if (!headers_written_) {
    if (compress_ && application_->settings().compress_response) {
      transform_ =
          GZipContentEncoding::transform_first_chunk(request_->headers, status_code_, headers_, write_buffer_, last);
    }
    headers_written_ = true;
    bool bodiless = status_code_ == 204 || status_code_ == 304 || (status_code_ >= 100 && status_code_ < 200);
    if (last && !bodiless && !headers_.contains("Content-Length")) {
      char digits[24];
      auto end = fmt::format_to(digits, "{}", write_buffer_.size());
      headers_.set("Content-Length", std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
    std::string_view reason = reason_.empty() ? http_reason(status_code_) : std::string_view(reason_);
    connection.write_headers({"HTTP/1.1", status_code_, reason}, headers_, write_buffer_);
  } else {
    if (transform_) transform_->transform_chunk(write_buffer_, last);
    if (!write_buffer_.empty()) connection.write(write_buffer_);
  }
  bytes_sent_ += write_buffer_.size();
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

Task<void> RequestHandler::write_file(File& file, std::uint64_t offset, std::uint64_t length) {
  if (finished_) throw std::logic_error("Cannot write_file() after finish()");
  if (transform_) throw std::logic_error("Cannot write_file() into a gzipped response");
  compress_ = false;  // the file's bytes are not run through a transform
  send_head(false);
  bytes_sent_ += length;
  co_await request_->connection->write_file(file, offset, length);
}

IOStream& RequestHandler::detach() {
  IOStream& stream = request_->connection->detach();
  finished_ = true;  // nothing of ours follows: no finish(), no error page
  release_response();
  return stream;
}

IOStream& RequestHandler::detach(Task<void> session) {
  request_->connection->detach(std::move(session));
  IOStream& stream = detach();
  request_->connection = nullptr;  // gone by the time the session runs
  return stream;
}

// Nothing more is sent: what the response held goes (a detached
// connection may live for hours).
void RequestHandler::release_response() noexcept {
  // Moved out, not assigned over: a string assigned an empty one keeps its
  // buffer.
  { HTTPHeaders released = std::move(headers_); }
  headers_.clear();
  std::string().swap(write_buffer_);
  std::string().swap(reason_);
  transform_.reset();
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
    if (!finished_) {
      request_->connection->abort();
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
  for (auto [name, method] : kMethods) {
    if (!methods_.contains(method)) continue;
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

std::string RequestHandler::static_url(std::string_view path) const { return application_->static_url(path); }

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
  std::optional<Method> method = method_named(request_->method);
  if (!method || !methods_.contains(*method)) throw HTTPError(405);
  switch (*method) {
    case Method::kGet:
      co_await get();
      break;
    case Method::kHead:
      co_await head();
      break;
    case Method::kPost:
      co_await post();
      break;
    case Method::kPut:
      co_await put();
      break;
    case Method::kPatch:
      co_await patch();
      break;
    case Method::kDelete:
      co_await delete_();
      break;
    case Method::kOptions:
      co_await options();
      break;
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
  HandlerDelegate(Application& application, HTTPConnection& connection)
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
  HTTPConnection& connection_;
  std::optional<HTTPServerRequest> request_;
  std::unique_ptr<RequestHandler> handler_;
  bool streaming_ = false;
};

Application::Application(Settings settings) : settings_(std::move(settings)) {
  if (settings_.static_path.empty()) return;
  static_files_ = std::make_shared<StaticFiles>(StaticFileOptions{.path = settings_.static_path});
  for (std::string pattern : {settings_.static_url_prefix + "{path:.*}", std::string("/{path:favicon\\.ico}"),
                              std::string("/{path:robots\\.txt}")}) {
    add_handler<StaticFileHandler>(pattern, static_files_);
  }
}

Application::~Application() = default;

std::string Application::static_url(std::string_view path) const {
  if (!static_files_) throw std::logic_error("static_url() needs the static_path setting");
  std::string url = settings_.static_url_prefix + std::string(path);
  std::string version = static_files_->version(path);
  if (version.empty()) {
    log::gen().warning("Could not open static file {}", path);
    return url;
  }
  return url + "?v=" + version;
}

std::unique_ptr<HTTPMessageDelegate> Application::start_request(HTTPConnection& connection) {
  return std::make_unique<HandlerDelegate>(*this, connection);
}

void Application::add_handler(std::string_view pattern, Factory factory, MethodSet methods) {
  routes_.push_back(Route{PathMatches(pattern), std::move(factory), methods});
}

Application::Match Application::find_handler(std::string_view path) const {
  Match result;
  for (const Route& route : routes_) {
    if (route.matcher.match(path, result.path_args)) {
      result.factory = &route.factory;
      result.methods = route.methods;
      return result;
    }
  }
  return result;
}

}  // namespace whirl
