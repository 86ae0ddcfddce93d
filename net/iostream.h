// whirl/net/iostream.h: Tornado's IOStream on io_uring.
//
//     IOStream stream(std::move(socket));
//     std::string head = co_await stream.read_until("\r\n\r\n", 64 * 1024);
//     std::string body = co_await stream.read_bytes(length);
//     co_await stream.write("HTTP/1.1 200 OK\r\n...");   // completes when flushed
//     stream.write(more);                                // or queue without waiting
//
// Reads. One multishot recv per stream picks buffers from the loop's shared
// BufferRing; bytes are copied into the stream's read buffer and the ring
// buffer is recycled at once. Only one read may be outstanding (a second
// throws std::logic_error). Bytes that arrived before the peer closed stay
// readable. Receiving pauses while the unread data reaches the limit
// (max_buffer_size while a read waits, min(read_chunk_size, max_buffer_size)
// while none does) and resumes when a read needs more: a slow reader applies
// backpressure instead of overflowing. read_bytes, read_into and
// read_until_close move data out as it arrives, so only read_until keeps
// data buffered: past max_bytes it logs "Unsatisfiable read" and closes,
// past max_buffer_size it logs and closes; the read fails with
// StreamClosedError either way.
//
// Writes. write() copies the bytes into the stream's queue at once (it may
// throw StreamClosedError, or StreamBufferFullError when bytes are already
// waiting and this write would take them past max_write_buffer_size).
// Everything queued during one loop turn leaves in one send, right before
// the turn's submit; the returned awaitable completes when those bytes have
// been handed to the kernel.
//
// End of input. When the peer shuts down its sending side, reads that the
// buffered bytes cannot satisfy fail with StreamClosedError(0) (and
// read_until_close completes), but the stream stays open for writing: a
// half-closed peer still reads the answer (RFC 9112 §9.6). closed() turns
// true only when the stream is closed (by its owner, an error, or a failed
// send to a peer that is gone).
//
// Closing. close(error) and peer errors fail the waiting read (unless the
// buffered data satisfies it) and every waiting write with
// StreamClosedError(error). The descriptor itself is closed only after the
// stream's receive and send have left the kernel, so its number is never
// reused under a pending request. ECONNRESET, EPIPE, ECONNABORTED and
// ETIMEDOUT close quietly.
//
// Cancellation. A cancelled read gives back what it had collected (to the
// front of the read buffer); a cancelled write wait leaves its bytes queued.
//
// Transports. The bytes on the socket need not be the bytes the stream
// reads and writes: SSLIOStream (ssl_iostream.h) overrides the protected
// transport hooks below to decrypt what arrives and encrypt what leaves,
// and start_tls() (there) turns a plaintext stream into one.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "whirl/net/internal/pipe_pool.h"
#include "whirl/net/socket.h"
#include "whirl/runtime/cancellation.h"
#include "whirl/runtime/internal/ring.h"
#include "whirl/runtime/internal/unique_function.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/task.h"

namespace whirl {

class File;

// The stream was closed (by us, the peer, or an error). real_error() is the
// errno that closed it, 0 for a clean close or end of file.
class StreamClosedError : public std::runtime_error {
 public:
  explicit StreamClosedError(int real_error = 0);
  int real_error() const noexcept { return real_error_; }

 private:
  int real_error_;
};

// write() beyond max_write_buffer_size.
class StreamBufferFullError : public std::runtime_error {
 public:
  StreamBufferFullError() : std::runtime_error("Reached maximum write buffer size") {}
};

class IOStream {
 public:
  struct Options {
    std::size_t max_buffer_size = 100 * 1024 * 1024;
    std::size_t read_chunk_size = 64 * 1024;
    std::size_t max_write_buffer_size = 0;  // 0: unbounded
  };

  explicit IOStream(Socket socket);
  IOStream(Socket socket, Options options);
  IOStream(const IOStream&) = delete;
  IOStream& operator=(const IOStream&) = delete;
  virtual ~IOStream();

  // ---- reading ----

