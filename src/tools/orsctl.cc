// orsctl: the command-line tool: `validate` and `run` (in-process statecharts), the server calls
// (following 307s), and `lb-config` (load-balancer configurations from a cluster file).
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstring>
#include <strings.h>
#include <fstream>
#include <iostream>
#include <optional>

#include "cluster/lb_config.h"
#include "datamodel/ecmascript/ecmascript.h"
#include "http/client.h"
#include "http/url.h"
#include "scxml/parser.h"
#include "scxml/runtime.h"

namespace {

using ors::scxml::Event;

constexpr const char* kUsage =
    "usage:\n"
    "  orsctl validate DOC...\n"
    "  orsctl run DOC [--event NAME[=JSON]]... [--events FILE] [--trace] [--timeout SECONDS]\n"
    "  orsctl [--server URL] start SRC [NAME=VALUE]...\n"
    "  orsctl [--server URL] event|request ID NAME [NAME=VALUE]...\n"
    "  orsctl [--server URL] query|terminate ID\n"
    "  orsctl [--server URL] list [OFFSET [LIMIT]]\n"
    "  orsctl [--server URL] submit MEDIA [NAME=VALUE]...        (a multimedia interaction)\n"
    "  orsctl [--server URL] call-event CALL EVENT DN [NAME=VALUE]...  (what a telephony adapter posts)\n"
    "  orsctl lb-config haproxy|apache|f5 CLUSTER-FILE [--listen [HOST:]PORT] [--run-dir DIR]\n"
    "                   [--check-interval MS]\n"
    "\n"
    "Server commands talk to orsd (default http://127.0.0.1:7210, or $ORS_SERVER), follow\n"
    "307 redirects with the same method and body, print the answer's body, and exit 0 on 2xx,\n"
    "1 otherwise. submit and call-event send JSON: a VALUE that parses as JSON is that JSON, else a\n"
    "string (docs/interactions.md).\n"
    "\n"
    "lb-config: prints a load balancer's configuration for the cluster file's nodes (listening\n"
    "     on port 80 unless --listen; with --run-dir, a standalone one keeping its files in DIR;\n"
    "     health checks every 1000 ms unless --check-interval). See docs/deployment.md.\n"
    "\n"
    "run: exit 0 when a top-level final state is reached (last line 'final: <id>'),\n"
    "     3 when the machine is still running with no event or timer left ('stable: ...'),\n"
    "     2 on timeout, 1 on errors.\n";

int validate(int argc, char** argv) {
  if (argc < 1) {
    std::cerr << kUsage;
    return 1;
  }
  int status = 0;
  for (int i = 0; i < argc; ++i) {
    ors::scxml::ParseResult r = ors::scxml::loadDocument(argv[i]);
    for (const auto& d : r.errors) std::cout << d.str() << "\n";
    if (!r.document) status = 1;
  }
  return status;
}

// Parses "NAME" or "NAME=JSON" (or "NAME JSON" from --events files) into an external event.
std::optional<Event> parseEvent(const std::string& spec, char sep, std::string* error) {
  Event e;
  e.type = Event::Type::kExternal;
  size_t p = spec.find(sep);
  e.name = spec.substr(0, p);
  while (!e.name.empty() && std::isspace(static_cast<unsigned char>(e.name.back()))) e.name.pop_back();
  if (e.name.empty()) {
    *error = "empty event name in '" + spec + "'";
    return std::nullopt;
  }
  if (p != std::string::npos) {
    boost::system::error_code ec;
    e.data = boost::json::parse(spec.substr(p + 1), ec);
    if (ec) {
      *error = "invalid JSON data for event '" + e.name + "': " + ec.message();
      return std::nullopt;
    }
  }
  return e;
}

std::string joinStates(const std::vector<std::string>& states) {
  std::string out;
  for (const std::string& s : states) out += (out.empty() ? "" : " ") + s;
  return out;
}

int run(int argc, char** argv) {
  std::string doc;
  std::vector<Event> events;
  bool trace = false;
  double timeout = 0;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "orsctl run: " << a << " needs a value\n";
        std::exit(1);
      }
      return argv[++i];
    };
    std::string error;
    if (a == "--event") {
      auto e = parseEvent(next(), '=', &error);
      if (!e) {
        std::cerr << "orsctl run: " << error << "\n";
        return 1;
      }
      events.push_back(std::move(*e));
    } else if (a == "--events") {
      std::string file = next();
      std::ifstream in(file);
      if (!in) {
        std::cerr << "orsctl run: cannot open " << file << "\n";
        return 1;
      }
      std::string line;
      int lineNo = 0;
      while (std::getline(in, line)) {
        ++lineNo;
        size_t b = line.find_first_not_of(" \t\r");
        if (b == std::string::npos || line[b] == '#') continue;
        auto e = parseEvent(line.substr(b), ' ', &error);
        if (!e) {
          std::cerr << file << ":" << lineNo << ": error: " << error << "\n";
          return 1;
        }
        events.push_back(std::move(*e));
      }
    } else if (a == "--trace") {
      trace = true;
    } else if (a == "--timeout") {
      timeout = std::atof(next().c_str());
    } else if (a.rfind("--", 0) == 0 || !doc.empty()) {
      std::cerr << "orsctl run: unexpected argument '" << a << "'\n" << kUsage;
      return 1;
    } else {
      doc = a;
    }
  }
  if (doc.empty()) {
    std::cerr << kUsage;
    return 1;
  }
  ors::scxml::ParseResult pr = ors::scxml::loadDocument(doc);
  if (!pr.document) {
    for (const auto& d : pr.errors) std::cerr << d.str() << "\n";
    return 1;
  }

  // The vendor's _genesys.session as orsd's defaults give it (no lists, tables or annexes here).
  ors::dm::EcmaOptions eo;
  eo.vendor = {{"server", {{"name", "orsctl"}, {"cluster", ""}, {"url", ""}}},
               {"tenant", "Environment"},
               {"tenantid", "1"}};
  auto engine = ors::dm::makeEcmaScriptEngine(eo);
  std::string finalState;
  bool done = false;
  ors::scxml::Runtime::Options opts;
  opts.onFinished = [&](const ors::scxml::Session& s) {
    finalState = s.finalState();
    done = true;
  };
  ors::scxml::Runtime rt(engine.get(), opts);
  auto traceLine = [&](const ors::scxml::Session& s, const Event* ev) {
    if (!trace) return;
    boost::json::object line;
    line["event"] = ev ? boost::json::value(ev->name) : boost::json::value(nullptr);
    boost::json::array conf;
    for (const std::string& id : s.activeAtomicStates()) conf.push_back(boost::json::value(id));
    line["configuration"] = std::move(conf);
    std::cout << boost::json::serialize(line) << "\n" << std::flush;
  };
  // The observer must be in place before the initial macrostep: start via a pre-created session.
  std::string sessionId;
  ors::scxml::Session* session = nullptr;
  {
    auto r = rt.startSession(pr.document, {}, traceLine);
    if (!r) {
      std::cerr << "orsctl run: " << r.status().message() << "\n";
      return 1;
    }
    session = *r;
    sessionId = session->id();
  }
  using Clock = ors::scxml::Runtime::Clock;
  auto deadline = timeout > 0 ? Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000))
                              : Clock::time_point::max();
  rt.runUntilIdle();
  for (Event& e : events) {
    if (done) break;
    rt.deliver(sessionId, std::move(e));
    rt.runUntilIdle();
    if (Clock::now() > deadline) return 2;
  }
  if (!rt.runUntil([&] { return done; }, deadline)) return 2;
  if (done) {
    std::cout << "final: " << finalState << "\n";
    return 0;
  }
  ors::scxml::Session* s = rt.find(sessionId);
  std::cout << "stable: " << (s ? joinStates(s->activeAtomicStates()) : std::string()) << "\n";
  return 3;
}

