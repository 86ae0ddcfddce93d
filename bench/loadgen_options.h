// bench/loadgen_options.h: the load generator's command line and the request
// it sends.
//
//     loadgen URL [-c CONNECTIONS] [-d SECONDS] [-w WARMUP] [-p DEPTH]
//                 [-m METHOD] [-H "Name: value"]... [--body TEXT | --body-file F]
//                 [--mix 'METHOD TARGET']... [--requests-per-connection N]
//                 [--rate R] [--timeout SECONDS] [--idle] [--sources N]
//                 [--batch COMPLETIONS] [--batch-delay-us US] [--json FILE] [--quiet]
//
// URL is http://host[:port][/path] or https://... Everything is checked
// here, before a connection opens: a bad flag exits 2 with a line that names
// it.
//
// --mix: each connection sends these requests in turn (the URL's target and
// -m are then unused), e.g. HttpArena's baseline:
//
//     loadgen http://127.0.0.1:8080/ --body 3 --mix 'GET /baseline?a=1&b=2'
//             --mix 'POST /baseline?a=1&b=2'
//
// The body goes with the methods that carry one (POST, PUT, PATCH) and not
// with the others, so one flag serves a GET/POST mix.
//
// --requests-per-connection N: the N-th request of a connection asks for
// `Connection: close`, and the server's close sends the loader to a new
// connection, so accept, setup and teardown are in what is measured
// (HttpArena's limited-conn). Closed loop, depth 1 only: a pipelined batch
// would run past the close.
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
  struct RequestLine {
    std::string method;
    std::string target;
  };
  std::vector<RequestLine> mix;     // --mix, parsed; empty: method and target
  int requests_per_connection = 0;  // 0: connections are kept
  double rate = 0;                  // requests/s over all connections; 0 = as fast as the server answers
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

  // How many different requests a connection cycles through (--mix's count, or 1).
  std::size_t request_kinds() const noexcept { return mix.empty() ? 1 : mix.size(); }

  // Request `kind` (of request_kinds()), framed: request line, Host, the -H
  // headers, `Connection: close` when it is a connection's last, then
  // Content-Length and the body when the method carries one.
  std::string request(std::size_t kind = 0, bool last_on_connection = false) const;
};

}  // namespace bench
