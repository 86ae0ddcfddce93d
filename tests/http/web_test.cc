// Application and RequestHandler (web.h) and routing (routing.h): what a
// handler writes, how routes match, compression, and handing the stream over.
#include "whirl/http/web.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "whirl/http/gzip.h"
#include "whirl/http/routing.h"
#include "whirl/testing/http_server_thread.h"

namespace whirl {
namespace {

using testing::body_of;
using testing::RawClient;
using testing::ServerThread;

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }
std::string head_of(const std::string& response) { return response.substr(0, response.find("\r\n\r\n") + 2); }

// ---- routing ----

TEST(PathMatches, LiteralSegmentsMatchOnlyThemselves) {
  PathMatches route("/a/b");
  PathArgs args;
  EXPECT_TRUE(route.match("/a/b", args));
  EXPECT_FALSE(route.match("/a/b/", args));
  EXPECT_FALSE(route.match("/a", args));
  EXPECT_FALSE(route.match("/a/bc", args));
  EXPECT_TRUE(args.empty());
}

TEST(PathMatches, ACaptureTakesOneNonEmptySegmentPercentDecoded) {
  PathMatches route("/users/{name}/posts");
  PathArgs args;
  ASSERT_TRUE(route.match("/users/a%20b+c/posts", args));
  EXPECT_EQ(args.at("name"), "a b+c") << "a path keeps '+'";
  EXPECT_FALSE(route.match("/users//posts", args));
  EXPECT_FALSE(route.match("/users/x/y/posts", args));
}

TEST(PathMatches, ARegexCaptureMustMatchWholeAndTheLastMaySpanSlashes) {
  PathMatches ids("/n/{id:[0-9]+}");
  PathArgs args;
  EXPECT_TRUE(ids.match("/n/42", args));
  EXPECT_EQ(args.at("id"), "42");
  EXPECT_FALSE(ids.match("/n/42x", args));
  PathMatches rest("/static/{path:.*}");
  PathArgs more;
  ASSERT_TRUE(rest.match("/static/css/site.css", more));
  EXPECT_EQ(more.at("path"), "css/site.css");
}

TEST(PathMatches, AFailedMatchAddsNoCaptures) {
  PathMatches route("/{a}/{b:[0-9]+}");
  PathArgs args;
  EXPECT_FALSE(route.match("/x/y", args));
  EXPECT_TRUE(args.empty());
}

TEST(PathMatches, MalformedPatternsThrowWhenCompiled) {
  EXPECT_THROW(PathMatches("no-slash"), std::invalid_argument);
  EXPECT_THROW(PathMatches("/{unclosed"), std::invalid_argument);
  EXPECT_THROW(PathMatches("/{}"), std::invalid_argument);
  EXPECT_THROW(PathMatches("/a{b}"), std::invalid_argument);
  EXPECT_THROW(PathMatches("/{n:[}"), std::exception) << "a bad regex";
}

// ---- methods ----

struct GetOnly : RequestHandler {
  Task<void> get() override { co_return; }
};
struct PostAndOptions : RequestHandler {
  Task<void> post() override { co_return; }
  Task<void> options() override { co_return; }
};
struct OwnHead : RequestHandler {
  Task<void> head() override {
    set_header("X-Head", "own");
    co_return;
  }
};

TEST(Application, MethodsOfSeesWhatAHandlerOverrides) {
  static_assert(Application::methods_of<GetOnly>() == MethodSet{Method::kGet, Method::kHead});
  static_assert(Application::methods_of<PostAndOptions>() == MethodSet{Method::kPost, Method::kOptions});
  static_assert(Application::methods_of<OwnHead>() == MethodSet{Method::kHead});
  EXPECT_TRUE(Application::methods_of<RequestHandler>().empty());
}

// ---- what a handler writes ----

struct JsonHandler : RequestHandler {
  Task<void> get() override {
    write(nlohmann::json{{"id", 7}, {"html", "</script><b>"}, {"ok", true}});
    co_return;
  }
};
struct JsonArrayHandler : RequestHandler {
  Task<void> get() override {
    write(nlohmann::json::array({1, 2}));
    co_return;
  }
};
// Echoes the percent-decoded argument `v`, which may be any bytes at all.
struct JsonEchoHandler : RequestHandler {
  Task<void> get() override {
    write(nlohmann::json{{"v", std::string(get_argument("v", ""))}});
    co_return;
  }
};
struct TextHandler : RequestHandler {
  Task<void> get() override {
    set_header("Content-Type", std::string(get_argument("type", "text/plain")));
    write(std::string(std::stoul(std::string(get_argument("n", "2000"))), 'a'));
    co_return;
  }
};
struct StreamedTextHandler : RequestHandler {
  Task<void> get() override {
    set_header("Content-Type", "text/plain");
    write("first ");
    co_await flush();
    write("second");
  }
};

// After answering 101 itself, echoes what the client sends on the raw
// stream until the client says "bye".
struct UpgradeHandler : RequestHandler {
  Task<void> get() override {
    set_status(101);
    set_header("Upgrade", "echo");
    set_header("Connection", "Upgrade");
    finish();
    IOStream& stream = detach();
    for (;;) {
      std::string line = co_await stream.read_until("\n", 1024);
      co_await stream.write("echo: " + line);
      if (line == "bye\n") break;
    }
  }
};
// After its 101, detaches into a session of its own (a member coroutine)
// that echoes lines until "bye", saying what it sees of the request.
std::atomic<int> sessions_alive{0};
struct SessionHandler : RequestHandler {
  Task<void> get() override {
    set_status(101);
    set_header("Upgrade", "echo");
    set_header("Connection", "Upgrade");
    finish();
    stream_ = &detach();
    detach(session());
    get_returned_ = true;
    co_return;
  }
  Task<void> session() {
    ++sessions_alive;
    std::string seen = fmt::format("get returned: {}, connection: {}, path: {}\n", get_returned_,
                                   request().connection == nullptr ? "gone" : "still there", request().path);
    co_await stream_->write(seen);
    for (;;) {
      std::string line = co_await stream_->read_until("\n", 1024);
      co_await stream_->write("session: " + line);
      if (line == "bye\n") break;
    }
    --sessions_alive;
  }
  IOStream* stream_ = nullptr;
  bool get_returned_ = false;
};
// Detaches before writing anything and speaks its own bytes.
struct RawHandler : RequestHandler {
  Task<void> get() override {
    IOStream& stream = detach();
    co_await stream.write("raw bytes, no HTTP");
  }
};
// Tries to detach in the middle of a response.
struct HalfWrittenHandler : RequestHandler {
  Task<void> get() override {
    write("part");
    co_await flush();
    detach();  // throws: the answer is half sent
  }
};

struct WebApp {
  WebApp() {
    app.add_handler<JsonHandler>("/json");
    app.add_handler<JsonArrayHandler>("/json-array");
    app.add_handler<JsonEchoHandler>("/json-echo");
    app.add_handler<TextHandler>("/text");
    app.add_handler<StreamedTextHandler>("/streamed");
    app.add_handler<OwnHead>("/own-head");
    app.add_handler<GetOnly>("/get-only");
    app.add_handler<UpgradeHandler>("/upgrade");
    app.add_handler<RawHandler>("/raw");
    app.add_handler<SessionHandler>("/session");
    app.add_handler<HalfWrittenHandler>("/half");
  }
  Application app{{.compress_response = true, .access_log = false}};
};

TEST(RequestHandler, WritingAJsonObjectSerializesItEscapingScriptEnds) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("GET /json HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string response = client.read_response();
  EXPECT_EQ(status_line(response), "HTTP/1.1 200 OK");
  EXPECT_NE(head_of(response).find("Content-Type: application/json; charset=UTF-8\r\n"), std::string::npos);
  std::string body = body_of(response);
  EXPECT_EQ(body.find("</"), std::string::npos) << body;
  nlohmann::json parsed = nlohmann::json::parse(body);
  EXPECT_EQ(parsed["id"], 7);
  EXPECT_EQ(parsed["html"], "</script><b>") << "the escape is JSON's own: it decodes back";
  EXPECT_EQ(parsed["ok"], true);
}

TEST(RequestHandler, BytesThatAreNotUtf8BecomeReplacementCharactersInJson) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("GET /json-echo?v=a%FFb HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string response = client.read_response();
  ASSERT_EQ(status_line(response), "HTTP/1.1 200 OK") << "a client's stray byte is not a server error";
  EXPECT_EQ(nlohmann::json::parse(body_of(response))["v"],
            "a\xEF\xBF\xBD"
            "b")
      << "U+FFFD stands for the 0xFF";
}

TEST(RequestHandler, WritingATopLevelJsonArrayIsRefused) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("GET /json-array HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_line(client.read_response()), "HTTP/1.1 500 Internal Server Error");
}

TEST(RequestHandler, HeadWithoutItsOwnMethodRunsGetAndAHandlerWithNeitherIs405) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("HEAD /get-only HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_line(client.read_response()), "HTTP/1.1 200 OK");
  client.send("HEAD /own-head HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string own = client.read_response();
  EXPECT_NE(own.find("X-Head: own\r\n"), std::string::npos);
  client.send("GET /own-head HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string refused = client.read_response();
  EXPECT_EQ(status_line(refused), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(refused.find("Allow: HEAD\r\n"), std::string::npos);
}

// ---- compression (Tornado's GZipContentEncoding) ----

TEST(RequestHandler, ALargeTextBodyIsGzippedForAClientThatAcceptsIt) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("GET /text?n=5000 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, gzip\r\n\r\n");
  std::string response = client.read_response();
  std::string head = head_of(response);
  EXPECT_NE(head.find("Content-Encoding: gzip\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Vary: Accept-Encoding\r\n"), std::string::npos) << head;
  std::string body = body_of(response);
  EXPECT_LT(body.size(), 5000U);
  EXPECT_EQ(gzip_decompress(body, 1 << 20), std::string(5000, 'a'));
}

TEST(RequestHandler, SmallBodiesOtherTypesAndRefusingClientsGetNoGzip) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  const char* requests[] = {
      "GET /text?n=100 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",                  // under 1 KiB
      "GET /text?n=5000&type=image/png HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",  // not text
      "GET /text?n=5000 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0\r\n\r\n",             // refused
      "GET /text?n=5000 HTTP/1.1\r\nHost: x\r\n\r\n",                                          // not offered
  };
  for (const char* request : requests) {
    client.send(request);
    std::string response = client.read_response();
    EXPECT_EQ(head_of(response).find("Content-Encoding"), std::string::npos) << request;
    EXPECT_EQ(body_of(response).find_first_not_of('a'), std::string::npos) << request;
  }
}

TEST(RequestHandler, AFlushedResponseIsGzippedAsOneStream) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("GET /streamed HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
  std::string response = client.read_response();
  EXPECT_NE(head_of(response).find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(head_of(response).find("Content-Encoding: gzip\r\n"), std::string::npos);
  EXPECT_EQ(gzip_decompress(body_of(response), 1 << 20), "first second");
}

// ---- detach ----

TEST(RequestHandler, DetachAfterA101HandsTheRawStreamToTheHandler) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  // The first line of the new protocol rides in the same packet as the request.
  client.send("GET /upgrade HTTP/1.1\r\nHost: x\r\n\r\nhello\n");
  std::string response = client.read_response();
  EXPECT_EQ(status_line(response), "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(response.find("Content-Length"), std::string::npos);
  EXPECT_EQ(response.find("Transfer-Encoding"), std::string::npos);
  client.send("GET / HTTP/1.1\r\n");  // not a request any more: just a line
  client.send("bye\n");
  EXPECT_EQ(client.read_until_close(), "echo: hello\necho: GET / HTTP/1.1\r\necho: bye\n")
      << "no HTTP framing after the detach, and the connection ends with the handler";
}

TEST(RequestHandler, DetachIntoASessionRunsItAfterTheRequestEndedWithTheHandlerAlive) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("GET /session HTTP/1.1\r\nHost: x\r\n\r\nhello\n");
  std::string response = client.read_response();
  EXPECT_EQ(status_line(response), "HTTP/1.1 101 Switching Protocols");
  client.send("GET / HTTP/1.1\r\n");
  client.send("bye\n");
  EXPECT_EQ(client.read_until_close(),
            "get returned: true, connection: gone, path: /session\n"
            "session: hello\nsession: GET / HTTP/1.1\r\nsession: bye\n")
      << "the session runs once get() has returned, with its handler and request, and the connection ends with it";
  EXPECT_EQ(sessions_alive, 0);
}

TEST(RequestHandler, ClosingAllConnectionsEndsADetachedSession) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("GET /session HTTP/1.1\r\nHost: x\r\n\r\nhello\n");
  client.read_response();
  for (int i = 0; i < 2000 && sessions_alive == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(sessions_alive, 1);
  std::atomic<int> http_connections{-1};
  server.loop().add_callback([&] {
    http_connections = static_cast<int>(server.server().http_connections());
    server.loop().spawn(
        [](HTTPServer* http) -> Task<void> { co_await http->close_all_connections(); }(&server.server()));
  });
  std::string rest = client.read_until_close();
  EXPECT_TRUE(client.closed_by_server()) << rest;
  EXPECT_EQ(http_connections, 0) << "no HTTP connection is left: the session is on its own";
}

TEST(RequestHandler, DetachBeforeAnyResponseLeavesTheWholeWireToTheHandler) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("GET /raw HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(client.read_until_close(), "raw bytes, no HTTP");
}

TEST(RequestHandler, DetachInTheMiddleOfAResponseIsRefusedAndTheResponseCutShort) {
  WebApp web;
  ServerThread server(web.app);
  RawClient client(server.port());
  client.send("GET /half HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string all = client.read_until_close();
  EXPECT_EQ(status_line(all), "HTTP/1.1 200 OK");
  EXPECT_EQ(all.find("0\r\n\r\n"), std::string::npos) << "the chunked body must not look complete: " << all;
}

// A raw delegate that takes the stream in headers_received (a tunnel,
// tunnel) and speaks in finish(): finish() still comes, on a live stream.
class DetachingEarly final : public HTTPServerConnectionDelegate {
 public:
  std::unique_ptr<HTTPMessageDelegate> start_request(HTTPConnection& connection) override {
    struct Tunnel final : HTTPMessageDelegate {
      explicit Tunnel(HTTPConnection& c) : connection(c) {}
      Task<void> headers_received(const RequestStartLine&, const HTTPHeaders&) override {
        stream = &connection.detach();
        co_return;
      }
      Task<void> data_received(std::string_view) override { co_return; }
      Task<void> finish() override {
        std::string line = co_await stream->read_until("\n", 1024);
        co_await stream->write("tunnel: " + line);
      }
      HTTPConnection& connection;
      IOStream* stream = nullptr;
    };
    return std::make_unique<Tunnel>(connection);
  }
};

TEST(HTTPConnection, ADetachInHeadersReceivedStillGetsFinishOnALiveStream) {
  DetachingEarly tunnel;
  ServerThread server(tunnel);
  RawClient client(server.port());
  client.send("GET /tunnel HTTP/1.1\r\nHost: x\r\n\r\nping\n");
  EXPECT_EQ(client.read_until_close(), "tunnel: ping\n");
}

}  // namespace
}  // namespace whirl
