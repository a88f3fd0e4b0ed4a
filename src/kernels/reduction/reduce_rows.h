// One reduction of a row, shared by the simple reduce kernels and the prepared ones (so both
// give the same bits): sums accumulate in fp64 for float rows and exactly in int64 for
// integer rows; max/min/argmax/argmin propagate NaN as NumPy does.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace coreml::kernels {

enum class Reduce { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

template <typename E>
double row_max(const E* row, int64_t n) {
  E m = row[0];
  for (int64_t j = 1; j < n; ++j) {
    if (row[j] > m || std::isnan(static_cast<double>(row[j]))) m = row[j];
    if (std::isnan(static_cast<double>(m))) break;
  }
  return static_cast<double>(m);
}

template <typename E>
double row_min(const E* row, int64_t n) {
  E m = row[0];
  for (int64_t j = 1; j < n; ++j) {
    if (row[j] < m || std::isnan(static_cast<double>(row[j]))) m = row[j];
    if (std::isnan(static_cast<double>(m))) break;
  }
  return static_cast<double>(m);
}

// Accumulator: fp64 for float rows, exact int64 for integer rows.
template <typename E>
using Acc = std::conditional_t<std::is_floating_point_v<E>, double, int64_t>;

template <typename E>
double reduce_row(Reduce kind, const E* row, int64_t n) {
  using A = Acc<E>;
  switch (kind) {
    case Reduce::kSum:
    case Reduce::kMean:
    case Reduce::kLogSum: {
      A s = 0;
      for (int64_t j = 0; j < n; ++j) s += static_cast<A>(row[j]);
      const double d = static_cast<double>(s);
      if (kind == Reduce::kMean) return d / static_cast<double>(n);
      return kind == Reduce::kLogSum ? std::log(d) : d;
    }
    case Reduce::kMax: return n == 0 ? -std::numeric_limits<double>::infinity() : row_max(row, n);
    case Reduce::kMin: return n == 0 ? std::numeric_limits<double>::infinity() : row_min(row, n);
    case Reduce::kProd: {
      A p = 1;
      for (int64_t j = 0; j < n; ++j) p *= static_cast<A>(row[j]);
      return static_cast<double>(p);
    }
    case Reduce::kL1: {
      A s = 0;
      for (int64_t j = 0; j < n; ++j)
        s += row[j] < 0 ? -static_cast<A>(row[j]) : static_cast<A>(row[j]);
      return static_cast<double>(s);
    }
    case Reduce::kL2:
    case Reduce::kSumSquare: {
      A s = 0;
      for (int64_t j = 0; j < n; ++j) s += static_cast<A>(row[j]) * static_cast<A>(row[j]);
      const double d = static_cast<double>(s);
      return kind == Reduce::kL2 ? std::sqrt(d) : d;
    }
    case Reduce::kLogSumExp: {
      if (n == 0) return -std::numeric_limits<double>::infinity();
      const double m = row_max(row, n);
      if (std::isinf(m)) return m;  // all -inf, or a +inf that dominates
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(row[j]) - m);
      return std::log(s) + m;
    }
  }
  return 0;
}

// First index of the extreme value (NaN counts as the extreme, as NumPy's argmax does).
template <bool kMax, typename E>
int64_t arg_extreme(const E* row, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (std::isnan(static_cast<double>(row[j]))) return j;
    if (kMax ? row[j] > row[best] : row[j] < row[best]) best = j;
  }
  return best;
}

}  // namespace coreml::kernels
