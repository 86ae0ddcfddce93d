// whirl/runtime/internal/signal_reader.h: IOLoop::add_signal_handler's
// signalfd, read through the ring.
//
// Each added signal is blocked in the calling thread and its disposition
// set to the default (an ignored signal is discarded when generated and
// never reaches a signalfd: a shell starts background jobs with SIGINT
// ignored). One read of the signalfd is armed while any handler is set;
// each signal read runs its handler on the loop thread. Removing the last
// handler of a signal, or destroying the reader, restores what was there.
#pragma once

#include <sys/signalfd.h>

#include <csignal>
#include <map>

#include "whirl/runtime/internal/ring.h"
#include "whirl/runtime/internal/unique_function.h"

namespace whirl {

class SignalReader final : private Completion {
 public:
  // `run` calls a handler (the loop's error-logging runner).
  using Runner = void (*)(UniqueFunction& handler) noexcept;
  SignalReader(Ring& ring, Runner run);
  ~SignalReader();
  SignalReader(const SignalReader&) = delete;
  SignalReader& operator=(const SignalReader&) = delete;

  void add(int signo, UniqueFunction handler);
  void remove(int signo);

 private:
  void complete(int result, unsigned flags) override;
  void arm();

  Ring& ring_;
  Runner run_;
  int fd_ = -1;
  sigset_t mask_;
  sigset_t previously_blocked_;
  std::map<int, UniqueFunction> handlers_;
  std::map<int, struct sigaction> previous_actions_;
  signalfd_siginfo info_{};  // the read's buffer
  RingRequest read_{*this};  // points at info_: declared after it
};

}  // namespace whirl
