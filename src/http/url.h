// Request-target and form decoding (RFC 3986 percent-encoding, application/x-www-form-urlencoded).
// Strict: a '%' not followed by two hex digits is an error. Pure functions, thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ors::http {

bool percentDecode(std::string_view in, bool plusAsSpace, std::string* out);
// "/a/b%20c?x=1" -> segments {"a", "b c"}, query "x=1". False on malformed encoding or a target
// that is not in origin form.
bool parseTarget(std::string_view target, std::vector<std::string>* segments, std::string_view* query);
// Percent-encodes everything but RFC 3986 unreserved characters (spaces as %20, which every form
// decoder reads as a space).
std::string percentEncode(std::string_view in);
// Adds "k=v&k2=v2" pairs to `out` as strings (a later duplicate wins). False on malformed input.
bool parseForm(std::string_view form, boost::json::object& out);

}  // namespace ors::http