// One call to orsd: POST (or GET) a form, following up to 5 redirects (contract section 4: the
// client re-sends the same method and body to Location).
// NAME=VALUE arguments, form-encoded; false (and a message) on one without '='.
bool formBody(const std::vector<std::string>& pairs, std::string* body) {
  for (const std::string& p : pairs) {
    size_t eq = p.find('=');
    if (eq == std::string::npos) {
      std::cerr << "orsctl: expected NAME=VALUE, got '" << p << "'\n";
      return false;
    }
    *body += (body->empty() ? "" : "&") + ors::http::percentEncode(std::string_view(p).substr(0, eq)) + "=" +
             ors::http::percentEncode(std::string_view(p).substr(eq + 1));
  }
  return true;
}

// NAME=VALUE arguments into `object` (a VALUE that parses as JSON is that JSON, else a string).
bool jsonFields(const std::vector<std::string>& pairs, boost::json::object* object) {
  for (const std::string& p : pairs) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "orsctl: expected NAME=VALUE, got '" << p << "'\n";
      return false;
    }
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(p.substr(eq + 1), ec);
    (*object)[p.substr(0, eq)] = ec ? boost::json::value(p.substr(eq + 1)) : std::move(v);
  }
  return true;
}

int serverCall(const std::string& server, const std::string& method, std::string path, const std::string& body,
               const std::string& contentType) {
  std::string url = server + path;
  for (int hop = 0; hop < 6; ++hop) {
    boost::asio::io_context ioc;
    ors::http::ClientResponse res;
    ors::http::request(ioc, method, url, body, body.empty() ? "" : contentType,
                       std::chrono::seconds(60), [&](ors::http::ClientResponse r) { res = std::move(r); });
    ioc.run();
    if (res.status == 0) {
      std::cerr << "orsctl: " << url << ": " << res.error << "\n";
      return 1;
    }
    if (res.status == 307 || res.status == 308) {
      std::string location;
      for (auto& [k, v] : res.headers)
        if (strcasecmp(k.c_str(), "Location") == 0) location = v;
      if (location.empty()) break;
      url = location.rfind("http", 0) == 0 ? location : server + location;
      continue;
    }
    std::cout << res.body;
    if (!res.body.empty() && res.body.back() != '\n') std::cout << "\n";
    return res.status >= 200 && res.status < 300 ? 0 : 1;
  }
  std::cerr << "orsctl: too many redirects\n";
  return 1;
}

