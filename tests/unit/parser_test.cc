// Parser and validator: typed model, positions, and file:line:col diagnostics.
#include <gtest/gtest.h>

#include <map>

#include "scxml/parser.h"

namespace ors::scxml {
namespace {

ParseResult parse(const std::string& body, const std::string& attrs = "") {
  ParseOptions o;
  o.url = "t.scxml";
  return parseDocument("<scxml xmlns=\"http://www.w3.org/2005/07/scxml\" version=\"1.0\"" + attrs + ">" + body +
                           "</scxml>",
                       o);
}

std::string firstError(const ParseResult& r) { return r.errors.empty() ? "" : r.errors.front().str(); }

TEST(Parser, BuildsStatesInDocumentOrder) {
  auto r = parse("<state id='a'><state id='a1'/><state id='a2'/></state><parallel id='p'><state id='x'/></parallel>"
                 "<final id='f'/>");
  ASSERT_TRUE(r.document) << firstError(r);
  const Document& d = *r.document;
  ASSERT_EQ(d.states.size(), 7u);
  EXPECT_EQ(d.states[1].id, "a");
  EXPECT_EQ(d.states[2].id, "a1");
  EXPECT_TRUE(d.states[1].isCompound());
  EXPECT_TRUE(d.states[2].isAtomic());
  EXPECT_TRUE(d.states[4].isParallel());
  EXPECT_TRUE(d.isDescendant(3, 1));
  EXPECT_FALSE(d.isDescendant(4, 1));
  // Default initial: first child in document order.
  EXPECT_EQ(d.transitions[d.states[0].initial].targets, std::vector<uint32_t>{1});
  EXPECT_EQ(d.transitions[d.states[1].initial].targets, std::vector<uint32_t>{2});
}

TEST(Parser, ReadsTheVendorsDialect) {
  auto r = parse("<state id='s'><onentry>"
                 "<send event=\"'X.done'\" delay='d'/><send event='plain.name' delay='1.5s'/>"
                 "<raise event=\"'r'\"><param name='n' expr='1'/></raise>"
                 "<cancel sendid=\"App_X['requestid']\"/><cancel sendid='literal-id.1'/>"
                 "<log level='2' expr='1'/></onentry></state>",
                 " profile='ecmascript'");
  ASSERT_TRUE(r.document) << firstError(r);
  const Document& d = *r.document;
  EXPECT_EQ(d.datamodel, "ecmascript");
  const Block& b = d.states[1].onentry.at(0);
  ASSERT_EQ(b.size(), 6u);
  const auto& quoted = static_cast<const Send&>(*b[0]);
  EXPECT_EQ(quoted.eventexpr.text, "'X.done'");  // an expression, as the vendor reads it
  EXPECT_EQ(quoted.delayexpr.text, "d");
  const auto& plain = static_cast<const Send&>(*b[1]);  // what W3C allows keeps its meaning
  EXPECT_EQ(plain.event, "plain.name");
  EXPECT_EQ(plain.delay, "1.5s");
  const auto& raise = static_cast<const Raise&>(*b[2]);
  EXPECT_EQ(raise.eventexpr.text, "'r'");
  ASSERT_EQ(raise.params.size(), 1u);
  EXPECT_EQ(static_cast<const Cancel&>(*b[3]).sendidexpr.text, "App_X['requestid']");
  EXPECT_EQ(static_cast<const Cancel&>(*b[4]).sendid, "literal-id.1");
  // <raise> takes <param> only.
  auto bad = parse("<state id='s'><onentry><raise event='e'><content>x</content></raise></onentry></state>");
  EXPECT_EQ(firstError(bad), "t.scxml:1:102: error: unexpected <content> in <raise>");
}

TEST(Parser, ReadsTheVendorsModuleActions) {
  auto r = parse("<state id='s'><onentry>"
                 "<ixn:redirect xmlns:ixn='http://www.genesyslab.com/modules/interaction' requestid='App.r' to='t'/>"
                 "<queue:submit xmlns:queue='www.genesyslab.com/modules/queue' requestid='App.s' queue=\"'VQ'\">"
                 "<queue:targets type='agentgroup'><queue:target name=\"'AG'\" type=\"'agent'\"/></queue:targets>"
                 "</queue:submit>"
                 "<queue:query xmlns:queue='www.genesyslab.com/modules/queue' requestid='App.s'/>"
                 "<classification:classify xmlns:classification='http://www.genesyslab.com/modules/classification' text='t'/>"
                 "</onentry></state>");
  ASSERT_TRUE(r.document) << firstError(r);
  const Block& b = r.document->states[1].onentry[0];
  ASSERT_EQ(b.size(), 4u);
  const auto& redirect = static_cast<const ExtensionAction&>(*b[0]);
  EXPECT_EQ(redirect.module + "." + redirect.name, "interaction.redirect");
  EXPECT_EQ(redirect.idlocation.text, "App.r");  // where the request's id goes
  const auto& submit = static_cast<const ExtensionAction&>(*b[1]);
  ASSERT_EQ(submit.children.size(), 1u);
  const ModuleElement& targets = submit.children[0];
  EXPECT_EQ(targets.literals, (std::vector<std::pair<std::string, std::string>>{{"type", "agentgroup"}}));
  ASSERT_EQ(targets.children.size(), 1u);
  ASSERT_EQ(targets.children[0].attrs.size(), 1u);
  EXPECT_EQ(targets.children[0].attrs[0].second.text, "'AG'");  // a value expression
  EXPECT_EQ(targets.children[0].literals[0].second, "agent");   // a token, quoted or not
  // query (and cancel) name the submit they are about: their requestid is a value.
  const auto& query = static_cast<const ExtensionAction&>(*b[2]);
  EXPECT_FALSE(query.idlocation.present());
  ASSERT_EQ(query.attrs.size(), 1u);
  EXPECT_EQ(query.attrs[0].first, "requestid");
  EXPECT_EQ(static_cast<const ExtensionAction&>(*b[3]).module, "classification");
}

TEST(Parser, XIncludeAssemblesDocumentsAndNamesWhatFails) {
  std::map<std::string, std::string> files = {
      {"dir/lib.js", "var fromLib = 1 < 2;"},
      {"dir/flow.scxml",
       "<scxml xmlns='http://www.w3.org/2005/07/scxml'><state id='entry' initial='$$_MY_PREFIX_$$.a'>"
       "<state id='$$_MY_PREFIX_$$.a'><transition target='$$_MY_PREFIX_$$.b'/></state>"
       "<final id='$$_MY_PREFIX_$$.b'/></state></scxml>"},
      {"dir/loop.scxml", "<scxml xmlns='http://www.w3.org/2005/07/scxml' xmlns:xi='http://www.w3.org/2001/XInclude'>"
                         "<xi:include href='loop.scxml'/></scxml>"},
      {"dir/bad.scxml", "<scxml xmlns='http://www.w3.org/2005/07/scxml'>\n<state id='entry'>\n"
                        "  <transition target='$$_MY_PREFIX_$$.nowhere'/>\n</state></scxml>"}};
  ParseOptions o;
  o.url = "dir/main.scxml";
  o.loader = [&](const std::string& url) -> Result<std::string> {
    auto it = files.find(url);
    if (it == files.end()) return Status::error("no such file");
    return it->second;
  };
  auto doc = [&](const std::string& body) {
    return parseDocument("<scxml xmlns='http://www.w3.org/2005/07/scxml' xmlns:xi='http://www.w3.org/2001/XInclude' "
                         "datamodel='ecmascript' initial='wf'>" + body + "</scxml>", o);
  };
  // As the authoring tool writes it: the include in a state of the same name as its resolveid.
  auto r = doc("<script><xi:include href='lib.js' parse='text'/></script>"
               "<state id='wf' initial='wf.entry'><xi:include href='flow.scxml' xpointer='entry' resolveid='wf'/></state>");
  ASSERT_TRUE(r.document) << firstError(r);
  std::vector<std::string> ids;
  for (const State& st : r.document->states) ids.push_back(st.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"", "wf", "wf.entry", "wf.a", "wf.b"}));
  // A path written on Windows.
  files["dir/sub/lib.js"] = "var x = 1;";
  EXPECT_TRUE(doc("<script><xi:include href='sub\\lib.js' parse='text'/></script><state id='wf'/>").document);
  // Bare ids are prefixed, and the targets naming them follow.
  files["dir/bare.scxml"] = "<scxml xmlns='http://www.w3.org/2005/07/scxml'><state id='entry' initial='a'>"
                            "<state id='a'><transition target='b'/></state><final id='b'/></state></scxml>";
  auto bare = doc("<state id='wf'><xi:include href='bare.scxml' xpointer='entry' resolveid='wf'/></state>");
  ASSERT_TRUE(bare.document) << firstError(bare);
  ids.clear();
  for (const State& st : bare.document->states) ids.push_back(st.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"", "wf", "wf.entry", "wf.a", "wf.b"}));
  EXPECT_EQ(bare.document->states[3].transitions.size(), 1u);
  // What came from an included file is located in it: the library's script, the workflow's states.
  EXPECT_EQ(r.document->fileOf(r.document->script.front()->loc), "dir/lib.js");
  EXPECT_EQ(r.document->fileOf(r.document->states[3].loc), "dir/flow.scxml");
  EXPECT_EQ(r.document->fileOf(r.document->states[0].loc), "dir/main.scxml");
  // An error in an included element names that file, line and column.
  EXPECT_EQ(firstError(doc("<state id='wf'><xi:include href='bad.scxml' xpointer='entry' resolveid='wf'/></state>")),
            "dir/bad.scxml:3:3: error: unknown target state 'wf.nowhere'");
  EXPECT_EQ(firstError(doc("<xi:include href='nowhere.scxml'/>")),
            "dir/main.scxml:1:127: error: cannot include 'nowhere.scxml': no such file");
  EXPECT_EQ(firstError(doc("<xi:include href='flow.scxml' xpointer='absent'/>")),
            "dir/main.scxml:1:127: error: 'flow.scxml' has no element with id 'absent' (xpointer)");
  EXPECT_NE(firstError(doc("<xi:include href='loop.scxml'/>")).find("more than 16 deep"), std::string::npos);
  // Stored with what it included, it compiles again the same when those files are gone.
  std::string stored = storedSource(*r.document);
  auto saved = files;
  files.clear();
  ParseResult again = parseStored(stored, o);
  ASSERT_TRUE(again.document) << firstError(again);
  EXPECT_EQ(again.document->hash, r.document->hash);
  EXPECT_EQ(again.document->states.size(), r.document->states.size());
  files = saved;
  EXPECT_EQ(storedSource(*parse("<state id='x'/>").document).rfind("<scxml", 0), 0u);  // nothing loaded: the text
  EXPECT_EQ(firstError(doc("<xi:include href='flow.scxml' parse='html'/>")),
            "dir/main.scxml:1:127: error: <include> parse must be 'xml' or 'text', not 'html'");
}

