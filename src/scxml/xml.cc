// expat-based builder for XmlElement trees (see xml.h).
#include "scxml/xml.h"

#include <cctype>

#include <expat.h>

namespace ors::scxml {

const std::string* XmlElement::attr(std::string_view local) const {
  for (const Attr& a : attrs)
    if (a.ns.empty() && a.name == local) return &a.value;
  return nullptr;
}

std::string XmlElement::text() const {
  std::string out;
  for (const Node& n : children)
    if (!n.element) out += n.text;
  return out;
}

bool XmlElement::hasElementChildren() const {
  for (const Node& n : children)
    if (n.element) return true;
  return false;
}

namespace {

constexpr char kSep = '\x1f';  // expat namespace separator: "uri<sep>local"

void splitName(const char* qname, std::string* ns, std::string* local) {
  std::string_view s(qname);
  size_t p = s.find(kSep);
  if (p == std::string_view::npos) {
    ns->clear();
    local->assign(s);
  } else {
    ns->assign(s.substr(0, p));
    local->assign(s.substr(p + 1));
  }
}

struct Builder {
  XML_Parser parser = nullptr;
  std::string_view source;
  std::unique_ptr<XmlElement> root;
  std::vector<XmlElement*> stack;
  std::vector<size_t> innerBegin;
  std::string error;

  SourceLoc here() const {
    return {static_cast<uint32_t>(XML_GetCurrentLineNumber(parser)),
            static_cast<uint32_t>(XML_GetCurrentColumnNumber(parser) + 1)};
  }

  static void onStart(void* ud, const XML_Char* name, const XML_Char** atts) {
    auto* b = static_cast<Builder*>(ud);
    auto el = std::make_unique<XmlElement>();
    splitName(name, &el->ns, &el->name);
    el->loc = b->here();
    for (int i = 0; atts[i]; i += 2) {
      XmlElement::Attr a;
      splitName(atts[i], &a.ns, &a.name);
      a.value = atts[i + 1];
      el->attrs.push_back(std::move(a));
    }
    XmlElement* raw = el.get();
    if (b->stack.empty()) {
      b->root = std::move(el);
    } else {
      b->stack.back()->children.push_back({std::move(el), {}});
    }
    b->stack.push_back(raw);
    b->innerBegin.push_back(static_cast<size_t>(XML_GetCurrentByteIndex(b->parser)) +
                            static_cast<size_t>(XML_GetCurrentByteCount(b->parser)));
  }

  static void onEnd(void* ud, const XML_Char*) {
    auto* b = static_cast<Builder*>(ud);
    size_t begin = b->innerBegin.back();
    size_t end = static_cast<size_t>(XML_GetCurrentByteIndex(b->parser));
    // An empty-element tag reports its end at its own start: no inner markup.
    if (XML_GetCurrentByteCount(b->parser) > 0 && end >= begin && end <= b->source.size())
      b->stack.back()->innerMarkup.assign(b->source.substr(begin, end - begin));
    b->innerBegin.pop_back();
    b->stack.pop_back();
  }

  static void onText(void* ud, const XML_Char* s, int len) {
    auto* b = static_cast<Builder*>(ud);
    if (b->stack.empty()) return;
    auto& kids = b->stack.back()->children;
    if (kids.empty() || kids.back().element) kids.push_back({nullptr, {}});
    kids.back().text.append(s, static_cast<size_t>(len));
  }

  // Entity declarations are refused outright: no entity expansion attacks, no external entities.
  static void onEntityDecl(void* ud, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                           const XML_Char*, const XML_Char*, const XML_Char*) {
    auto* b = static_cast<Builder*>(ud);
    b->error = "entity declarations are not allowed";
    XML_StopParser(b->parser, XML_FALSE);
  }

  // Encodings expat does not know: windows-1252, which documents written on Windows declare
  // (UTF-8, UTF-16, ISO-8859-1 and US-ASCII are expat's own).
  static int onUnknownEncoding(void*, const XML_Char* name, XML_Encoding* info) {
    std::string n(name);
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n != "windows-1252" && n != "cp1252") return XML_STATUS_ERROR;
    static constexpr int kHigh[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                      0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                                      0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                      0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
    for (int i = 0; i < 256; ++i) info->map[i] = i >= 0x80 && i < 0xA0 ? kHigh[i - 0x80] : i;
    info->data = nullptr;
    info->convert = nullptr;
    info->release = nullptr;
    return XML_STATUS_OK;
  }
};

}  // namespace

std::unique_ptr<XmlElement> parseXml(std::string_view text, XmlError* error) {
  Builder b;
  b.source = text;
  b.parser = XML_ParserCreateNS(nullptr, kSep);
  XML_SetUserData(b.parser, &b);
  XML_SetElementHandler(b.parser, &Builder::onStart, &Builder::onEnd);
  XML_SetCharacterDataHandler(b.parser, &Builder::onText);
  XML_SetEntityDeclHandler(b.parser, &Builder::onEntityDecl);
  XML_SetParamEntityParsing(b.parser, XML_PARAM_ENTITY_PARSING_NEVER);
  XML_SetUnknownEncodingHandler(b.parser, &Builder::onUnknownEncoding, nullptr);
  XML_Status st = XML_Parse(b.parser, text.data(), static_cast<int>(text.size()), XML_TRUE);
  if (st != XML_STATUS_OK || !b.error.empty()) {
    if (error) {
      error->loc = b.here();
      error->message = b.error.empty() ? XML_ErrorString(XML_GetErrorCode(b.parser)) : b.error;
    }
    XML_ParserFree(b.parser);
    return nullptr;
  }
  XML_ParserFree(b.parser);
  if (!b.root && error) error->message = "no root element";
  return std::move(b.root);
}

}  // namespace ors::scxml
