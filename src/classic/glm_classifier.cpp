// glmClassifier: per class transform(w_j . x + offset_j) (logistic or probit). One weight row
// with two classes gives the second class's probability (the first gets 1 - p); with one row
// per class (one-vs-rest) the probabilities are normalized to sum to one.

#include "classic/features.h"
#include "classic/glm_rows.h"
#include "classic/link_functions.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

constexpr int kOneVsRest = 1;

class GlmClassifier final : public Evaluator {
 public:
  GlmClassifier(const spec::Model& model, const std::string& source)
      : interface_(model, source, "glmClassifier"),
        rows_(model.glm_classifier(), interface_.where) {
    const auto& glm = model.glm_classifier();
    labels_ = class_labels_of(glm);
    transform_ = glm.post_evaluation_transform();
    check_range(transform_, 0, 1, interface_.where, "postEvaluationTransform");
    check_range(glm.class_encoding(), 0, 1, interface_.where, "classEncoding");
    const size_t rows = rows_.rows();
    const bool binary = rows == 1 && labels_.size() == 2;
    if (!binary && (rows != labels_.size() || glm.class_encoding() != kOneVsRest)) {
      fail(ErrorCode::kUnsupported, interface_.where, ": ", rows, " weight rows for ",
           labels_.size(),
           " classes; supported are one row for two classes, or one row per class with "
           "classEncoding OneVsRest");
    }
  }

  void evaluate(Features& features) const override {
    std::vector<double> p = rows_.affine(interface_.input_vector(features), interface_.where);
    for (double& v : p) v = transform_ == 1 ? probit(v) : logistic(v);
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
  GlmRows rows_;
  int transform_ = 0;
};

}  // namespace

std::unique_ptr<Evaluator> make_glm_classifier(const spec::Model& model,
                                               const std::string& source) {
  return std::make_unique<GlmClassifier>(model, source);
}

}  // namespace coreml::classic
