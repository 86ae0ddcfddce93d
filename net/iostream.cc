#include "whirl/net/iostream.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

#include "whirl/net/internal/buffer_ring.h"
#include "whirl/net/internal/pipe_pool.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/file.h"
#include "whirl/runtime/log.h"
#include "whirl/runtime/operation.h"

namespace whirl {
namespace {

std::string closed_message(int error) {
  if (error == 0) return "Stream is closed";
  return std::string("Stream is closed: ") + std::strerror(error);
}

// Errors a peer causes by going away; they close the stream without a log
// line above DEBUG (Tornado's _is_connreset).
bool is_quiet_error(int error) {
  return error == ECONNRESET || error == EPIPE || error == ECONNABORTED || error == ETIMEDOUT;
}

// Sends use MSG_NOSIGNAL, but a process that also writes to sockets by other
// means must not die of SIGPIPE either: ignore it once, process-wide.
void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

}  // namespace

StreamClosedError::StreamClosedError(int real_error)
    : std::runtime_error(closed_message(real_error)), real_error_(real_error) {}

IOStream::IOStream(Socket socket) : IOStream(std::move(socket), Options{}) {}

IOStream::IOStream(Socket socket, Options options)
    : loop_(IOLoop::current()), socket_(std::move(socket)), options_(options) {
  ignore_sigpipe();
  if (options_.max_buffer_size == 0) throw std::invalid_argument("IOStream: max_buffer_size must be positive");
}

IOStream::~IOStream() {
  loop_.remove_timeout(close_deadline_);
  // Requests in the kernel point at our buffers: take them back first.
  take_back_receive(/*keep_data=*/false);
  send_request_.wait_out();
  // Waiters outlive us only if their frames are being torn down; detach them.
  if (pending_read_ != nullptr) pending_read_->stream_ = nullptr;
  for (WriteAwaiter* w = writers_.front(); w != nullptr; w = IntrusiveList<WriteAwaiter>::next(*w))
    w->stream_ = nullptr;
}

// ---------------------------------------------------------------- reading

IOStream::ReadAwaiter::ReadAwaiter(IOStream* stream, Kind kind, std::size_t want, bool partial,
                                   std::string_view delimiter, std::size_t max_bytes, std::span<char> into)
    : CancelHook(&ReadAwaiter::on_cancel),
      stream_(stream),
      kind_(kind),
      partial_(partial),
      want_(want),
      delimiter_(delimiter),
      max_bytes_(max_bytes),
      into_(into) {}

IOStream::ReadAwaiter IOStream::read_bytes(std::size_t n, bool partial) {
  return ReadAwaiter(this, ReadAwaiter::Kind::kBytes, n, partial, {}, 0, {});
}

IOStream::ReadAwaiter IOStream::read_until(std::string_view delimiter, std::size_t max_bytes) {
  if (delimiter.empty()) throw std::invalid_argument("read_until: empty delimiter");
  return ReadAwaiter(this, ReadAwaiter::Kind::kUntil, 0, false, delimiter, max_bytes, {});
}

IOStream::ReadIntoAwaiter IOStream::read_into(std::span<char> buffer, bool partial) {
  return ReadIntoAwaiter(this, ReadAwaiter::Kind::kInto, 0, partial, {}, 0, buffer);
}

IOStream::ReadAwaiter IOStream::read_until_close() {
  return ReadAwaiter(this, ReadAwaiter::Kind::kUntilClose, 0, false, {}, 0, {});
}

IOStream::WaitAwaiter IOStream::wait_for_bytes(std::size_t n, std::optional<TimePoint> deadline) {
  WaitAwaiter awaiter(this, ReadAwaiter::Kind::kWait, n, false, {}, 0, {});
  awaiter.deadline_ = deadline;
  return awaiter;
}

// Only a frame torn down mid-read (an abort, loop shutdown) gets here.
void IOStream::ReadAwaiter::leave_stream() noexcept {
  if (stream_ != nullptr && stream_->pending_read_ == this) {
    stream_->pending_read_ = nullptr;
    stream_->loop_.remove_timeout(timer_);
  }
}

bool IOStream::ReadAwaiter::await_ready() {
  stream_->start_read(this);
  return state_ != State::kWaiting;
}

void IOStream::ReadAwaiter::suspend(std::coroutine_handle<> awaiter, CancellationToken* token) {
  awaiter_ = awaiter;
  if (token != nullptr) token->add(*this);  // fires at once if already cancelled
  if (deadline_ && state_ == State::kWaiting) {
    timer_ = stream_->loop_.call_at(*deadline_, [this] { abandon(State::kTimedOut); });
  }
}

void IOStream::ReadAwaiter::throw_if_failed() const {
  if (state_ == State::kCancelled) throw CancelledError();
  if (state_ == State::kTimedOut) throw TimeoutError();
  if (state_ == State::kFailed) {
    if (stream_ != nullptr) stream_->raise_closed(error_);
    throw StreamClosedError(error_);
  }
}

std::string IOStream::ReadAwaiter::await_resume() {
  throw_if_failed();
  return std::move(result_);
}

IOStream::WaitAwaiter::Outcome IOStream::WaitAwaiter::outcome() const {
  switch (state()) {
    case State::kCancelled:
      throw CancelledError();
    case State::kTimedOut:
      return Outcome::kTimedOut;
    case State::kFailed:
      return Outcome::kClosed;
    default:
      return Outcome::kReady;
  }
}

void IOStream::ReadAwaiter::on_cancel(CancelHook* hook) noexcept {
  static_cast<ReadAwaiter*>(hook)->abandon(State::kCancelled);
}

// Ends a waiting read early (cancelled, or its deadline passed) and resumes
// its coroutine on the next turn.
void IOStream::ReadAwaiter::abandon(State why) noexcept {
  IOStream* stream = stream_;
  if (state_ != State::kWaiting || stream == nullptr) return;
  // Give back what this read collected so no byte is lost.
  try {
    if (kind_ == Kind::kInto) {
      stream->give_back(std::string_view(into_.data(), filled_));
    } else {
      stream->give_back(result_);
    }
  } catch (...) {
    // Out of memory while restoring: the stream cannot stay consistent.
    // close() fails this read and queues its resume: nothing more here.
    stream->close(ENOMEM);
    return;
  }
  result_.clear();
  filled_ = 0;
  state_ = why;
  CancelHook::unlink();                  // a deadline may end it while a token still holds it
  stream->loop_.remove_timeout(timer_);  // a cancel may end it before its deadline
  stream->pending_read_ = nullptr;
  stream->scanned_ = 0;
  stream->loop_.schedule(awaiter_, resume_);
}

void IOStream::start_read(ReadAwaiter* request) {
  if (pending_read_ != nullptr) throw std::logic_error("IOStream: a read is already pending");
  notice_first_use();
  request->state_ = ReadAwaiter::State::kWaiting;
  pending_read_ = request;
  if (try_complete(request)) {
    finish_read(request, false);
    return;
  }
  if (closed()) {
    finish_read(request, false);
    return;
  }
  update_receiving();
}

// Moves what the request can take from the buffer; true when it is done
// (completed or failed).
bool IOStream::try_complete(ReadAwaiter* request) {
  using Kind = ReadAwaiter::Kind;
  switch (request->kind_) {
    case Kind::kBytes: {
      std::size_t take = std::min(buffered(), request->want_ - request->result_.size());
      request->result_.append(unread().substr(0, take));
      consume(take);
      if (request->result_.size() == request->want_ || (request->partial_ && !request->result_.empty())) {
        request->state_ = ReadAwaiter::State::kDone;
        return true;
      }
      break;
    }
    case Kind::kInto: {
      std::size_t take = std::min(buffered(), request->into_.size() - request->filled_);
      std::memcpy(request->into_.data() + request->filled_, unread().data(), take);
      request->filled_ += take;
      consume(take);
      if (request->filled_ == request->into_.size() || (request->partial_ && request->filled_ > 0)) {
        request->state_ = ReadAwaiter::State::kDone;
        return true;
      }
      break;
    }
    case Kind::kUntil:
      if (try_complete_until(request)) return true;
      break;
    case Kind::kWait:
      if (buffered() >= request->want_) {
        request->filled_ = buffered();
        request->state_ = ReadAwaiter::State::kDone;
        return true;
      }
      if (request->want_ > options_.max_buffer_size) {
        log::gen().error("Waiting for {} bytes exceeds the maximum read buffer size ({} bytes); closing",
                         request->want_, options_.max_buffer_size);
        pending_read_ = nullptr;  // failed here, not by close()
        close(ENOBUFS);
        request->state_ = ReadAwaiter::State::kFailed;
        request->error_ = error_;
        return true;
      }
      break;
    case Kind::kUntilClose:
      request->result_.append(unread());
      consume(buffered());
      if (state_ != State::kOpen) {
        request->state_ = ReadAwaiter::State::kDone;
        return true;
      }
      break;
  }
  // Closed, or the peer will send no more: what is buffered cannot grow.
  if (state_ != State::kOpen) {
    request->state_ = ReadAwaiter::State::kFailed;
    request->error_ = error_;
    return true;
  }
  return false;
}

bool IOStream::try_complete_until(ReadAwaiter* request) {
  std::string_view data = unread();
  const std::string& delimiter = request->delimiter_;
  // Resume the search where the last one ended (minus a partial delimiter),
  // so a long read_until is linear, not quadratic.
  std::size_t from = scanned_ >= delimiter.size() ? scanned_ - delimiter.size() + 1 : 0;
  std::size_t found = data.find(delimiter, from);
  if (found != std::string_view::npos) {
    std::size_t end = found + delimiter.size();
    if (request->max_bytes_ != 0 && end > request->max_bytes_) {
      fail_unsatisfiable(request, "delimiter not found within max_bytes");
      return true;
    }
    request->result_.assign(data.substr(0, end));
    consume(end);
    request->state_ = ReadAwaiter::State::kDone;
    return true;
  }
  scanned_ = data.size();
  if (request->max_bytes_ != 0 && data.size() >= request->max_bytes_) {
    fail_unsatisfiable(request, "delimiter not found within max_bytes");
    return true;
  }
  if (data.size() >= options_.max_buffer_size) {
    log::gen().error("Reached maximum read buffer size ({} bytes) waiting for a delimiter; closing",
                     options_.max_buffer_size);
    pending_read_ = nullptr;  // failed here, not by close()
    close(ENOBUFS);
    request->state_ = ReadAwaiter::State::kFailed;
    request->error_ = error_;
    return true;
  }
  return false;
}

void IOStream::fail_unsatisfiable(ReadAwaiter* request, const char* why) {
  log::gen().info("Unsatisfiable read, closing connection: {}", why);
  pending_read_ = nullptr;  // failed here, not by close()
  close();
  request->state_ = ReadAwaiter::State::kFailed;
  request->error_ = 0;
}

void IOStream::finish_read(ReadAwaiter* request, bool resume_now) {
  pending_read_ = nullptr;
  scanned_ = 0;
  request->CancelHook::unlink();
  loop_.remove_timeout(request->timer_);
  if (request->state_ == ReadAwaiter::State::kWaiting) {
    request->state_ = ReadAwaiter::State::kFailed;
    request->error_ = error_;
  }
  if (resume_now) {
    // The caller's last action: the coroutine may destroy this stream.
    request->awaiter_.resume();
  }
}

void IOStream::consume(std::size_t n) noexcept {
  buffer_pos_ += n;
  if (buffer_pos_ == buffer_.size()) {
    buffer_.clear();
    buffer_pos_ = 0;
  } else if (buffer_pos_ > 64 * 1024 && buffer_pos_ * 2 > buffer_.size()) {
    buffer_.erase(0, buffer_pos_);
    buffer_pos_ = 0;
  }
}

void IOStream::give_back(std::string_view data) {
  if (data.empty()) return;
  buffer_.erase(0, buffer_pos_);
  buffer_pos_ = 0;
  buffer_.insert(0, data);
}

// Arms or pauses the receive to keep the unread data under its limit.
void IOStream::update_receiving() {
  if (state_ != State::kOpen) return;
  bool reading = pending_read_ != nullptr;
  std::size_t limit = reading ? options_.max_buffer_size : std::min(options_.read_chunk_size, options_.max_buffer_size);
  // A waiting read arms the receive; with no read waiting an armed receive
  // keeps going while little is buffered (an idle stream still notices the
  // peer closing) and pauses beyond that (a slow reader stops the sender).
  bool want = buffered() < limit && (reading || receive_ != Receive::kIdle || needs_input_);
  if (want && receive_ == Receive::kIdle) {
    arm_receive();
  } else if (!want && receive_ == Receive::kArmed) {
    receive_ = Receive::kStopping;
    receive_request_.cancel();
  }
}

void IOStream::arm_receive() {
  io_uring_sqe* sqe = receive_request_.prepare(loop_.ring());
  BufferRing::of(loop_);  // registered before the kernel sees the request
  io_uring_prep_recv_multishot(sqe, socket_.native_handle(), nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BufferRing::kGroupId;
  receive_ = Receive::kArmed;
}

void IOStream::on_receive(int result, unsigned flags) {
  bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) receive_ = Receive::kIdle;
  int error = 0;
  if (result > 0) {
    unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
    BufferRing& ring = BufferRing::of(loop_);
    // The transport copies what it keeps, so the buffer goes back at once.
    // It may close the stream (a TLS error); what it decoded stays readable.
    if (!closed()) on_socket_bytes(ring.view(id, static_cast<std::size_t>(result)));
    ring.recycle(id);
  } else if (result == 0) {
    if (state_ == State::kOpen) state_ = State::kInputEnded;
  } else if (result == -ENOBUFS) {
    BufferRing::of(loop_).note_exhausted();
  } else if (result == -ECANCELED || result == -EINTR || result == -EAGAIN) {
    // ENOBUFS: every ring buffer is in use; not an error, re-armed below
    // (docs/ARCHITECTURE.md §3). ECANCELED: our own pause or close.
  } else {
    error = -result;
  }

  if (closed()) {
    release_socket_if_idle();
    return;
  }
  if (error != 0) {
    if (!is_quiet_error(error))
      log::gen().warning("Read error on {}: {}", socket_.native_handle(), std::strerror(error));
    close(error);  // completes or fails the pending read
    return;
  }
  if (result == 0) {
    on_end_of_input();
    if (closed()) return;  // the transport could not go on without input
  }
  // End of input closes only the reading half: a peer that shut down its
  // sending side can still read what we write (RFC 9112 §9.6; `nc -N` and
  // many HTTP/1.0 clients send a request and their FIN together). A read
  // the buffered bytes cannot satisfy fails with StreamClosedError(0);
  // writes go on until the owner closes the stream or a send fails.
  ReadAwaiter* request = pending_read_;
  if (request != nullptr && try_complete(request)) {
    update_receiving();
    finish_read(request, true);  // last: the reader may destroy us
    return;
  }
  update_receiving();
}

// ---------------------------------------------------------------- writing

IOStream::WriteAwaiter::WriteAwaiter(IOStream* stream, std::uint64_t target) noexcept
    : CancelHook(&WriteAwaiter::on_cancel), stream_(stream), target_(target) {}

IOStream::WriteAwaiter IOStream::write(std::string_view data) {
  admit_write(data.size());
  queued_.append(data);
  return note_queued(data.size());
}

// write() for a buffer the caller is done with: taken over without a copy
// when nothing else is queued. `data` is left empty, holding the capacity
// of a buffer the stream has finished sending, so buffers go round between
// the caller, the queue and the send without being allocated again.
IOStream::WriteAwaiter IOStream::write_taking(std::string& data) {
  admit_write(data.size());
  std::size_t size = data.size();
  if (queued_.empty()) {
    queued_.swap(data);
  } else {
    queued_.append(data);
  }
  data.clear();
  return note_queued(size);
}

void IOStream::admit_write(std::size_t size) {
  if (closed()) raise_closed(error_);
  notice_first_use();
  if (closed()) raise_closed(error_);  // the transport failed starting
  std::size_t pending = write_buffer_size();
  // A single write larger than the bound into an empty queue is taken: the
  // bound is on what piles up behind a peer that does not read.
  if (options_.max_write_buffer_size != 0 && pending != 0 && pending + size > options_.max_write_buffer_size) {
    throw StreamBufferFullError();
  }
}

IOStream::WriteAwaiter IOStream::note_queued(std::size_t size) {
  queued_total_ += size;
  if (flush_held_ && queued_.size() >= kMaxHeldBytes) flush_held_ = false;
  if (!flush_held_ && !send_request_.in_flight()) loop_.ring().before_submit(flusher_);
  return WriteAwaiter(this, queued_total_);
}

Task<void> IOStream::write_file(File& file, std::uint64_t offset, std::uint64_t length) {
  if (closed()) raise_closed(error_);
  if (length == 0) co_return;
  if (sends_as_written() && socket_is_nonblocking()) {
    std::optional<PipePool::Pipe> pipe = PipePool::of(loop_).take();
    if (pipe) {
      co_await splice_file(file, offset, length, *pipe);
      co_return;
    }
    // No pipe (the process is out of descriptors): copying still works.
  }
  co_await read_file_into_queue(file, offset, length);
}

// splice_out's splice(2) must not wait on the socket: a stream over a
// descriptor someone adopted in blocking mode copies instead.
bool IOStream::socket_is_nonblocking() const noexcept {
  int flags = ::fcntl(socket_.native_handle(), F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

namespace {

// A request of splice_file's on the socket, counted while it may be in the
// kernel's hands (release_socket_if_idle keeps the descriptor open for it),
// however the wait ends: a result, an exception, or the frame destroyed.
class SpliceInFlight {
 public:
  explicit SpliceInFlight(unsigned& count) noexcept : count_(count) { ++count_; }
  ~SpliceInFlight() { --count_; }
  SpliceInFlight(const SpliceInFlight&) = delete;
  SpliceInFlight& operator=(const SpliceInFlight&) = delete;

 private:
  unsigned& count_;
};

[[noreturn]] void file_ended_early(std::uint64_t missing) {
  throw std::runtime_error(fmt::format("the file ended {} bytes early (truncated while it was sent)", missing));
}

}  // namespace

Task<void> IOStream::read_file_into_queue(File& file, std::uint64_t offset, std::uint64_t length) {
  std::size_t piece_size = static_cast<std::size_t>(std::min<std::uint64_t>(length, kFilePiece));
  std::string piece;
  while (length > 0) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, piece_size));
    piece.resize(want);
    std::size_t got = co_await file.read_at(piece, offset);
    if (got < want) file_ended_early(length - got);
    WriteAwaiter written = write_taking(piece);
    offset += got;
    length -= got;
    // Two pieces queued: let them leave before reading a third.
    if (write_buffer_size() > piece_size) co_await written;
  }
}

