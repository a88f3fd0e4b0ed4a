// The post-evaluation transforms of Core ML's generalized linear and tree models.
#pragma once

#include <cmath>

namespace coreml::classic {

inline double logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double probit(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

}  // namespace coreml::classic
