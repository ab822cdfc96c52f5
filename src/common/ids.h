// Session ids in the ORS shape: 32 characters of the base-32 alphabet 0-9A-V. The first 4
// characters carry the owning node id (20 bits), the other 28 are 140 random bits from the C
// library's CSPRNG (arc4random_buf), so an id is both routable and unguessable. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ors {

inline constexpr uint32_t kMaxNodeId = (1u << 20) - 1;

std::string newSessionId(uint32_t nodeId);
// The node id an id was created for, or nothing if the text is not a session id.
std::optional<uint32_t> sessionIdNode(std::string_view id);
bool isSessionId(std::string_view id);

}  // namespace ors
