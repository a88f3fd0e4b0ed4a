// supportVectorClassifier, as libsvm predicts: one decision value per pair of classes
// (i < j): sum over class i's vectors of coef[j-1] k + sum over class j's of coef[i] k - rho;
// positive votes for i. Without probA/probB the label is the most voted class (the first on
// ties). With them, each pair's decision gives r_ij = 1 / (1 + exp(A d + B)) (clamped to
// [1e-7, 1 - 1e-7]); with two classes that is the probability (libsvm's svm_predict_probability;
// scikit-learn's bundled libsvm couples even two classes, which coremltools' converter warns
// makes Core ML's binary probabilities differ from predict_proba), with more the pairwise
// estimates are coupled into class probabilities (Wu, Lin and Weng's second method, as libsvm
// implements it). The label is the most probable class.
#include <algorithm>
#include <cmath>

#include "classic/features.h"
#include "classic/model_types.h"
#include "classic/svm_kernel.h"
#include "coreml/error.h"

namespace coreml::classic {
namespace {

double pairwise_probability(double decision, double a, double b) {
  const double f = decision * a + b;
  // The two forms avoid overflowing exp.
  return f >= 0 ? std::exp(-f) / (1.0 + std::exp(-f)) : 1.0 / (1.0 + std::exp(f));
}

// r[i][j]: the estimated probability of class i against class j.
std::vector<double> couple(const std::vector<std::vector<double>>& r) {
  const size_t k = r.size();
  std::vector<std::vector<double>> q(k, std::vector<double>(k, 0.0));
  std::vector<double> p(k, 1.0 / static_cast<double>(k));
  std::vector<double> qp(k);
  for (size_t t = 0; t < k; ++t) {
    for (size_t j = 0; j < k; ++j) {
      if (j == t) continue;
      q[t][t] += r[j][t] * r[j][t];
      q[t][j] = -r[j][t] * r[t][j];
    }
  }
  const size_t max_iterations = std::max<size_t>(100, k);
  const double eps = 0.005 / static_cast<double>(k);
  for (size_t iteration = 0; iteration < max_iterations; ++iteration) {
    double pqp = 0;
    for (size_t t = 0; t < k; ++t) {
      qp[t] = 0;
      for (size_t j = 0; j < k; ++j) qp[t] += q[t][j] * p[j];
      pqp += p[t] * qp[t];
    }
    double max_error = 0;
    for (size_t t = 0; t < k; ++t) max_error = std::max(max_error, std::abs(qp[t] - pqp));
    if (max_error < eps) break;
    for (size_t t = 0; t < k; ++t) {
      const double diff = (-qp[t] + pqp) / q[t][t];
      p[t] += diff;
      pqp = (pqp + diff * (diff * q[t][t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
      for (size_t j = 0; j < k; ++j) {
        qp[j] = (qp[j] + diff * q[t][j]) / (1 + diff);
        p[j] /= (1 + diff);
      }
    }
  }
  return p;
}

class SupportVectorClassifier final : public Evaluator {
 public:
  SupportVectorClassifier(const spec::Model& model, const std::string& source)
      : interface_(model, source, "supportVectorClassifier"),
        kernel_(model.support_vector_classifier().kernel(), interface_.where),
        vectors_(support_vectors_of(model.support_vector_classifier(), interface_.where)),
        labels_(class_labels_of(model.support_vector_classifier())) {
    const auto& svm = model.support_vector_classifier();
    const size_t classes = labels_.size();
    const size_t pairs = classes * (classes - 1) / 2;
    if (classes < 2 ||
        static_cast<size_t>(svm.number_of_support_vectors_per_class_size()) != classes) {
      fail(ErrorCode::kParse, interface_.where, ": ", classes, " class labels and ",
           svm.number_of_support_vectors_per_class_size(),
           " numberOfSupportVectorsPerClass entries; expected the same number, at least 2");
    }
    size_t start = 0;
    for (int count : svm.number_of_support_vectors_per_class()) {
      check_range(count, 0, static_cast<int64_t>(vectors_.size()), interface_.where,
                  "numberOfSupportVectorsPerClass");
      starts_.push_back(start);
      start += static_cast<size_t>(count);
    }
    starts_.push_back(start);
    if (start != vectors_.size()) {
      fail(ErrorCode::kParse, interface_.where, ": numberOfSupportVectorsPerClass adds up to ",
           start, ", there are ", vectors_.size(), " support vectors");
    }
    if (static_cast<size_t>(svm.coefficients_size()) != classes - 1) {
      fail(ErrorCode::kParse, interface_.where, ": ", svm.coefficients_size(),
           " coefficient rows for ", classes, " classes (expected ", classes - 1, ")");
    }
    for (const auto& row : svm.coefficients()) {
      coefficients_.emplace_back(row.alpha().begin(), row.alpha().end());
      if (coefficients_.back().size() != vectors_.size()) {
        fail(ErrorCode::kParse, interface_.where, ": a coefficient row has ",
             coefficients_.back().size(), " values for ", vectors_.size(), " support vectors");
      }
    }
    rho_.assign(svm.rho().begin(), svm.rho().end());
    if (rho_.size() != pairs) {
      fail(ErrorCode::kParse, interface_.where, ": ", rho_.size(), " rho values for ", pairs,
           " class pairs");
    }
    if (svm.prob_a_size() != 0 || svm.prob_b_size() != 0) {
      if (static_cast<size_t>(svm.prob_a_size()) != pairs ||
          static_cast<size_t>(svm.prob_b_size()) != pairs) {
        fail(ErrorCode::kParse, interface_.where, ": probA/probB have ", svm.prob_a_size(), "/",
             svm.prob_b_size(), " values for ", pairs, " class pairs");
      }
      prob_a_.assign(svm.prob_a().begin(), svm.prob_a().end());
      prob_b_.assign(svm.prob_b().begin(), svm.prob_b().end());
      for (size_t p = 0; p < pairs; ++p) {
        if (!std::isfinite(prob_a_[p]) || !std::isfinite(prob_b_[p])) {
          fail(ErrorCode::kParse, interface_.where, ": probA/probB of class pair ", p,
               " are not finite (", prob_a_[p], ", ", prob_b_[p], ")");
        }
      }
    }
  }

  void evaluate(Features& features) const override {
    const std::vector<double> x = interface_.input_vector(features);
    const std::vector<double> k = kernel_.apply(vectors_, x, interface_.where);
    const size_t classes = labels_.size();
    std::vector<double> votes(classes, 0.0);
    std::vector<std::vector<double>> r(classes, std::vector<double>(classes, 0.0));
    size_t pair = 0;
    for (size_t i = 0; i < classes; ++i) {
      for (size_t j = i + 1; j < classes; ++j, ++pair) {
        double sum = -rho_[pair];
        for (size_t s = starts_[i]; s < starts_[i + 1]; ++s) sum += coefficients_[j - 1][s] * k[s];
        for (size_t s = starts_[j]; s < starts_[j + 1]; ++s) sum += coefficients_[i][s] * k[s];
        votes[sum > 0 ? i : j] += 1;
        if (!prob_a_.empty()) {
          const double p =
              std::clamp(pairwise_probability(sum, prob_a_[pair], prob_b_[pair]), 1e-7, 1 - 1e-7);
          r[i][j] = p;
          r[j][i] = 1 - p;
        }
      }
    }
    if (prob_a_.empty()) {
      // Only the label: the scores are the votes, never a declared probability output.
      const size_t top = static_cast<size_t>(
          std::distance(votes.begin(), std::max_element(votes.begin(), votes.end())));
      features[interface_.label_output] = labels_.label(top);
      return;
    }
    write_classification(features, interface_, labels_,
                         classes == 2 ? std::vector<double>{r[0][1], r[1][0]} : couple(r));
  }

 private:
  Interface interface_;
  SvmKernel kernel_;
  std::vector<std::vector<double>> vectors_;
  ClassLabels labels_;
  std::vector<size_t> starts_;
  std::vector<std::vector<double>> coefficients_;
  std::vector<double> rho_;
  std::vector<double> prob_a_;
  std::vector<double> prob_b_;
};

}  // namespace

std::unique_ptr<Evaluator> make_support_vector_classifier(const spec::Model& model,
                                                          const std::string& source) {
  return std::make_unique<SupportVectorClassifier>(model, source);
}

}  // namespace coreml::classic
