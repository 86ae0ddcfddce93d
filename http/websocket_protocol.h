// whirl/http/websocket_protocol.h: one WebSocket connection's protocol
// (Tornado's WebSocketProtocol13), the part the server's WebSocketHandler
// and the client's WebSocketClientConnection share. Private to //http:websocket.
//
//     WebSocketProtocol protocol(stream, delegate, {.mask_outgoing = false, ...});
//     co_await protocol.run();   // until the connection is closed
//
// run() is the receiver, with the dispatcher (and the pinger) started
// beside it (Task::start) and joined when it ends:
// - the receiver reads frames. Control frames are handled as they come
//   (a ping answered, a close answered and the connection ended); a data
//   message is assembled, checked (UTF-8 incrementally for text, the size
//   limit before any of its bytes are kept) and handed to the dispatcher.
//   While the dispatcher has a message, the receiver stops at the next
//   data frame, so a peer cannot make the server hold more than one
//   message, but pings that come before it are still answered. The two
//   hand control to each other directly (websocket_handoff.h): a batch of
//   pipelined messages is handled in one loop turn.
// - the dispatcher awaits delegate.on_message for each message in turn:
//   the next one waits until it returns (Tornado's flow control).
// - the pinger, with a ping_interval, pings and closes a connection whose
//   pongs stopped for ping_timeout.
//
// Failing the connection (RFC 6455 §7.1.7): a protocol error sends a close
// frame with its code, waits for it to leave (at most close_timeout) and
// closes the stream. close() sends a close frame and waits close_timeout
// for the peer's answer, then closes anyway. The server closes the TCP
// connection once the close handshake is done; the client waits for that.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/websocket_handoff.h"
#include "whirl/http/utf8_validator.h"
#include "whirl/http/websocket.h"
#include "whirl/http/websocket_deflate.h"
#include "whirl/http/websocket_frame.h"
#include "whirl/net/iostream.h"
#include "whirl/runtime/locks.h"
#include "whirl/runtime/task.h"

namespace whirl {

class WebSocketProtocol {
 public:
  // What the protocol tells its owner.
  class Delegate {
   public:
    // Before the first message is read (the handler's open()).
    virtual Task<void> on_open();
    virtual Task<void> on_message(std::string_view message, bool binary) = 0;
    virtual void on_ping(std::string_view /*data*/) {}
    virtual void on_pong(std::string_view /*data*/) {}
    // Once, as run() ends.
    virtual void on_closed() {}

   protected:
    ~Delegate() = default;
  };

  struct Settings {
    bool mask_outgoing = false;  // the client's side
    WebSocketOptions options;
    std::optional<DeflateAgreement> deflate;  // negotiated in the handshake
    DeflateOptions deflate_options;
  };

  WebSocketProtocol(IOStream& stream, Delegate& delegate, Settings settings);
  ~WebSocketProtocol();
  WebSocketProtocol(const WebSocketProtocol&) = delete;
  WebSocketProtocol& operator=(const WebSocketProtocol&) = delete;

  Task<void> run();

  WebSocketWrite write_message(std::string_view message, bool binary);
  void ping(std::string_view data);
  void close(std::optional<std::uint16_t> code, std::string_view reason);

  // Closing or closed: no more messages may be written.
  bool closing() const noexcept { return close_sent_ || finished_; }
  bool finished() const noexcept { return finished_; }
  std::optional<std::uint16_t> close_code() const noexcept { return close_code_; }
  const std::string& close_reason() const noexcept { return close_reason_; }

 private:
  struct Failure {
    std::uint16_t code;
    std::string reason;
  };

  // What the receiver waits for, having handled what is buffered.
  struct ReceiverStep {
    enum Kind : unsigned char { kRead, kPark, kDone } kind;
    std::size_t bytes;  // kRead: until this many are buffered
  };
  // Where the receiver is in the frame it reads.
  enum class Reading : unsigned char {
    kHeader,   // waiting for a frame header
    kControl,  // a control frame's header read (and checked): the rest of it
    kData,     // a data frame's header read: waiting for the dispatcher to be free
    kPayload,  // a data frame's payload, from frame_offset_
  };

  Task<void> begin();
  ReceiverStep receive_buffered();
  Task<void> end();
  Task<void> join_helpers();
  Task<void> dispatch_loop();
  Task<void> ping_loop();
  std::optional<FrameHeader> buffered_header();
  void begin_data_frame(const FrameHeader& header);
  std::uint64_t take_payload(const FrameHeader& header, std::uint64_t offset);
  void handle_control_frame(const FrameHeader& header);
  void finish_message();
  void handle_close_frame(std::string_view payload);
  Task<void> fail(Failure failure);
  Task<void> end_after_close_handshake();
  Task<void> flush_quietly();
  IOStream::WriteAwaiter send_frame(Opcode opcode, std::string_view payload, bool rsv1);
  void send_close(std::optional<std::uint16_t> code, std::string_view reason);
  void stop() noexcept;
  void before_receiver_waits() noexcept;

  IOStream& stream_;
  Delegate& delegate_;
  Settings settings_;
  std::unique_ptr<PerMessageDeflate> deflate_;
  FrameRules rules_;
  MessageFraming framing_;

  // The frame and the message being received.
  Reading reading_ = Reading::kHeader;
  FrameHeader frame_{};
  std::uint64_t frame_offset_ = 0;
  std::string message_;
  bool message_compressed_ = false;
  Utf8Validator utf8_;
  // The message with the dispatcher.
  std::string delivering_;
  bool delivering_binary_ = false;
  bool has_message_ = false;
  Parking dispatcher_park_;  // the dispatcher, waiting for a message
  Parking receiver_park_;    // the receiver, waiting for the dispatcher (a message, or its end)
  Condition stopped_;        // wakes the pinger at the end
  Task<void> dispatcher_;    // started by run(), beside the receiver
  Task<void> pinger_;        // with a ping_interval only

  std::optional<Failure> failure_;  // why the receiver failed the connection
  std::string scratch_;             // a frame being built (masked or compressed)
  bool close_sent_ = false;
  bool close_received_ = false;
  bool finished_ = false;
  std::optional<std::uint16_t> close_code_;
  std::string close_reason_;
  TimePoint last_ping_{};
  TimePoint last_pong_{};
};

}  // namespace whirl
