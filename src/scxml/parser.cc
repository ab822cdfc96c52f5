// The SCXML document builder and validator (see parser.h).
#include "scxml/parser.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_set>

#include "common/hash.h"
#include "scxml/xml.h"

namespace ors::scxml {

namespace {

constexpr std::string_view kScxmlNs = "http://www.w3.org/2005/07/scxml";

// The vendor's extension namespaces are written with and without "http://".
bool isVendorNs(std::string_view ns, std::string_view module) {
  if (ns.rfind("http://", 0) == 0) ns.remove_prefix(7);
  constexpr std::string_view kPrefix = "www.genesyslab.com/modules/";
  return ns.size() == kPrefix.size() + module.size() && ns.rfind(kPrefix, 0) == 0 &&
         ns.substr(kPrefix.size()) == module;
}
// The module of a vendor namespace (www.genesyslab.com/modules/<module>), "" for others.
std::string_view vendorModule(std::string_view ns) {
  if (ns.rfind("http://", 0) == 0) ns.remove_prefix(7);
  constexpr std::string_view kPrefix = "www.genesyslab.com/modules/";
  if (ns.rfind(kPrefix, 0) != 0 || ns.size() == kPrefix.size() || ns.find('/', kPrefix.size()) != std::string_view::npos)
    return {};
  return ns.substr(kPrefix.size());
}
std::atomic<uint64_t> gNextUid{1};

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::vector<std::string> splitTokens(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && isSpace(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !isSpace(s[j])) ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// SCXML 3.12.1: "foo.*" and "foo." mean the same as "foo"; "*" matches any event.
std::string normaliseDescriptor(std::string d) {
  if (d == "*") return d;
  if (d.size() >= 2 && d.compare(d.size() - 2, 2, ".*") == 0) d.resize(d.size() - 2);
  while (!d.empty() && d.back() == '.') d.pop_back();
  return d;
}

class DocumentBuilder {
 public:
  // The files the document included (SourceLoc::file), from the Includer.
  void setFiles(std::vector<std::string> files) { files_ = std::move(files); }
  DocumentBuilder(const ParseOptions& options, std::vector<Diagnostic>* errors)
      : options_(options), errors_(errors) {}

  std::shared_ptr<Document> build(const XmlElement& root) {
    doc_ = std::make_shared<Document>();
    doc_->url = options_.url;
    doc_->uid = gNextUid.fetch_add(1);
    scxmlNs_ = root.ns.empty() ? "" : std::string(kScxmlNs);
    if (root.name != "scxml" || (root.ns != kScxmlNs && !root.ns.empty())) {
      error(root.loc, "the root element must be <scxml> in namespace " + std::string(kScxmlNs));
      return nullptr;
    }
    buildRoot(root);
    resolve();
    precomputeDomains();
    markScripted();
    doc_->exprCount = nextExprId_;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_));
    doc_->hash = hex;
    return doc_;
  }

  static bool hasScript(const Block& b) {
    for (const auto& a : b) {
      switch (a->kind) {
        case Action::Kind::kScript:
          return true;
        case Action::Kind::kIf:
          for (const auto& branch : static_cast<const If&>(*a).branches)
            if (hasScript(branch.body)) return true;
          break;
        case Action::Kind::kForeach:
          if (hasScript(static_cast<const Foreach&>(*a).body)) return true;
          break;
        default:
          break;
      }
    }
    return false;
  }
  void markScripted() {
    for (State& st : doc_->states) {
      bool any = false;
      for (const Block& b : st.onentry) any = any || hasScript(b);
      for (const Block& b : st.onexit) any = any || hasScript(b);
      for (uint32_t t : st.transitions) any = any || hasScript(doc_->transitions[t].actions);
      if (st.initial != kNone) any = any || hasScript(doc_->transitions[st.initial].actions);
      for (uint32_t i : st.invokes) any = any || hasScript(doc_->invokes[i]->finalize);
      st.scripted = any;
    }
  }

  // Adds text the document is made of (its own, loaded scripts and data) to its hash.
  void fold(std::string_view text) { hash_ = fnv1a(text, hash_); }

 private:
  // ---- diagnostics ----
  void error(SourceLoc loc, std::string message) {
    const std::string& file = loc.file != 0 && loc.file < files_.size() ? files_[loc.file] : options_.url;
    errors_->push_back({file.empty() ? "<input>" : file, loc, std::move(message)});
  }
  bool isScxml(const XmlElement& e) const { return e.ns == scxmlNs_; }

  Expr expr(const std::string& text, SourceLoc loc) {
    Expr e;
    e.text = text;
    e.id = nextExprId_++;
    e.loc = loc;
    return e;
  }
  Expr exprAttr(const XmlElement& e, std::string_view name) {
    const std::string* v = e.attr(name);
    if (!v) return {};
    return expr(*v, e.loc);
  }
  std::string strAttr(const XmlElement& e, std::string_view name) {
    const std::string* v = e.attr(name);
    return v ? *v : std::string();
  }
  void exclusive(const XmlElement& e, std::string_view a, std::string_view b) {
    if (e.attr(a) && e.attr(b))
      error(e.loc, "<" + e.name + "> may not have both '" + std::string(a) + "' and '" +
                       std::string(b) + "'");
  }
  // The vendor's dialect, where an attribute W3C reads literally holds an expression.
  static bool quoted(std::string_view v) {
    size_t i = v.find_first_not_of(" \t\r\n");
    return i != std::string_view::npos && (v[i] == '\'' || v[i] == '"');
  }
  // A delay literal starts with a digit or a point ("10s", ".5s", "200ms"); "someVar" and "'10s'"
  // are expressions.
  static bool durationLike(std::string_view v) {
    size_t i = v.find_first_not_of(" \t\r\n");
    return i == std::string_view::npos || std::isdigit(static_cast<unsigned char>(v[i])) || v[i] == '.';
  }
  // A send id literal is a name: letters, digits and . _ - : only.
  static bool idLike(std::string_view v) {
    for (char ch : v)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-' && ch != ':') return false;
    return true;
  }
  bool require(const XmlElement& e, std::string_view a) {
    if (e.attr(a)) return true;
    error(e.loc, "<" + e.name + "> requires attribute '" + std::string(a) + "'");
    return false;
  }

  // ---- structure ----
  void buildRoot(const XmlElement& x) {
    doc_->name = strAttr(x, "name");
    // The vendor's generated documents say profile="ecmascript" where W3C says datamodel=.
    const std::string* dm = x.attr("datamodel") ? x.attr("datamodel") : x.attr("profile");
    doc_->datamodel = dm ? *dm : "null";
    doc_->vendor = !x.attr("datamodel") && x.attr("profile") && *x.attr("profile") == "ecmascript";
    std::string binding = strAttr(x, "binding");
    if (!binding.empty() && binding != "early" && binding != "late")
      error(x.loc, "binding must be 'early' or 'late', not '" + binding + "'");
    doc_->lateBinding = binding == "late";
    doc_->states.emplace_back();
    State& root = doc_->states[0];
    root.index = 0;
    root.type = StateType::kScxml;
    root.loc = x.loc;
    if (const std::string* init = x.attr("initial")) pendingInitial_.push_back({0, *init, x.loc});
    buildChildren(0, x);
    doc_->states[0].lastDescendant = static_cast<uint32_t>(doc_->states.size() - 1);
  }

