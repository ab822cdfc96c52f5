// The primary's parts, started and stopped (see primary.h).
#include "server/primary.h"

#include <atomic>
#include <future>
#include <iostream>
#include <mutex>
#include <unordered_map>

#include "calls/feed.h"
#include "common/ids.h"
#include "scxml/parser.h"
#include "store/redis_store.h"
#include "store/sqlite_store.h"

namespace ors::server {

namespace {

// Start-up: every stored session back on its worker, documents first (by hash, from the
// store, so that a session runs the version it started with even if the file changed).
Result<size_t> restoreSessions(store::SessionStore& sessions, std::vector<std::unique_ptr<Worker>>& workers,
                               const scxml::Loader& loader) {
  std::unordered_map<std::string, std::shared_ptr<const scxml::Document>> docs;
  Status st = sessions.loadDocuments([&](store::DocumentRecord&& d) {
    scxml::ParseOptions po;
    po.url = d.url;
    po.loader = loader;
    scxml::ParseResult pr = scxml::parseStored(d.source, po);
    if (!pr.document) {
      std::clog << "orsd: stored document " << d.hash << " (" << d.url << ") no longer compiles: "
                << (pr.errors.empty() ? "?" : pr.errors.front().str()) << "\n";
    } else if (pr.document->hash != d.hash) {
      std::clog << "orsd: stored document " << d.hash << " (" << d.url << ") loads differently now (its scripts or"
                << " data changed): its sessions cannot be restored\n";
    } else {
      docs.emplace(d.hash, pr.document);
    }
  });
  if (!st) return st;
  const unsigned n = static_cast<unsigned>(workers.size());
  std::vector<std::vector<store::SessionRecord>> shards(n);
  st = sessions.loadSessions([&](store::SessionRecord&& r) { shards[workerOf(r.id, n)].push_back(std::move(r)); });
  if (!st) return st;
  std::atomic<size_t> restored{0}, failed{0};
  std::vector<std::promise<void>> done(n);
  for (unsigned i = 0; i < n; ++i) {
    workers[i]->post([&, i](Worker& w) {
      size_t f = 0;
      restored += w.restore(std::move(shards[i]), docs, &f);
      failed += f;
      w.publishCounts();
      done[i].set_value();
    }, /*force=*/true);
  }
  for (auto& d : done) d.get_future().wait();
  if (failed > 0) std::clog << "orsd: " << failed << " stored sessions could not be restored (see above)\n";
  return restored.load();
}

}  // namespace

Primary::~Primary() {
  stop();
  calls.reset();
  api.reset();
  workers.clear();  // each joins its thread
  store.reset();
}

void Primary::stop() {
  // The call service posts to the workers: it stops first (its position saved). The store's last
  // answers go to the workers' event loops: it closes (flushes) while they run. The service goes
  // before the workers' io_contexts: what it still holds may answer connections that live on them.
  if (calls) calls->stop();
  if (store) store->close();
  for (auto& w : workers) w->stop();  // nothing publishes to the service after this
}

Result<std::unique_ptr<Primary>> startPrimary(Config nodeConfig, Metrics& metrics, DocumentCache& documents, unsigned n,
                                              RemoteDelivery remote, const std::string& clusterName,
                                              std::function<std::string()> fence,
                                              std::function<std::vector<uint32_t>()> liveNodes) {
  auto p = std::make_unique<Primary>(std::move(nodeConfig));
  const Config& config = p->config;
  if (config.persistence == "sqlite") {
    store::SqliteOptions so;
    so.fullSync = config.fullSync;
    so.maxBytes = config.storeMaxBytes;
    auto opened = store::openSqliteStore(config.dataDir + "/sessions.db", so);
    if (!opened) return opened.status();
    p->store = std::move(*opened);
  } else if (config.persistence == "redis") {
    store::RedisOptions ro;
    ro.nodes = config.redisNodes;
    ro.clusterName = clusterName;
    ro.orsNode = config.nodeId;
    ro.replicas = config.redisReplicas;
    ro.fence = fence;
    auto opened = store::openRedisStore(ro);
    if (!opened) return opened.status();
    p->store = std::move(*opened);
  }
  // The call feed: in Redis with the Redis store, else a SQLite file (shared by the nodes of a
  // machine when persistence/call-feed names the same file).
  // Opened by the call service's thread on first use, and again until it opens: a store that is
  // slow to answer at a takeover must not stop the takeover.
  std::unique_ptr<calls::Feed> feed = calls::openLazily([&config, clusterName]() {
    return config.persistence == "redis"
               ? calls::openRedisFeed(config.redisNodes, clusterName, config.redisReplicas)
               : calls::openSqliteFeed(config.callFeed.empty() ? config.dataDir + "/calls.db" : config.callFeed);
  });
  Primary* raw = p.get();
  calls::Service::Options co;
  co.node = config.nodeId;
  co.routingPoints = config.routingPoints;
  co.watchingTimeout = config.callWatchingTimeout;
  co.mediaStrategies = config.mediaStrategies;
  co.maxInteractions = config.maxInteractions;
  co.takesNew = !config.adopted;
  calls::Service::Hooks hooks;
  hooks.liveNodes = std::move(liveNodes);
  hooks.start = [raw](calls::CallStart start, calls::Service::Done done) {
    raw->api->startCall(std::move(start), std::move(done));
  };
  hooks.deliver = [raw](const std::string& id, const calls::Entry& e, calls::Service::Done done) {
    raw->api->deliverCall(id, e, std::move(done));
  };
  p->calls = std::make_unique<calls::Service>(std::move(feed), std::move(co), std::move(hooks));
  for (unsigned i = 0; i < n; ++i) {
    p->workers.push_back(std::make_unique<Worker>(i, n, config, metrics, p->store.get()));
    p->workers.back()->onCallActions([raw](std::vector<boost::json::object> actions, std::function<void()> published) {
      raw->calls->publish(std::move(actions), std::move(published));
    });
    p->workers.back()->onCallEnded([raw](const std::string& call, const std::string& session) { raw->calls->ended(call, session); });
  }
  auto& workers = p->workers;
  for (auto& w : workers) {
    w->start([&workers, n, &config, remote](const std::string& id, scxml::Event e) {
      if (sessionIdNode(id) != config.nodeId) return remote(id, std::move(e));
      return workers[workerOf(id, n)]->post(
          [id, e = std::move(e)](Worker& wk) mutable { wk.runtime().deliver(id, std::move(e)); },
          /*force=*/true);
    }, documents.loader());
  }
  if (p->store) {
    Result<size_t> restored = restoreSessions(*p->store, workers, documents.loader());
    if (!restored) return restored.status();
    p->restored = *restored;
  }
  p->api = std::make_unique<Api>(config, metrics, documents, workers);
  p->api->setCalls(p->calls.get());
  // The calls the restored sessions serve are this node's: their events go on to them.
  std::vector<std::pair<std::string, std::string>> mine;
  std::mutex mineMu;
  std::vector<std::promise<void>> listed(workers.size());
  for (size_t i = 0; i < workers.size(); ++i)
    workers[i]->post([&, i](Worker& w) {
      std::lock_guard<std::mutex> lk(mineMu);
      for (const auto& [session, call] : w.calls()) mine.emplace_back(call, session);
      listed[i].set_value();
    }, /*force=*/true);
  for (auto& l : listed) l.get_future().wait();
  p->calls->startReading(std::move(mine));
  return p;
}

}  // namespace ors::server
