// whirl/net/resolver.h: name resolution that never blocks the loop.
//
//     std::vector<SocketAddress> addresses = co_await resolve("example.com", 443);
//
// Numeric hosts are converted inline. Names are resolved by getaddrinfo on
// a helper thread whose answer comes back through IOLoop::add_callback
// (Tornado's DefaultExecutorResolver). A task cancelled while waiting stops
// waiting at once; the thread's late answer is dropped, even if the loop
// itself is gone by then.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "whirl/net/socket.h"
#include "whirl/runtime/task.h"

namespace whirl {

// Throws std::runtime_error naming the host when it does not resolve.
Task<std::vector<SocketAddress>> resolve(std::string host, int port, int family = AF_UNSPEC);

}  // namespace whirl
