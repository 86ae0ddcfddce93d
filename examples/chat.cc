// Tornado's chat demo on whirl: a page at / whose script connects to
// /chatsocket; every message is broadcast to everyone connected, and the
// last 100 are replayed to a newcomer.
//
//     ./bazelw run //examples:chat -- --port 8888      # then open http://127.0.0.1:8888/
//
// The wire format is Tornado's demo's: the page sends {"body": "..."} and
// receives {"id": "...", "body": "..."}. A client that stops reading is
// dropped by its own socket's write bound, not waited for: a broadcast
// never awaits one reader before writing to the next.
#include <fmt/core.h>

#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "examples/server_flags.h"
#include "whirl/http/httpserver.h"
#include "whirl/http/web.h"
#include "whirl/http/websocket.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/log.h"

using namespace std::chrono_literals;
using whirl::Task;

namespace {

constexpr std::size_t kCacheSize = 100;

constexpr std::string_view kPage = R"html(<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>whirl chat</title>
<style>
  body { font-family: sans-serif; margin: 2em; }
  #inbox .message { padding: 0.2em 0; border-bottom: 1px solid #eee; }
  #status { color: #888; }
</style>
</head>
<body>
<div id="status">connecting</div>
<div id="inbox"></div>
<form id="messageform">
  <input id="message" name="body" autocomplete="off" size="60">
  <input id="send" type="submit" value="Post">
</form>
<script>
const inbox = document.getElementById("inbox");
const status = document.getElementById("status");
const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/chatsocket");
socket.onopen = () => { status.textContent = "connected"; };
socket.onclose = (event) => { status.textContent = "closed " + event.code; };
socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  const line = document.createElement("div");
  line.className = "message";
  line.id = "m" + message.id;
  line.textContent = message.body;
  inbox.appendChild(line);
};
document.getElementById("messageform").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("message");
  if (input.value !== "") socket.send(JSON.stringify({body: input.value}));
  input.value = "";
  input.focus();
});
</script>
</body>
</html>
)html";

// The room: who is connected, and what was said last.
class ChatRoom {
 public:
  void join(whirl::WebSocketHandler* socket) { members_.insert(socket); }
  void leave(whirl::WebSocketHandler* socket) { members_.erase(socket); }
  const std::deque<std::string>& history() const noexcept { return history_; }

  void say(std::string_view body) {
    std::string message = nlohmann::json{{"id", std::to_string(++last_id_)}, {"body", body}}.dump();
    history_.push_back(message);
    if (history_.size() > kCacheSize) history_.pop_front();
    whirl::log::app().info("sending message to {} waiters", members_.size());
    for (whirl::WebSocketHandler* member : members_) {
      try {
        member->write_message(message);  // queued at once; not awaited
      } catch (const whirl::WebSocketClosedError&) {
        // Closing: it leaves the room in its on_close.
      }
    }
  }

 private:
  std::set<whirl::WebSocketHandler*> members_;
  std::deque<std::string> history_;
  std::uint64_t last_id_ = 0;
};

ChatRoom& room() {
  static ChatRoom the_room;  // one loop, one thread: no lock
  return the_room;
}

class MainHandler : public whirl::RequestHandler {
 public:
  Task<void> get() override {
    write(kPage);
    co_return;
  }
};

class ChatSocketHandler : public whirl::WebSocketHandler {
 public:
  std::optional<whirl::DeflateOptions> get_compression_options() override { return whirl::DeflateOptions{}; }
  Task<void> open() override {
    for (const std::string& message : room().history()) write_message(message);
    room().join(this);
    co_return;
  }
  void on_close() override { room().leave(this); }
  Task<void> on_message(std::string_view message, bool binary) override {
    if (binary) co_return;
    nlohmann::json parsed = nlohmann::json::parse(message, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("body") || !parsed["body"].is_string()) {
      whirl::log::app().warning("chat: ignoring a message that is not {{\"body\": \"...\"}}");
      co_return;
    }
    room().say(parsed["body"].get<std::string>());
  }
};

Task<void> drain(whirl::HTTPServer* server) {
  server->stop();
  try {
    co_await whirl::with_timeout(2s, server->close_all_connections());
  } catch (const whirl::TimeoutError&) {
  }
  whirl::IOLoop::current().stop();
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = examples::ServerFlags::parse(
      argc, argv, "chat", "",
      [](const examples::ServerFlags&, std::string_view, const std::function<const char*()>&) { return false; });
  whirl::Application app;
  app.add_handler<MainHandler>("/");
  app.add_handler<ChatSocketHandler>("/chatsocket");
  whirl::HTTPServer server(app);
  flags.bind_or_exit([&] { server.bind(flags.port, flags.address); });
  fmt::print("chat: serving http://{}:{}/\n", flags.address.empty() ? "127.0.0.1" : flags.address,
             server.addresses().front().port());
  std::fflush(stdout);
  server.start(1);
  whirl::IOLoop& loop = whirl::IOLoop::current();
  examples::run_until_drained(loop, [&] { return drain(&server); });
  return 0;
}
