// Line tokens (WeightProductKernel::TokenLines): a conv multiplied with its input read where it
// lies, in bands of padded input lines (of each stride phase, for strides above 1), instead of
// packed K position by K position.
// Packing copies every input value once per kernel offset (9 times for 3x3) into a buffer the
// products then read; on a UNet of few channels and large planes that copy took a fifth of the
// time. A band copies each value once (plus the halo lines it shares with the next band) and
// every K position's tokens are then a run of it at a fixed offset (gemm_rows_at).
#include <algorithm>
#include <atomic>
#include <optional>

#include "kernels/linalg/weight_product_kernel.h"
#include "kernels/linalg/weight_simd.h"
#include "runtime/env_flag.h"
#include "runtime/thread_pool.h"

namespace coreml::kernels::linalg {
namespace {

// A band stays within this (a quarter of a 1 MiB L2, with room for the weight rows of a task)
// while every row block multiplies it; at least one output line whatever its size.
constexpr int64_t kBandBytes = int64_t{256} << 10;
// Lines a band holds per halo line where that fits in kMaxHaloBandBytes (see plan_lines).
constexpr int64_t kLinesPerHalo = 8;
constexpr int64_t kMaxHaloBandBytes = int64_t{1} << 20;
// Floats past the band that whole-vector loads of the last tokens may read (never used).
constexpr int64_t kBandSlack = 64;
// Bands larger than this (256 MiB) are never planned: the conv packs instead.
constexpr int64_t kMaxBandFloats = int64_t{1} << 26;

std::atomic<int>& lines_override() {
  static std::atomic<int> mode{-2};  // -2: not forced
  return mode;
}

}  // namespace

int conv_lines_mode() {
  const int forced = lines_override().load(std::memory_order_relaxed);
  if (forced != -2) return forced;
  const std::optional<bool> choice = runtime::env_choice("COREML_CONV_LINES");
  return choice ? static_cast<int>(*choice) : -1;
}

void set_conv_lines_for_testing(std::optional<int> mode) {
  lines_override().store(mode ? *mode : -2, std::memory_order_relaxed);
}

bool WeightProductKernel::plan_lines() {
  const int mode = conv_lines_mode();
  if (mode == 0 || g_.m < 2 || w_->k_ordered()) return false;
  TokenLines t;
  if (!token_lines(&t) || t.out_lines < 1 || t.width < t.out_width) return false;
  // A band of one line is already past kMaxBandFloats (huge padding or dilation, which a
  // hostile model may ask for): packing needs no such buffer, and the sizes below stay far from
  // overflowing.
  if (static_cast<double>(t.channels) * static_cast<double>(t.width) *
          static_cast<double>(t.halo + 1) >
      static_cast<double>(kMaxBandFloats)) {
    return false;
  }
  // The dropped columns cost products where packing costs copies (a gather per K position and
  // pass) and its own padding (a plane's positions rounded up to whole vectors): line tokens pay
  // while they cost at most 8 % more products than packing. Measured: ResNet's 14 wide 3x3
  // convs (224 against 208 lanes) 5-8 % faster in lines, its 56 and 28 wide ones and a UNet's
  // 32 to 256 wide ones faster too; a UNet's 16 wide ones (288 against 256) 10-20 % slower. 7
  // wide ones go to panels (panel_conv.h).
  const int64_t line_lanes = t.out_lines * t.width;
  const int64_t packed_lanes = round_up(t.out_lines * t.out_width, 16);
  if (mode < 0 && line_lanes * 25 > packed_lanes * 27) return false;
  const int64_t line_bytes = t.channels * t.width * static_cast<int64_t>(sizeof(float));
  int64_t lines = std::max<int64_t>(1, kBandBytes / std::max<int64_t>(line_bytes, 1) - t.halo);
  // Each band fills its halo again and streams every weight row again: a stride-2 3x3 conv of
  // 128 channels on 56 columns fitted 3 lines (+1 halo) into kBandBytes, so a third of its band
  // was copied twice and its 590 KB of weights were read once per 3 lines. With at least
  // kLinesPerHalo lines per halo line (the band within L2) that conv ran 10-20 % faster; stride-1
  // convs, whose bands already hold many lines, measured the same either way.
  if (lines < kLinesPerHalo * t.halo &&
      (kLinesPerHalo + 1) * t.halo * line_bytes <= kMaxHaloBandBytes) {
    lines = kLinesPerHalo * t.halo;
  }
  int64_t bands = (t.out_lines + lines - 1) / lines;
  // Enough bands for every thread, in a multiple of the threads where the lines allow.
  while (bands < t.out_lines &&
         (g_.batches * bands < 2 * threads_ || (g_.batches * bands) % threads_ != 0)) {
    ++bands;
  }
  lines = (t.out_lines + bands - 1) / bands;
  bands = (t.out_lines + lines - 1) / lines;
  if (mode < 0 && !serial_ && g_.batches * bands < threads_) return false;
  const double band_floats = static_cast<double>(t.channels) * static_cast<double>(lines + t.halo) *
                             static_cast<double>(t.width);
  if (band_floats > static_cast<double>(kMaxBandFloats)) return false;
  band_lines_ = lines;
  bands_ = bands;
  band_plane_ = (lines + t.halo) * t.width;
  line_offsets_.resize(static_cast<size_t>(g_.k));
  for (size_t kk = 0; kk < line_offsets_.size(); ++kk) {
    line_offsets_[kk] = t.channel[kk] * band_plane_ + t.line[kk] * t.width + t.column[kk];
  }
  lines_ = std::move(t);
  own_passes_ = false;
  threads_at_ = 0;
  per_thread_ = band_at_ + round_up(lines_.channels * band_plane_ + kBandSlack, 16);
  return true;
}

void WeightProductKernel::gemm_lines(RunContext& ctx, const std::byte* x, std::byte* out,
                                     float* scratch) const {
  const TokenLines& t = lines_;
  const int64_t k = g_.k;
  const int64_t tasks = g_.batches * bands_;
  ctx.pool().parallel_for(tasks, parallel_grain(tasks), [&](int64_t begin, int64_t end) {
    float* area = scratch + per_thread_ * runtime::ThreadPool::thread_index();
    float* decoded = area;
    float* tile = area + work_;
    float* tmp = tile + kTaskRows * kPassTokens;
    float* band = area + band_at_;
    const int64_t band_floats = t.channels * band_plane_;
    std::fill(band + band_floats, band + band_floats + kBandSlack, 0.0f);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / bands_;
      const int64_t line0 = task % bands_ * band_lines_;
      const int64_t lines = std::min(band_lines_, t.out_lines - line0);
      // Always the whole band (lines past the input are zeros): the dropped columns of the
      // last line read into the next, and nothing there is left from an earlier band.
      fill_band(x, b, line0, band_lines_, band_plane_, band);
      const int64_t tokens = (lines - 1) * t.width + t.out_width;
      for (int64_t r0 = 0; r0 < g_.n; r0 += kTaskRows) {
        const int64_t r1 = std::min(g_.n, r0 + kTaskRows);
        const float* rows = w_->decode(r0, r1, decoded);
        for (int64_t q0 = 0; q0 < tokens; q0 += kPassTokens) {
          const int64_t mb = std::min(kPassTokens, tokens - q0);
          gemm_rows_at(rows, r1 - r0, k, band + q0, line_offsets_.data(), mb, tile, kPassTokens);
          // Each line's columns below out_width go out as one run.
          for (int64_t q = q0; q < q0 + mb;) {
            const int64_t line = q / t.width, column = q % t.width;
            if (column >= t.out_width) {
              q += t.width - column;
              continue;
            }
            const int64_t run = std::min(t.out_width - column, q0 + mb - q);
            store_tile(tile + (q - q0), kPassTokens, r0, r1, b,
                       (line0 + line) * t.out_width + column, run, out, tmp);
            q += run;
          }
        }
      }
    }
  });
}

}  // namespace coreml::kernels::linalg
