// Program structure of `model.mil` text. Grammar (types and literals: mil_text_values.h):
//
//   program    := 'program' '(' VERSION ')' attributes? '{' function* '}'
//   attributes := '[' (NAME '=' LITERAL) % ',' ']'
//   function   := 'func' NAME ('<' OPSET '>')? '(' (TYPE NAME) % ',' ')' attributes?
//                 body '->' '(' NAME % ',' ')' ';'?
//   body       := '{' statement* '}'
//   statement  := ((TYPE NAME) % ',' '=')? OP '(' (PARAM '=' binding) % ',' ')' attributes?
//                 nested? ';'
//   binding    := NAME | LITERAL | '(' (NAME | LITERAL) % ',' ')'      -- a tuple = variadic
//   nested     := '{' block* '}' | block+                              -- cond, while_loop
//   block      := NAME? ('(' (TYPE NAME) % ',' ')')? body '->' '(' NAME % ',' ')' ';'?
//
// Apple publishes no grammar; the forms above are those seen in compiled models. Nested
// blocks follow coremltools' printer (`block0(inputs) { ... } -> (outputs)` after the op),
// optionally wrapped in braces, e.g.
//   tensor<fp32, [1]> y = cond(pred = p)[name = string("y")] {
//       then() { ... } -> (a);
//       else() { ... } -> (b);
//   };
#include "format/mil_text_parser.h"

#include <set>
#include <utility>

#include "coreml/error.h"
#include "format/mil_text_lexer.h"
#include "format/mil_text_values.h"

namespace coreml::format {
namespace {

using mil::Argument;
using mil::Binding;
using mil::Block;
using mil::Function;
using mil::NamedType;
using mil::Operation;
using mil::Program;
using mil::Value;

class ProgramParser {
 public:
  ProgramParser(std::string_view text, const std::string& file_name)
      : lexer_(text, file_name), file_name_(file_name) {}

  Program program() {
    Program result;
    const Token keyword = lexer_.peek();
    if (!keyword.is_identifier("program")) lexer_.fail_expected(keyword, "'program'");
    lexer_.next();
    lexer_.expect("(");
    const Token version = lexer_.next();
    if (version.kind != TokenKind::kNumber) lexer_.fail_expected(version, "a program version");
    // Both known dialects (1.0 and 1.3) are MIL program version 1, which is what the
    // protobuf form records; the minor version only selects how scalars are spelled.
    if (version.text != "1" && version.text.substr(0, 2) != "1.") {
      fail(ErrorCode::kUnsupported, file_name_, ":", version.line, ":", version.column,
           ": MIL program version ", version.text, " is not supported (expected 1.x)");
    }
    result.version = 1;
    lexer_.expect(")");
    if (lexer_.peek().is_punct("[")) result.attributes = attributes();
    lexer_.expect("{");
    std::set<std::string> names;
    while (!lexer_.peek().is_punct("}")) {
      const Token start = lexer_.peek();
      Function function = this->function();
      if (!names.insert(function.name).second) {
        lexer_.fail_at(start, detail::cat("function '", function.name, "' is defined twice"));
      }
      result.functions.push_back(std::move(function));
    }
    lexer_.expect("}");
    const Token& end = lexer_.peek();
    if (end.kind != TokenKind::kEnd) lexer_.fail_expected(end, "end of file");
    return result;
  }

 private:
  Function function() {
    const Token keyword = lexer_.peek();
    if (!keyword.is_identifier("func")) lexer_.fail_expected(keyword, "'func' or '}'");
    lexer_.next();
    Function result;
    result.name = std::string(lexer_.expect_identifier("a function name").text);
    if (lexer_.accept("<")) {
      result.opset = mil::normalize_opset(lexer_.expect_identifier("an opset name").text);
      lexer_.expect(">");
    }
    result.inputs = typed_names();
    if (lexer_.peek().is_punct("[")) result.attributes = attributes();
    result.block = block_body_and_outputs(true);
    return result;
  }

  // '(' (TYPE NAME) % ',' ')'
  std::vector<NamedType> typed_names() {
    lexer_.expect("(");
    std::vector<NamedType> names;
    if (!lexer_.peek().is_punct(")")) {
      do {
        NamedType named;
        named.type = parse_type(lexer_);
        named.name = std::string(lexer_.expect_identifier("an input name").text);
        names.push_back(std::move(named));
      } while (lexer_.accept(","));
    }
    lexer_.expect(")");
    return names;
  }

