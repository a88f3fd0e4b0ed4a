// Linalg kernels at LLM shapes: fp16 weights [Dout, Din] against S activation rows, through
// linear, 1x1 conv (x [1, Din, 1, S]) and matmul with a constant transposed y. Counters:
// weight_bytes/s (the weight streamed once per call; the limit at S = 1) and flop/s (2·S·Din·Dout).
#include <benchmark/benchmark.h>

#include <random>

#include "kernels/linalg/linalg_ops.h"
#include "runtime/op_context.h"

namespace coreml::kernels::linalg {
namespace {

class PlainAllocator : public runtime::BufferAllocator {
 public:
  Tensor allocate(size_t, const std::vector<int64_t>& shape, DType dtype) override {
    return Tensor::empty(shape, dtype);
  }
};

Tensor random_fp16(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape).to(DType::kFloat16);
}

using Kernel = void (*)(runtime::OpContext&);

enum class Form { kLinear, kConv1x1, kMatmul };

void run(benchmark::State& state, Form form) {
  const int64_t din = state.range(0), dout = state.range(1), s = state.range(2);
  mil::Operation op;
  std::vector<int64_t> x_shape;
  Tensor weight;
  switch (form) {
    case Form::kLinear:
      op.type = "linear";
      x_shape = {s, din};
      weight = random_fp16({dout, din});
      break;
    case Form::kConv1x1:
      op.type = "conv";
      x_shape = {1, din, 1, s};
      weight = random_fp16({dout, din, 1, 1});
      break;
    case Form::kMatmul: {
      op.type = "matmul";
      x_shape = {s, din};
      weight = random_fp16({dout, din});
      mil::Value yes;
      yes.type = mil::Type::scalar(mil::DataType::kBool);
      yes.bytes = {1};
      op.attributes["transpose_y"] = yes;
      break;
    }
  }
  const std::string x_name = "x", w_name = form == Form::kMatmul ? "y" : "weight";
  op.inputs[x_name] = mil::Argument{};
  op.inputs[w_name] = mil::Argument{};
  op.outputs.push_back(
      {"out", mil::Type::of_tensor(mil::TensorType{mil::DataType::kFloat16, std::nullopt})});
  const auto x = runtime::RtValue::of(random_fp16(x_shape));
  const auto w = runtime::RtValue::of(weight, /*is_constant=*/true);
  // op.inputs is a std::map: bindings follow its (alphabetical) parameter order.
  std::vector<std::vector<const runtime::RtValue*>> bound;
  for (const auto& [name, arg] : op.inputs) bound.push_back({name == x_name ? &x : &w});
  PlainAllocator allocator;
  auto pool_owner = runtime::ThreadPool::shared(0);
  auto& pool = *pool_owner;
  const Kernel kernel = form == Form::kLinear ? linear : form == Form::kConv1x1 ? conv : matmul;
  for (auto _ : state) {
    std::vector<runtime::RtValue> outputs(1);
    runtime::OpContext ctx(op, bound, outputs, allocator, pool);
    kernel(ctx);
    benchmark::DoNotOptimize(outputs[0].tensor.data());
  }
  state.counters["weight_bytes/s"] =
      benchmark::Counter(double(din * dout * 2), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1024);
  state.counters["flop/s"] = benchmark::Counter(2.0 * double(s * din * dout),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (int64_t s : {1, 64}) {
    b->Args({1024, 1024, s})->Args({1024, 3072, s})->Args({3072, 1024, s})->Args({1024, 9496, s});
  }
  b->ArgNames({"din", "dout", "S"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void BM_Linear(benchmark::State& state) { run(state, Form::kLinear); }
void BM_Conv1x1(benchmark::State& state) { run(state, Form::kConv1x1); }
void BM_MatmulConstY(benchmark::State& state) { run(state, Form::kMatmul); }
BENCHMARK(BM_Linear)->Apply(shapes);
BENCHMARK(BM_Conv1x1)->Apply(shapes);
BENCHMARK(BM_MatmulConstY)->Apply(shapes);

}  // namespace
}  // namespace coreml::kernels::linalg

BENCHMARK_MAIN();
