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

// Parses `wire` as the next response on a connection whose parser has seen others.
Result parse_next(ResponseParser& parser, const std::string& wire, std::size_t& used, bool head_request = false) {
  parser.start(head_request);
  used = 0;
  return parser.parse(wire, used);
}

TEST(ResponseParser, ARepeatedHeadIsFramedLikeTheFirst) {
  ResponseParser parser;
  std::size_t used = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(parse_next(parser, kPlain + "HTTP/1.1", used), Result::kDone) << "response " << i;
    EXPECT_EQ(used, kPlain.size());
    EXPECT_EQ(parser.code(), 200);
    EXPECT_EQ(parser.body_bytes(), 13u);
    EXPECT_EQ(parser.head_bytes(), kPlain.size() - 13);
    EXPECT_TRUE(parser.keep_alive());
  }
  // The same head answering HEAD has no body.
  ASSERT_EQ(parse_next(parser, kPlain, used, /*head_request=*/true), Result::kDone);
  EXPECT_EQ(used, kPlain.size() - 13);
  EXPECT_EQ(parser.body_bytes(), 0u);
  // And answering GET again, it has its body again.
  ASSERT_EQ(parse_next(parser, kPlain, used), Result::kDone);
  EXPECT_EQ(used, kPlain.size());
  EXPECT_EQ(parser.body_bytes(), 13u);
}

TEST(ResponseParser, ARepeatedInterimResponseIsSkippedLikeTheFirst) {
  ResponseParser parser;
  std::size_t used = 0;
  const std::string wire = "HTTP/1.1 100 Continue\r\n\r\n" + kPlain;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(parse_next(parser, wire, used), Result::kDone) << "response " << i;
    EXPECT_EQ(used, wire.size());
    EXPECT_EQ(parser.code(), 200);
    EXPECT_EQ(parser.body_bytes(), 13u);
  }
}

TEST(ResponseParser, AHeadThatDiffersFromTheLastOneInAnyByteIsParsedAfresh) {
  ResponseParser parser;
  std::size_t used = 0;
  ASSERT_EQ(parse_next(parser, kPlain, used), Result::kDone);
  std::string longer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\nHello, World!!!";
  ASSERT_EQ(parse_next(parser, longer, used), Result::kDone);
  EXPECT_EQ(used, longer.size());
  EXPECT_EQ(parser.body_bytes(), 15u);
  std::string closing =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!";
  ASSERT_EQ(parse_next(parser, closing, used), Result::kDone);
  EXPECT_FALSE(parser.keep_alive());
  std::string control = kPlain;
  control[control.find("plain")] = '\x01';  // one byte of a value
  EXPECT_EQ(parse_next(parser, control, used), Result::kError);
}

TEST(ResponseParser, AHeadLongerThanTheLastOneBeginningWithItsStatusLineIsParsedAfresh) {
  ResponseParser parser;
  std::size_t used = 0;
  std::string bare = "HTTP/1.1 204 No Content\r\n\r\n";
  ASSERT_EQ(parse_next(parser, bare, used), Result::kDone);
  // Same first line, but a different head: the remembered bytes include the
  // empty line, so they are no prefix of this one.
  std::string with_length = "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(parse_next(parser, with_length, used), Result::kError);
  EXPECT_STREQ(parser.error_reason(), "both Transfer-Encoding and Content-Length");
}

TEST(ResponseParser, AnIncompleteRepeatOfTheLastHeadConsumesNothing) {
  ResponseParser parser;
  std::size_t used = 0;
  ASSERT_EQ(parse_next(parser, kPlain, used), Result::kDone);
  EXPECT_EQ(parse_next(parser, kPlain.substr(0, 30), used), Result::kNeedMore);
  EXPECT_EQ(used, 0u);
}

// parse_repeats: the parser's state after a run, as start() + parse() of
// the run's last response would leave it.
void expect_plain_done(const ResponseParser& parser) {
  EXPECT_EQ(parser.code(), 200);
  EXPECT_TRUE(parser.keep_alive());
  EXPECT_EQ(parser.head_bytes(), kPlain.size() - 13);
  EXPECT_EQ(parser.body_bytes(), 13u);
}

