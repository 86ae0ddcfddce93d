#include "whirl/net/iostream.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "whirl/net/internal/buffer_ring.h"
#include "whirl/net/tcpclient.h"
#include "whirl/net/tcpserver.h"
#include "whirl/runtime/errors.h"
#include "whirl/runtime/file.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/locks.h"
#include "whirl/testing/log_capture.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;

// Streams over a socketpair: `a` is the stream under test, `peer` a plain
// socket the test writes to and reads from directly.
struct Pair {
  explicit Pair(IOStream::Options options = {}) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error("pair");
    stream = std::make_unique<IOStream>(Socket::adopt(sv[0]), options);
    peer = Socket::adopt(sv[1]);
  }
  void send(const std::string& data) const {
    ASSERT_EQ(::send(peer.native_handle(), data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
  }
  std::unique_ptr<IOStream> stream;
  Socket peer;
};

// Runs `body` to completion on a fresh loop, failing the test after 10 s.
template <typename F>
void run(F body) {
  IOLoop loop;
  auto task = body();
  loop.run_sync(with_timeout(10s, std::move(task)));
}

TEST(IOStream, ReadUntilAndReadBytesSplitTheStream) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody!");
    std::string head = co_await pair.stream->read_until("\r\n\r\n");
    EXPECT_EQ(head, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string body = co_await pair.stream->read_bytes(5);
    EXPECT_EQ(body, "body!");
  });
}

TEST(IOStream, WaitForBytesLeavesTheDataInPlaceForPeekAndConsume) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("GET / HTTP/1.1\r\n");
    std::size_t have = co_await pair.stream->wait_for_bytes(5);
    EXPECT_GE(have, 5u);
    std::string_view view = pair.stream->peek_buffer();
    EXPECT_EQ(view.substr(0, 4), "GET ");
    pair.stream->consume_buffer(4);
    std::string rest = co_await pair.stream->read_until("\r\n");
    EXPECT_EQ(rest, "/ HTTP/1.1\r\n");
  });
}

TEST(IOStream, WaitForBytesFailsWhenThePeerClosesShortButKeepsWhatCame) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("abc");
    pair.peer = Socket();
    bool failed = false;
    try {
      co_await pair.stream->wait_for_bytes(10);
    } catch (const StreamClosedError&) {
      failed = true;
    }
    EXPECT_TRUE(failed);
    EXPECT_EQ(pair.stream->peek_buffer(), "abc");
  });
}

TEST(IOStream, WaitForBytesWithADeadlineThrowsTimeoutErrorAndKeepsWhatCame) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("ab");
    bool timed_out = false;
    try {
      co_await pair.stream->wait_for_bytes(5, Clock::now() + 50ms);
    } catch (const TimeoutError&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(pair.stream->peek_buffer(), "ab");
    EXPECT_FALSE(pair.stream->closed()) << "a deadline ends the wait, not the stream";
    pair.send("cde");
    std::string all = co_await pair.stream->read_bytes(5);
    EXPECT_EQ(all, "abcde");
  });
}

TEST(IOStream, WaitForBytesWithADeadlineReturnsWhenTheBytesComeFirstAndDropsItsTimer) {
  run([]() -> Task<void> {
    Pair pair;
    IOLoop& loop = IOLoop::current();
    std::size_t timers_before = loop.timers_pending();
    loop.call_later(20ms, [&] { pair.send("abc"); });
    std::size_t have = co_await pair.stream->wait_for_bytes(3, Clock::now() + 10s);
    EXPECT_EQ(have, 3u);
    EXPECT_EQ(loop.timers_pending(), timers_before) << "the 10 s deadline's timer is removed";
  });
}

TEST(IOStream, CancellingAWaitWithADeadlineDropsItsTimer) {
  run([]() -> Task<void> {
    Pair pair;
    IOLoop& loop = IOLoop::current();
    std::size_t timers_before = loop.timers_pending();
    auto waiting = [](IOStream& stream) -> Task<std::size_t> {
      co_return co_await stream.wait_for_bytes(1, Clock::now() + 10s);
    };
    bool timed_out = false;
    try {
      Task<std::size_t> bounded = with_timeout(20ms, waiting(*pair.stream));
      co_await std::move(bounded);
    } catch (const TimeoutError&) {
      timed_out = true;  // with_timeout's, by cancelling the wait
    }
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(loop.timers_pending(), timers_before);
    pair.send("x");
    std::string next = co_await pair.stream->read_bytes(1);
    EXPECT_EQ(next, "x") << "the stream reads on after the cancelled wait";
  });
}

