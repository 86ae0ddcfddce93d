// The WebSocket codec without streams: the UTF-8 check, frames, and
// permessage-deflate's negotiation and compression.
#include <gtest/gtest.h>

#include <string>

#include "whirl/http/utf8_validator.h"
#include "whirl/http/websocket_deflate.h"
#include "whirl/http/websocket_frame.h"

namespace whirl {
namespace {

using namespace std::string_literals;

// ---- UTF-8 ----

TEST(Utf8Validator, AcceptsTextOfEveryLength) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ASCII, longer than one eight-byte word"));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));                               // U+D7FF, just below the surrogates
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));                           // U+10FFFF, the last
}

TEST(Utf8Validator, RefusesOverlongFormsSurrogatesAndWhatIsPastUnicode) {
  EXPECT_FALSE(is_valid_utf8("\xC0\x80")) << "overlong NUL";
  EXPECT_FALSE(is_valid_utf8("\xC1\xBF"));
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\x80")) << "overlong three-byte";
  EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\x80")) << "overlong four-byte";
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80")) << "U+D800, a surrogate";
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80")) << "U+110000";
  EXPECT_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\x80")) << "a continuation with no lead";
  EXPECT_FALSE(is_valid_utf8("\xC3")) << "cut short";
  EXPECT_FALSE(is_valid_utf8("\xE2\x82")) << "cut short";
}

TEST(Utf8Validator, TextSplitAtEveryByteIsJudgedAsAWhole) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    Utf8Validator utf8;
    ASSERT_TRUE(utf8.feed(std::string_view(text).substr(0, cut))) << cut;
    ASSERT_TRUE(utf8.feed(std::string_view(text).substr(cut))) << cut;
    EXPECT_TRUE(utf8.complete()) << cut;
  }
}

TEST(Utf8Validator, FailsAtTheFirstBadByteNotAtTheEnd) {
  Utf8Validator utf8;
  EXPECT_TRUE(utf8.feed("fine so far \xCE"));
  EXPECT_FALSE(utf8.complete()) << "mid-character";
  EXPECT_FALSE(utf8.feed("\xFF")) << "CE FF cannot be continued into valid text";
  EXPECT_FALSE(utf8.feed("more")) << "a failed validator stays failed";
  utf8.reset();
  EXPECT_TRUE(utf8.feed("ok"));
}

// ---- frames ----

const FrameRules kServerReads{.expect_masked = true, .allow_rsv1 = false};
const FrameRules kClientReads{.expect_masked = false, .allow_rsv1 = false};

TEST(Frame, ParsesTheRfcExamples) {
  // RFC 6455 §5.7: an unmasked and a masked "Hello".
  FrameHeaderResult unmasked = parse_frame_header("\x81\x05Hello", kClientReads);
  ASSERT_EQ(unmasked.status, FrameHeaderResult::kOk);
  EXPECT_TRUE(unmasked.header.fin);
  EXPECT_EQ(unmasked.header.opcode, Opcode::kText);
  EXPECT_EQ(unmasked.header.payload_length, 5u);
  EXPECT_EQ(unmasked.header.header_size, 2u);

  std::string masked = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
  FrameHeaderResult got = parse_frame_header(masked, kServerReads);
  ASSERT_EQ(got.status, FrameHeaderResult::kOk);
  EXPECT_EQ(got.header.header_size, 6u);
  std::string payload = masked.substr(6);
  apply_mask(payload.data(), payload.size(), got.header.mask_key);
  EXPECT_EQ(payload, "Hello");
}

TEST(Frame, LengthsOf126AndAboveUseTheLongerForms) {
  for (std::uint64_t length : {125ULL, 126ULL, 65535ULL, 65536ULL, 1ULL << 32}) {
    std::string wire;
    append_frame_header(wire, Opcode::kBinary, length, {});
    FrameHeaderResult got = parse_frame_header(wire, kClientReads);
    ASSERT_EQ(got.status, FrameHeaderResult::kOk) << length;
    EXPECT_EQ(got.header.payload_length, length);
    EXPECT_EQ(got.header.header_size, length < 126 ? 2u : length <= 65535 ? 4u : 10u);
    // Any shorter prefix is incomplete, never an error.
    for (std::size_t cut = 0; cut < wire.size(); ++cut) {
      EXPECT_EQ(parse_frame_header(std::string_view(wire).substr(0, cut), kClientReads).status,
                FrameHeaderResult::kIncomplete);
    }
  }
}