int lbConfig(int argc, char** argv) {
  std::vector<std::string> positional;
  ors::cluster::LbOptions o;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--listen" || a == "--run-dir" || a == "--check-interval") {
      if (i + 1 >= argc) {
        std::cerr << "orsctl: " << a << " needs a value\n";
        return 1;
      }
      std::string v = argv[++i];
      if (a == "--listen") o.listen = v;
      else if (a == "--run-dir") o.runDir = v;
      else {
        char* end = nullptr;
        unsigned long ms = std::strtoul(v.c_str(), &end, 10);
        if (v.empty() || *end || ms == 0 || ms > 600000) {
          std::cerr << "orsctl: --check-interval expects milliseconds (1 to 600000)\n";
          return 1;
        }
        o.checkIntervalMs = static_cast<unsigned>(ms);
      }
    } else {
      positional.push_back(a);
    }
  }
  std::optional<ors::cluster::Balancer> b = positional.empty() ? std::nullopt : ors::cluster::balancerNamed(positional[0]);
  if (positional.size() != 2 || !b) {
    std::cerr << kUsage;
    return 1;
  }
  ors::Result<ors::cluster::ClusterMap> map = ors::cluster::ClusterMap::load(positional[1]);
  if (!map) {
    std::cerr << "orsctl: " << map.status().message() << "\n";
    return 1;
  }
  ors::Result<std::string> text = ors::cluster::lbConfig(*b, *map, o);
  if (!text) {
    std::cerr << "orsctl: " << text.status().message() << "\n";
    return 1;
  }
  std::cout << *text;
  return 0;
}

int server(int argc, char** argv, std::string serverUrl) {
  std::string cmd = argv[0];
  std::vector<std::string> rest(argv + 1, argv + argc);
  auto need = [&](size_t n) {
    if (rest.size() >= n) return true;
    std::cerr << kUsage;
    return false;
  };
  while (!serverUrl.empty() && serverUrl.back() == '/') serverUrl.pop_back();
  auto form = [&](const std::string& method, const std::string& path, const std::vector<std::string>& pairs) {
    std::string body;
    return formBody(pairs, &body) ? serverCall(serverUrl, method, path, body, "application/x-www-form-urlencoded") : 1;
  };
  auto json = [&](const std::string& path, boost::json::object object, size_t from) {
    if (!jsonFields(std::vector<std::string>(rest.begin() + static_cast<std::ptrdiff_t>(from), rest.end()), &object)) return 1;
    return serverCall(serverUrl, "POST", path, boost::json::serialize(object), "application/json");
  };
  if (cmd == "start") {
    if (!need(1)) return 1;
    std::vector<std::string> pairs{"src=" + rest[0]};
    pairs.insert(pairs.end(), rest.begin() + 1, rest.end());
    return form("POST", "/scxml/session/start", pairs);
  }
  if (cmd == "event" || cmd == "request") {
    if (!need(2)) return 1;
    return form("POST", "/scxml/session/" + rest[0] + "/" + cmd + "/" + rest[1],
                std::vector<std::string>(rest.begin() + 2, rest.end()));
  }
  if (cmd == "query") return need(1) ? form("GET", "/scxml/session/" + rest[0] + "/query", {}) : 1;
  if (cmd == "terminate") return need(1) ? form("POST", "/scxml/session/" + rest[0] + "/terminate", {}) : 1;
  if (cmd == "submit") return need(1) ? json("/ors/interactions", {{"media", rest[0]}}, 1) : 1;
  if (cmd == "call-event")
    return need(3) ? json("/ors/calls/events", {{"call", rest[0]}, {"event", rest[1]}, {"dn", rest[2]}}, 3) : 1;
  if (cmd == "list") {
    std::string q = "?offset=" + (rest.size() > 0 ? rest[0] : "0") + "&limit=" + (rest.size() > 1 ? rest[1] : "100");
    return form("GET", "/scxml/sessions" + q, {});
  }
  std::cerr << "orsctl: unknown command '" << cmd << "'\n" << kUsage;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::cout << kUsage;
    return argc < 2 ? 1 : 0;
  }
  std::string serverUrl = std::getenv("ORS_SERVER") ? std::getenv("ORS_SERVER") : "http://127.0.0.1:7210";
  int first = 1;
  if (std::string(argv[1]) == "--server") {
    if (argc < 4) {
      std::cerr << kUsage;
      return 1;
    }
    serverUrl = argv[2];
    first = 3;
  }
  std::string cmd = argv[first];
  if (cmd == "validate") return validate(argc - first - 1, argv + first + 1);
  if (cmd == "run") return run(argc - first - 1, argv + first + 1);
  if (cmd == "lb-config") return lbConfig(argc - first - 1, argv + first + 1);
  return server(argc - first, argv + first, serverUrl);
}
