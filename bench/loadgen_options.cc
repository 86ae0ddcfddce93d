#include "bench/loadgen_options.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "whirl/http/http_headers.h"
#include "whirl/http/url.h"

namespace bench {
namespace {

constexpr const char* kUsage =
    "usage: loadgen URL [-c CONNECTIONS] [-d SECONDS] [-w WARMUP_SECONDS] [-p PIPELINE_DEPTH]\n"
    "               [-m METHOD] [-H 'Name: value']... [--body TEXT | --body-file FILE]\n"
    "               [--mix 'METHOD TARGET']... [--requests-per-connection N]\n"
    "               [--rate REQUESTS_PER_S] [--timeout SECONDS] [--idle] [--sources N]\n"
    "               [--batch COMPLETIONS] [--batch-delay-us MICROSECONDS] [--json FILE] [--quiet]\n";

[[noreturn]] void usage(const std::string& message) {
  fmt::print(stderr, "loadgen: {}\n{}", message, kUsage);
  std::exit(2);
}

template <typename T>
T number(std::string_view flag, std::string_view text, T low) {
  T value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < low) {
    usage(fmt::format("{} wants a number >= {}, not '{}'", flag, low, text));
  }
  return value;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) usage("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A header given with -H must be a field the server's strict parser would
// take, or every request would be refused and the run would measure 400s.
void check_header(const std::string& header) {
  std::size_t colon = header.find(':');
  if (colon == std::string::npos || !whirl::HTTPHeaders::is_token(header.substr(0, colon)) ||
      header.find_first_of("\r\n") != std::string::npos) {
    usage(fmt::format("-H wants 'Name: value', not '{}'", header));
  }
}

// A --mix entry, "METHOD TARGET", split once into its request line: a
// token, one space, an origin-form target without spaces or control bytes
// (it is sent as written). HEAD is
// refused: the loader frames every response of a run alike (a HEAD answer
// has no body), so it cannot sit in a mix.
LoadgenOptions::RequestLine parse_mix(std::string_view entry) {
  std::size_t space = entry.find(' ');
  std::string_view method = entry.substr(0, space);
  std::string_view target = space == std::string_view::npos ? "" : entry.substr(space + 1);
  bool clean_target = !target.empty() && target.front() == '/' &&
                      std::none_of(target.begin(), target.end(), [](char c) { return c <= ' ' || c == 0x7f; });
  if (space == std::string_view::npos || !whirl::HTTPHeaders::is_token(method) || !clean_target) {
    usage(fmt::format("--mix wants 'METHOD /target', not '{}'", entry));
  }
  if (method == "HEAD") usage("--mix cannot hold HEAD (its answers have no body; run it on its own with -m HEAD)");
  return {std::string(method), std::string(target)};
}

bool carries_body(std::string_view method) { return method == "POST" || method == "PUT" || method == "PATCH"; }

// The client's URL rules (whirl/http/url.h), not a copy of them.
void parse_url(LoadgenOptions& options) {
  whirl::URL url;
  try {
    url = whirl::URL::parse(options.url);
  } catch (const std::invalid_argument& e) {
    usage(e.what());
  }
  if (url.scheme != "http" && url.scheme != "https") {
    usage(fmt::format("'{}' is not an http:// or https:// URL", options.url));
  }
  options.tls = url.secure();
  options.host = url.host;
  options.port = url.port;
  options.authority = url.authority;
  options.target = url.target;
}

}  // namespace

LoadgenOptions LoadgenOptions::parse(int argc, char** argv) {
  LoadgenOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "-c" || flag == "--connections") {
      options.connections = number<int>(flag, value(), 1);
    } else if (flag == "-d" || flag == "--duration") {
      options.duration = number<double>(flag, value(), 0.1);
    } else if (flag == "-w" || flag == "--warmup") {
      options.warmup = number<double>(flag, value(), 0.0);
    } else if (flag == "-p" || flag == "--pipeline") {
      options.depth = number<int>(flag, value(), 1);
    } else if (flag == "-m" || flag == "--method") {
      options.method = value();
      if (!whirl::HTTPHeaders::is_token(options.method)) usage("bad method " + options.method);
    } else if (flag == "-H" || flag == "--header") {
      options.headers.push_back(value());
      check_header(options.headers.back());
    } else if (flag == "--body") {
      options.body = value();
    } else if (flag == "--body-file") {
      options.body = read_file(value());
    } else if (flag == "--mix") {
      options.mix.push_back(parse_mix(value()));
    } else if (flag == "--requests-per-connection") {
      options.requests_per_connection = number<int>(flag, value(), 1);
    } else if (flag == "--rate") {
      options.rate = number<double>(flag, value(), 0.001);
    } else if (flag == "--timeout") {
      options.timeout = number<double>(flag, value(), 0.001);
    } else if (flag == "--sources") {
      options.sources = number<int>(flag, value(), 1);
      if (options.sources > 254) usage("--sources goes up to 254 (127.0.0.1 .. 127.0.0.254)");
    } else if (flag == "--batch") {
      options.batch = number<int>(flag, value(), 0);
    } else if (flag == "--batch-delay-us") {
      options.batch_delay_us = number<int>(flag, value(), 1);
    } else if (flag == "--json") {
      options.json_path = value();
    } else if (flag == "--idle") {
      options.idle = true;
    } else if (flag == "--quiet" || flag == "-q") {
      options.quiet = true;
    } else if (flag == "-h" || flag == "--help") {
      fmt::print("{}", kUsage);
      std::exit(0);
    } else if (!flag.starts_with('-') && options.url.empty()) {
      options.url = flag;
    } else {
      usage("unknown argument " + flag);
    }
  }
  if (options.url.empty()) usage("no URL");
  parse_url(options);
  if (options.sources > 1 && options.host.rfind("127.", 0) != 0) usage("--sources is for a 127.x.y.z target");
  if (options.requests_per_connection > 0 && (options.depth > 1 || options.rate > 0 || options.idle)) {
    usage("--requests-per-connection is for the closed loop at depth 1 (no -p, --rate or --idle)");
  }
  return options;
}

unsigned LoadgenOptions::completions_per_wait() const {
  if (idle || rate > 0) return 1;
  if (batch >= 0) return batch > 1 ? static_cast<unsigned>(batch) : 1;
  // A connection's round brings about two completions (its send and its
  // responses), so this waits for about 3/8 of the connections to be
  // answered: the others' requests keep the server busy meanwhile (the
  // batch must not starve the server it measures), and the loader wakes
  // several times less often (against whirl pipelined 16 at 64
  // connections: 11,000 -> 2,200 wake-ups/s, loader CPU per request -25%).
  // At most 256: waiting for thousands of completions at once made the
  // kernel the loader's limit (10,000 connections on /delay/15: 93% of a
  // core in system time for 15,700 req/s; capped, 54% for 40,000).
  return static_cast<unsigned>(std::clamp(connections * 3 / 4, 1, 256));
}

std::string LoadgenOptions::request(std::size_t kind, bool last_on_connection) const {
  std::string_view line_method = method;
  std::string_view line_target = target;
  bool with_body = !body.empty() || carries_body(method);
  if (!mix.empty()) {
    const RequestLine& line = mix[kind % mix.size()];
    line_method = line.method;
    line_target = line.target;
    with_body = carries_body(line_method);
  }
  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", line_method, line_target, authority);
  for (const std::string& header : headers) out += header + "\r\n";
  if (last_on_connection) out += "Connection: close\r\n";
  if (with_body) out += fmt::format("Content-Length: {}\r\n", body.size());
  out += "\r\n";
  if (with_body) out += body;
  return out;
}

}  // namespace bench
