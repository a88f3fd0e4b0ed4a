// softmax(x, axis=-1) = exp(x - max) / sum(exp(x - max)) along one axis.
#include <cmath>

#include "kernels/reduction/reduction_kernels.h"
#include "kernels/reduction/row_io.h"
#include "kernels/reduction/softmax_row.h"

namespace coreml::kernels {
namespace {

void softmax(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  if (x.rank() == 0) ctx.fail("x must have rank 1 or more");
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", -1), x.rank());
  const AxisBlock block = axis_block(x, {axis});
  const F32Elements data(x);
  F32Output out(ctx, 0, x.shape());
  transform_rows(ctx.pool(), data.data(), out.data(), block.layout,
                 [&](int64_t, const float* in, float* o) { softmax_row(in, o, block.layout.n); });
  out.finish();
}

}  // namespace

void register_softmax_kernels(runtime::KernelRegistry& r) { r.add("softmax", softmax); }

}  // namespace coreml::kernels
