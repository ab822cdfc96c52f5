// orsd pieces without a network: configuration, session ids, the worker of an id.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "common/ids.h"
#include "server/config.h"
#include "server/worker.h"

namespace ors {
namespace {

TEST(SessionIds, HaveTheContractShapeAndCarryTheNode) {
  std::set<std::string> seen;
  for (uint32_t node : {1u, 749u, 1576u, kMaxNodeId}) {
    for (int i = 0; i < 200; ++i) {
      std::string id = newSessionId(node);
      ASSERT_EQ(id.size(), 32u);
      EXPECT_TRUE(isSessionId(id)) << id;
      EXPECT_EQ(sessionIdNode(id), node);
      EXPECT_TRUE(seen.insert(id).second) << "duplicate " << id;
    }
  }
  EXPECT_FALSE(isSessionId("00FAVPM3BOBM3223H3CA9ATAES00000W"));  // W is not base-32hex
  EXPECT_FALSE(isSessionId("short"));
  EXPECT_TRUE(isSessionId("00FAVPM3BOBM3223H3CA9ATAES00000G"));  // the vendor's own example
}

TEST(Workers, IdsSpreadOverWorkers) {
  int counts[4] = {};
  for (int i = 0; i < 4000; ++i) ++counts[server::workerOf(newSessionId(1), 4)];
  for (int c : counts) EXPECT_GT(c, 800);  // ~1000 each
}

// Each key is refused, and the error shows how such an option is written.
void expectRefused(server::Config& c, std::initializer_list<const char*> keys, const std::string& form) {
  for (const char* bad : keys) {
    Status s = c.set(bad, "1");
    EXPECT_FALSE(s) << bad;
    EXPECT_NE(s.message().find(form), std::string::npos) << s.message();
  }
}

TEST(Config, ListsForTheVendorsGetListItemValue) {
  server::Config c;
  ASSERT_TRUE(c.set("list OPM/VIP/priority", "5"));
  ASSERT_TRUE(c.set("list OPM/VIP/skill", "gold"));
  ASSERT_TRUE(c.set("list Holidays/2026-12-25/name", "Christmas"));
  EXPECT_EQ(c.lists.at("OPM").at("VIP").at("skill"), "gold");
  EXPECT_EQ(c.lists.at("Holidays").at("2026-12-25").at("name"), "Christmas");
  expectRefused(c, {"list OPM/VIP", "list /VIP/x", "list OPM//x", "list OPM/VIP/"}, "[list NAME] ITEM/KEY = VALUE");
}

TEST(Config, AnnexesForTheVendorsGetConfigOption) {
  server::Config c;
  ASSERT_TRUE(c.set("annex strategy src-gen/IPD_x.scxml/routing/priority", "9"));
  ASSERT_TRUE(c.set("annex dn 7000/routing/priority", "7"));
  ASSERT_TRUE(c.set("annex tenant/routing/vq", "VQ_1"));
  EXPECT_EQ(c.annexes.at("strategy").at("src-gen/IPD_x.scxml").at("routing/priority"), "9");
  EXPECT_EQ(c.annexes.at("dn").at("7000").at("routing/priority"), "7");
  EXPECT_EQ(c.annexes.at("tenant").at("routing/vq"), "VQ_1");
  expectRefused(c, {"annex tenant/priority", "annex dn/routing/priority", "annex switch 1/routing/x",
                    "annex place 1/routing/x", "annex router/routing/", "annex router//x"},
                "section/option = value");
}

TEST(Config, SpecialDayTablesForTheVendorsIsSpecialDay) {
  server::Config c;
  ASSERT_TRUE(c.set("special-days Holidays/2026-12-25", ""));
  ASSERT_TRUE(c.set("special-days Holidays/01-01", ""));
  ASSERT_TRUE(c.set("special-days Hours/Saturday", "09:00-13:00"));
  EXPECT_EQ(c.specialDays.at("Holidays").at("01-01"), "");
  EXPECT_EQ(c.specialDays.at("Hours").at("Saturday"), "09:00-13:00");
  for (const char* bad : {"special-days Holidays", "special-days /01-01", "special-days H/2026-1-1", "special-days H/Someday"})
    EXPECT_FALSE(c.set(bad, "")) << bad;
  Status s = c.set("special-days Hours/Sunday", "9-13");
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("HH:MM-HH:MM"), std::string::npos) << s.message();
}

TEST(Config, DefaultsOptionsAndErrors) {
  server::Config c;
  EXPECT_EQ(c.port, 7210);
  EXPECT_EQ(c.nodeId, 1u);
  EXPECT_TRUE(c.set("http/port", "8080").isOk());
  EXPECT_EQ(c.port, 8080);
  EXPECT_TRUE(c.set("orchestration/document-roots", " /a , /b ,").isOk());
  EXPECT_EQ(c.documentRoots, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_FALSE(c.set("http/port", "70000").isOk());
  EXPECT_FALSE(c.set("orchestration/node-id", "0").isOk());
  EXPECT_FALSE(c.set("orchestration/cookie", "maybe").isOk());
  Status unknown = c.set("nosuch/option", "1");
  EXPECT_FALSE(unknown.isOk());
  EXPECT_NE(unknown.message().find("nosuch/option"), std::string::npos);

  char path[] = "/tmp/ors-config-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream f(path);
    f << "# comment\n[orchestration]  # a comment after a section\nnode-id = 749\nheartbeat-backup-status = 404\n"
         "tenant = Press # to go on\n\n[http]\nport = 9000\n";
  }
  server::Config d;
  ASSERT_TRUE(d.load(path).isOk());
  EXPECT_EQ(d.nodeId, 749u);
  EXPECT_EQ(d.tenant, "Press # to go on");  // a value is all of its text
  EXPECT_EQ(d.heartbeatBackupStatus, 404);
  EXPECT_EQ(d.port, 9000);
  {
    std::ofstream f(path);
    f << "[http]\nport = 9000\nbogus\n";
  }
  Status bad = d.load(path);
  EXPECT_FALSE(bad.isOk());
  EXPECT_NE(bad.message().find(std::string(path) + ":3:"), std::string::npos) << bad.message();
  std::remove(path);
}

}  // namespace
}  // namespace ors
