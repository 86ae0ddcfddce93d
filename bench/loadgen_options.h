// bench/loadgen_options.h: the load generator's command line and the request
// it sends.
//
//     loadgen URL [-c CONNECTIONS] [-d SECONDS] [-w WARMUP] [-p DEPTH]
//                 [-m METHOD] [-H "Name: value"]... [--body TEXT | --body-file F]
//                 [--rate R] [--timeout SECONDS] [--idle] [--sources N]
//                 [--batch COMPLETIONS] [--batch-delay-us US] [--json FILE] [--quiet]
//
// URL is http://host[:port][/path] or https://... Everything is checked
// here, before a connection opens: a bad flag exits 2 with a line that names
// it.
#pragma once

#include <string>
#include <vector>

namespace bench {

struct LoadgenOptions {
  std::string url;
  bool tls = false;
  std::string host;       // as written (brackets removed from an IPv6 literal)
  std::string authority;  // for the Host header: host[:port] as the URL gave it
  int port = 80;
  std::string target = "/";
  int connections = 64;
  int depth = 1;  // requests in flight per connection
  double duration = 10;
  double warmup = 1;
  std::string method = "GET";
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  double rate = 0;  // requests/s over all connections; 0 = as fast as the server answers
  double timeout = 10;
  bool idle = false;  // one request per connection, then hold it open
  int sources = 1;    // spread connections over 127.0.0.1 .. 127.0.0.N
  // Completion batching for the closed loop (IOLoop::set_wait_batching):
  // -1 picks 3/4 of the connections; 0 or 1 turns it off.
  int batch = -1;
  int batch_delay_us = 300;
  std::string json_path;
  bool quiet = false;

  static LoadgenOptions parse(int argc, char** argv);

  // How many completions the loop waits for at once: 1 (no batching) for the
  // open loop, whose sends must leave on their schedule, and for --idle.
  unsigned completions_per_wait() const;

  // One request, framed: request line, Host, the -H headers, Content-Length
  // when there is a body (or the method needs one), the body.
  std::string request() const;
};

}  // namespace bench
