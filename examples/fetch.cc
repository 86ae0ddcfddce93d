// fetch: a small curl on AsyncHTTPClient (Tornado's `python -m
// tornado.httpclient`, grown up).
//
//     ./bazelw run //examples:fetch -- [options] URL [URL...]
//
// Several URLs are fetched in turn by one client, so they share its
// keep-alive pool (as curl reuses connections across the URLs it is given).
//
//     -i                    print the status line and headers first (the final response's)
//     -X METHOD             the method (default GET, or POST with -d)
//     -H 'Name: value'      add a header (repeatable)
//     -d DATA               send DATA as the body (@FILE: the file, line breaks removed)
//     --data-binary @FILE   send FILE's bytes as they are (or the text after --data-binary)
//                           (either way as a form, as curl: Content-Type defaults to
//                           application/x-www-form-urlencoded)
//     -L                    follow redirects (--max-redirs N, default 5)
//     --connect-timeout S   seconds for the connection
//     --max-time S          seconds for the whole request
//     --cacert FILE         verify the server against these CAs
//     -k                    do not verify the server
//     --compressed          ask for gzip and decode it
//     -v                    a line per request on stderr: code, and whether its
//                           connection was new or reused from the pool
//
// The body goes to stdout. The exit status is 0 when a complete response
// arrived, whatever its code (as curl's), 2 for a bad command line, 1 for
// everything else, with one line `fetch: <reason>` on stderr.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "whirl/http/httpclient.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/log.h"

namespace {

using whirl::Duration;
using whirl::HTTPRequest;

struct Command {
  HTTPRequest request;  // everything but the URL
  std::vector<std::string> urls;
  bool include_head = false;
  bool verbose = false;
};

[[noreturn]] void usage(const std::string& why) {
  fmt::print(
      stderr,
      "fetch: {}\nusage: fetch [-i] [-X METHOD] [-H 'Name: value']... [-d DATA | --data-binary @FILE] "
      "[-L] [--max-redirs N] [--connect-timeout S] [--max-time S] [--cacert FILE] [-k] [--compressed] [-v] URL...\n",
      why);
  std::exit(2);
}

Duration seconds_arg(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !(value > 0)) usage(flag + " needs a positive number of seconds");
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(value));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

Command parse_command(int argc, char** argv) {
  Command command;
  HTTPRequest& request = command.request;
  request.follow_redirects = false;     // curl's default; -L turns it on
  request.decompress_response = false;  // --compressed turns it on
  std::optional<std::string> method;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto value = [&](std::size_t& i) -> const std::string& {
    if (i + 1 >= args.size()) usage(args[i] + " needs a value");
    return args[++i];
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-i") {
      command.include_head = true;
    } else if (arg == "-v") {
      command.verbose = true;
    } else if (arg == "-X") {
      method = value(i);
    } else if (arg == "-H") {
      const std::string& header = value(i);
      std::size_t colon = header.find(':');
      if (colon == std::string::npos || colon == 0) usage("-H needs 'Name: value', not " + header);
      std::string_view field(header);
      std::string_view content = field.substr(colon + 1);
      while (!content.empty() && (content.front() == ' ' || content.front() == '\t')) content.remove_prefix(1);
      try {
        request.headers.add(field.substr(0, colon), content);
      } catch (const std::invalid_argument& e) {
        usage(e.what());
      }
    } else if (arg == "-d") {
      // As curl: "@FILE" is the file without its line breaks.
      const std::string& data = value(i);
      std::string body = data.starts_with('@') ? read_file(data.substr(1)) : data;
      if (data.starts_with('@')) std::erase_if(body, [](char c) { return c == '\r' || c == '\n'; });
      request.body = std::move(body);
    } else if (arg == "--data-binary") {
      const std::string& data = value(i);
      request.body = data.starts_with('@') ? read_file(data.substr(1)) : data;
    } else if (arg == "-L") {
      request.follow_redirects = true;
    } else if (arg == "--max-redirs") {
      const std::string& n = value(i);
      char* end = nullptr;
      long redirects = std::strtol(n.c_str(), &end, 10);
      if (end == n.c_str() || *end != '\0' || redirects < 0) usage("--max-redirs needs a count");
      request.max_redirects = static_cast<int>(redirects);
    } else if (arg == "--connect-timeout") {
      request.connect_timeout = seconds_arg(arg, value(i));
    } else if (arg == "--max-time") {
      request.request_timeout = seconds_arg(arg, value(i));
    } else if (arg == "--cacert") {
      request.ca_certs = value(i);
    } else if (arg == "-k") {
      request.validate_cert = false;
    } else if (arg == "--compressed") {
      request.decompress_response = true;
    } else if (arg.starts_with('-')) {
      usage("unknown option " + arg);
    } else {
      command.urls.push_back(arg.find("://") == std::string::npos ? "http://" + arg : arg);  // as curl
    }
  }
  if (command.urls.empty()) usage("no URL");
  // curl's -d and --data-binary send a form unless told otherwise.
  if (request.body && !request.headers.contains("Content-Type")) {
    request.headers.add("Content-Type", "application/x-www-form-urlencoded");
  }
  request.method = method.value_or(request.body ? "POST" : "GET");
  // A command line says exactly what to send: the method rules that guard
  // library callers (a GET with a body is usually a bug) are curl's here.
  request.allow_nonstandard_methods = true;
  // curl's defaults: no overall limit, a long connect.
  if (!request.request_timeout) request.request_timeout = std::chrono::hours(24);
  if (!request.connect_timeout) request.connect_timeout = std::chrono::seconds(300);
  return command;
}

whirl::Task<int> run(Command command) {
  whirl::AsyncHTTPClient client({.max_body_size = std::uint64_t{1} << 40, .user_agent = "whirl-fetch"});
  // The body goes out as it comes: a download is not held in memory.
  command.request.streaming_callback = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
  };
  if (command.include_head) {
    command.request.header_callback = [](std::string_view line) { std::fwrite(line.data(), 1, line.size(), stdout); };
  }
  for (const std::string& url : command.urls) {
    HTTPRequest request = command.request;
    request.url = url;
    std::uint64_t opened = client.stats().connections_opened;
    whirl::HTTPResponse response = co_await client.fetch(std::move(request), {.raise_error = false});
    if (command.verbose) {
      bool fresh = client.stats().connections_opened != opened;
      fmt::print(stderr, "fetch: {} {} ({} connection)\n", response.effective_url, response.code,
                 fresh ? "new" : "reused");
    }
  }
  std::fflush(stdout);
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Command command = parse_command(argc, argv);
    // The one line below says what failed; the library's warnings about the
    // same failure (an SSL error on fd N) would only say it twice.
    whirl::log::set_level(whirl::log::Level::kError);
    whirl::IOLoop loop;
    return loop.run_sync(run(std::move(command)));
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "fetch: {}\n", e.what());
    return 1;
  }
}
