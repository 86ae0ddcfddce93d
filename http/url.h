// whirl/http/url.h: absolute http(s) and ws(s) URLs, split and resolved.
//
//     URL url = URL::parse("https://user:pw@example.com:8443/a/b?x=1#top");
//     url.scheme;     // "https"            url.host;  // "example.com"
//     url.port;       // 8443               url.target;  // "/a/b?x=1"
//     url.authority;  // "example.com:8443" (what the Host header says)
//     url.userinfo;   // "user:pw"          (the fragment is dropped)
//     std::string next = resolve_url(url.str(), "../c");  // "https://example.com:8443/c"
//
// What a client needs from a URL and no more (Python's urllib.parse as
// Tornado's clients use it): the scheme picks the default port and TLS,
// the host is what is resolved and what the certificate must name
// (without an IPv6 literal's brackets), the target is what the request
// line carries. parse() throws std::invalid_argument naming the URL for a
// missing or unknown scheme, an empty host, a bad port, or a byte that
// could split a request line or a header (space, CR, LF, NUL, other
// controls): a URL from a redirect is the server's input, not ours.
//
// resolve_url is RFC 3986 section 5.2 (with its dot-segment removal), which
// is how a relative Location header is followed.
#pragma once

#include <string>
#include <string_view>

namespace whirl {

struct URL {
  std::string scheme;     // lower case: http, https, ws or wss
  std::string userinfo;   // before '@', still percent-encoded; usually empty
  std::string host;       // lower case, without an IPv6 literal's brackets
  int port = 0;           // the URL's, or the scheme's default
  std::string authority;  // host[:port] as the Host header carries it (no userinfo)
  std::string target;     // path and query, at least "/"

  static URL parse(std::string_view url);

  // https and wss.
  bool secure() const noexcept { return scheme == "https" || scheme == "wss"; }
  // scheme://authority/target: the URL again, without userinfo and fragment.
  std::string str() const;
};

// `reference` (absolute, network-path, absolute-path or relative) against
// the absolute `base`; the fragment is dropped.
std::string resolve_url(std::string_view base, std::string_view reference);

}  // namespace whirl