Task<void> IOStream::splice_file(File& file, std::uint64_t offset, std::uint64_t length, PipePool::Pipe pipe) {
  // While the file goes, writes queue and are sent after it; the socket
  // stays open for the splices in flight (release_socket_if_idle).
  struct Splicing {
    IOStream& stream;
    PipePool& pool;
    PipePool::Pipe pipe;
    bool empty = true;
    bool limited = false;
    ~Splicing() {
      limit_unsent(false);
      stream.splicing_ = false;
      pool.give_back(pipe, empty);
      if (stream.has_output(stream.queued_)) stream.schedule_flush();
    }
    // A splice takes all the send buffer has room for, most of it beyond
    // what the peer's window lets leave now; the rest then goes out from
    // whichever thread handles the peer's ACKs, and on loopback that is the
    // peer's (measured: a fifth of wrk's time spent sending our bytes, and
    // half nginx's bytes/s). With TCP_NOTSENT_LOWAT the socket takes only
    // kSpliceUnsent more than it has sent, so the bytes leave from the
    // splice itself, as nginx's sendfile writes them. 0 restores the
    // system's default.
    void limit_unsent(bool on) noexcept {
      if (on == limited || stream.closed()) return;
      int value = on ? static_cast<int>(kSpliceUnsent) : 0;
      limited = ::setsockopt(stream.socket_.native_handle(), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &value, sizeof value) == 0
                    ? on
                    : limited;
    }
  } splicing{*this, PipePool::of(loop_), pipe};
  co_await write({});  // the response's head (and anything before it) leaves first
  if (closed()) raise_closed(error_);
  splicing_ = true;  // from here writes queue behind the file
  if (send_request_.in_flight()) {
    // Written by someone else while the head left, and already on its way:
    // it must be gone before the file's bytes follow it.
    WriteAwaiter sent(this, sending_target_);
    co_await sent;
  }
  splicing.limit_unsent(true);
  int file_fd = file.fd();
  int pipe_in = splicing.pipe.write_fd;
  while (length > 0) {
    auto want = static_cast<unsigned>(std::min<std::uint64_t>(length, splicing.pipe.capacity));
    std::int64_t from = static_cast<std::int64_t>(offset);
    // Not empty from the moment the splice may run: if this frame is
    // destroyed while it is in flight, bytes may have gone into the pipe.
    splicing.empty = false;
    int moved = 0;
    {
      SpliceInFlight in_flight(splices_in_flight_);
      moved = co_await io_op(
          [&](io_uring_sqe* sqe) { io_uring_prep_splice(sqe, file_fd, from, pipe_in, -1, want, SPLICE_F_MOVE); });
    }
    if (moved <= 0) splicing.empty = true;  // nothing went in
    if (closed()) {
      release_socket_if_idle();
      raise_closed(error_);
    }
    if (moved == -EAGAIN && file.clear_nonblocking()) continue;  // see File: uncached pages
    if (moved == -EINTR) continue;
    if (moved < 0) throw std::system_error(-moved, std::generic_category(), "splice from the file");
    if (moved == 0) file_ended_early(length);
    offset += static_cast<std::uint64_t>(moved);
    length -= static_cast<std::uint64_t>(moved);
    co_await splice_out(splicing.pipe.read_fd, static_cast<std::size_t>(moved), length > 0);
    splicing.empty = true;
  }
}

