#include "whirl/http/request_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "whirl/http/chunked_decoder.h"
#include "whirl/http/http_headers.h"

namespace whirl {
namespace {

using Status = RequestParser::Status;

struct Parsed {
  Status status;
  int error = 0;
  RequestStartLine start;
  HTTPHeaders headers;
  RequestParser parser;
};

Parsed parse(const std::string& head, RequestParser::Limits limits = {}) {
  Parsed p{Status::kIncomplete, 0, {}, {}, RequestParser(limits)};
  p.status = p.parser.parse(head, p.start, p.headers);
  p.error = p.parser.error_status();
  return p;
}

// Each rejected head and the status it must get.
struct Rejected {
  const char* name;
  std::string head;
  int status;
};

class RejectedHeads : public testing::TestWithParam<Rejected> {};

TEST_P(RejectedHeads, AreRefusedWithTheirStatus) {
  Parsed p = parse(GetParam().head);
  EXPECT_EQ(p.status, Status::kError) << GetParam().name;
  EXPECT_EQ(p.error, GetParam().status) << GetParam().name << ": " << p.parser.error_reason();
}

const std::string kHost = "Host: example.com\r\n";

INSTANTIATE_TEST_SUITE_P(
    Strictness, RejectedHeads,
    testing::Values(
        Rejected{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", 400},
        Rejected{"TabBeforeColon", "GET / HTTP/1.1\r\n" + kHost + "X-A\t: 1\r\n\r\n", 400},
        Rejected{"ObsFold", "GET / HTTP/1.1\r\n" + kHost + "X-A: 1\r\n  continued\r\n\r\n", 400},
        Rejected{"BareCRInValue", "GET / HTTP/1.1\r\n" + kHost + "X-A: 1\r2\r\n\r\n", 400},
        Rejected{"BareLFInHead", "GET / HTTP/1.1\n" + kHost + "\r\n", 400},
        Rejected{"NulInValue", std::string("GET / HTTP/1.1\r\n") + kHost + "X-A: a" + std::string(1, '\0') + "\r\n\r\n",
                 400},
        Rejected{"ControlInValue", "GET / HTTP/1.1\r\n" + kHost + "X-A: a\x01z\r\n\r\n", 400},
        Rejected{"ControlInTarget", "GET /a\x01 HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Rejected{"FragmentInTarget", "GET /a#b HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Rejected{"NonAsciiInTarget", "GET /\xc3\xa9 HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Rejected{"BadMethodChar", "G(T / HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Rejected{"InvalidHeaderNameChar", "GET / HTTP/1.1\r\n" + kHost + "X[A]: 1\r\n\r\n", 400},
        Rejected{"EmptyHeaderName", "GET / HTTP/1.1\r\n" + kHost + ": 1\r\n\r\n", 400},
        Rejected{"HeaderWithoutColon", "GET / HTTP/1.1\r\n" + kHost + "X-A 1\r\n\r\n", 400},
        Rejected{"TwoSpacesInRequestLine", "GET  / HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Rejected{"TrailingSpaceInRequestLine", "GET / HTTP/1.1 \r\n" + kHost + "\r\n", 400},
        Rejected{"NoVersion", "GET /\r\n" + kHost + "\r\n", 400},
        Rejected{"LowercaseVersion", "GET / http/1.1\r\n" + kHost + "\r\n", 400},
        Rejected{"Http2Version", "GET / HTTP/2.0\r\n" + kHost + "\r\n", 505},
        Rejected{"Http09Version", "GET / HTTP/0.9\r\n" + kHost + "\r\n", 505},
        Rejected{"ContentLengthWithSign", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: +5\r\n\r\n", 400},
        Rejected{"ContentLengthNegative", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: -1\r\n\r\n", 400},
        Rejected{"ContentLengthUnderscore", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1_0\r\n\r\n", 400},
        Rejected{"ContentLengthHex", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 0x10\r\n\r\n", 400},
        Rejected{"ContentLengthInnerSpace", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1 0\r\n\r\n", 400},
        Rejected{"ContentLengthList", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5, 5\r\n\r\n", 400},
        Rejected{"ContentLengthEmpty", "POST / HTTP/1.1\r\n" + kHost + "Content-Length:\r\n\r\n", 400},
        Rejected{"ContentLengthOverflow",
                 "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 99999999999999999999999\r\n\r\n", 400},
        Rejected{"ContentLengthsDiffer",
                 "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
        Rejected{"TransferEncodingAndContentLength",
                 "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        Rejected{"ChunkedNotLast", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
        Rejected{"ChunkedTwice",
                 "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                 400},
        Rejected{"GzipTransferCoding", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip\r\n\r\n", 501},
        Rejected{"GzipThenChunked", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501},
        Rejected{"IdentityTransferCoding", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: identity\r\n\r\n", 501},
        Rejected{"EmptyTransferCodingElement", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: ,chunked\r\n\r\n",
                 400},
        Rejected{"GarbageTransferCoding", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: \"chunked\"\r\n\r\n",
                 400},
        Rejected{"TransferEncodingInHttp10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        Rejected{"Http11WithoutHost", "GET / HTTP/1.1\r\n\r\n", 400},
        Rejected{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        Rejected{"TwoHostsInHttp10", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400},
        Rejected{"InvalidHostChars", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        Rejected{"AbsoluteFormDisagreesWithHost", "GET http://other.com/ HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Rejected{"AbsoluteFormWithUserinfo", "GET http://u@example.com/ HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Rejected{"AsteriskOutsideOptions", "GET * HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Rejected{"AuthorityFormTarget", "CONNECT example.com:443 HTTP/1.1\r\n" + kHost + "\r\n", 400}),
    [](const testing::TestParamInfo<Rejected>& info) { return info.param.name; });

TEST(RequestParser, ASimpleRequestParsesInPlace) {
  Parsed p = parse("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Pad:  v  \r\n\r\nrest");
  ASSERT_EQ(p.status, Status::kComplete);
  EXPECT_EQ(p.start.method, "GET");
  EXPECT_EQ(p.start.path, "/a?b=1");
  EXPECT_EQ(p.start.version, "HTTP/1.1");
  EXPECT_EQ(p.headers.get("host"), "example.com");
  EXPECT_EQ(p.headers.get("X-Empty", "absent"), "");
  EXPECT_EQ(p.headers.get("X-Pad"), "v");
  EXPECT_EQ(p.parser.head_size(),
            std::string("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Pad:  v  \r\n\r\n").size());
  EXPECT_EQ(p.parser.framing(), BodyFraming::kNone);
}

TEST(RequestParser, AHeadArrivingByteByByteCompletesOnlyAtTheBlankLine) {
  std::string head = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n";
  RequestParser parser;
  RequestStartLine start;
  HTTPHeaders headers;
  for (std::size_t n = 1; n < head.size(); ++n) {
    ASSERT_EQ(parser.parse(std::string_view(head).substr(0, n), start, headers), Status::kIncomplete) << n;
  }
  ASSERT_EQ(parser.parse(head, start, headers), Status::kComplete);
  EXPECT_EQ(parser.framing(), BodyFraming::kLength);
  EXPECT_EQ(parser.content_length(), 12u);
}

TEST(RequestParser, ABareLFFailsBeforeTheHeadIsComplete) {
  Parsed p = parse("GET / HTTP/1.1\nHost: x");
  EXPECT_EQ(p.status, Status::kError);
  EXPECT_EQ(p.error, 400);
}

TEST(RequestParser, ABareCROrLFAnywhereInALongFieldIsFound) {
  // The scan skips eight bytes at a time to the next CR or LF: a lone one
  // at any position of a long value must still stop it.
  for (std::size_t at = 0; at < 40; ++at) {
    for (char bad : {'\r', '\n'}) {
      std::string value(40, 'v');
      value[at] = bad;
      Parsed p = parse("GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: " + value + "\r\n\r\n");
      EXPECT_EQ(p.status, Status::kError) << at << " " << int(bad);
      EXPECT_EQ(p.error, 400) << at;
    }
  }
  Parsed whole = parse("GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: " + std::string(40, 'v') + "\r\n\r\n");
  EXPECT_EQ(whole.status, Status::kComplete);
}

TEST(RequestParser, RepeatedEqualContentLengthsAreOneLength) {
  Parsed p = parse("POST / HTTP/1.1\r\n" + kHost + "Content-Length: 007\r\nContent-Length: 7\r\n\r\n");
  ASSERT_EQ(p.status, Status::kComplete);
  EXPECT_EQ(p.parser.content_length(), 7u);
}

TEST(RequestParser, ChunkedIsCaseInsensitive) {
  Parsed p = parse("POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: Chunked\r\n\r\n");
  ASSERT_EQ(p.status, Status::kComplete);
  EXPECT_EQ(p.parser.framing(), BodyFraming::kChunked);
}

TEST(RequestParser, AnAbsoluteFormTargetBecomesItsOriginForm) {
  Parsed p = parse("GET http://EXAMPLE.com?q=1 HTTP/1.1\r\n" + kHost + "\r\n");
  ASSERT_EQ(p.status, Status::kComplete) << p.parser.error_reason();
  EXPECT_EQ(p.start.path, "/?q=1");
}

TEST(RequestParser, Http10NeedsNoHostAndOptionsMayUseAsterisk) {
  EXPECT_EQ(parse("GET / HTTP/1.0\r\n\r\n").status, Status::kComplete);
  EXPECT_EQ(parse("OPTIONS * HTTP/1.1\r\n" + kHost + "\r\n").status, Status::kComplete);
}

TEST(RequestParser, OneLeadingEmptyLineIsIgnored) {
  Parsed p = parse("\r\nGET / HTTP/1.1\r\n" + kHost + "\r\n");
  ASSERT_EQ(p.status, Status::kComplete);
  EXPECT_EQ(p.parser.head_size(), 2 + ("GET / HTTP/1.1\r\n" + kHost + "\r\n").size());
}

TEST(RequestParser, AHeadOverMaxHeaderSizeIs431) {
  std::string big = "GET / HTTP/1.1\r\n" + kHost + "X-Big: " + std::string(2000, 'a') + "\r\n";
  Parsed p = parse(big, {.max_header_size = 1024});
  EXPECT_EQ(p.status, Status::kError);
  EXPECT_EQ(p.error, 431);
}

TEST(RequestParser, TooManyHeaderFieldsIs431) {
  std::string head = "GET / HTTP/1.1\r\n" + kHost;
  for (int i = 0; i < 10; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  Parsed p = parse(head + "\r\n", {.max_headers = 5});
  EXPECT_EQ(p.error, 431);
}

TEST(RequestParser, ALongTargetIs414EvenBeforeTheLineEnds) {
  std::string line = "GET /" + std::string(10000, 'a');
  Parsed p = parse(line, {.max_target = 8192});
  EXPECT_EQ(p.status, Status::kError);
  EXPECT_EQ(p.error, 414);
}

// ---- chunked bodies ----

struct Decoded {
  ChunkedDecoder::Result result;
  std::string body;
  std::size_t consumed = 0;
  std::string reason;
};

Decoded decode_all(const std::string& in) {
  ChunkedDecoder decoder;
  Decoded out{ChunkedDecoder::Result::kNeedMore, {}, 0, {}};
  std::string_view rest = in;
  for (;;) {
    std::size_t used = 0;
    std::string_view data;
    out.result = decoder.decode(rest, used, data);
    out.body.append(data);
    out.consumed += used;
    rest.remove_prefix(used);
    if (out.result != ChunkedDecoder::Result::kData) break;
  }
  out.reason = decoder.error_reason();
  return out;
}

TEST(ChunkedDecoder, ChunksExtensionsAndTrailersDecode) {
  Decoded d = decode_all("5;name=val;q=\"a b\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT");
  EXPECT_EQ(d.result, ChunkedDecoder::Result::kDone) << d.reason;
  EXPECT_EQ(d.body, "hello world");
  EXPECT_EQ(d.consumed,
            std::string("5;name=val;q=\"a b\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n").size());
}

TEST(ChunkedDecoder, InputSplitAtEveryByteGivesTheSameBody) {
  std::string in = "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
  ChunkedDecoder decoder;
  std::string body;
  std::string pending;
  bool done = false;
  for (char c : in) {
    pending.push_back(c);
    for (;;) {
      std::size_t used = 0;
      std::string_view data;
      auto result = decoder.decode(pending, used, data);
      body.append(data);
      pending.erase(0, used);
      ASSERT_NE(result, ChunkedDecoder::Result::kError) << decoder.error_reason();
      if (result == ChunkedDecoder::Result::kDone) done = true;
      if (result != ChunkedDecoder::Result::kData) break;
    }
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(body, "abc0123456789abcdef");
}

class RejectedChunks : public testing::TestWithParam<std::pair<const char*, std::string>> {};

TEST_P(RejectedChunks, FailTheBody) {
  Decoded d = decode_all(GetParam().second);
  EXPECT_EQ(d.result, ChunkedDecoder::Result::kError) << GetParam().first;
}

INSTANTIATE_TEST_SUITE_P(Strictness, RejectedChunks,
                         testing::Values(std::pair{"SignedSize", std::string("+5\r\nhello\r\n0\r\n\r\n")},
                                         std::pair{"NegativeSize", std::string("-5\r\nhello\r\n0\r\n\r\n")},
                                         std::pair{"HexPrefix", std::string("0x5\r\nhello\r\n0\r\n\r\n")},
                                         std::pair{"SpaceAfterSize", std::string("5 \r\nhello\r\n0\r\n\r\n")},
                                         std::pair{"SpaceBeforeExtension", std::string("5 ;a=b\r\nhello\r\n0\r\n\r\n")},
                                         std::pair{"LeadingSpace", std::string(" 5\r\nhello\r\n0\r\n\r\n")},
                                         std::pair{"OverflowingSize", std::string("10000000000000000\r\n")},
                                         std::pair{"EmptySize", std::string("\r\nhello\r\n")},
                                         std::pair{"NoCRLFAfterData", std::string("5\r\nhelloXX0\r\n\r\n")},
                                         std::pair{"BareLFAfterSize", std::string("5\nhello\r\n0\r\n\r\n")},
                                         std::pair{"BareLFAfterData", std::string("5\r\nhello\n0\r\n\r\n")},
                                         std::pair{"BadExtensionName", std::string("5;a b\r\nhello\r\n0\r\n\r\n")},
                                         std::pair{"UnterminatedQuotedExtension",
                                                   std::string("5;a=\"x\r\nhello\r\n0\r\n\r\n")},
                                         std::pair{"BadTrailer", std::string("0\r\nNo colon here\r\n\r\n")},
                                         std::pair{"FoldedTrailer", std::string("0\r\nX: a\r\n b\r\n\r\n")}),
                         [](const auto& info) { return std::string(info.param.first); });

TEST(ChunkedDecoder, AnEndlessChunkLineFailsAtItsLimit) {
  ChunkedDecoder decoder({.max_line = 64});
  std::string in = "5;" + std::string(200, 'a');
  std::size_t used = 0;
  std::string_view data;
  EXPECT_EQ(decoder.decode(in, used, data), ChunkedDecoder::Result::kError);
}

// ---- HTTPHeaders ----

TEST(HTTPHeaders, LookupIsCaseInsensitiveAndKeepsArrivalOrder) {
  HTTPHeaders headers;
  headers.add("Set-Cookie", "a=1");
  headers.add("X-Other", "x");
  headers.add("set-cookie", "b=2");
  EXPECT_EQ(headers.get("SET-COOKIE"), "a=1");
  EXPECT_EQ(headers.get_list("Set-Cookie"), (std::vector<std::string_view>{"a=1", "b=2"}));
  std::vector<std::string_view> names;
  for (auto [name, value] : headers) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string_view>{"Set-Cookie", "X-Other", "set-cookie"}));
  headers.set("set-COOKIE", "c=3");
  EXPECT_EQ(headers.get_list("Set-Cookie"), (std::vector<std::string_view>{"c=3"}));
  EXPECT_EQ(headers.remove("x-other"), 1u);
  EXPECT_FALSE(headers.contains("X-Other"));
}

TEST(HTTPHeaders, ReserveKeepsTheFieldsAndACopyAssignedIntoItKeepsTheRoom) {
  HTTPHeaders defaults{{"Server", "whirl"}, {"Date", "today"}};
  HTTPHeaders headers{{"X-Old", "1"}};
  headers.reserve(256, 8);
  EXPECT_EQ(headers.get("X-Old"), "1");
  headers = defaults;
  headers.add("Content-Length", "13");
  headers.set("Server", "other");
  std::string out;
  headers.write_to(out);
  EXPECT_EQ(out, "Date: today\r\nContent-Length: 13\r\nServer: other\r\n");
  EXPECT_EQ(defaults.get("Server"), "whirl");  // the copy's source is untouched
}

TEST(HTTPHeaders, OutputIsInHttpHeaderCase) {
  HTTPHeaders headers{{"content-type", "text/plain"}, {"x-REQUEST-id", "7"}};
  std::string out;
  headers.write_to(out);
  EXPECT_EQ(out, "Content-Type: text/plain\r\nX-Request-Id: 7\r\n");
}

TEST(HTTPHeaders, NamesInAnyCaseMixAreWrittenInHttpHeaderCase) {
  // Names already in Http-Header-Case are copied as given, the others
  // re-cased: every mix comes out the same.
  HTTPHeaders headers{{"Content-Length", "1"},
                      {"CONTENT-TYPE", "a"},
                      {"Www-Authenticate", "b"},
                      {"WWW-Authenticate", "c"},
                      {"x-Y", "d"},
                      {"A", "e"},
                      {"a", "f"},
                      {"A-b-C", "g"}};
  std::string out = "HTTP/1.1 200 OK\r\n";
  headers.write_to(out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Type: a\r\nWww-Authenticate: b\r\n"
            "Www-Authenticate: c\r\nX-Y: d\r\nA: e\r\nA: f\r\nA-B-C: g\r\n");
}

TEST(HTTPHeaders, KnownNamesInOtherCasesAreStillWrittenInHttpHeaderCase) {
  // Names add() recognises by their bytes ("ETag" is not one: it is written
  // "Etag", as Tornado writes it) and the same names in other cases.
  HTTPHeaders headers{{"ETag", "1"},           {"Etag", "2"},   {"content-length", "3"},
                      {"Content-Length", "4"}, {"SERVER", "5"}, {"Sec-WebSocket-Accept", "6"}};
  std::string out;
  headers.write_to(out);
  EXPECT_EQ(out,
            "Etag: 1\r\nEtag: 2\r\nContent-Length: 3\r\nContent-Length: 4\r\nServer: 5\r\nSec-Websocket-Accept: 6\r\n");
}

TEST(HTTPHeaders, IequalsFoldsOnlyAsciiLettersAtEveryPosition) {
  // Compared a word at a time: names of every length from 1 to 40, each
  // byte in turn changed to its other case (equal) or to a byte 0x20 away
  // that is not a letter's other case (different).
  for (std::size_t length = 1; length <= 40; ++length) {
    std::string name;
    for (std::size_t i = 0; i < length; ++i) name.push_back(static_cast<char>('a' + i % 26));
    for (std::size_t at = 0; at < length; ++at) {
      std::string other = name;
      other[at] = static_cast<char>(other[at] - 32);
      EXPECT_TRUE(iequals(name, other)) << name << " " << other;
      for (auto [x, y] : {std::pair{'@', '`'}, {'[', '{'}, {'^', '~'}, {'\xc1', '\xe1'}, {'z', '{'}}) {
        std::string a = name, b = name;
        a[at] = x;
        b[at] = y;
        EXPECT_FALSE(iequals(a, b)) << length << " " << at << " " << x << " " << y;
      }
    }
  }
  EXPECT_FALSE(iequals("Content-Length", "Content-Lengti"));
  EXPECT_TRUE(iequals("TRANSFER-ENCODING", "transfer-encoding"));
}

TEST(HTTPHeaders, CROrLFAnywhereInALongValueThrows) {
  // Values are checked eight bytes at a time, the last word overlapping:
  // a forbidden byte at any position of any length is found.
  for (std::size_t length = 1; length <= 40; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      for (char bad : {'\r', '\n', '\0'}) {
        std::string value(length, 'v');
        value[at] = bad;
        HTTPHeaders headers;
        EXPECT_THROW(headers.add("X-A", value), std::invalid_argument) << "length " << length << " at " << at;
      }
    }
    HTTPHeaders headers;
    headers.add("X-A", std::string(length, '\t'));  // HTAB and every other byte pass
    EXPECT_EQ(headers.get("x-a").size(), length);
  }
}

TEST(HTTPHeaders, CRLFOrNulInASetValueThrows) {
  HTTPHeaders headers;
  EXPECT_THROW(headers.add("X-A", "a\r\nInjected: 1"), std::invalid_argument);
  EXPECT_THROW(headers.add("X-A", "a\nb"), std::invalid_argument);
  EXPECT_THROW(headers.set("X-A", std::string("a\0b", 3)), std::invalid_argument);
  EXPECT_THROW(headers.add("Bad Name", "v"), std::invalid_argument);
  EXPECT_TRUE(headers.empty());
}

TEST(RequestParser, ConnectionTokensAreGatheredFromEveryConnectionField) {
  Parsed p = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nconnection: foo, CLOSE\r\n\r\n");
  ASSERT_EQ(p.status, Status::kComplete);
  EXPECT_TRUE(p.parser.connection_close());
  EXPECT_FALSE(p.parser.connection_keep_alive());
  Parsed q = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_EQ(q.status, Status::kComplete);
  EXPECT_TRUE(q.parser.connection_keep_alive());
  EXPECT_FALSE(q.parser.connection_close());
  Parsed r = parse("GET / HTTP/1.1\r\nHost: a\r\nX-Connection: close\r\n\r\n");
  EXPECT_FALSE(r.parser.connection_close());
}

}  // namespace
}  // namespace whirl