// Frames `response` once, so that it is the remembered one, and readies the
// parser for the next response (to GET).
void remember(ResponseParser& parser, const std::string& response) {
  std::size_t used = 0;
  ASSERT_EQ(parse_next(parser, response, used), Result::kDone);
  parser.start(false);
}

std::string repeated(const std::string& response, int times) {
  std::string wire;
  for (int i = 0; i < times; ++i) wire += response;
  return wire;
}

TEST(ResponseParser, RepeatsOfTheLastHeadAreFramedARunAtATime) {
  ResponseParser parser;
  remember(parser, kPlain);
  std::size_t used = 0;
  std::string wire = repeated(kPlain, 5) + "HTTP/1.1 20";  // and the start of a sixth
  EXPECT_EQ(parser.parse_repeats(wire, 16, used), 5u);
  EXPECT_EQ(used, 5 * kPlain.size());
  expect_plain_done(parser);
  // The incomplete sixth is left to parse(), which waits for the rest.
  parser.start(false);
  EXPECT_EQ(parser.parse_repeats(std::string_view(wire).substr(used), 16, used), 0u);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(parser.parse("HTTP/1.1 20", used), Result::kNeedMore);
}

TEST(ResponseParser, ARunOfRepeatsStopsAtItsLimitAndAtTheFirstHeadThatDiffers) {
  ResponseParser parser;
  remember(parser, kPlain);
  std::size_t used = 0;
  EXPECT_EQ(parser.parse_repeats(repeated(kPlain, 4), 3, used), 3u);
  EXPECT_EQ(used, 3 * kPlain.size());

  std::string other = kPlain;
  other[other.find("plain")] = 'P';
  parser.start(false);
  EXPECT_EQ(parser.parse_repeats(kPlain + other + kPlain, 16, used), 1u);
  EXPECT_EQ(used, kPlain.size());
  // A head with a control byte is no repeat either; parse() refuses it.
  std::string control = kPlain;
  control[control.find("plain")] = '\x01';
  parser.start(false);
  EXPECT_EQ(parser.parse_repeats(control, 16, used), 0u);
  EXPECT_EQ(parser.parse(control, used), Result::kError);
}

TEST(ResponseParser, OnlyResponsesThatLeaveTheConnectionOpenAtAKnownEndAreRepeated) {
  const std::string closing = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
  const std::string until_close = "HTTP/1.1 200 OK\r\n\r\nhi";
  const std::string http10 = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  for (const std::string& response : {closing, chunked, until_close, http10}) {
    ResponseParser parser;
    std::size_t used = 0;
    ASSERT_NE(parse_next(parser, response, used), Result::kError) << response;
    parser.start(false);
    EXPECT_EQ(parser.parse_repeats(repeated(response, 2), 16, used), 0u) << response;
    EXPECT_EQ(used, 0u);
  }
  // Nothing remembered yet.
  ResponseParser fresh;
  std::size_t used = 0;
  fresh.start(false);
  EXPECT_EQ(fresh.parse_repeats(kPlain, 16, used), 0u);
}

TEST(ResponseParser, ARunOfRepeatsIsFramedForTheRequestItAnswers) {
  const std::string no_content = "HTTP/1.1 204 No Content\r\n\r\n";
  ResponseParser parser;
  remember(parser, no_content);
  std::size_t used = 0;
  EXPECT_EQ(parser.parse_repeats(repeated(no_content, 3), 16, used), 3u);
  EXPECT_EQ(used, 3 * no_content.size());
  EXPECT_EQ(parser.body_bytes(), 0u);
  // The GET framing of kPlain is not reused for a HEAD request.
  remember(parser, kPlain);
  parser.start(/*head_request=*/true);
  EXPECT_EQ(parser.parse_repeats(repeated(kPlain, 2), 16, used), 0u);
}

}  // namespace
}  // namespace whirl
