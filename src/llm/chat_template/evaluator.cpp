#include "llm/chat_template/evaluator.h"

#include <map>
#include <unordered_map>

#include "coreml/error.h"
#include "llm/chat_template/builtins.h"

namespace coreml::llm::jinja {
namespace {

constexpr int kMaxCallDepth = 64;
constexpr int64_t kMaxRange = 100000;  // jinja2's sandbox MAX_RANGE

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;

  const Value* find(const std::string& name) const {
    for (const Frame* f = this; f; f = f->parent.get()) {
      auto it = f->vars.find(name);
      if (it != f->vars.end()) return &it->second;
    }
    return nullptr;
  }
};
using FramePtr = std::shared_ptr<Frame>;

enum class Flow { kNormal, kBreak, kContinue };

class Evaluator {
 public:
  Evaluator(const RenderContext& context) : context_(context) {
    root_ = std::make_shared<Frame>();
    install_globals();
    for (const auto& [k, v] : context.variables.dict->items) root_->vars[to_str(k)] = v;
  }

  std::string run(const Body& program) {
    reset_work_budget();
    std::string out;
    struct CycleBreaker {
      ~CycleBreaker() {
        for (auto& weak : self.mutable_dicts_) {
          if (auto d = weak.lock()) d->items.clear();
        }
        self.root_->vars.clear();
      }
      Evaluator& self;
    } breaker{*this};
    try {
      exec_body(program, root_, out);
    } catch (const RenderError& e) {
      if (e.from_template) throw Error(e.what(), ErrorCode::kInvalidArgument);
      fail(ErrorCode::kInvalidArgument, "chat template line ", line_, ": ", e.what());
    }
    return out;
  }

 private:
  void install_globals() {
    root_->vars["range"] = Value::from_function("range", [](CallArgs& a) {
      int64_t start = 0, stop = 0, step = 1;
      auto as_int = [](const Value& v) {
        if (v.kind == Kind::kInt) return v.integer;
        if (v.kind == Kind::kBool) return static_cast<int64_t>(v.boolean);
        raise(detail::cat("'", type_name(v), "' object cannot be interpreted as an integer"));
      };
      if (a.positional.size() == 1) {
        stop = as_int(a.positional[0]);
      } else if (a.positional.size() == 2 || a.positional.size() == 3) {
        start = as_int(a.positional[0]);
        stop = as_int(a.positional[1]);
        if (a.positional.size() == 3) step = as_int(a.positional[2]);
      } else {
        raise("range expected 1 to 3 arguments");
      }
      if (step == 0) raise("range() arg 3 must not be zero");
      List items;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (static_cast<int64_t>(items.size()) >= kMaxRange) {
          raise("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
        }
        items.push_back(Value::from_int(i));
      }
      return Value::from_list(std::move(items));
    });
    auto make_namespace = [this](bool is_namespace) {
      return [this, is_namespace](CallArgs& a) {
        Value d = Value::new_dict();
        d.is_namespace = is_namespace;
        if (is_namespace) mutable_dicts_.push_back(d.dict);
        for (const auto& p : a.positional) {
          if (!p.is_dict()) raise("namespace/dict expects a mapping or keyword arguments");
          for (const auto& [k, v] : p.dict->items) d.dict->set(k, v);
        }
        for (const auto& [k, v] : a.keyword) d.dict->set(Value::from_string(k), v);
        return d;
      };
    };
    root_->vars["namespace"] = Value::from_function("namespace", make_namespace(true));
    root_->vars["dict"] = Value::from_function("dict", make_namespace(false));
    root_->vars["raise_exception"] = Value::from_function("raise_exception", [](CallArgs& a) {
      throw RenderError(to_str(a.get(0, "message")), true);
      return Value::none();
    });
    std::optional<std::time_t> now = context_.now;
    root_->vars["strftime_now"] = Value::from_function("strftime_now", [now](CallArgs& a) {
      std::time_t t = now ? *now : std::time(nullptr);
      std::tm tm{};
      if (now) {
        gmtime_r(&t, &tm);
      } else {
        localtime_r(&t, &tm);
      }
      std::string format = to_str(a.get(0, "format"));
      char buf[512];
      size_t n = format.size() < 200 ? std::strftime(buf, sizeof buf, format.c_str(), &tm) : 0;
      return Value::from_string(std::string(buf, n));
    });
  }

