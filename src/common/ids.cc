#include "common/ids.h"

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

std::string newSessionId(uint32_t nodeId) {
  std::string id(32, '0');
  for (int i = 3; i >= 0; --i) {
    id[static_cast<size_t>(i)] = kAlphabet[nodeId & 31];
    nodeId >>= 5;
  }
  unsigned char random[28];
  arc4random_buf(random, sizeof random);
  for (size_t i = 0; i < 28; ++i) id[4 + i] = kAlphabet[random[i] & 31];
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