  // One read request; lives in the awaiting frame.
  class ReadAwaiter : private CancelHook {
   public:
    ReadAwaiter(ReadAwaiter&&) noexcept = default;  // only before it is awaited
    // Inline: every read ends here, and almost always done (one compare).
    ~ReadAwaiter() {
      if (state_ == State::kWaiting) leave_stream();
    }
    bool await_ready();
    template <typename Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiter) {
      suspend(awaiter, detail::token_of(awaiter));
    }
    std::string await_resume();

   protected:
    enum class State : unsigned char { kIdle, kWaiting, kDone, kFailed, kCancelled, kTimedOut };
    std::size_t filled() const noexcept { return filled_; }
    State state() const noexcept { return state_; }
    void throw_if_failed() const;

   private:
    friend class IOStream;
    enum class Kind : unsigned char { kBytes, kUntil, kInto, kUntilClose, kWait };

    ReadAwaiter(IOStream* stream, Kind kind, std::size_t want, bool partial, std::string_view delimiter,
                std::size_t max_bytes, std::span<char> into);
    void suspend(std::coroutine_handle<> awaiter, CancellationToken* token);
    static void on_cancel(CancelHook* hook) noexcept;
    void abandon(State why) noexcept;
    void leave_stream() noexcept;

    IOStream* stream_;
    Kind kind_;
    State state_ = State::kIdle;
    bool partial_ = false;
    std::size_t want_ = 0;       // kBytes, kWait
    std::string delimiter_;      // kUntil
    std::size_t max_bytes_ = 0;  // kUntil, 0: no limit
    std::span<char> into_;       // kInto
    std::size_t filled_ = 0;     // kInto; kWait: buffered() when done
    std::string result_;
    int error_ = 0;
    std::coroutine_handle<> awaiter_;
    std::optional<TimePoint> deadline_;  // kWait only
    TimeoutHandle timer_;                // armed while waiting with a deadline
    ReadyTicket resume_;
  };

  // Exactly `n` bytes (with `partial`: as soon as 1..n are available).
  ReadAwaiter read_bytes(std::size_t n, bool partial = false);
  // Up to and including `delimiter`. `max_bytes` (0: none) bounds the search.
  ReadAwaiter read_until(std::string_view delimiter, std::size_t max_bytes = 0);
  // Fills `buffer` (with `partial`: returns once anything was read);
  // yields the number of bytes written into it.
  class ReadIntoAwaiter : public ReadAwaiter {
   public:
    using ReadAwaiter::ReadAwaiter;
    std::size_t await_resume() {
      throw_if_failed();
      return filled();
    }
  };
  ReadIntoAwaiter read_into(std::span<char> buffer, bool partial = false);
  // Everything until the peer closes.
  ReadAwaiter read_until_close();

  // In-place reading, for parsers that work on the bytes where they lie:
  //
  //     while (!parse(stream.peek_buffer())) co_await stream.wait_for_bytes(stream.buffered() + 1);
  //     stream.consume_buffer(parsed);
  //
  // wait_for_bytes(n) completes once at least `n` bytes are buffered and
  // yields buffered(); it moves nothing out. It counts as the stream's one
  // pending read and fails with StreamClosedError when the stream closes
  // short of `n` (what did arrive stays in peek_buffer()). n beyond
  // max_buffer_size can never be met: the stream logs and closes.
  //
  // With a `deadline` the wait gives up then and throws TimeoutError; the
  // buffered bytes stay. That is with_timeout without its task frames: the
  // awaiter is all the waiting frame holds, which is how an idle keep-alive
  // HTTP connection waits for its next request.
  class WaitAwaiter : public ReadAwaiter {
   public:
    using ReadAwaiter::ReadAwaiter;
    std::size_t await_resume() {
      throw_if_failed();
      return filled();
    }
    // await_resume without the throwing, for a caller to whom the peer
    // closing or the deadline passing is routine (cancellation still throws).
    enum class Outcome : unsigned char { kReady, kClosed, kTimedOut };
    Outcome outcome() const;
  };
  WaitAwaiter wait_for_bytes(std::size_t n, std::optional<TimePoint> deadline = std::nullopt);
  // The unread bytes; valid until the next read, consume_buffer or resume of the loop.
  std::string_view peek_buffer() const noexcept { return unread(); }
  // Drops the first `n` (<= buffered()) unread bytes.
  void consume_buffer(std::size_t n) noexcept { consume(n); }