  uint32_t addState(uint32_t parent, const XmlElement& x, StateType type) {
    uint32_t idx = static_cast<uint32_t>(doc_->states.size());
    doc_->states.emplace_back();
    {
      State& s = doc_->states[idx];
      s.index = idx;
      s.type = type;
      s.parent = parent;
      s.depth = doc_->states[parent].depth + 1;
      s.loc = x.loc;
      if (const std::string* id = x.attr("id")) {
        s.id = *id;
        auto [it, inserted] = doc_->stateById.emplace(*id, idx);
        if (!inserted) {
          const SourceLoc& first = doc_->states[it->second].loc;
          error(x.loc, "duplicate state id '" + *id + "' (first defined at " +
                           std::to_string(first.line) + ":" + std::to_string(first.col) + ")");
        }
      } else {
        s.id = "$" + std::to_string(idx);
      }
    }
    doc_->states[parent].children.push_back(idx);
    if (type != StateType::kHistory) doc_->states[parent].atomic = false;
    if (type == StateType::kHistory) {
      std::string t = strAttr(x, "type");
      if (!t.empty() && t != "shallow" && t != "deep")
        error(x.loc, "history type must be 'shallow' or 'deep', not '" + t + "'");
      doc_->states[idx].deepHistory = t == "deep";
    }
    if (type == StateType::kState) {
      if (const std::string* init = x.attr("initial")) pendingInitial_.push_back({idx, *init, x.loc});
    }
    buildChildren(idx, x);
    doc_->states[idx].lastDescendant = static_cast<uint32_t>(doc_->states.size() - 1);
    return idx;
  }

  void buildChildren(uint32_t idx, const XmlElement& x) {
    StateType type = doc_->states[idx].type;
    bool sawInitial = false;
    for (const XmlElement::Node& n : x.children) {
      if (!n.element) {
        bool blank = true;
        for (char c : n.text) blank = blank && isSpace(c);
        if (!blank) error(x.loc, "unexpected text in <" + x.name + ">");
        continue;
      }
      const XmlElement& c = *n.element;
      if (!isScxml(c)) continue;  // foreign elements in state content are ignored
      const std::string& name = c.name;
      bool stateLike = type == StateType::kScxml || type == StateType::kState || type == StateType::kParallel;
      if (name == "state" && stateLike) {
        addState(idx, c, StateType::kState);
      } else if (name == "parallel" && stateLike) {
        addState(idx, c, StateType::kParallel);
      } else if (name == "final" && stateLike) {
        addState(idx, c, StateType::kFinal);
      } else if (name == "history" && (type == StateType::kState || type == StateType::kParallel)) {
        addState(idx, c, StateType::kHistory);
      } else if (name == "datamodel" && type != StateType::kHistory) {
        for (const XmlElement::Node& d : c.children) {
          if (!d.element || !isScxml(*d.element)) continue;
          if (d.element->name != "data") {
            error(d.element->loc, "unexpected <" + d.element->name + "> in <datamodel>");
            continue;
          }
          buildData(idx, *d.element);
        }
      } else if (name == "transition" && type != StateType::kScxml && type != StateType::kFinal) {
        uint32_t t = buildTransition(idx, c);
        doc_->states[idx].transitions.push_back(t);
      } else if (name == "onentry" && type != StateType::kScxml && type != StateType::kHistory) {
        doc_->states[idx].onentry.push_back(buildBlock(c));
      } else if (name == "onexit" && type != StateType::kScxml && type != StateType::kHistory) {
        doc_->states[idx].onexit.push_back(buildBlock(c));
      } else if (name == "invoke" && (type == StateType::kState || type == StateType::kParallel)) {
        buildInvoke(idx, c);
      } else if (name == "initial" && type == StateType::kState) {
        if (sawInitial || x.attr("initial")) error(c.loc, "a state may have one initial (element or attribute)");
        sawInitial = true;
        buildInitialElement(idx, c);
      } else if (name == "donedata" && type == StateType::kFinal) {
        buildDoneData(idx, c);
      } else if (name == "script" && type == StateType::kScxml) {
        doc_->script.push_back(buildAction(c));
      } else {
        error(c.loc, "unexpected <" + name + "> in <" + x.name + ">");
      }
    }
    if (type == StateType::kHistory && doc_->states[idx].transitions.size() > 1)
      error(x.loc, "a history state may have at most one transition");
  }

  void buildData(uint32_t state, const XmlElement& x) {
    Data d;
    d.loc = x.loc;
    if (require(x, "id")) {
      d.id = *x.attr("id");
      d.location = expr(d.id, x.loc);
    }
    exclusive(x, "expr", "src");
    d.expr = exprAttr(x, "expr");
    bool hasChildren = x.hasElementChildren() || !isBlank(x.text());
    if (d.expr.present() && hasChildren) error(x.loc, "<data> may not have both 'expr' and content");
    if (const std::string* src = x.attr("src")) {
      if (hasChildren) error(x.loc, "<data> may not have both 'src' and content");
      std::string url = resolveUrl(options_.url, *src);
      Result<std::string> text = options_.loader ? options_.loader(url) : Result<std::string>(Status::error("no loader"));
      if (text) {
        fold(*text);
        d.content.present = true;
        d.content.body = std::move(*text);
      } else {
        d.loadError = "cannot load '" + *src + "': " + text.status().message();
      }
    } else if (hasChildren) {
      d.content = buildContentBody(x);
    }
    doc_->states[state].data.push_back(std::move(d));
  }

  static bool isBlank(const std::string& s) {
    for (char c : s)
      if (!isSpace(c)) return false;
    return true;
  }

  // The content of <content>, <data> or <assign>: markup is kept as written, text as decoded.
  Content buildContentBody(const XmlElement& x) {
    Content c;
    c.present = true;
    if (x.hasElementChildren()) {
      c.body = x.innerMarkup;
      for (const XmlElement::Node& n : x.children) {
        if (n.element && n.element->name == "scxml" && n.element->ns == kScxmlNs) {
          ParseOptions sub = options_;
          DocumentBuilder b(sub, errors_);
          b.fold(c.body);
          std::shared_ptr<Document> inner = b.build(*n.element);
          if (inner) inner->source = c.body;
          c.document = std::move(inner);
        }
      }
    } else {
      c.body = x.text();
    }
    return c;
  }

  Content buildContent(const XmlElement& x) {
    Content c;
    // `_expr`: the vendor's name for it in <session:fetch>.
    const char* attr = x.attr("expr") ? "expr" : x.attr("_expr") ? "_expr" : nullptr;
    if (attr) {
      if (x.hasElementChildren() || !isBlank(x.text()))
        error(x.loc, "<content> may not have both 'expr' and children");
      c.present = true;
      c.expr = exprAttr(x, attr);
      return c;
    }
    return buildContentBody(x);
  }

