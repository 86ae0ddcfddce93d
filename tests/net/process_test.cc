#include "whirl/net/process.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "whirl/net/netutil.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;

int free_port() {
  std::vector<Socket> sockets = bind_sockets(0, "127.0.0.1");
  return sockets.front().local_address().port();
}

std::string helper_path() {
  const char* root = std::getenv("TEST_SRCDIR");
  return std::string(root != nullptr ? root : ".") + "/whirl/tests/net/multiprocess_helper";
}

pid_t start_helper(const std::string& mode, int port, int n) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string path = helper_path();
    std::string port_text = std::to_string(port);
    std::string n_text = std::to_string(n);
    execl(path.c_str(), path.c_str(), mode.c_str(), port_text.c_str(), n_text.c_str(), nullptr);
    _exit(127);
  }
  return pid;
}

// A TCP socket connected to 127.0.0.1:port, or -1.
int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
  ::close(fd);
  return -1;
}

// Connects, reads "<id> <pid>", sends `command`. Returns {-1, -1} if refused.
std::pair<int, int> ask(int port, const std::string& command) {
  int fd = connect_loopback(port);
  if (fd < 0) return {-1, -1};
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string line;
  char c;
  while (::recv(fd, &c, 1, 0) == 1 && c != '\n') line.push_back(c);
  std::string message = command + "\n";
  ::send(fd, message.data(), message.size(), MSG_NOSIGNAL);
  ::close(fd);
  int id = -1;
  int pid = -1;
  if (std::sscanf(line.c_str(), "%d %d", &id, &pid) != 2) return {-1, -1};
  return {id, pid};
}

// Task id -> pid, over connections until `n` ids were seen (10 s at most).
std::map<int, int> collect_ids(int port, int n) {
  std::map<int, int> seen;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (static_cast<int>(seen.size()) < n && std::chrono::steady_clock::now() < deadline) {
    auto [id, pid] = ask(port, "hello");
    if (id >= 0) {
      seen[id] = pid;
    } else {
      std::this_thread::sleep_for(20ms);  // children still starting
    }
  }
  return seen;
}

// Sends "exit" until nothing listens; returns the helper's exit status.
int stop_all(pid_t helper, int port) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ask(port, "exit").first < 0) {
      int status = 0;
      pid_t done = waitpid(helper, &status, WNOHANG);
      if (done == helper) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      std::this_thread::sleep_for(20ms);
    }
  }
  kill(-helper, SIGKILL);
  kill(helper, SIGKILL);
  waitpid(helper, nullptr, 0);
  return -1;
}

void check_mode(const std::string& mode) {
  int port = free_port();
  pid_t helper = start_helper(mode, port, 2);
  std::map<int, int> ids = collect_ids(port, 2);
  ASSERT_EQ(ids.size(), 2u) << mode << ": both children answer";
  EXPECT_TRUE(ids.contains(0));
  EXPECT_TRUE(ids.contains(1));
  EXPECT_EQ(stop_all(helper, port), 0) << mode << ": the parent exits 0 once every child exited cleanly";
}

TEST(ForkProcesses, BindThenStartRunsChildrenWithTaskIds) { check_mode("start"); }

TEST(ForkProcesses, BindSocketsForkThenAddSocketsRunsChildrenWithTaskIds) { check_mode("fork"); }

TEST(ForkProcesses, ReusePortListenersInForkedChildrenRunWithTaskIds) { check_mode("reuse_port"); }

