#include "whirl/net/process.h"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>

#include "whirl/runtime/io_loop.h"
#include "whirl/runtime/log.h"

namespace whirl {
namespace {

std::optional<int> g_task_id;

// Returns in the child (with its id) or the parent's child pid.
pid_t start_child(int id) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) g_task_id = id;
  return pid;
}

}  // namespace

int cpu_count() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::optional<int> task_id() { return g_task_id; }

int fork_processes(int num_processes, int max_restarts) {
  if (g_task_id) throw std::logic_error("fork_processes: already called in this process");
  if (IOLoop::current_or_null() != nullptr) {
    throw std::logic_error(
        "fork_processes must be called before any IOLoop is created (an io_uring cannot cross fork)");
  }
  if (num_processes <= 0) num_processes = cpu_count();
  log::gen().info("Starting {} processes", num_processes);
  std::map<pid_t, int> children;
  for (int id = 0; id < num_processes; ++id) {
    pid_t pid = start_child(id);
    if (pid == 0) return id;
    children[pid] = id;
  }
  int restarts = 0;
  while (!children.empty()) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "waitpid");
    }
    auto it = children.find(pid);
    if (it == children.end()) continue;
    int id = it->second;
    children.erase(it);
    if (WIFSIGNALED(status)) {
      log::gen().warning("child {} (pid {}) killed by signal {}, restarting", id, pid, WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0) {
      log::gen().warning("child {} (pid {}) exited with status {}, restarting", id, pid, WEXITSTATUS(status));
    } else {
      log::gen().info("child {} (pid {}) exited normally", id, pid);
      continue;
    }
    if (++restarts > max_restarts) throw std::runtime_error("Too many child restarts, giving up");
    pid_t child = start_child(id);
    if (child == 0) return id;
    children[child] = id;
  }
  // All children exited cleanly: so does the parent (Tornado's sys.exit(0)).
  std::exit(0);
}

}  // namespace whirl
