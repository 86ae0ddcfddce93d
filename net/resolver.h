// whirl/net/resolver.h: name resolution that never blocks the loop.
//
//     std::vector<SocketAddress> addresses = co_await resolve("example.com", 443);
//
// Numeric hosts are converted inline. Names are resolved by getaddrinfo on
// a small pool of helper threads shared by the process, whose answers come
// back through IOLoop::add_callback (Tornado's DefaultExecutorResolver runs
// on a bounded executor the same way). At most kMaxResolverThreads lookups
// run at once; more wait in line, so a burst of lookups (or a DNS server
// that hangs) costs a bounded number of threads. Idle helpers exit after a
// few seconds. A task cancelled while waiting stops waiting at once; the
// late answer is dropped, even if the loop itself is gone by then.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "whirl/net/socket.h"
#include "whirl/runtime/task.h"

namespace whirl {

inline constexpr int kMaxResolverThreads = 8;

// Throws std::runtime_error naming the host when it does not resolve.
Task<std::vector<SocketAddress>> resolve(std::string host, int port, int family = AF_UNSPEC);

}  // namespace whirl