TEST(Parser, ReadsTextAndDocumentsInTheEncodingsOfWindows) {
  std::map<std::string, std::string> files = {
      {"utf8.js", "var s = 'S\xC3\xA3o';"},
      {"cp1252.js", "var s = 'S\xE3o \x80';"},  // not UTF-8: windows-1252
      {"latin1.js", "var s = 'S\xE3o';"},
      {"overlong.js", "var s = '\xE0\x85\xBB';"}};  // windows-1252 "à…»": not UTF-8 (overlong)
  ParseOptions o;
  o.url = "main.scxml";
  o.loader = [&](const std::string& url) -> Result<std::string> { return files.at(url); };
  auto script = [&](const std::string& include) -> std::string {
    ParseResult r = parseDocument("<scxml xmlns='http://www.w3.org/2005/07/scxml' xmlns:xi='http://www.w3.org/2001/XInclude'"
                                  " datamodel='ecmascript'><script>" + include + "</script><final id='f'/></scxml>", o);
    if (!r.document) return firstError(r);
    return static_cast<const Script&>(*r.document->script.front()).body.text;
  };
  EXPECT_EQ(script("<xi:include href='utf8.js' parse='text'/>"), "var s = 'S\xC3\xA3o';");
  EXPECT_EQ(script("<xi:include href='cp1252.js' parse='text'/>"), "var s = 'S\xC3\xA3o \xE2\x82\xAC';");
  EXPECT_EQ(script("<xi:include href='latin1.js' parse='text' encoding='ISO-8859-1'/>"), "var s = 'S\xC3\xA3o';");
  EXPECT_NE(script("<xi:include href='cp1252.js' parse='text' encoding='utf-8'/>").find("not UTF-8"), std::string::npos);
  EXPECT_EQ(script("<xi:include href='overlong.js' parse='text'/>"), "var s = '\xC3\xA0\xE2\x80\xA6\xC2\xBB';");
  EXPECT_NE(script("<xi:include href='utf8.js' parse='text' encoding='ebcdic'/>").find("unknown encoding"), std::string::npos);
  // A document that declares windows-1252.
  ParseResult doc = parseDocument("<?xml version='1.0' encoding='windows-1252'?>"
                                  "<scxml xmlns='http://www.w3.org/2005/07/scxml' datamodel='ecmascript'>"
                                  "<script>var s = 'caf\xE9 \x80';</script><final id='f'/></scxml>", o);
  ASSERT_TRUE(doc.document) << firstError(doc);
  EXPECT_EQ(static_cast<const Script&>(*doc.document->script.front()).body.text, "var s = 'caf\xC3\xA9 \xE2\x82\xAC';");
}

