#include "common/ids.h"

#include <chrono>
#include <cstdlib>

namespace ors {

namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

int digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'V') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string sessionIdPrefix(uint32_t nodeId) {
  std::string prefix(4, '0');
  for (int i = 3; i >= 0; --i) {
    prefix[static_cast<size_t>(i)] = kAlphabet[nodeId & 31];
    nodeId >>= 5;
  }
  return prefix;
}

std::string newSessionId(uint32_t nodeId) {
  std::string id = sessionIdPrefix(nodeId) + std::string(28, '0');
  // The creation second, modulo 2^20 (about 12 days): ids of one node made close in time sort
  // close together, so a store's index takes new sessions at one edge instead of all over.
  auto seconds = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  for (int i = 7; i >= 4; --i) {
    id[static_cast<size_t>(i)] = kAlphabet[seconds & 31];
    seconds >>= 5;
  }
  unsigned char random[24];
  arc4random_buf(random, sizeof random);
  for (size_t i = 0; i < 24; ++i) id[8 + i] = kAlphabet[random[i] & 31];
  return id;
}

std::optional<uint32_t> sessionIdNode(std::string_view id) {
  if (!isSessionId(id)) return std::nullopt;
  uint32_t node = 0;
  for (size_t i = 0; i < 4; ++i) node = node * 32 + static_cast<uint32_t>(digit(id[i]));
  return node;
}

bool isSessionId(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (digit(c) < 0) return false;
  return true;
}

}  // namespace ors