  Param buildParam(const XmlElement& x) {
    Param p;
    p.loc = x.loc;
    if (require(x, "name")) p.name = *x.attr("name");
    exclusive(x, "expr", "location");
    if (x.attr("expr")) p.expr = exprAttr(x, "expr");
    else if (x.attr("location")) p.expr = exprAttr(x, "location");
    else error(x.loc, "<param> requires 'expr' or 'location'");
    return p;
  }

  std::vector<Expr> namelist(const XmlElement& x) {
    std::vector<Expr> out;
    if (const std::string* nl = x.attr("namelist"))
      for (std::string& n : splitTokens(*nl)) out.push_back(expr(n, x.loc));
    return out;
  }

  uint32_t newTransition(uint32_t source, SourceLoc loc) {
    uint32_t t = static_cast<uint32_t>(doc_->transitions.size());
    doc_->transitions.emplace_back();
    doc_->transitions[t].index = t;
    doc_->transitions[t].source = source;
    doc_->transitions[t].loc = loc;
    return t;
  }

  uint32_t buildTransition(uint32_t source, const XmlElement& x) {
    uint32_t t = newTransition(source, x.loc);
    if (const std::string* ev = x.attr("event")) {
      for (std::string& d : splitTokens(*ev)) doc_->transitions[t].events.push_back(normaliseDescriptor(std::move(d)));
      if (doc_->transitions[t].events.empty()) error(x.loc, "empty 'event' attribute");
    }
    doc_->transitions[t].cond = exprAttr(x, "cond");
    std::string type = strAttr(x, "type");
    if (!type.empty() && type != "internal" && type != "external")
      error(x.loc, "transition type must be 'internal' or 'external', not '" + type + "'");
    doc_->transitions[t].internal = type == "internal";
    if (const std::string* target = x.attr("target")) {
      pendingTargets_.push_back({t, *target, x.loc});
      if (splitTokens(*target).empty()) error(x.loc, "empty 'target' attribute");
    }
    Block actions = buildBlock(x);
    doc_->transitions[t].actions = std::move(actions);
    return t;
  }

  void buildInitialElement(uint32_t state, const XmlElement& x) {
    int count = 0;
    for (const XmlElement::Node& n : x.children) {
      if (!n.element || !isScxml(*n.element)) continue;
      if (n.element->name != "transition") {
        error(n.element->loc, "unexpected <" + n.element->name + "> in <initial>");
        continue;
      }
      if (++count > 1) {
        error(n.element->loc, "<initial> must have exactly one <transition>");
        continue;
      }
      const XmlElement& tx = *n.element;
      if (tx.attr("event") || tx.attr("cond")) error(tx.loc, "the transition of <initial> may have no 'event' or 'cond'");
      if (!tx.attr("target")) error(tx.loc, "the transition of <initial> requires a 'target'");
      doc_->states[state].initial = buildTransition(state, tx);
      initialElementTransitions_.insert(doc_->states[state].initial);
    }
    if (count == 0) error(x.loc, "<initial> must have exactly one <transition>");
  }

  void buildDoneData(uint32_t state, const XmlElement& x) {
    DoneData& dd = doc_->states[state].donedata;
    dd.present = true;
    for (const XmlElement::Node& n : x.children) {
      if (!n.element || !isScxml(*n.element)) continue;
      if (n.element->name == "content") {
        dd.content = buildContent(*n.element);
      } else if (n.element->name == "param") {
        dd.params.push_back(buildParam(*n.element));
      } else {
        error(n.element->loc, "unexpected <" + n.element->name + "> in <donedata>");
      }
    }
    if (dd.content.present && !dd.params.empty()) error(x.loc, "<donedata> may not have both <content> and <param>");
  }

  void buildInvoke(uint32_t state, const XmlElement& x) {
    auto inv = std::make_unique<Invoke>();
    inv->index = static_cast<uint32_t>(doc_->invokes.size());
    inv->loc = x.loc;
    exclusive(x, "type", "typeexpr");
    exclusive(x, "src", "srcexpr");
    exclusive(x, "id", "idlocation");
    inv->type = strAttr(x, "type");
    inv->typeexpr = exprAttr(x, "typeexpr");
    inv->src = strAttr(x, "src");
    inv->srcexpr = exprAttr(x, "srcexpr");
    if (!inv->src.empty() && options_.childDocument) options_.childDocument(resolveUrl(options_.url, inv->src));
    inv->id = strAttr(x, "id");
    inv->idlocation = exprAttr(x, "idlocation");
    std::string af = strAttr(x, "autoforward");
    if (!af.empty() && af != "true" && af != "false") error(x.loc, "autoforward must be 'true' or 'false'");
    inv->autoforward = af == "true";
    inv->namelist = namelist(x);
    for (const XmlElement::Node& n : x.children) {
      if (!n.element || !isScxml(*n.element)) continue;
      const XmlElement& c = *n.element;
      if (c.name == "content") inv->content = buildContent(c);
      else if (c.name == "param") inv->params.push_back(buildParam(c));
      else if (c.name == "finalize") inv->finalize = buildBlock(c);
      else error(c.loc, "unexpected <" + c.name + "> in <invoke>");
    }
    if (inv->content.present && (x.attr("src") || x.attr("srcexpr")))
      error(x.loc, "<invoke> may not have both 'src'/'srcexpr' and <content>");
    if (!inv->params.empty() && x.attr("namelist")) error(x.loc, "<invoke> may not have both 'namelist' and <param>");
    doc_->states[state].invokes.push_back(inv->index);
    doc_->invokes.push_back(std::move(inv));
  }

  // ---- executable content ----
  Block buildBlock(const XmlElement& x) {
    Block b;
    for (const XmlElement::Node& n : x.children) {
      if (!n.element) continue;
      if (isVendorNs(n.element->ns, "ws") && n.element->name == "response") {
        b.push_back(buildWsResponse(*n.element));
        continue;
      }
      if (isVendorNs(n.element->ns, "session") &&
          (n.element->name == "start" || n.element->name == "terminate" || n.element->name == "fetch")) {
        b.push_back(buildSessionAction(*n.element));
        continue;
      }
      // The other modules' actions (interaction, queue, dialog, classification ...) are requests
      // to the platform.
      if (std::string_view m = vendorModule(n.element->ns); !m.empty() && m != "session" && m != "ws") {
        b.push_back(buildModuleAction(*n.element, std::string(m)));
        continue;
      }
      if (!isScxml(*n.element)) {
        auto f = std::make_unique<Foreign>();
        f->loc = n.element->loc;
        f->element = std::shared_ptr<const XmlElement>(copyElement(*n.element));
        b.push_back(std::move(f));
        continue;
      }
      if (auto a = buildAction(*n.element)) b.push_back(std::move(a));
    }
    return b;
  }

