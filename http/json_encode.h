// whirl/http/json_encode.h: Tornado's json_encode, what RequestHandler::write
// sends for a JSON object (an implementation detail of web.cc, with its own
// target so that its tests can pin it).
//
//     std::string body;
//     json_encode(nlohmann::json{{"id", 7}, {"note", "</script>"}}, body);
//     // body == R"({"id":7,"note":"<\/script>"})"
//
// The text is exactly nlohmann::json::dump()'s (compact, keys in order,
// bytes that are not UTF-8 replaced by U+FFFD rather than thrown on) with
// "</" written "<\/", so that JSON put into a page cannot end its <script>
// element; inside a JSON string "\/" means '/'.
//
// It is about twice as fast as dump() for the common document: a string
// with nothing to escape (printable ASCII, no '"', '\\' or '<') is copied
// as it is, checked eight bytes at a time; numbers are formatted without
// a serializer built for each; the text goes straight into the caller's
// buffer. A string that needs escaping or is not ASCII, and binary, are
// handed to dump() for that one value, so the rules stay nlohmann's.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace whirl {

// Appends `value`'s JSON text to `out`.
void json_encode(const nlohmann::json& value, std::string& out);

}  // namespace whirl
