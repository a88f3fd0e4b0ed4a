// glmRegressor: y_j = transform(w_j . x + offset_j), transform none, logistic or probit.

#include "classic/features.h"
#include "classic/glm_rows.h"
#include "classic/link_functions.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class GlmRegressor final : public Evaluator {
 public:
  GlmRegressor(const spec::Model& model, const std::string& source)
      : interface_(model, source, "glmRegressor"), rows_(model.glm_regressor(), interface_.where) {
    transform_ = model.glm_regressor().post_evaluation_transform();
    check_range(transform_, 0, 2, interface_.where, "postEvaluationTransform");
  }

  void evaluate(Features& features) const override {
    std::vector<double> y = rows_.affine(interface_.input_vector(features), interface_.where);
    for (double& v : y) v = transform_ == 1 ? logistic(v) : transform_ == 2 ? probit(v) : v;
    write_numbers(features, interface_.output(), y, interface_.where);
  }

 private:
  Interface interface_;
  GlmRows rows_;
  int transform_ = 0;
};

}  // namespace

std::unique_ptr<Evaluator> make_glm_regressor(const spec::Model& model, const std::string& source) {
  return std::make_unique<GlmRegressor>(model, source);
}

}  // namespace coreml::classic