// Moves `bytes` from the pipe to the socket, with splice(2) itself rather
// than through the ring: io_uring runs every splice in one of its workers,
// and a hop to a worker and back for each socket's worth of a file made the
// transfer wait on thread switches (the ring's splice from the file, which
// may wait for the disk, stays where such a wait belongs). From a pipe that
// holds the bytes to a non-blocking socket the call cannot block: it moves
// what the socket takes, or ends with EAGAIN, and a poll through the ring
// waits for room.
Task<void> IOStream::splice_out(int pipe_fd, std::size_t bytes, bool more) {
  int socket_fd = socket_.native_handle();
  unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0U);
  while (bytes > 0) {
    ssize_t sent = ::splice(pipe_fd, nullptr, socket_fd, nullptr, bytes, flags);
    int error = sent < 0 ? errno : 0;
    if (error == EAGAIN) {
      int polled = 0;
      {
        SpliceInFlight in_flight(splices_in_flight_);
        polled = co_await io_op([&](io_uring_sqe* sqe) { io_uring_prep_poll_add(sqe, socket_fd, POLLOUT); });
      }
      if (closed()) {
        release_socket_if_idle();
        raise_closed(error_);
      }
      if (polled < 0 && polled != -EINTR) {
        close(-polled);
        raise_closed(error_);
      }
      continue;  // room, or an error the next splice reports
    }
    if (error == EINTR) continue;
    if (error != 0) {
      if (!is_quiet_error(error)) log::gen().warning("Write error: {}", std::strerror(error));
      close(error);
      raise_closed(error_);
    }
    bytes -= static_cast<std::size_t>(sent);
  }
}

