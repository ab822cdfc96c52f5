// orsd: the ORS server process. Wiring only: configuration, workers, HTTP, signals.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstring>
#include <strings.h>
#include <filesystem>
#include <future>
#include <optional>
#include <unordered_map>
#include <iostream>
#include <thread>

#include "cluster/cluster.h"
#include "cluster/health.h"
#include "common/ids.h"
#include "common/thread_name.h"
#include "http/client.h"
#include "http/server.h"
#include "http/url.h"
#include "server/adoption.h"
#include "server/api.h"
#include "server/config.h"
#include "server/documents.h"
#include "server/metrics.h"
#include "server/primary.h"
#include "server/standby.h"
#include "server/worker.h"

namespace {

using ors::server::Primary;
using ors::server::RemoteDelivery;

// One `#_scxml_<id>` event POSTed to another node: to each of `bases` in turn while none answers,
// following a 307 (a backup's, or an adopted node's) at most twice. `failed` gets why it did not
// arrive (no answer from any, or an answer other than 2xx); it runs on the io_context.
struct RemotePost : std::enable_shared_from_this<RemotePost> {
  explicit RemotePost(boost::asio::io_context& c) : ioc(c) {}
  boost::asio::io_context& ioc;
  std::vector<std::string> bases;
  std::string path, body;
  std::function<void(const std::string& why)> failed;
  size_t next = 0;
  int hops = 0;

  void start() { send(bases[next++] + path); }
  void send(const std::string& url) {
    ors::http::request(ioc, "POST", url, body, "application/json", std::chrono::seconds(10),
                       [self = shared_from_this()](ors::http::ClientResponse r) { self->answered(std::move(r)); });
  }
  void answered(ors::http::ClientResponse r) {
    if (r.status >= 200 && r.status < 300) return;
    if (r.status == 307 && hops < 2) {
      for (const auto& [k, v] : r.headers) {
        if (k.size() == 8 && strncasecmp(k.c_str(), "location", 8) == 0) {
          ++hops;
          return send(v);
        }
      }
    }
    if (r.status == 0 && next < bases.size()) return send(bases[next++] + path);
    failed(r.status ? "HTTP status " + std::to_string(r.status) : r.error);
  }
};

constexpr const char* kUsage =
    "usage: orsd [--config FILE] [--port N] [--data-dir DIR] [--node-id N] [--address ADDR]\n"
    "            [--set section/option=value]...\n"
    "With no options: a single-node cluster on port 7210, documents under the current directory.\n";

// The cluster's name, for the Redis keys (from the cluster file, else "ors").
std::string clusterNameOf(const ors::server::Config& config) {
  if (config.clusterFile.empty()) return "ors";
  auto m = ors::cluster::ClusterMap::load(config.clusterFile);
  return m ? m->name : "ors";
}

// The node that owns what a call names: the session's (from its id), this one for a start, or
// nothing for calls about the instance itself (heartbeat, metrics, help, lists).
std::optional<uint32_t> callOwner(const ors::http::Request& req, uint32_t self, std::string* sessionId) {
  ors::http::Target target;
  if (!ors::http::parseTarget(req.target(), &target)) return std::nullopt;
  const auto& seg = target.segments;
  if (seg.size() < 3 || seg[0] != "scxml" || seg[1] != "session") return std::nullopt;
  if (seg.size() == 3 && seg[2] == "start") return self;
  std::optional<uint32_t> node = ors::sessionIdNode(seg[2]);
  if (node) *sessionId = seg[2];
  return node;
}

}  // namespace

