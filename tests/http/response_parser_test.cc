#include "whirl/http/response_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace whirl {
namespace {

using Result = ResponseParser::Result;

struct Outcome {
  Result result;
  std::size_t consumed = 0;
  ResponseParser parser;
};

Outcome parse_whole(const std::string& wire, bool head_request = false) {
  Outcome o{Result::kNeedMore, 0, {}};
  o.parser.start(head_request);
  o.result = o.parser.parse(wire, o.consumed);
  return o;
}

// Feeds `wire` one byte at a time, consuming as the parser asks.
Result parse_trickled(const std::string& wire, ResponseParser& parser, std::size_t& total) {
  std::string buffer;
  total = 0;
  parser.start(false);
  for (char c : wire) {
    buffer.push_back(c);
    std::size_t used = 0;
    Result r = parser.parse(buffer, used);
    buffer.erase(0, used);
    total += used;
    if (r != Result::kNeedMore) return r;
  }
  return Result::kNeedMore;
}

const std::string kPlain = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

TEST(ResponseParser, AContentLengthResponseEndsAfterItsBody) {
  Outcome o = parse_whole(kPlain + "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(o.result, Result::kDone);
  EXPECT_EQ(o.consumed, kPlain.size());
  EXPECT_EQ(o.parser.code(), 200);
  EXPECT_EQ(o.parser.body_bytes(), 13u);
  EXPECT_TRUE(o.parser.keep_alive());
}

TEST(ResponseParser, ABodyArrivingInPiecesIsConsumedAsItComes) {
  ResponseParser parser;
  std::size_t total = 0;
  EXPECT_EQ(parse_trickled(kPlain, parser, total), Result::kDone);
  EXPECT_EQ(total, kPlain.size());
  EXPECT_EQ(parser.body_bytes(), 13u);
}

TEST(ResponseParser, AnIncompleteHeadConsumesNothing) {
  Outcome o = parse_whole("HTTP/1.1 200 OK\r\nContent-Len");
  EXPECT_EQ(o.result, Result::kNeedMore);
  EXPECT_EQ(o.consumed, 0u);
}

TEST(ResponseParser, AChunkedBodyEndsAtTheLastChunkAndTrailers) {
  std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n3;x=y\r\n, W\r\n0\r\nT: 1\r\n\r\n";
  Outcome o = parse_whole(wire + "next");
  EXPECT_EQ(o.result, Result::kDone);
  EXPECT_EQ(o.consumed, wire.size());
  EXPECT_EQ(o.parser.body_bytes(), 8u);
  ResponseParser trickled;
  std::size_t total = 0;
  EXPECT_EQ(parse_trickled(wire, trickled, total), Result::kDone);
  EXPECT_EQ(total, wire.size());
}

TEST(ResponseParser, HeadAnd204And304HaveNoBodyWhateverTheHeadersSay) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n";
  Outcome o = parse_whole(head, /*head_request=*/true);
  EXPECT_EQ(o.result, Result::kDone);
  EXPECT_EQ(o.consumed, head.size());
  for (const char* status : {"204 No Content", "304 Not Modified"}) {
    std::string wire = std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 5\r\n\r\n";
    Outcome n = parse_whole(wire + "HTTP/");
    EXPECT_EQ(n.result, Result::kDone) << status;
    EXPECT_EQ(n.consumed, wire.size()) << status;
  }
}

TEST(ResponseParser, InterimResponsesAreSkipped) {
  std::string wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + kPlain;
  Outcome o = parse_whole(wire);
  EXPECT_EQ(o.result, Result::kDone);
  EXPECT_EQ(o.parser.code(), 200);
  EXPECT_EQ(o.consumed, wire.size());
}

TEST(ResponseParser, ABodyWithoutLengthRunsUntilTheClose) {
  Outcome o = parse_whole("HTTP/1.0 200 OK\r\n\r\nsome bytes");
  EXPECT_EQ(o.result, Result::kNeedMore);
  EXPECT_EQ(o.parser.finish_at_close(), Result::kDone);
  EXPECT_EQ(o.parser.body_bytes(), 10u);
  EXPECT_FALSE(o.parser.keep_alive());
}

TEST(ResponseParser, ATruncatedBodyIsAnErrorAtTheClose) {
  Outcome o = parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
  EXPECT_EQ(o.result, Result::kNeedMore);
  EXPECT_EQ(o.parser.finish_at_close(), Result::kError);
}

TEST(ResponseParser, ConnectionCloseAndHttp10EndKeepAlive) {
  EXPECT_FALSE(
      parse_whole("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n").parser.keep_alive());
  EXPECT_FALSE(parse_whole("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").parser.keep_alive());
  EXPECT_TRUE(parse_whole("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").parser.keep_alive());
}

TEST(ResponseParser, MalformedResponsesAreRefused) {
  const char* bad[] = {
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",                                  // bare LF
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\r\n\r\n",                              // bare CR
      "HTTP/2 200 OK\r\n\r\n",                                                       // version
      "HTTP/1.1 20 OK\r\n\r\n",                                                      // two digits
      "HTTP/1.1 200OK\r\n\r\n",                                                      // no SP
      "HTTP/1.1 099 Low\r\n\r\n",                                                    // below 100
      "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",                               // space before colon
      "HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n",                                  // obs-fold
      "HTTP/1.1 200 OK\r\nX: a\x01z\r\nContent-Length: 0\r\n\r\n",                   // control byte
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",                               // sign
      "HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\n",                              // list
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",           // conflict
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",  // both
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",                 // bad chunk size
  };
  for (const char* wire : bad) {
    Outcome o = parse_whole(wire);
    EXPECT_EQ(o.result, Result::kError) << wire;
    EXPECT_STRNE(o.parser.error_reason(), "") << wire;
  }
}

TEST(ResponseParser, RepeatedEqualContentLengthsAreAccepted) {
  Outcome o = parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(o.result, Result::kDone);
  EXPECT_EQ(o.parser.body_bytes(), 2u);
}

TEST(ResponseParser, AnOversizedHeadIsRefused) {
  ResponseParser parser(ResponseParser::Limits{.max_head_size = 64, .max_headers = 100});
  parser.start(false);
  std::string wire = "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a');
  std::size_t used = 0;
  EXPECT_EQ(parser.parse(wire, used), Result::kError);
}

TEST(ResponseParser, StartReadiesTheParserForTheNextResponse) {
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  std::string wire = chunked + kPlain;
  ResponseParser parser;
  parser.start(false);
  std::size_t used = 0;
  ASSERT_EQ(parser.parse(wire, used), Result::kDone);
  ASSERT_EQ(used, chunked.size());
  parser.start(false);
  std::size_t second = 0;
  EXPECT_EQ(parser.parse(std::string_view(wire).substr(used), second), Result::kDone);
  EXPECT_EQ(second, kPlain.size());
  EXPECT_EQ(parser.body_bytes(), 13u);
}

}  // namespace
}  // namespace whirl
