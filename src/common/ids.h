// Session ids in the ORS shape: 32 characters of the base-32 alphabet 0-9A-V. The first 4
// characters carry the owning node id (20 bits), the next 4 the creation time (seconds modulo
// 2^20, for the locality of store indexes), the last 24 are 120 random bits from the C
// library's CSPRNG (arc4random_buf), so an id is routable and unguessable. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ors {

inline constexpr uint32_t kMaxNodeId = (1u << 20) - 1;

std::string newSessionId(uint32_t nodeId);
// The 4 characters every id of that node starts with (a balancer can route on them).
std::string sessionIdPrefix(uint32_t nodeId);
// The node id an id was created for, or nothing if the text is not a session id.
std::optional<uint32_t> sessionIdNode(std::string_view id);
bool isSessionId(std::string_view id);

}  // namespace ors
