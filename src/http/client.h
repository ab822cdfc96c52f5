// A minimal asynchronous HTTP/1.1 client for the BasicHTTP Event I/O Processor: one POST per
// connection, on the caller's io_context, with a deadline. Never blocks the calling thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ors::http {

struct ParsedUrl {
  std::string host, port = "80", target = "/";
};
// Only http:// URLs (no TLS here). False when `url` is not one.
bool parseHttpUrl(const std::string& url, ParsedUrl* out);

struct ClientResponse {
  unsigned status = 0;   // 0: no response; `error` says why
  std::string error;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// One request (`method` GET, POST, ...); `done` runs on `ioc`. Bodies are limited to 8 MiB.
void request(boost::asio::io_context& ioc, const std::string& method, const std::string& url, std::string body,
             std::string contentType, std::chrono::milliseconds timeout, std::function<void(ClientResponse)> done,
             const std::vector<std::pair<std::string, std::string>>& headers = {});

// POST `body`; `done(status, error)`: status is the HTTP status, or 0 with `error` saying why.
void post(boost::asio::io_context& ioc, const std::string& url, std::string body, std::string contentType,
          std::chrono::milliseconds timeout, std::function<void(unsigned status, const std::string& error)> done);

}  // namespace ors::http
