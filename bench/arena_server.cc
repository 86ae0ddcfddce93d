// bench/arena_server: the cells of bench/compare shaped like HttpArena's and
// TechEmpower's, written as a Tornado user writes them: an Application with
// one RequestHandler per endpoint, access log off, compress_response on.
//
//     arena_server --port 8080 --data bench/arena_data.json [--address 127.0.0.1]
//
//     GET  /                       "Hello, World!" (text/plain)
//     GET  /baseline?a=1&b=2       "3": a + b
//     POST /baseline?a=1&b=2  "3"  "6": a + b + the body's integer
//     GET  /json                   the --data object, serialised per request
//                                  (gzipped for a client that accepts it)
//     GET  /delay/15               "ok" after a 15 ms timer (up to 10 s)
//
// A number that is not a decimal int64, or a sum that overflows, is a 400
// naming the argument: a benchmark that mistyped its request must see
// errors, not a server that made something up.
#include <fmt/core.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "bench/bench_server.h"
#include "examples/server_flags.h"
#include "whirl/http/httpserver.h"
#include "whirl/http/web.h"
#include "whirl/runtime/gen.h"

using whirl::HTTPError;
using whirl::Task;

namespace {

// `text` as a decimal int64; a 400 naming `what` otherwise.
std::int64_t integer(std::string_view text, std::string_view what) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    throw HTTPError(400, fmt::format("{} is not a decimal integer: '{}'", what, text));
  }
  return value;
}

std::int64_t add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) throw HTTPError(400, "the sum overflows an int64");
  return sum;
}

class PlaintextHandler final : public whirl::RequestHandler {
 public:
  Task<void> get() override {
    set_header("Content-Type", "text/plain");
    write("Hello, World!");
    co_return;
  }
};

// HttpArena's baseline: the query's a + b, plus the body's integer for a POST.
class BaselineHandler final : public whirl::RequestHandler {
 public:
  Task<void> get() override {
    answer(query_sum());
    co_return;
  }
  Task<void> post() override {
    answer(add(query_sum(), integer(request().body, "the body")));
    co_return;
  }

 private:
  std::int64_t query_sum() const { return add(integer(get_argument("a"), "a"), integer(get_argument("b"), "b")); }
  void answer(std::int64_t value) {
    set_header("Content-Type", "text/plain");
    write(fmt::format("{}", value));
  }
};

// The JSON cell: the same object serialised for every request, as a handler
// that renders its model would (write() dumps it; compress_response gzips
// it, being over GZipContentEncoding's 1 KiB, for a client that accepts it).
class JsonHandler final : public whirl::RequestHandler {
 public:
  explicit JsonHandler(const nlohmann::json* document) : document_(*document) {}
  Task<void> get() override {
    write(document_);
    co_return;
  }

 private:
  const nlohmann::json& document_;
};

// The async cell: the answer waits on a timer, the connection meanwhile
// holds nothing but its frames.
class DelayHandler final : public whirl::RequestHandler {
 public:
  Task<void> get() override {
    std::int64_t ms = integer(path_arg("ms"), "the delay");
    if (ms > 10'000) throw HTTPError(400, "the delay is over 10 s");
    co_await whirl::sleep(std::chrono::milliseconds(ms));
    set_header("Content-Type", "text/plain");
    write("ok");
  }
};

nlohmann::json load_document(const examples::ServerFlags& flags, const std::string& path) {
  std::ifstream in(path);
  if (!in) flags.usage(fmt::format("--data {}: cannot read it", path));
  nlohmann::json document = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) flags.usage(fmt::format("--data {}: not a JSON object", path));
  return document;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_path;
  examples::ServerFlags flags = examples::ServerFlags::parse(
      argc, argv, "arena_server", "--data FILE",
      [&](const examples::ServerFlags&, std::string_view arg, const std::function<const char*()>& value) {
        if (arg != "--data") return false;
        data_path = value();
        return true;
      });
  if (data_path.empty()) flags.usage("--data FILE (bench/arena_data.json) is required");
  const nlohmann::json document = load_document(flags, data_path);

  whirl::Application app({.compress_response = true, .access_log = false});
  app.add_handler<PlaintextHandler>("/");
  app.add_handler<BaselineHandler>("/baseline");
  app.add_handler<JsonHandler>("/json", &document);
  app.add_handler<DelayHandler>("/delay/{ms}");  // a segment capture: integer() checks it
  whirl::HTTPServer server(app, {.ssl_options = flags.ssl_options()});
  bench::listen(server, flags);
  fmt::print("arena_server: serving http://{}:{}/\n", flags.address.empty() ? "127.0.0.1" : flags.address,
             server.addresses().front().port());
  std::fflush(stdout);
  bench::serve_until_drained(server, flags.processes);
  return 0;
}
