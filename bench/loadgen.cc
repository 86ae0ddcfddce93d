// bench/loadgen: an HTTP/1.1 load generator on whirl's own runtime.
//
//     loadgen http://127.0.0.1:8080/ -c 64 -p 16 -d 10 -w 2 [--json run.json]
//     loadgen http://127.0.0.1:8080/ -c 64 --rate 50000 -d 30     # open loop
//     loadgen https://localhost:8443/ -c 16 -m POST --body hello
//     loadgen http://127.0.0.1:8080/ -c 10000 --idle -d 20 --sources 4
//     loadgen http://127.0.0.1:8080/ -c 512 --mix 'GET /baseline?a=1&b=2' --mix 'POST /baseline?a=1&b=2' --body 3
//     loadgen http://127.0.0.1:8080/ -c 64 --requests-per-connection 10
//
// Closed loop (the default): every connection writes `-p` requests in one
// send, reads their responses, and repeats, like wrk with a pipelining
// script. A response's latency runs from its batch's send.
//
// Open loop (--rate R): R requests/s over all connections, each connection
// on its own fixed schedule (phases staggered), at most `-p` of them in
// flight per connection. A request whose slot arrives while its connection
// is still busy waits, and its latency still runs from the slot: the time
// it spent queued behind a slow response is the latency a user would have
// seen (no coordinated omission).
//
// A --mix of requests is sent in turn on each connection (request k of a
// connection is the mix's k mod n). --requests-per-connection N asks for
// `Connection: close` on a connection's N-th request and opens a new
// connection once it is answered; the report counts connections opened.
//
// --idle: every connection sends one request, reads the response and then
// stays open and silent for the duration; for measuring a server's memory
// per idle keep-alive connection.
//
// Every response is framed by the strict ResponseParser (Content-Length or
// chunked, interim 1xx skipped). A malformed response, bytes nobody asked
// for, a connection closed with requests outstanding, or no progress for
// --timeout seconds are counted as errors and the connection is replaced:
// nothing is silently accepted. Latencies go into an HDR histogram
// (every response, no sampling).
//
// Prints a progress line a second on stderr, then a report on stdout:
// requests, req/s, bytes/s, non-2xx, errors by kind, latency percentiles and
// the loader's own CPU seconds (getrusage) over the measured window, and
// with --json FILE the same as one JSON object. Exit status 0 when some
// response was measured and none was malformed.
#include <fmt/core.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/hdr_histogram.h"
#include "bench/loadgen_options.h"
#include "bench/repeating_response_parser.h"
#include "whirl/http/response_parser.h"
#include "whirl/net/iostream.h"
#include "whirl/net/resolver.h"
#include "whirl/net/ssl_options.h"
#include "whirl/net/tcpclient.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/internal/ring_queue.h"
#include "whirl/runtime/ioloop.h"
#include "whirl/runtime/locks.h"
#include "whirl/runtime/periodic_callback.h"

using namespace std::chrono_literals;
using bench::RepeatingResponseParser;
using whirl::Clock;
using whirl::IOStream;
using whirl::ResponseParser;
using whirl::Task;
using whirl::TimePoint;

namespace {

struct Counters {
  std::uint64_t requests = 0;  // responses received and framed correctly
  std::uint64_t non_2xx = 0;
  std::uint64_t bytes = 0;
  std::uint64_t connect_errors = 0;
  std::uint64_t read_errors = 0;  // closed with requests outstanding
  std::uint64_t malformed = 0;
  std::uint64_t unexpected = 0;  // bytes with no request outstanding
  std::uint64_t timeouts = 0;
  std::uint64_t connections = 0;  // opened (not an error)

  std::uint64_t errors() const noexcept { return connect_errors + read_errors + malformed + unexpected + timeouts; }
};

struct Run {
  const bench::LoadgenOptions& options;
  std::vector<std::string> requests{};  // one per kind of the mix
  std::vector<std::string> closing{};   // the same, each asking for Connection: close
  // Closed loop: batch j holds `depth` requests back to back, the mix's
  // kinds j*depth, j*depth+1, ... (mod its size); the batches repeat with
  // the mix's period.
  std::vector<std::string> batches{};
  bool head_requests = false;
  std::vector<whirl::SocketAddress> addresses{};
  std::shared_ptr<const whirl::SSLContext> tls{};
  whirl::Duration slot_interval{};  // open loop: between one connection's requests

