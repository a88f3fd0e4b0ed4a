// The weight rows and offsets of a generalized linear model, shared by glmClassifier and
// glmRegressor: checked when the model is read, evaluated as w_j . x + offset_j.
#pragma once

#include <string>
#include <vector>

#include "coreml/error.h"

namespace coreml::classic {

class GlmRows {
 public:
  // `glm` is the GlmClassifier or GlmRegressor message (both carry `weights` and `offset`).
  template <typename Glm>
  GlmRows(const Glm& glm, const std::string& where) {
    if (glm.weights_size() == 0 || glm.offset_size() != glm.weights_size()) {
      fail(ErrorCode::kParse, where, ": ", glm.weights_size(), " weight rows and ",
           glm.offset_size(), " offsets; expected the same number, at least one");
    }
    for (const auto& row : glm.weights()) {
      weights_.emplace_back(row.value().begin(), row.value().end());
      if (weights_.back().size() != weights_.front().size()) {
        fail(ErrorCode::kParse, where, ": weight rows differ in length");
      }
    }
    offsets_.assign(glm.offset().begin(), glm.offset().end());
  }

  size_t rows() const { return weights_.size(); }

  // w_j . x + offset_j for every row; `x` must have one value per weight column.
  std::vector<double> affine(const std::vector<double>& x, const std::string& where) const {
    if (x.size() != weights_.front().size()) {
      fail(ErrorCode::kInvalidArgument, where, ": ", x.size(), " input values, the weights expect ",
           weights_.front().size());
    }
    std::vector<double> sums(weights_.size());
    for (size_t j = 0; j < weights_.size(); ++j) {
      double sum = offsets_[j];
      for (size_t i = 0; i < x.size(); ++i) sum += weights_[j][i] * x[i];
      sums[j] = sum;
    }
    return sums;
  }

 private:
  std::vector<std::vector<double>> weights_;
  std::vector<double> offsets_;
};

}  // namespace coreml::classic
