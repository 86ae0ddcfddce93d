// AsyncHTTPClient (httpclient.h) against whirl's own server and against
// scripted servers that misbehave on purpose: fetching, the keep-alive
// pool, redirects, timeouts, bodies in both directions, TLS, and every
// parser rule ending in a clear error and a dropped connection.
#include "whirl/http/httpclient.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "whirl/http/gzip.h"
#include "whirl/http/url.h"
#include "whirl/http/web.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/testing/certificates.h"
#include "whirl/testing/http_server_thread.h"
#include "whirl/testing/scripted_server.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using testing::ScriptedServer;
using testing::ServerThread;

// ---- URL ----

TEST(URL, ParseSplitsSchemeHostPortAndTarget) {
  URL url = URL::parse("HTTPS://User:pw@Example.COM:8443/a/b?x=1#frag");
  EXPECT_EQ(url.scheme, "https");
  EXPECT_EQ(url.userinfo, "User:pw");
  EXPECT_EQ(url.host, "example.com");
  EXPECT_EQ(url.port, 8443);
  EXPECT_EQ(url.authority, "example.com:8443");
  EXPECT_EQ(url.target, "/a/b?x=1");
  EXPECT_TRUE(url.secure());
  EXPECT_EQ(URL::parse("http://h").target, "/");
  EXPECT_EQ(URL::parse("http://h?q").target, "/?q");
  EXPECT_EQ(URL::parse("http://h").port, 80);
  URL v6 = URL::parse("http://[::1]:9/x");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 9);
  EXPECT_EQ(v6.authority, "[::1]:9");
}

TEST(URL, ParseRefusesWhatCouldSplitARequest) {
  for (std::string_view bad : {"http://h/a b", "http://h/\r\nX: y", "ftp://h/", "h/path", "http:///x", "http://h:0/",
                               "http://h:99999/", "http://h:8x/", "http://[::1/"}) {
    EXPECT_THROW(URL::parse(bad), std::invalid_argument) << bad;
  }
}

TEST(URL, ResolveFollowsRfc3986) {
  // RFC 3986 5.4's examples, base http://a/b/c/d;p?q.
  const std::string base = "http://a/b/c/d;p?q";
  EXPECT_EQ(resolve_url(base, "g"), "http://a/b/c/g");
  EXPECT_EQ(resolve_url(base, "./g"), "http://a/b/c/g");
  EXPECT_EQ(resolve_url(base, "g/"), "http://a/b/c/g/");
  EXPECT_EQ(resolve_url(base, "/g"), "http://a/g");
  EXPECT_EQ(resolve_url(base, "//g"), "http://g");
  EXPECT_EQ(resolve_url(base, "?y"), "http://a/b/c/d;p?y");
  EXPECT_EQ(resolve_url(base, "g?y"), "http://a/b/c/g?y");
  EXPECT_EQ(resolve_url(base, "g#s"), "http://a/b/c/g");
  EXPECT_EQ(resolve_url(base, ".."), "http://a/b/");
  EXPECT_EQ(resolve_url(base, "../g"), "http://a/b/g");
  EXPECT_EQ(resolve_url(base, "../.."), "http://a/");
  EXPECT_EQ(resolve_url(base, "../../../g"), "http://a/g");
  EXPECT_EQ(resolve_url(base, "https://other/x"), "https://other/x");
  EXPECT_EQ(resolve_url(base, "//g/x/../y"), "http://g/y");
  EXPECT_EQ(resolve_url("http://u:p@h/a/b", "c"), "http://u:p@h/a/c") << "userinfo stays within its authority";
}

// ---- helpers ----

HTTPResponse fetch(AsyncHTTPClient& client, HTTPRequest request, FetchOptions options = {}) {
  return IOLoop::current().run_sync(client.fetch(std::move(request), options));
}
HTTPResponse fetch(AsyncHTTPClient& client, const std::string& url) {
  HTTPRequest request{.url = url};
  return fetch(client, std::move(request));
}

// What a fetch threw, by kind.
struct Failure {
  std::string kind;  // none, timeout, closed, client, invalid, other
  int code = 0;
  std::string message;
};
Failure failure_of(AsyncHTTPClient& client, HTTPRequest request, FetchOptions options = {}) {
  try {
    fetch(client, std::move(request), options);
  } catch (const HTTPTimeoutError& e) {
    return {"timeout", e.code(), e.what()};
  } catch (const HTTPStreamClosedError& e) {
    return {"closed", e.code(), e.what()};
  } catch (const HTTPClientError& e) {
    return {"client", e.code(), e.what()};
  } catch (const std::invalid_argument& e) {
    return {"invalid", 0, e.what()};
  } catch (const std::exception& e) {
    return {"other", 0, e.what()};
  }
  return {"none", 0, ""};
}
Failure failure_of(AsyncHTTPClient& client, const std::string& url) {
  HTTPRequest request{.url = url};
  return failure_of(client, std::move(request));
}

std::string pattern(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return out;
}

// ---- whirl's own server ----