  bool measuring = false;
  bool done = false;
  Counters counts{};            // since the measurement started
  Counters progress{};          // since the last progress line
  std::uint64_t idle_open = 0;  // --idle: connections answered and holding
  bench::HdrHistogram latency_ns{};
  std::string first_error{};  // shown once, so a broken run says why
};

// Requests sent and not answered yet that were due at the same time: a
// closed-loop batch is one group of `depth`, an open-loop request a group
// of one. Answers come in order, so the oldest group is answered first.
struct Outstanding {
  TimePoint due{};
  int count = 0;
};

// One connection slot: it reconnects when its connection is lost.
struct Connection {
  int index = 0;
  IOStream* stream = nullptr;
  RepeatingResponseParser parser;
  whirl::RingQueue<Outstanding> sent;
  TimePoint last_progress{};
  bool timed_out = false;
  bool broken = false;
  std::uint64_t next_slot = 0;  // open loop: the schedule survives reconnects
  std::uint64_t turn = 0;       // closed loop: batches sent (which batch is next)
  int sent_here = 0;            // requests on this connection (--requests-per-connection)
  std::unique_ptr<whirl::Semaphore> window;
};

// Seconds given as a double (the command line's) as the loop's Duration.
whirl::Duration seconds(double s) {
  return std::chrono::duration_cast<whirl::Duration>(std::chrono::duration<double>(s));
}

// `count` requests just sent, all due at `due`.
void expect_answers(Connection& conn, int count, TimePoint due) {
  conn.sent.push_back(Outstanding{.due = due, .count = count});
}

// The oldest `n` outstanding requests (all of one group) were answered;
// returns when they were due.
TimePoint answer_oldest(Connection& conn, int n = 1) {
  Outstanding& oldest = conn.sent.front();
  TimePoint due = oldest.due;
  oldest.count -= n;
  if (oldest.count == 0) conn.sent.pop_front();
  for (int i = 0; conn.window && i < n; ++i) conn.window->release();
  return due;
}

void note_error(Run& run, std::string what) {
  if (run.first_error.empty()) run.first_error = std::move(what);
}

// Responses taken in one pass that were due at the same time (a closed-loop
// batch): counted and put in the histogram together, one update for the lot.
struct Answered {
  TimePoint due{};
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  std::uint64_t non_2xx = 0;

  // `n` responses like the one `parser` describes.
  void add(const ResponseParser& parser, std::uint64_t n = 1) {
    count += n;
    bytes += n * (parser.head_bytes() + parser.body_bytes());
    non_2xx += parser.code() < 200 || parser.code() > 299 ? n : 0;
  }
};

void record(Run& run, const Answered& answered, TimePoint now) {
  if (answered.count == 0) return;
  run.progress.requests += answered.count;
  if (!run.measuring) return;
  run.counts.requests += answered.count;
  run.counts.bytes += answered.bytes;
  run.counts.non_2xx += answered.non_2xx;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - answered.due).count();
  run.latency_ns.record(static_cast<std::uint64_t>(ns < 0 ? 0 : ns), answered.count);
}

void count(Run& run, std::uint64_t Counters::*which) {
  ++(run.progress.*which);
  if (run.measuring) ++(run.counts.*which);
}

enum class Progress : unsigned char { kNeedMore, kAllAnswered, kServerClosing, kBroken };

// `n` answers to the oldest group, described by the parser, go into
// `answered` (recorded first when they were due at another time).
void take_answers(Run& run, Connection& conn, int n, TimePoint now, Answered& answered) {
  TimePoint due = answer_oldest(conn, n);
  if (answered.count != 0 && answered.due != due) {
    record(run, answered, now);
    answered = Answered{};
  }
  answered.due = due;
  answered.add(conn.parser, static_cast<std::uint64_t>(n));
}