void IOStream::hold_flush(bool hold) {
  if (flush_held_ == hold) return;
  flush_held_ = hold;
  if (!hold && !queued_.empty()) schedule_flush();
}

bool IOStream::WriteAwaiter::await_ready() const noexcept { return stream_->flushed_ >= target_ || stream_->closed(); }

bool IOStream::WriteAwaiter::suspend(std::coroutine_handle<> awaiter, CancellationToken* token) {
  IOStream* stream = stream_;
  if (token != nullptr && token->cancelled()) {
    state_ = State::kCancelled;
    return false;
  }
  awaiter_ = awaiter;
  state_ = State::kWaiting;
  stream->hold_flush(false);  // a waiting writer must not wait on the hold
  stream->writers_.push_back(*this);
  if (token != nullptr) token->add(*this);
  return true;
}

void IOStream::WriteAwaiter::await_resume() const {
  if (state_ == State::kCancelled) throw CancelledError();
  if (state_ == State::kFailed) {
    if (stream_ != nullptr) stream_->raise_closed(error_);
    throw StreamClosedError(error_);
  }
  if (state_ == State::kIdle && stream_->flushed_ < target_) stream_->raise_closed(stream_->error_);
}

void IOStream::WriteAwaiter::on_cancel(CancelHook* hook) noexcept {
  auto* self = static_cast<WriteAwaiter*>(hook);
  if (self->state_ != State::kWaiting) return;
  self->ListNode<WriteAwaiter>::unlink();
  self->state_ = State::kCancelled;
  if (self->stream_ != nullptr) self->stream_->loop_.schedule(self->awaiter_, self->resume_);
}