struct HelloHandler : RequestHandler {
  Task<void> get() override {
    write("Hello");
    co_return;
  }
};
// Says what it received: method, body, and the headers a client sets.
struct EchoHandler : RequestHandler {
  Task<void> get() override { return echo(); }
  Task<void> post() override { return echo(); }
  Task<void> put() override { return echo(); }
  Task<void> echo() {
    const HTTPHeaders& headers = request().headers;
    write(fmt::format("{} {} [{}] auth={} ua={} ae={} cookie={}", request().method, request().uri, request().body,
                      headers.get("Authorization"), headers.get("User-Agent"), headers.get("Accept-Encoding"),
                      headers.get("Cookie")));
    co_return;
  }
};
struct SlowHandler : RequestHandler {
  Task<void> get() override {
    std::chrono::milliseconds delay(std::stoi(std::string(get_argument("ms", "100"))));
    co_await sleep(delay);
    write("slow");
  }
};
std::atomic<int> in_flight{0};
std::atomic<int> most_in_flight{0};
struct CountingHandler : RequestHandler {
  Task<void> get() override {
    int now = ++in_flight;
    int seen = most_in_flight.load();
    while (now > seen && !most_in_flight.compare_exchange_weak(seen, now)) {
    }
    co_await sleep(300ms);
    --in_flight;
    write("counted");
  }
};
struct RedirectHandler : RequestHandler {
  Task<void> get() override { return go(); }
  Task<void> post() override { return go(); }
  Task<void> put() override { return go(); }
  Task<void> go() {
    set_status(std::stoi(std::string(get_argument("code", "302"))));
    set_header("Location", std::string(get_argument("to", "/hello")));
    finish();
    co_return;
  }
};
// /loop redirects to itself for ever.
struct LoopHandler : RequestHandler {
  Task<void> get() override {
    redirect("/loop");
    co_return;
  }
};
struct BigHandler : RequestHandler {
  Task<void> get() override {
    set_header("Content-Type", std::string(get_argument("type", "application/octet-stream")));
    write(pattern(std::stoul(std::string(get_argument("n", "1000")))));
    co_return;
  }
  Task<void> post() override {
    write(fmt::format("{} {}", request().body.size(), request().body == pattern(request().body.size())));
    co_return;
  }
};
struct StreamHandler : RequestHandler {
  Task<void> get() override {
    for (int i = 0; i < 5; ++i) {
      write(fmt::format("piece{};", i));
      co_await flush();
    }
  }
};
struct StatusHandler : RequestHandler {
  Task<void> get() override {
    int code = std::stoi(std::string(get_argument("code", "404")));
    set_status(code);
    if (code != 204 && code != 304) write("nope");
    co_return;
  }
};

struct ClientTestApp {
  Application app{{.compress_response = true, .access_log = false}};
  ClientTestApp() {
    app.add_handler<HelloHandler>("/hello");
    app.add_handler<EchoHandler>("/echo");
    app.add_handler<SlowHandler>("/slow");
    app.add_handler<CountingHandler>("/count");
    app.add_handler<RedirectHandler>("/redirect");
    app.add_handler<LoopHandler>("/loop");
    app.add_handler<BigHandler>("/big");
    app.add_handler<StreamHandler>("/stream");
    app.add_handler<StatusHandler>("/status");
  }
};

class WhirlServer : public ::testing::Test {
 protected:
  std::string url(std::string_view path) const { return fmt::format("http://127.0.0.1:{}{}", server.port(), path); }

  ClientTestApp web;
  ServerThread server{web.app};
  IOLoop loop;
  AsyncHTTPClient client;
};

TEST_F(WhirlServer, AGetReturnsCodeHeadersAndBody) {
  HTTPResponse response = fetch(client, url("/hello"));
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.reason, "OK");
  EXPECT_EQ(response.body, "Hello");
  EXPECT_EQ(response.headers.get("Content-Length"), "5");
  EXPECT_EQ(response.effective_url, url("/hello"));
  EXPECT_EQ(response.request.url, url("/hello"));
  EXPECT_GT(response.request_time.count(), 0);
}

TEST_F(WhirlServer, SequentialFetchesShareOneConnection) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(fetch(client, url("/hello")).body, "Hello");
  AsyncHTTPClient::Stats stats = client.stats();
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(stats.connections_reused, 4u);
  EXPECT_EQ(stats.idle_connections, 1u);
}

TEST_F(WhirlServer, ConcurrentFetchesAreBoundedByMaxClients) {
  AsyncHTTPClient bounded({.max_clients = 3});
  in_flight = 0;
  most_in_flight = 0;
  // Started together (spawned), then collected.
  auto run = [&]() -> Task<std::vector<std::string>> {
    std::vector<HTTPResponse> responses(8);
    std::vector<SpawnHandle> handles;
    int done = 0;
    for (int i = 0; i < 8; ++i) {
      handles.push_back(IOLoop::current().spawn(
          [](AsyncHTTPClient& c, std::string u, HTTPResponse& out, int& finished) -> Task<void> {
            out = co_await c.fetch(std::move(u));
            ++finished;
          }(bounded, url("/count"), responses[static_cast<std::size_t>(i)], done)));
    }
    while (done < 8) co_await sleep(5ms);
    std::vector<std::string> bodies;
    for (HTTPResponse& response : responses) bodies.push_back(response.body);
    co_return bodies;
  };
  std::vector<std::string> bodies = loop.run_sync(run());
  EXPECT_EQ(std::count(bodies.begin(), bodies.end(), "counted"), 8);
  EXPECT_LE(most_in_flight.load(), 3) << "never more than max_clients at the server";
  EXPECT_GE(most_in_flight.load(), 2) << "and more than one at once";
  EXPECT_LE(bounded.stats().connections_opened, 3u);
}

