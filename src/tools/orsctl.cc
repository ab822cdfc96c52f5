// orsctl: the command-line tool. This step: `validate` and `run` (in-process statecharts).
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>

#include "datamodel/ecmascript/ecmascript.h"
#include "scxml/parser.h"
#include "scxml/runtime.h"

namespace {

using ors::scxml::Event;

constexpr const char* kUsage =
    "usage:\n"
    "  orsctl validate DOC...\n"
    "  orsctl run DOC [--event NAME[=JSON]]... [--events FILE] [--trace] [--timeout SECONDS]\n"
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

  auto engine = ors::dm::makeEcmaScriptEngine();
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::cout << kUsage;
    return argc < 2 ? 1 : 0;
  }
  std::string cmd = argv[1];
  if (cmd == "validate") return validate(argc - 2, argv + 2);
  if (cmd == "run") return run(argc - 2, argv + 2);
  std::cerr << "orsctl: unknown command '" << cmd << "'\n" << kUsage;
  return 1;
}