// Frames the complete responses at the front of `in`, oldest request first,
// into `answered`; `taken` is how many bytes they filled. Repeats of the
// last head are framed a run at a time (RepeatingResponseParser::parse_repeats; all
// requests of a run are of one method).
Progress parse_responses(Run& run, Connection& conn, std::string_view in, std::size_t& taken, TimePoint now,
                         Answered& answered) {
  while (!conn.sent.empty()) {
    std::size_t used = 0;
    auto group = static_cast<std::size_t>(conn.sent.front().count);
    std::size_t repeats = conn.parser.parse_repeats(in.substr(taken), group, used);
    taken += used;
    if (repeats != 0) {
      take_answers(run, conn, static_cast<int>(repeats), now, answered);
      conn.parser.start(run.head_requests);
      continue;
    }
    ResponseParser::Result result = conn.parser.parse(in.substr(taken), used);
    taken += used;
    if (result == ResponseParser::Result::kNeedMore) return Progress::kNeedMore;
    if (result == ResponseParser::Result::kError) {
      count(run, &Counters::malformed);
      note_error(run, fmt::format("malformed response: {}", conn.parser.error_reason()));
      return Progress::kBroken;
    }
    take_answers(run, conn, 1, now, answered);
    if (!conn.parser.keep_alive()) return Progress::kServerClosing;
    conn.parser.start(run.head_requests);
  }
  return Progress::kAllAnswered;
}

// Takes every complete response the stream holds. The buffer is parsed
// where it lies and consumed once, after the last response in it.
Progress take_responses(Run& run, Connection& conn, TimePoint now) {
  IOStream& stream = *conn.stream;
  Answered answered;
  std::size_t taken = 0;
  Progress progress = parse_responses(run, conn, stream.peek_buffer(), taken, now, answered);
  stream.consume_buffer(taken);
  record(run, answered, now);
  if (answered.count != 0) conn.last_progress = now;
  if (progress == Progress::kAllAnswered && stream.buffered() != 0) {
    count(run, &Counters::unexpected);
    note_error(run, "the server sent bytes no request asked for");
    return Progress::kBroken;
  }
  return progress;
}

// Reads until every request sent so far is answered (or the connection can
// no longer be used). False when the connection is done. The clock is read
// once per arrival: it dates the answers taken then and, in the closed
// loop, the batch sent in the same turn.
Task<bool> read_outstanding(Run& run, Connection& conn) {
  for (;;) {
    if (conn.stream->buffered() != 0) {
      Progress progress = take_responses(run, conn, Clock::now());
      if (progress == Progress::kAllAnswered) co_return true;
      if (progress != Progress::kNeedMore) co_return false;
    } else if (conn.sent.empty()) {
      co_return true;
    }
    bool closed = false;
    try {
      co_await conn.stream->wait_for_bytes(conn.stream->buffered() + 1);
    } catch (const whirl::StreamClosedError& e) {
      closed = true;
      if (!conn.timed_out && conn.parser.finish_at_close() == ResponseParser::Result::kDone) {
        Answered last{.due = answer_oldest(conn)};
        last.add(conn.parser);
        record(run, last, Clock::now());
      } else if (!conn.timed_out) {
        note_error(run, fmt::format("connection lost: {}", e.what()));
      }
    }
    if (closed) {
      if (conn.timed_out) {
        count(run, &Counters::timeouts);
      } else if (!conn.sent.empty()) {
        count(run, &Counters::read_errors);
      }
      co_return false;
    }
  }
}

// The closed loop's next send: a batch, or with --requests-per-connection
// (depth 1) the next request, asking for the close when it is the last.
const std::string& next_batch(Run& run, Connection& conn) {
  std::size_t turn = conn.turn++ % run.batches.size();
  int limit = run.options.requests_per_connection;
  if (limit == 0) return run.batches[turn];
  return ++conn.sent_here == limit ? run.closing[turn] : run.batches[turn];
}

