#include "http/websocket_protocol.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/log.h"

namespace whirl {

namespace {

// A buffer that held a big message is given back rather than kept for the
// connection's life: an idle connection should cost what an idle one costs.
constexpr std::size_t kKeptCapacity = 64 * 1024;

void shrink(std::string& buffer) {
  buffer.clear();
  if (buffer.capacity() > kKeptCapacity) std::string().swap(buffer);
}

MaskKey random_mask_key() noexcept {
  // RFC 6455 §5.3: unpredictable, from a strong source. arc4random (glibc
  // 2.36) is a ChaCha20 generator seeded by the kernel, without a system
  // call per frame.
  MaskKey key;
  arc4random_buf(key.data(), key.size());
  return key;
}

}  // namespace

WebSocketProtocol::WebSocketProtocol(IOStream& stream, Delegate& delegate, Settings settings)
    : stream_(stream), delegate_(delegate), settings_(std::move(settings)) {
  try {
    stream_.set_nodelay(true);  // see websocket.h: a turn's writes leave in one send already
  } catch (const std::exception&) {
    // A socket the peer already reset: the first read will say so.
  }
  rules_.expect_masked = !settings_.mask_outgoing;
  rules_.allow_rsv1 = settings_.deflate.has_value();
  if (settings_.deflate) {
    deflate_ = std::make_unique<PerMessageDeflate>(*settings_.deflate, /*is_server=*/!settings_.mask_outgoing,
                                                   settings_.deflate_options);
  }
  if (settings_.options.ping_timeout == Duration::zero()) {
    settings_.options.ping_timeout = std::max<Duration>(3 * settings_.options.ping_interval, std::chrono::seconds(30));
  }
}

WebSocketProtocol::~WebSocketProtocol() = default;

Task<void> WebSocketProtocol::Delegate::on_open() { co_return; }

// run() is the receiver itself, and the dispatcher and the pinger are
// started beside it (Task::start) rather than under a gather: an idle
// connection holds three frames, not six.
Task<void> WebSocketProtocol::run() {
  co_await begin();
  try {
    // One wait for the socket and one for the dispatcher, each in one
    // place: every co_await site keeps its awaiter in this frame for the
    // connection's life (a socket wait's is 208 bytes).
    for (;;) {
      ReceiverStep step = receive_buffered();
      if (step.kind == ReceiverStep::kDone) break;
      if (step.kind == ReceiverStep::kPark) {
        // One message at a time: the next waits, unread, until the
        // dispatcher is done with this one.
        co_await receiver_park_.park(dispatcher_park_.take());
        continue;
      }
      before_receiver_waits();
      co_await stream_.wait_for_bytes(step.bytes);
    }
  } catch (Failure& caught) {
    failure_ = std::move(caught);
  } catch (const StreamClosedError&) {
    // The peer went away, or close() timed out waiting for its answer.
  } catch (const DeflateDataError& error) {
    failure_ = Failure{error.too_big() ? close_code::kMessageTooBig : close_code::kInvalidPayload, error.what()};
  }
  // (What end() needs is in members, not in this frame: it lives as long
  // as the connection.)
  co_await end();
  delegate_.on_closed();
}

// Messages wait, unread, until the delegate's on_open has returned (as
// Tornado's open()); then the helpers start.
Task<void> WebSocketProtocol::begin() {
  try {
    co_await delegate_.on_open();
  } catch (const CancelledError&) {
    throw;
  } catch (const std::exception& error) {
    log::app().error("Uncaught exception in open: {}", error.what());
    close(close_code::kInternalError, "");
  }
  last_pong_ = Clock::now();
  CancellationToken* token = co_await current_token();
  dispatcher_ = dispatch_loop();
  dispatcher_.start(token);
  if (settings_.options.ping_interval > Duration::zero()) {  // no pings, no pinger
    pinger_ = ping_loop();
    pinger_.start(token);
  }
}

// The receiver is done: the connection ends (the close handshake's end, or
// a failure's close frame), and the helpers are joined.
Task<void> WebSocketProtocol::end() {
  stream_.hold_flush(false);  // what is queued (our close answer, a failure's close frame) must leave
  if (failure_) {
    co_await fail(std::move(*failure_));
  } else if (close_received_) {
    co_await end_after_close_handshake();
  }
  stop();
  co_await join_helpers();
}

// Waits for the dispatcher (its on_message may still run) and the pinger
// to end; each wakes the receiver as it does. A helper that failed is
// rethrown (a cancellation), except a write to the stream that had closed.
Task<void> WebSocketProtocol::join_helpers() {
  while (!dispatcher_.done() || (pinger_.valid() && !pinger_.done())) co_await receiver_park_.park({});
  try {
    co_await dispatcher_;
    if (pinger_.valid()) co_await pinger_;
  } catch (const StreamClosedError&) {
  }
}

// Handles what is buffered, as far as it goes, without a coroutine frame
// of its own: a batch of pipelined messages costs no allocation and no
// turn. Says what the receiver waits for next.
WebSocketProtocol::ReceiverStep WebSocketProtocol::receive_buffered() {
  for (;;) {
    switch (reading_) {
      case Reading::kHeader: {
        if (close_received_) return {ReceiverStep::kDone, 0};  // end() lifts the hold: our close answer leaves
        // Echoes to messages that arrived together leave together: hold
        // the flush while more input is already here (as HTTP pipelining
        // does).
        stream_.hold_flush(stream_.buffered() > 0);
        std::optional<FrameHeader> header = buffered_header();
        if (!header) return {ReceiverStep::kRead, stream_.buffered() + 1};
        frame_ = *header;
        reading_ = is_control(frame_.opcode) ? Reading::kControl : Reading::kData;
        break;
      }
      case Reading::kControl: {
        std::size_t size = frame_.header_size + static_cast<std::size_t>(frame_.payload_length);
        if (stream_.buffered() < size) return {ReceiverStep::kRead, size};
        reading_ = Reading::kHeader;
        handle_control_frame(frame_);
        break;
      }
      case Reading::kData:
        if (has_message_) return {ReceiverStep::kPark, 0};
        begin_data_frame(frame_);
        frame_offset_ = 0;
        reading_ = Reading::kPayload;
        break;
      case Reading::kPayload:
        frame_offset_ = take_payload(frame_, frame_offset_);
        if (frame_offset_ < frame_.payload_length) return {ReceiverStep::kRead, stream_.buffered() + 1};
        reading_ = Reading::kHeader;
        if (frame_.fin) finish_message();
        break;
    }
  }
}

// The receiver is about to wait for the peer: what it has is answered now
// (the held flush lifts), and a message it handed over is started.
void WebSocketProtocol::before_receiver_waits() noexcept {
  stream_.hold_flush(false);
  if (has_message_) dispatcher_park_.wake_later();
}

std::optional<FrameHeader> WebSocketProtocol::buffered_header() {
  FrameHeaderResult got = parse_frame_header(stream_.peek_buffer(), rules_);
  if (got.status == FrameHeaderResult::kError) throw Failure{got.close_code, got.error};
  if (got.status == FrameHeaderResult::kIncomplete) return std::nullopt;
  MessageFraming::Verdict verdict = framing_.next(got.header);
  if (verdict.close_code != 0) throw Failure{verdict.close_code, verdict.error};
  return got.header;
}

void WebSocketProtocol::begin_data_frame(const FrameHeader& header) {
  if (header.opcode != Opcode::kContinuation) {
    message_compressed_ = header.rsv1;
    utf8_.reset();
  }
  const std::uint64_t limit = settings_.options.max_message_size;
  // Refused before a byte of it is kept (compressed or not: a compressed
  // message is never longer than what it inflates to, past a few bytes).
  if (header.payload_length > limit || message_.size() + header.payload_length > limit) {
    throw Failure{close_code::kMessageTooBig, "message too big"};
  }
  stream_.consume_buffer(header.header_size);
}

std::uint64_t WebSocketProtocol::take_payload(const FrameHeader& header, std::uint64_t offset) {
  std::string_view piece = stream_.peek_buffer();
  std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), header.payload_length - offset));
  if (take == 0) return offset;
  std::size_t start = message_.size();
  message_.append(piece.data(), take);
  stream_.consume_buffer(take);
  if (header.masked) apply_mask(message_.data() + start, take, header.mask_key, offset);
  // At the first bad byte, not at the message's end: a peer streaming junk
  // is stopped at once.
  const bool check_text = framing_.message_opcode() == Opcode::kText && !message_compressed_;
  if (check_text && !utf8_.feed(std::string_view(message_).substr(start))) {
    throw Failure{close_code::kInvalidPayload, "invalid UTF-8 in a text message"};
  }
  return offset + take;
}

