// kNearestNeighborsClassifier: the k stored samples nearest to x (squared Euclidean distance,
// the earlier sample first on equal distances) vote for their labels, each with weight 1
// (uniform) or 1/distance (inverse distance, the Euclidean distance as scikit-learn weighs; an
// exact match outvotes everything). The label with the most weight wins; on ties, the label
// of the earliest stored sample. The probabilities are each label's share of the weight (what
// scikit-learn's predict_proba gives). With no samples the default label is returned, with an
// empty probability dictionary.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "classic/features.h"
#include "classic/model_types.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

class KNearestNeighborsClassifier final : public Evaluator {
 public:
  KNearestNeighborsClassifier(const spec::Model& model, const std::string& source)
      : interface_(model, source, "kNearestNeighborsClassifier") {
    const auto& knn = model.k_nearest_neighbors_classifier();
    const auto& index = knn.nearest_neighbors_index();
    dimensions_ = index.number_of_dimensions();
    check_range(dimensions_, 1, kMaxVectorLength, interface_.where, "numberOfDimensions");
    for (const auto& sample : index.float_samples()) {
      if (sample.vector_size() != dimensions_) {
        fail(ErrorCode::kParse, interface_.where, ": a sample has ", sample.vector_size(),
             " values, numberOfDimensions is ", dimensions_);
      }
      samples_.emplace_back(sample.vector().begin(), sample.vector().end());
      for (float v : samples_.back()) {
        if (!std::isfinite(v)) {
          fail(ErrorCode::kParse, interface_.where, ": floatSamples[", samples_.size() - 1,
               "] holds ", v, "; samples must be finite");
        }
      }
    }
    labels_ = class_labels_of(knn);
    if (labels_.size() != samples_.size()) {
      fail(ErrorCode::kParse, interface_.where, ": ", labels_.size(), " labels for ",
           samples_.size(), " samples");
    }
    // The distinct labels in order of first appearance: the probability dictionary's keys, and
    // the order that breaks ties.
    std::map<std::string, size_t> string_class;
    std::map<int64_t, size_t> int_class;
    classes_.integer = labels_.integer;
    for (size_t s = 0; s < labels_.size(); ++s) {
      size_t c = classes_.size();
      if (labels_.integer) {
        c = int_class.try_emplace(labels_.ints[s], c).first->second;
        if (c == classes_.size()) classes_.ints.push_back(labels_.ints[s]);
      } else {
        c = string_class.try_emplace(labels_.strings[s], c).first->second;
        if (c == classes_.size()) classes_.strings.push_back(labels_.strings[s]);
      }
      class_of_sample_.push_back(c);
    }
    k_ = knn.number_of_neighbors().default_value();
    check_range(k_, 1, std::max<int64_t>(1, static_cast<int64_t>(samples_.size())),
                interface_.where, "numberOfNeighbors");
    inverse_distance_ = knn.has_inverse_distance_weighting();
    if (knn.has_default_string_label()) default_label_ = knn.default_string_label();
    if (knn.has_default_int64_label()) default_label_ = knn.default_int64_label();
  }

  void evaluate(Features& features) const override {
    const std::vector<double> x = interface_.input_vector(features);
    if (x.size() != static_cast<size_t>(dimensions_)) {
      fail(ErrorCode::kInvalidArgument, interface_.where, ": ", x.size(),
           " input values, the samples have ", dimensions_);
    }
    for (double v : x) {
      if (!std::isfinite(v)) {
        fail(ErrorCode::kInvalidArgument, interface_.where, ": input holds ", v,
             "; distances need finite values");
      }
    }
    if (samples_.empty()) {
      features[interface_.label_output] = default_label_;
      // No neighbours, no scores: an empty dictionary of the label's key type.
      if (!interface_.probabilities_output.empty()) {
        features[interface_.probabilities_output] =
            default_label_.kind() == FeatureValue::Kind::kInt64 ? FeatureValue(Int64Dictionary{})
                                                                : FeatureValue(StringDictionary{});
      }
      return;
    }
    std::vector<double> distance(samples_.size());
    for (size_t s = 0; s < samples_.size(); ++s) {
      double d = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        const double diff = x[i] - static_cast<double>(samples_[s][i]);
        d += diff * diff;
      }
      distance[s] = d;
    }
    std::vector<size_t> order(samples_.size());
    std::iota(order.begin(), order.end(), 0);
    const size_t k = static_cast<size_t>(k_);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](size_t a, size_t b) {
                        return distance[a] < distance[b] || (distance[a] == distance[b] && a < b);
                      });
    const bool exact = inverse_distance_ && distance[order[0]] == 0;
    std::vector<double> weight(classes_.size(), 0.0);
    double total = 0;
    for (size_t n = 0; n < k; ++n) {
      const size_t s = order[n];
      double w = 1.0;
      if (inverse_distance_)
        w = exact ? (distance[s] == 0 ? 1.0 : 0.0) : 1.0 / std::sqrt(distance[s]);
      weight[class_of_sample_[s]] += w;
      total += w;
    }
    for (double& w : weight) w /= total;
    write_classification(features, interface_, classes_, weight);
  }

 private:
  Interface interface_;
  int64_t dimensions_ = 0;
  std::vector<std::vector<float>> samples_;
  ClassLabels labels_;   // one per sample
  ClassLabels classes_;  // the distinct labels
  std::vector<size_t> class_of_sample_;
  int64_t k_ = 1;
  bool inverse_distance_ = false;
  FeatureValue default_label_;
};

}  // namespace

std::unique_ptr<Evaluator> make_k_nearest_neighbors_classifier(const spec::Model& model,
                                                               const std::string& source) {
  return std::make_unique<KNearestNeighborsClassifier>(model, source);
}

}  // namespace coreml::classic
