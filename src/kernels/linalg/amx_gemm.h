// Prefill products on Intel AMX tiles (x86-64 Linux, CPUs with AMX-BF16, e.g. Sapphire Rapids):
// C[16][tokens] = W[16 rows][K] . X[K][tokens], in bf16 tile dot products with fp32 sums.
//
// Why three products: bf16 keeps 8 significant bits, fp16 weights and activations have 11, so a
// plain bf16 product would lose accuracy the fp32 path keeps. Every value v is split exactly
// into hi = v with its low 16 bits cleared and lo = v - hi (exact for fp16 sources: the 3
// remaining bits fit), and hi.hi + hi.lo + lo.hi is summed; the dropped lo.lo term is below
// 2^-16 of each product. The result agrees with fp32 arithmetic to about 1e-5 relative to
// sum |w||x| (tests/amx_gemm_test.cpp), far inside fp16's rounding of the output. Three tile
// products still cost a fraction of the fp32 FMA loop they replace.
//
// amx_available() is false without the CPU features, without the kernel's permission
// (arch_prctl ARCH_REQ_XCOMP_PERM), with COREML_SIMD=0 or with COREML_AMX=0.
#pragma once

#include <cstdint>
#include <optional>

namespace coreml::kernels::linalg {

constexpr int64_t kAmxRows = 16;       // weight rows per tile product (a tile's rows)
constexpr int64_t kAmxTokens = 16;     // tokens per output tile (a tile's fp32 columns)
constexpr int64_t kAmxMaxTokens = 64;  // tokens one call handles (four output tiles)
constexpr int64_t kAmxKStep = 32;      // bf16 values along K in one tile row

bool amx_available();
// Whether tiles pay for a product with `outputs` weight rows of K values: at least 32 rows and
// K >= 64. Below, packing the activations into split pairs (a pass over the tokens for every
// product) outweighs the few tile products: MobileNetV3's stem (16 outputs, K = 27) ran 1.5x
// slower on tiles than on panels, its 1x1 convs with K = 16-24 or 16-24 outputs 1.2-2x.
// Tiles forced on for testing (set_amx_enabled_for_testing(true)) take every product.
bool amx_product_pays(int64_t outputs, int64_t k);
// Products of fewer tokens run the FMA kernels even where tiles pay: from this many, the tile
// product beats the fp32 loop even though it pads the tokens to 16.
constexpr int64_t kAmxMinTokens = 8;
// COREML_AMX=bf16: one bf16 product per pair instead of three (opt-in, faster prefill; weights
// and activations rounded to bf16, ~2^-9 relative each: see tests/amx_gemm_test.cpp).
bool amx_bf16_products();
// nullopt returns to the CPU's and the environment's choice; true only where available.
void set_amx_enabled_for_testing(std::optional<bool> enabled);

// K rounded up to whole tile rows.
inline int64_t amx_k_padded(int64_t k) { return (k + kAmxKStep - 1) / kAmxKStep * kAmxKStep; }

// One row of K fp32 values (nullptr: zeros) into its high and low bf16 halves, k_padded each;
// the padding is zero.
void amx_split_row(const float* row, int64_t k, uint16_t* hi, uint16_t* lo);

// The same for a row of K fp16 values (exact: fp16's 11 significant bits fit in the halves).
void amx_split_f16_row(const uint16_t* row, int64_t k, uint16_t* hi, uint16_t* lo);

// v as two bf16 halves: hi = v rounded to nearest bf16 (ties to even), lo = the rest rounded
// likewise; the scalar form of every split here and of the conv packing (conv_pack.cpp).
void amx_split_value(float v, uint16_t* hi, uint16_t* lo);

// `count` (<= kAmxRows) rows, `row_stride` apart, into [kAmxRows][k_padded] halves.
void amx_split_rows(const float* rows, int64_t count, int64_t row_stride, int64_t k, uint16_t* hi,
                    uint16_t* lo);

// A 4-bit palettized row straight into bf16 halves, in natural k order: `codes` holds K codes
// packed two per byte (low nibble first), `table` the row's table split beforehand:
// 16 high halves, then 16 low halves (amx_split_table). Saves decoding to fp32 and splitting.
void amx_split_lut4_row(const uint8_t* codes, int64_t k, const uint16_t* table, uint16_t* hi,
                        uint16_t* lo);
// `entries` fp32 table values into [hi x entries][lo x entries].
void amx_split_table(const float* values, int64_t entries, uint16_t* out);

// One token's K activations (nullptr: zeros, for padding) into column `token` of the
// pair-interleaved layout the tile product reads, [k_padded / 2][tokens_padded][2] for each
// half. `tmp` holds 2 * k_padded values.
void amx_pack_token(const float* x, int64_t k, int64_t token, int64_t tokens_padded, uint16_t* hi,
                    uint16_t* lo, uint16_t* tmp);

// Up to kAmxTokens tokens at once (the faster form of amx_pack_token): rows of K fp32 values
// `row_stride` apart, `count` of them (the rest of the 16 columns are zeros), into columns
// [token0, token0 + 16) of the pair-interleaved layout; token0 a multiple of 16 below
// tokens_padded. `tmp` holds 32 * k_padded halves.
void amx_pack_tokens(const float* rows, int64_t row_stride, int64_t count, int64_t k,
                     int64_t token0, int64_t tokens_padded, uint16_t* hi, uint16_t* lo,
                     uint16_t* tmp);

// Two K positions (k, k + 1) of `count` tokens, given as token rows x0 and x1 (nullptr: zeros),
// into their row of the pair-interleaved layout: hi[t * 2 + j] for j = 0, 1 (tokens_padded
// pairs, padding zeros); the same for lo. For activations whose tokens are contiguous.
void amx_pack_pair(const float* x0, const float* x1, int64_t count, int64_t tokens_padded,
                   uint16_t* hi, uint16_t* lo);

// w_lo or x_lo nullptr: plain bf16 products of the high halves.
// c[r][t] = sum_k W[r][k] X[k][t] for kAmxRows rows and `tokens_padded` (a multiple of
// kAmxTokens, at most kAmxMaxTokens) tokens; c's rows are `c_stride` floats apart.
// Weight rows are `w_stride` halves apart (0: amx_k_padded(k)), so a K block of wider rows
// can be multiplied on its own (k a multiple of kAmxKStep, the pointers at the block's start);
// with `accumulate` the products are added to c instead of replacing it.
void amx_gemm(const uint16_t* w_hi, const uint16_t* w_lo, int64_t k, const uint16_t* x_hi,
              const uint16_t* x_lo, int64_t tokens_padded, float* c, int64_t c_stride,
              int64_t w_stride = 0, bool accumulate = false);

}  // namespace coreml::kernels::linalg