void WebSocketProtocol::finish_message() {
  const bool binary = framing_.message_opcode() == Opcode::kBinary;
  if (message_compressed_) {
    delivering_.clear();
    deflate_->decompress(message_, delivering_, settings_.options.max_message_size);
    shrink(message_);
    if (!binary && !is_valid_utf8(delivering_))
      throw Failure{close_code::kInvalidPayload, "invalid UTF-8 in a text message"};
  } else {
    if (!binary && !utf8_.complete()) throw Failure{close_code::kInvalidPayload, "text message ends mid-character"};
    delivering_.swap(message_);
    message_.clear();
  }
  if (close_sent_) {  // closing: what still arrives is not delivered (§1.4)
    shrink(delivering_);
    return;
  }
  delivering_binary_ = binary;
  has_message_ = true;  // the dispatcher runs when the receiver next stops (before_receiver_waits, or a park)
}

void WebSocketProtocol::handle_control_frame(const FrameHeader& header) {
  std::size_t size = header.header_size + static_cast<std::size_t>(header.payload_length);
  std::string payload(stream_.peek_buffer().substr(header.header_size, header.payload_length));
  stream_.consume_buffer(size);
  if (header.masked) apply_mask(payload.data(), payload.size(), header.mask_key);
  switch (header.opcode) {
    case Opcode::kPing:
      if (!close_sent_) {
        send_frame(Opcode::kPong, payload, false);
        stream_.hold_flush(false);  // a pong is not held back behind a slow on_message
      }
      delegate_.on_ping(payload);
      break;
    case Opcode::kPong:
      last_pong_ = Clock::now();
      delegate_.on_pong(payload);
      break;
    default:
      handle_close_frame(payload);
      break;
  }
}

