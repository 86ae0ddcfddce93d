// whirl/http/http_server_request.h: Tornado's HTTPServerRequest.
//
//     Task<void> handle(HTTPServerRequest& request) {
//       std::string_view name = request.get_argument("name");   // ?name=... or a form field
//       HTTPHeaders headers{{"Content-Type", "text/plain"}};
//       std::string body = fmt::format("{} {} from {}\n", request.method, request.path, request.remote_ip);
//       headers.add("Content-Length", std::to_string(body.size()));
//       request.connection->write_headers({"HTTP/1.1", 200, "OK"}, headers, body);
//       request.connection->finish();
//       co_return;
//     }
//
// One request as the application sees it: the start line split into method,
// uri, path and query; headers; the body (when the server buffered it);
// remote_ip and protocol from the connection, overridden by trusted proxy
// headers when the server runs with xheaders (see apply_xheaders); host and
// host_name; arguments from the query string and, after parse_body(), from
// urlencoded and multipart forms (Tornado's limits: 100 parts, 10 KiB of
// headers per part); cookies parsed on first use.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "whirl/http/http_connection.h"
#include "whirl/http/http_headers.h"
#include "whirl/http/httputil.h"
#include "whirl/http/request_parser.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {

class HTTPServerRequest {
 public:
  HTTPServerRequest(HTTPConnection* connection, const RequestStartLine& start_line, const HTTPHeaders& headers);

  std::string method;
  std::string uri;
  std::string version;
  HTTPHeaders headers;
  std::string body;
  std::string remote_ip;
  std::string protocol;
  std::string host;       // the Host header (or "127.0.0.1")
  std::string host_name;  // host without the port, lower-cased
  std::string path;
  std::string query;
  ArgumentMap query_arguments;
  ArgumentMap body_arguments;
  ArgumentMap arguments;  // both of the above
  FileMap files;
  HTTPConnection* connection;
  TimePoint start_time;

  // Fills body_arguments and files from `body` by Content-Type and merges
  // them into arguments. Throws HTTPInputError for a malformed form.
  void parse_body(const MultipartLimits& limits = {});

  // The last value of argument `name` (query or body), or `fallback`.
  std::optional<std::string_view> get_argument(std::string_view name) const;
  const std::map<std::string, std::string, std::less<>>& cookies() const;
  std::string full_url() const;
  // Seconds since the request started (until finish() when given).
  double request_time() const;
  void mark_finished() noexcept { finish_time_ = Clock::now(); }

 private:
  mutable std::optional<std::map<std::string, std::string, std::less<>>> cookies_;
  std::optional<TimePoint> finish_time_;
};

// Tornado's _apply_xheaders: the client's address and scheme as a trusted
// proxy reports them. X-Forwarded-For is read right to left, skipping the
// addresses in `trusted_downstream`; X-Real-Ip wins over it; neither is
// used unless it is a valid IP. X-Scheme, else X-Forwarded-Proto (its last
// element), counts only when it is "http" or "https".
void apply_xheaders(const HTTPHeaders& headers, const std::vector<std::string>& trusted_downstream,
                    std::string& remote_ip, std::string& protocol);

}  // namespace whirl
