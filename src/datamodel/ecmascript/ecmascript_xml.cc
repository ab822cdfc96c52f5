// XML content in the ECMAScript datamodel (SCXML B.2: "the Processor MUST convert [XML content]
// into a DOM object"): a small, read-mostly DOM (Document, Element, Text nodes with
// getElementsByTagName, getAttribute, textContent, childNodes ... and toString() giving markup).
// Nodes are plain objects whose prototype `__orsXmlNode` lives on the frozen shared global.
#include <js/Array.h>
#include <js/PropertyAndElement.h>

#include "datamodel/ecmascript/ecmascript_internal.h"
#include "scxml/xml.h"

namespace ors::dm::ecma {

const char kXmlDomSource[] = R"JS(
(function (global) {
  'use strict';
  const esc = (s, attr) => String(s).replace(attr ? /[&<"]/g : /[&<>]/g,
      (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'})[c]);
  const proto = {
    getElementsByTagName(name) {
      const out = [];
      const walk = (n) => {
        for (const c of n.childNodes) {
          if (c.nodeType !== 1) continue;
          if (name === '*' || c.tagName === name || c.localName === name) out.push(c);
          walk(c);
        }
      };
      walk(this);
      return out;
    },
    getAttribute(name) {
      const a = this.attributes;
      return a && Object.prototype.hasOwnProperty.call(a, name) ? a[name] : null;
    },
    hasAttribute(name) {
      const a = this.attributes;
      return !!a && Object.prototype.hasOwnProperty.call(a, name);
    },
    hasChildNodes() { return this.childNodes.length > 0; },
    get firstChild() { return this.childNodes[0] === undefined ? null : this.childNodes[0]; },
    get documentElement() {
      for (const c of this.childNodes) if (c.nodeType === 1) return c;
      return null;
    },
    get textContent() {
      if (this.nodeType === 3) return this.data;
      let s = '';
      for (const c of this.childNodes) s += c.textContent;
      return s;
    },
    toString() {
      if (this.nodeType === 3) return esc(this.data, false);
      let inner = '';
      for (const c of this.childNodes) inner += c.toString();
      if (this.nodeType === 9) return inner;
      let open = '<' + this.tagName;
      if (this.namespaceURI !== null) open += ' xmlns="' + esc(this.namespaceURI, true) + '"';
      for (const k of Object.keys(this.attributes)) open += ' ' + k + '="' + esc(this.attributes[k], true) + '"';
      return inner === '' ? open + '/>' : open + '>' + inner + '</' + this.tagName + '>';
    },
  };
  Object.defineProperty(global, '__orsXmlNode', {value: proto, enumerable: false});
})(this);
)JS";

namespace {

bool defineString(JSContext* cx, JS::HandleObject obj, const char* name, std::string_view value) {
  JS::RootedString s(cx, newString(cx, value));
  return s && JS_DefineProperty(cx, obj, name, s, JSPROP_ENUMERATE | JSPROP_READONLY);
}

JSObject* newNode(JSContext* cx, JS::HandleObject proto, int type) {
  JS::RootedObject node(cx, JS_NewObjectWithGivenProto(cx, nullptr, proto));
  if (!node || !JS_DefineProperty(cx, node, "nodeType", type, JSPROP_ENUMERATE | JSPROP_READONLY)) return nullptr;
  return node;
}

JSObject* buildElement(JSContext* cx, JS::HandleObject proto, const scxml::XmlElement& e, int depth);

bool buildChildren(JSContext* cx, JS::HandleObject proto, JS::HandleObject node,
                   const std::vector<scxml::XmlElement::Node>& kids, int depth) {
  JS::RootedObject arr(cx, JS::NewArrayObject(cx, kids.size()));
  if (!arr) return false;
  JS::RootedObject child(cx);
  for (size_t i = 0; i < kids.size(); ++i) {
    if (kids[i].element) {
      child = buildElement(cx, proto, *kids[i].element, depth + 1);
    } else {
      child = newNode(cx, proto, 3);
      if (child && (!defineString(cx, child, "data", kids[i].text) ||
                    !defineString(cx, child, "nodeValue", kids[i].text) ||
                    !defineString(cx, child, "nodeName", "#text")))
        return false;
    }
    if (!child || !JS_DefineElement(cx, arr, static_cast<uint32_t>(i), child, JSPROP_ENUMERATE)) return false;
  }
  return JS_DefineProperty(cx, node, "childNodes", arr, JSPROP_ENUMERATE | JSPROP_READONLY);
}

JSObject* buildElement(JSContext* cx, JS::HandleObject proto, const scxml::XmlElement& e, int depth) {
  if (depth > 200) {
    JS_ReportErrorASCII(cx, "XML content is nested too deeply");
    return nullptr;
  }
  JS::RootedObject node(cx, newNode(cx, proto, 1));
  if (!node || !defineString(cx, node, "tagName", e.name) || !defineString(cx, node, "nodeName", e.name) ||
      !defineString(cx, node, "localName", e.name))
    return nullptr;
  JS::RootedValue ns(cx, JS::NullValue());
  if (!e.ns.empty()) {
    JSString* s = newString(cx, e.ns);
    if (!s) return nullptr;
    ns.setString(s);
  }
  if (!JS_DefineProperty(cx, node, "namespaceURI", ns, JSPROP_ENUMERATE | JSPROP_READONLY)) return nullptr;
  JS::RootedObject attrs(cx, JS_NewPlainObject(cx));
  if (!attrs) return nullptr;
  for (const auto& a : e.attrs)
    if (!defineString(cx, attrs, a.name.c_str(), a.value)) return nullptr;
  if (!JS_DefineProperty(cx, node, "attributes", attrs, JSPROP_ENUMERATE | JSPROP_READONLY)) return nullptr;
  if (!buildChildren(cx, proto, node, e.children, depth)) return nullptr;
  return node;
}

JSObject* xmlProto(JSContext* cx) {
  JS::RootedObject global(cx, JS::CurrentGlobalOrNull(cx));
  JS::RootedValue v(cx);
  if (!global || !JS_GetProperty(cx, global, "__orsXmlNode", &v) || !v.isObject()) return nullptr;
  return &v.toObject();
}

}  // namespace

bool xmlToJS(JSContext* cx, std::string_view markup, JS::MutableHandleValue out) {
  scxml::XmlError err;
  std::unique_ptr<scxml::XmlElement> root = scxml::parseXml(markup, &err);
  if (!root) {
    JS_ReportErrorASCII(cx, "malformed XML content: %s", err.message.c_str());
    return false;
  }
  JS::RootedObject proto(cx, xmlProto(cx));
  if (!proto) {
    JS_ReportErrorASCII(cx, "the XML DOM is not available");
    return false;
  }
  JS::RootedObject doc(cx, newNode(cx, proto, 9));
  if (!doc || !defineString(cx, doc, "nodeName", "#document")) return false;
  std::vector<scxml::XmlElement::Node> kids;
  kids.push_back({std::move(root), {}});
  if (!buildChildren(cx, proto, doc, kids, 0)) return false;
  out.setObject(*doc);
  return true;
}

bool isXmlNode(JSContext* cx, JS::HandleObject obj) {
  JS::RootedObject p(cx);
  if (!JS_GetPrototype(cx, obj, &p)) {
    JS_ClearPendingException(cx);
    return false;
  }
  return p && p.get() == xmlProto(cx);
}

}  // namespace ors::dm::ecma
