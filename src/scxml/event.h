// An SCXML event (SCXML 5.10.1 `_event`). Data is a JSON-like host value so that events can
// cross sessions, threads and processes without carrying engine objects. Thread-compatible.
#pragma once

#include <boost/json/value.hpp>
#include <string>

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

  static const char* typeName(Type t) {
    switch (t) {
      case Type::kPlatform: return "platform";
      case Type::kInternal: return "internal";
      case Type::kExternal: return "external";
    }
    return "external";
  }
};

inline constexpr const char* kScxmlProcessorType = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor";
inline constexpr const char* kBasicHttpProcessorType = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor";

}  // namespace ors::scxml