void IOStream::schedule_flush() {
  if (!closed() && !send_request_.in_flight()) loop_.ring().before_submit(flusher_);
}

void IOStream::set_needs_input(bool value) {
  needs_input_ = value;
  update_receiving();
}

void IOStream::flush() {
  if (closed() || flush_held_ || splicing_ || send_request_.in_flight()) return;
  sending_.clear();
  sending_pos_ = 0;
  encode(queued_, sending_);
  if (closed()) return;  // the transport failed
  sending_target_ = queued_total_ - queued_.size();
  if (sending_.empty()) {
    flushed_ = sending_target_;  // nothing on the wire for these bytes
    wake_writers();
    return;
  }
  send_pending();
}

void IOStream::send_pending() {
  io_uring_sqe* sqe = send_request_.prepare(loop_.ring());
  io_uring_prep_send(sqe, socket_.native_handle(), sending_.data() + sending_pos_, sending_.size() - sending_pos_,
                     MSG_NOSIGNAL);
}

void IOStream::on_sent(int result, unsigned /*flags*/) {
  if (closed()) {
    release_socket_if_idle();
    return;
  }
  if (result < 0) {
    if (result == -EINTR || result == -EAGAIN) {
      send_pending();
      return;
    }
    int error = -result;
    if (!is_quiet_error(error)) log::gen().warning("Write error: {}", std::strerror(error));
    close(error);
    return;
  }
  sending_pos_ += static_cast<std::size_t>(result);
  if (sending_pos_ < sending_.size()) {
    send_pending();  // a partial send: the rest goes at once
    return;
  }
  // A write counts as flushed when all of its turn's send has left (the
  // wire bytes of an encrypting transport do not map one to one).
  flushed_ = sending_target_;
  sending_.clear();
  sending_pos_ = 0;
  // Writes made while this send was in flight go in the next turn's send.
  if (has_output(queued_)) loop_.ring().before_submit(flusher_);
  wake_writers();
}

