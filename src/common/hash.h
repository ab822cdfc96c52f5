// FNV-1a, 64 bits: a fast, stable (across runs and builds) hash for sharding and for telling
// document versions apart. Not for anything an adversary chooses to collide.
#pragma once

#include <cstdint>
#include <string_view>

namespace ors {

inline constexpr uint64_t kFnvOffset = 1469598103934665603ull;

inline uint64_t fnv1a(std::string_view bytes, uint64_t h = kFnvOffset) {
  for (char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

}  // namespace ors
