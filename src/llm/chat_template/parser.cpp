#include "llm/chat_template/parser.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <set>

#include "coreml/error.h"
#include "llm/chat_template/builtins.h"
#include "llm/chat_template/lexer.h"

namespace coreml::llm::jinja {
namespace {

constexpr int kMaxNesting = 100;  // expression and block nesting; keeps recursion shallow
// Height of any expression tree. Chains (a + b + ..., x.a.b..., x[0][0]..., x | f | g ...) are
// parsed in loops that DepthGuard never sees, yet each link is one more level for the
// evaluator and the destructor to recurse through.
constexpr int kMaxExpressionHeight = 256;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse_all() {
    Body body = parse_body({});
    if (peek().type != TokenType::kEnd) {
      // parse_body stops only at an end tag it was asked for or at the end of input.
      error(detail::cat("unexpected '", tokens_[pos_ + 1].text, "'"));
    }
    return body;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxNesting) parser.error("template nests too deeply");
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  // Every child is attached here, so no tree grows taller than kMaxExpressionHeight.
  void attach(Expr& parent, ExprPtr child) {
    if (child) {
      parent.height = std::max(parent.height, child->height + 1);
      if (parent.height > kMaxExpressionHeight) {
        error(detail::cat("expression nested or chained more than ", kMaxExpressionHeight,
                          " levels deep"));
      }
    }
    parent.children.push_back(std::move(child));
  }

  const Token& peek(size_t ahead = 0) const {
    size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  [[noreturn]] void error(const std::string& what) const {
    fail(ErrorCode::kParse, "chat template line ", peek().line, ": ", what);
  }
  bool is_op(const char* op, size_t ahead = 0) const {
    return peek(ahead).type == TokenType::kOperator && peek(ahead).text == op;
  }
  bool is_name(const char* name, size_t ahead = 0) const {
    return peek(ahead).type == TokenType::kName && peek(ahead).text == name;
  }
  void expect_op(const char* op) {
    if (!is_op(op)) error(detail::cat("expected '", op, "', got ", describe(peek())));
    next();
  }
  std::string expect_name() {
    if (peek().type != TokenType::kName)
      error(detail::cat("expected a name, got ", describe(peek())));
    return next().text;
  }
  void expect_block_end(const std::string& after) {
    if (peek().type != TokenType::kBlockEnd) {
      error(detail::cat("expected '%}' after '", after, "', got ", describe(peek())));
    }
    next();
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::kEnd: return "end of template";
      case TokenType::kBlockEnd: return "'%}'";
      case TokenType::kPrintEnd: return "'}}'";
      case TokenType::kString: return "a string";
      default: return "'" + t.text + "'";
    }
  }

  // ---- statements ----------------------------------------------------------------------

