#include "http/connection_pool.h"

#include <algorithm>

#include "whirl/runtime/ioloop.h"

namespace whirl::detail {

ConnectionPool::~ConnectionPool() { close(); }

bool ConnectionPool::usable(const IOStream& stream) noexcept {
  // Closed or half-closed by the server (its idle timeout), or bytes nobody
  // asked for: either way the next response would not be ours.
  return !stream.closed() && !stream.reached_eof() && stream.buffered() == 0;
}

std::unique_ptr<IOStream> ConnectionPool::take(const std::string& origin) {
  auto found = idle_.find(origin);
  if (found == idle_.end()) return nullptr;
  std::vector<Idle>& waiting = found->second;
  std::unique_ptr<IOStream> stream;
  while (!waiting.empty() && !stream) {
    Idle last = std::move(waiting.back());
    waiting.pop_back();
    if (usable(*last.stream) && Clock::now() - last.since < idle_timeout_) stream = std::move(last.stream);
  }
  if (waiting.empty()) idle_.erase(found);
  return stream;
}

void ConnectionPool::give_back(const std::string& origin, std::unique_ptr<IOStream> stream) {
  if (closed_ || max_idle_per_origin_ == 0 || !usable(*stream)) return;  // closed as it goes
  std::vector<Idle>& waiting = idle_[origin];
  if (waiting.size() >= max_idle_per_origin_) waiting.erase(waiting.begin());  // the oldest
  waiting.push_back({std::move(stream), Clock::now()});
  schedule_sweep();
}

void ConnectionPool::close() {
  closed_ = true;
  if (sweep_scheduled_) loop_->remove_timeout(sweep_timer_);
  sweep_scheduled_ = false;
  idle_.clear();
}

std::size_t ConnectionPool::idle() const noexcept {
  std::size_t count = 0;
  for (const auto& [origin, waiting] : idle_) count += waiting.size();
  return count;
}

void ConnectionPool::schedule_sweep() {
  if (sweep_scheduled_ || idle_.empty()) return;
  TimePoint oldest = TimePoint::max();
  for (const auto& [origin, waiting] : idle_) {
    for (const Idle& connection : waiting) oldest = std::min(oldest, connection.since);
  }
  loop_ = &IOLoop::current();
  sweep_timer_ = loop_->call_at(oldest + idle_timeout_, [this] {
    sweep_scheduled_ = false;
    sweep();
  });
  sweep_scheduled_ = true;
}

void ConnectionPool::sweep() {
  TimePoint now = Clock::now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    std::erase_if(it->second, [&](const Idle& connection) {
      return now - connection.since >= idle_timeout_ || !usable(*connection.stream);
    });
    it = it->second.empty() ? idle_.erase(it) : std::next(it);
  }
  schedule_sweep();
}

}  // namespace whirl::detail
