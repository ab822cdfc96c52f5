// The cluster file and cluster::route(): one test per outcome of the decision.
#include "cluster/cluster.h"

#include <gtest/gtest.h>

#include <map>

namespace ors::cluster {
namespace {

constexpr const char* kFile = R"(# three nodes
[cluster]
name = demo
[node 1]
primary = 127.0.0.1:7210
backup = 127.0.0.1:7211
[node 2]
primary = 127.0.0.1:7220
backup = 127.0.0.1:7221
[node 3]
primary = 127.0.0.1:7230
external-url = http://lb.example.com:8080/
)";

ClusterMap map() {
  auto m = ClusterMap::parse(kFile, "c.ini");
  EXPECT_TRUE(m) << m.status().message();
  return *m;
}

struct Health {
  std::map<std::string, Liveness> state;
  std::function<Liveness(const Instance&)> fn() {
    return [this](const Instance& i) {
      auto it = state.find(i.url());
      return it == state.end() ? Liveness::kUnknown : it->second;
    };
  }
};

using Kind = Decision::Kind;

TEST(ClusterFile, Parses) {
  ClusterMap m = map();
  EXPECT_EQ(m.name, "demo");
  ASSERT_EQ(m.nodes.size(), 3u);
  EXPECT_EQ(m.find(2)->backup->url(), "http://127.0.0.1:7221");
  EXPECT_EQ(m.find(3)->externalUrl, "http://lb.example.com:8080");
  EXPECT_FALSE(m.find(3)->backup);
  EXPECT_EQ(m.find(4), nullptr);
}

TEST(ClusterFile, ErrorsNameTheLine) {
  auto bad = ClusterMap::parse("[cluster]\nname = x\n[node 1]\nprimary = nowhere\n", "c.ini");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.status().message(), "c.ini:4: primary must be host:port, not 'nowhere'");
  EXPECT_FALSE(ClusterMap::parse("[node 1]\nprimary = a:1\n[node 1]\nprimary = b:2\n", "c.ini"));
  EXPECT_FALSE(ClusterMap::parse("[node 1]\nbackup = a:1\n", "c.ini"));  // no primary
  EXPECT_FALSE(ClusterMap::parse("[nodes]\n", "c.ini"));
  EXPECT_FALSE(ClusterMap::parse("[node 1]\nprimary = a:1\ncolour = red\n", "c.ini"));
}

TEST(Route, ServeHere) {
  Health h;
  Decision d = route(map(), 1, /*selfIsPrimary=*/true, std::nullopt, 1, h.fn());
  EXPECT_EQ(d.kind, Kind::kServeHere);
}

TEST(Route, RedirectToExternalUrl) {
  Health h;
  Decision d = route(map(), 1, true, std::nullopt, 3, h.fn());
  EXPECT_EQ(d.kind, Kind::kRedirectExternal);
  EXPECT_EQ(d.location, "http://lb.example.com:8080");
}

TEST(Route, RedirectToPrimaryOfANodeWithoutExternalUrl) {
  Health h;
  Decision d = route(map(), 1, true, std::nullopt, 2, h.fn());  // not checked yet: as configured
  EXPECT_EQ(d.kind, Kind::kRedirectPrimary);
  EXPECT_EQ(d.location, "http://127.0.0.1:7220");
  h.state["http://127.0.0.1:7220"] = Liveness::kPrimary;
  EXPECT_EQ(route(map(), 1, true, std::nullopt, 2, h.fn()).location, "http://127.0.0.1:7220");
}

TEST(Route, RedirectToTheBackupThatTookOver) {
  Health h;
  h.state["http://127.0.0.1:7220"] = Liveness::kDown;
  h.state["http://127.0.0.1:7221"] = Liveness::kPrimary;
  Decision d = route(map(), 1, true, std::nullopt, 2, h.fn());
  EXPECT_EQ(d.kind, Kind::kRedirectPrimary);
  EXPECT_EQ(d.location, "http://127.0.0.1:7221");
}

TEST(Route, BackupRedirectsToItsOwnPrimary) {
  Health h;
  Decision d = route(map(), 1, /*selfIsPrimary=*/false, std::string("http://127.0.0.1:7210"), 1, h.fn());
  EXPECT_EQ(d.kind, Kind::kRedirectPrimary);
  EXPECT_EQ(d.location, "http://127.0.0.1:7210");
}

TEST(Route, BackupSendsOtherNodesSessionsToTheirPrimaryNotTheirExternalUrl) {
  Health h;
  Decision d = route(map(), 1, false, std::string("http://127.0.0.1:7210"), 3, h.fn());
  EXPECT_EQ(d.kind, Kind::kRedirectPrimary);  // contract 4.2
  EXPECT_EQ(d.location, "http://127.0.0.1:7230");
}

TEST(Route, OwnerUnknown) {
  Health h;
  EXPECT_EQ(route(map(), 1, true, std::nullopt, 9, h.fn()).kind, Kind::kOwnerUnknown);
}

TEST(Route, OwnerDown) {
  Health h;
  h.state["http://127.0.0.1:7220"] = Liveness::kDown;
  h.state["http://127.0.0.1:7221"] = Liveness::kBackup;  // a backup waiting, no primary
  EXPECT_EQ(route(map(), 1, true, std::nullopt, 2, h.fn()).kind, Kind::kOwnerDown);
  // A backup whose own primary is not known yet cannot send anyone anywhere either.
  EXPECT_EQ(route(map(), 1, false, std::nullopt, 1, h.fn()).kind, Kind::kOwnerDown);
}

TEST(Route, AdoptedNodeGoesStraightToItsAdopter) {
  Health h;
  h.state["http://127.0.0.1:7220"] = Liveness::kDown;
  h.state["http://127.0.0.1:7221"] = Liveness::kBackup;  // came back: a backup of the adopter
  const std::optional<std::string> adopter("http://127.0.0.1:7230");
  Decision d = route(map(), 1, true, std::nullopt, 2, h.fn(), adopter);
  EXPECT_EQ(d.kind, Kind::kRedirectAdopter);
  EXPECT_EQ(d.location, "http://127.0.0.1:7230");
  // Before the external-url of the node (node 3 has one): its balancer may have nobody for it.
  d = route(map(), 1, true, std::nullopt, 3, h.fn(), adopter);
  EXPECT_EQ(d.kind, Kind::kRedirectAdopter);
  // Never for this instance's own node, nor for a node that is not in the cluster.
  EXPECT_EQ(route(map(), 1, true, std::nullopt, 1, h.fn(), adopter).kind, Kind::kServeHere);
  EXPECT_EQ(route(map(), 1, true, std::nullopt, 9, h.fn(), adopter).kind, Kind::kOwnerUnknown);
}

}  // namespace
}  // namespace ors::cluster
