// treeEnsembleRegressor and treeEnsembleClassifier: the summed tree values, then the
// post-evaluation transform (none, softmax, logistic, softmax with a zero reference class).
#include <algorithm>
#include <cmath>

#include "classic/features.h"
#include "classic/link_functions.h"
#include "classic/model_types.h"
#include "classic/tree_ensemble.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

// TreeEnsemblePostEvaluationTransform codes (coremltools 9.0, TreeEnsemble_pb2).
enum Transform {
  kNoTransform = 0,
  kSoftMax = 1,
  kLogistic = 2,
  kSoftMaxWithZeroClassReference = 3,
};

std::vector<double> softmax(std::vector<double> v) {
  const double top = *std::max_element(v.begin(), v.end());
  double total = 0;
  for (double& x : v) total += (x = std::exp(x - top));
  for (double& x : v) x /= total;
  return v;
}

class TreeEnsembleRegressor final : public Evaluator {
 public:
  TreeEnsembleRegressor(const spec::Model& model, const std::string& source)
      : interface_(model, source, "treeEnsembleRegressor"),
        trees_(model.tree_ensemble_regressor().tree_ensemble(), interface_.where),
        transform_(model.tree_ensemble_regressor().post_evaluation_transform()) {
    if (transform_ != kNoTransform && transform_ != kLogistic) {
      fail(ErrorCode::kUnsupported, interface_.where, ": postEvaluationTransform ", transform_,
           " (a regressor takes NoTransform 0 or Regression_Logistic 2)");
    }
  }

  void evaluate(Features& features) const override {
    std::vector<double> y = trees_.predict(interface_.input_vector(features));
    if (transform_ == kLogistic) {
      for (double& v : y) v = logistic(v);
    }
    write_numbers(features, interface_.output(), y, interface_.where);
  }

 private:
  Interface interface_;
  TreeEnsemble trees_;
  int transform_;
};

class TreeEnsembleClassifier final : public Evaluator {
 public:
  TreeEnsembleClassifier(const spec::Model& model, const std::string& source)
      : interface_(model, source, "treeEnsembleClassifier"),
        trees_(model.tree_ensemble_classifier().tree_ensemble(), interface_.where),
        labels_(class_labels_of(model.tree_ensemble_classifier())),
        transform_(model.tree_ensemble_classifier().post_evaluation_transform()) {
    check_range(transform_, kNoTransform, kSoftMaxWithZeroClassReference, interface_.where,
                "postEvaluationTransform");
    const size_t dims = trees_.dimensions();
    const size_t classes = labels_.size();
    const bool ok = transform_ == kSoftMaxWithZeroClassReference
                        ? dims + 1 == classes
                        : dims == classes || (dims == 1 && classes == 2 && transform_ != kSoftMax);
    if (!ok) {
      fail(ErrorCode::kParse, interface_.where, ": ", dims, " prediction dimensions for ", classes,
           " classes with postEvaluationTransform ", transform_);
    }
  }

  void evaluate(Features& features) const override {
    std::vector<double> v = trees_.predict(interface_.input_vector(features));
    switch (transform_) {
      case kSoftMax: v = softmax(std::move(v)); break;
      case kSoftMaxWithZeroClassReference:
        v.insert(v.begin(), 0.0);
        v = softmax(std::move(v));
        break;
      case kLogistic:
        for (double& x : v) x = logistic(x);
        break;
      default: break;
    }
    // One dimension for two classes: the score of the second class.
    if (v.size() == 1 && labels_.size() == 2) v = {1.0 - v[0], v[0]};
    write_classification(features, interface_, labels_, v);
  }

 private:
  Interface interface_;
  TreeEnsemble trees_;
  ClassLabels labels_;
  int transform_;
};

}  // namespace

std::unique_ptr<Evaluator> make_tree_ensemble_regressor(const spec::Model& model,
                                                        const std::string& source) {
  return std::make_unique<TreeEnsembleRegressor>(model, source);
}

std::unique_ptr<Evaluator> make_tree_ensemble_classifier(const spec::Model& model,
                                                         const std::string& source) {
  return std::make_unique<TreeEnsembleClassifier>(model, source);
}

}  // namespace coreml::classic
