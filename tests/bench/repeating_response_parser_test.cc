// RepeatingResponseParser (bench/), the load generator's framing: it must
// frame every response exactly as ResponseParser does, and frame runs of a
// repeated head a run at a time.
#include "bench/repeating_response_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "whirl/http/response_parser.h"

namespace bench {
namespace {

using whirl::ResponseParser;
using Result = ResponseParser::Result;

const std::string kPlain = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

// A connection's responses one after another: the library's parser and the
// load generator's (which reuses the state of a head it has seen) agree.
template <typename Parser>
class ResponseSequence : public ::testing::Test {};
using Parsers = ::testing::Types<ResponseParser, RepeatingResponseParser>;
TYPED_TEST_SUITE(ResponseSequence, Parsers);

// Parses `wire` as the next response on a connection whose parser has seen others.
template <typename Parser>
Result parse_next(Parser& parser, const std::string& wire, std::size_t& used, bool head_request = false) {
  parser.start(head_request);
  used = 0;
  return parser.parse(wire, used);
}

TYPED_TEST(ResponseSequence, ARepeatedHeadIsFramedLikeTheFirst) {
  TypeParam parser;
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

TYPED_TEST(ResponseSequence, ARepeatedInterimResponseIsSkippedLikeTheFirst) {
  TypeParam parser;
  std::size_t used = 0;
  const std::string wire = "HTTP/1.1 100 Continue\r\n\r\n" + kPlain;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(parse_next(parser, wire, used), Result::kDone) << "response " << i;
    EXPECT_EQ(used, wire.size());
    EXPECT_EQ(parser.code(), 200);
    EXPECT_EQ(parser.body_bytes(), 13u);
  }
}

TYPED_TEST(ResponseSequence, AHeadThatDiffersFromTheLastOneInAnyByteIsParsedAfresh) {
  TypeParam parser;
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

TYPED_TEST(ResponseSequence, AHeadLongerThanTheLastOneBeginningWithItsStatusLineIsParsedAfresh) {
  TypeParam parser;
  std::size_t used = 0;
  std::string bare = "HTTP/1.1 204 No Content\r\n\r\n";
  ASSERT_EQ(parse_next(parser, bare, used), Result::kDone);
  // Same first line, but a different head: the remembered bytes include the
  // empty line, so they are no prefix of this one.
  std::string with_length = "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(parse_next(parser, with_length, used), Result::kError);
  EXPECT_STREQ(parser.error_reason(), "both Transfer-Encoding and Content-Length");
}

TYPED_TEST(ResponseSequence, AnIncompleteRepeatOfTheLastHeadConsumesNothing) {
  TypeParam parser;
  std::size_t used = 0;
  ASSERT_EQ(parse_next(parser, kPlain, used), Result::kDone);
  EXPECT_EQ(parse_next(parser, kPlain.substr(0, 30), used), Result::kNeedMore);
  EXPECT_EQ(used, 0u);
}

// parse_repeats: the parser's state after a run, as start() + parse() of
// the run's last response would leave it.
void expect_plain_done(const RepeatingResponseParser& parser) {
  EXPECT_EQ(parser.code(), 200);
  EXPECT_TRUE(parser.keep_alive());
  EXPECT_EQ(parser.head_bytes(), kPlain.size() - 13);
  EXPECT_EQ(parser.body_bytes(), 13u);
}

// Frames `response` once, so that it is the remembered one, and readies the
// parser for the next response (to GET).
void remember(RepeatingResponseParser& parser, const std::string& response) {
  std::size_t used = 0;
  ASSERT_EQ(parse_next(parser, response, used), Result::kDone);
  parser.start(false);
}

std::string repeated(const std::string& response, int times) {
  std::string wire;
  for (int i = 0; i < times; ++i) wire += response;
  return wire;
}

TEST(RepeatingResponseParser, RepeatsOfTheLastHeadAreFramedARunAtATime) {
  RepeatingResponseParser parser;
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

TEST(RepeatingResponseParser, ARunOfRepeatsStopsAtItsLimitAndAtTheFirstHeadThatDiffers) {
  RepeatingResponseParser parser;
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

TEST(RepeatingResponseParser, OnlyResponsesThatLeaveTheConnectionOpenAtAKnownEndAreRepeated) {
  const std::string closing = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
  const std::string until_close = "HTTP/1.1 200 OK\r\n\r\nhi";
  const std::string http10 = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  for (const std::string& response : {closing, chunked, until_close, http10}) {
    RepeatingResponseParser parser;
    std::size_t used = 0;
    ASSERT_NE(parse_next(parser, response, used), Result::kError) << response;
    parser.start(false);
    EXPECT_EQ(parser.parse_repeats(repeated(response, 2), 16, used), 0u) << response;
    EXPECT_EQ(used, 0u);
  }
  // Nothing remembered yet.
  RepeatingResponseParser fresh;
  std::size_t used = 0;
  fresh.start(false);
  EXPECT_EQ(fresh.parse_repeats(kPlain, 16, used), 0u);
}

TEST(RepeatingResponseParser, ARunOfRepeatsIsFramedForTheRequestItAnswers) {
  const std::string no_content = "HTTP/1.1 204 No Content\r\n\r\n";
  RepeatingResponseParser parser;
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
}  // namespace bench