  // Parses until a block tag whose name is in `ends` (left unconsumed, at its name).
  Body parse_body(const std::set<std::string>& ends) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.type == TokenType::kEnd) {
        if (!ends.empty()) {
          std::string names;
          for (const auto& e : ends) {
            if (!names.empty()) names.append(", ");
            names.append(1, '\'').append(e).append(1, '\'');
          }
          error("unexpected end of template, expected " + names);
        }
        return body;
      }
      if (t.type == TokenType::kText) {
        auto s = make_stmt(StmtKind::kText);
        s->text = next().text;
        body.push_back(std::move(s));
      } else if (t.type == TokenType::kPrintBegin) {
        auto s = make_stmt(StmtKind::kPrint);
        next();
        s->expr = parse_tuple_or_expression();
        if (peek().type != TokenType::kPrintEnd) {
          error(detail::cat("expected '}}', got ", describe(peek())));
        }
        next();
        body.push_back(std::move(s));
      } else if (t.type == TokenType::kBlockBegin) {
        if (peek(1).type == TokenType::kName && ends.count(peek(1).text)) {
          next();
          return body;
        }
        next();
        body.push_back(parse_statement());
      } else {
        error(detail::cat("unexpected ", describe(t)));
      }
    }
  }

  std::unique_ptr<Stmt> make_stmt(StmtKind kind) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = peek().line;
    return s;
  }

  std::unique_ptr<Stmt> parse_statement() {
    if (peek().type != TokenType::kName) error("expected a tag name");
    std::string tag = peek().text;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "break" || tag == "continue") {
      auto s = make_stmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue);
      next();
      if (loop_depth_ == 0) error(detail::cat("'", tag, "' outside of a loop"));
      expect_block_end(tag);
      return s;
    }
    if (tag == "filter") return parse_filter_block();
    if (tag == "with" || tag == "generation") return parse_scope(tag);
    error(detail::cat("unknown tag '", tag, "'"));
  }

  void expect_end_tag(const std::string& name) {
    std::string got = expect_name();
    if (got != name) error(detail::cat("expected '", name, "', got '", got, "'"));
    expect_block_end(name);
  }

  std::unique_ptr<Stmt> parse_if() {
    auto s = make_stmt(StmtKind::kIf);
    next();  // if
    while (true) {
      ExprPtr condition = parse_expression();
      expect_block_end("if");
      Body body = parse_body({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(condition), std::move(body));
      std::string tag = next().text;
      if (tag == "elif") continue;
      if (tag == "else") {
        expect_block_end("else");
        s->else_body = parse_body({"endif"});
        next();
      }
      expect_block_end("endif");
      return s;
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    bool paren = is_op("(");
    if (paren) next();
    names.push_back(expect_name());
    while (is_op(",")) {
      next();
      if (peek().type != TokenType::kName) break;
      names.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return names;
  }

  std::unique_ptr<Stmt> parse_for() {
    auto s = make_stmt(StmtKind::kFor);
    next();  // for
    s->targets = parse_targets();
    if (!is_name("in")) error(detail::cat("expected 'in', got ", describe(peek())));
    next();
    s->expr = parse_tuple_or_expression(/*allow_condition=*/false);
    if (is_name("if")) {
      next();
      s->condition = parse_expression();
    }
    if (is_name("recursive")) error("recursive loops are not supported");
    expect_block_end("for");
    ++loop_depth_;
    s->body = parse_body({"else", "endfor"});
    --loop_depth_;
    if (next().text == "else") {
      expect_block_end("else");
      int saved = loop_depth_;
      loop_depth_ = 0;
      s->else_body = parse_body({"endfor"});
      loop_depth_ = saved;
      next();
    }
    expect_block_end("endfor");
    return s;
  }

  std::unique_ptr<Stmt> parse_set() {
    auto s = make_stmt(StmtKind::kSet);
    next();  // set
    std::string first = expect_name();
    if (is_op(".")) {
      next();
      s->targets = {first};
      s->attribute = expect_name();
    } else {
      s->targets = {first};
      while (is_op(",")) {
        next();
        s->targets.push_back(expect_name());
      }
    }
    if (is_op("=")) {
      next();
      s->expr = parse_tuple_or_expression();
      expect_block_end("set");
      return s;
    }
    // Block set: {% set x %}...{% endset %}, optionally with a filter.
    if (s->targets.size() != 1 || !s->attribute.empty()) error("expected '=' in set");
    if (is_op("|")) s->condition = parse_filter_chain(nullptr);
    expect_block_end("set");
    s->body = parse_body({"endset"});
    next();
    expect_block_end("endset");
    return s;
  }

  std::unique_ptr<Stmt> parse_macro() {
    auto s = make_stmt(StmtKind::kMacro);
    next();  // macro
    s->text = expect_name();
    expect_op("(");
    while (!is_op(")")) {
      s->targets.push_back(expect_name());
      if (is_op("=")) {
        next();
        s->defaults.push_back(parse_expression());
      } else {
        s->defaults.push_back(nullptr);
      }
      if (!is_op(",")) break;
      next();
    }
    expect_op(")");
    expect_block_end("macro");
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_body({"endmacro"});
    loop_depth_ = saved;
    next();
    expect_block_end("endmacro");
    return s;
  }

  std::unique_ptr<Stmt> parse_filter_block() {
    auto s = make_stmt(StmtKind::kFilterBlock);
    next();  // filter
    s->expr = parse_filter_chain(nullptr, /*leading_bar=*/false);
    expect_block_end("filter");
    s->body = parse_body({"endfilter"});
    next();
    expect_block_end("endfilter");
    return s;
  }

  std::unique_ptr<Stmt> parse_scope(const std::string& tag) {
    auto s = make_stmt(StmtKind::kScope);
    next();
    while (tag == "with" && peek().type == TokenType::kName) {
      std::string name = expect_name();
      expect_op("=");
      s->assignments.emplace_back(name, parse_expression());
      if (!is_op(",")) break;
      next();
    }
    expect_block_end(tag);
    s->body = parse_body({"end" + tag});
    next();
    expect_block_end("end" + tag);
    return s;
  }

  // ---- expressions -------------------------------------------------------------------

  ExprPtr make_expr(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  ExprPtr parse_tuple_or_expression(bool allow_condition = true) {
    int line = peek().line;
    ExprPtr first = allow_condition ? parse_expression() : parse_or();
    if (!is_op(",")) return first;
    auto tuple = make_expr(ExprKind::kTuple, line);
    attach(*tuple, std::move(first));
    while (is_op(",")) {
      next();
      if (peek().type == TokenType::kBlockEnd || peek().type == TokenType::kPrintEnd ||
          is_name("if")) {
        break;
      }
      attach(*tuple, allow_condition ? parse_expression() : parse_or());
    }
    return tuple;
  }

  ExprPtr parse_expression() {
    DepthGuard guard(*this);
    ExprPtr value = parse_or();
    while (is_name("if")) {
      int line = next().line;
      auto cond = make_expr(ExprKind::kCondition, line);
      attach(*cond, std::move(value));
      attach(*cond, parse_or());
      if (is_name("else")) {
        next();
        attach(*cond, parse_expression());
      } else {
        attach(*cond, nullptr);
      }
      value = std::move(cond);
    }
    return value;
  }

  ExprPtr binary(const std::string& op, ExprPtr left, ExprPtr right, int line) {
    auto e = make_expr(ExprKind::kBinary, line);
    e->name = op;
    attach(*e, std::move(left));
    attach(*e, std::move(right));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      int line = next().line;
      left = binary("or", std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      int line = next().line;
      left = binary("and", std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = make_expr(ExprKind::kUnary, next().line);
      e->name = "not";
      attach(*e, parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = peek().line;
    ExprPtr left = parse_concat();
    ExprPtr compare;
    while (true) {
      std::string op;
      if (peek().type == TokenType::kOperator &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
           peek().text == "<=" || peek().text == ">" || peek().text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!compare) {
        compare = make_expr(ExprKind::kCompare, line);
        attach(*compare, std::move(left));
      }
      compare->ops.push_back(op);
      attach(*compare, parse_concat());
    }
    return compare ? std::move(compare) : std::move(left);
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_additive();
    while (is_op("~")) {
      int line = next().line;
      left = binary("~", std::move(left), parse_additive(), line);
    }
    return left;
  }

  ExprPtr parse_additive() {
    ExprPtr left = parse_multiplicative();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      std::string op = t.text;
      left = binary(op, std::move(left), parse_multiplicative(), t.line);
    }
    return left;
  }

  ExprPtr parse_multiplicative() {
    ExprPtr left = parse_power();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      std::string op = t.text;
      left = binary(op, std::move(left), parse_power(), t.line);
    }
    return left;
  }

  ExprPtr parse_power() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      int line = next().line;
      left = binary("**", std::move(left), parse_unary(true), line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      node = make_expr(ExprKind::kUnary, t.line);
      node->name = t.text;
      attach(*node, parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filters_and_tests(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    switch (t.type) {
      case TokenType::kName: {
        next();
        if (t.text == "true" || t.text == "True") return literal(Value::from_bool(true), t.line);
        if (t.text == "false" || t.text == "False") return literal(Value::from_bool(false), t.line);
        if (t.text == "none" || t.text == "None") return literal(Value::none(), t.line);
        auto e = make_expr(ExprKind::kName, t.line);
        e->name = t.text;
        return e;
      }
      case TokenType::kString: {
        std::string s = next().text;
        while (peek().type == TokenType::kString) s += next().text;  // adjacent literals join
        return literal(Value::from_string(s), t.line);
      }
      case TokenType::kInteger: {
        next();
        int64_t v = 0;
        auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        if (r.ec != std::errc())
          return literal(Value::from_float(std::strtod(t.text.c_str(), nullptr)), t.line);
        return literal(Value::from_int(v), t.line);
      }
      case TokenType::kFloat:
        next();
        return literal(Value::from_float(std::strtod(t.text.c_str(), nullptr)), t.line);
      case TokenType::kOperator:
        if (t.text == "(") return parse_parenthesized();
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        [[fallthrough]];
      default: error(detail::cat("unexpected ", describe(t)));
    }
  }

  ExprPtr literal(Value v, int line) {
    auto e = make_expr(ExprKind::kLiteral, line);
    e->value = std::move(v);
    return e;
  }

  ExprPtr parse_parenthesized() {
    int line = next().line;  // (
    if (is_op(")")) {
      next();
      return make_expr(ExprKind::kTuple, line);
    }
    ExprPtr first = parse_expression();
    if (is_op(")")) {
      next();
      return first;
    }
    auto tuple = make_expr(ExprKind::kTuple, line);
    attach(*tuple, std::move(first));
    while (is_op(",")) {
      next();
      if (is_op(")")) break;
      attach(*tuple, parse_expression());
    }
    expect_op(")");
    return tuple;
  }

  ExprPtr parse_list() {
    auto e = make_expr(ExprKind::kList, next().line);
    while (!is_op("]")) {
      attach(*e, parse_expression());
      if (!is_op(",")) break;
      next();
    }
    expect_op("]");
    return e;
  }

  ExprPtr parse_dict() {
    auto e = make_expr(ExprKind::kDict, next().line);
    while (!is_op("}")) {
      attach(*e, parse_expression());
      expect_op(":");
      attach(*e, parse_expression());
      if (!is_op(",")) break;
      next();
    }
    expect_op("}");
    return e;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".")) {
        int line = next().line;
        auto e = make_expr(ExprKind::kGetAttr, line);
        if (peek().type == TokenType::kInteger) {
          e->kind = ExprKind::kGetItem;
          attach(*e, std::move(node));
          attach(*e, parse_primary());
        } else {
          e->name = expect_name();
          attach(*e, std::move(node));
        }
        node = std::move(e);
      } else if (is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    DepthGuard guard(*this);
    int line = next().line;  // [
    ExprPtr parts[3];
    int colons = 0;
    while (!is_op("]")) {
      if (is_op(":")) {
        next();
        if (++colons > 2) error("too many ':' in slice");
        continue;
      }
      if (parts[colons]) error("expected ':' or ']' in subscript");
      parts[colons] = parse_expression();
      if (colons == 0 && is_op(",")) error("tuple subscripts are not supported");
    }
    next();  // ]
    if (colons == 0) {
      if (!parts[0]) error("empty subscript");
      auto e = make_expr(ExprKind::kGetItem, line);
      attach(*e, std::move(node));
      attach(*e, std::move(parts[0]));
      return e;
    }
    auto e = make_expr(ExprKind::kSlice, line);
    attach(*e, std::move(node));
    for (auto& p : parts) attach(*e, std::move(p));
    return e;
  }

  // Parses "(a, b, key=c)" into children (after any already present) and keywords.
  void parse_arguments(Expr& call) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().type == TokenType::kName && is_op("=", 1)) {
        call.keywords.push_back(next().text);
        next();
        attach(call, parse_expression());
      } else {
        if (!call.keywords.empty()) error("positional argument after keyword argument");
        attach(call, parse_expression());
      }
      if (!is_op(",")) break;
      next();
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr node) {
    DepthGuard guard(*this);
    auto e = make_expr(ExprKind::kCall, peek().line);
    attach(*e, std::move(node));
    parse_arguments(*e);
    return e;
  }

  // `input | f(args) | g`, leaving `is test` to the caller.
  ExprPtr parse_filter_chain(ExprPtr input, bool leading_bar = true) {
    bool first = true;
    while (is_op("|") || (first && !leading_bar)) {
      if (!(first && !leading_bar)) next();
      first = false;
      auto e = make_expr(ExprKind::kFilter, peek().line);
      e->name = expect_name();
      if (!filter_exists(e->name)) error(detail::cat("unknown filter '", e->name, "'"));
      attach(*e, std::move(input));
      if (is_op("(")) parse_arguments(*e);
      input = std::move(e);
    }
    return input;
  }

  ExprPtr parse_filters_and_tests(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter_chain(std::move(node));
      } else if (is_name("is")) {
        auto e = make_expr(ExprKind::kTest, next().line);
        if (is_name("not")) {
          next();
          e->negated = true;
        }
        e->name = expect_name();
        if (!test_exists(e->name)) error(detail::cat("unknown test '", e->name, "'"));
        attach(*e, std::move(node));
        if (is_op("(")) {
          parse_arguments(*e);
        } else {
          const Token& t = peek();
          bool starts_argument = t.type == TokenType::kName || t.type == TokenType::kString ||
                                 t.type == TokenType::kInteger || t.type == TokenType::kFloat ||
                                 is_op("[") || is_op("{");
          if (starts_argument && !is_name("else") && !is_name("or") && !is_name("and")) {
            if (is_name("is")) error("unexpected 'is'");
            attach(*e, parse_postfix(parse_primary()));
          }
        }
        node = std::move(e);
      } else {
        return node;
      }
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(const std::string& source) { return Parser(tokenize(source)).parse_all(); }

}  // namespace coreml::llm::jinja
