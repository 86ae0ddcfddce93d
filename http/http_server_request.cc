#include "whirl/http/http_server_request.h"

#include <algorithm>
#include <chrono>

#include "whirl/net/netutil.h"

namespace whirl {

namespace {

// "Example.com:8080" -> "example.com"; "[::1]:80" -> "::1".
std::string host_without_port(std::string_view host) {
  std::string lowered;
  for (char c : host) lowered.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  std::string_view h = lowered;
  if (!h.empty() && h.front() == '[') {
    std::size_t close = h.find(']');
    return std::string(h.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  }
  std::size_t colon = h.rfind(':');
  if (colon != std::string_view::npos && h.find(':') == colon) h = h.substr(0, colon);
  return std::string(h);
}

void merge(ArgumentMap& into, const ArgumentMap& from) {
  for (const auto& [name, values] : from) {
    auto& list = into[name];
    list.insert(list.end(), values.begin(), values.end());
  }
}

}  // namespace

void apply_xheaders(const HTTPHeaders& headers, const std::vector<std::string>& trusted_downstream,
                    std::string& remote_ip, std::string& protocol) {
  std::string_view ip = remote_ip;
  std::string_view forwarded = headers.get("X-Forwarded-For");
  if (!forwarded.empty()) {
    // The rightmost address not added by one of our own proxies.
    std::string_view rest = forwarded;
    for (;;) {
      std::size_t comma = rest.rfind(',');
      ip = trim_ows(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      bool trusted = std::find(trusted_downstream.begin(), trusted_downstream.end(), ip) != trusted_downstream.end();
      if (!trusted || comma == std::string_view::npos) break;
      rest = rest.substr(0, comma);
    }
  }
  ip = trim_ows(headers.get("X-Real-Ip", ip));
  std::string candidate(ip);
  if (is_valid_ip(candidate)) remote_ip = std::move(candidate);

  std::string_view scheme = headers.get("X-Scheme", headers.get("X-Forwarded-Proto"));
  std::size_t comma = scheme.rfind(',');
  if (comma != std::string_view::npos) scheme = scheme.substr(comma + 1);
  scheme = trim_ows(scheme);
  if (scheme == "http" || scheme == "https") protocol.assign(scheme);
}

HTTPServerRequest::HTTPServerRequest(HTTPConnection* connection_, const RequestStartLine& start_line,
                                     const HTTPHeaders& headers_)
    : method(start_line.method),
      uri(start_line.path),
      version(start_line.version),
      headers(headers_),
      connection(connection_),
      start_time(Clock::now()) {
  const HTTPRequestContext* context = connection != nullptr ? connection->context() : nullptr;
  if (context != nullptr) {
    remote_ip = context->remote_ip;
    protocol = context->protocol;
    if (context->xheaders) apply_xheaders(headers, context->trusted_downstream, remote_ip, protocol);
  } else {
    protocol = "http";
  }
  host = std::string(headers.get("Host"));
  if (host.empty()) host = "127.0.0.1";
  host_name = host_without_port(host);
  std::size_t question = uri.find('?');
  path = uri.substr(0, question);
  if (question != std::string::npos) query = uri.substr(question + 1);
  parse_query_string(query, query_arguments);
  arguments = query_arguments;
}

void HTTPServerRequest::parse_body(const MultipartLimits& limits) {
  parse_body_arguments(headers.get("Content-Type"), body, body_arguments, files, limits);
  merge(arguments, body_arguments);
}

std::optional<std::string_view> HTTPServerRequest::get_argument(std::string_view name) const {
  auto found = arguments.find(name);
  if (found == arguments.end() || found->second.empty()) return std::nullopt;
  return std::string_view(found->second.back());
}

const std::map<std::string, std::string, std::less<>>& HTTPServerRequest::cookies() const {
  if (!cookies_) {
    cookies_.emplace();
    for (std::string_view header : headers.get_list("Cookie")) {
      for (auto& [name, value] : parse_cookie(header)) (*cookies_)[name] = value;
    }
  }
  return *cookies_;
}

std::string HTTPServerRequest::full_url() const { return protocol + "://" + host + uri; }

double HTTPServerRequest::request_time() const {
  TimePoint end = finish_time_.value_or(Clock::now());
  return std::chrono::duration<double>(end - start_time).count();
}

}  // namespace whirl
