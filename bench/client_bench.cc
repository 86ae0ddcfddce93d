// bench/client_bench: AsyncHTTPClient's keep-alive fetch rate, for the
// client cell (bench/client_cell.py).
//
//     client_bench URL [CONCURRENCY] [SECONDS]
//
// CONCURRENCY fetch loops share one client (max_clients = CONCURRENCY, the
// pool keeps as many idle), each fetching URL again as soon as its last
// response is in, for SECONDS after a one-second warm-up. Prints one JSON
// object: requests, seconds, the process's CPU seconds over them, errors,
// connections opened. libcurl's driver (curl_multi_bench.c) and Tornado's
// (tornado_client_bench.py) print the same.
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "whirl/http/httpclient.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/log.h"

namespace {

using namespace std::chrono_literals;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Counts {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  bool measuring = false;
  bool done = false;
};

whirl::Task<void> fetch_loop(whirl::AsyncHTTPClient& client, const std::string& url, Counts& counts) {
  while (!counts.done) {
    bool ok = true;
    try {
      whirl::HTTPResponse response = co_await client.fetch(url);
      ok = response.code == 200;
    } catch (const std::exception&) {
      ok = false;
    }
    if (!counts.measuring) continue;
    if (ok) {
      ++counts.requests;
    } else {
      ++counts.errors;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: client_bench URL [CONCURRENCY] [SECONDS]\n");
    return 2;
  }
  std::string url = argv[1];
  int concurrency = argc > 2 ? std::atoi(argv[2]) : 64;
  double seconds = argc > 3 ? std::atof(argv[3]) : 5;
  whirl::log::set_level(whirl::log::Level::kError);
  whirl::IOLoop loop;
  auto size = static_cast<std::size_t>(concurrency);
  whirl::AsyncHTTPClient client({.max_clients = size, .max_idle_per_host = size});
  Counts counts;
  for (int i = 0; i < concurrency; ++i) loop.spawn(fetch_loop(client, url, counts));
  double cpu_start = 0;
  auto start = std::chrono::steady_clock::now();
  loop.call_later(1s, [&] {
    counts.measuring = true;
    cpu_start = cpu_seconds();
    start = std::chrono::steady_clock::now();
  });
  auto measured = std::chrono::duration_cast<whirl::Duration>(std::chrono::duration<double>(seconds));
  loop.call_later(1s + measured, [&] {
    counts.measuring = false;
    counts.done = true;
    loop.stop();
  });
  loop.run();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{{\"requests\": {}, \"seconds\": {:.3f}, \"cpu\": {:.3f}, \"errors\": {}, \"connections\": {}}}\n",
             counts.requests, wall, cpu_seconds() - cpu_start, counts.errors, client.stats().connections_opened);
  std::fflush(stdout);
  std::_Exit(0);  // the fetches still running need no orderly end
}
