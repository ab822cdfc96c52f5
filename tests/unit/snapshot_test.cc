// Session snapshots (Session::snapshot / restore, the ECMAScript datamodel's walk): values of
// every kind survive, a restored session goes on as the original would, on another engine and
// thread too, and a snapshot refuses another version of its document.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "datamodel/ecmascript/ecmascript.h"
#include "scxml/parser.h"
#include "scxml/runtime.h"

namespace ors::scxml {
namespace {

// Builds every kind of value in the datamodel; `check` tests them all, before or after a restore
// (a symbol is lost, a lone surrogate becomes U+FFFD).
constexpr const char* kDoc = R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" datamodel="ecmascript" initial="s0">
  <datamodel>
    <data id="count" expr="0"/>
    <data id="doc"><root><a x="1">t</a><b/></root></data>
  </datamodel>
  <script>
    var o = {n: 1, nested: {arr: [1, , 3]}}; o.self = o;
    var shared = {v: 1}; var pair = [shared, shared];
    function inc(k) { count += k; return count; }
    var arrow = (a) => a * 2;
    var obj2 = { m(x) { return x + 1; }, get g() { return 42; } };
    var d = new Date(1234567890123); var re = /ab+c/gi;
    var m = new Map([[1, 'one'], ['k', {z: 1}]]); var st = new Set([1, 'x']);
    var specials = [NaN, -0, Infinity, -Infinity, undefined, null, 10n, 'a\uD800b'];
    var frozen = Object.freeze({f: 1});
    var err = new TypeError('bad');
    var sym = Symbol('s');
    var nullproto = Object.create(null); nullproto.q = 1;
    var a = doc.getElementsByTagName('a')[0];
  </script>
  <state id="s0"><transition event="go" target="s1"><script>inc(1)</script></transition></state>
  <state id="s1">
    <transition event="check" target="pass" cond="
        o.self === o &amp;&amp; o.nested.arr.length === 3 &amp;&amp; !(1 in o.nested.arr) &amp;&amp;
        pair[0] === pair[1] &amp;&amp; inc(1) === 2 &amp;&amp; arrow(2) === 4 &amp;&amp;
        obj2.m(1) === 2 &amp;&amp; obj2.g === 42 &amp;&amp; d.getTime() === 1234567890123 &amp;&amp;
        re.source === 'ab+c' &amp;&amp; re.flags === 'gi' &amp;&amp; m.get(1) === 'one' &amp;&amp;
        m.get('k').z === 1 &amp;&amp; st.has('x') &amp;&amp; st.size === 2 &amp;&amp;
        isNaN(specials[0]) &amp;&amp; Object.is(specials[1], -0) &amp;&amp; specials[2] === Infinity &amp;&amp;
        specials[3] === -Infinity &amp;&amp; specials.length === 8 &amp;&amp; specials[4] === undefined &amp;&amp;
        specials[5] === null &amp;&amp; specials[6] === 10n &amp;&amp; /^a[\uFFFD\uD800]b$/.test(specials[7]) &amp;&amp;
        Object.isFrozen(frozen) &amp;&amp; frozen.f === 1 &amp;&amp;
        err instanceof TypeError &amp;&amp; err.message === 'bad' &amp;&amp; typeof sym !== 'string' &amp;&amp;
        Object.getPrototypeOf(nullproto) === null &amp;&amp; nullproto.q === 1 &amp;&amp;
        doc.getElementsByTagName('a')[0].getAttribute('x') === '1' &amp;&amp; a.textContent === 't' &amp;&amp;
        doc.getElementsByTagName('a')[0] === a &amp;&amp; String(doc) === '&lt;root&gt;&lt;a x=&quot;1&quot;&gt;t&lt;/a&gt;&lt;b/&gt;&lt;/root&gt;'"/>
    <transition event="check" target="fail"/>
  </state>
  <final id="pass"/><final id="fail"/>
</scxml>)";

std::shared_ptr<const Document> parse(const std::string& text) {
  ParseOptions po;
  po.url = "snap.scxml";
  ParseResult r = parseDocument(text, po);
  EXPECT_TRUE(r.document) << (r.errors.empty() ? "" : r.errors.front().str());
  return r.document;
}

Event named(const std::string& name) {
  Event e;
  e.name = name;
  return e;
}

// A runtime on an engine of its own, with a session of `doc` started in it (`session` null if
// it could not start).
struct Started {
  explicit Started(std::shared_ptr<const Document> doc) {
    auto s = rt.startSession(std::move(doc));
    if (s) {
      session = *s;
      id = session->id();
    }
  }
  std::unique_ptr<dm::Engine> engine = dm::makeEcmaScriptEngine();
  Runtime rt{engine.get(), {}};
  Session* session = nullptr;
  std::string id;
};

TEST(Snapshot, EveryKindOfValueSurvivesEveryStep) {
  auto doc = parse(kDoc);
  ASSERT_TRUE(doc);
  auto engine = dm::makeEcmaScriptEngine();
  std::string final;
  Runtime::Options o;
  o.restoreEveryStep = true;
  o.onFinished = [&](const Session& s) { final = s.finalState(); };
  Runtime rt(engine.get(), o);
  auto s = rt.startSession(doc);
  ASSERT_TRUE(s) << s.status().message();
  std::string id = (*s)->id();
  rt.runUntilIdle();
  rt.deliver(id, named("go"));
  rt.runUntilIdle();
  rt.deliver(id, named("check"));
  rt.runUntilIdle();
  EXPECT_EQ(rt.restoreFailures(), 0u) << rt.lastRestoreFailure();
  EXPECT_EQ(rt.restores(), 2u);
  EXPECT_EQ(final, "pass");
}

TEST(Snapshot, ListsWhatCannotBeRestored) {
  auto doc = parse(kDoc);
  ASSERT_TRUE(doc);
  Started r(doc);
  ASSERT_TRUE(r.session);
  Result<std::string> snap = r.session->snapshot();
  ASSERT_TRUE(snap) << snap.status().message();
  boost::json::value v = boost::json::parse(*snap);
  const boost::json::array& lost = v.at("dm").at("lost").as_array();
  ASSERT_EQ(lost.size(), 1u) << *snap;
  EXPECT_EQ(lost[0].as_string(), "sym: a symbol");
  EXPECT_EQ(v.at("doc").as_string(), doc->hash);
}

// The original runs on this thread's engine; the copy on another thread with its own engine,
// as after a restart, and ends the same way; the original, still here, too.
TEST(Snapshot, RestoresOnAnotherEngine) {
  auto doc = parse(kDoc);
  ASSERT_TRUE(doc);
  auto engine = dm::makeEcmaScriptEngine();
  std::string final;
  Runtime::Options o;
  o.onFinished = [&](const Session& s) { final = s.finalState(); };
  Runtime rt(engine.get(), o);
  auto s = rt.startSession(doc);
  ASSERT_TRUE(s);
  std::string id = (*s)->id();
  rt.deliver(id, named("go"));
  rt.runUntilIdle();
  rt.deliver(id, named("check"));  // queued, not processed: it travels in the snapshot
  Result<std::string> snap = rt.find(id)->snapshot();
  ASSERT_TRUE(snap) << snap.status().message();

  std::string otherFinal, error;
  std::thread other([&] {
    auto engine2 = dm::makeEcmaScriptEngine();
    Runtime::Options o2;
    o2.onFinished = [&](const Session& s2) { otherFinal = s2.finalState(); };
    Runtime rt2(engine2.get(), o2);
    auto restored = rt2.restoreSession(doc, boost::json::parse(*snap).as_object());
    if (!restored) {
      error = restored.status().message();
      return;
    }
    rt2.runUntilIdle();
  });
  other.join();
  EXPECT_EQ(error, "");
  EXPECT_EQ(otherFinal, "pass");
  rt.runUntilIdle();
  EXPECT_EQ(final, "pass");
}

// Snapshots session `id`, ends it, and restores it from the snapshot in its place.
void replaceBySnapshot(Runtime& rt, const std::shared_ptr<const Document>& doc, const std::string& id) {
  Result<std::string> snap = rt.find(id)->snapshot();
  ASSERT_TRUE(snap) << snap.status().message();
  rt.terminate(id);
  rt.runUntilIdle();
  auto restored = rt.restoreSession(doc, boost::json::parse(*snap).as_object());
  ASSERT_TRUE(restored) << restored.status().message();
}

TEST(Snapshot, KeepsHistoryQueueAndLateBinding) {
  auto doc = parse(R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" datamodel="ecmascript" binding="late">
    <state id="p" initial="a">
      <history id="h" type="deep"/>
      <state id="a"><transition event="next" target="b"/></state>
      <state id="b"><datamodel><data id="late" expr="7"/></datamodel><transition event="out" target="q"/></state>
    </state>
    <state id="q"><transition event="back" target="h"/></state>
    <state id="r"/>
  </scxml>)");
  ASSERT_TRUE(doc);
  Started r(doc);
  ASSERT_TRUE(r.session);
  const std::string id = r.id;
  for (const char* e : {"next", "out"}) {
    r.rt.deliver(id, named(e));
    r.rt.runUntilIdle();
  }
  r.rt.deliver(id, named("back"));
  ASSERT_NO_FATAL_FAILURE(replaceBySnapshot(r.rt, doc, id));
  r.rt.runUntilIdle();  // processes the queued "back": deep history returns to b
  EXPECT_EQ(r.rt.find(id)->activeAtomicStates(), std::vector<std::string>{"b"});
  Result<std::string> again = r.rt.find(id)->snapshot();
  ASSERT_TRUE(again);
  EXPECT_NE(again->find("\"late\":7"), std::string::npos) << *again;
}

TEST(Snapshot, KeepsTheVendorsInteractionModel) {
  auto doc = parse(R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" profile="ecmascript" initial="w">
    <state id="w">
      <transition event="check" cond="_genesys.ixn.interactions.I9.udata.k === 'v' &amp;&amp; _data.w === undefined &amp;&amp; typeof _data === 'object'" target="pass"/>
      <transition event="check" target="fail"/>
    </state>
    <final id="pass"/><state id="fail"/>
  </scxml>)");
  ASSERT_TRUE(doc);
  Started r(doc);
  ASSERT_TRUE(r.session);
  const std::string id = r.id;
  Event added = named("interaction.added");
  added.data = boost::json::object{{"interactionid", "I9"}, {"interaction", {{"udata", {{"k", "v"}}}}}};
  r.rt.deliver(id, added);
  r.rt.runUntilIdle();
  ASSERT_NO_FATAL_FAILURE(replaceBySnapshot(r.rt, doc, id));
  r.rt.deliver(id, named("check"));
  r.rt.runUntilIdle();
  // It ended in "pass" (the final state ends the session; "fail" would keep it): the
  // interaction came back with it.
  EXPECT_FALSE(r.rt.find(id));
}

TEST(Snapshot, KeepsTheVendorsStateScopes) {
  // A generated document's pattern: a state's own `system` object, hung on the session's data.
  auto doc = parse(R"X(<scxml xmlns="http://www.w3.org/2005/07/scxml" profile="ecmascript" initial="outer">
    <datamodel><data id="system" expr="new Object()"/></datamodel>
    <state id="outer" initial="inner">
      <onentry><script>var system = {n: 1}; _data.system.context = system;</script></onentry>
      <state id="inner">
        <onentry><script>var local = system.n + 1;</script></onentry>
        <transition event="check" target="pass" cond="local === 2 &amp;&amp; system.n === 1 &amp;&amp;
            _data.system.context === system &amp;&amp; JSON.stringify(_data.system) === '{&quot;context&quot;:{&quot;n&quot;:1}}'"/>
        <transition event="check" target="fail"/>
      </state>
    </state>
    <final id="pass"/><state id="fail"/>
  </scxml>)X");
  ASSERT_TRUE(doc);
  EXPECT_TRUE(doc->vendor);
  Started r(doc);
  ASSERT_TRUE(r.session);
  const std::string id = r.id;
  r.rt.runUntilIdle();
  ASSERT_NO_FATAL_FAILURE(replaceBySnapshot(r.rt, doc, id));
  r.rt.deliver(id, named("check"));
  r.rt.runUntilIdle();
  EXPECT_FALSE(r.rt.find(id));  // ended in "pass": the scopes came back, sharing what they shared
}

TEST(Snapshot, RefusesAnotherVersionOfTheDocument) {
  auto doc = parse(kDoc);
  auto changed = parse(std::string(kDoc).replace(std::string(kDoc).find("count\" expr=\"0\""), 15, "count\" expr=\"1\""));
  ASSERT_TRUE(doc && changed);
  EXPECT_NE(doc->hash, changed->hash);
  Started r(doc);
  ASSERT_TRUE(r.session);
  Result<std::string> snap = r.session->snapshot();
  ASSERT_TRUE(snap);
  r.rt.terminate(r.id);
  r.rt.runUntilIdle();
  auto restored = r.rt.restoreSession(changed, boost::json::parse(*snap).as_object());
  ASSERT_FALSE(restored);
  EXPECT_NE(restored.status().message().find("another version"), std::string::npos);
}

}  // namespace
}  // namespace ors::scxml
