// Program validation (src/mil/validate.h), used by model loading and `coreml info` alike:
// every structural problem is reported with the function, op and line.
#include "mil/validate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "coreml/error.h"
#include "coreml/model.h"
#include "format/mil_text_parser.h"
#include "support/run_command.h"

namespace coreml::mil {
namespace {

namespace fs = std::filesystem;

// A one-function program around `statements` (they start on line 4), returning `outputs`.
std::string program(const std::string& statements, const std::string& outputs = "y",
                    const std::string& opset = "ios18",
                    const std::string& inputs = "tensor<fp32, [2]> x") {
  return "program(1.3)\n{\nfunc main<" + opset + ">(" + inputs + ") {\n" + statements + "\n} -> (" +
         outputs + ");\n}\n";
}

std::vector<std::string> problems_of(const std::string& text) {
  return validate(format::parse_mil_text(text, "t.mil"));
}

// Exactly one problem, containing every fragment.
void expect_problem(const std::string& text, const std::vector<std::string>& fragments) {
  const auto problems = problems_of(text);
  ASSERT_EQ(problems.size(), 1u) << (problems.empty() ? "no problem found" : problems[0]);
  for (const auto& f : fragments) EXPECT_NE(problems[0].find(f), std::string::npos) << problems[0];
}

TEST(Validate, ValidProgramHasNoProblems) {
  EXPECT_TRUE(problems_of(program("tensor<fp32, [2]> a = relu(x = x)[name = string(\"a\")];\n"
                                  "tensor<fp32, [2]> y = add(x = a, y = x)[name = string(\"y\")];"))
                  .empty());
}

TEST(Validate, UndefinedReference) {
  expect_problem(program("tensor<fp32, [2]> y = relu(x = nope)[name = string(\"y\")];"),
                 {"function 'main'", "op 'y' (relu) at line 4", "'nope'", "not defined"});
}

TEST(Validate, CyclicReference) {
  expect_problem(program("tensor<fp32, [2]> a = relu(x = y)[name = string(\"a\")];\n"
                         "tensor<fp32, [2]> y = relu(x = a)[name = string(\"y\")];"),
                 {"op 'a' (relu) at line 4", "'y' before it is defined", "cycle"});
}

TEST(Validate, DuplicateName) {
  expect_problem(program("tensor<fp32, [2]> y = relu(x = x)[name = string(\"y\")];\n"
                         "tensor<fp32, [2]> y = relu(x = x)[name = string(\"y2\")];"),
                 {"op 'y2' (relu) at line 5", "'y'", "already defined"});
}

TEST(Validate, MissingOutput) {
  expect_problem(program("tensor<fp32, [2]> y = relu(x = x)[name = string(\"y\")];", "z"),
                 {"output 'z'", "not a value"});
}

TEST(Validate, UnknownOpset) {
  expect_problem(program("tensor<fp32, [2]> y = relu(x = x)[name = string(\"y\")];", "y", "ios99"),
                 {"unknown opset 'ios99'"});
}

TEST(Validate, FunctionWithoutOutputs) {
  expect_problem(program("tensor<fp32, [2]> y = relu(x = x)[name = string(\"y\")];", ""),
                 {"function 'main'", "no outputs"});
}

TEST(Validate, UnknownCastDtype) {
  expect_problem(
      program(
          "tensor<fp32, [2]> y = cast(dtype = string(\"float99\"), x = x)[name = string(\"y\")];"),
      {"op 'y' (cast)", "unknown dtype 'float99'"});
}

TEST(Validate, StateOpOnNonState) {
  expect_problem(program("tensor<fp32, [2]> y = read_state(input = x)[name = string(\"y\")];"),
                 {"op 'y' (read_state)", "'x' is not a state"});
  EXPECT_TRUE(
      problems_of(program("tensor<fp32, [2]> y = read_state(input = s)[name = string(\"y\")];", "y",
                          "ios18", "state<tensor<fp32, [2]>> s"))
          .empty());
}

TEST(Validate, NestedBlocksSeeOuterValuesAndScopeTheirOwn) {
  const std::string loop =
      "int32 n, tensor<fp32, [2]> y = while_loop(loop_vars = (int32(0), x))[name = "
      "string(\"loop\")]\n"
      "  cond(int32 i, tensor<fp32, [2]> v) {\n"
      "    bool keep = less(x = i, y = int32(3))[name = string(\"keep\")];\n"
      "  } -> (keep)\n"
      "  body(int32 i, tensor<fp32, [2]> v) {\n"
      "    int32 keep = add(x = i, y = int32(1))[name = string(\"i1\")];\n"
      "    tensor<fp32, [2]> w = add(x = v, y = x)[name = string(\"w\")];\n"
      "  } -> (keep, w);";
  EXPECT_TRUE(problems_of(program(loop)).empty());
  // A value of a nested block is not visible after it.
  expect_problem(program(loop + "\ntensor<fp32, [2]> z = relu(x = w)[name = string(\"z\")];", "z"),
                 {"op 'z' (relu)", "'w'", "not defined"});
}

TEST(Validate, ErrorNamesTheSourceAndEveryProblem) {
  const Program p = format::parse_mil_text(
      program("tensor<fp32, [2]> y = relu(x = nope)[name = string(\"y\")];", "y, z"), "t.mil");
  try {
    check_valid(p, "broken.mlmodelc");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kParse);
    const std::string m = e.what();
    EXPECT_NE(m.find("broken.mlmodelc: invalid program"), std::string::npos) << m;
    EXPECT_NE(m.find("'nope'"), std::string::npos) << m;
    EXPECT_NE(m.find("output 'z'"), std::string::npos) << m;
  }
}

// `coreml info` and Model::load report the same problems (they share one validation).
class InvalidModelFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("coreml_validate_" + std::to_string(::getpid()) + ".mlmodelc");
    fs::create_directories(dir_);
    std::ofstream(dir_ / "model.mil") << program(
        "tensor<fp32, [2]> a = relu(x = y)[name = string(\"a\")];\n"
        "tensor<fp32, [2]> y = relu(x = a)[name = string(\"y\")];");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(InvalidModelFolder, InfoFailsWithTheProblem) {
  const auto r = test::run_cli({"info", dir_.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("before it is defined"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(dir_.string()), std::string::npos) << r.err;
}

TEST_F(InvalidModelFolder, LoadFailsWithTheSameProblem) {
  try {
    (void)Model::load(dir_.string());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("before it is defined"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace coreml::mil
