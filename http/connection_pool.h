// http/connection_pool.h (private to //http:httpclient): the client's idle
// keep-alive connections, per origin.
//
//     std::unique_ptr<IOStream> stream = pool.take(origin);   // null: open one
//     ...one exchange...
//     if (reusable) pool.give_back(origin, std::move(stream));
//
// An origin is the scheme, host, port and TLS settings a connection was made
// with (two requests that would verify a server differently never share
// one). take() hands out the connection given back last (the one least
// likely to have been closed by the server's own idle timeout) and drops,
// without handing out, any that the server has closed or written to since:
// a response nobody asked for means the connection is out of step. At most
// `max_idle_per_origin` wait per origin (the oldest goes first), each at
// most `idle_timeout`: a sweep on the loop's timer closes the expired ones,
// so an idle client does not hold descriptors for ever.
//
// The pool lives on one loop and must be destroyed before it.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "whirl/net/iostream.h"
#include "whirl/runtime/clock.h"

namespace whirl {
class IOLoop;
}

namespace whirl::detail {

class ConnectionPool {
 public:
  ConnectionPool(std::size_t max_idle_per_origin, Duration idle_timeout) noexcept
      : max_idle_per_origin_(max_idle_per_origin), idle_timeout_(idle_timeout) {}
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A live idle connection to `origin`, or null.
  std::unique_ptr<IOStream> take(const std::string& origin);
  // Keeps `stream` for the next request to `origin` (or closes it: the pool
  // is closed, or `origin` has its fill).
  void give_back(const std::string& origin, std::unique_ptr<IOStream> stream);
  // Closes every idle connection; give_back closes from now on.
  void close();
  std::size_t idle() const noexcept;

 private:
  struct Idle {
    std::unique_ptr<IOStream> stream;
    TimePoint since;
  };
  static bool usable(const IOStream& stream) noexcept;
  void sweep();
  void schedule_sweep();

  std::size_t max_idle_per_origin_;
  Duration idle_timeout_;
  std::map<std::string, std::vector<Idle>, std::less<>> idle_;
  IOLoop* loop_ = nullptr;  // the sweep's, once something is idle
  TimeoutHandle sweep_timer_{};
  bool sweep_scheduled_ = false;
  bool closed_ = false;
};

}  // namespace whirl::detail