  std::unique_ptr<Action> buildWsResponse(const XmlElement& x) {
    auto a = std::make_unique<WsResponse>();
    a->loc = x.loc;
    require(x, "requestid");
    a->requestid = exprAttr(x, "requestid");
    a->type = exprAttr(x, "type");
    a->resultcode = exprAttr(x, "resultcode");
    for (const XmlElement::Node& c : x.children) {
      if (!c.element) continue;
      if (c.element->name == "param") a->params.push_back(buildParam(*c.element));
      else error(c.element->loc, "unexpected <" + c.element->name + "> in <response>");
    }
    return a;
  }

  std::unique_ptr<Action> buildSessionAction(const XmlElement& x) {
    auto a = std::make_unique<ExtensionAction>();
    a->loc = x.loc;
    a->module = "session";
    a->name = x.name;
    for (const XmlElement::Attr& at : x.attrs) {
      if (!at.ns.empty()) continue;
      // (Generated documents name the location of a fetch's request id `requestid`.)
      if (at.name == "idlocation" || (at.name == "requestid" && x.name == "fetch")) a->idlocation = expr(at.value, x.loc);
      else a->attrs.emplace_back(at.name, expr(at.value, x.loc));
    }
    auto has = [&](const char* n) {
      for (auto& [k, e] : a->attrs)
        if (k == n) return true;
      return false;
    };
    if (x.name == "start" && !has("src")) error(x.loc, "<session:start> requires 'src'");
    if (x.name == "start" && options_.childDocument) {
      // A literal ('child.scxml') is known before the run.
      for (auto& [k, e] : a->attrs) {
        std::string_view t = e.text;
        while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
        while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
        if (k == "src" && t.size() > 2 && (t.front() == '\'' || t.front() == '"') && t.back() == t.front() &&
            t.substr(1, t.size() - 2).find_first_of("'\"\\") == std::string_view::npos)
          options_.childDocument(resolveUrl(options_.url, std::string(t.substr(1, t.size() - 2))));
      }
    }
    if (x.name == "terminate" && !has("sessionid")) error(x.loc, "<session:terminate> requires 'sessionid'");
    if (x.name == "fetch" && !has("srcexpr") && !has("src")) error(x.loc, "<session:fetch> requires 'src'");
    for (const XmlElement::Node& c : x.children) {
      if (!c.element) continue;
      if (c.element->name == "param") a->params.push_back(buildParam(*c.element));
      else if (c.element->name == "content") a->content = buildContent(*c.element);
      else error(c.element->loc, "unexpected <" + c.element->name + "> in <" + x.name + ">");
    }
    return a;
  }

  // <ixn:redirect>, <queue:submit>, <dialog:play> ...: the vendor's interaction, queue, dialog
  // (and other: classification ...) modules. Each is a request to the telephony side (a routing action on the reply channel,
  // docs/dialect.md) that completes by `<module>.<name>.done` or `error.<module>.<name>`.
  std::unique_ptr<Action> buildModuleAction(const XmlElement& x, std::string module) {
    auto a = std::make_unique<ExtensionAction>();
    a->loc = x.loc;
    a->module = std::move(module);
    a->name = x.name;
    a->valueAttrs = true;
    // `requestid` is where the new request's id goes, except for <queue:cancel> and
    // <queue:query>, whose requestid is the value of the submit they are about.
    bool requestIsValue = a->module == "queue" && (x.name == "cancel" || x.name == "query");
    for (const XmlElement::Attr& at : x.attrs) {
      if (!at.ns.empty()) continue;
      if (at.name == "requestid" && !requestIsValue) a->idlocation = expr(at.value, x.loc);
      else a->attrs.emplace_back(at.name, expr(at.value, x.loc));
    }
    for (const XmlElement::Node& c : x.children) {
      if (!c.element) continue;
      if (isScxml(*c.element) && c.element->name == "param") a->params.push_back(buildParam(*c.element));
      else a->children.push_back(moduleElement(*c.element));
    }
    return a;
  }
  ModuleElement moduleElement(const XmlElement& e) {
    ModuleElement m;
    m.element = e.name;
    for (const XmlElement::Attr& at : e.attrs) {
      if (!at.ns.empty()) continue;
      if (at.name == "type") m.literals.emplace_back(at.name, unquoted(at.value));
      else m.attrs.emplace_back(at.name, expr(at.value, e.loc));
    }
    for (const XmlElement::Node& n : e.children)
      if (n.element) m.children.push_back(moduleElement(*n.element));
    if (!isBlank(e.text())) m.text = e.text();
    return m;
  }
  // An NMTOKEN some write quoted as if it were an expression ('agent').
  static std::string unquoted(const std::string& v) {
    if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"') && v.back() == v.front()) return v.substr(1, v.size() - 2);
    return v;
  }

  static std::unique_ptr<XmlElement> copyElement(const XmlElement& e) {
    auto c = std::make_unique<XmlElement>();
    c->ns = e.ns;
    c->name = e.name;
    c->attrs = e.attrs;
    c->innerMarkup = e.innerMarkup;
    c->loc = e.loc;
    for (const XmlElement::Node& n : e.children)
      c->children.push_back({n.element ? copyElement(*n.element) : nullptr, n.text});
    return c;
  }

