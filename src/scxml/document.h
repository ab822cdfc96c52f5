// The typed SCXML document model: plain structs built by the parser (parser.h), checked by its
// validation pass, then immutable and shared by every session of the document (any thread may read).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/json/array.hpp>

namespace ors::scxml {

struct SourceLoc {
  uint32_t line = 0;
  uint32_t col = 0;
  uint16_t file = 0;  // 0: the document itself; else Document::files[file], a file it included
};

inline constexpr uint32_t kNone = UINT32_MAX;

// A value expression, condition, location or script body as written in the document.
// `id` numbers it within its document (0..Document::exprCount-1), so that a datamodel can
// compile it once per document and keep the compiled form in a table indexed by `id`.
struct Expr {
  std::string text;
  uint32_t id = kNone;
  SourceLoc loc;
  bool present() const { return id != kNone; }
};

struct Document;

// <param name= expr=|location=>
struct Param {
  std::string name;
  Expr expr;  // the expression, or the location when written as location=
  SourceLoc loc;
};

// <content expr=> or <content>inline</content>. `body` is the literal text (markup re-serialised);
// `document` is set when the inline content is an <scxml> element (used by <invoke>).
struct Content {
  bool present = false;
  Expr expr;
  std::string body;
  std::shared_ptr<const Document> document;
};

// ---- Executable content (SCXML 4) ----------------------------------------------------------
struct Action {
  enum class Kind : uint8_t { kRaise, kSend, kCancel, kAssign, kIf, kForeach, kLog, kScript, kForeign, kWsResponse, kExtension };
  explicit Action(Kind k) : kind(k) {}
  virtual ~Action() = default;
  Kind kind;
  SourceLoc loc;
};
using Block = std::vector<std::unique_ptr<Action>>;

struct Raise : Action {
  Raise() : Action(Kind::kRaise) {}
  std::string event;
  Expr eventexpr;             // the vendor's dialect: event="'name'" (a quoted expression)
  std::vector<Param> params;  // the vendor's dialect: <param> children give the event's data
};

struct Send : Action {
  Send() : Action(Kind::kSend) {}
  std::string event, target, type, id, delay;
  Expr eventexpr, targetexpr, typeexpr, idlocation, delayexpr;
  std::vector<Expr> namelist;  // locations
  std::vector<Param> params;
  Content content;
};

struct Cancel : Action {
  Cancel() : Action(Kind::kCancel) {}
  std::string sendid;
  Expr sendidexpr;
};

struct Assign : Action {
  Assign() : Action(Kind::kAssign) {}
  Expr location;
  Expr expr;         // absent when the value is child content
  Content content;   // child content (present=true when used)
};

struct If : Action {
  If() : Action(Kind::kIf) {}
  struct Branch {
    Expr cond;  // absent for <else>
    Block body;
  };
  std::vector<Branch> branches;  // <if>, then each <elseif>/<else>, in order
};

struct Foreach : Action {
  Foreach() : Action(Kind::kForeach) {}
  Expr array, item, index;  // item/index are locations; index may be absent
  Block body;
};

struct Log : Action {
  Log() : Action(Kind::kLog) {}
  std::string label;
  Expr expr;
};

struct Script : Action {
  Script() : Action(Kind::kScript) {}
  Expr body;  // inline text, or the text fetched from src at load time
};

struct XmlElement;
// An element of another namespace inside executable content, kept for extensions (the vendor's
// session:, ws: ... actions). The core interpreter skips it (SCXML 4.1 allows this).
struct Foreign : Action {
  Foreign() : Action(Kind::kForeign) {}
  std::shared_ptr<const XmlElement> element;
};

// The vendor's <ws:response requestid= type= resultcode=><param/></ws:response> (namespace
// www.genesyslab.com/modules/ws, with or without http://): answers an HTTP request event.
// Every attribute is a value expression.
struct WsResponse : Action {
  WsResponse() : Action(Kind::kWsResponse) {}
  Expr requestid, type, resultcode;
  std::vector<Param> params;
};

// An element nested in a module action (<queue:targets>, <queue:target>, <dialog:prompts>,
// <dialog:input> ...), as the vendor documents them: attributes are value expressions, except
// `type`, an NMTOKEN written bare (`<queue:target name="'AG1'" type="agentgroup"/>`).
struct ModuleElement {
  std::string element;
  std::vector<std::pair<std::string, Expr>> attrs;
  std::vector<std::pair<std::string, std::string>> literals;
  std::string text;
  std::vector<ModuleElement> children;
};

// The vendor's asynchronous session actions, <session:start>, <session:terminate> and
// <session:fetch> (namespace www.genesyslab.com/modules/session, with or without http://). Every
// attribute is a value expression except `idlocation`, a location that receives the id of what
// was started (the new session's id, or the fetch's request id). They complete by event.
struct ExtensionAction : Action {
  ExtensionAction() : Action(Kind::kExtension) {}
  std::string module, name;                          // "session", "start" | "terminate" | "fetch"; "queue", "submit" ...
  std::vector<std::pair<std::string, Expr>> attrs;   // by attribute name
  Expr idlocation;                                   // session: idlocation; interaction/queue/dialog: requestid
  std::vector<Param> params;
  Content content;
  // Other modules' actions (interaction, queue, dialog ...): attributes are values (objects too, e.g. a resource), and
  // nested elements (queue:targets, dialog:prompts ...) go along evaluated, as
  // [{"element", "attrs": {name: value}, "text", "children": [...]}] under "children".
  bool valueAttrs = false;
  std::vector<ModuleElement> children;
};

// ---- Structure -----------------------------------------------------------------------------
struct Data {
  std::string id;
  Expr location;     // `id` as a location, for values the starter gives (invoke params, HTTP start)
  Expr expr;         // expr=, or the inline/src content parsed as an expression (JSON, literal)
  Content content;   // inline children or text loaded from src (when no expr)
  std::string loadError;  // set when src= could not be loaded: init raises error.execution
  SourceLoc loc;
};

struct Invoke {
  uint32_t index = kNone;  // within Document::invokes
  std::string type, src, id;
  Expr typeexpr, srcexpr, idlocation;
  std::vector<Expr> namelist;
  bool autoforward = false;
  std::vector<Param> params;
  Content content;
  Block finalize;
  SourceLoc loc;
};

struct DoneData {
  bool present = false;
  Content content;
  std::vector<Param> params;
};

enum class StateType : uint8_t { kScxml, kState, kParallel, kFinal, kHistory };

struct State {
  uint32_t index = kNone;  // document (pre-)order; 0 is the <scxml> root
  std::string id;          // generated ("$N") when the document gives none
  StateType type = StateType::kState;
  bool deepHistory = false;  // for kHistory
  uint32_t parent = kNone;
  uint32_t depth = 0;
  std::vector<uint32_t> children;     // child states (state, parallel, final, history) in order
  std::vector<uint32_t> transitions;  // in document order (for history: its default transition)
  uint32_t initial = kNone;           // compound and root: the initial transition
  std::vector<Block> onentry, onexit; // one Block per <onentry>/<onexit> element
  std::vector<uint32_t> invokes;     // indices into Document::invokes
  std::vector<Data> data;
  DoneData donedata;
  SourceLoc loc;
  uint32_t lastDescendant = 0;        // highest index in this subtree (descendant test in O(1))