TEST(Parser, RecordsLineAndColumn) {
  ParseOptions o;
  o.url = "pos.scxml";
  auto r = parseDocument("<scxml xmlns='http://www.w3.org/2005/07/scxml'>\n  <state id='a'>\n    <transition target='nowhere'/>\n"
                         "  </state>\n</scxml>",
                         o);
  ASSERT_FALSE(r.document);
  EXPECT_EQ(firstError(r), "pos.scxml:3:5: error: unknown target state 'nowhere'");
}

TEST(Parser, RejectsDuplicateIds) {
  auto r = parse("<state id='a'/><state id='a'/>");
  EXPECT_FALSE(r.document);
  EXPECT_NE(firstError(r).find("duplicate state id 'a'"), std::string::npos);
}

TEST(Parser, RejectsBadInitial) {
  EXPECT_FALSE(parse("<state id='a'/><state id='b' initial='a'><state id='c'/></state>").document);
  EXPECT_FALSE(parse("<state id='a'/>", " initial='zz'").document);
}

TEST(Parser, RejectsUnknownScxmlElementsButKeepsForeignOnes) {
  auto bad = parse("<state id='a'><onentry><frobnicate/></onentry></state>");
  EXPECT_FALSE(bad.document);
  EXPECT_NE(firstError(bad).find("unexpected <frobnicate>"), std::string::npos);
  auto ok = parse("<state id='a'><onentry><x:do xmlns:x='urn:ext' a='1'/></onentry></state>");
  ASSERT_TRUE(ok.document) << firstError(ok);
  const Block& b = ok.document->states[1].onentry[0];
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]->kind, Action::Kind::kForeign);
}

