// Support vector kernels: linear x.v, rbf exp(-gamma |x - v|^2), poly (gamma x.v + c)^degree,
// sigmoid tanh(gamma x.v + c).
#include "classic/svm_kernel.h"

#include <cmath>

#include "classic/features.h"
#include "coreml/error.h"

namespace coreml::classic {

SvmKernel::SvmKernel(const spec::SvmKernel& kernel, const std::string& where) {
  switch (kernel.kernel_case()) {
    case spec::SvmKernel::kLinearKernel: kind_ = 1; break;
    case spec::SvmKernel::kRbfKernel:
      kind_ = 2;
      gamma_ = kernel.rbf_kernel().gamma();
      break;
    case spec::SvmKernel::kPolyKernel:
      kind_ = 3;
      gamma_ = kernel.poly_kernel().gamma();
      c_ = kernel.poly_kernel().c();
      degree_ = kernel.poly_kernel().degree();
      check_range(degree_, 0, 64, where, "polyKernel.degree");
      break;
    case spec::SvmKernel::kSigmoidKernel:
      kind_ = 4;
      gamma_ = kernel.sigmoid_kernel().gamma();
      c_ = kernel.sigmoid_kernel().c();
      break;
    default: fail(ErrorCode::kParse, where, ": no kernel is set");
  }
}

std::vector<double> SvmKernel::apply(const std::vector<std::vector<double>>& vectors,
                                     const std::vector<double>& x, const std::string& where) const {
  if (!vectors.empty() && x.size() != vectors.front().size()) {
    fail(ErrorCode::kInvalidArgument, where, ": ", x.size(),
         " input values, the support vectors have ", vectors.front().size());
  }
  std::vector<double> k(vectors.size());
  for (size_t s = 0; s < vectors.size(); ++s) {
    const auto& v = vectors[s];
    double dot = 0;
    double distance = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      dot += x[i] * v[i];
      distance += (x[i] - v[i]) * (x[i] - v[i]);
    }
    switch (kind_) {
      case 1: k[s] = dot; break;
      case 2: k[s] = std::exp(-gamma_ * distance); break;
      case 3: k[s] = std::pow(gamma_ * dot + c_, degree_); break;
      default: k[s] = std::tanh(gamma_ * dot + c_); break;
    }
  }
  return k;
}

template <typename Svm>
std::vector<std::vector<double>> support_vectors_of(const Svm& svm, const std::string& where) {
  std::vector<std::vector<double>> out;
  if (svm.has_dense_support_vectors()) {
    for (const auto& v : svm.dense_support_vectors().vectors()) {
      out.emplace_back(v.values().begin(), v.values().end());
    }
  } else if (svm.has_sparse_support_vectors()) {
    int64_t length = 0;
    for (const auto& v : svm.sparse_support_vectors().vectors()) {
      for (const auto& node : v.nodes()) {
        check_range(node.index(), 1, kMaxVectorLength, where, "sparse support vector index");
        length = std::max<int64_t>(length, node.index());
      }
    }
    const int64_t count = svm.sparse_support_vectors().vectors_size();
    if (length > 0 && count > kMaxVectorLength / length) {
      fail(ErrorCode::kParse, where, ": ", count, " sparse support vectors of ", length,
           " elements are more than the ", kMaxVectorLength, " this reader expands");
    }
    for (const auto& v : svm.sparse_support_vectors().vectors()) {
      out.emplace_back(static_cast<size_t>(length), 0.0);
      for (const auto& node : v.nodes())
        out.back()[static_cast<size_t>(node.index() - 1)] = node.value();
    }
  }
  if (out.empty()) fail(ErrorCode::kParse, where, ": no support vectors");
  for (const auto& v : out) {
    if (v.size() != out.front().size()) {
      fail(ErrorCode::kParse, where, ": support vectors differ in length");
    }
  }
  return out;
}

template std::vector<std::vector<double>> support_vectors_of(const spec::SupportVectorRegressor&,
                                                             const std::string&);
template std::vector<std::vector<double>> support_vectors_of(const spec::SupportVectorClassifier&,
                                                             const std::string&);

}  // namespace coreml::classic