int main(int argc, char** argv) {
  using ors::server::Config;
  Config config;
  std::vector<std::pair<std::string, std::string>> overrides;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "orsd: " << a << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--config") {
      ors::Status s = config.load(value());
      if (!s) {
        std::cerr << "orsd: " << s.message() << "\n";
        return 2;
      }
    } else if (a == "--port") {
      overrides.emplace_back("http/port", value());
    } else if (a == "--address") {
      overrides.emplace_back("http/address", value());
    } else if (a == "--data-dir") {
      overrides.emplace_back("persistence/data-dir", value());
    } else if (a == "--node-id") {
      overrides.emplace_back("orchestration/node-id", value());
    } else if (a == "--set") {
      std::string kv = value();
      size_t eq = kv.find('=');
      if (eq == std::string::npos) {
        std::cerr << "orsd: --set expects section/option=value\n";
        return 2;
      }
      overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else {
      std::cerr << "orsd: unknown argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  for (auto& [k, v] : overrides) {
    ors::Status s = config.set(k, v);
    if (!s) {
      std::cerr << "orsd: " << s.message() << "\n";
      return 2;
    }
  }
  config.clusterName = clusterNameOf(config);
  std::error_code ec;
  std::filesystem::create_directories(config.dataDir, ec);
  if (ec) {
    std::cerr << "orsd: cannot create data directory " << config.dataDir << ": " << ec.message() << "\n";
    return 2;
  }

  ors::server::Metrics metrics;
  ors::server::DocumentCache documents(config.documentRoots, config.httpAllow, config.documentRevalidate);
  // Who is the node's primary: a lock on the shared data directory (one host), or a lease in
  // Redis (instances on several hosts, persistence/type = redis).
  std::unique_ptr<ors::server::Arbiter> arbiter;
  if (config.persistence == "redis") {
    std::string e;
    arbiter = ors::server::makeRedisLease(config.redisNodes, clusterNameOf(config), config.nodeId, config.leaseTtl,
                                          config.nodeId, &e);
    if (!arbiter) {
      std::cerr << "orsd: " << e << "\n";
      return 1;
    }
  } else {
    arbiter = std::make_unique<ors::server::DataDirLock>(config.dataDir);
  }
  ors::server::Arbiter& lock = *arbiter;

  // The HTTP side is up first (its port makes selfUrl, which restored sessions need); calls are
  // answered by the primary's Api once it is ready, before that as a backup or "starting".
  // Declared before the HTTP io_context, so destroyed after it: a pending accept of that context
  // holds a socket of a worker's context.
  std::unique_ptr<Primary> node;
  boost::asio::io_context ioc;
  std::atomic<Primary*> ready{nullptr};
  ors::http::ServerOptions so;
  so.address = config.address;
  so.port = config.port;
  so.bodyLimit = config.maxBody;
  so.headerLimit = config.maxHeader;
  // Connections live on the worker threads, round robin: a request is parsed where it is most
  // likely served, and a call for a session of that worker needs no thread hop at all.
  std::atomic<unsigned> nextWorker{0};
  so.connectionExecutor = [&]() -> boost::asio::any_io_executor {
    Primary* p = ready.load(std::memory_order_acquire);
    if (!p) return boost::asio::make_strand(ioc);
    return p->workers[nextWorker.fetch_add(1, std::memory_order_relaxed) % p->workers.size()]->ioContext().get_executor();
  };
  // The cluster: from its file, or this node alone (then the only other owner is "unknown").
  ors::cluster::ClusterMap clusterMap;
  if (!config.clusterFile.empty()) {
    auto loaded = ors::cluster::ClusterMap::load(config.clusterFile);
    if (!loaded) {
      std::cerr << "orsd: " << loaded.status().message() << "\n";
      return 2;
    }
    clusterMap = std::move(*loaded);
    if (!clusterMap.find(config.nodeId)) {
      std::cerr << "orsd: node " << config.nodeId << " is not in the cluster file " << config.clusterFile << "\n";
      return 2;
    }
  }
  std::optional<ors::cluster::HealthMonitor> health;
  auto liveness = [&](const ors::cluster::Instance& i) {
    return health ? health->liveness(i) : ors::cluster::Liveness::kUnknown;
  };

  std::atomic<bool> suspended{false};  // the primary role cannot be confirmed (Redis unreachable)
  // Other nodes adopted here when both their instances were gone (Redis store; server/adoption.h).
  std::unique_ptr<ors::server::Adoption> adoption;
  ors::http::Server server(ioc, so, [&](ors::http::Request&& req, ors::http::Reply reply) {
    Primary* p = ready.load(std::memory_order_acquire);
    if ((!p && lock.held()) || (p && (suspended.load(std::memory_order_relaxed) || lock.expired()))) {
      auto res = ors::http::errorResponse(ors::http::beast_http::status::service_unavailable,
                                          p ? "the session store is unreachable (Redis does not answer); retry"
                                            : "the server is starting (restoring sessions)");
      res.set(ors::http::beast_http::field::retry_after, "1");
      return reply(std::move(res));
    }
    // A call that names a session (or starts one) is served by its node's primary: here, or
    // redirected there (cluster::route lists every outcome).
    auto t0 = std::chrono::steady_clock::now();
    std::string sessionId;
    std::optional<uint32_t> owner = callOwner(req, config.nodeId, &sessionId);
    if (owner) {
      std::optional<std::string> adopter;
      if (adoption && *owner != config.nodeId) {
        if (std::shared_ptr<Primary> adopted = adoption->primaryOf(*owner))
          return adopted->api->handle(std::move(req), std::move(reply));
        adopter = adoption->adopterOf(*owner);
      }
      ors::cluster::Decision d = ors::cluster::route(
          clusterMap, config.nodeId, p != nullptr, p ? std::nullopt : lock.primaryUrl(), *owner,
          liveness, adopter);
      if (d.kind == ors::cluster::Decision::Kind::kServeHere) return p->api->handle(std::move(req), std::move(reply));
      auto res = ors::server::routedResponse(req, d, sessionId, *owner, config);
      metrics.redirect_time.observe(std::chrono::steady_clock::now() - t0);
      if (res.status() == ors::http::beast_http::status::temporary_redirect) metrics.redirects_total.fetch_add(1, std::memory_order_relaxed);
      return reply(std::move(res));
    }
    if (p) return p->api->handle(std::move(req), std::move(reply));
    if (req.target() == "/metrics" &&
        (req.method() == ors::http::beast_http::verb::get || req.method() == ors::http::beast_http::verb::head)) {
      // Each instance's own counters (a backup's redirects among them), for whoever scrapes it.
      ors::http::Response res{ors::http::beast_http::status::ok};
      res.set(ors::http::beast_http::field::content_type, "text/plain; version=0.0.4");
      res.body() = metrics.render();
      return reply(std::move(res));
    }
    auto res = ors::server::backupResponse(req, lock.primaryUrl(), config);
    if (res.status() == ors::http::beast_http::status::temporary_redirect) metrics.redirects_total.fetch_add(1, std::memory_order_relaxed);
    reply(std::move(res));
  });
  std::string err = server.start();
  if (!err.empty()) {
    std::cerr << "orsd: " << err << "\n";
    return 1;
  }
  if (!config.externalUrl.empty()) {
    config.selfUrl = config.externalUrl;
    while (!config.selfUrl.empty() && config.selfUrl.back() == '/') config.selfUrl.pop_back();
  } else {
    std::string host = config.address == "0.0.0.0" || config.address == "::" ? "127.0.0.1" : config.address;
    config.selfUrl = "http://" + host + ":" + std::to_string(server.port());
  }
  if (config.clusterFile.empty()) {
    ors::cluster::Node self;
    self.id = config.nodeId;
    self.primary = {config.address, server.port()};
    clusterMap.nodes[config.nodeId] = self;
  }
  health.emplace(ioc, clusterMap, config.nodeId, config.healthPeriod);
  health->start();
  unsigned n = config.workers ? config.workers : std::max(1u, std::thread::hardware_concurrency());
  std::string lockError;
  bool primary = lock.tryAcquire(config.selfUrl, &lockError);
  if (!primary && !lockError.empty() && config.persistence != "redis") {
    std::cerr << "orsd: " << lockError << "\n";
    return 1;
  }
  // The line scripts and tests wait for: the port, and the role once it is held (a primary's
  // once it serves).
  auto announce = [&](bool asPrimary) {
    std::cout << "orsd: node " << config.nodeId << " listening on " << config.address << ":" << server.port()
              << " with " << n << " workers; documents under";
    for (const auto& r : documents.roots()) std::cout << " " << r;
    std::cout << "; " << (asPrimary ? "primary" : "backup") << std::endl;
  };
  if (!primary) announce(false);

  // The nodes that take calls now: this one, and those with an instance answering as primary or
  // not checked yet (at start-up every node computes the same assignment; a node that turns out
  // to be down has its calls taken by the next in rank after the watching timeout).
  auto liveNodes = [&]() {
    std::vector<uint32_t> live;
    auto serves = [&](const ors::cluster::Instance& i) {
      auto l = liveness(i);
      return l == ors::cluster::Liveness::kPrimary || l == ors::cluster::Liveness::kUnknown;
    };
    for (const auto& [id, node] : clusterMap.nodes)
      if (id == config.nodeId || serves(node.primary) || (node.backup && serves(*node.backup))) live.push_back(id);
    return live;
  };
  // The primary this process runs for a node: its own, or one it adopted; null when none.
  auto servedHere = [&](uint32_t nodeId) -> std::shared_ptr<Primary> {
    if (nodeId == config.nodeId) {
      Primary* p = ready.load(std::memory_order_acquire);
      return p ? std::shared_ptr<Primary>(std::shared_ptr<Primary>(), p) : nullptr;  // not owned: lives till exit
    }
    return adoption ? adoption->primaryOf(nodeId) : nullptr;
  };
  auto deliverHere = [](Primary& p, const std::string& id, ors::scxml::Event e) {
    return p.workers[ors::server::workerOf(id, static_cast<unsigned>(p.workers.size()))]->post(
        [id, e = std::move(e)](ors::server::Worker& w) mutable { w.runtime().deliver(id, std::move(e)); },
        /*force=*/true);
  };
  // `#_scxml_<id>` for a session of another node: POSTed as it is to where that node serves, as
  // cluster::route says; when the health checks count the node down (a loaded machine may miss
  // two), to its instances anyway, primary then backup. The answer decides; a failure comes back
  // to the sender as error.communication.
  RemoteDelivery remote = [&](const std::string& id, ors::scxml::Event e) {
    std::optional<uint32_t> owner = ors::sessionIdNode(id);
    if (!owner) return false;
    if (std::shared_ptr<Primary> here = servedHere(*owner)) return deliverHere(*here, id, std::move(e));
    const ors::cluster::Node* ownerNode = clusterMap.find(*owner);
    if (!ownerNode) return false;
    using Kind = ors::cluster::Decision::Kind;
    ors::cluster::Decision d = ors::cluster::route(clusterMap, config.nodeId, true, std::nullopt, *owner, liveness,
                                                   adoption ? adoption->adopterOf(*owner) : std::nullopt);
    std::vector<std::string> bases;
    if (d.kind == Kind::kRedirectExternal || d.kind == Kind::kRedirectPrimary || d.kind == Kind::kRedirectAdopter) {
      bases.push_back(d.location);
    } else if (d.kind == Kind::kOwnerDown) {
      bases.push_back(ownerNode->primary.url());
      if (ownerNode->backup) bases.push_back(ownerNode->backup->url());
    } else {
      return false;
    }
    std::string sender = e.origin.rfind("#_scxml_", 0) == 0 ? e.origin.substr(8) : std::string();
    std::string sendid = e.sendid;
    auto post = std::make_shared<RemotePost>(ioc);
    post->bases = std::move(bases);
    post->path = "/scxml/session/" + id + "/scxml-event";
    post->body = boost::json::serialize(ors::scxml::eventToValue(e));
    post->failed = [&, sender, sendid](const std::string& why) {
      std::optional<uint32_t> senderNode = ors::sessionIdNode(sender);
      std::shared_ptr<Primary> p = senderNode ? servedHere(*senderNode) : nullptr;
      if (!p) return;
      ors::scxml::Event err;
      err.name = "error.communication";
      err.type = ors::scxml::Event::Type::kPlatform;
      err.sendid = sendid;
      err.data = boost::json::object{{"message", why}};
      deliverHere(*p, sender, std::move(err));
    };
    post->start();
    return true;
  };

  // Another node whose instances are both gone is adopted by a serving primary after
  // node-takeover-timeout (server/adoption.h; Redis store only: its sessions are readable here).
  if (config.persistence == "redis" && config.nodeTakeoverTimeout.count() > 0 && clusterMap.nodes.size() > 1) {
    ors::server::Adoption::Hooks ah;
    ah.start = [&](uint32_t nodeId, std::function<std::string()> fence) {
      ors::server::Config c = config;
      c.nodeId = nodeId;
      c.adopted = true;  // no new calls and no new interactions for it
      return ors::server::startPrimary(std::move(c), metrics, documents, n, remote, clusterMap.name, std::move(fence),
                                       liveNodes);
    };
    ah.serving = [&] {
      return ready.load(std::memory_order_acquire) != nullptr && !suspended.load(std::memory_order_relaxed) &&
             !lock.expired();
    };
    ah.nodeAnswers = [&](uint32_t nodeId) {
      const ors::cluster::Node* nd = clusterMap.find(nodeId);
      auto answers = [&](const ors::cluster::Instance& i) {
        auto l = liveness(i);
        return l == ors::cluster::Liveness::kPrimary || l == ors::cluster::Liveness::kBackup;
      };
      return nd && (answers(nd->primary) || (nd->backup && answers(*nd->backup)));
    };
    adoption = std::make_unique<ors::server::Adoption>(config, clusterMap, clusterMap.name, std::move(ah));
    adoption->start(config.selfUrl);
  }

  // Becomes the primary: store, workers, sessions back, then calls are served here. That takes
  // a while (a store slow to answer on a loaded machine, many sessions to restore): it runs on a
  // thread of its own while the event loop goes on answering (503 "starting", heartbeat
  // included), and the primary it made is installed on the loop. A backup that got the role
  // keeps it if taking over fails, and tries again every second; a first start that fails exits.
  std::thread starter;
  std::mutex startedMu;
  std::unique_ptr<Primary> started;  // made by the starter, not installed yet
  bool stopping = false;             // on the event loop only
  int exitCode = 0;
  boost::asio::steady_timer takeOverRetry(ioc);
  std::function<void(bool)> takeOver = [&](bool first) {
    if (starter.joinable()) starter.join();  // the attempt before, over since it posted
    starter = std::thread([&, first] {
      ors::nameThread("ors-start");
      auto t0 = std::chrono::steady_clock::now();
      ors::Result<std::unique_ptr<Primary>> p =
          ors::server::startPrimary(config, metrics, documents, n, remote, clusterMap.name, [&lock] { return lock.token(); }, liveNodes);
      bool ok = static_cast<bool>(p);
      if (ok) {
        std::lock_guard<std::mutex> lk(startedMu);
        started = std::move(*p);
      } else {
        std::cerr << "orsd: " << p.status().message() << std::endl;
      }
      boost::asio::post(ioc, [&, first, ok, t0] {
        if (stopping) return;  // main destroys what was made
        if (!ok) {
          if (first) {
            exitCode = 1;
            ioc.stop();
            return;
          }
          std::cerr << "orsd: taking over failed; trying again in 1 s" << std::endl;
          takeOverRetry.expires_after(std::chrono::seconds(1));
          takeOverRetry.async_wait([&](boost::system::error_code ec) {
            if (!ec && !stopping) takeOver(false);
          });
          return;
        }
        {
          std::lock_guard<std::mutex> lk(startedMu);
          node = std::move(started);
        }
        ready.store(node.get(), std::memory_order_release);
        if (first) announce(true);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "orsd: primary; restored " << node->restored << " sessions in " << ms << " ms" << std::endl;
      });
    });
  };
  if (primary) boost::asio::post(ioc, [&] { takeOver(true); });

  // The role, on a thread of its own (asking Redis may take seconds when it is down, and the
  // acceptor must not wait for that): a backup polls for it (the kernel frees the lock the moment
  // the primary's process dies; a lease expires), then takes over on the main loop. A primary
  // keeps it, refuses calls while it cannot tell, and stops at once when it has lost it: another
  // instance serves the node's sessions now, and the store refuses this one's writes.
  std::mutex roleMu;
  std::condition_variable roleCv;
  bool roleStop = false;
  std::thread roleThread([&] {
    ors::nameThread("ors-role");
    std::unique_lock<std::mutex> lk(roleMu);
    bool takingOver = false;
    while (!roleStop) {
      auto period = lock.held() ? lock.keepPeriod() : std::chrono::milliseconds(100);
      if (roleCv.wait_for(lk, period, [&] { return roleStop; })) break;
      lk.unlock();
      if (lock.held()) {
        ors::server::Arbiter::Keep k = lock.keep();
        if (k == ors::server::Arbiter::Keep::kLost) {
          std::cerr << "orsd: node " << config.nodeId << ": another instance holds the primary role now;"
                    << " stopping at once" << std::endl;
          std::_Exit(3);
        }
        bool unknown = k == ors::server::Arbiter::Keep::kUnknown;
        if (suspended.exchange(unknown) != unknown)
          std::cerr << "orsd: " << (unknown ? "cannot reach the store to keep the primary role: refusing calls"
                                            : "the store answers again: serving") << std::endl;
      } else if (!takingOver) {
        std::string e;
        if (lock.tryAcquire(config.selfUrl, &e)) {
          takingOver = true;
          boost::asio::post(ioc, [&] {
            if (stopping) return;
            std::cout << "orsd: the primary is gone; taking over" << std::endl;
            takeOver(false);
          });
        } else {
          lock.keep();  // a backup learns where the primary is
        }
      }
      lk.lock();
    }
  });
  auto stopRole = [&] {
    {
      std::lock_guard<std::mutex> lk(roleMu);
      roleStop = true;
    }
    roleCv.notify_all();
  };

  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    std::cout << "orsd: signal " << sig << ", draining" << std::endl;
    stopping = true;
    takeOverRetry.cancel();
    server.stop();
    stopRole();
    health->stop();
    if (adoption) adoption->stop();  // adopted nodes handed back, drained
    // The call service first (it feeds the workers), then the store: the answers waiting for its
    // last writes go out, then the workers stop.
    if (node) node->stop();
    ioc.stop();
  });
  std::vector<std::thread> io;
  for (unsigned i = 1; i < config.ioThreads; ++i) {
    io.emplace_back([&ioc, i] {
      ors::nameThread("ors-http-" + std::to_string(i));
      ioc.run();
    });
  }
  ioc.run();
  for (auto& t : io) t.join();
  stopRole();
  roleThread.join();
  if (starter.joinable()) starter.join();
  started.reset();  // made while stopping: never installed
  if (exitCode != 0) return exitCode;
  // The server and the HTTP io_context go first (a pending accept holds a socket of a worker's
  // io_context), then the workers, by declaration order.
  std::cout << "orsd: stopped" << std::endl;
  return 0;
}
