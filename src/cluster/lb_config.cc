#include "cluster/lb_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

#include "common/ids.h"

namespace ors::cluster {

namespace {

struct Listen {
  std::string host;  // "" for every address
  uint16_t port = 0;
};

Result<Listen> parseListen(const std::string& text) {
  Listen l;
  std::string portText = text;
  size_t colon = text.rfind(':');
  if (colon != std::string::npos) {
    l.host = text.substr(0, colon);
    portText = text.substr(colon + 1);
    if (l.host == "*" || l.host == "0.0.0.0") l.host.clear();
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (ec != std::errc() || end != portText.data() + portText.size() || port == 0 || port > 65535)
    return Status::error("--listen '" + text + "': expected PORT, HOST:PORT or *:PORT");
  l.port = static_cast<uint16_t>(port);
  return l;
}

// One balancer member: an instance of a node.
struct Member {
  uint32_t node = 0;
  std::string name;  // node<N>-primary | node<N>-backup
  Instance at;
};

std::vector<Member> members(const ClusterMap& map) {
  std::vector<Member> out;
  for (const auto& [id, n] : map.nodes) {
    out.push_back({id, "node" + std::to_string(id) + "-primary", n.primary});
    if (n.backup) out.push_back({id, "node" + std::to_string(id) + "-backup", *n.backup});
  }
  return out;
}

// The cluster's name as balancers take it in a backend or balancer name.
std::string ident(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
  return out.empty() ? "ors" : out;
}

std::string hostPort(const Instance& i) { return i.host + ":" + std::to_string(i.port); }

std::string route(uint32_t node) { return "node" + std::to_string(node); }

// The calls that start a session: they carry no session id, and spread round-robin whatever
// cookie the client holds (a client that keeps cookies would otherwise start every session on
// the node of its first one).
constexpr const char* kStartPath = "/scxml/session/start";

std::string haproxy(const ClusterMap& map, const LbOptions& o, const Listen& l) {
  const bool standalone = !o.runDir.empty();
  const std::string inter = std::to_string(o.checkIntervalMs) + "ms";
  std::string s;
  s += "# HAProxy 2.6 in front of the ORS cluster '" + map.name + "' (" + std::to_string(map.nodes.size()) +
       " nodes), written by orsctl lb-config.\n";
  if (standalone)
    s += "# Standalone: run it with `haproxy -f <this file> -db`; its socket is in " + o.runDir + ".\n";
  s += "global\n";
  if (standalone) {
    s += "    pidfile " + o.runDir + "/haproxy.pid\n";
    s += "    stats socket " + o.runDir + "/haproxy.sock mode 600 level admin\n";
  } else {
    s += "    log /dev/log local0\n";
    s += "    chroot /var/lib/haproxy\n";
    s += "    stats socket /run/haproxy/admin.sock mode 660 level admin\n";
    s += "    user haproxy\n";
    s += "    group haproxy\n";
    s += "    daemon\n";
  }
  s += "\ndefaults\n";
  s += "    mode http\n";
  if (!standalone) s += "    log global\n    option httplog\n";
  s += "    option forwardfor\n";
  s += "    timeout connect 2s\n";
  s += "    timeout client 60s\n";
  s += "    # Longer than the longest call: a /request waits for its <ws:response> (http/request-timeout).\n";
  s += "    timeout server 60s\n";
  s += "    # A call to a dead instance is retried, the last time on another server.\n";
  s += "    retries 2\n";
  s += "    option redispatch\n";
  s += "\nfrontend ors\n";
  s += "    bind " + (l.host.empty() ? std::string("*") : l.host) + ":" + std::to_string(l.port) + "\n";
  s += "    default_backend ors_" + ident(map.name) + "\n";
  s += "\nbackend ors_" + ident(map.name) + "\n";
  s += "    balance roundrobin\n";
  s += "    # Only a primary answers 200: backups stay out of rotation without HAProxy's `backup` flag,\n";
  s += "    # and a promoted backup comes in by itself.\n";
  s += "    option httpchk GET /heartbeat\n";
  s += "    http-check expect status 200\n";
  s += "    default-server check inter " + inter + " fall 2 rise 1\n";
  s += "    # The cookie is \"<session id>.node<N>\". `stick match` (never `stick on`): an outage must not\n";
  s += "    # rewrite the entry to whichever server took the call.\n";
  s += "    acl session_start path " + std::string(kStartPath) + "\n";
  s += "    stick-table type string len 64 size 1m expire 3h\n";
  s += "    stick match req.cook(ORSSESSIONID) if !session_start\n";
  s += "    stick store-response res.cook(ORSSESSIONID)\n";
  s += "    # Route-aware: a call for a session goes to the instance of its node that passes the check,\n";
  s += "    # found from the node encoded in the session id in the path (clients that keep no cookie),\n";
  s += "    # else from the cookie's route.\n";
  for (const auto& [id, n] : map.nodes) {
    s += "    acl path_" + route(id) + " path_beg /scxml/session/" + sessionIdPrefix(id) + "\n";
    s += "    acl cookie_" + route(id) + " req.cook(ORSSESSIONID) -m reg ^[^.]*[.]" + route(id) + "$\n";
  }
  for (const Member& m : members(map)) s += "    use-server " + m.name + " if path_" + route(m.node) + "\n";
  for (const Member& m : members(map))
    s += "    use-server " + m.name + " if !session_start cookie_" + route(m.node) + "\n";
  for (const Member& m : members(map)) s += "    server " + m.name + " " + hostPort(m.at) + "\n";
  return s;
}

std::string apache(const ClusterMap& map, const LbOptions& o, const Listen& l) {
  const bool standalone = !o.runDir.empty();
  const unsigned interval = std::max(1u, (o.checkIntervalMs + 999) / 1000);  // hcinterval is in seconds
  const std::string balancer = "balancer://ors_" + ident(map.name);
  std::string s;
  s += "# Apache 2.4 (mod_proxy_balancer) in front of the ORS cluster '" + map.name + "' (" +
       std::to_string(map.nodes.size()) + " nodes), written by orsctl lb-config.\n";
  std::string vhost = (l.host.empty() ? std::string("*") : l.host) + ":" + std::to_string(l.port);
  if (standalone) {
    s += "# Standalone: run it with `apache2 -f <this file> -DFOREGROUND`; pid, logs and runtime files\n";
    s += "# are in " + o.runDir + ".\n";
    s += "ServerRoot \"" + o.runDir + "\"\n";
    s += "ServerName " + (l.host.empty() ? std::string("localhost") : l.host) + "\n";
    s += "Listen " + vhost + "\n";
    s += "PidFile \"" + o.runDir + "/apache2.pid\"\n";
    s += "DefaultRuntimeDir \"" + o.runDir + "\"\n";
    s += "ErrorLog \"" + o.runDir + "/error.log\"\n";
    s += "LogLevel warn\n";
    s += "# Ignored unless started as root; then the children run as nobody.\n";
    s += "User nobody\nGroup nogroup\n";
    s += "LogFormat \"%h \\\"%r\\\" %>s %{BALANCER_WORKER_NAME}e %D\" ors\n";
    s += "CustomLog \"" + o.runDir + "/access.log\" ors\n";
    for (const char* m : {"mpm_event", "authz_core", "proxy", "proxy_http", "proxy_balancer", "lbmethod_byrequests",
                          "slotmem_shm", "proxy_hcheck"})
      s += std::string("LoadModule ") + m + "_module /usr/lib/apache2/modules/mod_" + m + ".so\n";
  } else {
    s += "# For Debian: save as /etc/apache2/sites-available/ors.conf, then\n";
    s += "#   a2enmod proxy proxy_http proxy_balancer lbmethod_byrequests slotmem_shm proxy_hcheck\n";
    s += "#   a2ensite ors && systemctl reload apache2\n";
    if (l.port != 80) s += "Listen " + vhost + "\n";
  }
  s += "\n<VirtualHost " + vhost + ">\n";
  s += "    # Only a primary answers 200: a backup is out of both balancing and route lookup. (The\n";
  s += "    # template must be in the same server section as the members that use it.)\n";
  s += "    ProxyHCExpr ors_ok {%{REQUEST_STATUS} == 200}\n";
  s += "    ProxyHCTemplate ors_hc hcmethod=GET hcuri=/heartbeat hcinterval=" + std::to_string(interval) +
       " hcpasses=1 hcfails=1 hcexpr=ors_ok\n";
  s += "    # The route of both instances of node N is nodeN: ORSSESSIONID=\"<session id>.nodeN\" picks the one\n";
  s += "    # that passes the check. retry=1: an instance that failed is tried again a second later.\n";
  s += "    # Starts go to a second balancer of the same members without stickiness (stickysession is a\n";
  s += "    # balancer's setting, whichever ProxyPass sets it), so they spread whatever cookie the client\n";
  s += "    # holds; every other call is sticky.\n";
  for (const char* suffix : {"", "_start"}) {
    s += "    <Proxy \"" + balancer + suffix + "\">\n";
    for (const Member& m : members(map))
      s += "        BalancerMember \"" + m.at.url() + "\" route=" + route(m.node) + " hctemplate=ors_hc retry=1\n";
    s += "    </Proxy>\n";
  }
  s += "    ProxyTimeout 60\n";
  s += "    ProxyPass \"" + std::string(kStartPath) + "\" \"" + balancer + "_start" + kStartPath + "\"\n";
  s += "    ProxyPass \"/\" \"" + balancer + "/\" stickysession=ORSSESSIONID\n";
  s += "    # No ProxyPassReverse: it would rewrite a node's 307 Location back to the balancer, and the\n";
  s += "    # client would loop.\n";
  s += "</VirtualHost>\n";
  return s;
}

std::string f5(const ClusterMap& map, const LbOptions& o, const Listen& l) {
  const unsigned interval = std::max(1u, (o.checkIntervalMs + 999) / 1000);
  std::string s;
  s += "# F5 BIG-IP (tmsh) for the ORS cluster '" + map.name + "', written by orsctl lb-config.\n";
  s += "# Not tried here (no BIG-IP on the test machines): the monitor's send string and receive rule\n";
  s += "# are those of the vendor's guide; the pools and iRule follow the HAProxy and Apache configs.\n\n";
  s += "# Health monitor: only a primary answers the heartbeat with 200.\n";
  s += "ltm monitor http ors_heartbeat {\n";
  s += "    defaults-from http\n";
  s += "    interval " + std::to_string(interval) + "\n";
  s += "    timeout " + std::to_string(3 * interval + 1) + "\n";
  s += "    send \"GET /heartbeat HTTP/1.0\\r\\n\\r\\n\"\n";
  s += "    recv \"^HTTP/1\\\\.[01] 200\"\n";
  s += "}\n\n";
  s += "# One pool of the whole cluster (starts), and one a node (its primary and its backup).\n";
  s += "ltm pool ors_" + ident(map.name) + " {\n    load-balancing-mode round-robin\n    monitor ors_heartbeat\n    members {\n";
  for (const Member& m : members(map)) s += "        " + hostPort(m.at) + " { }\n";
  s += "    }\n}\n";
  for (const auto& [id, n] : map.nodes) {
    s += "ltm pool ors_" + ident(map.name) + "_" + route(id) + " {\n    monitor ors_heartbeat\n    members {\n";
    s += "        " + hostPort(n.primary) + " { }\n";
    if (n.backup) s += "        " + hostPort(*n.backup) + " { }\n";
    s += "    }\n}\n";
  }
  s += "\n# A session's calls to its node's pool: from the node encoded in the session id in the path,\n";
  s += "# else from the ORSSESSIONID cookie's route (\"<session id>.node<N>\").\n";
  s += "ltm rule ors_route {\nwhen HTTP_REQUEST {\n";
  s += "    set node \"\"\n";
  s += "    if { [HTTP::path] starts_with \"/scxml/session/\" && [HTTP::path] ne \"" + std::string(kStartPath) +
       "\" } {\n";
  s += "        switch -glob -- [getfield [HTTP::path] \"/\" 4] {\n";
  for (const auto& [id, n] : map.nodes)
    s += "            \"" + sessionIdPrefix(id) + "*\" { set node " + route(id) + " }\n";
  s += "        }\n";
  s += "        if { $node eq \"\" && [HTTP::cookie exists ORSSESSIONID] } {\n";
  s += "            set node [getfield [HTTP::cookie value ORSSESSIONID] \".\" 2]\n";
  s += "        }\n";
  s += "    }\n";
  s += "    switch -- $node {\n";
  for (const auto& [id, n] : map.nodes)
    s += "        " + route(id) + " { pool ors_" + ident(map.name) + "_" + route(id) + " }\n";
  s += "        default { pool ors_" + ident(map.name) + " }\n";
  s += "    }\n}\n}\n\n";
  s += "ltm virtual ors_" + ident(map.name) + " {\n";
  s += "    destination " + (l.host.empty() ? std::string("0.0.0.0") : l.host) + ":" + std::to_string(l.port) + "\n";
  s += "    ip-protocol tcp\n    profiles { http { } tcp { } }\n";
  s += "    source-address-translation { type automap }\n";
  s += "    pool ors_" + ident(map.name) + "\n    rules { ors_route }\n}\n";
  return s;
}

}  // namespace

std::optional<Balancer> balancerNamed(std::string_view name) {
  if (name == "haproxy") return Balancer::kHaproxy;
  if (name == "apache") return Balancer::kApache;
  if (name == "f5") return Balancer::kF5;
  return std::nullopt;
}

Result<std::string> lbConfig(Balancer balancer, const ClusterMap& map, const LbOptions& options) {
  Result<Listen> l = parseListen(options.listen);
  if (!l) return l.status();
  if (map.nodes.empty()) return Status::error("the cluster has no nodes");
  if (options.checkIntervalMs == 0) return Status::error("the health-check interval must be positive");
  switch (balancer) {
    case Balancer::kHaproxy:
      return haproxy(map, options, *l);
    case Balancer::kApache:
      return apache(map, options, *l);
    case Balancer::kF5:
      return f5(map, options, *l);
  }
  return Status::error("unknown balancer");
}

}  // namespace ors::cluster
