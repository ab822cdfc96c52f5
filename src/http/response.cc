#include "http/response.h"

#include <boost/beast/core/string.hpp>
#include <charconv>

namespace ors::http {

namespace {

using boost::beast::iequals;

// Calls f(line start, line end, name, value) for each "Name: value\r\n" line; stops when f
// returns true.
template <typename F>
void forEachField(std::string_view fields, F&& f) {
  for (size_t at = 0; at < fields.size();) {
    size_t end = fields.find("\r\n", at);
    std::string_view line = fields.substr(at, end - at);
    size_t colon = line.find(':');
    if (f(at, end + 2, line.substr(0, colon), line.substr(colon + 2))) return;
    at = end + 2;
  }
}

}  // namespace

void Response::set(std::string_view name, std::string_view value) {
  forEachField(fields_, [&](size_t from, size_t to, std::string_view n, std::string_view) {
    if (!iequals(n, name)) return false;
    fields_.erase(from, to - from);
    return true;
  });
  if (fields_.empty()) fields_.reserve(96);
  fields_.append(name).append(": ");
  size_t v = fields_.size();
  fields_.append(value);
  for (size_t i = v; i < fields_.size(); ++i)
    if (fields_[i] == '\r' || fields_[i] == '\n') fields_[i] = ' ';  // no field injected through a value
  fields_.append("\r\n");
}

std::string_view Response::header(std::string_view name) const {
  std::string_view found;
  forEachField(fields_, [&](size_t, size_t, std::string_view n, std::string_view v) {
    if (!iequals(n, name)) return false;
    found = v;
    return true;
  });
  return found;
}

void Response::writeTo(std::string& out, unsigned version, bool keepAlive, bool headRequest) const {
  char digits[24];
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out.append(digits, std::to_chars(digits, digits + sizeof digits, code()).ptr);
  out += ' ';
  std::string_view reason = boost::beast::http::obsolete_reason(status_);
  out.append(reason.data(), reason.size());
  out += "\r\n";
  out += fields_;
  if (version == 10 && keepAlive) out += "Connection: keep-alive\r\n";
  if (version != 10 && !keepAlive) out += "Connection: close\r\n";
  unsigned c = code();
  bool noBody = c < 200 || c == 204 || c == 304;
  if (!noBody) {
    out += "Content-Length: ";
    out.append(digits, std::to_chars(digits, digits + sizeof digits, body_.size()).ptr);
    out += "\r\n";
  }
  out += "\r\n";
  if (!noBody && !headRequest) out += body_;
}

}  // namespace ors::http
