// A tree ensemble's parameters, checked and flattened for evaluation: every tree is walked
// from its root by comparing one input element per branch node, and the leaves reached add
// their values to the prediction dimensions, on top of the base prediction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/coreml.pb.h"

namespace coreml::classic {

class TreeEnsemble {
 public:
  // Throws coreml::Error ("<where>: node N of tree T: ...") for children that do not exist or
  // belong to another tree, nodes reached twice, trees without one root, evaluation indices
  // beyond the prediction dimensions, unknown node behaviors.
  TreeEnsemble(const spec::TreeEnsembleParameters& params, const std::string& where);

  size_t dimensions() const { return base_.size(); }
  // The summed prediction for input `x`; fails when a branch reads beyond x.
  std::vector<double> predict(const std::vector<double>& x) const;

 private:
  struct Node {
    int behavior = 0;
    uint64_t feature = 0;
    double threshold = 0;
    int64_t true_child = -1;  // index into nodes_
    int64_t false_child = -1;
    bool missing_goes_true = false;
    uint32_t eval_begin = 0;  // range in evaluations_
    uint32_t eval_end = 0;
  };
  std::string where_;
  std::vector<Node> nodes_;
  std::vector<std::pair<uint64_t, double>> evaluations_;  // (dimension, value)
  std::vector<int64_t> roots_;
  std::vector<double> base_;
  uint64_t max_feature_ = 0;
  bool has_branches_ = false;
};

}  // namespace coreml::classic
