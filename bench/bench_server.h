// bench/bench_server.h: how the bench's HTTP servers (plaintext, static,
// arena) listen and stop, so that they do it alike.
//
//     bench::listen(server, flags);          // exits 2 when the port is taken
//     fmt::print("...: serving ...\n");      // what compare waits for
//     bench::serve_until_drained(server, flags.processes);
#pragma once

#include <sys/socket.h>

#include "examples/server_flags.h"
#include "whirl/http/httpserver.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/task.h"

namespace bench {

// The accept queue the peers get in compare (nginx's backlog=4096,
// Tornado's listen(backlog=4096)). A burst of connects past Tornado's
// default of 128 loses SYNs, which the client retries after a second, and
// an open-loop run counts that second as latency (1,024 connections at
// 50,000 req/s: p99 0.9 s at 128, 17-55 ms at 4096 on a noisy VM).
inline constexpr int kBacklog = 4096;

inline void listen(whirl::HTTPServer& server, const examples::ServerFlags& flags) {
  flags.bind_or_exit([&] { server.bind(flags.port, flags.address, AF_UNSPEC, kBacklog); });
}

// Starts `processes` and serves until SIGINT or SIGTERM, then drains.
inline void serve_until_drained(whirl::HTTPServer& server, int processes) {
  server.start(processes);
  whirl::IOLoop& loop = whirl::IOLoop::current();
  examples::run_until_drained(loop, [&]() -> whirl::Task<void> {
    server.stop();
    co_await server.close_all_connections();
    loop.stop();
  });
}

}  // namespace bench
