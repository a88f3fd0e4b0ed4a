// The parsed form of a template: expression and statement nodes the evaluator walks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "llm/chat_template/value.h"

namespace coreml::llm::jinja {

enum class ExprKind {
  kLiteral,    // value
  kName,       // name
  kList,       // children
  kTuple,      // children
  kDict,       // children: key, value, key, value...
  kGetAttr,    // children[0] . name
  kGetItem,    // children[0] [ children[1] ]
  kSlice,      // children[0] [ children[1] : children[2] : children[3] ] (null → omitted)
  kCall,       // children[0] ( children[1..] ), keyword names in `keywords` (last ones)
  kFilter,     // name; children[0] is the input (null in {% filter %}), rest are arguments
  kTest,       // name; children[0] input, rest arguments; negated
  kUnary,      // op in name: "not", "-", "+"
  kBinary,     // op in name; children[0], children[1]
  kCompare,    // children[0] then (ops[i], children[i+1]) chained
  kCondition,  // children: then, condition, else (else may be null)
};

struct Expr {
  ExprKind kind;
  int line = 0;
  std::string name;
  Value value;
  bool negated = false;
  int height = 1;  // levels of the tree below and including this node (bounded by the parser)
  std::vector<std::unique_ptr<Expr>> children;
  std::vector<std::string> keywords;  // for kCall/kFilter/kTest: names of the trailing args
  std::vector<std::string> ops;       // for kCompare
};
using ExprPtr = std::unique_ptr<Expr>;

enum class StmtKind {
  kText,   // text
  kPrint,  // expr
  kIf,     // branches: (condition, body)...; else_body
  kFor,    // targets, expr (iterable), filter (condition), body, else_body
  kSet,    // targets (or attribute target), expr; or body for block set
  kMacro,  // name, params (targets) with defaults, body
  kBreak,
  kContinue,
  kFilterBlock,  // filter expr applied to body output
  kScope,        // body rendered in its own scope ({% with %}, {% generation %})
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr condition;
  std::vector<std::string> targets;  // loop / set variable names, macro parameter names
  std::string attribute;             // {% set ns.attr = ... %}
  std::vector<ExprPtr> defaults;     // macro parameter defaults (null → required)
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::pair<std::string, ExprPtr>> assignments;  // {% with a=1 %}
};

}  // namespace coreml::llm::jinja