void WebSocketProtocol::handle_close_frame(std::string_view payload) {
  if (payload.size() == 1) throw Failure{close_code::kProtocolError, "close frame of one byte"};
  std::optional<std::uint16_t> code = close_code_in(payload);
  if (code) {
    if (!is_valid_close_code(*code)) throw Failure{close_code::kProtocolError, "invalid close code"};
    if (!is_valid_utf8(payload.substr(2))) throw Failure{close_code::kInvalidPayload, "close reason is not UTF-8"};
  }
  close_received_ = true;
  close_code_ = code;  // none when the frame carried none (Tornado's None)
  close_reason_ = payload.size() > 2 ? std::string(payload.substr(2)) : std::string();
  // Answered with the same code (Tornado echoes it too); no code, no code.
  if (!close_sent_) send_close(code, {});
}

// After both close frames: the server ends the TCP connection first
// (§7.1.1), so its TIME_WAIT is its own; the client waits for that, with
// close_timeout as the bound.
Task<void> WebSocketProtocol::end_after_close_handshake() {
  if (!settings_.mask_outgoing) {
    co_await flush_quietly();
    stream_.close();
    co_return;
  }
  stream_.set_close_deadline(Clock::now() + settings_.options.close_timeout);
  try {
    for (;;) {
      co_await stream_.wait_for_bytes(stream_.buffered() + 1);
      stream_.consume_buffer(stream_.buffered());  // nothing more is expected
    }
  } catch (const StreamClosedError&) {
  }
  stream_.close();
}

// RFC 6455 §7.1.7: say why, if the close frame can still go, then close.
Task<void> WebSocketProtocol::fail(Failure failure) {
  log::gen().info("WebSocket connection failed: {} ({})", failure.reason, failure.code);
  if (!close_sent_ && !stream_.closed()) {
    send_close(failure.code, failure.reason);
    stream_.set_close_deadline(Clock::now() + settings_.options.close_timeout);
    co_await flush_quietly();
  }
  stream_.close();
}

// Waits until what is queued has left; a stream that closes meanwhile (the
// peer gone, the close deadline) ends the wait just as well.
Task<void> WebSocketProtocol::flush_quietly() {
  try {
    co_await stream_.write({});
  } catch (const StreamClosedError&) {
  }
}

void WebSocketProtocol::stop() noexcept {
  finished_ = true;
  shrink(message_);
  dispatcher_park_.wake_later();
  receiver_park_.wake_later();
  stopped_.notify_all();
}

// ---- delivering ----

