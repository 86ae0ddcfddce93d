#include "bench/repeating_response_parser.h"

#include <cstring>

namespace bench {

// `in` begins with the remembered head, answering the same kind of request.
bool RepeatingResponseParser::knows(std::string_view in) const noexcept {
  std::size_t size = remembered_head_.size();
  return size != 0 && in.size() >= size && head_request() == remembered_.for_head_request() &&
         std::memcmp(in.data(), remembered_head_.data(), size) == 0;
}

bool RepeatingResponseParser::take_known_head(std::string_view in, std::size_t& consumed) {
  if (!knows(in)) return false;
  consumed = remembered_head_.size();
  resume_after_head(remembered_, consumed);
  return true;
}

void RepeatingResponseParser::head_parsed(std::string_view head) {
  if (head.size() > kMaxRememberedHead) {
    remembered_head_.clear();
    return;
  }
  remembered_head_.assign(head);
  remembered_ = head_state();
}

std::size_t RepeatingResponseParser::parse_repeats(std::string_view in, std::size_t max,
                                                   std::size_t& consumed) noexcept {
  consumed = 0;
  // Only a response that ends where its framing says and leaves the
  // connection open can be followed by another.
  if (!at_response_start() || !remembered_.repeatable() || remembered_head_.empty() ||
      head_request() != remembered_.for_head_request()) {
    return 0;
  }
  std::uint64_t body = remembered_.body_length();
  if (body > in.size()) return 0;
  std::size_t head = remembered_head_.size();
  std::size_t size = head + static_cast<std::size_t>(body);
  std::size_t count = 0;
  while (count < max && in.size() - consumed >= size &&
         std::memcmp(in.data() + consumed, remembered_head_.data(), head) == 0) {
    consumed += size;
    ++count;
  }
  if (count == 0) return 0;
  complete_response(remembered_, head);
  return count;
}

}  // namespace bench
