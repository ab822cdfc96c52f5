// orsd's document cache: compiled documents shared until a file they were made of changes,
// local includes under the roots, and http:// documents compiled from the files the caller
// fetched (the network itself is the orsd integration test's).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/documents.h"

namespace ors::server {
namespace {

constexpr const char* kMain = R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude"
    version="1.0" profile="ecmascript" initial="flow">
  <script><xi:include href="lib/lib.js" parse="text"/></script>
  <state id="flow" initial="flow._composer_entry">
    <xi:include href="flow.scxml" parse="xml" xpointer="_composer_entry" resolveid="flow"/>
  </state>
</scxml>)";
constexpr const char* kFlow = R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0">
  <state id="_composer_entry" initial="$$_MY_PREFIX_$$.wait">
    <state id="$$_MY_PREFIX_$$.wait"><transition event="go" target="$$_MY_PREFIX_$$.end"/></state>
    <final id="$$_MY_PREFIX_$$.end"/>
  </state>
</scxml>)";

class DocumentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ors-documents-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "lib");
    write("main.scxml", kMain);
    write("flow.scxml", kFlow);
    write("lib/lib.js", "function f() { return 1; }");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::filesystem::path dir_;
};

TEST_F(DocumentsTest, ALocalDocumentIsRecompiledWhenAFileItIncludesChanges) {
  DocumentCache cache({dir_.string()}, {}, std::chrono::milliseconds(0));
  DocumentCache::Loaded a = cache.load("main.scxml");
  ASSERT_TRUE(a.document) << a.error;
  EXPECT_EQ(cache.load("main.scxml").document, a.document);  // nothing changed: shared
  write("lib/lib.js", "function f() { return 22; }");
  DocumentCache::Loaded b = cache.load("main.scxml");
  ASSERT_TRUE(b.document) << b.error;
  EXPECT_NE(b.document, a.document);
  write("flow.scxml", "<scxml");
  DocumentCache::Loaded c = cache.load("main.scxml");
  EXPECT_FALSE(c.document);
  ASSERT_FALSE(c.diagnostics.empty());
  EXPECT_NE(c.diagnostics[0].file.find("flow.scxml"), std::string::npos);  // the included file is named
}

TEST_F(DocumentsTest, IncludesObeyTheDocumentRoots) {
  write("escape.scxml", R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude" version="1.0">
  <script><xi:include href="/etc/passwd" parse="text"/></script>
</scxml>)");
  DocumentCache cache({dir_.string()});
  DocumentCache::Loaded r = cache.load("escape.scxml");
  EXPECT_FALSE(r.document);
  ASSERT_FALSE(r.diagnostics.empty());
  EXPECT_NE(r.diagnostics[0].message.find("outside the document roots"), std::string::npos) << r.diagnostics[0].message;
}

TEST_F(DocumentsTest, ANameWrittenInAnotherCaseFindsItsOnlyFile) {
  // Projects written on Windows: an include of "Flow.scxml" and "LIB/Lib.js" for the files
  // flow.scxml and lib/lib.js.
  std::string main = kMain;
  main.replace(main.find("lib/lib.js"), 10, "LIB/Lib.js");
  main.replace(main.find("\"flow.scxml\""), 12, "\"Flow.scxml\"");
  write("upper.scxml", main);
  DocumentCache cache({dir_.string()});
  DocumentCache::Loaded r = cache.load("UPPER.scxml");
  ASSERT_TRUE(r.document) << r.error << (r.diagnostics.empty() ? "" : r.diagnostics[0].str());
  // Two files that differ only by case: that name is ambiguous, the exact one still loads.
  write("Flow.SCXML", kFlow);
  write("flow.SCXML", kFlow);
  EXPECT_TRUE(cache.load("flow.SCXML").document);
  DocumentCache::Loaded ambiguous = cache.load("FLOW.scxml");
  EXPECT_FALSE(ambiguous.document);
  EXPECT_NE(ambiguous.error.find("no such file"), std::string::npos) << ambiguous.error;
  // Still only under the roots: a document beside the root, named in another case, is refused
  // as outside them.
  std::filesystem::path outside = dir_.string() + "-outside";
  std::filesystem::create_directories(outside);
  std::ofstream(outside / "Outside.scxml") << kFlow;
  DocumentCache::Loaded escaped = cache.load("../" + outside.filename().string() + "/OUTSIDE.scxml");
  std::filesystem::remove_all(outside);
  EXPECT_FALSE(escaped.document);
  EXPECT_NE(escaped.error.find("outside the document roots"), std::string::npos) << escaped.error;
}

