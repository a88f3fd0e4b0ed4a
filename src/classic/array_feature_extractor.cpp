// arrayFeatureExtractor: the input array's elements at the listed indices, in that order.
#include "classic/features.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class ArrayFeatureExtractor final : public Evaluator {
 public:
  ArrayFeatureExtractor(const spec::Model& model, const std::string& source)
      : interface_(model, source, "arrayFeatureExtractor"),
        indices_(model.array_feature_extractor().extract_index().begin(),
                 model.array_feature_extractor().extract_index().end()) {
    if (indices_.empty()) fail(ErrorCode::kParse, interface_.where, ": extractIndex is empty");
  }

  void evaluate(Features& features) const override {
    const std::vector<double> x = interface_.input_vector(features);
    std::vector<double> y;
    y.reserve(indices_.size());
    for (uint64_t i : indices_) {
      if (i >= x.size()) {
        fail(ErrorCode::kInvalidArgument, interface_.where, ": extractIndex ", i,
             " is beyond the input's ", x.size(), " elements");
      }
      y.push_back(x[i]);
    }
    write_numbers(features, interface_.output(), y, interface_.where);
  }

 private:
  Interface interface_;
  std::vector<uint64_t> indices_;
};

}  // namespace

std::unique_ptr<Evaluator> make_array_feature_extractor(const spec::Model& model,
                                                        const std::string& source) {
  return std::make_unique<ArrayFeatureExtractor>(model, source);
}

}  // namespace coreml::classic