// Closed loop: a batch of `depth` requests, all answers, again.
Task<void> closed_loop(Run& run, Connection& conn) {
  TimePoint now = Clock::now();
  int limit = run.options.requests_per_connection;
  while (!run.done) {
    conn.stream->write(next_batch(run, conn));  // completion not awaited: the answers say it arrived
    expect_answers(conn, run.options.depth, now);
    conn.last_progress = now;
    bool more = co_await read_outstanding(run, conn);
    // The connection's last request was answered: it is dropped here even
    // if the server, against the Connection: close it was sent, keeps it.
    if (!more || (limit != 0 && conn.sent_here >= limit)) co_return;
    now = conn.last_progress;  // when the last answers were taken, in this turn
  }
}

// Open loop, writing side: each request on its slot, at most `depth` in flight.
Task<void> send_on_schedule(Run& run, Connection& conn, TimePoint origin) {
  while (!run.done && !conn.broken) {
    TimePoint due = origin + conn.next_slot * run.slot_interval;
    if (due > Clock::now()) co_await whirl::sleep_until(due);
    co_await conn.window->acquire();
    if (conn.broken || run.done) co_return;
    ++conn.next_slot;
    if (conn.sent.empty()) conn.last_progress = Clock::now();
    expect_answers(conn, 1, due);
    conn.stream->write(run.requests[(conn.next_slot - 1) % run.requests.size()]);
  }
}

// Open loop, reading side.
Task<void> read_on_schedule(Run& run, Connection& conn) {
  while (!run.done) {
    if (conn.sent.empty()) {
      // Nothing outstanding: wait for the sender or an unsolicited byte.
      bool alive = true;
      try {
        co_await conn.stream->wait_for_bytes(1);
      } catch (const whirl::StreamClosedError&) {
        alive = false;
      }
      if (!alive) break;
    }
    bool more = co_await read_outstanding(run, conn);
    if (!more) break;
  }
  // Wake the sender so that it sees the connection is gone.
  conn.broken = true;
  conn.window->release();
}

Task<void> open_loop(Run& run, Connection& conn, TimePoint origin) {
  conn.broken = false;
  conn.window = std::make_unique<whirl::Semaphore>(static_cast<std::size_t>(run.options.depth));
  Task<void> reader = read_on_schedule(run, conn);
  Task<void> sender = send_on_schedule(run, conn, origin);
  co_await whirl::gather(std::move(reader), std::move(sender));
  conn.window.reset();
}

// --idle: one exchange, then silence until the run ends.
Task<void> hold_idle(Run& run, Connection& conn) {
  expect_answers(conn, 1, Clock::now());
  conn.stream->write(run.requests.front());
  bool answered = co_await read_outstanding(run, conn);
  if (!answered) co_return;
  ++run.idle_open;
  while (!run.done) co_await whirl::sleep(1s);
}

Task<std::unique_ptr<IOStream>> open_stream(const Run& run, int index) {
  const bench::LoadgenOptions& options = run.options;
  whirl::Duration timeout = seconds(options.timeout);
  whirl::TCPClient::ConnectOptions connect{.timeout = timeout};
  if (run.tls) {
    connect.ssl_context = run.tls;
    co_return co_await whirl::TCPClient::connect(options.host, options.port, connect);
  }
  if (options.sources > 1) connect.source_ip = fmt::format("127.0.0.{}", 1 + index % options.sources);
  co_return co_await whirl::TCPClient::connect(run.addresses, connect);
}

Task<void> connection_task(Run& run, Connection& conn, TimePoint origin) {
  while (!run.done) {
    std::unique_ptr<IOStream> stream;
    try {
      stream = co_await open_stream(run, conn.index);
    } catch (const std::exception& e) {
      note_error(run, fmt::format("connect: {}", e.what()));
    }
    if (!stream) {
      count(run, &Counters::connect_errors);
      co_await whirl::sleep(100ms);  // a refusing server is not hammered
      continue;
    }
    stream->set_nodelay(true);
    count(run, &Counters::connections);
    conn.stream = stream.get();
    conn.sent_here = 0;
    conn.timed_out = false;
    conn.sent.clear();
    conn.parser.start(run.head_requests);
    conn.last_progress = Clock::now();
    Task<void> session = run.options.idle       ? hold_idle(run, conn)
                         : run.options.rate > 0 ? open_loop(run, conn, origin)
                                                : closed_loop(run, conn);
    co_await std::move(session);
    conn.stream = nullptr;
    if (run.options.idle && !run.done) co_await whirl::sleep(100ms);
  }
}