  void write(std::string& out, const std::string& s) {
    if (out.size() + s.size() > Limits::kMaxOutputBytes) raise("output too large (over 64 MiB)");
    out += s;
  }

  Flow exec_body(const Body& body, const FramePtr& frame, std::string& out) {
    for (const auto& stmt : body) {
      Flow flow = exec(*stmt, frame, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow exec(const Stmt& s, const FramePtr& frame, std::string& out) {
    line_ = s.line;
    charge_work();
    switch (s.kind) {
      case StmtKind::kText: write(out, s.text); return Flow::kNormal;
      case StmtKind::kPrint: {
        Value v = eval(*s.expr, frame);
        write(out, to_str(v));
        return Flow::kNormal;
      }
      case StmtKind::kIf:
        for (const auto& [condition, body] : s.branches) {
          if (truthy(eval(*condition, frame))) return exec_body(body, frame, out);
        }
        return exec_body(s.else_body, frame, out);
      case StmtKind::kFor: return exec_for(s, frame, out);
      case StmtKind::kSet: exec_set(s, frame); return Flow::kNormal;
      case StmtKind::kMacro: define_macro(s, frame); return Flow::kNormal;
      case StmtKind::kBreak: return Flow::kBreak;
      case StmtKind::kContinue: return Flow::kContinue;
      case StmtKind::kFilterBlock: {
        std::string inner;
        auto scope = std::make_shared<Frame>();
        scope->parent = frame;
        exec_body(s.body, scope, inner);
        write(out, to_str(apply_filter_chain(*s.expr, Value::from_string(inner), frame)));
        return Flow::kNormal;
      }
      case StmtKind::kScope: {
        auto scope = std::make_shared<Frame>();
        scope->parent = frame;
        for (const auto& [name, expr] : s.assignments) scope->vars[name] = eval(*expr, frame);
        return exec_body(s.body, scope, out);
      }
    }
    return Flow::kNormal;
  }

  void assign(const FramePtr& frame, const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) {
      frame->vars[targets[0]] = v;
      return;
    }
    List items = iterate(v);
    if (items.size() != targets.size()) {
      raise(detail::cat("cannot unpack ", items.size(), " values into ", targets.size(), " names"));
    }
    for (size_t i = 0; i < targets.size(); ++i) frame->vars[targets[i]] = items[i];
  }

  Flow exec_for(const Stmt& s, const FramePtr& frame, std::string& out) {
    Value iterable = eval(*s.expr, frame);
    List all = iterate(iterable);
    List items;
    if (s.condition) {
      for (const auto& item : all) {
        auto scope = std::make_shared<Frame>();
        scope->parent = frame;
        assign(scope, s.targets, item);
        if (truthy(eval(*s.condition, scope))) items.push_back(item);
      }
    } else {
      items = std::move(all);
    }
    if (items.empty()) {
      exec_body(s.else_body, frame, out);
      return Flow::kNormal;
    }
    int64_t length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      charge_work();
      auto scope = std::make_shared<Frame>();
      scope->parent = frame;
      Value loop = Value::new_dict();
      loop.is_namespace = true;
      mutable_dicts_.push_back(loop.dict);
      auto set = [&](const char* k, Value v) {
        loop.dict->set(Value::from_string(k), std::move(v));
      };
      set("index", Value::from_int(i + 1));
      set("index0", Value::from_int(i));
      set("revindex", Value::from_int(length - i));
      set("revindex0", Value::from_int(length - i - 1));
      set("first", Value::from_bool(i == 0));
      set("last", Value::from_bool(i == length - 1));
      set("length", Value::from_int(length));
      set("depth", Value::from_int(1));
      set("depth0", Value::from_int(0));
      set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
      set("nextitem", i + 1 < length ? items[i + 1] : Value::undefined("there is no next item"));
      set("cycle", Value::from_function("cycle", [i](CallArgs& a) {
            if (a.positional.empty()) raise("no items for cycling given");
            return a.positional[static_cast<size_t>(i) % a.positional.size()];
          }));
      scope->vars["loop"] = loop;
      assign(scope, s.targets, items[static_cast<size_t>(i)]);
      Flow flow = exec_body(s.body, scope, out);
      if (flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  void exec_set(const Stmt& s, const FramePtr& frame) {
    Value v;
    if (s.expr) {
      v = eval(*s.expr, frame);
    } else {
      std::string inner;
      auto scope = std::make_shared<Frame>();
      scope->parent = frame;
      exec_body(s.body, scope, inner);
      v = Value::from_string(inner);
      if (s.condition) v = apply_filter_chain(*s.condition, v, frame);
    }
    if (!s.attribute.empty()) {
      const Value* target = frame->find(s.targets[0]);
      if (!target || !target->is_dict() || !target->is_namespace) {
        raise("cannot assign attribute on non-namespace object");
      }
      target->dict->set(Value::from_string(s.attribute), v);
      return;
    }
    assign(frame, s.targets, v);
  }

  void define_macro(const Stmt& s, const FramePtr& frame) {
    const Stmt* macro = &s;
    std::weak_ptr<Frame> defining = frame;
    frame->vars[s.text] = Value::from_function(s.text, [this, macro, defining](CallArgs& a) {
      if (call_depth_ >= kMaxCallDepth) raise("macro recursion too deep");
      auto scope = std::make_shared<Frame>();
      scope->parent = defining.lock();
      if (!scope->parent) scope->parent = root_;
      if (a.positional.size() > macro->targets.size()) {
        raise(detail::cat("macro '", macro->text, "' takes not more than ", macro->targets.size(),
                          " argument(s)"));
      }
      for (size_t i = 0; i < macro->targets.size(); ++i) {
        const std::string& param = macro->targets[i];
        if (i < a.positional.size()) {
          scope->vars[param] = a.positional[i];
          continue;
        }
        bool found = false;
        for (const auto& [k, v] : a.keyword) {
          if (k == param) {
            scope->vars[param] = v;
            found = true;
          }
        }
        if (!found) {
          scope->vars[param] =
              macro->defaults[i]
                  ? eval(*macro->defaults[i], scope)
                  : Value::undefined(detail::cat("parameter '", param, "' was not provided"));
        }
      }
      for (const auto& [k, v] : a.keyword) {
        bool known = false;
        for (const auto& p : macro->targets) known = known || p == k;
        if (!known)
          raise(detail::cat("macro '", macro->text, "' takes no keyword argument '", k, "'"));
      }
      int saved_line = line_;
      ++call_depth_;
      std::string out;
      exec_body(macro->body, scope, out);
      --call_depth_;
      line_ = saved_line;
      return Value::from_string(out);
    });
  }

  CallArgs eval_args(const Expr& e, size_t first, const FramePtr& frame) {
    CallArgs args;
    size_t keyword_start = e.children.size() - e.keywords.size();
    for (size_t i = first; i < e.children.size(); ++i) {
      Value v = eval(*e.children[i], frame);
      if (i < keyword_start) {
        args.positional.push_back(std::move(v));
      } else {
        args.keyword.emplace_back(e.keywords[i - keyword_start], std::move(v));
      }
    }
    return args;
  }

  // A filter chain parsed with a null innermost input (block set / filter block).
  Value apply_filter_chain(const Expr& e, const Value& input, const FramePtr& frame) {
    Value inner = e.children[0] ? apply_filter_chain(*e.children[0], input, frame) : input;
    CallArgs args = eval_args(e, 1, frame);
    line_ = e.line;
    return apply_filter(e.name, inner, args);
  }

  Value eval(const Expr& e, const FramePtr& frame) {
    line_ = e.line;
    switch (e.kind) {
      case ExprKind::kLiteral: return e.value;
      case ExprKind::kName: {
        const Value* v = frame->find(e.name);
        return v ? *v : Value::undefined(detail::cat("'", e.name, "' is undefined"));
      }
      case ExprKind::kList:
      case ExprKind::kTuple: {
        List items;
        for (const auto& c : e.children) items.push_back(eval(*c, frame));
        return Value::from_list(std::move(items), e.kind == ExprKind::kTuple);
      }
      case ExprKind::kDict: {
        Value d = Value::new_dict();
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          Value key = eval(*e.children[i], frame);
          if (key.is_list() && !key.is_tuple) raise("unhashable type: 'list'");
          if (key.is_dict()) raise("unhashable type: 'dict'");
          d.dict->set(key, eval(*e.children[i + 1], frame));
        }
        return d;
      }
      case ExprKind::kGetAttr: return get_attribute(eval(*e.children[0], frame), e.name);
      case ExprKind::kGetItem: {
        Value object = eval(*e.children[0], frame);
        Value key = eval(*e.children[1], frame);
        line_ = e.line;
        return get_item(object, key);
      }
      case ExprKind::kSlice: {
        Value object = eval(*e.children[0], frame);
        Value parts[3];
        for (int i = 0; i < 3; ++i) {
          parts[i] = e.children[i + 1] ? eval(*e.children[i + 1], frame) : Value::none();
        }
        return slice(object, parts[0], parts[1], parts[2]);
      }
      case ExprKind::kCall: {
        Value callee = eval(*e.children[0], frame);
        CallArgs args = eval_args(e, 1, frame);
        line_ = e.line;
        return call_function(callee, args);
      }
      case ExprKind::kFilter: {
        if (e.name == "default" || e.name == "d") {
          // Evaluate lazily enough that an undefined input is not an error.
          Value input = eval(*e.children[0], frame);
          CallArgs args = eval_args(e, 1, frame);
          return apply_filter(e.name, input, args);
        }
        Value input = eval(*e.children[0], frame);
        CallArgs args = eval_args(e, 1, frame);
        line_ = e.line;
        return apply_filter(e.name, input, args);
      }
      case ExprKind::kTest: {
        Value input = eval(*e.children[0], frame);
        CallArgs args = eval_args(e, 1, frame);
        line_ = e.line;
        bool result = apply_test(e.name, input, args);
        return Value::from_bool(result != e.negated);
      }
      case ExprKind::kUnary: {
        Value v = eval(*e.children[0], frame);
        if (e.name == "not") return Value::from_bool(!truthy(v));
        line_ = e.line;
        if (e.name == "-") return binary_op("-", Value::from_int(0), v);
        return binary_op("+", Value::from_int(0), v);
      }
      case ExprKind::kBinary: {
        Value left = eval(*e.children[0], frame);
        if (e.name == "and") return truthy(left) ? eval(*e.children[1], frame) : left;
        if (e.name == "or") return truthy(left) ? left : eval(*e.children[1], frame);
        Value right = eval(*e.children[1], frame);
        line_ = e.line;
        return binary_op(e.name, left, right);
      }
      case ExprKind::kCompare: {
        Value left = eval(*e.children[0], frame);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.children[i + 1], frame);
          line_ = e.line;
          const std::string& op = e.ops[i];
          bool ok;
          if (op == "==") {
            ok = equals(left, right);
          } else if (op == "!=") {
            ok = !equals(left, right);
          } else if (op == "in") {
            ok = contains(right, left);
          } else if (op == "notin") {
            ok = !contains(right, left);
          } else {
            if (left.is_undefined()) fail_undefined(left);
            if (right.is_undefined()) fail_undefined(right);
            if (op == "<")
              ok = less_than(left, right);
            else if (op == ">")
              ok = less_than(right, left);
            else if (op == "<=")
              ok = !less_than(right, left);
            else
              ok = !less_than(left, right);
          }
          if (!ok) return Value::from_bool(false);
          left = std::move(right);
        }
        return Value::from_bool(true);
      }
      case ExprKind::kCondition: {
        if (truthy(eval(*e.children[1], frame))) return eval(*e.children[0], frame);
        if (e.children[2]) return eval(*e.children[2], frame);
        return Value::undefined(
            "the inline if-expression evaluated to false and no else section was defined.");
      }
    }
    return Value::undefined();
  }

  const RenderContext& context_;
  FramePtr root_;
  // Namespaces can be made to hold themselves; emptying them at the end breaks such cycles.
  std::vector<std::weak_ptr<Dict>> mutable_dicts_;
  int line_ = 0;
  int call_depth_ = 0;
};

}  // namespace

std::string render(const Body& program, const RenderContext& context) {
  return Evaluator(context).run(program);
}

}  // namespace coreml::llm::jinja
