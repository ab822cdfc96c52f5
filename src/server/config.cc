#include "server/config.h"

#include <fstream>

namespace ors::server {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

Status parseUnsigned(const std::string& key, const std::string& v, uint64_t max, uint64_t* out) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 18)
    return Status::error(key + ": '" + v + "' is not a non-negative integer");
  uint64_t n = std::stoull(v);
  if (n > max) return Status::error(key + ": " + v + " is larger than " + std::to_string(max));
  *out = n;
  return Status::ok();
}

Status parseBool(const std::string& key, const std::string& v, bool* out) {
  if (v == "true" || v == "1" || v == "yes") *out = true;
  else if (v == "false" || v == "0" || v == "no") *out = false;
  else return Status::error(key + ": '" + v + "' is not true or false");
  return Status::ok();
}

bool digitsAt(const std::string& s, std::initializer_list<size_t> at) {
  for (size_t i : at)
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
  return true;
}

// A special day: YYYY-MM-DD, MM-DD or a weekday's English name.
bool validSpecialDay(const std::string& d) {
  for (const char* w : {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"})
    if (d == w) return true;
  if (d.size() == 10) return digitsAt(d, {0, 1, 2, 3, 5, 6, 8, 9}) && d[4] == '-' && d[7] == '-';
  return d.size() == 5 && digitsAt(d, {0, 1, 3, 4}) && d[2] == '-';
}

// HH:MM-HH:MM
bool validTimeRange(const std::string& r) {
  return r.size() == 11 && digitsAt(r, {0, 1, 3, 4, 6, 7, 9, 10}) && r[2] == ':' && r[5] == '-' && r[8] == ':';
}

std::vector<std::string> splitList(const std::string& value) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b <= value.size()) {
    size_t e = value.find(',', b);
    std::string item = trim(value.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (!item.empty()) out.push_back(item);
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return out;
}

}  // namespace

Status Config::set(const std::string& key, const std::string& value) {
  uint64_t n = 0;
  Status s;
  auto num = [&](uint64_t max) { return parseUnsigned(key, value, max, &n); };
  if (key == "orchestration/node-id") {
    if (!(s = num((1u << 20) - 1))) return s;
    if (n == 0) return Status::error(key + ": must be positive");
    nodeId = static_cast<uint32_t>(n);
  } else if (key == "orchestration/external-url") {
    externalUrl = value;
  } else if (key == "orchestration/heartbeat-backup-status") {
    if (!(s = num(599))) return s;
    if (n < 200) return Status::error(key + ": not an HTTP status");
    heartbeatBackupStatus = static_cast<int>(n);
  } else if (key == "orchestration/cookie") {
    return parseBool(key, value, &cookie);
  } else if (key == "orchestration/workers") {
    if (!(s = num(256))) return s;
    workers = static_cast<unsigned>(n);
  } else if (key == "orchestration/max-sessions") {
    if (!(s = num(UINT32_MAX))) return s;
    maxSessions = n;
  } else if (key == "orchestration/max-queued-events") {
    if (!(s = num(UINT32_MAX))) return s;
    maxQueuedEvents = n;
  } else if (key == "orchestration/request-timeout") {
    if (!(s = num(86'400'000))) return s;
    requestTimeout = std::chrono::milliseconds(n);
  } else if (key == "orchestration/script-budget") {
    if (!(s = num(3'600'000))) return s;
    scriptBudget = std::chrono::milliseconds(n);
  } else if (key == "orchestration/document-roots") {
    documentRoots = splitList(value);
  } else if (key == "orchestration/http-allow") {
    httpAllow = splitList(value);
  } else if (key == "orchestration/document-revalidate") {
    if (!(s = num(86'400'000))) return s;
    documentRevalidate = std::chrono::milliseconds(n);
  } else if (key == "http/address") {
    address = value;
  } else if (key == "http/port") {
    if (!(s = num(65535))) return s;
    port = static_cast<uint16_t>(n);
  } else if (key == "http/max-body") {
    if (!(s = num(1ull << 32))) return s;
    maxBody = n;
  } else if (key == "http/max-header") {
    if (!(s = num(1 << 20))) return s;
    maxHeader = n;
  } else if (key == "http/io-threads") {
    if (!(s = num(64))) return s;
    ioThreads = static_cast<unsigned>(n == 0 ? 1 : n);
  } else if (key == "orchestration/cluster-file") {
    clusterFile = value;
  } else if (key == "orchestration/health-check-interval") {
    if (!(s = num(60'000)) || n == 0) return s ? Status::error("orchestration/health-check-interval must be > 0") : s;
    healthPeriod = std::chrono::milliseconds(n);
  } else if (key == "persistence/data-dir") {
    dataDir = value;
  } else if (key == "persistence/type") {
    if (value != "sqlite" && value != "redis" && value != "memory")
      return Status::error("persistence/type must be sqlite, redis or memory, not '" + value + "'");
    persistence = value;
  } else if (key == "persistence/redis-nodes") {
    redisNodes = value;
  } else if (key == "persistence/lease-ms") {
    if (!(s = num(600'000)) || n < 300) return s ? Status::error("persistence/lease-ms must be at least 300") : s;
    leaseTtl = std::chrono::milliseconds(n);
  } else if (key == "persistence/redis-replicas") {
    if (!(s = num(16))) return s;
    redisReplicas = static_cast<int>(n);
  } else if (key == "persistence/sync") {
    if (value != "full" && value != "normal")
      return Status::error("persistence/sync must be full or normal, not '" + value + "'");
    fullSync = value == "full";
  } else if (key == "persistence/unload-after") {
    if (!(s = num(365ull * 86'400'000))) return s;
    unloadAfter = std::chrono::milliseconds(n);
  } else if (key == "orchestration/call-watching-timeout") {
    if (!(s = num(3'600'000)) || n == 0) return s ? Status::error(key + " must be > 0") : s;
    callWatchingTimeout = std::chrono::milliseconds(n);
  } else if (key.rfind("routing-points/", 0) == 0 && key.size() > 15) {
    if (value.empty()) routingPoints.erase(key.substr(15));
    else routingPoints[key.substr(15)] = value;
  } else if (key.rfind("media-strategies/", 0) == 0 && key.size() > 17) {
    if (value.empty()) mediaStrategies.erase(key.substr(17));
    else mediaStrategies[key.substr(17)] = value;
  } else if (key == "orchestration/max-interactions") {
    if (!(s = num(1'000'000)) || n == 0) return s ? Status::error(key + " must be > 0") : s;
    maxInteractions = n;
  } else if (key == "orchestration/node-takeover-timeout") {
    if (!(s = num(86'400'000))) return s;
    nodeTakeoverTimeout = std::chrono::milliseconds(n);
  } else if (key == "orchestration/tenant") {
    tenant = value;
  } else if (key == "orchestration/tenant-id") {
    if (!(s = num(1ull << 40))) return s;
    tenantId = n;
  } else if (key.rfind("list ", 0) == 0) {
    size_t slash = key.find('/'), item = key.find('/', slash + 1);
    std::string list = key.substr(5, slash == std::string::npos ? std::string::npos : slash - 5);
    if (slash == std::string::npos || item == std::string::npos || list.empty() || item == slash + 1 ||
        item + 1 == key.size())
      return Status::error("'" + key + "': a list option is written [list NAME] ITEM/KEY = VALUE");
    boost::json::value& items = lists[list];
    if (!items.is_object()) items = boost::json::object{};
    boost::json::value& entries = items.get_object()[key.substr(slash + 1, item - slash - 1)];
    if (!entries.is_object()) entries = boost::json::object{};
    entries.get_object()[key.substr(item + 1)] = value;
  } else if (key.rfind("special-days ", 0) == 0) {
    size_t slash = key.find('/');
    std::string table = key.substr(13, slash == std::string::npos ? std::string::npos : slash - 13);
    std::string day = slash == std::string::npos ? std::string() : key.substr(slash + 1);
    if (table.empty() || !validSpecialDay(day))
      return Status::error("'" + key + "': a special day is written [special-days NAME] YYYY-MM-DD, MM-DD or a weekday "
                           "= [HH:MM-HH:MM]");
    if (!value.empty() && !validTimeRange(value))
      return Status::error("'" + key + "': '" + value + "' is no time range HH:MM-HH:MM");
    boost::json::value& days = specialDays[table];
    if (!days.is_object()) days = boost::json::object{};
    days.get_object()[day] = value;
  } else if (key.rfind("annex ", 0) == 0) {
    // "annex LEVEL[ NAME]/section/option" (a strategy's NAME may hold slashes, an option not)
    size_t last = key.rfind('/');
    size_t slash = last == std::string::npos || last < 6 ? std::string::npos : key.rfind('/', last - 1);
    std::string object = slash == std::string::npos || slash < 6 ? std::string() : trim(key.substr(6, slash - 6));
    std::string option = slash == std::string::npos ? std::string() : key.substr(slash + 1);
    size_t space = object.find(' ');
    std::string level = object.substr(0, space), name = space == std::string::npos ? "" : trim(object.substr(space + 1));
    bool named = level == "strategy" || level == "dn";
    bool single = level == "switch" || level == "tenant" || level == "router";
    if ((!named && !single) || named == name.empty() || option.size() < 3 || option.front() == '/' ||
        option.back() == '/')
      return Status::error("'" + key + "': an annex option is written [annex strategy DOC|dn DN|switch|tenant|router] "
                           "section/option = value");
    boost::json::value& objects = annexes[level];
    if (!objects.is_object()) objects = boost::json::object{};
    boost::json::object* options = &objects.get_object();
    if (named) {
      boost::json::value& own = (*options)[name];
      if (!own.is_object()) own = boost::json::object{};
      options = &own.get_object();
    }
    (*options)[option] = value;
  } else if (key == "persistence/call-feed") {
    callFeed = value;
  } else if (key == "persistence/max-size") {
    if (!(s = num(1ull << 50))) return s;
    storeMaxBytes = n;
  } else {
    return Status::error("unknown option '" + key + "'");
  }
  return Status::ok();
}

Status Config::load(const std::string& file) {
  std::ifstream in(file);
  if (!in) return Status::error("cannot read configuration file " + file);
  std::string line, section;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    std::string where = file + ":" + std::to_string(lineNo) + ": ";
    if (t.front() == '[') {
      // A comment may follow a section header ("[http]  # the listener"); not a value, which may
      // hold any text ("termchar = #").
      if (size_t close = t.find(']'); close != std::string::npos) {
        std::string rest = trim(t.substr(close + 1));
        if (rest.empty() || rest[0] == '#' || rest[0] == ';') t = t.substr(0, close + 1);
      }
      if (t.back() != ']') return Status::error(where + "malformed section header");
      section = trim(t.substr(1, t.size() - 2));
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos) return Status::error(where + "expected 'option = value'");
    if (section.empty()) return Status::error(where + "option outside of a [section]");
    Status s = set(section + "/" + trim(t.substr(0, eq)), trim(t.substr(eq + 1)));
    if (!s) return Status::error(where + s.message());
  }
  return Status::ok();
}

}  // namespace ors::server
