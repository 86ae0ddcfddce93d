// whirl/http/web.h: the server half of Tornado's web.py: Application and RequestHandler.
//
//     class MainHandler : public RequestHandler {
//       Task<void> get() override {
//         write("Hello, " + std::string(get_argument("name", "World")));
//         co_return;
//       }
//     };
//     class UserHandler : public RequestHandler {
//       Task<void> get() override {                  // /users/{id:[0-9]+}
//         write(nlohmann::json{{"id", path_arg("id")}, {"active", true}});
//         co_return;
//       }
//     };
//
//     Application app({.compress_response = true});
//     app.add_handler<MainHandler>("/");
//     app.add_handler<UserHandler>("/users/{id:[0-9]+}");
//     HTTPServer server(app);
//     server.listen(8888);
//
// Routing. A pattern is literal text with `{name}` captures (one path
// segment) or `{name:regex}` captures (routing.h); routes are tried in the
// order they were added. No route: 404.
// A method the handler does not override: 405 with an Allow header listing
// those it does (worked out at compile time in add_handler). HEAD falls
// back to get() with the body dropped and its Content-Length kept.
//
// A request's life, as in Tornado's RequestHandler._execute: prepare(), the
// method, then finish() unless the method already finished (or flush()ed
// and left the response open on purpose by calling finish later). An
// HTTPError thrown anywhere becomes send_error(code); any other exception is
// logged on the `application` logger and becomes a 500; a peer that goes
// away mid-response is not an error. Handlers whose stream_request_body()
// is true get prepare() when the headers arrive and data_received() for each
// piece of the body, never buffering it.
//
// Responses carry `Server: whirl`, a Date header formatted at most once a
// second, and Content-Length (or chunked coding after flush()). With
// compress_response, bodies of text-like types over 1 KiB are gzipped for
// clients that accept it (Tornado's GZipContentEncoding). write() takes a
// JSON object (nlohmann::json, Debian's nlohmann-json3-dev) as Tornado's
// takes a dict: serialized, `</` escaped for <script>, Content-Type set.
//
// Files: the static_path setting mounts StaticFileHandler (static_file_handler.h)
// at static_url_prefix, and static_url() links to a file with its content
// hash; write_file() sends a file's bytes from any handler.
//
// A handler that speaks another protocol on the connection after its
// answer (a WebSocket after 101) takes the stream with detach(). Each request is logged on the `access` logger
// ("200 GET /path (127.0.0.1) 13B 0.42ms"), which settings.access_log or the
// logger's level can silence.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "whirl/http/http_connection.h"
#include "whirl/http/http_headers.h"
#include "whirl/http/http_server_request.h"
#include "whirl/http/httputil.h"
#include "whirl/http/routing.h"
#include "whirl/runtime/clock.h"
#include "whirl/runtime/task.h"

namespace whirl {

class Application;
class File;
class GZipContentEncoding;
class StaticFiles;

// Thrown by a handler to answer with `status_code` (Tornado's HTTPError).
class HTTPError : public std::runtime_error {
 public:
  explicit HTTPError(int status_code, std::string log_message = {}, std::string reason = {})
      : std::runtime_error(log_message.empty() ? std::to_string(status_code) : log_message),
        status_code_(status_code),
        reason_(std::move(reason)) {}
  int status_code() const noexcept { return status_code_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  int status_code_;
  std::string reason_;
};

// A required argument is missing (400).
class MissingArgumentError : public HTTPError {
 public:
  explicit MissingArgumentError(std::string_view name)
      : HTTPError(400, "Missing argument " + std::string(name)), arg_name(name) {}
  std::string arg_name;
};

// The methods RequestHandler dispatches.
enum class Method : unsigned char { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions };

// Which of them a handler implements (worked out by Application::methods_of).
class MethodSet {
 public:
  constexpr MethodSet() noexcept = default;
  constexpr MethodSet(std::initializer_list<Method> methods) noexcept {
    for (Method method : methods) add(method);
  }
  constexpr MethodSet& add(Method method) noexcept {
    bits_ |= bit(method);
    return *this;
  }
  constexpr bool contains(Method method) const noexcept { return (bits_ & bit(method)) != 0; }
  constexpr bool empty() const noexcept { return bits_ == 0; }
  friend constexpr bool operator==(MethodSet, MethodSet) noexcept = default;

 private:
  static constexpr unsigned bit(Method method) noexcept { return 1U << static_cast<unsigned>(method); }
  unsigned bits_ = 0;
};

class RequestHandler {
 public:
  RequestHandler();
  RequestHandler(const RequestHandler&) = delete;
  RequestHandler& operator=(const RequestHandler&) = delete;
  virtual ~RequestHandler();

