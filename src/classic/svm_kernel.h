// Support vectors and the kernel of Core ML's support vector models (libsvm's model layout).
#pragma once

#include <string>
#include <vector>

#include "proto/coreml.pb.h"

namespace coreml::classic {

class SvmKernel {
 public:
  SvmKernel(const spec::SvmKernel& kernel, const std::string& where);
  // k(x, sv) for every support vector; x must have the vectors' length (a coreml::Error naming
  // `where` otherwise).
  std::vector<double> apply(const std::vector<std::vector<double>>& vectors,
                            const std::vector<double>& x, const std::string& where) const;

 private:
  int kind_ = 0;  // linear 1, rbf 2, poly 3, sigmoid 4 (the oneof's field numbers)
  double gamma_ = 0;
  double c_ = 0;
  int degree_ = 0;
};

// Dense support vectors; sparse ones (libsvm's 1-based indices) are expanded. Every vector is
// checked to have the same length.
template <typename Svm>
std::vector<std::vector<double>> support_vectors_of(const Svm& svm, const std::string& where);

}  // namespace coreml::classic
