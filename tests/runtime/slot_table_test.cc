// SlotTable: a handle (index, generation) names one use of a slot, and no
// other.
#include "whirl/runtime/internal/slot_table.h"

#include <gtest/gtest.h>

#include <string>

namespace whirl {
namespace {

TEST(SlotTable, AHandleIsLiveUntilItsSlotIsReleased) {
  SlotTable<std::string> table;
  std::uint32_t index = table.acquire();
  std::uint32_t generation = table.generation(index);
  table[index] = "first use";
  EXPECT_TRUE(table.live(index, generation));
  EXPECT_TRUE(table.live(index));
  EXPECT_EQ(table.live_count(), 1u);
  table.release(index);
  EXPECT_FALSE(table.live(index, generation));
  EXPECT_FALSE(table.live(index));
  EXPECT_EQ(table.live_count(), 0u);
}

TEST(SlotTable, AReleasedSlotIsReusedAndItsOldHandleNamesNothing) {
  SlotTable<int> table;
  std::uint32_t index = table.acquire();
  std::uint32_t old_generation = table.generation(index);
  table.release(index);
  std::uint32_t again = table.acquire();
  EXPECT_EQ(again, index) << "reuse, not growth";
  EXPECT_EQ(table.capacity(), 1u);
  EXPECT_NE(table.generation(again), old_generation);
  EXPECT_FALSE(table.live(index, old_generation)) << "a late CQE or a stale SpawnHandle must not reach the new use";
  EXPECT_TRUE(table.live(again, table.generation(again)));
}

TEST(SlotTable, TheLastReleasedSlotIsTheFirstReused) {
  SlotTable<int> table;
  std::uint32_t a = table.acquire();
  std::uint32_t b = table.acquire();
  std::uint32_t c = table.acquire();
  table.release(a);
  table.release(c);
  EXPECT_EQ(table.acquire(), c);
  EXPECT_EQ(table.acquire(), a);
  EXPECT_NE(table.acquire(), b) << "b is still live";
  EXPECT_EQ(table.capacity(), 4u);
  EXPECT_EQ(table.live_count(), 4u);
}

TEST(SlotTable, ZeroAndOutOfRangeHandlesNameNothing) {
  SlotTable<int> table;
  EXPECT_FALSE(table.live(0, 0)) << "an empty table";
  std::uint32_t index = table.acquire();
  EXPECT_FALSE(table.live(index, 0)) << "generation 0 is a free slot's, never a handle's";
  EXPECT_FALSE(table.live(index + 1, table.generation(index))) << "past the slots ever made";
  EXPECT_FALSE(table.live(UINT32_MAX, table.generation(index)));
  EXPECT_EQ(table.generation(index) % 2, 1u) << "a live slot's generation is odd";
}

TEST(SlotTable, GenerationsOfOneSlotNeverRepeatAcrossManyUses) {
  SlotTable<int> table;
  std::uint32_t previous = 0;
  for (int use = 0; use < 1000; ++use) {
    std::uint32_t index = table.acquire();
    ASSERT_EQ(index, 0u);
    ASSERT_GT(table.generation(index), previous);
    previous = table.generation(index);
    table.release(index);
  }
  EXPECT_EQ(table.capacity(), 1u);
}

}  // namespace
}  // namespace whirl
