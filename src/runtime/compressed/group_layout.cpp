#include "runtime/compressed/group_layout.h"

#include "coreml/error.h"

namespace coreml::runtime::compressed {

GroupLayout::GroupLayout(const std::vector<int64_t>& shape, const std::vector<int64_t>& groups) {
  if (shape.size() != groups.size()) {
    fail(ErrorCode::kInvalidArgument, "block grid of rank ", groups.size(),
         " does not match a tensor of rank ", shape.size());
  }
  std::vector<int64_t> dims;
  std::vector<int64_t> counts;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0 || groups[i] <= 0 || shape[i] % groups[i] != 0) {
      fail(ErrorCode::kInvalidArgument, "dimension ", i, " of size ", shape[i],
           " cannot be split into ", groups[i], " equal blocks");
    }
    element_count_ *= shape[i];
    group_count_ *= groups[i];
    if (shape[i] == 1) continue;
    // A dimension with one group continues the previous dimension's blocks.
    if (groups[i] == 1 && !dims.empty()) {
      dims.back() *= shape[i];
      blocks_.back() *= shape[i];
      continue;
    }
    dims.push_back(shape[i]);
    counts.push_back(groups[i]);
    blocks_.push_back(shape[i] / groups[i]);
  }
  if (element_count_ == 0) {
    dims.assign(1, 0);
    counts.assign(1, 1);
    blocks_.assign(1, 1);
  }
  dims_ = std::move(dims);
  group_strides_.assign(dims_.size(), 1);
  for (size_t i = dims_.size(); i-- > 1;) group_strides_[i - 1] = group_strides_[i] * counts[i];
}

}  // namespace coreml::runtime::compressed