  // ---- what a handler overrides ----
  virtual Task<void> get();
  // Unless overridden, HEAD runs get() and the connection drops the body.
  virtual Task<void> head();
  virtual Task<void> post();
  virtual Task<void> put();
  virtual Task<void> patch();
  virtual Task<void> delete_();
  virtual Task<void> options();
  virtual Task<void> prepare();
  virtual void on_finish() {}
  virtual bool stream_request_body() const { return false; }
  virtual Task<void> data_received(std::string_view chunk);
  // The page send_error() writes (Tornado's default small HTML page).
  virtual void write_error(int status_code);

  // ---- the response ----
  void set_status(int status_code, std::string_view reason = {});
  int get_status() const noexcept { return status_code_; }
  void set_header(std::string_view name, std::string_view value) { headers_.set(name, value); }
  void add_header(std::string_view name, std::string_view value) { headers_.add(name, value); }
  void clear_header(std::string_view name) { headers_.remove(name); }
  // Buffers body bytes.
  void write(std::string_view chunk);
  // A JSON object, serialized (Tornado's json_encode: "</" escaped), with
  // Content-Type application/json. Like Tornado, only objects: a top-level
  // array throws std::invalid_argument (old browsers let a page read it).
  template <typename Json>
  requires std::same_as<Json, nlohmann::json>  // not a conversion: "text" must not become JSON
  void write(const Json& object) { write_json(object); }
  // Sends the headers and what is buffered (chunked), then waits for it to leave.
  Task<void> flush();
  // Sends the headers and what is buffered, then `length` bytes of `file`
  // from `offset` in bounded pieces read through the ring
  // (HTTPConnection::write_file); completes once the last piece is queued.
  // Set a Content-Length that counts them first, or the body goes chunked.
  // The bytes leave as they are: this response is not gzipped
  // (compress_response), and write_file() into one already being gzipped
  // throws std::logic_error.
  Task<void> write_file(File& file, std::uint64_t offset, std::uint64_t length);
  // Ends the response (buffered body, Content-Length when nothing was flushed).
  void finish(std::string_view chunk = {});
  void redirect(std::string_view url, bool permanent = false, std::optional<int> status = std::nullopt);
  void send_error(int status_code = 500);
  void clear();
  bool finished() const noexcept { return finished_; }
  // Tornado's detach(): takes the connection's stream over, after this
  // handler's answer (a 101) was finished or before anything was written;
  // the handler sends nothing more itself. See HTTPConnection::detach.
  IOStream& detach();
  // detach() for a protocol that outlives the request (a WebSocket):
  // `session` runs as the connection once this handler's method has
  // returned, while the request loop's frames end; the handler and its
  // request live until `session` ends (it may be a member coroutine). The
  // response's headers and buffer are released, and request().connection
  // is null from here: the connection is gone. It may follow a detach(),
  // to build the session over the stream that returned:
  //
  //     IOStream& stream = detach();
  //     protocol_ = std::make_unique<Protocol>(stream);
  //     detach(protocol_->run());
  //
  // See HTTPConnection::detach.
  IOStream& detach(Task<void> session);

  // ---- the request ----
  HTTPServerRequest& request() noexcept { return *request_; }
  Application& application() noexcept { return *application_; }
  const Application& application() const noexcept { return *application_; }
  // The last value of argument `name` (query string or form); fallback when absent.
  std::string_view get_argument(std::string_view name, std::string_view fallback) const;
  // Throws MissingArgumentError (400) when absent.
  std::string_view get_argument(std::string_view name) const;
  std::vector<std::string> get_arguments(std::string_view name) const;
  std::optional<std::string> get_cookie(std::string_view name) const;
  void set_cookie(std::string_view name, std::string_view value, const CookieOptions& options = {});
  void clear_cookie(std::string_view name, std::string_view path = "/", std::string_view domain = {});
  // A `{name}` capture of the route.
  std::string_view path_arg(std::string_view name) const;
  // Application::static_url.
  std::string static_url(std::string_view path) const;

 protected:
  // This response's body is sent as the handler wrote it: compress_response
  // does not apply (a handler that encodes its own, as StaticFileHandler
  // serves its cached gzip). Before the headers are written.
  void disable_compression() noexcept { compress_ = false; }

 private:
  friend class Application;
  friend class HandlerDelegate;

