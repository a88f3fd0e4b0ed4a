// Memory plans under the conditions that could break them: value-dependent shapes, signatures
// that alternate, states that move, outputs that alias inputs or constants, in-place reuse.
// Expected values are computed here by hand (NumPy-style arithmetic), and every case runs with
// plans on and with plans off, which must agree.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "format/mil_text_parser.h"
#include "runtime/executor.h"

namespace coreml::runtime {
namespace {

struct Program {
  format::ModelAsset asset;
  std::unique_ptr<FunctionExecutor> exec;
};

std::unique_ptr<Program> load(const std::string& signature, const std::string& body,
                              const std::string& outputs, bool plan = true) {
  auto p = std::make_unique<Program>();
  p->asset.program =
      format::parse_mil_text("program(1.3)\n{\n    func main<ios18>(" + signature + ") {\n" + body +
                                 "\n    } -> (" + outputs + ");\n}\n",
                             "plan.mil");
  ExecutorOptions o;
  o.memory_plan = plan;
  p->exec = std::make_unique<FunctionExecutor>(p->asset, p->asset.program.functions.at(0),
                                               KernelRegistry::global(), ThreadPool::shared(2), o);
  return p;
}

std::vector<float> floats(const Tensor& t) { return t.to(DType::kFloat32).to_vector<float>(); }

TEST(MemoryPlanRuns, ValueDependentShapesFallBackAndStayCorrect) {
  // range_1d's length depends on the input's value: every run may have a new shape.
  const std::string body = R"(
        int32 start = const()[name = string("start"), val = int32(0)];
        int32 step = const()[name = string("step"), val = int32(1)];
        tensor<int32, [?]> r = range_1d(end = n, start = start, step = step)[name = string("r")];
        tensor<fp32, [?]> f = cast(dtype = string("fp32"), x = r)[name = string("f")];
        tensor<fp32, [?]> y = mul(x = f, y = f)[name = string("y")];)";
  auto p = load("tensor<int32, []> n", body, "y");
  for (int32_t n : {3, 3, 5, 3, 7, 7, 7, 2}) {
    Tensor in = Tensor::from_vector(std::vector<int32_t>{n}, std::vector<int64_t>{});
    std::vector<const Tensor*> inputs = {&in};
    std::vector<Tensor> out;
    p->exec->run(inputs, {}, out);
    ASSERT_EQ(out[0].numel(), n);
    const auto v = floats(out[0]);
    for (int32_t i = 0; i < n; ++i) EXPECT_EQ(v[static_cast<size_t>(i)], float(i * i)) << "n=" << n;
  }
}

TEST(MemoryPlanRuns, AlternatingSignaturesKeepTheirPlans) {
  const std::string body = R"(
        fp32 two = const()[name = string("two"), val = fp32(0x1p+1)];
        tensor<fp32, [1, ?]> a = mul(x = x, y = two)[name = string("a")];
        tensor<fp32, [1, ?]> b = add(x = a, y = x)[name = string("b")];
        tensor<fp32, [1, ?]> y = sub(x = b, y = two)[name = string("y")];)";
  auto p = load("tensor<fp32, [1, ?]> x", body, "y");
  for (int round = 0; round < 3; ++round) {
    for (int64_t width : {4, 9}) {
      Tensor x = Tensor::empty({1, width});
      for (int64_t i = 0; i < width; ++i) x.data<float>()[i] = static_cast<float>(i + round);
      std::vector<const Tensor*> inputs = {&x};
      std::vector<Tensor> out;
      p->exec->run(inputs, {}, out);
      const auto v = floats(out[0]);
      ASSERT_EQ(v.size(), static_cast<size_t>(width));
      for (int64_t i = 0; i < width; ++i)
        EXPECT_EQ(v[static_cast<size_t>(i)], 3.0f * (i + round) - 2.0f);
      if (round > 0) {
        EXPECT_TRUE(p->exec->last_run_planned());
      }
    }
  }
}

