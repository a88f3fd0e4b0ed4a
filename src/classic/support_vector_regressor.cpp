// supportVectorRegressor: y = sum_i alpha_i k(x, sv_i) - rho.
#include "classic/features.h"
#include "classic/model_types.h"
#include "classic/svm_kernel.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class SupportVectorRegressor final : public Evaluator {
 public:
  SupportVectorRegressor(const spec::Model& model, const std::string& source)
      : interface_(model, source, "supportVectorRegressor"),
        kernel_(model.support_vector_regressor().kernel(), interface_.where),
        vectors_(support_vectors_of(model.support_vector_regressor(), interface_.where)),
        alpha_(model.support_vector_regressor().coefficients().alpha().begin(),
               model.support_vector_regressor().coefficients().alpha().end()),
        rho_(model.support_vector_regressor().rho()) {
    if (alpha_.size() != vectors_.size()) {
      fail(ErrorCode::kParse, interface_.where, ": ", alpha_.size(), " coefficients for ",
           vectors_.size(), " support vectors");
    }
  }

  void evaluate(Features& features) const override {
    const std::vector<double> x = interface_.input_vector(features);
    const std::vector<double> k = kernel_.apply(vectors_, x, interface_.where);
    double y = -rho_;
    for (size_t i = 0; i < k.size(); ++i) y += alpha_[i] * k[i];
    write_numbers(features, interface_.output(), {y}, interface_.where);
  }

 private:
  Interface interface_;
  SvmKernel kernel_;
  std::vector<std::vector<double>> vectors_;
  std::vector<double> alpha_;
  double rho_;
};

}  // namespace

std::unique_ptr<Evaluator> make_support_vector_regressor(const spec::Model& model,
                                                         const std::string& source) {
  return std::make_unique<SupportVectorRegressor>(model, source);
}

}  // namespace coreml::classic
