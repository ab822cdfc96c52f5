// orsctl lb-config's generator: the lines each balancer needs (load-balancers.md's verified
// configs) and the ones that broke real balancers must never appear. The configurations run for
// real in the `lb` integration test.
#include "cluster/lb_config.h"

#include <gtest/gtest.h>

#include <sstream>

namespace ors::cluster {
namespace {

ClusterMap demo() {
  auto m = ClusterMap::parse(R"([cluster]
name = demo cluster
[node 1]
primary = 10.0.0.1:7210
backup = 10.0.0.2:7210
[node 33]
primary = 10.0.0.3:7210
)",
                             "c.ini");
  EXPECT_TRUE(m) << m.status().message();
  return *m;
}

std::string config(Balancer b, LbOptions o = {}) {
  Result<std::string> r = lbConfig(b, demo(), o);
  EXPECT_TRUE(r) << r.status().message();
  return r ? *r : "";
}

bool hasLine(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    size_t b = l.find_first_not_of(' ');
    if (b != std::string::npos && l.substr(b) == line) return true;
  }
  return false;
}

bool hasDirective(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    size_t b = l.find_first_not_of(' ');
    if (b != std::string::npos && l.compare(b, word.size(), word) == 0) return true;
  }
  return false;
}

TEST(LbConfig, HaproxyRoutesEachSessionToItsNodesLiveInstance) {
  std::string c = config(Balancer::kHaproxy, {.listen = "127.0.0.1:8080", .runDir = "", .checkIntervalMs = 1000});
  EXPECT_TRUE(hasLine(c, "bind 127.0.0.1:8080"));
  EXPECT_TRUE(hasLine(c, "backend ors_demo_cluster"));
  EXPECT_TRUE(hasLine(c, "option httpchk GET /heartbeat"));
  EXPECT_TRUE(hasLine(c, "http-check expect status 200"));
  EXPECT_TRUE(hasLine(c, "stick match req.cook(ORSSESSIONID) if !session_start"));
  EXPECT_FALSE(hasDirective(c, "stick on"));
  EXPECT_FALSE(hasDirective(c, "appsession"));
  // Node 33 is "0011" in base 32.
  EXPECT_TRUE(hasLine(c, "acl path_node33 path_beg /scxml/session/0011"));
  EXPECT_TRUE(hasLine(c, "acl cookie_node1 req.cook(ORSSESSIONID) -m reg ^[^.]*[.]node1$"));
  EXPECT_TRUE(hasLine(c, "use-server node1-primary if path_node1"));
  EXPECT_TRUE(hasLine(c, "use-server node1-backup if path_node1"));
  EXPECT_TRUE(hasLine(c, "use-server node33-primary if !session_start cookie_node33"));
  EXPECT_FALSE(c.find("node33-backup") != std::string::npos);  // it has none
  EXPECT_TRUE(hasLine(c, "server node1-backup 10.0.0.2:7210"));
  EXPECT_FALSE(c.find(" backup\n") != std::string::npos);  // never HAProxy's backup flag
  EXPECT_TRUE(hasLine(c, "daemon"));                       // the system's service
}

TEST(LbConfig, StandaloneKeepsItsFilesInTheRunDirectory) {
  std::string h = config(Balancer::kHaproxy, {.listen = "9000", .runDir = "/tmp/lb", .checkIntervalMs = 1000});
  EXPECT_TRUE(hasLine(h, "bind *:9000"));
  EXPECT_TRUE(hasLine(h, "pidfile /tmp/lb/haproxy.pid"));
  EXPECT_FALSE(hasDirective(h, "daemon"));
  EXPECT_FALSE(hasDirective(h, "chroot"));
  std::string a = config(Balancer::kApache, {.listen = "127.0.0.1:9001", .runDir = "/tmp/lb", .checkIntervalMs = 1000});
  EXPECT_TRUE(hasLine(a, "Listen 127.0.0.1:9001"));
  EXPECT_TRUE(hasLine(a, "PidFile \"/tmp/lb/apache2.pid\""));
  EXPECT_TRUE(hasLine(a, "LoadModule proxy_hcheck_module /usr/lib/apache2/modules/mod_proxy_hcheck.so"));
}

TEST(LbConfig, ApacheSharesARoutePerNodeAndNeverRewritesRedirects) {
  std::string c = config(Balancer::kApache, {.listen = "80", .runDir = "", .checkIntervalMs = 2500});
  EXPECT_TRUE(hasLine(c, "BalancerMember \"http://10.0.0.1:7210\" route=node1 hctemplate=ors_hc retry=1"));
  EXPECT_TRUE(hasLine(c, "BalancerMember \"http://10.0.0.2:7210\" route=node1 hctemplate=ors_hc retry=1"));
  EXPECT_TRUE(hasLine(c, "BalancerMember \"http://10.0.0.3:7210\" route=node33 hctemplate=ors_hc retry=1"));
  EXPECT_TRUE(hasLine(c, "ProxyPass \"/\" \"balancer://ors_demo_cluster/\" stickysession=ORSSESSIONID"));
  EXPECT_TRUE(hasLine(c, "ProxyPass \"/scxml/session/start\" \"balancer://ors_demo_cluster_start/scxml/session/start\""));
  EXPECT_TRUE(hasLine(c, "ProxyHCTemplate ors_hc hcmethod=GET hcuri=/heartbeat hcinterval=3 hcpasses=1 hcfails=1 "
                         "hcexpr=ors_ok"));
  EXPECT_FALSE(hasDirective(c, "ProxyPassReverse"));
  EXPECT_FALSE(hasDirective(c, "Listen"));  // port 80: Debian's ports.conf has it
}

TEST(LbConfig, F5MonitorSendsTheHeartbeatAndExpects200) {
  std::string c = config(Balancer::kF5);
  EXPECT_TRUE(hasLine(c, "send \"GET /heartbeat HTTP/1.0\\r\\n\\r\\n\""));
  EXPECT_TRUE(hasLine(c, "recv \"^HTTP/1\\\\.[01] 200\""));
  EXPECT_TRUE(hasLine(c, "\"0011*\" { set node node33 }"));
}

TEST(LbConfig, BadArgumentsAreErrors) {
  for (const char* listen : {"", "x", "1:2:99999", "host:0", "80a"}) {
    LbOptions o;
    o.listen = listen;
    EXPECT_FALSE(lbConfig(Balancer::kHaproxy, demo(), o)) << listen;
  }
  EXPECT_FALSE(lbConfig(Balancer::kApache, ClusterMap{}, {}));
  EXPECT_EQ(balancerNamed("nginx"), std::nullopt);
  EXPECT_EQ(balancerNamed("apache"), Balancer::kApache);
}

}  // namespace
}  // namespace ors::cluster