Task<void> WebSocketProtocol::dispatch_loop() {
  for (;;) {
    // Parked, it hands control back to the receiver if that waits on it.
    while (!has_message_ && !finished_) co_await dispatcher_park_.park(receiver_park_.take());
    if (!has_message_) break;
    try {
      co_await delegate_.on_message(delivering_, delivering_binary_);
    } catch (const CancelledError&) {
      throw;
    } catch (const WebSocketClosedError&) {
      // It wrote to a connection that had closed: nothing more to say.
    } catch (const std::exception& error) {
      log::app().error("Uncaught exception in on_message: {}", error.what());
      close(close_code::kInternalError, "");
    }
    has_message_ = false;
    shrink(delivering_);
  }
  receiver_park_.wake_later();  // it may be joining us (join_helpers)
}

// ---- pinging ----

Task<void> WebSocketProtocol::ping_loop() {
  const Duration interval = settings_.options.ping_interval;  // > 0: run() starts no pinger otherwise
  while (!finished_) {
    co_await stopped_.wait(interval);
    if (finished_ || close_sent_) break;
    TimePoint now = Clock::now();
    // Pings went out recently and no pong came back for ping_timeout: the
    // peer (or the path to it) is gone.
    if (now - last_ping_ < 2 * interval && now - last_pong_ > settings_.options.ping_timeout) {
      log::gen().info("WebSocket closed: no pong for {} ms",
                      std::chrono::duration_cast<std::chrono::milliseconds>(now - last_pong_).count());
      close(close_code::kGoingAway, "ping timeout");
      break;
    }
    send_frame(Opcode::kPing, {}, false);
    last_ping_ = now;
  }
  receiver_park_.wake_later();  // it may be joining us (join_helpers)
}

// ---- sending ----

IOStream::WriteAwaiter WebSocketProtocol::send_frame(Opcode opcode, std::string_view payload, bool rsv1) {
  FrameOptions options{.fin = true, .rsv1 = rsv1};
  if (settings_.mask_outgoing) {
    // The client masks a copy; the caller's bytes stay as they are.
    options.mask_key = random_mask_key();
    std::string frame;
    frame.reserve(payload.size() + 14);
    append_frame(frame, opcode, payload, options);
    return stream_.write(frame);
  }
  // The server's header and payload go as two writes into the stream's
  // queue (both leave in the turn's one send): the payload is not copied
  // twice. The header fits a short string: no allocation.
  std::string head;
  append_frame_header(head, opcode, payload.size(), options);
  stream_.write(head);
  return stream_.write(payload);
}

WebSocketWrite WebSocketProtocol::write_message(std::string_view message, bool binary) {
  if (closing() || stream_.closed()) throw WebSocketClosedError();
  if (!binary && !is_valid_utf8(message)) throw std::invalid_argument("write_message: text that is not UTF-8");
  // A peer that reads nothing while we keep writing would grow the queue
  // without bound: past the limit it is taken as gone.
  if (stream_.write_buffer_size() > settings_.options.max_write_buffer_size) {
    log::gen().warning("WebSocket closed: the peer is not reading ({} bytes queued)", stream_.write_buffer_size());
    stream_.close();
    throw WebSocketClosedError();
  }
  Opcode opcode = binary ? Opcode::kBinary : Opcode::kText;
  const bool wait = stream_.write_buffer_size() >= WebSocketWrite::kHighWater;
  try {
    if (deflate_ == nullptr) return WebSocketWrite(send_frame(opcode, message, false), wait);
    scratch_.clear();
    deflate_->compress(message, scratch_);
    WebSocketWrite write(send_frame(opcode, scratch_, true), wait);
    shrink(scratch_);
    return write;
  } catch (const StreamClosedError&) {
    throw WebSocketClosedError();
  } catch (const StreamBufferFullError&) {
    stream_.close();
    throw WebSocketClosedError();
  }
}

void WebSocketProtocol::ping(std::string_view data) {
  if (closing() || stream_.closed()) throw WebSocketClosedError();
  if (data.size() > 125) throw std::invalid_argument("ping: data over 125 bytes");
  send_frame(Opcode::kPing, data, false);
}

void WebSocketProtocol::send_close(std::optional<std::uint16_t> code, std::string_view reason) {
  close_sent_ = true;
  if (stream_.closed()) return;
  try {
    send_frame(Opcode::kClose, close_payload(code.value_or(close_code::kNoStatus), reason), false);
  } catch (const StreamClosedError&) {
  }
}

void WebSocketProtocol::close(std::optional<std::uint16_t> code, std::string_view reason) {
  if (close_sent_ || finished_) return;
  send_close(code, reason);
  // The peer has close_timeout to answer; then the stream is closed anyway
  // and the receiver ends.
  stream_.set_close_deadline(Clock::now() + settings_.options.close_timeout);
}

}  // namespace whirl
