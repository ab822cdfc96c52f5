// The call feed and its service: rendezvous assignment, the SQLite feed (the Redis one runs in the
// `calls` integration test), and calls::Service's decisions driven through a real feed with hooks
// that record what it asks of the node.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "calls/assign.h"
#include "calls/feed.h"
#include "calls/service.h"

namespace ors::calls {
namespace {

TEST(CallAssign, SpreadsUniformlyAndMovesOnlyTheLeaversCalls) {
  std::map<uint32_t, int> count;
  std::map<std::string, uint32_t> first;
  for (int i = 0; i < 30000; ++i) {
    std::string call = "call-" + std::to_string(i);
    uint32_t n = rankNodes(call, {1, 2, 3})[0];
    ++count[n];
    first[call] = n;
  }
  for (uint32_t n : {1u, 2u, 3u}) EXPECT_NEAR(count[n], 10000, 350) << n;  // 3.5 sigma
  // Node 2 leaves: its calls go to their second choice, the others stay where they were.
  for (const auto& [call, n] : first) {
    std::vector<uint32_t> without = rankNodes(call, {1, 3});
    if (n != 2) EXPECT_EQ(without[0], n) << call;
    else EXPECT_EQ(without[0], rankNodes(call, {1, 2, 3})[1]) << call;
  }
  // Every node computes the same order whatever order it lists the nodes in.
  EXPECT_EQ(rankNodes("x", {3, 1, 2}), rankNodes("x", {1, 2, 3}));
}

TEST(InteractionAdded, DescribesACallOrAnInteractionAsTheVendorsModelDoes) {
  CallStart call;
  call.call = "C1";
  call.data = {{"call", {{"call", "C1"}, {"event", "call.ringing"}, {"dn", "7001"},
                         {"data", {{"ani", "555"}, {"userdata", {{"k", "v"}}}}}}}};
  boost::json::object a = interactionAdded(call);
  EXPECT_EQ(a.at("interactionid"), "C1");
  EXPECT_EQ(a.at("focusdeviceid"), "7001");
  const auto& ixn = a.at("interaction").as_object();
  EXPECT_EQ(ixn.at("voice").at("ani"), "555");
  EXPECT_EQ(ixn.at("voice").at("dnis"), "7001");  // the DN when the event names none
  EXPECT_EQ(ixn.at("udata").at("k"), "v");
  CallStart mail;
  mail.call = "ixn:1-0";
  mail.data = {{"interaction", {{"id", "1-0"}, {"media", "email"}, {"queue", "inbound"}}}};
  boost::json::object b = interactionAdded(mail);
  EXPECT_EQ(b.at("interactionid"), "1-0");
  EXPECT_EQ(b.at("interaction").at("msgbased").at("media"), "email");
  EXPECT_EQ(b.at("interaction").at("msgbased").at("queue"), "inbound");
  EXPECT_TRUE(interactionAdded(CallStart{}).empty());
}

TEST(FeedIdTest, ParsesAndOrders) {
  EXPECT_EQ(FeedId::parse("1700000000000-7")->str(), "1700000000000-7");
  EXPECT_FALSE(FeedId::parse("17"));
  EXPECT_FALSE(FeedId::parse("1-x"));
  EXPECT_FALSE(FeedId::parse("-1"));
  EXPECT_LT(*FeedId::parse("5-9"), *FeedId::parse("6-0"));
  EXPECT_LT(*FeedId::parse("5-9"), *FeedId::parse("5-10"));
}

class FeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ors-calls-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Feed> open() {
    auto f = openSqliteFeed((dir_ / "calls.db").string());
    EXPECT_TRUE(f) << f.status().message();
    return f ? std::move(*f) : nullptr;
  }
  std::filesystem::path dir_;
};

boost::json::object event(const std::string& call, const std::string& name, const std::string& dn = "7001") {
  return boost::json::object{{"call", call}, {"event", name}, {"dn", dn}};
}

TEST_F(FeedTest, SqliteFeedAppendsReadsClaimsOnceAndKeepsCursors) {
  auto a = open(), b = open();  // two nodes' handles on one file
  auto ids = a->append({event("c1", "call.ringing"), event("c2", "call.ringing")});
  ASSERT_TRUE(ids);
  ASSERT_EQ(ids->size(), 2u);
  auto read = b->read(FeedId{}, 10);
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[1].body.at("call").as_string(), "c2");
  EXPECT_EQ(b->read((*read)[0].id, 10)->size(), 1u);
  EXPECT_EQ(*b->last(), (*ids)[1]);
  // Whoever claims first holds the call; the other learns who.
  EXPECT_EQ(*a->claim("c1", "1|s1"), "1|s1");
  EXPECT_EQ(*b->claim("c1", "2|s2"), "1|s1");
  EXPECT_EQ(**b->claimOf("c1"), "1|s1");
  EXPECT_FALSE(*b->claimOf("c2"));
  EXPECT_TRUE(a->saveCursor(1, (*ids)[0]));
  EXPECT_EQ(*b->cursor(1), (*ids)[0]);
  EXPECT_EQ(*b->cursor(2), FeedId{});
  ASSERT_TRUE(a->reply({boost::json::object{{"action", "route"}, {"call", "c1"}}}));
  EXPECT_EQ(b->replies(FeedId{}, 10)->size(), 1u);
  EXPECT_EQ(*b->lastReply(), (*b->replies(FeedId{}, 10))[0].id);
}

