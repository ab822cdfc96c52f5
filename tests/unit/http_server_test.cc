// The HTTP server's connections, over real loopback sockets: keep-alive, pipelining, the idle
// timeout (and that a request being served is not idle), answers to broken requests, and what
// happens to a request whose Reply is dropped.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "http/server.h"

namespace ors::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// A server on its own thread whose handler echoes the target at once (from inside the handler),
// answers "/slow" after `slow`, and drops the Reply of "/drop". `depth_` counts handler calls on
// the stack: a handler entered from inside another one's Reply is a nested call.
class ServerTest : public ::testing::Test {
 protected:
  void startServer(ServerOptions options = {}, std::chrono::milliseconds slow = 0ms) {
    options.address = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<Server>(ioc_, options, [this, slow](Request&& req, Reply reply) {
      if (depth_++ > 0) nested_ = true;
      Response res{beast_http::status::ok};
      res.body() = std::string(req.target()) + (req.body().empty() ? "" : " " + req.body());
      if (req.target() == "/slow") {
        auto timer = std::make_shared<net::steady_timer>(ioc_, slow);
        timer->async_wait([timer, reply, res](boost::system::error_code) mutable { reply(std::move(res)); });
      } else if (req.target() != "/drop") {
        reply(std::move(res));
      }
      --depth_;
    });
    ASSERT_EQ(server_->start(), "");
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  tcp::socket connect() {
    tcp::socket s(client_);
    s.connect({net::ip::make_address("127.0.0.1"), server_->port()});
    return s;
  }
  static void send(tcp::socket& s, const std::string& text) { net::write(s, net::buffer(text)); }
  // One response: its status line and body (Content-Length framed).
  static std::pair<std::string, std::string> receive(tcp::socket& s, std::string& buf) {
    size_t end = net::read_until(s, net::dynamic_buffer(buf), "\r\n\r\n");
    std::string head = buf.substr(0, end);
    buf.erase(0, end);
    size_t cl = head.find("Content-Length: ");
    size_t length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
    if (buf.size() < length) net::read(s, net::dynamic_buffer(buf), net::transfer_exactly(length - buf.size()));
    std::string body = buf.substr(0, length);
    buf.erase(0, length);
    return {head.substr(0, head.find("\r\n")), body};
  }
  // Whether the server closes the connection within `deadline` (reads until EOF; looks at least
  // once).
  static bool closedWithin(tcp::socket& s, std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    s.non_blocking(true);
    char c;
    do {
      boost::system::error_code ec;
      s.read_some(net::buffer(&c, 1), ec);
      if (ec && ec != net::error::would_block) return true;  // EOF, reset or another end
      std::this_thread::sleep_for(5ms);
    } while (std::chrono::steady_clock::now() < until);
    return false;
  }

  // Connections on the io_context itself, as orsd places them on its workers' (the default is a
  // strand): an answer given on that thread is written at once.
  ServerOptions onIoContext() {
    ServerOptions o;
    o.connectionExecutor = [this] { return net::any_io_executor(ioc_.get_executor()); };
    return o;
  }

  net::io_context ioc_;
  net::io_context client_;
  int depth_ = 0;        // the server thread's only
  bool nested_ = false;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

TEST_F(ServerTest, AnswersRequestsOneAfterAnotherOnOneConnection) {
  startServer();
  tcp::socket s = connect();
  std::string buf;
  for (int i = 0; i < 3; ++i) {
    send(s, "POST /x" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab");
    auto [status, body] = receive(s, buf);
    EXPECT_EQ(status, "HTTP/1.1 200 OK");
    EXPECT_EQ(body, "/x" + std::to_string(i) + " ab");
  }
}

TEST_F(ServerTest, AnswersPipelinedRequestsInOrderEachFromTheEventLoop) {
  for (ServerOptions o : {ServerOptions{}, onIoContext()}) {
    TearDown();
    ioc_.restart();
    startServer(o);
    tcp::socket s = connect();
    send(s, "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nzGET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    std::string buf;
    EXPECT_EQ(receive(s, buf).second, "/a");
    EXPECT_EQ(receive(s, buf).second, "/b z");
    EXPECT_EQ(receive(s, buf).second, "/c");
  }
  // The next request's handler never ran inside the Reply that answered the one before it.
  EXPECT_FALSE(nested_);
}

TEST_F(ServerTest, SaysContinueToAClientWaitingToSendTheBody) {
  startServer(onIoContext());
  tcp::socket s = connect();
  std::string buf;
  send(s, "POST /big HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(receive(s, buf).first, "HTTP/1.1 100 Continue");
  send(s, "abc");
  auto [status, body] = receive(s, buf);
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
  EXPECT_EQ(body, "/big abc");
  // A body sent along with the head needs no "100 Continue".
  send(s, "POST /eager HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz");
  EXPECT_EQ(receive(s, buf).first, "HTTP/1.1 200 OK");
}

TEST_F(ServerTest, AnswersHeadWithoutTheBody) {
  startServer();
  tcp::socket s = connect();
  send(s, "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string buf;
  size_t end = net::read_until(s, net::dynamic_buffer(buf), "\r\n\r\n");
  EXPECT_NE(buf.substr(0, end).find("Content-Length: 2\r\n"), std::string::npos);  // "/h", not sent
  buf.erase(0, end);
  // The next answer follows at once: no body bytes of the HEAD answer in between.
  auto [status, body] = receive(s, buf);
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
  EXPECT_EQ(body, "/after");
}

TEST_F(ServerTest, ClosesAfterAnHttp10RequestOrConnectionClose) {
  startServer();
  tcp::socket a = connect();
  send(a, "GET /a HTTP/1.0\r\n\r\n");
  std::string buf;
  EXPECT_EQ(receive(a, buf).first, "HTTP/1.0 200 OK");
  EXPECT_TRUE(closedWithin(a, 5000ms));
  tcp::socket b = connect();
  send(b, "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(receive(b, buf).second, "/b");
  EXPECT_TRUE(closedWithin(b, 5000ms));
}

TEST_F(ServerTest, ClosesIdleConnectionsButNotOnesBeingServed) {
  ServerOptions o = onIoContext();
  o.idleTimeout = 1000ms;
  startServer(o, 2500ms);
  tcp::socket idle = connect();
  EXPECT_TRUE(closedWithin(idle, 5000ms));
  // Served for two and a half idle periods: the answer still comes, on a connection still open.
  tcp::socket busy = connect();
  std::string buf;
  send(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(receive(busy, buf).second, "/slow");
  send(busy, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(receive(busy, buf).second, "/after");
  // Traffic keeps a connection open past the timeout; silence then closes it.
  tcp::socket active = connect();
  for (int i = 0; i < 15; ++i) {
    std::this_thread::sleep_for(100ms);
    send(active, "GET /tick HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(receive(active, buf).second, "/tick");
  }
  EXPECT_TRUE(closedWithin(active, 5000ms));
}

TEST_F(ServerTest, ClosesAConnectionWhoseRequestTrickles) {
  ServerOptions o = onIoContext();
  o.idleTimeout = 1000ms;
  startServer(o);
  tcp::socket s = connect();
  send(s, "GET /x HTTP/1.1\r\nHost: h\r\n");
  // A header line every 100 ms: never idle for the timeout, but the request does not arrive in
  // full within it, so the server closes (long before the 6 s this client would go on for).
  auto started = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 60 && !closed; ++i) {
    std::this_thread::sleep_for(100ms);
    boost::system::error_code ec;
    net::write(s, net::buffer(std::string("X-Trickle: 1\r\n")), ec);
    closed = ec || closedWithin(s, 0ms);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5000ms);
}

TEST_F(ServerTest, ClosesTheConnectionOfARequestWhoseReplyIsDropped) {
  startServer(onIoContext());
  tcp::socket s = connect();
  send(s, "GET /drop HTTP/1.1\r\nHost: h\r\n\r\n");
  // The client sees the end of the connection (and may retry), not a wait without end.
  EXPECT_TRUE(closedWithin(s, 5000ms));
}

// A client still sending when its request is refused (a body over the limit) gets the answer and
// then the end of the connection, not a reset: a reset lets many clients' stacks drop an answer
// not read yet.
TEST_F(ServerTest, EndsARefusedConnectionWithoutResettingIt) {
  ServerOptions o;
  o.bodyLimit = 16;
  startServer(o);
  tcp::socket s = connect();
  boost::system::error_code sendError;
  std::thread sender([&s, &sendError] {
    net::write(s, net::buffer("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 8000000\r\n\r\n" + std::string(8000000, 'a')),
               sendError);
  });
  std::string buf;
  EXPECT_EQ(receive(s, buf).first, "HTTP/1.1 413 Payload Too Large");
  boost::system::error_code ec;
  char c[4096];
  do s.read_some(net::buffer(c), ec);
  while (!ec);
  sender.join();
  EXPECT_EQ(ec, net::error::eof) << ec.message();
  // The server read what the client went on sending (a socket closed with unread bytes resets).
  EXPECT_FALSE(sendError) << sendError.message();
}

TEST_F(ServerTest, AnswersBrokenRequestsAndClosesOnlyTheirConnection) {
  ServerOptions o;
  o.bodyLimit = 16;
  o.headerLimit = 256;
  startServer(o);
  tcp::socket other = connect();
  std::string buf, buf2;
  send(other, "GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(receive(other, buf2).second, "/first");

  tcp::socket big = connect();
  send(big, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n12345678901234567");
  EXPECT_EQ(receive(big, buf).first, "HTTP/1.1 413 Payload Too Large");
  EXPECT_TRUE(closedWithin(big, 5000ms));

  tcp::socket header = connect();
  send(header, "GET /x HTTP/1.1\r\nX: " + std::string(400, 'a') + "\r\n\r\n");
  EXPECT_EQ(receive(header, buf = {}).first, "HTTP/1.1 431 Request Header Fields Too Large");

  tcp::socket garbage = connect();
  send(garbage, "NOT HTTP\r\n\r\n");
  EXPECT_EQ(receive(garbage, buf = {}).first, "HTTP/1.1 400 Bad Request");

  tcp::socket smuggle = connect();
  send(smuggle, "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(receive(smuggle, buf = {}).first, "HTTP/1.1 400 Bad Request");

  // A body cut short by the client's end of sending: a 400 naming it.
  tcp::socket half = connect();
  send(half, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
  half.shutdown(tcp::socket::shutdown_send);
  auto [status, body] = receive(half, buf = {});
  EXPECT_EQ(status, "HTTP/1.1 400 Bad Request");
  EXPECT_NE(body.find("malformed HTTP request"), std::string::npos);

  send(other, "GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(receive(other, buf2).second, "/second");
}

}  // namespace
}  // namespace ors::http
