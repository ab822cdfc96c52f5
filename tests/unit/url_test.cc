// Request-target and form decoding.
#include <gtest/gtest.h>

#include "http/url.h"

namespace ors::http {
namespace {

TEST(Url, SplitsAndDecodesTargets) {
  std::vector<std::string> seg;
  std::string_view q;
  ASSERT_TRUE(parseTarget("/scxml/session/A%2FB/event/call.ringing?x=1&y=%41", &seg, &q));
  EXPECT_EQ(seg, (std::vector<std::string>{"scxml", "session", "A/B", "event", "call.ringing"}));
  EXPECT_EQ(q, "x=1&y=%41");
  ASSERT_TRUE(parseTarget("/heartbeat", &seg, &q));
  EXPECT_EQ(seg, std::vector<std::string>{"heartbeat"});
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(parseTarget("/bad%zz", &seg, &q));
  EXPECT_FALSE(parseTarget("/bad%4", &seg, &q));
  EXPECT_FALSE(parseTarget("http://host/x", &seg, &q));
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
