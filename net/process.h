// whirl/net/process.h: Tornado's process module: several server processes.
//
//     std::vector<Socket> sockets = bind_sockets(8888);
//     fork_processes(0);                      // one child per CPU
//     IOLoop loop;                            // each child builds its own
//     server.add_sockets(std::move(sockets));
//     loop.run();
//
// fork_processes returns only in the children, each with its task_id()
// 0..n-1. The parent stays behind and watches: a child that crashes or
// exits non-zero is restarted with the same id; after `max_restarts`
// restarts the parent throws std::runtime_error; when every child has
// exited cleanly the parent exits with status 0. Call it before any IOLoop
// exists (an io_uring must not cross a fork).
#pragma once

#include <optional>

namespace whirl {

// Number of CPUs this process may run on (at least 1).
int cpu_count();

// Forks `num_processes` children (<= 0: cpu_count()); returns the child's
// task id in each child; never returns in the parent.
int fork_processes(int num_processes, int max_restarts = 100);

// The id of this child, or nullopt when this process was not forked by
// fork_processes.
std::optional<int> task_id();

}  // namespace whirl
