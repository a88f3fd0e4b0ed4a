// Compiled once per SIMD target by Highway's foreach_target (see simd_f32.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise/simd_f32.cpp"
#include "kernels/elementwise/simd_f32.h"

#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace coreml::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <typename F>
void binary_loop(const float* a, const float* b, int64_t b_step, float* out, int64_t n, F f) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  if (b_step == 0) {
    const auto vb = hn::Set(d, *b);
    for (; i + lanes <= n; i += lanes) hn::StoreU(f(hn::LoadU(d, a + i), vb), d, out + i);
    for (; i < n; ++i) out[i] = hn::GetLane(f(hn::Set(d, a[i]), vb));
  } else {
    for (; i + lanes <= n; i += lanes) {
      hn::StoreU(f(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
    }
    for (; i < n; ++i) out[i] = hn::GetLane(f(hn::Set(d, a[i]), hn::Set(d, b[i])));
  }
}

void BinaryF32(int op, const float* a, const float* b, int64_t b_step, float* out, int64_t n) {
  switch (static_cast<SimdBinary>(op)) {
    case SimdBinary::kAdd:
      return binary_loop(a, b, b_step, out, n, [](auto x, auto y) { return hn::Add(x, y); });
    case SimdBinary::kSub:
      return binary_loop(a, b, b_step, out, n, [](auto x, auto y) { return hn::Sub(x, y); });
    case SimdBinary::kMul:
      return binary_loop(a, b, b_step, out, n, [](auto x, auto y) { return hn::Mul(x, y); });
  }
}

}  // namespace coreml::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace coreml::kernels {
HWY_EXPORT(BinaryF32);

namespace {
std::atomic<int>& simd_override() {
  static std::atomic<int> value{-1};  // -1: follow the environment
  return value;
}
bool simd_from_environment() {
  static const bool enabled = [] {
    const char* v = std::getenv("COREML_SIMD");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return enabled;
}
}  // namespace

bool simd_enabled() {
  const int forced = simd_override().load(std::memory_order_relaxed);
  return forced < 0 ? simd_from_environment() : forced != 0;
}

void set_simd_enabled_for_testing(std::optional<bool> enabled) {
  simd_override().store(enabled ? (*enabled ? 1 : 0) : -1);
}

void simd_binary_f32(SimdBinary op, const float* a, const float* b, int64_t b_step, float* out,
                     int64_t n) {
  HWY_DYNAMIC_DISPATCH(BinaryF32)(static_cast<int>(op), a, b, b_step, out, n);
}

}  // namespace coreml::kernels
#endif  // HWY_ONCE
