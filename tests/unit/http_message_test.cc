// HTTP/1.x messages. The request parser: heads, bodies by Content-Length and chunked, requests
// arriving a byte at a time and pipelined, and the answer to each kind of broken or oversized
// request. Responses: fields, and the wire form for each version and connection fate.
#include <gtest/gtest.h>

#include <optional>
#include <random>

#include "http/request.h"
#include "http/response.h"

namespace ors::http {
namespace {

namespace bh = boost::beast::http;
using Status = RequestParser::Status;

struct Outcome {
  Status status = Status::kNeedMore;
  std::optional<Request> request;
  unsigned errorStatus = 0;
  std::string error;
  std::string left;  // bytes after the request (the next one's)
};

// Feeds `text` to a parser in pieces of `step` bytes (0: all at once), as a connection's buffer
// does: the unconsumed bytes stay and new ones are appended.
Outcome parse(std::string_view text, size_t step = 0, size_t headerLimit = 1024, size_t bodyLimit = 256) {
  RequestParser parser(headerLimit, bodyLimit);
  Outcome out;
  std::string buffer;
  size_t fed = 0;
  for (;;) {
    size_t n = step == 0 ? text.size() : std::min(step, text.size() - fed);
    buffer.append(text.substr(fed, n));
    fed += n;
    size_t used = parser.put(buffer, &out.status);
    EXPECT_LE(used, buffer.size());
    buffer.erase(0, used);
    if (out.status != Status::kNeedMore || fed == text.size()) break;
  }
  if (out.status == Status::kDone) out.request = parser.release();
  out.errorStatus = parser.errorStatus();
  out.error = parser.errorMessage();
  out.left = buffer + std::string(text.substr(fed));  // with what was not fed yet
  return out;
}

TEST(HttpRequestParser, ReadsTheRequestLineAndFields) {
  Outcome o = parse("GET /scxml/session/x/query?a=1 HTTP/1.1\r\nHost: h\r\nX-Thing:  spaced value \t\r\n\r\n");
  ASSERT_EQ(o.status, Status::kDone);
  const Request& r = *o.request;
  EXPECT_EQ(r.method(), bh::verb::get);
  EXPECT_EQ(r.methodString(), "GET");
  EXPECT_EQ(r.target(), "/scxml/session/x/query?a=1");
  EXPECT_EQ(r.version(), 11u);
  EXPECT_EQ(r.header("host"), "h");
  EXPECT_EQ(r.header("x-THING"), "spaced value");
  EXPECT_EQ(r.header("absent"), "");
  EXPECT_TRUE(r.body().empty());
  EXPECT_TRUE(r.keepAlive());
}

TEST(HttpRequestParser, KeepsAnUnknownMethodByName) {
  Outcome o = parse("BREW /pot HTTP/1.1\r\n\r\n");
  ASSERT_EQ(o.status, Status::kDone);
  EXPECT_EQ(o.request->method(), bh::verb::unknown);
  EXPECT_EQ(o.request->methodString(), "BREW");
}

TEST(HttpRequestParser, KeepAliveFollowsTheVersionAndConnectionField) {
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").request->keepAlive());
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n").request->keepAlive());
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").request->keepAlive());
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").request->keepAlive());
  EXPECT_EQ(parse("GET / HTTP/1.0\r\n\r\n").request->version(), 10u);
}

TEST(HttpRequestParser, SkipsEmptyLinesBeforeTheRequest) {
  Outcome o = parse("\r\n\r\nPOST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_EQ(o.status, Status::kDone);
  EXPECT_EQ(o.request->target(), "/a");
  EXPECT_EQ(o.request->body(), "abc");
  // A CR alone (the start of a CR LF after the last request) is not the start of a request.
  RequestParser parser(1024, 256);
  Status status;
  EXPECT_EQ(parser.put("\r", &status), 0u);
  EXPECT_EQ(status, Status::kNeedMore);
  EXPECT_FALSE(parser.gotSome());
}

TEST(HttpRequestParser, RefusesLinesEndingInABareLineFeed) {
  // What a proxy in front may read as one field with an LF in its value is not two fields here.
  for (const char* text : {"GET / HTTP/1.1\nHost: h\r\n\r\n", "GET / HTTP/1.1\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n",
                           "GET / HTTP/1.1\r\n\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n",
                           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n",
                           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: v\n\r\n"}) {
    Outcome o = parse(text);
    EXPECT_EQ(o.errorStatus, 400u) << text;
  }
}

const char kChunked[] =
    "POST /scxml/session/start HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
    "4;name=value\r\nsrc=\r\n"
    "A\r\n0123456789\r\n"
    "0\r\nX-Trailer: t\r\n\r\n";

TEST(HttpRequestParser, DecodesAChunkedBody) {
  Outcome o = parse(kChunked);
  ASSERT_EQ(o.status, Status::kDone) << o.error;
  EXPECT_EQ(o.request->body(), "src=0123456789");
  EXPECT_EQ(o.request->header("content-type"), "text/plain");
  // Written out again (SCXML's _event.raw), the decoded body is framed by its length.
  EXPECT_EQ(o.request->raw(),
            "POST /scxml/session/start HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nsrc=0123456789");
}

TEST(HttpRequestParser, GivesTheSameRequestWhateverPiecesItArrivesIn) {
  const std::string withLength = "POST /e HTTP/1.1\r\nContent-Length: 10\r\nA: b\r\n\r\n0123456789";
  for (const std::string& text : {withLength, std::string(kChunked)}) {
    Outcome whole = parse(text);
    ASSERT_EQ(whole.status, Status::kDone);
    for (size_t step = 1; step < 8; ++step) {
      Outcome o = parse(text, step);
      ASSERT_EQ(o.status, Status::kDone) << "step " << step << ": " << o.error;
      EXPECT_EQ(o.request->body(), whole.request->body());
      EXPECT_EQ(o.request->target(), whole.request->target());
      EXPECT_TRUE(o.left.empty());
    }
  }
}

// Requests with random bytes changed, dropped or repeated: however the bytes arrive, the parser
// comes to the same verdict, request or error, and never reads past what it was given (the
// sanitizer builds check that).
TEST(HttpRequestParser, ComesToTheSameVerdictWhateverPiecesBrokenRequestsArriveIn) {
  const std::string seeds[] = {
      "POST /e HTTP/1.1\r\nContent-Length: 10\r\nA: b\r\n\r\n0123456789",
      kChunked,
      "GET /x?y=1 HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;e=f\r\nab\r\n0\r\nT: 1\r\nU: 2\r\n\r\nGET / HTTP/1.1\r\n\r\n",
  };
  const char alphabet[] = "\r\n :;0aF\t\x01\xff-";
  std::mt19937 random(7);
  for (int round = 0; round < 2000; ++round) {
    std::string text = seeds[round % std::size(seeds)];
    for (int edits = 1 + static_cast<int>(random() % 3); edits > 0; --edits) {
      size_t at = random() % text.size();
      switch (random() % 3) {
        case 0: text[at] = alphabet[random() % (sizeof alphabet - 1)]; break;
        case 1: text.erase(at, 1 + random() % 4); break;
        default: text.insert(at, text.substr(at, 1 + random() % 6)); break;
      }
      if (text.empty()) text = "\r";
    }
    Outcome whole = parse(text, 0, 64, 32);
    for (size_t step : {1, 2, 5}) {
      Outcome o = parse(text, step, 64, 32);
      ASSERT_EQ(o.status, whole.status) << "step " << step << ": " << text;
      EXPECT_EQ(o.errorStatus, whole.errorStatus) << text;
      if (o.status != Status::kDone) continue;
      EXPECT_EQ(o.request->body(), whole.request->body()) << text;
      EXPECT_EQ(o.request->target(), whole.request->target()) << text;
      EXPECT_EQ(o.left, whole.left) << text;
    }
  }
}

TEST(HttpRequestParser, StopsAtTheEndOfARequestWhenAnotherFollows) {
  Outcome o = parse("POST /1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET /2 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(o.status, Status::kDone);
  EXPECT_EQ(o.request->body(), "ab");
  EXPECT_EQ(o.left, "GET /2 HTTP/1.1\r\n\r\n");
  Outcome chunked = parse("POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(chunked.status, Status::kDone);
  EXPECT_EQ(chunked.left, "GET /2 HTTP/1.1\r\n\r\n");
}

TEST(HttpRequestParser, WaitsForTheRestOfAnIncompleteRequest) {
  for (const char* text : {"GET / HTTP/1.1\r\nHost: x\r\n", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
                           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "GET / HTTP/1.1\r\n\r"}) {
    RequestParser parser(1024, 256);
    Status status;
    parser.put(text, &status);
    EXPECT_EQ(status, Status::kNeedMore) << text;
    EXPECT_TRUE(parser.gotSome());
  }
}

TEST(HttpRequestParser, SaysWhenTheClientWaitsForContinue) {
  RequestParser parser(1024, 256);
  Status status;
  std::string buffer = "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
  buffer.erase(0, parser.put(buffer, &status));
  EXPECT_EQ(status, Status::kNeedMore);
  EXPECT_TRUE(parser.expectsContinue());
  buffer += "a";
  buffer.erase(0, parser.put(buffer, &status));
  EXPECT_FALSE(parser.expectsContinue());

  RequestParser http10(1024, 256);
  http10.put("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", &status);
  EXPECT_FALSE(http10.expectsContinue());
  RequestParser noBody(1024, 256);
  noBody.put("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", &status);
  EXPECT_EQ(status, Status::kDone);
  EXPECT_FALSE(noBody.expectsContinue());
}

TEST(HttpRequestParser, RefusesMalformedRequestsWith400) {
  const char* cases[] = {
      "GET /\r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1 \r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET /a\x01 HTTP/1.1\r\n\r\n",
      "GET / HTTX/1.1\r\n\r\n",
      "GET / HTTP/1.x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
      "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
      "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\x01" "c\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
  };
  for (const char* text : cases) {
    Outcome o = parse(text);
    EXPECT_EQ(o.status, Status::kError) << text;
    EXPECT_EQ(o.errorStatus, 400u) << text;
    EXPECT_NE(o.error.find("malformed HTTP request"), std::string::npos) << o.error;
  }
  // Identical Content-Length fields, or a list of one value repeated, are one length.
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na").status, Status::kDone);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab").request->body(), "ab");
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 2, 3\r\n\r\nab").errorStatus, 400u);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: ,\r\n\r\nab").errorStatus, 400u);
}

TEST(HttpRequestParser, AnswersWhatItCannotServeWithItsOwnStatus) {
  EXPECT_EQ(parse("GET / HTTP/2.0\r\n\r\n").errorStatus, 505u);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").errorStatus, 501u);
}

TEST(HttpRequestParser, EnforcesTheHeaderLimit) {
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n";
  Outcome whole = parse(big);
  EXPECT_EQ(whole.errorStatus, 431u);
  EXPECT_NE(whole.error.find("1024"), std::string::npos);
  // Also while the head is still arriving, and for a head that never ends a line.
  EXPECT_EQ(parse(big.substr(0, 1500), 100).errorStatus, 431u);
  EXPECT_EQ(parse(std::string(1500, 'G')).errorStatus, 431u);
  std::string trailers = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + std::string(2000, 'a') + "\r\n\r\n";
  EXPECT_EQ(parse(trailers).errorStatus, 431u);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: " + std::string(900, 'a') + "\r\n\r\n").status, Status::kDone);
}

TEST(HttpRequestParser, EnforcesTheBodyLimitBeforeReadingTheBody) {
  Outcome o = parse("POST / HTTP/1.1\r\nContent-Length: 257\r\n\r\n");
  EXPECT_EQ(o.errorStatus, 413u);
  EXPECT_NE(o.error.find("256"), std::string::npos);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999\r\n\r\n").errorStatus, 413u);
  std::string chunks = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n" + std::string(128, 'a') + "\r\n81\r\n";
  EXPECT_EQ(parse(chunks).errorStatus, 413u);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 256\r\n\r\n" + std::string(256, 'a')).status, Status::kDone);
}

TEST(HttpRequestParser, BuildsARequestByHand) {
  Request r(bh::verb::post, "/x?y=1");
  r.addHeader("Content-Type", "application/json");
  r.body() = "{}";
  EXPECT_EQ(r.methodString(), "POST");
  EXPECT_EQ(r.target(), "/x?y=1");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_TRUE(r.keepAlive());
}

TEST(HttpResponse, SetsFieldsByNameWithoutCase) {
  Response r(bh::status::created);
  r.set(bh::field::content_type, "text/plain");
  r.set("X-One", "1");
  r.set("content-type", "application/json");
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.header("x-one"), "1");
  EXPECT_EQ(r.header("absent"), "");
  EXPECT_EQ(r.code(), 201u);
  // A value cannot smuggle in a field of its own.
  r.set("Location", "/a\r\nSet-Cookie: x=1");
  EXPECT_EQ(r.header("set-cookie"), "");
}

TEST(HttpResponse, WritesTheWireFormForEachVersionAndConnectionFate) {
  Response r(bh::status::not_found);
  r.set(bh::field::content_type, "application/json");
  r.body() = "{}";
  std::string out;
  r.writeTo(out, 11, true);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  out.clear();
  r.writeTo(out, 11, false);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}");
  out.clear();
  r.writeTo(out, 10, true);
  EXPECT_EQ(out, "HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}");
  out.clear();
  Response(bh::status::ok).writeTo(out, 10, false);
  EXPECT_EQ(out, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
}

TEST(HttpResponse, LeavesOutTheBodyWhereHttpHasNone) {
  Response r(bh::status::ok);
  r.body() = "OK\n";
  std::string out;
  r.writeTo(out, 11, true, /*headRequest=*/true);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
  Response noContent(bh::status::no_content);
  noContent.body() = "ignored";
  out.clear();
  noContent.writeTo(out, 11, true);
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");
  Response notModified(bh::status::not_modified);
  notModified.body() = "ignored";
  out.clear();
  notModified.writeTo(out, 11, true);
  EXPECT_EQ(out, "HTTP/1.1 304 Not Modified\r\n\r\n");
}

}  // namespace
}  // namespace ors::http