TEST(Parser, ReportsMalformedXmlWithPosition) {
  ParseOptions o;
  o.url = "bad.scxml";
  auto r = parseDocument("<scxml xmlns='http://www.w3.org/2005/07/scxml'>\n<state id='a'>\n</scxml>", o);
  ASSERT_FALSE(r.document);
  EXPECT_EQ(r.errors.front().loc.line, 3u);
  EXPECT_EQ(r.errors.front().file, "bad.scxml");
}

TEST(Parser, RefusesEntityDeclarations) {
  auto r = parseDocument("<!DOCTYPE scxml [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]>"
                         "<scxml xmlns='http://www.w3.org/2005/07/scxml'><state id='s'/></scxml>",
                         {});
  ASSERT_FALSE(r.document);
  EXPECT_NE(firstError(r).find("entity"), std::string::npos);
}

TEST(Parser, RejectsWrongRootNamespace) {
  auto r = parseDocument("<scxml xmlns='urn:other'><state id='s'/></scxml>", {});
  EXPECT_FALSE(r.document);
}

TEST(Parser, NormalisesEventDescriptors) {
  auto r = parse("<state id='a'><transition event='foo.* bar. *' target='a'/></state>");
  ASSERT_TRUE(r.document) << firstError(r);
  const Transition& t = r.document->transitions[r.document->states[1].transitions[0]];
  EXPECT_EQ(t.events, (std::vector<std::string>{"foo", "bar", "*"}));
  EXPECT_TRUE(nameMatch({"foo"}, "foo.bar"));
  EXPECT_FALSE(nameMatch({"foo"}, "foobar"));
  EXPECT_TRUE(nameMatch({"*"}, "anything"));
}