TEST_F(WhirlServer, AQueuedRequestsTimeoutCountsFromWhenItWasAsked) {
  AsyncHTTPClient one({.max_clients = 1});
  auto run = [&]() -> Task<std::string> {
    int finished = 0;
    HTTPResponse slow;
    IOLoop::current().spawn([](AsyncHTTPClient& c, std::string u, HTTPResponse& out, int& done) -> Task<void> {
      out = co_await c.fetch(std::move(u));
      ++done;
    }(one, url("/slow?ms=400"), slow, finished));
    co_await sleep(20ms);
    HTTPRequest queued{.url = url("/hello"), .request_timeout = 100ms};
    std::string what;
    try {
      co_await one.fetch(std::move(queued));
    } catch (const HTTPTimeoutError& e) {
      what = e.what();
    }
    while (finished == 0) co_await sleep(10ms);
    co_return what + " / " + slow.body;
  };
  EXPECT_EQ(loop.run_sync(run()), "Timeout in request queue / slow");
  // Queued ~150 ms, then ~150 ms of work: within 250 ms of being sent, not
  // of being asked for.
  auto late = [&]() -> Task<std::string> {
    int finished = 0;
    HTTPResponse first;
    IOLoop::current().spawn([](AsyncHTTPClient& c, std::string u, HTTPResponse& out, int& done) -> Task<void> {
      out = co_await c.fetch(u);
      ++done;
    }(one, url("/slow?ms=150"), first, finished));
    co_await sleep(10ms);
    HTTPRequest queued{.url = url("/slow?ms=150"), .request_timeout = 250ms};
    std::string what = "answered";
    try {
      co_await one.fetch(std::move(queued));
    } catch (const HTTPTimeoutError& e) {
      what = e.what();
    }
    while (finished == 0) co_await sleep(10ms);
    co_return what;
  };
  EXPECT_EQ(loop.run_sync(late()), "Timeout during request");
}

TEST_F(WhirlServer, ANon2xxThrowsWithTheResponseUnlessRaiseErrorIsFalse) {
  HTTPRequest missing{.url = url("/status?code=404")};
  try {
    fetch(client, std::move(missing));
    ADD_FAILURE() << "no HTTPClientError";
  } catch (const HTTPClientError& e) {
    EXPECT_EQ(e.code(), 404);
    EXPECT_STREQ(e.what(), "HTTP 404: Not Found");
    ASSERT_NE(e.response(), nullptr);
    EXPECT_EQ(e.response()->body, "nope");
  }
  HTTPRequest again{.url = url("/status?code=503")};
  HTTPResponse response = fetch(client, std::move(again), {.raise_error = false});
  EXPECT_EQ(response.code, 503);
  EXPECT_EQ(response.body, "nope");
  EXPECT_THROW(response.rethrow(), HTTPClientError);
  EXPECT_EQ(client.stats().connections_opened, 1u) << "an error response keeps its connection";
}

TEST_F(WhirlServer, BodiesGoWithPostAndPutAndTheMethodRulesHold) {
  HTTPRequest post{.url = url("/echo"), .method = "POST", .body = "a=1"};
  EXPECT_EQ(fetch(client, std::move(post)).body.substr(0, 16), "POST /echo [a=1]");
  HTTPRequest put{.url = url("/echo?x"), .method = "PUT", .body = ""};
  EXPECT_EQ(fetch(client, std::move(put)).body.substr(0, 14), "PUT /echo?x []");
  HTTPRequest get_with_body{.url = url("/echo"), .body = "x"};
  EXPECT_EQ(failure_of(client, std::move(get_with_body)).kind, "invalid");
  HTTPRequest post_without{.url = url("/echo"), .method = "POST"};
  EXPECT_EQ(failure_of(client, std::move(post_without)).kind, "invalid");
  HTTPRequest odd{.url = url("/echo"), .method = "BREW"};
  EXPECT_EQ(failure_of(client, std::move(odd)).kind, "invalid");
  HTTPRequest bad_token{.url = url("/echo"), .method = "GE T", .allow_nonstandard_methods = true};
  EXPECT_EQ(failure_of(client, std::move(bad_token)).kind, "invalid");
  HTTPRequest allowed{.url = url("/echo"), .method = "POST", .allow_nonstandard_methods = true};
  EXPECT_EQ(fetch(client, std::move(allowed)).body.substr(0, 13), "POST /echo []");
}

TEST_F(WhirlServer, TheClientSaysWhoItIsAndAsksForGzip) {
  std::string body = fetch(client, url("/echo")).body;
  EXPECT_NE(body.find("ua=whirl"), std::string::npos) << body;
  EXPECT_NE(body.find("ae=gzip"), std::string::npos) << body;
  HTTPRequest own{.url = url("/echo"), .user_agent = "mine/1", .decompress_response = false};
  std::string plain = fetch(client, std::move(own)).body;
  EXPECT_NE(plain.find("ua=mine/1 ae= "), std::string::npos) << plain;
}

