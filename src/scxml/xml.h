// A small namespace-aware XML tree with source positions, built with expat. Only what the SCXML
// document builder needs: elements, attributes, text, and the raw markup of each element's
// children. No DTD entities, no external entities, no network access. Immutable once built.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "scxml/document.h"

namespace ors::scxml {

struct XmlElement {
  std::string ns;    // namespace URI, "" when none
  std::string name;  // local name
  // Attributes: {namespace URI ("" for unqualified), local name, value}, in document order.
  struct Attr {
    std::string ns, name, value;
  };
  std::vector<Attr> attrs;
  // Children in order: either an element or a run of text (element == nullptr).
  struct Node {
    std::unique_ptr<XmlElement> element;
    std::string text;
  };
  std::vector<Node> children;
  std::string innerMarkup;  // the raw source between the start and end tag
  SourceLoc loc;

  const std::string* attr(std::string_view local) const;  // unqualified attribute
  std::string text() const;                                // concatenated child text
  bool hasElementChildren() const;
};

struct XmlError {
  SourceLoc loc;
  std::string message;
};

// Parses `text`; on failure returns the error with its position.
std::unique_ptr<XmlElement> parseXml(std::string_view text, XmlError* error);

}  // namespace ors::scxml