// Destroying a stream reaps its receive synchronously (cancel_and_wait),
// which can reap another stream's data with it. That data must be delivered
// this turn, not when some unrelated completion next wakes the loop.
TEST(IOStream, DataReapedWhileAnotherStreamIsDestroyedIsDeliveredAtOnce) {
  run([]() -> Task<void> {
    auto doomed = std::make_unique<Pair>();
    doomed->send("a");
    std::string first = co_await doomed->stream->read_bytes(1);  // its receive stays armed
    EXPECT_EQ(first, "a");
    Pair reader;
    std::string got;
    Event done;
    IOLoop::current().spawn([](IOStream& stream, std::string& out, Event& event) -> Task<void> {
      out = co_await stream.read_bytes(1);
      event.set();
    }(*reader.stream, got, done));
    co_await moment();
    co_await moment();  // the reader's receive is in the kernel
    reader.send("x");
    doomed.reset();  // cancel_and_wait reaps the reader's data along with its own
    // Stranded data would wait for the next wake-up, here the 2 s timer:
    // delivery must not need it (it takes microseconds when right).
    auto start = std::chrono::steady_clock::now();
    co_await done.wait(2s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_EQ(got, "x");
  });
}

TEST(IOStream, HeldWritesStayQueuedUntilTheHoldLifts) {
  run([]() -> Task<void> {
    Pair pair;
    pair.stream->hold_flush(true);
    pair.stream->write("one ");
    co_await moment();
    co_await moment();
    char buffer[64];
    ssize_t early = ::recv(pair.peer.native_handle(), buffer, sizeof buffer, MSG_DONTWAIT);
    EXPECT_EQ(early, -1);  // nothing has left while held
    pair.stream->write("two");
    pair.stream->hold_flush(false);
    co_await pair.stream->write("");
    ssize_t n = ::recv(pair.peer.native_handle(), buffer, sizeof buffer, 0);
    EXPECT_EQ(std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0), "one two");
  });
}

TEST(IOStream, AWriterWaitingOnAHeldStreamLiftsTheHold) {
  run([]() -> Task<void> {
    Pair pair;
    pair.stream->hold_flush(true);
    co_await pair.stream->write("x");  // would never complete if the hold stayed
    char c = 0;
    EXPECT_EQ(::recv(pair.peer.native_handle(), &c, 1, 0), 1);
    EXPECT_EQ(c, 'x');
  });
}

TEST(IOStream, ReadBytesZeroReturnsEmptyAtOnce) {
  run([]() -> Task<void> {
    Pair pair;
    std::string nothing = co_await pair.stream->read_bytes(0);
    EXPECT_EQ(nothing, "");
  });
}

TEST(IOStream, PartialReadBytesReturnsWhatIsThere) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("abc");
    std::string some = co_await pair.stream->read_bytes(100, true);
    EXPECT_EQ(some, "abc");
  });
}

TEST(IOStream, ReadIntoFillsTheCallersBuffer) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("0123456789");
    char buffer[4];
    std::size_t n = co_await pair.stream->read_into(std::span<char>(buffer, 4));
    EXPECT_EQ(n, 4u);
    EXPECT_EQ(std::string(buffer, 4), "0123");
    char rest[16];
    n = co_await pair.stream->read_into(std::span<char>(rest, 16), true);
    EXPECT_EQ(std::string(rest, n), "456789");
  });
}

Task<void> second_read(IOStream* stream, bool* threw) {
  try {
    co_await stream->read_bytes(1);
  } catch (const std::logic_error&) {
    *threw = true;
  }
}

TEST(IOStream, OnlyOneReadMayBeOutstanding) {
  run([]() -> Task<void> {
    Pair pair;
    bool threw = false;
    Task<std::string> first = [](IOStream* s) -> Task<std::string> {
      co_return co_await s->read_bytes(3);
    }(pair.stream.get());
    Task<void> second = second_read(pair.stream.get(), &threw);
    Task<void> feed = [](Pair* p) -> Task<void> {
      co_await sleep(5ms);
      p->send("xyz");
    }(&pair);
    auto [got, unused1, unused2] = co_await gather(std::move(first), std::move(second), std::move(feed));
    EXPECT_EQ(got, "xyz");
    EXPECT_TRUE(threw);
  });
}