TEST_F(FeedTest, InteractionsAreTakenOnceHeldUntilFinishedAndFoundAgainByTheirNode) {
  auto a = open(), b = open();
  std::vector<boost::json::object> five;
  for (int i = 0; i < 5; ++i) five.push_back(boost::json::object{{"media", "email"}, {"n", i}});
  auto ids = a->submit(five);
  ASSERT_TRUE(ids);
  ASSERT_EQ(ids->size(), 5u);
  auto took1 = a->take(1, 3);
  auto took2 = b->take(2, 10);
  ASSERT_TRUE(took1 && took2);
  EXPECT_EQ(took1->size(), 3u);  // its room
  EXPECT_EQ(took2->size(), 2u);  // the rest, nothing twice
  EXPECT_EQ((*took1)[0].body.at("n").as_int64(), 0);
  EXPECT_TRUE(b->take(2, 10)->empty());
  ASSERT_TRUE(a->finish((*took1)[0].id));
  auto held = b->held(1, 10);  // another instance of node 1 finds what node 1 still holds
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 2u);
  EXPECT_EQ((*held)[0].id, (*took1)[1].id);
  EXPECT_TRUE(a->renew(1));
}

// What a node's service asked of it.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<CallStart> starts;
  std::vector<std::pair<std::string, std::string>> delivered;  // (session, event)
  void add(CallStart s) {
    std::lock_guard<std::mutex> lk(mu);
    starts.push_back(std::move(s));
    cv.notify_all();
  }
  void add(const std::string& session, const Entry& e) {
    std::lock_guard<std::mutex> lk(mu);
    delivered.emplace_back(session, std::string(e.body.at("event").as_string()));
    cv.notify_all();
  }
  bool waitFor(const std::function<bool()>& cond) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(10), cond);
  }
};

std::unique_ptr<Service> node(std::unique_ptr<Feed> feed, uint32_t id, std::vector<uint32_t> live, Recorder& rec,
                              std::chrono::milliseconds watching = std::chrono::milliseconds(1000), bool takesNew = true) {
  Service::Options o;
  o.node = id;
  o.takesNew = takesNew;
  o.routingPoints = {{"7001", "route.scxml"}};
  o.watchingTimeout = watching;
  o.poll = std::chrono::milliseconds(2);
  Service::Hooks h;
  h.liveNodes = [live] { return live; };
  h.start = [&rec](CallStart s, Service::Done done) {
    rec.add(std::move(s));
    done(true);
  };
  h.deliver = [&rec](const std::string& session, const Entry& e, Service::Done done) {
    rec.add(session, e);
    done(true);
  };
  auto s = std::make_unique<Service>(std::move(feed), o, h);
  s->startReading();
  return s;
}