  // ---- writing ----

  // Waits on the stream's list of writers (a ListNode) while suspended;
  // destroying it takes it off (one compare when it is not on it).
  class WriteAwaiter : private CancelHook, private ListNode<WriteAwaiter> {
   public:
    WriteAwaiter(WriteAwaiter&&) noexcept = default;   // only before it is awaited
    [[gnu::always_inline]] ~WriteAwaiter() = default;  // inline: it ends every write
    bool await_ready() const noexcept;
    template <typename Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiter) {
      return suspend(awaiter, detail::token_of(awaiter));
    }
    void await_resume() const;

   private:
    friend class IOStream;
    friend class IntrusiveList<WriteAwaiter>;
    WriteAwaiter(IOStream* stream, std::uint64_t target) noexcept;
    bool suspend(std::coroutine_handle<> awaiter, CancellationToken* token);
    static void on_cancel(CancelHook* hook) noexcept;

    IOStream* stream_;
    std::uint64_t target_;  // flushed_ must reach this
    enum class State : unsigned char { kIdle, kWaiting, kDone, kFailed, kCancelled } state_ = State::kIdle;
    int error_ = 0;
    std::coroutine_handle<> awaiter_;
    ReadyTicket resume_;
  };

  WriteAwaiter write(std::string_view data);
  // write() for bytes formatted straight into the write queue, without the
  // copy a buffer of the caller's would cost (an HTTP response head):
  // `fill(char* to)` is called once, at once, with room for exactly `size`
  // bytes, and must write all of them. Bounded and failing as write().
  template <typename Fill>
  WriteAwaiter write_in_place(std::size_t size, Fill&& fill) {
    admit_write(size);
    std::size_t at = queued_.size();
    queued_.resize(at + size);
    fill(queued_.data() + at);
    return note_queued(size);
  }

  // Writes `length` bytes of `file` from `offset`, after what is queued.
  // On a plain socket the file's pages are spliced to it through a pipe
  // (no copy through user memory, as nginx's sendfile: the ring's splice
  // from the file, which may wait for the disk in the kernel's workers, then
  // splice(2) to the socket, which cannot block) once what was queued before
  // has left, and it completes when the last byte was handed to the kernel;
  // writes made meanwhile wait behind the file. A transport that encodes (TLS) reads the file through
  // the ring in pieces of kFilePiece and writes them (encrypting each), the
  // next piece read while the last is sent, and completes once the last is
  // queued. Either way at most a pipe or two pieces are in flight, so a
  // 1 GiB file costs a slow peer's connection what a 1 MiB one does.
  // Throws StreamClosedError as write() does (and closes the stream when
  // the socket fails), std::system_error when the file cannot be read, and
  // std::runtime_error when it ends before `length` (truncated while it was
  // sent): the caller's framing is then broken and it must close the
  // stream.
  Task<void> write_file(File& file, std::uint64_t offset, std::uint64_t length);
  static constexpr std::size_t kFilePiece = 128 * 1024;
  // While splicing, the most the socket holds that it has not sent yet.
  static constexpr std::size_t kSpliceUnsent = 64 * 1024;

  // Holds queued bytes back (no send) until hold_flush(false), so answers
  // to requests that arrived together leave together (HTTP pipelining).
  // The hold lifts by itself when a writer waits for its bytes to leave or
  // when kMaxHeldBytes are queued, so it can delay a send but never stall it.
  void hold_flush(bool hold);
  static constexpr std::size_t kMaxHeldBytes = 64 * 1024;

  // ---- state ----

  void close(int error = 0);
  // Sends end of file to the peer (shutdown(SHUT_WR)) while reading goes
  // on: the first half of a lingering close. Only once nothing is queued to
  // write; false (and nothing done) when closed, writes are pending, or the
  // transport has an end of its own to say first (TLS).
  bool shutdown_write();
  bool closed() const noexcept { return state_ == State::kClosed; }
  // The peer has sent end of file (its half of the connection is closed)
  // and the stream is still open for writing.
  bool reached_eof() const noexcept { return state_ == State::kInputEnded; }
  int error() const noexcept { return error_; }
  bool reading() const noexcept { return pending_read_ != nullptr; }
  // Bytes wait to leave: queued ones, or a file being spliced (write_file).
  bool writing() const noexcept { return flushed_ < queued_total_ || splicing_; }
  // Called once (on the loop) when the stream closes.
  void set_close_callback(UniqueFunction callback) { close_callback_ = std::move(callback); }
  // For the protocol layer that owns the stream: told synchronously, inside
  // close(), so it can end its own waits (an HTTP connection waiting for a
  // response that will never be written). One observer; nullptr removes it.
  // The user-facing notification is set_close_callback.
  class CloseObserver {
   public:
    virtual void on_stream_closed() noexcept = 0;

   protected:
    ~CloseObserver() = default;
  };
  void set_close_observer(CloseObserver* observer) noexcept { close_observer_ = observer; }
  // Closes the stream with ETIMEDOUT at `deadline` unless it is cleared
  // (nullopt) or replaced first: the bound on a phase a silent peer could
  // otherwise stretch forever (a TLS handshake, a final flush), costing one
  // timer and no task frames. Waiting reads and writes fail as on close().
  void set_close_deadline(std::optional<TimePoint> deadline);
  void set_nodelay(bool value);
  const Socket& socket() const noexcept { return socket_; }
  const Options& options() const noexcept { return options_; }
  std::size_t buffered() const noexcept { return buffer_.size() - buffer_pos_; }
  // Bytes written and not yet handed to the kernel (Tornado's
  // _total_write_index - _total_write_done_index).
  std::size_t write_buffer_size() const noexcept { return queued_.size() + sending_.size() - sending_pos_; }

  // Hands the socket and the bytes received but not read to a new owner
  // (start_tls in ssl_iostream.h builds a TLS stream from them); this stream
  // is left closed, its socket moved out, not shut. Throws std::logic_error
  // while a read or write is pending, StreamClosedError if closed.
  struct TakenSocket {
    Socket socket;
    std::string unread;
    Options options;
  };
  TakenSocket take_socket();

 protected:
  // ---- the transport boundary (SSLIOStream overrides these) ----

  // Bytes that arrived on the socket. IOStream makes them readable as is.
  virtual void on_socket_bytes(std::string_view bytes) { append_readable(bytes); }
  // Called on the loop right before a send is prepared: moves what can leave
  // now from `queued` (the bytes written and not yet sent) into `wire`
  // (empty on entry). IOStream moves everything as is.
  virtual void encode(std::string& queued, std::string& wire) { wire.swap(queued); }
  // Whether encode() would produce bytes now.
  virtual bool has_output(const std::string& queued) const { return !queued.empty(); }
  // The first read or write on the stream (a lazy TLS handshake starts here).
  virtual void on_first_use() {}
  // Called once from close(), before waiters are failed.
  virtual void on_close() {}
  // The peer sent end of file. IOStream keeps writing (a half-closed peer
  // still reads); a transport that cannot work without input closes here.
  virtual void on_end_of_input() {}
  // Whether shutdown_write() may send a bare end of file.
  virtual bool allows_shutdown_write() const { return true; }
  // Whether bytes may reach the socket as they are, bypassing encode()
  // (write_file splices files to it then).
  virtual bool sends_as_written() const { return true; }
  // Throws the error a failed read or write reports: StreamClosedError, or
  // a subclass that says more (SSLError with OpenSSL's reason).
  [[noreturn]] virtual void raise_closed(int error) const;

  // For transports: make `bytes` readable; keep receiving even with no
  // read pending while set (a handshake in progress); prepare a send in
  // this turn; ask for on_first_use() at the first read or write.
  void append_readable(std::string_view bytes) { buffer_.append(bytes); }
  void set_needs_input(bool value);
  void schedule_flush();
  void expect_first_use() noexcept { first_use_pending_ = true; }
  IOLoop& loop() const noexcept { return loop_; }

 private:
  class Receiver final : public Completion {
   public:
    explicit Receiver(IOStream* stream) noexcept : stream_(stream) {}
    void complete(int result, unsigned flags) override { stream_->on_receive(result, flags); }

   private:
    IOStream* stream_;
  };
  class Sender final : public Completion {
   public:
    explicit Sender(IOStream* stream) noexcept : stream_(stream) {}
    void complete(int result, unsigned flags) override { stream_->on_sent(result, flags); }

   private:
    IOStream* stream_;
  };
  class Flusher final : public PreSubmitHook {
   public:
    explicit Flusher(IOStream* stream) noexcept : stream_(stream) {}
    ~Flusher() = default;
    void run() override { stream_->flush(); }

   private:
    IOStream* stream_;
  };

  void start_read(ReadAwaiter* request);
  bool try_complete(ReadAwaiter* request);
  bool try_complete_until(ReadAwaiter* request);
  std::string_view unread() const noexcept { return std::string_view(buffer_).substr(buffer_pos_); }
  void consume(std::size_t n) noexcept;
  void give_back(std::string_view data);
  void finish_read(ReadAwaiter* request, bool resume_now);
  void fail_unsatisfiable(ReadAwaiter* request, const char* why);

  void update_receiving();
  void arm_receive();
  void on_receive(int result, unsigned flags);
  void flush();
  void send_pending();
  void on_sent(int result, unsigned flags);
  void wake_writers();
  void release_socket_if_idle() noexcept;
  void notice_first_use() {
    if (first_use_pending_) {
      first_use_pending_ = false;
      on_first_use();
    }
  }
  void take_back_receive(bool keep_data);
  WriteAwaiter write_taking(std::string& data);
  void admit_write(std::size_t size);
  WriteAwaiter note_queued(std::size_t size);
  bool socket_is_nonblocking() const noexcept;
  Task<void> read_file_into_queue(File& file, std::uint64_t offset, std::uint64_t length);
  Task<void> splice_file(File& file, std::uint64_t offset, std::uint64_t length, PipePool::Pipe pipe);
  Task<void> splice_out(int pipe_fd, std::size_t bytes, bool more);

  IOLoop& loop_;
  Socket socket_;
  Options options_;
  // The stream's life. kOpen -> kInputEnded (the peer's end of file: reads
  // the buffer cannot satisfy fail, writes go on) -> kClosed; or kOpen ->
  // kClosed. Only close() and take_socket() enter kClosed.
  enum class State : unsigned char { kOpen, kInputEnded, kClosed };
  State state_ = State::kOpen;
  int error_ = 0;
  bool first_use_pending_ = false;
  bool needs_input_ = false;
  bool flush_held_ = false;
  // splice_file's requests on the socket in flight (it stays open for them)
  // or a splice in progress (writes queue behind it).
  unsigned splices_in_flight_ = 0;
  bool splicing_ = false;
  UniqueFunction close_callback_;
  CloseObserver* close_observer_ = nullptr;
  TimeoutHandle close_deadline_;

  // Reading.
  Receiver receiver_{this};
  // The multishot recv: not in the kernel; armed; or armed with a cancel
  // on its way (paused by backpressure, or closing), which ends it with a
  // final CQE (kIdle again).
  enum class Receive : unsigned char { kIdle, kArmed, kStopping };
  Receive receive_ = Receive::kIdle;
  std::string buffer_;
  std::size_t buffer_pos_ = 0;
  std::size_t scanned_ = 0;  // bytes of unread() already searched by read_until
  ReadAwaiter* pending_read_ = nullptr;
  RingRequest receive_request_{receiver_};  // the multishot recv (ring buffers, not ours)

  // Writing: `sending_` is in the kernel's hands, `queued_` collects writes.
  // Counters are in written (not wire) bytes: `sending_target_` is what
  // flushed_ becomes once all of sending_ has left.
  Sender sender_{this};
  Flusher flusher_{this};
  std::string sending_;
  std::size_t sending_pos_ = 0;
  std::uint64_t sending_target_ = 0;
  std::string queued_;
  std::uint64_t queued_total_ = 0;
  std::uint64_t flushed_ = 0;
  IntrusiveList<WriteAwaiter> writers_;  // waiting for flushed_ to reach their target
  RingRequest send_request_{sender_};    // points into sending_: declared after it
};

}  // namespace whirl