  void initialize(Application* application, HTTPServerRequest* request, MethodSet methods, PathArgs path_args);
  // prepare() and the method (or 405), with errors turned into responses.
  Task<void> execute();
  Task<void> begin();  // the method check and prepare()
  Task<void> run_method();
  Task<void> call_method();
  void handle_exception(std::exception_ptr error);
  void write_json(const nlohmann::json& object);
  void send_head(bool last);
  void release_response() noexcept;
  void log_request() const;
  std::string allow_header() const;

  Application* application_ = nullptr;
  HTTPServerRequest* request_ = nullptr;
  MethodSet methods_;
  PathArgs path_args_;
  HTTPHeaders headers_;
  int status_code_ = 200;
  std::string reason_;
  std::string write_buffer_;
  std::unique_ptr<GZipContentEncoding> transform_;  // set while gzipping
  bool headers_written_ = false;
  bool finished_ = false;
  bool prepared_ = false;
  bool compress_ = true;
  std::uint64_t bytes_sent_ = 0;
};

class Application : public HTTPServerConnectionDelegate {
 public:
  struct Settings {
    bool compress_response = false;
    bool access_log = true;
    std::string server_header = "whirl";
    MultipartLimits multipart{};
    // WebSocketHandler's (Tornado's websocket_* settings).
    std::uint64_t websocket_max_message_size = 10 * 1024 * 1024;
    Duration websocket_ping_interval{};  // zero: no pings
    Duration websocket_ping_timeout{};   // zero: max(3 * interval, 30 s)
    // Tornado's static_path: when set, StaticFileHandler serves the
    // directory under static_url_prefix (with StaticFileOptions' defaults),
    // and /favicon.ico and /robots.txt from it, ahead of the routes added
    // later. The directory must exist (the constructor throws
    // std::system_error otherwise).
    std::string static_path{};
    std::string static_url_prefix = "/static/";
  };
  using Factory = std::function<std::unique_ptr<RequestHandler>()>;

  Application() : Application(Settings{}) {}
  explicit Application(Settings settings);
  ~Application() override;

  // Routes `pattern` to a new Handler(args...) per request: Tornado's
  // (pattern, Handler, kwargs). The arguments are copied once, here, and
  // passed by const reference to every construction.
  template <typename Handler, typename... Args>
  void add_handler(std::string_view pattern, Args&&... args) {
    static_assert(std::is_base_of_v<RequestHandler, Handler>);
    add_handler(
        pattern, [... args = std::forward<Args>(args)] { return std::make_unique<Handler>(args...); },
        methods_of<Handler>());
  }
  // `methods`: those the handler implements.
  void add_handler(std::string_view pattern, Factory factory, MethodSet methods);

  const Settings& settings() const noexcept { return settings_; }
  // Tornado's static_url: the URL of `path` (relative to static_path) with
  // a version argument, "/static/css/site.css?v=<md5 of the file>", which
  // StaticFileHandler answers with a year's Cache-Control. Without the
  // version when the file cannot be read (a warning is logged), as Tornado
  // does; throws std::logic_error when no static_path is set.
  std::string static_url(std::string_view path) const;
  std::unique_ptr<HTTPMessageDelegate> start_request(HTTPConnection& connection) override;

  struct Match {
    const Factory* factory = nullptr;
    MethodSet methods;
    PathArgs path_args;
  };
  // The first route matching `path` (factory null when none).
  Match find_handler(std::string_view path) const;

  template <typename Handler>
  static constexpr MethodSet methods_of() {
    using Base = Task<void> (RequestHandler::*)();
    MethodSet methods;
    if (!std::is_same_v<decltype(&Handler::get), Base>) methods.add(Method::kGet).add(Method::kHead);
    if (!std::is_same_v<decltype(&Handler::head), Base>) methods.add(Method::kHead);
    if (!std::is_same_v<decltype(&Handler::post), Base>) methods.add(Method::kPost);
    if (!std::is_same_v<decltype(&Handler::put), Base>) methods.add(Method::kPut);
    if (!std::is_same_v<decltype(&Handler::patch), Base>) methods.add(Method::kPatch);
    if (!std::is_same_v<decltype(&Handler::delete_), Base>) methods.add(Method::kDelete);
    if (!std::is_same_v<decltype(&Handler::options), Base>) methods.add(Method::kOptions);
    return methods;
  }

 private:
  struct Route {
    PathMatches matcher;
    Factory factory;
    MethodSet methods;
  };

  Settings settings_;
  std::vector<Route> routes_;
  std::shared_ptr<StaticFiles> static_files_;  // static_path's
};

}  // namespace whirl
