// Copies that the data movement ops share out between threads (copy_strided with a pool, and
// concat's blocks): every element where an index formula written here puts it, on pools of 1,
// 2 and 3 threads, through each way of splitting the work (whole rows, parts of a few large
// rows, parts of one large block, and copies too small to split).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "format/mil_text_parser.h"
#include "kernels/shape/data_movement.h"
#include "runtime/executor.h"
#include "runtime/kernel_registry.h"
#include "runtime/thread_pool.h"

namespace coreml {
namespace {

// Source element i holds the value i; a view's element (C order over `shape`) is read at
// offset + sum(index[d] * strides[d]).
struct ViewCase {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  int64_t offset = 0;
  size_t itemsize = 4;
};

// The expected copy: the view's elements one by one, from their multi-index.
std::vector<int64_t> expected_offsets(const ViewCase& c) {
  int64_t count = 1;
  for (int64_t d : c.shape) count *= d;
  std::vector<int64_t> offsets;
  offsets.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    int64_t rest = i, at = c.offset;
    for (size_t d = c.shape.size(); d-- > 0;) {
      at += rest % c.shape[d] * c.strides[d];
      rest /= c.shape[d];
    }
    offsets.push_back(at);
  }
  return offsets;
}

template <typename T>
void check_copy(const ViewCase& c, runtime::ThreadPool* pool) {
  const std::vector<int64_t> want = expected_offsets(c);
  int64_t extent = 1;
  for (int64_t at : want) extent = std::max(extent, at + 1);
  std::vector<T> source(static_cast<size_t>(extent));
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<T>(i);
  kernels::StridedView view;
  view.base = reinterpret_cast<const std::byte*>(source.data() + c.offset);
  view.shape = c.shape;
  view.strides = c.strides;
  view.itemsize = sizeof(T);
  // One element of slack on each side, to catch a write outside the destination.
  std::vector<T> dst(want.size() + 2, static_cast<T>(0x5a5a));
  kernels::copy_strided(view, reinterpret_cast<std::byte*>(dst.data() + 1), pool);
  EXPECT_EQ(dst.front(), static_cast<T>(0x5a5a));
  EXPECT_EQ(dst.back(), static_cast<T>(0x5a5a));
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(dst[i + 1], static_cast<T>(want[i])) << "element " << i;
  }
}

TEST(ParallelCopy, StridedViewsMatchAnIndexFormula) {
  const std::vector<ViewCase> cases = {
      // 240 rows of 700 read down a transposed layout: rows between threads.
      {"transposed_rows", {48, 5, 700}, {5, 1, 240}},
      // One contiguous row of 400 KB: parts of the row.
      {"one_long_row", {1, 100000}, {100000, 1}},
      // Six rows of 30000, every other element, from an offset: parts of few rows.
      {"few_strided_rows", {2, 3, 30000}, {200000, 60000, 2}, 7},
      // 16-bit elements, three rows.
      {"few_rows_16_bit", {3, 70000}, {70003, 1}, 0, 2},
      // Below the size worth splitting: one thread whatever the pool.
      {"small", {4, 10}, {20, 2}, 3},
      // A rank-1 view and a rank-0 one.
      {"vector", {50000}, {3}, 1},
      {"scalar", {}, {}, 5},
  };
  for (const int threads : {1, 2, 3}) {
    runtime::ThreadPool pool(threads);
    for (const ViewCase& c : cases) {
      SCOPED_TRACE(c.name + " on " + std::to_string(threads) + " threads");
      if (c.itemsize == 2) {
        check_copy<uint16_t>(c, &pool);
      } else {
        check_copy<int32_t>(c, &pool);
      }
    }
  }
}

// split into non-contiguous pieces (rows between threads, and parts of two long rows) and
// concat of them in another order (by outer blocks, and one block per input in parts).
constexpr char kSplitConcat[] = R"(program(1.3)
{
    func main<ios18>(tensor<fp32, [2, 4, 160, 64]> x, tensor<fp32, [2, 2, 40000]> y) {
        int32 last = const()[name = string("last"), val = int32(3)];
        tensor<int32, [2]> sizes = const()[name = string("sizes"), val = tensor<int32, [2]>([16, 48])];
        tensor<fp32, [2, 4, 160, 16]> a, tensor<fp32, [2, 4, 160, 48]> b = split(axis = last, split_sizes = sizes, x = x)[name = string("s0")];
        bool il = const()[name = string("il"), val = bool(false)];
        tensor<fp32, [2, 4, 160, 64]> ba = concat(axis = last, interleave = il, values = (b, a))[name = string("ba")];
        int32 one = const()[name = string("one"), val = int32(1)];
        int32 two = const()[name = string("two"), val = int32(2)];
        tensor<fp32, [2, 1, 40000]> c, tensor<fp32, [2, 1, 40000]> d = split(axis = one, num_splits = two, x = y)[name = string("s1")];
        int32 zero = const()[name = string("zero"), val = int32(0)];
        tensor<fp32, [4, 1, 40000]> dc = concat(axis = zero, interleave = il, values = (d, c))[name = string("dc")];
    } -> (ba, dc);
}
)";

TEST(ParallelCopy, SplitAndConcatOfLargePiecesOnSeveralThreads) {
  format::ModelAsset asset;
  asset.program = format::parse_mil_text(kSplitConcat, "split_concat.mil");
  Tensor x = Tensor::empty({2, 4, 160, 64}, DType::kFloat32);
  Tensor y = Tensor::empty({2, 2, 40000}, DType::kFloat32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i);
  for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] = static_cast<float>(-i);
  for (const int threads : {1, 2, 3}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    runtime::FunctionExecutor exec(asset, asset.program.functions.at(0),
                                   runtime::KernelRegistry::global(),
                                   runtime::ThreadPool::shared(threads), {});
    std::vector<const Tensor*> bound{&x, &y};
    std::vector<Tensor> out;
    exec.run(bound, {}, out);
    ASSERT_EQ(out.size(), 2u);
    // ba[n][c][h][w] = x[n][c][h][(w + 16) % 64]: the last 48 columns, then the first 16.
    const Tensor ba = out[0].contiguous();
    ASSERT_EQ(ba.shape(), (std::vector<int64_t>{2, 4, 160, 64}));
    for (int64_t i = 0; i < ba.numel(); ++i) {
      const int64_t w = i % 64, line = i / 64;
      ASSERT_EQ(ba.data<float>()[i], static_cast<float>(line * 64 + (w + 16) % 64)) << i;
    }
    // dc = y[:, 1], then y[:, 0], each [2, 1, 40000]: dc[s * 2 + n][0][j] = y[n][1 - s][j].
    const Tensor dc = out[1].contiguous();
    ASSERT_EQ(dc.shape(), (std::vector<int64_t>{4, 1, 40000}));
    for (int64_t i = 0; i < dc.numel(); ++i) {
      const int64_t j = i % 40000, piece = i / 40000, s = piece / 2, n = piece % 2;
      ASSERT_EQ(dc.data<float>()[i], static_cast<float>(-((n * 2 + (1 - s)) * 40000 + j))) << i;
    }
  }
}

}  // namespace
}  // namespace coreml