void IOStream::wake_writers() {
  for (WriteAwaiter* writer = writers_.front(); writer != nullptr && (writer->target_ <= flushed_ || closed());
       writer = writers_.front()) {
    writer->ListNode<WriteAwaiter>::unlink();
    writer->CancelHook::unlink();
    if (writer->target_ <= flushed_) {
      writer->state_ = WriteAwaiter::State::kDone;
    } else {
      writer->state_ = WriteAwaiter::State::kFailed;
      writer->error_ = error_;
    }
    loop_.schedule(writer->awaiter_, writer->resume_);
  }
}

// ---------------------------------------------------------------- state

bool IOStream::shutdown_write() {
  if (closed() || writing() || !allows_shutdown_write()) return false;
  return ::shutdown(socket_.native_handle(), SHUT_WR) == 0;
}

void IOStream::set_close_deadline(std::optional<TimePoint> deadline) {
  loop_.remove_timeout(close_deadline_);
  close_deadline_ = {};
  if (deadline && !closed()) close_deadline_ = loop_.call_at(*deadline, [this] { close(ETIMEDOUT); });
}

void IOStream::close(int error) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  error_ = error;
  loop_.remove_timeout(close_deadline_);
  on_close();
  flusher_.cancel();
  if (receive_ == Receive::kArmed) {
    receive_ = Receive::kStopping;
    receive_request_.cancel();
  }
  if (send_request_.in_flight()) send_request_.cancel();
  // A file's splice or its wait for room holds the socket open and is no
  // request of ours to cancel: shutting the socket down ends both at once.
  if (splices_in_flight_ > 0) ::shutdown(socket_.native_handle(), SHUT_RDWR);
  queued_.clear();
  wake_writers();
  if (ReadAwaiter* request = pending_read_) {
    try_complete(request);  // data that came with the close still counts
    finish_read(request, false);
    loop_.schedule(request->awaiter_, request->resume_);
  }
  if (close_observer_ != nullptr) close_observer_->on_stream_closed();
  if (close_callback_) {
    loop_.spawn_callback(std::move(close_callback_));
    close_callback_ = nullptr;
  }
  release_socket_if_idle();
}

