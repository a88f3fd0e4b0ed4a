// kNearestNeighborsClassifier: the k stored samples nearest to x (squared Euclidean distance,
// the earlier sample first on equal distances) vote for their labels, each with weight 1
// (uniform) or 1/distance (inverse distance; an exact match outvotes everything). The label
// with the most weight wins; on ties, the label of the earliest stored sample. With no samples
// the default label is returned.
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
    }
    labels_ = class_labels_of(knn);
    if (labels_.size() != samples_.size()) {
      fail(ErrorCode::kParse, interface_.where, ": ", labels_.size(), " labels for ",
           samples_.size(), " samples");
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
    if (samples_.empty()) {
      features[interface_.label_output] = default_label_;
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
    // Weight per distinct label, keyed by its first position in the model's label list.
    std::map<size_t, double> weight;
    std::map<std::string, size_t> first_of_string;
    std::map<int64_t, size_t> first_of_int;
    for (size_t s = 0; s < samples_.size(); ++s) {
      if (labels_.integer)
        first_of_int.try_emplace(labels_.ints[s], s);
      else
        first_of_string.try_emplace(labels_.strings[s], s);
    }
    const bool exact = inverse_distance_ && distance[order[0]] == 0;
    for (size_t n = 0; n < k; ++n) {
      const size_t s = order[n];
      const size_t first =
          labels_.integer ? first_of_int[labels_.ints[s]] : first_of_string[labels_.strings[s]];
      double w = 1.0;
      if (inverse_distance_)
        w = exact ? (distance[s] == 0 ? 1.0 : 0.0) : 1.0 / std::sqrt(distance[s]);
      weight[first] += w;
    }
    size_t best = weight.begin()->first;
    for (const auto& [first, w] : weight) {
      if (w > weight[best]) best = first;
    }
    features[interface_.label_output] = labels_.label(best);
  }

 private:
  Interface interface_;
  int64_t dimensions_ = 0;
  std::vector<std::vector<float>> samples_;
  ClassLabels labels_;
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
