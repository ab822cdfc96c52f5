// An HTTP/1.x response as handlers build it: a status, fields and a body. The server writes it
// in the request's version, with Content-Length from the body and the Connection field the
// connection's fate needs; handlers set neither.
#pragma once

#include <ostream>  // before status.hpp, whose string_view needs it (Boost 1.81)
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <string>
#include <string_view>

namespace ors::http {

class Response {
 public:
  explicit Response(boost::beast::http::status status = boost::beast::http::status::ok) : status_(status) {}

  boost::beast::http::status status() const { return status_; }
  unsigned code() const { return static_cast<unsigned>(status_); }
  // Sets a field, replacing one of the same name (names compare without case).
  void set(std::string_view name, std::string_view value);
  void set(boost::beast::http::field name, std::string_view value) { set(boost::beast::http::to_string(name), value); }
  // The value of a field ("" when it is not set).
  std::string_view header(std::string_view name) const;
  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

  // Appends the response in wire form: the status line in `version` (10 or 11), the fields,
  // Content-Length, and "Connection: close" (HTTP/1.1) or "keep-alive" (HTTP/1.0) as needed. No
  // body for a HEAD request, and neither body nor Content-Length for a status that has no body
  // (1xx, 204, 304; RFC 9110 6.4.1).
  void writeTo(std::string& out, unsigned version, bool keepAlive, bool headRequest = false) const;

 private:
  boost::beast::http::status status_;
  std::string fields_;  // "Name: value\r\n" lines
  std::string body_;
};

}  // namespace ors::http
