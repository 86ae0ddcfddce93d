// whirl/http/routing.h: Tornado's routing: which pattern a request path matches.
//
//     PathMatches users("/users/{id:[0-9]+}");
//     PathArgs args;
//     if (users.match("/users/42", args)) use(args.at("id"));   // "42"
//
// A pattern is literal text with `{name}` captures (one non-empty path
// segment) or `{name:regex}` captures (one segment that fully matches the
// regex; the last capture of a pattern may span slashes, as `{path:.*}`).
// Captured values are percent-decoded ('+' stays '+': this is a path, not
// a form). A malformed pattern throws std::invalid_argument when it is
// compiled, never when a request arrives.
//
// The regex engine (std::regex) is an implementation detail of routing.cc:
// a handler that includes web.h does not compile <regex>.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace whirl {

// A route's captures by name.
using PathArgs = std::map<std::string, std::string, std::less<>>;

// Tornado's PathMatches, with whirl's `{name:regex}` captures.
class PathMatches {
 public:
  explicit PathMatches(std::string_view pattern);

  // Whether `path` (the request's path, without the query) matches; on a
  // match its captures are added to `args`.
  bool match(std::string_view path, PathArgs& args) const;
  const std::string& pattern() const noexcept;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;  // shared: routes are copied, never changed
};

}  // namespace whirl
