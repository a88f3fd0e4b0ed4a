// Internal to the NeuralNetwork translator: appends MIL operations to one block, names their
// values, and decodes NN weights (float, fp16, linear and look-up-table quantized).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "coreml/error.h"
#include "mil/ir.h"
#include "proto/neural_network.pb.h"

namespace coreml::format::nn {

// Bounds on hostile input: far beyond real networks, small enough to keep loading bounded.
inline constexpr int kMaxLayers = 100000;
inline constexpr int kMaxRank = 5;
inline constexpr int64_t kMaxWeightElements = int64_t{1} << 31;  // 8 GiB of fp32

// A value of the network: its MIL name and its rank (NN layers' semantics depend on rank).
struct Blob {
  std::string name;
  int rank = 0;
};

// An input binding: a value name or a literal.
using Arg = mil::Binding;
Arg var(const std::string& name);
Arg lit(mil::Value value);
Arg lit_int(int64_t v);
Arg lit_float(double v);
Arg lit_bool(bool v);
Arg lit_string(std::string s);
Arg lit_ints(const std::vector<int64_t>& v);
Arg lit_floats(const std::vector<float>& v);

mil::Value float_tensor(const std::vector<int64_t>& shape, const std::vector<float>& data);
mil::Value int_tensor(const std::vector<int64_t>& data);

class Emitter {
 public:
  explicit Emitter(mil::Block& block) : block_(block) {}
  // An emitter for a block nested in `parent`'s (cond branches): fresh names stay unique
  // across both.
  Emitter(mil::Block& block, Emitter& parent) : block_(block), counter_(parent.counter_) {}
  Emitter(const Emitter&) = delete;
  Emitter& operator=(const Emitter&) = delete;

  // Appends op `type` with `inputs`; its one fp32 output is named `out` (a fresh name when
  // empty). Returns the output name.
  std::string op(const std::string& type, std::vector<std::pair<std::string, Arg>> inputs,
                 std::string out = {}, mil::DataType dtype = mil::DataType::kFloat32);
  // Several outputs (split, lstm); names are fresh where `outs` has "".
  std::vector<std::string> op_n(const std::string& type,
                                std::vector<std::pair<std::string, Arg>> inputs,
                                std::vector<std::string> outs,
                                std::vector<mil::DataType> dtypes = {});
  // A const op holding `value`.
  std::string constant(mil::Value value, std::string out = {});
  std::string constant(const std::vector<int64_t>& shape, const std::vector<float>& data) {
    return constant(float_tensor(shape, data));
  }
  // A fresh value name.
  std::string fresh(const std::string& hint = "nn");
  mil::Block& block() { return block_; }

 private:
  mil::Block& block_;
  int64_t own_counter_ = 0;
  int64_t* counter_ = &own_counter_;
};

// Errors name the file, the layer and what is wrong.
struct Where {
  std::string source;
  std::string layer;  // "layer 'conv1' (convolution)"
  template <typename... Args>
  [[noreturn]] void fail(Args&&... args) const {
    coreml::fail(ErrorCode::kParse, source, ": ", layer, ": ", std::forward<Args>(args)...);
  }
  template <typename... Args>
  [[noreturn]] void unsupported(Args&&... args) const {
    coreml::fail(ErrorCode::kUnsupported, source, ": ", layer, ": ", std::forward<Args>(args)...);
  }
};

// The weights as fp32, checked to hold exactly `count` values (quantized weights: `count`
// indices, with `channels` scale/bias pairs of linear quantization allowed, each covering
// count / channels consecutive values). `field` names the field in errors.
std::vector<float> weights(const spec::WeightParams& w, int64_t count, const Where& where,
                           const char* field, int64_t channels = 1);
// A weight tensor of `shape` as a MIL value: a const op for float weights, and for quantized
// ones the constexpr op that keeps them compressed (look-up tables of 1, 2, 3, 4, 6 or 8 bits:
// constexpr_lut_to_dense; linear quantization: constexpr_blockwise_shift_scale with one scale
// and offset per output channel, axis 0 of `shape`). Other bit widths are decoded to fp32.
std::string weight_value(Emitter& emit, const spec::WeightParams& w,
                         const std::vector<int64_t>& shape, const Where& where, const char* field);
// True when any of the weight's encodings holds data.
bool has_weights(const spec::WeightParams& w);

// Checked helpers for sizes read from the file.
int64_t checked_size(uint64_t v, const Where& where, const char* field);
int64_t checked_product(std::initializer_list<int64_t> factors, const Where& where,
                        const char* field);

}  // namespace coreml::format::nn
