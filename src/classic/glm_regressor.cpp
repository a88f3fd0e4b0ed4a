// glmRegressor: y_j = transform(w_j . x + offset_j), transform none, logistic or probit.

#include "classic/features.h"
#include "classic/link_functions.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class GlmRegressor final : public Evaluator {
 public:
  GlmRegressor(const spec::Model& model, const std::string& source)
      : interface_(model, source, "glmRegressor") {
    const auto& glm = model.glm_regressor();
    transform_ = glm.post_evaluation_transform();
    check_range(transform_, 0, 2, interface_.where, "postEvaluationTransform");
    if (glm.weights_size() == 0 || glm.offset_size() != glm.weights_size()) {
      fail(ErrorCode::kParse, interface_.where, ": ", glm.weights_size(), " weight rows and ",
           glm.offset_size(), " offsets; expected the same number, at least one");
    }
    for (const auto& row : glm.weights()) {
      weights_.emplace_back(row.value().begin(), row.value().end());
      if (weights_.back().size() != weights_.front().size()) {
        fail(ErrorCode::kParse, interface_.where, ": weight rows differ in length");
      }
    }
    offsets_.assign(glm.offset().begin(), glm.offset().end());
  }

  void evaluate(Features& features) const override {
    const std::vector<double> x = interface_.input_vector(features);
    if (x.size() != weights_.front().size()) {
      fail(ErrorCode::kInvalidArgument, interface_.where, ": ", x.size(),
           " input values, the weights expect ", weights_.front().size());
    }
    std::vector<double> y(weights_.size());
    for (size_t j = 0; j < weights_.size(); ++j) {
      double sum = offsets_[j];
      for (size_t i = 0; i < x.size(); ++i) sum += weights_[j][i] * x[i];
      y[j] = transform_ == 1 ? logistic(sum) : transform_ == 2 ? probit(sum) : sum;
    }
    write_numbers(features, interface_.output(), y, interface_.where);
  }

 private:
  Interface interface_;
  int transform_ = 0;
  std::vector<std::vector<double>> weights_;
  std::vector<double> offsets_;
};

}  // namespace

std::unique_ptr<Evaluator> make_glm_regressor(const spec::Model& model, const std::string& source) {
  return std::make_unique<GlmRegressor>(model, source);
}

}  // namespace coreml::classic
