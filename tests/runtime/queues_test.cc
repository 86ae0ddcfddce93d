#include "whirl/runtime/queues.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "whirl/runtime/errors.h"
#include "whirl/runtime/gen.h"
#include "whirl/runtime/ioloop.h"

namespace whirl {
namespace {

using namespace std::chrono_literals;

TEST(Queue, NowaitOperationsThrowQueueFullAndQueueEmpty) {
  Queue<int> queue(2);
  queue.put_nowait(1);
  queue.put_nowait(2);
  EXPECT_TRUE(queue.full());
  EXPECT_THROW(queue.put_nowait(3), QueueFull);
  EXPECT_EQ(queue.get_nowait(), 1);
  EXPECT_EQ(queue.get_nowait(), 2);
  EXPECT_THROW(queue.get_nowait(), QueueEmpty);
}

Task<void> produce(Queue<int>* queue, int count, std::vector<std::string>* trace) {
  for (int i = 0; i < count; ++i) {
    co_await queue->put(i);
    trace->push_back("put " + std::to_string(i));
  }
}

Task<void> consume(Queue<int>* queue, int count, std::vector<int>* got) {
  for (int i = 0; i < count; ++i) {
    got->push_back(co_await queue->get());
    queue->task_done();
  }
}

TEST(Queue, ABoundedQueueMakesTheProducerWait) {
  IOLoop loop;
  Queue<int> queue(1);
  std::vector<std::string> trace;
  std::vector<int> got;
  loop.spawn(produce(&queue, 3, &trace));
  loop.call_later(5ms, [&] {
    // Only one item fits; the second put is waiting.
    EXPECT_EQ(trace, std::vector<std::string>{"put 0"});
    loop.spawn(consume(&queue, 3, &got));
  });
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(trace.size(), 3u);
}

Task<std::string> get_with_timeout(Queue<int>* queue) {
  try {
    int value = co_await queue->get(5ms);
    co_return std::to_string(value);
  } catch (const TimeoutError&) {
    co_return "timeout";
  }
}

TEST(Queue, GetWithATimeoutThrowsTimeoutError) {
  IOLoop loop;
  Queue<int> queue;
  EXPECT_EQ(loop.run_sync(get_with_timeout(&queue)), "timeout");
  queue.put_nowait(9);
  EXPECT_EQ(loop.run_sync(get_with_timeout(&queue)), "9");
}

Task<std::string> put_with_timeout(Queue<int>* queue) {
  try {
    co_await queue->put(2, 5ms);
  } catch (const TimeoutError&) {
    co_return "timeout";
  }
  co_return "put";
}

TEST(Queue, PutWithATimeoutOnAFullQueueThrowsTimeoutError) {
  IOLoop loop;
  Queue<int> queue(1);
  queue.put_nowait(1);
  EXPECT_EQ(loop.run_sync(put_with_timeout(&queue)), "timeout");
  EXPECT_EQ(queue.qsize(), 1u);
  EXPECT_EQ(queue.get_nowait(), 1) << "the timed-out item never entered the queue";
}

TEST(Queue, MoveOnlyItemsPassThrough) {
  IOLoop loop;
  Queue<std::unique_ptr<int>> queue;
  auto roundtrip = [](Queue<std::unique_ptr<int>>* q) -> Task<int> {
    co_await q->put(std::make_unique<int>(5));
    std::unique_ptr<int> item = co_await q->get();
    co_return *item;
  };
  EXPECT_EQ(loop.run_sync(roundtrip(&queue)), 5);
}

Task<std::string> join_after_work(Queue<int>* queue) {
  queue->put_nowait(1);
  queue->put_nowait(2);
  std::vector<int> got;
  Task<void> consumer = consume(queue, 2, &got);
  Task<void> joiner = [](Queue<int>* q) -> Task<void> { co_await q->join(); }(queue);
  co_await gather(std::move(joiner), std::move(consumer));
  co_return "joined after " + std::to_string(got.size());
}

TEST(Queue, JoinWaitsUntilEveryItemIsDone) {
  IOLoop loop;
  Queue<int> queue;
  EXPECT_EQ(loop.run_sync(join_after_work(&queue)), "joined after 2");
  EXPECT_THROW(queue.task_done(), std::logic_error);
}

Task<void> get_and_record(Queue<int>* queue, std::vector<int>* got, std::string* outcome) {
  try {
    got->push_back(co_await queue->get());
    *outcome = "got";
  } catch (const CancelledError&) {
    *outcome = "cancelled";
  }
}

TEST(Queue, AnItemHandedToAGetterIsDeliveredEvenIfItIsCancelledBeforeRunning) {
  IOLoop loop;
  Queue<int> queue;
  std::vector<int> got;
  std::string outcome;
  SpawnHandle handle = loop.spawn(get_and_record(&queue, &got, &outcome));
  loop.call_later(5ms, [&] {
    queue.put_nowait(77);  // handed to the waiting getter
    handle.cancel();       // before the getter has run
  });
  loop.call_later(15ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(outcome, "got");
  EXPECT_EQ(got, std::vector<int>{77});
}

TEST(Queue, AnItemHandedToAGetterAbortedBeforeItRanStaysInTheQueue) {
  IOLoop loop;
  Queue<int> queue;
  auto getter = [](Queue<int>& queue) -> Task<void> { co_await queue.get(); };
  SpawnHandle waiting = loop.spawn(getter(queue));
  int left = -1;
  loop.call_later(5ms, [&] {
    queue.put_nowait(7);  // handed straight to the waiting getter...
    waiting.abort();      // ...which is destroyed before it takes it
    left = queue.get_nowait();
  });
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(left, 7);
}

}  // namespace
}  // namespace whirl