// Two states used alternately with one executor: views of the state are rebuilt when the
// state's memory changes.
TEST(MemoryPlanRuns, StatesThatMoveAreRebound) {
  const std::string body = R"(
        tensor<fp16, [2, 4]> s = read_state(input = acc)[name = string("s")];
        tensor<fp16, [2, 4]> t = add(x = s, y = x)[name = string("t")];
        write_state(data = t, input = acc)[name = string("w")];
        tensor<int32, [2]> b = const()[name = string("b"), val = tensor<int32, [2]>([1, 0])];
        tensor<int32, [2]> e = const()[name = string("e"), val = tensor<int32, [2]>([2, 4])];
        tensor<fp16, [2, 4]> s2 = read_state(input = acc)[name = string("s2")];
        tensor<fp16, [1, 4]> y = slice_by_index(begin = b, end = e, x = s2)[name = string("y")];)";
  auto p = load("tensor<fp16, [2, 4]> x, state<tensor<fp16, [2, 4]>> acc", body, "y");
  Tensor one = Tensor::ones({2, 4}, DType::kFloat16);
  Tensor s1 = Tensor::zeros({2, 4}, DType::kFloat16), s2 = Tensor::zeros({2, 4}, DType::kFloat16);
  std::vector<const Tensor*> inputs = {&one};
  for (int i = 1; i <= 4; ++i) {
    for (Tensor* state : {&s1, &s2}) {
      std::vector<Tensor*> states = {state};
      std::vector<Tensor> out;
      p->exec->run(inputs, states, out);
      for (float v : floats(out[0])) EXPECT_EQ(v, float(i));
      for (float v : floats(*state)) EXPECT_EQ(v, float(i));
    }
  }
}

TEST(MemoryPlanRuns, OutputsThatAreInputsOrConstantsKeepTheirValues) {
  const std::string body = R"(
        tensor<fp32, [3]> c = const()[name = string("c"), val = tensor<fp32, [3]>([0x1p+0, 0x1p+1, 0x1.8p+1])];
        tensor<fp32, [3]> i = identity(x = x)[name = string("i")];
        tensor<int32, [2]> shape = const()[name = string("shape"), val = tensor<int32, [2]>([3, 1])];
        tensor<fp32, [3, 1]> r = reshape(shape = shape, x = x)[name = string("r")];)";
  for (bool plan : {false, true}) {
    auto p = load("tensor<fp32, [3]> x", body, "i, r, c", plan);
    Tensor x = Tensor::from_vector(std::vector<float>{5, 6, 7});
    std::vector<const Tensor*> inputs = {&x};
    for (int run = 0; run < 3; ++run) {
      std::vector<Tensor> out;
      p->exec->run(inputs, {}, out);
      EXPECT_EQ(floats(out[0]), (std::vector<float>{5, 6, 7}));
      EXPECT_EQ(floats(out[1]), (std::vector<float>{5, 6, 7}));
      EXPECT_EQ(floats(out[2]), (std::vector<float>{1, 2, 3}));
    }
  }
}

// A chain of elementwise ops reuses buffers in place: the plan's arena holds far fewer
// buffers than values, and the results stay right.
TEST(MemoryPlanRuns, InPlaceChainsReuseTheirBuffers) {
  std::string body;
  std::string prev = "x";
  for (int i = 0; i < 20; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "v%d", i);
    const std::string v = name;
    body.append("        tensor<fp32, [256]> ").append(v).append(" = add(x = ").append(prev);
    body.append(", y = x)[name = string(\"").append(v).append("\")];\n");
    prev = v;
  }
  auto p = load("tensor<fp32, [256]> x", body, prev);
  Tensor x = Tensor::full({256}, 1.0);
  std::vector<const Tensor*> inputs = {&x};
  std::vector<Tensor> out;
  for (int run = 0; run < 3; ++run) p->exec->run(inputs, {}, out);
  for (float v : floats(out[0])) EXPECT_EQ(v, 21.0f);
  EXPECT_TRUE(p->exec->last_run_planned());
  // Input copy + at most two buffers for the chain (ping-pong or in place): 3 x 1 KiB.
  EXPECT_LE(p->exec->peak_activation_bytes(), 3 * 1024);
}