  std::unique_ptr<Action> buildAction(const XmlElement& x) {
    const std::string& n = x.name;
    std::unique_ptr<Action> out;
    if (n == "raise") {
      auto a = std::make_unique<Raise>();
      if (require(x, "event")) {
        if (quoted(*x.attr("event"))) a->eventexpr = exprAttr(x, "event");
        else a->event = *x.attr("event");
      }
      for (const XmlElement::Node& c : x.children) {
        if (!c.element || !isScxml(*c.element)) continue;
        if (c.element->name == "param") a->params.push_back(buildParam(*c.element));
        else error(c.element->loc, "unexpected <" + c.element->name + "> in <raise>");
      }
      out = std::move(a);
    } else if (n == "send") {
      auto a = std::make_unique<Send>();
      exclusive(x, "event", "eventexpr");
      exclusive(x, "target", "targetexpr");
      exclusive(x, "type", "typeexpr");
      exclusive(x, "id", "idlocation");
      exclusive(x, "delay", "delayexpr");
      // The vendor's dialect writes expressions where W3C has literals: event="'X.done'",
      // delay="someVar" or delay="'10s'". A quoted event, and a delay that does not start like a
      // duration, are expressions; everything W3C allows keeps its meaning.
      if (const std::string* ev = x.attr("event"); ev && quoted(*ev)) a->eventexpr = exprAttr(x, "event");
      else a->event = strAttr(x, "event");
      if (!a->eventexpr.present()) a->eventexpr = exprAttr(x, "eventexpr");
      a->target = strAttr(x, "target");
      a->targetexpr = exprAttr(x, "targetexpr");
      a->type = strAttr(x, "type");
      a->typeexpr = exprAttr(x, "typeexpr");
      a->id = strAttr(x, "id");
      a->idlocation = exprAttr(x, "idlocation");
      if (const std::string* d = x.attr("delay"); d && !durationLike(*d)) a->delayexpr = exprAttr(x, "delay");
      else a->delay = strAttr(x, "delay");
      if (!a->delayexpr.present()) a->delayexpr = exprAttr(x, "delayexpr");
      a->namelist = namelist(x);
      for (const XmlElement::Node& c : x.children) {
        if (!c.element || !isScxml(*c.element)) continue;
        if (c.element->name == "param") a->params.push_back(buildParam(*c.element));
        else if (c.element->name == "content") a->content = buildContent(*c.element);
        else error(c.element->loc, "unexpected <" + c.element->name + "> in <send>");
      }
      if (a->content.present && (!a->params.empty() || !a->namelist.empty()))
        error(x.loc, "<send> may not have <content> with 'namelist' or <param>");
      if (!a->delay.empty() && a->target == "#_internal")
        error(x.loc, "<send> to '#_internal' may not have a delay");
      out = std::move(a);
    } else if (n == "cancel") {
      auto a = std::make_unique<Cancel>();
      exclusive(x, "sendid", "sendidexpr");
      if (!x.attr("sendid") && !x.attr("sendidexpr")) error(x.loc, "<cancel> requires 'sendid' or 'sendidexpr'");
      // The vendor's dialect: sendid="App_X['requestid']", an expression where W3C has an id.
      if (const std::string* id = x.attr("sendid"); id && !idLike(*id)) a->sendidexpr = exprAttr(x, "sendid");
      else a->sendid = strAttr(x, "sendid");
      if (!a->sendidexpr.present()) a->sendidexpr = exprAttr(x, "sendidexpr");
      out = std::move(a);
    } else if (n == "assign") {
      auto a = std::make_unique<Assign>();
      require(x, "location");
      a->location = exprAttr(x, "location");
      a->expr = exprAttr(x, "expr");
      bool hasChildren = x.hasElementChildren() || !isBlank(x.text());
      if (a->expr.present() && hasChildren) error(x.loc, "<assign> may not have both 'expr' and content");
      if (!a->expr.present()) {
        if (hasChildren) a->content = buildContentBody(x);
        else error(x.loc, "<assign> requires 'expr' or content");
      }
      out = std::move(a);
    } else if (n == "if") {
      auto a = std::make_unique<If>();
      require(x, "cond");
      a->branches.push_back({exprAttr(x, "cond"), {}});
      bool sawElse = false;
      for (const XmlElement::Node& c : x.children) {
        if (!c.element) continue;
        const XmlElement& e = *c.element;
        if (isScxml(e) && (e.name == "elseif" || e.name == "else")) {
          if (sawElse) error(e.loc, "<" + e.name + "> after <else>");
          if (e.name == "else") {
            sawElse = true;
            a->branches.push_back({{}, {}});
          } else {
            require(e, "cond");
            a->branches.push_back({exprAttr(e, "cond"), {}});
          }
          continue;
        }
        if (!isScxml(e)) continue;
        if (auto act = buildAction(e)) a->branches.back().body.push_back(std::move(act));
      }
      out = std::move(a);
    } else if (n == "foreach") {
      auto a = std::make_unique<Foreach>();
      require(x, "array");
      require(x, "item");
      a->array = exprAttr(x, "array");
      a->item = exprAttr(x, "item");
      a->index = exprAttr(x, "index");
      a->body = buildBlock(x);
      out = std::move(a);
    } else if (n == "log") {
      auto a = std::make_unique<Log>();
      a->label = strAttr(x, "label");
      a->expr = exprAttr(x, "expr");
      out = std::move(a);
    } else if (n == "script") {
      auto a = std::make_unique<Script>();
      if (const std::string* src = x.attr("src")) {
        if (!isBlank(x.text())) error(x.loc, "<script> may not have both 'src' and content");
        std::string url = resolveUrl(options_.url, *src);
        Result<std::string> text = options_.loader ? options_.loader(url) : Result<std::string>(Status::error("no loader"));
        if (!text) error(x.loc, "cannot load script '" + *src + "': " + text.status().message());
        else {
          fold(*text);
          a->body = expr(*text, {1, 1});
        }
      } else {
        a->body = expr(x.text(), x.loc);
      }
      out = std::move(a);
    } else {
      error(x.loc, "unexpected <" + n + "> in executable content");
      return nullptr;
    }
    out->loc = x.loc;
    return out;
  }

  // ---- resolution and validation ----
  struct PendingTarget {
    uint32_t owner;  // transition index, or state index for `initial` attributes
    std::string ids;
    SourceLoc loc;
  };

  std::vector<uint32_t> resolveIds(const std::string& ids, SourceLoc loc) {
    std::vector<uint32_t> out;
    for (const std::string& id : splitTokens(ids)) {
      auto it = doc_->stateById.find(id);
      if (it == doc_->stateById.end()) {
        error(loc, "unknown target state '" + id + "'");
        continue;
      }
      out.push_back(it->second);
    }
    return out;
  }

  void resolve() {
    for (const PendingTarget& p : pendingTargets_) doc_->transitions[p.owner].targets = resolveIds(p.ids, p.loc);
    for (const PendingTarget& p : pendingInitial_) {
      uint32_t t = newTransition(p.owner, p.loc);
      doc_->transitions[t].targets = resolveIds(p.ids, p.loc);
      doc_->states[p.owner].initial = t;
      initialElementTransitions_.insert(t);
    }
    for (State& s : doc_->states) {
      if (s.type == StateType::kParallel || s.type == StateType::kFinal) {
        if (!s.atomic && s.type == StateType::kFinal) error(s.loc, "a <final> state may not have child states");
      }
      if ((s.type == StateType::kState || s.type == StateType::kScxml) && !s.atomic && s.initial == kNone) {
        // SCXML 3.6: the default initial state is the first child state in document order.
        for (uint32_t c : s.children) {
          if (doc_->states[c].type == StateType::kHistory) continue;
          uint32_t t = newTransition(s.index, s.loc);
          doc_->transitions[t].targets = {c};
          s.initial = t;
          break;
        }
      }
      if (s.type == StateType::kScxml && s.atomic) error(s.loc, "<scxml> must contain at least one state");
    }
    // Initial transitions: every target must be a proper descendant of the state.
    for (uint32_t t : initialElementTransitions_) {
      const Transition& tr = doc_->transitions[t];
      for (uint32_t target : tr.targets)
        if (!doc_->isDescendant(target, tr.source))
          error(tr.loc, "initial target '" + doc_->states[target].id + "' is not a descendant of '" +
                            stateName(tr.source) + "'");
      if (doc_->states[tr.source].atomic && tr.source != 0)
        error(tr.loc, "an atomic state may not have an initial state");
    }
    for (const State& s : doc_->states) {
      if (s.type != StateType::kHistory) continue;
      for (uint32_t t : s.transitions) {
        const Transition& tr = doc_->transitions[t];
        if (!tr.events.empty() || tr.cond.present()) error(tr.loc, "the transition of a history state may have no 'event' or 'cond'");
        for (uint32_t target : tr.targets) {
          bool ok = s.deepHistory ? doc_->isDescendant(target, s.parent) : doc_->states[target].parent == s.parent;
          if (!ok) error(tr.loc, "history default target '" + doc_->states[target].id + "' is outside the history's parent");
        }
      }
    }
  }

