// An SCXML event (SCXML 5.10.1 `_event`). Data is a JSON-like host value so that events can
// cross sessions, threads and processes without carrying engine objects. Thread-compatible.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

namespace ors::scxml {

using Value = boost::json::value;

struct Event {
  enum class Type : uint8_t { kPlatform, kInternal, kExternal };
  std::string name;
  Type type = Type::kExternal;
  std::string sendid;
  std::string origin;
  std::string origintype;
  std::string invokeid;
  Value data;  // null when the event carries no data
  std::string raw;  // the message as received (BasicHTTP: the whole HTTP request), if any

  static const char* typeName(Type t) {
    switch (t) {
      case Type::kPlatform: return "platform";
      case Type::kInternal: return "internal";
      case Type::kExternal: return "external";
    }
    return "external";
  }
};

// An event as a JSON object and back (snapshots, stores): empty fields are left out.
Value eventToValue(const Event& e);
// False if `v` is not such an object.
bool eventFromValue(const Value& v, Event* out);

// SCXML 5.6 content as a host value: JSON text becomes that value; well-formed markup becomes
// {"$xml": markup} (an XML fragment, which the ECMAScript datamodel exposes as a small DOM);
// any other text a string with its white space normalised (SCXML B.2).
inline constexpr const char* kXmlValueKey = "$xml";
Value contentToValue(std::string_view text);

inline constexpr const char* kScxmlProcessorType = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor";
inline constexpr const char* kBasicHttpProcessorType = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor";

}  // namespace ors::scxml
