// cond and while_loop: run nested blocks through the executor.
#include <chrono>

#include "coreml/limits.h"
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

// A loop that runs longer than the limits allow (coreml/limits.h) is judged runaway: a malformed
// or hostile model. Time is the bound that matters (a cheap body can spin through millions of
// iterations a second, an expensive one can take minutes for a thousand); iterations too.
void while_loop(runtime::OpContext& ctx) {
  if (ctx.block_count() != 2) ctx.fail("expects a condition block and a body block");
  const ResourceLimits limits = resource_limits();
  const auto start = std::chrono::steady_clock::now();
  const auto time_limit = std::chrono::duration<double>(limits.max_loop_seconds);
  std::vector<runtime::RtValue> vars;
  for (const auto* v : ctx.values("loop_vars")) vars.push_back(*v);
  for (int64_t i = 0;; ++i) {
    if (i >= limits.max_loop_iterations) {
      ctx.fail("did not finish within ", limits.max_loop_iterations,
               " iterations (raise COREML_MAX_LOOP_ITERATIONS if the model is right)");
    }
    if (std::chrono::steady_clock::now() - start > time_limit) {
      ctx.fail("still running after ", limits.max_loop_seconds, " seconds (", i,
               " iterations): raise COREML_MAX_LOOP_SECONDS if the model is right");
    }
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
