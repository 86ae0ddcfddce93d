// bench/counting_allocator.h: how many times the global operator new ran.
//
// Two implementations share this header: counting_allocator.cc replaces the
// global operator new (every form) with a counting one, and
// no_counting_allocator.cc, linked into ordinary builds, counts nothing. A
// benchmark binary asks counted_allocations(): nullopt means "not counted in
// this build".
#pragma once

#include <optional>

namespace bench {

std::optional<long> counted_allocations() noexcept;

}  // namespace bench