// The recorded run's buffers go before its plan's arena is made: afterwards the dynamic
// allocator holds only the output the caller still has, not the run's intermediates (which
// would otherwise stay resident beside the arena for the executor's life).
TEST(MemoryPlanRuns, RecordedRunGivesBackItsBuffers) {
  // Values 4x larger each (none fits another's buffer: 16 KiB to 1 MiB), each used once.
  std::string body =
      "        tensor<int32, [1]> four = const()[name = string(\"four\"), "
      "val = tensor<int32, [1]>([4])];\n";
  std::string prev = "x";
  int64_t size = 1024;
  char line[200];
  for (int i = 0; i < 4; ++i) {
    size *= 4;
    std::snprintf(line, sizeof(line),
                  "        tensor<fp32, [%lld]> t%d = tile(x = %s, reps = four)"
                  "[name = string(\"t%d\")];\n",
                  static_cast<long long>(size), i, prev.c_str(), i);
    body.append(line);
    std::snprintf(line, sizeof(line), "t%d", i);
    prev = line;
  }
  std::snprintf(line, sizeof(line),
                "        fp32 two = const()[name = string(\"two\"), val = fp32(0x1p+1)];\n"
                "        tensor<fp32, [%lld]> y = mul(x = %s, y = two)[name = string(\"y\")];\n",
                static_cast<long long>(size), prev.c_str());
  body.append(line);
  auto p = load("tensor<fp32, [1024]> x", body, "y");
  Tensor x = Tensor::full({1024}, 1.0);
  std::vector<const Tensor*> inputs = {&x};
  std::vector<Tensor> out;
  p->exec->run(inputs, {}, out);
  EXPECT_FALSE(p->exec->last_run_planned());  // the recorded run
  ASSERT_EQ(out[0].numel(), size);
  for (float f : floats(out[0])) ASSERT_EQ(f, 2.0f);
  // Only y's buffer is held (the caller's output), not t0..t3's 1.3 MiB beside it.
  EXPECT_LE(p->exec->dynamic_buffer_bytes(), static_cast<int64_t>(out[0].nbytes()));
  p->exec->run(inputs, {}, out);
  EXPECT_TRUE(p->exec->last_run_planned());
  for (float f : floats(out[0])) ASSERT_EQ(f, 2.0f);
}

// While recording, a large request takes a free buffer only when it is nearly the same size:
// y (1 MiB) is made after t (4 MiB) died, and takes a buffer of its own rather than t's (which
// the old 4x slack allowed, leaving the caller's 1 MiB output holding 4 MiB).
TEST(MemoryPlanRuns, RecordedRunFitsLargeBuffersTightly) {
  const std::string body = R"(
        fp32 two = const()[name = string("two"), val = fp32(0x1p+1)];
        tensor<int32, [1]> rows = const()[name = string("rows"), val = tensor<int32, [1]>([0])];
        tensor<fp32, [4, 262144]> t = mul(x = x, y = two)[name = string("t")];
        bool keep = const()[name = string("keep"), val = bool(false)];
        tensor<fp32, [262144]> s = reduce_sum(x = t, axes = rows, keep_dims = keep)
            [name = string("s")];
        tensor<fp32, [262144]> y = mul(x = s, y = two)[name = string("y")];)";
  auto p = load("tensor<fp32, [4, 262144]> x", body, "y");
  Tensor x = Tensor::full({4, 262144}, 1.0);
  std::vector<const Tensor*> inputs = {&x};
  std::vector<Tensor> out;
  p->exec->run(inputs, {}, out);
  EXPECT_FALSE(p->exec->last_run_planned());
  for (float f : floats(out[0])) ASSERT_EQ(f, 16.0f);
  EXPECT_LE(p->exec->dynamic_buffer_bytes(), static_cast<int64_t>(out[0].nbytes()));
}

// The recorded run's peak: a (1 MiB) and b = [a, a] (2 MiB) live together, then a dies and the
// small result's buffer, fitting no free one, makes the run give a's back. The run still
// reports the 3 MiB it held at its peak, not the 2 MiB left at its end.
TEST(MemoryPlanRuns, RecordedRunReportsItsPeak) {
  const std::string body = R"(
        fp32 two = const()[name = string("two"), val = fp32(0x1p+1)];
        tensor<fp32, [262144]> a = mul(x = x, y = two)[name = string("a")];
        int32 ax = const()[name = string("ax"), val = int32(0)];
        bool il = const()[name = string("il"), val = bool(false)];
        tensor<fp32, [524288]> b = concat(axis = ax, interleave = il, values = (a, a))[name = string("b")];
        bool keep = const()[name = string("keep"), val = bool(false)];
        fp32 y = reduce_sum(x = b, keep_dims = keep)[name = string("y")];)";
  auto p = load("tensor<fp32, [262144]> x", body, "y");
  Tensor x = Tensor::full({262144}, 0.5);
  std::vector<const Tensor*> inputs = {&x};
  std::vector<Tensor> out;
  p->exec->run(inputs, {}, out);
  EXPECT_FALSE(p->exec->last_run_planned());
  EXPECT_EQ(floats(out[0]).at(0), 524288.0f);
  EXPECT_GE(p->exec->peak_activation_bytes(), int64_t{3} << 20);
}