  bool isHistory() const { return type == StateType::kHistory; }
  bool isFinal() const { return type == StateType::kFinal; }
  bool isParallel() const { return type == StateType::kParallel; }
  // SCXML 3.3: atomic = no child <state>, <parallel> or <final> (history children don't count).
  bool atomic = true;
  // Its own content (onentry, onexit, its transitions', invokes' finalize) has a <script>: in a
  // Document::vendor, the `var`s such a script declares are this state's.
  bool scripted = false;
  bool isAtomic() const { return atomic; }
  bool isCompound() const { return !atomic && type != StateType::kParallel; }
};

struct Transition {
  uint32_t index = kNone;
  uint32_t source = kNone;
  std::vector<std::string> events;  // normalised descriptors: no trailing ".*"/"."; "*" = any
  Expr cond;
  std::vector<uint32_t> targets;
  bool internal = false;  // type="internal"
  Block actions;
  SourceLoc loc;
  // SCXML D getTransitionDomain, precomputed when no target is a history state (then it does not
  // depend on the configuration): kNone for a targetless transition.
  bool staticDomain = false;
  uint32_t domain = kNone;
  bool eventless() const { return events.empty(); }
};

struct Document {
  std::string name;
  std::string datamodel;   // "ecmascript", "null", ...
  bool lateBinding = false;
  // Written in the vendor's dialect (profile= rather than datamodel=, docs/dialect.md), so run
  // with the vendor's semantics where they differ from W3C's: a script's `var`s belong to the
  // state it runs in, seen by its descendants, gone when it is left; <cancel> completes by
  // cancel.successful or error.notallowed. W3C documents keep W3C's.
  bool vendor = false;
  std::string url;         // where it was loaded from ("" for inline); base for relative src
  std::vector<std::string> files;  // [0] unused; the files it included, by SourceLoc::file
  // Every file compiling it loaded (includes, <script src>, <data src>): (URL, text).
  std::vector<std::pair<std::string, std::string>> loaded;
  // The file a location is in: `url`, or a file the document included.
  const std::string& fileOf(const SourceLoc& loc) const {
    return loc.file != 0 && loc.file < files.size() ? files[loc.file] : url;
  }
  uint64_t uid = 0;        // unique per compiled document in the process (datamodel caches key on it)
  std::string hash;        // of the text it was built from, loaded scripts and data included (16 hex)
  std::string source;      // that text (stores keep it, so that sessions outlive changes to the file)
  uint32_t exprCount = 0;  // Expr ids are 0..exprCount-1
  std::vector<State> states;  // [0] is the root
  std::vector<Transition> transitions;
  std::vector<std::unique_ptr<Invoke>> invokes;  // all <invoke> in document order
  Block script;            // top-level <script> elements, run once after datamodel init
  std::unordered_map<std::string, uint32_t> stateById;

  bool isDescendant(uint32_t s, uint32_t ancestor) const {
    return s > ancestor && s <= states[ancestor].lastDescendant;
  }
};

// True if the event name matches one of a transition's descriptors (SCXML 3.12.1).
bool nameMatch(const std::vector<std::string>& descriptors, std::string_view name);

}  // namespace ors::scxml