  // SCXML D getTransitionDomain/findLCCA for transitions whose targets are all non-history
  // states: the answer depends on the document only, so the interpreter need not compute it.
  void precomputeDomains() {
    const auto& st = doc_->states;
    auto compoundOrRoot = [&](uint32_t s) { return s == 0 || (!st[s].atomic && st[s].type != StateType::kParallel); };
    for (Transition& t : doc_->transitions) {
      bool history = false;
      for (uint32_t target : t.targets) history = history || st[target].isHistory();
      if (history || t.source == kNone) continue;
      t.staticDomain = true;
      if (t.targets.empty()) continue;  // targetless: no domain
      if (t.source == 0) {
        t.domain = 0;
        continue;
      }
      bool allInside = true;
      for (uint32_t target : t.targets) allInside = allInside && doc_->isDescendant(target, t.source);
      if (t.internal && compoundOrRoot(t.source) && allInside) {
        t.domain = t.source;
        continue;
      }
      t.domain = 0;
      for (uint32_t anc = st[t.source].parent; anc != kNone; anc = st[anc].parent) {
        if (!compoundOrRoot(anc)) continue;
        bool all = true;
        for (uint32_t target : t.targets) all = all && doc_->isDescendant(target, anc);
        if (all) {
          t.domain = anc;
          break;
        }
      }
    }
  }

  std::string stateName(uint32_t s) const { return s == 0 ? std::string("<scxml>") : doc_->states[s].id; }

  const ParseOptions& options_;
  std::vector<Diagnostic>* errors_;
  uint64_t hash_ = kFnvOffset;
  std::shared_ptr<Document> doc_;
  std::string scxmlNs_;
  std::vector<std::string> files_;
  uint32_t nextExprId_ = 0;
  std::vector<PendingTarget> pendingTargets_;
  std::vector<PendingTarget> pendingInitial_;
  std::unordered_set<uint32_t> initialElementTransitions_;
};

}  // namespace

std::string Diagnostic::str() const {
  return file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col) + ": error: " + message;
}