TEST(Frame, AHeaderThatBreaksTheRulesIsAProtocolError) {
  auto code_of = [](std::string bytes, const FrameRules& rules) {
    FrameHeaderResult got = parse_frame_header(bytes, rules);
    return got.status == FrameHeaderResult::kError ? got.close_code : 0;
  };
  EXPECT_EQ(code_of("\xA1\x80xxxx"s, kServerReads), 1002) << "RSV2";
  EXPECT_EQ(code_of("\x91\x80xxxx"s, kServerReads), 1002) << "RSV3";
  EXPECT_EQ(code_of("\xC1\x80xxxx"s, kServerReads), 1002) << "RSV1 with no extension";
  EXPECT_EQ(code_of("\xC1\x80xxxx"s, {.expect_masked = true, .allow_rsv1 = true}), 0) << "RSV1 with deflate";
  EXPECT_EQ(code_of("\x83\x80xxxx"s, kServerReads), 1002) << "reserved data opcode";
  EXPECT_EQ(code_of("\x8B\x80xxxx"s, kServerReads), 1002) << "reserved control opcode";
  EXPECT_EQ(code_of("\x09\x80xxxx"s, kServerReads), 1002) << "fragmented ping";
  EXPECT_EQ(code_of("\x89\xFE\x00\x7E"s, kServerReads), 1002) << "ping of 126 bytes";
  EXPECT_EQ(code_of("\x81\x05Hello"s, kServerReads), 1002) << "unmasked from a client";
  EXPECT_EQ(code_of("\x81\x85xxxxHello"s, kClientReads), 1002) << "masked from a server";
  EXPECT_EQ(code_of("\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00"s, kClientReads), 1002) << "64-bit length, top bit";
}

TEST(Frame, AMaskAppliedPieceByPieceMatchesOneApplication) {
  const MaskKey key{0x12, 0x34, 0x56, 0x78};
  std::string text = "a payload long enough for several words of the mask, and a tail";
  std::string whole = text;
  apply_mask(whole.data(), whole.size(), key);
  std::string pieces = text;
  for (std::size_t at = 0; at < pieces.size(); at += 7) {
    std::size_t n = std::min<std::size_t>(7, pieces.size() - at);
    apply_mask(pieces.data() + at, n, key, at);
  }
  EXPECT_EQ(pieces, whole);
  apply_mask(whole.data(), whole.size(), key);
  EXPECT_EQ(whole, text) << "masking twice gives the text back";
}

TEST(Frame, AWrittenFrameReadsBack) {
  std::string wire;
  const MaskKey key{1, 2, 3, 4};
  append_frame(wire, Opcode::kBinary, "bytes", {.fin = false, .mask_key = key});
  FrameHeaderResult got = parse_frame_header(wire, kServerReads);
  ASSERT_EQ(got.status, FrameHeaderResult::kOk);
  EXPECT_FALSE(got.header.fin);
  EXPECT_EQ(got.header.opcode, Opcode::kBinary);
  std::string payload = wire.substr(got.header.header_size);
  EXPECT_NE(payload, "bytes") << "masked on the wire";
  apply_mask(payload.data(), payload.size(), got.header.mask_key);
  EXPECT_EQ(payload, "bytes");
}

TEST(Frame, CloseCodesAreThoseTheRegistryAllows) {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
    EXPECT_TRUE(is_valid_close_code(static_cast<std::uint16_t>(code))) << code;
  }
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_FALSE(is_valid_close_code(static_cast<std::uint16_t>(code))) << code;
  }
}

