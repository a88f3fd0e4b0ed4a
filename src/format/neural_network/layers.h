// Internal to the NeuralNetwork translator: one function per family of layers. Each reads
// its layer's parameters, checks them against the ranks of its inputs, and appends the MIL
// operations that compute it.
#pragma once

#include <string>
#include <vector>

#include "format/neural_network/emitter.h"

namespace coreml::format::nn {

struct Layer {
  const spec::NeuralNetworkLayer& proto;
  Emitter& emit;
  Where where;
  std::vector<Blob> inputs;
  // The NN names of the outputs; each translator returns one Blob per output (the last op of
  // output i is named outputs[i] so that network outputs keep their feature names).
  const std::vector<std::string>& outputs;
  // The rank of output 0 as the file declares it (the layer's outputTensor, or the network
  // output's shape), 0 when unknown: layers whose output rank depends on run-time values
  // (fillDynamic, gatherND, ...) need it.
  int declared_rank = 0;

  const Blob& input(size_t i = 0) const { return inputs.at(i); }
  void expect_inputs(size_t min, size_t max) const;
  void expect_outputs(size_t n) const;
  void expect_rank_at_least(const Blob& b, int rank) const;
  int need_declared_rank() const;
};

// Helpers shared by the layer families.
// x with leading axes merged so that it has rank `rank` (rank(x) >= rank), and the inverse,
// which restores the leading axes of `like` on y (whose trailing rank - 1 axes are kept).
std::string merge_leading(Layer& l, const Blob& x, int rank);
std::string restore_leading(Layer& l, const std::string& y, const Blob& like, int rank,
                            const std::string& out);
// Runs `body` on x viewed as rank `rank` (rank(x) >= rank - 1: a missing batch axis is added),
// giving an output of the same rank as x.
template <typename Body>
Blob with_rank(Layer& l, const Blob& x, int rank, const std::string& out, Body body) {
  if (x.rank == rank) return {body(x.name, out), rank};
  if (x.rank == rank - 1) {
    const std::string e = l.emit.op("expand_dims", {{"x", var(x.name)}, {"axes", lit_ints({0})}});
    const std::string y = body(e, std::string());
    return {l.emit.op("squeeze", {{"x", var(y)}, {"axes", lit_ints({0})}}, out), x.rank};
  }
  const std::string merged = merge_leading(l, x, rank);
  const std::string y = body(merged, std::string());
  return {restore_leading(l, y, x, rank, out), x.rank};
}

// Activation functions (ActivationParams) on x; used by the activation layer and recurrent
// layers' checks.
std::string emit_activation(Layer& l, const spec::ActivationParams& a, const Blob& x,
                            const std::string& out);
// The MIL name of an activation a recurrent kernel accepts ("sigmoid", "tanh", ...).
std::string recurrent_activation_name(const Layer& l, const spec::ActivationParams& a);

std::vector<Blob> translate_spatial(Layer& l);      // convolution, pooling, padding, ...
std::vector<Blob> translate_elementwise(Layer& l);  // activation, add, unary, scale, ...
std::vector<Blob> translate_shape(Layer& l);        // concat, reshape, softmax, reduce, ...
std::vector<Blob> translate_recurrent(Layer& l);    // LSTM, GRU, simple RNN
std::vector<Blob> translate_nd(Layer& l);           // specification 4 ND layers
std::vector<Blob> translate_legacy(Layer& l);       // mvn, embedding, dot, cropResize, ...
std::vector<Blob> translate_indexing(Layer& l);     // gather/scatter, compare, fill, random, ...

}  // namespace coreml::format::nn
