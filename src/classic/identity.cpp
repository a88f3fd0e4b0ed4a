// identity: each output is the input at the same position.
#include "classic/features.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class Identity final : public Evaluator {
 public:
  Identity(const spec::Model& model, const std::string& source)
      : interface_(model, source, "identity") {
    if (interface_.outputs.size() > interface_.inputs.size()) {
      fail(ErrorCode::kParse, interface_.where, ": ", interface_.outputs.size(), " outputs for ",
           interface_.inputs.size(), " inputs");
    }
  }

  void evaluate(Features& features) const override {
    for (size_t i = 0; i < interface_.outputs.size(); ++i) {
      FeatureValue value = interface_.input(features, interface_.inputs[i]->name());
      features[interface_.outputs[i]->name()] = std::move(value);
    }
  }

 private:
  Interface interface_;
};

}  // namespace

std::unique_ptr<Evaluator> make_identity(const spec::Model& model, const std::string& source) {
  return std::make_unique<Identity>(model, source);
}

}  // namespace coreml::classic
