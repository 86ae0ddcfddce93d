#include "whirl/runtime/internal/signal_reader.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "whirl/runtime/log.h"

namespace whirl {

SignalReader::SignalReader(Ring& ring, Runner run) : ring_(ring), run_(run) {
  sigemptyset(&mask_);
  sigemptyset(&previously_blocked_);
}

SignalReader::~SignalReader() {
  read_.wait_out();  // the loop has reaped it already; this is the rule, not work
  if (fd_ >= 0) ::close(fd_);
  // Unblock what we blocked, so the process's signal behaviour is restored.
  sigset_t unblock;
  sigemptyset(&unblock);
  for (auto& [signo, handler] : handlers_) {
    if (!sigismember(&previously_blocked_, signo)) sigaddset(&unblock, signo);
    sigaction(signo, &previous_actions_[signo], nullptr);
  }
  pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
}

void SignalReader::add(int signo, UniqueFunction handler) {
  if (signo <= 0 || signo >= NSIG) throw std::invalid_argument("add_signal_handler: bad signal number");
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &one, &old);
  if (!handlers_.contains(signo)) {
    if (sigismember(&old, signo)) sigaddset(&previously_blocked_, signo);
    // An ignored signal never reaches the signalfd: use the default
    // disposition (harmless, the signal stays blocked).
    struct sigaction deflt {};
    deflt.sa_handler = SIG_DFL;
    sigaction(signo, &deflt, &previous_actions_[signo]);
  }
  sigaddset(&mask_, signo);
  handlers_[signo] = std::move(handler);
  int fd = signalfd(fd_, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
  if (fd_ < 0) {
    fd_ = fd;
    arm();
  }
}

void SignalReader::remove(int signo) {
  if (handlers_.erase(signo) == 0) return;
  sigaction(signo, &previous_actions_[signo], nullptr);
  previous_actions_.erase(signo);
  sigdelset(&mask_, signo);
  if (fd_ >= 0) signalfd(fd_, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
  if (!sigismember(&previously_blocked_, signo)) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  }
  sigdelset(&previously_blocked_, signo);
}

void SignalReader::complete(int result, unsigned /*flags*/) {
  if (result == static_cast<int>(sizeof info_)) {
    auto it = handlers_.find(static_cast<int>(info_.ssi_signo));
    if (it != handlers_.end()) run_(it->second);
  } else if (result < 0 && result != -EAGAIN && result != -EINTR) {
    log::gen().error("signalfd read failed: {}", std::strerror(-result));
    return;
  }
  arm();
}

void SignalReader::arm() {
  if (read_.in_flight() || fd_ < 0) return;
  io_uring_prep_read(read_.prepare(ring_), fd_, &info_, sizeof info_, 0);
}

}  // namespace whirl