TEST(Frame, ACloseReasonIsCutToFitOnACharacterBoundary) {
  std::string reason;
  for (int i = 0; i < 60; ++i) reason += "\xC3\xA9";  // 120 bytes of é
  reason += "\xE2\x82\xAC\xE2\x82\xAC";               // then 6 bytes: 126 in all
  std::string payload = close_payload(1000, reason);
  EXPECT_LE(payload.size(), 125u);
  EXPECT_EQ(payload.substr(0, 2), "\x03\xE8");
  EXPECT_TRUE(is_valid_utf8(payload.substr(2)));
  EXPECT_EQ(close_payload(close_code::kNoStatus, "ignored"), "") << "no code, no payload";
}

TEST(MessageFraming, ContinuationsBelongToAMessageAndMessagesDoNotNest) {
  auto header = [](Opcode opcode, bool fin, bool rsv1 = false) {
    FrameHeader h;
    h.opcode = opcode;
    h.fin = fin;
    h.rsv1 = rsv1;
    return h;
  };
  MessageFraming framing;
  EXPECT_EQ(framing.next(header(Opcode::kContinuation, true)).close_code, 1002) << "nothing to continue";
  EXPECT_EQ(framing.next(header(Opcode::kText, false)).close_code, 0);
  EXPECT_TRUE(framing.in_message());
  EXPECT_EQ(framing.next(header(Opcode::kPing, true)).close_code, 0) << "control frames may come between";
  EXPECT_EQ(framing.next(header(Opcode::kBinary, true)).close_code, 1002) << "a message inside a message";
  MessageFraming second;
  second.next(header(Opcode::kText, false, true));
  EXPECT_EQ(second.next(header(Opcode::kContinuation, false, true)).close_code, 1002) << "RSV1 on a continuation";
  MessageFraming third;
  third.next(header(Opcode::kBinary, false));
  EXPECT_EQ(third.next(header(Opcode::kContinuation, true)).close_code, 0);
  EXPECT_FALSE(third.in_message());
  EXPECT_EQ(third.message_opcode(), Opcode::kBinary);
}

// ---- permessage-deflate ----

TEST(DeflateNegotiation, AServerAcceptsTheFirstOfferItCanHonour) {
  DeflateOptions options;
  std::optional<DeflateAgreement> agreed = accept_deflate_offer(
      "permessage-deflate; server_max_window_bits=8, x-webkit-deflate-frame, "
      "permessage-deflate; client_max_window_bits; server_no_context_takeover",
      options);
  ASSERT_TRUE(agreed.has_value());
  EXPECT_TRUE(agreed->server_no_context_takeover) << "the second offer, not the first (an 8-bit window)";
  EXPECT_EQ(agreed->response_header(), "permessage-deflate; server_no_context_takeover");
}

