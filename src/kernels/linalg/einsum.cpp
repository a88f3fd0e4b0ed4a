// einsum(values, equation) for one or two operands without ellipsis: every label is a batch
// (both operands and the output), a row (x and output), a column (y and output) or a summed
// label (not in the output). Operands are gathered into [batch, rows, summed] and
// [batch, columns, summed] fp32 blocks (size-1 dimensions broadcast by stride 0, a label
// repeated within one operand walks its diagonal) and multiplied with dot_block. This covers
// coremltools' "nchw,nwhu->nchu" / "chw,whr->chr" forms and the torch frontend's others.
#include <algorithm>
#include <map>

#include "kernels/common/compute.h"
#include "kernels/linalg/dot_block.h"
#include "kernels/linalg/linalg_ops.h"

namespace coreml::kernels::linalg {
namespace {

constexpr size_t kMaxLabels = 16;

struct Operand {
  std::string labels;
  std::vector<float> data;
  std::map<char, int64_t> stride;  // summed over repeats; 0 where broadcast
};

// Gathers src at every coordinate of `sizes` (row-major) with per-dimension `strides`.
void gather(const float* src, const std::vector<int64_t>& sizes,
            const std::vector<int64_t>& strides, float* dst) {
  const int64_t total = element_count(sizes);
  std::vector<int64_t> coord(sizes.size(), 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < total; ++i) {
    dst[i] = src[offset];
    for (size_t d = sizes.size(); d-- > 0;) {
      offset += strides[d];
      if (++coord[d] < sizes[d]) break;
      offset -= strides[d] * sizes[d];
      coord[d] = 0;
    }
  }
}

}  // namespace

void einsum(runtime::OpContext& ctx) {
  std::string equation;
  for (char c : ctx.get_string("equation")) {
    if (c != ' ') equation.push_back(c);
  }
  if (equation.find('.') != std::string::npos) ctx.unsupported("einsum with an ellipsis ('...')");
  const size_t arrow = equation.find("->");
  const std::string lhs = equation.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  const size_t count = ctx.count("values");
  if (terms.size() != count || count < 1 || count > 2) {
    ctx.fail("equation '", equation, "' names ", terms.size(), " operands but values has ", count,
             " (1 or 2 supported)");
  }
  std::string out_labels;
  if (arrow != std::string::npos) {
    out_labels = equation.substr(arrow + 2);
  } else {  // implicit output: labels used exactly once, alphabetically
    std::map<char, int> uses;
    for (const auto& t : terms) {
      for (char c : t) ++uses[c];
    }
    for (const auto& [c, n] : uses) {
      if (n == 1) out_labels.push_back(c);
    }
  }

  std::map<char, int64_t> size;
  std::vector<Operand> ops(2);
  for (size_t i = 0; i < count; ++i) {
    const Tensor& t = ctx.in("values", i);
    Operand& op = ops[i];
    op.labels = terms[i];
    if (static_cast<int64_t>(op.labels.size()) != t.rank()) {
      ctx.fail("operand ", i, " has rank ", t.rank(), " but its term '", op.labels, "' has ",
               op.labels.size(), " labels");
    }
    op.data = load_f32(t);
    int64_t stride = 1;
    for (size_t a = op.labels.size(); a-- > 0;) {
      const char c = op.labels[a];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        ctx.fail("bad einsum label '", c, "'");
      const int64_t dim = t.shape()[a];
      int64_t& known = size[c];
      if (known == 0 || known == 1)
        known = std::max(known, dim);
      else if (dim != known && dim != 1)
        ctx.fail("label '", c, "' has sizes ", known, " and ", dim);
      op.stride[c] += dim == 1 ? 0 : stride;
      stride *= dim;
    }
  }
  if (count == 1) ops[1].data = {1.0f};  // a second operand with no labels
  if (size.size() > kMaxLabels) ctx.fail("too many einsum labels");
  for (size_t i = 0; i < out_labels.size(); ++i) {
    if (!size.count(out_labels[i]))
      ctx.fail("output label '", out_labels[i], "' is not an input label");
    if (out_labels.find(out_labels[i], i + 1) != std::string::npos) {
      ctx.fail("output label '", out_labels[i], "' repeats");
    }
  }
  // Re-check broadcast sizes per operand (a size-1 dim seen first may now be wider).
  for (size_t i = 0; i < count; ++i) {
    const auto& shape = ctx.in("values", i).shape();
    for (size_t a = 0; a < ops[i].labels.size(); ++a) {
      const int64_t dim = shape[a];
      if (dim != 1 && dim != size[ops[i].labels[a]]) {
        ctx.fail("label '", ops[i].labels[a], "' has inconsistent sizes");
      }
    }
  }

  std::string batch, rows, cols, summed;
  for (const auto& [c, n] : size) {
    const bool in_x = ops[0].labels.find(c) != std::string::npos;
    const bool in_y = ops[1].labels.find(c) != std::string::npos;
    const bool in_out = out_labels.find(c) != std::string::npos;
    if (!in_out)
      summed.push_back(c);
    else if (in_x && in_y)
      batch.push_back(c);
    else if (in_x)
      rows.push_back(c);
    else
      cols.push_back(c);
  }
  auto sizes_of = [&](const std::string& labels) {
    std::vector<int64_t> s;
    for (char c : labels) s.push_back(size[c]);
    return s;
  };
  auto pack = [&](const Operand& op, const std::string& labels) {
    std::vector<int64_t> strides;
    for (char c : labels) strides.push_back(op.stride.count(c) ? op.stride.at(c) : 0);
    std::vector<float> packed(static_cast<size_t>(element_count(sizes_of(labels))));
    gather(op.data.data(), sizes_of(labels), strides, packed.data());
    return packed;
  };
  const int64_t nb = element_count(sizes_of(batch)), nm = element_count(sizes_of(rows)),
                nn = element_count(sizes_of(cols)), nk = element_count(sizes_of(summed));
  const auto a = pack(ops[0], batch + rows + summed);
  const auto b = pack(ops[1], batch + cols + summed);
  std::vector<float> product(static_cast<size_t>(nb * nm * nn));
  ctx.pool().parallel_for(nb, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      dot_block(a.data() + i * nm * nk, nm, b.data() + i * nn * nk, nn, nk,
                product.data() + i * nm * nn, nn, 1);
    }
  });
  // product is laid out as batch + rows + cols; gather it into the output's label order.
  const std::string product_labels = batch + rows + cols;
  std::vector<int64_t> product_stride(product_labels.size(), 1);
  for (size_t i = product_labels.size(); i-- > 1;) {
    product_stride[i - 1] = product_stride[i] * size[product_labels[i]];
  }
  std::vector<int64_t> out_strides;
  for (char c : out_labels) out_strides.push_back(product_stride[product_labels.find(c)]);
  std::vector<float> out(static_cast<size_t>(element_count(sizes_of(out_labels))));
  gather(product.data(), sizes_of(out_labels), out_strides, out.data());
  emit(ctx, 0, sizes_of(out_labels), out);
}

}  // namespace coreml::kernels::linalg