TEST(Parser, NumbersExpressionsForCompileOnce) {
  auto r = parse("<datamodel><data id='x' expr='1'/></datamodel><state id='a'><transition cond='x > 0' "
                 "target='a'><assign location='x' expr='x+1'/></transition></state>",
                 " datamodel='ecmascript'");
  ASSERT_TRUE(r.document) << firstError(r);
  EXPECT_EQ(r.document->exprCount, 5u);  // data location, data expr, cond, location, expr
}

TEST(Parser, InlineScxmlContentBecomesADocument) {
  auto r = parse("<state id='a'><invoke><content><scxml xmlns='http://www.w3.org/2005/07/scxml'>"
                 "<final id='f'/></scxml></content></invoke></state>");
  ASSERT_TRUE(r.document) << firstError(r);
  ASSERT_EQ(r.document->invokes.size(), 1u);
  ASSERT_TRUE(r.document->invokes[0]->content.document);
  EXPECT_EQ(r.document->invokes[0]->content.document->states[1].id, "f");
}

TEST(Parser, PrecomputesTransitionDomains) {
  auto r = parse("<state id='p'><state id='a'><transition event='x' target='b'/>"
                 "<transition event='i' type='internal' target='a'/><transition event='t'/></state>"
                 "<state id='b'><transition event='in' type='internal' target='b1'/><state id='b1'/>"
                 "<history id='h'><transition target='b1'/></history><transition event='hh' target='h'/></state></state>");
  ASSERT_TRUE(r.document) << firstError(r);
  const Document& d = *r.document;
  auto tr = [&](const char* state, size_t i) -> const Transition& {
    return d.transitions[d.states[d.stateById.at(state)].transitions[i]];
  };
  EXPECT_TRUE(tr("a", 0).staticDomain);
  EXPECT_EQ(tr("a", 0).domain, d.stateById.at("p"));    // a -> b: their LCCA
  EXPECT_EQ(tr("a", 1).domain, d.stateById.at("p"));    // internal, but a is atomic: LCCA
  EXPECT_EQ(tr("a", 2).domain, kNone);                  // targetless
  EXPECT_EQ(tr("b", 0).domain, d.stateById.at("b"));    // internal into its own child
  EXPECT_FALSE(tr("b", 1).staticDomain);                // history target: computed at run time
}

TEST(Parser, ResolvesUrls) {
  EXPECT_EQ(resolveUrl("/a/b/doc.scxml", "file:sub.scxml"), "/a/b/sub.scxml");
  EXPECT_EQ(resolveUrl("/a/b/doc.scxml", "x.txt"), "/a/b/x.txt");
  EXPECT_EQ(resolveUrl("/a/b/doc.scxml", "/abs.scxml"), "/abs.scxml");
  EXPECT_EQ(resolveUrl("http://h/p/doc.scxml", "sub.scxml"), "http://h/p/sub.scxml");
  // Against a web address, as RFC 3986 resolves: dot segments removed, absolute paths on its host.
  EXPECT_EQ(resolveUrl("http://h:8080/app/src-gen/IPD.scxml?v=1", "../include/lib.js"), "http://h:8080/app/include/lib.js");
  EXPECT_EQ(resolveUrl("http://h/a/b/c.scxml", "./d/../e.js?x=1#f"), "http://h/a/b/e.js?x=1#f");
  EXPECT_EQ(resolveUrl("http://h/a/doc.scxml", "../../../x.js"), "http://h/x.js");
  EXPECT_EQ(resolveUrl("http://h/a/doc.scxml", "/root/x.js"), "http://h/root/x.js");
  EXPECT_EQ(resolveUrl("https://h/a/doc.scxml", "//other/x.js"), "https://other/x.js");
  EXPECT_EQ(resolveUrl("http://h", "x.js"), "http://h/x.js");
  EXPECT_EQ(resolveUrl("http://h?x=1", "y.js"), "http://h/y.js");
  EXPECT_EQ(resolveUrl("http://h/a/doc.scxml?v=1#s", "?v=2"), "http://h/a/doc.scxml?v=2");
  EXPECT_EQ(resolveUrl("http://h/a/doc.scxml#s", "#t"), "http://h/a/doc.scxml#t");
  EXPECT_EQ(resolveUrl("HTTP://h/a/doc.scxml", "../x.js"), "HTTP://h/x.js");
  EXPECT_EQ(resolveUrl("doc.scxml", "file:sub.scxml"), "sub.scxml");
}

}  // namespace
}  // namespace ors::scxml
