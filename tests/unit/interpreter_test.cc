// The interpreter on the null datamodel (no JavaScript): structure, history, parallel, done events.
#include <gtest/gtest.h>

#include "scxml/parser.h"
#include "scxml/runtime.h"

namespace ors::scxml {
namespace {

struct Harness {
  std::string finalState;
  bool done = false;
  std::vector<std::string> logs;
  std::unique_ptr<Runtime> rt;
  Session* session = nullptr;
  std::string id;

  explicit Harness(const std::string& body, const std::string& attrs = "") {
    ParseOptions o;
    o.url = "t.scxml";
    ParseResult r = parseDocument(
        "<scxml xmlns='http://www.w3.org/2005/07/scxml' datamodel='null'" + attrs + ">" + body + "</scxml>", o);
    if (!r.document) {
      ADD_FAILURE() << r.errors.front().str();
      return;
    }
    Runtime::Options opts;
    opts.virtualTime = true;
    opts.onLog = [this](const Session&, const std::string& label, const std::string&) { logs.push_back(label); };
    opts.onFinished = [this](const Session& s) {
      finalState = s.finalState();
      done = true;
    };
    rt = std::make_unique<Runtime>(nullptr, opts);
    auto s = rt->startSession(r.document);
    EXPECT_TRUE(s) << s.status().message();
    session = *s;
    id = session->id();
    rt->runUntilIdle();
  }
  void send(const std::string& name) {
    Event e;
    e.name = name;
    rt->deliver(id, std::move(e));
    rt->runUntil([&] { return done; }, Runtime::Clock::now() + std::chrono::seconds(5));
  }
  std::vector<std::string> states() { return rt->find(id) ? rt->find(id)->activeAtomicStates() : std::vector<std::string>{}; }
};

TEST(Interpreter, EntersInitialConfiguration) {
  Harness h("<state id='a'><state id='a1'/><state id='a2'/></state>");
  EXPECT_EQ(h.states(), std::vector<std::string>{"a1"});
}

TEST(Interpreter, ParallelRegionsAndDoneState) {
  Harness h("<parallel id='p'><state id='r1'><state id='x'><transition event='e' target='xf'/></state>"
            "<final id='xf'/></state><state id='r2'><state id='y'><transition event='e' target='yf'/></state>"
            "<final id='yf'/></state><transition event='done.state.p' target='end'/></parallel><final id='end'/>");
  EXPECT_EQ(h.states(), (std::vector<std::string>{"x", "y"}));
  h.send("e");
  EXPECT_TRUE(h.done);
  EXPECT_EQ(h.finalState, "end");
}

TEST(Interpreter, ShallowAndDeepHistory) {
  Harness h("<state id='s'><history id='h' type='deep'><transition target='a1'/></history>"
            "<state id='a'><state id='a1'><transition event='next' target='a2'/></state><state id='a2'/></state>"
            "<transition event='out' target='o'/></state><state id='o'><transition event='back' target='h'/></state>",
            " initial='s'");
  EXPECT_EQ(h.states(), std::vector<std::string>{"a1"});
  h.send("next");
  h.send("out");
  EXPECT_EQ(h.states(), std::vector<std::string>{"o"});
  h.send("back");
  EXPECT_EQ(h.states(), std::vector<std::string>{"a2"});
}

TEST(Interpreter, InPredicateOnNullDatamodel) {
  Harness h("<parallel id='p'><state id='a'><transition cond=\"In('b')\" target='yes'/></state><state id='b'/></parallel>"
            "<final id='yes'/>");
  EXPECT_TRUE(h.done);
  EXPECT_EQ(h.finalState, "yes");
}

TEST(Interpreter, DelayedSendAndCancel) {
  Harness h("<state id='a'><onentry><send event='late' delay='10s' id='t'/><send event='early' delay='1s'/></onentry>"
            "<transition event='early' target='b'><cancel sendid='t'/></transition></state>"
            "<state id='b'><transition event='late' target='bad'/><transition event='ping' target='good'/></state>"
            "<final id='good'/><final id='bad'/>");
  h.rt->runUntil([&] { return h.done; }, Runtime::Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(h.states(), std::vector<std::string>{"b"});
  h.send("ping");
  EXPECT_EQ(h.finalState, "good");
}

TEST(Interpreter, ConflictingTransitionsInParallelPreemptByDocumentOrder) {
  Harness h("<parallel id='p'><state id='a'><transition event='e' target='x'/></state>"
            "<state id='b'><transition event='e' target='y'/></state></parallel><final id='x'/><final id='y'/>");
  h.send("e");
  EXPECT_EQ(h.finalState, "x");
}

TEST(Interpreter, ErrorExecutionFromNullDatamodelExpression) {
  Harness h("<state id='a'><onentry><log label='x' expr='1'/></onentry>"
            "<transition event='error.execution' target='ok'/></state><final id='ok'/>");
  EXPECT_EQ(h.finalState, "ok");
}

}  // namespace
}  // namespace ors::scxml
