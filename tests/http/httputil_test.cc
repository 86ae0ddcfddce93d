#include "whirl/http/httputil.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace whirl {
namespace {

using namespace std::string_literals;

// "\n" -> "\r\n", so that multipart bodies read like the wire.
std::string crlf(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

// Options from designated fields; GCC 12 warns on partial designated initializers.
MultipartLimits max_parts(std::size_t n) {
  MultipartLimits limits;
  limits.max_parts = n;
  return limits;
}

MultipartLimits max_header(std::size_t n) {
  MultipartLimits limits;
  limits.max_part_header_size = n;
  return limits;
}

CookieOptions no_path() {
  CookieOptions options;
  options.path = "";
  return options;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// The HTTPInputError message for `body`, or "(accepted)".
std::string multipart_error(std::string_view body, std::string_view boundary = "b", MultipartLimits limits = {}) {
  ArgumentMap arguments;
  FileMap files;
  try {
    parse_multipart_form_data(boundary, body, arguments, files, limits);
  } catch (const HTTPInputError& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string field(std::string_view name, std::string_view value) {
  return crlf("--b\nContent-Disposition: form-data; name=\"" + std::string(name) + "\"\n\n") + std::string(value) +
         "\r\n";
}

// ---------------------------------------------------------------------------
// url_unescape / url_escape

TEST(UrlUnescape, DecodesPercentEscapesInEitherCase) {
  EXPECT_EQ(url_unescape("%41%62%2f%2F"), "Ab//");
  EXPECT_EQ(url_unescape("a%20b", false), "a b");
}

TEST(UrlUnescape, PlusBecomesSpaceOnlyWhenAsked) {
  EXPECT_EQ(url_unescape("a+b"), "a b");
  EXPECT_EQ(url_unescape("a+b", false), "a+b");
}

TEST(UrlUnescape, AnEscapedPlusStaysAPlus) { EXPECT_EQ(url_unescape("1%2B1"), "1+1"); }

TEST(UrlUnescape, AMalformedEscapeIsKeptLiterally) {
  EXPECT_EQ(url_unescape("%4"), "%4");
  EXPECT_EQ(url_unescape("%zz"), "%zz");
  EXPECT_EQ(url_unescape("%"), "%");
  EXPECT_EQ(url_unescape("100%"), "100%");
  EXPECT_EQ(url_unescape("%4g%41"), "%4gA");
  EXPECT_EQ(url_unescape("%%41"), "%A");
}

TEST(UrlUnescape, DecodesAnyByte) { EXPECT_EQ(url_unescape("%00%FF%c3%a4"), "\0\xff\xc3\xa4"s); }

TEST(UrlEscape, KeepsUnreservedCharacters) {
  const std::string unreserved = "ABCXYZabcxyz0189-._~";
  EXPECT_EQ(url_escape(unreserved), unreserved);
}

TEST(UrlEscape, EscapesEverythingElseInUppercaseHex) {
  EXPECT_EQ(url_escape("a/b?c=d&e"), "a%2Fb%3Fc%3Dd%26e");
  EXPECT_EQ(url_escape("\0\xff\xc3\xa4+%"s), "%00%FF%C3%A4%2B%25");
}

TEST(UrlEscape, SpaceBecomesPlusOnlyWhenAsked) {
  EXPECT_EQ(url_escape("a b"), "a+b");
  EXPECT_EQ(url_escape("a b", false), "a%20b");
}

TEST(UrlEscape, EveryByteRoundTripsThroughUnescape) {
  std::string all;
  for (int byte = 0; byte < 256; ++byte) all.push_back(static_cast<char>(byte));
  EXPECT_EQ(url_unescape(url_escape(all)), all);
  EXPECT_EQ(url_unescape(url_escape(all, false), false), all);
}

// ---------------------------------------------------------------------------
// parse_query_string

TEST(ParseQueryString, KeepsBlankValuesAndArrivalOrder) {
  ArgumentMap arguments;
  parse_query_string("a=1&b=&a=2&c", arguments);
  EXPECT_EQ(arguments, (ArgumentMap{{"a", {"1", "2"}}, {"b", {""}}, {"c", {""}}}));
}

TEST(ParseQueryString, EmptyFieldsAreSkipped) {
  ArgumentMap arguments;
  parse_query_string("&a=1&&b=2&", arguments);
  EXPECT_EQ(arguments, (ArgumentMap{{"a", {"1"}}, {"b", {"2"}}}));
}

TEST(ParseQueryString, ASemicolonIsDataNotASeparator) {
  ArgumentMap arguments;
  parse_query_string("a=1;b=2", arguments);
  EXPECT_EQ(arguments, (ArgumentMap{{"a", {"1;b=2"}}}));
}

TEST(ParseQueryString, NamesAndValuesAreUnescapedWithPlusAsSpace) {
  ArgumentMap arguments;
  parse_query_string("first+name=J%C3%B6rg+M&%3D=%26", arguments);
  EXPECT_EQ(arguments, (ArgumentMap{{"=", {"&"}}, {"first name", {"J\xc3\xb6rg M"}}}));
}

TEST(ParseQueryString, OnlyTheFirstEqualsSignSplits) {
  ArgumentMap arguments;
  parse_query_string("a=b=c&=x", arguments);
  EXPECT_EQ(arguments, (ArgumentMap{{"", {"x"}}, {"a", {"b=c"}}}));
}

TEST(ParseQueryString, AppendsToArgumentsAlreadyThere) {
  ArgumentMap arguments{{"a", {"0"}}};
  parse_query_string("a=1", arguments);
  parse_query_string("", arguments);
  EXPECT_EQ(arguments, (ArgumentMap{{"a", {"0", "1"}}}));
}

// ---------------------------------------------------------------------------
// parse_header_value

TEST(ParseHeaderValue, SplitsTheValueFromItsParameters) {
  const HeaderValue header = parse_header_value(R"(form-data; name="f"; filename="a b.txt")");
  EXPECT_EQ(header.value, "form-data");
  EXPECT_EQ(header.params, (std::map<std::string, std::string, std::less<>>{{"name", "f"}, {"filename", "a b.txt"}}));
}

TEST(ParseHeaderValue, TrimsAndLowercasesParameterNamesButNotValues) {
  const HeaderValue header = parse_header_value("  text/HTML ;  CharSet = UTF-8 ;Q=Big  ");
  EXPECT_EQ(header.value, "text/HTML");
  EXPECT_EQ(header.params, (std::map<std::string, std::string, std::less<>>{{"charset", "UTF-8"}, {"q", "Big"}}));
}

TEST(ParseHeaderValue, QuotedStringsUnescapeQuoteAndBackslash) {
  EXPECT_EQ(parse_header_value(R"(x; a="say \"hi\" \\o/")").params.at("a"), R"(say "hi" \o/)");
}

TEST(ParseHeaderValue, OtherBackslashesInQuotedStringsAreKept) {
  EXPECT_EQ(parse_header_value(R"(form-data; filename="C:\dir\a.txt")").params.at("filename"), R"(C:\dir\a.txt)");
}

TEST(ParseHeaderValue, ASemicolonInsideQuotesDoesNotSplit) {
  const HeaderValue header = parse_header_value(R"(form-data; name="a;b=c"; x="\";")");
  EXPECT_EQ(header.params.at("name"), "a;b=c");
  EXPECT_EQ(header.params.at("x"), "\";");
  EXPECT_EQ(header.params.size(), 2u);
}

TEST(ParseHeaderValue, AnUnterminatedQuoteIsKeptLiterallyToTheEnd) {
  const HeaderValue header = parse_header_value(R"(x; a="b; c=d)");
  EXPECT_EQ(header.params.at("a"), R"("b; c=d)");
  EXPECT_EQ(header.params.count("c"), 0u);
}

TEST(ParseHeaderValue, AnExtendedValueIsDecodedIntoThePlainName) {
  const HeaderValue header = parse_header_value("attachment; filename*=UTF-8''a%20b%E2%82%AC.txt");
  EXPECT_EQ(header.params, (std::map<std::string, std::string, std::less<>>{{"filename", "a b\xe2\x82\xac.txt"}}));
}

TEST(ParseHeaderValue, AnExtendedValueWinsOverThePlainOneInEitherOrder) {
  EXPECT_EQ(parse_header_value("x; filename*=UTF-8''new; filename=old").params.at("filename"), "new");
  EXPECT_EQ(parse_header_value("x; filename=old; FILENAME*=UTF-8'en'new").params.at("filename"), "new");
}

TEST(ParseHeaderValue, ALatin1ExtendedValueIsConvertedToUtf8) {
  EXPECT_EQ(parse_header_value("x; filename*=ISO-8859-1''caf%E9").params.at("filename"), "caf\xc3\xa9");
}

TEST(ParseHeaderValue, AnExtendedValueWithoutCharsetIsOnlyPercentDecoded) {
  EXPECT_EQ(parse_header_value("x; filename*=a%20b+c").params.at("filename"), "a b+c");
  EXPECT_EQ(parse_header_value("x; filename*=\"UTF-8''q%21\"").params.at("filename"), "q!");
}

TEST(ParseHeaderValue, ContinuationNamesAreKeptLiterally) {
  const HeaderValue header = parse_header_value("x; filename*0*=UTF-8''a; *=b");
  EXPECT_EQ(header.params.count("filename"), 0u);
  EXPECT_EQ(header.params.at("filename*0*"), "UTF-8''a");
  EXPECT_EQ(header.params.at("*"), "b");
}

TEST(ParseHeaderValue, ParametersWithoutEqualsAreIgnored) {
  const HeaderValue header = parse_header_value("form-data; flag; ; name=a");
  EXPECT_EQ(header.params, (std::map<std::string, std::string, std::less<>>{{"name", "a"}}));
}

TEST(ParseHeaderValue, ARepeatedParameterKeepsItsLastValue) {
  EXPECT_EQ(parse_header_value("x; a=1; A=2").params.at("a"), "2");
}

TEST(ParseHeaderValue, AnEmptyLineHasNoValueAndNoParameters) {
  const HeaderValue header = parse_header_value("");
  EXPECT_EQ(header.value, "");
  EXPECT_TRUE(header.params.empty());
}

// ---------------------------------------------------------------------------
// parse_multipart_form_data

TEST(ParseMultipart, FieldsAndFilesAreDeliveredInArrivalOrder) {
  const std::string body = crlf(
      "--b\n"
      "Content-Disposition: form-data; name=\"title\"\n"
      "\n"
      "Hello\n"
      "--b\n"
      "Content-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\n"
      "Content-Type: text/plain\n"
      "\n"
      "line 1\n"
      "line 2\n"
      "--b\n"
      "Content-Disposition: form-data; name=\"title\"\n"
      "\n"
      "World\n"
      "--b\n"
      "Content-Disposition: form-data; name=\"upload\"; filename=\"b.png\"\n"
      "Content-Type: image/png\n"
      "\n"
      "PNG\n"
      "--b--\n");
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data("b", body, arguments, files);
  EXPECT_EQ(arguments, (ArgumentMap{{"title", {"Hello", "World"}}}));
  ASSERT_EQ(files.size(), 1u);
  ASSERT_EQ(files.at("upload").size(), 2u);
  const HTTPFile& first = files.at("upload")[0];
  EXPECT_EQ(first.filename, "a.txt");
  EXPECT_EQ(first.body, "line 1\r\nline 2");
  EXPECT_EQ(first.content_type, "text/plain");
  EXPECT_EQ(files.at("upload")[1].filename, "b.png");
  EXPECT_EQ(files.at("upload")[1].body, "PNG");
}

TEST(ParseMultipart, AFileWithoutContentTypeIsApplicationUnknown) {
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data("b", crlf("--b\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\n\ndata\n--b--"),
                            arguments, files);
  EXPECT_EQ(files.at("f").at(0).content_type, "application/unknown");
}

TEST(ParseMultipart, AnEmptyFilenameMakesAFieldNotAFile) {
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data("b",
                            crlf("--b\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\nContent-Type: "
                                 "application/octet-stream\n\n\n--b--"),
                            arguments, files);
  EXPECT_TRUE(files.empty());
  EXPECT_EQ(arguments, (ArgumentMap{{"f", {""}}}));
}

TEST(ParseMultipart, AnExtendedFilenameIsDecoded) {
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data(
      "b", crlf("--b\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''%C3%A4.txt\n\nx\n--b--"), arguments,
      files);
  EXPECT_EQ(files.at("f").at(0).filename, "\xc3\xa4.txt");
}

TEST(ParseMultipart, BodiesAreKeptByteForByte) {
  const std::string value = "a\0b\r\n\r\nc\rd\n--b \r\n--bb\r\n--b\tx\r\n"s;
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data("b", field("v", value) + "--b--", arguments, files);
  EXPECT_EQ(arguments.at("v").at(0), value);
}

TEST(ParseMultipart, ABodyMayBeEmptyWithOrWithoutItsEmptyLine) {
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data("b",
                            crlf("--b\nContent-Disposition: form-data; name=a\n\n\n"
                                 "--b\nContent-Disposition: form-data; name=a\n\n--b--"),
                            arguments, files);
  EXPECT_EQ(arguments, (ArgumentMap{{"a", {"", ""}}}));
}

TEST(ParseMultipart, EverythingAfterTheFinalBoundaryIsIgnored) {
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data("b", field("a", "1") + "--b--\r\n" + field("z", "2") + "--b--garbage", arguments, files);
  EXPECT_EQ(arguments, (ArgumentMap{{"a", {"1"}}}));
}

TEST(ParseMultipart, AFormWithoutPartsIsEmpty) {
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data("b", "--b--\r\n", arguments, files);
  parse_multipart_form_data("b", "--b\r\n--b--", arguments, files);  // one empty part, skipped
  EXPECT_TRUE(arguments.empty());
  EXPECT_TRUE(files.empty());
}

TEST(ParseMultipart, HeaderNamesAndTheDispositionTypeAreCaseInsensitive) {
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data(
      "b",
      crlf("--b\ncontent-disposition: Form-Data; NAME=f; FileName=x\nCONTENT-TYPE:text/csv \nX-Other: 1\n\nd\n--b--"),
      arguments, files);
  EXPECT_EQ(files.at("f").at(0).filename, "x");
  EXPECT_EQ(files.at("f").at(0).content_type, "text/csv");
}

TEST(ParseMultipart, ExactlyMaxPartsAreAccepted) {
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data("b", field("a", "1") + field("a", "2") + "--b--", arguments, files, max_parts(2));
  EXPECT_EQ(arguments.at("a").size(), 2u);
}

TEST(ParseMultipart, AHeaderBlockOfExactlyTheLimitIsAccepted) {
  const std::string header = "Content-Disposition: form-data; name=a";
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data("b", "--b\r\n" + header + "\r\n\r\nv\r\n--b--", arguments, files,
                            max_header(header.size()));
  EXPECT_EQ(arguments.at("a").at(0), "v");
}

TEST(ParseMultipart, ASeventyByteBoundaryIsAccepted) {
  const std::string boundary(70, 'x');
  ArgumentMap arguments;
  FileMap files;
  parse_multipart_form_data(
      boundary, crlf("--" + boundary + "\nContent-Disposition: form-data; name=a\n\n1\n--" + boundary + "--"),
      arguments, files);
  EXPECT_EQ(arguments.at("a").at(0), "1");
}

TEST(ParseMultipart, ResultsAreAppendedToExistingMaps) {
  ArgumentMap arguments{{"a", {"0"}}};
  FileMap files{{"f", {HTTPFile{"old", "", "text/plain"}}}};
  parse_multipart_form_data(
      "b", field("a", "1") + crlf("--b\nContent-Disposition: form-data; name=f; filename=new\n\nx\n--b--"), arguments,
      files);
  EXPECT_EQ(arguments.at("a"), (std::vector<std::string>{"0", "1"}));
  ASSERT_EQ(files.at("f").size(), 2u);
  EXPECT_EQ(files.at("f")[1].filename, "new");
}

TEST(ParseMultipart, AnEmptyBoundaryIsRejected) {
  EXPECT_TRUE(contains(multipart_error("----\r\n", ""), "empty boundary"));
}

TEST(ParseMultipart, ABoundaryOverSeventyBytesIsRejected) {
  const std::string boundary(71, 'x');
  EXPECT_TRUE(contains(multipart_error("--" + boundary + "--", boundary), "longer than 70"));
}

TEST(ParseMultipart, ATruncatedBodyIsRejected) {
  const std::string body = field("a", "1") + field("b", "partial");
  EXPECT_TRUE(contains(multipart_error(body), "no final boundary"));
  EXPECT_TRUE(contains(multipart_error(body.substr(0, 20)), "no final boundary"));
}

TEST(ParseMultipart, ABodyWithoutTheBoundaryIsRejected) {
  EXPECT_TRUE(contains(multipart_error(""), "no final boundary"));
  EXPECT_TRUE(contains(multipart_error("a=1&b=2"), "no final boundary"));
  EXPECT_TRUE(contains(multipart_error("--bx\r\n--b"), "no final boundary"));
}

TEST(ParseMultipart, AFinalBoundaryNotAtTheStartOfALineDoesNotCount) {
  EXPECT_TRUE(contains(multipart_error(crlf("--b\nContent-Disposition: form-data; name=a\n\nvalue--b--")),
                       "no final boundary"));
}

TEST(ParseMultipart, DataBeforeTheFirstBoundaryIsRejected) {
  EXPECT_TRUE(contains(multipart_error("preamble\r\n" + field("a", "1") + "--b--"), "data before the first boundary"));
  EXPECT_TRUE(contains(multipart_error("\r\n--b--"), "data before the first boundary"));
}

TEST(ParseMultipart, MoreThanMaxPartsIsRejected) {
  const std::string body = field("a", "1") + field("a", "2") + field("a", "3") + "--b--";
  EXPECT_TRUE(contains(multipart_error(body, "b", max_parts(2)), "more than 2 parts"));
}

TEST(ParseMultipart, APartWithoutTheEmptyLineAfterItsHeadersIsRejected) {
  EXPECT_TRUE(contains(multipart_error(crlf("--b\nContent-Disposition: form-data; name=a\n--b--")),
                       "empty line that ends its headers"));
}

TEST(ParseMultipart, AHeaderBlockOverTheLimitIsRejected) {
  const std::string header = "Content-Disposition: form-data; name=a";
  const std::string body = "--b\r\n" + header + "\r\n\r\nv\r\n--b--";
  EXPECT_TRUE(contains(multipart_error(body, "b", max_header(header.size() - 1)), "part headers larger than"));
}

TEST(ParseMultipart, AFoldedHeaderLineIsRejected) {
  EXPECT_TRUE(contains(multipart_error(crlf("--b\nContent-Disposition: form-data;\n name=a\n\nv\n--b--")),
                       "folded part header"));
}

TEST(ParseMultipart, AControlCharacterInAHeaderIsRejected) {
  EXPECT_TRUE(
      contains(multipart_error(crlf("--b\nContent-Disposition: form-data; name=a; filename=\"x\ry\"\n\nv\n--b--")),
               "control character"));
  const std::string nul = "--b\r\nContent-Disposition: form-data; name=a\0\r\n\r\nv\r\n--b--"s;
  EXPECT_TRUE(contains(multipart_error(nul), "control character"));
}

TEST(ParseMultipart, AHeaderLineWithoutAColonIsRejected) {
  EXPECT_TRUE(contains(multipart_error(crlf("--b\nContent-Disposition: form-data; name=a\nnonsense\n\nv\n--b--")),
                       "without a colon"));
}

TEST(ParseMultipart, AnInvalidHeaderNameIsRejected) {
  EXPECT_TRUE(contains(multipart_error(crlf("--b\nContent-Disposition : form-data; name=a\n\nv\n--b--")),
                       "invalid part header name"));
  EXPECT_TRUE(contains(multipart_error(crlf("--b\n: x\nContent-Disposition: form-data; name=a\n\nv\n--b--")),
                       "invalid part header name"));
}

TEST(ParseMultipart, ARepeatedContentDispositionIsRejected) {
  EXPECT_TRUE(contains(
      multipart_error(crlf("--b\nContent-Disposition: form-data; name=a\ncontent-disposition: form-data; name=b\n\n"
                           "v\n--b--")),
      "repeated content-disposition"));
}

TEST(ParseMultipart, ARepeatedContentTypeIsRejected) {
  EXPECT_TRUE(contains(multipart_error(crlf("--b\nContent-Disposition: form-data; name=a; filename=x\n"
                                            "Content-Type: text/plain\nContent-Type: text/html\n\nv\n--b--")),
                       "repeated Content-Type"));
}

TEST(ParseMultipart, APartWithoutContentDispositionIsRejected) {
  EXPECT_TRUE(
      contains(multipart_error(crlf("--b\nContent-Type: text/plain\n\nv\n--b--")), "without Content-Disposition"));
  EXPECT_TRUE(contains(multipart_error(crlf("--b\n\nv\n--b--")), "without Content-Disposition"));
}

TEST(ParseMultipart, ADispositionOtherThanFormDataIsRejected) {
  EXPECT_TRUE(
      contains(multipart_error(crlf("--b\nContent-Disposition: attachment; name=a\n\nv\n--b--")), "not form-data"));
  EXPECT_TRUE(contains(multipart_error(crlf("--b\nContent-Disposition: \n\nv\n--b--")), "not form-data"));
}

TEST(ParseMultipart, APartWithoutANameIsRejected) {
  EXPECT_TRUE(contains(multipart_error(crlf("--b\nContent-Disposition: form-data; filename=x\n\nv\n--b--")),
                       "part without a name"));
  EXPECT_TRUE(contains(multipart_error(crlf("--b\nContent-Disposition: form-data; name=\"\"\n\nv\n--b--")),
                       "part without a name"));
}

TEST(ParseMultipart, ErrorsAreHTTPInputErrorsThatNameTheFormat) {
  EXPECT_TRUE(multipart_error("").starts_with("multipart/form-data: "));
}

TEST(ParseMultipart, AFailedParseLeavesTheMapsUnchanged) {
  ArgumentMap arguments{{"keep", {"1"}}};
  FileMap files;
  const std::string body =
      field("a", "1") + crlf("--b\nContent-Disposition: form-data; name=f; filename=x\n\nx\n") + field("", "bad");
  EXPECT_THROW(parse_multipart_form_data("b", body + "--b--", arguments, files), HTTPInputError);
  EXPECT_EQ(arguments, (ArgumentMap{{"keep", {"1"}}}));
  EXPECT_TRUE(files.empty());
}

// ---------------------------------------------------------------------------
// parse_body_arguments

TEST(ParseBodyArguments, AnUrlencodedBodyIsAQueryString) {
  ArgumentMap arguments;
  FileMap files;
  parse_body_arguments("application/x-www-form-urlencoded", "a=1&b=x+y&a=%32", arguments, files);
  EXPECT_EQ(arguments, (ArgumentMap{{"a", {"1", "2"}}, {"b", {"x y"}}}));
  EXPECT_TRUE(files.empty());
}

TEST(ParseBodyArguments, TheMediaTypeIsCaseInsensitiveAndMayHaveParameters) {
  ArgumentMap arguments;
  FileMap files;
  parse_body_arguments("Application/X-WWW-Form-URLEncoded; charset=UTF-8", "a=1", arguments, files);
  EXPECT_EQ(arguments, (ArgumentMap{{"a", {"1"}}}));
}

TEST(ParseBodyArguments, AMultipartBodyUsesTheBoundaryParameter) {
  ArgumentMap arguments;
  FileMap files;
  parse_body_arguments("Multipart/Form-Data; charset=utf-8; Boundary=b", field("a", "1") + "--b--", arguments, files);
  EXPECT_EQ(arguments, (ArgumentMap{{"a", {"1"}}}));
}

TEST(ParseBodyArguments, AQuotedBoundaryIsUnquoted) {
  ArgumentMap arguments;
  FileMap files;
  parse_body_arguments("multipart/form-data; boundary=\"a;b c\"",
                       crlf("--a;b c\nContent-Disposition: form-data; name=x\n\n1\n--a;b c--"), arguments, files);
  EXPECT_EQ(arguments, (ArgumentMap{{"x", {"1"}}}));
}

TEST(ParseBodyArguments, AMultipartTypeWithoutABoundaryIsRejected) {
  ArgumentMap arguments;
  FileMap files;
  for (const char* type : {"multipart/form-data", "multipart/form-data; boundary=",
                           "multipart/form-data; boundary=\"\"", "multipart/form-data; boundary"}) {
    try {
      parse_body_arguments(type, "--b--", arguments, files);
      ADD_FAILURE() << type << " was accepted";
    } catch (const HTTPInputError& e) {
      EXPECT_TRUE(contains(e.what(), "no boundary")) << e.what();
    }
  }
}

TEST(ParseBodyArguments, MultipartErrorsAndLimitsPassThrough) {
  ArgumentMap arguments;
  FileMap files;
  EXPECT_THROW(parse_body_arguments("multipart/form-data; boundary=b", "--b\r\n", arguments, files), HTTPInputError);
  EXPECT_THROW(parse_body_arguments("multipart/form-data; boundary=b", field("a", "1") + field("a", "2") + "--b--",
                                    arguments, files, max_parts(1)),
               HTTPInputError);
}

TEST(ParseBodyArguments, OtherContentTypesAreNotParsed) {
  ArgumentMap arguments;
  FileMap files;
  for (const char* type :
       {"", "application/json", "text/plain", "application/x-www-form-urlencodedx", "multipart/mixed; boundary=b"}) {
    EXPECT_NO_THROW(parse_body_arguments(type, "a=1", arguments, files)) << type;
  }
  EXPECT_TRUE(arguments.empty());
  EXPECT_TRUE(files.empty());
}

// ---------------------------------------------------------------------------
// parse_cookie

using CookieMap = std::map<std::string, std::string, std::less<>>;

TEST(ParseCookie, SplitsTrimmedNameValuePairs) {
  EXPECT_EQ(parse_cookie(" a = 1 ;b=2;\tc=x y\t"), (CookieMap{{"a", "1"}, {"b", "2"}, {"c", "x y"}}));
}

TEST(ParseCookie, OnlyTheFirstEqualsSignSplits) { EXPECT_EQ(parse_cookie("a=b=c"), (CookieMap{{"a", "b=c"}})); }

TEST(ParseCookie, AChunkWithoutEqualsIsAValueWithTheEmptyName) {
  EXPECT_EQ(parse_cookie("a=1; lonely"), (CookieMap{{"", "lonely"}, {"a", "1"}}));
}

TEST(ParseCookie, EmptyChunksAreSkipped) {
  EXPECT_EQ(parse_cookie(";; a=1; ;="), (CookieMap{{"a", "1"}}));
  EXPECT_TRUE(parse_cookie("").empty());
}

TEST(ParseCookie, ALaterDuplicateOverwritesAnEarlierOne) {
  EXPECT_EQ(parse_cookie("a=1; a=2"), (CookieMap{{"a", "2"}}));
}

TEST(ParseCookie, AQuotedValueIsUnquotedAsPythonDoes) {
  EXPECT_EQ(parse_cookie(R"(a="x\"y\012z\400\\")").at("a"), "x\"y\nz400\\");
  EXPECT_EQ(parse_cookie(R"(a="")").at("a"), "");
}

TEST(ParseCookie, ABackslashBeforeANewlineOrAtTheEndIsKept) {
  EXPECT_EQ(parse_cookie("a=\"x\\\ny\"").at("a"), "x\\\ny");
  EXPECT_EQ(parse_cookie("a=\"x\\\"").at("a"), "x\\");
}

TEST(ParseCookie, AValueQuotedOnOneSideIsKeptAsIs) {
  EXPECT_EQ(parse_cookie(R"(a="x; b=y")"), (CookieMap{{"a", "\"x"}, {"b", "y\""}}));
  EXPECT_EQ(parse_cookie(R"(a=")").at("a"), "\"");
}

// ---------------------------------------------------------------------------
// format_set_cookie

std::string cookie_error(std::string_view name, std::string_view value, const CookieOptions& options = {}) {
  try {
    format_set_cookie(name, value, options);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(FormatSetCookie, TheDefaultIsPathSlashOnly) { EXPECT_EQ(format_set_cookie("sid", "abc"), "sid=abc; Path=/"); }

TEST(FormatSetCookie, EveryAttributeIsWrittenInAFixedOrder) {
  CookieOptions options;
  options.domain = "example.com";
  options.path = "/app";
  options.expires = 784111777;
  options.max_age = 3600;
  options.secure = true;
  options.httponly = true;
  options.samesite = "Strict";
  EXPECT_EQ(format_set_cookie("sid", "abc", options),
            "sid=abc; Domain=example.com; Path=/app; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=3600; Secure; "
            "HttpOnly; SameSite=Strict");
}

TEST(FormatSetCookie, AnEmptyPathOrValueIsAllowed) {
  CookieOptions options = no_path();
  EXPECT_EQ(format_set_cookie("a", "", options), "a=");
  options.max_age = -1;
  EXPECT_EQ(format_set_cookie("a", "", options), "a=; Max-Age=-1");
}

TEST(FormatSetCookie, SameSiteIsMatchedInAnyCaseAndWrittenCanonically) {
  CookieOptions options = no_path();
  options.samesite = "lax";
  EXPECT_EQ(format_set_cookie("a", "b", options), "a=b; SameSite=Lax");
  options.samesite = "NONE";
  options.secure = true;
  EXPECT_EQ(format_set_cookie("a", "b", options), "a=b; Secure; SameSite=None");
}

TEST(FormatSetCookie, AValueMayHoldBase64AndUtf8Bytes) {
  EXPECT_EQ(format_set_cookie("a", "QUJD+/==\xc3\xa4", no_path()), "a=QUJD+/==\xc3\xa4");
}

TEST(FormatSetCookie, ANameThatIsNotATokenIsRejected) {
  EXPECT_TRUE(contains(cookie_error("", "v"), "name is empty"));
  for (const std::string_view name : {"a b", "a=b", "a;b", "a(b", "a\"b", "a\x7f", "\xc3\xa4"}) {
    EXPECT_TRUE(contains(cookie_error(name, "v"), "name has 0x")) << name;
  }
}

TEST(FormatSetCookie, AValueThatWouldNeedQuotingIsRejected) {
  for (const std::string_view value : std::initializer_list<std::string_view>{
           "a b", "a\"b", "a,b", "a;b", "a\\b", "a\r\nb", "a\x7f", "\tb", std::string_view("\0", 1)}) {
    EXPECT_TRUE(contains(cookie_error("n", value), "value has 0x")) << value;
  }
  EXPECT_TRUE(contains(cookie_error("n", "a;b"), "0x3B"));
}

TEST(FormatSetCookie, ADomainOrPathThatWouldEndTheAttributeIsRejected) {
  CookieOptions domain;
  domain.domain = "a.com; Secure";
  EXPECT_TRUE(contains(cookie_error("n", "v", domain), "domain has 0x3B"));
  CookieOptions path;
  path.path = "/\r\nX-Evil: 1";
  EXPECT_TRUE(contains(cookie_error("n", "v", path), "path has 0x0D"));
}

TEST(FormatSetCookie, AnUnknownSameSiteIsRejected) {
  CookieOptions options;
  options.samesite = "Sometimes";
  EXPECT_TRUE(contains(cookie_error("n", "v", options), "samesite must be"));
}

// ---------------------------------------------------------------------------
// format_http_date

TEST(FormatHttpDate, WritesImfFixdate) {
  EXPECT_EQ(format_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format_http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
  EXPECT_EQ(format_http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
  EXPECT_EQ(format_http_date(1709164800), "Thu, 29 Feb 2024 00:00:00 GMT");
}

TEST(FormatHttpDate, TimesBeyondFourYearDigitsAreClamped) {
  EXPECT_EQ(format_http_date(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(format_http_date(253402300800), "Fri, 31 Dec 9999 23:59:59 GMT");
  EXPECT_EQ(format_http_date(-62135596800), "Mon, 01 Jan 0001 00:00:00 GMT");
  EXPECT_EQ(format_http_date(std::numeric_limits<std::time_t>::min()), "Mon, 01 Jan 0001 00:00:00 GMT");
  EXPECT_EQ(format_http_date(std::numeric_limits<std::time_t>::max()), "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST(FormatHttpDate, TheBufferFormWritesExactly29Chars) {
  struct {
    char before = '#';
    char out[29];
    char after = '#';
  } guarded;
  format_http_date(784111777, guarded.out);
  EXPECT_EQ(std::string_view(guarded.out, 29), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(guarded.before, '#');
  EXPECT_EQ(guarded.after, '#');
}

TEST(FormatHttpDate, ThreadsFormattingAtOnceEachGetTheirOwnDate) {
  const std::vector<std::pair<std::time_t, std::string>> cases = {{0, "Thu, 01 Jan 1970 00:00:00 GMT"},
                                                                  {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},
                                                                  {1709164800, "Thu, 29 Feb 2024 00:00:00 GMT"},
                                                                  {-1, "Wed, 31 Dec 1969 23:59:59 GMT"}};
  std::vector<int> mismatches(cases.size(), 0);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    threads.emplace_back([&, i] {
      char out[29];
      for (int round = 0; round < 20000; ++round) {
        format_http_date(cases[i].first, out);
        if (std::string_view(out, 29) != cases[i].second) ++mismatches[i];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(cases.size(), 0));
}

// ---- HTTP dates, ranges, entity-tags, media types ----

TEST(ParseHttpDate, ReadsTheThreeFormsRfc9110SaysARecipientMustAccept) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), std::optional<std::time_t>(784111777));
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), std::optional<std::time_t>(784111777));
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), std::optional<std::time_t>(784111777));
  EXPECT_EQ(parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"), std::optional<std::time_t>(1709164800));
  EXPECT_EQ(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"), std::optional<std::time_t>(0));
  EXPECT_EQ(parse_http_date("Wed, 01-Jan-25 00:00:00 GMT"), std::nullopt) << "RFC 850 needs the full day name's comma";
}

TEST(ParseHttpDate, IsTheInverseOfFormatHttpDate) {
  for (std::time_t t : {std::time_t{0}, std::time_t{951782400}, std::time_t{1767225599}, std::time_t{4102444800}}) {
    EXPECT_EQ(parse_http_date(format_http_date(t)), std::optional<std::time_t>(t)) << t;
  }
}

TEST(ParseHttpDate, AnythingElseIsNoDate) {
  for (std::string_view text :
       {"", "yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT trailing", "Sun Nov  6 08:49:37 94", "Sun, 06 Nov 19x4 08:49:37 GMT",
        "1994-11-06T08:49:37Z"}) {
    EXPECT_EQ(parse_http_date(text), std::nullopt) << text;
  }
}

TEST(ParseByteRange, OneRangeInEachOfItsThreeForms) {
  auto check = [](std::string_view header, std::uint64_t size, std::uint64_t first, std::uint64_t length) {
    ByteRange range = parse_byte_range(header, size);
    EXPECT_EQ(range.kind, ByteRange::Kind::kSatisfiable) << header;
    EXPECT_EQ(range.first, first) << header;
    EXPECT_EQ(range.length, length) << header;
  };
  check("bytes=0-499", 1000, 0, 500);
  check("bytes=500-999", 1000, 500, 500);
  check("bytes=500-", 1000, 500, 500);
  check("bytes=-200", 1000, 800, 200);
  check("bytes=-5000", 1000, 0, 1000);
  check("bytes=900-5000", 1000, 900, 100);
  check("bytes=999-999", 1000, 999, 1);
  check(" Bytes = 1 - 2 ", 1000, 1, 2);
}

TEST(ParseByteRange, UnsatisfiableWhenNoByteOfTheFileIsAsked) {
  for (std::string_view header : {"bytes=1000-", "bytes=1000-2000", "bytes=-0"}) {
    EXPECT_EQ(parse_byte_range(header, 1000).kind, ByteRange::Kind::kUnsatisfiable) << header;
  }
  EXPECT_EQ(parse_byte_range("bytes=0-", 0).kind, ByteRange::Kind::kUnsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=-500", 0).kind, ByteRange::Kind::kUnsatisfiable) << "found by the fuzzer";
}

TEST(ParseByteRange, IgnoredWhenMalformedOfAnotherUnitOrSeveral) {
  for (std::string_view header :
       {"", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-1", "bytes=0-1,3-4", "items=0-1", "bytes=+1-2",
        "bytes=0x1-2", "bytes=1-2-3", "bytes=99999999999999999999-"}) {
    EXPECT_EQ(parse_byte_range(header, 1000).kind, ByteRange::Kind::kIgnored) << header;
  }
}

TEST(EtagListMatches, WeakComparisonIgnoresTheWeakMarkOnEitherSide) {
  EXPECT_TRUE(etag_list_matches("\"abc\"", "\"abc\"", true));
  EXPECT_TRUE(etag_list_matches("W/\"abc\"", "\"abc\"", true));
  EXPECT_TRUE(etag_list_matches("\"abc\"", "W/\"abc\"", true));
  EXPECT_TRUE(etag_list_matches("\"x\", \"y\" ,W/\"abc\"", "\"abc\"", true));
  EXPECT_TRUE(etag_list_matches(" * ", "\"abc\"", true));
  EXPECT_TRUE(etag_list_matches("\"a,b\", \"c\"", "\"a,b\"", true)) << "a comma inside the quotes";
  EXPECT_FALSE(etag_list_matches("\"abcd\"", "\"abc\"", true));
  EXPECT_FALSE(etag_list_matches("abc", "\"abc\"", true)) << "an unquoted tag is no tag";
  EXPECT_FALSE(etag_list_matches("", "\"abc\"", true));
}

TEST(EtagListMatches, StrongComparisonNeedsTwoEqualStrongTags) {
  EXPECT_TRUE(etag_list_matches("\"abc\"", "\"abc\"", false));
  EXPECT_FALSE(etag_list_matches("W/\"abc\"", "\"abc\"", false));
  EXPECT_FALSE(etag_list_matches("\"abc\"", "W/\"abc\"", false));
  EXPECT_TRUE(etag_list_matches("*", "\"abc\"", false));
}

}  // namespace
}  // namespace whirl
