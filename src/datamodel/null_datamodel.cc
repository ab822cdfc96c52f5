// The null datamodel (SCXML B.1): no data; the only expression is the In() predicate in conditions.
#include <cctype>

#include "datamodel/datamodel.h"

namespace ors::dm {

namespace {

class NullDataModel final : public DataModel {
 public:
  explicit NullDataModel(Host& host) : host_(host) {}

  void setSystemVariables(const std::string&, const std::string&, const Value&) override {}
  void declareData(const scxml::Data&) override {}
  Status initData(const scxml::Data&) override { return unsupported("<data>"); }
  void setEvent(const scxml::Event&) override {}

  // B.1: a condition is "In('stateid')" (quotes single or double), nothing else.
  Result<bool> evalCond(const Expr& cond) override {
    std::string_view s = cond.text;
    auto trim = [](std::string_view v) {
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
      return v;
    };
    s = trim(s);
    if (s.substr(0, 2) != "In") return unsupported("expression '" + cond.text + "'");
    s = trim(s.substr(2));
    if (s.size() < 4 || s.front() != '(' || s.back() != ')') return unsupported("expression '" + cond.text + "'");
    s = trim(s.substr(1, s.size() - 2));
    if (s.size() < 2 || (s.front() != '\'' && s.front() != '"') || s.back() != s.front())
      return unsupported("expression '" + cond.text + "'");
    return host_.isInState(s.substr(1, s.size() - 2));
  }
  Result<Value> evalValue(const Expr& e) override { return unsupported("expression '" + e.text + "'"); }
  Result<std::string> evalString(const Expr& e) override { return unsupported("expression '" + e.text + "'"); }
  Status assign(const Expr&, const Expr&) override { return unsupported("<assign>"); }
  Status assignValue(const Expr&, const Value&) override { return unsupported("locations"); }
  Status execScript(const Expr&) override { return unsupported("<script>"); }
  Status forEach(const Expr&, const Expr&, const Expr&, const std::function<Status()>&) override {
    return unsupported("<foreach>");
  }
  Result<std::string> snapshot() override { return std::string("null"); }
  Status restore(std::string_view) override { return Status::ok(); }

 private:
  static Status unsupported(const std::string& what) {
    return Status::error("the null datamodel does not support " + what);
  }
  Host& host_;
};

class NullEngine final : public Engine {
 public:
  std::unique_ptr<DataModel> create(const scxml::Document&, Host& host) override {
    return std::make_unique<NullDataModel>(host);
  }
};

}  // namespace

std::unique_ptr<Engine> makeNullEngine() { return std::make_unique<NullEngine>(); }

}  // namespace ors::dm
