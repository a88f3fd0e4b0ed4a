// A steady decode loop allocates nothing: once the input shapes have been seen, every op of an
// ANEMLL model runs through a prepared kernel on its planned memory. Counted by replacing the
// global operator new of this test program (every thread, the pool's workers included).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "coreml/llm/model.h"

// GCC cannot see that these replacement operators pair malloc/aligned_alloc with free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "llm/sampler.h"

namespace {
std::atomic<bool> counting{false};
std::atomic<int64_t> allocations{0};
}  // namespace

// AddressSanitizer has its own operator new; the count is taken in the other builds. GCC says
// ASan is on with __SANITIZE_ADDRESS__, clang 14 only through __has_feature.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COREML_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(COREML_UNDER_ASAN)
#define COREML_COUNT_ALLOCATIONS 0
#else
#define COREML_COUNT_ALLOCATIONS 1

void* operator new(size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, std::align_val_t align) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  const size_t a = static_cast<size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size, std::align_val_t align) { return operator new(size, align); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }
#endif

namespace coreml::llm {
namespace {

class DecodeAllocations : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeAllocations, SteadyDecodeStepsAllocateNothing) {
  if (!COREML_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocations are counted in builds without ASan";
  auto model = Model::load(std::string(COREML_TEST_DATA_DIR "/anemll/") + GetParam());
  Sequence sequence(*model);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 11; ++i) prompt.push_back(100 + 3 * i);
  sequence.set_tokens(prompt);
  Sampler sampler(SamplerConfig{});  // greedy
  const auto step = [&] {
    const StepOutput& out = sequence.next();
    const int32_t token =
        out.logits.empty() ? out.argmax_token : sampler.sample(out.logits, sequence.tokens());
    sequence.accept(token);
  };
  for (int i = 0; i < 3; ++i) step();  // first shapes: recorded, planned
  allocations = 0;
  counting = true;
  for (int i = 0; i < 8; ++i) step();
  counting = false;
  EXPECT_EQ(allocations.load(), 0) << "heap allocations in 8 decode steps";
}

// A model whose head has the in-model argmax, and one with split logits.
INSTANTIATE_TEST_SUITE_P(Models, DecodeAllocations, ::testing::Values("tiny-qwen3", "tiny-qwen25"),
                         [](const auto& p) {
                           std::string n = p.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace coreml::llm