TEST(IOStream, BytesThatArrivedBeforeThePeerClosedStayReadable) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("line one\nline two\n");
    pair.peer.close();
    co_await sleep(5ms);
    std::string one = co_await pair.stream->read_until("\n");
    std::string two = co_await pair.stream->read_until("\n");
    EXPECT_EQ(one, "line one\n");
    EXPECT_EQ(two, "line two\n");
    bool closed_error = false;
    try {
      co_await pair.stream->read_bytes(1);
    } catch (const StreamClosedError& e) {
      closed_error = true;
      EXPECT_EQ(e.real_error(), 0) << "a clean end of file";
    }
    EXPECT_TRUE(closed_error);
  });
}

TEST(IOStream, ReadUntilCloseReturnsEverything) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("all of it");
    pair.peer.close();
    std::string all = co_await pair.stream->read_until_close();
    EXPECT_EQ(all, "all of it");
  });
}

Task<std::string> read_until_outcome(IOStream* stream, std::string delimiter, std::size_t max_bytes) {
  try {
    std::string data = co_await stream->read_until(delimiter, max_bytes);
    co_return "read " + data;
  } catch (const StreamClosedError&) {
    co_return "closed";
  }
}

TEST(IOStream, ReadUntilPastMaxBytesLogsClosesAndFails) {
  testing::LogCapture logs;
  run([]() -> Task<void> {
    Pair pair;
    pair.send(std::string(100, 'a'));
    std::string outcome = co_await read_until_outcome(pair.stream.get(), "\r\n", 50);
    EXPECT_EQ(outcome, "closed");
    EXPECT_TRUE(pair.stream->closed());
  });
  EXPECT_TRUE(logs.contains(log::Level::kInfo, "Unsatisfiable read"));
}

TEST(IOStream, ADelimiterBeyondMaxBytesInTheSamePacketIsUnsatisfiable) {
  testing::LogCapture logs;
  run([]() -> Task<void> {
    Pair pair;
    pair.send(std::string(60, 'a') + "\r\n");
    std::string outcome = co_await read_until_outcome(pair.stream.get(), "\r\n", 50);
    EXPECT_EQ(outcome, "closed");
  });
  EXPECT_TRUE(logs.contains(log::Level::kInfo, "Unsatisfiable read"));
}

TEST(IOStream, CloseWhileAReadWaitsFailsIt) {
  run([]() -> Task<void> {
    Pair pair;
    Task<std::string> reader = read_until_outcome(pair.stream.get(), "\n", 0);
    Task<void> closer = [](IOStream* s) -> Task<void> {
      co_await sleep(5ms);
      s->close();
    }(pair.stream.get());
    auto [outcome, unused] = co_await gather(std::move(reader), std::move(closer));
    EXPECT_EQ(outcome, "closed");
  });
}

TEST(IOStream, ADelimiterThatArrivesWithTheCloseStillCompletesTheRead) {
  run([]() -> Task<void> {
    Pair pair;
    Task<std::string> reader = read_until_outcome(pair.stream.get(), "\n", 0);
    Task<void> sender = [](Pair* p) -> Task<void> {
      co_await sleep(5ms);
      p->send("last line\n");
      p->peer.close();
    }(&pair);
    auto [outcome, unused] = co_await gather(std::move(reader), std::move(sender));
    EXPECT_EQ(outcome, "read last line\n");
  });
}

TEST(IOStream, ASmallMaxBufferSizeAppliesBackpressureInsteadOfFailing) {
  run([]() -> Task<void> {
    IOStream::Options options;
    options.max_buffer_size = 10 * 1024;
    Pair pair(options);
    std::string sent;
    for (int i = 0; i < 100 * 1024; ++i) sent.push_back(static_cast<char>('a' + i % 26));
    // The peer writes everything at once from a thread (the socket buffer
    // alone would not hold it while the reader is slow).
    std::thread writer([&pair, &sent] {
      std::size_t off = 0;
      while (off < sent.size()) {
        ssize_t n = ::send(pair.peer.native_handle(), sent.data() + off, sent.size() - off, MSG_NOSIGNAL);
        if (n > 0)
          off += static_cast<std::size_t>(n);
        else
          std::this_thread::sleep_for(1ms);
      }
    });
    std::string received;
    for (int i = 0; i < 100; ++i) {
      received += co_await pair.stream->read_bytes(1024);
      EXPECT_LE(pair.stream->buffered(), options.max_buffer_size + 64 * 1024);
    }
    writer.join();
    EXPECT_EQ(received, sent);
  });
}

