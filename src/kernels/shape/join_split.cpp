// concat, stack and split: copies of contiguous blocks.
#include <algorithm>
#include <cstring>

#include "kernels/common/compute.h"
#include "kernels/shape/data_movement.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

std::vector<Tensor> dense_values(runtime::OpContext& ctx) {
  std::vector<Tensor> tensors;
  for (const runtime::RtValue* v : ctx.values("values")) tensors.push_back(v->dense().contiguous());
  if (tensors.empty()) ctx.fail("needs at least one value");
  for (const Tensor& t : tensors) {
    if (t.dtype() != tensors[0].dtype()) ctx.fail("values have different dtypes");
  }
  return tensors;
}

// Output = for each of `outer` blocks, the next `block[i]` bytes of every input i in turn.
void interleave_blocks(const std::vector<Tensor>& inputs, int64_t outer,
                       const std::vector<size_t>& block_bytes, Tensor& out) {
  auto* dst = static_cast<std::byte*>(out.data());
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const size_t n = block_bytes[i];
      if (n == 0) continue;
      std::memcpy(dst, static_cast<const std::byte*>(inputs[i].data()) + static_cast<size_t>(o) * n,
                  n);
      dst += n;
    }
  }
}

// stack at `axis` of equally shaped inputs (also concat with interleave=True at axis - 1).
void stack_into(runtime::OpContext& ctx, const std::vector<Tensor>& inputs, int64_t axis,
                const std::vector<int64_t>& out_shape) {
  const auto& shape = inputs[0].shape();
  for (const Tensor& t : inputs) {
    if (t.shape() != shape) ctx.fail("all values must have the same shape");
  }
  const int64_t outer = element_count({shape.begin(), shape.begin() + axis});
  const size_t block = static_cast<size_t>(element_count({shape.begin() + axis, shape.end()})) *
                       inputs[0].itemsize();
  Tensor& out = allocate_like(ctx, 0, out_shape, inputs[0].dtype());
  if (out.numel() > 0)
    interleave_blocks(inputs, outer, std::vector<size_t>(inputs.size(), block), out);
}

// coremltools' shape arithmetic concatenates scalars (concat([1, gather(shape(x), 1)]) with a
// RangeDim input); Core ML treats rank-0 values there as length-1 vectors.
std::vector<Tensor> scalars_as_vectors(std::vector<Tensor> inputs) {
  bool any_scalar = false;
  int64_t max_rank = 0;
  for (const Tensor& t : inputs) {
    any_scalar |= t.rank() == 0;
    max_rank = std::max(max_rank, t.rank());
  }
  if (!any_scalar || max_rank > 1) return inputs;
  for (Tensor& t : inputs) {
    if (t.rank() == 0) t = t.reshape({1});
  }
  return inputs;
}

void concat(runtime::OpContext& ctx) {
  const std::vector<Tensor> inputs = scalars_as_vectors(dense_values(ctx));
  const auto& first = inputs[0].shape();
  const int64_t rank = inputs[0].rank();
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis"), rank);
  const auto a = static_cast<size_t>(axis);
  if (ctx.get_bool("interleave", false)) {
    std::vector<int64_t> out_shape = first;
    out_shape[a] *= static_cast<int64_t>(inputs.size());
    stack_into(ctx, inputs, axis + 1, out_shape);
    return;
  }
  std::vector<int64_t> out_shape = first;
  out_shape[a] = 0;
  const int64_t inner = element_count({first.begin() + axis + 1, first.end()});
  std::vector<size_t> block_bytes;
  for (const Tensor& t : inputs) {
    if (t.rank() != rank) ctx.fail("values have different ranks");
    for (int64_t d = 0; d < rank; ++d) {
      if (d != axis && t.shape()[static_cast<size_t>(d)] != first[static_cast<size_t>(d)]) {
        ctx.fail("values differ in dimension ", d, " outside the concat axis");
      }
    }
    out_shape[a] += t.shape()[a];
    block_bytes.push_back(static_cast<size_t>(t.shape()[a] * inner) * t.itemsize());
  }
  const int64_t outer = element_count({first.begin(), first.begin() + axis});
  Tensor& out = allocate_like(ctx, 0, out_shape, inputs[0].dtype());
  if (out.numel() > 0) interleave_blocks(inputs, outer, block_bytes, out);
}

void stack(runtime::OpContext& ctx) {
  const std::vector<Tensor> inputs = dense_values(ctx);
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis", 0), inputs[0].rank() + 1);
  std::vector<int64_t> out_shape = inputs[0].shape();
  out_shape.insert(out_shape.begin() + axis, static_cast<int64_t>(inputs.size()));
  check_rank(ctx, out_shape.size());
  stack_into(ctx, inputs, axis, out_shape);
}

// split(x, num_splits | split_sizes, axis): one output per piece.
void split(runtime::OpContext& ctx) {
  const Tensor& x = ctx.in("x");
  const int64_t axis = normalize_axis(ctx, ctx.get_int("axis"), x.rank());
  const int64_t n = x.shape()[static_cast<size_t>(axis)];
  std::vector<int64_t> sizes;
  if (const auto given = ctx.get_ints_if("split_sizes")) {
    sizes = *given;
  } else {
    const int64_t pieces = ctx.get_int("num_splits");
    if (pieces <= 0 || pieces > (1 << 20)) ctx.fail("num_splits ", pieces, " is out of range");
    // Like coremltools: pieces of ceil(n / pieces), the last one smaller.
    const int64_t each = (n + pieces - 1) / pieces;
    for (int64_t start = 0; start < n; start += each) sizes.push_back(std::min(each, n - start));
    while (static_cast<int64_t>(sizes.size()) < pieces) sizes.push_back(0);
  }
  if (sizes.size() != ctx.output_count()) {
    ctx.fail(sizes.size(), " pieces but ", ctx.output_count(), " outputs");
  }
  int64_t start = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 0 || start + sizes[i] > n)
      ctx.fail("split sizes do not fit dimension of size ", n);
    emit_tensor(ctx, i, x.narrow(axis, start, sizes[i]));
    start += sizes[i];
  }
  if (start != n) ctx.fail("split sizes add up to ", start, ", not ", n);
}

}  // namespace

void register_join_split_kernels(runtime::KernelRegistry& r) {
  r.add("concat", concat);
  r.add("stack", stack);
  r.add("split", split);
}

}  // namespace coreml::kernels