// Cancels the receive and waits for its last completion, so no ring buffer
// or stream pointer is left with the kernel. Bytes it still delivers are
// appended to the read buffer if `keep_data`, else dropped; their ring
// buffers are recycled either way.
void IOStream::take_back_receive(bool keep_data) {
  struct Reclaim {
    IOStream* stream;
    bool keep;
  } reclaim{this, keep_data};
  receive_request_.wait_out(
      [](void* context, int result, unsigned flags) {
        auto* reclaim = static_cast<Reclaim*>(context);
        if (result <= 0 || !(flags & IORING_CQE_F_BUFFER)) return;
        unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
        BufferRing& ring = BufferRing::of(reclaim->stream->loop_);
        if (reclaim->keep) reclaim->stream->buffer_.append(ring.view(id, static_cast<std::size_t>(result)));
        ring.recycle(id);
      },
      &reclaim);
}

IOStream::TakenSocket IOStream::take_socket() {
  if (pending_read_ != nullptr) throw std::logic_error("take_socket: a read is pending");
  if (writing() || send_request_.in_flight()) throw std::logic_error("take_socket: a write is pending");
  if (closed()) throw StreamClosedError(error_);
  take_back_receive(/*keep_data=*/true);
  receive_ = Receive::kIdle;
  TakenSocket taken{std::move(socket_), std::string(unread()), options_};
  buffer_.clear();
  buffer_pos_ = 0;
  flusher_.cancel();
  state_ = State::kClosed;  // this stream is done; the socket lives on in its taker
  close_callback_ = nullptr;
  return taken;
}

void IOStream::raise_closed(int error) const { throw StreamClosedError(error); }

void IOStream::release_socket_if_idle() noexcept {
  if (closed() && !receive_request_.in_flight() && !send_request_.in_flight() && splices_in_flight_ == 0) {
    socket_.close();
  }
}

void IOStream::set_nodelay(bool value) {
  if (!socket_.valid()) return;
  int family = socket_.local_address().family();
  if (family == AF_INET || family == AF_INET6)
    socket_.set_option(IPPROTO_TCP, TCP_NODELAY, value ? 1 : 0, "TCP_NODELAY");
}

}  // namespace whirl
