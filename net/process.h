// whirl/net/process.h: Tornado's process module: several server processes.
//
//     std::vector<Socket> sockets = bind_sockets(8888);
//     fork_processes(0);                      // one child per CPU
//     IOLoop loop;                            // each child builds its own
//     server.add_sockets(std::move(sockets));
//     loop.run();
//
// fork_processes returns only in the children, each with its task_id()
// 0..n-1. The parent stays behind as their supervisor:
//
//  * A child that crashes or exits non-zero is restarted with the same id;
//    after `max_restarts` restarts the parent throws std::runtime_error
//    (its children then get the parent-death signal, below).
//  * SIGTERM or SIGINT to the parent is forwarded to every child, and the
//    parent waits for them to drain (each child runs its own graceful stop,
//    e.g. on IOLoop::add_signal_handler). When all have exited the parent
//    exits 0 (1 if one of them failed). A second SIGTERM/SIGINT, or
//    `shutdown_timeout` passing, SIGKILLs the children that are left and
//    the parent exits 1. Supervisors (systemd, Docker, Kubernetes) signal
//    only the main PID: this is what lets them stop the whole group.
//  * Children exit when the parent dies: each gets SIGTERM (PR_SET_PDEATHSIG)
//    if the parent is killed, so no child is left holding the port under
//    PID 1. A child whose parent died before it could ask for that exits
//    at once.
//  * When every child has exited cleanly on its own, the parent exits 0
//    (Tornado's sys.exit(0)).
//
// Call it before any IOLoop exists (an io_uring must not cross a fork).
#pragma once

#include <chrono>
#include <optional>

namespace whirl {

// Number of CPUs this process may run on (at least 1).
int cpu_count();

struct ForkOptions {
  int max_restarts = 100;
  // How long the children may take to drain after a forwarded SIGTERM or
  // SIGINT before the parent kills them.
  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(30);
};

// Forks `num_processes` children (<= 0: cpu_count()); returns the child's
// task id in each child; never returns in the parent.
int fork_processes(int num_processes, const ForkOptions& options);
inline int fork_processes(int num_processes, int max_restarts = 100) {
  return fork_processes(num_processes, ForkOptions{.max_restarts = max_restarts});
}

// The id of this child, or nullopt when this process was not forked by
// fork_processes.
std::optional<int> task_id();

}  // namespace whirl