// Polls `cond` until it holds (true) or 10 s pass (false).
bool waitUntil(const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// A call ranked first for `want` among {1, 2, 3}.
std::string callFor(uint32_t want, const std::string& tag) {
  for (int i = 0;; ++i) {
    std::string c = tag + std::to_string(i);
    if (rankNodes(c, {1, 2, 3})[0] == want) return c;
  }
}

TEST_F(FeedTest, TheAssignedNodeStartsTheCallOthersLeaveIt) {
  Recorder r1, r2;
  auto n1 = node(open(), 1, {1, 2, 3}, r1);
  auto n2 = node(open(), 2, {1, 2, 3}, r2);
  std::string c = callFor(2, "a");
  auto feed = open();
  ASSERT_TRUE(feed->append({event(c, "call.ringing"), event(c, "call.routerequest"), event("other", "x", "9999")}));
  ASSERT_TRUE(r2.waitFor([&] { return r2.starts.size() == 1; }));
  EXPECT_EQ(r2.starts[0].call, c);
  EXPECT_EQ(r2.starts[0].src, "route.scxml");
  EXPECT_EQ(r2.starts[0].data.at("call").at("event").as_string(), "call.ringing");
  EXPECT_EQ(r2.starts[0].events.size(), 1u);  // the first event; the next one is delivered
  ASSERT_TRUE(r2.waitFor([&] { return r2.delivered.size() == 1; }));
  EXPECT_EQ(r2.delivered[0], std::make_pair(r2.starts[0].sessionId, std::string("call.routerequest")));
  EXPECT_EQ(r2.starts[0].sessionId.substr(0, 4), "0002");
  // Node 1 watches it until its turn (a watching timeout or two), finds the claim, and leaves it:
  // its saved position passes the call's events only once it has let them go.
  auto done = feed->append({event(c, "route.done")});
  ASSERT_TRUE(done);
  ASSERT_TRUE(r2.waitFor([&] { return r2.delivered.size() == 2; }));
  EXPECT_TRUE(waitUntil([&] { return *feed->cursor(1) >= (*done)[0]; }));
  std::lock_guard<std::mutex> lk(r1.mu);
  EXPECT_TRUE(r1.starts.empty());
  EXPECT_EQ(n1->callsStarted(), 0u);
  EXPECT_EQ(n2->callsStarted(), 1u);
}

TEST_F(FeedTest, TheNextInRankTakesACallItsAssignedNodeLeft) {
  Recorder r1;
  auto n1 = node(open(), 1, {1, 2, 3}, r1);  // node 3 never runs
  std::string c = callFor(3, "b");
  std::vector<uint32_t> rank = rankNodes(c, {1, 2, 3});
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(open()->append({event(c, "call.ringing"), event(c, "call.routerequest")}));
  ASSERT_TRUE(r1.waitFor([&] { return r1.starts.size() == 1; }));
  auto waited = std::chrono::steady_clock::now() - t0;
  // Node 1 is second or third in rank: one or two watching timeouts.
  size_t pos = static_cast<size_t>(std::find(rank.begin(), rank.end(), 1u) - rank.begin());
  EXPECT_GE(waited, std::chrono::milliseconds(1000 * pos - 50));
  EXPECT_EQ(r1.starts[0].events.size(), 2u);  // both events it held
}

TEST_F(FeedTest, AnotherInstanceOfTheNodeGoesOnFromTheSavedPositionWithoutRepeats) {
  std::string c = callFor(1, "c");
  std::string sid;
  {
    Recorder r;
    auto n = node(open(), 1, {1, 2, 3}, r);
    ASSERT_TRUE(open()->append({event(c, "call.ringing")}));
    ASSERT_TRUE(r.waitFor([&] { return r.starts.size() == 1; }));
    sid = r.starts[0].sessionId;
    n->stop();  // its position saved
  }
  auto feed = open();
  auto later = feed->append({event(c, "call.established", "agent-1")});  // at a DN that is no routing point
  ASSERT_TRUE(later);
  Recorder r;
  auto n = node(open(), 1, {1, 2, 3}, r);
  ASSERT_TRUE(r.waitFor([&] { return !r.delivered.empty() || !r.starts.empty(); }));
  EXPECT_TRUE(waitUntil([&] { return *feed->cursor(1) >= (*later)[0]; }));  // all read and let go
  std::lock_guard<std::mutex> lk(r.mu);
  // The new instance learns from the claim that the call is its node's, and delivers only what
  // came after the saved position.
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].sessionId, sid);
  ASSERT_EQ(r.starts[0].events.size(), 1u);
  EXPECT_EQ(r.starts[0].events[0].body.at("event").as_string(), "call.established");
}