TEST(DeflateNegotiation, InvalidOffersAreDeclined) {
  DeflateOptions options;
  EXPECT_FALSE(accept_deflate_offer("permessage-deflate; unknown_param", options));
  EXPECT_FALSE(
      accept_deflate_offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover", options));
  EXPECT_FALSE(accept_deflate_offer("permessage-deflate; server_max_window_bits=16", options));
  EXPECT_FALSE(accept_deflate_offer("permessage-deflate; server_max_window_bits=010", options));
  EXPECT_FALSE(accept_deflate_offer("permessage-deflate; client_no_context_takeover=1", options));
  EXPECT_FALSE(accept_deflate_offer("x-other-extension", options));
  EXPECT_TRUE(accept_deflate_offer("permessage-deflate; server_max_window_bits=\"10\"", options))
      << "a quoted value is the same value";
}

TEST(DeflateNegotiation, AClientChecksTheServersAnswer) {
  DeflateOptions options;
  EXPECT_NE(deflate_offer(options).find("client_max_window_bits"), std::string::npos);
  DeflateAgreement agreed = accept_deflate_response("permessage-deflate; server_max_window_bits=10", options);
  EXPECT_EQ(agreed.server_max_window_bits, 10);
  EXPECT_THROW(accept_deflate_response("permessage-deflate; bogus", options), DeflateNegotiationError);
  EXPECT_THROW(accept_deflate_response("permessage-deflate, permessage-deflate", options), DeflateNegotiationError);
  EXPECT_THROW(accept_deflate_response("permessage-deflate; client_max_window_bits=8", options),
               DeflateNegotiationError);
}

TEST(PerMessageDeflate, InflatesTheRfcExample) {
  // RFC 7692 §7.2.3.1: "Hello" compressed, the flush marker left off.
  PerMessageDeflate codec(DeflateAgreement{}, /*is_server=*/true, {});
  std::string payload = "\xf2\x48\xcd\xc9\xc9\x07\x00"s;
  std::string out;
  codec.decompress(payload, out, 1024);
  EXPECT_EQ(out, "Hello");
}

TEST(PerMessageDeflate, MessagesRoundTripWithAndWithoutContextTakeover) {
  for (bool takeover : {true, false}) {
    DeflateAgreement agreement;
    agreement.server_no_context_takeover = !takeover;
    agreement.client_no_context_takeover = !takeover;
    PerMessageDeflate server(agreement, true, {});
    PerMessageDeflate client(agreement, false, {});
    std::size_t sizes[2];
    for (int round = 0; round < 2; ++round) {
      std::string message(2000, 'x');
      message += "the same message twice";
      std::string wire;
      server.compress(message, wire);
      EXPECT_NE(wire.substr(wire.size() >= 4 ? wire.size() - 4 : 0), "\x00\x00\xff\xff"s) << "marker left off";
      sizes[round] = wire.size();
      std::string out;
      client.decompress(wire, out, 1 << 20);
      EXPECT_EQ(out, message);
    }
    if (takeover) {
      EXPECT_LT(sizes[1], sizes[0]) << "the window remembers the first message";
      EXPECT_TRUE(server.holds_compressor());
    } else {
      EXPECT_EQ(sizes[1], sizes[0]) << "each message starts empty";
      EXPECT_FALSE(server.holds_compressor()) << "no zlib state held between messages";
      EXPECT_FALSE(client.holds_decompressor());
    }
  }
}

TEST(PerMessageDeflate, AnEmptyMessageBetweenOthersKeepsBothWindowsInStep) {
  // After a flush, zlib compresses an empty message to nothing; the reader
  // appends the 4-byte marker, which is only a block after a header byte.
  PerMessageDeflate sender(DeflateAgreement{}, true, {});
  PerMessageDeflate receiver(DeflateAgreement{}, false, {});
  for (std::string message : {"hello"s, ""s, "caf\xC3\xA9 \xE2\x82\xAC"s, ""s, ""s, "end"s}) {
    std::string wire;
    sender.compress(message, wire);
    EXPECT_FALSE(wire.empty()) << "an empty message is sent as one 0x00";
    std::string out;
    receiver.decompress(wire, out, 1024);
    EXPECT_EQ(out, message);
  }
  // What another sender may do: an empty payload for an empty message.
  std::string nothing;
  std::string out;
  receiver.decompress(nothing, out, 1024);
  EXPECT_EQ(out, "");
  std::string wire;
  sender.compress("after nothing", wire);
  receiver.decompress(wire, out, 1024);
  EXPECT_EQ(out, "after nothing");
}

TEST(PerMessageDeflate, ABombIsRefusedAtItsLimit) {
  PerMessageDeflate sender(DeflateAgreement{}, false, {});
  PerMessageDeflate receiver(DeflateAgreement{}, true, {});
  std::string wire;
  sender.compress(std::string(10 * 1024 * 1024, '\0'), wire);
  EXPECT_LT(wire.size(), 20'000u);
  std::string out;
  try {
    receiver.decompress(wire, out, 1024 * 1024);
    FAIL() << "inflated past the limit";
  } catch (const DeflateDataError& error) {
    EXPECT_TRUE(error.too_big());
  }
  EXPECT_LE(out.size(), 1024u * 1024u + 64 * 1024u) << "never much past the limit";
}

TEST(PerMessageDeflate, GarbageIsInvalidDataNotACrash) {
  PerMessageDeflate receiver(DeflateAgreement{}, true, {});
  std::string payload = "\xff\xff\xff\xff garbage";
  std::string out;
  try {
    receiver.decompress(payload, out, 1024);
    FAIL() << "garbage inflated";
  } catch (const DeflateDataError& error) {
    EXPECT_FALSE(error.too_big());
  }
}

}  // namespace
}  // namespace whirl
