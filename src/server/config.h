// orsd configuration: an INI file with the vendor's section/option names where the meaning is
// the same (`[orchestration] external-url`, `heartbeat-backup-status`, `cookie`; `[http] port`),
// overridden by command-line options; every option has a default, so orsd starts with none.
// Plain data, thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "common/status.h"

namespace ors::server {

struct Config {
  // [orchestration]
  uint32_t nodeId = 1;
  std::string externalUrl;
  int heartbeatBackupStatus = 503;
  bool cookie = true;                       // Set-Cookie ORSSESSIONID=<id>.node<N>
  unsigned workers = 0;                     // 0: one per core
  size_t maxSessions = 1'000'000;
  size_t maxQueuedEvents = 100'000;         // per worker; beyond: 503 with Retry-After
  std::chrono::milliseconds requestTimeout{30'000};  // /request without <ws:response>: 504
  std::chrono::milliseconds scriptBudget{1'000};
  std::vector<std::string> documentRoots;   // file: documents only under these (default: cwd)
  std::vector<std::string> httpAllow;       // http:// documents only from these hosts (empty: any)
  std::chrono::milliseconds documentRevalidate{1000};  // http:// documents: revalidate at most this often
  std::string clusterFile;                  // cluster-file: the cluster's description ("": one node)
  std::chrono::milliseconds healthPeriod{500};  // health-check-interval: GET /heartbeat of the others
  // Calls (docs/interactions.md): how long the other nodes give a call's assigned node to claim it.
  std::chrono::milliseconds callWatchingTimeout{5000};  // call-watching-timeout
  // [routing-points] DN = strategy src: a call arriving at the DN starts the strategy.
  std::map<std::string, std::string> routingPoints;
  // [media-strategies] media = strategy src: each interaction of that media starts it.
  std::map<std::string, std::string> mediaStrategies;
  size_t maxInteractions = 100;  // max-interactions: interactions a node holds at once
  // The vendor's object model (docs/dialect.md): `_genesys.session.tenant`/`tenantid`, and the
  // configured lists that `_genesys.session.getListItemValue(list, item, key)` reads:
  // [list NAME] sections with `item/key = value` options (list -> item -> key -> value).
  std::string tenant = "Environment";
  uint64_t tenantId = 1;
  boost::json::object lists;
  // Special-day tables that `_genesys.session.isSpecialDay(table ...)` reads (the vendor keeps
  // them as statistical tables of statistical days): [special-days NAME] sections of
  // `DAY = [HH:MM-HH:MM]` options, DAY a date (YYYY-MM-DD), a date of every year (MM-DD) or a
  // weekday (Monday ...); no time range: the whole day (table -> day -> range).
  boost::json::object specialDays;
  // Option annexes that `_genesys.session.getConfigOption(ixnId, key, lookupseq)` reads (the
  // vendor keeps them on configuration objects): [annex strategy DOC], [annex dn DN],
  // [annex switch], [annex tenant] and [annex router] sections of `section/option = value`
  // options. Kept as {"strategy": {DOC: {option: value}}, "dn": {DN: {...}}, "switch": {...},
  // "tenant": {...}, "router": {...}}.
  boost::json::object annexes;
  // node-takeover-timeout: how long a node may have no instance holding its role (both gone)
  // before another node adopts its sessions, calls and interactions (Redis store; 0: never).
  std::chrono::milliseconds nodeTakeoverTimeout{10'000};
  // [http]
  std::string address = "0.0.0.0";
  uint16_t port = 7210;
  size_t maxBody = 1 << 20;                 // 413 beyond
  size_t maxHeader = 16 << 10;
  unsigned ioThreads = 1;
  // [persistence]
  std::string dataDir = "ors-data";
  std::string persistence = "sqlite";       // sqlite (sessions survive crashes), redis, or memory
  std::string redisNodes;                   // redis-nodes: host:port,... of the Redis Cluster
  int redisReplicas = 1;                    // redis-replicas: replicas that must confirm a write
  std::chrono::milliseconds leaseTtl{1500};  // lease-ms: the primary's Redis lease (redis store)
  bool fullSync = true;                     // sync=full: commits survive power loss; normal: crashes
  uint64_t storeMaxBytes = 0;               // max-size: the store refuses to grow beyond (0: no cap)
  std::chrono::milliseconds unloadAfter{0};  // unload-after: idle sessions leave memory (0: never)
  // call-feed: the SQLite file of the call feed, shared by the nodes of one machine ("": in the
  // data directory). The Redis store keeps the feed in Redis.
  std::string callFeed;

  // Derived at start-up, not an option: how this instance is reached over HTTP (external-url,
  // or http://address:port as bound), the base of BasicHTTP locations.
  std::string selfUrl;
  // Derived: the cluster's name (from the cluster file; "ors" without one).
  std::string clusterName = "ors";
  // Derived: this configuration is another node's, adopted by this instance (server/adoption.h).
  bool adopted = false;

  // Reads `file` over the current values; unknown sections/options are errors that name them.
  Status load(const std::string& file);
  // Applies "section/option" = value (the command line uses the same names).
  Status set(const std::string& key, const std::string& value);
};

}  // namespace ors::server
