#include "whirl/net/process.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>

#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/log.h"

namespace whirl {
namespace {

std::optional<int> g_task_id;

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

// The signals the supervisor handles itself. They stay blocked in the
// parent (read with sigtimedwait) from before the first fork, so none can
// arrive between two forks and kill the parent with its children orphaned.
sigset_t supervisor_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Forks one child. In the child: restores the signal mask the program had,
// asks for SIGTERM when the parent dies, and returns 0; in the parent
// returns the child's pid.
pid_t start_child(int id, pid_t parent, const sigset_t& original_mask) {
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid > 0) return pid;
  g_task_id = id;
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
    log::gen().warning("child {}: PR_SET_PDEATHSIG failed: {}", id, std::strerror(errno));
  }
  // The parent may have died before prctl: then nobody would ever signal us.
  if (::getppid() != parent) _exit(1);
  pthread_sigmask(SIG_SETMASK, &original_mask, nullptr);
  return 0;
}

bool failed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

std::string describe(int status) {
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

class Supervisor {
 public:
  Supervisor(const ForkOptions& options, const sigset_t& original_mask)
      : options_(options), original_mask_(original_mask), self_(::getpid()) {}

  // Starts the children; returns a task id in a child, nullopt in the parent.
  std::optional<int> start(int num_processes) {
    for (int id = 0; id < num_processes; ++id) {
      if (fork_child(id)) return id;
    }
    return std::nullopt;
  }

  // The parent's life: reaps, restarts and forwards signals until no child
  // is left. Returns a task id when a restart forks (in that child).
  std::optional<int> supervise() {
    sigset_t signals = supervisor_signals();
    while (!children_.empty()) {
      if (std::optional<int> id = reap()) return id;
      if (children_.empty()) break;
      timespec wait = next_wait();
      siginfo_t info{};
      int signo = ::sigtimedwait(&signals, &info, &wait);
      if (signo == SIGTERM || signo == SIGINT) on_stop_signal(signo);
      if (stopping_ && std::chrono::steady_clock::now() >= deadline_) kill_all("the shutdown timeout passed");
    }
    // Tornado's sys.exit(0) when all children ended cleanly; a forced or
    // failed shutdown says so in the status.
    std::exit(exit_status_);
  }

 private:
  // Collects every child that has ended; restarts crashed ones unless
  // stopping.
  std::optional<int> reap() {
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid == 0) return std::nullopt;
      if (pid < 0) {
        if (errno == EINTR) continue;
        if (errno == ECHILD) {
          children_.clear();
          return std::nullopt;
        }
        throw_errno("waitpid");
      }
      auto it = children_.find(pid);
      if (it == children_.end()) continue;
      int id = it->second;
      children_.erase(it);
      if (stopping_) {
        // Ended by the signal we forwarded: that is a clean stop.
        bool clean = !failed(status) || (WIFSIGNALED(status) && WTERMSIG(status) == forwarded_);
        if (!clean) exit_status_ = 1;
        log::gen().info("child {} (pid {}) {} while stopping", id, pid, describe(status));
        continue;
      }
      if (!failed(status)) {
        log::gen().info("child {} (pid {}) exited normally", id, pid);
        continue;
      }
      log::gen().warning("child {} (pid {}) {}, restarting", id, pid, describe(status));
      if (++restarts_ > options_.max_restarts) give_up("Too many child restarts, giving up");
      if (fork_child(id)) return id;
    }
  }

  // Forks child `id`: true in the child; in the parent records it. A failed
  // fork ends the supervisor (give_up), whether at start or on a restart.
  bool fork_child(int id) {
    pid_t pid = 0;
    try {
      pid = start_child(id, self_, original_mask_);
    } catch (const std::exception& e) {
      give_up(e.what());
    }
    if (pid == 0) return true;
    children_[pid] = id;
    return false;
  }

  // The supervisor cannot go on: its children are stopped (not left behind
  // with nobody to restart or signal them), the program's signal mask is
  // back, and the caller gets the reason.
  [[noreturn]] void give_up(const std::string& why) {
    for (const auto& [pid, id] : children_) ::kill(pid, SIGTERM);
    for (const auto& [pid, id] : children_) ::waitpid(pid, nullptr, 0);
    children_.clear();
    pthread_sigmask(SIG_SETMASK, &original_mask_, nullptr);
    throw std::runtime_error(why);
  }

  void on_stop_signal(int signo) {
    if (stopping_) {
      kill_all("a second stop signal arrived");
      return;
    }
    stopping_ = true;
    forwarded_ = signo;
    deadline_ = std::chrono::steady_clock::now() + options_.shutdown_timeout;
    log::gen().info("signal {} received, stopping {} children", signo, children_.size());
    for (const auto& [pid, id] : children_) ::kill(pid, signo);
  }

  void kill_all(const char* why) {
    if (killed_) return;
    killed_ = true;
    exit_status_ = 1;
    log::gen().warning("{}: killing {} children", why, children_.size());
    for (const auto& [pid, id] : children_) ::kill(pid, SIGKILL);
  }

  // Until the shutdown deadline while stopping; otherwise a second, only so
  // that a lost SIGCHLD (coalesced with another) is reaped soon anyway.
  timespec next_wait() const {
    auto wait = std::chrono::nanoseconds(std::chrono::seconds(1));
    if (stopping_ && !killed_) {
      auto left = deadline_ - std::chrono::steady_clock::now();
      wait = std::clamp<std::chrono::nanoseconds>(left, std::chrono::nanoseconds(0), wait);
    }
    return timespec{static_cast<time_t>(wait.count() / 1'000'000'000), static_cast<long>(wait.count() % 1'000'000'000)};
  }

  ForkOptions options_;
  sigset_t original_mask_;
  pid_t self_;
  std::map<pid_t, int> children_;
  int restarts_ = 0;
  bool stopping_ = false;
  bool killed_ = false;
  int forwarded_ = 0;
  int exit_status_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
};

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

int fork_processes(int num_processes, const ForkOptions& options) {
  if (g_task_id) throw std::logic_error("fork_processes: already called in this process");
  if (IOLoop::current_or_null() != nullptr) {
    throw std::logic_error(
        "fork_processes must be called before any IOLoop is created (an io_uring cannot cross fork)");
  }
  if (num_processes <= 0) num_processes = cpu_count();
  log::gen().info("Starting {} processes", num_processes);
  sigset_t signals = supervisor_signals();
  sigset_t original_mask;
  pthread_sigmask(SIG_BLOCK, &signals, &original_mask);
  // Children must be reported to be reaped and restarted: an inherited
  // SIGCHLD = SIG_IGN would have the kernel reap them silently.
  std::signal(SIGCHLD, SIG_DFL);
  Supervisor supervisor(options, original_mask);
  if (std::optional<int> id = supervisor.start(num_processes)) return *id;
  if (std::optional<int> id = supervisor.supervise()) return *id;
  std::exit(0);  // not reached: supervise() exits when the last child has
}

}  // namespace whirl