  // body '->' '(' NAME % ',' ')', then ';'? if `optional_semicolon` (a block that is not the
  // last part of a statement).
  Block block_body_and_outputs(bool optional_semicolon) {
    Block block;
    const Token open = lexer_.expect("{");
    MilTextLexer::DepthGuard guard(lexer_, open);
    while (!lexer_.peek().is_punct("}")) block.operations.push_back(statement());
    lexer_.expect("}");
    lexer_.expect("->");
    lexer_.expect("(");
    if (!lexer_.peek().is_punct(")")) {
      do {
        block.outputs.emplace_back(lexer_.expect_identifier("an output name").text);
      } while (lexer_.accept(","));
    }
    lexer_.expect(")");
    if (optional_semicolon) lexer_.accept(";");
    return block;
  }

  Operation statement() {
    Operation op;
    const Token start = lexer_.peek();
    op.location = mil::SourceLocation{start.line, start.column};
    const bool has_outputs =
        !(start.kind == TokenKind::kIdentifier && lexer_.peek(1).is_punct("("));
    if (has_outputs) {
      if (!starts_type(lexer_)) lexer_.fail_expected(start, "a statement (a type or an op)");
      do {
        NamedType output;
        output.type = parse_type(lexer_);
        output.name = std::string(lexer_.expect_identifier("an output name").text);
        op.outputs.push_back(std::move(output));
      } while (lexer_.accept(","));
      lexer_.expect("=");
    }
    op.type = std::string(lexer_.expect_identifier("an op name").text);
    lexer_.expect("(");
    if (!lexer_.peek().is_punct(")")) {
      do {
        const Token param = lexer_.expect_identifier("a parameter name");
        lexer_.expect("=");
        Argument argument = this->argument();
        if (!op.inputs.emplace(std::string(param.text), std::move(argument)).second) {
          lexer_.fail_at(param, detail::cat("parameter '", param.text, "' is given twice"));
        }
      } while (lexer_.accept(","));
    }
    lexer_.expect(")");
    if (lexer_.peek().is_punct("[")) op.attributes = attributes();
    nested_blocks(op);
    lexer_.expect(";");
    return op;
  }

  void nested_blocks(Operation& op) {
    const Token first = lexer_.peek();
    if (first.is_punct(";")) return;
    MilTextLexer::DepthGuard guard(lexer_, first);
    const bool wrapped = lexer_.accept("{");
    const std::string_view end = wrapped ? "}" : ";";
    while (!lexer_.peek().is_punct(end)) {
      const Token& start = lexer_.peek();
      if (start.kind == TokenKind::kIdentifier) {
        lexer_.next();  // the block's name (then, else, cond, body, block0, ...): not kept
      } else if (!start.is_punct("(") && !(wrapped && start.is_punct("{"))) {
        lexer_.fail_expected(start, wrapped ? "a nested block or '}'" : "';'");
      }
      Block block;
      // A block without inputs may omit the empty parentheses: `{ ... } -> (a);`.
      if (!lexer_.peek().is_punct("{")) block.inputs = typed_names();
      Block body = block_body_and_outputs(wrapped);
      body.inputs = std::move(block.inputs);
      op.blocks.push_back(std::move(body));
    }
    if (wrapped) lexer_.expect("}");
  }

  Argument argument() {
    Argument result;
    if (lexer_.peek().is_punct("(")) {
      const Token open = lexer_.next();
      MilTextLexer::DepthGuard guard(lexer_, open);
      if (!lexer_.peek().is_punct(")")) {
        do {
          result.bindings.push_back(binding());
        } while (lexer_.accept(","));
      }
      lexer_.expect(")");
    } else {
      result.bindings.push_back(binding());
    }
    return result;
  }

  Binding binding() {
    if (starts_typed_literal(lexer_)) return Binding{{}, parse_typed_literal(lexer_)};
    const Token& token = lexer_.peek();
    if (token.kind != TokenKind::kIdentifier) lexer_.fail_expected(token, "a name or a literal");
    return Binding{std::string(lexer_.next().text), std::nullopt};
  }

  std::map<std::string, Value> attributes() {
    lexer_.expect("[");
    std::map<std::string, Value> result;
    if (!lexer_.peek().is_punct("]")) {
      do {
        const Token key = lexer_.expect_identifier("an attribute name");
        lexer_.expect("=");
        if (!starts_typed_literal(lexer_)) lexer_.fail_expected(lexer_.peek(), "a typed literal");
        Value value = parse_typed_literal(lexer_);
        if (!result.emplace(std::string(key.text), std::move(value)).second) {
          lexer_.fail_at(key, detail::cat("attribute '", key.text, "' is given twice"));
        }
      } while (lexer_.accept(","));
    }
    lexer_.expect("]");
    return result;
  }

  MilTextLexer lexer_;
  std::string file_name_;
};

}  // namespace

mil::Program parse_mil_text(std::string_view text, const std::string& file_name) {
  ProgramParser parser(text, file_name);
  return parser.program();
}

}  // namespace coreml::format
