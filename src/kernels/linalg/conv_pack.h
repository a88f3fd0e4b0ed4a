// Packing a conv's receptive fields straight from its input into the layouts the GEMM reads
// (weight_product_kernel.h), with no row buffer in between: for one K position (input channel,
// kernel offset) the output positions of one output row read a strided run of one input line,
// with padding zeros where the kernel hangs over the edge. fp16 inputs are widened in registers.
#pragma once

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
};

// Tokens [0, count) of `run` as fp32 into dst: in AVX-512 (padding and fp16 widening in
// registers) when the CPU has it and COREML_SIMD is not 0, else the portable twin (the line
// copied or widened by f16_to_f32, which has its own SIMD and scalar forms).
void copy_token_run(const TokenRun& run, int64_t count, bool fp16, float* dst);
void copy_token_run_portable(const TokenRun& run, int64_t count, bool fp16, float* dst);

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
  void (*copy)(const TokenRun& run, int64_t count, bool fp16, float* dst);
  void (*pack_pair)(const TokenRun& r0, const TokenRun& r1, int64_t count, bool fp16, uint16_t* hi,
                    uint16_t* lo);
};
PackRoutines pack_routines();

// Whether the prepared products pack their tokens straight from the input (default), or through
// the row buffer of load_tokens (COREML_CONV_PACK=0, read once; tests can override it).
bool direct_packing_enabled();
// nullopt returns to the environment's choice.
void set_direct_packing_for_testing(std::optional<bool> enabled);

}  // namespace coreml::kernels::linalg