TEST(IOStream, ReadUntilOverFourMegabytesCompletes) {
  run([]() -> Task<void> {
    Pair pair;
    std::string body(4 * 1024 * 1024, 'x');
    std::thread writer([&pair, &body] {
      std::string all = body + "\r\n\r\n";
      std::size_t off = 0;
      while (off < all.size()) {
        ssize_t n = ::send(pair.peer.native_handle(), all.data() + off, std::min<std::size_t>(4096, all.size() - off),
                           MSG_NOSIGNAL);
        if (n > 0)
          off += static_cast<std::size_t>(n);
        else
          std::this_thread::sleep_for(100us);
      }
    });
    std::string got = co_await pair.stream->read_until("\r\n\r\n");
    writer.join();
    EXPECT_EQ(got.size(), body.size() + 4);
  });
}

TEST(IOStream, WritesOfOneTurnLeaveAsOneSend) {
  run([]() -> Task<void> {
    Pair pair;
    pair.stream->write("a");
    pair.stream->write("b");
    co_await pair.stream->write("c");
    char buffer[8];
    ssize_t n = ::recv(pair.peer.native_handle(), buffer, sizeof buffer, 0);
    EXPECT_EQ(std::string(buffer, n > 0 ? n : 0), "abc");
  });
}

TEST(IOStream, WriteToAClosedStreamThrowsStreamClosedError) {
  run([]() -> Task<void> {
    Pair pair;
    pair.stream->close();
    EXPECT_THROW(pair.stream->write("x"), StreamClosedError);
    co_return;
  });
}

TEST(IOStream, MaxWriteBufferSizeThrowsStreamBufferFullError) {
  run([]() -> Task<void> {
    IOStream::Options options;
    options.max_write_buffer_size = 10;
    Pair pair(options);
    pair.stream->write("12345");
    EXPECT_THROW(pair.stream->write("1234567"), StreamBufferFullError);
    co_return;
  });
}