TEST_F(FeedTest, AnAdoptedNodeGoesOnWithItsCallsAndTakesNoNewOnes) {
  std::string c = callFor(3, "e"), fresh = callFor(3, "f");
  auto feed = open();
  std::string sid;
  {
    Recorder r;
    auto n = node(open(), 3, {1, 2, 3}, r);
    ASSERT_TRUE(feed->append({event(c, "call.ringing")}));
    ASSERT_TRUE(r.waitFor([&] { return r.starts.size() == 1; }));
    sid = r.starts[0].sessionId;
    n->stop();  // both instances of node 3 gone; its claim and saved position stay
  }
  ASSERT_TRUE(feed->append({event(c, "call.routerequest"), event(fresh, "call.ringing")}));
  // Another node's instance runs node 3 adopted: the claimed call goes on (its session started
  // with the claimed id and the routing point's strategy, if it was not stored), a new call
  // ranked first for node 3 is left to the live nodes.
  Recorder r;
  auto adopted = node(open(), 3, {1, 2}, r, std::chrono::milliseconds(1000), /*takesNew=*/false);
  auto last = feed->append({event("other", "x", "9999")});
  ASSERT_TRUE(last);
  EXPECT_TRUE(waitUntil([&] { return *feed->cursor(3) >= (*last)[0]; }));
  std::lock_guard<std::mutex> lk(r.mu);
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].sessionId, sid);
  EXPECT_EQ(r.starts[0].src, "route.scxml");
  EXPECT_EQ(r.starts[0].events.size(), 1u);  // call.routerequest, after the saved position
  EXPECT_EQ(adopted->callsStarted(), 0u);
  auto claim = feed->claimOf(fresh);
  ASSERT_TRUE(claim);
  EXPECT_FALSE(*claim);  // nobody here claimed it
}

TEST_F(FeedTest, ACallWhoseSessionEndedStartsNothingMore) {
  std::string c = callFor(1, "d");
  Recorder r;
  auto n = node(open(), 1, {1, 2, 3}, r);
  auto feed = open();
  ASSERT_TRUE(feed->append({event(c, "call.ringing")}));
  ASSERT_TRUE(r.waitFor([&] { return r.starts.size() == 1; }));
  n->ended(c, r.starts[0].sessionId);
  EXPECT_TRUE(waitUntil([&] {
    auto claim = feed->claimOf(c);
    return claim && *claim && **claim == "1|" + r.starts[0].sessionId + "|ended";
  }));
  // Another event at the routing point, then a restart of the node (which asks the claims of
  // what it replays): neither starts the strategy again.
  auto late = feed->append({event(c, "call.ringing")});
  ASSERT_TRUE(late);
  EXPECT_TRUE(waitUntil([&] { return *feed->cursor(1) >= (*late)[0] || n->callsStarted() > 1; }));
  n->stop();
  Recorder again;
  auto m = node(open(), 1, {1, 2, 3}, again);
  auto last = feed->append({event("other", "x", "9999")});
  EXPECT_TRUE(waitUntil([&] { return *feed->cursor(1) >= (*last)[0]; }));
  std::lock_guard<std::mutex> lk(r.mu), lk2(again.mu);
  EXPECT_EQ(r.starts.size(), 1u);
  EXPECT_TRUE(again.starts.empty());
  EXPECT_TRUE(r.delivered.empty());
}

}  // namespace
}  // namespace ors::calls
