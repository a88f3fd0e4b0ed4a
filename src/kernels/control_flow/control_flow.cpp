// cond and while_loop: run nested blocks through the executor.
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

bool truth(const runtime::OpContext& ctx, const runtime::RtValue& v) {
  const Tensor t = v.dense().to(DType::kBool).contiguous();
  if (t.numel() != 1) ctx.fail("the predicate must hold one value, got ", t.numel());
  return *static_cast<const bool*>(t.data());
}

void cond(runtime::OpContext& ctx) {
  if (ctx.block_count() != 2) ctx.fail("expects two blocks, has ", ctx.block_count());
  const bool pred = truth(ctx, ctx.value("pred"));
  auto outs = ctx.run_block(pred ? 0 : 1, {});
  if (outs.size() != ctx.output_count()) ctx.fail("a branch returns ", outs.size(), " values");
  for (size_t i = 0; i < outs.size(); ++i) ctx.output_value(i) = outs[i];
}

// Iterations allowed before a loop is judged runaway (a malformed or hostile model).
constexpr int64_t kMaxIterations = 10'000'000;

void while_loop(runtime::OpContext& ctx) {
  if (ctx.block_count() != 2) ctx.fail("expects a condition block and a body block");
  std::vector<runtime::RtValue> vars;
  for (const auto* v : ctx.values("loop_vars")) vars.push_back(*v);
  for (int64_t i = 0;; ++i) {
    if (i >= kMaxIterations) ctx.fail("did not finish within ", kMaxIterations, " iterations");
    const auto c = ctx.run_block(0, vars);
    if (c.size() != 1) ctx.fail("the condition block must return one value");
    if (!truth(ctx, c[0])) break;
    vars = ctx.run_block(1, vars);
    if (vars.size() != ctx.output_count()) ctx.fail("the body returns ", vars.size(), " values");
  }
  for (size_t i = 0; i < vars.size(); ++i) ctx.output_value(i) = vars[i];
}

}  // namespace

void register_control_flow_kernels(runtime::KernelRegistry& r) {
  r.add("cond", cond);
  r.add("while_loop", while_loop);
}

}  // namespace coreml::kernels
