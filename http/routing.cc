#include "whirl/http/routing.h"

#include <optional>
#include <regex>
#include <stdexcept>
#include <vector>

#include "whirl/http/httputil.h"

namespace whirl {

namespace {

struct Segment {
  std::string literal;  // matched as is when name is empty
  std::string name;
  std::optional<std::regex> regex;
};

[[noreturn]] void bad_pattern(const char* why, std::string_view pattern) {
  throw std::invalid_argument(std::string(why) + ": " + std::string(pattern));
}

// One segment's text: "users", "{id}" or "{id:[0-9]+}".
Segment compile_segment(std::string_view text, std::string_view pattern) {
  Segment segment;
  if (text.empty() || text.front() != '{') {
    if (text.find_first_of("{}") != std::string_view::npos) bad_pattern("a capture must be a whole segment", pattern);
    segment.literal = std::string(text);
    return segment;
  }
  std::string_view inner = text.substr(1, text.size() - 2);
  std::size_t colon = inner.find(':');
  segment.name = std::string(inner.substr(0, colon));
  if (segment.name.empty()) bad_pattern("unnamed capture in", pattern);
  // std::regex_error (a std::runtime_error) for a bad regex, at compile time too.
  if (colon != std::string_view::npos) segment.regex.emplace(std::string(inner.substr(colon + 1)));
  return segment;
}

}  // namespace

struct PathMatches::Compiled {
  std::string pattern;
  std::vector<Segment> segments;
};

// "/users/{id:[0-9]+}" -> "users", capture id matching [0-9]+.
PathMatches::PathMatches(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') bad_pattern("route pattern must start with '/'", pattern);
  auto compiled = std::make_shared<Compiled>();
  compiled->pattern = std::string(pattern);
  std::size_t at = 1;
  for (;;) {
    // A regex may hold '/', so a capture runs to its closing brace.
    std::size_t end = at;
    if (at < pattern.size() && pattern[at] == '{') {
      end = pattern.find('}', at);
      if (end == std::string_view::npos) bad_pattern("unclosed '{' in", pattern);
      ++end;
    } else {
      end = pattern.find('/', at);
      if (end == std::string_view::npos) end = pattern.size();
    }
    compiled->segments.push_back(compile_segment(pattern.substr(at, end - at), pattern));
    if (end >= pattern.size()) break;
    if (pattern[end] != '/') bad_pattern("a capture must be a whole segment", pattern);
    at = end + 1;
  }
  compiled_ = std::move(compiled);
}

const std::string& PathMatches::pattern() const noexcept { return compiled_->pattern; }

bool PathMatches::match(std::string_view path, PathArgs& args) const {
  if (path.empty() || path.front() != '/') return false;
  const std::vector<Segment>& segments = compiled_->segments;
  std::string_view rest = path.substr(1);
  PathArgs captured;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const Segment& segment = segments[i];
    bool last = i + 1 == segments.size();
    // The last capture with a regex may span slashes ({path:.*}).
    std::size_t slash = rest.find('/');
    std::string_view piece = (last && segment.regex) ? rest : rest.substr(0, slash);
    if (last && !segment.regex && slash != std::string_view::npos) return false;
    if (segment.name.empty()) {
      if (piece != segment.literal) return false;
    } else {
      if (segment.regex ? !std::regex_match(piece.begin(), piece.end(), *segment.regex) : piece.empty()) return false;
      captured[segment.name] = url_unescape(piece, /*plus_as_space=*/false);
    }
    if (last) {
      for (auto& [name, value] : captured) args.insert_or_assign(name, std::move(value));
      return true;
    }
    if (slash == std::string_view::npos) return false;
    rest.remove_prefix(slash + 1);
  }
  return false;
}

}  // namespace whirl
