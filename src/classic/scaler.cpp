// scaler: y_i = (x_i + shift_i) * scale_i; a list of one value applies to every element, an
// empty list means shift 0 / scale 1.
#include "classic/features.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class Scaler final : public Evaluator {
 public:
  Scaler(const spec::Model& model, const std::string& source)
      : interface_(model, source, "scaler"),
        shift_(model.scaler().shift_value().begin(), model.scaler().shift_value().end()),
        scale_(model.scaler().scale_value().begin(), model.scaler().scale_value().end()) {}

  void evaluate(Features& features) const override {
    std::vector<double> x = interface_.input_vector(features);
    check_length(shift_, x.size(), "shiftValue");
    check_length(scale_, x.size(), "scaleValue");
    for (size_t i = 0; i < x.size(); ++i) {
      const double shift = shift_.empty() ? 0.0 : shift_[shift_.size() == 1 ? 0 : i];
      const double scale = scale_.empty() ? 1.0 : scale_[scale_.size() == 1 ? 0 : i];
      x[i] = (x[i] + shift) * scale;
    }
    write_numbers(features, interface_.output(), x, interface_.where);
  }

 private:
  void check_length(const std::vector<double>& values, size_t n, const char* field) const {
    if (values.size() > 1 && values.size() != n) {
      fail(ErrorCode::kInvalidArgument, interface_.where, ": ", field, " has ", values.size(),
           " values, the input ", n);
    }
  }

  Interface interface_;
  std::vector<double> shift_;
  std::vector<double> scale_;
};

}  // namespace

std::unique_ptr<Evaluator> make_scaler(const spec::Model& model, const std::string& source) {
  return std::make_unique<Scaler>(model, source);
}

}  // namespace coreml::classic
