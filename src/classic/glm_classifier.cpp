// glmClassifier: per class transform(w_j . x + offset_j) (logistic or probit). One weight row
// with two classes gives the second class's probability (the first gets 1 - p); with one row
// per class (one-vs-rest) the probabilities are normalized to sum to one.

#include "classic/features.h"
#include "classic/link_functions.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

constexpr int kOneVsRest = 1;

class GlmClassifier final : public Evaluator {
 public:
  GlmClassifier(const spec::Model& model, const std::string& source)
      : interface_(model, source, "glmClassifier") {
    const auto& glm = model.glm_classifier();
    labels_ = class_labels_of(glm);
    transform_ = glm.post_evaluation_transform();
    check_range(transform_, 0, 1, interface_.where, "postEvaluationTransform");
    check_range(glm.class_encoding(), 0, 1, interface_.where, "classEncoding");
    const size_t rows = static_cast<size_t>(glm.weights_size());
    if (rows == 0 || glm.offset_size() != glm.weights_size()) {
      fail(ErrorCode::kParse, interface_.where, ": ", glm.weights_size(), " weight rows and ",
           glm.offset_size(), " offsets; expected the same number, at least one");
    }
    const bool binary = rows == 1 && labels_.size() == 2;
    if (!binary && (rows != labels_.size() || glm.class_encoding() != kOneVsRest)) {
      fail(ErrorCode::kUnsupported, interface_.where, ": ", rows, " weight rows for ",
           labels_.size(),
           " classes; supported are one row for two classes, or one row per class with "
           "classEncoding OneVsRest");
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
    std::vector<double> p(weights_.size());
    for (size_t j = 0; j < weights_.size(); ++j) {
      double sum = offsets_[j];
      for (size_t i = 0; i < x.size(); ++i) sum += weights_[j][i] * x[i];
      p[j] = transform_ == 1 ? probit(sum) : logistic(sum);
    }
    if (p.size() == 1) {
      p = {1.0 - p[0], p[0]};
    } else {
      double total = 0;
      for (double v : p) total += v;
      if (total > 0) {
        for (double& v : p) v /= total;
      }
    }
    write_classification(features, interface_, labels_, p);
  }

 private:
  Interface interface_;
  ClassLabels labels_;
  int transform_ = 0;
  std::vector<std::vector<double>> weights_;
  std::vector<double> offsets_;
};

}  // namespace

std::unique_ptr<Evaluator> make_glm_classifier(const spec::Model& model,
                                               const std::string& source) {
  return std::make_unique<GlmClassifier>(model, source);
}

}  // namespace coreml::classic
