#include "whirl/net/resolver.h"

#include <netdb.h>
#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "whirl/net/netutil.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/locks.h"

namespace whirl {
namespace {

struct Lookup {
  std::mutex mutex;
  IOLoop* loop = nullptr;  // cleared when nobody waits any more
  // Written by the helper thread before it posts the callback; read on the
  // loop thread after (add_callback's mutex orders them).
  std::vector<SocketAddress> addresses;
  std::string error;
  // Loop thread only.
  Event done;
};

// Tracks a loop's outstanding lookups so that destroying the loop detaches
// them: a helper thread finishing later then posts nothing.
class Lookups final : public IOLoop::Local {
 public:
  explicit Lookups(IOLoop& /*loop*/) {}
  ~Lookups() override {
    for (const auto& lookup : live) {
      std::lock_guard lock(lookup->mutex);
      lookup->loop = nullptr;
    }
  }
  std::unordered_set<std::shared_ptr<Lookup>> live;
};

std::vector<SocketAddress> getaddrinfo_all(const std::string& host, int port, int family, int flags,
                                           std::string* error) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  addrinfo* results = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &results);
  std::vector<SocketAddress> addresses;
  if (rc != 0) {
    *error = "cannot resolve '" + host + "': " + gai_strerror(rc);
    return addresses;
  }
  for (addrinfo* info = results; info != nullptr; info = info->ai_next) {
    addresses.emplace_back(info->ai_addr, info->ai_addrlen);
  }
  freeaddrinfo(results);
  return addresses;
}

// The process's lookup threads: at most kMaxResolverThreads, started on
// demand, each leaving after kIdleExit without work. Never destroyed (a
// helper may still be inside getaddrinfo when the process exits, and must
// not find its queue gone).
class LookupPool {
 public:
  static LookupPool& get() {
    static LookupPool* pool = [] {
      auto* created = new LookupPool;  // NOLINT: deliberately leaked, see above
      // A forked child has none of the parent's threads: it starts afresh
      // (fork_processes after a lookup would otherwise leave it counting
      // threads that are not there, and its lookups would wait forever).
      pthread_atfork(nullptr, nullptr, [] { get().forget_threads(); });
      return created;
    }();
    return *pool;
  }

  void run(std::function<void()> job) {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
    if (idle_ > 0) {
      wake_.notify_one();
    } else if (threads_ < kMaxResolverThreads) {
      try {
        std::thread([this] { work(); }).detach();
        ++threads_;
      } catch (const std::system_error& e) {
        // No thread now: the job waits for a running one, or for the next
        // lookup to try again. With none running it would wait forever.
        if (threads_ == 0) throw;
      }
    }
  }

 private:
  static constexpr auto kIdleExit = std::chrono::seconds(5);

  // In a child after fork (one thread): the copies of the parent's mutex
  // and condition variable may be in any state, so they are rebuilt.
  void forget_threads() {
    new (&mutex_) std::mutex;
    new (&wake_) std::condition_variable;
    jobs_.clear();
    threads_ = 0;
    idle_ = 0;
  }

  void work() {
    // Signals are the loop threads' business (signalfd) and the supervisor's
    // (sigtimedwait): one delivered here would take the default action.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock lock(mutex_);
    for (;;) {
      while (jobs_.empty()) {
        ++idle_;
        bool woken = wake_.wait_for(lock, kIdleExit, [this] { return !jobs_.empty(); });
        --idle_;
        if (!woken) {
          --threads_;
          return;
        }
      }
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  int threads_ = 0;
  int idle_ = 0;
};

}  // namespace

Task<std::vector<SocketAddress>> resolve(std::string host, int port, int family) {
  std::string error;
  if (is_valid_ip(host)) {
    std::vector<SocketAddress> addresses = getaddrinfo_all(host, port, family, AI_NUMERICHOST, &error);
    if (addresses.empty()) throw std::runtime_error(error);
    co_return addresses;
  }
  IOLoop& loop = IOLoop::current();
  auto lookup = std::make_shared<Lookup>();
  lookup->loop = &loop;
  Lookups& lookups = loop.local<Lookups>();
  lookups.live.insert(lookup);
  LookupPool::get().run([lookup, host, port, family] {
    {
      std::lock_guard lock(lookup->mutex);
      if (lookup->loop == nullptr) return;  // abandoned while it waited in line
    }
    std::string thread_error;
    std::vector<SocketAddress> addresses = getaddrinfo_all(host, port, family, 0, &thread_error);
    std::lock_guard lock(lookup->mutex);
    if (lookup->loop == nullptr) return;  // abandoned
    lookup->addresses = std::move(addresses);
    lookup->error = std::move(thread_error);
    lookup->loop->add_callback([lookup] { lookup->done.set(); });
  });
  struct Forget {
    Lookups& lookups;
    std::shared_ptr<Lookup> lookup;
    ~Forget() {
      {
        std::lock_guard lock(lookup->mutex);
        lookup->loop = nullptr;
      }
      lookups.live.erase(lookup);
    }
  } forget{lookups, lookup};
  co_await lookup->done.wait();
  if (lookup->addresses.empty()) throw std::runtime_error(lookup->error);
  co_return std::move(lookup->addresses);
}

}  // namespace whirl
