// Request-target and form decoding.
#include <gtest/gtest.h>

#include "http/url.h"

namespace ors::http {
namespace {

std::vector<std::string> segments(const Target& t) { return {t.segments.begin(), t.segments.end()}; }

TEST(Url, SplitsAndDecodesTargets) {
  Target t;
  ASSERT_TRUE(parseTarget("/scxml/session/A%2FB/event/call%2Eringing/%41%42%43%44%45%46%47%48%49%4a%4b%4c?x=1&y=%41", &t));
  EXPECT_EQ(segments(t), (std::vector<std::string>{"scxml", "session", "A/B", "event", "call.ringing", "ABCDEFGHIJKL"}));
  EXPECT_EQ(t.query, "x=1&y=%41");
  ASSERT_TRUE(parseTarget("/heartbeat", &t));
  EXPECT_EQ(segments(t), std::vector<std::string>{"heartbeat"});
  EXPECT_TRUE(t.query.empty());
  ASSERT_TRUE(parseTarget("/a/%62/", &t));
  EXPECT_EQ(segments(t), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(parseTarget("/bad%zz", &t));
  EXPECT_FALSE(parseTarget("/bad%4", &t));
  EXPECT_FALSE(parseTarget("http://host/x", &t));
}

TEST(Url, DecodesFormsWithinTheirBounds) {
  // The value ends where the view ends, whatever follows in memory (Boost.URL 1.81's parse_query
  // read past it).
  std::string buffer = "vip=yes HTTP/1.1\r\nGARBAGE";
  boost::json::object out;
  ASSERT_TRUE(parseForm(std::string_view(buffer.data(), 7), out));
  EXPECT_EQ(out["vip"], "yes");
  out.clear();
  ASSERT_TRUE(parseForm("a=1+2&b=%26%3D&flag&=skipped&&c=", out));
  EXPECT_EQ(out["a"], "1 2");
  EXPECT_EQ(out["b"], "&=");
  EXPECT_EQ(out["flag"], "");
  EXPECT_EQ(out["c"], "");
  EXPECT_EQ(out.size(), 4u);
  EXPECT_FALSE(parseForm("a=%", out));
  EXPECT_FALSE(parseForm("a=%g0", out));
}

}  // namespace
}  // namespace ors::http
