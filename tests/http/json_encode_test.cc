// Tornado's json_encode (whirl/http/json_encode.h): the same text as
// nlohmann's dump() with "</" escaped, whichever path a value takes.
#include "whirl/http/json_encode.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace whirl {
namespace {

// The reference: dump() (invalid UTF-8 replaced), then every "</" as "<\/".
std::string reference(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (std::size_t at = text.find("</"); at != std::string::npos; at = text.find("</", at + 3)) {
    text.insert(at + 1, 1, '\\');
  }
  return text;
}

std::string encoded(const nlohmann::json& value) {
  std::string out;
  json_encode(value, out);
  return out;
}

TEST(JsonEncode, ADocumentIsWrittenAsDumpWritesIt) {
  nlohmann::json document = {{"id", 1000},
                             {"name", "Espresso machine"},
                             {"price", 19.5},
                             {"whole", 100.0},
                             {"tiny", 1e-300},
                             {"huge", 1e300},
                             {"million", 1e6},
                             {"exponent", 1.5e17},
                             {"negative_zero", -0.0},
                             {"third", 1.0 / 3},
                             {"nan", std::nan("")},
                             {"infinity", HUGE_VAL},
                             {"minus_infinity", -HUGE_VAL},
                             {"negative", -42},
                             {"big", std::uint64_t{18446744073709551615ULL}},
                             {"smallest", std::int64_t{-9223372036854775807LL - 1}},
                             {"active", true},
                             {"gone", false},
                             {"nothing", nullptr},
                             {"tags", {"coffee", "sku-1000", 3, 2.5, nullptr}},
                             {"empty_object", nlohmann::json::object()},
                             {"empty_array", nlohmann::json::array()},
                             {"", ""},
                             {"nested", {{"a", {{"b", {1, 2, {{"c", "d"}}}}}}}}};
  EXPECT_EQ(encoded(document), reference(document));
}

TEST(JsonEncode, StringsThatNeedEscapingAreEscapedAsDumpDoes) {
  const char* strings[] = {"quote \" inside",
                           "back\\slash",
                           "tab\tnew\nline\r",
                           "\x01\x1f control",
                           "DEL \x7f",
                           "caf\xc3\xa9 and \xe2\x82\xac",
                           "\xf0\x9f\x98\x80 emoji",
                           "bad \xff utf-8",
                           "cut \xe2\x82",
                           "</script>",
                           "a</b</c",
                           "<",
                           "/",
                           "<<//",
                           "\\u0000"};
  for (const char* text : strings) {
    nlohmann::json value = {{text, text}};
    EXPECT_EQ(encoded(value), reference(value)) << text;
  }
  EXPECT_EQ(encoded({{"x", "</script>"}}), R"({"x":"<\/script>"})");
}

TEST(JsonEncode, EveryByteValueAtEveryPositionOfAStringMatchesDump) {
  // Short strings go byte by byte; from 8 bytes, eight at a time.
  for (std::size_t length : {3UL, 17UL}) {
    for (std::size_t at = 0; at < length; ++at) {
      for (int c = 0; c < 256; ++c) {
        std::string text(length, 'm');
        text[at] = static_cast<char>(c);
        nlohmann::json value = {{"k", text}};
        ASSERT_EQ(encoded(value), reference(value)) << "byte " << c << " at " << at << " of " << length;
      }
    }
  }
}

TEST(JsonEncode, RandomDocumentsMatchDump) {
  std::mt19937 random(17);
  auto random_string = [&] {
    std::string text(random() % 12, '\0');
    for (char& c : text) c = static_cast<char>(random() % 4 == 0 ? random() % 256 : 'a' + random() % 26);
    return text;
  };
  std::function<nlohmann::json(int)> make = [&](int depth) -> nlohmann::json {
    switch (depth > 3 ? random() % 5 : random() % 7) {
      case 0:
        return static_cast<std::int64_t>(random()) - (1LL << 31);
      case 1:
        return static_cast<double>(random()) / 1000.0;
      case 2:
        return random_string();
      case 3:
        return random() % 2 == 0;
      case 4:
        return nullptr;
      case 5: {
        nlohmann::json array = nlohmann::json::array();
        for (unsigned i = random() % 4; i > 0; --i) array.push_back(make(depth + 1));
        return array;
      }
      default: {
        nlohmann::json object = nlohmann::json::object();
        for (unsigned i = random() % 4; i > 0; --i) object[random_string()] = make(depth + 1);
        return object;
      }
    }
  };
  for (int i = 0; i < 500; ++i) {
    nlohmann::json document = {{"root", make(0)}};
    ASSERT_EQ(encoded(document), reference(document))
        << document.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  }
}

TEST(JsonEncode, TextIsAppendedToWhatTheBufferHolds) {
  std::string out = "head:";
  json_encode({{"a", 1}}, out);
  EXPECT_EQ(out, R"(head:{"a":1})");
}

}  // namespace
}  // namespace whirl
