// HTTP/1.1 (and 1.0) server on Boost.Asio: accepts connections, parses one request at a time per
// connection with size limits (RequestParser), hands it to a Handler and writes the reply it gets
// back, from any thread, with keep-alive as the request asks. Bad requests get an answer (400,
// 413, 431, 501, 505) and never affect another connection. Runs on the io_context it is given
// (any number of threads).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "http/request.h"
#include "http/response.h"

namespace ors::http {

namespace beast_http = boost::beast::http;
// Sends the response of one request; call it exactly once, from any thread (on the connection's
// own thread it writes at once, without a queue hop).
using Reply = std::function<void(Response)>;
using Handler = std::function<void(Request&& request, Reply reply)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: the OS picks
  size_t bodyLimit = 1 << 20;
  size_t headerLimit = 16 << 10;
  std::chrono::milliseconds idleTimeout{60'000};  // a connection with no traffic and no request being served is closed
  // Where each accepted connection lives (e.g. round robin over worker threads' io_contexts, so a
  // request is parsed on the thread that will most likely serve it). Default: the acceptor's.
  std::function<boost::asio::any_io_executor()> connectionExecutor;
};

// A JSON error body: {"error": message}.
Response errorResponse(beast_http::status status, const std::string& message);

class Server {
 public:
  Server(boost::asio::io_context& ioc, ServerOptions options, Handler handler);
  ~Server();
  // Binds and starts accepting; returns an error message or "".
  std::string start();
  void stop();  // stops accepting; open connections finish their current request
  uint16_t port() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ors::http
