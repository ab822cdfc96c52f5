// The call feed: the one ordered log of call events that every primary of the cluster reads
// (ORS contract section 6: every node sees every call), the claims that make exactly one node
// handle each call, each node's read position, and the reply channel that carries the routing
// actions of strategies back to the telephony adapters. docs/interactions.md has the protocol.
//
// Two implementations, as for sessions: SQLite (one file shared by the nodes of one machine, the
// default) and Redis Cluster (streams and keys under ORS:<cluster>:{calls}, all in one hash slot
// so that a feed write and a claim are one pipeline to one master).
//
// Threading: not thread-safe, and calls block on I/O: one thread (calls::Service's loop) uses it.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ors::calls {

// <send type="call">: a routing action for the session's call, through the reply channel.
inline constexpr const char* kCallProcessorType = "call";

// A position in the feed or the reply channel: "<ms>-<seq>" (Redis stream ids; SQLite writes
// "0-<rowid>"). Totally ordered; "0-0" is before everything.
struct FeedId {
  uint64_t ms = 0, seq = 0;
  static std::optional<FeedId> parse(std::string_view text);
  std::string str() const { return std::to_string(ms) + "-" + std::to_string(seq); }
  auto operator<=>(const FeedId&) const = default;
};

struct Entry {
  FeedId id;
  int64_t timeMs = 0;          // when it was appended (ms since 1970, the appending node's clock)
  boost::json::object body;    // a call event, or a routing action
};

class Feed {
 public:
  virtual ~Feed() = default;
  // Appends call events (each an object with at least "call" and "event"); their ids, in order.
  // Durable when it returns.
  virtual Result<std::vector<FeedId>> append(const std::vector<boost::json::object>& events) = 0;
  // Up to `max` entries after `after`, oldest first (none: nothing new).
  virtual Result<std::vector<Entry>> read(FeedId after, size_t max) = 0;
  // The id of the newest entry ("0-0" when empty).
  virtual Result<FeedId> last() = 0;

  // Claims `call` for `value` ("<node>|<session id>") unless it is claimed: the claim that holds
  // afterwards (ours, or the one that was there).
  virtual Result<std::string> claim(const std::string& call, const std::string& value) = 0;
  // Marks a claim done ("<node>|<session id>|ended"): the call's session ended, so a later
  // event of the call starts nothing.
  virtual Status endClaim(const std::string& call, const std::string& value) = 0;
  // The claim of `call`, or nothing; claimsOf: of each of `calls`, in one round trip.
  virtual Result<std::optional<std::string>> claimOf(const std::string& call) = 0;
  virtual Result<std::vector<std::optional<std::string>>> claimsOf(const std::vector<std::string>& calls) = 0;

  // A node's read position, so that whichever instance of the node is primary goes on from it.
  virtual Status saveCursor(uint32_t node, FeedId id) = 0;
  virtual Result<FeedId> cursor(uint32_t node) = 0;

  // The interaction queue (multimedia): submitted interactions wait until a node takes them; a
  // node takes at most what it has room for, holds them until their sessions end (finish), and
  // keeps them alive (renew) so that nobody else takes them while it lives.
  virtual Result<std::vector<FeedId>> submit(const std::vector<boost::json::object>& interactions) = 0;
  virtual Result<std::vector<Entry>> take(uint32_t node, size_t max) = 0;
  virtual Status finish(FeedId id) = 0;
  // What `node` took and has not finished (a new instance of the node goes on with them).
  virtual Result<std::vector<Entry>> held(uint32_t node, size_t max) = 0;
  virtual Status renew(uint32_t node) = 0;

  // The reply channel: routing actions for the adapters.
  virtual Result<std::vector<FeedId>> reply(const std::vector<boost::json::object>& actions) = 0;
  virtual Result<std::vector<Entry>> replies(FeedId after, size_t max) = 0;
  virtual Result<FeedId> lastReply() = 0;
};

// A feed opened on first use by `open`, and again after a failed open at the next use (at most
// every half second): a primary whose store answers slowly at takeover still takes over, and its
// call service goes on once the feed opens. Not thread-safe, like the feeds it wraps.
std::unique_ptr<Feed> openLazily(std::function<Result<std::unique_ptr<Feed>>()> open);

// `path`: the SQLite file (created if absent; WAL, so several processes share it).
Result<std::unique_ptr<Feed>> openSqliteFeed(const std::string& path);
// `nodes`: "host:port,..." of the Redis Cluster; keys under ORS:<cluster>:{calls}. Appends are
// acknowledged once `replicas` replicas have them (persistence/redis-replicas).
Result<std::unique_ptr<Feed>> openRedisFeed(const std::string& nodes, const std::string& cluster, int replicas);

}  // namespace ors::calls
