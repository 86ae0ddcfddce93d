// whirl/runtime/internal/intrusive_list.h: the one doubly linked list the
// runtime's waiters live on.
//
//     struct Hook : ListNode<Hook> { ... };        // the node is in the object
//     IntrusiveList<Hook> hooks;
//     hooks.push_back(a);                          // no allocation
//     a.unlink();                                  // O(1), from the node's side
//     while (Hook* h = hooks.pop_front()) fire(h);
//
// A suspended awaiter must be findable from the thing it waits on (to wake
// it) and must be able to leave in O(1) when its frame goes (cancelled,
// aborted) without knowing where it is: so the links live in the awaiter
// and each node knows its list. Users: a CancellationToken's hooks, a
// WaitList's waiters, the Ring's pre-submit hooks, an IOStream's writers.
//
// A list that is only ever pushed at the front (a CancellationToken's
// hooks) says so with kFrontOnly and keeps no tail: a cancel hook joins and
// leaves a list on every suspension, and the tail's upkeep showed in the
// instructions per request.
//
// `Tag` tells apart the lists one object can be on at once (a Waiter is on
// a WaitList and registered with a CancellationToken). Nodes and lists are
// single-threaded and never copied; a node moves only while unlinked (an
// awaiter before it is awaited). Destroying a linked node unlinks it;
// destroying a list unlinks what is left on it.
#pragma once

namespace whirl {

template <typename T, typename Tag, bool kFrontOnly>
class IntrusiveList;

template <typename Tag, bool kFrontOnly = false>
class ListNode {
 public:
  ListNode() noexcept = default;
  ListNode(const ListNode&) = delete;
  ListNode& operator=(const ListNode&) = delete;
  ListNode(ListNode&& /*unlinked*/) noexcept {}
  // Forced inline: an awaiter's destructor runs this on every request, and
  // an outlined copy costs more than the one compare it almost always is.
  [[gnu::always_inline]] ~ListNode() {
    if (list_ != nullptr) unlink();
  }

  bool linked() const noexcept { return list_ != nullptr; }
  inline void unlink() noexcept;

 private:
  template <typename T, typename OtherTag, bool kOtherFrontOnly>
  friend class IntrusiveList;
  struct Ends {
    ListNode* head = nullptr;
    ListNode* tail = nullptr;
  };
  Ends* list_ = nullptr;
  ListNode* prev_ = nullptr;
  ListNode* next_ = nullptr;
};

template <typename Tag, bool kFrontOnly>
void ListNode<Tag, kFrontOnly>::unlink() noexcept {
  if (list_ == nullptr) return;
  (prev_ != nullptr ? prev_->next_ : list_->head) = next_;
  if (next_ != nullptr) {
    next_->prev_ = prev_;
  } else if constexpr (!kFrontOnly) {
    list_->tail = prev_;
  }
  list_ = nullptr;
  prev_ = next_ = nullptr;
}

// `T` derives from ListNode<Tag> (a private base needs `friend class
// IntrusiveList<T, Tag>`).
template <typename T, typename Tag = T, bool kFrontOnly = false>
class IntrusiveList {
  using Node = ListNode<Tag, kFrontOnly>;

 public:
  IntrusiveList() noexcept = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  ~IntrusiveList() { clear(); }

  bool empty() const noexcept { return ends_.head == nullptr; }
  T* front() const noexcept { return ends_.head != nullptr ? item(ends_.head) : nullptr; }
  // The node after `item` on its list, or nullptr.
  static T* next(T& item) noexcept {
    Node* node = static_cast<Node&>(item).next_;
    return node != nullptr ? IntrusiveList::item(node) : nullptr;
  }

  // `item` must not be on a list of this Tag.
  void push_back(T& item) noexcept {
    static_assert(!kFrontOnly, "a front-only list keeps no tail");
    Node& node = item;
    node.list_ = &ends_;
    node.prev_ = ends_.tail;
    node.next_ = nullptr;
    (ends_.tail != nullptr ? ends_.tail->next_ : ends_.head) = &node;
    ends_.tail = &node;
  }
  void push_front(T& item) noexcept {
    Node& node = item;
    node.list_ = &ends_;
    node.prev_ = nullptr;
    node.next_ = ends_.head;
    if (ends_.head != nullptr) {
      ends_.head->prev_ = &node;
    } else if constexpr (!kFrontOnly) {
      ends_.tail = &node;
    }
    ends_.head = &node;
  }
  // Unlinks every item.
  void clear() noexcept {
    while (ends_.head != nullptr) ends_.head->unlink();
  }
  // Unlinks and returns the first item, or nullptr.
  T* pop_front() noexcept {
    Node* node = ends_.head;
    if (node == nullptr) return nullptr;
    node->unlink();
    return item(node);
  }

 private:
  static T* item(Node* node) noexcept { return static_cast<T*>(node); }
  typename Node::Ends ends_;
};

}  // namespace whirl
