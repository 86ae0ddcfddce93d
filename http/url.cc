#include "whirl/http/url.h"

#include <cstdint>
#include <stdexcept>

#include "whirl/http/http_headers.h"

namespace whirl {
namespace {

[[noreturn]] void refuse(std::string_view why, std::string_view url) {
  throw std::invalid_argument(std::string(why) + ": " + std::string(url.substr(0, 256)));
}

int default_port(std::string_view scheme) noexcept {
  if (scheme == "http" || scheme == "ws") return 80;
  if (scheme == "https" || scheme == "wss") return 443;
  return 0;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }
  return out;
}

// RFC 3986 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'.
std::size_t scheme_length(std::string_view text) noexcept {
  std::size_t i = 0;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (text.empty() || !alpha(text[0])) return 0;
  while (i < text.size() &&
         (alpha(text[i]) || (text[i] >= '0' && text[i] <= '9') || text[i] == '+' || text[i] == '-' || text[i] == '.'))
    ++i;
  return i < text.size() && text[i] == ':' ? i : 0;
}

// RFC 3986 5.2.4: "/a/b/../c/./d" -> "/a/c/d".
std::string remove_dot_segments(std::string_view path) {
  std::string out;
  while (!path.empty()) {
    if (path.starts_with("../")) {
      path.remove_prefix(3);
    } else if (path.starts_with("./")) {
      path.remove_prefix(2);
    } else if (path.starts_with("/./")) {
      path.remove_prefix(2);
    } else if (path == "/.") {
      path = "/";
    } else if (path.starts_with("/../") || path == "/..") {
      path = path.size() == 3 ? std::string_view("/") : path.substr(3);
      std::size_t slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (path == "." || path == "..") {
      path = {};
    } else {
      std::size_t next = path.find('/', 1);
      out += path.substr(0, next);
      path = next == std::string_view::npos ? std::string_view() : path.substr(next);
    }
  }
  return out;
}

}  // namespace

URL URL::parse(std::string_view url) {
  for (unsigned char c : url) {
    // A request line is split at spaces and a head at CR LF: a URL holding
    // either (a hostile Location) would write a second request.
    if (c <= 0x20 || c == 0x7f) refuse("control byte or space in URL", url);
  }
  std::string_view rest = url.substr(0, url.find('#'));
  std::size_t colon = scheme_length(rest);
  if (colon == 0 || rest.substr(colon, 3) != "://") refuse("URL without a scheme", url);
  URL parsed;
  parsed.scheme = lower(rest.substr(0, colon));
  if (default_port(parsed.scheme) == 0) refuse("URL scheme is not http, https, ws or wss", url);
  rest.remove_prefix(colon + 3);
  std::size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  parsed.target = authority_end == std::string_view::npos ? "/" : std::string(rest.substr(authority_end));
  if (parsed.target.front() == '?') parsed.target.insert(0, "/");
  if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    parsed.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  if (host.starts_with('[')) {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos) refuse("URL with an unclosed IPv6 literal", url);
    std::string_view after = host.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') refuse("URL with bytes after its IPv6 literal", url);
      port = after.substr(1);
    }
    host = host.substr(1, close - 1);
  } else if (std::size_t last = host.rfind(':'); last != std::string_view::npos) {
    port = host.substr(last + 1);
    host = host.substr(0, last);
  }
  if (host.empty()) refuse("URL without a host", url);
  parsed.host = lower(host);
  parsed.port = default_port(parsed.scheme);
  if (!port.empty()) {
    std::uint64_t value = 0;
    if (!parse_decimal(port, value) || value == 0 || value > 65535) refuse("URL with a bad port", url);
    parsed.port = static_cast<int>(value);
  }
  parsed.authority = lower(authority);
  return parsed;
}

std::string URL::str() const { return scheme + "://" + authority + target; }

// `origin` (scheme://authority) and a path with its query, dot segments removed.
static std::string join_normalized(std::string origin, std::string_view path_and_query) {
  std::string_view path = path_and_query.substr(0, path_and_query.find('?'));
  std::string normalized = remove_dot_segments(path);
  if (normalized.empty() || normalized.front() != '/') normalized.insert(0, "/");
  return origin + normalized + std::string(path_and_query.substr(path.size()));
}

// "//authority/path?query" after `scheme:`: the authority kept, the path normalized.
static std::string join_network_path(std::string_view scheme, std::string_view after_slashes) {
  std::size_t path_start = after_slashes.find_first_of("/?");
  std::string origin = std::string(scheme) + "://" + std::string(after_slashes.substr(0, path_start));
  if (path_start == std::string_view::npos) return origin;
  return join_normalized(std::move(origin), after_slashes.substr(path_start));
}

std::string resolve_url(std::string_view base_text, std::string_view reference) {
  reference = reference.substr(0, reference.find('#'));
  if (std::size_t colon = scheme_length(reference); colon != 0) {  // absolute
    if (reference.substr(colon, 3) != "://") return std::string(reference);
    return join_network_path(reference.substr(0, colon), reference.substr(colon + 3));
  }
  URL base = URL::parse(base_text);
  if (reference.starts_with("//")) return join_network_path(base.scheme, reference.substr(2));
  // A reference within the base's authority keeps its userinfo (RFC 3986 5.2.2).
  std::string origin = base.scheme + "://" + (base.userinfo.empty() ? "" : base.userinfo + "@") + base.authority;
  std::string_view base_path = std::string_view(base.target).substr(0, base.target.find('?'));
  if (reference.empty()) return origin + base.target;
  if (reference.front() == '?') return origin + std::string(base_path) + std::string(reference);
  if (reference.front() == '/') return join_normalized(std::move(origin), reference);
  std::string merged = std::string(base_path.substr(0, base_path.rfind('/') + 1)) + std::string(reference);
  return join_normalized(std::move(origin), merged);
}

}  // namespace whirl
