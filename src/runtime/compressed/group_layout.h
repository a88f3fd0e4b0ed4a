// Which table / scale block each element of a blockwise-compressed weight uses.
//
// Both LUT palettization (iOS18: one table per block of the output) and blockwise
// quantization (one scale/offset per block) split a tensor of shape D into g0 x g1 x ...
// blocks of B_i = D_i / g_i elements per dimension. Decoders walk a flat element range as
// runs of contiguous elements sharing one block, so the inner loops never divide per element.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace coreml::runtime::compressed {

class GroupLayout {
 public:
  GroupLayout() = default;
  // `shape` and `groups` have equal rank; groups[i] divides shape[i] (Error otherwise).
  GroupLayout(const std::vector<int64_t>& shape, const std::vector<int64_t>& groups);

  int64_t group_count() const { return group_count_; }
  int64_t element_count() const { return element_count_; }

  // Calls fn(flat_start, count, group) for consecutive runs covering [first, last), each
  // run lying in one block; `group` is the block's row-major index in the g0 x g1 x ... grid.
  template <typename Fn>
  void for_each_run(int64_t first, int64_t last, Fn&& fn) const {
    const size_t rank = dims_.size();
    if (rank == 0) {
      if (first < last) fn(first, last - first, int64_t{0});
      return;
    }
    const int64_t line = dims_.back();
    const int64_t block = blocks_.back();
    int64_t e = first;
    while (e < last) {
      int64_t rest = e / line;
      int64_t col = e % line;
      // Leading dimensions: group offset from each coordinate's block.
      int64_t group = 0;
      for (size_t i = rank - 1; i-- > 0;) {
        const int64_t coord = rest % dims_[i];
        rest /= dims_[i];
        group += (coord / blocks_[i]) * group_strides_[i];
      }
      const int64_t line_end = std::min(line, col + (last - e));
      while (col < line_end) {
        const int64_t b = col / block;
        const int64_t run_end = std::min(line_end, (b + 1) * block);
        fn(e, run_end - col, group + b);
        e += run_end - col;
        col = run_end;
      }
    }
  }

 private:
  // Canonical form: size-1 dimensions dropped, and every trailing run of dimensions with a
  // single group folded into the dimension before it, so runs are as long as possible (a
  // per-output-channel table over [Cout, Cin, 1, 1] becomes one dimension of Cout*Cin).
  std::vector<int64_t> dims_;
  std::vector<int64_t> blocks_;
  std::vector<int64_t> group_strides_;
  int64_t group_count_ = 1;
  int64_t element_count_ = 1;
};

}  // namespace coreml::runtime::compressed