TEST_F(WhirlServer, BasicAuthComesFromTheRequestOrTheUrl) {
  HTTPRequest named{.url = url("/echo"), .auth_username = "Aladdin", .auth_password = "open sesame"};
  EXPECT_NE(fetch(client, std::move(named)).body.find("auth=Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), std::string::npos);
  std::string in_url = fmt::format("http://Aladdin:open%20sesame@127.0.0.1:{}/echo", server.port());
  EXPECT_NE(fetch(client, in_url).body.find("auth=Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), std::string::npos);
}

TEST_F(WhirlServer, ARelativeRedirectIsFollowed) {
  HTTPResponse response = fetch(client, url("/redirect?to=hello"));
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.body, "Hello");
  EXPECT_EQ(response.effective_url, url("/hello"));
  EXPECT_EQ(client.stats().connections_opened, 1u) << "the redirect's body was read and its connection reused";
}

TEST_F(WhirlServer, PostBecomesGetAfter303And302ButNotAfter307Or308) {
  for (int code : {301, 302, 303}) {
    HTTPRequest post{.url = url(fmt::format("/redirect?code={}&to=/echo", code)), .method = "POST", .body = "b"};
    EXPECT_EQ(fetch(client, std::move(post)).body.substr(0, 13), "GET /echo [] ") << code;
  }
  for (int code : {307, 308}) {
    HTTPRequest post{.url = url(fmt::format("/redirect?code={}&to=/echo", code)), .method = "POST", .body = "b"};
    EXPECT_EQ(fetch(client, std::move(post)).body.substr(0, 15), "POST /echo [b] ") << code;
  }
  HTTPRequest put{.url = url("/redirect?code=302&to=/echo"), .method = "PUT", .body = "p"};
  EXPECT_EQ(fetch(client, std::move(put)).body.substr(0, 14), "PUT /echo [p] ") << "302 changes only POST";
}

TEST_F(WhirlServer, ARedirectThatWouldSendAStreamedBodyAgainIsReturned) {
  int produced = 0;
  HTTPRequest put{.url = url("/redirect?code=302&to=/echo"),
                  .method = "PUT",
                  .body_producer = [&](BodyWriter& writer) -> Task<void> {
                    ++produced;
                    co_await writer.write("streamed");
                  }};
  HTTPResponse response = fetch(client, std::move(put), {.raise_error = false});
  EXPECT_EQ(response.code, 302);
  EXPECT_EQ(produced, 1) << "a body producer runs once";
  HTTPRequest post{.url = url("/redirect?code=303&to=/echo"),
                   .method = "POST",
                   .body_producer = [&](BodyWriter& writer) -> Task<void> { co_await writer.write("streamed"); }};
  EXPECT_EQ(fetch(client, std::move(post)).body.substr(0, 13), "GET /echo [] ") << "a 303 sends no body: followed";
}

TEST_F(WhirlServer, ARedirectLoopEndsAtMaxRedirectsWithTheLast3xx) {
  HTTPRequest looping{.url = url("/loop"), .max_redirects = 3};
  HTTPResponse response = fetch(client, std::move(looping), {.raise_error = false});
  EXPECT_EQ(response.code, 302);
  EXPECT_EQ(failure_of(client, url("/loop")).code, 302);
  HTTPRequest not_followed{.url = url("/redirect?to=/hello"), .follow_redirects = false};
  HTTPResponse first = fetch(client, std::move(not_followed), {.raise_error = false});
  EXPECT_EQ(first.code, 302);
  EXPECT_EQ(first.headers.get("Location"), "/hello");
}

TEST_F(WhirlServer, GzipIsDecodedAndSaysSo) {
  HTTPRequest text{.url = url("/big?n=20000&type=text/plain")};
  HTTPResponse response = fetch(client, std::move(text));
  EXPECT_EQ(response.body, pattern(20000));
  EXPECT_EQ(response.headers.get("X-Consumed-Content-Encoding"), "gzip");
  EXPECT_FALSE(response.headers.contains("Content-Encoding"));
  HTTPRequest raw{.url = url("/big?n=20000&type=text/plain"), .decompress_response = false};
  EXPECT_EQ(fetch(client, std::move(raw)).body, pattern(20000)) << "not asked for, not sent";
}

TEST_F(WhirlServer, MaxBodySizeHoldsForTheDecodedBody) {
  HTTPRequest text{.url = url("/big?n=20000&type=text/plain"), .max_body_size = 10000};
  Failure failure = failure_of(client, std::move(text));
  EXPECT_EQ(failure.code, 599);
  EXPECT_NE(failure.message.find("max_body_size"), std::string::npos) << failure.message;
  HTTPRequest declared{.url = url("/big?n=20000"), .max_body_size = 10000};
  EXPECT_NE(failure_of(client, std::move(declared)).message.find("max_body_size"), std::string::npos);
  EXPECT_EQ(fetch(client, url("/hello")).body, "Hello") << "the client goes on";
}

TEST_F(WhirlServer, LargeBodiesArriveIntactBothWays) {
  HTTPRequest big{.url = url("/big?n=8388608"), .decompress_response = false};
  HTTPResponse response = fetch(client, std::move(big));
  EXPECT_EQ(response.body.size(), 8388608u);
  EXPECT_TRUE(response.body == pattern(8388608));
  HTTPRequest upload{.url = url("/big"), .method = "POST", .body = pattern(5000000)};
  EXPECT_EQ(fetch(client, std::move(upload)).body, "5000000 true");
}

TEST_F(WhirlServer, ABodyProducerStreamsTheUploadChunked) {
  HTTPRequest upload{.url = url("/big"), .method = "POST", .body_producer = [](BodyWriter& writer) -> Task<void> {
                       std::string all = pattern(300000);
                       for (std::size_t at = 0; at < all.size(); at += 70000) {
                         co_await writer.write(std::string_view(all).substr(at, 70000));
                       }
                     }};
  EXPECT_EQ(fetch(client, std::move(upload)).body, "300000 true");
  HTTPRequest sized{.url = url("/big"), .method = "POST", .body_producer = [](BodyWriter& writer) -> Task<void> {
                      std::string ten = pattern(10);
                      co_await writer.write(ten);
                    }};
  sized.headers.add("Content-Length", "10");
  EXPECT_EQ(fetch(client, std::move(sized)).body, "10 true");
  HTTPRequest overlong{.url = url("/big"), .method = "POST", .body_producer = [](BodyWriter& writer) -> Task<void> {
                         std::string eleven = pattern(11);
                         co_await writer.write(eleven);
                       }};
  overlong.headers.add("Content-Length", "10");
  EXPECT_NE(failure_of(client, std::move(overlong)).message.find("more than the request's Content-Length"),
            std::string::npos);
}

TEST_F(WhirlServer, StreamingAndHeaderCallbacksSeeTheResponseAsItComes) {
  std::vector<std::string> pieces;
  std::vector<std::string> lines;
  HTTPRequest streamed{.url = url("/stream"),
                       .decompress_response = false,
                       .streaming_callback = [&](std::string_view piece) { pieces.emplace_back(piece); },
                       .header_callback = [&](std::string_view line) { lines.emplace_back(line); }};
  HTTPResponse response = fetch(client, std::move(streamed));
  EXPECT_EQ(response.body, "") << "nothing buffered";
  std::string joined;
  for (const std::string& piece : pieces) joined += piece;
  EXPECT_EQ(joined, "piece0;piece1;piece2;piece3;piece4;");
  EXPECT_GE(pieces.size(), 2u);
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines.front(), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(lines.back(), "\r\n");
  EXPECT_NE(std::find(lines.begin(), lines.end(), "Transfer-Encoding: chunked\r\n"), lines.end());
}

TEST_F(WhirlServer, HeadAnd204And304HaveNoBody) {
  HTTPRequest head{.url = url("/big?n=5000"), .method = "HEAD"};
  HTTPResponse response = fetch(client, std::move(head));
  EXPECT_EQ(response.body, "");
  EXPECT_EQ(response.headers.get("Content-Length"), "5000");
  EXPECT_EQ(fetch(client, url("/status?code=204")).code, 204);
  HTTPRequest not_modified{.url = url("/status?code=304")};
  EXPECT_EQ(fetch(client, std::move(not_modified), {.raise_error = false}).code, 304);
  EXPECT_EQ(fetch(client, url("/hello")).body, "Hello");
  EXPECT_EQ(client.stats().connections_opened, 1u);
}

TEST_F(WhirlServer, ExpectContinueSendsTheBodyAfterThe100) {
  HTTPRequest upload{.url = url("/big"), .method = "POST", .body = pattern(1000), .expect_100_continue = true};
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(fetch(client, std::move(upload)).body, "1000 true");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 900ms) << "sent on the 100, not after the fallback second";
}

TEST_F(WhirlServer, AServerThatNeverAnswersTimesOut) {
  HTTPRequest slow{.url = url("/slow?ms=2000"), .request_timeout = 200ms};
  Failure failure = failure_of(client, std::move(slow));
  EXPECT_EQ(failure.kind, "timeout");
  EXPECT_EQ(failure.message, "Timeout during request");
  EXPECT_EQ(fetch(client, url("/hello")).body, "Hello");
  EXPECT_EQ(client.stats().connections_opened, 2u) << "the timed-out connection was not reused";
}

TEST_F(WhirlServer, FetchAfterCloseThrows) {
  EXPECT_EQ(fetch(client, url("/hello")).body, "Hello");
  client.close();
  EXPECT_EQ(client.stats().idle_connections, 0u);
  EXPECT_EQ(failure_of(client, url("/hello")).kind, "other");
}

// ---- connections: refused, stale, closed by the server ----

TEST(HTTPClient, ARefusedConnectionNamesTheCause) {
  IOLoop loop;
  AsyncHTTPClient client;
  int port = 0;
  {
    ScriptedServer gone([](const ScriptedServer::Request&) { return ScriptedServer::Reply{}; });
    port = gone.port();
  }
  Failure failure = failure_of(client, fmt::format("http://127.0.0.1:{}/", port));
  EXPECT_EQ(failure.code, 599);
  EXPECT_EQ(failure.message, fmt::format("cannot connect to 127.0.0.1:{}: Connection refused", port));
}

TEST(HTTPClient, AConnectTimeoutIsItsOwnTimeout) {
  // A listener whose accept queue is full drops further SYNs: the connect hangs.
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  int port = ntohs(address.sin_port);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(50ms);
  IOLoop loop;
  AsyncHTTPClient client;
  HTTPRequest request{.url = fmt::format("http://127.0.0.1:{}/", port), .connect_timeout = 200ms};
  Failure failure = failure_of(client, std::move(request));
  EXPECT_EQ(failure.kind, "timeout");
  EXPECT_EQ(failure.message, fmt::format("Timeout while connecting to 127.0.0.1:{}", port));
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// Answers the first request on each connection and meets the second with a
// close: the server's idle timeout firing just as the request went out.
ScriptedServer::Reply closes_at_the_second_request(const ScriptedServer::Request& request) {
  if (request.index == 1) return ScriptedServer::Reply{.close = true};
  return ScriptedServer::Reply{.bytes = kOk};
}

TEST(HTTPClient, AStalePooledConnectionIsRetriedOnceForAGet) {
  ScriptedServer server(closes_at_the_second_request);
  IOLoop loop;
  AsyncHTTPClient client;
  EXPECT_EQ(fetch(client, server.url()).body, "ok");
  EXPECT_EQ(fetch(client, server.url()).body, "ok");
  EXPECT_EQ(client.stats().retries, 1u);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HTTPClient, APostOnAStaleConnectionIsNeverRetried) {
  ScriptedServer server(closes_at_the_second_request);
  IOLoop loop;
  AsyncHTTPClient client;
  EXPECT_EQ(fetch(client, server.url()).body, "ok");
  HTTPRequest post{.url = server.url(), .method = "POST", .body = "once"};
  Failure failure = failure_of(client, std::move(post));
  EXPECT_EQ(failure.kind, "closed");
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(server.requests().size(), 2u) << "sent once";
}

TEST(HTTPClient, AConnectionTheServerClosedWhileIdleIsNotHandedOut) {
  ScriptedServer server(
      [](const ScriptedServer::Request&) { return ScriptedServer::Reply{.bytes = kOk, .close = true}; });
  IOLoop loop;
  AsyncHTTPClient client;
  std::string keep_alive_ok = kOk;
  EXPECT_EQ(fetch(client, server.url()).body, "ok");
  loop.run_sync(as_task(sleep(500ms)));  // the FIN arrives while the connection is pooled
  EXPECT_EQ(fetch(client, server.url()).body, "ok");
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(client.stats().connections_reused, 0u);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HTTPClient, ConnectionCloseAndHttp10AreNotPooled) {
  ScriptedServer server([](const ScriptedServer::Request& request) {
    if (request.connection == 0)
      return ScriptedServer::Reply{.bytes = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"};
    return ScriptedServer::Reply{.bytes = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"};
  });
  IOLoop loop;
  AsyncHTTPClient client;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(fetch(client, server.url()).body, "ok");
  EXPECT_EQ(client.stats().connections_reused, 0u);
  EXPECT_EQ(client.stats().idle_connections, 0u);
}

TEST(HTTPClient, IdleConnectionsExpireAfterIdleTimeout) {
  ScriptedServer server([](const ScriptedServer::Request&) { return ScriptedServer::Reply{.bytes = kOk}; });
  IOLoop loop;
  AsyncHTTPClient client({.idle_timeout = 100ms});
  EXPECT_EQ(fetch(client, server.url()).body, "ok");
  EXPECT_EQ(client.stats().idle_connections, 1u);
  loop.run_sync(as_task(sleep(250ms)));
  EXPECT_EQ(client.stats().idle_connections, 0u) << "swept without a request";
  EXPECT_EQ(fetch(client, server.url()).body, "ok");
  EXPECT_EQ(server.connections(), 2);
}

TEST(HTTPClient, ARedirectToAnotherOriginDropsCredentials) {
  ScriptedServer other([](const ScriptedServer::Request&) { return ScriptedServer::Reply{.bytes = kOk}; });
  std::string to = other.url("/landed");
  ScriptedServer first([&](const ScriptedServer::Request&) {
    return ScriptedServer::Reply{.bytes = "HTTP/1.1 302 Found\r\nLocation: " + to + "\r\nContent-Length: 0\r\n\r\n"};
  });
  IOLoop loop;
  AsyncHTTPClient client;
  HTTPRequest request{.url = first.url(), .auth_username = "u", .auth_password = "p"};
  request.headers.add("Cookie", "secret=1");
  request.headers.add("X-Kept", "yes");
  HTTPResponse response = fetch(client, std::move(request));
  EXPECT_EQ(response.effective_url, to);
  ASSERT_EQ(other.requests().size(), 1u);
  std::string landed = other.requests()[0].text;
  EXPECT_EQ(landed.find("Authorization"), std::string::npos) << landed;
  EXPECT_EQ(landed.find("Cookie"), std::string::npos) << landed;
  EXPECT_NE(landed.find("X-Kept: yes"), std::string::npos) << landed;
  EXPECT_NE(landed.find(fmt::format("Host: 127.0.0.1:{}", other.port())), std::string::npos) << landed;
  EXPECT_NE(first.requests()[0].text.find("Authorization: Basic"), std::string::npos);
}

TEST(HTTPClient, ABadLocationIsAClearError) {
  ScriptedServer server([](const ScriptedServer::Request&) {
    return ScriptedServer::Reply{.bytes = "HTTP/1.1 302 Found\r\nLocation: gopher://x/\r\nContent-Length: 0\r\n\r\n"};
  });
  IOLoop loop;
  AsyncHTTPClient client;
  Failure failure = failure_of(client, server.url());
  EXPECT_EQ(failure.code, 599);
  EXPECT_NE(failure.message.find("redirect to a bad Location"), std::string::npos) << failure.message;
}

TEST(HTTPClient, ExpectContinueWithholdsTheBodyWhenRefused) {
  ScriptedServer server([](const ScriptedServer::Request&) {
    return ScriptedServer::Reply{.bytes = "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n"};
  });
  IOLoop loop;
  AsyncHTTPClient client;
  HTTPRequest upload{.url = server.url(), .method = "POST", .body = "BODYBYTES", .expect_100_continue = true};
  EXPECT_EQ(fetch(client, std::move(upload), {.raise_error = false}).code, 417);
  for (int i = 0; i < 500 && server.finished_connections() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server.finished_connections(), 1) << "the client dropped the connection";
  EXPECT_EQ(server.received(0).find("BODYBYTES"), std::string::npos) << "all it received, up to its end";
  EXPECT_EQ(client.stats().idle_connections, 0u) << "a withheld body leaves the connection out of step";
}

TEST(HTTPClient, ExpectContinueSendsTheBodyAnywayAfterASecondOfSilence) {
  ScriptedServer server([](const ScriptedServer::Request&) { return ScriptedServer::Reply{.hang = true}; });
  IOLoop loop;
  AsyncHTTPClient client;
  HTTPRequest upload{
      .url = server.url(), .method = "POST", .body = "BODYBYTES", .request_timeout = 3s, .expect_100_continue = true};
  EXPECT_EQ(failure_of(client, std::move(upload)).kind, "timeout");
  EXPECT_NE(server.received(0).find("BODYBYTES"), std::string::npos);
}

TEST(HTTPClient, AResponseThatStallsMidBodyOrTricklesTimesOut) {
  ScriptedServer server([](const ScriptedServer::Request& request) {
    if (request.connection == 0) {
      return ScriptedServer::Reply{.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"};  // then silence
    }
    return ScriptedServer::Reply{
        .bytes = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'x'), .per_byte = 5ms};
  });
  IOLoop loop;
  AsyncHTTPClient client;
  HTTPRequest stalled{.url = server.url(), .request_timeout = 200ms};
  EXPECT_EQ(failure_of(client, std::move(stalled)).message, "Timeout during request");
  HTTPRequest trickled{.url = server.url(), .request_timeout = 300ms};
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(failure_of(client, std::move(trickled)).message, "Timeout during request");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s) << "the whole request is bounded, not each byte";
}

// ---- hostile responses: each a clear error and a dropped connection ----

struct Hostile {
  const char* name;
  std::string response;
  const char* expected;  // in the message
};

TEST(HTTPClient, EveryAmbiguousResponseIsAnErrorAndItsConnectionIsDropped) {
  const std::vector<Hostile> cases = {
      {"TE with CL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       "both Transfer-Encoding and Content-Length"},
      {"differing CLs", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
       "conflicting Content-Length"},
      {"signed CL", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", "invalid Content-Length"},
      {"CL with a space inside", "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\nok", "invalid Content-Length"},
      {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
       "bad chunked body"},
      {"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n",
       "bad chunked body"},
      {"bad status line", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", "malformed status line"},
      {"not HTTP", "ICY 200 OK\r\nContent-Length: 0\r\n\r\n", "malformed status line"},
      {"header without colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok", "malformed header field"},
      {"NUL in a value", "HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 2\r\n\r\nok"s, "control byte"},
      {"bare CR in a value", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 2\r\n\r\nok", "control byte"},
      {"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok", "bare LF"},
      {"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nok", "obs-fold"},
      {"too many headers",
       "HTTP/1.1 200 OK\r\n" +
           [] {
             std::string many;
             for (int i = 0; i < 150; ++i) many += fmt::format("X-{}: y\r\n", i);
             return many;
           }() +
           "Content-Length: 0\r\n\r\n",
       "too many header fields"},
      {"head too large", "HTTP/1.1 200 OK\r\nX: " + std::string(70000, 'a') + "\r\n\r\n", "response head too large"},
  };
  for (const Hostile& hostile : cases) {
    ScriptedServer server([&](const ScriptedServer::Request& request) {
      if (request.connection == 0) return ScriptedServer::Reply{.bytes = hostile.response};
      return ScriptedServer::Reply{.bytes = kOk};
    });
    IOLoop loop;
    AsyncHTTPClient client;
    Failure failure = failure_of(client, server.url());
    EXPECT_EQ(failure.code, 599) << hostile.name;
    EXPECT_NE(failure.message.find(hostile.expected), std::string::npos) << hostile.name << ": " << failure.message;
    EXPECT_EQ(fetch(client, server.url()).body, "ok") << hostile.name;
    EXPECT_EQ(server.connections(), 2) << hostile.name << ": the refused response's connection was dropped";
  }
}

TEST(HTTPClient, ABodyCutShortIsAStreamClosedError) {
  ScriptedServer server([](const ScriptedServer::Request&) {
    return ScriptedServer::Reply{.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", .close = true};
  });
  IOLoop loop;
  AsyncHTTPClient client;
  Failure failure = failure_of(client, server.url());
  EXPECT_EQ(failure.kind, "closed");
  EXPECT_EQ(failure.message, "connection closed before the response ended");
}

TEST(HTTPClient, ABodyDelimitedByTheCloseEndsThere) {
  ScriptedServer server([](const ScriptedServer::Request&) {
    return ScriptedServer::Reply{.bytes = "HTTP/1.1 200 OK\r\n\r\nuntil the end", .close = true};
  });
  IOLoop loop;
  AsyncHTTPClient client;
  EXPECT_EQ(fetch(client, server.url()).body, "until the end");
  EXPECT_EQ(client.stats().idle_connections, 0u);
}

TEST(HTTPClient, InterimResponsesAreSkipped) {
  ScriptedServer server([](const ScriptedServer::Request&) {
    return ScriptedServer::Reply{.bytes = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + kOk};
  });
  IOLoop loop;
  AsyncHTTPClient client;
  HTTPResponse response = fetch(client, server.url());
  EXPECT_EQ(response.code, 200);
  EXPECT_FALSE(response.headers.contains("Link"));
}

TEST(HTTPClient, BytesNobodyAskedForKeepAConnectionOutOfThePool) {
  ScriptedServer server([](const ScriptedServer::Request&) { return ScriptedServer::Reply{.bytes = kOk + "EXTRA"}; });
  IOLoop loop;
  AsyncHTTPClient client;
  EXPECT_EQ(fetch(client, server.url()).body, "ok");
  EXPECT_EQ(fetch(client, server.url()).body, "ok");
  EXPECT_EQ(server.connections(), 2);
}

TEST(HTTPClient, AGzipBombIsStoppedAtMaxBodySize) {
  std::string bomb = gzip_compress(std::string(50 * 1024 * 1024, '\0'));
  ASSERT_LT(bomb.size(), 100000u);
  ScriptedServer server([&](const ScriptedServer::Request&) {
    return ScriptedServer::Reply{
        .bytes =
            fmt::format("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", bomb.size()) + bomb};
  });
  IOLoop loop;
  AsyncHTTPClient client({.max_body_size = 1024 * 1024});
  Failure failure = failure_of(client, server.url());
  EXPECT_EQ(failure.code, 599);
  EXPECT_NE(failure.message.find("max_body_size"), std::string::npos) << failure.message;
  ScriptedServer corrupt([](const ScriptedServer::Request&) {
    return ScriptedServer::Reply{.bytes =
                                     "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nnotgz"};
  });
  EXPECT_NE(failure_of(client, corrupt.url()).message.find("bad gzip body"), std::string::npos);
}

TEST(HTTPClient, TheHeadIsTheClientsToFrame) {
  IOLoop loop;
  AsyncHTTPClient client;
  HTTPRequest agent{.url = "http://127.0.0.1:1/", .user_agent = "x\r\nX-Injected: 1"};
  EXPECT_EQ(failure_of(client, std::move(agent)).kind, "invalid");
  HTTPRequest twice{.url = "http://127.0.0.1:1/", .method = "POST", .body = "x"};
  twice.headers.add("Content-Length", "1");
  twice.headers.add("Content-Length", "1");
  EXPECT_EQ(failure_of(client, std::move(twice)).kind, "invalid");
  HTTPRequest no_body{.url = "http://127.0.0.1:1/"};
  no_body.headers.add("Content-Length", "5");
  EXPECT_EQ(failure_of(client, std::move(no_body)).kind, "invalid");
}

TEST(HTTPClient, TransferEncodingIsTheClientsToSet) {
  IOLoop loop;
  AsyncHTTPClient client;
  HTTPRequest request{.url = "http://127.0.0.1:1/", .method = "POST", .body = "x"};
  request.headers.add("Transfer-Encoding", "chunked");
  EXPECT_EQ(failure_of(client, std::move(request)).kind, "invalid");
  HTTPRequest mismatch{.url = "http://127.0.0.1:1/", .method = "POST", .body = "x"};
  mismatch.headers.add("Content-Length", "5");
  EXPECT_EQ(failure_of(client, std::move(mismatch)).kind, "invalid");
}

// ---- TLS ----

class TLSServer : public ::testing::Test {
 protected:
  static std::unique_ptr<HTTPServer> make_server(Application& app) {
    const testing::TestCertificates& certs = testing::TestCertificates::get();
    SSLOptions tls;
    tls.certfile = certs.server_cert;
    tls.keyfile = certs.server_key;
    return std::make_unique<HTTPServer>(app, HTTPServerOptions{.ssl_options = tls});
  }
  std::string url(std::string_view host, std::string_view path) const {
    return fmt::format("https://{}:{}{}", host, server.port(), path);
  }

  ClientTestApp web;
  ServerThread server{[this] { return make_server(web.app); }};
  IOLoop loop;
  AsyncHTTPClient client;
};

TEST_F(TLSServer, HttpsVerifiesTheServerAgainstTheGivenCAs) {
  HTTPRequest request{.url = url("localhost", "/hello"), .ca_certs = testing::TestCertificates::get().ca_cert};
  EXPECT_EQ(fetch(client, std::move(request)).body, "Hello");
  HTTPRequest again{.url = url("localhost", "/big?n=300000"), .ca_certs = testing::TestCertificates::get().ca_cert};
  EXPECT_EQ(fetch(client, std::move(again)).body, pattern(300000));
  EXPECT_EQ(client.stats().connections_opened, 1u) << "TLS connections are pooled too";
}

TEST_F(TLSServer, AnUntrustedCertificateFailsWithOpenSSLsReason) {
  Failure failure = failure_of(client, url("localhost", "/hello"));  // the system's CAs do not know ours
  EXPECT_EQ(failure.code, 599);
  EXPECT_NE(failure.message.find("TLS with localhost:"), std::string::npos) << failure.message;
  EXPECT_NE(failure.message.find("certificate verify failed"), std::string::npos) << failure.message;
  HTTPRequest unchecked{.url = url("localhost", "/hello"), .validate_cert = false};
  EXPECT_EQ(fetch(client, std::move(unchecked)).body, "Hello");
}

TEST(HTTPClientTLS, AHostNameTheCertificateDoesNotNameFails) {
  const testing::TestCertificates& certs = testing::TestCertificates::get();
  ClientTestApp web;
  ServerThread server([&] {
    SSLOptions tls;
    tls.certfile = certs.other_cert;  // the right CA, for other.invalid
    tls.keyfile = certs.other_key;
    return std::make_unique<HTTPServer>(web.app, HTTPServerOptions{.ssl_options = tls});
  });
  IOLoop loop;
  AsyncHTTPClient client;
  HTTPRequest request{.url = fmt::format("https://127.0.0.1:{}/hello", server.port()), .ca_certs = certs.ca_cert};
  Failure failure = failure_of(client, std::move(request));
  EXPECT_EQ(failure.code, 599);
  EXPECT_NE(failure.message.find("certificate verify failed"), std::string::npos) << failure.message;
}

}  // namespace
}  // namespace whirl
