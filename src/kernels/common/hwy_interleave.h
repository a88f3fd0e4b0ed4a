// Sequences side by side: as many float sequences as a vector has lanes become one vector per
// position, lane j holding sequence j's value (a transposition of [lanes][length] into
// [length][lanes]). Done in registers by two passes of four- and two-way interleaving
// (StoreInterleaved4 / 2): with g = lanes / 4, the first pass interleaves sequences j, j + g,
// j + 2g and j + 3g into run j < g, the second the g runs, so that lane 4c + j holds sequence
// j + g c, which is 4c + j. Vectors of 8 and 16 lanes only (AVX2, AVX-512 and alike): callers
// check InterleavesLanes and take a plain loop elsewhere. Per target: include after
// hwy/highway.h, outside any namespace.
#if defined(COREML_KERNELS_COMMON_HWY_INTERLEAVE_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef COREML_KERNELS_COMMON_HWY_INTERLEAVE_H_
#undef COREML_KERNELS_COMMON_HWY_INTERLEAVE_H_
#else
#define COREML_KERNELS_COMMON_HWY_INTERLEAVE_H_
#endif

#include <algorithm>
#include <cstdint>

#include "kernels/common/hwy_tail.h"

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {

template <class D>
HWY_INLINE bool InterleavesLanes(D d) {
  const int64_t lanes = static_cast<int64_t>(hwy::HWY_NAMESPACE::Lanes(d));
  return lanes == 8 || lanes == 16;
}

// Floats of staging InterleaveSequences needs for sequences of `length`.
HWY_INLINE int64_t InterleaveStaging(int64_t length, int64_t lanes) {
  return (length + lanes - 1) / lanes * lanes * lanes;
}

// out[p * lanes + j] = sequences[j][p] for p < length and j < lanes, a null sequence reading as
// zeros; out holds InterleaveStaging(length) floats (positions past `length` are written too,
// with zeros or garbage). Reads exactly `length` floats of each sequence. Requires
// InterleavesLanes(d).
template <class D>
HWY_INLINE void InterleaveSequences(D d, const float* const* sequences, int64_t length,
                                    float* staging, float* out) {
  namespace hn = hwy::HWY_NAMESPACE;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t g = lanes / 4;
  const int64_t run = (length + lanes - 1) / lanes * lanes * 4;  // floats of each run
  for (int64_t j = 0; j < g; ++j) {
    float* to = staging + j * run;
    for (int64_t i = 0; i < length; i += lanes) {
      const int64_t n = std::min(lanes, length - i);
      hn::Vec<D> v[4];
      for (int64_t c = 0; c < 4; ++c) {
        const float* from = sequences[j + g * c];
        if (from == nullptr) {
          v[c] = hn::Zero(d);
        } else {
          v[c] =
              n == lanes ? hn::LoadU(d, from + i) : LoadPart(d, from + i, static_cast<size_t>(n));
        }
      }
      hn::StoreInterleaved4(v[0], v[1], v[2], v[3], d, to + i * 4);
    }
  }
  for (int64_t m = 0; m < length * 4; m += lanes) {
    if (g == 4) {
      hn::StoreInterleaved4(hn::LoadU(d, staging + m), hn::LoadU(d, staging + run + m),
                            hn::LoadU(d, staging + 2 * run + m),
                            hn::LoadU(d, staging + 3 * run + m), d, out + m * 4);
    } else {
      hn::StoreInterleaved2(hn::LoadU(d, staging + m), hn::LoadU(d, staging + run + m), d,
                            out + m * 2);
    }
  }
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // COREML_KERNELS_COMMON_HWY_INTERLEAVE_H_
