#include "cluster/cluster.h"

#include <fstream>
#include <sstream>

#include "common/ids.h"

namespace ors::cluster {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

bool parseInstance(const std::string& v, Instance* out) {
  size_t colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= v.size()) return false;
  std::string port = v.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned long p = std::stoul(port);
  if (p == 0 || p > 65535) return false;
  out->host = v.substr(0, colon);
  out->port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace

Result<ClusterMap> ClusterMap::parse(std::string_view text, const std::string& file) {
  ClusterMap map;
  std::istringstream in{std::string(text)};
  std::string line, section;
  Node* node = nullptr;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    std::string where = file + ":" + std::to_string(lineNo) + ": ";
    size_t hash = line.find('#');
    std::string t = trim(hash == std::string::npos ? line : line.substr(0, hash));
    if (t.empty() || t[0] == ';') continue;
    if (t.front() == '[') {
      if (t.back() != ']') return Status::error(where + "malformed section header");
      section = trim(t.substr(1, t.size() - 2));
      node = nullptr;
      if (section.rfind("node", 0) == 0) {
        std::string id = trim(section.substr(4));
        if (id.empty() || id.size() > 7 || id.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(id) > kMaxNodeId)
          return Status::error(where + "a node section is [node N], N from 0 to " + std::to_string(kMaxNodeId));
        uint32_t n = static_cast<uint32_t>(std::stoul(id));
        if (map.nodes.count(n)) return Status::error(where + "node " + id + " is described twice");
        node = &map.nodes[n];
        node->id = n;
      } else if (section != "cluster") {
        return Status::error(where + "unknown section [" + section + "]");
      }
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos) return Status::error(where + "expected 'option = value'");
    std::string key = trim(t.substr(0, eq)), value = trim(t.substr(eq + 1));
    if (section == "cluster") {
      if (key != "name") return Status::error(where + "unknown option '" + key + "' in [cluster]");
      if (value.empty()) return Status::error(where + "the cluster name is empty");
      map.name = value;
    } else if (node) {
      if (key == "primary" || key == "backup") {
        Instance i;
        if (!parseInstance(value, &i)) return Status::error(where + key + " must be host:port, not '" + value + "'");
        if (key == "primary") node->primary = i;
        else node->backup = i;
      } else if (key == "external-url") {
        if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0)
          return Status::error(where + "external-url must be an http:// or https:// URL");
        while (!value.empty() && value.back() == '/') value.pop_back();
        node->externalUrl = value;
      } else {
        return Status::error(where + "unknown option '" + key + "' in [node " + std::to_string(node->id) + "]");
      }
    } else {
      return Status::error(where + "option outside of a section");
    }
  }
  for (const auto& [id, n] : map.nodes)
    if (n.primary.port == 0) return Status::error(file + ": node " + std::to_string(id) + " has no primary");
  if (map.nodes.empty()) return Status::error(file + ": no [node N] section");
  return map;
}

Result<ClusterMap> ClusterMap::load(const std::string& file) {
  std::ifstream in(file);
  if (!in) return Status::error("cannot read cluster file " + file);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), file);
}

Decision route(const ClusterMap& map, uint32_t self, bool selfIsPrimary, const std::optional<std::string>& ownPrimaryUrl,
               uint32_t owner, const std::function<Liveness(const Instance&)>& liveness,
               const std::optional<std::string>& adopter) {
  using Kind = Decision::Kind;
  if (owner != self && adopter && map.find(owner)) return {Kind::kRedirectAdopter, *adopter};
  if (owner == self) {
    if (selfIsPrimary) return {Kind::kServeHere, {}};
    if (ownPrimaryUrl) return {Kind::kRedirectPrimary, *ownPrimaryUrl};
    return {Kind::kOwnerDown, {}};
  }
  const Node* node = map.find(owner);
  if (!node) return {Kind::kOwnerUnknown, {}};
  if (selfIsPrimary && !node->externalUrl.empty()) return {Kind::kRedirectExternal, node->externalUrl};
  // The owner's instance that is primary now: the configured primary, unless it is known not to
  // be and the backup is known to be.
  Liveness p = liveness(node->primary);
  Liveness b = node->backup ? liveness(*node->backup) : Liveness::kDown;
  if (p == Liveness::kPrimary) return {Kind::kRedirectPrimary, node->primary.url()};
  if (b == Liveness::kPrimary) return {Kind::kRedirectPrimary, node->backup->url()};
  if (p == Liveness::kUnknown) return {Kind::kRedirectPrimary, node->primary.url()};
  return {Kind::kOwnerDown, {}};
}

}  // namespace ors::cluster
