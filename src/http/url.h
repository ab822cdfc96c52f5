// Request-target and form decoding (RFC 3986 percent-encoding, application/x-www-form-urlencoded).
// Strict: a '%' not followed by two hex digits is an error. Pure functions, thread-safe.
#pragma once

#include <boost/container/small_vector.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <string_view>

namespace ors::http {

bool percentDecode(std::string_view in, bool plusAsSpace, std::string* out);
// The value of a hexadecimal digit (either case), or -1.
int hexDigit(char c);

// A request target split into its decoded path segments and its query, without copying what
// needs no decoding: the views point into the target (which must outlive this) or into
// `decoded`. Neither copied nor moved, so that the views stay valid.
struct Target {
  Target() = default;
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  boost::container::small_vector<std::string_view, 8> segments;
  std::string_view query;
  std::string decoded;  // the segments that had percent-escapes, decoded
};
// "/a/b%20c?x=1" -> segments {"a", "b c"}, query "x=1". False on malformed encoding or a target
// that is not in origin form.
bool parseTarget(std::string_view target, Target* out);
// Percent-encodes everything but RFC 3986 unreserved characters (spaces as %20, which every form
// decoder reads as a space).
std::string percentEncode(std::string_view in);
// Adds "k=v&k2=v2" pairs to `out` as strings (a later duplicate wins). False on malformed input.
bool parseForm(std::string_view form, boost::json::object& out);

}  // namespace ors::http