// A recorded run lets an op write over a dying input as the plan will: a chain of elementwise
// ops on a 1 MiB value holds one buffer at its peak, not two (its input and its output).
TEST(MemoryPlanRuns, RecordedRunWritesOverDyingInputs) {
  const std::string body = R"(
        fp32 two = const()[name = string("two"), val = fp32(0x1p+1)];
        fp32 three = const()[name = string("three"), val = fp32(0x1.8p+1)];
        tensor<fp32, [262144]> a = mul(x = x, y = two)[name = string("a")];
        tensor<fp32, [262144]> b = relu(x = a)[name = string("b")];
        tensor<fp32, [262144]> c = sigmoid(x = b)[name = string("c")];
        tensor<fp32, [262144]> y = mul(x = c, y = three)[name = string("y")];)";
  auto p = load("tensor<fp32, [262144]> x", body, "y");
  Tensor x = Tensor::empty({262144}, DType::kFloat32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 17) - 8.0f;
  std::vector<const Tensor*> inputs = {&x};
  for (int run = 0; run < 2; ++run) {  // recorded, then planned
    std::vector<Tensor> out;
    p->exec->run(inputs, {}, out);
    EXPECT_EQ(p->exec->last_run_planned(), run == 1);
    const auto got = floats(out[0]);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float r = std::max(0.0f, 2.0f * x.data<float>()[i]);
      ASSERT_NEAR(got[static_cast<size_t>(i)], 3.0f / (1.0f + std::exp(-r)), 1e-6f) << i;
    }
    if (run == 0) {
      EXPECT_LE(p->exec->peak_activation_bytes(), (int64_t{1} << 20) + 4096);
    }
  }
}

// ... but not over an input that something else still reads: c dies at d = 3c, yet its view v
// is read after (y = d + v = 4c, not 6c); nor over an input read twice (e = b + b).
TEST(MemoryPlanRuns, RecordedRunKeepsInputsThatAreStillRead) {
  const std::string body = R"(
        fp32 two = const()[name = string("two"), val = fp32(0x1p+1)];
        fp32 three = const()[name = string("three"), val = fp32(0x1.8p+1)];
        tensor<int32, [2]> square = const()[name = string("square"), val = tensor<int32, [2]>([512, 512])];
        tensor<int32, [1]> flat = const()[name = string("flat"), val = tensor<int32, [1]>([262144])];
        tensor<fp32, [262144]> a = mul(x = x, y = two)[name = string("a")];
        tensor<fp32, [262144]> b = relu(x = a)[name = string("b")];
        tensor<fp32, [262144]> c = add(x = b, y = b)[name = string("c")];
        tensor<fp32, [512, 512]> v = reshape(x = c, shape = square)[name = string("v")];
        tensor<fp32, [262144]> d = mul(x = c, y = three)[name = string("d")];
        tensor<fp32, [262144]> w = reshape(x = v, shape = flat)[name = string("w")];
        tensor<fp32, [262144]> y = add(x = d, y = w)[name = string("y")];)";
  for (const bool plan : {true, false}) {
    auto p = load("tensor<fp32, [262144]> x", body, "y", plan);
    Tensor x = Tensor::empty({262144}, DType::kFloat32);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 13) - 6.0f;
    std::vector<const Tensor*> inputs = {&x};
    for (int run = 0; run < 2; ++run) {
      std::vector<Tensor> out;
      p->exec->run(inputs, {}, out);
      const auto got = floats(out[0]);
      for (int64_t i = 0; i < x.numel(); ++i) {
        // b = relu(2x), c = 2b, y = 3c + c = 8 relu(2x)
        const float want = 8.0f * std::max(0.0f, 2.0f * x.data<float>()[i]);
        ASSERT_EQ(got[static_cast<size_t>(i)], want)
            << "plan " << plan << " run " << run << " at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace coreml::runtime
