// Which node handles a call: rendezvous (highest random weight) hashing of the call id over the
// live nodes. Every node computes the same order from the same live set, calls spread uniformly,
// and a node that leaves moves only its own calls (to their second choice). The first node is the
// call's *assigned* node, the second its *reserved* node (ORS contract section 6).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace ors::calls {

inline uint64_t mix64(uint64_t x) {  // splitmix64's finaliser: every input bit moves every output bit
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The live nodes in the order they take `call`: best first.
inline std::vector<uint32_t> rankNodes(std::string_view call, std::vector<uint32_t> live) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the call id
  for (unsigned char c : call) h = (h ^ c) * 0x100000001b3ULL;
  std::vector<std::pair<uint64_t, uint32_t>> weights;
  weights.reserve(live.size());
  for (uint32_t n : live) weights.emplace_back(mix64(h ^ mix64(n)), n);
  std::sort(weights.begin(), weights.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t i = 0; i < weights.size(); ++i) live[i] = weights[i].second;
  return live;
}

}  // namespace ors::calls