TEST_F(DocumentsTest, AnHttpDocumentIsCompiledFromTheFilesTheCallerFetched) {
  DocumentCache cache({dir_.string()}, {}, std::chrono::milliseconds(0));
  const std::string base = "http://docs.test/app/";
  std::map<std::string, Result<std::string>> texts;
  auto fetched = [&](const std::string& name, const std::string& text) {
    texts.insert_or_assign(base + name, cache.storeHttpFile(base + name, 200, text, {{"ETag", "\"" + name + "\""}}));
  };
  auto notModified = [&](const std::string& name) {
    texts.insert_or_assign(base + name, cache.storeHttpFile(base + name, 304, "", {}));
  };
  fetched("main.scxml", kMain);
  std::vector<std::string> missing;
  EXPECT_FALSE(cache.compileHttp(base + "main.scxml", texts, &missing).document);
  EXPECT_EQ(missing, (std::vector<std::string>{base + "lib/lib.js", base + "flow.scxml"}));
  fetched("lib/lib.js", "function f() { return 1; }");
  fetched("flow.scxml", kFlow);
  missing.clear();
  DocumentCache::Loaded a = cache.compileHttp(base + "main.scxml", texts, &missing);
  ASSERT_TRUE(a.document) << a.error;
  EXPECT_TRUE(missing.empty());
  // Revalidation asks for the document and what it included, each with its validators.
  EXPECT_EQ(cache.httpFiles(base + "main.scxml"),
            (std::vector<std::string>{base + "main.scxml", base + "lib/lib.js", base + "flow.scxml"}));
  EXPECT_EQ(cache.httpValidators(base + "flow.scxml"),
            (std::vector<std::pair<std::string, std::string>>{{"If-None-Match", "\"flow.scxml\""}}));
  // All 304: the compiled document is kept.
  for (const char* name : {"main.scxml", "lib/lib.js", "flow.scxml"}) notModified(name);
  EXPECT_EQ(cache.compileHttp(base + "main.scxml", texts, &missing).document, a.document);
  // An include changed: compiled again. An include that cannot be had is an error at its place.
  fetched("lib/lib.js", "function f() { return 2; }");
  DocumentCache::Loaded b = cache.compileHttp(base + "main.scxml", texts, &missing);
  ASSERT_TRUE(b.document) << b.error;
  EXPECT_NE(b.document, a.document);
  texts.insert_or_assign(base + "flow.scxml", cache.storeHttpFile(base + "flow.scxml", 404, "", {}));
  DocumentCache::Loaded c = cache.compileHttp(base + "main.scxml", texts, &missing);
  EXPECT_FALSE(c.document);
  ASSERT_EQ(c.diagnostics.size(), 1u);
  EXPECT_EQ(c.diagnostics[0].file, base + "main.scxml");
  EXPECT_NE(c.diagnostics[0].message.find("HTTP status 404"), std::string::npos) << c.diagnostics[0].message;
}

TEST_F(DocumentsTest, EachHttpDocumentSeesAChangeToAFileItSharesWithOthers) {
  DocumentCache cache({dir_.string()}, {}, std::chrono::milliseconds(0));
  const std::string base = "http://docs.test/app/";
  std::string other = std::string(kMain).replace(std::string(kMain).find("initial=\"flow\""), 14, "initial=\"flow\" name=\"two\"");
  auto compile = [&](const std::string& main, const std::string& lib) {
    std::map<std::string, Result<std::string>> texts;
    for (const auto& [name, text] : {std::pair<std::string, std::string>{"lib/lib.js", lib}, {"flow.scxml", kFlow}})
      texts.insert_or_assign(base + name, cache.storeHttpFile(base + name, 200, text, {}));
    texts.insert_or_assign(base + main, cache.storeHttpFile(base + main, 200, main == "one.scxml" ? kMain : other, {}));
    std::vector<std::string> missing;
    return cache.compileHttp(base + main, texts, &missing).document;
  };
  auto one = compile("one.scxml", "var v = 1;"), two = compile("two.scxml", "var v = 1;");
  ASSERT_TRUE(one && two);
  // The shared library changes: the first document to revalidate gets it, and so does the
  // second, although the cache had the new text already when it asked.
  EXPECT_NE(compile("one.scxml", "var v = 2;"), one);
  EXPECT_NE(compile("two.scxml", "var v = 2;"), two);
}

TEST_F(DocumentsTest, AnHttpDocumentIncludesOnlyFromAllowedHosts) {
  DocumentCache cache({dir_.string()}, {"docs.test"});
  std::map<std::string, Result<std::string>> texts;
  std::string main = R"(<scxml xmlns="http://www.w3.org/2005/07/scxml" xmlns:xi="http://www.w3.org/2001/XInclude" version="1.0">
  <script><xi:include href="http://elsewhere.test/lib.js" parse="text"/></script>
</scxml>)";
  texts.insert_or_assign("http://docs.test/main.scxml", cache.storeHttpFile("http://docs.test/main.scxml", 200, main, {}));
  std::vector<std::string> missing;
  DocumentCache::Loaded r = cache.compileHttp("http://docs.test/main.scxml", texts, &missing);
  EXPECT_TRUE(missing.empty());
  EXPECT_FALSE(r.document);
  ASSERT_FALSE(r.diagnostics.empty());
  EXPECT_NE(r.diagnostics[0].message.find("not an allowed document host"), std::string::npos);
}

}  // namespace
}  // namespace ors::server
