// normalizer: x divided by its largest absolute value (LMax), the sum of absolute values (L1)
// or the Euclidean norm (L2); a zero norm leaves x unchanged.
#include <cmath>

#include "classic/features.h"
#include "classic/model_types.h"

namespace coreml::classic {
namespace {

enum NormType { kLMax = 0, kL1 = 1, kL2 = 2 };

class Normalizer final : public Evaluator {
 public:
  Normalizer(const spec::Model& model, const std::string& source)
      : interface_(model, source, "normalizer"), norm_(model.normalizer().norm_type()) {
    check_range(norm_, kLMax, kL2, interface_.where, "normType");
  }

  void evaluate(Features& features) const override {
    std::vector<double> x = interface_.input_vector(features);
    double norm = 0;
    for (double v : x) {
      if (norm_ == kLMax) norm = std::max(norm, std::abs(v));
      if (norm_ == kL1) norm += std::abs(v);
      if (norm_ == kL2) norm += v * v;
    }
    if (norm_ == kL2) norm = std::sqrt(norm);
    if (norm > 0) {
      for (double& v : x) v /= norm;
    }
    write_numbers(features, interface_.output(), x, interface_.where);
  }

 private:
  Interface interface_;
  int norm_;
};

}  // namespace

std::unique_ptr<Evaluator> make_normalizer(const spec::Model& model, const std::string& source) {
  return std::make_unique<Normalizer>(model, source);
}

}  // namespace coreml::classic