Result<std::string> loadLocalFile(const std::string& url) {
  std::string path = url;
  if (path.rfind("file://", 0) == 0) path = path.substr(7);
  else if (path.rfind("file:", 0) == 0) path = path.substr(5);
  else if (path.find("://") != std::string::npos) return Status::error("only local files can be loaded here: " + url);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string resolveUrl(const std::string& base, const std::string& ref) {
  auto scheme = [](const std::string& s) -> std::string {
    size_t p = s.find(':');
    if (p == std::string::npos || p < 2) return {};  // "C:" style or none
    for (size_t i = 0; i < p; ++i)
      if (!std::isalnum(static_cast<unsigned char>(s[i])) && s[i] != '+' && s[i] != '-' && s[i] != '.') return {};
    return s.substr(0, p);
  };
  std::string refScheme = scheme(ref);
  std::string path = ref;
  if (refScheme == "file") {
    path = ref.substr(5);
    if (path.rfind("//", 0) == 0) return ref;  // file://... is absolute
  } else if (!refScheme.empty()) {
    return ref;  // absolute URL of another scheme
  }
  std::string baseScheme = scheme(base);
  for (char& c : baseScheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (refScheme.empty() && (baseScheme == "http" || baseScheme == "https")) {
    // RFC 3986 section 5.2 against a web address: the dot segments removed, so that servers see
    // the path they serve ("src-gen/../include/lib.js" is "include/lib.js").
    size_t authority = baseScheme.size() + 3;  // after "http://"
    size_t pathStart = std::min(base.find_first_of("/?#", authority), base.size());
    size_t pathEnd = std::min(base.find_first_of("?#", pathStart), base.size());
    if (ref.rfind("//", 0) == 0) return baseScheme + ":" + ref;
    if (!ref.empty() && ref[0] == '#') return base.substr(0, std::min(base.find('#'), base.size())) + ref;
    if (!ref.empty() && ref[0] == '?') return base.substr(0, pathEnd) + ref;
    std::string merged;
    if (!ref.empty() && ref[0] == '/') {
      merged = ref;
    } else {
      std::string basePath = base.substr(pathStart, pathEnd - pathStart);
      merged = basePath.substr(0, basePath.rfind('/') + 1) + ref;
      if (merged.empty() || merged[0] != '/') merged.insert(0, "/");
    }
    size_t tail = merged.find_first_of("?#");
    std::string in = merged.substr(0, tail), out;
    std::vector<std::string> segments;
    size_t at = 1;
    while (at <= in.size()) {
      size_t next = in.find('/', at);
      std::string seg = in.substr(at, next == std::string::npos ? std::string::npos : next - at);
      bool last = next == std::string::npos;
      if (seg == "..") {
        if (!segments.empty()) segments.pop_back();
        if (last) segments.emplace_back();
      } else if (seg == ".") {
        if (last) segments.emplace_back();
      } else {
        segments.push_back(seg);
      }
      at = last ? in.size() + 1 : next + 1;
    }
    for (const std::string& seg : segments) out += "/" + seg;
    if (out.empty()) out = "/";
    return base.substr(0, pathStart) + out + (tail == std::string::npos ? "" : merged.substr(tail));
  }
  if (!path.empty() && path[0] == '/') return refScheme == "file" ? ref : path;
  // Relative: against the folder of base.
  std::string baseDir = base;
  size_t slash = baseDir.rfind('/');
  baseDir = slash == std::string::npos ? std::string() : baseDir.substr(0, slash + 1);
  if (baseDir.rfind("file:", 0) == 0 && baseDir.rfind("file://", 0) != 0) baseDir = baseDir.substr(5);
  return baseDir + path;
}

namespace {

// XInclude, as the vendor's authoring tool assembles documents (docs/dialect.md):
//   <xi:include href="lib.js" parse="text"/> inside <script>: the file's text;
//   <xi:include href="default.scxml" parse="xml" xpointer="_composer_entry" resolveid="defaultWorkflow"/>:
//     the element of that document whose id is the xpointer (the root without one), renamed to
//     the resolveid, with the placeholder $$_MY_PREFIX_$$ in its ids, targets and text replaced by
//     the resolveid; a state so included sets the variable _my_prefix to the same value when it
//     is entered.
// Files come through the document loader (the same document roots and allow-list as src) and
// resolve against the including document; included files may include others (16 deep at most).
constexpr std::string_view kXIncludeNs = "http://www.w3.org/2001/XInclude";
constexpr std::string_view kPrefixPlaceholder = "$$_MY_PREFIX_$$";

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
bool validUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;                        // continuation bytes
    unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c < 0x80) n = 0;
    else if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c == 0xE0) n = 2, lo = 0xA0;
    else if (c == 0xED) n = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) n = 2;
    else if (c == 0xF0) n = 3, lo = 0x90;
    else if (c == 0xF4) n = 3, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) n = 3;
    else return false;
    if (n > 0 && i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

// Text in windows-1252 (ISO-8859-1 where they agree) as UTF-8.
std::string fromWindows1252(std::string_view s) {
  // 0x80-0x9F, where windows-1252 differs from ISO-8859-1 (0: undefined there, kept as in 8859-1)
  static constexpr char16_t kHigh[32] = {
      0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
      0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    char16_t u = c >= 0x80 && c < 0xA0 && kHigh[c - 0x80] ? kHigh[c - 0x80] : c;
    if (u < 0x80) {
      out += static_cast<char>(u);
    } else if (u < 0x800) {
      out += static_cast<char>(0xC0 | (u >> 6));
      out += static_cast<char>(0x80 | (u & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (u >> 12));
      out += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (u & 0x3F));
    }
  }
  return out;
}

// An included text file as UTF-8 (in place): in its `encoding` when given (UTF-8, ISO-8859-1 or
// windows-1252), else UTF-8 when it is valid UTF-8 and windows-1252 when not (libraries written
// on Windows, the authoring tool's home, often are). Why it cannot be read, or empty.
std::string decodeText(std::string& text, std::string encoding) {
  std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (encoding.empty()) encoding = validUtf8(text) ? "utf-8" : "windows-1252";
  if (encoding == "utf-8" || encoding == "utf8") {
    if (!validUtf8(text)) return "not UTF-8 text (encoding=\"utf-8\")";
  } else if (encoding == "windows-1252" || encoding == "cp1252" || encoding == "iso-8859-1" ||
             encoding == "latin1" || encoding == "iso8859-1") {
    text = fromWindows1252(text);
  } else {
    return "unknown encoding '" + encoding + "' (UTF-8, ISO-8859-1 or windows-1252)";
  }
  return {};
}

void replaceAll(std::string& s, std::string_view from, const std::string& to) {
  for (size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
}

void rewritePrefix(XmlElement& e, const std::string& prefix) {
  for (XmlElement::Attr& a : e.attrs) replaceAll(a.value, kPrefixPlaceholder, prefix);
  replaceAll(e.innerMarkup, kPrefixPlaceholder, prefix);
  for (XmlElement::Node& n : e.children) {
    if (n.element) rewritePrefix(*n.element, prefix);
    else replaceAll(n.text, kPrefixPlaceholder, prefix);
  }
}

bool isState(const XmlElement& e) {
  return e.ns == "http://www.w3.org/2005/07/scxml" &&
         (e.name == "state" || e.name == "parallel" || e.name == "final" || e.name == "history");
}

std::string jsString(const std::string& s) {
  std::string q = "'";
  for (char ch : s) {
    if (ch == '\\' || ch == '\'') q += '\\';
    q += ch;
  }
  return q + "'";
}

void collectStateIds(const XmlElement& e, std::unordered_set<std::string>* ids) {
  if (const std::string* id = e.attr("id"); id && isState(e) && id->find(kPrefixPlaceholder) == std::string::npos)
    ids->insert(*id);
  for (const XmlElement::Node& n : e.children)
    if (n.element) collectStateIds(*n.element, ids);
}

void prefixStates(XmlElement& e, const std::string& prefix, const std::unordered_set<std::string>& ids) {
  bool state = isState(e);
  for (XmlElement::Attr& a : e.attrs) {
    if (!a.ns.empty()) continue;
    if (a.name == "id" && state && ids.count(a.value)) {
      a.value = prefix + "." + a.value;
    } else if ((a.name == "target" || a.name == "initial") && e.ns == "http://www.w3.org/2005/07/scxml") {
      std::istringstream in(a.value);
      std::string token, out;
      while (in >> token) out += (out.empty() ? "" : " ") + (ids.count(token) ? prefix + "." + token : token);
      a.value = out;
    }
  }
  for (XmlElement::Node& n : e.children)
    if (n.element) prefixStates(*n.element, prefix, ids);
}

// An element included with resolveid="R", as the vendor reads it: its states are known under the
// prefix (state `X` becomes `R.X`; an id written with the placeholder `$$_MY_PREFIX_$$` has it
// replaced instead), the placeholder becomes R wherever it is written, and a target or initial
// naming one of its states by the bare id follows the state.
void resolveIds(XmlElement& e, const std::string& prefix) {
  std::unordered_set<std::string> ids;
  collectStateIds(e, &ids);
  rewritePrefix(e, prefix);
  prefixStates(e, prefix, ids);
}

std::unique_ptr<XmlElement> takeById(std::unique_ptr<XmlElement>& e, const std::string& id) {
  if (const std::string* v = e->attr("id"); v && *v == id) return std::move(e);
  for (XmlElement::Node& n : e->children)
    if (n.element)
      if (auto found = takeById(n.element, id)) return found;
  return nullptr;
}

class Includer {
 public:
  Includer(const ParseOptions& options, std::vector<Diagnostic>* errors, std::function<void(std::string_view)> fold)
      : options_(options), errors_(errors), fold_(std::move(fold)) {}
  // [0] unused; then every file included, by SourceLoc::file.
  std::vector<std::string>& files() { return files_; }

  // Replaces every xi:include under `e` (a document loaded from `url`).
  void expand(XmlElement& e, const std::string& url, int depth) {
    for (XmlElement::Node& n : e.children) {
      if (!n.element) continue;
      if (n.element->ns != kXIncludeNs) {
        expand(*n.element, url, depth);
        continue;
      }
      const XmlElement& inc = *n.element;
      auto fail = [&](const std::string& why) {
        errors_->push_back({url.empty() ? "<input>" : url, inc.loc, why});
        n.element.reset();
      };
      if (inc.name != "include") {
        fail("unexpected <" + inc.name + "> (XInclude has <include> only)");
        continue;
      }
      const std::string* href = inc.attr("href");
      std::string parse = inc.attr("parse") ? *inc.attr("parse") : "xml";
      if (!href || href->empty()) {
        fail("<include> requires 'href'");
        continue;
      }
      if (parse != "xml" && parse != "text") {
        fail("<include> parse must be 'xml' or 'text', not '" + parse + "'");
        continue;
      }
      if (depth >= 16) {
        fail("includes nested more than 16 deep (a cycle?) at '" + *href + "'");
        continue;
      }
      // (A path written on Windows, "..\include\lib.js", is read as URLs read it: "\" is "/".)
      std::string ref = *href;
      std::replace(ref.begin(), ref.end(), '\\', '/');
      std::string target = resolveUrl(url, ref);
      Result<std::string> text = options_.loader ? options_.loader(target) : Result<std::string>(Status::error("no loader"));
      if (!text) {
        fail("cannot include '" + *href + "': " + text.status().message());
        continue;
      }
      fold_(*text);
      uint16_t file = fileIndex(target);
      if (parse == "text") {
        const std::string* encoding = inc.attr("encoding");
        std::string why = decodeText(*text, encoding ? *encoding : std::string());
        if (!why.empty()) {
          fail("cannot include '" + *href + "': " + why);
          continue;
        }
        n.text = std::move(*text);
        n.element.reset();
        // A script that is just the included file: its code is located in that file.
        bool alone = std::all_of(e.children.begin(), e.children.end(),
                                 [&](const XmlElement::Node& o) { return &o == &n || (!o.element && o.text.find_first_not_of(" \t\r\n") == std::string::npos); });
        if (alone) {
          // (the blank text around the include dropped, so that lines count from the file's first)
          for (XmlElement::Node& o : e.children)
            if (&o != &n) o.text.clear();
          e.loc = SourceLoc{1, 1, file};
        }
        continue;
      }
      XmlError xe;
      std::unique_ptr<XmlElement> root = parseXml(*text, &xe);
      if (!root) {
        errors_->push_back({target, xe.loc, xe.message});
        n.element.reset();
        continue;
      }
      expand(*root, target, depth + 1);
      stamp(*root, file);
      const std::string* xp = inc.attr("xpointer");
      std::unique_ptr<XmlElement> picked = xp ? takeById(root, *xp) : std::move(root);
      if (xp) {
        if (!picked) {
          fail("'" + *href + "' has no element with id '" + *xp + "' (xpointer)");
          continue;
        }
      }
      if (const std::string* prefix = inc.attr("resolveid")) {
        resolveIds(*picked, *prefix);
        if (isState(*picked) && picked->name != "history") {
          // _my_prefix names the include the running code came from: set on entry, given back
          // to the enclosing include's on exit (the placeholder, which that include rewrites).
          auto script = [&](const std::string& name, const std::string& code) {
            auto block = std::make_unique<XmlElement>();
            block->ns = picked->ns;
            block->name = name;
            block->loc = picked->loc;
            auto sc = std::make_unique<XmlElement>();
            sc->ns = picked->ns;
            sc->name = "script";
            sc->loc = picked->loc;
            sc->children.push_back({nullptr, code});
            block->children.push_back({std::move(sc), {}});
            return XmlElement::Node{std::move(block), {}};
          };
          picked->children.insert(picked->children.begin(), script("onentry", "var _my_prefix = " + jsString(*prefix) + ";"));
          picked->children.push_back(
              script("onexit", "var _my_prefix = " + (depth == 0 ? std::string("undefined") : jsString(std::string(kPrefixPlaceholder))) + ";"));
        }
      }
      n.element = std::move(picked);
    }
  }

 private:
  uint16_t fileIndex(const std::string& target) {
    auto it = std::find(files_.begin() + 1, files_.end(), target);
    if (it != files_.end()) return static_cast<uint16_t>(it - files_.begin());
    if (files_.size() >= UINT16_MAX) return 0;
    files_.push_back(target);
    return static_cast<uint16_t>(files_.size() - 1);
  }
  // Marks what came from an included file (elements of files it included keep theirs).
  static void stamp(XmlElement& e, uint16_t file) {
    if (e.loc.file == 0) e.loc.file = file;
    for (XmlElement::Node& n : e.children)
      if (n.element) stamp(*n.element, file);
  }

  std::vector<std::string> files_{std::string()};
  const ParseOptions& options_;
  std::vector<Diagnostic>* errors_;
  std::function<void(std::string_view)> fold_;
};

}  // namespace

ParseResult parseDocument(std::string_view text, const ParseOptions& given) {
  // What it loads is kept with it (storedSource).
  std::vector<std::pair<std::string, std::string>> loaded;
  ParseOptions options = given;
  options.loader = [&loaded, &given](const std::string& url) -> Result<std::string> {
    Result<std::string> text = given.loader ? given.loader(url) : Result<std::string>(Status::error("no loader"));
    if (text) loaded.emplace_back(url, *text);
    return text;
  };
  ParseResult r;
  XmlError xe;
  std::unique_ptr<XmlElement> root = parseXml(text, &xe);
  if (!root) {
    r.errors.push_back({options.url.empty() ? "<input>" : options.url, xe.loc, xe.message});
    return r;
  }
  DocumentBuilder b(options, &r.errors);
  b.fold(text);
  Includer includer(options, &r.errors, [&b](std::string_view t) { b.fold(t); });
  includer.expand(*root, options.url, 0);
  if (!r.errors.empty()) return r;
  b.setFiles(includer.files());
  std::shared_ptr<Document> doc = b.build(*root);
  if (doc) {
    doc->source = std::string(text);
    doc->files = std::move(includer.files());
    doc->loaded = std::move(loaded);
  }
  if (r.errors.empty()) r.document = std::move(doc);
  return r;
}

ParseResult loadDocument(const std::string& url, ParseOptions options) {
  options.url = url;
  Result<std::string> text = options.loader(url);
  if (!text) {
    ParseResult r;
    r.errors.push_back({url, {0, 0}, text.status().message()});
    return r;
  }
  return parseDocument(*text, options);
}

namespace {
constexpr std::string_view kBundleMark = "ors-bundle 1\n";
}  // namespace

std::string storedSource(const Document& doc) {
  if (doc.loaded.empty()) return doc.source;
  boost::json::array files;
  for (const auto& [url, text] : doc.loaded) files.push_back(boost::json::array{boost::json::string(url), boost::json::string(text)});
  return std::string(kBundleMark) + boost::json::serialize(boost::json::object{{"main", doc.source}, {"files", std::move(files)}});
}

ParseResult parseStored(std::string_view stored, const ParseOptions& options) {
  if (stored.substr(0, kBundleMark.size()) != kBundleMark) return parseDocument(stored, options);
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.allow_invalid_utf8 = true;  // documents in other encodings than UTF-8 are stored as they are
  boost::json::value v = boost::json::parse(stored.substr(kBundleMark.size()), ec, {}, opts);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  const boost::json::value* main = o ? o->if_contains("main") : nullptr;
  const boost::json::value* files = o ? o->if_contains("files") : nullptr;
  if (!main || !main->is_string() || !files || !files->is_array()) {
    ParseResult r;
    r.errors.push_back({options.url, SourceLoc{}, "a stored document that is not readable"});
    return r;
  }
  std::map<std::string, std::string> texts;
  for (const boost::json::value& f : files->as_array())
    if (f.is_array() && f.as_array().size() == 2 && f.as_array()[0].is_string() && f.as_array()[1].is_string())
      texts[std::string(f.as_array()[0].as_string())] = std::string(f.as_array()[1].as_string());
  ParseOptions po = options;
  po.loader = [&texts, &options](const std::string& url) -> Result<std::string> {
    if (auto it = texts.find(url); it != texts.end()) return it->second;
    return options.loader ? options.loader(url) : Result<std::string>(Status::error("no loader"));
  };
  return parseDocument(std::string_view(main->as_string()), po);
}

}  // namespace ors::scxml
