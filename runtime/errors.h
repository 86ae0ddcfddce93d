// whirl/runtime/errors.h: the exceptions the runtime throws.
//
// Tornado raises asyncio.CancelledError, tornado.util.TimeoutError,
// tornado.queues.QueueFull and QueueEmpty; whirl keeps those names:
//
//     try {
//       auto line = co_await with_timeout(5s, stream.read_until("\r\n"));
//     } catch (const whirl::TimeoutError&) {
//       // the read was cancelled; its buffer is no longer touched
//     }
#pragma once

#include <stdexcept>

namespace whirl {

// Thrown at a suspension point of a task whose cancellation token was
// cancelled (SpawnHandle::cancel, with_timeout, loop shutdown).
class CancelledError : public std::runtime_error {
 public:
  CancelledError() : std::runtime_error("task was cancelled") {}
};

// Thrown by with_timeout and by the `timeout` overloads of the locks and
// queues when the deadline passes first.
class TimeoutError : public std::runtime_error {
 public:
  TimeoutError() : std::runtime_error("timeout") {}
};

// Queue::put_nowait on a full queue.
class QueueFull : public std::runtime_error {
 public:
  QueueFull() : std::runtime_error("queue is full") {}
};

// Queue::get_nowait on an empty queue.
class QueueEmpty : public std::runtime_error {
 public:
  QueueEmpty() : std::runtime_error("queue is empty") {}
};

}  // namespace whirl