TEST(IOStream, APeerResetClosesQuietlyWithTheErrno) {
  testing::LogCapture logs;
  run([]() -> Task<void> {
    std::vector<Socket> listeners = bind_sockets(0, "127.0.0.1");
    int port = listeners.front().local_address().port();
    std::unique_ptr<IOStream> accepted;
    Event ready;
    AcceptHandle handle = add_accept_handler(std::move(listeners.front()), [&](Socket s, SocketAddress) {
      accepted = std::make_unique<IOStream>(std::move(s));
      ready.set();
    });
    std::unique_ptr<IOStream> client = co_await TCPClient::connect("127.0.0.1", port);
    co_await ready.wait();
    // SO_LINGER 0 turns close() into a reset.
    linger hard{1, 0};
    setsockopt(client->socket().native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    client.reset();
    int error = -1;
    try {
      co_await accepted->read_bytes(1);
    } catch (const StreamClosedError& e) {
      error = e.real_error();
    }
    EXPECT_EQ(error, ECONNRESET);
    EXPECT_EQ(accepted->error(), ECONNRESET);
  });
  EXPECT_EQ(logs.count_at_least(log::Level::kWarning), 0u);
}

TEST(IOStream, AnExhaustedBufferRingReArmsInsteadOfClosing) {
  run([]() -> Task<void> {
    // 300 streams with 20 KB waiting each need ~600 ring buffers at once;
    // the ring has 256, so some receives end with -ENOBUFS.
    constexpr int kStreams = 300;
    std::vector<std::unique_ptr<Pair>> pairs;
    std::string payload(20'000, 'p');
    for (int i = 0; i < kStreams; ++i) {
      pairs.push_back(std::make_unique<Pair>());
      pairs.back()->send(payload);
    }
    std::vector<Task<std::string>> reads;
    for (auto& pair : pairs) {
      reads.push_back(
          [](IOStream* s) -> Task<std::string> { co_return co_await s->read_bytes(20'000); }(pair->stream.get()));
    }
    std::vector<std::string> results = co_await gather(std::move(reads));
    for (const std::string& result : results) EXPECT_EQ(result, payload);
    for (auto& pair : pairs) EXPECT_FALSE(pair->stream->closed());
    EXPECT_GT(BufferRing::of(IOLoop::current()).exhausted(), 0u) << "the -ENOBUFS path was exercised";
  });
}

TEST(IOStream, WritingToAVanishedPeerFailsWithoutSignalOrWarning) {
  testing::LogCapture logs;
  run([]() -> Task<void> {
    Pair pair;
    pair.peer.close();
    int error = -1;
    try {
      for (int i = 0; i < 100; ++i) co_await pair.stream->write(std::string(64 * 1024, 'w'));
    } catch (const StreamClosedError& e) {
      error = e.real_error();
    }
    EXPECT_TRUE(error == EPIPE || error == ECONNRESET) << error;
  });
  EXPECT_EQ(logs.count_at_least(log::Level::kWarning), 0u);
}

TEST(IOStream, AHalfClosedPeerStillReadsWhatIsWritten) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("question");
    EXPECT_EQ(::shutdown(pair.peer.native_handle(), SHUT_WR), 0);  // the request and the FIN together
    std::string question = co_await pair.stream->read_bytes(8);
    EXPECT_EQ(question, "question");
    int error = -1;
    try {
      co_await pair.stream->read_bytes(1);
    } catch (const StreamClosedError& e) {
      error = e.real_error();
    }
    EXPECT_EQ(error, 0) << "end of input fails a read the buffer cannot satisfy, cleanly";
    EXPECT_TRUE(pair.stream->reached_eof());
    EXPECT_FALSE(pair.stream->closed()) << "the writing half stays open";
    co_await pair.stream->write("answer");
    char buffer[16];
    ssize_t n = ::recv(pair.peer.native_handle(), buffer, sizeof buffer, 0);
    EXPECT_EQ(std::string(buffer, n > 0 ? n : 0), "answer");
  });
}

TEST(IOStream, ReadUntilCloseCompletesAtEndOfInput) {
  run([]() -> Task<void> {
    Pair pair;
    pair.send("all of it");
    EXPECT_EQ(::shutdown(pair.peer.native_handle(), SHUT_WR), 0);
    std::string all = co_await pair.stream->read_until_close();
    EXPECT_EQ(all, "all of it");
  });
}

// ---- write_file ----

// A temporary file of `size` patterned bytes and its directory, opened.
struct TempFile {
  explicit TempFile(std::size_t size) {
    std::string pattern = std::filesystem::temp_directory_path().string() + "/whirl-wf-XXXXXX";
    dir = ::mkdtemp(pattern.data());
    content.resize(size);
    for (std::size_t i = 0; i < size; ++i) content[i] = static_cast<char>((i * 7919) >> 5);
    std::ofstream(dir + "/data", std::ios::binary) << content;
    root = File::open_directory(dir);
  }
  ~TempFile() { std::filesystem::remove_all(dir); }
  Task<File> open() const { return File::open(root, "data"); }
  std::string dir;
  std::string content;
  File root;
};

TEST(IOStream, WriteFileSendsTheFileAfterWhatWasQueuedAndBeforeWhatFollows) {
  run([]() -> Task<void> {
    TempFile temp(3 * 1024 * 1024 + 17);  // several pipes' and pieces' worth
    Pair pair;
    IOStream reader(std::move(pair.peer));
    File file = co_await temp.open();
    pair.stream->write("head:");
    Event sent;
    auto send = [&]() -> Task<void> {
      co_await pair.stream->write_file(file, 100, temp.content.size() - 100);
      sent.set();
    };
    IOLoop::current().spawn(send());
    for (int i = 0; i < 3; ++i) co_await moment();
    EXPECT_FALSE(sent.is_set()) << "3 MiB cannot have left into an unread socket";
    EXPECT_TRUE(pair.stream->writing()) << "a file on its way counts (a graceful close bounds its wait)";
    pair.stream->write(":mid");  // written while the file goes: it waits behind it
    std::size_t expected = 5 + temp.content.size() - 100 + 4;
    std::string got = co_await reader.read_bytes(expected);
    EXPECT_EQ(got.substr(0, 5), "head:");
    EXPECT_TRUE(got.substr(5, temp.content.size() - 100) == temp.content.substr(100)) << "the file, byte for byte";
    EXPECT_EQ(got.substr(got.size() - 4), ":mid");
    co_await sent.wait();
  });
}

TEST(IOStream, WriteFileOfAFileShorterThanAskedThrowsSayingSo) {
  run([]() -> Task<void> {
    TempFile temp(1000);
    Pair pair;
    IOStream reader(std::move(pair.peer));
    File file = co_await temp.open();
    std::string error;
    try {
      co_await pair.stream->write_file(file, 0, 5000);
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("ended 4000 bytes early"), std::string::npos) << error;
  });
}

TEST(IOStream, WriteFileToAVanishedPeerFailsWithStreamClosedError) {
  run([]() -> Task<void> {
    TempFile temp(8 * 1024 * 1024);
    Pair pair;
    pair.peer = Socket();  // gone before the file is sent
    File file = co_await temp.open();
    bool closed = false;
    try {
      co_await pair.stream->write_file(file, 0, temp.content.size());
    } catch (const StreamClosedError&) {
      closed = true;
    }
    EXPECT_TRUE(closed);
    EXPECT_TRUE(pair.stream->closed());
  });
}

}  // namespace
}  // namespace whirl