// Closes connections that made no progress for --timeout with requests outstanding.
void reap_stuck(Run& run, std::vector<Connection>& connections) {
  whirl::Duration limit = seconds(run.options.timeout);
  TimePoint now = Clock::now();
  for (Connection& conn : connections) {
    if (conn.stream == nullptr || conn.sent.empty() || now - conn.last_progress < limit) continue;
    conn.timed_out = true;
    conn.stream->close();
  }
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

struct Report {
  double seconds = 0;
  double cpu = 0;
};

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

void print_report(const Run& run, const Report& report) {
  const bench::LoadgenOptions& o = run.options;
  const Counters& c = run.counts;
  const bench::HdrHistogram& h = run.latency_ns;
  double rate = static_cast<double>(c.requests) / report.seconds;
  std::string mode = o.idle ? "idle" : o.rate > 0 ? fmt::format("open loop at {:.0f} req/s", o.rate) : "closed loop";
  fmt::print("loadgen: {} {} connections, pipeline depth {}, {}, {:.1f} s measured after {:.1f} s warm-up\n", o.url,
             o.connections, o.depth, mode, report.seconds, o.warmup);
  fmt::print("  requests     {} ({:.0f} req/s, {:.2f} MiB/s)\n", c.requests, rate,
             static_cast<double>(c.bytes) / report.seconds / (1 << 20));
  fmt::print("  non-2xx      {}\n", c.non_2xx);
  fmt::print("  connections  {} opened ({:.0f}/s)\n", c.connections,
             static_cast<double>(c.connections) / report.seconds);
  fmt::print("  errors       connect {}, read {}, malformed {}, unexpected {}, timeout {}\n", c.connect_errors,
             c.read_errors, c.malformed, c.unexpected, c.timeouts);
  if (!run.first_error.empty()) fmt::print("  first error  {}\n", run.first_error);
  fmt::print("  latency ms   p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}\n",
             ms(h.value_at_percentile(50)), ms(h.value_at_percentile(90)), ms(h.value_at_percentile(99)),
             ms(h.value_at_percentile(99.9)), ms(h.max()));
  fmt::print("  loader CPU   {:.2f} s ({:.0f}% of one core), {:.0f} requests per CPU-second\n", report.cpu,
             100 * report.cpu / report.seconds, report.cpu > 0 ? static_cast<double>(c.requests) / report.cpu : 0);
  std::fflush(stdout);
}

void write_json(const Run& run, const Report& report) {
  const bench::LoadgenOptions& o = run.options;
  const Counters& c = run.counts;
  const bench::HdrHistogram& h = run.latency_ns;
  std::FILE* out = std::fopen(o.json_path.c_str(), "w");
  if (out == nullptr) {
    fmt::print(stderr, "loadgen: cannot write {}\n", o.json_path);
    return;
  }
  fmt::print(
      out,
      "{{\"url\": \"{}\", \"connections\": {}, \"depth\": {}, \"rate\": {}, \"idle\": {}, \"seconds\": {:.3f}, "
      "\"requests\": {}, \"req_per_s\": {:.1f}, \"bytes_per_s\": {:.1f}, \"non_2xx\": {}, "
      "\"errors\": {{\"connect\": {}, \"read\": {}, \"malformed\": {}, \"unexpected\": {}, \"timeout\": {}}}, "
      "\"latency_ms\": {{\"p50\": {:.4f}, \"p90\": {:.4f}, \"p99\": {:.4f}, \"p99_9\": {:.4f}, \"max\": {:.4f}}}, "
      "\"connections_opened\": {}, \"loader_cpu_s\": {:.3f}}}\n",
      o.url, o.connections, o.depth, o.rate, o.idle, report.seconds, c.requests,
      static_cast<double>(c.requests) / report.seconds, static_cast<double>(c.bytes) / report.seconds, c.non_2xx,
      c.connect_errors, c.read_errors, c.malformed, c.unexpected, c.timeouts, ms(h.value_at_percentile(50)),
      ms(h.value_at_percentile(90)), ms(h.value_at_percentile(99)), ms(h.value_at_percentile(99.9)), ms(h.max()),
      c.connections, report.cpu);
  std::fclose(out);
}

Task<void> resolve_target(Run* run) {
  try {
    run->addresses = co_await whirl::resolve(run->options.host, run->options.port);
  } catch (const std::exception& e) {
    note_error(*run, fmt::format("cannot resolve {}: {}", run->options.host, e.what()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bench::LoadgenOptions options = bench::LoadgenOptions::parse(argc, argv);
  raise_fd_limit();
  Run run{.options = options};
  std::size_t kinds = options.request_kinds();
  for (std::size_t kind = 0; kind < kinds; ++kind) {
    run.requests.push_back(options.request(kind));
    run.closing.push_back(options.request(kind, /*last_on_connection=*/true));
    std::string batch;
    for (std::size_t i = 0; i < static_cast<std::size_t>(options.depth); ++i) {
      batch += options.request(kind * static_cast<std::size_t>(options.depth) + i);
    }
    run.batches.push_back(std::move(batch));
  }
  run.head_requests = options.method == "HEAD" && options.mix.empty();
  if (options.rate > 0) run.slot_interval = seconds(options.connections / options.rate);
  if (options.tls) {
    whirl::SSLOptions tls;
    tls.cert_reqs = whirl::SSLOptions::CertReqs::kNone;  // a load generator measures, it does not vet
    run.tls = whirl::SSLContext::create(tls, /*server_side=*/false);
  }

  whirl::IOLoop loop;
  loop.set_wait_batching({.min_completions = options.completions_per_wait(),
                          .max_delay = std::chrono::microseconds(options.batch_delay_us)});
  loop.run_sync(resolve_target(&run));
  if (!options.tls && run.addresses.empty()) {
    fmt::print(stderr, "loadgen: {}\n", run.first_error);
    return 1;
  }

  std::vector<Connection> connections(static_cast<std::size_t>(options.connections));
  TimePoint start = Clock::now();
  for (std::size_t i = 0; i < connections.size(); ++i) {
    connections[i].index = static_cast<int>(i);
    // Open loop: connection i's slots are offset by i/R, so together they
    // make one evenly spaced stream of R requests/s.
    TimePoint origin = start + seconds(static_cast<double>(i) / (options.rate > 0 ? options.rate : 1));
    loop.spawn(connection_task(run, connections[i], origin));
  }

  Report report;
  double cpu_start = 0;
  TimePoint measure_start = start;
  int tick = 0;
  whirl::PeriodicCallback progress(
      [&] {
        ++tick;
        reap_stuck(run, connections);
        if (!options.quiet) {
          std::string idle = options.idle ? fmt::format("  idle connections open {}", run.idle_open) : "";
          fmt::print(stderr, "loadgen: {:3d}s{} {:10} req/s  errors {}{}\n", tick, run.measuring ? "" : " (warm-up)",
                     run.progress.requests, run.progress.errors(), idle);
        }
        run.progress = Counters{};
      },
      1s);
  progress.start();
  loop.call_later(seconds(options.warmup), [&] {
    run.measuring = true;
    run.counts = Counters{};
    run.latency_ns.reset();
    cpu_start = cpu_seconds();
    measure_start = Clock::now();
  });
  loop.call_later(seconds(options.warmup + options.duration), [&] {
    run.done = true;
    run.measuring = false;
    report.cpu = cpu_seconds() - cpu_start;
    report.seconds = std::chrono::duration<double>(Clock::now() - measure_start).count();
    loop.stop();
  });
  loop.run();
  progress.stop();

  print_report(run, report);
  if (!options.json_path.empty()) write_json(run, report);
  bool ok = run.counts.requests > 0 && run.counts.malformed == 0;
  // Connections still open need no orderly teardown: the kernel closes them.
  std::_Exit(ok ? 0 : 1);
}
