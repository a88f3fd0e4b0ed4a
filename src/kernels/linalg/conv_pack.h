// Packing a conv's receptive fields straight from its input into the layouts the GEMM reads
// (weight_product_kernel.h), with no row buffer in between: for one K position (input channel,
// kernel offset) the output positions of one output row read a strided run of one input line,
// with padding zeros where the kernel hangs over the edge. fp16 inputs are widened in registers.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

namespace coreml::kernels::linalg {

// One K position over `count` consecutive output positions (tokens) of one output row: token i
// reads input element source + i * stride for begin <= i < end and is a padding zero otherwise.
// `input` nullptr: every token is padding (the input line lies outside the image).
struct TokenRun {
  const void* input = nullptr;  // the input's element 0, fp32 or fp16
  int64_t source = 0;           // token 0's element; outside the input when token 0 is padding
  int64_t stride = 1;           // elements between consecutive tokens (the conv's stride)
  int64_t begin = 0, end = 0;   // the tokens that read the input
  // Elements [0, extent) of `input` may be read (padding lanes of a vector load included);
  // 0: only the tokens' own.
  int64_t extent = 0;
};

// Tokens [0, count) of `run` as fp32 into dst, which has room for `room` (>= count) floats:
// the SIMD form may write anything to [count, room) (a caller writing runs in order overwrites
// them with the next run, or pads them). In AVX-512 (padding and fp16 widening in registers)
// when the CPU has it and COREML_SIMD is not 0, else the portable twin (the line copied or
// widened by f16_to_f32, which has its own SIMD and scalar forms; writes [0, count) only).
void copy_token_run(const TokenRun& run, int64_t count, int64_t room, bool fp16, float* dst);
void copy_token_run_portable(const TokenRun& run, int64_t count, int64_t room, bool fp16,
                             float* dst);

// Tokens [0, count) of two K positions (k: r0, k + 1: r1) into `count` pairs of the AMX
// pair-interleaved layout (amx_gemm.h): hi[2 t + j] and lo[2 t + j] are the bf16 halves of
// position k + j of token t (hi = v rounded to bf16, lo = v - hi rounded). AVX-512 when the CPU
// has it and COREML_SIMD is not 0, else the scalar twin.
void pack_pair_run(const TokenRun& r0, const TokenRun& r1, int64_t count, bool fp16, uint16_t* hi,
                   uint16_t* lo);
void pack_pair_run_scalar(const TokenRun& r0, const TokenRun& r1, int64_t count, bool fp16,
                          uint16_t* hi, uint16_t* lo);

// The forms above chosen once for a loop over many runs (SIMD or scalar, as the CPU and
// COREML_SIMD say), so each run costs an indirect call and no checks.
struct PackRoutines {
  void (*copy)(const TokenRun& run, int64_t count, int64_t room, bool fp16, float* dst);
  void (*pack_pair)(const TokenRun& r0, const TokenRun& r1, int64_t count, bool fp16, uint16_t* hi,
                    uint16_t* lo);
};
PackRoutines pack_routines();

// A conv's receptive fields, the loops over K positions and output rows in one call (the runs
// above inlined into them, so a short run costs little more than its vectors).
// Where K position kk (input channel, kernel offset) reads: its input plane, the input depth
// and line of output row 0, the column offset, and the outputs [first, last) of a row (from
// column 0) that read inside the line.
struct ConvTap {
  int64_t plane = 0, id0 = 0, ih0 = 0, w_offset = 0, first = 0, last = 0;
};
// Part of a run of output positions in one output row: positions [done, done + count) of the
// run are columns [ow, ow + count) of row (od, oh).
struct ConvRowRun {
  int64_t done = 0, count = 0, ow = 0, od = 0, oh = 0;
};
struct ConvSource {
  const void* input = nullptr;  // the whole input, fp32 or fp16
  bool fp16 = false;
  int64_t batch = 0;   // the element the batch's input starts at
  int64_t extent = 0;  // the input's elements
  std::array<int64_t, 3> in{}, stride{};
  const ConvTap* taps = nullptr;  // per K position
  int64_t k = 0;
  const ConvRowRun* rows = nullptr;  // the runs of the positions being packed
  int64_t row_count = 0;
};

// K position kk over the positions of `row` (past K: zeros).
inline TokenRun conv_token_run(const ConvSource& s, int64_t kk, const ConvRowRun& row) {
  TokenRun r;
  if (kk >= s.k) return r;
  const ConvTap& t = s.taps[kk];
  const int64_t id = row.od * s.stride[0] + t.id0;
  const int64_t ih = row.oh * s.stride[1] + t.ih0;
  if (id < 0 || id >= s.in[0] || ih < 0 || ih >= s.in[1]) return r;  // a padding line
  r.input = s.input;
  r.source = s.batch + t.plane + (id * s.in[1] + ih) * s.in[2] + row.ow * s.stride[2] + t.w_offset;
  r.stride = s.stride[2];
  r.extent = s.extent;
  r.begin = std::clamp<int64_t>(t.first - row.ow, 0, row.count);
  r.end = std::clamp<int64_t>(t.last - row.ow, r.begin, row.count);
  return r;
}

// K positions [kk0, kk1) of the rows' positions as fp32 into dst + (kk - kk0) * stride (room as
// for copy_token_run, per row of dst; with room == stride the rows are back to back and a row
// may spill into the next one, which is written after it).
void copy_conv_tokens(const ConvSource& s, int64_t kk0, int64_t kk1, float* dst, int64_t stride,
                      int64_t room);
// Pairs (2 pair, 2 pair + 1) of [pair0, pair1) of the rows' positions into hi / lo +
// (pair - pair0) * stride, as pack_pair_run.
void pack_conv_pairs(const ConvSource& s, int64_t pair0, int64_t pair1, uint16_t* hi, uint16_t* lo,
                     int64_t stride);

// Whether the prepared products pack their tokens straight from the input (default), or through
// the row buffer of load_tokens (COREML_CONV_PACK=0, read once; tests can override it).
bool direct_packing_enabled();
// nullopt returns to the environment's choice.
void set_direct_packing_for_testing(std::optional<bool> enabled);

}  // namespace coreml::kernels::linalg
