// IntrusiveList (runtime/internal/intrusive_list.h), the list under
// cancellation hooks, wait lists, pre-submit hooks and IOStream's writers.
#include "whirl/runtime/internal/intrusive_list.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace whirl {
namespace {

struct Item : ListNode<Item> {
  explicit Item(int v) : value(v) {}
  int value;
};

std::vector<int> values(const IntrusiveList<Item>& list) {
  std::vector<int> out;
  for (Item* item = list.front(); item != nullptr; item = IntrusiveList<Item>::next(*item)) out.push_back(item->value);
  return out;
}

TEST(IntrusiveList, PushBackAndPushFrontKeepTheirOrder) {
  Item a(1), b(2), c(3);
  IntrusiveList<Item> list;
  list.push_back(a);
  list.push_back(b);
  list.push_front(c);
  EXPECT_EQ(values(list), (std::vector<int>{3, 1, 2}));
  EXPECT_EQ(list.pop_front(), &c);
  EXPECT_FALSE(c.linked());
  EXPECT_EQ(values(list), (std::vector<int>{1, 2}));
}

TEST(IntrusiveList, ANodeLeavesFromItsOwnSideWhereverItIs) {
  Item a(1), b(2), c(3);
  IntrusiveList<Item> list;
  for (Item* item : {&a, &b, &c}) list.push_back(*item);
  b.unlink();  // the middle
  EXPECT_EQ(values(list), (std::vector<int>{1, 3}));
  c.unlink();  // the tail: a push_back after it must still link at the end
  Item d(4);
  list.push_back(d);
  EXPECT_EQ(values(list), (std::vector<int>{1, 4}));
  a.unlink();  // the head
  EXPECT_EQ(values(list), (std::vector<int>{4}));
  b.unlink();  // not linked: nothing happens
  EXPECT_EQ(values(list), (std::vector<int>{4}));
}

TEST(IntrusiveList, DestroyingALinkedNodeUnlinksIt) {
  IntrusiveList<Item> list;
  Item a(1);
  list.push_back(a);
  {
    auto doomed = std::make_unique<Item>(2);
    list.push_back(*doomed);
  }
  EXPECT_EQ(values(list), (std::vector<int>{1}));
}

TEST(IntrusiveList, DestroyingTheListLetsGoOfItsNodes) {
  Item a(1), b(2);
  {
    IntrusiveList<Item> list;
    list.push_back(a);
    list.push_back(b);
  }
  EXPECT_FALSE(a.linked());
  EXPECT_FALSE(b.linked());
  a.unlink();  // safe: the list is gone and a knows it
}

struct Tagged;
struct OtherTag {};
struct Tagged : ListNode<Tagged>, ListNode<OtherTag> {};

TEST(IntrusiveList, TagsLetOneObjectBeOnTwoListsAtOnce) {
  Tagged t;
  IntrusiveList<Tagged> first;
  IntrusiveList<Tagged, OtherTag> second;
  first.push_back(t);
  second.push_back(t);
  EXPECT_EQ(first.front(), &t);
  EXPECT_EQ(second.front(), &t);
  t.ListNode<Tagged>::unlink();
  EXPECT_TRUE(first.empty());
  EXPECT_EQ(second.front(), &t) << "leaving one list leaves the other alone";
}

}  // namespace
}  // namespace whirl