TEST(ForkProcesses, AKilledChildIsRestartedWithTheSameId) {
  int port = free_port();
  pid_t helper = start_helper("start", port, 2);
  std::map<int, int> before = collect_ids(port, 2);
  ASSERT_EQ(before.size(), 2u);
  // Kill child 0 from outside.
  ASSERT_EQ(kill(before[0], SIGKILL), 0);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  int new_pid = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    auto [id, pid] = ask(port, "hello");
    if (id == 0 && pid != before[0]) {
      new_pid = pid;
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GT(new_pid, 0) << "task id 0 answers again, from a new process";
  EXPECT_EQ(stop_all(helper, port), 0);
}

// Waits up to `timeout` for `pid` (a child of ours) to exit; its status, or
// -1 if it did not (then it is killed).
int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(10ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// True once none of `pids` exists any more (a child reparented to PID 1
// would still exist).
bool all_gone(const std::map<int, int>& pids, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool any = false;
    for (const auto& [id, pid] : pids) any = any || kill(pid, 0) == 0;
    if (!any) return true;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  for (const auto& [id, pid] : pids) kill(pid, SIGKILL);
  return false;
}

TEST(ForkProcesses, SigtermToTheParentStopsEveryChildAndTheParentExitsZero) {
  int port = free_port();
  pid_t helper = start_helper("start", port, 2);
  std::map<int, int> children = collect_ids(port, 2);
  ASSERT_EQ(children.size(), 2u);
  ASSERT_EQ(kill(helper, SIGTERM), 0);
  EXPECT_EQ(wait_exit(helper, 10s), 0) << "the parent waits for its children, then exits 0";
  EXPECT_TRUE(all_gone(children, 1s)) << "no child outlives the parent";
}

TEST(ForkProcesses, ChildrenExitWhenTheParentIsKilled) {
  int port = free_port();
  pid_t helper = start_helper("start", port, 2);
  std::map<int, int> children = collect_ids(port, 2);
  ASSERT_EQ(children.size(), 2u);
  ASSERT_EQ(kill(helper, SIGKILL), 0);
  EXPECT_EQ(wait_exit(helper, 5s), 128 + SIGKILL);
  EXPECT_TRUE(all_gone(children, 10s)) << "the parent-death signal ends every child";
}

TEST(ForkProcesses, ChildrenThatDoNotDrainAreKilledAtTheShutdownTimeout) {
  int port = free_port();
  pid_t helper = start_helper("stubborn", port, 2);
  std::map<int, int> children = collect_ids(port, 2);
  ASSERT_EQ(children.size(), 2u);
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(helper, SIGTERM), 0);
  EXPECT_EQ(wait_exit(helper, 10s), 1) << "a forced shutdown exits 1";
  EXPECT_GE(std::chrono::steady_clock::now() - start, 400ms) << "the children had their 500 ms";
  EXPECT_TRUE(all_gone(children, 1s));
}

TEST(ForkProcesses, ASecondSignalKillsChildrenThatAreStillDraining) {
  int port = free_port();
  pid_t helper = start_helper("stubborn", port, 2);
  std::map<int, int> children = collect_ids(port, 2);
  ASSERT_EQ(children.size(), 2u);
  ASSERT_EQ(kill(helper, SIGTERM), 0);
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(kill(helper, SIGINT), 0);
  EXPECT_EQ(wait_exit(helper, 10s), 1);
  EXPECT_TRUE(all_gone(children, 1s));
}

// Resets the connection at once (SO_LINGER 0), before the server accepts it.
void connect_and_reset(int port) {
  int fd = connect_loopback(port);
  if (fd < 0) return;
  linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
}

// Forked children accept one connection at a time from the shared socket
// (AcceptStream's one-shot path); a reset connection must not end that.
TEST(ForkProcesses, ABurstOfResetsBeforeAcceptDoesNotStopTheChildren) {
  int port = free_port();
  pid_t helper = start_helper("start", port, 2);
  ASSERT_EQ(collect_ids(port, 2).size(), 2u);
  for (int i = 0; i < 1000; ++i) connect_and_reset(port);
  std::map<int, int> after = collect_ids(port, 2);
  EXPECT_EQ(after.size(), 2u) << "both children still accept";
  EXPECT_EQ(stop_all(helper, port), 0);
}

// A supervisor process whose only child always exits 7: after two restarts
// fork_processes gives up and throws in the supervisor.
TEST(ForkProcesses, PastMaxRestartsTheParentFailsWithAClearError) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t supervisor = fork();
  ASSERT_GE(supervisor, 0);
  if (supervisor == 0) {
    ::close(pipe_fds[0]);
    std::string message = "fork_processes returned in the supervisor";
    try {
      fork_processes(1, /*max_restarts=*/2);
      _exit(7);  // a child: fail, to be restarted
    } catch (const std::exception& e) {
      message = e.what();
    }
    ssize_t written = ::write(pipe_fds[1], message.data(), message.size());
    _exit(written == static_cast<ssize_t>(message.size()) ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string message;
  char buffer[256];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) message.append(buffer, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(supervisor, &status, 0), supervisor);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(message, "Too many child restarts, giving up");
}

TEST(ForkProcesses, RefusesToForkOnceAnIOLoopExists) {
  IOLoop loop;
  EXPECT_THROW(fork_processes(2), std::logic_error);
}

TEST(CpuCount, IsAtLeastOne) { EXPECT_GE(cpu_count(), 1); }

TEST(TaskId, IsUnsetOutsideForkedChildren) { EXPECT_FALSE(task_id().has_value()); }

}  // namespace
}  // namespace whirl
